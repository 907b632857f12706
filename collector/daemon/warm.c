/* Naming frames ahead, on a thread of its own, so that reading debug info
 * (tens of ms for libc's) never stops the ring from draining, and the
 * final snapshot, which the program waits for, is quick. The symbolizer
 * is used by one thread at a time: c->sym_lock. */
#include <pthread.h>

#include "daemon/collector.h"
#include "lib/util.h"

/* Wake-ups without new stacks after which the debug info read so far is
 * let go: some 10 s at the loop's longest sleep. */
#define WARM_TRIM_WAKES 100

static void *warm_main(void *arg)
{
	struct collector *c = arg;

	for (;;) {
		struct ht_snapshot *job;
		int trim;

		pthread_mutex_lock(&c->warm_mu);
		while (!c->warm_job && !c->warm_trim)
			pthread_cond_wait(&c->warm_cv, &c->warm_mu);
		job = c->warm_job;
		trim = c->warm_trim;
		c->warm_trim = 0;
		pthread_mutex_unlock(&c->warm_mu);
		pthread_mutex_lock(&c->sym_lock);
		if (job)
			ht_symbolize(c->sym, job);
		if (trim)
			ht_symbolizer_trim(c->sym);
		pthread_mutex_unlock(&c->sym_lock);
		ht_snapshot_free(job);
		pthread_mutex_lock(&c->warm_mu);
		if (c->warm_job == job)
			__atomic_store_n(&c->warm_job, NULL, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&c->warm_mu);
	}
	return NULL;
}

void ht_collector_start_naming(struct collector *c)
{
	pthread_t t;
	pthread_attr_t at;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &at, warm_main, c) != 0)
		ht_error("cannot start a thread: frames are named at snapshot time only");
	pthread_attr_destroy(&at);
}

/* Gives the naming thread a job (or asks it to trim). */
static void hand_over(struct collector *c, struct ht_snapshot *job, int trim)
{
	pthread_mutex_lock(&c->warm_mu);
	if (job)
		__atomic_store_n(&c->warm_job, job, __ATOMIC_RELEASE);
	c->warm_trim |= trim;
	pthread_cond_signal(&c->warm_cv);
	pthread_mutex_unlock(&c->warm_mu);
}

void ht_collector_name_ahead(struct collector *c)
{
	struct ht_snapshot *job;

	if (__atomic_load_n(&c->warm_job, __ATOMIC_ACQUIRE))
		return; /* still busy with the last one */
	job = ht_profile_warm_job(c->prof, 2000);
	if (job) {
		hand_over(c, job, 0);
		c->warm_idle = 0;
	} else if (++c->warm_idle == WARM_TRIM_WAKES) {
		/* no new stacks for a while: keep the names found, let go of
		 * the debug info read to find them */
		hand_over(c, NULL, 1);
	}
}
