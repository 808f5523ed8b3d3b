/*
 * test_journal.c - smimegwd's delivery journal (gateway/daemon/journal.h):
 * a retry is recognised, a new message never is (queue id, Message-ID,
 * sender, content, recipient), a pending record is not a delivery, the
 * retention and the bounded purge, and a journal that cannot be written
 * is an error with nothing written.  Each case in its own data folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "gw_err.h"
#include "gw_store.h"
#include "journal.h"

#define DAY 86400
#define NOW ((time_t)20000 * DAY + 12 * 3600)	/* noon of some day */
#define MAP ((size_t)16 << 20)

static char tmpdir[64];
static unsigned case_no;

static const unsigned char msg1[] =
    "From: a@example.test\r\nTo: b@example.test\r\n"
    "Message-ID: <one@example.test>\r\nSubject: s\r\n\r\nbody one\r\n";
static const unsigned char msg2[] =
    "From: a@example.test\r\nTo: b@example.test\r\n"
    "Message-ID: <one@example.test>\r\nSubject: s\r\n\r\nbody two\r\n";

static struct journal *
open_case(char *dir, size_t len)
{
	struct journal *j;

	snprintf(dir, len, "%s/case%u", tmpdir, ++case_no);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(journal_open(dir, MAP, &j), 0);
	return j;
}

static struct journal_msg
msg_of(const char *qid, const char *sender, const unsigned char *m,
       size_t len)
{
	struct journal_msg jm;

	assert_int_equal(journal_msg_init(&jm, qid, sender, m, len), 0);
	return jm;
}

/* journal_begin() for one recipient: its "seen". */
static int
seen1(struct journal *j, struct journal_msg *m, const char *rcpt, time_t now)
{
	unsigned char seen = 9;

	assert_int_equal(journal_begin(j, m, &rcpt, 1, now, &seen), 0);
	return seen;
}

static void
done1(struct journal *j, struct journal_msg *m, const char *rcpt, time_t now)
{
	assert_int_equal(journal_done(j, m, &rcpt, 1, now), 0);
}

static size_t
count(struct journal *j)
{
	size_t n;

	assert_int_equal(journal_count(j, &n), 0);
	return n;
}

static void
retry_is_recognised(void **state)
{
	const char *to[3] = {"b@example.test", "c@example.test",
			     "d@example.test"};
	unsigned char seen[3];
	struct journal_msg m, r;
	struct journal *j;
	char dir[128];
	struct stat sb;

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_true(m.usable);
	assert_int_equal(journal_begin(j, &m, to, 3, NOW, seen), 0);
	assert_memory_equal(seen, "\0\0\0", 3);
	assert_int_equal(count(j), 3);	/* three pending records */
	/* Committed without a sync, they are there for the next open. */
	journal_close(j);
	assert_int_equal(journal_open(dir, MAP, &j), 0);
	assert_int_equal(count(j), 3);
	/* The next hop accepted b and d, refused c. */
	{
		const char *ok[2] = {to[0], to[2]};

		assert_int_equal(journal_done(j, &m, ok, 2, NOW + 1), 0);
	}
	/* Postfix's retry: the same queue id, sender and content. */
	r = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(journal_begin(j, &r, to, 3, NOW + 600, seen), 0);
	assert_memory_equal(seen, "\1\0\1", 3);
	assert_int_equal(count(j), 3);
	/* Its own environment, under the data folder. */
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/journal/data.mdb", dir);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 077, 0);
	}
	journal_close(j);
	/* And after a restart (another process opens the file). */
	assert_int_equal(journal_open(dir, MAP, &j), 0);
	assert_int_equal(seen1(j, &r, to[0], NOW + 700), 1);
	journal_close(j);
}

static void
new_messages_are_never_suppressed(void **state)
{
	struct journal_msg m, o;
	struct journal *j;
	char dir[128];
	const char *rc = "b@example.test";

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &m, rc, NOW), 0);
	done1(j, &m, rc, NOW);
	/* Another queue id, same content: Postfix queued it again. */
	o = msg_of("4ABC124", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW), 0);
	/* Same queue id (reused), other content. */
	o = msg_of("4ABC123", "a@example.test", msg2, sizeof(msg2) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW), 0);
	/* Other sender. */
	o = msg_of("4ABC123", "x@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW), 0);
	/* The null sender. */
	o = msg_of("4ABC123", NULL, msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW), 0);
	/* Other recipient. */
	assert_int_equal(seen1(j, &m, "B@example.test", NOW), 0);
	/* Without a queue id the Message-ID is the identifier, not the
	 * queue id's record. */
	o = msg_of(NULL, "a@example.test", msg1, sizeof(msg1) - 1);
	assert_true(o.usable);
	assert_int_equal(seen1(j, &o, rc, NOW), 0);
	/* And the original's retry still is one. */
	assert_int_equal(seen1(j, &m, rc, NOW), 1);
	journal_close(j);
}

static void
message_id_without_queue_id(void **state)
{
	static const unsigned char folded[] =
	    "From: a@example.test\r\nmessage-ID :\r\n  <one@example.test>\r\n"
	    "\r\nbody one\r\n";
	static const unsigned char other[] =
	    "From: a@example.test\r\nMessage-ID: <two@example.test>\r\n"
	    "\r\nbody one\r\n";
	static const unsigned char none[] =
	    "From: a@example.test\r\nSubject: no id\r\n\r\n"
	    "Message-ID: <in-the-body@example.test>\r\n";
	struct journal_msg m, o, a, b;
	struct journal *j;
	char dir[128];
	const char *rc = "b@example.test";
	unsigned char seen;

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("", "a@example.test", folded, sizeof(folded) - 1);
	assert_true(m.usable);
	assert_int_equal(seen1(j, &m, rc, NOW), 0);
	done1(j, &m, rc, NOW);
	o = msg_of(NULL, "a@example.test", folded, sizeof(folded) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW + 5), 1);
	o = msg_of(NULL, "a@example.test", other, sizeof(other) - 1);
	assert_int_equal(seen1(j, &o, rc, NOW + 5), 0);
	/* Neither a queue id nor a Message-ID (the one in the body does
	 * not count): not journaled, never taken for a retry. */
	a = msg_of(NULL, "a@example.test", none, sizeof(none) - 1);
	assert_false(a.usable);
	b = a;
	seen = 9;
	assert_int_equal(journal_begin(j, &a, &rc, 1, NOW, &seen), 0);
	assert_int_equal(seen, 0);
	assert_int_equal(journal_done(j, &a, &rc, 1, NOW), 0);
	assert_int_equal(journal_begin(j, &b, &rc, 1, NOW, &seen), 0);
	assert_int_equal(seen, 0);
	assert_int_equal(count(j), 2);
	journal_close(j);
}

static void
pending_is_not_delivered(void **state)
{
	struct journal_msg m;
	struct journal *j;
	char dir[128];
	const char *rc = "b@example.test";

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	/* A crash before the next hop's 250: the retry relays again. */
	assert_int_equal(seen1(j, &m, rc, NOW), 0);
	assert_int_equal(seen1(j, &m, rc, NOW + 60), 0);
	done1(j, &m, rc, NOW + 61);
	assert_int_equal(seen1(j, &m, rc, NOW + 120), 1);
	journal_close(j);
}

static void
done_goes_to_the_bucket_of_begin(void **state)
{
	struct journal_msg m;
	struct journal *j;
	char dir[128];
	const char *rc = "b@example.test";
	time_t midnight = (time_t)20001 * DAY;

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &m, rc, midnight - 1), 0);
	done1(j, &m, rc, midnight + 1);
	assert_int_equal(count(j), 1);
	assert_int_equal(seen1(j, &m, rc, midnight + 3600), 1);
	journal_close(j);
}

static void
retention_and_purge(void **state)
{
	struct journal_msg m, x;
	struct journal *j;
	char dir[128], qid[32];
	const char *rc = "b@example.test";
	int i;

	(void)state;
	j = open_case(dir, sizeof(dir));
	m = msg_of("4ABC123", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(seen1(j, &m, rc, NOW), 0);
	done1(j, &m, rc, NOW);
	/* 100 more delivered records that day. */
	for (i = 0; i < 100; i++) {
		snprintf(qid, sizeof(qid), "Q%d", i);
		x = msg_of(qid, "a@example.test", msg1, sizeof(msg1) - 1);
		assert_int_equal(seen1(j, &x, rc, NOW), 0);
		done1(j, &x, rc, NOW);
	}
	assert_int_equal(count(j), 101);
	/* JOURNAL_RETENTION_DAYS later: still known, nothing purged. */
	assert_int_equal(seen1(j, &m, rc, NOW + JOURNAL_RETENTION_DAYS * DAY),
			 1);
	assert_int_equal(count(j), 101);
	/* A day more: expired.  Each message purges at most
	 * JOURNAL_PURGE_MAX, oldest first, and writes its own record. */
	x = msg_of("NEW1", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(
	    seen1(j, &x, rc, NOW + (JOURNAL_RETENTION_DAYS + 1) * DAY), 0);
	assert_int_equal(count(j), 101 - JOURNAL_PURGE_MAX + 1);
	x = msg_of("NEW2", "a@example.test", msg1, sizeof(msg1) - 1);
	assert_int_equal(
	    seen1(j, &x, rc, NOW + (JOURNAL_RETENTION_DAYS + 1) * DAY), 0);
	assert_int_equal(count(j), 2);
	/* The old message's retry, that late, is relayed again (Postfix
	 * would have bounced it by then). */
	assert_int_equal(
	    seen1(j, &m, rc, NOW + (JOURNAL_RETENTION_DAYS + 1) * DAY), 0);
	journal_close(j);
}

static void
cannot_be_written(void **state)
{
	struct journal_msg x;
	struct journal *j;
	char dir[128], p[256], qid[32];
	const char *to[64];
	unsigned char seen[64];
	size_t before;
	int i, rc = 0;

	(void)state;
	/* The journal folder is a file: no journal, a clear error. */
	snprintf(dir, sizeof(dir), "%s/case%u", tmpdir, ++case_no);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/journal", dir);
	assert_int_equal(mkdir(p, 0700) == 0 && rmdir(p) == 0, 1);
	{
		FILE *fp = fopen(p, "w");

		assert_non_null(fp);
		fclose(fp);
	}
	gw_err_clear();
	assert_int_not_equal(journal_open(dir, MAP, &j), 0);
	assert_substr(gw_err_detail(), "journal");

	/* A full map: journal_begin fails and writes nothing. */
	snprintf(dir, sizeof(dir), "%s/case%u", tmpdir, ++case_no);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(journal_open(dir, (size_t)64 << 10, &j), 0);
	for (i = 0; i < 10000 && rc == 0; i++) {
		char r[64][64];
		int k;

		snprintf(qid, sizeof(qid), "F%d", i);
		x = msg_of(qid, "a@example.test", msg1, sizeof(msg1) - 1);
		for (k = 0; k < 64; k++) {
			snprintf(r[k], sizeof(r[k]), "r%d@example.test", k);
			to[k] = r[k];
		}
		before = count(j);
		rc = journal_begin(j, &x, to, 64, NOW, seen);
	}
	assert_int_equal(rc, GW_ERR_STORE_FULL);
	assert_int_equal(count(j), before);
	journal_close(j);
}

/*
 * Workers killed inside a read transaction leave their reader slots
 * behind; with another process holding the file open all along, 300 of
 * them would fill LMDB's table (256) and every read would fail
 * (GW_ERR_STORE_BUSY) unless an open frees the slots of the dead.
 */
static void
killed_readers_do_not_fill_the_table(void **state)
{
	struct journal *j;
	char dir[128];
	int i, status;
	pid_t pid;

	(void)state;
	j = open_case(dir, sizeof(dir));
	for (i = 0; i < 300; i++) {
		if ((pid = fork()) == 0) {
			struct gw_store *st;
			struct gw_txn *t;

			if (gw_store_open_ex(dir, MAP,
					     GW_STORE_CREATE | GW_STORE_JOURNAL,
					     &st) != 0 ||
			    gw_txn_begin(st, GW_TXN_READ, &t) != 0)
				_exit(1);
			raise(SIGKILL);
			_exit(2);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
	}
	assert_int_equal(count(j), 0);
	journal_close(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(retry_is_recognised),
	    cmocka_unit_test(new_messages_are_never_suppressed),
	    cmocka_unit_test(message_id_without_queue_id),
	    cmocka_unit_test(pending_is_not_delivered),
	    cmocka_unit_test(done_goes_to_the_bucket_of_begin),
	    cmocka_unit_test(retention_and_purge),
	    cmocka_unit_test(cannot_be_written),
	    cmocka_unit_test(killed_readers_do_not_fill_the_table),
	};
	int rc;

	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_journal") != 0)
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unit_rmtree(tmpdir);
	return rc;
}
