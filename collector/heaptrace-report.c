/* heaptrace-report: the report of one snapshot (pprof-style text top, or
 * collapsed stacks). Options are shared with heaptrace-diff (report.c). */
#include "report.h"
#include "snapshot.h"
#include "util.h"

#include <stdio.h>

static const char usage[] =
	"usage: heaptrace-report [options] FILE.heap\n"
	"\n"
	"Shows where the heap of a traced program is (pprof's top).\n"
	"\n"
	"  --sample-index X  inuse_space (default), inuse_objects, alloc_space,\n"
	"                    alloc_objects; also --inuse_space etc.\n"
	"  --top N           rows to show (default 10; 0 = all)\n"
	"  --format F        text (default) or collapsed (for flame graphs)\n"
	"  --lines           name frames 'function file:line' (default)\n"
	"  --functions       name frames by function\n"
	"  --files           name frames by source file\n"
	"  --addresses       'function file:line 0xaddress'\n"
	"  --no-demangle     show raw symbol names\n"
	"  -o FILE           write to FILE (atomically) instead of stdout\n"
	"  -h, --help        show this help\n";

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot *cur;
	const char *files[1];
	char err[1024];
	int rc;

	ht_progname = "heaptrace-report";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, 1, files, &o);
	if (rc > 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (rc < 0)
		return 2;
	if (ht_snapshot_read_file(files[0], &cur, err, sizeof(err)))
		ht_die(1, "%s", err);
	rc = ht_report_emit(NULL, cur, &o, err, sizeof(err));
	ht_snapshot_free(cur);
	if (rc)
		ht_die(1, "%s", err);
	return 0;
}
