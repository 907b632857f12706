"""The workloads: the stress test, sqlite3, python3 and redis-server under
redis-benchmark; one run of one under a configuration, with its wall time,
memory, CPU time and what the tracer reported."""
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from .common import MTALLOC, RUN_TIMEOUT, STRESS
from .measure import callgrind_collected
from .procs import alive, cpu_of, kill_group, make_poller, reap_orphans, wait_pid
from .runners import JE_PROF_CONF, config_env, heaptrace_facts, heaptrack_facts

INSTR_REQUESTS = 100000  # per redis-benchmark test, for --instructions
INSTR_REDIS_RUNS = 3  # its median (see Redis.instructions)

SQLITE_SQL = """\
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER, s TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {rows})
INSERT INTO t SELECT x, printf('%08x', (x * 2654435761) % 4294967296), (x * 7919) % 1000,
       printf('row-%d-%x-%s', x, (x * x * 31) % 1000003, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26))
FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_vs ON t(v, s);
SELECT v, count(*), max(length(s)) FROM t GROUP BY v ORDER BY 2 DESC, 1 LIMIT 1;
SELECT count(*) FROM t WHERE k > '8';
"""

PYTHON_SCRIPT = """\
import json, pickle
rows = []
for i in range({rows}):
    rows.append({{"id": i, "name": "item-%d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)],
                 "score": i * 0.5, "nested": {{"a": [i, i + 1, i + 2], "b": str(i) * 3}}}})
s = json.dumps(rows)
back = json.loads(s)
p = pickle.dumps(back)
idx = {{r["name"]: r for r in back}}
print(len(s), len(p), len(idx))
"""


class Workload:
    """A program run to completion; its metric is wall time (lower is better)."""
    unit = "s"
    higher_is_better = False

    def __init__(self, name, argv, stdin=None, env=None, need=None, per_process=False,
                 execs=None):
        self.name, self.argv, self.stdin = name, argv, stdin
        self.env = env or {}
        self.need = need or []
        # a process tree: each process writes its own snapshot, as the
        # default name does (HEAPTRACE_OUTPUT with %p), not one file that
        # each replaces in turn
        self.per_process = per_process
        # a loop of this many short programs: judged by the cost of one
        # traced exec, not as an allocation-heavy workload
        self.execs = execs
        self.reference = None  # untraced stdout, to check the others against

    def missing(self):
        for n in self.need:
            if not shutil.which(n) and not os.path.exists(n):
                return "%s is not installed" % n
        return None

    def run(self, cfg, ctx):
        snap = os.path.join(ctx.tmp, "ht.%p.heap" if self.per_process else "ht.heap")
        hk = os.path.join(ctx.tmp, "hk")
        env = config_env(cfg, dict(ctx.base_env, **self.env), ctx.je, snap)
        argv = list(self.argv)
        if cfg == "heaptrack":
            argv = ["heaptrack", "-o", hk] + argv
        out_path = os.path.join(ctx.tmp, "stdout")
        err_path = os.path.join(ctx.tmp, "stderr")
        poller = make_poller(cfg)
        with open(out_path, "w") as out, open(err_path, "w") as err, \
                open(self.stdin or os.devnull) as inp:
            poller.start()
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, env=env, stdin=inp, stdout=out, stderr=err,
                                 start_new_session=True)
            code, ru, timed_out = wait_pid(p.pid, RUN_TIMEOUT)
            wall = time.perf_counter() - t0
            p.returncode = code
        orphans = reap_orphans()
        poller.finish()
        res = {"cfg": cfg, "wall": wall, "metric": wall, "code": code,
               "app_rss": ru.ru_maxrss * 1024, "app_cpu": cpu_of(ru), "notes": []}
        if timed_out:
            res["notes"].append("timed out after %d s" % RUN_TIMEOUT)
        with open(out_path) as f:
            stdout = f.read()
        with open(err_path, errors="replace") as f:
            stderr = f.read()
        if code != 0:
            res["notes"].append("exit status %d: %s" % (code, stderr.strip()[-300:]))
        if cfg == "heaptrack":
            # heaptrack's script adds its own lines to the program's
            if self.reference is not None and self.reference not in stdout:
                res["notes"].append("output differs from the untraced run's")
            self.heaptrack_mem(res, poller)
            if ctx.want_heaptrack_facts(self.name):
                ctx.heaptrack_facts[self.name] = heaptrack_facts(hk)
        else:
            self.check_output(cfg, stdout, res)
        if cfg in ("ht", "ht1"):
            # a loop of short programs may sample nothing: then, started
            # lazily, no collector starts, and each process writes its own
            # snapshot (heaptrace_facts says if the shell's is missing)
            self.collector_mem(res, poller, orphans, expected=not self.execs)
            # the facts of the process started (its children's files aside)
            res.update(heaptrace_facts(snap.replace("%p", str(p.pid)), stderr))
        for f in os.listdir(ctx.tmp):
            if f.startswith("hk.") or (self.per_process and f.startswith("ht.") and
                                       f.endswith(".heap")):
                os.unlink(os.path.join(ctx.tmp, f))
        return res

    def check_output(self, cfg, stdout, res):
        if cfg == "none" and self.reference is None:
            self.reference = stdout
        elif self.reference is not None and stdout != self.reference:
            res["notes"].append("output differs from the untraced run's: %r" % stdout[:200])

    @staticmethod
    def collector_mem(res, poller, orphans, expected=True):
        col = [(pid, ru) for pid, ru in orphans]
        if not col:
            if expected:
                res["notes"].append("no collector process was seen")
            return
        # the collector is the one orphan of a heaptrace run
        pid, ru = col[0]
        res["tracer_rss"] = ru.ru_maxrss * 1024
        res["tracer_cpu"] = cpu_of(ru)
        seen = poller.procs.get(pid)
        res["tracer_shmem"] = seen["RssShmem"] * 1024 if seen else None

    def heaptrack_mem(self, res, poller):
        app = os.path.basename(self.argv[0])[:15]
        tracer = app_rss = 0
        for p in poller.procs.values():
            if p["name"].startswith("heaptrack_inte") or p["name"] in ("zstd", "gzip"):
                tracer += p["VmHWM"] * 1024
            elif p["name"] == app:
                app_rss = max(app_rss, p["VmHWM"] * 1024)
        res["tracer_rss"] = tracer
        res["tracer_shmem"] = 0
        res["app_rss"] = app_rss or None


class Redis(Workload):
    """redis-server under redis-benchmark on a unix socket: the metric is
    requests per second over all the tests (higher is better)."""
    unit = "req/s"
    higher_is_better = True

    def __init__(self, requests):
        super().__init__("redis", ["redis-server"], need=["redis-server", "redis-benchmark",
                                                          "redis-cli"])
        self.requests = requests

    def run(self, cfg, ctx):
        if cfg == "je":
            return None  # redis links jemalloc: its plain baseline is the untraced run
        sock = os.path.join(ctx.tmp, "redis.sock")
        snap = os.path.join(ctx.tmp, "ht.heap")
        hk = os.path.join(ctx.tmp, "hk")
        env = dict(ctx.base_env)
        if cfg in ("ht", "ht1"):
            env = config_env(cfg, env, None, snap)
        elif cfg == "jeprof":
            env["MALLOC_CONF"] = JE_PROF_CONF
        argv = self.server_argv(sock, ctx)
        if cfg == "heaptrack":
            argv = ["heaptrack", "-o", hk] + argv
        err_path = os.path.join(ctx.tmp, "stderr")
        poller = make_poller(cfg)
        res = {"cfg": cfg, "notes": []}
        with open(err_path, "w") as err:
            poller.start()
            t0 = time.perf_counter()
            server = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err,
                                      start_new_session=True)
            if not self.wait_ready(sock, server):
                kill_group(server.pid)
                code, ru, _ = wait_pid(server.pid, 30)
                reap_orphans()
                poller.finish()
                res["notes"].append("redis-server did not start (exit %d)" % code)
                res.update(metric=None, wall=None, code=code)
                return res
            bench = subprocess.Popen(
                self.client_argv(sock, self.requests), env=ctx.base_env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True)
            timer = threading.Timer(RUN_TIMEOUT, kill_group, (bench.pid,))
            timer.start()
            text = bench.stdout.read().decode(errors="replace")
            code_b, _, _ = wait_pid(bench.pid, RUN_TIMEOUT)
            timer.cancel()
            subprocess.run(["redis-cli", "-s", sock, "shutdown", "nosave"], env=ctx.base_env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            code, ru, timed_out = wait_pid(server.pid, RUN_TIMEOUT)
            wall = time.perf_counter() - t0
        orphans = reap_orphans()
        poller.finish()
        rps = {}
        for line in re.split(r"[\r\n]", text):
            m = re.match(r"\s*([A-Z]+): ([\d.]+) requests per second", line)
            if m:
                rps[m.group(1)] = float(m.group(2))
        res.update(wall=wall, code=code, app_rss=ru.ru_maxrss * 1024, app_cpu=cpu_of(ru))
        if code_b != 0 or len(rps) != 4:
            res["notes"].append("redis-benchmark failed (exit %d): %s" % (code_b, text[-300:]))
            res["metric"] = None
        else:
            # every test sends the same number of requests: overall rate
            res["metric"] = len(rps) / sum(1.0 / v for v in rps.values())
            res["rps"] = rps
        with open(err_path, errors="replace") as f:
            stderr = f.read()
        if code != 0:
            res["notes"].append("redis-server exit status %d: %s" % (code, stderr.strip()[-300:]))
        if cfg == "heaptrack":
            self.heaptrack_mem(res, poller)
            if ctx.want_heaptrack_facts(self.name):
                ctx.heaptrack_facts[self.name] = heaptrack_facts(hk)
            for f in os.listdir(ctx.tmp):
                if f.startswith("hk."):
                    os.unlink(os.path.join(ctx.tmp, f))
        if cfg in ("ht", "ht1"):
            self.collector_mem(res, poller, orphans)
            res.update(heaptrace_facts(snap, stderr))
        return res

    @staticmethod
    def server_argv(sock, ctx):
        return ["redis-server", "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", ctx.tmp, "--logfile", os.path.join(ctx.tmp, "redis.log")]

    @staticmethod
    def client_argv(sock, requests):
        return ["redis-benchmark", "-s", sock, "-q", "-n", str(requests), "-c", "50",
                "-P", "16", "-r", "100000", "-d", "64", "-t", "set,get,lpush,lpop"]

    def instructions(self, env, ctx, out):
        """Instructions the server executes under callgrind while serving
        INSTR_REQUESTS requests per test, or None. Not the same from run to
        run: redis seeds its hash tables at random, so a command's lookup
        makes more or fewer string compares (up to 2% apart for the same
        commands); run_instructions takes the median of INSTR_REDIS_RUNS."""
        sock = os.path.join(ctx.tmp, "redis-cg.sock")
        err_path = os.path.join(ctx.tmp, "callgrind.err")
        with open(err_path, "w") as err:
            server = subprocess.Popen(["valgrind", "--tool=callgrind",
                                       "--callgrind-out-file=" + out] +
                                      self.server_argv(sock, ctx),
                                      env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err,
                                      start_new_session=True)
            ok = self.wait_ready(sock, server, timeout=120.0)
            if ok:
                ok = subprocess.run(self.client_argv(sock, INSTR_REQUESTS), env=ctx.base_env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    timeout=RUN_TIMEOUT * 4).returncode == 0
                subprocess.run(["redis-cli", "-s", sock, "shutdown", "nosave"],
                               env=ctx.base_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=120)
            else:
                kill_group(server.pid)
            code, _, _ = wait_pid(server.pid, RUN_TIMEOUT * 4)
        reap_orphans()
        with open(err_path, errors="replace") as f:
            n = callgrind_collected(out, f.read())
        return n if ok and code == 0 else None

    @staticmethod
    def wait_ready(sock, server, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(server.pid):
                return False
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect(sock)
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False


def python3():
    """Debian's python3: one on PATH may be another build (pyenv's shim)."""
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"


def make_workloads(quick, tmp):
    sql = os.path.join(tmp, "sqlite.sql")
    with open(sql, "w") as f:
        f.write(SQLITE_SQL.format(rows=150000 if quick else 300000))
    py = os.path.join(tmp, "build.py")
    with open(py, "w") as f:
        f.write(PYTHON_SCRIPT.format(rows=25000 if quick else 50000))
    return [
        Workload("stress", [STRESS, "-t", "2", "-n", "1000000" if quick else "2000000",
                            "-l", "8192"]),
        Workload("sqlite", ["sqlite3", ":memory:"], stdin=sql, need=["sqlite3"]),
        # a fixed hash seed: the same dict layouts, so the same allocations
        # and instructions, in every run
        Workload("python", [python3(), py], env={"PYTHONMALLOC": "malloc",
                                                 "PYTHONHASHSEED": "0"},
                 need=[python3()]),
        Redis(300000 if quick else 1000000),
        # threads that allocate much, on every core: what the sampled path
        # shares between cores shows here
        Workload("mt2", [MTALLOC, "-t", "2", "-n", "1000000" if quick else "3000000"]),
        Workload("mt4", [MTALLOC, "-t", "4", "-n", "500000" if quick else "1500000"]),
        # a shell that runs short programs: each traced exec starts a collector
        Workload("exec", ["/bin/sh", "-c", "i=0; while [ $i -lt %d ]; do /bin/true; "
                          "i=$((i + 1)); done" % (50 if quick else 100)], per_process=True,
                 execs=50 if quick else 100),
    ]


def file_cost(tmp, n=200):
    """Median microseconds to create, write and name a 1 KiB file in tmp, as
    a traced process that never sampled writes its final snapshot (an
    unnamed file, then a link): the disk's share of each traced exec."""
    data = b"\0" * 1024
    times = []
    # a directory descriptor makes os.link call linkat, which can follow
    # /proc's link to the unnamed file (AT_SYMLINK_FOLLOW)
    root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    for i in range(n):
        path = os.path.join(tmp, "cost.%d.heap" % i)
        t0 = time.perf_counter()
        fd = os.open(tmp, os.O_TMPFILE | os.O_WRONLY, 0o644)
        os.write(fd, data)
        os.link("proc/self/fd/%d" % fd, path, src_dir_fd=root, follow_symlinks=True)
        os.close(fd)
        times.append(time.perf_counter() - t0)
    os.close(root)
    for i in range(n):
        os.unlink(os.path.join(tmp, "cost.%d.heap" % i))
    times.sort()
    return times[n // 2] * 1e6


def tmpfs_exec(w, ctx, pairs):
    """The exec loop w, untraced and at the default rate side by side, pairs
    times, with its snapshots on tmpfs (/dev/shm): the tracer's share of a
    traced exec without the disk's. Returns (median ratio, ms per exec) or
    None if there is no tmpfs or a run failed."""
    if not os.path.isdir("/dev/shm") or not w.execs:
        return None
    d = tempfile.mkdtemp(prefix="heaptrace-bench-", dir="/dev/shm")
    try:
        c = Context(d, ctx.base_env, ctx.je)
        base, ratios = [], []
        for _ in range(pairs):
            a, b = w.run("none", c), w.run("ht", c)
            if not a or not b or a["code"] != 0 or b["code"] != 0:
                return None
            base.append(a["wall"])
            ratios.append(b["wall"] / a["wall"])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    r = statistics.median(ratios)
    return r, (r - 1) * statistics.median(base) / w.execs * 1000


class Context:
    def __init__(self, tmp, base_env, je):
        self.tmp, self.base_env, self.je = tmp, base_env, je
        self.heaptrack_facts = {}

    def want_heaptrack_facts(self, name):
        return name not in self.heaptrack_facts
