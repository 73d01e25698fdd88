"""`kill [--all] ID [SIGNAL]`: signal names with or without SIG, numbers,
default SIGTERM; errors that engines match on."""

import json
import os
import signal

import pytest

from .helpers import IS_RUNC, assert_error, cmdline, pid_alive, pids_in_pidns_of, wait_for

# The init is pid 1 in its pid namespace: only signals it has a handler for
# are delivered, so the shell traps them and records what it got.
TRAPPER = (
    "trap 'echo TERM >> /shared/sig' TERM; "
    "trap 'echo USR1 >> /shared/sig' USR1; "
    "trap 'echo HUP >> /shared/sig' HUP; "
    "echo ready > /shared/ready; "
    "while :; do sleep 0.05; done"
)


def start_trapper(rt, make_bundle, shared, cid):
    bundle = make_bundle(["sh", "-c", TRAPPER], shared=True)
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    wait_for(lambda: (shared / "ready").exists(), what="the traps to be set")
    return rt.state(cid)["pid"]


def signals_received(shared):
    path = shared / "sig"
    return path.read_text().split() if path.exists() else []


@pytest.mark.parametrize("args, expected", [
    ([], "TERM"),
    (["TERM"], "TERM"),
    (["SIGTERM"], "TERM"),
    ([str(int(signal.SIGTERM))], "TERM"),
    (["USR1"], "USR1"),
    (["SIGUSR1"], "USR1"),
    ([str(int(signal.SIGUSR1))], "USR1"),
    (["HUP"], "HUP"),
    ([str(int(signal.SIGHUP))], "HUP"),
], ids=["default", "TERM", "SIGTERM", "15", "USR1", "SIGUSR1", "10", "HUP", "1"])
def test_kill_delivers_the_signal(rt, make_bundle, shared, cid, args, expected):
    start_trapper(rt, make_bundle, shared, cid)
    rt("kill", cid, *args)
    wait_for(lambda: signals_received(shared), what="the trap to fire")
    assert signals_received(shared) == [expected]
    assert rt.status(cid) == "running"


@pytest.mark.parametrize("sig", ["KILL", "SIGKILL", "9"])
def test_kill_with_sigkill_stops_the_container(rt, make_bundle, shared, cid, sig):
    pid = start_trapper(rt, make_bundle, shared, cid)
    rt("kill", cid, sig)
    rt.wait_status(cid, "stopped")
    wait_for(lambda: not pid_alive(pid), what="the init to die")
    rt("delete", cid)
    rt.assert_clean()


def test_kill_signal_given_to_a_created_container(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    pid = rt.state(cid)["pid"]
    rt("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    assert not pid_alive(pid)


def test_kill_all_signals_every_process(rt, make_bundle, shared, cid):
    script = ("trap 'echo TERM >> /shared/sig' TERM; "
              "sleep 1000 & echo $! > /shared/child; "
              "while :; do sleep 0.05; done")
    bundle = make_bundle(["sh", "-c", script], shared=True)
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    init = rt.state(cid)["pid"]
    wait_for(lambda: (shared / "child").exists(), what="the child to start")

    def sleepers():
        return [p for p in pids_in_pidns_of(init) if cmdline(p) == ["sleep", "1000"]]

    child = wait_for(sleepers, what="the child to show up")[0]

    # without --all only the init is signalled: the child survives
    rt("kill", cid, "TERM")
    wait_for(lambda: signals_received(shared) == ["TERM"], what="the init's trap")
    assert pid_alive(child)

    rt("kill", "--all", cid, "TERM")
    wait_for(lambda: not pid_alive(child), what="the child to get SIGTERM")
    wait_for(lambda: signals_received(shared) == ["TERM", "TERM"],
             what="the init's trap to fire again")
    assert rt.status(cid) == "running"

    rt("kill", "--all", cid, "KILL")
    rt.wait_status(cid, "stopped")
    assert not pid_alive(init)


@pytest.mark.parametrize("sig", ["SIGFOO", "FOO", "99"])
def test_kill_with_an_unknown_signal_fails(rt, make_bundle, shared, cid, sig):
    start_trapper(rt, make_bundle, shared, cid)
    result = rt("kill", cid, sig, check=False)
    assert_error(result, "signal", sig)
    assert rt.status(cid) == "running"
    # "nothing arrived" is only known once something later did: a signal
    # the refused call had sent is pending by now, and the trap that
    # records USR1 runs every pending trap
    rt("kill", cid, "USR1")
    wait_for(lambda: signals_received(shared), what="the trap to fire")
    assert signals_received(shared) == ["USR1"]


def test_kill_of_a_stopped_container_says_not_running(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    result = rt("kill", cid, "KILL", check=False)
    assert result.returncode == 1
    assert "container not running" in result.stderr


def test_kill_of_a_missing_container(rt, cid):
    result = rt("kill", cid, "KILL", check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr


@pytest.mark.parametrize("all_flag", [[], ["--all"]], ids=["init", "all"])
def test_kill_with_signal_zero_probes_the_container(rt, make_bundle, shared, cid, all_flag):
    """Signal 0 is valid: `kill [--all] ID 0` succeeds while the container can
    be signalled, delivers nothing, and says "not running" once it has stopped."""
    pid = start_trapper(rt, make_bundle, shared, cid)
    rt("kill", *all_flag, cid, "0")
    assert rt.status(cid) == "running" and pid_alive(pid)
    rt("kill", cid, "USR1")  # a real signal after the probe: the probe delivered nothing before it
    wait_for(lambda: signals_received(shared), what="the USR1 trap")
    assert signals_received(shared) == ["USR1"]
    rt("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    result = rt("kill", *all_flag, cid, "0", check=False)
    if all_flag:
        # runc's `kill --all` signals whatever is left in the cgroup of a
        # stopped container (here nothing) and exits 0; so does minirun.
        assert result.returncode == 0, result
        return
    assert result.returncode == 1
    assert "container not running" in result.stderr


def test_kill_with_signal_zero_probes_a_created_container(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    rt("kill", cid, "0")
    assert rt.status(cid) == "created"


# --- kill --all and ps of a stopped container (issue 20, item 8) ----------------------------


def scenario_leftovers_of_a_stopped_container(runtime, root, bundle, cid, shared):
    """`cid`, without a pid namespace of its own, forks two sleeps and exits:
    they outlive it in its cgroup. What ps, kill and kill --all do then."""
    import subprocess
    import time
    from integration.helpers import call, container_state
    results = {"run": call(runtime, root, "run", "--detach", "--bundle", bundle, cid)}
    started = os.path.join(shared, "started")
    for _ in range(3000):
        if os.path.exists(started) and (container_state(runtime, root, cid) or {}).get("status") == "stopped":
            break
        time.sleep(0.01)
    left = sorted(int(p) for p in open(started).read().split())
    results["left"] = left

    def ps(*args):
        run = subprocess.run(list(runtime) + ["--root", root, "ps"] + list(args) + [cid], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
        return [run.returncode, run.stdout, run.stderr]
    results["ps"] = ps()
    results["ps json"] = ps("--format", "json")
    results["kill"] = call(runtime, root, "kill", cid, "KILL")
    results["alive after kill"] = [pid for pid in left if os.path.exists("/proc/%d" % pid)
                                   and open("/proc/%d/stat" % pid).read().split(") ")[1][0] != "Z"]
    results["kill --all"] = call(runtime, root, "kill", "--all", cid, "KILL")
    for _ in range(3000):     # the scenario is pid 1 here: it reaps them (a hang guard only)
        try:
            if all(os.waitpid(pid, os.WNOHANG)[0] for pid in left if os.path.exists("/proc/%d" % pid)):
                break
        except ChildProcessError:
            break
        time.sleep(0.01)
    results["alive after kill --all"] = [pid for pid in left if os.path.exists("/proc/%d" % pid)]
    results["ps after"] = ps()
    results["delete"] = call(runtime, root, "delete", cid)
    return results


def test_kill_all_and_ps_of_a_stopped_container_reach_what_is_left_in_its_cgroup(rt, make_bundle, cid, shared):
    """As runc: its init gone, the container is stopped; plain kill says "container
    not running", kill --all signals the forks it left in its cgroup (proven
    its own: the cgroup create made, the mount and pid namespaces recorded at
    create) and exits 0, and ps lists them, then prints the header alone."""
    from .helpers import run_in_own_pid_namespace
    namespaces = [{"type": t} for t in ("network", "ipc", "uts", "mount")]    # no pid namespace
    script = "sleep 1000 & a=$!; sleep 1001 & echo $a $! > /shared/started"
    bundle = make_bundle(["sh", "-c", script], shared=True,
                         linux={"namespaces": namespaces, "cgroupsPath": "/minirun-it-left-" + cid})
    rt.root.mkdir(mode=0o700, exist_ok=True)
    r = run_in_own_pid_namespace("test_kill", "scenario_leftovers_of_a_stopped_container", root=str(rt.root),
                                 bundle=str(bundle), cid=cid, shared=str(shared))
    assert r["run"][0] == 0 and len(r["left"]) == 2, r
    code, out, _err = r["ps"]
    lines = out.splitlines()
    pid_column = lines[0].split().index("PID")
    assert code == 0 and sorted(int(line.split()[pid_column]) for line in lines[1:]) == r["left"], r
    assert r["ps json"][0] == 0 and sorted(json.loads(r["ps json"][1])) == r["left"], r
    assert r["kill"][0] == 1 and "container not running" in r["kill"][1], r
    assert r["alive after kill"] == r["left"], r
    assert r["kill --all"][0] == 0 and r["alive after kill --all"] == [], r
    code, out, _err = r["ps after"]
    assert code == 0 and len(out.splitlines()) == 1 and "PID" in out.split(), r
    assert r["delete"][0] == 0, r
