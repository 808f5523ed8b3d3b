/*
 * p11_token.c - the PKCS#11 token: module, our session and login, the
 * libp11 engine for private-key operations, and the few raw calls that
 * libp11 0.4.12 lacks (see p11_token.h for the rules).
 */
#include "p11_token.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/ui.h>

#include <p11-kit/pkcs11.h>

#include "gw_err.h"
#include "p11_pin.h"
#include "p11_uri.h"

#define P11_ID_LEN 16
#define P11_MAX_OBJECTS 64
#define P11_ENGINE_ID "pkcs11"

struct p11_token {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session;
	int have_session;
	int initialized; /* our C_Initialize succeeded (not ALREADY_...) */
	char label[33];
	char *module;
	ENGINE *engine;	 /* functional reference, NULL until first use */
	UI_METHOD *ui;	 /* refuses to prompt: the login is ours */
};

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

static int
rv_err(CK_RV rv, const char *fn)
{
	size_t i;

	for (i = 0; i < sizeof(rv_table) / sizeof(rv_table[0]); i++)
		if (rv_table[i].rv == rv)
			return gw_err_set(rv_table[i].err, "%s: %s: %s", fn,
					  rv_table[i].name, rv_table[i].hint);
	return gw_err_set(GW_ERR_P11, "%s: CK_RV 0x%08lx", fn,
			  (unsigned long)rv);
}

/* ---- key types ------------------------------------------------------ */

static const struct {
	enum p11_keytype kt;
	const char *name;
	int bits;		   /* RSA modulus bits, 0 for EC */
	const char *group;	   /* OpenSSL group name for EC */
	const unsigned char *oid;  /* DER OID for CKA_EC_PARAMS */
	size_t oid_len;
} keytypes[] = {
    {P11_KEY_RSA2048, "rsa:2048", 2048, NULL, NULL, 0},
    {P11_KEY_RSA3072, "rsa:3072", 3072, NULL, NULL, 0},
    {P11_KEY_RSA4096, "rsa:4096", 4096, NULL, NULL, 0},
    {P11_KEY_EC_P256, "ec:p256", 0, "prime256v1",
     (const unsigned char *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10},
    {P11_KEY_EC_P384, "ec:p384", 0, "secp384r1",
     (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x22", 7},
};

/* EC curves accepted on import (P-521 too, though we do not generate
 * it: some CAs issue it). */
static const struct {
	const char *group;
	const unsigned char *oid;
	size_t oid_len;
	size_t field_len;
} ec_curves[] = {
    {"prime256v1",
     (const unsigned char *)"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07", 10,
     32},
    {"secp384r1", (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x22", 7,
     48},
    {"secp521r1", (const unsigned char *)"\x06\x05\x2b\x81\x04\x00\x23", 7,
     66},
};

int
p11_keytype_parse(const char *s, enum p11_keytype *out)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++) {
		if (strcmp(s, keytypes[i].name) == 0) {
			*out = keytypes[i].kt;
			return 0;
		}
	}
	return gw_err_set_at(GW_ERR_INVALID, "key",
			  "'%s' is not one of rsa:2048, rsa:3072, "
			  "rsa:4096, ec:p256, ec:p384",
			  s);
}

const char *
p11_keytype_name(enum p11_keytype kt)
{
	size_t i;

	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].kt == kt)
			return keytypes[i].name;
	return "unknown";
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
		return rv_err(rv, "C_GetSlotList");
	if (n > 0 && (slots = calloc(n, sizeof(*slots))) == NULL)
		return GW_ERR_NOMEM;
	if (n > 0 && (rv = tok->f->C_GetSlotList(CK_TRUE, slots, &n)) !=
			 CKR_OK) {
		rc = rv_err(rv, "C_GetSlotList");
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
		return rv_err(rv, "C_GetTokenInfo");
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
	return rv_err(rv, "C_Login");
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
		rc = rv_err(rv, "C_GetFunctionList");
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = tok->f->C_Initialize(&args);
	if (rv == CKR_OK)
		tok->initialized = 1;
	else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		rc = rv_err(rv, "C_Initialize");
		goto out;
	}
	if ((rc = find_slot(tok, uri)) != 0)
		goto out;
	rv = tok->f->C_OpenSession(tok->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				   NULL, NULL, &tok->session);
	if (rv != CKR_OK) {
		rc = rv_err(rv, "C_OpenSession");
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
	if (tok->engine != NULL) {
		ENGINE_finish(tok->engine);
		ENGINE_free(tok->engine);
	} else if (tok->initialized) {
		tok->f->C_Finalize(NULL);
	}
	if (tok->ui != NULL)
		UI_destroy_method(tok->ui);
	if (tok->dl != NULL)
		dlclose(tok->dl);
	free(tok->module);
	free(tok);
}

const char *
p11_token_label(const struct p11_token *tok)
{
	return tok->label;
}

/* ---- objects -------------------------------------------------------- */

/* Finds up to max objects matching tmpl; *n gets the count. */
static int
find_objects(struct p11_token *tok, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	     CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n)
{
	CK_RV rv;

	*n = 0;
	if ((rv = tok->f->C_FindObjectsInit(tok->session, tmpl, ntmpl)) !=
	    CKR_OK)
		return rv_err(rv, "C_FindObjectsInit");
	rv = tok->f->C_FindObjects(tok->session, objs, max, n);
	tok->f->C_FindObjectsFinal(tok->session);
	if (rv != CKR_OK)
		return rv_err(rv, "C_FindObjects");
	return 0;
}

static int
id_in_use(struct p11_token *tok, const unsigned char *id, size_t len,
	  int *used)
{
	CK_ATTRIBUTE t[] = {{CKA_ID, (void *)id, len}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int rc;

	if ((rc = find_objects(tok, t, 1, &h, 1, &n)) != 0)
		return rc;
	*used = n > 0;
	return 0;
}

static int
label_in_use(struct p11_token *tok, const char *label)
{
	CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int rc;

	if ((rc = find_objects(tok, t, 1, &h, 1, &n)) != 0)
		return rc;
	if (n > 0)
		return gw_err_set(GW_ERR_EXISTS,
				  "token '%s' already holds an object labelled "
				  "'%s'",
				  tok->label, label);
	return 0;
}

/* A fresh random CKA_ID no object on the token uses. */
static int
new_id(struct p11_token *tok, unsigned char id[P11_ID_LEN])
{
	int used = 1, tries, rc;

	for (tries = 0; tries < 8 && used; tries++) {
		if (RAND_bytes(id, P11_ID_LEN) != 1)
			return gw_err_set_ssl(GW_ERR_CRYPTO, "RAND_bytes");
		if ((rc = id_in_use(tok, id, P11_ID_LEN, &used)) != 0)
			return rc;
	}
	if (used)
		return gw_err_set(GW_ERR_INTERNAL, "no free CKA_ID");
	return 0;
}

/* The CKA_ID named by key_uri, which must carry id=. */
static int
uri_id(const char *key_uri, struct p11_uri **uri)
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

static int
find_by_id(struct p11_token *tok, CK_OBJECT_CLASS cls,
	   const unsigned char *id, size_t len, CK_OBJECT_HANDLE *objs,
	   CK_ULONG max, CK_ULONG *n)
{
	CK_ATTRIBUTE t[] = {
	    {CKA_ID, (void *)id, len},
	    {CKA_CLASS, &cls, sizeof(cls)},
	};

	return find_objects(tok, t, cls == (CK_OBJECT_CLASS)-1 ? 1 : 2, objs,
			    max, n);
}

static void
destroy_quietly(struct p11_token *tok, CK_OBJECT_HANDLE h)
{
	if (h != CK_INVALID_HANDLE)
		tok->f->C_DestroyObject(tok->session, h);
}

/* Builds a plain software public key from the token's public key object. */
static int
read_public(struct p11_token *tok, CK_OBJECT_HANDLE pubh, CK_KEY_TYPE ktype,
	    const char *group, EVP_PKEY **out)
{
	unsigned char mod[1024], exp[16], pt[256];
	CK_ATTRIBUTE rsa[] = {
	    {CKA_MODULUS, mod, sizeof(mod)},
	    {CKA_PUBLIC_EXPONENT, exp, sizeof(exp)},
	};
	CK_ATTRIBUTE ec[] = {{CKA_EC_POINT, pt, sizeof(pt)}};
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	const unsigned char *point = pt;
	size_t plen;
	CK_RV rv;
	int rc = GW_ERR_CRYPTO;

	*out = NULL;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return GW_ERR_NOMEM;
	if (ktype == CKK_RSA) {
		if ((rv = tok->f->C_GetAttributeValue(tok->session, pubh, rsa,
						      2)) != CKR_OK) {
			rc = rv_err(rv, "C_GetAttributeValue(RSA public)");
			goto out;
		}
		if ((n = BN_bin2bn(mod, (int)rsa[0].ulValueLen, NULL)) == NULL ||
		    (e = BN_bin2bn(exp, (int)rsa[1].ulValueLen, NULL)) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	} else {
		if ((rv = tok->f->C_GetAttributeValue(tok->session, pubh, ec,
						      1)) != CKR_OK) {
			rc = rv_err(rv, "C_GetAttributeValue(CKA_EC_POINT)");
			goto out;
		}
		plen = ec[0].ulValueLen;
		/* PKCS#11 says DER OCTET STRING; some modules give it raw. */
		if (plen > 2 && pt[0] == 0x04 && pt[1] == plen - 2) {
			point = pt + 2;
			plen -= 2;
		} else if (plen > 3 && pt[0] == 0x04 && pt[1] == 0x81 &&
			   pt[2] == plen - 3) {
			point = pt + 3;
			plen -= 3;
		}
		if (!OSSL_PARAM_BLD_push_utf8_string(
			bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
		    !OSSL_PARAM_BLD_push_octet_string(
			bld, OSSL_PKEY_PARAM_PUB_KEY, point, plen))
			goto out;
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	}
	if (ctx == NULL || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO,
				    "cannot build the public key read from "
				    "the token");
		goto out;
	}
	rc = 0;
out:
	BN_free(n);
	BN_free(e);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
p11_keygen(struct p11_token *tok, enum p11_keytype kt, const char *label,
	   unsigned flags, char **key_uri, EVP_PKEY **pub)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = (flags & P11_KEY_DECRYPT) ? CK_TRUE : CK_FALSE;
	CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY, privcls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE ktype;
	CK_ULONG bits;
	CK_BYTE e65537[] = {0x01, 0x00, 0x01};
	CK_MECHANISM mech = {0, NULL, 0};
	CK_OBJECT_HANDLE pubh = CK_INVALID_HANDLE, privh = CK_INVALID_HANDLE;
	unsigned char id[P11_ID_LEN];
	CK_ATTRIBUTE pubt[10], privt[14];
	CK_ULONG np = 0, nq = 0;
	size_t i;
	CK_RV rv;
	int rc;

	*key_uri = NULL;
	*pub = NULL;
	for (i = 0; i < sizeof(keytypes) / sizeof(keytypes[0]); i++)
		if (keytypes[i].kt == kt)
			break;
	if (i == sizeof(keytypes) / sizeof(keytypes[0]))
		return gw_err_set(GW_ERR_INVALID, "unknown key type");
	if ((rc = label_in_use(tok, label)) != 0)
		return rc;
	if ((rc = new_id(tok, id)) != 0)
		return rc;

#define ATTR(arr, n, t, v, l)                                                  \
	do {                                                                   \
		(arr)[(n)].type = (t);                                         \
		(arr)[(n)].pValue = (void *)(v);                               \
		(arr)[(n)].ulValueLen = (l);                                   \
		(n)++;                                                         \
	} while (0)

	ktype = keytypes[i].bits ? CKK_RSA : CKK_EC;
	bits = (CK_ULONG)keytypes[i].bits;
	ATTR(pubt, np, CKA_CLASS, &pubcls, sizeof(pubcls));
	ATTR(pubt, np, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(pubt, np, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pubt, np, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_ID, id, sizeof(id));
	ATTR(pubt, np, CKA_LABEL, label, strlen(label));
	ATTR(privt, nq, CKA_CLASS, &privcls, sizeof(privcls));
	ATTR(privt, nq, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(privt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, nq, CKA_SIGN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_ID, id, sizeof(id));
	ATTR(privt, nq, CKA_LABEL, label, strlen(label));
	if (ktype == CKK_RSA) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		ATTR(pubt, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ATTR(pubt, np, CKA_PUBLIC_EXPONENT, e65537, sizeof(e65537));
		ATTR(pubt, np, CKA_ENCRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_DECRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_UNWRAP, &dec, sizeof(dec));
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		ATTR(pubt, np, CKA_EC_PARAMS, keytypes[i].oid,
		     keytypes[i].oid_len);
		ATTR(privt, nq, CKA_DERIVE, &dec, sizeof(dec));
	}
#undef ATTR
	rv = tok->f->C_GenerateKeyPair(tok->session, &mech, pubt, np, privt,
				       nq, &pubh, &privh);
	if (rv != CKR_OK) {
		rc = rv_err(rv, "C_GenerateKeyPair");
		goto out;
	}
	if ((rc = read_public(tok, pubh, ktype, keytypes[i].group, pub)) != 0)
		goto out;
	if ((*key_uri = p11_uri_format(tok->label, label, id, sizeof(id),
				       "private")) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	if (rc != 0) {
		destroy_quietly(tok, privh);
		destroy_quietly(tok, pubh);
		EVP_PKEY_free(*pub);
		*pub = NULL;
	}
	return rc;
}

/* ---- PKCS#12 key import --------------------------------------------- */

struct secret {
	unsigned char *p;
	size_t len;
};

static void
secret_free(struct secret *s)
{
	if (s->p != NULL)
		OPENSSL_clear_free(s->p, s->len);
	s->p = NULL;
	s->len = 0;
}

/* Big-endian bytes of a BN parameter, left-padded to pad bytes if pad. */
static int
bn_param(EVP_PKEY *pk, const char *name, size_t pad, struct secret *out)
{
	BIGNUM *bn = NULL;
	size_t len;
	int rc = 0;

	if (!EVP_PKEY_get_bn_param(pk, name, &bn))
		return gw_err_set_ssl(GW_ERR_CRYPTO, "key has no %s", name);
	len = (size_t)BN_num_bytes(bn);
	if (pad > len)
		len = pad;
	if (len == 0)
		len = 1;
	if ((out->p = OPENSSL_zalloc(len)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	out->len = len;
	if (BN_bn2binpad(bn, out->p, (int)len) < 0)
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "%s too large", name);
out:
	BN_clear_free(bn);
	return rc;
}

int
p11_key_import(struct p11_token *tok, EVP_PKEY *priv, const char *label,
	       unsigned flags, char **key_uri)
{
	static const char *const rsa_names[] = {
	    OSSL_PKEY_PARAM_RSA_N,	    OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,	    OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,    OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2,  OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	};
	static const CK_ATTRIBUTE_TYPE rsa_attrs[] = {
	    CKA_MODULUS,   CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
	    CKA_PRIME_1,   CKA_PRIME_2,		CKA_EXPONENT_1,
	    CKA_EXPONENT_2, CKA_COEFFICIENT,
	};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BBOOL dec = (flags & P11_KEY_DECRYPT) ? CK_TRUE : CK_FALSE;
	CK_OBJECT_CLASS pubcls = CKO_PUBLIC_KEY, privcls = CKO_PRIVATE_KEY;
	CK_KEY_TYPE ktype;
	CK_OBJECT_HANDLE pubh = CK_INVALID_HANDLE, privh = CK_INVALID_HANDLE;
	CK_ATTRIBUTE pubt[12], privt[24];
	CK_ULONG np = 0, nq = 0;
	struct secret sec[8] = {{NULL, 0}};
	unsigned char id[P11_ID_LEN], point[160], ptder[164];
	char group[64];
	size_t i, c = 0, plen = 0;
	CK_RV rv;
	int rc;

	*key_uri = NULL;
	if ((rc = label_in_use(tok, label)) != 0)
		return rc;
	if ((rc = new_id(tok, id)) != 0)
		return rc;

#define ATTR(arr, n, t, v, l)                                                  \
	do {                                                                   \
		(arr)[(n)].type = (t);                                         \
		(arr)[(n)].pValue = (void *)(v);                               \
		(arr)[(n)].ulValueLen = (l);                                   \
		(n)++;                                                         \
	} while (0)

	if (EVP_PKEY_is_a(priv, "RSA")) {
		ktype = CKK_RSA;
		for (i = 0; i < 8; i++) {
			if ((rc = bn_param(priv, rsa_names[i], 0, &sec[i])) !=
			    0)
				goto out;
			ATTR(privt, nq, rsa_attrs[i], sec[i].p, sec[i].len);
		}
		ATTR(pubt, np, CKA_MODULUS, sec[0].p, sec[0].len);
		ATTR(pubt, np, CKA_PUBLIC_EXPONENT, sec[1].p, sec[1].len);
		ATTR(pubt, np, CKA_ENCRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_DECRYPT, &dec, sizeof(dec));
		ATTR(privt, nq, CKA_UNWRAP, &dec, sizeof(dec));
	} else if (EVP_PKEY_is_a(priv, "EC")) {
		ktype = CKK_EC;
		if (!EVP_PKEY_get_utf8_string_param(priv,
						    OSSL_PKEY_PARAM_GROUP_NAME,
						    group, sizeof(group), NULL)) {
			rc = gw_err_set(GW_ERR_UNSUPPORTED,
					"EC key with explicit or unnamed "
					"curve parameters");
			goto out;
		}
		for (c = 0; c < sizeof(ec_curves) / sizeof(ec_curves[0]); c++)
			if (strcmp(group, ec_curves[c].group) == 0)
				break;
		if (c == sizeof(ec_curves) / sizeof(ec_curves[0])) {
			rc = gw_err_set(GW_ERR_UNSUPPORTED,
					"EC curve %s (supported: P-256, P-384, "
					"P-521)",
					group);
			goto out;
		}
		if ((rc = bn_param(priv, OSSL_PKEY_PARAM_PRIV_KEY,
				   ec_curves[c].field_len, &sec[0])) != 0)
			goto out;
		EVP_PKEY_set_utf8_string_param(
		    priv, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		    "uncompressed");
		if (!EVP_PKEY_get_octet_string_param(priv,
						     OSSL_PKEY_PARAM_PUB_KEY,
						     point, sizeof(point),
						     &plen) ||
		    plen > 133) {
			rc = gw_err_set_ssl(GW_ERR_CRYPTO,
					    "cannot read the EC public point");
			goto out;
		}
		/* DER OCTET STRING around the point, as PKCS#11 wants. */
		ptder[0] = 0x04;
		if (plen < 128) {
			ptder[1] = (unsigned char)plen;
			memcpy(ptder + 2, point, plen);
			plen += 2;
		} else {
			ptder[1] = 0x81;
			ptder[2] = (unsigned char)plen;
			memcpy(ptder + 3, point, plen);
			plen += 3;
		}
		ATTR(privt, nq, CKA_EC_PARAMS, ec_curves[c].oid,
		     ec_curves[c].oid_len);
		ATTR(privt, nq, CKA_VALUE, sec[0].p, sec[0].len);
		ATTR(privt, nq, CKA_DERIVE, &dec, sizeof(dec));
		ATTR(pubt, np, CKA_EC_PARAMS, ec_curves[c].oid,
		     ec_curves[c].oid_len);
		ATTR(pubt, np, CKA_EC_POINT, ptder, plen);
	} else {
		rc = gw_err_set(GW_ERR_UNSUPPORTED,
				"%s private keys cannot be used on the token "
				"(RSA and EC only)",
				EVP_PKEY_get0_type_name(priv));
		goto out;
	}
	ATTR(privt, nq, CKA_CLASS, &privcls, sizeof(privcls));
	ATTR(privt, nq, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(privt, nq, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(privt, nq, CKA_SIGN, &yes, sizeof(yes));
	ATTR(privt, nq, CKA_ID, id, sizeof(id));
	ATTR(privt, nq, CKA_LABEL, label, strlen(label));
	ATTR(pubt, np, CKA_CLASS, &pubcls, sizeof(pubcls));
	ATTR(pubt, np, CKA_KEY_TYPE, &ktype, sizeof(ktype));
	ATTR(pubt, np, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pubt, np, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pubt, np, CKA_ID, id, sizeof(id));
	ATTR(pubt, np, CKA_LABEL, label, strlen(label));
#undef ATTR
	if ((rv = tok->f->C_CreateObject(tok->session, privt, nq, &privh)) !=
	    CKR_OK) {
		rc = rv_err(rv, "C_CreateObject(private key)");
		goto out;
	}
	if ((rv = tok->f->C_CreateObject(tok->session, pubt, np, &pubh)) !=
	    CKR_OK) {
		rc = rv_err(rv, "C_CreateObject(public key)");
		goto out;
	}
	if ((*key_uri = p11_uri_format(tok->label, label, id, sizeof(id),
				       "private")) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	rc = 0;
out:
	for (i = 0; i < 8; i++)
		secret_free(&sec[i]);
	OPENSSL_cleanse(privt, sizeof(privt));
	if (rc != 0) {
		destroy_quietly(tok, privh);
		destroy_quietly(tok, pubh);
	}
	return rc;
}

/* ---- engine --------------------------------------------------------- */

/* A UI reader that never prompts: our session already carries the login,
 * so a PIN request from the engine means something is wrong. */
static int
ui_no_prompt(UI *ui, UI_STRING *uis)
{
	return 0;
}

static int
engine_start(struct p11_token *tok)
{
	ENGINE *e = NULL;
	int rc;

	if (tok->engine != NULL)
		return 0;
	if ((tok->ui = UI_create_method("smimegw no-prompt")) == NULL)
		return GW_ERR_NOMEM;
	UI_method_set_reader(tok->ui, ui_no_prompt);
	ENGINE_load_builtin_engines();
	if ((e = ENGINE_by_id(P11_ENGINE_ID)) == NULL) {
		rc = gw_err_set_ssl(GW_ERR_P11_MODULE,
				    "the libp11 'pkcs11' engine is not "
				    "installed (package "
				    "libengine-pkcs11-openssl)");
		goto out;
	}
	if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", tok->module, 0) ||
	    !ENGINE_ctrl_cmd(e, "SET_USER_INTERFACE", 0, tok->ui, NULL, 0)) {
		rc = gw_err_set_ssl(GW_ERR_P11_MODULE,
				    "cannot configure the pkcs11 engine");
		goto out;
	}
	if (!ENGINE_init(e)) {
		rc = gw_err_set_ssl(GW_ERR_P11_MODULE,
				    "cannot initialise the pkcs11 engine");
		goto out;
	}
	tok->engine = e;
	e = NULL;
	rc = 0;
out:
	ENGINE_free(e);
	return rc;
}

int
p11_key_load(struct p11_token *tok, const char *key_uri, EVP_PKEY **out)
{
	struct p11_uri *uri = NULL;
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	int rc;

	*out = NULL;
	if ((rc = uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((rc = find_by_id(tok, CKO_PRIVATE_KEY, uri->id, uri->id_len, &h, 1,
			     &n)) != 0)
		goto out;
	if (n == 0) {
		rc = gw_err_set(GW_ERR_NOT_FOUND,
				"no private key %s on token '%s'", key_uri,
				tok->label);
		goto out;
	}
	if ((rc = engine_start(tok)) != 0)
		goto out;
	if ((*out = ENGINE_load_private_key(tok->engine, key_uri, tok->ui,
					    NULL)) == NULL) {
		rc = gw_err_set_ssl(GW_ERR_P11, "pkcs11 engine: cannot load %s",
				    key_uri);
		goto out;
	}
	rc = 0;
out:
	p11_uri_free(uri);
	return rc;
}

int
p11_cert_store(struct p11_token *tok, const char *key_uri, const char *label,
	       X509 *cert)
{
	struct p11_uri *uri = NULL;
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ctype = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE old[P11_MAX_OBJECTS], newh = CK_INVALID_HANDLE;
	CK_ULONG nold = 0, i;
	unsigned char *der = NULL, *subj = NULL, *iss = NULL, *ser = NULL;
	int dlen, slen, ilen, serlen, rc;
	CK_RV rv;

	if ((rc = uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((dlen = i2d_X509(cert, &der)) <= 0 ||
	    (slen = i2d_X509_NAME(X509_get_subject_name(cert), &subj)) <= 0 ||
	    (ilen = i2d_X509_NAME(X509_get_issuer_name(cert), &iss)) <= 0 ||
	    (serlen = i2d_ASN1_INTEGER(X509_get0_serialNumber(cert), &ser)) <=
		0) {
		rc = gw_err_set_ssl(GW_ERR_CRYPTO, "cannot encode certificate");
		goto out;
	}
	if ((rc = find_by_id(tok, CKO_CERTIFICATE, uri->id, uri->id_len, old,
			     P11_MAX_OBJECTS, &nold)) != 0)
		goto out;
	{
		CK_ATTRIBUTE t[] = {
		    {CKA_CLASS, &cls, sizeof(cls)},
		    {CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype)},
		    {CKA_TOKEN, &yes, sizeof(yes)},
		    {CKA_PRIVATE, &no, sizeof(no)},
		    {CKA_ID, uri->id, uri->id_len},
		    {CKA_LABEL, (void *)label, strlen(label)},
		    {CKA_SUBJECT, subj, (CK_ULONG)slen},
		    {CKA_ISSUER, iss, (CK_ULONG)ilen},
		    {CKA_SERIAL_NUMBER, ser, (CK_ULONG)serlen},
		    {CKA_VALUE, der, (CK_ULONG)dlen},
		};
		if ((rv = tok->f->C_CreateObject(tok->session, t,
						 sizeof(t) / sizeof(t[0]),
						 &newh)) != CKR_OK) {
			rc = rv_err(rv, "C_CreateObject(certificate)");
			goto out;
		}
	}
	/* The new certificate is in place; only now drop the old ones. */
	for (i = 0; i < nold; i++)
		if ((rv = tok->f->C_DestroyObject(tok->session, old[i])) !=
		    CKR_OK) {
			rc = rv_err(rv, "C_DestroyObject(old certificate)");
			goto out;
		}
	rc = 0;
out:
	OPENSSL_free(der);
	OPENSSL_free(subj);
	OPENSSL_free(iss);
	OPENSSL_free(ser);
	p11_uri_free(uri);
	return rc;
}

/* Destroys the objects matching tmpl, counting them. */
static int
destroy_matching(struct p11_token *tok, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
		 size_t *count)
{
	CK_OBJECT_HANDLE objs[P11_MAX_OBJECTS];
	CK_ULONG n = 0, i;
	CK_RV rv;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = find_objects(tok, tmpl, ntmpl, objs, P11_MAX_OBJECTS, &n)) !=
	    0)
		return rc;
	for (i = 0; i < n; i++) {
		if ((rv = tok->f->C_DestroyObject(tok->session, objs[i])) !=
		    CKR_OK)
			return rv_err(rv, "C_DestroyObject");
		if (count != NULL)
			(*count)++;
	}
	return 0;
}

int
p11_objects_destroy(struct p11_token *tok, const char *key_uri, size_t *count)
{
	struct p11_uri *uri = NULL;
	int rc;

	if (count != NULL)
		*count = 0;
	if ((rc = uri_id(key_uri, &uri)) != 0)
		return rc;
	{
		CK_ATTRIBUTE t[] = {{CKA_ID, uri->id, uri->id_len}};
		rc = destroy_matching(tok, t, 1, count);
	}
	p11_uri_free(uri);
	return rc;
}

int
p11_objects_destroy_label(struct p11_token *tok, const char *label,
			  size_t *count)
{
	CK_ATTRIBUTE t[] = {{CKA_LABEL, (void *)label, strlen(label)}};

	return destroy_matching(tok, t, 1, count);
}

int
p11_key_attrs(struct p11_token *tok, const char *key_uri,
	      struct p11_key_attrs *a)
{
	struct p11_uri *uri = NULL;
	CK_OBJECT_HANDLE h;
	CK_ULONG n;
	CK_BBOOL v[8] = {0};
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE t[] = {
	    {CKA_SENSITIVE, &v[0], 1},	      {CKA_EXTRACTABLE, &v[1], 1},
	    {CKA_ALWAYS_SENSITIVE, &v[2], 1}, {CKA_NEVER_EXTRACTABLE, &v[3], 1},
	    {CKA_LOCAL, &v[4], 1},	      {CKA_SIGN, &v[5], 1},
	    {CKA_DECRYPT, &v[6], 1},	      {CKA_DERIVE, &v[7], 1},
	    {CKA_KEY_TYPE, &kt, sizeof(kt)},
	};
	CK_RV rv;
	int rc;

	memset(a, 0, sizeof(*a));
	if ((rc = uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((rc = find_by_id(tok, CKO_PRIVATE_KEY, uri->id, uri->id_len, &h, 1,
			     &n)) != 0 ||
	    n == 0)
		goto out;
	a->present = 1;
	rv = tok->f->C_GetAttributeValue(tok->session, h, t,
					 sizeof(t) / sizeof(t[0]));
	/* Absent attributes (e.g. CKA_DECRYPT on EC) are not an error. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE) {
		rc = rv_err(rv, "C_GetAttributeValue(private key)");
		goto out;
	}
#define BOOLV(i) (t[i].ulValueLen == 1 && v[i] == CK_TRUE)
	a->sensitive = BOOLV(0);
	a->extractable = BOOLV(1);
	a->always_sensitive = BOOLV(2);
	a->never_extractable = BOOLV(3);
	a->local = BOOLV(4);
	a->can_sign = BOOLV(5);
	a->can_decrypt = kt == CKK_EC ? BOOLV(7) : BOOLV(6);
#undef BOOLV
out:
	p11_uri_free(uri);
	return rc;
}
