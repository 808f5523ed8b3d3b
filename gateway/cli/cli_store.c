/*
 * cli_store.c - "smimegw store check": is the store whole?
 *
 * Two passes.  The first reads data.mdb page by page without LMDB
 * (gw_store_verify()), so that a truncated or damaged file is reported,
 * never mapped; it stops at the first problem, which names the database
 * and the page or key.  Only a sound file goes to the second pass: every
 * record of every database through the decoder that the commands use,
 * reporting the first record each database refuses, by key.  When all
 * decode, a third: the address indexes and the key records agree
 * (addr_index_check(): every record indexed, no entry without its
 * record).
 *
 * Exit status: 0 sound, 65 (EX_DATAERR) missing, empty or damaged,
 * 1 the check could not run (configuration, permissions, I/O), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "addr_index.h"
#include "alerts.h"
#include "castore.h"
#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "identity.h"
#include "keystore.h"
#include "profile.h"
#include "route.h"

static const char store_usage_text[] =
    "usage: smimegw store COMMAND\n"
    "  check   read every page and every record of the store and check "
    "that\n"
    "          its indexes agree with the records; exit 0 when sound, 65 "
    "when\n"
    "          missing, empty or damaged\n";

static const struct option store_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd store_cmds[] = {
    {"check", 0, 0, "", NULL},
};

static const struct cli_spec store_spec = {
    "store", store_usage_text, ":h", store_opts, store_cmds,
    sizeof(store_cmds) / sizeof(store_cmds[0]), NULL,
};

/* The record count of each database, from the page walk, into the
 * buffer arg (printed once the open has undone any unfinished
 * import). */
static void
count_one(void *arg, const char *db, unsigned long long records)
{
	size_t i;

	for (i = 0; gw_store_db_name(i) != NULL; i++)
		if (strcmp(gw_store_db_name(i), db) == 0)
			break;
	(void)gw_buf_addf(arg, "%-12s %llu record%s%s\n", db, records,
			  records == 1 ? "" : "s",
			  gw_store_db_name(i) == NULL
			      ? " (not a database of this version: left "
				"alone)"
			      : "");
}

/* Every decoder's callback: the record decoded, go on. */
static int
id_ok(void *arg, const struct identity *x)
{
	(void)arg;
	(void)x;
	return 0;
}

static int
key_ok(void *arg, const struct keystore_key *x)
{
	(void)arg;
	(void)x;
	return 0;
}

static int
ca_ok(void *arg, const struct castore_ca *x)
{
	(void)arg;
	(void)x;
	return 0;
}

static int
harvested_ok(void *arg, const struct harvested_key *x)
{
	(void)arg;
	(void)x;
	return 0;
}

static int
profile_ok(void *arg, const struct profile *x)
{
	(void)arg;
	(void)x;
	return 0;
}

static int
alert_ok(void *arg, const struct alert *x)
{
	(void)arg;
	(void)x;
	return 0;
}

/* A key for the report: printable ASCII, other bytes as \xNN. */
static const char *
key_text(char *buf, size_t size, const unsigned char *k, size_t n)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 8 < size && o < 64; i++) {
		if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\')
			buf[o++] = (char)k[i];
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x",
					      k[i]);
	}
	if (i < n && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* The sending profile table decodes. */
static int
routes_ok(struct gw_txn *txn)
{
	struct route_table t;
	int rc;

	if ((rc = route_table_get(txn, &t)) == 0)
		route_table_free(&t);
	return rc;
}

/* One database through its decoder; 1 when it refused a record (and
 * said which), 0 when all decoded, < 0 when the check itself failed. */
static int
decode_db(struct gw_txn *txn, const char *db)
{
	char detail[1200], key[128];
	const char *fdb;
	const void *k;
	size_t klen;
	uint64_t total;
	int rc;

	gw_err_clear();
	if (strcmp(db, GW_DB_IDENTITIES) == 0)
		rc = identity_foreach(txn, id_ok, NULL);
	else if (strcmp(db, GW_DB_PUBKEYS) == 0)
		rc = keystore_foreach(txn, key_ok, NULL);
	else if (strcmp(db, GW_DB_CAS) == 0)
		rc = castore_foreach(txn, ca_ok, NULL);
	else if (strcmp(db, GW_DB_HARVESTED) == 0)
		rc = harvested_foreach(txn, harvested_ok, NULL);
	else if (strcmp(db, GW_DB_PROFILES) == 0)
		rc = profile_foreach(txn, profile_ok, NULL);
	else if (strcmp(db, GW_DB_ALERTS) == 0)
		rc = alerts_foreach(txn, 0, alert_ok, NULL);
	else if (strcmp(db, GW_DB_META) == 0)
		rc = harvested_bytes(txn, &total);
	else if (strcmp(db, GW_DB_ROUTES) == 0)
		rc = routes_ok(txn);
	else
		return 0; /* no decoder: the page walk has read it */
	if (rc == 0)
		return 0;
	if (rc == GW_ERR_NOMEM || rc == GW_ERR_STORE_BUSY)
		return rc;
	snprintf(detail, sizeof(detail), "%s", gw_err_detail());
	if (gw_txn_failed_key(txn, &fdb, &k, &klen) == 0)
		fprintf(stderr,
			"smimegw store check: database '%s', key '%s': %s: "
			"%s\n",
			fdb, key_text(key, sizeof(key), k, klen),
			gw_strerror(rc), detail);
	else
		fprintf(stderr, "smimegw store check: database '%s': %s: %s\n",
			db, gw_strerror(rc), detail);
	return 1;
}

int
cli_store_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_args a;
	struct gw_config *cfg;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct gw_buf counts;
	const char *db;
	size_t i, running = 0;
	int rc, ex, bad = 0;

	if ((ex = cli_args_parse(&store_spec, argc, argv, NULL, &a)) != 0)
		return ex;
	if ((rc = cli_config(ctx, &cfg)) != 0)
		return cli_fail(a.what, rc);
	/* Pass 1: the file, page by page, without mapping it. */
	gw_buf_init(&counts, (size_t)1 << 20);
	if ((rc = gw_store_verify(cfg->data_dir, count_one, &counts)) != 0) {
		if (counts.len > 0)
			fwrite(counts.data, 1, counts.len, stdout);
		gw_buf_free(&counts);
		cli_fail(a.what, rc);
		return rc == GW_ERR_STORE ? EX_DATAERR : CLI_EXIT_FAIL;
	}
	/* Pass 2: every record through its decoder.  An open undoes an
	 * import that died half way: then the counts are taken again. */
	if ((rc = gw_store_open_ex(cfg->data_dir, (size_t)cfg->store_map_size,
				   0, &st)) == 0 && gw_store_undone(st) > 0) {
		/* (LMDB: one open of a file per process at a time.) */
		gw_store_close(st);
		st = NULL;
		gw_buf_reset(&counts);
		if ((rc = gw_store_verify(cfg->data_dir, count_one,
					  &counts)) == 0)
			rc = gw_store_open_ex(cfg->data_dir,
					      (size_t)cfg->store_map_size, 0,
					      &st);
	}
	if (counts.len > 0)
		fwrite(counts.data, 1, counts.len, stdout);
	gw_buf_free(&counts);
	if (rc != 0 || (rc = gw_txn_begin(st, GW_TXN_READ, &txn)) != 0) {
		ex = cli_fail(a.what, rc);
		goto out;
	}
	for (i = 0; (db = gw_store_db_name(i)) != NULL; i++) {
		if ((rc = decode_db(txn, db)) < 0) {
			ex = cli_fail(a.what, rc);
			goto out;
		}
		bad += rc;
	}
	/* Pass 3: the indexes against the records, unless an import runs:
	 * its batches so far are in, their index keys come at its end. */
	if (bad == 0 && (rc = gw_txn_count(txn, GW_DB_UNDO, &running)) == 0 &&
	    running > 0) {
		ex = cli_fail(a.what,
			      gw_err_set(GW_ERR_STORE_BUSY,
					 "an import is running (its undo "
					 "journal holds %zu record%s); the "
					 "indexes are checked once it ends",
					 running, running == 1 ? "" : "s"));
		goto out;
	}
	if (bad == 0) {
		gw_err_clear();
		if ((rc = addr_index_check(txn)) != 0) {
			if (rc != GW_ERR_STORE) {
				ex = cli_fail(a.what, rc);
				goto out;
			}
			fprintf(stderr,
				"smimegw store check: indexes: %s; restore the "
				"store from a backup, or export and import its "
				"keys into a new one (see smimegw(1), store "
				"check)\n",
				gw_err_detail());
			ex = EX_DATAERR;
			goto out;
		}
	}
	if (bad == 0) {
		printf("store %s: sound\n", gw_store_path(st));
		ex = CLI_EXIT_OK;
	} else {
		fprintf(stderr,
			"smimegw store check: %d database%s with records that "
			"do not decode; restore the store from a backup (see "
			"smimegw(1), store check)\n",
			bad, bad == 1 ? "" : "s");
		ex = EX_DATAERR;
	}
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
