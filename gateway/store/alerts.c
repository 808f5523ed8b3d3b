/* alerts.c - operator alerts: store records and the syslog line. */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "gw_err.h"
#include "gw_record.h"

enum {
	TAG_VERSION = 1,
	TAG_TIME = 2,
	TAG_SEVERITY = 3,
	TAG_KIND = 4,
	TAG_TEXT = 5,
	TAG_DOMAIN = 6,
	TAG_MESSAGE_ID = 7,
};

#define ALERTS_VERSION 1
#define KEY_LEN 12 /* 8 bytes of time, 4 of sequence */

static alerts_sink_fn sink;

/* Printable ASCII kept, any other byte '?', cut to max bytes. */
static char *
clean_dup(const char *s, size_t max)
{
	size_t i, n;
	char *d;

	n = strnlen(s, max);
	if ((d = malloc(n + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		d[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	d[n] = '\0';
	return d;
}

static void
key_make(unsigned char key[KEY_LEN], uint64_t t, uint32_t seq)
{
	int i;

	gw_rec_be64_put(key, t);
	for (i = 0; i < 4; i++)
		key[8 + i] = (unsigned char)(seq >> (24 - 8 * i));
}

static int
encode(const struct alert *a, struct gw_rec_writer *w)
{
	char *s[5] = {NULL};
	int i, rc = 0;

	if ((s[0] = clean_dup(a->severity ? a->severity : "warning", 32)) ==
		NULL ||
	    (s[1] = clean_dup(a->kind, 64)) == NULL ||
	    (s[2] = clean_dup(a->text, ALERTS_TEXT_MAX)) == NULL ||
	    (s[3] = clean_dup(a->domain ? a->domain : "", ALERTS_FIELD_MAX)) ==
		NULL ||
	    (s[4] = clean_dup(a->message_id ? a->message_id : "",
			      ALERTS_FIELD_MAX)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	rc |= gw_rec_put_u64(w, TAG_VERSION, ALERTS_VERSION);
	rc |= gw_rec_put_u64(w, TAG_TIME, a->time);
	rc |= gw_rec_put_str(w, TAG_SEVERITY, s[0]);
	rc |= gw_rec_put_str(w, TAG_KIND, s[1]);
	rc |= gw_rec_put_str(w, TAG_TEXT, s[2]);
	if (s[3][0] != '\0')
		rc |= gw_rec_put_str(w, TAG_DOMAIN, s[3]);
	if (s[4][0] != '\0')
		rc |= gw_rec_put_str(w, TAG_MESSAGE_ID, s[4]);
	if (rc != 0)
		rc = gw_err_set(GW_ERR_NOMEM, "encoding an alert record");
out:
	for (i = 0; i < 5; i++)
		free(s[i]);
	return rc;
}

/* Keys to delete, collected first: no writes inside a cursor walk. */
struct clear_ctx {
	uint64_t before;	/* 0: any time */
	size_t limit;		/* 0: no limit */
	unsigned char (*keys)[KEY_LEN];
	size_t n, cap;
};

static int
clear_one(void *arg, const void *key, size_t klen, const void *val,
	  size_t vlen)
{
	struct clear_ctx *c = arg;
	void *nk;
	size_t ncap;

	if (klen != KEY_LEN)
		return gw_err_set(GW_ERR_STORE, "corrupt alert key");
	if ((c->before != 0 && gw_rec_be64(key) >= c->before) ||
	    (c->limit != 0 && c->n == c->limit))
		return 1; /* sorted by time: the rest is newer */
	if (c->n == c->cap) {
		ncap = c->cap ? c->cap * 2 : 64;
		if ((nk = realloc(c->keys, ncap * KEY_LEN)) == NULL)
			return GW_ERR_NOMEM;
		c->keys = nk;
		c->cap = ncap;
	}
	memcpy(c->keys[c->n++], key, KEY_LEN);
	return 0;
}

/* Deletes the oldest alerts: those older than before (0: any), at most
 * limit of them (0: no limit); *n (may be NULL) gets how many. */
static int
drop_oldest(struct gw_txn *txn, uint64_t before, size_t limit, size_t *n)
{
	struct clear_ctx c;
	size_t i;
	int rc;

	if (n != NULL)
		*n = 0;
	memset(&c, 0, sizeof(c));
	c.before = before;
	c.limit = limit;
	if ((rc = gw_txn_foreach(txn, GW_DB_ALERTS, clear_one, &c)) != 0)
		goto out;
	for (i = 0; i < c.n; i++)
		if ((rc = gw_txn_del(txn, GW_DB_ALERTS, c.keys[i], KEY_LEN)) !=
		    0)
			goto out;
	if (n != NULL)
		*n = c.n;
out:
	free(c.keys);
	return rc;
}

/* Drops the oldest alerts beyond ALERTS_KEEP_MAX. */
static int
prune(struct gw_txn *txn)
{
	size_t n;
	int rc;

	if ((rc = gw_txn_count(txn, GW_DB_ALERTS, &n)) != 0 ||
	    n <= ALERTS_KEEP_MAX)
		return rc;
	return drop_oldest(txn, 0, n - ALERTS_KEEP_MAX, NULL);
}

int
alerts_add(struct gw_txn *txn, const struct alert *a)
{
	struct gw_rec_writer *w = NULL;
	unsigned char key[KEY_LEN];
	const unsigned char *buf;
	size_t len;
	uint32_t seq;
	int rc;

	if (a->kind == NULL || a->kind[0] == '\0' || a->text == NULL ||
	    a->text[0] == '\0')
		return gw_err_set(GW_ERR_INVALID,
				  "alert: kind and text are required");
	if ((w = gw_rec_writer_new()) == NULL)
		return GW_ERR_NOMEM;
	if ((rc = encode(a, w)) != 0)
		goto out;
	buf = gw_rec_data(w, &len);
	/* The first free sequence number of that second. */
	for (seq = 0; seq < ALERTS_SAME_SECOND_MAX; seq++) {
		key_make(key, a->time, seq);
		rc = gw_txn_put(txn, GW_DB_ALERTS, key, KEY_LEN, buf, len,
				GW_PUT_NOOVERWRITE);
		if (rc == 0)
			rc = prune(txn);
		if (rc != GW_ERR_EXISTS)
			goto out;
	}
	rc = gw_err_set(GW_ERR_LIMIT,
			"alert: more than %d alerts in one second",
			ALERTS_SAME_SECOND_MAX);
out:
	gw_rec_writer_free(w);
	return rc;
}

/* Decoded strings of one record; they point into owned copies. */
struct decoded {
	struct alert a;
	char *s[5];
};

static void
decoded_free(struct decoded *d)
{
	int i;

	for (i = 0; i < 5; i++)
		free(d->s[i]);
}

static int
decode(const unsigned char *buf, size_t len, struct decoded *d)
{
	struct gw_rec_field f;
	size_t off = 0;
	int r, slot;

	memset(d, 0, sizeof(*d));
	while ((r = gw_rec_next(buf, len, &off, &f)) == 1) {
		switch (f.tag) {
		case TAG_TIME:
			d->a.time = gw_rec_u64(&f);
			continue;
		case TAG_SEVERITY: slot = 0; break;
		case TAG_KIND: slot = 1; break;
		case TAG_TEXT: slot = 2; break;
		case TAG_DOMAIN: slot = 3; break;
		case TAG_MESSAGE_ID: slot = 4; break;
		default:
			continue;
		}
		free(d->s[slot]);
		if ((d->s[slot] = gw_rec_strdup(&f)) == NULL)
			return GW_ERR_NOMEM;
	}
	if (r < 0)
		return r;
	if (d->s[1] == NULL || d->s[2] == NULL)
		return gw_err_set(GW_ERR_STORE, "incomplete alert record");
	d->a.severity = d->s[0] ? d->s[0] : "warning";
	d->a.kind = d->s[1];
	d->a.text = d->s[2];
	d->a.domain = d->s[3];
	d->a.message_id = d->s[4];
	return 0;
}

struct foreach_ctx {
	uint64_t since;
	alerts_fn fn;
	void *arg;
};

static int
foreach_one(void *arg, const void *key, size_t klen, const void *val,
	    size_t vlen)
{
	struct foreach_ctx *c = arg;
	struct decoded d;
	int rc;

	if (klen != KEY_LEN)
		return gw_err_set(GW_ERR_STORE, "corrupt alert key");
	if (gw_rec_be64(key) < c->since)
		return 0;
	if ((rc = decode(val, vlen, &d)) == 0)
		rc = c->fn(c->arg, &d.a);
	decoded_free(&d);
	return rc;
}

int
alerts_foreach(struct gw_txn *txn, uint64_t since, alerts_fn fn, void *arg)
{
	struct foreach_ctx c = {since, fn, arg};

	return gw_txn_foreach(txn, GW_DB_ALERTS, foreach_one, &c);
}

int
alerts_clear(struct gw_txn *txn, uint64_t before, size_t *n)
{
	return drop_oldest(txn, before, 0, n);
}

void
alerts_set_sink(alerts_sink_fn fn)
{
	sink = fn;
}

void
alerts_log(const char *kind, const char *text)
{
	char line[ALERTS_TEXT_MAX + 128];
	size_t i;

	snprintf(line, sizeof(line), "alert %s: %s", kind, text);
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	if (sink != NULL) {
		sink(LOG_MAIL | LOG_WARNING, line);
		return;
	}
	openlog("smimegw", LOG_PID, LOG_MAIL);
	syslog(LOG_MAIL | LOG_WARNING, "%s", line);
}
