/* cli_pubkey.c - "smimegw pubkey ...": partners' public keys. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "cert_check.h"
#include "cert_info.h"
#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "identity.h"
#include "keystore.h"
#include "lookup.h"
#include "textstream.h"

#define W 21 /* label width in "show" output */

static const char pubkey_usage_text[] =
    "usage: smimegw pubkey COMMAND ...\n"
    "  add NAME [FILE] [--allow-expired]  store a partner certificate "
    "(PEM;\n"
    "                                     no FILE or '-': standard "
    "input)\n"
    "  list\n"
    "  show NAME\n"
    "  delete NAME\n"
    "  search TEXT                        name, subject, SAN email or "
    "domain,\n"
    "                                     fingerprint\n"
    "  lookup ADDRESS                     the key that encrypts to "
    "ADDRESS\n"
    "  export FILE                        every key in one text file "
    "('-': stdout)\n"
    "  import FILE [--replace] [--allow-expired]\n"
    "                                     all or nothing; conflicts "
    "refuse the\n"
    "                                     import unless --replace\n";

enum {
	OPT_ALLOW_EXPIRED = 256,
	OPT_REPLACE,
};

static const struct option pubkey_opts[] = {
    {"allow-expired", no_argument, NULL, OPT_ALLOW_EXPIRED},
    {"replace", no_argument, NULL, OPT_REPLACE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd pubkey_cmds[] = {
    {"add", 1, 2, "NAME [FILE]", CLI_OPTS(OPT_ALLOW_EXPIRED)},
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "NAME", NULL},
    {"delete", 1, 1, "NAME", NULL},
    {"search", 1, 1, "TEXT", NULL},
    {"lookup", 1, 1, "ADDRESS", NULL},
    {"export", 1, 1, "FILE", NULL},
    {"import", 1, 1, "FILE", CLI_OPTS(OPT_REPLACE, OPT_ALLOW_EXPIRED)},
};

struct pubkey_args {
	struct cli_args cli; /* cli.pos[0] NAME or FILE, cli.pos[1] FILE */
	int allow_expired, replace;
};

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct pubkey_args *a = arg;

	if (c == OPT_ALLOW_EXPIRED)
		a->allow_expired = 1;
	else if (c == OPT_REPLACE)
		a->replace = 1;
	return 0;
}

static const struct cli_spec pubkey_spec = {
    "pubkey", pubkey_usage_text, ":h", pubkey_opts, pubkey_cmds,
    sizeof(pubkey_cmds) / sizeof(pubkey_cmds[0]), take_opt,
};

/* The SAN email and DNS entries, escaped, comma-separated, cut. */
static const char *
san_list(X509 *x, char *buf, size_t size)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	const unsigned char *v;
	size_t o = 0, j, n;
	int i;

	buf[0] = '\0';
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_EMAIL && g->type != GEN_DNS)
			continue;
		v = ASN1_STRING_get0_data(g->d.ia5);
		n = (size_t)ASN1_STRING_length(g->d.ia5);
		if (o > 0 && o + 1 < size)
			buf[o++] = ',';
		for (j = 0; j < n && o + 5 < size; j++) {
			if (v[j] >= 0x21 && v[j] < 0x7f && v[j] != '\\')
				buf[o++] = (char)v[j];
			else
				o += (size_t)snprintf(buf + o, size - o,
						      "\\x%02x", v[j]);
		}
		buf[o] = '\0';
	}
	GENERAL_NAMES_free(gens);
	ERR_clear_error();
	if (buf[0] == '\0')
		snprintf(buf, size, "-");
	return buf;
}

static void
list_header(void)
{
	printf("%-20s %-14s %-10s %-13s %-8s %s\n", "NAME", "USE",
	       "NOT AFTER", "STATE", "SOURCE", "ADDRESSES");
}

static int
list_one(void *arg, const struct keystore_key *k)
{
	size_t *count = arg;
	char t[32], sans[512];

	cert_info_time(X509_get0_notAfter(k->cert), t);
	t[10] = '\0';
	printf("%-20s %-14s %-10s %-13s %-8s %s\n", k->name,
	       keystore_caps_name(k->caps), t,
	       cli_show_state(k->cert, time(NULL)),
	       k->source ? k->source : "?",
	       san_list(k->cert, sans, sizeof(sans)));
	if (count != NULL)
		(*count)++;
	return 0;
}

static void
show_key(const struct keystore_key *k)
{
	struct cert_check_opts o;
	struct cert_check_report rep;
	char t[32];
	size_t i;

	printf("%-*s %s\n", W, "Name:", k->name);
	printf("%-*s %s\n", W, "Capabilities:", keystore_caps_name(k->caps));
	cli_show_status(k->cert, W, ": never used to encrypt",
			": not used to encrypt");
	printf("%-*s %s\n", W, "Allow expired:",
	       k->allow_expired ? "yes" : "no");
	printf("%-*s %s\n", W, "Source:", k->source ? k->source : "?");
	printf("%-*s %s\n", W, "Added:", cli_show_time(k->added, t));
	printf("%-*s %s\n", W, "Updated:", cli_show_time(k->updated, t));
	cert_info_print(stdout, k->cert, W);
	memset(&o, 0, sizeof(o));
	o.usage = (k->caps & KEYSTORE_CAP_ENCRYPT) &&
			  !(k->caps & KEYSTORE_CAP_VERIFY)
		      ? CERT_USAGE_ENCRYPT
		  : !(k->caps & KEYSTORE_CAP_ENCRYPT) &&
			  (k->caps & KEYSTORE_CAP_VERIFY)
		      ? CERT_USAGE_SIGN
		      : CERT_USAGE_BOTH;
	o.role = CERT_ROLE_PARTNER;
	o.rules = cert_rules_others();
	cert_check(k->cert, &o, &rep);
	gw_err_clear();
	printf("Requirements (partner, %s):\n", cert_usage_name(o.usage));
	for (i = 0; i < rep.n; i++)
		printf("  %-4s  %-20s %s\n",
		       cert_check_status_name(rep.r[i].status), rep.r[i].name,
		       rep.r[i].detail);
}

static const char *
outcome_name(enum keystore_outcome o)
{
	switch (o) {
	case KEYSTORE_ADDED:
		return "added";
	case KEYSTORE_DUPLICATE:
		return "duplicate";
	case KEYSTORE_CONFLICT:
		return "conflict";
	case KEYSTORE_REPLACED:
		return "replaced";
	case KEYSTORE_PENDING:
		break;
	}
	return "pending";
}

/*
 * Import: the file is read in chunks of whole entries and applied in
 * one write transaction (keystore_pipe_new()), so memory stays
 * bounded whatever its size and the import is all or nothing.  Each
 * entry's outcome line waits in a temporary file until the commit;
 * conflicts are said on stderr when they refuse the import.  When the
 * store's map runs out the transaction is aborted, the map grows and
 * the import runs again from the start of the file.
 */
struct import_run {
	const struct pubkey_args *a;
	const char *what, *src;
	FILE *in, *spool;
	struct keystore_stream *ks;
	int spool_err;
};

static void
import_outcome(void *arg, const char *name, unsigned line,
	       enum keystore_outcome oc)
{
	struct import_run *r = arg;

	if ((oc == KEYSTORE_CONFLICT
		 ? fprintf(r->spool,
			   "E'%s' (line %u): a different certificate is "
			   "stored under this name\n",
			   name, line)
		 : fprintf(r->spool, "O%-10s %s (line %u)%s\n",
			   outcome_name(oc), name, line,
			   oc == KEYSTORE_DUPLICATE
			       ? ": same certificate already stored, skipped"
			       : "")) < 0)
		r->spool_err = 1;
}

/* The spooled lines of kind ('O' outcomes, 'E' conflicts) to fp. */
static void
import_replay(struct import_run *r, int kind, FILE *fp)
{
	char line[512];

	if (fflush(r->spool) != 0 || fseek(r->spool, 0, SEEK_SET) != 0)
		return;
	while (fgets(line, sizeof(line), r->spool) != NULL) {
		if (line[0] != kind)
			continue;
		if (kind == 'E')
			fprintf(fp, "smimegw %s: conflict: %s", r->what,
				line + 1);
		else
			fputs(line + 1, fp);
	}
}

/* One run of the import over the whole file, one batched transaction:
 * each chunk is written while the next is parsed. */
static int
import_once(struct gw_store *st, struct import_run *r)
{
	struct textstream ts;
	struct gw_txn *txn = NULL;
	struct keystore_pipe *pipe = NULL;
	struct keystore_import *imp;
	size_t conflicts;
	int rc;

	textstream_init(&ts, r->in, r->src);
	if ((rc = keystore_stream_new(r->a->allow_expired, r->a->replace,
				      time(NULL), &r->ks)) != 0 ||
	    (r->spool = tmpfile()) == NULL) {
		rc = rc ? rc : gw_err_set(GW_ERR_IO, "a temporary file: %s",
					 strerror(errno));
		goto out;
	}
	if ((rc = gw_txn_begin_batched(st, &txn)) != 0 ||
	    (rc = keystore_pipe_new(r->ks, &ts, r->src, NULL, 0, &pipe)) != 0)
		goto out;
	/* An error of a chunk comes before one of the next (parsed
	 * meanwhile). */
	while ((rc = keystore_pipe_next(pipe, &imp)) == 0 && imp != NULL) {
		rc = keystore_stream_apply(r->ks, txn, imp, r->src,
					   import_outcome, r);
		if (rc == 0)
			rc = gw_txn_checkpoint(txn);
		gw_store_trim(st);
		if (rc != 0)
			break;
	}
	if (rc != 0)
		goto out;
	if (ts.no == 0) {
		rc = gw_err_set(GW_ERR_PARSE, "%s: empty input", r->src);
		goto out;
	}
	if (r->spool_err) {
		rc = gw_err_set(GW_ERR_IO, "cannot write a temporary file");
		goto out;
	}
	conflicts = keystore_stream_total(r->ks, KEYSTORE_CONFLICT);
	if (conflicts > 0) {
		import_replay(r, 'E', stderr);
		rc = gw_err_set(GW_ERR_EXISTS,
				"%zu name%s already stored with a different "
				"certificate; nothing was imported "
				"(--replace overwrites them)",
				conflicts, conflicts == 1 ? " is" : "s are");
		goto out;
	}
	rc = gw_txn_commit(txn);
	txn = NULL;
out:
	keystore_pipe_free(pipe);
	gw_txn_abort(txn);
	return rc;
}

static void
import_reset(struct import_run *r)
{
	keystore_stream_free(r->ks);
	r->ks = NULL;
	if (r->spool != NULL)
		fclose(r->spool);
	r->spool = NULL;
	r->spool_err = 0;
}

static int
cmd_import(struct gw_store *st, const struct pubkey_args *a, const char *what)
{
	struct import_run r;
	const char *path = a->cli.pos[0];
	unsigned long long size = 0;
	size_t n, cnt[KEYSTORE_REPLACED + 1], i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.a = a;
	r.what = what;
	r.src = strcmp(path, "-") ? path : "stdin";
	if ((rc = cli_input_open(path, &r.in, &size)) != 0)
		return rc;
	/* Room for the records and their index entries, about the size of
	 * the text; the map grows again should it not do. */
	if ((rc = gw_store_reserve(st, (size_t)size * 2)) != 0)
		goto out;
	while ((rc = import_once(st, &r)) == GW_ERR_STORE_FULL) {
		gw_err_clear();
		import_reset(&r);
		if ((rc = gw_store_grow(st)) != 0 ||
		    fseek(r.in, 0, SEEK_SET) != 0) {
			rc = rc ? rc : gw_err_set(GW_ERR_IO, "%s: %s", r.src,
						 strerror(errno));
			goto out;
		}
	}
	if (rc != 0)
		goto out;
	import_replay(&r, 'O', stdout);
	for (i = 0, n = 0; i <= KEYSTORE_REPLACED; i++)
		n += cnt[i] = keystore_stream_total(r.ks, i);
	printf("imported %zu key%s: %zu added, %zu replaced, %zu "
	       "duplicate%s skipped\n",
	       n, n == 1 ? "" : "s", cnt[KEYSTORE_ADDED],
	       cnt[KEYSTORE_REPLACED], cnt[KEYSTORE_DUPLICATE],
	       cnt[KEYSTORE_DUPLICATE] == 1 ? "" : "s");
out:
	import_reset(&r);
	fclose(r.in);
	return rc;
}

/* Export: written to the file as it is made (cli_output). */
static int
cmd_export(struct gw_store *st, struct gw_txn *txn, const char *path)
{
	struct cli_output o;
	struct gw_buf buf;
	size_t count = 0;
	int rc, wr;

	gw_buf_init(&buf, KEYSTORE_EXPORT_MAX);
	if ((rc = cli_output_open(&o, path)) != 0)
		return rc;
	o.st = st;
	gw_buf_set_sink(&buf, CLI_OUTPUT_FLUSH, cli_output_sink, &o);
	if ((rc = keystore_export(txn, &buf)) == 0 &&
	    (rc = gw_buf_flush(&buf)) == 0)
		rc = gw_txn_count(txn, GW_DB_PUBKEYS, &count);
	wr = cli_output_close(&o, rc == 0);
	if (rc == 0)
		rc = wr;
	if (rc == 0 && strcmp(path, "-") != 0)
		printf("exported %zu public key%s to %s\n", count,
		       count == 1 ? "" : "s", path);
	gw_buf_free(&buf);
	return rc;
}

int
cli_pubkey_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct pubkey_args a;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct keystore_key *k = NULL;
	struct lookup_match m;
	struct gw_buf buf;
	X509 *x = NULL;
	const char *cmd, *file, *const *pos = a.cli.pos;
	char t[32], fp[96];
	size_t count = 0;
	int rc = 0, ex = CLI_EXIT_OK, wr;

	memset(&a, 0, sizeof(a));
	gw_buf_init(&buf, KEYSTORE_EXPORT_MAX);
	if ((ex = cli_args_parse(&pubkey_spec, argc, argv, &a, &a.cli)) != 0)
		goto out;
	cmd = a.cli.cmd->name;
	/* Read and check the input before touching the store. */
	if (strcmp(cmd, "add") == 0) {
		if (!identity_name_valid(pos[0])) {
			rc = gw_err_set(GW_ERR_INVALID,
					"NAME: '%s' must be 1-64 letters, "
					"digits, '.', '_' or '-', starting "
					"with a letter or digit",
					pos[0]);
			goto fail;
		}
		file = a.cli.npos > 1 ? pos[1] : "-";
		if ((rc = cli_file_read(file, KEYSTORE_PEM_MAX, &buf)) != 0 ||
		    (rc = keystore_read_pem((const char *)buf.data, buf.len,
					    strcmp(file, "-") ? file : "stdin",
					    &x)) != 0)
			goto fail;
	}
	if ((rc = strcmp(cmd, "add") == 0 || strcmp(cmd, "import") == 0
		      ? cli_store_create(ctx, NULL, &st)
		      : cli_store_open(ctx, NULL, &st)) != 0)
		goto fail;
	wr = strcmp(cmd, "add") == 0 || strcmp(cmd, "delete") == 0;
	if (strcmp(cmd, "import") == 0) {
		if ((rc = cmd_import(st, &a, a.cli.what)) != 0)
			goto fail;
		goto out;
	}
	if ((rc = gw_txn_begin(st, wr ? GW_TXN_WRITE : GW_TXN_READ, &txn)) !=
	    0)
		goto fail;

	if (strcmp(cmd, "add") == 0) {
		if ((rc = keystore_add(txn, pos[0], x, a.allow_expired,
				       time(NULL))) != 0 ||
		    (rc = keystore_get(txn, pos[0], &k)) != 0 ||
		    (rc = cli_txn_commit(&txn)) != 0)
			goto fail;
		printf("added public key '%s' (%s)\n", k->name,
		       keystore_caps_name(k->caps));
		show_key(k);
	} else if (strcmp(cmd, "delete") == 0) {
		if ((rc = keystore_del(txn, pos[0])) != 0 ||
		    (rc = cli_txn_commit(&txn)) != 0)
			goto fail;
		printf("deleted public key '%s'\n", pos[0]);
	} else if (strcmp(cmd, "list") == 0) {
		list_header();
		if ((rc = keystore_foreach_lean(txn, list_one, NULL)) != 0)
			goto fail;
	} else if (strcmp(cmd, "show") == 0) {
		if ((rc = keystore_get(txn, pos[0], &k)) != 0)
			goto fail;
		show_key(k);
	} else if (strcmp(cmd, "search") == 0) {
		list_header();
		if ((rc = keystore_search(txn, pos[0], list_one, &count)) !=
		    0)
			goto fail;
		if (count == 0) {
			rc = gw_err_set(GW_ERR_NOT_FOUND,
					"no public key matches '%.256s'",
					pos[0]);
			goto fail;
		}
	} else if (strcmp(cmd, "lookup") == 0) {
		if ((rc = lookup_key_match(txn, pos[0], time(NULL), &x,
						&m)) != 0)
			goto fail;
		printf("%-*s %s\n", W, "Address:", pos[0]);
		printf("%-*s %s\n", W, "Key:", m.name);
		printf("%-*s %s\n", W, "Source:",
		       m.harvested ? "harvested keys" : "public keys");
		printf("%-*s %s %s\n", W, "Match:",
		       addr_rule_match_name(m.kind), m.san);
		printf("%-*s %s\n", W, "Not after:",
		       cert_info_time(X509_get0_notAfter(x), t));
		printf("%-*s %s\n", W, "SHA-256 fingerprint:",
		       cert_info_fingerprint(x, fp));
	} else if (strcmp(cmd, "export") == 0) {
		if ((rc = cmd_export(st, txn, pos[0])) != 0)
			goto fail;
	}
	goto out;
fail:
	ex = cli_fail(a.cli.what, rc);
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	keystore_key_free(k);
	X509_free(x);
	gw_buf_free(&buf);
	return ex;
}
