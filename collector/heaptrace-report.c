/* heaptrace-report: the report of one snapshot (pprof-style text top and
 * tree, collapsed stacks, pprof protobuf, SVG flame graph, legacy heap_v2),
 * or, with --push, the snapshot sent to a Pyroscope server.
 * Its options are the reader tools' table (report/options.c). */
#include "report/push.h"
#include "report/report.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"

#include <stdlib.h>

/* --push: cur, or its allocations since o->push_base, to the server. */
static int push(struct ht_snapshot *cur, const struct ht_report_opts *o, char *err,
		size_t errlen)
{
	struct ht_snapshot *base = NULL;
	int rc;

	if (o->push_base && ht_snapshot_read_file(o->push_base, &base, err, errlen))
		return -1;
	rc = ht_push_snapshot(base, cur, o, err, errlen);
	ht_snapshot_free(base);
	return rc;
}

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot *cur;
	const char **files = ht_xcalloc((size_t)argc + 1, sizeof(char *));
	char err[1024];
	int rc;

	ht_progname = "heaptrace-report";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, HT_MODE_REPORT, files, &o);
	if (rc) {
		free(files);
		return ht_report_args_status(rc, HT_MODE_REPORT);
	}
	if (ht_snapshot_read_file(files[0], &cur, err, sizeof(err)))
		ht_die(1, "%s", err);
	if (o.push)
		rc = push(cur, &o, err, sizeof(err));
	else
		rc = ht_report_emit(NULL, cur, &o, err, sizeof(err));
	ht_snapshot_free(cur);
	free(files);
	if (rc)
		ht_die(1, "%s", err);
	return 0;
}
