"""Shared helpers for the privileged, black-box integration tests.

The suite drives an OCI runtime only through its runc-compatible command line.
Which runtime is tested is chosen by the environment variable
``MINIRUN_TEST_RUNTIME``:

* unset or empty -> ``[<repo>/minirun.py]``, run as a program (the project itself)
* ``runc``       -> ``["runc"]`` (reference run, to validate the tests)
* anything else  -> split like a shell command line and used as is

Nothing in here mocks anything: every helper observes the real kernel
(``/proc``, ``mountinfo``, sockets, ptys).
"""

import copy
import errno
import json
import os
import re
import select
import shlex
import socket
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MINIRUN = REPO / "minirun.py"
FIXTURES_DIR = HERE.parent / "fixtures" / "engine-configs"

BUSYBOX = "/bin/busybox"

# A hang must fail the test, never block the run forever.
DEFAULT_TIMEOUT = 60


def missing_fixtures(directory):
    """None when `directory` holds the engine fixtures; else why not (the
    suites fail their run with it rather than skip what needs them)."""
    if not list(Path(directory).glob("*.config.json")):
        return ("the engine fixtures are missing: no *.config.json in %s (they come with the "
                "repository; restore that directory)" % directory)
    return None


def runtime_command():
    value = os.environ.get("MINIRUN_TEST_RUNTIME", "").strip()
    if not value:
        # As engines call it: the file itself, whose sh header starts
        # $MINIRUN_PYTHON (the Makefile exports it) on the cached bytecode.
        os.environ.setdefault("MINIRUN_PYTHON", sys.executable)
        return [str(MINIRUN)]
    if value == "runc":
        return ["runc"]
    return shlex.split(value)


RUNTIME = runtime_command()
IS_RUNC = os.path.basename(RUNTIME[0]) == "runc"
IS_MINIRUN = not IS_RUNC


def runtime_marker():
    """A string that identifies a runtime process in /proc/PID/cmdline."""
    if IS_RUNC:
        return "runc"
    return os.path.basename(RUNTIME[-1])


# --------------------------------------------------------------------------
# capabilities

CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
    "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
    "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12,
    "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
    "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24,
    "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30,
    "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
    "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}
CAP_NAMES = {v: k for k, v in CAPS.items()}

DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]


def cap_mask(names):
    mask = 0
    for name in names:
        mask |= 1 << CAPS[name]
    return mask


def host_bounding_caps():
    """Names of the capabilities in this (test) process's bounding set."""
    mask = int(proc_status(os.getpid())["CapBnd"], 16)
    return [CAP_NAMES[b] for b in sorted(CAP_NAMES) if mask & (1 << b)]


# --------------------------------------------------------------------------
# the base config (what `runc spec` writes, trimmed to what minirun supports)

def base_config(rootfs):
    caps = list(DOCKER_DEFAULT_CAPS)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(caps),
                "effective": list(caps),
                "permitted": list(caps),
            },
            "noNewPrivileges": True,
        },
        "root": {"path": str(rootfs)},
        "hostname": "minirun-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                         "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777",
                         "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
        },
    }


def deep_merge(base, overrides):
    """Return ``base`` updated by ``overrides``.

    Dicts merge recursively; every other value (lists included) replaces the
    old one.  A value of ``None`` removes the key.
    """
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def bind_mount(source, destination, *options):
    opts = list(options) if options else ["rbind"]
    if "bind" not in opts and "rbind" not in opts:
        opts.insert(0, "rbind")
    return {"destination": destination, "type": "bind",
            "source": str(source), "options": opts}


def tmpfs_mount(destination, *options):
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs",
            "options": list(options)}


def new_id(prefix="t"):
    """Container IDs are unique per call: runc derives cgroup paths from the
    ID, so equal IDs in different --root dirs (xdist workers) would collide."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:16])


# --------------------------------------------------------------------------
# /proc observations

def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def pid_alive(pid):
    """True if ``pid`` exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = data.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def unified_cgroup(pid):
    """The cgroup v2 path of `pid` (its "0::" line in /proc/PID/cgroup)."""
    with open("/proc/%d/cgroup" % pid) as groups:
        for line in groups:
            hierarchy, controllers, path = line.rstrip("\n").split(":", 2)
            if hierarchy == "0" and controllers == "":
                return path
    raise AssertionError("pid %d is in no cgroup v2 hierarchy" % pid)


def ns_id(pid, ns):
    return os.readlink("/proc/%s/ns/%s" % (pid, ns))


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def all_pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def pids_in_pidns_of(pid):
    """Live host pids sharing the pid namespace of ``pid``."""
    target = ns_id(pid, "pid")
    found = []
    for p in all_pids():
        try:
            if os.readlink("/proc/%d/ns/pid" % p) == target and pid_alive(p):
                found.append(p)
        except OSError:
            pass
    return found


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Poll ``predicate`` until it is truthy.  The timeout only guards against
    hangs; no assertion depends on how long something took."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


def _dir_identities(top):
    ids = set()
    top = str(top)
    for dirpath, dirnames, _ in os.walk(top):
        try:
            st = os.lstat(dirpath)
        except OSError:
            continue
        ids.add((st.st_dev, st.st_ino))
    return ids


def processes_inside(top):
    """Processes whose root or cwd is inside ``top``.

    A pivoted container's /proc/PID/root reads as "/" from the host, so the
    readlink check is backed by comparing device/inode with every directory
    under ``top``.
    """
    top = os.path.realpath(str(top))
    identities = _dir_identities(top)
    me = os.getpid()
    hits = []
    for pid in all_pids():
        if pid == me:
            continue
        for what in ("root", "cwd"):
            link = "/proc/%d/%s" % (pid, what)
            try:
                target = os.readlink(link)
                st = os.stat(link)
            except OSError:
                continue
            if target == top or target.startswith(top + "/") or \
                    (st.st_dev, st.st_ino) in identities:
                hits.append((pid, what, target, " ".join(cmdline(pid))))
                break
    return hits


def _unescape_mountinfo(path):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mountinfo(pid="self"):
    entries = []
    with open("/proc/%s/mountinfo" % pid) as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            entries.append({
                "id": parts[0],
                "root": _unescape_mountinfo(parts[3]),
                "mountpoint": _unescape_mountinfo(parts[4]),
                "options": parts[5],
                "optional": parts[6:sep],
                "fstype": parts[sep + 1],
                "source": parts[sep + 2],
                "superoptions": parts[sep + 3] if len(parts) > sep + 3 else "",
            })
    return entries


def mounts_under(top):
    top = os.path.realpath(str(top))
    return [m["mountpoint"] for m in mountinfo()
            if m["mountpoint"] == top or m["mountpoint"].startswith(top + "/")]


# --------------------------------------------------------------------------
# results

def combined(result):
    return (result.stdout or "") + (result.stderr or "")


def assert_no_traceback(result):
    assert "Traceback" not in (result.stderr or ""), result.stderr
    assert "Traceback" not in (result.stdout or ""), result.stdout


def read_json_log(path):
    entries = []
    if not os.path.exists(str(path)):
        return entries
    with open(str(path)) as f:
        for line in f:
            line = line.strip()
            if line:
                entries.append(json.loads(line))
    return entries


# runc's exec exits 255 when the exec itself fails (exec.go: fatalWithCode(..., 255)),
# to tell it from the process's own status; 1 only for a bad command line.
EXEC_FAILED = 255


def assert_error(result, *substrings, log=None, status=1):
    """A failed runtime call: exit status 1 (255 for a failed exec, as runc's:
    pass status=EXEC_FAILED) and no traceback.

    With minirun the stderr must be one line naming the offending field or
    path (each of ``substrings``), and when ``log`` (the --log json file) is
    given, its last ``"level":"error"`` line must say the same.  runc's
    wording is different, so in reference mode only the failure is checked.
    """
    assert result.returncode == status, (result.returncode, result.stderr)
    assert_no_traceback(result)
    assert result.stderr.strip(), "an error must be reported on stderr"
    if log is not None:
        errors = [e for e in read_json_log(log) if e.get("level") == "error"]
        assert errors, "no level=error line in the json log %s" % log
        for e in errors:
            assert {"level", "msg", "time"} <= set(e), e
    if not IS_MINIRUN:
        return
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected a one-line error, got: %r" % result.stderr
    for s in substrings:
        assert s in lines[0], "%r not in stderr %r" % (s, lines[0])
    if log is not None:
        last = errors[-1]["msg"]
        for s in substrings:
            assert s in last, "%r not in last log error %r" % (s, last)


# --------------------------------------------------------------------------
# console socket receiver and pty reading

class ConsoleReceiver:
    """An AF_UNIX listening socket standing in for a shim's console socket."""

    def __init__(self, path):
        self.path = str(path)
        assert len(self.path) < 100, "socket path too long: %s" % self.path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.payload = b""
        self.fds = []

    def receive(self, timeout=DEFAULT_TIMEOUT):
        """Accept one connection and collect every fd sent on it until the
        runtime closes its end (it has exited by now: nothing may still hold
        the socket, least of all the container)."""
        import array
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(timeout)
        fd_size = array.array("i").itemsize
        try:
            while True:
                try:
                    msg, ancdata, _flags, _addr = conn.recvmsg(
                        4096, socket.CMSG_SPACE(16 * fd_size))
                except socket.timeout:
                    raise AssertionError(
                        "console socket never closed after %r; fds so far %r"
                        % (self.payload, self.fds))
                for level, kind, data in ancdata:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        arr = array.array("i")
                        arr.frombytes(data[:len(data) - len(data) % fd_size])
                        self.fds.extend(arr)
                if not msg and not ancdata:
                    break
                self.payload += msg
        finally:
            conn.close()
        return self.fds

    def close(self):
        close_listener(self.sock, self.path, self.fds)
        self.fds = []


def close_listener(sock, path, fds):
    """Close a test's listening AF_UNIX socket, remove its path, close the fds it received."""
    sock.close()
    try:
        os.unlink(path)
    except OSError:
        pass
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def run_through_shell(rt, shell_argv, runtime_args, env, stdout, name):
    """Run the runtime through a shell that prepares its fds first (`exec "$@"
    3<...`). stderr goes to a file: the container keeps it, so a pipe would
    not see EOF while it lives. Returns a CompletedProcess with that stderr."""
    import subprocess

    argv = list(shell_argv) + rt.argv(*runtime_args)
    err_path = rt.tmp / ("%s-%d.err" % (name, len(rt.calls)))
    rt.calls.append(argv)
    with open(str(err_path), "w+") as err:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                              stderr=err, timeout=DEFAULT_TIMEOUT, cwd=str(rt.tmp))
        err.seek(0)
        result = subprocess.CompletedProcess(argv, proc.returncode, "", err.read())
    assert_no_traceback(result)
    return result


def read_until(fd, pattern, timeout=DEFAULT_TIMEOUT):
    """Read from ``fd`` (a pty master) until ``pattern`` (bytes or regex
    string) shows up or the fd reports EOF/EIO.  Returns all bytes read."""
    buf = b""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern.encode() if isinstance(pattern, str) else re.escape(pattern))
    while not rx.search(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out waiting for %r; got %r" % (pattern, buf))
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError as e:
            if e.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        buf += chunk
    return buf


def read_all(fd, timeout=DEFAULT_TIMEOUT):
    """Read a pty master until EIO/EOF (the slave side closed)."""
    return read_until(fd, r"(?!x)x", timeout=timeout)


def load_config(bundle):
    with open(os.path.join(str(bundle), "config.json")) as f:
        return json.load(f)


def save_config(bundle, cfg):
    with open(os.path.join(str(bundle), "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


# --------------------------------------------------------------------------
# a pid namespace of its own for scenarios that could signal the wrong process

def run_in_own_pid_namespace(module, scenario, **params):
    """Run `scenario(**params)`, a function of tests/integration/`module`, as
    pid 1 of a throwaway pid namespace (`unshare --pid --fork --mount-proc`):
    a runtime that signals a process it should not can only reach the
    scenario's own processes, and whatever is left dies with the namespace.
    Returns the scenario's result (JSON)."""
    import subprocess

    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "from integration.%s import %s as scenario; "
            "print(json.dumps(scenario(**json.loads(sys.argv[2]))))" % (module, scenario))
    result = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", code, str(HERE.parent),
         json.dumps(dict(params, runtime=RUNTIME))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=4 * DEFAULT_TIMEOUT)
    assert result.returncode == 0, "the scenario's pid namespace failed (was its pid 1 killed?): " + result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def call(runtime, root, *args):
    """[exit code, stderr] of one runtime call (for scenarios, which have no `rt`).
    Its stderr goes to a file: a container it starts keeps the call's stdio."""
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as err:
        run = subprocess.run(list(runtime) + ["--root", str(root)] + [str(a) for a in args],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             timeout=DEFAULT_TIMEOUT)
        err.seek(0)
        return [run.returncode, err.read()]


def container_state(runtime, root, cid):
    import subprocess

    run = subprocess.run(list(runtime) + ["--root", str(root), "state", cid], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=DEFAULT_TIMEOUT)
    return json.loads(run.stdout) if run.returncode == 0 else None
