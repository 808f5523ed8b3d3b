/*
 * profile.c - sending profile records: names, the validation gate and
 * store access.
 *
 * Layout: names and parsing; the record codec; profile_validate() (one
 * small check per field); store access; search and users.  The text
 * format lives in policy_file.c.
 */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cert_check.h"
#include "cert_info.h"
#include "gw_err.h"
#include "gw_record.h"
#include "identity.h"

enum {
	TAG_VERSION = 1,
	TAG_NAME = 2,
	TAG_MODE = 3,
	TAG_CERT = 4,
	TAG_SIGN_MODE = 5,
	TAG_ACTION = 6,
	TAG_CIPHER = 7,
	TAG_DIGEST = 8,
	TAG_PSS = 9,
	TAG_OAEP = 10,
	TAG_ADDED = 11,
	TAG_UPDATED = 12,
};

#define PROFILE_VERSION 1
#define SEARCH_MAX 256

/* ---- names -------------------------------------------------------------- */

static const struct {
	enum profile_mode mode;
	const char *name;
} modes[] = {
    {PROFILE_MODE_SIGN, "sign"},
    {PROFILE_MODE_ENCRYPT, "encrypt"},
    {PROFILE_MODE_SIGN_ENCRYPT, "sign-encrypt"},
    {PROFILE_MODE_TRIPLE, "triple"},
};

static const struct {
	enum profile_action action;
	const char *name;
} actions[] = {
    {PROFILE_ACTION_BOUNCE, "bounce"},
    {PROFILE_ACTION_DROP, "drop"},
    {PROFILE_ACTION_SPLIT, "split"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

int
profile_mode_signs(enum profile_mode m)
{
	return m == PROFILE_MODE_SIGN || m == PROFILE_MODE_SIGN_ENCRYPT ||
	       m == PROFILE_MODE_TRIPLE;
}

int
profile_mode_encrypts(enum profile_mode m)
{
	return m == PROFILE_MODE_ENCRYPT || m == PROFILE_MODE_SIGN_ENCRYPT ||
	       m == PROFILE_MODE_TRIPLE;
}

const char *
profile_mode_name(enum profile_mode m)
{
	size_t i;

	for (i = 0; i < NELEM(modes); i++)
		if (modes[i].mode == m)
			return modes[i].name;
	return "?";
}

const char *
profile_action_name(enum profile_action a)
{
	size_t i;

	for (i = 0; i < NELEM(actions); i++)
		if (actions[i].action == a)
			return actions[i].name;
	return "none";
}

const char *
profile_sign_mode_name(enum smime_sign_mode m)
{
	switch (m) {
	case SMIME_SIGN_DETACHED:
		return "detached";
	case SMIME_SIGN_OPAQUE:
		return "opaque";
	}
	return "?";
}

int
profile_mode_parse(const char *s, enum profile_mode *out)
{
	size_t i;

	for (i = 0; i < NELEM(modes); i++)
		if (strcmp(s, modes[i].name) == 0) {
			*out = modes[i].mode;
			return 0;
		}
	return GW_ERR_INVALID;
}

int
profile_action_parse(const char *s, enum profile_action *out)
{
	size_t i;

	for (i = 0; i < NELEM(actions); i++)
		if (strcmp(s, actions[i].name) == 0) {
			*out = actions[i].action;
			return 0;
		}
	return GW_ERR_INVALID;
}

int
profile_sign_mode_parse(const char *s, enum smime_sign_mode *out)
{
	if (strcmp(s, "detached") == 0)
		*out = SMIME_SIGN_DETACHED;
	else if (strcmp(s, "opaque") == 0)
		*out = SMIME_SIGN_OPAQUE;
	else
		return GW_ERR_INVALID;
	return 0;
}

/* ---- record codec ------------------------------------------------------- */

static int
encode(const struct profile *p, struct gw_rec_writer *w)
{
	int rc = 0;

	rc |= gw_rec_put_u64(w, TAG_VERSION, PROFILE_VERSION);
	rc |= gw_rec_put_str(w, TAG_NAME, p->name);
	rc |= gw_rec_put_u64(w, TAG_MODE, (uint64_t)p->mode);
	rc |= gw_rec_put_str(w, TAG_CERT, p->cert);
	rc |= gw_rec_put_u64(w, TAG_SIGN_MODE, (uint64_t)p->sign_mode);
	rc |= gw_rec_put_u64(w, TAG_ACTION, (uint64_t)p->action);
	rc |= gw_rec_put_str(w, TAG_CIPHER, p->cipher);
	rc |= gw_rec_put_str(w, TAG_DIGEST, p->digest);
	rc |= gw_rec_put_u64(w, TAG_PSS, p->pss ? 1 : 0);
	rc |= gw_rec_put_u64(w, TAG_OAEP, p->oaep ? 1 : 0);
	rc |= gw_rec_put_u64(w, TAG_ADDED, p->added);
	rc |= gw_rec_put_u64(w, TAG_UPDATED, p->updated);
	if (rc != 0)
		return gw_err_set(GW_ERR_NOMEM,
				  "encoding sending profile record");
	return 0;
}

/* A string field into a fixed array; GW_ERR_STORE when it does not fit. */
static int
field_str(const struct gw_rec_field *f, char *dst, size_t size)
{
	if (f->len >= size || memchr(f->p, '\0', f->len) != NULL)
		return gw_err_set(GW_ERR_STORE,
				  "corrupt sending profile record (field %u)",
				  f->tag);
	memcpy(dst, f->p, f->len);
	dst[f->len] = '\0';
	return 0;
}

static int
decode(const unsigned char *buf, size_t len, struct profile *p)
{
	struct gw_rec_field f;
	size_t off = 0;
	int r, rc = 0;

	memset(p, 0, sizeof(*p));
	while (rc == 0 && (r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_NAME:
			rc = field_str(&f, p->name, sizeof(p->name));
			break;
		case TAG_MODE:
			p->mode = (enum profile_mode)gw_rec_u64(&f);
			break;
		case TAG_CERT:
			rc = field_str(&f, p->cert, sizeof(p->cert));
			break;
		case TAG_SIGN_MODE:
			p->sign_mode = (enum smime_sign_mode)gw_rec_u64(&f);
			break;
		case TAG_ACTION:
			p->action = (enum profile_action)gw_rec_u64(&f);
			break;
		case TAG_CIPHER:
			rc = field_str(&f, p->cipher, sizeof(p->cipher));
			break;
		case TAG_DIGEST:
			rc = field_str(&f, p->digest, sizeof(p->digest));
			break;
		case TAG_PSS:
			p->pss = gw_rec_u64(&f) != 0;
			break;
		case TAG_OAEP:
			p->oaep = gw_rec_u64(&f) != 0;
			break;
		case TAG_ADDED:
			p->added = gw_rec_u64(&f);
			break;
		case TAG_UPDATED:
			p->updated = gw_rec_u64(&f);
			break;
		default:
			break;
		}
	}
	if (rc != 0)
		return rc;
	if (r < 0)
		return r;
	if (p->name[0] == '\0' || p->mode == 0)
		return gw_err_set(GW_ERR_STORE,
				  "incomplete sending profile record");
	return 0;
}

/* ---- validation --------------------------------------------------------- */

/* 1 when s is NUL-terminated within size bytes. */
static int
bounded(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int
check_name(const struct profile *p)
{
	if (!bounded(p->name, sizeof(p->name)) || !identity_name_valid(p->name))
		return gw_err_set(GW_ERR_INVALID,
				  "name: '%.64s' must be 1-64 letters, digits, "
				  "'.', '_' or '-', starting with a letter or "
				  "digit",
				  bounded(p->name, sizeof(p->name)) ? p->name
								    : "");
	return 0;
}

/* Fields the mode does not use must hold their neutral value. */
static int
check_unused(const struct profile *p)
{
	const char *m = profile_mode_name(p->mode);

	if (!profile_mode_signs(p->mode)) {
		if (p->cert[0] != '\0')
			return gw_err_set(GW_ERR_INVALID,
					  "cert: mode '%s' does not sign; a "
					  "signing certificate does not apply",
					  m);
		if (p->sign_mode != SMIME_SIGN_DETACHED)
			return gw_err_set(GW_ERR_INVALID,
					  "sign-mode: mode '%s' does not sign",
					  m);
		if (p->digest[0] != '\0')
			return gw_err_set(GW_ERR_INVALID,
					  "digest: mode '%s' does not sign", m);
		if (p->pss)
			return gw_err_set(GW_ERR_INVALID,
					  "pss: mode '%s' does not sign", m);
	}
	if (!profile_mode_encrypts(p->mode)) {
		if (p->action != PROFILE_ACTION_NONE)
			return gw_err_set(GW_ERR_INVALID,
					  "action: mode '%s' does not encrypt; "
					  "an action for recipients without a "
					  "key does not apply",
					  m);
		if (p->cipher[0] != '\0')
			return gw_err_set(GW_ERR_INVALID,
					  "cipher: mode '%s' does not encrypt",
					  m);
		if (p->oaep)
			return gw_err_set(GW_ERR_INVALID,
					  "oaep: mode '%s' does not encrypt",
					  m);
	}
	return 0;
}

static int
check_names(const struct profile *p)
{
	if (p->sign_mode != SMIME_SIGN_DETACHED &&
	    p->sign_mode != SMIME_SIGN_OPAQUE)
		return gw_err_set(GW_ERR_INVALID,
				  "sign-mode: %d is not detached or opaque",
				  (int)p->sign_mode);
	if (p->action != PROFILE_ACTION_NONE &&
	    strcmp(profile_action_name(p->action), "none") == 0)
		return gw_err_set(GW_ERR_INVALID,
				  "action: %d is not bounce, drop or split",
				  (int)p->action);
	if (!bounded(p->cipher, sizeof(p->cipher)) ||
	    (p->cipher[0] != '\0' && cms_alg_cipher(p->cipher) == NULL))
		return gw_err_set(GW_ERR_INVALID,
				  "cipher: '%.15s' is not one of aes128-cbc, "
				  "aes192-cbc, aes256-cbc, aes128-gcm, "
				  "aes256-gcm",
				  bounded(p->cipher, sizeof(p->cipher))
				      ? p->cipher
				      : "");
	if (!bounded(p->digest, sizeof(p->digest)) ||
	    (p->digest[0] != '\0' && cms_alg_digest(p->digest) == NULL))
		return gw_err_set(GW_ERR_INVALID,
				  "digest: '%.7s' is not one of sha256, "
				  "sha384, sha512",
				  bounded(p->digest, sizeof(p->digest))
				      ? p->digest
				      : "");
	return 0;
}

/* A mode that signs names a signing identity, by a valid name. */
static int
check_cert_name(const struct profile *p)
{
	if (p->cert[0] == '\0')
		return gw_err_set(GW_ERR_INVALID,
				  "cert: mode '%s' signs and needs a signing "
				  "certificate (an identity of this gateway)",
				  profile_mode_name(p->mode));
	if (!bounded(p->cert, sizeof(p->cert)) || !identity_name_valid(p->cert))
		return gw_err_set(GW_ERR_INVALID,
				  "cert: '%.64s' is not a valid identity name",
				  bounded(p->cert, sizeof(p->cert)) ? p->cert
								    : "");
	return 0;
}

/* The signing identity: present, able to sign, valid at now; pss only
 * with an RSA key. */
static int
check_signer(struct gw_txn *txn, const struct profile *p, time_t now)
{
	struct identity *id = NULL;
	EVP_PKEY *pk;
	char t[32];
	int rc;

	rc = identity_get(txn, p->cert, &id);
	if (rc == GW_ERR_NOT_FOUND) {
		gw_err_clear();
		return gw_err_set(GW_ERR_INVALID,
				  "cert: no identity named '%s' on this "
				  "gateway (see 'smimegw cert list')",
				  p->cert);
	}
	if (rc != 0)
		return rc;
	if (id->usage == CERT_USAGE_ENCRYPT) {
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"cert: identity '%s' is for encryption only "
				"(usage encrypt) and cannot sign",
				p->cert);
		goto out;
	}
	if (X509_cmp_time(X509_get0_notAfter(id->cert), &now) < 0) {
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"cert: identity '%s' expired on %s",
				p->cert,
				cert_info_time(X509_get0_notAfter(id->cert),
					       t));
		goto out;
	}
	if (X509_cmp_time(X509_get0_notBefore(id->cert), &now) > 0) {
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"cert: identity '%s' is not valid before %s",
				p->cert,
				cert_info_time(X509_get0_notBefore(id->cert),
					       t));
		goto out;
	}
	pk = X509_get0_pubkey(id->cert);
	if (p->pss && (pk == NULL || !EVP_PKEY_is_a(pk, "RSA"))) {
		rc = gw_err_set(GW_ERR_INVALID,
				"pss: RSASSA-PSS needs an RSA signing key; "
				"identity '%s' has %s key",
				p->cert,
				pk && EVP_PKEY_is_a(pk, "EC") ? "an EC"
							      : "a non-RSA");
		goto out;
	}
	rc = 0;
out:
	identity_free(id);
	return rc;
}

int
profile_validate(struct gw_txn *txn, const struct profile *p, time_t now)
{
	int rc;

	if ((rc = profile_validate_fields(p)) != 0)
		return rc;
	return profile_check_signer(txn, p, now);
}

int
profile_check_signer(struct gw_txn *txn, const struct profile *p, time_t now)
{
	if (!profile_mode_signs(p->mode))
		return 0;
	return check_signer(txn, p, now ? now : time(NULL));
}

int
profile_validate_fields(const struct profile *p)
{
	int rc;

	if ((rc = check_name(p)) != 0)
		return rc;
	if (strcmp(profile_mode_name(p->mode), "?") == 0)
		return gw_err_set(GW_ERR_INVALID,
				  "mode: %d is not sign, encrypt, sign-encrypt "
				  "or triple",
				  (int)p->mode);
	if ((rc = check_names(p)) != 0 || (rc = check_unused(p)) != 0)
		return rc;
	if (profile_mode_encrypts(p->mode) &&
	    p->action == PROFILE_ACTION_NONE)
		return gw_err_set(GW_ERR_INVALID,
				  "action: mode '%s' encrypts and needs an "
				  "action for recipients without a usable "
				  "public key (bounce, drop or split)",
				  profile_mode_name(p->mode));
	if (profile_mode_signs(p->mode))
		return check_cert_name(p);
	return 0;
}

/* ---- store access ------------------------------------------------------- */

int
profile_get(struct gw_txn *txn, const char *name, struct profile *out)
{
	const void *val;
	size_t vlen;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = gw_txn_get(txn, GW_DB_PROFILES, name, strlen(name), &val, &vlen);
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no sending profile named '%.64s'", name);
	if (rc != 0)
		return rc;
	return decode(val, vlen, out);
}

int
profile_put(struct gw_txn *txn, const struct profile *p, unsigned flags)
{
	struct gw_rec_writer *w;
	const unsigned char *buf;
	size_t len;
	int rc;

	if (!bounded(p->name, sizeof(p->name)) || !identity_name_valid(p->name))
		return check_name(p);
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(p, w)) == 0) {
		buf = gw_rec_data(w, &len);
		rc = gw_txn_put(txn, GW_DB_PROFILES, p->name, strlen(p->name),
				buf, len, flags);
		if (rc == GW_ERR_EXISTS)
			rc = gw_err_set(rc,
					"a sending profile named '%s' already "
					"exists",
					p->name);
	}
	gw_rec_writer_free(w);
	return rc;
}

int
profile_del(struct gw_txn *txn, const char *name)
{
	int rc;

	rc = gw_txn_del(txn, GW_DB_PROFILES, name, strlen(name));
	if (rc == GW_ERR_NOT_FOUND)
		return gw_err_set(rc, "no sending profile named '%.64s'", name);
	return rc;
}

struct foreach_ctx {
	profile_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct profile p;
	int rc;

	if ((rc = decode(val, vlen, &p)) != 0)
		return rc;
	return c->fn(c->arg, &p);
}

int
profile_foreach(struct gw_txn *txn, profile_fn fn, void *arg)
{
	struct foreach_ctx c = {fn, arg};

	return gw_txn_foreach(txn, GW_DB_PROFILES, foreach_one, &c);
}

int
profile_same(const struct profile *a, const struct profile *b)
{
	return strcmp(a->name, b->name) == 0 && a->mode == b->mode &&
	       strcmp(a->cert, b->cert) == 0 && a->sign_mode == b->sign_mode &&
	       a->action == b->action && strcmp(a->cipher, b->cipher) == 0 &&
	       strcmp(a->digest, b->digest) == 0 && !a->pss == !b->pss &&
	       !a->oaep == !b->oaep;
}

/* ---- search and users --------------------------------------------------- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ASCII case-insensitive: does hay contain needle? */
static int
ci_contains(const char *hay, const char *needle)
{
	size_t i, j, hlen = strlen(hay), nlen = strlen(needle);

	for (i = 0; i + nlen <= hlen; i++) {
		for (j = 0; j < nlen; j++)
			if (lower((unsigned char)hay[i + j]) !=
			    lower((unsigned char)needle[j]))
				break;
		if (j == nlen)
			return 1;
	}
	return 0;
}

struct search_ctx {
	const char *text;
	profile_fn fn;
	void *arg;
};

static int
search_one(void *arg, const struct profile *p)
{
	struct search_ctx *c = arg;

	if (ci_contains(p->name, c->text) ||
	    ci_contains(profile_mode_name(p->mode), c->text) ||
	    ci_contains(p->cert, c->text) ||
	    (p->action != PROFILE_ACTION_NONE &&
	     ci_contains(profile_action_name(p->action), c->text)))
		return c->fn(c->arg, p);
	return 0;
}

int
profile_search(struct gw_txn *txn, const char *text, profile_fn fn,
	       void *arg)
{
	struct search_ctx c = {text, fn, arg};
	size_t n = strlen(text);

	if (n == 0 || n > SEARCH_MAX)
		return gw_err_set(GW_ERR_INVALID,
				  "TEXT: must be 1 to %d bytes", SEARCH_MAX);
	return profile_foreach(txn, search_one, &c);
}

struct users_ctx {
	const char *id;
	char *buf;
	size_t len, o, n;
	int cut;
};

static int
users_one(void *arg, const struct profile *p)
{
	struct users_ctx *c = arg;
	size_t need;

	if (!profile_mode_signs(p->mode) || strcmp(p->cert, c->id) != 0)
		return 0;
	c->n++;
	if (c->len == 0 || c->cut)
		return 0;
	need = strlen(p->name) + 4; /* ", 'name'" less one, plus NUL */
	if (c->o + need + 2 + sizeof(", ...") > c->len) {
		snprintf(c->buf + c->o, c->len - c->o, ", ...");
		c->cut = 1;
		return 0;
	}
	c->o += (size_t)snprintf(c->buf + c->o, c->len - c->o, "%s'%s'",
				 c->o ? ", " : "", p->name);
	return 0;
}

int
profile_cert_users(struct gw_txn *txn, const char *id, char *buf, size_t len,
		   size_t *n)
{
	struct users_ctx c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.id = id;
	c.buf = buf;
	c.len = len;
	if (len > 0)
		buf[0] = '\0';
	rc = profile_foreach(txn, users_one, &c);
	*n = c.n;
	return rc;
}
