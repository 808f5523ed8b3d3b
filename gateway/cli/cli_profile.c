/* cli_profile.c - "smimegw profile ...": sending profiles. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "identity.h"
#include "policy_file.h"
#include "profile.h"
#include "route.h"

#define W 21 /* label width in "show" output */

static const char profile_usage_text[] =
    "usage: smimegw profile COMMAND ...\n"
    "  add NAME --mode sign|encrypt|sign-encrypt|triple\n"
    "      [--cert IDENTITY] [--sign-mode detached|opaque]\n"
    "      [--digest sha256|sha384|sha512] [--pss]       (modes that "
    "sign)\n"
    "      [--action bounce|drop|split] [--oaep]\n"
    "      [--cipher aes128-cbc|aes192-cbc|aes256-cbc|aes128-gcm|"
    "aes256-gcm]\n"
    "                                                   (modes that "
    "encrypt)\n"
    "  edit NAME [the options of add] [--no-pss] [--no-oaep]\n"
    "      [--cipher default] [--digest default]\n"
    "      a new mode clears the fields it does not use\n"
    "  delete NAME\n"
    "  list                    with each profile's status: ok, or "
    "UNUSABLE and why\n"
    "  show NAME\n"
    "  search TEXT             name, mode, certificate or action\n"
    "  export FILE             every profile in one text file ('-': "
    "stdout)\n"
    "  import FILE [--replace] all or nothing; conflicts refuse the "
    "import\n"
    "                          unless --replace\n";

enum {
	OPT_MODE = 256,
	OPT_CERT,
	OPT_SIGN_MODE,
	OPT_ACTION,
	OPT_CIPHER,
	OPT_DIGEST,
	OPT_PSS,
	OPT_NO_PSS,
	OPT_OAEP,
	OPT_NO_OAEP,
	OPT_REPLACE,
};

static const struct option profile_opts[] = {
    {"mode", required_argument, NULL, OPT_MODE},
    {"cert", required_argument, NULL, OPT_CERT},
    {"sign-mode", required_argument, NULL, OPT_SIGN_MODE},
    {"action", required_argument, NULL, OPT_ACTION},
    {"cipher", required_argument, NULL, OPT_CIPHER},
    {"digest", required_argument, NULL, OPT_DIGEST},
    {"pss", no_argument, NULL, OPT_PSS},
    {"no-pss", no_argument, NULL, OPT_NO_PSS},
    {"oaep", no_argument, NULL, OPT_OAEP},
    {"no-oaep", no_argument, NULL, OPT_NO_OAEP},
    {"replace", no_argument, NULL, OPT_REPLACE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd profile_cmds[] = {
    {"add", 1, 1, "NAME",
     CLI_OPTS(OPT_MODE, OPT_CERT, OPT_SIGN_MODE, OPT_ACTION, OPT_CIPHER,
	      OPT_DIGEST, OPT_PSS, OPT_OAEP)},
    {"edit", 1, 1, "NAME",
     CLI_OPTS(OPT_MODE, OPT_CERT, OPT_SIGN_MODE, OPT_ACTION, OPT_CIPHER,
	      OPT_DIGEST, OPT_PSS, OPT_NO_PSS, OPT_OAEP, OPT_NO_OAEP)},
    {"delete", 1, 1, "NAME", NULL},
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "NAME", NULL},
    {"search", 1, 1, "TEXT", NULL},
    {"export", 1, 1, "FILE", NULL},
    {"import", 1, 1, "FILE", CLI_OPTS(OPT_REPLACE)},
};

struct profile_args {
	struct cli_args cli;
	const char *cmd;	/* cli.cmd->name */
	const char *pos;	/* cli.pos[0] */
	const char *mode, *cert, *sign_mode, *action, *cipher, *digest;
	int pss, oaep; /* -1: not given; 0: --no-x; 1: --x */
	int replace;
	int changes;   /* options that change a profile */
};

/* A value option given twice is refused rather than the last winning. */
static int
set_once(const char **slot, const char *value, const char *what, int c)
{
	if (*slot != NULL)
		return cli_usage(what, "option '%s' given twice",
				 cli_opt_name(profile_opts, c));
	*slot = value;
	return 0;
}

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct profile_args *a = arg;

	a->changes++;
	switch (c) {
	case OPT_MODE: return set_once(&a->mode, value, what, c);
	case OPT_CERT: return set_once(&a->cert, value, what, c);
	case OPT_SIGN_MODE: return set_once(&a->sign_mode, value, what, c);
	case OPT_ACTION: return set_once(&a->action, value, what, c);
	case OPT_CIPHER: return set_once(&a->cipher, value, what, c);
	case OPT_DIGEST: return set_once(&a->digest, value, what, c);
	case OPT_PSS:
	case OPT_NO_PSS:
		if (a->pss != -1 && a->pss != (c == OPT_PSS))
			return cli_usage(what, "--pss and --no-pss contradict "
					       "each other");
		a->pss = c == OPT_PSS;
		return 0;
	case OPT_OAEP:
	case OPT_NO_OAEP:
		if (a->oaep != -1 && a->oaep != (c == OPT_OAEP))
			return cli_usage(what, "--oaep and --no-oaep "
					       "contradict each other");
		a->oaep = c == OPT_OAEP;
		return 0;
	case OPT_REPLACE:
		a->changes--;
		a->replace = 1;
		return 0;
	}
	return 0;
}

static const struct cli_spec profile_spec = {
    "profile", profile_usage_text, ":h", profile_opts, profile_cmds,
    sizeof(profile_cmds) / sizeof(profile_cmds[0]), take_opt,
};

static int
parse_args(int argc, char **argv, struct profile_args *a)
{
	const char *what = a->cli.what;
	int ex;

	if ((ex = cli_args_parse(&profile_spec, argc, argv, a, &a->cli)) != 0)
		return ex;
	a->cmd = a->cli.cmd->name;
	a->pos = a->cli.pos[0];
	if (strcmp(a->cmd, "add") == 0 && a->mode == NULL)
		return cli_usage(what, "--mode is required (sign, encrypt, "
				       "sign-encrypt or triple)");
	if (strcmp(a->cmd, "edit") == 0 && a->changes == 0)
		return cli_usage(what, "nothing to change: give at least one "
				       "option");
	return 0;
}

/* ---- building a profile from the options -------------------------------- */

/* 1 when the option sets a value the mode must use (rather than
 * resetting one to its default). */
static int
sets(const char *v)
{
	return v != NULL && strcmp(v, "default") != 0;
}

/* The options' values, checked one by one, naming the option. */
static int
parse_values(const struct profile_args *a, struct profile *v)
{
	memset(v, 0, sizeof(*v));
	if (a->mode && profile_mode_parse(a->mode, &v->mode) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "--mode: '%.40s' is not one of sign, "
				  "encrypt, sign-encrypt, triple",
				  a->mode);
	if (a->sign_mode &&
	    profile_sign_mode_parse(a->sign_mode, &v->sign_mode) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "--sign-mode: '%.40s' is not one of "
				  "detached, opaque",
				  a->sign_mode);
	if (a->action && profile_action_parse(a->action, &v->action) != 0)
		return gw_err_set(GW_ERR_INVALID,
				  "--action: '%.40s' is not one of bounce, "
				  "drop, split",
				  a->action);
	if (sets(a->cipher) && cms_alg_cipher(a->cipher) == NULL)
		return gw_err_set(GW_ERR_INVALID,
				  "--cipher: '%.40s' is not one of "
				  "aes128-cbc, aes192-cbc, aes256-cbc, "
				  "aes128-gcm, aes256-gcm (or default)",
				  a->cipher);
	if (sets(a->digest) && cms_alg_digest(a->digest) == NULL)
		return gw_err_set(GW_ERR_INVALID,
				  "--digest: '%.40s' is not one of sha256, "
				  "sha384, sha512 (or default)",
				  a->digest);
	if (a->cert && !identity_name_valid(a->cert))
		return gw_err_set(GW_ERR_INVALID,
				  "--cert: '%.64s' is not a valid identity "
				  "name",
				  a->cert);
	return 0;
}

/* Options that do not apply to the (new) mode are refused. */
static int
check_applies(const struct profile_args *a, enum profile_mode m)
{
	const char *opt = NULL;

	if (!profile_mode_signs(m)) {
		opt = a->cert         ? "--cert"
		      : a->sign_mode  ? "--sign-mode"
		      : sets(a->digest) ? "--digest"
		      : a->pss == 1   ? "--pss"
				      : NULL;
		if (opt != NULL)
			return gw_err_set(GW_ERR_INVALID,
					  "%s: mode '%s' does not sign", opt,
					  profile_mode_name(m));
	}
	if (!profile_mode_encrypts(m)) {
		opt = a->action	       ? "--action"
		      : sets(a->cipher) ? "--cipher"
		      : a->oaep == 1   ? "--oaep"
				       : NULL;
		if (opt != NULL)
			return gw_err_set(GW_ERR_INVALID,
					  "%s: mode '%s' does not encrypt",
					  opt, profile_mode_name(m));
	}
	return 0;
}

/* A mode change on edit: the fields the new mode does not use are
 * cleared; what was cleared (non-default values) goes into note. */
static void
clear_unused(struct profile *p, char *note, size_t len)
{
	size_t o = 0;

	note[0] = '\0';
#define NOTE(...)                                                        \
	do {                                                             \
		if (o < len)                                             \
			o += (size_t)snprintf(note + o, len - o,         \
					      "%s", o ? ", " : "");      \
		if (o < len)                                             \
			o += (size_t)snprintf(note + o, len - o,         \
					      __VA_ARGS__);              \
	} while (0)
	if (!profile_mode_signs(p->mode)) {
		if (p->cert[0] != '\0')
			NOTE("cert '%s'", p->cert);
		if (p->sign_mode != SMIME_SIGN_DETACHED)
			NOTE("sign-mode %s",
			     profile_sign_mode_name(p->sign_mode));
		if (p->digest[0] != '\0')
			NOTE("digest %s", p->digest);
		if (p->pss)
			NOTE("pss");
		p->cert[0] = '\0';
		p->sign_mode = SMIME_SIGN_DETACHED;
		p->digest[0] = '\0';
		p->pss = 0;
	}
	if (!profile_mode_encrypts(p->mode)) {
		if (p->action != PROFILE_ACTION_NONE)
			NOTE("action %s", profile_action_name(p->action));
		if (p->cipher[0] != '\0')
			NOTE("cipher %s", p->cipher);
		if (p->oaep)
			NOTE("oaep");
		p->action = PROFILE_ACTION_NONE;
		p->cipher[0] = '\0';
		p->oaep = 0;
	}
#undef NOTE
}

/* Applies the options to p (a new profile or the stored one). */
static int
apply_opts(const struct profile_args *a, struct profile *p, char *note,
	   size_t nlen)
{
	struct profile v;
	int rc;

	note[0] = '\0';
	if ((rc = parse_values(a, &v)) != 0 ||
	    (rc = check_applies(a, a->mode ? v.mode : p->mode)) != 0)
		return rc;
	if (a->mode && v.mode != p->mode) {
		p->mode = v.mode;
		clear_unused(p, note, nlen);
	}
	if (a->cert)
		snprintf(p->cert, sizeof(p->cert), "%s", a->cert);
	if (a->sign_mode)
		p->sign_mode = v.sign_mode;
	if (a->action)
		p->action = v.action;
	if (a->cipher)
		snprintf(p->cipher, sizeof(p->cipher), "%s",
			 sets(a->cipher) ? a->cipher : "");
	if (a->digest)
		snprintf(p->digest, sizeof(p->digest), "%s",
			 sets(a->digest) ? a->digest : "");
	if (a->pss != -1)
		p->pss = a->pss;
	if (a->oaep != -1)
		p->oaep = a->oaep;
	return 0;
}

/* ---- output ------------------------------------------------------------- */

static void
list_header(void)
{
	printf("%-20s %-13s %-20s %-10s %-7s %s\n", "NAME", "MODE", "CERT",
	       "SIGN MODE", "ACTION", "STATUS");
}

struct list_ctx {
	struct gw_txn *txn;
	size_t count;
};

/* One line; STATUS is "ok", or "UNUSABLE: why" as profile_validate()
 * finds it now (the identity gone, unable to sign, expired...). */
static int
list_one(void *arg, const struct profile *p)
{
	struct list_ctx *c = arg;
	int s = profile_mode_signs(p->mode), e = profile_mode_encrypts(p->mode);
	int rc;

	gw_err_clear();
	if ((rc = profile_validate(c->txn, p, 0)) != 0 &&
	    gw_err_class(rc) == GW_ERRCLASS_TEMPORARY)
		return rc;
	printf("%-20s %-13s %-20s %-10s %-7s %s%s\n", p->name,
	       profile_mode_name(p->mode), s ? p->cert : "-",
	       s ? profile_sign_mode_name(p->sign_mode) : "-",
	       e ? profile_action_name(p->action) : "-",
	       rc == 0 ? "ok" : "UNUSABLE: ",
	       rc == 0 ? "" : *gw_err_detail() ? gw_err_detail()
					       : gw_strerror(rc));
	gw_err_clear();
	c->count++;
	return 0;
}

static const char *
action_text(enum profile_action a)
{
	switch (a) {
	case PROFILE_ACTION_BOUNCE:
		return "bounce (a recipient without a usable public key "
		       "bounces the message to the sender)";
	case PROFILE_ACTION_DROP:
		return "drop (a recipient without a usable public key drops "
		       "the message)";
	case PROFILE_ACTION_SPLIT:
		return "split (recipients without a usable public key get "
		       "the message unencrypted)";
	case PROFILE_ACTION_NONE:
		break;
	}
	return "-";
}

/* The fields, then Status: profile_validate() in txn, or "ok" when txn
 * is NULL (validated by the caller). */
static void
show_profile(struct gw_txn *txn, const struct profile *p)
{
	int s = profile_mode_signs(p->mode), e = profile_mode_encrypts(p->mode);
	int rc = 0;
	char t[32];

	printf("%-*s %s\n", W, "Name:", p->name);
	printf("%-*s %s\n", W, "Mode:", profile_mode_name(p->mode));
	printf("%-*s %s\n", W, "Signing certificate:", s ? p->cert : "-");
	printf("%-*s %s\n", W, "Sign mode:",
	       s ? profile_sign_mode_name(p->sign_mode) : "-");
	printf("%-*s %s%s\n", W, "Digest:",
	       !s ? "-" : p->digest[0] ? p->digest : "sha256",
	       s && !p->digest[0] ? " (default)" : "");
	printf("%-*s %s\n", W, "RSASSA-PSS:", !s ? "-" : p->pss ? "yes" : "no");
	printf("%-*s %s\n", W, "Action:", e ? action_text(p->action) : "-");
	printf("%-*s %s%s\n", W, "Cipher:",
	       !e ? "-" : p->cipher[0] ? p->cipher : "aes256-cbc",
	       e && !p->cipher[0] ? " (default)" : "");
	printf("%-*s %s\n", W, "RSA-OAEP:", !e ? "-" : p->oaep ? "yes" : "no");
	printf("%-*s %s\n", W, "Added:", cli_show_time(p->added, t));
	printf("%-*s %s\n", W, "Updated:", cli_show_time(p->updated, t));
	gw_err_clear();
	if (txn == NULL || (rc = profile_validate(txn, p, 0)) == 0)
		printf("%-*s ok\n", W, "Status:");
	else
		printf("%-*s UNUSABLE: %s\n", W, "Status:",
		       *gw_err_detail() ? gw_err_detail() : gw_strerror(rc));
	gw_err_clear();
}

/* ---- commands ----------------------------------------------------------- */

/* Commits *txnp (and sets it to NULL) on success; on failure the
 * caller aborts it. */
static int
cmd_add_edit(struct gw_txn **txnp, const struct profile_args *a, int edit)
{
	struct gw_txn *txn = *txnp;
	struct profile p;
	char note[256];
	time_t now = time(NULL);
	int rc;

	memset(&p, 0, sizeof(p));
	if (edit) {
		if ((rc = profile_get(txn, a->pos, &p)) != 0)
			return rc;
	} else {
		if (!identity_name_valid(a->pos))
			return gw_err_set(GW_ERR_INVALID,
					  "NAME: '%.64s' must be 1-64 letters, "
					  "digits, '.', '_' or '-', starting "
					  "with a letter or digit",
					  a->pos);
		snprintf(p.name, sizeof(p.name), "%s", a->pos);
		p.sign_mode = SMIME_SIGN_DETACHED;
		p.added = (uint64_t)now;
	}
	if ((rc = apply_opts(a, &p, note, sizeof(note))) != 0 ||
	    (rc = profile_validate(txn, &p, now)) != 0)
		return rc;
	p.updated = (uint64_t)now;
	if ((rc = profile_put(txn, &p, edit ? 0 : GW_PUT_NOOVERWRITE)) != 0 ||
	    (rc = cli_txn_commit(txnp)) != 0)
		return rc;
	printf("%s sending profile '%s'\n", edit ? "updated" : "added", p.name);
	if (note[0] != '\0')
		printf("mode '%s' does not use them: cleared %s\n",
		       profile_mode_name(p.mode), note);
	show_profile(NULL, &p);
	return 0;
}

static int
count_one(void *arg, const struct profile *p)
{
	(*(size_t *)arg)++;
	return 0;
}

static int
cmd_export(struct gw_txn *txn, const char *path)
{
	struct gw_buf out;
	size_t n = 0;
	int rc;

	gw_buf_init(&out, POLICY_FILE_MAX);
	if ((rc = policy_file_export_profiles(txn, &out)) == 0 &&
	    (rc = profile_foreach(txn, count_one, &n)) == 0)
		rc = cli_file_export(path, &out, n, "sending profile");
	gw_buf_free(&out);
	return rc;
}

/* A profile that an entry of the table names is not deleted: mail that
 * entry matches would be deferred until the profile came back. */
static int
refuse_in_table(struct gw_txn *txn, const char *name)
{
	struct route_table t;
	size_t pos;
	int rc;

	if ((rc = route_table_get(txn, &t)) != 0)
		return rc;
	if ((pos = route_table_uses(&t, name)) != 0)
		rc = gw_err_set(GW_ERR_INVALID,
				"refused (in use): sending profile '%s' is "
				"named by entry %zu of the sending profile "
				"table ('smimegw route list'; 'smimegw route "
				"remove %zu' first)",
				name, pos, pos);
	route_table_free(&t);
	return rc;
}

int
cli_profile_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct profile_args a;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	struct profile p;
	struct list_ctx lc = {NULL, 0};
	int rc = 0, ex = CLI_EXIT_OK, wr;

	memset(&a, 0, sizeof(a));
	a.pss = a.oaep = -1;
	if ((ex = parse_args(argc, argv, &a)) != 0)
		return ex;
	if ((rc = strcmp(a.cmd, "add") == 0 || strcmp(a.cmd, "import") == 0
		      ? cli_store_create(ctx, NULL, &st)
		      : cli_store_open(ctx, NULL, &st)) != 0)
		goto fail;
	if (strcmp(a.cmd, "import") == 0) {
		if ((rc = cli_policy_import(st, a.pos, 0, a.replace,
					    a.cli.what, NULL)) != 0)
			goto fail;
		goto out;
	}
	wr = strcmp(a.cmd, "add") == 0 || strcmp(a.cmd, "edit") == 0 ||
	     strcmp(a.cmd, "delete") == 0;
	if ((rc = gw_txn_begin(st, wr ? GW_TXN_WRITE : GW_TXN_READ, &txn)) !=
	    0)
		goto fail;
	if (strcmp(a.cmd, "add") == 0 || strcmp(a.cmd, "edit") == 0) {
		if ((rc = cmd_add_edit(&txn, &a, strcmp(a.cmd, "edit") == 0)) !=
		    0)
			goto fail;
	} else if (strcmp(a.cmd, "delete") == 0) {
		if ((rc = refuse_in_table(txn, a.pos)) != 0 ||
		    (rc = profile_del(txn, a.pos)) != 0 ||
		    (rc = cli_txn_commit(&txn)) != 0)
			goto fail;
		printf("deleted sending profile '%s'\n", a.pos);
	} else if (strcmp(a.cmd, "list") == 0) {
		list_header();
		lc.txn = txn;
		if ((rc = profile_foreach(txn, list_one, &lc)) != 0)
			goto fail;
	} else if (strcmp(a.cmd, "show") == 0) {
		if ((rc = profile_get(txn, a.pos, &p)) != 0)
			goto fail;
		show_profile(txn, &p);
	} else if (strcmp(a.cmd, "search") == 0) {
		list_header();
		lc.txn = txn;
		if ((rc = profile_search(txn, a.pos, list_one, &lc)) != 0)
			goto fail;
		if (lc.count == 0) {
			rc = gw_err_set(GW_ERR_NOT_FOUND,
					"no sending profile matches '%.256s'",
					a.pos);
			goto fail;
		}
	} else if (strcmp(a.cmd, "export") == 0) {
		if ((rc = cmd_export(txn, a.pos)) != 0)
			goto fail;
	}
	goto out;
fail:
	ex = cli_fail(a.cli.what, rc);
out:
	gw_txn_abort(txn);
	gw_store_close(st);
	return ex;
}
