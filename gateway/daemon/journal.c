/* journal.c - smimegwd's delivery journal (journal.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "gw_be.h"
#include "gw_err.h"
#include "gw_store.h"
#include "journal.h"
#include "mime_header.h"

#define KEY_LEN (4 + 32)
#define VAL_LEN (1 + 8)
#define DAY_SECONDS 86400

struct journal {
	struct gw_store *st;
};

int
journal_open(const char *data_dir, size_t map_size, struct journal **out)
{
	struct journal *j;
	int rc;

	*out = NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = gw_store_open_ex(data_dir, map_size,
				   GW_STORE_CREATE | GW_STORE_JOURNAL,
				   &j->st)) != 0) {
		free(j);
		return rc;
	}
	*out = j;
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	gw_store_close(j->st);
	free(j);
}

/* ---- the message's identity ---------------------------------------- */

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The value of the first Message-ID field of the header block, its
 * folding and blanks removed, in out (at most JOURNAL_ID_MAX bytes);
 * "" when there is none.
 */
static void
message_id(const unsigned char *msg, size_t len, char *out)
{
	static const char name[] = "message-id";
	size_t hlen = mime_header_block_len(msg, len), i = 0, k, o = 0;

	out[0] = '\0';
	while (i < hlen) {
		size_t eol = i;

		while (eol < hlen && msg[eol] != '\n')
			eol++;
		k = i + sizeof(name) - 1;
		if (k <= eol && strncasecmp((const char *)msg + i, name,
					    sizeof(name) - 1) == 0) {
			while (k < eol && (msg[k] == ' ' || msg[k] == '\t'))
				k++;
			if (k < eol && msg[k] == ':') {
				/* The value: this line and its
				 * continuations. */
				for (k++; k < hlen; k++) {
					if (msg[k] == '\n' &&
					    (k + 1 >= hlen ||
					     (msg[k + 1] != ' ' &&
					      msg[k + 1] != '\t')))
						break;
					if (!is_wsp(msg[k]) &&
					    o < JOURNAL_ID_MAX)
						out[o++] = (char)msg[k];
				}
				out[o] = '\0';
				return;
			}
		}
		i = eol + 1;
	}
}

static int
digest_fail(EVP_MD_CTX *ctx)
{
	EVP_MD_CTX_free(ctx);
	return gw_err_set(GW_ERR_NOMEM, "delivery journal: SHA-256 failed");
}

int
journal_msg_init(struct journal_msg *m, const char *queue_id,
		 const char *sender, const unsigned char *msg, size_t len)
{
	static const char tag[] = "smimegwd journal 1";
	char *mid = NULL;
	const char *ident, *kind;
	unsigned char content[32];
	unsigned int dlen;
	EVP_MD_CTX *ctx;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (queue_id != NULL && *queue_id != '\0') {
		kind = "queue-id";
		ident = queue_id;
	} else {
		if ((mid = malloc(JOURNAL_ID_MAX + 1)) == NULL)
			return GW_ERR_NOMEM;
		message_id(msg, len, mid);
		kind = "message-id";
		ident = mid;
		if (*mid == '\0') {
			free(mid);
			return 0;	/* nothing tells a retry apart */
		}
	}
	if (sender == NULL)
		sender = "";
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		free(mid);
		return GW_ERR_NOMEM;
	}
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, msg, len) ||
	    !EVP_DigestFinal_ex(ctx, content, &dlen) ||
	    !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, tag, sizeof(tag)) ||
	    !EVP_DigestUpdate(ctx, kind, strlen(kind) + 1) ||
	    !EVP_DigestUpdate(ctx, ident, strlen(ident) + 1) ||
	    !EVP_DigestUpdate(ctx, sender, strlen(sender) + 1) ||
	    !EVP_DigestUpdate(ctx, content, sizeof(content)) ||
	    !EVP_DigestFinal_ex(ctx, m->id, &dlen))
		rc = digest_fail(ctx);
	else
		EVP_MD_CTX_free(ctx);
	free(mid);
	if (rc == 0)
		m->usable = 1;
	return rc;
}

/* ---- records -------------------------------------------------------- */

static uint32_t
day_of(time_t now)
{
	return now < 0 ? 0 : (uint32_t)(now / DAY_SECONDS);
}

/* The record key of recipient rcpt of m in bucket day. */
static int
rec_key(const struct journal_msg *m, const char *rcpt, uint32_t day,
	unsigned char key[KEY_LEN])
{
	unsigned int dlen;
	EVP_MD_CTX *ctx;

	gw_be32_put(key, day);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return GW_ERR_NOMEM;
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, m->id, sizeof(m->id)) ||
	    !EVP_DigestUpdate(ctx, rcpt, strlen(rcpt) + 1) ||
	    !EVP_DigestFinal_ex(ctx, key + 4, &dlen))
		return digest_fail(ctx);
	EVP_MD_CTX_free(ctx);
	return 0;
}

static void
rec_val(unsigned char val[VAL_LEN], char state, time_t now)
{
	uint64_t t = now < 0 ? 0 : (uint64_t)now;
	int i;

	val[0] = (unsigned char)state;
	for (i = 0; i < 8; i++)
		val[1 + i] = (unsigned char)(t >> (56 - 8 * i));
}

/* The expired keys at the start of the journal, at most
 * JOURNAL_PURGE_MAX. */
struct purge {
	uint32_t first_kept;	/* the oldest day still kept */
	unsigned char keys[JOURNAL_PURGE_MAX][KEY_LEN];
	size_t n;
};

static int
purge_one(void *arg, const void *key, size_t klen, const void *val,
	  size_t vlen)
{
	struct purge *p = arg;

	(void)val;
	(void)vlen;
	if (klen == KEY_LEN && gw_be32_get(key) >= p->first_kept)
		return 1;	/* in key order: the rest is kept too */
	if (klen != KEY_LEN)	/* not ours: cannot be ordered by day */
		return 0;
	memcpy(p->keys[p->n++], key, KEY_LEN);
	return p->n == JOURNAL_PURGE_MAX ? 1 : 0;
}

static int
purge(struct gw_txn *t, uint32_t today)
{
	struct purge *p;
	size_t i;
	int rc;

	if (today <= JOURNAL_RETENTION_DAYS)
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return GW_ERR_NOMEM;
	p->first_kept = today - JOURNAL_RETENTION_DAYS;
	rc = gw_txn_foreach(t, GW_DB_JOURNAL, purge_one, p);
	for (i = 0; rc == 0 && i < p->n; i++)
		rc = gw_txn_del(t, GW_DB_JOURNAL, p->keys[i], KEY_LEN);
	free(p);
	return rc;
}

/* 1 when a 'D' record of rcpt is in a bucket within the retention. */
static int
delivered(struct gw_txn *t, const struct journal_msg *m, const char *rcpt,
	  uint32_t today, int *yes)
{
	unsigned char key[KEY_LEN];
	const void *val;
	size_t vlen;
	uint32_t d;
	int rc;

	*yes = 0;
	for (d = 0; d <= JOURNAL_RETENTION_DAYS && d <= today; d++) {
		if ((rc = rec_key(m, rcpt, today - d, key)) != 0)
			return rc;
		rc = gw_txn_get(t, GW_DB_JOURNAL, key, KEY_LEN, &val, &vlen);
		if (rc == GW_ERR_NOT_FOUND)
			continue;
		if (rc != 0)
			return rc;
		if (vlen >= 1 && *(const unsigned char *)val == 'D') {
			*yes = 1;
			return 0;
		}
	}
	return 0;
}

static int
fail(struct gw_txn *t, int rc)
{
	gw_txn_abort(t);
	if (gw_err_detail()[0] == '\0')
		gw_err_set(rc, "delivery journal: %s", gw_strerror(rc));
	return rc;
}

int
journal_begin(struct journal *j, struct journal_msg *m,
	      const char *const *rcpts, size_t n, time_t now,
	      unsigned char *seen)
{
	unsigned char key[KEY_LEN], val[VAL_LEN];
	uint32_t today = day_of(now);
	struct gw_txn *t;
	size_t i;
	int rc, yes;

	memset(seen, 0, n);
	if (!m->usable)
		return 0;
	m->day = today;
	/* Not synced: a pending record lost with the machine is harmless,
	 * and journal_done()'s synced commit writes it out too. */
	if ((rc = gw_txn_begin(j->st, GW_TXN_WRITE_NOSYNC, &t)) != 0)
		return rc;
	if ((rc = purge(t, today)) != 0)
		return fail(t, rc);
	rec_val(val, 'P', now);
	for (i = 0; i < n; i++) {
		if ((rc = delivered(t, m, rcpts[i], today, &yes)) != 0)
			return fail(t, rc);
		if (yes) {
			seen[i] = 1;
			continue;
		}
		if ((rc = rec_key(m, rcpts[i], today, key)) != 0 ||
		    (rc = gw_txn_put(t, GW_DB_JOURNAL, key, KEY_LEN, val,
				     VAL_LEN, 0)) != 0)
			return fail(t, rc);
	}
	return gw_txn_commit(t);
}

int
journal_done(struct journal *j, const struct journal_msg *m,
	     const char *const *rcpts, size_t n, time_t now)
{
	unsigned char key[KEY_LEN], val[VAL_LEN];
	struct gw_txn *t;
	size_t i;
	int rc;

	if (!m->usable || n == 0)
		return 0;
	if ((rc = gw_txn_begin(j->st, GW_TXN_WRITE, &t)) != 0)
		return rc;
	rec_val(val, 'D', now);
	for (i = 0; i < n; i++)
		if ((rc = rec_key(m, rcpts[i], m->day, key)) != 0 ||
		    (rc = gw_txn_put(t, GW_DB_JOURNAL, key, KEY_LEN, val,
				     VAL_LEN, 0)) != 0)
			return fail(t, rc);
	return gw_txn_commit(t);
}

int
journal_count(struct journal *j, size_t *n)
{
	struct gw_txn *t;
	int rc;

	*n = 0;
	if ((rc = gw_txn_begin(j->st, GW_TXN_READ, &t)) != 0)
		return rc;
	rc = gw_txn_count(t, GW_DB_JOURNAL, n);
	gw_txn_abort(t);
	return rc;
}
