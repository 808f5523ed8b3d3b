/* process_json.c - one process_message() run as JSON (process_json.h). */
#include "process_json.h"

#include <stdio.h>
#include <string.h>

#include "addr_rule.h"
#include "harvest.h"
#include "smime_open.h"

/* Length of the UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A JSON string: escapes as RFC 8259 asks; bytes that are not UTF-8
 * (header text can be anything) become U+FFFD. */
static void
jstr(struct gw_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), k;

	gw_buf_adds(b, "\"");
	while (n > 0) {
		if (*p == '"' || *p == '\\') {
			gw_buf_addf(b, "\\%c", *p);
			k = 1;
		} else if (*p < 0x20 || *p == 0x7f) {
			gw_buf_addf(b, "\\u%04x", *p);
			k = 1;
		} else if ((k = utf8_len(p, n)) == 0) {
			gw_buf_adds(b, "\\ufffd");
			k = 1;
		} else {
			gw_buf_add(b, p, k);
		}
		p += k;
		n -= k;
	}
	gw_buf_adds(b, "\"");
}

static void
jkey(struct gw_buf *b, const char *indent, const char *key)
{
	gw_buf_adds(b, indent);
	jstr(b, key);
	gw_buf_adds(b, ": ");
}

static void
json_rcpts(struct gw_buf *b, const struct process_result *res)
{
	const struct process_rcpt *r;
	size_t i;

	gw_buf_adds(b, "  \"recipients\": [");
	for (i = 0; i < res->nrcpts; i++) {
		r = &res->rcpts[i];
		gw_buf_adds(b, i ? ",\n    {" : "\n    {");
		gw_buf_adds(b, "\"address\": ");
		jstr(b, r->address);
		gw_buf_adds(b, ", \"outcome\": ");
		jstr(b, process_outcome_name(r->outcome));
		if (r->copy > 0) {
			char f[32];

			process_json_copy_name(f, sizeof(f),
					       (size_t)r->copy - 1);
			gw_buf_adds(b, ", \"copy\": ");
			jstr(b, f);
		}
		if (r->has_key) {
			gw_buf_adds(b, ", \"key\": ");
			jstr(b, r->match.name);
			gw_buf_adds(b, ", \"key_source\": ");
			jstr(b, r->match.harvested ? "harvested" : "pubkey");
			gw_buf_adds(b, ", \"match\": ");
			jstr(b, addr_rule_match_name(r->match.kind));
		} else if (r->reason[0] != '\0') {
			gw_buf_adds(b, ", \"reason\": ");
			jstr(b, r->reason);
		}
		gw_buf_adds(b, "}");
	}
	gw_buf_adds(b, res->nrcpts ? "\n  ],\n" : "],\n");
}

static void
json_copies(struct gw_buf *b, const struct process_result *res)
{
	const struct process_copy *c;
	size_t i, j, k;
	char f[32];

	gw_buf_adds(b, "  \"copies\": [");
	for (i = 0; i < res->ncopies; i++) {
		c = &res->copies[i];
		process_json_copy_name(f, sizeof(f), i);
		gw_buf_adds(b, i ? ",\n    {" : "\n    {");
		gw_buf_adds(b, "\"file\": ");
		jstr(b, f);
		gw_buf_adds(b, ", \"applied\": ");
		jstr(b, c->applied);
		gw_buf_addf(b, ", \"bytes\": %zu", c->msg.len);
		if (c->nkeys > 0)
			gw_buf_addf(b, ", \"encrypted_to_keys\": %zu", c->nkeys);
		gw_buf_adds(b, ", \"recipients\": [");
		for (j = 0, k = 0; j < res->nrcpts; j++) {
			if (res->rcpts[j].copy != (int)i + 1)
				continue;
			if (k++)
				gw_buf_adds(b, ", ");
			jstr(b, res->rcpts[j].address);
		}
		gw_buf_adds(b, "]}");
	}
	gw_buf_adds(b, res->ncopies ? "\n  ],\n" : "],\n");
}

/* Each layer met, outermost first, with its own result. */
static void
json_layers(struct gw_buf *b, const struct smime_open_result *o)
{
	const struct smime_layer *l;
	int i;

	gw_buf_adds(b, ", \"each\": [");
	for (i = 0; i < o->nlayers; i++) {
		l = &o->layer[i];
		gw_buf_adds(b, i ? ", {\"layer\": " : "{\"layer\": ");
		jstr(b, l->kind);
		gw_buf_adds(b, ", \"result\": ");
		jstr(b, l->result != NULL ? l->result : "none");
		if (l->signer[0] != '\0') {
			gw_buf_adds(b, ", \"signer\": ");
			jstr(b, l->signer);
		}
		if (l->reason[0] != '\0') {
			gw_buf_adds(b, ", \"reason\": ");
			jstr(b, l->reason);
		}
		gw_buf_adds(b, "}");
	}
	gw_buf_adds(b, "]");
}

static void
json_incoming(struct gw_buf *b, const struct process_result *res)
{
	const struct smime_open_result *o = &res->open;
	const struct harvest_outcome *h;
	size_t i;

	gw_buf_addf(b,
		    "  \"flags\": {\"smime-gateway-message\": %s, "
		    "\"smime-gateway-verified\": %s, "
		    "\"unauthenticated-encryption\": %s, "
		    "\"efail-nested-encrypted\": %s, "
		    "\"mime-too-deep\": %s},\n",
		    o->smime ? "true" : "false",
		    o->verified ? "true" : "false",
		    o->unauthenticated ? "true" : "false",
		    o->efail ? "true" : "false",
		    o->mime_too_deep ? "true" : "false");
	gw_buf_adds(b, "  \"smime\": {\"result\": ");
	jstr(b, o->ar);
	gw_buf_adds(b, ", \"layers\": ");
	jstr(b, o->layers);
	gw_buf_addf(b,
		    ", \"decrypted\": %d, \"signatures\": %d, "
		    "\"signatures_failed\": %d",
		    o->decrypted, o->signatures, o->failed_signatures);
	if (o->signer[0] != '\0') {
		gw_buf_adds(b, ", \"signer\": ");
		jstr(b, o->signer);
	}
	if (o->reason[0] != '\0') {
		gw_buf_adds(b, ", \"reason\": ");
		jstr(b, o->reason);
	}
	json_layers(b, o);
	gw_buf_adds(b, "},\n  \"harvested\": [");
	for (i = 0; i < res->harvest.n; i++) {
		h = &res->harvest.o[i];
		gw_buf_adds(b, i ? ",\n    {" : "\n    {");
		gw_buf_adds(b, "\"id\": ");
		jstr(b, h->id);
		gw_buf_adds(b, ", \"address\": ");
		jstr(b, h->address);
		gw_buf_adds(b, ", \"outcome\": ");
		jstr(b, harvest_what_name(h->what));
		if (h->reason[0] != '\0') {
			gw_buf_adds(b, ", \"reason\": ");
			jstr(b, h->reason);
		}
		gw_buf_adds(b, "}");
	}
	gw_buf_adds(b, res->harvest.n ? "\n  ],\n" : "],\n");
	if (res->harvest.evicted > 0)
		gw_buf_addf(b, "  \"harvest_evicted\": %zu,\n",
			    res->harvest.evicted);
}

static void
json_alerts(struct gw_buf *b, const struct process_result *res)
{
	size_t i;

	gw_buf_adds(b, "  \"alerts\": [");
	for (i = 0; i < res->harvest.nalerts; i++) {
		gw_buf_adds(b, i ? ", " : "");
		jstr(b, res->harvest.alerts[i]);
	}
	gw_buf_adds(b, "]");
}

void
process_json_copy_name(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "copy-%zu.eml", i + 1);
}

/* decision: "deliver", "drop", "bounce", or "defer" / "reject" when
 * process_message() failed (then why says why). */
int
process_json(const struct process_req *req, const struct process_result *res,
	     const char *decision, const char *why, struct gw_buf *b)
{
	gw_buf_adds(b, "{\n");
	jkey(b, "  ", "direction");
	jstr(b, req->direction == PROCESS_OUTGOING ? "outgoing" : "incoming");
	gw_buf_adds(b, ",\n");
	jkey(b, "  ", "decision");
	jstr(b, decision);
	gw_buf_adds(b, ",\n");
	jkey(b, "  ", "reason");
	jstr(b, why);
	gw_buf_adds(b, ",\n");
	jkey(b, "  ", "from");
	jstr(b, req->from);
	gw_buf_adds(b, ",\n");
	if (req->direction == PROCESS_OUTGOING) {
		jkey(b, "  ", "profile");
		if (req->profile != NULL)
			jstr(b, req->profile);
		else
			gw_buf_adds(b, "null");
		gw_buf_adds(b, ",\n");
		if (res->profile_mode[0] != '\0') {
			jkey(b, "  ", "mode");
			jstr(b, res->profile_mode);
			gw_buf_adds(b, ",\n");
		}
	}
	json_copies(b, res);
	json_rcpts(b, res);
	if (req->direction == PROCESS_INCOMING && res->open.ar != NULL)
		json_incoming(b, res);
	if (res->harvest_error[0] != '\0') {
		jkey(b, "  ", "harvest_error");
		jstr(b, res->harvest_error);
		gw_buf_adds(b, ",\n");
	}
	json_alerts(b, res);
	return gw_buf_adds(b, "\n}\n");
}
