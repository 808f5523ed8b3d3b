/*
 * test_profile.c - table tests for gateway/profile.c and the profile
 * text of gateway/policy_file.c.
 *
 * One store under a mkdtemp directory holds identities made here (no
 * token: an identity record only names its key), among them an expired
 * one, a not yet valid one and one for encryption only.  The validation
 * cases are profiles with the code and the detail they must give; the
 * parse cases are texts with the detail (or success) they must give.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "gw_err.h"
#include "gw_store.h"
#include "identity.h"
#include "policy_file.h"
#include "profile.h"

#define DAY 86400L

static char tmpdir[64];
static struct gw_store *st;
static time_t now;

/* A self-signed certificate for key, valid from now+from to now+to. */
static X509 *
mkcert(EVP_PKEY *key, long from, long to)
{
	X509 *x = X509_new();
	X509_NAME *n;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_time_adj_ex(X509_getm_notBefore(x), 0, from, &now);
	X509_time_adj_ex(X509_getm_notAfter(x), 0, to, &now);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
				   (const unsigned char *)"unit.example", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static void
put_identity(struct gw_txn *txn, const char *name, EVP_PKEY *key,
	     enum cert_usage usage, long from, long to)
{
	struct identity id;

	memset(&id, 0, sizeof(id));
	id.name = (char *)name;
	id.usage = usage;
	id.key_uri = (char *)"pkcs11:object=unit";
	id.key_type = (char *)"unit";
	id.source = (char *)"unit";
	id.cert = mkcert(key, from, to);
	assert_int_equal(identity_put(txn, &id, 0), 0);
	X509_free(id.cert);
}

static int
setup(void **state)
{
	struct gw_txn *txn = NULL;
	EVP_PKEY *rsa, *ec;

	now = time(NULL);
	assert_int_equal(unit_tmpdir(tmpdir, sizeof(tmpdir), "test_profile"),
			 0);
	assert_int_equal(gw_store_open(tmpdir, 0, &st), 0);
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(rsa);
	assert_non_null(ec);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	put_identity(txn, "rsa", rsa, CERT_USAGE_SIGN, -DAY, 30 * DAY);
	put_identity(txn, "ec", ec, CERT_USAGE_BOTH, -DAY, 30 * DAY);
	put_identity(txn, "enc", rsa, CERT_USAGE_ENCRYPT, -DAY, 30 * DAY);
	put_identity(txn, "expired", rsa, CERT_USAGE_SIGN, -30 * DAY, -DAY);
	put_identity(txn, "future", rsa, CERT_USAGE_SIGN, DAY, 30 * DAY);
	assert_int_equal(gw_txn_commit(txn), 0);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static int
teardown(void **state)
{
	gw_store_close(st);
	unit_rmtree(tmpdir);
	return 0;
}

/* ---- validation --------------------------------------------------------- */

static const struct vcase {
	const char *what;
	const char *name;
	enum profile_mode mode;
	const char *cert;
	enum smime_sign_mode sign_mode;
	enum profile_action action;
	const char *cipher, *digest;
	int pss, oaep;
	int rc;
	const char *detail; /* substring of the latched detail */
} vcases[] = {
    {"sign with an RSA identity and pss", "a", PROFILE_MODE_SIGN, "rsa",
     SMIME_SIGN_OPAQUE, 0, "", "sha512", 1, 0, 0, ""},
    {"triple, everything set", "a.b_c-9", PROFILE_MODE_TRIPLE, "ec",
     SMIME_SIGN_DETACHED, PROFILE_ACTION_SPLIT, "aes128-gcm", "sha384", 0,
     1, 0, ""},
    {"encrypt only", "e", PROFILE_MODE_ENCRYPT, "", SMIME_SIGN_DETACHED,
     PROFILE_ACTION_DROP, "aes192-cbc", "", 0, 1, 0, ""},
    {"empty name", "", PROFILE_MODE_ENCRYPT, "", 0, PROFILE_ACTION_DROP, "",
     "", 0, 0, GW_ERR_INVALID, "name: '' must be 1-64"},
    {"name with a slash", "a/b", PROFILE_MODE_ENCRYPT, "", 0,
     PROFILE_ACTION_DROP, "", "", 0, 0, GW_ERR_INVALID, "name: 'a/b'"},
    {"mode out of range", "a", (enum profile_mode)9, "", 0,
     PROFILE_ACTION_DROP, "", "", 0, 0, GW_ERR_INVALID,
     "mode: 9 is not sign"},
    {"mode zero", "a", (enum profile_mode)0, "", 0, PROFILE_ACTION_DROP, "",
     "", 0, 0, GW_ERR_INVALID, "mode: 0 is not sign"},
    {"sign mode out of range", "a", PROFILE_MODE_SIGN, "rsa",
     (enum smime_sign_mode)7, 0, "", "", 0, 0, GW_ERR_INVALID,
     "sign-mode: 7 is not detached or opaque"},
    {"action out of range", "a", PROFILE_MODE_ENCRYPT, "", 0,
     (enum profile_action)8, "", "", 0, 0, GW_ERR_INVALID,
     "action: 8 is not bounce, drop or split"},
    {"unknown cipher", "a", PROFILE_MODE_ENCRYPT, "", 0, PROFILE_ACTION_DROP,
     "des-ede3-cbc", "", 0, 0, GW_ERR_INVALID,
     "cipher: 'des-ede3-cbc' is not one of"},
    {"unknown digest", "a", PROFILE_MODE_SIGN, "rsa", 0, 0, "", "sha1", 0, 0,
     GW_ERR_INVALID, "digest: 'sha1' is not one of"},
    {"sign without cert", "a", PROFILE_MODE_SIGN, "", 0, 0, "", "", 0, 0,
     GW_ERR_INVALID, "cert: mode 'sign' signs and needs a signing"},
    {"missing identity", "a", PROFILE_MODE_SIGN, "nobody", 0, 0, "", "", 0,
     0, GW_ERR_INVALID, "cert: no identity named 'nobody'"},
    {"invalid identity name", "a", PROFILE_MODE_SIGN, "-x", 0, 0, "", "", 0,
     0, GW_ERR_INVALID, "cert: '-x' is not a valid identity name"},
    {"identity for encryption only", "a", PROFILE_MODE_SIGN_ENCRYPT, "enc",
     0, PROFILE_ACTION_BOUNCE, "", "", 0, 0, GW_ERR_REQUIREMENT,
     "cert: identity 'enc' is for encryption only"},
    {"expired identity", "a", PROFILE_MODE_SIGN, "expired", 0, 0, "", "", 0,
     0, GW_ERR_REQUIREMENT, "cert: identity 'expired' expired on"},
    {"not yet valid identity", "a", PROFILE_MODE_SIGN, "future", 0, 0, "",
     "", 0, 0, GW_ERR_REQUIREMENT,
     "cert: identity 'future' is not valid before"},
    {"pss with an EC key", "a", PROFILE_MODE_SIGN, "ec", 0, 0, "", "", 1, 0,
     GW_ERR_INVALID, "pss: RSASSA-PSS needs an RSA signing key; identity "
		     "'ec' has an EC key"},
    {"encrypt without action", "a", PROFILE_MODE_TRIPLE, "rsa", 0, 0, "", "",
     0, 0, GW_ERR_INVALID, "action: mode 'triple' encrypts and needs"},
    {"action with sign", "a", PROFILE_MODE_SIGN, "rsa", 0,
     PROFILE_ACTION_SPLIT, "", "", 0, 0, GW_ERR_INVALID,
     "action: mode 'sign' does not encrypt"},
    {"cipher with sign", "a", PROFILE_MODE_SIGN, "rsa", 0, 0, "aes128-cbc",
     "", 0, 0, GW_ERR_INVALID, "cipher: mode 'sign' does not encrypt"},
    {"oaep with sign", "a", PROFILE_MODE_SIGN, "rsa", 0, 0, "", "", 0, 1,
     GW_ERR_INVALID, "oaep: mode 'sign' does not encrypt"},
    {"cert with encrypt", "a", PROFILE_MODE_ENCRYPT, "rsa", 0,
     PROFILE_ACTION_DROP, "", "", 0, 0, GW_ERR_INVALID,
     "cert: mode 'encrypt' does not sign"},
    {"opaque with encrypt", "a", PROFILE_MODE_ENCRYPT, "",
     SMIME_SIGN_OPAQUE, PROFILE_ACTION_DROP, "", "", 0, 0, GW_ERR_INVALID,
     "sign-mode: mode 'encrypt' does not sign"},
    {"digest with encrypt", "a", PROFILE_MODE_ENCRYPT, "", 0,
     PROFILE_ACTION_DROP, "", "sha256", 0, 0, GW_ERR_INVALID,
     "digest: mode 'encrypt' does not sign"},
    {"pss with encrypt", "a", PROFILE_MODE_ENCRYPT, "", 0,
     PROFILE_ACTION_DROP, "", "", 1, 0, GW_ERR_INVALID,
     "pss: mode 'encrypt' does not sign"},
};

static void
fill(struct profile *p, const struct vcase *c)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", c->name);
	p->mode = c->mode;
	snprintf(p->cert, sizeof(p->cert), "%s", c->cert);
	p->sign_mode = c->sign_mode;
	p->action = c->action;
	snprintf(p->cipher, sizeof(p->cipher), "%s", c->cipher);
	snprintf(p->digest, sizeof(p->digest), "%s", c->digest);
	p->pss = c->pss;
	p->oaep = c->oaep;
}

static void
test_validate(void **state)
{
	struct gw_txn *txn = NULL;
	struct profile p;
	size_t i;
	int rc;

	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	for (i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		fill(&p, &vcases[i]);
		gw_err_clear();
		rc = profile_validate(txn, &p, now);
		if (rc != vcases[i].rc)
			fail_msg("%s: rc %d, wanted %d (%s)", vcases[i].what,
				 rc, vcases[i].rc, gw_err_detail());
		assert_substr(gw_err_detail(), vcases[i].detail);
	}
	gw_txn_abort(txn);
}

/* Fields without their NUL are refused, not read past. */
static void
test_validate_unterminated(void **state)
{
	struct gw_txn *txn = NULL;
	struct profile p;

	assert_int_equal(gw_txn_begin(st, GW_TXN_READ, &txn), 0);
	fill(&p, &vcases[2]);
	memset(p.cipher, 'a', sizeof(p.cipher));
	gw_err_clear();
	assert_int_equal(profile_validate(txn, &p, now), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "cipher: '' is not one of");
	fill(&p, &vcases[0]);
	memset(p.name, 'n', sizeof(p.name));
	gw_err_clear();
	assert_int_equal(profile_validate(txn, &p, now), GW_ERR_INVALID);
	assert_substr(gw_err_detail(), "name: '' must be");
	gw_txn_abort(txn);
}

/* ---- names -------------------------------------------------------------- */

static void
test_names(void **state)
{
	enum profile_mode m;
	enum profile_action a;
	enum smime_sign_mode s;
	const char *const mn[] = {"sign", "encrypt", "sign-encrypt", "triple"};
	size_t i;

	for (i = 0; i < 4; i++) {
		assert_int_equal(profile_mode_parse(mn[i], &m), 0);
		assert_string_equal(profile_mode_name(m), mn[i]);
	}
	assert_int_equal(profile_mode_parse("Sign", &m), GW_ERR_INVALID);
	assert_int_equal(profile_mode_parse("", &m), GW_ERR_INVALID);
	assert_int_equal(profile_action_parse("split", &a), 0);
	assert_int_equal(a, PROFILE_ACTION_SPLIT);
	assert_int_equal(profile_action_parse("none", &a), GW_ERR_INVALID);
	assert_int_equal(profile_sign_mode_parse("opaque", &s), 0);
	assert_int_equal(s, SMIME_SIGN_OPAQUE);
	assert_int_equal(profile_sign_mode_parse("clear", &s), GW_ERR_INVALID);
	assert_true(profile_mode_signs(PROFILE_MODE_TRIPLE));
	assert_false(profile_mode_signs(PROFILE_MODE_ENCRYPT));
	assert_true(profile_mode_encrypts(PROFILE_MODE_SIGN_ENCRYPT));
	assert_false(profile_mode_encrypts(PROFILE_MODE_SIGN));
	assert_string_equal(profile_action_name(PROFILE_ACTION_NONE), "none");
}

/* ---- parsing ------------------------------------------------------------ */

static const struct pcase {
	const char *what;
	const char *text;
	int rc;
	const char *detail; /* substring; "" for success */
	size_t count;	    /* profiles on success */
} pcases[] = {
    {"header only", "smimegw-profiles 1\n", 0, "", 0},
    {"CRLF, trailing blanks, comments",
     "smimegw-profiles 1\r\n# c\r\n\r\nname: a  \r\nmode: encrypt\t\r\n"
     "action: drop\r\n",
     0, "", 1},
    {"no final newline",
     "smimegw-profiles 1\nname: a\nmode: encrypt\naction: bounce", 0, "",
     1},
    {"empty", "", GW_ERR_PARSE, "u:1: empty file", 0},
    {"header with a BOM", "\xef\xbb\xbfsmimegw-profiles 1\n", GW_ERR_PARSE,
     "u:1: not a smimegw sending profile export", 0},
    {"upper-case attribute", "smimegw-profiles 1\nname: a\nMode: sign\n",
     GW_ERR_PARSE, "u:3: unexpected line 'Mode: sign'", 0},
    {"name of 65 characters",
     "smimegw-profiles 1\nname: "
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     GW_ERR_PARSE, "u:2: 'aaaa", 0},
    {"empty name", "smimegw-profiles 1\nname:\n", GW_ERR_PARSE,
     "u:2: '' is not a valid name", 0},
    {"empty value", "smimegw-profiles 1\nname: a\nmode:\n", GW_ERR_PARSE,
     "u:3: mode: empty value", 0},
    {"cipher too long",
     "smimegw-profiles 1\nname: a\nmode: encrypt\naction: drop\n"
     "cipher: aes256-cbc-aes256-cbc\n",
     GW_ERR_PARSE, "u:5: cipher: 'aes256-cbc-aes256-cbc' is not one of", 0},
    {"a control character shown escaped",
     "smimegw-profiles 1\nname: a\nmode: si\x01gn\n", GW_ERR_PARSE,
     "u:3: mode: 'si\\x01gn' is not one of", 0},
    {"digest on an encrypt profile",
     "smimegw-profiles 1\nname: a\nmode: encrypt\naction: drop\n"
     "digest: sha256\n",
     GW_ERR_PARSE, "u:5: profile 'a': digest: mode 'encrypt' does not sign",
     0},
    {"mode after the attributes",
     "smimegw-profiles 1\nname: a\naction: drop\noaep: yes\nmode: encrypt\n",
     0, "", 1},
    {"names compared exactly",
     "smimegw-profiles 1\nname: a\nmode: encrypt\naction: drop\n"
     "name: A\nmode: encrypt\naction: drop\n",
     0, "", 2},
    {"a mode without the entry's last attribute",
     "smimegw-profiles 1\nname: a\nmode: encrypt\naction: drop\nname: b\n",
     GW_ERR_PARSE, "u:5: profile 'b' has no 'mode:' line", 0},
};

static void
test_parse(void **state)
{
	struct policy_file_import *imp = NULL;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
		gw_err_clear();
		rc = policy_file_parse_profiles(pcases[i].text,
						strlen(pcases[i].text), "u",
						&imp);
		if (rc != pcases[i].rc)
			fail_msg("%s: rc %d, wanted %d (%s)", pcases[i].what,
				 rc, pcases[i].rc, gw_err_detail());
		assert_substr(gw_err_detail(), pcases[i].detail);
		if (rc == 0)
			assert_int_equal(policy_file_import_count(imp),
					 pcases[i].count);
		else
			assert_null(imp);
		policy_file_import_free(imp);
		imp = NULL;
	}
}

/* A line over the ceiling and a NUL byte are refused with their line. */
static void
test_parse_limits(void **state)
{
	struct policy_file_import *imp = NULL;
	char *buf;
	size_t n = 5000;

	buf = malloc(n + 64);
	assert_non_null(buf);
	snprintf(buf, 64, "smimegw-profiles 1\n# ");
	memset(buf + strlen(buf), 'x', n);
	buf[19 + 2 + n] = '\0';
	gw_err_clear();
	assert_int_equal(
	    policy_file_parse_profiles(buf, strlen(buf), "u", &imp),
	    GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "u:2: line longer than 4096 bytes");
	free(buf);
	gw_err_clear();
	assert_int_equal(policy_file_parse_profiles("smimegw-profiles 1\n\0\n",
						    21, "u", &imp),
			 GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "u:2: a NUL byte");
}

/* ---- store, export, import ---------------------------------------------- */

static void
test_roundtrip(void **state)
{
	struct policy_file_import *imp = NULL;
	struct policy_file_item it;
	struct gw_txn *txn = NULL;
	struct gw_buf a, b;
	struct profile p;
	size_t i;

	gw_buf_init(&a, 1 << 20);
	gw_buf_init(&b, 1 << 20);
	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	fill(&p, &vcases[0]);
	assert_int_equal(profile_put(txn, &p, GW_PUT_NOOVERWRITE), 0);
	gw_err_clear();
	assert_int_equal(profile_put(txn, &p, GW_PUT_NOOVERWRITE),
			 GW_ERR_EXISTS);
	assert_substr(gw_err_detail(), "a sending profile named 'a' already");
	fill(&p, &vcases[1]);
	assert_int_equal(profile_put(txn, &p, 0), 0);
	fill(&p, &vcases[2]);
	assert_int_equal(profile_put(txn, &p, 0), 0);
	assert_int_equal(policy_file_export_profiles(txn, &a), 0);
	assert_int_equal(policy_file_parse_profiles((const char *)a.data, a.len,
						    "x", &imp),
			 0);
	assert_int_equal(policy_file_import_count(imp), 3);
	assert_int_equal(policy_file_apply(txn, imp, 0, now), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(policy_file_import_item(imp, i, &it), 0);
		assert_int_equal(it.kind, POLICY_FILE_PROFILE);
		assert_int_equal(it.outcome, POLICY_FILE_DUPLICATE);
	}
	assert_int_equal(policy_file_import_item(imp, 3, &it), GW_ERR_INVALID);
	assert_int_equal(policy_file_export_profiles(txn, &b), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(profile_get(txn, "a.b_c-9", &p), 0);
	assert_int_equal(p.mode, PROFILE_MODE_TRIPLE);
	assert_string_equal(p.cipher, "aes128-gcm");
	assert_string_equal(p.digest, "sha384");
	assert_true(p.oaep);
	gw_err_clear();
	assert_int_equal(profile_del(txn, "nobody"), GW_ERR_NOT_FOUND);
	assert_substr(gw_err_detail(), "no sending profile named 'nobody'");
	gw_txn_abort(txn);
	policy_file_import_free(imp);
	gw_buf_free(&a);
	gw_buf_free(&b);
}

static void
test_users(void **state)
{
	struct gw_txn *txn = NULL;
	struct profile p;
	char buf[32];
	size_t n = 0;
	int i;

	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	for (i = 0; i < 6; i++) {
		fill(&p, &vcases[0]);
		snprintf(p.name, sizeof(p.name), "user%d", i);
		assert_int_equal(profile_put(txn, &p, 0), 0);
	}
	fill(&p, &vcases[2]); /* encrypt: no cert */
	assert_int_equal(profile_put(txn, &p, 0), 0);
	assert_int_equal(profile_cert_users(txn, "rsa", buf, sizeof(buf), &n),
			 0);
	assert_int_equal(n, 6);
	assert_string_equal(buf, "'user0', 'user1', ...");
	assert_int_equal(profile_cert_users(txn, "ec", buf, sizeof(buf), &n),
			 0);
	assert_int_equal(n, 0);
	assert_string_equal(buf, "");
	assert_int_equal(profile_cert_users(txn, "rsa", NULL, 0, &n), 0);
	assert_int_equal(n, 6);
	gw_txn_abort(txn);
}

/* A corrupt record is a store error, not a crash or a garbage profile. */
static void
test_corrupt(void **state)
{
	static const unsigned char bad[] = {0, 2, 0, 0, 0, 99, 'a'};
	static const unsigned char noname[] = {0, 3, 0, 0, 0, 1, 1};
	struct gw_txn *txn = NULL;
	struct profile p;

	assert_int_equal(gw_txn_begin(st, GW_TXN_WRITE, &txn), 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_PROFILES, "bad", 3, bad,
				    sizeof(bad), 0),
			 0);
	assert_int_equal(gw_txn_put(txn, GW_DB_PROFILES, "noname", 6, noname,
				    sizeof(noname), 0),
			 0);
	gw_err_clear();
	assert_int_equal(profile_get(txn, "bad", &p), GW_ERR_STORE);
	assert_substr(gw_err_detail(), "corrupt record");
	gw_err_clear();
	assert_int_equal(profile_get(txn, "noname", &p), GW_ERR_STORE);
	assert_substr(gw_err_detail(), "incomplete sending profile record");
	gw_txn_abort(txn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_validate_unterminated),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_users),
	    cmocka_unit_test(test_corrupt),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
