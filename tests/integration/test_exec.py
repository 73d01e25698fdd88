"""`exec [flags] ID [COMMAND ARG...]`: a new process in a created or running
container, as runc runs it.

The process joins every namespace of the container (the pid namespace too,
so it appears inside), its root and cwd, and gets the setup of the init:
rlimits, user and groups, capabilities, no_new_privs, the seccomp filter,
the environment, the executable looked up in the container's PATH. It is a
direct child of `exec`; without --detach, `exec` relays signals and the
terminal, waits, and exits with the process's status.
"""

import json
import os
import re
import signal
import subprocess

import pytest

from .helpers import (
    DOCKER_DEFAULT_CAPS, EXEC_FAILED, IS_RUNC, ConsoleReceiver, assert_error, bind_mount, cap_mask,
    host_bounding_caps, pid_alive, proc_status,
    pids_in_pidns_of, read_until, run_through_shell, wait_for,
)
from .security_helpers import PROBE, install_probe, probe_results

NAMESPACES = ("pid", "net", "ipc", "uts", "mnt")


@pytest.fixture
def running(rt, make_bundle, cid):
    """A running container (sleeping init) and its init's host pid."""
    def start(**overrides):
        bundle = make_bundle(["sleep", "1000"], **overrides)
        rt("run", "--detach", "--bundle", bundle, cid)
        return rt.state(cid)["pid"]
    return start


def exec_out(rt, cid, *command, flags=(), **kwargs):
    return rt("exec", *flags, cid, *command, **kwargs).stdout


def detached(rt, cid, tmp_path, *args):
    """exec --detach a process; its host pid from --pid-file."""
    pid_file = tmp_path / ("exec-%d.pid" % len(rt.calls))
    rt("exec", "--detach", "--pid-file", pid_file, *args)
    text = pid_file.read_text()
    assert text.isdigit(), text  # no trailing newline: containerd parses it with Atoi
    return int(text)


# -- where the process runs ---------------------------------------------------

def test_the_process_joins_every_namespace_of_the_container(rt, running, cid, tmp_path):
    init = running()
    pid = detached(rt, cid, tmp_path, cid, "sleep", "1000")
    for ns in NAMESPACES:
        assert os.readlink("/proc/%d/ns/%s" % (pid, ns)) == os.readlink("/proc/%d/ns/%s" % (init, ns)), ns
    # inside the pid namespace it has a pid of its own, not the init's 1
    inner = proc_status(pid)["NSpid"].split()
    assert len(inner) == 2 and inner[-1] != "1"
    assert os.readlink("/proc/%d/root" % pid) == os.readlink("/proc/%d/root" % init)


def test_the_process_sees_the_containers_processes_and_hostname(rt, running, cid):
    running()
    out = exec_out(rt, cid, "sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
    hostname, init_cmdline, own_pid = out.splitlines()
    assert hostname == "minirun-test"
    assert init_cmdline.strip() == "sleep 1000"
    assert own_pid != "1"


def test_exec_works_in_a_created_container_before_start(rt, make_bundle, cid):
    bundle = make_bundle(["echo", "started"])
    rt("create", "--bundle", bundle, cid)
    assert exec_out(rt, cid, "cat", "/proc/1/comm").strip() != ""
    assert rt.status(cid) == "created"
    rt("start", cid)


def test_exec_in_a_stopped_container_is_refused(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    rt("run", "--keep", "--bundle", bundle, cid)
    result = rt("exec", cid, "true", check=False, log=True)
    assert_error(result, "cannot exec in a stopped container", log=rt.log, status=EXEC_FAILED)


def test_exec_in_a_missing_container_is_refused(rt, cid):
    result = rt("exec", cid, "true", check=False)
    assert_error(result, "does not exist", status=EXEC_FAILED)


def test_a_missing_executable_is_named(rt, running, cid):
    running()
    result = rt("exec", cid, "no-such-program", check=False, log=True)
    assert_error(result, "no-such-program", "executable file not found", log=rt.log, status=EXEC_FAILED)


# -- an exec that fails exits 255, as runc's -----------------------------------
# runc's exec.go ends in fatalWithCode(fmt.Errorf("exec failed: %w", err), 255)
# (1.1, and since): a failure before the process runs is 255, the process's
# own status passes through, and only a bad command line (urfave/cli's flag
# parsing, no container ID) is 1.

def test_exec_in_a_missing_container_exits_255(rt, cid):
    assert_error(rt("exec", cid, "true", check=False, log=True), "does not exist", log=rt.log,
                 status=EXEC_FAILED)


@pytest.mark.parametrize("program, reason", [
    ("/no-such-program", "no such file or directory"),
    ("/etc/passwd", "permission denied"),  # a file, not executable
])
def test_a_program_that_cannot_be_executed_exits_255(rt, running, cid, program, reason):
    running()
    result = rt("exec", cid, program, check=False, log=True)
    assert_error(result, program, reason, log=rt.log, status=EXEC_FAILED)


def test_exec_in_a_paused_container_without_ignore_paused_exits_255(rt, running, cid):
    running()
    rt("pause", cid)
    result = rt("exec", cid, "true", check=False, log=True)
    assert_error(result, "cannot exec in a paused container (use --ignore-paused to override)", log=rt.log,
                 status=EXEC_FAILED)
    rt("resume", cid)


def test_a_pid_file_in_a_missing_directory_fails_the_exec_with_255_and_kills_the_process(rt, running, cid,
                                                                                          tmp_path):
    """The pid file is written once the process runs: it cannot be, so the
    process (which would wait forever) is killed, and the exec fails."""
    init = running()
    pid_file = tmp_path / "no-such-dir" / "exec.pid"
    result = rt("exec", "--pid-file", pid_file, cid, "sleep", "1000", check=False, log=True)
    assert_error(result, "no-such-dir", log=rt.log, status=EXEC_FAILED)
    wait_for(lambda: pids_in_pidns_of(init) == [init], what="the exec'd process to be gone")


@pytest.mark.parametrize("argv, fragment", [
    (["--no-such-flag", "CID", "true"], "no-such-flag"),
    ([], ""),  # no container ID
])
def test_a_bad_exec_command_line_exits_1(rt, cid, argv, fragment):
    result = rt("exec", *[cid if a == "CID" else a for a in argv], check=False)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert fragment in result.stderr


# -- exit status, stdio and signals ----------------------------------------------

@pytest.mark.parametrize("code", [0, 1, 3, 254, 255])
def test_exit_code_of_the_process(rt, running, cid, code):
    running()
    assert rt("exec", cid, "sh", "-c", "exit %d" % code, check=False).returncode == code


@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGSEGV, signal.SIGSYS])
def test_a_process_killed_by_a_signal_exits_128_plus_it(rt, running, cid, number):
    running()
    result = rt("exec", cid, "sh", "-c", "kill -%d $$" % number, check=False)
    assert result.returncode == 128 + number


def test_stdin_and_stdout_pass_through(rt, running, cid):
    running()
    assert rt("exec", cid, "cat", input="through the container\n").stdout == "through the container\n"


def test_signals_to_exec_reach_the_process(rt, running, cid, tmp_path):
    running()
    out = tmp_path / "trap.out"
    with open(str(out), "w") as handle:
        proc = rt.popen("exec", cid, "sh", "-c",
                        "trap 'echo got-term; exit 42' TERM; echo armed; while :; do sleep 0.05; done",
                        stdout=handle)
        wait_for(lambda: "armed" in out.read_text(), what="the trap to be set")
        proc.send_signal(signal.SIGTERM)
        result = rt.finish(proc)
    assert result.returncode == 42
    assert "got-term" in out.read_text()


def test_the_process_is_a_child_of_exec(rt, running, cid, tmp_path):
    init = running()
    proc = rt.popen("exec", cid, "sleep", "1000")

    def sleeper():
        for p in pids_in_pidns_of(init):
            try:
                if p != init and open("/proc/%d/cmdline" % p, "rb").read() == b"sleep\x001000\x00":
                    return p
            except OSError:  # it exited since it was listed
                continue
        return None

    wait_for(lambda: sleeper() is not None, what="the exec'd process")
    assert int(proc_status(sleeper())["PPid"]) == proc.pid
    proc.send_signal(signal.SIGKILL)
    rt.finish(proc)


def test_detach_returns_and_leaves_the_process_running(rt, running, cid, tmp_path):
    running()
    pid = detached(rt, cid, tmp_path, cid, "sleep", "1000")
    assert pid_alive(pid)
    assert open("/proc/%d/cmdline" % pid, "rb").read() == b"sleep\x001000\x00"
    rt("delete", "--force", cid)
    wait_for(lambda: not pid_alive(pid), what="the exec'd process to die with the container")


# -- process settings -----------------------------------------------------------

def test_env_cwd_user_and_groups(rt, running, cid):
    running()
    flags = ("--env", "ONE=1", "-e", "TWO=2", "--cwd", "/tmp", "--user", "1000:1001",
             "--additional-gids", "20", "-g", "30")
    out = exec_out(rt, cid, "sh", "-c", 'echo $ONE $TWO; pwd; id -u; id -g; id -G; echo $PATH', flags=flags)
    ones, cwd, uid, gid, groups, path = out.splitlines()
    assert ones == "1 2"
    assert cwd == "/tmp"
    assert (uid, gid) == ("1000", "1001")
    assert set(groups.split()) == {"1001", "20", "30"}
    assert path == "/usr/sbin:/usr/bin:/sbin:/bin"  # the container's own environment


def test_user_without_a_group_keeps_the_containers_gid(rt, running, cid):
    running(process={"user": {"uid": 0, "gid": 7}})
    assert exec_out(rt, cid, "sh", "-c", "id -u; id -g", flags=("-u", "1000")).split() == ["1000", "7"]


def test_the_containers_capabilities_by_default_and_cap_adds(rt, running, cid):
    running()
    default = proc_status_of_exec(rt, cid)
    assert int(default["CapEff"], 16) == cap_mask(DOCKER_DEFAULT_CAPS)
    added = proc_status_of_exec(rt, cid, "--cap", "CAP_SYS_ADMIN", "-c", "CAP_NET_ADMIN")
    mask = cap_mask(list(DOCKER_DEFAULT_CAPS) + ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"])
    assert int(added["CapEff"], 16) == mask
    assert int(added["CapBnd"], 16) == mask


def proc_status_of_exec(rt, cid, *flags):
    out = exec_out(rt, cid, "cat", "/proc/self/status", flags=flags)
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_no_new_privs_flag(rt, running, cid):
    running(process={"noNewPrivileges": False})
    assert proc_status_of_exec(rt, cid)["NoNewPrivs"].strip() == "0"
    assert proc_status_of_exec(rt, cid, "--no-new-privs")["NoNewPrivs"].strip() == "1"


def test_rlimits_of_the_container_apply(rt, running, cid):
    running(process={"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]})
    limits = exec_out(rt, cid, "cat", "/proc/self/limits")
    line = next(l for l in limits.splitlines() if l.startswith("Max open files"))
    assert line.split()[3:5] == ["123", "456"]


def test_the_seccomp_filter_of_the_container_applies(rt, running, cid):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    running(linux={"seccomp": profile})
    result = rt("exec", cid, "mkdir", "/tmp/blocked", check=False)
    assert result.returncode != 0
    assert "Operation not permitted" in result.stderr
    assert exec_out(rt, cid, "sh", "-c", "test -e /tmp/blocked || echo absent").strip() == "absent"


def test_process_file(rt, running, cid, tmp_path):
    running()
    process = {"args": ["sh", "-c", "echo $FROM_FILE; pwd; id -u"], "env": ["FROM_FILE=yes", "PATH=/bin"],
               "cwd": "/etc", "user": {"uid": 42, "gid": 42}}
    path = tmp_path / "process.json"
    path.write_text(json.dumps(process))
    assert exec_out(rt, cid, flags=("--process", path)).split() == ["yes", "/etc", "42"]


def test_a_bad_process_file_names_the_field(rt, running, cid, tmp_path):
    running()
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": [], "cwd": "/"}))
    result = rt("exec", "--process", path, cid, check=False, log=True)
    assert_error(result, "process.json", "args", log=rt.log, status=EXEC_FAILED)


def test_preserved_fds_reach_the_process(rt, running, cid, tmp_path):
    running()
    target = tmp_path / "fd3.out"
    listing = tmp_path / "listing.out"
    env = dict(os.environ, FD3=str(target))
    with open(str(listing), "w") as out:
        result = run_through_shell(rt, ["bash", "-c", 'exec "$@" 3>"$FD3"', "bash"],
                                   ["exec", "--preserve-fds", "1", cid, "sh", "-c",
                                    "echo via-fd3 >&3; ls /proc/self/fd"], env, out, "preserve")
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "via-fd3\n"
    assert "3" in listing.read_text().split()


def test_tty_with_a_console_socket(rt, running, cid):
    running()
    receiver = ConsoleReceiver(rt.private_dir("mre-") / "console.sock")
    try:
        rt("exec", "--tty", "--detach", "--console-socket", receiver.path, "--user", "1000:1000", cid,
           "sh", "-c", "tty; stat -c %u /proc/self/fd/0; read line; echo got:$line")
        master = receiver.receive()[0]
        out = read_until(master, r"\d+\r?\n\d+\r?\n")
        lines = out.decode().split()
        assert lines[0].startswith("/dev/pts/")
        assert lines[1] == "1000"  # the terminal belongs to the process user
        os.write(master, b"typed\n")
        assert b"got:typed" in read_until(master, "got:typed")
    finally:
        receiver.close()


def test_tty_in_the_foreground_is_relayed(rt, running, cid):
    running()
    out = rt("exec", "-t", cid, "sh", "-c", "tty; echo done").stdout
    assert "/dev/pts/" in out and "done" in out


# -- hardening ----------------------------------------------------------------

def test_no_host_fd_and_no_host_cwd_reach_the_process(rt, running, cid, tmp_path):
    init = running()
    pid = detached(rt, cid, tmp_path, cid, "sleep", "1000")
    fds = sorted(int(n) for n in os.listdir("/proc/%d/fd" % pid))
    assert fds == [0, 1, 2], fds
    assert os.readlink("/proc/%d/cwd" % pid) == "/"
    cwd, root = os.stat("/proc/%d/cwd" % pid), os.stat("/proc/%d/root" % init)
    assert (cwd.st_dev, cwd.st_ino) == (root.st_dev, root.st_ino)


def test_fds_the_caller_leaks_into_exec_do_not_reach_the_process(rt, running, cid, tmp_path):
    """A caller that hands exec fds 3 and 4 without --preserve-fds (a shim's
    careless fork): the process holds only its stdio, never a host file."""
    running()
    leak = tmp_path / "host-secret"
    leak.write_text("")
    listing = tmp_path / "listing.out"
    env = dict(os.environ, LEAK=str(leak))
    with open(str(listing), "w") as out:
        result = run_through_shell(rt, ["bash", "-c", 'exec "$@" 3>"$LEAK" 4<"$LEAK"', "bash"],
                                   ["exec", cid, "ls", "-l", "/proc/self/fd"], env, out, "leak")
    assert result.returncode == 0, result.stderr
    text = listing.read_text()
    # 0, 1, 2 and the directory ls itself reads (listed as 3, closed before
    # its readlink: no "->")
    assert sorted(re.findall(r"\s(\d+) -> ", text)) == ["0", "1", "2"], text
    assert "host-secret" not in text, text


def test_cwd_through_a_preserved_host_directory_is_refused(rt, running, cid, tmp_path):
    """CVE-2024-21626: --cwd /proc/self/fd/3 with a host directory passed on fd 3."""
    running()
    victim = tmp_path / "victim"
    victim.mkdir()
    env = dict(os.environ, VICTIM=str(victim))
    result = run_through_shell(rt, ["bash", "-c", 'exec "$@" 3<"$VICTIM"', "bash"],
                               ["exec", "--preserve-fds", "1", "--cwd", "/proc/self/fd/3", cid, "ls"],
                               env, subprocess.DEVNULL, "cwd-fd")
    assert result.returncode != 0
    assert "outside" in result.stderr, result.stderr


USERNS = {
    "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "user")],
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


@pytest.mark.skipif(IS_RUNC, reason="the blocking point (a FIFO at /etc/passwd read for HOME) is minirun's")
def test_the_joining_runtime_process_cannot_be_reached(rt, make_bundle, rootfs, syscall_probe, cid):
    """CVE-2019-5736: while exec's runtime process stands inside the container
    (here: blocked opening the image's /etc/passwd, a FIFO the attacker
    made), a container process cannot open its /proc/PID/exe.

    The container has a user namespace and every capability in it: after
    setns() the runtime process holds the same capabilities there, so the
    kernel's capability and uid checks let the attacker through and only the
    runtime's non-dumpable state stands in the way."""
    install_probe(rootfs, syscall_probe)
    top = rt.private_dir()  # reachable by the mapped root, unlike pytest's 0700 tree
    dest, shared = top / "rootfs", top / "shared"
    subprocess.run(["cp", "-a", str(rootfs), str(dest)], check=True)
    subprocess.run(["chown", "-R", "-h", "100000:100000", str(dest)], check=True)
    shared.mkdir()
    os.chmod(str(shared), 0o777)
    watcher = ("while [ ! -e /shared/go ]; do sleep 0.05; done; P=$(cat /shared/go); "
               "%s open:/proc/$P/exe:r open:/proc/$P/exe:p reopen:/proc/$P/exe open:/proc/$P/mem:r "
               "> /shared/out 2>&1; touch /shared/done; exec sleep 1000" % PROBE)
    caps = host_bounding_caps()
    bundle = make_bundle(["sh", "-c", watcher], root={"path": str(dest)}, linux=USERNS,
                         extra_mounts=[bind_mount(shared, "/shared")],
                         process={"env": ["PATH=/bin", "HOME=/root"], "noNewPrivileges": False,
                                  "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}})
    rt("run", "--detach", "--bundle", bundle, cid)
    init = rt.state(cid)["pid"]
    os.unlink(str(dest / "etc" / "passwd"))
    os.mkfifo(str(dest / "etc" / "passwd"), 0o644)
    process = rt.tmp / "process.json"  # no HOME: exec reads the image's passwd for it
    process.write_text(json.dumps({"args": ["true"], "env": ["PATH=/bin"], "cwd": "/"}))
    proc = rt.popen("exec", "--process", process, cid)

    def joined():
        for p in pids_in_pidns_of(init):
            try:
                cmdline = open("/proc/%d/cmdline" % p, "rb").read()
            except OSError:  # it exited since it was listed
                continue
            if b"minirun" in cmdline and b"\x00exec\x00" in cmdline:
                return p
        return None

    wait_for(lambda: joined() is not None, what="exec's process to enter the container")
    inner = proc_status(joined())["NSpid"].split()[-1]
    (shared / "go.new").write_text(inner)
    os.rename(str(shared / "go.new"), str(shared / "go"))   # the watcher must never read it half written
    wait_for(lambda: (shared / "done").exists(), what="the attack")
    results = probe_results((shared / "out").read_text())
    assert len(results) == 4, results
    assert {op: res for op, res in results.items() if res not in ("-EACCES", "-EPERM")} == {}
    with open(str(dest / "etc" / "passwd"), "w") as fifo:  # let it go on
        fifo.write("root:x:0:0:root:/root:/bin/sh\n")
    assert rt.finish(proc).returncode == 0
