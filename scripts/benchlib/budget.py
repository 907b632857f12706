"""DESIGN.md's performance budget: the table of its bars, each with its
number and unit, and the few sums the checks make of them."""
import collections

from .common import MiB

# DESIGN.md's budget, one row per bar, named as there: the only place its
# numbers are written. scripts/bench checks the bars on overhead, tracer memory,
# lost events and the snapshot; the others are measured elsewhere and stand
# here so that the two tables can be held side by side. "The above on several
# threads on several cores" has the same bars.
Bar = collections.namedtuple("Bar", "what limit unit")
BUDGET = {
    "overhead": Bar("wall-time overhead at the default rate, allocation-heavy workloads, "
                    "each", 3, "%"),
    "overhead_geomean": Bar("wall-time overhead at the default rate, allocation-heavy "
                            "workloads, geomean", 2, "%"),
    "overhead_rate1": Bar("overhead with every allocation recorded (rate 1)", 0.5,
                          "× heaptrack's on the same run"),
    "tracer_memory": Bar("tracer memory (shim + collector RSS) at the default rate: "
                         "the fixed part", 16, "MiB"),
    "tracer_memory_heap": Bar("tracer memory (shim + collector RSS) at the default rate: "
                              "the part that grows with the app", 2, "% of the app's peak heap"),
    "lost_events": Bar("lost events at the default rate", 0, "events"),
    "snapshot": Bar("snapshot or diff of a 100k-stack profile", 250, "ms"),
    "snapshot_stacks": Bar("snapshot or diff of a 100k-stack profile: the profile", 100000,
                           "stacks"),
    "sample_cost": Bar("cost of one sample at stack depth 32, walked by frame pointers", 1, "µs"),
    "exec": Bar("one traced exec of a short-lived program", 0.5, "ms"),
    "exec_loop": Bar("a loop of short-lived programs, traced", 1.5, "× untraced"),
    "peak_rss_rate1": Bar("peak RSS at rate 1", 1.25, "× untraced"),
    "attach_pause": Bar("attach pause of a busy 8-thread process", 50, "ms"),
    "interval_coverage": Bar("±95% intervals, for every row class, objects and space, totals",
                             94, "% coverage"),
}


def bar(key):
    """The number of the budget's bar key, in the bar's unit."""
    return BUDGET[key].limit


def slowdown_bar(key):
    """The largest slowdown factor a bar in percent allows: 3% -> 1.03."""
    return 1 + bar(key) / 100


def tracer_memory_bar(peak_heap):
    """Bytes the tracer may use beside a program whose peak heap is peak_heap."""
    return bar("tracer_memory") * MiB + bar("tracer_memory_heap") / 100 * peak_heap


def fraction(x):
    """A budget's fraction as a verdict line says it: 0.5 -> "half"."""
    return "half" if x == 0.5 else "%g times" % x
