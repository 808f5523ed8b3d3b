/* ipc.c - typed, length-prefixed frames over a stream. */
#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "gw_be.h"
#include "gw_buf.h"
#include "gw_err.h"

/* ---- building --------------------------------------------------------- */

void
ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t id)
{
	unsigned char *p;

	gw_buf_init(&m->buf, IPC_HDR_LEN + IPC_MAX_PAYLOAD);
	m->err = 0;
	if (type == 0) {
		m->err = gw_err_set(GW_ERR_INVALID, "ipc: frame type 0");
		return;
	}
	/* Room for a typical frame at once, so it is seldom realloc'd. */
	if ((m->err = gw_buf_reserve(&m->buf, IPC_MSG_PREALLOC, &p)) != 0)
		return;
	gw_be32_put(p, type);
	gw_be32_put(p + 4, id);
	gw_be32_put(p + 8, 0);
	m->buf.len = IPC_HDR_LEN;
}

void
ipc_msg_free(struct ipc_msg *m)
{
	gw_buf_free_secret(&m->buf);
	m->err = 0;
}

/* Appends a tag and n value bytes (n counted against the ceiling). */
static int
put_field(struct ipc_msg *m, enum ipc_tag tag, const void *p, size_t n)
{
	unsigned char t = (unsigned char)tag;
	int rc;

	if (m->err != 0)
		return m->err;
	if (m->buf.len + 1 + n > m->buf.max || n > m->buf.max) {
		rc = gw_err_set(GW_ERR_LIMIT,
				"ipc: frame payload over %zu bytes",
				IPC_MAX_PAYLOAD);
		goto out;
	}
	if ((rc = gw_buf_add(&m->buf, &t, 1)) != 0)
		goto out;
	rc = gw_buf_add(&m->buf, p, n);
out:
	m->err = rc;
	return rc;
}

int
ipc_put_u32(struct ipc_msg *m, uint32_t v)
{
	unsigned char b[4];

	gw_be32_put(b, v);
	return put_field(m, IPC_T_U32, b, sizeof(b));
}

int
ipc_put_u64(struct ipc_msg *m, uint64_t v)
{
	unsigned char b[8];

	gw_be64_put(b, v);
	return put_field(m, IPC_T_U64, b, sizeof(b));
}

int
ipc_put_bytes(struct ipc_msg *m, const void *p, size_t n)
{
	unsigned char b[4];
	int rc;

	if (m->err != 0)
		return m->err;
	if (p == NULL && n > 0)
		return m->err = gw_err_set(GW_ERR_INVALID,
					   "ipc: NULL bytes field");
	if (n > IPC_MAX_PAYLOAD || m->buf.len + 1 + 4 + n > m->buf.max)
		return m->err = gw_err_set(GW_ERR_LIMIT,
					   "ipc: frame payload over %zu bytes",
					   IPC_MAX_PAYLOAD);
	gw_be32_put(b, (uint32_t)n);
	if ((rc = put_field(m, IPC_T_BYTES, b, sizeof(b))) != 0)
		return rc;
	if ((rc = gw_buf_add(&m->buf, p, n)) != 0)
		m->err = rc;
	return rc;
}

int
ipc_put_str(struct ipc_msg *m, const char *s)
{
	return ipc_put_bytes(m, s, s == NULL ? 0 : strlen(s));
}

/* ---- stream I/O ------------------------------------------------------- */

/* Writes all n bytes: send() without SIGPIPE on sockets, else write(). */
static int
write_full(int fd, const unsigned char *p, size_t n)
{
	int use_send = 1;
	ssize_t w;

	while (n > 0) {
		if (use_send)
			w = send(fd, p, n, MSG_NOSIGNAL);
		else
			w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (use_send && errno == ENOTSOCK) {
				use_send = 0;
				continue;
			}
			return gw_err_set(GW_ERR_IO, "ipc: write: %s",
					  strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads up to n bytes, stopping early only at end of stream: 0 and
 * *got, or GW_ERR_IO. */
static int
read_full(int fd, unsigned char *p, size_t n, size_t *got)
{
	ssize_t r;

	*got = 0;
	while (*got < n) {
		if ((r = read(fd, p + *got, n - *got)) < 0) {
			if (errno == EINTR)
				continue;
			return gw_err_set(GW_ERR_IO, "ipc: read: %s",
					  strerror(errno));
		}
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

int
ipc_write(int fd, struct ipc_msg *m)
{
	if (m->err != 0)
		return m->err;
	if (m->buf.data == NULL || m->buf.len < IPC_HDR_LEN)
		return gw_err_set(GW_ERR_INVALID, "ipc: frame not initialised");
	gw_be32_put(m->buf.data + 8, (uint32_t)(m->buf.len - IPC_HDR_LEN));
	return write_full(fd, m->buf.data, m->buf.len);
}

int
ipc_read(int fd, struct ipc_frame *f)
{
	unsigned char hdr[IPC_HDR_LEN], *p;
	size_t got, len;
	int rc;

	f->type = 0;
	f->id = 0;
	f->pos = 0;
	f->err = 0;
	gw_buf_init(&f->buf, IPC_MAX_PAYLOAD);
	if ((rc = read_full(fd, hdr, sizeof(hdr), &got)) != 0)
		goto out;
	if (got == 0) {
		rc = GW_ERR_NOT_FOUND;
		goto out;
	}
	if (got < sizeof(hdr)) {
		rc = gw_err_set(GW_ERR_IO,
				"ipc: stream ended inside a frame header "
				"(%zu of %d bytes)", got, IPC_HDR_LEN);
		goto out;
	}
	f->type = gw_be32_get(hdr);
	f->id = gw_be32_get(hdr + 4);
	len = gw_be32_get(hdr + 8);
	if (f->type == 0) {
		rc = gw_err_set(GW_ERR_PARSE, "ipc: frame type 0");
		goto out;
	}
	if (len > IPC_MAX_PAYLOAD) {
		rc = gw_err_set(GW_ERR_LIMIT,
				"ipc: frame of %zu bytes refused (limit %zu)",
				len, IPC_MAX_PAYLOAD);
		goto out;
	}
	if ((rc = gw_buf_reserve(&f->buf, len, &p)) != 0)
		goto out;
	if ((rc = read_full(fd, p, len, &got)) != 0)
		goto out;
	f->buf.len = got;
	if (got < len) {
		rc = gw_err_set(GW_ERR_IO,
				"ipc: stream ended inside a frame "
				"(%zu of %zu payload bytes)", got, len);
		goto out;
	}
out:
	f->err = rc == 0 ? 0 : GW_ERR_PARSE;
	return rc;
}

void
ipc_frame_free(struct ipc_frame *f)
{
	gw_buf_free_secret(&f->buf);
	f->pos = 0;
	f->err = 0;
}

/* ---- reading fields --------------------------------------------------- */

uint32_t
ipc_frame_type(const struct ipc_frame *f)
{
	return f->type;
}

uint32_t
ipc_frame_id(const struct ipc_frame *f)
{
	return f->id;
}

int
ipc_expect(struct ipc_frame *f, uint32_t type, uint32_t id)
{
	if (f->err != 0)
		return f->err;
	if (f->type != type || f->id != id)
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: frame type %u id %u, "
					   "expected type %u id %u",
					   f->type, f->id, type, id);
	return 0;
}

static const char *
tag_name(unsigned tag)
{
	switch (tag) {
	case IPC_T_U32:
		return "u32";
	case IPC_T_U64:
		return "u64";
	case IPC_T_BYTES:
		return "bytes";
	default:
		return "unknown";
	}
}

/* Checks the next field's tag and that n value bytes follow it; on
 * success *p points at the value and the cursor is past it. */
static int
take(struct ipc_frame *f, enum ipc_tag tag, size_t n,
     const unsigned char **p)
{
	size_t left;

	if (f->err != 0)
		return f->err;
	left = f->buf.len - f->pos;
	if (left == 0)
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: read past the end of a "
					   "frame (want %s at offset %zu)",
					   tag_name(tag), f->pos);
	if (f->buf.data[f->pos] != tag)
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: field at offset %zu is %s, "
					   "expected %s", f->pos,
					   tag_name(f->buf.data[f->pos]),
					   tag_name(tag));
	if (n > left - 1)
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: %s field at offset %zu runs "
					   "past the end of the frame",
					   tag_name(tag), f->pos);
	*p = f->buf.data + f->pos + 1;
	f->pos += 1 + n;
	return 0;
}

int
ipc_get_u32(struct ipc_frame *f, uint32_t *v)
{
	const unsigned char *p;
	int rc;

	if ((rc = take(f, IPC_T_U32, 4, &p)) != 0)
		return rc;
	*v = gw_be32_get(p);
	return 0;
}

int
ipc_get_u64(struct ipc_frame *f, uint64_t *v)
{
	const unsigned char *p;
	int rc;

	if ((rc = take(f, IPC_T_U64, 8, &p)) != 0)
		return rc;
	*v = gw_be64_get(p);
	return 0;
}

int
ipc_get_bytes(struct ipc_frame *f, const unsigned char **p, size_t *n)
{
	const unsigned char *q;
	size_t start, len, left;
	int rc;

	start = f->pos;
	if ((rc = take(f, IPC_T_BYTES, 4, &q)) != 0)
		return rc;
	len = gw_be32_get(q);
	if (len > (left = f->buf.len - f->pos)) {
		f->pos = start;
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: bytes field at offset %zu "
					   "claims %zu bytes, %zu left",
					   start, len, left);
	}
	*p = f->buf.data + f->pos;
	*n = len;
	f->pos += len;
	return 0;
}

int
ipc_get_str(struct ipc_frame *f, char *buf, size_t max)
{
	const unsigned char *p;
	size_t start = f->pos, n;
	int rc;

	if ((rc = ipc_get_bytes(f, &p, &n)) != 0)
		return rc;
	if (max == 0 || n > max - 1 || memchr(p, '\0', n) != NULL) {
		f->pos = start;
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: string field at offset %zu "
					   "is too long or holds a NUL", start);
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int
ipc_end(struct ipc_frame *f)
{
	if (f->err != 0)
		return f->err;
	if (f->pos != f->buf.len)
		return f->err = gw_err_set(GW_ERR_PARSE,
					   "ipc: %zu unread bytes at the end "
					   "of a frame of type %u",
					   f->buf.len - f->pos, f->type);
	return 0;
}
