"""linux.intelRdt: the config's fields (section 4), the plan against a resctrl
tree (section 15) and what create, exec, update and delete do in it (section
11).

The tree is a tmp dir laid out as the kernel lays resctrl out (info/L3,
info/MB, info/L3_MON, the root's schemata and tasks, mon_groups/), and a
Kernel double that, like the kernel, fills a directory made in it with a
group's files and removes a group whole. No host's resctrl is touched.
"""

import os
import shutil

import pytest

import minirun

from .helpers import base_config
from .kernel_double import RecordingKernel


def resctrl_tree(root, mba=True, monitoring=True, groups=None):
    """A resctrl mount as the kernel shows it on a one-socket host with CAT
    (and MBA, and CMT/MBM), with pre-made `groups` {name: schemata}."""
    info = root / "info"
    (info / "L3").mkdir(parents=True)
    (info / "L3" / "cbm_mask").write_text("7ff\n")
    (info / "L3" / "min_cbm_bits").write_text("1\n")
    (info / "L3" / "num_closids").write_text("16\n")
    if mba:
        (info / "MB").mkdir()
        (info / "MB" / "min_bandwidth").write_text("10\n")
        (info / "MB" / "bandwidth_gran").write_text("10\n")
    if monitoring:
        (info / "L3_MON").mkdir()
        (info / "L3_MON" / "mon_features").write_text("llc_occupancy\nmbm_total_bytes\n")
    (info / "last_cmd_status").write_text("ok\n")
    (root / "schemata").write_text("    L3:0=7ff\n" + ("    MB:0=100\n" if mba else ""))
    (root / "tasks").write_text("")
    (root / "mon_groups").mkdir()
    for name, schemata in (groups or {}).items():
        fill_group(root / name, schemata)
    return root


def fill_group(path, schemata="    L3:0=7ff\n    MB:0=100\n"):
    path.mkdir(exist_ok=True)
    (path / "schemata").write_text(schemata)
    (path / "tasks").write_text("")
    (path / "mon_groups").mkdir()


class ResctrlKernel(RecordingKernel):
    """The kernel's side of resctrl: mkdir makes a group with its files,
    rmdir removes it whole, a write to tasks or schemata replaces the file
    (the real file would show the merged state; the test reads what was
    written)."""

    def __init__(self, root, refuse_schemata=None):
        super().__init__(root)
        self.refuse_schemata = refuse_schemata

    def mkdir(self, path, mode, dir_fd=None):
        super().mkdir(path, mode, dir_fd)
        if os.path.basename(os.path.dirname(path)) == "mon_groups":
            open(os.path.join(path, "tasks"), "w").close()
        else:
            for name in ("schemata", "tasks"):
                open(os.path.join(path, name), "w").close()
            os.mkdir(os.path.join(path, "mon_groups"))

    def rmdir(self, path):
        self.record("rmdir", path)
        shutil.rmtree(path)

    def write_file(self, path, text):
        if self.refuse_schemata and path.endswith("/schemata"):
            self.record("write_file", path, text)
            with open(os.path.join(self.root, "resctrl", "info", "last_cmd_status"), "w") as status:
                status.write(self.refuse_schemata + "\n")
            raise OSError(22, "Invalid argument", path)
        if os.path.exists(path):
            os.truncate(path, 0)  # a kernfs file takes each write whole; a regular one would keep a longer tail
        super().write_file(path, text)


def rdt_config(**fields):
    raw = base_config()
    raw["linux"]["intelRdt"] = fields
    return minirun.parse_config(raw, "/bundle")


def plan(tmp_path, cid="c1", tree=None, **fields):
    root = str(tree or resctrl_tree(tmp_path / "resctrl"))
    cfg = rdt_config(**fields)
    group = cfg.intel_rdt.clos_id or cid
    return minirun.plan_intel_rdt(cfg.intel_rdt, cid, minirun.read_resctrl(root, group, cid))


def refusal(tmp_path, **fields):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, **fields)
    return caught.value


# --- the config's fields --------------------------------------------------------------


def test_the_lines_come_in_the_spec_s_order_and_mem_bw_schema_replaces_an_mb_line():
    rdt = rdt_config(l3CacheSchema="L3:0=7f0\nMB:0=50", memBwSchema="MB:0=20",
                     schemata=["L2:0=f"]).intel_rdt
    assert rdt.lines() == ["L3:0=7f0", "MB:0=20", "L2:0=f"]


@pytest.mark.parametrize("fields,field", [
    ({"closID": ".."}, "linux.intelRdt.closID"),
    ({"closID": "a/b"}, "linux.intelRdt.closID"),
    ({"closID": "info"}, "linux.intelRdt.closID"),
    ({"closID": "mon_groups"}, "linux.intelRdt.closID"),
    ({"memBwSchema": "L3:0=ff"}, "linux.intelRdt.memBwSchema"),
    ({"memBwSchema": "MB:0=20\nL3:0=1"}, "linux.intelRdt.memBwSchema"),
    ({"schemata": ["L3:0=ff", 7]}, "linux.intelRdt.schemata[1]"),
    ({"schemata": ["no colon"]}, "linux.intelRdt.schemata[0]"),
    ({"enableMonitoring": "yes"}, "linux.intelRdt.enableMonitoring"),
])
def test_a_bad_field_is_refused_naming_it(fields, field):
    with pytest.raises(minirun.ConfigError) as caught:
        rdt_config(**fields)
    assert caught.value.field == field


def test_enable_cmt_and_enable_mbm_ask_for_the_monitoring_group_as_enable_monitoring_does():
    assert rdt_config(enableCMT=True).intel_rdt.monitoring
    assert rdt_config(enableMBM=True).intel_rdt.monitoring
    assert not rdt_config().intel_rdt.monitoring


# --- planning --------------------------------------------------------------------------


def test_without_resctrl_mounted_intel_rdt_is_refused_naming_the_field_and_the_reason():
    cfg = rdt_config(l3CacheSchema="L3:0=7f0")
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.plan_intel_rdt(cfg.intel_rdt, "c1", None)
    assert caught.value.field == "linux.intelRdt"
    assert "resctrl filesystem is not mounted" in caught.value.message


def test_a_group_named_after_the_container_is_made_with_the_lines_and_a_monitoring_group(tmp_path):
    p = plan(tmp_path, l3CacheSchema="L3:0=7f0", memBwSchema="MB:0=20", enableMonitoring=True)
    root = str(tmp_path / "resctrl")
    assert (p.root, p.group, p.make_group) == (root, root + "/c1", True)
    assert p.lines == ["L3:0=7f0", "MB:0=20"]
    assert p.monitor == root + "/c1/mon_groups/c1"


def test_a_group_named_after_the_container_that_exists_already_is_not_ours(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl", groups={"c1": "L3:0=7f0\n"})
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, tree=tree, l3CacheSchema="L3:0=7f0")
    assert caught.value.field == "linux.intelRdt" and "not this container's" in caught.value.message


def test_a_container_id_naming_a_resctrl_entry_needs_a_clos_id(tmp_path):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, cid="tasks", l3CacheSchema="L3:0=7f0")
    assert caught.value.field == "linux.intelRdt"


def test_an_existing_clos_id_with_the_same_schemata_is_joined_not_made(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl", groups={"gold": "    L3:0=07f0\n    MB:0=20\n"})
    p = plan(tmp_path, tree=tree, closID="gold", l3CacheSchema="L3:0=7f0", memBwSchema="MB:0=20")
    assert (p.group, p.make_group) == (str(tree / "gold"), False)


def test_an_existing_clos_id_with_other_schemata_is_refused(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl", groups={"gold": "    L3:0=7f0\n    MB:0=20\n"})
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, tree=tree, closID="gold", l3CacheSchema="L3:0=ff")
    assert caught.value.field == "linux.intelRdt.closID" and "other schemata" in caught.value.message


def test_a_clos_id_without_schemata_must_exist_beforehand(tmp_path):
    with pytest.raises(minirun.ConfigError) as caught:
        plan(tmp_path, closID="gold")
    assert caught.value.field == "linux.intelRdt.closID" and "beforehand" in caught.value.message
    tree = resctrl_tree(tmp_path / "other", groups={"gold": "    L3:0=7f0\n"})
    p = plan(tmp_path, tree=tree, closID="gold")
    assert (p.make_group, p.lines) == (False, [])


def test_a_clos_id_that_does_not_exist_is_made_when_schemata_are_given(tmp_path):
    p = plan(tmp_path, closID="gold", schemata=["L3:0=7f0"])
    assert (p.group, p.make_group) == (str(tmp_path / "resctrl" / "gold"), True)


def test_what_the_host_lacks_is_refused_naming_the_field(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl", mba=False, monitoring=False)
    assert refusal(tmp_path, tree=tree, memBwSchema="MB:0=20").field == "linux.intelRdt.memBwSchema"
    assert refusal(tmp_path, tree=tree, enableMonitoring=True).field == "linux.intelRdt.enableMonitoring"
    error = refusal(tmp_path, tree=tree, schemata=["L3:0=7f0", "SMBA:0=20"])
    assert error.field == "linux.intelRdt.schemata[1]" and "no resource 'SMBA'" in error.message
    assert refusal(tmp_path, tree=tree, schemata=["L3:0=zz"]).field == "linux.intelRdt.schemata[0]"


def test_schemata_match_compares_cache_masks_as_numbers_and_only_the_domains_given():
    assert minirun.schemata_match("L3:0=07f0;1=ff\nMB:0=20;1=30\n", ["L3:0=7f0"])
    assert not minirun.schemata_match("L3:0=7f0;1=ff\n", ["L3:1=fe"])
    assert not minirun.schemata_match("L3:0=7f0\n", ["MB:0=20"])


# --- create, exec, update, delete in the tree -------------------------------------------


def applied(tmp_path, pid=4242, **fields):
    tree = resctrl_tree(tmp_path / "resctrl")
    k = ResctrlKernel(tmp_path)
    record = minirun.apply_intel_rdt(k, plan(tmp_path, tree=tree, **fields), pid)
    return tree, k, record


def test_create_makes_the_group_writes_the_schemata_and_moves_the_init_there(tmp_path):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0", memBwSchema="MB:0=20", enableMonitoring=True)
    group = tree / "c1"
    assert (group / "schemata").read_text() == "L3:0=7f0\nMB:0=20\n"
    assert (group / "tasks").read_text() == "4242"
    assert (group / "mon_groups" / "c1" / "tasks").read_text() == "4242"
    assert record == {"root": str(tree), "group": str(group), "made": True,
                      "monitor": str(group / "mon_groups" / "c1")}
    # The group's tasks before the monitoring group's: the kernel moves a task
    # into a monitoring group only from its parent control group.
    writes = [call[1] for call in k.only("write_file")]
    assert writes == [str(group / "schemata"), str(group / "tasks"), str(group / "mon_groups/c1/tasks")]


def test_joining_an_existing_clos_id_writes_no_schemata_when_none_are_given(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl", groups={"gold": "    L3:0=7f0\n"})
    k = ResctrlKernel(tmp_path)
    record = minirun.apply_intel_rdt(k, plan(tmp_path, tree=tree, closID="gold"), 7)
    assert (tree / "gold" / "schemata").read_text() == "    L3:0=7f0\n"
    assert (tree / "gold" / "tasks").read_text() == "7"
    assert record["made"] is False and k.only("mkdir") == []


def test_a_refused_schemata_write_names_the_kernel_s_reason_and_leaves_nothing(tmp_path):
    tree = resctrl_tree(tmp_path / "resctrl")
    k = ResctrlKernel(tmp_path, refuse_schemata="Mask out of range")
    p = plan(tmp_path, tree=tree, l3CacheSchema="L3:0=fffff")
    with pytest.raises(minirun.Error) as caught:
        minirun.apply_intel_rdt(k, p, 4242)
    message = str(caught.value)
    assert message.startswith("linux.intelRdt: ") and "Mask out of range" in message
    assert "Errno" not in message
    assert not (tree / "c1").exists()


def test_delete_removes_only_what_create_made(tmp_path, monkeypatch):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0", enableMonitoring=True)
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: str(tree))
    minirun.remove_intel_rdt(k, record)
    assert not (tree / "c1").exists()
    assert [call[1] for call in k.only("rmdir")] == [record["monitor"], record["group"]]


def test_delete_leaves_a_clos_id_it_did_not_make_and_removes_its_own_monitoring_group(tmp_path, monkeypatch):
    tree = resctrl_tree(tmp_path / "resctrl", groups={"gold": "    L3:0=7f0\n"})
    k = ResctrlKernel(tmp_path)
    record = minirun.apply_intel_rdt(k, plan(tmp_path, tree=tree, closID="gold", enableMonitoring=True), 7)
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: str(tree))
    minirun.remove_intel_rdt(k, record)
    assert (tree / "gold" / "schemata").exists()
    assert not (tree / "gold" / "mon_groups" / "c1").exists()


def test_delete_after_resctrl_was_unmounted_has_nothing_to_remove(tmp_path, monkeypatch):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0")
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: None)
    minirun.remove_intel_rdt(k, record)
    assert k.only("rmdir") == []


def test_a_record_naming_another_resctrl_mount_is_refused_before_anything_is_removed(tmp_path, monkeypatch):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0")
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: "/sys/fs/resctrl")
    with pytest.raises(minirun.Error):
        minirun.remove_intel_rdt(k, record)
    assert k.only("rmdir") == [] and (tree / "c1").exists()


def test_exec_joins_the_group_then_the_monitoring_group(tmp_path, monkeypatch):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0", enableMonitoring=True)
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: str(tree))
    minirun.join_intel_rdt(k, record, 5151)
    assert (tree / "c1" / "tasks").read_text() == "5151"
    assert (tree / "c1" / "mon_groups" / "c1" / "tasks").read_text() == "5151"


def test_update_writes_the_schema_flags_to_the_container_s_group(tmp_path, monkeypatch):
    tree, k, record = applied(tmp_path, l3CacheSchema="L3:0=7f0", memBwSchema="MB:0=20")
    monkeypatch.setattr(minirun, "find_resctrl_mount", lambda *_: str(tree))
    resources = minirun.parse_update(flags={"--l3-cache-schema": "L3:0=ff", "--mem-bw-schema": "MB:0=40"})
    assert resources.intel_rdt == ["L3:0=ff", "MB:0=40"]
    minirun.update_intel_rdt(k, record, resources.intel_rdt, "c1", str(tree))
    assert (tree / "c1" / "schemata").read_text() == "L3:0=ff\nMB:0=40\n"


def test_update_refuses_with_the_reason_where_resctrl_is_not_mounted_or_the_container_has_no_group():
    k = object()  # nothing may be written
    with pytest.raises(minirun.Error, match="resctrl filesystem is not mounted"):
        minirun.update_intel_rdt(k, None, ["L3:0=ff"], "c1", None)
    with pytest.raises(minirun.Error, match="created without linux.intelRdt"):
        minirun.update_intel_rdt(k, None, ["L3:0=ff"], "c1", "/sys/fs/resctrl")
    with pytest.raises(minirun.UsageError, match="--mem-bw-schema"):
        minirun.parse_update(flags={"--mem-bw-schema": "L3:0=ff"})


def test_resctrl_is_found_in_mountinfo_by_its_filesystem_type(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
                    "40 22 0:36 / /sys/fs/res\\040ctrl rw,relatime - resctrl resctrl rw,mba_MBps\n")
    assert minirun.find_resctrl_mount(str(info)) == "/sys/fs/res ctrl"
    info.write_text("22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n")
    assert minirun.find_resctrl_mount(str(info)) is None
