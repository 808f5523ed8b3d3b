/*
 * test_ctl_proto.c - smimegwd's status and control frames
 * (gateway/daemon/ctl_proto.c): the outcome of a message from its
 * decision and replies, counters and status through a socketpair and
 * back, the strict reader (a frame cut short, a wrong count, too many
 * workers), and the status as text and as JSON (escaped).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "ctl_proto.h"
#include "gw_err.h"
#include "ipc.h"

static int sv[2] = {-1, -1};

static int
pair_setup(void **state)
{
	(void)state;
	gw_err_clear();
	return socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

static int
pair_teardown(void **state)
{
	(void)state;
	close(sv[0]);
	close(sv[1]);
	return 0;
}

static void
send_recv(struct ipc_msg *m, struct ipc_frame *f)
{
	assert_int_equal(ipc_write(sv[0], m), 0);
	ipc_msg_free(m);
	assert_int_equal(ipc_read(sv[1], f), 0);
}

static void
test_outcome_of(void **state)
{
	static const struct {
		const char *decision;
		int codes[3];
		size_t n;
		enum ctl_outcome want;
	} cases[] = {
	    {"deliver", {250, 250}, 2, CTL_DELIVERED},
	    {"deliver", {250, 451}, 2, CTL_DEFERRED},	/* next hop 4xx */
	    {"deliver", {250, 550}, 2, CTL_BOUNCED},	/* one refused */
	    {"deliver", {550, 451}, 2, CTL_DEFERRED},	/* 4xx first */
	    {"bounce", {550}, 1, CTL_BOUNCED},
	    {"drop", {250}, 1, CTL_DROPPED},
	    {"defer", {451}, 1, CTL_DEFERRED},
	    {"defer", {0}, 0, CTL_DEFERRED},
	    {"reject", {554}, 1, CTL_REJECTED},
	    {"deliver", {0}, 0, CTL_DELIVERED},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(ctl_outcome_of(cases[i].decision,
						cases[i].codes, cases[i].n),
				 cases[i].want);
	assert_string_equal(ctl_outcome_name(CTL_BOUNCED), "bounced");
	assert_string_equal(ctl_outcome_name(CTL_NOUTCOMES), "?");
}

static void
test_counts_round_trip(void **state)
{
	struct ctl_counts c = {3, 15, {10, 2, 1, 1, 1}}, got;
	struct ipc_frame f;
	struct ipc_msg m;

	(void)state;
	ipc_msg_init(&m, CTL_STATS, 0);
	assert_int_equal(ctl_counts_put(&m, &c), 0);
	send_recv(&m, &f);
	assert_int_equal(ipc_frame_type(&f), CTL_STATS);
	memset(&got, 0, sizeof(got));
	assert_int_equal(ctl_counts_get(&f, &got), 0);
	assert_int_equal(ipc_end(&f), 0);
	assert_memory_equal(&got, &c, sizeof(c));
	ipc_frame_free(&f);
}

static void
test_counts_other_outcomes(void **state)
{
	struct ctl_counts got;
	struct ipc_frame f;
	struct ipc_msg m;
	int i;

	(void)state;
	ipc_msg_init(&m, CTL_STATS, 0);
	for (i = 0; i < 2 + CTL_NOUTCOMES; i++)
		ipc_put_u64(&m, 1);
	ipc_put_u32(&m, CTL_NOUTCOMES + 1);
	send_recv(&m, &f);
	assert_int_equal(ctl_counts_get(&f, &got), GW_ERR_PARSE);
	assert_string_equal(gw_err_detail(), "counters: 6 outcomes, "
					     "expected 5");
	ipc_frame_free(&f);
}

static void
fill(struct ctl_status *st)
{
	memset(st, 0, sizeof(*st));
	st->master_pid = 100;
	st->started = 1000;
	st->now = 1000 + 86400 + 3661;
	st->gen = 4;
	snprintf(st->conf, sizeof(st->conf), "/etc/smimegw/smimegw.conf");
	st->keyd_pid = 101;
	snprintf(st->token, sizeof(st->token), "down");
	st->token_since = 1000 + 86400 + 3600;
	snprintf(st->token_detail, sizeof(st->token_detail),
		 "no token \"x\"\n\\");
	st->total = (struct ctl_counts){2, 7, {3, 1, 1, 1, 1}};
	st->nworkers = 2;
	st->w[0] = (struct ctl_worker){102, 4, 0, 0, {1, 5, {3, 1, 1, 0, 0}}};
	st->w[1] = (struct ctl_worker){103, 3, 1, 1, {1, 2, {0, 0, 0, 1, 1}}};
}

static void
test_status_round_trip(void **state)
{
	static struct ctl_status st, got;
	struct ipc_frame f;
	struct ipc_msg m;

	(void)state;
	fill(&st);
	ipc_msg_init(&m, CTL_STATUS, 7);
	assert_int_equal(ctl_status_encode(&m, &st), 0);
	send_recv(&m, &f);
	assert_int_equal(ipc_expect(&f, CTL_STATUS, 7), 0);
	assert_int_equal(ctl_status_decode(&f, &got), 0);
	assert_memory_equal(&got, &st, sizeof(st));
	ipc_frame_free(&f);
}

/* A status frame cut after the workers' count: the reader refuses it. */
static void
test_status_cut(void **state)
{
	static struct ctl_status got;
	struct ipc_frame f;
	struct ipc_msg m;
	int i;

	(void)state;
	ipc_msg_init(&m, CTL_STATUS, 1);
	ipc_put_u32(&m, 1);
	ipc_put_u64(&m, 2);
	ipc_put_u64(&m, 3);
	ipc_put_u32(&m, 4);
	ipc_put_str(&m, "conf");
	ipc_put_u32(&m, 5);
	ipc_put_str(&m, "up");
	ipc_put_u64(&m, 6);
	ipc_put_str(&m, "");
	for (i = 0; i < 2 + CTL_NOUTCOMES; i++)
		ipc_put_u64(&m, 0);
	ipc_put_u32(&m, CTL_NOUTCOMES);
	ipc_put_u32(&m, 1);	/* one worker announced, none follows */
	send_recv(&m, &f);
	assert_int_equal(ctl_status_decode(&f, &got), GW_ERR_PARSE);
	ipc_frame_free(&f);
}

static void
test_status_too_many_workers(void **state)
{
	static struct ctl_status got;
	struct ipc_frame f;
	struct ipc_msg m;
	int i;

	(void)state;
	ipc_msg_init(&m, CTL_STATUS, 1);
	ipc_put_u32(&m, 1);
	ipc_put_u64(&m, 2);
	ipc_put_u64(&m, 3);
	ipc_put_u32(&m, 4);
	ipc_put_str(&m, "conf");
	ipc_put_u32(&m, 5);
	ipc_put_str(&m, "up");
	ipc_put_u64(&m, 6);
	ipc_put_str(&m, "");
	for (i = 0; i < 2 + CTL_NOUTCOMES; i++)
		ipc_put_u64(&m, 0);
	ipc_put_u32(&m, CTL_NOUTCOMES);
	ipc_put_u32(&m, CTL_WORKERS_MAX + 1);
	send_recv(&m, &f);
	assert_int_equal(ctl_status_decode(&f, &got), GW_ERR_PARSE);
	assert_string_equal(gw_err_detail(), "status: 257 workers, at most "
					     "256");
	ipc_frame_free(&f);
}

static void
test_result_round_trip(void **state)
{
	struct ipc_frame f;
	struct ipc_msg m;
	char text[64];
	int ok = 5;

	(void)state;
	ipc_msg_init(&m, CTL_RESULT, 2);
	assert_int_equal(ctl_result_encode(&m, 0, "smimegw.conf:3: bad"), 0);
	send_recv(&m, &f);
	assert_int_equal(ctl_result_decode(&f, &ok, text, sizeof(text)), 0);
	assert_int_equal(ok, 0);
	assert_string_equal(text, "smimegw.conf:3: bad");
	ipc_frame_free(&f);
	/* ok other than 0 and 1 */
	ipc_msg_init(&m, CTL_RESULT, 2);
	ipc_put_u32(&m, 2);
	ipc_put_str(&m, "");
	send_recv(&m, &f);
	assert_int_equal(ctl_result_decode(&f, &ok, text, sizeof(text)),
			 GW_ERR_PARSE);
	ipc_frame_free(&f);
}

static char *
printed(const struct ctl_status *st, int json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	assert_non_null(fp);
	ctl_status_print(fp, st, json);
	fclose(fp);
	return buf;
}

static void
test_print_human(void **state)
{
	static struct ctl_status st;
	char *out;

	(void)state;
	fill(&st);
	out = printed(&st, 0);
	assert_substr(out, "smimegwd pid 100, up 1d 01:01:01 (since "
		      "1970-01-01T00:16:40Z), generation 4\n");
	assert_substr(out, "keyd: pid 101, token down for 00:01:01: "
		      "no token");
	assert_substr(out, "messages since start: 7 (delivered 3, "
		      "bounced 1, dropped 1, deferred 1, "
		      "rejected 1)\n");
	assert_substr(out, "workers: 2\n");
	assert_substr(out, "  103      3     1            1         "
		      "2  (retiring)\n");
	free(out);
	st.keyd_pid = 0;
	out = printed(&st, 0);
	assert_substr(out, "keyd: not running\n");
	free(out);
}

static void
test_print_json(void **state)
{
	static struct ctl_status st;
	char *out;

	(void)state;
	fill(&st);
	out = printed(&st, 1);
	assert_string_equal(
	    out,
	    "{\"pid\":100,\"started\":1000,\"uptime\":90061,\"generation\":4,"
	    "\"config\":\"/etc/smimegw/smimegw.conf\",\"keyd\":{\"pid\":101,"
	    "\"token\":\"down\",\"since\":91000,\"detail\":\"no token "
	    "\\\"x\\\"\\u000a\\\\\"},\"messages\":{\"sessions\":2,"
	    "\"messages\":7,\"delivered\":3,\"bounced\":1,\"dropped\":1,"
	    "\"deferred\":1,\"rejected\":1},\"workers\":[{\"pid\":102,"
	    "\"generation\":4,\"index\":0,\"retiring\":false,\"sessions\":1,"
	    "\"messages\":5,\"delivered\":3,\"bounced\":1,\"dropped\":1,"
	    "\"deferred\":0,\"rejected\":0},{\"pid\":103,\"generation\":3,"
	    "\"index\":1,\"retiring\":true,\"sessions\":1,\"messages\":2,"
	    "\"delivered\":0,\"bounced\":0,\"dropped\":0,\"deferred\":1,"
	    "\"rejected\":1}]}\n");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outcome_of),
	    cmocka_unit_test_setup_teardown(test_counts_round_trip, pair_setup,
					    pair_teardown),
	    cmocka_unit_test_setup_teardown(test_counts_other_outcomes,
					    pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_status_round_trip,
					    pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_status_cut, pair_setup,
					    pair_teardown),
	    cmocka_unit_test_setup_teardown(test_status_too_many_workers,
					    pair_setup, pair_teardown),
	    cmocka_unit_test_setup_teardown(test_result_round_trip, pair_setup,
					    pair_teardown),
	    cmocka_unit_test(test_print_human),
	    cmocka_unit_test(test_print_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
