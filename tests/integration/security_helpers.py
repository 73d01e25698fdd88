"""Helpers for the security tests (test_seccomp, test_hardening,
test_capabilities, test_security_labels): the syscall probe inside the
rootfs, seccomp profile builders, and a seccomp notify agent.

Nothing here mocks anything: the agent answers the kernel's notifications on
the real listener fd the runtime sends it."""

import array
import copy
import ctypes
import errno
import json
import os
import select
import shutil
import socket
import struct
import threading

import pytest

from .helpers import DEFAULT_TIMEOUT, FIXTURES_DIR, close_listener

PROBE = "/bin/probe"  # where install_probe puts it inside the rootfs

# 128 + SIGSYS, as a shell reports a child killed by a seccomp KILL action
KILLED_BY_SIGSYS = 128 + 31

AUDIT_ARCH_X86_64 = 0xC000003E
X86_64_NR = {"mkdir": 83, "getpriority": 140, "getppid": 110}


def install_probe(rootfs, probe, path=PROBE, mode=0o755):
    """Copy the compiled syscall probe into ``rootfs`` at ``path``."""
    dest = os.path.join(str(rootfs), path.lstrip("/"))
    shutil.copyfile(str(probe), dest)
    os.chmod(dest, mode)
    return dest


def probe_results(text):
    """``OP=RESULT`` lines -> {OP: RESULT} (other lines are ignored)."""
    results = {}
    for line in text.splitlines():
        op, sep, value = line.partition("=")
        if sep and not op.startswith("status"):
            results[op] = value
    return results


def shell_status(text):
    """The ``status=N`` line a ``...; echo status=$?`` script printed."""
    for line in text.splitlines():
        if line.startswith("status="):
            return int(line.split("=", 1)[1])
    raise AssertionError("no status line in %r" % text)


def probe_script(*ops):
    """A shell command running the probe with ``ops`` and printing its exit
    status, so that a process killed by seccomp can be told apart."""
    return ["sh", "-c", "%s %s; echo status=$?" % (PROBE, " ".join(ops))]


# --------------------------------------------------------------------------
# seccomp profiles

def seccomp_rule(names, action, *args, errno_ret=None):
    if isinstance(names, str):
        names = [names]
    rule = {"names": list(names), "action": action}
    if args:
        rule["args"] = list(args)
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    return rule


def seccomp_arg(index, op, value, value_two=None):
    arg = {"index": index, "op": op, "value": value}
    if value_two is not None:
        arg["valueTwo"] = value_two
    return arg


def seccomp_profile(*rules, default="SCMP_ACT_ALLOW", arches=("SCMP_ARCH_X86_64",), **extra):
    profile = {"defaultAction": default, "architectures": list(arches),
               "syscalls": list(rules)}
    profile.update(extra)
    return profile


def docker_default_profile():
    """linux.seccomp exactly as Docker 20.10 wrote it (its default profile)."""
    path = FIXTURES_DIR / "docker-run-echo-hi.config.json"
    if not path.is_file():
        pytest.skip("needs the engine fixtures in %s" % FIXTURES_DIR)
    with open(str(path)) as f:
        return copy.deepcopy(json.load(f)["linux"]["seccomp"])


# --------------------------------------------------------------------------
# a seccomp agent for SCMP_ACT_NOTIFY

SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
NOTIF_FORMAT = "=QII" + "IIQ6Q"   # struct seccomp_notif: 80 bytes
RESP_FORMAT = "=QqiI"             # struct seccomp_notif_resp: 24 bytes


class Notification:
    __slots__ = ("id", "pid", "flags", "nr", "arch", "ip", "args", "ppid")

    def __init__(self, raw):
        (self.id, self.pid, self.flags, self.nr, self.arch, self.ip,
         *args) = struct.unpack(NOTIF_FORMAT, raw)
        self.args = list(args)
        self.ppid = None

    def __repr__(self):
        return "Notification(id=%d pid=%d nr=%d arch=%#x args=%r)" % (
            self.id, self.pid, self.nr, self.arch, self.args)


class NotifyAgent:
    """Listens on ``path`` (linux.seccomp.listenerPath) in a thread, takes
    the one message the runtime sends (the listener fd over SCM_RIGHTS plus
    the container process state JSON), then answers notifications with
    ``decide(notification)``, which returns

    * ``("error", ERRNO)``  the syscall fails with that errno,
    * ``("continue",)``     the kernel runs the syscall (FLAG_CONTINUE),
    * ``None``              no answer now (``respond`` later).

    Every wait is bounded; ``stop`` closes everything."""

    def __init__(self, path, decide):
        self.path = str(path)
        assert len(self.path) < 100, "socket path too long: %s" % self.path
        self.decide = decide
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.payload = b""
        self.fds = []
        self.listener = None
        self.notifications = []
        self.errors = []
        self.received = threading.Event()     # the runtime's message is in
        self.notified = threading.Condition()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # -- the message --------------------------------------------------------
    @property
    def message(self):
        return json.loads(self.payload.decode())

    def _receive(self):
        self.sock.settimeout(DEFAULT_TIMEOUT)
        conn, _ = self.sock.accept()
        conn.settimeout(DEFAULT_TIMEOUT)
        fd_size = array.array("i").itemsize
        try:
            while not self._stop.is_set():
                msg, ancdata, _flags, _addr = conn.recvmsg(
                    65536, socket.CMSG_SPACE(8 * fd_size))
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds = array.array("i")
                        fds.frombytes(data[:len(data) - len(data) % fd_size])
                        self.fds.extend(fds)
                self.payload += msg
                if not msg and not ancdata:
                    break
                if self.fds and self._complete_json():
                    break
        finally:
            conn.close()

    def _complete_json(self):
        try:
            json.loads(self.payload.decode())
            return True
        except ValueError:
            return False

    # -- notifications -------------------------------------------------------
    def _run(self):
        import fcntl

        try:
            self._receive()
            if len(self.fds) != 1:
                raise AssertionError("expected one fd from the runtime, got %r" % self.fds)
            self.listener = self.fds[0]
            self.received.set()
            poller = select.poll()
            poller.register(self.listener, select.POLLIN)
            while not self._stop.is_set():
                events = poller.poll(100)
                if not events:
                    continue
                _fd, mask = events[0]
                if mask & select.POLLIN:
                    buf = bytearray(struct.calcsize(NOTIF_FORMAT))
                    try:
                        fcntl.ioctl(self.listener, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
                    except OSError as exc:
                        if exc.errno in (errno.ENOENT, errno.EINTR):
                            continue  # the target was interrupted or died
                        raise
                    note = Notification(bytes(buf))
                    note.ppid = _ppid(note.pid)
                    with self.notified:
                        self.notifications.append(note)
                        self.notified.notify_all()
                    answer = self.decide(note)
                    if answer is not None:
                        self.respond(note, *answer)
                elif mask & (select.POLLHUP | select.POLLERR):
                    break  # every process under the filter is gone
        except Exception as exc:  # reported by check()
            self.errors.append(exc)
        finally:
            self.received.set()
            with self.notified:
                self.notified.notify_all()

    def respond(self, note, kind, value=0):
        """Answer one notification; raises OSError (ENOENT: no longer valid)."""
        import fcntl

        if kind == "error":
            resp = struct.pack(RESP_FORMAT, note.id, 0, -value, 0)
        elif kind == "continue":
            resp = struct.pack(RESP_FORMAT, note.id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
        else:
            resp = struct.pack(RESP_FORMAT, note.id, value, 0, 0)
        fcntl.ioctl(self.listener, SECCOMP_IOCTL_NOTIF_SEND, bytearray(resp), True)

    def wait_notifications(self, count, timeout=DEFAULT_TIMEOUT):
        with self.notified:
            ok = self.notified.wait_for(
                lambda: len(self.notifications) >= count or self.errors
                or not self.thread.is_alive(), timeout)
        self.check()
        assert ok and len(self.notifications) >= count, \
            "expected %d notifications, got %r" % (count, self.notifications)
        return self.notifications[:count]

    def wait_message(self, timeout=DEFAULT_TIMEOUT):
        assert self.received.wait(timeout), "the runtime never sent the listener fd"
        self.check()
        return self.message

    def check(self):
        if self.errors:
            raise self.errors[0]

    def stop(self):
        self._stop.set()
        self.thread.join(DEFAULT_TIMEOUT)
        close_listener(self.sock, self.path, self.fds)
        self.fds = []


def _ppid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


SYS_SECCOMP_X86_64 = 317
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 8
SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = 32


def kernel_accepts_seccomp_flags(flags):
    """Whether this kernel knows the filter ``flags``, asked independently of
    the runtime: seccomp() with a NULL program fails EFAULT once the flags
    pass their check and EINVAL when they don't; nothing is installed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(SYS_SECCOMP_X86_64), ctypes.c_long(SECCOMP_SET_MODE_FILTER),
                      ctypes.c_long(flags), ctypes.c_void_p(None))
    return rc == -1 and ctypes.get_errno() == errno.EFAULT


def process_state(pid):
    """The one-letter state of /proc/PID/stat (R, S, D, Z, ...)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]
