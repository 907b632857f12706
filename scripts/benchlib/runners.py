"""The configurations a workload runs under: no tracer, heaptrace (default
rate, rate 1, nothing sampled), heaptrack, jemalloc and its sampled profiler,
a forwarding-only shim; which of them this machine has, and what each
tracer's own files say about a run."""
import os
import re
import shutil
import subprocess

from .common import FWDSHIM, REPORT, SHIM

HUGE_RATE = str(1 << 40)  # the largest HEAPTRACE_RATE: nothing is ever sampled
JE_PROF_CONF = "prof:true,lg_prof_sample:19"

# Configurations in the order of one repetition (rotated each repetition).
CONFIGS = ["none", "ht", "ht1", "heaptrack", "je", "jeprof"]
CONFIG_NAMES = {
    "none": "untraced", "ht": "heaptrace default", "ht1": "heaptrace rate 1",
    "heaptrack": "heaptrack", "je": "jemalloc", "jeprof": "jemalloc prof",
}


def find_jemalloc():
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.strip().startswith("libjemalloc.so.2 ") and "=>" in line:
            path = line.split("=>")[-1].strip()
            if os.path.exists(path):
                return path
    return None


def check_tools(base_env):
    """Which comparison configurations can run here, and why not."""
    na = {}
    if not shutil.which("heaptrack"):
        na["heaptrack"] = "heaptrack is not installed"
    je = find_jemalloc()
    if not je:
        na["je"] = na["jeprof"] = "libjemalloc.so.2 is not installed"
    else:
        env = dict(base_env, LD_PRELOAD=je, MALLOC_CONF=JE_PROF_CONF)
        r = subprocess.run(["true"], env=env, capture_output=True, text=True)
        if "<jemalloc>" in r.stderr or r.returncode != 0:
            na["jeprof"] = "jemalloc rejects %s: %s" % (
                JE_PROF_CONF, r.stderr.strip().splitlines()[0] if r.stderr.strip() else
                "exit %d" % r.returncode)
    return je, na


def config_env(cfg, base_env, je, snap):
    env = dict(base_env)
    if cfg in ("ht", "ht1"):
        env["LD_PRELOAD"] = SHIM
        env["HEAPTRACE_OUTPUT"] = snap
        if cfg == "ht1":
            env["HEAPTRACE_RATE"] = "1"
    elif cfg == "je":
        env["LD_PRELOAD"] = je
    elif cfg == "jeprof":
        env["LD_PRELOAD"] = je
        env["MALLOC_CONF"] = JE_PROF_CONF
    return env


def micro_env(cfg, base_env, snap):
    env = dict(base_env)
    if cfg == "fwd":
        env["LD_PRELOAD"] = FWDSHIM
    elif cfg in ("hthuge", "ht"):
        env["LD_PRELOAD"] = SHIM
        env["HEAPTRACE_OUTPUT"] = snap
        if cfg == "hthuge":
            env["HEAPTRACE_RATE"] = HUGE_RATE
    return env


def heaptrace_facts(snap, stderr_text):
    """Drops, call totals and messages of one heaptrace run."""
    out = {"drops": None, "unmatched": 0, "calls": None, "messages": []}
    for line in stderr_text.splitlines():
        if line.startswith("heaptrace:"):
            out["messages"].append(line.strip())
    if not os.path.exists(snap):
        out["messages"].append("no snapshot was written")
        return out
    if not os.path.exists(REPORT):
        out["messages"].append("cannot read the snapshot: %s is gone" % REPORT)
        return out
    r = subprocess.run([REPORT, "--verbose", "--top", "1", snap], capture_output=True, text=True)
    if r.returncode != 0:
        out["messages"].append("heaptrace-report failed: " + r.stderr.strip()[:200])
        return out
    drops = 0
    for line in r.stdout.splitlines():
        m = re.search(r"warning: (\d+) (.*)", line)
        if m:
            n, what = int(m.group(1)), m.group(2)
            if "dropped" in what or "unrecorded" in what:
                drops += n
            elif "did not match" in what:
                out["unmatched"] += n
        m = re.match(r"Calls: (\d+) allocs, (\d+) frees", line)
        if m:
            out["calls"] = int(m.group(1))
    out["drops"] = drops
    try:
        os.unlink(snap)
    except OSError:
        pass
    return out


def heaptrack_facts(prefix):
    """Peak heap and call count from heaptrack's own file, then removes it."""
    out = {"peak_heap": None, "calls": None}
    files = [f for f in os.listdir(os.path.dirname(prefix))
             if f.startswith(os.path.basename(prefix) + ".")]
    for f in files:
        path = os.path.join(os.path.dirname(prefix), f)
        try:
            r = subprocess.run(["heaptrack_print", "-f", path, "-p", "0", "-a", "0",
                                "-T", "0", "-l", "0"], capture_output=True, text=True,
                               timeout=300)
            for line in r.stdout.splitlines():
                m = re.match(r"peak heap memory consumption: ([\d.]+)([KMGT]?)", line)
                if m:
                    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
                            "T": 1 << 40}[m.group(2)]
                    out["peak_heap"] = float(m.group(1)) * mult
                m = re.match(r"calls to allocation functions: (\d+)", line)
                if m:
                    out["calls"] = int(m.group(1))
        except (OSError, subprocess.TimeoutExpired):
            pass
        os.unlink(path)
    return out
