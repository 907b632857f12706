#!/usr/bin/env bash
# The demo behind `make demo`: runs the bundled toy service traced, takes a
# base snapshot, puts it under load, takes a current snapshot, and shows
# what grew in between. Files go to tests/out/demo/.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/tests/out/demo
bin=$top/collector
mkdir -p "$out"
cd "$out"
rm -f ./*.heap

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "start the demo service traced:  LD_PRELOAD=preload/libheaptrace.so tests/progs/demo"
coproc DEMO { HEAPTRACE_OUTPUT="$out/final.heap" LD_PRELOAD="$top/preload/libheaptrace.so" \
	"$top/tests/progs/demo"; }
read -r -t 10 _ pid <&"${DEMO[0]}"
echo "pid $pid"
# a warm-up: about 14 MB allocated, so that the first sample, which starts
# the collector heaptrace-dump talks to, has come (a chance of e^-28 that
# it has not; 2000 requests left it at 6%)
echo "load 20000" >&"${DEMO[1]}"; read -r -t 30 _ _ <&"${DEMO[0]}"

step "base snapshot:  heaptrace-dump -o base.heap $pid"
"$bin/heaptrace-dump" -o base.heap "$pid"

step "load: 200000 requests"
echo "load 200000" >&"${DEMO[1]}"; read -r -t 120 _ served <&"${DEMO[0]}"
echo "served $served requests"

step "current snapshot:  heaptrace-dump -o current.heap $pid"
"$bin/heaptrace-dump" -o current.heap "$pid"

step "what grew:  heaptrace-diff base.heap current.heap"
"$bin/heaptrace-diff" base.heap current.heap

step "where the churn is:  heaptrace-diff --sample-index alloc_space base.heap current.heap"
"$bin/heaptrace-diff" --sample-index alloc_space --top 5 base.heap current.heap | sed -n '/flat%/,$p'

echo quit >&"${DEMO[1]}"
wait "$DEMO_PID"
step "final snapshot at exit:  heaptrace-report --top 5 final.heap"
"$bin/heaptrace-report" --top 5 final.heap
printf '\nsnapshots are in %s\n' "$out"
