"""Checkpoint and restore (section 20): runc's flags, decoded, and what CRIU is
told, planned from the container's kept config (plan_dump, plan_restore).

The requests are held against the one runc 1.3.6 sent for the same kind of
container (tests/fixtures/criu-rpc, see test_criu_rpc.py): minirun asks
CRIU for what runc asks, field by field.
"""

import os
from pathlib import Path

import pytest

import minirun

from .helpers import base_config, run_cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "criu-rpc"


def config(tmp_path, **linux):
    raw = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
           "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
           "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                      {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind"]},
                      {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"},
                      {"destination": "/data/sub", "type": "bind", "source": "/srv/sub", "options": ["bind"]}],
           "linux": dict({"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}],
                          "maskedPaths": ["/proc/kcore", "/proc/scsi"]}, **linux)}
    return minirun.parse_config(raw, str(tmp_path))


def flags(*argv, command="checkpoint"):
    values, _ = minirun.parse_flags(list(argv) + ["c1"], minirun.COMMANDS[command][2], command)
    return minirun.criu_flags(values, command)


def runc_opts(session):
    return minirun.pb_decode("criu_req", (FIXTURES / session / "02-request.bin").read_bytes())["opts"]


# -- the flags ---------------------------------------------------------------------

def test_the_image_defaults_to_checkpoint_in_the_working_directory_as_runc(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert flags().image_path == str(tmp_path / "checkpoint")
    assert flags("--image-path", "img").image_path == str(tmp_path / "img")
    assert flags().work_path is None


@pytest.mark.parametrize("mode, number", [("soft", 3), ("full", 4), ("strict", 5), ("ignore", 0)])
def test_cgroup_modes_are_runcs_names(tmp_path, mode, number):
    cfg = config(tmp_path)
    opts = minirun.plan_dump(cfg, flags("--manage-cgroups-mode", mode), 42, [], (4, 2, 1), None, {})
    assert opts["manage_cgroups_mode"] == number


@pytest.mark.parametrize("argv, words", [
    (["--manage-cgroups-mode", "hard"], "--manage-cgroups-mode"),
    (["--empty-ns", "ipc"], "--empty-ns"),
    (["--page-server", "10.0.0.1"], "ADDRESS:PORT"),
    (["--page-server", "10.0.0.1:99999"], "ADDRESS:PORT"),
    (["--status-fd", "x"], "--status-fd"),
])
def test_bad_flags_are_refused_naming_them(argv, words):
    with pytest.raises(minirun.UsageError, match=words):
        flags(*argv)


def test_the_network_namespace_is_always_left_empty_as_runc_leaves_it():
    assert flags().empty_ns == minirun.CLONE_NEWNET
    assert flags("--empty-ns", "network").empty_ns == minirun.CLONE_NEWNET


# -- the dump ----------------------------------------------------------------------

def test_a_dump_asks_what_runc_asks(tmp_path):
    opts = minirun.plan_dump(config(tmp_path), flags(), 42, ["/proc/kcore"], (4, 2, 1),
                             ("/sys/fs/cgroup/c1", True), {})
    theirs = runc_opts("runc-dump")
    # fds and the pid are the caller's; a cgroup v1 host adds nothing else
    assert set(opts) | {"images_dir_fd", "work_dir_fd"} == set(theirs)
    for field in ("log_level", "log_file", "manage_cgroups", "notify_scripts", "leave_running", "shell_job",
                  "tcp_established", "ext_unix_sk", "file_locks", "empty_ns", "orphan_pts_master", "auto_dedup",
                  "lazy_pages", "manage_cgroups_mode", "config_file", "link_remap", "tcp_skip_in_flight"):
        assert opts[field] == theirs[field], field


def test_a_dump_declares_binds_masked_files_and_devices_external(tmp_path):
    opts = minirun.plan_dump(config(tmp_path), flags(), 42, ["/proc/kcore"], (4, 2, 1), None, {})
    external = {m["key"]: m["val"] for m in opts["ext_mnt"]}
    assert external["/data"] == "/data" and external["/data/sub"] == "/data/sub"
    assert external["/proc/kcore"] == "/dev/null"       # a masked file: a bind of /dev/null
    assert "/proc/scsi" not in external                 # a masked directory: a tmpfs CRIU dumps
    assert "/scratch" not in external and "/proc" not in external
    assert external["/dev/null"] == "/dev/null" and external["/dev/urandom"] == "/dev/urandom"
    assert opts["pid"] == 42 and opts["root"] == str(tmp_path / "rootfs")


def test_a_pre_dump_saves_memory_only(tmp_path):
    opts = minirun.plan_dump(config(tmp_path), flags("--pre-dump"), 42, ["/proc/kcore"], (4, 2, 1), None, {})
    assert opts["track_mem"] is True and "ext_mnt" not in opts
    opts = minirun.plan_dump(config(tmp_path), flags("--parent-path", "../pre"), 42, [], (4, 2, 1), None, {})
    assert opts["parent_img"] == "../pre" and opts["track_mem"] is True


def test_namespaces_joined_by_path_are_external(tmp_path):
    opts = minirun.plan_dump(config(tmp_path), flags(), 42, [], (4, 2, 1), None, {"network": 4026532001})
    assert opts["external"] == ["net[4026532001]:extRootNetNS"]


def test_the_cgroup_v2_freezer_is_used_from_criu_3_14(tmp_path):
    cfg = config(tmp_path)
    v2 = ("/sys/fs/cgroup/c1", True)
    assert minirun.plan_dump(cfg, flags(), 42, [], (3, 14, 0), v2, {})["freeze_cgroup"] == "/sys/fs/cgroup/c1"
    assert "freeze_cgroup" not in minirun.plan_dump(cfg, flags(), 42, [], (3, 13, 0), v2, {})
    for v1 in ("/sys/fs/cgroup/freezer/c1", "/sys/fs/cgroup/freezer/minirun/c1"):    # v1: any CRIU, any depth
        assert minirun.plan_dump(cfg, flags(), 42, [], (3, 11, 0), (v1, False), {})["freeze_cgroup"] == v1


def test_a_v1_cgroup_mount_is_external_binds(tmp_path):
    cfg = config(tmp_path)
    cfg.mounts[2].type = "cgroup"
    cfg.mounts[2].destination = "/sys/fs/cgroup"
    binds = [("memory", "/sys/fs/cgroup/memory/c1"), ("pids", "/sys/fs/cgroup/pids/c1")]
    dump = {m["key"]: m["val"] for m in minirun.plan_dump(cfg, flags(), 42, [], (4, 2, 1), None, {}, binds)["ext_mnt"]}
    assert dump["/sys/fs/cgroup/memory"] == "/sys/fs/cgroup/memory"
    restore = minirun.plan_restore(cfg, flags(command="restore"), "/run/x/criu-root", {}, [], [], binds)
    assert {"key": "/sys/fs/cgroup/pids", "val": "/sys/fs/cgroup/pids/c1"} in restore["ext_mnt"]


def test_a_config_file_annotation_replaces_runcs_default(tmp_path):
    cfg = config(tmp_path)
    cfg.annotations = {"org.criu.config": "/etc/criu/mine.conf"}
    assert minirun.plan_dump(cfg, flags(), 42, [], (4, 2, 1), None, {})["config_file"] == "/etc/criu/mine.conf"
    cfg.annotations = {"org.criu.config": ""}
    assert "config_file" not in minirun.plan_dump(cfg, flags(), 42, [], (4, 2, 1), None, {})


# -- the restore -------------------------------------------------------------------

def test_a_restore_asks_what_runc_asks(tmp_path):
    descriptors = ["pipe:[11]", "pipe:[12]", "pipe:[12]"]
    opts = minirun.plan_restore(config(tmp_path), flags(command="restore"), "/run/minirun/c1/criu-root",
                                {"": "/c1"}, descriptors, [])
    theirs = runc_opts("runc-restore")
    assert set(opts) | {"images_dir_fd", "work_dir_fd"} == set(theirs)
    for field in ("rst_sibling", "evasive_devices", "log_file", "notify_scripts", "manage_cgroups",
                  "orphan_pts_master", "empty_ns", "manage_cgroups_mode"):
        assert opts[field] == theirs[field], field
    assert opts["inherit_fd"] == [{"key": "pipe:[11]", "fd": 0}, {"key": "pipe:[12]", "fd": 1},
                                  {"key": "pipe:[12]", "fd": 2}]
    assert opts["cg_root"] == [{"ctrl": "", "path": "/c1"}]


def test_a_restore_maps_binds_back_to_their_sources(tmp_path):
    opts = minirun.plan_restore(config(tmp_path), flags(command="restore"), "/r", {}, ["/dev/null"] * 3,
                                [("network", 4)])
    external = [(m["key"], m["val"]) for m in opts["ext_mnt"]]
    assert ("/data", "/srv/data") in external and ("/data/sub", "/srv/sub") in external
    assert ("/dev/null", "/dev/null") in external        # what the masked files were bound from
    assert opts["inherit_fd"] == [{"key": "extRootNetNS", "fd": 4}]   # /dev/null stdio is no pipe


def test_lsm_flags_reach_criu(tmp_path):
    opts = minirun.plan_restore(config(tmp_path), flags("--lsm-profile", "apparmor:p", "--lsm-mount-context", "c",
                                                        command="restore"), "/r", {}, [], [])
    assert opts["lsm_profile"] == "apparmor:p" and opts["lsm_mount_context"] == "c"


def test_every_planned_request_encodes(tmp_path):
    cfg = config(tmp_path)
    for opts in (minirun.plan_dump(cfg, flags("--page-server", "[::1]:27"), 1, ["/proc/kcore"], (4, 2, 1),
                                   ("/sys/fs/cgroup/c1", True), {"pid": 7}),
                 minirun.plan_restore(cfg, flags(command="restore"), "/r", {"memory": "/c1"}, ["pipe:[1]"], [])):
        data = minirun.pb_encode("criu_req", {"type": 1, "opts": dict(opts, images_dir_fd=5)})
        assert minirun.pb_decode("criu_req", data)["opts"] == dict(opts, images_dir_fd=5)


# -- a missing or too old CRIU, through the command line -----------------------------

FAKE_CRIU = """#!%s
# A stand-in for `criu swrk 3` that answers one VERSION request with %r.
import os, socket, sys
sock = socket.socket(fileno=3)
sock.recv(4096)
sock.send(bytes.fromhex(%r))
"""


@pytest.fixture
def restorable(tmp_path):
    """A bundle and an image directory that get a restore as far as asking CRIU."""
    import json
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps(base_config()))
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "descriptors.json").write_text('["pipe:[1]", "pipe:[2]", "pipe:[2]"]')
    return tmp_path


def restore_with_criu(tmp_path, path):
    return run_cli("--root", tmp_path / "state", "restore", "--bundle", tmp_path, "--image-path",
                   tmp_path / "image", "c1", env=dict(os.environ, PATH=str(path)))


def test_restore_without_criu_says_so_in_one_line_and_leaves_nothing(restorable):
    result = restore_with_criu(restorable, restorable / "empty-bin")
    assert result.returncode == 1 and result.stderr.splitlines() == [
        "minirun: criu: criu not found (install CRIU: checkpoint and restore need it)"]
    assert not (restorable / "state" / "c1").exists()


def test_a_criu_older_than_3_11_is_refused_naming_its_version(restorable):
    import sys
    answer = minirun.pb_encode("criu_resp", {"type": minirun.CRIU_REQ_TYPES["VERSION"], "success": True,
                                             "version": {"major_number": 3, "minor_number": 10}})
    bin_dir = restorable / "bin"
    bin_dir.mkdir()
    (bin_dir / "criu").write_text(FAKE_CRIU % (sys.executable, "3.10", answer.hex()))
    (bin_dir / "criu").chmod(0o755)
    result = restore_with_criu(restorable, bin_dir)
    assert result.returncode == 1 and result.stderr.splitlines() == [
        "minirun: criu: criu is version 3.10.0; minirun needs CRIU 3.11.0 or newer"]
    assert not (restorable / "state" / "c1").exists()
