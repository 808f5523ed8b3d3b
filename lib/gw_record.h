/*
 * gw_record.h - the binary layout of records kept in the store.
 *
 * A record is a sequence of fields: a 2-byte tag, a 4-byte length (both
 * big-endian) and the value.  Readers skip tags they do not know, so a
 * record can gain fields without a migration.  Field values are bytes;
 * strings are stored without their NUL, integers as 8 bytes big-endian.
 */
#ifndef GW_RECORD_H
#define GW_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct gw_rec_writer;

struct gw_rec_writer *gw_rec_writer_new(void);
void gw_rec_writer_free(struct gw_rec_writer *w);
int gw_rec_put(struct gw_rec_writer *w, unsigned tag, const void *p,
	       size_t len);
int gw_rec_put_str(struct gw_rec_writer *w, unsigned tag, const char *s);
int gw_rec_put_u64(struct gw_rec_writer *w, unsigned tag, uint64_t v);
/* The encoded record; owned by the writer. */
const unsigned char *gw_rec_data(const struct gw_rec_writer *w, size_t *len);

struct gw_rec_field {
	unsigned tag;
	const unsigned char *p;
	size_t len;
};

/* Reads the field at *off and advances it.  Returns 1 for a field, 0 at
 * the end, GW_ERR_STORE for a truncated record. */
int gw_rec_next(const unsigned char *buf, size_t len, size_t *off,
		struct gw_rec_field *f);
/* A malloc'd NUL-terminated copy of a string field, NULL on OOM. */
char *gw_rec_strdup(const struct gw_rec_field *f);

/* Certificates as fields: DER in, DER out. */
struct x509_st;
int gw_rec_put_x509(struct gw_rec_writer *w, unsigned tag, struct x509_st *x);
/* Decodes the field into *x (freeing what *x held); GW_ERR_STORE naming
 * what ("identity record") when it is not exactly one certificate.  *x
 * may be shared with the process's certificate cache (cert_cache.h):
 * never change it. */
int gw_rec_get_x509(const struct gw_rec_field *f, struct x509_st **x,
		    const char *what);
/* As gw_rec_get_x509(), but read lean (cert_lean.h: its key only
 * through cert_pubkey()) and not through the cache: for walks that print
 * or check every record of a large store (an export of a million keys
 * spent most of its time in OpenSSL's key decoders).  *x is the
 * caller's. */
int gw_rec_get_x509_lean(const struct gw_rec_field *f, struct x509_st **x,
			 const char *what);
uint64_t gw_rec_u64(const struct gw_rec_field *f);

/* 8 bytes big-endian, as integers are stored (also in keys, so that
 * they sort by value). */
void gw_rec_be64_put(unsigned char b[8], uint64_t v);
uint64_t gw_rec_be64(const unsigned char b[8]);

#endif
