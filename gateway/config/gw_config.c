/* gw_config.c - smimegw.conf parser: a table of typed, bounded keys. */
#include "gw_config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr_rule.h"
#include "gw_err.h"
#include "p11_uri.h"

#define LINE_MAX_BYTES 4096
#define CTL_NAME "smimegwd.sock"

enum cfg_type {
	CFG_PATH,
	CFG_P11URI,
	CFG_SIZE,
	CFG_TOKEN,	/* a word: letters, digits, '.', '-', '_' */
	CFG_ENUM,
	CFG_NAME,	/* an identity's name, or "": none */
	CFG_HOSTPORT,	/* host:port or [v6]:port, or "": none */
	CFG_COUNT,	/* a plain number, min..max; def NULL: cores */
	CFG_DOMAINS,	/* a domain list (addr_rule_domains_valid()) */
	CFG_WORDS,	/* choices, any of them, blank-separated; "" none */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t off;
	const char *def;	/* default as text; NULL: computed */
	uint64_t min, max;	/* CFG_SIZE bounds */
	const char *choices;	/* CFG_ENUM: space-separated */
};

#define OFF(f) offsetof(struct gw_config, f)

static const struct cfg_key keys[] = {
    {"data_dir", CFG_PATH, OFF(data_dir), "/var/lib/smimegw", 0, 0, NULL},
    {"pkcs11_module", CFG_PATH, OFF(pkcs11_module),
     "/usr/lib/softhsm/libsofthsm2.so", 0, 0, NULL},
    {"token", CFG_P11URI, OFF(token), "pkcs11:token=smimegw", 0, 0, NULL},
    {"pin_file", CFG_PATH, OFF(pin_file), "/etc/smimegw/token.pin", 0, 0,
     NULL},
    {"authserv_id", CFG_TOKEN, OFF(authserv_id), NULL, 0, 0, NULL},
    {"store_map_size", CFG_SIZE, OFF(store_map_size), "1G",
     (uint64_t)16 << 20, (uint64_t)1 << 40, NULL},
    {"store_import_batch", CFG_SIZE, OFF(store_import_batch), "64M",
     (uint64_t)64 << 10, (uint64_t)1 << 30, NULL},
    {"harvest_max_size", CFG_SIZE, OFF(harvest_max_size), "512M",
     (uint64_t)1 << 20, (uint64_t)1 << 40, NULL},
    {"log_level", CFG_ENUM, OFF(log_level), "info", 0, 0,
     "error warning info debug"},
    {"decrypt_catch_all", CFG_NAME, OFF(decrypt_catch_all), "", 0, 0, NULL},
    {"address_local_part", CFG_ENUM, OFF(address_local_part), "insensitive",
     0, 0, "insensitive exact"},
    {"cert_requirements", CFG_ENUM, OFF(cert_requirements), "standard", 0, 0,
     "standard strict"},
    {"listener_outgoing", CFG_HOSTPORT, OFF(listener_outgoing), "", 0, 0,
     NULL},
    {"listener_outgoing_proto", CFG_ENUM, OFF(listener_outgoing_proto),
     "lmtp", 0, 0, "lmtp smtp"},
    {"listener_outgoing_next_hop", CFG_HOSTPORT,
     OFF(listener_outgoing_next_hop), "", 0, 0, NULL},
    {"listener_outgoing_profile", CFG_NAME, OFF(listener_outgoing_profile),
     "", 0, 0, NULL},
    {"listener_incoming", CFG_HOSTPORT, OFF(listener_incoming), "", 0, 0,
     NULL},
    {"listener_incoming_proto", CFG_ENUM, OFF(listener_incoming_proto),
     "lmtp", 0, 0, "lmtp smtp"},
    {"listener_incoming_next_hop", CFG_HOSTPORT,
     OFF(listener_incoming_next_hop), "", 0, 0, NULL},
    {"listener_outgoing_direction", CFG_ENUM,
     OFF(listener_outgoing_direction), "outgoing", 0, 0, "outgoing auto"},
    {"listener_incoming_direction", CFG_ENUM,
     OFF(listener_incoming_direction), "incoming", 0, 0, "incoming auto"},
    {"internal_domains", CFG_DOMAINS, OFF(internal_domains), "", 0, 0, NULL},
    {"incoming_decrypt", CFG_ENUM, OFF(incoming_decrypt), "yes", 0, 0,
     "yes no"},
    {"incoming_signature", CFG_ENUM, OFF(incoming_signature), "retain", 0, 0,
     "retain remove"},
    {"incoming_harvest", CFG_ENUM, OFF(incoming_harvest), "no", 0, 0,
     "no yes"},
    {"incoming_harvest_options", CFG_WORDS, OFF(incoming_harvest_options), "",
     0, 0, "on-failure updates expired self-signed"},
    {"incoming_system_trust", CFG_ENUM, OFF(incoming_system_trust), "no", 0,
     0, "no yes"},
    {"workers", CFG_COUNT, OFF(workers), NULL, 1, 64, NULL},
    /* At most what the pipeline takes in (SMIME_MSG_MAX, smime.h). */
    {"message_size_limit", CFG_SIZE, OFF(message_size_limit), "50M",
     (uint64_t)64 << 10, (uint64_t)64 << 20, NULL},
    {"recipient_limit", CFG_COUNT, OFF(recipient_limit), "1000", 1, 1000,
     NULL},
    {"spool_memory_limit", CFG_SIZE, OFF(spool_memory_limit), "1M",
     (uint64_t)64 << 10, (uint64_t)1 << 30, NULL},
    {"smtp_timeout", CFG_COUNT, OFF(smtp_timeout), "300", 5, 3600, NULL},
    {"journal_map_size", CFG_SIZE, OFF(journal_map_size), "1G",
     (uint64_t)16 << 20, (uint64_t)1 << 40, NULL},
    {"user", CFG_NAME, OFF(user), "", 0, 0, NULL},
    {"keyd_user", CFG_NAME, OFF(keyd_user), "", 0, 0, NULL},
    {"control_socket", CFG_PATH, OFF(control_socket), NULL, 0, 0, NULL},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const char *
gw_config_path(const char *opt_c)
{
	const char *env;

	if (opt_c != NULL)
		return opt_c;
	if ((env = getenv("SMIMEGW_CONF")) != NULL && *env != '\0')
		return env;
	return SMIMEGW_DEFAULT_CONF;
}

static char **
str_field(struct gw_config *c, const struct cfg_key *k)
{
	return (char **)((char *)c + k->off);
}

static int
parse_size(const char *v, uint64_t *out)
{
	char *end;
	unsigned long long n;
	uint64_t mul = 1;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k': mul = 1024; end++; break;
	case 'M': case 'm': mul = (uint64_t)1 << 20; end++; break;
	case 'G': case 'g': mul = (uint64_t)1 << 30; end++; break;
	case 'T': case 't': mul = (uint64_t)1 << 40; end++; break;
	default:
		return -1;
	}
	if (*end != '\0' || n > UINT64_MAX / mul)
		return -1;
	*out = (uint64_t)n * mul;
	return 0;
}

/* Joins dir and a relative path; absolute paths are copied. */
static char *
resolve_path(const char *base_dir, const char *v)
{
	size_t len;
	char *p;

	if (v[0] == '/' || base_dir == NULL)
		return strdup(v);
	len = strlen(base_dir) + 1 + strlen(v) + 1;
	if ((p = malloc(len)) == NULL)
		return NULL;
	snprintf(p, len, "%s/%s", base_dir, v);
	return p;
}

/* 1 when the n bytes at w are one of the blank-separated choices. */
static int
is_choice(const char *choices, const char *w, size_t n)
{
	const char *p;
	size_t l;

	for (p = choices; *p; p += l + (p[l] == ' ')) {
		l = strcspn(p, " ");
		if (l == n && n > 0 && strncmp(p, w, n) == 0)
			return 1;
	}
	return 0;
}

/* CFG_WORDS: each blank-separated word one of the choices, once. */
static int
check_words(const struct cfg_key *k, const char *v, const char *where)
{
	const char *p, *q;
	size_t n;

	for (p = v; *(p += strspn(p, " \t")) != '\0'; p += n) {
		n = strcspn(p, " \t");
		if (!is_choice(k->choices, p, n))
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: '%.*s' is not one of: %s",
					  where, k->name, (int)(n > 80 ? 80 : n),
					  p, k->choices);
		for (q = v; q < p; q++)
			if ((q == v || q[-1] == ' ' || q[-1] == '\t') &&
			    strncmp(q, p, n) == 0 &&
			    (q[n] == ' ' || q[n] == '\t'))
				return gw_err_set(GW_ERR_CONFIG,
						  "%s: %s: '%.*s' given twice",
						  where, k->name, (int)n, p);
	}
	return 0;
}

/* Sets one key from its text value; where is "FILE:LINE" or "default". */
static int
set_key(struct gw_config *c, const struct cfg_key *k, const char *v,
	const char *base_dir, const char *where)
{
	struct p11_uri *uri = NULL;
	const char *p;
	char **dst;
	uint64_t n;
	size_t wl;
	int rc;

	switch (k->type) {
	case CFG_PATH:
		if (*v == '\0')
			return gw_err_set(GW_ERR_CONFIG, "%s: %s: empty path",
					  where, k->name);
		dst = str_field(c, k);
		free(*dst);
		if ((*dst = resolve_path(base_dir, v)) == NULL)
			return GW_ERR_NOMEM;
		return 0;
	case CFG_P11URI:
		if ((rc = p11_uri_parse(v, &uri)) != 0) {
			/* Re-latch with the location first. */
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", gw_err_detail());
			gw_err_clear();
			return gw_err_set(GW_ERR_CONFIG, "%s: %s: %s", where,
					  k->name, msg);
		}
		rc = uri->object != NULL || uri->id != NULL;
		p11_uri_free(uri);
		if (rc)
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: must select a token, not an "
					  "object (drop object= and id=)",
					  where, k->name);
		break;
	case CFG_SIZE:
		if (parse_size(v, &n) != 0)
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: '%s' is not a size (a "
					  "number with an optional K, M, G or "
					  "T suffix)",
					  where, k->name, v);
		if (n < k->min || n > k->max)
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: %s is out of range "
					  "(%llu..%llu bytes)",
					  where, k->name, v,
					  (unsigned long long)k->min,
					  (unsigned long long)k->max);
		*(uint64_t *)((char *)c + k->off) = n;
		return 0;
	case CFG_COUNT:
		for (p = v; isdigit((unsigned char)*p); p++)
			;
		errno = 0;
		n = strtoull(v, NULL, 10);
		if (*v == '\0' || *p != '\0' || p - v > 10 || n < k->min ||
		    n > k->max)
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: '%s' is not a number in "
					  "%llu..%llu",
					  where, k->name, v,
					  (unsigned long long)k->min,
					  (unsigned long long)k->max);
		*(uint64_t *)((char *)c + k->off) = n;
		return 0;
	case CFG_HOSTPORT:
		if (*v != '\0') {
			char host[256];
			unsigned port;

			if (gw_config_hostport(v, host, sizeof(host),
					       &port) != 0) {
				gw_err_clear();
				return gw_err_set(GW_ERR_CONFIG,
						  "%s: %s: '%.80s' is not "
						  "host:port (or [IPv6]:port, "
						  "port 1-65535)",
						  where, k->name, v);
			}
		}
		break;
	case CFG_TOKEN:
		if (*v == '\0' || strlen(v) > 255)
			goto badword;
		for (p = v; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_')
				goto badword;
		break;
	case CFG_NAME:
		if (*v == '\0')
			break;
		if (strlen(v) > 64 || !isalnum((unsigned char)*v))
			goto badname;
		for (p = v; *p; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-' && *p != '_')
				goto badname;
		break;
	case CFG_DOMAINS: {
		char why[256];

		if (addr_rule_domains_valid(v, why, sizeof(why)) != 0)
			return gw_err_set(GW_ERR_CONFIG, "%s: %s: %s", where,
					  k->name, why);
		break;
	}
	case CFG_WORDS:
		if ((rc = check_words(k, v, where)) != 0)
			return rc;
		break;
	case CFG_ENUM:
		wl = strlen(v);
		for (p = k->choices; *p;) {
			size_t l = strcspn(p, " ");
			if (l == wl && l > 0 && strncmp(p, v, l) == 0)
				break;
			p += l;
			p += *p == ' ';
		}
		if (*p == '\0')
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: '%s' is not one of: %s",
					  where, k->name, v, k->choices);
		break;
	}
	dst = str_field(c, k);
	free(*dst);
	if ((*dst = strdup(v)) == NULL)
		return GW_ERR_NOMEM;
	return 0;
badword:
	return gw_err_set(GW_ERR_CONFIG,
			  "%s: %s: '%s' must be a non-empty word of letters, "
			  "digits, '.', '-' and '_'",
			  where, k->name, v);
badname:
	return gw_err_set(GW_ERR_CONFIG,
			  "%s: %s: '%.80s' is not an identity name (1-64 "
			  "letters, digits, '.', '_' or '-', starting with a "
			  "letter or digit)",
			  where, k->name, v);
}

/* Splits "key = value" in place; handles quoting.  NULL key: blank. */
static int
split_line(char *line, char **key, char **val, const char *where)
{
	char *p = line, *e, *o;

	*key = *val = NULL;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	while (*p && *p != '=' && !isspace((unsigned char)*p))
		p++;
	e = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '=')
		return gw_err_set(GW_ERR_CONFIG, "%s: expected 'key = value'",
				  where);
	*e = '\0';
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '"') {
		*val = o = ++p;
		for (; *p && *p != '"'; p++) {
			if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			*o++ = *p;
		}
		if (*p != '"')
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: unterminated quote", where,
					  *key);
		p++;
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '\0' && *p != '#')
			return gw_err_set(GW_ERR_CONFIG,
					  "%s: %s: text after the closing quote",
					  where, *key);
		*o = '\0';
		return 0;
	}
	*val = p;
	e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	return 0;
}

/* Reads one line, its "\n" included, into buf (at most cap - 1 bytes,
 * then a NUL).  Unlike fgets() it returns the byte count, so that a NUL
 * byte inside the line is seen.  0: end of file or read error. */
static size_t
read_line(FILE *fp, char *buf, size_t cap)
{
	size_t n = 0;
	int ch;

	while (n + 1 < cap && (ch = getc(fp)) != EOF) {
		buf[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	buf[n] = '\0';
	return n;
}

static int
apply_defaults(struct gw_config *c)
{
	char host[256];
	size_t i;
	int rc;

	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == CFG_COUNT) {
			uint64_t *n = (uint64_t *)((char *)c + keys[i].off);
			long cores;

			if (*n != 0)
				continue;
			if (keys[i].def != NULL) {
				if ((rc = set_key(c, &keys[i], keys[i].def,
						  NULL, "default")) != 0)
					return rc;
				continue;
			}
			/* workers: the cores online, within its bounds. */
			cores = sysconf(_SC_NPROCESSORS_ONLN);
			*n = cores < (long)keys[i].min ? keys[i].min
			     : (uint64_t)cores > keys[i].max ? keys[i].max
			     : (uint64_t)cores;
			continue;
		}
		if (keys[i].type == CFG_SIZE) {
			if (*(uint64_t *)((char *)c + keys[i].off) == 0 &&
			    (rc = set_key(c, &keys[i], keys[i].def, NULL,
					  "default")) != 0)
				return rc;
			continue;
		}
		if (*str_field(c, &keys[i]) != NULL)
			continue;
		if (keys[i].def != NULL) {
			if ((rc = set_key(c, &keys[i], keys[i].def, NULL,
					  "default")) != 0)
				return rc;
			continue;
		}
		/* control_socket: in data_dir. */
		if (keys[i].off == OFF(control_socket)) {
			size_t n = strlen(c->data_dir) + sizeof(CTL_NAME) + 1;

			if ((*str_field(c, &keys[i]) = malloc(n)) == NULL)
				return GW_ERR_NOMEM;
			snprintf(*str_field(c, &keys[i]), n, "%s/%s",
				 c->data_dir, CTL_NAME);
			continue;
		}
		/* authserv_id: the host name. */
		if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		if ((*str_field(c, &keys[i]) = strdup(host)) == NULL)
			return GW_ERR_NOMEM;
	}
	return 0;
}

int
gw_config_load(const char *path, struct gw_config **out)
{
	struct gw_config *c = NULL;
	FILE *fp = NULL;
	char line[LINE_MAX_BYTES + 2], where[PATH_MAX + 32];
	char *key, *val, *base = NULL, *slash, seen[NKEYS] = {0};
	unsigned lineno = 0;
	size_t i, len;
	int rc;

	*out = NULL;
	if ((fp = fopen(path, "re")) == NULL)
		return gw_err_set(GW_ERR_IO, "cannot read %s: %s", path,
				  strerror(errno));
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(path)) == NULL ||
	    (base = strdup(path)) == NULL) {
		rc = GW_ERR_NOMEM;
		goto out;
	}
	if ((slash = strrchr(base, '/')) != NULL)
		*(slash == base ? slash + 1 : slash) = '\0';
	else {
		free(base);
		base = NULL; /* relative to the working directory */
	}
	while ((len = read_line(fp, line, sizeof(line))) > 0) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		/* The limit is on the text; the newline does not count. */
		if (len - (line[len - 1] == '\n') > LINE_MAX_BYTES) {
			rc = gw_err_set(GW_ERR_CONFIG,
					"%s: line longer than %d bytes", where,
					LINE_MAX_BYTES);
			goto out;
		}
		if (memchr(line, '\0', len) != NULL) {
			rc = gw_err_set(GW_ERR_CONFIG, "%s: NUL byte", where);
			goto out;
		}
		if ((rc = split_line(line, &key, &val, where)) != 0)
			goto out;
		if (key == NULL)
			continue;
		for (i = 0; i < NKEYS; i++)
			if (strcmp(keys[i].name, key) == 0)
				break;
		if (i == NKEYS) {
			rc = gw_err_set(GW_ERR_CONFIG, "%s: unknown key '%s'",
					where, key);
			goto out;
		}
		if (seen[i]) {
			rc = gw_err_set(GW_ERR_CONFIG,
					"%s: %s: set more than once", where,
					key);
			goto out;
		}
		seen[i] = 1;
		if ((rc = set_key(c, &keys[i], val, base, where)) != 0)
			goto out;
	}
	if (ferror(fp)) {
		rc = gw_err_set(GW_ERR_IO, "%s: read error", path);
		goto out;
	}
	if ((rc = apply_defaults(c)) != 0)
		goto out;
	*out = c;
	c = NULL;
out:
	free(base);
	if (fp != NULL)
		fclose(fp);
	gw_config_free(c);
	return rc;
}

void
gw_config_free(struct gw_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++)
		if (keys[i].type != CFG_SIZE && keys[i].type != CFG_COUNT)
			free(*str_field(c, &keys[i]));
	free(c->path);
	free(c);
}

int
gw_config_check_listeners(const struct gw_config *cfg)
{
	if (*cfg->listener_outgoing && !*cfg->listener_outgoing_next_hop)
		return gw_err_set_at(GW_ERR_CONFIG,
				     "listener_outgoing_next_hop",
				     "%s: listener_outgoing needs "
				     "listener_outgoing_next_hop", cfg->path);
	if (*cfg->listener_incoming && !*cfg->listener_incoming_next_hop)
		return gw_err_set_at(GW_ERR_CONFIG,
				     "listener_incoming_next_hop",
				     "%s: listener_incoming needs "
				     "listener_incoming_next_hop", cfg->path);
	if (*cfg->internal_domains == '\0' &&
	    ((*cfg->listener_outgoing &&
	      strcmp(cfg->listener_outgoing_direction, "auto") == 0) ||
	     (*cfg->listener_incoming &&
	      strcmp(cfg->listener_incoming_direction, "auto") == 0)))
		return gw_err_set_at(GW_ERR_CONFIG, "internal_domains",
				     "%s: a listener with direction auto "
				     "needs internal_domains", cfg->path);
	return 0;
}

int
gw_config_hostport(const char *v, char *host, size_t hostlen,
		   unsigned *port)
{
	const char *colon, *h = v, *he, *p;
	unsigned long n;
	char *end;

	if (*v == '[') {
		h = v + 1;
		if ((he = strchr(h, ']')) == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		if ((colon = strrchr(v, ':')) == NULL)
			goto bad;
		he = colon;
		if (memchr(v, ':', (size_t)(colon - v)) != NULL)
			goto bad; /* an IPv6 address needs brackets */
	}
	if (he == h || (size_t)(he - h) >= hostlen)
		goto bad;
	for (p = h; p < he; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    !(*p == ':' && *v == '['))
			goto bad;
	if (!isdigit((unsigned char)colon[1]))
		goto bad;
	errno = 0;
	n = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || n == 0 || n > 65535)
		goto bad;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = (unsigned)n;
	return 0;
bad:
	return gw_err_set(GW_ERR_CONFIG, "'%.80s' is not host:port", v);
}

/* key = "value", escaping '"' and '\\' so that the value reads back. */
static void
print_quoted(FILE *fp, const char *name, const char *v)
{
	fprintf(fp, "%s = \"", name);
	for (; *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			fputc('\\', fp);
		fputc(*v, fp);
	}
	fputs("\"\n", fp);
}

void
gw_config_print(FILE *fp, const struct gw_config *c)
{
	size_t i;

	fprintf(fp, "# effective configuration of %s\n", c->path);
	for (i = 0; i < NKEYS; i++) {
		if (keys[i].type == CFG_SIZE || keys[i].type == CFG_COUNT)
			fprintf(fp, "%s = %llu\n", keys[i].name,
				(unsigned long long)*(const uint64_t *)((
				    const char *)c + keys[i].off));
		else
			print_quoted(fp, keys[i].name,
				     *(char *const *)((const char *)c +
						      keys[i].off));
	}
}
