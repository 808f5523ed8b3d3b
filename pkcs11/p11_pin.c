/* p11_pin.c - the token PIN file. */
#include "p11_pin.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "gw_err.h"
#include "gw_perm.h"

int
p11_pin_read(const char *path, char buf[P11_PIN_MAX], size_t *len)
{
	struct stat st;
	ssize_t r;
	size_t n = 0, i;
	int fd = -1, rc, over = 0;

	*len = 0;
	/* O_NONBLOCK: a FIFO must be refused below, not wait for a writer. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) <
	    0) {
		rc = gw_err_set(GW_ERR_IO, "pin_file %s: %s", path,
				errno == ELOOP ? "is a symbolic link"
					       : strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		rc = gw_err_set(GW_ERR_IO, "pin_file %s: %s", path,
				strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = gw_err_set(GW_ERR_PERM, "pin_file %s: not a regular file",
				path);
		goto out;
	}
	/* Exactly 0600 or 0400: no group/other bits, no set-ID or sticky. */
	if ((st.st_mode & 07777) != 0600 && (st.st_mode & 07777) != 0400) {
		rc = gw_err_set(GW_ERR_PERM,
				"pin_file %s: mode %04o, must be 0600 or 0400",
				path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((rc = gw_perm_owner("pin_file", path, &st)) != 0)
		goto out;
	/* Up to P11_PIN_MAX - 2 bytes of PIN and "\r\n": the buffer full is
	 * fine if the file ends there, so probe one byte more. */
	for (;;) {
		char extra;

		if (n < P11_PIN_MAX)
			r = read(fd, buf + n, P11_PIN_MAX - n);
		else
			r = read(fd, &extra, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = gw_err_set(GW_ERR_IO, "pin_file %s: %s", path,
					strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (n == P11_PIN_MAX) {
			OPENSSL_cleanse(&extra, sizeof(extra));
			over = 1;
			break;
		}
		n += (size_t)r;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (over || n > P11_PIN_MAX - 2) {
		rc = gw_err_set(GW_ERR_INVALID,
				"pin_file %s: PIN longer than %d bytes", path,
				P11_PIN_MAX - 2);
		goto out;
	}
	if (n == 0) {
		rc = gw_err_set(GW_ERR_INVALID, "pin_file %s: empty PIN", path);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f) {
			rc = gw_err_set(GW_ERR_INVALID,
					"pin_file %s: PIN contains a control "
					"character (only one trailing newline "
					"is allowed)",
					path);
			goto out;
		}
	}
	buf[n] = '\0';
	*len = n;
	rc = 0;
out:
	if (rc != 0)
		OPENSSL_cleanse(buf, P11_PIN_MAX);
	if (fd >= 0)
		close(fd);
	return rc;
}
