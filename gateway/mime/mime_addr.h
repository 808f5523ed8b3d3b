/*
 * mime_addr.h - addresses in header fields.
 */
#ifndef MIME_ADDR_H
#define MIME_ADDR_H

#include <stddef.h>

/*
 * The addr-spec of a From field value ("Name <a@b>" or "a@b": the text
 * in the last <...>, else the first word) into buf, as written; "" when
 * there is none, it lacks an '@', or it does not fit in len bytes.
 * from may be NULL (no field).
 */
void mime_addr_from(const char *from, char *buf, size_t len);

#endif
