#!/usr/bin/env bash
# The SVG outputs in a real browser (headless Chromium from Debian): each
# flame graph, differential flame graph and series chart loads, its script
# starts (it marks the document), every frame is there, a built-in self test
# of zoom, unzoom and search passes (the "#selftest" fragment runs it), and
# nothing throws. Also renders a screenshot. Prints TAP.
. "$(dirname "$0")/lib.sh"
fixw=${HT_FIXTURE_WRITER:-$top/tests/test_report}

browser=
for b in chromium chromium-browser; do
	command -v $b >/dev/null 2>&1 && browser=$b && break
done
if [ -z "$browser" ]; then
	fail "chromium is installed (scripts/deps.sh installs it)"
	done_testing
fi


# chrome PROFILE_DIR ARGS...: one headless browser, no network, no state kept.
chrome() {
	local dir=$1
	shift
	timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --disable-extensions --enable-logging=stderr --v=0 \
		--user-data-dir="$work/$dir" "$@"
}

if ! "$fixw" --write-fixtures . >fixtures.log 2>&1; then
	fail "write fixtures"
	echo "1..$n"
	exit 1
fi

# frames OPTIONS -- SNAPSHOT...: how many frames a flame graph of the
# SNAPSHOTs' stacks has, counted from their collapsed form, not from the
# SVG: one per distinct path from the root (a stack's every prefix), plus
# the root. A diff's graph holds the stacks of both snapshots.
frames() {
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	for f in "$@"; do "$report" --format collapsed --top 0 "${opts[@]}" "$f" || echo FAILED; done |
		awk '{ $NF = ""; sub(/ $/, ""); n = split($0, f, ";"); p = "";
			for (i = 1; i <= n; i++) { p = p ";" f[i]; seen[p] = 1 } }
			END { print length(seen) + 1 }'
}

svgs="report diff series objects"
"$report" --format svg -o report.svg cur.heap 2>/dev/null
want_report=$(frames -- cur.heap)
"$hdiff" --format svg -o diff.svg step1.heap step4.heap 2>/dev/null
want_diff=$(frames -- step1.heap step4.heap)
"$hdiff" --series --format svg -o series.svg step1.heap step2.heap step3.heap step4.heap
"$report" --format svg --alloc_objects --functions -o objects.svg cur.heap 2>/dev/null
want_objects=$(frames --sample-index alloc_objects --functions -- cur.heap)
# a real traced run
HEAPTRACE_OUTPUT=$work/real.heap LD_PRELOAD=$lib "$progs/retain" 20 >/dev/null 2>&1 &&
	"$report" --format svg -o real.svg real.heap 2>/dev/null
check $? "a real traced run renders to svg"
want_real=$(frames -- real.heap)
svgs="$svgs real"

# All at once: each browser takes a couple of seconds to start.
for s in $svgs; do
	chrome "p-$s" --virtual-time-budget=5000 --dump-dom "file://$work/$s.svg#selftest" \
		>"$s.dom" 2>"$s.log" &
done
chrome p-shot --window-size=1200,300 --screenshot="$work/report.png" \
	"file://$work/report.svg" >/dev/null 2>shot.log &
wait

for s in $svgs; do
	root=$(grep -m1 -o '<svg [^>]*>' "$s.dom")
	if [ -z "$root" ]; then
		fail "$s.svg: the browser loaded no document"
		sed 's/^/# /' "$s.log" | grep -v -i 'dbus\|bus.cc' | tail -5
		continue
	fi
	echo "$root" | grep -q 'data-ht-ready="1"'
	check $? "$s.svg: loads, its script runs"
	echo "$root" | grep -q 'data-ht-selftest="ok"'
	check $? "$s.svg: zoom, unzoom and search work ($(echo "$root" |
		grep -o 'data-ht-selftest="[^"]*"'))"
	! echo "$root" | grep -q 'data-ht-error' && ! grep -q 'Uncaught' "$s.log"
	check $? "$s.svg: no script error"
	if [ "$s" = series ]; then
		want=$(grep -c '<g class="s line">' series.svg)
		echo "$root" | grep -q "data-ht-lines=\"$want\"" && [ "$want" -ge 3 ]
		check $? "$s.svg: every line is there ($want)"
	else
		# the count from the stacks themselves, not from the SVG
		want=want_$s want=${!want}
		echo "$root" | grep -q "data-ht-frames=\"$want\"" && [ "$want" -ge 5 ]
		check $? "$s.svg: every frame of the stacks is there ($want, counted from the collapsed stacks)"
	fi
done

# A picture was rendered (a blank page compresses to almost nothing).
[ -s report.png ] && [ "$(wc -c <report.png)" -gt 5000 ]
check $? "report.svg renders to a screenshot ($(wc -c <report.png 2>/dev/null) bytes)"

done_testing
