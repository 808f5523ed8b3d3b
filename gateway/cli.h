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

/* getopt_long()'s '?' (unknown option) and ':' (missing value) as usage
 * errors naming the option; returns CLI_EXIT_USAGE. */
int cli_getopt_error(const char *what, int c, char **argv);

/* 0 when option c is in allowed (0-terminated); otherwise a usage error
 * "option '--x' does not apply to 'WHAT'" and CLI_EXIT_USAGE. */
int cli_opt_allowed(const char *what, const int *allowed,
		    const struct option *opts, int c);

/* The whole of path ('-' or NULL: stdin) into b, at most max bytes;
 * an empty file is GW_ERR_PARSE.  b is initialised here; the caller
 * frees it in every case. */
int cli_file_read(const char *path, size_t max, struct gw_buf *b);
/* b into path atomically (a temporary file renamed over it), or to
 * stdout for '-'. */
int cli_file_write(const char *path, const struct gw_buf *b);

/*
 * "profile import" and "config import": reads path, parses it as a
 * profile file (config 0) or a configuration file (config 1), applies
 * it in one write transaction of the store under cfg and reports each
 * object's outcome on stdout, conflicts on stderr.  Returns 0 or a
 * GW_ERR_* code with a latched detail (nothing was written then).
 */
struct gw_store;
int cli_policy_import(struct gw_store *st, const char *path, int config,
		      int replace, const char *what);

int cli_cert_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_message_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_config_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_pubkey_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_ca_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_harvested_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_alerts_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_profile_main(struct cli_ctx *ctx, int argc, char **argv);
int cli_process_main(struct cli_ctx *ctx, int argc, char **argv);

#endif
