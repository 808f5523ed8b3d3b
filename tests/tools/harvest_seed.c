/*
 * harvest_seed.c - feeds certificates to harvest_message() as the
 * signers of one message, for the integration tests (the message path
 * that harvests is tested on its own).
 *
 * usage: harvest_seed -c CONF [--now EPOCH] [--sender ADDR]
 *          [--message-id ID] [--failed] [--on-failure] [--updates]
 *          [--allow-expired] [--allow-self-signed] [--max-bytes N]
 *          [--touch REF] CERT...
 *
 * One write transaction; prints each outcome ("new ID ADDRESS: reason")
 * and each alert ("alert: KIND: TEXT"), and sends the alerts to stderr
 * as "syslog: LINE" through the alerts sink.  --touch records a use of
 * REF at --now instead (no CERT).  Exit 0, or 1 with the error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "cert_info.h"
#include "gw_config.h"
#include "gw_err.h"
#include "gw_store.h"
#include "harvest.h"

static void
sink(int prio, const char *line)
{
	fprintf(stderr, "syslog(%d): %s\n", prio, line);
}

static int
num(const char *s, const char *what, unsigned long long *out)
{
	char *e;

	errno = 0;
	*out = strtoull(s, &e, 10);
	if (errno != 0 || *e != '\0' || e == s) {
		fprintf(stderr, "harvest_seed: %s: '%s' is not a number\n",
			what, s);
		return -1;
	}
	return 0;
}

enum {
	O_NOW = 256, O_SENDER, O_MSGID, O_FAILED, O_ON_FAILURE, O_UPDATES,
	O_EXPIRED, O_SELF, O_MAX, O_TOUCH,
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"now", required_argument, NULL, O_NOW},
	    {"sender", required_argument, NULL, O_SENDER},
	    {"message-id", required_argument, NULL, O_MSGID},
	    {"failed", no_argument, NULL, O_FAILED},
	    {"on-failure", no_argument, NULL, O_ON_FAILURE},
	    {"updates", no_argument, NULL, O_UPDATES},
	    {"allow-expired", no_argument, NULL, O_EXPIRED},
	    {"allow-self-signed", no_argument, NULL, O_SELF},
	    {"max-bytes", required_argument, NULL, O_MAX},
	    {"touch", required_argument, NULL, O_TOUCH},
	    {NULL, 0, NULL, 0},
	};
	struct harvest_opts o;
	struct harvest_msg m;
	struct harvest_report rep;
	struct harvested_key *k = NULL;
	struct gw_config *cfg = NULL;
	struct gw_store *st = NULL;
	struct gw_txn *txn = NULL;
	STACK_OF(X509) *signers = NULL, *sk = NULL;
	const char *conf = NULL, *touch = NULL;
	unsigned long long n;
	time_t now = time(NULL);
	size_t i;
	int c, rc = 0, ex = 1;

	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	m.verified = 1;
	m.sender = "";
	m.message_id = "";
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case O_NOW:
			if (num(optarg, "--now", &n) != 0)
				return 2;
			now = (time_t)n;
			break;
		case O_SENDER: m.sender = optarg; break;
		case O_MSGID: m.message_id = optarg; break;
		case O_FAILED: m.verified = 0; break;
		case O_ON_FAILURE: o.on_failure = 1; break;
		case O_UPDATES: o.updates = 1; break;
		case O_EXPIRED: o.allow_expired = 1; break;
		case O_SELF: o.allow_self_signed = 1; break;
		case O_MAX:
			if (num(optarg, "--max-bytes", &n) != 0)
				return 2;
			o.max_bytes = n;
			break;
		case O_TOUCH: touch = optarg; break;
		default:
			return 2;
		}
	}
	if (conf == NULL || (touch == NULL && optind >= argc)) {
		fprintf(stderr, "usage: harvest_seed -c CONF [options] "
				"CERT...\n");
		return 2;
	}
	alerts_set_sink(sink);
	if ((signers = sk_X509_new_null()) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	for (; optind < argc; optind++) {
		if ((rc = cert_info_read_certs(argv[optind], &sk)) != 0)
			goto out;
		while (sk_X509_num(sk) > 0)
			sk_X509_push(signers, sk_X509_shift(sk));
		sk_X509_free(sk);
		sk = NULL;
	}
	m.signers = signers;
	if ((rc = gw_config_load(conf, &cfg)) != 0)
		goto out;
	if (o.max_bytes == 0)
		o.max_bytes = cfg->harvest_max_size;
	if ((rc = gw_store_open(cfg->data_dir, (size_t)cfg->store_map_size,
				&st)) != 0 ||
	    (rc = gw_txn_begin(st, GW_TXN_WRITE, &txn)) != 0)
		goto out;
	if (touch != NULL) {
		if ((rc = harvested_get(txn, touch, &k)) != 0 ||
		    (rc = harvest_touch(txn, k->id, now)) != 0)
			goto out;
		rc = gw_txn_commit(txn);
		txn = NULL;
		if (rc == 0) {
			printf("touched %.16s\n", k->id);
			ex = 0;
		}
		goto out;
	}
	if ((rc = harvest_message(txn, &m, &o, now, &rep)) != 0)
		goto out;
	rc = gw_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto out;
	for (i = 0; i < rep.n; i++)
		printf("%s %.16s %s: %s\n", harvest_what_name(rep.o[i].what),
		       rep.o[i].id[0] ? rep.o[i].id : "-", rep.o[i].address,
		       rep.o[i].reason);
	for (i = 0; i < rep.nalerts; i++)
		printf("alert: %s\n", rep.alerts[i]);
	if (rep.evicted > 0)
		printf("evicted %zu\n", rep.evicted);
	harvest_report_log(&rep);
	ex = 0;
out:
	if (rc != 0)
		fprintf(stderr, "harvest_seed: %s: %s\n", gw_strerror(rc),
			gw_err_detail());
	gw_txn_abort(txn);
	gw_store_close(st);
	gw_config_free(cfg);
	harvested_key_free(k);
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(signers, X509_free);
	return ex;
}
