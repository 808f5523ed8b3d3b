/*
 * smimegw-keyd.c - the key process: the only process of the running
 * gateway that loads the PKCS#11 module, reads the PIN and holds token
 * sessions.  It serves private-key operations to the mail workers over
 * the streams it inherits (keyd_server.h); see smimegw-keyd(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_buf.h"
#include "gw_config.h"
#include "gw_err.h"
#include "ipc.h"
#include "keyd_proto.h"
#include "keyd_server.h"
#include "log.h"

#define EX_USAGE 64
#define EX_CONFIG 78
#define EX_TEMPFAIL 75

static volatile sig_atomic_t stop;

/* The token's state to smimegwd's master (--status-fd), which shows it
 * in "smimegw daemon status".  A master that is gone is not an error
 * here: keyd ends with its streams. */
static void
tell_master(void *arg, const char *state, const char *detail)
{
	struct ipc_msg m;
	int fd = *(int *)arg;

	if (fd < 0)
		return;
	ipc_msg_init(&m, KEYD_STATUS, 0);
	ipc_put_str(&m, state);
	ipc_put_bytes(&m, detail,
		      strlen(detail) > KEYD_DETAIL_MAX ? KEYD_DETAIL_MAX
						       : strlen(detail));
	if (ipc_write(fd, &m) != 0)
		log_debug("status to the master: %s", gw_err_detail());
	ipc_msg_free(&m);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: smimegw-keyd [-d] [-c CONF] --fd N [--fd N ...]\n"
		"  -c, --config CONF  smimegw.conf (default: $SMIMEGW_CONF, "
		"then %s)\n"
		"  -d, --debug        log to stderr instead of syslog\n"
		"      --fd N         serve the stream on descriptor N (one "
		"per worker)\n"
		"      --status-fd N  tell the token's state on descriptor N "
		"(smimegwd)\n"
		"  -h, --help         this help\n",
		SMIMEGW_DEFAULT_CONF);
}

static int
parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * Executes this program again with the same arguments and streams,
 * asking the new image to wait backoff seconds before it opens the
 * token.  Returns only on failure.
 */
static void
restart(int argc, char **argv, int backoff)
{
	char **nargv, num[16];
	int i, j;

	if ((nargv = calloc((size_t)argc + 3, sizeof(*nargv))) == NULL)
		return;
	for (i = j = 0; i < argc; i++) {
		if (strcmp(argv[i], "--backoff") == 0 && i + 1 < argc) {
			i++;
			continue;
		}
		nargv[j++] = argv[i];
	}
	snprintf(num, sizeof(num), "%d", backoff);
	nargv[j++] = "--backoff";
	nargv[j++] = num;
	nargv[j] = NULL;
	log_close();
	execv("/proc/self/exe", nargv);
	log_err("cannot restart: execv(/proc/self/exe): %s", strerror(errno));
	free(nargv);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"debug", no_argument, NULL, 'd'},
	    {"fd", required_argument, NULL, 'f'},
	    {"backoff", required_argument, NULL, 'b'},
	    {"status-fd", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct keyd_server_config kc;
	struct keyd_server *srv = NULL;
	struct gw_config *cfg = NULL;
	struct sigaction sa;
	const char *conf = NULL;
	int fds[KEYD_CONN_MAX], nfds = 0, debug = 0, backoff = 0, level;
	int c, i, rc, end, next = 0, ex = EX_TEMPFAIL, status_fd = -1;

	memset(&kc, 0, sizeof(kc));
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	while ((c = getopt_long(argc, argv, "c:dh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'f':
			if (nfds == KEYD_CONN_MAX ||
			    parse_int(optarg, 0, INT_MAX, &fds[nfds]) != 0) {
				fprintf(stderr, "smimegw-keyd: --fd: '%s' is "
					"not a descriptor number, or more "
					"than %d --fd\n", optarg,
					KEYD_CONN_MAX);
				return EX_USAGE;
			}
			nfds++;
			break;
		case 'b':
			if (parse_int(optarg, 0, KEYD_BACKOFF_MAX, &backoff)) {
				fprintf(stderr, "smimegw-keyd: --backoff: "
					"'%s' is not 0-%d\n", optarg,
					KEYD_BACKOFF_MAX);
				return EX_USAGE;
			}
			break;
		case 's':
			if (parse_int(optarg, 0, INT_MAX, &status_fd) != 0) {
				fprintf(stderr, "smimegw-keyd: --status-fd: "
					"'%s' is not a descriptor number\n",
					optarg);
				return EX_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc || nfds == 0) {
		fprintf(stderr, "smimegw-keyd: %s\n",
			nfds == 0 ? "at least one --fd is required"
				  : "unexpected argument");
		usage(stderr);
		return EX_USAGE;
	}
	log_init("smimegw-keyd", !debug, LOG_LEVEL_INFO);
	if ((rc = gw_buf_no_dumps()) != 0) {
		log_err("%s", gw_err_detail());
		return EX_TEMPFAIL;
	}
	if ((rc = gw_config_load(gw_config_path(conf), &cfg)) != 0) {
		log_err("%s: %s", gw_strerror(rc), gw_err_detail());
		return rc == GW_ERR_CONFIG ? EX_CONFIG : EX_TEMPFAIL;
	}
	if (log_level_parse(cfg->log_level, &level) == 0)
		log_init("smimegw-keyd", !debug, level);
	kc.module = cfg->pkcs11_module;
	kc.token_uri = cfg->token;
	kc.pin_file = cfg->pin_file;
	kc.backoff = backoff;
	kc.on_state = tell_master;
	kc.arg = &status_fd;
	/* Kept across a restart (execv) of keyd itself. */
	if (status_fd >= 0 && fcntl(status_fd, F_SETFD, 0) != 0) {
		log_err("--status-fd %d: %s", status_fd, strerror(errno));
		ex = EX_USAGE;
		goto out;
	}
	if ((rc = keyd_server_new(&kc, &srv)) != 0) {
		log_err("%s", gw_strerror(rc));
		goto out;
	}
	for (i = 0; i < nfds; i++) {
		/* Kept across a restart (execv) of keyd itself. */
		if ((rc = keyd_server_add(srv, fds[i])) != 0 ||
		    fcntl(fds[i], F_SETFD, 0) != 0) {
			log_err("--fd %d: %s", fds[i],
				rc ? gw_err_detail() : strerror(errno));
			ex = EX_USAGE;
			goto out;
		}
	}
	log_notice("serving %d stream%s", nfds, nfds == 1 ? "" : "s");
	if ((end = keyd_server_run(srv, &stop, &next)) < 0) {
		log_err("%s: %s", gw_strerror(end), gw_err_detail());
		goto out;
	}
	if (end == KEYD_END_RESTART) {
		/* The token is closed already; the streams stay open (no
		 * close-on-exec) for the new image. */
		restart(argc, argv, next);
		return EX_TEMPFAIL;
	}
	log_notice("%s", end == KEYD_END_STOPPED ? "stopped by a signal"
						 : "every stream closed");
	ex = 0;
out:
	keyd_server_free(srv);
	gw_config_free(cfg);
	return ex;
}
