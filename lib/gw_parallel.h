/*
 * gw_parallel.h - one job over many items on every CPU: the bulk
 * imports decode and check their certificates this way (most of an
 * import's time), the rest of the program is single-threaded.
 */
#ifndef GW_PARALLEL_H
#define GW_PARALLEL_H

#include <stddef.h>

#define GW_PARALLEL_MAX 8	/* threads at most, the caller's included */
#define GW_PARALLEL_MIN 64	/* fewer items run on the caller alone */

/*
 * Calls fn(arg, i) once for every i below n, on up to GW_PARALLEL_MAX
 * threads (no more than the CPUs online; the calling thread is one),
 * and returns when every call has returned.  fn must be safe to run in
 * several threads at once for different items and keep its results in
 * the item (gw_err's detail is per thread).  Items are taken in
 * blocks, in order.  When threads cannot be started, the calling
 * thread does the rest.
 */
void gw_parallel(size_t n, void (*fn)(void *arg, size_t i), void *arg);

#endif
