/* gw_reply.c - the exit-status and SMTP-reply policy (gw_reply.h). */
#include <sysexits.h>

#include "gw_err.h"
#include "gw_reply.h"

struct gw_reply
gw_reply_for_error(int err)
{
	struct gw_reply r = {EX_TEMPFAIL, 451, "4.3.0"};

	switch (err) {
	case GW_OK:
		r.exit_status = EX_OK;
		r.smtp_code = 250;
		r.enhanced = "2.0.0";
		break;
	case GW_ERR_PARSE:
		r.exit_status = EX_DATAERR;
		r.smtp_code = 554;
		r.enhanced = "5.6.0";
		break;
	case GW_ERR_LIMIT:
		r.exit_status = EX_DATAERR;
		r.smtp_code = 552;
		r.enhanced = "5.3.4";
		break;
	default:
		break;
	}
	return r;
}

struct gw_reply
gw_reply_bounce(void)
{
	struct gw_reply r = {EX_UNAVAILABLE, 550, "5.7.1"};

	return r;
}

int
gw_reply_is_temporary(const struct gw_reply *r)
{
	return r->smtp_code / 100 == 4;
}
