/*
 * p11_key.c - private keys through the libp11 "pkcs11" ENGINE, and their
 * PKCS#11 attributes (p11_key.h).  The only file that uses the
 * deprecated ENGINE API.
 */
#include "p11_key.h"

#include <string.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/ui.h>

#include "gw_err.h"
#include "p11_internal.h"
#include "p11_uri.h"

#define P11_ENGINE_ID "pkcs11"

/* libp11 0.4.12 (in the engine as in libp11.so) reports a failed
 * PKCS#11 call on OpenSSL's error queue in an error library of its own,
 * registered at run time under this name, with the CK_RV as the reason
 * (measured: C_Decrypt failing with CKR_DEVICE_ERROR gives reason 0x30,
 * "Device error", p11_rsa.c).  The CK_RV survives nowhere else: the
 * engine's method returns -1, and CMS_decrypt() 0. */
#define LIBP11_ERR_LIB_NAME "PKCS#11 module"

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
	if ((rc = p11_token_uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((rc = p11_token_find_by_id(tok, CKO_PRIVATE_KEY, uri->id,
				       uri->id_len, &h, 1, &n)) != 0)
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

void
p11_key_engine_end(struct p11_token *tok)
{
	if (tok->engine != NULL) {
		ENGINE_finish(tok->engine);
		ENGINE_free(tok->engine);
		tok->engine = NULL;
	}
	if (tok->ui != NULL) {
		UI_destroy_method(tok->ui);
		tok->ui = NULL;
	}
}

/* ---- faults of a private-key operation ---------------------------- */

/*
 * Whether rv, from a private-key operation on a key that loaded fine,
 * is the token's fault rather than the input's: the device, the token,
 * the session, the login or the module went away or broke.  The
 * operation may succeed once that is repaired, so the message waits.
 *
 * Not faults: what a damaged or hostile message can cause.  SoftHSM
 * 2.6.1 answers a key transport with bad PKCS#1 padding with
 * CKR_GENERAL_ERROR (measured), and other modules use
 * CKR_FUNCTION_FAILED, CKR_ENCRYPTED_DATA_INVALID or
 * CKR_ENCRYPTED_DATA_LEN_RANGE; a refused mechanism
 * (CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
 * CKR_ARGUMENTS_BAD) does not get better with time.  Counting those as
 * faults would defer a damaged message until the sender's queue gives
 * up, and tell a sender which key transports unpad (Bleichenbacher).
 */
static int
rv_is_fault(CK_RV rv)
{
	switch (rv) {
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_SLOT_ID_INVALID:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_SESSION_COUNT:
	case CKR_OPERATION_ACTIVE:	/* a stale operation in the session */
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_KEY_HANDLE_INVALID:	/* the key's handle died with its session */
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED: /* the module was finalised */
	case CKR_HOST_MEMORY:
		return 1;
	default:
		return 0;
	}
}

int
p11_key_fault(void)
{
	unsigned long e;
	const char *lib;
	CK_RV rv, fault = CKR_OK;

	while ((e = ERR_get_error()) != 0) {
		if ((lib = ERR_lib_error_string(e)) == NULL ||
		    strcmp(lib, LIBP11_ERR_LIB_NAME) != 0)
			continue;
		rv = (CK_RV)ERR_GET_REASON(e);
		if (fault == CKR_OK && rv_is_fault(rv))
			fault = rv;
	}
	if (fault == CKR_OK)
		return 0;
	return p11_token_rv_err(fault, "private-key operation");
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
	if ((rc = p11_token_uri_id(key_uri, &uri)) != 0)
		return rc;
	if ((rc = p11_token_find_by_id(tok, CKO_PRIVATE_KEY, uri->id,
				       uri->id_len, &h, 1, &n)) != 0 ||
	    n == 0)
		goto out;
	a->present = 1;
	rv = tok->f->C_GetAttributeValue(tok->session, h, t,
					 sizeof(t) / sizeof(t[0]));
	/* Absent attributes (e.g. CKA_DECRYPT on EC) are not an error. */
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE) {
		rc = p11_token_rv_err(rv, "C_GetAttributeValue(private key)");
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
