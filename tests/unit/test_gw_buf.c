/*
 * test_gw_buf.c - what lib/gw_buf.c leaves in freed memory, and the
 * process protection it offers (issue 8, item 15).
 *
 * The test is linked with -Wl,--wrap=free: every free() of our code
 * goes through __wrap_free(), which looks at a watched block's bytes
 * just before it is released.  A block freed without being wiped, or
 * released behind our back (realloc()), fails the case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cmocka.h>

#include <openssl/bio.h>

#include "gw_buf.h"

void __real_free(void *p);
void __wrap_free(void *p);

#define WATCH_MAX 64

static struct {
	const unsigned char *p;
	size_t len;
	int freed;	/* seen by free() */
	int clean;	/* every byte zero when it was */
} watch[WATCH_MAX];
static int nwatch;

static void
watch_block(const unsigned char *p, size_t len)
{
	assert_true(nwatch < WATCH_MAX);
	watch[nwatch].p = p;
	watch[nwatch].len = len;
	watch[nwatch].freed = 0;
	watch[nwatch].clean = 0;
	nwatch++;
}

void
__wrap_free(void *p)
{
	const unsigned char *b = p;
	size_t j;
	int i;

	for (i = 0; p != NULL && i < nwatch; i++) {
		if (watch[i].p != b || watch[i].freed)
			continue;
		watch[i].freed = 1;
		watch[i].clean = 1;
		for (j = 0; j < watch[i].len; j++)
			if (b[j] != 0)
				watch[i].clean = 0;
	}
	__real_free(p);
}

static int
reset_watch(void **state)
{
	(void)state;
	nwatch = 0;
	return 0;
}

/* Old code wiped len bytes only: after a reset, none. */
static void
item15_free_secret_wipes_whole_capacity(void **state)
{
	struct gw_buf b;
	unsigned char secret[1000];

	(void)state;
	memset(secret, 'P', sizeof(secret));
	gw_buf_init(&b, 1 << 20);
	assert_int_equal(gw_buf_add(&b, secret, sizeof(secret)), 0);
	/* Reset for the next layer, as smime_open() does, then a little
	 * non-secret text: the plaintext is behind len. */
	gw_buf_reset(&b);
	assert_int_equal(gw_buf_adds(&b, "header"), 0);
	watch_block(b.data, b.cap);
	gw_buf_free_secret(&b);
	assert_true(watch[0].freed);
	assert_true(watch[0].clean);
	assert_null(b.data);
}

/* Old code grew with realloc(): the old block went back to malloc with
 * its bytes, never through a wipe. */
static void
item15_growth_wipes_the_old_block(void **state)
{
	struct gw_buf b;
	unsigned char chunk[700];
	int i;

	(void)state;
	memset(chunk, 'S', sizeof(chunk));
	gw_buf_init(&b, 1 << 20);
	for (i = 0; i < 8; i++) {
		if (b.data != NULL)
			watch_block(b.data, b.cap);
		assert_int_equal(gw_buf_add(&b, chunk, sizeof(chunk)), 0);
	}
	assert_true(nwatch >= 3);
	for (i = 0; i < nwatch; i++) {
		if (watch[i].p == b.data)
			continue; /* the block still in use */
		assert_true(watch[i].freed);
		assert_true(watch[i].clean);
	}
	/* The contents moved intact. */
	for (i = 0; i < 8 * (int)sizeof(chunk); i++)
		assert_int_equal(b.data[i], 'S');
	assert_int_equal(b.data[b.len], 0);
	gw_buf_free_secret(&b);
}

/* CMS_decrypt() writes plaintext through gw_buf_bio() in small pieces:
 * each growth on that path wipes too. */
static void
item15_bio_growth_wipes(void **state)
{
	struct gw_buf b;
	BIO *bio;
	char piece[512];
	int i, grown = 0;

	(void)state;
	memset(piece, 'C', sizeof(piece));
	gw_buf_init(&b, 1 << 20);
	assert_non_null(bio = gw_buf_bio(&b));
	for (i = 0; i < 64; i++) {
		if (b.data != NULL && b.len + sizeof(piece) + 1 > b.cap) {
			watch_block(b.data, b.cap);
			grown++;
		}
		assert_int_equal(BIO_write(bio, piece, sizeof(piece)),
				 (int)sizeof(piece));
	}
	BIO_free(bio);
	assert_true(grown >= 3);
	for (i = 0; i < nwatch; i++) {
		assert_true(watch[i].freed);
		assert_true(watch[i].clean);
	}
	watch_block(b.data, b.cap);
	gw_buf_free_secret(&b);
	assert_true(watch[nwatch - 1].freed && watch[nwatch - 1].clean);
}

/* The room in front (gw_buf_skip(), gw_buf_prepend()): the contents
 * do not move while the room lasts, and every wipe and free takes the
 * whole block from its start, the bytes in front included. */
static void
issue11_front_room(void **state)
{
	struct gw_buf b;
	unsigned char secret[4000];
	const unsigned char *block;
	unsigned char *st;
	size_t n;

	(void)state;
	memset(secret, 'P', sizeof(secret));
	gw_buf_init(&b, 1 << 20);
	assert_int_equal(gw_buf_add(&b, secret, sizeof(secret)), 0);
	block = b.data;
	gw_buf_skip(&b, 1000); /* plaintext stays in front */
	assert_ptr_equal(b.data, block + 1000);
	assert_int_equal(b.len, 3000);
	assert_int_equal(b.front, 1000);
	assert_int_equal(gw_buf_prepend(&b, "Head: x\r\n", 9), 0);
	assert_ptr_equal(b.data, block + 991); /* in the room, no move */
	assert_int_equal(b.len, 3009);
	assert_memory_equal(b.data, "Head: x\r\nPP", 11);
	assert_int_equal(b.data[b.len], 0);
	/* More than the room: the contents move, in the same block or a
	 * new one. */
	assert_int_equal(gw_buf_prepend(&b, secret, 992), 0);
	assert_int_equal(b.len, 4001);
	assert_memory_equal(b.data + 992, "Head: x\r\n", 9);
	gw_buf_skip(&b, 500);
	watch_block(b.data - b.front, b.front + b.cap);
	gw_buf_free_secret(&b);
	assert_true(watch[0].freed);
	assert_true(watch[0].clean);

	/* Growth after a skip wipes and frees the old block from its
	 * start. */
	nwatch = 0;
	gw_buf_init(&b, 1 << 20);
	assert_int_equal(gw_buf_add(&b, secret, 300), 0);
	gw_buf_skip(&b, 100);
	watch_block(b.data - b.front, b.front + b.cap);
	assert_int_equal(gw_buf_add(&b, secret, sizeof(secret)), 0);
	assert_true(watch[0].freed && watch[0].clean);
	assert_int_equal(b.front, 0);
	assert_int_equal(b.len, 200 + sizeof(secret));

	/* steal() hands out the block's start, the contents there. */
	gw_buf_skip(&b, 150);
	block = b.data - b.front;
	st = gw_buf_steal(&b, &n);
	assert_ptr_equal(st, block);
	assert_int_equal(n, 50 + sizeof(secret));
	assert_int_equal(st[n], 0);
	memset(st, 0, n);
	free(st);
	assert_null(b.data);
}

static struct {
	size_t calls, bytes;
	int same; /* each tap saw the bytes just appended */
} tapped;

static void
tap_fn(void *arg, const unsigned char *p, size_t n)
{
	struct gw_buf *b = arg;

	tapped.calls++;
	tapped.bytes += n;
	if (p != b->data + b->len - n)
		tapped.same = 0;
}

static void
issue11_bio_tap(void **state)
{
	struct gw_buf b;
	BIO *bio;
	char piece[300];
	int i;

	(void)state;
	memset(piece, 'T', sizeof(piece));
	memset(&tapped, 0, sizeof(tapped));
	tapped.same = 1;
	gw_buf_init(&b, 1 << 20);
	assert_non_null(bio = gw_buf_bio_tap(&b, tap_fn, &b));
	for (i = 0; i < 20; i++)
		assert_int_equal(BIO_write(bio, piece, 1 + i * 10),
				 1 + i * 10);
	BIO_free(bio);
	assert_int_equal(tapped.calls, 20);
	assert_int_equal(tapped.bytes, b.len);
	assert_true(tapped.same);
	gw_buf_free_secret(&b);
}

static void
item15_no_dumps(void **state)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};

	(void)state;
	/* Whatever the limit was before. */
	getrlimit(RLIMIT_CORE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_CORE, &rl);
	assert_int_equal(gw_buf_no_dumps(), 0);
	assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
	assert_int_equal(rl.rlim_cur, 0);
	assert_int_equal(rl.rlim_max, 0);
	assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(item15_free_secret_wipes_whole_capacity,
				   reset_watch),
	    cmocka_unit_test_setup(item15_growth_wipes_the_old_block,
				   reset_watch),
	    cmocka_unit_test_setup(item15_bio_growth_wipes, reset_watch),
	    cmocka_unit_test_setup(item15_no_dumps, reset_watch),
	    cmocka_unit_test_setup(issue11_front_room, reset_watch),
	    cmocka_unit_test_setup(issue11_bio_tap, reset_watch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
