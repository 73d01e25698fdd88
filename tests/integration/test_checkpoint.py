"""checkpoint and restore through CRIU, side by side with runc.

Each scenario runs with the runtime under test and with runc (where it is
installed), and holds both to the same behaviour; where runc differs on
purpose the test says so (runc removes a checkpointed container, minirun
keeps it stopped, and restore replaces it).

CRIU must be able to dump on this kernel: Debian 12's criu 3.17 cannot on
6.18 ("Unexpected rt vDSO area bounds"), so on such a host the module skips,
naming CRIU's own error. The VM lab runs it in guests whose Debian carries a
CRIU that works there (vm/kernels.py: bookworm's 3.17 on 6.1, sid's 4.x):

    make vm-test KERNELS="bookworm sid" MODES=v2 LAB_PYTEST_ARGS="tests/integration/test_checkpoint.py"

The containers' stdio are pipes the test holds (as conmon and the shims
give): CRIU dumps no file of a mount outside the container.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import Runtime
from .helpers import ConsoleReceiver, bind_mount, read_until, tmpfs_mount, unified_cgroup, wait_for

RUNC = shutil.which("runc")
UNSHARE = "/usr/bin/unshare"
# Under TCG (the VM lab) a dump or a restore takes seconds.
SLOW = 300

# pid 1 counts into /count; its child, a subshell, loops too and has written
# its pid to /child: after a restore it must still be there, at that pid.
COUNTER = ["/bin/sh", "-c", "(while :; do sleep 1; done) & echo $! > /child; "
           "i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.2; done"]


def criu_path():
    for path in ("/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu"):
        if os.access(path, os.X_OK):
            return path
    return None


def criu_refusal():
    """Why CRIU cannot checkpoint a container here, or None: `criu check`,
    then a real dump of a process with a session and a network namespace of
    its own (what a container is to CRIU)."""
    criu = criu_path()
    if criu is None:
        return "criu is not installed (the VM lab's bookworm and sid boxes carry it)"
    check = subprocess.run([criu, "check"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=SLOW)
    if check.returncode != 0:
        said = check.stdout.strip().splitlines()
        return "`criu check` failed: %s" % (said[-1] if said else "exit %d" % check.returncode)
    scratch = Path(tempfile.mkdtemp(prefix="minirun-criu-probe-"))
    # unshare execs sh in the new network namespace: its first line says it is there
    sleeper = subprocess.Popen([UNSHARE, "--net", "--", "/bin/sh", "-c", "echo in; exec sleep 100000"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        sleeper.stdout.readline()
        dump = subprocess.run([criu, "dump", "-t", str(sleeper.pid), "-D", str(scratch), "-o", "dump.log", "-v4"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              universal_newlines=True, timeout=SLOW)
        if dump.returncode == 0:
            return None
        try:
            log = (scratch / "dump.log").read_text(errors="replace")
        except OSError:
            log = dump.stdout
        errors = [re.sub(r"^\(\s*[0-9.]+\)\s*", "", line.strip()) for line in log.splitlines()
                  if "Error (" in line and "RLIMIT_NOFILE" not in line]
        return "criu cannot dump a process in a network namespace of its own here: %s" % (
            errors[0] if errors else dump.stdout.strip()[-200:])
    finally:
        sleeper.stdout.close()
        if sleeper.poll() is None:
            sleeper.kill()
        sleeper.wait(30)
        shutil.rmtree(str(scratch), ignore_errors=True)


@pytest.fixture(scope="module")
def criu_works():
    if os.geteuid() != 0:
        pytest.skip("checkpoint and restore need root")
    refusal = criu_refusal()
    if refusal:
        pytest.skip(refusal)


@pytest.fixture(params=["minirun", "runc"])
def crt(request, tmp_path, criu_works):
    """The runtime under test, or runc: each scenario runs with both."""
    if request.param == "runc":
        if RUNC is None:
            pytest.skip("runc is not installed: nothing to compare with")
        runtime = Runtime(tmp_path, command=[RUNC])
    else:
        runtime = Runtime(tmp_path)
    runtime.is_runc = runtime.command == [RUNC]
    yield runtime
    problems = runtime.teardown()
    assert not problems, "\n".join(problems)


class Stdio:
    """Pipes for a container's stdio, held by the test as an engine holds them."""

    def __init__(self):
        self.stdin_r, self.stdin_w = os.pipe()
        self.out_r, self.out_w = os.pipe()

    def kwargs(self):
        return {"stdin": self.stdin_r, "stdout": self.out_w, "stderr": self.out_w}

    def close(self):
        for fd in (self.stdin_r, self.stdin_w, self.out_r, self.out_w):
            os.close(fd)


@pytest.fixture
def stdio():
    pipes = []

    def make():
        pipes.append(Stdio())
        return pipes[-1]

    yield make
    for p in pipes:
        p.close()


def count(bundle):
    try:
        return int((Path(json.loads((bundle / "config.json").read_text())["root"]["path"]) / "count")
                   .read_text() or 0)
    except (OSError, ValueError):
        return 0


def wait_count(bundle, above, what="the counter"):
    wait_for(lambda: count(bundle) > above, timeout=SLOW, what="%s to pass %d" % (what, above))
    return count(bundle)


def start_counter(crt, make_bundle, cid, stdio, **overrides):
    bundle = make_bundle(args=COUNTER, **overrides)
    crt("run", "-d", "--bundle", bundle, cid, timeout=SLOW, **stdio().kwargs())
    wait_count(bundle, 3)
    return bundle


def checkpoint(crt, cid, image, *flags):
    return crt("checkpoint", "--image-path", image, *flags, cid, timeout=SLOW, log=True)


def restore(crt, cid, image, bundle, stdio, *flags):
    return crt("restore", "-d", "--image-path", image, "--bundle", bundle, *flags, cid, timeout=SLOW,
               log=True, **stdio().kwargs())


def assert_stopped_after_checkpoint(crt, cid):
    if crt.is_runc:
        assert crt.status(cid) is None      # runc removes the container once dumped
    else:
        assert crt.status(cid) == "stopped"


def dump_and_delete(crt, cid, bundle, image, *flags):
    """Checkpoint the counter; its count when it stopped. minirun's stopped
    container is then deleted, as after any exit (runc's is gone already)."""
    checkpoint(crt, cid, image, *flags)
    assert_stopped_after_checkpoint(crt, cid)
    stopped_at = count(bundle)
    if not crt.is_runc:
        crt("delete", cid)
    return stopped_at


def restore_counting(crt, cid, image, bundle, stdio, stopped_at):
    restore(crt, cid, image, bundle, stdio)
    wait_count(bundle, stopped_at, "the restored counter")


def inside(crt, cid, script):
    return crt("exec", cid, "/bin/sh", "-c", script, timeout=SLOW).stdout


def test_a_restored_counter_counts_on_with_the_same_pids(crt, make_bundle, cid, stdio, tmp_path):
    bundle = start_counter(crt, make_bundle, cid, stdio)
    child = inside(crt, cid, "cat /child").strip()
    checkpoint(crt, cid, tmp_path / "image")
    assert_stopped_after_checkpoint(crt, cid)
    stopped_at = count(bundle)
    time.sleep(1)
    assert count(bundle) == stopped_at, "still counting after the checkpoint"
    pid_file = tmp_path / "restored.pid"
    restore(crt, cid, tmp_path / "image", bundle, stdio, "--pid-file", pid_file)
    state = crt.state(cid)
    assert state["status"] == "running" and state["pid"] == int(pid_file.read_text())
    first = wait_count(bundle, stopped_at, "the restored counter")
    assert first <= stopped_at + 10, "counted from %d after stopping at %d" % (first, stopped_at)
    # the same processes: pid 1 the counter, its child at its old pid
    assert inside(crt, cid, "cat /proc/1/cmdline | tr '\\0' ' '").startswith("/bin/sh -c (while")
    assert inside(crt, cid, "kill -0 %s && echo alive" % child).strip() == "alive"
    crt("pause", cid)
    assert crt.status(cid) == "paused"
    crt("resume", cid)
    wait_count(bundle, count(bundle), "the counter after resume")
    crt("kill", cid, "KILL")
    crt.wait_status(cid, "stopped", timeout=SLOW)
    crt("delete", cid)


def test_leave_running_keeps_the_container_counting(crt, make_bundle, cid, stdio, tmp_path):
    bundle = start_counter(crt, make_bundle, cid, stdio)
    checkpoint(crt, cid, tmp_path / "image", "--leave-running")
    assert crt.status(cid) == "running"
    wait_count(bundle, count(bundle), "the counter after --leave-running")
    assert (tmp_path / "image" / "inventory.img").exists()


def test_a_pre_dump_then_a_dump_on_its_parent_restores(crt, make_bundle, cid, stdio, tmp_path):
    check = subprocess.run([criu_path(), "check", "--feature", "mem_dirty_track"], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if check.returncode != 0:
        pytest.skip("this kernel has no memory tracking for CRIU (soft-dirty bits): %s"
                    % check.stdout.strip().splitlines()[-1:])
    bundle = start_counter(crt, make_bundle, cid, stdio)
    checkpoint(crt, cid, tmp_path / "parent", "--pre-dump")
    assert crt.status(cid) == "running"
    stopped_at = dump_and_delete(crt, cid, bundle, tmp_path / "final", "--parent-path", "../parent")
    assert os.path.islink(str(tmp_path / "final" / "parent"))   # CRIU's link to the pre-dump's pages
    restore_counting(crt, cid, tmp_path / "final", bundle, stdio, stopped_at)


def test_a_terminal_comes_back_over_the_console_socket(crt, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=["/bin/sh", "-c", "while read line; do echo got:$line; done"],
                         process={"terminal": True})
    first = ConsoleReceiver(tmp_path / "c1.sock")
    second = ConsoleReceiver(tmp_path / "c2.sock")
    try:
        crt("run", "-d", "--console-socket", first.path, "--bundle", bundle, cid, timeout=SLOW)
        master = first.receive()[0]
        os.write(master, b"one\n")
        read_until(master, b"got:one", timeout=SLOW)
        checkpoint(crt, cid, tmp_path / "image")
        assert_stopped_after_checkpoint(crt, cid)
        crt("restore", "-d", "--image-path", tmp_path / "image", "--bundle", bundle, "--console-socket",
            second.path, cid, timeout=SLOW)
        restored = second.receive()[0]
        os.write(restored, b"two\n")
        read_until(restored, b"got:two", timeout=SLOW)
    finally:
        first.close()
        second.close()


def test_bind_mount_tmpfs_and_masked_paths_survive(crt, make_bundle, cid, stdio, tmp_path, shared):
    # a file and a directory of procfs, masked as engines mask them (kernels differ in which exist)
    masked_file = next(p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if os.path.exists(p))
    bundle = start_counter(crt, make_bundle, cid, stdio, shared=True,
                           extra_mounts=[tmpfs_mount("/scratch", "size=1m")],
                           linux={"maskedPaths": [masked_file, "/proc/scsi"], "readonlyPaths": ["/proc/sys"]})
    inside(crt, cid, "echo kept > /scratch/file")
    stopped_at = dump_and_delete(crt, cid, bundle, tmp_path / "image")
    restore_counting(crt, cid, tmp_path / "image", bundle, stdio, stopped_at)
    assert inside(crt, cid, "cat /scratch/file").strip() == "kept"     # a tmpfs's content comes back
    inside(crt, cid, "echo from-inside > /shared/restored")
    assert (Path(shared) / "restored").read_text().strip() == "from-inside"   # the bind, to its source
    assert inside(crt, cid, "wc -c < %s" % masked_file).strip() == "0"  # still masked by /dev/null
    assert inside(crt, cid, "ls /proc/scsi | wc -l").strip() == "0"     # still an empty tmpfs
    refused = crt("exec", cid, "/bin/sh", "-c", "echo 1 > /proc/sys/kernel/shmmax", check=False, timeout=SLOW)
    assert refused.returncode != 0                                      # still read-only


def test_an_established_tcp_connection_survives(crt, make_bundle, cid, stdio, tmp_path):
    # The server's stdin stays open (at its EOF busybox's nc would close the connection).
    script = ("(while :; do sleep 1; done) | nc -l -p 5000 > /received & sleep 1; "
              "(i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done) | nc 127.0.0.1 5000")
    bundle = make_bundle(args=["/bin/sh", "-c", script])
    crt("run", "-d", "--bundle", bundle, cid, timeout=SLOW, **stdio().kwargs())
    received = Path(json.loads((bundle / "config.json").read_text())["root"]["path"]) / "received"

    def lines():
        try:
            return [int(x) for x in received.read_text().split()]
        except (OSError, ValueError):
            return []

    wait_for(lambda: len(lines()) > 3, timeout=SLOW, what="the connection to carry lines")
    checkpoint(crt, cid, tmp_path / "image", "--tcp-established")
    before = lines()
    if crt.is_runc:
        # runc restores the network namespace empty (CRIU's empty_ns, which
        # runc always asks for) and leaves lo down: the connection cannot come back.
        result = crt("restore", "-d", "--image-path", tmp_path / "image", "--bundle", bundle, "--tcp-established",
                     cid, check=False, timeout=SLOW, **stdio().kwargs())
        assert result.returncode != 0
        assert "Network is unreachable" in (tmp_path / "image" / "restore.log").read_text(errors="replace")
        return
    crt("delete", cid)
    restore(crt, cid, tmp_path / "image", bundle, stdio, "--tcp-established")
    wait_for(lambda: len(lines()) > len(before) + 3, timeout=SLOW, what="the restored connection to carry lines")
    got = lines()
    assert got == list(range(1, len(got) + 1)), "the stream broke: %s" % got


def test_restore_into_another_bundle_path(crt, make_bundle, cid, stdio, tmp_path, rootfs):
    bundle = start_counter(crt, make_bundle, cid, stdio)
    stopped_at = dump_and_delete(crt, cid, bundle, tmp_path / "image")
    moved = tmp_path / "moved"
    moved.mkdir()
    subprocess.run(["cp", "-a", str(rootfs), str(moved / "rootfs")], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"]["path"] = str(moved / "rootfs")
    (moved / "config.json").write_text(json.dumps(config))
    restore(crt, cid, tmp_path / "image", moved, stdio)
    assert crt.state(cid)["bundle"] == str(moved)
    wait_count(moved, stopped_at, "the counter in the moved bundle")


def test_cgroup_limits_hold_after_restore(crt, make_bundle, cid, stdio, tmp_path):
    limits = {"resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}}
    bundle = start_counter(crt, make_bundle, cid, stdio, linux=limits)
    stopped_at = dump_and_delete(crt, cid, bundle, tmp_path / "image")
    restore_counting(crt, cid, tmp_path / "image", bundle, stdio, stopped_at)
    pid = crt.state(cid)["pid"]
    assert limits_of(pid) == (str(64 << 20), "50")
    crt("update", "--pids-limit", "60", cid)
    assert limits_of(pid) == (str(64 << 20), "60")


def limits_of(pid):
    """(memory limit, pids limit) of the cgroup `pid` is in, v2 or v1."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        cgroup = Path("/sys/fs/cgroup" + unified_cgroup(pid))
        return (cgroup / "memory.max").read_text().strip(), (cgroup / "pids.max").read_text().strip()
    own = {}
    for line in Path("/proc/%d/cgroup" % pid).read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        for ctrl in ctrls.split(","):
            own[ctrl] = path
    memory = Path("/sys/fs/cgroup/memory" + own["memory"]) / "memory.limit_in_bytes"
    pids = Path("/sys/fs/cgroup/pids" + own["pids"]) / "pids.max"
    return memory.read_text().strip(), pids.read_text().strip()


def test_restore_runs_prestart_and_create_runtime_hooks_with_the_restored_pid(crt, make_bundle, cid, stdio,
                                                                               tmp_path):
    log = tmp_path / "hooks.log"
    hook = lambda name: {"path": "/bin/sh", "args": ["sh", "-c", "cat >> %s; echo >> %s; echo %s >> %s"
                                                                 % (log, log, name, log)]}
    bundle = start_counter(crt, make_bundle, cid, stdio,
                           hooks={"prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")]})
    dump_and_delete(crt, cid, bundle, tmp_path / "image")
    log.write_text("")
    restore(crt, cid, tmp_path / "image", bundle, stdio)
    text = log.read_text()
    states = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert [line for line in text.splitlines() if not line.startswith("{")] == ["prestart", "createRuntime"]
    assert {s["pid"] for s in states} == {crt.state(cid)["pid"]}


def test_without_criu_both_commands_fail_in_one_line_and_change_nothing(crt, make_bundle, cid, stdio, tmp_path):
    bundle = start_counter(crt, make_bundle, cid, stdio)
    bare = tmp_path / "bin"
    bare.mkdir()
    env = dict(os.environ, PATH=str(bare))
    result = crt("checkpoint", "--image-path", tmp_path / "image", cid, check=False, env=env, timeout=SLOW)
    assert result.returncode != 0 and "criu" in result.stderr.lower()
    if not crt.is_runc:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert crt.status(cid) == "running"
    wait_count(bundle, count(bundle), "the counter after the refused checkpoint")
    result = crt("restore", "-d", "--image-path", tmp_path / "image", "--bundle", bundle, "other" + cid,
                 check=False, env=env, timeout=SLOW)
    assert result.returncode != 0 and "criu" in result.stderr.lower()
    assert crt.status("other" + cid) is None


def test_restore_from_a_missing_image_directory_fails_naming_it(crt, make_bundle, cid, tmp_path):
    bundle = make_bundle(args=COUNTER)
    missing = tmp_path / "no-such-image"
    result = crt("restore", "-d", "--image-path", missing, "--bundle", bundle, cid, check=False, log=True,
                 timeout=SLOW)
    assert result.returncode != 0 and str(missing) in result.stderr
    if not crt.is_runc:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert crt.status(cid) is None      # no state, cgroup or mount left (the teardown checks the rest)


def test_restore_never_replaces_a_container_that_was_not_checkpointed(crt, make_bundle, cid, stdio, tmp_path):
    """Only a checkpointed, stopped container is replaced by restore: a
    running one (here the very one dumped with --leave-running) keeps
    running, and the refusal leaves it untouched."""
    bundle = start_counter(crt, make_bundle, cid, stdio)
    checkpoint(crt, cid, tmp_path / "image", "--leave-running")
    result = crt("restore", "-d", "--image-path", tmp_path / "image", "--bundle", bundle, cid, check=False,
                 timeout=SLOW, **stdio().kwargs())
    assert result.returncode != 0
    assert crt.status(cid) == "running"
    wait_count(bundle, count(bundle), "the counter after the refused restore")
