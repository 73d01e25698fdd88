"""CVE-2019-5736 with CAP_SYS_PTRACE: a container must not be able to write
the host's Python interpreter through /proc/PID/exe of a runtime process it
can see.

PR_SET_DUMPABLE 0 stops a container process only when it lacks
CAP_SYS_PTRACE in the user namespace the runtime's memory belongs to (the
host's, for a container without a user namespace of its own). Docker's
default capabilities plus SYS_PTRACE (`docker run --cap-add SYS_PTRACE`) get
past it: the attacker opens /proc/PID/exe of exec's process while it is in
the container's pid namespace, or of a created init waiting in a pid
namespace the container shares, keeps the file, and reopens it for writing
once no process runs the interpreter any more.

The runtime runs here from a private copy of the interpreter (beside a
pyvenv.cfg naming the real one's directory, so it finds its library): no
other process (pytest itself) keeps it busy, so on code without the
protection the write succeeds (the test then fails); and the real one is
never at risk. The attacker is the syscall probe's hold-exe operation
(probes/syscall_probe.c), made deterministic by a FIFO the container puts at
its /etc/passwd: exec's process, which reads it for HOME, blocks there until
the probe has opened its /proc/PID/exe."""

import hashlib
import json
import os
import shutil
import sys

import pytest

from .helpers import DEFAULT_TIMEOUT, DOCKER_DEFAULT_CAPS, IS_RUNC, bind_mount, wait_for
from .security_helpers import PROBE, install_probe, probe_results

pytestmark = pytest.mark.skipif(IS_RUNC, reason="runs minirun's own interpreter from a private copy")

EXECS = 3


def sha256(path):
    with open(str(path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def private_python(tmp_path, monkeypatch):
    """A copy of the interpreter the runtime runs on, used by this test alone."""
    home = tmp_path / "python"
    home.mkdir()
    real = os.path.realpath(os.environ.get("MINIRUN_PYTHON") or sys.executable)
    copy = home / "python3"
    shutil.copy2(real, str(copy))
    (home / "pyvenv.cfg").write_text("home = %s\n" % os.path.dirname(real))
    monkeypatch.setenv("MINIRUN_PYTHON", str(copy))
    return copy


def test_a_container_with_cap_sys_ptrace_cannot_write_the_runtimes_interpreter(
        rt, make_bundle, rootfs, shared, syscall_probe, private_python, cid):
    install_probe(rootfs, syscall_probe)
    before = sha256(private_python)
    caps = DOCKER_DEFAULT_CAPS + ["CAP_SYS_PTRACE"]
    attacker = ("rm /etc/passwd && mkfifo /etc/passwd && touch /shared/ready && "
                "%s hold-exe:/etc/passwd:%d:/shared > /shared/out 2>&1; touch /shared/done; "
                "exec sleep 1000" % (PROBE, EXECS))
    bundle = make_bundle(["sh", "-c", attacker], shared=True, process={
        "env": ["PATH=/bin", "HOME=/root"],
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}})
    rt("run", "--detach", "--bundle", bundle, cid)
    wait_for(lambda: (shared / "ready").exists(), timeout=DEFAULT_TIMEOUT, what="the attacker")
    init = rt.state(cid)["pid"]

    # exec's processes, one after the other: each blocks on the FIFO until
    # the probe holds its /proc/PID/exe
    process = rt.tmp / "process.json"     # no HOME: exec reads the image's passwd for it
    process.write_text(json.dumps({"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"}))
    for _ in range(EXECS):
        rt("exec", "--process", process, cid)

    # a created init waiting in the attacker's pid namespace
    other = cid + "-b"
    waiting = make_bundle(["true"], process={"env": ["PATH=/bin", "HOME=/root"]}, linux={"namespaces": [
        {"type": "pid", "path": "/proc/%d/ns/pid" % init},
        {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]})
    rt("create", "--bundle", waiting, other)
    (shared / "scan").write_text("")
    wait_for(lambda: (shared / "scanned").exists(), timeout=DEFAULT_TIMEOUT, what="the attacker's scan")
    rt("delete", "--force", other)

    # no runtime process runs the interpreter any more: nothing is busy
    (shared / "go").write_text("")
    wait_for(lambda: (shared / "done").exists(), timeout=DEFAULT_TIMEOUT, what="the attack")
    out = (shared / "out").read_text()
    results = probe_results(out)
    held = {op: r for op, r in results.items() if op.startswith("hold:")}
    # the attacker did reach every runtime process: EXECS of exec's and the waiting init ...
    assert len(held) >= EXECS + 1 and set(held.values()) == {"0"}, out
    reopened = {op: r for op, r in results.items() if op.startswith("reopen:")}
    assert len(reopened) == len(held), out
    # ... and could not write through any: a read-only mount (EROFS) or a
    # sealed memfd (open succeeds, the write fails with EPERM); never ETXTBSY,
    # which would only mean that something still ran the file
    written = {op: r for op, r in results.items() if op.startswith("write:")}
    assert {op: r for op, r in reopened.items() if r != "-EROFS"} == {op.replace("write", "reopen"): "0"
                                                                      for op in written}, out
    assert set(written.values()) <= {"-EPERM"}, out
    assert sha256(private_python) == before
