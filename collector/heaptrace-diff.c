/* heaptrace-diff: CURRENT minus BASE (pprof -base), with stacks matched by
 * their frame names, so two runs with different address layouts compare. */
#include "report.h"
#include "snapshot.h"
#include "util.h"

#include <stdio.h>

static const char usage[] =
	"usage: heaptrace-diff [options] BASE.heap CURRENT.heap\n"
	"\n"
	"Shows what changed from BASE to CURRENT (pprof -base).\n"
	"\n"
	"  --sample-index X  inuse_space (default), inuse_objects, alloc_space,\n"
	"                    alloc_objects; also --inuse_space etc.\n"
	"  --top N           rows to show (default 10; 0 = all)\n"
	"  --format F        text (default) or collapsed (signed values)\n"
	"  --lines           match frames by 'function file:line' (default)\n"
	"  --functions       match frames by function\n"
	"  --files           match frames by source file\n"
	"  --addresses       'function file:line 0xaddress'\n"
	"  --no-demangle     show raw symbol names\n"
	"  -o FILE           write to FILE (atomically) instead of stdout\n"
	"  -h, --help        show this help\n";

int main(int argc, char **argv)
{
	struct ht_report_opts o;
	struct ht_snapshot *base, *cur;
	const char *files[2];
	char err[1024];
	int rc;

	ht_progname = "heaptrace-diff";
	ht_report_opts_init(&o);
	rc = ht_report_parse_args(argc, argv, 2, files, &o);
	if (rc > 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (rc < 0)
		return 2;
	if (ht_snapshot_read_file(files[0], &base, err, sizeof(err)))
		ht_die(1, "%s", err);
	if (ht_snapshot_read_file(files[1], &cur, err, sizeof(err)))
		ht_die(1, "%s", err);
	rc = ht_report_emit(base, cur, &o, err, sizeof(err));
	ht_snapshot_free(cur);
	ht_snapshot_free(base);
	if (rc)
		ht_die(1, "%s", err);
	return 0;
}
