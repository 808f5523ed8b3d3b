/* cli_cert.c - "smimegw cert ...": the gateway's own identities. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/pem.h>

#include "cert_info.h"
#include "certmgr.h"
#include "cli.h"
#include "gw_err.h"
#include "gw_store.h"
#include "profile.h"

#define W 21 /* label width in "show" output */

static const char cert_usage_text[] =
    "usage: smimegw cert COMMAND ...\n"
    "  create NAME --cn CN --country CC --days N [--org O] [--ou OU]\n"
    "         [--locality L] [--state ST] [--san-dns LIST] [--san-email "
    "LIST]\n"
    "         [--key rsa:2048|rsa:3072|rsa:4096|ec:p256|ec:p384]\n"
    "         [--usage sign|encrypt|both] [--fqdn-check]\n"
    "  csr NAME [-o FILE]\n"
    "  install NAME FILE [--fqdn-check]\n"
    "  import NAME --p12 FILE [--passphrase-file F] [--usage U] "
    "[--fqdn-check]\n"
    "  list\n"
    "  show NAME\n"
    "  export NAME [-o FILE]\n"
    "  delete NAME --yes [--force]   --force: even when sending profiles "
    "sign with it\n"
    "  forget-previous NAME --serial HEX | --all\n"
    "         stop decrypting mail sent to a certificate the identity had\n"
    "         before (kept since \"install\" replaced it; see show)\n";

enum {
	OPT_CN = 256,
	OPT_COUNTRY,
	OPT_DAYS,
	OPT_ORG,
	OPT_OU,
	OPT_LOCALITY,
	OPT_STATE,
	OPT_SAN_DNS,
	OPT_SAN_EMAIL,
	OPT_KEY,
	OPT_USAGE,
	OPT_FQDN,
	OPT_P12,
	OPT_PASSFILE,
	OPT_YES,
	OPT_FORCE,
	OPT_SERIAL,
	OPT_ALL,
};

static const struct option cert_opts[] = {
    {"cn", required_argument, NULL, OPT_CN},
    {"country", required_argument, NULL, OPT_COUNTRY},
    {"days", required_argument, NULL, OPT_DAYS},
    {"org", required_argument, NULL, OPT_ORG},
    {"ou", required_argument, NULL, OPT_OU},
    {"locality", required_argument, NULL, OPT_LOCALITY},
    {"state", required_argument, NULL, OPT_STATE},
    {"san-dns", required_argument, NULL, OPT_SAN_DNS},
    {"san-email", required_argument, NULL, OPT_SAN_EMAIL},
    {"key", required_argument, NULL, OPT_KEY},
    {"usage", required_argument, NULL, OPT_USAGE},
    {"fqdn-check", no_argument, NULL, OPT_FQDN},
    {"p12", required_argument, NULL, OPT_P12},
    {"passphrase-file", required_argument, NULL, OPT_PASSFILE},
    {"yes", no_argument, NULL, OPT_YES},
    {"force", no_argument, NULL, OPT_FORCE},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"all", no_argument, NULL, OPT_ALL},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Which options each subcommand takes (others are usage errors). */
static const struct cli_cmd cert_cmds[] = {
    {"create", 1, 1, "NAME",
     CLI_OPTS(OPT_CN, OPT_COUNTRY, OPT_DAYS, OPT_ORG, OPT_OU, OPT_LOCALITY,
	      OPT_STATE, OPT_SAN_DNS, OPT_SAN_EMAIL, OPT_KEY, OPT_USAGE,
	      OPT_FQDN)},
    {"csr", 1, 1, "NAME", CLI_OPTS('o')},
    {"install", 2, 2, NULL, CLI_OPTS(OPT_FQDN)}, /* NAME FILE: parse_args */
    {"import", 1, 1, "NAME",
     CLI_OPTS(OPT_P12, OPT_PASSFILE, OPT_USAGE, OPT_FQDN)},
    {"list", 0, 0, "", NULL},
    {"show", 1, 1, "NAME", NULL},
    {"export", 1, 1, "NAME", CLI_OPTS('o')},
    {"delete", 1, 1, "NAME", CLI_OPTS(OPT_YES, OPT_FORCE)},
    {"forget-previous", 1, 1, "NAME", CLI_OPTS(OPT_SERIAL, OPT_ALL)},
};

struct cert_args {
	struct cli_args cli;
	const char *cmd;	/* cli.cmd->name */
	const char *const *pos; /* cli.pos */
	struct cert_spec spec;
	char *dns_buf, *email_buf;
	const char *key, *usage, *p12, *passfile, *out, *serial;
	const char *days;
	int fqdn, yes, force, all;
};

/* --san-dns and --san-email: a copy of value split into names. */
static int
take_san(char **buf, const char *value, const char *opt, const char **names,
	 size_t *n, const char *what)
{
	int rc;

	free(*buf);
	if ((*buf = strdup(value)) == NULL)
		return cli_fail(what, GW_ERR_NOMEM);
	*n = 0;
	if ((rc = cert_spec_split(*buf, opt, names, n)) != 0)
		return cli_fail(what, rc);
	return 0;
}

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct cert_args *a = arg;

	switch (c) {
	case OPT_CN: a->spec.cn = value; break;
	case OPT_COUNTRY: a->spec.country = value; break;
	case OPT_DAYS: a->days = value; break;
	case OPT_ORG: a->spec.org = value; break;
	case OPT_OU: a->spec.ou = value; break;
	case OPT_LOCALITY: a->spec.locality = value; break;
	case OPT_STATE: a->spec.state = value; break;
	case OPT_SAN_DNS:
		return take_san(&a->dns_buf, value, "--san-dns",
				a->spec.san_dns, &a->spec.n_dns, what);
	case OPT_SAN_EMAIL:
		return take_san(&a->email_buf, value, "--san-email",
				a->spec.san_email, &a->spec.n_email, what);
	case OPT_KEY: a->key = value; break;
	case OPT_USAGE: a->usage = value; break;
	case OPT_FQDN: a->fqdn = 1; break;
	case OPT_P12: a->p12 = value; break;
	case OPT_PASSFILE: a->passfile = value; break;
	case OPT_YES: a->yes = 1; break;
	case OPT_FORCE: a->force = 1; break;
	case OPT_SERIAL: a->serial = value; break;
	case OPT_ALL: a->all = 1; break;
	case 'o': a->out = value; break;
	}
	return 0;
}

static const struct cli_spec cert_spec = {
    "cert", cert_usage_text, ":o:h", cert_opts, cert_cmds,
    sizeof(cert_cmds) / sizeof(cert_cmds[0]), take_opt,
};

static int
parse_args(int argc, char **argv, struct cert_args *a)
{
	const char *what = a->cli.what;
	char *end;
	int ex;

	if ((ex = cli_args_parse(&cert_spec, argc, argv, a, &a->cli)) != 0)
		return ex;
	a->cmd = a->cli.cmd->name;
	a->pos = a->cli.pos;
	if (a->cli.npos < a->cli.cmd->min)
		return cli_usage(what, "missing %s",
				 a->cli.npos == 0 ? "NAME" : "FILE");
	if (a->days != NULL) {
		a->spec.days = strtol(a->days, &end, 10);
		if (*a->days == '\0' || *end != '\0')
			return cli_fail(what,
					gw_err_set(GW_ERR_INVALID,
						   "--days: '%s' is not a "
						   "number",
						   a->days));
	}
	return 0;
}

static int
write_out(const char *path, int (*fn)(BIO *, void *), void *arg,
	  const char *what)
{
	BIO *b;
	int rc;

	b = path ? BIO_new_file(path, "w") : BIO_new_fp(stdout, BIO_NOCLOSE);
	if (b == NULL)
		return cli_fail(what, gw_err_set_ssl(GW_ERR_IO, "cannot write %s",
						     path ? path : "stdout"));
	rc = fn(b, arg);
	if (BIO_flush(b) <= 0)
		rc = gw_err_set(GW_ERR_IO, "cannot write %s",
				path ? path : "stdout");
	BIO_free(b);
	return rc ? cli_fail(what, rc) : CLI_EXIT_OK;
}

static int
write_csr(BIO *b, void *arg)
{
	if (!PEM_write_bio_X509_REQ(b, arg))
		return gw_err_set_ssl(GW_ERR_IO, "writing the CSR");
	return 0;
}

static int
write_chain(BIO *b, void *arg)
{
	struct identity *id = arg;
	int i;

	if (!PEM_write_bio_X509(b, id->cert))
		return gw_err_set_ssl(GW_ERR_IO, "writing the certificate");
	for (i = 0; id->chain != NULL && i < sk_X509_num(id->chain); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(id->chain, i)))
			return gw_err_set_ssl(GW_ERR_IO, "writing the chain");
	return 0;
}

static void
print_report(const struct cert_check_report *rep)
{
	size_t i;

	printf("Requirements:\n");
	for (i = 0; i < rep->n; i++)
		printf("  %-4s  %-20s %s\n",
		       cert_check_status_name(rep->r[i].status), rep->r[i].name,
		       rep->r[i].detail);
}

/* The certificates the key had before, newest first: mail encrypted to
 * them is still decrypted until "forget-previous". */
static void
show_previous(const struct identity *id)
{
	X509 *x;
	BIGNUM *bn;
	char *hex, buf[256], t[32], fp[96];
	int i, n = id->previous ? sk_X509_num(id->previous) : 0;

	printf("%-*s %d%s\n", W, "Previous certificates:", n,
	       n ? " (still decrypt mail sent to them)" : "");
	for (i = n - 1; i >= 0; i--) {
		x = sk_X509_value(id->previous, i);
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		hex = bn ? BN_bn2hex(bn) : NULL;
		printf("  serial %s, not after %s, issuer %s\n",
		       hex ? hex : "?",
		       cert_info_time(X509_get0_notAfter(x), t),
		       cert_info_name(X509_get_issuer_name(x), buf,
				      sizeof(buf)));
		printf("    SHA-256 %s\n", cert_info_fingerprint(x, fp));
		OPENSSL_free(hex);
		BN_free(bn);
	}
}

static int
show_identity(struct certmgr *cm, const struct identity *id)
{
	struct cert_check_report rep;
	struct p11_key_attrs ka;
	char t[32], tmp[1200];
	int rc;

	printf("%-*s %s\n", W, "Name:", id->name);
	printf("%-*s %s\n", W, "Usage:", cert_usage_name(id->usage));
	cert_info_print(stdout, id->cert, W);
	printf("%-*s %s\n", W, "Token key:", id->key_uri);
	gw_err_clear();
	if ((rc = certmgr_key_attrs(cm, id, &ka)) != 0)
		printf("%-*s unavailable (%s: %s)\n", W, "Key protection:",
		       gw_strerror(rc), cli_err_detail(tmp, sizeof(tmp)));
	else if (!ka.present)
		printf("%-*s MISSING from the token\n", W, "Key protection:");
	else
		printf("%-*s %s, %s%s%s\n", W, "Key protection:",
		       ka.sensitive ? "sensitive" : "NOT SENSITIVE",
		       ka.extractable ? "EXTRACTABLE" : "not extractable",
		       ka.never_extractable ? ", never extractable" : "",
		       ka.local ? ", generated on the token"
				: ", imported into the token");
	gw_err_clear();
	printf("%-*s %d\n", W, "Chain certificates:",
	       id->chain ? sk_X509_num(id->chain) : 0);
	show_previous(id);
	printf("%-*s %s (%s)\n", W, "Created:", cli_show_time(id->created, t),
	       id->source ? id->source : "?");
	printf("%-*s %s\n", W, "Updated:", cli_show_time(id->updated, t));
	certmgr_check(cm, id, &rep);
	gw_err_clear();
	print_report(&rep);
	return 0;
}

/*
 * A profile in use is not deleted silently: the sending profiles that
 * sign with the identity refuse its deletion unless force, and are
 * named either way (users gets them, "" when none).  Checked just
 * before certmgr_delete() opens the store for itself.
 */
static int
check_profile_users(const struct gw_config *cfg, const char *name, int force,
		    char *users, size_t len)
{
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	size_t n = 0;
	int rc;

	users[0] = '\0';
	if ((rc = gw_store_open_ex(cfg->data_dir, (size_t)cfg->store_map_size,
				   0, &st)) != 0)
		return rc;
	if ((rc = gw_txn_begin(st, GW_TXN_READ, &txn)) == 0)
		rc = profile_cert_users(txn, name, users, len, &n);
	gw_txn_abort(txn);
	gw_store_close(st);
	if (rc == 0 && n > 0 && !force)
		rc = gw_err_set(GW_ERR_IN_USE,
				"identity '%s' is the signing certificate of "
				"%zu sending profile%s (%s): edit or delete "
				"%s first, or give --force",
				name, n, n == 1 ? "" : "s", users,
				n == 1 ? "it" : "them");
	return rc;
}

static int
list_one(void *arg, const struct identity *id)
{
	struct certmgr *cm = arg;
	struct cert_check_report rep;
	char buf[256], t[32];
	const char *status = "ok";
	size_t i;

	if (certmgr_check(cm, id, &rep) != 0) {
		for (i = 0; i < rep.n; i++)
			if (rep.r[i].status == CERT_CHECK_FAIL) {
				status = rep.r[i].name;
				break;
			}
	}
	gw_err_clear();
	cert_info_time(X509_get0_notAfter(id->cert), t);
	t[10] = '\0';
	printf("%-20s %-8s %-9s %-10s %-20s %s\n", id->name,
	       cert_usage_name(id->usage),
	       id->key_type && *id->key_type ? id->key_type : "?", t, status,
	       cert_info_name(X509_get_subject_name(id->cert), buf,
			      sizeof(buf)));
	return 0;
}

int
cli_cert_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct cert_args a;
	struct gw_config *cfg;
	struct certmgr_config cmc;
	struct certmgr *cm = NULL;
	struct identity *id = NULL;
	struct certmgr_p12 p12;
	X509_REQ *req = NULL;
	enum p11_keytype kt = P11_KEY_RSA2048;
	enum cert_usage usage = CERT_USAGE_BOTH;
	const char *what = a.cli.what;
	char users[512] = "";
	size_t n;
	int rc, ex = CLI_EXIT_OK;

	memset(&a, 0, sizeof(a));
	if ((ex = parse_args(argc, argv, &a)) != 0)
		goto out;
	if (a.key != NULL && (rc = p11_keytype_parse(a.key, &kt)) != 0) {
		ex = cli_fail(what, rc);
		goto out;
	}
	if (a.usage != NULL && (rc = cert_usage_parse(a.usage, &usage)) != 0) {
		gw_err_clear();
		ex = cli_fail(what, gw_err_set(rc,
					       "--usage: '%s' is not one of "
					       "sign, encrypt, both",
					       a.usage));
		goto out;
	}
	if (strcmp(a.cmd, "create") == 0 &&
	    (a.spec.cn == NULL || a.spec.country == NULL || a.days == NULL)) {
		ex = cli_usage(what, "--cn, --country and --days are required");
		goto out;
	}
	if (strcmp(a.cmd, "import") == 0 && a.p12 == NULL) {
		ex = cli_usage(what, "--p12 FILE is required");
		goto out;
	}
	if (strcmp(a.cmd, "delete") == 0 && !a.yes) {
		ex = cli_usage(what, "refusing to delete '%s' without --yes "
				     "(the private key is destroyed on the "
				     "token)",
			       a.pos[0]);
		goto out;
	}
	if (strcmp(a.cmd, "forget-previous") == 0 &&
	    (a.serial != NULL) == (a.all != 0)) {
		ex = cli_usage(what, "give either --serial HEX or --all");
		goto out;
	}
	if ((rc = cli_config(ctx, &cfg)) != 0 ||
	    (strcmp(a.cmd, "delete") == 0 &&
	     (rc = check_profile_users(cfg, a.pos[0], a.force, users,
				       sizeof(users))) != 0) ||
	    (rc = (cmc = cli_certmgr_config(cfg),
		   cmc.create_store = strcmp(a.cmd, "create") == 0 ||
				      strcmp(a.cmd, "import") == 0,
		   certmgr_open(&cmc, &cm))) != 0) {
		ex = cli_fail(what, rc);
		goto out;
	}
	cli_store_announce(certmgr_store(cm));

	if (strcmp(a.cmd, "create") == 0) {
		a.spec.usage = usage;
		if ((rc = certmgr_create(cm, a.pos[0], &a.spec, kt, a.fqdn)) !=
			0 ||
		    (rc = certmgr_get(cm, a.pos[0], &id)) != 0)
			goto fail;
		printf("created identity '%s' on token '%s'\n", a.pos[0],
		       cfg->token);
		show_identity(cm, id);
	} else if (strcmp(a.cmd, "csr") == 0) {
		if ((rc = certmgr_csr(cm, a.pos[0], &req)) != 0)
			goto fail;
		ex = write_out(a.out, write_csr, req, what);
	} else if (strcmp(a.cmd, "install") == 0) {
		if ((rc = certmgr_install(cm, a.pos[0], a.pos[1], a.fqdn)) !=
			0 ||
		    (rc = certmgr_get(cm, a.pos[0], &id)) != 0)
			goto fail;
		printf("installed the certificate for identity '%s'\n",
		       a.pos[0]);
		show_identity(cm, id);
	} else if (strcmp(a.cmd, "import") == 0) {
		p12.file = a.p12;
		p12.passphrase_file = a.passfile;
		p12.fqdn_check = a.fqdn;
		p12.usage = a.usage ? usage : 0;
		if ((rc = certmgr_import_p12(cm, a.pos[0], &p12)) != 0 ||
		    (rc = certmgr_get(cm, a.pos[0], &id)) != 0)
			goto fail;
		printf("imported identity '%s' into token '%s'\n", a.pos[0],
		       cfg->token);
		show_identity(cm, id);
	} else if (strcmp(a.cmd, "list") == 0) {
		printf("%-20s %-8s %-9s %-10s %-20s %s\n", "NAME", "USAGE",
		       "KEY", "NOT AFTER", "STATUS", "SUBJECT");
		if ((rc = certmgr_foreach(cm, list_one, cm)) != 0)
			goto fail;
	} else if (strcmp(a.cmd, "show") == 0) {
		if ((rc = certmgr_get(cm, a.pos[0], &id)) != 0)
			goto fail;
		show_identity(cm, id);
	} else if (strcmp(a.cmd, "export") == 0) {
		if ((rc = certmgr_get(cm, a.pos[0], &id)) != 0)
			goto fail;
		ex = write_out(a.out, write_chain, id, what);
	} else if (strcmp(a.cmd, "forget-previous") == 0) {
		if ((rc = certmgr_forget_previous(cm, a.pos[0], a.serial,
						  &n)) != 0)
			goto fail;
		printf("identity '%s': forgot %zu previous certificate%s; "
		       "mail encrypted to %s is no longer decrypted\n",
		       a.pos[0], n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
	} else if (strcmp(a.cmd, "delete") == 0) {
		if ((rc = certmgr_delete(cm, a.pos[0], &n)) != 0)
			goto fail;
		printf("deleted identity '%s' (%zu token objects destroyed)\n",
		       a.pos[0], n);
		if (users[0] != '\0')
			fprintf(stderr,
				"smimegw %s: warning: sending profile%s %s "
				"sign%s with the deleted identity '%s' and "
				"fail%s until edited (smimegw profile edit "
				"NAME --cert IDENTITY)\n",
				what, strchr(users, ',') ? "s" : "", users,
				strchr(users, ',') ? "" : "s", a.pos[0],
				strchr(users, ',') ? "" : "s");
	}
	goto out;
fail:
	ex = cli_fail(what, rc);
out:
	X509_REQ_free(req);
	identity_free(id);
	certmgr_free(cm);
	free(a.dns_buf);
	free(a.email_buf);
	return ex;
}
