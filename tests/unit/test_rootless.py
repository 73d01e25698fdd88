"""Rootless mode: the decisions planning (section 11) takes from the host's
facts, and how create writes the id maps it planned (section 14).

A Host is given its facts, so each rule is shown as root and as a user on
any machine: how the ids are mapped (written directly, or through
newuidmap/newgidmap), what a user namespace cannot mount and gets bound from
the host instead, and what happens to cgroups when none are delegated.
"""

import os

import pytest

import minirun

from .helpers import base_config
from .kernel_double import RecordingKernel
from .test_planning import plan, userns_config

USER = 1000
SUBORDINATE = [(100000, 65536)]


def as_user(**facts):
    """The facts of an unprivileged user with a subordinate range and the helpers installed."""
    base = dict(euid=USER, egid=USER, subordinate_uids=SUBORDINATE, subordinate_gids=SUBORDINATE)
    base.update(facts)
    return base


# --- id maps ------------------------------------------------------------------


def test_the_users_own_id_alone_is_written_directly_with_setgroups_denied_first(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, USER, 1)], [(0, USER, 1)]), **as_user())
    ns = p.namespaces
    assert ns.id_map_method == "write" and ns.deny_setgroups and ns.maps_by_unprivileged


def test_the_hosts_root_writes_any_map_itself_and_keeps_setgroups(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, 100000, 65536)], [(0, 100000, 65536)]), euid=0)
    ns = p.namespaces
    assert ns.id_map_method == "write" and not ns.deny_setgroups and not ns.maps_by_unprivileged


def test_subordinate_ranges_go_through_the_setuid_helpers(tmp_path):
    maps = [(0, USER, 1), (1, 100000, 65536)]
    p, _ = plan(tmp_path, userns_config(maps, maps), **as_user())
    ns = p.namespaces
    assert ns.id_map_method == "helpers" and ns.maps_by_unprivileged
    assert not ns.deny_setgroups  # newgidmap's caller may keep setgroups: supplementary groups work


def test_one_range_needing_a_helper_sends_both_maps_through_the_helpers(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, USER, 1)], [(0, USER, 1), (1, 100000, 10)]), **as_user())
    assert p.namespaces.id_map_method == "helpers"


@pytest.mark.parametrize("uid_maps,field", [
    ([(0, USER, 1), (1, 100000, 65537)], "linux.uidMappings[1]"),   # one past the range
    ([(0, USER + 1, 1)], "linux.uidMappings[0]"),                    # somebody else's id
    ([(0, 0, 1)], "linux.uidMappings[0]"),                           # the host's root
])
def test_a_mapping_the_user_may_not_have_is_refused_naming_it(tmp_path, uid_maps, field):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, userns_config(uid_maps, [(0, USER, 1)]), **as_user())
    assert caught.value.field == field and "/etc/subuid" in str(caught.value)


def test_without_the_helpers_several_ranges_are_refused_naming_the_package(tmp_path):
    maps = [(0, USER, 1), (1, 100000, 65536)]
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, userns_config(maps, maps), **as_user(id_map_helper_newuidmap=None))
    assert caught.value.field == "linux.uidMappings" and "uidmap" in str(caught.value)


def test_helpers_are_run_with_the_pid_and_one_triple_per_range(tmp_path):
    maps = [(0, USER, 1), (1, 100000, 65536)]
    p, _ = plan(tmp_path, userns_config(maps, maps), **as_user())
    k = RecordingKernel(tmp_path)
    minirun.write_id_maps(k, 4242, p.namespaces, minirun.Host(facts=dict(
        id_map_helper_newuidmap="/usr/bin/newuidmap", id_map_helper_newgidmap="/usr/bin/newgidmap")))
    assert k.calls == [
        ("run_helper", "/usr/bin/newuidmap", ("4242", "0", str(USER), "1", "1", "100000", "65536")),
        ("run_helper", "/usr/bin/newgidmap", ("4242", "0", str(USER), "1", "1", "100000", "65536")),
    ]


def test_a_direct_write_denies_setgroups_before_the_maps(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, USER, 1)], [(0, USER, 1)]), **as_user())
    k = RecordingKernel(tmp_path)
    minirun.write_id_maps(k, 4242, p.namespaces)
    assert [call[1] for call in k.only("write_file")] == [
        "/proc/4242/setgroups", "/proc/4242/uid_map", "/proc/4242/gid_map"]


def bind_config():
    raw = userns_config([(0, 100000, 65536)], [(0, 100000, 65536)])
    raw["mounts"] = [{"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
                     {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]
    return raw


def test_bind_sources_are_opened_before_the_ids_change_in_a_new_user_namespace(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, USER, 1)], [(0, USER, 1)]), **as_user())
    assert p.namespaces.open_bind_sources
    p, _ = plan(tmp_path, base_config())
    assert not p.namespaces.open_bind_sources


def test_as_the_hosts_root_create_clones_the_binds_of_a_new_user_namespace(tmp_path):
    p, _ = plan(tmp_path, bind_config(), has_open_tree=True)
    assert p.rootfs.cloned_binds == {0} and not p.namespaces.open_bind_sources
    assert p.rootfs.trees_from_create()


@pytest.mark.parametrize("facts", [as_user(has_open_tree=True), {"has_open_tree": False}])
def test_rootless_or_without_open_tree_the_joiner_opens_the_bind_sources(tmp_path, facts):
    maps = [(0, USER, 1)] if facts.get("euid") else [(0, 100000, 65536)]
    raw = bind_config()
    raw["linux"]["uidMappings"] = raw["linux"]["gidMappings"] = [
        {"containerID": c, "hostID": h, "size": n} for c, h, n in maps]
    p, _ = plan(tmp_path, raw, **facts)
    assert p.namespaces.open_bind_sources and not p.rootfs.cloned_binds


def device_config(uid=0):
    raw = bind_config()
    raw["linux"]["devices"] = [{"path": "/dev/here", "type": "c", "major": 1, "minor": 3},
                               {"path": "/dev/other", "type": "c", "major": 1, "minor": 3},
                               {"path": "/dev/missing", "type": "c", "major": 1, "minor": 3, "uid": uid, "gid": 7}]
    return raw


def test_as_the_hosts_root_create_makes_the_devices_the_host_lacks(tmp_path):
    nodes = {"device_node:/dev/here": (0o020000, os.makedev(1, 3)),
             "device_node:/dev/other": (0o020000, os.makedev(1, 5)),  # another device at that path
             "device_node:/dev/missing": None}
    p, _ = plan(tmp_path, device_config(uid=5), has_open_tree=True, **nodes)
    made = [(d.path, uid, gid) for d, uid, gid in p.rootfs.made_devices]
    assert made == [("/dev/other", 100000, 100000), ("/dev/missing", 100005, 100007)]  # host ids


def test_a_made_devices_owner_must_be_mapped(tmp_path):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, device_config(uid=70000), has_open_tree=True,
             **{"device_node:/dev/" + name: None for name in ("here", "other", "missing")})
    assert caught.value.field == "linux.devices" and "uid 70000" in str(caught.value)


# --- what a user namespace cannot mount ---------------------------------------


def with_mounts(namespaces, gid_maps=((0, USER, 1),)):
    raw = userns_config([(0, USER, 1)], list(gid_maps))
    raw["linux"]["namespaces"] = [{"type": t} for t in namespaces]
    raw["mounts"] = [
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "gid=5"]},
    ]
    return raw


def test_sysfs_and_mqueue_are_bound_from_the_host_without_namespaces_the_user_namespace_owns(tmp_path):
    p, _ = plan(tmp_path, with_mounts(["mount", "user"]), **as_user())
    assert p.rootfs.bind_sysfs and p.rootfs.bind_mqueue


def test_a_new_network_and_ipc_namespace_let_sysfs_and_mqueue_be_mounted(tmp_path):
    p, _ = plan(tmp_path, with_mounts(["mount", "user", "network", "ipc"]), **as_user())
    assert not p.rootfs.bind_sysfs and not p.rootfs.bind_mqueue


def test_without_a_user_namespace_nothing_is_bound_instead(tmp_path):
    raw = with_mounts(["mount"])
    del raw["linux"]["uidMappings"], raw["linux"]["gidMappings"]
    p, _ = plan(tmp_path, raw)
    assert not p.rootfs.bind_sysfs and not p.rootfs.bind_mqueue and not p.rootfs.devpts_drop_gid


@pytest.mark.parametrize("gid_maps,dropped", [(((0, USER, 1),), {2}), (((0, USER, 1), (1, 100000, 65536)), set())])
def test_devpts_drops_a_gid_the_namespace_does_not_map(tmp_path, gid_maps, dropped):
    p, _ = plan(tmp_path, with_mounts(["mount", "user"], gid_maps), **as_user())
    assert p.rootfs.devpts_drop_gid == dropped


# --- cgroups ------------------------------------------------------------------


def cgroup_config(resources=None, cgroups_path=None):
    raw = userns_config([(0, USER, 1)], [(0, USER, 1)])
    if resources is not None:
        raw["linux"]["resources"] = resources
    if cgroups_path is not None:
        raw["linux"]["cgroupsPath"] = cgroups_path
    return raw


def test_without_delegation_and_without_limits_the_container_gets_no_cgroup(tmp_path):
    p, _ = plan(tmp_path, cgroup_config(), **as_user(cgroup_delegated=False))
    assert p.cgroups_skipped is True


def test_device_rules_are_not_limits(tmp_path):
    p, _ = plan(tmp_path, cgroup_config({"devices": [{"allow": False, "access": "rwm"}]}),
                **as_user(cgroup_delegated=False))
    assert p.cgroups_skipped is True


@pytest.mark.parametrize("raw,field", [
    (cgroup_config({"pids": {"limit": 10}}), "linux.resources"),
    (cgroup_config(cgroups_path="/mine"), "linux.cgroupsPath"),
])
def test_without_delegation_limits_or_a_cgroup_path_are_refused(tmp_path, raw, field):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw, **as_user(cgroup_delegated=False))
    assert caught.value.field == field and "delegated" in str(caught.value)


@pytest.mark.parametrize("facts", [as_user(cgroup_delegated=True), dict(euid=0)])
def test_with_delegation_or_as_root_cgroups_are_managed(tmp_path, facts):
    p, _ = plan(tmp_path, cgroup_config({"pids": {"limit": 10}}), **facts)
    assert p.cgroups_skipped is False


USER_MANAGER = "/user.slice/user-1000.slice/user@1000.service"
IN_APP_SLICE = {"": USER_MANAGER + "/app.slice/run-r1.scope"}
SYSTEMD_DRIVER = minirun.CreateOptions(systemd_cgroup=True)


def test_with_delegation_the_container_gets_a_cgroup_beside_the_runtimes_scope(tmp_path):
    # runc's rootless default: a cgroup named for the container, in the subtree
    # systemd delegated (the runtime's scope is a leaf: v2 gives no controllers below it)
    p, _ = plan(tmp_path, cgroup_config({"pids": {"limit": 10}}),
                **as_user(cgroup_delegated=True, own_cgroups=IN_APP_SLICE))
    manager = p.cgroup.manager
    assert manager.dirs == [("/sys/fs/cgroup" + USER_MANAGER + "/app.slice/c1", None, "/sys/fs/cgroup")]
    assert manager.driver == "cgroupfs" and manager.rootless


def test_a_delegated_cgroup_applies_no_device_rules(tmp_path):
    # a v2 device program needs CAP_SYS_ADMIN of the host: runc's rootless mode skips them
    container = tmp_path / "c1"
    container.mkdir()
    dirs = [(str(container), None, str(tmp_path))]
    deny_all = minirun._parse_resources({"devices": [{"allow": False, "access": "rwm"}]})
    with pytest.raises(minirun.Error, match="linux.resources.devices"):
        minirun.CgroupfsManager("v2", dirs).apply(deny_all)       # root's manager tries (not a cgroup here)
    delegated = minirun.CgroupfsManager("v2", dirs, rootless=True)
    delegated.apply(deny_all)
    assert minirun.manager_from_state(delegated.to_state()).rootless       # and so does update, later


def test_the_systemd_driver_uses_the_users_own_instance_and_its_user_slice(tmp_path):
    p, _ = plan(tmp_path, cgroup_config({"pids": {"limit": 10}}), opts=SYSTEMD_DRIVER,
                **as_user(cgroup_delegated=False, systemd_user_manager_cgroup=USER_MANAGER))
    skipped, manager = p.cgroups_skipped, p.cgroup.manager
    assert not skipped and manager.driver == "systemd" and manager.user
    assert (manager.slice, manager.unit) == ("user.slice", "minirun-c1.scope")
    assert manager.dirs == [("/sys/fs/cgroup" + USER_MANAGER + "/user.slice/minirun-c1.scope", None,
                             "/sys/fs/cgroup")]
    assert minirun.manager_from_state(manager.to_state()).user


def test_the_systemd_driver_refuses_a_rootless_container_on_cgroup_v1(tmp_path):
    from .test_planning import HYBRID
    with pytest.raises(minirun.Error, match="--systemd-cgroup: a rootless container needs cgroup v2"):
        plan(tmp_path, cgroup_config(), opts=SYSTEMD_DRIVER,
             **as_user(cgroup_layout=HYBRID, systemd_user_manager_cgroup=USER_MANAGER))


# --- the cgroup mount in a user namespace --------------------------------------


SYS_FROM_HOST = {"destination": "/sys", "type": "none", "source": "/sys",
                 "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}


def rootless_spec(cgroupns=True, sys_mount=SYS_FROM_HOST):
    """runc's `spec --rootless` as runc 1.2+ writes it on a cgroup v2 host: /sys
    bound recursively from the host, a cgroup mount, a cgroup namespace."""
    raw = cgroup_config()
    raw["mounts"] = [sys_mount, CGROUP_MOUNT]
    if cgroupns:
        raw["linux"]["namespaces"].append({"type": "cgroup"})
    return raw


def test_without_a_cgroup_namespace_the_hosts_cgroup2_is_bound(tmp_path):
    p, _ = plan(tmp_path, rootless_spec(cgroupns=False), **as_user())
    assert p.rootfs.bind_host_cgroup2 == "/sys/fs/cgroup"


def test_over_the_hosts_sys_the_namespaces_root_cgroup_is_bound_not_mounted(tmp_path):
    # the host's cgroup2 is already at /sys/fs/cgroup through the rbind: the
    # same superblock again on that mount point is EBUSY
    p, _ = plan(tmp_path, rootless_spec(), **as_user(own_cgroups={"": "/user.slice/session-1.scope"}))
    assert p.rootfs.bind_host_cgroup2 == "/sys/fs/cgroup/user.slice/session-1.scope"
    delegated, _ = plan(tmp_path, rootless_spec(), **as_user(cgroup_delegated=True, own_cgroups=IN_APP_SLICE))
    assert delegated.rootfs.bind_host_cgroup2 == "/sys/fs/cgroup" + USER_MANAGER + "/app.slice/c1"


def test_with_a_sysfs_of_its_own_a_cgroup_namespace_mounts_cgroup2(tmp_path):
    raw = rootless_spec(sys_mount={"destination": "/sys", "type": "sysfs", "source": "sysfs"})
    raw["linux"]["namespaces"].append({"type": "network"})
    p, _ = plan(tmp_path, raw, **as_user())
    assert p.rootfs.bind_host_cgroup2 is None


def test_on_a_hybrid_host_the_cgroup_mount_is_the_v1_binds(tmp_path):
    from .test_planning import HYBRID
    p, _ = plan(tmp_path, rootless_spec(), **as_user(cgroup_layout=HYBRID))
    assert p.rootfs.bind_host_cgroup2 is None


# --- id-mapped mounts ---------------------------------------------------------


def idmapped_config(mount_extra, linux_maps=True):
    raw = userns_config([(0, 100000, 65536)], [(0, 100000, 65536)]) if linux_maps else base_config()
    raw["mounts"] = [dict({"destination": "/data", "type": "bind", "source": "data"}, **mount_extra)]
    return raw


def test_a_mounts_own_mappings_become_the_map_texts_of_its_user_namespace(tmp_path):
    p, _ = plan(tmp_path, idmapped_config({"options": ["rbind", "idmap"],
                                           "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 10}],
                                           "gidMappings": [{"containerID": 0, "hostID": 6000, "size": 10}]}),
                has_idmapped_mounts=True)
    assert p.rootfs.idmapped == {0: ("0 5000 10\n", "0 6000 10\n", False)}


def test_ridmap_without_mappings_takes_the_containers_and_is_recursive(tmp_path):
    p, _ = plan(tmp_path, idmapped_config({"options": ["rbind", "ridmap"]}), has_idmapped_mounts=True)
    assert p.rootfs.idmapped == {0: ("0 100000 65536\n", "0 100000 65536\n", True)}


def test_mappings_alone_ask_for_an_id_mapped_mount(tmp_path):
    maps = [{"containerID": 0, "hostID": 5000, "size": 1}]
    p, _ = plan(tmp_path, idmapped_config({"options": ["bind"], "uidMappings": maps, "gidMappings": maps}),
                has_idmapped_mounts=True)
    assert list(p.rootfs.idmapped) == [0]


@pytest.mark.parametrize("extra,facts,field,words", [
    ({"options": ["rbind", "idmap"]}, dict(has_idmapped_mounts=False), "mounts[0]", "5.12"),
    ({"options": ["rbind", "idmap"]}, as_user(has_idmapped_mounts=True), "mounts[0]", "host's root"),
])
def test_id_mapped_mounts_are_refused_where_the_kernel_or_the_caller_cannot(tmp_path, extra, facts, field, words):
    raw = idmapped_config(extra)
    if facts.get("euid"):
        raw["linux"]["uidMappings"] = raw["linux"]["gidMappings"] = [{"containerID": 0, "hostID": USER, "size": 1}]
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw, **facts)
    assert caught.value.field == field and words in str(caught.value)


@pytest.mark.parametrize("extra,field", [
    ({"type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}, "mounts[0].options"),
    ({"options": ["rbind"], "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 1}]},
     "mounts[0].gidMappings"),
    ({"options": ["rbind"], "uidMappings": [{"containerID": 0, "hostID": 5000, "size": 0}],
      "gidMappings": [{"containerID": 0, "hostID": 5000, "size": 1}]}, "mounts[0].uidMappings[0].size"),
])
def test_bad_id_mapped_mounts_name_the_field(tmp_path, extra, field):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, idmapped_config(extra), has_idmapped_mounts=True)
    assert caught.value.field == field


def test_without_mappings_anywhere_an_idmap_is_refused(tmp_path):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, idmapped_config({"options": ["rbind", "idmap"]}, linux_maps=False), has_idmapped_mounts=True)
    assert caught.value.field == "mounts[0].uidMappings"


def test_the_init_attaches_a_received_tree_instead_of_binding(tmp_path):
    p, _ = plan(tmp_path, idmapped_config({"options": ["rbind", "idmap"]}), has_idmapped_mounts=True)
    root = tmp_path / "rootfs"
    (root / "data").mkdir()
    tree = os.open(str(tmp_path), os.O_PATH)
    try:
        p.rootfs.mount_trees[0] = tree
        k = RecordingKernel(tmp_path)
        minirun.mount_one(k, p.rootfs, p.rootfs.mounts[0])
    finally:
        os.close(tree)
    assert k.only("move_mount") == [("move_mount", tree, str(root / "data"))]
    assert not [c for c in k.only("mount") if c[3] is None and c[4] & minirun.MS_BIND]


def test_a_kernel_refusing_user_namespaces_to_users_is_named_before_anything_starts(tmp_path):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, userns_config([(0, USER, 1)], [(0, USER, 1)]),
             **as_user(unprivileged_userns_refused="kernel.unprivileged_userns_clone is 0"))
    assert caught.value.field == "linux.namespaces" and "unprivileged_userns_clone" in str(caught.value)


# --- the default state directory ----------------------------------------------


@pytest.mark.parametrize("facts,environ,root", [
    (dict(euid=0, in_user_namespace=False), {"XDG_RUNTIME_DIR": "/run/user/0"}, minirun.DEFAULT_ROOT),
    (dict(euid=USER, in_user_namespace=False), {"XDG_RUNTIME_DIR": "/run/user/1000"}, "/run/user/1000/minirun"),
    # rootless podman: the runtime runs as root of the user's namespace, no --root
    (dict(euid=0, in_user_namespace=True), {"XDG_RUNTIME_DIR": "/run/user/1000", "USER": "ann"},
     "/run/user/1000/minirun"),
    (dict(euid=0, in_user_namespace=True), {"XDG_RUNTIME_DIR": "/run/user/1000"}, "/run/user/1000/minirun"),
    # USER=root in a user namespace, or no XDG_RUNTIME_DIR there: root's directory (as runc)
    (dict(euid=0, in_user_namespace=True), {"XDG_RUNTIME_DIR": "/run/user/0", "USER": "root"}, minirun.DEFAULT_ROOT),
    (dict(euid=0, in_user_namespace=True), {}, minirun.DEFAULT_ROOT),
])
def test_the_default_root_is_the_users_runtime_directory_unless_the_hosts_root(facts, environ, root):
    assert minirun.default_root(minirun.Host(facts=facts), environ) == root


def test_a_user_without_xdg_runtime_dir_is_told_to_set_it_or_root():
    with pytest.raises(minirun.UsageError) as caught:
        minirun.default_root(minirun.Host(facts=dict(euid=USER, in_user_namespace=False)), {})
    assert "XDG_RUNTIME_DIR" in str(caught.value) and "--root" in str(caught.value)
