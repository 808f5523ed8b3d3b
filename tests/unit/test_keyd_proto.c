/*
 * test_keyd_proto.c - the key protocol (gateway/keys/keyd_proto.c)
 * over a socketpair: every request and reply built by one end and read
 * by the other, the caps on both sides, and the three ways keyd turns
 * a request down (unknown type: a refusal; a value it does not offer:
 * an error reply; a malformed frame: GW_ERR_PARSE, close).  Failure
 * cases assert the code and the detail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/obj_mac.h>

#include "gw_err.h"
#include "ipc.h"
#include "keyd_proto.h"

static int sv[2] = {-1, -1};

static int
pair_setup(void **state)
{
	gw_err_clear();
	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

static int
pair_teardown(void **state)
{
	close(sv[0]);
	close(sv[1]);
	sv[0] = sv[1] = -1;
	return 0;
}

/* Sends m (freed) and reads it back into f. */
static void
send_recv(struct ipc_msg *m, struct ipc_frame *f)
{
	assert_int_equal(ipc_write(sv[0], m), 0);
	ipc_msg_free(m);
	assert_int_equal(ipc_read(sv[1], f), 0);
}

static const char URI[] = "pkcs11:token=t;object=gw;id=%01%02;type=private";

/* ---- requests: round trips --------------------------------------------- */

static void
test_requests_round_trip(void **state)
{
	static const unsigned char dgst[32] = {1, 2, 3}, blob[256] = {9},
				   label[] = "lbl", peer[91] = {0x30};
	struct keysrc_sign_params sp = {NID_sha256, KEYSRC_PAD_PSS, -1,
					NID_sha384};
	struct keysrc_decrypt_params dp = {KEYSRC_PAD_OAEP, NID_sha256,
					   NID_sha1, label, 3};
	struct ipc_msg m;
	struct ipc_frame f;
	struct keyd_req r;

	assert_int_equal(keyd_req_pubkey(&m, 1, URI), 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), 0);
	assert_int_equal(r.type, KEYD_PUBKEY);
	assert_int_equal(r.id, 1);
	assert_string_equal(r.uri, URI);
	ipc_frame_free(&f);

	assert_int_equal(keyd_req_sign(&m, 2, URI, &sp, dgst, sizeof(dgst)),
			 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), 0);
	assert_int_equal(r.type, KEYD_SIGN);
	assert_int_equal(r.sign.md_nid, NID_sha256);
	assert_int_equal(r.sign.pad, KEYSRC_PAD_PSS);
	assert_int_equal(r.sign.pss_saltlen, -1);
	assert_int_equal(r.sign.mgf1_md_nid, NID_sha384);
	assert_int_equal(r.len, sizeof(dgst));
	assert_memory_equal(r.data, dgst, sizeof(dgst));
	ipc_frame_free(&f);

	assert_int_equal(keyd_req_decrypt(&m, 3, URI, &dp, blob, sizeof(blob)),
			 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), 0);
	assert_int_equal(r.type, KEYD_DECRYPT);
	assert_int_equal(r.dec.pad, KEYSRC_PAD_OAEP);
	assert_int_equal(r.dec.oaep_md_nid, NID_sha256);
	assert_int_equal(r.dec.mgf1_md_nid, NID_sha1);
	assert_int_equal(r.dec.labellen, 3);
	assert_memory_equal(r.dec.label, "lbl", 3);
	assert_int_equal(r.len, sizeof(blob));
	ipc_frame_free(&f);

	assert_int_equal(keyd_req_derive(&m, 4, URI, peer, sizeof(peer)), 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), 0);
	assert_int_equal(r.type, KEYD_DERIVE);
	assert_int_equal(r.len, sizeof(peer));
	ipc_frame_free(&f);
}

/* ---- requests: caps when building ------------------------------------- */

static void
test_build_caps(void **state)
{
	static unsigned char buf[KEYSRC_BLOB_MAX + 1];
	char uri[KEYD_URI_MAX + 2];
	struct keysrc_sign_params sp = {NID_sha256, KEYSRC_PAD_PKCS1, 0, 0};
	struct keysrc_decrypt_params dp = {KEYSRC_PAD_PKCS1, 0, 0, buf,
					   KEYD_LABEL_MAX + 1};
	struct ipc_msg m;
	static const struct {
		const char *name;
		int which;
		const char *detail;
	} cases[] = {
	    {"URI over the cap", 0, "a key URI of 1025 bytes (1-1024)"},
	    {"empty URI", 1, "a key URI of 0 bytes"},
	    {"digest over the cap", 2, "a digest to sign is 65 bytes"},
	    {"empty digest", 3, "a digest to sign is 0 bytes"},
	    {"key transport over the cap", 4, "a key transport is 2049"},
	    {"OAEP label over the cap", 5, "an OAEP label of 257 bytes"},
	    {"peer key over the cap", 6, "a peer public key of 4097 bytes"},
	};
	size_t i;
	int rc;

	memset(uri, 'u', sizeof(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		gw_err_clear();
		switch (cases[i].which) {
		case 0:
			rc = keyd_req_pubkey(&m, 1, uri);
			break;
		case 1:
			rc = keyd_req_pubkey(&m, 1, "");
			break;
		case 2:
			rc = keyd_req_sign(&m, 1, URI, &sp, buf, 65);
			break;
		case 3:
			rc = keyd_req_sign(&m, 1, URI, &sp, buf, 0);
			break;
		case 4:
			dp.labellen = 0;
			rc = keyd_req_decrypt(&m, 1, URI, &dp, buf,
					      KEYSRC_BLOB_MAX + 1);
			dp.labellen = KEYD_LABEL_MAX + 1;
			break;
		case 5:
			rc = keyd_req_decrypt(&m, 1, URI, &dp, buf, 256);
			break;
		default:
			rc = keyd_req_derive(&m, 1, URI, buf, 0);
			ipc_msg_free(&m);
			assert_int_equal(rc, GW_ERR_LIMIT);
			gw_err_clear();
			{
				static unsigned char big[KEYD_PUBKEY_MAX + 1];

				rc = keyd_req_derive(&m, 1, URI, big,
						     sizeof(big));
			}
			break;
		}
		if (rc != GW_ERR_LIMIT)
			fail_msg("%s: %d, want GW_ERR_LIMIT", cases[i].name, rc);
		assert_substr(gw_err_detail(), cases[i].detail);
		/* A refused request is never written. */
		assert_int_equal(ipc_write(sv[0], &m), GW_ERR_LIMIT);
		ipc_msg_free(&m);
	}
}

/* ---- requests: what keyd refuses -------------------------------------- */

/* Builds a SIGN by hand with the given fields. */
static void
hand_sign(struct ipc_msg *m, const char *uri, size_t urilen, uint32_t md,
	  uint32_t pad, uint32_t salt, size_t dlen, int extra)
{
	static const unsigned char d[KEYSRC_DIGEST_MAX + 1];

	ipc_msg_init(m, KEYD_SIGN, 42);
	ipc_put_bytes(m, uri, urilen);
	ipc_put_u32(m, md);
	ipc_put_u32(m, pad);
	ipc_put_u32(m, salt);
	ipc_put_u32(m, 0);
	ipc_put_bytes(m, d, dlen);
	if (extra)
		ipc_put_u32(m, 1);
}

static void
test_refusals(void **state)
{
	static const struct {
		const char *name;
		const char *uri;
		size_t urilen;
		uint32_t md, pad, salt;
		size_t dlen;
		int extra;
		int rc;
		const char *detail;
	} cases[] = {
	    {"good", URI, sizeof(URI) - 1, NID_sha256, KEYSRC_PAD_PKCS1, 0,
	     32, 0, 0, NULL},
	    {"MD5 is not offered", URI, sizeof(URI) - 1, NID_md5,
	     KEYSRC_PAD_PKCS1, 0, 16, 0, GW_ERR_INVALID,
	     "SIGN: digest NID 4 is not offered"},
	    {"digest of the wrong length", URI, sizeof(URI) - 1, NID_sha256,
	     KEYSRC_PAD_PKCS1, 0, 20, 0, GW_ERR_INVALID,
	     "SIGN: a digest of 20 bytes for NID 672"},
	    {"digest over the cap", URI, sizeof(URI) - 1, NID_sha512,
	     KEYSRC_PAD_PKCS1, 0, 65, 0, GW_ERR_LIMIT,
	     "SIGN: a digest of 65 bytes (1-64)"},
	    {"OAEP padding for a signature", URI, sizeof(URI) - 1,
	     NID_sha256, KEYSRC_PAD_OAEP, 0, 32, 0, GW_ERR_INVALID,
	     "SIGN: padding 2 is not offered"},
	    {"PSS salt -5", URI, sizeof(URI) - 1, NID_sha256, KEYSRC_PAD_PSS,
	     (uint32_t)-5, 32, 0, GW_ERR_INVALID,
	     "SIGN: PSS salt length -5"},
	    {"URI with a NUL", "pkcs11:\0id=%01", 14, NID_sha256,
	     KEYSRC_PAD_PKCS1, 0, 32, 0, GW_ERR_LIMIT, "no NUL"},
	    {"a field too many", URI, sizeof(URI) - 1, NID_sha256,
	     KEYSRC_PAD_PKCS1, 0, 32, 1, GW_ERR_PARSE, "unread bytes"},
	};
	struct ipc_msg m;
	struct ipc_frame f;
	struct keyd_req r;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hand_sign(&m, cases[i].uri, cases[i].urilen, cases[i].md,
			  cases[i].pad, cases[i].salt, cases[i].dlen,
			  cases[i].extra);
		send_recv(&m, &f);
		gw_err_clear();
		rc = keyd_req_read(&f, &r);
		if (rc != cases[i].rc)
			fail_msg("%s: %d (%s), want %d", cases[i].name, rc,
				 gw_err_detail(), cases[i].rc);
		if (cases[i].detail != NULL)
			assert_substr(gw_err_detail(), cases[i].detail);
		assert_int_equal(r.id, 42);
		ipc_frame_free(&f);
	}
}

static void
test_unknown_and_missing(void **state)
{
	struct ipc_msg m;
	struct ipc_frame f;
	struct keyd_req r;

	/* A type outside the closed set: refused before any field is
	 * read, with the id kept for the error reply. */
	ipc_msg_init(&m, KEYD_OK, 7);
	ipc_put_str(&m, URI);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), GW_ERR_UNSUPPORTED);
	assert_substr(gw_err_detail(), "request type 64 is not one keyd serves");
	assert_int_equal(r.id, 7);
	ipc_frame_free(&f);

	/* A DECRYPT without its blob: malformed. */
	gw_err_clear();
	ipc_msg_init(&m, KEYD_DECRYPT, 8);
	ipc_put_str(&m, URI);
	ipc_put_u32(&m, KEYSRC_PAD_PKCS1);
	ipc_put_u32(&m, 0);
	ipc_put_u32(&m, 0);
	ipc_put_bytes(&m, NULL, 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_req_read(&f, &r), GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "read past the end");
	ipc_frame_free(&f);
}

/* ---- replies ----------------------------------------------------------- */

static void
test_replies(void **state)
{
	static const unsigned char sig[] = {0xaa, 0xbb};
	const unsigned char *p;
	struct ipc_msg m;
	struct ipc_frame f;
	size_t n;
	int code;

	assert_int_equal(keyd_reply_ok(&m, 5, sig, sizeof(sig)), 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_reply_read(&f, 5, &code, &p, &n), 0);
	assert_int_equal(code, 0);
	assert_int_equal(n, sizeof(sig));
	assert_memory_equal(p, sig, n);
	ipc_frame_free(&f);

	/* keyd's code and detail come back as they were. */
	assert_int_equal(keyd_reply_error(&m, 6, GW_ERR_P11_TOKEN_ABSENT,
					  "no token matches token=x"), 0);
	send_recv(&m, &f);
	gw_err_clear();
	assert_int_equal(keyd_reply_read(&f, 6, &code, &p, &n), 0);
	assert_int_equal(code, GW_ERR_P11_TOKEN_ABSENT);
	assert_int_equal(gw_err_class(code), GW_ERRCLASS_TEMPORARY);
	assert_string_equal(gw_err_detail(),
			    "smimegw-keyd: no token matches token=x");
	ipc_frame_free(&f);

	/* A number that is no code of ours: internal (temporary). */
	ipc_msg_init(&m, KEYD_ERROR, 9);
	ipc_put_u32(&m, 77);
	ipc_put_u32(&m, GW_ERRCLASS_PERMANENT);
	ipc_put_str(&m, "odd");
	send_recv(&m, &f);
	assert_int_equal(keyd_reply_read(&f, 9, &code, &p, &n), 0);
	assert_int_equal(code, GW_ERR_INTERNAL);
	ipc_frame_free(&f);

	/* The reply to another request: out of step. */
	assert_int_equal(keyd_reply_ok(&m, 10, sig, sizeof(sig)), 0);
	send_recv(&m, &f);
	gw_err_clear();
	assert_int_equal(keyd_reply_read(&f, 11, &code, &p, &n),
			 GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "answered request 10, not 11");
	ipc_frame_free(&f);

	/* A request where a reply belongs. */
	assert_int_equal(keyd_req_pubkey(&m, 12, URI), 0);
	send_recv(&m, &f);
	gw_err_clear();
	assert_int_equal(keyd_reply_read(&f, 12, &code, &p, &n),
			 GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "answered with frame type 1");
	ipc_frame_free(&f);

	/* An OK reply with a field too many. */
	ipc_msg_init(&m, KEYD_OK, 13);
	ipc_put_bytes(&m, sig, sizeof(sig));
	ipc_put_u32(&m, 0);
	send_recv(&m, &f);
	assert_int_equal(keyd_reply_read(&f, 13, &code, &p, &n),
			 GW_ERR_PARSE);
	assert_null(p);
	ipc_frame_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_requests_round_trip,
					    pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_build_caps, pair_setup,
					    pair_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, pair_setup,
					    pair_teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_and_missing,
					    pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_replies, pair_setup,
					    pair_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
