/* smime_entity.c - outer headers, and the canonical protected entity
 * (smime_entity.h). */
#include "smime_entity.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_err.h"
#include "mime_codec.h"
#include "mime_header.h"

#define LINE_MAX_7BIT 998

int
smime_is_our_result(const struct mime_header *h, const char *id)
{
	const char *name = mime_header_name(h), *value;

	if (id == NULL)
		return 0;
	/* Ours alone: whatever one that arrives says, it is not ours. */
	if (mime_header_name_is(name, "X-SMIME-Gateway"))
		return 1;
	/* The whole value: a NUL inside it ends no string here. */
	return mime_header_name_is(name, "Authentication-Results") &&
	       (value = mime_header_value(h)) != NULL &&
	       mime_header_authserv_is(value, mime_header_value_len(h), id);
}

static int
add_field(struct gw_buf *out, const unsigned char *msg,
	  const struct mime_header *h)
{
	return mime_header_add_field(out, msg + mime_header_offset(h),
				     mime_header_length(h), 1);
}

int
smime_outer_headers(const unsigned char *msg, const struct mime_part *root,
		    const char *authserv_id, struct gw_buf *out)
{
	const struct mime_header *h;
	const char *name;
	size_t i;
	int rc;

	for (i = 0; i < mime_part_header_count(root); i++) {
		h = mime_part_header_at(root, i);
		name = mime_header_name(h);
		if (mime_header_is_content(name) ||
		    strcasecmp(name, "MIME-Version") == 0)
			continue;
		if (smime_is_our_result(h, authserv_id))
			continue;
		if ((rc = add_field(out, msg, h)) != 0)
			return rc;
	}
	return 0;
}

/* ---- the entity ------------------------------------------------------ */

static int
is_text(const struct mime_part *p)
{
	return strncmp(mime_part_content_type(p), "text/", 5) == 0;
}

/* Whether a leaf's body must be re-encoded to be 7-bit safe. */
static int
needs_7bit(const struct mime_part *p, const unsigned char *b, size_t n)
{
	const char *cte = mime_part_cte(p);
	size_t i, col = 0;

	if (strcmp(cte, "base64") == 0 || strcmp(cte, "quoted-printable") == 0)
		return 0;
	if (strcmp(cte, "8bit") == 0 || strcmp(cte, "binary") == 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (b[i] >= 0x80 || b[i] == 0)
			return 1;
		if (b[i] == '\r' && (i + 1 == n || b[i + 1] != '\n'))
			return 1;
		if (b[i] == '\n')
			col = 0;
		else if (++col > LINE_MAX_7BIT)
			return 1;
	}
	return 0;
}

/* Appends the part's header fields, without Content-Transfer-Encoding
 * when cte is set (then a new one with that value is appended), and for
 * the root only its Content-* fields. */
static int
add_part_headers(struct gw_buf *out, const unsigned char *msg,
		 const struct mime_part *p, int is_root, const char *cte,
		 int default_ct)
{
	const struct mime_header *h;
	const char *name;
	size_t i;
	int rc, have_ct = 0;

	for (i = 0; i < mime_part_header_count(p); i++) {
		h = mime_part_header_at(p, i);
		name = mime_header_name(h);
		if (is_root && !mime_header_is_content(name))
			continue;
		if (strcasecmp(name, "Content-Type") == 0)
			have_ct = 1;
		if (cte != NULL &&
		    strcasecmp(name, "Content-Transfer-Encoding") == 0)
			continue;
		if ((rc = add_field(out, msg, h)) != 0)
			return rc;
	}
	/* An entity without Content-Type is text/plain; say so. */
	if (is_root && !have_ct && default_ct &&
	    (rc = gw_buf_adds(out, "Content-Type: text/plain; "
				   "charset=us-ascii\r\n")) != 0)
		return rc;
	if (cte != NULL &&
	    (rc = gw_buf_addf(out, "Content-Transfer-Encoding: %s\r\n", cte)) !=
		0)
		return rc;
	return 0;
}

static int
add_encoded(struct gw_buf *out, const unsigned char *b, size_t n, int qp)
{
	unsigned char *dst;
	size_t max, len;
	int rc;

	max = qp ? mime_qp_encoded_max(n) : mime_base64_encoded_max(n);
	if ((rc = gw_buf_reserve(out, max, &dst)) != 0)
		return rc;
	rc = qp ? mime_qp_encode(b, n, 0, dst, max, &len)
		: mime_base64_encode(b, n, dst, max, &len);
	if (rc != 0)
		return rc;
	/* The base64 encoder ends every line, the last too, with CRLF; the
	 * delimiter brings its own.  Quoted-printable ends with CRLF only
	 * when the text did: that one is content. */
	if (!qp && len >= 2 && dst[len - 2] == '\r' && dst[len - 1] == '\n')
		len -= 2;
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}

static int add_part(struct gw_buf *out, const unsigned char *msg,
		    const struct mime_part *p, int is_root, unsigned flags);

static int
add_multipart(struct gw_buf *out, const unsigned char *msg,
	      const struct mime_part *p, unsigned flags)
{
	struct mime_range pre = mime_part_preamble(p);
	struct mime_range epi = mime_part_epilogue(p);
	const char *bnd = mime_part_boundary(p);
	size_t i;
	int rc, sign = flags & SMIME_ENT_SIGN;

	if (!sign && pre.end > pre.start) {
		if ((rc = mime_header_add_crlf(out, msg + pre.start,
					 pre.end - pre.start)) != 0 ||
		    (rc = gw_buf_adds(out, "\r\n")) != 0)
			return rc;
	}
	for (i = 0; i < mime_part_child_count(p); i++) {
		if ((rc = gw_buf_addf(out, "%s--%s\r\n", i ? "\r\n" : "",
				      bnd)) != 0 ||
		    (rc = add_part(out, msg, mime_part_child(p, i), 0, flags)) !=
			0)
			return rc;
	}
	if ((rc = gw_buf_addf(out, "%s--%s--\r\n",
			      mime_part_child_count(p) ? "\r\n" : "", bnd)) != 0)
		return rc;
	if (!sign && epi.end > epi.start)
		return mime_header_add_crlf(out, msg + epi.start, epi.end - epi.start);
	return 0;
}

static int
add_part(struct gw_buf *out, const unsigned char *msg,
	 const struct mime_part *p, int is_root, unsigned flags)
{
	struct mime_range body = mime_part_body_range(p);
	const unsigned char *b = msg + body.start;
	size_t n = body.end - body.start;
	const char *cte = mime_part_cte(p), *newcte = NULL;
	int rc, sign = flags & SMIME_ENT_SIGN;
	int eightbit = strcmp(cte, "8bit") == 0 || strcmp(cte, "binary") == 0;

	switch (mime_part_kind(p)) {
	case MIME_KIND_MULTIPART:
	case MIME_KIND_MESSAGE:
		/* Composite: only 7bit is 7-bit safe once the inside is. */
		if (sign && eightbit)
			newcte = "7bit";
		if ((rc = add_part_headers(out, msg, p, is_root, newcte, 1)) != 0 ||
		    (rc = gw_buf_adds(out, "\r\n")) != 0)
			return rc;
		if (mime_part_kind(p) == MIME_KIND_MESSAGE)
			return add_part(out, msg, mime_part_child(p, 0), 0,
					flags);
		return add_multipart(out, msg, p, flags);
	default:
		break;
	}
	if (sign && needs_7bit(p, b, n)) {
		newcte = is_text(p) ? "quoted-printable" : "base64";
		if ((rc = add_part_headers(out, msg, p, is_root, newcte, 1)) != 0 ||
		    (rc = gw_buf_adds(out, "\r\n")) != 0)
			return rc;
		return add_encoded(out, b, n, is_text(p));
	}
	if ((rc = add_part_headers(out, msg, p, is_root, NULL, 1)) != 0 ||
	    (rc = gw_buf_adds(out, "\r\n")) != 0)
		return rc;
	return mime_header_add_crlf(out, b, n);
}

int
smime_entity(const unsigned char *msg, const struct mime_part *root,
	     unsigned flags, struct gw_buf *out)
{
	return add_part(out, msg, root, 1, flags);
}

int
smime_entity_head(const unsigned char *msg, const struct mime_part *root,
		  struct gw_buf *out)
{
	int rc;

	if ((rc = add_part_headers(out, msg, root, 1, NULL, 0)) != 0)
		return rc;
	return gw_buf_adds(out, "\r\n");
}

int
smime_entity_plain(const unsigned char *msg, size_t len,
		   const struct mime_part *root, struct gw_buf *out)
{
	size_t start = mime_part_body_range(root).start;
	int rc;

	if ((rc = smime_entity_head(msg, root, out)) != 0)
		return rc;
	return start < len ? mime_header_add_crlf(out, msg + start, len - start) : 0;
}
