/*
 * cli_show.c - output shared by the "list" and "show" subcommands: a
 * certificate's validity state and stored times.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "cert_info.h"
#include "cli.h"

const char *
cli_show_state(X509 *x, time_t now)
{
	if (X509_cmp_time(X509_get0_notAfter(x), &now) < 0)
		return "expired";
	if (X509_cmp_time(X509_get0_notBefore(x), &now) > 0)
		return "not-yet-valid";
	return "valid";
}

const char *
cli_show_time(uint64_t secs, char buf[32])
{
	time_t t = (time_t)secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

void
cli_show_status(X509 *x, int width, const char *expired,
		const char *not_yet)
{
	const char *st = cli_show_state(x, time(NULL));
	char t[32];

	if (strcmp(st, "valid") == 0)
		printf("%-*s valid until %s\n", width, "Status:",
		       cert_info_time(X509_get0_notAfter(x), t));
	else if (strcmp(st, "expired") == 0)
		printf("%-*s EXPIRED on %s%s\n", width, "Status:",
		       cert_info_time(X509_get0_notAfter(x), t), expired);
	else
		printf("%-*s NOT YET VALID until %s%s\n", width, "Status:",
		       cert_info_time(X509_get0_notBefore(x), t), not_yet);
}
