/*
 * p11_token.c - the PKCS#11 token: module, token selection, our session
 * and login, and close.  The one owner of PKCS#11 state (p11_token.h);
 * the raw helpers the other files of pkcs11/ share are declared in
 * p11_internal.h.
 */
#include "p11_token.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "gw_err.h"
#include "p11_internal.h"
#include "p11_pin.h"
#include "p11_uri.h"

/* ---- CK_RV to GW_ERR_* ------------------------------------------------ */

static const struct {
	CK_RV rv;
	const char *name;
	int err;
	const char *hint;
} rv_table[] = {
    {CKR_PIN_INCORRECT, "CKR_PIN_INCORRECT", GW_ERR_P11_PIN_INCORRECT,
     "the PIN in pin_file is wrong; not retried (each failure counts "
     "against the token's retry limit)"},
    {CKR_PIN_LOCKED, "CKR_PIN_LOCKED", GW_ERR_P11_PIN_LOCKED,
     "the user PIN is locked; the security officer must unlock it"},
    {CKR_PIN_EXPIRED, "CKR_PIN_EXPIRED", GW_ERR_P11_PIN_LOCKED,
     "the user PIN has expired and must be changed"},
    {CKR_PIN_LEN_RANGE, "CKR_PIN_LEN_RANGE", GW_ERR_P11_PIN_INCORRECT,
     "the PIN in pin_file has a length the token does not accept"},
    {CKR_TOKEN_NOT_PRESENT, "CKR_TOKEN_NOT_PRESENT",
     GW_ERR_P11_TOKEN_ABSENT, "the token is not present in its slot"},
    {CKR_TOKEN_NOT_RECOGNIZED, "CKR_TOKEN_NOT_RECOGNIZED",
     GW_ERR_P11_TOKEN_ABSENT, "the module does not recognise the token"},
    {CKR_DEVICE_REMOVED, "CKR_DEVICE_REMOVED", GW_ERR_P11_DEVICE_REMOVED,
     "the token was removed during the operation; restart smimegw once it "
     "is back"},
    {CKR_DEVICE_ERROR, "CKR_DEVICE_ERROR", GW_ERR_P11_DEVICE,
     "the token reported a device error"},
    {CKR_DEVICE_MEMORY, "CKR_DEVICE_MEMORY", GW_ERR_P11_DEVICE,
     "the token is out of memory"},
    {CKR_SESSION_HANDLE_INVALID, "CKR_SESSION_HANDLE_INVALID",
     GW_ERR_P11_SESSION,
     "the token session was lost (token or HSM restarted?); restart "
     "smimegw"},
    {CKR_SESSION_CLOSED, "CKR_SESSION_CLOSED", GW_ERR_P11_SESSION,
     "the token session was closed; restart smimegw"},
    {CKR_SESSION_READ_ONLY, "CKR_SESSION_READ_ONLY", GW_ERR_P11_SESSION,
     "the session is read-only"},
    {CKR_TOKEN_WRITE_PROTECTED, "CKR_TOKEN_WRITE_PROTECTED", GW_ERR_P11,
     "the token is write-protected"},
    {CKR_USER_NOT_LOGGED_IN, "CKR_USER_NOT_LOGGED_IN",
     GW_ERR_P11_NOT_LOGGED_IN, "the token is not logged in"},
    {CKR_USER_PIN_NOT_INITIALIZED, "CKR_USER_PIN_NOT_INITIALIZED",
     GW_ERR_P11_NOT_LOGGED_IN,
     "the token's user PIN was never initialised"},
    {CKR_MECHANISM_INVALID, "CKR_MECHANISM_INVALID", GW_ERR_P11_MECHANISM,
     "the token does not offer this mechanism"},
    {CKR_MECHANISM_PARAM_INVALID, "CKR_MECHANISM_PARAM_INVALID",
     GW_ERR_P11_MECHANISM, "the token refuses these mechanism parameters"},
    {CKR_KEY_SIZE_RANGE, "CKR_KEY_SIZE_RANGE", GW_ERR_P11_MECHANISM,
     "the token does not support this key size"},
    {CKR_DOMAIN_PARAMS_INVALID, "CKR_DOMAIN_PARAMS_INVALID",
     GW_ERR_P11_MECHANISM, "the token does not support this curve"},
    {CKR_TEMPLATE_INCONSISTENT, "CKR_TEMPLATE_INCONSISTENT", GW_ERR_P11,
     "the token refuses the object's attributes (policy forbids them?)"},
    {CKR_ATTRIBUTE_VALUE_INVALID, "CKR_ATTRIBUTE_VALUE_INVALID", GW_ERR_P11,
     "the token refuses an attribute value (policy?)"},
    {CKR_ATTRIBUTE_READ_ONLY, "CKR_ATTRIBUTE_READ_ONLY", GW_ERR_P11,
     "the token does not allow this attribute to be set"},
    {CKR_CRYPTOKI_NOT_INITIALIZED, "CKR_CRYPTOKI_NOT_INITIALIZED",
     GW_ERR_P11_SESSION, "the module was finalised; restart smimegw"},
    {CKR_SLOT_ID_INVALID, "CKR_SLOT_ID_INVALID", GW_ERR_P11_TOKEN_ABSENT,
     "the slot disappeared"},
    {CKR_HOST_MEMORY, "CKR_HOST_MEMORY", GW_ERR_NOMEM,
     "the module ran out of memory"},
    {CKR_FUNCTION_NOT_SUPPORTED, "CKR_FUNCTION_NOT_SUPPORTED",
     GW_ERR_P11_MECHANISM, "the module does not implement this function"},
    {CKR_OPERATION_ACTIVE, "CKR_OPERATION_ACTIVE", GW_ERR_P11_SESSION,
     "an earlier operation is still active in the session; restart "
     "smimegw"},
    {CKR_GENERAL_ERROR, "CKR_GENERAL_ERROR", GW_ERR_P11,
     "the module reported a general error"},
};

int
p11_token_rv_err(CK_RV rv, const char *fn)
{
	size_t i;

	for (i = 0; i < sizeof(rv_table) / sizeof(rv_table[0]); i++)
		if (rv_table[i].rv == rv)
			return gw_err_set(rv_table[i].err, "%s: %s: %s", fn,
					  rv_table[i].name, rv_table[i].hint);
	return gw_err_set(GW_ERR_P11, "%s: CK_RV 0x%08lx", fn,
			  (unsigned long)rv);
}

/* ---- opening the token ---------------------------------------------- */

/* Copies a blank-padded PKCS#11 field into a C string. */
static void
padded_to_str(char *dst, const unsigned char *src, size_t len)
{
	while (len > 0 && src[len - 1] == ' ')
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static int
token_matches(const CK_TOKEN_INFO *ti, const struct p11_uri *u)
{
	char buf[33];

	padded_to_str(buf, ti->label, sizeof(ti->label));
	if (u->token != NULL && strcmp(buf, u->token) != 0)
		return 0;
	padded_to_str(buf, ti->manufacturerID, sizeof(ti->manufacturerID));
	if (u->manufacturer != NULL && strcmp(buf, u->manufacturer) != 0)
		return 0;
	padded_to_str(buf, ti->model, sizeof(ti->model));
	if (u->model != NULL && strcmp(buf, u->model) != 0)
		return 0;
	padded_to_str(buf, ti->serialNumber, sizeof(ti->serialNumber));
	if (u->serial != NULL && strcmp(buf, u->serial) != 0)
		return 0;
	return 1;
}

static int
find_slot(struct p11_token *tok, const struct p11_uri *u)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0, i, found = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	char seen[512] = "", lbl[33];
	size_t off = 0;
	int rc;

	if ((rv = tok->f->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
		return p11_token_rv_err(rv, "C_GetSlotList");
	if (n > 0 && (slots = calloc(n, sizeof(*slots))) == NULL)
		return GW_ERR_NOMEM;
	if (n > 0 && (rv = tok->f->C_GetSlotList(CK_TRUE, slots, &n)) !=
			 CKR_OK) {
		rc = p11_token_rv_err(rv, "C_GetSlotList");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (tok->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!(ti.flags & CKF_TOKEN_INITIALIZED))
			continue;
		padded_to_str(lbl, ti.label, sizeof(ti.label));
		if (off < sizeof(seen))
			off += (size_t)snprintf(seen + off, sizeof(seen) - off,
						"%s'%s'", off ? ", " : "", lbl);
		if (!token_matches(&ti, u))
			continue;
		if (found++ == 0) {
			tok->slot = slots[i];
			memcpy(tok->label, lbl, sizeof(lbl));
		}
	}
	if (found == 0) {
		rc = gw_err_set(GW_ERR_P11_TOKEN_ABSENT,
				"no token matches %s%s%s in %s (tokens "
				"present: %s)",
				u->token ? "token=" : "the URI",
				u->token ? u->token : "",
				"", tok->module, off ? seen : "none");
		goto out;
	}
	if (found > 1) {
		rc = gw_err_set(GW_ERR_P11_TOKEN_ABSENT,
				"%lu tokens match the token URI; add serial= "
				"to choose one",
				(unsigned long)found);
		goto out;
	}
	rc = 0;
out:
	free(slots);
	return rc;
}

static int
token_login(struct p11_token *tok, const char *pin_file)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;
	char pin[P11_PIN_MAX];
	size_t pinlen = 0;
	int rc;

	if ((rv = tok->f->C_GetTokenInfo(tok->slot, &ti)) != CKR_OK)
		return p11_token_rv_err(rv, "C_GetTokenInfo");
	if (!(ti.flags & CKF_LOGIN_REQUIRED))
		return 0;
	if (ti.flags & CKF_USER_PIN_LOCKED)
		return gw_err_set(GW_ERR_P11_PIN_LOCKED,
				  "token '%s': the user PIN is locked; the "
				  "security officer must unlock it",
				  tok->label);
	if (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
		rv = tok->f->C_Login(tok->session, CKU_USER, NULL, 0);
	} else {
		if ((rc = p11_pin_read(pin_file, pin, &pinlen)) != 0)
			return rc;
		rv = tok->f->C_Login(tok->session, CKU_USER,
				     (CK_UTF8CHAR_PTR)pin, pinlen);
		OPENSSL_cleanse(pin, sizeof(pin));
	}
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
		return 0;
	return p11_token_rv_err(rv, "C_Login");
}

int
p11_token_open(const struct p11_token_config *cfg, struct p11_token **out)
{
	struct p11_token *tok = NULL;
	struct p11_uri *uri = NULL;
	CK_C_GetFunctionList getfl;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	int rc;

	*out = NULL;
	if ((rc = p11_uri_parse(cfg->token_uri, &uri)) != 0)
		goto out;
	if (uri->object != NULL || uri->id != NULL) {
		rc = gw_err_set(GW_ERR_CONFIG,
				"token: the URI must select a token, not an "
				"object (drop object= and id=)");
		goto out;
	}
	if ((tok = calloc(1, sizeof(*tok))) == NULL ||
	    (tok->module = strdup(cfg->module)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if ((tok->dl = dlopen(cfg->module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		rc = gw_err_set(GW_ERR_P11_MODULE, "pkcs11_module: %s",
				dlerror());
		goto out;
	}
	*(void **)&getfl = dlsym(tok->dl, "C_GetFunctionList");
	if (getfl == NULL) {
		rc = gw_err_set(GW_ERR_P11_MODULE,
				"pkcs11_module %s: no C_GetFunctionList: not a "
				"PKCS#11 module",
				cfg->module);
		goto out;
	}
	if ((rv = getfl(&tok->f)) != CKR_OK) {
		rc = p11_token_rv_err(rv, "C_GetFunctionList");
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = tok->f->C_Initialize(&args);
	if (rv == CKR_OK)
		tok->initialized = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		rc = p11_token_rv_err(rv, "C_Initialize");
		goto out;
	}
	if ((rc = find_slot(tok, uri)) != 0)
		goto out;
	rv = tok->f->C_OpenSession(tok->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				   NULL, NULL, &tok->session);
	if (rv != CKR_OK) {
		rc = p11_token_rv_err(rv, "C_OpenSession");
		goto out;
	}
	tok->have_session = 1;
	if ((rc = token_login(tok, cfg->pin_file)) != 0)
		goto out;
	*out = tok;
	tok = NULL;
out:
	p11_uri_free(uri);
	p11_token_close(tok);
	return rc;
}

void
p11_token_close(struct p11_token *tok)
{
	if (tok == NULL)
		return;
	/*
	 * The engine's finish releases its sessions and finalises the
	 * module; after that our session handle is gone, so close ours
	 * first.  When the engine was never started, finalise ourselves.
	 */
	if (tok->have_session)
		tok->f->C_CloseSession(tok->session);
	if (tok->engine == NULL && tok->initialized)
		tok->f->C_Finalize(NULL);
	p11_key_engine_end(tok);
	if (tok->dl != NULL)
		dlclose(tok->dl);
	free(tok->module);
	free(tok);
}

int
p11_token_check(struct p11_token *tok)
{
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if ((rv = tok->f->C_GetSessionInfo(tok->session, &si)) != CKR_OK)
		return p11_token_rv_err(rv, "C_GetSessionInfo");
	if (si.state == CKS_RW_USER_FUNCTIONS ||
	    si.state == CKS_RO_USER_FUNCTIONS)
		return 0;
	/* A public session is right only for a token without a login. */
	if ((rv = tok->f->C_GetTokenInfo(tok->slot, &ti)) != CKR_OK)
		return p11_token_rv_err(rv, "C_GetTokenInfo");
	if (ti.flags & CKF_LOGIN_REQUIRED)
		return p11_token_rv_err(CKR_USER_NOT_LOGGED_IN,
					"C_GetSessionInfo");
	return 0;
}

int
p11_token_engine_started(const struct p11_token *tok)
{
	return tok->engine != NULL;
}

const char *
p11_token_label(const struct p11_token *tok)
{
	return tok->label;
}

/* ---- finding objects ------------------------------------------------ */

int
p11_token_find(struct p11_token *tok, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	       CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	CK_RV rv;

	*n = 0;
	if ((rv = tok->f->C_FindObjectsInit(tok->session, tmpl, ntmpl)) !=
	    CKR_OK)
		return p11_token_rv_err(rv, "C_FindObjectsInit");
	rv = tok->f->C_FindObjects(tok->session, objs, max, n);
	tok->f->C_FindObjectsFinal(tok->session);
	if (rv != CKR_OK)
		return p11_token_rv_err(rv, "C_FindObjects");
	return 0;
}

int
p11_token_find_by_id(struct p11_token *tok, CK_OBJECT_CLASS cls,
		     const unsigned char *id, size_t len,
		     CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
	    {CKA_ID, (void *)id, len},
	    {CKA_CLASS, &cls, sizeof(cls)},
	};

	return p11_token_find(tok, t, cls == (CK_OBJECT_CLASS)-1 ? 1 : 2,
			      objs, max, n);
}

int
p11_token_uri_id(const char *key_uri, struct p11_uri **uri)
{
	int rc;

	if ((rc = p11_uri_parse(key_uri, uri)) != 0)
		return rc;
	if ((*uri)->id == NULL || (*uri)->id_len == 0) {
		p11_uri_free(*uri);
		*uri = NULL;
		return gw_err_set(GW_ERR_INVALID, "key URI %s has no id=",
				  key_uri);
	}
	return 0;
}
