/*
 * cli_config.c - "smimegw config ...": the configuration file (check,
 * show) and the policy objects of the store as one text file (export,
 * import).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "castore.h"
#include "certmgr.h"
#include "cli.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "identity.h"
#include "keystore.h"
#include "policy_file.h"
#include "policy_route.h"
#include "profile.h"
#include "textstream.h"

static const char config_usage_text[] =
    "usage: smimegw config COMMAND ...\n"
    "  check                  validate the configuration file and report "
    "FILE:LINE\n"
    "                         errors\n"
    "  show                   print every key with its effective value\n"
    "  export FILE            everything in the store in one text "
    "file ('-': stdout):\n"
    "                         identities' records, public keys, trusted "
    "CAs,\n"
    "                         harvested keys, alerts, sending profiles "
    "and their\n"
    "                         table (not the private keys: they stay on "
    "the token)\n"
    "  import FILE [--replace]\n"
    "                         all or nothing; conflicts refuse the "
    "import unless\n"
    "                         --replace\n";

enum {
	OPT_REPLACE = 256,
};

static const struct option config_opts[] = {
    {"replace", no_argument, NULL, OPT_REPLACE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd config_cmds[] = {
    {"check", 0, 0, "", NULL},
    {"show", 0, 0, "", NULL},
    {"export", 1, 1, "FILE", NULL},
    {"import", 1, 1, "FILE", CLI_OPTS(OPT_REPLACE)},
};

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	if (c == OPT_REPLACE)
		*(int *)arg = 1;
	return 0;
}

static const struct cli_spec config_spec = {
    "config", config_usage_text, ":h", config_opts, config_cmds,
    sizeof(config_cmds) / sizeof(config_cmds[0]), take_opt,
};

/* ---- import, shared with "profile import" ------------------------------- */

/* The line that names a conflicting object, after lead ("" or a spool
 * tag); fprintf()'s result. */
static int
conflict_line(FILE *fp, const char *lead, const struct policy_file_item *it,
	      const char *what)
{
	if (it->kind == POLICY_FILE_ROUTES)
		return fprintf(fp,
			       "%ssmimegw %s: conflict: routes (%s, line %u): "
			       "a different sending profile table is stored\n",
			       lead, what, it->name, it->line);
	return fprintf(fp,
		       "%ssmimegw %s: conflict: %s '%s' (line %u): a "
		       "different %s is stored under this %s\n",
		       lead, what, policy_file_kind_name(it->kind), it->name,
		       it->line,
		       it->kind == POLICY_FILE_PUBKEY	   ? "certificate"
		       : it->kind == POLICY_FILE_HARVESTED ? "provenance"
							   : "profile",
		       it->kind == POLICY_FILE_HARVESTED ? "ID" : "name");
}

static void
report_conflicts(const struct policy_file_import *imp, const char *what)
{
	struct policy_file_item it;
	size_t i, n = policy_file_import_count(imp);

	for (i = 0; i < n; i++)
		if (policy_file_import_item(imp, i, &it) == 0 &&
		    it.outcome == POLICY_FILE_CONFLICT)
			(void)conflict_line(stderr, "", &it, what);
}

/* An object's outcome line on out, and its warning on err. */
static void
report_item(const struct policy_file_item *it, const char *what, FILE *out,
	    FILE *err)
{
	if (it->warning[0] != '\0')
		fprintf(err, "smimegw %s: warning: %s '%s': %s\n", what,
			policy_file_kind_name(it->kind), it->name, it->warning);
	if (it->kind == POLICY_FILE_CA || it->kind == POLICY_FILE_HARVESTED)
		fprintf(out, "%-10s %-8s %.16s %s (line %u)%s\n",
			policy_file_outcome_name(it->outcome),
			policy_file_kind_name(it->kind), it->name, it->subject,
			it->line,
			it->outcome != POLICY_FILE_DUPLICATE ? ""
			: it->kind == POLICY_FILE_CA
			    ? ": already trusted, skipped"
			    : ": identical, skipped");
	else
		fprintf(out, "%-10s %-8s %s (line %u)%s\n",
			policy_file_outcome_name(it->outcome),
			policy_file_kind_name(it->kind), it->name, it->line,
			it->outcome == POLICY_FILE_DUPLICATE
			    ? ": identical, skipped"
			    : "");
}

static void
report_summary(const size_t cnt[POLICY_FILE_OUTCOMES])
{
	size_t i, n = 0;

	for (i = 0; i < POLICY_FILE_OUTCOMES; i++)
		n += cnt[i];
	printf("imported %zu object%s: %zu added, %zu replaced, %zu "
	       "duplicate%s skipped",
	       n, n == 1 ? "" : "s", cnt[POLICY_FILE_ADDED],
	       cnt[POLICY_FILE_REPLACED], cnt[POLICY_FILE_DUPLICATE],
	       cnt[POLICY_FILE_DUPLICATE] == 1 ? "" : "s");
	if (cnt[POLICY_FILE_KEPT] > 0)
		printf(", %zu identit%s of this gateway kept",
		       cnt[POLICY_FILE_KEPT],
		       cnt[POLICY_FILE_KEPT] == 1 ? "y" : "ies");
	printf("\n");
}

/* Each object's outcome on stdout, and its warning on stderr. */
static void
report_outcomes(const struct policy_file_import *imp, const char *what)
{
	struct policy_file_item it;
	size_t i, n = policy_file_import_count(imp);
	size_t cnt[POLICY_FILE_OUTCOMES] = {0};

	for (i = 0; i < n; i++) {
		if (policy_file_import_item(imp, i, &it) != 0)
			continue;
		cnt[it.outcome]++;
		report_item(&it, what, stdout, stderr);
	}
	report_summary(cnt);
}

/* The names of the identities the import added, into ids. */
static int
added_identities(const struct policy_file_import *imp, struct gw_buf *ids)
{
	struct policy_file_item it;
	size_t i, n = policy_file_import_count(imp);
	int rc;

	for (i = 0; i < n; i++)
		if (policy_file_import_item(imp, i, &it) == 0 &&
		    it.kind == POLICY_FILE_IDENTITY &&
		    it.outcome == POLICY_FILE_ADDED &&
		    (rc = gw_buf_add(ids, it.name, strlen(it.name) + 1)) != 0)
			return rc;
	return 0;
}

/*
 * The configuration, streamed (policy_file_import_stream()): bounded
 * memory whatever the file's size, one write transaction.  The lines
 * that report each object wait in temporary files until the commit
 * (spool: 'O' stdout, 'E' a conflict; warn: the warnings); when the store's map runs
 * out, the map grows and the import runs again from the start.
 */
struct config_run {
	struct gw_store *st;
	unsigned long n;
	const char *what, *src;
	int replace;
	FILE *in, *spool, *warn;
	struct gw_buf *ids;
	size_t cnt[POLICY_FILE_OUTCOMES];
	int failed;
};

static void
config_outcome(void *arg, const struct policy_file_item *it)
{
	struct config_run *r = arg;

	/* The pages read so far need not stay resident. */
	if (++r->n % 1024 == 0)
		gw_store_trim(r->st);
	if (it->outcome == POLICY_FILE_CONFLICT) {
		if (conflict_line(r->spool, "E", it, r->what) < 0)
			r->failed = 1;
		return;
	}
	if (fputc('O', r->spool) == EOF)
		r->failed = 1;
	report_item(it, r->what, r->spool, r->warn);
	if (r->ids != NULL && it->kind == POLICY_FILE_IDENTITY &&
	    it->outcome == POLICY_FILE_ADDED &&
	    gw_buf_add(r->ids, it->name, strlen(it->name) + 1) != 0) {
		gw_err_clear(); /* only the key check after is lost */
	}
}

/* The spooled lines of kind to fp (kind 0: every line, as written). */
static void
config_replay(FILE *spool, int kind, FILE *fp)
{
	char line[2048];
	int at_start = 1, on = 0;

	if (fflush(spool) != 0 || fseek(spool, 0, SEEK_SET) != 0)
		return;
	while (fgets(line, sizeof(line), spool) != NULL) {
		/* A line longer than the buffer goes on in the next read. */
		if (at_start)
			on = kind == 0 || line[0] == kind;
		if (on)
			fputs(at_start && kind != 0 ? line + 1 : line, fp);
		at_start = strchr(line, '\n') != NULL;
	}
}

static void
config_reset(struct config_run *r)
{
	if (r->spool != NULL)
		fclose(r->spool);
	if (r->warn != NULL)
		fclose(r->warn);
	r->spool = r->warn = NULL;
	r->failed = 0;
	memset(r->cnt, 0, sizeof(r->cnt));
	if (r->ids != NULL)
		gw_buf_reset(r->ids);
}

static int
config_once(struct gw_store *st, struct config_run *r)
{
	struct textstream ts;
	struct gw_txn *txn = NULL;
	int rc;

	textstream_init(&ts, r->in, r->src);
	if ((r->spool = tmpfile()) == NULL || (r->warn = tmpfile()) == NULL)
		return gw_err_set(GW_ERR_IO, "a temporary file: %s",
				  strerror(errno));
	if ((rc = gw_txn_begin_batched(st, &txn)) != 0)
		return rc;
	rc = policy_file_import_stream(txn, &ts, r->src, r->replace,
				       time(NULL), config_outcome, r, r->cnt);
	if (rc == 0 && r->failed)
		rc = gw_err_set(GW_ERR_IO, "cannot write a temporary file");
	if (rc == GW_ERR_EXISTS)
		config_replay(r->spool, 'E', stderr);
	if (rc == 0)
		rc = cli_txn_commit(&txn);
	gw_txn_abort(txn);
	return rc;
}

static int
config_import(struct gw_store *st, const char *path, int replace,
	      const char *what, struct gw_buf *added_ids)
{
	struct config_run r;
	unsigned long long size = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.st = st;
	r.what = what;
	r.src = strcmp(path, "-") == 0 ? "stdin" : path;
	r.replace = replace;
	r.ids = added_ids;
	if ((rc = cli_input_open(path, &r.in, &size)) != 0)
		return rc;
	if ((rc = gw_store_reserve(st, (size_t)size * 2)) != 0)
		goto out;
	while ((rc = config_once(st, &r)) == GW_ERR_STORE_FULL) {
		gw_err_clear();
		config_reset(&r);
		if ((rc = gw_store_grow(st)) != 0 ||
		    fseek(r.in, 0, SEEK_SET) != 0) {
			rc = rc ? rc : gw_err_set(GW_ERR_IO, "%s: %s", r.src,
						 strerror(errno));
			goto out;
		}
	}
	if (rc == 0) {
		config_replay(r.spool, 'O', stdout);
		config_replay(r.warn, 0, stderr);
		report_summary(r.cnt);
	}
out:
	r.ids = NULL; /* the caller's: the names added are its to read */
	config_reset(&r);
	fclose(r.in);
	return rc;
}

int
cli_policy_import(struct gw_store *st, const char *path, int config,
		  int replace, const char *what, struct gw_buf *added_ids)
{
	struct policy_file_import *imp = NULL;
	struct gw_txn *txn = NULL;
	struct gw_buf in;
	const char *src = strcmp(path, "-") == 0 ? "stdin" : path;
	time_t now = time(NULL);
	int rc;

	if (config)
		return config_import(st, path, replace, what, added_ids);
	if ((rc = cli_file_read(path, POLICY_FILE_MAX, &in)) != 0)
		goto out;
	rc = config ? policy_file_parse_config((const char *)in.data, in.len,
					       src, now, &imp)
		    : policy_file_parse_profiles((const char *)in.data, in.len,
						 src, &imp);
	if (rc != 0 || (rc = gw_txn_begin(st, GW_TXN_WRITE, &txn)) != 0)
		goto out;
	if ((rc = policy_file_apply(txn, imp, replace, now)) != 0) {
		if (rc == GW_ERR_EXISTS)
			report_conflicts(imp, what);
		goto out;
	}
	if ((rc = cli_txn_commit(&txn)) == 0) {
		report_outcomes(imp, what);
		if (added_ids != NULL && added_identities(imp, added_ids) != 0)
			gw_err_clear(); /* only the key check below is lost */
	}
out:
	gw_txn_abort(txn);
	policy_file_import_free(imp);
	gw_buf_free(&in);
	return rc;
}

/* ---- export ------------------------------------------------------------- */

static int
cmd_export(struct gw_store *st, const char *path)
{
	struct gw_txn *txn = NULL;
	struct cli_output o;
	struct gw_buf out;
	size_t ni = 0, nk = 0, nc = 0, nh = 0, na = 0, np = 0, nr = 0;
	struct gw_buf scratch;
	int rc, wr;

	gw_buf_init(&out, POLICY_FILE_MAX);
	gw_buf_init(&scratch, POLICY_FILE_MAX);
	if ((rc = cli_output_open(&o, path)) != 0)
		return rc;
	/* Written as it is made: a store of any size. */
	o.st = st;
	gw_buf_set_sink(&out, CLI_OUTPUT_FLUSH, cli_output_sink, &o);
	if ((rc = gw_txn_begin(st, GW_TXN_READ, &txn)) != 0 ||
	    (rc = policy_file_export_config(txn, &out)) != 0 ||
	    (rc = gw_buf_flush(&out)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_IDENTITIES, &ni)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_PUBKEYS, &nk)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_CAS, &nc)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_HARVESTED, &nh)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_ALERTS, &na)) != 0 ||
	    (rc = gw_txn_count(txn, GW_DB_PROFILES, &np)) != 0 ||
	    (rc = policy_route_export(txn, &scratch, &nr)) != 0)
		goto out;
out:
	gw_txn_abort(txn);
	wr = cli_output_close(&o, rc == 0);
	if (rc == 0)
		rc = wr;
	if (rc == 0 && strcmp(path, "-") != 0)
		printf("exported %zu identit%s, %zu public key%s, %zu CA%s, "
		       "%zu harvested key%s, %zu alert%s, %zu sending "
		       "profile%s and %zu table entr%s to %s\n",
		       ni, ni == 1 ? "y" : "ies", nk, nk == 1 ? "" : "s", nc,
		       nc == 1 ? "" : "s", nh, nh == 1 ? "" : "s", na,
		       na == 1 ? "" : "s", np, np == 1 ? "" : "s", nr,
		       nr == 1 ? "y" : "ies", path);
	gw_buf_free(&scratch);
	gw_buf_free(&out);
	return rc;
}

/*
 * The restored identities' keys on the token of this configuration: a
 * record whose key is not there is restored all the same (the key may
 * come later), with a warning; so is one that cannot be checked.  The
 * store must be closed: certmgr opens it for itself.
 */
static void
check_restored_keys(const struct gw_config *cfg, const struct gw_buf *ids,
		    const char *what)
{
	struct certmgr_config cmc = cli_certmgr_config(cfg);
	struct certmgr *cm = NULL;
	struct identity *id = NULL;
	struct p11_key_attrs ka;
	const char *name;
	size_t off;
	int rc;

	for (off = 0; off < ids->len; off += strlen(name) + 1) {
		name = (const char *)ids->data + off;
		if ((cm == NULL && (rc = certmgr_open(&cmc, &cm)) != 0) ||
		    (rc = certmgr_get(cm, name, &id)) != 0 ||
		    (rc = certmgr_key_attrs(cm, id, &ka)) != 0)
			fprintf(stderr,
				"smimegw %s: warning: identity '%s': cannot "
				"check its key on token %s: %s%s%s\n",
				what, name, cfg->token, gw_strerror(rc),
				*gw_err_detail() ? ": " : "", gw_err_detail());
		else if (!ka.present)
			fprintf(stderr,
				"smimegw %s: warning: identity '%s': its "
				"private key (%s) is not on token %s: it "
				"cannot sign or decrypt until it is\n",
				what, name, id->key_uri, cfg->token);
		gw_err_clear();
		identity_free(id);
		id = NULL;
		if (cm != NULL && rc != 0 && rc != GW_ERR_NOT_FOUND)
			break; /* the token itself: the same for the rest */
	}
	certmgr_free(cm);
}

int
cli_config_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_args a;
	struct gw_config *cfg;
	struct gw_store *st = NULL;
	struct gw_buf ids;
	const char *cmd;
	int rc, ex = CLI_EXIT_OK, replace = 0;

	/* check and show take nothing and never did: extra words are
	 * ignored, as before. */
	if (argc > 2 &&
	    (strcmp(argv[1], "check") == 0 || strcmp(argv[1], "show") == 0))
		argc = 2;
	if ((ex = cli_args_parse(&config_spec, argc, argv, &replace, &a)) != 0)
		return ex;
	cmd = a.cmd->name;
	if ((rc = cli_config(ctx, &cfg)) != 0)
		return cli_fail("config", rc);
	if (strcmp(cmd, "show") == 0) {
		gw_config_print(stdout, cfg);
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "check") == 0) {
		if ((rc = gw_config_check_listeners(cfg)) != 0)
			return cli_fail("config", rc);
		printf("%s: OK\n", cfg->path);
		return CLI_EXIT_OK;
	}
	gw_buf_init(&ids, POLICY_FILE_MAX);
	if ((rc = strcmp(cmd, "import") == 0
		      ? cli_store_create(ctx, NULL, &st)
		      : cli_store_open(ctx, NULL, &st)) != 0)
		goto fail;
	if (strcmp(cmd, "export") == 0)
		rc = cmd_export(st, a.pos[0]);
	else
		rc = cli_policy_import(st, a.pos[0], 1, replace, a.what, &ids);
	gw_store_close(st);
	st = NULL;
	if (rc == 0 && ids.len > 0)
		check_restored_keys(cfg, &ids, a.what);
	if (rc == 0)
		goto out;
fail:
	ex = cli_fail(a.what, rc);
out:
	gw_store_close(st);
	gw_buf_free(&ids);
	return ex;
}
