/* p11_uri.c - RFC 7512 PKCS#11 URI parsing and formatting. */
#include "p11_uri.h"

#include <stdlib.h>
#include <string.h>

#include "gw_err.h"

#define URI_MAX 4096

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes [s, s+len) into a new buffer; *outlen gets the length.
 * The buffer is NUL-terminated for string use. */
static int
pct_decode(const char *attr, size_t alen, const char *s, size_t len,
	   unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t i, n = 0;
	int hi, lo;

	if ((buf = malloc(len + 1)) == NULL)
		return GW_ERR_NOMEM;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			buf[n++] = (unsigned char)s[i];
			continue;
		}
		if (i + 2 >= len) {
			free(buf);
			return gw_err_set(
			    GW_ERR_PARSE,
			    "PKCS#11 URI: %.*s: truncated %%-escape", (int)alen,
			    attr);
		}
		if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0) {
			free(buf);
			return gw_err_set(GW_ERR_PARSE,
					  "PKCS#11 URI: %.*s: bad %%-escape",
					  (int)alen, attr);
		}
		buf[n++] = (unsigned char)(hi << 4 | lo);
		i += 2;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int
set_attr(struct p11_uri *u, const char *name, size_t nlen, const char *val,
	 size_t vlen)
{
	static const char *const refused[] = {
	    "slot-id", "slot-description", "slot-manufacturer",
	    "library-manufacturer", "library-description", "library-version",
	    "module-name", "module-path", "pin-value",
	};
	struct {
		const char *name;
		char **dst;
	} strs[] = {
	    {"token", &u->token},   {"manufacturer", &u->manufacturer},
	    {"model", &u->model},   {"serial", &u->serial},
	    {"object", &u->object}, {"type", &u->type},
	};
	unsigned char *dec = NULL;
	size_t i, declen = 0;
	int rc;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strlen(refused[i]) == nlen &&
		    memcmp(refused[i], name, nlen) == 0)
			return gw_err_set(
			    GW_ERR_UNSUPPORTED,
			    "PKCS#11 URI: attribute '%s' is not supported%s",
			    refused[i],
			    strcmp(refused[i], "pin-value") == 0
				? " (the PIN is read from pin_file)"
				: " (name the token by its label: token=...)");
	if (nlen == 10 && memcmp(name, "pin-source", 10) == 0)
		return 0;
	if ((rc = pct_decode(name, nlen, val, vlen, &dec, &declen)) != 0)
		return rc;
	if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		if (u->id != NULL)
			goto dup;
		u->id = dec;
		u->id_len = declen;
		return 0;
	}
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strlen(strs[i].name) != nlen ||
		    memcmp(strs[i].name, name, nlen) != 0)
			continue;
		if (*strs[i].dst != NULL)
			goto dup;
		if (memchr(dec, '\0', declen) != NULL) {
			free(dec);
			return gw_err_set(GW_ERR_PARSE,
					  "PKCS#11 URI: %s contains a NUL byte",
					  strs[i].name);
		}
		*strs[i].dst = (char *)dec;
		return 0;
	}
	free(dec);
	return gw_err_set(GW_ERR_PARSE, "PKCS#11 URI: unknown attribute '%.*s'",
			  (int)nlen, name);
dup:
	free(dec);
	return gw_err_set(GW_ERR_PARSE, "PKCS#11 URI: attribute '%.*s' repeated",
			  (int)nlen, name);
}

int
p11_uri_parse(const char *s, struct p11_uri **out)
{
	struct p11_uri *u = NULL;
	const char *p, *end, *seg, *eq;
	int rc = GW_ERR_PARSE, in_query = 0;

	*out = NULL;
	if (s == NULL || strncmp(s, "pkcs11:", 7) != 0)
		return gw_err_set(GW_ERR_PARSE,
				  "PKCS#11 URI must start with 'pkcs11:'");
	if (strlen(s) > URI_MAX)
		return gw_err_set(GW_ERR_LIMIT, "PKCS#11 URI longer than %d",
				  URI_MAX);
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return GW_ERR_NOMEM;
	p = s + 7;
	while (*p != '\0') {
		seg = p;
		end = p + strcspn(p, in_query ? "&" : ";?");
		if (end > seg) {
			if ((eq = memchr(seg, '=', (size_t)(end - seg))) ==
			    NULL) {
				rc = gw_err_set(GW_ERR_PARSE,
						"PKCS#11 URI: '%.*s' has no '='",
						(int)(end - seg), seg);
				goto out;
			}
			if ((rc = set_attr(u, seg, (size_t)(eq - seg), eq + 1,
					   (size_t)(end - eq - 1))) != 0)
				goto out;
		}
		if (*end == '?')
			in_query = 1;
		p = *end != '\0' ? end + 1 : end;
	}
	*out = u;
	u = NULL;
	rc = 0;
out:
	p11_uri_free(u);
	return rc;
}

void
p11_uri_free(struct p11_uri *u)
{
	if (u == NULL)
		return;
	free(u->token);
	free(u->manufacturer);
	free(u->model);
	free(u->serial);
	free(u->object);
	free(u->type);
	free(u->id);
	free(u);
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Appends name=value (value percent-encoded) to buf at *pos. */
static void
append_attr(char *buf, size_t *pos, const char *name, const unsigned char *v,
	    size_t vlen, int encode_all)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = *pos;

	if (n > 7)
		buf[n++] = ';';
	memcpy(buf + n, name, strlen(name));
	n += strlen(name);
	buf[n++] = '=';
	for (i = 0; i < vlen; i++) {
		if (!encode_all && unreserved(v[i])) {
			buf[n++] = (char)v[i];
			continue;
		}
		buf[n++] = '%';
		buf[n++] = hex[v[i] >> 4];
		buf[n++] = hex[v[i] & 15];
	}
	buf[n] = '\0';
	*pos = n;
}

char *
p11_uri_format(const char *token, const char *object, const unsigned char *id,
	       size_t id_len, const char *type)
{
	size_t cap = 8, pos = 7;
	char *buf;

	cap += token ? 7 + 3 * strlen(token) : 0;
	cap += object ? 8 + 3 * strlen(object) : 0;
	cap += id_len ? 4 + 3 * id_len : 0;
	cap += type ? 6 + 3 * strlen(type) : 0;
	if ((buf = malloc(cap)) == NULL)
		return NULL;
	memcpy(buf, "pkcs11:", 8);
	if (token)
		append_attr(buf, &pos, "token", (const unsigned char *)token,
			    strlen(token), 0);
	if (object)
		append_attr(buf, &pos, "object", (const unsigned char *)object,
			    strlen(object), 0);
	if (id_len)
		append_attr(buf, &pos, "id", id, id_len, 1);
	if (type)
		append_attr(buf, &pos, "type", (const unsigned char *)type,
			    strlen(type), 0);
	return buf;
}
