/* smimegw-keyd parses no mail: its library may not use mime_parser.h.
 * This must not compile. */
#include "mime_parser.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
