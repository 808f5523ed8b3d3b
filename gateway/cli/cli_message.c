/* cli_message.c - "smimegw message ...": S/MIME on one message. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>

#include "addr_rule.h"
#include "cli.h"
#include "cert_info.h"
#include "engine.h"
#include "gw_err.h"
#include "gw_reply.h"
#include "gw_store.h"
#include "keystore.h"
#include "lookup.h"
#include "mime_parser.h"
#include "smime.h"
#include "smime_open.h"

#define MAX_TO 256

static const char message_usage_text[] =
    "usage: smimegw message COMMAND [options] [-i FILE] [-o FILE]\n"
    "  sign --cert NAME [--sign-mode detached|opaque] [--digest "
    "sha256|sha384|sha512]\n"
    "       [--pss]            (--mode, the old name of --sign-mode, is "
    "deprecated)\n"
    "  encrypt --to CERT [--to CERT ...] [--cipher aes128-cbc|aes192-cbc|"
    "aes256-cbc|\n"
    "          aes128-gcm|aes256-gcm] [--oaep]\n"
    "  sign-encrypt --cert NAME --to CERT ... (sign, then encrypt)\n"
    "  triple --cert NAME --to CERT ...       (sign, encrypt, sign again)\n"
    "  open [--to ADDR ...] [--ca FILE] [--system] [--remove-signature]\n"
    "                                         decrypt and verify every "
    "layer\n"
    "  decrypt [--to ADDR ...]                one encrypted layer\n"
    "  verify [--ca FILE] [--system] [--remove-signature]\n"
    "                                         one signed layer\n"
    "open and decrypt: --to ADDR is an envelope recipient; only "
    "identities\n"
    "that cover one (or decrypt_catch_all) decrypt.  Without --to any\n"
    "identity decrypts: an administrator's tool, not for a mail path.\n"
    "CERT is tried as a certificate file (PEM or DER), then as an "
    "identity\n"
    "name, then as an email address looked up in the public keys "
    "(smimegw\n"
    "pubkey lookup): file > identity name > address.\n"
    "Signatures are verified against --ca, the trusted CAs (smimegw ca), "
    "the\n"
    "gateway's own identities and, with --system, the system trust "
    "store.\n"
    "The message is read from stdin (or -i FILE) and written to stdout\n"
    "(or -o FILE).\n";

enum {
	OPT_CERT = 256,
	OPT_MODE,
	OPT_DIGEST,
	OPT_PSS,
	OPT_TO,
	OPT_CIPHER,
	OPT_OAEP,
	OPT_CA,
	OPT_REMOVE_SIG,
	OPT_SYSTEM,
	OPT_SIGN_MODE,
};

static const struct option msg_opts[] = {
    {"cert", required_argument, NULL, OPT_CERT},
    {"sign-mode", required_argument, NULL, OPT_SIGN_MODE},
    {"mode", required_argument, NULL, OPT_MODE}, /* deprecated */
    {"digest", required_argument, NULL, OPT_DIGEST},
    {"pss", no_argument, NULL, OPT_PSS},
    {"to", required_argument, NULL, OPT_TO},
    {"cipher", required_argument, NULL, OPT_CIPHER},
    {"oaep", no_argument, NULL, OPT_OAEP},
    {"ca", required_argument, NULL, OPT_CA},
    {"remove-signature", no_argument, NULL, OPT_REMOVE_SIG},
    {"system", no_argument, NULL, OPT_SYSTEM},
    {"input", required_argument, NULL, 'i'},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

enum msg_cmd {
	CMD_SIGN = 1,
	CMD_ENCRYPT = 2,
	CMD_SIGN_ENCRYPT = 3,
	CMD_TRIPLE = 4,
	CMD_OPEN,
	CMD_DECRYPT,
	CMD_VERIFY,
};

/* In enum msg_cmd order; --input and --output go with every one. */
static const struct cli_cmd msg_cmds[] = {
    {"sign", 0, 0, "",
     CLI_OPTS(OPT_CERT, OPT_SIGN_MODE, OPT_MODE, OPT_DIGEST, OPT_PSS, 'i',
	      'o')},
    {"encrypt", 0, 0, "", CLI_OPTS(OPT_TO, OPT_CIPHER, OPT_OAEP, 'i', 'o')},
    {"sign-encrypt", 0, 0, "",
     CLI_OPTS(OPT_CERT, OPT_SIGN_MODE, OPT_MODE, OPT_DIGEST, OPT_PSS, OPT_TO,
	      OPT_CIPHER, OPT_OAEP, 'i', 'o')},
    {"triple", 0, 0, "",
     CLI_OPTS(OPT_CERT, OPT_SIGN_MODE, OPT_MODE, OPT_DIGEST, OPT_PSS, OPT_TO,
	      OPT_CIPHER, OPT_OAEP, 'i', 'o')},
    {"open", 0, 0, "",
     CLI_OPTS(OPT_TO, OPT_CA, OPT_REMOVE_SIG, OPT_SYSTEM, 'i', 'o')},
    {"decrypt", 0, 0, "", CLI_OPTS(OPT_TO, 'i', 'o')},
    {"verify", 0, 0, "",
     CLI_OPTS(OPT_CA, OPT_REMOVE_SIG, OPT_SYSTEM, 'i', 'o')},
};
_Static_assert(sizeof(msg_cmds) / sizeof(msg_cmds[0]) == CMD_VERIFY,
	       "msg_cmds[] lists enum msg_cmd in order");

struct msg_args {
	struct cli_args cli;
	enum msg_cmd cmd;
	const char *cert, *mode, *digest, *cipher, *ca, *in, *out;
	const char *mode_opt;	/* "--sign-mode", or the deprecated "--mode" */
	const char *to[MAX_TO];
	size_t nto;
	int pss, oaep, remove_sig, system;
	/* Read from the store by prepare(). */
	STACK_OF(X509) *rcpts;	/* the --to certificates, in order */
	X509_STORE *trust;	/* trust anchors for open and verify */
	STACK_OF(X509) *extra;	/* pinned public keys, as signers */
};

static int
take_opt(void *arg, int c, const char *value, const char *what)
{
	struct msg_args *a = arg;

	switch (c) {
	case OPT_CERT: a->cert = value; break;
	case OPT_MODE:
	case OPT_SIGN_MODE:
		/* --mode means the sending mode everywhere else (profile
		 * add): here it was the old name of --sign-mode. */
		if (a->mode != NULL)
			return cli_usage(what, "give --sign-mode once (--mode "
					       "is its deprecated name)");
		if (c == OPT_MODE)
			fprintf(stderr,
				"smimegw %s: warning: --mode is deprecated "
				"here; use --sign-mode, as in 'smimegw "
				"profile'\n",
				what);
		a->mode = value;
		a->mode_opt = c == OPT_MODE ? "--mode" : "--sign-mode";
		break;
	case OPT_DIGEST: a->digest = value; break;
	case OPT_PSS: a->pss = 1; break;
	case OPT_CIPHER: a->cipher = value; break;
	case OPT_OAEP: a->oaep = 1; break;
	case OPT_CA: a->ca = value; break;
	case OPT_REMOVE_SIG: a->remove_sig = 1; break;
	case OPT_SYSTEM: a->system = 1; break;
	case 'i': a->in = value; break;
	case 'o': a->out = value; break;
	case OPT_TO:
		if (a->nto == MAX_TO)
			return cli_usage(what, "more than %d --to", MAX_TO);
		a->to[a->nto++] = value;
		break;
	}
	return 0;
}

static const struct cli_spec msg_spec = {
    "message", message_usage_text, ":i:o:h", msg_opts, msg_cmds,
    sizeof(msg_cmds) / sizeof(msg_cmds[0]), take_opt,
};

static int
parse(int argc, char **argv, struct msg_args *a)
{
	const char *what = a->cli.what, *l, *d;
	size_t i, ll, dl;
	int ex;

	if ((ex = cli_args_parse(&msg_spec, argc, argv, a, &a->cli)) != 0)
		return ex;
	a->cmd = (enum msg_cmd)(CMD_SIGN + (a->cli.cmd - msg_cmds));
	if ((a->cmd == CMD_SIGN || a->cmd == CMD_SIGN_ENCRYPT ||
	     a->cmd == CMD_TRIPLE) &&
	    a->cert == NULL)
		return cli_usage(what, "--cert NAME is required");
	if ((a->cmd == CMD_ENCRYPT || a->cmd == CMD_SIGN_ENCRYPT ||
	     a->cmd == CMD_TRIPLE) &&
	    a->nto == 0)
		return cli_usage(what, "at least one --to is required");
	if (a->cmd == CMD_OPEN || a->cmd == CMD_DECRYPT)
		for (i = 0; i < a->nto; i++)
			if (addr_rule_split(a->to[i], &l, &ll, &d, &dl) != 0 ||
			    memchr(a->to[i], '@', strlen(a->to[i])) == NULL)
				return cli_usage(what,
						 "--to: '%.256s' is not an "
						 "envelope recipient address",
						 a->to[i]);
	return 0;
}

static int
write_output(const char *path, const struct gw_buf *b)
{
	FILE *fp = stdout;
	int rc = 0;

	if (path != NULL && (fp = fopen(path, "wb")) == NULL)
		return gw_err_set(GW_ERR_IO, "%s: %s", path, strerror(errno));
	if (fwrite(b->data, 1, b->len, fp) != b->len || fflush(fp) != 0)
		rc = gw_err_set(GW_ERR_IO, "cannot write %s",
				path ? path : "stdout");
	if (fp != stdout && fclose(fp) != 0 && rc == 0)
		rc = gw_err_set(GW_ERR_IO, "cannot write %s", path);
	return rc;
}

/* ---- signing and encryption ----------------------------------------- */

static int
sign_once(const struct engine *e, const struct msg_args *a,
	  const unsigned char *msg, size_t len, struct gw_buf *out)
{
	struct engine_sign_opts o;
	struct smime_msg m = {msg, len, NULL, NULL};

	memset(&o, 0, sizeof(o));
	o.identity = a->cert;
	o.md = a->digest ? cms_alg_digest(a->digest) : NULL;
	o.pss = a->pss;
	o.mode = a->mode && strcmp(a->mode, "opaque") == 0 ? SMIME_SIGN_OPAQUE
							    : SMIME_SIGN_DETACHED;
	return engine_sign(e, &o, &m, out, NULL);
}

/* One --to: a certificate file, else an identity name, else an address
 * looked up in the public keys (lookup_key()). */
static int
recipient_cert(struct gw_txn *txn, const char *to, X509 **out)
{
	STACK_OF(X509) *sk = NULL;
	struct identity *id = NULL;
	struct stat st;
	char name[KEYSTORE_NAME_MAX + 1], detail[1536], tmp[1200];
	int rc;

	*out = NULL;
	if (stat(to, &st) == 0) {
		if ((rc = cert_info_read_certs(to, &sk)) != 0)
			return rc;
		*out = sk_X509_shift(sk);
		sk_X509_pop_free(sk, X509_free);
		return 0;
	}
	if (identity_name_valid(to)) {
		if ((rc = identity_get(txn, to, &id)) == 0) {
			*out = id->cert;
			id->cert = NULL;
			identity_free(id);
			return 0;
		}
		if (rc != GW_ERR_NOT_FOUND)
			return rc;
		gw_err_clear();
	}
	if (strchr(to, '@') == NULL)
		return gw_err_set(GW_ERR_NOT_FOUND,
				  "--to: '%s' is neither a file nor an identity",
				  to);
	if ((rc = lookup_key(txn, to, time(NULL), out, name,
				  sizeof(name))) != 0) {
		snprintf(detail, sizeof(detail), "%s", cli_err_detail(tmp, sizeof(tmp)));
		gw_err_clear();
		return gw_err_set(rc, "--to: %s", detail);
	}
	return 0;
}

static int
encrypt_once(const struct engine *e, const struct msg_args *a,
	     const unsigned char *msg, size_t len, struct gw_buf *out)
{
	struct smime_recipients r;

	memset(&r, 0, sizeof(r));
	r.certs = a->rcpts; /* resolved and checked by prepare() */
	r.cipher = a->cipher ? cms_alg_cipher(a->cipher) : NULL;
	r.oaep = a->oaep;
	return smime_encrypt(msg, len, &r, out);
}

static int
outgoing(const struct engine *e, const struct msg_args *a, struct gw_buf *in,
	 struct gw_buf *out)
{
	struct gw_buf t1, t2;
	int rc;

	gw_buf_init(&t1, SMIME_MSG_MAX);
	gw_buf_init(&t2, SMIME_MSG_MAX);
	switch (a->cmd) {
	case CMD_SIGN:
		rc = sign_once(e, a, in->data, in->len, out);
		break;
	case CMD_ENCRYPT:
		rc = encrypt_once(e, a, in->data, in->len, out);
		break;
	case CMD_SIGN_ENCRYPT:
		if ((rc = sign_once(e, a, in->data, in->len, &t1)) == 0)
			rc = encrypt_once(e, a, t1.data, t1.len, out);
		break;
	default: /* triple */
		if ((rc = sign_once(e, a, in->data, in->len, &t1)) == 0 &&
		    (rc = encrypt_once(e, a, t1.data, t1.len, &t2)) == 0)
			rc = sign_once(e, a, t2.data, t2.len, out);
		break;
	}
	gw_buf_free_secret(&t1);
	gw_buf_free(&t2);
	return rc;
}

/* ---- incoming -------------------------------------------------------- */

/*
 * Reads what the command needs from the store (the --to certificates,
 * or the trust anchors) in one read transaction.
 */
static int
prepare(const struct engine *e, struct msg_args *a)
{
	struct gw_txn *txn = NULL;
	X509 *x = NULL;
	size_t i;
	int rc;

	if (a->cmd == CMD_SIGN)
		return 0; /* nothing to read */
	if ((rc = gw_txn_begin(e->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	if (a->cmd > CMD_TRIPLE) {
		rc = engine_trust(e, txn, a->ca, a->system, &a->trust,
				  &a->extra);
		goto out;
	}
	if ((a->rcpts = sk_X509_new_null()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < a->nto; i++) {
		if ((rc = recipient_cert(txn, a->to[i], &x)) != 0)
			goto out;
		if ((rc = smime_check_recipient(x, time(NULL))) != 0 ||
		    !sk_X509_push(a->rcpts, x)) {
			X509_free(x);
			rc = rc ? rc : GW_ERR_NOMEM;
			goto out;
		}
	}
out:
	gw_txn_abort(txn);
	return rc;
}

static int
incoming(const struct engine *e, const struct gw_config *cfg,
	 const struct msg_args *a, struct gw_buf *in, struct gw_buf *out,
	 struct smime_open_result *res)
{
	struct smime_open_opts o;
	struct engine_open_for of;
	int rc;

	memset(&o, 0, sizeof(o));
	/* Decrypted for the --to recipients; without one, by any identity
	 * (an administrator at the token's own console). */
	of.e = e;
	of.rcpt = a->to;
	of.nrcpt = a->nto;
	of.any = a->nto == 0;
	o.trust = a->trust; /* built by prepare() */
	o.extra = a->extra;
	o.find_signers = engine_find_signers;
	o.find_signers_arg = (void *)e;
	o.remove_signature = a->remove_sig;
	o.authserv_id = cfg->authserv_id;
	o.only = a->cmd == CMD_DECRYPT	 ? SMIME_OPEN_DECRYPT
		 : a->cmd == CMD_VERIFY ? SMIME_OPEN_VERIFY
					: SMIME_OPEN_ALL;
	o.find_key = engine_find_key;
	o.find_key_arg = &of;
	o.key_fault = engine_key_fault;
	if ((rc = smime_open(in->data, in->len, &o, out, res)) != 0)
		return rc;
	return engine_trust_fault(a->trust);
}

int
cli_message_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct msg_args a;
	struct gw_config *cfg;
	struct engine eng = {NULL, NULL, NULL};
	struct gw_buf in, out;
	struct smime_open_result res;
	const char *what = a.cli.what;
	int rc, ex;

	memset(&a, 0, sizeof(a));
	memset(&res, 0, sizeof(res));
	gw_buf_init(&in, SMIME_MSG_MAX);
	gw_buf_init(&out, SMIME_MSG_MAX);
	if ((ex = parse(argc, argv, &a)) != 0)
		goto out;
	if (a.mode != NULL && strcmp(a.mode, "detached") != 0 &&
	    strcmp(a.mode, "opaque") != 0) {
		ex = cli_usage(what, "%s: '%s' is not detached or opaque",
			       a.mode_opt, a.mode);
		goto out;
	}
	if (a.digest != NULL && cms_alg_digest(a.digest) == NULL) {
		ex = cli_usage(what,
			       "--digest: '%s' is not sha256, sha384 or sha512",
			       a.digest);
		goto out;
	}
	if (a.cipher != NULL && cms_alg_cipher(a.cipher) == NULL) {
		ex = cli_usage(what,
			       "--cipher: '%s' is not aes128-cbc, aes192-cbc, "
			       "aes256-cbc, aes128-gcm or aes256-gcm",
			       a.cipher);
		goto out;
	}
	if ((rc = cli_file_read(a.in, SMIME_MSG_MAX, &in)) != 0) {
		cli_fail(what, rc);
		ex = CLI_EXIT_USAGE;
		goto out;
	}
	if ((rc = cli_config(ctx, &cfg)) != 0) {
		ex = cli_fail(what, rc);
		goto out;
	}
	if ((rc = cli_engine_open(cfg, &eng)) != 0) {
		/* A store that is missing, empty, damaged or unsafe defers
		 * the message, as in process: status 75. */
		cli_fail(what, rc);
		ex = gw_reply_for_error(rc).exit_status;
		goto out;
	}
	if ((rc = prepare(&eng, &a)) != 0) {
		ex = cli_fail(what, rc);
		goto out;
	}
	if (a.cmd <= CMD_TRIPLE) {
		if ((rc = outgoing(&eng, &a, &in, &out)) != 0 ||
		    (rc = write_output(a.out, &out)) != 0) {
			ex = cli_fail(what, rc);
			goto out;
		}
		ex = CLI_EXIT_OK;
		goto out;
	}
	if ((rc = incoming(&eng, cfg, &a, &in, &out, &res)) != 0) {
		ex = cli_fail(what, rc);
		if (rc == GW_ERR_LIMIT)
			ex = CLI_EXIT_USAGE;
		goto out;
	}
	if (res.error != 0 &&
	    gw_err_class(res.error) == GW_ERRCLASS_TEMPORARY) {
		/* The token failed (or is unavailable): no output that a
		 * later try would do better, and the status that says
		 * "try again" (gw_reply.h). */
		fprintf(stderr, "smimegw %s: %s\n", what, res.reason);
		ex = gw_reply_for_error(res.error).exit_status;
		goto out;
	}
	if ((rc = write_output(a.out, &out)) != 0) {
		ex = cli_fail(what, rc);
		goto out;
	}
	if (res.status != SMIME_OK)
		fprintf(stderr, "smimegw %s: %s\n", what, res.reason);
	ex = res.status == SMIME_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	smime_open_result_free(&res);
	sk_X509_pop_free(a.rcpts, X509_free);
	X509_STORE_free(a.trust);
	sk_X509_pop_free(a.extra, X509_free);
	cli_engine_close(&eng);
	gw_buf_free_secret(&in);
	gw_buf_free_secret(&out);
	return ex;
}
