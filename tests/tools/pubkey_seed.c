/*
 * pubkey_seed.c - writes a public-key record as it is, without the
 * checks of "pubkey add", for the integration tests: a store that an
 * earlier smimegw filled (one that took a CA certificate as a pinned
 * partner key, for instance) must still be safe to use.
 *
 * usage: pubkey_seed -c CONF NAME CERT
 *
 * The record gets the capabilities keystore_caps() derives and source
 * "added".  Exit 0, or 1 with the error.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cert_info.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "keystore.h"

int
main(int argc, char **argv)
{
	struct keystore_key k;
	struct gw_config *cfg = NULL;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	STACK_OF(X509) *sk = NULL;
	const char *conf = NULL;
	int c, rc, ex = 1;

	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return 2;
		conf = optarg;
	}
	if (conf == NULL || argc - optind != 2) {
		fprintf(stderr, "usage: pubkey_seed -c CONF NAME CERT\n");
		return 2;
	}
	memset(&k, 0, sizeof(k));
	if ((rc = cert_info_read_certs(argv[optind + 1], &sk)) != 0 ||
	    (rc = gw_config_load(conf, &cfg)) != 0 ||
	    (rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&st)) != 0 ||
	    (rc = gw_txn_begin(st, GW_TXN_WRITE, &txn)) != 0)
		goto out;
	k.name = argv[optind];
	k.cert = sk_X509_value(sk, 0);
	k.caps = keystore_caps(k.cert);
	k.source = (char *)"added";
	k.added = k.updated = (uint64_t)time(NULL);
	if ((rc = keystore_put(txn, &k, GW_PUT_NOOVERWRITE)) != 0)
		goto out;
	rc = gw_txn_commit(txn);
	txn = NULL;
	if (rc == 0) {
		printf("seeded public key '%s' (%s)\n", k.name,
		       keystore_caps_name(k.caps));
		ex = 0;
	}
out:
	if (rc != 0)
		fprintf(stderr, "pubkey_seed: %s: %s\n", gw_strerror(rc),
			gw_err_detail());
	gw_txn_abort(txn);
	gw_store_close(st);
	gw_config_free(cfg);
	sk_X509_pop_free(sk, X509_free);
	return ex;
}
