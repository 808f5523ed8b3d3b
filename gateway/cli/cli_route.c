/* cli_route.c - "smimegw route ...": the sending profile table. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "profile.h"
#include "route.h"
#include "treatment.h"

#define W 10 /* label width in "show" output */

static const char route_usage_text[] =
    "usage: smimegw route COMMAND ...\n"
    "  add (--sender PATTERN | --recipient PATTERN) --profile NAME\n"
    "      [--position N]       insert before entry N (default: at the "
    "end)\n"
    "      PATTERN: user@example.com, @example.com (that domain) or\n"
    "      @.example.com (its subdomains)\n"
    "  remove N                the entry at position N\n"
    "  list                    the table in order, with each entry's "
    "status\n"
    "  show N\n"
    "  clear                   remove every entry\n"
    "  test --from ADDR --to ADDR\n"
    "                          the treatment smimegwd's outgoing listener "
    "gives\n"
    "                          that recipient: its direction and "
    "profile\n"
    "The first entry that matches gives the profile; none: "
    "listener_outgoing_profile.\n";

enum {
	OPT_SENDER = 256,
	OPT_RECIPIENT,
	OPT_PROFILE,
	OPT_POSITION,
	OPT_FROM,
	OPT_TO,
};

static const struct option route_opts[] = {
    {"sender", required_argument, NULL, OPT_SENDER},
    {"recipient", required_argument, NULL, OPT_RECIPIENT},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"position", required_argument, NULL, OPT_POSITION},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd route_cmds[] = {
    {"add", 0, 0, "",
     CLI_OPTS(OPT_SENDER, OPT_RECIPIENT, OPT_PROFILE, OPT_POSITION)},
    {"remove", 1, 1, "N", NULL},
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "N", NULL},
    {"clear", 0, 0, "", NULL},
    {"test", 0, 0, "", CLI_OPTS(OPT_FROM, OPT_TO)},
};

struct route_args {
	struct cli_args cli;
	const char *cmd;
	const char *sender, *recipient, *profile, *position, *from, *to;
};

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct route_args *a = arg;
	const char **slot = c == OPT_SENDER	? &a->sender
			    : c == OPT_RECIPIENT ? &a->recipient
			    : c == OPT_PROFILE	 ? &a->profile
			    : c == OPT_POSITION	 ? &a->position
			    : c == OPT_FROM	 ? &a->from
						 : &a->to;

	if (*slot != NULL)
		return cli_usage(what, "option '%s' given twice",
				 cli_opt_name(route_opts, c));
	*slot = value;
	return 0;
}

static const struct cli_spec route_spec = {
    "route", route_usage_text, ":h", route_opts, route_cmds,
    sizeof(route_cmds) / sizeof(route_cmds[0]), take_opt,
};

static int
parse_args(int argc, char **argv, struct route_args *a)
{
	const char *what = a->cli.what;
	int ex;

	if ((ex = cli_args_parse(&route_spec, argc, argv, a, &a->cli)) != 0)
		return ex;
	a->cmd = a->cli.cmd->name;
	if (strcmp(a->cmd, "add") == 0) {
		if ((a->sender == NULL) == (a->recipient == NULL))
			return cli_usage(what, "give one of --sender and "
					       "--recipient");
		if (a->profile == NULL)
			return cli_usage(what, "--profile is required");
	}
	if (strcmp(a->cmd, "test") == 0 && (a->from == NULL || a->to == NULL))
		return cli_usage(what, "--from and --to are required (--from "
				       "'' for the null sender)");
	return 0;
}

/* A position operand or option: 1..max, else an error naming it. */
static int
position(const char *s, const char *name, size_t max, size_t *out)
{
	char *end;
	unsigned long n;

	if (*s < '1' || *s > '9' || strlen(s) > 6)
		goto bad;
	n = strtoul(s, &end, 10);
	if (*end != '\0' || n > max)
		goto bad;
	*out = (size_t)n;
	return 0;
bad:
	if (max == 0)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  "%s: '%.20s': the table is empty", name, s);
	return gw_err_set(GW_ERR_INVALID, "%s: '%.20s' is not a position in "
			  "1..%zu", name, s, max);
}

/* "ok", or "UNUSABLE: why" when the entry's profile is missing. */
static int
status(struct gw_txn *txn, const struct route *r, char *buf, size_t len)
{
	int rc;

	gw_err_clear();
	rc = route_check(txn, r);
	if (rc != 0 && gw_err_class(rc) == GW_ERRCLASS_TEMPORARY)
		return rc;
	snprintf(buf, len, "%s%s", rc == 0 ? "ok" : "UNUSABLE: ",
		 rc == 0 ? "" : gw_err_detail());
	gw_err_clear();
	return 0;
}

static void
print_default(const struct gw_config *cfg)
{
	if (cfg->listener_outgoing_profile[0] != '\0')
		printf("no match: profile '%s' (listener_outgoing_profile)\n",
		       cfg->listener_outgoing_profile);
	else
		printf("no match: none, delivered unchanged "
		       "(listener_outgoing_profile is empty)\n");
}

static int
cmd_list(struct gw_txn *txn, const struct gw_config *cfg)
{
	struct route_table t;
	char st[600];
	size_t i;
	int rc;

	if ((rc = route_table_get(txn, &t)) != 0)
		return rc;
	printf("%-4s %-10s %-32s %-20s %s\n", "POS", "FIELD", "PATTERN",
	       "PROFILE", "STATUS");
	for (i = 0; i < t.n; i++) {
		if ((rc = status(txn, &t.r[i], st, sizeof(st))) != 0)
			break;
		printf("%-4zu %-10s %-32s %-20s %s\n", i + 1,
		       route_field_name(t.r[i].field), t.r[i].pattern,
		       t.r[i].profile, st);
	}
	if (rc == 0)
		print_default(cfg);
	route_table_free(&t);
	return rc;
}

static void
show(size_t pos, const struct route *r, const char *st)
{
	printf("%-*s %zu\n", W, "Position:", pos);
	printf("%-*s %s\n", W, "Field:", route_field_name(r->field));
	printf("%-*s %s\n", W, "Pattern:", r->pattern);
	printf("%-*s %s\n", W, "Profile:", r->profile);
	printf("%-*s %s\n", W, "Status:", st);
}

static int
cmd_show(struct gw_txn *txn, const char *arg)
{
	struct route_table t;
	char st[600];
	size_t pos;
	int rc;

	if ((rc = route_table_get(txn, &t)) != 0)
		return rc;
	if ((rc = position(arg, "N", t.n, &pos)) == 0 &&
	    (rc = status(txn, &t.r[pos - 1], st, sizeof(st))) == 0)
		show(pos, &t.r[pos - 1], st);
	route_table_free(&t);
	return rc;
}

/* Commits *txnp on success. */
static int
cmd_add(struct gw_txn **txnp, const struct route_args *a)
{
	struct route_table t;
	struct route r;
	size_t pos = 0;
	int rc;

	memset(&r, 0, sizeof(r));
	r.field = a->sender != NULL ? ROUTE_SENDER : ROUTE_RECIPIENT;
	if (strlen(a->sender ? a->sender : a->recipient) >= sizeof(r.pattern))
		return gw_err_set(GW_ERR_INVALID, "%s: longer than an address",
				  route_field_name(r.field));
	snprintf(r.pattern, sizeof(r.pattern), "%s",
		 a->sender ? a->sender : a->recipient);
	if (strlen(a->profile) >= sizeof(r.profile))
		return gw_err_set(GW_ERR_INVALID,
				  "profile: '%.64s...' is not a sending "
				  "profile name",
				  a->profile);
	snprintf(r.profile, sizeof(r.profile), "%s", a->profile);
	if ((rc = route_normalize(&r)) != 0 ||
	    (rc = route_check(*txnp, &r)) != 0 ||
	    (rc = route_table_get(*txnp, &t)) != 0)
		return rc;
	if ((a->position == NULL ||
	     (rc = position(a->position, "position", t.n + 1, &pos)) == 0) &&
	    (rc = route_table_insert(&t, pos, &r)) == 0 &&
	    (rc = route_table_put(*txnp, &t)) == 0 &&
	    (rc = cli_txn_commit(txnp)) == 0) {
		if (pos == 0)
			pos = t.n;
		printf("added entry %zu of %zu: %s %s -> profile '%s'\n", pos,
		       t.n, route_field_name(r.field), r.pattern, r.profile);
	}
	route_table_free(&t);
	return rc;
}

static int
cmd_remove(struct gw_txn **txnp, const char *arg)
{
	struct route_table t;
	struct route r;
	size_t pos;
	int rc;

	if ((rc = route_table_get(*txnp, &t)) != 0)
		return rc;
	if ((rc = position(arg, "N", t.n, &pos)) == 0) {
		r = t.r[pos - 1];
		if ((rc = route_table_remove(&t, pos)) == 0 &&
		    (rc = route_table_put(*txnp, &t)) == 0 &&
		    (rc = cli_txn_commit(txnp)) == 0)
			printf("removed entry %zu: %s %s -> profile '%s'\n",
			       pos, route_field_name(r.field), r.pattern,
			       r.profile);
	}
	route_table_free(&t);
	return rc;
}

static int
cmd_clear(struct gw_txn **txnp)
{
	struct route_table t, none;
	int rc;

	route_table_init(&none);
	if ((rc = route_table_get(*txnp, &t)) != 0)
		return rc;
	if ((rc = route_table_put(*txnp, &none)) == 0 &&
	    (rc = cli_txn_commit(txnp)) == 0)
		printf("removed %zu entr%s\n", t.n, t.n == 1 ? "y" : "ies");
	route_table_free(&t);
	return rc;
}

/* The outgoing listener's treatment of one recipient, and why. */
static int
cmd_test(struct gw_txn *txn, const struct gw_config *cfg,
	 const struct route_args *a)
{
	struct treatment_conf tc;
	struct route_table t;
	struct treatment tr;
	const char *to = a->to;
	int rc;

	memset(&tc, 0, sizeof(tc));
	tc.decide = strcmp(cfg->listener_outgoing_direction, "auto") == 0;
	tc.dir = TREATMENT_OUTGOING;
	tc.internal_domains = cfg->internal_domains;
	tc.default_profile = cfg->listener_outgoing_profile;
	if ((rc = treatment_decide(txn, &tc, a->from, &to, 1, &t, &tr)) != 0)
		return rc;
	printf("direction: %s%s\n",
	       tr.dir == TREATMENT_OUTGOING ? "outgoing" : "incoming",
	       tc.decide ? " (internal_domains)" : "");
	if (tr.dir == TREATMENT_INCOMING)
		printf("profile: - (incoming: the incoming_* settings)\n");
	else if (tr.route > 0)
		printf("profile: %s (entry %zu: %s %s)\n", tr.profile, tr.route,
		       route_field_name(t.r[tr.route - 1].field),
		       t.r[tr.route - 1].pattern);
	else if (tr.profile != NULL)
		printf("profile: %s (no entry matches: "
		       "listener_outgoing_profile)\n",
		       tr.profile);
	else
		printf("profile: none, delivered unchanged (no entry matches "
		       "and listener_outgoing_profile is empty)\n");
	route_table_free(&t);
	return 0;
}

int
cli_route_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct route_args a;
	struct gw_config *cfg = NULL;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	int rc = 0, ex = CLI_EXIT_OK, wr;

	memset(&a, 0, sizeof(a));
	if ((ex = parse_args(argc, argv, &a)) != 0)
		return ex;
	wr = strcmp(a.cmd, "add") == 0 || strcmp(a.cmd, "remove") == 0 ||
	     strcmp(a.cmd, "clear") == 0;
	/* Even "add" needs a store: its profile must be there. */
	if ((rc = cli_store_open(ctx, &cfg, &st)) != 0 ||
	    (rc = gw_txn_begin(st, wr ? GW_TXN_WRITE : GW_TXN_READ, &txn)) !=
		0)
		goto fail;
	if (strcmp(a.cmd, "add") == 0)
		rc = cmd_add(&txn, &a);
	else if (strcmp(a.cmd, "remove") == 0)
		rc = cmd_remove(&txn, a.cli.pos[0]);
	else if (strcmp(a.cmd, "clear") == 0)
		rc = cmd_clear(&txn);
	else if (strcmp(a.cmd, "list") == 0)
		rc = cmd_list(txn, cfg);
	else if (strcmp(a.cmd, "show") == 0)
		rc = cmd_show(txn, a.cli.pos[0]);
	else
		rc = cmd_test(txn, cfg, &a);
	if (rc == 0)
		goto out;
fail:
	ex = cli_fail(a.cli.what, rc);
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
