"""Section 11: pure planning, against the engines' real configs.

plan_create and plan_exec turn a Config, the command's options and a Host
into a complete plan before anything is cloned. The Host here is given its
facts (Host(facts={...})), so nothing is probed: the same config plans the
same way on any machine, as root or as a user.
"""

import json
import os

import pytest

import minirun
from minirun import (CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWTIME, CLONE_NEWUTS)

from .helpers import FIXTURES, base_config, engine_fixtures, load_json

ENGINE_CONFIGS = engine_fixtures("*.config.json")
EXEC_PROCESSES = engine_fixtures("*.process.json")
needs_fixtures = pytest.mark.skipif(not ENGINE_CONFIGS, reason="needs the engine fixtures (%s)" % FIXTURES)

SECCOMP_FACTS = dict([("seccomp_action_%x" % (value & 0xFFFF0000), True) for value in minirun.SECCOMP_ACTIONS.values()]
                     + [("seccomp_flag_%x" % flag, True) for flag in (1, 2, 4, 32 | 8)])
FILESYSTEMS = frozenset(["proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2", "bind"])


class ForeignNamespaces(minirun.Host):
    """A host on which every namespace path names a namespace that is not the
    runtime's own (a container's, as exec sees it)."""

    def namespace_is_ours(self, kind, path, include_host=True):
        return False


def cgroup_layout(kind, unified=None, hierarchies=None):
    layout = minirun.CgroupLayout()
    layout.kind, layout.unified, layout.unified_root = kind, unified, "/"
    layout.hierarchies = {mountpoint: ("/", frozenset(ctrls)) for mountpoint, ctrls in (hierarchies or {}).items()}
    return layout


V2 = cgroup_layout("v2", "/sys/fs/cgroup")
V2_CONTROLLERS = frozenset(["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"])
HYBRID = cgroup_layout("hybrid", "/sys/fs/cgroup/unified", {
    "/sys/fs/cgroup/memory": ["memory"], "/sys/fs/cgroup/cpu,cpuacct": ["cpu", "cpuacct"],
    "/sys/fs/cgroup/pids": ["pids"], "/sys/fs/cgroup/devices": ["devices"], "/sys/fs/cgroup/freezer": ["freezer"],
    "/sys/fs/cgroup/systemd": ["name=systemd"]})


def host(euid=0, kind=minirun.Host, systemd_fact=False, **facts):
    base = dict(SECCOMP_FACTS, euid=euid, in_user_namespace=False, apparmor=False, selinux=False,
                last_capability=40, filesystems=FILESYSTEMS, cgroup_mount_layout=("v2", None, None),
                has_openat2=True, has_kcore=True, systemd=systemd_fact, cgroup_layout=V2,
                own_cgroups={"": "/user.slice/session-1.scope"}, cgroup_v2_controllers=V2_CONTROLLERS,
                cgroup_root_links=[], egid=euid, user_name="user",
                subordinate_uids=[], subordinate_gids=[], id_map_helper_newuidmap="/usr/bin/newuidmap",
                id_map_helper_newgidmap="/usr/bin/newgidmap", cgroup_delegated=False,
                unprivileged_userns_refused=None, has_idmapped_mounts=True, clone_into_cgroup=False)
    base.update(facts)
    return kind(facts=base)


def bundle_for(tmp_path, raw):
    """raw, its rootfs and bind sources made real in tmp_path, parsed."""
    raw = json.loads(json.dumps(raw))
    raw["root"]["path"] = str(tmp_path / "rootfs")
    os.makedirs(raw["root"]["path"], exist_ok=True)
    for i, mount in enumerate(raw.get("mounts", [])):
        if mount.get("type") == "bind" or "bind" in mount.get("options", []) or "rbind" in mount.get("options", []):
            mount["source"] = str(tmp_path / ("source-%d" % i))
            open(mount["source"], "w").close()
    return minirun.parse_config(raw, str(tmp_path))


def create_opts(cfg, **values):
    if cfg.process.terminal:
        values.setdefault("console_socket", "/run/engine/console.sock")
    return minirun.CreateOptions(**values)


def plan(tmp_path, raw, environ=None, pid=4242, opts=None, **facts):
    cfg = bundle_for(tmp_path, raw)
    return minirun.plan_create("c1", cfg, opts or create_opts(cfg), host(**facts), environ or {}, pid), cfg


def engine(name):
    return load_json(os.path.join(FIXTURES, name))


# --- every engine config plans, as root and as a user ----------------------------------


@needs_fixtures
@pytest.mark.parametrize("euid", [0, 1000])
@pytest.mark.parametrize("name", ENGINE_CONFIGS)
def test_every_engine_config_plans_completely(tmp_path, name, euid):
    raw = engine(name)
    parsed = bundle_for(tmp_path, raw)
    limits = minirun.plan_resource_writes(parsed.resources, lambda ctrl: None)
    if euid != 0 and (limits or parsed.cgroups_path):
        # Without root (and no delegated cgroup) there is no cgroup: a limit,
        # or a cgroup path to make, is refused, never dropped (runc's rootless rule).
        with pytest.raises(minirun.ConfigError) as caught:
            plan(tmp_path, raw, euid=euid)
        assert caught.value.field == ("linux.resources" if limits else "linux.cgroupsPath")
        assert "not delegated" in str(caught.value)
        return
    p, cfg = plan(tmp_path, raw, euid=euid)
    # the cgroup: below /sys/fs/cgroup, named for the container, with the config's limits
    if euid == 0:
        (directory, _, mountpoint), = p.cgroup.manager.dirs
        assert mountpoint == "/sys/fs/cgroup" and directory.startswith("/sys/fs/cgroup/")
        assert p.cgroup.resources is cfg.resources
    else:
        assert p.cgroup is None
    linux = raw["linux"]
    kinds = {ns["type"]: ns.get("path") for ns in linux["namespaces"]}
    # namespaces: joined by path in join order; the rest new
    assert p.namespaces.join == [(kind, kinds[kind]) for kind in minirun.NAMESPACE_JOIN_ORDER if kinds.get(kind)]
    expected_flags = 0
    for kind, flag in (("mount", CLONE_NEWNS), ("uts", CLONE_NEWUTS), ("ipc", CLONE_NEWIPC),
                       ("network", CLONE_NEWNET), ("cgroup", CLONE_NEWCGROUP), ("time", CLONE_NEWTIME)):
        if kind in kinds and not kinds[kind]:
            expected_flags |= flag
    assert p.namespaces.new_flags == expected_flags
    assert p.namespaces.new_pid == ("pid" in kinds and not kinds["pid"])
    assert p.own_pid_namespace == p.namespaces.new_pid
    assert p.namespaces.new_user is False and p.namespaces.deny_setgroups is False
    # the root filesystem: devices bound instead of made when not root
    assert p.rootfs.root == cfg.root_path and p.rootfs.bind_devices == (euid != 0)
    assert [m.destination for m in p.rootfs.mounts] == [m["destination"] for m in raw["mounts"]]
    # sysctl: files under /proc/sys
    assert p.sysctl == [("/proc/sys/" + key.replace(".", "/"), value, key)
                        for key, value in linux.get("sysctl", {}).items()]
    # capabilities: the five masks, ambient within permitted and inheritable
    caps = raw["process"].get("capabilities")
    if caps is not None:
        masks = p.process.capabilities
        for kind in minirun.CAPABILITY_SETS:
            assert masks[kind] & ~((1 << 41) - 1) == 0
        assert masks["bounding"] == sum(1 << minirun.CAPABILITY_BITS[n] for n in set(caps.get("bounding", [])))
        assert masks["ambient"] & ~(masks["permitted"] & masks["inheritable"]) == 0
    # seccomp: compiled once, here
    if "seccomp" in linux:
        assert p.process.seccomp.program == minirun.compile_seccomp(cfg.seccomp, os.uname().machine)
        assert p.process.seccomp.no_new_privileges == bool(raw["process"].get("noNewPrivileges"))
    else:
        assert p.process.seccomp is None
    assert p.process.args == raw["process"]["args"] and p.process.keep_fds == 0
    assert p.session_keyring == "c1" and p.hooks == cfg.hooks


@needs_fixtures
def test_docker_run_plans_new_namespaces_and_no_joins(tmp_path):
    p, _ = plan(tmp_path, engine("docker-run-echo-hi.config.json"))
    assert p.namespaces.join == []
    assert p.namespaces.new_flags == CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC
    assert p.namespaces.new_pid is True
    assert p.sysctl == [("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0", "net.ipv4.ip_unprivileged_port_start"),
                        ("/proc/sys/net/ipv4/ping_group_range", "0 2147483647", "net.ipv4.ping_group_range")]


@needs_fixtures
def test_podman_joins_its_network_namespace_by_path(tmp_path):
    raw = engine("podman-run-image-echo-hi.config.json")
    path = next(ns["path"] for ns in raw["linux"]["namespaces"] if ns["type"] == "network")
    p, _ = plan(tmp_path, raw)
    assert p.namespaces.join == [("network", path)]
    assert not p.namespaces.new_flags & CLONE_NEWNET


@needs_fixtures
def test_docker_pid_host_shares_the_pid_namespace(tmp_path):
    p, _ = plan(tmp_path, engine("docker-run-pid-host.config.json"))
    assert p.namespaces.new_pid is False and p.own_pid_namespace is False


@needs_fixtures
def test_a_terminal_config_needs_a_console_socket(tmp_path):
    raw = engine("docker-run-it-tty.config.json")
    cfg = bundle_for(tmp_path, raw)
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.plan_create("c1", cfg, minirun.CreateOptions(), host(), {}, 1)
    assert caught.value.field == "process.terminal"


# --- user namespaces: id maps -----------------------------------------------------------


def userns_config(uid_maps, gid_maps):
    raw = base_config()
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "user"}],
                    "uidMappings": [{"containerID": c, "hostID": h, "size": s} for c, h, s in uid_maps],
                    "gidMappings": [{"containerID": c, "hostID": h, "size": s} for c, h, s in gid_maps]}
    return raw


def test_id_maps_are_the_text_written_to_the_map_files(tmp_path):
    p, _ = plan(tmp_path, userns_config([(0, 100000, 65536)], [(0, 200000, 1000), (1000, 300000, 1)]))
    assert p.namespaces.uid_map == "0 100000 65536\n"
    assert p.namespaces.gid_map == "0 200000 1000\n1000 300000 1\n"
    assert p.namespaces.uid_map != p.namespaces.gid_map
    assert p.namespaces.new_user and p.namespaces.root_uid_mapped and p.namespaces.root_gid_mapped
    assert not p.namespaces.new_flags & minirun.CLONE_NEWUSER  # unshared first, on its own


def test_root_unmapped_is_planned_as_such(tmp_path):
    p, _ = plan(tmp_path, userns_config([(1000, 1000, 1)], [(0, 100, 1)]), euid=1000, subordinate_gids=[(100, 1)])
    assert not p.namespaces.root_uid_mapped and p.namespaces.root_gid_mapped


@pytest.mark.parametrize("euid,deny", [(0, False), (1000, True)])
def test_an_unprivileged_writer_must_deny_setgroups(tmp_path, euid, deny):
    p, _ = plan(tmp_path, userns_config([(0, 1000, 1)], [(0, 1000, 1)]), euid=euid)
    assert p.namespaces.deny_setgroups is deny
    assert p.rootfs.bind_devices  # no mknod in a user namespace


def test_no_new_user_namespace_never_denies_setgroups(tmp_path):
    p, _ = plan(tmp_path, base_config(), euid=1000)
    assert p.namespaces.deny_setgroups is False


def test_time_offsets_become_the_timens_offsets_text(tmp_path):
    raw = base_config()
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "time"}],
                    "timeOffsets": {"monotonic": {"secs": 86400, "nanosecs": 5}, "boottime": {"secs": -10}}}
    p, _ = plan(tmp_path, raw)
    assert p.namespaces.new_flags & CLONE_NEWTIME
    assert sorted(p.namespaces.time_offsets.splitlines()) == ["boottime -10 0", "monotonic 86400 5"]


# --- sysctl -----------------------------------------------------------------------------


def test_sysctl_keys_become_proc_sys_paths(tmp_path):
    raw = base_config()
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "ipc"}],
                    "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096", "fs.mqueue.msg_max": "20"}}
    p, _ = plan(tmp_path, raw)
    assert p.sysctl == [("/proc/sys/net/ipv4/ip_forward", "1", "net.ipv4.ip_forward"),
                        ("/proc/sys/kernel/shmmax", "4096", "kernel.shmmax"),
                        ("/proc/sys/fs/mqueue/msg_max", "20", "fs.mqueue.msg_max")]


def test_a_sysctl_in_a_joined_namespace_that_is_the_runtimes_own_is_refused(tmp_path):
    raw = base_config()
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "network", "path": "/proc/self/ns/net"}],
                    "sysctl": {"net.ipv4.ip_forward": "1"}}
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw)
    assert caught.value.field == "linux.sysctl.net.ipv4.ip_forward" and "refusing to change the host" in str(caught.value)


# --- socket activation ---------------------------------------------------------------------


def test_listen_fds_are_passed_on_only_when_listen_pid_is_the_runtimes_own(tmp_path):
    p, _ = plan(tmp_path, base_config(), environ={"LISTEN_FDS": "2", "LISTEN_PID": "77"}, pid=77)
    assert p.process.keep_fds == 2
    assert p.process.env[-2:] == ["LISTEN_FDS=2", "LISTEN_PID=1"]


@pytest.mark.parametrize("environ", [{"LISTEN_FDS": "2", "LISTEN_PID": "78"}, {"LISTEN_FDS": "2"},
                                     {"LISTEN_FDS": "0", "LISTEN_PID": "77"}, {"LISTEN_FDS": "x", "LISTEN_PID": "77"}])
def test_stale_or_foreign_listen_fds_are_ignored(tmp_path, environ):
    p, _ = plan(tmp_path, base_config(), environ=environ, pid=77)
    assert p.process.keep_fds == 0
    assert not any(entry.startswith("LISTEN_") for entry in p.process.env)


def test_preserve_fds_and_listen_fds_keep_the_larger_count(tmp_path):
    cfg = bundle_for(tmp_path, base_config())
    p = minirun.plan_create("c1", cfg, minirun.CreateOptions(preserve_fds=5), host(),
                            {"LISTEN_FDS": "2", "LISTEN_PID": "9"}, 9)
    assert p.process.keep_fds == 5


def test_no_new_keyring_plans_no_session_keyring(tmp_path):
    p, _ = plan(tmp_path, base_config(), opts=minirun.CreateOptions(no_new_keyring=True))
    assert p.session_keyring is None


# --- plans refuse before anything exists ---------------------------------------------------


def test_a_seccomp_action_the_kernel_lacks_is_refused_at_planning(tmp_path):
    raw = base_config()
    raw["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_LOG"}]}
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw, **{"seccomp_action_%x" % 0x7FFC0000: False})
    assert caught.value.field == "linux.seccomp" and "SCMP_ACT_LOG" in str(caught.value)


def test_a_filesystem_the_host_lacks_is_refused_at_planning(tmp_path):
    raw = base_config(mounts=[{"destination": "/x", "type": "btrfs", "source": "/dev/sda"}])
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw)
    assert caught.value.field == "mounts[0].type"


def test_an_lsm_label_on_a_host_without_it_is_refused_at_planning(tmp_path):
    raw = base_config()
    raw["process"]["apparmorProfile"] = "docker-default"
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, raw)
    assert caught.value.field == "process.apparmorProfile"


def test_the_cgroup_layout_is_asked_only_by_a_config_with_a_cgroup_mount(tmp_path):
    p, _ = plan(tmp_path, base_config(), cgroup_mount_layout="never asked")
    assert p.rootfs.cgroup_layout == (None, None, None)
    raw = base_config(mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}])
    p, _ = plan(tmp_path, raw)
    assert p.rootfs.cgroup_layout == ("v2", None, None)


# --- exec ---------------------------------------------------------------------------------------


def exec_opts(**values):
    opts = minirun.ExecOptions()
    for key, value in values.items():
        setattr(opts, key, value)
    return opts


def container_config(tmp_path, name="docker-run-echo-hi.config.json"):
    raw = engine(name) if ENGINE_CONFIGS else base_config()
    return bundle_for(tmp_path, raw)


@needs_fixtures
@pytest.mark.parametrize("name", EXEC_PROCESSES)
def test_every_engine_exec_process_file_plans_as_written(tmp_path, name):
    raw = engine(name)
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(raw))
    cfg = container_config(tmp_path)
    p = minirun.plan_exec("c1", 4242, cfg, exec_opts(process_file=str(process_file),
                                                     console_socket="/run/c.sock" if raw.get("terminal") else None),
                          host(kind=ForeignNamespaces))
    user = raw.get("user", {})
    assert p.process.args == raw["args"] and p.process.cwd == raw["cwd"]
    assert p.process.env == raw["env"]
    assert (p.process.uid, p.process.gid) == (user.get("uid", 0), user.get("gid", 0))
    assert p.process.additional_gids == user.get("additionalGids", [])
    assert p.process.terminal == bool(raw.get("terminal"))
    assert p.process.capabilities["bounding"] == sum(1 << minirun.CAPABILITY_BITS[c]
                                                     for c in set(raw["capabilities"]["bounding"]))
    # The container's seccomp filter applies to exec'd processes too.
    assert p.process.seccomp is not None
    # Every namespace of the container, through its init's /proc entries, in join order.
    kinds = [ns["type"] for ns in engine("docker-run-echo-hi.config.json")["linux"]["namespaces"]]
    assert p.join == [(kind, "/proc/4242/ns/" + minirun.NAMESPACE_PROC_NAMES[kind])
                      for kind in minirun.NAMESPACE_JOIN_ORDER if kind in kinds]


def test_exec_leaves_alone_the_namespaces_it_shares_with_the_container(tmp_path):
    cfg = container_config(tmp_path)
    p = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(args=["true"]), host())
    assert p.join == []  # every namespace of this process is ours


@needs_fixtures
def test_exec_with_args_takes_the_containers_process_and_the_flags(tmp_path):
    cfg = container_config(tmp_path)
    container_env = list(cfg.process.env)
    opts = exec_opts(args=["sh", "-c", "id"], env=["X=1", "Y=a=b"], cwd="/tmp/../srv", user="1000:2000",
                     additional_gids=["10", "20"], caps=["CAP_SYS_ADMIN"], no_new_privs=True)
    p = minirun.plan_exec("c1", 4242, cfg, opts, host(kind=ForeignNamespaces))
    assert p.process.args == ["sh", "-c", "id"]
    assert p.process.env == container_env + ["X=1", "Y=a=b"]
    assert p.process.cwd == "/srv"
    assert (p.process.uid, p.process.gid) == (1000, 2000)
    assert p.process.additional_gids[-2:] == [10, 20]
    bit = 1 << minirun.CAPABILITY_BITS["CAP_SYS_ADMIN"]
    for kind in ("bounding", "effective", "permitted"):
        assert p.process.capabilities[kind] & bit
    assert p.process.no_new_privileges and p.process.seccomp.no_new_privileges
    assert p.process.terminal is False


def test_exec_user_without_a_gid_keeps_the_containers_gid(tmp_path):
    raw = base_config()
    raw["process"]["user"] = {"uid": 5, "gid": 6}
    cfg = bundle_for(tmp_path, raw)
    p = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(args=["true"], user="7"), host())
    assert (p.process.uid, p.process.gid) == (7, 6)


def test_exec_tty_asks_for_a_terminal(tmp_path):
    cfg = bundle_for(tmp_path, base_config())
    p = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(args=["sh"], tty=True), host())
    assert p.process.terminal is True


@pytest.mark.parametrize("values,fragment", [
    ({}, "a command to run is required"),
    ({"args": ["true"], "env": ["NOEQUALS"]}, "--env"),
    ({"args": ["true"], "cwd": "relative"}, "--cwd must be an absolute path"),
    ({"args": ["true"], "user": "root"}, "--user takes uid[:gid]"),
    ({"args": ["true"], "user": "1:x"}, "--user takes uid[:gid]"),
    ({"args": ["true"], "additional_gids": ["wheel"]}, "--additional-gids takes numbers"),
    ({"args": ["true"], "tty": True, "detach": True}, "--console-socket"),
])
def test_bad_exec_flags_are_usage_errors(tmp_path, values, fragment):
    cfg = bundle_for(tmp_path, base_config())
    with pytest.raises(minirun.UsageError) as caught:
        minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(**values), host())
    assert fragment in str(caught.value)


@pytest.mark.parametrize("process,field", [
    ({"args": [], "cwd": "/"}, "args"),
    ({"cwd": "/"}, "args"),
    ({"args": ["true"], "cwd": "relative"}, "cwd"),
    ({"args": ["true"], "cwd": "/", "env": ["NOEQUALS"]}, "env[0]"),
    ({"args": ["true"], "cwd": "/", "user": {"uid": -1}}, "user.uid"),
    ({"args": ["true"], "cwd": "/", "rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]}, "rlimits[0].type"),
    ({"args": ["true"], "cwd": "/", "capabilities": {"bounding": [5]}}, "capabilities.bounding[0]"),
    ({"args": ["true"], "cwd": "/", "scheduler": {"policy": "SCHED_FIFO"}}, "scheduler.priority"),
    ({"args": ["true"], "cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 9}}, "ioPriority.priority"),
    ({"args": ["true"], "cwd": "/", "execCPUAffinity": {"final": "1-0"}}, "execCPUAffinity.final"),
])
def test_a_bad_process_file_names_process_json_and_the_field(tmp_path, process, field):
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(process))
    cfg = bundle_for(tmp_path, base_config())
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(process_file=str(process_file)), host())
    assert str(caught.value).startswith("process.json: %s: " % field), str(caught.value)


@pytest.mark.parametrize("content,fragment", [("{nope", "--process"), ("[]", "expected a JSON object")])
def test_an_unreadable_process_file_is_named(tmp_path, content, fragment):
    process_file = tmp_path / "process.json"
    process_file.write_text(content)
    cfg = bundle_for(tmp_path, base_config())
    with pytest.raises(minirun.Error) as caught:
        minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(process_file=str(process_file)), host())
    assert str(caught.value).startswith("--process %s: " % process_file) and fragment in str(caught.value)


def test_a_terminal_process_file_with_detach_needs_a_console_socket(tmp_path):
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps({"args": ["sh"], "cwd": "/", "terminal": True}))
    cfg = bundle_for(tmp_path, base_config())
    with pytest.raises(minirun.Error) as caught:
        minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(process_file=str(process_file), detach=True), host())
    assert "--console-socket" in str(caught.value)


# --- scheduler, I/O priority, exec CPU affinity (runtime-spec 1.3) ------------------------------

NEW_PROCESS_FIELDS = {
    "scheduler": {"policy": "SCHED_RR", "priority": 5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]},
    "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 6},
    "execCPUAffinity": {"initial": "0", "final": "0-1"},
}


def test_the_init_gets_the_scheduler_and_io_priority_but_not_execs_cpu_affinity(tmp_path):
    """The spec: execCPUAffinity "is not applicable to the container's init process"."""
    raw = base_config()
    raw["process"].update(NEW_PROCESS_FIELDS)
    p, _cfg = plan(tmp_path, raw)
    assert (p.process.scheduler.policy, p.process.scheduler.priority, p.process.scheduler.flags) == (2, 5, 1)
    assert p.process.io_priority == (2 << 13 | 6, "IOPRIO_CLASS_BE", 6)  # IOPRIO_PRIO_VALUE(class, level)
    assert (p.process.cpu_affinity_initial, p.process.cpu_affinity_final) == (None, None)


def test_exec_takes_the_containers_new_process_fields_and_its_cpu_affinity(tmp_path):
    raw = base_config()
    raw["process"].update(NEW_PROCESS_FIELDS)
    cfg = bundle_for(tmp_path, raw)
    p = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(args=["true"]), host())
    assert p.process.scheduler.policy == 2 and p.process.io_priority[0] == 2 << 13 | 6
    assert (p.process.cpu_affinity_initial, p.process.cpu_affinity_final) == ((0,), (0, 1))


def test_an_exec_process_file_brings_its_own_new_fields(tmp_path):
    process_file = tmp_path / "process.json"
    process_file.write_text(json.dumps(dict(NEW_PROCESS_FIELDS, args=["true"], cwd="/",
                                            ioPriority={"class": "IOPRIO_CLASS_IDLE", "priority": 0},
                                            execCPUAffinity={"final": "1"})))
    cfg = bundle_for(tmp_path, base_config())
    p = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(process_file=str(process_file)), host())
    assert p.process.io_priority == (3 << 13, "IOPRIO_CLASS_IDLE", 0)
    assert (p.process.cpu_affinity_initial, p.process.cpu_affinity_final) == (None, (1,))
    assert p.process.name("scheduler.policy") == "process.json: scheduler.policy"


# --- cgroups ------------------------------------------------------------------------------------


def cgroup_plan(tmp_path, resources=None, cgroups_path=None, systemd=False, **facts):
    raw = base_config(mounts=[{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}])
    if resources is not None:
        raw["linux"]["resources"] = resources
    if cgroups_path is not None:
        raw["linux"]["cgroupsPath"] = cgroups_path
    cfg = bundle_for(tmp_path, raw)
    return minirun.plan_create("c1", cfg, create_opts(cfg, systemd_cgroup=systemd), host(**facts), {}, 1)


def test_without_a_cgroupspath_a_container_gets_minirun_slash_its_id(tmp_path):
    p = cgroup_plan(tmp_path)
    assert p.cgroup.manager.dirs == [("/sys/fs/cgroup/minirun/c1", None, "/sys/fs/cgroup")]
    assert p.cgroup.manager.driver == "cgroupfs"
    assert p.rootfs.cgroup_layout == ("v2", None, None)  # a cgroup2 mount, rooted by the cgroup namespace


def test_a_relative_cgroupspath_starts_beside_the_runtimes_scope_and_an_absolute_one_at_the_root(tmp_path):
    # runc's fs2 rule: a scope holds processes, and v2 gives no controllers to
    # the children of a cgroup with processes of its own
    p = cgroup_plan(tmp_path, cgroups_path="engine/c1")
    assert p.cgroup.manager.dirs[0][0] == "/sys/fs/cgroup/user.slice/engine/c1"
    p = cgroup_plan(tmp_path, cgroups_path="/docker/c1")
    assert p.cgroup.manager.dirs[0][0] == "/sys/fs/cgroup/docker/c1"


def test_a_relative_cgroupspath_is_below_a_runtimes_own_cgroup_that_is_not_a_scope(tmp_path):
    p = cgroup_plan(tmp_path, cgroups_path="engine/c1", own_cgroups={"": "/engines/daemon"})
    assert p.cgroup.manager.dirs[0][0] == "/sys/fs/cgroup/engines/daemon/engine/c1"


def test_v1_hierarchies_keep_relative_cgroupspaths_below_the_runtimes_own_cgroup(tmp_path):
    own = {"memory": "/user.slice/session-1.scope", "": "/user.slice/session-1.scope"}
    p = cgroup_plan(tmp_path, cgroups_path="engine/c1", cgroup_layout=HYBRID, own_cgroups=own,
                    cgroup_v2_controllers=frozenset())
    dirs = {mountpoint: d for d, _, mountpoint in p.cgroup.manager.dirs}
    assert dirs["/sys/fs/cgroup/memory"] == "/sys/fs/cgroup/memory/user.slice/session-1.scope/engine/c1"


def test_on_cgroup_v2_the_joiner_is_cloned_into_its_cgroup_where_the_kernel_can(tmp_path):
    assert cgroup_plan(tmp_path, clone_into_cgroup=True).cgroup.clone_into == "/sys/fs/cgroup/minirun/c1"
    assert cgroup_plan(tmp_path, clone_into_cgroup=False).cgroup.clone_into is None   # before Linux 5.7


def test_hybrid_hosts_and_the_systemd_driver_place_the_joiner_by_writing_its_pid(tmp_path):
    hybrid = cgroup_plan(tmp_path, cgroup_layout=HYBRID, own_cgroups={}, cgroup_v2_controllers=frozenset(),
                         clone_into_cgroup=True)
    assert hybrid.cgroup.clone_into is None      # each v1 hierarchy needs its cgroup.procs write anyway
    scope = cgroup_plan(tmp_path, cgroups_path="system.slice:minirun:c1", systemd=True, systemd_fact=True,
                        clone_into_cgroup=True)
    assert scope.cgroup.clone_into is None       # systemd makes the scope for a process that exists


def test_a_cgroupspath_leaving_the_runtimes_cgroup_is_refused(tmp_path):
    with pytest.raises(minirun.Error, match="linux.cgroupsPath"):
        cgroup_plan(tmp_path, cgroups_path="../../etc")


def test_on_a_hybrid_host_the_container_has_a_cgroup_in_every_hierarchy_and_its_mount_shows_them(tmp_path):
    links = [("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct")]
    p = cgroup_plan(tmp_path, cgroup_layout=HYBRID, own_cgroups={}, cgroup_v2_controllers=frozenset(),
                    cgroup_root_links=links)
    dirs = {mountpoint: directory for directory, _, mountpoint in p.cgroup.manager.dirs}
    assert dirs == {mountpoint: mountpoint + "/minirun/c1" for mountpoint in list(HYBRID.hierarchies) + [HYBRID.unified]}
    kind, binds, mount_links = p.rootfs.cgroup_layout
    assert kind == "v1" and mount_links == links
    # The container's own directories, never the host's root hierarchies.
    assert sorted(binds) == sorted((os.path.basename(mp), d) for mp, d in dirs.items())


@pytest.mark.parametrize("resources,field,controller", [
    ({"pids": {"limit": 10}}, "linux.resources.pids.limit", "pids"),
    ({"network": {"classID": 7}}, "linux.resources.network.classID", "net_cls"),
    ({"hugepageLimits": [{"pageSize": "2MB", "limit": 2097152}]}, "linux.resources.hugepageLimits", "hugetlb"),
])
def test_a_limit_whose_controller_the_host_lacks_is_refused_at_planning_naming_it(tmp_path, resources, field,
                                                                                 controller):
    with pytest.raises(minirun.ConfigError) as caught:
        cgroup_plan(tmp_path, resources, cgroup_v2_controllers=frozenset(["cpu", "memory", "io"]))
    assert field in str(caught.value) and "no %s cgroup controller" % controller in str(caught.value)


def test_a_limit_v2_cannot_express_is_refused_at_planning(tmp_path):
    with pytest.raises(minirun.Error, match="memory.swappiness: cgroup v2 has no per-cgroup swappiness"):
        cgroup_plan(tmp_path, {"memory": {"swappiness": 10}})


def test_the_same_limits_plan_on_a_hybrid_host_through_its_v1_controllers(tmp_path):
    p = cgroup_plan(tmp_path, {"pids": {"limit": 10}, "memory": {"swappiness": 10}}, cgroup_layout=HYBRID,
                    own_cgroups={}, cgroup_v2_controllers=frozenset())
    assert p.cgroup.resources.pids == 10 and p.cgroup.resources.memory.swappiness == 10


def test_the_systemd_driver_needs_systemd_and_plans_a_scope(tmp_path):
    with pytest.raises(minirun.Error, match="--systemd-cgroup: systemd is not the init system"):
        cgroup_plan(tmp_path, systemd=True)
    p = cgroup_plan(tmp_path, cgroups_path="machine.slice:libpod:c1", systemd=True, systemd_fact=True)
    manager = p.cgroup.manager
    assert (manager.driver, manager.slice, manager.unit) == ("systemd", "machine.slice", "libpod-c1.scope")
    assert manager.dirs == [("/sys/fs/cgroup/machine.slice/libpod-c1.scope", None, "/sys/fs/cgroup")]


def test_without_root_there_is_no_cgroup_and_a_limit_is_refused(tmp_path):
    p = cgroup_plan(tmp_path, {"devices": [{"allow": False, "access": "rwm"}]}, euid=1000)
    assert p.cgroup is None
    with pytest.raises(minirun.ConfigError, match="linux.resources: cannot set limits: cgroups are not delegated"):
        cgroup_plan(tmp_path, {"memory": {"limit": 1 << 26}}, euid=1000)


# --- linux.memoryPolicy and linux.netDevices: checked against the host ------------------------

ONE_NODE = {"numa_nodes_online": frozenset({0}), "numa_nodes_possible": frozenset({0}),
            "mempolicy_2": True, "mempolicy_1": True, "mempolicy_6": True, "mempolicy_8002": True}


def with_policy(**policy):
    raw = base_config()
    raw["linux"]["memoryPolicy"] = policy
    return raw


@pytest.mark.parametrize("policy,planned", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, (2, frozenset({0}))),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, (1, frozenset({0}))),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, (0x8002, frozenset({0}))),
])
def test_a_memory_policy_is_planned_as_set_mempolicy_takes_it(tmp_path, policy, planned):
    assert plan(tmp_path, with_policy(**policy), **ONE_NODE)[0].memory_policy == planned


def test_no_memory_policy_plans_none(tmp_path):
    assert plan(tmp_path, base_config())[0].memory_policy is None


@pytest.mark.parametrize("policy,facts,field,words", [
    ({"mode": "MPOL_BIND", "nodes": "1"}, {}, "linux.memoryPolicy.nodes", "node 1 is not one of this host's online"),
    ({"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}, {"mempolicy_8002": True},
     "linux.memoryPolicy.nodes", "possible"),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}, {"mempolicy_6": False}, "linux.memoryPolicy.mode",
     "Linux 6.9"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}, {"mempolicy_2002": False},
     "linux.memoryPolicy.flags", "MPOL_F_NUMA_BALANCING"),
    ({"mode": "MPOL_BIND", "nodes": "0"}, {"mempolicy_2": None}, "linux.memoryPolicy", "no NUMA"),
])
def test_a_memory_policy_this_host_cannot_apply_is_refused_at_planning(tmp_path, policy, facts, field, words):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, with_policy(**policy), **dict(ONE_NODE, **facts))
    assert caught.value.field == field and words in str(caught.value)


def test_relative_nodes_are_positions_not_the_hosts_node_numbers(tmp_path):
    raw = with_policy(mode="MPOL_BIND", nodes="3", flags=["MPOL_F_RELATIVE_NODES"])
    assert plan(tmp_path, raw, **dict(ONE_NODE, mempolicy_4002=True))[0].memory_policy == (0x4002, frozenset({3}))


def with_devices(devices):
    raw = base_config()
    raw["linux"]["namespaces"] = [{"type": "mount"}, {"type": "network"}]
    raw["linux"]["netDevices"] = devices
    return raw


def test_net_devices_are_planned_when_the_host_has_them(tmp_path):
    planned = plan(tmp_path, with_devices({"eth1": {"name": "ctr0"}}), net_link_eth1=3)[0].net_devices
    assert planned == [("eth1", "ctr0", "linux.netDevices.eth1")]


@pytest.mark.parametrize("facts,words", [
    ({"net_link_eth1": None}, "no interface eth1"),
    ({"net_link_eth1": 3, "euid": 1000}, "needs root on the host"),
])
def test_a_net_device_the_runtime_cannot_move_is_refused_at_planning(tmp_path, facts, words):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, with_devices({"eth1": {}}), **facts)
    assert caught.value.field == "linux.netDevices.eth1" and words in str(caught.value)


# --- run.oci.keep_original_groups (podman's --group-add keep-groups) --------------------


@pytest.mark.parametrize("annotations, keeps", [
    ({}, False), ({"run.oci.keep_original_groups": "1"}, True), ({"run.oci.keep_original_groups": "true"}, True),
    ({"run.oci.keep_original_groups": ""}, True), ({"run.oci.keep_original_groups": "0"}, False),
    ({"io.crun.keep_original_groups": "1"}, False),
])
def test_keep_original_groups_is_crun_s_annotation_set_to_anything_but_0(tmp_path, annotations, keeps):
    raw = dict(base_config(), annotations=annotations)
    p, cfg = plan(tmp_path, raw)
    assert p.process.keep_groups is keeps
    e = minirun.plan_exec("c1", os.getpid(), cfg, exec_opts(args=["true"], additional_gids=["7"]), host())
    assert e.process.keep_groups is keeps     # an exec'd process keeps its caller's groups too
