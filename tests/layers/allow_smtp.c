/* The SMTP/LMTP engines see their own headers and lib/: this must
 * compile (so their deny cases fail for the missing header alone). */
#include "gw_buf.h"
#include "smtp_client.h"
#include "smtp_path.h"
#include "smtp_proto.h"
#include "smtp_server.h"

int layer_check(void);

int
layer_check(void)
{
	return SMTP_LINE_MIN > 0 && SMTP_MAILBOX_SIZE > 0 &&
	       SMTP_CLIENT_LINE_MAX > 0;
}
