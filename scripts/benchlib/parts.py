"""Where a sample's cost goes: the allocation-heavy threads (mt) at the
default rate under the shim built with its sampled path's parts timed
(preload/parts.h), one thread and two; per part, its calls per sample and
the median cycles of a call."""
import os
import re
import subprocess

from .common import MTALLOC, PARTS_SHIM, RUN_TIMEOUT, log
from .measure import median
from .procs import reap_orphans

PARTS = [("arena_malloc", "a sampled block's slot (malloc, realloc)"),
         ("arena_calloc", "the same for calloc, with its clearing"),
         ("stack", "its stack: the thread's cache, or a walk"),
         ("alloc_event", "its ALLOC record in the ring"),
         ("free_event", "its FREE record"),
         ("arena_free", "its slot given back"),
         ("copy", "a realloc's copy into or out of the arena")]


def parts_once(threads, ops, ctx):
    """{part: (calls, cycles, bytes)} and the TSC's rate of one run, or
    None (said) if it failed."""
    snap = os.path.join(ctx.tmp, "parts.heap")
    env = dict(ctx.base_env, LD_PRELOAD=PARTS_SHIM, HEAPTRACE_OUTPUT=snap)
    r = subprocess.run([MTALLOC, "-t", str(threads), "-n", str(ops // threads)], env=env,
                       capture_output=True, text=True, timeout=RUN_TIMEOUT)
    reap_orphans()
    if os.path.exists(snap):
        os.unlink(snap)
    m = re.search(r"^heaptrace-parts: tsc_hz=(\d+)(.*)$", r.stderr, re.M)
    if r.returncode != 0 or not m:
        log("bench: parts: mtalloc -t %d failed: %s" % (threads, r.stderr.strip()[-300:]))
        return None
    got = {}
    for k, calls, cyc, nbytes in re.findall(r" (\w+)=(\d+)/(\d+)/(\d+)", m.group(2)):
        got[k] = (int(calls), int(cyc), int(nbytes))
    return got, int(m.group(1))


def run_parts(ctx, runs, ops, raw):
    print("Where a sample's cost goes (tests/progs/mtalloc, %d operations at the default "
          "rate, under the shim built with its parts timed: make "
          "preload/libheaptrace-parts.so; medians of %d runs; a call's cycles are the TSC's, "
          "preemption included). Not all of it is the tracer's: calloc clears its block in "
          "any allocator, and realloc copies one it cannot grow in place:" % (ops, runs))
    print()
    print("| part | what | 1 thread: calls per sample | cycles per call | 2 threads: calls "
          "per sample | cycles per call |")
    print("|---|---|---|---|---|---|")
    cells = {}
    hz = []
    for threads in (1, 2):
        per = {k: ([], []) for k, _ in PARTS}
        for _ in range(runs):
            one = parts_once(threads, ops, ctx)
            if not one:
                continue
            got, rate = one
            hz.append(rate)
            samples = got.get("stack", (0, 0, 0))[0]
            for k, _ in PARTS:
                calls, cyc, nbytes = got.get(k, (0, 0, 0))
                if samples:
                    per[k][0].append(calls / samples)
                if calls:
                    per[k][1].append(cyc / calls)
                raw.append({"workload": "parts", "threads": threads, "part": k,
                            "calls": calls, "cycles": cyc, "bytes": nbytes,
                            "samples": samples})
        cells[threads] = {k: (median(v[0]), median(v[1])) for k, v in per.items()}
    total = {}
    for k, what in PARTS:
        row = [k, what]
        for threads in (1, 2):
            share, cyc = cells[threads][k]
            row += ["%.2f" % share if share is not None else "n/a",
                    "%.0f" % cyc if cyc is not None else "n/a"]
            if share is not None and cyc is not None:
                total[threads] = total.get(threads, 0) + share * cyc
        print("| " + " | ".join(row) + " |")
    rate = median(hz)
    if rate:
        print()
        print("Per sample, all parts: %s (the TSC at %.0f MHz)." % (
            ", ".join("%d thread%s %.0f cycles, %.2f us" % (
                t, "" if t == 1 else "s", total[t], total[t] / rate * 1e6)
                for t in (1, 2) if t in total), rate / 1e6))
    print()
