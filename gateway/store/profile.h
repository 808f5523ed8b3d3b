/*
 * profile.h - sending profiles ("Sending Profiles" in the reference):
 * how outgoing mail is protected and what happens to recipients whose
 * public key is missing.
 *
 * A profile is a name (the rules of identity_name_valid()) bound to:
 *
 *   mode       sign | encrypt | sign-encrypt | triple
 *   cert       the identity that signs (modes that sign; "" otherwise)
 *   sign_mode  detached | opaque (modes that sign)
 *   action     bounce | drop | split: recipients without a usable key
 *              (modes that encrypt; PROFILE_ACTION_NONE otherwise)
 *   cipher     "" (default aes256-cbc) or a cms_alg_cipher() name
 *   digest     "" (default sha256) or a cms_alg_digest() name
 *   pss, oaep  RSASSA-PSS signatures, RSA-OAEP key transport
 *
 * Records live in GW_DB_PROFILES keyed by name.  profile_validate() is
 * the one gate for add, edit and import; it names the field at fault:
 * "cert: ..." when a signing mode has no certificate, the identity is
 * missing, cannot sign (usage encrypt) or is outside its validity;
 * "action: ..." when an encrypting mode has none; "sign-mode: ..." /
 * "action: ..." / "cert: ..." when a field is set that the mode does
 * not use; "cipher: ..." / "digest: ..." for unknown names; "pss: ..."
 * when the signing key is not RSA; "oaep: ..." when the mode does not
 * encrypt.
 *
 * Every function returns 0 or a negative GW_ERR_* with a latched
 * detail, and never begins, commits or aborts the caller's transaction.
 */
#ifndef PROFILE_H
#define PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gw_buf.h"
#include "gw_store.h"
#include "cms_alg.h"

#define PROFILE_NAME_MAX 64

enum profile_mode {
	PROFILE_MODE_SIGN = 1,
	PROFILE_MODE_ENCRYPT,
	PROFILE_MODE_SIGN_ENCRYPT,
	PROFILE_MODE_TRIPLE,
};

enum profile_action {
	PROFILE_ACTION_NONE = 0,
	PROFILE_ACTION_BOUNCE,
	PROFILE_ACTION_DROP,
	PROFILE_ACTION_SPLIT,
};

struct profile {
	char name[PROFILE_NAME_MAX + 1];
	enum profile_mode mode;
	char cert[PROFILE_NAME_MAX + 1];	/* identity name or "" */
	enum smime_sign_mode sign_mode;
	enum profile_action action;
	char cipher[16];			/* "" or "aes256-gcm", ... */
	char digest[8];				/* "" or "sha384", ... */
	int pss, oaep;
	uint64_t added, updated;		/* seconds since the epoch */
};

/* Whether a mode signs / encrypts. */
int profile_mode_signs(enum profile_mode m);
int profile_mode_encrypts(enum profile_mode m);

/* Names as the CLI spells them ("sign-encrypt", "split", "opaque"), and
 * back (0 and *out, or GW_ERR_INVALID). */
const char *profile_mode_name(enum profile_mode m);
const char *profile_action_name(enum profile_action a);
const char *profile_sign_mode_name(enum smime_sign_mode m);
int profile_mode_parse(const char *s, enum profile_mode *out);
int profile_action_parse(const char *s, enum profile_action *out);
int profile_sign_mode_parse(const char *s, enum smime_sign_mode *out);

/* The gate described above; the identity is read in txn; now 0 is
 * time(NULL).  GW_ERR_INVALID (bad name or field) or
 * GW_ERR_REQUIREMENT (the identity cannot sign), naming the field.
 * It is profile_validate_fields() then profile_check_signer(). */
int profile_validate(struct gw_txn *txn, const struct profile *p,
		     time_t now);
/* Every check that needs no store: the name, the mode, the fields the
 * mode uses and does not use, a valid signing identity name. */
int profile_validate_fields(const struct profile *p);
/* For a mode that signs, the identity named: present in txn, able to
 * sign, valid at now, RSA when pss; 0 for other modes.  A profile that
 * passes profile_validate_fields() but not this is well formed but
 * unusable on this gateway now (config import keeps such profiles). */
int profile_check_signer(struct gw_txn *txn, const struct profile *p,
			 time_t now);

/* GW_ERR_NOT_FOUND (detail names it) when absent. */
int profile_get(struct gw_txn *txn, const char *name, struct profile *out);
/* flags: GW_PUT_NOOVERWRITE refuses an existing name (GW_ERR_EXISTS).
 * Writes p as is: validate first. */
int profile_put(struct gw_txn *txn, const struct profile *p, unsigned flags);
int profile_del(struct gw_txn *txn, const char *name);

/* Calls fn for each profile in name order; fn returns 0 to go on, > 0
 * to stop, < 0 to fail with that code. */
typedef int (*profile_fn)(void *arg, const struct profile *p);
int profile_foreach(struct gw_txn *txn, profile_fn fn, void *arg);

/* 1 when a and b hold the same policy: every field but the times. */
int profile_same(const struct profile *a, const struct profile *b);

/*
 * Calls fn for each profile that text (1-256 bytes) matches: an ASCII
 * case-insensitive substring of its name, its mode name, its cert or
 * its action name.  GW_ERR_INVALID for an empty or longer text.
 */
int profile_search(struct gw_txn *txn, const char *text, profile_fn fn,
		   void *arg);

/*
 * The profiles whose cert is the identity named id: *n gets how many,
 * buf (len bytes, may be NULL when len is 0) their names in name order,
 * "', '"-separated and quoted ('a', 'b'), cut with ", ..." when it does
 * not fit.  Used to refuse deleting an identity a profile signs with.
 */
int profile_cert_users(struct gw_txn *txn, const char *id, char *buf,
		       size_t len, size_t *n);

#endif
