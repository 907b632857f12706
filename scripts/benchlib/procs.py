"""Processes: the bench as subreaper of its runs, waiting with a time limit,
reaping orphans (heaptrace's collector), and sampling the memory of
descendants while a run goes on."""
import ctypes
import os
import signal
import threading
import time

from .common import log


def become_subreaper():
    """Orphans of our runs (heaptrace's daemonized collector) become our
    children, so their exact peak RSS and CPU time come from wait4."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def read_proc(pid, name):
    """The text of /proc/PID/NAME, or None once the process is gone."""
    try:
        with open("/proc/%s/%s" % (pid, name)) as f:
            return f.read()
    except OSError:
        return None


def read_status(pid):
    """Fields of /proc/PID/status that matter here (kB), or None."""
    text = read_proc(pid, "status")
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k == "Name":
            out["name"] = v.strip()
        elif k in ("VmHWM", "VmRSS", "RssShmem", "PPid"):
            try:
                out[k] = int(v.split()[0])
            except (ValueError, IndexError):
                pass
    return out


def ppid_map():
    """pid -> (ppid, comm) of every process we can see."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        s = read_proc(d, "stat")
        if s is None:
            continue
        r = s.rfind(")")
        comm = s[s.find("(") + 1:r]
        fields = s[r + 2:].split()
        if len(fields) > 1:
            out[int(d)] = (int(fields[1]), comm)
    return out


class Poller(threading.Thread):
    """Samples the memory of our descendants while a run goes on.
    mode "tree": every descendant, every 100 ms (heaptrack's processes).
    mode "collector": finds heaptrace's collector once, then reads only its
    status every 200 ms, so that the run being timed is not disturbed."""

    def __init__(self, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.stop_ev = threading.Event()
        self.procs = {}  # pid -> {"name", "VmHWM", "RssShmem"} maxima
        self.collector = None
        self.me = os.getpid()

    def note(self, pid, st):
        p = self.procs.setdefault(pid, {"name": st.get("name", "?"), "VmHWM": 0,
                                        "RssShmem": 0})
        for k in ("VmHWM", "RssShmem"):
            if st.get(k, 0) > p[k]:
                p[k] = st[k]

    def descendants(self):
        m = ppid_map()
        kids = {}
        for pid, (pp, _) in m.items():
            kids.setdefault(pp, []).append(pid)
        out, todo = [], [self.me]
        while todo:
            p = todo.pop()
            for c in kids.get(p, []):
                out.append(c)
                todo.append(c)
        return out, m

    def sample(self):
        if self.mode == "tree":
            pids, _ = self.descendants()
            for pid in pids:
                st = read_status(pid)
                if st:
                    self.note(pid, st)
            return
        if self.collector is None:
            pids, m = self.descendants()
            for pid in pids:
                if m[pid][1].startswith("heaptrace-coll"):
                    self.collector = pid
                    break
        if self.collector is not None:
            st = read_status(self.collector)
            if st:
                self.note(self.collector, st)

    def run(self):
        delay = 0.1 if self.mode == "tree" else 0.02
        start = time.monotonic()
        while not self.stop_ev.wait(delay):
            try:
                self.sample()
            except OSError:
                pass
            if self.mode == "collector" and (self.collector is not None or
                                             time.monotonic() - start > 1):
                delay = 0.2

    def finish(self):
        self.stop_ev.set()
        self.join()


class NoPoller:
    procs = {}

    def start(self):
        pass

    def finish(self):
        pass


def make_poller(cfg):
    """Memory sampling only where it is needed: untraced runs are left alone."""
    if cfg == "heaptrack":
        return Poller("tree")
    if cfg in ("ht", "ht1"):
        return Poller("collector")
    return NoPoller()


def alive(pid):
    """True while pid runs (not yet a zombie); does not reap it."""
    s = read_proc(pid, "stat")
    if s is None:
        return False
    return s[s.rfind(")") + 2:].split()[0] not in ("Z", "X")


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def wait_pid(pid, timeout):
    """Blocks until child pid ends; kills its process group after timeout.
    Returns (exit code or -signal, rusage, timed_out)."""
    timer = threading.Timer(timeout, kill_group, (pid,))
    timer.start()
    try:
        while True:
            try:
                _, status, ru = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        timed_out = not timer.is_alive()
        timer.cancel()
    return os.waitstatus_to_exitcode(status), ru, timed_out


def reap_orphans(timeout=60.0):
    """Waits for every remaining child (orphans handed to us as subreaper,
    such as heaptrace's collector). Returns [(pid, rusage)]."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, status, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return out
        if pid:
            out.append((pid, ru))
            continue
        if time.monotonic() > deadline:
            for p in ppid_map():
                if read_status(p) and read_status(p).get("PPid") == os.getpid():
                    log("bench: killing leftover process %d" % p)
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
            deadline = time.monotonic() + 5
        time.sleep(0.005)


def cpu_of(ru):
    return ru.ru_utime + ru.ru_stime
