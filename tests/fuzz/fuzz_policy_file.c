/*
 * fuzz_policy_file.c - libFuzzer target for the policy text formats
 * (policy_file.h: the configuration and sending profile files, and
 * through them the public key export format of keystore.h).
 *
 * The first input byte picks the format (bit 0: configuration or
 * profiles); the rest is the file.  A file that parses is applied to a
 * scratch store in a write transaction that is always aborted, then
 * exported; the export must parse again to as many objects as were
 * added, and export again to the same bytes (the formats promise that
 * an export is a function of the store content only).  Any violation
 * aborts, which libFuzzer reports as a crash.
 *
 * Built with clang -fsanitize=fuzzer, or with replay.c under any
 * compiler to run a corpus as a plain test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_check.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "gw_store.h"
#include "policy_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed clock inside the validity of the seeds' certificates. */
#define FUZZ_NOW ((time_t)1810000000) /* 2027-05-10 */

static struct gw_store *store;
static char store_dir[64];

static void
remove_store(void)
{
	char path[128];

	gw_store_close(store);
	snprintf(path, sizeof(path), "%s/store/data.mdb", store_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store/lock.mdb", store_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/store", store_dir);
	rmdir(path);
	rmdir(store_dir);
}

static struct gw_store *
scratch_store(void)
{
	if (store != NULL)
		return store;
	snprintf(store_dir, sizeof(store_dir), "%s",
		 "/tmp/smimegw-fuzz-policy.XXXXXX");
	CHECK(mkdtemp(store_dir) != NULL);
	CHECK(gw_store_open(store_dir, (size_t)256 << 20, &store) == 0);
	atexit(remove_store);
	return store;
}

static int
parse(int config, const char *buf, size_t len, struct policy_file_import **imp)
{
	return config ? policy_file_parse_config(buf, len, "fuzz", FUZZ_NOW,
						 imp)
		      : policy_file_parse_profiles(buf, len, "fuzz", imp);
}

static int
export(int config, struct gw_txn *txn, struct gw_buf *out)
{
	return config ? policy_file_export_config(txn, out)
		      : policy_file_export_profiles(txn, out);
}

/* Objects an apply to an empty store added. */
static size_t
added(const struct policy_file_import *imp)
{
	struct policy_file_item it;
	size_t i, n = 0;

	for (i = 0; i < policy_file_import_count(imp); i++) {
		CHECK(policy_file_import_item(imp, i, &it) == 0);
		CHECK(it.name != NULL && it.name[0] != '\0');
		CHECK(it.outcome == POLICY_FILE_ADDED ||
		      it.outcome == POLICY_FILE_DUPLICATE);
		n += it.outcome == POLICY_FILE_ADDED;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_file_import *imp = NULL, *again = NULL;
	struct gw_txn *txn = NULL;
	struct gw_buf out1, out2;
	int config, rc;

	if (size < 1)
		return 0;
	config = data[0] & 1;
	gw_buf_init(&out1, POLICY_FILE_MAX);
	gw_buf_init(&out2, POLICY_FILE_MAX);
	rc = parse(config, (const char *)data + 1, size - 1, &imp);
	if (rc != 0) {
		CHECK(rc < 0 && imp == NULL);
		goto out;
	}
	CHECK(gw_txn_begin(scratch_store(), GW_TXN_WRITE, &txn) == 0);
	/* Profiles naming an identity fail validation here (the scratch
	 * store has none): a refusal, not a finding. */
	if (policy_file_apply(txn, imp, 0, FUZZ_NOW) != 0)
		goto out;
	CHECK(export(config, txn, &out1) == 0);
	CHECK(parse(config, (const char *)out1.data, out1.len, &again) == 0);
	CHECK(policy_file_import_count(again) == added(imp));
	/* Exporting the same store twice gives the same bytes. */
	CHECK(export(config, txn, &out2) == 0);
	CHECK(out1.len == out2.len &&
	      memcmp(out1.data, out2.data, out1.len) == 0);
out:
	gw_txn_abort(txn);
	policy_file_import_free(imp);
	policy_file_import_free(again);
	gw_buf_free(&out1);
	gw_buf_free(&out2);
	gw_err_clear();
	return 0;
}
