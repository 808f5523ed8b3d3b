/*
 * log.h - the one logger of every smimegw program.
 *
 * A process calls log_init() once, early, with its name and where the
 * lines go: stderr for the command line ("ident: text", one line per
 * call), or syslog for daemons (openlog() with LOG_PID and the LOG_MAIL
 * facility; the level picks the priority).  Before log_init() the lines
 * go to stderr with ident "smimegw" at LOG_LEVEL_INFO.
 *
 * Lines below the configured level are dropped.  Every line is
 * sanitized before it leaves: a byte that is not printable ASCII (a
 * control character, DEL, or any byte >= 0x80) is written as \n, \r,
 * \t or \xHH, so text taken from a message (an address, a subject, a
 * reason from a peer) can neither split a line nor inject terminal
 * escapes.  A line is at most LOG_LINE_MAX bytes after escaping; a
 * longer one is cut and ends in "...".
 *
 * The logger keeps process-wide state (ident, destination, level) that
 * log_init() sets; the log functions themselves only read it and build
 * each line on the stack, so threads may log once log_init() is done.
 * They never fail and never change errno.
 */
#ifndef LOG_H
#define LOG_H

#include <stddef.h>

/* Most severe first: a level lets through itself and everything above. */
enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING = 1,
	LOG_LEVEL_NOTICE = 2,
	LOG_LEVEL_INFO = 3,
	LOG_LEVEL_DEBUG = 4,
};

/* Longest line written, escapes included, without the "ident: " prefix. */
#define LOG_LINE_MAX 2048

/*
 * Sets the program name (copied; at most 63 bytes are kept), the
 * destination (to_syslog: 0 stderr, else syslog) and the level (a
 * LOG_LEVEL_*; out of range is clamped).  May be called again, e.g.
 * once the configuration's log_level is known; switching away from
 * syslog closes it.
 */
void log_init(const char *ident, int to_syslog, int level);
/* Closes syslog if it is open; later lines go to stderr. */
void log_close(void);

/*
 * Maps a level name ("error", "warning", "notice", "info", "debug", as
 * in smimegw.conf's log_level) to a LOG_LEVEL_*.  Returns 0 and sets
 * *level, or GW_ERR_INVALID (with a detail naming the word) and leaves
 * *level alone.
 */
int log_level_parse(const char *name, int *level);
/* The name of a level, "unknown" for a value out of range. */
const char *log_level_name(int level);
/* Whether a line at this level would be written: 1 or 0. */
int log_enabled(int level);

void log_msg(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Like log_msg(), then appends the OpenSSL error queue to the same line,
 * oldest first, each as ": reason".  The queue is drained even when the
 * level drops the line, so no stale error reaches a later operation.
 */
void log_ssl(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One recipient of a processed message and what happened for it. */
struct log_rcpt {
	const char *addr;	/* the envelope address */
	const char *outcome;	/* e.g. "encrypted", "signed", "refused" */
};

/*
 * What one processed message came to.  Every string is borrowed and
 * may be NULL: an unknown field is written as "-", and a NULL queue_id
 * leaves the field out.  The values are plain words so that the logger
 * does not depend on the pipeline's types.
 */
struct log_summary {
	const char *queue_id;	/* the MTA's queue id, when known */
	const char *direction;	/* "outbound" or "inbound" */
	const char *decision;	/* what the policy chose */
	const char *profile;	/* the sending profile applied */
	const char *smime;	/* S/MIME result, e.g. "pass", "fail" */
	const struct log_rcpt *rcpts;
	size_t nrcpts;
};

/*
 * Formats the summary line into buf (size bytes, NUL-terminated, cut
 * with "..." when too small):
 *
 *   summary: queue_id=Q direction=D decision=X profile=P smime=S
 *            rcpts=N to=A status=O to=A status=O ...
 *
 * (one line).  A value that is empty or holds a byte outside '!'..'~',
 * or one of '"', '\\', '=', is written in double quotes with '"' and
 * '\\' backslash-escaped and any other byte but a space escaped as in a
 * log line (\n, \r, \t, \xHH), so the fields split unambiguously on
 * spaces.  Returns the length written.
 */
size_t log_summary_format(const struct log_summary *s, char *buf,
			  size_t size);
/* Logs log_summary_format()'s line at LOG_LEVEL_INFO. */
void log_message_summary(const struct log_summary *s);

#endif
