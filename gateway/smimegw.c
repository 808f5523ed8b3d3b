/* smimegw.c - the smimegw command: global options and dispatch. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: smimegw [-c FILE] COMMAND ...\n"
		"\n"
		"commands:\n"
		"  cert create|csr|install|import|list|show|export|delete\n"
		"                      the gateway's own S/MIME identities\n"
		"  message sign|encrypt|sign-encrypt|triple|open|decrypt|verify\n"
		"                      S/MIME on one message (stdin to stdout)\n"
		"  pubkey add|list|show|delete|search|lookup|export|import\n"
		"                      partners' public keys (encryption, "
		"verification)\n"
		"  ca add|list|show|delete\n"
		"                      trusted CAs for verifying signatures\n"
		"  profile add|edit|delete|list|show|search|export|import\n"
		"                      sending profiles: how outgoing mail is "
		"protected\n"
		"  harvested list|show|delete|promote|export\n"
		"                      keys harvested from signed mail\n"
		"  alerts list|clear   operator alerts (harvested key updates, "
		"evictions)\n"
		"  process --direction outgoing|incoming --from ADDR --to ADDR "
		"...\n"
		"          --out-dir DIR [--profile NAME] [--harvest ...]\n"
		"                      one message through the policy, as the "
		"daemon\n"
		"                      will apply it (result.json, sysexits)\n"
		"  config check|show   validate or print the configuration\n"
		"  config export|import\n"
		"                      public keys, CAs and sending profiles "
		"as one file\n"
		"\n"
		"options:\n"
		"  -c FILE             configuration file (default: "
		"$SMIMEGW_CONF or %s)\n"
		"  -h, --help          this help\n"
		"  -V, --version       print the version\n"
		"\n"
		"See smimegw(1) and smimegw.conf(5).\n",
		SMIMEGW_DEFAULT_CONF);
}

int
cli_config(struct cli_ctx *ctx, struct gw_config **out)
{
	int rc;

	if (ctx->cfg == NULL &&
	    (rc = gw_config_load(gw_config_path(ctx->conf_opt), &ctx->cfg)) !=
		0)
		return rc;
	*out = ctx->cfg;
	return 0;
}

int
cli_fail(const char *what, int rc)
{
	const char *d = gw_err_detail();

	if (*d != '\0')
		fprintf(stderr, "smimegw %s: %s: %s\n", what, gw_strerror(rc),
			d);
	else
		fprintf(stderr, "smimegw %s: %s\n", what, gw_strerror(rc));
	return rc == GW_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

int
cli_usage(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "smimegw %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see smimegw %s --help)\n", what);
	return CLI_EXIT_USAGE;
}

const char *
cli_opt_name(const struct option *opts, int c)
{
	static char buf[64];
	const struct option *o;

	for (o = opts; o->name != NULL; o++)
		if (o->val == c) {
			snprintf(buf, sizeof(buf), "--%s", o->name);
			return buf;
		}
	return "?";
}

int
cli_getopt_error(const char *what, int c, char **argv)
{
	if (c == ':')
		return cli_usage(what, "option '%s' needs a value",
				 argv[optind - 1]);
	return cli_usage(what, "unknown option '%s'", argv[optind - 1]);
}

int
cli_opt_allowed(const char *what, const int *allowed,
		const struct option *opts, int c)
{
	for (; *allowed != 0; allowed++)
		if (*allowed == c)
			return 0;
	return cli_usage(what, "option '%s' does not apply to '%s'",
			 cli_opt_name(opts, c), what);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_ctx ctx = {NULL, NULL};
	int c, rc;

	gw_buf_tune_malloc();
	/* Stop at the first non-option: the rest belongs to the command. */
	while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ctx.conf_opt = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("smimegw %s (%s)\n", SMIMEGW_VERSION,
			       OpenSSL_version(OPENSSL_VERSION));
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[0], "cert") == 0)
		rc = cli_cert_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "message") == 0)
		rc = cli_message_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "config") == 0)
		rc = cli_config_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "pubkey") == 0)
		rc = cli_pubkey_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "ca") == 0)
		rc = cli_ca_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "profile") == 0)
		rc = cli_profile_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "harvested") == 0)
		rc = cli_harvested_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "alerts") == 0)
		rc = cli_alerts_main(&ctx, argc, argv);
	else if (strcmp(argv[0], "process") == 0)
		rc = cli_process_main(&ctx, argc, argv);
	else {
		fprintf(stderr, "smimegw: unknown command '%s'\n", argv[0]);
		usage(stderr);
		rc = CLI_EXIT_USAGE;
	}
	gw_config_free(ctx.cfg);
	return rc;
}
