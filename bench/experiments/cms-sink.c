/*
 * cms-sink.c - the prototype behind docs/performance.md "What would close
 * the gap", items 2 and 3: what OpenSSL's CMS costs with and without its
 * growing memory BIOs.  Not part of the build; plain libcrypto:
 *
 *   cc -O2 -o /tmp/cms-sink bench/experiments/cms-sink.c -lcrypto
 *   /tmp/cms-sink encrypt MSG CERT N      (MSG: e.g. m10485760.eml)
 *   /tmp/cms-sink decrypt ENVELOPED KEY CERT N
 *
 * with the files of a `bench/run.sh --keep` work directory (er1_*.eml,
 * r1.key, r1.pem).  Prints the median CPU time of N runs of:
 *   encrypt: (a) smime_encrypt's sequence: CMS_final from a memory BIO,
 *            i2d_CMS_ContentInfo, base64 (EVP_EncodeBlock);
 *            (b) CMS_STREAM|CMS_BINARY + i2d_CMS_bio_stream through
 *            BIO_f_base64 into a pre-sized sink;
 *            (c) the same, DER only;
 *   decrypt: (a) base64 (CR/LF stripped, EVP_DecodeBlock);
 *            (b) d2i + CMS_decrypt into a BIO_s_mem (decrypt_layer);
 *            (c) d2i + CMS_decrypt into a pre-sized sink.
 * The whole message stands in for the entity; the figures are for the
 * CMS part only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define MAX_RUNS 101

struct sink {
	unsigned char *p;
	size_t len, cap;
};

static double
cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void
fail(const char *what)
{
	fprintf(stderr, "cms-sink: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static int
sink_write(BIO *b, const char *d, int n)
{
	struct sink *s = BIO_get_data(b);

	if (n < 0 || s->len + (size_t)n > s->cap)
		return -1;
	memcpy(s->p + s->len, d, (size_t)n);
	s->len += (size_t)n;
	return n;
}

static long
sink_ctrl(BIO *b, int cmd, long l, void *p)
{
	return cmd == BIO_CTRL_FLUSH;
}

static int
sink_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO *
sink_bio(struct sink *s)
{
	static BIO_METHOD *m;
	BIO *b;

	if (m == NULL &&
	    ((m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
			       "sink")) == NULL ||
	     !BIO_meth_set_write(m, sink_write) ||
	     !BIO_meth_set_ctrl(m, sink_ctrl) ||
	     !BIO_meth_set_create(m, sink_create)))
		fail("BIO_meth_new");
	if ((b = BIO_new(m)) == NULL)
		fail("BIO_new");
	s->len = 0;
	BIO_set_data(b, s);
	return b;
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *fp;
	unsigned char *p;
	long n;

	if ((fp = fopen(path, "rb")) == NULL || fseek(fp, 0, SEEK_END) != 0 ||
	    (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0 ||
	    (p = malloc((size_t)n + 1)) == NULL ||
	    fread(p, 1, (size_t)n, fp) != (size_t)n)
		fail(path);
	fclose(fp);
	p[n] = '\0';
	*len = (size_t)n;
	return p;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

static void
encrypt(const char *msgf, const char *certf, int n)
{
	double va[MAX_RUNS], vb[MAX_RUNS], vc[MAX_RUNS], t0, t1, t2, t3;
	unsigned char *m, *der, *b64;
	STACK_OF(X509) *sk = sk_X509_new_null();
	CMS_ContentInfo *c;
	struct sink s;
	BIO *in, *b;
	size_t len;
	FILE *fp;
	X509 *x;
	int i, dl, fl = CMS_STREAM | CMS_BINARY;

	m = slurp(msgf, &len);
	if ((fp = fopen(certf, "r")) == NULL ||
	    (x = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL)
		fail(certf);
	fclose(fp);
	sk_X509_push(sk, x);
	s.cap = 2 * len + 65536;
	if ((s.p = malloc(s.cap)) == NULL)
		fail("malloc");
	for (i = 0; i <= n; i++) {
		t0 = cpu();
		in = BIO_new_mem_buf(m, (int)len);
		c = CMS_encrypt(NULL, NULL, EVP_aes_256_cbc(),
				CMS_PARTIAL | CMS_BINARY);
		if (c == NULL || CMS_add1_recipient_cert(c, x, 0) == NULL ||
		    !CMS_final(c, in, NULL, CMS_PARTIAL | CMS_BINARY))
			fail("CMS_final");
		der = NULL;
		if ((dl = i2d_CMS_ContentInfo(c, &der)) <= 0 ||
		    (b64 = malloc((size_t)dl / 3 * 4 + 8)) == NULL)
			fail("i2d");
		EVP_EncodeBlock(b64, der, dl);
		free(b64);
		OPENSSL_free(der);
		CMS_ContentInfo_free(c);
		BIO_free(in);
		t1 = cpu();
		in = BIO_new_mem_buf(m, (int)len);
		b = BIO_push(BIO_new(BIO_f_base64()), sink_bio(&s));
		if ((c = CMS_encrypt(sk, in, EVP_aes_256_cbc(), fl)) == NULL ||
		    !i2d_CMS_bio_stream(b, c, in, fl) || BIO_flush(b) != 1)
			fail("stream (base64)");
		BIO_free_all(b);
		CMS_ContentInfo_free(c);
		BIO_free(in);
		t2 = cpu();
		in = BIO_new_mem_buf(m, (int)len);
		b = sink_bio(&s);
		if ((c = CMS_encrypt(sk, in, EVP_aes_256_cbc(), fl)) == NULL ||
		    !i2d_CMS_bio_stream(b, c, in, fl))
			fail("stream (DER)");
		BIO_free(b);
		CMS_ContentInfo_free(c);
		BIO_free(in);
		t3 = cpu();
		if (i > 0) {
			va[i - 1] = t1 - t0;
			vb[i - 1] = t2 - t1;
			vc[i - 1] = t3 - t2;
		}
	}
	printf("%zu bytes: CMS_final + memory BIO + i2d + EVP_EncodeBlock "
	       "%.2f ms | CMS_STREAM -> BIO_f_base64 -> sink %.2f ms | "
	       "CMS_STREAM -> sink (DER) %.2f ms\n",
	       len, median(va, n) * 1e3, median(vb, n) * 1e3,
	       median(vc, n) * 1e3);
	sk_X509_pop_free(sk, X509_free);
	free(s.p);
	free(m);
}

static void
decrypt(const char *msgf, const char *keyf, const char *certf, int n)
{
	double va[MAX_RUNS], vb[MAX_RUNS], vc[MAX_RUNS], t0, t1, t2, t3;
	unsigned char *m, *body, *clean, *der;
	const unsigned char *q;
	CMS_ContentInfo *c;
	EVP_PKEY *k;
	struct sink s;
	size_t len, bl, cl, j;
	BIO *out;
	FILE *fp;
	X509 *x;
	int i, dl;

	m = slurp(msgf, &len);
	/* the base64 body: after the first blank line (smimegw's output) */
	if ((body = (unsigned char *)strstr((char *)m, "\r\n\r\n")) == NULL)
		fail("no body");
	body += 4;
	bl = len - (size_t)(body - m);
	if ((fp = fopen(keyf, "r")) == NULL ||
	    (k = PEM_read_PrivateKey(fp, NULL, NULL, NULL)) == NULL)
		fail(keyf);
	fclose(fp);
	if ((fp = fopen(certf, "r")) == NULL ||
	    (x = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL)
		fail(certf);
	fclose(fp);
	s.cap = bl;
	if ((clean = malloc(bl)) == NULL || (der = malloc(bl)) == NULL ||
	    (s.p = malloc(s.cap)) == NULL)
		fail("malloc");
	for (i = 0; i <= n; i++) {
		t0 = cpu();
		for (j = 0, cl = 0; j < bl; j++)
			if (body[j] != '\r' && body[j] != '\n')
				clean[cl++] = body[j];
		dl = EVP_DecodeBlock(der, clean, (int)cl);
		while (cl > 0 && clean[cl - 1] == '=') {
			dl--;
			cl--;
		}
		t1 = cpu();
		q = der;
		if ((c = d2i_CMS_ContentInfo(NULL, &q, dl)) == NULL ||
		    (out = BIO_new(BIO_s_mem())) == NULL ||
		    !CMS_decrypt(c, k, x, NULL, out, CMS_BINARY))
			fail("CMS_decrypt (memory BIO)");
		BIO_free(out);
		CMS_ContentInfo_free(c);
		t2 = cpu();
		q = der;
		out = sink_bio(&s);
		if ((c = d2i_CMS_ContentInfo(NULL, &q, dl)) == NULL ||
		    !CMS_decrypt(c, k, x, NULL, out, CMS_BINARY))
			fail("CMS_decrypt (sink)");
		BIO_free(out);
		CMS_ContentInfo_free(c);
		t3 = cpu();
		if (i > 0) {
			va[i - 1] = t1 - t0;
			vb[i - 1] = t2 - t1;
			vc[i - 1] = t3 - t2;
		}
	}
	printf("%s: base64 (strip + EVP_DecodeBlock) %.2f ms | d2i + "
	       "CMS_decrypt -> memory BIO %.2f ms | d2i + CMS_decrypt -> sink "
	       "%.2f ms (plaintext %zu bytes)\n",
	       msgf, median(va, n) * 1e3, median(vb, n) * 1e3,
	       median(vc, n) * 1e3, s.len);
	EVP_PKEY_free(k);
	X509_free(x);
	free(clean);
	free(der);
	free(s.p);
	free(m);
}

static int
runs(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*end != '\0' || n < 1 || n > MAX_RUNS - 1)
		fail("N: 1 to 100 runs");
	return (int)n;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "encrypt") == 0)
		encrypt(argv[2], argv[3], runs(argv[4]));
	else if (argc == 6 && strcmp(argv[1], "decrypt") == 0)
		decrypt(argv[2], argv[3], argv[4], runs(argv[5]));
	else
		fail("usage: cms-sink encrypt MSG CERT N | "
		     "decrypt ENVELOPED KEY CERT N");
	return 0;
}
