/*
 * cli_args.c - the command line of a table-driven command: the
 * subcommand, its options and its operands, with the usage errors that
 * every "smimegw COMMAND SUBCOMMAND ..." shares.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* getopt_long()'s '?' (unknown option) and ':' (missing value). */
static int
getopt_error(const char *what, int c, char **argv)
{
	if (c == ':')
		return cli_usage(what, "option '%s' needs a value",
				 argv[optind - 1]);
	return cli_usage(what, "unknown option '%s'", argv[optind - 1]);
}

int
cli_opt_in(const int *list, int c)
{
	for (; list != NULL && *list != 0; list++)
		if (*list == c)
			return 1;
	return 0;
}

/* 0 when option c is in allowed (0-terminated, NULL: none). */
static int
opt_allowed(const char *what, const int *allowed, const struct option *opts,
	    int c)
{
	if (cli_opt_in(allowed, c))
		return 0;
	return cli_usage(what, "option '%s' does not apply to '%s'",
			 cli_opt_name(opts, c), what);
}

/* argv[0] is the subcommand (or, without subcommands, the command). */
static int
parse_opts(const struct cli_spec *spec, int argc, char **argv, void *arg,
	   struct cli_args *out)
{
	const struct cli_cmd *cmd = out->cmd;
	int c, ex, max = cmd != NULL ? cmd->max : 0;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, spec->shortopts, spec->opts,
				NULL)) != -1) {
		if (c == 'h') {
			fputs(spec->usage, stdout);
			exit(CLI_EXIT_OK);
		}
		if (c == '?' || c == ':')
			return getopt_error(out->what, c, argv);
		if (cmd != NULL &&
		    opt_allowed(out->what, cmd->allowed, spec->opts, c) != 0)
			return CLI_EXIT_USAGE;
		if (spec->opt != NULL &&
		    (ex = spec->opt(arg, c, optarg, out->what)) != 0)
			return ex;
	}
	/* getopt_long() moved the operands last. */
	for (; optind < argc; optind++) {
		if (out->npos >= max || out->npos >= CLI_ARGS_MAX_POS)
			return cli_usage(out->what, "unexpected argument '%s'",
					 argv[optind]);
		out->pos[out->npos++] = argv[optind];
	}
	if (cmd != NULL && out->npos < cmd->min && cmd->operands != NULL)
		return cli_usage(out->what, "missing %s", cmd->operands);
	return 0;
}

int
cli_args_parse(const struct cli_spec *spec, int argc, char **argv, void *arg,
	       struct cli_args *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	if (spec->cmds == NULL) {
		snprintf(out->what, sizeof(out->what), "%s", spec->name);
		return parse_opts(spec, argc, argv, arg, out);
	}
	if (argc < 2) {
		fputs(spec->usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(spec->usage, stdout);
		exit(CLI_EXIT_OK);
	}
	snprintf(out->what, sizeof(out->what), "%s %s", spec->name, argv[1]);
	for (i = 0; i < spec->ncmds; i++)
		if (strcmp(spec->cmds[i].name, argv[1]) == 0)
			break;
	if (i == spec->ncmds)
		return cli_usage(spec->name, "unknown subcommand '%s'",
				 argv[1]);
	out->cmd = &spec->cmds[i];
	return parse_opts(spec, argc - 1, argv + 1, arg, out);
}
