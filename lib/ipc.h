/*
 * ipc.h - typed, length-prefixed frames between two processes (a mail
 * worker and the key process) over a socketpair or pipe.
 *
 * A frame is a 12-byte header, then the payload:
 *
 *   type u32 | request id u32 | payload length u32 | payload
 *
 * all big-endian.  Type 0 is never valid.  The payload is a sequence of
 * typed fields, each a one-byte tag then its value:
 *
 *   IPC_T_U32   4 bytes
 *   IPC_T_U64   8 bytes
 *   IPC_T_BYTES u32 length, then that many bytes (0 allowed)
 *
 * A payload is at most IPC_MAX_PAYLOAD bytes: the writer refuses to
 * build a larger one and the reader refuses a header announcing one
 * before it allocates anything (GW_ERR_LIMIT).
 *
 * Reading is strict.  Each getter checks that the next field has the
 * expected tag and lies wholly inside the payload; ipc_end() must be
 * called after the last field and fails when bytes are left over.  The
 * first failure sticks to the frame (later getters fail too), so a
 * caller may read every field and check once at ipc_end().  Every
 * violation is GW_ERR_PARSE with a detail naming the field.
 *
 * After any read error the stream is out of step: close it.  The
 * module cannot tell a broken peer from a broken message; a mail
 * worker should treat every failure talking to the key process as
 * temporary (4xx), whatever code it gets here.
 *
 * Frames may carry key material (an unwrapped content key), so both
 * ipc_msg_free() and ipc_frame_free() wipe the bytes they held.
 * Builders start with room for IPC_MSG_PREALLOC bytes; a larger frame
 * is reallocated, and the realloc'd-away copy is not wiped.
 */
#ifndef IPC_H
#define IPC_H

#include <stddef.h>
#include <stdint.h>

#include "gw_buf.h"

#define IPC_HDR_LEN 12
#define IPC_MAX_PAYLOAD ((size_t)256 * 1024)
#define IPC_MSG_PREALLOC 4096

enum ipc_tag {
	IPC_T_U32 = 1,
	IPC_T_U64 = 2,
	IPC_T_BYTES = 3,
};

/* A frame being built.  Fields are private to ipc.c. */
struct ipc_msg {
	struct gw_buf buf;	/* header, then the payload */
	int err;		/* first failure, 0 if none */
};

/* A frame read from a stream.  Fields are private to ipc.c; use the
 * accessors below. */
struct ipc_frame {
	uint32_t type;
	uint32_t id;
	struct gw_buf buf;	/* the payload */
	size_t pos;		/* read cursor in buf */
	int err;		/* first failure, 0 if none */
};

/*
 * Starts a frame of the given type (not 0) and request id.  Never
 * fails itself: an allocation failure, or type 0, is latched and
 * returned by the next ipc_put_*() and by ipc_write().
 */
void ipc_msg_init(struct ipc_msg *m, uint32_t type, uint32_t id);
/* Wipes and frees the frame; m may then be initialised again. */
void ipc_msg_free(struct ipc_msg *m);

/*
 * Append one field.  Return 0, or the latched first failure:
 * GW_ERR_LIMIT when the payload would pass IPC_MAX_PAYLOAD,
 * GW_ERR_NOMEM, GW_ERR_INVALID (type 0 at init, or p NULL with n > 0).
 */
int ipc_put_u32(struct ipc_msg *m, uint32_t v);
int ipc_put_u64(struct ipc_msg *m, uint64_t v);
int ipc_put_bytes(struct ipc_msg *m, const void *p, size_t n);
/* A C string as IPC_T_BYTES, without its NUL. */
int ipc_put_str(struct ipc_msg *m, const char *s);

/*
 * Writes the whole frame to fd, blocking; retries after EINTR and
 * short writes, and does not raise SIGPIPE on a socket whose peer has
 * gone.  Returns 0, the builder's latched failure, or GW_ERR_IO (detail
 * with strerror).  m is left as it was (free it with ipc_msg_free()).
 */
int ipc_write(int fd, struct ipc_msg *m);

/*
 * Reads one whole frame from fd into *f, blocking; retries after EINTR
 * and reads on after short reads.  Returns:
 *   0                 a frame: type, id and payload set, cursor at 0;
 *   GW_ERR_NOT_FOUND  the stream ended cleanly before a frame began
 *                     (the peer closed it; no detail is set);
 *   GW_ERR_IO         a read error, or the stream ended inside a frame;
 *   GW_ERR_PARSE      type 0 in the header;
 *   GW_ERR_LIMIT      the header announces more than IPC_MAX_PAYLOAD;
 *   GW_ERR_NOMEM.
 * *f is initialised in every case and must be freed with
 * ipc_frame_free().
 */
int ipc_read(int fd, struct ipc_frame *f);
void ipc_frame_free(struct ipc_frame *f);

/* The frame's type and request id (valid after a successful read). */
uint32_t ipc_frame_type(const struct ipc_frame *f);
uint32_t ipc_frame_id(const struct ipc_frame *f);
/*
 * 0 when the frame has this type and request id, else GW_ERR_PARSE
 * (latched on the frame) with a detail giving both.
 */
int ipc_expect(struct ipc_frame *f, uint32_t type, uint32_t id);

/*
 * Read the next field.  Return 0 and the value, or GW_ERR_PARSE (also
 * when an earlier read on f failed) and leave the output alone.
 * ipc_get_bytes() points *p into the frame's payload (borrowed: valid
 * until ipc_frame_free()).  ipc_get_str() accepts a field of at most
 * max - 1 bytes without a NUL byte and copies it NUL-terminated into
 * the caller's buffer of max bytes.
 */
int ipc_get_u32(struct ipc_frame *f, uint32_t *v);
int ipc_get_u64(struct ipc_frame *f, uint64_t *v);
int ipc_get_bytes(struct ipc_frame *f, const unsigned char **p, size_t *n);
int ipc_get_str(struct ipc_frame *f, char *buf, size_t max);

/*
 * The mandatory end check: 0 when every earlier read succeeded and the
 * whole payload was read; else GW_ERR_PARSE.
 */
int ipc_end(struct ipc_frame *f);

#endif
