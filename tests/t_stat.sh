#!/usr/bin/env bash
# The sampled estimates against known truth, with bounds derived from the
# sampling math rather than guessed. tests/repeat.sh runs this file many
# times in a row to show that its false-failure rate is as small as
# claimed here.
. "$(dirname "$0")/lib.sh"

# The byte process samples each allocation of s bytes independently with
# p = 1 - e^(-s/R) (the exponential gap is memoryless), and counts a
# sample as 1/p objects and s/p bytes. Over N allocations of one size the
# estimate is K/p with K ~ Binomial(N, p): unbiased, with relative sd
# sqrt((1 - p) / (N p)).
#
# Each bound is 4.75 sd: a normal variable leaves +-4.75 sd with
# probability 2.0e-6, so the two independent estimates below (site_a's
# space and objects are one estimate: the same K) fail together for
# nothing with probability 4e-6, below 1 in 10^5. (+-4 sd would be
# 6.3e-5 for each: 4.42 sd is the least that gives 1e-5 for one.)
#
# R = 1024, retain -s 400 (site_a keeps 40000 blocks of 1000 B, site_c
# makes and frees 400000 blocks of 64 B; no site_b):
#   site_a: p = 1 - e^(-1000/1024) = 0.62340, sd = sqrt(0.60412 / 40000)
#           = 0.389%, bound 4.75 sd = 1.85%. A weight 5% off moves the
#           estimate by 5%, 8.1 sd beyond the bound's edge: caught with
#           probability 1 - 2e-16, every time.
#   site_c: p = 1 - e^(-64/1024) = 0.060587, sd = sqrt(15.505 / 400000)
#           = 0.623%, bound 4.75 sd = 2.96%.
traced HEAPTRACE_RATE=1024 HEAPTRACE_OUTPUT=sampled.heap -- "$progs/retain" -s 400 >sampled.out
is "$(cat sampled.out)" "retained 40000 blocks" "retain -s 400 runs traced at rate 1024"
no_warning sampled.heap "rate 1024"
within "$(value sampled.heap site_a inuse_space)" 40000000 1.85 "rate 1024: site_a inuse_space estimate, 4.75 sd"
within "$(value sampled.heap site_a inuse_objects)" 40000 1.85 "rate 1024: site_a inuse_objects estimate, 4.75 sd"
within "$(value sampled.heap site_c alloc_objects)" 400000 2.96 "rate 1024: site_c alloc_objects estimate, 4.75 sd"
is "$(value sampled.heap site_c inuse_objects)" 0 "rate 1024: site_c's blocks are all freed: inuse is exactly 0"

done_testing
