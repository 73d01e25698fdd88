"""The runc-compatible command line: global flags, --version, --help on every
command, flag syntax, unknown flags, `list` and `spec`."""

import json
import os
import re
import shutil

import pytest

from .helpers import (
    IS_MINIRUN, IS_RUNC, assert_error, combined, load_config, read_json_log, save_config, wait_for,
)

COMMANDS = ["create", "start", "state", "kill", "delete", "run", "list", "spec"]


# --------------------------------------------------------------------------
# --version / --help

@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_version(rt, flag):
    result = rt(flag, root=False)
    assert result.returncode == 0
    # dockerd parses runc-style text: "NAME version X" and "commit: Y"
    assert re.search(r"^\S+ version \S+", result.stdout, re.M), result.stdout
    assert re.search(r"^commit: \S*", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_global_help_lists_the_commands(rt, flag):
    result = rt(flag, root=False)
    assert result.returncode == 0
    text = combined(result)
    # each command is a line of the listing, whole ("run" must not match
    # the "run" in "minirun" or "runc")
    for command in COMMANDS:
        assert re.search(r"^\s+%s\s" % command, text, re.M), command


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(rt, command, tmp_path):
    result = rt(command, "--help", cwd=tmp_path)
    assert result.returncode == 0
    # the help names the program and then the command: "minirun run ..."
    program = "runc" if IS_RUNC else "minirun"
    assert re.search(r"\b%s %s\b" % (program, command), combined(result)), combined(result)
    # asking for help does nothing else
    assert not (tmp_path / "config.json").exists()
    assert not rt.root.exists() or not any(p.is_dir() for p in rt.root.iterdir())


# --------------------------------------------------------------------------
# bad command lines

@pytest.mark.parametrize("argv", [
    ["--bogus-flag", "list"],
    ["list", "--bogus-flag"],
    ["create", "--bogus-flag", "x"],
    ["state", "--bogus-flag", "x"],
    ["delete", "--bogus-flag", "x"],
    ["kill", "--bogus-flag", "x"],
    ["run", "--bogus-flag", "x"],
    ["start", "--bogus-flag", "x"],
    ["spec", "--bogus-flag"],
], ids=lambda a: "-".join(a))
def test_unknown_flag_is_a_usage_error(rt, argv, tmp_path):
    result = rt(*argv, check=False, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "bogus-flag" in result.stderr
    # runc prints its usage on stdout and the error on stderr
    assert "usage" in combined(result).lower()
    if IS_MINIRUN:
        assert "usage" in result.stderr.lower()
    assert not (tmp_path / "config.json").exists()


def test_unknown_command_fails(rt):
    result = rt("frobnicate", check=False)
    if IS_RUNC:
        # runc (urfave/cli) exits 3 with "No help topic for 'frobnicate'"
        assert result.returncode == 3 and "frobnicate" in result.stderr, result
        return
    assert_error(result, "unknown command", "frobnicate")


@pytest.mark.parametrize("command", ["create", "start", "state", "delete", "kill", "run"])
def test_missing_container_id_fails(rt, command, make_bundle):
    bundle = make_bundle(["true"])
    result = rt(command, check=False, cwd=bundle)
    if IS_RUNC:
        # runc's wording differs, and it prints its usage on stdout
        assert result.returncode == 1 and result.stderr.strip(), result
    else:
        assert_error(result, command, "expects", "got 0")
    rt.assert_clean()


def test_bad_log_format_fails(rt):
    result = rt("--log-format", "bogus", "list", check=False)
    assert_error(result, "--log-format", "bogus")


# --------------------------------------------------------------------------
# global flags

def test_root_flag_equals_form(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    result = rt("--root=%s" % rt.root, "create", "--bundle", bundle, cid, root=False)
    assert result.returncode == 0
    assert rt.state(cid)["status"] == "created"
    assert cid in rt("list", "-q").stdout.split()


def test_root_flag_separates_containers(rt, make_bundle, cid, tmp_path):
    other_root = tmp_path / "other-state"
    bundle = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle, cid)
    result = rt("--root", other_root, "state", cid, root=False, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert rt.state(cid)["id"] == cid


@pytest.mark.parametrize("flags", [["--debug"], ["--systemd-cgroup"],
                                   ["--log-format", "text"], ["--log-format=json"]],
                         ids=["debug", "systemd-cgroup", "log-format-text", "log-format=json"])
def test_global_flags_are_accepted(rt, flags):
    result = rt(*flags, "list")
    assert result.returncode == 0


def test_log_format_json_error_line(rt, cid):
    result = rt("--log", rt.log, "--log-format", "json", "state", cid, check=False)
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    entries = read_json_log(rt.log)
    assert entries, "nothing written to the --log file"
    for entry in entries:
        assert {"level", "msg", "time"} <= set(entry), entry
    errors = [e for e in entries if e["level"] == "error"]
    assert errors and "does not exist" in errors[-1]["msg"]


def test_log_equals_form_and_text_format(rt, cid, tmp_path):
    log = tmp_path / "log.txt"
    result = rt("--log=%s" % log, "--log-format=text", "state", cid, check=False)
    assert result.returncode == 1
    text = log.read_text()
    assert "error" in text
    assert "does not exist" in text
    with pytest.raises(ValueError):
        json.loads(text.splitlines()[0])


def test_log_with_debug_on_a_successful_create(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("--debug", "--log", rt.log, "--log-format", "json", "create", "--bundle",
       bundle, cid)
    for entry in read_json_log(rt.log):
        assert {"level", "msg", "time"} <= set(entry), entry
        assert entry["level"] != "error", entry
    assert rt.status(cid) == "created"


# --------------------------------------------------------------------------
# list

def test_list_formats(rt, make_bundle):
    a, b = "la" + os.urandom(6).hex(), "lb" + os.urandom(6).hex()
    bundle_a = make_bundle(["sleep", "100"])
    bundle_b = make_bundle(["sleep", "100"])
    rt("create", "--bundle", bundle_a, a)
    rt("create", "--bundle", bundle_b, b)
    rt("start", b)
    pid_a, pid_b = rt.state(a)["pid"], rt.state(b)["pid"]

    table = rt("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {line.split()[0]: line.split() for line in table[1:] if line.strip()}
    assert set(rows) == {a, b}
    assert rows[a][1:4] == [str(pid_a), "created", str(bundle_a)]
    assert rows[b][1:4] == [str(pid_b), "running", str(bundle_b)]

    for argv in (["list", "--format", "json"], ["list", "--format=json"], ["list", "-f", "json"]):
        states = json.loads(rt(*argv).stdout)
        assert isinstance(states, list)
        by_id = {s["id"]: s for s in states}
        assert set(by_id) == {a, b}
        assert by_id[a]["status"] == "created" and by_id[a]["pid"] == pid_a
        assert by_id[b]["status"] == "running" and by_id[b]["pid"] == pid_b
        assert os.path.realpath(by_id[a]["bundle"]) == str(bundle_a)

    assert sorted(rt("list", "-q").stdout.split()) == sorted([a, b])
    assert sorted(rt("list", "--quiet").stdout.split()) == sorted([a, b])
    assert rt("list", "--format", "table").stdout.splitlines()[0].split()[0] == "ID"


def test_list_when_empty(rt):
    table = rt("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert [l for l in table[1:] if l.strip()] == []
    assert rt("list", "-q").stdout.strip() == ""
    # runc prints `null` for an empty json list (a nil Go slice), minirun []
    assert json.loads(rt("list", "--format", "json").stdout) == (None if IS_RUNC else [])


def test_list_shows_stopped_containers(rt, make_bundle, cid):
    rt("create", "--bundle", make_bundle(["true"]), cid)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    states = json.loads(rt("list", "--format", "json").stdout)
    assert [(s["id"], s["status"]) for s in states] == [(cid, "stopped")]


# --------------------------------------------------------------------------
# spec

def test_spec_writes_a_config(rt, tmp_path):
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    rt("spec", "--bundle", bundle)
    cfg = load_config(bundle)
    assert isinstance(cfg["ociVersion"], str)
    assert cfg["process"]["args"]
    assert cfg["root"]["path"]
    assert {"pid", "mount"} <= {n["type"] for n in cfg["linux"]["namespaces"]}


def test_spec_in_the_current_directory(rt, tmp_path):
    bundle = tmp_path / "cwd-bundle"
    bundle.mkdir()
    rt("spec", cwd=bundle)
    assert load_config(bundle)["process"]


def test_spec_refuses_to_overwrite(rt, tmp_path):
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text('{"keep": "me"}')
    result = rt("spec", "--bundle", bundle, check=False)
    assert_error(result, "config.json", "exists")
    assert (bundle / "config.json").read_text() == '{"keep": "me"}'


def test_spec_rootless_adds_a_user_namespace(rt, tmp_path):
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    rt("spec", "--rootless", "--bundle", bundle)
    cfg = load_config(bundle)
    assert "user" in {n["type"] for n in cfg["linux"]["namespaces"]}
    for key in ("uidMappings", "gidMappings"):
        mappings = cfg["linux"][key]
        assert mappings and all({"containerID", "hostID", "size"} <= set(m) for m in mappings)


def test_spec_output_runs(rt, tmp_path, rootfs, cid):
    """The generated config is usable: with a rootfs beside it and no
    terminal, it runs."""
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    rt("spec", "--bundle", bundle)
    cfg = load_config(bundle)
    root = cfg["root"]["path"]
    target = root if os.path.isabs(root) else str(bundle / root)
    shutil.copytree(str(rootfs), target, symlinks=True)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["echo", "spec-ok"]
    save_config(bundle, cfg)
    result = rt("run", "--bundle", bundle, cid)
    assert result.stdout == "spec-ok\n"


# What runc 1.1.5 writes (tests/fixtures/runc-spec, made as root).
RUNC_SPEC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "fixtures", "runc-spec")


@pytest.mark.parametrize("rootless", [False, True], ids=["default", "rootless"])
def test_spec_writes_what_runc_1_1_writes(rt, tmp_path, rootless):
    """The same config as runc 1.1's `spec` (namespaces, mounts, capabilities,
    masked and read-only paths, rlimits); only the hostname names the runtime."""
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    rt("spec", *(["--rootless"] if rootless else []), "--bundle", bundle)
    ours = load_config(bundle)
    with open(os.path.join(RUNC_SPEC_DIR, "rootless-config.json" if rootless else "config.json")) as f:
        theirs = json.load(f)
    assert ours.pop("hostname") == ("minirun" if IS_MINIRUN else "runc")
    theirs.pop("hostname")
    assert ours == theirs


def test_a_script_adding_a_cgroup_namespace_to_the_default_spec_runs(rt, tmp_path, rootfs, cid):
    """Scripts edit runc's default: one that adds a cgroup namespace must not
    find it listed already ("listed twice")."""
    bundle = tmp_path / "spec-bundle"
    bundle.mkdir()
    rt("spec", "--bundle", bundle)
    cfg = load_config(bundle)
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    cfg["root"] = {"path": str(rootfs)}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["readlink", "/proc/self/ns/cgroup"]
    save_config(bundle, cfg)
    result = rt("run", "--bundle", bundle, cid)
    assert result.stdout.strip() != os.readlink("/proc/self/ns/cgroup")
    assert result.stdout.startswith("cgroup:[")


# --------------------------------------------------------------------------
# No noise: a config runc accepts silently runs silently. Without a terminal
# the runtime's stdout and stderr ARE the container's (run in the foreground,
# create, exec), so a line of the runtime's own would land in the user's
# output. runc 1.1's `spec` writes ambient capabilities without an
# inheritable set, which the kernel cannot raise: runc says nothing of it.

SAYS = "echo out; echo err >&2"


def default_bundle(rt, tmp_path, rootfs, source):
    """A bundle whose config.json is a default as written: runc 1.1's own
    (the fixture), or this runtime's `spec` / `spec --rootless` (run as root
    here, so its mappings map root). Only the rootfs (the busybox one, by its
    absolute path, as runc wants it) and the terminal are changed."""
    bundle = tmp_path / ("bundle-" + source.replace(" ", "").replace("-", ""))
    bundle.mkdir()
    if source.startswith("runc "):
        name = "rootless-config.json" if source.endswith("--rootless") else "config.json"
        shutil.copy(os.path.join(RUNC_SPEC_DIR, name), str(bundle / "config.json"))
    else:
        rt(*source.split(), "--bundle", bundle)
    cfg = load_config(bundle)
    cfg["root"]["path"] = str(rootfs)
    cfg["process"]["terminal"] = False
    save_config(bundle, cfg)
    return bundle


def set_args(bundle, args):
    cfg = load_config(bundle)
    cfg["process"]["args"] = args
    save_config(bundle, cfg)


DEFAULTS = ["runc spec", "runc spec --rootless", "spec", "spec --rootless"]


@pytest.mark.parametrize("source", DEFAULTS)
def test_run_of_a_default_bundle_prints_only_the_containers_bytes(rt, tmp_path, rootfs, cid, source):
    bundle = default_bundle(rt, tmp_path, rootfs, source)
    set_args(bundle, ["sh", "-c", SAYS])
    result = rt("run", "--bundle", bundle, cid)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


@pytest.mark.parametrize("source", DEFAULTS)
def test_create_start_and_exec_of_a_default_bundle_print_only_the_containers_bytes(rt, tmp_path, rootfs, cid,
                                                                                  source):
    """create hands its stdio to the init; exec's is the process's."""
    bundle = default_bundle(rt, tmp_path, rootfs, source)
    set_args(bundle, ["sh", "-c", SAYS + "; exec sleep 1000"])
    out, err = tmp_path / "init.out", tmp_path / "init.err"
    with open(str(out), "w") as init_out, open(str(err), "w") as init_err:
        rt("create", "--bundle", bundle, cid, stdout=init_out, stderr=init_err)
    rt("start", cid)
    wait_for(lambda: out.read_text() and err.read_text(), what="the init's output")
    result = rt("exec", cid, "sh", "-c", SAYS)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    rt("kill", cid, "KILL")
    rt.wait_status(cid, "stopped")
    assert (out.read_text(), err.read_text()) == ("out\n", "err\n")


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 logs nothing at all for this config, not even with --debug")
def test_ambient_capabilities_left_unraised_are_a_debug_line(rt, tmp_path, rootfs, cid):
    """Not a warning, but not hidden either: --debug says which ones, in --log."""
    bundle = default_bundle(rt, tmp_path, rootfs, "runc spec")
    set_args(bundle, ["sh", "-c", SAYS])
    result = rt("--debug", "run", "--bundle", bundle, cid, log=True)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    entries = read_json_log(rt.log)
    assert not [e for e in entries if e["level"] == "warning"], entries
    unraised = [e["msg"] for e in entries if e["level"] == "debug" and "left unraised" in e["msg"]]
    assert unraised == ["process.capabilities.ambient: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE left "
                        "unraised: an ambient capability must also be permitted and inheritable"]
