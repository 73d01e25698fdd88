"""Container lifecycle: create -> start -> (exit) -> delete, as engines drive it.

create:  the container exists in state "created", its init process is alive
         and waiting, no runtime process is left running, the pid file holds
         the decimal pid without a trailing newline.
start:   the user process runs; state "running".
exit:    state "stopped".
delete:  the container is gone: `state` fails with "does not exist".
"""

import json
import os
import re
import subprocess
import sys

import pytest

from .helpers import (
    DEFAULT_TIMEOUT, IS_RUNC, all_pids, assert_error, cmdline, pid_alive, proc_status, run_through_shell,
    runtime_marker, wait_for,
)
from .security_helpers import PROBE, install_probe

RFC3339 = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

WAIT_FOR_GO = ("echo started > /shared/started; "
               "while [ ! -e /shared/go ]; do sleep 0.05; done; echo done > /shared/done")


def lingering_runtime_processes(rt, init_pid):
    """Processes (other than the container's init) still running with this
    test's --root on their command line."""
    root = str(rt.root)
    found = []
    for pid in all_pids():
        if pid in (init_pid, os.getpid()):
            continue
        args = cmdline(pid)
        if root in args and pid_alive(pid):
            found.append((pid, args))
    return found


def test_create_leaves_a_created_container_waiting(rt, make_bundle, shared, cid, tmp_path):
    bundle = make_bundle(["sh", "-c", WAIT_FOR_GO], shared=True)
    pid_file = tmp_path / "init.pid"

    rt("create", "--bundle", bundle, "--pid-file", pid_file, cid)

    state = rt.state(cid)
    assert state["status"] == "created"
    pid = state["pid"]
    assert isinstance(pid, int) and pid > 0
    # containerd parses the pid file with Atoi: decimal, no trailing newline
    assert pid_file.read_text() == str(pid)
    # the init is alive but has not run the user's args yet
    assert pid_alive(pid)
    assert cmdline(pid)[:2] != ["sh", "-c"]
    assert not (shared / "started").exists()
    # `create` exited and left no runtime process behind
    assert lingering_runtime_processes(rt, pid) == []
    ppid = int(proc_status(pid)["PPid"])
    if ppid > 1:
        marker = runtime_marker()
        assert not any(marker in a for a in cmdline(ppid)), \
            "the init's parent is a runtime process: %r" % cmdline(ppid)


def test_start_runs_the_process_and_it_ends_stopped(rt, make_bundle, shared, cid):
    bundle = make_bundle(["sh", "-c", WAIT_FOR_GO], shared=True)
    rt("create", "--bundle", bundle, cid)
    pid = rt.state(cid)["pid"]

    rt("start", cid)
    wait_for(lambda: (shared / "started").exists(), what="the process to start")
    state = rt.state(cid)
    assert state["status"] == "running"
    assert state["pid"] == pid
    assert cmdline(pid)[:2] == ["sh", "-c"]
    assert not lingering_runtime_processes(rt, pid)

    (shared / "go").write_text("")
    wait_for(lambda: (shared / "done").exists(), what="the process to finish")
    rt.wait_status(cid, "stopped")
    wait_for(lambda: not pid_alive(pid), what="the init to exit")

    rt("delete", cid)
    result = rt("state", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    rt.assert_clean()


def test_create_then_delete_without_start(rt, make_bundle, shared, cid):
    """A created container that is never started can be deleted; its user
    process never runs."""
    bundle = make_bundle(["sh", "-c", WAIT_FOR_GO], shared=True)
    rt("create", "--bundle", bundle, cid)
    pid = rt.state(cid)["pid"]
    rt("delete", cid)
    wait_for(lambda: not pid_alive(pid), what="the init to go away")
    assert not (shared / "started").exists()
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_state_json_fields(rt, make_bundle, cid):
    annotations = {"org.example.key": "value", "io.kubernetes.cri-o.TTY": "false"}
    bundle = make_bundle(["sleep", "100"], annotations=annotations)
    rt("create", "--bundle", bundle, cid)
    state = rt.state(cid)
    for key in ("ociVersion", "id", "status", "pid", "bundle", "created", "owner"):
        assert key in state, key
    assert isinstance(state["ociVersion"], str) and state["ociVersion"]
    assert state["id"] == cid
    assert state["status"] == "created"
    assert os.path.realpath(state["bundle"]) == os.path.realpath(str(bundle))
    assert os.path.isabs(state["bundle"])
    assert RFC3339.match(state["created"]), state["created"]
    assert isinstance(state["owner"], str)
    assert state.get("annotations") == annotations

    rt("start", cid)
    state = rt.state(cid)
    assert state["status"] == "running"
    assert state.get("annotations") == annotations


def test_bundle_defaults_to_the_current_directory(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", cid, cwd=bundle)
    assert os.path.realpath(rt.state(cid)["bundle"]) == os.path.realpath(str(bundle))


@pytest.mark.parametrize("form", ["-b", "--bundle=", "--pid-file="])
def test_create_flag_forms(rt, make_bundle, cid, tmp_path, form):
    bundle = make_bundle(["sleep", "100"])
    pid_file = tmp_path / "p.pid"
    if form == "-b":
        args = ["-b", str(bundle), "--pid-file", str(pid_file)]
    elif form == "--bundle=":
        args = ["--bundle=%s" % bundle, "--pid-file", str(pid_file)]
    else:
        args = ["--bundle", str(bundle), "--pid-file=%s" % pid_file]
    rt("create", *args, cid)
    state = rt.state(cid)
    assert state["status"] == "created"
    assert pid_file.read_text() == str(state["pid"])


def test_init_is_a_direct_child_of_create_reparented_to_a_subreaper(rt, make_bundle, cid, tmp_path):
    """The shim (a child subreaper) learns exit codes by reaping: once
    `create` exits, the init must be re-parented to the subreaper that ran
    `create`, i.e. it was a direct child of the exiting runtime process."""
    bundle = make_bundle(["sleep", "100"])
    pid_file = tmp_path / "init.pid"
    helper = r"""
import ctypes, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER
argv, pid_file = json.loads(sys.argv[1]), sys.argv[2]
rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL).returncode
ppid = None
if rc == 0:
    pid = int(open(pid_file).read())
    for line in open("/proc/%d/status" % pid):
        if line.startswith("PPid:"):
            ppid = int(line.split()[1])
print(json.dumps({"rc": rc, "ppid": ppid, "me": os.getpid()}))
"""
    argv = rt.argv("create", "--bundle", bundle, "--pid-file", pid_file, cid)
    out = subprocess.run([sys.executable, "-c", helper, json.dumps(argv), str(pid_file)],
                         stdout=subprocess.PIPE, universal_newlines=True,
                         timeout=DEFAULT_TIMEOUT, check=True, cwd=str(bundle)).stdout
    info = json.loads(out)
    assert info["rc"] == 0
    assert info["ppid"] == info["me"], \
        "init's parent is %s, not the subreaper %s" % (info["ppid"], info["me"])
    assert rt.state(cid)["status"] == "created"


def test_start_of_a_running_container_fails(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt.wait_status(cid, "running")
    result = rt("start", cid, check=False)
    assert_error(result, "cannot start an already running container")
    assert rt.status(cid) == "running"


def test_start_of_a_stopped_container_fails(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    result = rt("start", cid, check=False)
    assert_error(result, "cannot start a container that has stopped")
    assert rt.status(cid) == "stopped"


def test_start_of_a_missing_container_fails(rt, cid):
    result = rt("start", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_state_of_a_missing_container(rt, cid):
    result = rt("state", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert result.stdout.strip() == ""


def test_delete_of_a_running_container_needs_force(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    pid = rt.state(cid)["pid"]

    result = rt("delete", cid, check=False)
    assert_error(result, "cannot delete container", "not stopped")
    assert rt.status(cid) == "running"
    assert pid_alive(pid)

    rt("delete", "--force", cid)
    wait_for(lambda: not pid_alive(pid), what="the init to be killed")
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_delete_force_of_a_created_container(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    pid = rt.state(cid)["pid"]
    rt("delete", "--force", cid)
    wait_for(lambda: not pid_alive(pid), what="the init to be killed")
    rt.assert_clean()


def test_delete_force_of_a_missing_container_succeeds(rt, cid):
    result = rt("delete", "--force", cid, check=False)
    assert result.returncode == 0, result.stderr


def test_delete_of_a_missing_container_fails(rt, cid):
    result = rt("delete", cid, check=False)
    assert_error(result, "does not exist")


def test_docker_sequence_delete_then_delete_force(rt, make_bundle, cid, tmp_path):
    """docker run --rm: create, start, delete, delete --force (second shim)."""
    bundle = make_bundle(["echo", "hi"])
    pid_file = bundle / "init.pid"
    out = open(str(tmp_path / "stdout"), "w")
    try:
        rt("create", "--bundle", bundle, "--pid-file", pid_file, cid, log=True,
           cwd=bundle, stdout=out)
        rt("start", cid, log=True, cwd=bundle)
        rt.wait_status(cid, "stopped")
    finally:
        out.close()
    assert (tmp_path / "stdout").read_text() == "hi\n"
    rt("delete", cid, log=True, cwd=bundle)
    rt("delete", "--force", cid, log=True, cwd=bundle)
    rt.assert_clean()


def test_two_containers_are_independent(rt, make_bundle):
    a, b = "a" + os.urandom(6).hex(), "b" + os.urandom(6).hex()
    rt("create", "--bundle", make_bundle(["sleep", "100"]), a)
    rt("create", "--bundle", make_bundle(["sleep", "100"]), b)
    rt("start", a)
    assert rt.status(a) == "running"
    assert rt.status(b) == "created"
    rt("delete", "--force", a)
    assert rt.status(b) == "created"
    rt("start", b)
    assert rt.status(b) == "running"


# Runs argv[2:] in a new session keyring named argv[1] (keyctl
# KEYCTL_JOIN_SESSION_KEYRING), standing in for an engine's own keyring.
IN_SESSION_KEYRING = """
import ctypes, os, platform, sys
KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
libc = ctypes.CDLL(None, use_errno=True)
if libc.syscall(KEYCTL, 1, sys.argv[1].encode()) < 0:
    sys.exit("keyctl: %s" % os.strerror(ctypes.get_errno()))
os.execvp(sys.argv[2], sys.argv[2:])
"""


@pytest.mark.parametrize("no_new_keyring", [False, True])
def test_session_keyring(rt, make_bundle, rootfs, syscall_probe, cid, tmp_path, no_new_keyring):
    """By default the process runs in a new session keyring named after the
    container; with --no-new-keyring in the caller's own."""
    install_probe(rootfs, syscall_probe)
    bundle = make_bundle([PROBE, "session-keyring"])
    caller_keyring = "caller-%s" % cid
    flags = ["--no-new-keyring"] if no_new_keyring else []
    out_path = tmp_path / "out"
    with open(str(out_path), "w") as out:
        result = run_through_shell(rt, [sys.executable, "-c", IN_SESSION_KEYRING, caller_keyring],
                                   ["create"] + flags + ["--bundle", str(bundle), cid],
                                   dict(os.environ), out, "keyring")
    assert result.returncode == 0, result.stderr
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    # runc names the new keyring "_ses.ID", minirun "ID"
    wanted = caller_keyring if no_new_keyring else ("_ses." + cid if IS_RUNC else cid)
    assert out_path.read_text() == "session-keyring=%s\n" % wanted
