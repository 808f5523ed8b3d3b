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
    "  clear --yes [--before WHEN]\n"
    "                          delete the alerts before WHEN (default: "
    "all)\n"
    "WHEN: seconds since the epoch, or a date YYYY-MM-DD (00:00 UTC).\n";

enum {
	OPT_SINCE = 256,
	OPT_BEFORE,
	OPT_YES,
};

static const struct option alerts_opts[] = {
    {"since", required_argument, NULL, OPT_SINCE},
    {"before", required_argument, NULL, OPT_BEFORE},
    {"yes", no_argument, NULL, OPT_YES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd alerts_cmds[] = {
    {"list", 0, 0, "", CLI_OPTS(OPT_SINCE)},
    {"clear", 0, 0, "", CLI_OPTS(OPT_BEFORE, OPT_YES)},
};

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

struct alerts_args {
	uint64_t when;	/* --since or --before; 0 when not given */
	int yes;
};

/* --since and --before: a WHEN; --yes. */
static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct alerts_args *a = arg;

	if (c == OPT_YES) {
		a->yes = 1;
		return 0;
	}
	if (parse_when(value, &a->when) != 0)
		return cli_usage(what,
				 "%s: '%.40s' is neither seconds since the "
				 "epoch nor a date YYYY-MM-DD",
				 cli_opt_name(alerts_opts, c), value);
	return 0;
}

static const struct cli_spec alerts_spec = {
    "alerts", alerts_usage_text, ":h", alerts_opts, alerts_cmds,
    sizeof(alerts_cmds) / sizeof(alerts_cmds[0]), take_opt,
};

static int
list_one(void *arg, const struct alert *a)
{
	char buf[32];

	printf("%s  %-8s %-16s %s\n", cli_show_time(a->time, buf), a->severity,
	       a->kind, a->text);
	(*(size_t *)arg)++;
	return 0;
}

int
cli_alerts_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cli_args a;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct alerts_args o = {0, 0};
	size_t n = 0;
	int rc = 0, ex, clear;

	if ((ex = cli_args_parse(&alerts_spec, argc, argv, &o, &a)) != 0)
		return ex;
	clear = strcmp(a.cmd->name, "clear") == 0;
	/* Alerts are the only record of a suspicious key update. */
	if (clear && !o.yes)
		return cli_usage(a.what, "refusing to delete alerts without "
					 "--yes (they are the record of key "
					 "updates and evictions)");
	if ((rc = cli_store_open(ctx, NULL, &st)) != 0 ||
	    (rc = gw_txn_begin(st, clear ? GW_TXN_WRITE : GW_TXN_READ,
			       &txn)) != 0)
		goto fail;
	if (!clear) {
		printf("%-23s  %-8s %-16s %s\n", "TIME", "SEVERITY", "KIND",
		       "TEXT");
		if ((rc = alerts_foreach(txn, o.when, list_one, &n)) != 0)
			goto fail;
		printf("%zu alert%s\n", n, n == 1 ? "" : "s");
	} else {
		if ((rc = alerts_clear(txn, o.when, &n)) != 0 ||
		    (rc = cli_txn_commit(&txn)) != 0)
			goto fail;
		printf("cleared %zu alert%s\n", n, n == 1 ? "" : "s");
	}
	goto out;
fail:
	ex = cli_fail(a.what, rc);
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
