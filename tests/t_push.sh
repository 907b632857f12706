#!/usr/bin/env bash
# Pushing to a continuous-profiling backend: heaptrace-report --push, and
# the collector's pushes every HEAPTRACE_PUSH_INTERVAL, against a strict
# stand-in for Pyroscope's ingest API (tests/pyroscope_recv.py); each
# pushed profile is read by go tool pprof. A backend that is down, slow
# or failing never harms the program, and its failures are counted.
. "$(dirname "$0")/lib.sh"

go_pprof_env
unset HEAPTRACE_PUSH HEAPTRACE_PUSH_INTERVAL HEAPTRACE_LABELS HEAPTRACE_PUSH_APP \
	HEAPTRACE_PUSH_AUTH_FILE HEAPTRACE_RATE HEAPTRACE_OUTPUT

pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT

receiver() { # DIR MODE: starts a receiver, sets $port
	mkdir -p "$1"
	python3 "$top/tests/pyroscope_recv.py" "$1" "$1/port" "$2" 2>"$1/stderr" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$1/port" ] && break; sleep 0.05; done
	port=$(cat "$1/port")
}

# the alloc_space total of a pushed profile, in bytes
alloc_total() {
	go tool pprof -symbolize=none -sample_index=alloc_space -unit=B -top "$1" 2>/dev/null |
		sed -n 's/^Showing nodes accounting for .* of \([0-9]*\)B total$/\1/p'
}

# ---- heaptrace-report --push -------------------------------------------------
receiver "$work/r1" ok
HEAPTRACE_RATE=4096 HEAPTRACE_OUTPUT=$work/one.heap LD_PRELOAD="$lib" "$progs/retain" 2 >/dev/null
wait_file one.heap
"$report" --push "http://127.0.0.1:$port" --labels service=api,env=test one.heap 2>push.err
check $? "--push: one snapshot sent"
"$report" --format pprof -o one.pb.gz one.heap
cmp -s one.pb.gz "$work/r1/1.pb.gz"
check $? "what arrives is the pprof export of the snapshot, byte for byte"
go tool pprof -symbolize=none -top "$work/r1/1.pb.gz" >top1.txt 2>&1 && grep -q site_a top1.txt
check $? "go tool pprof reads the pushed profile, site_a in it"
python3 - "$work/r1/1.json" <<'PY'
import json, sys
q = json.load(open(sys.argv[1]))
assert q["name"] == ["retain{service=api,env=test}"], q["name"]
assert q["format"] == ["pprof"] and q["spyName"] == ["heaptrace"]
assert int(q["from"][0]) <= int(q["until"][0])
t = json.loads(q["types"][0])
assert set(t) == {"inuse_space", "inuse_objects", "alloc_space", "alloc_objects"}, t
assert t["inuse_space"]["aggregation"] == "average" and t["alloc_space"]["aggregation"] == "sum"
assert t["inuse_space"]["units"] == "bytes" and t["alloc_objects"]["units"] == "objects"
PY
check $? "the query names the executable with its labels; the sample types: in use averaged, allocations summed"
"$report" --push "http://127.0.0.1:$port/" --app shop.cart one.heap &&
	grep -q '"name": \["shop.cart{}"\]' "$work/r1/2.json"
check $? "--app names the application; a trailing slash in the URL is fine"

echo "s3cr3t-token" >token
echo "tenant:pass word" >basic
"$report" --push "http://127.0.0.1:$port" --push-auth-file token one.heap &&
	grep -q '"auth": \["Bearer s3cr3t-token"\]' "$work/r1/3.json"
check $? "a token from the credentials file goes as a bearer token"
"$report" --push "http://127.0.0.1:$port" --push-auth-file basic one.heap &&
	grep -q "\"auth\": \[\"Basic $(printf 'tenant:pass word' | base64)\"\]" "$work/r1/4.json"
check $? "user:password from the file goes as basic auth"
[ ! -e "$work/r1/refused.log" ]
check $? "the stand-in refused nothing so far"

# bad input: one line, a usage status, nothing sent
"$report" --push ftp://x one.heap 2>e1; rc=$?
is "$rc" 2 "a URL that is not http(s): exit 2"
grep -q "bad push URL 'ftp://x'" e1
check $? "and says so"
"$report" --push "http://127.0.0.1:$port" --labels 'a b=1' one.heap 2>e2; rc=$?
is "$rc" 2 "bad labels: exit 2"
"$report" --labels env=x one.heap >/dev/null 2>e3; rc=$?
is "$rc" 2 "--labels without --push: exit 2"
"$report" --push "http://127.0.0.1:$port" -o x one.heap 2>e4; rc=$?
is "$rc" 2 "--push with -o: exit 2"
HEAPTRACE_RATE=4096 HEAPTRACE_OUTPUT=$work/other.heap LD_PRELOAD="$lib" "$progs/retain" 1 >/dev/null
wait_file other.heap
"$report" --push "http://127.0.0.1:$port" --push-base other.heap one.heap 2>e5; rc=$?
is "$rc" 1 "a base from another process: exit 1"
grep -q "not an earlier snapshot of the same process" e5
check $? "and says why"
ls "$work/r1"/*.pb.gz | wc -l >n1
is "$(cat n1)" 4 "nothing was sent for the bad ones"

# a backend that is down, or fails: exit 1 after its tries, one line
down=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$report" --push "http://127.0.0.1:$down" one.heap 2>e6; rc=$?
is "$rc" 1 "nothing listening: exit 1"
grep -q "cannot push to 'http://127.0.0.1:$down/ingest" e6 && [ "$(wc -l <e6)" -eq 1 ]
check $? "one line: cannot push to ..."
receiver "$work/r500" fail
"$report" --push "http://127.0.0.1:$port" one.heap 2>e7; rc=$?
is "$rc" 1 "a server answering 500: exit 1"
grep -q "the server answered 500: internal error$" e7
check $? "and the status is said"

# ---- the collector pushes every interval -------------------------------------
receiver "$work/r2" ok
same_output() { # FILE: what grow printed, as untraced (its pid aside)
	cmp -s <(sed 's/^ready [0-9]*$/ready/' "$1") <(sed 's/^ready [0-9]*$/ready/' g0.out)
}
feed() { echo "grow 1000"; sleep 1.3; echo "grow 2000"; sleep 1.3; echo "churn 500"; sleep 1.3; echo "grow 10"; }
feed | HEAPTRACE_RATE=1 HEAPTRACE_PUSH="http://127.0.0.1:$port" HEAPTRACE_PUSH_INTERVAL=1 \
	HEAPTRACE_LABELS=env=test HEAPTRACE_OUTPUT=$work/g.heap LD_PRELOAD="$lib" \
	"$progs/grow" >g.out 2>g.err &
gpid=$!
# while it runs (the pushes at 1 s and 2 s are done by 3.2 s): the counts
# in the metrics heaptrace-dump prints, as /metrics serves them
for _ in $(seq 100); do grep -q '^ready' g.out 2>/dev/null && break; sleep 0.05; done
sleep 3.2
"$dump" --metrics "$(sed -n 's/^ready //p' g.out)" >g.prom 2>&1
wait "$gpid"
is "$?" 0 "a program that pushes exits 0"
sent_mid=$(awk '$1 ~ /^heaptrace_push_sent_total/ { print $2 }' g.prom)
check "$([ "${sent_mid:-0}" -ge 1 ]; echo $?)" "the metrics count the pushes sent (${sent_mid:-none})"
grep -q '^heaptrace_push_failed_total{.*} 0$' g.prom && grep -q '^# TYPE heaptrace_push_sent_total counter$' g.prom
check $? "... and the failed ones, as counters"
feed | "$progs/grow" >g0.out 2>/dev/null
same_output g.out
check $? "and prints what it prints untraced"
wait_file g.heap
for _ in $(seq 100); do [ "$(ls "$work/r2"/*.json 2>/dev/null | wc -l)" -ge 4 ] && break; sleep 0.1; done
np=$(ls "$work/r2"/*.pb.gz | wc -l)
check "$([ "$np" -ge 4 ]; echo $?)" "a push every second and one at exit: $np profiles"
sent=$("$report" --stats g.heap | awk '$1 == "push.sent_total" { print $2 }')
is "$sent" "$((np - 1))" "the final snapshot counts the pushes before it"
sum=0
for f in "$work/r2"/*.pb.gz; do sum=$((sum + $(alloc_total "$f"))); done
want=$("$report" --sample_index=alloc_space --format json g.heap |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["total"]["exact"])')
is "$sum" "$want" "at rate 1 the pushed allocations add up to the program's, each counted once"
grep -h -o '"name": \["[^"]*"\]' "$work/r2"/*.json | sort -u >names
is "$(cat names)" '"name": ["grow{env=test}"]' "every push names the program and its labels"
"$report" --stats g.heap | grep -q '^  profiles pushed  *[0-9]'
check $? "--stats shows the pushes"

# ---- a backend that is down, or slow ----------------------------------------
feed | HEAPTRACE_PUSH="http://127.0.0.1:$down" HEAPTRACE_PUSH_INTERVAL=1 \
	HEAPTRACE_OUTPUT=$work/d.heap LD_PRELOAD="$lib" "$progs/grow" >d.out 2>d.err
is "$?" 0 "pushing to nothing: the program exits 0"
same_output d.out
check $? "with its output unchanged"
wait_file d.heap
pfailed=$("$report" --stats d.heap | awk '$1 == "push.failed_total" { print $2 }')
check "$([ "${pfailed:-0}" -ge 1 ]; echo $?)" "the failures are counted (${pfailed:-none})"

receiver "$work/rslow" slow
feed | HEAPTRACE_PUSH="http://127.0.0.1:$port" HEAPTRACE_PUSH_INTERVAL=1 \
	HEAPTRACE_OUTPUT=$work/s.heap LD_PRELOAD="$lib" "$progs/grow" >s.out 2>s.err
is "$?" 0 "a backend that never answers: the program exits 0"
same_output s.out
check $? "with its output unchanged"
wait_file s.heap
skipped=$("$report" --stats s.heap | awk '$1 == "push.skipped_total" { print $2 }')
check "$([ "${skipped:-0}" -ge 1 ]; echo $?)" "one push at a time: the ones due meanwhile are skipped (${skipped:-none})"
done_testing
