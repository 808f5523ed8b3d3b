/*
 * test_daemon_ops.c - the operations side of smimegwd
 * (gateway/daemon/): the users its children take (privdrop.c), the
 * control socket (control.c: born 0600, a live one not taken over, a
 * stale one replaced, one request per connection answered, anything
 * else refused) and sd_notify's datagrams (notify.c).  The drop itself
 * runs in a forked child and only as root; otherwise it is skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include "control.h"
#include "ctl_proto.h"
#include "gw_err.h"
#include "ipc.h"
#include "notify.h"
#include "privdrop.h"

static char dir[64];
static char path[100];

static int
dir_setup(void **state)
{
	(void)state;
	gw_err_clear();
	if (unit_tmpdir(dir, sizeof(dir), "test_daemon_ops") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	return 0;
}

static int
dir_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- users ------------------------------------------------------------- */

static void
test_lookup(void **state)
{
	struct privdrop_user u;

	(void)state;
	assert_int_equal(privdrop_lookup("user", "", &u), 0);
	assert_int_equal(u.set, 0);
	assert_int_equal(privdrop_lookup("user", "root", &u), 0);
	assert_int_equal(u.set, 1);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.name, "root");
	gw_err_clear();
	assert_int_equal(privdrop_lookup("keyd_user", "no-such-user-xyz", &u),
			 GW_ERR_CONFIG);
	assert_int_equal(u.set, 0);
	assert_string_equal(gw_err_field(), "keyd_user");
	assert_string_equal(gw_err_detail(), "keyd_user: no such user "
					     "'no-such-user-xyz' (create it, "
					     "or see smimegwd(8))");
}

static void
test_drop_unset_changes_nothing(void **state)
{
	struct privdrop_user u;
	uid_t before = geteuid();

	(void)state;
	memset(&u, 0, sizeof(u));
	assert_int_equal(privdrop_apply(&u), 0);
	assert_int_equal(geteuid(), before);
}

/* In a child: becomes nobody; exit 0 when every id changed, the groups
 * are nobody's and root cannot be taken back. */
static void
test_drop_to_nobody(void **state)
{
	struct privdrop_user u;
	gid_t groups[8];
	int status, n;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(privdrop_lookup("user", "nobody", &u), 0);
	if ((pid = fork()) == 0) {
		if (privdrop_apply(&u) != 0)
			_exit(1);
		if (getuid() != u.uid || geteuid() != u.uid ||
		    getgid() != u.gid || getegid() != u.gid)
			_exit(2);
		n = getgroups(8, groups);
		if (n < 1 || groups[0] != u.gid)
			_exit(3);
		if (setuid(0) == 0 || seteuid(0) == 0)
			_exit(4);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- the control socket --------------------------------------------------- */

static int reloads;

static void
fake_status(void *arg, struct ctl_status *st)
{
	(void)arg;
	st->master_pid = 42;
	st->gen = 3;
	snprintf(st->token, sizeof(st->token), "up");
	st->nworkers = 1;
	st->w[0].pid = 43;
	st->w[0].c.messages = 9;
}

static int
fake_reload(void *arg, char *why, size_t len)
{
	(void)arg;
	reloads++;
	snprintf(why, len, "smimegw.conf:7: user: no such user 'x'");
	return 0;
}

static const struct control_ops ops = {fake_status, fake_reload, NULL};

static int
dial(void)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* One request of type through the server's control_accept(); the
 * reply in *f. */
static void
ask(int lfd, uint32_t type, struct ipc_frame *f)
{
	struct ipc_msg m;
	int fd = dial();

	ipc_msg_init(&m, type, 9);
	assert_int_equal(ipc_write(fd, &m), 0);
	ipc_msg_free(&m);
	control_accept(lfd, &ops);
	assert_int_equal(ipc_read(fd, f), 0);
	close(fd);
}

static void
test_control_requests(void **state)
{
	static struct ctl_status st;
	struct ipc_frame f;
	struct stat sb;
	char text[CTL_TEXT_MAX];
	int lfd, ok = 1;

	(void)state;
	assert_int_equal(control_listen(path, &lfd), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(sb.st_mode & 0777, 0600);

	ask(lfd, CTL_REQ_STATUS, &f);
	assert_int_equal(ipc_expect(&f, CTL_STATUS, 9), 0);
	assert_int_equal(ctl_status_decode(&f, &st), 0);
	assert_int_equal(st.master_pid, 42);
	assert_int_equal(st.gen, 3);
	assert_string_equal(st.token, "up");
	assert_int_equal(st.nworkers, 1);
	assert_int_equal(st.w[0].c.messages, 9);
	ipc_frame_free(&f);

	ask(lfd, CTL_REQ_RELOAD, &f);
	assert_int_equal(ipc_expect(&f, CTL_RESULT, 9), 0);
	assert_int_equal(ctl_result_decode(&f, &ok, text, sizeof(text)), 0);
	assert_int_equal(ok, 0);
	assert_string_equal(text, "smimegw.conf:7: user: no such user 'x'");
	assert_int_equal(reloads, 1);
	ipc_frame_free(&f);

	/* Anything else: refused, and nothing done. */
	ask(lfd, CTL_STATS, &f);
	assert_int_equal(ipc_expect(&f, CTL_RESULT, 9), 0);
	assert_int_equal(ctl_result_decode(&f, &ok, text, sizeof(text)), 0);
	assert_int_equal(ok, 0);
	assert_string_equal(text, "unknown request");
	assert_int_equal(reloads, 1);
	ipc_frame_free(&f);

	control_close(lfd, path);
	assert_int_equal(stat(path, &sb), -1);
}

/* A client whose uid is neither root nor the master's gets no answer,
 * even when the socket's mode would let it in. */
static void
test_control_stranger(void **state)
{
	struct privdrop_user u;
	struct ipc_msg m;
	char c;
	int lfd, fd, status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(privdrop_lookup("user", "nobody", &u), 0);
	assert_int_equal(control_listen(path, &lfd), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(path, 0666), 0);
	if ((pid = fork()) == 0) {
		if (privdrop_apply(&u) != 0)
			_exit(1);
		fd = dial();
		ipc_msg_init(&m, CTL_REQ_RELOAD, 1);
		if (ipc_write(fd, &m) != 0)
			_exit(2);
		/* Refused: closed without a byte (an end of file, or a
		 * reset since the request was never read). */
		_exit(read(fd, &c, 1) <= 0 ? 0 : 3);
	}
	assert_true(pid > 0);
	/* Its connection, once it is queued. */
	for (;;) {
		control_accept(lfd, &ops);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(10000);
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(reloads, 1);	/* test_control_requests' only */
	control_close(lfd, path);
}

static void
test_control_live_stale_other(void **state)
{
	int lfd, lfd2, fd;
	char longpath[200];

	(void)state;
	assert_int_equal(control_listen(path, &lfd), 0);
	/* A live one: not taken over. */
	gw_err_clear();
	assert_int_equal(control_listen(path, &lfd2), GW_ERR_CONFIG);
	assert_substr(gw_err_detail(), "another smimegwd answers there");
	/* A stale one (its master gone without removing it): replaced. */
	close(lfd);
	gw_err_clear();
	assert_int_equal(control_listen(path, &lfd2), 0);
	control_close(lfd2, path);
	/* Something else at the path: left alone. */
	assert_true((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	gw_err_clear();
	assert_int_equal(control_listen(path, &lfd2), GW_ERR_CONFIG);
	assert_substr(gw_err_detail(), "exists and is not a socket");
	unlink(path);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	gw_err_clear();
	assert_int_equal(control_listen(longpath, &lfd2), GW_ERR_CONFIG);
	assert_substr(gw_err_detail(), "longer than 107 bytes");
}

/* ---- sd_notify ---------------------------------------------------------- */

static int
listener(const char *name, int abstract)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
			  strlen(name) + (abstract ? 0 : 1));
	if (abstract)
		sa.sun_path[0] = '\0';
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void
test_notify(void **state)
{
	char sock[160], abs[64], buf[256];
	ssize_t n;
	int fd;

	(void)state;
	/* Without NOTIFY_SOCKET: nothing, no error. */
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify("READY=1"), 0);

	snprintf(sock, sizeof(sock), "%s/notify", dir);
	fd = listener(sock, 0);
	setenv("NOTIFY_SOCKET", sock, 1);
	assert_int_equal(notify_init(), 0);
	assert_null(getenv("NOTIFY_SOCKET")); /* children do not see it */
	assert_int_equal(notify("READY=1\nSTATUS=generation %d", 1), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "READY=1\nSTATUS=generation 1");
	close(fd);

	snprintf(abs, sizeof(abs), "@smimegw-test-%ld", (long)getpid());
	fd = listener(abs, 1);
	setenv("NOTIFY_SOCKET", abs, 1);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify("STOPPING=1"), 0);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	gw_err_clear();
	assert_int_equal(notify_init(), GW_ERR_CONFIG);
	assert_substr(gw_err_detail(), "'relative/path' is not a socket");
	assert_int_equal(notify("READY=1"), 0);	/* then off */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_drop_unset_changes_nothing),
	    cmocka_unit_test(test_drop_to_nobody),
	    cmocka_unit_test_setup_teardown(test_control_requests, dir_setup,
					    dir_teardown),
	    cmocka_unit_test_setup_teardown(test_control_stranger, dir_setup,
					    dir_teardown),
	    cmocka_unit_test_setup_teardown(test_control_live_stale_other,
					    dir_setup, dir_teardown),
	    cmocka_unit_test_setup_teardown(test_notify, dir_setup,
					    dir_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
