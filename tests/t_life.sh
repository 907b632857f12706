#!/usr/bin/env bash
# Time in the heap, as the snapshot records it: temporary blocks, the
# lifetimes of freed blocks, the ages of blocks in use, the sizes asked
# for, per stack, from a program whose sites' blocks live known times
# (tests/progs/lifetimes.c). tests/cellsdump reads them out of the file.
. "$(dirname "$0")/lib.sh"
cells=$top/tests/cellsdump

# site FILE SITE WHAT [KIND]: for the stacks whose leaf is SITE, summed:
#   WHAT temp_objects|temp_space|temp_samples: the temporary counters;
#   WHAT samples|objects|min|max|fast with KIND life|age|size: the cells'
#   raw samples or objects, the lowest or highest bucket holding any
#   ("none" if there is none), or the samples under 1 ms (buckets 0-9);
#   "absent" when no stack has that leaf.
site() {
	"$cells" "$1" | awk -v site="$2" -v what="$3" -v kind="$4" '
		$1 == "stack" { split($3, f, ";"); mine[$2] = f[1] == site; if (mine[$2]) seen = 1
			if (mine[$2]) { to += $5; ts += $6; tn += $7 } }
		$1 == "cell" && mine[$2] && $3 == kind { n += $7; o += $5
			if (min == "" || $4 + 0 < min) min = $4 + 0; if (max == "" || $4 + 0 > max) max = $4 + 0
			if ($4 + 0 < 10) fast += $7 }
		END {
			if (!seen) { print "absent"; exit }
			if (what == "temp_objects") printf "%.17g\n", to
			else if (what == "temp_space") printf "%.17g\n", ts
			else if (what == "temp_samples") print tn; else if (what == "samples") print n + 0
			else if (what == "objects") printf "%.17g\n", o
			else if (what == "fast") print fast + 0
			else if (what == "min") print (min == "" ? "none" : min)
			else print (max == "" ? "none" : max)
		}'
}

# between GOT LO HI DESCRIPTION: LO <= GOT <= HI, numbers
between() {
	if awk -v g="$1" -v l="$2" -v h="$3" 'BEGIN { exit !(g ~ /^[0-9.e+-]+$/ && g >= l && g <= h) }'; then
		pass "$4 ($1)"
	else
		fail "$4"; echo "#   got '$1', want $2 .. $3"
	fi
}

# Every block recorded (rate 1): the counts are exact.
out=$(traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=exact.heap -- "$progs/lifetimes" 1000 48 10 20 200)
is "$out" "done" "lifetimes runs traced at rate 1"
is "$("$cells" exact.heap | head -1)" "version 2 cells yes" "the snapshot is of version 2 and carries cells"
is "$(site exact.heap site_temp temp_samples)" 1000 "site_temp: its 1000 blocks are temporary"
is "$(site exact.heap site_temp temp_objects)" 1000 "site_temp: 1000 temporary objects"
is "$(site exact.heap site_temp temp_space)" 48000 "site_temp: 48000 temporary bytes"
for s in site_short site_long site_leak site_churn; do
	is "$(site exact.heap $s temp_samples)" 0 "$s: none of its blocks is temporary"
done
for s in site_calloc site_align site_realloc; do
	is "$(site exact.heap $s temp_samples)" 1000 "$s: its 1000 blocks are temporary"
done
is "$(site exact.heap site_zero temp_samples)" 0 "site_zero: a malloc(0) after each block: none is temporary"
is "$(site exact.heap site_rbase temp_samples)" 0 "site_rbase: the blocks realloc replaced are not temporary"
is "$(site exact.heap site_rbase samples life)" 1000 "site_rbase: realloc freed its 1000 blocks"
is "$(site exact.heap site_temp samples life)" 1000 "site_temp: 1000 lifetimes"
# freed by the next instruction but one: a block outlives 1 ms only when
# the thread is preempted in between, as a busy machine may do to a few
between "$(site exact.heap site_temp fast life)" 900 1000 "site_temp: lifetimes under 1 ms"
is "$(site exact.heap site_short samples life)" 200 "site_short: 200 lifetimes"
# a sleep of 5 ms is at least that: bucket 12 starts at 5 ms; bucket 16
# (100 ms) would take a stall of 20 times the sleep
between "$(site exact.heap site_short min life)" 12 15 "site_short: no lifetime under 5 ms"
between "$(site exact.heap site_short max life)" 12 15 "site_short: no lifetime of 100 ms or more"
is "$(site exact.heap site_long samples life)" 20 "site_long: 20 lifetimes"
between "$(site exact.heap site_long min life)" 17 20 "site_long: no lifetime under 200 ms"
between "$(site exact.heap site_long max life)" 17 20 "site_long: no lifetime of 10 s or more"
is "$(site exact.heap site_leak samples life)" 0 "site_leak: no lifetime (never freed)"
is "$(site exact.heap site_leak samples age)" 11 "site_leak: 11 blocks in use, each with its age"
between "$(site exact.heap site_leak min age)" 17 31 "site_leak: every block at least 200 ms old"
is "$(site exact.heap site_churn samples age)" 16 "site_churn: 16 blocks in use, each with its age"
leak_min=$(site exact.heap site_leak min age)
between "$(site exact.heap site_churn max age)" 0 $((leak_min - 1)) \
	"site_churn: every block younger than the youngest leaked one (bucket $leak_min)"
is "$(site exact.heap site_short samples age)" 0 "site_short: no age (nothing in use)"
# sizes: 200 B is in bucket 8 (128 .. 255), 48 B in bucket 6 (32 .. 63)
is "$("$cells" exact.heap | awk '$1 == "stack" { split($3, f, ";"); m[$2] = f[1] == "site_short" }
	$1 == "cell" && m[$2] && $3 == "size" { print $4, $7 }')" "8 200" "site_short: 200 sizes, all in bucket 8"
is "$(site exact.heap site_temp samples size)" 1000 "site_temp: 1000 sizes"
is "$("$cells" exact.heap | awk '$1 == "cell" && ($8 != 0 || $9 != 0)' | wc -l)" 0 \
	"rate 1: no cell has a sampling error"

# Blocks handed between threads: a thread that frees, having allocated
# nothing since, a block at the address of its own last one, made there
# by the other thread, does not free its own last block.
out=$(traced HEAPTRACE_RATE=1 HEAPTRACE_OUTPUT=hand.heap -- "$progs/handoff" 1000)
between "$(echo "$out" | sed -n 's/^same address \([0-9]*\) of 1000$/\1/p')" 500 1000 \
	"handoff: the block handed back is mostly at the address of the one handed (the case this checks)"
for s in site_give site_back; do
	is "$(site hand.heap $s temp_samples)" 0 "handoff: $s's blocks are not temporary"
	is "$(site hand.heap $s samples life)" 1000 "handoff: $s's 1000 blocks were freed"
done

# A peak snapshot's in-use figures are the peak's: it carries no ages of
# the blocks in use when it was written, but lifetimes and sizes as ever.
traced HEAPTRACE_RATE=1 HEAPTRACE_PEAK=10 HEAPTRACE_OUTPUT=pk.heap -- "$progs/lifetimes" 100 48 1 20 200 >/dev/null
wait_file pk.peak.heap
is "$("$cells" pk.peak.heap | awk '$1 == "cell" { n[$3]++ } END { print n["age"] + 0, (n["life"] > 0), (n["size"] > 0) }')" \
	"0 1 1" "the peak snapshot: no age cells, lifetimes and sizes"
is "$("$cells" pk.heap | awk '$1 == "cell" && $3 == "age"' | wc -l | awk '$1 > 0 { print "some" }')" "some" \
	"the final snapshot of the same run has ages"

# The default rate (512 KiB). Over N blocks of s bytes the estimate is
# K/p with K ~ Binomial(N, p), p = 1 - e^(-s/R): unbiased, with sd
# sqrt(N (1 - p) / p) = sqrt(N (w - 1)), w = 1/p. Each bound is 4.5 sd,
# which a normal variable leaves with probability 6.8e-6: the two below
# fail together for nothing with probability 1.4e-5.
#   site_temp: N = 200000 blocks of 4096 B, w = 129.0, sd = 5051 (2.5%),
#              bound 22730 (11.4%)
#   site_short: N = 40 x 50 = 2000 blocks of 64 KiB, w = 8.51, sd = 122.6
#              (6.1%), bound 551.5 (27.6%)
# sd N SIZE: sqrt(N (w - 1)) at the default rate
sd() { awk -v n="$1" -v s="$2" 'BEGIN { p = 1 - exp(-s / 524288); printf "%.6f", sqrt(n * (1 / p - 1)) }'; }
# The same figures as a user reads them: heaptrace-report's views of the
# rate-1 snapshot and its pprof export under go tool pprof.
# secs TIME: a duration as the views print it (7.07ms, 316us, 1.2s), in s
secs() { awk -v t="$1" 'BEGIN { n = t + 0; u = t; sub(/^[0-9.]+/, "", u)
	f["ns"] = 1e-9; f["us"] = 1e-6; f["ms"] = 1e-3; f["s"] = 1; f["min"] = 60; f["h"] = 3600
	if (!(u in f)) { print "bad"; exit } printf "%.9f\n", n * f[u] }'; }
# all VIEW SITE COLUMN: that column of the view's "(all shown stacks)" row under --focus SITE
all() { "$report" "--$1" --focus "$2" exact.heap | awk -v c="$3" '/\(all shown stacks\)$/ { print $c }'; }
is "$("$report" --format collapsed --temp_objects exact.heap | awk '$0 ~ /;site_temp [^;]* [0-9]+$/ { s += $NF } END { print s + 0 }')" 1000 \
	"report --temp_objects: site_temp's 1000 temporary blocks"
between "$(secs "$(all lifetimes site_short 3)")" 0.005 0.1 "report --lifetimes: site_short's median lifetime is 5 to 100 ms"
between "$(secs "$(all lifetimes site_temp 3)")" 0 0.001 "report --lifetimes: site_temp's median lifetime is under 1 ms"
leak=$(secs "$(all age site_leak 6)")
between "$leak" 0.2 60 "report --age: site_leak's blocks in use are 200 ms or older"
is "$(awk -v c="$(secs "$(all age site_churn 6)")" -v l="$leak" 'BEGIN { print (c < l) }')" 1 \
	"report --age: site_churn's are younger than site_leak's"
is "$("$report" --sizes --focus site_temp exact.heap | awk '$NF == "32-63" { print $1 }')" 1.00k \
	"report --sizes: site_temp's 1000 blocks of 48 bytes are in the 32-63 bucket"
"$report" --format pprof -o exact.pb.gz exact.heap
go_pprof_env
go tool pprof -top -sample_index=inuse_space -tagfocus=age=200ms: exact.pb.gz >old.top 2>&1
grep -q ' site_leak$' old.top && ! grep -q ' site_churn$' old.top
check $? "go tool pprof -tagfocus=age=200ms: keeps site_leak's blocks, not site_churn's"

out=$(traced HEAPTRACE_OUTPUT=sampled.heap -- "$progs/lifetimes" 200000 4096 40 50 65536)
is "$out" "done" "lifetimes runs traced at the default rate"
no_warning sampled.heap "default rate"
d=$(sd 200000 4096)
got=$(site sampled.heap site_temp temp_objects)
between "$got" "$(awk -v d="$d" 'BEGIN { print 200000 - 4.5 * d }')" \
	"$(awk -v d="$d" 'BEGIN { print 200000 + 4.5 * d }')" "default rate: site_temp temporary objects, 4.5 sd"
is "$(awk -v o="$got" -v s="$(site sampled.heap site_temp temp_space)" 'BEGIN { d = s - o * 4096; print (o > 0 && d * d < 1e-18 * s * s) }')" 1 \
	"default rate: site_temp temporary bytes are 4096 times its objects (to rounding)"
is "$(site sampled.heap site_temp temp_samples)" "$(site sampled.heap site_temp samples life)" \
	"default rate: every sampled block of site_temp is temporary"
is "$(site sampled.heap site_short temp_samples)" 0 "default rate: none of site_short's is"
# malloc(0) takes nothing off the countdown that decides the samples, but
# is an allocation all the same
n0=$(site sampled.heap site_zero samples life)
between "$n0" 1 200000 "default rate: blocks of site_zero were sampled"
is "$(site sampled.heap site_zero temp_samples)" 0 \
	"default rate: none of site_zero's $n0 is temporary (a malloc(0) followed each)"
is "$(site sampled.heap site_calloc temp_samples)" "$(site sampled.heap site_calloc samples life)" \
	"default rate: every sampled block of site_calloc is temporary"
d=$(sd 2000 65536)
between "$(site sampled.heap site_short objects life)" "$(awk -v d="$d" 'BEGIN { print 2000 - 4.5 * d }')" \
	"$(awk -v d="$d" 'BEGIN { print 2000 + 4.5 * d }')" "default rate: site_short objects freed, 4.5 sd"
between "$(site sampled.heap site_short min life)" 12 15 "default rate: site_short lives 5 to 100 ms"

done_testing
