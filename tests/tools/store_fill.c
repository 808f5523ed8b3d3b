/*
 * store_fill.c - fills a store with many public and harvested keys for
 * the scale benchmark (bench/scale.sh) and the index tests.
 *
 * usage: store_fill -c CONF [-n PUBKEYS] [-H HARVESTED] [-d DOMAINS]
 *                   [-b BATCH] [-s START] [-o CA.pem]
 *        store_fill -x FILE [-n PUBKEYS] [-d DOMAINS] [-s START] [-o CA.pem]
 *
 * Public key i (START <= i < START + PUBKEYS) is named "k<i>" and its
 * certificate (RSA-2048, CN "User <i>", SAN email u<i>@d<i % DOMAINS>
 * .example, keyUsage digitalSignature + keyEncipherment, valid from a
 * day ago for two years) is signed by a test CA made here (EC P-256, so
 * that signing is fast); all certificates share one RSA key pair, since
 * making a million RSA keys would take hours.  Harvested key j gets
 * the address h<j>@hd<j % DOMAINS>.example the same way.  Records are
 * written through keystore_put() and harvested_put(), BATCH (default
 * 10000) to a write transaction, so indexes are kept as by the
 * commands.  -o writes the CA certificate.  Prints the rate; exit 0, or
 * 1 with the error.
 *
 * With -x the public keys are written to FILE ('-': stdout) as the
 * import text of `smimegw pubkey import` (keystore.h), names in order,
 * instead of to a store: the input of the import benchmark and tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "fpid.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"
#include "keystore.h"

struct fill {
	EVP_PKEY *ca_key, *leaf_key;
	X509 *ca;
	unsigned long serial;
	time_t now;
};

static int
ext_add(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A certificate for key, named cn, with the SAN san, signed by the CA
 * (or by itself when f->ca is NULL). */
static X509 *
make_cert(struct fill *f, EVP_PKEY *key, const char *cn, const char *san,
	  int ca)
{
	X509 *x;
	X509_NAME *n;
	X509 *issuer;

	if ((x = X509_new()) == NULL)
		return NULL;
	n = X509_get_subject_name(x);
	issuer = ca ? x : f->ca;
	if (!X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), ++f->serial) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
					(const unsigned char *)"Scale", -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, &f->now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), 730, 0, &f->now) == NULL ||
	    !X509_set_pubkey(x, key))
		goto fail;
	if (ca) {
		if (ext_add(x, x, NID_basic_constraints, "critical,CA:TRUE") ||
		    ext_add(x, x, NID_key_usage, "critical,keyCertSign,cRLSign"))
			goto fail;
	} else if (ext_add(x, issuer, NID_basic_constraints,
			   "critical,CA:FALSE") ||
		   ext_add(x, issuer, NID_key_usage,
			   "critical,digitalSignature,keyEncipherment") ||
		   ext_add(x, issuer, NID_ext_key_usage, "emailProtection") ||
		   ext_add(x, issuer, NID_subject_alt_name, san)) {
		goto fail;
	}
	if (!X509_sign(x, f->ca_key, EVP_sha256()))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

static int
setup(struct fill *f)
{
	memset(f, 0, sizeof(*f));
	f->now = time(NULL);
	f->serial = (unsigned long)f->now << 20;
	if ((f->ca_key = EVP_EC_gen("P-256")) == NULL ||
	    (f->leaf_key = EVP_RSA_gen(2048)) == NULL ||
	    (f->ca = make_cert(f, f->ca_key, "Scale Test CA", NULL, 1)) ==
		NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "making the test CA");
	return 0;
}

static int
put_pubkey(struct gw_txn *txn, struct fill *f, unsigned long i,
	   unsigned long domains)
{
	struct keystore_key k;
	char name[32], cn[48], san[96];
	int rc;

	snprintf(name, sizeof(name), "k%lu", i);
	snprintf(cn, sizeof(cn), "User %lu", i);
	snprintf(san, sizeof(san), "email:u%lu@d%lu.example", i, i % domains);
	memset(&k, 0, sizeof(k));
	if ((k.cert = make_cert(f, f->leaf_key, cn, san, 0)) == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "certificate %lu", i);
	k.name = name;
	k.caps = keystore_caps(k.cert);
	k.source = (char *)"imported";
	k.added = k.updated = (uint64_t)f->now;
	rc = keystore_put(txn, &k, 0);
	X509_free(k.cert);
	return rc;
}

static int
put_harvested(struct gw_txn *txn, struct fill *f, unsigned long j,
	      unsigned long domains)
{
	struct harvested_key k;
	char cn[48], san[96], addr[64], mid[64];
	int rc;

	snprintf(cn, sizeof(cn), "Harvested %lu", j);
	snprintf(addr, sizeof(addr), "h%lu@hd%lu.example", j, j % domains);
	snprintf(san, sizeof(san), "email:%s", addr);
	snprintf(mid, sizeof(mid), "<fill-%lu@scale.example>", j);
	memset(&k, 0, sizeof(k));
	if ((k.cert = make_cert(f, f->leaf_key, cn, san, 0)) == NULL)
		return gw_err_set_ssl(GW_ERR_CRYPTO, "certificate %lu", j);
	if ((rc = fpid_of(k.cert, k.id)) == 0) {
		k.address = addr;
		k.message_id = mid;
		k.sender = addr;
		k.verification = (char *)"pass";
		k.first_seen = k.last_seen = (uint64_t)f->now;
		k.seen_count = 1;
		rc = harvested_put(txn, &k);
	}
	X509_free(k.cert);
	return rc;
}

/* Certificate i for the text: the template t (made by make_cert(), so
 * alike in all else) with its serial, subject and SAN set and signed
 * again, which is much cheaper than making each anew. */
static int
reissue(struct fill *f, X509 *t, unsigned long i, unsigned long domains)
{
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	X509_NAME *n = NULL;
	char cn[48], mail[96];
	int idx, ok = 0;

	snprintf(cn, sizeof(cn), "User %lu", i);
	snprintf(mail, sizeof(mail), "u%lu@d%lu.example", i, i % domains);
	if ((idx = X509_get_ext_by_NID(t, NID_subject_alt_name, -1)) >= 0)
		X509_EXTENSION_free(X509_delete_ext(t, idx));
	if ((n = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
					(const unsigned char *)"Scale", -1, -1,
					0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(t, n) ||
	    !ASN1_INTEGER_set_uint64(X509_get_serialNumber(t), ++f->serial) ||
	    (gens = GENERAL_NAMES_new()) == NULL ||
	    (g = GENERAL_NAME_new()) == NULL ||
	    (ia5 = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(ia5, mail, -1))
		goto out;
	GENERAL_NAME_set0_value(g, GEN_EMAIL, ia5);
	ia5 = NULL;
	if (!sk_GENERAL_NAME_push(gens, g))
		goto out;
	g = NULL;
	ok = X509_add1_ext_i2d(t, NID_subject_alt_name, gens, 0,
			       X509V3_ADD_DEFAULT) == 1 &&
	     X509_sign(t, f->ca_key, EVP_sha256()) > 0;
out:
	ASN1_IA5STRING_free(ia5);
	GENERAL_NAME_free(g);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(n);
	return ok ? 0 : -1;
}

/* The public keys as import text (-x). */
static int
write_text(struct fill *f, const char *path, unsigned long start,
	   unsigned long count, unsigned long domains)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	unsigned long i;
	X509 *t;
	int ok;

	if (fp == NULL)
		return gw_err_set(GW_ERR_IO, "%s: cannot create", path);
	t = make_cert(f, f->leaf_key, "User", "email:u@d.example", 0);
	ok = t != NULL && fprintf(fp, KEYSTORE_EXPORT_HEADER "\n") > 0;
	for (i = start; ok && i < start + count; i++)
		ok = reissue(f, t, i, domains) == 0 &&
		     fprintf(fp, "\nname: k%010lu\n", i) > 0 &&
		     PEM_write_X509(fp, t);
	X509_free(t);
	if (fp == stdout ? fflush(fp) != 0 : fclose(fp) != 0)
		ok = 0;
	return ok ? 0 : gw_err_set_ssl(GW_ERR_IO, "%s: cannot write", path);
}

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* count records from start, batch to a transaction; harvested or not. */
static int
fill_db(struct gw_store *st, struct fill *f, int harvested,
	unsigned long start, unsigned long count, unsigned long domains,
	unsigned long batch)
{
	struct gw_txn *txn = NULL;
	unsigned long i;
	double t0 = secs(), dt;
	int rc = 0;

	for (i = start; i < start + count && rc == 0; i++) {
		if (txn == NULL && (rc = gw_txn_begin(st, GW_TXN_WRITE, &txn)))
			break;
		rc = harvested ? put_harvested(txn, f, i, domains)
			       : put_pubkey(txn, f, i, domains);
		if (rc == 0 && ((i - start + 1) % batch == 0 ||
				i + 1 == start + count)) {
			rc = gw_txn_commit(txn);
			txn = NULL;
		}
	}
	gw_txn_abort(txn);
	if (rc == 0 && count > 0) {
		dt = secs() - t0;
		printf("%s: %lu records in %.1f s (%.0f/s)\n",
		       harvested ? "harvested" : "pubkeys", count, dt,
		       dt > 0 ? (double)count / dt : 0.0);
	}
	return rc;
}

int
main(int argc, char **argv)
{
	struct fill f;
	struct gw_config *cfg = NULL;
	struct gw_store *st = NULL;
	const char *conf = NULL, *ca_out = NULL, *text = NULL;
	unsigned long n = 0, h = 0, domains = 1000, batch = 10000, start = 0;
	FILE *fp;
	int c, rc;

	memset(&f, 0, sizeof(f));
	while ((c = getopt(argc, argv, "c:n:H:d:b:s:o:x:")) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'H': h = strtoul(optarg, NULL, 10); break;
		case 'd': domains = strtoul(optarg, NULL, 10); break;
		case 'b': batch = strtoul(optarg, NULL, 10); break;
		case 's': start = strtoul(optarg, NULL, 10); break;
		case 'o': ca_out = optarg; break;
		case 'x': text = optarg; break;
		default: return 2;
		}
	}
	if ((conf == NULL) == (text == NULL) || domains == 0 || batch == 0 ||
	    optind != argc) {
		fprintf(stderr, "usage: store_fill -c CONF [-n PUBKEYS] "
				"[-H HARVESTED] [-d DOMAINS] [-b BATCH] "
				"[-s START] [-o CA.pem]\n"
				"       store_fill -x FILE [-n PUBKEYS] "
				"[-d DOMAINS] [-s START] [-o CA.pem]\n");
		return 2;
	}
	if (text != NULL) {
		if ((rc = setup(&f)) != 0 ||
		    (rc = write_text(&f, text, start, n, domains)) != 0)
			goto out;
	} else if ((rc = setup(&f)) != 0 ||
	    (rc = gw_config_load(conf, &cfg)) != 0 ||
	    (rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&st)) != 0 ||
	    (rc = fill_db(st, &f, 0, start, n, domains, batch)) != 0 ||
	    (rc = fill_db(st, &f, 1, start, h, domains, batch)) != 0)
		goto out;
	if (ca_out != NULL) {
		if ((fp = fopen(ca_out, "w")) == NULL ||
		    !PEM_write_X509(fp, f.ca) || fclose(fp) != 0)
			rc = gw_err_set(GW_ERR_IO, "%s: cannot write", ca_out);
	}
out:
	if (rc != 0)
		fprintf(stderr, "store_fill: %s: %s\n", gw_strerror(rc),
			gw_err_detail());
	gw_store_close(st);
	gw_config_free(cfg);
	EVP_PKEY_free(f.ca_key);
	EVP_PKEY_free(f.leaf_key);
	X509_free(f.ca);
	return rc == 0 ? 0 : 1;
}
