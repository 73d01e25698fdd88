"""Docker's systemd cgroup driver, with minirun as the runtime, against a real
systemd; each scenario run with minirun and with runc.

dockerd with `--exec-opt native.cgroupdriver=systemd` gives each container
`linux.cgroupsPath` = `system.slice:docker:<id>`, and containerd's
io.containerd.runc.v2 shim (SystemdCgroup=true) calls the runtime with
`--systemd-cgroup`: the runtime puts the container in a transient scope
`docker-<id>.scope` under system.slice, started over systemd's D-Bus API with
the limits as unit properties, changes them on `docker update`, and stops the
scope when the container goes, so that no unit and no cgroup is left.

This needs systemd as init, which the VM lab's guests have; the sid box
carries docker.io (vm/kernels.py):

    make vm-test KERNELS=sid MODES=v2 LAB_PYTEST_ARGS="tests/e2e/test_docker_systemd.py"

Elsewhere (this development host runs no systemd) these tests skip.  The
module starts its own containerd and dockerd (data root, exec root, socket,
pid file under one temporary directory, `--bridge none`, so every container
runs with `--network none`); it never uses the session's engines.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .engines import (CONTAINERD, DOCKER, DOCKERD, IMAGE, Containerd, Dockerd, EngineError,
                      busybox_image, mountinfo_lines, run, runtimes, wait_for)
from .test_docker import HOG, SLEEP, Docker

SYSTEMD = os.path.isdir("/run/systemd/system")      # sd_booted(): systemd is init
V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")

# Under TCG (the VM lab) a docker call takes seconds, a daemon's start tens.
SLOW = 180


def systemctl_show(unit, *properties):
    out = run(["systemctl", "show", unit, "-p", ",".join(properties)]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def scope_of(cid):
    return "docker-%s.scope" % cid


def scope_gone(cid):
    """No unit left (LoadState=not-found) and no cgroup directory."""
    return systemctl_show(scope_of(cid), "LoadState")["LoadState"] == "not-found" and \
        not os.path.exists("/sys/fs/cgroup/system.slice/" + scope_of(cid))


def unified_cgroup(pid):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            hierarchy, controllers, path = line.rstrip("\n").split(":", 2)
            if hierarchy == "0" and controllers == "":
                return path
    raise AssertionError("pid %d is in no cgroup v2 hierarchy" % pid)


class SystemdDocker(Docker):
    """Docker (tests/e2e/test_docker.py) against the module's dockerd:
    slower timeouts, `--network none` on every run."""

    def __call__(self, *args, check=False, timeout=SLOW, input=None):
        return super().__call__(*args, check=check, timeout=timeout, input=input)

    def run(self, *args, check=False, timeout=SLOW, input=None):
        return super().run("--network", "none", *args, check=check, timeout=timeout, input=input)

    def container_id(self, name):
        return self.inspect(name, "{{.Id}}")

    def scope(self, name):
        """The running container's init: its cgroup, which must be its scope's, and the
        scope's directory."""
        cid = self.container_id(name)
        pid = self.state(name)["Pid"]
        assert unified_cgroup(pid) == "/system.slice/" + scope_of(cid), \
            "%s (pid %d) is in %s, not in its scope" % (name, pid, unified_cgroup(pid))
        return cid, "/sys/fs/cgroup/system.slice/" + scope_of(cid)


def read(path):
    with open(path) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def systemd_dockerd():
    if not SYSTEMD:
        pytest.skip("needs systemd as init (the VM lab's guests have it)")
    if not V2:
        pytest.skip("written for cgroup v2 (the VM lab runs its docker.io box, sid, in v2)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    missing = [p for p in (DOCKER, DOCKERD, CONTAINERD) if not os.access(p, os.X_OK)]
    missing += [] if shutil.which("runc") else ["runc"]
    if missing:
        pytest.skip("needs Debian's docker.io (containerd, runc): %s missing (`make e2e-deps` "
                    "installs them; in the VM lab only the sid box has them)" % ", ".join(missing))
    top = Path(tempfile.mkdtemp(prefix="minirun-e2e-systemd-", dir="/var/tmp"))
    os.chmod(str(top), 0o755)
    containerd = dockerd = None
    problems = []
    try:
        archive = busybox_image(top)
        containerd = Containerd(top, start_timeout=SLOW)
        dockerd = Dockerd(top, containerd, cgroup_driver="systemd", start_timeout=SLOW)
        dockerd.docker("load", "--input", archive, timeout=SLOW)
        yield dockerd
    finally:
        ids = []
        if dockerd is not None:
            if dockerd.proc.poll() is None:
                ids = dockerd.docker("ps", "-aq", "--no-trunc", check=False).stdout.split()
                if ids:
                    dockerd.docker("rm", "-f", *ids, check=False, timeout=SLOW)
            try:
                dockerd.stop()
            except EngineError as exc:
                problems.append(str(exc))
        if containerd is not None:
            try:
                containerd.stop()
            except EngineError as exc:
                problems.append(str(exc))
        for cid in ids:
            try:
                wait_for(lambda: scope_gone(cid), timeout=30, what="the scope of %s to go" % cid)
            except EngineError as exc:
                problems.append(str(exc))
        # dockerd leaves the host network's sandbox key (exec-root/netns/default)
        # mounted when it stops, whatever the runtime (see tests/e2e/conftest.py)
        for line in mountinfo_lines(str(top)):
            if line.split()[4].endswith("/netns/default"):
                run(["umount", line.split()[4]], check=False)
        left = mountinfo_lines(str(top))
        if left:
            problems.append("mounts left under %s:\n  %s" % (top, "\n  ".join(left)))
        else:
            shutil.rmtree(str(top), ignore_errors=True)
    assert not problems, "\n".join(problems)


@pytest.fixture
def docker(systemd_dockerd, runtime):
    d = SystemdDocker(systemd_dockerd, runtime)
    yield d
    d.cleanup()


def test_dockerd_runs_with_the_systemd_driver(systemd_dockerd):
    info = systemd_dockerd.docker("info", "--format", "{{.CgroupDriver}} {{.CgroupVersion}}",
                                  timeout=SLOW)
    assert info.stdout.split() == ["systemd", "2"], info


@runtimes()
def test_run_rm_passes_output_and_exit_codes_and_leaves_no_scope(docker, tmp_path):
    cidfile = tmp_path / "cid"
    r = docker.run("--rm", "--cidfile", cidfile, IMAGE, "sh", "-c",
                   "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n"), r
    cid = cidfile.read_text().strip()
    wait_for(lambda: scope_gone(cid), timeout=SLOW, what="the scope of %s to go" % cid)
    r = docker.run("--rm", "-i", IMAGE, "sh", "-c", "read line; echo got $line", input="x\n")
    assert (r.returncode, r.stdout) == (0, "got x\n"), r


@runtimes()
def test_detached_container_lives_in_its_scope_exec_joins_it_and_stop_ends_it(docker):
    c = docker.detached(IMAGE, *SLEEP)
    cid, scope_dir = docker.scope(c)
    props = systemctl_show(scope_of(cid), "ActiveState", "Slice", "Delegate")
    assert props == {"ActiveState": "active", "Slice": "system.slice", "Delegate": "yes"}, props
    r = docker("exec", c, "sh", "-c", "echo hi; exit 7")
    assert (r.returncode, r.stdout) == (7, "hi\n"), r
    # the exec'd shell is in the container's cgroup (its cgroup namespace's
    # root): cgroup.procs shows pids as the reader's pid namespace sees them
    r = docker("exec", c, "sh", "-c", "echo $$; cat /sys/fs/cgroup/cgroup.procs")
    assert r.returncode == 0, r
    shell, *members = r.stdout.split()
    assert shell in members, r
    assert docker("stop", "-t", "1", c).returncode == 0
    state = docker.state(c)
    assert (state["Running"], state["ExitCode"]) == (False, 137), state
    wait_for(lambda: scope_gone(cid), timeout=SLOW, what="the scope of the stopped %s to go" % c)


@runtimes()
def test_memory_and_pids_limits_are_the_scopes(docker):
    c = docker.detached("-m", "64m", "--memory-swap", "64m", "--pids-limit", "42", IMAGE, *SLEEP)
    cid, scope_dir = docker.scope(c)
    assert read(scope_dir + "/memory.max") == str(64 << 20)
    assert read(scope_dir + "/pids.max") == "42"
    props = systemctl_show(scope_of(cid), "MemoryMax", "TasksMax")
    assert props == {"MemoryMax": str(64 << 20), "TasksMax": "42"}, props


@runtimes()
def test_memory_limit_kills_a_hog_with_137(docker):
    r = docker.run("--rm", "-m", "32m", "--memory-swap", "32m", IMAGE, *HOG)
    assert r.returncode == 137 or "Killed" in r.stderr, r
    assert "survived" not in r.stdout


@runtimes()
def test_pids_limit_stops_fork(docker):
    r = docker.run("--rm", "--pids-limit", "10", IMAGE, "sh", "-c",
                   "for i in $(seq 30); do sleep 1000 & done; echo forked")
    assert "can't fork" in r.stderr, r


@runtimes()
def test_update_reaches_the_scope(docker):
    c = docker.detached("-m", "64m", "--memory-swap", "64m", IMAGE, *SLEEP)
    cid, scope_dir = docker.scope(c)
    r = docker("update", "--memory", "96m", "--memory-swap", "96m", "--pids-limit", "50", c)
    assert r.returncode == 0, r
    assert read(scope_dir + "/memory.max") == str(96 << 20)
    assert read(scope_dir + "/pids.max") == "50"
    props = systemctl_show(scope_of(cid), "MemoryMax", "TasksMax")
    assert props == {"MemoryMax": str(96 << 20), "TasksMax": "50"}, props


@runtimes()
def test_rm_f_of_a_running_container_leaves_no_scope(docker):
    c = docker.detached(IMAGE, *SLEEP)
    cid, scope_dir = docker.scope(c)
    pid = docker.state(c)["Pid"]
    assert docker("rm", "-f", c).returncode == 0
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), timeout=SLOW,
             what="the container's init to be gone")
    wait_for(lambda: scope_gone(cid), timeout=SLOW, what="the scope of %s to go" % cid)
    assert systemctl_show(scope_of(cid), "LoadState") == {"LoadState": "not-found"}
