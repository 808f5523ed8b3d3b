/* mime_addr.c - addresses in header fields (mime_addr.h). */
#include "mime_addr.h"

#include <ctype.h>
#include <string.h>

void
mime_addr_from(const char *v, char *buf, size_t len)
{
	const char *s = v, *e, *lt;
	size_t n;

	buf[0] = '\0';
	if (v == NULL)
		return;
	if ((lt = strrchr(v, '<')) != NULL && (e = strchr(lt, '>')) != NULL)
		s = lt + 1;
	else {
		while (isspace((unsigned char)*s))
			s++;
		e = s + strcspn(s, " \t\r\n,;");
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= len || memchr(s, '@', n) == NULL)
		return;
	memcpy(buf, s, n);
	buf[n] = '\0';
}
