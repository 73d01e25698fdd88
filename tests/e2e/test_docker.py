"""Docker (dockerd 20.10 on containerd's io.containerd.runc.v2 shim) with
minirun as the runtime, each scenario run with minirun and with runc."""

import json
import os
import random
import uuid

import pytest

from .engines import IMAGE, PtyProcess, runtimes, wait_for



FORWARDING_WARNING = "WARNING: IPv4 forwarding is disabled. Networking will not work.\n"


class Docker:
    """`docker` against this run's dockerd, --runtime set on run/create, and
    every container the test made removed at the end."""

    def __init__(self, dockerd, runtime):
        self.dockerd = dockerd
        self.runtime = runtime
        self.names = []

    def __call__(self, *args, check=False, timeout=60, input=None):
        return self.dockerd.docker(*args, check=check, timeout=timeout, input=input)

    def run(self, *args, check=False, timeout=60, input=None):
        r = self("run", "--runtime", self.runtime, *args, check=check, timeout=timeout,
                 input=input)
        # dockerd runs with --ip-forward=false (the host's sysctl is not
        # ours to flip): the containers only talk over the test's bridge.
        r.stderr = r.stderr.replace(FORWARDING_WARNING, "")
        return r

    def name(self):
        name = "e2e-%s-%s" % (self.runtime, uuid.uuid4().hex[:10])
        self.names.append(name)
        return name

    def detached(self, *args):
        """`docker run -d` of `args` (options then image and command); the name."""
        name = self.name()
        self.run("-d", "--name", name, *args, check=True)
        return name

    def inspect(self, name, fmt):
        return self("inspect", "--format", fmt, name, check=True).stdout.strip()

    def state(self, name):
        return json.loads(self.inspect(name, "{{json .State}}"))

    def logs(self, name):
        r = self("logs", name, check=True)
        return r.stdout + r.stderr

    def wait_logs(self, name, text):
        return wait_for(lambda: text in self.logs(name), what="%r in the logs of %s" % (text, name))

    def cgroup_file(self, name, controller, filename):
        """The container's cgroup v1 file, read on the host."""
        cid = self.inspect(name, "{{.Id}}")
        path = "/sys/fs/cgroup/%s/%s/%s/%s" % (controller, self.dockerd.cgroup_parent, cid, filename)
        with open(path) as f:
            return f.read().strip()

    def cleanup(self):
        if self.names:
            self("rm", "-f", *self.names)


@pytest.fixture
def docker(dockerd, runtime):
    d = Docker(dockerd, runtime)
    yield d
    d.cleanup()


SLEEP = ["sleep", "100000"]


# --------------------------------------------------------------------------
# run, exit codes, errors


@runtimes()
def test_run_rm_passes_output_and_exit_codes(docker):
    r = docker.run("--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = docker.run("--rm", IMAGE, "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = docker.run("--rm", "-i", IMAGE, "sh", "-c", "read line; echo got $line", input="x\n")
    assert (r.returncode, r.stdout) == (0, "got x\n")


@runtimes()
def test_missing_executable_is_127_with_the_runtime_message(docker):
    r = docker.run("--rm", IMAGE, "/nonexistent")
    assert r.returncode == 127, r
    assert "/nonexistent" in r.stderr and "no such file or directory" in r.stderr, r.stderr
    r = docker.run("--rm", IMAGE, "nosuchprogram")
    assert r.returncode == 127, r
    assert "executable file not found" in r.stderr, r.stderr


@runtimes()
def test_non_executable_program_is_126(docker):
    r = docker.run("--rm", IMAGE, "/etc/passwd")
    assert r.returncode == 126, r
    assert "permission denied" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# detached containers: exec, stop, logs, attach, cp


@runtimes()
def test_run_detached_exec_and_stop(docker):
    c = docker.detached(IMAGE, *SLEEP)
    r = docker("exec", c, "sh", "-c", "echo hi; exit 7")
    assert (r.returncode, r.stdout) == (7, "hi\n"), r
    r = docker("exec", "-u", "65534", "-w", "/tmp", "-e", "FOO=bar", c,
               "sh", "-c", 'id -u; pwd; echo "$FOO"')
    assert (r.returncode, r.stdout) == (0, "65534\n/tmp\nbar\n"), r
    r = docker("exec", c, "/nonexistent")
    assert r.returncode in (126, 127), r
    assert docker("stop", "-t", "1", c).returncode == 0
    state = docker.state(c)
    assert (state["Running"], state["ExitCode"]) == (False, 137), state


@runtimes()
def test_exec_it_on_a_real_pty(docker):
    c = docker.detached(IMAGE, *SLEEP)
    p = PtyProcess(docker.dockerd.docker_argv("exec", "-it", c, "sh"), rows=33, cols=111,
                   env=docker.dockerd.env)
    try:
        # the engine sets the size just after the start: wait until it is there
        p.send('until stty -a | grep -q rows; do sleep 0.05; done; '
               'stty -a | grep -o "rows.*columns [0-9]*"; echo $((6*7))\r')
        p.expect("rows 33; columns 111")
        p.expect("42")
        p.send("exit 4\r")
        assert p.wait() == 4
    finally:
        p.close()


@runtimes()
def test_stop_sends_sigterm_first(docker):
    c = docker.detached(IMAGE, "sh", "-c", 'trap "echo bye; exit 0" TERM; echo ready; '
                        "while :; do sleep 0.1; done")
    docker.wait_logs(c, "ready")
    assert docker("stop", "-t", "30", c).returncode == 0
    assert docker.state(c)["ExitCode"] == 0
    assert "bye" in docker.logs(c)


@runtimes()
def test_stop_escalates_to_sigkill_and_kill_is_137(docker):
    c = docker.detached(IMAGE, *SLEEP)      # pid 1 ignores SIGTERM it has no handler for
    assert docker("stop", "-t", "1", c).returncode == 0
    assert docker.state(c)["ExitCode"] == 137
    c2 = docker.detached("-t", IMAGE, *SLEEP)
    assert docker("kill", c2).returncode == 0
    wait_for(lambda: not docker.state(c2)["Running"], what="the killed container to stop")
    assert docker.state(c2)["ExitCode"] == 137


@runtimes()
def test_logs_and_attach(docker):
    c = docker.detached(IMAGE, "sh", "-c", "echo one; echo two >&2; sleep 100000")
    docker.wait_logs(c, "two")
    r = docker("logs", c)
    assert (r.stdout, r.stderr) == ("one\n", "two\n")
    c2 = docker.name()
    docker.run("-d", "-i", "--name", c2, IMAGE, "sh", "-c", "read line; echo got $line; exit 5",
               check=True)
    r = docker("attach", c2, input="hello\n")
    # what attach prints races with the exit; the log has it all
    assert r.returncode == 5, r
    assert docker.logs(c2) == "got hello\n"


@runtimes()
def test_cp_in_and_out(docker, tmp_path):
    c = docker.detached(IMAGE, *SLEEP)
    (tmp_path / "in.txt").write_text("from the host\n")
    assert docker("cp", str(tmp_path / "in.txt"), c + ":/tmp/in.txt").returncode == 0
    out = tmp_path / "out"
    assert docker("cp", c + ":/tmp/in.txt", str(out)).returncode == 0
    assert out.read_text() == "from the host\n"
    assert docker("cp", c + ":/etc/passwd", str(tmp_path / "passwd")).returncode == 0
    assert "nobody" in (tmp_path / "passwd").read_text()


@runtimes()
def test_health_check_becomes_healthy(docker):
    c = docker.detached("--health-cmd", "test -e /tmp/ok", "--health-interval", "1s",
                        "--health-retries", "30", IMAGE, "sh", "-c", "touch /tmp/ok; sleep 100000")
    wait_for(lambda: docker.inspect(c, "{{.State.Health.Status}}") == "healthy",
             what="the health check to pass")


@runtimes()
def test_run_it_on_a_real_pty_echo_window_size_and_ctrl_c(docker):
    argv = docker.dockerd.docker_argv(
        "run", "-it", "--rm", "--runtime", docker.runtime, IMAGE, "sh", "-c",
        # the engine sets the size just after the start: wait until it is there
        'until stty -a | grep -q rows; do sleep 0.05; done; stty -a | grep -o "rows.*columns [0-9]*"; '
        'trap "echo GOT-INT; exit 5" INT; echo ready; while :; do sleep 0.1; done')
    p = PtyProcess(argv, rows=27, cols=91, env=docker.dockerd.env)
    try:
        p.expect("rows 27; columns 91")
        p.expect("ready")
        p.send("typed-ahead")
        p.expect("typed-ahead")      # the container's tty echoes
        p.send("\x03")
        p.expect("GOT-INT")
        assert p.wait() == 5
    finally:
        p.close()


@runtimes()
def test_kill_with_usr1_reaches_the_process(docker):
    c = docker.detached(IMAGE, "sh", "-c", 'trap "echo got-usr1" USR1; echo ready; '
                        "while :; do sleep 0.1; done")
    docker.wait_logs(c, "ready")
    assert docker("kill", "-s", "USR1", c).returncode == 0
    docker.wait_logs(c, "got-usr1")
    assert docker.state(c)["Running"] is True


@runtimes()
def test_restart(docker):
    c = docker.detached(IMAGE, *SLEEP)
    pid = docker.state(c)["Pid"]
    assert docker("restart", "-t", "1", c).returncode == 0
    state = docker.state(c)
    assert state["Running"] is True and state["Pid"] not in (0, pid), state


@runtimes()
def test_rm_f_of_a_running_container(docker):
    c = docker.detached(IMAGE, *SLEEP)
    pid = docker.state(c)["Pid"]
    assert docker("rm", "-f", c).returncode == 0
    assert c not in docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="the container's init to be gone")


# --------------------------------------------------------------------------
# pause, top, update, limits, stats


@runtimes()
def test_pause_and_unpause(docker):
    c = docker.detached(IMAGE, *SLEEP)
    assert docker("pause", c).returncode == 0
    assert docker.state(c)["Paused"] is True
    assert docker("unpause", c).returncode == 0
    assert docker.state(c)["Paused"] is False


@runtimes()
def test_top_lists_the_container_processes(docker):
    c = docker.detached(IMAGE, *SLEEP)
    r = docker("top", c)
    assert r.returncode == 0 and "sleep 100000" in r.stdout, r


@runtimes()
def test_update_memory_cpus_pids(docker):
    c = docker.detached(IMAGE, *SLEEP)
    r = docker("update", "--memory", "64m", "--memory-swap", "64m", "--cpus", "0.5",
               "--pids-limit", "50", c)
    assert r.returncode == 0, r
    assert docker.cgroup_file(c, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert docker.cgroup_file(c, "cpu", "cpu.cfs_quota_us") == "50000"
    assert docker.cgroup_file(c, "pids", "pids.max") == "50"


# A bounded hog: the shell keeps the whole output of $(...) in memory.  Without the
# limit it ends after 256 MiB, so a runtime that ignores -m harms nobody.
HOG = ["sh", "-c", 'x=$(head -c 268435456 /dev/zero | tr "\\0" a); echo survived']


@runtimes()
def test_memory_limit_kills_a_hog_with_137(docker):
    r = docker.run("--rm", "-m", "32m", "--memory-swap", "32m", IMAGE, *HOG, timeout=120)
    assert r.returncode == 137 or "Killed" in r.stderr, r
    assert "survived" not in r.stdout


@runtimes()
def test_pids_limit_stops_fork(docker):
    r = docker.run("--rm", "--pids-limit", "10", IMAGE, "sh", "-c",
                   "for i in $(seq 30); do sleep 1000 & done; echo forked")
    assert "can't fork" in r.stderr, r


@runtimes()
def test_cpus_limit_throttles(docker):
    c = docker.detached("--cpus", "0.1", IMAGE, "sh", "-c", "while :; do :; done")
    assert docker.cgroup_file(c, "cpu", "cpu.cfs_quota_us") == "10000"
    wait_for(lambda: int(dict(line.split() for line in docker.cgroup_file(
        c, "cpu", "cpu.stat").splitlines())["nr_throttled"]) > 0, what="the CFS throttle")


@runtimes()
def test_stats_shows_the_containers_own_figures(docker):
    c = docker.detached("-m", "64m", IMAGE, *SLEEP)
    r = docker("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", c)
    assert r.returncode == 0, r
    mem, pids = r.stdout.strip().split("|")
    assert mem.endswith("/ 64MiB") and pids == "1", r.stdout


# --------------------------------------------------------------------------
# the container's shape


@runtimes()
def test_read_only_and_tmpfs(docker):
    r = docker.run("--rm", "--read-only", "--tmpfs", "/scratch", IMAGE, "sh", "-c",
                   "touch /x 2>&1; touch /scratch/y && grep ' /scratch ' /proc/mounts")
    assert "Read-only file system" in r.stdout and "tmpfs /scratch tmpfs" in r.stdout, r


@runtimes()
def test_read_only_proc_paths_keep_nosuid_nodev_noexec(docker):
    r = docker.run("--rm", IMAGE, "awk", '$5 ~ "^/proc/(sys|bus|fs|irq)$" { print $5, $6 }',
                   "/proc/self/mountinfo")
    mounts = dict(line.split() for line in r.stdout.splitlines())
    assert sorted(mounts) == ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"], r
    for path, options in mounts.items():
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(options.split(",")), (path, options)


@runtimes()
def test_bind_volume(docker, tmp_path):
    (tmp_path / "hostfile").write_text("host data\n")
    r = docker.run("--rm", "-v", "%s:/data" % tmp_path, IMAGE, "sh", "-c",
                   "cat /data/hostfile; echo written > /data/back")
    assert (r.returncode, r.stdout) == (0, "host data\n"), r
    assert (tmp_path / "back").read_text() == "written\n"


@runtimes()
def test_user_and_workdir(docker):
    r = docker.run("--rm", "-u", "65534", "-w", "/tmp", IMAGE, "sh", "-c", "id -u; id -g; pwd")
    # the group comes from the image's /etc/passwd
    assert (r.returncode, r.stdout) == (0, "65534\n65534\n/tmp\n"), r


@runtimes()
def test_cap_add_and_cap_drop(docker):
    r = docker.run("--rm", "--cap-drop", "ALL", "--cap-add", "NET_RAW", IMAGE,
                   "grep", "CapEff", "/proc/self/status")
    assert r.stdout.split() == ["CapEff:", "0000000000002000"], r
    r = docker.run("--rm", "--cap-drop", "CHOWN", IMAGE, "chown", "65534", "/tmp")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r


@runtimes()
def test_init_is_pid_1(docker):
    r = docker.run("--rm", "--init", IMAGE, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; "
                   "echo; echo $$")
    first, second = r.stdout.splitlines()
    assert "docker-init" in first and second != "1", r


@runtimes()
def test_ulimit(docker):
    r = docker.run("--rm", "--ulimit", "nofile=1024:2048", IMAGE, "sh", "-c",
                   "ulimit -n; ulimit -Hn")
    assert (r.returncode, r.stdout) == (0, "1024\n2048\n"), r


@runtimes()
def test_hostname_and_sysctl(docker):
    r = docker.run("--rm", "--hostname", "box.e2e", "--sysctl", "kernel.shm_rmid_forced=1",
                   IMAGE, "sh", "-c", "hostname; cat /proc/sys/kernel/shm_rmid_forced")
    assert (r.returncode, r.stdout) == (0, "box.e2e\n1\n"), r


@runtimes()
def test_device(docker):
    r = docker.run("--rm", "--device", "/dev/zero:/dev/myzero", IMAGE, "sh", "-c",
                   "head -c 3 /dev/myzero | od -An -tx1; ls -l /dev/myzero")
    assert r.returncode == 0, r
    assert r.stdout.splitlines()[0].split() == ["00", "00", "00"], r
    assert r.stdout.splitlines()[1].startswith("c"), r


@runtimes()
def test_seccomp_unconfined_and_no_new_privileges(docker):
    r = docker.run("--rm", IMAGE, "grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "0", "Seccomp:", "2"], r
    r = docker.run("--rm", "--security-opt", "seccomp=unconfined", "--security-opt",
                   "no-new-privileges", IMAGE, "grep", "-E", "^(Seccomp|NoNewPrivs):",
                   "/proc/self/status")
    assert r.stdout.split() == ["NoNewPrivs:", "1", "Seccomp:", "0"], r


# --------------------------------------------------------------------------
# networks and pid namespaces


def interfaces(text):
    return sorted(line.split(":")[0].strip() for line in text.splitlines()[2:])


@runtimes()
def test_network_none_and_host(docker):
    host_netns = os.readlink("/proc/self/ns/net")
    r = docker.run("--rm", "--network", "none", IMAGE, "sh", "-c",
                   "readlink /proc/self/ns/net; cat /proc/net/dev")
    netns, dev = r.stdout.split("\n", 1)
    assert netns != host_netns and interfaces(dev) == ["lo"], r
    r = docker.run("--rm", "--network", "host", IMAGE, "readlink", "/proc/self/ns/net")
    assert (r.returncode, r.stdout) == (0, host_netns + "\n"), r


@runtimes()
def test_two_containers_reach_each_other_on_the_test_bridge(docker):
    a = docker.detached(IMAGE, *SLEEP)
    ip = docker.inspect(a, "{{.NetworkSettings.IPAddress}}")
    assert ip.startswith(docker.dockerd.subnet + "."), ip
    r = docker.run("--rm", IMAGE, "sh", "-c", "ip -4 -o addr show eth0; ping -c 1 -W 10 " + ip)
    assert r.returncode == 0 and docker.dockerd.subnet + "." in r.stdout, r
    assert "1 packets received" in r.stdout, r


@runtimes()
def test_pid_host_stop_leaves_no_process(docker):
    marker = str(random.randrange(10 ** 8, 10 ** 9))
    c = docker.detached("--pid", "host", IMAGE, "sh", "-c",
                        "sleep %s1 & sleep %s2 & echo ready; wait" % (marker, marker))
    docker.wait_logs(c, "ready")

    def sleepers():
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except (OSError, ValueError):
                pass
        return found

    try:
        assert len(sleepers()) == 3     # sh and its two sleeps
        assert docker("stop", "-t", "1", c).returncode == 0
        wait_for(lambda: not sleepers(), timeout=20,
                 what="the --pid host container's processes to be gone")
    finally:
        for pid in sleepers():      # the random marker in their argv proves them ours
            os.kill(pid, 9)


# --------------------------------------------------------------------------
# joining another container's namespaces, and more of the CLI


def readlinks(docker, *args):
    r = docker.run("--rm", *args, IMAGE, "sh", "-c", "for ns in net ipc pid; do "
                   "readlink /proc/self/ns/$ns; done; ps -o pid,comm")
    assert r.returncode == 0, r
    return r.stdout.splitlines()


@runtimes()
def test_network_pid_and_ipc_of_another_container(docker):
    a = docker.detached("--ipc", "shareable", IMAGE, *SLEEP)
    pid = docker.state(a)["Pid"]
    own = [os.readlink("/proc/%d/ns/%s" % (pid, ns)) for ns in ("net", "ipc", "pid")]
    lines = readlinks(docker, "--network", "container:" + a, "--pid", "container:" + a,
                      "--ipc", "container:" + a)
    assert lines[:3] == own, lines
    assert any(line.split()[-1] == "sleep" for line in lines[3:]), lines


@runtimes()
def test_create_start_attach_wait_and_env(docker):
    c = docker.name()
    r = docker("create", "--runtime", docker.runtime, "--name", c, "-e", "A=1", "--env", "B=two",
               "--entrypoint", "sh", IMAGE, "-c", 'echo "$A $B"; exit 9')
    assert r.returncode == 0, r
    r = docker("start", "-a", c)
    assert (r.returncode, r.stdout) == (9, "1 two\n"), r
    assert docker("wait", c).stdout.strip() == "9"


@runtimes()
def test_shm_size_and_tmpfs_options(docker):
    r = docker.run("--rm", "--shm-size", "2m", "--tmpfs", "/run:rw,size=1m,mode=1777", IMAGE,
                   "sh", "-c", "df -k /dev/shm /run | tail -2")
    lines = r.stdout.split("\n")
    assert r.returncode == 0 and lines[0].split()[1] == "2048" and lines[1].split()[1] == "1024", r


@runtimes()
def test_stop_signal_and_restart_policy(docker):
    c = docker.detached("--stop-signal", "USR1", IMAGE, "sh", "-c",
                        'trap "echo usr1; exit 0" USR1; echo ready; while :; do sleep 0.1; done')
    docker.wait_logs(c, "ready")
    assert docker("stop", "-t", "30", c).returncode == 0
    assert "usr1" in docker.logs(c) and docker.state(c)["ExitCode"] == 0
    c2 = docker.detached("--restart", "on-failure:2", IMAGE, "sh", "-c", "echo run; exit 1")
    wait_for(lambda: docker.logs(c2).count("run") == 3 and not docker.state(c2)["Restarting"]
             and not docker.state(c2)["Running"], what="two restarts by the daemon")
    assert docker.inspect(c2, "{{.RestartCount}}") == "2"
