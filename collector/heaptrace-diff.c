/* heaptrace-diff: CURRENT minus BASE (pprof -base), with stacks matched by
 * their frame names, so two runs with different address layouts compare;
 * with --series, a table or chart of many snapshots and the stacks that
 * grow steadily. Options are shared with heaptrace-report (report.c). */
#include "report/report.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "lib/version.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
	"usage: heaptrace-diff [options] BASE.heap CURRENT.heap\n"
	"       heaptrace-diff --series [options] S1.heap S2.heap ... SN.heap\n"
	"\n"
	"Shows what changed from BASE to CURRENT (pprof -base), or across a series\n"
	"of snapshots (oldest first) and which stacks grow steadily.\n"
	"\n"
	"  --sample-index X  inuse_space (default), inuse_objects, alloc_space,\n"
	"                    alloc_objects; also --inuse_space etc.\n"
	"  --format F        text (default), tree, collapsed (signed values), pprof\n"
	"                    (for go tool pprof; -o FILE or a pipe), svg (differential\n"
	"                    flame graph; with --series, a chart), stats (calls, RSS,\n"
	"                    allocator figures: base, current, change)\n"
	"  --stats           the stats format\n"
	"  --verbose         the whole provenance of each snapshot in the header\n"
	"  --series          a series of two or more snapshots (text or svg)\n"
	"  --top N           rows to show (default 10; 0 = all); also --nodecount\n"
	"  --tree            the tree format\n"
	"  --peek REGEX      tree of the frames matching REGEX only\n"
	"  --focus REGEX     only stacks with a frame matching REGEX\n"
	"  --ignore REGEX    leave out stacks with a frame matching REGEX\n"
	"  --unit U          auto (default), or B, kB, MB, GB, TB for every figure\n"
	"  --lines           match frames by 'function file:line' (default)\n"
	"  --functions       match frames by function\n"
	"  --files           match frames by source file\n"
	"  --addresses       'function file:line 0xaddress'\n"
	"  --no-demangle     show raw symbol names\n"
	"  -o FILE           write to FILE (atomically) instead of stdout\n"
	"  --version         print the version\n"
	"  -h, --help        show this help\n"
	"pprof's spellings work too: -top, -sample_index=alloc_space, -focus=X,\n"
	"-base BASE.heap CURRENT.heap, ...\n";

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot **snaps;
	const char **files = ht_xcalloc((size_t)argc + 1, sizeof(char *));
	char err[1024];
	int rc, n;

	ht_progname = "heaptrace-diff";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, 2, files, &o);
	if (rc) {
		free(files);
		if (rc < 0)
			return 2;
		if (rc == 2)
			printf("%s %s\n", ht_progname, HT_VERSION);
		else
			fputs(usage, stdout);
		return 0;
	}
	n = o.nfiles;
	snaps = ht_xcalloc((size_t)n, sizeof(*snaps));
	for (int i = 0; i < n; i++)
		if (ht_snapshot_read_file(files[i], &snaps[i], err, sizeof(err)))
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
