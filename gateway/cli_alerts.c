/* cli_alerts.c - "smimegw alerts ...": the stored operator alerts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "cli.h"
#include "gw_err.h"
#include "gw_store.h"

static const char alerts_usage_text[] =
    "usage: smimegw alerts COMMAND ...\n"
    "  list [--since WHEN]     alerts at or after WHEN, oldest first\n"
    "  clear [--before WHEN]   delete the alerts before WHEN (default: "
    "all)\n"
    "WHEN: seconds since the epoch, or a date YYYY-MM-DD (00:00 UTC).\n";

enum {
	OPT_SINCE = 256,
	OPT_BEFORE,
};

static const struct option alerts_opts[] = {
    {"since", required_argument, NULL, OPT_SINCE},
    {"before", required_argument, NULL, OPT_BEFORE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct {
	const char *cmd;
	const int allowed[2];
} cmd_table[] = {
    {"list", {OPT_SINCE, 0}},
    {"clear", {OPT_BEFORE, 0}},
};
#define NCMDS (sizeof(cmd_table) / sizeof(cmd_table[0]))

/* Seconds since the epoch, or YYYY-MM-DD at 00:00 UTC; -1 otherwise. */
static int
parse_when(const char *s, uint64_t *out)
{
	struct tm tm;
	unsigned long long n;
	const char *end;
	char *e;
	time_t t;

	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") ==
						  strlen(s)) {
		errno = 0;
		n = strtoull(s, &e, 10);
		if (errno != 0 || *e != '\0' || n > (1ULL << 40))
			return -1;
		*out = n;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 10 || (end = strptime(s, "%Y-%m-%d", &tm)) == NULL ||
	    *end != '\0' || (t = timegm(&tm)) == (time_t)-1 || t < 0)
		return -1;
	*out = (uint64_t)t;
	return 0;
}

static int
parse_args(int argc, char **argv, const char *what, size_t *ci,
	   uint64_t *when)
{
	int c;

	for (*ci = 0; *ci < NCMDS; (*ci)++)
		if (strcmp(cmd_table[*ci].cmd, argv[0]) == 0)
			break;
	if (*ci == NCMDS)
		return cli_usage("alerts", "unknown subcommand '%s'", argv[0]);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", alerts_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(alerts_usage_text, stdout);
			exit(CLI_EXIT_OK);
		}
		if (c == '?' || c == ':')
			return cli_getopt_error(what, c, argv);
		if (cli_opt_allowed(what, cmd_table[*ci].allowed, alerts_opts,
				    c))
			return CLI_EXIT_USAGE;
		if (parse_when(optarg, when) != 0)
			return cli_usage(what,
					 "%s: '%.40s' is neither seconds "
					 "since the epoch nor a date "
					 "YYYY-MM-DD",
					 cli_opt_name(alerts_opts, c), optarg);
	}
	if (optind < argc)
		return cli_usage(what, "unexpected argument '%s'",
				 argv[optind]);
	return 0;
}

static int
list_one(void *arg, const struct alert *a)
{
	time_t t = (time_t)a->time;
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("%s  %-8s %-16s %s\n", buf, a->severity, a->kind, a->text);
	(*(size_t *)arg)++;
	return 0;
}

int
cli_alerts_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct gw_config *cfg;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	uint64_t when = 0;
	size_t ci = 0, n = 0;
	char what[64];
	int rc = 0, ex;

	if (argc < 2) {
		fputs(alerts_usage_text, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(alerts_usage_text, stdout);
		return CLI_EXIT_OK;
	}
	snprintf(what, sizeof(what), "alerts %s", argv[1]);
	if ((ex = parse_args(argc - 1, argv + 1, what, &ci, &when)) != 0)
		return ex;
	if ((rc = cli_config(ctx, &cfg)) != 0 ||
	    (rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&st)) != 0 ||
	    (rc = gw_txn_begin(st, ci == 1 ? GW_TXN_WRITE : GW_TXN_READ,
			       &txn)) != 0)
		goto fail;
	if (ci == 0) {
		printf("%-23s  %-8s %-16s %s\n", "TIME", "SEVERITY", "KIND",
		       "TEXT");
		if ((rc = alerts_foreach(txn, when, list_one, &n)) != 0)
			goto fail;
		printf("%zu alert%s\n", n, n == 1 ? "" : "s");
	} else {
		if ((rc = alerts_clear(txn, when, &n)) != 0)
			goto fail;
		rc = gw_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			goto fail;
		printf("cleared %zu alert%s\n", n, n == 1 ? "" : "s");
	}
	goto out;
fail:
	ex = cli_fail(what, rc);
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
