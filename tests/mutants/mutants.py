#!/usr/bin/env python3
"""The mutation harness: deliberate bugs in minirun.py, each of which a named test must catch.

Each mutant (mutations.py) is one exact edit of minirun.py with the test node
ids that should fail on it. For each mutant the harness copies the repository
(the files git tracks, with a `shared` symlink beside the copy when ../shared
exists, since the suites use its engine fixtures) to a temporary directory,
applies the edit there, and runs only the listed tests, from the copy: the
unit tests import the copy's minirun, the integration tests run the copy's
minirun.py as a program. A mutant is

    caught        a listed test failed
    survived      every listed test passed: a behaviour no test pins down
    does not apply  the old text is not in minirun.py exactly once (the file
                  changed under the mutation: update the mutation)
    error         pytest could not run the tests (collection error, timeout)

Before the mutants, the listed tests run once on an unmutated copy: a test
that already fails would "catch" every mutant and prove nothing.

Prints a table and exits non-zero unless every mutant is caught.

Usage (root, for the integration tests):
    python3 tests/mutants/mutants.py [--list] [--only NAME ...] [-j N] [--no-baseline]
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from mutations import MUTANTS  # noqa: E402

# A mutant that makes a test hang (a missed wakeup, an init never released)
# is an error, not a pass: the tests' own timeouts are shorter than this.
TIMEOUT = 900


def tracked_files(repo):
    out = subprocess.run(["git", "-C", repo, "ls-files", "-z"], stdout=subprocess.PIPE, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def make_copy(repo, parent):
    """parent/repo: the tracked files (and tests/fixtures); parent/shared -> ../shared."""
    copy = os.path.join(parent, "repo")
    names = tracked_files(repo)
    fixtures = os.path.join(repo, "tests", "fixtures")
    if os.path.isdir(fixtures):
        for top, _dirs, files in os.walk(fixtures):
            names.extend(os.path.relpath(os.path.join(top, f), repo) for f in files)
    for name in sorted(set(names)):
        source = os.path.join(repo, name)
        if not os.path.lexists(source):  # deleted in the worktree, not yet in git
            continue
        target = os.path.join(copy, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    shared = os.path.join(os.path.dirname(repo), "shared")
    if os.path.isdir(shared):
        os.symlink(os.path.realpath(shared), os.path.join(parent, "shared"))
    return copy


def apply(copy, mutant):
    """Edit the copy's minirun.py; False when the old text is not there exactly once."""
    path = os.path.join(copy, "minirun.py")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(mutant.old) != 1:
        return False
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(mutant.old, mutant.new))
    return True


def pytest_env():
    env = dict(os.environ)
    env.pop("MINIRUN_TEST_RUNTIME", None)  # the copy's own minirun.py, always
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the test process's; the launcher caches regardless
    return env


def python():
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def run_tests(copy, nodeids, stop_first=True):
    """(returncode or None on timeout, output) of pytest on nodeids in the copy."""
    argv = [python(), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", "-p", "no:xdist"]
    if stop_first:
        argv.append("-x")
    proc = subprocess.Popen(argv + list(nodeids), cwd=copy, env=pytest_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the session we started, nothing else
        out, _ = proc.communicate()
        return None, out.decode(errors="replace")


def failed_tests(output):
    return [line.split()[1] for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))
            and len(line.split()) > 1]


class Row:
    def __init__(self, mutant):
        self.mutant = mutant
        self.result = "?"
        self.seconds = 0.0
        self.detail = ""
        self.output = ""


def run_mutant(mutant, keep):
    row = Row(mutant)
    started = time.monotonic()
    parent = tempfile.mkdtemp(prefix="minirun-mutant-")
    try:
        copy = make_copy(REPO, parent)
        if not apply(copy, mutant):
            row.result = "does not apply"
            row.detail = "old text found %d times" % open(os.path.join(copy, "minirun.py"),
                                                          encoding="utf-8").read().count(mutant.old)
            return row
        code, output = run_tests(copy, mutant.tests)
        row.output = output
        failed = failed_tests(output)
        if code == 0:
            row.result = "survived"
        elif code == 1 and failed:
            row.result = "caught"
            row.detail = failed[0]
        else:
            row.result = "error"
            row.detail = "timeout after %d s" % TIMEOUT if code is None else "pytest exit %d" % code
    finally:
        row.seconds = time.monotonic() - started
        if keep:
            row.detail += " (copy kept in %s)" % parent
        else:
            shutil.rmtree(parent, ignore_errors=True)
    return row


def baseline(mutants):
    """The listed tests on an unmutated copy: every one must pass."""
    nodeids = []
    for m in mutants:
        nodeids.extend(t for t in m.tests if t not in nodeids)
    parent = tempfile.mkdtemp(prefix="minirun-mutant-baseline-")
    try:
        copy = make_copy(REPO, parent)
        return run_tests(copy, nodeids, stop_first=False)
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def short(text, width):
    return text if len(text) <= width else text[:width - 1] + "…"


def print_table(rows):
    header = ("mutant", "section", "result", "s", "caught by")
    lines = [header] + [(r.mutant.name, r.mutant.section, r.result, "%.0f" % r.seconds,
                         r.detail.replace("tests/", "", 1)) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    print("| " + " | ".join(header[i].ljust(widths[i]) if i < 4 else header[i] for i in range(5)) + " |")
    print("|" + "|".join("-" * (widths[i] + 2) if i < 4 else "---" for i in range(5)) + "|")
    for line in lines[1:]:
        print("| " + " | ".join(line[i].ljust(widths[i]) if i < 4 else line[i] for i in range(5)) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests, run nothing")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    parser.add_argument("-j", type=int, default=1, metavar="N", help="mutants run in parallel (default 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unmutated copy")
    parser.add_argument("--keep", action="store_true", help="keep each mutated copy (for debugging)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output of mutants not caught")
    args = parser.parse_args()

    names = [m.name for m in MUTANTS]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        parser.error("duplicate mutant names: %s" % ", ".join(sorted(duplicates)))
    mutants = MUTANTS
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            parser.error("no mutant named %s (see --list)" % ", ".join(unknown))
        mutants = [m for m in MUTANTS if m.name in args.only]
    if args.list:
        source = open(os.path.join(REPO, "minirun.py"), encoding="utf-8").read()
        for m in mutants:
            applies = "" if source.count(m.old) == 1 else "  DOES NOT APPLY"
            print("%-40s %-13s %s%s" % (m.name, m.section, " ".join(m.tests), applies))
        print("%d mutants in %d sections" % (len(mutants), len({m.section for m in mutants})))
        return 0
    if os.geteuid() != 0:
        print("mutants: the integration tests need root", file=sys.stderr)
        return 2

    if not args.no_baseline:
        started = time.monotonic()
        code, output = baseline(mutants)
        print("baseline: the listed tests on the unmutated copy: %s (%.0f s)"
              % ("pass" if code == 0 else "FAIL", time.monotonic() - started), flush=True)
        if code != 0:
            print(output[-6000:])
            print("mutants: the listed tests must pass before mutation; fix them first", file=sys.stderr)
            return 1

    lock = threading.Lock()
    done = []

    def one(mutant):
        row = run_mutant(mutant, args.keep)
        with lock:
            done.append(row)
            print("[%d/%d] %-36s %-15s %4.0f s %s" % (len(done), len(mutants), mutant.name, row.result,
                                                     row.seconds, row.detail), flush=True)
            if args.verbose and row.result != "caught":
                print(row.output[-4000:], flush=True)
        return row

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.j)) as pool:
        rows = list(pool.map(one, mutants))
    print()
    print_table(rows)
    counts = {}
    for r in rows:
        counts[r.result] = counts.get(r.result, 0) + 1
    print("\n%d mutants: %s; %.0f s in all" % (len(rows), ", ".join("%d %s" % (n, k) for k, n in sorted(counts.items())),
                                               time.monotonic() - started))
    return 0 if counts.get("caught", 0) == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
