/* smime_from.c - whether a signer covers the From field
 * (smime_from.h). */
#include "smime_from.h"

#include <stdio.h>
#include <string.h>

#include "addr_rule.h"
#include "gw_buf.h"
#include "gw_err.h"
#include "mime_addr.h"

struct cover {
	X509 *cert;
	char *identity;
	size_t idlen;
	unsigned n;
	char missed[MIME_ADDR_LEN + 1];
};

/* 0 when the mailbox is covered, 1 (stop) when it is not. */
static int
cover_one(void *arg, const char *addr)
{
	struct cover *c = arg;
	char id[256];

	if (!addr_rule_covers(c->cert, addr, id, sizeof(id))) {
		gw_str_copy(c->missed, sizeof(c->missed), addr);
		if (c->n == 0)
			gw_str_copy(c->identity, c->idlen, id);
		return 1;
	}
	if (c->n++ == 0)
		gw_str_copy(c->identity, c->idlen, id);
	return 0;
}

int
smime_from_covered(X509 *cert, const struct mime_part *hdr, char *identity,
		   size_t idlen, char *why, size_t whylen)
{
	struct cover c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cert = cert;
	c.identity = identity;
	c.idlen = idlen;
	identity[0] = why[0] = '\0';
	gw_err_clear();
	rc = mime_addr_from_each(hdr, cover_one, &c);
	if (rc == GW_ERR_NOT_FOUND) {
		/* No From field: nothing to bind; the name for the result. */
		addr_rule_covers(cert, "", identity, idlen);
		rc = 0;
	} else if (rc == 1)
		snprintf(why, whylen,
			 "the signer certificate (%s) does not cover the From "
			 "address %s%s",
			 identity, c.missed,
			 c.n > 0 ? " (every From mailbox must be covered)"
				 : "");
	else if (rc != 0) {
		if (identity[0] == '\0')
			addr_rule_covers(cert, "", identity, idlen);
		snprintf(why, whylen,
			 "the From field cannot be bound to the signer "
			 "certificate (%s): %s",
			 identity, gw_err_detail());
	}
	gw_err_clear();
	return rc == 0;
}
