#!/usr/bin/env bash
# Hostile snapshots (heaptrace(5), VALIDATION): small crafted files that
# would make a reader work for hours, exhaust memory or loop forever must be
# refused within seconds, with one line and a non-zero status, leaving no
# output file; values at the limits render in every format without a
# sanitizer report.
. "$(dirname "$0")/lib.sh"
ulimit -c 0
# A regression must fail, not take the machine's memory: the sanitizers'
# own RSS limit under ASan (which needs a large address space), else ulimit.
if nm -D "$report" 2>/dev/null | grep -q __asan_init || nm "$report" 2>/dev/null | grep -q __asan_init; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}hard_rss_limit_mb=3000
else
	ulimit -v 3000000
fi

"$top/tests/mkhostile" .
check $? "the crafted snapshots are written"

# refused NAME WANT CMD...: CMD (given -o out) fails within 10 s with one
# line on stderr that contains WANT, and leaves no output file behind
refused() {
	local name=$1 want=$2 rc lines
	shift 2
	rm -f out .out.*
	timeout 10 "$@" -o out >stdout 2>stderr
	rc=$?
	lines=$(wc -l <stderr)
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] &&
		sed "s/^[^:]*: '[^']*': //" stderr | grep -qF -- "$want" &&
		! grep -q 'runtime error' stderr; then
		pass "$name: refused ($(cat stderr))"
	else
		fail "$name: refused within 10 s with one line about '$want'"
		echo "#   exit $rc, $lines lines on stderr"
		head -c 600 stderr | head -5 | note
	fi
	if [ -e out ] || ls -A | grep -q '^\.out\.'; then
		fail "$name: no output file left behind"
	else
		pass "$name: no output file left behind"
	fi
}

# 13: stacks that share one long run of frames or lines, or long names
# at many frames: work and memory far beyond what the file can justify
refused "shared-frames.heap (report)" "body of" "$report" shared-frames.heap
refused "shared-frames.heap (collapsed)" "body of" "$report" --format collapsed shared-frames.heap
refused "deep-stacks.heap (report)" "frames" "$report" deep-stacks.heap
refused "deep-stacks.heap (collapsed)" "frames" "$report" --format collapsed deep-stacks.heap
for f in inline-lines long-name; do
	refused "$f.heap (report)" "names take" "$report" $f.heap
	refused "$f.heap (flame graph)" "names take" "$report" --format svg $f.heap
done
# 100,000 metrics that share one name of 64 KiB: 6.5 GB to list
refused "many-metrics.heap (stats)" "names take" "$report" --stats many-metrics.heap
refused "deep-stacks.heap (diff)" "frames" "$hdiff" "$top/tests/corpus/base.heap" deep-stacks.heap

# many files, each small, whose stacks all differ: the series table grows
# with stacks times files
refused "100 snapshots of 6,800 distinct stacks (series)" "series too large" "$hdiff" --series \
	series-*.heap

# 14: absurd values are refused when decoded, before any renderer
refused "huge-value.heap (series chart)" "inuse_space" "$hdiff" --series --format svg \
	huge-value.heap huge-value.heap huge-value.heap
refused "huge-value.heap (report)" "inuse_space" "$report" huge-value.heap
refused "bad-time.heap" "time" "$report" bad-time.heap

# 15: a body that inflates to 1 GiB, an endless device, and an endless
# stream after a valid header
refused "bomb.heap" "compressed bytes" "$report" bomb.heap
refused "/dev/zero" "not a heaptrace snapshot" "$report" /dev/zero
rm -f out
{ head -c 24 "$top/tests/corpus/final.heap"; cat /dev/zero; } 2>/dev/null |
	timeout 10 "$report" -o out /dev/stdin >stdout 2>stderr
rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$(wc -l <stderr)" -eq 1 ] && grep -q 'larger than' stderr; then
	pass "an endless stream after a valid header is refused ($(cat stderr))"
else
	fail "an endless stream after a valid header is refused within 10 s"
	echo "#   exit $rc"
	head -3 stderr | note
fi

# 14, 16: values at the limits (2^63 bytes, averages that overflow any
# integer) render in every format, quickly and without a sanitizer report
for f in max-value tiny-count; do
	ok=0
	for args in "" "--format tree" "--format collapsed" "--format pprof" \
		"--format heap_v2" "--format svg" "--format text --sample-index alloc_objects"; do
		rm -f out
		# shellcheck disable=SC2086
		timeout 10 "$report" $args -o out $f.heap >stdout 2>stderr
		rc=$?
		if [ "$rc" -ne 0 ] || [ ! -s out ] || grep -q 'runtime error' stderr; then
			ok=1
			echo "#   $f.heap $args: exit $rc"
			head -3 stderr | note
		fi
	done
	for args in "" "--format svg"; do
		# shellcheck disable=SC2086
		timeout 10 "$hdiff" --series $args -o out $f.heap max-value.heap $f.heap >stdout 2>stderr
		rc=$?
		if [ "$rc" -ne 0 ] || grep -q 'runtime error' stderr; then
			ok=1
			echo "#   $f.heap --series $args: exit $rc"
			head -3 stderr | note
		fi
	done
	timeout 10 "$hdiff" -o out --format pprof max-value.heap $f.heap >stdout 2>stderr
	rc=$?
	if [ "$rc" -ne 0 ] || grep -q 'runtime error' stderr; then
		ok=1
		echo "#   diff max-value.heap $f.heap: exit $rc"
		head -3 stderr | note
	fi
	check $ok "$f.heap: every format renders, without a sanitizer report"
done
done_testing
