/*
 * policy_backup.c - the identity, harvested key and alert sections of
 * the configuration export (policy_backup.h).
 *
 * Layout: the section table; export of each kind; the entry parser
 * shared by the three kinds (attributes, then PEM certificates); the
 * builders that turn an entry into a record; apply; outcomes.
 */
#include "policy_backup.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "alerts.h"
#include "cert_check.h"
#include "cert_info.h"
#include "fpid.h"
#include "gw_err.h"
#include "harvest.h"
#include "identity.h"
#include "textfmt.h"

#define SHOWN 64	 /* bytes of input quoted in errors */
#define MAX_ATTRS 12	 /* attributes of one kind */
#define MAX_CHAIN 16	 /* chain certificates of one identity */
#define TEXT_FLAGS TEXTFMT_UTF8

/* ---- the section table ---------------------------------------------------- */

struct kind_spec {
	const char *header;
	const char *noun;		 /* "identity" */
	const char *const *attrs;	 /* attrs[0] begins an entry */
	unsigned required;		 /* bit i: attrs[i] is required */
	int min_certs, max_certs;
	enum policy_file_kind item_kind;
	unsigned text_flags;		 /* TEXTFMT_CERT_LEAN: read in bulk,
					  * the key only through
					  * cert_pubkey() */
};

/*
 * An identity's certificates follow its attributes: its certificate,
 * its chain, then the certificates its key had before (cert install),
 * oldest first; "previous: N" says how many of them are the last N.
 */
enum { I_NAME, I_USAGE, I_KEY_TYPE, I_KEY_URI, I_SOURCE, I_CREATED,
       I_UPDATED, I_PREVIOUS, I_COUNT };
static const char *const id_attrs[] = {
    "name", "usage", "key-type", "key-uri", "source", "created", "updated",
    "previous", NULL,
};

enum { H_ID, H_ADDRESS, H_FIRST_SEEN, H_LAST_SEEN, H_LAST_USED,
       H_SEEN_COUNT, H_MESSAGE_ID, H_SENDER, H_VERIFICATION, H_REPLACES,
       H_UPDATED, H_COUNT };
static const char *const hv_attrs[] = {
    "id", "address", "first-seen", "last-seen", "last-used", "seen-count",
    "message-id", "sender", "verification", "replaces", "updated", NULL,
};

enum { L_TIME, L_SEVERITY, L_KIND, L_DOMAIN, L_MESSAGE_ID, L_TEXT, L_COUNT };
static const char *const al_attrs[] = {
    "time", "severity", "kind", "domain", "message-id", "text", NULL,
};

#define BIT(i) (1u << (i))

static const struct kind_spec kinds[POLICY_BACKUP_KINDS] = {
    {POLICY_IDENTITIES_HEADER, "identity", id_attrs,
     BIT(I_NAME) | BIT(I_USAGE) | BIT(I_KEY_URI), 1,
     1 + MAX_CHAIN + IDENTITY_PREVIOUS_MAX,
     POLICY_FILE_IDENTITY, 0},
    {POLICY_HARVESTED_HEADER, "harvested key", hv_attrs,
     BIT(H_ID) | BIT(H_ADDRESS) | BIT(H_FIRST_SEEN) | BIT(H_LAST_SEEN) |
	 BIT(H_VERIFICATION),
     1, 1, POLICY_FILE_HARVESTED, TEXTFMT_CERT_LEAN},
    {POLICY_ALERTS_HEADER, "alert", al_attrs,
     BIT(L_TIME) | BIT(L_KIND) | BIT(L_TEXT), 0, 0, POLICY_FILE_ALERT, 0},
};

const char *
policy_backup_header(enum policy_backup_kind kind)
{
	return kinds[kind].header;
}

/* ---- export ---------------------------------------------------------------- */

static int
export_identity(void *arg, const struct identity *id)
{
	struct gw_buf *out = arg;
	char subj[1024], esc[1024], fp[96], t1[TEXTFMT_TIME_LEN],
	    t2[TEXTFMT_TIME_LEN];
	int i, rc, nprev = id->previous ? sk_X509_num(id->previous) : 0;

	cert_info_name(X509_get_subject_name(id->cert), subj, sizeof(subj));
	textfmt_escape(esc, sizeof(esc), subj, strlen(subj), TEXT_FLAGS);
	if ((rc = gw_buf_addf(out,
			      "\n# subject: %s\n# sha256: %s\nname: %s\n"
			      "usage: %s\n",
			      esc, cert_info_fingerprint(id->cert, fp),
			      id->name, cert_usage_name(id->usage))) != 0 ||
	    (id->key_type && *id->key_type &&
	     (rc = gw_buf_addf(out, "key-type: %s\n", id->key_type)) != 0) ||
	    (rc = gw_buf_addf(out, "key-uri: %s\n", id->key_uri)) != 0 ||
	    (id->source && *id->source &&
	     (rc = gw_buf_addf(out, "source: %s\n", id->source)) != 0) ||
	    (rc = gw_buf_addf(out, "created: %s\nupdated: %s\n",
			      textfmt_time(id->created, t1),
			      textfmt_time(id->updated, t2))) != 0 ||
	    (nprev > 0 &&
	     (rc = gw_buf_addf(out, "previous: %d\n", nprev)) != 0) ||
	    (rc = textfmt_add_cert_pem(out, id->cert,
				       "cannot write the certificate of "
				       "identity '%s'",
				       id->name)) != 0)
		return rc;
	for (i = 0; id->chain && i < sk_X509_num(id->chain); i++)
		if ((rc = textfmt_add_cert_pem(out, sk_X509_value(id->chain, i),
					       "cannot write the chain of "
					       "identity '%s'",
					       id->name)) != 0)
			return rc;
	for (i = 0; i < nprev; i++)
		if ((rc = textfmt_add_cert_pem(
			 out, sk_X509_value(id->previous, i),
			 "cannot write a previous certificate of identity '%s'",
			 id->name)) != 0)
			return rc;
	return 0;
}

static int
export_harvested(void *arg, const struct harvested_key *k)
{
	struct gw_buf *out = arg;
	char subj[1024], esc[1024], t1[TEXTFMT_TIME_LEN], t2[TEXTFMT_TIME_LEN],
	    t3[TEXTFMT_TIME_LEN];
	int rc;

	cert_info_name(X509_get_subject_name(k->cert), subj, sizeof(subj));
	textfmt_escape(esc, sizeof(esc), subj, strlen(subj), TEXT_FLAGS);
	if ((rc = gw_buf_addf(out,
			      "\n# subject: %s\nid: %s\naddress: %s\n"
			      "first-seen: %s\nlast-seen: %s\nlast-used: %s\n"
			      "seen-count: %llu\n",
			      esc, k->id, k->address,
			      textfmt_time(k->first_seen, t1),
			      textfmt_time(k->last_seen, t2),
			      textfmt_time(k->last_used, t3),
			      (unsigned long long)k->seen_count)) != 0 ||
	    (*k->message_id &&
	     (rc = gw_buf_addf(out, "message-id: %s\n", k->message_id)) != 0) ||
	    (*k->sender &&
	     (rc = gw_buf_addf(out, "sender: %s\n", k->sender)) != 0) ||
	    (rc = gw_buf_addf(out, "verification: %s\n", k->verification)) !=
		0 ||
	    (k->replaces &&
	     (rc = gw_buf_addf(out, "replaces: %s\n", k->replaces)) != 0) ||
	    (rc = gw_buf_addf(out, "updated: %s\n",
			      k->updated ? "yes" : "no")) != 0)
		return rc;
	return textfmt_add_cert_pem(out, k->cert,
				    "cannot write harvested key %.16s", k->id);
}

static int
export_alert(void *arg, const struct alert *a)
{
	struct gw_buf *out = arg;
	char t[TEXTFMT_TIME_LEN];
	int rc;

	if ((rc = gw_buf_addf(out, "\ntime: %s\nseverity: %s\nkind: %s\n",
			      textfmt_time(a->time, t),
			      a->severity ? a->severity : "warning",
			      a->kind)) != 0 ||
	    (a->domain && *a->domain &&
	     (rc = gw_buf_addf(out, "domain: %s\n", a->domain)) != 0) ||
	    (a->message_id && *a->message_id &&
	     (rc = gw_buf_addf(out, "message-id: %s\n", a->message_id)) !=
		 0))
		return rc;
	return gw_buf_addf(out, "text: %s\n", a->text);
}

static const char *const comments[POLICY_BACKUP_KINDS] = {
    "# The store records of the gateway's identities. Their private keys\n"
    "# stay on the token and are not in this file: the records work on a\n"
    "# gateway that uses the same token.\n",
    "# Keys harvested from signed mail, with their provenance.\n",
    "# Operator alerts, oldest first.\n",
};

int
policy_backup_export(struct gw_txn *txn, enum policy_backup_kind kind,
		     struct gw_buf *out)
{
	int rc;

	if ((rc = gw_buf_addf(out, "\n%s\n%s", kinds[kind].header,
			      comments[kind])) != 0)
		return rc;
	switch (kind) {
	case POLICY_BACKUP_IDENTITIES:
		return identity_foreach(txn, export_identity, out);
	case POLICY_BACKUP_HARVESTED:
		return harvested_foreach(txn, export_harvested, out);
	case POLICY_BACKUP_ALERTS:
		return alerts_foreach(txn, 0, export_alert, out);
	case POLICY_BACKUP_KINDS:
		break;
	}
	return gw_err_set(GW_ERR_INTERNAL, "section %d", (int)kind);
}

/* ---- entries ---------------------------------------------------------------- */

struct entry {
	enum policy_backup_kind kind;
	unsigned line;			/* of the attribute that began it */
	unsigned at[MAX_ATTRS];		/* line of each attribute, 0: absent */
	char *val[MAX_ATTRS];
	STACK_OF(X509) *certs;
	enum policy_file_outcome outcome;
	char name[TEXTFMT_TIME_LEN + 64];
	const char *subject;		/* into val[] or "" */
	struct identity id;		/* the record built (by kind) */
	struct harvested_key hk;
	struct alert al;
};

struct policy_backup {
	struct entry *e;
	size_t n, cap;
};

struct policy_backup *
policy_backup_new(void)
{
	return calloc(1, sizeof(struct policy_backup));
}

static void
entry_free(struct entry *e)
{
	int i;

	for (i = 0; i < MAX_ATTRS; i++)
		free(e->val[i]);
	sk_X509_pop_free(e->certs, X509_free);
	sk_X509_free(e->id.chain); /* its certificates are in certs */
	sk_X509_free(e->id.previous);
}

void
policy_backup_free(struct policy_backup *bk)
{
	size_t i;

	if (bk == NULL)
		return;
	for (i = 0; i < bk->n; i++)
		entry_free(&bk->e[i]);
	free(bk->e);
	free(bk);
}

static int
entry_new(struct policy_backup *bk, enum policy_backup_kind kind,
	  const char *src, unsigned no, struct entry **out)
{
	struct entry *ne;
	size_t ncap;

	if (bk->n >= POLICY_FILE_MAX_ENTRIES)
		return gw_err_set(GW_ERR_LIMIT, "%s:%u: more than %d entries",
				  src, no, POLICY_FILE_MAX_ENTRIES);
	if (bk->n == bk->cap) {
		ncap = bk->cap ? bk->cap * 2 : 16;
		if ((ne = realloc(bk->e, ncap * sizeof(*ne))) == NULL)
			return GW_ERR_NOMEM;
		bk->e = ne;
		bk->cap = ncap;
	}
	ne = &bk->e[bk->n];
	memset(ne, 0, sizeof(*ne));
	if ((ne->certs = sk_X509_new_null()) == NULL)
		return GW_ERR_NOMEM;
	bk->n++;
	ne->kind = kind;
	ne->line = no;
	ne->outcome = POLICY_FILE_PENDING;
	ne->subject = "";
	*out = ne;
	return 0;
}

static int
set_val(struct entry *e, int a, const char *src, unsigned no,
	const char *key, const char *v, size_t n)
{
	if (e->at[a] != 0)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: %s given twice (first at line %u)",
				  src, no, key, e->at[a]);
	if (n == 0)
		return gw_err_set(GW_ERR_PARSE, "%s:%u: %s: empty value", src,
				  no, key);
	if ((e->val[a] = malloc(n + 1)) == NULL)
		return GW_ERR_NOMEM;
	memcpy(e->val[a], v, n);
	e->val[a][n] = '\0';
	e->at[a] = no;
	return 0;
}

/* The entry is complete: its required attributes and certificates. */
static int
entry_done(const struct entry *e, const char *src)
{
	const struct kind_spec *k = &kinds[e->kind];
	int a, nc = sk_X509_num(e->certs);

	for (a = 0; k->attrs[a] != NULL; a++)
		if ((k->required & BIT(a)) && e->at[a] == 0)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: %s '%s' has no '%s:' line",
					  src, e->line, k->noun, e->val[0],
					  k->attrs[a]);
	if (nc < k->min_certs)
		return gw_err_set(GW_ERR_PARSE,
				  "%s:%u: %s '%s' has no certificate", src,
				  e->line, k->noun, e->val[0]);
	return 0;
}

static int
attr_index(const struct kind_spec *k, const char *key)
{
	int a;

	for (a = 0; k->attrs[a] != NULL; a++)
		if (strcmp(k->attrs[a], key) == 0)
			return a;
	return -1;
}

static int build(struct entry *e, const char *src);

/* An identity name or harvested key ID used twice in its section (from
 * entry start on) is an error at the second; alerts may repeat. */
static int
unique(const struct policy_backup *bk, size_t start, const char *src)
{
	const char *name;
	unsigned line, first;
	int r;

	if (start == bk->n || bk->e[start].kind == POLICY_BACKUP_ALERTS)
		return 0;
	if ((r = textfmt_repeat(bk->e + start, bk->n - start,
				sizeof(*bk->e), offsetof(struct entry, name),
				offsetof(struct entry, line), &name, &line,
				&first)) <= 0)
		return r;
	return gw_err_set(GW_ERR_PARSE, "%s:%u: %s '%s' already given at line %u",
			  src, line, kinds[bk->e[start].kind].noun, name,
			  first);
}

int
policy_backup_parse(struct policy_backup *bk, enum policy_backup_kind kind,
		    const char *buf, size_t len, const char *src,
		    unsigned first)
{
	const struct kind_spec *k = &kinds[kind];
	struct textfmt_lines it;
	struct entry *cur = NULL;
	const char *line, *v;
	char key[32], shown[SHOWN];
	size_t n, vn, start = bk->n, i;
	X509 *x = NULL;
	int r, a;

	textfmt_lines_init(&it, buf, len, src, first,
			   TEXT_FLAGS | k->text_flags);
	if ((r = textfmt_check_header(&it, k->header, "a smimegw section",
				      48)) != 0)
		return r;
	while ((r = textfmt_next_line(&it, &line, &n)) == 1) {
		if (textfmt_is_comment(line, n))
			continue;
		textfmt_escape(shown, sizeof(shown), line, n, TEXT_FLAGS);
		if (textfmt_line_is(line, n, "-----BEGIN CERTIFICATE-----")) {
			if (cur == NULL || sk_X509_num(cur->certs) >=
					       k->max_certs)
				return gw_err_set(
				    GW_ERR_PARSE,
				    "%s:%u: %s (each %s is its attribute "
				    "lines, then %s)",
				    src, it.no,
				    cur == NULL ? "a certificate before the "
						  "first entry"
						: "one certificate too many",
				    k->noun,
				    k->max_certs == 1 ? "one certificate"
				    : k->max_certs > 1
					? "its certificate and chain"
					: "no certificate");
			if ((r = textfmt_read_cert(&it, cur->val[0], &x)) != 0)
				return r;
			if (!sk_X509_push(cur->certs, x)) {
				X509_free(x);
				return GW_ERR_NOMEM;
			}
			continue;
		}
		if (!textfmt_attr_split(line, n, key, sizeof(key), &v, &vn))
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unexpected line '%s' "
					  "(expected 'attribute: value', a "
					  "PEM certificate, a comment or a "
					  "blank line)",
					  src, it.no, shown);
		if ((a = attr_index(k, key)) < 0)
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: unknown attribute '%s' for "
					  "%s entries",
					  src, it.no, key, k->noun);
		if (a == 0) {
			if (cur != NULL && (r = entry_done(cur, src)) != 0)
				return r;
			if ((r = entry_new(bk, kind, src, it.no, &cur)) != 0)
				return r;
		} else if (cur == NULL) {
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: '%s:' before the first "
					  "'%s:' line",
					  src, it.no, key, k->attrs[0]);
		} else if (sk_X509_num(cur->certs) > 0) {
			return gw_err_set(GW_ERR_PARSE,
					  "%s:%u: '%s:' after the certificate "
					  "(attributes come first)",
					  src, it.no, key);
		}
		if ((r = set_val(cur, a, src, it.no, key, v, vn)) != 0)
			return r;
	}
	if (r < 0)
		return r;
	if (cur != NULL && (r = entry_done(cur, src)) != 0)
		return r;
	for (i = start; i < bk->n; i++)
		if ((r = build(&bk->e[i], src)) != 0)
			return r;
	return unique(bk, start, src);
}

/* ---- builders ------------------------------------------------------------- */

static int
bad(const struct entry *e, int a, const char *src, const char *why)
{
	char shown[SHOWN];

	textfmt_escape(shown, sizeof(shown), e->val[a], strlen(e->val[a]),
		       TEXT_FLAGS);
	return gw_err_set(GW_ERR_PARSE, "%s:%u: %s: '%s' %s", src, e->at[a],
			  kinds[e->kind].attrs[a], shown, why);
}

static int
time_of(const struct entry *e, int a, const char *src, uint64_t *out)
{
	*out = 0;
	if (e->at[a] == 0)
		return 0;
	return textfmt_time_parse(src, e->at[a], kinds[e->kind].attrs[a],
				  e->val[a], strlen(e->val[a]), out);
}

/* 64 lower-case hex digits. */
static int
is_id(const char *s)
{
	return strlen(s) == HARVEST_ID_LEN &&
	       strspn(s, "0123456789abcdef") == HARVEST_ID_LEN;
}

static int
build_identity(struct entry *e, const char *src)
{
	struct identity *id = &e->id;
	const char *v = e->val[I_PREVIOUS];
	char *end;
	long nprev = 0;
	int i, rc, nchain;

	if (!identity_name_valid(e->val[I_NAME]))
		return bad(e, I_NAME, src, "is not a valid identity name");
	if (cert_usage_parse(e->val[I_USAGE], &id->usage) != 0) {
		gw_err_clear();
		return bad(e, I_USAGE, src, "is not sign, encrypt or both");
	}
	if (strncmp(e->val[I_KEY_URI], "pkcs11:", 7) != 0)
		return bad(e, I_KEY_URI, src, "is not a PKCS#11 URI");
	if ((rc = time_of(e, I_CREATED, src, &id->created)) != 0 ||
	    (rc = time_of(e, I_UPDATED, src, &id->updated)) != 0)
		return rc;
	id->name = e->val[I_NAME];
	id->key_uri = e->val[I_KEY_URI];
	id->key_type = e->val[I_KEY_TYPE] ? e->val[I_KEY_TYPE] : "";
	id->source = e->val[I_SOURCE] ? e->val[I_SOURCE] : "";
	if (v != NULL) {
		errno = 0;
		nprev = strtol(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 ||
		    nprev < 1 || nprev > IDENTITY_PREVIOUS_MAX ||
		    nprev >= sk_X509_num(e->certs))
			return bad(e, I_PREVIOUS, src,
				   "is not the number of previous certificates "
				   "that follow the certificate (1-64)");
	}
	nchain = sk_X509_num(e->certs) - 1 - (int)nprev;
	if (nchain > MAX_CHAIN)
		return bad(e, I_NAME, src, "has more than 16 chain certificates");
	id->cert = sk_X509_value(e->certs, 0);
	if ((id->chain = sk_X509_new_null()) == NULL ||
	    (nprev > 0 && (id->previous = sk_X509_new_null()) == NULL))
		return GW_ERR_NOMEM;
	for (i = 1; i < sk_X509_num(e->certs); i++)
		if (!sk_X509_push(i <= nchain ? id->chain : id->previous,
				  sk_X509_value(e->certs, i)))
			return GW_ERR_NOMEM;
	snprintf(e->name, sizeof(e->name), "%s", id->name);
	return 0;
}

static int
build_harvested(struct entry *e, const char *src)
{
	struct harvested_key *k = &e->hk;
	char fp[HARVEST_ID_LEN + 1];
	const char *v;
	char *end;
	int rc;

	if (!is_id(e->val[H_ID]))
		return bad(e, H_ID, src, "is not 64 lower-case hex digits");
	if ((rc = fpid_of(sk_X509_value(e->certs, 0), fp)) != 0)
		return rc;
	if (strcmp(fp, e->val[H_ID]) != 0)
		return bad(e, H_ID, src,
			   "is not the SHA-256 fingerprint of the certificate");
	if (strchr(e->val[H_ADDRESS], '@') == NULL)
		return bad(e, H_ADDRESS, src, "is not an address");
	v = e->val[H_VERIFICATION];
	if (strcmp(v, "pass") != 0 && strcmp(v, "fail") != 0 &&
	    strcmp(v, "?") != 0)
		return bad(e, H_VERIFICATION, src, "is not pass or fail");
	if (e->at[H_REPLACES] && !is_id(e->val[H_REPLACES]))
		return bad(e, H_REPLACES, src,
			   "is not 64 lower-case hex digits");
	if ((rc = time_of(e, H_FIRST_SEEN, src, &k->first_seen)) != 0 ||
	    (rc = time_of(e, H_LAST_SEEN, src, &k->last_seen)) != 0 ||
	    (rc = time_of(e, H_LAST_USED, src, &k->last_used)) != 0)
		return rc;
	if (e->at[H_SEEN_COUNT]) {
		v = e->val[H_SEEN_COUNT];
		k->seen_count = strtoull(v, &end, 10);
		if (*v < '0' || *v > '9' || *end != '\0' || strlen(v) > 19)
			return bad(e, H_SEEN_COUNT, src, "is not a number");
	}
	if (e->at[H_UPDATED] &&
	    (rc = textfmt_yesno(src, e->at[H_UPDATED], "updated",
				e->val[H_UPDATED], strlen(e->val[H_UPDATED]),
				&k->updated)) != 0)
		return rc;
	memcpy(k->id, e->val[H_ID], HARVEST_ID_LEN + 1);
	k->cert = sk_X509_value(e->certs, 0);
	k->address = e->val[H_ADDRESS];
	k->message_id = e->val[H_MESSAGE_ID] ? e->val[H_MESSAGE_ID] : "";
	k->sender = e->val[H_SENDER] ? e->val[H_SENDER] : "";
	k->verification = e->val[H_VERIFICATION];
	k->replaces = e->val[H_REPLACES];
	memcpy(e->name, k->id, HARVEST_ID_LEN + 1);
	e->subject = k->address;
	return 0;
}

static int
build_alert(struct entry *e, const char *src)
{
	struct alert *a = &e->al;
	int rc;

	if ((rc = time_of(e, L_TIME, src, &a->time)) != 0)
		return rc;
	if (e->at[L_SEVERITY] && strcmp(e->val[L_SEVERITY], "warning") != 0)
		return bad(e, L_SEVERITY, src, "is not warning");
	a->severity = "warning";
	a->kind = e->val[L_KIND];
	a->text = e->val[L_TEXT];
	a->domain = e->val[L_DOMAIN];
	a->message_id = e->val[L_MESSAGE_ID];
	snprintf(e->name, sizeof(e->name), "%s", e->val[L_TIME]);
	e->subject = a->kind;
	return 0;
}

static int
build(struct entry *e, const char *src)
{
	switch (e->kind) {
	case POLICY_BACKUP_IDENTITIES:
		return build_identity(e, src);
	case POLICY_BACKUP_HARVESTED:
		return build_harvested(e, src);
	case POLICY_BACKUP_ALERTS:
		return build_alert(e, src);
	case POLICY_BACKUP_KINDS:
		break;
	}
	return gw_err_set(GW_ERR_INTERNAL, "section %d", (int)e->kind);
}

/* ---- apply ------------------------------------------------------------------ */

static int
same_chain(STACK_OF(X509) *a, STACK_OF(X509) *b)
{
	int i, na = a ? sk_X509_num(a) : 0, nb = b ? sk_X509_num(b) : 0;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (X509_cmp(sk_X509_value(a, i), sk_X509_value(b, i)) != 0)
			return 0;
	return 1;
}

int
policy_backup_apply_identities(struct gw_txn *txn, struct policy_backup *bk)
{
	struct identity *old = NULL;
	struct entry *e;
	size_t i;
	int rc;

	for (i = 0; i < bk->n; i++) {
		e = &bk->e[i];
		if (e->kind != POLICY_BACKUP_IDENTITIES)
			continue;
		rc = identity_get(txn, e->id.name, &old);
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear();
			if ((rc = identity_put(txn, &e->id,
					       GW_PUT_NOOVERWRITE)) != 0)
				return rc;
			e->outcome = POLICY_FILE_ADDED;
			continue;
		}
		if (rc != 0)
			return rc;
		e->outcome = X509_cmp(old->cert, e->id.cert) == 0 &&
				     strcmp(old->key_uri, e->id.key_uri) == 0 &&
				     same_chain(old->chain, e->id.chain) &&
				     same_chain(old->previous, e->id.previous)
				 ? POLICY_FILE_DUPLICATE
				 : POLICY_FILE_KEPT;
		identity_free(old);
		old = NULL;
	}
	return 0;
}

static int
streq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int
same_harvested(const struct harvested_key *a, const struct harvested_key *b)
{
	return X509_cmp(a->cert, b->cert) == 0 && streq(a->address, b->address) &&
	       streq(a->message_id, b->message_id) &&
	       streq(a->sender, b->sender) &&
	       streq(a->verification, b->verification) &&
	       streq(a->replaces, b->replaces) &&
	       a->first_seen == b->first_seen && a->last_seen == b->last_seen &&
	       a->last_used == b->last_used &&
	       a->seen_count == b->seen_count && !a->updated == !b->updated;
}

int
policy_backup_classify(struct gw_txn *txn, struct policy_backup *bk,
		       size_t *conflicts)
{
	struct harvested_key *old = NULL;
	struct entry *e;
	size_t i;
	int rc;

	*conflicts = 0;
	for (i = 0; i < bk->n; i++) {
		e = &bk->e[i];
		if (e->kind != POLICY_BACKUP_HARVESTED)
			continue;
		rc = harvested_get(txn, e->hk.id, &old);
		if (rc == GW_ERR_NOT_FOUND) {
			gw_err_clear();
			e->outcome = POLICY_FILE_ADDED;
			continue;
		}
		if (rc != 0)
			return rc;
		if (same_harvested(old, &e->hk)) {
			e->outcome = POLICY_FILE_DUPLICATE;
		} else {
			e->outcome = POLICY_FILE_CONFLICT;
			(*conflicts)++;
		}
		harvested_key_free(old);
		old = NULL;
	}
	return 0;
}

/* The stored alerts, to find duplicates: oldest first. */
struct stored_alerts {
	struct alert *a;
	size_t n, cap;
	int rc;
};

static char *
dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int
collect_alert(void *arg, const struct alert *a)
{
	struct stored_alerts *s = arg;
	struct alert *na, *d;
	size_t ncap;

	if (s->n == s->cap) {
		ncap = s->cap ? s->cap * 2 : 64;
		if ((na = realloc(s->a, ncap * sizeof(*na))) == NULL)
			return GW_ERR_NOMEM;
		s->a = na;
		s->cap = ncap;
	}
	d = &s->a[s->n];
	memset(d, 0, sizeof(*d));
	d->time = a->time;
	if ((d->kind = dup_or_empty(a->kind)) == NULL ||
	    (d->text = dup_or_empty(a->text)) == NULL ||
	    (d->domain = dup_or_empty(a->domain)) == NULL ||
	    (d->message_id = dup_or_empty(a->message_id)) == NULL) {
		free((char *)d->kind);
		free((char *)d->text);
		free((char *)d->domain);
		return GW_ERR_NOMEM;
	}
	s->n++;
	return 0;
}

static void
stored_free(struct stored_alerts *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		free((char *)s->a[i].kind);
		free((char *)s->a[i].text);
		free((char *)s->a[i].domain);
		free((char *)s->a[i].message_id);
	}
	free(s->a);
}

/* Whether a is stored: a binary search for its time (the stored alerts
 * are oldest first), then the alerts of that second. */
static int
alert_stored(const struct stored_alerts *s, const struct alert *a)
{
	size_t lo = 0, hi = s->n, mid, i;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->a[mid].time < a->time)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < s->n && s->a[i].time == a->time; i++)
		if (streq(s->a[i].kind, a->kind) &&
		    streq(s->a[i].text, a->text) &&
		    streq(s->a[i].domain, a->domain) &&
		    streq(s->a[i].message_id, a->message_id))
			return 1;
	return 0;
}

int
policy_backup_apply_rest(struct gw_txn *txn, struct policy_backup *bk,
			 int replace)
{
	struct stored_alerts s;
	struct entry *e;
	size_t i;
	int rc = 0;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < bk->n && rc == 0; i++) {
		e = &bk->e[i];
		if (e->kind != POLICY_BACKUP_HARVESTED ||
		    (e->outcome != POLICY_FILE_ADDED &&
		     !(replace && e->outcome == POLICY_FILE_CONFLICT)))
			continue;
		if ((rc = harvested_put(txn, &e->hk)) == 0 &&
		    e->outcome == POLICY_FILE_CONFLICT)
			e->outcome = POLICY_FILE_REPLACED;
	}
	if (rc == 0)
		rc = alerts_foreach(txn, 0, collect_alert, &s);
	for (i = 0; i < bk->n && rc == 0; i++) {
		e = &bk->e[i];
		if (e->kind != POLICY_BACKUP_ALERTS)
			continue;
		if (alert_stored(&s, &e->al)) {
			e->outcome = POLICY_FILE_DUPLICATE;
			continue;
		}
		if ((rc = alerts_add(txn, &e->al)) == 0)
			e->outcome = POLICY_FILE_ADDED;
	}
	stored_free(&s);
	return rc;
}

/* ---- outcomes ----------------------------------------------------------------- */

size_t
policy_backup_count(const struct policy_backup *bk)
{
	return bk ? bk->n : 0;
}

int
policy_backup_item(const struct policy_backup *bk, size_t i,
		   struct policy_file_item *item)
{
	const struct entry *e;

	memset(item, 0, sizeof(*item));
	item->subject = "";
	item->warning = "";
	if (bk == NULL || i >= bk->n)
		return GW_ERR_INVALID;
	e = &bk->e[i];
	item->kind = kinds[e->kind].item_kind;
	item->name = e->name;
	item->subject = e->subject;
	item->line = e->line;
	item->outcome = e->outcome;
	if (e->outcome == POLICY_FILE_KEPT)
		item->warning = "this gateway has a different identity of that "
				"name: kept, not replaced";
	return 0;
}
