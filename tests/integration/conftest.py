"""Harness for the privileged integration tests.

Every test gets its own temporary directory holding

* ``state/``    the runtime's ``--root`` (so xdist workers never collide),
* ``log.json``  the ``--log`` file (passed when a call asks for it),
* ``rootfs/``   a copy of a session-wide busybox root filesystem,
* ``bundle*/``  bundles written by ``make_bundle``,
* ``shared/``   a host directory tests bind-mount at ``/shared``.

After each test the harness force-deletes whatever the runtime still lists and
then asserts that nothing is left behind: no container state, no process whose
root or cwd lies in the test's directory, no mount under it.

Run (as root):  pytest -n 2 tests/integration
Against runc:   MINIRUN_TEST_RUNTIME=runc pytest -n 2 tests/integration
(see helpers.runtime_command for how the runtime command is chosen).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .helpers import (
    BUSYBOX, DEFAULT_TIMEOUT, HERE, RUNTIME, assert_no_traceback, base_config,
    bind_mount, deep_merge, mounts_under, new_id, processes_inside,
)

PASSWD = """root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/sh
"""
GROUP = """root:x:0:
wheel:x:10:
tty:x:5:
users:x:100:
nogroup:x:65534:
"""


def pytest_configure(config):
    """Tests that need the engine fixtures are never skipped for lack of
    them: without them the run fails, saying what is missing."""
    from .helpers import FIXTURES_DIR, missing_fixtures

    problem = missing_fixtures(FIXTURES_DIR)
    if problem:
        raise pytest.UsageError(problem)


@pytest.fixture(scope="session", autouse=True)
def _needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")


def build_rootfs(dest):
    """A busybox root filesystem: /bin/busybox plus one relative symlink per
    applet, the usual top-level directories and a minimal passwd/group."""
    os.makedirs(dest)
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        os.mkdir(os.path.join(dest, d))
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    os.chmod(os.path.join(dest, "root"), 0o700)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    applets = subprocess.run([BUSYBOX, "--list"], stdout=subprocess.PIPE,
                             check=True, universal_newlines=True).stdout.split()
    for applet in applets:
        if applet == "busybox" or "/" in applet:
            continue
        os.symlink("busybox", os.path.join(dest, "bin", applet))
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write(GROUP)


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory):
    dest = str(tmp_path_factory.mktemp("template") / "rootfs")
    build_rootfs(dest)
    return dest


@pytest.fixture
def rootfs(tmp_path, rootfs_template):
    """A private copy of the busybox rootfs for this test."""
    dest = tmp_path / "rootfs"
    subprocess.run(["cp", "-a", rootfs_template, str(dest)], check=True)
    return dest


@pytest.fixture(scope="session")
def syscall_probe(tmp_path_factory):
    """probes/syscall_probe.c built once per session (a static binary the
    security tests copy into their rootfs: see security_helpers).

    MINIRUN_SYSCALL_PROBE names one built elsewhere: the VM lab's guests have
    no compiler, so the lab builds it on the host (static, it runs on every
    kernel of the matrix)."""
    prebuilt = os.environ.get("MINIRUN_SYSCALL_PROBE")
    if prebuilt:
        if not os.access(prebuilt, os.X_OK):
            pytest.fail("MINIRUN_SYSCALL_PROBE=%s is not an executable file" % prebuilt)
        return Path(prebuilt)
    source = HERE / "probes" / "syscall_probe.c"
    binary = tmp_path_factory.mktemp("probe") / "syscall_probe"
    # Not a skip: the tests that need the probe are tens of security tests.
    install = "install gcc and libc6-dev (static glibc; `make deps` does)"
    try:
        result = subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(source)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=DEFAULT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail("cannot build the syscall probe: %s; %s" % (exc, install))
    if result.returncode != 0:
        pytest.fail("cannot build the syscall probe; %s:\n%s" % (install, result.stdout.strip()[-300:]))
    return binary


@pytest.fixture
def shared(tmp_path):
    """A host directory that ``make_bundle(shared=True)`` mounts at /shared."""
    path = tmp_path / "shared"
    path.mkdir(exist_ok=True)
    os.chmod(str(path), 0o777)
    return path


class RuntimeFailure(AssertionError):
    pass


# new_id()'s ids (and the tests' own, such as race3-<hex>): what a test's cgroups are named for
CONTAINER_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*[0-9a-f]{16}$")


def cgroup_mounts():
    found = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and fields[4].startswith("/sys/fs/cgroup"):
                found.append(fields[4])
    return found


def cgroups_named_for(ids):
    """Cgroup directories, in any hierarchy, whose name holds one of `ids`: every
    engine's cgroupsPath (and minirun's default /minirun/ID) ends in the container's id."""
    if not ids:
        return []
    found = []
    for mountpoint in cgroup_mounts():
        for top, dirs, _files in os.walk(mountpoint):
            for name in dirs:
                if any(cid in name for cid in ids):
                    found.append(os.path.join(top, name))
    return sorted(found)


class Runtime:
    """Runs the runtime under test with this test's --root (and --log)."""

    def __init__(self, tmp, command=None):
        self.command = list(command or RUNTIME)   # test_checkpoint.py compares minirun with runc
        self.tmp = tmp
        self.root = tmp / "state"
        self.log = tmp / "log.json"
        self._outdir = tmp / "runtime-output"
        self._outdir.mkdir()
        self._n = 0
        self._popens = []
        self._spawned = []
        self._extra_dirs = []
        self.calls = []
        self.ids = set()  # every container id this test named: its cgroups are named for them

    # -- building argv ----------------------------------------------------
    def argv(self, *args, log=False, root=True):
        cmd = list(self.command)
        if root:
            cmd += ["--root", str(self.root)]
        if log:
            cmd += ["--log", str(self.log), "--log-format", "json"]
        return cmd + [str(a) for a in args]

    def _outfiles(self):
        self._n += 1
        base = self._outdir / ("%03d" % self._n)
        return open(str(base) + ".out", "w+"), open(str(base) + ".err", "w+")

    # -- running ----------------------------------------------------------
    def __call__(self, *args, check=True, input=None, timeout=DEFAULT_TIMEOUT,
                 log=False, root=True, cwd=None, stdout=None, stderr=None,
                 stdin=None, pass_fds=(), env=None):
        """Run the runtime and return a text CompletedProcess.

        stdout/stderr go to files unless given: a container started by
        ``create`` keeps the runtime's stdio, so a pipe would never see EOF.
        """
        argv = self.argv(*args, log=log, root=root)
        self.calls.append(argv)
        self.ids.update(a for a in argv if CONTAINER_ID.match(a))
        out, err = self._outfiles()
        try:
            if input is not None:
                stdin_arg = subprocess.PIPE
            elif stdin is not None:
                stdin_arg = stdin
            else:
                stdin_arg = subprocess.DEVNULL
            proc = subprocess.Popen(
                argv, stdin=stdin_arg,
                stdout=out if stdout is None else stdout,
                stderr=err if stderr is None else stderr,
                cwd=str(cwd or self.tmp), pass_fds=pass_fds, env=env,
                universal_newlines=True)
            try:
                proc.communicate(input=input, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeFailure("runtime hung (killed after %ss): %s"
                                     % (timeout, " ".join(argv)))
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                argv, proc.returncode,
                out.read() if stdout is None else "",
                err.read() if stderr is None else "")
        finally:
            out.close()
            err.close()
        assert_no_traceback(result)
        if check and result.returncode != 0:
            raise RuntimeFailure("%s exited %d\nstdout: %s\nstderr: %s" % (
                " ".join(argv), result.returncode, result.stdout, result.stderr))
        return result

    def popen(self, *args, log=False, stdin=subprocess.DEVNULL, stdout=None,
              stderr=None, cwd=None, **kwargs):
        """Start the runtime in the background (``run``, races).  Output goes
        to files readable with ``finish``."""
        argv = self.argv(*args, log=log)
        self.calls.append(argv)
        self.ids.update(a for a in argv if CONTAINER_ID.match(a))
        out, err = self._outfiles()
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=out if stdout is None else stdout,
            stderr=err if stderr is None else stderr,
            cwd=str(cwd or self.tmp), universal_newlines=True, **kwargs)
        proc._files = (out, err)
        self._popens.append(proc)
        return proc

    def finish(self, proc, timeout=DEFAULT_TIMEOUT):
        """Wait for a ``popen`` and return a CompletedProcess."""
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise RuntimeFailure("runtime hung: %s" % " ".join(proc.args))
        out, err = proc._files
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode,
                                             out.read(), err.read())
        assert_no_traceback(result)
        return result

    def spawn(self, argv, **kwargs):
        """A helper process (not the runtime) killed at teardown."""
        kwargs.setdefault("cwd", "/")
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        self._spawned.append(proc)
        return proc

    def private_dir(self, prefix="minirun-it-"):
        """A directory outside pytest's 0700 tmp tree, world-traversable (for
        user-namespaced containers whose root is not host root).  It is
        checked for leftovers and removed at teardown."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        os.chmod(str(path), 0o755)
        self._extra_dirs.append(path)
        return path

    # -- container helpers ------------------------------------------------
    def state(self, cid, **kwargs):
        return json.loads(self("state", cid, **kwargs).stdout)

    def status(self, cid):
        result = self("state", cid, check=False)
        if result.returncode != 0:
            return None
        return json.loads(result.stdout)["status"]

    def wait_status(self, cid, wanted, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(cid)
            if st == wanted:
                return
            if time.monotonic() > deadline:
                raise AssertionError("container %s is %r, never became %r"
                                     % (cid, st, wanted))
            time.sleep(0.05)

    def listed_ids(self):
        ids = set()
        result = self("list", "-q", check=False)
        if result.returncode == 0:
            ids.update(l.strip() for l in result.stdout.splitlines() if l.strip())
        if self.root.is_dir():
            ids.update(p.name for p in self.root.iterdir() if p.is_dir())
        return sorted(ids)

    def leftovers(self):
        """What a runtime must never leave behind; empty when clean."""
        found = {}
        if self.root.is_dir():
            dirs = [p.name for p in self.root.iterdir() if p.is_dir()]
            if dirs:
                found["state dirs"] = dirs
        procs = []
        mounts = []
        for top in [self.tmp] + self._extra_dirs:
            procs += processes_inside(top)
            mounts += mounts_under(top)
        if procs:
            found["processes"] = procs
        if mounts:
            found["mounts"] = mounts
        cgroups = cgroups_named_for(self.ids | set(self.listed_ids()))
        if cgroups:
            found["cgroups"] = cgroups
        return found

    def assert_clean(self, timeout=10):
        """Nothing left behind (state, processes, mounts).  A process that is
        being torn down may take a moment to vanish: poll (hang guard only)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.leftovers()
            if not found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert not found, "left behind: %r" % (found,)

    # -- teardown -----------------------------------------------------------
    def _stop_helpers(self):
        for proc in self._popens + self._spawned:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=DEFAULT_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            for f in getattr(proc, "_files", ()):
                f.close()

    def teardown(self):
        problems = []
        for cid in self.listed_ids():
            try:
                result = self("delete", "--force", cid, check=False)
            except AssertionError as e:  # a hang or a traceback
                problems.append("delete --force %s: %s" % (cid, e))
                continue
            if result.returncode != 0:
                problems.append("delete --force %s failed: %s"
                                % (cid, result.stderr.strip()))
        self._stop_helpers()
        deadline = time.monotonic() + 10
        found = self.leftovers()
        while found and time.monotonic() < deadline:
            time.sleep(0.1)
            found = self.leftovers()
        # repair what a broken runtime left so later tests are not affected
        for pid, _what, _target, _cmd in found.get("processes", ()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for mnt in sorted(found.get("mounts", ()), key=len, reverse=True):
            subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
        for path in sorted(found.get("cgroups", ()), key=len, reverse=True):
            try:
                os.rmdir(path)
            except OSError:
                pass
        if found:
            problems.append("left behind after delete --force: %r" % (found,))
        for path in self._extra_dirs:
            if not mounts_under(path):
                shutil.rmtree(str(path), ignore_errors=True)
        return problems


@pytest.fixture
def rt(tmp_path):
    """The runtime under test, bound to this test's state root.

    ``rt("create", "--bundle", b, cid)`` runs it; teardown asserts that
    nothing was left behind."""
    runtime = Runtime(tmp_path)
    yield runtime
    problems = runtime.teardown()
    assert not problems, "\n".join(problems)


@pytest.fixture
def make_bundle(tmp_path, rootfs, shared):
    """``make_bundle(args=[...], shared=False, extra_mounts=(), **overrides)``
    writes a config.json (base config deep-merged with overrides) in a new
    bundle directory and returns the directory."""
    count = [0]
    shared_dir = shared

    def make(args=None, shared=False, extra_mounts=(), name=None, **overrides):
        cfg = base_config(rootfs)
        if args is not None:
            cfg["process"]["args"] = list(args)
        cfg = deep_merge(cfg, overrides)
        mounts = list(cfg.get("mounts", []))
        if shared:
            mounts.append(bind_mount(shared_dir, "/shared"))
        mounts.extend(extra_mounts)
        cfg["mounts"] = mounts
        count[0] += 1
        bundle = tmp_path / (name or ("bundle%d" % count[0] if count[0] > 1 else "bundle"))
        bundle.mkdir(exist_ok=True)
        with open(str(bundle / "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        return bundle

    return make


@pytest.fixture
def cid():
    """A fresh, unique container id."""
    return new_id()
