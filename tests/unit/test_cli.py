"""Section 11: the command line, run as the real file in a subprocess with --root in tmp_path.

Everything here stays clear of the kernel's privileged paths: containers that
"exist" are state directories written through Store, with a real child
process (sleep) standing in for the container's init where one must be alive.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

import minirun

from .helpers import FIXTURES, MINIRUN, REPO, base_config, cli_argv, cli_env, run_cli


@pytest.fixture
def root(tmp_path):
    """The --root of this test (not created: the runtime must cope)."""
    return str(tmp_path / "state")


def assert_clean_failure(result, *fragments, status=1):
    """Exit 1 (or `status`), exactly one line on stderr containing every fragment, no traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("minirun: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def exited_pid():
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def store_container(root, cid, pid=None, pid_start=1, fifo=False, **values):
    """A container as the state store records it (a valid state
    file), without creating anything in the kernel. By default its init has
    exited: the pid is a reaped process's, and no live process started at
    clock tick 1 (the start time recorded)."""
    if pid is None:
        pid = exited_pid()
    store = minirun.Store(root)
    os.close(store.reserve(cid))
    fields = dict(id=cid, pid=pid, pid_start=pid_start, bundle="/bundles/" + cid, rootfs="/bundles/rootfs",
                  created="2024-05-01T10:00:00.5Z", annotations={}, own_pid_namespace=False,
                  namespaces={"mnt": [4, 4026532327], "pid": [4, 4026531836]}, boot_id=minirun.boot_id(), hooks={})
    fields.update(values)
    store.save(minirun.ContainerState(**fields))
    if fifo:
        os.mkfifo(store.path(cid, minirun.FIFO_FILE), 0o600)
    return store.path(cid)




# --- version and help ---------------------------------------------------------


@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version_prints_runc_style_name_version_and_spec_lines(flag):
    result = run_cli(flag)
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert re.match(r"^minirun version \d+\.\d+\.\d+$", lines[0])  # dockerd parses `NAME version X`
    assert lines[0] == "minirun version " + minirun.VERSION
    assert "spec: " + minirun.SPEC_VERSION in lines


def test_as_a_program_the_sh_header_runs_the_python_it_is_given():
    result = run_cli("--version")
    assert "python: %d.%d.%d" % sys.version_info[:3] in result.stdout.splitlines()


def test_as_a_program_it_writes_and_then_runs_from_cached_bytecode(tmp_path):
    """A fresh copy the test never imports: its first call as a program
    imports itself, which writes __pycache__/minirun.TAG.pyc (even with
    PYTHONDONTWRITEBYTECODE in the caller's environment: the header starts
    Python isolated, -I), and writes the sections cache. Later calls run from
    the sections cache instead of compiling the source or importing: a cache
    swapped for one whose VERSION differs is what answers --version, until the
    source changes (see test_layout's start-up tests for what keys the cache)."""
    copy = tmp_path / "minirun.py"
    shutil.copy2(MINIRUN, str(copy))
    pyc = tmp_path / "__pycache__" / ("minirun.%s.pyc" % sys.implementation.cache_tag)
    sections = tmp_path / "__pycache__" / ("minirun.sections.%s" % sys.implementation.cache_tag)
    env = cli_env(dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))

    def version():
        result = subprocess.run([str(copy), "--version"], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=20)
        assert result.returncode == 0 and result.stderr == "", result.stderr
        return result.stdout.splitlines()[0]

    assert not pyc.exists() and not sections.exists()
    assert version() == "minirun version " + minirun.VERSION
    assert pyc.exists(), "the launcher wrote no bytecode cache"
    assert sections.exists(), "the launcher wrote no sections cache"
    written = os.stat(str(sections))
    assert version() == "minirun version " + minirun.VERSION
    again = os.stat(str(sections))
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns), "rewritten"

    source = copy.read_text()
    marked = tmp_path / "marked" / "minirun.py"
    marked.parent.mkdir()
    marked.write_text(source.replace('VERSION = "%s"' % minirun.VERSION, 'VERSION = "from-the-cache"', 1))
    st = os.stat(str(copy))
    sections.write_bytes(minirun.sections_cache_bytes(minirun.sections_cache_key(st),
                                                      minirun.build_sections(str(marked))))
    assert version() == "minirun version from-the-cache"
    copy.write_text(source.replace('VERSION = "%s"' % minirun.VERSION, 'VERSION = "edited"', 1))
    assert version() == "minirun version edited"


def test_python3_minirun_py_still_works_as_a_script():
    result = subprocess.run([sys.executable, MINIRUN, "--version"], stdout=subprocess.PIPE,
                            universal_newlines=True, timeout=20)
    assert result.returncode == 0
    assert result.stdout.startswith("minirun version " + minirun.VERSION)


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_global_help_prints_usage_and_exits_zero(args):
    result = run_cli(*args)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: minirun")
    for command in minirun.COMMANDS:
        assert "  %s " % command in result.stdout


def test_no_command_prints_usage_and_fails():
    result = run_cli()
    assert result.returncode == 1
    assert result.stdout.startswith("usage: minirun")


@pytest.mark.parametrize("command,flag", [(c, "--help") for c in sorted(minirun.COMMANDS)] + [("kill", "-h")])
def test_every_command_has_help_that_exits_zero(command, flag, root):
    result = run_cli("--root", root, command, flag)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: minirun %s" % command)
    assert not os.path.exists(root)


def test_command_help_lists_its_flags():
    out = run_cli("create", "--help").stdout
    for flag in ("--bundle, -b VALUE", "--pid-file VALUE", "--console-socket VALUE", "--no-pivot"):
        assert flag in out


# --- malformed command lines --------------------------------------------------


@pytest.mark.parametrize("args,fragment", [
    (["--bogus", "list"], "unknown flag --bogus"),
    (["list", "--bogus"], "unknown flag --bogus"),
    (["delete", "-x=1", "c1"], "unknown flag -x"),
    (["frobnicate"], "unknown command"),
    (["--log-format", "xml", "list"], "--log-format"),
    (["list", "--format", "yaml"], "--format"),
    (["create", "--preserve-fds", "many", "c1"], "--preserve-fds"),
    (["create", "--preserve-fds", "\u00b2", "c1"], "--preserve-fds"),  # isdigit() but not int()
    (["create", "--preserve-fds", "99999999999999999999", "c1"], "open files limit"),
    (["--root"], "needs a value"),
])
def test_a_bad_command_line_fails_with_one_line_and_no_traceback(args, fragment, root):
    result = run_cli("--root", root, *args) if args != ["--root"] else run_cli(*args)
    assert_clean_failure(result, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize("args", [
    ["state"], ["state", "a", "b"], ["kill", "a", "KILL", "extra"], ["list", "extra"],
])
def test_a_wrong_argument_count_fails_with_the_usage(args, root):
    line = assert_clean_failure(run_cli("--root", root, *args), "expects", "usage: minirun " + args[0])
    assert "got %d" % (len(args) - 1) in line


@pytest.mark.parametrize("command", ["checkpoint", "restore"])
def test_checkpoint_and_restore_answer_help_with_success(command):
    """podman asks `RUNTIME checkpoint --help` whether a runtime can
    checkpoint at all (crutils.CRRuntimeSupportsCheckpointRestore)."""
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "--image-path" in result.stdout, result


def test_checkpoint_of_an_unknown_container_fails_cleanly(root, tmp_path):
    assert_clean_failure(run_cli("--root", root, "checkpoint", "--image-path", str(tmp_path), "c1"),
                         "container c1 does not exist")


def test_restore_without_a_bundle_names_its_config(root, tmp_path):
    assert_clean_failure(run_cli("--root", root, "restore", "--bundle", str(tmp_path), "c1"),
                         "config.json", str(tmp_path))


# A failed exec exits 255, as runc's (exec.go: fatalWithCode(..., 255)): a caller
# tells it from the process's own status. A bad command line is still 1.
EXEC_FAILED = 255


def test_exec_is_implemented_and_names_a_missing_container_or_command(root):
    assert_clean_failure(run_cli("--root", root, "exec", "c1", "true"), "container c1 does not exist",
                         status=EXEC_FAILED)
    assert_clean_failure(run_cli("--root", root, "exec", "c1"), "exec: a command to run is required",
                         status=EXEC_FAILED)


def test_exec_in_a_stopped_container_is_refused(root):
    store_container(root, "c1")
    assert_clean_failure(run_cli("--root", root, "exec", "c1", "true"), "cannot exec in a stopped container",
                         status=EXEC_FAILED)


@pytest.mark.parametrize("args, fragment", [
    (["exec", "--no-such-flag", "c1", "true"], "unknown flag --no-such-flag"),
    (["exec", "--preserve-fds", "many", "c1", "true"], "--preserve-fds"),
    (["exec"], "expects at least 1 argument"),
])
def test_a_bad_exec_command_line_exits_1_as_runcs_flag_parsing_does(root, args, fragment):
    assert_clean_failure(run_cli("--root", root, *args), fragment)


def test_an_invalid_container_id_fails_the_exec_with_255(root):
    assert_clean_failure(run_cli("--root", root, "exec", "../c1", "true"), "invalid container id",
                         status=EXEC_FAILED)


# --- --flag=value and --flag value --------------------------------------------


@pytest.mark.parametrize("style", ["equals", "space", "single-dash"])
def test_global_flag_values_work_in_both_spellings(style, root):
    store_container(root, "c1")
    flag = {"equals": ["--root=" + root], "space": ["--root", root], "single-dash": ["-root", root]}[style]
    result = run_cli(*(flag + ["list", "-q"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "c1\n"


@pytest.mark.parametrize("flag", [["--format=json"], ["-f", "json"]])
def test_command_flag_values_work_in_every_spelling(flag, root):
    result = run_cli("--root", root, "list", *flag)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


# --- state, delete, kill, start on containers that are not there ---------------


def test_state_of_a_missing_container_says_does_not_exist(root):
    assert_clean_failure(run_cli("--root", root, "state", "nope"), "container nope does not exist")


def test_delete_of_a_missing_container_says_does_not_exist(root):
    assert_clean_failure(run_cli("--root", root, "delete", "nope"), "does not exist")


@pytest.mark.parametrize("flag", ["-f", "--force=true"])
def test_forced_delete_of_a_missing_container_succeeds_silently(flag, root):
    result = run_cli("--root", root, "delete", flag, "nope")
    assert result.returncode == 0 and result.stderr == "" and result.stdout == ""


def test_delete_force_false_is_not_forced(root):
    assert_clean_failure(run_cli("--root", root, "delete", "--force=false", "nope"), "does not exist")


@pytest.mark.parametrize("command", [["start", "nope"], ["kill", "nope", "KILL"]])
def test_start_and_kill_of_a_missing_container_say_does_not_exist(command, root):
    assert_clean_failure(run_cli("--root", root, *command), "does not exist")


def test_kill_with_an_unknown_signal_names_it(root):
    store_container(root, "c1")
    assert_clean_failure(run_cli("--root", root, "kill", "c1", "SIGFOO"), 'unknown signal "SIGFOO"')


# --- list --------------------------------------------------------------------

HEADER = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]


@pytest.mark.parametrize("exists", [False, True])
def test_list_of_an_empty_root_prints_only_the_header(exists, root):
    if exists:
        os.makedirs(root)
    result = run_cli("--root", root, "list")
    assert result.returncode == 0 and result.stderr == ""
    (line,) = result.stdout.splitlines()
    assert line.split() == HEADER


def test_quiet_list_of_an_empty_root_prints_nothing(root):
    result = run_cli("--root", root, "list", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_json_list_of_an_empty_root_is_an_empty_array(root):
    result = run_cli("--root", root, "list", "--format", "json")
    assert result.returncode == 0
    assert result.stdout.strip() == "[]"


def test_list_shows_each_container_with_its_derived_status(root, sleeper):
    store_container(root, "alive", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid))
    store_container(root, "waiting", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid), fifo=True)
    store_container(root, "gone", pid=sleeper.pid, pid_start=1)
    result = run_cli("--root", root, "list")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == HEADER
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["alive"][1:4] == [str(sleeper.pid), "running", "/bundles/alive"]
    assert by_id["waiting"][1:3] == [str(sleeper.pid), "created"]
    assert by_id["gone"][1:3] == ["0", "stopped"]
    assert run_cli("--root", root, "list", "-q").stdout == "alive\ngone\nwaiting\n"


def test_json_list_rows_are_oci_states_with_the_owner_filled_in(root):
    store_container(root, "c1", annotations={"k": "v"})
    result = run_cli("--root", root, "list", "--format=json")
    (row,) = json.loads(result.stdout)
    assert row["id"] == "c1" and row["status"] == "stopped" and row["pid"] == 0
    assert row["annotations"] == {"k": "v"}
    assert row["owner"] != ""
    assert {"ociVersion", "bundle", "rootfs", "created"} <= set(row)


# --- state, delete, kill, start of stored containers ---------------------------


def test_state_prints_runc_format_json_indented(root):
    store_container(root, "c1")
    result = run_cli("--root", root, "state", "c1")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert result.stdout == json.dumps(state, indent=2) + "\n"
    assert state == {"ociVersion": minirun.SPEC_VERSION, "id": "c1", "pid": 0, "status": "stopped",
                     "bundle": "/bundles/c1", "rootfs": "/bundles/rootfs", "created": "2024-05-01T10:00:00.5Z",
                     "owner": ""}


def test_state_of_a_container_being_created_is_creating(root):
    os.close(minirun.Store(root).reserve("c1"))
    state = json.loads(run_cli("--root", root, "state", "c1").stdout)
    assert state["status"] == "creating" and state["pid"] == 0


def test_delete_of_a_stopped_container_removes_its_state(root):
    directory = store_container(root, "c1")
    result = run_cli("--root", root, "delete", "c1")
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(directory)


def test_delete_runs_the_recorded_poststop_hooks_with_the_stopped_state(tmp_path, root):
    out = tmp_path / "poststop.json"
    hook = tmp_path / "hook"
    hook.write_text('#!/bin/sh\nexec /bin/cat > "%s"\n' % out)
    hook.chmod(0o755)
    hooks = {"poststop": [{"path": str(hook), "args": ["hook"], "env": [], "timeout": 5,
                           "field": "hooks.poststop[0]"}]}
    store_container(root, "c1", hooks=hooks, annotations={"k": "v"})
    result = run_cli("--root", root, "delete", "c1")
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == {"ociVersion": minirun.SPEC_VERSION, "id": "c1", "pid": 0,
                                           "status": "stopped", "bundle": "/bundles/c1",
                                           "annotations": {"k": "v"}}


def test_a_failing_poststop_hook_is_a_warning_and_the_delete_still_succeeds(tmp_path, root):
    hook = tmp_path / "hook"
    hook.write_text("#!/bin/sh\necho cleanup failed >&2\nexit 2\n")
    hook.chmod(0o755)
    hooks = {"poststop": [{"path": str(hook), "args": ["hook"], "env": [], "timeout": None,
                           "field": "hooks.poststop[0]"}]}
    directory = store_container(root, "c1", hooks=hooks)
    result = run_cli("--root", root, "delete", "c1")
    assert result.returncode == 0
    assert result.stderr == ("minirun: warning: error running poststop hook #0: exit status 2, "
                             "stdout: , stderr: cleanup failed\\n\n")  # one line: the newline escaped
    assert not os.path.exists(directory)


def test_kill_and_start_of_a_stopped_container_are_refused(root):
    store_container(root, "c1")
    assert_clean_failure(run_cli("--root", root, "kill", "c1"), "not running")
    assert_clean_failure(run_cli("--root", root, "start", "c1"), "stopped")


def test_delete_of_a_running_container_needs_force(root, sleeper):
    directory = store_container(root, "c1", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid))
    assert_clean_failure(run_cli("--root", root, "delete", "c1"), "not stopped", "running")
    assert os.path.isdir(directory) and sleeper.poll() is None


# A state file naming a live process of ours (with its true start time) that
# shares the runtime's mount namespace: no container init does, so the pid is
# not proven to be the container's. kill refuses; delete --force removes the
# state and signals nothing. (Signals reaching a real init: test_kill.py in
# the integration suite.)

def test_kill_refuses_a_pid_it_cannot_prove_is_the_containers(root, sleeper):
    store_container(root, "c1", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid))
    assert_clean_failure(run_cli("--root", root, "kill", "c1", "KILL"), "not the container's init")
    assert sleeper.poll() is None


def test_delete_force_of_an_unproven_pid_removes_the_state_and_signals_nothing(root, sleeper):
    directory = store_container(root, "c1", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid))
    result = run_cli("--root", root, "delete", "--force", "c1")
    assert result.returncode == 0, result.stderr
    assert "without signalling" in result.stderr
    assert not os.path.exists(directory)
    assert sleeper.poll() is None


def test_start_of_a_created_container_writes_the_fifo_and_makes_it_running(root, sleeper):
    directory = store_container(root, "c1", pid=sleeper.pid, pid_start=minirun.process_start_time(sleeper.pid),
                                fifo=True)
    fifo = os.path.join(directory, minirun.FIFO_FILE)
    reader = os.open(fifo, os.O_RDWR)  # stands in for the init waiting on it
    try:
        start = subprocess.Popen(cli_argv("--root", root, "start", "c1"), env=cli_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)
        assert os.read(reader, 16) == b"0"
        # `start` returns only once the init has exec'd, which closes its
        # close-on-exec fifo fd: while we hold ours, start cannot be done.
        assert start.poll() is None
    finally:
        os.close(reader)
    _out, err = start.communicate(timeout=20)
    assert start.returncode == 0, err
    assert not os.path.exists(fifo)
    assert json.loads(run_cli("--root", root, "state", "c1").stdout)["status"] == "running"
    assert_clean_failure(run_cli("--root", root, "start", "c1"), "already running")


# --- create and run refuse before anything is made -----------------------------


@pytest.mark.parametrize("command,cid", [(c, "../evil") for c in ("create", "run", "state", "delete", "kill", "start")]
                         + [("create", "bad id")])
def test_an_invalid_id_is_refused_before_anything_is_created(command, cid, tmp_path, root):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(base_config()))
    args = ["--root", root, command] + (["--bundle", str(bundle)] if command in ("create", "run") else []) + [cid]
    assert_clean_failure(run_cli(*args), "invalid container id")
    assert not os.path.exists(root)
    assert sorted(os.listdir(str(tmp_path))) == ["bundle"]


def test_create_without_a_config_json_names_it_and_leaves_no_state(tmp_path, root):
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path / "nowhere"), "c1"),
                         "config.json")
    assert not os.path.exists(os.path.join(root, "c1"))


def seccomp_config(**changes):
    """base_config with a small valid seccomp profile, `changes` applied to it."""
    raw = base_config()
    raw["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
            {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ],
    }
    raw["linux"]["seccomp"].update(changes)
    return raw


def broken_rule(index, **fields):
    raw = seccomp_config()
    raw["linux"]["seccomp"]["syscalls"][index].update(fields)
    return raw


def broken_condition(**fields):
    raw = seccomp_config()
    raw["linux"]["seccomp"]["syscalls"][1]["args"][0].update(fields)
    return raw


@pytest.mark.parametrize("raw,field,detail", [
    (broken_rule(2, action="SCMP_ACT_FROB"), "linux.seccomp.syscalls[2].action", "SCMP_ACT_FROB"),
    (broken_condition(op="SCMP_CMP_SIMILAR"), "linux.seccomp.syscalls[1].args[0].op", "SCMP_CMP_SIMILAR"),
    (broken_condition(index=6), "linux.seccomp.syscalls[1].args[0].index", "out of range"),
    (broken_rule(0, action="SCMP_ACT_NOTIFY"), "linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY"),
    (seccomp_config(defaultAction="SCMP_ACT_NOTIFY", listenerPath="/run/agent.sock"),
     "linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY"),
    (broken_rule(0, errnoRet=1), "linux.seccomp.syscalls[0].errnoRet", "SCMP_ACT_ERRNO"),
], ids=["unknown-action", "unknown-op", "bad-arg-index", "notify-without-listener", "notify-as-default",
        "errnoRet-on-allow"])
def test_create_of_a_malformed_seccomp_profile_is_refused_naming_the_field_before_anything_is_created(
        tmp_path, root, raw, field, detail):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(raw))
    line = assert_clean_failure(run_cli("--root", root, "create", "-b", str(tmp_path), "c1"), field, detail)
    assert line.startswith("minirun: config.json: %s: " % field)
    assert not os.path.exists(os.path.join(root, "c1"))


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "aarch64"),
                    reason="seccomp is compiled for x86_64 and aarch64 only")
def test_create_of_a_profile_over_the_kernel_limit_is_refused_naming_linux_seccomp(tmp_path, root):
    rules = [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + i % 100,
              "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}]} for i in range(3000)]
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(seccomp_config(syscalls=rules)))
    assert_clean_failure(run_cli("--root", root, "create", "-b", str(tmp_path), "c1"), "linux.seccomp", "4096")
    assert not os.path.exists(os.path.join(root, "c1"))


@pytest.mark.parametrize("where,key,field,lsm,lsm_name", [
    ("process", "apparmorProfile", "process.apparmorProfile", "apparmor", "AppArmor"),
    ("process", "selinuxLabel", "process.selinuxLabel", "selinux", "SELinux"),
    ("linux", "mountLabel", "linux.mountLabel", "selinux", "SELinux"),
])
def test_create_with_an_lsm_label_is_refused_on_a_host_without_that_lsm(tmp_path, root, where, key, field, lsm,
                                                                       lsm_name):
    if getattr(minirun.Host(), lsm):
        pytest.skip("needs a host without %s" % lsm_name)
    raw = seccomp_config()
    raw[where][key] = "container-label"
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert_clean_failure(run_cli("--root", root, "create", "-b", str(tmp_path), "c1"),
                         field, "%s is not enabled" % lsm_name, "container-label")
    assert not os.path.exists(os.path.join(root, "c1"))


def test_create_of_a_docker_config_gets_past_its_seccomp_profile_to_the_apparmor_check(tmp_path, root):
    """Docker's config as dockerd writes it on an AppArmor host (plus the
    profile name), with its rootfs and bind sources made real: the seccomp
    profile is accepted, and only the missing LSM stops create."""
    if minirun.Host().apparmor:
        pytest.skip("needs a host without AppArmor")
    with open(os.path.join(FIXTURES, "docker-run-echo-hi.config.json")) as handle:
        raw = json.load(handle)
    assert raw["linux"]["seccomp"]["syscalls"]
    raw["process"]["apparmorProfile"] = "docker-default"
    raw["root"]["path"] = str(tmp_path / "rootfs")
    (tmp_path / "rootfs").mkdir()
    for i, mount in enumerate(raw["mounts"]):
        if mount["type"] == "bind":
            mount["source"] = str(tmp_path / ("bind-source-%d" % i))
            open(mount["source"], "w").close()
    (tmp_path / "config.json").write_text(json.dumps(raw))
    log = tmp_path / "minirun.log"
    result = run_cli("--root", root, "--log", log, "--log-format", "json", "create", "--bundle", str(tmp_path), "c1")
    line = assert_clean_failure(result, "process.apparmorProfile", "AppArmor is not enabled", "docker-default")
    assert "seccomp" not in line
    assert not os.path.exists(os.path.join(root, "c1"))
    levels = [json.loads(entry)["level"] for entry in log.read_text().splitlines()]
    assert levels == ["error"]  # the refusal alone: no warning that cgroups are not applied


def test_create_with_a_terminal_but_no_console_socket_is_refused(tmp_path, root):
    raw = base_config(process={"args": ["sh"], "terminal": True})
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1"),
                         "process.terminal", "--console-socket")


def test_create_with_a_missing_root_filesystem_names_root_path(tmp_path, root):
    (tmp_path / "config.json").write_text(json.dumps(base_config()))
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1"),
                         "root.path", str(tmp_path / "rootfs"))
    assert not os.path.exists(os.path.join(root, "c1"))


def test_create_with_an_invalid_config_names_the_field(tmp_path, root):
    (tmp_path / "config.json").write_text(json.dumps(base_config(process={"args": ["sh"], "cwd": "rel"})))
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1"), "process.cwd")


# --- spec ----------------------------------------------------------------------


def test_spec_writes_a_config_json_that_parse_config_accepts(tmp_path):
    result = run_cli("spec", "--bundle", str(tmp_path))
    assert result.returncode == 0, result.stderr
    raw = json.loads((tmp_path / "config.json").read_text())
    cfg = minirun.parse_config(raw, str(tmp_path))
    assert cfg.root_path == str(tmp_path / "rootfs")
    assert cfg.new_namespace("mount") and cfg.new_namespace("pid") and cfg.new_namespace("network")
    assert cfg.process.terminal is True and cfg.hostname == "minirun"


def test_spec_output_is_indented_runc_style(tmp_path):
    run_cli("spec", "--bundle", str(tmp_path))
    text = (tmp_path / "config.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2) + "\n"


def test_spec_writes_into_the_current_directory_by_default(tmp_path):
    assert run_cli("spec", cwd=str(tmp_path)).returncode == 0
    assert (tmp_path / "config.json").is_file()


def test_spec_refuses_to_overwrite_an_existing_config_json(tmp_path):
    (tmp_path / "config.json").write_text("precious")
    assert_clean_failure(run_cli("spec", "-b", str(tmp_path)), "exists")
    assert (tmp_path / "config.json").read_text() == "precious"


def test_rootless_spec_has_a_user_namespace_mapping_the_current_ids(tmp_path):
    result = run_cli("spec", "--rootless", "--bundle", str(tmp_path))
    assert result.returncode == 0, result.stderr
    raw = json.loads((tmp_path / "config.json").read_text())
    assert {"type": "user"} in raw["linux"]["namespaces"]
    assert raw["linux"]["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert raw["linux"]["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    cfg = minirun.parse_config(raw, str(tmp_path))
    assert cfg.new_namespace("user") and not cfg.new_namespace("network")
    assert cfg.uid_mappings == [(0, os.geteuid(), 1)]
    assert not any(m.type == "sysfs" for m in cfg.mounts)
    sys_mount = next(m for m in cfg.mounts if m.destination == "/sys")
    assert sys_mount.is_bind and sys_mount.source == "/sys"


# What runc 1.1.5 (Debian 12: 1.1.5+ds1-1+deb12u1) writes, run as root: see
# tests/fixtures/runc-spec/README.md.
RUNC_SPEC_VERSION = "1.1.5"
RUNC_SPEC = os.path.join(REPO, "tests", "fixtures", "runc-spec")


def runc_spec(name):
    with open(os.path.join(RUNC_SPEC, name)) as handle:
        return json.load(handle)


@pytest.mark.parametrize("rootless,fixture", [(False, "config.json"), (True, "rootless-config.json")],
                         ids=["default", "rootless"])
def test_spec_writes_what_runc_1_1_spec_writes_but_the_hostname(tmp_path, rootless, fixture):
    """The same namespaces, mounts, capabilities (ambient included), masked and
    read-only paths, rlimits and resources as runc 1.1's `spec`, in its order."""
    result = run_cli("spec", *(["--rootless"] if rootless else []), "--bundle", str(tmp_path))
    assert result.returncode == 0, result.stderr
    ours = json.loads((tmp_path / "config.json").read_text())
    theirs = runc_spec(fixture)
    assert theirs["hostname"] == "runc" and ours["hostname"] == "minirun"
    ours["hostname"] = "runc"
    if rootless:  # runc maps the caller, root when the fixture was made
        for key, ident in (("uidMappings", os.geteuid()), ("gidMappings", os.getegid())):
            assert theirs["linux"][key] == [{"containerID": 0, "hostID": 0, "size": 1}]
            theirs["linux"][key][0]["hostID"] = ident
    assert json.dumps(ours, indent=1) == json.dumps(theirs, indent=1)  # keys in runc's order too


def test_the_runc_spec_fixture_is_runc_1_1_output():
    theirs = runc_spec("config.json")
    assert theirs["ociVersion"] == "1.0.2-dev"  # runc 1.1's runtime-spec
    assert theirs["process"]["capabilities"]["ambient"] and "inheritable" not in theirs["process"]["capabilities"]
    with open(os.path.join(RUNC_SPEC, "README.md")) as handle:
        assert "runc %s" % RUNC_SPEC_VERSION in handle.read()


@pytest.mark.parametrize("fixture", ["config.json", "rootless-config.json"])
def test_runc_spec_output_is_accepted_as_it_is(tmp_path, fixture):
    cfg = minirun.parse_config(runc_spec(fixture), str(tmp_path))
    assert cfg.process.capabilities["ambient"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


@pytest.mark.parametrize("rootless", [False, True], ids=["default", "rootless"])
def test_a_script_adding_a_cgroup_namespace_to_the_default_spec_is_not_listed_twice(tmp_path, rootless):
    raw = minirun.default_spec(rootless)
    assert "cgroup" not in [ns["type"] for ns in raw["linux"]["namespaces"]]
    raw["linux"]["namespaces"].append({"type": "cgroup"})
    assert minirun.parse_config(raw, str(tmp_path)).new_namespace("cgroup")


def test_spec_into_a_missing_bundle_directory_is_a_plain_error(tmp_path):
    line = assert_clean_failure(run_cli("spec", "--bundle", str(tmp_path / "missing")))
    assert "internal error" not in line
    assert ".tmp-" not in line


# --- --log ----------------------------------------------------------------------


def test_a_failing_command_leaves_a_json_error_line_in_the_log(tmp_path, root):
    log = tmp_path / "log.json"
    result = run_cli("--root", root, "--log", str(log), "--log-format", "json", "state", "nope")
    assert result.returncode == 1
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["level"] == "error"
    assert "container nope does not exist" in last["msg"]
    assert last["time"].endswith("Z")


def test_a_failing_command_leaves_a_text_error_line_in_the_log(tmp_path, root):
    log = tmp_path / "log.txt"
    run_cli("--root", root, "--log=" + str(log), "delete", "nope")
    (line,) = log.read_text().splitlines()
    assert "level=error" in line and 'msg="container nope does not exist"' in line


def test_the_log_is_appended_to_across_calls(tmp_path, root):
    log = tmp_path / "log.json"
    for _ in range(2):
        run_cli("--root", root, "--log", str(log), "--log-format", "json", "state", "nope")
    assert len(log.read_text().splitlines()) == 2


def test_debug_lines_reach_the_log_only_with_debug(tmp_path, root):
    log = tmp_path / "log.json"
    run_cli("--root", root, "--log", str(log), "--log-format", "json", "list")
    assert not log.exists()  # nothing to log: the file is not even created
    run_cli("--root", root, "--log", str(log), "--log-format", "json", "--debug", "list")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["level"] for e in entries] == ["debug"]


def test_a_failing_command_with_a_log_still_prints_its_error_on_stderr(tmp_path, root):
    result = run_cli("--root", root, "--log", str(tmp_path / "l"), "state", "nope")
    assert_clean_failure(result, "does not exist")


# --- parse_flags directly -----------------------------------------------------

FLAGS = {"bundle": (True, "b"), "force": (False, "f"), "detach": (False, "d"), "pid-file": (True, None)}


def test_parse_flags_takes_long_and_short_names_in_both_value_spellings():
    values, positional = minirun.parse_flags(["-b", "B", "--pid-file=P", "-f", "c1"], FLAGS, "x")
    assert values == {"bundle": "B", "pid-file": "P", "force": True}
    assert positional == ["c1"]
    values, _ = minirun.parse_flags(["--bundle", "B2", "-b=B3"], FLAGS, "x")
    assert values["bundle"] == "B3"  # the last one wins


@pytest.mark.parametrize("text,expected", [("false", False), ("FALSE", False), ("0", False),
                                           ("true", True), ("1", True)])
def test_parse_flags_accepts_bool_equals_true_or_false(text, expected):
    values, _ = minirun.parse_flags(["--force=" + text], FLAGS, "x")
    assert values == {"force": expected}


def test_parse_flags_refuses_another_value_for_a_bool():
    with pytest.raises(minirun.UsageError) as caught:
        minirun.parse_flags(["--force=yes"], FLAGS, "delete")
    assert "delete" in str(caught.value) and "--force" in str(caught.value)


def test_parse_flags_stops_at_double_dash():
    values, positional = minirun.parse_flags(["-f", "--", "--bundle", "-b", "x"], FLAGS, "x")
    assert values == {"force": True}
    assert positional == ["--bundle", "-b", "x"]


def test_parse_flags_reports_a_missing_value():
    with pytest.raises(minirun.UsageError) as caught:
        minirun.parse_flags(["c1", "--bundle"], FLAGS, "create")
    assert "--bundle needs a value" in str(caught.value)


def test_parse_flags_names_an_unknown_flag_without_its_value():
    with pytest.raises(minirun.UsageError) as caught:
        minirun.parse_flags(["--nope=secret"], FLAGS, "create")
    assert "unknown flag --nope" in str(caught.value) and "secret" not in str(caught.value)


def test_parse_flags_takes_a_value_that_looks_like_a_flag():
    values, positional = minirun.parse_flags(["--bundle", "-weird-dir", "c1"], FLAGS, "x")
    assert values == {"bundle": "-weird-dir"} and positional == ["c1"]


def test_parse_flags_keeps_a_lone_dash_as_positional():
    assert minirun.parse_flags(["-"], FLAGS, "x") == ({}, ["-"])


def test_parse_flags_accepts_flags_after_positionals_unless_told_to_stop():
    assert minirun.parse_flags(["c1", "-d"], FLAGS, "x") == ({"detach": True}, ["c1"])
    values, rest = minirun.parse_flags(["-f", "cmd", "-d", "--bundle"], FLAGS, "x", stop_at_positional=True)
    assert values == {"force": True} and rest == ["cmd", "-d", "--bundle"]


# --- the state directory's own safety --------------------------------------------


def test_delete_force_forgives_a_missing_container_but_not_a_bad_id(root):
    assert run_cli("--root", root, "delete", "--force", "never-created").returncode == 0
    assert_clean_failure(run_cli("--root", root, "delete", "--force", "../escape"), "invalid container id")


def test_a_root_directory_other_users_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared-root"
    shared.mkdir()
    os.chmod(str(shared), 0o777)
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text(json.dumps(base_config()))
    result = run_cli("--root", str(shared), "create", "--bundle", str(bundle), "c1")
    assert_clean_failure(result, "writable by other users")
    assert os.listdir(str(shared)) == []


# --- features ---------------------------------------------------------------------


def test_features_prints_the_runtime_spec_features_document(root):
    result = run_cli("--root", root, "features")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ociVersionMin"] == "1.0.0" and doc["ociVersionMax"] == minirun.SPEC_VERSION
    assert doc["hooks"] == list(minirun.HOOK_PHASES)
    assert {"rbind", "rro", "tmpcopyup", "nosymfollow", "rprivate"} <= set(doc["mountOptions"])
    assert {"idmap", "ridmap"} <= set(doc["mountOptions"])
    assert doc["linux"]["mountExtensions"]["idmap"]["enabled"] is minirun.Host().has_idmapped_mounts
    assert doc["linux"]["namespaces"] == list(minirun.NAMESPACE_TYPES)


def features_host(**facts):
    base = {"last_capability": 40, "apparmor": False, "selinux": False}
    base.update(facts)
    return minirun.Host(facts=base)


def test_features_names_only_the_capabilities_and_lsms_of_this_host():
    doc = minirun.features(features_host(last_capability=37, apparmor=True))
    assert doc["linux"]["capabilities"][-1] == "CAP_AUDIT_READ"
    assert "CAP_BPF" not in doc["linux"]["capabilities"]
    assert doc["linux"]["apparmor"] == {"enabled": True} and doc["linux"]["selinux"] == {"enabled": False}
    assert len(minirun.features(features_host())["linux"]["capabilities"]) == 41


def test_features_lists_as_supported_only_the_seccomp_flags_this_kernel_has():
    host = features_host(**{"seccomp_flag_%x" % flag: flag != 32 | 8 for flag in (1, 2, 4, 32 | 8)})
    seccomp = minirun.features(host)["linux"]["seccomp"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in seccomp["knownFlags"]
    assert "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" not in seccomp["supportedFlags"]


# --- one clean line, whatever the input ----------------------------------------


def test_an_error_naming_a_path_with_a_newline_stays_on_one_line(tmp_path, root):
    bundle = str(tmp_path / "two\nlines")
    line = assert_clean_failure(run_cli("--root", root, "create", "--bundle", bundle, "c1"), "config.json")
    assert "two\\nlines" in line


def test_a_bundle_path_that_is_not_utf8_is_refused_with_one_line(tmp_path, root):
    bundle = os.path.join(os.fsencode(str(tmp_path)), b"b\xff\xfe")
    os.makedirs(os.path.join(bundle, b"rootfs"))
    with open(os.path.join(bundle, b"config.json"), "w") as handle:
        json.dump(base_config(), handle)
    result = run_cli("--root", root, "create", "--bundle", os.fsdecode(bundle), "c1")
    assert_clean_failure(result, "--bundle", "not valid UTF-8")
    assert not os.path.exists(os.path.join(root, "c1"))


def test_a_config_string_with_a_lone_surrogate_is_refused_with_one_line(tmp_path, root):
    (tmp_path / "rootfs").mkdir()
    raw = base_config()
    raw["root"]["path"] = "rootfs\udcff"
    (tmp_path / "config.json").write_text(json.dumps(raw))  # written as the escape \udcff
    result = run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1")
    assert_clean_failure(result, "root.path", "not valid UTF-8")


def test_an_os_error_with_no_better_wording_is_still_one_line_with_the_path(tmp_path):
    root = tmp_path / "a-file"
    root.write_text("")
    line = assert_clean_failure(run_cli("--root", str(root), "list"), str(root), "Not a directory")
    assert "internal error" not in line and "Errno" not in line


def test_an_error_line_is_also_the_last_error_of_the_json_log(tmp_path, root):
    log = tmp_path / "log.json"
    bundle = str(tmp_path / "two\nlines")
    run_cli("--root", root, "--log", str(log), "--log-format", "json", "create", "--bundle", bundle, "c1")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert entries[-1]["level"] == "error" and "two\\nlines" in entries[-1]["msg"]


# --- a root that is not minirun's (issue 19, item 11) -----------------------------
# What proves a root is minirun's: the root is a directory of the caller (or
# root) that no other user can write, and a container is a directory of it,
# likewise, holding a state.json that parses. runc 1.1 lists /proc and /etc
# as empty roots.


def test_proc_as_the_root_holds_no_container():
    result = run_cli("--root", "/proc", "list", "--format=json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []  # not every pid "creating"
    assert_clean_failure(run_cli("--root", "/proc", "state", "1"), "container 1 does not exist")
    assert_clean_failure(run_cli("--root", "/proc", "kill", "1", "0"), "container 1 does not exist")


def etc_like_root(tmp_path):
    """A private root whose directories are somebody's files, not containers."""
    root = tmp_path / "etc"
    (root / "ssh").mkdir(parents=True)
    root.chmod(0o700)
    (root / "ssh" / "sshd_config").write_text("PermitRootLogin no\n")
    (root / "empty.d").mkdir()
    return str(root)


def test_directories_without_a_state_file_are_not_containers(tmp_path):
    root = etc_like_root(tmp_path)
    result = run_cli("--root", root, "list")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.splitlines()[1:] == []
    for command in (["state", "ssh"], ["kill", "ssh", "KILL"], ["delete", "ssh"], ["start", "ssh"]):
        assert_clean_failure(run_cli("--root", root, *command), "container ssh does not exist")


def test_delete_force_of_a_directory_that_is_no_container_removes_none_of_its_files(tmp_path):
    # it used to load as "creating" and Store.remove unlinked every file in it
    root = etc_like_root(tmp_path)
    for cid in ("ssh", "empty.d"):
        assert run_cli("--root", root, "delete", "--force", cid).returncode == 0
    assert (tmp_path / "etc" / "ssh" / "sshd_config").read_text() == "PermitRootLogin no\n"
    assert (tmp_path / "etc" / "empty.d").is_dir()  # 0755: not what a create's mkdir leaves


def test_delete_force_removes_the_empty_directory_a_killed_create_left(root):
    os.makedirs(os.path.join(root, "c1"), 0o700)  # create killed between mkdir and its placeholder
    os.chmod(root, 0o700)
    assert run_cli("--root", root, "delete", "--force", "c1").returncode == 0
    assert os.listdir(root) == []


@pytest.mark.parametrize("command", [["list"], ["state", "c1"], ["kill", "c1", "0"], ["delete", "--force", "c1"],
                                     ["start", "c1"], ["pause", "c1"], ["ps", "c1"]])
def test_every_command_refuses_a_root_other_users_can_write(root, command):
    store_container(root, "c1")
    os.chmod(root, 0o777)  # anyone could plant ROOT/c1 with a state of their choosing
    assert_clean_failure(run_cli("--root", root, *command), "--root", "writable by other users")
    assert os.path.isdir(os.path.join(root, "c1"))


@pytest.mark.parametrize("command", [["list"], ["state", "c1"], ["kill", "c1", "0"]])
def test_every_command_refuses_a_root_owned_by_another_user(root, command):
    store_container(root, "c1")
    os.chown(root, 12345, 12345)
    assert_clean_failure(run_cli("--root", root, *command), "--root", "owned by uid 12345")


def test_a_state_directory_other_users_can_write_is_refused_and_not_listed(root):
    store_container(root, "good")
    os.chmod(store_container(root, "planted"), 0o777)
    for command in (["state", "planted"], ["kill", "planted", "0"]):
        assert_clean_failure(run_cli("--root", root, *command), "container planted", "writable by other users")
    result = run_cli("--root", root, "list", "--format=json")
    assert result.returncode == 0
    assert [row["id"] for row in json.loads(result.stdout)] == ["good"]
    assert "planted" in result.stderr and "writable by other users" in result.stderr


def test_a_state_file_that_is_a_symlink_or_a_fifo_is_not_followed_nor_waited_on(root):
    target = store_container(root, "real")
    os.remove(os.path.join(store_container(root, "link"), "state.json"))
    os.symlink(os.path.join(target, "state.json"), os.path.join(root, "link", "state.json"))
    os.remove(os.path.join(store_container(root, "fifo"), "state.json"))
    os.mkfifo(os.path.join(root, "fifo", "state.json"), 0o600)
    assert_clean_failure(run_cli("--root", root, "state", "link"), "container link does not exist")
    assert_clean_failure(run_cli("--root", root, "state", "fifo"), "container fifo", "not a regular file")


# --- inputs that never end (issue 19, item 10) ------------------------------------


def fifo(tmp_path, name="input"):
    path = str(tmp_path / name)
    os.mkfifo(path, 0o600)
    return path


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "directory"])
def test_update_resources_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path, root, kind):
    source = {"fifo": lambda: fifo(tmp_path), "/dev/zero": lambda: "/dev/zero", "directory": lambda: str(tmp_path)}
    path = source[kind]()
    line = assert_clean_failure(run_cli("--root", root, "update", "--resources", path, "c1"),
                                "--resources %s" % path, "not a regular file")
    assert "does not exist" not in line


def test_update_resources_on_stdin_is_read_and_bounded(root):
    ok = subprocess.run(cli_argv("--root", root, "update", "--resources", "-", "c1"), env=cli_env(),
                        input='{"pids": {"limit": 10}}', stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        universal_newlines=True, timeout=20)
    assert_clean_failure(ok, "container c1 does not exist")  # the input was read and parsed
    with open("/dev/zero", "rb") as zero:
        endless = subprocess.run(cli_argv("--root", root, "update", "--resources", "-", "c1"), env=cli_env(),
                                 stdin=zero, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 universal_newlines=True, timeout=20)
    assert_clean_failure(endless, "--resources -", "larger than 16 MiB")


def test_a_config_json_that_is_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path, root):
    (tmp_path / "rootfs").mkdir()
    fifo(tmp_path, "config.json")
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1"),
                         "config.json", "not a regular file")
    assert not os.path.exists(os.path.join(root, "c1"))


def test_a_config_json_over_16_mib_is_refused_before_it_is_parsed(tmp_path, root):
    (tmp_path / "rootfs").mkdir()
    raw = base_config(annotations={"big": "x" * (16 << 20)})
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert_clean_failure(run_cli("--root", root, "create", "--bundle", str(tmp_path), "c1"),
                         "config.json", "larger than 16 MiB")


# --- no Python internals in any message (issue 19, item 9) ------------------------


def test_deeply_nested_update_resources_is_one_line_naming_it(tmp_path, root):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000)
    line = assert_clean_failure(run_cli("--root", root, "update", "--resources", str(deep), "c1"),
                                "--resources %s" % deep, "nested too deeply")
    assert "RecursionError" not in line and "internal error" not in line


@pytest.mark.parametrize("flag, text", [("--memory", "99999999999999999999999"), ("--memory", "1e400"),
                                        ("--memory", "nan"), ("--cpu-quota", "99999999999999999999999"),
                                        ("--pids-limit", "1e5")])
def test_an_update_flag_out_of_range_is_named_as_the_flag(root, flag, text):
    line = assert_clean_failure(run_cli("--root", root, "update", flag, text, "c1"), flag)
    assert "config.json" not in line and "internal error" not in line and "Error" not in line
    assert "e+" not in line and "99999999999999991611392" not in line  # never shown as a float


def test_a_wrongly_typed_resources_value_is_named_in_json_words(tmp_path, root):
    doc = tmp_path / "r.json"
    doc.write_text('{"memory": {"limit": 1.5}, "cpu": 3}')
    line = assert_clean_failure(run_cli("--root", root, "update", "--resources", str(doc), "c1"),
                                "--resources %s: memory.limit" % doc)
    assert "float" not in line and "config.json" not in line
