"""process.terminal: with `--console-socket` the runtime sends exactly one fd,
the pty master, over the AF_UNIX socket; the pty slave is the process's stdio
and /dev/console.  `run` in the foreground proxies a pty of its own."""

import fcntl
import os
import re
import struct

import pytest

from .helpers import ConsoleReceiver, assert_error, base_config, read_all, read_until, wait_for

TIOCGPTN = 0x80045430


@pytest.fixture
def console(rt):
    receivers = []

    def make():
        path = rt.private_dir("mrc-") / "console.sock"
        receiver = ConsoleReceiver(path)
        receivers.append(receiver)
        return receiver

    yield make
    for receiver in receivers:
        receiver.close()


def create_with_console(rt, make_bundle, console, cid, args, **overrides):
    process = dict(overrides.pop("process", {}))
    process["terminal"] = True
    bundle = make_bundle(args, process=process, **overrides)
    receiver = console()
    rt("create", "--bundle", bundle, "--console-socket", receiver.path, cid)
    # a shim accepts only after `create` has exited
    fds = receiver.receive()
    return receiver, fds


def test_console_socket_receives_one_pty_master(rt, make_bundle, console, cid):
    receiver, fds = create_with_console(rt, make_bundle, console, cid, ["sleep", "100"])
    assert len(fds) == 1
    master = fds[0]
    # TIOCGPTN only works on a pty master
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    # a pty of the container's own devpts (newinstance): its first one
    assert number == 0
    assert rt.status(cid) == "created"


def test_console_io_tty_and_size(rt, make_bundle, console, cid):
    script = ("tty; stty size; test -c /dev/console && echo console-ok; "
              "read line; echo got:$line")
    receiver, fds = create_with_console(
        rt, make_bundle, console, cid, ["sh", "-c", script],
        process={"consoleSize": {"height": 40, "width": 100}})
    master = fds[0]
    rt("start", cid)
    # The whole line, before writing anything: the pty echoes our input at
    # once, and on some kernels (5.10) that echo can land before the rest of
    # an output line still in flight.
    out = read_until(master, r"console-ok\r?\n")
    lines = out.decode(errors="replace").replace("\r", "").splitlines()
    assert re.match(r"^/dev/pts/\d+$", lines[0]), lines
    assert lines[1] == "40 100"
    assert "console-ok" in lines
    os.write(master, b"xyz\n")
    read_until(master, "got:xyz")
    rt.wait_status(cid, "stopped")


def test_the_console_is_the_controlling_terminal_of_the_process(rt, make_bundle, console, cid):
    """The pty slave is the controlling terminal of the process's session:
    /dev/tty opens (ENXIO without one), and ^C typed on the console
    interrupts the foreground command, as `docker run -it` users expect."""
    # sleep runs as a child: the shell is pid 1 of the container, which the
    # kernel never lets a signal without a handler kill
    script = ("if echo via-dev-tty > /dev/tty; then echo ctty-ok; else echo ctty-missing; fi; "
              "sleep 100; echo sleep-ended-$?")
    receiver, fds = create_with_console(rt, make_bundle, console, cid, ["sh", "-c", script])
    master = fds[0]
    rt("start", cid)
    out = read_until(master, r"ctty-\w+\r?\n").decode(errors="replace").replace("\r", "").splitlines()
    assert out[-2:] == ["via-dev-tty", "ctty-ok"], out
    pid = rt.state(cid)["pid"]

    def sleeping_child():
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            for child in f.read().split():
                with open("/proc/%s/cmdline" % child, "rb") as cmdline:
                    if cmdline.read().startswith(b"sleep\0"):
                        return child
        return None

    wait_for(sleeping_child, what="the container's sleep")
    os.write(master, b"\x03")
    read_until(master, "sleep-ended-130")
    rt.wait_status(cid, "stopped")


def test_interactive_shell_over_the_console(rt, make_bundle, console, cid):
    receiver, fds = create_with_console(rt, make_bundle, console, cid, ["sh"])
    master = fds[0]
    rt("start", cid)
    os.write(master, b"echo hi-$((20+22))\n")
    read_until(master, "hi-42")
    os.write(master, b"exit\n")
    rt.wait_status(cid, "stopped")


def test_console_is_stdio_and_dev_console(rt, make_bundle, console, cid):
    script = ("for fd in 0 1 2; do readlink /proc/self/fd/$fd; done; "
              "stat -c %t:%T /dev/console; stat -L -c %t:%T $(tty); echo end-of-test")
    receiver, fds = create_with_console(rt, make_bundle, console, cid, ["sh", "-c", script])
    rt("start", cid)
    out = read_until(fds[0], "end-of-test").decode().replace("\r", "").split()
    fd0, fd1, fd2, console_dev, tty_dev = out[:5]
    assert re.match(r"^/dev/pts/\d+$", fd0)
    assert fd0 == fd1 == fd2
    assert console_dev == tty_dev
    rt.wait_status(cid, "stopped")


def test_terminal_without_console_socket_fails_cleanly(rt, make_bundle, cid):
    bundle = make_bundle(["sh"], process={"terminal": True})
    result = rt("create", "--bundle", bundle, cid, check=False)
    assert_error(result, "process.terminal", "--console-socket")
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def run_under_pty(rt, bundle, cid, *extra):
    master, slave = os.openpty()
    try:
        proc = rt.popen("run", *extra, "--bundle", bundle, cid,
                        stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    finally:
        os.close(slave)
    try:
        out = read_all(master)
    finally:
        os.close(master)
    result = rt.finish(proc)
    return result.returncode, out.decode(errors="replace").replace("\r", "")


def test_run_in_the_foreground_with_a_terminal(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "tty; echo fg-ok; exit 3"], process={"terminal": True})
    code, out = run_under_pty(rt, bundle, cid)
    assert code == 3
    assert re.search(r"^/dev/pts/\d+$", out, re.M), out
    assert "fg-ok" in out
    rt.assert_clean()


def test_run_detach_with_console_socket(rt, make_bundle, console, cid):
    bundle = make_bundle(["sh"], process={"terminal": True})
    receiver = console()
    rt("run", "--detach", "--console-socket", receiver.path, "--bundle", bundle, cid)
    fds = receiver.receive()
    assert len(fds) == 1
    assert rt.status(cid) == "running"
    os.write(fds[0], b"echo detached-$((6*7))\n")
    read_until(fds[0], "detached-42")
    os.write(fds[0], b"exit\n")
    rt.wait_status(cid, "stopped")


TTY_OWNER_SCRIPT = "stat -L -c owner=%u:%g $(tty); stat -c console=%u:%g /dev/console; echo end-of-test"


@pytest.mark.parametrize("how", ["create", "run-detach"])
def test_terminal_belongs_to_the_process_user(rt, make_bundle, console, cid, how):
    """The pty slave (the process's stdio, and /dev/console) is owned by
    process.user.uid, with the tty group (5 in this rootfs's /etc/group, and
    devpts' gid=5), as runc leaves it: a non-root process can use its tty
    (mesg, write, chmod of its own terminal)."""
    bundle = make_bundle(["sh", "-c", TTY_OWNER_SCRIPT],
                         process={"terminal": True, "user": {"uid": 1000, "gid": 1000}})
    receiver = console()
    if how == "create":
        rt("create", "--bundle", bundle, "--console-socket", receiver.path, cid)
        fds = receiver.receive()
        rt("start", cid)
    else:
        rt("run", "--detach", "--console-socket", receiver.path, "--bundle", bundle, cid)
        fds = receiver.receive()
    out = read_until(fds[0], "end-of-test").decode(errors="replace").replace("\r", "").split()
    assert "owner=1000:5" in out, out
    assert "console=1000:5" in out, out
    rt.wait_status(cid, "stopped")


def test_a_read_only_dev_still_gets_its_console(rt, make_bundle, console, cid):
    """/dev mounted "ro" with process.terminal: /dev/console is made before
    /dev turns read-only, and bound over without writing to it (before, the
    runtime failed: `/dev/console: Read-only file system`)."""
    script = "stat -c '%t:%T' /dev/console; stat -L -c '%t:%T' $(tty); touch /dev/x 2>&1; echo end-of-test"
    mounts = [dict(m, options=m["options"] + ["ro"]) if m["destination"] == "/dev" else m
              for m in base_config("rootfs")["mounts"]]
    receiver, fds = create_with_console(rt, make_bundle, console, cid, ["sh", "-c", script], mounts=mounts)
    rt("start", cid)
    out = read_until(fds[0], "end-of-test").decode(errors="replace").replace("\r", "").splitlines()
    assert out[0] == out[1], out  # /dev/console is the pty the process has
    assert "Read-only file system" in out[2], out
    rt.wait_status(cid, "stopped")
