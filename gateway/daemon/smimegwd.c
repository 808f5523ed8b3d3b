/*
 * smimegwd.c - the gateway in the mail flow: the master (master.h),
 * which starts smimegw-keyd and its own workers (this program again,
 * with --worker; worker.h).  See smimegwd(8).
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_buf.h"
#include "gw_config.h"
#include "gw_err.h"
#include "log.h"
#include "master.h"
#include "notify.h"
#include "report.h"
#include "worker.h"

#define EX_USAGE 64
#define EX_TEMPFAIL 75
#define EX_CONFIG 78

static volatile sig_atomic_t stop;

/* SIGTERM, SIGINT: stop; SIGUSR1: retire (a new generation runs). */
static void
on_signal(int sig)
{
	if (sig == SIGUSR1) {
		if (stop == WORKER_RUN)
			stop = WORKER_RETIRE;
	} else
		stop = WORKER_STOP;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: smimegwd [-d] [-c CONF] [-k KEYD]\n"
		"  -c, --config CONF  smimegw.conf (default: $SMIMEGW_CONF, "
		"then %s)\n"
		"  -d, --debug        log to stderr instead of syslog\n"
		"  -k, --keyd PATH    the key process (default: smimegw-keyd "
		"next to smimegwd)\n"
		"  -h, --help         this help\n",
		SMIMEGW_DEFAULT_CONF);
}

static int
parse_fd(const char *s, int *fd, const char **rest)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || v < 0 || v > INT_MAX)
		return -1;
	*fd = (int)v;
	*rest = end;
	return 0;
}

static int
exit_for(int rc)
{
	if (rc == 0)
		return 0;
	return rc == GW_ERR_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
}

/* Worker mode: --keyd-fd N, --listen FD:outgoing|incoming, and
 * --master-fd N for the counters (report.h). */
static int
worker_main(struct gw_config *cfg, int keyd_fd, struct worker_listener *l,
	    int nl, int master_fd)
{
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (keyd_fd < 0 || nl == 0) {
		log_err("worker mode needs --keyd-fd and --listen");
		return EX_USAGE;
	}
	if (master_fd >= 0)
		report_open(master_fd);
	rc = worker_run(cfg, l, nl, keyd_fd, &stop);
	return exit_for(rc);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"debug", no_argument, NULL, 'd'},
	    {"keyd", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {"worker", no_argument, NULL, 'W'},
	    {"keyd-fd", required_argument, NULL, 'K'},
	    {"listen", required_argument, NULL, 'L'},
	    {"master-fd", required_argument, NULL, 'M'},
	    {NULL, 0, NULL, 0},
	};
	struct worker_listener l[2];
	struct master_opts mo;
	struct gw_config *cfg = NULL;
	char self[PATH_MAX], keyd[PATH_MAX + 16];
	const char *conf = NULL, *rest;
	int c, rc, level, debug = 0, worker = 0, keyd_fd = -1, nl = 0;
	int master_fd = -1;
	ssize_t n;

	memset(&mo, 0, sizeof(mo));
	while ((c = getopt_long(argc, argv, "c:dk:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf = optarg; break;
		case 'd': debug = 1; break;
		case 'k': mo.keyd = optarg; break;
		case 'W': worker = 1; break;
		case 'K':
			if (parse_fd(optarg, &keyd_fd, &rest) != 0 || *rest) {
				fprintf(stderr, "smimegwd: --keyd-fd: '%s' is "
					"not a descriptor\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'M':
			if (parse_fd(optarg, &master_fd, &rest) != 0 || *rest) {
				fprintf(stderr, "smimegwd: --master-fd: '%s' "
					"is not a descriptor\n", optarg);
				return EX_USAGE;
			}
			break;
		case 'L':
			if (nl == 2 || parse_fd(optarg, &l[nl].fd, &rest) ||
			    (strcmp(rest, ":outgoing") != 0 &&
			     strcmp(rest, ":incoming") != 0)) {
				fprintf(stderr, "smimegwd: --listen: '%s' is "
					"not FD:outgoing|incoming\n", optarg);
				return EX_USAGE;
			}
			l[nl++].dir = rest[1] == 'o' ? WORKER_OUTGOING
						     : WORKER_INCOMING;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smimegwd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return EX_USAGE;
	}
	log_init(worker ? "smimegwd/worker" : "smimegwd", !debug,
		 LOG_LEVEL_INFO);
	if (gw_buf_no_dumps() != 0) {
		log_err("%s", gw_err_detail());
		return EX_TEMPFAIL;
	}
	if ((rc = gw_config_load(gw_config_path(conf), &cfg)) != 0) {
		log_err("%s: %s", gw_strerror(rc), gw_err_detail());
		return exit_for(rc);
	}
	if (log_level_parse(cfg->log_level, &level) == 0)
		log_init(worker ? "smimegwd/worker" : "smimegwd", !debug,
			 level);
	if (worker) {
		rc = worker_main(cfg, keyd_fd, l, nl, master_fd);
		gw_config_free(cfg);
		return rc;
	}
	/* Workers are this very program; keyd sits next to it. */
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
		log_err("readlink /proc/self/exe: %s", strerror(errno));
		gw_config_free(cfg);
		return EX_TEMPFAIL;
	}
	self[n] = '\0';
	if (mo.keyd == NULL) {
		char dir[PATH_MAX];

		snprintf(dir, sizeof(dir), "%s", self);
		snprintf(keyd, sizeof(keyd), "%s/smimegw-keyd", dirname(dir));
		mo.keyd = keyd;
	}
	if (notify_init() != 0)
		log_warn("%s; systemd is not told", gw_err_detail());
	mo.conf = cfg->path;
	mo.self = self;
	mo.debug = debug;
	if ((rc = master_run(&mo, cfg)) != 0)
		log_err("%s: %s", gw_strerror(rc), gw_err_detail());
	return exit_for(rc);
}
