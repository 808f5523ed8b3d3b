/* gw_parallel.c - one job over many items on every CPU (gw_parallel.h). */
#include "gw_parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define BLOCK 16	/* items taken at a time */

struct job {
	size_t n;
	atomic_size_t next;
	void (*fn)(void *arg, size_t i);
	void *arg;
};

static void *
run(void *p)
{
	struct job *j = p;
	size_t i, end;

	for (;;) {
		i = atomic_fetch_add(&j->next, BLOCK);
		if (i >= j->n)
			return NULL;
		end = j->n - i < BLOCK ? j->n : i + BLOCK;
		for (; i < end; i++)
			j->fn(j->arg, i);
	}
}

void
gw_parallel(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	pthread_t tid[GW_PARALLEL_MAX - 1];
	struct job j = {.n = n, .fn = fn, .arg = arg};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want, started = 0, k;

	atomic_init(&j.next, 0);
	want = cpus < 1 ? 1 : cpus > GW_PARALLEL_MAX ? GW_PARALLEL_MAX
						       : (size_t)cpus;
	if (n < GW_PARALLEL_MIN)
		want = 1;
	for (k = 0; k + 1 < want; k++)
		if (pthread_create(&tid[k], NULL, run, &j) == 0)
			started++;
		else
			break;
	run(&j);
	for (k = 0; k < started; k++)
		pthread_join(tid[k], NULL);
}
