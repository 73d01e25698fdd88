"""Sections 1, 8, 11, 12 and 14: the unprivileged pieces of create, exec and the init.

check_host_paths, the executable lookup and environment of the
container process, waiting for an exit, and the cgroup mount plan, each on
real files, sockets and processes.
"""

import json
import os
import subprocess
import sys

import pytest

import minirun

from .helpers import base_config

# --- check_host_paths -----------------------------------------------------------------


def host_config(tmp_path, **overrides):
    (tmp_path / "config.json").write_text(json.dumps(base_config(**overrides)))
    return minirun.load_config(str(tmp_path))


def test_check_host_passes_when_the_rootfs_and_bind_sources_exist(tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "data").mkdir()
    cfg = host_config(tmp_path, mounts=[{"destination": "/proc", "type": "proc", "source": "proc"},
                                        {"destination": "/data", "type": "bind", "source": "data"}])
    minirun.check_host_paths(cfg, minirun.Host())


def test_check_host_refuses_a_missing_rootfs_naming_root_path(tmp_path):
    cfg = host_config(tmp_path)
    with pytest.raises(minirun.Error) as caught:
        minirun.check_host_paths(cfg, minirun.Host())
    assert str(caught.value).startswith("root.path: ") and str(tmp_path / "rootfs") in str(caught.value)


def test_check_host_refuses_a_missing_bind_source_naming_the_mount(tmp_path):
    (tmp_path / "rootfs").mkdir()
    cfg = host_config(tmp_path, mounts=[{"destination": "/proc", "type": "proc"},
                                        {"destination": "/data", "type": "bind", "source": "missing"}])
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.check_host_paths(cfg, minirun.Host())
    assert caught.value.field == "mounts[1].source"
    assert str(tmp_path / "missing") in str(caught.value)


def test_check_host_refuses_a_filesystem_type_the_kernel_does_not_know(tmp_path):
    (tmp_path / "rootfs").mkdir()
    cfg = host_config(tmp_path, mounts=[{"destination": "/x", "type": "nosuchfs"}])
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.check_host_paths(cfg, minirun.Host())
    assert caught.value.field == "mounts[0].type" and "nosuchfs" in str(caught.value)


# --- the container process: executable lookup and environment ---------------------


def test_find_executable_searches_path_in_order(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for directory in (first, second):
        directory.mkdir()
        (directory / "tool").write_text("#!/bin/sh\n")
        (directory / "tool").chmod(0o755)
    (first / "tool").chmod(0o644)  # not executable: skipped
    env = {"PATH": "%s:%s" % (first, second)}
    assert minirun.find_executable("tool", env) == str(second / "tool")


def test_find_executable_reports_a_missing_command_as_go_does():
    with pytest.raises(minirun.Error) as caught:
        minirun.find_executable("no-such-command-xyz", {"PATH": "/usr/bin:/bin"})
    assert str(caught.value) == 'exec: "no-such-command-xyz": executable file not found in $PATH'


def test_find_executable_takes_a_path_with_a_slash_as_is(tmp_path):
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert minirun.find_executable(str(tool), {}) == str(tool)


def test_find_executable_reports_a_missing_path_with_stat_wording(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(minirun.Error) as caught:
        minirun.find_executable(missing, {})
    assert str(caught.value) == 'exec: "%s": stat %s: no such file or directory' % (missing, missing)


def test_find_executable_refuses_a_directory_as_permission_denied(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.find_executable(str(tmp_path), {})
    assert "permission denied" in str(caught.value)


class Proc:
    """What process_environment reads of a ProcessPlan."""

    def __init__(self, env, uid=0):
        self.env = env
        self.uid = uid


def test_process_environment_applies_entries_in_order_extra_entries_last():
    # plan_process appends the extra entries (LISTEN_FDS) after the config's own.
    env = minirun.process_environment(Proc(["A=1", "B=2", "A=3", "HOME=/h", "LISTEN_FDS=2"]))
    assert env == {"A": "3", "B": "2", "HOME": "/h", "LISTEN_FDS": "2"}
    assert list(env) == ["A", "B", "HOME", "LISTEN_FDS"]


def test_process_environment_keeps_values_containing_equals():
    assert minirun.process_environment(Proc(["OPTS=a=b=c", "HOME=/"]))["OPTS"] == "a=b=c"


def test_home_defaults_to_the_passwd_entry_of_the_uid_or_slash():
    with open("/etc/passwd") as passwd:
        entries = [line.rstrip("\n").split(":") for line in passwd if line.count(":") >= 6]
    uid, home = int(entries[0][2]), entries[0][5] or "/"
    assert minirun.process_environment(Proc([], uid=uid))["HOME"] == home
    unused = max(int(e[2]) for e in entries) + 12345
    assert minirun.lookup_user(unused) is None
    assert minirun.process_environment(Proc([], uid=unused))["HOME"] == "/"


def test_lookup_user_reads_name_and_home_from_the_given_passwd_file(tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/false\n")
    assert minirun.lookup_user(0, str(passwd)) == ("root", "/root")
    assert minirun.lookup_user(65534, str(passwd)) == ("nobody", "/nonexistent")
    assert minirun.lookup_user(42, str(passwd)) is None


# --- waiting for a process ------------------------------------------------------


def test_wait_for_exit_times_out_on_a_live_process_and_sees_its_death():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert minirun.wait_for_exit(child.pid, 0.05) is False
        child.kill()
        assert minirun.wait_for_exit(child.pid, 5) is True  # exited, not yet reaped
    finally:
        child.kill()
        child.wait()
    assert minirun.wait_for_exit(child.pid, 0.05) is True  # gone entirely


def test_lift_fd_moves_a_low_fd_above_the_floor_and_keeps_it_open(tmp_path):
    fd = os.open(str(tmp_path), os.O_RDONLY)
    lifted = minirun.lift_fd(fd, 100)
    try:
        assert lifted >= 100
        assert os.path.samestat(os.fstat(lifted), os.stat(str(tmp_path)))
        assert not os.get_inheritable(lifted)
        if lifted != fd:
            with pytest.raises(OSError):
                os.fstat(fd)
    finally:
        os.close(lifted)


# --- cgroups and devices --------------------------------------------------------


def test_cgroup_mount_plan_matches_this_hosts_cgroup_layout():
    with open("/proc/self/mountinfo") as info:
        mounts = [line.split() for line in info]
    unified = any(f[4] == "/sys/fs/cgroup" and f[f.index("-") + 1] == "cgroup2" for f in mounts)
    plan = minirun.plan_cgroup_mount()
    if unified:
        assert plan == ("v2", None, None)
    else:
        kind, binds, links = plan
        assert kind == "v1"
        for name, host_dir in binds:
            assert host_dir.startswith("/sys/fs/cgroup/" + name)
        assert all(isinstance(link, tuple) and len(link) == 2 for link in links)


def test_default_devices_are_the_six_runc_creates_with_mode_0666():
    devices = minirun.default_devices()
    assert [(d.path, d.major, d.minor) for d in devices] == list(minirun.DEFAULT_DEVICES)
    assert {(d.kind, d.mode, d.uid, d.gid) for d in devices} == {("c", 0o666, 0, 0)}


# --- create options ---------------------------------------------------------------


def test_create_options_decode_the_flags_with_runc_defaults():
    opts = minirun.create_options({})
    assert (opts.bundle, opts.pid_file, opts.console_socket, opts.preserve_fds, opts.no_pivot) == \
        (".", None, None, 0, False)
    opts = minirun.create_options({"bundle": "/b", "preserve-fds": "3", "no-pivot": True})
    assert (opts.bundle, opts.preserve_fds, opts.no_pivot) == ("/b", 3, True)


def test_create_options_refuse_a_non_numeric_preserve_fds():
    with pytest.raises(minirun.UsageError):
        minirun.create_options({"preserve-fds": "-1"})


def test_owner_name_is_the_passwd_name_of_the_owner_or_a_number(tmp_path):
    with open("/etc/passwd") as passwd:
        names = {int(f[2]): f[0] for f in (line.split(":") for line in passwd) if len(f) > 2}
    expected = names.get(os.geteuid(), "#%d" % os.geteuid())
    assert minirun.owner_name(str(tmp_path)) == expected


# --- a foreground process's stdio: the relay ---------------------------------------


def stdio_kind(fd):
    mode = os.fstat(fd).st_mode
    return minirun.stdio_needs_relay(mode, os.readlink("/proc/self/fd/%d" % fd))


def test_only_the_callers_anonymous_pipes_and_sockets_reach_the_process_unchanged(tmp_path):
    import socket

    read_end, write_end = os.pipe()
    left, right = socket.socketpair()
    os.mkfifo(str(tmp_path / "fifo"))
    fifo = os.open(str(tmp_path / "fifo"), os.O_RDWR)
    regular = os.open(str(tmp_path / "file"), os.O_RDWR | os.O_CREAT)
    null = os.open("/dev/null", os.O_RDWR)
    try:
        assert not stdio_kind(read_end) and not stdio_kind(write_end)
        assert not stdio_kind(left.fileno())
        # a named FIFO's inode is a host file (chmod through /proc reaches it)
        assert stdio_kind(fifo)
        assert stdio_kind(regular) and stdio_kind(null)
    finally:
        for fd in (read_end, write_end, fifo, regular, null):
            os.close(fd)
        left.close()
        right.close()


# A runtime in miniature: the relay between its stdio (files) and `sh -c
# SCRIPT`, whose stdio are the relay's pipes; exits with the process's status.
RELAY_DRIVER = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
import minirun
relay = minirun.stdio_relay()
relay.open(10)
actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in relay.container_ends.items()]
pid = os.posix_spawn("/bin/sh", ["sh", "-c", sys.argv[2]], os.environ, file_actions=actions,
                     setsigdef=(13,))  # SIGPIPE, which Python ignores, as the init's setup does
for fd in relay.container_ends.values():
    os.close(fd)
sys.exit(minirun.wait_in_foreground(pid, None, relay))
"""


def relayed(tmp_path, script, stdin_bytes=b""):
    """(exit code, stdout bytes, stderr bytes) of `script` run behind the
    relay, its stdio on host files."""
    (tmp_path / "in").write_bytes(stdin_bytes)
    with open(str(tmp_path / "in"), "rb") as stdin, open(str(tmp_path / "out"), "wb") as out, \
            open(str(tmp_path / "err"), "wb") as err:
        code = subprocess.run([sys.executable, "-c", RELAY_DRIVER, os.path.dirname(minirun.__file__), script],
                              stdin=stdin, stdout=out, stderr=err, cwd=str(tmp_path), timeout=60).returncode
    return code, (tmp_path / "out").read_bytes(), (tmp_path / "err").read_bytes()


def test_the_relay_carries_stdin_to_its_eof_and_output_byte_for_byte(tmp_path):
    data = bytes(range(256)) * 8192  # 2 MB
    code, out, err = relayed(tmp_path, "cat; echo done >&2; exit 3", data)
    assert (code, out, err) == (3, data, b"done\n")


def test_the_process_sees_pipes_not_the_callers_files(tmp_path):
    code, out, _err = relayed(tmp_path, "readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2")
    assert code == 0
    assert [line.startswith(b"pipe:[") for line in out.split()] == [True, True, True], out


def test_a_process_that_never_reads_its_stdin_is_not_waited_on(tmp_path):
    code, out, _err = relayed(tmp_path, "echo ignored", b"x" * (1 << 20))
    assert (code, out) == (0, b"ignored\n")


def test_what_the_process_wrote_before_it_exited_is_copied_and_a_child_holding_the_pipe_is_not_waited_for(
        tmp_path):
    code, out, _err = relayed(tmp_path, "sleep 1000 & echo $! > pid; head -c 100000 /dev/zero; exit 4")
    try:
        assert (code, out) == (4, b"\0" * 100000)
    finally:
        os.kill(int((tmp_path / "pid").read_text()), 9)


def test_a_death_by_signal_is_128_plus_it(tmp_path):
    code, out, _err = relayed(tmp_path, "echo x; kill -TERM $$")
    assert (code, out) == (128 + 15, b"x\n")


def relay_to_fifo(tmp_path, script, nonblocking=False, keep=None):
    """Run `script` behind the relay, its stdout on a named FIFO (a file:
    relayed) that this test reads: all of it, or `keep` bytes before it
    closes its end. (exit code, bytes read)."""
    fifo = str(tmp_path / "fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    writer = os.open(fifo, os.O_WRONLY | (os.O_NONBLOCK if nonblocking else 0))
    os.set_blocking(reader, True)
    try:
        proc = subprocess.Popen([sys.executable, "-c", RELAY_DRIVER, os.path.dirname(minirun.__file__), script],
                                stdin=subprocess.DEVNULL, stdout=writer, cwd=str(tmp_path))
        os.close(writer)
        writer = None
        data = b""
        while keep is None or len(data) < keep:
            chunk = os.read(reader, 4096 if keep is None else keep - len(data))
            if not chunk:
                break
            data += chunk
        os.close(reader)
        reader = None
        return proc.wait(timeout=60), data
    finally:
        for fd in (reader, writer):
            if fd is not None:
                os.close(fd)


def test_when_the_callers_stdout_goes_away_the_process_gets_sigpipe(tmp_path):
    code, data = relay_to_fifo(tmp_path, "yes", keep=10)
    assert (code, data) == (128 + 13, b"y\n" * 5)


def test_a_callers_stdout_left_non_blocking_gets_every_byte(tmp_path):
    code, data = relay_to_fifo(tmp_path, "head -c 1000000 /dev/zero", nonblocking=True)
    assert (code, data) == (0, b"\0" * 1000000)
