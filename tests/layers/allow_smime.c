/* What gateway/smime/ may use: this must compile. */
#include "addr_rule.h"
#include "mime_parser.h"
#include "smime.h"

int layer_check(void);

int
layer_check(void)
{
	return 0;
}
