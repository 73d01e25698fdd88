"""Section 12, driven through the kernel seam: process setup, shared by the init and exec.

prepare_process, finish_process and apply_user run with a ProcessPlan that
plan_process built from real configs and a Host whose facts are given; the
RecordingKernel records the credential, capability, limit and filter calls
without making them. The order is the contract:

  prepare_process: rlimits -> ioprio -> scheduler (both need CAP_SYS_NICE
    or more, so while it is held) -> cwd -> seccomp (without no_new_privs: it needs
    CAP_SYS_ADMIN, so before the capabilities go) -> setgroups -> setresgid
    -> setresuid -> capset -> ambient raises -> umask -> personality ->
    no_new_privs
  finish_process: the LSM label for execve -> exec's final CPU affinity ->
    the seccomp filter (with no_new_privs: as late as possible)
"""

import json
import os
import signal

import pytest

import minirun
from minirun import (PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP, PR_SET_KEEPCAPS, PR_SET_NO_NEW_PRIVS)

from .helpers import BUNDLES, FIXTURES, base_config, engine_fixtures, load_json
from .kernel_double import FAKE_FD, RecordingKernel

SECCOMP_FACTS = dict([("seccomp_action_%x" % (value & 0xFFFF0000), True) for value in minirun.SECCOMP_ACTIONS.values()]
                     + [("seccomp_flag_%x" % flag, True) for flag in (1, 2, 4, 32 | 8)])
FACTS = dict(SECCOMP_FACTS, euid=0, in_user_namespace=False, apparmor=True,
             apparmor_profiles=frozenset(["docker-default"]), selinux=False, last_capability=40)
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
ALLOW_ALL = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
CAPS = ["CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE", "CAP_KILL"]


@pytest.fixture(autouse=True)
def keep_signal_dispositions():
    """finish_process resets SIGPIPE and SIGXFSZ in the calling process (not
    through the kernel seam): give the test process its own back."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGPIPE, signal.SIGXFSZ)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def process_config(**process):
    raw = base_config()
    raw["process"] = dict({"args": ["sh", "-c", "true"], "cwd": "/", "env": ENV}, **process)
    return raw


def plan_of(raw, **facts):
    cfg = minirun.parse_config(raw, "/bundles/b1")
    host = minirun.Host(facts=dict(FACTS, **facts))
    return minirun.plan_process(cfg.process, host, cfg.seccomp, cfg.personality, mount_label=cfg.mount_label)


STATE = {"ociVersion": minirun.SPEC_VERSION, "id": "c1", "status": "creating", "pid": 4242, "bundle": "/b"}


def steps(k):
    """The recorded calls as named steps, consecutive repeats collapsed."""
    names = []
    for call in k.calls:
        name = call[0]
        if name == "prctl":
            name = {PR_SET_KEEPCAPS: "keepcaps", PR_CAPBSET_DROP: "bounding", PR_CAP_AMBIENT: "ambient",
                    PR_SET_NO_NEW_PRIVS: "no_new_privs"}.get(call[1], "prctl %d" % call[1])
        elif name in ("open", "close", "openat2_in_root", "filesystem_type", "openat2_beneath"):
            continue
        if not names or names[-1] != name:
            names.append(name)
    return names


def full_raw(no_new_privileges):
    raw = process_config(
        user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20], "umask": 0o027},
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048},
                 {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}],
        capabilities={kind: CAPS for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")},
        noNewPrivileges=no_new_privileges, apparmorProfile="docker-default")
    raw["linux"]["seccomp"] = ALLOW_ALL
    raw["linux"]["personality"] = {"domain": "LINUX32"}
    return raw


def test_prepare_process_without_no_new_privs_loads_the_filter_before_dropping_privilege(tmp_path):
    pplan = plan_of(full_raw(no_new_privileges=False))
    k = RecordingKernel(tmp_path)
    executable, env = minirun.prepare_process(k, pplan, None, STATE)
    assert steps(k) == ["setrlimit", "chdir", "seccomp_load", "keepcaps", "bounding", "setgroups", "setresgid",
                        "setresuid", "keepcaps", "capset", "ambient", "umask", "personality"]
    assert executable in ("/usr/bin/sh", "/bin/sh", "/usr/local/bin/sh", "/usr/sbin/sh", "/sbin/sh")
    assert env["PATH"] == ENV[0].partition("=")[2] and "HOME" in env


def test_prepare_process_with_no_new_privs_ends_with_it_and_leaves_the_filter_to_finish(tmp_path):
    pplan = plan_of(full_raw(no_new_privileges=True))
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    assert steps(k) == ["setrlimit", "chdir", "keepcaps", "bounding", "setgroups", "setresgid", "setresuid",
                        "keepcaps", "capset", "ambient", "umask", "personality", "no_new_privs"]
    k.calls.clear()
    minirun.finish_process(k, pplan, None, STATE)
    assert steps(k) == ["write_fd", "seccomp_load"]  # the exec label first, the filter last
    # through the proven procfs, as /proc/PID/... ("self" is a symlink, refused on the way)
    (opened,) = k.only("openat2_beneath")
    assert opened[1] == "/proc" and opened[2] in ("%d/attr/apparmor/exec" % os.getpid(), "%d/attr/exec" % os.getpid())
    (label,) = k.only("write_fd")
    assert label[2] == "exec docker-default"


def test_finish_process_without_no_new_privs_loads_no_second_filter(tmp_path):
    pplan = plan_of(full_raw(no_new_privileges=False))
    k = RecordingKernel(tmp_path)
    minirun.finish_process(k, pplan, None, STATE)
    assert k.only("seccomp_load") == []


def test_finish_process_restores_the_signals_python_ignores(tmp_path):
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    minirun.finish_process(RecordingKernel(tmp_path), plan_of(process_config()), None, STATE)
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_DFL


def test_the_values_of_each_step(tmp_path):
    pplan = plan_of(full_raw(no_new_privileges=False))
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    nofile, nproc = minirun.RLIMITS["RLIMIT_NOFILE"], minirun.RLIMITS["RLIMIT_NPROC"]
    assert [call[1:] for call in k.only("setrlimit")] == [(nofile, 1024, 2048), (nproc, 100, 200)]
    assert k.only("chdir") == [("chdir", "/")]
    assert k.only("setgroups") == [("setgroups", [10, 20])]
    assert k.only("setresgid") == [("setresgid", 1000)] and k.only("setresuid") == [("setresuid", 1000)]
    mask = sum(1 << minirun.CAPABILITY_BITS[name] for name in CAPS)
    assert k.only("capset") == [("capset", mask, mask, mask)]
    assert k.only("umask") == [("umask", 0o027)]
    assert k.only("personality") == [("personality", 0x0008)]
    (load,) = k.only("seccomp_load")
    assert load[1] == len(pplan.seccomp.program) and load[2] == 0


def test_unlimited_rlimits_become_rlim_infinity(tmp_path):
    pplan = plan_of(process_config(rlimits=[{"type": "RLIMIT_CORE", "soft": 2 ** 64 - 1, "hard": 2 ** 64 - 1}]))
    k = RecordingKernel(tmp_path)
    minirun.apply_rlimits(k, pplan)
    assert k.calls == [("setrlimit", minirun.RLIMITS["RLIMIT_CORE"], -1, -1)]


def test_a_process_without_capabilities_keeps_the_sets_it_has(tmp_path):
    raw = process_config()
    k = RecordingKernel(tmp_path)
    minirun.apply_user(k, plan_of(raw))
    assert k.names() == ["setgroups", "setresgid", "setresuid"]
    assert k.calls == [("setgroups", []), ("setresgid", 0), ("setresuid", 0)]


# --- capabilities --------------------------------------------------------------------


def test_every_capability_outside_the_bounding_set_is_dropped(tmp_path):
    pplan = plan_of(process_config(capabilities={"bounding": CAPS, "effective": CAPS, "permitted": CAPS}))
    k = RecordingKernel(tmp_path)
    minirun.apply_user(k, pplan)
    dropped = [call[2] for call in k.only("prctl") if call[1] == PR_CAPBSET_DROP]
    kept = {minirun.CAPABILITY_BITS[name] for name in CAPS}
    # apply_user counts up to the running host's last capability (HOST, not the plan's Host).
    assert dropped == [bit for bit in range(minirun.HOST.last_capability + 1) if bit not in kept]


def test_the_bounding_set_is_trimmed_while_root_and_keepcaps_spans_the_uid_switch(tmp_path):
    pplan = plan_of(process_config(user={"uid": 1000, "gid": 1000},
                                   capabilities={"bounding": CAPS, "effective": CAPS, "permitted": CAPS}))
    k = RecordingKernel(tmp_path)
    minirun.apply_user(k, pplan)
    calls = [(c[0], c[1], c[2]) if c[0] == "prctl" else (c[0],) for c in k.calls]
    keepcaps_on = calls.index(("prctl", PR_SET_KEEPCAPS, 1))
    keepcaps_off = calls.index(("prctl", PR_SET_KEEPCAPS, 0))
    last_drop = max(i for i, c in enumerate(calls) if c[:2] == ("prctl", PR_CAPBSET_DROP))
    assert keepcaps_on < last_drop < calls.index(("setresuid",)) < keepcaps_off < calls.index(("capset",))


def test_ambient_capabilities_not_permitted_and_inheritable_are_never_raised(tmp_path):
    raw = process_config(capabilities={
        "bounding": CAPS + ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN"],
        "inheritable": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_ADMIN"],
        "effective": ["CAP_CHOWN"],
        "ambient": ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SETUID"]})
    pplan = plan_of(raw)
    bits = minirun.CAPABILITY_BITS
    assert pplan.capabilities["ambient"] == (1 << bits["CAP_CHOWN"]) | (1 << bits["CAP_KILL"])
    k = RecordingKernel(tmp_path)
    minirun.apply_user(k, pplan)
    raised = [call[3] for call in k.only("prctl") if call[1] == PR_CAP_AMBIENT]
    assert raised == sorted([bits["CAP_CHOWN"], bits["CAP_KILL"]])
    assert all(call[2] == PR_CAP_AMBIENT_RAISE for call in k.only("prctl") if call[1] == PR_CAP_AMBIENT)


def test_capabilities_newer_than_the_host_are_left_out_of_the_masks():
    pplan = plan_of(process_config(capabilities={"bounding": ["CAP_CHOWN", "CAP_CHECKPOINT_RESTORE"]}),
                    last_capability=39)
    assert pplan.capabilities["bounding"] == 1 << minirun.CAPABILITY_BITS["CAP_CHOWN"]


# --- failures name their field ---------------------------------------------------------


class SetgroupsDenied(RecordingKernel):
    """A user namespace whose setgroups file says deny."""

    def setgroups(self, gids):
        self.record("setgroups", list(gids))
        raise PermissionError(1, "Operation not permitted")


def test_additional_gids_where_setgroups_is_denied_are_refused_naming_the_field(tmp_path):
    k = SetgroupsDenied(tmp_path)
    with pytest.raises(minirun.Error) as caught:
        minirun.apply_user(k, plan_of(process_config(user={"uid": 0, "gid": 0, "additionalGids": [5]})))
    assert str(caught.value) == "process.user.additionalGids: setgroups is not permitted here"
    assert k.only("setresuid") == []


def test_no_additional_gids_where_setgroups_is_denied_is_fine(tmp_path):
    k = SetgroupsDenied(tmp_path)
    minirun.apply_user(k, plan_of(process_config(user={"uid": 5, "gid": 6})))
    assert k.names() == ["setgroups", "setresgid", "setresuid"]


class CwdForRootOnly(RecordingKernel):
    """A cwd only the process user may enter: refused until setresuid."""

    def chdir(self, path):
        super().chdir(path)
        if not self.only("setresuid"):
            raise PermissionError(13, "Permission denied", path)


def test_a_cwd_refused_to_root_is_entered_again_after_the_user_switch(tmp_path):
    k = CwdForRootOnly(tmp_path)
    minirun.prepare_process(k, plan_of(process_config(cwd="/home/u", user={"uid": 1000, "gid": 1000})), None, STATE)
    names = k.names()
    assert [i for i, name in enumerate(names) if name == "chdir"] == [
        names.index("chdir"), max(i for i, name in enumerate(names) if name == "chdir")]
    assert names.index("setresuid") < max(i for i, name in enumerate(names) if name == "chdir") < names.index("umask")


class CwdMissing(RecordingKernel):
    def chdir(self, path):
        super().chdir(path)
        raise FileNotFoundError(2, "No such file or directory", path)


def test_a_missing_cwd_is_refused_naming_process_cwd(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.prepare_process(CwdMissing(tmp_path), plan_of(process_config(cwd="/nope")), None, STATE)
    assert str(caught.value) == "process.cwd: /nope: No such file or directory"


def test_a_missing_executable_is_reported_as_docker_expects(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.prepare_process(RecordingKernel(tmp_path), plan_of(process_config(args=["no-such-tool-xyz"])),
                                None, STATE)
    assert str(caught.value) == 'exec: "no-such-tool-xyz": executable file not found in $PATH'


# --- seccomp with a listener -------------------------------------------------------------


def test_a_notify_filter_hands_its_listener_to_the_agent_with_the_state(tmp_path):
    raw = process_config(noNewPrivileges=True)
    raw["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                               "listenerMetadata": "meta", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    pplan = plan_of(raw)
    listener = FAKE_FD + 50
    k = RecordingKernel(tmp_path)
    minirun.finish_process(k, pplan, listener, STATE)
    load, send = [call for call in k.calls if call[0] in ("seccomp_load", "send_fd")]
    assert load[2] & 8  # SECCOMP_FILTER_FLAG_NEW_LISTENER
    assert send[1:3] == (listener, FAKE_FD)
    message = json.loads(send[3])
    assert message == {"ociVersion": minirun.SPEC_VERSION, "fds": ["seccompFd"], "pid": 4242, "metadata": "meta",
                       "state": STATE}
    assert ("close", FAKE_FD) in k.calls and ("close", listener) in k.calls


# --- scheduler, I/O priority and exec's CPU affinity ----------------------------------------


def new_fields_raw(**fields):
    raw = full_raw(no_new_privileges=True)
    raw["process"].update(fields)
    return raw


def exec_plan_of(raw, **facts):
    cfg = minirun.parse_config(raw, "/bundles/b1")
    host = minirun.Host(facts=dict(FACTS, **facts))
    return minirun.plan_process(cfg.process, host, cfg.seccomp, cfg.personality, exec_affinity=True)


SCHEDULER = {"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
IO_PRIORITY = {"class": "IOPRIO_CLASS_RT", "priority": 3}


def test_io_priority_and_scheduler_are_set_after_the_rlimits_and_before_any_privilege_goes(tmp_path):
    """CAP_SYS_NICE is needed for a real-time policy: before the capabilities
    are dropped; after the rlimits (RLIMIT_RTPRIO may be what allows it)."""
    pplan = plan_of(new_fields_raw(scheduler=SCHEDULER, ioPriority=IO_PRIORITY))
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    assert steps(k) == ["setrlimit", "ioprio_set", "sched_setattr", "chdir", "keepcaps", "bounding", "setgroups",
                        "setresgid", "setresuid", "keepcaps", "capset", "ambient", "umask", "personality",
                        "no_new_privs"]
    assert k.only("ioprio_set") == [("ioprio_set", 1 << 13 | 3)]
    # policy, flags, nice, priority, runtime, deadline, period, size (SCHED_ATTR_SIZE_VER0)
    assert k.only("sched_setattr") == [("sched_setattr", 1, 0x01, 0, 10, 0, 0, 0, 48)]


def test_a_scheduler_without_privileged_needs_still_comes_before_the_filter_without_no_new_privs(tmp_path):
    """A profile loaded before the user switch could refuse sched_setattr."""
    raw = new_fields_raw(scheduler={"policy": "SCHED_BATCH", "nice": 5})
    raw["process"]["noNewPrivileges"] = False
    pplan = plan_of(raw)
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    assert steps(k)[:4] == ["setrlimit", "sched_setattr", "chdir", "seccomp_load"]
    assert k.only("sched_setattr") == [("sched_setattr", 3, 0, 5, 0, 0, 0, 0, 48)]


def test_the_deadline_triple_and_the_longer_attr_for_utilization_clamps(tmp_path):
    pplan = plan_of(process_config(scheduler={"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                              "deadline": 30_000_000, "period": 100_000_000,
                                              "flags": ["SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_RECLAIM"]}))
    k = RecordingKernel(tmp_path)
    minirun.apply_scheduling(k, pplan)
    assert k.only("sched_setattr") == [("sched_setattr", 6, 0x20 | 0x02, 0, 0, 10_000_000, 30_000_000,
                                        100_000_000, 56)]


def test_nothing_is_asked_of_the_kernel_for_a_process_without_the_new_fields(tmp_path):
    pplan = plan_of(full_raw(no_new_privileges=True))
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    minirun.finish_process(k, pplan, None, STATE)
    assert k.only("ioprio_set", "sched_setattr", "sched_setaffinity") == []


def test_execs_final_affinity_is_set_just_before_the_late_filter(tmp_path):
    pplan = exec_plan_of(new_fields_raw(execCPUAffinity={"initial": "1", "final": "0-1"}))
    k = RecordingKernel(tmp_path)
    minirun.finish_process(k, pplan, None, STATE)
    assert steps(k) == ["write_fd", "sched_setaffinity", "seccomp_load"]
    assert k.only("sched_setaffinity") == [("sched_setaffinity", 0, (0, 1))]


def test_execs_initial_affinity_is_set_on_the_joining_stage_by_its_pid(tmp_path):
    pplan = exec_plan_of(process_config(execCPUAffinity={"initial": "1", "final": "0"}))
    k = RecordingKernel(tmp_path)
    minirun.apply_cpu_affinity(k, 4343, pplan, "initial")
    assert k.calls == [("sched_setaffinity", 4343, (1,))]


def test_the_inits_process_never_takes_execs_affinity(tmp_path):
    pplan = plan_of(new_fields_raw(execCPUAffinity={"initial": "1", "final": "0"}))
    k = RecordingKernel(tmp_path)
    minirun.apply_cpu_affinity(k, 4343, pplan, "initial")
    minirun.finish_process(k, pplan, None, STATE)
    assert k.only("sched_setaffinity") == []


def test_only_initial_leaves_the_affinity_the_process_has_after_joining(tmp_path):
    """As runc: CRI-O gives `initial` alone and expects the exec to stay there."""
    pplan = exec_plan_of(process_config(execCPUAffinity={"initial": "1"}))
    k = RecordingKernel(tmp_path)
    minirun.finish_process(k, pplan, None, STATE)
    assert k.only("sched_setaffinity") == []


class RefusingKernel(RecordingKernel):
    """The double, with the kernel's answer to one call."""

    def __init__(self, root, call, errno):
        super().__init__(root)
        self.refused, self.errno = call, errno

    def _refuse(self, name):
        if name == self.refused:
            raise OSError(self.errno, "%s: %s" % (name, os.strerror(self.errno)))

    def sched_setattr(self, *args):
        super().sched_setattr(*args)
        self._refuse("sched_setattr")

    def ioprio_set(self, value):
        super().ioprio_set(value)
        self._refuse("ioprio_set")

    def sched_setaffinity(self, pid, cpus):
        super().sched_setaffinity(pid, cpus)
        self._refuse("sched_setaffinity")


@pytest.mark.parametrize("fields,call,errno,field,fragment", [
    ({"scheduler": SCHEDULER}, "sched_setattr", 1, "process.scheduler.policy", "CAP_SYS_NICE"),
    ({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 90_000_000, "deadline": 100_000_000}},
     "sched_setattr", 16, "process.scheduler.runtime", "bandwidth"),
    ({"scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_UTIL_CLAMP_MAX"]}},
     "sched_setattr", 95, "process.scheduler.flags", "utilization clamping"),
    ({"scheduler": {"policy": "SCHED_IDLE"}}, "sched_setattr", 22, "process.scheduler.policy", "SCHED_IDLE"),
    ({"ioPriority": IO_PRIORITY}, "ioprio_set", 1, "process.ioPriority", "IOPRIO_CLASS_RT priority 3"),
])
def test_the_kernels_refusal_is_one_line_naming_the_field(tmp_path, fields, call, errno, field, fragment):
    pplan = plan_of(process_config(**fields))
    with pytest.raises(minirun.Error) as caught:
        minirun.prepare_process(RefusingKernel(tmp_path, call, errno), pplan, None, STATE)
    text = str(caught.value)
    assert text.startswith(field + ": the kernel refused") and fragment in text, text
    assert os.strerror(errno) in text and "Errno" not in text and "\n" not in text


@pytest.mark.parametrize("which,key", [("initial", "initial"), ("final", "final")])
def test_a_refused_cpu_list_names_its_field_and_the_cpus(tmp_path, which, key):
    pplan = exec_plan_of(process_config(execCPUAffinity={"initial": "0-2,5", "final": "0-2,5"}))
    k = RefusingKernel(tmp_path, "sched_setaffinity", 22)
    with pytest.raises(minirun.Error) as caught:
        minirun.apply_cpu_affinity(k, 0, pplan, which)
    assert str(caught.value).startswith("process.execCPUAffinity.%s: the kernel refused CPUs 0-2,5: " % key)
    assert "cpuset" in str(caught.value)


# --- every real process: the init's and exec's ------------------------------------------


def real_processes():
    configs = [("bundle", os.path.join(BUNDLES, name, "config.json")) for name in sorted(os.listdir(BUNDLES))
               if os.path.isfile(os.path.join(BUNDLES, name, "config.json"))]
    configs += [("config", os.path.join(FIXTURES, name)) for name in engine_fixtures("*.config.json")]
    configs += [("process", os.path.join(FIXTURES, name)) for name in engine_fixtures("*.process.json")]
    return configs


@pytest.mark.parametrize("kind,path", real_processes(), ids=[os.path.basename(p) for _, p in real_processes()])
def test_every_real_process_is_set_up_in_the_contract_order(tmp_path, kind, path):
    raw = load_json(path)
    if kind == "process":
        config = base_config()
        config["process"] = raw
        raw = config
    raw["process"]["args"] = ["sh"]  # found on this host's PATH
    raw["process"]["env"] = ENV
    raw["process"].pop("apparmorProfile", None)
    raw["process"].pop("selinuxLabel", None)
    raw.get("linux", {}).pop("mountLabel", None)
    pplan = plan_of(raw)
    k = RecordingKernel(tmp_path)
    minirun.prepare_process(k, pplan, None, STATE)
    minirun.finish_process(k, pplan, None, STATE)
    order = ["setrlimit", "ioprio_set", "sched_setattr", "chdir", "seccomp_load", "keepcaps", "bounding",
             "setgroups", "setresgid", "setresuid", "keepcaps", "capset", "ambient", "umask", "personality",
             "no_new_privs", "sched_setaffinity", "seccomp_load"]
    position = 0
    for step in steps(k):
        while order[position] != step:
            position += 1
            assert position < len(order), (step, steps(k))
        position += 1
    assert len(k.only("seccomp_load")) == (1 if pplan.seccomp is not None else 0)
    if pplan.no_new_privileges and pplan.seccomp is not None:
        assert k.names()[-1] == "seccomp_load"


# --- the double itself -----------------------------------------------------------------------


def test_the_recording_kernel_classifies_every_method_of_the_kernel():
    """A new Kernel method must be added to the double, which then either
    passes it through or records it: nothing reaches the real kernel unseen."""
    public = {name for name in vars(minirun.Kernel) if not name.startswith("_") and callable(vars(minirun.Kernel)[name])}
    assert public - set(vars(RecordingKernel)) == set()


def test_the_recording_kernel_refuses_to_create_anything_outside_its_root(tmp_path):
    from .kernel_double import HostTouched

    (tmp_path / "root").mkdir()
    k = RecordingKernel(tmp_path / "root")
    with pytest.raises(HostTouched):
        k.mkdir(str(tmp_path / "elsewhere"), 0o755)
    with pytest.raises(HostTouched):
        k.open(str(tmp_path / "elsewhere"), os.O_WRONLY | os.O_CREAT)
    assert sorted(os.listdir(str(tmp_path))) == ["root"]


# --- run.oci.keep_original_groups (podman's --group-add keep-groups) --------------------


def test_keep_original_groups_sets_no_groups_at_all(tmp_path):
    """The caller's supplementary groups stay: no setgroups, so additionalGids
    are not applied either (crun's behaviour), and the ids still change."""
    raw = process_config(user={"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})
    cfg = minirun.parse_config(raw, "/bundles/b1")
    pplan = minirun.plan_process(cfg.process, minirun.Host(facts=dict(FACTS)), None, keep_groups=True)
    k = RecordingKernel(tmp_path)
    minirun.apply_user(k, pplan)
    assert k.calls == [("setresgid", 1000), ("setresuid", 1000)]


def test_keep_original_groups_where_setgroups_is_denied_is_no_error(tmp_path):
    raw = process_config(user={"uid": 0, "gid": 0, "additionalGids": [5]})
    cfg = minirun.parse_config(raw, "/bundles/b1")
    k = SetgroupsDenied(tmp_path)
    minirun.apply_user(k, minirun.plan_process(cfg.process, minirun.Host(facts=dict(FACTS)), None, keep_groups=True))
    assert k.names() == ["setresgid", "setresuid"]
