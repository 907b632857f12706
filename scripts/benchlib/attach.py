"""The attach bar: how long heaptrace -p keeps the threads of a busy
8-thread process stopped, attaching and stopping again and again, as
heaptrace-attach reports it."""
import os
import re
import select
import subprocess

from .budget import bar
from .common import ATTACH, ATTACHEE, RUN_TIMEOUT, log
from .measure import median
from .report import over

PAUSED = re.compile(r"; (\d+) threads? paused ([0-9.]+) ms \(stopping ([0-9.]+), loading "
                    r"([0-9.]+), the call ([0-9.]+); (\d+) tr")


def run_attach(ctx, rounds, raw):
    """DESIGN.md's attach bar: tests/progs/attachee's 8 threads allocate,
    fill, check and free blocks; heaptrace-attach attaches to it and stops
    its tracing rounds times. The pause is the time its threads are kept
    stopped (the first one's stop to the last one's release), as
    heaptrace-attach prints it. Returns True if the median and the largest
    attach pause are within the bar, None if it could not be measured."""
    log("bench: attach: %d attaches and stops of 8 busy threads" % rounds)
    p = subprocess.Popen([ATTACHEE, "churn", "8", "3600"], env=ctx.base_env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    res = {"attach": [], "stop": []}
    try:
        if not select.select([p.stdout], [], [], 30)[0]:
            return print_attach(res, rounds)
        pid = p.stdout.readline().strip()
        out = os.path.join(ctx.tmp, "attach.heap")
        for i in range(rounds):
            for what, argv in (("attach", [ATTACH, pid, "HEAPTRACE_OUTPUT=" + out]),
                               ("stop", [ATTACH, "--stop", pid])):
                got = one(argv, ctx.base_env)
                if got is None:
                    return print_attach(res, rounds)
                res[what].append(got["paused"])
                raw.append(dict(got, workload="attach", step=what, round=i))
            wait_written(out)
    finally:
        p.kill()
        p.wait()
    return print_attach(res, rounds)


def one(argv, env):
    """What heaptrace-attach says of its pause, or None if it failed."""
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    m = PAUSED.search(r.stdout)
    if r.returncode != 0 or not m:
        log("bench: attach: heaptrace-attach failed (exit %d): %s" % (
            r.returncode, (r.stderr or r.stdout).strip()[-300:]))
        return None
    return {"threads": int(m.group(1)), "paused": float(m.group(2)),
            "stopping": float(m.group(3)), "loading": float(m.group(4)),
            "call": float(m.group(5)), "tries": int(m.group(6))}


def wait_written(path):
    """Waits (10 s at most) for the stopped collector's snapshot, and
    removes it: the next attach starts a collector only once the last one
    is gone."""
    for _ in range(200):
        if os.path.exists(path):
            os.unlink(path)
            return
        select.select([], [], [], 0.05)


def print_attach(res, rounds):
    """The table and the bar's verdict; True if met, None if not measured."""
    print("Attach pause of 8 busy threads (tests/progs/attachee churn 8): ms the threads "
          "were stopped, median (largest) of %d rounds" % rounds)
    print()
    print("| step | ms |")
    print("|---|---|")
    for k, name in (("attach", "heaptrace -p: load the shim, start tracing"),
                    ("stop", "stop tracing")):
        m = median(res[k])
        print("| %s | %s |" % (name, "n/a" if m is None else "%.1f (%.1f)" % (
            m, max(res[k]))))
    print()
    if len(res["attach"]) < rounds or len(res["stop"]) < rounds:
        print("n/a  attach pause of a busy 8-thread process <= %g ms: not measured" %
              bar("attach_pause"))
        print()
        return None
    worst = max(res["attach"] + res["stop"])
    ok = worst <= bar("attach_pause")
    print("%s attach pause of a busy 8-thread process <= %g ms: median %.1f ms, largest "
          "%.1f ms%s" % ("PASS" if ok else "FAIL", bar("attach_pause"),
                         median(res["attach"]), worst, over(not ok)))
    print()
    return ok
