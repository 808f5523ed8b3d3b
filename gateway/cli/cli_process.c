/*
 * cli_process.c - "smimegw process": one message through the policy,
 * each resulting copy a file in --out-dir plus result.json, and an exit
 * status from sysexits(3) as Postfix's pipe(8) reads it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_reply.h"
#include "process.h"
#include "process_json.h"
#include "smime.h"

#define RESULT_MAX ((size_t)16 << 20)

static const char process_usage_text[] =
    "usage: smimegw process --direction outgoing|incoming --from ADDR\n"
    "                       --to ADDR [--to ADDR ...] --out-dir DIR\n"
    "                       [--profile NAME] [-i FILE] [options]\n"
    "  --profile NAME          outgoing: the sending profile to apply\n"
    "                          (none: delivered unchanged)\n"
    "  --harvest               incoming: harvest signers' public keys\n"
    "  --harvest-on-failure    also when the signature failed to verify\n"
    "  --harvest-updates       store keys that update a known address\n"
    "  --harvest-expired       also from expired certificates\n"
    "  --harvest-self-signed   also from self-signed certificates\n"
    "  --system                incoming: trust the system CA store too\n"
    "  --remove-signature      incoming: remove verified signatures\n"
    "  --now TIME              act as if it were TIME (seconds since the\n"
    "                          epoch, or YYYY-MM-DDTHH:MM:SSZ): replay, "
    "tests\n"
    "Writes DIR/copy-N.eml per copy and DIR/result.json, after removing\n"
    "those an earlier run left.  Exit status: 0\n"
    "delivered or dropped, 69 bounced, 75 temporary failure, 65 unusable\n"
    "input, 64 usage error.\n";

enum {
	OPT_DIRECTION = 256,
	OPT_FROM,
	OPT_TO,
	OPT_PROFILE,
	OPT_OUT_DIR,
	OPT_HARVEST,
	OPT_HARVEST_FAIL,
	OPT_HARVEST_UPDATES,
	OPT_HARVEST_EXPIRED,
	OPT_HARVEST_SELF,
	OPT_SYSTEM,
	OPT_REMOVE_SIG,
	OPT_NOW,
};

static const struct option process_opts[] = {
    {"direction", required_argument, NULL, OPT_DIRECTION},
    {"from", required_argument, NULL, OPT_FROM},
    {"to", required_argument, NULL, OPT_TO},
    {"profile", required_argument, NULL, OPT_PROFILE},
    {"out-dir", required_argument, NULL, OPT_OUT_DIR},
    {"harvest", no_argument, NULL, OPT_HARVEST},
    {"harvest-on-failure", no_argument, NULL, OPT_HARVEST_FAIL},
    {"harvest-updates", no_argument, NULL, OPT_HARVEST_UPDATES},
    {"harvest-expired", no_argument, NULL, OPT_HARVEST_EXPIRED},
    {"harvest-self-signed", no_argument, NULL, OPT_HARVEST_SELF},
    {"system", no_argument, NULL, OPT_SYSTEM},
    {"remove-signature", no_argument, NULL, OPT_REMOVE_SIG},
    {"now", required_argument, NULL, OPT_NOW},
    {"input", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const int outgoing_only[] = {OPT_PROFILE, 0};
static const int incoming_only[] = {
    OPT_HARVEST, OPT_HARVEST_FAIL, OPT_HARVEST_UPDATES, OPT_HARVEST_EXPIRED,
    OPT_HARVEST_SELF, OPT_SYSTEM, OPT_REMOVE_SIG, 0};

struct process_args {
	struct process_req req;
	const char **to;
	const char *in, *out_dir, *direction;
	int seen[OPT_NOW - OPT_DIRECTION + 1];
};

/* "addr@domain" with no space or control character, or "" (<>). */
static int
address_ok(const char *s, int empty_ok)
{
	const char *at = strrchr(s, '@');

	if (*s == '\0')
		return empty_ok;
	if (at == NULL || at == s || at[1] == '\0' || strlen(s) > 254)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '<' ||
		    *s == '>')
			return 0;
	return 1;
}

/* Seconds since the epoch, or an RFC 3339 UTC time. */
static int
parse_now(const char *s, time_t *out)
{
	struct tm tm;
	char *end;
	long long v;

	memset(&tm, 0, sizeof(tm));
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s != '\0' && *end == '\0' && errno == 0 && v > 0) {
		*out = (time_t)v;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return *out > 0 ? 0 : -1;
}

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct process_args *a = arg;

	if (c >= OPT_DIRECTION && c <= OPT_NOW && c != OPT_TO) {
		if (a->seen[c - OPT_DIRECTION]++)
			return cli_usage(what, "option '%s' given twice",
					 cli_opt_name(process_opts, c));
	}
	switch (c) {
	case OPT_DIRECTION: a->direction = value; break;
	case OPT_FROM: a->req.from = value; break;
	case OPT_PROFILE: a->req.profile = value; break;
	case OPT_OUT_DIR: a->out_dir = value; break;
	case OPT_HARVEST: a->req.harvest = 1; break;
	case OPT_HARVEST_FAIL: a->req.harvest_opts.on_failure = 1; break;
	case OPT_HARVEST_UPDATES: a->req.harvest_opts.updates = 1; break;
	case OPT_HARVEST_EXPIRED: a->req.harvest_opts.allow_expired = 1; break;
	case OPT_HARVEST_SELF: a->req.harvest_opts.allow_self_signed = 1; break;
	case OPT_SYSTEM: a->req.system_trust = 1; break;
	case OPT_REMOVE_SIG: a->req.remove_signature = 1; break;
	case 'i': a->in = value; break;
	case OPT_NOW:
		if (parse_now(value, &a->req.now) != 0)
			return cli_usage(what,
					 "--now: '%s' is neither seconds since "
					 "the epoch nor YYYY-MM-DDTHH:MM:SSZ",
					 value);
		break;
	case OPT_TO:
		if (a->req.nto == PROCESS_MAX_RCPT)
			return cli_usage(what, "more than %d --to",
					 PROCESS_MAX_RCPT);
		if (!address_ok(value, 0))
			return cli_usage(what, "--to: '%s' is not an address",
					 value);
		a->to[a->req.nto++] = value;
		break;
	}
	return 0;
}

/* No subcommand: every option, no operand. */
static const struct cli_spec process_spec = {
    "process", process_usage_text, ":i:h", process_opts, NULL, 0, take_opt,
};

static int
parse(int argc, char **argv, struct process_args *a)
{
	const char *what = "process";
	struct cli_args cli;
	int c;

	if (cli_args_parse(&process_spec, argc, argv, a, &cli) != 0)
		return CLI_EXIT_USAGE;
	if (a->direction == NULL)
		return cli_usage(what, "--direction outgoing|incoming is "
				       "required");
	if (strcmp(a->direction, "outgoing") == 0)
		a->req.direction = PROCESS_OUTGOING;
	else if (strcmp(a->direction, "incoming") == 0)
		a->req.direction = PROCESS_INCOMING;
	else
		return cli_usage(what,
				 "--direction: '%s' is not outgoing or incoming",
				 a->direction);
	for (c = OPT_DIRECTION; c <= OPT_NOW; c++) {
		if (!a->seen[c - OPT_DIRECTION])
			continue;
		if (a->req.direction == PROCESS_INCOMING &&
		    cli_opt_in(outgoing_only, c))
			return cli_usage(what,
					 "option '%s' applies to outgoing mail "
					 "only",
					 cli_opt_name(process_opts, c));
		if (a->req.direction == PROCESS_OUTGOING &&
		    cli_opt_in(incoming_only, c))
			return cli_usage(what,
					 "option '%s' applies to incoming mail "
					 "only",
					 cli_opt_name(process_opts, c));
	}
	if (!a->req.harvest &&
	    (a->req.harvest_opts.on_failure || a->req.harvest_opts.updates ||
	     a->req.harvest_opts.allow_expired ||
	     a->req.harvest_opts.allow_self_signed))
		return cli_usage(what, "the --harvest-* options refine "
				       "--harvest, which is not given");
	if (a->req.from == NULL)
		return cli_usage(what, "--from ADDR is required ('' for the "
				       "null sender)");
	if (!address_ok(a->req.from, 1))
		return cli_usage(what, "--from: '%s' is not an address",
				 a->req.from);
	if (a->req.nto == 0)
		return cli_usage(what, "at least one --to is required");
	if (a->out_dir == NULL)
		return cli_usage(what, "--out-dir DIR is required");
	a->req.to = a->to;
	return 0;
}

/* ---- output files ------------------------------------------------------ */

static int
out_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return gw_err_set(GW_ERR_INVALID, "--out-dir: path too long");
	return 0;
}

static int
prepare_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return gw_err_set(GW_ERR_IO, "--out-dir: %s: %s", dir,
				  strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return gw_err_set(GW_ERR_IO, "--out-dir: %s is not a directory",
				  dir);
	return 0;
}

/* Whether name is a file a run writes into --out-dir: result.json, a
 * copy, or one of them while it is written (cli_file_write()'s
 * mkstemp() name: the final name, a dot and 6 letters or digits). */
static int
out_name_ours(const char *name)
{
	char copy[32];
	size_t i, n = 0, j;
	int found = 0;

	if (strncmp(name, "result.json", 11) == 0) {
		n = 11;
		found = 1;
	}
	for (i = 0; !found && i < PROCESS_MAX_COPIES; i++) {
		process_json_copy_name(copy, sizeof(copy), i);
		n = strlen(copy);
		found = strncmp(name, copy, n) == 0;
	}
	if (!found)
		return 0;
	if (name[n] == '\0')
		return 1;
	if (name[n] != '.' || strlen(name + n + 1) != 6)
		return 0;
	for (j = n + 1; name[j] != '\0'; j++)
		if (!isalnum((unsigned char)name[j]))
			return 0;
	return 1;
}

/*
 * Removes what an earlier run left in the output folder (its copies,
 * result.json, and the temporary files of a run that was killed), so
 * that whatever this run ends with, no result in the folder is another
 * run's.  Other files are left alone, and so are directories and other
 * non-regular files of those names.
 */
static int
clear_out_dir(const char *dir)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	if ((d = opendir(dir)) == NULL)
		return gw_err_set(GW_ERR_IO, "--out-dir: %s: %s", dir,
				  strerror(errno));
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (!out_name_ours(de->d_name))
			continue;
		if ((rc = out_path(path, sizeof(path), dir, de->d_name)) != 0)
			break;
		if (lstat(path, &st) != 0 ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		if (unlink(path) != 0 && errno != ENOENT)
			rc = gw_err_set(GW_ERR_IO,
					"--out-dir: cannot remove an earlier "
					"run's %s: %s",
					path, strerror(errno));
	}
	if (rc == 0 && errno != 0)
		rc = gw_err_set(GW_ERR_IO, "--out-dir: %s: %s", dir,
				strerror(errno));
	closedir(d);
	return rc;
}

/* Removes this run's copies 0 .. n-1 after a failure to write them all:
 * without its result.json they are no result. */
static void
remove_copies(const char *dir, size_t n)
{
	char path[4096], name[32];
	size_t i;

	for (i = 0; i < n; i++) {
		process_json_copy_name(name, sizeof(name), i);
		if (out_path(path, sizeof(path), dir, name) == 0)
			unlink(path);
	}
}

/* The copies, then result.json last: a reader that sees result.json
 * finds every file it names.  On failure no copy of this run stays.
 * The signals that end a run (pipe(8)'s time limit, an operator) wait
 * until the files are written: a run ends with its whole result or,
 * killed earlier, with none (clear_out_dir() ran first). */
static int
write_results(const struct process_args *a, const struct process_result *res,
	      const struct gw_buf *json)
{
	char path[4096], name[32];
	sigset_t ends, old;
	size_t i, written = 0;
	int rc;

	sigemptyset(&ends);
	sigaddset(&ends, SIGTERM);
	sigaddset(&ends, SIGINT);
	sigaddset(&ends, SIGHUP);
	sigaddset(&ends, SIGQUIT);
	sigprocmask(SIG_BLOCK, &ends, &old);
	for (i = res->ncopies; i < PROCESS_MAX_COPIES; i++) {
		process_json_copy_name(name, sizeof(name), i);
		if ((rc = out_path(path, sizeof(path), a->out_dir, name)) != 0)
			goto out;
		if (unlink(path) != 0 && errno != ENOENT) {
			rc = gw_err_set(GW_ERR_IO, "%s: %s", path,
					strerror(errno));
			goto out;
		}
	}
	for (i = 0; i < res->ncopies; i++, written++) {
		process_json_copy_name(name, sizeof(name), i);
		if ((rc = out_path(path, sizeof(path), a->out_dir, name)) != 0 ||
		    (rc = cli_file_write(path, &res->copies[i].msg)) != 0)
			goto out;
	}
	if ((rc = out_path(path, sizeof(path), a->out_dir, "result.json")) ==
	    0)
		rc = cli_file_write(path, json);
out:
	if (rc != 0)
		remove_copies(a->out_dir, written);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* ---- main -------------------------------------------------------------- */

/* The exit status of a run that ended with rc (gw_reply.h decides). */
static int
exit_for(int rc)
{
	return gw_reply_for_error(rc).exit_status;
}

int
cli_process_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct process_args a;
	struct process_result res;
	struct gw_config *cfg;
	struct engine eng = {NULL, NULL, NULL};
	struct gw_buf in, json;
	struct gw_reply reply;
	const char *decision;
	char why[1024], det[1200];
	int rc, ex;

	memset(&a, 0, sizeof(a));
	process_result_init(&res);
	gw_buf_init(&in, SMIME_MSG_MAX);
	gw_buf_init(&json, RESULT_MAX);
	if ((a.to = calloc(PROCESS_MAX_RCPT, sizeof(*a.to))) == NULL) {
		cli_fail("process", GW_ERR_NOMEM);
		ex = exit_for(GW_ERR_NOMEM);
		goto out;
	}
	if (parse(argc, argv, &a) != 0) {
		ex = EX_USAGE;
		goto out;
	}
	why[0] = '\0';
	if ((rc = prepare_dir(a.out_dir)) != 0 ||
	    (rc = clear_out_dir(a.out_dir)) != 0) {
		cli_fail("process", rc);
		ex = exit_for(rc);
		goto out;
	}
	if ((rc = cli_file_read(a.in, SMIME_MSG_MAX, &in)) != 0 ||
	    (rc = cli_config(ctx, &cfg)) != 0 ||
	    (rc = cli_engine_open(cfg, &eng)) != 0) {
		ex = exit_for(rc);
		goto failed;
	}
	a.req.authserv_id = cfg->authserv_id;
	a.req.harvest_opts.max_bytes = cfg->harvest_max_size;
	if ((rc = process_message(&eng, &a.req, in.data, in.len, &res)) != 0) {
		ex = exit_for(rc);
		goto failed;
	}
	process_log_summary(&a.req, &res, 0);
	decision = process_decision_name(res.decision);
	ex = res.decision == PROCESS_BOUNCE ? gw_reply_bounce().exit_status
					    : exit_for(0);
	if (res.decision == PROCESS_BOUNCE)
		/* pipe(8) puts this into the bounce message. */
		fprintf(stderr, "smimegw process: %s\n", res.reason);
	if ((rc = process_json(&a.req, &res, decision, res.reason,
			       &json)) != 0 ||
	    (rc = write_results(&a, &res, &json)) != 0) {
		cli_fail("process", rc);
		ex = exit_for(rc);
	}
	goto out;
failed:
	reply = gw_reply_for_error(rc);
	process_log_summary(&a.req, &res, rc);
	snprintf(why, sizeof(why), "%s%s%s", gw_strerror(rc),
		 *gw_err_detail() ? ": " : "", cli_err_detail(det, sizeof(det)));
	fprintf(stderr, "smimegw process: %s\n", why);
	gw_err_clear();
	/* Nothing to deliver: only result.json, saying why. */
	process_result_free(&res);
	process_result_init(&res);
	if (process_json(&a.req, &res,
			 gw_reply_is_temporary(&reply) ? "defer" : "reject",
			 why, &json) != 0 ||
	    write_results(&a, &res, &json) != 0) {
		cli_fail("process", GW_ERR_IO);
		ex = exit_for(GW_ERR_IO);
	}
out:
	process_result_free(&res);
	cli_engine_close(&eng);
	free(a.to);
	gw_buf_free_secret(&in);
	gw_buf_free(&json);
	return ex;
}
