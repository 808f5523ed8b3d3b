/*
 * test_p11_pin.c - table tests for pkcs11/p11_pin.c.
 *
 * Every case makes one file system object in a mkdtemp directory (a
 * PIN file with given bytes, mode and owner, or a symlink, directory,
 * FIFO or nothing), calls p11_pin_read() and asserts the code and the
 * exact detail, or the PIN and its length.  On failure the buffer must
 * come back wiped.  In expected details "%F" is the path read and "%U"
 * the effective uid.  Cases that change owners need root; run as
 * another user they are skipped.
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

#include "gw_err.h"
#include "p11_pin.h"

/* A literal with its length, so that contents may hold NUL bytes. */
#define T(s) .text = (s), .len = sizeof(s) - 1

#define MODE_0000 010000 /* .mode 0 means 0600; this asks for 0000 */
#define OTHER_UID 4242

#define CTRL                                                            \
	"PIN contains a control character (only one trailing newline is " \
	"allowed)"
#define TOO_LONG "PIN longer than 254 bytes"

/* 254 characters: the longest PIN. */
#define P50 "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
#define P254 P50 P50 P50 P50 P50 "OPQR"

enum kind {
	K_FILE,	      /* a regular file: the default */
	K_SYMLINK,    /* a symlink to a good PIN file */
	K_DIR,	      /* a directory */
	K_FIFO,	      /* a named pipe with no writer */
	K_MISSING,    /* nothing at the path */
	K_UNDER_FILE, /* path "pin/x" where pin is a file */
	K_DEVNULL,    /* /dev/null */
};

struct pin_case {
	const char *name;
	enum kind kind;
	const char *text; /* file contents */
	size_t len;
	unsigned mode;	  /* 0: 0600 */
	unsigned owner;	  /* 0: the test's own uid */
	unsigned euid;	  /* 0: read with the test's own euid */
	int root;	  /* needs root to mean what it says */
	int rc;
	const char *detail; /* exact, with %F %U; rc != 0 */
	const char *pin;    /* rc == 0: the PIN expected */
	size_t pin_len;	    /* 0: strlen(pin) */
};

static const struct pin_case cases[] = {
	/* Accepted */
	{.name = "PIN without a newline", T("1234"), .pin = "1234"},
	{.name = "one trailing \\n is stripped", T("1234\n"), .pin = "1234"},
	{.name = "one trailing \\r\\n is stripped", T("1234\r\n"),
	 .pin = "1234"},
	{.name = "mode 0400", T("1234\n"), .mode = 0400, .pin = "1234"},
	{.name = "single character", T("0"), .pin = "0"},
	{.name = "spaces, quotes and punctuation are kept",
	 T(" pa ss!~\"\\ \n"), .pin = " pa ss!~\"\\ "},
	{.name = "UTF-8 is kept", T("p\xc3\xa4ss\n"), .pin = "p\xc3\xa4ss"},
	{.name = "bytes 0x80 and 0xff are kept", T("\x80\xff"),
	 .pin = "\x80\xff"},
	{.name = "254-byte PIN", T(P254), .pin = P254},
	{.name = "254-byte PIN and \\n", T(P254 "\n"), .pin = P254},
	{.name = "254-byte PIN and \\r\\n", T(P254 "\r\n"), .pin = P254},
	{.name = "owned by root, read by root", T("1234"), .root = 1,
	 .pin = "1234"},
	{.name = "owned by the effective uid, not root", T("1234"),
	 .owner = OTHER_UID, .euid = OTHER_UID, .root = 1, .pin = "1234"},

	/* Contents refused */
	{.name = "empty file", T(""), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: empty PIN"},
	{.name = "only \\n", T("\n"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: empty PIN"},
	{.name = "only \\r\\n", T("\r\n"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: empty PIN"},
	{.name = "two trailing newlines", T("1234\n\n"),
	 .rc = GW_ERR_INVALID, .detail = "pin_file %F: " CTRL},
	{.name = "\\n\\r at the end", T("1234\n\r"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "lone trailing \\r", T("1234\r"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "\\r\\r\\n at the end", T("1234\r\r\n"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "only \\r", T("\r"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "leading newline", T("\n1234"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "newline in the middle", T("12\n34\n"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "tab", T("12\t34"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "NUL byte", T("12\0" "34"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "trailing NUL byte", T("1234\0"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "DEL", T("12\x7f"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "escape sequence", T("\x1b[0m1234"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " CTRL},
	{.name = "255-byte PIN", T(P254 "S"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " TOO_LONG},
	{.name = "255-byte PIN and \\n", T(P254 "S\n"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " TOO_LONG},
	{.name = "255-byte PIN and \\r\\n", T(P254 "S\r\n"),
	 .rc = GW_ERR_INVALID, .detail = "pin_file %F: " TOO_LONG},
	{.name = "256-byte PIN", T(P254 "ST"), .rc = GW_ERR_INVALID,
	 .detail = "pin_file %F: " TOO_LONG},
	{.name = "PIN of over 1000 bytes",
	 T(P254 P254 P254 P254 "0123456789012345678901234"),
	 .rc = GW_ERR_INVALID, .detail = "pin_file %F: " TOO_LONG},

	/* Modes refused */
	{.name = "mode 0640", T("1234"), .mode = 0640, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0640, must be 0600 or 0400"},
	{.name = "mode 0604", T("1234"), .mode = 0604, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0604, must be 0600 or 0400"},
	{.name = "mode 0644", T("1234"), .mode = 0644, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0644, must be 0600 or 0400"},
	{.name = "mode 0620: group-writable", T("1234"), .mode = 0620,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0620, must be 0600 or 0400"},
	{.name = "mode 0602: world-writable", T("1234"), .mode = 0602,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0602, must be 0600 or 0400"},
	{.name = "mode 0700: executable", T("1234"), .mode = 0700,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0700, must be 0600 or 0400"},
	{.name = "mode 0500", T("1234"), .mode = 0500, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0500, must be 0600 or 0400"},
	{.name = "mode 0666", T("1234"), .mode = 0666, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0666, must be 0600 or 0400"},
	{.name = "mode 4600: set-user-ID", T("1234"), .mode = 04600,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 4600, must be 0600 or 0400"},
	{.name = "mode 2600: set-group-ID", T("1234"), .mode = 02600,
	 .root = 1, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 2600, must be 0600 or 0400"},
	{.name = "mode 1400: sticky", T("1234"), .mode = 01400,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 1400, must be 0600 or 0400"},
	{.name = "mode 0200: write-only", T("1234"), .mode = 0200, .root = 1,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0200, must be 0600 or 0400"},
	{.name = "mode 0000", T("1234"), .mode = MODE_0000, .root = 1,
	 .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0000, must be 0600 or 0400"},

	/* Owners refused */
	{.name = "owned by another user", T("1234"), .owner = OTHER_UID,
	 .root = 1, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: owned by uid 4242, must be owned by uid %U "
		   "or root"},
	{.name = "owned by another user, mode 0400", T("1234"), .mode = 0400,
	 .owner = OTHER_UID, .root = 1, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: owned by uid 4242, must be owned by uid %U "
		   "or root"},
	{.name = "bad mode is reported before a bad owner", T("1234"),
	 .mode = 0644, .owner = OTHER_UID, .root = 1, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: mode 0644, must be 0600 or 0400"},

	/* Not a plain file */
	{.name = "symbolic link to a good PIN file", .kind = K_SYMLINK,
	 .rc = GW_ERR_IO, .detail = "pin_file %F: is a symbolic link"},
	{.name = "directory", .kind = K_DIR, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: not a regular file"},
	{.name = "FIFO with no writer", .kind = K_FIFO, .rc = GW_ERR_PERM,
	 .detail = "pin_file %F: not a regular file"},
	{.name = "character device /dev/null", .kind = K_DEVNULL,
	 .rc = GW_ERR_PERM, .detail = "pin_file %F: not a regular file"},
	{.name = "missing file", .kind = K_MISSING, .rc = GW_ERR_IO,
	 .detail = "pin_file %F: No such file or directory"},
	{.name = "path through a file", .kind = K_UNDER_FILE, T("1234"),
	 .rc = GW_ERR_IO, .detail = "pin_file %F: Not a directory"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static char tmpdir[64];

static void
expand(const char *tmpl, const char *path, char *out, size_t cap)
{
	char uid[16];
	const char *p, *sub;
	size_t n = 0, l;

	snprintf(uid, sizeof(uid), "%u", (unsigned)geteuid());
	for (p = tmpl; *p != '\0'; p++) {
		sub = NULL;
		if (p[0] == '%' && p[1] == 'F')
			sub = path;
		else if (p[0] == '%' && p[1] == 'U')
			sub = uid;
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

static void
path_of(const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void
write_file(const char *path, const char *text, size_t len, unsigned mode)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	if (len > 0)
		assert_int_equal(fwrite(text, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
group_setup(void **state)
{
	(void)state;
	if (unit_tmpdir(tmpdir, sizeof(tmpdir), "test_p11_pin") != 0)
		return -1;
	/* Lets a case that reads as another euid reach its file. */
	return chmod(tmpdir, 0711);
}

static int
group_teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

static int
case_setup(void **state)
{
	(void)state;
	gw_err_clear();
	alarm(10); /* a FIFO must not hang the run */
	return 0;
}

static int
case_teardown(void **state)
{
	static const char *const names[] = {"pin", "target", "link", "fifo"};
	char p[128];
	size_t i;

	(void)state;
	alarm(0);
	if (geteuid() != 0 && getuid() == 0 && seteuid(0) != 0)
		return -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		path_of(names[i], p, sizeof(p));
		unlink(p);
	}
	path_of("dir", p, sizeof(p));
	rmdir(p);
	return 0;
}

static void
test_case(void **state)
{
	const struct pin_case *tc = *state;
	char path[128], target[128], want[512];
	char buf[P11_PIN_MAX];
	size_t len = 99, i, want_len;
	unsigned mode;
	int rc;

	if (tc->root && geteuid() != 0)
		skip();
	mode = tc->mode == 0 ? 0600 : tc->mode & 07777;
	path_of("pin", path, sizeof(path));
	switch (tc->kind) {
	case K_FILE:
		write_file(path, tc->text, tc->len, mode);
		if (tc->owner != 0)
			assert_int_equal(chown(path, tc->owner, (gid_t)-1), 0);
		/* chown may clear set-ID bits: set the mode again. */
		assert_int_equal(chmod(path, mode), 0);
		break;
	case K_SYMLINK:
		path_of("target", target, sizeof(target));
		write_file(target, "1234", 4, 0600);
		path_of("link", path, sizeof(path));
		assert_int_equal(symlink(target, path), 0);
		break;
	case K_DIR:
		path_of("dir", path, sizeof(path));
		assert_int_equal(mkdir(path, 0700), 0);
		break;
	case K_FIFO:
		path_of("fifo", path, sizeof(path));
		assert_int_equal(mkfifo(path, 0600), 0);
		break;
	case K_MISSING:
		break;
	case K_UNDER_FILE:
		write_file(path, tc->text, tc->len, mode);
		path_of("pin/x", path, sizeof(path));
		break;
	case K_DEVNULL:
		snprintf(path, sizeof(path), "/dev/null");
		break;
	}
	if (tc->euid != 0)
		assert_int_equal(seteuid(tc->euid), 0);
	memset(buf, 'X', sizeof(buf));
	rc = p11_pin_read(path, buf, &len);
	if (tc->euid != 0)
		assert_int_equal(seteuid(0), 0);
	if (rc != tc->rc)
		fail_msg("rc %d (%s), want %d; detail '%s'", rc,
			 gw_strerror(rc), tc->rc, gw_err_detail());
	if (rc != 0) {
		expand(tc->detail, path, want, sizeof(want));
		assert_string_equal(gw_err_detail(), want);
		assert_int_equal(len, 0);
		for (i = 0; i < sizeof(buf); i++)
			if (buf[i] != '\0')
				fail_msg("buf[%zu] = 0x%02x: not wiped", i,
					 (unsigned char)buf[i]);
		return;
	}
	assert_string_equal(gw_err_detail(), "");
	want_len = tc->pin_len ? tc->pin_len : strlen(tc->pin);
	assert_int_equal(len, want_len);
	assert_memory_equal(buf, tc->pin, want_len);
	assert_int_equal(buf[len], '\0');
}

int
main(void)
{
	static struct CMUnitTest table[NCASES];
	size_t i;

	for (i = 0; i < NCASES; i++) {
		table[i].name = cases[i].name;
		table[i].test_func = test_case;
		table[i].setup_func = case_setup;
		table[i].teardown_func = case_teardown;
		table[i].initial_state = (void *)&cases[i];
	}
	return _cmocka_run_group_tests("p11_pin_read", table, NCASES,
				       group_setup, group_teardown) != 0;
}
