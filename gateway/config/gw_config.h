/*
 * gw_config.h - smimegw.conf, a typed and bounded table.
 *
 * Syntax: one "key = value" per line; '#' starts a comment line; blank
 * lines are ignored; a value may be double-quoted (then \" and \\ are
 * its only escapes).  Unknown keys, repeated keys and bad values are
 * errors reported as "FILE:LINE: key: reason".  Relative paths are taken
 * relative to the directory holding the configuration file.
 *
 * The file is found in this order: the -c option, $SMIMEGW_CONF, then
 * the compiled-in default (/etc/smimegw/smimegw.conf).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdint.h>
#include <stdio.h>

struct gw_config {
	char *path;		/* the file this came from */
	char *data_dir;		/* LMDB stores and spool */
	char *pkcs11_module;	/* path of the PKCS#11 module */
	char *token;		/* RFC 7512 URI selecting the token */
	char *pin_file;		/* token user PIN, mode 0600/0400 */
	char *authserv_id;	/* Authentication-Results authserv-id */
	uint64_t store_map_size; /* LMDB map size, bytes */
	uint64_t store_import_batch; /* bytes per commit of an import */
	uint64_t harvest_max_size; /* harvested keys' bound, bytes */
	char *log_level;	/* error, warning, info, debug */
	char *decrypt_catch_all; /* identity that decrypts for anyone; "" */
	char *address_local_part; /* insensitive, exact */
	char *cert_requirements; /* standard, strict */
	/* smimegwd (smimegwd(8)): two listeners, "" when off */
	char *listener_outgoing;	/* address:port */
	char *listener_outgoing_proto;	/* lmtp, smtp */
	char *listener_outgoing_next_hop; /* host:port */
	char *listener_outgoing_profile; /* sending profile, "": none */
	char *listener_incoming;
	char *listener_incoming_proto;
	char *listener_incoming_next_hop;
	/* which treatment (smimegwd(8), treatment.h) */
	char *listener_outgoing_direction; /* outgoing, auto */
	char *listener_incoming_direction; /* incoming, auto */
	char *internal_domains;		/* "example.com .example.org" */
	char *incoming_decrypt;		/* yes, no: decrypt and verify */
	char *incoming_signature;	/* retain, remove */
	char *incoming_harvest;		/* no, yes */
	char *incoming_harvest_options;	/* on-failure updates expired
					 * self-signed, any of them */
	char *incoming_system_trust;	/* no, yes */
	uint64_t workers;		/* worker processes; default cores */
	uint64_t message_size_limit;	/* bytes */
	uint64_t recipient_limit;	/* per transaction */
	uint64_t spool_memory_limit;	/* in memory up to this, then a file */
	uint64_t smtp_timeout;		/* seconds, both directions */
	uint64_t journal_map_size;	/* the delivery journal's LMDB map */
	char *user;		/* workers' user when started as root; "" */
	char *keyd_user;	/* smimegw-keyd's user when root; "" */
	char *control_socket;	/* smimegwd's; default data_dir/smimegwd.sock */
};

/* Which file to read given the -c argument (may be NULL). */
const char *gw_config_path(const char *opt_c);

/* Reads and validates path.  Returns 0 and *out (free with
 * gw_config_free), GW_ERR_CONFIG with "FILE:LINE: ..." detail, GW_ERR_IO
 * when the file cannot be read, GW_ERR_NOMEM. */
int gw_config_load(const char *path, struct gw_config **out);
void gw_config_free(struct gw_config *cfg);

/*
 * Splits "host:port" or "[v6addr]:port" (a listener or next hop, as
 * gw_config_load() checked it) into host (without brackets) and port.
 * GW_ERR_CONFIG for anything else.
 */
/*
 * The rules between smimegwd's listener keys (a listener needs its next
 * hop; direction auto needs internal_domains), for smimegwd's start and
 * "smimegw config check".
 */
int gw_config_check_listeners(const struct gw_config *cfg);
int gw_config_hostport(const char *v, char *host, size_t hostlen,
		       unsigned *port);

/* Writes every key with its effective value, as a valid config file. */
void gw_config_print(FILE *fp, const struct gw_config *cfg);

#endif
