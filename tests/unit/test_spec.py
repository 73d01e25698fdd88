"""Section 3: config.json parsed and validated once, every error naming its field."""

import copy
import glob
import json
import os

import pytest

import minirun
from minirun import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                     MS_RELATIME, MS_SHARED, MS_SLAVE)

from . import bpf
from .helpers import FIXTURES, StandInConfig, base_config, with_namespaces

BUNDLE = "/bundles/b1"


def parse(raw, bundle=BUNDLE):
    return minirun.parse_config(raw, bundle)


def config_error(raw, bundle=BUNDLE):
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.parse_config(raw, bundle)
    return caught.value


def process(**fields):
    proc = {"args": ["sh"], "cwd": "/"}
    proc.update(fields)
    return proc


def mount(**fields):
    return base_config(mounts=[fields])


# --- load_config: the file itself --------------------------------------------


def test_minimal_valid_config_parses_into_decided_values(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(base_config()))
    cfg = minirun.load_config(str(tmp_path))
    assert cfg.bundle == str(tmp_path)
    assert cfg.oci_version == "1.0.2"
    assert cfg.root_path == str(tmp_path / "rootfs")
    assert cfg.root_readonly is False
    assert cfg.process.args == ["sh"]
    assert cfg.process.cwd == "/"
    assert (cfg.process.uid, cfg.process.gid) == (0, 0)
    assert cfg.process.terminal is False
    assert cfg.namespaces == {"mount": None}
    assert cfg.new_namespace("mount") and not cfg.new_namespace("pid")
    assert cfg.mounts == [] and cfg.devices == [] and cfg.sysctl == {}
    assert all(cfg.hooks[phase] == [] for phase in minirun.HOOK_PHASES)
    assert cfg.has_resources is False and cfg.seccomp is None


def test_load_config_resolves_a_relative_bundle_to_an_absolute_one(tmp_path, monkeypatch):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text(json.dumps(base_config()))
    monkeypatch.chdir(tmp_path)
    cfg = minirun.load_config("b")
    assert cfg.bundle == str(tmp_path / "b")
    assert cfg.root_path == str(tmp_path / "b" / "rootfs")


def test_missing_config_json_is_an_error_naming_config_json(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(str(tmp_path))
    assert "config.json" in str(caught.value)
    assert "no such file" in str(caught.value)


@pytest.mark.parametrize("text", ["{", "not json", '{"ociVersion": "1.0.2"} trailing', ""])
def test_malformed_config_json_is_an_error_naming_config_json(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(str(tmp_path))
    assert "config.json" in str(caught.value)
    assert "invalid JSON" in str(caught.value)


def test_config_json_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(str(tmp_path))
    assert "config.json" in str(caught.value) and "object" in str(caught.value)


def test_config_json_that_is_not_utf8_is_refused_naming_config_json(tmp_path):
    (tmp_path / "config.json").write_bytes(b'{"ociVersion": "\xff"}')
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(str(tmp_path))
    assert "config.json" in str(caught.value)


# --- top-level fields --------------------------------------------------------


def test_missing_oci_version_is_refused_naming_ociversion():
    raw = base_config()
    del raw["ociVersion"]
    exc = config_error(raw)
    assert exc.field == "ociVersion" and "missing" in str(exc)


@pytest.mark.parametrize("version", ["0.9.0", "2.0.0", "v1.0.0"])
def test_an_oci_version_other_than_1_x_is_refused(version):
    assert config_error(base_config(ociVersion=version)).field == "ociVersion"


def test_oci_version_of_the_wrong_type_is_refused_naming_it():
    exc = config_error(base_config(ociVersion=1))
    assert exc.field == "ociVersion" and "expected a string" in str(exc)


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0", "1.3.1"])
def test_every_1_x_oci_version_is_accepted(version):
    assert parse(base_config(ociVersion=version)).oci_version == version


def test_missing_root_is_refused_naming_root():
    raw = base_config()
    del raw["root"]
    assert config_error(raw).field == "root"


def test_missing_or_empty_root_path_is_refused_naming_root_path():
    assert config_error(base_config(root={})).field == "root.path"
    assert config_error(base_config(root={"path": ""})).field == "root.path"


def test_relative_root_path_is_resolved_against_the_bundle():
    assert parse(base_config(root={"path": "rootfs"}), "/srv/b").root_path == "/srv/b/rootfs"
    assert parse(base_config(root={"path": "./x/../rootfs/"}), "/srv/b").root_path == "/srv/b/rootfs"


def test_absolute_root_path_is_kept_and_readonly_is_read():
    cfg = parse(base_config(root={"path": "/var/lib/r", "readonly": True}))
    assert cfg.root_path == "/var/lib/r" and cfg.root_readonly is True


def test_root_readonly_must_be_a_boolean():
    exc = config_error(base_config(root={"path": "r", "readonly": "yes"}))
    assert exc.field == "root.readonly"


def test_annotation_values_must_be_strings_naming_the_key():
    exc = config_error(base_config(annotations={"org.example": 1}))
    assert exc.field == "annotations.org.example"


# --- process -----------------------------------------------------------------


def test_missing_process_is_refused_naming_process():
    raw = base_config()
    del raw["process"]
    assert config_error(raw).field == "process"


@pytest.mark.parametrize("args", [[], None])
def test_empty_process_args_are_refused_naming_process_args(args):
    proc = process()
    proc["args"] = args
    exc = config_error(base_config(process=proc))
    assert exc.field == "process.args"


def test_non_string_process_arg_is_refused_naming_its_index():
    exc = config_error(base_config(process=process(args=["sh", 1])))
    assert exc.field == "process.args[1]"


def test_env_entry_without_equals_is_refused_naming_its_index():
    exc = config_error(base_config(process=process(env=["A=1", "NOEQUALS"])))
    assert exc.field == "process.env[1]"
    assert "NOEQUALS" in str(exc)


def test_env_entries_with_empty_values_are_accepted():
    assert parse(base_config(process=process(env=["A=", "B=x=y"]))).process.env == ["A=", "B=x=y"]


def test_relative_cwd_is_refused_naming_process_cwd():
    exc = config_error(base_config(process=process(cwd="home/user")))
    assert exc.field == "process.cwd"
    assert "process.cwd" in str(exc) and "absolute" in str(exc)


def test_cwd_is_normalized_and_defaults_to_root():
    assert parse(base_config(process=process(cwd="/a/./b/../c/"))).process.cwd == "/a/c"
    proc = process()
    del proc["cwd"]
    assert parse(base_config(process=proc)).process.cwd == "/"


def test_user_ids_and_umask_are_read_and_range_checked():
    cfg = parse(base_config(process=process(user={"uid": 1000, "gid": 100, "additionalGids": [5, 10],
                                                  "umask": 0o27})))
    p = cfg.process
    assert (p.uid, p.gid, p.additional_gids, p.umask) == (1000, 100, [5, 10], 0o27)
    assert config_error(base_config(process=process(user={"uid": -1}))).field == "process.user.uid"
    assert config_error(base_config(process=process(user={"uid": 1 << 32}))).field == "process.user.uid"
    assert config_error(base_config(process=process(user={"umask": 0o1000}))).field == "process.user.umask"
    exc = config_error(base_config(process=process(user={"additionalGids": [1, "x"]})))
    assert exc.field == "process.user.additionalGids[1]"


def test_a_boolean_is_not_accepted_where_an_integer_is_expected():
    exc = config_error(base_config(process=process(user={"uid": True})))
    assert exc.field == "process.user.uid" and "boolean" in str(exc)


def test_terminal_and_console_size_are_read():
    p = parse(base_config(process=process(terminal=True, consoleSize={"height": 24, "width": 80}))).process
    assert (p.terminal, p.console_height, p.console_width) == (True, 24, 80)
    exc = config_error(base_config(process=process(consoleSize={"height": 70000})))
    assert exc.field == "process.consoleSize.height"


def test_rlimits_are_decoded_to_name_number_soft_and_hard():
    p = parse(base_config(process=process(rlimits=[
        {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615}]))).process
    assert p.rlimits == [("RLIMIT_NOFILE", 7, 1024, 4096), ("RLIMIT_CORE", 4, 0, 18446744073709551615)]


def test_unknown_rlimit_is_refused_naming_its_index():
    exc = config_error(base_config(process=process(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])))
    assert exc.field == "process.rlimits[0].type" and "RLIMIT_FOO" in str(exc)


def test_duplicate_rlimit_is_refused_naming_the_second_entry():
    entry = {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}
    exc = config_error(base_config(process=process(rlimits=[entry, dict(entry)])))
    assert exc.field == "process.rlimits[1].type" and "twice" in str(exc)


def test_rlimit_without_soft_or_hard_is_refused():
    exc = config_error(base_config(process=process(rlimits=[{"type": "RLIMIT_NOFILE", "hard": 1}])))
    assert exc.field == "process.rlimits[0].soft"


@pytest.mark.parametrize("value", [-1000, 0, 1000])
def test_oom_score_adj_within_range_is_accepted(value):
    assert parse(base_config(process=process(oomScoreAdj=value))).process.oom_score_adj == value


@pytest.mark.parametrize("value", [-1001, 1001])
def test_oom_score_adj_out_of_range_is_refused_naming_it(value):
    assert config_error(base_config(process=process(oomScoreAdj=value))).field == "process.oomScoreAdj"


def test_capabilities_are_read_per_set_and_given_is_recorded():
    caps = {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
    p = parse(base_config(process=process(capabilities=caps))).process
    assert p.capabilities["bounding"] == ["CAP_KILL"]
    assert p.capabilities["ambient"] == [] and p.capabilities["inheritable"] == []
    assert p.capabilities["_given"] is True
    assert parse(base_config()).process.capabilities["_given"] is False


@pytest.mark.parametrize("name", ["NET_ADMIN", "CAP_FROM_THE_FUTURE", "cap_kill", ""])
def test_an_unknown_capability_name_is_accepted_at_parse_and_ignored_with_a_warning(name, capfd):
    """runc 1.1 warns about names it does not know and goes on: a missing
    capability only takes privilege away."""
    p = parse(base_config(process=process(capabilities={"effective": ["CAP_KILL", name]}))).process
    assert p.capabilities["effective"] == ["CAP_KILL", name]
    assert capfd.readouterr().err == ""  # nothing yet: the plan warns, once
    masks = minirun.plan_capabilities(p)
    assert masks["effective"] == 1 << 5
    err = capfd.readouterr().err
    assert "warning" in err and "process.capabilities.effective" in err and repr(name)[1:-1] in err


# --- process: scheduler, ioPriority, execCPUAffinity (runtime-spec 1.3) ------


def scheduler(**fields):
    return parse(base_config(process=process(scheduler=fields))).process.scheduler


def test_a_scheduler_is_decoded_to_the_numbers_sched_setattr_takes():
    s = scheduler(policy="SCHED_RR", priority=10, flags=["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_KEEP_PARAMS"])
    assert (s.policy, s.priority, s.nice, s.flags) == (2, 10, 0, 0x01 | 0x10)
    assert (s.runtime, s.deadline, s.period) == (0, 0, 0)
    s = scheduler(policy="SCHED_BATCH", nice=-20)
    assert (s.policy, s.priority, s.nice) == (3, 0, -20)
    s = scheduler(policy="SCHED_DEADLINE", runtime=10_000_000, deadline=50_000_000, period=100_000_000)
    assert (s.policy, s.runtime, s.deadline, s.period) == (6, 10_000_000, 50_000_000, 100_000_000)
    assert scheduler(policy="SCHED_DEADLINE", runtime=1024, deadline=1024).period == 0  # the kernel: the deadline
    assert parse(base_config()).process.scheduler is None


@pytest.mark.parametrize("name,number", sorted(minirun.SCHED_POLICIES.items()))
def test_every_policy_linux_has_is_taken(name, number):
    fields = {"policy": name}
    if name in ("SCHED_FIFO", "SCHED_RR"):
        fields["priority"] = 1
    if name == "SCHED_DEADLINE":
        fields.update(runtime=1024, deadline=2048)
    assert scheduler(**fields).policy == number


@pytest.mark.parametrize("fields,field,fragment", [
    ({}, "process.scheduler.policy", "missing"),
    ({"policy": "SCHED_WHATEVER"}, "process.scheduler.policy", "unknown policy"),
    ({"policy": "SCHED_ISO"}, "process.scheduler.policy", "not implemented by Linux"),
    ({"policy": 1}, "process.scheduler.policy", "expected a string"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice", "-20 to 19"),
    ({"policy": "SCHED_OTHER", "nice": -21}, "process.scheduler.nice", "-20 to 19"),
    ({"policy": "SCHED_OTHER", "nice": 1.5}, "process.scheduler.nice", "expected an integer"),
    ({"policy": "SCHED_FIFO"}, "process.scheduler.priority", "1 to 99"),
    ({"policy": "SCHED_RR", "priority": 100}, "process.scheduler.priority", "1 to 99"),
    ({"policy": "SCHED_OTHER", "priority": 5}, "process.scheduler.priority", "only SCHED_FIFO and SCHED_RR"),
    ({"policy": "SCHED_DEADLINE", "priority": 5, "runtime": 1024, "deadline": 1024},
     "process.scheduler.priority", "only SCHED_FIFO"),
    ({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_TURBO"]},
     "process.scheduler.flags[1]", "unknown flag"),
    ({"policy": "SCHED_OTHER", "flags": "SCHED_FLAG_RESET_ON_FORK"}, "process.scheduler.flags", "expected an array"),
    ({"policy": "SCHED_BATCH", "runtime": 1}, "process.scheduler.runtime", "only SCHED_DEADLINE"),
    ({"policy": "SCHED_FIFO", "priority": 1, "period": 1}, "process.scheduler.period", "only SCHED_DEADLINE"),
    ({"policy": "SCHED_DEADLINE"}, "process.scheduler.runtime", "at least 1024"),
    ({"policy": "SCHED_DEADLINE", "runtime": 2048, "deadline": 1024}, "process.scheduler.deadline", "at least"),
    ({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 1 << 63}, "process.scheduler.deadline", "2^63"),
    ({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 4096, "period": 2048},
     "process.scheduler.period", "at least the deadline"),
    ({"policy": "SCHED_DEADLINE", "runtime": -1, "deadline": 4096}, "process.scheduler.runtime", "out of range"),
    ({"policy": "SCHED_DEADLINE", "runtime": 1024, "deadline": 1 << 64}, "process.scheduler.deadline", "out of range"),
])
def test_a_bad_scheduler_is_refused_naming_its_field(fields, field, fragment):
    exc = config_error(base_config(process=process(scheduler=fields)))
    assert exc.field == field and fragment in exc.message, str(exc)


def test_a_scheduler_that_is_not_an_object_is_refused_naming_it():
    assert config_error(base_config(process=process(scheduler="SCHED_FIFO"))).field == "process.scheduler"


def test_an_io_priority_is_read_as_class_and_level():
    raw = base_config(process=process(ioPriority={"class": "IOPRIO_CLASS_IDLE", "priority": 4}))
    assert parse(raw).process.io_priority == ("IOPRIO_CLASS_IDLE", 4)
    assert parse(base_config()).process.io_priority is None


@pytest.mark.parametrize("value,field,fragment", [
    ({"priority": 4}, "process.ioPriority.class", "missing"),
    ({"class": "IOPRIO_CLASS_NONE", "priority": 4}, "process.ioPriority.class", "unknown class"),
    ({"class": "IOPRIO_CLASS_BE"}, "process.ioPriority.priority", "missing"),
    ({"class": "IOPRIO_CLASS_BE", "priority": 8}, "process.ioPriority.priority", "0 to 7"),
    ({"class": "IOPRIO_CLASS_BE", "priority": -1}, "process.ioPriority.priority", "0 to 7"),
    ({"class": "IOPRIO_CLASS_BE", "priority": "4"}, "process.ioPriority.priority", "expected an integer"),
    ([], "process.ioPriority", "expected an object"),
])
def test_a_bad_io_priority_is_refused_naming_its_field(value, field, fragment):
    exc = config_error(base_config(process=process(ioPriority=value)))
    assert exc.field == field and fragment in exc.message, str(exc)


@pytest.mark.parametrize("text,cpus", [
    ("0", (0,)), ("0-3,7", (0, 1, 2, 3, 7)), ("7,0-1", (0, 1, 7)), ("1-1", (1,)), ("0,0", (0,)),
    ("8191", (8191,)),
])
def test_the_spec_cpu_list_syntax(text, cpus):
    raw = base_config(process=process(execCPUAffinity={"initial": text, "final": text}))
    assert parse(raw).process.exec_cpu_affinity == (cpus, cpus)


def test_an_omitted_or_empty_cpu_list_is_not_set():
    raw = base_config(process=process(execCPUAffinity={"initial": "", "final": "1"}))
    assert parse(raw).process.exec_cpu_affinity == (None, (1,))
    assert parse(base_config(process=process(execCPUAffinity={}))).process.exec_cpu_affinity == (None, None)
    assert parse(base_config()).process.exec_cpu_affinity == (None, None)


@pytest.mark.parametrize("key", ["initial", "final"])
@pytest.mark.parametrize("text,fragment", [
    ("a", "not a CPU list"), ("1-", "not a CPU list"), ("-1", "not a CPU list"), ("1,,2", "not a CPU list"),
    ("0x1", "not a CPU list"), (" 1", "not a CPU list"), ("1;2", "not a CPU list"), ("\u00b2", "not a CPU list"),
    ("3-1", "runs backwards"), ("8192", "out of range"), ("0-99999999999999999999", "out of range"),
])
def test_a_bad_cpu_list_is_refused_naming_its_field(key, text, fragment):
    exc = config_error(base_config(process=process(execCPUAffinity={key: text})))
    assert exc.field == "process.execCPUAffinity." + key and fragment in exc.message, str(exc)


def test_cpu_lists_are_written_back_in_the_spec_syntax():
    assert minirun.format_cpu_list((0, 1, 2, 3, 7)) == "0-3,7"
    assert minirun.format_cpu_list((1,)) == "1"
    assert minirun.format_cpu_list((0, 2, 3)) == "0,2-3"


# --- mounts ------------------------------------------------------------------


def test_relative_mount_destination_is_refused_naming_it():
    exc = config_error(mount(destination="proc", type="proc", source="proc"))
    assert exc.field == "mounts[0].destination"


def test_mount_without_destination_is_refused():
    assert config_error(mount(type="proc")).field == "mounts[0].destination"


def test_mount_that_is_not_an_object_is_refused_naming_its_index():
    assert config_error(base_config(mounts=["/proc"])).field == "mounts[0]"


def test_non_bind_mount_without_type_is_refused_naming_its_type():
    exc = config_error(mount(destination="/data", source="/src", options=["ro"]))
    assert exc.field == "mounts[0].type"


def test_bind_mount_may_omit_the_type_when_options_say_bind():
    (m,) = parse(mount(destination="/data", source="/src", options=["rbind", "ro"])).mounts
    assert m.is_bind and m.flags & MS_BIND and m.flags & MS_REC and m.flags & MS_RDONLY


def test_bind_mount_without_source_is_refused_naming_its_source():
    exc = config_error(mount(destination="/data", type="bind", options=["rbind"]))
    assert exc.field == "mounts[0].source"


def test_relative_bind_source_is_resolved_against_the_bundle():
    (m,) = parse(mount(destination="/data", type="bind", source="data/../shared"), "/srv/b").mounts
    assert m.source == "/srv/b/shared"
    assert m.is_bind and m.flags & MS_BIND


def test_non_bind_source_is_kept_as_written():
    (m,) = parse(mount(destination="/proc", type="proc", source="proc")).mounts
    assert m.source == "proc" and not m.is_bind


def test_mount_options_are_decoded_into_flags_propagation_and_data():
    (m,) = parse(mount(destination="/dev/pts", type="devpts", source="devpts",
                       options=["nosuid", "noexec", "newinstance", "ptmxmode=0666", "rprivate", "ro"])).mounts
    assert m.flags == MS_NOSUID | MS_NOEXEC | MS_RDONLY
    assert m.propagation == [MS_PRIVATE | MS_REC]
    assert m.data == "newinstance,ptmxmode=0666"
    assert m.destination == "/dev/pts" and m.type == "devpts" and not m.is_bind


def test_rw_after_ro_clears_the_read_only_flag():
    (m,) = parse(mount(destination="/x", type="tmpfs", options=["ro", "nodev", "rw"])).mounts
    assert m.flags == MS_NODEV
    (m,) = parse(mount(destination="/x", type="tmpfs", options=["rw", "ro"])).mounts
    assert m.flags == MS_RDONLY


def test_mount_without_options_has_no_flags_and_no_data():
    (m,) = parse(mount(destination="/x", type="tmpfs")).mounts
    assert (m.flags, m.propagation, m.data, m.tmpcopyup) == (0, [], None, False)


def test_every_propagation_option_is_kept_in_order():
    (m,) = parse(mount(destination="/x", type="tmpfs", options=["shared", "rslave", "relatime"])).mounts
    assert m.propagation == [MS_SHARED, MS_SLAVE | MS_REC]
    assert m.flags == MS_RELATIME


def test_recursive_mount_attributes_are_split_into_set_and_clear():
    (m,) = parse(mount(destination="/x", type="bind", source="/s", options=["rro", "rnosuid", "rexec"])).mounts
    assert m.recursive_set == 0x1 | 0x2
    assert m.recursive_clear == 0x8


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_id_mapped_mount_options_are_parsed(option):
    (m,) = parse(mount(destination="/x", type="bind", source="/s", options=[option])).mounts
    assert m.idmap == option and m.data is None


def test_an_id_mapped_mount_that_is_no_bind_is_refused_naming_the_options():
    exc = config_error(mount(destination="/x", type="tmpfs", options=["idmap"]))
    assert exc.field == "mounts[0].options" and "bind" in str(exc)


def test_tmpcopyup_is_accepted_on_tmpfs():
    (m,) = parse(mount(destination="/run", type="tmpfs", options=["tmpcopyup", "size=1m"])).mounts
    assert m.tmpcopyup is True and m.data == "size=1m"


def test_tmpcopyup_on_anything_but_tmpfs_is_refused():
    exc = config_error(mount(destination="/x", type="bind", source="/s", options=["tmpcopyup"]))
    assert exc.field == "mounts[0].options" and "tmpfs" in str(exc)


def test_the_failing_mount_is_named_by_its_index():
    raw = base_config(mounts=[{"destination": "/proc", "type": "proc"}, {"destination": "bad", "type": "tmpfs"}])
    assert config_error(raw).field == "mounts[1].destination"


# --- hooks -------------------------------------------------------------------


def test_hooks_are_read_per_phase_with_args_defaulting_to_the_path():
    cfg = parse(base_config(hooks={
        "prestart": [{"path": "/bin/a"}],
        "poststop": [{"path": "/bin/b", "args": ["b", "-x"], "env": ["K=V"], "timeout": 5}]}))
    (a,) = cfg.hooks["prestart"]
    # env None: the hook inherits the runtime's environment
    assert (a.path, a.args, a.env, a.timeout, a.field) == ("/bin/a", ["/bin/a"], None, None, "hooks.prestart[0]")
    (b,) = cfg.hooks["poststop"]
    assert (b.args, b.env, b.timeout, b.field) == (["b", "-x"], ["K=V"], 5, "hooks.poststop[0]")
    assert cfg.hooks["createRuntime"] == []


def test_hook_with_relative_path_is_refused_naming_it():
    exc = config_error(base_config(hooks={"createRuntime": [{"path": "/ok"}, {"path": "hook.sh"}]}))
    assert exc.field == "hooks.createRuntime[1].path"


def test_hook_without_path_is_refused():
    assert config_error(base_config(hooks={"poststart": [{"args": ["x"]}]})).field == "hooks.poststart[0].path"


@pytest.mark.parametrize("timeout", [0, -5])
def test_hook_timeout_must_be_positive(timeout):
    exc = config_error(base_config(hooks={"prestart": [{"path": "/h", "timeout": timeout}]}))
    assert exc.field == "hooks.prestart[0].timeout"


def test_hook_round_trips_through_its_json_form():
    (hook,) = parse(base_config(hooks={"poststop": [{"path": "/h", "args": ["h", "1"], "timeout": 3}]})).hooks["poststop"]
    again = minirun.Hook.from_json(json.loads(json.dumps(hook.to_json())))
    assert again.to_json() == hook.to_json()


# --- linux: namespaces and id mappings ---------------------------------------


def test_unknown_namespace_type_is_refused_naming_linux_namespaces():
    raw = base_config(linux={"namespaces": [{"type": "mount"}, {"type": "net"}]})
    exc = config_error(raw)
    assert exc.field == "linux.namespaces[1].type"
    assert "linux.namespaces" in str(exc) and "'net'" in str(exc)


def test_duplicate_namespace_is_refused():
    exc = config_error(base_config(linux={"namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]}))
    assert exc.field == "linux.namespaces[2].type" and "twice" in str(exc)


def test_namespace_with_a_path_is_joined_and_without_one_is_new():
    cfg = parse(base_config(linux={"namespaces": [{"type": "mount"}, {"type": "network", "path": "/run/netns/x"},
                                                  {"type": "pid", "path": ""}]}))
    assert cfg.joined_namespace("network") == "/run/netns/x" and not cfg.new_namespace("network")
    assert cfg.new_namespace("pid") and cfg.joined_namespace("pid") is None
    assert not cfg.new_namespace("ipc") and cfg.joined_namespace("ipc") is None


def test_relative_namespace_path_is_refused():
    exc = config_error(base_config(linux={"namespaces": [{"type": "mount"}, {"type": "network", "path": "netns/x"}]}))
    assert exc.field == "linux.namespaces[1].path"


PROC_MOUNT = [{"destination": "/proc", "type": "proc", "source": "proc"}]


def test_without_a_mount_namespace_mounts_are_accepted_but_masked_paths_are_refused():
    parse(base_config(mounts=PROC_MOUNT, linux={"namespaces": [{"type": "pid"}]}))  # into the caller's (the spec)
    exc = config_error(base_config(mounts=PROC_MOUNT, linux={"namespaces": [{"type": "pid"}],
                                                             "maskedPaths": ["/proc/kcore"]}))
    assert exc.field == "linux.maskedPaths" and "needs a mount namespace" in str(exc)


def test_without_a_mount_namespace_and_without_mounts_a_config_is_accepted():
    raw = base_config(linux={"namespaces": [{"type": "pid"}]})
    raw["mounts"] = []
    raw.pop("hostname", None)
    cfg = parse(raw)
    assert "mount" not in cfg.namespaces


def test_a_missing_linux_section_means_no_mount_namespace():
    raw = base_config(mounts=PROC_MOUNT, root={"path": "rootfs", "readonly": True})
    raw.pop("linux", None)
    assert config_error(raw).field == "root.readonly"


MAPPING = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def test_id_mappings_with_a_new_user_namespace_are_decoded():
    raw = with_namespaces(base_config(), "user")
    raw["linux"].update(uidMappings=MAPPING, gidMappings=[{"containerID": 0, "hostID": 200000, "size": 1}])
    cfg = parse(raw)
    assert cfg.uid_mappings == [(0, 100000, 65536)]
    assert cfg.gid_mappings == [(0, 200000, 1)]


def test_mappings_without_a_user_namespace_are_refused():
    raw = base_config()
    raw["linux"].update(uidMappings=MAPPING, gidMappings=MAPPING)
    exc = config_error(raw)
    assert exc.field == "linux.uidMappings" and "user namespace" in str(exc)


def test_gid_mappings_alone_without_a_user_namespace_are_refused_naming_gid_mappings():
    raw = base_config()
    raw["linux"].update(gidMappings=MAPPING)
    exc = config_error(raw)
    assert exc.field == "linux.gidMappings"


def test_user_namespace_without_mappings_is_refused():
    exc = config_error(with_namespaces(base_config(), "user"))
    assert exc.field == "linux.uidMappings" and "gidMappings" in str(exc)


def test_mapping_of_size_zero_is_refused_naming_its_size():
    raw = with_namespaces(base_config(), "user")
    raw["linux"].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 0}], gidMappings=MAPPING)
    assert config_error(raw).field == "linux.uidMappings[0].size"


def test_mapping_without_host_id_is_refused_naming_it():
    raw = with_namespaces(base_config(), "user")
    raw["linux"].update(uidMappings=[{"containerID": 0, "size": 1}], gidMappings=MAPPING)
    assert config_error(raw).field == "linux.uidMappings[0].hostID"


def test_time_offsets_without_a_time_namespace_are_refused():
    raw = base_config()
    raw["linux"]["timeOffsets"] = {"monotonic": {"secs": 10}}
    exc = config_error(raw)
    assert exc.field == "linux.timeOffsets" and "time namespace" in str(exc)


def test_time_offsets_with_a_time_namespace_are_decoded():
    raw = with_namespaces(base_config(), "time")
    raw["linux"]["timeOffsets"] = {"monotonic": {"secs": 10}, "boottime": {"secs": -5, "nanosecs": 7}}
    assert parse(raw).time_offsets == {"monotonic": (10, 0), "boottime": (-5, 7)}


def test_time_offset_for_an_unknown_clock_is_refused_naming_the_clock():
    raw = with_namespaces(base_config(), "time")
    raw["linux"]["timeOffsets"] = {"realtime": {"secs": 1}}
    assert config_error(raw).field == "linux.timeOffsets.realtime"


def test_hostname_without_a_uts_namespace_is_refused_naming_hostname():
    exc = config_error(base_config(hostname="box"))
    assert exc.field == "hostname" and "uts" in str(exc)


def test_hostname_and_domainname_with_a_uts_namespace_are_accepted():
    cfg = parse(with_namespaces(base_config(hostname="box", domainname="example.org"), "uts"))
    assert (cfg.hostname, cfg.domainname) == ("box", "example.org")


def test_domainname_without_a_uts_namespace_is_refused_naming_domainname():
    assert config_error(base_config(domainname="example.org")).field == "domainname"


# --- linux: devices ----------------------------------------------------------


def device_config(*devices):
    raw = base_config()
    raw["linux"]["devices"] = list(devices)
    return raw


def test_devices_are_decoded_with_defaults_for_mode_and_owner():
    cfg = parse(device_config({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229},
                              {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 0o660,
                               "uid": 0, "gid": 6}))
    fuse, sda = cfg.devices
    assert (fuse.path, fuse.kind, fuse.major, fuse.minor, fuse.mode, fuse.uid, fuse.gid) == \
        ("/dev/fuse", "c", 10, 229, 0o666, 0, 0)
    assert (sda.kind, sda.mode, sda.gid) == ("b", 0o660, 6)


def test_device_of_unknown_type_is_refused_naming_its_type():
    exc = config_error(device_config({"path": "/dev/x", "type": "z", "major": 1, "minor": 1}))
    assert exc.field == "linux.devices[0].type"


def test_device_with_relative_path_is_refused_naming_its_path():
    exc = config_error(device_config({"path": "dev/x", "type": "c", "major": 1, "minor": 1}))
    assert exc.field == "linux.devices[0].path"


@pytest.mark.parametrize("missing", ["major", "minor"])
def test_character_device_needs_major_and_minor(missing):
    device = {"path": "/dev/x", "type": "c", "major": 1, "minor": 1}
    del device[missing]
    assert config_error(device_config(device)).field == "linux.devices[0].%s" % missing


def test_fifo_device_needs_no_major_or_minor():
    (fifo,) = parse(device_config({"path": "/dev/myfifo", "type": "p"})).devices
    assert (fifo.kind, fifo.major, fifo.minor) == ("p", 0, 0)


def test_device_file_mode_beyond_07777_is_refused():
    exc = config_error(device_config({"path": "/dev/x", "type": "c", "major": 1, "minor": 1, "fileMode": 0o10000}))
    assert exc.field == "linux.devices[0].fileMode"


# --- linux: sysctl, paths, personality, resources ----------------------------


@pytest.mark.parametrize("key,namespace", [
    ("net.ipv4.ip_forward", "network"),
    ("net.core.somaxconn", "network"),
    ("kernel.shmmax", "ipc"),
    ("kernel.msgmax", "ipc"),
    ("fs.mqueue.msg_max", "ipc"),
])
def test_namespaced_sysctl_is_accepted_with_its_namespace_and_refused_without(key, namespace):
    raw = with_namespaces(base_config(), namespace)
    raw["linux"]["sysctl"] = {key: "1"}
    assert parse(raw).sysctl == {key: "1"}
    raw = base_config()
    raw["linux"]["sysctl"] = {key: "1"}
    exc = config_error(raw)
    assert exc.field == "linux.sysctl." + key and namespace in str(exc)


@pytest.mark.parametrize("key,owner", [("kernel.hostname", "hostname"), ("kernel.domainname", "domainname")])
def test_hostname_and_domainname_sysctls_are_refused_when_they_conflict_with_their_field(key, owner):
    raw = with_namespaces(base_config(), "uts")
    raw[owner] = "box"
    raw["linux"]["sysctl"] = {key: "other"}
    exc = config_error(raw)
    assert exc.field == "linux.sysctl." + key
    assert "the %s field" % owner in str(exc) and "'box'" in str(exc)


@pytest.mark.parametrize("key,owner", [("kernel.hostname", "hostname"), ("kernel.domainname", "domainname")])
@pytest.mark.parametrize("field_value", [None, "box"], ids=["field-unset", "same-value"])
def test_hostname_and_domainname_sysctls_are_accepted_unset_or_agreeing(key, owner, field_value):
    """crun's rule: only a conflict is refused (runc accepts every case)."""
    raw = with_namespaces(base_config(), "uts")
    raw.pop(owner, None)
    if field_value:
        raw[owner] = field_value
    raw["linux"]["sysctl"] = {key: "box"}
    assert parse(raw).sysctl == {key: "box"}


def test_a_hostname_sysctl_still_needs_a_uts_namespace():
    raw = base_config()
    raw["linux"]["namespaces"] = [ns for ns in raw["linux"]["namespaces"] if ns["type"] != "uts"]
    raw.pop("hostname", None)
    raw["linux"]["sysctl"] = {"kernel.hostname": "box"}
    assert config_error(raw).field == "linux.sysctl.kernel.hostname"


def test_sysctl_in_a_joined_namespace_is_accepted():
    raw = base_config()
    raw["linux"]["namespaces"].append({"type": "network", "path": "/run/netns/n"})
    raw["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    assert parse(raw).sysctl == {"net.ipv4.ip_forward": "1"}


@pytest.mark.parametrize("key", ["kernel.pid_max", "vm.swappiness", "kernel.core_pattern", "fs.file-max"])
def test_host_wide_sysctl_is_refused_as_not_namespaced(key):
    raw = with_namespaces(base_config(), "network", "ipc", "uts", "pid")
    raw["linux"]["sysctl"] = {key: "1"}
    exc = config_error(raw)
    assert exc.field == "linux.sysctl." + key
    assert "not a namespaced sysctl" in str(exc)


def test_sysctl_value_must_be_a_string():
    raw = with_namespaces(base_config(), "network")
    raw["linux"]["sysctl"] = {"net.ipv4.ip_forward": 1}
    assert config_error(raw).field == "linux.sysctl.net.ipv4.ip_forward"


def test_masked_and_readonly_paths_must_be_absolute():
    raw = base_config()
    raw["linux"]["maskedPaths"] = ["/proc/kcore", "proc/keys"]
    assert config_error(raw).field == "linux.maskedPaths"
    raw = base_config()
    raw["linux"]["readonlyPaths"] = ["proc/sys"]
    assert config_error(raw).field == "linux.readonlyPaths"


def test_rootfs_propagation_is_decoded_and_unknown_values_refused():
    raw = base_config()
    raw["linux"]["rootfsPropagation"] = "rslave"
    assert parse(raw).rootfs_propagation == MS_SLAVE | MS_REC
    raw["linux"]["rootfsPropagation"] = "sideways"
    assert config_error(raw).field == "linux.rootfsPropagation"
    assert parse(base_config()).rootfs_propagation is None


@pytest.mark.parametrize("domain,value", [("LINUX", 0x0000), ("LINUX32", 0x0008)])
def test_personality_domain_is_decoded(domain, value):
    raw = base_config()
    raw["linux"]["personality"] = {"domain": domain}
    assert parse(raw).personality == value


def test_unknown_personality_domain_is_refused_naming_it():
    raw = base_config()
    raw["linux"]["personality"] = {"domain": "SVR4"}
    exc = config_error(raw)
    assert exc.field == "linux.personality.domain" and "SVR4" in str(exc)


def test_personality_flags_are_refused():
    raw = base_config()
    raw["linux"]["personality"] = {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}
    assert config_error(raw).field == "linux.personality.flags"


def test_zero_valued_resources_count_as_unset():
    raw = base_config()
    raw["linux"]["resources"] = {"memory": {"limit": 0, "swap": 0}, "cpu": {"shares": 0, "cpus": ""},
                                 "pids": {"limit": 0}, "devices": [], "blockIO": {}}
    assert parse(raw).has_resources is False


def test_a_real_resource_limit_counts_as_set():
    raw = base_config()
    raw["linux"]["resources"] = {"memory": {"limit": 0}, "pids": {"limit": 100}}
    assert parse(raw).has_resources is True


def test_cgroups_path_is_recorded():
    raw = base_config()
    raw["linux"]["cgroupsPath"] = "system.slice:docker:abc"
    assert parse(raw).cgroups_path == "system.slice:docker:abc"


# --- what a config may hold, and capability_mask ----------------------------------


def test_a_seccomp_profile_is_parsed_without_a_word(capfd):
    raw = base_config()
    raw["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    cfg = parse(raw)
    assert cfg.seccomp.default_action == 0x00050001  # SECCOMP_RET_ERRNO | EPERM
    assert [(rule.names, rule.action) for rule in cfg.seccomp.rules] == [(["read"], 0x7FFF0000)]
    assert capfd.readouterr().err == ""
    assert len(minirun.compile_seccomp(cfg.seccomp, "x86_64")) > 0


def test_a_malformed_seccomp_profile_is_refused_at_parse_naming_its_field():
    raw = base_config()
    raw["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO",
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                                            {"names": ["write"], "action": "SCMP_ACT_ALOW"}]}
    error = config_error(raw)
    assert error.field == "linux.seccomp.syscalls[1].action"
    assert "SCMP_ACT_ALOW" in str(error)


LSM_LABELS = [
    ("process", "apparmorProfile", "process.apparmorProfile", "apparmor", "AppArmor"),
    ("process", "selinuxLabel", "process.selinuxLabel", "selinux", "SELinux"),
    ("linux", "mountLabel", "linux.mountLabel", "selinux", "SELinux"),
]


@pytest.mark.parametrize("where,key,field,lsm,lsm_name", LSM_LABELS)
def test_lsm_labels_are_parsed_and_not_refused_as_unsupported(where, key, field, lsm, lsm_name, capfd):
    raw = base_config()
    raw[where][key] = "system_u:system_r:container_t:s0"
    cfg = parse(raw)
    label = cfg.process.apparmor_profile or cfg.process.selinux_label or cfg.mount_label
    assert label == "system_u:system_r:container_t:s0"
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("where,key,field,lsm,lsm_name", LSM_LABELS)
def test_lsm_labels_are_refused_on_a_host_without_that_lsm_naming_their_field(where, key, field, lsm, lsm_name):
    host = minirun.Host(facts={"apparmor": False, "selinux": False})
    raw = base_config()
    raw[where][key] = "some-label"
    cfg = parse(raw)
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.check_lsm_support(cfg.process, cfg.mount_label, host)
    assert caught.value.field == field
    message = str(caught.value)
    assert message.startswith("config.json: %s: " % field)
    assert "%s is not enabled" % lsm_name in message and "some-label" in message


def test_a_config_without_lsm_labels_passes_check_lsm_support():
    cfg = parse(base_config())
    minirun.check_lsm_support(cfg.process, cfg.mount_label, minirun.Host(facts={"apparmor": False, "selinux": False}))


def test_an_apparmor_profile_must_be_loaded_on_an_apparmor_host():
    raw = base_config()
    raw["process"]["apparmorProfile"] = "docker-default"
    cfg = parse(raw)
    loaded = minirun.Host(facts={"apparmor": True, "apparmor_profiles": frozenset(["docker-default"])})
    minirun.check_lsm_support(cfg.process, cfg.mount_label, loaded)
    missing = minirun.Host(facts={"apparmor": True, "apparmor_profiles": frozenset(["other"])})
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.check_lsm_support(cfg.process, cfg.mount_label, missing)
    assert caught.value.field == "process.apparmorProfile" and "not loaded" in str(caught.value)


def test_unconfined_needs_no_loaded_profile_on_an_apparmor_host():
    raw = base_config()
    raw["process"]["apparmorProfile"] = "unconfined"
    cfg = parse(raw)
    minirun.check_lsm_support(cfg.process, cfg.mount_label, minirun.Host(facts={"apparmor": True, "apparmor_profiles": None}))


@pytest.mark.parametrize("where,key", [("process", "apparmorProfile"), ("process", "selinuxLabel"),
                                       ("linux", "mountLabel")])
def test_lsm_labels_must_be_strings(where, key):
    raw = base_config()
    raw[where][key] = 5
    assert config_error(raw).field == "%s.%s" % (where, key)


def test_resources_are_accepted_without_a_warning_now_that_they_are_applied(capfd):
    raw = base_config()
    raw["linux"]["resources"] = {"pids": {"limit": 10}}
    parse(raw)
    assert capfd.readouterr().err == ""


def test_capability_mask_sets_the_bit_of_each_known_capability():
    assert minirun.capability_mask(["CAP_CHOWN", "CAP_KILL"], "f") == (1 << 0) | (1 << 5)
    assert minirun.capability_mask([], "f") == 0


def test_capability_mask_skips_unknown_names_with_a_warning(capfd):
    mask = minirun.capability_mask(["CAP_NET_RAW", "CAP_FROM_THE_FUTURE"], "process.capabilities.bounding")
    assert mask == 1 << 13
    err = capfd.readouterr().err
    assert "CAP_FROM_THE_FUTURE" in err and "process.capabilities.bounding" in err and "warning" in err


def masks(**sets):
    names = {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []}
    names.update(sets)
    return {kind: minirun.capability_mask(value, kind) for kind, value in names.items()}


def test_effective_ambient_keeps_what_is_permitted_and_inheritable():
    both = ["CAP_KILL", "CAP_NET_RAW"]
    given = masks(bounding=both, permitted=both, inheritable=both, effective=both, ambient=both)
    assert minirun.effective_ambient(given) == given


@pytest.fixture
def debug_log(monkeypatch):
    """--debug without --log: debug lines go to stderr."""
    monkeypatch.setattr(minirun.LOG, "threshold", minirun.Log.LEVELS["debug"])


def test_effective_ambient_leaves_unraisable_bits_out_without_a_word(capfd):
    """`runc spec` (1.1) writes ambient capabilities without an inheritable
    set; the kernel refuses to raise them and runc ignores that silently: so
    do we. A warning would land in the container's stderr on every run and
    exec of runc's own default bundle."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    given = masks(bounding=caps, effective=caps, permitted=caps, ambient=caps)
    trimmed = minirun.effective_ambient(given)
    assert trimmed["ambient"] == 0
    assert {k: v for k, v in trimmed.items() if k != "ambient"} == {k: v for k, v in given.items() if k != "ambient"}
    assert given["ambient"] == minirun.capability_mask(caps, "x")  # the input is not changed
    assert capfd.readouterr().err == ""


def test_with_debug_the_unraised_ambient_bits_are_named(capfd, debug_log):
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    minirun.effective_ambient(masks(bounding=caps, effective=caps, permitted=caps, ambient=caps))
    assert capfd.readouterr().err == (
        "minirun: debug: process.capabilities.ambient: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE left "
        "unraised: an ambient capability must also be permitted and inheritable\n")


def test_effective_ambient_needs_both_permitted_and_inheritable(capfd, debug_log):
    given = masks(permitted=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_KILL", "CAP_NET_RAW"],
                  ambient=["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"])
    assert minirun.effective_ambient(given)["ambient"] == 1 << 5
    err = capfd.readouterr().err
    assert "CAP_CHOWN" in err and "CAP_NET_RAW" in err and "CAP_KILL" not in err


def test_effective_ambient_is_quiet_when_nothing_is_left_out_and_passes_none(capfd):
    assert minirun.effective_ambient(masks(permitted=["CAP_KILL"], ambient=[]))["ambient"] == 0
    assert minirun.effective_ambient(None) is None
    assert capfd.readouterr().err == ""


# --- engine fixtures ----------------------------------------------------------

# conftest.py fails the run when the fixtures are missing: nothing here skips.

def fixture_files(pattern):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, pattern)))


def load_fixture(tmp_path, name):
    """Write the fixture as BUNDLE/config.json and parse it the way create does."""
    with open(os.path.join(FIXTURES, name)) as handle:
        raw = json.load(handle)
    (tmp_path / "config.json").write_text(json.dumps(raw))
    return raw, minirun.load_config(str(tmp_path))


@pytest.mark.parametrize("name", fixture_files("*.config.json"))
def test_engine_config_parses_and_its_seccomp_profile_compiles(tmp_path, name):
    raw, cfg = load_fixture(tmp_path, name)
    assert cfg.process.args == raw["process"]["args"]
    assert len(cfg.mounts) == len(raw.get("mounts", []))
    seccomp = raw.get("linux", {}).get("seccomp")
    if seccomp is None:
        assert cfg.seccomp is None
        return
    assert len(cfg.seccomp.rules) == len(seccomp.get("syscalls", []))
    for machine in ("x86_64", "aarch64"):
        program = minirun.compile_seccomp(cfg.seccomp, machine)
        bpf.check_program(program)  # the kernel's static rules, 4096 instructions at most among them
        assert len(program) <= 4096


def test_the_privileged_docker_config_has_no_seccomp_and_passes(tmp_path):
    raw, cfg = load_fixture(tmp_path, "docker-run-privileged.config.json")
    assert "seccomp" not in raw["linux"] and cfg.seccomp is None
    assert len(cfg.devices) == len(raw["linux"]["devices"]) > 0


def test_docker_config_plans_masked_and_readonly_paths_and_prestart_hook(tmp_path):
    _raw, cfg = load_fixture(tmp_path, "docker-run-echo-hi.config.json")
    assert len(cfg.masked_paths) == 10 and "/proc/kcore" in cfg.masked_paths
    assert len(cfg.readonly_paths) == 5 and "/proc/sys" in cfg.readonly_paths
    assert set(cfg.namespaces) == {"mount", "network", "uts", "pid", "ipc"}
    assert all(path is None for path in cfg.namespaces.values())
    (hook,) = cfg.hooks["prestart"]
    assert hook.path == "/proc/1568/exe" and hook.args[0] == "libnetwork-setkey"
    assert cfg.sysctl["net.ipv4.ip_unprivileged_port_start"] == "0"


def test_docker_config_decodes_bind_mounts_and_the_cgroup_mount(tmp_path):
    _raw, cfg = load_fixture(tmp_path, "docker-run-echo-hi.config.json")
    by_dest = {m.destination: m for m in cfg.mounts}
    cgroup = by_dest["/sys/fs/cgroup"]
    assert cgroup.type == "cgroup" and cgroup.flags & MS_RDONLY and not cgroup.is_bind
    resolv = by_dest["/etc/resolv.conf"]
    assert resolv.is_bind and resolv.flags == MS_BIND | MS_REC
    assert resolv.propagation == [MS_PRIVATE | MS_REC]
    assert by_dest["/dev/pts"].data == "newinstance,ptmxmode=0666,mode=0620,gid=5"


def test_docker_rich_config_decodes_rlimits_readonly_root_and_tmpfs(tmp_path):
    _raw, cfg = load_fixture(tmp_path, "docker-run-rich-init-limits-user-ro-tmpfs-bind.config.json")
    assert cfg.process.rlimits == [("RLIMIT_NOFILE", 7, 1024, 2048)]
    assert cfg.root_readonly is True
    run = next(m for m in cfg.mounts if m.destination == "/run")
    assert run.type == "tmpfs" and run.data == "size=1m"


@pytest.mark.parametrize("name", fixture_files("podman-run-*.config.json"))
def test_podman_config_joins_its_network_namespace_by_path(tmp_path, name):
    raw, cfg = load_fixture(tmp_path, name)
    (listed,) = [ns for ns in raw["linux"]["namespaces"] if ns["type"] == "network"]
    assert cfg.joined_namespace("network") == listed["path"]
    assert not cfg.new_namespace("network") and cfg.new_namespace("pid")
    assert ("RLIMIT_NOFILE", 7, 20000, 20000) in cfg.process.rlimits
    assert ("RLIMIT_NPROC", 6, 32768, 32768) in cfg.process.rlimits


@pytest.mark.parametrize("name", fixture_files("*.config.json"))
def test_engine_config_has_its_cgroup_mount(tmp_path, name):
    _raw, cfg = load_fixture(tmp_path, name)
    assert any(m.destination == "/sys/fs/cgroup" and m.type == "cgroup" for m in cfg.mounts)


@pytest.mark.parametrize("name", fixture_files("*.process.json"))
def test_engine_exec_process_json_parses_with_the_process_parser(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        raw = json.load(handle)
    stand_in = StandInConfig()
    proc = minirun._parse_process(raw, "process", stand_in)
    assert proc.args == raw["args"]
    assert proc.cwd == raw.get("cwd", "/")
    assert proc.uid == raw.get("user", {}).get("uid", 0)
    assert proc.terminal == raw.get("terminal", False)
    assert stand_in.unsupported == []


@pytest.mark.parametrize("name", ["runc-state-output.json", "crun-state-output.json"])
def test_our_state_output_has_every_key_of_the_reference_runtime(tmp_path, name):
    with open(os.path.join(FIXTURES, name)) as handle:
        reference = json.load(handle)
    state = minirun.ContainerState(id="c1", pid=123, pid_start=1, bundle="/b", rootfs="/b/rootfs",
                                   created=minirun.rfc3339(), annotations={}, hooks={})
    state.directory = str(tmp_path)
    ours = state.oci_state("running")
    runc_keys = {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
    expected = set(reference) - {"systemd-scope"}  # crun's own extension
    assert runc_keys <= set(ours)
    assert expected <= set(ours)
    for key in expected:
        assert type(ours[key]) is type(reference[key]), key


# --- hostile values: what reaches the kernel -------------------------------
# Every string may reach the kernel as a C string, every number as a C type:
# a value the kernel cannot take as written is refused here, naming its
# field, instead of being cut short, wrapped or failing as a traceback later.


def set_path(raw, path, value):
    """raw with value at path (a dotted path; digits index lists, which are created)."""
    node = raw
    steps = path.split(".")
    for step, following in zip(steps, steps[1:]):
        key = int(step) if step.isdigit() else step
        if isinstance(node, dict) and key not in node:
            node[key] = [] if following.isdigit() else {}
        while isinstance(node, list) and len(node) <= key:
            node.append({} if not following.isdigit() else [])
        node = node[key]
    last = steps[-1]
    node[int(last) if last.isdigit() else last] = value
    return raw


def string_fields():
    """(config with a slot for a string, dotted path of the string, field named in errors)."""
    uts = lambda: with_namespaces(base_config(), "uts")  # noqa: E731
    net = lambda: with_namespaces(base_config(), "network")  # noqa: E731
    user = lambda: with_namespaces(base_config(linux={  # noqa: E731
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}), "user")
    proc = lambda **f: base_config(process=process(**f))  # noqa: E731
    tmpfs = {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}
    hook = {"path": "/bin/hook", "args": ["hook", "x"], "env": ["A=1"]}
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    return [
        (base_config(), "root.path", "root.path"),
        (uts(), "hostname", "hostname"),
        (uts(), "domainname", "domainname"),
        (base_config(), "ociVersion", "ociVersion"),
        (proc(), "process.args.0", "process.args[0]"),
        (proc(env=["A=1"]), "process.env.0", "process.env[0]"),
        (proc(), "process.cwd", "process.cwd"),
        (proc(), "process.apparmorProfile", "process.apparmorProfile"),
        (proc(), "process.selinuxLabel", "process.selinuxLabel"),
        (proc(capabilities={"bounding": ["CAP_KILL"]}), "process.capabilities.bounding.0",
         "process.capabilities.bounding[0]"),
        (proc(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}]), "process.rlimits.0.type",
         "process.rlimits[0].type"),
        (base_config(mounts=[dict(tmpfs)]), "mounts.0.destination", "mounts[0].destination"),
        (base_config(mounts=[dict(tmpfs)]), "mounts.0.type", "mounts[0].type"),
        (base_config(mounts=[dict(tmpfs)]), "mounts.0.source", "mounts[0].source"),
        (base_config(mounts=[dict(tmpfs)]), "mounts.0.options.0", "mounts[0].options[0]"),
        (base_config(hooks={"prestart": [dict(hook)]}), "hooks.prestart.0.path", "hooks.prestart[0].path"),
        (base_config(hooks={"poststop": [dict(hook)]}), "hooks.poststop.0.args.1", "hooks.poststop[0].args[1]"),
        (base_config(hooks={"createRuntime": [dict(hook)]}), "hooks.createRuntime.0.env.0",
         "hooks.createRuntime[0].env[0]"),
        (base_config(annotations={"a": "b"}), "annotations.a", "annotations.a"),
        (base_config(), "linux.namespaces.1.path", "linux.namespaces[1].path"),
        (base_config(), "linux.maskedPaths.0", "linux.maskedPaths[0]"),
        (base_config(), "linux.readonlyPaths.0", "linux.readonlyPaths[0]"),
        (base_config(), "linux.devices.0.path", "linux.devices[0].path"),
        (net(), "linux.sysctl.net.ipv4.ip_forward", "linux.sysctl.net.ipv4.ip_forward"),
        (base_config(), "linux.cgroupsPath", "linux.cgroupsPath"),
        (base_config(), "linux.mountLabel", "linux.mountLabel"),
        (base_config(), "linux.rootfsPropagation", "linux.rootfsPropagation"),
        (base_config(linux={"namespaces": [{"type": "mount"}], "seccomp": seccomp}),
         "linux.seccomp.syscalls.0.names.0", "linux.seccomp.syscalls[0].names[0]"),
        (base_config(linux={"namespaces": [{"type": "mount"}], "seccomp": seccomp}),
         "linux.seccomp.listenerPath", "linux.seccomp.listenerPath"),
        (user(), "linux.personality.domain", "linux.personality.domain"),
    ]


def fill(raw, path, text):
    """Put `text` at path, with what the rest of that entry needs to be valid."""
    if path.startswith("linux.namespaces."):
        raw["linux"]["namespaces"].append({"type": "network", "path": text})
        return raw
    if path.startswith("linux.devices."):
        raw["linux"]["devices"] = [{"path": text, "type": "c", "major": 1, "minor": 3}]
        return raw
    if path.startswith("linux.sysctl."):
        raw["linux"]["sysctl"] = {path[len("linux.sysctl."):]: text}
        return raw
    if path in ("linux.maskedPaths.0", "linux.readonlyPaths.0"):
        raw["linux"][path.split(".")[1]] = [text]
        return raw
    if path == "linux.personality.domain":
        raw["linux"]["personality"] = {"domain": text}
        return raw
    return set_path(raw, path, text)


@pytest.mark.parametrize("raw,path,field", string_fields(), ids=[f for _r, _p, f in string_fields()])
@pytest.mark.parametrize("bad", ["a\0b", "\0", "/x\udcff", "\ud800"], ids=["nul", "only-nul", "surrogate",
                                                                          "high-surrogate"])
def test_a_nul_or_a_lone_surrogate_in_any_string_is_refused_naming_the_field(raw, path, field, bad):
    # "/" first: where an absolute path is expected, only the bad part is wrong.
    exc = config_error(fill(copy.deepcopy(raw), path, "/" + bad))
    assert exc.field == field, str(exc)
    assert ("NUL" in str(exc)) == ("\0" in bad)
    assert "\0" not in str(exc)


def test_a_nul_inside_a_mount_option_is_refused_not_cut_short():
    # `mode=755\0x` reached mount(2) as "mode=755" before; the data string is
    # a C string: everything after the NUL would silently vanish.
    exc = config_error(mount(destination="/tmp", type="tmpfs", source="tmpfs", options=["mode=755\0x"]))
    assert exc.field == "mounts[0].options[0]" and "NUL" in str(exc)


@pytest.mark.parametrize("section", ["annotations", "sysctl"])
def test_keys_with_a_nul_or_a_surrogate_are_refused(section):
    for key in ("a\0b", "net.\udcff"):
        raw = with_namespaces(base_config(), "network")
        if section == "annotations":
            raw["annotations"] = {key: "v"}
        else:
            raw["linux"]["sysctl"] = {key: "1"}
        exc = config_error(raw)
        assert exc.field.startswith("annotations" if section == "annotations" else "linux.sysctl")


@pytest.mark.parametrize("field", ["uid", "gid"])
@pytest.mark.parametrize("value", [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 64, -1])
def test_process_user_ids_outside_0_to_2147483647_are_refused_naming_the_field(field, value):
    # 4294967295 is (uid_t)-1: setresuid leaves the id unchanged, root.
    exc = config_error(base_config(process=process(user={field: value})))
    assert exc.field == "process.user." + field and "out of range" in str(exc)


def test_the_largest_user_id_is_accepted():
    cfg = parse(base_config(process=process(user={"uid": 2 ** 31 - 1, "gid": 2 ** 31 - 1,
                                                  "additionalGids": [2 ** 31 - 1]})))
    assert (cfg.process.uid, cfg.process.gid, cfg.process.additional_gids) == (2 ** 31 - 1,) * 2 + ([2 ** 31 - 1],)


@pytest.mark.parametrize("value", [2 ** 31, 2 ** 32 - 1, -1])
def test_additional_gids_outside_the_range_are_refused_naming_the_index(value):
    exc = config_error(base_config(process=process(user={"additionalGids": [5, value]})))
    assert exc.field == "process.user.additionalGids[1]" and "out of range" in str(exc)


def test_more_additional_gids_than_the_kernel_takes_are_refused():
    exc = config_error(base_config(process=process(user={"additionalGids": list(range(65537))})))
    assert exc.field == "process.user.additionalGids"


def mapping_config(*uid_maps):
    raw = base_config(linux={"uidMappings": list(uid_maps),
                             "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]})
    return with_namespaces(raw, "user")


@pytest.mark.parametrize("mapping,field", [
    ({"containerID": 2 ** 32 - 1, "hostID": 0, "size": 1}, "linux.uidMappings[0].containerID"),
    ({"containerID": 0, "hostID": 2 ** 32 - 1, "size": 1}, "linux.uidMappings[0].hostID"),
    ({"containerID": 0, "hostID": 2 ** 32, "size": 1}, "linux.uidMappings[0].hostID"),
    ({"containerID": 2 ** 31, "hostID": 0, "size": 1}, "linux.uidMappings[0].containerID"),
    ({"containerID": 0, "hostID": 2 ** 31, "size": 1}, "linux.uidMappings[0].hostID"),
    ({"containerID": 2 ** 31 - 1, "hostID": 0, "size": 2 ** 31 + 1}, "linux.uidMappings[0].size"),
    ({"containerID": 0, "hostID": 100000, "size": 2 ** 32 - 1}, "linux.uidMappings[0].size"),
    ({"containerID": 0, "hostID": 1, "size": 2 ** 32}, "linux.uidMappings[0].size"),
])
def test_id_mappings_the_kernel_cannot_take_are_refused_naming_the_field(mapping, field):
    assert config_error(mapping_config(mapping)).field == field


def test_the_widest_id_mapping_the_kernel_takes_is_accepted():
    widest = {"containerID": 0, "hostID": 0, "size": 2 ** 32 - 1}
    assert parse(mapping_config(widest)).uid_mappings == [(0, 0, 2 ** 32 - 1)]


@pytest.mark.parametrize("second", [
    {"containerID": 5, "hostID": 5000, "size": 1},   # inside ranges overlap
    {"containerID": 100, "hostID": 1005, "size": 1},  # host ranges overlap
])
def test_overlapping_id_mappings_are_refused_naming_the_later_one(second):
    exc = config_error(mapping_config({"containerID": 0, "hostID": 1000, "size": 10}, second))
    assert exc.field == "linux.uidMappings[1]" and "overlaps linux.uidMappings[0]" in str(exc)


def test_more_id_mapping_ranges_than_the_kernel_keeps_are_refused():
    ranges = [{"containerID": i, "hostID": 1000 + i, "size": 1} for i in range(341)]
    assert config_error(mapping_config(*ranges)).field == "linux.uidMappings"
    assert len(parse(mapping_config(*ranges[:340])).uid_mappings) == 340


@pytest.mark.parametrize("secs", [2 ** 64, -2 ** 64, 2 ** 63, 4611686019, -4611686019])
def test_time_offsets_beyond_the_kernels_range_are_refused_naming_the_field(secs):
    # 2**64 was written as "monotonic 18446744073709551616 0" and became 0.
    raw = with_namespaces(base_config(), "time")
    raw["linux"]["timeOffsets"] = {"monotonic": {"secs": secs, "nanosecs": 0}}
    exc = config_error(raw)
    assert exc.field == "linux.timeOffsets.monotonic.secs" and "range" in str(exc)


def test_time_offsets_at_the_kernels_bound_are_accepted():
    raw = with_namespaces(base_config(), "time")
    raw["linux"]["timeOffsets"] = {"boottime": {"secs": 4611686018}, "monotonic": {"secs": -4611686018}}
    assert parse(raw).time_offsets == {"boottime": (4611686018, 0), "monotonic": (-4611686018, 0)}


@pytest.mark.parametrize("numbers,field", [
    ({"major": 2 ** 32 - 1, "minor": 0}, "linux.devices[0].major"),
    ({"major": 4096, "minor": 0}, "linux.devices[0].major"),
    ({"major": 1, "minor": 2 ** 20}, "linux.devices[0].minor"),
    ({"major": 1, "minor": 2 ** 32 - 1}, "linux.devices[0].minor"),
    ({"major": 1, "minor": 3, "uid": 2 ** 32 - 1}, "linux.devices[0].uid"),
    ({"major": 1, "minor": 3, "gid": 2 ** 31}, "linux.devices[0].gid"),
])
def test_device_numbers_mknod_cannot_take_are_refused_naming_the_field(numbers, field):
    # mknod(2) takes a 32-bit dev_t: a 12-bit major and a 20-bit minor.
    # 2**32-1 was an OverflowError from os.makedev.
    exc = config_error(device_config(dict({"path": "/dev/x", "type": "c"}, **numbers)))
    assert exc.field == field and "out of range" in str(exc)


def test_the_largest_device_numbers_are_accepted_and_fit_mknod():
    cfg = parse(device_config({"path": "/dev/x", "type": "b", "major": 4095, "minor": 2 ** 20 - 1}))
    device = cfg.devices[0]
    dev = os.makedev(device.major, device.minor)
    assert dev < 2 ** 32  # what glibc passes to mknod unchanged
    assert (os.major(dev), os.minor(dev)) == (4095, 2 ** 20 - 1)


@pytest.mark.parametrize("field", ["hostname", "domainname"])
def test_names_longer_than_the_kernel_takes_are_refused(field):
    raw = with_namespaces(base_config(), "uts")
    raw[field] = "h" * 64
    assert getattr(parse(raw), field) == "h" * 64
    raw[field] = "h" * 65
    assert config_error(raw).field == field


def test_an_rlimit_whose_soft_value_exceeds_its_hard_value_is_refused():
    exc = config_error(base_config(process=process(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2048, "hard": 1024}])))
    assert exc.field == "process.rlimits[0].soft"


def test_a_hook_timeout_beyond_what_poll_takes_is_refused():
    raw = base_config(hooks={"prestart": [{"path": "/bin/true", "timeout": 10 ** 12}]})
    assert config_error(raw).field == "hooks.prestart[0].timeout"


def seccomp_config(architectures):
    return base_config(linux={"namespaces": [{"type": "mount"}], "seccomp": {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": architectures}})


@pytest.mark.parametrize("name", ["SCMP_ARCH_Z80", "x86_64", "SCMP_ARCH_NATIVE", "scmp_arch_x86_64", ""])
def test_an_unknown_seccomp_architecture_is_refused_naming_its_index(name):
    exc = config_error(seccomp_config(["SCMP_ARCH_X86_64", name]))
    assert exc.field == "linux.seccomp.architectures[1]" and "unknown architecture" in str(exc)


def test_every_libseccomp_architecture_name_is_accepted():
    names = ["SCMP_ARCH_" + n for n in (
        "X86", "X86_64", "X32", "ARM", "AARCH64", "MIPS", "MIPS64", "MIPS64N32", "MIPSEL", "MIPSEL64",
        "MIPSEL64N32", "PPC", "PPC64", "PPC64LE", "S390", "S390X", "RISCV64", "PARISC", "PARISC64",
        "LOONGARCH64", "M68K", "SH", "SHEB")]
    assert parse(seccomp_config(names)).seccomp.architectures == names


def test_deeply_nested_resources_do_not_exhaust_the_stack():
    nested = "x"
    for _ in range(20000):
        nested = [nested]
    raw = base_config()
    raw["linux"]["resources"] = {"devices": nested}
    with pytest.raises(minirun.ConfigError, match=r"linux\.resources\.devices\[0\]"):
        parse(raw)


def test_config_json_nested_deeper_than_python_recurses_is_an_error_naming_it(tmp_path):
    (tmp_path / "config.json").write_text('{"a": ' + "[" * 100000 + "]" * 100000 + "}")
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(str(tmp_path))
    assert "config.json" in str(caught.value) and "nested" in str(caught.value)


def test_a_bundle_path_that_is_not_utf8_is_refused_naming_the_bundle(tmp_path):
    bundle = os.path.join(os.fsencode(str(tmp_path)), b"b\xff\xfe")
    os.mkdir(bundle)
    with open(os.path.join(bundle, b"config.json"), "w") as handle:
        json.dump(base_config(), handle)
    with pytest.raises(minirun.Error) as caught:
        minirun.load_config(os.fsdecode(bundle))
    assert str(caught.value).startswith("--bundle ") and "not valid UTF-8" in str(caught.value)


# --- sysctls aimed at the runtime's own or the host's namespace -------------


def joined_sysctl_config(kind, path, key):
    raw = base_config()
    raw["linux"]["namespaces"].append({"type": kind, "path": path})
    raw["linux"]["sysctl"] = {key: "1"}
    return parse(raw)


# (no uts key: kernel.hostname and kernel.domainname are refused whatever the namespace)
@pytest.mark.parametrize("kind,key", [("network", "net.ipv4.ip_forward"), ("ipc", "kernel.shmmax"),
                                      ("ipc", "fs.mqueue.msg_max")])
def test_a_sysctl_for_a_joined_namespace_that_is_the_runtimes_own_is_refused(kind, key):
    cfg = joined_sysctl_config(kind, "/proc/self/ns/x", key)
    asked = []

    def is_runtimes_own(path, asked_kind):
        asked.append((path, asked_kind))
        return True

    with pytest.raises(minirun.ConfigError) as caught:
        minirun.check_sysctl_targets(cfg, is_runtimes_own)
    assert caught.value.field == "linux.sysctl." + key
    assert "/proc/self/ns/x" in str(caught.value) and "host" in str(caught.value)
    assert asked == [("/proc/self/ns/x", kind)]


def test_a_sysctl_for_a_joined_namespace_of_another_container_is_accepted():
    cfg = joined_sysctl_config("network", "/run/netns/other", "net.ipv4.ip_forward")
    minirun.check_sysctl_targets(cfg, lambda path, kind: False)


def test_a_sysctl_for_a_new_namespace_needs_no_check():
    cfg = parse(with_namespaces(base_config(linux={"sysctl": {"net.ipv4.ip_forward": "1"}}), "network"))

    def never(path, kind):
        raise AssertionError("a new namespace is the container's own")

    minirun.check_sysctl_targets(cfg, never)


def test_namespace_is_runtimes_own_compares_the_namespace_itself():
    own = "/proc/self/ns/net"
    assert minirun.namespace_is_runtimes_own(own, "network")
    assert minirun.namespace_is_runtimes_own("/proc/%d/ns/net" % os.getpid(), "network")  # another name
    fd = os.open(own, os.O_RDONLY)
    try:
        assert minirun.namespace_is_runtimes_own(fd, "network")  # an fd, as create holds it
    finally:
        os.close(fd)
    assert not minirun.namespace_is_runtimes_own("/proc/self/ns/ipc", "network")  # another namespace
    assert not minirun.namespace_is_runtimes_own("/no/such/namespace", "network")  # open says why later
    assert not minirun.namespace_is_runtimes_own(minirun.__file__, "network")


def test_sysctl_error_names_the_key_and_the_kernels_reason():
    exc = minirun.sysctl_error("net.ipv4.ip_forward", OSError(22, "Invalid argument"))
    assert isinstance(exc, minirun.ConfigError)
    assert exc.field == "linux.sysctl.net.ipv4.ip_forward"
    assert str(exc) == "config.json: linux.sysctl.net.ipv4.ip_forward: the kernel refused the value: Invalid argument"


# --- linux.memoryPolicy and linux.netDevices (runtime-spec 1.3) ----------------


def memory_policy(**policy):
    raw = base_config()
    raw["linux"]["memoryPolicy"] = policy
    return raw


@pytest.mark.parametrize("text,nodes", [("0", {0}), ("0-3,7", {0, 1, 2, 3, 7}), ("", set()), ("2-2", {2})])
def test_a_node_list_reads_as_cpusets_write_it(text, nodes):
    assert minirun.parse_node_list(text, "f") == frozenset(nodes)


@pytest.mark.parametrize("text", ["a", "1-", "-1", "3-1", "0,,1", "4096", "1 2"])
def test_a_malformed_node_list_is_refused_naming_the_field(text):
    assert config_error(memory_policy(mode="MPOL_BIND", nodes=text)).field == "linux.memoryPolicy.nodes"


def test_a_memory_policy_is_decoded_into_numbers():
    cfg = parse(memory_policy(mode="MPOL_BIND", nodes="0-1", flags=["MPOL_F_STATIC_NODES"]))
    policy = cfg.memory_policy
    assert (policy.mode, policy.flags, policy.nodes) == (2, 1 << 15, frozenset({0, 1}))
    assert parse(base_config()).memory_policy is None


@pytest.mark.parametrize("policy,field", [
    ({"nodes": "0"}, "linux.memoryPolicy.mode"),
    ({"mode": "MPOL_SOMETIMES"}, "linux.memoryPolicy.mode"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_SOMETIMES"]}, "linux.memoryPolicy.flags[0]"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
     "linux.memoryPolicy.flags"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}, "linux.memoryPolicy.flags"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_STATIC_NODES"]}, "linux.memoryPolicy.flags"),
    ({"mode": "MPOL_LOCAL", "flags": ["MPOL_F_RELATIVE_NODES"]}, "linux.memoryPolicy.flags"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": ""}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_PREFERRED_MANY"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE"}, "linux.memoryPolicy.nodes"),
    ({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]}, "linux.memoryPolicy.flags"),
    ({"mode": "MPOL_BIND", "nodes": 0}, "linux.memoryPolicy.nodes"),
])
def test_a_memory_policy_the_kernel_would_refuse_is_refused_naming_its_field(policy, field):
    assert config_error(memory_policy(**policy)).field == field


@pytest.mark.parametrize("policy", [
    {"mode": "MPOL_PREFERRED"}, {"mode": "MPOL_LOCAL"}, {"mode": "MPOL_DEFAULT"},
    {"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
    {"mode": "MPOL_PREFERRED_MANY", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
])
def test_memory_policies_the_kernel_takes_parse(policy):
    assert parse(memory_policy(**policy)).memory_policy is not None


def net_devices(devices, network=True):
    raw = base_config()
    raw["linux"]["netDevices"] = devices
    raw["linux"]["namespaces"] = [{"type": "mount"}] + ([{"type": "network"}] if network else [])
    return raw


def test_net_devices_are_decoded_with_their_names_in_the_container():
    cfg = parse(net_devices({"eth1": {"name": "ctr0"}, "eth2": {}, "eth3": None}))
    assert cfg.net_devices == [("eth1", "ctr0", "linux.netDevices.eth1"), ("eth2", "eth2", "linux.netDevices.eth2"),
                               ("eth3", "eth3", "linux.netDevices.eth3")]


@pytest.mark.parametrize("devices,field", [
    ({"eth1": {"name": "a" * 16}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": "a/b"}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": "a b"}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": "a:1"}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": "."}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": ".."}}, "linux.netDevices.eth1.name"),
    ({"eth1": {"name": 5}}, "linux.netDevices.eth1.name"),
    ({"e/1": {}}, "linux.netDevices.e/1"),
    ({"a" * 16: {}}, "linux.netDevices." + "a" * 16),
    ({"eth1": "ctr0"}, "linux.netDevices.eth1"),
    ({"eth1": {"name": "ctr0"}, "eth2": {"name": "ctr0"}}, "linux.netDevices.eth2.name"),
    ({"eth1": {"name": "eth2"}, "eth2": {}}, "linux.netDevices.eth2"),
])
def test_a_bad_or_clashing_interface_name_is_refused_naming_its_entry(devices, field):
    assert config_error(net_devices(devices)).field == field


def test_fifteen_bytes_is_the_longest_interface_name():
    assert parse(net_devices({"eth1": {"name": "a" * 15}})).net_devices[0][1] == "a" * 15


@pytest.mark.parametrize("namespace", [None, "/var/run/netns/other"])
def test_net_devices_need_a_new_network_namespace(namespace):
    raw = net_devices({"eth1": {}}, network=False)
    if namespace:
        raw["linux"]["namespaces"].append({"type": "network", "path": namespace})
    error = config_error(raw)
    assert error.field == "linux.netDevices.eth1" and "new network namespace" in str(error)
