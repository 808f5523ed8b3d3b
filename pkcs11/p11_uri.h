/*
 * p11_uri.h - RFC 7512 PKCS#11 URIs, the subset smimegw uses.
 *
 * Path attributes understood: token, manufacturer, model, serial (token
 * selection) and object, id, type (object selection).  Query attribute
 * pin-source is accepted only so that a pasted engine URI does not fail;
 * smimegw always reads the PIN from pin_file.  pin-value is refused (a
 * PIN never lives in a URI), and so are slot-id, module-name and
 * module-path, which libp11 0.4.12 cannot honour: accepting them would
 * select a different token than the operator asked for.
 *
 * p11_uri is a plain value record: every string is NUL-terminated and
 * owned by the record; id is binary with id_len bytes.
 */
#ifndef P11_URI_H
#define P11_URI_H

#include <stddef.h>

struct p11_uri {
	char *token;
	char *manufacturer;
	char *model;
	char *serial;
	char *object;
	char *type;
	unsigned char *id;
	size_t id_len;
};

/* Parses s into a new record (*out, free with p11_uri_free).  Returns
 * GW_ERR_PARSE naming the attribute at fault, GW_ERR_UNSUPPORTED for an
 * attribute smimegw refuses, GW_ERR_NOMEM. */
int p11_uri_parse(const char *s, struct p11_uri **out);
void p11_uri_free(struct p11_uri *uri);

/* Formats "pkcs11:token=..;object=..;id=%..;type=private" with
 * percent-encoding; NULL/0 fields are left out.  Returns a malloc'd
 * string or NULL on allocation failure. */
char *p11_uri_format(const char *token, const char *object,
		     const unsigned char *id, size_t id_len, const char *type);

#endif
