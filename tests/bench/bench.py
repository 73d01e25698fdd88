#!/usr/bin/env python3
"""Benchmark minirun against runc and crun, side by side, in one interleaved run.

    sudo python3 tests/bench/bench.py [--rounds N] [--batch-rounds N] [--engine-rounds N]
                                      [--runtimes minirun,runc,crun] [--out FILE] [--plot FILE]

The machines this runs on have two shared, noisy vCPUs, so single timings
mean little: every round runs each runtime once, one after the other
(A B C, B C A, C A B, ...: the order rotates so that no runtime always follows
the same one), on the same bundles, and the report gives median, min and max
per runtime and the ratios minirun/runc and minirun/crun OF THE MEDIANS from
that same run.

Same conditions for all: crun 1.8.1 refuses a cgroup v1 "hybrid" host (v1
controllers plus a cgroup2 at /sys/fs/cgroup/unified whose
cgroup.controllers is not empty). The benchmark re-executes itself under
`unshare --mount --propagation private` and, in that private mount
namespace only, binds an empty file over
/sys/fs/cgroup/unified/cgroup.controllers; all three runtimes (and podman)
run in there. The host's mounts are never changed.

Rows (per runtime; each runtime has its own --root under a temp dir):
  run /bin/true              `run` of a bundle whose process is /bin/true
  create, start, state,      each call alone, on a container whose process is
  kill, delete               `sleep`: create, state, start, ..., kill 9, (wait
                             for its init to exit), delete
  create+start+wait+delete   the split lifecycle of /bin/true, as engines do it
  exec /bin/true             into the running container (waits for it)
  ps, pause+resume, update   on the running container (update: pids limit
                             from `--resources -` on stdin, as Docker does)
  run with limits            `run` of /bin/true with memory, cpu and pids limits
  run with 1.3 fields        `run` of /bin/true with every process and linux field
                             of runtime-spec 1.2/1.3 this host can apply
                             (scheduler, ioPriority, memoryPolicy; runc 1.1
                             and crun 1.8 refuse or lack some: n/a there)
  list, 100 containers       `list` with 100 stopped containers (run --detach)
  100 x run, one at a time   wall time of 100 `run /bin/true`, sequential
  100 x run, two at a time   the same with two calls in flight
  podman/docker run --rm     through the engine, where it is present
  created container RSS/PSS  from /proc/PID/smaps_rollup of everything the
                             `create` call left behind (the init and any
                             runtime process), summed
  CPU time: CALL             user + system time of the call (wait4 rusage):
                             much less disturbed by other load than wall time
  peak RSS: CALL             ru_maxrss of the runtime process (wait4), in
                             separate rounds through a tiny static C helper
                             (gcc): a child of this interpreter would inherit
                             its ~16 MB high-water mark across exec
  floor: ...                 `python3 -I -S -c pass` (the interpreter's start)
                             and `unshare -fpmuin true` (namespaces + exec):
                             what the interpreter and the kernel cost alone

A command a runtime answers with "not implemented" or a non-zero exit in the
warm-up round is shown as "n/a: <reason>" for that runtime; the row still
shows the others. Nothing is hard-coded: the rows light up when the commands
land.

Timing: each call is started with posix_spawn and waited for on a pidfd,
which becomes readable the moment the process exits (subprocess's wait()
polls with a growing sleep and rounds samples up to steps); os.wait4 gives
its rusage. The benchmark is a child subreaper, like an engine's shim, so a
container's init is re-parented to it and reaped at once.

Writes a JSON result file (--out) and a PNG plot of the ratios (--plot),
drawn with zlib + struct and a built-in 5x7 bitmap font.

Needs root. Python >= 3.9, stdlib only. It prints; it asserts nothing about
speed. It fails (exit 1) if any container is left behind.
"""

import argparse
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import struct
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BUILD_ROOTFS = os.path.join(REPO, "bundles", "build-rootfs.sh")
BASE_CONFIG = os.path.join(REPO, "bundles", "hello", "config.json")
DEFAULT_OUT = os.path.join(HERE, "results", "latest.json")
ALL_RUNTIMES = ("minirun", "runc", "crun")
UNIFIED_CONTROLLERS = "/sys/fs/cgroup/unified/cgroup.controllers"
IN_NS_ENV = "MINIRUN_BENCH_PRIVATE_NS"
CALL_TIMEOUT = 60.0
SCHEMA = "minirun-bench/1"
RESULT_KEYS = ("schema", "started", "seconds", "host", "setup", "rounds", "rows")

# name, unit, kind. kind: "call" (one runtime call, ms), "batch" (many calls,
# wall time), "engine", "cpu" (user + system time of one call, from wait4: far
# less disturbed by other load than wall time), "memory", "floor" (no runtime).
ROWS = (
    ("run /bin/true", "ms", "call"),
    ("create", "ms", "call"),
    ("start", "ms", "call"),
    ("state", "ms", "call"),
    ("kill", "ms", "call"),
    ("delete", "ms", "call"),
    ("create+start+wait+delete", "ms", "call"),
    ("exec /bin/true", "ms", "call"),
    ("ps", "ms", "call"),
    ("pause+resume", "ms", "call"),
    ("update", "ms", "call"),
    ("run with limits", "ms", "call"),
    ("run with 1.3 fields", "ms", "call"),
    ("list, 100 containers", "ms", "batch"),
    ("100 x run, one at a time", "s", "batch"),
    ("100 x run, two at a time", "s", "batch"),
    ("podman run --rm", "ms", "engine"),
    ("docker run --rm", "ms", "engine"),
    ("CPU time: run", "ms", "cpu"),
    ("CPU time: create", "ms", "cpu"),
    ("CPU time: start", "ms", "cpu"),
    ("CPU time: state", "ms", "cpu"),
    ("CPU time: kill", "ms", "cpu"),
    ("CPU time: delete", "ms", "cpu"),
    ("created container RSS", "MB", "memory"),
    ("created container PSS", "MB", "memory"),
    ("peak RSS: run", "MB", "memory"),
    ("peak RSS: create", "MB", "memory"),
    ("peak RSS: start", "MB", "memory"),
    ("peak RSS: state", "MB", "memory"),
    ("peak RSS: kill", "MB", "memory"),
    ("peak RSS: delete", "MB", "memory"),
    ("peak RSS: exec", "MB", "memory"),
    ("floor: python3 -I -S -c pass", "ms", "floor"),
    ("floor: unshare -fpmuin true", "ms", "floor"),
    ("floor: CPU time, python3 -I -S -c pass", "ms", "floor"),
    ("floor: peak RSS, /bin/true", "MB", "floor"),
)
ROW_UNITS = {name: unit for name, unit, _ in ROWS}
FLOOR = "floor"  # the results key of the runtime-independent rows


# --------------------------------------------------------------------------
# statistics and the result file (pure)

def summarize(samples):
    """{"median", "min", "max", "n"} of a non-empty list of numbers."""
    if not samples:
        raise ValueError("no samples")
    return {"median": statistics.median(samples), "min": min(samples),
            "max": max(samples), "n": len(samples)}


def ratio(a, b):
    """median(a) / median(b) of two summaries, or None when either is missing."""
    if not a or not b or "median" not in a or "median" not in b or not b["median"]:
        return None
    return a["median"] / b["median"]


def row_ratios(results, names=ALL_RUNTIMES):
    """{"minirun/runc": r, "minirun/crun": r} for the peers present in results."""
    out = {}
    for peer in names:
        if peer != "minirun":
            out["minirun/" + peer] = ratio(results.get("minirun"), results.get(peer))
    return out


def build_result(started, seconds, host, setup, rounds, rows):
    """The result file's object. rows: [(name, unit, kind, {runtime: samples
    list | "n/a: reason"}, notes)]; a runtime with an empty list is left out."""
    out_rows = []
    for name, unit, kind, per_runtime, notes in rows:
        results = {}
        for rt, samples in per_runtime.items():
            if isinstance(samples, str):
                results[rt] = {"na": samples}
            elif samples:
                results[rt] = summarize(samples)
        row = {"name": name, "unit": unit, "kind": kind, "results": results,
               "ratios": {} if kind == "floor" else row_ratios(results)}
        if notes:
            row["notes"] = notes
        out_rows.append(row)
    return {"schema": SCHEMA, "started": started, "seconds": round(seconds, 1),
            "host": host, "setup": setup, "rounds": rounds, "rows": out_rows}


def validate_result(obj):
    """Raise ValueError naming the first thing wrong with a result object."""
    if not isinstance(obj, dict):
        raise ValueError("result: not an object")
    for key in RESULT_KEYS:
        if key not in obj:
            raise ValueError("result: no %r" % key)
    if obj["schema"] != SCHEMA:
        raise ValueError("result: schema %r, expected %r" % (obj["schema"], SCHEMA))
    for key in ("kernel", "cgroup", "python", "runtimes"):
        if key not in obj["host"]:
            raise ValueError("result.host: no %r" % key)
    for key in ("rounds", "batch_rounds", "engine_rounds"):
        if not isinstance(obj["rounds"].get(key), int):
            raise ValueError("result.rounds.%s: not an integer" % key)
    if not isinstance(obj["rows"], list):
        raise ValueError("result.rows: not a list")
    for i, row in enumerate(obj["rows"]):
        where = "result.rows[%d]" % i
        for key in ("name", "unit", "kind", "results", "ratios"):
            if key not in row:
                raise ValueError("%s: no %r" % (where, key))
        for rt, res in row["results"].items():
            if "na" in res:
                if not isinstance(res["na"], str):
                    raise ValueError("%s.results.%s.na: not a string" % (where, rt))
                continue
            for key in ("median", "min", "max", "n"):
                if not isinstance(res.get(key), (int, float)):
                    raise ValueError("%s.results.%s.%s: not a number" % (where, rt, key))
            if not res["min"] <= res["median"] <= res["max"]:
                raise ValueError("%s.results.%s: not min <= median <= max" % (where, rt))
        for key, value in row["ratios"].items():
            if value is not None and not isinstance(value, (int, float)):
                raise ValueError("%s.ratios.%s: not a number or null" % (where, key))
    return obj


# --------------------------------------------------------------------------
# PNG plot (pure): zlib + struct and a 5x7 bitmap font

# Each glyph: 7 rows, top first, 2 hex digits each, bit 4 = leftmost column.
_FONT_TABLE = """
0 0e11131519110e|1 040c040404040e|2 0e11010204081f|3 1f02040201110e|4 02060a121f0202
5 1f101e0101110e|6 0608101e11110e|7 1f010204080808|8 0e11110e11110e|9 0e11110f01020c
A 0e1111111f1111|B 1e11111e11111e|C 0e11101010110e|D 1c12111111121c|E 1f10101e10101f
F 1f10101e101010|G 0e11101711110f|H 1111111f111111|I 0e04040404040e|J 0702020202120c
K 11121418141211|L 1010101010101f|M 111b1515111111|N 11111915131111|O 0e11111111110e
P 1e11111e101010|Q 0e11111115120d|R 1e11111e141211|S 0f10100e01011e|T 1f040404040404
U 1111111111110e|V 11111111110a04|W 1111111515150a|X 11110a040a1111|Y 1111110a040404
Z 1f01020408101f|a 00000e010f110f|b 1010161911111e|c 00000e1010110e|d 01010d1311110f
e 00000e111f100e|f 0609081c080808|g 000f11110f010e|h 10101619111111|i 04000c0404040e
j 0200060202120c|k 10101214181412|l 0c04040404040e|m 00001a15151111|n 00001619111111
o 00000e1111110e|p 00001e111e1010|q 00000d130f0101|r 00001619101010|s 00000e100e011e
t 08081c08080906|u 0000111111130d|v 00001111110a04|w 0000111115150a|x 0000110a040a11
y 000011110f010e|z 00001f0204081f|. 00000000000c0c|, 000000000c0408|: 000c0c000c0c00
/ 00010204081000|+ 0004041f040400|- 0000001f000000|( 02040808080402|) 08040202020408
_ 0000000000001f|= 00001f001f0000|% 18190204081303|< 02040810080402|> 08040201020408
* 0004150e150400|[ 0e08080808080e|] 0e02020202020e|' 0c040800000000|# 0a0a1f0a1f0a0a
? 0e110102040004|! 04040404000004|@ 0e11171517100e|; 000c0c000c0408|" 0a0a0000000000
"""


def _parse_font(table):
    font = {" ": (0,) * 7}
    for entry in table.replace("\n", "|").split("|"):
        entry = entry.strip()
        if not entry:
            continue
        char, hexrows = entry[0], entry[1:].replace(" ", "")
        if len(hexrows) != 14:
            raise ValueError("font: glyph %r has %d hex digits, not 14" % (char, len(hexrows)))
        font[char] = tuple(int(hexrows[i:i + 2], 16) for i in range(0, 14, 2))
    return font


FONT = _parse_font(_FONT_TABLE)
GLYPH_W, GLYPH_H = 5, 7


def png_bytes(width, height, rgb):
    """An 8-bit RGB PNG of width x height from row-major RGB bytes."""
    if len(rgb) != width * height * 3:
        raise ValueError("png: %d bytes of pixels for %dx%d" % (len(rgb), width, height))
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class Canvas:
    """An RGB bitmap with rectangles and bitmap text."""

    def __init__(self, width, height, background=(255, 255, 255)):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0, y0, x1, y1, color):
        """Fill [x0, x1) x [y0, y1), clipped."""
        x0, x1 = max(0, int(x0)), min(self.width, int(x1))
        y0, y1 = max(0, int(y0)), min(self.height, int(y1))
        if x0 >= x1:
            return
        line = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            i = (y * self.width + x0) * 3
            self.pixels[i:i + len(line)] = line

    def text(self, x, y, s, color=(0, 0, 0), scale=2):
        """Draw s with its top-left corner at (x, y); unknown characters as '?'."""
        for ch in s:
            glyph = FONT.get(ch, FONT["?"])
            for row, bits in enumerate(glyph):
                for col in range(GLYPH_W):
                    if bits & (0x10 >> col):
                        px, py = x + col * scale, y + row * scale
                        self.rect(px, py, px + scale, py + scale, color)
            x += (GLYPH_W + 1) * scale

    @staticmethod
    def text_width(s, scale=2):
        return len(s) * (GLYPH_W + 1) * scale

    def png(self):
        return png_bytes(self.width, self.height, self.pixels)


PLOT_SERIES = (("minirun/runc", (46, 110, 200)), ("minirun/crun", (230, 130, 30)))
PLOT_TICKS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def _tick_label(t):
    return ("%g" % t).lstrip("0") if t < 1 else "%g" % t


def plot_ratios(rows, title):
    """PNG bytes: per row, a horizontal bar per ratio on a log2 axis from
    1/8 to 8 with a line at 1.0 (left of it: minirun is faster/smaller).
    rows: [(label, {"minirun/runc": r or None, ...})]."""
    import math
    scale = 2
    line_h = GLYPH_H * scale
    bar_h, gap = 16, 10
    label_w = max([Canvas.text_width(label, scale) for label, _ in rows] + [200]) + 20
    plot_w = 560
    value_w = 90
    top = 70
    row_h = len(PLOT_SERIES) * bar_h + gap
    footer = "ratio of medians, log scale; left of 1: minirun is faster or smaller"
    width = max(label_w + plot_w + value_w, Canvas.text_width(title, scale) + 20,
                Canvas.text_width(footer, scale) + 20)
    height = top + len(rows) * row_h + 70
    c = Canvas(width, height)
    c.text(10, 10, title, scale=scale)
    lx = 10
    for name, color in PLOT_SERIES:
        c.rect(lx, 36, lx + 16, 36 + line_h, color)
        c.text(lx + 22, 36, name + " (ratio of medians)", scale=scale)
        lx += 22 + Canvas.text_width(name + " (ratio of medians)", scale) + 30
    lo, hi = math.log2(PLOT_TICKS[0]), math.log2(PLOT_TICKS[-1])

    def xpos(v):
        v = min(max(v, PLOT_TICKS[0]), PLOT_TICKS[-1])
        return label_w + (math.log2(v) - lo) / (hi - lo) * plot_w

    bottom = top + len(rows) * row_h
    for t in PLOT_TICKS:
        x = int(xpos(t))
        c.rect(x, top - 4, x + 1, bottom, (215, 215, 215))
        s = _tick_label(t)
        c.text(x - Canvas.text_width(s, scale) // 2, bottom + 8, s, scale=scale)
    c.text(10, bottom + 8 + line_h + 12, footer, color=(90, 90, 90), scale=scale)
    x1 = int(xpos(1.0))
    for i, (label, ratios) in enumerate(rows):
        y = top + i * row_h
        if i % 2:
            c.rect(0, y - gap // 2, width, y + row_h - gap // 2, (245, 245, 245))
        c.text(label_w - 10 - Canvas.text_width(label, scale),
               y + (row_h - gap - line_h) // 2, label, scale=scale)
        for j, (name, color) in enumerate(PLOT_SERIES):
            by = y + j * bar_h
            r = ratios.get(name)
            if r is None:
                c.text(x1 + 6, by + 1, "n/a", color=(150, 150, 150), scale=scale)
                continue
            xv = int(xpos(r))
            c.rect(min(x1, xv), by + 1, max(x1, xv) + 1, by + bar_h - 1, color)
            s = "%.2f" % r
            c.text(label_w + plot_w + 8, by + 1, s, color=color, scale=scale)
    c.rect(x1 - 1, top - 6, x1 + 2, bottom + 2, (0, 0, 0))
    return c.png()


# --------------------------------------------------------------------------
# processes: posix_spawn, pidfd waits, wait4 rusage, a child subreaper

class CallFailed(Exception):
    pass


class Call:
    """One finished process: elapsed seconds, exit code, output, peak RSS."""

    def __init__(self, argv, elapsed, rc, out, err, maxrss_kb, cpu=None):
        self.argv, self.elapsed, self.rc = argv, elapsed, rc
        self.out, self.err, self.maxrss_kb = out, err, maxrss_kb
        self.cpu = cpu  # user + system seconds of the process and what it reaped

    def failure(self):
        """None, or one line saying why this call does not count."""
        text = (self.err + "\n" + self.out).strip()
        if self.rc != 0 or "not implemented" in text.lower():
            first = next((l.strip() for l in text.splitlines() if l.strip()), "")
            return "%s (exit %d)" % (first, self.rc) if first else "exit status %d" % self.rc
        return None

    def warning(self):
        """The first line of stderr of a successful call, if any."""
        return next((l.strip() for l in self.err.splitlines() if l.strip()), None)


# Peak RSS: wait4's ru_maxrss of a child we start ourselves is useless, since
# exec keeps the high-water mark of the mm it replaces, and a child forked or
# vforked from this interpreter starts with the interpreter's (~16 MB for
# every runtime). So peak RSS is measured in separate rounds through this
# tiny static helper, whose own mm is a few hundred kB (the floor row
# "peak RSS, /bin/true" shows what it adds).
RSS_HELPER_C = r"""
/* rss-spawn PROGRAM ARGS...: run PROGRAM, write its peak RSS in kB (wait4's
   ru_maxrss) to fd 3, exit with its status. fd 3 is not passed on. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
extern char **environ;
int main(int argc, char **argv) {
    pid_t pid; int status, err; struct rusage ru;
    if (argc < 2) return 2;
    fcntl(3, F_SETFD, FD_CLOEXEC);
    err = posix_spawn(&pid, argv[1], NULL, NULL, argv + 1, environ);
    if (err) { dprintf(2, "rss-spawn: cannot execute %s (errno %d)\n", argv[1], err); return 127; }
    if (wait4(pid, &status, 0, &ru) < 0) return 126;
    dprintf(3, "%ld\n", ru.ru_maxrss);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
"""


def build_rss_helper(workdir):
    """Compile the helper; (path, None) or (None, reason)."""
    import subprocess
    gcc = shutil.which("gcc") or shutil.which("cc")
    if not gcc:
        return None, "no C compiler for the peak RSS helper (make deps installs gcc)"
    src, exe = os.path.join(workdir, "rss-spawn.c"), os.path.join(workdir, "rss-spawn")
    with open(src, "w") as f:
        f.write(RSS_HELPER_C)
    for extra in (["-static"], []):
        r = subprocess.run([gcc, "-O2"] + extra + ["-o", exe, src], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode == 0:
            return exe, None
    return None, "the peak RSS helper did not compile: " + r.stdout.decode(errors="replace")[:200]


class Spawner:
    """Starts processes and reaps every child, including orphans re-parented
    to us (we are a child subreaper, as an engine's shim is)."""

    def __init__(self, workdir):
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        self.rfd, wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(wfd, False)
        self.wfd = wfd
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        self.reaped = {}  # pid -> (status, rusage, perf_counter at reaping)
        self.devnull = os.open(os.devnull, os.O_RDONLY)
        self.workdir = workdir
        self._n = 0
        self.rss_helper, self.rss_reason = build_rss_helper(workdir)

    def _drain(self):
        try:
            while os.read(self.rfd, 4096):
                pass
        except BlockingIOError:
            pass

    def reap(self):
        now = time.perf_counter()
        while True:
            try:
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped[pid] = (status, ru, now)

    def _files(self):
        self._n += 1
        paths = [os.path.join(self.workdir, "call-%d.%s" % (self._n % 4, s)) for s in ("out", "err")]
        return [os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600) for p in paths]

    def spawn(self, argv, stdin_path=None, rss=False):
        """Start argv (through the RSS helper with rss=True); returns a
        handle for wait()."""
        out, err = self._files()
        inp = os.open(stdin_path, os.O_RDONLY) if stdin_path else self.devnull
        actions = [(os.POSIX_SPAWN_DUP2, inp, 0), (os.POSIX_SPAWN_DUP2, out, 1),
                   (os.POSIX_SPAWN_DUP2, err, 2)]
        exe, rssfd = argv, None
        if rss:
            if not self.rss_helper:
                raise CallFailed(self.rss_reason)
            rssfd = os.open(os.path.join(self.workdir, "rss"), os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            exe = [self.rss_helper] + argv
            actions.append((os.POSIX_SPAWN_DUP2, rssfd, 3))
        try:
            t0 = time.perf_counter()
            pid = os.posix_spawn(exe[0], exe, os.environ, file_actions=actions)
        except OSError as e:
            for fd in (out, err) + ((rssfd,) if rssfd is not None else ()):
                os.close(fd)
            raise CallFailed("%s: %s" % (argv[0], e.strerror or e))
        finally:
            if inp != self.devnull:
                os.close(inp)
        self.reaped.pop(pid, None)  # a stale entry of an earlier process with this pid
        return {"argv": argv, "pid": pid, "pidfd": os.pidfd_open(pid), "t0": t0,
                "out": out, "err": err, "rss": rssfd}

    def wait(self, handles, timeout=CALL_TIMEOUT, on_done=None):
        """Wait until every handle's process exited; returns their Calls in
        order. on_done(handle, call) may return new handles to wait for too
        (two calls in flight)."""
        handles = list(handles)
        results = {}
        deadline = time.monotonic() + timeout
        pending = list(handles)
        while pending:
            fds = [h["pidfd"] for h in pending] + [self.rfd]
            left = deadline - time.monotonic()
            ready = select.select(fds, [], [], max(left, 0))[0] if left > 0 else []
            t = time.perf_counter()
            if not ready:
                for h in pending:
                    try:
                        os.kill(h["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.waitpid(h["pid"], 0)
                    self._close(h)
                raise CallFailed("timed out after %gs: %s" % (timeout, " ".join(pending[0]["argv"])))
            if self.rfd in ready:
                self._drain()
            for h in pending:
                if h["pidfd"] in ready and h["pid"] not in self.reaped:
                    pid, status, ru = os.wait4(h["pid"], 0)
                    self.reaped[pid] = (status, ru, t)
            self.reap()
            still = []
            for h in pending:
                if h["pid"] not in self.reaped:
                    still.append(h)
                    continue
                status, ru, t_end = self.reaped.pop(h["pid"])
                call = self._finish(h, status, ru, t_end)
                results[id(h)] = call
                if on_done:
                    for nh in on_done(h, call) or ():
                        handles.append(nh)
                        still.append(nh)
            pending = still
        return [results[id(h)] for h in handles]

    def _close(self, h):
        for key in ("pidfd", "out", "err", "rss"):
            if h.get(key) is not None:
                os.close(h[key])
                h[key] = None

    def _finish(self, h, status, ru, t_end):
        texts = []
        for fd in (h["out"], h["err"]) + ((h["rss"],) if h["rss"] is not None else ()):
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                chunks.append(b)
            texts.append(b"".join(chunks).decode("utf-8", "replace"))
        self._close(h)
        maxrss = int(texts[2]) if len(texts) > 2 and texts[2].strip().isdigit() else None
        return Call(h["argv"], t_end - h["t0"], os.waitstatus_to_exitcode(status),
                    texts[0], texts[1], maxrss, ru.ru_utime + ru.ru_stime)

    def run(self, argv, stdin_path=None, timeout=CALL_TIMEOUT, rss=False):
        return self.wait([self.spawn(argv, stdin_path, rss)], timeout)[0]

    def wait_exit(self, pid, timeout=CALL_TIMEOUT):
        """Wait for a process we did not start (a container's init) to exit."""
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self.reap()
            return
        try:
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CallFailed("pid %d did not exit within %gs" % (pid, timeout))
                ready = select.select([pidfd, self.rfd], [], [], left)[0]
                if self.rfd in ready:
                    self._drain()
                self.reap()
                if pidfd in ready:
                    return
        finally:
            os.close(pidfd)


def children_of(pids):
    """pids and all their descendants, from /proc/*/stat."""
    parent = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/stat" % name) as f:
                    stat = f.read()
                parent[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    found, todo = set(), list(pids)
    while todo:
        p = todo.pop()
        if p in found:
            continue
        found.add(p)
        todo.extend(c for c, pp in parent.items() if pp == p)
    return found


def my_children():
    me = os.getpid()
    return children_of([me]) - {me}


def smaps_rollup_kb(pid):
    """(Rss, Pss) in kB of a process, from /proc/PID/smaps_rollup."""
    rss = pss = None
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    if rss is None or pss is None:
        raise ValueError("no Rss/Pss in /proc/%d/smaps_rollup" % pid)
    return rss, pss


# --------------------------------------------------------------------------
# the runtimes and the scenario

class Runtime:
    """One runtime under test: its command line, its own --root, its samples."""

    def __init__(self, name, path, root, spawner):
        self.name, self.path, self.root, self.sp = name, path, root, spawner
        self.samples = {}   # row -> [values]
        self.na = {}        # row -> reason
        self.notes = {}     # row -> first warning seen
        self.errors = []    # failures after the warm-up
        self.live = set()   # container ids that may exist
        self.recording = False

    def argv(self, *args):
        return [self.path, "--root", self.root] + list(args)

    def call(self, *args, stdin=None):
        return self.sp.run(self.argv(*args), stdin, rss=self.recording == "rss")

    def record(self, row, value):
        # "time" rounds record everything but the peak RSS rows; "rss" rounds
        # (calls made through the RSS helper) only those.
        if self.recording and (row.startswith("peak RSS") == (self.recording == "rss")):
            self.samples.setdefault(row, []).append(value)

    def checked(self, row, call, peak_row=None):
        """A call that must succeed: raise CallFailed(row, reason) if not."""
        why = call.failure()
        if why:
            raise CallFailed(row, why)
        warn = call.warning()
        if warn and row not in self.notes:
            self.notes[row] = warn
        if peak_row:
            if call.maxrss_kb is not None:
                self.record(peak_row, call.maxrss_kb / 1024.0)
        return call

    def timed(self, row, *args, stdin=None, peak=None):
        """One call timed into `row` (ms), its peak RSS into `peak RSS: <peak>`."""
        c = self.checked(row, self.call(*args, stdin=stdin), "peak RSS: " + peak if peak else None)
        self.record(row, c.elapsed * 1000.0)
        if peak and "CPU time: " + peak in ROW_UNITS and self.recording == "time":
            self.record("CPU time: " + peak, c.cpu * 1000.0)
        return c

    def delete_force(self, cid):
        try:
            c = self.call("delete", "--force", cid)
            if c.rc == 0:
                self.live.discard(cid)
        except CallFailed:
            pass

    def list_ids(self):
        c = self.call("list", "--quiet")
        if c.rc != 0:
            c = self.call("list")
            return [l.split()[0] for l in c.out.splitlines()[1:] if l.split()]
        return c.out.split()


class Bench:
    def __init__(self, spawner, runtimes, bundles, args):
        self.sp, self.runtimes, self.b, self.args = spawner, runtimes, bundles, args
        self.floor = {}
        self.engines = {}  # engine -> (argv builder per runtime) or "n/a: reason"
        self.resources = os.path.join(bundles["dir"], "update.json")
        with open(self.resources, "w") as f:
            json.dump({"pids": {"limit": 1000}}, f)

    # an operation that a runtime may not have: failure in the warm-up makes
    # the row n/a for that runtime; later, an error is counted.
    def attempt(self, rt, rows, fn, *a):
        rows = (rows,) if isinstance(rows, str) else rows
        if any(r in rt.na for r in rows):
            return False
        try:
            fn(rt, *a)
            return True
        except CallFailed as e:
            row, why = e.args if len(e.args) == 2 else (rows[0], str(e))
            if rt.recording:
                rt.errors.append("%s: %s" % (row, why))
            else:
                # In the warm-up: the row that failed is n/a; when it is the
                # row this attempt is gated on, so is everything it measures.
                for r in (rows if row == rows[0] else (row,)):
                    rt.na.setdefault(r, why)
            return False

    def order(self, i):
        k = i % len(self.runtimes)
        return self.runtimes[k:] + self.runtimes[:k]

    # -- one round of single calls

    def round(self, rt, tag):
        cid = "b%d-%s" % (os.getpid(), tag)
        self.attempt(rt, ("run /bin/true", "peak RSS: run"), self.op_run, cid + "-run", "true",
                     "run /bin/true", "run")
        self.attempt(rt, ("run with limits",), self.op_run, cid + "-lim", "limits",
                     "run with limits", None)
        self.attempt(rt, ("run with 1.3 fields",), self.op_run, cid + "-13", "spec13",
                     "run with 1.3 fields", None)
        self.attempt(rt, ("create", "created container RSS", "created container PSS",
                          "peak RSS: create"), self.op_sleeper, cid + "-sl")
        self.attempt(rt, ("create+start+wait+delete",), self.op_lifecycle, cid + "-lc")

    def op_run(self, rt, cid, bundle, row, peak):
        rt.live.add(cid)
        rt.timed(row, "run", "--bundle", self.b[bundle], cid, peak=peak)
        rt.live.discard(cid)

    def op_sleeper(self, rt, cid):
        pidfile = os.path.join(self.b["dir"], cid + ".pid")
        before = my_children()
        rt.live.add(cid)
        try:
            rt.timed("create", "create", "--bundle", self.b["sleep"], "--pid-file", pidfile, cid,
                     peak="create")
            with open(pidfile) as f:
                init = int(f.read().strip())
            rss = pss = 0
            for pid in my_children() - before:
                try:
                    r, p = smaps_rollup_kb(pid)
                except (OSError, ValueError):
                    continue  # a kernel thread or a process that just exited
                rss, pss = rss + r, pss + p
            rt.record("created container RSS", rss / 1024.0)
            rt.record("created container PSS", pss / 1024.0)
            self.attempt(rt, ("state", "peak RSS: state"), lambda r: r.timed(
                "state", "state", cid, peak="state"))
            rt.timed("start", "start", cid, peak="start")
            self.attempt(rt, ("exec /bin/true", "peak RSS: exec"), lambda r: r.timed(
                "exec /bin/true", "exec", cid, "/bin/true", peak="exec"))
            self.attempt(rt, "ps", lambda r: r.timed("ps", "ps", cid))
            self.attempt(rt, "pause+resume", self.op_pause_resume, cid)
            self.attempt(rt, "update", lambda r: r.timed(
                "update", "update", "--resources", "-", cid, stdin=self.resources))
            rt.timed("kill", "kill", cid, "9", peak="kill")
            self.sp.wait_exit(init)
            rt.timed("delete", "delete", cid, peak="delete")
            rt.live.discard(cid)
        finally:
            if cid in rt.live:
                rt.delete_force(cid)
            self.sp.reap()

    def op_pause_resume(self, rt, cid):
        p = rt.checked("pause+resume", rt.call("pause", cid))
        r = rt.call("resume", cid)
        if r.failure():
            # leave the container running for what follows
            raise CallFailed("pause+resume", r.failure())
        rt.record("pause+resume", (p.elapsed + r.elapsed) * 1000.0)

    def op_lifecycle(self, rt, cid):
        pidfile = os.path.join(self.b["dir"], cid + ".pid")
        rt.live.add(cid)
        try:
            t0 = time.perf_counter()
            rt.checked("create+start+wait+delete",
                       rt.call("create", "--bundle", self.b["true"], "--pid-file", pidfile, cid))
            with open(pidfile) as f:
                init = int(f.read().strip())
            rt.checked("create+start+wait+delete", rt.call("start", cid))
            self.sp.wait_exit(init)
            rt.checked("create+start+wait+delete", rt.call("delete", cid))
            rt.record("create+start+wait+delete", (time.perf_counter() - t0) * 1000.0)
            rt.live.discard(cid)
        finally:
            if cid in rt.live:
                rt.delete_force(cid)

    # -- batches: 100 containers

    def batch(self, rt, tag):
        n = self.args.batch_size
        ids = ["b%d-%s-%d" % (os.getpid(), tag, i) for i in range(n)]
        self.attempt(rt, "100 x run, one at a time", self.op_sequential, ids)
        self.attempt(rt, "100 x run, two at a time", self.op_two_at_a_time, ids)
        self.attempt(rt, "list, 100 containers", self.op_list, ids)

    def op_sequential(self, rt, ids):
        t0 = time.perf_counter()
        for cid in ids:
            rt.live.add(cid + "s")
            rt.checked("100 x run, one at a time", rt.call("run", "--bundle", self.b["true"], cid + "s"))
            rt.live.discard(cid + "s")
        rt.record("100 x run, one at a time", time.perf_counter() - t0)

    def two_at_a_time(self, rt, row, ids, make_args, after):
        """Run make_args(cid) for every id with two calls in flight; after(cid)
        on each success; raise CallFailed(row, first failure). Wall seconds."""
        todo, failures = list(ids), []

        def start_next():
            cid = todo.pop(0)
            h = self.sp.spawn(rt.argv(*make_args(cid)))
            h["cid"] = cid
            return h

        def on_done(h, call):
            why = call.failure()
            if why:
                failures.append(why)
            else:
                after(h["cid"])
            return [start_next()] if todo and not failures else []

        t0 = time.perf_counter()
        first = [start_next() for _ in range(min(2, len(todo)))]
        self.sp.wait(first, timeout=CALL_TIMEOUT * 10, on_done=on_done)
        if failures:
            raise CallFailed(row, failures[0])
        return time.perf_counter() - t0

    def op_two_at_a_time(self, rt, ids):
        row = "100 x run, two at a time"
        ids = [cid + "p" for cid in ids]
        rt.live.update(ids)
        t = self.two_at_a_time(rt, row, ids, lambda cid: ("run", "--bundle", self.b["true"], cid),
                               rt.live.discard)
        rt.record(row, t)

    def op_list(self, rt, ids):
        # The 100 stopped containers are made and removed two at a time
        # (untimed), to keep the whole benchmark within minutes.
        row = "list, 100 containers"
        ids = [cid + "l" for cid in ids]
        rt.live.update(ids)
        try:
            self.two_at_a_time(rt, row, ids, lambda cid: ("run", "--detach", "--bundle", self.b["true"], cid),
                               lambda cid: None)
            for _ in range(self.args.list_calls):
                c = rt.timed(row, "list")
                if c.out.count("\n") < len(ids):
                    raise CallFailed(row, "list printed %d lines for %d containers" % (c.out.count("\n"), len(ids)))
        finally:
            try:
                self.two_at_a_time(rt, row, [cid for cid in ids if cid in rt.live],
                                   lambda cid: ("delete", "--force", cid), rt.live.discard)
            except CallFailed:
                pass
            for cid in sorted(rt.live.intersection(ids)):
                rt.delete_force(cid)
            self.sp.reap()

    # -- engines

    def setup_engines(self):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        # RLIMIT_NPROC: podman sets it too; raising it is refused here, so lower it.
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = 4096 if nproc == resource.RLIM_INFINITY or nproc > 4096 else nproc
        podman = shutil.which("podman")
        if not podman:
            self.engines["podman run --rm"] = "podman not installed"
        else:
            # podman asks for RLIMIT_NOFILE 1048576 by default, more than this
            # process's hard limit may allow; ask for what we have instead.
            self.engines["podman run --rm"] = lambda rt: [
                podman, "--runtime", rt.path, "run", "--rm", "--network", "none",
                "--ulimit", "nofile=%d:%d" % (hard, hard), "--ulimit", "nproc=%d:%d" % (nproc, nproc),
                "--rootfs", self.b["rootfs"], "/bin/true"]
        docker = shutil.which("docker")
        if not docker:
            self.engines["docker run --rm"] = "docker not installed"
            return
        c = self.sp.run([docker, "info", "--format", "{{json .Runtimes}}"], timeout=20)
        if c.rc != 0:
            self.engines["docker run --rm"] = "docker daemon not reachable"
            return
        try:
            registered = json.loads(c.out)
        except ValueError:
            registered = {}
        image = self.args.docker_image
        if self.sp.run([docker, "image", "inspect", image], timeout=20).rc != 0:
            self.engines["docker run --rm"] = "no local image %r (--docker-image)" % image
            return
        names = {}
        for rt in self.runtimes:
            for name, info in registered.items():
                path = (info or {}).get("path") or (info or {}).get("runtimeType") or ""
                if name == rt.name or os.path.basename(path) in (rt.name, os.path.basename(rt.path)):
                    names[rt.name] = name
                    break
        self.engines["docker run --rm"] = lambda rt: (
            [docker, "run", "--rm", "--network", "none", "--runtime", names[rt.name], image, "/bin/true"]
            if rt.name in names else None)

    def engine(self, rt):
        for row, how in self.engines.items():
            if isinstance(how, str):
                continue

            def op(rt, row=row, how=how):
                argv = how(rt)
                if argv is None:
                    raise CallFailed(row, "%s not registered with the engine" % rt.name)
                c = self.sp.run(argv, timeout=120)
                if c.rc != 0:  # engines relay runtime warnings: only the exit status counts
                    raise CallFailed(row, c.failure())
                rt.record(row, c.elapsed * 1000.0)
            self.attempt(rt, row, op)

    # -- the floor: what the interpreter and the kernel cost alone

    def floor_round(self, recording):
        for row, argv in self.floor_argv.items():
            c = self.sp.run(argv)
            if c.failure():
                self.floor[row] = c.failure()
            elif recording and not isinstance(self.floor.get(row), str):
                self.floor.setdefault(row, []).append(c.elapsed * 1000.0)
                cpu_row = row.replace("floor: ", "floor: CPU time, ")
                if cpu_row in ROW_UNITS:
                    self.floor.setdefault(cpu_row, []).append(c.cpu * 1000.0)

    # -- everything

    def run_all(self, log):
        a = self.args
        py = os.environ.get("MINIRUN_PYTHON") or "/usr/bin/python3"
        self.floor_argv = {"floor: python3 -I -S -c pass": [py, "-I", "-S", "-c", "pass"],
                           "floor: unshare -fpmuin true": [shutil.which("unshare") or "/usr/bin/unshare",
                                                           "-fpmuin", "true"]}
        self.setup_engines()
        log("warm-up round (decides what each runtime supports) ...")
        for rt in self.runtimes:
            self.round(rt, "w")
            self.engine(rt)
        for rt in self.runtimes:
            self.batch_warmup(rt)
            rt.recording = "time"
        self.floor_round(False)
        t0 = time.monotonic()
        for i in range(a.rounds):
            for rt in self.order(i):
                self.round(rt, str(i))
            self.floor_round(True)
            if i == 0 or (i + 1) % 10 == 0:
                log("round %d/%d (%.0f s)" % (i + 1, a.rounds, time.monotonic() - t0))
        for i in range(a.engine_rounds):
            for rt in self.order(i):
                self.engine(rt)
        if a.engine_rounds:
            log("engine rounds done (%.0f s)" % (time.monotonic() - t0))
        for i in range(a.batch_rounds):
            for rt in self.order(i):
                self.batch(rt, "x%d" % i)
            log("batch round %d/%d (%.0f s)" % (i + 1, a.batch_rounds, time.monotonic() - t0))
        for rt in self.runtimes:
            rt.recording = "rss"
        if not self.sp.rss_helper:
            for rt in self.runtimes:
                for name, _, _ in ROWS:
                    if name.startswith("peak RSS"):
                        rt.na.setdefault(name, self.sp.rss_reason)
            self.floor["floor: peak RSS, /bin/true"] = self.sp.rss_reason
            return
        for i in range(a.rss_rounds):
            for rt in self.order(i):
                self.round(rt, "m%d" % i)
            self.floor_rss()
        if a.rss_rounds:
            log("peak RSS rounds done (%.0f s)" % (time.monotonic() - t0))

    def floor_rss(self):
        row = "floor: peak RSS, /bin/true"
        try:
            c = self.sp.run(["/bin/true"], rss=True)
        except CallFailed as e:
            self.floor[row] = str(e)
            return
        if c.maxrss_kb is not None and not isinstance(self.floor.get(row), str):
            self.floor.setdefault(row, []).append(c.maxrss_kb / 1024.0)

    def batch_warmup(self, rt):
        # Availability of the batch rows from a small batch, not recorded.
        saved = self.args.batch_size
        self.args.batch_size = 2
        try:
            self.batch(rt, "w")
        finally:
            self.args.batch_size = saved


# --------------------------------------------------------------------------
# setup: host facts, bundles, the private mount namespace

def cgroup_layout():
    try:
        with open("/proc/self/mountinfo") as f:
            types = {line.split(" - ")[1].split()[0] for line in f if " - " in line}
    except OSError:
        return "?"
    if "cgroup" in types:
        return "v1 hybrid (v1 + cgroup2 at /sys/fs/cgroup/unified)" if "cgroup2" in types else "v1"
    return "v2" if "cgroup2" in types else "none"


def version_line(sp, argv):
    try:
        c = sp.run(argv, timeout=20)
    except CallFailed as e:
        return "unavailable: %s" % e
    text = (c.out or c.err).strip()
    return text.splitlines()[0] if text else "exit status %d" % c.rc


def build_bundles(workdir):
    rootfs = os.path.join(workdir, "rootfs")
    import subprocess
    subprocess.run(["bash", BUILD_ROOTFS, rootfs], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    with open(BASE_CONFIG) as f:
        base = json.load(f)
    base["root"] = {"path": rootfs, "readonly": False}
    base["process"]["terminal"] = False
    base["hostname"] = "bench"
    base.get("linux", {}).pop("cgroupsPath", None)
    bundles = {"dir": workdir, "rootfs": rootfs}
    variants = {
        "true": (["/bin/true"], None),
        "sleep": (["/bin/sleep", "1000000"], None),
        "limits": (["/bin/true"], {"memory": {"limit": 256 << 20},
                                   "cpu": {"shares": 512},
                                   "pids": {"limit": 200}}),
    }
    # runtime-spec 1.2/1.3 fields a host without resctrl or a second NUMA
    # node can apply (execCPUAffinity is exec's, netDevices needs a host
    # interface to give away: neither is in `run`'s cost).
    spec13 = {"process": {"scheduler": {"policy": "SCHED_BATCH", "nice": 5,
                                        "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
                          "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4}},
              "linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}}}
    variants["spec13"] = (["/bin/true"], None)
    for name, (args, res) in variants.items():
        config = json.loads(json.dumps(base))
        config["process"]["args"] = args
        if res:
            config["linux"]["resources"] = res
        if name == "spec13":
            config["ociVersion"] = "1.3.0"
            config["process"].update(spec13["process"])
            config["linux"].update(spec13["linux"])
        path = os.path.join(workdir, "bundle-" + name)
        os.makedirs(path)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        bundles[name] = path
    return bundles


def hide_unified_controllers(workdir):
    """In our private mount namespace: bind an empty file over the cgroup2
    controllers list of a hybrid host, so crun accepts it. Returns a note."""
    try:
        with open(UNIFIED_CONTROLLERS) as f:
            listed = f.read().strip()
    except OSError:
        return "no %s: nothing hidden" % UNIFIED_CONTROLLERS
    empty = os.path.join(workdir, "empty-cgroup.controllers")
    open(empty, "w").close()
    import subprocess
    subprocess.run(["mount", "--bind", empty, UNIFIED_CONTROLLERS], check=True)
    return ("in a private mount namespace, %s (was %r) reads as empty for all runtimes"
            % (UNIFIED_CONTROLLERS, listed))


# --------------------------------------------------------------------------
# report

def fmt_stat(res, unit):
    if res is None:
        return "-"
    if "na" in res:
        return "n/a: " + res["na"]
    d = 2 if unit == "s" else 1
    return "%.*f [%.*f-%.*f]" % (d, res["median"], d, res["min"], d, res["max"])


def table_lines(result, names, na_width=38):
    """The text table: median [min-max] per runtime and the ratios of medians."""
    peers = ["minirun/" + n for n in names if n != "minirun" and "minirun" in names]
    header = ["row (unit)"] + list(names) + peers
    lines = []
    for row in result["rows"]:
        if row["kind"] == "floor":
            continue
        cells = [row["name"] + " (%s)" % row["unit"]]
        for n in names:
            s = fmt_stat(row["results"].get(n), row["unit"])
            cells.append(s if len(s) <= na_width else s[:na_width - 3] + "...")
        for p in peers:
            r = row["ratios"].get(p)
            cells.append("%.2fx" % r if r is not None else "-")
        lines.append(cells)
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                              for i, c in enumerate(r))
    out = [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines]
    for row in result["rows"]:
        if row["kind"] == "floor":
            res = row["results"].get(FLOOR)
            out.append("%s: %s %s" % (row["name"], fmt_stat(res, row["unit"]), row["unit"]))
    return out


def markdown_table(result, names):
    peers = ["minirun/" + n for n in names if n != "minirun"]
    lines = ["| row | " + " | ".join(names) + " | " + " | ".join(peers) + " |",
             "|---" * (1 + len(names) + len(peers)) + "|"]
    for row in result["rows"]:
        if row["kind"] == "floor":
            continue
        cells = []
        for n in names:
            res = row["results"].get(n)
            if res is None:
                cells.append("-")
            elif "na" in res:
                cells.append("n/a")
            else:
                cells.append("%.*f %s" % (2 if row["unit"] == "s" else 1, res["median"], row["unit"]))
        rs = ["%.2f×" % row["ratios"][p] if row["ratios"].get(p) is not None else "-" for p in peers]
        lines.append("| %s | %s | %s |" % (row["name"], " | ".join(cells), " | ".join(rs)))
    return lines


# --------------------------------------------------------------------------

def reexec_in_private_namespace():
    """Run this script again inside a private mount namespace."""
    unshare = shutil.which("unshare")
    if not unshare:
        sys.exit("bench.py: needs unshare (util-linux) for its private mount namespace")
    env = dict(os.environ, **{IN_NS_ENV: "1"})
    argv = [unshare, "--mount", "--propagation", "private", "--",
            sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    os.execve(unshare, argv, env)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30, help="rounds of the single calls (default 30)")
    ap.add_argument("--batch-rounds", type=int, default=2,
                    help="rounds of the 100-container rows (default 2)")
    ap.add_argument("--engine-rounds", type=int, default=6,
                    help="rounds of the podman/docker rows (default 6)")
    ap.add_argument("--rss-rounds", type=int, default=3,
                    help="rounds of the peak RSS rows, through the RSS helper (default 3)")
    ap.add_argument("--batch-size", type=int, default=100, help=argparse.SUPPRESS)
    ap.add_argument("--list-calls", type=int, default=5, help="`list` calls per batch round (default 5)")
    ap.add_argument("--runtimes", default=",".join(ALL_RUNTIMES),
                    help="comma-separated (default %(default)s)")
    ap.add_argument("--minirun", default=os.path.join(REPO, "minirun.py"), help="path of minirun.py")
    ap.add_argument("--runc", default="runc", help="runc binary (default: from PATH)")
    ap.add_argument("--crun", default="crun", help="crun binary (default: from PATH)")
    ap.add_argument("--docker-image", default="busybox",
                    help="local image for the docker row (default busybox; never pulled)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="result file (default %(default)s)")
    ap.add_argument("--plot", default=None, help="PNG of the ratios (default: --out with .png)")
    ap.add_argument("--replot", metavar="RESULT", help="only redraw --plot from a result file (no root)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    names = [n.strip() for n in args.runtimes.split(",") if n.strip()]
    for n in names:
        if n not in ALL_RUNTIMES:
            ap.error("unknown runtime %r (known: %s)" % (n, ", ".join(ALL_RUNTIMES)))
    args.names = names
    if args.plot is None:
        args.plot = os.path.splitext(args.replot or args.out)[0] + ".png"
    return args


def write_plot(result, path):
    # Every row some runtime measured, so a row where minirun is still n/a
    # shows as such (and lights up when the command lands).
    rows = [(r["name"], r["ratios"]) for r in result["rows"]
            if r["kind"] != "floor" and any("median" in v for v in r["results"].values())]
    title = "minirun vs runc and crun, %s, kernel %s, %d rounds" % (
        result["started"][:10], result["host"]["kernel"], result["rounds"]["rounds"])
    with open(path, "wb") as f:
        f.write(plot_ratios(rows, title))


def main():
    args = parse_args()
    if args.replot:
        with open(args.replot) as f:
            write_plot(validate_result(json.load(f)), args.plot)
        print("wrote %s" % args.plot)
        return 0
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root (containers, namespaces, cgroups)")
    if os.environ.get(IN_NS_ENV) != "1":
        reexec_in_private_namespace()

    def log(msg):
        print("bench: " + msg, file=sys.stderr, flush=True)

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="minirun-bench-")
    runtimes, failed = [], False
    try:
        layout = cgroup_layout()
        ns_note = hide_unified_controllers(workdir)
        log(ns_note)
        log("building the bundles in %s ..." % workdir)
        bundles = build_bundles(workdir)
        calls = os.path.join(workdir, "calls")
        os.makedirs(calls)
        sp = Spawner(calls)
        for n in args.names:
            if n == "minirun":
                path = os.path.abspath(args.minirun)
                path = path if os.path.isfile(path) else None
            else:
                path = shutil.which(getattr(args, n))
            if not path:
                log("%s: not found, left out" % n)
                continue
            root = os.path.join(workdir, "root-" + n)
            os.makedirs(root)
            runtimes.append(Runtime(n, path, root, sp))
        bench = Bench(sp, runtimes, bundles, args)
        try:
            bench.run_all(log)
        finally:
            for rt in runtimes:
                for cid in sorted(rt.live):
                    rt.delete_force(cid)
            sp.reap()

        host = {
            "kernel": platform.release(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "cgroup": layout, "cgroup_setup": ns_note,
            "python": platform.python_version(),
            "minirun_python": version_line(sp, [os.environ.get("MINIRUN_PYTHON") or "/usr/bin/python3",
                                                "--version"]),
            "runtimes": {rt.name: {"path": rt.path, "version": version_line(sp, [rt.path, "--version"])}
                         for rt in runtimes},
            "engines": {row: (how if isinstance(how, str) else "present")
                        for row, how in bench.engines.items()},
        }
        rows = []
        for name, unit, kind in ROWS:
            if kind == "floor":
                per = {FLOOR: bench.floor.get(name, [])}
            else:
                per = {}
                for rt in runtimes:
                    if name in rt.na:
                        per[rt.name] = rt.na[name]
                    elif kind == "engine" and isinstance(bench.engines.get(name), str):
                        per[rt.name] = bench.engines[name]
                    else:
                        per[rt.name] = rt.samples.get(name, [])
            notes = {rt.name: rt.notes[name] for rt in runtimes if name in rt.notes}
            rows.append((name, unit, kind, per, notes))
        setup = {"order": "interleaved, rotating start: " + " ".join(rt.name for rt in runtimes),
                 "timing": "posix_spawn to pidfd readable",
                 "peak_rss": "wait4 ru_maxrss of the runtime, started by a small static helper "
                             "in separate rounds (a child of the interpreter inherits its high-water mark)",
                 "ratios": "ratios of medians",
                 "engines": "podman runs in the bench's namespace; dockerd calls its "
                            "runtimes from its own, without the hidden controllers file"}
        result = validate_result(build_result(
            started, time.monotonic() - t_start, host, setup,
            {"rounds": args.rounds, "batch_rounds": args.batch_rounds,
             "engine_rounds": args.engine_rounds, "rss_rounds": args.rss_rounds,
             "batch_size": args.batch_size}, rows))

        names = [rt.name for rt in runtimes]
        print()
        print("minirun benchmark, %s: %d rounds of single calls, %d of the %d-container rows, "
              "%d of the engine rows" % (started, args.rounds, args.batch_rounds, args.batch_size,
                                         args.engine_rounds))
        print("  host: kernel %s, %d CPUs, cgroup %s, python %s" % (
            host["kernel"], host["cpus"] or 0, layout, host["python"]))
        print("  cgroups: " + ns_note)
        for rt in runtimes:
            print("  %s: %s (%s)" % (rt.name, rt.path, host["runtimes"][rt.name]["version"]))
        print("  minirun runs as a program under %s" % host["minirun_python"])
        print("  cells: median [min-max]; ratios are ratios of the MEDIANS; a runtime is n/a where")
        print("  its warm-up call failed or answered 'not implemented'")
        print()
        for line in table_lines(result, names):
            print(line)
        notes = []
        for rt in runtimes:
            for row, warn in rt.notes.items():
                notes.append("%s, %s: said %r" % (rt.name, row, warn))
            if rt.errors:
                notes.append("%s: %d failed call(s) after the warm-up, first: %s"
                             % (rt.name, len(rt.errors), rt.errors[0]))
        for row in result["rows"]:
            for n, res in row["results"].items():
                if "na" in res and len("n/a: " + res["na"]) > 38:
                    notes.append("%s, %s: n/a: %s" % (n, row["name"], res["na"]))
        if notes:
            print()
            for note in notes:
                print("note: " + note)

        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        write_plot(result, args.plot)
        print()
        print("markdown:")
        for line in markdown_table(result, names):
            print(line)
        print()
        print("wrote %s and %s" % (args.out, args.plot))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        failed = True
    finally:
        failed = leftover_check(runtimes) or failed
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("bench.py: kept %s for inspection" % workdir, file=sys.stderr)
    return 1 if failed else 0


def leftover_check(runtimes):
    """List each runtime's --root; True (and loud) if anything is left."""
    bad = False
    for rt in runtimes:
        try:
            left = rt.list_ids()
        except CallFailed as e:
            left = ["(list failed: %s)" % e]
        if left:
            for cid in left:
                rt.delete_force(cid)
            print("bench.py: LEFTOVER CONTAINERS in %s's root %s: %s"
                  % (rt.name, rt.root, ", ".join(left)), file=sys.stderr)
            bad = True
    return bad


if __name__ == "__main__":
    sys.exit(main())
