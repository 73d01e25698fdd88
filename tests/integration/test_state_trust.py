"""Trusting state and pids: a forged, stale or corrupt state file, a killed
`create`, or a swapped exec.fifo never makes the runtime signal a process
that is not the container's, never hangs, and leaves nothing behind.

Tests that could signal process sets run inside a pid namespace of their
own (`unshare --pid --fork --mount-proc`), never in the host's."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

from .helpers import DEFAULT_TIMEOUT, IS_RUNC, RUNTIME, assert_error, pid_alive

pytestmark = pytest.mark.skipif(IS_RUNC, reason="minirun's state file format")


def forge_state(root, cid, pid, **overrides):
    """A well-formed version 1 state file naming `pid` (with its real start time)."""
    with open("/proc/%d/stat" % pid, "rb") as stat:
        start = int(stat.read().rsplit(b")", 1)[1].split()[19])
    state = {"version": 1, "id": cid, "pid": pid, "pid_start": start, "bundle": "/nonexistent",
             "rootfs": "/nonexistent/rootfs", "created": "2026-01-01T00:00:00Z", "annotations": {},
             "own_pid_namespace": True, "mnt_ns": os.readlink("/proc/%d/ns/mnt" % pid), "hooks": {},
             "cgroup": None}
    state.update(overrides)
    directory = os.path.join(str(root), cid)
    os.makedirs(directory, 0o700)
    with open(os.path.join(directory, "state.json"), "w") as f:
        json.dump(state, f)
    return directory


# The scenario runs as pid 1 of a throwaway pid namespace: a victim process
# stands in for "any process on the host", and the runtime is handed a state
# file naming it. Nothing may kill it.
SANDBOX = textwrap.dedent("""
    import json, os, subprocess, sys, time
    sys.path.insert(0, sys.argv[1])
    from integration.test_state_trust import forge_state
    runtime, root = json.loads(sys.argv[2]), sys.argv[3]
    victim = subprocess.Popen(["sleep", "1000"])
    bystander = subprocess.Popen(["sleep", "1000"])
    results = {}
    for name, overrides in (("own-ns", {}), ("shared-ns", {"own_pid_namespace": False})):
        cid = "forged-" + name
        forge_state(root, cid, victim.pid, **overrides)
        for args in (["kill", "--all", cid, "KILL"], ["kill", cid, "KILL"], ["delete", "--force", cid]):
            run = subprocess.run(runtime + ["--root", root] + args, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)
            results["%s %s" % (name, args[0] + (" --all" if "--all" in args else ""))] = [run.returncode, run.stderr]
        if name == "own-ns":
            results["own-ns state removed"] = not os.path.exists(os.path.join(root, cid))
        else:
            subprocess.run(runtime + ["--root", root, "delete", "--force", cid])
    results["victim alive"] = victim.poll() is None
    results["bystander alive"] = bystander.poll() is None
    print(json.dumps(results))
    victim.kill(); bystander.kill()
""")


def test_a_forged_state_never_signals_a_process_that_is_not_the_containers(tmp_path):
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    tests_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", SANDBOX, tests_dir,
         json.dumps(RUNTIME), str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=DEFAULT_TIMEOUT)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout.splitlines()[-1])
    assert results["victim alive"] and results["bystander alive"], json.dumps(results)
    # the recorded pid is in the runtime's own mount namespace (and, with a
    # pid namespace of its own, is not pid 1 of another): kill refuses and
    # says why ...
    for name in ("own-ns", "shared-ns"):
        for command in ("kill --all", "kill"):
            code, err = results["%s %s" % (name, command)]
            assert code == 1 and "not the container's init" in err, results
        # ... and delete --force removes the state without signalling anything
        assert results["%s delete" % name][0] == 0, results
    assert results["own-ns state removed"], results


@pytest.mark.parametrize("content", [b"", b"{\"version\": 1, \"id\"", b"\xff\xfe garbage", b"[]",
                                     b'{"version": 99}'])
def test_a_corrupt_state_file_is_a_clear_error_and_delete_force_removes_it(rt, tmp_path, cid, content):
    directory = rt.root / cid
    directory.mkdir(parents=True)
    (directory / "state.json").write_bytes(content)
    result = rt("state", cid, check=False, log=True)
    assert_error(result, cid, "state file", log=rt.log)
    assert_error(rt("delete", cid, check=False), cid, "state file")
    rt("delete", "--force", cid)
    assert not directory.exists()


def test_a_stale_state_file_whose_pid_was_reused_is_stopped(rt, tmp_path, cid):
    holder = rt.spawn(["sleep", "1000"])
    forge_state(rt.root, cid, holder.pid, pid_start=1)  # not this process's start time
    assert rt.state(cid)["status"] == "stopped"
    rt("delete", cid)
    assert pid_alive(holder.pid)


def test_exec_fifo_replaced_by_a_regular_file(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    rt("create", "--bundle", bundle, cid)
    fifo = rt.root / cid / "exec.fifo"
    fifo.unlink()
    fifo.write_text("")
    result = rt("start", cid, check=False, timeout=20, log=True)
    assert_error(result, cid, "not a FIFO", log=rt.log)
    rt("delete", "--force", cid)
    rt.assert_clean()


def test_a_fifo_given_as_a_namespace_path_is_refused_without_hanging(rt, make_bundle, tmp_path, cid):
    fifo = tmp_path / "not-a-namespace"
    os.mkfifo(str(fifo))
    bundle = make_bundle(["true"], linux={"namespaces": [
        {"type": "mount"}, {"type": "uts"}, {"type": "network", "path": str(fifo)}]})
    result = rt("create", "--bundle", bundle, cid, check=False, timeout=20, log=True)
    assert_error(result, "linux.namespaces", "is not a namespace", log=rt.log)
    rt.assert_clean()


@pytest.mark.parametrize("command", ["create", "run"])
def test_create_or_run_killed_at_any_moment_leaves_nothing_after_delete_force(rt, make_bundle, tmp_path, command):
    """SIGKILL to `create` (or `run`) at spread-out moments of its run; each
    time, `delete --force` afterwards leaves no process, mount or state. (The
    delays spread the kill over the command's steps; they synchronise nothing.)"""
    bundle = make_bundle(["sleep", "1000"])
    rng = random.Random(7)
    for n in range(25):
        cid = "killed-%s-%d" % (command, n)
        proc = rt.popen(command, "--bundle", bundle, cid)
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.08))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        rt.finish(proc)
        result = rt("delete", "--force", cid, check=False)
        assert result.returncode == 0, result.stderr
        rt.assert_clean()


def test_stale_listen_fds_do_not_pass_the_callers_fd(rt, make_bundle, tmp_path, cid):
    """LISTEN_FDS counts only with LISTEN_PID naming the runtime itself
    (systemd's contract); a stale LISTEN_FDS=1 must not hand fd 3 in."""
    secret = tmp_path / "secret"
    secret.write_text("caller's file\n")
    bundle = make_bundle(["sh", "-c", "cat <&3 2>/dev/null || echo fd3-closed"])
    out_path = tmp_path / "out"
    env = dict(os.environ, SECRET=str(secret), LISTEN_FDS="1", LISTEN_PID="1")
    from .helpers import run_through_shell
    with open(str(out_path), "w") as out:
        result = run_through_shell(rt, ["/bin/sh", "-c", 'exec "$@" 3<"$SECRET"', "sh"],
                                   ["run", "--bundle", bundle, cid], env, out, "stale-listen")
    assert result.returncode == 0, result.stderr
    assert out_path.read_text().split() == ["fd3-closed"]


def test_parallel_delete_force_all_succeed(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "1000"])
    for round_ in range(5):
        name = "%s-%d" % (cid, round_)
        rt("run", "--detach", "--bundle", bundle, name)
        procs = [rt.popen("delete", "--force", name) for _ in range(6)]
        results = [rt.finish(p) for p in procs]
        assert [r.returncode for r in results] == [0] * 6, [r.stderr for r in results]
    rt.assert_clean()


def test_delete_force_of_a_missing_container_succeeds(rt, cid):
    assert rt("delete", "--force", cid).returncode == 0


def test_a_forged_cgroup_holding_more_than_the_container_is_refused_before_any_signal(rt, make_bundle, cid):
    """kill --all and delete --force act through the cgroup recorded in state.json:
    one that is not the container's own (here its parent, which would hold every
    container minirun runs) is refused, and nothing is signalled through it."""
    bundle = make_bundle(["sleep", "1000"])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    path = rt.root / cid / "state.json"
    state = json.loads(path.read_text())
    genuine = state["cgroup"]
    forged = dict(genuine, dirs=[[os.path.dirname(d), ctrls, mp] for d, ctrls, mp in genuine["dirs"]])
    path.write_text(json.dumps(dict(state, cgroup=forged)))
    result = rt("kill", "--all", cid, "KILL", check=False)
    assert result.returncode == 1 and "is not the container's" in result.stderr, result.stderr
    assert rt.status(cid) == "running"
    paused = rt("pause", cid, check=False)
    assert paused.returncode == 1 and "is not the container's" in paused.stderr
    path.write_text(json.dumps(state))
    rt("delete", "--force", cid)
