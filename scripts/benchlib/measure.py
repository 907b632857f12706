"""The figures: medians and geometric means, slowdown ratios, each traced
run paired with the untraced run beside it, quartiles and a 95% interval for
a median, and callgrind's instruction counts."""
import math
import os
import re
import statistics
import subprocess

from .common import RUN_TIMEOUT
from .procs import reap_orphans


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratio(w, base, x):
    """Slowdown factor of x against base (> 1 is slower)."""
    if base is None or x is None or base <= 0 or x <= 0:
        return None
    return base / x if w.higher_is_better else x / base


def paired_ratios(w, base_runs, runs):
    """The ratio of each default-rate run against the untraced run beside it
    (its pair): how much the median ratio moves with the machine's load."""
    base = {x["pair"]: x.get("metric") for x in base_runs}
    out = [ratio(w, base.get(x["pair"]), x.get("metric")) for x in runs]
    return sorted(r for r in out if r is not None)


def quartiles(xs):
    """First and third quartile (by linear interpolation) of sorted xs."""
    def q(f):
        k = (len(xs) - 1) * f
        i = int(k)
        return xs[i] if i + 1 >= len(xs) else xs[i] + (xs[i + 1] - xs[i]) * (k - i)
    return q(0.25), q(0.75)


def median_interval(xs, conf=0.95):
    """A distribution-free interval for the median of sorted xs: the k-th
    smallest and k-th largest, k the largest with the chance of the median
    lying outside at most 1 - conf (binomial, p = 1/2); None if too few."""
    n, k = len(xs), 0
    while k + 1 <= n // 2 and 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n <= 1 - conf:
        k += 1
    return None if k == 0 else (xs[k - 1], xs[n - k])


def callgrind_count(argv, env, stdin, out):
    """Instructions the program executed under callgrind, or None."""
    with open(stdin) if stdin else open(os.devnull) as f:
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + argv,
                           env=env, stdin=f, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=RUN_TIMEOUT * 4)
    reap_orphans()
    n = callgrind_collected(out, r.stderr)
    return n if r.returncode == 0 else None


def callgrind_collected(out, stderr):
    """Removes callgrind's output file out; returns the largest count its
    log reports, or None: the program's, since valgrind also sums up the
    short-lived process that starts heaptrace's collector (a clone it runs
    as a fork)."""
    if os.path.exists(out):
        os.unlink(out)
    m = [int(x) for x in re.findall(r"Collected : (\d+)", stderr)]
    return max(m) if m else None
