"""The suite: every workload under every configuration, interleaved within
each repetition; the medians and ratios it comes to per workload; and the
whole-workload instruction counts of --instructions."""
import os
import statistics

from .budget import tracer_memory_bar
from .common import FWDSHIM, log, vlog
from .measure import callgrind_count, median, paired_ratios, ratio
from .report import fmt_metric
from .runners import CONFIGS, CONFIG_NAMES, config_env
from .workloads import INSTR_REDIS_RUNS, INSTR_REQUESTS, Redis


def repetition(rep, cfgs, pairs):
    """The order of one repetition: the untraced and default-rate runs come
    `pairs` times, each time side by side (which goes first alternates), with
    the other configurations (rotated each repetition) spread between them.
    Returns (config, pair number or None) tuples."""
    others = [c for c in cfgs if c not in ("none", "ht")]
    if others:
        others = others[rep % len(others):] + others[:rep % len(others)]
    order = []
    for i in range(pairs):
        k = rep * pairs + i
        pair = ("none", "ht") if k % 2 == 0 else ("ht", "none")
        order += [(c, k) for c in pair if c in cfgs]
        # this pair's share of the other configurations
        order += [(c, None) for c in others[len(others) * i // pairs:
                                            len(others) * (i + 1) // pairs]]
    return order


def run_suite(workloads, runs, pairs, na, ctx, raw):
    results = {}
    for w in workloads:
        why = w.missing()
        if why:
            log("bench: skipping %s: %s" % (w.name, why))
            results[w.name] = {"skipped": why}
            continue
        cfgs = [c for c in CONFIGS if c not in na]
        per = {c: [] for c in cfgs}
        log("bench: %s: warm-up, then %d repetitions of %s (untraced and default rate "
            "%d times each)" % (w.name, runs, " ".join(cfgs), pairs))
        w.run("none", ctx)  # warms the page cache and sets the reference output
        for rep in range(runs):
            for c, pair in repetition(rep, cfgs, pairs):
                r = w.run(c, ctx)
                if r is None:
                    continue
                r["rep"], r["pair"] = rep, pair
                per[c].append(r)
                raw.append(dict(r, workload=w.name))
                vlog("  %s %-10s %s" % (w.name, c, fmt_metric(w, r.get("metric"))))
                for n in r["notes"]:
                    log("bench: %s under %s: %s" % (w.name, CONFIG_NAMES[c], n))
                for n in r.get("messages", []):
                    log("bench: %s under %s says: %s" % (w.name, CONFIG_NAMES[c], n))
        results[w.name] = {"w": w, "per": per}
    return results


def summarize(results, na, ctx):
    rows = {}
    for name, r in results.items():
        if "skipped" in r:
            continue
        w, per = r["w"], r["per"]
        med = {c: median([x.get("metric") for x in v]) for c, v in per.items()}
        s = {"w": w, "med": med}
        base = med.get("none")
        s["ht"] = ratio(w, base, med.get("ht"))
        s["ht1"] = ratio(w, base, med.get("ht1"))
        s["heaptrack"] = ratio(w, base, med.get("heaptrack"))
        je_base = base if isinstance(w, Redis) else med.get("je")
        s["jeprof"] = ratio(w, je_base, med.get("jeprof"))
        s["ht_paired"] = paired_ratios(w, per.get("none", []), per.get("ht", []))
        app0 = median([x.get("app_rss") for x in per.get("none", [])])
        s["app_rss"] = app0
        for c in ("ht", "ht1", "heaptrack"):
            runs = per.get(c, [])
            app = median([x.get("app_rss") for x in runs])
            col = median([x.get("tracer_rss") for x in runs])
            shm = median([x.get("tracer_shmem") for x in runs])
            cpu = median([x.get("tracer_cpu") for x in runs])
            delta = app - app0 if app is not None and app0 is not None else None
            total = None
            if col is not None and delta is not None:
                # pages of the shared ring are in both processes' RSS: count them once
                total = col - (shm or 0) + max(delta, 0)
            s[c + "_mem"] = {"app": app, "delta": delta, "tracer": col, "shmem": shm,
                             "cpu": cpu, "total": total}
        cpu0 = median([x.get("app_cpu") for x in per.get("none", [])])
        s["cpu0"] = cpu0
        for c in ("ht", "ht1", "heaptrack", "jeprof"):
            # heaptrack's script waits for all its processes: its CPU is theirs
            tot = median([(x.get("app_cpu") or 0) + (x.get("tracer_cpu") or 0)
                          for x in per.get(c, []) if x.get("app_cpu") is not None])
            b = median([x.get("app_cpu") for x in per.get("je", [])]) \
                if c == "jeprof" and not isinstance(w, Redis) else cpu0
            s[c + "_cpu"] = tot / b if tot and b else None
        drops = [x.get("drops") for x in per.get("ht", [])]
        s["drops"] = None if not drops or any(d is None for d in drops) else sum(drops)
        drops1 = [x.get("drops") for x in per.get("ht1", [])]
        s["drops1"] = None if not drops1 or any(d is None for d in drops1) else sum(drops1)
        s["unmatched"] = sum(x.get("unmatched", 0) for x in per.get("ht", []) + per.get("ht1", []))
        s["calls_ht1"] = median([x.get("calls") for x in per.get("ht1", [])])
        hf = ctx.heaptrack_facts.get(name, {})
        s["calls_hk"] = hf.get("calls")
        if hf.get("peak_heap"):
            s["peak_heap"], s["peak_src"] = hf["peak_heap"], "heaptrack"
        else:
            s["peak_heap"], s["peak_src"] = app0, "untraced peak RSS"
        s["budget"] = None if s["peak_heap"] is None else tracer_memory_bar(s["peak_heap"])
        s["notes"] = sorted({n for v in per.values() for x in v for n in x["notes"]} |
                            {n for v in per.values() for x in v for n in x.get("messages", [])})
        rows[name] = s
    return rows


def run_instructions(workloads, ctx, raw):
    """Whole-workload instruction counts, untraced, under a forwarding-only
    shim and under heaptrace at the default rate. (Nearly) deterministic
    where wall time on a shared machine is not, but blind to cache misses,
    system calls and the collector process: a floor for the overhead, not
    the overhead."""
    log("bench: instructions: %s under callgrind (a few minutes)"
        % ", ".join(w.name for w in workloads))
    snap = os.path.join(ctx.tmp, "instr.heap")
    rows = []
    for w in workloads:
        if w.missing():
            continue
        counts = {}
        for cfg in ("none", "fwd", "ht"):
            env = dict(ctx.base_env, **w.env)
            if cfg == "fwd":
                env["LD_PRELOAD"] = FWDSHIM
            elif cfg == "ht":
                env = config_env("ht", env, ctx.je, snap)
            out = os.path.join(ctx.tmp, "cg.out")
            if isinstance(w, Redis):
                n = [w.instructions(env, ctx, out) for _ in range(INSTR_REDIS_RUNS)]
                counts[cfg] = None if None in n else statistics.median(n)
            else:
                counts[cfg] = callgrind_count(w.argv, env, w.stdin, out)
            raw.append({"workload": w.name, "cfg": cfg, "instructions": counts[cfg]})
            if os.path.exists(snap):
                os.unlink(snap)
        rows.append((w.name, counts))
    if not rows:
        return
    print("Instructions executed (callgrind; the program only: not the collector, not "
          "cache misses or system calls; one run each, but redis: the server, serving %d "
          "requests per test, median of %d runs, since its count moves by up to 2%% from "
          "run to run):" % (INSTR_REQUESTS, INSTR_REDIS_RUNS))
    print()
    print("| workload | untraced (millions) | forwarding-only shim | heaptrace default |")
    print("|---|---|---|---|")
    for name, c in rows:
        base = c.get("none")

        def cell(cfg):
            x = c.get(cfg)
            if x is None or not base:
                return "n/a"
            return "%.4fx (+%.1f M)" % (x / base, (x - base) / 1e6)
        print("| %s | %s | %s | %s |" % (name, "n/a" if not base else "%.1f" % (base / 1e6),
                                         cell("fwd"), cell("ht")))
    print()
