/*
 * cli_daemon.c - "smimegw daemon status|reload": the running smimegwd,
 * through its control socket (control_socket in smimegw.conf, or
 * --socket).  The frames are ctl_proto.h's; the master answers one
 * request per connection.
 *
 * Exit status: 0 done; 1 the reload was refused (the reason on
 * stderr) or the configuration does not load; 2 usage; 3 smimegwd is
 * not running (nobody listens on the socket) or does not answer.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "ctl_proto.h"
#include "gw_err.h"

#define EXIT_NOT_RUNNING 3
#define CLIENT_TIMEOUT 30

static const char daemon_usage_text[] =
    "usage: smimegw daemon COMMAND [--socket PATH]\n"
    "  status [--json]  uptime, workers, keyd and the token, messages by\n"
    "                   outcome since start (--json: one JSON object)\n"
    "  reload           read smimegw.conf again, as SIGHUP does; says "
    "why\n"
    "                   when the running configuration stays\n"
    "  --socket PATH    the control socket (default: control_socket of\n"
    "                   smimegw.conf)\n"
    "exit: 0 done, 1 refused or failed, 2 usage, 3 smimegwd not "
    "running\n";

enum { OPT_JSON = 'j', OPT_SOCKET = 's' };

static const struct option daemon_opts[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct cli_cmd daemon_cmds[] = {
    {"status", 0, 0, "", CLI_OPTS(OPT_JSON, OPT_SOCKET)},
    {"reload", 0, 0, "", CLI_OPTS(OPT_SOCKET)},
};

struct daemon_opts {
	int json;
	const char *socket;
};

static int
daemon_opt(void *arg, int c, const char *value, const char *what)
{
	struct daemon_opts *o = arg;

	(void)what;
	if (c == OPT_JSON)
		o->json = 1;
	else if (c == OPT_SOCKET)
		o->socket = value;
	return 0;
}

static const struct cli_spec daemon_spec = {
    "daemon", daemon_usage_text, ":h", daemon_opts, daemon_cmds,
    sizeof(daemon_cmds) / sizeof(daemon_cmds[0]), daemon_opt,
};

/* Connects to the control socket: the descriptor, or -1 with the
 * reason on stderr. */
static int
dial(const char *what, const char *path)
{
	struct sockaddr_un sa;
	struct timeval tv = {CLIENT_TIMEOUT, 0};
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "smimegw %s: %s: too long for a socket path\n",
			what, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, "smimegw %s: socket: %s\n", what,
			strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "smimegw %s: smimegwd is not running "
			"(control socket %s: %s)\n", what, path,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends the request of type and reads the reply into *f (freed by
 * the caller).  0, or the exit status after saying why. */
static int
ask(const char *what, const char *path, uint32_t type, struct ipc_frame *f)
{
	struct ipc_msg m;
	int fd, rc;

	memset(f, 0, sizeof(*f));
	if ((fd = dial(what, path)) < 0)
		return EXIT_NOT_RUNNING;
	ipc_msg_init(&m, type, 1);
	rc = ipc_write(fd, &m);
	ipc_msg_free(&m);
	if (rc == 0)
		rc = ipc_read(fd, f);
	close(fd);
	if (rc != 0) {
		fprintf(stderr, "smimegw %s: smimegwd did not answer on %s: "
			"%s\n", what, path,
			rc == GW_ERR_NOT_FOUND ? "the connection was closed"
					       : gw_err_detail());
		return EXIT_NOT_RUNNING;
	}
	return 0;
}

/* A CTL_RESULT where another reply was due: the master's refusal. */
static int
refused(const char *what, struct ipc_frame *f)
{
	char text[CTL_TEXT_MAX];
	int ok = 0;

	if (ctl_result_decode(f, &ok, text, sizeof(text)) != 0)
		return cli_fail(what, GW_ERR_PARSE);
	fprintf(stderr, "smimegw %s: %s\n", what, text);
	return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int
do_status(const char *what, const char *path, int json)
{
	static struct ctl_status st;
	struct ipc_frame f;
	int ex, rc;

	if ((ex = ask(what, path, CTL_REQ_STATUS, &f)) != 0)
		return ex;
	if (ipc_frame_type(&f) == CTL_RESULT)
		ex = refused(what, &f);
	else if ((rc = ipc_expect(&f, CTL_STATUS, 1)) != 0 ||
		 (rc = ctl_status_decode(&f, &st)) != 0)
		ex = cli_fail(what, rc);
	else
		ctl_status_print(stdout, &st, json);
	ipc_frame_free(&f);
	return ex;
}

static int
do_reload(const char *what, const char *path)
{
	struct ipc_frame f;
	char text[CTL_TEXT_MAX];
	int ex, ok = 0, rc;

	if ((ex = ask(what, path, CTL_REQ_RELOAD, &f)) != 0)
		return ex;
	if ((rc = ipc_expect(&f, CTL_RESULT, 1)) != 0 ||
	    (rc = ctl_result_decode(&f, &ok, text, sizeof(text))) != 0) {
		ipc_frame_free(&f);
		return cli_fail(what, rc);
	}
	ipc_frame_free(&f);
	if (!ok) {
		fprintf(stderr, "smimegw %s: refused, the running "
			"configuration stays: %s\n", what, text);
		return CLI_EXIT_FAIL;
	}
	printf("%s\n", text);
	return CLI_EXIT_OK;
}

int
cli_daemon_main(struct cli_ctx *ctx, int argc, char **argv)
{
	struct daemon_opts o = {0, NULL};
	struct gw_config *cfg;
	struct cli_args a;
	int ex, rc;

	if ((ex = cli_args_parse(&daemon_spec, argc, argv, &o, &a)) != 0)
		return ex;
	if (o.socket == NULL) {
		if ((rc = cli_config(ctx, &cfg)) != 0)
			return cli_fail(a.what, rc);
		o.socket = cfg->control_socket;
	}
	if (strcmp(a.cmd->name, "status") == 0)
		return do_status(a.what, o.socket, o.json);
	return do_reload(a.what, o.socket);
}
