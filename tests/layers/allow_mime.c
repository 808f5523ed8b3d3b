/* What gateway/mime/ may use: this must compile. */
#include "gw_buf.h"
#include "mime_codec.h"
#include "mime_parser.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
