/* certmgr.c - identity operations over the token and the store. */
#include "certmgr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include "cert_info.h"
#include "gw_err.h"
#include "gw_store.h"


#define PASSPHRASE_MAX 1024

struct certmgr {
	struct certmgr_config cfg;
	struct gw_store *store;
	struct p11_token *tok;
	time_t now;
};

int
certmgr_open(const struct certmgr_config *cfg, struct certmgr **out)
{
	struct certmgr *cm;
	int rc;

	*out = NULL;
	if ((cm = calloc(1, sizeof(*cm))) == NULL)
		return GW_ERR_NOMEM;
	cm->cfg = *cfg;
	if ((rc = gw_store_open_ex(cfg->data_dir, cfg->store_map_size,
				   cfg->create_store ? GW_STORE_CREATE : 0,
				   &cm->store)) != 0) {
		free(cm);
		return rc;
	}
	*out = cm;
	return 0;
}

void
certmgr_free(struct certmgr *cm)
{
	if (cm == NULL)
		return;
	p11_token_close(cm->tok);
	gw_store_close(cm->store);
	free(cm);
}

struct gw_store *
certmgr_store(struct certmgr *cm)
{
	return cm->store;
}

void
certmgr_set_now(struct certmgr *cm, time_t now)
{
	cm->now = now;
}

static time_t
cm_now(const struct certmgr *cm)
{
	return cm->now ? cm->now : time(NULL);
}

static int
token(struct certmgr *cm, struct p11_token **out)
{
	int rc;

	if (cm->tok == NULL) {
		if ((rc = p11_token_open(&cm->cfg.token, &cm->tok)) != 0)
			return rc;
	}
	*out = cm->tok;
	return 0;
}

static int
check_name(const char *name)
{
	if (!identity_name_valid(name))
		return gw_err_set(GW_ERR_INVALID,
				  "NAME: '%s' must be 1-64 letters, digits, "
				  "'.', '_' or '-', starting with a letter or "
				  "digit",
				  name);
	return 0;
}

static int
name_free(struct certmgr *cm, const char *name)
{
	struct gw_txn *txn = NULL;
	const void *v;
	size_t vl;
	int rc;

	if ((rc = gw_txn_begin(cm->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = gw_txn_get(txn, GW_DB_IDENTITIES, name, strlen(name), &v, &vl);
	gw_txn_abort(txn);
	if (rc == 0)
		return gw_err_set(GW_ERR_EXISTS,
				  "an identity named '%s' already exists",
				  name);
	return rc == GW_ERR_NOT_FOUND ? 0 : rc;
}

/* rules: CERT_RULES_REFERENCE for the certificates create makes,
 * cert_rules_others() for those others made (install, import). */
static int
run_checks(X509 *cert, enum cert_usage usage, enum cert_rules rules,
	   int fqdn, time_t now, struct cert_check_report *rep)
{
	struct cert_check_opts o;

	o.usage = usage;
	o.role = CERT_ROLE_IDENTITY;
	o.rules = rules;
	o.fqdn_check = fqdn;
	o.now = now;
	return cert_check(cert, &o, rep);
}

/* Writes a new identity record in one transaction. */
static int
store_identity(struct certmgr *cm, const struct identity *id, unsigned flags)
{
	struct gw_txn *txn = NULL;
	int rc;

	if ((rc = gw_txn_begin(cm->store, GW_TXN_WRITE, &txn)) != 0)
		return rc;
	if ((rc = identity_put(txn, id, flags)) != 0) {
		gw_txn_abort(txn);
		return rc;
	}
	return gw_txn_commit(txn);
}

int
certmgr_create(struct certmgr *cm, const char *name,
	       const struct cert_spec *spec, enum p11_keytype kt,
	       int fqdn_check)
{
	struct identity id;
	struct cert_check_report rep;
	struct cert_spec s = *spec;
	struct p11_token *tok;
	EVP_PKEY *pub = NULL, *key = NULL;
	X509 *cert = NULL;
	char *key_uri = NULL;
	int rc;

	if ((rc = check_name(name)) != 0)
		return rc;
	/* Without SANs the CN (an FQDN) names the sending domain. */
	if (s.n_dns == 0 && s.n_email == 0)
		s.san_dns[s.n_dns++] = s.cn;
	if (s.now == 0)
		s.now = cm_now(cm);
	if ((rc = cert_spec_validate(&s, fqdn_check)) != 0)
		return rc;
	if ((rc = name_free(cm, name)) != 0)
		return rc;
	if ((rc = token(cm, &tok)) != 0)
		return rc;
	if ((rc = p11_keygen(tok, kt, name,
			     (s.usage & CERT_USAGE_ENCRYPT) ? P11_KEY_DECRYPT
							    : 0,
			     &key_uri, &pub)) != 0)
		return rc;
	if ((rc = p11_key_load(tok, key_uri, &key)) != 0 ||
	    (rc = cert_build_selfsigned(&s, pub, key, &cert)) != 0)
		goto out;
	if ((rc = run_checks(cert, s.usage, CERT_RULES_REFERENCE, fqdn_check,
			     s.now, &rep)) != 0)
		goto out;
	if ((rc = p11_cert_store(tok, key_uri, name, cert)) != 0)
		goto out;
	memset(&id, 0, sizeof(id));
	id.name = (char *)name;
	id.usage = s.usage;
	id.key_uri = key_uri;
	id.key_type = (char *)p11_keytype_name(kt);
	id.source = "generated";
	id.cert = cert;
	id.created = id.updated = (uint64_t)s.now;
	rc = store_identity(cm, &id, GW_PUT_NOOVERWRITE);
out:
	if (rc != 0)
		p11_objects_destroy(tok, key_uri, NULL);
	EVP_PKEY_free(key);
	EVP_PKEY_free(pub);
	X509_free(cert);
	free(key_uri);
	return rc;
}

int
certmgr_get(struct certmgr *cm, const char *name, struct identity **out)
{
	struct gw_txn *txn = NULL;
	int rc;

	if ((rc = gw_txn_begin(cm->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = identity_get(txn, name, out);
	gw_txn_abort(txn);
	return rc;
}

int
certmgr_foreach(struct certmgr *cm, identity_fn fn, void *arg)
{
	struct gw_txn *txn = NULL;
	int rc;

	if ((rc = gw_txn_begin(cm->store, GW_TXN_READ, &txn)) != 0)
		return rc;
	rc = identity_foreach(txn, fn, arg);
	gw_txn_abort(txn);
	return rc;
}

int
certmgr_check(struct certmgr *cm, const struct identity *id,
	      struct cert_check_report *rep)
{
	enum cert_rules rules = cert_rules_others();

	/* A self-signed certificate of a key made on the token is one
	 * that create made: the reference's rules stay for it. */
	if (id->source != NULL && strcmp(id->source, "generated") == 0 &&
	    cert_info_self_signed(id->cert))
		rules = CERT_RULES_REFERENCE;
	return run_checks(id->cert, id->usage, rules, 0, cm_now(cm), rep);
}

int
certmgr_load_key(struct certmgr *cm, const struct identity *id,
		 EVP_PKEY **key)
{
	struct p11_token *tok;
	int rc;

	*key = NULL;
	if ((rc = token(cm, &tok)) != 0)
		return rc;
	return p11_key_load(tok, id->key_uri, key);
}

int
certmgr_key_attrs(struct certmgr *cm, const struct identity *id,
		  struct p11_key_attrs *attrs)
{
	struct p11_token *tok;
	int rc;

	if ((rc = token(cm, &tok)) != 0)
		return rc;
	return p11_key_attrs(tok, id->key_uri, attrs);
}

int
certmgr_csr(struct certmgr *cm, const char *name, X509_REQ **out)
{
	struct identity *id = NULL;
	struct p11_token *tok;
	EVP_PKEY *key = NULL;
	int rc;

	*out = NULL;
	if ((rc = certmgr_get(cm, name, &id)) != 0)
		return rc;
	if ((rc = token(cm, &tok)) != 0 ||
	    (rc = p11_key_load(tok, id->key_uri, &key)) != 0)
		goto out;
	rc = cert_build_csr(id->cert, key, out);
out:
	EVP_PKEY_free(key);
	identity_free(id);
	return rc;
}

static char *
subject_line(X509 *x)
{
	return X509_NAME_oneline(X509_get_subject_name(x), NULL, 0);
}

/* A chain given with the certificate must hold its issuer, and the
 * issuer's signature must verify. */
static int
check_chain_link(X509 *leaf, STACK_OF(X509) *chain, const char *file)
{
	X509 *iss;
	char *s;
	int i, rc;

	if (sk_X509_num(chain) == 0)
		return 0;
	for (i = 0; i < sk_X509_num(chain); i++) {
		iss = sk_X509_value(chain, i);
		if (X509_check_issued(iss, leaf) != X509_V_OK)
			continue;
		if (X509_verify(leaf, X509_get0_pubkey(iss)) == 1)
			return 0;
		s = subject_line(iss);
		rc = gw_err_set(GW_ERR_REQUIREMENT,
				"%s: the chain certificate %s did not sign the "
				"certificate",
				file, s ? s : "?");
		OPENSSL_free(s);
		ERR_clear_error();
		return rc;
	}
	s = X509_NAME_oneline(X509_get_issuer_name(leaf), NULL, 0);
	rc = gw_err_set(GW_ERR_REQUIREMENT,
			"%s: no chain certificate issued the certificate (its "
			"issuer is %s)",
			file, s ? s : "?");
	OPENSSL_free(s);
	ERR_clear_error();
	return rc;
}

int
certmgr_install(struct certmgr *cm, const char *name, const char *file,
		int fqdn_check)
{
	struct identity *id = NULL;
	struct cert_check_report rep;
	struct p11_token *tok;
	STACK_OF(X509) *certs = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *want;
	int i, rc;

	if ((rc = certmgr_get(cm, name, &id)) != 0)
		return rc;
	if ((rc = cert_info_read_certs(file, &certs)) != 0)
		goto out;
	want = X509_get0_pubkey(id->cert);
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(certs, i)),
				want) == 1) {
			leaf = sk_X509_delete(certs, i);
			break;
		}
	}
	if (leaf == NULL) {
		rc = gw_err_set(GW_ERR_MISMATCH,
				"%s: no certificate in the file has the "
				"public key of identity '%s'",
				file, name);
		goto out;
	}
	if ((rc = check_chain_link(leaf, certs, file)) != 0 ||
	    (rc = run_checks(leaf, id->usage, cert_rules_others(), fqdn_check,
			     cm_now(cm), &rep)) != 0)
		goto out;
	/* The replaced certificate is kept: mail encrypted to it must
	 * still be read (identity.h).  In memory first, so that a refusal
	 * leaves the token alone. */
	rc = identity_set_cert(id, leaf);
	leaf = NULL;
	if (rc != 0 || (rc = token(cm, &tok)) != 0 ||
	    (rc = p11_cert_store(tok, id->key_uri, name, id->cert)) != 0)
		goto out;
	sk_X509_pop_free(id->chain, X509_free);
	id->chain = certs;
	certs = NULL;
	id->updated = (uint64_t)cm_now(cm);
	rc = store_identity(cm, id, 0);
out:
	X509_free(leaf);
	sk_X509_pop_free(certs, X509_free);
	identity_free(id);
	return rc;
}

int
certmgr_forget_previous(struct certmgr *cm, const char *name,
			const char *serial, size_t *n)
{
	struct identity *id = NULL;
	struct gw_txn *txn = NULL;
	int rc;

	*n = 0;
	if ((rc = gw_txn_begin(cm->store, GW_TXN_WRITE, &txn)) != 0)
		return rc;
	if ((rc = identity_get(txn, name, &id)) != 0 ||
	    (rc = identity_forget_previous(id, serial, n)) != 0)
		goto out;
	id->updated = (uint64_t)cm_now(cm);
	if ((rc = identity_put(txn, id, 0)) != 0)
		goto out;
	rc = gw_txn_commit(txn);
	txn = NULL;
out:
	if (txn != NULL)
		gw_txn_abort(txn);
	identity_free(id);
	return rc;
}

/* Reads the passphrase file: at most PASSPHRASE_MAX bytes, one trailing
 * newline stripped.  The caller wipes buf. */
static int
read_passphrase(const char *path, char *buf, size_t bufsz)
{
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "rb")) == NULL)
		return gw_err_set_at(GW_ERR_IO, "passphrase-file", "%s: %s", path,
				  strerror(errno));
	n = fread(buf, 1, bufsz - 1, fp);
	if (!feof(fp) && n == bufsz - 1) {
		fclose(fp);
		return gw_err_set_at(GW_ERR_LIMIT, "passphrase-file",
				  "%s: longer than %zu "
				  "bytes",
				  path, bufsz - 2);
	}
	fclose(fp);
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

/* Both without keyUsage (the checks then say what the rules allow),
 * else what its keyUsage allows; both when it allows nothing, so that
 * the checks say why. */
static enum cert_usage
usage_from_cert(X509 *x)
{
	int u = 0;

	if (X509_get_key_usage(x) == UINT32_MAX)
		return CERT_USAGE_BOTH;
	if (cert_key_usage_allows(x, CERT_USAGE_SIGN, CERT_RULES_STANDARD))
		u |= CERT_USAGE_SIGN;
	if (cert_key_usage_allows(x, CERT_USAGE_ENCRYPT, CERT_RULES_STANDARD))
		u |= CERT_USAGE_ENCRYPT;
	return u ? (enum cert_usage)u : CERT_USAGE_BOTH;
}

static const char *
key_type_of(EVP_PKEY *pk, char *buf, size_t len)
{
	char grp[64];

	if (EVP_PKEY_is_a(pk, "RSA"))
		snprintf(buf, len, "rsa:%d", EVP_PKEY_get_bits(pk));
	else if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
						grp, sizeof(grp), NULL))
		snprintf(buf, len, "ec:%s",
			 strcmp(grp, "prime256v1") == 0   ? "p256"
			 : strcmp(grp, "secp384r1") == 0 ? "p384"
			 : strcmp(grp, "secp521r1") == 0 ? "p521"
							 : grp);
	else
		snprintf(buf, len, "%s", EVP_PKEY_get0_type_name(pk));
	return buf;
}

int
certmgr_import_p12(struct certmgr *cm, const char *name,
		   const struct certmgr_p12 *o)
{
	struct identity id;
	struct cert_check_report rep;
	struct p11_token *tok = NULL;
	static OSSL_PROVIDER *legacy, *deflt;
	PKCS12 *p12 = NULL;
	BIO *b = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	char pass[PASSPHRASE_MAX + 2], ktype[80];
	const char *pw = NULL;
	char *key_uri = NULL;
	enum cert_usage usage;
	int rc;

	pass[0] = '\0';
	if ((rc = check_name(name)) != 0 || (rc = name_free(cm, name)) != 0)
		return rc;
	if (o->passphrase_file != NULL) {
		if ((rc = read_passphrase(o->passphrase_file, pass,
					  sizeof(pass))) != 0)
			goto out;
		pw = pass;
	}
	if ((rc = cert_info_read_file(o->file, &b)) != 0)
		goto out;
	if ((p12 = d2i_PKCS12_bio(b, NULL)) == NULL) {
		rc = gw_err_set_ssl(GW_ERR_PARSE,
				    "%s: not a PKCS#12 file (DER)", o->file);
		goto out;
	}
	/*
	 * Legacy files use RC2-40 and 3DES: OpenSSL 3 keeps RC2 in the
	 * legacy provider.  Loading a provider explicitly turns off the
	 * implicit default provider, so load that too, and never unload
	 * either: SoftHSM runs its own crypto on this process's libcrypto
	 * and fails (CKR_GENERAL_ERROR) once the default provider is gone.
	 */
	if (deflt == NULL)
		deflt = OSSL_PROVIDER_load(NULL, "default");
	if (legacy == NULL)
		legacy = OSSL_PROVIDER_load(NULL, "legacy");
	ERR_clear_error();
	if (PKCS12_mac_present(p12) &&
	    !PKCS12_verify_mac(p12, pw ? pw : "", -1) &&
	    (pw != NULL || !PKCS12_verify_mac(p12, NULL, 0))) {
		ERR_clear_error();
		rc = pw == NULL
			 ? gw_err_set_at(GW_ERR_PASSPHRASE_NEEDED,
					 "passphrase-file",
					 "%s is protected by a passphrase and "
					 "none was given",
					 o->file)
			 : gw_err_set(GW_ERR_PASSPHRASE,
				      "%s: MAC verification "
				      "failed (wrong passphrase?)",
				      o->file);
		goto out;
	}
	if (!PKCS12_parse(p12, pw ? pw : "", &pkey, &cert, &ca)) {
		unsigned long e = ERR_peek_last_error();
		rc = gw_err_set_ssl(
		    ERR_GET_LIB(e) == ERR_LIB_EVP ? GW_ERR_UNSUPPORTED
						  : GW_ERR_PARSE,
		    "%s: cannot decrypt the PKCS#12 contents", o->file);
		goto out;
	}
	if (pkey == NULL) {
		rc = gw_err_set(GW_ERR_PARSE, "%s: contains no private key",
				o->file);
		goto out;
	}
	if (cert == NULL) {
		rc = gw_err_set(GW_ERR_PARSE,
				"%s: contains no certificate for its private "
				"key",
				o->file);
		goto out;
	}
	if (X509_check_private_key(cert, pkey) != 1) {
		ERR_clear_error();
		rc = gw_err_set(GW_ERR_MISMATCH,
				"%s: the certificate does not match the "
				"private key",
				o->file);
		goto out;
	}
	usage = o->usage ? o->usage : usage_from_cert(cert);
	if ((rc = run_checks(cert, usage, cert_rules_others(), o->fqdn_check,
			     cm_now(cm), &rep)) != 0)
		goto out;
	if ((rc = token(cm, &tok)) != 0 ||
	    (rc = p11_key_import(tok, pkey, name,
				 (usage & CERT_USAGE_ENCRYPT) ? P11_KEY_DECRYPT
							      : 0,
				 &key_uri)) != 0)
		goto out;
	if ((rc = p11_cert_store(tok, key_uri, name, cert)) != 0)
		goto out;
	memset(&id, 0, sizeof(id));
	id.name = (char *)name;
	id.usage = usage;
	id.key_uri = key_uri;
	id.key_type = (char *)key_type_of(pkey, ktype, sizeof(ktype));
	id.source = "pkcs12";
	id.cert = cert;
	id.chain = ca;
	id.created = id.updated = (uint64_t)cm_now(cm);
	rc = store_identity(cm, &id, GW_PUT_NOOVERWRITE);
out:
	if (rc != 0 && key_uri != NULL)
		p11_objects_destroy(tok, key_uri, NULL);
	OPENSSL_cleanse(pass, sizeof(pass));
	free(key_uri);
	EVP_PKEY_free(pkey);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	BIO_free(b);
	return rc;
}

int
certmgr_delete(struct certmgr *cm, const char *name, size_t *objects)
{
	struct identity *id = NULL;
	struct p11_token *tok;
	struct gw_txn *txn = NULL;
	int rc;

	if (objects != NULL)
		*objects = 0;
	if ((rc = certmgr_get(cm, name, &id)) == GW_ERR_NOT_FOUND &&
	    identity_name_valid(name)) {
		/* No record: clear what a killed create or import left on
		 * the token under this label, if anything. */
		size_t n = 0;
		int rc2;

		if ((rc2 = token(cm, &tok)) != 0)
			return rc2;
		if ((rc2 = p11_objects_destroy_label(tok, name, &n)) != 0)
			return rc2;
		if (objects != NULL)
			*objects = n;
		return n > 0 ? 0 : rc;
	}
	if (rc != 0)
		return rc;
	if ((rc = token(cm, &tok)) != 0 ||
	    (rc = p11_objects_destroy(tok, id->key_uri, objects)) != 0)
		goto out;
	if ((rc = gw_txn_begin(cm->store, GW_TXN_WRITE, &txn)) != 0)
		goto out;
	if ((rc = identity_del(txn, name)) != 0) {
		gw_txn_abort(txn);
		goto out;
	}
	rc = gw_txn_commit(txn);
out:
	identity_free(id);
	return rc;
}
