/* report.c - a worker's counters to the master (report.h). */
#include <string.h>

#include "ctl_proto.h"
#include "gw_err.h"
#include "log.h"
#include "report.h"

static struct ctl_counts counts;
static int master_fd = -1;

static void
send_counts(void)
{
	struct ipc_msg m;

	if (master_fd < 0)
		return;
	ipc_msg_init(&m, CTL_STATS, 0);
	ctl_counts_put(&m, &counts);
	if (ipc_write(master_fd, &m) != 0) {
		/* The master is gone: the worker ends with it anyway. */
		log_debug("counters to the master: %s", gw_err_detail());
		master_fd = -1;
	}
	ipc_msg_free(&m);
}

void
report_open(int fd)
{
	master_fd = fd;
	send_counts();
}

void
report_message(const char *decision, const struct smtp_reply *rep,
		  size_t n)
{
	int codes[2], k = 0, seen4 = 0, seen5 = 0;
	size_t i;

	/* What the outcome depends on: a 4xx, a 5xx, among the replies. */
	for (i = 0; i < n; i++) {
		if (rep[i].code / 100 == 4 && !seen4++)
			codes[k++] = rep[i].code;
		else if (rep[i].code / 100 == 5 && !seen5++)
			codes[k++] = rep[i].code;
	}
	counts.by[ctl_outcome_of(decision, codes, (size_t)k)]++;
	counts.messages++;
	send_counts();
}

void
report_sessions(size_t n)
{
	counts.sessions = n;
	send_counts();
}
