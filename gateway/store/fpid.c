/* fpid.c - fingerprint IDs of stored certificates and their prefixes. */
#include "fpid.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "cert_lean.h"
#include "gw_err.h"

int
fpid_of(X509 *cert, char id[FPID_LEN + 1])
{
	unsigned char md[FPID_LEN / 2];
	unsigned int i;
	int rc;

	id[0] = '\0';
	if ((rc = cert_sha256(cert, md)) != 0)
		return rc;
	for (i = 0; i < sizeof(md); i++)
		snprintf(id + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
fpid_norm(const char *ref, char out[FPID_LEN + 1])
{
	size_t o = 0;
	char c;

	for (; *ref != '\0'; ref++) {
		c = *ref;
		if (c == ':')
			continue;
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) ||
		    o == FPID_LEN)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return o >= FPID_PREFIX_MIN ? 0 : -1;
}

struct find_ctx {
	const char *prefix;
	size_t plen, hits;
	char *id;
};

static int
find_one(void *arg, const void *key, size_t klen, const void *val,
	 size_t vlen)
{
	struct find_ctx *c = arg;

	if (klen != FPID_LEN || memcmp(key, c->prefix, c->plen) != 0)
		return 0;
	if (c->hits++ == 0) {
		memcpy(c->id, key, klen);
		c->id[klen] = '\0';
	}
	return 0;
}

int
fpid_find(struct gw_txn *txn, const char *db, const char *prefix,
	  size_t *hits, char id[FPID_LEN + 1])
{
	struct find_ctx c;
	int rc;

	c.prefix = prefix;
	c.plen = strlen(prefix);
	c.hits = 0;
	c.id = id;
	id[0] = '\0';
	/* Only the keys that start with the prefix: no scan. */
	rc = gw_txn_foreach_prefix(txn, db, prefix, c.plen, find_one, &c);
	*hits = c.hits;
	return rc;
}
