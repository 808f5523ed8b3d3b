/*
 * smimegw-bench.c - benchmark of the S/MIME engine, the primitive limit
 * and the peers, driven by bench/run.sh (see docs/performance.md).
 *
 * Every measurement is CPU time of this process (or, for "spawn", of
 * each child as wait4() reports it): CLOCK_PROCESS_CPUTIME_ID around
 * the calls of a round, k of them, k chosen so that they take at least
 * --batch-cpu seconds (k = 1 for anything slower), and the median of
 * the per-call times of all rounds (measure_set()).  Results are tab-separated lines on stdout, one
 * per measurement, with a leading tag; diagnostics go to stderr.
 *
 *   gen SIZE FILE
 *	A realistic message of exactly SIZE bytes: Received/From/To/...,
 *	multipart/mixed with a quoted-printable text part and a base64
 *	attachment (76-column CRLF lines).
 *   keyuri -c CONF --identity NAME
 *	Prints the identity's private-key URI.
 *   prims -c CONF --identity NAME --swkey KEY --swcert CERT --sizes LIST
 *	RSA-2048 sign/verify/encrypt/decrypt with the software key, RSA
 *	sign/decrypt with the token key (engine), SHA-256 and AES-256-CBC
 *	encryption/decryption at each size in LIST.
 *	"prim NAME SIZE ITERS SAMPLES MEDIAN_S"
 *   op -c CONF --identity NAME --swkey KEY --swcert CERT --op OP
 *      --in FILE [--in-sw FILE] [--size N] [--rcpt CERT]...
 *	OP: sign (detached), sign-opaque, encrypt (to every --rcpt),
 *	decrypt (a message encrypted to the identity), verify (a message
 *	signed by the identity).  The token key is loaded once, before
 *	the clock starts, as the daemon does.  Timed in the same rounds
 *	(see cmd_op()): the operation; the primitives of its limit over N
 *	bytes (default: the input's length); the baseline, OpenSSL's CMS
 *	API on the same input with the same key ("api"), and for sign and
 *	decrypt with the software key ("api-sw"; decrypt: --in-sw, the
 *	same message encrypted to --swcert).  See "the baseline" below.
 *	"op OP N ITERS SAMPLES MEDIAN_S P10_S P90_S PEAKRSS_KB BASERSS_KB
 *	 LIMIT_S LIMIT_SW_S", then "part NAME N ITERS MEDIAN_S" for each
 *	primitive and "api NAME N ITERS SAMPLES MEDIAN_S P10_S P90_S
 *	PEAKRSS_KB BASERSS_KB RATIO RATIO_P10 RATIO_P90" for each baseline
 *	(RSS 0 unless --api-only; RATIO: the baseline's time over
 *	smimegw's in the same round, median and 10th/90th percentiles
 *	over the rounds, 0 with --api-only).  PEAKRSS is ru_maxrss after the warm-up calls of
 *	the operation alone, before the other components' buffers exist.
 *	--op-only: smimegw alone; --api-only: the API path with the token
 *	key alone (both for profiling, and the latter for the API's peak
 *	RSS); --no-api: without the baseline.
 *   process -c CONF --profile NAME --to ADDR --in FILE
 *	One outgoing message through process_message() with the sending
 *	profile NAME (sign-encrypt, triple, ...) to the envelope recipient
 *	ADDR, as "smimegw process" does: the profile and the recipient's
 *	key read from the store, the signing key through the token key
 *	source, per message.  "process NAME N ITERS SAMPLES MEDIAN_S P10_S
 *	P90_S"
 *   process -c CONF --incoming --to ADDR --in FILE
 *	The same for an incoming S/MIME message to ADDR, as smimegwd's
 *	incoming listener takes it (decrypted and verified, no harvesting);
 *	it must have been decrypted or verified.  NAME is "incoming".
 *   spawn [--log FILE] -- CMD ARG...
 *	Runs CMD once per sample (no shell), every child's user+system
 *	CPU from wait4().  "spawn ITERS MEDIAN_S P10_S P90_S PEAKRSS_KB"
 *   b64 [--size N]
 *	The base64 codec alone: N random bytes (default 10 MiB) encoded
 *	in 76-column CRLF lines, and that text decoded, by each
 *	instruction-set path the CPU has (mime_set_isa(): scalar,
 *	ssse3, avx2) and by OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock line
 *	by line, in the same rounds; every output checked first.
 *	"b64 enc|dec PATH INPUT_BYTES ITERS SAMPLES MEDIAN_S P10_S P90_S"
 *	per path, then "b64 auto PATH" (the path the gateway takes).
 *   crlf [--size N]
 *	The CRLF scan alone (mime_crlf_scan, as the decryption runs it on
 *	the plaintext): N bytes (default 10 MiB) of 76-letter CRLF lines
 *	fed in 4 KiB pieces, by each instruction-set path the CPU has
 *	(mime_set_isa(): scalar, sse2, avx2) in the same rounds.  At
 *	10 MiB the text comes from memory or L3; --size 32768 keeps it in
 *	the cache, as the decryption's freshly written plaintext is.
 *	"crlf PATH INPUT_BYTES ITERS SAMPLES MEDIAN_S P10_S P90_S" per
 *	path, then "crlf auto PATH".
 *
 * Common options: --samples N (number of timed rounds), --warmup N
 * (untimed calls first), --batch-cpu S, --max-cpu S (stop sampling when
 * the timed CPU exceeds S, keeping at least 5 samples), --slices N (a
 * round cut into at most N slices, default 16, see measure_set(); 1:
 * one whole batch of each component after the other), --malloc-default
 * (without it, the process starts with gw_buf_tune_malloc() as the
 * daemon does; the setting holds for every component, the API baseline
 * included).
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "gw_store.h"
#include "identity.h"
#include "cli.h"
#include "keysrc.h"
#include "gw_buf.h"
#include "gw_config.h"
#include "gw_err.h"
#include "mime_codec.h"
#include "mime_parser.h"
#include "smime.h"
#include "smime_open.h"
#include "engine.h"
#include "process.h"

extern char **environ;

#define MAX_RCPT 64
#define MAX_SIZES 16

struct opts {
	const char *conf, *identity, *op, *in, *in_sw, *swkey, *swcert, *sizes,
	    *log, *profile, *to;
	const char *rcpt[MAX_RCPT];
	size_t nrcpt;
	size_t samples, warmup;
	double batch_cpu, max_cpu;
	size_t slices; /* at most this many slices per round (measure_set) */
	int op_only;  /* op: smimegw alone (for profiling) */
	int api_only; /* op: the OpenSSL CMS API path alone (token key) */
	int no_api;   /* op: no API baseline */
	int incoming; /* process: the incoming direction */
	int malloc_default; /* leave glibc's malloc settings alone */
	char **cmd;  /* spawn: argv after "--" */
};

struct stats {
	size_t iters, samples;
	double median, p10, p90;
};

typedef int (*bench_fn)(void *arg);

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "smimegw-bench: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	ERR_print_errors_fp(stderr);
	exit(1);
}

static void
die_gw(const char *what, int rc)
{
	fprintf(stderr, "smimegw-bench: %s: %s: %s\n", what, gw_strerror(rc),
	        gw_err_detail());
	exit(1);
}

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long
maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;
	double f = pos - (double)i;

	return i + 1 < n ? v[i] * (1 - f) + v[i + 1] * f : v[n - 1];
}

static void
summarise(double *v, size_t n, size_t iters, struct stats *st)
{
	qsort(v, n, sizeof(*v), cmp_double);
	st->samples = n;
	st->iters = iters;
	st->median = quantile(v, n, 0.5);
	st->p10 = quantile(v, n, 0.1);
	st->p90 = quantile(v, n, 0.9);
}

/*
 * One thing to time: fn(arg), k calls per round, the per-call time of
 * every round in v.
 */
struct comp {
	const char *name;
	bench_fn fn;
	void *arg;
	size_t k, n;
	size_t q;     /* calls per slice of a round (measure_set) */
	double *v;
	double *raw; /* if set (o->samples long): the per-call time of each
	              * round, in round order (for paired ratios) */
	int paired;  /* compared with the other paired components round by
	              * round: they run side by side in every slice */
	struct stats st;
};

/* Runs c's calls of one slice; returns their CPU time. */
static double
run_calls(struct comp *c, size_t q)
{
	double t0 = cpu_now();
	size_t j;

	for (j = 0; j < q; j++)
		if (c->fn(c->arg) != 0)
			die(c->name, "failed");
	return cpu_now() - t0;
}

/*
 * Warm-up and batch-size calibration of each component, then
 * o->samples rounds in which every component runs its batch of k
 * calls, so that the components of a set see the same machine load (the
 * limit is measured alongside the operation it bounds).
 *
 * A round is cut into slices (at most o->slices, and no more than the
 * smallest batch has calls): in each slice every component runs its
 * share of its batch, the paired components (the operation and the API
 * path, whose per-round times are divided) first and next to each
 * other, in turns forward and backward.  The machine's speed changes in
 * bursts of a few milliseconds; whole batches run one after the other
 * put tens of milliseconds between the two sides of a paired ratio,
 * and a burst that falls on one side alone tilts that round's ratio.
 * With --slices 1 a round is one batch of each component in turn.
 */
static void
measure_set(struct comp *c, size_t nc, const struct opts *o)
{
	double t0, per, total = 0, *acc;
	size_t i, j, s, sl, ns, np = 0, warm = o->warmup ? o->warmup : 1;
	size_t *order;

	ns = o->slices ? o->slices : 1;
	for (i = 0; i < nc; i++) {
		t0 = cpu_now();
		for (j = 0; j < warm; j++)
			if (c[i].fn(c[i].arg) != 0)
				die(c[i].name, "failed during warm-up");
		per = (cpu_now() - t0) / (double)warm;
		if (per < 1e-9)
			per = 1e-9;
		c[i].k =
		    per >= o->batch_cpu ? 1 : (size_t)(o->batch_cpu / per) + 1;
		if (c[i].k < ns)
			ns = c[i].k;
		c[i].n = 0;
		if ((c[i].v = calloc(o->samples, sizeof(double))) == NULL)
			die("out of memory", NULL);
	}
	if ((acc = calloc(nc, sizeof(*acc))) == NULL ||
	    (order = calloc(nc, sizeof(*order))) == NULL)
		die("out of memory", NULL);
	/* the paired components first, then the rest, in array order */
	for (i = 0; i < nc; i++)
		if (c[i].paired)
			order[np++] = i;
	for (i = 0, j = np; i < nc; i++)
		if (!c[i].paired)
			order[j++] = i;
	for (i = 0; i < nc; i++) {
		c[i].q = (c[i].k + ns - 1) / ns;
		c[i].k = c[i].q * ns;
	}
	for (s = 0; s < o->samples; s++) {
		memset(acc, 0, nc * sizeof(*acc));
		for (sl = 0; sl < ns; sl++) {
			for (j = 0; j < nc; j++) {
				/* paired ones backward in every other slice */
				i = j < np && (sl & 1) ? order[np - 1 - j]
				                       : order[j];
				acc[i] += run_calls(&c[i], c[i].q);
			}
		}
		for (i = 0; i < nc; i++) {
			c[i].v[c[i].n++] = acc[i] / (double)c[i].k;
			total += acc[i];
		}
		if (o->max_cpu > 0 && total > o->max_cpu && s + 1 >= 5)
			break;
	}
	free(acc);
	free(order);
	for (i = 0; i < nc; i++) {
		if (c[i].raw != NULL)
			memcpy(c[i].raw, c[i].v, c[i].n * sizeof(double));
		summarise(c[i].v, c[i].n, c[i].n * c[i].k, &c[i].st);
		free(c[i].v);
		c[i].v = NULL;
	}
}

static void
measure(const char *name, bench_fn fn, void *arg, const struct opts *o,
        struct stats *st)
{
	struct comp c = {.name = name, .fn = fn, .arg = arg};

	measure_set(&c, 1, o);
	*st = c.st;
}

/* ---- files ---------------------------------------------------------- */

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp;
	struct stat sb;
	unsigned char *p;

	if ((fp = fopen(path, "rb")) == NULL || fstat(fileno(fp), &sb) != 0)
		die(path, strerror(errno));
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL)
		die("out of memory", NULL);
	if (fread(p, 1, (size_t)sb.st_size, fp) != (size_t)sb.st_size)
		die(path, "short read");
	fclose(fp);
	p[sb.st_size] = '\0';
	*len = (size_t)sb.st_size;
	return p;
}

static X509 *
read_cert(const char *path)
{
	FILE *fp;
	X509 *x;

	if ((fp = fopen(path, "r")) == NULL)
		die(path, strerror(errno));
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL)
		die(path, "not a PEM certificate");
	return x;
}

static EVP_PKEY *
read_key(const char *path)
{
	FILE *fp;
	EVP_PKEY *k;

	if ((fp = fopen(path, "r")) == NULL)
		die(path, strerror(errno));
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k == NULL)
		die(path, "not a PEM private key");
	return k;
}

/* ---- the identity and its token key, loaded once --------------------- */

struct ident {
	struct gw_config *cfg;
	struct engine e;	/* the store and the key source */
	struct identity *id;
	EVP_PKEY *key; /* NULL unless loaded */
};

static void
ident_open(const struct opts *o, int load_key, struct ident *ii)
{
	struct gw_txn *txn = NULL;
	int rc;

	memset(ii, 0, sizeof(*ii));
	if (o->conf == NULL || o->identity == NULL)
		die("-c CONF and --identity NAME are required", NULL);
	if ((rc = gw_config_load(o->conf, &ii->cfg)) != 0)
		die_gw(o->conf, rc);
	if ((rc = cli_engine_open(ii->cfg, &ii->e)) != 0)
		die_gw("opening the store", rc);
	if ((rc = gw_txn_begin(ii->e.store, GW_TXN_READ, &txn)) != 0)
		die_gw("reading the store", rc);
	rc = keysrc_find_signer(ii->e.keys, txn, o->identity, &ii->id);
	gw_txn_abort(txn);
	if (rc != 0)
		die_gw(o->identity, rc);
	if (load_key && (rc = keysrc_key(ii->e.keys, ii->id, &ii->key)) != 0)
		die_gw("loading the token key", rc);
}

static void
ident_close(struct ident *ii)
{
	EVP_PKEY_free(ii->key);
	identity_free(ii->id);
	cli_engine_close(&ii->e);
	gw_config_free(ii->cfg);
}

/* ---- gen: a realistic test message ----------------------------------- */

static const char *const lorem[] = {
    "Hello Bob,",
    "",
    "please find attached the quarterly figures for the Berlin and "
    "M=C3=BCnchen",
    "offices, as discussed in Tuesday's call.  The summary is on page two; the",
    "detailed breakdown per cost centre follows in the appendix.  Let me know",
    "if the numbers for the second quarter look different from what you have.",
    "",
    "Two points for the meeting on Friday:",
    "",
    " * the travel budget is 12 % under plan, mostly because of the cancelled",
    "   trade fair in April;",
    " * licence costs went up after the renewal; the new contract runs until",
    "   the end of next year.",
    "",
    "Gr=C3=BC=C3=9Fe / best regards,",
    "Alice",
    "",
    "-- ",
    "Alice Example, Finance, Example Organisation",
    "Phone +49 30 1234567 - https://www.example.test/",
};

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Bytes of the base64 body (76-column lines, CRLF each) for n raw bytes. */
static size_t
b64_body_len(size_t n)
{
	size_t chars = 4 * ((n + 2) / 3);

	return chars + 2 * ((chars + 75) / 76);
}

static int
cmd_gen(int argc, char **argv)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct gw_buf h, t, b;
	unsigned char raw[57], line[80];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t size, fixed, lo, hi, mid, nraw, pad, i, j, done, n, o;
	char *end;
	FILE *fp;

	if (argc != 3)
		die("usage: gen SIZE FILE", NULL);
	size = strtoull(argv[1], &end, 10);
	if (*end != '\0' || size < 3000)
		die("gen: SIZE must be a number of bytes >= 3000", NULL);
	gw_buf_init(&h, SMIME_MSG_MAX);
	gw_buf_init(&t, SMIME_MSG_MAX);
	gw_buf_init(&b, SMIME_MSG_MAX);
	gw_buf_addf(&h,
	            "Received: from mail.example.test (mail.example.test "
	            "[192.0.2.10])\r\n\tby mx.partner.example (Postfix) with "
	            "ESMTPS id 4Xq7Lm0Zkz2x\r\n\tfor <bob@partner.example>; "
	            "Sat, 28 Nov 2026 10:00:02 +0000 (UTC)\r\n"
	            "Received: from [198.51.100.7] (client.example.test "
	            "[198.51.100.7])\r\n\tby mail.example.test (Postfix) with "
	            "ESMTPSA id 9F1C2A0041\r\n\tfor <bob@partner.example>; "
	            "Sat, 28 Nov 2026 10:00:01 +0000 (UTC)\r\n"
	            "From: Alice Example <alice@example.test>\r\n"
	            "To: Bob Partner <bob@partner.example>\r\n"
	            "Subject: Quarterly figures (%zu bytes)\r\n"
	            "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
	            "Message-ID: <bench-%zu@example.test>\r\n"
	            "User-Agent: Mozilla/5.0 Thunderbird/115.5.0\r\n"
	            "MIME-Version: 1.0\r\n"
	            "Content-Type: multipart/mixed;\r\n"
	            "\tboundary=\"------------bench0123456789abcdef\"\r\n"
	            "Content-Language: en-GB\r\n\r\n"
	            "This is a multi-part message in MIME format.\r\n"
	            "--------------bench0123456789abcdef\r\n"
	            "Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
	            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	            size, size);
	for (i = 0; i < sizeof(lorem) / sizeof(lorem[0]); i++)
		gw_buf_addf(&t, "%s\r\n", lorem[i]);
	gw_buf_adds(&t,
	            "\r\n--------------bench0123456789abcdef\r\n"
	            "Content-Type: application/pdf; name=\"figures.pdf\"\r\n"
	            "Content-Disposition: attachment; "
	            "filename=\"figures.pdf\"\r\n"
	            "Content-Transfer-Encoding: base64\r\n\r\n");
	fixed =
	    h.len + t.len + strlen("--------------bench0123456789abcdef--\r\n");
	if (fixed + b64_body_len(1) > size)
		die("gen: SIZE too small", NULL);
	/* Largest attachment that fits; the rest pads the last text line. */
	lo = 1;
	hi = size;
	while (lo < hi) {
		mid = (lo + hi + 1) / 2;
		if (fixed + b64_body_len(mid) <= size)
			lo = mid;
		else
			hi = mid - 1;
	}
	nraw = lo;
	pad = size - fixed - b64_body_len(nraw);
	/* "Alice" ... the padding goes into a text line of its own. */
	if (pad > 0) {
		struct gw_buf t2;
		size_t cut;
		const char *sep = "\r\n--------------bench";

		gw_buf_init(&t2, SMIME_MSG_MAX);
		cut = (size_t)((unsigned char *)memmem(t.data, t.len, sep,
		                                       strlen(sep)) -
		               t.data);
		gw_buf_add(&t2, t.data, cut);
		/* pad bytes: a line of pad-2 dots plus CRLF, or one space */
		if (pad >= 2) {
			for (i = 0; i + 2 < pad; i++)
				gw_buf_add(&t2, ".", 1);
			gw_buf_adds(&t2, "\r\n");
		} else {
			gw_buf_adds(&t2, " ");
		}
		gw_buf_add(&t2, t.data + cut, t.len - cut);
		gw_buf_free(&t);
		t = t2;
	}
	/* The attachment: a pseudo-random "PDF". */
	for (done = 0; done < nraw; done += n) {
		n = nraw - done < 57 ? nraw - done : 57;
		for (i = 0; i < n; i++)
			raw[i] = (unsigned char)xorshift(&seed);
		if (done == 0 && n >= 8)
			memcpy(raw, "%PDF-1.7", 8);
		for (i = 0, o = 0; i < n; i += 3) {
			uint32_t v = (uint32_t)raw[i] << 16;

			if (i + 1 < n)
				v |= (uint32_t)raw[i + 1] << 8;
			if (i + 2 < n)
				v |= raw[i + 2];
			line[o++] = (unsigned char)b64[(v >> 18) & 63];
			line[o++] = (unsigned char)b64[(v >> 12) & 63];
			line[o++] =
			    i + 1 < n ? (unsigned char)b64[(v >> 6) & 63] : '=';
			line[o++] =
			    i + 2 < n ? (unsigned char)b64[v & 63] : '=';
		}
		line[o++] = '\r';
		line[o++] = '\n';
		gw_buf_add(&b, line, o);
	}
	gw_buf_adds(&b, "--------------bench0123456789abcdef--\r\n");
	if ((fp = fopen(argv[2], "wb")) == NULL)
		die(argv[2], strerror(errno));
	fwrite(h.data, 1, h.len, fp);
	fwrite(t.data, 1, t.len, fp);
	fwrite(b.data, 1, b.len, fp);
	if (fclose(fp) != 0)
		die(argv[2], "write error");
	j = h.len + t.len + b.len;
	gw_buf_free(&h);
	gw_buf_free(&t);
	gw_buf_free(&b);
	if (j != size) {
		fprintf(stderr, "gen: wrote %zu bytes, wanted %zu\n", j, size);
		return 1;
	}
	return 0;
}

/* ---- primitives ------------------------------------------------------ */

enum prim_kind {
	PRIM_SIGN, /* RSA PKCS#1 v1.5 signature of a SHA-256 digest */
	PRIM_VERIFY,
	PRIM_ENCRYPT, /* RSA PKCS#1 v1.5 key transport of 32 bytes */
	PRIM_DECRYPT,
	PRIM_SHA256,  /* of len bytes */
	PRIM_AES_ENC, /* AES-256-CBC of len bytes, key setup included */
	PRIM_AES_DEC,
};

struct prim {
	bench_fn fn;
	EVP_PKEY_CTX *pctx;
	EVP_MD_CTX *mctx;
	EVP_CIPHER_CTX *cctx;
	EVP_MD *md;
	EVP_CIPHER *cipher;
	const unsigned char *in;
	size_t inlen;
	unsigned char *out;
	size_t outcap;
	unsigned char *heap1, *heap2;
	unsigned char key[32], iv[16], dg[32], sv[32 + 512], ct[512];
	unsigned char scratch[512];
};

static int
p_sign(void *a)
{
	struct prim *p = a;
	size_t n = p->outcap;

	return EVP_PKEY_sign(p->pctx, p->out, &n, p->in, p->inlen) == 1 ? 0
	                                                                : -1;
}

static int
p_verify(void *a)
{
	struct prim *p = a;

	/* in: the digest (32 bytes), then the signature */
	return EVP_PKEY_verify(p->pctx, p->in + 32, p->inlen - 32, p->in, 32) ==
	               1
	           ? 0
	           : -1;
}

static int
p_encrypt(void *a)
{
	struct prim *p = a;
	size_t n = p->outcap;

	return EVP_PKEY_encrypt(p->pctx, p->out, &n, p->in, p->inlen) == 1 ? 0
	                                                                   : -1;
}

static int
p_decrypt(void *a)
{
	struct prim *p = a;
	size_t n = p->outcap;

	return EVP_PKEY_decrypt(p->pctx, p->out, &n, p->in, p->inlen) == 1 &&
	               n == 32
	           ? 0
	           : -1;
}

static int
p_digest(void *a)
{
	struct prim *p = a;
	unsigned int n;

	return EVP_DigestInit_ex(p->mctx, p->md, NULL) == 1 &&
	               EVP_DigestUpdate(p->mctx, p->in, p->inlen) == 1 &&
	               EVP_DigestFinal_ex(p->mctx, p->out, &n) == 1
	           ? 0
	           : -1;
}

static int
p_cipher(struct prim *p, int enc)
{
	int n1, n2;

	return EVP_CipherInit_ex2(p->cctx, p->cipher, p->key, p->iv, enc,
	                          NULL) == 1 &&
	               EVP_CipherUpdate(p->cctx, p->out, &n1, p->in,
	                                (int)p->inlen) == 1 &&
	               EVP_CipherFinal_ex(p->cctx, p->out + n1, &n2) == 1
	           ? 0
	           : -1;
}

static int
p_aes_enc(void *a)
{
	return p_cipher(a, 1);
}

static int
p_aes_dec(void *a)
{
	return p_cipher(a, 0);
}

/* An RSA context for PKCS#1 v1.5 (with SHA-256 for signatures). */
static EVP_PKEY_CTX *
rsa_ctx(EVP_PKEY *k, int (*init)(EVP_PKEY_CTX *), int sig)
{
	EVP_PKEY_CTX *c;

	if ((c = EVP_PKEY_CTX_new(k, NULL)) == NULL || init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) != 1 ||
	    (sig && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) != 1))
		die("setting up an RSA context", NULL);
	return c;
}

/*
 * Sets p up for one primitive.  RSA: priv and pub are the two halves of
 * one key pair (the half not timed makes the input: a signature to
 * verify, a ciphertext to decrypt); the context is made once, as
 * "primitives alone" asks.  Symmetric: data[0..len) is the message.
 */
static void
prim_setup(struct prim *p, enum prim_kind kind, EVP_PKEY *priv, EVP_PKEY *pub,
           const unsigned char *data, size_t len)
{
	EVP_PKEY_CTX *c;
	size_t n;
	int n1, n2;

	memset(p, 0, sizeof(*p));
	RAND_bytes(p->dg, sizeof(p->dg));
	RAND_bytes(p->key, sizeof(p->key));
	RAND_bytes(p->iv, sizeof(p->iv));
	p->out = p->scratch;
	p->outcap = sizeof(p->scratch);
	switch (kind) {
	case PRIM_SIGN:
		p->pctx = rsa_ctx(priv, EVP_PKEY_sign_init, 1);
		p->in = p->dg;
		p->inlen = sizeof(p->dg);
		p->fn = p_sign;
		return;
	case PRIM_VERIFY:
		c = rsa_ctx(priv, EVP_PKEY_sign_init, 1);
		n = sizeof(p->sv) - 32;
		memcpy(p->sv, p->dg, 32);
		if (EVP_PKEY_sign(c, p->sv + 32, &n, p->dg, 32) != 1)
			die("RSA sign", NULL);
		EVP_PKEY_CTX_free(c);
		p->pctx = rsa_ctx(pub, EVP_PKEY_verify_init, 1);
		p->in = p->sv;
		p->inlen = 32 + n;
		p->fn = p_verify;
		return;
	case PRIM_ENCRYPT:
		p->pctx = rsa_ctx(pub, EVP_PKEY_encrypt_init, 0);
		p->in = p->dg;
		p->inlen = sizeof(p->dg);
		p->fn = p_encrypt;
		return;
	case PRIM_DECRYPT:
		c = rsa_ctx(pub, EVP_PKEY_encrypt_init, 0);
		n = sizeof(p->ct);
		if (EVP_PKEY_encrypt(c, p->ct, &n, p->dg, 32) != 1)
			die("RSA encrypt", NULL);
		EVP_PKEY_CTX_free(c);
		p->pctx = rsa_ctx(priv, EVP_PKEY_decrypt_init, 0);
		p->in = p->ct;
		p->inlen = n;
		p->fn = p_decrypt;
		return;
	case PRIM_SHA256:
		if ((p->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
		    (p->mctx = EVP_MD_CTX_new()) == NULL)
			die("SHA-256", NULL);
		p->in = data;
		p->inlen = len;
		p->fn = p_digest;
		return;
	case PRIM_AES_ENC:
	case PRIM_AES_DEC:
		if ((p->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) ==
		        NULL ||
		    (p->cctx = EVP_CIPHER_CTX_new()) == NULL ||
		    (p->heap1 = malloc(len + 32)) == NULL)
			die("AES-256-CBC", NULL);
		p->out = p->heap1;
		p->outcap = len + 32;
		p->in = data;
		p->inlen = len;
		p->fn = p_aes_enc;
		if (kind == PRIM_AES_ENC)
			return;
		/* the ciphertext of the message, then its decryption */
		if ((p->heap2 = malloc(len + 32)) == NULL ||
		    EVP_EncryptInit_ex2(p->cctx, p->cipher, p->key, p->iv,
		                        NULL) != 1 ||
		    EVP_EncryptUpdate(p->cctx, p->heap2, &n1, data, (int)len) !=
		        1 ||
		    EVP_EncryptFinal_ex(p->cctx, p->heap2 + n1, &n2) != 1)
			die("AES-256-CBC", NULL);
		p->in = p->heap2;
		p->inlen = (size_t)(n1 + n2);
		p->fn = p_aes_dec;
		return;
	}
}

static void
prim_free(struct prim *p)
{
	EVP_PKEY_CTX_free(p->pctx);
	EVP_MD_CTX_free(p->mctx);
	EVP_CIPHER_CTX_free(p->cctx);
	EVP_MD_free(p->md);
	EVP_CIPHER_free(p->cipher);
	free(p->heap1);
	free(p->heap2);
}

static int
prim_run(void *a)
{
	struct prim *p = a;

	return p->fn(p);
}

static void
print_prim(const char *name, size_t size, const struct stats *st)
{
	printf("prim\t%s\t%zu\t%zu\t%zu\t%.9f\n", name, size, st->iters,
	       st->samples, st->median);
	fflush(stdout);
}

static void
time_prim(const char *name, size_t size, enum prim_kind kind, EVP_PKEY *priv,
          EVP_PKEY *pub, const unsigned char *data, const struct opts *o)
{
	struct prim p;
	struct stats st;

	prim_setup(&p, kind, priv, pub, data, size);
	measure(name, prim_run, &p, o, &st);
	print_prim(name, size, &st);
	prim_free(&p);
}

static void
parse_sizes(const char *list, size_t *sizes, size_t *n, size_t *max)
{
	const char *s;
	char *end;

	*n = 0;
	*max = 0;
	for (s = list; *s != '\0' && *n < MAX_SIZES; s = end) {
		sizes[*n] = strtoull(s, &end, 10);
		if (end == s || sizes[*n] == 0)
			die("--sizes: a comma-separated list of byte counts",
			    s);
		if (sizes[*n] > *max)
			*max = sizes[*n];
		(*n)++;
		if (*end == ',')
			end++;
	}
}

static int
cmd_prims(const struct opts *o)
{
	struct ident ii;
	EVP_PKEY *sw, *swpub, *tokpub;
	X509 *swcert;
	size_t sizes[MAX_SIZES], nsizes, i, maxsz;
	unsigned char *buf;

	if (o->swkey == NULL || o->swcert == NULL || o->sizes == NULL)
		die("prims needs --swkey, --swcert and --sizes", NULL);
	parse_sizes(o->sizes, sizes, &nsizes, &maxsz);
	sw = read_key(o->swkey);
	swcert = read_cert(o->swcert);
	swpub = X509_get0_pubkey(swcert);
	ident_open(o, 1, &ii);
	tokpub = X509_get0_pubkey(ii.id->cert);

	time_prim("rsa2048-sign-sw", 0, PRIM_SIGN, sw, swpub, NULL, o);
	time_prim("rsa2048-decrypt-sw", 0, PRIM_DECRYPT, sw, swpub, NULL, o);
	time_prim("rsa2048-sign-token", 0, PRIM_SIGN, ii.key, tokpub, NULL, o);
	time_prim("rsa2048-decrypt-token", 0, PRIM_DECRYPT, ii.key, tokpub,
	          NULL, o);
	time_prim("rsa2048-encrypt", 0, PRIM_ENCRYPT, sw, swpub, NULL, o);
	time_prim("rsa2048-verify", 0, PRIM_VERIFY, sw, swpub, NULL, o);

	if ((buf = malloc(maxsz)) == NULL)
		die("out of memory", NULL);
	RAND_bytes(buf, (int)maxsz);
	for (i = 0; i < nsizes; i++) {
		time_prim("sha256", sizes[i], PRIM_SHA256, NULL, NULL, buf, o);
		time_prim("aes-256-cbc-enc", sizes[i], PRIM_AES_ENC, NULL, NULL,
		          buf, o);
		time_prim("aes-256-cbc-dec", sizes[i], PRIM_AES_DEC, NULL, NULL,
		          buf, o);
	}
	free(buf);
	EVP_PKEY_free(sw);
	X509_free(swcert);
	ident_close(&ii);
	return 0;
}

/* ---- the engine operations ------------------------------------------- */

struct opctx {
	const unsigned char *msg;
	size_t len;
	struct smime_signer signer;
	struct smime_recipients rcpt;
	struct smime_open_opts oo;
	X509 *cert;
	EVP_PKEY *key;
	int (*run)(struct opctx *c, struct gw_buf *out);
};

static int
run_sign(struct opctx *c, struct gw_buf *out)
{
	return smime_sign(c->msg, c->len, &c->signer, out);
}

static int
run_encrypt(struct opctx *c, struct gw_buf *out)
{
	return smime_encrypt(c->msg, c->len, &c->rcpt, out);
}

static int
run_open(struct opctx *c, struct gw_buf *out)
{
	struct smime_open_result res;
	int rc;

	rc = smime_open(c->msg, c->len, &c->oo, out, &res);
	if (rc == 0 && res.status != SMIME_OK) {
		fprintf(stderr, "smimegw-bench: smime_open: %s (%s)\n",
		        res.reason, res.layers);
		rc = GW_ERR_INTERNAL;
	}
	if (rc == 0 && c->oo.only == SMIME_OPEN_DECRYPT && res.decrypted != 1)
		rc = GW_ERR_INTERNAL;
	if (rc == 0 && c->oo.only == SMIME_OPEN_VERIFY && res.signatures != 1)
		rc = GW_ERR_INTERNAL;
	smime_open_result_free(&res);
	return rc;
}

/* One message, as a caller of the engine API would: a fresh output. */
static int
op_once(void *a)
{
	struct opctx *c = a;
	struct gw_buf out;
	int rc;

	gw_buf_init(&out, SMIME_MSG_MAX);
	if ((rc = c->run(c, &out)) != 0)
		fprintf(stderr, "smimegw-bench: %s: %s\n", gw_strerror(rc),
		        gw_err_detail());
	gw_buf_free(&out);
	gw_err_clear();
	return rc;
}

/* The daemon looks the identity up in its cache: here, get1 of the
 * one loaded key. */
static int
find_key(void *arg, CMS_ContentInfo *cms, X509 **cert, EVP_PKEY **key)
{
	struct opctx *c = arg;

	if (!X509_up_ref(c->cert) || !EVP_PKEY_up_ref(c->key))
		return GW_ERR_INTERNAL;
	*cert = c->cert;
	*key = c->key;
	return 0;
}

/* Appends a primitive of the limit to the measurement set. */
static void
add_prim(struct comp *comp, size_t *nc, struct prim *pr, size_t *np,
         const char *name, enum prim_kind kind, EVP_PKEY *priv, EVP_PKEY *pub,
         const unsigned char *data, size_t len)
{
	prim_setup(&pr[*np], kind, priv, pub, data, len);
	comp[(*nc)++] =
	    (struct comp){.name = name, .fn = prim_run, .arg = &pr[(*np)++]};
}

/* ---- the baseline: OpenSSL's CMS API, in-process --------------------- */

/*
 * "C + OpenSSL CMS API, in-process" of PERF-ANCHORS.md: each operation
 * the way a typical C gateway writes it with the documented high-level
 * calls, on the same input file and with the same (already loaded) key
 * as smimegw.  OpenSSL treats its input as the entity: no header split,
 * no result fields.  Input from BIO_new_mem_buf, output into a
 * BIO_s_mem, both fresh per message, as op_once() does for smimegw.
 *   sign:    CMS_sign(cert, key, chain, in, CMS_DETACHED | CMS_STREAM),
 *            then SMIME_write_CMS(out, cms, in, CMS_DETACHED | CMS_STREAM),
 *            which reads the content once, digests it and writes it as
 *            the first part (OpenSSL's demos/cms/cms_sign.c; apps/cms.c
 *            adds CMS_STREAM to a detached S/MIME signature too).  The
 *            variant without CMS_STREAM (CMS_sign signs, BIO_reset,
 *            SMIME_write_CMS) does not work in OpenSSL 3.0: for a
 *            detached signature SMIME_write_CMS digests and signs the
 *            content a second time, the SignerInfo gets a second
 *            messageDigest and the signing fails ("attribute error").
 *   encrypt: CMS_encrypt(rcpts, in, EVP_aes_256_cbc(), 0), then
 *            SMIME_write_CMS(out, cms, in, 0)
 *   decrypt: SMIME_read_CMS(in, NULL), then
 *            CMS_decrypt(cms, key, cert, NULL, out, 0)
 *   verify:  SMIME_read_CMS(in, &dcont) (the detached content; NULL
 *            for an opaque signature), then
 *            CMS_verify(cms, NULL, store, dcont, out, 0), store = the
 *            trust anchors smimegw is given (the identity, partial chains)
 */
struct apictx {
	const char *name;
	const unsigned char *msg;
	size_t len;
	X509 *cert;		/* sign: signer; decrypt: recipient */
	EVP_PKEY *key;		/* sign, decrypt */
	STACK_OF(X509) *certs;	/* sign: extra certificates; encrypt: rcpts */
	X509_STORE *store;	/* verify */
	int (*run)(struct apictx *a, BIO *in, BIO *out);
	int keep_next;		/* api_output(): keep the next output */
	BIO *keep;
};

static int
api_sign(struct apictx *a, BIO *in, BIO *out)
{
	const unsigned flags = CMS_DETACHED | CMS_STREAM;
	CMS_ContentInfo *cms;
	int ok;

	if ((cms = CMS_sign(a->cert, a->key, a->certs, in, flags)) == NULL)
		return -1;
	ok = SMIME_write_CMS(out, cms, in, (int)flags) == 1;
	CMS_ContentInfo_free(cms);
	return ok ? 0 : -1;
}

static int
api_encrypt(struct apictx *a, BIO *in, BIO *out)
{
	CMS_ContentInfo *cms;
	int ok;

	if ((cms = CMS_encrypt(a->certs, in, EVP_aes_256_cbc(), 0)) == NULL)
		return -1;
	ok = SMIME_write_CMS(out, cms, in, 0) == 1;
	CMS_ContentInfo_free(cms);
	return ok ? 0 : -1;
}

static int
api_decrypt(struct apictx *a, BIO *in, BIO *out)
{
	CMS_ContentInfo *cms;
	int ok;

	if ((cms = SMIME_read_CMS(in, NULL)) == NULL)
		return -1;
	ok = CMS_decrypt(cms, a->key, a->cert, NULL, out, 0) == 1;
	CMS_ContentInfo_free(cms);
	return ok ? 0 : -1;
}

static int
api_verify(struct apictx *a, BIO *in, BIO *out)
{
	CMS_ContentInfo *cms;
	BIO *dcont = NULL;
	int ok;

	if ((cms = SMIME_read_CMS(in, &dcont)) == NULL)
		return -1;
	ok = CMS_verify(cms, NULL, a->store, dcont, out, 0) == 1;
	BIO_free(dcont);
	CMS_ContentInfo_free(cms);
	return ok ? 0 : -1;
}

/* One message through the API path: fresh input and output BIOs. */
static int
api_once(void *arg)
{
	struct apictx *a = arg;
	BIO *in, *out;
	int rc = -1;

	in = BIO_new_mem_buf(a->msg, (int)a->len);
	out = BIO_new(BIO_s_mem());
	if (in != NULL && out != NULL && a->run(a, in, out) == 0 &&
	    BIO_ctrl_pending(out) > 0)
		rc = 0;
	if (rc != 0) {
		fprintf(stderr, "smimegw-bench: %s failed\n", a->name);
		ERR_print_errors_fp(stderr);
	}
	ERR_clear_error();
	BIO_free(in);
	if (rc == 0 && a->keep_next) {
		a->keep_next = 0;
		a->keep = out;
	} else {
		BIO_free(out);
	}
	return rc;
}

/* The output of one API call (untimed, for the checks). */
static size_t
api_output(struct apictx *a, const unsigned char **p)
{
	char *d;
	long n;

	BIO_free(a->keep);
	a->keep = NULL;
	a->keep_next = 1;
	if (api_once(a) != 0)
		die(a->name, "failed");
	n = BIO_get_mem_data(a->keep, &d);
	*p = (const unsigned char *)d;
	return (size_t)n;
}

static int
same_bytes(const unsigned char *a, size_t an, const unsigned char *b,
           size_t bn)
{
	return an == bn && memcmp(a, b, an) == 0;
}

/*
 * The API's output through the API again (untimed): a signature it made
 * must verify with the signer as trust anchor and give back the input;
 * an envelope it made to the software certificate must decrypt to it.
 */
static void
api_roundtrip(struct apictx *a, int enc, X509 *swcert, EVP_PKEY *swkey)
{
	struct apictx b = {.name = "API round trip"};
	const unsigned char *p, *q;
	size_t n, m;

	n = api_output(a, &p);
	b.msg = p;
	b.len = n;
	if (enc) {
		if (X509_cmp(sk_X509_value(a->certs, 0), swcert) != 0)
			return; /* no key to check it with */
		b.cert = swcert;
		b.key = swkey;
		b.run = api_decrypt;
	} else {
		if ((b.store = X509_STORE_new()) == NULL ||
		    !X509_STORE_add_cert(b.store, a->cert))
			die("trust store", NULL);
		X509_STORE_set_flags(b.store, X509_V_FLAG_PARTIAL_CHAIN);
		b.run = api_verify;
		if (memmem(p, n, "micalg=\"sha-256\"", 16) == NULL)
			die(a->name, "the signature does not use SHA-256");
	}
	m = api_output(&b, &q);
	if (!same_bytes(q, m, a->msg, a->len))
		die(a->name, "the round trip does not give the input back");
	BIO_free(b.keep);
	X509_STORE_free(b.store);
}

/*
 * The operation, interleaved with the primitives of its limit
 * (PERF-ANCHORS.md) over the message size n:
 *   sign    = token RSA sign + SHA-256(n)   (sw: software RSA sign)
 *   verify  = RSA verify + SHA-256(n)
 *   encrypt = N RSA encrypt + AES-256-CBC encrypt(n)
 *   decrypt = token RSA decrypt + AES-256-CBC decrypt(n) (sw: software)
 * and with the OpenSSL CMS API path on the same input and key ("api"),
 * and for sign and decrypt with the software key ("api-sw"; decrypt
 * needs --in-sw, a message encrypted to --swcert).  Every component
 * runs its calls in every round (measure_set), so all of them see the
 * same machine load, and the operation and the API paths side by side
 * in each slice of a round (paired).
 */
static int
cmd_op(const struct opts *o)
{
	struct ident ii;
	struct opctx c;
	struct comp comp[6];
	struct prim pr[3];
	struct apictx api, apisw;
	struct gw_buf ref;
	X509_STORE *trust = NULL;
	EVP_PKEY *sw, *swpub, *tokpub, *rpub = NULL;
	X509 *swcert;
	unsigned char *msg, *msgsw = NULL;
	const unsigned char *p, *q;
	long base, peak;
	size_t i, n, m, nc = 0, np = 0, size, lensw = 0;
	double lim, lim_sw = 0, *raw[6] = {NULL};
	struct stats ratio;
	char *end;
	int sign, enc, dec, use_api, use_apisw;

	if (o->op == NULL || o->in == NULL || o->swkey == NULL ||
	    o->swcert == NULL)
		die("op needs --op, --in, --swkey and --swcert", NULL);
	memset(&c, 0, sizeof(c));
	memset(&api, 0, sizeof(api));
	memset(&apisw, 0, sizeof(apisw));
	msg = read_file(o->in, &c.len);
	c.msg = msg;
	size = c.len;
	if (o->sizes != NULL) {
		size = strtoull(o->sizes, &end, 10);
		if (*end != '\0' || size == 0 || size > c.len)
			die("--size: at most the input's length", o->sizes);
	}
	sw = read_key(o->swkey);
	swcert = read_cert(o->swcert);
	swpub = X509_get0_pubkey(swcert);
	sign = strncmp(o->op, "sign", 4) == 0;
	enc = strcmp(o->op, "encrypt") == 0;
	dec = strcmp(o->op, "decrypt") == 0;
	ident_open(o, sign || dec, &ii);
	tokpub = X509_get0_pubkey(ii.id->cert);
	c.cert = ii.id->cert;
	c.key = ii.key;
	api = (struct apictx){.name = "api", .msg = c.msg, .len = c.len,
	                      .cert = ii.id->cert, .key = ii.key};
	apisw = (struct apictx){.name = "api-sw", .msg = c.msg, .len = c.len,
	                        .cert = swcert, .key = sw};
	if (sign) {
		c.signer.cert = ii.id->cert;
		c.signer.key = ii.key;
		c.signer.chain = ii.id->chain;
		c.signer.mode = strcmp(o->op, "sign") == 0 ? SMIME_SIGN_DETACHED
		                                           : SMIME_SIGN_OPAQUE;
		c.run = run_sign;
		api.certs = ii.id->chain;
		api.run = apisw.run = api_sign;
	} else if (enc) {
		if (o->nrcpt == 0)
			die("encrypt needs --rcpt", NULL);
		if ((c.rcpt.certs = sk_X509_new_null()) == NULL)
			die("out of memory", NULL);
		for (i = 0; i < o->nrcpt; i++)
			sk_X509_push(c.rcpt.certs, read_cert(o->rcpt[i]));
		rpub = X509_get0_pubkey(sk_X509_value(c.rcpt.certs, 0));
		c.run = run_encrypt;
		api.certs = c.rcpt.certs;
		api.run = api_encrypt;
	} else if (dec || strcmp(o->op, "verify") == 0) {
		if ((trust = X509_STORE_new()) == NULL ||
		    !X509_STORE_add_cert(trust, ii.id->cert))
			die("trust store", NULL);
		X509_STORE_set_flags(trust, X509_V_FLAG_PARTIAL_CHAIN);
		c.oo.trust = trust;
		c.oo.authserv_id = "bench.example.test";
		c.oo.only = dec ? SMIME_OPEN_DECRYPT : SMIME_OPEN_VERIFY;
		c.oo.find_key = find_key;
		c.oo.find_key_arg = &c;
		c.run = run_open;
		api.store = trust;
		api.run = dec ? api_decrypt : api_verify;
		apisw.run = api_decrypt;
	} else {
		die("--op: sign, sign-opaque, encrypt, decrypt or verify",
		    o->op);
	}
	if (o->api_only && strcmp(o->op, "sign-opaque") == 0)
		die("--api-only: sign, encrypt, decrypt or verify", o->op);
	/* Peak RSS of the operation alone (smimegw, or with --api-only
	 * the API path), before any other buffers exist: the software-key
	 * input of the API path is read after it. */
	base = maxrss_kb();
	for (i = 0; i < (o->warmup ? o->warmup : 1); i++)
		if ((o->api_only ? api_once(&api) : op_once(&c)) != 0)
			die(o->op, "failed");
	peak = maxrss_kb();

	if (dec && o->in_sw != NULL) {
		msgsw = read_file(o->in_sw, &lensw);
		apisw.msg = msgsw;
		apisw.len = lensw;
	}
	use_api = !o->op_only && !o->no_api && strcmp(o->op, "sign-opaque");
	use_apisw = use_api && !o->api_only &&
	            ((sign) || (dec && msgsw != NULL));

	if (o->api_only) {
		comp[nc++] = (struct comp){.name = "api", .fn = api_once,
		                           .arg = &api};
		goto measure;
	}
	comp[nc++] = (struct comp){.name = o->op, .fn = op_once, .arg = &c,
	                           .paired = 1};
	if (o->op_only) {
		/* profiling: the operation alone */
	} else if (sign) {
		add_prim(comp, &nc, pr, &np, "rsa-sign-token", PRIM_SIGN,
		         ii.key, tokpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "rsa-sign-sw", PRIM_SIGN, sw,
		         swpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "sha256", PRIM_SHA256, NULL, NULL,
		         c.msg, size);
	} else if (enc) {
		add_prim(comp, &nc, pr, &np, "rsa-encrypt", PRIM_ENCRYPT, NULL,
		         rpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "aes-256-cbc-enc", PRIM_AES_ENC,
		         NULL, NULL, c.msg, size);
	} else if (dec) {
		add_prim(comp, &nc, pr, &np, "rsa-decrypt-token", PRIM_DECRYPT,
		         ii.key, tokpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "rsa-decrypt-sw", PRIM_DECRYPT, sw,
		         swpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "aes-256-cbc-dec", PRIM_AES_DEC,
		         NULL, NULL, c.msg, size);
	} else {
		add_prim(comp, &nc, pr, &np, "rsa-verify", PRIM_VERIFY, sw,
		         swpub, NULL, 0);
		add_prim(comp, &nc, pr, &np, "sha256", PRIM_SHA256, NULL, NULL,
		         c.msg, size);
	}

	/*
	 * Both paths do the same work (untimed): the API's signatures and
	 * envelopes survive a round trip through the API; what it decrypts
	 * or verifies is the entity that smimegw puts out.
	 */
	if (use_api && (sign || enc)) {
		api_roundtrip(&api, enc, swcert, sw);
		if (use_apisw)
			api_roundtrip(&apisw, 0, swcert, sw);
	} else if (use_api) {
		gw_buf_init(&ref, SMIME_MSG_MAX);
		/* A verified opaque signature keeps its entity encoded
		 * unless it is removed: removed here, for the check only. */
		c.oo.remove_signature = !dec;
		if (c.run(&c, &ref) != 0)
			die(o->op, "failed");
		c.oo.remove_signature = 0;
		n = api_output(&api, &p);
		if (dec ? n > ref.len || memcmp(ref.data + ref.len - n, p, n)
		        : memmem(ref.data, ref.len, p, n) == NULL)
			die(o->op, "the API path and smimegw disagree");
		if (use_apisw) {
			m = api_output(&apisw, &q);
			if (!same_bytes(p, n, q, m))
				die(o->op, "--in-sw does not hold the same "
				           "entity as --in");
		}
		gw_buf_free(&ref);
	}
	BIO_free(api.keep);
	BIO_free(apisw.keep);
	api.keep = apisw.keep = NULL;
	if (use_api)
		comp[nc++] = (struct comp){.name = "api", .fn = api_once,
		                           .arg = &api, .paired = 1};
	if (use_apisw)
		comp[nc++] = (struct comp){.name = "api-sw", .fn = api_once,
		                           .arg = &apisw, .paired = 1};

measure:
	/* smimegw ÷ API per round: API time / smimegw time, paired */
	for (i = 0; i < nc; i++)
		if ((i == 0 || comp[i].fn == api_once) &&
		    (comp[i].raw = raw[i] = calloc(o->samples,
		                                    sizeof(double))) == NULL)
			die("out of memory", NULL);
	measure_set(comp, nc, o);

	n = enc ? o->nrcpt : 1;
	if (o->op_only || o->api_only) {
		lim = 0;
	} else if (sign || dec) {
		lim = comp[1].st.median + comp[3].st.median;
		lim_sw = comp[2].st.median + comp[3].st.median;
	} else {
		lim = (double)n * comp[1].st.median + comp[2].st.median;
	}
	for (i = 0; i < nc; i++) {
		const struct stats *st = &comp[i].st;

		if (i == 0 && !o->api_only)
			printf("op\t%s\t%zu\t%zu\t%zu\t%.9f\t%.9f\t%.9f\t%ld\t%"
			       "ld\t%.9f\t%.9f\n",
			       o->op, size, st->iters, st->samples, st->median,
			       st->p10, st->p90, peak, base, lim, lim_sw);
		else if (comp[i].fn == api_once) {
			memset(&ratio, 0, sizeof(ratio));
			if (!o->api_only) {
				for (m = 0; m < comp[i].st.samples; m++)
					raw[i][m] /= raw[0][m];
				summarise(raw[i], comp[i].st.samples,
				          comp[i].st.samples, &ratio);
			}
			printf("api\t%s\t%zu\t%zu\t%zu\t%.9f\t%.9f\t%.9f\t%ld\t%"
			       "ld\t%.4f\t%.4f\t%.4f\n",
			       comp[i].name, size, st->iters, st->samples,
			       st->median, st->p10, st->p90,
			       o->api_only ? peak : 0, o->api_only ? base : 0,
			       ratio.median, ratio.p10, ratio.p90);
		} else
			printf("part\t%s\t%zu\t%zu\t%.9f\n", comp[i].name,
			       size, st->iters, st->median);
	}
	for (i = 0; i < np; i++)
		prim_free(&pr[i]);
	for (i = 0; i < nc; i++)
		free(raw[i]);
	X509_STORE_free(trust);
	sk_X509_pop_free(c.rcpt.certs, X509_free);
	ident_close(&ii);
	EVP_PKEY_free(sw);
	X509_free(swcert);
	free(msg);
	free(msgsw);
	return 0;
}

/* ---- process: one message through the pipeline ----------------------- */

struct procctx {
	struct engine e;
	struct process_req req;
	const unsigned char *msg;
	size_t len;
};

static int
process_once(void *a)
{
	struct procctx *c = a;
	struct process_result res;
	enum process_outcome want = PROCESS_RCPT_PROTECTED;
	int rc;

	if (c->req.direction == PROCESS_INCOMING)
		want = PROCESS_RCPT_DELIVERED;
	process_result_init(&res);
	rc = process_message(&c->e, &c->req, c->msg, c->len, &res);
	if (rc != 0)
		fprintf(stderr, "smimegw-bench: process: %s: %s\n",
		        gw_strerror(rc), gw_err_detail());
	else if (c->req.direction == PROCESS_INCOMING &&
	         res.open.decrypted == 0 && res.open.signatures == 0) {
		fprintf(stderr, "smimegw-bench: process: neither decrypted "
		        "nor verified: %s\n", res.open.reason);
		rc = GW_ERR_INTERNAL;
	} else if (res.decision != PROCESS_DELIVER || res.ncopies != 1 ||
	         res.rcpts[0].outcome != want) {
		fprintf(stderr, "smimegw-bench: process: not protected: %s\n",
		        res.reason);
		rc = GW_ERR_INTERNAL;
	}
	process_result_free(&res);
	gw_err_clear();
	return rc;
}

static int
cmd_process(const struct opts *o)
{
	struct gw_config *cfg = NULL;
	struct procctx c;
	struct stats st;
	unsigned char *msg;
	int rc;

	if (o->conf == NULL || (o->profile == NULL) == !o->incoming ||
	    o->to == NULL || o->in == NULL)
		die("process needs -c, --profile or --incoming, --to and --in",
		    NULL);
	memset(&c, 0, sizeof(c));
	msg = read_file(o->in, &c.len);
	c.msg = msg;
	if ((rc = gw_config_load(o->conf, &cfg)) != 0)
		die_gw(o->conf, rc);
	if ((rc = cli_engine_open(cfg, &c.e)) != 0)
		die_gw("opening the store", rc);
	c.req.direction = PROCESS_OUTGOING;
	c.req.from = "alice@example.test";
	c.req.to = &o->to;
	c.req.nto = 1;
	c.req.profile = o->profile;
	c.req.authserv_id = "bench.example.test";
	if (o->incoming) {
		/* as smimegwd's incoming listener asks (worker.c request()) */
		c.req.direction = PROCESS_INCOMING;
		c.req.from = "bob@partner.example";
	}
	measure(o->incoming ? "incoming" : o->profile, process_once, &c, o,
	        &st);
	printf("process\t%s\t%zu\t%zu\t%zu\t%.9f\t%.9f\t%.9f\n",
	       o->incoming ? "incoming" : o->profile, c.len, st.iters, st.samples, st.median, st.p10, st.p90);
	cli_engine_close(&c.e);
	gw_config_free(cfg);
	free(msg);
	return 0;
}

/* ---- peers: one process per message ----------------------------------- */

struct spawn_ctx {
	char **argv;
	posix_spawn_file_actions_t fa;
	long peak_kb;
	double last_cpu;
};

static int
spawn_once(struct spawn_ctx *s)
{
	struct rusage ru;
	pid_t pid;
	int status, rc;

	if ((rc = posix_spawnp(&pid, s->argv[0], &s->fa, NULL, s->argv,
	                       environ)) != 0)
		die(s->argv[0], strerror(rc));
	if (wait4(pid, &status, 0, &ru) != pid)
		die("wait4", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "smimegw-bench: %s exited with status %d\n",
		        s->argv[0], status);
		return -1;
	}
	if (ru.ru_maxrss > s->peak_kb)
		s->peak_kb = ru.ru_maxrss;
	s->last_cpu =
	    (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	return 0;
}

static int
cmd_spawn(const struct opts *o)
{
	struct spawn_ctx s;
	struct stats st;
	double *v;
	size_t i;

	if (o->cmd == NULL || o->cmd[0] == NULL)
		die("spawn needs -- CMD ARG...", NULL);
	memset(&s, 0, sizeof(s));
	s.argv = o->cmd;
	posix_spawn_file_actions_init(&s.fa);
	posix_spawn_file_actions_addopen(&s.fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&s.fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&s.fa, 2,
	                                 o->log ? o->log : "/dev/null",
	                                 O_WRONLY | O_CREAT | O_APPEND, 0600);
	for (i = 0; i < (o->warmup ? o->warmup : 1); i++)
		if (spawn_once(&s) != 0)
			die("spawn", "the command failed (see --log)");
	s.peak_kb = 0;
	if ((v = calloc(o->samples, sizeof(*v))) == NULL)
		die("out of memory", NULL);
	for (i = 0; i < o->samples; i++) {
		if (spawn_once(&s) != 0)
			die("spawn", "the command failed (see --log)");
		v[i] = s.last_cpu;
	}
	summarise(v, o->samples, o->samples, &st);
	printf("spawn\t%zu\t%.9f\t%.9f\t%.9f\t%ld\n", st.iters, st.median,
	       st.p10, st.p90, s.peak_kb);
	free(v);
	posix_spawn_file_actions_destroy(&s.fa);
	return 0;
}

static int
cmd_keyuri(const struct opts *o)
{
	struct ident ii;

	ident_open(o, 0, &ii);
	printf("%s\n", ii.id->key_uri);
	ident_close(&ii);
	return 0;
}

/* ---- the codec micro-benchmarks: shared --------------------------------- */

/* An instruction-set path (MIME_ISA_*; 0: not one of ours). */
struct isa_path {
	const char *name;
	int isa;
};

/* The last of paths (in ascending order) at or below the level the CPU
 * has: the path the gateway takes. */
static const char *
isa_auto(const struct isa_path *paths, size_t np)
{
	const char *best = paths[0].name;
	size_t i;

	mime_set_isa(MIME_ISA_AUTO);
	for (i = 0; i < np; i++)
		if (paths[i].isa != 0 && paths[i].isa <= mime_isa())
			best = paths[i].name;
	return best;
}

/* --size N, default 10 MiB. */
static size_t
micro_size(const struct opts *o)
{
	size_t n = 10485760;
	char *end;

	if (o->sizes != NULL) {
		n = (size_t)strtoull(o->sizes, &end, 10);
		if (*end != '\0' || n == 0)
			die("bad --size", o->sizes);
	}
	return n;
}

/* ---- base64 codec ------------------------------------------------------ */

/*
 * One path of the base64 micro-benchmark: our codec with one
 * instruction-set path forced (isa MIME_ISA_*), or OpenSSL's
 * EVP_EncodeBlock/EVP_DecodeBlock line by line (isa 0), the way a
 * caller writes and reads 76-column CRLF lines with them.
 */
struct b64path {
	int isa;
	int enc;
	const unsigned char *in;
	size_t inlen;
	unsigned char *out;
	size_t outsz, outlen;
};

static int
b64_once(void *a)
{
	struct b64path *p = a;
	size_t i, o, n, len;
	const unsigned char *lf;
	int r, pad;

	if (p->isa != 0) {
		if (mime_set_isa(p->isa) != 0)
			return -1;
		if (p->enc)
			return mime_base64_encode(p->in, p->inlen, p->out,
			                          p->outsz, &p->outlen);
		return mime_base64_decode(p->in, p->inlen, p->out, p->outsz,
		                          &p->outlen, NULL);
	}
	if (p->enc) {
		/* 57 bytes make a line of 76 characters (and its NUL,
		 * which the CR overwrites). */
		for (i = 0, o = 0; i < p->inlen; i += n, o += 78) {
			n = p->inlen - i < 57 ? p->inlen - i : 57;
			len = (size_t)EVP_EncodeBlock(p->out + o, p->in + i,
			                              (int)n);
			p->out[o + len] = '\r';
			p->out[o + len + 1] = '\n';
			o = o + len + 2 - 78;
		}
		p->outlen = o;
		return 0;
	}
	for (i = 0, o = 0; i < p->inlen; i = (size_t)(lf - p->in) + 1) {
		lf = memchr(p->in + i, '\n', p->inlen - i);
		if (lf == NULL)
			return -1;
		len = (size_t)(lf - p->in) - i;
		if (len > 0 && p->in[i + len - 1] == '\r')
			len--;
		if ((r = EVP_DecodeBlock(p->out + o, p->in + i, (int)len)) < 0)
			return -1;
		/* EVP_DecodeBlock counts the bytes of the padding. */
		pad = len > 0 && p->in[i + len - 1] == '=';
		pad += len > 1 && p->in[i + len - 2] == '=';
		o += (size_t)r - (size_t)pad;
	}
	p->outlen = o;
	return 0;
}

/*
 * b64 [--size N]: N random bytes (default 10 MiB) encoded in 76-column
 * CRLF lines and that text decoded, by every instruction-set path the
 * CPU has and by OpenSSL, all in the same rounds.  Every path's output
 * is first checked against the scalar one.  One line per path:
 * "b64 enc|dec PATH INPUT_BYTES ITERS SAMPLES MEDIAN_S P10_S P90_S",
 * then "b64 auto PATH" (what the gateway takes on this CPU).
 */
static int
cmd_b64(const struct opts *o)
{
	static const struct isa_path paths[] = {
	    {"scalar", MIME_ISA_SCALAR},
	    {"ssse3", MIME_ISA_SSSE3},
	    {"avx2", MIME_ISA_AVX2},
	    {"openssl", 0},
	};
	enum { NP = sizeof(paths) / sizeof(paths[0]) };
	struct b64path bp[2 * NP];
	struct comp comp[2 * NP];
	const char *names[2 * NP];
	unsigned char *raw, *enc;
	size_t n = micro_size(o), enclen, encsz, decsz, i, j, nc = 0;
	uint64_t seed = 0x2545f4914f6cdd1du;

	encsz = mime_base64_encoded_max(n);
	decsz = mime_base64_decoded_max(encsz);
	if ((raw = malloc(n)) == NULL || (enc = malloc(encsz)) == NULL)
		die("out of memory", NULL);
	for (i = 0; i < n; i++)
		raw[i] = (unsigned char)xorshift(&seed);
	if (mime_set_isa(MIME_ISA_SCALAR) != 0 ||
	    mime_base64_encode(raw, n, enc, encsz, &enclen) != 0)
		die("b64", "scalar encoding failed");
	memset(bp, 0, sizeof(bp));
	memset(comp, 0, sizeof(comp));
	for (j = 0; j < 2; j++) {
		for (i = 0; i < NP; i++) {
			struct b64path *p = &bp[nc];

			if (paths[i].isa != 0 &&
			    mime_set_isa(paths[i].isa) != 0) {
				fprintf(stderr, "smimegw-bench: b64: no %s "
				        "path on this CPU\n", paths[i].name);
				continue;
			}
			p->isa = paths[i].isa;
			p->enc = j == 0;
			p->in = p->enc ? raw : enc;
			p->inlen = p->enc ? n : enclen;
			p->outsz = p->enc ? encsz : decsz;
			if ((p->out = malloc(p->outsz)) == NULL)
				die("out of memory", NULL);
			if (b64_once(p) != 0 ||
			    (p->enc ? p->outlen != enclen ||
			                  memcmp(p->out, enc, enclen) != 0
			            : p->outlen != n ||
			                  memcmp(p->out, raw, n) != 0))
				die(paths[i].name,
				    p->enc ? "encoding differs from scalar"
				           : "decoding differs from scalar");
			names[nc] = paths[i].name;
			comp[nc].name = paths[i].name;
			comp[nc].fn = b64_once;
			comp[nc].arg = p;
			nc++;
		}
	}
	measure_set(comp, nc, o);
	for (i = 0; i < nc; i++)
		printf("b64\t%s\t%s\t%zu\t%zu\t%zu\t%.9f\t%.9f\t%.9f\n",
		       bp[i].enc ? "enc" : "dec", names[i], bp[i].inlen,
		       comp[i].st.iters, comp[i].st.samples, comp[i].st.median,
		       comp[i].st.p10, comp[i].st.p90);
	printf("b64\tauto\t%s\n", isa_auto(paths, NP));
	for (i = 0; i < nc; i++)
		free(bp[i].out);
	free(raw);
	free(enc);
	return 0;
}

/* ---- CRLF scan ------------------------------------------------------- */

#define CRLF_PIECE 4096

/* One path of the CRLF-scan micro-benchmark (isa MIME_ISA_*). */
struct crlfpath {
	int isa;
	const unsigned char *in;
	size_t inlen;
};

static int
crlf_once(void *a)
{
	struct crlfpath *p = a;
	struct mime_crlf_scan sc;
	size_t i, n;

	if (mime_set_isa(p->isa) != 0)
		return -1;
	mime_crlf_scan_init(&sc);
	for (i = 0; i < p->inlen; i += n) {
		n = p->inlen - i < CRLF_PIECE ? p->inlen - i : CRLF_PIECE;
		mime_crlf_scan_feed(&sc, p->in + i, n);
	}
	return mime_crlf_scan_done(&sc) ? 0 : -1;
}

/*
 * crlf [--size N]: N bytes (default 10 MiB) of 76-letter CRLF lines
 * through mime_crlf_scan in 4 KiB pieces, by every instruction-set path
 * the CPU has, in the same rounds (each must find the text CRLF-only).
 * "crlf PATH INPUT_BYTES ITERS SAMPLES MEDIAN_S P10_S P90_S" per path,
 * then "crlf auto PATH" (what the gateway takes on this CPU).
 */
static int
cmd_crlf(const struct opts *o)
{
	static const struct isa_path paths[] = {
	    {"scalar", MIME_ISA_SCALAR},
	    {"sse2", MIME_ISA_SSE2},
	    {"avx2", MIME_ISA_AVX2},
	};
	enum { NP = sizeof(paths) / sizeof(paths[0]) };
	struct crlfpath cp[NP];
	struct comp comp[NP];
	unsigned char *text;
	size_t n = micro_size(o), i, nc = 0;
	uint64_t seed = 0x2545f4914f6cdd1du;

	if ((text = malloc(n)) == NULL)
		die("out of memory", NULL);
	for (i = 0; i < n; i++)
		text[i] = (unsigned char)('a' + xorshift(&seed) % 26);
	for (i = 76; i + 1 < n; i += 78) {
		text[i] = '\r';
		text[i + 1] = '\n';
	}
	memset(comp, 0, sizeof(comp));
	for (i = 0; i < NP; i++) {
		if (mime_set_isa(paths[i].isa) != 0) {
			fprintf(stderr, "smimegw-bench: crlf: no %s path on "
			        "this CPU\n", paths[i].name);
			continue;
		}
		cp[nc].isa = paths[i].isa;
		cp[nc].in = text;
		cp[nc].inlen = n;
		comp[nc].name = paths[i].name;
		comp[nc].fn = crlf_once;
		comp[nc].arg = &cp[nc];
		nc++;
	}
	measure_set(comp, nc, o);
	for (i = 0; i < nc; i++)
		printf("crlf\t%s\t%zu\t%zu\t%zu\t%.9f\t%.9f\t%.9f\n",
		       comp[i].name, n, comp[i].st.iters, comp[i].st.samples,
		       comp[i].st.median, comp[i].st.p10, comp[i].st.p90);
	printf("crlf\tauto\t%s\n", isa_auto(paths, NP));
	free(text);
	return 0;
}

/* ---- arguments --------------------------------------------------------- */

static const char usage_text[] =
    "usage: smimegw-bench gen SIZE FILE\n"
    "       smimegw-bench keyuri -c CONF --identity NAME\n"
    "       smimegw-bench prims -c CONF --identity NAME --swkey KEY "
    "--swcert CERT --sizes N,N,...\n"
    "       smimegw-bench op -c CONF --identity NAME --swkey KEY "
    "--swcert CERT\n"
    "                    --op sign|sign-opaque|encrypt|decrypt|verify\n"
    "                    --in FILE [--in-sw FILE] [--size N] [--rcpt CERT]...\n"
    "                    [--op-only | --api-only | --no-api]\n"
    "       smimegw-bench process -c CONF --profile NAME|--incoming "
    "--to ADDR --in FILE\n"
    "       smimegw-bench spawn [--log FILE] -- CMD ARG...\n"
    "       smimegw-bench b64 [--size N]\n"
    "       smimegw-bench crlf [--size N]\n"
    "common: --samples N --warmup N --batch-cpu SECONDS --max-cpu SECONDS\n"
    "        --slices N (at most N slices per round; 1: whole batches)\n"
    "        --malloc-default (skip the gw_buf_tune_malloc() call at start)\n";

static const char *
need(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "smimegw-bench: %s needs a value\n%s", argv[*i],
		        usage_text);
		exit(2);
	}
	return argv[++*i];
}

static void
parse(int argc, char **argv, struct opts *o)
{
	int i;
	char *end;
	const char *v;

	memset(o, 0, sizeof(*o));
	o->samples = 31;
	o->warmup = 2;
	o->batch_cpu = 0.002;
	o->slices = 16;
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			o->cmd = argv + i + 1;
			return;
		} else if (strcmp(a, "-c") == 0) {
			o->conf = need(argc, argv, &i);
		} else if (strcmp(a, "--identity") == 0) {
			o->identity = need(argc, argv, &i);
		} else if (strcmp(a, "--profile") == 0) {
			o->profile = need(argc, argv, &i);
		} else if (strcmp(a, "--incoming") == 0) {
			o->incoming = 1;
		} else if (strcmp(a, "--to") == 0) {
			o->to = need(argc, argv, &i);
		} else if (strcmp(a, "--op") == 0) {
			o->op = need(argc, argv, &i);
		} else if (strcmp(a, "--in") == 0) {
			o->in = need(argc, argv, &i);
		} else if (strcmp(a, "--swkey") == 0) {
			o->swkey = need(argc, argv, &i);
		} else if (strcmp(a, "--swcert") == 0) {
			o->swcert = need(argc, argv, &i);
		} else if (strcmp(a, "--sizes") == 0 ||
		           strcmp(a, "--size") == 0) {
			o->sizes = need(argc, argv, &i);
		} else if (strcmp(a, "--in-sw") == 0) {
			o->in_sw = need(argc, argv, &i);
		} else if (strcmp(a, "--op-only") == 0) {
			o->op_only = 1;
		} else if (strcmp(a, "--api-only") == 0) {
			o->api_only = 1;
		} else if (strcmp(a, "--no-api") == 0) {
			o->no_api = 1;
		} else if (strcmp(a, "--malloc-default") == 0) {
			o->malloc_default = 1;
		} else if (strcmp(a, "--log") == 0) {
			o->log = need(argc, argv, &i);
		} else if (strcmp(a, "--rcpt") == 0) {
			v = need(argc, argv, &i);
			if (o->nrcpt == MAX_RCPT)
				die("too many --rcpt", NULL);
			o->rcpt[o->nrcpt++] = v;
		} else if (strcmp(a, "--samples") == 0 ||
		           strcmp(a, "--slices") == 0 ||
		           strcmp(a, "--warmup") == 0) {
			v = need(argc, argv, &i);
			unsigned long long n = strtoull(v, &end, 10);
			if (*end != '\0' || (n == 0 && a[2] == 's') ||
			    n > 1000000)
				die("bad count", v);
			if (strcmp(a, "--samples") == 0)
				o->samples = (size_t)n;
			else if (a[3] == 'l')
				o->slices = (size_t)n;
			else
				o->warmup = (size_t)n;
		} else if (strcmp(a, "--batch-cpu") == 0 ||
		           strcmp(a, "--max-cpu") == 0) {
			v = need(argc, argv, &i);
			double d = strtod(v, &end);
			if (*end != '\0' || d < 0)
				die("bad number of seconds", v);
			if (a[2] == 'b')
				o->batch_cpu = d;
			else
				o->max_cpu = d;
		} else {
			fprintf(stderr,
			        "smimegw-bench: unknown argument '%s'\n%s", a,
			        usage_text);
			exit(2);
		}
	}
}

int
main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "gen") == 0)
		return cmd_gen(argc - 1, argv + 1);
	parse(argc, argv, &o);
	/* As a long-lived gateway process does (see gw_buf.h); it applies
	 * to everything in the process, the API baseline included. */
	if (!o.malloc_default)
		gw_buf_tune_malloc();
	if (strcmp(argv[1], "prims") == 0)
		return cmd_prims(&o);
	if (strcmp(argv[1], "op") == 0)
		return cmd_op(&o);
	if (strcmp(argv[1], "process") == 0)
		return cmd_process(&o);
	if (strcmp(argv[1], "spawn") == 0)
		return cmd_spawn(&o);
	if (strcmp(argv[1], "keyuri") == 0)
		return cmd_keyuri(&o);
	if (strcmp(argv[1], "b64") == 0)
		return cmd_b64(&o);
	if (strcmp(argv[1], "crlf") == 0)
		return cmd_crlf(&o);
	fprintf(stderr, "smimegw-bench: unknown command '%s'\n%s", argv[1],
	        usage_text);
	return 2;
}
