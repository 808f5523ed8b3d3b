/*
 * test_config.c - table tests for gateway/gw_config.c and gw_err.c.
 *
 * Every case writes its text (which may hold NUL bytes) to smimegw.conf
 * in a fresh mkdtemp directory, loads it and asserts either the value of
 * named keys or the return code and the exact latched detail.  In the
 * expected strings "%F" stands for the config file's path, "%D" for its
 * directory and "%H" for the host name (the authserv_id default).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit_util.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "gw_config.h"
#include "gw_err.h"

#define LINE_MAX_BYTES 4096 /* gw_config.c's ceiling */

/* A literal with its length, so that texts may hold NUL bytes. */
#define T(s) .text = (s), .len = sizeof(s) - 1

#define NOT_A_SIZE                                                      \
	"is not a size (a number with an optional K, M, G or T suffix)"
#define SIZE_RANGE "is out of range (16777216..1099511627776 bytes)"
#define NOT_A_WORD                                                      \
	"must be a non-empty word of letters, digits, '.', '-' and '_'"
#define LOG_CHOICES "is not one of: error warning info debug"
#define P11_NOT_SUPP "is not supported (name the token by its label: token=...)"
#define P11_NOT_OBJ                                                     \
	"token: must select a token, not an object (drop object= and id=)"

/* 256 word characters: one more than an authserv_id may have. */
#define W64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
#define W256 W64 W64 W64 W64

struct kv {
	const char *key;
	const char *val; /* with %F %D %H placeholders */
};

/* A generated first part of the file: a comment line of n bytes. */
struct gen {
	size_t n;	/* 0: none */
	int newline;	/* end it with "\n" */
};

struct cfg_case {
	const char *name;
	const char *text;
	size_t len;
	struct gen gen;
	int rc;
	const char *detail; /* exact, with placeholders; rc != 0 only */
	struct kv want[8];  /* rc == 0: fields checked */
};

static const struct cfg_case cases[] = {
	/* Defaults and syntax that is accepted */
	{.name = "empty file gives every default",
	 T(""),
	 .want = {{"data_dir", "/var/lib/smimegw"},
		  {"pkcs11_module", "/usr/lib/softhsm/libsofthsm2.so"},
		  {"token", "pkcs11:token=smimegw"},
		  {"pin_file", "/etc/smimegw/token.pin"},
		  {"authserv_id", "%H"},
		  {"store_map_size", "1073741824"},
		  {"log_level", "info"},
		  {"path", "%F"}}},
	{.name = "harvest_max_size: 512M by default",
	 T(""),
	 .want = {{"harvest_max_size", "536870912"}}},
	{.name = "store_import_batch: 64M by default",
	 T(""),
	 .want = {{"store_import_batch", "67108864"}}},
	{.name = "store_import_batch: set",
	 T("store_import_batch = 256K\n"),
	 .want = {{"store_import_batch", "262144"}}},
	{.name = "smimegwd: no listener, limits and timeout by default",
	 T(""),
	 .want = {{"listener_outgoing", ""},
		  {"listener_incoming", ""},
		  {"listener_outgoing_proto", "lmtp"},
		  {"listener_incoming_proto", "lmtp"},
		  {"message_size_limit", "52428800"},
		  {"recipient_limit", "1000"},
		  {"spool_memory_limit", "1048576"},
		  {"smtp_timeout", "300"}}},
	{.name = "smimegwd: the journal's map 1G by default, or as set",
	 T(""),
	 .want = {{"journal_map_size", "1073741824"}}},
	{.name = "smimegwd: journal_map_size set",
	 T("journal_map_size = 64M\n"),
	 .want = {{"journal_map_size", "67108864"}}},
	{.name = "smimegwd: no users, the control socket in data_dir",
	 T("data_dir = /srv/gw\n"),
	 .want = {{"user", ""},
		  {"keyd_user", ""},
		  {"control_socket", "/srv/gw/smimegwd.sock"}}},
	{.name = "smimegwd: users and the control socket set",
	 T("user = smimegw\nkeyd_user = smimegw-keyd\n"
	   "control_socket = /run/smimegw/control\n"),
	 .want = {{"user", "smimegw"},
		  {"keyd_user", "smimegw-keyd"},
		  {"control_socket", "/run/smimegw/control"}}},
	{.name = "smimegwd: a user name with a slash",
	 T("user = ../root\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: user: '../root' is not an identity name (1-64 "
		   "letters, digits, '.', '_' or '-', starting with a "
		   "letter or digit)"},
	{.name = "smimegwd: workers default to the cores online",
	 T(""),
	 .want = {{"workers", "%C"}}},
	{.name = "smimegwd: listeners set",
	 T("listener_outgoing = 127.0.0.1:10025\n"
	   "listener_outgoing_proto = smtp\n"
	   "listener_outgoing_next_hop = localhost:10026\n"
	   "listener_outgoing_profile = sign-all\n"
	   "listener_incoming = [::1]:10027\n"
	   "listener_incoming_next_hop = [::1]:10026\n"
	   "workers = 3\nrecipient_limit = 100\nsmtp_timeout = 60\n"),
	 .want = {{"listener_outgoing", "127.0.0.1:10025"},
		  {"listener_outgoing_proto", "smtp"},
		  {"listener_outgoing_next_hop", "localhost:10026"},
		  {"listener_outgoing_profile", "sign-all"},
		  {"listener_incoming", "[::1]:10027"},
		  {"listener_incoming_next_hop", "[::1]:10026"},
		  {"workers", "3"},
		  {"recipient_limit", "100"}}},
	{.name = "smimegwd: the treatment settings by default",
	 T(""),
	 .want = {{"listener_outgoing_direction", "outgoing"},
		  {"listener_incoming_direction", "incoming"},
		  {"internal_domains", ""},
		  {"incoming_decrypt", "yes"},
		  {"incoming_signature", "retain"},
		  {"incoming_harvest", "no"},
		  {"incoming_harvest_options", ""},
		  {"incoming_system_trust", "no"}}},
	{.name = "smimegwd: the treatment settings set",
	 T("listener_incoming_direction = auto\n"
	   "internal_domains = example.com, .corp.example\n"
	   "incoming_decrypt = no\n"
	   "incoming_signature = remove\n"
	   "incoming_harvest = yes\n"
	   "incoming_harvest_options = updates  on-failure self-signed\n"
	   "incoming_system_trust = yes\n"),
	 .want = {{"listener_incoming_direction", "auto"},
		  {"internal_domains", "example.com, .corp.example"},
		  {"incoming_decrypt", "no"},
		  {"incoming_signature", "remove"},
		  {"incoming_harvest", "yes"},
		  {"incoming_harvest_options",
		   "updates  on-failure self-signed"},
		  {"incoming_system_trust", "yes"}}},
	{.name = "smimegwd: an outgoing listener cannot be incoming",
	 T("listener_outgoing_direction = incoming\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_outgoing_direction: 'incoming' is not one "
		   "of: outgoing auto"},
	{.name = "smimegwd: internal_domains with an address",
	 T("internal_domains = example.com bob@example.org\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: internal_domains: 'bob@example.org' is not a "
		   "domain (example.com) or its subdomains (.example.com)"},
	{.name = "smimegwd: internal_domains with an empty label",
	 T("internal_domains = example..com\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: internal_domains: 'example..com' is not a "
		   "domain (example.com) or its subdomains (.example.com)"},
	{.name = "smimegwd: an unknown harvesting option",
	 T("incoming_harvest_options = updates always\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: incoming_harvest_options: 'always' is not one of: "
		   "on-failure updates expired self-signed"},
	{.name = "smimegwd: a harvesting option twice",
	 T("incoming_harvest_options = expired updates expired\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: incoming_harvest_options: 'expired' given twice"},
	{.name = "smimegwd: a listener without a port",
	 T("listener_outgoing = 127.0.0.1\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_outgoing: '127.0.0.1' is not host:port "
		   "(or [IPv6]:port, port 1-65535)"},
	{.name = "smimegwd: port 0 and port 65536",
	 T("listener_incoming_next_hop = h:65536\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_incoming_next_hop: 'h:65536' is not "
		   "host:port (or [IPv6]:port, port 1-65535)"},
	{.name = "smimegwd: an IPv6 address without brackets",
	 T("listener_incoming = ::1:25\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_incoming: '::1:25' is not host:port "
		   "(or [IPv6]:port, port 1-65535)"},
	{.name = "smimegwd: a protocol that is not lmtp or smtp",
	 T("listener_outgoing_proto = esmtp\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_outgoing_proto: 'esmtp' is not one of: "
		   "lmtp smtp"},
	{.name = "smimegwd: workers 0",
	 T("workers = 0\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: workers: '0' is not a number in 1..64"},
	{.name = "smimegwd: recipient_limit with a suffix",
	 T("recipient_limit = 1K\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: recipient_limit: '1K' is not a number in 1..1000"},
	{.name = "smimegwd: message_size_limit below 64K",
	 T("message_size_limit = 1000\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: message_size_limit: 1000 is out of range "
		   "(65536..67108864 bytes)"},
	{.name = "smimegwd: message_size_limit above what the pipeline takes",
	 T("message_size_limit = 65M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: message_size_limit: 65M is out of range "
		   "(65536..67108864 bytes)"},
	{.name = "smimegwd: a profile name that is not a name",
	 T("listener_outgoing_profile = -x\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: listener_outgoing_profile: '-x' is not an identity "
		   "name (1-64 letters, digits, '.', '_' or '-', starting "
		   "with a letter or digit)"},
	{.name = "decrypt_catch_all: none by default",
	 T(""),
	 .want = {{"decrypt_catch_all", ""}}},
	{.name = "decrypt_catch_all: an identity name",
	 T("decrypt_catch_all = gw-enc.2\n"),
	 .want = {{"decrypt_catch_all", "gw-enc.2"}}},
	{.name = "decrypt_catch_all: empty quoted value is none",
	 T("decrypt_catch_all = \"\"\n"),
	 .want = {{"decrypt_catch_all", ""}}},
	{.name = "comments and blank lines only",
	 T("# smimegw.conf\n\n   \n\t# indented comment\n\t \n"),
	 .want = {{"log_level", "info"}, {"data_dir", "/var/lib/smimegw"}}},
	{.name = "every key set",
	 T("data_dir = /srv/smimegw\n"
	   "pkcs11_module = /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so\n"
	   "token = pkcs11:token=gw;manufacturer=ACME;serial=42\n"
	   "pin_file = /etc/gw/pin\n"
	   "authserv_id = mx1.example.org\n"
	   "store_map_size = 2G\n"
	   "log_level = debug\n"),
	 .want = {{"data_dir", "/srv/smimegw"},
		  {"pkcs11_module",
		   "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"},
		  {"token", "pkcs11:token=gw;manufacturer=ACME;serial=42"},
		  {"pin_file", "/etc/gw/pin"},
		  {"authserv_id", "mx1.example.org"},
		  {"store_map_size", "2147483648"},
		  {"log_level", "debug"}}},
	{.name = "relative paths resolve against the config directory",
	 T("data_dir = data\npin_file = sub/token.pin\n"
	   "pkcs11_module = ../lib/p11.so\n"),
	 .want = {{"data_dir", "%D/data"},
		  {"pin_file", "%D/sub/token.pin"},
		  {"pkcs11_module", "%D/../lib/p11.so"}}},
	{.name = "relative quoted path resolves too",
	 T("data_dir = \"my data\"\n"),
	 .want = {{"data_dir", "%D/my data"}}},
	{.name = "absolute path is kept as written",
	 T("data_dir = /var/lib/gw/../gw2\n"),
	 .want = {{"data_dir", "/var/lib/gw/../gw2"}}},
	{.name = "quoted value: \\\" and \\\\ are the escapes",
	 T("data_dir = \"/srv/my \\\"dir\\\" \\\\x\"\n"),
	 .want = {{"data_dir", "/srv/my \"dir\" \\x"}}},
	{.name = "quoted value: other backslashes are kept",
	 T("data_dir = \"/srv/a\\b\\n\"\n"),
	 .want = {{"data_dir", "/srv/a\\b\\n"}}},
	{.name = "quoted value keeps spaces and '#'",
	 T("data_dir = \"/srv/ a b # c  \"\n"),
	 .want = {{"data_dir", "/srv/ a b # c  "}}},
	{.name = "comment after the closing quote",
	 T("log_level = \"debug\"   # verbose for now\n"),
	 .want = {{"log_level", "debug"}}},
	{.name = "unquoted value keeps inner spaces and '#'",
	 T("data_dir = /srv/a b #c\n"),
	 .want = {{"data_dir", "/srv/a b #c"}}},
	{.name = "whitespace around key, '=' and value is trimmed",
	 T("  \tlog_level\t=\t warning \t\n"),
	 .want = {{"log_level", "warning"}}},
	{.name = "address rule and key usage rules: defaults",
	 T(""),
	 .want = {{"address_local_part", "insensitive"},
		  {"cert_requirements", "standard"}}},
	{.name = "address rule and key usage rules: set",
	 T("address_local_part = exact\ncert_requirements = strict\n"),
	 .want = {{"address_local_part", "exact"},
		  {"cert_requirements", "strict"}}},
	{.name = "address_local_part: not a choice",
	 T("address_local_part = Exact\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: address_local_part: 'Exact' is not one of: "
		   "insensitive exact"},
	{.name = "cert_requirements: not a choice",
	 T("cert_requirements = lax\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: cert_requirements: 'lax' is not one of: standard "
		   "strict"},
	{.name = "no spaces around '='",
	 T("log_level=error\n"),
	 .want = {{"log_level", "error"}}},
	{.name = "CRLF line endings",
	 T("log_level = debug\r\ndata_dir = /srv/gw\r\n"),
	 .want = {{"log_level", "debug"}, {"data_dir", "/srv/gw"}}},
	{.name = "last line without a newline",
	 T("data_dir = /srv/gw\nlog_level = warning"),
	 .want = {{"log_level", "warning"}}},
	{.name = "every key may be set once, in any order",
	 T("log_level = error\nstore_map_size = 16M\ndata_dir = /d\n"),
	 .want = {{"log_level", "error"}, {"store_map_size", "16777216"}}},

	/* Sizes */
	{.name = "size: plain bytes at the minimum",
	 T("store_map_size = 16777216\n"),
	 .want = {{"store_map_size", "16777216"}}},
	{.name = "size: K suffix",
	 T("store_map_size = 16384K\n"),
	 .want = {{"store_map_size", "16777216"}}},
	{.name = "size: lower-case m suffix",
	 T("store_map_size = 64m\n"),
	 .want = {{"store_map_size", "67108864"}}},
	{.name = "size: g suffix",
	 T("store_map_size = 3g\n"),
	 .want = {{"store_map_size", "3221225472"}}},
	{.name = "size: 1T is the maximum",
	 T("store_map_size = 1T\n"),
	 .want = {{"store_map_size", "1099511627776"}}},
	{.name = "size: quoted",
	 T("store_map_size = \"32M\"\n"),
	 .want = {{"store_map_size", "33554432"}}},
	{.name = "size: leading zeros are decimal",
	 T("store_map_size = 0020M\n"),
	 .want = {{"store_map_size", "20971520"}}},
	{.name = "harvest_max_size: plain bytes",
	 T("harvest_max_size = 2097152\n"),
	 .want = {{"harvest_max_size", "2097152"}}},
	{.name = "harvest_max_size: K suffix",
	 T("harvest_max_size = 2048K\n"),
	 .want = {{"harvest_max_size", "2097152"}}},
	{.name = "harvest_max_size: 2G",
	 T("harvest_max_size = 2G\n"),
	 .want = {{"harvest_max_size", "2147483648"}}},
	{.name = "harvest_max_size: 1M is the minimum",
	 T("harvest_max_size = 1M\n"),
	 .want = {{"harvest_max_size", "1048576"}}},

	/* Words, enums, URIs that are accepted */
	{.name = "authserv_id: letters, digits, '.', '-', '_'",
	 T("authserv_id = mx_1.Example-2.org\n"),
	 .want = {{"authserv_id", "mx_1.Example-2.org"}}},
	{.name = "authserv_id: 255 characters",
	 T("authserv_id = " W64 W64 W64 "abcdefghijklmnopqrstuvwxyzABCDEFGH"
	   "IJKLMNOPQRSTUVWXYZ0123456789.\n"),
	 .want = {{"authserv_id", W64 W64 W64
		   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		   "0123456789."}}},
	{.name = "log_level: error",
	 T("log_level = error\n"), .want = {{"log_level", "error"}}},
	{.name = "log_level: warning",
	 T("log_level = warning\n"), .want = {{"log_level", "warning"}}},
	{.name = "log_level: info",
	 T("log_level = info\n"), .want = {{"log_level", "info"}}},
	{.name = "log_level: debug",
	 T("log_level = debug\n"), .want = {{"log_level", "debug"}}},
	{.name = "token: percent-encoded label kept verbatim",
	 T("token = pkcs11:token=My%20Token;model=SoftHSM%20v2\n"),
	 .want = {{"token", "pkcs11:token=My%20Token;model=SoftHSM%20v2"}}},
	{.name = "token: pin-source query is tolerated",
	 T("token = \"pkcs11:token=gw?pin-source=file:/etc/pin\"\n"),
	 .want = {{"token", "pkcs11:token=gw?pin-source=file:/etc/pin"}}},
	{.name = "token: type= is allowed",
	 T("token = pkcs11:token=gw;type=private\n"),
	 .want = {{"token", "pkcs11:token=gw;type=private"}}},

	/* Line length */
	{.name = "line of exactly 4096 bytes plus newline is accepted",
	 T("log_level = debug\n"), .gen = {LINE_MAX_BYTES, 1},
	 .want = {{"log_level", "debug"}}},
	{.name = "line of exactly 4096 bytes at EOF is accepted",
	 T(""), .gen = {LINE_MAX_BYTES, 0},
	 .want = {{"log_level", "info"}}},
	{.name = "line of 4097 bytes is refused",
	 T("log_level = debug\n"), .gen = {LINE_MAX_BYTES + 1, 1},
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: line longer than 4096 bytes"},
	{.name = "line of 4097 bytes at EOF is refused",
	 T(""), .gen = {LINE_MAX_BYTES + 1, 0},
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: line longer than 4096 bytes"},
	{.name = "line of 10000 bytes is refused",
	 T("log_level = debug\n"), .gen = {10000, 1},
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: line longer than 4096 bytes"},
	{.name = "line numbers count past a 4096-byte line",
	 T("bogus = 1\n"), .gen = {LINE_MAX_BYTES, 1},
	 .rc = GW_ERR_CONFIG, .detail = "%F:2: unknown key 'bogus'"},
	{.name = "decrypt_catch_all: not an identity name",
	 T("decrypt_catch_all = a b\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: decrypt_catch_all: 'a b' is not an identity name "
		   "(1-64 letters, digits, '.', '_' or '-', starting with a "
		   "letter or digit)"},
	{.name = "decrypt_catch_all: starts with a dot",
	 T("decrypt_catch_all = .x\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: decrypt_catch_all: '.x' is not an identity name "
		   "(1-64 letters, digits, '.', '_' or '-', starting with a "
		   "letter or digit)"},

	/* NUL bytes */
	{.name = "NUL byte inside a value",
	 T("log_level = de\0bug\ndata_dir = /x\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: NUL byte"},
	{.name = "NUL byte after a value on the last line",
	 T("log_level = debug\0 junk"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: NUL byte"},
	{.name = "NUL byte at the start of line 2",
	 T("log_level = debug\n\0data_dir = /x\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:2: NUL byte"},
	{.name = "NUL byte in a comment",
	 T("# a\0b\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: NUL byte"},

	/* Keys */
	{.name = "unknown key",
	 T("bogus = 1\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: unknown key 'bogus'"},
	{.name = "keys are case-sensitive",
	 T("Log_Level = info\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: unknown key 'Log_Level'"},
	{.name = "unknown key on line 4 after comments",
	 T("# c\n\nlog_level = info\ndatadir = /x\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:4: unknown key 'datadir'"},
	{.name = "repeated key",
	 T("log_level = info\n# again\nlog_level = debug\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:3: log_level: set more than once"},
	{.name = "repeated key with the same value",
	 T("data_dir = /x\ndata_dir = /x\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:2: data_dir: set more than once"},
	{.name = "first error wins",
	 T("bogus = 1\nlog_level = loud\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: unknown key 'bogus'"},

	/* Line syntax */
	{.name = "missing '='",
	 T("log_level debug\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: expected 'key = value'"},
	{.name = "key alone",
	 T("log_level\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: expected 'key = value'"},
	{.name = "':' instead of '='",
	 T("log_level: debug\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: expected 'key = value'"},
	{.name = "missing key",
	 T("= debug\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: unknown key ''"},
	{.name = "unterminated quote",
	 T("data_dir = \"/srv/gw\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: data_dir: unterminated quote"},
	{.name = "unterminated quote: the last quote is escaped",
	 T("data_dir = \"/srv/gw\\\"\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: data_dir: unterminated quote"},
	{.name = "unterminated quote at EOF",
	 T("log_level = info\ndata_dir = \""),
	 .rc = GW_ERR_CONFIG, .detail = "%F:2: data_dir: unterminated quote"},
	{.name = "text after the closing quote",
	 T("data_dir = \"/srv\" gw\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: data_dir: text after the closing quote"},
	{.name = "second quoted string after the first",
	 T("data_dir = \"/srv\"\"/gw\"\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: data_dir: text after the closing quote"},

	/* Paths */
	{.name = "empty path",
	 T("data_dir =\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: data_dir: empty path"},
	{.name = "empty quoted path",
	 T("pin_file = \"\"\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: pin_file: empty path"},
	{.name = "blank path",
	 T("pkcs11_module =   \t\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: pkcs11_module: empty path"},

	/* Sizes that are refused */
	{.name = "harvest_max_size: below 1M",
	 T("harvest_max_size = 1023K\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: harvest_max_size: 1023K is out of range "
		   "(1048576..1099511627776 bytes)"},
	{.name = "store_import_batch: below 64K",
	 T("store_import_batch = 63K\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_import_batch: 63K is out of range "
		   "(65536..1073741824 bytes)"},
	{.name = "harvest_max_size: not a size",
	 T("harvest_max_size = 512MB\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: harvest_max_size: '512MB' " NOT_A_SIZE},
	{.name = "size: unknown suffix",
	 T("store_map_size = 16X\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '16X' " NOT_A_SIZE},
	{.name = "size: two-letter suffix",
	 T("store_map_size = 16MB\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '16MB' " NOT_A_SIZE},
	{.name = "size: space before the suffix",
	 T("store_map_size = 16 M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '16 M' " NOT_A_SIZE},
	{.name = "size: suffix alone",
	 T("store_map_size = M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: 'M' " NOT_A_SIZE},
	{.name = "size: negative",
	 T("store_map_size = -16M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '-16M' " NOT_A_SIZE},
	{.name = "size: plus sign",
	 T("store_map_size = +16M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '+16M' " NOT_A_SIZE},
	{.name = "size: hexadecimal",
	 T("store_map_size = 0x1000000\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '0x1000000' " NOT_A_SIZE},
	{.name = "size: fraction",
	 T("store_map_size = 1.5G\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '1.5G' " NOT_A_SIZE},
	{.name = "size: empty",
	 T("store_map_size =\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: store_map_size: '' " NOT_A_SIZE},
	{.name = "size: beyond 64 bits",
	 T("store_map_size = 99999999999999999999\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '99999999999999999999' " NOT_A_SIZE},
	{.name = "size: suffix overflows 64 bits",
	 T("store_map_size = 17179869184T\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: '17179869184T' " NOT_A_SIZE},
	{.name = "size: one byte below the minimum",
	 T("store_map_size = 16777215\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: 16777215 " SIZE_RANGE},
	{.name = "size: zero",
	 T("store_map_size = 0\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: store_map_size: 0 " SIZE_RANGE},
	{.name = "size: 15M",
	 T("store_map_size = 15M\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: 15M " SIZE_RANGE},
	{.name = "size: one byte above the maximum",
	 T("store_map_size = 1099511627777\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: store_map_size: 1099511627777 " SIZE_RANGE},
	{.name = "size: 2T",
	 T("store_map_size = 2T\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: store_map_size: 2T " SIZE_RANGE},

	/* Enums */
	{.name = "log_level: unknown level",
	 T("log_level = verbose\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: log_level: 'verbose' " LOG_CHOICES},
	{.name = "log_level: upper case",
	 T("log_level = DEBUG\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: log_level: 'DEBUG' " LOG_CHOICES},
	{.name = "log_level: prefix of a level",
	 T("log_level = warn\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: log_level: 'warn' " LOG_CHOICES},
	{.name = "log_level: two levels",
	 T("log_level = info debug\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: log_level: 'info debug' " LOG_CHOICES},
	{.name = "log_level: empty",
	 T("log_level =\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: log_level: '' " LOG_CHOICES},

	/* Words */
	{.name = "authserv_id with a space",
	 T("authserv_id = mx1 example.org\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: 'mx1 example.org' " NOT_A_WORD},
	{.name = "authserv_id quoted with a space",
	 T("authserv_id = \"mx1 example.org\"\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: 'mx1 example.org' " NOT_A_WORD},
	{.name = "authserv_id with ';'",
	 T("authserv_id = mx1;x=y\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: 'mx1;x=y' " NOT_A_WORD},
	{.name = "authserv_id with '@'",
	 T("authserv_id = gw@example.org\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: 'gw@example.org' " NOT_A_WORD},
	{.name = "authserv_id with a non-ASCII byte",
	 T("authserv_id = m\xc3\xa4il\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: 'm\xc3\xa4il' " NOT_A_WORD},
	{.name = "authserv_id empty",
	 T("authserv_id = \"\"\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: authserv_id: '' " NOT_A_WORD},
	{.name = "authserv_id of 256 characters",
	 T("authserv_id = " W256 "\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: authserv_id: '" W256 "' " NOT_A_WORD},

	/* Token URIs */
	{.name = "token: not a PKCS#11 URI",
	 T("token = smimegw\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI must start with 'pkcs11:'"},
	{.name = "token: pin-value in the query",
	 T("token = pkcs11:token=gw?pin-value=1234\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: attribute 'pin-value' is not "
		   "supported (the PIN is read from pin_file)"},
	{.name = "token: pin-value in the path",
	 T("token = pkcs11:token=gw;pin-value=1234\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: attribute 'pin-value' is not "
		   "supported (the PIN is read from pin_file)"},
	{.name = "token: slot-id",
	 T("token = pkcs11:slot-id=0\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail =
	     "%F:1: token: PKCS#11 URI: attribute 'slot-id' " P11_NOT_SUPP},
	{.name = "token: module-path in the query",
	 T("token = pkcs11:token=gw?module-path=/usr/lib/p11.so\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail =
	     "%F:1: token: PKCS#11 URI: attribute 'module-path' " P11_NOT_SUPP},
	{.name = "token: module-name",
	 T("token = pkcs11:token=gw?module-name=softhsm2\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail =
	     "%F:1: token: PKCS#11 URI: attribute 'module-name' " P11_NOT_SUPP},
	{.name = "token: object= selects an object",
	 T("token = pkcs11:token=gw;object=signing\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: " P11_NOT_OBJ},
	{.name = "token: id= selects an object",
	 T("token = pkcs11:token=gw;id=%01\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: " P11_NOT_OBJ},
	{.name = "token: empty object= still selects an object",
	 T("token = pkcs11:token=gw;object=\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: " P11_NOT_OBJ},
	{.name = "token: empty id= still selects an object",
	 T("token = pkcs11:id=;token=gw\n"),
	 .rc = GW_ERR_CONFIG, .detail = "%F:1: " P11_NOT_OBJ},
	{.name = "token: bad %-escape",
	 T("token = pkcs11:token=g%zzw\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: token: bad %-escape"},
	{.name = "token: truncated %-escape",
	 T("token = pkcs11:token=gw%2\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: token: truncated %-escape"},
	{.name = "token: unknown attribute",
	 T("token = pkcs11:label=gw\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: unknown attribute 'label'"},
	{.name = "token: attribute without '='",
	 T("token = pkcs11:gw\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: 'gw' has no '='"},
	{.name = "token: repeated attribute",
	 T("token = pkcs11:token=a;token=b\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: attribute 'token' repeated"},
	{.name = "token: NUL byte by %00",
	 T("token = pkcs11:token=a%00b\n"),
	 .rc = GW_ERR_CONFIG,
	 .detail = "%F:1: token: PKCS#11 URI: token contains a NUL byte"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static char tmpdir[64];
static char conf_path[128];

/* Replaces %F, %D, %H and %C (the cores online, 1..64: the workers
 * default) in tmpl. */
static void
expand(const char *tmpl, char *out, size_t cap)
{
	char host[256], cores[16];
	long nc = sysconf(_SC_NPROCESSORS_ONLN);
	const char *p, *sub;
	size_t n = 0, l;

	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cores, sizeof(cores), "%ld", nc < 1 ? 1 : nc > 64 ? 64 : nc);
	for (p = tmpl; *p != '\0'; p++) {
		sub = NULL;
		if (p[0] == '%' && p[1] == 'F')
			sub = conf_path;
		else if (p[0] == '%' && p[1] == 'D')
			sub = tmpdir;
		else if (p[0] == '%' && p[1] == 'H')
			sub = host;
		else if (p[0] == '%' && p[1] == 'C')
			sub = cores;
		if (sub != NULL) {
			l = strlen(sub);
			assert_true(n + l < cap);
			memcpy(out + n, sub, l);
			n += l;
			p++;
			continue;
		}
		assert_true(n + 1 < cap);
		out[n++] = *p;
	}
	out[n] = '\0';
}

static const char *
field(const struct gw_config *c, const char *key, char *buf, size_t cap)
{
	if (strcmp(key, "path") == 0)
		return c->path;
	if (strcmp(key, "data_dir") == 0)
		return c->data_dir;
	if (strcmp(key, "pkcs11_module") == 0)
		return c->pkcs11_module;
	if (strcmp(key, "token") == 0)
		return c->token;
	if (strcmp(key, "pin_file") == 0)
		return c->pin_file;
	if (strcmp(key, "authserv_id") == 0)
		return c->authserv_id;
	if (strcmp(key, "log_level") == 0)
		return c->log_level;
	if (strcmp(key, "decrypt_catch_all") == 0)
		return c->decrypt_catch_all;
	if (strcmp(key, "address_local_part") == 0)
		return c->address_local_part;
	if (strcmp(key, "cert_requirements") == 0)
		return c->cert_requirements;
	{
		static const struct {
			const char *key;
			size_t off;
		} strs[] = {
		    {"listener_outgoing", offsetof(struct gw_config,
						   listener_outgoing)},
		    {"listener_outgoing_proto",
		     offsetof(struct gw_config, listener_outgoing_proto)},
		    {"listener_outgoing_next_hop",
		     offsetof(struct gw_config, listener_outgoing_next_hop)},
		    {"listener_outgoing_profile",
		     offsetof(struct gw_config, listener_outgoing_profile)},
		    {"listener_incoming", offsetof(struct gw_config,
						   listener_incoming)},
		    {"listener_incoming_proto",
		     offsetof(struct gw_config, listener_incoming_proto)},
		    {"listener_incoming_next_hop",
		     offsetof(struct gw_config, listener_incoming_next_hop)},
		    {"listener_outgoing_direction",
		     offsetof(struct gw_config, listener_outgoing_direction)},
		    {"listener_incoming_direction",
		     offsetof(struct gw_config, listener_incoming_direction)},
		    {"internal_domains",
		     offsetof(struct gw_config, internal_domains)},
		    {"incoming_decrypt",
		     offsetof(struct gw_config, incoming_decrypt)},
		    {"incoming_signature",
		     offsetof(struct gw_config, incoming_signature)},
		    {"incoming_harvest",
		     offsetof(struct gw_config, incoming_harvest)},
		    {"incoming_harvest_options",
		     offsetof(struct gw_config, incoming_harvest_options)},
		    {"incoming_system_trust",
		     offsetof(struct gw_config, incoming_system_trust)},
		    {"user", offsetof(struct gw_config, user)},
		    {"keyd_user", offsetof(struct gw_config, keyd_user)},
		    {"control_socket", offsetof(struct gw_config,
						control_socket)},
		}, nums[] = {
		    {"workers", offsetof(struct gw_config, workers)},
		    {"message_size_limit",
		     offsetof(struct gw_config, message_size_limit)},
		    {"recipient_limit", offsetof(struct gw_config,
						 recipient_limit)},
		    {"spool_memory_limit",
		     offsetof(struct gw_config, spool_memory_limit)},
		    {"smtp_timeout", offsetof(struct gw_config, smtp_timeout)},
		    {"journal_map_size",
		     offsetof(struct gw_config, journal_map_size)},
		    {"store_import_batch",
		     offsetof(struct gw_config, store_import_batch)},
		};
		size_t i;

		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (strcmp(key, strs[i].key) == 0)
				return *(char *const *)((const char *)c +
							strs[i].off);
		for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
			if (strcmp(key, nums[i].key) == 0) {
				snprintf(buf, cap, "%llu",
					 (unsigned long long)*(
					     const uint64_t *)((const char *)c +
							       nums[i].off));
				return buf;
			}
	}
	if (strcmp(key, "store_map_size") == 0) {
		snprintf(buf, cap, "%llu",
			 (unsigned long long)c->store_map_size);
		return buf;
	}
	if (strcmp(key, "harvest_max_size") == 0) {
		snprintf(buf, cap, "%llu",
			 (unsigned long long)c->harvest_max_size);
		return buf;
	}
	fail_msg("no field '%s'", key);
	return NULL;
}

static void
write_file(const char *path, const char *text, size_t len,
	   const struct gen *g)
{
	FILE *fp;
	size_t i;

	assert_non_null(fp = fopen(path, "w"));
	if (g != NULL && g->n > 0) {
		fputc('#', fp);
		for (i = 1; i < g->n; i++)
			fputc('x', fp);
		if (g->newline)
			fputc('\n', fp);
	}
	if (len > 0)
		assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_config") != 0)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/smimegw.conf", tmpdir);
	return 0;
}

static int
group_teardown(void **state)
{
	char p[160];

	(void)state;
	unlink(conf_path);
	snprintf(p, sizeof(p), "%s/printed.conf", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/dir.conf", tmpdir);
	rmdir(p);
	return rmdir(tmpdir);
}

static int
case_setup(void **state)
{
	(void)state;
	gw_err_clear();
	ERR_clear_error();
	return 0;
}

static void
test_case(void **state)
{
	const struct cfg_case *tc = *state;
	struct gw_config *cfg = (struct gw_config *)&cfg; /* poison */
	char want[8192], buf[32];
	const struct kv *kv;
	int rc;

	write_file(conf_path, tc->text, tc->len, &tc->gen);
	rc = gw_config_load(conf_path, &cfg);
	if (rc != tc->rc)
		fail_msg("rc %d (%s), want %d; detail '%s'", rc,
			 gw_strerror(rc), tc->rc, gw_err_detail());
	if (tc->rc != 0) {
		assert_null(cfg);
		expand(tc->detail, want, sizeof(want));
		assert_string_equal(gw_err_detail(), want);
		return;
	}
	assert_non_null(cfg);
	assert_string_equal(gw_err_detail(), "");
	for (kv = tc->want; kv < tc->want + 8 && kv->key != NULL; kv++) {
		expand(kv->val, want, sizeof(want));
		assert_string_equal(field(cfg, kv->key, buf, sizeof(buf)),
				    want);
	}
	gw_config_free(cfg);
}

/*
 * Cases that do not fit the table.
 */

static void
test_missing_file(void **state)
{
	struct gw_config *cfg = NULL;
	char path[160], want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	assert_int_equal(gw_config_load(path, &cfg), GW_ERR_IO);
	assert_null(cfg);
	snprintf(want, sizeof(want),
		 "cannot read %s: No such file or directory", path);
	assert_string_equal(gw_err_detail(), want);
}

static void
test_directory_as_file(void **state)
{
	struct gw_config *cfg = NULL;
	char path[160], want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/dir.conf", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(gw_config_load(path, &cfg), GW_ERR_IO);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: read error", path);
	assert_string_equal(gw_err_detail(), want);
	assert_int_equal(rmdir(path), 0);
}

/* A bare file name: relative paths stay relative to the working dir,
 * which is the directory holding the file. */
static void
test_bare_file_name(void **state)
{
	struct gw_config *cfg = NULL;
	char cwd[4096];

	(void)state;
	write_file(conf_path, "data_dir = data\n", 16, NULL);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(gw_config_load("smimegw.conf", &cfg), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(cfg->path, "smimegw.conf");
	assert_string_equal(cfg->data_dir, "data");
	gw_config_free(cfg);

	/* The location names the file as it was given. */
	write_file(conf_path, "x = 1\n", 6, NULL);
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(gw_config_load("smimegw.conf", &cfg),
			 GW_ERR_CONFIG);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(gw_err_detail(), "smimegw.conf:1: unknown key 'x'");
}

/* gw_config_print writes a valid file that loads to the same values,
 * whatever characters the values hold. */
static void
test_print_round_trip(void **state)
{
	static const char text[] =
	    "data_dir = \"/srv/a \\\"quoted\\\" \\\\back # hash\"\n"
	    "pkcs11_module = \"/usr/lib/p11 \\\\x.so\"\n"
	    "token = \"pkcs11:token=My%20Token?pin-source=a\"\n"
	    "pin_file = rel/pin\n"
	    "authserv_id = mx1.example.org\n"
	    "store_map_size = 3G\n"
	    "harvest_max_size = 3M\n"
	    "log_level = debug\n";
	static const char *const keys[] = {
	    "data_dir",	   "pkcs11_module", "token",	 "pin_file",
	    "authserv_id", "store_map_size", "log_level", "harvest_max_size",
	};
	struct gw_config *a = NULL, *b = NULL;
	char printed[160], b1[32], b2[32];
	FILE *fp;
	size_t i;

	(void)state;
	write_file(conf_path, text, sizeof(text) - 1, NULL);
	assert_int_equal(gw_config_load(conf_path, &a), 0);
	assert_string_equal(a->data_dir, "/srv/a \"quoted\" \\back # hash");
	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	assert_non_null(fp = fopen(printed, "w"));
	gw_config_print(fp, a);
	assert_int_equal(fclose(fp), 0);
	if (gw_config_load(printed, &b) != 0)
		fail_msg("printed config does not load: %s", gw_err_detail());
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_string_equal(field(a, keys[i], b1, sizeof(b1)),
				    field(b, keys[i], b2, sizeof(b2)));
	gw_config_free(a);
	gw_config_free(b);
}

/* The defaults, printed: a golden text. */
static void
test_print_defaults(void **state)
{
	struct gw_config *cfg = NULL;
	char printed[160], got[4096], want[4096];
	FILE *fp;
	size_t n;

	(void)state;
	write_file(conf_path, "", 0, NULL);
	assert_int_equal(gw_config_load(conf_path, &cfg), 0);
	snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	assert_non_null(fp = fopen(printed, "w+"));
	gw_config_print(fp, cfg);
	rewind(fp);
	n = fread(got, 1, sizeof(got) - 1, fp);
	got[n] = '\0';
	assert_int_equal(fclose(fp), 0);
	expand("# effective configuration of %F\n"
	       "data_dir = \"/var/lib/smimegw\"\n"
	       "pkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\n"
	       "token = \"pkcs11:token=smimegw\"\n"
	       "pin_file = \"/etc/smimegw/token.pin\"\n"
	       "authserv_id = \"%H\"\n"
	       "store_map_size = 1073741824\n"
	       "store_import_batch = 67108864\n"
	       "harvest_max_size = 536870912\n"
	       "log_level = \"info\"\n"
	       "decrypt_catch_all = \"\"\n"
	       "address_local_part = \"insensitive\"\n"
	       "cert_requirements = \"standard\"\n"
	       "listener_outgoing = \"\"\n"
	       "listener_outgoing_proto = \"lmtp\"\n"
	       "listener_outgoing_next_hop = \"\"\n"
	       "listener_outgoing_profile = \"\"\n"
	       "listener_incoming = \"\"\n"
	       "listener_incoming_proto = \"lmtp\"\n"
	       "listener_incoming_next_hop = \"\"\n"
	       "listener_outgoing_direction = \"outgoing\"\n"
	       "listener_incoming_direction = \"incoming\"\n"
	       "internal_domains = \"\"\n"
	       "incoming_decrypt = \"yes\"\n"
	       "incoming_signature = \"retain\"\n"
	       "incoming_harvest = \"no\"\n"
	       "incoming_harvest_options = \"\"\n"
	       "incoming_system_trust = \"no\"\n"
	       "workers = %C\n"
	       "message_size_limit = 52428800\n"
	       "recipient_limit = 1000\n"
	       "spool_memory_limit = 1048576\n"
	       "smtp_timeout = 300\n"
	       "journal_map_size = 1073741824\n"
	       "user = \"\"\n"
	       "keyd_user = \"\"\n"
	       "control_socket = \"/var/lib/smimegw/smimegwd.sock\"\n",
	       want, sizeof(want));
	assert_string_equal(got, want);
	gw_config_free(cfg);
}

static void
test_config_path(void **state)
{
	(void)state;
	setenv("SMIMEGW_CONF", "/env/smimegw.conf", 1);
	assert_string_equal(gw_config_path("/opt/c.conf"), "/opt/c.conf");
	assert_string_equal(gw_config_path(NULL), "/env/smimegw.conf");
	setenv("SMIMEGW_CONF", "", 1);
	assert_string_equal(gw_config_path(NULL),
			    "/etc/smimegw/smimegw.conf");
	unsetenv("SMIMEGW_CONF");
	assert_string_equal(gw_config_path(NULL),
			    "/etc/smimegw/smimegw.conf");
}

/*
 * gw_err: the latch, the classes, the names.
 */

static void
test_err_first_detail_wins(void **state)
{
	(void)state;
	assert_string_equal(gw_err_detail(), "");
	assert_int_equal(gw_err_set(GW_ERR_PARSE, "root cause %d", 1),
			 GW_ERR_PARSE);
	assert_int_equal(gw_err_set(GW_ERR_IO, "outer layer"), GW_ERR_IO);
	assert_string_equal(gw_err_detail(), "root cause 1");
	gw_err_clear();
	assert_string_equal(gw_err_detail(), "");
	assert_int_equal(gw_err_set(GW_ERR_IO, "after clear"), GW_ERR_IO);
	assert_string_equal(gw_err_detail(), "after clear");
}

static void
test_err_empty_detail_latches(void **state)
{
	(void)state;
	gw_err_set(GW_ERR_INVALID, "%s", "");
	gw_err_set(GW_ERR_IO, "later");
	assert_string_equal(gw_err_detail(), "");
}

static void
test_err_ssl_appends_reason(void **state)
{
	(void)state;
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	assert_int_equal(gw_err_set_ssl(GW_ERR_CRYPTO, "decrypting %s", "x"),
			 GW_ERR_CRYPTO);
	assert_string_equal(gw_err_detail(), "decrypting x: bad decrypt");
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_err_ssl_when_latched(void **state)
{
	(void)state;
	gw_err_set(GW_ERR_IO, "first");
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	assert_int_equal(gw_err_set_ssl(GW_ERR_CRYPTO, "second"),
			 GW_ERR_CRYPTO);
	assert_string_equal(gw_err_detail(), "first");
	/* The queue is drained anyway, so it cannot leak into a later
	 * message. */
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_err_long_detail_truncated(void **state)
{
	char big[3000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	gw_err_set(GW_ERR_INVALID, "%s", big);
	assert_int_equal(strlen(gw_err_detail()), 1023);
	gw_err_clear();
	ERR_raise(ERR_LIB_EVP, EVP_R_BAD_DECRYPT);
	gw_err_set_ssl(GW_ERR_CRYPTO, "%s", big);
	assert_int_equal(strlen(gw_err_detail()), 1023);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_err_class(void **state)
{
	static const struct {
		int code;
		enum gw_err_class cls;
		const char *text;
	} t[] = {
	    {GW_OK, GW_ERRCLASS_NONE, "success"},
	    {GW_ERR_NOMEM, GW_ERRCLASS_TEMPORARY, "out of memory"},
	    {GW_ERR_INVALID, GW_ERRCLASS_PERMANENT, "invalid value"},
	    {GW_ERR_IO, GW_ERRCLASS_TEMPORARY, "I/O error"},
	    {GW_ERR_CONFIG, GW_ERRCLASS_TEMPORARY, "configuration error"},
	    {GW_ERR_NOT_FOUND, GW_ERRCLASS_PERMANENT, "not found"},
	    {GW_ERR_EXISTS, GW_ERRCLASS_PERMANENT, "already exists"},
	    {GW_ERR_PERM, GW_ERRCLASS_TEMPORARY, "unsafe file permissions"},
	    {GW_ERR_LIMIT, GW_ERRCLASS_PERMANENT, "limit exceeded"},
	    {GW_ERR_PARSE, GW_ERRCLASS_PERMANENT, "malformed input"},
	    {GW_ERR_STORE, GW_ERRCLASS_TEMPORARY, "store error"},
	    {GW_ERR_STORE_BUSY, GW_ERRCLASS_TEMPORARY, "store busy"},
	    {GW_ERR_STORE_FULL, GW_ERRCLASS_TEMPORARY, "store full"},
	    {GW_ERR_P11_PIN_INCORRECT, GW_ERRCLASS_TEMPORARY,
	     "token PIN incorrect"},
	    {GW_ERR_P11_PIN_LOCKED, GW_ERRCLASS_TEMPORARY, "token PIN locked"},
	    {GW_ERR_P11_TOKEN_ABSENT, GW_ERRCLASS_TEMPORARY,
	     "token not present"},
	    {GW_ERR_P11_MECHANISM, GW_ERRCLASS_PERMANENT,
	     "mechanism not supported by the token"},
	    {GW_ERR_UNSUPPORTED, GW_ERRCLASS_PERMANENT, "not supported"},
	    {GW_ERR_EXPIRED, GW_ERRCLASS_PERMANENT,
	     "certificate not within its validity period"},
	    {GW_ERR_PASSPHRASE_NEEDED, GW_ERRCLASS_PERMANENT,
	     "passphrase needed"},
	    {GW_ERR_IN_USE, GW_ERRCLASS_PERMANENT, "refused (in use)"},
	    {GW_ERR_INTERNAL, GW_ERRCLASS_TEMPORARY, "internal error"},
	    /* Unknown codes fail safe: retry rather than bounce. */
	    {-77, GW_ERRCLASS_TEMPORARY, "unknown error"},
	    {1, GW_ERRCLASS_TEMPORARY, "unknown error"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (gw_err_class(t[i].code) != t[i].cls)
			fail_msg("gw_err_class(%d) = %d, want %d", t[i].code,
				 gw_err_class(t[i].code), t[i].cls);
		assert_string_equal(gw_strerror(t[i].code), t[i].text);
	}
}

/* Every code in gw_err.h has its own name. */
static void
test_err_every_code_named(void **state)
{
	int code, other;

	(void)state;
	for (code = -99; code <= 0; code++) {
		if (strcmp(gw_strerror(code), "unknown error") == 0)
			continue;
		for (other = code + 1; other <= 0; other++)
			if (strcmp(gw_strerror(code), gw_strerror(other)) == 0)
				fail_msg("codes %d and %d share '%s'", code,
					 other, gw_strerror(code));
	}
}

int
main(void)
{
	static const struct CMUnitTest misc[] = {
	    cmocka_unit_test_setup(test_missing_file, case_setup),
	    cmocka_unit_test_setup(test_directory_as_file, case_setup),
	    cmocka_unit_test_setup(test_bare_file_name, case_setup),
	    cmocka_unit_test_setup(test_print_round_trip, case_setup),
	    cmocka_unit_test_setup(test_print_defaults, case_setup),
	    cmocka_unit_test_setup(test_config_path, case_setup),
	};
	static const struct CMUnitTest err[] = {
	    cmocka_unit_test_setup(test_err_first_detail_wins, case_setup),
	    cmocka_unit_test_setup(test_err_empty_detail_latches, case_setup),
	    cmocka_unit_test_setup(test_err_ssl_appends_reason, case_setup),
	    cmocka_unit_test_setup(test_err_ssl_when_latched, case_setup),
	    cmocka_unit_test_setup(test_err_long_detail_truncated, case_setup),
	    cmocka_unit_test_setup(test_err_class, case_setup),
	    cmocka_unit_test_setup(test_err_every_code_named, case_setup),
	};
	static struct CMUnitTest table[NCASES];
	size_t i;
	int failed = 0;

	for (i = 0; i < NCASES; i++) {
		table[i].name = cases[i].name;
		table[i].test_func = test_case;
		table[i].setup_func = case_setup;
		table[i].initial_state = (void *)&cases[i];
	}
	failed += _cmocka_run_group_tests("gw_config", table, NCASES,
					  group_setup, group_teardown);
	failed += _cmocka_run_group_tests("gw_config_misc", misc,
					  sizeof(misc) / sizeof(misc[0]),
					  group_setup, group_teardown);
	failed += _cmocka_run_group_tests("gw_err", err,
					  sizeof(err) / sizeof(err[0]), NULL,
					  NULL);
	return failed != 0;
}
