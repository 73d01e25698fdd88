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
"""

import ast
import json
import os
import re
import subprocess
import sys

import minirun

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
        assert sorted(n for unit_names, _unit_code in units for n in unit_names) == sorted(names)
        for name in names:
            owners.setdefault(name, []).append(title)
    assert {name: titles for name, titles in owners.items() if len(titles) > 1} == {}
    assert owners["main"] == ["18. The command line"] and owners["Error"] == ["1. Errors, logging and utilities"]


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
_key, boot_code, index = marshal.loads(data[16:16 + size])
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
boot(index, cache.fileno(), 16 + size, path)
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
    for heavy in ("4. The spec model and its validation", "8. Paths in the root and the root filesystem",
                  "12. Security: capabilities, seccomp, LSMs", "14. Planning",
                  "15. Process setup (shared by the init and exec)",
                  "16. The protocol and the container's processes", "19. Appendix: syscall tables"):
        assert heavy not in loaded
    assert "18. The command line" in loaded and "6. The state store" in loaded


def test_spec_writes_its_config_from_the_sections_it_uses(tmp_path):
    result, (kind, _share), loaded = sections_loaded_by("spec", "--bundle", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "config.json").read_text())["ociVersion"]
    assert kind == "SectionGlobals" and "12. Security: capabilities, seccomp, LSMs" not in loaded


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
_key, boot_code, index = marshal.loads(data[16:16 + size])
cache = tempfile.TemporaryFile()
cache.write(data)
cache.flush()
sys.argv = ["minirun"] + sys.argv[3:]
type(lambda: 0)(marshal.loads(boot_code), {"__builtins__": __builtins__})(index, cache.fileno(), 16 + size, path)
"""


def test_a_section_is_cut_into_units_each_binding_its_own_names(tmp_path):
    path = tmp_path / "small.py"
    path.write_text(SMALL_SOURCE)
    sections = minirun.build_sections(str(path))
    assert [title for title, _names, _code, _units in sections] == ["header", "1. Units"]
    assert [names for names, _code in sections[1][3]] == [("f",), ("B", "C"), ("UNUSED",), ("run_as_program",)]
    assert [names for names, _code in sections[0][3]] == [("os",), ("sys",)]


def test_a_lazily_loaded_unit_runs_once_and_keeps_a_global_assigned_before_it(tmp_path):
    """`state` and the other light commands load units on lookup: one never
    looked up never runs (until everything is loaded before a clone), and a
    name a function bound already is not overwritten when a lookup of its
    neighbour loads the unit."""
    path = tmp_path / "small.py"
    path.write_text(SMALL_SOURCE)
    for argv in (["state"], ["run"]):       # run loads whole sections into a plain dict
        result = subprocess.run([sys.executable, "-I", "-S", "-c", RUN_SMALL, os.path.dirname(SOURCE_PATH),
                                 str(path)] + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=60)
        assert result.returncode == 0, result.stderr
        # run loads everything, then freezes it out of the GC's reach (still on)
        expected = "C|set by f|False|True|False" if argv == ["state"] else "C|set by f|True|True|True"
        assert result.stdout.strip() == expected, (argv, result.stdout, result.stderr)
