/*
 * notify.h - the systemd notification protocol (sd_notify(3)) without
 * libsystemd: one datagram of "KEY=VALUE\n" lines to the AF_UNIX socket
 * that $NOTIFY_SOCKET names (a path, or "@name" for the abstract
 * namespace).  smimegwd sends READY=1 once its first generation runs,
 * RELOADING=1 then READY=1 around a reload, STOPPING=1 when it drains,
 * and STATUS= lines; contrib/systemd/smimegwd.service is Type=notify.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/* Reads $NOTIFY_SOCKET and removes it from the environment, so that
 * no child sends in the master's name.  0 also without it (then
 * notify() does nothing); GW_ERR_CONFIG for a value that is no
 * socket address. */
int notify_init(void);

/* Sends the formatted state; 0, or GW_ERR_IO (the caller logs it). */
int notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
