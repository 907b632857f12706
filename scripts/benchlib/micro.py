"""The microbenchmarks: malloc(32)+free pairs on the fast path against a
forwarding-only shim, with callgrind's instructions per pair; the cost of
one sample at stack depths 8, 32 and 128; buffers grown by realloc from
4 KiB to 32 MiB; and callocs of 64 to 88 KiB written at their ends or
whole."""
import os
import re
import resource
import shutil
import subprocess

from .budget import BUDGET, bar
from .common import MICRO, RUN_TIMEOUT, log
from .measure import callgrind_collected, median
from .procs import reap_orphans
from .report import over
from .runners import micro_env

MICRO_CONFIGS = ["none", "fwd", "hthuge", "ht"]
MICRO_NAMES = {"none": "no preload", "fwd": "forwarding-only shim",
               "hthuge": "heaptrace, nothing sampled (rate 2^40)",
               "ht": "heaptrace, default rate"}


def pairs_once(args, env, snap, what):
    """One run of the microbenchmark with args: its ns per pair, or None
    (said) if it failed; the snapshot it may have written is removed."""
    r = subprocess.run([MICRO] + args, env=env, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    reap_orphans()
    if os.path.exists(snap):
        os.unlink(snap)
    m = re.search(r"ns_per_pair=([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        log("bench: microbench %s failed: %s" % (what, r.stderr.strip()[-300:]))
        return None
    return float(m.group(1))


def run_micro(ctx, runs, pairs, callgrind, raw):
    snap = os.path.join(ctx.tmp, "micro.heap")
    res = {(c, t): [] for c in MICRO_CONFIGS for t in (1, 2)}
    log("bench: micro: %d repetitions of %s, 1 and 2 threads, %d pairs each"
        % (runs, " ".join(MICRO_CONFIGS), pairs))
    for rep in range(runs):
        order = MICRO_CONFIGS[rep % 4:] + MICRO_CONFIGS[:rep % 4]
        for t in (1, 2):
            for c in order:
                ns = pairs_once(["-t", str(t), "-n", str(pairs)],
                                micro_env(c, ctx.base_env, snap), snap, "under " + c)
                if ns is None:
                    continue
                res[(c, t)].append(ns)
                raw.append({"workload": "micro", "cfg": c, "threads": t, "ns_per_pair": ns})
    instr = {}
    if callgrind and shutil.which("valgrind"):
        log("bench: micro: instruction counts under callgrind")
        for c in ("none", "fwd", "hthuge"):
            counts = []
            for n in (100000, 200000):
                out = os.path.join(ctx.tmp, "callgrind.out")
                r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                    MICRO, "-t", "1", "-n", str(n)],
                                   env=micro_env(c, ctx.base_env, snap),
                                   capture_output=True, text=True, timeout=RUN_TIMEOUT)
                reap_orphans()
                counts.append(callgrind_collected(out, r.stderr))
                if os.path.exists(snap):
                    os.unlink(snap)
            if None not in counts:
                instr[c] = (counts[1] - counts[0]) / 100000.0
    print("Fast path: malloc(32)+free pairs, ns per pair (median of %d runs of %d pairs; "
          "2 threads: each thread makes that many pairs at once)" % (runs, pairs))
    print()
    print("| preload | 1 thread | +ns vs forwarding | 2 threads | +ns vs forwarding | "
          "instructions per pair |")
    print("|---|---|---|---|---|---|")
    for c in MICRO_CONFIGS:
        cells = [MICRO_NAMES[c]]
        for t in (1, 2):
            m = median(res[(c, t)])
            f = median(res[("fwd", t)])
            cells.append("n/a" if m is None else "%.2f" % m)
            cells.append("" if m is None or f is None or c == "fwd" else "%+.2f" % (m - f))
        cells.append("%.1f" % instr[c] if c in instr else "")
        print("| " + " | ".join(cells) + " |")
    print()
    if instr:
        print("Instructions per pair: callgrind, the difference between %d and %d pairs, "
              "so start-up cancels out." % (100000, 200000))
        print()


GROW_CONFIGS = ["none", "fwd", "ht", "ht1"]
GROW_NAMES = {"none": "no preload", "fwd": "forwarding-only shim",
              "ht": "heaptrace, default rate", "ht1": "heaptrace, rate 1"}
GROW_MAX = 32 << 20


def with_faults(args, env, key, what):
    """One run of the microbenchmark with args: the figure it prints as key,
    and the program's own page faults (the collector, also a child here, a
    subreaper's, is reaped only after); None if it failed."""
    f0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    r = subprocess.run([MICRO] + args, env=env, capture_output=True, text=True,
                       timeout=RUN_TIMEOUT)
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - f0
    reap_orphans()
    m = re.search(key + r"=([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        log("bench: microbench %s failed: %s" % (what, r.stderr.strip()[-300:]))
        return None
    return float(m.group(1)), faults


def run_grow(ctx, runs, buffers, raw):
    """Buffers grown by realloc as vectors grow, an eighth at a time from
    4 KiB to 32 MiB, then freed: glibc grows a large block in place or by
    mremap and keeps its pages for the next; a tracer that copies large
    blocks, or faults their pages in anew, shows here."""
    snap = os.path.join(ctx.tmp, "grow.heap")
    res = {c: [] for c in GROW_CONFIGS}
    log("bench: micro: %d repetitions of %s, %d buffers grown to %d MiB"
        % (runs, " ".join(GROW_CONFIGS), buffers, GROW_MAX >> 20))
    for rep in range(runs):
        order = GROW_CONFIGS[rep % 4:] + GROW_CONFIGS[:rep % 4]
        for c in order:
            env = micro_env("fwd" if c == "fwd" else "ht" if c.startswith("ht") else "none",
                            ctx.base_env, snap)
            if c == "ht1":
                env["HEAPTRACE_RATE"] = "1"
            got = with_faults(["-g", str(GROW_MAX), "-n", str(buffers)], env, "us_per_buffer",
                              "-g under " + c)
            if got is None:
                continue
            res[c].append((got[0], got[1] / (buffers + 1)))
            raw.append({"workload": "grow", "cfg": c, "us_per_buffer": got[0],
                        "faults_per_buffer": res[c][-1][1]})
            if os.path.exists(snap):
                os.unlink(snap)
    print("realloc growth: buffers grown by an eighth at a time from 4 KiB to %d MiB, each new "
          "byte written, then freed (median of %d runs of %d buffers)" % (GROW_MAX >> 20, runs, buffers))
    print()
    print("| preload | ms per buffer | vs no preload | page faults per buffer |")
    print("|---|---|---|---|")
    base = median([x[0] for x in res["none"]])
    for c in GROW_CONFIGS:
        t = median([x[0] for x in res[c]])
        f = median([x[1] for x in res[c] if x[1] is not None])
        print("| %s | %s | %s | %s |" % (GROW_NAMES[c], "n/a" if t is None else "%.2f" % (t / 1000),
                                        "" if t is None or not base or c == "none"
                                        else "%.2fx" % (t / base),
                                        "n/a" if f is None else "%.0f" % f))
    print()


CALLOC_SIZE = 64 << 10
CALLOC_CONFIGS = ["none", "ht1"]


def run_calloc(ctx, runs, callocs, raw):
    """callocs of 64 to 88 KiB, eight live at once, each written at its
    two ends or whole: at rate 1 every one is in the sample arena, in a
    slot the last one left, and the shim clears only the pages the kernel
    says may hold bytes, until it finds most of them written (see
    libheaptrace(7), The sample arena)."""
    snap = os.path.join(ctx.tmp, "calloc.heap")
    res = {(c, w): [] for c in CALLOC_CONFIGS for w in (0, 1)}
    log("bench: micro: %d repetitions of %s, %d callocs written at their ends, then whole"
        % (runs, " ".join(CALLOC_CONFIGS), callocs))
    for rep in range(runs):
        for w in (0, 1):
            for c in CALLOC_CONFIGS[rep % 2:] + CALLOC_CONFIGS[:rep % 2]:
                env = micro_env("ht" if c == "ht1" else "none", ctx.base_env, snap)
                if c == "ht1":
                    env["HEAPTRACE_RATE"] = "1"
                got = with_faults(["-c", str(CALLOC_SIZE), "-n", str(callocs)] +
                                  (["-W"] if w else []), env, "us_per_calloc", "-c under " + c)
                if got is None:
                    continue
                res[(c, w)].append((got[0], got[1] / callocs))
                raw.append({"workload": "calloc", "cfg": c, "whole": w,
                            "us_per_calloc": got[0], "faults_per_calloc": got[1] / callocs})
                if os.path.exists(snap):
                    os.unlink(snap)
    print("calloc of big blocks: %d callocs of %d to %d KiB, eight live at once, each written at "
          "its two ends or whole (median of %d runs)"
          % (callocs, CALLOC_SIZE >> 10, (CALLOC_SIZE >> 10) + 24, runs))
    print()
    print("| written | untraced: us per calloc | rate 1: us per calloc | rate 1 vs untraced "
          "| page faults per calloc, untraced / rate 1 |")
    print("|---|---|---|---|---|")
    for w in (0, 1):
        t0 = median([x[0] for x in res[("none", w)]])
        t1 = median([x[0] for x in res[("ht1", w)]])
        f0 = median([x[1] for x in res[("none", w)]])
        f1 = median([x[1] for x in res[("ht1", w)]])
        print("| %s | %s | %s | %s | %s / %s |" % (
            "whole" if w else "its ends", "n/a" if t0 is None else "%.2f" % t0,
            "n/a" if t1 is None else "%.2f" % t1,
            "%.2fx" % (t1 / t0) if t0 and t1 else "n/a",
            "n/a" if f0 is None else "%.2f" % f0, "n/a" if f1 is None else "%.2f" % f1))
    print()


SAMPLE_DEPTHS = (8, 32, 128)
# how each pair is made and traced: the loop of one call site (whose stack
# the shim's cache keeps), or eight callers in turn (-w: each sample's
# stack walked), by frame pointers or by libunwind (HEAPTRACE_FRAME_POINTERS=0)
SAMPLE_CONFIGS = {
    "none": ([], None), "cached": ([], "1"),
    "none_w": (["-w"], None), "fp": (["-w"], "1"), "unwind": (["-w"], "0"),
}


def run_sample_cost(ctx, runs, pairs, raw):
    """The cost of a sample: malloc(32)+free pairs made DEPTH calls deep,
    every one sampled (rate 1: its stack walked, its block in the arena,
    its allocation and its free sent), minus the same pairs untraced. Made
    from one place, the shim's stack cache serves the part of the stack
    above the loop's caller, as in a program's hot loop; made through eight
    callers in turn, every stack is walked, by frame pointers (the
    microbenchmark is built with them) or by libunwind. Judges the budget's
    bar on the frame-pointer walk at depth 32: True, False, or None if it
    was not measured."""
    snap = os.path.join(ctx.tmp, "depth.heap")
    res = {(d, c): [] for d in SAMPLE_DEPTHS for c in SAMPLE_CONFIGS}
    names = list(SAMPLE_CONFIGS)
    log("bench: micro: %d repetitions of the sample cost at depths %s, %d pairs each"
        % (runs, ", ".join(map(str, SAMPLE_DEPTHS)), pairs))
    for rep in range(runs):
        for d in SAMPLE_DEPTHS:
            k = rep % len(names)
            for c in names[k:] + names[:k]:
                args, fp = SAMPLE_CONFIGS[c]
                env = micro_env("none" if fp is None else "ht", ctx.base_env, snap)
                if fp is not None:
                    env["HEAPTRACE_RATE"] = "1"
                    env["HEAPTRACE_DEPTH"] = "256"
                    env["HEAPTRACE_FRAME_POINTERS"] = fp
                ns = pairs_once(["-n", str(pairs), "-d", str(d)] + args, env, snap,
                                "-d %d under %s" % (d, c))
                if ns is None:
                    continue
                res[(d, c)].append(ns)
                raw.append({"workload": "sample_cost", "cfg": c, "depth": d, "ns_per_pair": ns})
    print("Cost of a sample: malloc(32)+free pairs DEPTH calls deep, each sampled (rate 1), "
          "minus the same untraced (median of %d runs of %d pairs): from one call site "
          "(its stack in the shim's cache), and through eight callers in turn (each stack "
          "walked, by frame pointers or by libunwind)" % (runs, pairs))
    print()
    print("| depth | untraced ns per pair | cached: ns per sample | walked by frame pointers: "
          "ns per sample | walked by libunwind: ns per sample |")
    print("|---|---|---|---|---|")
    fp32 = None
    for d in SAMPLE_DEPTHS:
        m = {c: median(res[(d, c)]) for c in names}

        def cost(c, base):
            if m[c] is None or m[base] is None:
                return None
            return m[c] - m[base]
        row = [cost("cached", "none"), cost("fp", "none_w"), cost("unwind", "none_w")]
        if d == 32:
            fp32 = row[1]
        print("| %d | %s | %s |" % (d, "n/a" if m["none"] is None else "%.1f" % m["none"],
                                    " | ".join("n/a" if x is None else "%.0f" % x for x in row)))
    print()
    if fp32 is None:
        print("n/a  %s <= %g %s: not measured" % (BUDGET["sample_cost"].what, bar("sample_cost"),
                                                  BUDGET["sample_cost"].unit))
        print()
        return None
    ok = fp32 <= bar("sample_cost") * 1000
    print("%s %s <= %g %s: %.0f ns%s" % ("PASS" if ok else "FAIL", BUDGET["sample_cost"].what,
                                          bar("sample_cost"), BUDGET["sample_cost"].unit, fp32,
                                          over(not ok)))
    print()
    return ok
