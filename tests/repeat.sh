#!/usr/bin/env bash
# tests/repeat.sh [N] [TEST...]: runs each statistical test N times in a
# row (default 200) and counts the runs that failed, to show that a
# test's bounds hold as often as its comments claim. Not part of
# `make test`; run after `make all tests/progs/retain`. Exit status 0
# only if no run failed.
cd "$(dirname "$0")/.." || exit 2
export HT_TOP=$PWD
runs=${1:-200}
shift
[ $# -gt 0 ] || set -- tests/t_stat.sh
bad=0
for t in "$@"; do
	f=0
	for i in $(seq "$runs"); do
		if ! out=$("$t" 2>&1); then
			f=$((f + 1))
			echo "$t: run $i failed:"
			printf '%s\n' "$out" | grep -A2 '^not ok' | sed 's/^/    /'
		fi
	done
	echo "$t: $f of $runs runs failed"
	bad=$((bad + f))
done
[ "$bad" -eq 0 ]
