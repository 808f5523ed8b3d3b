/*
 * gw_err.h - error codes shared by every smimegw module.
 *
 * Functions that can fail return int: 0 on success, a negative GW_ERR_*
 * on failure.  gw_strerror() names the class of failure; the detail for
 * the operator (which field, which file, which PKCS#11 return value) is
 * latched with gw_err_set() where the failure is first seen and read
 * back with gw_err_detail().  The first detail set since the last
 * gw_err_clear() wins; later ones are ignored, so the message names the
 * root cause, not the last layer that noticed it.
 *
 * gw_err_class() maps a code to what a mail path does with it:
 * temporary (4xx, EX_TEMPFAIL) or permanent (5xx).
 */
#ifndef GW_ERR_H
#define GW_ERR_H

#include <stddef.h>

enum gw_err {
	GW_OK = 0,
	GW_ERR_NOMEM = -1,	   /* allocation failed */
	GW_ERR_INVALID = -2,	   /* bad argument or input value */
	GW_ERR_IO = -3,		   /* file or stream I/O failed */
	GW_ERR_CONFIG = -4,	   /* configuration file error */
	GW_ERR_NOT_FOUND = -5,	   /* named object does not exist */
	GW_ERR_EXISTS = -6,	   /* named object already exists */
	GW_ERR_PERM = -7,	   /* file permissions unsafe */
	GW_ERR_LIMIT = -8,	   /* a ceiling was exceeded */
	GW_ERR_CRYPTO = -9,	   /* OpenSSL operation failed */
	GW_ERR_PARSE = -10,	   /* malformed input */
	GW_ERR_REQUIREMENT = -11,  /* certificate fails requirements */
	GW_ERR_MISMATCH = -12,	   /* certificate and key do not match */
	GW_ERR_PASSPHRASE = -13,   /* wrong PKCS#12 passphrase */
	GW_ERR_STORE = -14,	   /* LMDB store failure */
	GW_ERR_STORE_BUSY = -15,   /* store temporarily unavailable */
	GW_ERR_STORE_FULL = -16,   /* store map full */
	GW_ERR_P11 = -20,	   /* PKCS#11 failure, see detail */
	GW_ERR_P11_PIN_INCORRECT = -21,
	GW_ERR_P11_PIN_LOCKED = -22,
	GW_ERR_P11_TOKEN_ABSENT = -23,
	GW_ERR_P11_DEVICE_REMOVED = -24,
	GW_ERR_P11_SESSION = -25,  /* session handle invalid / closed */
	GW_ERR_P11_MECHANISM = -26,
	GW_ERR_P11_NOT_LOGGED_IN = -27,
	GW_ERR_P11_MODULE = -28,   /* module could not be loaded */
	GW_ERR_P11_DEVICE = -29,   /* device or token memory error */
	GW_ERR_UNSUPPORTED = -30,  /* algorithm or feature not supported */
	GW_ERR_USAGE = -31,	   /* command line usage error */
	GW_ERR_EXPIRED = -32,	   /* certificate outside its validity */
	GW_ERR_PASSPHRASE_NEEDED = -40, /* a passphrase is needed, none given */
	GW_ERR_IN_USE = -41,	   /* refused: other objects depend on it */
	GW_ERR_INTERNAL = -99,
};

enum gw_err_class {
	GW_ERRCLASS_NONE,
	GW_ERRCLASS_TEMPORARY, /* retry later: 4xx / EX_TEMPFAIL */
	GW_ERRCLASS_PERMANENT, /* policy or bad input: 5xx */
};

const char *gw_strerror(int err);
enum gw_err_class gw_err_class(int err);

/*
 * Latch a detail message (printf format) for the current thread if none
 * is latched yet.  Always returns err, so callers can write
 * "return gw_err_set(GW_ERR_INVALID, "--days: ...")".
 */
int gw_err_set(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Like gw_err_set() but appends the drained OpenSSL error queue. */
int gw_err_set_ssl(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * The same, naming the field at fault: a neutral word ("identity",
 * "profile", "recipients", "country"...), never a command-line option.
 * A front end shows the field in its own terms (the CLI as its option,
 * "--cert:"); the detail must read well without it.  field must be a
 * string literal (it is kept, not copied).
 */
int gw_err_set_at(int err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Appends ": reason" to the string in buf (size bytes) for each error in
 * OpenSSL's queue, oldest first, and empties the queue.  1 when a reason
 * did not fit (cut or left out), else 0.  gw_err_set_ssl() and the
 * logger share it.
 */
int gw_err_ssl_append(char *buf, size_t size);
/* The field latched with the detail, or NULL. */
const char *gw_err_field(void);
/* The latched detail, or "" when none.  Valid until gw_err_clear(). */
const char *gw_err_detail(void);
void gw_err_clear(void);

#endif
