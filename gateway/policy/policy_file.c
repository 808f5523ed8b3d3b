/*
 * policy_file.c - the sending profile text and the configuration file
 * (public keys, trusted CAs, sending profiles).
 *
 * Layout: export; the import record; the profile section; the CA
 * section; the configuration splitter; validate and apply; the outcome
 * accessors.  The line scanner and certificate blocks are textfmt.c's.
 */
#include "policy_file.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "castore.h"
#include "cert_info.h"
#include "gw_err.h"
#include "identity.h"
#include "keystore.h"
#include "policy_backup.h"
#include "policy_route.h"
#include "profile.h"
#include "strset.h"
#include "textfmt.h"
#include "textstream.h"

#define SHOWN 64 /* bytes of input quoted in errors */
/* Texts read here: quoted input keeps UTF-8. */
#define TEXT_FLAGS TEXTFMT_UTF8

/* Input quoted in a message (see textfmt_escape()). */
static void
escape(char *dst, size_t size, const char *src, size_t len)
{
	textfmt_escape(dst, size, src, len, TEXT_FLAGS);
}

/* ---- export ------------------------------------------------------------- */

static int
export_profile(void *arg, const struct profile *p)
{
	struct gw_buf *out = arg;
	char t1[TEXTFMT_TIME_LEN], t2[TEXTFMT_TIME_LEN];
	int rc;

	if ((rc = gw_buf_addf(out, "\nname: %s\nmode: %s\n", p->name,
			      profile_mode_name(p->mode))) != 0)
		return rc;
	if (profile_mode_signs(p->mode)) {
		if ((rc = gw_buf_addf(out, "cert: %s\nsign-mode: %s\n", p->cert,
				      profile_sign_mode_name(p->sign_mode))) !=
			0 ||
		    (p->digest[0] != '\0' &&
		     (rc = gw_buf_addf(out, "digest: %s\n", p->digest)) != 0) ||
		    (rc = gw_buf_addf(out, "pss: %s\n",
				      p->pss ? "yes" : "no")) != 0)
			return rc;
	}
	if (profile_mode_encrypts(p->mode)) {
		if ((rc = gw_buf_addf(out, "action: %s\n",
				      profile_action_name(p->action))) != 0 ||
		    (p->cipher[0] != '\0' &&
		     (rc = gw_buf_addf(out, "cipher: %s\n", p->cipher)) != 0) ||
		    (rc = gw_buf_addf(out, "oaep: %s\n",
				      p->oaep ? "yes" : "no")) != 0)
			return rc;
	}
	return gw_buf_addf(out, "added: %s\nupdated: %s\n",
			   textfmt_time(p->added, t1),
			   textfmt_time(p->updated, t2));
}

int
policy_file_export_profiles(struct gw_txn *txn, struct gw_buf *out)
{
	int rc;

	if ((rc = gw_buf_adds(out,
			      POLICY_PROFILES_HEADER "\n"
			      "# smimegw sending profiles. Each entry: 'name: "
			      "NAME', 'mode: MODE', then the\n"
			      "# attributes its mode uses (see smimegw(1)), "
			      "'added:' and 'updated:'.\n"
			      "# Lines starting with '#' are comments.\n")) !=
	    0)
		return rc;
	return profile_foreach(txn, export_profile, out);
}

static int
export_ca(void *arg, const struct castore_ca *ca)
{
	struct gw_buf *out = arg;
	char subj[1024], esc[1024], t[TEXTFMT_TIME_LEN];
	int rc;

	cert_info_name(X509_get_subject_name(ca->cert), subj, sizeof(subj));
	escape(esc, sizeof(esc), subj, strlen(subj));
	if ((rc = gw_buf_addf(out, "\n# subject: %s\n# id: %s\nadded: %s\n",
			      esc, ca->id, textfmt_time(ca->added, t))) != 0)
		return rc;
	return textfmt_add_cert_pem(out, ca->cert,
				    "cannot write the CA certificate %.16s",
				    ca->id);
}

int
policy_file_export_config(struct gw_txn *txn, struct gw_buf *out)
{
	int rc;

	if ((rc = gw_buf_adds(
		 out,
		 POLICY_CONFIG_HEADER "\n"
		 "# smimegw configuration: everything in the store: the "
		 "store records of\n"
		 "# the gateway's identities, public keys, trusted CAs, "
		 "harvested keys,\n"
		 "# alerts, sending profiles and their table. The "
		 "identities' private keys\n"
		 "# are not "
		 "included: they live in the token and never leave it.\n"
		 "")) != 0 ||
	    (rc = policy_backup_export(txn, POLICY_BACKUP_IDENTITIES, out)) !=
		0 ||
	    (rc = gw_buf_adds(out, "\n")) != 0 ||
	    (rc = keystore_export_with(txn, out, KEYSTORE_EXPORT_SOURCE)) != 0)
		return rc;
	if ((rc = gw_buf_adds(out,
			      "\n" POLICY_CAS_HEADER "\n"
			      "# smimegw trusted CAs. Each entry: 'added:', "
			      "then one PEM certificate, a\n"
			      "# trust anchor. Lines starting with '#' are "
			      "comments.\n")) != 0 ||
	    (rc = castore_foreach(txn, export_ca, out)) != 0 ||
	    (rc = policy_backup_export(txn, POLICY_BACKUP_HARVESTED, out)) !=
		0 ||
	    (rc = policy_backup_export(txn, POLICY_BACKUP_ALERTS, out)) != 0 ||
	    (rc = gw_buf_adds(out, "\n")) != 0)
		return rc;
	if ((rc = policy_file_export_profiles(txn, out)) != 0 ||
	    (rc = gw_buf_adds(out, "\n")) != 0)
		return rc;
	return policy_route_export(txn, out, NULL);
}

/* ---- the import record -------------------------------------------------- */

enum attr {
	A_MODE,
	A_CERT,
	A_SIGN_MODE,
	A_DIGEST,
	A_PSS,
	A_ACTION,
	A_CIPHER,
	A_OAEP,
	A_ADDED,
	A_UPDATED,
	A_COUNT,
};

/* Attribute names, as in the file and in profile_validate()'s details.
 * A_CERT to A_PSS are for modes that sign, A_ACTION to A_OAEP for modes
 * that encrypt; A_ADDED and A_UPDATED (the record's times) for all. */
static const char *const attr_names[A_COUNT] = {
    "mode", "cert", "sign-mode", "digest", "pss", "action", "cipher", "oaep",
    "added", "updated",
};

struct prof_entry {
	struct profile p;
	unsigned line;		 /* of "name:" */
	unsigned attr[A_COUNT];	 /* line of each attribute, 0: absent */
	enum policy_file_outcome outcome;
	uint64_t old_added;
	char warning[512];	 /* config import: why it is unusable now */
};

struct ca_entry {
	X509 *cert;
	char id[CASTORE_ID_LEN + 1];
	char subject[256];
	unsigned line;
	uint64_t added;		 /* 0: not given (now) */
	enum policy_file_outcome outcome;
};

struct policy_file_import {
	char *src;
	int config;		      /* a configuration (backup), not a
				       * profile file */
	struct policy_backup *bk;     /* identities, harvested, alerts */
	struct keystore_import *keys; /* NULL: no public key section */
	struct ca_entry *ca;
	size_t nca, capca;
	struct prof_entry *pr;
	size_t npr, cappr;
	struct policy_route *routes;  /* NULL: no table section */
	char routes_name[32];	      /* "N entries", its item's name */
};

void
policy_file_import_free(struct policy_file_import *imp)
{
	size_t i;

	if (imp == NULL)
		return;
	keystore_import_free(imp->keys);
	policy_backup_free(imp->bk);
	for (i = 0; i < imp->nca; i++)
		X509_free(imp->ca[i].cert);
	free(imp->ca);
	free(imp->pr);
	policy_route_free(imp->routes);
	free(imp->src);
	free(imp);
}

static int
import_new(const char *src, struct policy_file_import **out)
{
	struct policy_file_import *imp;

	if ((imp = calloc(1, sizeof(*imp))) == NULL)
		return GW_ERR_NOMEM;
	if ((imp->src = strdup(src)) == NULL) {
		free(imp);
		return GW_ERR_NOMEM;
	}
	*out = imp;
	return 0;
}

/* Room for one more element in *arr (n used of *cap, each size bytes). */
static int
grow(void **arr, size_t n, size_t *cap, size_t size, const char *src,
     unsigned line)
{
	void *na;
	size_t ncap;

	if (n >= POLICY_FILE_MAX_ENTRIES)
		return gw_err_set(GW_ERR_LIMIT, "%s:%u: more than %d entries",
				  src, line, POLICY_FILE_MAX_ENTRIES);
	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((na = realloc(*arr, ncap * size)) == NULL)
		return GW_ERR_NOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

/* ---- the profile section ------------------------------------------------ */

/* One attribute value into e. */
static int
set_attr(struct prof_entry *e, enum attr a, const char *src, unsigned no,
	 const char *v, size_t n)
{
	char val[80], shown[SHOWN];
	const char *name = attr_names[a];

	escape(shown, sizeof(shown), v, n);
	if (n == 0)
		return gw_err_set(GW_ERR_PARSE, "%s:%u: %s: empty value", src,
				  no, name);
	if (n >= sizeof(val))
		val[0] = '\0'; /* too long for any value: refused below */
	else {
		memcpy(val, v, n);
		val[n] = '\0';
	}
	switch (a) {
	case A_MODE:
		if (profile_mode_parse(val, &e->p.mode) == 0)
			return 0;
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: mode: '%s' is not one of sign, "
				  "encrypt, sign-encrypt, triple",
				  src, no, shown);
	case A_CERT:
		if (n < sizeof(e->p.cert) && identity_name_valid(val)) {
			memcpy(e->p.cert, val, n + 1);
			return 0;
		}
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: cert: '%s' is not a valid identity "
				  "name",
				  src, no, shown);
	case A_SIGN_MODE:
		if (profile_sign_mode_parse(val, &e->p.sign_mode) == 0)
			return 0;
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: sign-mode: '%s' is not one of "
				  "detached, opaque",
				  src, no, shown);
	case A_ACTION:
		if (profile_action_parse(val, &e->p.action) == 0)
			return 0;
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: action: '%s' is not one of bounce, "
				  "drop, split",
				  src, no, shown);
	case A_CIPHER:
		if (n < sizeof(e->p.cipher) &&
		    cms_alg_cipher(val) != NULL) {
			memcpy(e->p.cipher, val, n + 1);
			return 0;
		}
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: cipher: '%s' is not one of "
				  "aes128-cbc, aes192-cbc, aes256-cbc, "
				  "aes128-gcm, aes256-gcm",
				  src, no, shown);
	case A_DIGEST:
		if (n < sizeof(e->p.digest) &&
		    cms_alg_digest(val) != NULL) {
			memcpy(e->p.digest, val, n + 1);
			return 0;
		}
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: digest: '%s' is not one of sha256, "
				  "sha384, sha512",
				  src, no, shown);
	case A_ADDED:
		return textfmt_time_parse(src, no, name, v, n, &e->p.added);
	case A_UPDATED:
		return textfmt_time_parse(src, no, name, v, n, &e->p.updated);
	case A_PSS:
		return textfmt_yesno(src, no, name, v, n, &e->p.pss);
	case A_OAEP:
		return textfmt_yesno(src, no, name, v, n, &e->p.oaep);
	case A_COUNT:
		break;
	}
	return gw_err_set(GW_ERR_INTERNAL, "attribute %d", (int)a);
}

/* An entry is complete: it has a mode and only the attributes its mode
 * uses. */
static int
entry_done(const struct prof_entry *e, const char *src)
{
	const char *m;
	int a;

	if (e->attr[A_MODE] == 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: profile '%s' has no 'mode:' line",
				  src, e->line, e->p.name);
	m = profile_mode_name(e->p.mode);
	for (a = A_CERT; a < A_ADDED; a++) {
		if (e->attr[a] == 0)
			continue;
		if (a < A_ACTION && !profile_mode_signs(e->p.mode))
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: profile '%s': %s: mode '%s' "
					  "does not sign; remove the line",
					  src, e->attr[a], e->p.name,
					  attr_names[a], m);
		if (a >= A_ACTION && !profile_mode_encrypts(e->p.mode))
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: profile '%s': %s: mode '%s' "
					  "does not encrypt; remove the line",
					  src, e->attr[a], e->p.name,
					  attr_names[a], m);
	}
	return 0;
}

static int
new_profile(struct policy_file_import *imp, unsigned no, const char *v,
	    size_t n, struct prof_entry **cur)
{
	char shown[SHOWN], name[PROFILE_NAME_MAX + 1];
	int rc;

	escape(shown, sizeof(shown), v, n);
	name[0] = '\0';
	if (n > 0 && n <= PROFILE_NAME_MAX) {
		memcpy(name, v, n);
		name[n] = '\0';
	}
	if (!identity_name_valid(name))
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: '%s' is not a valid name (1-64 "
				  "letters, digits, '.', '_' or '-', starting "
				  "with a letter or digit)",
				  imp->src, no, shown);
	if ((rc = grow((void **)&imp->pr, imp->npr, &imp->cappr,
		       sizeof(*imp->pr), imp->src, no)) != 0)
		return rc;
	*cur = &imp->pr[imp->npr++];
	memset(*cur, 0, sizeof(**cur));
	memcpy((*cur)->p.name, name, n + 1);
	(*cur)->line = no;
	(*cur)->p.sign_mode = SMIME_SIGN_DETACHED;
	return 0;
}

static int
profile_attr(struct policy_file_import *imp, struct prof_entry *cur,
	     unsigned no, const char *key, const char *v, size_t n)
{
	int a;

	for (a = 0; a < A_COUNT; a++)
		if (strcmp(key, attr_names[a]) == 0)
			break;
	if (a == A_COUNT)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: unknown attribute '%s' (known: name, "
				  "mode, cert, sign-mode, digest, pss, action, "
				  "cipher, oaep, added, updated)",
				  imp->src, no, key);
	if (cur == NULL)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: '%s:' before the first 'name:' line "
				  "(each entry begins with 'name: NAME')",
				  imp->src, no, key);
	if (cur->attr[a] != 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: %s given twice for profile '%s' "
				  "(first at line %u)",
				  imp->src, no, key, cur->p.name, cur->attr[a]);
	cur->attr[a] = no;
	return set_attr(cur, (enum attr)a, imp->src, no, v, n);
}

static int
profiles_unique(const struct policy_file_import *imp)
{
	const char *name;
	unsigned line, first;
	int r;

	if ((r = textfmt_repeat(imp->pr, imp->npr, sizeof(*imp->pr),
				offsetof(struct prof_entry, p.name),
				offsetof(struct prof_entry, line), &name,
				&line, &first)) <= 0)
		return r;
	return gw_err_set(GW_ERR_PARSE,
			  "%s:%u: profile name '%s' already used at line %u",
			  imp->src, line, name, first);
}

static int
parse_profiles(struct policy_file_import *imp, const char *buf, size_t len,
	       unsigned first)
{
	struct textfmt_lines it;
	struct prof_entry *cur = NULL;
	const char *line, *v;
	size_t n, vn;
	char key[32], shown[SHOWN];
	int r;

	textfmt_lines_init(&it, buf, len, imp->src, first, TEXT_FLAGS);
	if ((r = textfmt_check_header(&it, POLICY_PROFILES_HEADER,
				      "a smimegw sending profile export",
				      48)) != 0)
		return r;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		if (!textfmt_attr_split(line, n, key, sizeof(key), &v, &vn)) {
			escape(shown, sizeof(shown), line, n);
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unexpected line '%s' "
					  "(expected 'name: NAME', "
					  "'attribute: value', a comment or a "
					  "blank line)",
					  imp->src, it.no, shown);
		}
		if (strcmp(key, "name") == 0) {
			if (cur != NULL && (r = entry_done(cur, imp->src)) != 0)
				return r;
			if ((r = new_profile(imp, it.no, v, vn, &cur)) != 0)
				return r;
			continue;
		}
		if ((r = profile_attr(imp, cur, it.no, key, v, vn)) != 0)
			return r;
	}
	if (r < 0)
		return r;
	if (cur != NULL && (r = entry_done(cur, imp->src)) != 0)
		return r;
	return profiles_unique(imp);
}

/* ---- the CA section ----------------------------------------------------- */

/* A decoded CA: the CA rule, its ID, no repeat within the file; added
 * 0 or the time its "added:" line gave. */
static int
add_ca(struct policy_file_import *imp, X509 *x, unsigned no, uint64_t added)
{
	struct ca_entry *e;
	char detail[512], subj[256];
	int rc;

	cert_info_name(X509_get_subject_name(x), subj, sizeof(subj));
	if ((rc = castore_ca_check(x)) != 0) {
		snprintf(detail, sizeof(detail), "%s", gw_err_detail());
		gw_err_clear();
		return gw_err_set(rc, "%s:%u: CA '%s': %s", imp->src, no, subj,
				  detail);
	}
	if ((rc = grow((void **)&imp->ca, imp->nca, &imp->capca,
		       sizeof(*imp->ca), imp->src, no)) != 0)
		return rc;
	e = &imp->ca[imp->nca];
	memset(e, 0, sizeof(*e));
	if ((rc = castore_id(x, e->id)) != 0)
		return rc;
	e->cert = x;
	e->line = no;
	e->added = added;
	snprintf(e->subject, sizeof(e->subject), "%s", subj);
	imp->nca++;
	return 0;
}

/* The same certificate twice in the section is an error at the second. */
static int
cas_unique(const struct policy_file_import *imp)
{
	const char *id;
	unsigned line, first;
	int r;

	if ((r = textfmt_repeat(imp->ca, imp->nca, sizeof(*imp->ca),
				offsetof(struct ca_entry, id),
				offsetof(struct ca_entry, line), &id, &line,
				&first)) <= 0)
		return r;
	return gw_err_set(GW_ERR_PARSE, "%s:%u: the same CA as at line %u",
			  imp->src, line, first);
}

static int
parse_cas(struct policy_file_import *imp, const char *buf, size_t len,
	  unsigned first)
{
	struct textfmt_lines it;
	const char *line, *v;
	size_t n, vn;
	char shown[SHOWN], key[32];
	unsigned no, added_at = 0;
	uint64_t added = 0;
	X509 *x = NULL;
	int r;

	textfmt_lines_init(&it, buf, len, imp->src, first, TEXT_FLAGS);
	if ((r = textfmt_check_header(&it, POLICY_CAS_HEADER,
				      "a smimegw CA section", 48)) != 0)
		return r;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		escape(shown, sizeof(shown), line, n);
		/* "added: TIME" goes with the certificate after it. */
		if (textfmt_attr_split(line, n, key, sizeof(key), &v, &vn) &&
		    strcmp(key, "added") == 0) {
			if (added_at != 0)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: added given twice "
						  "(first at line %u)",
						  imp->src, it.no, added_at);
			if ((r = textfmt_time_parse(imp->src, it.no, key, v,
						    vn, &added)) != 0)
				return r;
			added_at = it.no;
			continue;
		}
		if (!textfmt_line_is(line, n, "-----BEGIN CERTIFICATE-----")) {
			if (n > 11 && memcmp(line, "-----BEGIN ", 11) == 0)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: '%s': only "
						  "CERTIFICATE blocks are "
						  "accepted",
						  imp->src, it.no, shown);
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unexpected line '%s' "
					  "(expected a PEM certificate, a "
					  "comment or a blank line)",
					  imp->src, it.no, shown);
		}
		no = it.no;
		if ((r = textfmt_read_cert(&it, NULL, &x)) != 0)
			return r;
		if ((r = add_ca(imp, x, no, added)) != 0) {
			X509_free(x);
			return r;
		}
		added = 0;
		added_at = 0;
	}
	if (r < 0)
		return r;
	if (added_at != 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: 'added:' without a certificate after "
				  "it",
				  imp->src, added_at);
	return cas_unique(imp);
}

/* ---- the configuration file --------------------------------------------- */

enum section {
	SEC_PUBKEYS,
	SEC_CAS,
	SEC_PROFILES,
	SEC_IDENTITIES,
	SEC_HARVESTED,
	SEC_ALERTS,
	SEC_ROUTES,
	SEC_COUNT,
};

static const char *const sec_headers[SEC_COUNT] = {
    KEYSTORE_EXPORT_HEADER,  POLICY_CAS_HEADER,	      POLICY_PROFILES_HEADER,
    POLICY_IDENTITIES_HEADER, POLICY_HARVESTED_HEADER, POLICY_ALERTS_HEADER,
    POLICY_ROUTES_HEADER,
};

/* The section headers as "'a', 'b', ... or 'f'" for messages. */
static const char *
known_sections(void)
{
	static char buf[256];
	size_t o = 0;
	int s;

	for (s = 0; s < SEC_COUNT && o < sizeof(buf); s++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s'%s'",
				      s == 0		 ? ""
				      : s == SEC_COUNT - 1 ? " or "
							   : ", ",
				      sec_headers[s]);
	return buf;
}

struct span {
	size_t start, end; /* byte offsets in the file */
	unsigned first;	   /* line of the header, 0: absent */
};

/* Which section header the line is; an error for "smimegw-..." lines
 * that are none. */
static int
section_of(const char *src, unsigned no, const char *line, size_t n,
	   int *sec)
{
	char shown[SHOWN];
	size_t stem;
	int s;

	for (s = 0; s < SEC_COUNT; s++)
		if (textfmt_line_is(line, n, sec_headers[s])) {
			*sec = s;
			return 0;
		}
	escape(shown, sizeof(shown), line, n);
	for (s = 0; s < SEC_COUNT; s++) {
		stem = strcspn(sec_headers[s], " ") + 1;
		if (n > stem && memcmp(line, sec_headers[s], stem) == 0)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unsupported section version "
					  "'%s' (this smimegw reads '%s')",
					  src, no, shown, sec_headers[s]);
	}
	return gw_err_set(GW_ERR_PARSE, "%s:%u: unknown section '%s' (known: %s)",
			  src, no, shown, known_sections());
}

/* Splits the file into its sections (spans). */
static int
split_sections(const char *buf, size_t len, const char *src,
	       struct span sp[SEC_COUNT])
{
	struct textfmt_lines it;
	const char *line;
	size_t n, at;
	int r, cur = -1, sec = 0;

	memset(sp, 0, SEC_COUNT * sizeof(*sp));
	textfmt_lines_init(&it, buf, len, src, 1, TEXT_FLAGS);
	if ((r = textfmt_check_header(&it, POLICY_CONFIG_HEADER,
				      "a smimegw configuration export",
				      48)) != 0)
		return r;
	for (;;) {
		at = (size_t)(it.p - buf);
		if ((r = textfmt_next_line(&it, &line, &n)) <= 0)
			break;
		if (n >= 8 && memcmp(line, "smimegw-", 8) == 0) {
			if ((r = section_of(src, it.no, line, n, &sec)) != 0)
				return r;
			if (sp[sec].first != 0)
				return gw_err_set(GW_ERR_PARSE,
						  "%s:%u: section '%s' given "
						  "twice (first at line %u)",
						  src, it.no, sec_headers[sec],
						  sp[sec].first);
			if (cur >= 0)
				sp[cur].end = at;
			sp[sec].start = at;
			sp[sec].first = it.no;
			cur = sec;
			continue;
		}
		if (cur < 0 && !textfmt_is_comment(line, n)) {
			char shown[SHOWN];

			escape(shown, sizeof(shown), line, n);
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unexpected line '%s' "
					  "(expected a section header: %s)",
					  src, it.no, shown, known_sections());
		}
	}
	if (r < 0)
		return r;
	if (cur >= 0)
		sp[cur].end = len;
	return 0;
}

static int
parse_section(struct policy_file_import *imp, int sec, const char *buf,
	      const struct span *s, time_t now)
{
	const char *p = buf + s->start;
	size_t n = s->end - s->start;
	int rc;

	switch (sec) {
	case SEC_PUBKEYS:
		return keystore_import_parse_at(p, n, imp->src, s->first, 0,
						now, &imp->keys);
	case SEC_CAS:
		return parse_cas(imp, p, n, s->first);
	case SEC_IDENTITIES:
		return policy_backup_parse(imp->bk, POLICY_BACKUP_IDENTITIES, p,
					   n, imp->src, s->first);
	case SEC_HARVESTED:
		return policy_backup_parse(imp->bk, POLICY_BACKUP_HARVESTED, p,
					   n, imp->src, s->first);
	case SEC_ALERTS:
		return policy_backup_parse(imp->bk, POLICY_BACKUP_ALERTS, p, n,
					   imp->src, s->first);
	case SEC_ROUTES:
		if ((rc = policy_route_parse(p, n, imp->src, s->first,
					     &imp->routes)) != 0)
			return rc;
		snprintf(imp->routes_name, sizeof(imp->routes_name),
			 "%zu entr%s", imp->routes->t.n,
			 imp->routes->t.n == 1 ? "y" : "ies");
		return 0;
	default:
		return parse_profiles(imp, p, n, s->first);
	}
}

int
policy_file_parse_config(const char *buf, size_t len, const char *src,
			 time_t now, struct policy_file_import **out)
{
	struct policy_file_import *imp = NULL;
	struct span sp[SEC_COUNT];
	int rc, sec, next;

	*out = NULL;
	if (now == 0)
		now = time(NULL);
	if (len > POLICY_FILE_MAX)
		return gw_err_set(GW_ERR_LIMIT, "%s: larger than %zu bytes",
				  src, POLICY_FILE_MAX);
	if ((rc = split_sections(buf, len, src, sp)) != 0 ||
	    (rc = import_new(src, &imp)) != 0)
		return rc;
	imp->config = 1;
	if ((imp->bk = policy_backup_new()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	/* In file order, so that the first error reported is the first in
	 * the file. */
	for (;;) {
		next = -1;
		for (sec = 0; sec < SEC_COUNT; sec++)
			if (sp[sec].first != 0 &&
			    (next < 0 || sp[sec].first < sp[next].first))
				next = sec;
		if (next < 0)
			break;
		if ((rc = parse_section(imp, next, buf, &sp[next], now)) != 0)
			goto out;
		sp[next].first = 0;
	}
	*out = imp;
	imp = NULL;
out:
	policy_file_import_free(imp);
	return rc;
}

int
policy_file_parse_profiles(const char *buf, size_t len, const char *src,
			   struct policy_file_import **out)
{
	struct policy_file_import *imp = NULL;
	int rc;

	*out = NULL;
	if (len > POLICY_FILE_MAX)
		return gw_err_set(GW_ERR_LIMIT, "%s: larger than %zu bytes",
				  src, POLICY_FILE_MAX);
	if ((rc = import_new(src, &imp)) != 0)
		return rc;
	if ((rc = parse_profiles(imp, buf, len, 1)) != 0) {
		policy_file_import_free(imp);
		return rc;
	}
	*out = imp;
	return 0;
}

/* ---- validate and apply ------------------------------------------------- */

/* The line of the attribute a profile_validate() detail names. */
static unsigned
fault_line(const struct prof_entry *e, const char *detail)
{
	size_t klen = strcspn(detail, ":");
	int a;

	for (a = 0; a < A_COUNT; a++)
		if (strlen(attr_names[a]) == klen &&
		    memcmp(attr_names[a], detail, klen) == 0 && e->attr[a])
			return e->attr[a];
	return e->line;
}

int
policy_file_validate(struct gw_txn *txn, struct policy_file_import *imp,
		     time_t now)
{
	struct prof_entry *e;
	char detail[768];
	size_t i;
	int rc, signer;

	for (i = 0; i < imp->npr; i++) {
		e = &imp->pr[i];
		e->warning[0] = '\0';
		signer = 0;
		if ((rc = profile_validate_fields(&e->p)) == 0 &&
		    (signer = profile_check_signer(txn, &e->p, now)) == 0)
			continue;
		if (rc == 0)
			rc = signer;
		snprintf(detail, sizeof(detail), "%s", gw_err_detail());
		gw_err_clear();
		if (imp->config && signer != 0 &&
		    gw_err_class(signer) == GW_ERRCLASS_PERMANENT) {
			/* A backup restores the profile as it was stored:
			 * well formed, but its identity is missing or cannot
			 * sign here (yet).  It is kept, unusable, and said. */
			snprintf(e->warning, sizeof(e->warning),
				 "%.200s:%u: %.240s: imported, but unusable "
				 "until the identity is there",
				 imp->src, fault_line(e, detail), detail);
			continue;
		}
		return gw_err_set(rc, "%s:%u: profile '%s': %s", imp->src,
				  fault_line(e, detail), e->p.name, detail);
	}
	return 0;
}

static enum policy_file_outcome
from_keystore(enum keystore_outcome o)
{
	switch (o) {
	case KEYSTORE_ADDED:
		return POLICY_FILE_ADDED;
	case KEYSTORE_DUPLICATE:
		return POLICY_FILE_DUPLICATE;
	case KEYSTORE_CONFLICT:
		return POLICY_FILE_CONFLICT;
	case KEYSTORE_REPLACED:
		return POLICY_FILE_REPLACED;
	case KEYSTORE_PENDING:
		break;
	}
	return POLICY_FILE_PENDING;
}

/* Outcomes of the profiles against the store; how many conflict. */
static int
classify_profiles(struct gw_txn *txn, struct policy_file_import *imp,
		  size_t *conflicts)
{
	struct prof_entry *e;
	struct profile old;
	size_t i;
	int rc;

	for (i = 0; i < imp->npr; i++) {
		e = &imp->pr[i];
		rc = profile_get(txn, e->p.name, &old);
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear();
			e->outcome = POLICY_FILE_ADDED;
			continue;
		}
		if (rc != 0)
			return rc;
		if (profile_same(&old, &e->p)) {
			e->outcome = POLICY_FILE_DUPLICATE;
		} else {
			e->outcome = POLICY_FILE_CONFLICT;
			e->old_added = old.added;
			(*conflicts)++;
		}
	}
	return 0;
}

static size_t
key_conflicts(const struct policy_file_import *imp)
{
	size_t i, n = 0;

	for (i = 0; imp->keys && i < keystore_import_count(imp->keys); i++)
		if (keystore_import_outcome(imp->keys, i) == KEYSTORE_CONFLICT)
			n++;
	return n;
}

static int
write_profiles(struct gw_txn *txn, struct policy_file_import *imp, time_t now)
{
	struct prof_entry *e;
	size_t i;
	int rc;

	for (i = 0; i < imp->npr; i++) {
		e = &imp->pr[i];
		if (e->outcome != POLICY_FILE_ADDED &&
		    e->outcome != POLICY_FILE_CONFLICT)
			continue;
		/* The record's own times when the file has them. */
		if (!e->attr[A_UPDATED])
			e->p.updated = (uint64_t)now;
		if (!e->attr[A_ADDED])
			e->p.added = e->outcome == POLICY_FILE_ADDED
					 ? (uint64_t)now
					 : e->old_added;
		if ((rc = profile_put(txn, &e->p,
				      e->outcome == POLICY_FILE_ADDED
					  ? GW_PUT_NOOVERWRITE
					  : 0)) != 0)
			return rc;
		if (e->outcome == POLICY_FILE_CONFLICT)
			e->outcome = POLICY_FILE_REPLACED;
	}
	return 0;
}

static int
write_cas(struct gw_txn *txn, struct policy_file_import *imp, time_t now)
{
	size_t i;
	int rc;

	for (i = 0; i < imp->nca; i++) {
		rc = castore_add(txn, imp->ca[i].cert,
				 imp->ca[i].added ? (time_t)imp->ca[i].added
						  : now,
				 NULL);
		if (rc != 0 && rc != GW_ERR_EXISTS)
			return rc;
		imp->ca[i].outcome =
		    rc == 0 ? POLICY_FILE_ADDED : POLICY_FILE_DUPLICATE;
	}
	return 0;
}

/* "2 public keys, 1 harvested key and 1 profile are already stored
 * ..." */
static int
conflict_error(size_t kconf, size_t hconf, size_t pconf, size_t rconf)
{
	const struct {
		size_t n;
		const char *noun;
	} c[] = {{kconf, "public key"}, {hconf, "harvested key"},
		 {pconf, "profile"}, {rconf, "sending profile table"}};
	char what[200];
	size_t i, o = 0, left = kconf + hconf + pconf + rconf, kinds = 0;

	what[0] = '\0';
	for (i = 0; i < 4; i++)
		kinds += c[i].n > 0;
	for (i = 0; i < 4 && o < sizeof(what); i++) {
		if (c[i].n == 0)
			continue;
		o += (size_t)snprintf(what + o, sizeof(what) - o, "%s%zu %s%s",
				      o == 0	   ? ""
				      : --kinds > 1 ? ", "
						    : " and ",
				      c[i].n, c[i].noun, c[i].n == 1 ? "" : "s");
	}
	return gw_err_set(GW_ERR_EXISTS,
			  "%s %s already stored with different content; "
			  "nothing was imported (--replace overwrites %s)",
			  what, left == 1 ? "is" : "are",
			  left == 1 ? "it" : "them");
}

/* 1 when the import holds a profile named name. */
static int
file_has_profile(void *arg, const char *name)
{
	const struct policy_file_import *imp = arg;
	size_t i;

	for (i = 0; i < imp->npr; i++)
		if (strcmp(imp->pr[i].p.name, name) == 0)
			return 1;
	return 0;
}

int
policy_file_apply(struct gw_txn *txn, struct policy_file_import *imp,
		  int replace, time_t now)
{
	size_t pconf = 0, hconf = 0, rconf = 0, kconf;
	int rc;

	if (now == 0)
		now = time(NULL);
	/* The identities first: the profiles are checked against them. */
	if ((imp->bk != NULL &&
	     (rc = policy_backup_apply_identities(txn, imp->bk)) != 0) ||
	    (rc = policy_file_validate(txn, imp, now)) != 0 ||
	    (imp->routes != NULL &&
	     (rc = policy_route_validate(txn, imp->routes, imp->src,
					 file_has_profile, imp)) != 0) ||
	    (rc = classify_profiles(txn, imp, &pconf)) != 0 ||
	    (imp->bk != NULL &&
	     (rc = policy_backup_classify(txn, imp->bk, &hconf)) != 0) ||
	    (imp->routes != NULL &&
	     (rc = policy_route_classify(txn, imp->routes, &rconf)) != 0))
		return rc;
	if (imp->keys != NULL) {
		rc = keystore_import_apply(txn, imp->keys, replace, now);
		if (rc == GW_ERR_EXISTS)
			gw_err_clear(); /* reported with the profiles below */
		else if (rc != 0)
			return rc;
	}
	kconf = key_conflicts(imp);
	if (!replace && kconf + hconf + pconf + rconf > 0)
		return conflict_error(kconf, hconf, pconf, rconf);
	if ((rc = write_cas(txn, imp, now)) != 0 ||
	    (imp->bk != NULL &&
	     (rc = policy_backup_apply_rest(txn, imp->bk, replace)) != 0))
		return rc;
	/* The table last: its entries name profiles, the file's too. */
	if ((rc = write_profiles(txn, imp, now)) != 0 ||
	    imp->routes == NULL)
		return rc;
	return policy_route_apply(txn, imp->routes, replace);
}

/* ---- outcomes ----------------------------------------------------------- */

size_t
policy_file_import_count(const struct policy_file_import *imp)
{
	return (imp->keys ? keystore_import_count(imp->keys) : 0) + imp->nca +
	       imp->npr + policy_backup_count(imp->bk) +
	       (imp->routes != NULL && imp->routes->t.n > 0);
}

int
policy_file_import_item(const struct policy_file_import *imp, size_t i,
			struct policy_file_item *item)
{
	size_t nk = imp->keys ? keystore_import_count(imp->keys) : 0;

	memset(item, 0, sizeof(*item));
	item->subject = "";
	item->warning = "";
	if (i < nk) {
		item->kind = POLICY_FILE_PUBKEY;
		item->name = keystore_import_name(imp->keys, i);
		item->line = keystore_import_line(imp->keys, i);
		item->outcome =
		    from_keystore(keystore_import_outcome(imp->keys, i));
		return 0;
	}
	i -= nk;
	if (i < imp->nca) {
		item->kind = POLICY_FILE_CA;
		item->name = imp->ca[i].id;
		item->subject = imp->ca[i].subject;
		item->line = imp->ca[i].line;
		item->outcome = imp->ca[i].outcome;
		return 0;
	}
	i -= imp->nca;
	if (i < imp->npr) {
		item->kind = POLICY_FILE_PROFILE;
		item->name = imp->pr[i].p.name;
		item->line = imp->pr[i].line;
		item->outcome = imp->pr[i].outcome;
		item->warning = imp->pr[i].warning;
		return 0;
	}
	i -= imp->npr;
	if (i < policy_backup_count(imp->bk))
		return policy_backup_item(imp->bk, i, item);
	i -= policy_backup_count(imp->bk);
	if (i == 0 && imp->routes != NULL && imp->routes->t.n > 0) {
		item->kind = POLICY_FILE_ROUTES;
		item->name = imp->routes_name;
		item->line = imp->routes->first;
		item->outcome = imp->routes->outcome;
		return 0;
	}
	return gw_err_set(GW_ERR_INVALID, "no import item %zu", i);
}

const char *
policy_file_kind_name(enum policy_file_kind kind)
{
	switch (kind) {
	case POLICY_FILE_PUBKEY:
		return "pubkey";
	case POLICY_FILE_CA:
		return "ca";
	case POLICY_FILE_PROFILE:
		return "profile";
	case POLICY_FILE_IDENTITY:
		return "identity";
	case POLICY_FILE_HARVESTED:
		return "harvested";
	case POLICY_FILE_ALERT:
		return "alert";
	case POLICY_FILE_ROUTES:
		return "routes";
	}
	return "?";
}

const char *
policy_file_outcome_name(enum policy_file_outcome o)
{
	switch (o) {
	case POLICY_FILE_ADDED:
		return "added";
	case POLICY_FILE_DUPLICATE:
		return "duplicate";
	case POLICY_FILE_CONFLICT:
		return "conflict";
	case POLICY_FILE_REPLACED:
		return "replaced";
	case POLICY_FILE_KEPT:
		return "kept";
	case POLICY_FILE_PENDING:
	case POLICY_FILE_OUTCOMES:
		break;
	}
	return "pending";
}

/* ---- the configuration, streamed ---------------------------------------- */

struct cstream {
	struct gw_txn *txn;
	struct textstream *ts;
	const char *src;
	int replace;
	time_t now;
	policy_file_outcome_fn fn;
	void *arg;
	struct policy_file_import *small; /* identities, CAs, alerts,
					   * profiles: parsed whole */
	struct keystore_stream *ks;
	struct strset ids;		  /* harvested IDs so far */
	struct gw_buf buf;
	size_t hconf;
	size_t count[POLICY_FILE_OUTCOMES];
	enum policy_file_kind kind;	  /* for key_outcome() */
};

static int
section_line(const char *line, size_t len)
{
	return len >= 8 && memcmp(line, "smimegw-", 8) == 0;
}

static int
harvested_starts(const char *line, size_t len)
{
	return len >= 3 && memcmp(line, "id:", 3) == 0;
}

static void
emit(struct cstream *c, const struct policy_file_item *it)
{
	c->count[it->outcome]++;
	if (c->fn != NULL)
		c->fn(c->arg, it);
}

static void
key_outcome(void *arg, const char *name, unsigned line,
	    enum keystore_outcome o)
{
	struct policy_file_item it;

	memset(&it, 0, sizeof(it));
	it.kind = POLICY_FILE_PUBKEY;
	it.name = name;
	it.subject = "";
	it.warning = "";
	it.line = line;
	it.outcome = from_keystore(o);
	emit(arg, &it);
}

/* The header line and the comments before the first section. */
static int
stream_preamble(struct cstream *c)
{
	struct textfmt_lines it;
	const char *line;
	char shown[SHOWN];
	unsigned first;
	size_t n;
	int r;

	gw_buf_reset(&c->buf);
	/* The header itself may look like a section ("smimegw-"). */
	if ((r = textstream_take_into(c->ts, &c->buf, &first)) < 0)
		return r;
	if ((r = textstream_chunk(c->ts, &c->buf, SIZE_MAX, NULL,
				  section_line, &first)) < 0)
		return r;
	textfmt_lines_init(&it, (const char *)c->buf.data, c->buf.len, c->src,
			   1, TEXT_FLAGS);
	if ((r = textfmt_check_header(&it, POLICY_CONFIG_HEADER,
				      "a smimegw configuration export",
				      48)) != 0)
		return r;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		escape(shown, sizeof(shown), line, n);
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: unexpected line '%s' (expected a "
				  "section header: %s)",
				  c->src, it.no, shown, known_sections());
	}
	return r;
}

/* A later chunk of a streamed section as a text of its own: the
 * section's header line, numbered as the line before the chunk. */
static int
with_header(struct gw_buf *b, const char *header)
{
	struct gw_buf t;
	int rc;

	gw_buf_init(&t, b->max);
	if ((rc = gw_buf_adds(&t, header)) != 0 ||
	    (rc = gw_buf_adds(&t, "\n")) != 0 ||
	    (rc = gw_buf_add(&t, b->data, b->len)) != 0) {
		gw_buf_free(&t);
		return rc;
	}
	gw_buf_free(b);
	*b = t;
	return 0;
}

/* The section's header line (next in ts) into c->buf, then the rest of
 * its first chunk; *first is the header's line. */
static int
first_chunk(struct cstream *c, size_t want, textstream_line_fn starts,
	    unsigned *first)
{
	unsigned f;
	int r;

	gw_buf_reset(&c->buf);
	if ((r = textstream_take_into(c->ts, &c->buf, first)) <= 0)
		return r < 0 ? r : GW_ERR_INTERNAL;
	r = textstream_chunk(c->ts, &c->buf, want, starts, section_line, &f);
	return r < 0 ? r : 0;
}

/* The public keys, each chunk written while the next is parsed
 * (keystore_pipe_new()), up to the next section. */
static int
stream_pubkeys(struct cstream *c)
{
	struct keystore_pipe *pipe = NULL;
	struct keystore_import *imp;
	int r;

	if ((r = keystore_stream_new(0, c->replace, c->now, &c->ks)) != 0 ||
	    (r = keystore_pipe_new(c->ks, c->ts, c->src, section_line, 1,
				   &pipe)) != 0)
		return r;
	while ((r = keystore_pipe_next(pipe, &imp)) == 0 && imp != NULL)
		if ((r = keystore_stream_apply(c->ks, c->txn, imp, c->src,
					       key_outcome, c)) != 0 ||
		    (r = gw_txn_checkpoint(c->txn)) != 0)
			break;
	keystore_pipe_free(pipe);
	return r;
}

static int
harvested_chunk(struct cstream *c, unsigned first)
{
	struct policy_backup *bk;
	struct policy_file_item it;
	unsigned seen;
	size_t i, n, conf = 0;
	int r;

	if ((bk = policy_backup_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((r = policy_backup_parse(bk, POLICY_BACKUP_HARVESTED,
				     (const char *)c->buf.data, c->buf.len,
				     c->src, first)) != 0)
		goto out;
	n = policy_backup_count(bk);
	for (i = 0; i < n; i++) {
		if ((r = policy_backup_item(bk, i, &it)) != 0)
			goto out;
		if ((r = strset_add(&c->ids, it.name, strlen(it.name), it.line,
				    &seen)) < 0)
			goto out;
		if (r == 1) {
			r = gw_err_set(GW_ERR_PARSE,
				       "%s:%u: harvested key %s already given "
				       "at line %u",
				       c->src, it.line, it.name, seen);
			goto out;
		}
	}
	if ((r = policy_backup_classify(c->txn, bk, &conf)) != 0 ||
	    (r = policy_backup_apply_rest(c->txn, bk, c->replace)) != 0)
		goto out;
	c->hconf += conf;
	for (i = 0; i < n; i++)
		if (policy_backup_item(bk, i, &it) == 0)
			emit(c, &it);
out:
	policy_backup_free(bk);
	return r;
}

static int
stream_harvested(struct cstream *c)
{
	unsigned first;
	int r;

	if ((r = first_chunk(c, TEXTSTREAM_CHUNK, harvested_starts,
			     &first)) != 0)
		return r;
	for (;;) {
		if ((r = harvested_chunk(c, first)) != 0 ||
		    (r = gw_txn_checkpoint(c->txn)) != 0)
			return r;
		gw_buf_reset(&c->buf);
		if ((r = textstream_chunk(c->ts, &c->buf, TEXTSTREAM_CHUNK,
					  harvested_starts, section_line,
					  &first)) <= 0)
			return r;
		if ((r = with_header(&c->buf, POLICY_HARVESTED_HEADER)) != 0)
			return r;
		first--;
	}
}

/* A small section, whole, into c->small. */
static int
stream_small(struct cstream *c, int sec)
{
	struct span sp;
	unsigned first;
	int r;

	if ((r = first_chunk(c, SIZE_MAX, NULL, &first)) != 0)
		return r;
	sp.start = 0;
	sp.end = c->buf.len;
	sp.first = first;
	return parse_section(c->small, sec, (const char *)c->buf.data, &sp,
			     c->now);
}

static int
stream_sections(struct cstream *c)
{
	unsigned seen[SEC_COUNT];
	const char *line;
	size_t n;
	int r, sec = 0;

	memset(seen, 0, sizeof(seen));
	while ((r = textstream_peek(c->ts, &line, &n)) == 1) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		if ((r = section_of(c->src, c->ts->no + 1, line, n, &sec)) != 0)
			return r;
		if (seen[sec] != 0)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: section '%s' given twice "
					  "(first at line %u)",
					  c->src, c->ts->no + 1,
					  sec_headers[sec], seen[sec]);
		seen[sec] = c->ts->no + 1;
		r = sec == SEC_PUBKEYS	   ? stream_pubkeys(c)
		    : sec == SEC_HARVESTED ? stream_harvested(c)
					   : stream_small(c, sec);
		if (r != 0)
			return r;
	}
	return r;
}

/* The small sections' objects, counted and handed on. */
static void
emit_small(struct cstream *c, size_t *kconf, size_t *hconf, size_t *pconf,
	   size_t *rconf)
{
	struct policy_file_item it;
	size_t i, n = policy_file_import_count(c->small);

	for (i = 0; i < n; i++) {
		if (policy_file_import_item(c->small, i, &it) != 0)
			continue;
		if (it.outcome == POLICY_FILE_CONFLICT)
			*(it.kind == POLICY_FILE_PROFILE     ? pconf
			  : it.kind == POLICY_FILE_HARVESTED ? hconf
			  : it.kind == POLICY_FILE_ROUTES    ? rconf
							     : kconf) += 1;
		emit(c, &it);
	}
}

int
policy_file_import_stream(struct gw_txn *txn, struct textstream *ts,
			  const char *src, int replace, time_t now,
			  policy_file_outcome_fn fn, void *arg,
			  size_t counts[POLICY_FILE_OUTCOMES])
{
	struct cstream c;
	size_t kconf = 0, hconf = 0, pconf = 0, rconf = 0, i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.txn = txn;
	c.ts = ts;
	c.src = src;
	c.replace = replace;
	c.now = now ? now : time(NULL);
	c.fn = fn;
	c.arg = arg;
	strset_init(&c.ids);
	/* A chunk, and the header line a later one is given. */
	gw_buf_init(&c.buf, TEXTSTREAM_CHUNK_MAX + TEXTFMT_LINE_MAX + 2);
	if ((rc = import_new(src, &c.small)) != 0)
		goto out;
	c.small->config = 1;
	if ((c.small->bk = policy_backup_new()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if ((rc = stream_preamble(&c)) != 0 ||
	    (rc = stream_sections(&c)) != 0)
		goto out;
	/* Identities, CAs, alerts and profiles, as policy_file_apply()
	 * does them; its conflicts are counted with the streamed ones. */
	rc = policy_file_apply(txn, c.small, replace, c.now);
	if (rc != 0 && rc != GW_ERR_EXISTS)
		goto out;
	gw_err_clear();
	emit_small(&c, &kconf, &hconf, &pconf, &rconf);
	if (c.ks != NULL)
		kconf += keystore_stream_total(c.ks, KEYSTORE_CONFLICT);
	hconf += c.hconf;
	if (!replace && kconf + hconf + pconf + rconf > 0) {
		rc = conflict_error(kconf, hconf, pconf, rconf);
		goto out;
	}
	rc = 0;
	for (i = 0; i < POLICY_FILE_OUTCOMES; i++)
		counts[i] = c.count[i];
out:
	keystore_stream_free(c.ks);
	policy_file_import_free(c.small);
	strset_free(&c.ids);
	gw_buf_free(&c.buf);
	return rc;
}
