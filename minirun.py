#!/bin/sh
""":"
# Run as a program (how engines call it), this file is first read by /bin/sh:
# it starts Python, which never caches a script it runs as __main__ (compiling
# this one costs ~25 ms per call). So it runs from cached bytecode instead:
# from the sections cache (section 1, "Start-up"), which loads only the
# sections a command uses, or else by importing the file as a module (its
# .pyc), writing that cache for the next call. `python3 minirun.py` still works.
# Only a cache proven whole and current is run (its key, its checksums: see
# sections_cache_key); anything else falls back to the import, and so does a
# failure to load it before the command starts (the boot code then returns).
# A .pyc older than the file's last change (ctime) may hold other code of the
# same mtime and size, which is all Python checks: it is dropped (or, where it
# cannot be, the file is compiled) rather than run.
for py in "${MINIRUN_PYTHON:-}" /usr/bin/python3 /usr/local/bin/python3 python3; do
    if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1; then
        exec "$py" -I -S -c 'import sys; sys.argv.pop(0); from os.path import dirname, basename, realpath
p = realpath(sys.argv[0]); d = dirname(p); sys.path.insert(0, d)
if basename(p) != "minirun.py":
    exec(compile(open(p, "rb").read(), p, "exec"), {"__name__": "__main__", "__file__": p})
    raise SystemExit
try:
    from marshal import loads; from zlib import crc32; from _frozen_importlib_external import MAGIC_NUMBER
    from os import stat, fstat, open as opened, read, O_RDONLY, O_NONBLOCK; s = stat(p)
    fd = opened(d + "/__pycache__/minirun.sections." + sys.implementation.cache_tag, O_RDONLY | O_NONBLOCK)
    c = fstat(fd); head = read(fd, 20); size = int.from_bytes(head[8:16], "little")
    index = read(fd, size) if c.st_mode & 0o170022 == 0o100000 and 20 + size <= c.st_size else b""
    if head[:8] != b"minirun3" or crc32(index) != int.from_bytes(head[16:], "little"): raise EOFError
    key, length, boot, index = loads(index)
    fresh = 20 + size + length == c.st_size and key == (
        MAGIC_NUMBER, s.st_mtime_ns, s.st_size, s.st_ctime_ns, s.st_ino, s.st_dev)
except Exception:
    fresh = False
if fresh:
    type(lambda: 0)(loads(boot), {"__builtins__": __builtins__})(index, fd, 20 + size, p, s)
try:
    from os import stat, unlink; c = d + "/__pycache__/minirun." + sys.implementation.cache_tag + ".pyc"
    if stat(c).st_mtime_ns <= stat(p).st_ctime_ns: unlink(c)
except FileNotFoundError: pass
except OSError:
    m = sys.modules["minirun"] = type(sys)("minirun"); m.__file__ = p
    exec(compile(open(p, "rb").read(), p, "exec"), m.__dict__)
import minirun; minirun.write_sections_cache(); minirun.run_as_program()' "$0" "$@"
    fi
done
echo "minirun: no python3 found" >&2
exit 127
":"""

"""minirun: an OCI container runtime in one dependency-free Python file.

A drop-in for runc: engines call it with runc's command line, and it runs an
OCI bundle (runtime-spec 1.0.2 to 1.3) on the kernel through ctypes alone.

Contents
   1. Errors, logging and utilities
   2. The kernel seam
   3. Host facts
   4. The spec model: objects and field readers
   5. The spec model: the config and its checks
   6. Resource limits: linux.resources and update's input
   7. The state store
   8. Terminals and the foreground stdio relay
   9. Paths in the root and the root filesystem
  10. Cgroups: layouts, paths and the cgroupfs managers
  11. Cgroups: stats, the cgroup mount, a recorded cgroup; Intel RDT
  12. Cgroups: device eBPF and the systemd driver
  13. Security: capabilities, seccomp, LSMs
  14. Hooks
  15. Planning
  16. Process setup (shared by the init and exec)
  17. The protocol and the container's processes
  18. Operations
  19. CRIU's RPC: protobuf and criu swrk
  20. Checkpoint and restore
  21. The command line
  22. Appendix: syscall tables

Rules this file keeps (see README.md):
  * It never starts a thread. clone() from ctypes is safe only in a
    single-threaded process; everything a child needs is imported and
    prepared before clone, and a child reports failure over its sync socket
    and leaves with os._exit.
  * Data flows one way: argv -> Config (parsed and validated once) -> a plan
    (pure, section 15) -> the kernel, through one seam (section 2). Code that
    touches the kernel receives decisions, not raw JSON.
  * Start-up is designed in: only os and sys at import time; ctypes, fcntl,
    select and friends are imported by the commands that need them, and JSON
    goes through the C accelerator _json (the json package drags in re).
"""

import os
import sys

VERSION = "0.1.0"
SPEC_VERSION = "1.3.0"
DEFAULT_ROOT = "/run/minirun"

# ===========================================================================
# 1. Errors, logging and utilities
# ===========================================================================
# Three error classes: a failure to report (Error, one line and exit 1), a
# bad command line (UsageError) and a bad config (ConfigError, which names the
# field). Anything else is a bug and collapses to one "internal error" line.
# The utilities below are the one place for what several sections need: JSON
# through the C accelerator, RFC 3339 times, one passwd/group lookup, one wait
# for a process to exit, one way to signal a set of processes, one way to move
# an fd out of the range a container's process keeps.
# At the end, start-up: how a call as a program loads only the sections its
# command uses.


class Error(Exception):
    """A failure to report: one line on stderr, an error line in --log, exit 1
    (exit_status: 255 for a failed exec, as runc; see exec_command)."""

    exit_status = 1


class UsageError(Error):
    """The command line itself is wrong."""


class ConfigError(Error):
    """config.json is malformed, or asks for something minirun refuses."""

    def __init__(self, field, message, source="config.json"):
        super().__init__("%s: %s: %s" % (source, field, message))
        self.field = field
        self.message = message


def os_error_text(exc):
    """'path: reason' for an OSError, without Python's '[Errno N]' noise."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return "%s: %s" % (exc.filename, reason)
    return reason


def rfc3339(ns=None, nanos=True):
    """Go's time.RFC3339Nano (or RFC3339) in UTC, as runc writes them."""
    import time

    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if nanos and frac:
        stamp += ("." + "%09d" % frac).rstrip("0")
    return stamp + "Z"


def json_loads(text):
    """json.loads through the C scanner; the json package costs ~10 ms of imports."""
    import _json

    class Context:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = float  # NaN, Infinity
        memo = {}

    scan = _json.make_scanner(Context)
    end = len(text)
    idx = 0
    while idx < end and text[idx] in " \t\r\n":
        idx += 1
    try:
        value, idx = scan(text, idx)
        while idx < end and text[idx] in " \t\r\n":
            idx += 1
        if idx == end:
            return value
    except (StopIteration, ValueError, SystemError):
        pass
    # Malformed input is rare: let the json package word the error (line, column).
    import json

    return json.loads(text)


def json_dumps(value, indent=None, _level=0):
    """Compact JSON through the C encoder, or runc-style indented output."""
    import _json

    quote = _json.encode_basestring_ascii
    if indent is None:
        encode = _json.make_encoder(None, None, quote, None, ":", ",", False, False, True)
        return "".join(encode(value, 0))
    pad = " " * (indent * (_level + 1))
    end = " " * (indent * _level)
    if isinstance(value, dict) and value:
        items = ["%s%s: %s" % (pad, quote(str(k)), json_dumps(v, indent, _level + 1)) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    if isinstance(value, list) and value:
        items = [pad + json_dumps(v, indent, _level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"
    return json_dumps(value)


# The most a JSON input (config.json, exec --process, update --resources) may
# weigh. Real ones are far below it: Docker's whole config.json with its
# seccomp profile is ~25 KiB, and what a process may carry is itself bounded
# by execve (argv plus env within a quarter of the stack limit, 128 KiB per
# string). 16 MiB leaves room for any of them many times over, and bounds
# what a mistaken path (/dev/zero, a log file) makes the runtime read and parse.
INPUT_MAX = 16 << 20


def read_input(path, what):
    """The text of a JSON input: a regular file of at most INPUT_MAX bytes, or
    stdin for "-" (Docker pipes `update --resources -`), bounded the same.

    A FIFO, a device or a directory is refused before it is opened (opening
    a FIFO blocks until a writer comes; opening some devices acts), and
    again after opening with O_NONBLOCK by fstat, in case the path was
    swapped between the two. The read stays non-blocking too: /proc/kmsg is
    a "regular" file whose read waits for the next kernel message. `what`
    names the input in errors ("--process x.json")."""
    import stat as stat_module

    if path == "-":
        fd, close = 0, False
    else:
        try:
            if not stat_module.S_ISREG(os.stat(path).st_mode):
                raise Error("%s: not a regular file" % what)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except OSError as exc:
            raise Error("%s: %s" % (what, exc.strerror or exc)) from None
        close = True
    try:
        info = os.fstat(fd)
        if close and not stat_module.S_ISREG(info.st_mode):
            raise Error("%s: not a regular file" % what)
        if stat_module.S_ISREG(info.st_mode) and info.st_size > INPUT_MAX:
            raise Error("%s: larger than %d MiB" % (what, INPUT_MAX >> 20))
        chunks, size = [], 0
        while size <= INPUT_MAX:
            try:
                chunk = os.read(fd, min(1 << 20, INPUT_MAX + 1 - size))
            except BlockingIOError:
                if close:
                    raise
                import select  # stdin left non-blocking by whoever shares it: wait for the writer

                select.select([fd], [], [])
                continue
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > INPUT_MAX:
            raise Error("%s: larger than %d MiB" % (what, INPUT_MAX >> 20))
    except BlockingIOError:
        raise Error("%s: reading it would block (not a file that holds its data)" % what) from None
    except OSError as exc:
        raise Error("%s: %s" % (what, exc.strerror or exc)) from None
    finally:
        if close:
            os.close(fd)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise Error("%s: not UTF-8 text" % what) from None


def parse_json_input(text, what):
    """json_loads for an input named `what`, its failures worded as one line."""
    try:
        return json_loads(text)
    except RecursionError:
        raise Error("%s: invalid JSON: nested too deeply" % what) from None
    except ValueError as exc:
        raise Error("%s: invalid JSON: %s" % (what, exc)) from None


class Log:
    """runc's logging contract: --log FILE, --log-format text|json.

    Docker and containerd read the last `error` line of the JSON log and show
    it to the user, so every failure is logged there before exiting.
    """

    LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}

    def __init__(self):
        self.path = None
        self.format = "text"
        self.threshold = self.LEVELS["info"]
        self._fd = None

    def _write(self, level, msg):
        if self.LEVELS[level] < self.threshold:
            return
        if self.path is None:
            # No log file: warnings and debug lines go to stderr, errors are
            # printed by main() as one plain line. Only what runc also prints
            # is a warning (a container's stderr may be this stderr): the
            # rest is a debug line. One line each: a newline (a failed
            # hook's output) is escaped as report_error escapes it.
            if level != "error":
                line = msg.replace("\r", "\\r").replace("\n", "\\n")
                os.write(2, ("minirun: %s: %s\n" % (level, line)).encode("utf-8", "backslashreplace"))
            return
        now = rfc3339(nanos=False)
        if self.format == "json":
            line = json_dumps({"level": level, "msg": msg, "time": now})
        else:
            line = 'time="%s" level=%s msg=%s' % (now, level, json_dumps(msg))
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            os.write(self._fd, (line + "\n").encode())
        except OSError as exc:
            os.write(2, ("minirun: cannot write log %s: %s\n" % (self.path, exc.strerror)).encode())

    def debug(self, msg):
        self._write("debug", msg)

    def info(self, msg):
        self._write("info", msg)

    def warning(self, msg):
        self._write("warning", msg)

    def error(self, msg):
        self._write("error", msg)


LOG = Log()



def lookup_user(uid, passwd="/etc/passwd"):
    """(name, home) of uid in a passwd file, or None. Read with plain open():
    in the init this is the container's /etc/passwd, after pivot_root."""
    try:
        with open(passwd, "rb") as handle:
            for line in handle:
                fields = line.decode("utf-8", "replace").rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[0], fields[5]
    except OSError:
        pass
    return None


def lookup_group_id(name, group="/etc/group"):
    """The gid of group `name` in a group file, or None."""
    try:
        with open(group, "rb") as handle:
            for line in handle:
                fields = line.decode("utf-8", "replace").rstrip("\n").split(":")
                if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
                    return int(fields[2])
    except OSError:
        pass
    return None


def wait_for_exit(pid, seconds):
    """True once `pid` has exited (or never existed), False after `seconds`.

    A pidfd becomes readable when the process exits, whoever its parent is,
    so this works for processes that are not our children too.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return wait_for_pidfd(pidfd, seconds)
    finally:
        os.close(pidfd)


def wait_for_pidfd(pidfd, seconds):
    """wait_for_exit() of the process a pidfd names."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(None if seconds is None else int(seconds * 1000)))


def signal_pids(pids, signal):
    """Send `signal` to each pid; a process that has exited meanwhile is no error.
    Callers have proved that every pid belongs to the container."""
    for pid in pids:
        try:
            os.kill(pid, signal)
        except ProcessLookupError:
            pass


def reap(pid):
    """waitpid for a child of ours; None if it was already reaped."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def exit_code(status):
    """A wait status as a shell would report it: 128+N for death by signal N."""
    if status is None:
        return 255
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def lift_fd(fd, floor):
    """Move one of our fds to >= floor, out of the range passed to the container."""
    import fcntl

    if fd is None or fd >= floor:
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    os.close(fd)
    return new


def run_capturing_stdout(argv):
    """(exit code, stdout bytes) of argv, found on PATH as runc's exec.Command
    finds it; its stderr is the caller's. posix_spawnp, not subprocess: the
    subprocess package and what it pulls in (re, enum, threading, signal,
    selectors) cost ~10 ms of imports, more than the rest of `ps`."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1)])
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    chunks = []
    try:
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_end)
    return exit_code(os.waitpid(pid, 0)[1]), b"".join(chunks)


# -- start-up: the sections a command needs ----------------------------------
# Every call starts an interpreter, and unmarshalling and running all of this
# file's bytecode costs more than `state` does. So the launcher (the sh
# header) runs from a cache beside the .pyc, __pycache__/minirun.sections.<python>:
# an index, then the bytecode of each UNIT: one top-level statement of a
# section (a def, a class, an assignment, an import; a statement that binds
# no name, a docstring, goes with its neighbour), compiled and marshalled on
# its own. The index gives each unit's section title, the names it binds and
# where its bytecode lies. The header section runs at once; any other unit
# runs the first time one of its names is looked up (a globals dict whose
# __missing__ loads the owner, read with pread), so `state` runs a tenth of
# the file, not the whole sections its names live in (per section it was
# over a third: ~2 ms of unmarshalling per call). create, run and exec, which
# need all of it, load whole sections into a plain dict (the cache holds the
# code cut both ways).
# Units only define names (no statement assigns a name another one does,
# which write_sections_cache checks), so the order they load in does not
# matter. Before clone every unit is loaded (Kernel.clone): a child must
# not load code, least of all after pivot_root; and before every fd is closed
# (Kernel.close_fds_from), since the cache's goes with them. Imported as a module (tests,
# `python3 minirun.py`), everything is defined at once, as usual, and none of
# this runs.
# The cache is run only when it is whole (its checksums, its length) and
# current (sections_cache_key); otherwise, or when it fails to load before
# the command starts, the launcher imports the file, which rewrites it.


SECTIONS_CACHE_MAGIC = b"minirun3"      # the sh header checks it as a literal (3: checksummed)
SECTIONS_CACHE_HEADER = 20              # the magic, the index's length (8 bytes) and its CRC-32 (4)


def sections_of(source):
    """[(title, first line index, text)] of a source split at the numbered section banners."""
    lines = source.splitlines(True)
    starts = [0] + [i for i in range(len(lines) - 2)
                    if lines[i].startswith("# ====") and lines[i + 2].startswith("# ====")
                    and lines[i + 1][2:3].isdigit()]
    ends = starts[1:] + [len(lines)]
    return [(lines[a + 1].strip("# \n") if a else "header", a, "".join(lines[a:b]))
            for a, b in zip(starts, ends)]


def statements_of(text):
    """[(first, last)] 1-based line spans of the top-level statements of a
    section's text, a decorated one from its first decorator."""
    import ast

    return [(min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())]), node.end_lineno)
            for node in ast.parse(text).body]


def build_sections(path):
    """[(title, names, bytecode, units)] of each section of the file at `path`,
    units [(names, bytecode, first line, last line)] (see above; the lines
    1-based in the file), bytecode marshalled; None when a statement assigns a
    name an earlier one defined (then only a whole import is right). Runs each
    statement as an import would, into a scratch dict, to learn the names it
    binds."""
    import builtins
    import marshal

    with open(path, encoding="utf-8") as f:
        source = f.read()
    scope = {"__name__": __name__, "__file__": path, "__builtins__": builtins}

    def compiled(first, lines, a, b):      # with the file's own line numbers
        return compile("\n" * (first + a - 1) + "".join(lines[a - 1:b]), path, "exec")

    sections = []
    for title, first, text in sections_of(source):
        lines = text.splitlines(True)
        spans = []      # [first line, last line, names] of each unit, 1-based in the section
        pending = None  # statements binding no name before the section's first that does
        codes = {}      # (first line, last line): code, so that a one-statement unit is compiled once
        for a, b in statements_of(text):
            before = {name: id(value) for name, value in scope.items()}
            codes[a, b] = compiled(first, lines, a, b)
            exec(codes[a, b], scope)
            if any(id(scope[name]) != ident for name, ident in before.items() if not name.startswith("__")):
                return None
            names = tuple(sorted(name for name in set(scope) - set(before) if not name.startswith("__")))
            if not names and spans:
                spans[-1][1] = b        # a docstring or the like joins the unit before it
            elif not names:
                pending = pending or a
            else:
                spans.append([pending or a, b, names])
                pending = None
        if pending is not None:         # a section of statements that bind nothing
            spans.append([pending, len(lines), ()])
        units = [(names, marshal.dumps(codes.get((a, b)) or compiled(first, lines, a, b)), first + a, first + b)
                 for a, b, names in spans]
        sections.append((title, tuple(sorted(n for names, _code, _a, _b in units for n in names)),
                         marshal.dumps(compiled(first, lines, 1, len(lines))), units))
    return sections


def sections_cache_bytes(key, sections):
    """The cache file: a magic (8 bytes, whose last digit is the format's
    version), the index's length (8 bytes, little-endian) and CRC-32 (4), the
    index (key, the bytecode's length, the boot function's bytecode,
    ([(title, names, offset, length, CRC-32)] of each section, the same plus
    its first and last line in the file of each unit, marshalled)), then the
    sections' bytecode and the units', each at its offset from the index's
    end. A section's bytecode and its units' are the same code cut two ways:
    loading everything, whole sections unmarshal ~40% faster (the strings
    they share are read once).
    Every piece is checksummed because unmarshalled bytecode is not checked:
    a flipped byte in it can crash the interpreter, not just raise."""
    import marshal
    from zlib import crc32

    blobs, section_index, unit_index = [], [], []
    offset = 0
    for title, names, code, _units in sections:
        section_index.append((title, names, offset, len(code), crc32(code)))
        blobs.append(code)
        offset += len(code)
    for title, _names, _code, units in sections:
        for names, code, first, last in units:
            unit_index.append((title, names, offset, len(code), crc32(code), first, last))
            blobs.append(code)
            offset += len(code)
    # The units' index is unmarshalled only by the commands that load units.
    # The bytecode's length is in the index too: a cache cut short is found
    # before anything runs, not when a command loads a unit from its end.
    # runs_from_unwritable_file's bytecode rides along: create, run and exec
    # ask it before loading anything.
    head = marshal.dumps((key, offset, marshal.dumps(start_from_sections.__code__),
                          (section_index, marshal.dumps(unit_index),
                           marshal.dumps(runs_from_unwritable_file.__code__))))
    return (SECTIONS_CACHE_MAGIC + len(head).to_bytes(8, "little") + crc32(head).to_bytes(4, "little")
            + head + b"".join(blobs))


def sections_cache_key(st):
    """What the launcher compares with the file's stat to trust the cache.
    mtime and size (all a .pyc holds) stay the same across a change made with
    utime or `cp -p`/`rsync -t` of a file of the same length; ctime does not:
    the kernel sets it on every write, rename, chmod or utime of the inode
    and userspace cannot set it back, and inode and device pin the file
    itself. It comes free with the stat the launcher does anyway, where a
    checksum of the content would read the whole file (400 KB) on every call:
    ~0.2-0.7 ms, a few percent of `state`. (A needless rebuild, after a chmod
    or a copy, costs one slow call.)
    The bytecode format (importlib's magic number) is in it too, since
    Pythons that share a cache tag need not share it."""
    from importlib.util import MAGIC_NUMBER

    return (MAGIC_NUMBER, st.st_mtime_ns, st.st_size, st.st_ctime_ns, st.st_ino, st.st_dev)


def write_sections_cache(path=None):
    """Write the launcher's sections cache for this file (temp file, then
    rename: a reader sees the old file or the new one), not writable by
    anyone else (it is code root runs); quietly nothing where __pycache__ is
    not writable, and nothing for a source that changed while it compiled."""
    path = path or __file__
    try:
        before = os.stat(path)
        cache_dir = os.path.join(os.path.dirname(path), "__pycache__")
        os.makedirs(cache_dir, exist_ok=True)
        target = os.path.join(cache_dir, "minirun.sections." + sys.implementation.cache_tag)
        temporary = "%s.%d" % (target, os.getpid())
        # Opened before the sections are built: where __pycache__ is not
        # writable (a user running root's copy), no call pays for compiling
        # the whole file again only to find that out.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    saved = False
    try:
        sections = build_sections(path)
        if sections is not None:
            key = sections_cache_key(before)
            with os.fdopen(os.dup(fd), "wb") as f:
                f.write(sections_cache_bytes(key, sections))
            # The key must be the source's as compiled: unchanged since
            # `before`, and changes after this stat must show in it. Where
            # timestamps are coarse (a second on some file systems) a change
            # in the tick `before` saw gets the same ctime, so the cache is
            # kept only once its own write's ctime, taken before the second
            # stat, is past the source's: any later change then moves it.
            written = os.fstat(fd).st_ctime_ns
            if sections_cache_key(os.stat(path)) == key and written > before.st_ctime_ns:
                try:
                    os.replace(temporary, target)
                except IsADirectoryError:       # an empty directory in its place
                    os.rmdir(target)
                    os.replace(temporary, target)
                saved = True
    except OSError:
        pass
    finally:
        os.close(fd)
        if not saved:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def start_from_sections(index, fd, base, path, source_stat):
    """The launcher's fast path: define the header section, run the command,
    load other units when their names are first looked up. Its bytecode is
    run on its own by the sh header, with no globals but the builtins; `fd` is
    the open cache file, its bytecode from offset `base` on; `index` is
    (sections, units, the safety check's code) as sections_cache_bytes()
    lays them out; `source_stat` the file's stat that matched the cache's key.
    It returns only when the cache fails to load before the command starts
    (cut short, a checksum that does not match, unreadable): the launcher
    then imports the file instead. Once the command runs it must not run
    again, so a unit that fails to load later is compiled from the file's own
    lines, and the damaged cache is removed for the next call to rewrite."""
    import builtins
    import sys
    from gc import disable as gc_disable, enable as gc_enable, freeze as gc_freeze
    from marshal import loads
    from os import close, fstat, pread, stat, unlink
    from zlib import crc32

    sections, units, check = index

    def code_of(entry):
        code = pread(fd, entry[3], base + entry[2])
        if len(code) != entry[3] or crc32(code) != entry[4]:
            raise EOFError("%s: the sections cache is damaged" % path)
        return loads(code)

    runs_from_unwritable_file = type(code_of)(loads(check), {"__builtins__": builtins})
    # EXECUTABLE_COMMANDS: unless this process runs from an unwritable file
    # (see below), run_as_program() execve's again before anything loads, and
    # loads only what that needs.
    if not {"create", "run", "exec"}.isdisjoint(sys.argv[1:]) and runs_from_unwritable_file():
        # These load everything before clone anyway, section by section: a
        # plain dict keeps the interpreter's specialised global lookups (a
        # dict subclass costs ~6% on the seccomp compiler). A container
        # named "run" just loads it all.
        scope = {"__name__": "minirun", "__file__": path, "__builtins__": builtins}
        # The code is here for good: the cyclic GC would only traverse it
        # (a gen-1 pass over the new functions and classes cost ~1 ms in the
        # middle of the load), and a child it ran in would copy every page it
        # touched. So no collection while loading, and what was loaded is
        # frozen out of the GC's reach (gc.freeze), which then runs as usual.
        gc_disable()
        for entry in sections:
            try:
                code = code_of(entry)
            except Exception:       # nothing has run: the launcher imports the file
                close(fd)
                gc_enable()
                return
            exec(code, scope)
        close(fd)
        gc_freeze()
        gc_enable()
        scope["run_as_program"]()

    units = loads(units)
    owner = {name: number for number, entry in enumerate(units) for name in entry[1]}
    loaded = set()
    source_lines = []

    class SectionGlobals(dict):
        def __missing__(self, name):
            number = owner.get(name)
            if number is None or number in loaded:
                raise KeyError(name)
            load(number)
            return dict.__getitem__(self, name)

    def from_source(entry):
        """A damaged unit's code, from the file's lines, if the file is still
        the one the cache was made from (or some names would be another's)."""
        if not source_lines:
            now = stat(path)
            if (now.st_mtime_ns, now.st_size, now.st_ctime_ns, now.st_ino) != (
                    source_stat.st_mtime_ns, source_stat.st_size, source_stat.st_ctime_ns, source_stat.st_ino):
                raise OSError(116, "changed while it ran, and its sections cache is damaged: run it again", path)
            with open(path, encoding="utf-8") as f:
                source_lines.extend(f.read().splitlines(True))
            try:    # the next call rewrites it (unless a new one took its place)
                cache = path.rpartition("/")[0] + "/__pycache__/minirun.sections." + sys.implementation.cache_tag
                if stat(cache).st_ino == fstat(fd).st_ino:
                    unlink(cache)
            except OSError:
                pass
        first, last = entry[5], entry[6]
        return compile("\n" * (first - 1) + "".join(source_lines[first - 1:last]), path, "exec")

    def load(number):
        loaded.add(number)
        # A name bound already keeps its value: a function may have assigned
        # its global before a lookup of another name of the unit loaded it.
        bound = [(name, dict.__getitem__(scope, name)) for name in units[number][1] if dict.__contains__(scope, name)]
        try:
            code = code_of(units[number])
        except Exception:
            code = from_source(units[number])
        exec(code, scope)
        dict.update(scope, bound)

    def load_all():
        for number in range(len(units)):
            if number not in loaded:
                load(number)
        close(fd)

    # the builtins are copied in, so that looking one up never reaches __missing__
    scope = SectionGlobals(builtins.__dict__)
    scope.update(__name__="minirun", __file__=path, __builtins__=builtins,
                 LOAD_ALL_SECTIONS=load_all, LOADED_SECTIONS=loaded)
    try:
        for number, entry in enumerate(units):
            if entry[0] == "header":
                load(number)
        run = scope["run_as_program"]
    except Exception:               # nothing has run: the launcher imports the file
        close(fd)
        return
    run()


def load_every_section():
    """Under the launcher's fast path, load the sections not loaded yet (before
    clone); imported as a module, everything is loaded already."""
    load_all = globals().pop("LOAD_ALL_SECTIONS", None)
    if load_all is not None:
        load_all()


# -- start-up: an executable the container cannot write ----------------------
# CVE-2019-5736, with CAP_SYS_PTRACE: create's init (while it waits in a pid
# namespace others may share or later join) and exec's process (until it
# execve's) are clones of this process, visible in the container's /proc. A
# container process holding CAP_SYS_PTRACE in the user namespace our memory
# belongs to (the host's, unless the container has its own) passes
# ptrace_may_access despite PR_SET_DUMPABLE 0: it opens /proc/PID/exe, the
# host's Python interpreter, and reopens it for writing once no process runs
# it any more (until then the kernel refuses with ETXTBSY).
# /proc/PID/exe is fixed at execve, and PR_SET_MM_EXE_FILE refuses while the
# old file is still mapped (the interpreter's code is). So create, run and
# exec, the commands that make processes a container can see, first make
# sure this process was itself started from a file nobody can write through
# that link: one on a read-only mount (a host with a read-only /usr pays
# nothing), or a sealed memfd. If not, they execve the same interpreter again,
# with the same argv and environment (read back from /proc/self: `-I -S -c`
# of the sh header or `python3 minirun.py`, any Python version), from
#   * a detached read-only bind mount of the file (open_tree(OPEN_TREE_CLONE)
#     and mount_setattr(MOUNT_ATTR_RDONLY), Linux 5.12, with CAP_SYS_ADMIN):
#     no copy, no namespace change, nothing left mounted anywhere; a write
#     through the link fails with EROFS; or else
#   * a memfd copy sealed against writing, shrinking and growing (kernels
#     before 5.12, unprivileged callers): a write fails with EPERM.
# The new process finds itself safe by the same test (no marker an attacker
# or a caller could set), and each file is checked before the execve, so it
# cannot loop. This runs before the sections load (start_from_sections), so
# the first process does little work that is thrown away (the cost: one
# more interpreter start-up, ~15 ms of CPU; see README, Security).
# Not skipped for a container with its own user namespace, where
# non-dumpability alone would stop its processes: a container without one
# may share or later join the same pid namespace (a pod, --pid container:).

EXECUTABLE_COMMANDS = frozenset(("create", "run", "exec"))     # what makes processes a container sees


def runs_from_unwritable_file():
    """True when /proc/self/exe cannot be written through: it lies on a
    read-only mount, or is a memfd sealed against writing. Its bytecode also
    runs on its own in start_from_sections (builtins only, its own imports)."""
    import os

    try:
        if os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY:
            return True
        fd = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        from fcntl import fcntl, F_GET_SEALS, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE

        seals = fcntl(fd, F_GET_SEALS)      # EINVAL for a file that is not a memfd
    except OSError:
        return False
    finally:
        os.close(fd)
    return seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) == F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


def process_start_arguments(cmdline="/proc/self/cmdline", environ="/proc/self/environ"):
    """(argv, env) exactly as this process was started: the kernel's copy,
    not sys.argv (the sh header's bootstrap popped it; sys.orig_argv is 3.10+)
    nor os.environ (Python may have set LC_CTYPE at start-up, PEP 538). An
    environment entry execve could not take back (no '=', an empty name) is
    left out, as Python leaves it out of os.environ; the first of two wins."""
    with open(cmdline, "rb") as f:
        argv = f.read().split(b"\0")[:-1]
    with open(environ, "rb") as f:
        entries = f.read().split(b"\0")[:-1]
    env = {}
    for entry in entries:
        name, equals, value = entry.partition(b"=")
        if equals and name:
            env.setdefault(name, value)
    return argv, env


def unwritable_executable(k, exe="/proc/self/exe"):
    """An fd of `exe` (the interpreter) that a container cannot write through
    once it runs: a detached read-only bind mount of it, or else a sealed
    memfd copy (either is what runs_from_unwritable_file() accepts after the
    execve). Raises OSError when neither can be made."""
    try:
        return k.read_only_tree(exe)
    except OSError:     # EPERM unprivileged, ENOSYS before 5.12 (mount_setattr)
        return k.sealed_copy(exe, "minirun")


def run_from_unwritable_executable(k=None, started="/proc/self"):
    """execve this interpreter again, with the same argv and environment,
    from an unwritable file. Returns only when that failed: the reason."""
    try:
        k = k or kernel()
        argv, env = process_start_arguments(started + "/cmdline", started + "/environ")
        k.execve(unwritable_executable(k), argv, env)
        reason = "execve returned"      # only a double's does
    except OSError as exc:
        reason = os_error_text(exc)
    return "cannot run from a read-only or sealed copy of the Python interpreter: %s" % reason

# ===========================================================================
# 2. The kernel seam
# ===========================================================================
# Every call that changes the kernel's or the file system's state on behalf
# of a container goes through one object, `Kernel`: libc through ctypes
# (clone with a stack we allocate, setns, unshare, mount, pivot_root,
# sendmsg with SCM_RIGHTS, raw syscall() where libc has no wrapper) and the
# os.* calls that create, chown, chroot or switch credentials. Unit tests
# swap in a recording double (tests/unit/kernel_double.py) and assert on the
# sequence of calls root-filesystem preparation and process setup make, as
# youki's test Syscall does. Pure reads (stat, readlink, listdir) stay os.*.
#
# ctypes is loaded only by the commands that need the kernel: `state` and
# `list` never pay for it. Errors are OSError; the errno values the runtime
# tells apart are named in E below (Linux's numbers, the same on x86_64 and
# aarch64; importing the errno module costs ~0.1 ms on every call).


class E:
    EPERM, ENOENT, EIO, EBADF, EBUSY, EXDEV, ENODEV, ENOTDIR, EINVAL, ENAMETOOLONG, ENOSYS, ELOOP, EPROTO, \
        EMSGSIZE, EOPNOTSUPP = 1, 2, 5, 9, 16, 18, 19, 20, 22, 36, 38, 40, 71, 90, 95


CLONE_NEWTIME = 0x00000080
CLONE_PARENT = 0x00008000
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_INTO_CGROUP = 0x200000000     # clone3 only (Linux 5.7)
CLONE_ARGS_SIZE_VER2 = 88           # struct clone_args up to .cgroup
SIGCHLD = 17

# One record per namespace type: (spec name, clone flag, /proc/PID/ns name),
# in the order a process joins them. The user namespace comes first: it
# decides what the process may do in the others. pid and time come after the
# rest because setns() into them only moves the caller's future children.
# mount comes last of the ones that move the caller, so that /proc/PID/ns
# paths opened earlier stay meaningful.
NAMESPACES = (
    ("user", CLONE_NEWUSER, "user"), ("ipc", CLONE_NEWIPC, "ipc"), ("uts", CLONE_NEWUTS, "uts"),
    ("network", CLONE_NEWNET, "net"), ("cgroup", CLONE_NEWCGROUP, "cgroup"),
    ("time", CLONE_NEWTIME, "time"), ("pid", CLONE_NEWPID, "pid"), ("mount", CLONE_NEWNS, "mnt"),
)
NAMESPACE_FLAGS = {name: flag for name, flag, _ in NAMESPACES}
NAMESPACE_PROC_NAMES = {name: proc for name, _, proc in NAMESPACES}
NAMESPACE_JOIN_ORDER = tuple(name for name, _, _ in NAMESPACES)

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

TIOCSWINSZ = 0x5414
TIOCSCTTY = 0x540E
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441  # Linux 4.13: the slave of a pty master, opened from the master itself

# Syscalls the runtime itself makes through syscall() (glibc has no wrapper
# for them, or had none in older releases). Their numbers come from the
# appendix's tables, the same ones the seccomp compiler uses.
RUNTIME_SYSCALLS = ("pivot_root", "capset", "keyctl", "personality", "seccomp", "openat2",
                    "close_range", "mount_setattr", "bpf", "open_tree", "move_mount", "clone3",
                    "set_mempolicy", "mbind", "sched_setattr", "ioprio_set")
# struct sched_attr: 48 bytes up to the deadline triple (SCHED_ATTR_SIZE_VER0),
# 56 with the utilization clamps (VER1, Linux 5.3), which only the
# SCHED_FLAG_UTIL_CLAMP_* flags need: older kernels take the shorter one.
SCHED_ATTR_SIZE_VER0 = 48
SCHED_ATTR_SIZE_VER1 = 56
# The new mount API (Linux 5.2; MOUNT_ATTR_IDMAP 5.12): id-mapped mounts.
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = 0o2000000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_SYMLINKS = 0x10
MOVE_MOUNT_T_EMPTY_PATH = 0x40
AT_EMPTY_PATH = 0x1000
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_IDMAP = 0x00100000
NS_GET_NSTYPE = 0xB703
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
PROC_SUPER_MAGIC = 0x9FA0  # statfs's f_type of a procfs
PROC_ROOT_INO = 1
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
AF_NETLINK = 16
NETLINK_ROUTE = 0


class Kernel:
    """The runtime's only way to change kernel state. Each method raises OSError."""

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.lib = lib = ctypes.CDLL("libc.so.6", use_errno=True)
        c_int, c_ulong, c_char_p, c_void_p, c_long = (
            ctypes.c_int, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_long)
        self.clone_callback_type = ctypes.CFUNCTYPE(c_int, c_void_p)
        lib.clone.argtypes = [self.clone_callback_type, c_void_p, c_int, c_void_p]
        lib.mount.argtypes = [c_char_p, c_char_p, c_char_p, c_ulong, c_char_p]
        lib.umount2.argtypes = [c_char_p, c_int]
        lib.fstatfs.argtypes = [c_int, c_void_p]
        lib.setns.argtypes = [c_int, c_int]
        lib.unshare.argtypes = [c_int]
        lib.sethostname.argtypes = [c_char_p, ctypes.c_size_t]
        lib.setdomainname.argtypes = [c_char_p, ctypes.c_size_t]
        lib.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
        lib.mmap.restype = c_void_p
        lib.mmap.argtypes = [c_void_p, ctypes.c_size_t, c_int, c_int, c_int, c_long]
        lib.mprotect.argtypes = [c_void_p, ctypes.c_size_t, c_int]
        lib.munmap.argtypes = [c_void_p, ctypes.c_size_t]
        lib.syscall.restype = c_long
        lib.ioctl.argtypes = [c_int, c_ulong, c_void_p]
        lib.socket.argtypes = [c_int, c_int, c_int]
        lib.socketpair.argtypes = [c_int, c_int, c_int, c_void_p]
        lib.connect.argtypes = [c_int, c_void_p, ctypes.c_uint32]
        lib.sendmsg.argtypes = [c_int, c_void_p, c_int]
        lib.sendmsg.restype = ctypes.c_ssize_t
        lib.recvmsg.argtypes = [c_int, c_void_p, c_int]
        lib.recvmsg.restype = ctypes.c_ssize_t
        machine = os.uname().machine
        table = syscall_table(machine) if machine in SYSCALL_TABLES else {}
        self.syscalls = {name: table[name] for name in RUNTIME_SYSCALLS if name in table}

        # Defined here, before any clone: the init uses them after pivot_root,
        # and Python 3.14's ctypes imports a helper module (ctypes._layout)
        # the first time a Structure is defined, which cannot be found there.
        class IOVec(ctypes.Structure):
            _fields_ = [("base", c_void_p), ("len", ctypes.c_size_t)]

        class MsgHdr(ctypes.Structure):
            _fields_ = [("name", c_void_p), ("namelen", ctypes.c_uint32),
                        ("iov", ctypes.POINTER(IOVec)), ("iovlen", ctypes.c_size_t),
                        ("control", c_void_p), ("controllen", ctypes.c_size_t),
                        ("flags", c_int)]

        self.IOVec, self.MsgHdr = IOVec, MsgHdr

    # -- plumbing ----------------------------------------------------------

    def check(self, result, what, path=None):
        if result == -1:
            number = self.ctypes.get_errno()
            raise OSError(number, "%s: %s" % (what, os.strerror(number)), path)
        return result

    def syscall(self, name, *args):
        nr = self.syscalls.get(name)
        if nr is None:
            raise OSError(E.ENOSYS, "%s: no syscall number for %s" % (name, os.uname().machine))
        c_long = self.ctypes.c_long
        return self.check(self.lib.syscall(c_long(nr), *[c_long(a) for a in args]), name)

    @staticmethod
    def _b(value):
        return None if value is None else os.fsencode(value)

    # -- mounts and namespaces ---------------------------------------------

    def mount(self, source, target, fstype, flags, data=None):
        result = self.lib.mount(self._b(source), self._b(target), self._b(fstype), flags, self._b(data))
        self.check(result, "mount", target)

    def umount(self, target, flags=0):
        self.check(self.lib.umount2(self._b(target), flags), "umount", target)

    def mount_setattr(self, path, attr_set, attr_clr):
        import struct

        attr = self.ctypes.create_string_buffer(struct.pack("=QQQQ", attr_set, attr_clr, 0, 0))
        raw = self.ctypes.create_string_buffer(os.fsencode(path))
        addr = self.ctypes.addressof
        self.syscall("mount_setattr", AT_FDCWD, addr(raw), AT_RECURSIVE, addr(attr), 32)

    def open_tree(self, path, flags):
        """open_tree(2) at path: with OPEN_TREE_CLONE, a detached copy of the mount there."""
        raw = self.ctypes.create_string_buffer(os.fsencode(path))
        return self.syscall("open_tree", AT_FDCWD, self.ctypes.addressof(raw), flags)

    def read_only_tree(self, path):
        """A close-on-exec fd of a detached read-only bind mount of path
        (open_tree, then mount_setattr: Linux 5.12), checked to be read-only."""
        import struct

        tree = self.open_tree(path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
        try:
            attr = self.ctypes.create_string_buffer(struct.pack("=QQQQ", MOUNT_ATTR_RDONLY, 0, 0, 0))
            empty = self.ctypes.create_string_buffer(b"")
            addr = self.ctypes.addressof
            self.syscall("mount_setattr", tree, addr(empty), AT_EMPTY_PATH, addr(attr), 32)
            if not os.fstatvfs(tree).f_flag & os.ST_RDONLY:
                raise OSError(E.EPERM, "mount_setattr: %s is still writable" % path)
        except BaseException:
            os.close(tree)
            raise
        return tree

    def sealed_copy(self, path, name):
        """A close-on-exec memfd holding a copy of the file at path, sealed
        against writing, shrinking and growing, and against further seals."""
        import fcntl

        source = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            copy = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            try:
                size = os.fstat(source).st_size
                done = 0
                while done < size:
                    sent = os.sendfile(copy, source, None, size - done)
                    if not sent:
                        raise OSError(E.EIO, "%s: shorter than its size while copying" % path)
                    done += sent
                fcntl.fcntl(copy, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
                            | fcntl.F_SEAL_SEAL)
            except BaseException:
                os.close(copy)
                raise
        finally:
            os.close(source)
        return copy

    def idmap_tree(self, tree_fd, userns_fd, recursive):
        """mount_setattr(MOUNT_ATTR_IDMAP) on a detached tree: its files' ids as userns_fd maps them."""
        import struct

        attr = self.ctypes.create_string_buffer(struct.pack("=QQQQ", MOUNT_ATTR_IDMAP, 0, 0, userns_fd))
        empty = self.ctypes.create_string_buffer(b"")
        addr = self.ctypes.addressof
        self.syscall("mount_setattr", tree_fd, addr(empty), AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0),
                     addr(attr), 32)

    def move_mount(self, tree_fd, target):
        """Attach a detached tree at target."""
        empty = self.ctypes.create_string_buffer(b"")
        raw = self.ctypes.create_string_buffer(os.fsencode(target))
        addr = self.ctypes.addressof
        # T_SYMLINKS: the target is a /proc/self/fd/N magic link to follow.
        self.syscall("move_mount", tree_fd, addr(empty), AT_FDCWD, addr(raw),
                     MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS)

    def bind_fd(self, source_fd, target_fd):
        """Bind the file source_fd is open on over the one target_fd is open on
        (open_tree + move_mount, Linux 5.2): neither is named by a path, so
        nothing is resolved again between the check of a file and its bind."""
        empty = self.ctypes.create_string_buffer(b"")
        addr = self.ctypes.addressof
        tree = self.syscall("open_tree", source_fd, addr(empty), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH)
        try:
            self.syscall("move_mount", tree, addr(empty), target_fd, addr(empty),
                         MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
        finally:
            os.close(tree)

    def setns(self, fd, nstype):
        self.check(self.lib.setns(fd, nstype), "setns")

    def unshare(self, flags):
        self.check(self.lib.unshare(flags), "unshare")

    def namespace_type(self, fd):
        """The CLONE_NEW* flag of the namespace behind fd (NS_GET_NSTYPE), or
        OSError (ENOTTY for a file that is not a namespace)."""
        return self.check(self.lib.ioctl(fd, NS_GET_NSTYPE, None), "ioctl(NS_GET_NSTYPE)")

    def pivot_root(self, new_root, put_old):
        new, old = self.ctypes.c_char_p(os.fsencode(new_root)), self.ctypes.c_char_p(os.fsencode(put_old))
        as_long = self.ctypes.cast
        self.syscall("pivot_root", as_long(new, self.ctypes.c_void_p).value, as_long(old, self.ctypes.c_void_p).value)

    def chroot(self, path):
        os.chroot(path)

    def chdir(self, path):
        os.chdir(path)

    def fchdir(self, fd):
        os.fchdir(fd)

    def openat2_in_root(self, root_fd, path, flags):
        """openat2(RESOLVE_IN_ROOT): resolve path with root_fd as '/', atomically."""
        import struct

        how = self.ctypes.create_string_buffer(struct.pack("=QQQ", flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS))
        rel = self.ctypes.create_string_buffer(os.fsencode(path.lstrip("/") or "."))
        addr = self.ctypes.addressof
        return self.syscall("openat2", root_fd, addr(rel), addr(how), 24)

    def openat2_beneath(self, dir_fd, path, flags):
        """openat2 below dir_fd, crossing no mount point and following no
        symlink: a file proven to be on dir_fd's own mount (Linux 5.6)."""
        import struct

        resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
        how = self.ctypes.create_string_buffer(struct.pack("=QQQ", flags, 0, resolve))
        rel = self.ctypes.create_string_buffer(os.fsencode(path))
        addr = self.ctypes.addressof
        return self.syscall("openat2", dir_fd, addr(rel), addr(how), 24)

    def filesystem_type(self, fd):
        """f_type of fstatfs(fd): the magic number of the filesystem fd is on."""
        buf = self.ctypes.create_string_buffer(256)  # struct statfs: f_type, a long, comes first
        self.check(self.lib.fstatfs(fd, buf), "fstatfs")
        return int.from_bytes(buf.raw[:self.ctypes.sizeof(self.ctypes.c_long)], sys.byteorder)

    # -- files (creating, owning, writing kernel knobs) ---------------------

    def open(self, path, flags, mode=0o777, dir_fd=None):
        return os.open(path, flags, mode, dir_fd=dir_fd)

    def close(self, fd):
        os.close(fd)

    def mkdir(self, path, mode, dir_fd=None):
        os.mkdir(path, mode, dir_fd=dir_fd)

    def rmdir(self, path):
        os.rmdir(path)

    def mknod(self, path, mode, device, dir_fd=None):
        os.mknod(path, mode, device, dir_fd=dir_fd)

    def symlink(self, target, path, dir_fd=None):
        os.symlink(target, path, dir_fd=dir_fd)

    def unlink(self, path, dir_fd=None):
        os.unlink(path, dir_fd=dir_fd)

    def chown(self, path, uid, gid, dir_fd=None, follow_symlinks=True):
        os.chown(path, uid, gid, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    def fchown(self, fd, uid, gid):
        os.fchown(fd, uid, gid)

    def chmod(self, path, mode):
        os.chmod(path, mode)

    def write_file(self, path, text):
        """One write(2) to a kernel knob (uid_map, timens_offsets, oom_score_adj):
        the kernel parses each write as a whole, so it must not be split.
        These are the host's /proc, written from outside the container's
        mounts; a knob in the container's /proc (a sysctl, an LSM label) goes
        through write_procfs, which proves the procfs it lands on
        (CVE-2019-16884, CVE-2025-52881). O_NONBLOCK and O_NOFOLLOW all the
        same: no path under /proc is a FIFO or a symlink to follow.
        """
        flags = os.O_WRONLY | os.O_CLOEXEC
        if path.startswith("/proc/"):
            flags |= os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
        fd = os.open(path, flags)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    def write_fd(self, fd, text):
        """One write(2) of text to an open kernel knob (see write_file)."""
        os.write(fd, text.encode())

    def run_helper(self, path, args):
        """Run a setuid helper (newuidmap, newgidmap) to completion: (status, its output).
        posix_spawn, not subprocess: no thread, no import of the subprocess package."""
        read_end, write_end = os.pipe()
        try:
            pid = os.posix_spawn(path, [os.path.basename(path)] + list(args), {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                                 file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 1), (os.POSIX_SPAWN_DUP2, write_end, 2)])
        finally:
            os.close(write_end)
        output = b""
        try:
            while True:
                chunk = os.read(read_end, 4096)
                if not chunk:
                    break
                output += chunk
        finally:
            os.close(read_end)
        return exit_code(os.waitpid(pid, 0)[1]), output.decode("utf-8", "replace")

    # -- credentials, limits and the process --------------------------------

    def setgroups(self, gids):
        os.setgroups(gids)

    def setresgid(self, gid):
        os.setresgid(gid, gid, gid)

    def setresuid(self, uid):
        os.setresuid(uid, uid, uid)

    def setrlimit(self, number, soft, hard):
        import resource

        resource.setrlimit(number, (soft, hard))

    def umask(self, mask):
        return os.umask(mask)

    def setsid(self):
        os.setsid()

    def dup2(self, fd, target):
        os.dup2(fd, target)

    def execve(self, path, args, env):
        """execve(2); path may be an fd (then execveat(AT_EMPTY_PATH), as fexecve)."""
        os.execve(path, args, env)

    def sethostname(self, name):
        raw = name.encode()
        self.check(self.lib.sethostname(raw, len(raw)), "sethostname")

    def setdomainname(self, name):
        raw = name.encode()
        self.check(self.lib.setdomainname(raw, len(raw)), "setdomainname")

    def prctl(self, option, a2=0, a3=0, a4=0, a5=0):
        return self.check(self.lib.prctl(option, a2, a3, a4, a5), "prctl")

    def capset(self, effective, permitted, inheritable):
        import struct

        header = self.ctypes.create_string_buffer(struct.pack("=Ii", 0x20080522, 0))  # v3, self
        data = self.ctypes.create_string_buffer(struct.pack(
            "=6I", effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF,
            effective >> 32, permitted >> 32, inheritable >> 32))
        addr = self.ctypes.addressof
        self.syscall("capset", addr(header), addr(data))

    def personality(self, persona):
        self.syscall("personality", persona)

    def set_mempolicy(self, mode, nodes):
        """set_mempolicy(2): the calling thread's NUMA policy, which its
        children inherit and execve keeps. `mode` carries its MPOL_F_* flags."""
        import struct

        words = [0] * (max(nodes) // 64 + 1) if nodes else []
        for node in nodes:
            words[node // 64] |= 1 << (node % 64)
        mask = self.ctypes.create_string_buffer(struct.pack("=%dQ" % len(words), *words)) if words else None
        # maxnode is one more than the bits given: the kernel reads maxnode - 1 bits.
        self.syscall("set_mempolicy", mode, self.ctypes.addressof(mask) if words else 0,
                     64 * len(words) + 1 if words else 0)

    def mempolicy_mode_known(self, mode):
        """Whether the kernel takes this policy mode with its flags: mbind(2)
        checks them, then does nothing for an empty range. True, False
        (EINVAL: a mode or flag this kernel lacks), None (ENOSYS: no NUMA)."""
        try:
            self.syscall("mbind", 0, 0, mode, 0, 0, 0)
        except OSError as exc:
            return None if exc.errno == E.ENOSYS else exc.errno != E.EINVAL
        return True

    def sched_setattr(self, policy, flags, nice, priority, runtime, deadline, period, size):
        """sched_setattr(0, attr, 0) for the calling thread (the only one).
        The utilization clamps, which the spec gives no values for, are 0."""
        import struct

        attr = struct.pack("=IIQiIQQQII", size, policy, flags, nice, priority, runtime, deadline, period, 0, 0)
        buffer = self.ctypes.create_string_buffer(attr[:size])
        self.syscall("sched_setattr", 0, self.ctypes.addressof(buffer), 0)

    def ioprio_set(self, value):
        """The I/O priority of the calling process (IOPRIO_WHO_PROCESS, 0)."""
        self.syscall("ioprio_set", IOPRIO_WHO_PROCESS, 0, value)

    def sched_setaffinity(self, pid, cpus):
        os.sched_setaffinity(pid, cpus)

    def join_session_keyring(self, name):
        raw = self.ctypes.create_string_buffer(name.encode())
        self.syscall("keyctl", 1, self.ctypes.addressof(raw))  # KEYCTL_JOIN_SESSION_KEYRING

    def close_fds_from(self, first, keep=()):
        """Close every fd >= first but those in `keep`, whatever RLIMIT_NOFILE
        says (a loop up to the soft limit would miss fds above it)."""
        load_every_section()    # the sections cache's fd goes too (section 1, start-up)
        low = first
        for high in sorted(fd for fd in set(keep) if fd >= first) + [0xFFFFFFFF + 1]:
            if low <= high - 1:
                self._close_range(low, high - 1)
            low = high + 1

    def _close_range(self, low, high):
        try:
            self.syscall("close_range", low, high, 0)
        except OSError:  # kernels before 5.9: close what /proc/self/fd lists
            for name in os.listdir("/proc/self/fd"):
                if low <= int(name) <= high:
                    try:
                        os.close(int(name))
                    except OSError:
                        pass

    # -- ioctls, seccomp ----------------------------------------------------

    def ioctl_int(self, fd, request, value=0):
        """ioctl with an int argument passed by pointer; returns the int after the call."""
        arg = self.ctypes.c_int(value)
        self.check(self.lib.ioctl(fd, request, self.ctypes.byref(arg)), "ioctl")
        return arg.value

    def ioctl_bytes(self, fd, request, payload):
        buf = self.ctypes.create_string_buffer(payload, len(payload))
        self.check(self.lib.ioctl(fd, request, buf), "ioctl")

    def ioctl_arg(self, fd, request, arg):
        self.check(self.lib.ioctl(fd, request, arg), "ioctl")

    def pty_peer(self, master, flags):
        """The slave of pty `master`, opened through the master (TIOCGPTPEER): no path."""
        return self.check(self.lib.ioctl(master, TIOCGPTPEER, flags), "ioctl(TIOCGPTPEER)")

    def seccomp_load(self, program, flags):
        """seccomp(SECCOMP_SET_MODE_FILTER); returns the listener fd with NEW_LISTENER."""
        import struct

        raw = b"".join(struct.pack("=HBBI", *insn) for insn in program)
        filters = self.ctypes.create_string_buffer(raw, len(raw))
        fprog = self.ctypes.create_string_buffer(struct.pack("=H6xQ", len(program), self.ctypes.addressof(filters)))
        return self.syscall("seccomp", 1, flags, self.ctypes.addressof(fprog))

    def seccomp_action_available(self, action):
        import struct

        value = self.ctypes.create_string_buffer(struct.pack("=I", action))
        try:
            self.syscall("seccomp", 2, 0, self.ctypes.addressof(value))  # SECCOMP_GET_ACTION_AVAIL
        except OSError as exc:
            if exc.errno == E.EOPNOTSUPP:
                return False
            raise
        return True

    def seccomp_flag_available(self, flag):
        """A filter flag the kernel knows is checked before the (NULL) program:
        EFAULT means known, EINVAL unknown."""
        try:
            self.syscall("seccomp", 1, flag, 0)
        except OSError as exc:
            return exc.errno != E.EINVAL
        return True

    # -- sockets ------------------------------------------------------------

    def socketpair(self):
        fds = (self.ctypes.c_int * 2)()
        self.check(self.lib.socketpair(1, 1 | 0o2000000, 0, fds), "socketpair")  # AF_UNIX, STREAM|CLOEXEC
        return fds[0], fds[1]

    def seqpacket_pair(self):
        """A connected AF_UNIX SOCK_SEQPACKET pair, close-on-exec: message
        boundaries kept (CRIU's RPC is one protobuf message a packet)."""
        fds = (self.ctypes.c_int * 2)()
        self.check(self.lib.socketpair(1, 5 | 0o2000000, 0, fds), "socketpair")  # AF_UNIX, SEQPACKET|CLOEXEC
        return fds[0], fds[1]

    def connect_unix(self, path):
        raw = os.fsencode(path)
        if len(raw) >= 108:
            raise OSError(E.ENAMETOOLONG, "socket path too long", path)
        fd = self.check(self.lib.socket(1, 1 | 0o2000000, 0), "socket")
        addr = self.ctypes.create_string_buffer(b"\x01\x00" + raw + b"\x00", 110)
        try:
            self.check(self.lib.connect(fd, addr, 2 + len(raw) + 1), "connect", path)
        except OSError:
            os.close(fd)
            raise
        return fd

    def netlink_socket(self):
        """A NETLINK_ROUTE socket. It talks to the network namespace it was
        made in, whichever the caller enters afterwards."""
        return self.check(self.lib.socket(AF_NETLINK, 3 | 0o2000000, NETLINK_ROUTE), "socket(AF_NETLINK)")  # RAW|CLOEXEC

    def netlink_exchange(self, sock, request):
        """One rtnetlink request and the kernel's answer (one datagram: the
        requests here each get one, an ACK, an error or a link)."""
        os.write(sock, request)
        return os.read(sock, 65536)

    def _msghdr(self, payload, control):
        ctypes = self.ctypes
        iov = self.IOVec(ctypes.addressof(payload), len(payload))
        hdr = self.MsgHdr(None, 0, ctypes.pointer(iov), 1, ctypes.addressof(control), len(control), 0)
        return hdr, iov

    def send_fd(self, sock, fd, name):
        """One sendmsg carrying one SCM_RIGHTS fd and a short name: the console-socket contract."""
        import struct

        payload = self.ctypes.create_string_buffer(name.encode(), len(name.encode()))
        # struct cmsghdr { size_t len; int level; int type; } + int, padded to CMSG_SPACE(4) = 24.
        control = self.ctypes.create_string_buffer(struct.pack("=QiiI", 20, 1, 1, fd) + b"\0" * 4, 24)
        hdr, _iov = self._msghdr(payload, control)
        self.check(self.lib.sendmsg(sock, self.ctypes.byref(hdr), 0x4000), "sendmsg")  # MSG_NOSIGNAL

    def recv_fd(self, sock):
        """The fd of one send_fd (its name is read and dropped)."""
        _name, fds = self.recv_message(sock, 256)
        if not fds:
            raise OSError(E.EPROTO, "recvmsg: no file descriptor received")
        for extra in fds[1:]:
            os.close(extra)
        return fds[0]

    def recv_message(self, sock, size):
        """One packet of at most `size` bytes and the fds that came with it
        (SCM_RIGHTS, close-on-exec); OSError(EMSGSIZE) if it was larger."""
        import struct

        payload = self.ctypes.create_string_buffer(size)
        control = self.ctypes.create_string_buffer(64)   # room for 12 fds
        hdr, _iov = self._msghdr(payload, control)
        length = self.check(self.lib.recvmsg(sock, self.ctypes.byref(hdr), 0x40000000), "recvmsg")  # MSG_CMSG_CLOEXEC
        fds = []
        if hdr.controllen >= 16:
            cmsg_len, level, kind = struct.unpack_from("=Qii", control.raw)
            if level == 1 and kind == 1:    # SOL_SOCKET, SCM_RIGHTS
                fds = list(struct.unpack_from("=%di" % ((cmsg_len - 16) // 4), control.raw, 16))
        if hdr.flags & 0x20:    # MSG_TRUNC
            for fd in fds:
                os.close(fd)
            raise OSError(E.EMSGSIZE, "message too long")
        return payload.raw[:length], fds

    # -- clone --------------------------------------------------------------

    def clone(self, child_main, flags):
        """clone(2) with a runtime-owned stack, calling child_main() in the child.

        The stack is an mmap'd region with a PROT_NONE guard page at its low end
        (an overflow faults instead of corrupting memory); the child gets a
        copy-on-write copy, so the parent unmaps its own at once. child_main
        must end with os._exit: if the callback returned, ctypes would make the
        child exit 0 and swallow any exception.
        """
        load_every_section()    # the child must not load code (section 1, start-up)
        size, guard = 8 << 20, 4096
        prot_rw, map_flags = 0x1 | 0x2, 0x02 | 0x20 | 0x20000  # PRIVATE|ANONYMOUS|STACK
        base = self.lib.mmap(None, size, prot_rw, map_flags, -1, 0)
        if base in (None, self.ctypes.c_void_p(-1).value):
            raise OSError(self.ctypes.get_errno(), "mmap of the clone stack failed")
        try:
            self.check(self.lib.mprotect(base, guard, 0), "mprotect")
            top = (base + size) & ~15

            def trampoline(_arg):
                try:
                    child_main()
                finally:
                    os._exit(120)

            callback = self.clone_callback_type(trampoline)
            return self.check(self.lib.clone(callback, top, flags | SIGCHLD, None), "clone")
        finally:
            self.lib.munmap(base, size)

    def clone3_into_cgroup(self, flags, cgroup_fd):
        """The bare clone3(CLONE_INTO_CGROUP) with no stack: 0 in the child,
        as fork. clone_into_cgroup and the host fact call it."""
        import struct

        args = self.ctypes.create_string_buffer(struct.pack(
            "=11Q", flags | CLONE_INTO_CGROUP, 0, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd))
        return self.syscall("clone3", self.ctypes.addressof(args), CLONE_ARGS_SIZE_VER2)

    def clone_into_cgroup(self, child_main, flags, cgroup_fd):
        """clone3(CLONE_INTO_CGROUP) (Linux 5.7): the child starts in the cgroup
        `cgroup_fd` names and never runs a moment outside it. With no stack
        given and no CLONE_VM, the child runs on a copy-on-write copy of this
        stack, as after fork: it returns from the syscall here and runs
        child_main, which must end with os._exit."""
        load_every_section()    # the child must not load code (section 1, start-up)
        pid = self.clone3_into_cgroup(flags, cgroup_fd)
        if pid == 0:
            try:
                child_main()
            finally:
                os._exit(120)
        return pid


_KERNEL = None


def kernel():
    """The process's Kernel, made on first use (it loads ctypes)."""
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = Kernel()
    return _KERNEL


# Linux signal numbers (the same on x86_64 and aarch64): importing the signal
# module costs ~5 ms of enum machinery, the table costs nothing.
SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8,
    "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15,
    "STKFLT": 16, "CHLD": 17, "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22,
    "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29,
    "PWR": 30, "SYS": 31,
}
SIGRTMIN, SIGRTMAX = 34, 64


def parse_signal(text):
    """'TERM', 'SIGTERM', 'term', '15', 'RTMIN+2' -> 15 etc., as runc accepts them.
    0 is valid: `kill ID 0` probes whether the container can be signalled."""
    raw = text.strip()
    if is_decimal(raw):
        num = int(raw)
        if 0 <= num <= SIGRTMAX:
            return num
        raise Error("invalid signal %s" % text)
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in SIGNALS:
        return SIGNALS[name]
    for base, origin in (("RTMIN", SIGRTMIN), ("RTMAX", SIGRTMAX)):
        if name == base:
            return origin
        sign, offset = name[len(base):len(base) + 1], name[len(base) + 1:]
        if name.startswith(base) and sign in ("+", "-") and is_decimal(offset):
            number = origin + int(offset) if sign == "+" else origin - int(offset)
            if SIGRTMIN <= number <= SIGRTMAX:
                return number
    raise Error('unknown signal "%s"' % text)


def is_decimal(text):
    """ASCII digits only: str.isdigit() also takes '²' (which int() refuses)
    and '٣' (which int() reads as 3)."""
    return text.isascii() and text.isdigit()


def process_start_time(pid):
    """Field 22 of /proc/PID/stat: tells a process from a later one reusing its pid."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):  # a zombie has exited: the container is stopped
        return None
    return int(fields[19])


# ===========================================================================
# 3. Host facts
# ===========================================================================
# What this machine can do, probed once and only when a decision needs it:
# who we are (root, or a user in or out of a user namespace), the cgroup
# layout, which LSMs are active and which AppArmor profiles are loaded, the
# last capability, which seccomp actions and flags the kernel knows, the
# filesystems it can mount. Planning reads these facts; code that does the
# work never falls back on an errno to discover them. Unit tests build a Host
# with the facts they want (`Host(facts={...})`).


class Host:
    """Facts about the host, each computed on first use and then kept."""

    def __init__(self, kernel_factory=None, facts=None):
        self._kernel_factory = kernel_factory or kernel
        self._facts = dict(facts or {})

    def _fact(self, name, probe):
        if name not in self._facts:
            self._facts[name] = probe()
        return self._facts[name]

    @property
    def euid(self):
        return self._fact("euid", os.geteuid)

    @property
    def in_user_namespace(self):
        """True when this process's user namespace is not the initial one
        (its uid_map is not the identity over the whole range)."""
        def probe():
            try:
                with open("/proc/self/uid_map") as idmap:
                    return idmap.read().split() != ["0", "0", "4294967295"]
            except OSError:
                return False
        return self._fact("in_user_namespace", probe)

    @property
    def rootless(self):
        """Not the real root of the host: ids must be mapped, devices bound."""
        return self.euid != 0 or self.in_user_namespace

    @property
    def egid(self):
        return self._fact("egid", os.getegid)

    @property
    def user_name(self):
        """The effective user's name in /etc/passwd, or None (subuid lines name users)."""
        def probe():
            entry = lookup_user(self.euid)
            return entry[0] if entry else None
        return self._fact("user_name", probe)

    def subordinate_ids(self, kind):
        """[(first, count)] the user may map through newuidmap ("uid") or
        newgidmap ("gid"): the lines of /etc/subuid or /etc/subgid naming the
        user by name or by number (shadow-utils accepts both)."""
        def probe():
            ranges = []
            owners = {str(self.euid), self.user_name}
            try:
                with open("/etc/sub%s" % kind) as listing:
                    for line in listing:
                        fields = line.strip().split(":")
                        if len(fields) == 3 and fields[0] in owners and fields[1].isdigit() and fields[2].isdigit():
                            ranges.append((int(fields[1]), int(fields[2])))
            except OSError:
                pass
            return ranges
        return self._fact("subordinate_%ss" % kind, probe)

    def id_map_helper(self, name):
        """The path of newuidmap or newgidmap (Debian: package uidmap), or None."""
        def probe():
            directories = os.environ.get("PATH", "").split(":") + ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            for directory in directories:
                path = os.path.join(directory or ".", name)
                if os.path.isfile(path) and os.access(path, os.X_OK):
                    return path
            return None
        return self._fact("id_map_helper_" + name, probe)

    @property
    def unprivileged_userns_refused(self):
        """Why the kernel refuses new user namespaces to a user who is not
        root (a sysctl set to refuse them), or None."""
        def probe():
            for knob, refusing in (("kernel/unprivileged_userns_clone", "0"), ("user/max_user_namespaces", "0"),
                                   ("kernel/apparmor_restrict_unprivileged_userns", "1")):
                try:
                    with open("/proc/sys/" + knob) as f:
                        if f.read().strip() == refusing:
                            return "%s is %s" % (knob.replace("/", "."), refusing)
                except OSError:
                    pass
            return None
        return self._fact("unprivileged_userns_refused", probe)

    @property
    def has_idmapped_mounts(self):
        """open_tree, move_mount and mount_setattr exist (MOUNT_ATTR_IDMAP came
        with mount_setattr, Linux 5.12). mount_setattr with a bad fd answers
        EBADF where the call exists and ENOSYS where it does not."""
        def probe():
            k = self._kernel_factory()
            if not all(name in k.syscalls for name in ("open_tree", "move_mount", "mount_setattr")):
                return False
            try:
                k.syscall("mount_setattr", -1, 0, 0, 0, 0)
            except OSError as exc:
                return exc.errno != E.ENOSYS
            return True
        return self._fact("has_idmapped_mounts", probe)

    @property
    def has_open_tree(self):
        """open_tree and move_mount exist (Linux 5.2) and no seccomp filter
        around us refuses them: asked with bad arguments, they answer EBADF or
        EFAULT where they exist, ENOSYS where they do not."""
        def probe():
            k = self._kernel_factory()
            for name in ("open_tree", "move_mount"):
                try:
                    k.syscall(name, -1, 0, -1, 0, 0)
                except OSError as exc:
                    if exc.errno == E.ENOSYS:
                        return False
            return True
        return self._fact("has_open_tree", probe)

    def device_node(self, path):
        """(file type bits, rdev) of the host's node at path (symlinks
        followed, as a bind of it would), or None where there is none."""
        def probe():
            try:
                status = os.stat(path)
            except OSError:
                return None
            return status.st_mode & 0o170000, status.st_rdev
        return self._fact("device_node:" + path, probe)

    @property
    def clone_into_cgroup(self):
        """clone3 takes CLONE_INTO_CGROUP (Linux 5.7) and no seccomp filter
        around us refuses clone3 (Docker's default profile answers ENOSYS).
        Asked with the fd of a directory that is no cgroup, which creates no
        process: EBADF where the flag is known, EINVAL before 5.7."""
        def probe():
            k = self._kernel_factory()
            if "clone3" not in k.syscalls:
                return False
            fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                pid = k.clone3_into_cgroup(0, fd)
            except OSError as exc:
                return exc.errno == E.EBADF
            finally:
                os.close(fd)
            if pid == 0:        # no kernel should get here; a child must not go on
                os._exit(0)
            reap(pid)
            return True
        return self._fact("clone_into_cgroup", probe)

    @property
    def cgroup_delegated(self):
        """The user may manage cgroups: root of the host, or cgroup v2 with the
        cgroup where its relative cgroupsPaths start (relative_cgroup_base: the
        parent of the runtime's own scope) writable by the user, cgroup.procs
        included -- moving a process needs write access to the common
        ancestor's cgroup.procs. That is a subtree delegated to it, as
        systemd's user@.service has. A rootless user on v1 never has one."""
        def probe():
            if not self.rootless:
                return True
            try:
                with open("/proc/self/cgroup") as f:
                    lines = f.read().splitlines()
            except OSError:
                return False
            if len(lines) != 1 or not lines[0].startswith("0::"):
                return False  # v1 or hybrid: the v1 hierarchies are never delegated
            base = CGROUP_ROOT + relative_cgroup_base(lines[0][3:], beside_scope=True).rstrip("/")
            return os.access(base, os.W_OK) and os.access(base + "/cgroup.procs", os.W_OK)
        return self._fact("cgroup_delegated", probe)

    @property
    def systemd_user_manager_cgroup(self):
        """The cgroup of the caller's own systemd instance (rootless
        --systemd-cgroup); an Error when none answers."""
        def probe():
            bus = dbus_connect(user=True)
            try:
                return systemd_manager_cgroup(bus)
            finally:
                bus.close()
        return self._fact("systemd_user_manager_cgroup", probe)

    @property
    def last_capability(self):
        def probe():
            try:
                with open("/proc/sys/kernel/cap_last_cap") as handle:
                    return int(handle.read())
            except (OSError, ValueError):
                return len(CAPABILITIES) - 1
        return self._fact("last_capability", probe)

    @property
    def filesystems(self):
        def probe():
            with open("/proc/filesystems") as listing:
                return frozenset(line.split()[-1] for line in listing if line.strip())
        return self._fact("filesystems", probe)

    @property
    def apparmor(self):
        def probe():
            try:
                with open("/sys/module/apparmor/parameters/enabled") as enabled:
                    return enabled.read().strip() == "Y" and os.path.isdir("/sys/kernel/security/apparmor")
            except OSError:
                return False
        return self._fact("apparmor", probe)

    @property
    def apparmor_profiles(self):
        """Names of the loaded AppArmor profiles ("NAME (MODE)" lines), or None if unreadable."""
        def probe():
            try:
                with open("/sys/kernel/security/apparmor/profiles") as f:
                    return frozenset(line.rpartition(" (")[0] for line in f if line.strip())
            except OSError:
                return None
        return self._fact("apparmor_profiles", probe)

    @property
    def selinux(self):
        return self._fact("selinux", lambda: os.path.exists("/sys/fs/selinux/enforce"))

    @property
    def kernel_release(self):
        """(major, minor) of the running kernel, from uname."""
        def probe():
            numbers = os.uname().release.split("-")[0].split(".")
            return tuple(int(n) if n.isdigit() else 0 for n in (numbers + ["0", "0"])[:2])
        return self._fact("kernel_release", probe)

    @property
    def resctrl(self):
        """The mount point of the resctrl filesystem (Intel RDT, AMD QoS), or
        None where it is not mounted in this mount namespace."""
        return self._fact("resctrl", find_resctrl_mount)

    @property
    def cgroup_mount_layout(self):
        """The `cgroup` mount of a container without a cgroup of its own (rootless):
        the runtime's own cgroups (see plan_cgroup_mount)."""
        return self._fact("cgroup_mount_layout", plan_cgroup_mount)

    @property
    def cgroup_layout(self):
        """The host's cgroup hierarchies: a CgroupLayout (v1, hybrid or v2)."""
        return self._fact("cgroup_layout", detect_cgroup_layout)

    @property
    def own_cgroups(self):
        """The runtime's own cgroup in each hierarchy: relative cgroupsPaths start there."""
        return self._fact("own_cgroups", own_cgroups)

    @property
    def cgroup_v2_controllers(self):
        """The controllers the unified hierarchy offers (empty without one)."""
        def probe():
            unified = self.cgroup_layout.unified
            try:
                return frozenset(_read(unified + "/cgroup.controllers").split()) if unified else frozenset()
            except OSError:
                return frozenset()
        return self._fact("cgroup_v2_controllers", probe)

    @property
    def cgroup_root_links(self):
        """[(name, target)]: the symlinks in /sys/fs/cgroup (cpu -> cpu,cpuacct on v1)."""
        def probe():
            try:
                return [(e.name, os.readlink(e.path)) for e in os.scandir(CGROUP_ROOT) if e.is_symlink()]
            except OSError:
                return []
        return self._fact("cgroup_root_links", probe)

    @property
    def systemd(self):
        """systemd is the init system (sd_booted's test)."""
        return self._fact("systemd", lambda: os.path.isdir("/run/systemd/system"))

    @property
    def has_tty_group(self):
        return self._fact("has_tty_group", lambda: lookup_group_id("tty") is not None)

    def seccomp_action_available(self, action):
        key = "seccomp_action_%x" % action
        return self._fact(key, lambda: self._kernel_factory().seccomp_action_available(action))

    def seccomp_flag_available(self, flag):
        key = "seccomp_flag_%x" % flag
        return self._fact(key, lambda: self._kernel_factory().seccomp_flag_available(flag))

    @property
    def has_openat2(self):
        """openat2(2) with RESOLVE_IN_ROOT (Linux 5.6)."""
        def probe():
            k = self._kernel_factory()
            fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.close(k.openat2_in_root(fd, "/", os.O_PATH | os.O_CLOEXEC))
                return True
            except OSError:
                return False
            finally:
                os.close(fd)
        return self._fact("has_openat2", probe)

    def mempolicy_mode_known(self, mode):
        """The kernel takes this NUMA policy mode with its flags: True, False,
        or None where it has no NUMA policies at all (Kernel.mempolicy_mode_known)."""
        return self._fact("mempolicy_%x" % mode, lambda: self._kernel_factory().mempolicy_mode_known(mode))

    def numa_nodes(self, kind):
        """The host's NUMA nodes, "online" or "possible" (a frozenset), or
        None where sysfs does not say."""
        def probe():
            try:
                return parse_node_list(_read("/sys/devices/system/node/" + kind).strip(), kind)
            except (OSError, ConfigError):
                return None
        return self._fact("numa_nodes_" + kind, probe)

    def net_link_index(self, name):
        """The index of network interface `name` in the runtime's network
        namespace, or None where it has none."""
        def probe():
            k = self._kernel_factory()
            sock = k.netlink_socket()
            try:
                return link_index(k, sock, name, 1)
            finally:
                os.close(sock)
        return self._fact("net_link_" + name, probe)

    @property
    def has_kcore(self):
        return self._fact("has_kcore", lambda: os.path.exists("/proc/kcore"))

    def namespace_is_ours(self, kind, path, include_host=True):
        """Is the namespace at `path` the runtime's own (or, with include_host,
        the host's: pid 1's)?"""
        if include_host:
            return namespace_is_runtimes_own(path, kind)
        try:
            target = os.stat(path)
            own = os.stat("/proc/self/ns/" + NAMESPACE_PROC_NAMES[kind])
        except OSError:
            return False
        return (own.st_dev, own.st_ino) == (target.st_dev, target.st_ino)

HOST = Host()  # probes nothing until a fact is asked for

# ===========================================================================
# 4. The spec model: objects and field readers
# ===========================================================================
# config.json is read once, checked field by field, and turned into the plain
# objects below. Here: the names the spec knows, the objects, the readers of
# one field each (every error names the field, `process.cwd`,
# `mounts[3].type`, so a user can find it), and the parsers of the parts that
# stand alone (seccomp, id mappings, devices). Section 5 puts them together.

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
CAPABILITY_BITS = {"CAP_" + name: bit for bit, name in enumerate(CAPABILITIES)}
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# option -> (flag, clears): "ro" sets MS_RDONLY, "rw" clears it.
MOUNT_FLAG_OPTIONS = {
    "ro": (MS_RDONLY, False), "rw": (MS_RDONLY, True),
    "nosuid": (MS_NOSUID, False), "suid": (MS_NOSUID, True),
    "nodev": (MS_NODEV, False), "dev": (MS_NODEV, True),
    "noexec": (MS_NOEXEC, False), "exec": (MS_NOEXEC, True),
    "sync": (MS_SYNCHRONOUS, False), "async": (MS_SYNCHRONOUS, True),
    "dirsync": (MS_DIRSYNC, False), "remount": (MS_REMOUNT, False),
    "mand": (MS_MANDLOCK, False), "nomand": (MS_MANDLOCK, True),
    "noatime": (MS_NOATIME, False), "atime": (MS_NOATIME, True),
    "nodiratime": (MS_NODIRATIME, False), "diratime": (MS_NODIRATIME, True),
    "relatime": (MS_RELATIME, False), "norelatime": (MS_RELATIME, True),
    "strictatime": (MS_STRICTATIME, False), "nostrictatime": (MS_STRICTATIME, True),
    "lazytime": (MS_LAZYTIME, False), "nolazytime": (MS_LAZYTIME, True),
    "iversion": (MS_I_VERSION, False), "noiversion": (MS_I_VERSION, True),
    "silent": (MS_SILENT, False), "loud": (MS_SILENT, True),
    "nosymfollow": (MS_NOSYMFOLLOW, False), "symfollow": (MS_NOSYMFOLLOW, True),
    "bind": (MS_BIND, False), "rbind": (MS_BIND | MS_REC, False),
}
PROPAGATION_OPTIONS = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
# Recursive mount attributes (runc's "rro" family), applied with
# mount_setattr(AT_RECURSIVE): option -> (MOUNT_ATTR_* bits, clears).
RECURSIVE_MOUNT_OPTIONS = {
    "rro": (0x1, False), "rrw": (0x1, True), "rnosuid": (0x2, False), "rsuid": (0x2, True),
    "rnodev": (0x4, False), "rdev": (0x4, True), "rnoexec": (0x8, False), "rexec": (0x8, True),
    "rnodiratime": (0x80, False), "rdiratime": (0x80, True),
    "rnosymfollow": (0x200000, False), "rsymfollow": (0x200000, True),
}

# Sysctls that belong to a namespace, and which one. Anything else would
# change the host for everybody, so it is refused (as runc does).
SYSCTL_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
              "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")

# Kernel limits a value must fit before it reaches a system call.
# uid/gid: runc refuses ids above MaxInt32; (uid_t)-1 means "leave unchanged"
# to setresuid/chown, so 4294967295 would silently keep the process root.
ID_MAX = (1 << 31) - 1
# /proc/PID/[ug]id_map: neither start may be (u32)-1, a range may not wrap,
# and the kernel keeps at most 340 ranges (5 before Linux 4.15).
ID_MAP_LIMIT = (1 << 32) - 1
ID_MAP_RANGES_MAX = 340
NGROUPS_MAX = 65536
# mknod(2) takes a 32-bit dev_t, decoded as a 12-bit major and a 20-bit minor:
# a larger number cannot be represented (glibc refuses it with EINVAL).
DEVICE_MAJOR_MAX = (1 << 12) - 1
DEVICE_MINOR_MAX = (1 << 20) - 1
# /proc/PID/timens_offsets: the clock plus its offset must stay within
# [0, KTIME_SEC_MAX / 2] seconds (kernel/time/namespace.c).
TIME_OFFSET_SECS_MAX = 9223372036 // 2
HOST_NAME_MAX = 64  # __NEW_UTS_LEN: sethostname/setdomainname refuse longer names
# run_hook polls with a timeout in milliseconds, a C int.
HOOK_TIMEOUT_MAX = ((1 << 31) - 1) // 1000
# The names libseccomp (and so runc) knows. Knowing a name is not filtering
# it: section 13 compiles only the architectures it has syscall tables for.
SECCOMP_ARCH_NAMES = frozenset("SCMP_ARCH_" + name for name in (
    "X86", "X86_64", "X32", "ARM", "AARCH64", "LOONGARCH64", "M68K", "MIPS", "MIPS64", "MIPS64N32",
    "MIPSEL", "MIPSEL64", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "PARISC",
    "PARISC64", "RISCV64", "SH", "SHEB"))

DEFAULT_DEVICES = (  # path, major, minor: created when /dev is not bind-mounted from the host
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)
DEFAULT_DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)


class Mount:
    __slots__ = ("index", "destination", "type", "source", "flags", "data", "propagation",
                 "recursive_set", "recursive_clear", "is_bind", "tmpcopyup", "idmap", "uid_mappings",
                 "gid_mappings")

    def __repr__(self):
        return "Mount(%s %s on %s)" % (self.type, self.source, self.destination)


class Device:
    __slots__ = ("path", "kind", "major", "minor", "mode", "uid", "gid")


class Hook:
    __slots__ = ("path", "args", "env", "timeout", "field")

    def to_json(self):
        return {"path": self.path, "args": self.args, "env": self.env, "timeout": self.timeout,
                "field": self.field}

    @classmethod
    def from_json(cls, raw):
        """A Hook from state.json; ValueError if any field is not what to_json writes."""
        def strings(value, allow_none=False):
            return (allow_none and value is None) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value))

        ok = (isinstance(raw, dict) and isinstance(raw.get("path"), str) and raw["path"].startswith("/")
              and strings(raw.get("args")) and strings(raw.get("env"), allow_none=True)
              and (raw.get("timeout") is None or (isinstance(raw["timeout"], int)
                                                  and not isinstance(raw["timeout"], bool)
                                                  and raw["timeout"] > 0))
              and isinstance(raw.get("field"), str))
        if not ok:
            raise ValueError("malformed hook")
        hook = cls()
        for key in cls.__slots__:
            setattr(hook, key, raw[key])
        return hook


class Process:
    __slots__ = ("args", "env", "cwd", "uid", "gid", "additional_gids", "umask", "terminal",
                 "console_height", "console_width", "rlimits", "oom_score_adj",
                 "no_new_privileges", "capabilities", "apparmor_profile", "selinux_label",
                 "scheduler", "io_priority", "exec_cpu_affinity")


# process.scheduler (runtime-spec 1.3), for sched_setattr(2). SCHED_ISO is in
# the spec's list but Linux never merged it (the kernel answers EINVAL): it
# is refused by name rather than left to that.
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_IDLE": 5,
                  "SCHED_DEADLINE": 6}
SCHED_REALTIME = ("SCHED_FIFO", "SCHED_RR")
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10,
               "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20, "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}
SCHED_FLAG_UTIL_CLAMP = 0x20 | 0x40
# The kernel's own checks of a deadline triple (__checkparam_dl): runtime of
# at least 2^DL_SCALE ns, runtime <= deadline <= period (0: the deadline),
# and neither above 2^63 ns.
SCHED_DL_RUNTIME_MIN = 1 << 10
SCHED_DL_MAX = 1 << 63
# process.ioPriority, for ioprio_set(2): the class goes above 13 bits of level.
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
IOPRIO_CLASS_SHIFT = 13
IOPRIO_WHO_PROCESS = 1
# process.execCPUAffinity: the highest CPU number taken (x86_64's and
# arm64's largest NR_CPUS is 8192); a larger one cannot name a real CPU.
CPU_NUMBER_MAX = 8191


class Scheduler:
    """process.scheduler, decoded: the policy's number (policy_name for
    messages), the flags' bits, and the values sched_setattr takes."""

    __slots__ = ("policy_name", "policy", "flags", "nice", "priority", "runtime", "deadline", "period")


class Config:
    """A validated config.json. Paths are absolute, options are decoded."""

    __slots__ = ("bundle", "oci_version", "root_path", "root_readonly", "hostname", "domainname",
                 "process", "mounts", "hooks", "annotations", "namespaces", "uid_mappings",
                 "gid_mappings", "time_offsets", "devices", "masked_paths", "readonly_paths",
                 "sysctl", "rootfs_propagation", "personality", "cgroups_path", "has_resources", "has_limits",
                 "resources", "seccomp", "mount_label", "memory_policy", "net_devices", "intel_rdt", "source")

    def new_namespace(self, kind):
        return kind in self.namespaces and self.namespaces[kind] is None

    def joined_namespace(self, kind):
        return self.namespaces.get(kind)


def _field(obj, key, kinds, field, default=None, required=False):
    """obj[key] if it has one of the JSON types `kinds`, else a ConfigError naming the field."""
    if not isinstance(obj, dict) or key not in obj or obj[key] is None:
        if required:
            raise ConfigError(field, "missing")
        return default
    value = obj[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ConfigError(field, "expected %s, got %s" % (_kind_names(kinds), json_kind(value)))
    if isinstance(value, str):
        _check_text(value, field)
    return value


def _check_text(value, field):
    """Every string of config.json may reach the kernel as a C string (a path,
    a mount option, an argv or env entry, a name): a NUL would silently cut it
    there (`mode=755\\0x` became mode 007). And a lone surrogate (JSON
    "\\udcff") is no text at all: it would become a raw byte in a path, or
    break the JSON of the state and of hooks. Both are refused."""
    if "\0" in value:
        raise ConfigError(field, "contains a NUL byte")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(field, "is not valid UTF-8 (it contains a lone surrogate)") from None
    return value


def _check_keys(mapping, field):
    """The keys of a JSON object given by the user (annotations, sysctl)."""
    for key in mapping:
        _check_text(key, field + " (a key)")


def json_kind(value):
    """What a JSON value is, in JSON's words (never a Python type name)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction or exponent"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), "null")


def _kind_names(kinds):
    names = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _string_list(obj, key, field):
    items = _field(obj, key, (list,), field, [])
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ConfigError("%s[%d]" % (field, i), "expected a string")
        _check_text(item, "%s[%d]" % (field, i))
    return list(items)


def _uint(obj, key, field, default=None, required=False, limit=(1 << 32) - 1):
    value = _field(obj, key, (int,), field, default, required)
    if value is not None and not 0 <= value <= limit:
        raise ConfigError(field, "%d is out of range (0 to %d)" % (value, limit))
    return value


def check_id(value, field, source="config.json"):
    """The one check of every uid and gid, whatever gave it: config.json,
    exec's --process file, --user, --additional-gids, the user namespace's
    and an id-mapped mount's mappings, a device's owner. runc takes 0 to
    MaxInt32; above, setresuid/chown would read 4294967295 as (uid_t)-1,
    "leave unchanged", and the process would stay root."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field, "expected an id (an integer), got %s" % json_kind(value), source)
    if not 0 <= value <= ID_MAX:
        raise ConfigError(field, "%d is out of range (0 to %d)" % (value, ID_MAX), source)
    return value


def id_from_text(text, field, source):
    """An id given on the command line (ASCII digits only), through check_id."""
    if not is_decimal(text):
        raise UsageError("%s: %s takes numbers, not %r" % (source, field, text))
    return check_id(int(text), field, source)


def _id(obj, key, field, default=None, required=False):
    value = _field(obj, key, (int,), field, default, required)
    return value if value is None else check_id(value, field)


def _absolute(path, field):
    if not path.startswith("/"):
        raise ConfigError(field, "must be an absolute path (got %r)" % path)
    return os.path.normpath(path)


class SeccompRule:
    __slots__ = ("names", "action", "conditions", "field")


class SeccompProfile:
    """linux.seccomp, decoded: return values instead of action names."""

    __slots__ = ("default_action", "architectures", "flags", "listener_path", "listener_metadata", "rules")

    def uses_notify(self):
        notify = SECCOMP_ACTIONS["SCMP_ACT_NOTIFY"]
        return any(rule.action == notify for rule in self.rules)


def _seccomp_action(raw, field, errno_field):
    name = _field(raw, field.rpartition(".")[2], (str,), field, required=True)
    if name not in SECCOMP_ACTIONS:
        raise ConfigError(field, "unknown action %r" % name)
    action = SECCOMP_ACTIONS[name]
    errno = _uint(raw, errno_field.rpartition(".")[2], errno_field, None, limit=0xFFFF)
    if errno is not None and name not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise ConfigError(errno_field, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value")
    if name == "SCMP_ACT_ERRNO":
        action |= EPERM if errno is None else errno
    elif name == "SCMP_ACT_TRACE":
        action |= errno or 0
    return action


def _parse_seccomp(raw):
    profile = SeccompProfile()
    profile.default_action = _seccomp_action(raw, "linux.seccomp.defaultAction", "linux.seccomp.defaultErrnoRet")
    if profile.default_action == SECCOMP_ACTIONS["SCMP_ACT_NOTIFY"]:
        raise ConfigError("linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    profile.architectures = _string_list(raw, "architectures", "linux.seccomp.architectures")
    for i, name in enumerate(profile.architectures):
        if name not in SECCOMP_ARCH_NAMES:
            raise ConfigError("linux.seccomp.architectures[%d]" % i, "unknown architecture %r" % name)
    profile.flags = []
    for flag in _string_list(raw, "flags", "linux.seccomp.flags"):
        if flag not in SECCOMP_FILTER_FLAGS:
            raise ConfigError("linux.seccomp.flags", "unknown flag %r" % flag)
        profile.flags.append(flag)
    profile.listener_path = _field(raw, "listenerPath", (str,), "linux.seccomp.listenerPath", "")
    profile.listener_metadata = _field(raw, "listenerMetadata", (str,), "linux.seccomp.listenerMetadata", "")
    profile.rules = []
    for i, item in enumerate(_field(raw, "syscalls", (list,), "linux.seccomp.syscalls", [])):
        field = "linux.seccomp.syscalls[%d]" % i
        rule = SeccompRule()
        rule.field = field
        rule.names = _string_list(item, "names", field + ".names")
        if not rule.names:
            raise ConfigError(field + ".names", "must name at least one syscall")
        rule.action = _seccomp_action(item, field + ".action", field + ".errnoRet")
        rule.conditions = []
        for j, arg in enumerate(_field(item, "args", (list,), field + ".args", [])):
            where = "%s.args[%d]" % (field, j)
            index = _uint(arg, "index", where + ".index", required=True, limit=5)
            value = _uint(arg, "value", where + ".value", required=True, limit=(1 << 64) - 1)
            value_two = _uint(arg, "valueTwo", where + ".valueTwo", 0, limit=(1 << 64) - 1)
            op = _field(arg, "op", (str,), where + ".op", required=True)
            if op not in SECCOMP_OPERATORS:
                raise ConfigError(where + ".op", "unknown operator %r" % op)
            rule.conditions.append((index, op, value, value_two))
        profile.rules.append(rule)
    if profile.uses_notify() and not profile.listener_path:
        raise ConfigError("linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY needs a listenerPath")
    notify = SECCOMP_ACTIONS["SCMP_ACT_NOTIFY"]
    for rule in profile.rules:
        if rule.action == notify and "write" in rule.names:
            # As runc refuses it: between loading the filter and execve the
            # runtime may still write (an error to its parent), and a listener
            # that never answers would hang the container's start for good.
            raise ConfigError(rule.field + ".action", "SCMP_ACT_NOTIFY cannot be used for the write syscall")
    return profile


def _is_set(value):
    """Engines write zero values to mean 'unset' (see engine-contract.md).
    Iterative: a hostile config may nest deeper than Python's recursion limit."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif item:
            return True
    return False


def _parse_scheduler(raw, field):
    """process.scheduler, checked as sched_setattr(2) will check it, so that a
    bad value is named here rather than met as EINVAL in the container."""
    s = Scheduler()
    s.policy_name = _field(raw, "policy", (str,), field + ".policy", required=True)
    if s.policy_name == "SCHED_ISO":
        raise ConfigError(field + ".policy", "SCHED_ISO is not implemented by Linux")
    if s.policy_name not in SCHED_POLICIES:
        raise ConfigError(field + ".policy", "unknown policy %r (%s)" % (s.policy_name, ", ".join(SCHED_POLICIES)))
    s.policy = SCHED_POLICIES[s.policy_name]
    s.nice = _field(raw, "nice", (int,), field + ".nice", 0)
    if not -20 <= s.nice <= 19:
        raise ConfigError(field + ".nice", "%d is out of range (-20 to 19)" % s.nice)
    s.priority = _field(raw, "priority", (int,), field + ".priority", 0)
    if s.policy_name in SCHED_REALTIME:
        if not 1 <= s.priority <= 99:
            raise ConfigError(field + ".priority", "%s needs a priority of 1 to 99 (got %d)"
                              % (s.policy_name, s.priority))
    elif s.priority:
        raise ConfigError(field + ".priority", "only SCHED_FIFO and SCHED_RR take a priority (the policy is %s)"
                          % s.policy_name)
    s.flags = 0
    for i, name in enumerate(_string_list(raw, "flags", field + ".flags")):
        if name not in SCHED_FLAGS:
            raise ConfigError("%s.flags[%d]" % (field, i), "unknown flag %r" % name)
        s.flags |= SCHED_FLAGS[name]
    for key in ("runtime", "deadline", "period"):
        setattr(s, key, _uint(raw, key, "%s.%s" % (field, key), 0, limit=(1 << 64) - 1))
    if s.policy_name != "SCHED_DEADLINE":
        for key in ("runtime", "deadline", "period"):
            if getattr(s, key):
                raise ConfigError("%s.%s" % (field, key), "only SCHED_DEADLINE takes a runtime, deadline "
                                  "and period (the policy is %s)" % s.policy_name)
    else:
        if s.runtime < SCHED_DL_RUNTIME_MIN:
            raise ConfigError(field + ".runtime", "SCHED_DEADLINE needs a runtime of at least %d ns (got %d)"
                              % (SCHED_DL_RUNTIME_MIN, s.runtime))
        if not s.runtime <= s.deadline < SCHED_DL_MAX:
            raise ConfigError(field + ".deadline", "must be at least the runtime (%d ns) and below 2^63 ns (got %d)"
                              % (s.runtime, s.deadline))
        if s.period and not s.deadline <= s.period < SCHED_DL_MAX:
            raise ConfigError(field + ".period", "must be 0 (the deadline) or at least the deadline (%d ns) "
                              "and below 2^63 ns (got %d)" % (s.deadline, s.period))
    return s


def _parse_io_priority(raw, field):
    """process.ioPriority -> (class name, level)."""
    name = _field(raw, "class", (str,), field + ".class", required=True)
    if name not in IOPRIO_CLASSES:
        raise ConfigError(field + ".class", "unknown class %r (%s)" % (name, ", ".join(IOPRIO_CLASSES)))
    level = _field(raw, "priority", (int,), field + ".priority", required=True)
    if not 0 <= level <= 7:
        raise ConfigError(field + ".priority", "%d is out of range (0 to 7)" % level)
    return name, level


def parse_number_list(text, field, what, limit):
    """The spec's list syntax for CPUs and NUMA nodes (a cpuset's: "0-3,7")
    -> the set of numbers; empty text is the empty set. `what` names the
    numbers in errors, `limit` is the highest one allowed."""
    numbers = set()
    for item in text.split(",") if text else ():
        first, dash, last = item.partition("-")
        if not is_decimal(first) or (dash and not is_decimal(last)):
            raise ConfigError(field, "%r is not a %s list (numbers and ranges, as in \"0-3,7\")" % (text, what))
        low, high = int(first), int(last) if dash else int(first)
        if low > high:
            raise ConfigError(field, "the range %s runs backwards" % item)
        if high > limit:
            raise ConfigError(field, "%s %d is out of range (0 to %d)" % (what, high, limit))
        numbers.update(range(low, high + 1))
    return numbers


def parse_cpu_list(text, field):
    """The spec's CPU list ("0-3,7") -> a sorted tuple of CPU numbers."""
    return tuple(sorted(parse_number_list(text, field, "CPU", CPU_NUMBER_MAX)))


def format_cpu_list(cpus):
    """A tuple of CPUs as the spec's list syntax, ranges joined: (0,1,2,7) -> "0-2,7"."""
    ranges = []
    for cpu in cpus:
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(low) if low == high else "%d-%d" % (low, high) for low, high in ranges)


def _parse_cpu_affinity(raw, field):
    """process.execCPUAffinity -> (initial, final), each a tuple of CPUs or
    None where omitted or empty (the spec: then it is not set)."""
    lists = []
    for key in ("initial", "final"):
        text = _field(raw, key, (str,), "%s.%s" % (field, key), "")
        lists.append(parse_cpu_list(text, "%s.%s" % (field, key)) if text else None)
    return tuple(lists)


def _parse_id_mappings(linux, key, where="linux"):
    mappings = []
    for i, raw in enumerate(_field(linux, key, (list,), "%s.%s" % (where, key), [])):
        field = "%s.%s[%d]" % (where, key, i)
        inside = _id(raw, "containerID", field + ".containerID", required=True)
        outside = _id(raw, "hostID", field + ".hostID", required=True)
        size = _uint(raw, "size", field + ".size", required=True)
        if size == 0:
            raise ConfigError(field + ".size", "must be at least 1")
        if max(inside, outside) + size > ID_MAP_LIMIT:
            raise ConfigError(field + ".size", "the range ends past id %d" % (ID_MAP_LIMIT - 1))
        for j, (other_inside, other_outside, other_size) in enumerate(mappings):
            if (inside < other_inside + other_size and other_inside < inside + size) or \
                    (outside < other_outside + other_size and other_outside < outside + size):
                raise ConfigError(field, "overlaps %s.%s[%d] (the kernel refuses overlapping ranges)" % (where, key, j))
        mappings.append((inside, outside, size))
    if len(mappings) > ID_MAP_RANGES_MAX:
        raise ConfigError("%s.%s" % (where, key), "more than the kernel's %d ranges" % ID_MAP_RANGES_MAX)
    return mappings


# linux.memoryPolicy: set_mempolicy(2)'s modes and flags (uapi/linux/mempolicy.h).
MEMORY_POLICY_MODES = {
    "MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
    "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6,
}
MEMORY_POLICY_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
                       "MPOL_F_STATIC_NODES": 1 << 15}
MEMORY_POLICY_NODES_NEEDED = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE")
NUMA_NODE_MAX = 4095  # crun's bound; kernels are built for at most 1024 nodes
IFNAMSIZ = 16  # a network interface's name and its NUL


class MemoryPolicy:
    """linux.memoryPolicy, decoded: mode and flags as numbers, nodes a frozenset."""

    __slots__ = ("mode_name", "mode", "flags", "nodes")


def parse_node_list(text, field):
    """The spec's node list ("0-3,7", a cpuset's syntax) -> a frozenset."""
    return frozenset(parse_number_list(text, field, "node", NUMA_NODE_MAX))


def _parse_memory_policy(raw):
    """The rules set_mempolicy(2) enforces (mpol_new, sanitize_mpol_flags),
    checked here so that each refusal names its field."""
    where = "linux.memoryPolicy"
    policy = MemoryPolicy()
    policy.mode_name = name = _field(raw, "mode", (str,), where + ".mode", required=True)
    if name not in MEMORY_POLICY_MODES:
        raise ConfigError(where + ".mode", "unknown mode %r (%s)" % (name, ", ".join(MEMORY_POLICY_MODES)))
    policy.mode = MEMORY_POLICY_MODES[name]
    policy.nodes = parse_node_list(_field(raw, "nodes", (str,), where + ".nodes", "").strip(), where + ".nodes")
    policy.flags = 0
    for i, flag in enumerate(_string_list(raw, "flags", where + ".flags")):
        if flag not in MEMORY_POLICY_FLAGS:
            raise ConfigError("%s.flags[%d]" % (where, i), "unknown flag %r (%s)" % (flag, ", ".join(MEMORY_POLICY_FLAGS)))
        policy.flags |= MEMORY_POLICY_FLAGS[flag]
    static_or_relative = policy.flags & (MEMORY_POLICY_FLAGS["MPOL_F_STATIC_NODES"]
                                         | MEMORY_POLICY_FLAGS["MPOL_F_RELATIVE_NODES"])
    if static_or_relative == MEMORY_POLICY_FLAGS["MPOL_F_STATIC_NODES"] | MEMORY_POLICY_FLAGS["MPOL_F_RELATIVE_NODES"]:
        raise ConfigError(where + ".flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
    if policy.flags & MEMORY_POLICY_FLAGS["MPOL_F_NUMA_BALANCING"] and name not in ("MPOL_BIND", "MPOL_PREFERRED_MANY"):
        raise ConfigError(where + ".flags", "MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY only")
    if name in ("MPOL_DEFAULT", "MPOL_LOCAL") and policy.nodes:
        raise ConfigError(where + ".nodes", "%s takes no nodes" % name)
    if name in ("MPOL_DEFAULT", "MPOL_LOCAL") and policy.flags:
        raise ConfigError(where + ".flags", "%s takes no flags" % name)
    if name in MEMORY_POLICY_NODES_NEEDED and not policy.nodes:
        raise ConfigError(where + ".nodes", "%s needs at least one node" % name)
    if name == "MPOL_PREFERRED" and not policy.nodes and static_or_relative:
        raise ConfigError(where + ".flags", "MPOL_PREFERRED without nodes (local allocation) takes no node flags")
    return policy


def check_interface_name(name, field):
    """The kernel's dev_valid_name: a network interface's name is 1 to 15
    bytes, not "." or "..", without '/', ':' or white space."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        raise ConfigError(field, "%r is not a valid interface name (1 to %d bytes)" % (name, IFNAMSIZ - 1))
    if name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        raise ConfigError(field, "%r is not a valid interface name (no '/', ':', white space, \".\" or \"..\")"
                          % name)
    return name


def _parse_net_devices(raw):
    """linux.netDevices -> [(host interface, name in the container, field)], each name checked."""
    devices, taken = [], {}
    _check_keys(raw, "linux.netDevices")
    for host_name, entry in raw.items():
        field = "linux.netDevices.%s" % host_name
        check_interface_name(host_name, field)
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(field, "expected an object, got %s" % json_kind(entry))
        name = _field(entry, "name", (str,), field + ".name", "") or host_name
        if name != host_name:
            check_interface_name(name, field + ".name")
        if name in taken:
            raise ConfigError(field + (".name" if name != host_name else ""), "%r is also the container's name for "
                              "linux.netDevices.%s" % (name, taken[name]))
        taken[name] = host_name
        devices.append((host_name, name, field))
    return devices


def _parse_device(raw, index):
    field = "linux.devices[%d]" % index
    d = Device()
    d.path = _absolute(_field(raw, "path", (str,), field + ".path", required=True), field + ".path")
    d.kind = _field(raw, "type", (str,), field + ".type", required=True)
    if d.kind not in ("c", "b", "u", "p"):
        raise ConfigError(field + ".type", "unknown device type %r (c, b, u or p)" % d.kind)
    needs_numbers = d.kind != "p"
    d.major = _uint(raw, "major", field + ".major", 0, required=needs_numbers, limit=DEVICE_MAJOR_MAX)
    d.minor = _uint(raw, "minor", field + ".minor", 0, required=needs_numbers, limit=DEVICE_MINOR_MAX)
    d.mode = _uint(raw, "fileMode", field + ".fileMode", 0o666, limit=0o7777)
    d.uid = _id(raw, "uid", field + ".uid", 0)
    d.gid = _id(raw, "gid", field + ".gid", 0)
    return d


class IntelRdt:
    """linux.intelRdt: the resctrl group to join (clos_id; "" for one named
    after the container), the schemata lines it asks for, and whether to make
    a monitoring group. Planned against the host's resctrl tree in section 15."""

    __slots__ = ("clos_id", "l3_cache_schema", "mem_bw_schema", "schemata", "monitoring")

    def lines(self):
        """The lines to write to the group's schemata, in the spec's order: the
        l3CacheSchema (less any MB: line when memBwSchema is given), the
        memBwSchema, then each of schemata (1.3) -- a later line for the same
        resource wins, as the kernel applies them in turn."""
        lines = [line.strip() for line in self.l3_cache_schema.splitlines() if line.strip()]
        if self.mem_bw_schema:
            lines = [line for line in lines if not line.startswith("MB:")] + [self.mem_bw_schema]
        return lines + list(self.schemata)


# The resctrl root's own entries: a closID naming one would not be a group.
RESCTRL_RESERVED = ("info", "mon_groups", "mon_data", "cpus", "cpus_list", "mode", "schemata", "size", "tasks")


def _parse_intel_rdt(raw):
    field = "linux.intelRdt"
    rdt = IntelRdt()
    rdt.clos_id = _field(raw, "closID", (str,), field + ".closID", "")
    if rdt.clos_id in (".", "..") or "/" in rdt.clos_id or "\n" in rdt.clos_id or rdt.clos_id in RESCTRL_RESERVED:
        raise ConfigError(field + ".closID", "%r is not a resctrl group name" % rdt.clos_id)
    rdt.l3_cache_schema = _field(raw, "l3CacheSchema", (str,), field + ".l3CacheSchema", "")
    rdt.mem_bw_schema = _field(raw, "memBwSchema", (str,), field + ".memBwSchema", "")
    if rdt.mem_bw_schema and (not rdt.mem_bw_schema.startswith("MB:") or "\n" in rdt.mem_bw_schema):
        raise ConfigError(field + ".memBwSchema", "must be one line starting with MB:")
    rdt.schemata = _string_list(raw, "schemata", field + ".schemata")
    for i, line in enumerate(rdt.schemata):
        if ":" not in line or "\n" in line:
            raise ConfigError("%s.schemata[%d]" % (field, i), "%r is not one RESOURCE:... line" % line)
    # enableMonitoring (1.3); enableCMT and enableMBM, its forerunners, ask for the same group.
    rdt.monitoring = any(_field(raw, key, (bool,), "%s.%s" % (field, key), False)
                         for key in ("enableMonitoring", "enableCMT", "enableMBM"))
    return rdt


# ===========================================================================
# 5. The spec model: the config and its checks
# ===========================================================================
# load_config reads config.json (a regular file of sane size) and parse_config
# turns it into a Config with the readers above, field by field, then checks
# the fields against each other (_check_consistency): every error names the
# field. Nothing below this section looks at raw JSON.


def load_config(bundle):
    """Read BUNDLE/config.json and return a validated Config."""
    path = os.path.join(bundle, "config.json")
    try:
        os.path.abspath(bundle).encode("utf-8")
    except UnicodeEncodeError:
        # Undecodable bytes arrive as surrogates: the bundle path is recorded in
        # the state and handed to hooks as JSON text, which cannot hold it.
        raise Error("--bundle %s: the path is not valid UTF-8" % bundle) from None
    if not os.path.lexists(path):
        raise Error("config.json: %s: no such file (is --bundle right?)" % path)
    raw = parse_json_input(read_input(path, "config.json: " + path), "config.json: " + path)
    if not isinstance(raw, dict):
        raise Error("config.json: %s: expected a JSON object" % path)
    return parse_config(raw, os.path.abspath(bundle))


def parse_config(raw, bundle):
    """Turn the JSON of config.json into a Config, validating as it goes."""
    cfg = Config()
    cfg.bundle = bundle
    cfg.source = raw  # kept beside the state for `exec`
    cfg.oci_version = _field(raw, "ociVersion", (str,), "ociVersion", required=True)
    if not cfg.oci_version.startswith("1."):
        raise ConfigError("ociVersion", "unsupported version %r (minirun implements 1.x)" % cfg.oci_version)
    root = _field(raw, "root", (dict,), "root", required=True)
    root_path = _field(root, "path", (str,), "root.path", required=True)
    if not root_path:
        raise ConfigError("root.path", "must not be empty")
    cfg.root_path = os.path.normpath(os.path.join(bundle, root_path))
    cfg.root_readonly = _field(root, "readonly", (bool,), "root.readonly", False)
    cfg.hostname = _field(raw, "hostname", (str,), "hostname")
    cfg.domainname = _field(raw, "domainname", (str,), "domainname")
    for field, name in (("hostname", cfg.hostname), ("domainname", cfg.domainname)):
        if name and len(name.encode()) > HOST_NAME_MAX:
            raise ConfigError(field, "longer than the kernel's %d bytes" % HOST_NAME_MAX)
    cfg.annotations = _field(raw, "annotations", (dict,), "annotations", {})
    _check_keys(cfg.annotations, "annotations")
    for key, value in cfg.annotations.items():
        if not isinstance(value, str):
            raise ConfigError("annotations.%s" % key, "expected a string")
        _check_text(value, "annotations.%s" % key)
    cfg.process = _parse_process(_field(raw, "process", (dict,), "process", required=True), "process", cfg)
    cfg.mounts = [_parse_mount(m, i, bundle) for i, m in enumerate(_field(raw, "mounts", (list,), "mounts", []))]
    cfg.hooks = _parse_hooks(_field(raw, "hooks", (dict,), "hooks", {}))
    linux = _field(raw, "linux", (dict,), "linux", {})
    _parse_linux(linux, cfg)
    _check_consistency(cfg)
    return cfg


def _parse_process(proc, field, cfg):
    p = Process()
    p.args = _string_list(proc, "args", field + ".args")
    if not p.args:
        raise ConfigError(field + ".args", "must not be empty")
    p.env = _string_list(proc, "env", field + ".env")
    for i, entry in enumerate(p.env):
        if "=" not in entry:
            raise ConfigError("%s.env[%d]" % (field, i), "%r is not KEY=VALUE" % entry)
    p.cwd = _absolute(_field(proc, "cwd", (str,), field + ".cwd", "/"), field + ".cwd")
    user = _field(proc, "user", (dict,), field + ".user", {})
    p.uid = _id(user, "uid", field + ".user.uid", 0)
    p.gid = _id(user, "gid", field + ".user.gid", 0)
    p.additional_gids = []
    gids = _field(user, "additionalGids", (list,), field + ".user.additionalGids", [])
    if len(gids) > NGROUPS_MAX:
        raise ConfigError(field + ".user.additionalGids", "more than the kernel's %d groups" % NGROUPS_MAX)
    for i, gid in enumerate(gids):
        p.additional_gids.append(check_id(gid, "%s.user.additionalGids[%d]" % (field, i)))
    p.umask = _uint(user, "umask", field + ".user.umask", None, limit=0o777)
    p.terminal = _field(proc, "terminal", (bool,), field + ".terminal", False)
    size = _field(proc, "consoleSize", (dict,), field + ".consoleSize", {})
    p.console_height = _uint(size, "height", field + ".consoleSize.height", 0, limit=0xFFFF)
    p.console_width = _uint(size, "width", field + ".consoleSize.width", 0, limit=0xFFFF)
    p.rlimits = []
    seen = set()
    for i, rl in enumerate(_field(proc, "rlimits", (list,), field + ".rlimits", [])):
        where = "%s.rlimits[%d]" % (field, i)
        kind = _field(rl, "type", (str,), where + ".type", required=True)
        if kind not in RLIMITS:
            raise ConfigError(where + ".type", "unknown rlimit %r" % kind)
        if kind in seen:
            raise ConfigError(where + ".type", "%s is given twice" % kind)
        seen.add(kind)
        soft = _uint(rl, "soft", where + ".soft", required=True, limit=(1 << 64) - 1)
        hard = _uint(rl, "hard", where + ".hard", required=True, limit=(1 << 64) - 1)
        if soft > hard:
            raise ConfigError(where + ".soft", "%d is above the hard limit %d (setrlimit refuses it)" % (soft, hard))
        p.rlimits.append((kind, RLIMITS[kind], soft, hard))
    p.oom_score_adj = _field(proc, "oomScoreAdj", (int,), field + ".oomScoreAdj")
    if p.oom_score_adj is not None and not -1000 <= p.oom_score_adj <= 1000:
        raise ConfigError(field + ".oomScoreAdj", "must be between -1000 and 1000")
    p.no_new_privileges = _field(proc, "noNewPrivileges", (bool,), field + ".noNewPrivileges", False)
    p.capabilities = {}
    caps = _field(proc, "capabilities", (dict,), field + ".capabilities")
    for kind in CAPABILITY_SETS:
        names = _string_list(caps or {}, kind, "%s.capabilities.%s" % (field, kind))
        p.capabilities[kind] = names
    p.capabilities["_given"] = caps is not None
    p.apparmor_profile = _field(proc, "apparmorProfile", (str,), field + ".apparmorProfile", "")
    p.selinux_label = _field(proc, "selinuxLabel", (str,), field + ".selinuxLabel", "")
    scheduler = _field(proc, "scheduler", (dict,), field + ".scheduler")
    p.scheduler = _parse_scheduler(scheduler, field + ".scheduler") if scheduler is not None else None
    io_priority = _field(proc, "ioPriority", (dict,), field + ".ioPriority")
    p.io_priority = _parse_io_priority(io_priority, field + ".ioPriority") if io_priority is not None else None
    affinity = _field(proc, "execCPUAffinity", (dict,), field + ".execCPUAffinity")
    p.exec_cpu_affinity = (_parse_cpu_affinity(affinity, field + ".execCPUAffinity") if affinity is not None
                           else (None, None))
    return p


def _parse_mount(raw, index, bundle):
    field = "mounts[%d]" % index
    if not isinstance(raw, dict):
        raise ConfigError(field, "expected an object")
    m = Mount()
    m.index = index
    m.destination = _absolute(_field(raw, "destination", (str,), field + ".destination", required=True),
                              field + ".destination")
    m.type = _field(raw, "type", (str,), field + ".type", "")
    m.source = _field(raw, "source", (str,), field + ".source", "")
    options = _string_list(raw, "options", field + ".options")
    m.flags = 0
    m.propagation, m.recursive_set, m.recursive_clear, data = [], 0, 0, []
    m.tmpcopyup = False
    m.idmap = None  # "idmap" or "ridmap" (recursive)
    for option in options:
        if option in MOUNT_FLAG_OPTIONS:
            flag, clears = MOUNT_FLAG_OPTIONS[option]
            if clears:
                m.flags &= ~flag
            else:
                m.flags |= flag
        elif option in PROPAGATION_OPTIONS:
            m.propagation.append(PROPAGATION_OPTIONS[option])
        elif option in RECURSIVE_MOUNT_OPTIONS:
            bits, clears = RECURSIVE_MOUNT_OPTIONS[option]
            if clears:
                m.recursive_clear |= bits
            else:
                m.recursive_set |= bits
        elif option == "tmpcopyup":
            m.tmpcopyup = True
        elif option in ("idmap", "ridmap"):
            m.idmap = option
        else:
            data.append(option)  # filesystem-specific: mode=755, size=64k, newinstance, ...
    m.data = ",".join(data) or None
    m.is_bind = m.type == "bind" or bool(m.flags & MS_BIND)
    if m.is_bind:
        m.flags |= MS_BIND
        if not m.source:
            raise ConfigError(field + ".source", "a bind mount needs a source")
        m.source = os.path.normpath(os.path.join(bundle, m.source))
    elif not m.type:
        raise ConfigError(field + ".type", "missing (only bind mounts may omit it)")
    if m.tmpcopyup and m.type != "tmpfs":
        raise ConfigError(field + ".options", "tmpcopyup needs a tmpfs mount")
    m.uid_mappings = _parse_id_mappings(raw, "uidMappings", field)
    m.gid_mappings = _parse_id_mappings(raw, "gidMappings", field)
    if (m.uid_mappings or m.gid_mappings) and m.idmap is None:
        m.idmap = "ridmap" if m.flags & MS_REC else "idmap"  # mappings alone ask for an id-mapped mount, as in runc
    if m.idmap is not None and not m.is_bind:
        raise ConfigError(field + ".options", "%s needs a bind mount" % m.idmap)
    if bool(m.uid_mappings) != bool(m.gid_mappings):
        raise ConfigError(field + (".gidMappings" if m.uid_mappings else ".uidMappings"),
                          "an id-mapped mount needs both uidMappings and gidMappings")
    return m


HOOK_PHASES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def _parse_hooks(raw):
    hooks = {}
    for phase in HOOK_PHASES:
        hooks[phase] = []
        for i, item in enumerate(_field(raw, phase, (list,), "hooks." + phase, [])):
            field = "hooks.%s[%d]" % (phase, i)
            hook = Hook()
            hook.field = field
            hook.path = _absolute(_field(item, "path", (str,), field + ".path", required=True), field + ".path")
            hook.args = _string_list(item, "args", field + ".args") or [hook.path]
            # No env at all: the hook inherits the runtime's environment, as
            # runc's hooks do (so PATH works); an empty list means empty.
            hook.env = _string_list(item, "env", field + ".env") if item.get("env") is not None else None
            hook.timeout = _field(item, "timeout", (int,), field + ".timeout")
            if hook.timeout is not None and not 0 < hook.timeout <= HOOK_TIMEOUT_MAX:
                raise ConfigError(field + ".timeout", "must be a positive number of seconds, at most %d"
                                  % HOOK_TIMEOUT_MAX)
            hooks[phase].append(hook)
    return hooks


def _parse_linux(linux, cfg):
    cfg.namespaces = {}
    for i, ns in enumerate(_field(linux, "namespaces", (list,), "linux.namespaces", [])):
        field = "linux.namespaces[%d]" % i
        kind = _field(ns, "type", (str,), field + ".type", required=True)
        if kind not in NAMESPACE_TYPES:
            raise ConfigError(field + ".type", "unknown namespace type %r (linux.namespaces takes %s)"
                              % (kind, ", ".join(NAMESPACE_TYPES)))
        if kind in cfg.namespaces:
            raise ConfigError(field + ".type", "namespace %r is listed twice" % kind)
        path = _field(ns, "path", (str,), field + ".path") or None
        cfg.namespaces[kind] = _absolute(path, field + ".path") if path else None
    cfg.uid_mappings = _parse_id_mappings(linux, "uidMappings")
    cfg.gid_mappings = _parse_id_mappings(linux, "gidMappings")
    cfg.time_offsets = {}
    for clock, offset in _field(linux, "timeOffsets", (dict,), "linux.timeOffsets", {}).items():
        field = "linux.timeOffsets.%s" % clock
        if clock not in ("monotonic", "boottime"):
            raise ConfigError(field, "unknown clock (monotonic or boottime)")
        secs = _field(offset, "secs", (int,), field + ".secs", 0)
        if not -TIME_OFFSET_SECS_MAX <= secs <= TIME_OFFSET_SECS_MAX:
            raise ConfigError(field + ".secs", "%d is out of the kernel's range (-%d to %d)"
                              % (secs, TIME_OFFSET_SECS_MAX, TIME_OFFSET_SECS_MAX))
        nanos = _uint(offset, "nanosecs", field + ".nanosecs", 0, limit=999_999_999)
        cfg.time_offsets[clock] = (secs, nanos)
    cfg.devices = [_parse_device(d, i) for i, d in enumerate(_field(linux, "devices", (list,), "linux.devices", []))]
    cfg.masked_paths = [_absolute(p, "linux.maskedPaths") for p in _string_list(linux, "maskedPaths", "linux.maskedPaths")]
    cfg.readonly_paths = [_absolute(p, "linux.readonlyPaths")
                          for p in _string_list(linux, "readonlyPaths", "linux.readonlyPaths")]
    cfg.sysctl = _field(linux, "sysctl", (dict,), "linux.sysctl", {})
    _check_keys(cfg.sysctl, "linux.sysctl")
    for key, value in cfg.sysctl.items():
        if not isinstance(value, str):
            raise ConfigError("linux.sysctl.%s" % key, "expected a string")
        _check_text(value, "linux.sysctl.%s" % key)
    propagation = _field(linux, "rootfsPropagation", (str,), "linux.rootfsPropagation", "")
    if propagation and propagation not in PROPAGATION_OPTIONS:
        raise ConfigError("linux.rootfsPropagation", "unknown propagation %r" % propagation)
    cfg.rootfs_propagation = PROPAGATION_OPTIONS.get(propagation)
    personality = _field(linux, "personality", (dict,), "linux.personality")
    cfg.personality = None
    if personality is not None:
        domain = _field(personality, "domain", (str,), "linux.personality.domain", required=True)
        if domain not in ("LINUX", "LINUX32"):
            raise ConfigError("linux.personality.domain", "unknown domain %r (LINUX or LINUX32)" % domain)
        if _string_list(personality, "flags", "linux.personality.flags"):
            raise ConfigError("linux.personality.flags", "personality flags are not supported")
        cfg.personality = 0x0008 if domain == "LINUX32" else 0x0000
    cfg.cgroups_path = _field(linux, "cgroupsPath", (str,), "linux.cgroupsPath", "")
    resources = _field(linux, "resources", (dict,), "linux.resources", {})
    cfg.has_resources = any(_is_set(v) for v in resources.values())
    # Limits proper: device rules are not one (a user namespace cannot mknod anyway).
    cfg.has_limits = any(_is_set(v) for key, v in resources.items() if key != "devices")
    cfg.resources = _parse_resources(resources)
    raw_seccomp = _field(linux, "seccomp", (dict,), "linux.seccomp")
    cfg.seccomp = _parse_seccomp(raw_seccomp) if raw_seccomp is not None else None
    cfg.mount_label = _field(linux, "mountLabel", (str,), "linux.mountLabel", "")
    raw_policy = _field(linux, "memoryPolicy", (dict,), "linux.memoryPolicy")
    cfg.memory_policy = _parse_memory_policy(raw_policy) if raw_policy else None
    cfg.net_devices = _parse_net_devices(_field(linux, "netDevices", (dict,), "linux.netDevices", {}))
    raw_rdt = _field(linux, "intelRdt", (dict,), "linux.intelRdt")
    cfg.intel_rdt = _parse_intel_rdt(raw_rdt) if raw_rdt is not None else None


# SCMP_ACT_* -> SECCOMP_RET_* (the errno/trace data goes in the low 16 bits).
SECCOMP_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_NOTIFY": 0x7FC00000,
}
SECCOMP_OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
                     "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
SECCOMP_FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}
EPERM = 1


def _check_consistency(cfg):
    """Rules that tie several fields together."""
    if (cfg.uid_mappings or cfg.gid_mappings) and not cfg.new_namespace("user"):
        field = "linux.uidMappings" if cfg.uid_mappings else "linux.gidMappings"
        raise ConfigError(field, "id mappings need a new user namespace in linux.namespaces")
    if cfg.new_namespace("user") and not (cfg.uid_mappings and cfg.gid_mappings):
        raise ConfigError("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    if cfg.time_offsets and not cfg.new_namespace("time"):
        raise ConfigError("linux.timeOffsets", "time offsets need a new time namespace in linux.namespaces")
    if "mount" not in cfg.namespaces:
        # Without a mount namespace the config's mounts go into the caller's,
        # as the spec says (and runc and crun do), and the init chroots into
        # the root. What needs the root to be a mount of the container's own
        # is refused: runc refuses masked and read-only paths, and would bind
        # the root over itself and change the propagation of the caller's /.
        for field, value in (("linux.maskedPaths", cfg.masked_paths), ("linux.readonlyPaths", cfg.readonly_paths),
                             ("root.readonly", cfg.root_readonly),
                             ("linux.rootfsPropagation", cfg.rootfs_propagation)):
            if value:
                raise ConfigError(field, "needs a mount namespace in linux.namespaces (without one the root "
                                  "is only chrooted into, in the caller's mount namespace)")
    if cfg.net_devices and not cfg.new_namespace("network"):
        shared = "joins %s" % cfg.namespaces["network"] if "network" in cfg.namespaces else "shares the runtime's"
        raise ConfigError(cfg.net_devices[0][2], "moving an interface needs a new network namespace in "
                          "linux.namespaces (the container %s)" % shared)
    # A joined uts namespace is the container's too: runc sets the name there.
    if cfg.hostname and "uts" not in cfg.namespaces:
        raise ConfigError("hostname", "setting the hostname needs a uts namespace of the container's own")
    if cfg.domainname and "uts" not in cfg.namespaces:
        raise ConfigError("domainname", "setting the domainname needs a uts namespace of the container's own")
    for key in cfg.sysctl:
        if key in ("kernel.hostname", "kernel.domainname"):
            # The field and the sysctl write one value: crun's rule, refused
            # only when they disagree (runc accepts every case, and which one
            # wins then depends on its order of writes).
            owner = key.partition(".")[2]
            owner_value = cfg.hostname if owner == "hostname" else cfg.domainname
            if owner_value and owner_value != cfg.sysctl[key]:
                raise ConfigError("linux.sysctl.%s" % key, "%r conflicts with the %s field (%r)"
                                  % (cfg.sysctl[key], owner, owner_value))
        needed = sysctl_namespace(key)
        if needed is None:
            raise ConfigError("linux.sysctl.%s" % key, "not a namespaced sysctl; refusing to change the host")
        if needed not in cfg.namespaces:
            raise ConfigError("linux.sysctl.%s" % key, "needs a %s namespace of the container's own" % needed)
    # Capability names are not checked here: an unknown one is skipped with a
    # warning when the masks are planned (capability_mask), as runc 1.1 does.


def sysctl_namespace(key):
    """The namespace type a sysctl belongs to, or None for one of the whole host."""
    if key.startswith("net."):
        return "network"
    if key in SYSCTL_IPC or key.startswith("fs.mqueue."):
        return "ipc"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts"
    return None


def check_sysctl_targets(cfg, is_runtimes_own):
    """A namespaced sysctl is the container's only in a namespace of its own.
    One joined by path may be the runtime's or the host's (`/proc/self/ns/net`,
    `/proc/1/ns/net`): writing it there would change the host for everybody.
    `is_runtimes_own(path, kind)` decides (namespace_is_runtimes_own on the
    real system); this stays a pure rule that unit tests can drive."""
    for key in cfg.sysctl:
        kind = sysctl_namespace(key)
        path = cfg.joined_namespace(kind) if kind else None
        if path is not None and is_runtimes_own(path, kind):
            raise ConfigError("linux.sysctl.%s" % key, "the %s namespace is joined from %s, which is the "
                              "runtime's own or the host's; refusing to change the host" % (kind, path))


def namespace_is_runtimes_own(path, kind):
    """Whether `path` (a path or an open fd) is the runtime's own namespace of
    this type, or the host's (pid 1's): the same nsfs inode on the same device.
    A path that cannot be examined is not claimed to be ours: opening it to
    join it fails later and says why."""
    try:
        target = os.stat(path)
    except OSError:
        return False
    for owner in ("self", "1"):
        try:
            own = os.stat("/proc/%s/ns/%s" % (owner, NAMESPACE_PROC_NAMES[kind]))
        except OSError:  # /proc/1 is out of reach without privilege; so is writing its sysctls
            continue
        if (own.st_dev, own.st_ino) == (target.st_dev, target.st_ino):
            return True
    return False


def kernel_refused(field, exc):
    """The error for a value the kernel rejected when it was written (EINVAL,
    ERANGE...): it names the field, never just "Invalid argument"."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return ConfigError(field, "the kernel refused the value: %s" % reason)


def sysctl_error(key, exc):
    """For the init's sysctl writes: raise sysctl_error(key, exc) from None."""
    if isinstance(exc, OSError) and exc.errno == E.EXDEV:  # not procfs (Kernel.write_file)
        return Error("linux.sysctl.%s: %s" % (key, os_error_text(exc)))
    return kernel_refused("linux.sysctl.%s" % key, exc)


def capability_mask(names, field, last=None):
    """Capability names -> bitmask. Names newer than this file or the kernel are
    skipped with a warning, as runc does: a missing capability only takes
    privilege away."""
    last = last_capability() if last is None else last
    mask = 0
    for name in names:
        bit = CAPABILITY_BITS.get(name)
        if bit is None or bit > last:
            LOG.warning("%s: unknown capability %s is ignored" % (field, name))
            continue
        mask |= 1 << bit
    return mask


def effective_ambient(masks):
    """The masks with ambient trimmed to what the kernel can raise.

    PR_CAP_AMBIENT_RAISE refuses a capability that is not both permitted and
    inheritable. runc ignores that refusal and `runc spec` (1.1) writes ambient
    capabilities without an inheritable set, so such bits are left unraised
    here too instead of failing the container. runc 1.1 says nothing of it,
    so this is a --debug line: as a warning it landed on every run and exec
    of such a bundle, in the container's own stderr. (runc 1.2+ warns "can't
    raise ambient capability", but its `spec` no longer writes ambient.)
    Returns a new dict; None (no capabilities given) stays None.
    """
    if masks is None:
        return None
    raisable = masks["ambient"] & masks["permitted"] & masks["inheritable"]
    dropped = masks["ambient"] & ~raisable
    if dropped:
        names = ["CAP_" + CAPABILITIES[bit] for bit in range(len(CAPABILITIES)) if dropped >> bit & 1]
        LOG.debug("process.capabilities.ambient: %s left unraised: an ambient capability must also be "
                  "permitted and inheritable" % ", ".join(names))
    trimmed = dict(masks)
    trimmed["ambient"] = raisable
    return trimmed


def last_capability():
    return HOST.last_capability

# ===========================================================================
# 6. Resource limits: linux.resources and update's input
# ===========================================================================
# Parsed once into plain objects; the cgroup managers (sections 10 to 12) turn them into
# file writes. Engines send every field of LinuxResources with zero values for
# "not set" (Docker's `update` builds the whole struct), so 0 and "" mean
# unset wherever the kernel has no use for a zero: memory limits, shares,
# quota/period, pids, weights, classID. Fields whose zero is a real setting
# (swappiness, cpu.burst, cpu.idle) are unset only when absent or null.
# Limits that accept "unlimited" take -1 (written as "max" / -1).


class Resources:
    __slots__ = ("memory", "cpu", "pids", "block_io", "hugepage_limits", "network", "rdma", "unified",
                 "devices", "intel_rdt")

    def __init__(self):
        self.memory = MemoryResources()
        self.cpu = CpuResources()
        self.pids = None             # pids.max: a count, -1 = unlimited, None = unset
        self.block_io = BlockIOResources()
        self.hugepage_limits = []    # [(page size "2MB", limit bytes)]
        self.network = NetworkResources()
        self.rdma = []               # [(device, hca handles or None, hca objects or None)]
        self.unified = {}            # v2 file name -> value, written last
        self.devices = None          # [DeviceRule] from the config, or None when absent
        self.intel_rdt = []          # update's schemata lines (--l3-cache-schema, --mem-bw-schema)

    def is_empty(self):
        return not (self.memory.is_set() or self.cpu.is_set() or self.pids is not None
                    or self.block_io.is_set() or self.hugepage_limits or self.network.is_set()
                    or self.rdma or self.unified or self.devices is not None)


class _ResourceGroup:
    __slots__ = ()

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, [] if name in ("weight_device", "throttle", "priorities") else None)

    def is_set(self):
        return any(getattr(self, name) not in (None, []) for name in self.__slots__)


class MemoryResources(_ResourceGroup):
    __slots__ = ("limit", "reservation", "swap", "swappiness", "disable_oom_killer", "check_before_update")


class CpuResources(_ResourceGroup):
    __slots__ = ("shares", "quota", "period", "burst", "realtime_runtime", "realtime_period", "cpus",
                 "mems", "idle")


class BlockIOResources(_ResourceGroup):
    # weight_device: [(major, minor, weight or None, leaf weight or None)]
    # throttle: [(kind, major, minor, rate)], kind one of BLKIO_THROTTLE's keys
    __slots__ = ("weight", "leaf_weight", "weight_device", "throttle")


class NetworkResources(_ResourceGroup):
    __slots__ = ("class_id", "priorities")   # priorities: [(interface, priority)]


class DeviceRule:
    """One linux.resources.devices entry. major/minor None = any ('*')."""

    __slots__ = ("allow", "kind", "major", "minor", "access")

    def __init__(self, allow, kind="a", major=None, minor=None, access="rwm"):
        self.allow, self.kind, self.major, self.minor, self.access = allow, kind, major, minor, access

    def __eq__(self, other):
        return isinstance(other, DeviceRule) and all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    def __repr__(self):
        return "DeviceRule(%r, %r, %r, %r, %r)" % (self.allow, self.kind, self.major, self.minor, self.access)


# OCI throttle field -> (v1 file suffix, v2 io.max key)
BLKIO_THROTTLE = {
    "throttleReadBpsDevice": ("read_bps_device", "rbps"),
    "throttleWriteBpsDevice": ("write_bps_device", "wbps"),
    "throttleReadIOPSDevice": ("read_iops_device", "riops"),
    "throttleWriteIOPSDevice": ("write_iops_device", "wiops"),
}
_INT64 = (1 << 63) - 1


def _limit(obj, key, field, unlimited_ok=True):
    """A byte/count limit: 0 or absent = unset (None), -1 = unlimited (-1), else positive."""
    value = _field(obj, key, (int,), field)
    if not value:
        return None
    if value < 0:
        if value == -1 and unlimited_ok:
            return -1
        raise ConfigError(field, "%d is out of range (a positive number%s)" % (value, ", or -1 for no limit" if unlimited_ok else ""))
    if value > _INT64:
        raise ConfigError(field, "%d is out of range" % value)
    return value


def _positive(obj, key, field, limit=_INT64):
    """A setting whose zero the kernel cannot use: 0 or absent = unset."""
    value = _uint(obj, key, field, None, limit=limit)
    return value or None


def _cpu_list(obj, key, field):
    value = _field(obj, key, (str,), field, "")
    for part in value.split(",") if value else ():
        low, _, high = part.strip().partition("-")
        if not (low.isdigit() and (not high or high.isdigit())) or (high and int(high) < int(low)):
            raise ConfigError(field, "%r is not a list like 0-3,5" % value)
    return value or None


def _parse_resources(raw, field="linux.resources"):
    """linux.resources (or a runc `update` LinuxResources document) -> Resources."""
    if not isinstance(raw, dict):
        raise ConfigError(field, "expected an object")
    res = Resources()
    mem = _field(raw, "memory", (dict,), field + ".memory", {})
    f = field + ".memory."
    m = res.memory
    m.limit = _limit(mem, "limit", f + "limit")
    m.reservation = _limit(mem, "reservation", f + "reservation")
    m.swap = _limit(mem, "swap", f + "swap")
    swappiness = _field(mem, "swappiness", (int,), f + "swappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise ConfigError(f + "swappiness", "%d is out of range (0 to 100)" % swappiness)
    m.swappiness = None if swappiness == -1 else swappiness
    m.disable_oom_killer = _field(mem, "disableOOMKiller", (bool,), f + "disableOOMKiller") or None
    m.check_before_update = _field(mem, "checkBeforeUpdate", (bool,), f + "checkBeforeUpdate") or None
    if m.limit is not None and m.reservation is not None and m.limit != -1 and m.reservation > m.limit:
        raise ConfigError(f + "reservation", "is above memory.limit")
    if m.swap is not None and m.swap != -1 and m.limit is not None and m.limit != -1 and m.swap < m.limit:
        raise ConfigError(f + "swap", "is memory+swap and must not be below memory.limit")
    if "kernel" in mem or "kernelTCP" in mem:
        for key in ("kernel", "kernelTCP"):
            if _field(mem, key, (int,), f + key):
                # Deprecated in the spec, gone from cgroup v2 and from the kernel's v1 since 6.x.
                raise ConfigError(f + key, "kernel memory limits are not supported")
    cpu = _field(raw, "cpu", (dict,), field + ".cpu", {})
    f = field + ".cpu."
    c = res.cpu
    c.shares = _positive(cpu, "shares", f + "shares", limit=262144)
    c.quota = _limit(cpu, "quota", f + "quota")
    c.period = _positive(cpu, "period", f + "period", limit=1_000_000)
    c.burst = _uint(cpu, "burst", f + "burst", None, limit=_INT64)
    c.realtime_runtime = _field(cpu, "realtimeRuntime", (int,), f + "realtimeRuntime") or None
    c.realtime_period = _positive(cpu, "realtimePeriod", f + "realtimePeriod")
    c.cpus = _cpu_list(cpu, "cpus", f + "cpus")
    c.mems = _cpu_list(cpu, "mems", f + "mems")
    c.idle = _field(cpu, "idle", (int,), f + "idle")
    if c.idle not in (None, 0, 1):
        raise ConfigError(f + "idle", "must be 0 or 1")
    if c.period is not None and c.period < 1000:
        raise ConfigError(f + "period", "%d is below the kernel's minimum of 1000 us" % c.period)
    pids = _field(raw, "pids", (dict,), field + ".pids", {})
    res.pids = _limit(pids, "limit", field + ".pids.limit")
    blkio = _field(raw, "blockIO", (dict,), field + ".blockIO", {})
    f = field + ".blockIO."
    b = res.block_io
    for key, attr in (("weight", "weight"), ("leafWeight", "leaf_weight")):
        value = _positive(blkio, key, f + key, limit=1000)
        if value is not None and value < 10:
            raise ConfigError(f + key, "%d is out of range (10 to 1000)" % value)
        setattr(b, attr, value)
    for i, item in enumerate(_field(blkio, "weightDevice", (list,), f + "weightDevice", [])):
        g = "%sweightDevice[%d]" % (f, i)
        major, minor = _uint(item, "major", g + ".major", required=True), _uint(item, "minor", g + ".minor", required=True)
        weight = _positive(item, "weight", g + ".weight", limit=1000)
        leaf = _positive(item, "leafWeight", g + ".leafWeight", limit=1000)
        if weight is not None or leaf is not None:
            b.weight_device.append((major, minor, weight, leaf))
    for key in BLKIO_THROTTLE:
        for i, item in enumerate(_field(blkio, key, (list,), f + key, [])):
            g = "%s%s[%d]" % (f, key, i)
            b.throttle.append((key, _uint(item, "major", g + ".major", required=True),
                               _uint(item, "minor", g + ".minor", required=True),
                               _uint(item, "rate", g + ".rate", required=True, limit=(1 << 64) - 1)))
    for i, item in enumerate(_field(raw, "hugepageLimits", (list,), field + ".hugepageLimits", [])):
        g = "%s.hugepageLimits[%d]" % (field, i)
        size = _field(item, "pageSize", (str,), g + ".pageSize", required=True)
        number = size[:-2]
        if not (number.isdigit() and size[-2:] in ("KB", "MB", "GB")):
            raise ConfigError(g + ".pageSize", "%r is not a page size like 2MB or 1GB" % size)
        res.hugepage_limits.append((size, _uint(item, "limit", g + ".limit", required=True, limit=(1 << 64) - 1)))
    net = _field(raw, "network", (dict,), field + ".network", {})
    res.network.class_id = _positive(net, "classID", field + ".network.classID", limit=(1 << 32) - 1)
    for i, item in enumerate(_field(net, "priorities", (list,), field + ".network.priorities", [])):
        g = "%s.network.priorities[%d]" % (field, i)
        name = _field(item, "name", (str,), g + ".name", required=True)
        if not name or any(ch in name for ch in " \n/"):
            raise ConfigError(g + ".name", "%r is not an interface name" % name)
        res.network.priorities.append((name, _uint(item, "priority", g + ".priority", required=True)))
    for device, item in _field(raw, "rdma", (dict,), field + ".rdma", {}).items():
        g = "%s.rdma.%s" % (field, device)
        if not device or any(ch in device for ch in " \n="):
            raise ConfigError(g, "%r is not an RDMA device name" % device)
        handles = _uint(item, "hcaHandles", g + ".hcaHandles")
        objects = _uint(item, "hcaObjects", g + ".hcaObjects")
        if handles is None and objects is None:
            raise ConfigError(g, "needs hcaHandles or hcaObjects")
        res.rdma.append((device, handles, objects))
    for key, value in _field(raw, "unified", (dict,), field + ".unified", {}).items():
        g = "%s.unified.%s" % (field, key)
        if not isinstance(value, str):
            raise ConfigError(g, "expected a string")
        if "/" in key or "." not in key.strip(".") or key.startswith("cgroup."):
            # cgroup.* files (procs, subtree_control, kill, freeze) belong to the runtime.
            raise ConfigError(g, "not a controller file name like memory.high")
        res.unified[key] = value
    devices = _field(raw, "devices", (list,), field + ".devices")
    if devices is not None:
        res.devices = [_parse_device_rule(item, "%s.devices[%d]" % (field, i)) for i, item in enumerate(devices)]
    return res


def _parse_device_rule(raw, field):
    allow = _field(raw, "allow", (bool,), field + ".allow", required=True)
    kind = _field(raw, "type", (str,), field + ".type", "a") or "a"
    if kind not in ("a", "c", "b"):
        raise ConfigError(field + ".type", "unknown device type %r (a, c or b)" % kind)
    numbers = []
    for key in ("major", "minor"):
        value = _field(raw, key, (int,), "%s.%s" % (field, key))
        if value is not None and value != -1 and not 0 <= value < (1 << 32):
            raise ConfigError("%s.%s" % (field, key), "%d is out of range" % value)
        numbers.append(None if value in (None, -1) else value)
    access = _field(raw, "access", (str,), field + ".access", "rwm") or "rwm"
    if not set(access) <= set("rwm") or len(set(access)) != len(access):
        raise ConfigError(field + ".access", "%r is not a combination of r, w and m" % access)
    return DeviceRule(allow, kind, numbers[0], numbers[1], "".join(ch for ch in "rwm" if ch in access))


# runc `update`'s per-field flags -> (section, key, kind) of LinuxResources.
UPDATE_FLAGS = {
    "--memory": ("memory", "limit", "bytes"),
    "--memory-reservation": ("memory", "reservation", "bytes"),
    "--memory-swap": ("memory", "swap", "bytes"),
    "--kernel-memory": ("memory", "kernel", "bytes"),
    "--kernel-memory-tcp": ("memory", "kernelTCP", "bytes"),
    "--cpu-share": ("cpu", "shares", "int"),        # runc's spelling
    "--cpu-shares": ("cpu", "shares", "int"),
    "--cpu-quota": ("cpu", "quota", "int"),
    "--cpu-period": ("cpu", "period", "int"),
    "--cpu-burst": ("cpu", "burst", "int"),
    "--cpu-rt-runtime": ("cpu", "realtimeRuntime", "int"),
    "--cpu-rt-period": ("cpu", "realtimePeriod", "int"),
    "--cpu-idle": ("cpu", "idle", "int"),
    "--cpuset-cpus": ("cpu", "cpus", "str"),
    "--cpuset-mems": ("cpu", "mems", "str"),
    "--pids-limit": ("pids", "limit", "int"),
    "--blkio-weight": ("blockIO", "weight", "int"),
}


def parse_size(text, field):
    """runc's RAMInBytes: 64m, 1g, 512k, 1024, -1 (binary units, b/k/m/g/t/p, case-insensitive)."""
    value = text.strip().lower()
    if value == "-1":
        return -1
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    if value.endswith("ib") or (value.endswith("b") and len(value) > 1 and value[-2] in units):
        value = value[:-2] if value.endswith("ib") else value[:-1]
    scale = units.get(value[-1:], None)
    number = value[:-1] if scale else value
    if is_decimal(number):  # exact: a float would round 99999999999999999999999 to ...91611392
        return int(number) * (scale or 1)
    whole, dot, fraction = number.partition(".")
    if not (dot and is_decimal(whole) and is_decimal(fraction)):  # runc's RAMInBytes: 1.5g, not .5 or 5.
        raise UsageError("%s: invalid size %r" % (field, text))
    return int(float(number) * (scale or 1))  # 1.5g: digits only, so never inf or nan


def parse_update(resources_json=None, flags=None, source="update: --resources"):
    """runc update's input -> Resources: the --resources document (a LinuxResources
    object, already read from FILE or stdin) or else the per-field flags. As in
    runc, the flags are ignored when a document is given (silently in runc: a
    --debug line here).
    `flags` maps a flag name ("--memory") to its string value. An error names
    what the value came from: the flag, or the document's field with the
    document (`source`) -- never config.json, which `update` does not read."""
    raw = {}
    flags = dict(flags or {})
    rdt_lines = []
    if resources_json is not None:
        if not isinstance(resources_json, dict):
            raise ConfigError("(top level)", "expected a JSON object (LinuxResources)", source)
        raw = {key: dict(value) if isinstance(value, dict) else value for key, value in resources_json.items()}
        if flags:
            LOG.debug("update: %s ignored: --resources was given (as runc does)" % ", ".join(sorted(flags)))
            flags = {}
    for flag, text in flags.items():
        if flag in ("--l3-cache-schema", "--mem-bw-schema"):
            # As linux.intelRdt's: an MB: line of --l3-cache-schema yields to --mem-bw-schema.
            rdt = IntelRdt()
            rdt.l3_cache_schema = flags.get("--l3-cache-schema", "")
            rdt.mem_bw_schema = flags.get("--mem-bw-schema", "")
            rdt.schemata = []
            if "\0" in text or (flag == "--mem-bw-schema" and (not text.startswith("MB:") or "\n" in text)):
                raise UsageError("update: %s: %r is not a schemata line%s" % (
                    flag, text, " starting with MB:" if flag == "--mem-bw-schema" else ""))
            rdt_lines[:] = rdt.lines()
            continue
        if flag not in UPDATE_FLAGS:
            raise UsageError("update: unknown flag %s" % flag)
        section, key, kind = UPDATE_FLAGS[flag]
        if kind == "bytes":
            value = parse_size(text, flag)
        elif kind == "int":
            if not is_decimal(text[1:] if text.startswith("-") else text):
                raise UsageError("%s: invalid number %r" % (flag, text))
            value = int(text)
        else:
            value = text
        raw.setdefault(section, {})[key] = value
    memory = raw.get("memory")
    if isinstance(memory, dict) and memory.get("limit") == -1 and not memory.get("swap"):
        # runc: lifting the memory limit without a word on swap lifts the
        # memory+swap limit too. On v1 the kernel refuses a memory limit above
        # memsw, so a container with both set could otherwise never be lifted
        # (the manager writes memsw first when raising, memory first when lowering).
        memory["swap"] = -1
    try:
        resources = _parse_resources(raw, "resources")
        resources.intel_rdt = rdt_lines
        return resources
    except ConfigError as exc:
        field = exc.field[len("resources."):]
        if resources_json is not None:
            raise ConfigError(field, exc.message, source) from None
        named = [flag for flag, (section, key, _kind) in UPDATE_FLAGS.items()
                 if field == section + "." + key and flag in flags]
        raise ConfigError(named[0] if named else field, exc.message, "update") from None


def update_error_named(message, source):
    """A cgroup manager's "resources.memory.limit: ..." as `update` words it:
    naming the flag that gave the value, or the --resources input (`source`:
    its name, or the set of flags given)."""
    field, colon, rest = message.partition(": ")
    if not (colon and field.startswith("resources.")) or source is None:
        return message
    field = field[len("resources."):]
    if isinstance(source, str):
        return "%s: %s: %s" % (source, field, rest)
    flag = next((flag for flag, (section, key, _kind) in UPDATE_FLAGS.items()
                 if field == section + "." + key and flag in source), None)
    return "update: %s: %s" % (flag or field, rest)


# ===========================================================================
# 7. The state store
# ===========================================================================
# ROOT/ID/ (0700) holds state.json, written atomically, and exec.fifo while
# the container is created but not started. Creating the directory is the
# reservation of the ID (mkdir is atomic, so of two concurrent creates exactly
# one wins); flock on the directory serializes start/delete against create.
#
# state.json has a version and is validated field by field when it is read:
# it is a file on disk that another process may have written, so a forged,
# stale or corrupt one gives a clear error naming the container, and nothing
# signals a pid from it before the pid is proved to be the container's
# (ContainerState.proven_init): the boot, the start time, the namespaces and
# the cgroup recorded at create must all be the live process's, checked
# through a pidfd that is then the only way it is signalled. A cgroup counts
# as the container's only when it is its proven init's or create made it
# (recorded in the cgroup's "made"); a stopped container's cgroup that holds
# processes of another container is left to them. config.json beside it is
# the config the container was created from, kept for `exec`; a `delete
# --force` of a container whose state.json is unreadable finds what is left
# through it and exec.fifo (remove_unreadable_container, section 11).
#
# What proves a directory is minirun's, checked by every command: the root is
# a directory owned by the caller (or root) that no other user can write, and
# a container is a subdirectory of it, likewise, holding a state.json that
# parses. reserve() writes a placeholder state.json ("creating") right after
# the mkdir, so a container being created is one too. Anything else (--root
# /proc, --root /etc) holds no container: list shows none, state says "does
# not exist", and delete --force removes nothing but an empty directory (a
# create killed between its mkdir and its placeholder). runc 1.1 lists such
# roots as empty too. Each check is an fstat of a file opened anyway.

STATE_FILE = "state.json"
FIFO_FILE = "exec.fifo"
CONFIG_COPY = "config.json"
START_ERROR_FILE = "start.error"
STATE_VERSION = 2
CREATING = {"version": STATE_VERSION, "status": "creating"}  # plus the id: reserve()'s placeholder


# --- proving a process ------------------------------------------------------
# What ties a pid to a container (ContainerState.proven_init) and the one way
# a set of processes is killed once each is proven: through a pidfd opened
# before its proof, so a pid reused meanwhile is never reached.

# The namespaces a container's init is tied to: recorded at create as (st_dev,
# st_ino) of /proc/PID/ns/NAME (nsfs identities; readlink's "mnt:[N]" drops the
# device), compared before anything signals a pid from state.json.
RECORDED_NAMESPACES = ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user")


def namespace_ids(pid, names=RECORDED_NAMESPACES):
    """{name: [st_dev, st_ino]} of `pid`'s namespaces (a kernel without one is
    left out); OSError if the process is gone or its links are closed to us."""
    ids = {}
    for name in names:
        try:
            st = os.stat("/proc/%d/ns/%s" % (pid, name))
        except FileNotFoundError:
            if not os.path.isdir("/proc/%d/ns" % pid):
                raise
            continue
        ids[name] = [st.st_dev, st.st_ino]
    return ids


def boot_id():
    """This boot's random id: a pid and start time recorded in a --root that
    outlived a reboot name some process of this boot, not the container."""
    with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
        return handle.read().decode("ascii", "replace").strip()


def open_pidfd(pid):
    """A pidfd on `pid`, or None if it has exited. A pidfd names one process:
    a signal sent through it can never reach a later process reusing the pid."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def signal_pidfd(pidfd, signal):
    """pidfd_send_signal; a process that has exited meanwhile is no error."""
    import _signal

    try:
        _signal.pidfd_send_signal(pidfd, signal)
    except ProcessLookupError:
        pass


def kill_proven_processes(pids, proof, seconds=10, signum=9):
    """SIGKILL (or `signum`) each pid that `proof(pid)` (read with a pidfd on
    it open) shows to be the container's, through that pidfd; wait for them
    to exit (not with seconds=0). The pids a proof refused, and those that
    did not die, are returned; but not a refused process that is on its way
    out: one found holding exec.fifo may be dying already (its parent, a
    killed create, took it along), its files closed before it is gone."""
    pidfds, refused = [], []
    try:
        for pid in pids:
            pidfd = open_pidfd(pid)
            if pidfd is None:
                continue
            try:
                proven = proof(pid)
            except OSError:
                proven = False
            if proven:
                pidfds.append((pid, pidfd))
                signal_pidfd(pidfd, signum)
            else:
                os.close(pidfd)
                refused.append(pid)
        survivors = [pid for pid, pidfd in pidfds if seconds and not wait_for_pidfd(pidfd, seconds)]
        return [pid for pid in refused if not is_exiting(pid)] + survivors
    finally:
        for _pid, pidfd in pidfds:
            os.close(pidfd)


def is_exiting(pid):
    """True for a process that is gone, a zombie, or past the point of its
    exit where it released its memory (before its files): /proc/PID/exe
    names nothing then. A live process always has it."""
    try:
        os.readlink("/proc/%d/exe" % pid)
    except FileNotFoundError:
        return True
    except OSError:
        pass    # not ours to read: alive as far as we can tell
    return False


def fifo_holders(fifo):
    """The processes holding `fifo` (an exec.fifo) open: a created init does,
    until its execve; found by the device and inode of every open file."""
    try:
        target = os.stat(fifo)
    except OSError:
        return []
    import stat as stat_module

    if not stat_module.S_ISFIFO(target.st_mode):
        return []
    key = (target.st_dev, target.st_ino)
    me = os.getpid()
    return [pid for pid in all_pids() if pid != me and holds_file(pid, key)]


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def holds_file(pid, key):
    """True if `pid` has the file (st_dev, st_ino) `key` open."""
    try:
        with os.scandir("/proc/%d/fd" % pid) as entries:
            for entry in entries:
                try:
                    st = os.stat(entry.path)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) == key:
                    return True
    except OSError:
        pass
    return False


class ContainerNotFound(Error):
    """No container with that ID under --root (engines match "does not exist")."""


def validate_id(cid):
    """Container IDs name a directory under --root: no traversal, no surprises."""
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
    if not cid or len(cid) > 255 or cid in (".", "..") or not set(cid) <= allowed:
        raise Error("invalid container id %r: use 1 to 255 of the characters [A-Za-z0-9_+.-]" % cid)


def valid_cgroup_state(raw):
    """The shape manager_from_state() reads: absolute, normalised directories under
    /sys/fs/cgroup, each below its hierarchy's mount point."""
    if not isinstance(raw, dict) or raw.get("driver") not in ("cgroupfs", "systemd") \
            or raw.get("layout") not in ("v1", "hybrid", "v2") or not isinstance(raw.get("dirs"), list):
        return False
    if raw["driver"] == "systemd" and not all(isinstance(raw.get(k), str) for k in ("slice", "unit")):
        return False
    for entry in raw["dirs"]:
        if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(x, str) for x in entry[::2])):
            return False
        d, ctrls, mountpoint = entry
        if ctrls is not None and not (isinstance(ctrls, list) and all(isinstance(c, str) for c in ctrls)):
            return False
        if os.path.normpath(d) != d or not d.startswith(mountpoint + "/") \
                or not (mountpoint + "/").startswith(CGROUP_ROOT + "/"):
            return False
    # Directories create made (a forged "made" naming others counts for nothing: see check_container_cgroup)
    made = raw.get("made")
    return isinstance(made, list) and all(isinstance(d, str) for d in made)


def valid_rdt_record(raw):
    """The shape apply_intel_rdt() records: a group one level below the resctrl
    root, and a monitoring group (or null) in that group's mon_groups."""
    if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str) for k in ("root", "group")) \
            or not isinstance(raw.get("made"), bool) or not isinstance(raw.get("monitor"), (str, type(None))):
        return False
    root, group, monitor = raw["root"], raw["group"], raw["monitor"]
    name = group[len(root) + 1:]
    if not root.startswith("/") or os.path.normpath(root) != root or group != root + "/" + name \
            or name in ("", ".", "..") or "/" in name or name in RESCTRL_RESERVED:
        return False
    mon_name = (monitor or "")[len(group) + len("/mon_groups/"):]
    return monitor is None or (monitor == group + "/mon_groups/" + mon_name and mon_name not in ("", ".", "..")
                               and "/" not in mon_name)


class ContainerState:
    """What state.json records, and the status derived from the live system."""

    # field -> (JSON types, required)
    SCHEMA = {
        "version": ((int,), True), "id": ((str,), True), "pid": ((int,), True),
        "pid_start": ((int,), True), "bundle": ((str,), True), "rootfs": ((str,), True),
        "created": ((str,), True), "annotations": ((dict,), True), "own_pid_namespace": ((bool,), True),
        "boot_id": ((str,), True), "hooks": ((dict,), True),
        # namespace_ids() of the init at create: {name: [st_dev, st_ino]}
        "namespaces": ((dict,), True),
        # The manager's to_state(); null for a container without a cgroup of its own (rootless).
        "cgroup": ((dict, type(None)), True),
        # apply_intel_rdt()'s record (section 11); absent or null without linux.intelRdt.
        "intel_rdt": ((dict, type(None)), False),
    }
    FIELDS = tuple(SCHEMA)

    def __init__(self, **values):
        for key in self.FIELDS:
            setattr(self, key, values.get(key))
        self.version = STATE_VERSION
        self.directory = None
        self.init_pidfd = None          # proven_init()'s
        self._proven_manager = None     # proven_cgroup()'s, for the proven init

    def to_json(self):
        return {key: getattr(self, key) for key in self.FIELDS}

    @classmethod
    def from_json(cls, cid, raw):
        """A validated ContainerState, or Error naming the container and the field."""
        def bad(field, reason):
            return Error("container %s: corrupt state file: %s: %s" % (cid, field, reason))

        if not isinstance(raw, dict):
            raise bad("(top level)", "not a JSON object")
        version = raw.get("version")
        if version != STATE_VERSION:
            raise bad("version", "%r is not a state version this minirun reads (%d)" % (version, STATE_VERSION))
        for key, (kinds, required) in cls.SCHEMA.items():
            if required and key not in raw:
                raise bad(key, "missing")
            value = raw.get(key)
            if value is None and (not required or type(None) in kinds):
                continue
            if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
                raise bad(key, "missing or of the wrong type")
        if raw["id"] != cid:
            raise bad("id", "names %r, not this container" % raw["id"])
        if raw["pid"] <= 0 or raw["pid_start"] < 0:
            raise bad("pid", "%r is not a process id" % raw["pid"])
        if not raw["bundle"].startswith("/"):
            raise bad("bundle", "not an absolute path")
        if raw.get("intel_rdt") is not None and not valid_rdt_record(raw["intel_rdt"]):
            raise bad("intel_rdt", "not a resctrl group record")
        for key, value in raw["annotations"].items():
            if not isinstance(value, str):
                raise bad("annotations." + key, "expected a string")
        for key in ("mnt", "pid"):
            if key not in raw["namespaces"]:
                raise bad("namespaces." + key, "missing")
        for key, value in raw["namespaces"].items():
            if not (isinstance(value, list) and len(value) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in value)):
                raise bad("namespaces." + key, "expected [device, inode]")
        hooks = {}
        for phase, items in raw["hooks"].items():
            if phase not in ("poststart", "poststop") or not isinstance(items, list):
                raise bad("hooks." + phase, "unexpected")
            try:
                hooks[phase] = [Hook.from_json(item) for item in items]
            except (KeyError, TypeError, ValueError):
                raise bad("hooks." + phase, "malformed hook") from None
        if raw["cgroup"] is not None and not valid_cgroup_state(raw["cgroup"]):
            raise bad("cgroup", "not a cgroup this minirun records")
        state = cls(**{key: raw.get(key) for key in cls.FIELDS})
        state.hooks = {phase: [h.to_json() for h in items] for phase, items in hooks.items()}
        return state

    def alive(self):
        """The recorded init still runs: the same start time (runc's test) in
        the same boot (a --root on disk outlives a reboot; its pids do not)."""
        return bool(self.pid) and self.pid_start is not None \
            and process_start_time(self.pid) == self.pid_start and self.boot_id == boot_id()

    def status(self):
        if not self.alive():
            return "stopped"
        if self.cgroup and manager_from_state(self.cgroup).paused():
            return "paused"
        if os.path.exists(os.path.join(self.directory, FIFO_FILE)):
            return "created"
        return "running"

    def proven_cgroup(self, init, manager=None):
        """The manager of the container's cgroup (or of `manager`, a part of it)
        once check_container_cgroup() has shown it is this container's own: the
        cgroup of `init`, a proven init, or one create made; None for a
        container without one."""
        if not self.cgroup:
            return None
        if manager is None and init and self._proven_manager is not None:
            return self._proven_manager
        others = [own_cgroups()]
        try:
            others.append(own_cgroups("/proc/1/cgroup"))
        except OSError:
            pass
        manager = check_container_cgroup(manager or manager_from_state(self.cgroup), self.id, init,
                                         HOST.cgroup_layout, others, self.cgroup.get("made", ()))
        if init and manager is not None:
            self._proven_manager = manager
        return manager

    def proven_init(self):
        """The init's pid, once shown to be this container's; None if it has exited.

        A live process with the recorded pid and start time could still be
        somebody else's: the state file may be forged, or stale (a --root kept
        across a reboot, whose pids name this boot's processes). A pidfd on
        the pid is opened first: whatever is read after it is about the
        process it names, or that process is gone and a signal through it
        fails. Then the proof: the start time again, every namespace recorded
        at create (device and inode of /proc/PID/ns/*), a mount namespace that
        is not the runtime's, with a pid namespace of its own pid 1 of it, and
        the recorded cgroup holding it. Anything else is refused, never
        signalled; signal_init() then signals through the pidfd only.
        """
        if not self.alive():
            return None
        pidfd = open_pidfd(self.pid)
        if pidfd is None:
            return None
        try:
            proven = self._prove_init()
        except BaseException:
            os.close(pidfd)
            raise
        if proven is None:
            os.close(pidfd)
            return None
        self.init_pidfd = pidfd
        return self.pid

    def refuse_init(self):
        return Error("container %s: pid %d is not the container's init (state file forged or stale); "
                     "refusing to signal it" % (self.id, self.pid))

    def _prove_init(self):
        """The proof of proven_init(), read with its pidfd open; None if the process has exited."""
        if process_start_time(self.pid) != self.pid_start:
            return None  # it exited, and its pid was taken again, before the pidfd was opened
        try:
            theirs = namespace_ids(self.pid, tuple(self.namespaces))
        except PermissionError:
            theirs = None
        except OSError:
            return None  # it exited while we looked
        try:
            with open("/proc/%d/status" % self.pid) as status:
                fields = {line.split(":")[0]: line.split()[1:] for line in status}
        except OSError:
            return None
        nspid = fields.get("NSpid", [])
        if theirs is None:
            proven = self._proven_unreadable_init(fields)
        else:
            ours = namespace_ids(os.getpid(), ("mnt", "pid"))
            proven = theirs == self.namespaces and theirs["mnt"] != ours["mnt"]
            if self.own_pid_namespace:
                proven = proven and theirs.get("pid") != ours.get("pid") and len(nspid) >= 2 and nspid[-1] == "1"
        if proven and self.cgroup:
            try:
                cgroups = own_cgroups("/proc/%d/cgroup" % self.pid)
            except OSError:
                return None
            proven = cgroup_holds(manager_from_state(self.cgroup).dirs, HOST.cgroup_layout, cgroups)
        if not proven:
            if is_exiting(self.pid):
                # Its namespaces (and cgroup) are let go on its way out, after
                # its memory: what no longer matches is an exit, not a forgery.
                return None
            raise self.refuse_init()
        return self.pid

    def signal_init(self, signal):
        """Signal the proven init, through the pidfd proven_init() checked."""
        signal_pidfd(self.init_pidfd, signal)

    def wait_init(self, seconds):
        """True once the proven init has exited (False after `seconds`)."""
        return wait_for_pidfd(self.init_pidfd, seconds)

    def _proven_unreadable_init(self, fields):
        """Rootless: a created init in a user namespace is non-dumpable until
        its execve, so its namespace links are closed to an unprivileged
        caller. The proof is then what the caller may read (`fields`, its
        /proc/PID/status): the recorded boot and start time, the caller's own
        uid, pid 1 of a pid namespace of its own, and the recorded cgroup
        (checked by the caller). The root of the host always reads the links."""
        if os.geteuid() == 0:
            raise Error("container %s: cannot read /proc/%d/ns/mnt; refusing to signal it" % (self.id, self.pid))
        nspid = fields.get("NSpid", [])
        proven = fields.get("Uid", [""])[:1] == [str(os.geteuid())]
        if self.own_pid_namespace:
            proven = proven and len(nspid) >= 2 and nspid[-1] == "1"
        return proven

    def oci_state(self, status=None):
        """The state of the runtime spec, plus runc's `rootfs`, `created` and `owner`."""
        status = status or self.status()
        state = {"ociVersion": SPEC_VERSION, "id": self.id,
                 "pid": self.pid if status != "stopped" else 0, "status": status,
                 "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created}
        if self.annotations:
            state["annotations"] = self.annotations
        state["owner"] = ""
        return state

    def hook_state(self, status):
        """The state a hook reads on its stdin: the runtime spec's fields only."""
        return hook_state(self.id, self.pid if status != "stopped" else 0, self.bundle, self.annotations, status)

    def hooks_for(self, phase):
        return [Hook.from_json(h) for h in (self.hooks or {}).get(phase, [])]

    def kept_config(self):
        """The Config the container was created with (create keeps it beside
        the state): exec and checkpoint act on it, not on the bundle's now."""
        what = "container %s: its config" % self.id
        raw = parse_json_input(read_input(os.path.join(self.directory, CONFIG_COPY), what), what)
        if not isinstance(raw, dict):
            raise Error("container %s: its config is not a JSON object" % self.id)
        return parse_config(raw, self.bundle)


class Store:
    def __init__(self, root):
        self.root = root

    def path(self, cid, name=""):
        return os.path.join(self.root, cid, name) if name else os.path.join(self.root, cid)

    def check_root(self):
        """True if the root exists and is the caller's to trust, False if it
        does not exist (list shows nothing, as runc's); else an Error. Others
        who could write it could rename or replace ROOT/ID and hijack a
        container's state; a root owned by another user is that user's."""
        try:
            info = os.stat(self.root)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise Error("--root %s: %s" % (self.root, exc.strerror)) from None
        check_private_dir(info, "--root %s" % self.root)
        return True

    def reserve(self, cid):
        """Make ROOT/ID and return a locked fd on it; fails if the ID is taken."""
        validate_id(cid)
        try:
            make_private_dirs(self.root)
        except OSError as exc:
            raise Error("--root %s: %s" % (self.root, exc.strerror)) from None
        self.check_root()
        try:
            os.mkdir(self.path(cid), 0o700)
        except FileExistsError:
            raise Error("container with id %s already exists" % cid) from None
        except OSError as exc:
            raise Error("--root %s: %s" % (self.root, exc.strerror)) from None
        try:
            fd = self._lock_dir(cid)
        except FileNotFoundError:  # a `delete --force` of the ID came between mkdir and flock
            raise Error("container %s was deleted while it was being created" % cid) from None
        try:
            write_atomically(self.path(cid, STATE_FILE), json_dumps(dict(CREATING, id=cid)), 0o600)
        except BaseException:
            os.close(fd)
            os.rmdir(self.path(cid))
            raise
        return fd

    def lock(self, cid, missing_ok=False):
        """A locked fd on ROOT/ID (waits for a create or delete in progress).
        A missing container is an Error, or None with missing_ok."""
        validate_id(cid)
        try:
            return self._lock_dir(cid)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise ContainerNotFound("container %s does not exist" % cid) from None

    def _lock_dir(self, cid):
        """flock ROOT/ID. Whoever held the lock may have deleted the container
        meanwhile (parallel `delete --force`): a directory removed while we
        waited has no links left, and the ID is then missing, or was taken
        again by a new create, whose directory is locked instead."""
        import fcntl

        path = self.path(cid)
        while True:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                locked = os.fstat(fd)
                current = os.stat(path)  # FileNotFoundError: deleted while we waited
            except BaseException:
                os.close(fd)
                raise
            if locked.st_nlink and (locked.st_dev, locked.st_ino) == (current.st_dev, current.st_ino):
                return fd
            os.close(fd)

    def load(self, cid):
        """The state of container `cid`, once its directory and state.json are
        shown to be minirun's (see the section's opening); ContainerNotFound
        for anything else."""
        validate_id(cid)
        data = self._read_state(cid)
        try:
            raw = json_loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
            raise Error("container %s: corrupt state file: %s" % (cid, reason)) from None
        if raw == dict(CREATING, id=cid):
            state = ContainerState(id=cid, pid=0, annotations={}, hooks={})
            state.directory = self.path(cid)
            state.status = lambda: "creating"
            return state
        state = ContainerState.from_json(cid, raw)
        state.directory = self.path(cid)
        return state

    def _read_state(self, cid):
        """The bytes of ROOT/ID/state.json, read without following a symlink
        at either step or blocking on a FIFO."""
        missing = ContainerNotFound("container %s does not exist" % cid)
        try:
            dir_fd = os.open(self.path(cid), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise missing from None
        except OSError as exc:
            if exc.errno == 40:  # ELOOP: ROOT/ID is a symlink, which no create makes
                raise missing from None
            raise Error("container %s: %s" % (cid, os_error_text(exc))) from None
        try:
            try:
                fd = os.open(STATE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
            except (FileNotFoundError, OSError) as exc:
                if isinstance(exc, FileNotFoundError) or exc.errno == 40:
                    raise missing from None  # a directory without state.json is no container
                raise Error("container %s: %s: %s" % (cid, STATE_FILE, exc.strerror)) from None
            try:
                check_private_dir(os.fstat(dir_fd), "container %s: state directory %s" % (cid, self.path(cid)))
            except BaseException:
                os.close(fd)
                raise
        finally:
            os.close(dir_fd)
        try:
            info = os.fstat(fd)
            if info.st_mode & 0o170000 != 0o100000 or info.st_size > INPUT_MAX:
                raise Error("container %s: corrupt state file: not a regular file of at most %d MiB"
                            % (cid, INPUT_MAX >> 20))
            return os.read(fd, INPUT_MAX + 1)
        finally:
            os.close(fd)

    def save(self, state):
        path = self.path(state.id, STATE_FILE)
        write_atomically(path, json_dumps(state.to_json()), 0o600)

    def remove_if_reserved(self, cid):
        """Remove ROOT/ID if it is what reserve() left alone (a create killed
        before its placeholder was in place): the caller's, private, and
        empty but for the placeholder's temporary file (killed mid-write). A
        directory of anything else (--root /etc) is no container to remove."""
        directory = self.path(cid)
        try:
            info = os.lstat(directory)
            if info.st_uid != os.geteuid() or info.st_mode & 0o077 or info.st_mode & 0o170000 != 0o040000:
                return
            prefix = STATE_FILE + ".tmp-"
            for name in os.listdir(directory):
                if not (name.startswith(prefix) and is_decimal(name[len(prefix):])):
                    return
                if os.lstat(os.path.join(directory, name)).st_mode & 0o170000 != 0o100000:
                    return
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.rmdir(directory)
        except OSError:
            pass  # gone meanwhile, or changed under us

    def remove(self, cid):
        directory = self.path(cid)
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)

    def ids(self):
        """The names under the root that could be containers; load() proves them."""
        try:
            with os.scandir(self.root) as entries:  # d_type: no stat per entry
                names = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
        return [n for n in names if len(n) <= 255 and set(n) <= allowed]  # validate_id's rule


def check_private_dir(info, what):
    """Refuse a directory (its stat) that is not the caller's to trust: owned
    by another user than the caller or root, writable by group or others."""
    if info.st_mode & 0o170000 != 0o040000:
        raise Error("%s: %s" % (what, os.strerror(20)))  # ENOTDIR
    if info.st_uid not in (os.geteuid(), 0):
        raise Error("%s is owned by uid %d, neither this user nor root; refusing to trust state there"
                    % (what, info.st_uid))
    if info.st_mode & 0o022:
        raise Error("%s is writable by other users (mode %o); refusing to keep state there"
                    % (what, info.st_mode & 0o7777))


def make_private_dirs(path):
    """mkdir -p for --root: the missing parents 0711 and the directory itself
    0700, whatever the umask (os.makedirs applies the umask, and its mode only
    to the last component: under umask 0 the parents came out 0777)."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for i, directory in enumerate(reversed(missing)):
        mode = 0o700 if i == len(missing) - 1 else 0o711
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # made meanwhile by a concurrent create, which gave it the same mode
        os.chmod(directory, mode)  # mkdir left out the umask's bits; this only adds them back


def write_atomically(path, text, mode=0o644, what=None):
    """Write to a temporary file beside `path`, then rename it into place.

    On any failure (a directory at `path`, a full or read-only filesystem) the
    temporary file is removed and an Error names `what` (e.g. "--pid-file")
    and the path. O_EXCL|O_NOFOLLOW: a planted NAME.tmp-PID symlink is never
    followed; a stale one (a crash of an earlier process of this pid) is
    replaced."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    created = False
    try:
        try:
            fd = os.open(tmp, flags, mode)
        except FileExistsError:
            os.unlink(tmp)
            fd = os.open(tmp, flags, mode)
        created = True
        try:
            data = text.encode()
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except BaseException as exc:
        if created:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise Error("%s%s: %s" % (what + " " if what else "cannot write ", path, exc.strerror)) from None
        raise

# ===========================================================================
# 8. Terminals and the foreground stdio relay
# ===========================================================================
# With process.terminal the init opens a pty from the container's own devpts
# (so the slave's /dev/pts/N name means something inside), makes the slave its
# stdio and controlling terminal, bind-mounts it on /dev/console, and sends the
# master out: over --console-socket to the engine (one sendmsg, one
# SCM_RIGHTS fd, no reply awaited), or over a socketpair to `run` in the
# foreground, which then relays it to the caller's terminal. Without a
# terminal, a foreground `run` or `exec` relays the process's stdio through
# pipes instead (StdioRelay, below).
# The slave is reached from the master alone (TIOCGPTPEER), never by its
# /dev/pts/N path: an image or a racing container could make that path name
# another file, which the runtime would then chown and bind on /dev/console
# before the masked and read-only paths are applied (CVE-2025-52565).


def open_container_pty(k, height, width):
    """Open a pty pair from the container's devpts. Returns (master, slave, slave_path)."""
    import struct

    ptmx = "/dev/pts/ptmx" if os.path.exists("/dev/pts/ptmx") else "/dev/ptmx"
    master = k.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    k.ioctl_int(master, TIOCSPTLCK, 0)
    number = k.ioctl_int(master, TIOCGPTN)
    slave_path = "/dev/pts/%d" % number  # only a name, for the console socket
    try:
        slave = k.pty_peer(master, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno != E.EINVAL:  # not a kernel before 4.13
            raise
        slave = open_pty_slave_by_path(k, slave_path, number)
    if height or width:
        k.ioctl_bytes(slave, TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
    return master, slave, slave_path


def open_pty_slave_by_path(k, slave_path, number):
    """Before TIOCGPTPEER: open /dev/pts/N without following a symlink and
    prove it is pty slave N (majors 136-143 number the slaves in blocks of 256)."""
    slave = k.open(slave_path, os.O_RDWR | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
    status = os.fstat(slave)
    major, minor = os.major(status.st_rdev), os.minor(status.st_rdev)
    if status.st_mode & 0o170000 != 0o020000 or not 136 <= major <= 143 or (major - 136) * 256 + minor != number:
        k.close(slave)
        raise Error("process.terminal: %s is not the pty the container's devpts gave out" % slave_path)
    return slave


def relay_terminal(master, pid):
    """Connect the caller's stdin/stdout to the container's pty until it exits.

    The caller's terminal goes raw so that keys reach the container untouched;
    a window-size change is passed on; an EOF on a non-terminal stdin becomes
    the pty's EOF character.
    """
    import _signal
    import select
    import termios

    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None

    def copy_window_size(*_ignored):
        try:
            import fcntl

            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
            if size[:4] != b"\0\0\0\0":  # a 0x0 terminal would undo consoleSize
                fcntl.ioctl(master, TIOCSWINSZ, size)
        except OSError:
            pass

    if stdin_tty:
        import tty

        copy_window_size()
        tty.setraw(0)
        _signal.signal(SIGNALS["WINCH"], copy_window_size)
    poller = select.poll()
    pidfd = os.pidfd_open(pid)
    poller.register(master, select.POLLIN)
    poller.register(0, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    exited = False
    try:
        while True:
            events = poller.poll(50 if exited else -1)
            if not events and exited:  # the process is gone and the pty stayed quiet
                return
            for fd, _event in events:
                if fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:  # EIO: every slave fd is closed
                        data = b""
                    if not data:
                        return
                    os.write(1, data)
                elif fd == 0:
                    data = os.read(0, 65536)
                    if data:
                        os.write(master, data)
                    else:
                        poller.unregister(0)
                        os.write(master, b"\x04")
                elif fd == pidfd:
                    poller.unregister(pidfd)
                    exited = True
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)


# --- a foreground process's stdio without a terminal -------------------------
# `run` and `exec` without --detach and without a terminal give the process
# pipes of their own and copy between them and the caller's stdio, as runc
# does (setupProcessPipes): no host file description reaches the container.
# One that did could be reopened through /proc/self/fd/N, which reaches the
# file, not the description: truncated (O_TRUNC), read whole from offset 0,
# chmodded; a stdin shared with the caller seeked back; the caller's terminal
# ioctl'd (TIOCSTI types into the caller's shell). The copy is part of the
# foreground wait: one poll loop over the pipes, the caller's stdin and the
# process's pidfd, no thread.
#
# A caller's anonymous pipe or socket is passed through unchanged, which costs
# nothing (the test harnesses' and most scripts' case): neither names a file.
# Reopened through /proc a pipe is that same pipe, and a socket cannot be
# opened at all; fchmod, ftruncate or lseek on either touch nothing of the
# host's. What the process can do with them is what a detached process does
# with an engine's pipes: write to them after we return, and, reopening one
# the other way, read what others write into the caller's stdout pipe (or
# write into its stdin pipe) while it holds them. Everything else (regular
# files, /dev/null, terminals, named FIFOs, whose inode is a host file) goes
# through a pipe.
#
# When the process has exited, what it wrote is in the pipes (a write to a
# pipe returns once the data is in it): that much (FIONREAD) is copied and
# the copy ends, whether or not a child of the process that outlived it
# still holds a pipe open (runc waits for EOF, and hangs on such a child).

FIONREAD = 0x541B  # asm-generic, as on x86_64 and aarch64


def stdio_needs_relay(mode, link):
    """Whether the caller's stdio fd of file type `mode` (st_mode; `link`, its
    /proc/self/fd readlink, tells an anonymous pipe from a named FIFO) reaches
    a foreground process through a pipe of ours."""
    import stat

    if stat.S_ISSOCK(mode):
        return False
    return not (stat.S_ISFIFO(mode) and link.startswith("pipe:"))


def stdio_relay():
    """A StdioRelay for the caller's fds among 0-2 that need one, or None. A
    closed fd stays closed in the process, as it would have."""
    import stat

    relayed = []
    for fd in (0, 1, 2):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        try:
            link = os.readlink("/proc/self/fd/%d" % fd) if stat.S_ISFIFO(mode) else ""
        except OSError:
            link = ""  # not known to be a pipe: relayed
        if stdio_needs_relay(mode, link):
            relayed.append(fd)
    return StdioRelay(relayed) if relayed else None


class StdioRelay:
    """Pipes in place of the caller's fds `relayed` (of 0, 1, 2) for a
    foreground process, and the copy between them."""

    CHUNK = 65536  # a pipe's default capacity

    def __init__(self, relayed):
        self.relayed = tuple(relayed)
        self.container_ends = {}  # 0/1/2 -> the end the child puts there (ChildFds.stdio)
        self.own = {}             # 0/1/2 -> ours: stdin's write end, stdout's and stderr's read ends
        self.pending = b""        # read from the caller's stdin, not yet taken by the pipe
        self.stdin_eof = False

    def open(self, floor):
        """Make the pipes, every end >= floor (out of the range the process keeps)."""
        for fd in self.relayed:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            read_end = lift_fd(read_end, floor)
            write_end = lift_fd(write_end, floor)
            ours, theirs = (write_end, read_end) if fd == 0 else (read_end, write_end)
            self.own[fd], self.container_ends[fd] = ours, theirs
            # A pipe's inode is its creator's, 0600: the process reopening
            # /dev/stdout as another user (a user namespace's root too) would
            # be refused, where /dev/null would not have been. Only those who
            # can reach this process's fds (ptrace access) can open it anyway.
            os.fchmod(ours, 0o666)
            # Ours only: each end is its own open file description. The
            # caller's fds stay as they are (the caller shares them).
            os.set_blocking(ours, False)

    def close(self):
        for fd in self.own.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.own = {}

    def drop_container_ends(self):
        """Close the process's ends here, once it holds its own copies."""
        for fd in self.container_ends.values():
            os.close(fd)
        self.container_ends = {}

    def relay(self, pid):
        """Copy until our child `pid` exits, then what it left in the pipes."""
        import select

        poller = select.poll()
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
        outputs = {self.own[fd]: fd for fd in (1, 2) if fd in self.own}
        for source in outputs:
            poller.register(source, select.POLLIN)
        stdin_pipe = self.own.get(0)
        # A read from a terminal by a background job stops it (SIGTTIN, which
        # we would catch and forward, and the read would start over): while
        # in the background, stdin is looked at again every so often instead.
        terminal_stdin = stdin_pipe is not None and os.isatty(0)
        waiting_for_foreground = False
        if stdin_pipe is not None:
            poller.register(0, select.POLLIN)
        try:
            while True:
                events = poller.poll(200 if waiting_for_foreground else -1)
                if waiting_for_foreground and in_foreground(0):
                    waiting_for_foreground = False
                    poller.register(0, select.POLLIN)
                exited = False
                for fd, _event in events:
                    if fd == pidfd:
                        exited = True
                    elif fd in outputs:
                        if self.copy_out(fd, outputs[fd], self.CHUNK) is None:
                            poller.unregister(fd)
                            del outputs[fd]
                            self.close_own(fd)
                    elif fd == 0:
                        if terminal_stdin and not in_foreground(0):
                            poller.unregister(0)
                            waiting_for_foreground = True
                            continue
                        self.read_stdin()
                        poller.unregister(0)
                        self.feed_stdin(poller)
                    elif fd == stdin_pipe:
                        self.feed_stdin(poller)
                if exited:
                    break
            self.drain()
        finally:
            os.close(pidfd)
            self.close()

    def read_stdin(self):
        try:
            data = os.read(0, self.CHUNK)
        except OSError:  # EIO (a hung-up terminal), EBADF (a write-only fd): as EOF
            data = b""
        self.pending = data
        self.stdin_eof = not data

    def feed_stdin(self, poller):
        """Pass what was read on to the process; stop watching the caller's
        stdin while the pipe is full; close the pipe at stdin's EOF, which is
        what the process reads then."""
        import select

        stdin_pipe = self.own.get(0)
        if stdin_pipe is None:
            return
        try:
            while self.pending:
                self.pending = self.pending[os.write(stdin_pipe, self.pending):]
        except BlockingIOError:
            poller.register(stdin_pipe, select.POLLOUT)  # registered already: modified
            return
        except OSError:  # EPIPE: the process closed its stdin; what comes next has nowhere to go
            self.pending, self.stdin_eof = b"", True
        try:
            poller.unregister(stdin_pipe)
        except KeyError:  # not watched: everything went at once
            pass
        if self.stdin_eof:
            self.close_own(stdin_pipe)
        else:
            poller.register(0, select.POLLIN)

    def copy_out(self, source, target, limit):
        """One read of up to `limit` bytes from a process's output pipe,
        written whole to the caller's fd `target`; the bytes copied. None at
        EOF, or when the caller's fd takes no more (EPIPE): our end is closed
        then, and the process's next write fails as in a shell pipeline."""
        try:
            data = os.read(source, limit)
        except BlockingIOError:
            return 0
        except OSError:
            return None
        if not data or not write_fully(target, data):
            return None
        return len(data)

    def drain(self):
        """Copy what the process left in its output pipes, no more (a child of
        it may write on), and close them."""
        import fcntl

        for fd in (1, 2):
            source = self.own.get(fd)
            if source is None:
                continue
            try:
                left = int.from_bytes(fcntl.ioctl(source, FIONREAD, bytes(4)), sys.byteorder)
            except OSError:
                left = 0
            while left > 0:
                copied = self.copy_out(source, fd, min(left, self.CHUNK))
                if not copied:
                    break
                left -= copied
        self.close()

    def close_own(self, fd):
        for key, own in list(self.own.items()):
            if own == fd:
                del self.own[key]
                os.close(fd)


def in_foreground(fd):
    """Whether we are in the foreground of the terminal at `fd` (or it is
    not our controlling terminal, where a read cannot stop us)."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True


def write_fully(fd, data):
    """Write all of `data` to one of the caller's fds, waiting where it is
    non-blocking (the caller may have set O_NONBLOCK on it); False on an error
    (EPIPE, EIO, ENOSPC)."""
    import select

    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            poller.poll()
        except OSError:
            return False
    return True

# ===========================================================================
# 9. Paths in the root and the root filesystem
# ===========================================================================
# Everything done to the container's root filesystem, given a RootfsPlan
# (section 15) and a Kernel. Every path in the rootfs is resolved inside it:
# openat2(RESOLVE_IN_ROOT) where the host has it, else a walk that never
# follows a symlink out of the root, so a hostile image cannot make us mount
# or create anything on the host. The order is:
#
#   prepare_rootfs  (before pivot_root, in the container's mount namespace):
#       propagation of / , the rootfs bind, mounts in config order, /dev's
#       devices and symlinks, read-only remounts deferred until /dev is
#       populated, the cwd's mount point
#   pivot_into / move_root
#   finish_rootfs   (after the pivot): masked paths, read-only paths, the
#       read-only root, rootfsPropagation


def resolve_in_root(root, path):
    """The host path of `path` inside `root`, following symlinks as if root were '/'.

    A symlink, absolute or full of '..', can never lead outside root: '..' at
    the top stays at the top, and an absolute target starts again at root.
    Components that do not exist yet are kept as they are.
    """
    pending = [p for p in path.split("/") if p not in ("", ".")]
    resolved = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:  # not a symlink, or not there yet
            resolved.append(part)
            continue
        hops += 1
        if hops > 40:
            raise OSError(E.ELOOP, "too many levels of symbolic links", os.path.join("/", *resolved, part))
        if target.startswith("/"):
            resolved = []
        pending = [p for p in target.split("/") if p not in ("", ".")] + pending
    return os.path.join(root, *resolved)


def open_in_root(k, root, path, flags=os.O_PATH, use_openat2=True):
    """An fd for `path` inside root, never reached through a symlink out of it.

    openat2(RESOLVE_IN_ROOT) does the resolution atomically where the kernel
    has it (5.6+); elsewhere resolve_in_root() walks the path and the final
    open refuses a symlink and checks where it really landed.
    """
    flags |= os.O_CLOEXEC
    if use_openat2:
        root_fd = k.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return k.openat2_in_root(root_fd, path, flags)
        except OSError as exc:
            raise OSError(exc.errno, os.strerror(exc.errno), path) from None
        finally:
            k.close(root_fd)
    host = resolve_in_root(root, path)
    fd = k.open(host, flags | os.O_NOFOLLOW)
    real = os.readlink(fd_path(fd))
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        k.close(fd)
        raise OSError(E.EPERM, "resolves outside the root filesystem", path)
    return fd


def make_file(k, path, mode=0o644):
    k.close(k.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, mode))


def walk_in_root(k, root, path, is_file=False):
    """An O_PATH fd on `path` inside root, creating what is missing.

    The path is first resolved inside root (a dangling symlink such as
    /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf leads to where
    it points). The resolved path is then walked one component at a time from
    an fd on root, never following a symlink: if the rootfs changes under us
    (a directory swapped for a symlink out of it), the walk fails instead of
    creating anything outside. A missing last component becomes an empty file
    when is_file, else a directory.
    """
    resolved = resolve_in_root(root, path)
    parts = [p for p in resolved[len(root.rstrip("/")):].split("/") if p]
    fd = k.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if last else os.O_DIRECTORY)
            try:
                step = k.open(part, flags, dir_fd=fd)
            except FileNotFoundError:
                if last and is_file:
                    k.close(k.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                   0o644, dir_fd=fd))
                else:
                    k.mkdir(part, 0o755, dir_fd=fd)
                step = k.open(part, flags, dir_fd=fd)
            k.close(fd)
            fd = step
    except BaseException:
        k.close(fd)
        raise
    return fd


def make_target(k, root, path, is_file):
    """Create a mount point (a directory, or an empty file for a file bind) inside root."""
    k.close(walk_in_root(k, root, path, is_file))
    return resolve_in_root(root, path)


def fd_path(fd):
    return "/proc/self/fd/%d" % fd


def bind_from_fd(k, source_fd, target_fd):
    """Bind the file source_fd is open on over target_fd's: by the fds alone
    where the kernel has open_tree (5.2); before it, through their
    /proc/self/fd links (the container's /proc after the pivot)."""
    try:
        k.bind_fd(source_fd, target_fd)
    except OSError as exc:
        if exc.errno != E.ENOSYS:
            raise
        k.mount(fd_path(source_fd), fd_path(target_fd), None, MS_BIND)


def make_console_placeholder(k, root):
    """The empty file bind_console binds the pty over, made before /dev can
    be remounted read-only (a read-only /dev with process.terminal). Made
    with O_EXCL in the /dev walk_in_root reaches: whatever is there already
    (the image's node, a symlink) is left for bind_console to judge."""
    directory = walk_in_root(k, root, "/dev")
    try:
        k.close(k.open("console", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=directory))
    except FileExistsError:
        pass
    finally:
        k.close(directory)


def bind_console(k, slave):
    """/dev/console becomes a bind of the pty slave itself (the fd, not its
    /dev/pts/N path: CVE-2025-52565). An existing /dev/console (the
    placeholder, on a /dev that may now be read-only) is opened O_PATH, never
    for writing; it may not be a symlink."""
    try:
        target = k.open("/dev/console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        make_file(k, "/dev/console")
        target = k.open("/dev/console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if os.fstat(target).st_mode & 0o170000 == 0o120000:  # S_IFLNK: O_PATH|O_NOFOLLOW opened the link itself
            raise OSError(E.ELOOP, "a symlink; refusing to bind the console over it", "/dev/console")
        bind_from_fd(k, slave, target)
    finally:
        k.close(target)


def is_null_device(status):
    """An os.stat_result of the null device: character 1:3."""
    return status.st_mode & 0o170000 == 0o020000 and status.st_rdev == os.makedev(1, 3)  # S_IFCHR


def open_null_device(k):
    """An O_PATH fd on the container's /dev/null, proven to be the null device
    (character 1:3) and not reached through a symlink. Masking binds this
    very file: a /dev/null swapped for a symlink to a procfs file (by the
    image, a volume, a hook or a racing container) would otherwise bind that
    file, writable, over the path it was to hide (CVE-2025-31133)."""
    try:
        fd = k.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Error("linux.maskedPaths: cannot mask with /dev/null: %s" % os_error_text(exc)) from None
    if not is_null_device(os.fstat(fd)):
        k.close(fd)
        raise Error("linux.maskedPaths: /dev/null in the container is not the null device (1:3); "
                    "refusing to mask with it")
    return fd


def reopen_null_stdio(k):
    """Stdio on the host's null device (an engine's detached container
    without stdin) becomes the container's /dev/null, as runc's init does:
    CRIU dumps no file of a mount outside the container. Left as it is
    where the container has no proven null device of its own."""
    on_null = []
    for fd in (0, 1, 2):
        try:
            if is_null_device(os.fstat(fd)):
                on_null.append(fd)
        except OSError:
            continue
    if not on_null:
        return
    try:
        null = k.open("/dev/null", os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return
    if is_null_device(os.fstat(null)):
        for fd in on_null:
            k.dup2(null, fd)
    k.close(null)


def write_procfs(k, path, text, field):
    """Write a kernel knob under the container's /proc (a sysctl, an LSM label)
    through a procfs proven to be one: /proc is the root of a procfs, and
    the file is reached below it on that same mount, through no symlink.
    A mount or symlink over /proc, /proc/sys or any part of the path (from
    the image, a config mount, a volume a racing container changes) would
    otherwise land the write in another file (CVE-2025-52881): refused,
    naming `field`. /proc/self/... is written as /proc/PID/... ("self" is a
    symlink). The kernel's own refusal of the value is an OSError."""
    relative = path[len("/proc/"):]
    if relative.startswith("self/"):
        relative = "%d/%s" % (os.getpid(), relative[len("self/"):])
    refused = ConfigError(field, "%s is not reached on the container's own procfs (a mount or a symlink "
                          "is in the way, or /proc is no procfs); refusing to write it" % path)
    proc = k.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fd = None
    try:
        if k.filesystem_type(proc) != PROC_SUPER_MAGIC or os.fstat(proc).st_ino != PROC_ROOT_INO:
            raise refused
        try:
            fd = k.openat2_beneath(proc, relative, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (E.EXDEV, E.ELOOP):
                raise refused from None
            if exc.errno != E.ENOSYS:
                raise OSError(exc.errno, os.strerror(exc.errno), path) from None
            fd = open_beneath_by_walk(k, proc, relative, refused)
        k.write_fd(fd, text)
    finally:
        if fd is not None:
            k.close(fd)
        k.close(proc)


def open_beneath_by_walk(k, proc, relative, refused):
    """Before openat2 (5.6): one component at a time, following no symlink,
    each on /proc's device and a procfs (a bind from the same procfs would
    pass: on these kernels openat2's NO_XDEV is not there to refuse it)."""
    device = os.fstat(proc).st_dev
    fd = k.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=proc)
    parts = [p for p in relative.split("/") if p]
    for i, part in enumerate(parts):
        flags = (os.O_WRONLY if i == len(parts) - 1 else os.O_PATH | os.O_DIRECTORY) | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            step = k.open(part, flags, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (E.ELOOP, E.ENOTDIR):
                raise refused from None
            raise
        finally:
            k.close(fd)
        fd = step
        if os.fstat(fd).st_dev != device or k.filesystem_type(fd) != PROC_SUPER_MAGIC:
            k.close(fd)
            raise refused
    return fd


def remount_bind(k, target, flags):
    """Change the flags of a bind mount, keeping the flags the kernel has locked.

    In a user namespace, nosuid/nodev/noexec/ro inherited from a more
    privileged mount cannot be cleared, and a remount that omits them fails
    with EPERM; runc handles it the same way.
    """
    try:
        k.mount(None, target, None, MS_BIND | MS_REMOUNT | flags)
    except PermissionError:
        k.mount(None, target, None, MS_BIND | MS_REMOUNT | flags | mount_flags_of(target))


def mount_flags_of(path):
    """The MS_* flags of the mount `path` is on (statvfs's ST_* bits are the same numbers)."""
    current = os.statvfs(path).f_flag
    flags = current & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME)
    if current & 4096:  # ST_RELATIME
        flags |= MS_RELATIME
    return flags


def prepare_rootfs(k, rootfs):
    """Everything that happens to the root filesystem before pivot_root."""
    root = rootfs.root
    if rootfs.own_namespace:
        # Nothing done in here may propagate back to the host. With a
        # rootfsPropagation of its own the container is a slave of the host
        # until the pivot (runc makes it shared right away, letting mounts leak).
        k.mount(None, "/", None, MS_REC | (MS_SLAVE if rootfs.propagation else MS_PRIVATE))
        k.mount(root, root, None, MS_BIND | MS_REC)  # pivot_root needs a mount point
    # Else the mounts go into the caller's mount namespace (the spec's rule),
    # whose propagation is not ours to change; the init then chroots.
    for mount in rootfs.mounts:
        try:
            mount_one(k, rootfs, mount)
        except OSError as exc:
            raise Error("mounts[%d] (%s on %s): %s" % (mount.index, mount.type or "bind",
                                                       mount.destination, os_error_text(exc))) from None
    if rootfs.devices:
        create_devices(k, rootfs, rootfs.devices)
    for target, link in rootfs.dev_symlinks:
        make_symlink_in_root(k, root, target, link)
    if rootfs.console:
        make_console_placeholder(k, root)
    for mount in rootfs.readonly_after_dev:
        # A read-only /dev (or a read-only mount under it) is remounted only
        # now that its devices and symlinks exist.
        fd = open_in_root(k, root, mount.destination, use_openat2=rootfs.use_openat2)
        try:
            k.mount(None, fd_path(fd), None, MS_REMOUNT | mount.flags | MS_RDONLY, mount.data)
        except OSError as exc:
            raise Error("mounts[%d] (%s on %s): %s" % (mount.index, mount.type, mount.destination,
                                                       os_error_text(exc))) from None
        finally:
            k.close(fd)
    try:
        make_target(k, root, rootfs.cwd, is_file=False)
    except OSError as exc:  # e.g. a cwd through /proc/self/fd/N, which is no directory to make
        raise Error("process.cwd: %s: %s" % (rootfs.cwd, exc.strerror)) from None


def make_symlink_in_root(k, root, target, path):
    """symlinkat in the directory of `path`, reached by walk_in_root; an existing entry stays."""
    directory = walk_in_root(k, root, os.path.dirname(path))
    try:
        k.symlink(target, os.path.basename(path), dir_fd=directory)
    except FileExistsError:
        pass
    finally:
        k.close(directory)


def host_bind_instead(mount, source, extra_flags):
    """The bind of the host's `source` planned in place of a filesystem a
    user namespace cannot mount (RootfsPlan.bind_sysfs, bind_mqueue)."""
    bind = Mount()
    for name in Mount.__slots__:
        setattr(bind, name, getattr(mount, name))
    bind.type, bind.source, bind.is_bind, bind.data = "bind", source, True, None
    bind.flags = MS_BIND | MS_REC | extra_flags | (mount.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC))
    return bind


def mount_one(k, rootfs, mount):
    root = rootfs.root
    if mount.type == "cgroup" or (mount.type == "cgroup2" and rootfs.cgroup_layout[0] == "v1"):
        return mount_cgroup(k, rootfs, mount)
    # Early, before make_target makes anything where a symlink points;
    # check_proc_target decides again on the opened target.
    check_lands_on_destination(mount, resolve_in_root(root, mount.destination)[len(root.rstrip("/")):])
    if mount.type == "sysfs" and rootfs.bind_sysfs:  # after the symlink check, which holds for it too
        mount = host_bind_instead(mount, "/sys", MS_RDONLY)
    elif mount.type == "mqueue" and rootfs.bind_mqueue:
        mount = host_bind_instead(mount, "/dev/mqueue", 0)
    source = mount.source
    if mount.index in rootfs.bind_source_fds:  # opened by the joiner with the caller's ids
        source = fd_path(rootfs.bind_source_fds[mount.index])
    elif mount.index in rootfs.mount_trees:  # made by create: an id-mapped mount, or a bind it cloned
        source = fd_path(rootfs.mount_trees[mount.index])
    is_file = mount.is_bind and not os.path.isdir(source)
    in_image = os.path.lexists(resolve_in_root(root, mount.destination))
    make_target(k, root, mount.destination, is_file)
    copy_from = None
    if mount.tmpcopyup:
        copy_from = open_in_root(k, root, mount.destination, os.O_RDONLY | os.O_DIRECTORY, rootfs.use_openat2)
    fd = open_in_root(k, root, mount.destination, use_openat2=rootfs.use_openat2)
    try:
        check_proc_target(k, root, mount, fd, is_file)
        if mount.index in rootfs.mount_trees:
            k.move_mount(rootfs.mount_trees[mount.index], fd_path(fd))
        elif mount.is_bind:
            k.mount(source, fd_path(fd), None, mount.flags & (MS_BIND | MS_REC))
        else:
            mount_filesystem(k, rootfs, mount, fd_path(fd))
    finally:
        k.close(fd)
    # From here on the destination names the new mount: open it again.
    fd = open_in_root(k, root, mount.destination, use_openat2=rootfs.use_openat2)
    try:
        extra = mount.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if mount.is_bind and extra:
            remount_bind(k, fd_path(fd), extra)
        for propagation in mount.propagation:
            k.mount(None, fd_path(fd), None, propagation)
        if mount.recursive_set or mount.recursive_clear:
            k.mount_setattr(fd_path(fd), mount.recursive_set, mount.recursive_clear)
        if copy_from is not None:
            # The directory's own mode and owner go onto the tmpfs only when
            # the image had it: one we just made (0755, root) would take the
            # tmpfs's 1777 away (runc copies them only in that case too).
            copy_tree(k, fd_path(copy_from), fd_path(fd), top=in_image)
    finally:
        k.close(fd)
        if copy_from is not None:
            k.close(copy_from)


# The files of /proc a bind of a file may cover: lxcfs's, as runc allows them.
PROC_FILES_A_BIND_MAY_COVER = frozenset(
    "/proc/" + name for name in ("cpuinfo", "diskstats", "meminfo", "stat", "swaps", "uptime", "loadavg",
                                 "slabinfo", "pressure/cpu", "pressure/io", "pressure/memory", "net/dev",
                                 "sys/kernel/ns_last_pid"))


def check_lands_on_destination(mount, inside):
    """procfs or sysfs goes exactly on its destination: `inside` is where the
    target really is in the root. A rootfs whose /proc is a symlink would get
    procfs mounted where it points, the masked paths protecting nothing, and
    the runtime's writes to /proc going to the image's files (CVE-2019-19921,
    CVE-2023-27561, CVE-2023-28642)."""
    if mount.type in ("proc", "sysfs") and inside != os.path.normpath("/" + mount.destination.lstrip("/")):
        raise OSError(E.ELOOP, "%s is a symlink in the root filesystem; refusing to mount %s there"
                      % (mount.destination, mount.type))


def check_proc_target(k, root, mount, fd, is_file):
    """procfs and sysfs land on their destinations; nothing but procfs may
    cover the container's /proc, or a part of it.

    A volume at /proc, a tmpfs over /proc/sys, a destination through a
    symlink into /proc: the runtime's later writes there (sysctls, LSM
    labels) would land in the volume's files and silently not apply
    (CVE-2019-16884, CVE-2019-19921). Decided on the opened target `fd`,
    not on its path: its file system, and where it really is in the root.
    Under /proc only a bind of a file onto a file lxcfs covers is allowed.
    """
    real_root = os.path.realpath(root).rstrip("/")
    real = os.readlink(fd_path(fd))
    inside = real[len(real_root):] if real.startswith(real_root + "/") else None
    if mount.type in ("proc", "sysfs"):
        check_lands_on_destination(mount, inside)  # a symlink swapped in since the early check
        return
    if inside != "/proc" and not (inside or "").startswith("/proc/") and k.filesystem_type(fd) != PROC_SUPER_MAGIC:
        return
    if mount.is_bind and is_file and inside in PROC_FILES_A_BIND_MAY_COVER:
        return
    raise OSError(E.EPERM, "%s is in /proc: only procfs may be mounted there (and a file bound over "
                  "one of lxcfs's files)" % (inside or mount.destination))


def mount_filesystem(k, rootfs, mount, target):
    """A non-bind mount, or the host's bind planned in its place (plan_rootfs)."""
    source = mount.source or mount.type
    data = mount.data
    flags = mount.flags
    if mount in rootfs.readonly_after_dev:
        flags &= ~MS_RDONLY
    if mount.type == "devpts" and mount.index in rootfs.devpts_drop_gid:
        data = ",".join(o for o in data.split(",") if not o.startswith("gid=")) or None
    if rootfs.mount_label and mount.type in ("tmpfs", "devpts", "mqueue"):
        data = ",".join(filter(None, [data, 'context="%s"' % rootfs.mount_label]))
    try:
        k.mount(source, target, mount.type, flags, data)
    except OSError as exc:
        if exc.errno == E.ENODEV:
            raise OSError(E.ENODEV, "unknown filesystem type %r" % mount.type) from None
        raise


def copy_tree(k, source, target, top=True):
    """tmpcopyup: copy what the directory held before the tmpfs covered it
    (with top, also the directory's own owner and mode)."""
    if top:
        status = os.stat(source)
        k.chown(target, status.st_uid, status.st_gid)
        k.chmod(target, status.st_mode & 0o7777)
    for entry in os.scandir(source):
        src, dst = os.path.join(source, entry.name), os.path.join(target, entry.name)
        info = entry.stat(follow_symlinks=False)
        kind = info.st_mode & 0o170000
        if kind == 0o040000:
            k.mkdir(dst, 0o700)
            copy_tree(k, src, dst)
            continue
        if kind == 0o120000:
            k.symlink(os.readlink(src), dst)
        elif kind == 0o100000:
            reader = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
            writer = k.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                while True:
                    chunk = os.read(reader, 1 << 20)
                    if not chunk:
                        break
                    os.write(writer, chunk)
            finally:
                os.close(reader)
                k.close(writer)
        else:
            k.mknod(dst, info.st_mode, info.st_rdev)
        # Owner first: chown clears the setuid and setgid bits.
        k.chown(dst, info.st_uid, info.st_gid, follow_symlinks=False)
        if kind != 0o120000:
            k.chmod(dst, info.st_mode & 0o7777)


# linux.devices[].type -> the file type bits of its node
DEVICE_FILE_TYPES = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}


def create_devices(k, rootfs, devices):
    """mknod each device, or where the plan says mknod is not allowed (a
    user namespace: the kernel refuses device nodes there) attach the node
    `create` made (rootfs.device_trees) or bind the host's."""
    root = rootfs.root
    for device in devices:
        name = os.path.basename(device.path)
        directory = walk_in_root(k, root, os.path.dirname(device.path))
        try:
            try:
                k.unlink(name, dir_fd=directory)  # whatever the rootfs had there, a symlink included
            except (FileNotFoundError, IsADirectoryError):
                pass
            if rootfs.bind_devices:
                node = walk_in_root(k, root, device.path, is_file=True)
                try:
                    if device.path in rootfs.device_trees:
                        k.move_mount(rootfs.device_trees[device.path], fd_path(node))
                    else:
                        k.mount(device.path, fd_path(node), None, MS_BIND)
                finally:
                    k.close(node)
            else:
                k.mknod(name, DEVICE_FILE_TYPES[device.kind] | device.mode, os.makedev(device.major, device.minor),
                        dir_fd=directory)
                k.chown(name, device.uid, device.gid, dir_fd=directory, follow_symlinks=False)
        except OSError as exc:
            raise Error("linux.devices: %s: %s" % (device.path, exc.strerror)) from None
        finally:
            k.close(directory)


def pivot_into(k, root):
    """pivot_root(".", "."): the old root ends up stacked on the new one and is
    detached at once, so no directory for it is needed inside the rootfs."""
    old_root = k.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        k.chdir(root)
        k.pivot_root(".", ".")
        # "." is still the new root here; step onto the old root stacked on
        # it, so that the rslave (which keeps the unmount from reaching the
        # host) and the unmount touch the old root alone.
        k.fchdir(old_root)
        k.mount(None, ".", None, MS_SLAVE | MS_REC)
        k.umount(".", MNT_DETACH)
    finally:
        k.close(old_root)
    k.chdir("/")


def move_root(k, root):
    """--no-pivot: move the rootfs over / and chroot (for ramdisk roots).

    Without pivot_root the host's mounts stay in the container's mount
    namespace, hidden under the moved rootfs. A fully visible procfs among
    them would let a process that makes a user namespace mount a fresh proc
    (the kernel's mount_too_revealing check looks at every mount of the
    namespace), so every mount outside the rootfs is detached first, as runc
    does. The namespace is the container's own copy, private or a slave of
    the host's: nothing of this reaches the host.
    """
    root = os.path.realpath(root)  # mountinfo names mount points by their real paths
    prefix = root.rstrip("/") + "/"
    outside = [point for point in mount_points() if point != root and not point.startswith(prefix)
               and not prefix.startswith(point.rstrip("/") + "/")]
    for point in sorted(outside, key=lambda p: p.count("/"), reverse=True):
        try:
            k.umount(point, MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (E.EINVAL, E.ENOENT):  # already gone with a parent
                raise
    k.chdir(root)
    k.mount(root, "/", None, MS_MOVE)
    k.chroot(".")
    k.chdir("/")


def mount_points():
    """The mount points of this mount namespace, from /proc/self/mountinfo."""
    points = []
    with open("/proc/self/mountinfo", "rb") as info:
        for line in info:
            raw = line.split()[4].decode("utf-8", "surrogateescape")
            # mountinfo escapes space, tab, newline and backslash as \ooo
            points.append(raw.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
                          .replace("\\134", "\\"))
    return points


def finish_rootfs(k, rootfs):
    """After the pivot: masked and read-only paths, then the read-only root."""
    null = None
    try:
        for path in rootfs.masked_paths:
            if not os.path.exists(path):  # missing, or a dangling symlink: nothing to hide (runc)
                continue
            try:
                if os.path.isdir(path):
                    k.mount("tmpfs", path, "tmpfs", MS_RDONLY)
                    continue
                if null is None:
                    null = open_null_device(k)
                target = k.open(path, os.O_PATH | os.O_CLOEXEC)
                try:
                    bind_from_fd(k, null, target)
                finally:
                    k.close(target)
            except OSError as exc:
                raise Error("linux.maskedPaths: %s" % os_error_text(exc)) from None
    finally:
        if null is not None:
            k.close(null)
    for path in rootfs.readonly_paths:
        if not os.path.exists(path):
            continue
        try:
            k.mount(path, path, None, MS_BIND | MS_REC)
            # Keep what the mount already had (proc's nosuid, nodev, noexec):
            # a bind remount sets exactly the flags it is given.
            remount_bind(k, path, MS_RDONLY | MS_REC | mount_flags_of(path))
        except OSError as exc:
            raise Error("linux.readonlyPaths: %s" % os_error_text(exc)) from None
    if rootfs.readonly:
        remount_bind(k, "/", MS_RDONLY)
    if rootfs.propagation:
        k.mount(None, "/", None, rootfs.propagation)

# ===========================================================================
# 10. Cgroups: layouts, paths and the cgroupfs managers
# ===========================================================================
# Contract. A container lives in one cgroup per hierarchy. The host's layout is
# one of three, read from /proc/self/mountinfo when a command needs it (never
# at import): "v2" (one cgroup2 at /sys/fs/cgroup), "v1" (one cgroup mount per
# controller or group of co-mounted controllers) or "hybrid" (v1 plus a
# cgroup2 at /sys/fs/cgroup/unified, which may host controllers of its own,
# hugetlb on some hosts). A manager owns the container's directories:
#
#   create()          make them (v2: enable the controllers in each parent's
#                     cgroup.subtree_control; v1: seed each empty cpuset level from its parent),
#                     once check_placeable() found none of them frozen or holding
#                     processes (runc's refusals, in its words)
#   apply(res)        write linux.resources, and the device rules (always, so a
#                     container never sees every host device; linux.devices
#                     nodes get no rule of their own, as in runc and crun)
#   add(pid)          put a process in every hierarchy (the unified one too)
#   update(res)       apply() for `update`: only what is set, devices only if given
#   freeze()/thaw()/paused(), pids(), stats(), oom_count(), kill(sig), destroy()
#   to_state()        plain JSON; manager_from_state() rebuilds the manager from
#                     it without reading mountinfo (state/kill/delete stay cheap)
#
# Decisions live in pure planners (plan_resource_writes here; the device rules,
# effective_device_rules and device_program, in section 12) that the unit
# tests read; the manager only writes files.
# A resource whose controller or file the host lacks is an Error naming the
# field: refusing beats a limit that silently does not exist.
#
# cgroupsPath: absolute = from each hierarchy's root; relative = below the
# runtime's own cgroup in each hierarchy (runc's rule); empty = /minirun/<id>
# (runc puts an empty path below its own cgroup, which on v2 breaks the
# no-internal-processes rule when the runtime's cgroup holds processes, and
# scatters containers over callers' session cgroups). With the systemd driver
# the form is slice:prefix:name (empty: system.slice:minirun:<id>).
#
# Wiring: plan_cgroup (section 15) picks the manager at planning and refuses
# limits the host lacks; create_container (section 18) makes and fills the
# cgroup before clone and adds the joiner before it unshares the cgroup
# namespace; exec adds its stage; kill --all, delete, update, pause, resume,
# ps and events act through the manager rebuilt from state.json, once
# check_container_cgroup() has shown it is the container's.

CGROUP_ROOT = "/sys/fs/cgroup"
DEFAULT_CGROUP_PARENT = "/minirun"
CGROUP_RETRY_SECONDS = 2.0


class CgroupLayout:
    """kind: "v1" | "hybrid" | "v2"; unified: the cgroup2 mount point or None;
    hierarchies: {v1 mount point: (mount root, frozenset of controllers)}
    (named hierarchies such as name=systemd appear with that name)."""

    __slots__ = ("kind", "unified", "unified_root", "hierarchies")

    def controllers(self):
        return {c: mp for mp, (_, ctrls) in self.hierarchies.items() for c in ctrls}


def detect_cgroup_layout(mountinfo="/proc/self/mountinfo"):
    layout = CgroupLayout()
    layout.unified, layout.unified_root, layout.hierarchies = None, "/", {}
    with open(mountinfo) as info:
        for line in info:
            fields = line.split()
            dash = fields.index("-")
            root, mountpoint, fstype = fields[3], fields[4], fields[dash + 1]
            if fstype == "cgroup2" and layout.unified is None and mountpoint.startswith(CGROUP_ROOT):
                layout.unified, layout.unified_root = mountpoint, root
            elif fstype == "cgroup":
                opts = fields[dash + 3].split(",")
                ctrls = frozenset(o for o in opts if o in V1_CONTROLLERS or o.startswith("name="))
                if ctrls:
                    layout.hierarchies[mountpoint] = (root, ctrls)
    if layout.hierarchies:
        layout.kind = "hybrid" if layout.unified else "v1"
    elif layout.unified:
        layout.kind = "v2"
    else:
        raise Error("cgroups: no cgroup filesystem is mounted under %s" % CGROUP_ROOT)
    return layout


V1_CONTROLLERS = ("cpuset", "cpu", "cpuacct", "memory", "devices", "freezer", "blkio", "pids", "hugetlb",
                  "net_cls", "net_prio", "perf_event", "rdma", "misc")


def own_cgroups(path="/proc/self/cgroup"):
    """{controller or name=X: path, "": unified path} of the calling process."""
    own = {}
    with open(path) as groups:
        for line in groups:
            _, controllers, cgroup = line.rstrip("\n").split(":", 2)
            for ctrl in controllers.split(",") if controllers else [""]:
                own[ctrl] = cgroup
    return own


def _join_cgroup(mountpoint, mount_root, cgroup):
    """Directory of `cgroup` (a path as /proc/PID/cgroup shows it) under a mount
    whose root is `mount_root` (not "/" when a parent's cgroup was bind-mounted)."""
    if mount_root != "/" and (cgroup == mount_root or cgroup.startswith(mount_root + "/")):
        cgroup = cgroup[len(mount_root):]
    return os.path.normpath(mountpoint + "/" + cgroup.lstrip("/")).rstrip("/") or "/"


def resolve_cgroup_path(cgroups_path, container_id, own_path, beside_scope=False):
    """linux.cgroupsPath -> the cgroup (absolute, from a hierarchy's root) for a
    runtime whose own cgroup there is `own_path`. beside_scope (the unified
    hierarchy of a cgroup v2 host): a relative path starts at the parent of a
    runtime that runs in a systemd scope, as runc's fs2 does -- the scope holds
    processes (the runtime's caller at least), and v2's no-internal-processes
    rule forbids enabling controllers for children of such a cgroup. That is
    how a rootless user's containers land in the subtree systemd delegated to
    it (user@UID.service/app.slice/<id>) and not below a leaf."""
    if not cgroups_path:
        return DEFAULT_CGROUP_PARENT + "/" + container_id
    if cgroups_path.startswith("/"):
        path = os.path.normpath(cgroups_path)
    else:
        base = relative_cgroup_base(own_path, beside_scope)
        path = os.path.normpath(os.path.join(base, cgroups_path))
        if not (path + "/").startswith(base.rstrip("/") + "/"):
            raise Error("linux.cgroupsPath: %r leaves the runtime's own cgroup" % cgroups_path)
    if path == "/":
        raise Error("linux.cgroupsPath: %r is the root cgroup" % cgroups_path)
    return path


def relative_cgroup_base(own_path, beside_scope):
    """Where relative cgroupsPaths start (see resolve_cgroup_path)."""
    own = own_path or "/"
    if beside_scope and own.rstrip("/").endswith(".scope"):
        return os.path.dirname(own.rstrip("/")) or "/"
    return own


def cgroup_manager(layout, cgroups_path, container_id, systemd=False, own=None, user_manager_root=None,
                   rootless=False):
    """The manager for a new container (nothing is created yet). With
    user_manager_root (the cgroup of a user's systemd instance, e.g.
    /user.slice/user-1000.slice/user@1000.service), the scope is that
    instance's, below its root."""
    own = own_cgroups() if own is None else own
    if systemd:
        user = user_manager_root is not None
        slice_name, unit, path = parse_systemd_path(cgroups_path, container_id,
                                                    "user.slice" if user else "system.slice")
        if user:
            path = user_manager_root.rstrip("/") + path
        paths = {key: path for key in _hierarchy_keys(layout)}
        return SystemdCgroupManager(layout.kind, _layout_dirs(layout, paths), slice_name, unit, user=user,
                                    rootless=rootless)
    paths = {}
    for key in _hierarchy_keys(layout):
        ctrl = "" if key == "" else sorted(layout.hierarchies[key][1])[0]
        paths[key] = resolve_cgroup_path(cgroups_path, container_id, own.get(ctrl, "/"),
                                         beside_scope=layout.kind == "v2")
    return CgroupfsManager(layout.kind, _layout_dirs(layout, paths), rootless)


def _hierarchy_keys(layout):
    return list(layout.hierarchies) + ([""] if layout.unified else [])


def _layout_dirs(layout, paths):
    """[(directory, controllers or None for the unified hierarchy, mount point)]."""
    dirs = [(_join_cgroup(mp, root, paths[mp]), sorted(ctrls), mp) for mp, (root, ctrls) in layout.hierarchies.items()]
    if layout.unified:
        dirs.append((_join_cgroup(layout.unified, layout.unified_root, paths[""]), None, layout.unified))
    return dirs


def cgroup_version_on_host(layout, v2_controllers):
    """version_of(controller) for planning: 1, 2 or None from the host's facts alone."""
    v1 = layout.controllers()

    def version_of(ctrl):
        if ctrl in v1:
            return 1
        if layout.unified and ctrl in v2_controllers:
            return 2
        return 2 if layout.kind == "v2" else None
    return version_of


def check_cgroup_controllers(res, layout, v2_controllers, field="linux.resources"):
    """A limit whose controller this host lacks is refused at planning, naming it."""
    version_of = cgroup_version_on_host(layout, v2_controllers)
    for name, ctrl, _files in plan_resource_writes(res, version_of, field):
        version = version_of(ctrl)
        if version is None or (version == 2 and ctrl not in v2_controllers):
            raise ConfigError(name, "this host has no %s cgroup controller" % ctrl)


# --- what each resource writes ------------------------------------------------


def shares_to_weight(shares):
    """cpu.shares (2..262144) -> cpu.weight (1..10000), the linear map runc and
    crun < 1.15 use and that Docker/podman users' numbers are tuned to."""
    if not shares:
        return 0
    shares = max(2, min(262144, shares))
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight):
    """The inverse map, for reporting a v2 cpu.weight as shares."""
    if not weight:
        return 0
    return 2 + ((max(1, min(10000, weight)) - 1) * 262142) // 9999


def blkio_weight_to_io_weight(weight):
    """blkio.weight (10..1000) -> io.weight (1..10000), as runc converts it."""
    return 1 + ((max(10, min(1000, weight)) - 10) * 9999) // 990


def _max(value):
    return "max" if value == -1 else str(value)


def plan_resource_writes(res, version_of, field="linux.resources"):
    """Resources -> [(field, controller, [(file, value), ...])]: the files to write
    in order, each with alternatives tried in turn when a file does not exist
    (BFQ kernels name the weights blkio.bfq.weight / io.bfq.weight).
    version_of(controller) says where a controller lives: 1, 2 or None (absent;
    the write is still planned, and the manager refuses it naming the field).
    Devices are not here: see effective_device_rules()."""
    writes = []

    def put(name, ctrl, *files):
        writes.append((field + "." + name, ctrl, list(files)))

    def lacks(name, why):
        raise Error("%s.%s: %s" % (field, name, why))

    m = res.memory
    if version_of("memory") == 2:
        if m.limit is not None:
            put("memory.limit", "memory", ("memory.max", _max(m.limit)))
        if m.reservation is not None:
            put("memory.reservation", "memory", ("memory.low", _max(m.reservation)))
        if m.swap is not None:
            # OCI's swap is memory+swap (v1's memsw); v2's memory.swap.max is swap alone.
            if m.swap == -1:
                swap = "max"
            elif m.limit is None or m.limit == -1:
                lacks("memory.swap", "on cgroup v2 a memory+swap limit needs memory.limit too")
            else:
                swap = str(m.swap - m.limit)
            put("memory.swap", "memory", ("memory.swap.max", swap))
        if m.swappiness is not None:
            lacks("memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
        if m.disable_oom_killer:
            lacks("memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer")
    else:
        # memsw before the limit when raising both is handled by the manager's retry.
        if m.limit is not None:
            put("memory.limit", "memory", ("memory.limit_in_bytes", str(m.limit)))
        if m.swap is not None:
            put("memory.swap", "memory", ("memory.memsw.limit_in_bytes", str(m.swap)))
        if m.reservation is not None:
            put("memory.reservation", "memory", ("memory.soft_limit_in_bytes", str(m.reservation)))
        if m.swappiness is not None:
            put("memory.swappiness", "memory", ("memory.swappiness", str(m.swappiness)))
        if m.disable_oom_killer:
            put("memory.disableOOMKiller", "memory", ("memory.oom_control", "1"))
    c = res.cpu
    if version_of("cpu") == 2:
        if c.shares is not None:
            put("cpu.shares", "cpu", ("cpu.weight", str(shares_to_weight(c.shares))))
        if c.quota is not None or c.period is not None:
            quota = "max" if c.quota in (None, -1) else str(c.quota)
            put("cpu.quota" if c.quota is not None else "cpu.period", "cpu",
                ("cpu.max", "%s %d" % (quota, c.period or 100000)))
        if c.burst is not None:
            put("cpu.burst", "cpu", ("cpu.max.burst", str(c.burst)))
        if c.realtime_runtime is not None or c.realtime_period is not None:
            lacks("cpu.realtimeRuntime" if c.realtime_runtime is not None else "cpu.realtimePeriod",
                  "cgroup v2 has no real-time CPU budget")
        if c.idle is not None:
            put("cpu.idle", "cpu", ("cpu.idle", str(c.idle)))
    else:
        if c.shares is not None:
            put("cpu.shares", "cpu", ("cpu.shares", str(c.shares)))
        if c.period is not None:
            put("cpu.period", "cpu", ("cpu.cfs_period_us", str(c.period)))
        if c.quota is not None:
            put("cpu.quota", "cpu", ("cpu.cfs_quota_us", str(c.quota)))
        if c.burst is not None:
            put("cpu.burst", "cpu", ("cpu.cfs_burst_us", str(c.burst)))
        if c.realtime_period is not None:
            put("cpu.realtimePeriod", "cpu", ("cpu.rt_period_us", str(c.realtime_period)))
        if c.realtime_runtime is not None:
            put("cpu.realtimeRuntime", "cpu", ("cpu.rt_runtime_us", str(c.realtime_runtime)))
        if c.idle is not None:
            put("cpu.idle", "cpu", ("cpu.idle", str(c.idle)))
    if c.cpus is not None:
        put("cpu.cpus", "cpuset", ("cpuset.cpus", c.cpus))
    if c.mems is not None:
        put("cpu.mems", "cpuset", ("cpuset.mems", c.mems))
    if res.pids is not None:
        put("pids.limit", "pids", ("pids.max", _max(res.pids)))
    b = res.block_io
    if version_of("blkio") == 1 or (version_of("io") != 2 and b.is_set()):
        if b.weight is not None:
            put("blockIO.weight", "blkio", ("blkio.weight", str(b.weight)), ("blkio.bfq.weight", str(b.weight)))
        if b.leaf_weight is not None:
            put("blockIO.leafWeight", "blkio", ("blkio.leaf_weight", str(b.leaf_weight)))
        for major, minor, weight, leaf in b.weight_device:
            if weight is not None:
                put("blockIO.weightDevice", "blkio", ("blkio.weight_device", "%d:%d %d" % (major, minor, weight)),
                    ("blkio.bfq.weight_device", "%d:%d %d" % (major, minor, weight)))
            if leaf is not None:
                put("blockIO.weightDevice", "blkio",
                    ("blkio.leaf_weight_device", "%d:%d %d" % (major, minor, leaf)))
        for key, major, minor, rate in b.throttle:
            put("blockIO." + key, "blkio", ("blkio.throttle." + BLKIO_THROTTLE[key][0], "%d:%d %d" % (major, minor, rate)))
    else:
        if b.weight is not None:
            put("blockIO.weight", "io", ("io.bfq.weight", str(b.weight)),
                ("io.weight", "default %d" % blkio_weight_to_io_weight(b.weight)))
        if b.leaf_weight is not None:
            lacks("blockIO.leafWeight", "cgroup v2 has no leaf weight")
        for major, minor, weight, leaf in b.weight_device:
            if leaf is not None:
                lacks("blockIO.weightDevice", "cgroup v2 has no leaf weight")
            put("blockIO.weightDevice", "io", ("io.bfq.weight", "%d:%d %d" % (major, minor, weight)),
                ("io.weight", "%d:%d %d" % (major, minor, blkio_weight_to_io_weight(weight))))
        for key, major, minor, rate in b.throttle:
            put("blockIO." + key, "io", ("io.max", "%d:%d %s=%s" % (major, minor, BLKIO_THROTTLE[key][1], rate or "max")))
    for size, limit in res.hugepage_limits:
        suffix = "max" if version_of("hugetlb") == 2 else "limit_in_bytes"
        put("hugepageLimits", "hugetlb", ("hugetlb.%s.%s" % (size, suffix), str(limit)))
    if res.network.class_id is not None:
        put("network.classID", "net_cls", ("net_cls.classid", str(res.network.class_id)))
    for name, priority in res.network.priorities:
        put("network.priorities", "net_prio", ("net_prio.ifpriomap", "%s %d" % (name, priority)))
    for device, handles, objects in res.rdma:
        put("rdma." + device, "rdma", ("rdma.max", "%s hca_handle=%s hca_object=%s" % (
            device, "max" if handles is None else handles, "max" if objects is None else objects)))
    for key, value in sorted(res.unified.items()):
        ctrl = key.split(".", 1)[0]
        if version_of(ctrl) == 1 or (version_of(ctrl) is None and version_of("memory") == 1):
            lacks("unified." + key, "unified resources need cgroup v2 (the %s controller here is not on it)" % ctrl)
        put("unified." + key, ctrl, (key, value))
    return writes


# --- the cgroupfs manager ---------------------------------------------------------


def _read(path):
    with open(path) as handle:
        return handle.read()


def _write(path, value):
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode() if isinstance(value, str) else value)
    finally:
        os.close(fd)


def _sleep(seconds):
    import time
    time.sleep(seconds)


def cgroup_procs(top):
    """The pids in cgroup `top` and every cgroup below it."""
    found = []
    for d, _, _ in os.walk(top):
        try:
            found += [int(p) for p in _read(d + "/cgroup.procs").split()]
        except (FileNotFoundError, ValueError):
            continue
    return found


def cgroup_frozen(d, ctrls):
    """True if cgroup `d` (ctrls: its v1 controllers, None on cgroup v2) is
    frozen or freezing, by its own freeze or an ancestor's: v1's freezer.state
    says FROZEN or FREEZING for both; v2's cgroup.freeze is its own, the
    "frozen 1" of cgroup.events an ancestor's too. A root cgroup has neither file."""
    try:
        if ctrls is not None:
            return "freezer" in ctrls and _read(d + "/freezer.state").strip() in ("FROZEN", "FREEZING")
        return _read(d + "/cgroup.freeze").strip() == "1" or "frozen 1" in _read(d + "/cgroup.events").splitlines()
    except OSError:
        return False


class CgroupfsManager:
    """The container's cgroup in every hierarchy, managed through cgroupfs.
    dirs: [(directory, [controllers] or None for the unified hierarchy, mount point)]."""

    driver = "cgroupfs"

    def __init__(self, layout_kind, dirs, rootless=False):
        self.layout = layout_kind
        self.dirs = [(d, ctrls, mp) for d, ctrls, mp in dirs]
        # A cgroup delegated to an unprivileged user: device rules are not
        # applied (see _apply_devices).
        self.rootless = rootless
        self._v2_controllers = None
        # The directories create() made, not found there already: recorded in
        # state.json, they are what makes the cgroup the container's own.
        self.made = set()

    # -- where things are
    @property
    def unified_dir(self):
        return next((d for d, ctrls, _ in self.dirs if ctrls is None), None)

    def controller_dir(self, ctrl):
        for d, ctrls, _ in self.dirs:
            if ctrls is not None and ctrl in ctrls:
                return d
        if self.unified_dir and ctrl in self.v2_controllers():
            return self.unified_dir
        return None

    def v2_controllers(self):
        if self._v2_controllers is None:
            self._v2_controllers = set()
            unified = self.unified_dir
            if unified:
                for place in (unified, os.path.dirname(unified)):
                    try:
                        self._v2_controllers = set(_read(place + "/cgroup.controllers").split())
                        break
                    except OSError:
                        continue
        return self._v2_controllers

    def version_of(self, ctrl):
        for d, ctrls, _ in self.dirs:
            if ctrls is not None and ctrl in ctrls:
                return 1
        if self.unified_dir and ctrl in self.v2_controllers():
            return 2
        if self.layout == "v2" and ctrl in ("memory", "cpu", "io", "pids", "cpuset", "hugetlb", "rdma", "misc"):
            return 2       # absent here, but v2 is where it would be: plan v2 files, refuse on write
        return None

    def to_state(self):
        state = {"driver": self.driver, "layout": self.layout, "dirs": [list(x) for x in self.dirs],
                 "made": [d for d, _, _ in self.dirs if d in self.made]}
        if self.rootless:
            state["rootless"] = True
        return state

    # -- lifecycle
    def create(self):
        """Make the directories (parents too), v2 controllers enabled on the way
        down, once check_placeable() found nothing in the way."""
        self.check_placeable()
        self._make_dirs(enable_controllers=True)

    def check_placeable(self):
        """Refuse, before anything is made, a cgroup that is frozen (a process
        put in it stops at once, in state D, and create would wait for it
        forever) or that holds processes already (two containers sharing one
        cgroup by accident would pause, kill and count each other's), in the
        words of runc (>= 1.2 refuses the second; 1.1 only warned). A directory
        not made yet is as frozen as its nearest existing ancestor: a new
        cgroup starts frozen below a frozen one, in v1 and v2 alike. Both
        freezers are read where both exist (a hybrid host's unified hierarchy
        has cgroup.freeze too)."""
        found, busy, frozen = set(), None, None
        for d, ctrls, _mountpoint in self.dirs:
            existing = d
            while not os.path.isdir(existing) and existing != "/":
                existing = os.path.dirname(existing)
            procs = cgroup_procs(d) if existing == d else ()
            found.update(procs)
            busy = busy or (d if procs else None)
            if frozen is None and cgroup_frozen(existing, ctrls):
                frozen = existing
        if found:
            raise Error("container's cgroup is not empty: %d process(es) found (in %s)" % (len(found), busy))
        if frozen is not None:
            raise Error("container's cgroup unexpectedly frozen (%s)" % frozen)

    def _make_dirs(self, enable_controllers):
        for d, ctrls, mountpoint in self.dirs:
            relative = os.path.relpath(d, mountpoint)
            current = mountpoint
            for part in relative.split("/") if relative != "." else ():
                if ctrls is None and enable_controllers:
                    self._enable_controllers(current)
                parent, current = current, current + "/" + part
                try:
                    os.mkdir(current, 0o755)
                    if current == d:
                        self.made.add(d)  # found already, it is not the container's alone
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise Error("cgroups: cannot create %s: %s" % (current, os_error_text(exc))) from None
                if ctrls is not None and "cpuset" in ctrls:
                    # Every level, found or made, top down: a parent someone
                    # else made may be empty too (Kubernetes' pod cgroups on
                    # v1 hosts are), and then refuses the process (ENOSPC).
                    self._seed_cpuset(parent, current)
        self._v2_controllers = None

    @staticmethod
    def _enable_controllers(directory):
        try:
            available = _read(directory + "/cgroup.controllers").split()
            enabled = set(_read(directory + "/cgroup.subtree_control").split())
        except OSError:
            return
        wanted = [c for c in available if c not in enabled]
        if not wanted:
            return
        try:
            _write(directory + "/cgroup.subtree_control", " ".join("+" + c for c in wanted))
        except OSError:
            # One by one: a controller the parent cannot delegate (EBUSY on a cgroup
            # with processes of its own) must not stop the others. A resource that
            # needs a missing one is refused by apply(), naming it.
            for ctrl in wanted:
                try:
                    _write(directory + "/cgroup.subtree_control", "+" + ctrl)
                except OSError:
                    pass

    @staticmethod
    def _seed_cpuset(parent, child):
        # A new v1 cpuset is empty and refuses tasks until cpus and mems are set.
        for name in ("cpuset.cpus", "cpuset.mems"):
            try:
                if not _read(child + "/" + name).strip():
                    _write(child + "/" + name, _read(parent + "/" + name).strip() or "\n")
            except OSError as exc:
                raise Error("cgroups: cannot seed %s/%s: %s" % (child, name, os_error_text(exc))) from None

    def add(self, pid):
        for d, _, _ in self.dirs:
            try:
                _write(d + "/cgroup.procs", str(pid))
            except OSError as exc:
                raise Error("cgroups: cannot move process %d into %s: %s" % (pid, d, os_error_text(exc))) from None

    def apply(self, res, field="linux.resources"):
        """Write every limit in `res` and the device rules (always)."""
        self._write_resources(res, field)
        self._apply_devices(effective_device_rules(res.devices), field + ".devices")

    def update(self, res, field="resources"):
        if res.memory.check_before_update and res.memory.limit not in (None, -1):
            usage = self._memory_usage()
            if usage is not None and res.memory.limit < usage:
                raise Error("%s.memory.limit: %d is below the current usage of %d bytes"
                            % (field, res.memory.limit, usage))
        self._write_resources(res, field)
        if res.devices is not None:
            self._apply_devices(effective_device_rules(res.devices), field + ".devices")

    def _memory_usage(self):
        d = self.controller_dir("memory")
        for name in ("memory.current", "memory.usage_in_bytes"):
            try:
                return int(_read("%s/%s" % (d, name)))
            except (OSError, TypeError, ValueError):
                continue
        return None

    def _write_resources(self, res, field):
        pending = []
        for name, ctrl, files in plan_resource_writes(res, self.version_of, field):
            d = self.controller_dir(ctrl)
            if d is None:
                raise Error("%s: this host has no %s cgroup controller" % (name, ctrl))
            pending.append((name, d, files))
        # Pairs the kernel checks against each other (v1 memory limit <= memsw,
        # cfs quota vs period, rt runtime vs period) can fail in one order and
        # succeed in the other: retry the failures once after the rest.
        for attempt in (0, 1):
            failed = []
            for name, d, files in pending:
                error = self._write_first(d, files)
                if error is not None:
                    failed.append((name, d, files, error))
            if not failed:
                return
            if attempt == 1 or len(failed) == len(pending):
                name, d, files, error = failed[0]
                raise Error("%s: %s" % (name, error))
            pending = [(name, d, files) for name, d, files, _ in failed]

    @staticmethod
    def _write_first(d, files):
        missing = []
        for filename, value in files:
            path = d + "/" + filename
            try:
                _write(path, value)
                return None
            except FileNotFoundError:
                missing.append(filename)
            except OSError as exc:
                return "writing %r to %s: %s" % (value, path, os_error_text(exc))
        return "this host's kernel has no %s in %s" % (" or ".join(missing), d)

    def _apply_devices(self, rules, field):
        if self.rootless:
            # runc's rootless mode ignores device rules, and so does minirun: a
            # cgroup v2 device program needs CAP_SYS_ADMIN of the host, and a
            # rootless container can neither make a device node nor open the
            # host's ones it is given (bound) beyond their own permissions.
            return
        d = self.controller_dir("devices")
        if d is not None:
            for filename, line in v1_device_writes(rules):
                try:
                    _write(d + "/" + filename, line)
                except OSError as exc:
                    raise Error("%s: writing %r to %s/%s: %s" % (field, line, d, filename, os_error_text(exc))) from None
        elif self.unified_dir:
            # v2, or a hybrid host without a v1 devices hierarchy: the kernel runs
            # cgroup2 device programs for every task on any layout.
            if allows_every_device(rules):
                # Everything allowed (--privileged): a program would only say
                # so, and 5.10 refuses to attach one below a parent (a systemd
                # unit) that has its own.
                return
            attach_device_program(self.unified_dir, device_program(rules), field)
        else:
            raise Error("%s: this host has no devices cgroup controller" % field)

    # -- freezer
    def _freezer(self):
        d = self.controller_dir("freezer")
        if d is not None:
            return d, "freezer.state", "FROZEN", "THAWED"
        if self.unified_dir and os.path.exists(self.unified_dir + "/cgroup.freeze"):
            return self.unified_dir, "cgroup.freeze", "1", "0"
        return None

    def paused(self):
        freezer = self._freezer()
        if freezer is None:
            return False
        d, name, frozen, _ = freezer
        try:
            if name == "cgroup.freeze":
                return "frozen 1" in _read(d + "/cgroup.events").splitlines()
            return _read(d + "/" + name).strip() == frozen
        except OSError:
            return False

    def freeze(self):
        self._set_frozen(True)

    def thaw(self):
        try:
            self._set_frozen(False)
        except Error:
            # A cgroup that is gone holds nothing frozen: after SIGKILL through
            # a frozen v2 cgroup (fatal signals get through) systemd removes the
            # emptied transient scope, and its directory, at any moment --
            # before the freezer is looked up or between two of its files.
            if any(os.path.isdir(d) for d, _ctrls, _mountpoint in self.dirs):
                raise

    def _set_frozen(self, frozen):
        freezer = self._freezer()
        if freezer is None:
            raise Error("cgroups: this host has no freezer (v1 freezer controller or v2 cgroup.freeze)")
        d, name, on, off = freezer
        value = on if frozen else off
        waited = 0.0
        while True:
            try:
                _write(d + "/" + name, value)
                if name == "cgroup.freeze":
                    state = "frozen 1" in _read(d + "/cgroup.events").splitlines()
                    done = state == frozen
                else:
                    done = _read(d + "/" + name).strip() == value     # FREEZING while in progress
            except OSError as exc:
                raise Error("cgroups: %s %s: %s" % ("freezing" if frozen else "thawing", d, os_error_text(exc))) from None
            if done:
                return
            if waited >= 5.0:
                if frozen:
                    _write(d + "/" + name, off)
                raise Error("cgroups: %s did not %s in 5 s" % (d, "freeze" if frozen else "thaw"))
            _sleep(0.005)
            waited += 0.005

    # -- processes
    def _procs_dir(self):
        for ctrl in ("freezer", "pids", "devices", "memory"):
            d = self.controller_dir(ctrl)
            if d is not None and d != self.unified_dir:
                return d
        return self.unified_dir or self.dirs[0][0]

    def pids(self):
        """Every process in the cgroup and its sub-cgroups (host pids)."""
        return cgroup_procs(self._procs_dir())

    def kill(self, signum):
        """Signal every process in the cgroup. SIGKILL through v2's cgroup.kill where
        the kernel has it (5.14+), atomically; otherwise with the cgroup frozen so no
        process forks past the listing, and only pids the listing names."""
        unified = self.unified_dir
        # On hybrid hosts every process is in the unified hierarchy too, so its
        # cgroup.kill reaches all of them.
        # A paused container stays paused, except for SIGKILL: v1-frozen tasks
        # cannot die until thawed (runc thaws too).
        freezer = self._freezer()
        was_paused = freezer is not None and self.paused()
        if signum == 9 and unified and os.path.exists(unified + "/cgroup.kill"):
            _write(unified + "/cgroup.kill", "1")
            if was_paused:
                self.thaw()
            return
        if freezer is not None and not was_paused:
            self.freeze()
        try:
            for pid in self.pids():
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
        finally:
            if freezer is not None and (not was_paused or signum == 9):
                self.thaw()

    # -- reading
    def oom_count(self):
        """How many processes the OOM killer has killed in the cgroup (None: unknown)."""
        d = self.controller_dir("memory")
        if d is None:
            return None
        for name in ("memory.events", "memory.oom_control"):
            try:
                fields = dict(line.split() for line in _read("%s/%s" % (d, name)).splitlines() if " " in line)
                return int(fields["oom_kill"])
            except (OSError, KeyError, ValueError):
                continue
        return None

    def stats(self):
        """runc's `events --stats` data: cpu, memory, pids, blkio, hugetlb."""
        return cgroup_stats(self)

    def destroy(self):
        """Remove every directory, sub-cgroups first; processes still exiting make
        rmdir fail with EBUSY for a moment, so retry briefly."""
        errors = []
        for d, _, _ in self.dirs:
            try:
                os.rmdir(d)  # the usual case, no sub-cgroup and no process left: no walk
                continue
            except FileNotFoundError:
                continue
            except OSError:
                pass  # EBUSY: sub-cgroups, or processes still exiting
            if not os.path.isdir(d):
                continue
            below = [top for top, _, _ in os.walk(d, topdown=False)]
            for directory in below:
                waited = 0.0
                while True:
                    try:
                        os.rmdir(directory)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as exc:
                        if exc.errno == 16 and waited < CGROUP_RETRY_SECONDS:     # EBUSY
                            _sleep(0.01)
                            waited += 0.01
                            continue
                        errors.append("%s: %s" % (directory, os_error_text(exc)))
                        break
        if errors:
            raise Error("cgroups: cannot remove " + "; ".join(errors))


# ===========================================================================
# 11. Cgroups: stats, the cgroup mount, a recorded cgroup; Intel RDT
# ===========================================================================
# Contract. Three things built on a manager's directories: cgroup_stats() reads
# the figures `events` reports (runc's field names, so `docker stats` reads them),
# plan_cgroup_mount()/mount_cgroup() give the container a /sys/fs/cgroup that
# shows its own cgroup, and check_container_cgroup() refuses a cgroup recorded
# in state.json that is not the container's own (its proven init's, or one
# create made) before anything acts through it; remove_stopped_cgroup() and
# remove_unreadable_container() are what `delete` does with the cgroup of a
# container whose init is gone, or whose state file cannot be read.
# Then Intel RDT's groups in the resctrl filesystem, which follow the cgroup's
# life. Last, a kernel wait taken off the placement of create and exec (the
# first move into a v1 cgroup).


def _keyed(path):
    """A 'key value' file as a dict of ints (memory.stat, cpu.stat, ...)."""
    out = {}
    try:
        for line in _read(path).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def _int_file(path, default=0):
    try:
        text = _read(path).strip()
    except OSError:
        return default
    if text == "max":
        return (1 << 64) - 1
    try:
        return int(text)
    except ValueError:
        return default


def cgroup_stats(manager):
    v2 = manager.version_of
    stats = {"cpu": {"usage": {}, "throttling": {}}, "memory": {}, "pids": {}, "blkio": {}, "hugetlb": {}}
    cpu_dir = manager.controller_dir("cpu")
    if v2("cpu") == 2 or (manager.layout == "v2" and manager.unified_dir):
        raw = _keyed((cpu_dir or manager.unified_dir) + "/cpu.stat")
        stats["cpu"]["usage"] = {"total": raw.get("usage_usec", 0) * 1000,
                                 "kernel": raw.get("system_usec", 0) * 1000,
                                 "user": raw.get("user_usec", 0) * 1000}
        stats["cpu"]["throttling"] = {"periods": raw.get("nr_periods", 0),
                                      "throttled_periods": raw.get("nr_throttled", 0),
                                      "throttled_time": raw.get("throttled_usec", 0) * 1000}
    else:
        acct = manager.controller_dir("cpuacct")
        if acct:
            ticks = os.sysconf("SC_CLK_TCK")
            usage = _keyed(acct + "/cpuacct.stat")
            try:
                percpu = [int(x) for x in _read(acct + "/cpuacct.usage_percpu").split()]
            except OSError:
                percpu = []
            stats["cpu"]["usage"] = {"total": _int_file(acct + "/cpuacct.usage"), "percpu": percpu,
                                     "kernel": usage.get("system", 0) * 1_000_000_000 // ticks,
                                     "user": usage.get("user", 0) * 1_000_000_000 // ticks}
        if cpu_dir:
            raw = _keyed(cpu_dir + "/cpu.stat")
            stats["cpu"]["throttling"] = {"periods": raw.get("nr_periods", 0),
                                          "throttled_periods": raw.get("nr_throttled", 0),
                                          "throttled_time": raw.get("throttled_time", 0)}
    mem = manager.controller_dir("memory")
    if mem and v2("memory") == 2:
        raw = _keyed(mem + "/memory.stat")
        events = _keyed(mem + "/memory.events")
        stats["memory"] = {"cache": raw.get("file", 0), "raw": raw,
                           "usage": {"usage": _int_file(mem + "/memory.current"),
                                     "limit": _int_file(mem + "/memory.max"),
                                     "max": _int_file(mem + "/memory.peak"), "failcnt": events.get("max", 0)},
                           "swap_usage": {"usage": _int_file(mem + "/memory.swap.current"),
                                          "limit": _int_file(mem + "/memory.swap.max")}}
    elif mem:
        raw = _keyed(mem + "/memory.stat")
        stats["memory"] = {"cache": raw.get("cache", 0), "raw": raw,
                           "usage": {"usage": _int_file(mem + "/memory.usage_in_bytes"),
                                     "limit": _int_file(mem + "/memory.limit_in_bytes"),
                                     "max": _int_file(mem + "/memory.max_usage_in_bytes"),
                                     "failcnt": _int_file(mem + "/memory.failcnt")},
                           "swap_usage": {"usage": _int_file(mem + "/memory.memsw.usage_in_bytes"),
                                          "limit": _int_file(mem + "/memory.memsw.limit_in_bytes")}}
    pids = manager.controller_dir("pids")
    if pids:
        stats["pids"] = {"current": _int_file(pids + "/pids.current"), "limit": _int_file(pids + "/pids.max")}
    io = manager.controller_dir("io") if v2("io") == 2 else None
    if io:
        service_bytes, serviced = [], []
        try:
            lines = _read(io + "/io.stat").splitlines()
        except OSError:
            lines = []
        for line in lines:
            device, *pairs = line.split()
            major, _, minor = device.partition(":")
            values = dict(p.split("=", 1) for p in pairs if "=" in p)
            for op, byte_key, io_key in (("Read", "rbytes", "rios"), ("Write", "wbytes", "wios")):
                service_bytes.append({"major": int(major), "minor": int(minor), "op": op,
                                      "value": int(values.get(byte_key, 0))})
                serviced.append({"major": int(major), "minor": int(minor), "op": op,
                                 "value": int(values.get(io_key, 0))})
        stats["blkio"] = {"ioServiceBytesRecursive": service_bytes, "ioServicedRecursive": serviced}
    elif manager.controller_dir("blkio"):
        blkio = manager.controller_dir("blkio")
        for key, name in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                          ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
            entries = []
            try:
                lines = _read(blkio + "/" + name).splitlines()
            except OSError:
                lines = []
            for line in lines:
                parts = line.split()
                if len(parts) == 3 and ":" in parts[0]:
                    major, minor = parts[0].split(":")
                    entries.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
            stats["blkio"][key] = entries
    huge = manager.controller_dir("hugetlb")
    if huge:
        v2_files = v2("hugetlb") == 2
        for entry in sorted(os.listdir(huge)):
            if entry.startswith("hugetlb.") and entry.endswith(".current" if v2_files else ".usage_in_bytes"):
                size = entry.split(".")[1]
                if v2_files:
                    stats["hugetlb"][size] = {"usage": _int_file("%s/hugetlb.%s.current" % (huge, size)),
                                              "max": _int_file("%s/hugetlb.%s.max" % (huge, size)),
                                              "failcnt": _keyed("%s/hugetlb.%s.events" % (huge, size)).get("max", 0)}
                else:
                    stats["hugetlb"][size] = {"usage": _int_file("%s/hugetlb.%s.usage_in_bytes" % (huge, size)),
                                              "max": _int_file("%s/hugetlb.%s.max_usage_in_bytes" % (huge, size)),
                                              "failcnt": _int_file("%s/hugetlb.%s.failcnt" % (huge, size))}
    return stats


# --- the `cgroup` mount inside the container ---------------------------------


def plan_cgroup_mount(manager=None, layout=None, links=None):
    """('v2', None, None) or ('v1', [(name, host_dir)], [(link, target)]).
    v1/hybrid: one bind per hierarchy of the container's OWN cgroup (the
    manager's directories; without a manager the runtime's own cgroup), so the
    container never sees the host's root hierarchies. v2: a cgroup2 mount, which
    the container's cgroup namespace roots at its own cgroup."""
    layout = layout or detect_cgroup_layout()
    if layout.kind == "v2":
        return ("v2", None, None)
    binds = []
    if manager is not None:
        for d, ctrls, mountpoint in manager.dirs:
            binds.append((os.path.basename(mountpoint), d))
    else:
        own = own_cgroups()
        for mountpoint, (root, ctrls) in layout.hierarchies.items():
            path = own.get(sorted(ctrls)[0])
            if path is not None:
                binds.append((os.path.basename(mountpoint), _join_cgroup(mountpoint, root, path)))
        if layout.unified and "" in own:
            binds.append((os.path.basename(layout.unified), _join_cgroup(layout.unified, layout.unified_root, own[""])))
    if links is None:
        links = []
        try:
            for entry in os.scandir(CGROUP_ROOT):
                if entry.is_symlink():
                    links.append((entry.name, os.readlink(entry.path)))
        except OSError:
            pass
    return ("v1", binds, list(links))


def mount_cgroup(k, rootfs, mount):
    """Mount the planned `cgroup` filesystem (rootfs.cgroup_layout) at mount.destination.
    v1: the binds are read-only whenever the mount asks for ro (engines do for
    every unprivileged container); a privileged container's rw mount keeps them rw.
    v2 in a user namespace where the kernel refuses a cgroup2 mount
    (plan_cgroup2_bind): the planned host directory is bound read-only, as
    runc's rootless mode does."""
    kind, binds, links = rootfs.cgroup_layout
    target = make_target(k, rootfs.root, mount.destination, is_file=False)
    flags = mount.flags & ~MS_BIND
    if kind == "v2" and getattr(rootfs, "bind_host_cgroup2", None):
        k.mount(rootfs.bind_host_cgroup2, target, None, MS_BIND | MS_REC)
        remount_bind(k, target, MS_RDONLY | MS_REC | (flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)))
    elif kind == "v2":
        k.mount("cgroup2", target, "cgroup2", flags)
    else:
        k.mount("tmpfs", target, "tmpfs", flags & ~MS_RDONLY, "mode=755")
        for name, host_dir in binds:
            sub = os.path.join(target, name)
            k.mkdir(sub, 0o755)
            k.mount(host_dir, sub, None, MS_BIND | MS_REC)
            remount_bind(k, sub, flags | MS_REC)
        for name, link in links:
            k.symlink(link, os.path.join(target, name))
        if flags & MS_RDONLY:
            k.mount(None, target, None, MS_REMOUNT | flags, "mode=755")
    for propagation in mount.propagation:
        k.mount(None, target, None, propagation)

# --- a recorded cgroup, and exec's --cgroup ------------------------------------


def manager_from_state(state):
    """Rebuild a manager from to_state()'s dict (stored in state.json)."""
    dirs = [(d, ctrls, mp) for d, ctrls, mp in state["dirs"]]
    if state.get("driver") == "systemd":
        return SystemdCgroupManager(state["layout"], dirs, state["slice"], state["unit"], state.get("started"),
                                    state.get("user") is True, state.get("rootless") is True)
    return CgroupfsManager(state["layout"], dirs, state.get("rootless") is True)


def _hierarchy_of(mountpoint, ctrls, layout):
    """(mount root, key in a /proc/PID/cgroup map) of a recorded directory's
    hierarchy; (None, None) if this host has no such hierarchy."""
    if ctrls is None:
        return (layout.unified_root if layout.unified == mountpoint else None), ""
    return layout.hierarchies.get(mountpoint, (None,))[0], (ctrls[0] if ctrls else None)


def _cgroup_holds(d, mountpoint, root, key, cgroups):
    """True if the process whose /proc/PID/cgroup map is `cgroups` is in `d` or below it."""
    path = cgroups.get(key) if cgroups else None
    if path is None or root is None:
        return False
    inside = _join_cgroup(mountpoint, root, path)
    return inside == d or inside.startswith(d + "/")


def cgroup_holds(dirs, layout, cgroups):
    """True if every recorded directory holds the process whose /proc/PID/cgroup
    map is `cgroups` (in it or in a sub-cgroup of it)."""
    for d, ctrls, mountpoint in dirs:
        root, key = _hierarchy_of(mountpoint, ctrls, layout)
        if not _cgroup_holds(os.path.normpath(d), mountpoint, root, key, cgroups):
            return False
    return True


def check_container_cgroup(manager, cid, init, layout, others, made=()):
    """Refuse a recorded cgroup (state.json) that is not this container's own
    before anything signals or removes through it: every directory must be
    below its hierarchy's root, hold neither the runtime nor the host's init
    (`others`: their /proc/PID/cgroup maps), and be the proven init's own
    cgroup, or one that create made for the container (`made`, recorded at
    create) and that holds the init when there is one. A cgroup create found
    already there may be another container's too (a shared cgroupsPath); a
    name proves nothing (an id such as "fs" is in every cgroup's path)."""
    theirs = own_cgroups("/proc/%d/cgroup" % init) if init else None
    made = set(made)
    for d, ctrls, mountpoint in manager.dirs:
        root, key = _hierarchy_of(mountpoint, ctrls, layout)
        d = os.path.normpath(d)
        if root is None or key is None or not d.startswith(mountpoint + "/"):
            raise Error("container %s: the recorded cgroup %s is not a cgroup of this host" % (cid, d))
        if any(_cgroup_holds(d, mountpoint, root, key, other) for other in others):
            raise Error("container %s: the recorded cgroup %s holds the runtime or the host's init; "
                        "refusing to use it" % (cid, d))
        own = theirs is not None and _join_cgroup(mountpoint, root, theirs.get(key, "/")) == d
        if not (own or (d in made and (theirs is None or _cgroup_holds(d, mountpoint, root, key, theirs)))):
            raise Error("container %s: the recorded cgroup %s is not the container's (state file forged "
                        "or stale, or a cgroup it shares); refusing to use it" % (cid, d))
    return manager


def stopped_cgroup(state):
    """(manager, left, theirs) of a container whose init is gone: `manager`
    the part of its cgroup that create made, once check_container_cgroup()
    proved it the container's (an Error if it cannot be: a forged state);
    `left` the processes still in it; theirs(pid) whether one of them is the
    container's, to be asked with a pidfd on it open. (None, [], None) when
    create made none of it: a cgroup found there (a cgroupsPath shared with
    another container, or made by the engine) is not the container's.
    Only a container without a pid namespace of its own leaves its forks
    behind, each in the mount and pid namespaces recorded at create. With a
    pid namespace of its own nothing of the container outlives its init (the
    kernel kills the namespace), so whatever is in the cgroup belongs to
    somebody else, a container sharing its cgroupsPath."""
    manager = manager_from_state(state.cgroup)
    made = set(state.cgroup.get("made", ()))
    mine = [entry for entry in manager.dirs if entry[0] in made]
    if not mine:
        return None, [], None
    if len(mine) < len(manager.dirs):
        manager = CgroupfsManager(manager.layout, mine, manager.rootless)
    state.proven_cgroup(None, manager)
    try:
        left = manager.pids()
    except OSError:
        left = []
    wanted = {"mnt": state.namespaces.get("mnt"), "pid": state.namespaces.get("pid")}

    def theirs(pid):
        try:
            return not state.own_pid_namespace and namespace_ids(pid, ("mnt", "pid")) == wanted
        except OSError:
            return False        # gone already
    return manager, left, theirs


def remove_stopped_cgroup(state):
    """The cgroup of a container whose init is gone (see stopped_cgroup):
    what is left of the container in it is killed (runc kills it too), each
    process proven and signalled through a pidfd one by one, and what create
    made removed; a cgroup holding anything else is left to its owner, with a
    warning, never emptied."""
    try:
        manager, left, theirs = stopped_cgroup(state)
    except Error as exc:
        LOG.warning("%s; leaving it in place" % exc)
        return
    if manager is None:
        return
    if left and not state.own_pid_namespace:
        kill_proven_processes(left, theirs)
        left = manager.pids()
    if left:
        LOG.warning("container %s: its cgroup %s holds processes that are not the container's "
                    "(pids %s); leaving it in place" % (state.id, manager.dirs[0][0], " ".join(map(str, sorted(left)))))
        return
    manager.destroy()


def planned_cgroups(store, cid):
    """The cgroups a container of this id was planned in, for a state file
    that cannot be read: minirun's default path for the id, and the
    cgroupsPath of the config kept beside the state, if any (cgroupfs paths;
    a systemd slice:prefix:name is read as the scope's directory)."""
    layout = HOST.cgroup_layout
    paths = [""]
    try:
        with open(store.path(cid, CONFIG_COPY), "rb") as handle:
            raw = json_loads(handle.read().decode("utf-8"))
        path = raw.get("linux", {}).get("cgroupsPath")
        if isinstance(path, str) and path:
            paths.append(path)
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        pass
    managers = []
    for path in paths:
        try:
            managers.append(cgroup_manager(layout, path, cid, systemd=path.count(":") == 2,
                                           own=HOST.own_cgroups))
        except Error:
            continue
    return managers


def cgroups_recorded_by_others(store, cid):
    """The cgroup directories the other containers in this --root record."""
    dirs = set()
    for other in store.ids():
        if other == cid:
            continue
        try:
            state = store.load(other)
        except Error:
            continue
        if state.cgroup:
            dirs |= set(d for d, _, _ in state.cgroup["dirs"])
    return dirs


def remove_unreadable_container(store, cid):
    """delete --force of a container whose state.json is corrupt or missing
    (a create killed before writing it). What is left is found through what
    can be proven: a created init holds ROOT/ID/exec.fifo open (found by its
    inode), and the container's cgroup is where it was planned (minirun's
    default path for the id, or the cgroupsPath of the config kept beside
    the state), if no other container here records that cgroup and it holds
    neither the runtime nor the host's init. Those are killed and removed;
    whatever could not be is named in the error, and the container's
    directory is kept (its id stays taken, so no later create joins what is
    left), so a later delete --force can try again."""
    left = []
    holders = fifo_holders(store.path(cid, FIFO_FILE))
    key = None
    if holders:
        st = os.stat(store.path(cid, FIFO_FILE))
        key = (st.st_dev, st.st_ino)
    left += ["process %d (holds exec.fifo)" % pid
             for pid in kill_proven_processes(holders, lambda pid: holds_file(pid, key))]
    others = [own_cgroups()]
    try:
        others.append(own_cgroups("/proc/1/cgroup"))
    except OSError:
        pass
    shared = cgroups_recorded_by_others(store, cid)
    for manager in planned_cgroups(store, cid):
        dirs = [entry for entry in manager.dirs if os.path.isdir(entry[0])]
        if not dirs:
            continue
        manager = CgroupfsManager(manager.layout, dirs)
        try:
            check_container_cgroup(manager, cid, None, HOST.cgroup_layout, others, [d for d, _, _ in dirs])
            if shared & set(d for d, _, _ in dirs):
                raise Error("container %s: the cgroup %s is another container's too" % (cid, dirs[0][0]))
        except Error as exc:
            try:
                busy = manager.pids()
            except OSError:
                busy = []
            if busy:
                left.append("cgroup %s (not proven the container's: %s)" % (dirs[0][0], str(exc).split(": ", 1)[-1]))
            continue
        try:
            manager.kill(9)
            manager.destroy()
        except (Error, OSError) as exc:
            left.append("cgroup %s (%s)" % (dirs[0][0], exc if isinstance(exc, Error) else os_error_text(exc)))
    if left:
        raise Error("container %s: could not remove: %s" % (cid, "; ".join(left)))
    store.remove(cid)


def parse_exec_cgroups(specs):
    """exec's --cgroup flags -> {controller: path}, "" for every controller.

    runc's rules: each flag is PATH or CONTROLLER[,CONTROLLER]:PATH; a PATH
    without controllers must be the only flag; a controller is named once.
    "/" (or "") is the container's own cgroup; nothing may climb out of it.
    """
    paths = {}
    for spec in specs or ():
        names, sep, path = spec.partition(":")
        if not sep:
            names, path = "", spec
        parts = [p for p in path.split("/") if p]
        if ":" in path or any(p in (".", "..") for p in parts):
            raise UsageError("exec: --cgroup %r: expected a path inside the container's cgroup" % spec)
        if not sep and len(specs) != 1:
            raise UsageError("exec: --cgroup %r: a path without <controller>: must be the only --cgroup" % spec)
        for name in names.split(",") if sep else [""]:
            if sep and not name:
                raise UsageError("exec: --cgroup %r: an empty controller name" % spec)
            if name in paths:
                raise UsageError("exec: --cgroup: controller %s given more than once" % name)
            paths[name] = "/".join(parts)
    return paths


def exec_cgroup_dirs(manager, specs):
    """The directories `exec` puts its process in: the container's cgroup, or
    with --cgroup sub-cgroups of it (parse_exec_cgroups), which must exist,
    as runc requires. On cgroup v2 one path serves the one hierarchy."""
    dirs = [d for d, _, _ in manager.dirs]
    paths = parse_exec_cgroups(specs)
    if not paths:
        return dirs
    matched, out = set(), []
    for d, ctrls, _ in manager.dirs:
        if "" in paths:
            chosen = {paths[""]}
        elif ctrls is None:  # the unified hierarchy: any controller's path (v2 has one tree)
            chosen = set(paths.values()) if manager.layout == "v2" else set()
        else:
            chosen = {paths[c] for c in ctrls if c in paths}
            matched |= set(ctrls) & set(paths)
        if len(chosen) > 1:
            raise UsageError("exec: --cgroup: %s: one hierarchy, different paths (%s)"
                             % (",".join(ctrls or ["unified"]), ", ".join(sorted(chosen))))
        if chosen:
            d = os.path.join(d, chosen.pop()).rstrip("/") or d
            if not os.path.isdir(d):
                raise Error("exec: --cgroup: %s does not exist" % d)
        out.append(d)
    wanted = set(paths) - {""}
    if manager.layout != "v2" and not wanted <= matched:
        raise UsageError("exec: --cgroup: no %s hierarchy" % ", ".join(sorted(wanted - matched)))
    return out


# --- Intel RDT: groups in the resctrl filesystem -------------------------------------
# resctrl, mounted by the administrator and found in mountinfo, holds one level
# of control groups below its root, each a directory the kernel fills with
# schemata and tasks (and mon_groups/, where monitoring groups live). mkdir
# makes a group, rmdir removes it (its tasks go back to the root group), a pid
# written to tasks moves that one task, and what it forks later follows it.
# read_resctrl() gathers what planning decides on (plan_intel_rdt, section
# 15); apply_intel_rdt() makes what the plan says at create and returns the
# record state.json keeps, which is all remove_intel_rdt() undoes at delete
# and join_intel_rdt() joins at exec. When the kernel refuses a write,
# info/last_cmd_status says why, and the error says it too.


def find_resctrl_mount(mountinfo="/proc/self/mountinfo"):
    """The mount point of the first resctrl filesystem in mountinfo, or None."""
    try:
        with open(mountinfo, "rb") as info:
            for line in info:
                fields, _, rest = line.partition(b" - ")
                if rest.split(b" ", 1)[0] == b"resctrl":
                    raw = fields.split()[4].decode("utf-8", "surrogateescape")
                    return raw.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
                        .replace("\\134", "\\")
    except (OSError, IndexError):
        pass
    return None


class ResctrlTree:
    """What planning needs of a resctrl mount: its resources (info/NAME: L3,
    L3CODE, L3DATA, MB, L2, SMBA...), whether it monitors (info/L3_MON), and of
    the group a container would use, whether it exists and its schemata, and
    whether that group's mon_groups/ID exists."""

    __slots__ = ("root", "resources", "monitoring", "group_exists", "group_schemata", "mon_group_exists")


def read_resctrl(root, group, cid):
    tree = ResctrlTree()
    tree.root = root
    try:
        entries = os.listdir(root + "/info")
    except OSError:
        entries = []
    tree.resources = frozenset(e for e in entries if not e.endswith("_MON") and e != "last_cmd_status")
    tree.monitoring = "L3_MON" in entries
    path = root + "/" + group
    tree.group_exists = os.path.isdir(path) and not os.path.islink(path)
    try:
        tree.group_schemata = _read(path + "/schemata") if tree.group_exists else None
    except OSError:
        tree.group_schemata = ""
    tree.mon_group_exists = os.path.lexists(path + "/mon_groups/" + cid)
    return tree


def resctrl_refusal(root):
    """info/last_cmd_status after a refused write, as a clause for the error."""
    try:
        status = _read(root + "/info/last_cmd_status").strip()
    except OSError:
        return ""
    return " (resctrl: %s)" % status if status and status != "ok" else ""


def apply_intel_rdt(k, plan, pid):
    """Make the group (if the plan says so), write its schemata, move the init
    there, then make its monitoring group and move it there too. Returns the
    record for state.json; on failure removes what it made and raises."""
    record = {"root": plan.root, "group": plan.group, "made": False, "monitor": None}
    try:
        if plan.make_group:
            k.mkdir(plan.group, 0o755)  # EEXIST: made by someone else since planning: not ours
            record["made"] = True
        if plan.lines:
            k.write_file(plan.group + "/schemata", "\n".join(plan.lines) + "\n")
        k.write_file(plan.group + "/tasks", str(pid))
        if plan.monitor:
            k.mkdir(plan.monitor, 0o755)
            record["monitor"] = plan.monitor
            k.write_file(plan.monitor + "/tasks", str(pid))
    except OSError as exc:
        failure = Error("linux.intelRdt: %s%s" % (os_error_text(exc), resctrl_refusal(plan.root)))
        remove_intel_rdt(k, record, quiet=True)
        raise failure from None
    return record


def proven_rdt_record(record):
    """The record, if its root is the resctrl mount of this mount namespace
    now; None if resctrl is no longer mounted (its groups went with it)."""
    if record is None:
        return None
    root = find_resctrl_mount()
    if root is None:
        return None
    if root != record["root"]:
        raise Error("linux.intelRdt: the resctrl filesystem is now at %s, not %s as recorded" % (root, record["root"]))
    return record


def remove_intel_rdt(k, record, quiet=False):
    """At delete (or a failed create): only what create made, the monitoring
    group and then the group."""
    try:
        record = proven_rdt_record(record) if not quiet else record
        if record is None:
            return
        for path in (record["monitor"], record["group"] if record["made"] else None):
            if path:
                try:
                    k.rmdir(path)
                except FileNotFoundError:
                    pass
    except (OSError, Error) as exc:
        text = "linux.intelRdt: cannot remove %s" % (os_error_text(exc) if isinstance(exc, OSError) else exc)
        if not quiet:
            raise Error(text) from None
        LOG.warning(text)


def join_intel_rdt(k, record, pid):
    """exec: the process joins the container's group (and monitoring group)."""
    record = proven_rdt_record(record)
    if record is None:
        return
    for path in (record["group"], record["monitor"]):
        if path:
            try:
                k.write_file(path + "/tasks", str(pid))
            except OSError as exc:
                raise Error("exec: cannot join the container's resctrl group: %s" % os_error_text(exc)) from None


def update_intel_rdt(k, record, lines, cid, root):
    """update --l3-cache-schema/--mem-bw-schema: the lines written to the
    container's group, where resctrl is mounted (`root`) and it has one."""
    if not lines:
        return
    if root is None:
        raise Error("update: Intel RDT: the resctrl filesystem is not mounted on this host")
    if record is None:
        raise Error("update: Intel RDT: container %s was created without linux.intelRdt" % cid)
    record = proven_rdt_record(record)
    try:
        k.write_file(record["group"] + "/schemata", "\n".join(lines) + "\n")
    except OSError as exc:
        raise Error("update: Intel RDT: %s%s" % (os_error_text(exc), resctrl_refusal(record["root"]))) from None

# --- the first move into a v1 cgroup ------------------------------------------------
# Moving a process into a v1 cgroup (a write to cgroup.procs) takes the
# kernel's cgroup_threadgroup_rwsem for writing, a per-cpu rwsem: its first
# writer after a quiet spell waits for an RCU grace period (rcu_sync_enter ->
# synchronize_rcu, 8-20 ms on these hosts; runc waits it out too), and writers
# that follow within the next grace period pass at once. So create/run and
# exec start that wait in a helper at their very beginning, to run out while
# they plan, make the cgroup and clone: /bin/echo, started with posix_spawn
# (vfork: no copy of this process), its stdout the cgroup.procs of the cgroup
# it is already in, writes "0" (itself) there, a move to where it is, which
# changes nothing; the placement write later (CgroupfsManager.add, exec's
# join) finds the lock warm. Where anything of it is missing or refused, there
# is no helper and the placement waits as it always did. Not on v2:
# CLONE_INTO_CGROUP takes the rwsem only for reading.

MIGRATION_HELPERS = []      # pids, reaped by reap_migration_helpers()


def start_cgroup_migration_grace_period(layout, own, euid=None, echo="/bin/echo"):
    """That helper, on a v1 or hybrid host, for root (`own`: own_cgroups())."""
    if (os.geteuid() if euid is None else euid) != 0 or layout.kind not in ("v1", "hybrid"):
        return
    mine = [_join_cgroup(mountpoint, mount_root, own[c]) for mountpoint, (mount_root, ctrls)
            in sorted(layout.hierarchies.items()) for c in sorted(ctrls) if c in own]
    try:
        MIGRATION_HELPERS.append(os.posix_spawn(echo, ["echo", "0"], {}, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, mine[0] + "/cgroup.procs", os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]))
    except (OSError, IndexError):
        pass


def reap_migration_helpers():
    """After the placement write (they are done) and at the end of every call."""
    while MIGRATION_HELPERS:
        reap(MIGRATION_HELPERS.pop())


# ===========================================================================
# 12. Cgroups: device eBPF and the systemd driver
# ===========================================================================
# Contract. cgroup v2 has no devices.allow: the kernel asks a
# BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. device_program()
# assembles one from the effective rules (pure; the unit tests run it in an
# eBPF interpreter), attach_device_program() loads it with bpf(BPF_PROG_LOAD)
# and attaches it with BPF_F_ALLOW_MULTI (so nested runtimes can add theirs)
# before detaching the programs it replaces, as runc does on update.
# This is eBPF (64-bit registers, 8-byte instructions), not the classic BPF of
# the seccomp compiler in section 13, so it has its own assembler.
#
# The systemd driver puts the container in a transient scope (Delegate=yes)
# started over D-Bus (as root on systemd's private socket, as runc does; else
# on the system bus): DBusConnection is a minimal client
# (SASL EXTERNAL, the marshalling of the types StartTransientUnit needs).
# Limits go both into unit properties (so systemd does not reset them on a
# daemon-reload) and through cgroupfs like the cgroupfs driver.


# --- device rules ---------------------------------------------------------------
# runc appends its own list of always-allowed devices to the config's rules
# (engines send a full list anyway, starting with deny-all). minirun does the
# same so a config without rules still gets a device cgroup: deny everything
# except mknod (the node is useless without open) and the devices every
# container gets. The host console (5:1) is NOT in it: /dev/console inside is
# a bind of a pty (136:*). Later rules win, as in runc's rule emulator.
# A node listed in linux.devices gets no rule of its own: access comes from
# linux.resources.devices alone, as in runc and crun. Docker and podman send
# an allow rule with each --device; a config that denies everything but lists
# /dev/kmsg must not be able to read it.

DEFAULT_DEVICE_RULES = (
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"),     # null, zero, full
    ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"), ("c", 5, 0, "rwm"),     # random, urandom, tty
    ("c", 5, 2, "rwm"), ("c", 136, None, "rwm"),                    # ptmx, pts/*
    ("c", 10, 200, "rwm"),                                          # net/tun, as runc allows it
)


def effective_device_rules(rules):
    """[deny all] + the config's rules + runc's defaults."""
    out = [DeviceRule(False)]
    out += list(rules or ())
    out += [DeviceRule(True, kind, major, minor, access) for kind, major, minor, access in DEFAULT_DEVICE_RULES]
    return out


def v1_device_writes(rules):
    """The (file, line) pairs that set a v1 devices cgroup to `rules`."""
    writes = []
    for rule in rules:
        if rule.kind == "a":
            # "a" resets the cgroup's default and drops its exceptions; the kernel
            # wants it without numbers.
            writes.append(("devices.allow" if rule.allow else "devices.deny", "a"))
            continue
        line = "%s %s:%s %s" % (rule.kind, "*" if rule.major is None else rule.major,
                                "*" if rule.minor is None else rule.minor, rule.access)
        writes.append(("devices.allow" if rule.allow else "devices.deny", line))
    return writes


# --- the device program (cgroup v2) ------------------------------------------------


# struct bpf_insn opcodes used (class | op | source)
EBPF_LDX_MEM_W = 0x61    # BPF_LDX | BPF_MEM | BPF_W
EBPF_MOV64_K = 0xb7      # BPF_ALU64 | BPF_MOV | BPF_K
EBPF_MOV64_X = 0xbf      # BPF_ALU64 | BPF_MOV | BPF_X
EBPF_AND64_K = 0x57      # BPF_ALU64 | BPF_AND | BPF_K
EBPF_RSH64_K = 0x77      # BPF_ALU64 | BPF_RSH | BPF_K
EBPF_JNE_K = 0x55        # BPF_JMP | BPF_JNE | BPF_K
EBPF_JNE_X = 0x5d        # BPF_JMP | BPF_JNE | BPF_X
EBPF_EXIT = 0x95         # BPF_JMP | BPF_EXIT
# struct bpf_cgroup_dev_ctx { u32 access_type /* access << 16 | type */; u32 major; u32 minor; }
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2
BPF_DEVCG_ACC = {"m": 1, "r": 2, "w": 4}


class EbpfAssembler:
    """Instructions as (code, dst, src, off, imm); jumps to labels are resolved
    by assemble() (an offset counts instructions after the jump)."""

    def __init__(self):
        self.insns, self.labels, self.fixups = [], {}, []

    def emit(self, code, dst=0, src=0, off=0, imm=0):
        self.insns.append([code, dst, src, off, imm])

    def jump(self, code, dst, imm, label, src=0):
        self.fixups.append((len(self.insns), label))
        self.emit(code, dst, src, 0, imm)

    def label(self, name):
        self.labels[name] = len(self.insns)

    def program(self):
        for index, name in self.fixups:
            self.insns[index][3] = self.labels[name] - index - 1
        return [tuple(i) for i in self.insns]


def ebpf_bytes(program):
    """(code, dst, src, off, imm) tuples -> the kernel's struct bpf_insn array."""
    import struct
    return b"".join(struct.pack("<BBhi", code, (src << 4) | dst, off, imm) for code, dst, src, off, imm in program)


def allows_every_device(rules):
    """True when the rules (later ones win) leave every device allowed: an
    allow-all rule with no deny after it."""
    for rule in reversed(rules):
        if not rule.allow:
            return False
        if rule.kind == "a" and rule.major is None and rule.minor is None and set(rule.access) == set("rwm"):
            return True
    return False


def device_program(rules):
    """Effective device rules -> an eBPF program returning 1 (allow) or 0 (deny).
    Later rules win, so the program tests them last to first and the first match
    decides; a rule matching everything ends the list (it is the default)."""
    asm = EbpfAssembler()
    asm.emit(EBPF_LDX_MEM_W, 2, 1, 0)          # r2 = access_type
    asm.emit(EBPF_MOV64_X, 3, 2)               # r3 = access_type
    asm.emit(EBPF_AND64_K, 2, imm=0xFFFF)      # r2 = device type
    asm.emit(EBPF_RSH64_K, 3, imm=16)          # r3 = requested access bits
    asm.emit(EBPF_LDX_MEM_W, 4, 1, 4)          # r4 = major
    asm.emit(EBPF_LDX_MEM_W, 5, 1, 8)          # r5 = minor
    default = 0
    for n, rule in enumerate(reversed(rules)):
        every_access = set(rule.access) == set("rwm")
        if rule.kind == "a" and rule.major is None and rule.minor is None and every_access:
            default = 1 if rule.allow else 0
            break
        skip = "next%d" % n
        if rule.kind != "a":
            asm.jump(EBPF_JNE_K, 2, BPF_DEVCG_DEV_BLOCK if rule.kind == "b" else BPF_DEVCG_DEV_CHAR, skip)
        if not every_access:
            bits = sum(BPF_DEVCG_ACC[ch] for ch in rule.access)
            asm.emit(EBPF_MOV64_X, 1, 3)               # r1 = requested
            asm.emit(EBPF_AND64_K, 1, imm=bits)        # r1 &= allowed by the rule
            asm.jump(EBPF_JNE_X, 1, 0, skip, src=3)    # the rule covers only part of the request
        if rule.major is not None:
            asm.jump(EBPF_JNE_K, 4, rule.major, skip)
        if rule.minor is not None:
            asm.jump(EBPF_JNE_K, 5, rule.minor, skip)
        asm.emit(EBPF_MOV64_K, 0, imm=1 if rule.allow else 0)
        asm.emit(EBPF_EXIT)
        asm.label(skip)
    asm.emit(EBPF_MOV64_K, 0, imm=default)
    asm.emit(EBPF_EXIT)
    return asm.program()


# bpf(2) commands and constants
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
BPF_SYSCALL = {"x86_64": 321, "aarch64": 280}

_BPF = None


def bpf(cmd, attr):
    """bpf(cmd, attr, len(attr)) through ctypes, set up on first use; attr is a
    mutable ctypes buffer. Returns the result or raises OSError."""
    global _BPF
    import ctypes
    if _BPF is None:
        number = BPF_SYSCALL.get(os.uname().machine)
        if number is None:
            raise Error("cgroups: bpf() on %s is not supported" % os.uname().machine)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _BPF = (libc.syscall, number)
    syscall, number = _BPF
    result = syscall(ctypes.c_long(number), ctypes.c_long(cmd), attr, ctypes.c_long(ctypes.sizeof(attr)))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def attach_device_program(cgroup_dir, program, field="linux.resources.devices"):
    import ctypes
    import struct
    code = ebpf_bytes(program)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)

    def load():
        attr = ctypes.create_string_buffer(struct.pack(
            "<IIQQIIQ", BPF_PROG_TYPE_CGROUP_DEVICE, len(program), ctypes.addressof(insns),
            ctypes.addressof(license_), 1, len(log), ctypes.addressof(log)), 128)
        return bpf(BPF_PROG_LOAD, attr)

    try:
        try:
            prog = load()
        except OSError as exc:
            if exc.errno != 1:      # EPERM: kernels before 5.11 charge BPF to RLIMIT_MEMLOCK
                raise
            import resource
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            prog = load()
    except OSError as exc:
        verifier = log.value.decode(errors="replace").strip().splitlines()
        raise Error("%s: loading the device eBPF program: %s%s" % (
            field, os_error_text(exc), (" (" + verifier[-1] + ")") if verifier else "")) from None
    cgroup = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = _query_device_programs(cgroup)
        attr = ctypes.create_string_buffer(struct.pack("<IIII", cgroup, prog, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI), 128)
        try:
            bpf(BPF_PROG_ATTACH, attr)
        except OSError as exc:
            raise Error("%s: attaching the device eBPF program to %s: %s" % (field, cgroup_dir, os_error_text(exc))) from None
        for prog_id in old:
            try:
                old_fd = bpf(BPF_PROG_GET_FD_BY_ID, ctypes.create_string_buffer(struct.pack("<I", prog_id), 128))
            except OSError:
                continue
            try:
                bpf(BPF_PROG_DETACH, ctypes.create_string_buffer(
                    struct.pack("<IIII", cgroup, old_fd, BPF_CGROUP_DEVICE, 0), 128))
            except OSError:
                pass
            finally:
                os.close(old_fd)
    finally:
        os.close(cgroup)
        os.close(prog)


def _query_device_programs(cgroup_fd):
    """Ids of the device programs attached to this cgroup itself."""
    import ctypes
    import struct
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(struct.pack("<IIIIQI", cgroup_fd, BPF_CGROUP_DEVICE, 0, 0,
                                                   ctypes.addressof(ids), 64), 128)
    try:
        bpf(BPF_PROG_QUERY, attr)
    except OSError:
        return []
    count = struct.unpack_from("<I", attr.raw, 24)[0]     # query.prog_cnt
    return list(ids[:count])


# --- a minimal D-Bus client ------------------------------------------------------

DBUS_METHOD_CALL, DBUS_METHOD_RETURN, DBUS_ERROR, DBUS_SIGNAL = 1, 2, 3, 4
DBUS_FIELDS = {"path": (1, "o"), "interface": (2, "s"), "member": (3, "s"), "error_name": (4, "s"),
               "reply_serial": (5, "u"), "destination": (6, "s"), "sender": (7, "s"), "signature": (8, "g")}
_DBUS_FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4), "u": ("I", 4),
               "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8), "h": ("I", 4)}


def _dbus_split(signature):
    """'sa(sv)u' -> ['s', 'a(sv)', 'u']: complete types."""
    out, i = [], 0
    while i < len(signature):
        j = i
        while signature[j] == "a":
            j += 1
        if signature[j] in "({":
            depth = 0
            while True:
                depth += {"(": 1, "{": 1, ")": -1, "}": -1}.get(signature[j], 0)
                j += 1
                if depth == 0:
                    break
        else:
            j += 1
        out.append(signature[i:j])
        i = j
    return out


def _dbus_alignment(sig):
    if sig[0] in "({":
        return 8
    if sig[0] == "a" or sig[0] in "sob":
        return 4
    if sig[0] in "gvy":
        return 1
    return _DBUS_FIXED[sig[0]][1]


def dbus_marshal(signature, values, buf=None):
    """Append `values` (one per complete type in `signature`) to bytearray buf,
    little-endian, aligned from the buffer's start. Variants are (signature, value)."""
    import struct
    buf = bytearray() if buf is None else buf

    def pad(n):
        buf.extend(b"\0" * (-len(buf) % n))

    def put(sig, value):
        code = sig[0]
        if code in _DBUS_FIXED:
            fmt, size = _DBUS_FIXED[code]
            pad(size)
            buf.extend(struct.pack("<" + fmt, int(value) if code != "d" else value))
        elif code in "so":
            data = value.encode()
            pad(4)
            buf.extend(struct.pack("<I", len(data)) + data + b"\0")
        elif code == "g":
            data = value.encode()
            buf.extend(bytes([len(data)]) + data + b"\0")
        elif code == "v":
            inner, inner_value = value
            put("g", inner)
            put(inner, inner_value)
        elif code == "a":
            element = sig[1:]
            pad(4)
            at = len(buf)
            buf.extend(b"\0\0\0\0")
            pad(_dbus_alignment(element))
            start = len(buf)
            items = value.items() if element[0] == "{" else value
            for item in items:
                put(element, item)
            struct.pack_into("<I", buf, at, len(buf) - start)
        elif code in "({":
            pad(8)
            for inner, item in zip(_dbus_split(sig[1:-1]), value):
                put(inner, item)
        else:
            raise ValueError("D-Bus type %r is not supported" % code)

    for sig, value in zip(_dbus_split(signature), values):
        put(sig, value)
    return buf


def dbus_unmarshal(signature, data, offset=0):
    """-> (values, offset). Arrays come back as lists, structs as tuples,
    dict entries as (key, value) tuples, variants as (signature, value)."""
    import struct

    def align(pos, n):
        return pos + (-pos % n)

    def get(sig, pos):
        code = sig[0]
        if code in _DBUS_FIXED:
            fmt, size = _DBUS_FIXED[code]
            pos = align(pos, size)
            return struct.unpack_from("<" + fmt, data, pos)[0], pos + size
        if code in "so":
            pos = align(pos, 4)
            length = struct.unpack_from("<I", data, pos)[0]
            return bytes(data[pos + 4:pos + 4 + length]).decode(), pos + 5 + length
        if code == "g":
            length = data[pos]
            return bytes(data[pos + 1:pos + 1 + length]).decode(), pos + 2 + length
        if code == "v":
            inner, pos = get("g", pos)
            value, pos = get(inner, pos)
            return (inner, value), pos
        if code == "a":
            pos = align(pos, 4)
            length = struct.unpack_from("<I", data, pos)[0]
            pos = align(pos + 4, _dbus_alignment(sig[1:]))
            end, items = pos + length, []
            while pos < end:
                item, pos = get(sig[1:], pos)
                items.append(item)
            return items, pos
        if code in "({":
            pos, items = align(pos, 8), []
            for inner in _dbus_split(sig[1:-1]):
                item, pos = get(inner, pos)
                items.append(item)
            return tuple(items), pos
        raise ValueError("D-Bus type %r is not supported" % code)

    values = []
    for sig in _dbus_split(signature):
        value, offset = get(sig, offset)
        values.append(value)
    return values, offset


def dbus_message(kind, serial, fields, signature="", body=(), flags=0):
    """One D-Bus message: header (fields in DBUS_FIELDS order), padding to 8, body."""
    import struct
    payload = bytes(dbus_marshal(signature, body)) if signature else b""
    header_fields = []
    for name, (code, sig) in DBUS_FIELDS.items():
        value = signature if name == "signature" else fields.get(name)
        if value:
            header_fields.append((code, (sig, value)))
    buf = bytearray(struct.pack("<cBBBII", b"l", kind, flags, 1, len(payload), serial))
    dbus_marshal("a(yv)", [header_fields], buf)
    buf.extend(b"\0" * (-len(buf) % 8))
    return bytes(buf) + payload


def dbus_parse_message(data):
    """A complete message -> (kind, serial, fields by name, body values); None if incomplete."""
    import struct
    if len(data) < 16:
        return None
    if data[:1] != b"l":
        raise Error("D-Bus: big-endian messages are not supported")
    kind, _, _, body_length, serial, fields_length = struct.unpack_from("<BBBIII", data, 1)
    body_start = 16 + fields_length + (-(16 + fields_length) % 8)
    if len(data) < body_start + body_length:
        return None
    (raw_fields,), _ = dbus_unmarshal("a(yv)", data, 12)
    names = {code: name for name, (code, _) in DBUS_FIELDS.items()}
    fields = {names[code]: value for code, (_, value) in raw_fields if code in names}
    body = []
    if fields.get("signature"):
        body, _ = dbus_unmarshal(fields["signature"], data[:body_start + body_length], body_start)
    return kind, serial, fields, body, body_start + body_length


SYSTEM_BUS_ADDRESS = "unix:path=/run/dbus/system_bus_socket"
SYSTEMD_PRIVATE_SOCKET = "/run/systemd/private"


def dbus_connect(address=None, timeout=30.0, user=False):
    """An authenticated DBusConnection to systemd: at `address`, or the system
    bus that DBUS_SYSTEM_BUS_ADDRESS names, or -- as root -- systemd's own
    private socket, which is what runc (go-systemd) uses as root: it needs no
    dbus-daemon, which minimal hosts (and the VM lab's guests) do not run.
    Else the system bus. user: the calling user's own systemd instance, at its
    private socket $XDG_RUNTIME_DIR/systemd/private (no session bus needed
    either), else the session bus. A function, not the constructor: socket is
    imported only by commands that talk to systemd, and no child process
    reaches this name."""
    import socket
    if user:
        private = systemd_user_private_socket()
        if not address and private and os.path.exists(private):
            return DBusConnection(socket, "unix:path=" + private, timeout, hello=False)
        runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
        address = address or os.environ.get("DBUS_SESSION_BUS_ADDRESS") or \
            ("unix:path=%s/bus" % runtime_dir if runtime_dir else None)
        if not address:
            raise Error("--systemd-cgroup: no systemd user instance to reach: "
                        "neither XDG_RUNTIME_DIR nor DBUS_SESSION_BUS_ADDRESS is set")
        return DBusConnection(socket, address, timeout)
    address = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    if not address and os.geteuid() == 0 and os.path.exists(SYSTEMD_PRIVATE_SOCKET):
        # a peer-to-peer connection: systemd itself answers, there is no bus to say Hello to
        return DBusConnection(socket, "unix:path=" + SYSTEMD_PRIVATE_SOCKET, timeout, hello=False)
    return DBusConnection(socket, address or SYSTEM_BUS_ADDRESS, timeout)


def uid_outside(uid_map="/proc/self/uid_map"):
    """Our euid as the initial user namespace sees it: what the peer of a unix
    socket learns from SO_PEERCRED and so what SASL EXTERNAL must claim (rootless
    podman runs the runtime as root of a user namespace)."""
    euid = os.geteuid()
    try:
        with open(uid_map) as f:
            for line in f:
                inside, outside, count = (int(x) for x in line.split())
                if inside <= euid < inside + count:
                    return outside + euid - inside
    except (OSError, ValueError):
        pass
    return euid


def systemd_user_private_socket():
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    return runtime_dir + "/systemd/private" if runtime_dir else None


def systemd_manager_cgroup(bus):
    """The cgroup of the systemd instance at the other end of `bus` (the
    Manager's ControlGroup property: "" for the system instance, which owns the
    root, user@UID.service's cgroup for a user's)."""
    (value,) = bus.call("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.DBus.Properties",
                        "Get", "ss", ["org.freedesktop.systemd1.Manager", "ControlGroup"])
    return value[1] or "/"


class DBusConnection:
    """A blocking connection to a bus (or straight to systemd): SASL EXTERNAL as
    our uid, Hello where there is a bus, method calls."""

    def __init__(self, socket, address, timeout, hello=True):
        path = None
        for part in address.split(";")[0].partition(":")[2].split(","):
            key, _, value = part.partition("=")
            if key == "path":
                path = value
            elif key == "abstract":
                path = "\0" + value
        if not address.startswith("unix:") or not path:
            raise Error("systemd: unsupported D-Bus address %r" % address)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(path)
            self.sock.sendall(b"\0AUTH EXTERNAL " + str(uid_outside()).encode().hex().encode() + b"\r\n")
            reply = self._line()
            if not reply.startswith(b"OK "):
                raise Error("systemd: the system bus refused authentication: %r" % reply)
            self.sock.sendall(b"BEGIN\r\n")
        except OSError as exc:
            self.sock.close()
            raise Error("systemd: cannot reach D-Bus at %s (is systemd running?): %s"
                        % (path, os_error_text(exc))) from None
        self.serial, self.buffer = 0, b""
        if hello:
            self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")

    def _line(self):
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise Error("systemd: the system bus closed the connection")
            data += chunk
        return data

    def close(self):
        self.sock.close()

    def call(self, destination, path, interface, member, signature="", body=()):
        self.serial += 1
        serial = self.serial
        fields = {"path": path, "interface": interface, "member": member, "destination": destination}
        try:
            self.sock.sendall(dbus_message(DBUS_METHOD_CALL, serial, fields, signature, body))
            while True:
                parsed = dbus_parse_message(self.buffer)
                if parsed is None:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise Error("systemd: the system bus closed the connection")
                    self.buffer += chunk
                    continue
                kind, _, reply_fields, reply_body, used = parsed
                self.buffer = self.buffer[used:]
                if reply_fields.get("reply_serial") != serial:
                    continue        # signals and other noise
                if kind == DBUS_ERROR:
                    detail = reply_body[0] if reply_body and isinstance(reply_body[0], str) else ""
                    raise Error("systemd: %s: %s %s" % (member, reply_fields.get("error_name"), detail))
                return reply_body
        except OSError as exc:
            raise Error("systemd: D-Bus %s: %s" % (member, os_error_text(exc))) from None


def expand_slice(slice_name):
    """systemd's slice naming: a-b-c.slice lives at /a.slice/a-b.slice/a-b-c.slice."""
    if not slice_name.endswith(".slice") or "/" in slice_name:
        raise Error("linux.cgroupsPath: %r is not a slice name" % slice_name)
    stem = slice_name[:-len(".slice")]
    if stem == "-":
        return "/"
    if not stem or stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise Error("linux.cgroupsPath: %r is not a valid slice name" % slice_name)
    path, prefix = "", ""
    for part in stem.split("-"):
        prefix = prefix + "-" + part if prefix else part
        path += "/" + prefix + ".slice"
    return path


def parse_systemd_path(cgroups_path, container_id, default_slice="system.slice"):
    """slice:prefix:name -> (slice, unit name, cgroup path below the manager's
    root); empty -> <default_slice>:minirun:ID. A rootless user's default is
    user.slice of its own systemd instance, as runc's."""
    if not cgroups_path:
        cgroups_path = default_slice + ":minirun:" + container_id
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise Error("linux.cgroupsPath: %r: the systemd driver expects slice:prefix:name" % cgroups_path)
    slice_name, prefix, name = parts
    slice_name = slice_name or default_slice
    if name.endswith(".slice"):
        raise Error("linux.cgroupsPath: %r: a slice as the container's unit is not supported" % cgroups_path)
    unit = "%s-%s.scope" % (prefix, name) if prefix else name + ".scope"
    if not name or "/" in unit:
        raise Error("linux.cgroupsPath: %r: bad unit name" % cgroups_path)
    return slice_name, unit, expand_slice(slice_name).rstrip("/") + "/" + unit


SYSTEMD_BUS = ("org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")


def systemd_unit_properties(res, layout_kind):
    """The limits systemd knows as unit properties (a(sv)); the rest go through cgroupfs."""
    props = []
    m, c = res.memory, res.cpu
    unlimited = (1 << 64) - 1
    if m.limit is not None:
        props.append(("MemoryMax" if layout_kind == "v2" else "MemoryLimit", ("t", unlimited if m.limit == -1 else m.limit)))
    if m.reservation is not None and layout_kind == "v2":
        props.append(("MemoryLow", ("t", unlimited if m.reservation == -1 else m.reservation)))
    if c.shares is not None:
        props.append(("CPUWeight", ("t", shares_to_weight(c.shares))) if layout_kind == "v2"
                     else ("CPUShares", ("t", c.shares)))
    if c.quota is not None and c.quota != -1:
        period = c.period or 100000
        # systemd takes quota per second, rounded up to a whole 10 ms as it stores it
        per_sec = c.quota * 1_000_000 // period
        props.append(("CPUQuotaPerSecUSec", ("t", ((per_sec + 9999) // 10000) * 10000)))
    if c.period is not None:
        props.append(("CPUQuotaPeriodUSec", ("t", c.period)))
    if res.pids is not None:
        props.append(("TasksMax", ("t", unlimited if res.pids == -1 else res.pids)))
    if res.block_io.weight is not None:
        props.append(("IOWeight", ("t", blkio_weight_to_io_weight(res.block_io.weight))) if layout_kind == "v2"
                     else ("BlockIOWeight", ("t", res.block_io.weight)))
    return props


class SystemdCgroupManager(CgroupfsManager):
    """A transient scope unit per container. systemd needs a process to start a
    scope, so add() of the first pid starts it; later pids (exec) and all limits
    go through cgroupfs, in the scope's own directories (Delegate=yes makes them ours)."""

    driver = "systemd"

    def __init__(self, layout_kind, dirs, slice_name, unit, started=False, user=False, rootless=False):
        super().__init__(layout_kind, dirs, rootless)
        self.slice, self.unit, self.started = slice_name, unit, bool(started)
        self.user = user        # the calling user's systemd instance (rootless), not the system's
        self.pending = None

    def to_state(self):
        state = super().to_state()
        state.update(slice=self.slice, unit=self.unit, started=self.started, user=self.user)
        # A unit of its own (StartTransientUnit refuses a name already taken):
        # its directories are the container's.
        state["made"] = [d for d, _, _ in self.dirs] if self.started else []
        return state

    def _bus(self):
        return dbus_connect(user=self.user)

    def create(self):
        # systemd makes the scope's directories when add() starts it; a new
        # scope in a frozen slice would start frozen (see check_placeable).
        self.check_placeable()

    def apply(self, res, field="linux.resources"):
        if not self.started:
            self.pending = (res, field)      # applied once the scope exists
            return
        super().apply(res, field)

    def scope_properties(self, pid, res=None):
        props = [("Description", ("s", "minirun container " + self.unit)),
                 ("Slice", ("s", self.slice)), ("Delegate", ("b", True)),
                 ("PIDs", ("au", [pid])), ("DefaultDependencies", ("b", False))]
        if res is not None:
            props += systemd_unit_properties(res, self.layout)
        return props

    def add(self, pid):
        if self.started:
            return super().add(pid)
        bus = self._bus()
        try:
            res = self.pending[0] if self.pending else None
            bus.call(*SYSTEMD_BUS, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                     [self.unit, "replace", self.scope_properties(pid, res), []])
        finally:
            bus.close()
        self.started = True
        # The job runs asynchronously: wait until the pid is in the scope.
        waited = 0.0
        while self.unit not in _read("/proc/%d/cgroup" % pid):
            if waited > 10:
                hint = ""
                if self.user:
                    # The user's instance may move only processes inside its
                    # own subtree; others it asks the system instance to move,
                    # over the system bus.
                    hint = (" (the user's systemd could not move it there: run the runtime inside that instance's"
                            " cgroup, e.g. under `systemd-run --user --scope`, or where it can reach the system bus)")
                raise Error("systemd: %d did not join %s%s" % (pid, self.unit, hint))
            _sleep(0.01)
            waited += 0.01
        # Hierarchies systemd does not manage (v1 controllers without accounting);
        # the slices' subtree_control is systemd's to set (Delegate=yes does).
        self._make_dirs(enable_controllers=False)
        super().add(pid)
        if self.pending:
            res, field = self.pending
            self.pending = None
            super().apply(res, field)

    def update(self, res, field="resources"):
        props = systemd_unit_properties(res, self.layout)
        if props and self.started:
            bus = self._bus()
            try:
                bus.call(*SYSTEMD_BUS, "SetUnitProperties", "sba(sv)", [self.unit, True, props])
            finally:
                bus.close()
        super().update(res, field)

    def destroy(self):
        if self.started:
            bus = self._bus()
            try:
                bus.call(*SYSTEMD_BUS, "StopUnit", "ss", [self.unit, "replace"])
            except Error as exc:
                # An empty transient scope is systemd's to collect anyway: a
                # reply that does not come (seen under load in the VM lab, as
                # systemd handles the scope's emptying) is only a warning then.
                if "NoSuchUnit" not in str(exc):
                    if self.pids():
                        raise
                    LOG.warning("%s (the scope is empty; systemd removes it)" % exc)
            finally:
                bus.close()
        super().destroy()


# ===========================================================================
# 13. Security: capabilities, seccomp, LSMs
# ===========================================================================
# seccomp is compiled here, in Python, to classic BPF: no libseccomp. The
# compiled program is a decision made by `create` before clone; the init only
# loads it, as late as it can. LSM labels are written to /proc/self/attr; a
# label asked for on a host without that LSM is refused, never skipped.
# Capability masks are planned here too; applying credentials, capabilities
# and the filter is process setup (section 16).

# SCMP_ARCH_* -> (syscall table, AUDIT_ARCH_*, bit set in the syscall number,
# 64-bit arguments). x32 shares x86_64's audit arch; its syscalls carry
# __X32_SYSCALL_BIT, so an x86_64 filter must tell the two apart.
SECCOMP_ARCHES = {
    "SCMP_ARCH_X86_64": ("x86_64", 0xC000003E, 0, True),
    "SCMP_ARCH_X86": ("x86", 0x40000003, 0, False),
    "SCMP_ARCH_X32": ("x32", 0xC000003E, 0x40000000, False),
    "SCMP_ARCH_AARCH64": ("aarch64", 0xC00000B7, 0, True),
    "SCMP_ARCH_ARM": ("arm", 0x40000028, 0, False),
}
NATIVE_SECCOMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
BPF_MAX_INSTRUCTIONS = 4096

# Classic BPF opcodes the compiler uses.
BPF_LD_W_ABS, BPF_ALU_AND_K, BPF_JA = 0x20, 0x54, 0x05
BPF_JEQ, BPF_JGT, BPF_JGE, BPF_RET_K = 0x15, 0x25, 0x35, 0x06


class BpfAssembler:
    """Builds a classic BPF program from its last instruction backwards.

    Jumps in classic BPF only go forward, by at most 255 instructions for a
    conditional jump. Emitting backwards means every target exists when a jump
    to it is written, so its offset is known at once; a target out of reach
    is reached through an unconditional `ja` (32-bit offset) placed right
    after the branch. Labels are indexes from the end of the program.
    """

    def __init__(self):
        self.reversed = []
        self.returns = {}

    def _emit(self, code, jt, jf, k):
        self.reversed.append((code, jt, jf, k & 0xFFFFFFFF))
        return len(self.reversed) - 1

    def _offset(self, label):
        return len(self.reversed) - 1 - label

    def load(self, offset):
        return self._emit(BPF_LD_W_ABS, 0, 0, offset)

    def and_mask(self, mask):
        return self._emit(BPF_ALU_AND_K, 0, 0, mask)

    def ret(self, value):
        if value not in self.returns:
            self.returns[value] = self._emit(BPF_RET_K, 0, 0, value)
        return self.returns[value]

    def jump(self, label):
        return self._emit(BPF_JA, 0, 0, self._offset(label))

    def _reach(self, label):
        """A label within a conditional jump's reach that does what `label` does."""
        if self._offset(label) <= 255:
            return label
        code, _, _, k = self.reversed[label]
        if code == BPF_RET_K:  # a fresh copy of a far `ret` costs no more than a `ja`, and no hop
            self.returns[k] = self._emit(BPF_RET_K, 0, 0, k)
            return self.returns[k]
        return self.jump(label)

    def branch(self, code, k, if_true, if_false):
        if_true = self._reach(if_true)
        if_false = self._reach(if_false)
        if_true = self._reach(if_true)  # if_false's trampoline may have pushed it out of reach
        return self._emit(code, self._offset(if_true), self._offset(if_false), k)

    def program(self):
        return list(reversed(self.reversed))


def syscall_table(arch):
    """name -> number for one architecture, from the tables at the end of this file."""
    table, number = {}, 0
    for token in SYSCALL_TABLES[arch].split():
        if token[0] == "@":
            number = int(token[1:])
            continue
        table[token] = number
        number += 1
    return table


def seccomp_arches(profile, machine):
    """The SCMP_ARCH_* names to filter for: the native one always (libseccomp's
    rule), plus the listed ones this file knows. An arch it has no table for
    cannot run on this host anyway; its syscalls meet the bad-arch action."""
    native = NATIVE_SECCOMP_ARCH.get(machine)
    if native is None:
        raise ConfigError("linux.seccomp", "no seccomp support for this machine (%s)" % machine)
    chosen = [native]
    for name in profile.architectures:
        if name in SECCOMP_ARCHES and name not in chosen:
            chosen.append(name)
    return chosen


def compile_seccomp(profile, machine):
    """linux.seccomp -> a list of (code, jt, jf, k) classic BPF instructions.

    Program layout, in execution order:
        ld arch; one jeq per audit arch -> its section; else kill (bad arch)
        section: ld nr; [x86_64: jge X32_SYSCALL_BIT -> the x32 tree]
                 a binary search over intervals of syscall numbers, each
                 interval leading to one block (or to the default action)
        block:   the rules deciding that syscall (see syscall_rules), in
                 order; the first whose conditions hold (condition_groups)
                 gives its action, else the default
    A number above every syscall the profile names on that arch lands on
    ENOSYS instead of the default (see newer_syscalls_get_enosys).
    A syscall costs a handful of comparisons, whatever the profile's size.
    """
    asm = BpfAssembler()
    default = asm.ret(profile.default_action)
    bad_arch = asm.ret(SECCOMP_RET_KILL_PROCESS)
    enosys = asm.ret(SECCOMP_RET_ERRNO_ENOSYS) if newer_syscalls_get_enosys(profile) else None
    arches = seccomp_arches(profile, machine)
    blocks = {}
    trees = {}
    for name in arches:
        table_name, audit, bit, wide = SECCOMP_ARCHES[name]
        trees[name] = _emit_syscall_tree(asm, profile, syscall_table(table_name), bit, wide, default, blocks,
                                         enosys)
    sections = []
    for name in arches:
        table_name, audit, bit, wide = SECCOMP_ARCHES[name]
        if audit in (a for a, _ in sections):
            continue
        if audit == SECCOMP_ARCHES["SCMP_ARCH_X86_64"][1]:
            x32 = trees.get("SCMP_ARCH_X32", bad_arch)
            native = trees.get("SCMP_ARCH_X86_64", bad_arch)
            asm.branch(BPF_JGE, X32_SYSCALL_BIT, x32, native)
        else:
            asm.jump(trees[name])
        sections.append((audit, asm.load(0)))  # seccomp_data.nr
    next_check = bad_arch
    for audit, start in reversed(sections):
        next_check = asm.branch(BPF_JEQ, audit, start, next_check)
    asm.load(4)  # seccomp_data.arch
    program = asm.program()
    if len(program) > BPF_MAX_INSTRUCTIONS:
        raise ConfigError("linux.seccomp", "the compiled filter has %d instructions, over the kernel's limit of %d"
                          % (len(program), BPF_MAX_INSTRUCTIONS))
    return program


SECCOMP_RET_ERRNO_ENOSYS = 0x00050000 | 38


def newer_syscalls_get_enosys(profile):
    """Does a syscall newer than the profile get ENOSYS rather than the default?

    A profile written before clone3, faccessat2 or openat2 existed refuses
    them with its default action, typically EPERM, and a libc probing the new
    call then fails instead of falling back to the old one: only ENOSYS means
    "not here". Like runc, numbers above the highest syscall the profile
    names on an arch get ENOSYS, unless the default lets calls through
    (ALLOW, LOG, and TRACE, whose tracer handles new calls itself).
    """
    permissive = {SECCOMP_ACTIONS[name] for name in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")}
    return profile.default_action not in permissive and \
        profile.default_action & 0xFFFF0000 != SECCOMP_ACTIONS["SCMP_ACT_TRACE"]


def last_named_syscall(profile, table):
    """The highest number in `table` of any name in any rule (whatever its
    action: a rule dropped as equal to the default still says the profile
    knows that syscall), or None when the profile names none on this arch."""
    numbers = [table[name] for rule in profile.rules for name in rule.names if name in table]
    return max(numbers) if numbers else None


def syscall_rules(profile, table):
    """number -> the indexes of the rules that decide it, in the order they are tried.

    What runc and libseccomp make of a profile: a rule whose action is the
    default action is dropped (runc), and an unconditional rule for a
    syscall overrides its conditional ones whatever their order (libseccomp
    merges rules per syscall); otherwise conditional rules are tried in
    profile order and the first whose conditions all hold decides.
    """
    rules_by_number = {}
    for index, rule in enumerate(profile.rules):
        if rule.action == profile.default_action:
            continue
        for name in rule.names:
            number = table.get(name)
            if number is None:
                continue  # unknown to this arch: skipped, as runc does
            rules = rules_by_number.setdefault(number, [])
            if index not in rules:
                rules.append(index)
    for number, rules in rules_by_number.items():
        unconditional = [i for i in rules if not profile.rules[i].conditions]
        if unconditional:
            rules_by_number[number] = unconditional[:1]
    return rules_by_number


def _emit_syscall_tree(asm, profile, table, bit, wide, default, blocks, enosys=None):
    rules_by_number = {number | bit: rules for number, rules in syscall_rules(profile, table).items()}
    last = last_named_syscall(profile, table)
    newest = None if enosys is None or last is None else last | bit
    intervals = []  # (first number, label): contiguous, from 0 up to 2**32 - 1
    cursor = 0
    for number in sorted(rules_by_number):
        key = (tuple(rules_by_number[number]), wide)
        if key not in blocks:  # syscalls with the same rules share one block
            blocks[key] = _emit_rules(asm, [profile.rules[i] for i in key[0]], wide, default)
        if number > cursor:
            intervals.append((cursor, default))
        intervals.append((number, blocks[key]))
        cursor = number + 1
    if newest is not None:
        if cursor <= newest:
            intervals.append((cursor, default))
        cursor = max(cursor, newest + 1)
        if cursor <= 0xFFFFFFFF:
            intervals.append((cursor, enosys))
    elif cursor <= 0xFFFFFFFF:
        intervals.append((cursor, default))
    merged = []
    for first, label in intervals:  # neighbours with the same block are one interval
        if not merged or merged[-1][1] != label:
            merged.append((first, label))
    return _emit_search(asm, merged)


def _emit_search(asm, intervals):
    """A balanced tree of `jge` over contiguous intervals; the leaves are blocks."""
    if len(intervals) == 1:
        return intervals[0][1]
    middle = len(intervals) // 2
    upper = _emit_search(asm, intervals[middle:])
    lower = _emit_search(asm, intervals[:middle])
    return asm.branch(BPF_JGE, intervals[middle][0], upper, lower)


def condition_groups(conditions):
    """A rule's conditions, grouped by argument in order of first mention.

    A rule matches when every group has a condition that holds: conditions
    on different arguments are ANDed, several on one argument are ORed. That
    is what runc makes of them: libseccomp takes one comparison per argument
    in a rule, so runc adds each condition on a repeated argument as a rule
    of its own ("kill with signal 0 or 18 -> EPERM" is written that way).
    """
    groups = {}
    for condition in conditions:
        groups.setdefault(condition[0], []).append(condition)
    return list(groups.values())


def _emit_rules(asm, rules, wide, default):
    next_rule = default
    for rule in reversed(rules):
        match = asm.ret(rule.action)
        for group in reversed(condition_groups(rule.conditions)):
            alternative = next_rule  # no condition on this argument holds
            for condition in reversed(group):
                alternative = _emit_condition(asm, condition, wide, match, alternative)
            match = alternative
        next_rule = match
    return next_rule


def _emit_condition(asm, condition, wide, match, fail):
    """One argument comparison; 64-bit values are compared as high and low words.

    seccomp_data.args[i] is a u64 at 16 + 8*i, little-endian on every arch
    here: the low word first. 32-bit arches compare the low word only.
    """
    index, op, value, value_two = condition
    low_offset, high_offset = 16 + 8 * index, 20 + 8 * index
    if op in ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE"):  # negations of EQ, GE, GT
        op = {"SCMP_CMP_NE": "SCMP_CMP_EQ", "SCMP_CMP_LT": "SCMP_CMP_GE", "SCMP_CMP_LE": "SCMP_CMP_GT"}[op]
        match, fail = fail, match
    low, high = value & 0xFFFFFFFF, value >> 32
    if op == "SCMP_CMP_MASKED_EQ":
        want_low, want_high = value_two & 0xFFFFFFFF, value_two >> 32
        asm.branch(BPF_JEQ, want_low, match, fail)
        asm.and_mask(low)
        start = asm.load(low_offset)
        if wide:
            asm.branch(BPF_JEQ, want_high, start, fail)
            asm.and_mask(high)
            start = asm.load(high_offset)
        return start
    code = {"SCMP_CMP_EQ": BPF_JEQ, "SCMP_CMP_GT": BPF_JGT, "SCMP_CMP_GE": BPF_JGE}[op]
    asm.branch(code, low, match, fail)
    start = asm.load(low_offset)
    if wide:
        if op == "SCMP_CMP_EQ":
            asm.branch(BPF_JEQ, high, start, fail)
        else:  # high word decides unless equal; then the low word does
            equal_high = asm.branch(BPF_JEQ, high, start, fail)
            asm.branch(BPF_JGT, high, match, equal_high)
        start = asm.load(high_offset)
    return start


class SeccompPlan:
    """What process setup needs to load the filter: bytes, flags, and where to send a listener."""

    __slots__ = ("program", "flags", "notify", "listener_path", "listener_metadata", "no_new_privileges")


def seccomp_flag_supported(name, host):
    """A linux.seccomp.flags entry this kernel takes (what `features` lists as
    supportedFlags). TSYNC needs nothing of it (the process has one thread);
    WAIT_KILLABLE_RECV (5.19) is valid only with NEW_LISTENER, and is asked so."""
    bit = SECCOMP_FILTER_FLAGS[name]
    return bit == 1 or host.seccomp_flag_available(bit | (8 if bit == 32 else 0))


def plan_seccomp(profile, no_new_privileges, host):
    """Compile the filter and check it against this kernel, before any clone."""
    plan = SeccompPlan()
    plan.program = compile_seccomp(profile, os.uname().machine)
    actions = {profile.default_action & 0xFFFF0000} | {rule.action & 0xFFFF0000 for rule in profile.rules}
    for action in sorted(actions):
        if not host.seccomp_action_available(action):
            name = next(k for k, v in SECCOMP_ACTIONS.items() if v == action)
            raise ConfigError("linux.seccomp", "this kernel does not support %s" % name)
    plan.notify = profile.uses_notify()
    plan.flags = 0
    for flag in profile.flags:
        bit = SECCOMP_FILTER_FLAGS[flag]
        if bit == 1:  # TSYNC: the process has a single thread
            continue
        if bit == 32 and not plan.notify:
            LOG.warning("linux.seccomp.flags: %s only applies with SCMP_ACT_NOTIFY and is left out" % flag)
            continue
        if seccomp_flag_supported(flag, host):
            plan.flags |= bit
        else:
            LOG.warning("linux.seccomp.flags: %s is not supported by this kernel and is left out" % flag)
    plan.listener_path = profile.listener_path
    plan.listener_metadata = profile.listener_metadata
    plan.no_new_privileges = no_new_privileges
    return plan


def check_lsm_support(proc, mount_label, host, field="process"):
    """Refuse labels the host cannot enforce: running unconfined is worse than not running."""
    if proc.apparmor_profile and not host.apparmor:
        raise ConfigError(field + ".apparmorProfile",
                          "AppArmor is not enabled on this host; refusing to run without profile %r"
                          % proc.apparmor_profile)
    # The profile is switched to at execve, after `start` (change_onexec), where
    # an unknown name could only kill the process; like runc, say so at create.
    # "unconfined" is AppArmor's name for no profile and is never listed.
    if proc.apparmor_profile and proc.apparmor_profile != "unconfined":
        loaded = host.apparmor_profiles
        if loaded is None:
            raise ConfigError(field + ".apparmorProfile", "cannot list the loaded AppArmor profiles")
        if proc.apparmor_profile not in loaded:
            raise ConfigError(field + ".apparmorProfile", "AppArmor profile %r is not loaded" % proc.apparmor_profile)
    if proc.selinux_label and not host.selinux:
        raise ConfigError(field + ".selinuxLabel", "SELinux is not enabled on this host; refusing to run without label %r"
                          % proc.selinux_label)
    if mount_label and not host.selinux:
        raise ConfigError("linux.mountLabel", "SELinux is not enabled on this host; refusing to run without mount label %r"
                          % mount_label)


def plan_capabilities(proc, host=None, field="process", where=None):
    """{set: bitmask} for the five sets, or None when the config gives none.

    Decided by the runtime before clone, so that a warning about an unknown
    name is logged by the runtime, never from inside the container. Ambient
    capabilities that are not also permitted and inheritable are left out:
    the kernel refuses to raise them, and runc (whose own `spec` writes such
    bundles) ignores them. where(kind) names a set in warnings (plan_process
    passes the exec flag or process.json's own naming).
    """
    where = where or (lambda kind: "%s.capabilities.%s" % (field, kind))
    if not proc.capabilities["_given"]:
        return None
    last = (host or HOST).last_capability
    return effective_ambient({kind: capability_mask(proc.capabilities[kind], where(kind), last)
                              for kind in CAPABILITY_SETS})

# ===========================================================================
# 14. Hooks
# ===========================================================================
# Each hook gets the container state as JSON on stdin, its own args and env,
# and is killed when its timeout passes. prestart/createRuntime/poststart/
# poststop run in the runtime's namespaces (from create, start, delete);
# createContainer and startContainer run from the init, in the container's.


def hook_state(cid, pid, bundle, annotations, status):
    """The container state of the runtime spec, as hooks read it on stdin."""
    state = {"ociVersion": SPEC_VERSION, "id": cid, "status": status, "pid": pid, "bundle": bundle}
    if annotations:
        state["annotations"] = annotations
    return state


def hook_environment(hook):
    """The hook's env, or the runtime's own when the hook gives none (runc)."""
    if hook.env is None:
        return dict(os.environ)
    return dict(entry.partition("=")[::2] for entry in hook.env)


# Go's names of the signals (its syscall table), which its exec.ExitError, and
# so runc's hook errors, print: "signal: killed", "signal: bad system call".
GO_SIGNAL_NAMES = (
    None, "hangup", "interrupt", "quit", "illegal instruction", "trace/breakpoint trap", "aborted",
    "bus error", "floating point exception", "killed", "user defined signal 1", "segmentation fault",
    "user defined signal 2", "broken pipe", "alarm clock", "terminated", "stack fault", "child exited",
    "continued", "stopped (signal)", "stopped", "stopped (tty input)", "stopped (tty output)",
    "urgent I/O condition", "CPU time limit exceeded", "file size limit exceeded", "virtual timer expired",
    "profiling timer expired", "window changed", "I/O possible", "power failure", "bad system call",
)


def go_exit_text(status):
    """A failed child's wait status in Go's words (os.ProcessState.String):
    "exit status 3", "signal: killed", "signal: segmentation fault (core
    dumped)", and "signal: signal 34" past Go's table."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        name = GO_SIGNAL_NAMES[number] if 0 < number < len(GO_SIGNAL_NAMES) else "signal %d" % number
        return "signal: %s%s" % (name, " (core dumped)" if os.WCOREDUMP(status) else "")
    return "exit status %d" % os.waitstatus_to_exitcode(status)


def hook_error(hook, reason):
    """runc's (1.2+) words for a failed hook: "error running prestart hook #0:
    exit status 3, stdout: ..., stderr: ...". The phase and index come from
    the hook's field, hooks.PHASE[I]."""
    phase, _, index = hook.field[len("hooks."):].rstrip("]").partition("[")
    return Error("error running %s hook #%s: %s" % (phase, index, reason))


def run_hook(hook, state, cwd=None, umask=None):
    """Run one hook to completion; raise Error naming it if it fails or times out.

    cwd and umask, when given, are applied in the child before execve:
    createContainer hooks run in the container's root filesystem with umask
    0022 (as runc runs them), whatever the init's own umask is then.

    The failure is worded as runc words it (hook_error): the exit status or
    signal as Go prints it, then the hook's stdout and stderr, each kept in
    its own pipe. A hook that cannot be started at all reports why over a
    close-on-exec pipe, as Go's fork/exec does, so it is not taken for a
    hook that exited 127.

    Feeding stdin, collecting output and waiting for the exit share one poll
    loop, so the timeout holds even for a hook that never reads its stdin.
    """
    import select
    import time

    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
    env = hook_environment(hook)
    pid = os.fork()
    if pid == 0:  # fork, not clone: no namespaces change, and it execs at once
        step = "fork/exec %s" % hook.path
        try:
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # Every fd, also those above 65535, but the close-on-exec report pipe.
            kernel().close_fds_from(3, keep=(fail_w,))
            if cwd is not None:
                step = "chdir %s" % cwd
                os.chdir(cwd)
                step = "fork/exec %s" % hook.path
            if umask is not None:
                os.umask(umask)
            restore_signal_defaults()
            os.execve(hook.path, hook.args, env)
        except BaseException as exc:
            reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
            os.write(fail_w, ("%s: %s" % (step, reason)).encode())
        finally:
            os._exit(127)
    for fd in (stdin_r, out_w, err_w, fail_w):
        os.close(fd)
    pending = json_dumps(state).encode()
    os.set_blocking(stdin_w, False)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(stdin_w, select.POLLOUT)
    outputs = {out_r: b"", err_r: b""}
    for fd in outputs:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    deadline = None if hook.timeout is None else time.monotonic() + hook.timeout
    timed_out = False
    try:
        while True:
            wait = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            events = poller.poll(wait)
            if not events:
                timed_out = True
                os.kill(pid, 9)
                break
            ready = {fd for fd, _ in events}
            if stdin_w in ready:
                try:
                    pending = pending[os.write(stdin_w, pending):]
                except BlockingIOError:
                    pass
                except OSError:  # EPIPE: the hook does not read its stdin, which is fine
                    pending = b""
                if not pending:
                    poller.unregister(stdin_w)
                    os.close(stdin_w)
                    stdin_w = -1
            for fd in outputs:
                if fd in ready:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        poller.unregister(fd)
                    elif len(outputs[fd]) < 65536:
                        outputs[fd] += chunk
            if pidfd in ready:
                break
    finally:
        os.close(pidfd)
        if stdin_w != -1:
            os.close(stdin_w)
    _, status = os.waitpid(pid, 0)
    for fd in outputs:  # what is left in the pipes, without waiting for the hook's own children
        try:
            os.set_blocking(fd, False)
            outputs[fd] += os.read(fd, 65536)
        except OSError:
            pass
        os.close(fd)
    not_started = os.read(fail_r, 4096).decode(errors="replace")
    os.close(fail_r)
    if timed_out:
        raise hook_error(hook, "hook ran past specified timeout of %.1fs" % hook.timeout)
    if not_started:
        raise hook_error(hook, not_started)
    if status != 0:
        # Each stream's tail only: the error is one line in a log an engine shows.
        out, err = (outputs[fd].decode(errors="replace")[-400:] for fd in (out_r, err_r))
        raise hook_error(hook, "%s, stdout: %s, stderr: %s" % (go_exit_text(status), out, err))

# ===========================================================================
# 15. Planning
# ===========================================================================
# `create` and `exec` turn the parsed config, the command's options and the
# host's facts into a complete plan before anything is cloned: which
# namespaces to join and create and how the ids are mapped, every mount with
# its flags resolved, the devices to make (or bind, where mknod is not
# allowed), the sysctl files to write, the capability masks, the compiled
# seccomp program, and the setup of the process itself. Planning is pure: it
# reads the Config, the options and a Host and returns plain objects, so it
# is unit-tested without root against the engines' real configs. Whatever is
# wrong with a config is found here, before any process or mount exists.


class NamespacePlan:
    """join: [(kind, path)] in NAMESPACE_JOIN_ORDER; new_flags: CLONE_NEW* to
    unshare after the user namespace; new_user, new_pid: bools; the id maps as
    the text written to /proc/PID/{uid,gid}_map; deny_setgroups: an
    unprivileged writer must give up setgroups first (the kernel requires it);
    id_map_method: None (no new user namespace), "write" (the maps are written
    to /proc/PID/*_map directly) or "helpers" (newuidmap/newgidmap write them:
    several ranges or subordinate ids, which only a setuid helper may map for
    an unprivileged user); maps_by_unprivileged: the writer is not the host's
    root, so the joiner must be dumpable while its maps are written;
    open_bind_sources: bind sources are opened before the ids change (below)."""

    __slots__ = ("join", "new_flags", "new_user", "new_pid", "uid_map", "gid_map", "deny_setgroups",
                 "time_offsets", "root_uid_mapped", "root_gid_mapped", "id_map_method", "uid_mappings",
                 "gid_mappings", "maps_by_unprivileged", "open_bind_sources")


class RootfsPlan:
    __slots__ = ("root", "readonly", "propagation", "mounts", "devices", "bind_devices", "dev_symlinks",
                 "readonly_after_dev", "masked_paths", "readonly_paths", "cwd", "mount_label", "no_pivot",
                 "cgroup_layout", "use_openat2", "bind_sysfs", "bind_mqueue", "devpts_drop_gid",
                 "bind_source_fds", "idmapped", "mount_trees", "bind_host_cgroup2", "console", "cloned_binds",
                 "made_devices", "device_trees", "own_namespace")

    def trees_from_create(self):
        """Whether `create` sends detached trees (send_mount_trees): one per
        id-mapped mount and cloned bind, in mount order, then one per made device."""
        return bool(self.idmapped or self.cloned_binds or self.made_devices)


class ProcessPlan:
    """What process setup (section 16) needs, for the init and for exec alike.
    field and names say where each setting came from, for errors (name())."""

    __slots__ = ("field", "names", "args", "env", "cwd", "uid", "gid", "additional_gids", "keep_groups", "umask",
                 "terminal", "console_height", "console_width", "rlimits", "no_new_privileges", "capabilities",
                 "apparmor_profile", "selinux_label", "seccomp", "personality", "keep_fds", "scheduler",
                 "io_priority", "cpu_affinity_initial", "cpu_affinity_final")

    def name(self, key):
        """How an error names setting `key` ("cwd", "user.additionalGids"):
        process.cwd of config.json, `process.json: cwd` of exec --process,
        or the exec flag that set it (names)."""
        if key in self.names:
            return self.names[key]
        return "process.json: " + key if self.field == "process.json" else self.field + "." + key


class CreatePlan:
    """rootfs: a RootfsPlan (without a mount namespace of the container's
    own, its mounts are made in the caller's, and the init then chroots into
    chroot_path)."""

    __slots__ = ("cid", "bundle", "namespaces", "rootfs", "chroot_path", "sysctl", "hostname", "domainname",
                 "hooks", "process", "session_keyring", "oom_score_adj", "annotations", "own_pid_namespace",
                 "terminal", "cgroup", "cgroups_skipped", "memory_policy", "net_devices", "intel_rdt")


class ExecPlan:
    __slots__ = ("cid", "pid", "bundle", "annotations", "join", "process", "cgroup")


class CgroupPlan:
    """manager: the container's cgroup (a CgroupfsManager or SystemdCgroupManager;
    nothing is made until create_container calls create()); resources for
    apply(); mount_layout: what
    the container's `cgroup` mount shows (plan_cgroup_mount); clone_into: the
    directory the joiner is cloned into with clone3(CLONE_INTO_CGROUP), or
    None when create moves it there instead (the PLACED step)."""

    __slots__ = ("manager", "resources", "mount_layout", "clone_into")


class CreateOptions:
    def __init__(self, bundle=".", pid_file=None, console_socket=None, preserve_fds=0,
                 no_pivot=False, no_new_keyring=False, systemd_cgroup=False):
        self.systemd_cgroup = systemd_cgroup  # the global --systemd-cgroup
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring


class ExecOptions:
    def __init__(self):
        self.process_file = None
        self.args = []
        self.console_socket = None
        self.tty = False
        self.detach = False
        self.pid_file = None
        self.cwd = None
        self.env = []
        self.user = None
        self.additional_gids = []
        self.caps = []
        self.no_new_privs = False
        self.apparmor = None
        self.process_label = None
        self.preserve_fds = 0
        self.cgroup = None
        self.ignore_paused = False


def socket_activation_fds(environ, pid):
    """(fds to pass, env for the container) under systemd's socket activation
    contract: LISTEN_FDS counts only when LISTEN_PID names this very process
    (a stale LISTEN_FDS inherited from elsewhere must not hand fd 3 on)."""
    count = environ.get("LISTEN_FDS", "")
    if is_decimal(count) and int(count) > 0 and environ.get("LISTEN_PID") == str(pid):
        return int(count), ["LISTEN_FDS=" + count, "LISTEN_PID=1"]
    return 0, []


def plan_namespaces(cfg, host):
    plan = NamespacePlan()
    plan.join = [(kind, cfg.namespaces[kind]) for kind in NAMESPACE_JOIN_ORDER if cfg.namespaces.get(kind)]
    plan.new_user = cfg.new_namespace("user")
    plan.new_pid = cfg.new_namespace("pid")
    plan.new_flags = 0
    for kind in ("mount", "uts", "ipc", "network", "cgroup", "time"):
        if cfg.new_namespace(kind):
            plan.new_flags |= NAMESPACE_FLAGS[kind]
    plan.uid_map = "".join("%d %d %d\n" % m for m in cfg.uid_mappings)
    plan.gid_map = "".join("%d %d %d\n" % m for m in cfg.gid_mappings)
    plan.uid_mappings, plan.gid_mappings = list(cfg.uid_mappings), list(cfg.gid_mappings)
    plan.id_map_method = plan_id_map_method(cfg, host) if plan.new_user else None
    plan.maps_by_unprivileged = plan.new_user and host.rootless
    plan.deny_setgroups = plan.id_map_method == "write" and host.rootless
    # In a new user namespace the init works with the container's ids: a bind
    # source under a directory only the host's caller may enter (pytest's
    # 0700 tmp dir, a user's 0700 home) is out of its reach. The joiner opens
    # every bind source while it still has the caller's ids (as runc opens
    # them in its parent), and the init binds from the open fds.
    # Where `create` is the host's root it clones the binds itself instead
    # (create_makes_mount_trees), from sources out of even the caller's ids' reach.
    plan.open_bind_sources = plan.new_user and "mount" in cfg.namespaces and not create_makes_mount_trees(cfg, host)
    plan.root_uid_mapped = any(inside == 0 for inside, _outside, _size in cfg.uid_mappings)
    plan.root_gid_mapped = any(inside == 0 for inside, _outside, _size in cfg.gid_mappings)
    plan.time_offsets = "".join("%s %d %d\n" % (clock, secs, nanos)
                                for clock, (secs, nanos) in cfg.time_offsets.items())
    return plan


def create_makes_mount_trees(cfg, host):
    """Whether `create`, the host's root, makes the container's binds and the
    devices the host has no node for as detached trees in the container's
    new mount namespace (send_mount_trees), for the init to attach. In a new
    user namespace the init has no privilege over the host's files: a bind
    source under a directory only the host's root may enter (mode 0000, or a
    symlink in one) is out of its reach, and it may not mknod. runc and crun
    open the sources in their parent too. Needs open_tree (Linux 5.2); a
    rootless create has no more privilege than the init, so there the joiner
    opens the sources with the caller's ids (open_bind_sources) and devices
    are bound from the host's nodes."""
    return (cfg.new_namespace("user") and cfg.new_namespace("mount") and not host.rootless
            and host.has_open_tree)


def plan_id_map_method(cfg, host):
    """How the maps of a new user namespace are written, as runc decides it.

    The host's root writes any map itself. An unprivileged user may write
    only one line mapping its own id (and setgroups must be denied first);
    anything else (subordinate ranges from /etc/subuid and /etc/subgid) goes
    through the setuid helpers newuidmap/newgidmap, which check the ranges.
    A range the user does not own is refused here, naming the mapping."""
    if not host.rootless:
        return "write"
    if host.euid != 0 and host.unprivileged_userns_refused:
        raise ConfigError("linux.namespaces", "this kernel gives no user namespace to a user who is not root (%s)"
                          % host.unprivileged_userns_refused)
    own = {"uid": host.euid, "gid": host.egid}
    mappings = {"uid": cfg.uid_mappings, "gid": cfg.gid_mappings}
    if all(len(m) == 1 and m[0][1:] == (own[kind], 1) for kind, m in mappings.items()):
        return "write"
    for kind, key in (("uid", "linux.uidMappings"), ("gid", "linux.gidMappings")):
        allowed = [(own[kind], 1)] + host.subordinate_ids(kind)
        for i, (_inside, outside, size) in enumerate(mappings[kind]):
            if not any(first <= outside and outside + size <= first + count for first, count in allowed):
                raise ConfigError("%s[%d]" % (key, i),
                                  "host %ss %d-%d are neither the caller's own %s %d nor in its ranges in /etc/sub%s"
                                  % (kind, outside, outside + size - 1, kind, own[kind], kind))
        helper = "new%smap" % kind
        if host.id_map_helper(helper) is None:
            raise ConfigError(key, "mapping more than the caller's own %s needs %s (package uidmap), "
                                   "which is not installed" % (kind, helper))
    return "helpers"


def plan_cgroup2_bind(cfg, host, bind_sysfs, cgroup_dir):
    """In a user namespace, the host directory bound read-only in place of a
    cgroup2 mount, or None to mount one. Without a cgroup namespace of its own
    the kernel refuses the mount: the host's whole hierarchy is bound (runc's
    rootless mode). With one, the mount is refused too (EBUSY: the same
    superblock twice on one mount point) where /sys comes recursively from the
    host and so already holds the host's cgroup2 at /sys/fs/cgroup -- a
    rootless spec's /sys (runc's rbind, or the sysfs bound instead) on a
    cgroup v2 host. Then the cgroup the namespace is rooted at is bound, which
    shows what the mount would: the container's own (cgroup_dir), or with
    none of its own the runtime's."""
    if not cfg.new_namespace("cgroup"):
        return CGROUP_ROOT
    layout = host.cgroup_layout
    host_sys = any(os.path.normpath(m.destination) == "/sys" and
                   ((m.is_bind and m.flags & MS_REC) or (m.type == "sysfs" and bind_sysfs)) for m in cfg.mounts)
    if not host_sys or layout.kind != "v2" or layout.unified != CGROUP_ROOT:
        return None
    if cgroup_dir is None:
        cgroup_dir = _join_cgroup(layout.unified, layout.unified_root, host.own_cgroups.get("", "/"))
    return cgroup_dir


def plan_rootfs(cfg, opts, host, cgroup_mount=None, cgroup_dir=None):
    rootfs = RootfsPlan()
    rootfs.root = cfg.root_path
    rootfs.readonly = cfg.root_readonly
    rootfs.propagation = cfg.rootfs_propagation
    rootfs.mounts = cfg.mounts
    rootfs.masked_paths = cfg.masked_paths
    rootfs.readonly_paths = cfg.readonly_paths
    rootfs.cwd = cfg.process.cwd
    rootfs.mount_label = cfg.mount_label
    rootfs.no_pivot = opts.no_pivot
    rootfs.own_namespace = "mount" in cfg.namespaces
    rootfs.use_openat2 = host.has_openat2
    # Device nodes cannot be made in a user namespace: bind the host's.
    rootfs.bind_devices = "user" in cfg.namespaces or host.rootless
    # What a user namespace cannot mount, decided here rather than from an
    # errno: sysfs needs a network namespace the user namespace owns, mqueue
    # an ipc namespace it owns; the host's are bound read-only instead, as
    # runc's rootless specs do. devpts refuses a gid= the namespace does not map.
    in_user_ns = "user" in cfg.namespaces
    rootfs.bind_sysfs = in_user_ns and not cfg.new_namespace("network")
    rootfs.bind_mqueue = in_user_ns and not cfg.new_namespace("ipc")
    # cgroup2 likewise needs a cgroup namespace the user namespace owns.
    rootfs.bind_host_cgroup2 = plan_cgroup2_bind(cfg, host, rootfs.bind_sysfs, cgroup_dir) if in_user_ns else None
    rootfs.devpts_drop_gid = set()
    if in_user_ns:
        for m in cfg.mounts:
            gid = [o[4:] for o in (m.data or "").split(",") if o.startswith("gid=")] if m.type == "devpts" else []
            if gid and not (gid[0].isdigit() and any(inside <= int(gid[0]) < inside + size
                                                     for inside, _outside, size in cfg.gid_mappings)):
                rootfs.devpts_drop_gid.add(m.index)
    rootfs.bind_source_fds = {}  # mount index -> O_PATH fd, filled by the joiner (open_bind_sources)
    rootfs.idmapped = plan_idmapped_mounts(cfg, host)
    by_create = create_makes_mount_trees(cfg, host)
    rootfs.cloned_binds = {m.index for m in cfg.mounts if by_create and m.is_bind and m.index not in rootfs.idmapped}
    rootfs.mount_trees = {}  # mount index -> detached tree fd, made by create (send_mount_trees)
    rootfs.device_trees = {}  # device path -> detached tree of the node create made
    dev_is_bind = any(m.destination == "/dev" and m.is_bind for m in cfg.mounts)
    devices = cfg.devices if dev_is_bind else default_devices() + cfg.devices
    latest = {}
    for device in devices:  # a device listed again overrides the earlier entry
        latest.pop(device.path, None)
        latest[device.path] = device
    rootfs.devices = list(latest.values())
    rootfs.made_devices = plan_made_devices(cfg, host, rootfs.devices) if by_create else []
    rootfs.dev_symlinks = [] if dev_is_bind else list(DEFAULT_DEV_SYMLINKS)
    if not dev_is_bind and host.has_kcore:
        rootfs.dev_symlinks.append(("/proc/kcore", "/dev/core"))
    # A read-only /dev is mounted writable, filled, then remounted read-only.
    rootfs.readonly_after_dev = [m for m in cfg.mounts if m.destination == "/dev" and not m.is_bind
                                 and m.flags & MS_RDONLY]
    rootfs.console = cfg.process.terminal  # its placeholder is made before that remount
    needs_layout = any(m.type in ("cgroup", "cgroup2") for m in cfg.mounts)
    if not needs_layout:
        rootfs.cgroup_layout = (None, None, None)
    else:
        rootfs.cgroup_layout = cgroup_mount or host.cgroup_mount_layout
    return rootfs


def plan_made_devices(cfg, host, devices):
    """[(device, host uid, host gid)]: the devices of a new user namespace the
    host has no node for at that path (of that type and number). `create`
    makes them, outside the namespace, and the init binds them in (crun's
    way); binding the host's node (runc's) would fail on the missing node,
    or give the container another device. The owner asked for is the
    container's: the node gets the host ids it maps to."""
    made = []
    for device in devices:
        kind = DEVICE_FILE_TYPES[device.kind]
        found = host.device_node(device.path)
        if found is not None and found[0] == kind and (kind == 0o010000 or  # a fifo has no number
                                                       found[1] == os.makedev(device.major, device.minor)):
            continue
        ids = []
        for name, value, mappings in (("uid", device.uid, cfg.uid_mappings), ("gid", device.gid, cfg.gid_mappings)):
            outside = [host_id + value - inside for inside, host_id, size in mappings if inside <= value < inside + size]
            if not outside:
                raise ConfigError("linux.devices", "%s: %s %d is not mapped in the container's user namespace"
                                  % (device.path, name, value))
            ids.append(outside[0])
        made.append((device, ids[0], ids[1]))
    return made


def plan_idmapped_mounts(cfg, host):
    """{mount index: (uid map text, gid map text, recursive)} of the id-mapped
    mounts. Without mappings of its own a mount takes the container's user
    namespace's (runc 1.2). The kernel lets only a superblock's owner (for
    host filesystems, the host's root) id-map a mount, so rootless is refused,
    as is a kernel without mount_setattr."""
    idmapped = {}
    for m in cfg.mounts:
        if m.idmap is None:
            continue
        field = "mounts[%d]" % m.index
        if host.rootless:
            raise ConfigError(field, "id-mapped mounts need the host's root (the kernel lets only the "
                                     "filesystem's owner id-map it)")
        if not host.has_idmapped_mounts:
            raise ConfigError(field, "id-mapped mounts need open_tree and mount_setattr (Linux 5.12)")
        uids, gids = m.uid_mappings or cfg.uid_mappings, m.gid_mappings or cfg.gid_mappings
        if not uids or not gids:
            raise ConfigError(field + ".uidMappings", "%s without mappings needs the container's user namespace "
                                                      "mappings (linux.uidMappings)" % m.idmap)
        idmapped[m.index] = ("".join("%d %d %d\n" % r for r in uids), "".join("%d %d %d\n" % r for r in gids),
                             m.idmap == "ridmap")
    return idmapped


def plan_rootless_cgroups(cfg, host, systemd=False):
    """True when the container gets no cgroup of its own: a rootless caller
    to whom no cgroup subtree is delegated (Host.cgroup_delegated) and who did
    not ask for its systemd instance (--systemd-cgroup). Then, as runc's
    rootless mode: with neither limits nor linux.cgroupsPath the container
    simply stays in the caller's cgroup; limits, or a cgroupsPath to create,
    are refused (runc: "cannot set ... limit: container could not join or
    create cgroup" / "permission denied"). Device rules are not limits: runc
    ignores them in rootless mode, and so does minirun."""
    if not host.rootless or systemd or host.cgroup_delegated:
        return False
    why = "cgroups are not delegated to this user (cgroup v2 with a delegated subtree is needed)"
    if cfg.has_limits:
        raise ConfigError("linux.resources", "cannot set limits: " + why)
    if cfg.cgroups_path:
        raise ConfigError("linux.cgroupsPath", "cannot create or join a cgroup: " + why)
    return True


def plan_cgroup(cid, cfg, host, systemd=False):
    """The container's cgroup, or None where it can have none (rootless: the
    runtime cannot write the host's cgroups; a limit asked for is refused).
    Every limit whose controller the host lacks is refused here, naming it.

    Rootless, a cgroup is had two ways, as with runc: in the subtree systemd
    delegated to the user (cgroupfs; the default path is then a cgroup named
    for the container beside the runtime's own scope), or as a scope of the
    user's own systemd instance (--systemd-cgroup; default slice user.slice).
    Both need cgroup v2: no v1 hierarchy is ever delegated."""
    if host.rootless and not systemd and not host.cgroup_delegated:
        # Device rules need no cgroup here: without root no device can be made
        # (and in a user namespace none can be opened through a bind that the
        # host's permissions do not allow). Limits cannot be had: refused
        # (plan_rootless_cgroups names the field first).
        limits = plan_resource_writes(cfg.resources, lambda ctrl: None)
        if limits:
            raise ConfigError(limits[0][0], "limits need root or a delegated cgroup v2 subtree")
        return None
    layout = host.cgroup_layout
    user_manager_root = None
    if systemd and host.rootless:
        if layout.kind != "v2":
            raise Error("--systemd-cgroup: a rootless container needs cgroup v2 "
                        "(systemd delegates no v1 hierarchy to a user's instance)")
        user_manager_root = host.systemd_user_manager_cgroup
    elif systemd and not host.systemd:
        raise Error("--systemd-cgroup: systemd is not the init system of this host")
    cgroups_path = cfg.cgroups_path
    if host.rootless and not systemd and not cgroups_path:
        cgroups_path = cid      # relative: beside the runtime's own scope, in the delegated subtree
    plan = CgroupPlan()
    plan.manager = cgroup_manager(layout, cgroups_path, cid, systemd, host.own_cgroups, user_manager_root,
                                  rootless=host.rootless)
    check_cgroup_controllers(cfg.resources, layout, host.cgroup_v2_controllers)
    plan.resources = cfg.resources
    plan.mount_layout = plan_cgroup_mount(plan.manager, layout, host.cgroup_root_links)
    # On cgroup v2 the joiner can be born in its cgroup (Linux 5.7): one step
    # less, and not a moment outside it. Not on v1 or hybrid hosts (each v1
    # hierarchy needs its write anyway), nor with systemd, whose scope is made
    # for a process that already exists.
    plan.clone_into = None
    if layout.kind == "v2" and not systemd and host.clone_into_cgroup:
        plan.clone_into = plan.manager.unified_dir
    return plan


def default_devices():
    devices = []
    for path, major, minor in DEFAULT_DEVICES:
        d = Device()
        d.path, d.kind, d.major, d.minor, d.mode, d.uid, d.gid = path, "c", major, minor, 0o666, 0, 0
        devices.append(d)
    return devices


def plan_sysctl(cfg, host):
    """[(file under /proc/sys, value, key)]. Which keys may be written at all
    is decided in section 5 (check_sysctl_targets, _check_consistency)."""
    writes = []
    for key, value in cfg.sysctl.items():
        writes.append(("/proc/sys/" + key.replace(".", "/"), value, key))
    return writes


# Where a mode or flag came from, for the kernel that lacks it.
MEMORY_POLICY_SINCE = {"MPOL_PREFERRED_MANY": "Linux 5.15", "MPOL_WEIGHTED_INTERLEAVE": "Linux 6.9"}


def plan_memory_policy(cfg, host):
    """(mode with its flags, nodes) for the init's set_mempolicy, or None:
    the mode and flags known to this kernel, the nodes the host's own."""
    policy = cfg.memory_policy
    if policy is None:
        return None
    known = host.mempolicy_mode_known(policy.mode)
    if known is None:
        raise ConfigError("linux.memoryPolicy", "this kernel has no NUMA memory policies (built without NUMA)")
    if not known:
        since = MEMORY_POLICY_SINCE.get(policy.mode_name)
        raise ConfigError("linux.memoryPolicy.mode", "%s is not known to this kernel%s"
                          % (policy.mode_name, " (it came with %s)" % since if since else ""))
    if policy.flags and not host.mempolicy_mode_known(policy.mode | policy.flags):
        names = [name for name, bit in MEMORY_POLICY_FLAGS.items() if policy.flags & bit]
        raise ConfigError("linux.memoryPolicy.flags", "this kernel does not take %s with %s"
                          % (" and ".join(names), policy.mode_name))
    # Relative nodes are positions in the allowed set, not node numbers;
    # static nodes may name a node that is possible but not online yet.
    if policy.nodes and not policy.flags & MEMORY_POLICY_FLAGS["MPOL_F_RELATIVE_NODES"]:
        kind = "possible" if policy.flags & MEMORY_POLICY_FLAGS["MPOL_F_STATIC_NODES"] else "online"
        nodes = host.numa_nodes(kind)
        foreign = sorted(policy.nodes - nodes) if nodes is not None else []
        if foreign:
            raise ConfigError("linux.memoryPolicy.nodes", "node %d is not one of this host's %s nodes (%s)"
                              % (foreign[0], kind, ",".join(str(n) for n in sorted(nodes))))
    return policy.mode | policy.flags, policy.nodes


def plan_net_devices(cfg, host):
    """[(host interface, name in the container, field)]: each interface
    exists here, and the runtime may move it (CAP_NET_ADMIN over the host's
    network namespace, which a rootless runtime lacks)."""
    for host_name, _name, field in cfg.net_devices:
        if host.rootless:
            raise ConfigError(field, "moving a host interface needs root on the host (minirun runs rootless)")
        if host.net_link_index(host_name) is None:
            raise ConfigError(field, "no interface %s in the runtime's network namespace" % host_name)
    return list(cfg.net_devices)


def keeps_original_groups(annotations):
    """podman's `--group-add keep-groups`: the annotation run.oci.keep_original_groups
    set to anything but "0" (crun's rule) keeps the caller's supplementary
    groups: setgroups is not called at all, and user.additionalGids (and exec's
    --additional-gids) are not applied, as crun does."""
    value = (annotations or {}).get("run.oci.keep_original_groups")
    return value is not None and value != "0"


def plan_process(proc, host, seccomp_profile, personality=None, keep_fds=0, extra_env=(), field="process",
                 mount_label="", names=None, keep_groups=False, exec_affinity=False):
    """A ProcessPlan from a parsed Process: capability masks, the compiled filter, the checks of labels.
    exec_affinity: the process is exec's, which alone takes execCPUAffinity
    (the spec: "not applicable to the container's init process")."""
    plan = ProcessPlan()
    plan.field, plan.names = field, dict(names or {})
    try:
        check_lsm_support(proc, mount_label, host, field)
        plan.capabilities = plan_capabilities(proc, host, field, lambda kind: plan.names.get(
            "capabilities", plan.name("capabilities." + kind)))
    except ConfigError as exc:
        key = exc.field[len(field) + 1:]
        flag = next((plan.names[k] for k in plan.names if key == k or key.startswith(k + ".")), None)
        if not exc.field.startswith(field + ".") or field == "process" and flag is None:
            raise
        raise Error("%s: %s" % (flag or plan.name(key), exc.message)) from None
    plan.args = list(proc.args)
    plan.env = list(proc.env) + list(extra_env)
    plan.cwd = proc.cwd
    plan.uid, plan.gid = proc.uid, proc.gid
    plan.additional_gids = list(proc.additional_gids)
    plan.keep_groups = keep_groups
    plan.umask = proc.umask if proc.umask is not None else 0o022
    plan.terminal = proc.terminal
    plan.console_height, plan.console_width = proc.console_height, proc.console_width
    plan.rlimits = list(proc.rlimits)
    plan.no_new_privileges = proc.no_new_privileges
    plan.apparmor_profile = proc.apparmor_profile
    plan.selinux_label = proc.selinux_label
    plan.seccomp = plan_seccomp(seccomp_profile, proc.no_new_privileges, host) if seccomp_profile else None
    plan.personality = personality
    plan.keep_fds = keep_fds
    plan.scheduler = proc.scheduler
    plan.io_priority = None
    if proc.io_priority is not None:
        name, level = proc.io_priority
        plan.io_priority = (IOPRIO_CLASSES[name] << IOPRIO_CLASS_SHIFT | level, name, level)
    initial, final = proc.exec_cpu_affinity if exec_affinity else (None, None)
    plan.cpu_affinity_initial, plan.cpu_affinity_final = initial, final
    return plan


def check_host_paths(cfg, host):
    """What config.json names on the host must exist before anything is cloned."""
    if not os.path.isdir(cfg.root_path):
        raise Error("root.path: %s: no such directory" % cfg.root_path)
    for m in cfg.mounts:
        if m.is_bind:
            if not os.path.exists(m.source):
                raise ConfigError("mounts[%d].source" % m.index, "%s: no such file or directory" % m.source)
        elif m.type not in host.filesystems:
            raise ConfigError("mounts[%d].type" % m.index, "unknown filesystem type %r" % m.type)


def plan_create(cid, cfg, opts, host, environ=None, pid=None):
    """The complete plan of a `create`, or the error that stops it."""
    check_sysctl_targets(cfg, namespace_is_runtimes_own)
    if cfg.process.terminal and opts.console_socket is None and not getattr(opts, "relay_terminal", False):
        raise ConfigError("process.terminal", "a terminal was asked for but no --console-socket was given")
    if opts.console_socket is not None and not cfg.process.terminal:
        raise Error("--console-socket was given but process.terminal is false")
    check_host_paths(cfg, host)
    plan = CreatePlan()
    plan.cgroups_skipped = plan_rootless_cgroups(cfg, host, getattr(opts, "systemd_cgroup", False))
    plan.cid = cid
    plan.bundle = cfg.bundle
    plan.annotations = cfg.annotations
    plan.namespaces = plan_namespaces(cfg, host)
    plan.cgroup = plan_cgroup(cid, cfg, host, getattr(opts, "systemd_cgroup", False))
    cgroup_mount = plan.cgroup.mount_layout if plan.cgroup else None
    cgroup_dir = plan.cgroup.manager.unified_dir if plan.cgroup else None
    plan.rootfs = plan_rootfs(cfg, opts, host, cgroup_mount, cgroup_dir)
    plan.chroot_path = cfg.root_path
    plan.sysctl = plan_sysctl(cfg, host)
    plan.memory_policy = plan_memory_policy(cfg, host)
    plan.net_devices = plan_net_devices(cfg, host)
    plan.hostname, plan.domainname = cfg.hostname, cfg.domainname
    plan.hooks = cfg.hooks
    listen_fds, listen_env = socket_activation_fds(os.environ if environ is None else environ,
                                                   os.getpid() if pid is None else pid)
    plan.process = plan_process(cfg.process, host, cfg.seccomp, cfg.personality,
                                max(opts.preserve_fds, listen_fds), listen_env, mount_label=cfg.mount_label,
                                keep_groups=keeps_original_groups(cfg.annotations))
    plan.terminal = cfg.process.terminal
    plan.session_keyring = None if opts.no_new_keyring else cid
    plan.oom_score_adj = cfg.process.oom_score_adj
    plan.own_pid_namespace = plan.namespaces.new_pid
    plan.intel_rdt = None
    if cfg.intel_rdt is not None:
        root, group = host.resctrl, cfg.intel_rdt.clos_id or cid
        plan.intel_rdt = plan_intel_rdt(cfg.intel_rdt, cid, root and read_resctrl(root, group, cid))
    return plan


class RdtPlan:
    """Where the init goes in resctrl: group (a directory below root), made by
    create (make_group) or found there, the schemata lines written to it, and
    a monitoring group mon_groups/ID (monitor) or None."""

    __slots__ = ("root", "group", "make_group", "lines", "monitor")


def parse_schemata(text):
    """Schemata lines -> {resource: {domain: value}}. Cache bitmasks (L2*, L3*)
    are hexadecimal and compared as numbers ("0ff" is "ff"). ValueError if a
    line is not RESOURCE:DOMAIN=VALUE;..."""
    parsed = {}
    for line in text.splitlines():
        resource, colon, rest = line.strip().partition(":")
        if not line.strip():
            continue
        if not colon or not resource.strip():
            raise ValueError(line)
        domains = parsed.setdefault(resource.strip(), {})
        for token in rest.split(";"):
            if not token.strip():
                continue
            domain, equals, value = (part.strip() for part in token.partition("="))
            if not (equals and domain and value):
                raise ValueError(line)
            domains[domain] = "%x" % int(value, 16) if resource.strip()[:2] in ("L2", "L3") else value
    return parsed


def schemata_match(existing, lines):
    """True if writing `lines` would leave a group whose schemata are `existing`
    as it is: every domain they set already has that value."""
    have, want = parse_schemata(existing or ""), parse_schemata("\n".join(lines))
    return all(have.get(resource, {}).get(domain) == value
               for resource, domains in want.items() for domain, value in domains.items())


def plan_intel_rdt(rdt, cid, tree):
    """linux.intelRdt against the host's resctrl tree (None: not mounted), with
    runc's checks: the resources asked for exist, a closID group that exists
    already has the schemata asked for (or none are asked), one that does not
    gets made only with schemata to write, and a group named after the
    container must not exist yet (it would not be ours to remove)."""
    field = "linux.intelRdt"
    if tree is None:
        raise ConfigError(field, "the resctrl filesystem is not mounted on this host (no resctrl in "
                                 "/proc/self/mountinfo): Intel RDT cannot be applied")
    if rdt.l3_cache_schema and not tree.resources & {"L3", "L3CODE", "L3DATA"}:
        raise ConfigError(field + ".l3CacheSchema", "Intel RDT/CAT is not enabled on this host (no info/L3 in resctrl)")
    if rdt.mem_bw_schema and "MB" not in tree.resources:
        raise ConfigError(field + ".memBwSchema", "Intel RDT/MBA is not enabled on this host (no info/MB in resctrl)")
    lines = rdt.lines()
    for line in lines:
        where = "%s.schemata[%d]" % (field, rdt.schemata.index(line)) if line in rdt.schemata else \
            field + (".memBwSchema" if line == rdt.mem_bw_schema else ".l3CacheSchema")
        try:
            parse_schemata(line)
        except ValueError:
            raise ConfigError(where, "%r is not a schemata line (RESOURCE:ID=VALUE;...)" % line) from None
        if line.partition(":")[0].strip() not in tree.resources:
            raise ConfigError(where, "resctrl has no resource %r on this host (it has: %s)"
                              % (line.partition(":")[0].strip(), ", ".join(sorted(tree.resources)) or "none"))
    if rdt.monitoring and not tree.monitoring:
        raise ConfigError(field + ".enableMonitoring", "resctrl monitoring is not available on this host "
                                                       "(no info/L3_MON)")
    plan = RdtPlan()
    plan.root, plan.lines = tree.root, lines
    plan.group = tree.root + "/" + (rdt.clos_id or cid)
    plan.make_group = not tree.group_exists
    if rdt.clos_id:
        if not tree.group_exists and not lines:
            raise ConfigError(field + ".closID", "no resctrl group %r: with no schemata to write, it must "
                                                 "exist beforehand" % rdt.clos_id)
        try:
            if tree.group_exists and lines and not schemata_match(tree.group_schemata, lines):
                raise ConfigError(field + ".closID", "resctrl group %r exists with other schemata than "
                                                     "the config asks for" % rdt.clos_id)
        except ValueError:
            raise ConfigError(field + ".closID", "cannot read the schemata of resctrl group %r" % rdt.clos_id) from None
    elif tree.group_exists or cid in RESCTRL_RESERVED:
        raise ConfigError(field, "resctrl already has an entry %r (the container's id): it is not this "
                                 "container's to use; set closID to share a group" % cid)
    plan.monitor = plan.group + "/mon_groups/" + cid if rdt.monitoring else None
    if plan.monitor and tree.mon_group_exists:
        raise ConfigError(field + ".enableMonitoring", "the monitoring group %s already exists" % plan.monitor)
    return plan


def exec_process(cfg, opts):
    """The Process an `exec` runs: --process FILE whole, or the container's
    own process with the command line's changes, as runc builds it. Returns
    it with where it came from: (process, field, names), as plan_process takes them."""
    field, names = "process", {}
    for key, flag, value in (("cwd", "--cwd", opts.cwd), ("user", "--user", opts.user),
                             ("user.additionalGids", "--additional-gids", opts.additional_gids),
                             ("capabilities", "--cap", opts.caps), ("apparmorProfile", "--apparmor", opts.apparmor),
                             ("selinuxLabel", "--process-label", opts.process_label)):
        if value:
            names[key] = "exec: " + flag
    if opts.process_file is not None:
        what = "--process %s" % opts.process_file
        raw = parse_json_input(read_input(opts.process_file, what), what)
        if not isinstance(raw, dict):
            raise Error("--process %s: expected a JSON object" % opts.process_file)
        try:
            proc = _parse_process(raw, "process", cfg)
        except ConfigError as exc:
            raise ConfigError(exc.field[len("process."):], exc.message, source="process.json") from None
        field = "process.json"
    else:
        proc = cfg.process
        if not opts.args:
            raise UsageError("exec: a command to run is required (or --process FILE)")
        proc.args = list(opts.args)
        proc.terminal = opts.tty
    proc.env = list(proc.env) + list(opts.env)
    for i, entry in enumerate(opts.env):
        if "=" not in entry:
            raise UsageError("exec: --env %r is not KEY=VALUE" % entry)
    if opts.cwd is not None:
        if not opts.cwd.startswith("/"):
            raise UsageError("exec: --cwd must be an absolute path")
        proc.cwd = os.path.normpath(opts.cwd)
    if opts.user is not None:
        uid, colon, gid = opts.user.partition(":")
        if not is_decimal(uid) or (colon and not is_decimal(gid)):
            raise UsageError("exec: --user takes uid[:gid] as numbers, not %r" % opts.user)
        proc.uid = id_from_text(uid, "--user", "exec")
        proc.gid = id_from_text(gid, "--user", "exec") if colon else proc.gid
    for gid in opts.additional_gids:
        proc.additional_gids = list(proc.additional_gids) + [id_from_text(gid, "--additional-gids", "exec")]
    if len(proc.additional_gids) > NGROUPS_MAX:
        raise ConfigError("--additional-gids", "more than the kernel's %d groups" % NGROUPS_MAX, "exec")
    if opts.caps:
        proc.capabilities = dict(proc.capabilities)
        for kind in ("bounding", "effective", "permitted"):
            proc.capabilities[kind] = list(proc.capabilities[kind]) + list(opts.caps)
        proc.capabilities["_given"] = True
    if opts.no_new_privs:
        proc.no_new_privileges = True
    if opts.apparmor is not None:
        proc.apparmor_profile = opts.apparmor
    if opts.process_label is not None:
        proc.selinux_label = opts.process_label
    if proc.terminal and opts.detach and opts.console_socket is None:
        raise UsageError("exec: a terminal with --detach needs --console-socket")
    return proc, field, names


def plan_exec(cid, pid, cfg, opts, host):
    """The plan of an `exec` into the container whose init is `pid`."""
    proc, field, names = exec_process(cfg, opts)
    plan = ExecPlan()
    plan.cid, plan.pid = cid, pid
    plan.bundle, plan.annotations = cfg.bundle, cfg.annotations
    # Every namespace the container has, through its init's /proc entries:
    # those it shares with the runtime are left alone (setns into one's own
    # user namespace is even an error).
    plan.join = []
    for kind in NAMESPACE_JOIN_ORDER:
        if kind in cfg.namespaces:
            path = "/proc/%d/ns/%s" % (pid, NAMESPACE_PROC_NAMES[kind])
            if not host.namespace_is_ours(kind, path, include_host=False):
                plan.join.append((kind, path))
    plan.process = plan_process(proc, host, cfg.seccomp, cfg.personality, opts.preserve_fds, field=field,
                                names=names, keep_groups=keeps_original_groups(cfg.annotations), exec_affinity=True)
    plan.cgroup = []  # the directories to join: exec_container fills them from the proven state
    return plan

# ===========================================================================
# 16. Process setup (shared by the init and exec)
# ===========================================================================
# The container's init and an exec'd process become the container's process
# the same way, given a ProcessPlan and a Kernel. The order is the contract:
#
#   prepare_process:
#     rlimits, the I/O priority and the scheduler (while CAP_SYS_NICE is
#       still held, before a seccomp filter could refuse them),
#     environment (HOME from the container's /etc/passwd),
#     cwd entered while still privileged (a cwd only root may enter works for
#       uid 42, as in runc),
#     seccomp filter without no_new_privs (loading one then needs
#       CAP_SYS_ADMIN: before the capabilities are dropped, after the cwd so a
#       profile refusing chdir still starts),
#     groups (none set with run.oci.keep_original_groups), gid, uid and the
#       five capability sets,
#     cwd again where the first attempt was refused, then checked to lie in
#       the root (the CVE-2024-21626 class),
#     the executable looked up in the container's PATH, umask, personality,
#     no_new_privs
#   finish_process (after the init's wait for `start`):
#     default signal dispositions, the LSM label for execve, exec's `final`
#     CPU affinity, the seccomp filter with no_new_privs (as late as
#     possible), then the caller's last steps and execve.
#
# exec's `initial` CPU affinity is not set here: `exec` sets it on its
# stage (apply_cpu_affinity, by pid) before that joins the container's
# cgroup and namespaces; the process to run inherits it at clone.
#
# Everything here runs in a clone child, between clone and execve: it uses
# only modules imported before clone (preload_child_modules), reports errors
# by raising (the caller sends them over the channel), and never starts a
# thread. os.register_at_fork handlers and Python's own after-fork reset do
# not run in a ctypes clone child, so nothing here may rely on them.


def restore_signal_defaults():
    """Every signal at its default disposition, none blocked, as runc and crun
    start a container's process.

    Ignored signals survive execve: Python itself ignores SIGPIPE and SIGXFSZ,
    and a caller started under nohup ignores SIGHUP (a shell's `trap ''`, any
    signal). A container's process must not depend on how the runtime was
    started: `kill -HUP` has to end a process that never asked to ignore it.
    The interpreter recorded each inherited disposition at start-up, so only
    the ignored ones cost a system call.
    """
    import _signal

    for signum in _signal.valid_signals():
        if signum not in (SIGNALS["KILL"], SIGNALS["STOP"]) and _signal.getsignal(signum) == _signal.SIG_IGN:
            _signal.signal(signum, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, ())


def apply_rlimits(k, pplan):
    for name, number, soft, hard in pplan.rlimits:
        limits = [-1 if v >= (1 << 63) else v for v in (soft, hard)]  # RLIM_INFINITY
        try:
            k.setrlimit(number, limits[0], limits[1])
        except (OSError, ValueError) as exc:
            raise Error("%s: %s soft=%d hard=%d: %s"
                        % (pplan.name("rlimits"), name, soft, hard, getattr(exc, "strerror", None) or exc)) from None


def process_environment(pplan):
    env = {}
    for entry in pplan.env:
        key, _, value = entry.partition("=")
        env[key] = value
    if "HOME" not in env:
        entry = lookup_user(pplan.uid)
        env["HOME"] = (entry[1] or "/") if entry else "/"
    return env


def find_executable(name, env):
    """exec.LookPath's answers and wording, which Docker matches on (-> exit 127)."""
    if "/" in name:
        try:
            os.stat(name)
        except OSError as exc:
            raise Error('exec: "%s": stat %s: %s' % (name, name, exc.strerror.lower())) from None
        if not os.access(name, os.X_OK) or os.path.isdir(name):
            raise Error('exec: "%s": permission denied' % name)
        return name
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise Error('exec: "%s": executable file not found in $PATH' % name)


def apply_user(k, pplan):
    """Switch to the process user and set the five capability sets.

    Order matters: the bounding set is trimmed while we still hold
    CAP_SETPCAP; KEEPCAPS keeps the permitted set across setuid to a non-root
    user; capset then sets effective/permitted/inheritable, and ambient
    capabilities (planned to be permitted and inheritable) come last.
    """
    masks = pplan.capabilities
    if masks is not None:
        k.prctl(PR_SET_KEEPCAPS, 1)
        for bit in range(last_capability() + 1):
            if not masks["bounding"] >> bit & 1:
                k.prctl(PR_CAPBSET_DROP, bit)
    try:
        if not pplan.keep_groups:   # run.oci.keep_original_groups: the caller's groups stay
            k.setgroups(pplan.additional_gids)
    except PermissionError:
        if pplan.additional_gids:  # setgroups is denied in this user namespace
            raise Error("%s: setgroups is not permitted here" % pplan.name("user.additionalGids")) from None
    try:
        k.setresgid(pplan.gid)
        k.setresuid(pplan.uid)
    except OSError as exc:
        raise Error("%s: cannot become %d:%d: %s" % (pplan.name("user"), pplan.uid, pplan.gid, exc.strerror)) from None
    if masks is not None:
        k.prctl(PR_SET_KEEPCAPS, 0)
        try:
            k.capset(masks["effective"], masks["permitted"], masks["inheritable"])
        except OSError as exc:
            raise Error("%s: capset: %s (is a capability missing from the runtime's own sets?)"
                        % (pplan.name("capabilities"), exc.strerror.split(": ")[-1])) from None
        for bit in range(last_capability() + 1):
            if masks["ambient"] >> bit & 1:
                k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, bit)


def load_seccomp(k, plan, listener_fd, state):
    """Install the filter; with SCMP_ACT_NOTIFY, hand the listener to the agent.

    The agent gets one sendmsg carrying the listener fd and the container
    process state JSON of the runtime spec (fds, pid, metadata, state).
    """
    notify_fd = k.seccomp_load(plan.program, plan.flags | (8 if plan.notify else 0))  # NEW_LISTENER
    if plan.notify:
        message = {"ociVersion": SPEC_VERSION, "fds": ["seccompFd"], "pid": state["pid"],
                   "metadata": plan.listener_metadata, "state": state}
        k.send_fd(listener_fd, notify_fd, json_dumps(message))
        k.close(notify_fd)
        k.close(listener_fd)


def apply_exec_labels(k, pplan):
    """Ask the LSM to switch label at execve (AppArmor change_onexec, SELinux exec context)."""
    if pplan.apparmor_profile:
        path = "/proc/self/attr/apparmor/exec"
        if not os.path.exists(path):  # kernels before 5.8
            path = "/proc/self/attr/exec"
        write_procfs(k, path, "exec " + pplan.apparmor_profile, pplan.field + ".apparmorProfile")
    if pplan.selinux_label:
        write_procfs(k, "/proc/self/attr/exec", pplan.selinux_label, pplan.field + ".selinuxLabel")


def open_terminal(k, pplan):
    """A pty from the container's devpts, its slave owned by the process user
    (and the tty group where the image has one). Returns (master, slave, path)."""
    master, slave, slave_path = open_container_pty(k, pplan.console_height, pplan.console_width)
    tty_gid = lookup_group_id("tty")
    if tty_gid is None or not gid_is_mapped(tty_gid):
        # A rootless namespace maps the caller's gid alone: the image's tty
        # group (5) has no host gid, and chown to it fails (EINVAL).
        tty_gid = pplan.gid
    k.fchown(slave, pplan.uid, tty_gid)
    return master, slave, slave_path


def send_terminal(k, console, master, slave_path):
    """Hand the pty master to the engine over --console-socket; a peer that
    went away is named as the flag, not left a bare "Broken pipe"."""
    try:
        k.send_fd(console, master, slave_path)
    except OSError as exc:
        raise Error("--console-socket: cannot send the terminal: %s" % os_error_text(exc)) from None


def gid_is_mapped(gid):
    """gid has a host gid in our user namespace (its gid_map, read in the container)."""
    try:
        with open("/proc/self/gid_map") as idmap:
            for line in idmap:
                inside, _outside, size = (int(field) for field in line.split())
                if inside <= gid < inside + size:
                    return True
    except (OSError, ValueError):
        return True  # no map to read: leave the decision to the kernel, as before
    return False


def attach_terminal(k, slave):
    """The slave becomes stdio and the controlling terminal of a new session."""
    k.setsid()
    k.ioctl_arg(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        k.dup2(slave, fd)
    k.close(slave)


def enter_cwd(k, pplan):
    try:
        k.chdir(pplan.cwd)
    except OSError as exc:
        raise Error("%s: %s" % (pplan.name("cwd"), os_error_text(exc))) from None
    try:
        # A cwd reached through a host fd (/proc/self/fd/N of a preserved
        # directory fd) lies outside the root: getcwd then fails with
        # ENOENT ("unreachable"). Refuse it (the CVE-2024-21626 class).
        os.getcwd()
    except OSError:
        raise Error("%s: %s leads outside the container's root filesystem" % (pplan.name("cwd"), pplan.cwd)) from None


def apply_scheduling(k, pplan):
    """process.ioPriority and process.scheduler, for the calling process
    (which its children inherit). Before the capabilities are dropped: a
    real-time class or policy, a lower nice value and SCHED_DEADLINE need
    CAP_SYS_NICE (the real-time I/O class CAP_SYS_ADMIN before Linux 5.x),
    and the kernel checks it in the host's user namespace, so even the
    container's root in a user namespace of its own is refused (unless
    RLIMIT_RTPRIO/RLIMIT_NICE, set just before, allow it). The ioprio is the
    process's own (IOPRIO_WHO_PROCESS): its process group may still be the
    caller's (before setsid), which the container must not change."""
    if pplan.io_priority is not None:
        value, name, level = pplan.io_priority
        try:
            k.ioprio_set(value)
        except OSError as exc:
            hint = (" (the real-time class needs CAP_SYS_ADMIN or CAP_SYS_NICE in the host's user namespace)"
                    if exc.errno == E.EPERM else "")
            raise Error("%s: the kernel refused %s priority %d: %s%s" % (
                pplan.name("ioPriority"), name, level, os_error_text(exc).split(": ")[-1], hint)) from None
    s = pplan.scheduler
    if s is not None:
        size = SCHED_ATTR_SIZE_VER1 if s.flags & SCHED_FLAG_UTIL_CLAMP else SCHED_ATTR_SIZE_VER0
        try:
            k.sched_setattr(s.policy, s.flags, s.nice, s.priority, s.runtime, s.deadline, s.period, size)
        except OSError as exc:
            key, hint = "scheduler.policy", ""
            if exc.errno == E.EPERM:
                hint = " (CAP_SYS_NICE in the host's user namespace, or RLIMIT_RTPRIO/RLIMIT_NICE, is needed"
                hint += ("; a SCHED_DEADLINE process must also be allowed every CPU)" if s.policy_name ==
                         "SCHED_DEADLINE" else ")")
            elif exc.errno == E.EBUSY:  # admission control: the CPUs' deadline bandwidth is taken
                key, hint = "scheduler.runtime", " (not enough SCHED_DEADLINE bandwidth left for runtime/period)"
            elif exc.errno == E.EOPNOTSUPP:
                key, hint = "scheduler.flags", " (this kernel has no utilization clamping)"
            raise Error("%s: the kernel refused %s: %s%s" % (
                pplan.name(key), s.policy_name, os_error_text(exc).split(": ")[-1], hint)) from None


def apply_cpu_affinity(k, pid, pplan, which):
    """execCPUAffinity's `initial` (which="initial": set by exec on its
    stage, by pid, before that joins the container's cgroup) or `final`
    (the process's own, pid 0, just before execve). Whatever the process has
    after the cgroup join stays when `final` is not given, as with runc
    (CRI-O gives `initial` alone to keep an exec off the workload's CPUs)."""
    cpus = pplan.cpu_affinity_initial if which == "initial" else pplan.cpu_affinity_final
    if cpus is None:
        return
    try:
        k.sched_setaffinity(pid, cpus)
    except OSError as exc:
        hint = " (no CPU of the list is online and in the container's cpuset)" if exc.errno == E.EINVAL else ""
        raise Error("%s: the kernel refused CPUs %s: %s%s" % (
            pplan.name("execCPUAffinity." + which), format_cpu_list(cpus), os_error_text(exc).split(": ")[-1],
            hint)) from None


def prepare_process(k, pplan, listener_fd, state):
    """Everything up to the wait for `start`; returns (executable, env)."""
    apply_rlimits(k, pplan)
    apply_scheduling(k, pplan)
    env = process_environment(pplan)
    try:
        enter_cwd(k, pplan)
        entered = True
    except Error:
        entered = False  # perhaps only the process user may enter it: again after the switch
    if pplan.seccomp is not None and not pplan.seccomp.no_new_privileges:
        load_seccomp(k, pplan.seccomp, listener_fd, state)
    apply_user(k, pplan)
    if not entered:
        enter_cwd(k, pplan)
    executable = find_executable(pplan.args[0], env)
    k.umask(pplan.umask)
    if pplan.personality is not None:
        k.personality(pplan.personality)
    if pplan.no_new_privileges:
        k.prctl(PR_SET_NO_NEW_PRIVS, 1)
    return executable, env


def finish_process(k, pplan, listener_fd, state):
    """The last steps before the caller's execve."""
    restore_signal_defaults()
    apply_exec_labels(k, pplan)
    apply_cpu_affinity(k, 0, pplan, "final")  # before a filter that might refuse sched_setaffinity
    if pplan.seccomp is not None and pplan.seccomp.no_new_privileges:
        load_seccomp(k, pplan.seccomp, listener_fd, state)

# ===========================================================================
# 17. The protocol and the container's processes
# ===========================================================================
# `create` clones two processes, both on stacks it allocates:
#
#   create ──clone──> joiner ──clone(CLONE_PARENT [| CLONE_NEWPID])──> init
#
# The joiner enters the namespaces given by path (the user namespace first),
# then creates the new ones, the user namespace before the others so that it
# owns them. It clones the init with CLONE_PARENT, so the init is a direct
# child of `create`: when `create` exits, the init is re-parented to the
# engine's subreaper, which containerd and conmon rely on.
#
# `exec` does the same with a stage that joins every namespace of the running
# container and clones the process to run, again as the caller's child.
#
# They talk over one socketpair, in named messages, always in this order
# (an unexpected message, or EOF, names the message that was expected):
#
#   create                           joiner                   init
#   PLACED ──────────────────────>   (the cgroup step: the joiner is in the
#                                     container's cgroup before it unshares
#                                     the cgroup namespace)
#                                    joins by path; unshare(user)
#          <────────────────────── USERNS            (a new user namespace only)
#   IDMAPS_WRITTEN ──────────────>   unshares the rest, time offsets
#          <────────────────────── MOUNT_TREES       (id-mapped mounts; binds and
#   one fd per tree ─────────────>    made devices in a new user namespace: SCM_RIGHTS,
#                                     trees made in its mount namespace)
#                                    opens bind sources (rootless new user namespace), clone
#          <────────────────────── INIT_PID n
#   GO ───────────────────────────────────────────────────────>  root filesystem
#          <───────────────────────────────────────────────────── RUN_HOOKS   (prestart/createRuntime)
#   HOOKS_DONE ───────────────────────────────────────────────>  pivot, process setup
#          <───────────────────────────────────────────────────── READY
#   state.json, pid file
#   RELEASE ──────────────────────────────────────────────────>  death signal off
#          <───────────────────────────────────────────────────── RELEASED
#
#   exec                             stage 1                  process
#   PLACED ──────────────────────>   joins all, chroot, clone
#          <────────────────────── PROCESS_PID n
#   GO ───────────────────────────────────────────────────────>  process setup, execve
#          <───────────────── EOF at execve (close-on-exec), or ERROR
#
# Any child may send ERROR text instead, and then exits. The init keeps its
# death signal (PR_SET_PDEATHSIG) until `create` has written state.json: a
# `create` killed at any moment leaves either no init or a state file that
# `delete` can use.
#
# The children run Python that was fully imported beforehand
# (preload_child_modules): after pivot_root the host's library is out of
# reach. Every failure is caught, sent as one ERROR, and ends in os._exit.
# os.register_at_fork handlers and Python's after-fork reset never run in a
# ctypes clone child: nothing here may depend on them.


class Msg:
    PLACED = "placed"
    USERNS = "userns"
    IDMAPS_WRITTEN = "idmaps-written"
    MOUNT_TREES = "mount-trees"  # joiner -> create: send the trees create makes (SCM_RIGHTS, one each)
    INIT_PID = "init-pid"
    GO = "go"
    RUN_HOOKS = "run-hooks"
    HOOKS_DONE = "hooks-done"
    READY = "ready"
    RELEASE = "release"
    RELEASED = "released"
    PROCESS_PID = "process-pid"
    ERROR = "error"


# message -> the type of its value (None: no value)
MESSAGE_VALUES = {
    Msg.PLACED: None, Msg.USERNS: None, Msg.IDMAPS_WRITTEN: None, Msg.MOUNT_TREES: None, Msg.INIT_PID: int, Msg.GO: None,
    Msg.RUN_HOOKS: None, Msg.HOOKS_DONE: None, Msg.READY: None, Msg.RELEASE: None, Msg.RELEASED: None,
    Msg.PROCESS_PID: int, Msg.ERROR: str,
}


class ProtocolError(Error):
    pass


class Channel:
    """Named messages over a socketpair, one line each: 'kind value\\n'."""

    def __init__(self, fd, peer="container setup"):
        self.fd = fd
        self.peer = peer
        self.buffer = b""

    def send(self, kind, value=None):
        expected = MESSAGE_VALUES[kind]  # KeyError: not a message of the protocol
        if (value is None) != (expected is None) or (value is not None and not isinstance(value, expected)):
            raise ProtocolError("protocol: %s carries %s, not %r" % (kind, expected, value))
        # One line a message: a newline in the value (a hook's output in its
        # error) is sent as report_error prints it, "\\n"; trailing spaces
        # are kept (runc's hook errors end in "stderr: ").
        line = kind if value is None else "%s %s" % (kind, str(value).replace("\n", "\\n"))
        os.write(self.fd, line.encode() + b"\n")

    def recv(self):
        """(kind, value), or (None, None) at EOF."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None, None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        kind, _, text = line.decode("utf-8", "replace").partition(" ")
        expected = MESSAGE_VALUES.get(kind, str)
        if expected is int:
            try:
                return kind, int(text)
            except ValueError:
                raise ProtocolError("protocol: %s with a bad value %r" % (kind, text)) from None
        return kind, (text if expected is str else None)

    def expect(self, *kinds):
        """The value of the next message, which must be one of `kinds`; with
        several kinds, (kind, value). ERROR from the peer becomes an Error."""
        kind, value = self.recv()
        if kind == Msg.ERROR:
            raise Error(value)
        if kind not in kinds:
            got = "end of stream (the process exited)" if kind is None else kind
            raise ProtocolError("%s stopped unexpectedly: waiting for %s, got %s"
                                % (self.peer, " or ".join(kinds), got))
        return (kind, value) if len(kinds) > 1 else value

    def expect_eof(self):
        """exec's rule (CPython's subprocess): EOF means execve happened."""
        kind, value = self.recv()
        if kind == Msg.ERROR:
            raise Error(value)
        if kind is not None:
            raise ProtocolError("%s: unexpected %s before execve" % (self.peer, kind))


class ChildFds:
    """The fds a child needs, all close-on-exec and above the preserved range."""

    def __init__(self):
        self.channel = None      # the children's end of the socketpair
        self.fifo = None         # exec.fifo, opened O_RDWR (init only)
        self.start_error = None  # ROOT/ID/start.error: where the init reports a failure after READY
        self.console = None      # where the pty master goes, if process.terminal
        self.listener = None     # connected to linux.seccomp.listenerPath, for SCMP_ACT_NOTIFY
        self.namespaces = {}     # kind -> fd of a namespace to join
        self.root = None         # exec: the container's root directory (O_PATH)
        self.stdio = {}          # 0/1/2 -> the pipe end put there (a foreground process: StdioRelay)
        self.close_first = []    # the parent's own fds, closed first thing in the child

    def relay_stdio(self, stdio, floor):
        """A foreground process's stdio: the pipes of `stdio` (a StdioRelay),
        opened now; ours are closed in the children (after close_first is set)."""
        stdio.open(floor)
        self.stdio = dict(stdio.container_ends)
        self.close_first += list(stdio.own.values())

    def all(self):
        fds = [self.channel, self.fifo, self.start_error, self.console, self.listener, self.root]
        return [fd for fd in fds + list(self.namespaces.values()) + list(self.stdio.values()) if fd is not None]


def child_failure(channel, exc):
    """Report an exception from a child to its parent and leave the process."""
    if isinstance(exc, OSError):
        text = os_error_text(exc)
    elif isinstance(exc, Error):
        text = str(exc)
    else:
        text = "%s: %s" % (type(exc).__name__, exc)
    try:
        channel.send(Msg.ERROR, text)
    finally:
        os._exit(1)


def enter_child(k, fds):
    """First thing in every clone child: drop the parent's fds and its log,
    and put a foreground process's stdio pipes (StdioRelay) on fds 0-2.

    A log line written from a child could land inside the container's
    rootfs; children report to their parent over the channel instead.
    """
    for fd in fds.close_first:
        k.close(fd)
    for target, fd in sorted(fds.stdio.items()):
        k.dup2(fd, target)  # the copy at 0/1/2 is inheritable; the original goes at execve
    LOG.path, LOG._fd = None, None
    LOG.threshold = len(Log.LEVELS)


def open_namespace(k, kind, path, field):
    """An fd on a namespace to join, checked to be a namespace of that type.

    O_NONBLOCK: a FIFO given as a namespace path must not block the open.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(field, os_error_text(exc)) from None
    try:
        actual = k.namespace_type(fd)
    except OSError:
        os.close(fd)
        raise ConfigError(field, "%s is not a namespace" % path) from None
    if actual != NAMESPACE_FLAGS[kind]:
        os.close(fd)
        raise ConfigError(field, "%s is not a %s namespace" % (path, kind))
    return fd


def join_namespaces(k, joins, fds, field):
    for kind, path in joins:
        if kind == "pid":
            continue  # setns(pid) only moves future children: done just before clone
        try:
            k.setns(fds.namespaces[kind], NAMESPACE_FLAGS[kind])
        except OSError as exc:
            raise Error("%s: cannot join %s namespace %s: %s"
                        % (field, kind, path, exc.strerror.split(": ")[-1])) from None


def joiner_main(k, plan, fds):
    """Stage 1 of create: enter and create namespaces in a valid order, then clone the init."""
    channel = Channel(fds.channel)
    ns = plan.namespaces
    try:
        # Non-dumpable before entering anything (the CVE-2019-5736 class): a
        # container process must not reach the runtime's interpreter through
        # /proc/PID/exe or ptrace us. The init inherits it; execve resets it.
        k.prctl(PR_SET_DUMPABLE, 0)
        k.prctl(PR_SET_PDEATHSIG, 9)
        channel.expect(Msg.PLACED)
        join_namespaces(k, ns.join, fds, "linux.namespaces")
        if ns.new_user:
            k.unshare(CLONE_NEWUSER)
            if ns.maps_by_unprivileged:
                # A non-dumpable process's /proc/PID files belong to the host's
                # root: the unprivileged create (and newuidmap, which checks
                # that the caller owns /proc/PID) could not write our maps.
                # Dumpable only for this window, as runc does: the namespace
                # is new and empty, only its owner (the caller) can reach us.
                k.prctl(PR_SET_DUMPABLE, 1)
            channel.send(Msg.USERNS)
            channel.expect(Msg.IDMAPS_WRITTEN)
            # Still dumpable (when the caller is unprivileged) until the init
            # has received GO: `create` reads the init's /proc/PID/ns/mnt for
            # state.json first. No container process exists yet.
        if ns.new_flags:  # after the user namespace, so that it owns them
            k.unshare(ns.new_flags)
        if plan.rootfs.trees_from_create():
            channel.send(Msg.MOUNT_TREES)  # create makes them in our new mount namespace
            receive_mount_trees(k, plan.rootfs, fds.channel, 3 + plan.process.keep_fds)
        if ns.open_bind_sources:
            # With the caller's ids still (before the setresuid below), in
            # the new mount namespace (a bind from another namespace's mount
            # is refused): the init binds from these fds.
            open_bind_sources(k, plan.rootfs, 3 + plan.process.keep_fds)
        if ns.time_offsets:
            # Must be written before any process enters the new time namespace,
            # and before the setresuid below: a credential change makes us
            # non-dumpable, and /proc/self then belongs to the host's root.
            try:
                k.write_file("/proc/self/timens_offsets", ns.time_offsets)
            except OSError as exc:
                raise kernel_refused("linux.timeOffsets", exc) from None
        if ns.new_user:
            # Become root of the new namespace when root is mapped, so the
            # init creates files and mounts as the container's root.
            if ns.root_gid_mapped:
                k.setresgid(0)
            if ns.root_uid_mapped:
                k.setresuid(0)
        if "pid" in fds.namespaces:
            k.setns(fds.namespaces["pid"], CLONE_NEWPID)
        pid = k.clone(lambda: init_main(k, plan, fds), CLONE_PARENT | (CLONE_NEWPID if ns.new_pid else 0))
        channel.send(Msg.INIT_PID, pid)
    except BaseException as exc:  # every failure, SystemExit included, must reach create
        child_failure(channel, exc)
    os._exit(0)


def open_bind_sources(k, rootfs, floor):
    for m in rootfs.mounts:
        if m.is_bind and m.index not in rootfs.idmapped:
            try:
                fd = k.open(m.source, os.O_PATH | os.O_CLOEXEC)
            except OSError as exc:
                raise ConfigError("mounts[%d].source" % m.index, os_error_text(exc)) from None
            rootfs.bind_source_fds[m.index] = lift_fd(fd, floor)


def idmap_user_namespace(k, uid_map, gid_map):
    """An fd on a user namespace with these maps: a child is cloned into a new
    one, its maps written, the namespace opened, and the child ended."""
    read_end, write_end = os.pipe()

    def hold():
        os.close(write_end)
        os.read(read_end, 1)  # until the parent has opened the namespace
        os._exit(0)

    child = k.clone(hold, CLONE_NEWUSER)
    try:
        k.write_file("/proc/%d/uid_map" % child, uid_map)
        k.write_file("/proc/%d/gid_map" % child, gid_map)
        return os.open("/proc/%d/ns/user" % child, os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(write_end)
        os.close(read_end)
        reap(child)


def send_mount_trees(k, joiner, rootfs, sock, scratch):
    """Detached trees for the joiner (whose init inherits them and attaches
    them with move_mount), sent in the order receive_mount_trees takes them:
    the id-mapped copies of the id-mapped mounts' sources and the clones of
    the other binds' (create_makes_mount_trees), in mount order, then the
    nodes of the devices the host lacks (make_device_trees).

    Made by `create`, the host's root: only it may id-map a host filesystem,
    reach a source under a directory closed to the container's ids, or make
    a device node. Made inside the container's mount namespace (setns there
    and back, as runc's parent does): a detached tree belongs to the mount
    namespace it was cloned in, and the kernel attaches it only where that
    namespace's owner allows, so a tree cloned in the host's namespace could
    not be attached in the container's (EINVAL). Cloned there, a bind also
    keeps the locks the kernel put on that namespace's copies of the host's
    mounts (a read-only or nosuid host mount stays so)."""
    userns = {}
    own = cwd = target = None
    trees = []
    mounts = {m.index: m for m in rootfs.mounts}
    try:
        for index in sorted(rootfs.idmapped):
            uid_map, gid_map, _recursive = rootfs.idmapped[index]
            try:
                userns[index] = idmap_user_namespace(k, uid_map, gid_map)
            except OSError as exc:
                raise ConfigError("mounts[%d].uidMappings" % index,
                                  "cannot make the mapping: " + os_error_text(exc)) from None
        own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        target = os.open("/proc/%d/ns/mnt" % joiner, os.O_RDONLY | os.O_CLOEXEC)
        k.setns(target, CLONE_NEWNS)
        try:
            for index in sorted(set(rootfs.idmapped) | rootfs.cloned_binds):
                m = mounts[index]
                field = "mounts[%d]" % index
                try:
                    tree = k.open_tree(m.source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
                                       | (AT_RECURSIVE if m.flags & MS_REC else 0))
                except OSError as exc:
                    raise ConfigError(field + ".source", os_error_text(exc)) from None
                trees.append(tree)
                if index not in rootfs.idmapped:
                    continue
                try:
                    k.idmap_tree(tree, userns[index], rootfs.idmapped[index][2])
                except OSError as exc:
                    raise ConfigError(field, "cannot id-map %s: %s"
                                      % (m.source, os_error_text(exc).split(": ")[-1])) from None
            if rootfs.made_devices:
                trees += make_device_trees(k, rootfs.made_devices, scratch)
        finally:
            k.setns(own, CLONE_NEWNS)
            k.fchdir(cwd)
        for tree in trees:
            k.send_fd(sock, tree, "t")
    finally:
        for fd in trees + list(userns.values()) + [own, cwd, target]:
            if fd is not None:
                os.close(fd)


def make_device_trees(k, made, scratch):
    """One detached tree per made device: its node, made as the host's root
    in a tmpfs of our own (a tmpfs the container's user namespace mounted
    would refuse to open a device: SB_I_NODEV; the state directory's
    filesystem is nodev on most hosts), owned by the ids the plan gives. The
    tmpfs is mounted on `scratch` in the container's mount namespace, which
    we are in: a less privileged copy of the host's, whose mounts receive
    from the host but propagate nothing back to it. It is detached again at
    once: the trees keep it alive, and nothing of it is left on the host."""
    k.mkdir(scratch, 0o700)  # in the state directory: the same directory in every mount namespace
    trees = []
    try:
        k.mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=700")
        try:
            for i, (device, uid, gid) in enumerate(made):
                node = os.path.join(scratch, str(i))
                try:
                    k.mknod(node, DEVICE_FILE_TYPES[device.kind] | device.mode,
                            os.makedev(device.major, device.minor))
                    k.chown(node, uid, gid, follow_symlinks=False)
                    k.chmod(node, device.mode)  # what the umask took away
                    trees.append(k.open_tree(node, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC))
                except OSError as exc:
                    raise Error("linux.devices: %s: %s" % (device.path, exc.strerror)) from None
        finally:
            k.umount(scratch, MNT_DETACH)
    except BaseException:
        for tree in trees:
            os.close(tree)
        raise
    finally:
        os.rmdir(scratch)
    return trees


def receive_mount_trees(k, rootfs, sock, floor):
    """The joiner's side of send_mount_trees, in its order."""
    for index in sorted(set(rootfs.idmapped) | rootfs.cloned_binds):
        rootfs.mount_trees[index] = lift_fd(k.recv_fd(sock), floor)
    for device, _uid, _gid in rootfs.made_devices:
        rootfs.device_trees[device.path] = lift_fd(k.recv_fd(sock), floor)


def init_main(k, plan, fds):
    """Stage 2 of create: the container's init, from root filesystem to execve."""
    channel = Channel(fds.channel)
    rootfs, pplan = plan.rootfs, plan.process
    try:
        k.prctl(PR_SET_PDEATHSIG, 9)  # if create dies before state.json exists, so do we
        channel.expect(Msg.GO)
        if plan.namespaces.maps_by_unprivileged:
            k.prctl(PR_SET_DUMPABLE, 0)  # the joiner left it dumpable for the unprivileged create
        host_pid = os_getpid_host()  # /proc/self names the container's pid after the pivot
        if plan.namespaces.new_flags & CLONE_NEWNET:
            bring_loopback_up(k)
        k.umask(0)  # device nodes and mount points get exactly the modes asked for
        if plan.session_keyring is not None:
            try:
                k.join_session_keyring(plan.session_keyring)
            except OSError as exc:
                if exc.errno not in (E.ENOSYS, E.EPERM):  # no keyrings here, or not allowed: as runc, go on
                    raise
        prepare_rootfs(k, rootfs)
        for fd in (list(rootfs.bind_source_fds.values()) + list(rootfs.mount_trees.values())
                   + list(rootfs.device_trees.values())):
            k.close(fd)
        if plan.hooks["prestart"] or plan.hooks["createRuntime"]:
            channel.send(Msg.RUN_HOOKS)
            channel.expect(Msg.HOOKS_DONE)
        state = hook_state(plan.cid, host_pid, plan.bundle, plan.annotations, "creating")
        for hook in plan.hooks["createContainer"]:
            # In the container's namespaces, before the pivot: runc runs
            # them from the root filesystem, with the usual umask.
            run_hook(hook, state, cwd=plan.chroot_path, umask=0o022)
        if not rootfs.own_namespace:
            k.chdir(plan.chroot_path)
            k.chroot(".")
            k.chdir("/")
        elif rootfs.no_pivot:
            move_root(k, rootfs.root)
        else:
            pivot_into(k, rootfs.root)
        slave = None
        if pplan.terminal:
            master, slave, slave_path = open_terminal(k, pplan)
            bind_console(k, slave)
            send_terminal(k, fds.console, master, slave_path)
            k.close(master)
            k.close(fds.console)
        for path, value, key in plan.sysctl:
            try:
                write_procfs(k, path, value, "linux.sysctl.%s" % key)
            except OSError as exc:
                raise sysctl_error(key, exc) from None
        finish_rootfs(k, rootfs)
        if plan.hostname:
            k.sethostname(plan.hostname)
        if plan.domainname:
            k.setdomainname(plan.domainname)
        if plan.memory_policy is not None:
            # The init's own: execve keeps it, its children inherit it. Not an
            # exec'd process's (linux.* is the container's init, as in runc).
            try:
                k.set_mempolicy(*plan.memory_policy)
            except OSError as exc:
                raise kernel_refused("linux.memoryPolicy", exc) from None
        reopen_null_stdio(k)
        if slave is not None:
            attach_terminal(k, slave)
        else:
            # A session of its own, as runc's init always leads one: CRIU
            # dumps a container only if its session leader is inside it.
            k.setsid()
        executable, env = prepare_process(k, pplan, fds.listener, state)
        channel.send(Msg.READY)
        channel.expect(Msg.RELEASE)
        # state.json exists now: from here on, create's exit must not kill us.
        k.prctl(PR_SET_PDEATHSIG, 0)
        channel.send(Msg.RELEASED)
    except BaseException as exc:
        child_failure(channel, exc)
    # From here on nobody listens on the channel: a failure is written to
    # start.error, which `start` reports, and to stderr.
    try:
        k.close(fds.channel)
        while not os.read(fds.fifo, 1):
            pass
        # The fifo fd stays open (close-on-exec) until execve: `start` waits
        # for it to close, so that poststart hooks run after the process started.
        state = hook_state(plan.cid, host_pid, plan.bundle, plan.annotations, "created")
        finish_process(k, pplan, fds.listener, state)
        # startContainer hooks are the container's process just before its
        # execve: in its namespaces, as its user, under its seccomp filter.
        for hook in plan.hooks["startContainer"]:
            run_hook(hook, state)
        k.close_fds_from(3 + pplan.keep_fds, keep=(fds.fifo,))
        k.execve(executable, pplan.args, env)
    except BaseException as exc:
        text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        try:
            os.write(fds.start_error, text.encode())
        except OSError:
            pass
        line = text.replace("\r", "\\r").replace("\n", "\\n")  # one line, as report_error's
        os.write(2, ("minirun: container %s: %s\n" % (plan.cid, line)).encode("utf-8", "backslashreplace"))
        os._exit(127)


def exec_stage_main(k, plan, fds):
    """Stage 1 of exec: join the container's namespaces and root, clone the process."""
    channel = Channel(fds.channel)
    try:
        k.prctl(PR_SET_DUMPABLE, 0)  # before entering anything (CVE-2019-5736)
        k.prctl(PR_SET_PDEATHSIG, 9)
        channel.expect(Msg.PLACED)
        join_namespaces(k, plan.join, fds, "exec")
        # setns(mnt) put us at the namespace's root; the container's root is
        # where its init stands (it differs with --no-pivot).
        k.fchdir(fds.root)
        k.chroot(".")
        k.close(fds.root)
        if "pid" in fds.namespaces:
            k.setns(fds.namespaces["pid"], CLONE_NEWPID)
        for fd in fds.namespaces.values():
            k.close(fd)
        pid = k.clone(lambda: exec_process_main(k, plan, fds), CLONE_PARENT)
        channel.send(Msg.PROCESS_PID, pid)
    except BaseException as exc:
        child_failure(channel, exc)
    os._exit(0)


def exec_process_main(k, plan, fds):
    """Stage 2 of exec: process setup in the container, then execve."""
    channel = Channel(fds.channel)
    pplan = plan.process
    try:
        k.prctl(PR_SET_PDEATHSIG, 9)
        channel.expect(Msg.GO)
        k.chdir("/")
        # The seccomp agent is told about this process, not the init.
        state = hook_state(plan.cid, os_getpid_host(), plan.bundle, plan.annotations, "running")
        if pplan.terminal:
            master, slave, slave_path = open_terminal(k, pplan)
            send_terminal(k, fds.console, master, slave_path)
            k.close(master)
            k.close(fds.console)
            attach_terminal(k, slave)
        executable, env = prepare_process(k, pplan, fds.listener, state)
        finish_process(k, pplan, fds.listener, state)
        k.prctl(PR_SET_PDEATHSIG, 0)
        k.close_fds_from(3 + pplan.keep_fds, keep=(fds.channel,))
        k.execve(executable, pplan.args, env)
    except BaseException as exc:
        child_failure(channel, exc)


# The container's network devices (linux.netDevices). `create` moves them,
# from the runtime's network namespace, into the init's new one once the
# init exists and before it runs anything of the container's (GO), as runc
# does: one RTM_NEWLINK a device, by its index, with the new name and the
# namespace's fd (the move and the rename at once, so no name is held in
# between), then the device is set up from inside (the spec asks for "up").
# A failed create moves back what it moved, under the host's names, before
# the init dies: were the namespace left to die with them, the kernel would
# destroy a virtual device (dummy, veth) and send a physical one to the
# initial namespace, which may not be where it came from. Nothing is
# recorded for `delete`: the devices go as the kernel sends them when the
# namespace dies (the spec leaves them to the namespace's lifecycle).
RTM_NEWLINK, RTM_GETLINK = 16, 18
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
IFLA_IFNAME, IFLA_NET_NS_FD = 3, 28
IFF_UP = 1


def netlink_attribute(kind, payload):
    """One rtattr: its length (unpadded), its type, the payload padded to 4 bytes."""
    import struct

    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def link_message(kind, flags, seq, index=0, attributes=(), up=False):
    """An rtnetlink link message: nlmsghdr, ifinfomsg (AF_UNSPEC), attributes."""
    import struct

    body = struct.pack("=BxHiII", 0, 0, index, IFF_UP if up else 0, IFF_UP if up else 0) + b"".join(attributes)
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def link_name(name):
    return netlink_attribute(IFLA_IFNAME, name.encode() + b"\0")


def netlink_answer(data, seq):
    """The kernel's answer to request `seq`: (errno, index): an ACK is (0,
    None), an NLMSG_ERROR (its errno, None), a link (RTM_NEWLINK) (0, its index)."""
    import struct

    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, number, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16 or offset + length > len(data):
            break
        if number == seq and kind == NLMSG_ERROR and length >= 20:
            return -struct.unpack_from("=i", data, offset + 16)[0], None
        if number == seq and kind == RTM_NEWLINK and length >= 32:
            return 0, struct.unpack_from("=i", data, offset + 20)[0]
        offset += (length + 3) & ~3
    raise OSError(E.EPROTO, "rtnetlink: no answer to request %d" % seq)


def link_index(k, sock, name, seq):
    """The index of interface `name` where `sock` talks, or None (ENODEV)."""
    errno, index = netlink_answer(k.netlink_exchange(sock, link_message(
        RTM_GETLINK, NLM_F_REQUEST, seq, attributes=[link_name(name)])), seq)
    if errno in (E.ENODEV, E.ENOENT):
        return None
    if errno:
        raise OSError(errno, "rtnetlink: %s: %s" % (name, os.strerror(errno)))
    return index


def change_link(k, sock, seq, index, attributes=(), up=False):
    """RTM_NEWLINK on an existing link, acknowledged; an OSError if refused."""
    errno, _ = netlink_answer(k.netlink_exchange(sock, link_message(
        RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, index, attributes, up)), seq)
    if errno:
        raise OSError(errno, os.strerror(errno))


def bring_loopback_up(k, sock=None):
    """A new network namespace's lo, up: runc gives every container with a
    network namespace of its own this "loopback" network (and CRIU restores
    a connection on 127.0.0.1 only where lo is up). `sock`: a netlink socket
    of another namespace (bring_loopback_up_in), closed here."""
    sock = k.netlink_socket() if sock is None else sock
    try:
        index = link_index(k, sock, "lo", 1)
        if index is not None:
            change_link(k, sock, 2, index, up=True)
    except OSError as exc:
        raise Error("network namespace: cannot bring lo up: %s" % os_error_text(exc)) from None
    finally:
        k.close(sock)


class NetDevicePort:
    """rtnetlink sockets on both sides of a move: the runtime's network
    namespace and the init's (entered for the socket's making, then left)."""

    def __init__(self, k, init):
        self.k, self.seq, self.fds, self.sockets = k, 0, [], []
        try:
            self.host_ns = self._open("/proc/self/ns/net")
            self.container_ns = self._open("/proc/%d/ns/net" % init)
            self.host = self._socket()
            k.setns(self.container_ns, CLONE_NEWNET)
            try:
                self.container = self._socket()
            finally:
                k.setns(self.host_ns, CLONE_NEWNET)
        except BaseException:
            self.close()
            raise

    def _socket(self):
        self.sockets.append(self.k.netlink_socket())
        return self.sockets[-1]

    def _open(self, path):
        self.fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        return self.fds[-1]

    def next(self):
        self.seq += 1
        return self.seq

    def close(self):
        for fd in self.sockets:
            self.k.close(fd)
        for fd in self.fds:
            os.close(fd)


def move_net_devices(k, init, devices):
    """Move each (host name, name, field) into the init's network namespace
    and set it up; returns the moved [(name, host name, field)]. On a
    failure, what was moved goes back first (restore_net_devices)."""
    if not devices:
        return []
    moved = []
    port = NetDevicePort(k, init)
    try:
        for host_name, name, field in devices:  # every check before the first move
            if link_index(k, port.host, host_name, port.next()) is None:
                raise ConfigError(field, "no interface %s in the runtime's network namespace" % host_name)
            if link_index(k, port.container, name, port.next()) is not None:
                raise ConfigError(field, "the container's network namespace already has an interface %s" % name)
        for host_name, name, field in devices:
            index = link_index(k, port.host, host_name, port.next())
            try:
                change_link(k, port.host, port.next(), index, [link_name(name), netlink_attribute(
                    IFLA_NET_NS_FD, port.container_ns.to_bytes(4, sys.byteorder))])
            except OSError as exc:
                raise ConfigError(field, "cannot move %s into the container's network namespace: %s"
                                  % (host_name, exc.strerror)) from None
            moved.append((name, host_name, field))
            try:
                change_link(k, port.container, port.next(), link_index(k, port.container, name, port.next()), up=True)
            except OSError as exc:
                raise ConfigError(field, "cannot set %s up in the container: %s" % (name, exc.strerror)) from None
    except BaseException:
        restore_net_devices(k, init, moved, port)
        raise
    finally:
        port.close()
    return moved


def restore_net_devices(k, init, moved, port=None):
    """A failed create: each moved device back to the runtime's network
    namespace under its host name (down: the move closed it). One that
    cannot go back is named in a warning; the kernel then decides its fate
    when the namespace dies."""
    if not moved:
        return
    own = port is None
    try:
        port = port or NetDevicePort(k, init)
    except OSError as exc:
        LOG.warning("linux.netDevices: cannot move %s back to the host: %s"
                    % (", ".join(host for _n, host, _f in moved), os_error_text(exc)))
        return
    try:
        for name, host_name, field in reversed(moved):
            try:
                index = link_index(k, port.container, name, port.next())
                change_link(k, port.container, port.next(), index, [link_name(host_name), netlink_attribute(
                    IFLA_NET_NS_FD, port.host_ns.to_bytes(4, sys.byteorder))])
            except OSError as exc:
                LOG.warning("%s: cannot move %s back to the host: %s" % (field, name, os_error_text(exc)))
    finally:
        if own:
            port.close()
    del moved[:]


def os_getpid_host():
    """Our pid as the host sees it (the state hooks receive uses host pids)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def wait_for_exec(fifo_fd):
    """`start`: block until the init has run startContainer and called execve.

    The init holds exec.fifo open, close-on-exec, as its only reader; a pipe
    whose last reader is gone reports POLLERR to the writer (asked for with
    an empty event mask, it is all poll reports).
    """
    import select

    poller = select.poll()
    poller.register(fifo_fd, 0)
    poller.poll()

# ===========================================================================
# 18. Operations
# ===========================================================================
# One function per command, each the same shape: lock the container's
# directory where the operation must not race another, load and check the
# state, act, save. `create` is plan -> spawn -> finalize. Nothing signals a
# pid before ContainerState.proven_init() has shown it is the container's.

# Modules the children import lazily after clone, where the host's Python
# library may be out of reach (after pivot_root). A unit test reads every
# function the children can reach and checks that its imports are listed.
PRELOADED_MODULES = ("_json", "_signal", "fcntl", "resource", "select", "struct", "time", "termios")


def preload_child_modules():
    """Import now what the children use after pivot_root. (Kernel.clone loads
    the code that is not loaded yet.)"""
    for name in PRELOADED_MODULES:
        __import__(name)


def write_id_maps(k, pid, ns, host=None):
    """The maps of the joiner's new user namespace, by the planned method."""
    fields = (("uid", ns.uid_map, ns.uid_mappings, "linux.uidMappings"),
              ("gid", ns.gid_map, ns.gid_mappings, "linux.gidMappings"))
    if ns.id_map_method == "helpers":
        host = host or HOST
        for kind, _text, mappings, field in fields:
            args = [str(pid)] + ["%d %d %d" % m for m in mappings]
            status, output = k.run_helper(host.id_map_helper("new%smap" % kind), " ".join(args).split())
            if status != 0:
                raise ConfigError(field, "new%smap refused the mapping: %s"
                                  % (kind, output.strip().splitlines()[-1] if output.strip() else "status %d" % status))
        return
    if ns.deny_setgroups:  # an unprivileged writer must give up setgroups first
        k.write_file("/proc/%d/setgroups" % pid, "deny")
    for kind, text, _mappings, field in fields:
        try:
            k.write_file("/proc/%d/%s_map" % (pid, kind), text)
        except OSError as exc:
            raise ConfigError(field, "cannot write %s_map: %s" % (kind, exc.strerror)) from None


def spawn(k, fds, entry, cgroup_fd=None):
    """clone a child that runs entry() after closing the parent's fds (into
    the cgroup `cgroup_fd` names, if given); the parent then closes the
    child's ends and keeps its own."""
    preload_child_modules()

    def child():
        enter_child(k, fds)
        entry()

    if cgroup_fd is None:
        pid = k.clone(child, 0)
    else:
        pid = k.clone_into_cgroup(child, 0, cgroup_fd)
    for fd in fds.all():
        k.close(fd)
    return pid


def destroy_cgroup_quietly(manager):
    """On a failed create: the error that stopped it is the one to report.
    Only what create made is removed: a cgroup found there is not the
    container's (check_placeable refuses one that is frozen or busy)."""
    made = set(manager.to_state()["made"])
    manager.dirs = [entry for entry in manager.dirs if entry[0] in made]
    if not manager.dirs:
        return
    try:
        manager.destroy()
    except Error as exc:
        LOG.warning(str(exc))


def kill_and_reap(pids):
    for pid in pids:
        if pid:
            signal_pids([pid], 9)
            reap(pid)


def create_container(store, cid, opts, console_fd=None, cfg=None, stdio=None):
    """The create operation: returns (ContainerState, Config) once the init
    waits for start. `stdio`: run's StdioRelay, whose pipes it opens."""
    start_cgroup_migration_grace_period(HOST.cgroup_layout, HOST.own_cgroups)
    bundle = os.path.abspath(opts.bundle or ".")
    if cfg is None:
        cfg = load_config(bundle)
    opts.relay_terminal = console_fd is not None
    plan = plan_create(cid, cfg, opts, HOST)
    k = kernel()
    lock_fd = store.reserve(cid)
    fds = ChildFds()
    parent_end = None
    joiner = init = rdt = None
    moved = []  # the network devices moved into the init's namespace
    manager = plan.cgroup.manager if plan.cgroup else None
    try:
        if manager is not None:
            # Limits are in place before any process of the container exists.
            manager.create()
            manager.apply(plan.cgroup.resources)
        floor = 3 + plan.process.keep_fds
        lock_fd = lift_fd(lock_fd, floor)
        write_atomically(store.path(cid, CONFIG_COPY), json_dumps(cfg.source), 0o600)
        if opts.console_socket is not None:
            try:
                fds.console = lift_fd(k.connect_unix(opts.console_socket), floor)
            except OSError as exc:
                raise Error("--console-socket: %s" % os_error_text(exc)) from None
        elif console_fd is not None:  # run's socketpair: the caller keeps its own end
            fds.console = lift_fd(os.dup(console_fd), floor)
        seccomp = plan.process.seccomp
        if seccomp is not None and seccomp.notify:
            try:
                fds.listener = lift_fd(k.connect_unix(seccomp.listener_path), floor)
            except OSError as exc:
                raise ConfigError("linux.seccomp.listenerPath", os_error_text(exc)) from None
        for kind, path in plan.namespaces.join:
            fds.namespaces[kind] = lift_fd(open_namespace(k, kind, path, "linux.namespaces[%s].path" % kind), floor)
        # Checked again on the opened namespaces: the paths may have changed since planning.
        check_sysctl_targets(cfg, lambda _path, kind: namespace_is_runtimes_own(fds.namespaces[kind], kind))
        fifo = store.path(cid, FIFO_FILE)
        os.mkfifo(fifo, 0o600)
        fds.fifo = lift_fd(os.open(fifo, os.O_RDWR | os.O_CLOEXEC), floor)
        fds.start_error = lift_fd(os.open(store.path(cid, START_ERROR_FILE),
                                          os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600), floor)
        parent_end, fds.channel = (lift_fd(fd, floor) for fd in k.socketpair())
        fds.close_first = [parent_end, lock_fd] + ([LOG._fd] if LOG._fd is not None else [])
        if stdio is not None:
            fds.relay_stdio(stdio, floor)
        cgroup_fd = None
        if plan.cgroup is not None and plan.cgroup.clone_into is not None:
            cgroup_fd = lift_fd(os.open(plan.cgroup.clone_into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC),
                                floor)
            fds.close_first.append(cgroup_fd)
        try:
            joiner = spawn(k, fds, lambda: joiner_main(k, plan, fds), cgroup_fd)
        finally:
            if cgroup_fd is not None:
                k.close(cgroup_fd)
        channel = Channel(parent_end)
        if manager is not None and cgroup_fd is None:
            # Before the joiner unshares the cgroup namespace (which then shows
            # this cgroup as its root) and clones the init, which inherits it.
            manager.add(joiner)
        reap_migration_helpers()
        channel.send(Msg.PLACED)
        if plan.namespaces.new_user:
            channel.expect(Msg.USERNS)
            write_id_maps(k, joiner, plan.namespaces, HOST)
            channel.send(Msg.IDMAPS_WRITTEN)
        if plan.rootfs.trees_from_create():
            channel.expect(Msg.MOUNT_TREES)
            send_mount_trees(k, joiner, plan.rootfs, parent_end, store.path(cid, "devices"))
        try:
            init = channel.expect(Msg.INIT_PID)
        finally:
            reap(joiner)
            joiner = None
        # Read before GO: an unprivileged caller can read them only while the
        # init is still dumpable (see joiner_main). What proves the init later.
        try:
            namespaces = namespace_ids(init)
        except OSError as exc:
            raise Error("container init exited during setup: %s" % os_error_text(exc)) from None
        if plan.oom_score_adj is not None:
            # Written from here: the init is non-dumpable, and in a user
            # namespace its /proc files belong to the host's root.
            try:
                k.write_file("/proc/%d/oom_score_adj" % init, str(plan.oom_score_adj))
            except OSError as exc:
                raise ConfigError("process.oomScoreAdj", os_error_text(exc)) from None
        moved = move_net_devices(k, init, plan.net_devices)
        rdt = apply_intel_rdt(k, plan.intel_rdt, init) if plan.intel_rdt is not None else None
        channel.peer = "container init"
        channel.send(Msg.GO)
        kind, _ = channel.expect(Msg.RUN_HOOKS, Msg.READY)
        if kind == Msg.RUN_HOOKS:
            hook_input = hook_state(cid, init, bundle, cfg.annotations, "creating")
            for hook in plan.hooks["prestart"] + plan.hooks["createRuntime"]:
                run_hook(hook, hook_input)
            channel.send(Msg.HOOKS_DONE)
            channel.expect(Msg.READY)
        state = record_started_init(store, cid, cfg, init, namespaces, plan.own_pid_namespace,
                                    manager.to_state() if manager is not None else None, opts.pid_file, rdt)
        if state is None:
            raise Error("container init exited during setup (status %s)" % reap(init))
        channel.send(Msg.RELEASE)
        channel.expect(Msg.RELEASED)
        return state, cfg
    except BaseException:
        restore_net_devices(k, init, moved)  # while the init holds its network namespace
        kill_and_reap((init, joiner))
        remove_intel_rdt(k, rdt, quiet=True)
        if manager is not None:
            destroy_cgroup_quietly(manager)
        store.remove(cid)
        raise
    finally:
        for fd in (parent_end, lock_fd):
            if fd is not None:
                os.close(fd)


def record_started_init(store, cid, cfg, init, namespaces, own_pid_namespace, cgroup, pid_file, intel_rdt=None):
    """Save the state of a container whose init `init` create has made or
    restore has brought back (what proves it later: start time, boot,
    namespaces, cgroup), then the pid file; None, and nothing saved, if the
    init has exited already."""
    state = ContainerState(
        id=cid, pid=init, pid_start=process_start_time(init), bundle=cfg.bundle, rootfs=cfg.root_path,
        created=rfc3339(), annotations=cfg.annotations, own_pid_namespace=own_pid_namespace,
        namespaces=namespaces, boot_id=boot_id(), cgroup=cgroup, intel_rdt=intel_rdt,
        hooks={phase: [h.to_json() for h in cfg.hooks[phase]] for phase in ("poststart", "poststop")})
    if state.pid_start is None:
        return None
    state.directory = store.path(cid)
    store.save(state)
    if pid_file:
        # containerd parses the pid file with Atoi: no trailing newline.
        write_atomically(os.path.abspath(pid_file), str(init), what="--pid-file")
    return state


def start_container(store, cid):
    lock_fd = store.lock(cid)
    try:
        state = store.load(cid)
        status = state.status()
        if status == "stopped":
            raise Error("cannot start a container that has stopped")
        if status == "running":
            raise Error("cannot start an already running container")
        if status != "created":
            raise Error("cannot start a container in the %s state" % status)
        fifo = os.path.join(state.directory, FIFO_FILE)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # ENXIO: nobody reads it any more, the init is gone
            raise Error("container not running") from None
        try:
            import stat as stat_module

            if not stat_module.S_ISFIFO(os.fstat(fd).st_mode):
                raise Error("container %s: %s is not a FIFO; refusing to start" % (cid, fifo))
            os.write(fd, b"0")
            os.unlink(fifo)
        except BaseException:
            os.close(fd)
            raise
    finally:
        os.close(lock_fd)
    try:
        wait_for_exec(fd)
    finally:
        os.close(fd)
    failure = read_start_error(state)
    if failure:
        # The init did not reach execve (a startContainer hook failed): it
        # has exited, the container is stopped, and no poststart hook runs.
        wait_for_exit(state.pid, 10)
        raise Error("container %s did not start: %s" % (cid, failure))
    run_phase_hooks(state, "poststart", "running")
    return state


def read_start_error(state):
    try:
        with open(os.path.join(state.directory, START_ERROR_FILE), "rb") as handle:
            return handle.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def run_phase_hooks(state, phase, status):
    """poststart and poststop: a failure is a warning, and the rest still run (spec)."""
    hooks = state.hooks_for(phase)
    if not hooks:
        return
    payload = state.hook_state(status)
    for hook in hooks:
        try:
            run_hook(hook, payload)
        except Error as exc:
            LOG.warning(str(exc))


def container_pids(state, init):
    """Every process in the container's own pid namespace, the init first.
    Only called with a proven init, whose pid namespace is not ours."""
    try:
        target = os.readlink("/proc/%d/ns/pid" % init)
    except OSError:
        return []
    pids = [init]
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != init:
            try:
                if os.readlink("/proc/%s/ns/pid" % name) == target:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


def kill_container(store, cid, signal, all_processes=False):
    state = store.load(cid)
    status = state.status()
    init = state.proven_init() if status in ("created", "running", "paused") else None
    if init is None and all_processes and state.cgroup:
        # runc: --all of a stopped container signals what is left in its
        # cgroup (forks of an init without a pid namespace of its own), here
        # only what is proven the container's (stopped_cgroup).
        manager, left, theirs = stopped_cgroup(state)
        if manager is not None:
            kill_proven_processes(left, theirs, 0, signal)
        return
    if init is None:
        raise Error("container not running")  # the exact words engines match
    others = []
    if all_processes:
        manager = state.proven_cgroup(init)
        if manager is not None:
            # Through the cgroup: every process, also with the host's pid namespace.
            manager.kill(signal)
            return
        if state.own_pid_namespace:
            others = container_pids(state, init)[1:]
        else:
            LOG.warning("kill --all: the container shares the host's pid namespace and has no cgroup "
                        "of its own; only its init can be found and signalled")
    manager = state.proven_cgroup(init) if status == "paused" and signal == SIGNALS["KILL"] else None
    state.signal_init(signal)
    signal_pids(others, signal)
    if manager is not None:
        manager.thaw()  # a frozen process cannot die until thawed (runc thaws for SIGKILL too)


def delete_container(store, cid, force=False):
    try:
        lock_fd = store.lock(cid)
    except ContainerNotFound:
        if force:  # already gone (perhaps a parallel delete): that is what was asked
            return
        raise
    status = None
    try:
        try:
            state = store.load(cid)
        except ContainerNotFound:
            if force:
                store.remove_if_reserved(cid)
                return
            raise
        except Error as exc:
            if not force:
                raise
            # A state file we cannot read names no process we could prove:
            # what is left is found through what can be proven.
            LOG.warning("%s; removing what can be proven to be the container's" % exc)
            remove_unreadable_container(store, cid)
            return
        status = state.status()
        if status == "creating":
            remove_unreadable_container(store, cid)  # its create died before writing state.json
            return
        if status in ("running", "paused") and not force:
            raise Error("cannot delete container %s that is not stopped: %s" % (cid, status))
        manager, forged, init = None, False, None
        if status in ("created", "running", "paused"):
            # A created container is deleted without --force, as runc does:
            # `docker run` of a bad command relies on it. SIGKILL to the init
            # of a pid namespace kills every process in it (the kernel does).
            try:
                init = state.proven_init()
            except Error as exc:
                if not force:
                    raise
                LOG.warning("%s; removing its state without signalling it" % exc)
                init, forged = None, True
            if init is not None:
                try:
                    manager = state.proven_cgroup(init)
                except Error as exc:
                    if not force:
                        raise
                    LOG.warning("%s; signalling only its proven init" % exc)
                    forged = True
                if manager is not None:
                    manager.kill(9)  # thaws a paused container; reaches the host pid namespace's too
                else:
                    state.signal_init(9)
                if not state.wait_init(10):
                    raise Error("container %s: init %d did not die after SIGKILL" % (cid, init))
        if manager is not None:
            manager.destroy()
        elif init is None and state.cgroup and not forged:
            remove_stopped_cgroup(state)
        remove_intel_rdt(kernel(), state.intel_rdt)
        store.remove(cid)
    finally:
        os.close(lock_fd)
    if status not in (None, "creating"):
        run_phase_hooks(state, "poststop", "stopped")


def forward_signals(pid):
    """`run` and `exec` in the foreground pass the signals they get on."""
    import _signal

    def forward(signum, _frame):
        signal_pids([pid], signum)

    # Not WINCH: the terminal relay passes window sizes on itself.
    for name in ("HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "ALRM", "CONT", "TSTP", "TTIN", "TTOU"):
        _signal.signal(SIGNALS[name], forward)


def wait_in_foreground(pid, master, stdio=None):
    """Relay the terminal or the stdio pipes (if any) and wait for our child
    `pid`; its exit code."""
    forward_signals(pid)
    if master is not None:
        relay_terminal(master, pid)
    elif stdio is not None:
        stdio.relay(pid)
    return exit_code(reap(pid))


def run_container(store, cid, opts, detach=False, keep=False):
    """create + start, then (unless --detach) wait and return the container's exit code."""
    relay_end = console_end = master = stdio = None
    cfg = load_config(os.path.abspath(opts.bundle or "."))
    if cfg.process.terminal and opts.console_socket is None:
        if detach:
            raise ConfigError("process.terminal", "run --detach with a terminal needs --console-socket")
        relay_end, console_end = kernel().socketpair()  # the init sends the pty master here
    if not detach and not cfg.process.terminal:
        stdio = stdio_relay()
    try:
        try:
            state, cfg = create_container(store, cid, opts, console_fd=console_end, cfg=cfg, stdio=stdio)
        finally:
            if console_end is not None:
                os.close(console_end)
        try:
            if relay_end is not None:
                master = kernel().recv_fd(relay_end)
            start_container(store, cid)
        except BaseException:
            if stdio is not None:
                stdio.drain()  # what a startContainer hook or the failed init wrote
            delete_container(store, cid, force=True)
            raise
        if detach:
            return 0
        try:
            return wait_in_foreground(state.pid, master, stdio)
        finally:
            if not keep:
                delete_container(store, cid, force=True)
    finally:
        for fd in (relay_end, master):
            if fd is not None:
                os.close(fd)
        if stdio is not None:
            stdio.close()


def exec_container(store, cid, opts):
    """runc exec: a new process in a created or running container. Returns
    the process's exit code (0 with --detach, once it has exec'd)."""
    start_cgroup_migration_grace_period(HOST.cgroup_layout, HOST.own_cgroups)
    state = store.load(cid)
    status = state.status()
    if status == "stopped":
        raise Error("cannot exec in a stopped container")
    if status == "paused" and not opts.ignore_paused:
        raise Error("cannot exec in a paused container (use --ignore-paused to override)")
    if status not in ("created", "running", "paused"):
        raise Error("cannot exec in a container in the %s state" % status)
    init = state.proven_init()
    if init is None:
        raise Error("cannot exec in a stopped container")
    manager = state.proven_cgroup(init)
    if manager is None and opts.cgroup:
        raise Error("exec: --cgroup: container %s has no cgroup of its own" % cid)
    cfg = state.kept_config()
    plan = plan_exec(cid, init, cfg, opts, HOST)
    if manager is not None:
        plan.cgroup = exec_cgroup_dirs(manager, opts.cgroup)
    k = kernel()
    pplan = plan.process
    floor = 3 + pplan.keep_fds
    fds = ChildFds()
    relay_end = master = parent_end = None
    stage = process = None
    stdio = None if opts.detach or pplan.terminal else stdio_relay()
    try:
        for kind, path in plan.join:
            fds.namespaces[kind] = lift_fd(open_namespace(k, kind, path, "exec: namespace"), floor)
        fds.root = lift_fd(os.open("/proc/%d/root" % init, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), floor)
        if process_start_time(init) != state.pid_start:  # the pid was reused while we opened its files
            raise Error("cannot exec in a stopped container")
        if pplan.terminal:
            if opts.console_socket is not None:
                try:
                    fds.console = lift_fd(k.connect_unix(opts.console_socket), floor)
                except OSError as exc:
                    raise Error("--console-socket: %s" % os_error_text(exc)) from None
            else:
                relay_end, console = k.socketpair()
                fds.console = lift_fd(console, floor)
        if pplan.seccomp is not None and pplan.seccomp.notify:
            try:
                fds.listener = lift_fd(k.connect_unix(pplan.seccomp.listener_path), floor)
            except OSError as exc:
                raise ConfigError("linux.seccomp.listenerPath", os_error_text(exc)) from None
        parent_end, fds.channel = (lift_fd(fd, floor) for fd in k.socketpair())
        fds.close_first = [parent_end] + ([relay_end] if relay_end is not None else []) + \
            ([LOG._fd] if LOG._fd is not None else [])
        if stdio is not None:
            fds.relay_stdio(stdio, floor)
        stage = spawn(k, fds, lambda: exec_stage_main(k, plan, fds))
        channel = Channel(parent_end, "exec")
        apply_cpu_affinity(k, stage, pplan, "initial")  # before it joins anything
        for directory in plan.cgroup:  # before it joins the cgroup namespace
            try:
                with open(directory + "/cgroup.procs", "w") as procs:
                    procs.write(str(stage))
            except OSError as exc:
                raise Error("exec: cannot join the container's cgroup %s: %s"
                            % (directory, os_error_text(exc))) from None
        join_intel_rdt(k, state.intel_rdt, stage)
        reap_migration_helpers()
        channel.send(Msg.PLACED)
        try:
            process = channel.expect(Msg.PROCESS_PID)
        finally:
            reap(stage)
            stage = None
        channel.send(Msg.GO)
        if relay_end is not None:
            master = k.recv_fd(relay_end)
        channel.expect_eof()
        if opts.pid_file:
            write_atomically(os.path.abspath(opts.pid_file), str(process), what="--pid-file")
    except BaseException:
        kill_and_reap((process, stage))
        for fd in (relay_end, master):
            if fd is not None:
                os.close(fd)
        if stdio is not None:
            stdio.close()
        raise
    finally:
        if parent_end is not None:
            os.close(parent_end)
    if opts.detach:
        for fd in (relay_end, master):
            if fd is not None:
                os.close(fd)
        return 0
    try:
        return wait_in_foreground(process, master, stdio)
    finally:
        for fd in (relay_end, master):
            if fd is not None:
                os.close(fd)
        if stdio is not None:
            stdio.close()


# --- resource control: update, pause, resume, ps, events --------------------


def live_cgroup(store, cid, state=None):
    """(state, status, manager) of a created, running or paused container whose cgroup
    has been shown to hold its proven init."""
    state = state or store.load(cid)
    status = state.status()
    init = state.proven_init() if status != "stopped" else None
    if init is None:
        raise Error("container not running")
    manager = state.proven_cgroup(init)
    if manager is None:
        raise Error("container %s has no cgroup of its own (created without root)" % cid)
    return state, status, manager


def update_container(store, cid, resources, source=None):
    """runc update: the limits given (zero values unset) on a live container,
    paused too. `source` says where the values came from: the --resources
    input's name, or a dict of the flags given; the kernel's refusal of a
    value then names that flag or that input, not a config.json field."""
    state, _status, manager = live_cgroup(store, cid)
    update_intel_rdt(kernel(), state.intel_rdt, resources.intel_rdt, cid, HOST.resctrl)
    try:
        manager.update(resources)
    except Error as exc:
        raise Error(update_error_named(str(exc), source)) from None


def pause_container(store, cid):
    _state, status, manager = live_cgroup(store, cid)
    if status not in ("created", "running"):
        raise Error("container not running")
    manager.freeze()


def resume_container(store, cid):
    _state, status, manager = live_cgroup(store, cid)
    if status != "paused":
        raise Error("container not paused")
    manager.thaw()


def ps_container(store, cid, fmt, ps_args):
    """runc ps: JSON, the array of host pids (Docker's `top` reads it), or the
    lines of ps(1) (default -ef) whose PID is in the container's cgroup; of a
    stopped container, what is proven its own of what is left there (as kill
    --all finds it), often nothing: the header alone, as runc prints it."""
    state = store.load(cid)
    if state.status() == "stopped" and state.cgroup:
        _manager, left, theirs = stopped_cgroup(state)
        pids = sorted(pid for pid in left if theirs(pid))
    else:
        pids = sorted(live_cgroup(store, cid, state)[2].pids())
    if fmt == "json":
        print_out(json_dumps(pids) + "\n")
        return 0
    argv = ["ps"] + (ps_args or ["-ef"])
    try:
        status, out = run_capturing_stdout(argv)
    except OSError as exc:
        raise Error("ps: %s" % os_error_text(exc)) from None
    if status != 0:
        raise Error("ps: %s exited with status %d" % (" ".join(argv), status))
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if not lines or "PID" not in lines[0].split():
        raise Error("ps: no PID column in its output (%s)" % " ".join(ps_args))
    column = lines[0].split().index("PID")
    wanted = set(str(p) for p in pids)
    rows = [lines[0]] + [line for line in lines[1:]
                         if len(line.split()) > column and line.split()[column] in wanted]
    print_out("".join(row + "\n" for row in rows))
    return 0


def events_container(store, cid, stats_only=False, interval=5.0):
    """runc events: JSON lines, {"type":"stats","id":ID,"data":{...}} every
    interval and {"type":"oom","id":ID} when the OOM killer strikes in the
    container, until it stops; with --stats one stats line."""
    import time

    state, _status, manager = live_cgroup(store, cid)

    def emit(kind, data=None):
        event = {"type": kind, "id": cid}
        if data is not None:
            event["data"] = data
        print_out(json_dumps(event) + "\n")

    if stats_only:
        emit("stats", manager.stats())
        return 0
    ooms = manager.oom_count() or 0
    next_stats = 0.0
    while True:
        alive = state.alive()
        count = manager.oom_count() or 0
        if count > ooms:  # read after alive(): an OOM that stopped the container is still reported
            ooms = count
            emit("oom")
        if not alive:
            return 0
        now = time.monotonic()
        if now >= next_stats:
            try:
                data = manager.stats()
            except (OSError, Error):
                if not state.alive():
                    return 0    # stopped and deleted between alive() and the read
                raise
            emit("stats", data)
            next_stats = now + interval
        # Polling, at most 10 times a second: the OOM count has no cheap
        # blocking wait on every layout (v1 needs an eventfd per cgroup).
        time.sleep(min(0.1, max(0.0, next_stats - now)) or 0.1)

# ===========================================================================
# 19. CRIU's RPC: protobuf and criu swrk
# ===========================================================================
# Checkpoint and restore hand the container's processes to CRIU as runc
# (go-criu) and crun (libcriu) do: `criu swrk 3` runs with one end of a
# SOCK_SEQPACKET socketpair as its fd 3 and serves one request (DUMP,
# PRE_DUMP or RESTORE). It answers with notifications, each acknowledged
# before it goes on (network-lock and -unlock, setup-namespaces,
# post-restore, orphan-pts-master with a restored terminal's pty master over
# SCM_RIGHTS), then with the result. The few messages of CRIU's
# images/rpc.proto this takes are encoded and decoded here (protobuf's wire
# format: varints and length-delimited fields), so no protobuf package; the
# unit tests hold them against messages runc and CRIU really exchanged.

CRIU_MIN_VERSION = (3, 11, 0)           # rst_sibling, orphan_pts_master, external namespaces, VERSION
CRIU_LOG_LEVEL = 4                      # what runc asks for: the log says why a dump failed

# -- protobuf, the wire format ------------------------------------------------
# {message: {field: (number, type[, repeated])}}: a scalar type ("int32",
# "uint32", "bool", "enum", "string") or the name of another message. The
# fields are rpc.proto's (criu 4.x); a field a newer CRIU adds is skipped when
# decoding.
PB_MESSAGES = {
    "criu_req": {"type": (1, "enum"), "opts": (2, "criu_opts"), "notify_success": (3, "bool"),
                 "keep_open": (4, "bool"), "features": (5, "criu_features"), "pid": (6, "uint32")},
    "criu_resp": {"type": (1, "enum"), "success": (2, "bool"), "dump": (3, "criu_dump_resp"),
                  "restore": (4, "criu_restore_resp"), "notify": (5, "criu_notify"),
                  "ps": (6, "criu_page_server_info"), "cr_errno": (7, "int32"), "features": (8, "criu_features"),
                  "cr_errmsg": (9, "string"), "version": (10, "criu_version"), "status": (11, "int32")},
    "criu_opts": {
        "images_dir_fd": (1, "int32"), "pid": (2, "int32"), "leave_running": (3, "bool"),
        "ext_unix_sk": (4, "bool"), "tcp_established": (5, "bool"), "evasive_devices": (6, "bool"),
        "shell_job": (7, "bool"), "file_locks": (8, "bool"), "log_level": (9, "int32"), "log_file": (10, "string"),
        "ps": (11, "criu_page_server_info"), "notify_scripts": (12, "bool"), "root": (13, "string"),
        "parent_img": (14, "string"), "track_mem": (15, "bool"), "auto_dedup": (16, "bool"),
        "work_dir_fd": (17, "int32"), "link_remap": (18, "bool"), "cpu_cap": (20, "uint32"),
        "force_irmap": (21, "bool"), "exec_cmd": (22, "string", True), "ext_mnt": (23, "ext_mount_map", True),
        "manage_cgroups": (24, "bool"), "cg_root": (25, "cgroup_root", True), "rst_sibling": (26, "bool"),
        "inherit_fd": (27, "inherit_fd", True), "auto_ext_mnt": (28, "bool"), "ext_sharing": (29, "bool"),
        "ext_masters": (30, "bool"), "skip_mnt": (31, "string", True), "enable_fs": (32, "string", True),
        "manage_cgroups_mode": (34, "enum"), "ghost_limit": (35, "uint32"),
        "irmap_scan_paths": (36, "string", True), "external": (37, "string", True), "empty_ns": (38, "uint32"),
        "cgroup_props": (41, "string"), "cgroup_props_file": (42, "string"),
        "cgroup_dump_controller": (43, "string", True), "freeze_cgroup": (44, "string"), "timeout": (45, "uint32"),
        "tcp_skip_in_flight": (46, "bool"), "weak_sysctls": (47, "bool"), "lazy_pages": (48, "bool"),
        "status_fd": (49, "int32"), "orphan_pts_master": (50, "bool"), "config_file": (51, "string"),
        "tcp_close": (52, "bool"), "lsm_profile": (53, "string"), "lsm_mount_context": (63, "string"),
    },
    "criu_page_server_info": {"address": (1, "string"), "port": (2, "int32"), "pid": (3, "int32"),
                              "fd": (4, "int32")},
    "ext_mount_map": {"key": (1, "string"), "val": (2, "string")},
    "inherit_fd": {"key": (1, "string"), "fd": (2, "int32")},
    "cgroup_root": {"ctrl": (1, "string"), "path": (2, "string")},
    "criu_features": {"mem_track": (1, "bool"), "lazy_pages": (2, "bool"), "pidfd_store": (3, "bool")},
    "criu_dump_resp": {"restored": (1, "bool")},
    "criu_restore_resp": {"pid": (1, "int32")},
    "criu_notify": {"script": (1, "string"), "pid": (2, "int32")},
    "criu_version": {"major_number": (1, "int32"), "minor_number": (2, "int32"), "gitid": (3, "string"),
                     "sublevel": (4, "int32"), "extra": (5, "int32"), "name": (6, "string")},
}
PB_VARINT_TYPES = ("int32", "uint32", "bool", "enum")
CRIU_REQ_TYPES = {"EMPTY": 0, "DUMP": 1, "RESTORE": 2, "CHECK": 3, "PRE_DUMP": 4, "PAGE_SERVER": 5,
                  "NOTIFY": 6, "FEATURE_CHECK": 9, "VERSION": 10}
# runc's --manage-cgroups-mode names, and rpc.proto's criu_cg_mode (DEFAULT, 6: CRIU's own choice, soft)
CRIU_CGROUP_MODES = {"ignore": 0, "soft": 3, "full": 4, "strict": 5}
CRIU_CGROUP_MODE_DEFAULT = 6
# runc's: a CRIU configuration file for containers, unless the annotation names another ("" for none)
CRIU_CONFIG_FILE = "/etc/criu/runc.conf"
CRIU_CONFIG_ANNOTATION = "org.criu.config"


def pb_varint(value):
    """A varint; a negative int32 takes ten bytes (two's complement in 64 bits)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def pb_encode(message, values):
    """The bytes of `message` with `values` ({field: value}; a list for a
    repeated field), in field-number order as protobuf's own encoders write
    them. A field present with False or 0 is written (proto2 presence)."""
    fields = PB_MESSAGES[message]
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError("%s has no field %s" % (message, ", ".join(sorted(unknown))))
    out = bytearray()
    for name, spec in sorted(fields.items(), key=lambda item: item[1][0]):
        if values.get(name) is None:
            continue
        number, kind = spec[0], spec[1]
        for value in (values[name] if len(spec) > 2 else [values[name]]):
            if kind in PB_VARINT_TYPES:
                out += pb_varint(number << 3) + pb_varint(int(value))
            else:
                raw = value.encode() if kind == "string" else pb_encode(kind, value)
                out += pb_varint(number << 3 | 2) + pb_varint(len(raw)) + raw
    return bytes(out)


def pb_read_varint(data, pos):
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def pb_decode(message, data):
    """{field: value} of `message` in `data`; ValueError if it is not protobuf."""
    by_number = {spec[0]: (name, spec) for name, spec in PB_MESSAGES[message].items()}
    values = {}
    pos = 0
    while pos < len(data):
        key, pos = pb_read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            raw, pos = pb_read_varint(data, pos)
        elif wire in (1, 5):    # fixed64, fixed32: no field here has them
            pos += 8 if wire == 1 else 4
            raw = None
        elif wire == 2:
            length, pos = pb_read_varint(data, pos)
            raw, pos = bytes(data[pos:pos + length]), pos + length
        else:
            raise ValueError("wire type %d" % wire)
        if pos > len(data):
            raise ValueError("truncated field %d" % number)
        if number not in by_number or raw is None:
            continue    # a field of a newer CRIU
        name, spec = by_number[number]
        kind = spec[1]
        if kind in PB_VARINT_TYPES:
            if not isinstance(raw, int):
                raise ValueError("field %s: expected a varint" % name)
            value = (raw - (1 << 64) if raw >= 1 << 63 else raw) if kind == "int32" else \
                bool(raw) if kind == "bool" else raw
        elif isinstance(raw, int):
            raise ValueError("field %s: expected bytes" % name)
        else:
            value = raw.decode("utf-8", "replace") if kind == "string" else pb_decode(kind, raw)
        if len(spec) > 2:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values


# -- talking to criu swrk -------------------------------------------------------

class CriuError(Error):
    pass


def criu_version_text(version):
    return ".".join(str(n) for n in version)


class CriuSwrk:
    """One `criu swrk 3`: CRIU's service, on our socket, for one request.

    Its stdio is `stdio` (restore: what the restored process gets; else
    /dev/null), its fd 3 its end of the socketpair, and 4, 5, ... the fds of
    `inherited` (restore's external namespaces). Every other fd of ours is
    close-on-exec."""

    MAX_MESSAGE = 10 * 4096  # runc's buffer: a larger answer is an error

    def __init__(self, binary, stdio=None, inherited=()):
        import fcntl

        k = kernel()
        self.binary = binary
        self.sock, theirs = k.seqpacket_pair()
        null = None
        if stdio is None:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            stdio = (null, null, null)
        sources = list(stdio) + [theirs] + list(inherited)
        # Every source above the numbers it is moved to, so that no dup2 of
        # the spawn overwrites a source not yet moved.
        floor = len(sources) + 3
        lifted = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in sources]
        try:
            self.pid = os.posix_spawnp(
                binary, [binary, "swrk", "3"], dict(os.environ),
                file_actions=[(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(lifted)],
                setsigdef=range(1, 32))
        except FileNotFoundError:
            raise CriuError("criu: %s not found (install CRIU: checkpoint and restore need it)" % binary) from None
        except OSError as exc:
            raise CriuError("criu: cannot run %s: %s" % (binary, os_error_text(exc))) from None
        finally:
            for fd in lifted + [theirs] + ([null] if null is not None else []):
                os.close(fd)
        self.status = None

    def send(self, request):
        try:
            os.write(self.sock, pb_encode("criu_req", request))
        except OSError as exc:
            raise CriuError("criu: %s went away: %s" % (self.binary, os_error_text(exc))) from None

    def receive(self):
        """The next criu_resp and the fds that came with it."""
        try:
            data, fds = kernel().recv_message(self.sock, self.MAX_MESSAGE)
        except OSError as exc:
            raise CriuError("criu: cannot read its answer: %s" % os_error_text(exc)) from None
        if not data:
            raise CriuError("criu: %s exited without answering (status %s)" % (self.binary, self.finish()))
        try:
            return pb_decode("criu_resp", data), fds
        except ValueError as exc:
            for fd in fds:
                os.close(fd)
            raise CriuError("criu: malformed answer: %s" % exc) from None

    def finish(self):
        """Close our end (criu then exits) and wait for it: its exit code."""
        if self.sock is not None:
            os.close(self.sock)
            self.sock = None
        if self.status is None:
            self.status = exit_code(os.waitpid(self.pid, 0)[1])
        return self.status


def criu_ask(binary, request):
    """The answer of a `criu swrk` of its own to one question (VERSION, FEATURE_CHECK)."""
    swrk = CriuSwrk(binary)
    try:
        swrk.send(request)
        answer, fds = swrk.receive()
    finally:
        swrk.finish()
    for fd in fds:
        os.close(fd)
    return answer


def criu_version(binary):
    """(major, minor, sublevel) of `binary`, asked over its RPC (runc asks so too)."""
    answer = criu_ask(binary, {"type": CRIU_REQ_TYPES["VERSION"]})
    version = answer.get("version")
    if not answer.get("success") or not version:
        raise CriuError("criu: %s is too old (no VERSION request; minirun needs CRIU %s or newer)"
                        % (binary, criu_version_text(CRIU_MIN_VERSION)))
    found = (version.get("major_number", 0), version.get("minor_number", 0), version.get("sublevel", 0))
    if found < CRIU_MIN_VERSION:
        raise CriuError("criu: %s is version %s; minirun needs CRIU %s or newer"
                        % (binary, criu_version_text(found), criu_version_text(CRIU_MIN_VERSION)))
    return found


def criu_missing_features(binary, wanted):
    """Those of `wanted` (criu_features' field names) this CRIU and kernel lack."""
    answer = criu_ask(binary, {"type": CRIU_REQ_TYPES["FEATURE_CHECK"],
                               "features": {name: True for name in wanted}})
    found = answer.get("features") or {}
    return [name for name in wanted if not found.get(name)]


def criu_log_error(log_path):
    """The error line of CRIU's log that says why it failed, or ""."""
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 65536))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    # The first error is the cause, the rest its consequences ("Dump files
    # failed", "Dumping FAILED."); CRIU's failure to raise its own fd limit
    # is logged as an error but is none.
    errors = [line.split(") ", 1)[-1].strip() for line in lines
              if "Error (" in line[:40] and "rlimit: " not in line]
    return errors[0] if errors else ""


def criu_request(swrk, kind, opts, on_notify, log_path):
    """Send one request and serve its notifications; the final criu_resp.
    A notification whose handler fails is answered as failed (CRIU then
    undoes what it did) and the handler's error is raised."""
    swrk.send({"type": CRIU_REQ_TYPES[kind], "opts": opts})
    while True:
        answer, fds = swrk.receive()
        try:
            if not answer.get("success"):
                reason = criu_log_error(log_path) or (answer.get("cr_errmsg") or "").strip() or \
                    "errno %d" % answer.get("cr_errno", 0)
                raise CriuError("criu failed (%s): %s; log: %s" % (kind.lower().replace("_", "-"), reason, log_path))
            if answer.get("type") != CRIU_REQ_TYPES["NOTIFY"]:
                return answer
            notify = answer.get("notify") or {}
            try:
                on_notify(notify.get("script", ""), notify.get("pid", 0), fds)
            except BaseException:
                swrk.send({"type": CRIU_REQ_TYPES["NOTIFY"], "notify_success": False})
                raise
            swrk.send({"type": CRIU_REQ_TYPES["NOTIFY"], "notify_success": True})
        finally:
            for fd in fds:
                os.close(fd)


# ===========================================================================
# 20. Checkpoint and restore
# ===========================================================================
# What CRIU cannot see for itself comes from the config the container was
# created with (kept beside its state; the bundle's may have changed since):
# bind mounts, masked files, device nodes and a v1 cgroup mount's binds are
# external mounts, keyed by their destination and mapped back to their
# sources on restore; network and pid namespaces joined by path are external
# namespaces, given back on restore as inherited fds. The init's stdio pipes
# are recorded in the image's descriptors.json (runc's file, so images move
# between the two) and on restore are the restoring caller's stdio, as
# engines expect. The requests are planned by pure functions (plan_dump,
# plan_restore) from decoded flags and facts read before.
#
# A checkpointed container is stopped: its state stays and `delete` works as
# after any exit. It is marked checkpointed, and `restore` of the same ID
# replaces it (`runc checkpoint X; runc restore X` works, runc removing the
# container at checkpoint). A restored container has the state of one created
# and started: its init is proven by pid, start time and namespaces, and its
# cgroup is made by restore (CRIU puts the tasks in it: cg_root). Hooks run
# as runc runs them on restore: prestart and createRuntime once CRIU has made
# the namespaces, poststop at delete.

CHECKPOINTED_FILE = "checkpointed"      # in the container's directory: restore may replace it
DESCRIPTORS_FILE = "descriptors.json"   # in the image: the init's fds 0-2, as runc writes it


# -- what CRIU is told ----------------------------------------------------------

class CriuFlags:
    """The command line of checkpoint and restore, decoded (criu_flags)."""

    __slots__ = ("image_path", "work_path", "parent_path", "leave_running", "tcp_established", "ext_unix_sk",
                 "shell_job", "file_locks", "pre_dump", "cgroups_mode", "empty_ns", "auto_dedup",
                 "lazy_pages", "status_fd", "page_server", "lsm_profile", "lsm_mount_context")


EMPTY_NS_FLAGS = {"network": CLONE_NEWNET}   # the only one runc takes


def criu_flags(values, command):
    flags = CriuFlags()
    flags.image_path = os.path.abspath(values.get("image-path") or os.path.join(os.getcwd(), "checkpoint"))
    flags.work_path = os.path.abspath(values["work-path"]) if values.get("work-path") else None
    flags.parent_path = values.get("parent-path")
    for name in ("leave-running", "tcp-established", "ext-unix-sk", "shell-job", "file-locks", "pre-dump",
                 "auto-dedup", "lazy-pages"):
        setattr(flags, name.replace("-", "_"), bool(values.get(name, False)))
    mode = values.get("manage-cgroups-mode")
    if mode is not None and mode not in CRIU_CGROUP_MODES:
        raise UsageError("%s: --manage-cgroups-mode must be one of soft, full, strict, ignore, not %r"
                         % (command, mode))
    flags.cgroups_mode = mode
    # runc always leaves the network namespace empty (it configures no
    # network devices; an engine's hook or a joined namespace does).
    flags.empty_ns = EMPTY_NS_FLAGS["network"]
    for name in values.get("empty-ns", []):
        if name not in EMPTY_NS_FLAGS:
            raise UsageError("%s: --empty-ns: namespace %r is not supported (only network)" % (command, name))
    flags.status_fd = None
    if values.get("status-fd") is not None:
        if not is_decimal(values["status-fd"]):
            raise UsageError("%s: --status-fd must be a file descriptor number" % command)
        flags.status_fd = int(values["status-fd"])
    flags.page_server = None
    if values.get("page-server"):
        address, _, port = values["page-server"].rpartition(":")
        if not address or not is_decimal(port) or not 0 < int(port) < 65536:
            raise UsageError("%s: --page-server must be ADDRESS:PORT, not %r" % (command, values["page-server"]))
        flags.page_server = (address.strip("[]"), int(port))
    flags.lsm_profile = values.get("lsm-profile")
    flags.lsm_mount_context = values.get("lsm-mount-context")
    return flags


def criu_common_opts(flags, log_file, annotations):
    """What a dump and a restore are both told, as runc tells them."""
    opts = {"log_level": CRIU_LOG_LEVEL, "log_file": log_file, "manage_cgroups": True, "notify_scripts": True,
            "shell_job": flags.shell_job, "tcp_established": flags.tcp_established,
            "ext_unix_sk": flags.ext_unix_sk, "file_locks": flags.file_locks, "empty_ns": flags.empty_ns,
            "orphan_pts_master": True, "auto_dedup": flags.auto_dedup, "lazy_pages": flags.lazy_pages,
            "manage_cgroups_mode": CRIU_CGROUP_MODES.get(flags.cgroups_mode, CRIU_CGROUP_MODE_DEFAULT)}
    config_file = annotations.get(CRIU_CONFIG_ANNOTATION, CRIU_CONFIG_FILE)
    if config_file:
        opts["config_file"] = config_file
    return opts


def external_namespace_key(kind):
    """The key of a namespace joined by path in the image ("extRootNetNS", as runc names it)."""
    return "extRoot%sNS" % {"network": "Net", "pid": "Pid"}[kind]


def v1_cgroup_binds(manager):
    """plan_cgroup_mount's binds of the container's cgroup (`manager`) on a
    v1 or hybrid host; none on v2 or without a cgroup."""
    if manager is None or HOST.cgroup_layout.kind == "v2":
        return ()
    return plan_cgroup_mount(manager, HOST.cgroup_layout, links=())[1]


def cgroup_mount_binds(cfg, binds):
    """(destination, host directory) of each bind a v1 `cgroup` mount is made
    of (`binds`: plan_cgroup_mount's, for the container's cgroup); a cgroup2
    mount is a filesystem of the container's own, which CRIU dumps itself."""
    return [(m.destination.rstrip("/") + "/" + name, d)
            for m in cfg.mounts if m.type == "cgroup" for name, d in binds]


def plan_dump(cfg, flags, init, masked_files, criu_version_found, freezer, joined_namespaces,
              cgroup_binds=()):
    """criu_opts of a checkpoint (pure): `masked_files`, the masked paths
    that are files in the container (bound from /dev/null); `freezer`,
    (the container's freezer cgroup directory, whether it is v2) or None;
    `joined_namespaces`,
    {kind: inode} of the network and pid namespaces joined by path;
    `cgroup_binds`, plan_cgroup_mount's binds of a v1 layout."""
    opts = criu_common_opts(flags, "dump.log", cfg.annotations)
    opts.update({"pid": init, "root": cfg.root_path, "leave_running": flags.leave_running,
                 "link_remap": False, "tcp_skip_in_flight": False})
    external = ["%s[%d]:%s" % ("net" if kind == "network" else kind, inode, external_namespace_key(kind))
                for kind, inode in sorted(joined_namespaces.items())]
    if external:
        opts["external"] = external
    # cgroup v2's freezer needs CRIU 3.14; without it CRIU stops the tasks with ptrace.
    if freezer and (not freezer[1] or criu_version_found >= (3, 14, 0)):
        opts["freeze_cgroup"] = freezer[0]
    if flags.page_server:
        opts["ps"] = {"address": flags.page_server[0], "port": flags.page_server[1]}
    if flags.parent_path:
        opts["parent_img"] = flags.parent_path
    if flags.parent_path or flags.pre_dump:
        opts["track_mem"] = True
    if flags.lazy_pages and flags.status_fd is not None:
        opts["status_fd"] = flags.status_fd
    if not flags.pre_dump:   # a pre-dump saves memory only
        mounts = [{"key": m.destination, "val": m.destination} for m in cfg.mounts if m.is_bind]
        mounts += [{"key": path, "val": "/dev/null"} for path in masked_files]
        mounts += [{"key": d.path, "val": d.path} for d in criu_devices(cfg)]
        mounts += [{"key": path, "val": path} for path, _ in cgroup_mount_binds(cfg, cgroup_binds)]
        opts["ext_mnt"] = mounts
    return opts


def criu_devices(cfg):
    """The device nodes create put in /dev: the config's and the defaults."""
    seen = {d.path for d in cfg.devices}
    return list(cfg.devices) + [d for d in default_devices() if d.path not in seen]


def plan_restore(cfg, flags, root, cgroup_roots, descriptors, inherited_namespaces, cgroup_binds=()):
    """criu_opts of a restore (pure): `root`, where the rootfs is bound for
    CRIU; `cgroup_roots`, {controller: path} of the container's cgroup;
    `descriptors`, the image's descriptors.json; `inherited_namespaces`,
    [(kind, fd number in criu)] of the namespaces joined by path."""
    opts = criu_common_opts(flags, "restore.log", cfg.annotations)
    opts.update({"root": root, "evasive_devices": True, "rst_sibling": True})
    if flags.lsm_profile:
        opts["lsm_profile"] = flags.lsm_profile
    if flags.lsm_mount_context:
        opts["lsm_mount_context"] = flags.lsm_mount_context
    mounts = [{"key": m.destination, "val": m.source} for m in cfg.mounts if m.is_bind]
    if cfg.masked_paths:
        mounts.append({"key": "/dev/null", "val": "/dev/null"})
    mounts += [{"key": d.path, "val": d.path} for d in criu_devices(cfg)]
    mounts += [{"key": path, "val": d} for path, d in cgroup_mount_binds(cfg, cgroup_binds)]
    opts["ext_mnt"] = mounts
    opts["cg_root"] = [{"ctrl": ctrl, "path": path} for ctrl, path in sorted(cgroup_roots.items())]
    inherit = [{"key": external_namespace_key(kind), "fd": fd} for kind, fd in inherited_namespaces]
    # The init's pipes become the caller's: fd i of criu is the restorer's stdio i.
    inherit += [{"key": name, "fd": fd} for fd, name in enumerate(descriptors[:3]) if name.startswith("pipe:")]
    opts["inherit_fd"] = inherit
    return opts


# -- checkpoint -------------------------------------------------------------------

def open_image_dir(path, create, what):
    if create:
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError as exc:
            raise Error("%s %s: %s" % (what, path, os_error_text(exc))) from None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise Error("%s %s: %s" % (what, path, os_error_text(exc))) from None


def masked_files(init, cfg):
    """The masked paths that are files in the container (bound from /dev/null,
    so external to CRIU); a masked directory is a tmpfs CRIU dumps itself."""
    import stat

    files = []
    for path in cfg.masked_paths:
        try:
            mode = os.stat("/proc/%d/root%s" % (init, path)).st_mode
        except OSError:
            continue
        if not stat.S_ISDIR(mode):
            files.append(path)
    return files


def checkpoint_container(store, cid, flags, binary):
    """runc checkpoint: dump the container's processes into flags.image_path.
    Unless --leave-running or --pre-dump, CRIU kills them once dumped: the
    container is then stopped and marked checkpointed."""
    lock_fd = store.lock(cid)
    try:
        state = store.load(cid)
        status = state.status()
        if status in ("created", "stopped"):
            raise Error("Container cannot be checkpointed in %s state" % status)
        init = state.proven_init()
        if init is None:
            raise Error("Container cannot be checkpointed in stopped state")
        manager = state.proven_cgroup(init)
        cfg = state.kept_config()
        version = criu_version(binary)
        check_criu_features(binary, flags)
        joined = {}
        for kind in ("network", "pid"):
            if cfg.joined_namespace(kind):
                joined[kind] = os.stat("/proc/%d/ns/%s" % (init, "net" if kind == "network" else kind)).st_ino
        freezer = None
        if manager is not None:
            v1_dir = manager.controller_dir("freezer")   # None on v2, whose freezer is cgroup.freeze
            freezer = (v1_dir, False) if v1_dir else (manager.unified_dir, True)
        opts = plan_dump(cfg, flags, init, masked_files(init, cfg), version, freezer, joined,
                         v1_cgroup_binds(manager))
        image_fd = open_image_dir(flags.image_path, True, "checkpoint: --image-path")
        work_fd = None
        try:
            opts["images_dir_fd"] = image_fd
            if flags.work_path:
                work_fd = open_image_dir(flags.work_path, True, "checkpoint: --work-path")
                opts["work_dir_fd"] = work_fd
            if not flags.pre_dump:
                write_atomically(os.path.join(flags.image_path, DESCRIPTORS_FILE),
                                 json_dumps([stdio_descriptor(init, fd) for fd in (0, 1, 2)]), 0o600)
            log_path = os.path.join(flags.work_path or flags.image_path, "dump.log")
            swrk = CriuSwrk(binary)
            try:
                criu_request(swrk, "PRE_DUMP" if flags.pre_dump else "DUMP", opts,
                             lambda script, pid, fds: criu_dump_notified(state, script, flags), log_path)
            finally:
                swrk.finish()   # after a pre-dump CRIU waits for more: closing its socket ends it
        finally:
            for fd in (image_fd, work_fd):
                if fd is not None:
                    os.close(fd)
        if not (flags.leave_running or flags.pre_dump):
            # CRIU has killed the tasks; the init is gone once its zombie is reaped by its parent.
            state.wait_init(10)
    finally:
        os.close(lock_fd)


# criu_features field -> (what needs it, the `criu check --feature` that tells)
CRIU_FEATURES = {"mem_track": ("--pre-dump and --parent-path need memory tracking", "mem_dirty_track"),
                 "lazy_pages": ("--lazy-pages needs userfaultfd", "uffd-noncoop")}


def check_criu_features(binary, flags):
    """Ask CRIU first for what the flags need of the kernel, as runc does:
    a clear refusal instead of a failed dump."""
    needs = [name for name, on in (("mem_track", flags.pre_dump or flags.parent_path),
                                   ("lazy_pages", flags.lazy_pages)) if on]
    for name in criu_missing_features(binary, needs) if needs else ():
        what, check = CRIU_FEATURES[name]
        raise Error("checkpoint: %s, which CRIU cannot do on this kernel (criu check --feature %s)" % (what, check))


def stdio_descriptor(pid, fd):
    """What /proc/PID/fd/FD names ("pipe:[123]", "/dev/null"), as runc records it."""
    try:
        return os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return ""


def criu_dump_notified(state, script, flags):
    if script == "post-dump" and not flags.leave_running:
        # Before the tasks are killed: a failure after this leaves a stopped,
        # checkpointed container that restore can replace.
        write_atomically(os.path.join(state.directory, CHECKPOINTED_FILE), "", 0o600)
    elif script == "status-ready":
        report_status_ready(flags)


def report_status_ready(flags):
    """The lazy-pages server is ready: one NUL on --status-fd, which is then closed (runc's contract)."""
    if flags.status_fd is None:
        return
    try:
        os.write(flags.status_fd, b"\0")
        os.close(flags.status_fd)
    except OSError:
        pass
    flags.status_fd = None


# -- restore ----------------------------------------------------------------------

def read_descriptors(image_path):
    path = os.path.join(image_path, DESCRIPTORS_FILE)
    what = "restore: %s" % path
    if not os.path.lexists(path):
        raise Error("%s: no such file (not a checkpoint image of minirun or runc)" % what)
    names = parse_json_input(read_input(path, what), what)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise Error("%s: expected a JSON array of strings" % what)
    return names


def free_checkpointed_id(store, cid):
    """Restore takes an ID that is free, or one whose container was
    checkpointed and has stopped since: that one is deleted first (with its
    poststop hooks, as `delete` would)."""
    try:
        state = store.load(cid)
    except ContainerNotFound:
        return
    if not os.path.exists(os.path.join(state.directory, CHECKPOINTED_FILE)) or state.status() != "stopped":
        raise Error("container with id %s already exists" % cid)
    delete_container(store, cid)


def check_restore_devices(cfg):
    """Each device node is bound from the host's node of the same path (runc
    does so): it must be that very device, or the container would get another."""
    import stat

    for device in criu_devices(cfg):
        try:
            st = os.stat(device.path)
        except OSError:
            raise Error("restore: linux.devices: %s: no such device on the host to bind" % device.path) from None
        kind = "b" if stat.S_ISBLK(st.st_mode) else "c" if stat.S_ISCHR(st.st_mode) else None
        wanted = "c" if device.kind == "u" else device.kind
        if kind != wanted or (os.major(st.st_rdev), os.minor(st.st_rdev)) != (device.major, device.minor):
            raise Error("restore: linux.devices: %s on the host is not device %s %d:%d"
                        % (device.path, wanted, device.major, device.minor))


def make_restore_mountpoints(k, cfg):
    """Mount points of bind mounts that the rootfs lacks (a rootfs copied
    without them), made inside it as create makes them; not under a tmpfs
    mount, whose content CRIU restores."""
    tmpfs = [m.destination for m in cfg.mounts if m.type == "tmpfs"]
    for mount in cfg.mounts:
        if not mount.is_bind or any(mount.destination.startswith(t.rstrip("/") + "/") for t in tmpfs):
            continue
        try:
            make_target(k, cfg.root_path, mount.destination, not os.path.isdir(mount.source))
        except OSError as exc:
            raise Error("restore: mounts: %s: cannot make its mount point: %s"
                        % (mount.destination, os_error_text(exc))) from None


def bring_loopback_up_in(k, pid):
    """bring_loopback_up() in the network namespace of `pid`: the socket is
    made there (a netlink socket talks to the namespace it was made in) and
    this process goes back to its own at once."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    theirs = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY | os.O_CLOEXEC)
    try:
        k.setns(theirs, CLONE_NEWNET)
        try:
            sock = k.netlink_socket()
        finally:
            k.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)
        os.close(theirs)
    bring_loopback_up(k, sock)


class Restore:
    """What a restore holds while CRIU works, and what it must undo if it fails."""

    def __init__(self, store, cid, cfg, opts, flags):
        self.store, self.cid, self.cfg, self.opts, self.flags = store, cid, cfg, opts, flags
        self.manager = None
        self.root = None        # the rootfs bound for CRIU
        self.state = None
        self.init = None

    def notified(self, script, pid, fds):
        if script == "setup-namespaces":
            if self.cfg.new_namespace("network"):
                # CRIU made it empty (empty_ns, as runc asks): lo comes up as
                # at create, so that a connection on 127.0.0.1 comes back.
                bring_loopback_up_in(kernel(), pid)
            payload = hook_state(self.cid, pid, self.cfg.bundle, self.cfg.annotations, "creating")
            for hook in self.cfg.hooks["prestart"] + self.cfg.hooks["createRuntime"]:
                run_hook(hook, payload)
        elif script == "post-restore":
            self.record(pid)
        elif script == "orphan-pts-master":
            self.send_terminal(fds)
        elif script == "status-ready":
            report_status_ready(self.flags)

    def send_terminal(self, fds):
        if not fds:
            raise Error("restore: criu sent no terminal")
        if self.opts.console_socket is None:
            raise ConfigError("process.terminal", "the restored container has a terminal but no --console-socket was given")
        k = kernel()
        try:
            console = k.connect_unix(self.opts.console_socket)
        except OSError as exc:
            raise Error("--console-socket: %s" % os_error_text(exc)) from None
        try:
            send_terminal(k, console, fds[0], "orphan-pts-master")
        finally:
            os.close(console)

    def record(self, pid):
        """The restored init, recorded as create records one (before CRIU lets it run)."""
        self.init = pid
        cfg = self.cfg
        try:
            namespaces = namespace_ids(pid)
        except OSError as exc:
            raise Error("restored init exited during restore: %s" % os_error_text(exc)) from None
        self.state = record_started_init(self.store, self.cid, cfg, pid, namespaces, cfg.new_namespace("pid"),
                                         self.manager.to_state() if self.manager is not None else None,
                                         self.opts.pid_file)
        if self.state is None:
            raise Error("restored init exited during restore")

    def bind_root(self, k):
        """CRIU restores into a mount of the rootfs (runc binds it so too),
        here in the container's directory, gone again when restore ends."""
        root = self.store.path(self.cid, "criu-root")
        os.mkdir(root, 0o700)
        self.root = root
        k.mount(self.cfg.root_path, root, None, MS_BIND | MS_REC)

    def unbind_root(self, k):
        if self.root is None:
            return
        try:
            k.umount(self.root, MNT_DETACH)
        except OSError:
            pass
        try:
            os.rmdir(self.root)
        except OSError:
            pass
        self.root = None


def restore_container(store, cid, flags, opts, binary, detach):
    """runc restore: the container's processes again from flags.image_path,
    under the bundle's config; (unless --detach) wait for the init and return
    its exit code."""
    bundle = os.path.abspath(opts.bundle or ".")
    cfg = load_config(bundle)
    if not os.path.isdir(flags.image_path):
        raise Error("restore: --image-path %s: no such directory" % flags.image_path)
    descriptors = read_descriptors(flags.image_path)
    if cfg.process.terminal and opts.console_socket is None:
        raise ConfigError("process.terminal", "restoring a container with a terminal needs --console-socket")
    version = criu_version(binary)
    if (flags.lsm_profile or flags.lsm_mount_context) and version < (3, 16, 0):
        raise Error("restore: --lsm-profile and --lsm-mount-context need CRIU 3.16 or newer (found %s)"
                    % criu_version_text(version))
    check_restore_devices(cfg)
    free_checkpointed_id(store, cid)
    cgroup = plan_cgroup(cid, cfg, HOST, getattr(opts, "systemd_cgroup", False))
    k = kernel()
    job = Restore(store, cid, cfg, opts, flags)
    lock_fd = store.reserve(cid)
    namespace_fds, image_fd, work_fd, swrk, stdio = [], None, None, None, None
    try:
        if cgroup is not None:
            job.manager = cgroup.manager
            job.manager.create()
            job.manager.apply(cgroup.resources)
        write_atomically(store.path(cid, CONFIG_COPY), json_dumps(cfg.source), 0o600)
        make_restore_mountpoints(k, cfg)
        job.bind_root(k)
        image_fd = open_image_dir(flags.image_path, False, "restore: --image-path")
        if flags.work_path:
            work_fd = open_image_dir(flags.work_path, True, "restore: --work-path")
        inherited = []
        for kind in ("network", "pid"):
            path = cfg.joined_namespace(kind)
            if path:
                namespace_fds.append(open_namespace(k, kind, path, "linux.namespaces[%s].path" % kind))
                inherited.append((kind, 3 + len(namespace_fds)))
        if not detach and not cfg.process.terminal:
            stdio = stdio_relay()
            if stdio is not None:
                stdio.open(3)
        ends = [stdio.container_ends.get(fd, fd) if stdio is not None else fd for fd in (0, 1, 2)]
        swrk = CriuSwrk(binary, ends, namespace_fds)
        if job.manager is not None:
            job.manager.add(swrk.pid)   # CRIU puts the tasks below the cgroup it is in (cg_root)
        roots = own_cgroups("/proc/%d/cgroup" % swrk.pid) if job.manager is not None else {}
        criu_opts = plan_restore(cfg, flags, job.root, roots, descriptors, inherited, v1_cgroup_binds(job.manager))
        criu_opts["images_dir_fd"] = image_fd
        if work_fd is not None:
            criu_opts["work_dir_fd"] = work_fd
        log_path = os.path.join(flags.work_path or flags.image_path, "restore.log")
        if not detach and not getattr(opts, "no_subreaper", False):
            k.prctl(PR_SET_CHILD_SUBREAPER, 1)   # as runc: orphans of the container come back to us
        criu_request(swrk, "RESTORE", criu_opts, job.notified, log_path)
        swrk.finish()
        if job.state is None:
            raise Error("restore: criu restored no process (no post-restore notification)")
        if stdio is not None:
            stdio.drop_container_ends()     # criu's copies are the restored process's now
    except BaseException:
        if swrk is not None:
            swrk.finish()
        if job.init is not None:
            kill_and_reap((job.init,))
        if job.manager is not None:
            try:
                job.manager.kill(9)
            except Error:
                pass
            destroy_cgroup_quietly(job.manager)
        job.unbind_root(k)
        store.remove(cid)
        if stdio is not None:
            stdio.drop_container_ends()
            stdio.close()
        raise
    finally:
        job.unbind_root(k)
        for fd in namespace_fds + [image_fd, work_fd, lock_fd]:
            if fd is not None:
                os.close(fd)
    if detach:
        return 0
    try:
        return wait_in_foreground(job.init, None, stdio)
    finally:
        if stdio is not None:
            stdio.close()
        delete_container(store, cid, force=True)


# ===========================================================================
# 21. The command line
# ===========================================================================
# runc's command line, parsed by hand (argparse costs ~10 ms a call). Like
# Go's flag package it takes -flag and --flag, `--flag value` and
# `--flag=value`, and `--bool=false`.

GLOBAL_FLAGS = {  # name: (takes a value, short name)
    "root": (True, None), "log": (True, None), "log-format": (True, None), "debug": (False, None),
    "systemd-cgroup": (False, None), "criu": (True, None), "rootless": (True, None),
    "version": (False, "v"), "help": (False, "h"),
}
CREATE_FLAGS = {
    "bundle": (True, "b"), "pid-file": (True, None), "console-socket": (True, None),
    "preserve-fds": (True, None), "no-pivot": (False, None), "no-new-keyring": (False, None),
}
EXEC_FLAGS = {  # a third element True: the flag may be given several times
    "process": (True, "p"), "console-socket": (True, None), "tty": (False, "t"), "detach": (False, "d"),
    "pid-file": (True, None), "cwd": (True, None), "env": (True, "e", True), "user": (True, "u"),
    "additional-gids": (True, "g", True), "cap": (True, "c", True), "no-new-privs": (False, None),
    "apparmor": (True, None), "process-label": (True, None), "preserve-fds": (True, None),
    "cgroup": (True, None, True), "ignore-paused": (False, None),
}
UPDATE_CLI_FLAGS = dict({flag[2:]: (True, None) for flag in UPDATE_FLAGS},
                        **{"resources": (True, "r"), "l3-cache-schema": (True, None), "mem-bw-schema": (True, None)})
CRIU_FLAGS = {  # what checkpoint and restore share
    "image-path": (True, None), "work-path": (True, None), "tcp-established": (False, None),
    "ext-unix-sk": (False, None), "shell-job": (False, None), "file-locks": (False, None),
    "manage-cgroups-mode": (True, None), "empty-ns": (True, None, True), "auto-dedup": (False, None),
    "lazy-pages": (False, None),
}
COMMANDS = {  # name: (summary, usage, flags, min args, max args)
    "create": ("create a container from a bundle; it waits for `start`",
               "create [--bundle B] [--pid-file F] [--console-socket S] [--preserve-fds N] [--no-pivot] "
               "[--no-new-keyring] ID", CREATE_FLAGS, 1, 1),
    "start": ("run the user process of a created container", "start ID", {}, 1, 1),
    "state": ("print the state of a container as JSON", "state ID", {}, 1, 1),
    "kill": ("send a signal (default SIGTERM) to the container's init", "kill [--all] ID [SIGNAL]",
             {"all": (False, "a")}, 1, 2),
    "delete": ("delete a stopped (or, with --force, any) container", "delete [--force] ID",
               {"force": (False, "f")}, 1, 1),
    "run": ("create and start a container, wait for it and return its exit code",
            "run [create options] [--detach] [--keep] ID",
            dict(CREATE_FLAGS, detach=(False, "d"), keep=(False, None)), 1, 1),
    "exec": ("run a new process in a created or running container",
             "exec [--process F] [--tty] [--detach] [--pid-file F] [--console-socket S] [--cwd D] [--env K=V]... "
             "[--user UID[:GID]] [--additional-gids G]... [--cap CAP]... [--no-new-privs] [--apparmor P] "
             "[--process-label L] [--preserve-fds N] [--cgroup PATH] [--ignore-paused] ID [COMMAND [ARG...]]",
             EXEC_FLAGS, 1, None),
    "features": ("print the features this runtime and host support, as JSON", "features", {}, 0, 0),
    "list": ("list the containers under --root", "list [--format table|json] [-q]",
             {"format": (True, "f"), "quiet": (False, "q")}, 0, 0),
    "spec": ("write a default config.json into the bundle", "spec [--bundle B] [--rootless]",
             {"bundle": (True, "b"), "rootless": (False, None)}, 0, 0),
    "update": ("change a live container's resource limits",
               "update [--resources FILE|-] [--memory M] [--memory-swap M] [--cpu-shares N] [--cpu-quota N] "
               "[--cpu-period N] [--cpuset-cpus L] [--cpuset-mems L] [--pids-limit N] [--blkio-weight N] ... ID",
               UPDATE_CLI_FLAGS, 1, 1),
    "pause": ("freeze every process of a container", "pause ID", {}, 1, 1),
    "resume": ("thaw a paused container", "resume ID", {}, 1, 1),
    "ps": ("list the processes of a container", "ps [--format table|json] ID [PS OPTIONS...]",
           {"format": (True, "f")}, 1, None),
    "events": ("print a container's stats and OOM events as JSON lines", "events [--stats] [--interval D] ID",
               {"stats": (False, None), "interval": (True, None)}, 1, 1),
    "checkpoint": ("checkpoint a running container with CRIU",
                   "checkpoint [--image-path D] [--work-path D] [--parent-path D] [--leave-running] [--pre-dump] "
                   "[--tcp-established] [--ext-unix-sk] [--shell-job] [--file-locks] [--manage-cgroups-mode M] "
                   "[--empty-ns network] [--auto-dedup] [--lazy-pages] [--status-fd FD] [--page-server IP:PORT] ID",
                   dict(CRIU_FLAGS, **{"parent-path": (True, None), "leave-running": (False, None),
                                       "pre-dump": (False, None), "status-fd": (True, None),
                                       "page-server": (True, None)}), 1, 1),
    "restore": ("restore a container from a CRIU checkpoint",
                "restore [--image-path D] [--work-path D] [--bundle B] [--console-socket S] [--detach] "
                "[--pid-file F] [--no-subreaper] [--no-pivot] [--tcp-established] [--ext-unix-sk] [--shell-job] "
                "[--file-locks] [--manage-cgroups-mode M] [--empty-ns network] [--auto-dedup] [--lazy-pages] "
                "[--lsm-profile P] [--lsm-mount-context C] ID",
                dict(CRIU_FLAGS, **{"bundle": (True, "b"), "console-socket": (True, None), "detach": (False, "d"),
                                    "pid-file": (True, None), "no-subreaper": (False, None),
                                    "no-pivot": (False, None), "lsm-profile": (True, None),
                                    "lsm-mount-context": (True, None)}), 1, 1),
}


def usage_text():
    lines = ["usage: minirun [global options] COMMAND [options] [ARGS]", "",
             "An OCI container runtime in one Python file, called like runc.", "", "commands:"]
    lines += ["  %-8s %s" % (name, spec[0]) for name, spec in COMMANDS.items()]
    lines += ["", "global options:",
              "  --root DIR           state directory (default %s, $XDG_RUNTIME_DIR/minirun for non-root or root of a user namespace)" % DEFAULT_ROOT,
              "  --log FILE           write log lines to FILE",
              "  --log-format FORMAT  text (default) or json",
              "  --debug              log debug lines",
              "  --systemd-cgroup     put containers in transient systemd scopes (cgroupsPath slice:prefix:name)",
              "  --version, -v        print the version",
              "  --help, -h           print this help; COMMAND --help for a command's"]
    return "\n".join(lines) + "\n"


def command_help(name):
    summary, usage, flags = COMMANDS[name][:3]
    lines = ["usage: minirun %s" % usage, "", summary]
    if flags:
        lines += ["", "options:"]
        for flag, spec in flags.items():
            takes_value, short = spec[0], spec[1]
            names = "--" + flag + (", -" + short if short else "")
            lines.append("  %s%s" % (names, " VALUE" if takes_value else ""))
    return "\n".join(lines) + "\n"


def parse_flags(args, flags, where, stop_at_positional=False):
    """Returns ({flag: value}, [positional args]). Raises UsageError."""
    by_short = {spec[1]: name for name, spec in flags.items() if spec[1]}
    values, positional = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-" or (positional and stop_at_positional):
            positional.append(arg)
            if stop_at_positional:
                positional.extend(args[i:])
                break
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        name = by_short.get(name, name)
        if name not in flags:
            raise UsageError("%s: unknown flag %s (see --help for usage)" % (where, arg.partition("=")[0]))
        takes_value = flags[name][0]
        if takes_value:
            if not has_value:
                if i >= len(args):
                    raise UsageError("%s: flag --%s needs a value" % (where, name))
                value = args[i]
                i += 1
            if len(flags[name]) > 2 and flags[name][2]:
                values.setdefault(name, []).append(value)
            else:
                values[name] = value
        else:
            if has_value and value.lower() not in ("true", "false", "1", "0"):
                raise UsageError("%s: flag --%s takes no value (or =true/=false)" % (where, name))
            values[name] = not has_value or value.lower() in ("true", "1")
    return values, positional


def default_root(host=None, environ=None):
    """/run/minirun for root; $XDG_RUNTIME_DIR/minirun for any other user (as
    runc's $XDG_RUNTIME_DIR/runc), whose state must not land in a shared
    directory it cannot write anyway. Root of a user namespace is such a
    user when XDG_RUNTIME_DIR is set and USER is not root: rootless podman
    runs the runtime as root of its own namespace and passes no --root
    (runc's shouldHonorXDGRuntimeDir decides the same)."""
    host = HOST if host is None else host
    environ = os.environ if environ is None else environ
    xdg = environ.get("XDG_RUNTIME_DIR")
    if host.euid == 0 and not (xdg and environ.get("USER") != "root" and host.in_user_namespace):
        return DEFAULT_ROOT
    if not xdg:
        raise UsageError("XDG_RUNTIME_DIR is not set: a non-root user needs it or --root for the state directory")
    return os.path.join(xdg, "minirun")


def create_options(values, systemd_cgroup=False):
    return CreateOptions(bundle=values.get("bundle", "."), pid_file=values.get("pid-file"),
                         console_socket=values.get("console-socket"), preserve_fds=preserve_fds_value(values),
                         no_pivot=values.get("no-pivot", False), no_new_keyring=values.get("no-new-keyring", False),
                         systemd_cgroup=systemd_cgroup)


def update_resources(values):
    """update's Resources: the --resources document (FILE, or - for stdin) or the flags."""
    flags = {"--" + name: value for name, value in values.items() if name != "resources"}
    document = None
    if "resources" in values:
        what = "update: --resources %s" % values["resources"]
        document = parse_json_input(read_input(values["resources"], what), what)
        return parse_update(document, flags, what)
    if not flags:
        raise UsageError("update: nothing to update (give --resources or a limit flag)")
    return parse_update(document, flags)


def parse_duration(text, field):
    """Go's time.ParseDuration for the forms runc's --interval takes: 5s, 100ms, 1m30s, 1.5s."""
    units = (("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    rest, total = text, 0.0
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        number, rest = rest[:i], rest[i:]
        unit = next((u for u, _ in sorted(units, key=lambda u: -len(u[0])) if rest.startswith(u)), None)
        try:
            total += float(number) * dict(units)[unit]
        except (ValueError, KeyError):
            raise UsageError("%s: invalid duration %r" % (field, text)) from None
        rest = rest[len(unit):]
    if total <= 0:
        raise UsageError("%s: invalid duration %r" % (field, text))
    return total


def preserve_fds_value(values):
    preserve = values.get("preserve-fds", "0")
    if not is_decimal(preserve):
        raise UsageError("--preserve-fds: %r is not a number" % preserve)
    if int(preserve) > 0:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if int(preserve) + 3 > limit:
            raise UsageError("--preserve-fds: %s is beyond the open files limit (%d)" % (preserve, limit))
    return int(preserve)


def exec_options(values, command):
    opts = ExecOptions()
    opts.process_file = values.get("process")
    opts.args = command
    opts.console_socket = values.get("console-socket")
    opts.tty = values.get("tty", False)
    opts.detach = values.get("detach", False)
    opts.pid_file = values.get("pid-file")
    opts.cwd = values.get("cwd")
    opts.env = values.get("env", [])
    opts.user = values.get("user")
    opts.additional_gids = [g for item in values.get("additional-gids", []) for g in item.split(",") if g]
    opts.caps = values.get("cap", [])
    opts.no_new_privs = values.get("no-new-privs", False)
    opts.apparmor = values.get("apparmor")
    opts.process_label = values.get("process-label")
    opts.preserve_fds = preserve_fds_value(values)
    opts.cgroup = values.get("cgroup", [])
    opts.ignore_paused = values.get("ignore-paused", False)
    if opts.process_file is None and not command:
        raise UsageError("exec: a command to run is required (or --process FILE)")
    if opts.console_socket is not None and not opts.tty and opts.process_file is None:
        raise UsageError("exec: --console-socket needs --tty")
    return opts


def exec_command(store, cid, command, values):
    """runc exec: a failure of the exec itself exits 255, as runc's does
    (exec.go: fatalWithCode(..., 255), in 1.1 and since), so that a caller
    can tell it from the process's own exit status, which passes through
    unchanged (0-255, 128+N for a signal): a missing container, a paused one
    without --ignore-paused, a program that is missing or not executable, a
    --pid-file that cannot be written. Only a bad command line (an unknown
    flag or a bad flag value, no container ID: urfave/cli's errors in runc)
    exits 1."""
    preserve_fds_value(values)  # a bad flag value: exit 1 (exec_options reads it again)
    try:
        validate_id(cid)
        return exec_container(store, cid, exec_options(values, command))
    except Error as exc:
        exc.exit_status = 255
        raise
    except OSError as exc:
        failure = Error(os_error_text(exc))
        failure.exit_status = 255
        raise failure from None


def features(host):
    """The runtime-spec features document, true for this build on this host:
    what it cannot do here (no resctrl, a seccomp flag or memory policy mode
    the kernel lacks) it does not claim."""
    last = host.last_capability
    arches = sorted(SECCOMP_ARCHES)
    linux = {
        "namespaces": list(NAMESPACE_TYPES),
        "capabilities": ["CAP_" + name for bit, name in enumerate(CAPABILITIES) if bit <= last],
        # What this build drives (the host's own layout is one of them): cgroupfs
        # on v1, hybrid and v2 hosts, and the systemd driver over the system bus.
        "cgroup": {"v1": True, "v2": True, "systemd": True, "systemdUser": False, "rdma": True},
        "seccomp": {
            "enabled": True,
            "actions": sorted(SECCOMP_ACTIONS),
            "operators": list(SECCOMP_OPERATORS),
            "archs": arches,
            "knownFlags": sorted(SECCOMP_FILTER_FLAGS),
            "supportedFlags": sorted(name for name in SECCOMP_FILTER_FLAGS if seccomp_flag_supported(name, host)),
        },
        "apparmor": {"enabled": host.apparmor},
        "selinux": {"enabled": host.selinux},
        # resctrl is mounted by the administrator: without it linux.intelRdt is refused.
        "intelRdt": {"enabled": host.resctrl is not None, "schemata": host.resctrl is not None,
                     "monitoring": host.resctrl is not None and os.path.isdir(host.resctrl + "/info/L3_MON")},
        "mountExtensions": {"idmap": {"enabled": host.has_idmapped_mounts}},
    }
    # The modes this kernel takes: MPOL_WEIGHTED_INTERLEAVE came with Linux 6.9.
    linux["memoryPolicy"] = {"modes": sorted(m for m in MEMORY_POLICY_MODES if m != "MPOL_WEIGHTED_INTERLEAVE"
                                             or host.kernel_release >= (6, 9)), "flags": sorted(MEMORY_POLICY_FLAGS)}
    linux["netDevices"] = {"enabled": True}
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOK_PHASES),
        "mountOptions": sorted(set(MOUNT_FLAG_OPTIONS) | set(PROPAGATION_OPTIONS) | set(RECURSIVE_MOUNT_OPTIONS)
                               | {"tmpcopyup", "idmap", "ridmap"}),
        "linux": linux,
        "annotations": {"io.github.minirun.version": VERSION},
        # No annotation of config.json changes what minirun does.
        "potentiallyUnsafeConfigAnnotations": [],
    }


def print_out(text):
    # surrogateescape gives back the bytes of an undecodable path as they were.
    os.write(1, text.encode("utf-8", "surrogateescape"))


def cmd_list(store, values):
    fmt = values.get("format", "table")
    if fmt not in ("table", "json"):
        raise UsageError("list: --format must be table or json")
    states = []
    for cid in store.ids():
        try:
            states.append(store.load(cid))
        except ContainerNotFound:
            continue  # not a container (runc's list skips it too)
        except Error as exc:
            LOG.warning("%s; not listed" % exc)  # one bad entry does not hide the others
    if values.get("quiet"):
        print_out("".join(s.id + "\n" for s in states))
        return 0
    owner = owner_name(store.root)
    if fmt == "json":
        rows = []
        for s in states:
            entry = s.oci_state()
            entry["owner"] = owner
            rows.append(entry)
        print_out(json_dumps(rows) + "\n")
        return 0
    table = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for s in states:
        status = s.status()
        table.append((s.id, str(s.pid if status != "stopped" else 0), status, s.bundle or "", s.created or "", owner))
    widths = [max(12, max(len(row[c]) for row in table)) for c in range(6)]
    print_out("".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in table))
    return 0


def owner_name(path):
    try:
        uid = os.stat(path).st_uid
    except OSError:
        uid = os.geteuid()
    entry = lookup_user(uid)
    return entry[0] if entry else "#%d" % uid


def default_spec(rootless):
    """The config.json `spec` writes: what runc 1.1's `spec` writes, field for
    field (tests/fixtures/runc-spec holds runc's own output), so that scripts
    editing runc's default keep working; only the hostname is minirun's.
    runc's ambient capabilities come without an inheritable set: the kernel
    cannot raise them, and they are left unraised (effective_ambient)."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    spec = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(caps), "effective": list(caps), "permitted": list(caps),
                             "ambient": list(caps)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "minirun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        # As runc's --rootless: a user namespace mapping the caller, no network
        # namespace, no device cgroup rules, /sys bound from the host (sysfs
        # cannot be mounted without a network namespace), devpts without gid=5.
        linux = spec["linux"]
        del linux["resources"]
        linux["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user")]
        rootless_linux = {"uidMappings": [{"containerID": 0, "hostID": os.geteuid(), "size": 1}],
                          "gidMappings": [{"containerID": 0, "hostID": os.getegid(), "size": 1}]}
        rootless_linux.update(linux)
        spec["linux"] = rootless_linux
        for m in spec["mounts"]:
            if m["type"] == "devpts":
                m["options"].remove("gid=5")
            elif m["type"] == "sysfs":
                m.update(type="none", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
    return spec


def dispatch(argv, unprotected=None):
    global_values, rest = parse_flags(argv, GLOBAL_FLAGS, "global options", stop_at_positional=True)
    if global_values.get("version"):
        print_out("minirun version %s\ncommit: none\nspec: %s\npython: %s\n"
                  % (VERSION, SPEC_VERSION, sys.version.split()[0]))
        return 0
    if "log" in global_values:
        LOG.path = os.path.abspath(global_values["log"])
    fmt = global_values.get("log-format", "text")
    if fmt not in ("text", "json"):
        raise UsageError("--log-format must be text or json, not %r" % fmt)
    LOG.format = fmt
    if global_values.get("debug"):
        LOG.threshold = Log.LEVELS["debug"]
    if not rest:
        print_out(usage_text())
        return 0 if global_values.get("help") else 1
    command, args = rest[0], rest[1:]
    if command == "help":
        print_out(usage_text())
        return 0
    if command not in COMMANDS:
        raise UsageError("unknown command %r (see minirun --help)" % command)
    _, _, flags, least, most = COMMANDS[command]
    if "--help" in args or "-h" in args:
        print_out(command_help(command))
        return 0
    if unprotected and command in EXECUTABLE_COMMANDS:
        raise Error(unprotected)    # never run a container's processes from a writable host file
    # exec: everything after the container ID is the command, flags included.
    values, positional = parse_flags(args, flags, command, stop_at_positional=command in ("exec", "ps"))
    if not least <= len(positional) <= (most if most is not None else len(positional)):
        wanted = ("at least %d" % least if most is None else
                  str(least) if least == most else "%d to %d" % (least, most))
        raise UsageError("%s: expects %s argument(s), got %d (usage: minirun %s)"
                         % (command, wanted, len(positional), COMMANDS[command][1]))
    if positional and command not in ("list", "spec", "features", "exec"):
        validate_id(positional[0])  # exec's is checked by exec_command, which exits 255
    needs_store = command not in ("spec", "features")
    store = Store(os.path.abspath(global_values.get("root") or (default_root() if needs_store else DEFAULT_ROOT)))
    if needs_store:
        store.check_root()  # every command: a root others can write, or another user's, is refused
    LOG.debug("%s %s" % (command, " ".join(args)))
    systemd = global_values.get("systemd-cgroup", False)
    if command == "create":
        create_container(store, positional[0], create_options(values, systemd))
        return 0
    if command == "run":
        return run_container(store, positional[0], create_options(values, systemd),
                             detach=values.get("detach", False), keep=values.get("keep", False))
    if "criu" in global_values:
        LOG.warning("--criu ignored (criu binary from $PATH is used); do not use")  # as runc 1.2 and newer
    if command == "checkpoint":
        checkpoint_container(store, positional[0], criu_flags(values, command), "criu")
        return 0
    if command == "restore":
        opts = create_options(values, systemd)
        opts.no_subreaper = values.get("no-subreaper", False)
        return restore_container(store, positional[0], criu_flags(values, command), opts,
                                 "criu", values.get("detach", False))
    if command == "start":
        start_container(store, positional[0])
        return 0
    if command == "state":
        print_out(json_dumps(store.load(positional[0]).oci_state(), indent=2) + "\n")
        return 0
    if command == "kill":
        signal = parse_signal(positional[1]) if len(positional) > 1 else SIGNALS["TERM"]
        kill_container(store, positional[0], signal, values.get("all", False))
        return 0
    if command == "delete":
        delete_container(store, positional[0], values.get("force", False))
        return 0
    if command == "exec":
        return exec_command(store, positional[0], positional[1:], values)
    if command == "features":
        print_out(json_dumps(features(HOST), indent=2) + "\n")
        return 0
    if command == "list":
        return cmd_list(store, values)
    if command == "update":
        source = ("update: --resources %s" % values["resources"] if "resources" in values else
                  {"--" + name for name in values})
        update_container(store, positional[0], update_resources(values), source)
        return 0
    if command == "pause":
        pause_container(store, positional[0])
        return 0
    if command == "resume":
        resume_container(store, positional[0])
        return 0
    if command == "ps":
        fmt = values.get("format", "table")
        if fmt not in ("table", "json"):
            raise UsageError("ps: --format must be table or json")
        ps_args = positional[1:]
        if ps_args[:1] == ["--"]:
            ps_args = ps_args[1:]
        return ps_container(store, positional[0], fmt, ps_args)
    if command == "events":
        interval = parse_duration(values.get("interval", "5s"), "events: --interval")
        return events_container(store, positional[0], values.get("stats", False), interval)
    if command == "spec":
        bundle = values.get("bundle", ".")
        path = os.path.join(bundle, "config.json")
        if not os.path.isdir(bundle):
            raise Error("spec: bundle directory %s does not exist" % bundle)
        if os.path.exists(path):
            raise Error("%s exists: remove it first" % path)
        write_atomically(path, json_dumps(default_spec(values.get("rootless", False)), indent=2) + "\n")
        return 0
    raise UsageError("unknown command %r" % command)


def report_error(message):
    """One line on stderr and one `error` line in --log, whatever the message
    holds: a newline from a hostile value must not start a second line, and a
    surrogate (an undecodable byte of a path) must not fail the encoding."""
    line = message.replace("\r", "\\r").replace("\n", "\\n")
    LOG.error(line)
    os.write(2, ("minirun: %s\n" % line).encode("utf-8", "backslashreplace"))


def main(argv=None, unprotected=None):
    """Run one command line; `unprotected`: why this process could not start
    again from an unwritable interpreter (create, run and exec refuse then)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        code = dispatch(argv, unprotected)
    except Error as exc:
        report_error(str(exc))
        code = exc.exit_status
    except KeyboardInterrupt:
        code = 130
    except OSError as exc:
        # A kernel refusal no code path words better: still the path and the
        # reason, not Python's exception text.
        report_error(os_error_text(exc))
        code = 1
    except Exception as exc:  # a bug: one line, and the traceback only with --debug
        if LOG.threshold == Log.LEVELS["debug"]:
            import traceback

            traceback.print_exc()
        report_error("internal error: %s: %s" % (type(exc).__name__, exc))
        code = 1
    return code


def run_as_program():
    unprotected = None
    if not EXECUTABLE_COMMANDS.isdisjoint(sys.argv[1:]) and not runs_from_unwritable_file():
        unprotected = run_from_unwritable_executable()     # returns only when it could not
    code = main(unprotected=unprotected)
    reap_migration_helpers()    # a call that failed before its placement: nothing is left behind
    sys.stdout.flush()
    os._exit(code)  # skips interpreter teardown (~1.6 ms)


# ===========================================================================
# 22. Appendix: syscall tables
# ===========================================================================
# Syscall names -> numbers for the seccomp compiler, per architecture,
# generated from the kernel's UAPI headers (Linux 6.1: asm/unistd_64.h,
# unistd_32.h, unistd_x32.h, and the arm64/armhf cross headers), plus the
# syscalls numbered 451-470 since, which have one number on every arch.
# Each table lists names in number order; "@N" continues at number N.
# x32 numbers are given without __X32_SYSCALL_BIT (0x40000000).

SYSCALL_TABLES = {
    "x86_64": (
        "@0 read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction "
        "rt_sigprocmask rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select "
        "sched_yield mremap msync mincore madvise shmget shmat shmctl dup dup2 pause nanosleep "
        "getitimer alarm setitimer getpid sendfile socket connect accept sendto recvfrom sendmsg "
        "recvmsg shutdown bind listen getsockname getpeername socketpair setsockopt getsockopt clone "
        "fork vfork execve exit wait4 kill uname semget semop semctl shmdt msgget msgsnd msgrcv "
        "msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir fchdir rename "
        "mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown lchown umask "
        "gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog getgid setuid setgid "
        "geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups "
        "setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset "
        "rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib "
        "personality ustat statfs fstatfs sysfs getpriority setpriority sched_setparam sched_getparam "
        "sched_setscheduler sched_getscheduler sched_get_priority_max sched_get_priority_min "
        "sched_rr_get_interval mlock munlock mlockall munlockall vhangup modify_ldt pivot_root "
        "_sysctl prctl arch_prctl adjtimex setrlimit chroot sync acct settimeofday mount umount2 "
        "swapon swapoff reboot sethostname setdomainname iopl ioperm create_module init_module "
        "delete_module get_kernel_syms query_module quotactl nfsservctl getpmsg putpmsg afs_syscall "
        "tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr "
        "listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time futex "
        "sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy io_getevents "
        "io_submit io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old "
        "remap_file_pages getdents64 set_tid_address restart_syscall semtimedop fadvise64 "
        "timer_create timer_settime timer_gettime timer_getoverrun timer_delete clock_settime "
        "clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl tgkill utimes "
        "vserver mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive "
        "mq_notify mq_getsetattr kexec_load waitid add_key request_key keyctl ioprio_set ioprio_get "
        "inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat "
        "fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat "
        "faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range "
        "vmsplice move_pages utimensat epoll_pwait signalfd timerfd_create eventfd fallocate "
        "timerfd_settime timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 "
        "inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init "
        "fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg "
        "setns getcpu process_vm_readv process_vm_writev kcmp finit_module sched_setattr "
        "sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load bpf execveat "
        "userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc "
        "pkey_free statx io_pgetevents rseq @424 pidfd_send_signal io_uring_setup io_uring_enter "
        "io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 "
        "close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr "
        "quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret "
        "process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack "
        "futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr "
        "lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr "
        "file_getattr file_setattr listns"
    ),
    "x86": (
        "@0 restart_syscall exit fork read write open close waitpid creat link unlink execve chdir "
        "time mknod chmod lchown break oldstat lseek getpid mount umount setuid getuid stime ptrace "
        "alarm oldfstat pause utime stty gtty access nice ftime sync kill rename mkdir rmdir dup pipe "
        "times prof brk setgid getgid signal geteuid getegid acct umount2 lock ioctl fcntl mpx "
        "setpgid ulimit oldolduname umask chroot ustat dup2 getppid getpgrp setsid sigaction sgetmask "
        "ssetmask setreuid setregid sigsuspend sigpending sethostname setrlimit getrlimit getrusage "
        "gettimeofday settimeofday getgroups setgroups select symlink oldlstat readlink uselib swapon "
        "reboot readdir mmap munmap truncate ftruncate fchmod fchown getpriority setpriority profil "
        "statfs fstatfs ioperm socketcall syslog setitimer getitimer stat lstat fstat olduname iopl "
        "vhangup idle vm86old wait4 swapoff sysinfo ipc fsync sigreturn clone setdomainname uname "
        "modify_ldt adjtimex mprotect sigprocmask create_module init_module delete_module "
        "get_kernel_syms quotactl getpgid fchdir bdflush sysfs personality afs_syscall setfsuid "
        "setfsgid _llseek getdents _newselect flock msync readv writev getsid fdatasync _sysctl mlock "
        "munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler "
        "sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min "
        "sched_rr_get_interval nanosleep mremap setresuid getresuid vm86 query_module poll nfsservctl "
        "setresgid getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending "
        "rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend pread64 pwrite64 chown getcwd capget capset "
        "sigaltstack sendfile getpmsg putpmsg vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64 "
        "lstat64 fstat64 lchown32 getuid32 getgid32 geteuid32 getegid32 setreuid32 setregid32 "
        "getgroups32 setgroups32 fchown32 setresuid32 getresuid32 setresgid32 getresgid32 chown32 "
        "setuid32 setgid32 setfsuid32 setfsgid32 pivot_root mincore madvise getdents64 fcntl64 @224 "
        "gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr "
        "llistxattr flistxattr removexattr lremovexattr fremovexattr tkill sendfile64 futex "
        "sched_setaffinity sched_getaffinity set_thread_area get_thread_area io_setup io_destroy "
        "io_getevents io_submit io_cancel fadvise64 @252 exit_group lookup_dcookie epoll_create "
        "epoll_ctl epoll_wait remap_file_pages set_tid_address timer_create timer_settime "
        "timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres "
        "clock_nanosleep statfs64 fstatfs64 tgkill utimes fadvise64_64 vserver mbind get_mempolicy "
        "set_mempolicy mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr "
        "kexec_load waitid @286 add_key request_key keyctl ioprio_set ioprio_get inotify_init "
        "inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat fchownat futimesat "
        "fstatat64 unlinkat renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll "
        "unshare set_robust_list get_robust_list splice sync_file_range tee vmsplice move_pages "
        "getcpu epoll_pwait utimensat signalfd timerfd_create eventfd fallocate timerfd_settime "
        "timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev "
        "rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 "
        "name_to_handle_at open_by_handle_at clock_adjtime syncfs sendmmsg setns process_vm_readv "
        "process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom "
        "memfd_create bpf execveat socket socketpair bind connect listen accept4 getsockopt "
        "setsockopt getsockname getpeername sendto sendmsg recvfrom recvmsg shutdown userfaultfd "
        "membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx "
        "arch_prctl io_pgetevents rseq @393 semget semctl shmget shmctl shmat shmdt msgget msgsnd "
        "msgrcv msgctl clock_gettime64 clock_settime64 clock_adjtime64 clock_getres_time64 "
        "clock_nanosleep_time64 timer_gettime64 timer_settime64 timerfd_gettime64 timerfd_settime64 "
        "utimensat_time64 pselect6_time64 ppoll_time64 @416 io_pgetevents_time64 recvmmsg_time64 "
        "mq_timedsend_time64 mq_timedreceive_time64 semtimedop_time64 rt_sigtimedwait_time64 "
        "futex_time64 sched_rr_get_interval_time64 pidfd_send_signal io_uring_setup io_uring_enter "
        "io_uring_register open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 "
        "close_range openat2 pidfd_getfd faccessat2 process_madvise epoll_pwait2 mount_setattr "
        "quotactl_fd landlock_create_ruleset landlock_add_rule landlock_restrict_self memfd_secret "
        "process_mrelease futex_waitv set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack "
        "futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr "
        "lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat open_tree_attr "
        "file_getattr file_setattr listns"
    ),
    "x32": (
        "@0 read write open close stat fstat lstat poll lseek mmap mprotect munmap brk @14 "
        "rt_sigprocmask @17 pread64 pwrite64 @21 access pipe select sched_yield mremap msync mincore "
        "madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid "
        "sendfile socket connect accept sendto @48 shutdown bind listen getsockname getpeername "
        "socketpair @56 clone fork vfork @60 exit wait4 kill uname semget semop semctl shmdt msgget "
        "msgsnd msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd chdir "
        "fchdir rename mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown "
        "lchown umask gettimeofday getrlimit getrusage sysinfo times @102 getuid syslog getgid setuid "
        "setgid geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups "
        "setresuid getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset @130 "
        "rt_sigsuspend @132 utime mknod @135 personality ustat statfs fstatfs sysfs getpriority "
        "setpriority sched_setparam sched_getparam sched_setscheduler sched_getscheduler "
        "sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock mlockall "
        "munlockall vhangup modify_ldt pivot_root @157 prctl arch_prctl adjtimex setrlimit chroot "
        "sync acct settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl "
        "ioperm @175 init_module delete_module @179 quotactl @181 getpmsg putpmsg afs_syscall tuxcall "
        "security gettid readahead setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr "
        "listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time futex "
        "sched_setaffinity sched_getaffinity @207 io_destroy io_getevents @210 io_cancel @212 "
        "lookup_dcookie epoll_create @216 remap_file_pages getdents64 set_tid_address restart_syscall "
        "semtimedop fadvise64 @223 timer_settime timer_gettime timer_getoverrun timer_delete "
        "clock_settime clock_gettime clock_getres clock_nanosleep exit_group epoll_wait epoll_ctl "
        "tgkill utimes @237 mbind set_mempolicy get_mempolicy mq_open mq_unlink mq_timedsend "
        "mq_timedreceive @245 mq_getsetattr @248 add_key request_key keyctl ioprio_set ioprio_get "
        "inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat mkdirat mknodat "
        "fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat "
        "faccessat pselect6 ppoll unshare @275 splice tee sync_file_range @280 utimensat epoll_pwait "
        "signalfd timerfd_create eventfd fallocate timerfd_settime timerfd_gettime accept4 signalfd4 "
        "eventfd2 epoll_create1 dup3 pipe2 inotify_init1 @298 perf_event_open @300 fanotify_init "
        "fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime syncfs @308 setns "
        "getcpu @312 kcmp finit_module sched_setattr sched_getattr renameat2 seccomp getrandom "
        "memfd_create kexec_file_load bpf @323 userfaultfd membarrier mlock2 copy_file_range @329 "
        "pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq @424 pidfd_send_signal "
        "io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen fsconfig fsmount "
        "fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise "
        "epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule "
        "landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node "
        "cachestat fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount "
        "lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat "
        "removexattrat open_tree_attr file_getattr file_setattr listns @512 rt_sigaction rt_sigreturn "
        "ioctl readv writev recvfrom sendmsg recvmsg execve ptrace rt_sigpending rt_sigtimedwait "
        "rt_sigqueueinfo sigaltstack timer_create mq_notify kexec_load waitid set_robust_list "
        "get_robust_list vmsplice move_pages preadv pwritev rt_tgsigqueueinfo recvmmsg sendmmsg "
        "process_vm_readv process_vm_writev setsockopt getsockopt io_setup io_submit execveat preadv2 "
        "pwritev2"
    ),
    "aarch64": (
        "@0 io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr "
        "getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr "
        "fremovexattr getcwd lookup_dcookie eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3 "
        "fcntl inotify_init1 inotify_add_watch inotify_rm_watch ioctl ioprio_set ioprio_get flock "
        "mknodat mkdirat unlinkat symlinkat linkat renameat umount2 mount pivot_root nfsservctl "
        "statfs fstatfs truncate ftruncate fallocate faccessat chdir fchdir chroot fchmod fchmodat "
        "fchownat fchown openat close vhangup pipe2 quotactl getdents64 lseek read write readv writev "
        "pread64 pwrite64 preadv pwritev sendfile pselect6 ppoll signalfd4 vmsplice splice tee "
        "readlinkat newfstatat fstat sync fsync fdatasync sync_file_range timerfd_create "
        "timerfd_settime timerfd_gettime utimensat acct capget capset personality exit exit_group "
        "waitid set_tid_address unshare futex set_robust_list get_robust_list nanosleep getitimer "
        "setitimer kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun "
        "timer_settime timer_delete clock_settime clock_gettime clock_getres clock_nanosleep syslog "
        "ptrace sched_setparam sched_setscheduler sched_getscheduler sched_getparam sched_setaffinity "
        "sched_getaffinity sched_yield sched_get_priority_max sched_get_priority_min "
        "sched_rr_get_interval restart_syscall kill tkill tgkill sigaltstack rt_sigsuspend "
        "rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait rt_sigqueueinfo rt_sigreturn "
        "setpriority getpriority reboot setregid setgid setreuid setuid setresuid getresuid setresgid "
        "getresgid setfsuid setfsgid times setpgid getpgid getsid setsid getgroups setgroups uname "
        "sethostname setdomainname getrlimit setrlimit getrusage umask prctl getcpu gettimeofday "
        "settimeofday adjtimex getpid getppid getuid geteuid getgid getegid gettid sysinfo mq_open "
        "mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd "
        "semget semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair bind listen "
        "accept connect getsockname getpeername sendto recvfrom setsockopt getsockopt shutdown "
        "sendmsg recvmsg readahead brk munmap mremap add_key request_key keyctl clone execve mmap "
        "fadvise64 swapon swapoff mprotect msync mlock munlock mlockall munlockall mincore madvise "
        "remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages "
        "rt_tgsigqueueinfo perf_event_open accept4 recvmmsg @260 wait4 prlimit64 fanotify_init "
        "fanotify_mark name_to_handle_at open_by_handle_at clock_adjtime syncfs setns sendmmsg "
        "process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2 "
        "seccomp getrandom memfd_create bpf execveat userfaultfd membarrier mlock2 copy_file_range "
        "preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq kexec_file_load "
        "@424 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount "
        "fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 "
        "process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset "
        "landlock_add_rule landlock_restrict_self memfd_secret process_mrelease futex_waitv "
        "set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait "
        "futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal "
        "setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr "
        "listns"
    ),
    "arm": (
        "@0 restart_syscall exit fork read write open close @8 creat link unlink execve chdir @14 "
        "mknod chmod lchown @19 lseek getpid mount @23 setuid getuid @26 ptrace @29 pause @33 access "
        "nice @36 sync kill rename mkdir rmdir dup pipe times @45 brk setgid getgid @49 geteuid "
        "getegid acct umount2 @54 ioctl fcntl @57 setpgid @60 umask chroot ustat dup2 getppid getpgrp "
        "setsid sigaction @70 setreuid setregid sigsuspend sigpending sethostname setrlimit @77 "
        "getrusage gettimeofday settimeofday getgroups setgroups @83 symlink @85 readlink uselib "
        "swapon reboot @91 munmap truncate ftruncate fchmod fchown getpriority setpriority @99 statfs "
        "fstatfs @103 syslog setitimer getitimer stat lstat fstat @111 vhangup @114 wait4 swapoff "
        "sysinfo @118 fsync sigreturn clone setdomainname uname @124 adjtimex mprotect sigprocmask "
        "@128 init_module delete_module @131 quotactl getpgid fchdir bdflush sysfs personality @138 "
        "setfsuid setfsgid _llseek getdents _newselect flock msync readv writev getsid fdatasync "
        "_sysctl mlock munlock mlockall munlockall sched_setparam sched_getparam sched_setscheduler "
        "sched_getscheduler sched_yield sched_get_priority_max sched_get_priority_min "
        "sched_rr_get_interval nanosleep mremap setresuid getresuid @168 poll nfsservctl setresgid "
        "getresgid prctl rt_sigreturn rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait "
        "rt_sigqueueinfo rt_sigsuspend pread64 pwrite64 chown getcwd capget capset sigaltstack "
        "sendfile @190 vfork ugetrlimit mmap2 truncate64 ftruncate64 stat64 lstat64 fstat64 lchown32 "
        "getuid32 getgid32 geteuid32 getegid32 setreuid32 setregid32 getgroups32 setgroups32 fchown32 "
        "setresuid32 getresuid32 setresgid32 getresgid32 chown32 setuid32 setgid32 setfsuid32 "
        "setfsgid32 getdents64 pivot_root mincore madvise fcntl64 @224 gettid readahead setxattr "
        "lsetxattr fsetxattr getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr "
        "lremovexattr fremovexattr tkill sendfile64 futex sched_setaffinity sched_getaffinity "
        "io_setup io_destroy io_getevents io_submit io_cancel exit_group lookup_dcookie epoll_create "
        "epoll_ctl epoll_wait remap_file_pages @256 set_tid_address timer_create timer_settime "
        "timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres "
        "clock_nanosleep statfs64 fstatfs64 tgkill utimes arm_fadvise64_64 pciconfig_iobase "
        "pciconfig_read pciconfig_write mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify "
        "mq_getsetattr waitid socket bind connect listen accept getsockname getpeername socketpair "
        "send sendto recv recvfrom shutdown setsockopt getsockopt sendmsg recvmsg semop semget semctl "
        "msgsnd msgrcv msgget msgctl shmat shmdt shmget shmctl add_key request_key keyctl semtimedop "
        "vserver ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch mbind "
        "get_mempolicy set_mempolicy openat mkdirat mknodat fchownat futimesat fstatat64 unlinkat "
        "renameat linkat symlinkat readlinkat fchmodat faccessat pselect6 ppoll unshare "
        "set_robust_list get_robust_list splice arm_sync_file_range @341 sync_file_range2 tee "
        "vmsplice move_pages getcpu epoll_pwait kexec_load utimensat signalfd timerfd_create eventfd "
        "fallocate timerfd_settime timerfd_gettime signalfd4 eventfd2 epoll_create1 dup3 pipe2 "
        "inotify_init1 preadv pwritev rt_tgsigqueueinfo perf_event_open recvmmsg accept4 "
        "fanotify_init fanotify_mark prlimit64 name_to_handle_at open_by_handle_at clock_adjtime "
        "syncfs sendmmsg setns process_vm_readv process_vm_writev kcmp finit_module sched_setattr "
        "sched_getattr renameat2 seccomp getrandom memfd_create bpf execveat userfaultfd membarrier "
        "mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx rseq "
        "io_pgetevents migrate_pages kexec_file_load @403 clock_gettime64 clock_settime64 "
        "clock_adjtime64 clock_getres_time64 clock_nanosleep_time64 timer_gettime64 timer_settime64 "
        "timerfd_gettime64 timerfd_settime64 utimensat_time64 pselect6_time64 ppoll_time64 @416 "
        "io_pgetevents_time64 recvmmsg_time64 mq_timedsend_time64 mq_timedreceive_time64 "
        "semtimedop_time64 rt_sigtimedwait_time64 futex_time64 sched_rr_get_interval_time64 "
        "pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount "
        "fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 "
        "process_madvise epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset "
        "landlock_add_rule landlock_restrict_self @448 process_mrelease futex_waitv "
        "set_mempolicy_home_node cachestat fchmodat2 map_shadow_stack futex_wake futex_wait "
        "futex_requeue statmount listmount lsm_get_self_attr lsm_set_self_attr lsm_list_modules mseal "
        "setxattrat getxattrat listxattrat removexattrat open_tree_attr file_getattr file_setattr "
        "listns"
    ),
}


if __name__ == "__main__":
    run_as_program()
