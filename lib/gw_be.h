/*
 * gw_be.h - big-endian integers in byte strings: the IPC frames, the
 * journal's and the undo journal's keys and records, the key sorter's
 * runs.  The one home of
 * the byte order on the wire and on disk.
 */
#ifndef GW_BE_H
#define GW_BE_H

#include <stdint.h>

static inline void
gw_be16_put(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static inline uint16_t
gw_be16_get(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void
gw_be32_put(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t
gw_be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void
gw_be64_put(unsigned char *p, uint64_t v)
{
	gw_be32_put(p, (uint32_t)(v >> 32));
	gw_be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t
gw_be64_get(const unsigned char *p)
{
	return (uint64_t)gw_be32_get(p) << 32 | gw_be32_get(p + 4);
}

#endif
