/*
 * p11_internal.h - what the files of pkcs11/ share: the layout of
 * struct p11_token and raw access to the module's function list.
 *
 * Private to pkcs11/: p11_token.c, p11_key.c and p11_admin.c include it,
 * nothing else may (it needs p11-kit's pkcs11.h, whose include folder
 * only pkcs11/ has).  Other layers see struct p11_token as opaque
 * through p11_token.h, p11_key.h and p11_admin.h.
 *
 * p11_token.c owns the state: it fills the struct when the token opens
 * and releases it when it closes.  p11_key.c alone touches engine and ui
 * (the deprecated ENGINE API stays in that one file).  Raw calls go
 * through f on our one session; the rules of p11_token.h apply to them.
 */
#ifndef P11_INTERNAL_H
#define P11_INTERNAL_H

#include <stddef.h>

#include <openssl/types.h>

#include <p11-kit/pkcs11.h>

#include "p11_token.h"

#define P11_ID_LEN 16		/* bytes of the CKA_ID we give new objects */
#define P11_MAX_OBJECTS 64	/* objects one call finds or destroys */

struct p11_uri;

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

/* ---- p11_token.c ---------------------------------------------------- */

/* Maps rv, returned by the PKCS#11 function fn, to its GW_ERR_P11_* code
 * (GW_ERR_P11 when unknown) and latches a detail naming fn, the CK_RV
 * and what it means to an operator.  Returns the code. */
int p11_token_rv_err(CK_RV rv, const char *fn);

/* Finds up to max objects matching tmpl on our session; *n gets the
 * count.  0, or a mapped CK_RV. */
int p11_token_find(struct p11_token *tok, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
		   CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n);

/* The same for objects with CKA_ID id and class cls; cls
 * (CK_OBJECT_CLASS)-1 matches every class. */
int p11_token_find_by_id(struct p11_token *tok, CK_OBJECT_CLASS cls,
			 const unsigned char *id, size_t len,
			 CK_OBJECT_HANDLE *objs, CK_ULONG max, CK_ULONG *n);

/* Parses key_uri, which must carry id=: 0 and *uri (caller
 * p11_uri_free()s), or the parse error, or GW_ERR_INVALID without id=
 * (*uri NULL then). */
int p11_token_uri_id(const char *key_uri, struct p11_uri **uri);

/* ---- p11_key.c ------------------------------------------------------ */

/* Finishes and frees the engine, if p11_key_load() started it (that
 * finalises the module), and frees the UI method.  Only
 * p11_token_close() calls it, after closing our session. */
void p11_key_engine_end(struct p11_token *tok);

#endif
