#!/usr/bin/env bash
# The 95% intervals end to end: a program with a known retained set
# (tests/progs/known: large blocks, many small blocks, mixed sizes at one
# site) traced 40 times at a small rate; each run's report must hold the
# truth inside its interval for each site, objects and bytes, in most
# runs. The unit test (test_sampling) measures coverage precisely; this
# one checks that the whole chain (shim, ring, collector, snapshot,
# report) delivers it.
#
# Bounds: with coverage at its nominal 95% or more, a site misses in a
# run with p <= 0.05. Over the 240 checks (40 runs, 3 sites, 2 counters)
# the expected misses are <= 12 (sd 3.4): 36 misses (85% coverage) is 7
# sd away. One site and counter misses 11 of 40 (72.5%) with probability
# below 1e-4 at p = 0.05.
. "$(dirname "$0")/lib.sh"

runs=40
truth=$("$progs/known")
for i in $(seq $runs); do
	HEAPTRACE_RATE=65536 HEAPTRACE_OUTPUT=k$i.heap LD_PRELOAD="$lib" "$progs/known" >k$i.out ||
		echo "run $i failed" >>runs.err
	[ "$(cat k$i.out)" = "$truth" ] || echo "run $i: output changed" >>runs.err
	for idx in inuse_space inuse_objects; do
		"$report" --format json --functions --sample-index $idx k$i.heap >k$i.$idx.json ||
			echo "run $i: no report" >>runs.err
	done
done
check "$([ ! -s runs.err ]; echo $?)" "$runs traced runs of known, each with its report"
[ -s runs.err ] && note runs.err

python3 - "$runs" "$truth" <<'PY' >coverage.txt
import json, sys
runs, truth = int(sys.argv[1]), {}
for line in sys.argv[2].split("\n"):
    site, objects, space = line.split()
    truth[site] = {"inuse_objects": float(objects), "inuse_space": float(space)}
hits, tries, per = 0, 0, {}
for i in range(1, runs + 1):
    for idx in ("inuse_space", "inuse_objects"):
        try:
            rows = {r["name"]: r for r in json.load(open("k%d.%s.json" % (i, idx)))["rows"]}
        except Exception:
            rows = {}
        for site, t in truth.items():
            r = rows.get(site)
            ok = r is not None and r["flat_lo"] <= t[idx] <= r["flat_hi"]
            hits += ok
            tries += 1
            per.setdefault((site, idx), []).append(ok)
print("pooled %d %d" % (hits, tries))
for (site, idx), v in sorted(per.items()):
    print("%s %s %d %d" % (site, idx, sum(v), len(v)))
PY
read -r _ hits tries < <(grep '^pooled' coverage.txt)
check "$(awk -v h="${hits:-0}" -v t="${tries:-0}" 'BEGIN { exit !(t == 240 && h >= 0.85 * t) }'; echo $?)" \
	"the intervals hold the truth in ${hits:-?} of ${tries:-?} site-runs (85% or more)"
while read -r site idx h t; do
	check "$(awk -v h="$h" -v t="$t" 'BEGIN { exit !(t == 40 && h >= 29) }'; echo $?)" \
		"$site, $idx: in $h of $t runs (29 or more)"
done < <(grep -v '^pooled' coverage.txt)

done_testing
