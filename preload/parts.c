/* The counters of parts.h, in the shim built for scripts/bench only. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "parts.h"

static __thread uint64_t mine[HT_NPARTS][3]; /* calls, cycles, bytes */
static uint64_t all[HT_NPARTS][3];
static uint64_t tsc0;
static struct timespec mono0;

uint64_t ht_part_now(void)
{
	return __rdtsc();
}

void ht_part_add(enum ht_part k, uint64_t since, uint64_t bytes)
{
	uint64_t now = __rdtsc();

	mine[k][0]++;
	mine[k][1] += now - since;
	mine[k][2] += bytes;
}

/* The calling thread's counts into the process's (at its exit). */
void ht_parts_fold(void)
{
	for (int k = 0; k < HT_NPARTS; k++)
		for (int j = 0; j < 3; j++) {
			__atomic_fetch_add(&all[k][j], mine[k][j], __ATOMIC_RELAXED);
			mine[k][j] = 0;
		}
}

__attribute__((constructor)) static void parts_start(void)
{
	clock_gettime(CLOCK_MONOTONIC, &mono0);
	tsc0 = __rdtsc();
}

/* One line on stderr: the TSC's rate, then calls, cycles and bytes per
 * part. Threads still running at the end are not in it. */
__attribute__((destructor)) static void parts_print(void)
{
	static const char *const names[HT_NPARTS] = { "arena_malloc", "arena_calloc", "stack",
						     "alloc_event", "free_event", "arena_free",
						     "copy" };
	struct timespec mono1;
	uint64_t tsc1 = __rdtsc();
	char line[1024];
	int n, k;
	double ns;

	clock_gettime(CLOCK_MONOTONIC, &mono1);
	ns = (double)(mono1.tv_sec - mono0.tv_sec) * 1e9 + (double)(mono1.tv_nsec - mono0.tv_nsec);
	ht_parts_fold();
	n = snprintf(line, sizeof(line), "heaptrace-parts: tsc_hz=%.0f", ns > 0 ? (double)(tsc1 - tsc0) / ns * 1e9 : 0.0);
	for (k = 0; k < HT_NPARTS && n > 0 && n < (int)sizeof(line); k++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%llu/%llu/%llu", names[k],
			      (unsigned long long)all[k][0], (unsigned long long)all[k][1],
			      (unsigned long long)all[k][2]);
	if (n > 0 && n < (int)sizeof(line) - 1) {
		line[n++] = '\n';
		if (write(2, line, (size_t)n) < 0)
			return;
	}
}
