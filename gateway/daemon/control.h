/*
 * control.h - smimegwd's control socket: a UNIX stream socket at
 * control_socket (default data_dir/smimegwd.sock), mode 0600, owned by
 * the master's user, which "smimegw daemon status|reload" connects to.
 * One request per connection (ctl_proto.h), answered and closed; a
 * peer whose uid is neither root nor the master's is refused, and a
 * peer that does not send its request within CONTROL_TIMEOUT seconds
 * is dropped, so the master never waits on one for long.
 */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>

#include "ctl_proto.h"

#define CONTROL_TIMEOUT 2

struct control_ops {
	/* Fills st (zeroed) with the gateway's state. */
	void (*status)(void *arg, struct ctl_status *st);
	/* Reads the configuration again, as SIGHUP does: 1 when a new
	 * generation starts, 0 (why says which key, on which line) when
	 * the running one stays. */
	int (*reload)(void *arg, char *why, size_t whylen);
	void *arg;
};

/*
 * Binds path: a stale socket there (nobody answers) is replaced; a
 * live one is GW_ERR_CONFIG (another smimegwd uses it), anything else
 * at path GW_ERR_CONFIG too.  *fd is non-blocking and close-on-exec.
 */
int control_listen(const char *path, int *fd);
/* Closes fd and removes path. */
void control_close(int fd, const char *path);

/* Accepts and answers the connections waiting on fd. */
void control_accept(int fd, const struct control_ops *ops);

#endif
