"""podman container checkpoint / restore (CRIU), minirun given as
`--runtime minirun` and runc beside it.

podman calls the runtime's `checkpoint` (`--image-path`, `--work-path`,
`--leave-running`, ...) itself, and restores through conmon, which calls the
runtime's `restore` (`--image-path`, `--work-path`, `--bundle`, `--pid-file`,
`--detach`, ...).  The scenarios:

* a counter (busybox sh, pid 1, printing 1, 2, 3, ... to stdout, with a
  sleeping child) is checkpointed: the container is exited; restored, it runs
  again and counts on from where it stopped (podman's log holds one unbroken
  sequence 1..N, never a second 1), pid 1 is the same program and the child
  keeps its pid;
* `checkpoint --leave-running` leaves it running and counting;
* `checkpoint --export=FILE.tar.gz`, `podman rm`, `restore --import=FILE.tar.gz`
  (the migration recipe): a new container of the same name counts on.

Every container runs with `--network none`: podman still gives it a network
namespace of its own (loopback only), which CRIU dumps and, while dumping,
locks: with iptables-restore by default (the sid box has iptables, a
dependency of docker.io), with nftables where /etc/criu/default.conf says
`network-lock nftables`.

This needs root, podman, conmon and a CRIU that can dump on this kernel.  The
VM lab's sid box carries them (criu 4.x):

    make vm-test KERNELS=sid MODES=v2 LAB_PYTEST_ARGS="tests/e2e/test_podman_checkpoint.py"

Elsewhere the module skips, naming why: criu missing, `criu check` failing, or
a real dump (of a sleeping process in a network namespace of its own, what
the containers here are) failing, with criu's own error lines.  Like
tests/e2e/test_docker_systemd.py it never uses the session's engines: it
starts podman with storage, run root and tmp dir of its own under one
temporary directory (tests/e2e/engines.py's Podman), loads the busybox image
built from the host's static busybox, and at the end resets that podman and
checks that no process or mount of it is left.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from .engines import (IMAGE, PODMAN, RUNC, EngineError, Podman, busybox_image, mountinfo_lines,
                      processes_mentioning, run, runtimes, wait_for)
from .test_podman import Podman as PodmanCalls

CONMON = "/usr/bin/conmon"
MINIRUN_ROOT = "/run/minirun"   # minirun's default --root: podman passes none
UNSHARE = "/usr/bin/unshare"
# Under TCG (the VM lab) a podman call takes seconds, a checkpoint tens.
SLOW = 300

# pid 1 counts; its child, a subshell, loops too, so that a restored pid
# namespace is seen to hold a second process at the pid it had.  (Not a long
# `sleep`: CRIU cannot restart an interrupted nanosleep, which then returns
# EINTR, and busybox's sleep exits on it.)
COUNTER = ("(while :; do sleep 1; done) & echo $! > /tmp/child; "
           "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done")


def criu_path():
    for path in ("/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu"):
        if os.access(path, os.X_OK):
            return path
    return None


def criu_error_lines(log):
    """criu's own `Error (...)` lines of a log, without the timestamps; the
    RLIMIT_NOFILE complaint criu makes and survives is left out."""
    lines = []
    for line in log.splitlines():
        if "Error (" not in line or "RLIMIT_NOFILE" in line:
            continue
        line = re.sub(r"^\(\s*[0-9.]+\)\s*", "", line.strip())
        if line not in lines:
            lines.append(line)
    return lines


def criu_refusal():
    """Why CRIU cannot checkpoint these containers here, or None.

    `criu check` first; then a real dump of what the containers are to CRIU:
    a process in a session and a network namespace of its own (its stdio on
    /dev/null).  The dump kills it; a failed dump leaves it, and it is killed
    here (it is this function's own child)."""
    criu = criu_path()
    if criu is None:
        return "criu is not installed (the VM lab's sid box carries criu 4.x)"
    if not os.access(UNSHARE, os.X_OK):
        return "%s (util-linux) is missing: no probe dump" % UNSHARE
    check = run([criu, "check"], check=False)
    if check.returncode != 0:
        said = (check.stderr + check.stdout).strip().splitlines()
        return "`criu check` failed: %s" % (said[-1] if said else "exit %d" % check.returncode)
    scratch = Path(tempfile.mkdtemp(prefix="minirun-criu-probe-", dir="/var/tmp"))
    sleeper = subprocess.Popen([UNSHARE, "--net", "sleep", "100000"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        # unshare execs sleep (no --fork): the pid is the sleeper's, once in its netns
        mine = os.readlink("/proc/self/ns/net")

        def in_its_netns():
            if sleeper.poll() is not None:
                raise EngineError("the probe `unshare --net sleep` exited %d" % sleeper.returncode)
            try:
                return os.readlink("/proc/%d/ns/net" % sleeper.pid) != mine
            except OSError:     # exiting: poll() says so next time
                return False
        wait_for(in_its_netns, what="the probe process's network namespace")
        dump = run([criu, "dump", "--tree", str(sleeper.pid), "--images-dir", str(scratch),
                    "--log-file", "dump.log", "-v4"], check=False, timeout=SLOW)
        if dump.returncode == 0:
            return None
        try:
            log = (scratch / "dump.log").read_text(errors="replace")
        except OSError:
            log = dump.stderr
        errors = criu_error_lines(log) or [(dump.stderr.strip() or "exit %d" % dump.returncode)]
        return "criu cannot dump a process in a network namespace of its own here: %s" \
            % " | ".join(errors[-3:])
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        sleeper.wait(30)
        shutil.rmtree(str(scratch), ignore_errors=True)


class CheckpointPodman(PodmanCalls):
    """tests/e2e/test_podman.py's calls, slower, every container `--network none`."""

    def __call__(self, *args, check=False, timeout=SLOW, input=None):
        return super().__call__(*args, check=check, timeout=timeout, input=input)

    def counter(self):
        return self.detached("--network", "none", IMAGE, "sh", "-c", COUNTER)

    def counts(self, name):
        """The numbers the counter printed, as podman's log holds them."""
        out = self("logs", name, check=True).stdout
        return [int(line) for line in out.split()]

    def wait_counts(self, name, above, what):
        """The counts once the last is above `above`."""
        seen = []

        def counted_past():
            seen[:] = self.counts(name)
            return seen and seen[-1] > above
        wait_for(counted_past, timeout=SLOW, what=what)
        return list(seen)

    def inside(self, name, *argv):
        return self("exec", name, *argv, check=True).stdout

    def checkpoint(self, name, *options):
        return self.succeeds("container", "checkpoint", *options, name)

    def restore(self, *args):
        return self.succeeds("container", "restore", *args)

    def succeeds(self, *args):
        r = self(*args)
        assert r.returncode == 0, "podman %s (--runtime %s) exited %d:\n%s%s" % (
            " ".join(args), self.runtime, r.returncode, r.stdout, r.stderr)
        return r


def unbroken(counts):
    return counts == list(range(counts[0], counts[0] + len(counts)))


@pytest.fixture(scope="module")
def checkpoint_podman():
    if os.geteuid() != 0:
        pytest.skip("podman's checkpoint/restore needs root")
    missing = [p for p in (PODMAN, CONMON) if not os.access(p, os.X_OK)]
    if missing:
        pytest.skip("needs podman and conmon: %s missing" % ", ".join(missing))
    refusal = criu_refusal()
    if refusal:
        pytest.skip(refusal)
    minirun_before = set(os.listdir(MINIRUN_ROOT)) if os.path.isdir(MINIRUN_ROOT) else set()
    top = Path(tempfile.mkdtemp(prefix="minirun-e2e-checkpoint-", dir="/var/tmp"))
    os.chmod(str(top), 0o755)
    podman = None
    problems = []
    try:
        archive = busybox_image(top)
        podman = Podman(top)
        podman.podman("load", "--input", archive, timeout=SLOW)
        yield podman
    finally:
        if podman is not None:
            ids = podman.podman("ps", "-aq", check=False).stdout.split()
            if ids:
                podman.podman("rm", "-f", "-t", "0", *ids, check=False, timeout=SLOW)
            podman.podman("system", "reset", "--force", check=False, timeout=SLOW)
        # conmon's `podman container cleanup` may still be at the last container
        try:
            wait_for(lambda: not processes_mentioning(str(top)) and
                     not mountinfo_lines(str(top)), timeout=60, what="podman's leftovers to go")
        except EngineError:
            problems.append("left: processes %s, mounts %s"
                            % (processes_mentioning(str(top)), mountinfo_lines(str(top))))
        if os.path.isdir(MINIRUN_ROOT):
            left = [n for n in sorted(set(os.listdir(MINIRUN_ROOT)) - minirun_before)
                    if len(n) == 64]    # podman's container ids
            if left:
                problems.append("minirun state left in %s: %s" % (MINIRUN_ROOT, left))
        if not mountinfo_lines(str(top)):
            shutil.rmtree(str(top), ignore_errors=True)
    assert not problems, "\n".join(problems)


@pytest.fixture
def pm(checkpoint_podman, runtime):
    if runtime == "runc" and not os.access(RUNC, os.X_OK):
        pytest.skip("runc is not installed (%s)" % RUNC)
    p = CheckpointPodman(checkpoint_podman, runtime)
    yield p
    p.cleanup()


@runtimes()
def test_checkpoint_then_restore_counts_on(pm):
    c = pm.counter()
    pm.wait_counts(c, 3, "the counter to print 3")
    init = pm.inside(c, "cat", "/proc/1/cmdline")
    child = pm.inside(c, "cat", "/tmp/child").strip()
    pm.checkpoint(c)
    assert pm.status(c) == "exited"
    before = pm.counts(c)
    assert unbroken(before) and before[0] == 1, before
    pm.restore(c)
    assert pm.status(c) == "running"
    after = pm.wait_counts(c, before[-1] + 2, "the restored counter to count on")
    # one sequence: it went on from the checkpoint's last number, never from 1 again
    assert after[:len(before)] == before and unbroken(after), after
    assert pm.inside(c, "cat", "/proc/1/cmdline") == init
    assert pm.inside(c, "cat", "/proc/%s/cmdline" % child) == init   # the subshell, at its pid


@runtimes()
def test_checkpoint_leave_running_keeps_it_running(pm):
    c = pm.counter()
    pm.wait_counts(c, 3, "the counter to print 3")
    pm.checkpoint(c, "--leave-running")
    assert pm.status(c) == "running"
    last = pm.counts(c)[-1]
    counts = pm.wait_counts(c, last + 2, "the counter to count on after the checkpoint")
    assert unbroken(counts) and counts[0] == 1, counts


@runtimes()
def test_export_rm_import_counts_on(pm, tmp_path):
    c = pm.counter()
    pm.wait_counts(c, 3, "the counter to print 3")
    archive = tmp_path / "checkpoint.tar.gz"
    pm.checkpoint(c, "--export=%s" % archive)
    assert archive.stat().st_size > 0
    before = pm.counts(c)
    assert pm("rm", c).returncode == 0
    assert pm("container", "exists", c).returncode == 1
    pm.restore("--import=%s" % archive)
    assert pm.status(c) == "running"
    after = pm.wait_counts(c, before[-1] + 2, "the imported counter to count on")
    # the archive carries podman's log too: one sequence, on from the checkpoint
    assert after[:len(before)] == before and unbroken(after), (before, after)
