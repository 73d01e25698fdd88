"""Section 7, driven through the kernel seam: the root filesystem's sequence of mounts.

prepare_rootfs, finish_rootfs, pivot_into and move_root run for real on a
tmp_path rootfs, with a RootfsPlan that plan_rootfs built from the engines'
real configs and a Host whose facts are given. The RecordingKernel
(kernel_double.py) creates the mount points and links for real under the
rootfs and records the mounts, device nodes and pivot it is not allowed to
make; the tests assert on that sequence, which is the contract of section 7:

  prepare_rootfs: propagation of / (private, or slave with a
    rootfsPropagation of its own) -> the rootfs bound onto itself -> each
    config mount in order, with its flags, propagation and recursive
    attributes -> /dev's devices (mknod, or binds of the host's nodes where
    mknod is not allowed) -> /dev's symlinks -> a read-only /dev remounted
    read-only once it is populated
  finish_rootfs: masked paths (read-only tmpfs over a directory, /dev/null
    bound over a file, nothing for a missing path or a dangling symlink) ->
    read-only paths (bind, then read-only remount) -> read-only root ->
    rootfsPropagation, last
"""

import copy
import os

import pytest

import minirun
from minirun import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SHARED,
                     MS_SLAVE, MS_STRICTATIME, MS_MOVE, MNT_DETACH)

from .helpers import BUNDLES, FIXTURES, base_config, engine_fixtures, load_json
from .kernel_double import RecordingKernel

ROOT_HOST = {"euid": 0, "in_user_namespace": False, "has_kcore": True, "has_openat2": False,
             "cgroup_mount_layout": ("v2", None, None), "apparmor": False, "selinux": False,
             "last_capability": 40}
ENGINE_CONFIGS = engine_fixtures("*.config.json")
BUNDLE_CONFIGS = sorted(name for name in os.listdir(BUNDLES)
                        if os.path.isfile(os.path.join(BUNDLES, name, "config.json")))
needs_fixtures = pytest.mark.skipif(not ENGINE_CONFIGS, reason="needs the engine fixtures (%s)" % FIXTURES)


def openat2_choices():
    """Both ways of resolving in the root: the walk always, openat2 where this kernel has it."""
    return [False, pytest.param(True, marks=pytest.mark.skipif(
        not minirun.Host().has_openat2, reason="openat2(RESOLVE_IN_ROOT) needs Linux 5.6"))]


def host(**facts):
    return minirun.Host(facts=dict(ROOT_HOST, **facts))


def config_over(tmp_path, raw):
    """raw (a config.json) with its rootfs in tmp_path, parsed as create would parse it."""
    raw = copy.deepcopy(raw)
    raw["root"]["path"] = str(tmp_path / "rootfs")
    os.makedirs(raw["root"]["path"], exist_ok=True)
    return minirun.parse_config(raw, str(tmp_path))


def prepared(tmp_path, raw, use_openat2=False, opts=None, **facts):
    """(RecordingKernel, RootfsPlan, Config) after prepare_rootfs."""
    cfg = config_over(tmp_path, raw)
    plan = minirun.plan_rootfs(cfg, opts or minirun.CreateOptions(), host(has_openat2=use_openat2, **facts))
    k = RecordingKernel(tmp_path)
    minirun.prepare_rootfs(k, plan)
    return k, plan, cfg


def mounts(k):
    return [call[1:] for call in k.only("mount")]


def engine_raw(name):
    return load_json(os.path.join(FIXTURES, name))


# --- the sequence for Docker's plain `docker run`, in full ---------------------------


@needs_fixtures
@pytest.mark.parametrize("use_openat2", openat2_choices())
def test_docker_run_mounts_in_this_exact_order(tmp_path, use_openat2):
    raw = engine_raw("docker-run-echo-hi.config.json")
    k, plan, _ = prepared(tmp_path, raw, use_openat2)
    root = str(tmp_path / "rootfs")
    r = lambda path: root + path  # noqa: E731
    sources = {m["destination"]: m["source"] for m in raw["mounts"]}
    assert mounts(k) == [
        (None, "/", None, MS_REC | MS_PRIVATE, None),
        (root, root, None, MS_BIND | MS_REC, None),
        (sources["/proc"], r("/proc"), "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, None),
        (sources["/dev"], r("/dev"), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
        (sources["/dev/pts"], r("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        (sources["/sys"], r("/sys"), "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, None),
        ("cgroup2", r("/sys/fs/cgroup"), "cgroup2", MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, None),
        (sources["/dev/mqueue"], r("/dev/mqueue"), "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, None),
        (sources["/dev/shm"], r("/dev/shm"), "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=1777,size=67108864"),
        (sources["/etc/resolv.conf"], r("/etc/resolv.conf"), None, MS_BIND | MS_REC, None),
        (None, r("/etc/resolv.conf"), None, MS_PRIVATE | MS_REC, None),
        (sources["/etc/hostname"], r("/etc/hostname"), None, MS_BIND | MS_REC, None),
        (None, r("/etc/hostname"), None, MS_PRIVATE | MS_REC, None),
        (sources["/etc/hosts"], r("/etc/hosts"), None, MS_BIND | MS_REC, None),
        (None, r("/etc/hosts"), None, MS_PRIVATE | MS_REC, None),
    ]
    # The bind sources are files (missing on this host, so not directories): file mount points.
    for name in ("resolv.conf", "hostname", "hosts"):
        assert os.path.isfile(os.path.join(root, "etc", name))
    # Then the default devices, made with mknod and owned as asked, and /dev's links.
    nodes = [call[1:] for call in k.only("mknod")]
    assert nodes == [(r(path), 0o020000 | 0o666, os.makedev(major, minor))
                     for path, major, minor in minirun.DEFAULT_DEVICES]
    assert [call[1:] for call in k.only("chown")] == [(r(path), 0, 0) for path, _, _ in minirun.DEFAULT_DEVICES]
    links = [call[1:] for call in k.only("symlink")]
    assert links == [(target, r(path)) for target, path in minirun.DEFAULT_DEV_SYMLINKS] + \
        [("/proc/kcore", r("/dev/core"))]
    for target, path in links:
        assert os.readlink(path) == target
    # The process's cwd exists in the rootfs.
    assert os.path.isdir(r(raw["process"]["cwd"]))
    # Nothing but mount points was made outside the rootfs's tree.
    assert sorted(os.listdir(str(tmp_path))) == ["rootfs"]


@needs_fixtures
def test_docker_run_devices_come_after_every_mount_and_links_after_devices(tmp_path):
    k, _, _ = prepared(tmp_path, engine_raw("docker-run-echo-hi.config.json"))
    names = k.names()
    last_mount = max(i for i, name in enumerate(names) if name == "mount")
    first_mknod = names.index("mknod")
    last_mknod = max(i for i, name in enumerate(names) if name == "mknod")
    first_link = names.index("symlink")
    assert last_mount < first_mknod < last_mknod < first_link


# --- every engine config and every bundle ------------------------------------------


def expected_primary(mount, root):
    """(source, target, fstype, flags, data) of the mount that puts `mount` in place."""
    target = root + mount.destination
    if mount.is_bind:
        return (mount.source, target, None, mount.flags & (MS_BIND | MS_REC), None)
    if mount.type == "cgroup":
        return ("cgroup2", target, "cgroup2", mount.flags, None)
    return (mount.source or mount.type, target, mount.type, mount.flags, mount.data)


def check_config_mounts_in_order(k, cfg, root):
    recorded = mounts(k)
    assert recorded[0] == (None, "/", None, MS_REC | (MS_SLAVE if cfg.rootfs_propagation else MS_PRIVATE), None)
    assert recorded[1] == (root, root, None, MS_BIND | MS_REC, None)
    position = 2
    for mount in cfg.mounts:
        primary = expected_primary(mount, root)
        assert recorded[position] == primary, mount
        position += 1
        target = primary[1]
        extra = mount.flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
        if mount.is_bind and extra:  # ro, nosuid, ...: a bind takes them only on a remount
            assert recorded[position] == (None, target, None, MS_BIND | MS_REMOUNT | extra, None)
            position += 1
        for propagation in mount.propagation:
            assert recorded[position] == (None, target, None, propagation, None)
            position += 1
    return recorded[position:]


@needs_fixtures
@pytest.mark.parametrize("name", ENGINE_CONFIGS)
def test_every_engine_config_mounts_in_config_order_with_its_flags(tmp_path, name):
    k, plan, cfg = prepared(tmp_path, engine_raw(name))
    rest = check_config_mounts_in_order(k, cfg, plan.root)
    # What follows the config's mounts: only /dev's device binds (none as root)
    # and a read-only /dev's remount.
    assert all(call[3] & MS_REMOUNT for call in rest), rest
    assert len(k.only("mknod")) == len(plan.devices) > 0


@pytest.mark.parametrize("name", BUNDLE_CONFIGS)
def test_every_bundle_mounts_in_config_order_with_its_flags(tmp_path, name):
    k, plan, cfg = prepared(tmp_path, load_json(os.path.join(BUNDLES, name, "config.json")))
    assert check_config_mounts_in_order(k, cfg, plan.root) == []


@needs_fixtures
def test_docker_privileged_makes_every_listed_device_once(tmp_path):
    raw = engine_raw("docker-run-privileged.config.json")
    k, plan, _ = prepared(tmp_path, raw)
    listed = {d["path"] for d in raw["linux"]["devices"]}
    made = [call[1][len(plan.root):] for call in k.only("mknod")]
    assert sorted(made) == sorted(listed | {path for path, _, _ in minirun.DEFAULT_DEVICES})
    assert len(made) == len(set(made))


@needs_fixtures
def test_recursive_and_propagation_options_follow_their_mount(tmp_path):
    raw = engine_raw("docker-run-echo-hi.config.json")
    raw["mounts"].append({"destination": "/data", "type": "bind", "source": str(tmp_path),
                          "options": ["rbind", "rro", "rnosuid", "rshared"]})
    k, plan, _ = prepared(tmp_path, raw)
    target = plan.root + "/data"
    calls = [call for call in k.calls if call[0] in ("mount", "mount_setattr") and call[2 if call[0] == "mount" else 1] == target]
    assert calls == [("mount", str(tmp_path), target, None, MS_BIND | MS_REC, None),
                     ("mount", None, target, None, MS_SHARED | MS_REC, None),
                     ("mount_setattr", target, 0x1 | 0x2, 0)]
    assert os.path.isdir(target)  # a directory source gets a directory mount point


# --- devices: mknod as root, binds where mknod is not allowed -------------------------


@pytest.mark.parametrize("facts,why", [({"euid": 1000}, "rootless"), ({"in_user_namespace": True}, "in a userns")])
def test_devices_are_bound_from_the_host_where_mknod_is_not_allowed(tmp_path, facts, why):
    k, plan, _ = prepared(tmp_path, base_config(mounts=[{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}]),
                          **facts)
    assert plan.bind_devices, why
    assert k.only("mknod") == [] and k.only("chown") == []
    binds = [call[1:] for call in k.only("mount") if call[1] in [p for p, _, _ in minirun.DEFAULT_DEVICES]]
    assert binds == [(path, plan.root + path, None, MS_BIND, None) for path, _, _ in minirun.DEFAULT_DEVICES]
    for path, _, _ in minirun.DEFAULT_DEVICES:
        assert os.path.isfile(plan.root + path)  # the bind's mount point


def test_a_new_user_namespace_binds_devices_even_as_root(tmp_path):
    raw = base_config(linux={"namespaces": [{"type": "mount"}, {"type": "user"}],
                             "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                             "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]})
    k, plan, _ = prepared(tmp_path, raw)
    assert plan.bind_devices and k.only("mknod") == []


def test_an_existing_entry_is_unlinked_before_its_device_is_made(tmp_path):
    root = tmp_path / "rootfs" / "dev"
    root.mkdir(parents=True)
    os.symlink("/etc/shadow", str(root / "null"))  # a hostile image's /dev/null
    k, plan, _ = prepared(tmp_path, base_config())
    calls = [call for call in k.calls if call[0] in ("unlink", "mknod") and call[1] == plan.root + "/dev/null"]
    assert [call[0] for call in calls] == ["unlink", "mknod"]
    assert not os.path.lexists(plan.root + "/dev/null")  # the double makes no node


def test_a_bind_mounted_dev_gets_no_default_devices_nor_links(tmp_path):
    (tmp_path / "hostdev").mkdir()
    k, plan, _ = prepared(tmp_path, base_config(mounts=[{"destination": "/dev", "type": "bind",
                                                         "source": str(tmp_path / "hostdev"), "options": ["rbind"]}]))
    assert plan.devices == [] and plan.dev_symlinks == []
    assert k.only("mknod") == [] and k.only("symlink") == []


def test_no_dev_core_link_without_proc_kcore(tmp_path):
    k, plan, _ = prepared(tmp_path, base_config(), has_kcore=False)
    assert [call[1] for call in k.only("symlink")] == [target for target, _ in minirun.DEFAULT_DEV_SYMLINKS]


# --- a read-only /dev ---------------------------------------------------------------


def test_a_read_only_dev_is_mounted_writable_and_remounted_read_only_after_its_devices(tmp_path):
    raw = base_config(mounts=[{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                               "options": ["nosuid", "ro", "mode=755"]},
                              {"destination": "/proc", "type": "proc", "source": "proc"}])
    k, plan, _ = prepared(tmp_path, raw)
    dev = plan.root + "/dev"
    dev_mounts = [(i, call) for i, call in enumerate(k.calls) if call[0] == "mount" and call[2] == dev]
    (first_index, first), (remount_index, remount) = dev_mounts
    assert first[1:] == ("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755")  # writable while it is filled
    assert remount[1:] == (None, dev, None, MS_REMOUNT | MS_NOSUID | MS_RDONLY, "mode=755")
    names = k.names()
    last_device_or_link = max(i for i, name in enumerate(names) if name in ("mknod", "chown", "symlink"))
    assert first_index < last_device_or_link < remount_index
    # The mounts after /dev (here /proc) also come before the remount.
    assert max(i for i, call in enumerate(k.calls) if call[0] == "mount" and call[3] == "proc") < remount_index


def test_with_a_terminal_the_console_placeholder_is_made_before_dev_turns_read_only(tmp_path):
    raw = base_config(process={"args": ["sh"], "cwd": "/", "terminal": True},
                      mounts=[{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}])
    k, plan, _ = prepared(tmp_path, raw)
    console = plan.root + "/dev/console"
    made = [i for i, call in enumerate(k.calls) if call[0] == "open" and call[1] == console and call[2] & os.O_CREAT]
    remount = [i for i, call in enumerate(k.calls) if call[0] == "mount" and call[4] & MS_REMOUNT]
    assert made and remount and made[0] < remount[0]
    assert os.path.isfile(console) and not os.path.islink(console)


def test_without_a_mount_namespace_the_callers_root_is_left_alone(tmp_path):
    raw = base_config(linux={"namespaces": [{"type": "pid"}]},
                      mounts=[{"destination": "/proc", "type": "proc", "source": "proc"}])
    k, plan, _ = prepared(tmp_path, raw)
    assert not plan.own_namespace
    assert [call[2] for call in k.only("mount")][:1] == [plan.root + "/proc"]  # no propagation, no root bind
    assert not [c for c in k.only("mount") if c[2] in ("/", plan.root)]


# --- rootfsPropagation: slave until the pivot, applied last ----------------------------


@pytest.mark.parametrize("propagation,flags", [("rslave", MS_SLAVE | MS_REC), ("shared", MS_SHARED),
                                               ("rprivate", MS_PRIVATE | MS_REC)])
def test_a_rootfs_propagation_makes_the_host_a_master_first_and_is_applied_last(tmp_path, propagation, flags):
    raw = base_config()
    raw["linux"]["rootfsPropagation"] = propagation
    k, plan, _ = prepared(tmp_path, raw)
    assert mounts(k)[0] == (None, "/", None, MS_REC | MS_SLAVE, None)
    k.calls.clear()
    minirun.finish_rootfs(k, plan)
    assert mounts(k)[-1] == (None, "/", None, flags, None)


# --- finish_rootfs: masked paths, read-only paths, read-only root ----------------------


def rebased(plan, root):
    """finish_rootfs runs after pivot_root, where the rootfs is '/'. Without a
    pivot here, the plan's paths are taken inside the tmp rootfs instead."""
    plan.masked_paths = [root + path for path in plan.masked_paths]
    plan.readonly_paths = [root + path for path in plan.readonly_paths]
    return plan


@pytest.mark.parametrize("name", ["hello"] + [n for n in ENGINE_CONFIGS if n.startswith("docker-run-echo")])
def test_masked_paths_hide_directories_with_tmpfs_and_files_with_dev_null(tmp_path, name):
    raw = load_json(os.path.join(BUNDLES, name, "config.json")) if name in BUNDLE_CONFIGS else engine_raw(name)
    cfg = config_over(tmp_path, raw)
    plan = rebased(minirun.plan_rootfs(cfg, minirun.CreateOptions(), host()), cfg.root_path)
    root = cfg.root_path
    masked = cfg.masked_paths
    assert "/proc/kcore" in masked and "/proc/acpi" in masked and "/proc/timer_list" in masked
    os.makedirs(root + "/proc/acpi")
    os.makedirs(root + "/sys/firmware")
    open(root + "/proc/kcore", "w").close()
    open(root + "/proc/keys", "w").close()
    os.symlink("/proc/no-such-entry", root + "/proc/timer_list")  # dangling: nothing to hide
    for path in cfg.readonly_paths:
        os.makedirs(root + path, exist_ok=True)
    k = RecordingKernel(tmp_path)
    minirun.finish_rootfs(k, plan)
    expected = []
    for path in masked:
        if path in ("/proc/acpi", "/sys/firmware"):
            expected.append(("tmpfs", root + path, "tmpfs", MS_RDONLY, None))
    binds = [call[1:] for call in k.calls if call[0] == "bind_fd"]
    # files: a bind of the null device itself, by fd (no /dev/null path resolved again)
    assert binds == [("/dev/null", root + path) for path in masked if path in ("/proc/kcore", "/proc/keys")]
    for path in cfg.readonly_paths:
        # the remount keeps the flags the mount already has (proc's nosuid, nodev, noexec)
        kept = minirun.mount_flags_of(root + path)
        expected += [(root + path, root + path, None, MS_BIND | MS_REC, None),
                     (None, root + path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept, None)]
    if cfg.root_readonly:
        expected.append((None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None))
    assert mounts(k) == expected
    assert not any(root + "/proc/timer_list" in call for call in k.calls)


@needs_fixtures
def test_a_read_only_root_is_remounted_read_only_after_the_read_only_paths(tmp_path):
    cfg = config_over(tmp_path, engine_raw("docker-run-rich-init-limits-user-ro-tmpfs-bind.config.json"))
    assert cfg.root_readonly
    plan = rebased(minirun.plan_rootfs(cfg, minirun.CreateOptions(), host()), cfg.root_path)
    os.makedirs(cfg.root_path + "/proc/sys")
    k = RecordingKernel(tmp_path)
    minirun.finish_rootfs(k, plan)
    kept = minirun.mount_flags_of(cfg.root_path + "/proc/sys")
    assert mounts(k)[-3:] == [(cfg.root_path + "/proc/sys", cfg.root_path + "/proc/sys", None, MS_BIND | MS_REC, None),
                              (None, cfg.root_path + "/proc/sys", None,
                               MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | kept, None),
                              (None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)]


def test_nothing_to_mask_or_protect_mounts_nothing(tmp_path):
    cfg = config_over(tmp_path, base_config())
    plan = minirun.plan_rootfs(cfg, minirun.CreateOptions(), host())
    k = RecordingKernel(tmp_path)
    minirun.finish_rootfs(k, plan)
    assert k.calls == []


# --- cgroup mounts on a v1 host -------------------------------------------------------


def test_a_cgroup_mount_on_a_v1_host_is_a_tmpfs_of_binds_and_links(tmp_path):
    layout = ("v1", [("cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/docker/c1"), ("memory", "/sys/fs/cgroup/memory/docker/c1")],
              [("cpu", "cpu,cpuacct")])
    raw = base_config(mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                               "options": ["ro", "nosuid"]}])
    k, plan, _ = prepared(tmp_path, raw, cgroup_mount_layout=layout)
    target = plan.root + "/sys/fs/cgroup"
    cgroup_calls = [call for call in k.calls if call[0] in ("mount", "mkdir", "symlink")
                    and str(call[2 if call[0] in ("mount", "symlink") else 1]).startswith(target)]
    assert cgroup_calls == [
        ("mkdir", target, 0o755),  # its mount point
        ("mount", "tmpfs", target, "tmpfs", MS_NOSUID, "mode=755"),
        ("mkdir", target + "/cpu,cpuacct", 0o755),
        ("mount", "/sys/fs/cgroup/cpu,cpuacct/docker/c1", target + "/cpu,cpuacct", None, MS_BIND | MS_REC, None),
        ("mount", None, target + "/cpu,cpuacct", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC, None),
        ("mkdir", target + "/memory", 0o755),
        ("mount", "/sys/fs/cgroup/memory/docker/c1", target + "/memory", None, MS_BIND | MS_REC, None),
        ("mount", None, target + "/memory", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_REC, None),
        ("symlink", "cpu,cpuacct", target + "/cpu"),
        ("mount", None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID, "mode=755"),
    ]


# --- a hostile rootfs ------------------------------------------------------------------


@pytest.mark.parametrize("use_openat2", openat2_choices())
def test_a_mount_destination_through_a_symlink_out_of_the_root_lands_inside(tmp_path, use_openat2):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(str(tmp_path / "outside"), str(tmp_path / "rootfs" / "data"))
    raw = base_config(mounts=[{"destination": "/data/x", "type": "tmpfs", "source": "tmpfs"}])
    k, plan, _ = prepared(tmp_path, raw, use_openat2)
    assert os.listdir(str(tmp_path / "outside")) == []
    (mount,) = [call for call in k.only("mount") if call[3] == "tmpfs"]
    assert mount[2].startswith(plan.root + "/")


def test_proc_on_a_symlink_is_refused_naming_the_mount(tmp_path):
    (tmp_path / "rootfs").mkdir()
    os.symlink("/tmp", str(tmp_path / "rootfs" / "proc"))
    raw = base_config(mounts=[{"destination": "/proc", "type": "proc", "source": "proc"}])
    with pytest.raises(minirun.Error) as caught:
        prepared(tmp_path, raw)
    assert str(caught.value).startswith("mounts[0] (proc on /proc): ") and "symlink" in str(caught.value)


# --- pivot_into and move_root ---------------------------------------------------------------


def test_pivot_into_stacks_the_old_root_and_detaches_it(tmp_path):
    k = RecordingKernel(tmp_path)
    minirun.pivot_into(k, str(tmp_path))
    steps = [call for call in k.calls if call[0] != "close"]
    assert steps[0][:2] == ("open", "/")
    assert steps[1:] == [
        ("chdir", str(tmp_path)),
        ("pivot_root", ".", "."),
        ("fchdir", "/"),  # the old root, stacked on the new one
        ("mount", None, ".", None, MS_SLAVE | MS_REC, None),  # so the unmount cannot reach the host
        ("umount", ".", MNT_DETACH),
        ("chdir", "/"),
    ]
    assert k.opened == set()  # the fd on the old root is closed


def test_move_root_moves_the_rootfs_over_slash_and_chroots(tmp_path):
    k = RecordingKernel(tmp_path)
    root = os.path.realpath(str(tmp_path))
    minirun.move_root(k, root)
    detached = [call for call in k.calls if call[0] == "umount"]
    assert k.calls[len(detached):] == [("chdir", root), ("mount", root, "/", None, MS_MOVE, None),
                                       ("chroot", "."), ("chdir", "/")]
    # first, every mount outside the rootfs (and not on the way to it) is
    # detached, deepest first, so no fully visible /proc stays reachable
    points = minirun.mount_points()
    outside = {p for p in points if p != root and not p.startswith(root + "/")
               and not (root + "/").startswith(p.rstrip("/") + "/")}
    assert {call[1] for call in detached} == outside
    assert all(call[2] == minirun.MNT_DETACH for call in detached)
    depths = [call[1].count("/") for call in detached]
    assert depths == sorted(depths, reverse=True)
    assert "/proc" in outside
