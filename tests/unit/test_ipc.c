/*
 * test_ipc.c - lib/ipc.c over a socketpair.
 *
 * Frames built with the ipc_put_*() builder are read back field by
 * field; hand-made byte strings stand in for a broken or hostile peer
 * (a frame cut short, a length over the ceiling, a field that runs
 * past the end, bytes left unread, the wrong tag or frame type).  Each
 * failure case asserts the code and the detail, not only "it failed".
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "ipc.h"

#define T_REQ 7
#define T_REPLY 8

static int sv[2];

static int
pair_setup(void **state)
{
	gw_err_clear();
	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

static int
pair_teardown(void **state)
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
	return 0;
}

/* Writes raw bytes to the writing end (a peer that builds its own). */
static void
raw(const void *p, size_t n)
{
	assert_int_equal(write(sv[0], p, n), (ssize_t)n);
}

static void
close_writer(void)
{
	close(sv[0]);
	sv[0] = -1;
}

/* Reads one frame from sv[1] expecting code rc and, if rc != 0 and
 * detail is not NULL, a detail containing it. */
static void
read_expect(struct ipc_frame *f, int rc, const char *detail)
{
	int got;

	gw_err_clear();
	got = ipc_read(sv[1], f);
	if (got != rc)
		fail_msg("ipc_read: %d (%s), want %d", got, gw_err_detail(),
			 rc);
	if (rc != 0 && detail != NULL)
		assert_substr(gw_err_detail(), detail);
}

/* ---- round trips ------------------------------------------------------- */

static void
test_round_trip(void **state)
{
	static const unsigned char bin[] = {0, 1, 2, 0xff, 0, 0x80};
	const unsigned char *p;
	struct ipc_msg m;
	struct ipc_frame f;
	uint32_t u32;
	uint64_t u64;
	char name[32];
	size_t n;

	ipc_msg_init(&m, T_REQ, 0xdeadbeef);
	assert_int_equal(ipc_put_u32(&m, 0x01020304), 0);
	assert_int_equal(ipc_put_u64(&m, UINT64_C(0x1122334455667788)), 0);
	assert_int_equal(ipc_put_bytes(&m, bin, sizeof(bin)), 0);
	assert_int_equal(ipc_put_bytes(&m, NULL, 0), 0);
	assert_int_equal(ipc_put_str(&m, "bob@example.com"), 0);
	assert_int_equal(ipc_write(sv[0], &m), 0);
	ipc_msg_free(&m);

	read_expect(&f, 0, NULL);
	assert_int_equal(ipc_frame_type(&f), T_REQ);
	assert_int_equal(ipc_frame_id(&f), 0xdeadbeef);
	assert_int_equal(ipc_expect(&f, T_REQ, 0xdeadbeef), 0);
	assert_int_equal(ipc_get_u32(&f, &u32), 0);
	assert_int_equal(u32, 0x01020304);
	assert_int_equal(ipc_get_u64(&f, &u64), 0);
	assert_true(u64 == UINT64_C(0x1122334455667788));
	assert_int_equal(ipc_get_bytes(&f, &p, &n), 0);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(p, bin, sizeof(bin));
	assert_int_equal(ipc_get_bytes(&f, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(ipc_get_str(&f, name, sizeof(name)), 0);
	assert_string_equal(name, "bob@example.com");
	assert_int_equal(ipc_end(&f), 0);
	ipc_frame_free(&f);
}

/* Several frames back to back, an empty one among them, then a clean
 * end of stream. */
static void
test_sequence_and_eof(void **state)
{
	struct ipc_msg m;
	struct ipc_frame f;
	uint32_t i, v;

	for (i = 1; i <= 3; i++) {
		ipc_msg_init(&m, T_REPLY, i);
		if (i != 2)
			assert_int_equal(ipc_put_u32(&m, i * 10), 0);
		assert_int_equal(ipc_write(sv[0], &m), 0);
		ipc_msg_free(&m);
	}
	close_writer();
	for (i = 1; i <= 3; i++) {
		read_expect(&f, 0, NULL);
		assert_int_equal(ipc_expect(&f, T_REPLY, i), 0);
		if (i != 2) {
			assert_int_equal(ipc_get_u32(&f, &v), 0);
			assert_int_equal(v, i * 10);
		}
		assert_int_equal(ipc_end(&f), 0);
		ipc_frame_free(&f);
	}
	read_expect(&f, GW_ERR_NOT_FOUND, NULL);
	ipc_frame_free(&f);
}

/* The peer writes one byte at a time: the reader assembles the frame
 * across many short reads. */
static void
test_partial_reads(void **state)
{
	struct ipc_msg m;
	struct ipc_frame f;
	const unsigned char *p;
	pid_t pid;
	size_t i, n;
	int status;

	ipc_msg_init(&m, T_REQ, 42);
	assert_int_equal(ipc_put_str(&m, "split at every byte"), 0);
	/* The length is filled in by ipc_write(); mirror it here. */
	m.buf.data[11] = (unsigned char)(m.buf.len - IPC_HDR_LEN);
	if ((pid = fork()) == 0) {
		close(sv[1]);
		for (i = 0; i < m.buf.len; i++) {
			if (write(sv[0], m.buf.data + i, 1) != 1)
				_exit(1);
			usleep(500);
		}
		_exit(0);
	}
	assert_true(pid > 0);
	close_writer();
	read_expect(&f, 0, NULL);
	assert_int_equal(ipc_expect(&f, T_REQ, 42), 0);
	assert_int_equal(ipc_get_bytes(&f, &p, &n), 0);
	assert_int_equal(n, strlen("split at every byte"));
	assert_memory_equal(p, "split at every byte", n);
	assert_int_equal(ipc_end(&f), 0);
	ipc_frame_free(&f);
	ipc_msg_free(&m);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* ---- the stream cut short ---------------------------------------------- */

static const struct trunc_case {
	const char *name;
	const unsigned char *bytes;
	size_t len;
	const char *detail;
} trunc_cases[] = {
	{"5 of 12 header bytes", (const unsigned char *)"\0\0\0\7\0", 5,
	 "inside a frame header (5 of 12 bytes)"},
	{"payload 20 announced, 6 sent",
	 (const unsigned char *)"\0\0\0\7\0\0\0\1\0\0\0\x14"
				"\1\0\0\0\1\3",
	 18, "inside a frame (6 of 20 payload bytes)"},
	{"payload announced, none sent",
	 (const unsigned char *)"\0\0\0\7\0\0\0\1\0\0\0\x05", 12,
	 "(0 of 5 payload bytes)"},
};

static void
test_truncated(void **state)
{
	struct ipc_frame f;
	uint32_t v;
	size_t i;

	for (i = 0; i < sizeof(trunc_cases) / sizeof(trunc_cases[0]); i++) {
		const struct trunc_case *c = &trunc_cases[i];

		pair_teardown(state);
		assert_int_equal(pair_setup(state), 0);
		raw(c->bytes, c->len);
		close_writer();
		gw_err_clear();
		if (ipc_read(sv[1], &f) != GW_ERR_IO)
			fail_msg("%s: not GW_ERR_IO", c->name);
		assert_substr(gw_err_detail(), c->detail);
		/* Nothing can be read from a failed frame. */
		assert_int_equal(ipc_get_u32(&f, &v), GW_ERR_PARSE);
		assert_int_equal(ipc_end(&f), GW_ERR_PARSE);
		ipc_frame_free(&f);
	}
}

/* ---- ceilings ---------------------------------------------------------- */

static void
test_oversize_header_refused(void **state)
{
	/* 256 KiB + 1 announced: refused before anything is allocated. */
	static const unsigned char hdr[] = {0, 0, 0, 7, 0, 0, 0, 1,
					    0, 4, 0, 1};
	static const unsigned char huge[] = {0, 0, 0, 7, 0, 0, 0, 1,
					     0xff, 0xff, 0xff, 0xff};
	struct ipc_frame f;

	raw(hdr, sizeof(hdr));
	read_expect(&f, GW_ERR_LIMIT,
		    "frame of 262145 bytes refused (limit 262144)");
	ipc_frame_free(&f);

	pair_teardown(state);
	assert_int_equal(pair_setup(state), 0);
	raw(huge, sizeof(huge));
	read_expect(&f, GW_ERR_LIMIT, "frame of 4294967295 bytes refused");
	ipc_frame_free(&f);
}

/* The builder stops at the ceiling; exactly the ceiling goes through (a
 * regular file stands in for the socket, so nothing blocks and the
 * write() fallback is used). */
static void
test_builder_ceiling(void **state)
{
	const unsigned char *p;
	unsigned char *big;
	struct ipc_msg m;
	struct ipc_frame f;
	FILE *fp;
	size_t n, fits = IPC_MAX_PAYLOAD - 1 - 4;

	assert_non_null(big = calloc(1, IPC_MAX_PAYLOAD + 1));

	ipc_msg_init(&m, T_REPLY, 1);
	gw_err_clear();
	assert_int_equal(ipc_put_bytes(&m, big, fits + 1), GW_ERR_LIMIT);
	assert_substr(gw_err_detail(), "frame payload over 262144 bytes");
	/* Latched: later puts and the write fail the same way. */
	assert_int_equal(ipc_put_u32(&m, 1), GW_ERR_LIMIT);
	assert_int_equal(ipc_write(sv[0], &m), GW_ERR_LIMIT);
	ipc_msg_free(&m);

	ipc_msg_init(&m, T_REPLY, 1);
	assert_int_equal(ipc_put_bytes(&m, big, fits), 0);
	assert_int_equal(ipc_put_u32(&m, 0), GW_ERR_LIMIT);
	ipc_msg_free(&m);

	ipc_msg_init(&m, T_REPLY, 2);
	big[0] = 'x';
	big[fits - 1] = 'y';
	assert_int_equal(ipc_put_bytes(&m, big, fits), 0);
	assert_non_null(fp = tmpfile());
	assert_int_equal(ipc_write(fileno(fp), &m), 0);
	ipc_msg_free(&m);
	assert_int_equal(lseek(fileno(fp), 0, SEEK_SET), 0);
	assert_int_equal(ipc_read(fileno(fp), &f), 0);
	assert_int_equal(ipc_expect(&f, T_REPLY, 2), 0);
	assert_int_equal(ipc_get_bytes(&f, &p, &n), 0);
	assert_int_equal(n, fits);
	assert_int_equal(p[0], 'x');
	assert_int_equal(p[fits - 1], 'y');
	assert_int_equal(ipc_end(&f), 0);
	ipc_frame_free(&f);
	fclose(fp);
	free(big);
}

/* ---- strict reading ---------------------------------------------------- */

/* Frames as a peer could send them; the reads the receiver makes. */
enum op { END, U32, U64, BYTES, STR8 };

static const struct strict_case {
	const char *name;
	const unsigned char *payload;
	size_t len;
	enum op ops[4];	/* read in order, then ipc_end() */
	int failing;	/* index of the op (or END) that must fail */
	const char *detail;
} strict_cases[] = {
	{"trailing bytes", (const unsigned char *)"\1\0\0\0\1\1\0\0\0\2", 10,
	 {U32, END}, 1, "5 unread bytes at the end of a frame of type 7"},
	{"one trailing byte", (const unsigned char *)"\1\0\0\0\1\0", 6,
	 {U32, END}, 1, "1 unread bytes"},
	{"read past the end", (const unsigned char *)"\1\0\0\0\1", 5,
	 {U32, U32, END}, 1, "read past the end of a frame (want u32 at "
			     "offset 5)"},
	{"u64 where u32 expected",
	 (const unsigned char *)"\2\0\0\0\0\0\0\0\1", 9, {U32, END}, 0,
	 "field at offset 0 is u64, expected u32"},
	{"bytes where u64 expected", (const unsigned char *)"\3\0\0\0\0", 5,
	 {U64, END}, 0, "field at offset 0 is bytes, expected u64"},
	{"unknown tag", (const unsigned char *)"\x09\0\0\0\0", 5,
	 {U32, END}, 0, "is unknown, expected u32"},
	{"u32 cut short", (const unsigned char *)"\1\0\0", 3, {U32, END}, 0,
	 "u32 field at offset 0 runs past the end"},
	{"bytes length past the end",
	 (const unsigned char *)"\3\0\0\0\x64" "ab", 7, {BYTES, END}, 0,
	 "claims 100 bytes, 2 left"},
	{"bytes length field cut", (const unsigned char *)"\3\0\0", 3,
	 {BYTES, END}, 0, "bytes field at offset 0 runs past the end"},
	{"string with a NUL", (const unsigned char *)"\3\0\0\0\3a\0b", 8,
	 {STR8, END}, 0, "holds a NUL"},
	{"string too long for the buffer",
	 (const unsigned char *)"\3\0\0\0\x08" "12345678", 13, {STR8, END},
	 0, "too long"},
	{"empty payload, nothing read", (const unsigned char *)"", 0, {END},
	 -1, NULL},
};

static void
send_frame(uint32_t type, uint32_t id, const unsigned char *payload,
	   size_t len)
{
	unsigned char hdr[IPC_HDR_LEN];

	hdr[0] = (unsigned char)(type >> 24);
	hdr[1] = (unsigned char)(type >> 16);
	hdr[2] = (unsigned char)(type >> 8);
	hdr[3] = (unsigned char)type;
	hdr[4] = (unsigned char)(id >> 24);
	hdr[5] = (unsigned char)(id >> 16);
	hdr[6] = (unsigned char)(id >> 8);
	hdr[7] = (unsigned char)id;
	hdr[8] = (unsigned char)(len >> 24);
	hdr[9] = (unsigned char)(len >> 16);
	hdr[10] = (unsigned char)(len >> 8);
	hdr[11] = (unsigned char)len;
	raw(hdr, sizeof(hdr));
	if (len > 0)
		raw(payload, len);
}

static int
do_op(struct ipc_frame *f, enum op op)
{
	const unsigned char *p;
	char s[8];
	uint32_t u32;
	uint64_t u64;
	size_t n;

	switch (op) {
	case U32:
		return ipc_get_u32(f, &u32);
	case U64:
		return ipc_get_u64(f, &u64);
	case BYTES:
		return ipc_get_bytes(f, &p, &n);
	case STR8:
		return ipc_get_str(f, s, sizeof(s));
	case END:
	default:
		return ipc_end(f);
	}
}

static void
test_strict_reads(void **state)
{
	struct ipc_frame f;
	size_t i;
	int k, rc;

	for (i = 0; i < sizeof(strict_cases) / sizeof(strict_cases[0]); i++) {
		const struct strict_case *c = &strict_cases[i];

		send_frame(T_REQ, (uint32_t)i, c->payload, c->len);
		read_expect(&f, 0, NULL);
		gw_err_clear();
		for (k = 0;; k++) {
			rc = do_op(&f, c->ops[k]);
			if (k < c->failing && rc != 0)
				fail_msg("%s: op %d failed early: %s", c->name,
					 k, gw_err_detail());
			if (k >= c->failing && c->failing >= 0 &&
			    rc != GW_ERR_PARSE)
				fail_msg("%s: op %d gave %d, want "
					 "GW_ERR_PARSE", c->name, k, rc);
			if (c->failing < 0 && rc != 0)
				fail_msg("%s: op %d failed: %s", c->name, k,
					 gw_err_detail());
			if (c->ops[k] == END)
				break;
		}
		if (c->detail != NULL)
			assert_substr(gw_err_detail(), c->detail);
		ipc_frame_free(&f);
	}
}

/* ---- frame type and id ------------------------------------------------- */

static void
test_wrong_type_or_id(void **state)
{
	struct ipc_msg m;
	struct ipc_frame f;
	uint32_t v;

	ipc_msg_init(&m, T_REQ, 5);
	assert_int_equal(ipc_put_u32(&m, 1), 0);
	assert_int_equal(ipc_write(sv[0], &m), 0);
	assert_int_equal(ipc_write(sv[0], &m), 0);
	ipc_msg_free(&m);

	read_expect(&f, 0, NULL);
	gw_err_clear();
	assert_int_equal(ipc_expect(&f, T_REPLY, 5), GW_ERR_PARSE);
	assert_substr(gw_err_detail(),
		      "frame type 7 id 5, expected type 8 id 5");
	/* Latched: the fields are not handed out after a mismatch. */
	assert_int_equal(ipc_get_u32(&f, &v), GW_ERR_PARSE);
	assert_int_equal(ipc_end(&f), GW_ERR_PARSE);
	ipc_frame_free(&f);

	read_expect(&f, 0, NULL);
	gw_err_clear();
	assert_int_equal(ipc_expect(&f, T_REQ, 6), GW_ERR_PARSE);
	assert_substr(gw_err_detail(), "expected type 7 id 6");
	ipc_frame_free(&f);

	/* Type 0 is never valid: not built, not read. */
	ipc_msg_init(&m, 0, 1);
	assert_int_equal(ipc_put_u32(&m, 1), GW_ERR_INVALID);
	assert_int_equal(ipc_write(sv[0], &m), GW_ERR_INVALID);
	ipc_msg_free(&m);
	send_frame(0, 1, NULL, 0);
	read_expect(&f, GW_ERR_PARSE, "frame type 0");
	ipc_frame_free(&f);
}

/* Writing to a peer that has gone is an error, not a SIGPIPE. */
static void
test_write_to_closed_peer(void **state)
{
	struct ipc_msg m;

	close(sv[1]);
	sv[1] = -1;
	ipc_msg_init(&m, T_REQ, 1);
	assert_int_equal(ipc_put_u32(&m, 1), 0);
	gw_err_clear();
	assert_int_equal(ipc_write(sv[0], &m), GW_ERR_IO);
	assert_substr(gw_err_detail(), "ipc: write: Broken pipe");
	ipc_msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_sequence_and_eof,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_partial_reads,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_truncated, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_oversize_header_refused,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_builder_ceiling,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_strict_reads, pair_setup,
						pair_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_type_or_id,
						pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_write_to_closed_peer,
						pair_setup, pair_teardown),
	};

	sv[0] = sv[1] = -1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
