/* For the unit tests of the collector's live profile: a snapshot of it,
 * or the test stops there (a test that cannot look has nothing to say). */
#ifndef HT_TEST_PROFILE_FILL_H
#define HT_TEST_PROFILE_FILL_H

#include <stdlib.h>

#include "daemon/profile.h"
#include "tap.h"

static inline struct ht_snapshot *fill(struct ht_profile *p)
{
	struct ht_snapshot *s = ht_snapshot_new();

	if (!s || ht_profile_fill(p, s, NULL) != 0) {
		ok(0, "fill a snapshot");
		exit(1);
	}
	return s;
}

#endif
