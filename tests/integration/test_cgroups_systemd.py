"""The systemd cgroup driver (`--systemd-cgroup`), against a real systemd.

With the systemd driver, `linux.cgroupsPath` is `slice:prefix:name`: the
container's init is put in a transient scope `prefix-name.scope` in `slice`,
started over D-Bus with Delegate=yes and the limits systemd knows as unit
properties (the rest through the scope's own cgroup files). `exec` joins the
scope, `update` changes the unit's properties, and `delete` stops the unit so
that neither the scope nor its cgroup is left.

As root minirun talks to systemd on its private socket (/run/systemd/private),
as runc does, so no dbus-daemon is needed. These tests need systemd as pid 1:
the VM lab's guests boot it (this development host has none). Where systemd
cannot be reached, the driver's refusal is tested instead, on every host.
"""

import os
import subprocess

import pytest

from .helpers import IS_RUNC, unified_cgroup, wait_for

SYSTEMD = os.path.isdir("/run/systemd/system")
V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
MEMORY_PROPERTY = "MemoryMax" if V2 else "MemoryLimit"    # systemd's names on cgroup v2 and v1
needs_systemd = pytest.mark.skipif(not SYSTEMD, reason="needs systemd as pid 1 (the VM lab's guests boot it)")


def unit_of(cid):
    return "minirun-it-%s.scope" % cid


def systemd_bundle(make_bundle, cid, script, resources=None, **overrides):
    linux = {"cgroupsPath": "system.slice:minirun-it:%s" % cid}
    if resources:
        linux["resources"] = resources
    return make_bundle(["sh", "-c", script], linux=linux, **overrides)


def show(unit, *properties):
    out = subprocess.run(["systemctl", "show", unit, "-p", ",".join(properties)], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def diagnose(cid):
    """For a failure message: what systemd says of the scope, and its journal."""
    out = []
    for argv in (["systemctl", "status", "--no-pager", unit_of(cid)],
                 ["journalctl", "--no-pager", "-n", "30", "-u", unit_of(cid)],
                 ["journalctl", "--no-pager", "-n", "15", "-u", "init.scope"]):
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        out.append("$ %s\n%s" % (" ".join(argv), result.stdout))
    return "\n".join(out)


def v2_dir(pid):
    return "/sys/fs/cgroup" + unified_cgroup(pid) if os.path.exists("/sys/fs/cgroup/cgroup.controllers") \
        else "/sys/fs/cgroup/unified" + unified_cgroup(pid)


@needs_systemd
def test_the_init_runs_in_a_transient_scope_that_carries_the_limits(rt, make_bundle, cid):
    resources = {"memory": {"limit": 64 << 20}, "pids": {"limit": 42}, "cpu": {"shares": 512}}
    bundle = systemd_bundle(make_bundle, cid, "exec sleep 1000", resources)
    rt("--systemd-cgroup", "create", "--bundle", bundle, cid)
    init = rt.state(cid)["pid"]
    assert unified_cgroup(init) == "/system.slice/" + unit_of(cid)
    props = show(unit_of(cid), "ActiveState", "Delegate", "Slice", MEMORY_PROPERTY, "TasksMax")
    assert props["ActiveState"] == "active" and props["Delegate"] == "yes", diagnose(cid)
    assert props["Slice"] == "system.slice"
    assert (props[MEMORY_PROPERTY], props["TasksMax"]) == (str(64 << 20), "42")
    if V2:   # the limits are in the scope's own files
        directory = v2_dir(init)
        with open(directory + "/memory.max") as f:
            assert f.read().strip() == str(64 << 20)
        with open(directory + "/pids.max") as f:
            assert f.read().strip() == "42"
    rt("start", cid)
    assert rt.status(cid) == "running"
    rt("--systemd-cgroup", "delete", "--force", cid)
    wait_for(lambda: show(unit_of(cid), "LoadState")["LoadState"] == "not-found",
             what="the scope to be gone after delete")
    assert not os.path.exists("/sys/fs/cgroup/system.slice/" + unit_of(cid))


@needs_systemd
def test_exec_joins_the_scope_and_update_changes_the_units_properties(rt, make_bundle, cid):
    bundle = systemd_bundle(make_bundle, cid, "exec sleep 1000", {"pids": {"limit": 42}})
    rt("--systemd-cgroup", "run", "--detach", "--bundle", bundle, cid)
    init = rt.state(cid)["pid"]
    inside = rt("--systemd-cgroup", "exec", cid, "cat", "/proc/self/cgroup").stdout
    assert "0::/system.slice/%s\n" % unit_of(cid) in inside, inside   # no cgroup namespace here
    outside = rt("--systemd-cgroup", "exec", "--detach", "--pid-file", str(rt.tmp / "exec.pid"), cid, "sleep", "100")
    assert outside.returncode == 0
    exec_pid = int((rt.tmp / "exec.pid").read_text())
    assert unified_cgroup(exec_pid) == unified_cgroup(init) == "/system.slice/" + unit_of(cid)
    rt("--systemd-cgroup", "update", "--pids-limit", "77", "--memory", str(96 << 20), cid)
    props = show(unit_of(cid), "TasksMax", MEMORY_PROPERTY)
    assert (props["TasksMax"], props[MEMORY_PROPERTY]) == ("77", str(96 << 20))
    deleted = rt("--systemd-cgroup", "delete", "--force", cid, check=False)
    assert deleted.returncode == 0, (deleted.stderr, diagnose(cid))
    wait_for(lambda: show(unit_of(cid), "LoadState")["LoadState"] == "not-found",
             what="the scope to be gone after delete")


def test_without_systemd_the_driver_refuses_and_leaves_nothing(rt, make_bundle, cid):
    """In a mount namespace whose /run is empty (no sign of systemd, no
    system bus), `--systemd-cgroup create` fails in one line; no state is left.
    (An unreachable bus where systemd runs: tests/unit/test_cgroups.py.)"""
    bundle = systemd_bundle(make_bundle, cid, "exec sleep 1000")
    argv = rt.argv("--log", str(rt.log), "--log-format", "json", "--systemd-cgroup", "create", "--bundle", bundle, cid)
    result = subprocess.run(["unshare", "--mount", "sh", "-c", 'mount -t tmpfs none /run && exec "$@"', "sh"] + argv,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=""))
    assert result.returncode != 0
    if not IS_RUNC:
        assert result.stderr == "minirun: --systemd-cgroup: systemd is not the init system of this host\n"
        assert "systemd is not the init system" in rt.log.read_text()
    assert rt("state", cid, check=False).returncode != 0


@needs_systemd
def test_run_in_the_foreground_stops_its_scope_once_the_process_ends(rt, make_bundle, cid):
    """`run` deletes the container after its process ends: the scope, empty
    by then, is stopped (or already gone) and nothing is left."""
    bundle = systemd_bundle(make_bundle, cid, "echo hi", {"pids": {"limit": 42}})
    result = rt("--systemd-cgroup", "run", "--bundle", bundle, cid, check=False)
    assert (result.returncode, result.stdout) == (0, "hi\n"), (result.stderr, diagnose(cid))
    wait_for(lambda: show(unit_of(cid), "LoadState")["LoadState"] == "not-found",
             what="the scope to be gone after run")
