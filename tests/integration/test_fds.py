"""File descriptors: fds above 2 that the caller leaks into `create` (a shim
leaks a socket on fd 3) are closed before the user process starts, unless
`--preserve-fds N` (or LISTEN_FDS) keeps them; without a terminal, fds 0/1/2
of a detached runtime (create, run -d, exec -d) *are* the container's stdio,
while a foreground `run` or `exec` hands the process pipes in place of host
files (see the last part)."""

import os
import re
import signal
import select
import subprocess
import time

import pytest

from .helpers import IS_RUNC, DEFAULT_TIMEOUT, assert_no_traceback, run_through_shell

# run the runtime with fds 3 and 4 open on two files
WITH_FDS = ('if [ -n "$LISTEN_FDS" ]; then export LISTEN_PID=$$; fi; '
            'exec "$@" 3<"$FD3" 4<"$FD4"')


@pytest.fixture
def fd_files(tmp_path):
    paths = []
    for n in (3, 4):
        p = tmp_path / ("leak%d" % n)
        p.write_text("content-%d\n" % n)
        paths.append(p)
    return paths


def runtime_with_fds(rt, fd_files, *args, stdout, **env_extra):
    """Run the runtime with fds 3 and 4 open.  stderr goes to a file: the
    container keeps it, so a pipe would not see EOF while it lives."""
    env = dict(os.environ, FD3=str(fd_files[0]), FD4=str(fd_files[1]), **env_extra)
    result = run_through_shell(rt, ["/bin/sh", "-c", WITH_FDS, "sh"], args, env, stdout, "with-fds")
    assert result.returncode == 0, result.stderr
    return result


def create_start_collect(rt, fd_files, bundle, cid, tmp_path, *create_flags):
    out_path = tmp_path / ("%s.out" % cid)
    with open(str(out_path), "w") as out:
        runtime_with_fds(rt, fd_files, "create", *create_flags, "--bundle", bundle, cid,
                         stdout=out)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    return out_path.read_text()


def test_leaked_fds_are_closed(rt, make_bundle, fd_files, cid, tmp_path):
    bundle = make_bundle(["ls", "-l", "/proc/self/fd"])
    out = create_start_collect(rt, fd_files, bundle, cid, tmp_path)
    fds = set(re.findall(r"\s(\d+) -> ", out))
    assert "leak3" not in out and "leak4" not in out
    # 0, 1, 2 and the directory ls itself has open
    # (the directory ls reads is listed as 3, closed before its readlink: no "->")
    assert fds == {"0", "1", "2"}, out


def test_preserve_fds(rt, make_bundle, fd_files, cid, tmp_path):
    bundle = make_bundle(["sh", "-c", "cat <&3; cat <&4; ls /proc/self/fd"])
    out = create_start_collect(rt, fd_files, bundle, cid, tmp_path, "--preserve-fds", "2")
    lines = out.split()
    assert lines[:2] == ["content-3", "content-4"]
    # 3 and 4 kept, 5 the directory ls reads
    assert sorted(lines[2:]) == ["0", "1", "2", "3", "4", "5"]


def test_preserve_fds_equals_form_keeps_only_n(rt, make_bundle, fd_files, cid, tmp_path):
    bundle = make_bundle(["sh", "-c", "cat <&3; cat <&4 2>/dev/null || echo fd4-closed"])
    out = create_start_collect(rt, fd_files, bundle, cid, tmp_path, "--preserve-fds=1")
    assert out.split() == ["content-3", "fd4-closed"]


def test_listen_fds_are_passed(rt, make_bundle, fd_files, cid, tmp_path):
    """systemd socket activation: with LISTEN_FDS=N and LISTEN_PID=<runtime
    pid> in the runtime's environment, fds 3..3+N-1 are kept and the process
    gets LISTEN_FDS=N (and LISTEN_PID=1)."""
    bundle = make_bundle(["sh", "-c", "cat <&3; echo LISTEN_FDS=$LISTEN_FDS"])
    out_path = tmp_path / "out"
    with open(str(out_path), "w") as out:
        runtime_with_fds(rt, fd_files, "create", "--bundle", bundle, cid, stdout=out,
                         LISTEN_FDS="1")
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    assert out_path.read_text().split() == ["content-3", "LISTEN_FDS=1"]


def read_pipe_to_eof(fd, timeout=DEFAULT_TIMEOUT):
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "pipe never reached EOF; got %r" % data
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                return data
            data += chunk


def test_create_stdio_is_handed_over_unchanged(rt, make_bundle, cid):
    """The container's fd 1 and 2 are the very pipes given to `create`."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        bundle = make_bundle(["sh", "-c", "readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2; "
                                          "echo to-stdout; echo to-stderr >&2"])
        rt("create", "--bundle", bundle, cid, stdout=out_w, stderr=err_w)
        out_ino, err_ino = os.fstat(out_w).st_ino, os.fstat(err_w).st_ino
        os.close(out_w)
        os.close(err_w)
        out_w = err_w = None
        rt("start", cid)
        out = read_pipe_to_eof(out_r).decode().split()
        err = read_pipe_to_eof(err_r).decode().split()
    finally:
        for fd in (out_r, err_r, out_w, err_w):
            if fd is not None:
                os.close(fd)
    assert out == ["pipe:[%d]" % out_ino, "to-stdout"]
    assert err == ["pipe:[%d]" % err_ino, "to-stderr"]
    rt.wait_status(cid, "stopped")


def test_run_stdio_pipes(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "cat; echo out; echo err >&2"])
    argv = rt.argv("run", "--bundle", bundle, cid)
    result = subprocess.run(argv, input="from-stdin\n", stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=DEFAULT_TIMEOUT, cwd=str(rt.tmp))
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "from-stdin\nout\n"
    assert "err" in result.stderr.split()


def test_run_large_output_through_a_pipe(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x"])
    argv = rt.argv("run", "--bundle", bundle, cid)
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, timeout=DEFAULT_TIMEOUT, cwd=str(rt.tmp))
    assert result.returncode == 0
    assert result.stdout == b"x" * 1000000


LIBFFI_OBJECT = re.compile(r"/libffi\.so(\.[0-9]+)*$")


def test_the_created_init_holds_only_stdio_and_the_exec_fifo(rt, make_bundle, cid, tmp_path):
    """While the container waits for `start`, its init holds fds 0-2 (create's
    stdio), the exec fifo and start.error, nothing else: above all no end of the socket
    create talks to its children over. Had the init kept create's end, it
    would never see EOF when create dies early, and would block forever."""
    bundle = make_bundle(["true"])
    stdio = {}
    with open(str(tmp_path / "stdout"), "w") as out, open(str(tmp_path / "stderr"), "w") as err:
        rt("create", "--bundle", bundle, cid, stdout=out, stderr=err)
        stdio = {1: os.path.realpath(out.name), 2: os.path.realpath(err.name)}
    init = rt.state(cid)["pid"]
    fds = {int(n): os.readlink("/proc/%d/fd/%s" % (init, n)) for n in os.listdir("/proc/%d/fd" % init)}
    assert fds.get(0) == "/dev/null", fds
    assert fds.get(1) == stdio[1] and fds.get(2) == stdio[2], fds
    others = {n: target for n, target in fds.items() if n > 2}
    assert not [t for t in others.values() if t.startswith("socket:")], others
    if IS_RUNC:
        # runc's init is a Go program: it also holds the Go runtime's own
        # netpoller (an eventpoll and its wake-up pipe)
        return
    # libffi 3.4+ with static trampolines (Python 3.13 and later on Debian)
    # keeps its own shared object open to map the trampolines of ctypes
    # callbacks, clone's among them: the init inherits that read-only fd from
    # create. It is closed with every other fd just before execve
    # (test_leaked_fds_are_closed shows the process holds none).
    others = {n: target for n, target in others.items() if not LIBFFI_OBJECT.search(target)}
    # Besides the exec fifo, the file in the container's state directory where
    # the init reports a failure after create has gone (a startContainer hook,
    # execve), which `start` reads: both close-on-exec.
    assert sorted(os.path.basename(t) for t in others.values()) == ["exec.fifo", "start.error"], others
    assert {os.path.dirname(t) for t in others.values()} == {str(rt.root / cid)}, others


# -- a foreground process's stdio: never a host file ----------------------------
# `run` and `exec` without --detach and without a terminal: when the caller's
# stdio is a host file or device, the process gets a pipe of the runtime's
# instead (runc's setupProcessPipes), so it cannot reopen /proc/self/fd/N
# into the host file (O_TRUNC, read it whole, chmod it) or reach the
# caller's terminal. The attacks below run as the container's root.

HOST_SECRET = "host-secret-line\n"

# Reopen the caller's stdout and stderr through /proc: truncate them, read
# them, chmod them; stdout and stderr carry what was found.
REOPEN_OUTPUT = (
    "echo first; echo first-err >&2; "
    "for n in 1 2; do "
    "  if [ -f /proc/self/fd/$n ]; then echo \"leak$n: $(cat /proc/$$/fd/$n)\"; fi; "
    "  chmod 0 /proc/self/fd/$n; echo truncated-$n > /proc/self/fd/$n; "
    "done; echo last; echo last-err >&2")


def foreground(rt, verb_args, stdin, stdout, stderr):
    """Run the runtime in the foreground on the given stdio, as a shell's
    redirections would; its exit code."""
    argv = rt.argv(*verb_args)
    rt.calls.append(argv)
    return subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                          timeout=DEFAULT_TIMEOUT, cwd=str(rt.tmp)).returncode


def host_file(path, text):
    path.write_text(text)
    os.chmod(str(path), 0o644)
    return path


@pytest.fixture(params=["run", "exec"])
def foreground_verb(request, rt, make_bundle, cid):
    """The argv of a foreground `run` or `exec` of a command."""
    if request.param == "run":
        return lambda *command: ["run", "--bundle", make_bundle(list(command)), cid]
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    return lambda *command: ["exec", cid] + list(command)


def test_a_foreground_process_cannot_reopen_host_output_files(rt, foreground_verb, tmp_path):
    out = host_file(tmp_path / "out", HOST_SECRET)
    err = host_file(tmp_path / "err", HOST_SECRET)
    with open(str(out), "a") as out_handle, open(str(err), "a") as err_handle:
        code = foreground(rt, foreground_verb("sh", "-c", REOPEN_OUTPUT),
                          subprocess.DEVNULL, out_handle, err_handle)
    assert code == 0
    # appended to, never truncated, and holding only what went through stdout
    # (a write to the reopened /proc/self/fd/1 is a write to the same pipe)
    assert out.read_text() == HOST_SECRET + "first\ntruncated-1\nlast\n"
    assert err.read_text() == HOST_SECRET + "first-err\ntruncated-2\nlast-err\n"
    assert os.stat(str(out)).st_mode & 0o777 == 0o644
    assert os.stat(str(err)).st_mode & 0o777 == 0o644


def test_a_foreground_process_cannot_reopen_a_host_input_file(rt, foreground_verb, tmp_path):
    """The caller hands stdin on a host file, already past a line the process
    is not meant to see: the process reads the rest and its EOF, but cannot
    reopen the file (from offset 0, or to truncate it)."""
    given = host_file(tmp_path / "in", "secret-header\nline1\nline2\n")
    out = tmp_path / "out"
    script = ("cat; echo --; cat /proc/self/fd/0; "
              "echo pwned > /proc/self/fd/0; chmod 0 /proc/self/fd/0; echo done")
    with open(str(given)) as stdin, open(str(out), "w") as out_handle:
        stdin.readline()
        os.lseek(stdin.fileno(), len("secret-header\n"), os.SEEK_SET)
        code = foreground(rt, foreground_verb("sh", "-c", script), stdin, out_handle, subprocess.DEVNULL)
    assert code == 0
    assert out.read_text() == "line1\nline2\n--\ndone\n"
    assert given.read_text() == "secret-header\nline1\nline2\n"
    assert os.stat(str(given)).st_mode & 0o777 == 0o644


@pytest.mark.skipif(IS_RUNC, reason="runc hands a foreground process its own pipes whatever the caller's stdio is")
def test_a_foreground_process_gets_pipes_for_host_files_and_the_callers_pipes_and_sockets(rt, foreground_verb,
                                                                                           tmp_path):
    """A pipe or a socket of the caller passes through unchanged: reopened
    through /proc it is that same pipe (or, a socket, cannot be opened), and
    fd operations on it touch no host file. Anything else (a regular file,
    /dev/null, a terminal, a named FIFO) is replaced by a pipe."""
    import socket

    out_r, out_w = os.pipe()
    sock, peer = socket.socketpair()
    errors = tmp_path / "err"
    try:
        with open(str(errors), "w") as err_handle:
            code = foreground(rt, foreground_verb("sh", "-c", "for n in 0 1 2; do readlink /proc/self/fd/$n; done"),
                              sock.fileno(), out_w, err_handle)
        os.close(out_w)
        out_w = None
        links = read_pipe_to_eof(out_r).decode().split()
        in_ino, out_ino = os.fstat(sock.fileno()).st_ino, os.fstat(out_r).st_ino
    finally:
        for fd in (out_r, out_w):
            if fd is not None:
                os.close(fd)
        sock.close()
        peer.close()
    assert code == 0, errors.read_text()
    assert links[:2] == ["socket:[%d]" % in_ino, "pipe:[%d]" % out_ino]
    assert links[2].startswith("pipe:[") and links[2] != links[1]


@pytest.mark.parametrize("code", [0, 3])
def test_exit_codes_through_the_relay(rt, foreground_verb, tmp_path, code):
    with open(str(tmp_path / "out"), "w") as out_handle:
        assert foreground(rt, foreground_verb("sh", "-c", "echo x; exit %d" % code),
                          subprocess.DEVNULL, out_handle, out_handle) == code
    assert (tmp_path / "out").read_text() == "x\n"


def test_a_death_by_signal_through_the_relay(rt, make_bundle, cid, tmp_path):
    """(`run`'s init cannot kill itself in its pid namespace: test_run.py
    kills it with `kill`, its stdio on files, so through the relay too.)"""
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    with open(str(tmp_path / "out"), "w") as out_handle:
        code = foreground(rt, ["exec", cid, "sh", "-c", "echo x; kill -KILL $$"],
                          subprocess.DEVNULL, out_handle, out_handle)
    assert code == 128 + signal.SIGKILL
    assert (tmp_path / "out").read_text() == "x\n"


def test_large_output_and_input_pass_the_relay_intact(rt, foreground_verb, tmp_path):
    """10 MB of stdin from a host file comes back on stdout to a host file,
    byte for byte, with stderr beside it; cat sees its stdin's EOF."""
    data = bytes(range(256)) * (10 * 4096)
    (tmp_path / "in").write_bytes(data)
    out, err = tmp_path / "out", tmp_path / "err"
    with open(str(tmp_path / "in"), "rb") as stdin, open(str(out), "wb") as out_handle, \
            open(str(err), "wb") as err_handle:
        code = foreground(rt, foreground_verb("sh", "-c", "echo start >&2; cat; echo end >&2"),
                          stdin, out_handle, err_handle)
    assert code == 0
    assert out.read_bytes() == data
    assert err.read_text() == "start\nend\n"


@pytest.mark.skipif(IS_RUNC, reason="runc copies until the pipe's EOF, which the background child holds off")
def test_a_background_child_holding_stdout_does_not_hold_the_runtime(rt, make_bundle, cid, tmp_path):
    """The process exits, a child of it keeps stdout open: `exec` copies
    what the process wrote and returns with its status (runc would wait for
    the pipe's EOF)."""
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    out = tmp_path / "out"
    with open(str(out), "w") as out_handle:
        code = foreground(rt, ["exec", cid, "sh", "-c", "echo before; sleep 1000 & echo after; exit 5"],
                          subprocess.DEVNULL, out_handle, subprocess.DEVNULL)
    assert code == 5
    assert out.read_text() == "before\nafter\n"
