/* ctl_proto.c - smimegwd's status and control frames (ctl_proto.h). */
#include <string.h>
#include <time.h>

#include "ctl_proto.h"
#include "gw_err.h"

static const char *const outcome_names[CTL_NOUTCOMES] = {
    "delivered", "bounced", "dropped", "deferred", "rejected",
};

const char *
ctl_outcome_name(enum ctl_outcome o)
{
	return (unsigned)o < CTL_NOUTCOMES ? outcome_names[o] : "?";
}

enum ctl_outcome
ctl_outcome_of(const char *decision, const int *codes, size_t n)
{
	size_t i;
	int perm = 0;

	for (i = 0; i < n; i++) {
		if (codes[i] / 100 == 4)
			return CTL_DEFERRED;
		perm |= codes[i] / 100 == 5;
	}
	if (strcmp(decision, "defer") == 0)
		return CTL_DEFERRED;
	if (strcmp(decision, "reject") == 0)
		return CTL_REJECTED;
	if (perm || strcmp(decision, "bounce") == 0)
		return CTL_BOUNCED;
	if (strcmp(decision, "drop") == 0)
		return CTL_DROPPED;
	return CTL_DELIVERED;
}

int
ctl_counts_put(struct ipc_msg *m, const struct ctl_counts *c)
{
	int i;

	ipc_put_u64(m, c->sessions);
	ipc_put_u64(m, c->messages);
	for (i = 0; i < CTL_NOUTCOMES; i++)
		ipc_put_u64(m, c->by[i]);
	return ipc_put_u32(m, CTL_NOUTCOMES);
}

int
ctl_counts_get(struct ipc_frame *f, struct ctl_counts *c)
{
	uint32_t n = 0;
	int i;

	ipc_get_u64(f, &c->sessions);
	ipc_get_u64(f, &c->messages);
	for (i = 0; i < CTL_NOUTCOMES; i++)
		ipc_get_u64(f, &c->by[i]);
	if (ipc_get_u32(f, &n) != 0)
		return GW_ERR_PARSE;
	if (n != CTL_NOUTCOMES)
		return gw_err_set(GW_ERR_PARSE, "counters: %u outcomes, "
				  "expected %d", n, CTL_NOUTCOMES);
	return 0;
}

int
ctl_status_encode(struct ipc_msg *m, const struct ctl_status *st)
{
	uint32_t i, n = st->nworkers;

	if (n > CTL_WORKERS_MAX)
		n = CTL_WORKERS_MAX;
	ipc_put_u32(m, st->master_pid);
	ipc_put_u64(m, st->started);
	ipc_put_u64(m, st->now);
	ipc_put_u32(m, st->gen);
	ipc_put_str(m, st->conf);
	ipc_put_u32(m, st->keyd_pid);
	ipc_put_str(m, st->token);
	ipc_put_u64(m, st->token_since);
	ipc_put_str(m, st->token_detail);
	ctl_counts_put(m, &st->total);
	ipc_put_u32(m, n);
	for (i = 0; i < n; i++) {
		ipc_put_u32(m, st->w[i].pid);
		ipc_put_u32(m, st->w[i].gen);
		ipc_put_u32(m, st->w[i].index);
		ipc_put_u32(m, st->w[i].retiring);
		ctl_counts_put(m, &st->w[i].c);
	}
	return ipc_put_u32(m, 0);	/* the end mark */
}

int
ctl_status_decode(struct ipc_frame *f, struct ctl_status *st)
{
	uint32_t i, end = 1;

	memset(st, 0, sizeof(*st));
	ipc_get_u32(f, &st->master_pid);
	ipc_get_u64(f, &st->started);
	ipc_get_u64(f, &st->now);
	ipc_get_u32(f, &st->gen);
	ipc_get_str(f, st->conf, sizeof(st->conf));
	ipc_get_u32(f, &st->keyd_pid);
	ipc_get_str(f, st->token, sizeof(st->token));
	ipc_get_u64(f, &st->token_since);
	ipc_get_str(f, st->token_detail, sizeof(st->token_detail));
	if (ctl_counts_get(f, &st->total) != 0 ||
	    ipc_get_u32(f, &st->nworkers) != 0)
		return GW_ERR_PARSE;
	if (st->nworkers > CTL_WORKERS_MAX)
		return gw_err_set(GW_ERR_PARSE, "status: %u workers, at most "
				  "%d", st->nworkers, CTL_WORKERS_MAX);
	for (i = 0; i < st->nworkers; i++) {
		ipc_get_u32(f, &st->w[i].pid);
		ipc_get_u32(f, &st->w[i].gen);
		ipc_get_u32(f, &st->w[i].index);
		ipc_get_u32(f, &st->w[i].retiring);
		if (ctl_counts_get(f, &st->w[i].c) != 0)
			return GW_ERR_PARSE;
	}
	ipc_get_u32(f, &end);
	if (ipc_end(f) != 0)
		return GW_ERR_PARSE;
	if (end != 0)
		return gw_err_set(GW_ERR_PARSE, "status: no end mark");
	return 0;
}

int
ctl_result_encode(struct ipc_msg *m, int ok, const char *text)
{
	ipc_put_u32(m, ok ? 1 : 0);
	return ipc_put_str(m, text);
}

int
ctl_result_decode(struct ipc_frame *f, int *ok, char *text, size_t max)
{
	uint32_t v = 0;

	ipc_get_u32(f, &v);
	ipc_get_str(f, text, max);
	if (ipc_end(f) != 0)
		return GW_ERR_PARSE;
	if (v > 1)
		return gw_err_set(GW_ERR_PARSE, "result: ok is %u", v);
	*ok = (int)v;
	return 0;
}

/* ---- printing ------------------------------------------------------- */

static void
json_str(FILE *fp, const char *s)
{
	const unsigned char *p;

	fputc('"', fp);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

static void
json_counts(FILE *fp, const struct ctl_counts *c)
{
	int i;

	fprintf(fp, "\"sessions\":%llu,\"messages\":%llu",
		(unsigned long long)c->sessions,
		(unsigned long long)c->messages);
	for (i = 0; i < CTL_NOUTCOMES; i++)
		fprintf(fp, ",\"%s\":%llu", outcome_names[i],
			(unsigned long long)c->by[i]);
}

static void
print_json(FILE *fp, const struct ctl_status *st)
{
	uint32_t i;

	fprintf(fp, "{\"pid\":%u,\"started\":%llu,\"uptime\":%llu,"
		"\"generation\":%u,\"config\":",
		st->master_pid, (unsigned long long)st->started,
		(unsigned long long)(st->now >= st->started
					 ? st->now - st->started
					 : 0),
		st->gen);
	json_str(fp, st->conf);
	fprintf(fp, ",\"keyd\":{\"pid\":%u,\"token\":", st->keyd_pid);
	json_str(fp, st->token);
	fprintf(fp, ",\"since\":%llu,\"detail\":",
		(unsigned long long)st->token_since);
	json_str(fp, st->token_detail);
	fprintf(fp, "},\"messages\":{");
	json_counts(fp, &st->total);
	fprintf(fp, "},\"workers\":[");
	for (i = 0; i < st->nworkers; i++) {
		fprintf(fp, "%s{\"pid\":%u,\"generation\":%u,\"index\":%u,"
			"\"retiring\":%s,", i ? "," : "", st->w[i].pid,
			st->w[i].gen, st->w[i].index,
			st->w[i].retiring ? "true" : "false");
		json_counts(fp, &st->w[i].c);
		fputc('}', fp);
	}
	fprintf(fp, "]}\n");
}

/* "3d 04:05:06" */
static void
span(char *buf, size_t len, uint64_t secs)
{
	if (secs >= 86400)
		snprintf(buf, len, "%llud %02u:%02u:%02u",
			 (unsigned long long)(secs / 86400),
			 (unsigned)(secs % 86400 / 3600),
			 (unsigned)(secs % 3600 / 60), (unsigned)(secs % 60));
	else
		snprintf(buf, len, "%02u:%02u:%02u", (unsigned)(secs / 3600),
			 (unsigned)(secs % 3600 / 60), (unsigned)(secs % 60));
}

static void
utc(char *buf, size_t len, uint64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		snprintf(buf, len, "-");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_human(FILE *fp, const struct ctl_status *st)
{
	char up[64], at[32], since[64];
	uint32_t i;
	int k;

	span(up, sizeof(up), st->now >= st->started ? st->now - st->started
						    : 0);
	utc(at, sizeof(at), st->started);
	fprintf(fp, "smimegwd pid %u, up %s (since %s), generation %u\n",
		st->master_pid, up, at, st->gen);
	fprintf(fp, "configuration: %s\n", st->conf);
	if (st->token_since != 0 && st->now >= st->token_since)
		span(since, sizeof(since), st->now - st->token_since);
	else
		snprintf(since, sizeof(since), "-");
	if (st->keyd_pid != 0)
		fprintf(fp, "keyd: pid %u, token %s for %s%s%s\n",
			st->keyd_pid, st->token, since,
			*st->token_detail ? ": " : "", st->token_detail);
	else
		fprintf(fp, "keyd: not running\n");
	fprintf(fp, "messages since start: %llu",
		(unsigned long long)st->total.messages);
	for (k = 0; k < CTL_NOUTCOMES; k++)
		fprintf(fp, "%s%s %llu", k ? ", " : " (", outcome_names[k],
			(unsigned long long)st->total.by[k]);
	fprintf(fp, ")\n");
	fprintf(fp, "workers: %u\n", st->nworkers);
	fprintf(fp, "  %-8s %-5s %-5s %8s %9s\n", "pid", "gen", "index",
		"sessions", "messages");
	for (i = 0; i < st->nworkers; i++)
		fprintf(fp, "  %-8u %-5u %-5u %8llu %9llu%s\n", st->w[i].pid,
			st->w[i].gen, st->w[i].index,
			(unsigned long long)st->w[i].c.sessions,
			(unsigned long long)st->w[i].c.messages,
			st->w[i].retiring ? "  (retiring)" : "");
}

void
ctl_status_print(FILE *fp, const struct ctl_status *st, int json)
{
	if (json)
		print_json(fp, st);
	else
		print_human(fp, st);
}
