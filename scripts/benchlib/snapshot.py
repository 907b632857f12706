"""The snapshot bar: heaptrace-dump of a running program with 110592 stacks,
again after its stacks ran again, heaptrace-report of it and heaptrace-diff
of the two."""
import os
import re
import select
import subprocess
import time

from .budget import bar
from .common import DIFF, DUMP, MANY, REPORT, RUN_TIMEOUT, SHIM, log
from .measure import median
from .procs import reap_orphans
from .report import over


STEPS = ["first", "second", "report", "diff"]
STEP_NAMES = {"first": "heaptrace-dump of the running program (symbols from cold)",
              "second": "heaptrace-dump again, after the stacks ran again",
              "report": "heaptrace-report of the second (top 10)",
              "diff": "heaptrace-diff --sample-index alloc_space of the two"}


def run_snapshot(ctx, runs, raw):
    """DESIGN.md's snapshot bar: a snapshot (heaptrace-dump of a running
    program, symbols included) or a diff of a 100k-stack profile within the bar.
    tests/progs/many makes 110592 distinct stacks at rate 1. Each repetition
    starts it afresh, so the first snapshot finds its symbols from cold;
    then it runs its stacks again and is dumped again, and the two are
    diffed by alloc_space, in which every stack changed. Returns True if
    the bar is met, None if it could not be measured."""
    log("bench: snapshot: %d repetitions of a 110592-stack profile: dump, dump again, "
        "report, diff" % runs)
    res = {k: [] for k in STEPS}
    stacks = None
    base, cur = os.path.join(ctx.tmp, "base.heap"), os.path.join(ctx.tmp, "current.heap")
    env = dict(ctx.base_env, LD_PRELOAD=SHIM, HEAPTRACE_RATE="1",
               HEAPTRACE_OUTPUT=os.path.join(ctx.tmp, "many-exit.heap"))
    for rep in range(runs):
        got = dump_twice(env, ctx.base_env, base, cur)
        reap_orphans()
        if got.get("first") is None or got.get("second") is None:
            log("bench: snapshot: could not dump tests/progs/many (repetition %d)" % rep)
            continue
        got["report"] = timed([REPORT, cur], ctx.base_env)
        got["diff"] = timed([DIFF, "--sample-index", "alloc_space", base, cur], ctx.base_env)
        if stacks is None:
            stacks = count_stacks(cur, ctx.base_env)
        for k in STEPS:
            if got.get(k) is not None:
                res[k].append(got[k])
        raw.append(dict({k: got.get(k) for k in STEPS}, workload="snapshot", stacks=stacks))
        for f in (base, cur, env["HEAPTRACE_OUTPUT"]):
            if os.path.exists(f):
                os.unlink(f)
    return print_snapshot(res, stacks, runs)


def timed(argv, env):
    """Seconds argv took, or None if it failed (or, but for heaptrace-dump,
    printed nothing)."""
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    t = time.monotonic() - t0
    if r.returncode != 0 or (argv[0] != DUMP and not r.stdout):
        log("bench: snapshot: %s failed (exit %d): %s" % (
            os.path.basename(argv[0]), r.returncode, r.stderr.strip()[-300:]))
        return None
    return t


def ready(p):
    """The pid tests/progs/many says it is ready with, or None."""
    if not select.select([p.stdout], [], [], 120)[0]:
        return None
    m = re.match(r"ready (\d+) (\d+)", p.stdout.readline())
    return int(m.group(1)) if m else None


def dump_twice(env, base_env, base, cur):
    """Starts tests/progs/many under env, dumps it to base, has it run its
    stacks again and dumps it to cur; returns the seconds of each dump that
    worked as {"first", "second"}, empty if the program failed."""
    p = subprocess.Popen([MANY], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    try:
        pid = ready(p)
        got = {}
        if pid is not None:
            got["first"] = timed([DUMP, "-o", base, str(pid)], base_env)
            p.stdin.write("again\n")
            p.stdin.flush()
            if ready(p) == pid:
                got["second"] = timed([DUMP, "-o", cur, str(pid)], base_env)
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("bench: snapshot: tests/progs/many: %s" % e)
        p.kill()
        p.wait()
        got = {}
    return got


def count_stacks(snap, base_env):
    """Stacks in the snapshot snap, or None."""
    r = subprocess.run([REPORT, "--format", "collapsed", "--sample-index",
                        "alloc_objects", snap], env=base_env,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return r.stdout.count("\n") if r.returncode == 0 else None


def print_snapshot(res, stacks, runs):
    """The table of the steps and the bar's verdict; returns True if the bar
    is met, None if it could not be measured."""
    print("Snapshot and diff of a 100k-stack profile: tests/progs/many at rate 1, %s stacks "
          "in the snapshot; ms, median (largest) of %d runs" % (
              "n/a" if stacks is None else stacks, runs))
    print()
    print("| step | ms |")
    print("|---|---|")
    for k in STEPS:
        m = median(res[k])
        print("| %s | %s |" % (STEP_NAMES[k], "n/a" if m is None else "%.0f (%.0f)" % (
            m * 1000, max(res[k]) * 1000)))
    print()
    meds = {k: median(res[k]) for k in ("first", "second", "diff")}
    if None in meds.values() or stacks is None or stacks < bar("snapshot_stacks"):
        print("n/a  snapshot or diff of a 100k-stack profile <= %g ms: not measured" %
              bar("snapshot"))
        print()
        return None
    ok = all(v <= bar("snapshot") / 1000 for v in meds.values())
    print("%s snapshot or diff of a 100k-stack profile <= %g ms: snapshot %.0f ms "
          "(first) and %.0f ms (again), diff %.0f ms%s" % (
              "PASS" if ok else "FAIL", bar("snapshot"), meds["first"] * 1000,
              meds["second"] * 1000, meds["diff"] * 1000, over(not ok)))
    print()
    return ok
