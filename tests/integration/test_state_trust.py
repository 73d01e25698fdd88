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
import uuid

import pytest

from .helpers import DEFAULT_TIMEOUT, IS_RUNC, RUNTIME, assert_error, new_id, pid_alive

pytestmark = pytest.mark.skipif(IS_RUNC, reason="minirun's state file format")


def forge_state(root, cid, pid, **overrides):
    """A well-formed state file naming `pid` (with its real start time, boot and namespaces)."""
    with open("/proc/%d/stat" % pid, "rb") as stat:
        start = int(stat.read().rsplit(b")", 1)[1].split()[19])
    with open("/proc/sys/kernel/random/boot_id") as boot:
        boot_id = boot.read().strip()
    namespaces = {}
    for name in ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user"):
        st = os.stat("/proc/%d/ns/%s" % (pid, name))
        namespaces[name] = [st.st_dev, st.st_ino]
    state = {"version": 2, "id": cid, "pid": pid, "pid_start": start, "bundle": "/nonexistent",
             "rootfs": "/nonexistent/rootfs", "created": "2026-01-01T00:00:00Z", "annotations": {},
             "own_pid_namespace": True, "boot_id": boot_id, "namespaces": namespaces, "hooks": {},
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


# --- the proof that a pid is the container's init (issue 19, item 3) ---------------


def start_time(pid):
    with open("/proc/%d/stat" % pid, "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[19])


def child_of(pid):
    """The first child of `pid` (unshare --fork's), once it exists."""
    import time
    for _ in range(3000):
        with open("/proc/%d/task/%d/children" % (pid, pid)) as handle:
            found = handle.read().split()
        if found and os.readlink("/proc/%s/exe" % found[0]) != os.readlink("/proc/%d/exe" % pid):
            return int(found[0])
        time.sleep(0.01)
    raise AssertionError("no child of %d" % pid)


def forged_from(genuine, cid, pid, own_pid_namespace):
    """A real container's state file, made to name `pid`: its true start time
    and, where the file records a mount namespace by name, its own."""
    forged = dict(genuine, id=cid, pid=pid, pid_start=start_time(pid), own_pid_namespace=own_pid_namespace)
    if "mnt_ns" in forged:
        forged["mnt_ns"] = os.readlink("/proc/%d/ns/mnt" % pid)
    return forged


def scenario_forged_state_naming_a_bystander(runtime, root, bundle):
    """Run as pid 1 of a pid namespace of its own. Bystanders: pid 1 of a pid
    namespace of its own (in a mount namespace of its own), and a process in a
    mount namespace of its own; each named by a state file copied from a real
    container's, with the bystander's pid and true start time."""
    from integration.helpers import call, container_state
    genuine_id = "genuine"
    call(runtime, root, "run", "--detach", "--bundle", bundle, genuine_id)
    with open(os.path.join(root, genuine_id, "state.json")) as f:
        genuine = json.load(f)
    pidns_holder = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child", "sleep", "1000"])
    mntns_holder = subprocess.Popen(["unshare", "--mount", "sleep", "1000"])
    bystanders = {"pid-1-of-its-own-pid-namespace": (child_of(pidns_holder.pid), True),
                  "in-its-own-mount-namespace": (mntns_holder.pid, False)}
    results = {}
    for name, (pid, own_pidns) in bystanders.items():
        for cgroup in ("genuine", "none"):
            cid = "forged-%s-%s" % (name, cgroup)
            forged = forged_from(genuine, cid, pid, own_pidns)
            if cgroup == "none":
                forged["cgroup"] = None
            os.makedirs(os.path.join(root, cid), 0o700)
            with open(os.path.join(root, cid, "state.json"), "w") as f:
                json.dump(forged, f)
            for args in (["kill", cid, "KILL"], ["kill", "--all", cid, "KILL"], ["delete", "--force", cid]):
                results["%s %s" % (cid, " ".join(args[:-1] if args[0] == "kill" else args[:1]))] = \
                    call(runtime, root, *args)
            results["%s state removed" % cid] = not os.path.exists(os.path.join(root, cid))
    results["bystanders alive"] = {name: os.path.exists("/proc/%d" % pid) and pid_alive(pid)
                                   for name, (pid, _) in bystanders.items()}
    results["genuine"] = (container_state(runtime, root, genuine_id) or {}).get("status")
    call(runtime, root, "delete", "--force", genuine_id)
    for holder in (pidns_holder, mntns_holder):
        holder.kill()
        holder.wait()
    return results


def test_a_forged_state_naming_a_bystanders_pid_never_signals_it(rt, make_bundle):
    """A state file copied from a real container's and pointed at a bystander
    (its true start time, its mount namespace): the bystander is in none of
    the namespaces, and not in the cgroup, the container's create recorded.
    kill and kill --all refuse in one line; delete --force removes the state
    and signals nothing."""
    from .helpers import run_in_own_pid_namespace
    bundle = make_bundle(["sleep", "1000"])
    rt.root.mkdir(mode=0o700, exist_ok=True)
    results = run_in_own_pid_namespace("test_state_trust", "scenario_forged_state_naming_a_bystander",
                                       root=str(rt.root), bundle=str(bundle))
    assert all(results["bystanders alive"].values()), results
    assert results["genuine"] == "running", results
    for key, value in results.items():
        if key.endswith(" kill") or key.endswith(" kill --all"):
            code, err = value
            assert code == 1 and "not the container's init" in err and len(err.strip().splitlines()) == 1, \
                (key, value)
        elif key.endswith(" delete"):
            assert value[0] == 0, (key, value)
        elif key.endswith("state removed"):
            assert value, (key, results)


# --- a cgroup shared by two containers (issue 19, item 4) ----------------------------


def cgroup_dirs(path):
    """`path`'s directory in every cgroup hierarchy that has it."""
    from integration.conftest import cgroup_mounts
    return [os.path.join(mp, path.lstrip("/")) for mp in cgroup_mounts()
            if os.path.isdir(os.path.join(mp, path.lstrip("/")))]


def stopped_a_then_b(runtime, root, exits, sleeps, a_id, b_id):
    """A runs and its init exits, then B starts in the cgroup A's create made:
    (the results so far, B's pid)."""
    import time
    from integration.helpers import call, container_state
    results = {"create A": call(runtime, root, "run", "--detach", "--bundle", exits, a_id)}
    for _ in range(3000):
        if (container_state(runtime, root, a_id) or {}).get("status") == "stopped":
            break
        time.sleep(0.01)
    results["create B"] = call(runtime, root, "run", "--detach", "--bundle", sleeps, b_id)
    return results, (container_state(runtime, root, b_id) or {}).get("pid")


def remove_a_and_b(runtime, root, a_id, b_id, path):
    from integration.helpers import call
    call(runtime, root, "delete", "--force", b_id)
    call(runtime, root, "delete", "--force", a_id)
    for d in cgroup_dirs(path):
        os.rmdir(d)


def scenario_delete_of_a_stopped_container_sharing_a_cgroup(runtime, root, exits, sleeps, a_id, b_id, path,
                                                            delete):
    """A (its init exits) and then B, both with cgroupsPath `path`; A is deleted."""
    from integration.helpers import call, container_state
    results, b_pid = stopped_a_then_b(runtime, root, exits, sleeps, a_id, b_id)
    results["delete A"] = call(runtime, root, *(delete + [a_id]))
    results["A gone"] = not os.path.exists(os.path.join(root, a_id))
    results["B status"] = (container_state(runtime, root, b_id) or {}).get("status")
    results["B alive"] = bool(b_pid) and pid_alive(b_pid)
    results["cgroup left"] = cgroup_dirs(path)
    remove_a_and_b(runtime, root, a_id, b_id, path)
    return results


def shared_cgroup_bundles(rt, make_bundle, path, pid_namespace):
    """A's bundle (its init exits; with a pid namespace of its own, or the
    host's) and B's (it sleeps), both with cgroupsPath `path`."""
    linux = {"cgroupsPath": path}
    if pid_namespace == "hosts":
        linux["namespaces"] = [{"type": t} for t in ("network", "ipc", "uts", "mount")]
    exits = make_bundle(["true"], linux=linux)
    sleeps = make_bundle(["sleep", "1000"], linux={"cgroupsPath": path})
    rt.root.mkdir(mode=0o700, exist_ok=True)
    return exits, sleeps


@pytest.mark.parametrize("pid_namespace", ["own", "hosts"], ids=["A-own-pidns", "A-shares-pidns"])
@pytest.mark.parametrize("delete", [["delete"], ["delete", "--force"]], ids=["delete", "delete-force"])
@pytest.mark.parametrize("a_id", ["sys", "fs", "cgroup"])
def test_delete_of_a_stopped_container_leaves_a_container_sharing_its_cgroup_running(
        rt, make_bundle, a_id, delete, pid_namespace):
    """runc leaves B running. The cgroup A's create made now holds B's
    processes, none of them A's (with a pid namespace of its own nothing of A
    outlives its init; without one, A's leftovers would be in A's mount and pid
    namespaces): it is left to B, never emptied. Ids such as "fs" are in every
    cgroup's path, and here in the cgroup's name too: a name proves nothing."""
    from .helpers import run_in_own_pid_namespace
    path = "/minirun-it-shared-%s-%s" % (uuid.uuid4().hex[:12], a_id)
    exits, sleeps = shared_cgroup_bundles(rt, make_bundle, path, pid_namespace)
    results = run_in_own_pid_namespace(
        "test_state_trust", "scenario_delete_of_a_stopped_container_sharing_a_cgroup", root=str(rt.root),
        exits=str(exits), sleeps=str(sleeps), a_id=a_id, b_id=new_id("b"), path=path, delete=delete)
    assert results["create A"][0] == 0 and results["create B"][0] == 0, results
    assert results["B alive"] and results["B status"] == "running", results
    assert results["cgroup left"], results
    assert results["delete A"][0] == 0 and results["A gone"], results


def scenario_kill_all_and_ps_of_a_stopped_container_sharing_a_cgroup(runtime, root, exits, sleeps, a_id, b_id,
                                                                    path):
    """A (its init exits) and then B, both with cgroupsPath `path`; then ps and kill --all of A."""
    import subprocess
    from integration.helpers import call, container_state
    results, b_pid = stopped_a_then_b(runtime, root, exits, sleeps, a_id, b_id)
    ps = subprocess.run(list(runtime) + ["--root", root, "ps", "--format", "json", a_id], stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    results["ps A"] = [ps.returncode, ps.stdout, ps.stderr]
    results["kill --all A"] = call(runtime, root, "kill", "--all", a_id, "KILL")
    results["B alive"] = bool(b_pid) and pid_alive(b_pid)
    results["B status"] = (container_state(runtime, root, b_id) or {}).get("status")
    remove_a_and_b(runtime, root, a_id, b_id, path)
    return results


@pytest.mark.parametrize("pid_namespace", ["own", "hosts"], ids=["A-own-pidns", "A-shares-pidns"])
def test_kill_all_and_ps_of_a_stopped_container_leave_a_container_sharing_its_cgroup_alone(
        rt, make_bundle, pid_namespace):
    """kill --all of a stopped container reaches only what is proven left of
    it in its cgroup (issue 20, item 8): B, which came into the cgroup A's
    create made once A had stopped, is none of it, and ps does not list it."""
    from .helpers import IS_RUNC, run_in_own_pid_namespace
    a_id = new_id("a")
    path = "/minirun-it-shared-%s" % a_id
    exits, sleeps = shared_cgroup_bundles(rt, make_bundle, path, pid_namespace)
    results = run_in_own_pid_namespace(
        "test_state_trust", "scenario_kill_all_and_ps_of_a_stopped_container_sharing_a_cgroup", root=str(rt.root),
        exits=str(exits), sleeps=str(sleeps), a_id=a_id, b_id=new_id("b"), path=path)
    assert results["create A"][0] == 0 and results["create B"][0] == 0, results
    assert results["ps A"][0] == 0 and results["kill --all A"][0] == 0, results
    if IS_RUNC:
        # runc lists and signals whatever is in the cgroup: B's init too.
        assert not results["B alive"], results
        return
    assert json.loads(results["ps A"][1]) == [], results
    assert results["B alive"] and results["B status"] == "running", results


# --- delete --force of a container whose state file is corrupt (issue 19, item 5) -------


def scenario_corrupt_state_then_delete_force(runtime, root, bundle, cid, started, shared_with):
    """`cid` is created (and started), then its state.json is overwritten; with
    `shared_with`, another container was put in its default cgroup first."""
    import time
    from integration.helpers import call, container_state
    results = {}
    if shared_with:
        # First, and stopped by the time `cid` comes: a cgroup that holds
        # processes is refused (issue 20, item 4).
        results["other"] = call(runtime, root, "run", "--detach", "--bundle", shared_with, "other-" + cid)
        for _ in range(3000):
            if (container_state(runtime, root, "other-" + cid) or {}).get("status") == "stopped":
                break
            time.sleep(0.01)
    results["create"] = call(runtime, root, "create", "--bundle", bundle, cid)
    if started:
        results["start"] = call(runtime, root, "start", cid)
    init = container_state(runtime, root, cid)["pid"]
    other = None
    with open(os.path.join(root, cid, "state.json"), "w") as f:
        f.write('{"version": 2, "id": "%s", "pid"' % cid)
    results["delete --force"] = call(runtime, root, "delete", "--force", cid)
    results["init alive"] = pid_alive(init)
    results["other alive"] = bool(other) and pid_alive(other)
    results["cgroup left"] = cgroup_dirs("/minirun/" + cid)
    results["state left"] = os.path.exists(os.path.join(root, cid))
    if shared_with:
        call(runtime, root, "delete", "--force", "other-" + cid)
        results["delete --force again"] = call(runtime, root, "delete", "--force", cid)
        results["init alive at last"] = pid_alive(init)
        results["cgroup left at last"] = cgroup_dirs("/minirun/" + cid)
    else:
        # the id again: a cgroup of its own, holding its init only
        call(runtime, root, "create", "--bundle", bundle, cid)
        again = container_state(runtime, root, cid)["pid"]
        procs = []
        for d in cgroup_dirs("/minirun/" + cid):
            with open(os.path.join(d, "cgroup.procs")) as handle:
                procs += [int(p) for p in handle.read().split()]
        results["the new cgroup holds"] = sorted(set(procs)) == [again] or sorted(set(procs))
        call(runtime, root, "delete", "--force", cid)
    return results


@pytest.mark.parametrize("started", [False, True], ids=["created", "running"])
def test_delete_force_of_a_corrupt_state_removes_the_init_and_its_cgroup(rt, make_bundle, cid, started):
    """A created init holds ROOT/ID/exec.fifo open; a running one is in the
    cgroup planned for the id: both are found, killed and removed, and a later
    create of the id gets a cgroup of its own."""
    from .helpers import run_in_own_pid_namespace
    bundle = make_bundle(["sleep", "1000"])
    rt.root.mkdir(mode=0o700, exist_ok=True)
    results = run_in_own_pid_namespace("test_state_trust", "scenario_corrupt_state_then_delete_force",
                                       root=str(rt.root), bundle=str(bundle), cid=cid, started=started,
                                       shared_with=None)
    assert results["delete --force"][0] == 0, results
    assert not results["init alive"] and not results["cgroup left"] and not results["state left"], results
    assert results["the new cgroup holds"] is True, results


def test_delete_force_of_a_corrupt_state_signals_nothing_it_cannot_prove(rt, make_bundle, cid):
    """The cgroup planned for the id is recorded by another container too (one
    that ran there first, and stopped): it cannot be proven this one's.
    Nothing in it is signalled; the error names what is left and the id
    stays taken, until a later delete --force can remove it."""
    from .helpers import run_in_own_pid_namespace
    bundle = make_bundle(["sleep", "1000"])
    other = make_bundle(["true"], linux={"cgroupsPath": "/minirun/" + cid})
    rt.root.mkdir(mode=0o700, exist_ok=True)
    results = run_in_own_pid_namespace("test_state_trust", "scenario_corrupt_state_then_delete_force",
                                       root=str(rt.root), bundle=str(bundle), cid=cid, started=True,
                                       shared_with=str(other))
    code, err = results["delete --force"]
    assert code == 1 and "could not remove" in err and "/minirun/" + cid in err, results
    assert results["other"][0] == 0 and results["create"][0] == 0, results
    assert results["init alive"] and results["state left"], results
    assert results["delete --force again"][0] == 0, results
    assert not results["init alive at last"] and not results["cgroup left at last"], results
