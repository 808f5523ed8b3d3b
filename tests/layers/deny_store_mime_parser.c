/* gateway/store may not use mime_parser.h: this must not compile. */
#include "mime_parser.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
