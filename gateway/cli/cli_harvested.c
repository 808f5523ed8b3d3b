/* cli_harvested.c - "smimegw harvested ...": harvested public keys. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cert_info.h"
#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "identity.h"
#include "keystore.h"
#include "textfmt.h"

#define W 21	    /* label width in "show" output */
#define SHORT_ID 16 /* hex digits of an ID in lists */
#define EXPORT_MAX ((size_t)1 << 30)

static const char harvested_usage_text[] =
    "usage: smimegw harvested COMMAND ...\n"
    "  list\n"
    "  show REF\n"
    "  delete REF\n"
    "  promote REF [--as NAME] [--allow-expired]\n"
    "                  copy the key into the public keys (default name:\n"
    "                  its address with '@' and other characters made '_')\n"
    "  export FILE     every key as a commented PEM bundle ('-': stdout)\n"
    "REF: the ID (SHA-256 fingerprint) or a unique prefix of at least 8 hex\n"
    "digits, or the address when exactly one key has it.\n";

enum {
	OPT_ALLOW_EXPIRED = 256,
	OPT_AS,
};

static const struct option harvested_opts[] = {
    {"allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED},
    {"as", required_argument, NULL, OPT_AS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd harvested_cmds[] = {
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "REF", NULL},
    {"delete", 1, 1, "REF", NULL},
    {"promote", 1, 1, "REF", CLI_OPTS(OPT_AS, OPT_ALLOW_EXPIRED)},
    {"export", 1, 1, "FILE", NULL},
};

struct harvested_args {
	struct cli_args cli;
	const char *pos; /* cli.pos[0] */
	const char *as;
	int allow_expired;
};

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct harvested_args *a = arg;

	if (c == OPT_ALLOW_EXPIRED)
		a->allow_expired = 1;
	else if (c == OPT_AS)
		a->as = value;
	return 0;
}

static const struct cli_spec harvested_spec = {
    "harvested", harvested_usage_text, ":h", harvested_opts, harvested_cmds,
    sizeof(harvested_cmds) / sizeof(harvested_cmds[0]), take_opt,
};

static int
parse_args(int argc, char **argv, struct harvested_args *a)
{
	int ex;

	if ((ex = cli_args_parse(&harvested_spec, argc, argv, a, &a->cli)) !=
	    0)
		return ex;
	a->pos = a->cli.pos[0];
	if (a->as != NULL && !identity_name_valid(a->as))
		return cli_usage(a->cli.what,
				 "--as: '%.80s' must be 1-64 letters, digits, "
				 "'.', '_' or '-', starting with a letter or "
				 "digit",
				 a->as);
	return 0;
}

static const char *
fmt_time(uint64_t secs, char buf[32], int date_only)
{
	time_t t = (time_t)secs;
	struct tm tm;

	if (secs == 0) {
		snprintf(buf, 32, "%s", date_only ? "-" : "never");
		return buf;
	}
	gmtime_r(&t, &tm);
	strftime(buf, 32, date_only ? "%Y-%m-%d" : "%Y-%m-%d %H:%M:%S UTC",
		 &tm);
	return buf;
}

struct list_ctx {
	size_t n;
	time_t now;
};

static int
list_one(void *arg, const struct harvested_key *k)
{
	struct list_ctx *c = arg;
	char seen[32], used[32];

	printf("%-*.*s %-32s %-10s %-10s %6llu %-13s %s\n", SHORT_ID,
	       SHORT_ID, k->id, k->address, fmt_time(k->last_seen, seen, 1),
	       fmt_time(k->last_used, used, 1),
	       (unsigned long long)k->seen_count,
	       cli_show_state(k->cert, c->now), k->updated ? "updated" : "-");
	c->n++;
	return 0;
}

static void
show_key(const struct harvested_key *k)
{
	char t[32];

	printf("%-*s %s\n", W, "ID:", k->id);
	printf("%-*s %s\n", W, "Address:", k->address);
	cli_show_status(k->cert, W, ": never used to encrypt",
			": not used to encrypt");
	printf("%-*s %s\n", W, "First seen:", fmt_time(k->first_seen, t, 0));
	printf("%-*s %s\n", W, "Last seen:", fmt_time(k->last_seen, t, 0));
	printf("%-*s %s\n", W, "Last used:", fmt_time(k->last_used, t, 0));
	printf("%-*s %llu\n", W, "Seen count:",
	       (unsigned long long)k->seen_count);
	printf("%-*s %s\n", W, "Message-ID:",
	       k->message_id[0] ? k->message_id : "-");
	printf("%-*s %s\n", W, "Sender:", k->sender[0] ? k->sender : "-");
	printf("%-*s %s\n", W, "Verification:", k->verification);
	if (k->updated)
		printf("%-*s yes, replaces %s\n", W, "Updated:",
		       k->replaces ? k->replaces : "?");
	else
		printf("%-*s no\n", W, "Updated:");
	printf("%-*s %s\n", W, "Capabilities:",
	       keystore_caps_name(keystore_caps(k->cert)));
	cert_info_print(stdout, k->cert, W);
}

static int
export_one(void *arg, const struct harvested_key *k)
{
	struct gw_buf *out = arg;
	char buf[1024], t1[32], t2[32], fp[96];
	int rc;

	cert_info_name(X509_get_subject_name(k->cert), buf, sizeof(buf));
	if ((rc = gw_buf_addf(out,
			      "\n# id: %s\n# address: %s\n# subject: %s\n"
			      "# sha256: %s\n# first seen: %s\n"
			      "# last seen: %s\n# verification: %s\n",
			      k->id, k->address, buf,
			      cert_info_fingerprint(k->cert, fp),
			      fmt_time(k->first_seen, t1, 0),
			      fmt_time(k->last_seen, t2, 0),
			      k->verification)) != 0)
		return rc;
	return textfmt_add_cert_pem(out, k->cert,
				    "cannot write the certificate of %.16s",
				    k->id);
}

/* A public key name from addr: '@' and other characters not allowed in
 * a name become '_', cut to KEYSTORE_NAME_MAX.  -1 when still invalid. */
static int
name_from_address(const char *addr, char name[KEYSTORE_NAME_MAX + 1])
{
	size_t i;
	char c;

	for (i = 0; addr[i] != '\0' && i < KEYSTORE_NAME_MAX; i++) {
		c = addr[i];
		name[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				  (c >= '0' && c <= '9') || c == '.' ||
				  c == '-'
			      ? c
			      : '_';
	}
	name[i] = '\0';
	return identity_name_valid(name) ? 0 : -1;
}

static int
cmd_promote(struct gw_txn *txn, const struct harvested_args *a,
	    char name[KEYSTORE_NAME_MAX + 1], struct harvested_key **out)
{
	int rc;

	if ((rc = harvested_get(txn, a->pos, out)) != 0)
		return rc;
	if (a->as != NULL)
		snprintf(name, KEYSTORE_NAME_MAX + 1, "%s", a->as);
	else if (name_from_address((*out)->address, name) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "cannot make a public key name from the "
				  "address '%.80s'; give one with --as NAME",
				  (*out)->address);
	rc = keystore_add(txn, name, (*out)->cert, a->allow_expired,
			  time(NULL));
	if (rc == GW_ERR_EXISTS) {
		gw_err_clear();
		rc = gw_err_set(rc,
				"a public key named '%s' already exists; give "
				"another name with --as NAME",
				name);
	}
	return rc;
}

static int
count_one(void *arg, const struct harvested_key *k)
{
	((struct list_ctx *)arg)->n++;
	return 0;
}

static int
run(struct gw_txn **txn, const char *cmd, const struct harvested_args *a,
    uint64_t max)
{
	struct harvested_key *k = NULL;
	struct list_ctx lc;
	struct gw_buf buf;
	char name[KEYSTORE_NAME_MAX + 1];
	uint64_t total = 0;
	int rc = 0;

	memset(&lc, 0, sizeof(lc));
	lc.now = time(NULL);
	gw_buf_init(&buf, EXPORT_MAX);
	if (strcmp(cmd, "list") == 0) {
		printf("%-*s %-32s %-10s %-10s %6s %-13s %s\n", SHORT_ID, "ID",
		       "ADDRESS", "LAST SEEN", "LAST USED", "SEEN", "STATE",
		       "FLAGS");
		if ((rc = harvested_foreach(*txn, list_one, &lc)) != 0 ||
		    (rc = harvested_bytes(*txn, &total)) != 0)
			goto out;
		printf("%zu harvested key%s, %llu of %llu bytes "
		       "(harvest_max_size)\n",
		       lc.n, lc.n == 1 ? "" : "s", (unsigned long long)total,
		       (unsigned long long)max);
	} else if (strcmp(cmd, "show") == 0) {
		if ((rc = harvested_get(*txn, a->pos, &k)) != 0)
			goto out;
		show_key(k);
	} else if (strcmp(cmd, "delete") == 0) {
		if ((rc = harvested_get(*txn, a->pos, &k)) != 0 ||
		    (rc = harvested_del(*txn, k->id)) != 0 ||
		    (rc = cli_txn_commit(txn)) != 0)
			goto out;
		printf("deleted harvested key %.*s for %s\n", SHORT_ID, k->id,
		       k->address);
	} else if (strcmp(cmd, "promote") == 0) {
		if ((rc = cmd_promote(*txn, a, name, &k)) != 0 ||
		    (rc = cli_txn_commit(txn)) != 0)
			goto out;
		printf("promoted harvested key %.*s for %s to public key "
		       "'%s' (%s)\n",
		       SHORT_ID, k->id, k->address, name,
		       keystore_caps_name(keystore_caps(k->cert)));
	} else if (strcmp(cmd, "export") == 0) {
		if ((rc = gw_buf_adds(&buf, "# smimegw harvested public keys: "
					    "one PEM certificate each, with "
					    "its provenance in comments\n")) !=
			0 ||
		    (rc = harvested_foreach(*txn, export_one, &buf)) != 0 ||
		    (rc = harvested_foreach(*txn, count_one, &lc)) != 0)
			goto out;
		gw_txn_abort(*txn);
		*txn = NULL;
		rc = cli_file_export(a->pos, &buf, lc.n, "harvested key");
	}
out:
	gw_buf_free(&buf);
	harvested_key_free(k);
	return rc;
}

int
cli_harvested_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct harvested_args a;
	struct gw_config *cfg;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	const char *cmd;
	int rc = 0, ex = CLI_EXIT_OK, wr;

	memset(&a, 0, sizeof(a));
	if ((ex = parse_args(argc, argv, &a)) != 0)
		return ex;
	cmd = a.cli.cmd->name;
	wr = strcmp(cmd, "delete") == 0 || strcmp(cmd, "promote") == 0;
	if ((rc = cli_store_open(ctx, &cfg, &st)) != 0 ||
	    (rc = gw_txn_begin(st, wr ? GW_TXN_WRITE : GW_TXN_READ, &txn)) !=
		0 ||
	    (rc = run(&txn, cmd, &a, cfg->harvest_max_size)) != 0)
		ex = cli_fail(a.cli.what, rc);
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
