#!/usr/bin/env bash
# HEAPTRACE_METRICS: the collector's HTTP endpoints, read by real clients.
# go tool pprof reads /debug/pprof/heap, /allocs and ?seconds=N of a traced
# tests/progs/grow (every allocation recorded) and finds heaptrace-report's
# figures; bad requests get their errors; clients that send nothing or read
# nothing delay no one and cost the ring nothing; a real Prometheus server
# scrapes /metrics and answers queries with the program's exact figures;
# heaptrace-dump --metrics passes promtool. Prints TAP.
. "$(dirname "$0")/lib.sh"

for t in go prometheus promtool curl python3; do
	command -v $t >/dev/null 2>&1 || { fail "$t is installed (scripts/deps.sh)"; done_testing; }
done
go_pprof_env
pp() { go tool pprof -symbolize=none "$@" 2>>pprof.err; }

gpid= prom=
cleanup() {
	exec 3>&- 4>&- 5>&- 6>&- 7>&-
	[ -n "$prom" ] && kill "$prom" 2>/dev/null
	[ -n "$gpid" ] && kill "$gpid" 2>/dev/null
	[ -n "$slow" ] && kill "$slow" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# The subject, driven through a FIFO; say CMD waits for its answer.
mkfifo in
exec 3<>in
HEAPTRACE_RATE=1 HEAPTRACE_DEPTH=256 HEAPTRACE_METRICS=0 HEAPTRACE_METRICS_TOP=300 \
	LD_PRELOAD="$lib" "$progs/grow" <in >grow.out 2>grow.err &
gpid=$!
say() {
	local before
	before=$(wc -l <grow.out)
	echo "$1" >&3
	for _ in $(seq 400); do
		[ "$(wc -l <grow.out)" -gt "$before" ] && return 0
		sleep 0.05
	done
	return 1
}
port=
for _ in $(seq 200); do
	port=$(sed -n 's/^heaptrace: process [0-9]*: serving http on port \([0-9]*\)$/\1/p' grow.err)
	[ -n "$port" ] && break
	sleep 0.05
done
[ -n "$port" ]
check $? "HEAPTRACE_METRICS=0: the collector says the port it took"
url=http://127.0.0.1:$port
say "grow 5000"

# --- pprof ---
dumpf=$("$dump" "$gpid")
pp -top -unit=B -nodefraction=0 "$url/debug/pprof/heap" >heap.top
flat=$(awk '$NF == "grow_site" { v = $1; sub(/B$/, "", v); print v }' heap.top)
want=$(value "$dumpf" grow_site inuse_space)
is "$flat" 5000000 "go tool pprof URL/debug/pprof/heap: grow_site holds 5000 x 1000 bytes"
is "$flat" "$want" "the same as heaptrace-report of a dump"
total=$(awk '/^Showing nodes accounting for/ { v = $(NF - 1); sub(/B$/, "", v); print v }' heap.top)
rtotal=$("$report" --unit B "$dumpf" | awk '/^Showing nodes accounting for/ { v = $(NF - 1); sub(/B$/, "", v); print v }')
is "$total" "$rtotal" "its total is heaptrace-report's"
grep -q '^Type: inuse_space' heap.top
check $? "/debug/pprof/heap defaults to inuse_space"
pp -top "$url/debug/pprof/allocs?gc=1" >allocs.top
grep -q '^Type: alloc_space' allocs.top
check $? "/debug/pprof/allocs defaults to alloc_space (and ?gc=1 is taken)"
pp -raw "$url/debug/pprof/allocs" | grep -qxF 'alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes temp_objects/count temp_space/bytes'
check $? "/debug/pprof/allocs: the four sample types and the temporary blocks' two, alloc_space the profile's default"

# ?seconds=N: only what was allocated in those seconds
say "grow 100"
pp -top -unit=B -nodefraction=0 "$url/debug/pprof/heap?seconds=3" >delta.top &
d=$!
sleep 1
say "grow 300"
wait $d
dflat=$(awk '$NF == "grow_site" { v = $1; sub(/B$/, "", v); print v }' delta.top)
is "$dflat" 300000 "?seconds=3: grow_site's change is the 300 blocks allocated meanwhile"
shown=$(awk '/^Showing nodes accounting for/ { v = $5; sub(/B,?$/, "", v); print v }' delta.top)
is "$shown" 300000 "?seconds=3: nothing else changed"

# --- the other pages and bad requests ---
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
is "$(curl -s "$url/debug/pprof/cmdline" | tr '\0' ' ')" "$progs/grow" "/debug/pprof/cmdline: the command line"
curl -s "$url/debug/pprof/" | grep -q 'href="heap?debug=0"'
check $? "/debug/pprof/: an index page"
is "$(status "$url/debug/pprof/nope")" 404 "an unknown path: 404"
is "$(status "$url/debug/pprof/heap?seconds=0")" 400 "seconds=0: 400"
is "$(status "$url/debug/pprof/heap?seconds=301")" 400 "seconds=301: 400"
is "$(status "$url/debug/pprof/heap?seconds=x")" 400 "seconds=x: 400"
is "$(status -X POST "$url/metrics")" 405 "POST: 405"
is "$(status -I "$url/metrics")" 200 "HEAD: 200"

# Four clients that send nothing hold every answering slot: a fifth
# request is told 503 at once; the program and the ring go on. The answers
# to the requests before may still be ending (slower under a sanitizer):
# the four connect once none is left, and the fifth once each of the four
# has its answerer, or a slot freed meanwhile would answer it.
kids() { pgrep -fc "^heaptrace-dump --serve-fd 0 $gpid\$"; }
for _ in $(seq 100); do [ "$(kids)" = 0 ] && break; sleep 0.1; done
for fd in 4 5 6 7; do eval "exec $fd<>/dev/tcp/127.0.0.1/$port"; done
for _ in $(seq 100); do [ "$(kids)" -ge 4 ] && break; sleep 0.1; done
is "$(kids)" 4 "four connections that send nothing: four answerers wait"
is "$(status --max-time 4 "$url/metrics")" 503 "past four connections at once: 503"
say "churn 200000"
check $? "the program runs on meanwhile"
exec 4>&- 5>&- 6>&- 7>&-
ok=
for _ in $(seq 50); do
	[ "$(status "$url/metrics")" = 200 ] && { ok=1; break; }
	sleep 0.1
done
is "$ok" 1 "once they are gone, requests are answered again"

# A client that asks for a large response and never reads it.
say "stacks 200"
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
time.sleep(30)' "$port" &
slow=$!
curl -s --max-time 10 "$url/metrics" >metrics.txt
check $? "/metrics is answered while a client does not read its own"
size=$(wc -c <metrics.txt)
[ "$size" -gt 100000 ]
check $? "(that response is large: $size bytes)"
say "churn 200000"
promtool check metrics <metrics.txt >promtool.out 2>&1
check $? "promtool check metrics: /metrics parses (300 stacks)"
note promtool.out
series=$(grep -c "^heaptrace_stack_inuse_bytes{" metrics.txt)
is "$series" 203 "the stack gauge has one series per stack, bounded by HEAPTRACE_METRICS_TOP"
kill $slow 2>/dev/null
wait $slow 2>/dev/null
slow=

"$dump" --metrics "$gpid" >m.txt
check $? "heaptrace-dump --metrics PID"
promtool check metrics <m.txt >promtool2.out 2>&1
check $? "promtool check metrics: heaptrace-dump --metrics parses"
grep -q "^heaptrace_events_not_recorded_total{pid=\"$gpid\",exe=\"$progs/grow\"} 0$" m.txt
check $? "no event went unrecorded through all of it"
calls=$(awk '/^heaptrace_alloc_calls_total/ { print $2 }' m.txt)
inuse=$(awk '/^heaptrace_heap_inuse_bytes\{/ { print $2 }' m.txt)
dumpf=$("$dump" "$gpid")
is "$calls" "$("$report" --stats "$dumpf" | awk '/^  alloc calls/ { print $3 }')" \
	"--metrics: the exact alloc calls of --stats"

# --- a real Prometheus server scraping /metrics ---
pport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >prom.yml <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: heaptrace
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file=prom.yml --storage.tsdb.path="$work/tsdb" \
	--web.listen-address=127.0.0.1:$pport >prom.log 2>&1 &
prom=$!
# query EXPR: the value of the one series EXPR gives, once there is one
query() {
	for _ in $(seq 120); do
		v=$(curl -s "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
		    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if len(r) == 1 else "")' 2>/dev/null)
		[ -n "$v" ] && { echo "$v"; return 0; }
		sleep 0.25
	done
	return 1
}
got=$(query "heaptrace_alloc_calls_total{pid=\"$gpid\"}")
is "$got" "$calls" "Prometheus: the program's exact alloc calls"
got=$(query "heaptrace_heap_inuse_bytes{pid=\"$gpid\"}")
is "$got" "$inuse" "Prometheus: the program's in-use estimate"
got=$(query "count(heaptrace_stack_inuse_bytes{pid=\"$gpid\"})")
is "$got" 203 "Prometheus: every top stack is a series"
[ "$failed" -eq 0 ] || tail -5 prom.log | note
done_testing
