/*
 * cli.h - the smimegw command-line front: shared context and helpers.
 *
 * Exit status of every command: 0 success, 1 the operation failed (the
 * reason is on stderr), 2 usage error.  Commands that follow other
 * conventions (message open, process) say so in smimegw(1).
 */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

#include <openssl/types.h>

#include "gw_buf.h"
#include "gw_config.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

struct cli_ctx {
	const char *conf_opt;	/* -c argument or NULL */
	struct gw_config *cfg;	/* loaded on first use */
};

/* Loads the configuration once; returns 0 or a GW_ERR_* code. */
int cli_config(struct cli_ctx *ctx, struct gw_config **out);

/* Prints "smimegw WHAT: reason: detail" and returns the exit status for
 * rc (CLI_EXIT_USAGE for GW_ERR_USAGE, CLI_EXIT_FAIL otherwise). */
int cli_fail(const char *what, int rc);

/* Prints a usage error and returns CLI_EXIT_USAGE. */
int cli_usage(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "--name" of the long option whose value is c, for messages. */
const char *cli_opt_name(const struct option *opts, int c);
/* 1 when option value c is in list (0-terminated; NULL: empty). */
int cli_opt_in(const int *list, int c);

/*
 * The command line of "smimegw NAME SUBCOMMAND [options] [operands]",
 * from tables (cli_args.c).  A subcommand:
 */
struct cli_cmd {
	const char *name;
	int min, max;	       /* operands, max at most CLI_ARGS_MAX_POS */
	const char *operands;  /* "missing OPERANDS" when fewer than min;
				* NULL: the caller checks min itself */
	const int *allowed;    /* the options it takes: CLI_OPTS() or NULL */
};

/* A 0-terminated list of option values, for cli_cmd.allowed. */
#define CLI_OPTS(...) ((const int[]){__VA_ARGS__, 0})

#define CLI_ARGS_MAX_POS 2

/* A command: its subcommands and options. */
struct cli_spec {
	const char *name;	    /* "pubkey" */
	const char *usage;	    /* the help text */
	const char *shortopts;	    /* for getopt_long(): ":h" and more */
	const struct option *opts;  /* with {"help", ..., 'h'} */
	const struct cli_cmd *cmds; /* NULL: a command without subcommands
				     * takes every option, no operand */
	size_t ncmds;
	/*
	 * Takes option c, already allowed for the subcommand, with its value
	 * (NULL for a flag).  Returns 0, or the exit status after reporting
	 * why not (cli_usage(), cli_fail()).  NULL: options are ignored.
	 */
	int (*opt)(void *arg, int c, const char *value, const char *what);
};

struct cli_args {
	const struct cli_cmd *cmd;	/* the subcommand (NULL: none) */
	char what[64];			/* "pubkey add": for messages */
	const char *pos[CLI_ARGS_MAX_POS]; /* the operands, borrowed */
	int npos;
};

/*
 * Parses argv (argv[0] is the command's name) by spec into out, handing
 * each option to spec->opt(arg, ...).  With subcommands, no argument
 * shows the help text on stderr, and "--help" or "-h" as the first one
 * on stdout; an unknown subcommand is a usage error.  Then options not
 * allowed for the subcommand, unknown ones, ones without their value,
 * more operands than max and fewer than min are usage errors naming
 * out->what.  "-h" or "--help" among the options shows the help text
 * and exits with CLI_EXIT_OK, as does "--help" first.  Returns 0, or the
 * exit status the command returns at once (the reason is on stderr).
 */
int cli_args_parse(const struct cli_spec *spec, int argc, char **argv,
		   void *arg, struct cli_args *out);

/* The whole of path ('-' or NULL: stdin) into b, at most max bytes;
 * an empty file is GW_ERR_PARSE.  b is initialised here; the caller
 * frees it in every case. */
int cli_file_read(const char *path, size_t max, struct gw_buf *b);
/* b into path atomically (a temporary file renamed over it), or to
 * stdout for '-'. */
int cli_file_write(const char *path, const struct gw_buf *b);
/* cli_file_write(), then, unless path is '-', "exported N NOUNs to
 * path" on stdout (noun singular; an 's' for N other than 1). */
int cli_file_export(const char *path, const struct gw_buf *b, size_t n,
		    const char *noun);

/*
 * Large files, never whole in memory (issue 10).
 *
 * cli_input_open(): an import's input as a stream that can be read
 * again from the start (an import runs again after the store's map
 * grew): the file path, or for '-' (or NULL) standard input copied
 * first to an unlinked temporary file; *size its size.  An empty input
 * is GW_ERR_PARSE, as for cli_file_read().
 *
 * struct cli_output: an export written as it is made: to a temporary
 * file next to path, flushed, synced and renamed over path by
 * cli_output_close(ok) (removed when !ok), or to stdout for '-'.
 * cli_output_sink() is the gw_buf_set_sink() function that writes.
 */
int cli_input_open(const char *path, FILE **fp, unsigned long long *size);

struct cli_output {
	struct gw_store *st;	/* when set: trimmed at each write */
	const char *path;
	char *tmp;
	FILE *fp;
	unsigned long long bytes;
};
#define CLI_OUTPUT_FLUSH ((size_t)1 << 20)
int cli_output_open(struct cli_output *o, const char *path);
int cli_output_sink(void *arg, const unsigned char *p, size_t n);
int cli_output_close(struct cli_output *o, int ok);

/* The latched error detail as the command line shows it: a field the
 * libraries named becomes its option ("--cert: ..."); buf holds it when
 * needed.  Valid until gw_err_clear(). */
const char *cli_err_detail(char *buf, size_t len);

struct gw_store;
struct gw_txn;
/* Loads the configuration (cfg may be NULL) and opens its store into
 * *st, which the caller closes; returns 0 or a GW_ERR_* code.  A
 * missing or empty store is an error (GW_ERR_STORE). */
int cli_store_open(struct cli_ctx *ctx, struct gw_config **cfg,
		   struct gw_store **st);
/* The same for commands that add objects: a missing store is created,
 * with "smimegw: created a new store in DIR" on stderr. */
int cli_store_create(struct cli_ctx *ctx, struct gw_config **cfg,
		     struct gw_store **st);
/* That line, when the open of st created the store. */
void cli_store_announce(const struct gw_store *st);
struct engine;
/* Opens the store of cfg and a key source over its token (opened on
 * first need) into *e; cli_engine_close() closes both (also after a
 * failure). */
int cli_engine_open(const struct gw_config *cfg, struct engine *e);
void cli_engine_close(struct engine *e);

/* The process-wide rules smimegw.conf sets (address_local_part,
 * cert_requirements: addr_rule.h, cert_check.h); cli_config() and
 * cli_engine_open() apply them.  Returns 0 or GW_ERR_CONFIG. */
int cli_rules_apply(const struct gw_config *cfg);

struct certmgr_config;
/* What certmgr_open() needs, from cfg (which must outlive it). */
struct certmgr_config cli_certmgr_config(const struct gw_config *cfg);

/* Commits *txn and sets *txn to NULL, also when the commit fails (the
 * transaction is gone then too); returns 0 or a GW_ERR_* code. */
int cli_txn_commit(struct gw_txn **txn);

/* Output of "list" and "show" (cli_show.c).  The state of x at now:
 * "valid", "expired" or "not-yet-valid". */
const char *cli_show_state(X509 *x, time_t now);
/* secs since the epoch as "YYYY-MM-DD HH:MM:SS UTC" in buf; returns buf. */
const char *cli_show_time(uint64_t secs, char buf[32]);
/* "Status:" (label width wide) and x's state now: valid until, EXPIRED
 * on (then the expired text), or NOT YET VALID until (then not_yet). */
void cli_show_status(X509 *x, int width, const char *expired,
		     const char *not_yet);

/*
 * "profile import" and "config import": reads path, parses it as a
 * profile file (config 0) or a configuration file (config 1), applies
 * it in one write transaction of the store under cfg and reports each
 * object's outcome on stdout, conflicts and warnings on stderr.
 * added_ids (may be NULL) gets the names of the identities added, each
 * NUL-terminated.  Returns 0 or a GW_ERR_* code with a latched detail
 * (nothing was written then).
 */
int cli_policy_import(struct gw_store *st, const char *path, int config,
		      int replace, const char *what, struct gw_buf *added_ids);

int cli_cert_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_message_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_config_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_pubkey_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_ca_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_harvested_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_alerts_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_profile_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_route_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_process_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_store_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_daemon_main(struct cli_ctx *ctx, int argc, char **argv);

#endif
