"""The shape of minirun.py: two guard tests the architecture asks for.

(a) The module docstring's table of contents matches the section banners,
    in order, and no section grows past ~800 lines (a sign it holds two
    concerns).
(b) Every module a child process imports lazily is preloaded before clone:
    after pivot_root the host's Python library is out of reach, so a lazy
    import on a path the children run would fail there (Python 3.14's
    ctypes._layout was this bug). The functions the children can reach are
    found by following calls by name from their entry points, through
    minirun's own functions and methods, with ast.
(c) Start-up: called as a program, minirun runs from a cache of its sections'
    bytecode and loads a section when one of its names is first looked up.
    That is right only if no section assigns a name another one defines; and
    it is worth it only if light commands leave most of the file unloaded.
    A cache that is damaged, stale or not the launcher's to trust is never
    run: the file answers instead, and the cache is rewritten.
"""

import ast
import functools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zlib

import pytest

import minirun

from .helpers import cli_env, unwritable_python

SOURCE_PATH = os.path.abspath(minirun.__file__)
if SOURCE_PATH.endswith(".pyc"):  # imported from the bytecode cache
    SOURCE_PATH = os.path.join(os.path.dirname(os.path.dirname(SOURCE_PATH)), "minirun.py")
with open(SOURCE_PATH) as _handle:
    SOURCE = _handle.read()
LINES = SOURCE.splitlines()
TREE = ast.parse(SOURCE)

CHILD_ENTRY_POINTS = ("joiner_main", "init_main", "exec_stage_main", "exec_process_main")
MAX_SECTION_LINES = 800


def module_docstring():
    """The prose docstring (the file's first string is the /bin/sh header)."""
    strings = [node.value.value for node in TREE.body
               if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
               and isinstance(node.value.value, str)]
    return next(text for text in strings if text.startswith("minirun:"))


def table_of_contents():
    docstring = module_docstring()
    assert "Contents" in docstring
    listing = docstring.split("Contents", 1)[1].split("\n\n", 1)[0]
    return [(int(m.group(1)), m.group(2).strip()) for m in re.finditer(r"^\s+(\d+)\.\s+(.+)$", listing, re.M)]


def banners():
    """(number, title, line index) of each `# N. Title` between two `# ====` lines."""
    found = []
    for i in range(1, len(LINES) - 1):
        match = re.match(r"^# (\d+)\. (.+)$", LINES[i])
        if match and LINES[i - 1].startswith("# ====") and LINES[i + 1].startswith("# ===="):
            found.append((int(match.group(1)), match.group(2).strip(), i))
    return found


def test_the_table_of_contents_matches_the_section_banners_in_order():
    contents = table_of_contents()
    assert len(contents) >= 10
    assert [(n, title) for n, title, _ in banners()] == contents


def test_sections_are_numbered_from_1_without_gaps():
    assert [n for n, _ in table_of_contents()] == list(range(1, len(table_of_contents()) + 1))


def test_every_section_is_under_800_lines():
    found = banners()
    ends = [line for _, _, line in found[1:]] + [len(LINES)]
    sizes = {"%d. %s" % (n, title): end - start for (n, title, start), end in zip(found, ends)}
    too_long = {name: size for name, size in sizes.items() if size > MAX_SECTION_LINES}
    assert too_long == {}


# --- lazy imports on the children's paths ---------------------------------------------


def functions_by_name():
    """name -> [FunctionDef]: module-level functions, methods of every class
    (a call `x.name(...)` may reach any of them), and for a class its
    __init__ under the class's name (a call `Name(...)` constructs it)."""
    table = {}
    for node in TREE.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            table.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    table.setdefault(item.name, []).append(item)
                    if item.name == "__init__":
                        table.setdefault(node.name, []).append(item)
    return table


def called_names(function):
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def lazy_imports(function):
    """Top-level module names imported inside `function` (nested defs and lambdas included)."""
    modules = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module)
    return modules


def reachable_from(entry_points):
    table = functions_by_name()
    seen, pending = {}, list(entry_points)
    while pending:
        name = pending.pop()
        for function in table.get(name, []):
            key = (name, function.lineno)
            if key in seen:
                continue
            seen[key] = function
            pending.extend(called_names(function) - {name})
    return seen


def module_level_imports():
    modules = set()
    for node in TREE.body:
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
    return modules


def test_the_reachability_walk_finds_what_the_children_certainly_run():
    reached = {name for name, _ in reachable_from(CHILD_ENTRY_POINTS)}
    for name in ("prepare_rootfs", "finish_rootfs", "pivot_into", "prepare_process", "finish_process",
                 "apply_user", "load_seccomp", "run_hook", "child_failure", "restore_signal_defaults",
                 "capset", "setrlimit", "send"):
        assert name in reached, name
    assert {"create_container", "exec_container", "main"}.isdisjoint(reached)


def test_every_module_the_children_import_lazily_is_preloaded():
    # The children are clones made through ctypes and hold a Kernel made
    # before clone: ctypes itself is loaded by then, whatever calls kernel().
    loaded_before_clone = {"ctypes"}
    allowed = set(minirun.PRELOADED_MODULES) | module_level_imports() | loaded_before_clone
    assert module_level_imports() == {"os", "sys"}  # nothing else at import: every call pays for it
    missing = {}
    for (name, line), function in reachable_from(CHILD_ENTRY_POINTS).items():
        for module in lazy_imports(function) - allowed:
            missing.setdefault(module, []).append("%s (line %d)" % (name, line))
    assert missing == {}, "imported lazily on a child's path but not in PRELOADED_MODULES"


def test_preloaded_modules_are_importable():
    for module in minirun.PRELOADED_MODULES:
        __import__(module)


def test_the_guard_sees_a_new_lazy_import_on_a_child_path():
    """The check itself can fail: a function that imports a module nobody preloads."""
    probe = ast.parse("def probe():\n    import zipfile\n    prepare_process(1, 2, 3, 4)\n").body[0]
    assert lazy_imports(probe) == {"zipfile"}
    assert "prepare_process" in called_names(probe)


# --- start-up: sections loaded on demand ------------------------------------------------

def test_the_sections_cache_splits_the_file_at_its_banners():
    titles = [title for title, _first, _text in minirun.sections_of(SOURCE)]
    assert titles == ["header"] + ["%d. %s" % (n, title) for n, title, _ in banners()]
    assert "".join(text for _title, _first, text in minirun.sections_of(SOURCE)) == SOURCE


def test_no_section_assigns_a_name_another_section_defines():
    sections = minirun.build_sections(SOURCE_PATH)
    assert sections is not None, "a section reassigns an earlier section's name: the cache would be wrong"
    owners = {}
    for title, names, _code, units in sections:
        assert sorted(n for unit_names, _unit_code, _first, _last in units for n in unit_names) == sorted(names)
        for name in names:
            owners.setdefault(name, []).append(title)
    assert {name: titles for name, titles in owners.items() if len(titles) > 1} == {}
    assert owners["main"] == ["21. The command line"] and owners["Error"] == ["1. Errors, logging and utilities"]


def test_build_sections_refuses_a_file_where_a_later_section_redefines_a_name(tmp_path):
    doubled = SOURCE + "\n\ndef json_loads(text):\n    return None\n"
    path = tmp_path / "minirun.py"
    path.write_text(doubled)
    assert minirun.build_sections(str(path)) is None


LOADED_BY = """
import os, sys
path = sys.argv[1]
sys.path.insert(0, os.path.dirname(path))
import marshal, tempfile
import minirun
data = minirun.sections_cache_bytes((0, 0), minirun.build_sections(path))
size = int.from_bytes(data[8:16], "little")
base = minirun.SECTIONS_CACHE_HEADER + size
_key, _length, boot_code, index = marshal.loads(data[minirun.SECTIONS_CACHE_HEADER:base])
cache = tempfile.TemporaryFile()
cache.write(data)
cache.flush()
real_exit = os._exit

def report(code):       # run_as_program ends here: say which sections ran (in part)
    scope = sys._getframe(1).f_globals
    sections, units = index[0], marshal.loads(index[1])
    if "LOADED_SECTIONS" in scope:      # unit numbers
        titles = [units[i][0] for i in sorted(scope["LOADED_SECTIONS"])]
        share = sum(units[i][3] for i in scope["LOADED_SECTIONS"]) * 1.0 / sum(u[3] for u in units)
    else:
        titles, share = [s[0] for s in sections], 1.0
    sys.stdout.flush()
    os.write(2, ("LOADED %s %.3f " % (type(scope).__name__, share)
                 + "|".join(sorted(set(titles), key=titles.index)) + "\\n").encode())
    real_exit(code)

os._exit = report
sys.argv = ["minirun"] + sys.argv[2:]
boot = type(lambda: 0)(marshal.loads(boot_code), {"__builtins__": __builtins__})
boot(index, cache.fileno(), base, path, os.stat(path))
"""


def sections_loaded_by(*argv):
    result = subprocess.run([sys.executable, "-I", "-S", "-c", LOADED_BY, SOURCE_PATH] + list(argv),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    line = [text for text in result.stderr.splitlines() if text.startswith("LOADED ")]
    assert line, result.stderr
    kind, share, names = line[0][len("LOADED "):].split(" ", 2)
    return result, (kind, float(share)), names.split("|")


def test_state_runs_from_a_tenth_of_the_file(tmp_path):
    """Units, not sections: `state` needs a few names of the state store,
    the cgroups and the kernel seam, not the whole sections they live in."""
    result, (kind, share), loaded = sections_loaded_by("--root", str(tmp_path), "state", "c1")
    assert result.returncode == 1 and "container c1 does not exist" in result.stderr, result.stderr
    assert kind == "SectionGlobals" and share < 0.1, share
    for heavy in ("4. The spec model: objects and field readers", "5. The spec model: the config and its checks", "9. Paths in the root and the root filesystem",
                  "13. Security: capabilities, seccomp, LSMs", "15. Planning",
                  "16. Process setup (shared by the init and exec)",
                  "17. The protocol and the container's processes", "22. Appendix: syscall tables"):
        assert heavy not in loaded
    assert "21. The command line" in loaded and "7. The state store" in loaded


def test_spec_writes_its_config_from_the_sections_it_uses(tmp_path):
    result, (kind, _share), loaded = sections_loaded_by("spec", "--bundle", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "config.json").read_text())["ociVersion"]
    assert kind == "SectionGlobals" and "13. Security: capabilities, seccomp, LSMs" not in loaded


def test_create_run_and_exec_load_everything_into_a_plain_dict(tmp_path):
    """They load every section before clone anyway; a plain dict keeps the
    interpreter's specialised global lookups."""
    result, (kind, share), loaded = sections_loaded_by("--root", str(tmp_path), "exec", "c1", "true")
    # a failed exec exits 255, as runc's
    assert result.returncode == 255 and "container c1 does not exist" in result.stderr, result.stderr
    assert kind == "dict" and share == 1.0 and len(loaded) == len(banners()) + 1


def test_where_the_cache_cannot_be_written_the_sections_are_not_built(tmp_path, monkeypatch):
    """A user running root's copy cannot write its __pycache__: then no call
    compiles the whole file a second time only to fail at the write."""
    copy = tmp_path / "minirun.py"
    copy.write_text(SOURCE)
    target = tmp_path / "__pycache__" / ("minirun.sections." + sys.implementation.cache_tag)
    (tmp_path / "__pycache__" / ("%s.%d" % (target.name, os.getpid()))).mkdir(parents=True)   # open() fails
    built = []
    monkeypatch.setattr(minirun, "build_sections", lambda path: built.append(path))
    minirun.write_sections_cache(str(copy))
    assert built == [] and not target.exists()


SMALL_SOURCE = '''"""A file cut into units."""
import os
import sys

# ===========================================================================
# 1. Units
# ===========================================================================


def f():
    """Assigns B before the unit that binds B is loaded, then reads C, which loads it."""
    global B
    B = "set by f"
    return C


"""A docstring between statements binds nothing: it goes with f's unit."""

B, C = "B from its unit", "C"
UNUSED = [n for n in range(10 ** 6)]        # never looked up: never runs


def run_as_program():
    c = f()
    before = "UNUSED" in globals()
    load_all = globals().pop("LOAD_ALL_SECTIONS", None)     # what Kernel.clone calls
    if load_all is not None:
        load_all()
    import gc
    frozen = gc.isenabled() and gc.get_freeze_count() > 0
    sys.stdout.write("%s|%s|%s|%s|%s\\n" % (c, B, before, "UNUSED" in globals(), frozen))
    sys.stdout.flush()
    os._exit(0)
'''

RUN_SMALL = """
import os, sys, marshal, tempfile
sys.path.insert(0, sys.argv[1])
import minirun
path = sys.argv[2]
data = minirun.sections_cache_bytes((0, 0), minirun.build_sections(path))
size = int.from_bytes(data[8:16], "little")
base = minirun.SECTIONS_CACHE_HEADER + size
_key, _length, boot_code, index = marshal.loads(data[minirun.SECTIONS_CACHE_HEADER:base])
cache = tempfile.TemporaryFile()
cache.write(data)
cache.flush()
sys.argv = ["minirun"] + sys.argv[3:]
type(lambda: 0)(marshal.loads(boot_code), {"__builtins__": __builtins__})(index, cache.fileno(), base, path,
                                                                           os.stat(path))
"""


def test_a_section_is_cut_into_units_each_binding_its_own_names(tmp_path):
    path = tmp_path / "small.py"
    path.write_text(SMALL_SOURCE)
    sections = minirun.build_sections(str(path))
    assert [title for title, _names, _code, _units in sections] == ["header", "1. Units"]
    assert [names for names, _code, _first, _last in sections[1][3]] == [("f",), ("B", "C"), ("UNUSED",), ("run_as_program",)]
    assert [names for names, _code, _first, _last in sections[0][3]] == [("os",), ("sys",)]


def test_a_lazily_loaded_unit_runs_once_and_keeps_a_global_assigned_before_it(tmp_path):
    """`state` and the other light commands load units on lookup: one never
    looked up never runs (until everything is loaded before a clone), and a
    name a function bound already is not overwritten when a lookup of its
    neighbour loads the unit."""
    path = tmp_path / "small.py"
    path.write_text(SMALL_SOURCE)
    python, fd = unwritable_python()
    try:
        # run, from an unwritable interpreter, loads whole sections into a
        # plain dict; from a writable one, it loads units as `state` does (its
        # run_as_program would start again from an unwritable copy first)
        for argv, where in ((["state"], python), (["run"], python), (["run"], sys.executable)):
            result = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_SMALL, os.path.dirname(SOURCE_PATH),
                                     str(path)] + argv, executable=where, pass_fds=(fd,),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, timeout=60)
            assert result.returncode == 0, result.stderr
            # run loads everything, then freezes it out of the GC's reach (still on)
            eager = argv == ["run"] and (where == python or os.statvfs(sys.executable).f_flag & os.ST_RDONLY)
            expected = "C|set by f|True|True|True" if eager else "C|set by f|False|True|False"
            assert result.stdout.strip() == expected, (argv, where, result.stdout, result.stderr)
    finally:
        os.close(fd)


# --- start-up: a damaged, stale or foreign cache is never run ----------------------------
# The launcher runs the cache only when it is whole (a regular file no one
# else can write, its length, the CRC-32 of its index and of each piece of
# bytecode as it is read) and current (keyed on the file's mtime, size, ctime,
# inode and device and on the bytecode format). Anything else, and any
# failure to load it before the command starts, falls back to importing the
# file, which rewrites the cache; a unit found damaged once the command runs
# is compiled from the file's own lines instead (the command never runs
# twice), and the damaged cache is removed for the next call to rewrite.

TAG = sys.implementation.cache_tag
HEADER = minirun.SECTIONS_CACHE_HEADER


@functools.lru_cache(maxsize=None)
def built_sections(version=None):
    """The sections of minirun.py (its VERSION replaced when given), built once."""
    if version is None:
        return minirun.build_sections(SOURCE_PATH)
    directory = tempfile.mkdtemp()
    try:
        marked = os.path.join(directory, "minirun.py")
        with open(marked, "w", encoding="utf-8") as f:
            f.write(SOURCE.replace('VERSION = "%s"' % minirun.VERSION, 'VERSION = "%s"' % version, 1))
        return minirun.build_sections(marked)
    finally:
        shutil.rmtree(directory)


def cache_path(copy):
    return os.path.join(os.path.dirname(str(copy)), "__pycache__", "minirun.sections." + TAG)


def copy_with_cache(directory, sections=None, key=None):
    """minirun.py copied into `directory` with a sections cache made for the copy
    (or the given sections, or key); returns (copy, the cache's bytes)."""
    copy = os.path.join(str(directory), "minirun.py")
    shutil.copy2(SOURCE_PATH, copy)
    data = minirun.sections_cache_bytes(key or minirun.sections_cache_key(os.stat(copy)),
                                        sections or built_sections())
    os.makedirs(os.path.dirname(cache_path(copy)), exist_ok=True)
    write_cache(copy, data)
    return copy, data


def write_cache(copy, data, mode=0o644):
    path = cache_path(copy)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def run_copy(copy, *argv, **options):
    return subprocess.run([str(copy)] + [str(a) for a in argv], env=cli_env(), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=60, **options)


def assert_answers(result, command, version=minirun.VERSION):
    """The command's own answer, once, and nothing else: no traceback, no second run."""
    if command == "--version":
        assert (result.returncode, result.stderr) == (0, ""), result.stderr
        assert result.stdout.splitlines() == ["minirun version " + version, "commit: none",
                                              "spec: " + minirun.SPEC_VERSION,
                                              "python: %d.%d.%d" % sys.version_info[:3]], result.stdout
    else:
        status = 255 if command == "exec" else 1  # exec fails as runc's does
        assert (result.returncode, result.stdout) == (status, ""), (result.stdout, result.stderr)
        assert result.stderr == "minirun: container x does not exist\n", result.stderr


def command_argv(command, root):
    return ["--version"] if command == "--version" else ["--root", root, command, "x"] + (
        ["true"] if command == "exec" else [])


def cache_layout(data):
    """(index length, (key, bytecode length, boot bytecode, (sections, units))); the
    index's third part, the safety check's bytecode, is the executable's concern."""
    import marshal

    size = int.from_bytes(data[8:16], "little")
    key, length, boot, (sections, units, _check) = marshal.loads(data[HEADER:HEADER + size])
    return size, (key, length, boot, (sections, marshal.loads(units)))


def assert_cache_whole_and_current(copy):
    path = cache_path(copy)
    status = os.lstat(path)
    assert stat.S_ISREG(status.st_mode) and status.st_mode & 0o022 == 0, oct(status.st_mode)
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == minirun.SECTIONS_CACHE_MAGIC
    size = int.from_bytes(data[8:16], "little")
    assert zlib.crc32(data[HEADER:HEADER + size]) == int.from_bytes(data[16:HEADER], "little")
    _size, (key, length, _boot, (sections, units)) = cache_layout(data)
    assert key == minirun.sections_cache_key(os.stat(str(copy))) and len(data) == HEADER + size + length
    for entry in list(sections) + list(units):
        at = HEADER + size + entry[2]
        assert zlib.crc32(data[at:at + entry[3]]) == entry[4], entry[:2]


def named_positions(data):
    """Offsets in the cache by what lies there; the blobs' name which command loads them."""
    size, (_key, length, boot, (sections, units)) = cache_layout(data)
    base = HEADER + size
    boot_at = data.index(boot, HEADER)
    planning = next(entry for entry in sections if entry[0] == "15. Planning")
    main = next(entry for entry in units if "main" in entry[1])
    version = next(entry for entry in units if "VERSION" in entry[1])
    return {
        "magic": 0, "magic-end": 7, "index-length": 8, "index-length-top": 15, "index-crc": 16,
        "index-crc-end": 19, "index": HEADER, "index-middle": HEADER + size // 2, "boot": boot_at,
        "boot-middle": boot_at + len(boot) // 2, "boot-end": boot_at + len(boot) - 1, "index-end": base - 1,
        "bytecode": base, "section-14": base + planning[2] + planning[3] // 2,
        "units": base + units[0][2], "unit-main": base + main[2], "unit-main-middle": base + main[2] + main[3] // 2,
        "unit-main-end": base + main[2] + main[3] - 1, "unit-VERSION": base + version[2] + version[3] // 2,
        "end": base + length - 1,
    }


# Each falls back to a rebuild (~0.4 s): one place of each kind, each field's edges.
CUTS = ["magic", "index-length", "index-crc-end", "index", "boot-middle", "index-end", "bytecode", "section-14",
        "units", "unit-main-middle", "end"]
# (where, a command that loads what lies there)
FLIPS = [(where, ("--version", "state", "exec")[i % 3]) for i, where in enumerate(
    ["magic-end", "index-length-top", "index-crc", "index-middle", "boot", "boot-end", "index-end"])] + [
    ("bytecode", "exec"), ("section-14", "exec"), ("unit-main", "state"), ("unit-main-middle", "--version"),
    ("unit-main-end", "state"), ("unit-VERSION", "--version")]


@pytest.mark.parametrize("where", CUTS)
def test_a_cache_cut_short_anywhere_falls_back_to_the_import_and_is_rewritten(tmp_path, where):
    copy, data = copy_with_cache(tmp_path)
    command = ("--version", "state", "exec")[CUTS.index(where) % 3]
    cut = named_positions(data)[where]
    write_cache(copy, data[:cut])
    assert_answers(run_copy(copy, *command_argv(command, str(tmp_path / "root"))), command)
    assert_cache_whole_and_current(copy)


@pytest.mark.parametrize("where,command", FLIPS)
def test_a_flipped_byte_anywhere_is_never_run(tmp_path, where, command):
    """In the header, the index or the boot code, or a section the command
    loads whole: the import answers and rewrites the cache. In a unit a light
    command loads once it runs: that unit comes from the file's own lines
    (the command runs once), and the next call rewrites the cache."""
    copy, data = copy_with_cache(tmp_path)
    at = named_positions(data)[where]
    write_cache(copy, data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    assert_answers(run_copy(copy, *command_argv(command, str(tmp_path / "root"))), command)
    if where.startswith("unit-"):
        assert not os.path.lexists(cache_path(copy)), "the damaged cache was kept"
        assert_answers(run_copy(copy, "--version"), "--version")
    assert_cache_whole_and_current(copy)


@pytest.mark.parametrize("command", ["--version", "state"])
def test_a_cache_from_another_python_or_an_older_minirun_is_not_run(tmp_path, command):
    marked = built_sections("9.9.9")
    copy, _data = copy_with_cache(tmp_path, sections=marked)
    assert_answers(run_copy(copy, "--version"), "--version", version="9.9.9")     # the cache answers
    key = minirun.sections_cache_key(os.stat(copy))
    write_cache(copy, minirun.sections_cache_bytes((b"\x00\x00\r\n",) + key[1:], marked))
    assert_answers(run_copy(copy, *command_argv(command, str(tmp_path / "root"))), command)
    assert_cache_whole_and_current(copy)
    write_cache(copy, b"minirun2" + minirun.sections_cache_bytes(key, marked)[8:])
    assert_answers(run_copy(copy, *command_argv(command, str(tmp_path / "root"))), command)
    assert_cache_whole_and_current(copy)


def test_a_cache_others_can_write_is_not_run_and_is_replaced_by_one_they_cannot(tmp_path):
    copy, data = copy_with_cache(tmp_path, sections=built_sections("9.9.9"))
    for mode in (0o666, 0o664):
        write_cache(copy, data, mode)
        assert_answers(run_copy(copy, "--version"), "--version")
        assert_cache_whole_and_current(copy)


def test_a_written_cache_is_not_writable_by_others_whatever_the_umask(tmp_path):
    copy = tmp_path / "minirun.py"
    shutil.copy2(SOURCE_PATH, str(copy))
    old = os.umask(0)
    try:
        minirun.write_sections_cache(str(copy))
    finally:
        os.umask(old)
    assert_cache_whole_and_current(copy)
    assert os.listdir(str(tmp_path / "__pycache__")) == [os.path.basename(cache_path(copy))]


@pytest.mark.parametrize("kind", ["fifo", "empty directory", "directory"])
def test_a_fifo_or_a_directory_in_the_caches_place(tmp_path, kind):
    """No hang on a fifo (no writer ever comes); the import answers, and the
    cache takes the place of the fifo or of an empty directory (a directory
    with something in it is not the launcher's to delete)."""
    copy, _data = copy_with_cache(tmp_path)
    path = cache_path(copy)
    os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.mkdir(path)
        if kind == "directory":
            open(os.path.join(path, "kept"), "w").close()
    assert_answers(run_copy(copy, "--root", str(tmp_path / "root"), "state", "x"), "state")
    if kind == "directory":
        assert os.path.exists(os.path.join(path, "kept"))
        assert_answers(run_copy(copy, "--version"), "--version")
    else:
        assert_cache_whole_and_current(copy)


def test_an_unreadable_cache_falls_back_to_the_import():
    """A user who cannot read the cache (nor write __pycache__: root's copy,
    run by nobody) still gets the answer."""
    directory = tempfile.mkdtemp()
    try:
        os.chmod(directory, 0o755)
        copy, _data = copy_with_cache(directory, sections=built_sections("9.9.9"))
        os.chmod(cache_path(copy), 0o000)
        if os.geteuid() == 0:
            def as_nobody():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            result = run_copy(copy, "--version", preexec_fn=as_nobody)
        else:
            result = run_copy(copy, "--version")
        assert_answers(result, "--version")
    finally:
        shutil.rmtree(directory)


def test_a_different_file_of_the_same_size_and_mtime_runs_its_own_code(tmp_path):
    """What `cp -p`, `rsync -t` or utime leave behind: the same mtime and
    size, other code. Neither the sections cache nor the .pyc beside it may
    answer for it."""
    copy = tmp_path / "minirun.py"
    shutil.copy2(SOURCE_PATH, str(copy))
    assert_answers(run_copy(copy, "--version"), "--version")
    assert_cache_whole_and_current(copy)
    before = os.stat(str(copy))
    other = "9" * len(minirun.VERSION)
    copy.write_text(SOURCE.replace('VERSION = "%s"' % minirun.VERSION, 'VERSION = "%s"' % other, 1))
    os.utime(str(copy), ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(str(copy))
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert_answers(run_copy(copy, "--version"), "--version", version=other)
    assert_cache_whole_and_current(copy)
    assert_answers(run_copy(copy, "--version"), "--version", version=other)     # from the new cache


def test_no_cache_is_saved_for_a_file_that_changed_while_it_compiled(tmp_path, monkeypatch):
    copy = tmp_path / "minirun.py"
    shutil.copy2(SOURCE_PATH, str(copy))
    build = minirun.build_sections

    def changing_under_it(path):
        sections = build(path)
        status = os.stat(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(SOURCE.replace('VERSION = "%s"' % minirun.VERSION, 'VERSION = "%s"' % ("9" * len(minirun.VERSION)), 1))
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
        return sections

    monkeypatch.setattr(minirun, "build_sections", changing_under_it)
    minirun.write_sections_cache(str(copy))
    assert os.listdir(str(tmp_path / "__pycache__")) == []
