"""What the bench prints: the machine it ran on, the overhead, memory and
CPU tables of the suite, and the PASS/FAIL line of each bar of the budget."""
import os
import platform
import subprocess

from .budget import BUDGET, bar, fraction, slowdown_bar
from .common import MiB, TOP
from .measure import geomean, median, median_interval, quartiles
from .runners import CONFIG_NAMES


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = "?"
    try:
        commit = subprocess.run(["git", "-C", TOP, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        pass
    return "machine: %d CPUs (nproc), %s, Linux %s; heaptrace %s; load average %s" % (
        os.cpu_count() or 0, model, platform.release(), commit, loadavg())


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def fmt_metric(w, v):
    if v is None:
        return "n/a"
    if w.unit == "req/s":
        return "%.0fk req/s" % (v / 1000)
    return "%.2f s" % v


def fmt_ratio(r):
    return "n/a" if r is None else "%.3fx" % r


def pct(r):
    return "n/a" if r is None else "%+.1f%%" % ((r - 1) * 100)


def mib(b):
    return "n/a" if b is None else "%.1f" % (b / MiB)


def sign_mib(b):
    return "n/a" if b is None else "%+.1f" % (b / MiB)


def over(bad):
    return " (over)" if bad else ""


def print_tables(rows, results, na, runs, pairs):
    """The suite's tables: overhead, memory, CPU time, allocation calls."""
    print_overhead(rows, results, na, runs, pairs)
    print_memory(rows)
    print_cpu(rows)
    print_calls(rows)


def print_overhead(rows, results, na, runs, pairs):
    """The table of slowdown ratios, how they were taken and how far the
    default rate's spread, and what was not run."""
    print("| workload | untraced | heaptrace default | heaptrace rate 1 | heaptrack | "
          "jemalloc prof (vs jemalloc) | tracer MiB (default) | dropped (default) |")
    print("|---|---|---|---|---|---|---|---|")
    cols = ("ht", "ht1", "heaptrack", "jeprof")
    for name, s in rows.items():
        w = s["w"]
        cells = [name, fmt_metric(w, s["med"].get("none"))]
        for c in cols:
            cells.append("n/a" if c in na or (c == "jeprof" and "je" in na) else fmt_ratio(s[c]))
        cells.append(mib(s["ht_mem"]["total"]))
        cells.append("n/a" if s["drops"] is None else str(s["drops"]))
        print("| " + " | ".join(cells) + " |")
    g = ["**geomean**", ""]
    for c in cols:
        g.append(fmt_ratio(geomean([s[c] for s in rows.values()])))
    g += ["", str(sum(s["drops"] or 0 for s in rows.values()))]
    print("| " + " | ".join(g) + " |")
    print()
    print("Ratios: median of %d runs (untraced and heaptrace default: %d) against the "
          "untraced median (for redis, untraced req/s over traced req/s); > 1 is slower. "
          "redis links jemalloc, so its jemalloc profiler column is against untraced redis."
          % (runs, runs * pairs))
    spread = []
    for name, s in rows.items():
        xs = s.get("ht_paired") or []
        if len(xs) >= 2:
            q1, q3 = quartiles(xs)
            spread.append("%s %s to %s (quartiles %s to %s)" % (
                name, pct(xs[0]), pct(xs[-1]), pct(q1), pct(q3)))
    if spread:
        print("Spread of the default-rate overhead, each run against the untraced run "
              "beside it: " + "; ".join(spread) + ".")
    for c, why in sorted(na.items()):
        print("n/a %s: %s." % (CONFIG_NAMES[c], why))
    for name, r in results.items():
        if "skipped" in r:
            print("skipped %s: %s." % (name, r["skipped"]))
    print()


def memory_cell(m, cpu=True):
    """A tracer's memory in the memory table: the program's growth, the
    tracer's peak RSS (the shared ring in it), and its CPU time."""
    if m["tracer"] is None and m["delta"] is None:
        return "n/a"
    t = "%s, %s" % (sign_mib(m["delta"]), mib(m["tracer"]))
    if m["shmem"]:
        t += " (%s)" % mib(m["shmem"])
    if cpu and m["cpu"] is not None:
        t += ", %.2f" % m["cpu"]
    return t


def print_memory(rows):
    print("Memory (MiB; medians; tracer = tracer processes' peak RSS minus the shared ring "
          "counted in both, plus the growth of the program's own peak RSS):")
    print()
    print("| workload | peak heap | app RSS untraced | heaptrace: app +Δ, collector (ring), "
          "CPU s | heaptrace rate 1: app +Δ, collector (ring), CPU s | heaptrack: app +Δ, "
          "interpret+zstd | budget |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        print("| %s | %s (%s) | %s | %s | %s | %s | %s |" % (
            name, mib(s["peak_heap"]), s["peak_src"], mib(s["app_rss"]),
            memory_cell(s["ht_mem"]), memory_cell(s["ht1_mem"]),
            memory_cell(s["heaptrack_mem"], False), mib(s["budget"])))
    print()


def print_cpu(rows):
    print("CPU time (s of CPU, program plus tracer processes; medians) against the untraced "
          "run; less sensitive than wall time to other load on the machine:")
    print()
    print("| workload | untraced CPU s | heaptrace default | heaptrace rate 1 | heaptrack | "
          "jemalloc prof (vs jemalloc) |")
    print("|---|---|---|---|---|---|")
    for name, s in rows.items():
        print("| %s | %s | %s |" % (name, "n/a" if s["cpu0"] is None else "%.2f" % s["cpu0"],
                                   " | ".join(fmt_ratio(s[c + "_cpu"]) for c in
                                              ("ht", "ht1", "heaptrack", "jeprof"))))
    print()


def print_calls(rows):
    """heaptrace's and heaptrack's counts of allocation calls, side by side."""
    cross = [(n, s["calls_ht1"], s["calls_hk"]) for n, s in rows.items()
             if s["calls_ht1"] or s["calls_hk"]]
    if cross:
        print("Allocation calls seen (cross-check): " + "; ".join(
            "%s: heaptrace rate 1 %s, heaptrack %s" % (n, "n/a" if a is None else "%d" % a,
                                                        "n/a" if b is None else "%d" % b)
            for n, a, b in cross))
        print()


def verdicts(rows):
    """The budget lines, then the problems the runs reported; returns True if
    every target passed."""
    heavy = {n: s for n, s in rows.items() if not s["w"].execs}
    each = paired_overheads(heavy)
    ok_all = True
    for ok, text in (overhead_verdict(heavy, each), geomean_verdict(each),
                     exec_verdict(rows), rate1_verdict(rows), rss1_verdict(rows),
                     memory_verdict(rows), lost_verdict(rows)):
        if ok is None:
            print("n/a  " + text)
            continue
        ok_all &= ok
        print(("PASS " if ok else "FAIL ") + text)
    print_problems(rows)
    return ok_all


def paired_overheads(rows):
    """(workload, default-rate slowdown) as the bars judge it: the median of
    the paired ratios (each default-rate run against the untraced run beside
    it), which a machine that changes speed between phases of the bench moves
    least: the ratio of the two medians can fall between such phases. That,
    the table's figure, is shown beside it; it stands in if nothing paired."""
    return [(n, median(s["ht_paired"]) if s.get("ht_paired") else s["ht"])
            for n, s in rows.items()]


def interval_note(s):
    """How far the machine's load leaves the figure open: a 95% interval for
    the paired median, and the ratio of medians."""
    xs = s.get("ht_paired") or []
    if not xs:
        return " (not paired: the ratio of medians)"
    iv = median_interval(xs)
    return " (%sratio of medians %s)" % (
        "95%% interval %s to %s; " % (pct(iv[0]), pct(iv[1])) if iv else "", pct(s["ht"]))


# Each *_verdict returns (True, False or None if not measured, the line's text).
def overhead_verdict(rows, each):
    limit = slowdown_bar("overhead")
    bad = [n for n, r in each if r is not None and r > limit]
    return (None if all(r is None for _, r in each) else not bad,
            "wall overhead at the default rate <= %g%% each (paired median): %s" % (
                bar("overhead"),
                ", ".join("%s %s%s%s" % (n, pct(r), over(r is not None and r > limit),
                                         interval_note(rows[n])) for n, r in each)))


def exec_verdict(rows):
    """The loops of short programs, by the cost of one traced exec (the
    paired median's share of the loop's untraced time, per exec) and by the
    loop's slowdown."""
    parts, oks = [], []
    for n, s in rows.items():
        w = s["w"]
        if not w.execs:
            continue
        r = median(s["ht_paired"]) if s.get("ht_paired") else s["ht"]
        base = s["med"].get("none")
        if r is None or base is None:
            parts.append("%s n/a" % n)
            continue
        ms = (r - 1) * base / w.execs * 1000
        ok = ms <= bar("exec") and r <= bar("exec_loop")
        oks.append(ok)
        parts.append("%s %+.2f ms per exec, the loop %.2fx%s" % (n, ms, r, over(not ok)))
    return (all(oks) if oks else None,
            "%s <= %g %s, and its loop <= %gx untraced: %s" % (
                BUDGET["exec"].what, bar("exec"), BUDGET["exec"].unit, bar("exec_loop"),
                ", ".join(parts) if parts else "not measured"))


def geomean_verdict(each):
    g = geomean([r for _, r in each])
    return (None if g is None else g <= slowdown_bar("overhead_geomean"),
            "wall overhead at the default rate <= %g%% geomean (of the paired medians): %s"
            % (bar("overhead_geomean"), pct(g)))


def rate1_verdict(rows):
    parts, oks = [], []
    for n, s in rows.items():
        if s["ht1"] is None or s["heaptrack"] is None:
            parts.append("%s n/a" % n)
            continue
        o1, oh = s["ht1"] - 1, s["heaptrack"] - 1
        oks.append(o1 <= oh * bar("overhead_rate1"))
        parts.append("%s %s vs heaptrack %s%s" % (n, pct(s["ht1"]), pct(s["heaptrack"]),
                                                  over(o1 > oh * bar("overhead_rate1"))))
    return (all(oks) if oks else None,
            "overhead at rate 1 <= %s of heaptrack's: " % fraction(bar("overhead_rate1")) +
            ", ".join(parts))


def rss1_verdict(rows):
    """The program's peak RSS with every allocation recorded, against its
    peak RSS untraced (medians): the tracer's processes are apart."""
    parts, oks = [], []
    for n, s in rows.items():
        a1, a0 = s["ht1_mem"]["app"], s["app_rss"]
        if a1 is None or not a0:
            parts.append("%s n/a" % n)
            continue
        r = a1 / a0
        oks.append(r <= bar("peak_rss_rate1"))
        parts.append("%s %.2fx%s" % (n, r, over(r > bar("peak_rss_rate1"))))
    return (all(oks) if oks else None,
            "%s <= %gx untraced: %s" % (BUDGET["peak_rss_rate1"].what, bar("peak_rss_rate1"),
                                        ", ".join(parts)))


def memory_verdict(rows):
    parts, oks = [], []
    for n, s in rows.items():
        t, b = s["ht_mem"]["total"], s["budget"]
        if t is None or b is None:
            parts.append("%s n/a" % n)
            continue
        oks.append(t <= b)
        parts.append("%s %s <= %s MiB" % (n, mib(t), mib(b)) if t <= b else
                     "%s %s > %s MiB" % (n, mib(t), mib(b)))
    return (all(oks) if oks else None,
            "tracer memory at the default rate <= %g MiB + %g%% of peak heap: " % (
                bar("tracer_memory"), bar("tracer_memory_heap")) + ", ".join(parts))


def lost_verdict(rows):
    d = [(n, s["drops"]) for n, s in rows.items()]
    lost = bar("lost_events")
    return (None if all(x is None for _, x in d) else
            all(x is not None and x <= lost for _, x in d),
            "%g dropped events at the default rate: " % lost +
            ", ".join("%s %s%s" % (n, "n/a" if x is None else x,
                                   over(x is not None and x > lost)) for n, x in d))


def print_problems(rows):
    """What the runs said went wrong, and events that did not fit."""
    notes = [(n, x) for n, s in rows.items() for x in s["notes"]]
    unmatched = [(n, s["unmatched"]) for n, s in rows.items() if s["unmatched"]]
    d1 = [(n, s["drops1"]) for n, s in rows.items() if s["drops1"]]
    if notes or unmatched or d1:
        print()
        print("Problems seen:")
        for n, x in notes:
            print("- %s: %s" % (n, x))
        for n, x in unmatched:
            print("- %s: %d events did not match a live block" % (n, x))
        for n, x in d1:
            print("- %s: %d events dropped at rate 1" % (n, x))
