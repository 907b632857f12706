/* heaptrace-report: the report of one snapshot (pprof-style text top and
 * tree, collapsed stacks, pprof protobuf, SVG flame graph, legacy heap_v2).
 * Options are shared with heaptrace-diff (report.c). */
#include "report/report.h"
#include "snapshot/snapshot.h"
#include "lib/util.h"
#include "lib/version.h"

#include <stdio.h>
#include <stdlib.h>

static const char usage[] =
	"usage: heaptrace-report [options] FILE.heap\n"
	"\n"
	"Shows where the heap of a traced program is (pprof's top).\n"
	"\n"
	"  --sample-index X  inuse_space (default), inuse_objects, alloc_space,\n"
	"                    alloc_objects; also --inuse_space etc.\n"
	"  --format F        text (default; pprof's top), tree (callers and callees),\n"
	"                    collapsed (for flame graph tools), pprof (gzip'd\n"
	"                    profile.proto; binary: -o FILE or a pipe), svg\n"
	"                    (interactive flame graph), heap_v2 (legacy text, for\n"
	"                    jeprof), stats (call counts, RSS, the allocator's figures)\n"
	"  --stats           the stats format\n"
	"  --verbose         the whole provenance of each snapshot in the header\n"
	"  --peak            in use at the peak (shown by itself when nothing is in\n"
	"                    use at the end)\n"
	"  --top N           rows to show (default 10; 0 = all); also --nodecount\n"
	"  --tree            the tree format\n"
	"  --peek REGEX      tree of the frames matching REGEX only\n"
	"  --focus REGEX     only stacks with a frame matching REGEX\n"
	"  --ignore REGEX    leave out stacks with a frame matching REGEX\n"
	"  --unit U          auto (default), or B, kB, MB, GB, TB for every figure\n"
	"  --lines           name frames 'function file:line' (default)\n"
	"  --functions       name frames by function\n"
	"  --files           name frames by source file\n"
	"  --addresses       'function file:line 0xaddress'\n"
	"  --no-demangle     show raw symbol names\n"
	"  -o FILE           write to FILE (atomically) instead of stdout\n"
	"  --version         print the version\n"
	"  -h, --help        show this help\n"
	"pprof's spellings work too: -top, -sample_index=alloc_space, -focus=X, ...\n";

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot *cur;
	const char **files = ht_xcalloc((size_t)argc + 1, sizeof(char *));
	char err[1024];
	int rc;

	ht_progname = "heaptrace-report";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, 1, files, &o);
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
	if (ht_snapshot_read_file(files[0], &cur, err, sizeof(err)))
		ht_die(1, "%s", err);
	rc = ht_report_emit(NULL, cur, &o, err, sizeof(err));
	ht_snapshot_free(cur);
	free(files);
	if (rc)
		ht_die(1, "%s", err);
	return 0;
}
