/* control.c - smimegwd's control socket (control.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "gw_err.h"
#include "log.h"

static int
addr_of(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return gw_err_set_at(GW_ERR_CONFIG, "control_socket",
				     "control_socket %s: longer than %zu "
				     "bytes", path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* Something at path: a socket nobody answers on is removed. */
static int
clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0
				       : gw_err_set_at(GW_ERR_CONFIG,
						       "control_socket",
						       "control_socket %s: %s",
						       path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return gw_err_set_at(GW_ERR_CONFIG, "control_socket",
				     "control_socket %s: exists and is not a "
				     "socket", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return gw_err_set(GW_ERR_IO, "socket: %s", strerror(errno));
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	if (live)
		return gw_err_set_at(GW_ERR_CONFIG, "control_socket",
				     "control_socket %s: another smimegwd "
				     "answers there", path);
	if (unlink(path) != 0)
		return gw_err_set_at(GW_ERR_CONFIG, "control_socket",
				     "control_socket %s: cannot remove the "
				     "stale socket: %s", path,
				     strerror(errno));
	return 0;
}

int
control_listen(const char *path, int *out)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc, e;

	if ((rc = addr_of(path, &sa)) != 0 ||
	    (rc = clear_stale(path, &sa)) != 0)
		return rc;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			 0)) < 0)
		return gw_err_set(GW_ERR_IO, "socket: %s", strerror(errno));
	/* Born 0600: no moment in which others may connect. */
	old = umask(0177);
	rc = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old);
	if (rc != 0 || listen(fd, 16) != 0) {
		if (rc == 0)
			e = errno;
		close(fd);
		return gw_err_set_at(GW_ERR_IO, "control_socket",
				     "control_socket %s: %s", path,
				     strerror(e));
	}
	*out = fd;
	return 0;
}

void
control_close(int fd, const char *path)
{
	if (fd < 0)
		return;
	close(fd);
	unlink(path);
}

static int
peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
		return 0;
	if (cr.uid == 0 || cr.uid == geteuid())
		return 1;
	log_warn("control: refused a client with uid %lu",
		 (unsigned long)cr.uid);
	return 0;
}

static void
answer(int fd, const struct control_ops *ops)
{
	struct ipc_frame f;
	struct ipc_msg m;
	struct ctl_status *st = NULL;
	char why[CTL_TEXT_MAX];
	uint32_t type, id;
	int rc, ok;

	gw_err_clear();
	if ((rc = ipc_read(fd, &f)) != 0) {
		if (rc != GW_ERR_NOT_FOUND)
			log_warn("control: %s", gw_err_detail());
		ipc_frame_free(&f);
		return;
	}
	type = ipc_frame_type(&f);
	id = ipc_frame_id(&f);
	rc = ipc_end(&f);
	ipc_frame_free(&f);
	if (rc == 0 && type == CTL_REQ_STATUS &&
	    (st = calloc(1, sizeof(*st))) != NULL) {
		ops->status(ops->arg, st);
		ipc_msg_init(&m, CTL_STATUS, id);
		ctl_status_encode(&m, st);
		free(st);
	} else if (rc == 0 && type == CTL_REQ_RELOAD) {
		why[0] = '\0';
		log_notice("control: reload asked");
		ok = ops->reload(ops->arg, why, sizeof(why));
		ipc_msg_init(&m, CTL_RESULT, id);
		ctl_result_encode(&m, ok, ok ? "reloaded: a new generation "
					       "starts" : why);
	} else {
		if (type != CTL_REQ_STATUS)
			log_warn("control: refused a request of type %#x",
				 type);
		ipc_msg_init(&m, CTL_RESULT, id);
		ctl_result_encode(&m, 0, rc != 0 ? "malformed request"
					 : type == CTL_REQ_STATUS
					     ? "out of memory"
					     : "unknown request");
	}
	if (ipc_write(fd, &m) != 0)
		log_warn("control: %s", gw_err_detail());
	ipc_msg_free(&m);
}

void
control_accept(int lfd, const struct control_ops *ops)
{
	struct timeval tv = {CONTROL_TIMEOUT, 0};
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		if (peer_allowed(fd) &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
			       sizeof(tv)) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			       sizeof(tv)) == 0)
			answer(fd, ops);
		close(fd);
	}
}
