/* notify.c - sd_notify's protocol, written out (notify.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gw_err.h"
#include "notify.h"

static struct sockaddr_un addr;
static socklen_t addrlen;

int
notify_init(void)
{
	const char *v = getenv("NOTIFY_SOCKET");
	size_t n;

	addrlen = 0;
	if (v == NULL || *v == '\0')
		return 0;
	n = strlen(v);
	if ((v[0] != '/' && v[0] != '@') || n >= sizeof(addr.sun_path) ||
	    n < 2) {
		unsetenv("NOTIFY_SOCKET");
		return gw_err_set_at(GW_ERR_CONFIG, "NOTIFY_SOCKET",
				     "NOTIFY_SOCKET '%.100s' is not a socket "
				     "path or @name", v);
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, v, n);
	if (v[0] == '@')
		addr.sun_path[0] = '\0';	/* abstract: no NUL at the end */
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			      (v[0] == '@' ? 0 : 1));
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

int
notify(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int fd, n;

	if (addrlen == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		n = (int)strlen(msg);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return gw_err_set(GW_ERR_IO, "notify: socket: %s",
				  strerror(errno));
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
		   (const struct sockaddr *)&addr, addrlen) < 0) {
		int e = errno;

		close(fd);
		return gw_err_set(GW_ERR_IO, "notify: sendto $NOTIFY_SOCKET: "
				  "%s", strerror(e));
	}
	close(fd);
	return 0;
}
