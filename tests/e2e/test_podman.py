"""podman 4.3 with conmon (no daemon), minirun given as `--runtime minirun`
(an [engine.runtimes] entry of the test's containers.conf), and runc."""

import os
import uuid

import pytest

from .engines import IMAGE, PtyProcess, runtimes, wait_for
from .test_docker import HOG

SLEEP = ["sleep", "100000"]


class Podman:
    def __init__(self, podman, runtime):
        self.podman = podman
        self.runtime = runtime
        self.names = []

    def __call__(self, *args, check=False, timeout=60, input=None):
        return self.podman.podman(*args, runtime=self.runtime, check=check, timeout=timeout,
                                  input=input)

    def detached(self, *args):
        name = "e2e-%s-%s" % (self.runtime, uuid.uuid4().hex[:10])
        self.names.append(name)
        self("run", "-d", "--name", name, *args, check=True)
        return name

    def status(self, name):
        return self("inspect", "--format", "{{.State.Status}}", name, check=True).stdout.strip()

    def cleanup(self):
        if self.names:
            self("rm", "-f", "-t", "0", *self.names)


@pytest.fixture
def pm(podman, runtime):
    p = Podman(podman, runtime)
    yield p
    p.cleanup()


@runtimes()
def test_run_rm_output_and_exit_code(pm):
    r = pm("run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n"), r
    r = pm("run", "--rm", IMAGE, "/nonexistent")
    assert r.returncode == 127 and "/nonexistent" in r.stderr, r


@runtimes()
def test_run_it_on_a_real_pty(pm):
    argv = pm.podman.podman_argv(pm.runtime, "run", "-it", "--rm", IMAGE, "sh", "-c",
                                 'trap "echo GOT-INT; exit 5" INT; echo ready; '
                                 "while :; do sleep 0.1; done")
    p = PtyProcess(argv, env=pm.podman.env)
    try:
        p.expect("ready")
        p.send("typed")
        p.expect("typed")
        p.send("\x03")
        p.expect("GOT-INT")
        assert p.wait() == 5
    finally:
        p.close()


@runtimes()
def test_exec(pm):
    c = pm.detached(IMAGE, *SLEEP)
    r = pm("exec", "-u", "65534", "-w", "/tmp", "-e", "FOO=bar", c, "sh", "-c",
           'id -u; pwd; echo "$FOO"; exit 7')
    assert (r.returncode, r.stdout) == (7, "65534\n/tmp\nbar\n"), r


@runtimes()
def test_stop_and_kill(pm):
    c = pm.detached(IMAGE, "sh", "-c", 'trap "echo got-usr1" USR1; echo ready; '
                    "while :; do sleep 0.1; done")
    wait_for(lambda: "ready" in pm("logs", c).stdout, what="ready in the logs")
    assert pm("kill", "-s", "USR1", c).returncode == 0
    wait_for(lambda: "got-usr1" in pm("logs", c).stdout, what="got-usr1 in the logs")
    assert pm("stop", "-t", "1", c).returncode == 0
    assert pm.status(c) == "exited"
    c2 = pm.detached(IMAGE, *SLEEP)
    assert pm("kill", c2).returncode == 0
    wait_for(lambda: pm.status(c2) == "exited", what="the killed container to exit")


@runtimes()
def test_pause_and_unpause(pm):
    c = pm.detached(IMAGE, *SLEEP)
    r = pm("pause", c)
    assert r.returncode == 0 and pm.status(c) == "paused", r
    r = pm("unpause", c)
    assert r.returncode == 0 and pm.status(c) == "running", r


@runtimes()   # podman reads /proc itself: no runtime `ps`
def test_top(pm):
    c = pm.detached(IMAGE, *SLEEP)
    r = pm("top", c)
    assert r.returncode == 0 and "sleep 100000" in r.stdout, r


@runtimes()
def test_update(pm):
    c = pm.detached(IMAGE, *SLEEP)
    r = pm("update", "--memory", "64m", "--cpus", "0.5", c)   # podman 4.3 has no --pids-limit here
    assert r.returncode == 0, r
    path = pm("inspect", "--format", "{{.State.CgroupPath}}", c, check=True).stdout.strip()
    with open("/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % path) as f:
        assert f.read().strip() == str(64 << 20)
    with open("/sys/fs/cgroup/cpu%s/cpu.cfs_quota_us" % path) as f:
        assert f.read().strip() == "50000"


@runtimes()
def test_memory_limit_kills_a_hog(pm):
    r = pm("run", "--rm", "-m", "32m", "--memory-swap", "32m", IMAGE, *HOG, timeout=120)
    assert r.returncode == 137 and "survived" not in r.stdout, r


@runtimes()
def test_pids_limit_stops_fork(pm):
    r = pm("run", "--rm", "--pids-limit", "10", IMAGE, "sh", "-c",
           "for i in $(seq 30); do sleep 1000 & done; echo forked")
    assert "can't fork" in r.stderr, r


@runtimes()
def test_stats(pm):
    c = pm.detached("-m", "64m", IMAGE, *SLEEP)
    r = pm("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", c)
    assert r.returncode == 0, r
    mem, pids = r.stdout.strip().split("|")
    assert mem.replace(" ", "").endswith("/67.11MB") and pids == "1", r.stdout


@runtimes()
def test_init_and_read_only(pm):
    r = pm("run", "--rm", "--init", "--read-only", IMAGE, "sh", "-c",
           "cat /proc/1/cmdline | tr '\\0' ' '; echo; touch /x")
    assert r.stdout.startswith("/run/podman-init -- sh"), r     # catatonit, bind-mounted
    assert r.returncode == 1 and "Read-only file system" in r.stderr, r


@runtimes()
def test_restart_and_logs(pm):
    c = pm.detached(IMAGE, "sh", "-c", "echo started; sleep 100000")
    wait_for(lambda: "started" in pm("logs", c).stdout, what="the first start")
    assert pm("restart", "-t", "1", c).returncode == 0
    wait_for(lambda: pm("logs", c).stdout.count("started") == 2, what="the restart")
    assert pm.status(c) == "running"


@runtimes()
def test_pod_with_its_infra_container(pm):
    pod = "e2e-pod-%s-%s" % (pm.runtime, uuid.uuid4().hex[:8])
    # the infra image is podman's own, built here from catatonit
    r = pm("pod", "create", "--name", pod, timeout=120)
    assert r.returncode == 0, r
    try:
        r = pm("pod", "start", pod)
        assert r.returncode == 0, r
        infra = pm("pod", "inspect", "--format", "{{.InfraContainerID}}", pod,
                   check=True).stdout.strip()
        pid = int(pm("inspect", "--format", "{{.State.Pid}}", infra, check=True).stdout)
        r = pm("run", "--rm", "--pod", pod, IMAGE, "sh", "-c",
               "readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc")
        assert r.returncode == 0, r
        assert r.stdout.split() == [os.readlink("/proc/%d/ns/%s" % (pid, ns))
                                    for ns in ("uts", "ipc")], r
    finally:
        pm("pod", "rm", "-f", pod)


@runtimes()
def test_tmpfs_is_writable_for_a_non_root_user(pm):
    r = pm("run", "--rm", "-u", "65534", "--tmpfs", "/scratch", IMAGE, "sh", "-c",
           "touch /scratch/f && stat -c %a /scratch")
    assert (r.returncode, r.stdout) == (0, "1777\n"), r
