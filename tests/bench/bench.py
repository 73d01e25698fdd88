#!/usr/bin/env python3
"""Benchmark minirun against runc and crun in one interleaved run.

    sudo python3 tests/bench/bench.py [--rounds N] [--runtimes minirun,runc,crun]

The machines this runs on have two shared, noisy vCPUs, so single timings
mean little: every round runs each runtime once, one after the other
(A, B, C, A, B, C, ...), and the report gives medians and the ratios
minirun/runc and minirun/crun measured in that same run.

Per runtime and round (each runtime has its own --root in a temp dir):
  run            `run ID` of a bundle whose process is /bin/true: create,
                 start, wait and delete (run without --keep deletes itself)
  create         `create ID` of the same bundle
  state          `state ID` of that created container
  delete         `delete --force ID` of it
  create+delete  the two above together
  init RSS/PSS   from /proc/PID/smaps_rollup of the created-but-not-started
                 container's init (PID from `state`)

minirun is run as a program, the way engines call it (its sh header starts
$MINIRUN_PYTHON or /usr/bin/python3 on the file's cached bytecode). With
--as-script it is run as [PYTHON, minirun.py] instead (PYTHON is --python,
else $MINIRUN_PYTHON, else this interpreter), which compiles the whole file on
every call. An absolute interpreter matters: a pyenv shim on PATH adds ~100 ms
per call.

A runtime whose first (warm-up) attempt fails, e.g. a missing binary, or
crun 1.8.1 refusing cgroup v1 hybrid hosts, is reported as
"unavailable: <first line of its error>" and left out of the table.

Needs root. Python >= 3.9, stdlib only. It prints; it asserts nothing.
"""

import argparse
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOTFS = os.path.join(REPO, "bundles", "build-rootfs.sh")
BASE_CONFIG = os.path.join(REPO, "bundles", "hello", "config.json")
ALL_RUNTIMES = ("minirun", "runc", "crun")
CALL_TIMEOUT = 60.0

TIMED_OPS = ("run", "create", "state", "delete", "create+delete")
MEMORY = ("init RSS", "init PSS")


class CallFailed(Exception):
    def __init__(self, argv, detail):
        super().__init__(detail)
        self.argv = argv
        self.detail = detail

    def first_line(self):
        for line in self.detail.splitlines():
            if line.strip():
                return line.strip()
        return "(no output)"


class Runtime:
    """One runtime under test: its command line and its own state root."""

    def __init__(self, name, argv, root, bundle, outdir):
        self.name = name
        self.argv = argv
        self.root = root
        self.bundle = bundle
        self.unavailable = None  # reason, once it failed its first attempt
        self.samples = {op: [] for op in TIMED_OPS + MEMORY}
        self.errors = []
        # The container's init inherits our stdio on create; with a pipe we
        # would wait for EOF until the container dies. Files don't block.
        self._out = open(os.path.join(outdir, name + ".out"), "w+b")
        self._err = open(os.path.join(outdir, name + ".err"), "w+b")

    def close(self):
        self._out.close()
        self._err.close()

    def call(self, *args):
        """Run `RUNTIME --root ROOT ARGS...`; return (seconds, stdout)."""
        argv = self.argv + ["--root", self.root] + list(args)
        for f in (self._out, self._err):
            f.seek(0)
            f.truncate()
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err)
        except OSError as e:
            raise CallFailed(argv, "%s: %s" % (argv[0], e.strerror or e))
        # Not subprocess's wait(timeout=): it polls waitpid with a growing
        # sleep (0.5 ms doubling to 50 ms), which rounds every sample up to
        # a step. A pidfd becomes readable the moment the process exits.
        pidfd = os.pidfd_open(proc.pid)
        try:
            exited = select.select([pidfd], [], [], CALL_TIMEOUT)[0]
        finally:
            os.close(pidfd)
        if not exited:
            proc.kill()
            proc.wait()
            raise CallFailed(argv, "timed out after %gs: %s" % (CALL_TIMEOUT, " ".join(args)))
        rc = proc.wait()
        elapsed = time.perf_counter() - t0
        self._out.seek(0)
        out = self._out.read().decode("utf-8", "replace")
        if rc != 0:
            self._err.seek(0)
            err = self._err.read().decode("utf-8", "replace")
            raise CallFailed(argv, err.strip() or out.strip() or "exit status %d" % rc)
        return elapsed, out

    def quiet(self, *args):
        try:
            self.call(*args)
        except CallFailed:
            pass

    def container_ids(self):
        """IDs this runtime still knows in its root (for clean-up)."""
        try:
            _, out = self.call("list", "--quiet")
            return out.split()
        except CallFailed:
            pass
        try:  # a plain table: first column, after the header
            _, out = self.call("list")
            return [line.split()[0] for line in out.splitlines()[1:] if line.split()]
        except CallFailed:
            return []


def smaps_rollup_kb(pid):
    """(Rss, Pss) in kB of a process, from /proc/PID/smaps_rollup."""
    rss = pss = None
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    if rss is None or pss is None:
        raise ValueError("no Rss/Pss in /proc/%d/smaps_rollup" % pid)
    return rss, pss


def one_round(rt, tag):
    """One measurement of every operation for one runtime; raises CallFailed."""
    cid = "bench-%s-%d-%s" % (rt.name, os.getpid(), tag)

    t, _ = rt.call("run", "--bundle", rt.bundle, cid + "-run")
    rt.samples["run"].append(t)

    cid = cid + "-cd"
    t_create, _ = rt.call("create", "--bundle", rt.bundle, cid)
    try:
        t, out = rt.call("state", cid)
        rt.samples["state"].append(t)
        try:
            pid = int(json.loads(out)["pid"])
            rss, pss = smaps_rollup_kb(pid)
            rt.samples["init RSS"].append(rss / 1024.0)
            rt.samples["init PSS"].append(pss / 1024.0)
        except (ValueError, KeyError, TypeError, OSError) as e:
            rt.errors.append("memory: %s" % e)
    except BaseException:
        rt.quiet("delete", "--force", cid)
        raise
    t_delete, _ = rt.call("delete", "--force", cid)
    rt.samples["create"].append(t_create)
    rt.samples["delete"].append(t_delete)
    rt.samples["create+delete"].append(t_create + t_delete)


def first_line(cmd):
    try:
        out = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10).stdout
        return out.decode("utf-8", "replace").strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def cgroup_mode():
    try:
        with open("/proc/self/mountinfo") as f:
            types = {line.split(" - ")[1].split()[0] for line in f if " - " in line}
    except OSError:
        return "?"
    if "cgroup" in types:
        return "v1 hybrid (v1 + unified)" if "cgroup2" in types else "v1"
    return "v2" if "cgroup2" in types else "none"


def mounts_under(path):
    path = os.path.realpath(path).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if (mp + "/").startswith(path):
                found.append(mp)
    return found


def build_bundle(workdir):
    bundle = os.path.join(workdir, "bundle")
    os.makedirs(bundle)
    subprocess.run(["bash", BUILD_ROOTFS, os.path.join(bundle, "rootfs")], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    with open(BASE_CONFIG) as f:
        config = json.load(f)
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    config["hostname"] = "bench"
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return bundle


def fmt(value, unit):
    if value is None:
        return "-"
    return "%.1f %s" % (value, unit)


def report(runtimes, rounds, python, minirun_path):
    print()
    print("minirun benchmark: %d interleaved rounds, medians" % rounds)
    print("  host: %s, %d CPUs, cgroup %s" % (platform.release(), os.cpu_count() or 0, cgroup_mode()))
    for rt in runtimes:
        if rt.name == "minirun":
            how = "as a script: %s %s" % (python, minirun_path) if len(rt.argv) > 1 else "as a program: " + minirun_path
            print("  minirun: %s (%s)" % (how, first_line(rt.argv + ["--version"])))
        else:
            print("  %s: %s (%s)" % (rt.name, rt.argv[0], first_line(rt.argv + ["--version"])))
    print()

    ok = [rt for rt in runtimes if rt.unavailable is None]
    by_name = {rt.name: rt for rt in ok}
    peers = [p for p in ("runc", "crun") if "minirun" in by_name and p in by_name]

    header = ["operation"] + [rt.name for rt in ok] + ["minirun/%s" % p for p in peers]
    rows = []
    for op in TIMED_OPS + MEMORY:
        unit = "MB" if op in MEMORY else "ms"
        scale = 1.0 if op in MEMORY else 1000.0
        med = {}
        for rt in ok:
            s = rt.samples[op]
            med[rt.name] = statistics.median(s) * scale if s else None
        row = [op + (" (%s)" % unit if op in MEMORY else "")]
        row += [fmt(med[rt.name], unit) for rt in ok]
        for p in peers:
            a, b = med.get("minirun"), med.get(p)
            row.append("%.2fx" % (a / b) if a is not None and b else "-")
        rows.append(row)

    if ok:
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                                   for i, c in enumerate(r))
        print(line(header))
        print(line(["-" * w for w in widths]))
        for r in rows:
            print(line(r))
    else:
        print("no runtime available")

    notes = []
    for rt in runtimes:
        if rt.unavailable is not None:
            notes.append("%s: unavailable: %s" % (rt.name, rt.unavailable))
        elif rt.errors:
            notes.append("%s: %d failed attempt(s), first: %s" % (rt.name, len(rt.errors), rt.errors[0]))
    n = {rt.name: len(rt.samples["run"]) for rt in ok}
    if ok:
        notes.append("samples per runtime: " + ", ".join("%s %d" % kv for kv in n.items()))
    if notes:
        print()
        for note in notes:
            print(note)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="rounds per runtime (default 30)")
    ap.add_argument("--runtimes", default=",".join(ALL_RUNTIMES),
                    help="comma-separated, in interleaving order (default %(default)s)")
    ap.add_argument("--python", default=os.environ.get("MINIRUN_PYTHON") or sys.executable,
                    help="interpreter for minirun.py (default $MINIRUN_PYTHON or this one: %(default)s)")
    ap.add_argument("--as-script", action="store_true",
                    help="run minirun as [PYTHON, minirun.py] rather than as a program")
    ap.add_argument("--minirun", default=os.path.join(REPO, "minirun.py"), help="path of minirun.py")
    ap.add_argument("--runc", default="runc", help="runc binary (default: from PATH)")
    ap.add_argument("--crun", default="crun", help="crun binary (default: from PATH)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root (containers, namespaces, cgroups)")
    names = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    for n in names:
        if n not in ALL_RUNTIMES:
            ap.error("unknown runtime %r (known: %s)" % (n, ", ".join(ALL_RUNTIMES)))

    python = shutil.which(args.python) or args.python
    minirun_path = os.path.abspath(args.minirun)
    workdir = tempfile.mkdtemp(prefix="minirun-bench-")
    runtimes = []
    try:
        print("building the bundle in %s ..." % workdir, file=sys.stderr)
        bundle = build_bundle(workdir)
        outdir = os.path.join(workdir, "out")
        os.makedirs(outdir)
        for n in names:
            if n == "minirun":
                argv = [python, minirun_path] if args.as_script else [minirun_path]
                missing = None if os.path.isfile(minirun_path) else "%s not found" % minirun_path
            else:
                exe = shutil.which(getattr(args, n))
                argv = [exe or getattr(args, n)]
                missing = None if exe else "%s: not found" % getattr(args, n)
            root = os.path.join(workdir, "root-" + n)
            os.makedirs(root)
            rt = Runtime(n, argv, root, bundle, outdir)
            rt.unavailable = missing
            runtimes.append(rt)

        # Warm-up, which also decides availability: one untimed round.
        for rt in runtimes:
            if rt.unavailable is None:
                try:
                    one_round(rt, "warmup")
                except CallFailed as e:
                    rt.unavailable = e.first_line()
                for op in rt.samples:
                    rt.samples[op].clear()
                rt.errors.clear()

        live = [rt for rt in runtimes if rt.unavailable is None]
        print("timing %s, %d rounds ..." % (", ".join(rt.name for rt in live) or "nothing",
                                            args.rounds), file=sys.stderr)
        for i in range(args.rounds):
            for rt in live:
                try:
                    one_round(rt, str(i))
                except CallFailed as e:
                    rt.errors.append(e.first_line())

        report(runtimes, args.rounds, python, minirun_path)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        cleanup(runtimes, workdir)
    return 0


def cleanup(runtimes, workdir):
    for rt in runtimes:
        for cid in rt.container_ids():
            rt.quiet("delete", "--force", cid)
        rt.close()
    left = mounts_under(workdir)
    if left:
        print("bench.py: mounts left under %s, not removing it: %s" % (workdir, ", ".join(left)),
              file=sys.stderr)
        return
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
