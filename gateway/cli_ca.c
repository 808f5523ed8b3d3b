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

static const struct {
	const char *cmd;
	int npos;
	const char *operand;
} cmd_table[] = {
    {"add", 1, "FILE"},
    {"list", 0, ""},
    {"show", 1, "ID"},
    {"delete", 1, "ID"},
};

static int
parse_args(int argc, char **argv, const char *cmd, const char **pos,
	   const char *what)
{
	size_t ci;
	int c, npos = 0;

	for (ci = 0; ci < sizeof(cmd_table) / sizeof(cmd_table[0]); ci++)
		if (strcmp(cmd_table[ci].cmd, cmd) == 0)
			break;
	if (ci == sizeof(cmd_table) / sizeof(cmd_table[0]))
		return cli_usage("ca", "unknown subcommand '%s'", cmd);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", ca_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(ca_usage_text, stdout);
			exit(CLI_EXIT_OK);
		}
		return cli_usage(what, "unknown option '%s'", argv[optind - 1]);
	}
	for (; optind < argc; optind++) {
		if (npos >= cmd_table[ci].npos)
			return cli_usage(what, "unexpected argument '%s'",
					 argv[optind]);
		pos[npos++] = argv[optind];
	}
	if (npos < cmd_table[ci].npos)
		return cli_usage(what, "missing %s", cmd_table[ci].operand);
	return 0;
}

static const char *
state_name(X509 *x, time_t now)
{
	if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0)
		return "expired";
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0)
		return "not-yet-valid";
	return "valid";
}

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
	       state_name(ca->cert, time(NULL)),
	       subject(ca->cert, buf, sizeof(buf)));
	return 0;
}

static void
show_ca(const struct castore_ca *ca)
{
	time_t added = (time_t)ca->added;
	struct tm tm;
	char t[32];
	BASIC_CONSTRAINTS *bc;
	long pathlen = -1;
	int rc;

	printf("%-*s %s\n", W, "ID:", ca->id);
	gmtime_r(&added, &tm);
	strftime(t, sizeof(t), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%-*s %s (%s)\n", W, "Added:", t,
	       ca->source ? ca->source : "?");
	if (strcmp(state_name(ca->cert, time(NULL)), "valid") == 0)
		printf("%-*s valid until %s\n", W, "Status:",
		       cert_info_time(X509_get0_notAfter(ca->cert), t));
	else if (strcmp(state_name(ca->cert, time(NULL)), "expired") == 0)
		printf("%-*s EXPIRED on %s: chains through it fail\n", W,
		       "Status:",
		       cert_info_time(X509_get0_notAfter(ca->cert), t));
	else
		printf("%-*s NOT YET VALID until %s\n", W, "Status:",
		       cert_info_time(X509_get0_notBefore(ca->cert), t));
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

	if ((rc = certmgr_read_certs(file, &sk)) != 0)
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
		if (strcmp(state_name(x, now), "expired") == 0)
			printf("           warning: expired on %s\n",
			       cert_info_time(X509_get0_notAfter(x), t));
	}
	rc = gw_txn_commit(txn);
	txn = NULL;
	if (rc == 0)
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
	struct gw_config *cfg;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct castore_ca *ca = NULL;
	const char *pos[1] = {NULL};
	char what[64], buf[512];
	int rc = 0, ex = CLI_EXIT_OK;

	if (argc < 2) {
		fputs(ca_usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(ca_usage_text, stdout);
		return CLI_EXIT_OK;
	}
	snprintf(what, sizeof(what), "ca %s", argv[1]);
	if ((ex = parse_args(argc - 1, argv + 1, argv[1], pos, what)) != 0)
		return ex;
	if ((rc = cli_config(ctx, &cfg)) != 0 ||
	    (rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&st)) != 0)
		goto fail;
	if (strcmp(argv[1], "add") == 0) {
		if ((rc = cmd_add(st, pos[0])) != 0)
			goto fail;
		goto out;
	}
	if ((rc = gw_txn_begin(st,
			       strcmp(argv[1], "delete") == 0 ? GW_TXN_WRITE
							       : GW_TXN_READ,
			       &txn)) != 0)
		goto fail;
	if (strcmp(argv[1], "list") == 0) {
		printf("%-*s %-10s %-13s %s\n", SHORT_ID, "ID", "NOT AFTER",
		       "STATE", "SUBJECT");
		if ((rc = castore_foreach(txn, list_one, NULL)) != 0)
			goto fail;
	} else if (strcmp(argv[1], "show") == 0) {
		if ((rc = castore_get(txn, pos[0], &ca)) != 0)
			goto fail;
		show_ca(ca);
	} else if (strcmp(argv[1], "delete") == 0) {
		if ((rc = castore_del(txn, pos[0], &ca)) != 0)
			goto fail;
		rc = gw_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto fail;
		printf("deleted trusted CA %.*s %s\n", SHORT_ID, ca->id,
		       subject(ca->cert, buf, sizeof(buf)));
	}
	goto out;
fail:
	ex = cli_fail(what, rc);
out:
	gw_txn_abort(txn);
	castore_ca_free(ca);
	gw_store_close(st);
	return ex;
}
