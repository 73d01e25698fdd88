"""The cgroup manager (minirun sections 9 to 11) on this host's real cgroups.

Component tests: they drive minirun's manager directly, below the runtime's
command line (tests/integration/test_cgroups.py), so they run only for minirun.
Every test works in a cgroup of its own (/minirun-it-<random>), on processes it
starts itself: a shell held at a gate until the test has put it in the cgroup,
which then runs its script inside `unshare --pid --fork --mount-proc`. The
fixture kills whatever is left through the cgroup and removes the cgroup, and
asserts that no directory is left in any hierarchy.

The layout decides a few expectations: on v1/hybrid hosts the devices rules go
to devices.allow/deny and the freezer is v1's; on cgroup v2 the device rules
are an eBPF program and the freezer is cgroup.freeze. Tests that need one
layout say so in their skip reason; the VM lab boots its guests with cgroup v2.
"""

import json
import os
import subprocess
import sys
import uuid

import pytest

from .helpers import IS_RUNC, REPO, wait_for

sys.path.insert(0, str(REPO))
import minirun  # noqa: E402

pytestmark = pytest.mark.skipif(IS_RUNC, reason="component tests of minirun's own cgroup manager")

LAYOUT = minirun.detect_cgroup_layout()
V2 = LAYOUT.kind == "v2"
needs_v2 = pytest.mark.skipif(not V2, reason="needs a cgroup v2 host (the VM lab's guests boot with cgroup v2)")
needs_v1 = pytest.mark.skipif(V2, reason="needs a cgroup v1 or hybrid host (v1 controllers)")
PYTHON = sys.executable


class Cgroup:
    """A manager for a fresh cgroup and the processes a test starts in it."""

    def __init__(self):
        self.path = "/minirun-it-" + uuid.uuid4().hex[:12]
        self.manager = minirun.cgroup_manager(LAYOUT, self.path, "it")
        self.procs = []

    def start(self, script, **kwargs):
        """Run `script` (sh) in the cgroup, in a pid namespace of its own."""
        proc = subprocess.Popen(
            ["sh", "-c", 'read go && exec unshare --pid --fork --kill-child --mount-proc sh -c "$0"', script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)
        self.procs.append(proc)
        self.manager.add(proc.pid)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        return proc

    def run(self, script):
        proc = self.start(script)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out.decode(), err.decode()

    def file(self, ctrl, name):
        d = self.manager.controller_dir(ctrl)
        assert d is not None, "no %s controller for this cgroup" % ctrl
        with open(os.path.join(d, name)) as handle:
            return handle.read().strip()

    def cleanup(self):
        try:
            self.manager.kill(9)
            for proc in self.procs:
                proc.kill()
                proc.wait(timeout=60)
                for pipe in (proc.stdin, proc.stdout, proc.stderr):
                    pipe.close()
        finally:
            self.manager.destroy()


@pytest.fixture
def cgroup():
    group = Cgroup()
    group.manager.create()
    try:
        yield group
    finally:
        group.cleanup()
        left = [d for d, _, _ in group.manager.dirs if os.path.exists(d)]
        assert not left, "cgroup directories left behind: %s" % left


def descendants(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return set(out)


def dead(pid):
    """Gone, or a zombie its (possibly new) parent has yet to reap."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def where_they_are(cgroup):
    """For a failure message: the cgroup's freezer state and, for each process
    still in it, its name, state and signal masks (from /proc/PID/status)."""
    lines = []
    for d, _, _ in cgroup.manager.dirs:
        for name in ("cgroup.events", "cgroup.freeze", "freezer.state"):
            if os.path.exists(os.path.join(d, name)):
                with open(os.path.join(d, name)) as f:
                    lines.append("%s/%s: %s" % (d, name, f.read().strip().replace("\n", "; ")))
    for pid in cgroup.manager.pids():
        try:
            with open("/proc/%d/status" % pid) as f:
                fields = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        except OSError:
            continue
        lines.append("pid %d %s: %s" % (pid, fields.get("Name", "?").strip(), ", ".join(
            "%s=%s" % (key, fields.get(key, "?").strip())
            for key in ("State", "NSpid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"))))
    return "\n".join(lines)


def read_line(proc):
    line = proc.stdout.readline().decode()
    assert line, "the process ended early: %s" % proc.stderr.read().decode()
    return line.strip()


# --- placement --------------------------------------------------------------------


def test_create_makes_the_cgroup_in_every_hierarchy_and_add_moves_a_process_into_all(cgroup):
    for d, _, _ in cgroup.manager.dirs:
        assert os.path.isdir(d)
    proc = cgroup.start("echo in; read x")
    assert read_line(proc) == "in"
    with open("/proc/%d/cgroup" % proc.pid) as handle:
        lines = handle.read().splitlines()
    assert lines and all(line.split(":", 2)[2] == cgroup.path for line in lines), lines
    if LAYOUT.kind == "hybrid":
        assert "0::" + cgroup.path in lines          # the unified hierarchy too


def test_destroy_removes_sub_cgroups_bottom_up():
    group = Cgroup()
    group.manager.create()
    try:
        for d, _, _ in group.manager.dirs:
            os.makedirs(os.path.join(d, "nested", "deeper"))
    finally:
        group.manager.destroy()
    assert not [d for d, _, _ in group.manager.dirs if os.path.exists(d)]


@needs_v2
def test_v2_parents_delegate_the_controllers_the_host_has(cgroup):
    unified = cgroup.manager.unified_dir
    with open(os.path.join(LAYOUT.unified, "cgroup.controllers")) as root:
        available = set(root.read().split())
    with open(os.path.join(unified, "cgroup.controllers")) as own:
        delegated = set(own.read().split())
    assert {"memory", "pids"} & available <= delegated


def test_the_cgroup_mount_binds_the_containers_own_cgroups(cgroup):
    kind, binds, _ = minirun.plan_cgroup_mount(cgroup.manager)
    if V2:
        assert kind == "v2"
    else:
        assert kind == "v1"
        assert sorted(d for _, d in binds) == sorted(d for d, _, _ in cgroup.manager.dirs)
        assert all(d.endswith(cgroup.path) for _, d in binds)


# --- limits -------------------------------------------------------------------------


def resources(raw):
    return minirun._parse_resources(raw)


def test_every_planned_value_lands_in_its_file(cgroup):
    res = resources({"memory": {"limit": 64 << 20, "reservation": 32 << 20},
                     "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
                     "pids": {"limit": 20}})
    cgroup.manager.apply(res)
    checked = 0
    for field, ctrl, files in minirun.plan_resource_writes(res, cgroup.manager.version_of):
        name, value = files[0]
        assert cgroup.file(ctrl, name) == value, field
        checked += 1
    assert checked == (7 if V2 else 8)      # v2 writes quota and period as one cpu.max


def test_update_changes_the_limits_of_a_running_process(cgroup):
    cgroup.manager.apply(resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}}))
    proc = cgroup.start("echo up; read x")
    assert read_line(proc) == "up"
    cgroup.manager.update(minirun.parse_update(None, {"--memory": "128m", "--pids-limit": "-1"}))
    assert cgroup.file("memory", "memory.max" if V2 else "memory.limit_in_bytes") == str(128 << 20)
    assert cgroup.file("pids", "pids.max") == "max"


@needs_v1
def test_v1_memory_and_memsw_are_raised_in_the_order_the_kernel_accepts(cgroup):
    if not os.path.exists(os.path.join(cgroup.manager.controller_dir("memory"), "memory.memsw.limit_in_bytes")):
        pytest.skip("needs swap accounting (memory.memsw.*; boot with swapaccount=1)")
    cgroup.manager.apply(resources({"memory": {"limit": 64 << 20, "swap": 64 << 20}}))
    # limit 256M first would exceed memsw 64M: the manager retries in the other order
    cgroup.manager.update(resources({"memory": {"limit": 256 << 20, "swap": 256 << 20}}))
    assert cgroup.file("memory", "memory.limit_in_bytes") == str(256 << 20)
    assert cgroup.file("memory", "memory.memsw.limit_in_bytes") == str(256 << 20)


def test_a_resource_the_host_lacks_is_refused_naming_it(cgroup):
    if cgroup.manager.controller_dir("net_cls"):
        pytest.skip("this host mounts net_cls, the controller this test needs to be absent")
    with pytest.raises(minirun.Error, match=r"^linux\.resources\.network\.classID: this host has no net_cls"):
        cgroup.manager.apply(resources({"network": {"classID": 0x100001}}))


def test_pids_limit_stops_forks(cgroup):
    cgroup.manager.apply(resources({"pids": {"limit": 6}}))
    script = ("exec %s -c 'import os, json, errno\n"
              "made, refused = 0, 0\n"
              "for _ in range(20):\n"
              "    try:\n"
              "        pid = os.fork()\n"
              "    except BlockingIOError:\n"
              "        refused += 1\n"
              "        continue\n"
              "    if pid == 0:\n"
              "        os.read(0, 1); os._exit(0)\n"
              "    made += 1\n"
              "print(json.dumps([made, refused]))'" % PYTHON)
    code, out, err = cgroup.run(script)
    made, refused = json.loads(out)
    # unshare, the namespace's python and its children: 6 tasks in all.
    assert (code, made, refused) == (0, 4, 16), err


def test_a_memory_hog_is_oom_killed_and_counted(cgroup):
    limit = {"limit": 32 << 20}
    if not V2 and os.path.exists(os.path.join(cgroup.manager.controller_dir("memory"), "memory.memsw.limit_in_bytes")):
        limit["swap"] = 32 << 20        # no escape into swap
    elif V2:
        limit["swap"] = 32 << 20        # memory+swap = memory: swap.max 0
    cgroup.manager.apply(resources({"memory": limit}))
    before = cgroup.manager.oom_count()
    code, out, err = cgroup.run("%s -c 'x = b\"x\" * (256 << 20)'; echo status $?" % PYTHON)
    assert out == "status 137\n", err          # 128 + SIGKILL
    assert cgroup.manager.oom_count() >= before + 1


DEVICE_PROBE = """mount -t tmpfs tmpfs %(dir)s && exec %(python)s -c '
import os, stat, json
result = {}
for name, kind, major in (("null", stat.S_IFCHR, 1), ("denied_char", stat.S_IFCHR, 240), ("denied_block", stat.S_IFBLK, 240)):
    path = "%(dir)s/" + name
    try:
        os.mknod(path, kind | 0o600, os.makedev(major, 3 if major == 1 else 0))
    except OSError as exc:
        result[name] = "mknod " + os.strerror(exc.errno)
        continue
    try:
        os.close(os.open(path, os.O_RDONLY))
        result[name] = "opened"
    except OSError as exc:
        result[name] = os.strerror(exc.errno)
print(json.dumps(result))'"""


def test_device_rules_deny_opening_a_device_outside_the_list(cgroup, tmp_path):
    # Major 240 is reserved for local use: no driver, so an open that the device
    # cgroup lets through fails with ENXIO, one it stops fails with EPERM.
    cgroup.manager.apply(resources({"devices": [{"allow": False, "access": "rwm"}]}))
    code, out, err = cgroup.run(DEVICE_PROBE % {"dir": tmp_path, "python": PYTHON})
    assert code == 0, err
    assert json.loads(out) == {"null": "opened", "denied_char": "Operation not permitted",
                               "denied_block": "Operation not permitted"}


def test_an_allow_rule_lets_that_major_through_and_update_replaces_the_rules(cgroup, tmp_path):
    cgroup.manager.apply(resources({"devices": [{"allow": False, "access": "rwm"},
                                                {"allow": True, "type": "c", "major": 240, "access": "rwm"}]}))
    code, out, err = cgroup.run(DEVICE_PROBE % {"dir": tmp_path, "python": PYTHON})
    assert json.loads(out) == {"null": "opened", "denied_char": "No such device or address",
                               "denied_block": "Operation not permitted"}, err
    cgroup.manager.update(minirun.parse_update({"devices": [{"allow": False, "access": "rwm"}]}))
    code, out, err = cgroup.run(DEVICE_PROBE % {"dir": tmp_path, "python": PYTHON})
    assert json.loads(out)["denied_char"] == "Operation not permitted", err


@needs_v1
def test_v1_devices_list_is_the_default_list(cgroup):
    cgroup.manager.apply(resources({}))
    listed = cgroup.file("devices", "devices.list").splitlines()
    assert "c 1:3 rwm" in listed and "c 136:* rwm" in listed and "a *:* rwm" not in listed


# --- freezer, processes, signals ----------------------------------------------------------


def task_state(pid):
    """The state letter of /proc/PID/stat: R, S, D (uninterruptible), ..."""
    with open("/proc/%d/stat" % pid) as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def test_freeze_stops_every_process_and_thaw_resumes_them(cgroup):
    proc = cgroup.start("echo ready; read line; echo got $line")
    assert read_line(proc) == "ready"
    cgroup.manager.freeze()
    assert cgroup.manager.paused()
    members = cgroup.manager.pids()
    assert members
    if V2:
        # The kernel sets "frozen 1" only once every task in the cgroup has stopped.
        with open(os.path.join(cgroup.manager.unified_dir, "cgroup.events")) as events:
            assert "frozen 1" in events.read().splitlines()
    else:
        # v1 freezer: FROZEN (not FREEZING) once every task sits in the
        # refrigerator, uninterruptibly. (/proc/PID/wchan, which would name
        # __refrigerator, reads 0 on kernels built with the ORC unwinder
        # before 5.16, such as Debian 11's.)
        with open(os.path.join(cgroup.manager.controller_dir("freezer"), "freezer.state")) as state:
            assert state.read().strip() == "FROZEN"
        assert [task_state(pid) for pid in members] == ["D"] * len(members)
    proc.stdin.write(b"hello\n")
    proc.stdin.flush()
    cgroup.manager.thaw()
    assert not cgroup.manager.paused()
    assert read_line(proc) == "got hello"


def test_pids_lists_every_process_also_in_sub_cgroups(cgroup):
    proc = cgroup.start("sleep 1000 & sleep 1000 & echo ready; wait")
    assert read_line(proc) == "ready"
    tree = descendants(proc.pid)
    assert set(cgroup.manager.pids()) == tree and len(tree) == 4
    # a process the container moved into a sub-cgroup is still the container's
    sub = os.path.join(cgroup.manager._procs_dir(), "sub")
    os.mkdir(sub)
    moved = max(tree)
    with open(os.path.join(sub, "cgroup.procs"), "w") as procs:
        procs.write(str(moved))
    assert set(cgroup.manager.pids()) == tree


@pytest.mark.parametrize("signum", [15, 9])
def test_kill_reaches_every_process_in_the_cgroup_and_nothing_else(cgroup, signum):
    outsider = subprocess.Popen(["sleep", "1000"])
    try:
        # util-linux before 2.37 (Debian 11) starts `unshare --fork`'s child
        # with SIGTERM and SIGINT ignored, which every process inherits, and a
        # shell cannot undo an ignore it started with: so the shell is started
        # afresh with SIGTERM at its default, before it forks the sleeps.
        proc = cgroup.start("exec env --default-signal=TERM sh -c 'sleep 1000 & sleep 1000 & echo ready; wait'")
        assert read_line(proc) == "ready"
        members = cgroup.manager.pids()
        cgroup.manager.kill(signum)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the sandbox did not end after kill(%d):\n%s" % (signum, where_they_are(cgroup)))
        wait_for(lambda: not cgroup.manager.pids(), what="the cgroup to empty")
        wait_for(lambda: all(dead(pid) for pid in members), what="every member to end")
        assert outsider.poll() is None
    finally:
        outsider.kill()
        outsider.wait()


def test_sigkill_reaches_a_paused_container(cgroup):
    proc = cgroup.start("echo ready; sleep 1000")
    assert read_line(proc) == "ready"
    cgroup.manager.freeze()
    cgroup.manager.kill(9)
    proc.communicate(timeout=60)
    wait_for(lambda: not cgroup.manager.pids(), what="the cgroup to empty")
    assert proc.returncode == -9


@pytest.mark.skipif(LAYOUT.unified is None or not minirun.HOST.clone_into_cgroup,
                    reason="needs a cgroup2 mount and clone3 with CLONE_INTO_CGROUP (Linux 5.7)")
def test_clone_into_cgroup_starts_the_child_in_the_cgroup(cgroup):
    """The child's very first look at /proc/self/cgroup shows the cgroup: it
    was born there (create clones the joiner so on cgroup v2)."""
    k = minirun.kernel()
    read_end, write_end = os.pipe()
    target = cgroup.manager.unified_dir
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def child():
        with open("/proc/self/cgroup") as f:
            os.write(write_end, f.read().encode())
        os._exit(0)

    try:
        pid = k.clone_into_cgroup(child, 0, fd)
    finally:
        os.close(fd)
        os.close(write_end)
    with os.fdopen(read_end) as r:
        seen = r.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    unified_path = "/" + os.path.relpath(target, LAYOUT.unified).lstrip("./")
    assert "0::%s\n" % unified_path in seen, (unified_path, seen)


def test_stats_are_the_cgroups_own(cgroup):
    cgroup.manager.apply(resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}))
    proc = cgroup.start("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; read x")
    assert read_line(proc) == "ready"
    stats = cgroup.manager.stats()
    assert stats["memory"]["usage"]["limit"] == 64 << 20
    assert stats["memory"]["usage"]["usage"] > 0
    assert stats["pids"] == {"current": len(cgroup.manager.pids()), "limit": 50}
    assert stats["cpu"]["usage"]["total"] > 0
    assert json.loads(json.dumps(stats)) == stats


@pytest.mark.skipif(LAYOUT.unified is None, reason="needs a cgroup2 mount (v2 or hybrid) to attach eBPF to")
def test_the_device_ebpf_program_decides_on_the_real_kernel(cgroup, tmp_path):
    # The kernel runs a cgroup2 device program for every task, also on hybrid
    # hosts, so the v2 device path is testable wherever a cgroup2 is mounted.
    if not V2:
        # let v1 allow everything, so every EPERM below is the program's
        cgroup.manager.apply(resources({"devices": [{"allow": True, "access": "rwm"}]}))
    rules = minirun.effective_device_rules([DeviceRuleAllowing(240, "b")])
    minirun.attach_device_program(cgroup.manager.unified_dir, minirun.device_program(rules))
    code, out, err = cgroup.run(DEVICE_PROBE % {"dir": tmp_path, "python": PYTHON})
    assert json.loads(out) == {"null": "opened", "denied_char": "Operation not permitted",
                               "denied_block": "No such device or address"}, err
    # replacing it (as update does) leaves one program: the new one decides alone
    minirun.attach_device_program(cgroup.manager.unified_dir, minirun.device_program(minirun.effective_device_rules(
        [DeviceRuleAllowing(240, "c")])))
    code, out, err = cgroup.run(DEVICE_PROBE % {"dir": tmp_path, "python": PYTHON})
    assert json.loads(out) == {"null": "opened", "denied_char": "No such device or address",
                               "denied_block": "Operation not permitted"}, err


def DeviceRuleAllowing(major, kind):
    return minirun.DeviceRule(True, kind, major, None, "rwm")
