#!/usr/bin/env bash
# redis-server from Debian (which allocates through jemalloc) traced under
# redis-benchmark load on loopback: it serves as untraced, can be dumped
# while under load, and leaves a final snapshot after a clean shutdown.
. "$(dirname "$0")/lib.sh"

port=$((20000 + RANDOM % 20000))
HEAPTRACE_RATE=16384 HEAPTRACE_OUTPUT=$work/redis.heap LD_PRELOAD="$lib" redis-server --port "$port" \
	--bind 127.0.0.1 --save '' --appendonly no >redis.log 2>&1 &
rpid=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
is "$(redis-cli -p "$port" ping 2>&1)" PONG "traced redis-server answers on loopback"
timeout 60 redis-benchmark -p "$port" -q -n 20000 -c 10 -P 4 -t set,lpush >bench.txt 2>&1
check $? "redis-benchmark completes against it"
grep -q 'requests per second' bench.txt
check $? "and reports throughput"
is "$(redis-cli -p "$port" dbsize)" 2 "the data is there (key:__rand_int__ and mylist)"
"$dump" -o live.heap "$rpid" >/dev/null 2>dump.err
check $? "heaptrace-dump while it runs"
"$report" --functions --top 0 --sample-index alloc_space live.heap >live.txt
grep -q 'zmalloc' live.txt
check $? "the snapshot names redis's allocator wrapper (zmalloc)"
redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
wait "$rpid"
is "$?" 0 "redis-server exits 0 after shutdown"
"$report" --verbose redis.heap >final.txt 2>&1
check $? "a valid final snapshot"
grep -q 'State: final (the program exited)' final.txt
check $? "marked final, not cut short"
done_testing
