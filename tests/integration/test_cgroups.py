"""Resource control through the command line, as an engine sees it.

A container's linux.resources land in its cgroup's files before its process
runs, and the kernel enforces them: a memory hog is OOM-killed (and `events`
reports it), a fork bomb stops at pids.max, a device outside the allow list
can be neither made nor opened. `update`, `pause`, `resume`, `ps` and
`events` behave as runc's; `kill --all` reaches every process through the
cgroup, also in the host's pid namespace; `delete` leaves no cgroup behind
(the harness checks every hierarchy for a cgroup named for the test's
containers after each test).

The files are read on the host, in whichever layout it has: v1 controllers
(this host is hybrid) or cgroup v2 (the VM lab's guests boot with it).
"""

import json
import os

import pytest

from .helpers import DOCKER_DEFAULT_CAPS, cmdline, pid_alive, processes_inside, wait_for


def cgroup_hierarchies():
    """{controller: mount point} of the v1 hierarchies, and "" -> the cgroup2 mount."""
    found = {}
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            dash = fields.index("-")
            mountpoint, fstype = fields[4], fields[dash + 1]
            if not mountpoint.startswith("/sys/fs/cgroup"):
                continue
            if fstype == "cgroup2":
                found.setdefault("", mountpoint)
            elif fstype == "cgroup":
                for option in fields[dash + 3].split(","):
                    found[option] = mountpoint
    return found


HIERARCHIES = cgroup_hierarchies()
V2 = "memory" not in HIERARCHIES  # no v1 memory controller: the limits live in cgroup v2


def cgroup_dir(pid, controller):
    """The directory of `pid`'s cgroup that holds `controller`'s files."""
    key = "" if V2 else controller
    with open("/proc/%d/cgroup" % pid) as groups:
        for line in groups:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if (key == "" and controllers == "") or (key and key in controllers.split(",")):
                return HIERARCHIES[key] + path
    raise AssertionError("pid %d has no %s cgroup" % (pid, controller or "unified"))


def read(directory, name):
    with open(os.path.join(directory, name)) as handle:
        return handle.read().strip()


def start(rt, make_bundle, cid, script, **overrides):
    bundle = make_bundle(["sh", "-c", script], **overrides)
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    return rt.state(cid)["pid"]


LIMITS = {"memory": {"limit": 64 << 20, "reservation": 32 << 20},
          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
          "pids": {"limit": 42}}


def test_the_limits_are_in_the_cgroups_files_before_the_process_runs(rt, make_bundle, cid, shared):
    init = start(rt, make_bundle, cid, "echo up > /shared/up; exec sleep 1000", shared=True,
                 linux={"resources": LIMITS})
    wait_for(lambda: (shared / "up").exists(), what="the container's process")
    memory, cpu, pids = cgroup_dir(init, "memory"), cgroup_dir(init, "cpu"), cgroup_dir(init, "pids")
    assert read(pids, "pids.max") == "42"
    if V2:
        assert read(memory, "memory.max") == str(64 << 20)
        assert read(memory, "memory.low") == str(32 << 20)
        assert read(cpu, "cpu.max") == "50000 100000"
        assert read(cpu, "cpu.weight") == str(1 + ((512 - 2) * 9999) // 262142)
    else:
        assert read(memory, "memory.limit_in_bytes") == str(64 << 20)
        assert read(memory, "memory.soft_limit_in_bytes") == str(32 << 20)
        assert (read(cpu, "cpu.cfs_quota_us"), read(cpu, "cpu.cfs_period_us")) == ("50000", "100000")
        assert read(cpu, "cpu.shares") == "512"
    # its own cgroup, not the runtime's
    assert cgroup_dir(init, "pids") != cgroup_dir(os.getpid(), "pids")
    rt("delete", "--force", cid)
    assert not os.path.exists(pids)


def event_lines(events, kind):
    """The JSON lines of `kind` that a running `events` has printed so far."""
    out_file = events._files[0]
    out_file.seek(0)
    return [json.loads(line) for line in out_file.read().splitlines() if '"%s"' % kind in line]


def wait_for_stats_lines(events, count):
    """Wait until `events` has printed `count` stats lines. The first one is
    printed after events has read the OOM counter it counts from (runc's
    events, too, reports only the OOM kills that happen while it runs), so a
    kill after it is one events must report."""
    return wait_for(lambda: len(event_lines(events, "stats")) >= count and event_lines(events, "stats"),
                    what="%d stats line(s) from events" % count)


MEMORY_HOG = ["dd", "if=/dev/zero", "of=/dev/null", "bs=128M", "count=1"]  # busybox dd: one 128 MB buffer


def start_memory_limited(rt, make_bundle, cid):
    limit = 32 << 20
    memory = {"limit": limit, "swap": limit}  # memory+swap = memory: no swapping out of trouble
    start(rt, make_bundle, cid, "exec sleep 1000", linux={"resources": {"memory": memory}})
    return limit


def oom_kill_a_hog(rt, cid):
    hog = rt("exec", cid, *MEMORY_HOG, check=False)
    assert hog.returncode == 137, (hog.returncode, hog.stderr)  # SIGKILL, from the OOM killer


def test_a_memory_hog_is_oom_killed_and_events_reports_it(rt, make_bundle, cid):
    limit = start_memory_limited(rt, make_bundle, cid)
    events = rt.popen("events", "--interval", "100ms", cid)
    # The hog runs only once events counts: on a loaded machine a kill that
    # came first would be one events rightly never reports.
    wait_for_stats_lines(events, 1)
    oom_kill_a_hog(rt, cid)
    (oom,) = wait_for(lambda: event_lines(events, "oom"), what="events to report the OOM kill")
    assert oom == {"type": "oom", "id": cid}
    assert rt.status(cid) == "running"  # the hog died, not the container
    rt("delete", "--force", cid)
    result = rt.finish(events)
    assert result.returncode == 0, result.stderr
    stats = [json.loads(line) for line in result.stdout.splitlines() if '"stats"' in line]
    assert stats and stats[0]["id"] == cid and stats[0]["data"]["memory"]["usage"]["limit"] == limit


def test_events_reports_only_the_oom_kills_that_happen_while_it_runs(rt, make_bundle, cid):
    start_memory_limited(rt, make_bundle, cid)
    oom_kill_a_hog(rt, cid)  # before events starts: history, not an event
    events = rt.popen("events", "--interval", "100ms", cid)
    # Two stats lines: events has read its starting count and then looked
    # at the counter again at least once (every pass reads it before stats).
    wait_for_stats_lines(events, 2)
    rt("delete", "--force", cid)
    result = rt.finish(events)
    assert result.returncode == 0, result.stderr
    assert '"oom"' not in result.stdout, result.stdout


def test_a_fork_bomb_stops_at_pids_max_and_ps_lists_the_processes(rt, make_bundle, cid, shared):
    # busybox sh gives up at the first fork that fails ("can't fork"); its
    # sleepers stay, reparented to the init, which then becomes one more.
    bomb = "i=0; while [ $i -lt 30 ]; do sleep 1000 & i=$((i+1)); done"
    script = "sh -c '%s' 2>/shared/forks; echo done > /shared/done; exec sleep 1000" % bomb
    init = start(rt, make_bundle, cid, script, shared=True, linux={"resources": {"pids": {"limit": 10}}})
    wait_for(lambda: (shared / "done").exists(), what="the fork bomb to give up")
    assert "fork" in (shared / "forks").read_text()
    pids = cgroup_dir(init, "pids")
    assert int(read(pids, "pids.events").split()[1]) > 0  # "max N": forks refused at the limit
    current = int(read(pids, "pids.current"))
    assert 1 < current <= 10
    listed = wait_for(lambda: (lambda found: len(found) == current and found)(
        json.loads(rt("ps", "--format", "json", cid).stdout)), what="ps to list every process")
    assert init in listed and {cmdline(p)[0] for p in listed} == {"sleep"}
    table = rt("ps", cid).stdout.splitlines()
    header = table[0].split()
    assert "PID" in header
    assert sorted(int(row.split()[header.index("PID")]) for row in table[1:]) == sorted(listed)


# runc's default rules let a container *make* any node (mknod is "m"); what the
# cgroup refuses is opening one outside the allow list. /dev/fuse (c 10:229) is
# a device any root may open without a further capability: a clean control.
# The nodes are made in the container's /dev (a tmpfs without nodev): where
# the rootfs lies on a nodev filesystem (Debian's /tmp since trixie), opening
# a node there fails whatever the cgroup says.
DEVICE_SCRIPT = ("mknod /dev/test-fuse c 10 229 && echo made-fuse; mknod /dev/test-sda b 8 0 && echo made-sda; "
                 "head -c 1 /dev/test-sda 2>/shared/sda-err >/dev/null; "
                 "(exec 3<>/dev/test-fuse) 2>/shared/fuse-err && echo opened-fuse; "
                 "echo x > /dev/null && echo null-ok")


@pytest.mark.skipif(not os.path.exists("/dev/fuse"), reason="needs /dev/fuse on the host (the fuse module)")
@pytest.mark.parametrize("allow_fuse", [False, True])
def test_a_device_outside_the_allow_list_cannot_be_opened(rt, make_bundle, cid, shared, allow_fuse):
    rules = [{"allow": False, "access": "rwm"}]
    if allow_fuse:  # the control: the same open succeeds once a rule allows it
        rules.append({"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"})
    caps = sorted(set(DOCKER_DEFAULT_CAPS) | {"CAP_MKNOD"})
    bundle = make_bundle(["sh", "-c", DEVICE_SCRIPT], shared=True,
                         process={"capabilities": {"bounding": caps, "effective": caps, "permitted": caps}},
                         linux={"resources": {"devices": rules}})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert "made-fuse" in result.stdout and "made-sda" in result.stdout, result.stderr
    assert refused((shared / "sda-err").read_text())
    assert "null-ok" in result.stdout  # the default allow list still has /dev/null
    if allow_fuse:
        assert "opened-fuse" in result.stdout, (shared / "fuse-err").read_text()
    else:
        assert "opened-fuse" not in result.stdout
        assert refused((shared / "fuse-err").read_text())


def refused(message):
    """The device cgroup's refusal: EPERM from v1's devices controller, EACCES
    from the v2 eBPF program on newer kernels (runc's containers get the same)."""
    return "Operation not permitted" in message or "Permission denied" in message


def test_update_changes_the_limits_of_a_running_container(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000", linux={"resources": LIMITS})
    rt("update", "--memory", "128m", "--pids-limit", "99", "--cpu-quota", "20000", cid)
    memory, pids, cpu = cgroup_dir(init, "memory"), cgroup_dir(init, "pids"), cgroup_dir(init, "cpu")
    assert read(pids, "pids.max") == "99"
    assert read(memory, "memory.max" if V2 else "memory.limit_in_bytes") == str(128 << 20)
    assert (read(cpu, "cpu.max") == "20000 100000") if V2 else read(cpu, "cpu.cfs_quota_us") == "20000"
    # --resources -: a LinuxResources document on stdin; zero values mean unset (Docker sends them)
    document = {"pids": {"limit": 77}, "memory": {"limit": 0}, "cpu": {"shares": 0}}
    rt("update", "--resources", "-", cid, input=json.dumps(document))
    assert read(pids, "pids.max") == "77"
    assert read(memory, "memory.max" if V2 else "memory.limit_in_bytes") == str(128 << 20)


@pytest.mark.parametrize("how", ["flag", "resources"])
def test_update_memory_minus_one_lifts_the_memory_and_swap_limits(rt, make_bundle, cid, how):
    limits = {"memory": {"limit": 64 << 20, "swap": 128 << 20}}
    init = start(rt, make_bundle, cid, "exec sleep 1000", linux={"resources": limits})
    memory = cgroup_dir(init, "memory")
    if how == "flag":
        rt("update", "--memory", "-1", cid)
    else:
        rt("update", "--resources", "-", cid, input=json.dumps({"memory": {"limit": -1}}))
    if V2:
        assert (read(memory, "memory.max"), read(memory, "memory.swap.max")) == ("max", "max")
    else:
        unlimited = read(HIERARCHIES["memory"], "memory.limit_in_bytes")  # the root's: no limit
        assert read(memory, "memory.limit_in_bytes") == unlimited
        assert read(memory, "memory.memsw.limit_in_bytes") == unlimited
    # and down again: memory first, then memory+swap (the kernel checks memory <= memsw)
    rt("update", "--memory", "32m", "--memory-swap", "48m", cid)
    if V2:
        assert (read(memory, "memory.max"), read(memory, "memory.swap.max")) == (str(32 << 20), str(16 << 20))
    else:
        assert read(memory, "memory.limit_in_bytes") == str(32 << 20)
        assert read(memory, "memory.memsw.limit_in_bytes") == str(48 << 20)
    rt("delete", "--force", cid)


@pytest.mark.skipif(V2, reason="an empty cpuset that refuses tasks is cgroup v1's (v2 inherits the parent's)")
def test_a_container_below_an_existing_empty_v1_cpuset_gets_its_cpus_and_mems(rt, make_bundle, cid):
    # A parent made by someone else, left empty (Kubernetes' pod cgroups on
    # v1 hosts look like this): every level is seeded from its parent.
    parent = os.path.join(HIERARCHIES["cpuset"], "minirun-it-pod-" + cid)
    os.mkdir(parent)
    try:
        assert read(parent, "cpuset.cpus") == "" and read(parent, "cpuset.mems") == ""
        init = start(rt, make_bundle, cid, "exec sleep 1000",
                     linux={"cgroupsPath": "/minirun-it-pod-%s/%s" % (cid, cid)})
        cpuset = cgroup_dir(init, "cpuset")
        assert cpuset == os.path.join(parent, cid)
        for d in (parent, cpuset):
            assert read(d, "cpuset.cpus") == read(HIERARCHIES["cpuset"], "cpuset.cpus")
            assert read(d, "cpuset.mems") == read(HIERARCHIES["cpuset"], "cpuset.mems")
        rt("delete", "--force", cid)
    finally:
        for hierarchy in set(HIERARCHIES.values()):
            leftover = os.path.join(hierarchy, "minirun-it-pod-" + cid)
            for d in (os.path.join(leftover, cid), leftover):
                if os.path.isdir(d):
                    os.rmdir(d)


def test_pause_and_resume_freeze_and_thaw_every_process(rt, make_bundle, cid, shared):
    init = start(rt, make_bundle, cid, "while :; do date +%s%N > /shared/tick; sleep 0.01; done", shared=True)
    wait_for(lambda: (shared / "tick").exists(), what="the first tick")
    rt("pause", cid)
    assert rt.status(cid) == "paused"
    listed = {c["id"]: c["status"] for c in json.loads(rt("list", "--format", "json").stdout)}
    assert listed[cid] == "paused"
    assert "paused" in rt("list").stdout
    state = proc_state(init)
    assert state in ("D", "S", "T")  # frozen: not running
    refused = rt("exec", cid, "true", check=False)
    assert refused.returncode == 255  # a failed exec, as runc's
    assert "cannot exec in a paused container (use --ignore-paused to override)" in refused.stderr
    again = rt("pause", cid, check=False)
    assert again.returncode == 1 and "not running" in again.stderr
    rt("resume", cid)
    assert rt.status(cid) == "running"
    before = (shared / "tick").read_text()
    wait_for(lambda: (shared / "tick").read_text() != before, what="the container to tick again")
    not_paused = rt("resume", cid, check=False)
    assert not_paused.returncode == 1 and "not paused" in not_paused.stderr


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_delete_force_kills_a_paused_container_and_removes_its_cgroup(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000")
    pids = cgroup_dir(init, "pids")
    rt("pause", cid)
    rt("delete", "--force", cid)
    assert not pid_alive(init) and not os.path.exists(pids)


def test_sigkill_stops_a_paused_container(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000")
    rt("pause", cid)
    rt("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    assert not pid_alive(init)


def test_events_stats_prints_one_line_of_runcs_stats(rt, make_bundle, cid):
    start(rt, make_bundle, cid, "exec sleep 1000", linux={"resources": {"pids": {"limit": 50}}})
    lines = rt("events", "--stats", cid).stdout.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["type"], event["id"]) == ("stats", cid)
    data = event["data"]
    assert {"cpu", "memory", "pids", "blkio"} <= set(data)
    assert data["pids"]["current"] == 1 and data["pids"]["limit"] == 50
    assert data["memory"]["usage"]["usage"] > 0 and data["cpu"]["usage"]["total"] > 0


def test_kill_all_in_the_host_pid_namespace_kills_every_process(rt, make_bundle, cid, shared, tmp_path):
    script = "sleep 1000 & sleep 1001 & echo started > /shared/started; wait"
    namespaces = [{"type": t} for t in ("network", "ipc", "uts", "mount")]  # no pid namespace
    init = start(rt, make_bundle, cid, script, shared=True, linux={"namespaces": namespaces})
    wait_for(lambda: (shared / "started").exists(), what="the children")
    inside = wait_for(lambda: len(processes_inside(tmp_path)) == 3 and processes_inside(tmp_path),
                      what="three processes in the container")
    assert init in [pid for pid, *_ in inside]
    rt("kill", "--all", cid, "KILL")
    wait_for(lambda: not processes_inside(tmp_path), what="every process of the container to die")
    rt.wait_status(cid, "stopped")
    rt("delete", cid)


def test_exec_joins_the_containers_cgroup(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000", linux={"resources": {"pids": {"limit": 50}}})
    out = rt("exec", cid, "cat", "/proc/self/cgroup").stdout
    with open("/proc/%d/cgroup" % init) as groups:
        assert out == groups.read()  # the same cgroup in every hierarchy (no cgroup namespace here)
    pids = json.loads(rt("ps", "--format", "json", cid).stdout)
    assert pids == [init]  # the exec'd cat has exited, and was counted while it ran
    assert int(read(cgroup_dir(init, "pids"), "pids.current")) == 1


def test_features_report_the_cgroup_drivers(rt):
    cgroup = json.loads(rt("features").stdout)["linux"]["cgroup"]
    assert cgroup["v1"] is True and cgroup["v2"] is True and cgroup["systemd"] is True


def test_a_limit_the_host_lacks_is_refused_naming_it_and_nothing_is_left(rt, make_bundle, cid):
    bundle = make_bundle(["true"], linux={"resources": {"rdma": {"mlx_nonexistent": {"hcaHandles": 1}}}})
    if "rdma" in HIERARCHIES or (V2 and "rdma" in read(HIERARCHIES[""], "cgroup.controllers").split()):
        pytest.skip("this host has the rdma controller (the test needs a controller the host lacks)")
    result = rt("create", "--bundle", bundle, cid, check=False)
    assert result.returncode == 1
    assert "linux.resources.rdma" in result.stderr and "no rdma cgroup controller" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_container_sees_its_own_cgroup_as_the_root(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/cgroup"],
                         linux={"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount",
                                                                      "cgroup")]})
    out = rt("run", "--bundle", bundle, cid).stdout
    assert out.strip() and all(line.split(":", 2)[2] == "/" for line in out.splitlines()), out


def test_ps_passes_the_options_after_the_id_to_ps(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000")
    rows = rt("ps", cid, "--", "-o", "pid,comm").stdout.splitlines()
    assert rows[0].split() == ["PID", "COMMAND"]
    assert [row.split() for row in rows[1:]] == [[str(init), "sleep"]]


# --------------------------------------------------------------------------
# exec --cgroup: into sub-cgroups of the container's, one flag per hierarchy
# (runc's CONTROLLER[,CONTROLLER]:PATH, repeatable), "/" its own cgroup.

def exec_detached_in(rt, cid, *cgroup_flags):
    pid_file = rt.tmp / ("exec-%d.pid" % len(list(rt.tmp.glob("exec-*.pid"))))
    flags = [arg for spec in cgroup_flags for arg in ("--cgroup", spec)]
    rt("exec", "--detach", "--pid-file", pid_file, *flags, cid, "sleep", "1000")
    return int(pid_file.read_text())


def test_exec_cgroup_flags_each_place_the_process_in_their_hierarchy(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000")
    if V2:
        sub = os.path.join(cgroup_dir(init, "memory"), "sub1")
        os.mkdir(sub)
        pid = exec_detached_in(rt, cid, "sub1")
        assert cgroup_dir(pid, "memory") == sub
    else:
        memory_sub = os.path.join(cgroup_dir(init, "memory"), "sub1")
        cpu_subs = [os.path.join(cgroup_dir(init, c), "sub2") for c in ("cpu", "cpuacct")]
        os.mkdir(memory_sub)
        for sub in cpu_subs:  # one hierarchy or two, as the host mounts them
            os.makedirs(sub, exist_ok=True)
        pid = exec_detached_in(rt, cid, "memory:sub1", "cpu,cpuacct:sub2")
        assert [cgroup_dir(pid, c) for c in ("memory", "cpu", "cpuacct")] == [memory_sub] + cpu_subs
        assert cgroup_dir(pid, "pids") == cgroup_dir(init, "pids")  # not named: the container's own
    rt("delete", "--force", cid)


def test_exec_cgroup_slash_is_the_containers_own_cgroup(rt, make_bundle, cid):
    init = start(rt, make_bundle, cid, "exec sleep 1000")
    pid = exec_detached_in(rt, cid, "/")
    assert [cgroup_dir(pid, c) for c in ("memory", "pids")] == [cgroup_dir(init, c) for c in ("memory", "pids")]
    rt("delete", "--force", cid)


# --- a cgroup found there: frozen, or holding processes (issue 20, item 4) -------------


def freeze_file(hierarchy):
    """(file, frozen value, thawed value) of a freezer in `hierarchy` ("freezer": v1, "": v2)."""
    return ("freezer.state", "FROZEN", "THAWED") if hierarchy == "freezer" else ("cgroup.freeze", "1", "0")


@pytest.mark.parametrize("command", ["create", "run"])
@pytest.mark.parametrize("where", ["itself", "its-parent"])
@pytest.mark.parametrize("hierarchy", ["freezer", ""], ids=["v1-freezer", "v2-cgroup.freeze"])
def test_a_frozen_cgroup_is_refused_at_once_and_nothing_is_made(rt, make_bundle, cid, command, where, hierarchy):
    """A process put in a frozen cgroup stops in state D before it can report
    anything: create used to wait for it forever, leaving a container in
    `creating`. Refused first, in runc's words; the cgroup found there is
    left as it was (still frozen, nothing made in it) and nothing else is left."""
    from .helpers import IS_RUNC
    if hierarchy not in HIERARCHIES:
        pytest.skip("this host has no %s" % ("v1 freezer hierarchy" if hierarchy else "cgroup2 mount"))
    if IS_RUNC and (hierarchy == "" and not V2 or where == "its-parent"):
        pytest.skip("runc 1.1 reads only the v1 freezer on a hybrid host, and only a cgroup's own freeze "
                    "(freezer.self_freezing): its create would hang in the frozen cgroup")
    name, frozen, thawed = freeze_file(hierarchy)
    top = "/minirun-it-frozen-" + os.urandom(6).hex()
    path = top + ("/" + cid if where == "its-parent" else "")
    frozen_dir = HIERARCHIES[hierarchy] + top
    os.mkdir(frozen_dir)
    try:
        with open(os.path.join(frozen_dir, name), "w") as f:
            f.write(frozen)
        bundle = make_bundle(["true"], linux={"cgroupsPath": path})
        args = ("create", "--bundle", bundle, cid) if command == "create" else ("run", "--bundle", bundle, cid)
        result = rt(*args, check=False)
        assert result.returncode == 1 and "container's cgroup unexpectedly frozen" in result.stderr, result
        assert read(frozen_dir, name) == frozen and not next(os.walk(frozen_dir))[1]
        assert [d for d in (mp + top for mp in set(HIERARCHIES.values())) if os.path.isdir(d)] == [frozen_dir]
        rt.assert_clean()
    finally:
        with open(os.path.join(frozen_dir, name), "w") as f:
            f.write(thawed)
        rt("delete", "--force", cid, check=False)   # what a runtime that hung in it left there
        for d, _subdirs, _files in sorted(os.walk(frozen_dir), key=lambda entry: -len(entry[0])):
            wait_for(lambda: not read(d, "cgroup.procs"), what="the processes in %s to exit" % d)
            os.rmdir(d)


def scenario_a_cgroup_holding_a_bystander(runtime, root, bundle, cid, path):
    """A bystander (sleep) is put in `path` in every hierarchy, then `cid` is created there."""
    import subprocess
    from integration.helpers import call
    dirs = [mp + path for mp in sorted(set(HIERARCHIES.values()))]
    for d in dirs:
        os.mkdir(d)
        for name in ("cpuset.cpus", "cpuset.mems"):     # a new v1 cpuset refuses tasks until set
            # (on v2 an empty one inherits, and the root has no such file)
            if os.path.exists(os.path.join(d, name)) and os.path.exists(os.path.join(os.path.dirname(d), name)):
                with open(os.path.join(d, name), "w") as f:
                    f.write(read(os.path.dirname(d), name))
    bystander = subprocess.Popen(["sleep", "1000"])
    results = {}
    try:
        for d in dirs:
            with open(os.path.join(d, "cgroup.procs"), "w") as f:
                f.write(str(bystander.pid))
        results["create"] = call(runtime, root, "create", "--bundle", bundle, cid)
        results["state left"] = os.path.exists(os.path.join(root, cid))
        if results["create"][0] == 0:
            results["delete --force"] = call(runtime, root, "delete", "--force", cid)
        results["bystander alive"] = bystander.poll() is None
        results["bystander still in every dir"] = all(
            str(bystander.pid) in open(os.path.join(d, "cgroup.procs")).read().split() for d in dirs)
        results["sub-cgroups made"] = [top for d in dirs for top in next(os.walk(d))[1]]
    finally:
        bystander.kill()
        bystander.wait()
        for d in dirs:
            os.rmdir(d)
    return results


def test_a_cgroup_holding_processes_is_refused_and_its_bystander_left_alone(rt, make_bundle, cid):
    """Two containers must not share one cgroup by accident: each would pause,
    kill and count the other's processes. The newest runc refuses, and so does
    minirun, in its words, before anything is made or moved."""
    from .helpers import IS_RUNC, run_in_own_pid_namespace
    path = "/minirun-it-busy-" + os.urandom(6).hex()
    bundle = make_bundle(["sleep", "1000"], linux={"cgroupsPath": path})
    rt.root.mkdir(mode=0o700, exist_ok=True)
    results = run_in_own_pid_namespace("test_cgroups", "scenario_a_cgroup_holding_a_bystander", root=str(rt.root),
                                       bundle=str(bundle), cid=cid, path=path)
    code, err = results["create"]
    if IS_RUNC:
        # runc 1.1 only warns (and its delete --force then kills the bystander
        # too: the very hazard); runc >= 1.2 refuses as minirun does.
        assert code == 0 and "container's cgroup is not empty: 1 process(es) found" in err, results
        return
    assert code == 1 and "container's cgroup is not empty: 1 process(es) found" in err, results
    assert not results["state left"] and not results["sub-cgroups made"], results
    assert results["bystander alive"] and results["bystander still in every dir"], results
    rt.assert_clean()
