/*
 * cli_config.c - "smimegw config ...": the configuration file (check,
 * show) and the policy objects of the store as one text file (export,
 * import).
 */
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

static void
report_conflicts(const struct policy_file_import *imp, const char *what)
{
	struct policy_file_item it;
	size_t i, n = policy_file_import_count(imp);

	for (i = 0; i < n; i++) {
		if (policy_file_import_item(imp, i, &it) != 0 ||
		    it.outcome != POLICY_FILE_CONFLICT)
			continue;
		if (it.kind == POLICY_FILE_ROUTES) {
			fprintf(stderr,
				"smimegw %s: conflict: routes (%s, line %u): a "
				"different sending profile table is stored\n",
				what, it.name, it.line);
			continue;
		}
		fprintf(stderr,
			"smimegw %s: conflict: %s '%s' (line %u): a different "
			"%s is stored under this %s\n",
			what, policy_file_kind_name(it.kind), it.name, it.line,
			it.kind == POLICY_FILE_PUBKEY	   ? "certificate"
			: it.kind == POLICY_FILE_HARVESTED ? "provenance"
							   : "profile",
			it.kind == POLICY_FILE_HARVESTED ? "ID" : "name");
	}
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
		if (it.warning[0] != '\0')
			fprintf(stderr, "smimegw %s: warning: %s '%s': %s\n",
				what, policy_file_kind_name(it.kind), it.name,
				it.warning);
		if (it.kind == POLICY_FILE_CA ||
		    it.kind == POLICY_FILE_HARVESTED)
			printf("%-10s %-8s %.16s %s (line %u)%s\n",
			       policy_file_outcome_name(it.outcome),
			       policy_file_kind_name(it.kind), it.name,
			       it.subject, it.line,
			       it.outcome != POLICY_FILE_DUPLICATE ? ""
			       : it.kind == POLICY_FILE_CA
				   ? ": already trusted, skipped"
				   : ": identical, skipped");
		else
			printf("%-10s %-8s %s (line %u)%s\n",
			       policy_file_outcome_name(it.outcome),
			       policy_file_kind_name(it.kind), it.name,
			       it.line,
			       it.outcome == POLICY_FILE_DUPLICATE
				   ? ": identical, skipped"
				   : "");
	}
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
count_key(void *arg, const struct keystore_key *k)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_ca(void *arg, const struct castore_ca *ca)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_profile(void *arg, const struct profile *p)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_identity(void *arg, const struct identity *id)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_harvested(void *arg, const struct harvested_key *k)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
count_alert(void *arg, const struct alert *a)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
cmd_export(struct gw_store *st, const char *path)
{
	struct gw_txn *txn = NULL;
	struct gw_buf out;
	size_t ni = 0, nk = 0, nc = 0, nh = 0, na = 0, np = 0, nr = 0;
	struct gw_buf scratch;
	int rc;

	gw_buf_init(&out, POLICY_FILE_MAX);
	gw_buf_init(&scratch, POLICY_FILE_MAX);
	if ((rc = gw_txn_begin(st, GW_TXN_READ, &txn)) != 0 ||
	    (rc = policy_file_export_config(txn, &out)) != 0 ||
	    (rc = identity_foreach(txn, count_identity, &ni)) != 0 ||
	    (rc = keystore_foreach(txn, count_key, &nk)) != 0 ||
	    (rc = castore_foreach(txn, count_ca, &nc)) != 0 ||
	    (rc = harvested_foreach(txn, count_harvested, &nh)) != 0 ||
	    (rc = alerts_foreach(txn, 0, count_alert, &na)) != 0 ||
	    (rc = profile_foreach(txn, count_profile, &np)) != 0 ||
	    (rc = policy_route_export(txn, &scratch, &nr)) != 0)
		goto out;
	gw_txn_abort(txn);
	txn = NULL;
	if ((rc = cli_file_write(path, &out)) != 0)
		goto out;
	if (strcmp(path, "-") != 0)
		printf("exported %zu identit%s, %zu public key%s, %zu CA%s, "
		       "%zu harvested key%s, %zu alert%s, %zu sending "
		       "profile%s and %zu table entr%s to %s\n",
		       ni, ni == 1 ? "y" : "ies", nk, nk == 1 ? "" : "s", nc,
		       nc == 1 ? "" : "s", nh, nh == 1 ? "" : "s", na,
		       na == 1 ? "" : "s", np, np == 1 ? "" : "s", nr,
		       nr == 1 ? "y" : "ies", path);
out:
	gw_txn_abort(txn);
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
