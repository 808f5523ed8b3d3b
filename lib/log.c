/* log.c - stderr or syslog lines, filtered by level, escaped. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/err.h>

#include "gw_err.h"

#define IDENT_MAX 64

static char log_ident[IDENT_MAX] = "smimegw";
static int log_to_syslog;
static int log_syslog_open;
static int log_level = LOG_LEVEL_INFO;

static const struct {
	const char *name;
	int prio;	/* syslog priority */
	const char *tag; /* stderr: word after the ident, or NULL */
} levels[] = {
	[LOG_LEVEL_ERROR] = {"error", LOG_ERR, NULL},
	[LOG_LEVEL_WARNING] = {"warning", LOG_WARNING, "warning"},
	[LOG_LEVEL_NOTICE] = {"notice", LOG_NOTICE, NULL},
	[LOG_LEVEL_INFO] = {"info", LOG_INFO, NULL},
	[LOG_LEVEL_DEBUG] = {"debug", LOG_DEBUG, "debug"},
};
#define NLEVELS ((int)(sizeof(levels) / sizeof(levels[0])))

/* ---- a bounded line: appends stop at the end and mark the cut -------- */

struct line {
	char *buf;
	size_t size;	/* including the NUL */
	size_t len;
	int cut;
};

static void
line_init(struct line *l, char *buf, size_t size)
{
	l->buf = buf;
	l->size = size;
	l->len = 0;
	l->cut = 0;
	buf[0] = '\0';
}

/* Appends n bytes as they are, or nothing (and marks the cut) when they
 * would leave no room for the "..." that ends a cut line. */
static void
line_add(struct line *l, const char *p, size_t n)
{
	if (l->cut)
		return;
	if (l->size < 4 || n > l->size - 4 - l->len) {
		l->cut = 1;
		return;
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void
line_adds(struct line *l, const char *s)
{
	line_add(l, s, strlen(s));
}

/* One byte, escaped unless it is printable ASCII. */
static void
line_add_escaped(struct line *l, unsigned char c)
{
	char esc[5];

	if (c >= 0x20 && c < 0x7f) {
		line_add(l, (const char *)&c, 1);
		return;
	}
	switch (c) {
	case '\n':
		line_add(l, "\\n", 2);
		break;
	case '\r':
		line_add(l, "\\r", 2);
		break;
	case '\t':
		line_add(l, "\\t", 2);
		break;
	default:
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		line_add(l, esc, 4);
		break;
	}
}

/* Ends a cut line with "..." (the room for it was kept). */
static void
line_finish(struct line *l)
{
	if (!l->cut || l->size < 4)
		return;
	memcpy(l->buf + l->len, "...", 4);
	l->len += 3;
}

/* ---- output ----------------------------------------------------------- */

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Writes one finished, escaped line to the destination. */
static void
emit(int level, const char *text)
{
	char out[IDENT_MAX + 16 + LOG_LINE_MAX];
	struct line l;

	if (log_to_syslog) {
		syslog(levels[level].prio, "%s", text);
		return;
	}
	line_init(&l, out, sizeof(out));
	line_adds(&l, log_ident);
	line_add(&l, ": ", 2);
	if (levels[level].tag != NULL) {
		line_adds(&l, levels[level].tag);
		line_add(&l, ": ", 2);
	}
	line_adds(&l, text);
	line_finish(&l);
	/* line_add() kept 3 bytes spare; the newline takes one of them. */
	out[l.len++] = '\n';
	write_all(STDERR_FILENO, out, l.len);
}

static void log_vmsg(int level, int with_ssl, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_vmsg(int level, int with_ssl, const char *fmt, va_list ap)
{
	char raw[LOG_LINE_MAX], text[LOG_LINE_MAX];
	struct line l;
	size_t i, len;
	int n, ssl_cut = 0, saved = errno;

	if (level < 0)
		level = LOG_LEVEL_ERROR;
	if (level >= NLEVELS)
		level = LOG_LEVEL_DEBUG;
	if (level > log_level) {
		if (with_ssl)
			ERR_clear_error();
		goto out;
	}
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	len = n < 0 ? 0 : (size_t)n;
	if (len >= sizeof(raw))
		len = sizeof(raw) - 1;
	raw[len] = '\0';
	if (with_ssl) {
		ssl_cut = gw_err_ssl_append(raw, sizeof(raw));
		len = strlen(raw);
	}
	line_init(&l, text, sizeof(text));
	for (i = 0; i < len && raw[i] != '\0'; i++)
		line_add_escaped(&l, (unsigned char)raw[i]);
	/* The raw text was itself cut (by vsnprintf, or reasons that did
	 * not fit): say so. */
	if (len == sizeof(raw) - 1 || ssl_cut)
		l.cut = 1;
	line_finish(&l);
	emit(level, text);
out:
	errno = saved;
}

/* ---- setup ------------------------------------------------------------ */

void
log_init(const char *ident, int to_syslog, int level)
{
	if (log_syslog_open) {
		closelog();
		log_syslog_open = 0;
	}
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (level < LOG_LEVEL_ERROR)
		level = LOG_LEVEL_ERROR;
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
	log_to_syslog = to_syslog != 0;
	if (log_to_syslog) {
		/* openlog() keeps the pointer: log_ident is static. */
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		log_syslog_open = 1;
	}
}

void
log_close(void)
{
	if (log_syslog_open)
		closelog();
	log_syslog_open = 0;
	log_to_syslog = 0;
}

int
log_level_parse(const char *name, int *level)
{
	int i;

	if (name == NULL)
		return gw_err_set(GW_ERR_INVALID, "log level missing");
	for (i = 0; i < NLEVELS; i++) {
		if (strcmp(name, levels[i].name) == 0) {
			*level = i;
			return 0;
		}
	}
	return gw_err_set(GW_ERR_INVALID,
			  "unknown log level '%.64s' (error, warning, "
			  "notice, info or debug)", name);
}

const char *
log_level_name(int level)
{
	if (level < 0 || level >= NLEVELS)
		return "unknown";
	return levels[level].name;
}

int
log_enabled(int level)
{
	return level <= log_level;
}

/* ---- the printf family ------------------------------------------------ */

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, 0, fmt, ap);
	va_end(ap);
}

void
log_ssl(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, 1, fmt, ap);
	va_end(ap);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_WARNING, 0, fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_NOTICE, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LEVEL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

/* ---- the per-message summary ------------------------------------------ */

/* A value needs quotes when it is empty or holds a byte that would make
 * the key=value fields ambiguous or is not printable. */
static int
needs_quotes(const char *v)
{
	const unsigned char *p;

	if (*v == '\0')
		return 1;
	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' ||
		    *p == '=')
			return 1;
	return 0;
}

/* " key=value", value quoted and escaped as log.h describes. */
static void
add_field(struct line *l, const char *key, const char *v)
{
	const unsigned char *p;

	line_add(l, " ", 1);
	line_adds(l, key);
	line_add(l, "=", 1);
	if (v == NULL) {
		line_add(l, "-", 1);
		return;
	}
	if (!needs_quotes(v)) {
		line_adds(l, v);
		return;
	}
	line_add(l, "\"", 1);
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\') {
			line_add(l, "\\", 1);
			line_add(l, (const char *)p, 1);
		} else if (*p == ' ') {
			line_add(l, " ", 1);
		} else {
			line_add_escaped(l, *p);
		}
	}
	line_add(l, "\"", 1);
}

size_t
log_summary_format(const struct log_summary *s, char *buf, size_t size)
{
	char num[32];
	struct line l;
	size_t i;

	if (size == 0)
		return 0;
	line_init(&l, buf, size);
	line_adds(&l, "summary:");
	if (s->queue_id != NULL)
		add_field(&l, "queue_id", s->queue_id);
	add_field(&l, "direction", s->direction);
	add_field(&l, "decision", s->decision);
	add_field(&l, "profile", s->profile);
	add_field(&l, "smime", s->smime);
	snprintf(num, sizeof(num), "%zu", s->rcpts == NULL ? 0 : s->nrcpts);
	add_field(&l, "rcpts", num);
	for (i = 0; s->rcpts != NULL && i < s->nrcpts; i++) {
		add_field(&l, "to", s->rcpts[i].addr);
		add_field(&l, "status", s->rcpts[i].outcome);
	}
	line_finish(&l);
	return l.len;
}

void
log_message_summary(const struct log_summary *s)
{
	char buf[LOG_LINE_MAX];

	if (!log_enabled(LOG_LEVEL_INFO))
		return;
	log_summary_format(s, buf, sizeof(buf));
	log_msg(LOG_LEVEL_INFO, "%s", buf);
}
