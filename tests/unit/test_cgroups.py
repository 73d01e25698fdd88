"""Sections 9 to 11 (cgroups) and section 5 (linux.resources), without root:
parsing, path resolution, which file gets which value, the v2 device program
(run in tests/unit/ebpf.py's interpreter) and the D-Bus wire encoding."""

import os
import struct

import pytest

import minirun
from minirun import ConfigError, DeviceRule, Error

from . import ebpf


def parse(raw):
    return minirun._parse_resources(raw)


# --- parsing linux.resources -------------------------------------------------------


def test_zero_values_as_docker_update_sends_them_mean_unset():
    # docker update --cpus 1 sends the whole LinuxResources struct, zeros included.
    raw = {"memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
           "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0,
                   "cpus": "", "mems": ""},
           "pids": {"limit": 0}, "blockIO": {"weight": 0}, "network": {"classID": 0}}
    assert parse(raw).is_empty()


def test_memory_and_cpu_values_are_kept_and_minus_one_means_unlimited():
    res = parse({"memory": {"limit": 67108864, "swap": -1, "reservation": 1 << 20, "swappiness": 0},
                 "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "idle": 1},
                 "pids": {"limit": -1}})
    assert (res.memory.limit, res.memory.swap, res.memory.reservation, res.memory.swappiness) == (67108864, -1, 1 << 20, 0)
    assert (res.cpu.shares, res.cpu.quota, res.cpu.period, res.cpu.cpus, res.cpu.idle) == (512, 50000, 100000, "0-1", 1)
    assert res.pids == -1


@pytest.mark.parametrize("raw, field", [
    ({"memory": {"limit": -2}}, "linux.resources.memory.limit"),
    ({"memory": {"limit": "64m"}}, "linux.resources.memory.limit"),
    ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
    ({"memory": {"limit": 100, "swap": 50}}, "linux.resources.memory.swap"),
    ({"memory": {"kernel": 1 << 20}}, "linux.resources.memory.kernel"),
    ({"cpu": {"shares": 300000}}, "linux.resources.cpu.shares"),
    ({"cpu": {"period": 10}}, "linux.resources.cpu.period"),
    ({"cpu": {"cpus": "0-a"}}, "linux.resources.cpu.cpus"),
    ({"cpu": {"idle": 2}}, "linux.resources.cpu.idle"),
    ({"pids": {"limit": -5}}, "linux.resources.pids.limit"),
    ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight"),
    ({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "rate": 1}]}},
     "linux.resources.blockIO.throttleReadBpsDevice[0].minor"),
    ({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}, "linux.resources.hugepageLimits[0].pageSize"),
    ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}, "linux.resources.network.priorities[0].name"),
    ({"rdma": {"mlx5_0": {}}}, "linux.resources.rdma.mlx5_0"),
    ({"unified": {"cgroup.procs": "1"}}, "linux.resources.unified.cgroup.procs"),
    ({"unified": {"memory.high": 5}}, "linux.resources.unified.memory.high"),
    ({"devices": [{"allow": False}, {"allow": True, "access": "rx"}]}, "linux.resources.devices[1].access"),
    ({"devices": [{"access": "rwm"}]}, "linux.resources.devices[0].allow"),
    ({"devices": [{"allow": True, "type": "u"}]}, "linux.resources.devices[0].type"),
])
def test_every_bad_value_is_refused_naming_its_field(raw, field):
    with pytest.raises(ConfigError) as caught:
        parse(raw)
    assert caught.value.field == field


def test_device_rules_take_wildcards_as_none_and_normalise_access():
    res = parse({"devices": [{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 1, "minor": -1, "access": "wr"}]})
    assert res.devices == [DeviceRule(False, "a", None, None, "rwm"), DeviceRule(True, "c", 1, None, "rw")]


def test_config_json_resources_reach_the_config():
    raw = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"], "cwd": "/"},
           "linux": {"namespaces": [{"type": "mount"}], "resources": {"memory": {"limit": 1 << 26}}}}
    cfg = minirun.parse_config(raw, "/bundle")
    assert cfg.resources.memory.limit == 1 << 26 and cfg.resources.devices is None


def test_update_takes_runcs_per_field_flags():
    res = minirun.parse_update(None, {"--memory": "64m", "--cpu-share": "512", "--pids-limit": "-1",
                                      "--cpuset-cpus": "0", "--memory-swap": "-1", "--blkio-weight": "0"})
    assert (res.memory.limit, res.cpu.shares, res.pids, res.cpu.cpus, res.memory.swap) == (64 << 20, 512, -1, "0", -1)
    assert res.block_io.weight is None      # 0 = unset, as runc's flag defaults


def test_update_with_a_resources_document_ignores_the_flags_as_runc_does():
    res = minirun.parse_update({"memory": {"limit": 1 << 30}, "pids": {"limit": 10}}, {"--memory": "64m"})
    assert (res.memory.limit, res.pids) == (1 << 30, 10)


def test_update_errors_name_the_resources_field_or_the_flag():
    with pytest.raises(ConfigError) as caught:
        minirun.parse_update({"memory": {"limit": -3}}, source="update: --resources r.json")
    assert str(caught.value).startswith("update: --resources r.json: memory.limit: ")
    with pytest.raises(minirun.UsageError, match="--memory"):
        minirun.parse_update(None, {"--memory": "lots"})


@pytest.mark.parametrize("flag, text", [("--memory", "99999999999999999999999"), ("--cpu-quota", "99999999999999999999999"),
                                        ("--blkio-weight", "5000"), ("--cpu-period", "1")])
def test_an_update_flag_out_of_range_is_named_as_the_flag_not_as_config_json(flag, text):
    # a flag's value is not config.json's, and is shown as typed (a float
    # would show 99999999999999999999999 as 99999999999999991611392)
    with pytest.raises(minirun.Error) as caught:
        minirun.parse_update(None, {flag: text})
    message = str(caught.value)
    assert message.startswith("update: %s: " % flag) and "config.json" not in message, message
    assert "e+" not in message and "99999999999999991611392" not in message


@pytest.mark.parametrize("text", ["1e400", "inf", "nan", "-inf", ".5k", "5.", "1_000", "\u0663"])
def test_an_update_size_that_is_not_digits_is_invalid_not_an_internal_error(text):
    with pytest.raises(minirun.UsageError, match="--memory: invalid size"):
        minirun.parse_update(None, {"--memory": text})


@pytest.mark.parametrize("text, size", [("64m", 64 << 20), ("1G", 1 << 30), ("512k", 512 << 10), ("1024", 1024),
                                        ("2MiB", 2 << 20), ("10mb", 10 << 20), ("-1", -1)])
def test_sizes_as_runc_update_reads_them(text, size):
    assert minirun.parse_size(text, "--memory") == size


# --- where the cgroup is ---------------------------------------------------------------


def test_cgroups_path_absolute_relative_and_empty():
    assert minirun.resolve_cgroup_path("/docker/abc", "abc", "/user.slice") == "/docker/abc"
    assert minirun.resolve_cgroup_path("pods/abc", "abc", "/runtime") == "/runtime/pods/abc"
    assert minirun.resolve_cgroup_path("", "abc", "/runtime") == "/minirun/abc"
    with pytest.raises(Error, match="linux.cgroupsPath"):
        minirun.resolve_cgroup_path("../../etc", "abc", "/runtime")
    with pytest.raises(Error, match="linux.cgroupsPath"):
        minirun.resolve_cgroup_path("/", "abc", "/")


def test_systemd_form_expands_the_slice():
    assert minirun.parse_systemd_path("system.slice:docker:abc", "abc") == (
        "system.slice", "docker-abc.scope", "/system.slice/docker-abc.scope")
    assert minirun.parse_systemd_path("machine-pod1.slice:libpod:abc", "abc")[2] == \
        "/machine.slice/machine-pod1.slice/libpod-abc.scope"
    assert minirun.parse_systemd_path("", "abc") == ("system.slice", "minirun-abc.scope", "/system.slice/minirun-abc.scope")
    assert minirun.parse_systemd_path(":libpod:abc", "abc")[0] == "system.slice"
    for bad in ("/docker/abc", "a:b", "bad--name.slice:x:y", "notaslice:x:y"):
        with pytest.raises(Error, match="linux.cgroupsPath"):
            minirun.parse_systemd_path(bad, "abc")


HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTINFO = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_layout_is_read_from_mountinfo(tmp_path):
    (tmp_path / "hybrid").write_text(HYBRID_MOUNTINFO)
    (tmp_path / "v2").write_text(V2_MOUNTINFO)
    hybrid = minirun.detect_cgroup_layout(str(tmp_path / "hybrid"))
    assert hybrid.kind == "hybrid" and hybrid.unified == "/sys/fs/cgroup/unified"
    assert hybrid.controllers() == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                                    "memory": "/sys/fs/cgroup/memory", "name=systemd": "/sys/fs/cgroup/systemd"}
    v2 = minirun.detect_cgroup_layout(str(tmp_path / "v2"))
    assert (v2.kind, v2.unified, v2.hierarchies) == ("v2", "/sys/fs/cgroup", {})


def test_a_relative_path_is_below_the_runtimes_cgroup_in_each_hierarchy(tmp_path):
    (tmp_path / "mi").write_text(HYBRID_MOUNTINFO)
    layout = minirun.detect_cgroup_layout(str(tmp_path / "mi"))
    own = {"cpu": "/", "cpuacct": "/", "memory": "/process_api/5b9e", "name=systemd": "/", "": "/"}
    manager = minirun.cgroup_manager(layout, "ctr", "ctr", own=own)
    assert sorted(d for d, _, _ in manager.dirs) == [
        "/sys/fs/cgroup/cpu,cpuacct/ctr", "/sys/fs/cgroup/memory/process_api/5b9e/ctr",
        "/sys/fs/cgroup/systemd/ctr", "/sys/fs/cgroup/unified/ctr"]
    absolute = minirun.cgroup_manager(layout, "", "ctr", own=own)
    assert "/sys/fs/cgroup/memory/minirun/ctr" in [d for d, _, _ in absolute.dirs]


def _layout(kind, hierarchies):
    layout = minirun.CgroupLayout()
    layout.kind, layout.unified, layout.unified_root, layout.hierarchies = kind, None, "/", hierarchies
    return layout


def test_the_first_v1_move_is_warmed_by_a_helper_writing_itself_into_its_own_cgroup(tmp_path):
    """The helper writes "0" (itself) into the cgroup.procs of the cgroup the
    caller is in, a move to where it already is: here a plain file stands for
    that cgroup.procs, and it receives exactly that line."""
    own_dir = tmp_path / "pids" / "user.slice"
    own_dir.mkdir(parents=True)
    (own_dir / "cgroup.procs").write_text("")
    layout = _layout("hybrid", {str(tmp_path / "pids"): ("/", frozenset({"pids"}))})
    minirun.start_cgroup_migration_grace_period(layout, {"pids": "/user.slice", "": "/"}, euid=0)
    assert len(minirun.MIGRATION_HELPERS) == 1
    minirun.reap_migration_helpers()
    assert minirun.MIGRATION_HELPERS == []
    assert (own_dir / "cgroup.procs").read_text() == "0\n"


def test_no_helper_on_v2_as_an_unprivileged_caller_or_where_the_file_is_missing(tmp_path):
    hierarchies = {str(tmp_path / "pids"): ("/", frozenset({"pids"}))}
    minirun.start_cgroup_migration_grace_period(_layout("v2", {}), {"": "/"}, euid=0)
    minirun.start_cgroup_migration_grace_period(_layout("v1", hierarchies), {"pids": "/"}, euid=1000)
    minirun.start_cgroup_migration_grace_period(_layout("v1", hierarchies), {"pids": "/"}, euid=0)  # no file
    minirun.start_cgroup_migration_grace_period(_layout("v1", hierarchies), {"pids": "/"}, euid=0,
                                                echo=str(tmp_path / "no-echo"))
    assert minirun.MIGRATION_HELPERS == []
    assert not (tmp_path / "pids").exists()


def test_a_manager_survives_the_state_file_unchanged(tmp_path):
    (tmp_path / "mi").write_text(V2_MOUNTINFO)
    layout = minirun.detect_cgroup_layout(str(tmp_path / "mi"))
    for manager in (minirun.cgroup_manager(layout, "/a/b", "b", own={"": "/"}),
                    minirun.cgroup_manager(layout, "system.slice:x:b", "b", systemd=True, own={"": "/"})):
        state = minirun.json_loads(minirun.json_dumps(manager.to_state())) if hasattr(minirun, "json_dumps") \
            else manager.to_state()
        again = minirun.manager_from_state(state)
        assert type(again) is type(manager) and again.to_state() == manager.to_state()
    assert again.unit == "x-b.scope" and again.dirs == [("/sys/fs/cgroup/system.slice/x-b.scope", None, "/sys/fs/cgroup")]


# --- what each resource writes --------------------------------------------------------


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (262144, 10000), (0, 0)])
def test_cpu_shares_map_to_weight_as_runc_does(shares, weight):
    assert minirun.shares_to_weight(shares) == weight


def test_weight_maps_back_to_shares_within_rounding():
    for shares in (2, 100, 1024, 5000, 262144):
        assert abs(minirun.weight_to_shares(minirun.shares_to_weight(shares)) - shares) <= 27


def plan(raw, version):
    return [(field, ctrl, files[0][0], files[0][1])
            for field, ctrl, files in minirun.plan_resource_writes(parse(raw), lambda c: version)]


def test_v1_files_and_values():
    raw = {"memory": {"limit": 1 << 26, "swap": 1 << 27, "reservation": 1 << 25, "swappiness": 10,
                      "disableOOMKiller": True},
           "cpu": {"shares": 512, "quota": 20000, "period": 50000, "burst": 1000, "realtimeRuntime": 950,
                   "realtimePeriod": 1000000, "cpus": "0", "mems": "0", "idle": 0},
           "pids": {"limit": -1},
           "blockIO": {"weight": 300, "leafWeight": 200, "weightDevice": [{"major": 8, "minor": 0, "weight": 400}],
                       "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}]},
           "hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}],
           "network": {"classID": 0x100001, "priorities": [{"name": "eth0", "priority": 5}]},
           "rdma": {"mlx4_0": {"hcaHandles": 2}}}
    assert plan(raw, 1) == [
        ("linux.resources.memory.limit", "memory", "memory.limit_in_bytes", "67108864"),
        ("linux.resources.memory.swap", "memory", "memory.memsw.limit_in_bytes", "134217728"),
        ("linux.resources.memory.reservation", "memory", "memory.soft_limit_in_bytes", "33554432"),
        ("linux.resources.memory.swappiness", "memory", "memory.swappiness", "10"),
        ("linux.resources.memory.disableOOMKiller", "memory", "memory.oom_control", "1"),
        ("linux.resources.cpu.shares", "cpu", "cpu.shares", "512"),
        ("linux.resources.cpu.period", "cpu", "cpu.cfs_period_us", "50000"),
        ("linux.resources.cpu.quota", "cpu", "cpu.cfs_quota_us", "20000"),
        ("linux.resources.cpu.burst", "cpu", "cpu.cfs_burst_us", "1000"),
        ("linux.resources.cpu.realtimePeriod", "cpu", "cpu.rt_period_us", "1000000"),
        ("linux.resources.cpu.realtimeRuntime", "cpu", "cpu.rt_runtime_us", "950"),
        ("linux.resources.cpu.idle", "cpu", "cpu.idle", "0"),
        ("linux.resources.cpu.cpus", "cpuset", "cpuset.cpus", "0"),
        ("linux.resources.cpu.mems", "cpuset", "cpuset.mems", "0"),
        ("linux.resources.pids.limit", "pids", "pids.max", "max"),
        ("linux.resources.blockIO.weight", "blkio", "blkio.weight", "300"),
        ("linux.resources.blockIO.leafWeight", "blkio", "blkio.leaf_weight", "200"),
        ("linux.resources.blockIO.weightDevice", "blkio", "blkio.weight_device", "8:0 400"),
        ("linux.resources.blockIO.throttleWriteIOPSDevice", "blkio", "blkio.throttle.write_iops_device", "8:0 100"),
        ("linux.resources.hugepageLimits", "hugetlb", "hugetlb.2MB.limit_in_bytes", "2097152"),
        ("linux.resources.network.classID", "net_cls", "net_cls.classid", "1048577"),
        ("linux.resources.network.priorities", "net_prio", "net_prio.ifpriomap", "eth0 5"),
        ("linux.resources.rdma.mlx4_0", "rdma", "rdma.max", "mlx4_0 hca_handle=2 hca_object=max"),
    ]


def test_v2_files_and_values():
    raw = {"memory": {"limit": 1 << 26, "swap": 1 << 27, "reservation": 1 << 25},
           "cpu": {"shares": 1024, "quota": 20000, "burst": 10, "cpus": "0-1"},
           "pids": {"limit": 32},
           "blockIO": {"weight": 10, "throttleReadBpsDevice": [{"major": 8, "minor": 16, "rate": 1048576}]},
           "hugepageLimits": [{"pageSize": "1GB", "limit": 0}],
           "unified": {"memory.high": "50M"}}
    assert plan(raw, 2) == [
        ("linux.resources.memory.limit", "memory", "memory.max", "67108864"),
        ("linux.resources.memory.reservation", "memory", "memory.low", "33554432"),
        ("linux.resources.memory.swap", "memory", "memory.swap.max", "67108864"),
        ("linux.resources.cpu.shares", "cpu", "cpu.weight", "39"),
        ("linux.resources.cpu.quota", "cpu", "cpu.max", "20000 100000"),
        ("linux.resources.cpu.burst", "cpu", "cpu.max.burst", "10"),
        ("linux.resources.cpu.cpus", "cpuset", "cpuset.cpus", "0-1"),
        ("linux.resources.pids.limit", "pids", "pids.max", "32"),
        ("linux.resources.blockIO.weight", "io", "io.bfq.weight", "10"),
        ("linux.resources.blockIO.throttleReadBpsDevice", "io", "io.max", "8:16 rbps=1048576"),
        ("linux.resources.hugepageLimits", "hugetlb", "hugetlb.1GB.max", "0"),
        ("linux.resources.unified.memory.high", "memory", "memory.high", "50M"),
    ]
    # io.weight is the fallback when the kernel has no BFQ weight file.
    weight = minirun.plan_resource_writes(parse({"blockIO": {"weight": 1000}}), lambda c: 2)[0][2]
    assert weight == [("io.bfq.weight", "1000"), ("io.weight", "default 10000")]
    assert plan({"cpu": {"quota": -1, "period": 20000}}, 2)[0][3] == "max 20000"
    assert plan({"memory": {"limit": 100, "swap": -1}}, 2)[1][3] == "max"


@pytest.mark.parametrize("raw, version, field", [
    ({"memory": {"swappiness": 60}}, 2, "linux.resources.memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, 2, "linux.resources.memory.disableOOMKiller"),
    ({"memory": {"swap": 1 << 20}}, 2, "linux.resources.memory.swap"),
    ({"cpu": {"realtimeRuntime": 1000}}, 2, "linux.resources.cpu.realtimeRuntime"),
    ({"blockIO": {"leafWeight": 100}}, 2, "linux.resources.blockIO.leafWeight"),
    ({"unified": {"memory.high": "1M"}}, 1, "linux.resources.unified.memory.high"),
])
def test_what_a_cgroup_version_cannot_do_is_refused_naming_the_field(raw, version, field):
    with pytest.raises(Error, match="^" + field.replace(".", r"\.") + ": "):
        minirun.plan_resource_writes(parse(raw), lambda c: version)


def fake_v1(tmp_path, files):
    """A v1 cgroup per controller in tmp_path holding `files` (empty)."""
    dirs = []
    for ctrl in ("memory", "cpu", "pids", "devices", "freezer"):
        d = tmp_path / ctrl / "ctr"
        d.mkdir(parents=True)
        for name in files:
            if name.startswith(ctrl + ".") or (ctrl == "devices" and name.startswith("devices.")):
                (d / name).write_text("")
        dirs.append((str(d), [ctrl], str(tmp_path / ctrl)))
    return minirun.CgroupfsManager("v1", dirs)


def test_apply_writes_each_value_into_its_controllers_file(tmp_path):
    manager = fake_v1(tmp_path, ["memory.limit_in_bytes", "cpu.shares", "pids.max", "devices.allow", "devices.deny"])
    manager.apply(parse({"memory": {"limit": 1 << 26}, "cpu": {"shares": 256}, "pids": {"limit": 7}}))
    assert (tmp_path / "memory/ctr/memory.limit_in_bytes").read_text() == "67108864"
    assert (tmp_path / "cpu/ctr/cpu.shares").read_text() == "256"
    assert (tmp_path / "pids/ctr/pids.max").read_text() == "7"


def test_a_missing_controller_or_file_is_an_error_naming_the_field(tmp_path):
    manager = fake_v1(tmp_path, ["memory.limit_in_bytes", "devices.allow", "devices.deny"])
    with pytest.raises(Error, match=r"^linux\.resources\.blockIO\.weight: this host has no blkio cgroup controller"):
        manager.apply(parse({"blockIO": {"weight": 100}}))
    with pytest.raises(Error, match=r"^linux\.resources\.memory\.swap: this host's kernel has no memory\.memsw"):
        manager.apply(parse({"memory": {"swap": -1}}))


def test_update_rewrites_device_rules_only_when_it_gives_some(tmp_path):
    # Docker's update sends no device rules: the container's rules must stay
    # as create wrote them (a rewrite would reset them to the defaults).
    manager = fake_v1(tmp_path, ["pids.max", "devices.allow", "devices.deny"])
    devices = tmp_path / "devices/ctr"
    manager.update(minirun.parse_update({"pids": {"limit": 9}}))
    assert (tmp_path / "pids/ctr/pids.max").read_text() == "9"
    assert (devices / "devices.allow").read_text() == (devices / "devices.deny").read_text() == ""
    manager.update(minirun.parse_update({"devices": [{"allow": False, "type": "c", "major": 10, "minor": 229,
                                                      "access": "rw"}]}))
    assert (devices / "devices.deny").read_text() != "" and (devices / "devices.allow").read_text() != ""


def test_update_with_check_before_update_refuses_a_limit_below_usage(tmp_path):
    manager = fake_v1(tmp_path, ["memory.limit_in_bytes", "memory.usage_in_bytes"])
    (tmp_path / "memory/ctr/memory.usage_in_bytes").write_text("5000000\n")
    with pytest.raises(Error, match=r"resources\.memory\.limit: 4096 is below the current usage"):
        manager.update(minirun.parse_update({"memory": {"limit": 4096, "checkBeforeUpdate": True}}))
    manager.update(minirun.parse_update({"memory": {"limit": 8 << 20, "checkBeforeUpdate": True}}))
    assert (tmp_path / "memory/ctr/memory.limit_in_bytes").read_text() == str(8 << 20)


# --- devices -------------------------------------------------------------------------


def test_effective_rules_are_deny_all_the_configs_then_runcs_defaults():
    config = [DeviceRule(True, "b", 7, None, "r")]
    rules = minirun.effective_device_rules(config)
    assert rules[0] == DeviceRule(False) and rules[1] == config[0]
    assert rules[2:] == [DeviceRule(True, *rule) for rule in minirun.DEFAULT_DEVICE_RULES]
    assert DeviceRule(True, "c", 136, None, "rwm") in rules and DeviceRule(True, "c", 5, 1, "rwm") not in rules


def test_v1_device_writes_deny_everything_first():
    writes = minirun.v1_device_writes(minirun.effective_device_rules([DeviceRule(True, "c", 4, None, "rw")]))
    assert writes[:4] == [("devices.deny", "a"), ("devices.allow", "c 4:* rw"), ("devices.allow", "c *:* m"),
                          ("devices.allow", "b *:* m")]


def test_v1_deny_rules_go_to_devices_deny_with_their_numbers():
    # An engine that allows everything but one device (a --privileged container
    # with a device denied) must see that device refused, not added to the allow list.
    rules = [DeviceRule(True), DeviceRule(False, "c", 10, 229, "rw"), DeviceRule(False, "b", 8, None, "m")]
    assert minirun.v1_device_writes(rules) == [("devices.allow", "a"), ("devices.deny", "c 10:229 rw"),
                                               ("devices.deny", "b 8:* m")]


def decide(rules, kind, major, minor, access):
    return ebpf.run(minirun.device_program(rules), kind, major, minor, access)


def test_default_program_allows_the_standard_devices_and_mknod_only():
    rules = minirun.effective_device_rules(None)
    assert decide(rules, "c", 1, 3, "rw") == 1          # /dev/null
    assert decide(rules, "c", 1, 9, "r") == 1           # urandom
    assert decide(rules, "c", 136, 42, "rw") == 1       # a pts
    assert decide(rules, "c", 5, 2, "rw") == 1          # ptmx
    assert decide(rules, "c", 10, 259, "m") == 1        # mknod of anything...
    assert decide(rules, "c", 10, 259, "r") == 0        # ...but not opening it
    assert decide(rules, "b", 253, 0, "rw") == 0
    assert decide(rules, "b", 253, 0, "m") == 1
    assert decide(rules, "c", 5, 1, "w") == 0           # the host console
    assert decide(rules, "c", 1, 3, "rwm") == 1


def test_later_rules_win_and_partial_access_is_checked_bit_by_bit():
    rules = [DeviceRule(False), DeviceRule(True, "c", 4, None, "rwm"), DeviceRule(False, "c", 4, 2, "w"),
             DeviceRule(True, "b", None, 1, "r")]
    assert decide(rules, "c", 4, 2, "r") == 1
    assert decide(rules, "c", 4, 2, "w") == 0
    assert decide(rules, "c", 4, 2, "rw") == 1     # the deny covers only w; the rwm allow covers rw
    assert decide(rules, "c", 4, 3, "w") == 1
    assert decide(rules, "b", 8, 1, "r") == 1       # major wildcard
    assert decide(rules, "b", 8, 1, "rw") == 0      # w is not allowed for block devices
    assert decide(rules, "b", 8, 2, "r") == 0
    assert decide(rules, "c", 9, 1, "r") == 0       # type matters


def test_an_allow_all_rule_as_privileged_containers_send_allows_everything():
    rules = minirun.effective_device_rules([DeviceRule(True, "a", None, None, "rwm")])
    assert decide(rules, "b", 253, 0, "rwm") == 1 and decide(rules, "c", 10, 259, "rw") == 1
    # The catch-all ends the program: what comes before it (deny-all) is never tested.
    assert minirun.device_program(rules)[-2:] == [(0xb7, 0, 0, 0, 1), (0x95, 0, 0, 0, 0)]


def test_a_deny_all_last_denies_everything():
    rules = minirun.effective_device_rules(None) + [DeviceRule(False)]
    assert minirun.device_program(rules) == [
        (0x61, 2, 1, 0, 0), (0xbf, 3, 2, 0, 0), (0x57, 2, 0, 0, 0xFFFF), (0x77, 3, 0, 0, 16),
        (0x61, 4, 1, 4, 0), (0x61, 5, 1, 8, 0), (0xb7, 0, 0, 0, 0), (0x95, 0, 0, 0, 0)]
    assert decide(rules, "c", 1, 3, "r") == 0


def test_instructions_encode_as_struct_bpf_insn():
    assert minirun.ebpf_bytes([(0x61, 4, 1, 4, 0), (0x55, 2, 0, 3, 2), (0xb7, 0, 0, 0, -1)]) == bytes.fromhex(
        "6114040000000000" "5502030002000000" "b7000000ffffffff")


# --- the systemd driver's D-Bus encoding --------------------------------------------


def string(code, value):
    data = value.encode()
    return struct.pack("<B", code) + b"\x01" + (b"o" if code == 1 else b"s") + b"\0" + struct.pack("<I", len(data)) + data + b"\0"


def test_hello_message_is_byte_exact():
    expected = (b"l\x01\x00\x01" + struct.pack("<II", 0, 1) + struct.pack("<I", 109)
                + string(1, "/org/freedesktop/DBus") + b"\0" * 2          # 30 bytes, pad to 8
                + string(2, "org.freedesktop.DBus") + b"\0" * 3           # 29 bytes
                + string(3, "Hello") + b"\0" * 2                          # 14 bytes
                + string(6, "org.freedesktop.DBus") + b"\0" * 3)          # 29, then the header's pad to 8
    message = minirun.dbus_message(minirun.DBUS_METHOD_CALL, 1, {
        "path": "/org/freedesktop/DBus", "interface": "org.freedesktop.DBus", "member": "Hello",
        "destination": "org.freedesktop.DBus"})
    assert message == expected and len(message) == 128


def test_property_array_is_byte_exact():
    body = minirun.dbus_marshal("a(sv)", [[("Delegate", ("b", True)), ("PIDs", ("au", [7]))]])
    assert bytes(body) == (struct.pack("<I", 48) + b"\0" * 4                  # length, pad to the struct
                           + struct.pack("<I", 8) + b"Delegate\0" + b"\x01b\0" + struct.pack("<I", 1)
                           + b"\0" * 4                                           # next struct at 8
                           + struct.pack("<I", 4) + b"PIDs\0" + b"\x02au\0" + b"\0" * 3    # the array aligns to 4
                           + struct.pack("<II", 4, 7))


def test_start_transient_unit_round_trips_through_the_parser():
    manager = minirun.SystemdCgroupManager("v2", [], "system.slice", "minirun-x.scope")
    props = manager.scope_properties(1234, parse({"memory": {"limit": 1 << 26}, "pids": {"limit": 5},
                                                   "cpu": {"quota": 50000, "period": 100000}}))
    body = ["minirun-x.scope", "replace", props, []]
    message = minirun.dbus_message(minirun.DBUS_METHOD_CALL, 7, dict(zip(
        ("destination", "path", "interface"), minirun.SYSTEMD_BUS), member="StartTransientUnit"),
        "ssa(sv)a(sa(sv))", body)
    kind, serial, fields, values, used = minirun.dbus_parse_message(message)
    assert (kind, serial, used, fields["member"], fields["signature"]) == (1, 7, len(message), "StartTransientUnit",
                                                                         "ssa(sv)a(sa(sv))")
    assert values[0:2] == ["minirun-x.scope", "replace"] and values[3] == []
    got = dict(values[2])
    assert got["Delegate"] == ("b", 1) and got["PIDs"] == ("au", [1234]) and got["Slice"] == ("s", "system.slice")
    assert got["MemoryMax"] == ("t", 1 << 26) and got["TasksMax"] == ("t", 5)
    assert got["CPUQuotaPerSecUSec"] == ("t", 500000)


@pytest.mark.parametrize("quota, period, per_sec", [
    (20000, 50000, 400000),     # the configured period counts: a fixed 100 ms would give 200000
    (12345, 100000, 130000),    # 123450 us a second, rounded up to whole 10 ms as systemd stores it
    (5000, 10000, 500000),
    (10000, None, 100000),      # no period: the kernel's default of 100 ms
])
def test_systemds_cpu_quota_per_second_uses_the_configured_period(quota, period, per_sec):
    cpu = {"quota": quota} if period is None else {"quota": quota, "period": period}
    for layout in ("v2", "v1"):
        got = dict(minirun.systemd_unit_properties(parse({"cpu": cpu}), layout))
        assert got["CPUQuotaPerSecUSec"] == ("t", per_sec), layout
        assert ("CPUQuotaPeriodUSec" in got) == (period is not None)


def test_an_error_reply_is_parsed_with_its_name_and_text():
    reply = minirun.dbus_message(minirun.DBUS_ERROR, 3, {"reply_serial": 2,
                                                         "error_name": "org.freedesktop.systemd1.NoSuchUnit"},
                                 "s", ["Unit x.scope not loaded."])
    kind, _, fields, body, _ = minirun.dbus_parse_message(reply + b"trailing")
    assert (kind, fields["reply_serial"], fields["error_name"], body) == (
        3, 2, "org.freedesktop.systemd1.NoSuchUnit", ["Unit x.scope not loaded."])
    assert minirun.dbus_parse_message(reply[:-1]) is None


def test_without_a_reachable_bus_the_systemd_driver_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=%s/none" % tmp_path)
    with pytest.raises(Error, match="systemd: cannot reach D-Bus at %s/none" % tmp_path):
        minirun.dbus_connect()


ANSWERS = {"s": ":1.5", "o": "/org/freedesktop/systemd1/job/7",
           "v": ("s", "/user.slice/user-1000.slice/user@1000.service")}


def serve_one_connection(path, answers):
    """A stand-in bus (or systemd) on a unix socket: SASL, then one reply per
    call of `answers` (their signatures), each after a signal the client must
    skip. Returns the thread and what it saw."""
    import socket
    import threading
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    seen = {"calls": []}

    def read_message(conn, buffer):
        while True:
            parsed = minirun.dbus_parse_message(buffer)
            if parsed:
                return parsed, buffer[parsed[4]:]
            buffer += conn.recv(65536)

    def serve():
        conn, _ = server.accept()
        auth = b""
        while not auth.endswith(b"\r\n"):
            auth += conn.recv(1)
        seen["auth"] = auth
        conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        begin = b""
        while not begin.endswith(b"BEGIN\r\n"):
            begin += conn.recv(1)
        buffer = b""
        for answer in answers:
            (kind, serial, fields, body, _), buffer = read_message(conn, buffer)
            seen["calls"].append((fields["member"], body))
            conn.sendall(minirun.dbus_message(minirun.DBUS_SIGNAL, 90, {
                "path": "/org/freedesktop/DBus", "interface": "org.freedesktop.DBus", "member": "NameAcquired"},
                "s", [":1.5"]))
            conn.sendall(minirun.dbus_message(minirun.DBUS_METHOD_RETURN, 91, {"reply_serial": serial},
                                              answer, [ANSWERS[answer]]))
        conn.close()
        server.close()

    # a daemon: a client that never connects (a test failing) must not keep pytest from exiting
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, seen


def test_the_client_authenticates_says_hello_and_matches_replies_by_serial(tmp_path, monkeypatch):
    path = str(tmp_path / "bus")
    thread, seen = serve_one_connection(path, ["s", "o"])
    try:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + path)
        bus = minirun.dbus_connect(timeout=30)
        reply = bus.call(*minirun.SYSTEMD_BUS, "StopUnit", "ss", ["minirun-x.scope", "replace"])
        bus.close()
    finally:
        thread.join(30)
    assert seen["auth"] == b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n"
    assert seen["calls"] == [("Hello", []), ("StopUnit", ["minirun-x.scope", "replace"])]
    assert reply == ["/org/freedesktop/systemd1/job/7"]


def test_root_talks_to_systemd_on_its_private_socket_without_hello(tmp_path, monkeypatch):
    # as runc does as root: no dbus-daemon needed; a peer connection has no bus to greet
    path = str(tmp_path / "private")
    thread, seen = serve_one_connection(path, ["o"])
    try:
        monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
        monkeypatch.setattr(minirun, "SYSTEMD_PRIVATE_SOCKET", path)
        monkeypatch.setattr(minirun.os, "geteuid", lambda: 0)
        bus = minirun.dbus_connect(timeout=30)
        reply = bus.call(*minirun.SYSTEMD_BUS, "StopUnit", "ss", ["minirun-x.scope", "replace"])
        bus.close()
    finally:
        thread.join(30)
    assert seen["auth"] == b"\0AUTH EXTERNAL " + b"0".hex().encode() + b"\r\n"
    assert seen["calls"] == [("StopUnit", ["minirun-x.scope", "replace"])]
    assert reply == ["/org/freedesktop/systemd1/job/7"]


def test_without_the_private_socket_root_uses_the_system_bus(tmp_path, monkeypatch):
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    monkeypatch.setattr(minirun, "SYSTEMD_PRIVATE_SOCKET", str(tmp_path / "absent"))
    monkeypatch.setattr(minirun, "SYSTEM_BUS_ADDRESS", "unix:path=%s/bus" % tmp_path)
    monkeypatch.setattr(minirun.os, "geteuid", lambda: 0)
    with pytest.raises(Error, match="systemd: cannot reach D-Bus at %s/bus " % tmp_path):
        minirun.dbus_connect()


def test_a_user_talks_to_its_own_systemd_on_its_private_socket_and_learns_its_cgroup(tmp_path, monkeypatch):
    # rootless --systemd-cgroup: the user's instance listens at $XDG_RUNTIME_DIR/systemd/private
    (tmp_path / "systemd").mkdir()
    thread, seen = serve_one_connection(str(tmp_path / "systemd" / "private"), ["v"])
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        bus = minirun.dbus_connect(timeout=30, user=True)
        root = minirun.systemd_manager_cgroup(bus)
        bus.close()
    finally:
        thread.join(30)
    assert seen["calls"] == [("Get", ["org.freedesktop.systemd1.Manager", "ControlGroup"])]     # no Hello
    assert root == "/user.slice/user-1000.slice/user@1000.service"


def test_a_rootless_scope_is_stopped_by_the_users_own_systemd(tmp_path, monkeypatch):
    (tmp_path / "systemd").mkdir()
    scope = tmp_path / "minirun-x.scope"
    scope.mkdir()
    manager = minirun.SystemdCgroupManager("v2", [(str(scope), None, str(tmp_path))], "user.slice",
                                           "minirun-x.scope", started=True, user=True)
    thread, seen = serve_one_connection(str(tmp_path / "systemd" / "private"), ["o"])
    try:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=%s/no-system-bus" % tmp_path)
        minirun.manager_from_state(manager.to_state()).destroy()
    finally:
        thread.join(30)
    assert seen["calls"] == [("StopUnit", ["minirun-x.scope", "replace"])]
    assert not scope.exists()


def test_thawing_a_cgroup_that_is_gone_is_done_and_one_that_exists_is_still_checked(tmp_path):
    # after SIGKILL through a frozen v2 cgroup systemd removes the emptied scope
    gone = minirun.CgroupfsManager("v2", [(str(tmp_path / "scope"), None, str(tmp_path))])
    gone.thaw()
    (tmp_path / "scope").mkdir()
    with pytest.raises(Error, match="no freezer"):
        gone.thaw()


def test_without_a_runtime_dir_or_session_bus_the_users_systemd_cannot_be_reached(monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(Error, match="--systemd-cgroup: no systemd user instance"):
        minirun.dbus_connect(user=True)


def test_sasl_external_claims_the_uid_the_host_sees(tmp_path, monkeypatch):
    # rootless podman runs the runtime as root of a user namespace; systemd checks SO_PEERCRED
    uid_map = tmp_path / "uid_map"
    uid_map.write_text("         0       1000          1\n         1     100000      65536\n")
    monkeypatch.setattr(minirun.os, "geteuid", lambda: 0)
    assert minirun.uid_outside(str(uid_map)) == 1000
    monkeypatch.setattr(minirun.os, "geteuid", lambda: 5)
    assert minirun.uid_outside(str(uid_map)) == 100004


# --- a recorded cgroup is checked before use; exec's --cgroup ---------------------------


def v2_layout(mountpoint="/sys/fs/cgroup"):
    layout = minirun.CgroupLayout()
    layout.kind, layout.unified, layout.unified_root, layout.hierarchies = "v2", mountpoint, "/", {}
    return layout


def recorded(*dirs, mountpoint="/sys/fs/cgroup"):
    return minirun.CgroupfsManager("v2", [(d, None, mountpoint) for d in dirs])


RUNTIME = {"": "/user.slice/session-1.scope"}


def test_a_cgroup_create_made_is_the_containers_without_an_init():
    manager = recorded("/sys/fs/cgroup/docker/c1abc")
    made = ["/sys/fs/cgroup/docker/c1abc"]
    assert minirun.check_container_cgroup(manager, "c1abc", None, v2_layout(), [RUNTIME], made) is manager


@pytest.mark.parametrize("cid", ["c1abc", "sys", "fs", "cgroup", "docker"])
def test_a_cgroup_named_for_the_container_that_create_did_not_make_is_not_its(cid):
    # a cgroup found there at create may be shared: an id in its path proves nothing
    with pytest.raises(Error, match="is not the container's"):
        minirun.check_container_cgroup(recorded("/sys/fs/cgroup/docker/c1abc"), cid, None, v2_layout(), [RUNTIME])


@pytest.mark.parametrize("directory,why", [
    ("/sys/fs/cgroup/docker/other", "is not the container's"),          # made for somebody else
    ("/sys/fs/cgroup/user.slice", "holds the runtime or the host's init"),  # an ancestor of ours
    ("/sys/fs/cgroup", "is not a cgroup of this host"),                 # the root: every process
    ("/etc/c1abc", "is not a cgroup of this host"),
])
def test_a_recorded_cgroup_that_is_not_the_containers_is_refused(directory, why):
    made = [] if directory.endswith("other") else [directory]
    with pytest.raises(Error, match=why):
        minirun.check_container_cgroup(recorded(directory), "c1abc", None, v2_layout(), [RUNTIME], made)


def test_with_a_proven_init_its_own_cgroup_is_accepted_whatever_its_name():
    with open("/proc/self/cgroup") as groups:
        own = next(line.rstrip("\n").split(":", 2)[2] for line in groups if line.startswith("0::"))
    directory = os.path.normpath("/sys/fs/cgroup" + own)
    manager = recorded(directory)
    if own == "/":
        pytest.skip("this process is in the root cgroup, which is never a container's")
    assert minirun.check_container_cgroup(manager, "c1abc", os.getpid(), v2_layout(), []) is manager
    # ...but not a cgroup create made that does not hold the init
    with pytest.raises(Error, match="is not the container's"):
        minirun.check_container_cgroup(recorded("/sys/fs/cgroup/x/c1abc"), "c1abc", os.getpid(), v2_layout(), [],
                                       ["/sys/fs/cgroup/x/c1abc"])
    # an ancestor holds the init (below it), but is the container's only if create made it
    parent = os.path.dirname(directory)
    if parent != "/sys/fs/cgroup":
        with pytest.raises(Error, match="is not the container's"):
            minirun.check_container_cgroup(recorded(parent), "c1abc", os.getpid(), v2_layout(), [])
        assert minirun.check_container_cgroup(recorded(parent), "c1abc", os.getpid(), v2_layout(), [], [parent])


def test_create_records_only_the_cgroup_directories_it_made(tmp_path):
    mountpoint = str(tmp_path)
    leaf = str(tmp_path / "pods" / "c1")
    first = minirun.CgroupfsManager("v1", [(leaf, ["pids"], mountpoint)])
    first.create()
    assert first.to_state()["made"] == [leaf]
    # a second container given the same cgroupsPath finds it there: not its own
    second = minirun.CgroupfsManager("v1", [(leaf, ["pids"], mountpoint)])
    second.create()
    assert second.to_state()["made"] == []


def test_exec_joins_the_containers_cgroup_or_an_existing_sub_cgroup_of_it(tmp_path):
    mountpoint = str(tmp_path)
    container = tmp_path / "minirun" / "c1"
    (container / "sub" / "leaf").mkdir(parents=True)
    manager = minirun.CgroupfsManager("v2", [(str(container), None, mountpoint)])
    assert minirun.exec_cgroup_dirs(manager, []) == [str(container)]
    assert minirun.exec_cgroup_dirs(manager, ["sub/leaf"]) == [str(container / "sub" / "leaf")]
    assert minirun.exec_cgroup_dirs(manager, ["/"]) == [str(container)]  # the container's own
    assert minirun.exec_cgroup_dirs(manager, ["memory:/sub"]) == [str(container / "sub")]
    with pytest.raises(Error, match="does not exist"):
        minirun.exec_cgroup_dirs(manager, ["missing"])
    for escape in ("../other", "sub/../../x", "memory:..", "a:b:c"):
        with pytest.raises(minirun.UsageError, match="inside the container's cgroup"):
            minirun.exec_cgroup_dirs(manager, [escape])


def test_exec_cgroup_flags_each_name_their_v1_hierarchies(tmp_path):
    mountpoint = str(tmp_path)
    dirs = {}
    for ctrls in (["memory"], ["cpu", "cpuacct"], ["pids"]):
        d = tmp_path / ",".join(ctrls) / "c1"
        for sub in ("sub1", "sub2"):
            (d / sub).mkdir(parents=True)
        dirs[ctrls[0]] = (str(d), ctrls, mountpoint)
    manager = minirun.CgroupfsManager("v1", list(dirs.values()))
    got = minirun.exec_cgroup_dirs(manager, ["memory:sub1", "cpu,cpuacct:sub2"])
    assert got == [dirs["memory"][0] + "/sub1", dirs["cpu"][0] + "/sub2", dirs["pids"][0]]
    assert minirun.exec_cgroup_dirs(manager, ["pids:/"]) == [d for d, _, _ in dirs.values()]


@pytest.mark.parametrize("specs, complaint", [
    (["sub1", "memory:sub2"], "must be the only --cgroup"),
    (["memory:sub1", "memory:sub2"], "memory given more than once"),
    ([":sub1"], "an empty controller name"),
    (["cpu:sub1", "cpuacct:sub2"], "one hierarchy, different paths"),
    (["blkio:sub1"], "no blkio hierarchy"),
])
def test_exec_cgroup_flags_that_contradict_each_other_are_refused(tmp_path, specs, complaint):
    d = tmp_path / "cpu,cpuacct" / "c1"
    for sub in ("sub1", "sub2"):
        (d / sub).mkdir(parents=True)
    manager = minirun.CgroupfsManager("v1", [(str(d), ["cpu", "cpuacct"], str(tmp_path))])
    with pytest.raises(minirun.UsageError, match=complaint):
        minirun.exec_cgroup_dirs(manager, specs)
