/* gw_err.c - error codes, their names and the latched detail message. */
#include "gw_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

static _Thread_local char err_detail[1024];
static _Thread_local int err_latched;
static _Thread_local const char *err_field;

static const struct {
	int code;
	const char *text;
	enum gw_err_class cls;
} err_table[] = {
	{GW_OK, "success", GW_ERRCLASS_NONE},
	{GW_ERR_NOMEM, "out of memory", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_INVALID, "invalid value", GW_ERRCLASS_PERMANENT},
	{GW_ERR_IO, "I/O error", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_CONFIG, "configuration error", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_NOT_FOUND, "not found", GW_ERRCLASS_PERMANENT},
	{GW_ERR_EXISTS, "already exists", GW_ERRCLASS_PERMANENT},
	{GW_ERR_PERM, "unsafe file permissions", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_LIMIT, "limit exceeded", GW_ERRCLASS_PERMANENT},
	{GW_ERR_CRYPTO, "cryptographic operation failed",
	 GW_ERRCLASS_PERMANENT},
	{GW_ERR_PARSE, "malformed input", GW_ERRCLASS_PERMANENT},
	{GW_ERR_REQUIREMENT, "certificate does not meet the requirements",
	 GW_ERRCLASS_PERMANENT},
	{GW_ERR_MISMATCH, "certificate does not match the key",
	 GW_ERRCLASS_PERMANENT},
	{GW_ERR_PASSPHRASE, "wrong passphrase", GW_ERRCLASS_PERMANENT},
	{GW_ERR_STORE, "store error", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_STORE_BUSY, "store busy", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_STORE_FULL, "store full", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11, "PKCS#11 error", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_PIN_INCORRECT, "token PIN incorrect",
	 GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_PIN_LOCKED, "token PIN locked", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_TOKEN_ABSENT, "token not present", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_DEVICE_REMOVED, "token device removed",
	 GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_SESSION, "token session lost", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_MECHANISM, "mechanism not supported by the token",
	 GW_ERRCLASS_PERMANENT},
	{GW_ERR_P11_NOT_LOGGED_IN, "not logged in to the token",
	 GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_MODULE, "PKCS#11 module could not be loaded",
	 GW_ERRCLASS_TEMPORARY},
	{GW_ERR_P11_DEVICE, "token device error", GW_ERRCLASS_TEMPORARY},
	{GW_ERR_UNSUPPORTED, "not supported", GW_ERRCLASS_PERMANENT},
	{GW_ERR_USAGE, "usage error", GW_ERRCLASS_PERMANENT},
	{GW_ERR_EXPIRED, "certificate not within its validity period",
	 GW_ERRCLASS_PERMANENT},
	{GW_ERR_PASSPHRASE_NEEDED, "passphrase needed", GW_ERRCLASS_PERMANENT},
	{GW_ERR_IN_USE, "refused (in use)", GW_ERRCLASS_PERMANENT},
	{GW_ERR_INTERNAL, "internal error", GW_ERRCLASS_TEMPORARY},
};

const char *
gw_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return err_table[i].text;
	return "unknown error";
}

enum gw_err_class
gw_err_class(int err)
{
	size_t i;

	for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return err_table[i].cls;
	return GW_ERRCLASS_TEMPORARY;
}

static void err_vlatch(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void
err_vlatch(const char *fmt, va_list ap)
{
	vsnprintf(err_detail, sizeof(err_detail), fmt, ap);
	err_latched = 1;
}

int
gw_err_set(int err, const char *fmt, ...)
{
	va_list ap;

	if (!err_latched) {
		va_start(ap, fmt);
		err_vlatch(fmt, ap);
		va_end(ap);
	}
	return err;
}

int
gw_err_set_ssl(int err, const char *fmt, ...)
{
	va_list ap;

	if (err_latched) {
		ERR_clear_error();
		return err;
	}
	va_start(ap, fmt);
	err_vlatch(fmt, ap);
	va_end(ap);
	gw_err_ssl_append(err_detail, sizeof(err_detail));
	return err;
}

int
gw_err_ssl_append(char *buf, size_t size)
{
	unsigned long e;
	size_t len;
	char tmp[256];
	const char *reason;
	int n, cut = 0;

	/* Oldest first: the outermost operation, then its causes. */
	while ((e = ERR_get_error()) != 0) {
		len = strlen(buf);
		if (len + 3 >= size) {
			cut = 1;
			continue;
		}
		if ((reason = ERR_reason_error_string(e)) == NULL) {
			ERR_error_string_n(e, tmp, sizeof(tmp));
			reason = tmp;
		}
		n = snprintf(buf + len, size - len, ": %s", reason);
		if (n < 0 || (size_t)n >= size - len)
			cut = 1;
	}
	return cut;
}

int
gw_err_set_at(int err, const char *field, const char *fmt, ...)
{
	va_list ap;

	if (!err_latched) {
		va_start(ap, fmt);
		err_vlatch(fmt, ap);
		va_end(ap);
		err_field = field;
	}
	return err;
}

const char *
gw_err_field(void)
{
	return err_latched ? err_field : NULL;
}

const char *
gw_err_detail(void)
{
	return err_latched ? err_detail : "";
}

void
gw_err_clear(void)
{
	err_detail[0] = '\0';
	err_latched = 0;
	err_field = NULL;
}
