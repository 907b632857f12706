/* heaptrace-diff: CURRENT minus BASE (pprof -base), with stacks matched by
 * their frame names, so two runs with different address layouts compare;
 * with --series, a table or chart of many snapshots and the stacks that
 * grow steadily. Its options are the reader tools' table
 * (report/options.c). */
#include "report/report.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot **snaps;
	const char **files = ht_xcalloc((size_t)argc + 1, sizeof(char *));
	char err[1024];
	int rc, n;

	ht_progname = "heaptrace-diff";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, HT_MODE_DIFF, files, &o);
	if (rc) {
		free(files);
		return ht_report_args_status(rc, HT_MODE_DIFF);
	}
	n = o.nfiles;
	snaps = ht_xcalloc((size_t)n, sizeof(*snaps));
	if (ht_snapshot_read_files(files, (size_t)n, snaps, err, sizeof(err)))
		ht_die(1, "%s", err);
	if (o.series)
		rc = ht_report_emit_series(snaps, files, (size_t)n, &o, err, sizeof(err));
	else
		rc = ht_report_emit(snaps[0], snaps[1], &o, err, sizeof(err));
	for (int i = 0; i < n; i++)
		ht_snapshot_free(snaps[i]);
	free(snaps);
	free(files);
	if (rc)
		ht_die(1, "%s", err);
	return 0;
}
