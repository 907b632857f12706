"""Where the tree's programs are, how long one run may take, how they are
brought up to date, and the bench's messages on stderr."""
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SHIM = os.path.join(TOP, "preload", "libheaptrace.so")
REPORT = os.path.join(TOP, "collector", "heaptrace-report")
STRESS = os.path.join(TOP, "tests", "progs", "stress")
MICRO = os.path.join(TOP, "tests", "progs", "microbench")
FWDSHIM = os.path.join(TOP, "tests", "progs", "libfwdshim.so")
MANY = os.path.join(TOP, "tests", "progs", "many")
MTALLOC = os.path.join(TOP, "tests", "progs", "mtalloc")
DUMP = os.path.join(TOP, "collector", "heaptrace-dump")
DIFF = os.path.join(TOP, "collector", "heaptrace-diff")
ATTACH = os.path.join(TOP, "collector", "heaptrace-attach")
ATTACHEE = os.path.join(TOP, "tests", "progs", "attachee")
# the shim with its sampled path's parts timed (preload/parts.h)
PARTS_SHIM = os.path.join(TOP, "preload", "libheaptrace-parts.so")
BUILT = [SHIM, REPORT, STRESS, MICRO, FWDSHIM, MANY, MTALLOC, DUMP, DIFF, ATTACH, ATTACHEE,
         PARTS_SHIM,
         os.path.join(TOP, "preload", "heaptrace-collector")]
RUN_TIMEOUT = 600  # seconds for one run of one configuration
MiB = 1024 * 1024

verbose = False


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def vlog(msg):
    if verbose:
        log(msg)


def die(msg):
    log("bench: " + msg)
    sys.exit(2)


def build():
    """Brings the tools and benchmark programs up to date (make bench has)."""
    if os.environ.get("MAKELEVEL"):
        missing = [p for p in BUILT if not os.path.exists(p)]
        if missing:
            die("not built: %s" % ", ".join(os.path.relpath(p, TOP) for p in missing))
        return
    targets = ["all"] + [os.path.relpath(p, TOP) for p in (STRESS, MICRO, FWDSHIM, MANY,
                                                            MTALLOC, ATTACHEE, PARTS_SHIM)]
    r = subprocess.run(["make", "-s", "-C", TOP] + targets)
    if r.returncode != 0:
        die("make failed")
