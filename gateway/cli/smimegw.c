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
#include "gw_reply.h"
#include "gw_store.h"
#include "log.h"

int
cli_config(struct cli_ctx *ctx, struct gw_config **out)
{
	int rc, level;

	if (ctx->cfg == NULL &&
	    (rc = gw_config_load(gw_config_path(ctx->conf_opt), &ctx->cfg)) !=
		0)
		return rc;
	if ((rc = cli_rules_apply(ctx->cfg)) != 0)
		return rc;
	if (log_level_parse(ctx->cfg->log_level, &level) == 0)
		log_init("smimegw", 0, level);
	*out = ctx->cfg;
	return 0;
}

int
cli_store_open(struct cli_ctx *ctx, struct gw_config **cfg,
	       struct gw_store **st)
{
	struct gw_config *c;
	int rc;

	if ((rc = cli_config(ctx, &c)) != 0)
		return rc;
	if (cfg != NULL)
		*cfg = c;
	if ((rc = gw_store_open_ex(c->data_dir, (size_t)c->store_map_size, 0,
				   st)) == 0)
		gw_store_set_batch(*st, (size_t)c->store_import_batch);
	return rc;
}

void
cli_store_announce(const struct gw_store *st)
{
	if (gw_store_created(st))
		fprintf(stderr, "smimegw: created a new store in %s\n",
			gw_store_path(st));
}

int
cli_store_create(struct cli_ctx *ctx, struct gw_config **cfg,
		 struct gw_store **st)
{
	struct gw_config *c;
	int rc;

	if ((rc = cli_config(ctx, &c)) != 0)
		return rc;
	if (cfg != NULL)
		*cfg = c;
	if ((rc = gw_store_open_ex(c->data_dir, (size_t)c->store_map_size,
				   GW_STORE_CREATE, st)) == 0) {
		gw_store_set_batch(*st, (size_t)c->store_import_batch);
		cli_store_announce(*st);
	}
	return rc;
}

int
cli_txn_commit(struct gw_txn **txn)
{
	int rc = gw_txn_commit(*txn);

	*txn = NULL;
	return rc;
}

int
cli_fail(const char *what, int rc)
{
	char buf[1200];
	const char *d = cli_err_detail(buf, sizeof(buf));

	if (*d != '\0')
		fprintf(stderr, "smimegw %s: %s: %s\n", what, gw_strerror(rc),
			d);
	else
		fprintf(stderr, "smimegw %s: %s\n", what, gw_strerror(rc));
	return rc == GW_ERR_USAGE ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

/* The command-line option that sets a field the libraries name (see
 * gw_err_set_at()); the others are "--" and the field's own name. */
static const struct {
	const char *field;
	const char *option;
} field_options[] = {
    {"identity", "--cert"},
    {"recipients", "--to"},
};

const char *
cli_err_detail(char *buf, size_t len)
{
	const char *f = gw_err_field(), *d = gw_err_detail();
	size_t i;

	if (f == NULL)
		return d;
	for (i = 0; i < sizeof(field_options) / sizeof(field_options[0]); i++)
		if (strcmp(f, field_options[i].field) == 0) {
			snprintf(buf, len, "%s: %s", field_options[i].option,
				 d);
			return buf;
		}
	snprintf(buf, len, "--%s: %s", f, d);
	return buf;
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

/* The commands, in the order of the help text below. */
static const struct {
	const char *name;
	int (*main)(struct cli_ctx *ctx, int argc, char **argv);
} commands[] = {
    {"cert", cli_cert_main},
    {"message", cli_message_main},
    {"pubkey", cli_pubkey_main},
    {"ca", cli_ca_main},
    {"profile", cli_profile_main},
    {"route", cli_route_main},
    {"harvested", cli_harvested_main},
    {"alerts", cli_alerts_main},
    {"process", cli_process_main},
    {"config", cli_config_main},
    {"store", cli_store_main},
    {"daemon", cli_daemon_main},
};

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
		"  route add|remove|list|show|clear|test\n"
		"                      which sending profile a sender or "
		"recipient gets\n"
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
		"                      everything in the store as one file "
		"(a backup)\n"
		"  store check         read every page and record of the "
		"store\n"
		"  daemon status|reload\n"
		"                      the running smimegwd, through its "
		"control socket\n"
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
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct cli_ctx ctx = {NULL, NULL};
	size_t i;
	int c, rc;

	/* Plaintext and the PIN pass through this process: no core dump
	 * may hold them.  Refused as a temporary failure (75), which also
	 * keeps a pipe(8) caller's message queued. */
	if ((rc = gw_buf_no_dumps()) != 0) {
		fprintf(stderr, "smimegw: %s\n", gw_err_detail());
		return gw_reply_for_error(rc).exit_status;
	}
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
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i < sizeof(commands) / sizeof(commands[0])) {
		rc = commands[i].main(&ctx, argc, argv);
	} else {
		fprintf(stderr, "smimegw: unknown command '%s'\n", argv[0]);
		usage(stderr);
		rc = CLI_EXIT_USAGE;
	}
	gw_config_free(ctx.cfg);
	return rc;
}
