/* cli_ca.c - "smimegw ca ...": trusted certificate authorities. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "castore.h"
#include "cert_info.h"
#include "certmgr.h"
#include "cli.h"
#include "gw_err.h"
#include "gw_store.h"

#define W 21	   /* label width in "show" output */
#define SHORT_ID 16 /* hex digits of an ID in lists */

static const char ca_usage_text[] =
    "usage: smimegw ca COMMAND ...\n"
    "  add FILE     trust the CA certificates in FILE (PEM bundle or DER);\n"
    "               all or nothing: an end-entity certificate refuses the "
    "file\n"
    "  list\n"
    "  show ID      ID: the SHA-256 fingerprint, or a unique prefix of at\n"
    "               least 8 hex digits\n"
    "  delete ID\n";

static const struct option ca_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd ca_cmds[] = {
    {"add", 1, 1, "FILE", NULL},
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "ID", NULL},
    {"delete", 1, 1, "ID", NULL},
};

static const struct cli_spec ca_spec = {
    "ca", ca_usage_text, ":h", ca_opts, ca_cmds,
    sizeof(ca_cmds) / sizeof(ca_cmds[0]), NULL,
};

static const char *
subject(X509 *x, char *buf, size_t len)
{
	return cert_info_name(X509_get_subject_name(x), buf, len);
}

static int
list_one(void *arg, const struct castore_ca *ca)
{
	char t[32], buf[512];

	cert_info_time(X509_get0_notAfter(ca->cert), t);
	t[10] = '\0';
	printf("%-*.*s %-10s %-13s %s\n", SHORT_ID, SHORT_ID, ca->id, t,
	       cli_show_state(ca->cert, time(NULL)),
	       subject(ca->cert, buf, sizeof(buf)));
	return 0;
}

static void
show_ca(const struct castore_ca *ca)
{
	char t[32];
	BASIC_CONSTRAINTS *bc;
	long pathlen = -1;
	int rc;

	printf("%-*s %s\n", W, "ID:", ca->id);
	printf("%-*s %s (%s)\n", W, "Added:", cli_show_time(ca->added, t),
	       ca->source ? ca->source : "?");
	cli_show_status(ca->cert, W, ": chains through it fail", "");
	bc = X509_get_ext_d2i(ca->cert, NID_basic_constraints, NULL, NULL);
	if (bc != NULL && bc->pathlen != NULL)
		pathlen = ASN1_INTEGER_get(bc->pathlen);
	if (bc == NULL)
		printf("%-*s absent (X.509 v%ld self-signed root)\n", W,
		       "Basic constraints:", X509_get_version(ca->cert) + 1);
	else if (pathlen >= 0)
		printf("%-*s CA:TRUE, pathlen:%ld\n", W,
		       "Basic constraints:", pathlen);
	else
		printf("%-*s CA:%s\n", W, "Basic constraints:",
		       bc->ca ? "TRUE" : "FALSE");
	BASIC_CONSTRAINTS_free(bc);
	ERR_clear_error();
	printf("%-*s %s\n", W, "Self-signed:",
	       X509_check_issued(ca->cert, ca->cert) == X509_V_OK ? "yes"
								  : "no");
	if ((rc = castore_ca_check(ca->cert)) != 0)
		printf("%-*s FAILS: %s\n", W, "CA rule:", gw_err_detail());
	gw_err_clear();
	cert_info_print(stdout, ca->cert, W);
}

static int
cmd_add(struct gw_store *st, const char *file)
{
	STACK_OF(X509) *sk = NULL;
	struct gw_txn *txn = NULL;
	char id[CASTORE_ID_LEN + 1], buf[512], detail[512], t[32];
	int i, n, added = 0, dup = 0, rc;
	time_t now = time(NULL);
	X509 *x;

	if ((rc = cert_info_read_certs(file, &sk)) != 0)
		goto out;
	n = sk_X509_num(sk);
	/* Validate all, then write all. */
	for (i = 0; i < n; i++) {
		x = sk_X509_value(sk, i);
		if ((rc = castore_ca_check(x)) != 0) {
			snprintf(detail, sizeof(detail), "%s", gw_err_detail());
			gw_err_clear();
			rc = gw_err_set(rc,
					"%s: certificate %d of %d (%s): %s; "
					"nothing was added",
					file, i + 1, n,
					subject(x, buf, sizeof(buf)), detail);
			goto out;
		}
	}
	if ((rc = gw_txn_begin(st, GW_TXN_WRITE, &txn)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		x = sk_X509_value(sk, i);
		rc = castore_add(txn, x, now, id);
		if (rc != 0 && rc != GW_ERR_EXISTS)
			goto out;
		printf("%-10s %.*s %s%s\n", rc == 0 ? "added" : "duplicate",
		       SHORT_ID, id, subject(x, buf, sizeof(buf)),
		       rc == 0 ? "" : " (already trusted)");
		if (rc == 0)
			added++;
		else
			dup++;
		if (strcmp(cli_show_state(x, now), "expired") == 0)
			printf("           warning: expired on %s\n",
			       cert_info_time(X509_get0_notAfter(x), t));
	}
	if ((rc = cli_txn_commit(&txn)) == 0)
		printf("%d CA%s added, %d duplicate%s\n", added,
		       added == 1 ? "" : "s", dup, dup == 1 ? "" : "s");
out:
	gw_txn_abort(txn);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

int
cli_ca_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_args a;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct castore_ca *ca = NULL;
	const char *cmd;
	char buf[512];
	int rc = 0, ex = CLI_EXIT_OK;

	if ((ex = cli_args_parse(&ca_spec, argc, argv, NULL, &a)) != 0)
		return ex;
	cmd = a.cmd->name;
	if ((rc = strcmp(cmd, "add") == 0 ? cli_store_create(ctx, NULL, &st)
					  : cli_store_open(ctx, NULL, &st)) != 0)
		goto fail;
	if (strcmp(cmd, "add") == 0) {
		if ((rc = cmd_add(st, a.pos[0])) != 0)
			goto fail;
		goto out;
	}
	if ((rc = gw_txn_begin(st,
			       strcmp(cmd, "delete") == 0 ? GW_TXN_WRITE
							  : GW_TXN_READ,
			       &txn)) != 0)
		goto fail;
	if (strcmp(cmd, "list") == 0) {
		printf("%-*s %-10s %-13s %s\n", SHORT_ID, "ID", "NOT AFTER",
		       "STATE", "SUBJECT");
		if ((rc = castore_foreach(txn, list_one, NULL)) != 0)
			goto fail;
	} else if (strcmp(cmd, "show") == 0) {
		if ((rc = castore_get(txn, a.pos[0], &ca)) != 0)
			goto fail;
		show_ca(ca);
	} else if (strcmp(cmd, "delete") == 0) {
		if ((rc = castore_del(txn, a.pos[0], &ca)) != 0 ||
		    (rc = cli_txn_commit(&txn)) != 0)
			goto fail;
		printf("deleted trusted CA %.*s %s\n", SHORT_ID, ca->id,
		       subject(ca->cert, buf, sizeof(buf)));
	}
	goto out;
fail:
	ex = cli_fail(a.what, rc);
out:
	gw_txn_abort(txn);
	castore_ca_free(ca);
	gw_store_close(st);
	return ex;
}
