"""The container process's scheduling (runtime-spec 1.3): process.scheduler,
process.ioPriority and exec's process.execCPUAffinity, each observed from
inside the container: the policy, real-time priority and nice of the
process from /proc/PID/stat (read by the shell's own `read`, so that no
child with SCHED_FLAG_RESET_ON_FORK answers for it), its I/O class from
busybox's ionice, its CPUs from Cpus_allowed_list. Every refusal, from the
config's checks or from the kernel, is one line naming the field, and
leaves nothing behind.

This host's kernel may have CONFIG_RT_GROUP_SCHED: a real-time policy then
needs real-time runtime in the container's cpu cgroup, which its parent
must have too; the real-time tests give the container a cgroup at the root
of the hierarchy (cgroupsPath "/ID") with linux.resources.cpu.realtimeRuntime.
"""

import json
import os

import pytest

from .helpers import EXEC_FAILED, IS_RUNC, assert_error

# The container's process reads its own /proc/PID/stat with shell builtins.
OWN_STAT = ["sh", "-c", "read -r line < /proc/$$/stat; echo \"${line##*) }\""]
SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6


def stat_fields(text):
    """(policy, rt_priority, nice) from the fields after the command name
    (field 3 is index 0: nice is 19, rt_priority 40, policy 41)."""
    fields = text.split()
    return int(fields[41 - 3]), int(fields[40 - 3]), int(fields[19 - 3])


def run_out(rt, bundle, cid):
    return rt("run", "--bundle", bundle, cid).stdout


def realtime_cgroup(cid):
    """A cpu cgroup at the root with real-time runtime (CONFIG_RT_GROUP_SCHED)."""
    return {"cgroupsPath": "/minirun-it-rt-%s" % cid,
            "resources": {"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000}}}


def realtime_groups():
    return os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")


def cpus_allowed(text):
    for line in text.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.partition(":")[2].strip()
    raise AssertionError("no Cpus_allowed_list in %r" % text)


needs_two_cpus = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                    reason="the affinity tests move a process between two CPUs")


# --------------------------------------------------------------------------
# process.scheduler

@pytest.mark.parametrize("scheduler,policy,nice", [
    ({"policy": "SCHED_BATCH", "nice": 7}, SCHED_BATCH, 7),
    ({"policy": "SCHED_IDLE"}, SCHED_IDLE, 0),
    ({"policy": "SCHED_OTHER", "nice": -5}, SCHED_OTHER, -5),
], ids=["batch", "idle", "other-nice"])
def test_a_fair_policy_and_nice_are_the_processes_own(rt, make_bundle, cid, scheduler, policy, nice):
    bundle = make_bundle(OWN_STAT, process={"scheduler": scheduler})
    assert stat_fields(run_out(rt, bundle, cid)) == (policy, 0, nice)


@pytest.mark.parametrize("name,number", [("SCHED_FIFO", SCHED_FIFO), ("SCHED_RR", SCHED_RR)])
def test_a_realtime_policy_and_its_priority(rt, make_bundle, cid, name, number):
    bundle = make_bundle(OWN_STAT, process={"scheduler": {"policy": name, "priority": 12}},
                         linux=realtime_cgroup(cid) if realtime_groups() else {})
    assert stat_fields(run_out(rt, bundle, cid)) == (number, 12, 0)


def test_reset_on_fork_is_kept_by_the_process_and_dropped_by_its_children(rt, make_bundle, cid):
    """The process keeps its policy; a child (a second shell: busybox runs
    cat in the shell's own process) starts as SCHED_OTHER, as the kernel
    promises for the flag (without it, the child would inherit SCHED_RR)."""
    command = OWN_STAT[:2] + [OWN_STAT[2] + "; " + " ".join(OWN_STAT[:2]) + " '%s'; :" % OWN_STAT[2]]  # not last: forked
    bundle = make_bundle(command, process={"scheduler": {"policy": "SCHED_RR", "priority": 3,
                                                         "flags": ["SCHED_FLAG_RESET_ON_FORK"]}},
                         linux=realtime_cgroup(cid) if realtime_groups() else {})
    own, child = run_out(rt, bundle, cid).splitlines()
    assert stat_fields(own) == (SCHED_RR, 3, 0)
    assert stat_fields(child) == (SCHED_OTHER, 0, 0)


def test_sched_deadline_with_its_triple(rt, make_bundle, cid):
    """/proc/PID/sched shows what is left of a deadline task's runtime in
    its period: never more than the runtime given."""
    bundle = make_bundle(["sh", "-c", "read -r line < /proc/$$/stat; echo \"${line##*) }\"; "
                                      "while read -r key colon value; do case $key in dl.runtime) "
                                      "echo $key=$value;; esac; done < /proc/$$/sched"],
                         process={"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10_000_000,
                                                "deadline": 50_000_000, "period": 100_000_000}})
    lines = run_out(rt, bundle, cid).splitlines()
    assert stat_fields(lines[0])[0] == SCHED_DEADLINE
    if len(lines) > 1:  # kernels that print the reservation
        key, _, value = lines[1].partition("=")
        assert key == "dl.runtime" and int(value) <= 10_000_000, lines


def test_exec_takes_the_scheduler_of_its_process_file(rt, make_bundle, cid, tmp_path):
    bundle = make_bundle(["sleep", "1000"])
    rt("run", "--detach", "--bundle", bundle, cid)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": OWN_STAT, "cwd": "/", "env": ["PATH=/bin"],
                                "scheduler": {"policy": "SCHED_BATCH", "nice": 3}}))
    assert stat_fields(rt("exec", "--process", path, cid).stdout) == (SCHED_BATCH, 0, 3)
    # without --process, exec runs with the container's own process fields: none here
    assert stat_fields(rt("exec", cid, *OWN_STAT).stdout) == (SCHED_OTHER, 0, 0)


# --------------------------------------------------------------------------
# process.ioPriority

@pytest.mark.parametrize("klass,level,shown", [
    ("IOPRIO_CLASS_BE", 6, "best-effort: prio 6"),
    ("IOPRIO_CLASS_IDLE", 0, "idle"),
    ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
], ids=["be", "idle", "rt"])
def test_the_io_priority_is_the_processes_and_its_childrens(rt, make_bundle, cid, klass, level, shown):
    """busybox's ionice, a child of the container's process, inherits it."""
    bundle = make_bundle(["ionice"], process={"ioPriority": {"class": klass, "priority": level}})
    assert run_out(rt, bundle, cid).strip().startswith(shown)


def test_exec_takes_the_io_priority_of_its_process_file(rt, make_bundle, cid, tmp_path):
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["ionice"], "cwd": "/", "env": ["PATH=/bin"],
                                "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 1}}))
    assert rt("exec", "--process", path, cid).stdout.strip() == "best-effort: prio 1"


# --------------------------------------------------------------------------
# process.execCPUAffinity (exec only)

STATUS = ["grep", "Cpus_allowed_list", "/proc/self/status"]


@needs_two_cpus
def test_final_is_the_exec_processes_affinity(rt, make_bundle, cid, tmp_path):
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": STATUS, "cwd": "/", "env": ["PATH=/bin"],
                                "execCPUAffinity": {"initial": "0", "final": "1"}}))
    assert cpus_allowed(rt("exec", "--process", path, cid).stdout) == "1"


@needs_two_cpus
def test_initial_alone_stays_the_processes_affinity_after_the_join(rt, make_bundle, cid):
    """From config.json, used by exec without --process (as runc, and what
    CRI-O gives: `initial` alone, to keep an exec off the workload's CPUs)."""
    bundle = make_bundle(["sleep", "1000"], process={"execCPUAffinity": {"initial": "1"}})
    rt("run", "--detach", "--bundle", bundle, cid)
    assert cpus_allowed(rt("exec", cid, *STATUS).stdout) == "1"


@needs_two_cpus
def test_the_init_never_takes_exec_cpu_affinity(rt, make_bundle, cid):
    """The spec: "not applicable to the container's init process"."""
    bundle = make_bundle(STATUS, process={"execCPUAffinity": {"initial": "1", "final": "1"}})
    assert cpus_allowed(run_out(rt, bundle, cid)) == "0-1"


@needs_two_cpus
def test_initial_is_set_before_the_join_so_a_cpu_outside_the_cpuset_is_taken(rt, make_bundle, cid):
    """`initial` is the affinity of the runtime's process while it joins: set
    before the container's cgroup (cpuset 1) holds it, CPU 0 is allowed,
    and the cgroup's cpuset then decides. Were it set after the join, the
    kernel would refuse CPU 0 (EINVAL) and exec would fail."""
    bundle = make_bundle(["sleep", "1000"], process={"execCPUAffinity": {"initial": "0"}},
                         linux={"resources": {"cpu": {"cpus": "1"}}})
    rt("run", "--detach", "--bundle", bundle, cid)
    assert cpus_allowed(rt("exec", cid, *STATUS).stdout) == "1"


# --------------------------------------------------------------------------
# refusals: one line naming the field, nothing left

@pytest.mark.parametrize("process,field", [
    ({"scheduler": {"policy": "SCHED_FIFO"}}, "process.scheduler.priority"),
    ({"scheduler": {"policy": "SCHED_ISO"}}, "process.scheduler.policy"),
    ({"scheduler": {"policy": "SCHED_OTHER", "nice": 20}}, "process.scheduler.nice"),
    ({"scheduler": {"policy": "SCHED_BATCH", "period": 1000}}, "process.scheduler.period"),
    ({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 1000}}, "process.scheduler.deadline"),
    ({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}}, "process.ioPriority.priority"),
    ({"ioPriority": {"class": "IOPRIO_CLASS_NONE", "priority": 0}}, "process.ioPriority.class"),
    ({"execCPUAffinity": {"initial": "0-"}}, "process.execCPUAffinity.initial"),
    ({"execCPUAffinity": {"final": "2-1"}}, "process.execCPUAffinity.final"),
], ids=["fifo-no-priority", "iso", "nice", "batch-period", "deadline-order", "ioprio-level", "ioprio-class",
        "initial-syntax", "final-backwards"])
def test_a_bad_value_is_refused_at_create_naming_the_field(rt, make_bundle, cid, process, field):
    if IS_RUNC:
        pytest.skip("runc's wording differs and it checks fewer of these")
    bundle = make_bundle(["true"], process=process)
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, field, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@pytest.mark.skipif(not realtime_groups(), reason="needs CONFIG_RT_GROUP_SCHED's cpu.rt_runtime_us (cgroup v1)")
def test_the_kernels_refusal_of_a_realtime_policy_names_the_field(rt, make_bundle, cid):
    """Without real-time runtime in its cpu cgroup the kernel refuses
    SCHED_FIFO (EPERM): create fails naming the field, nothing is left."""
    bundle = make_bundle(["true"], process={"scheduler": {"policy": "SCHED_FIFO", "priority": 5}})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "process.scheduler.policy", "SCHED_FIFO", "Operation not permitted", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@needs_two_cpus
def test_a_final_cpu_outside_the_cpuset_is_refused_naming_the_field(rt, make_bundle, cid, tmp_path):
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"], linux={"resources": {"cpu": {"cpus": "1"}}}),
       cid)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"],
                                "execCPUAffinity": {"final": "0"}}))
    result = rt("exec", "--process", path, cid, check=False, log=True)
    assert_error(result, "process.json: execCPUAffinity.final", "CPUs 0", log=rt.log, status=EXEC_FAILED)
    assert rt.status(cid) == "running"


def test_a_bad_process_file_value_is_refused_at_exec_naming_the_field(rt, make_bundle, cid, tmp_path):
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    path = tmp_path / "process.json"
    path.write_text(json.dumps({"args": ["true"], "cwd": "/", "scheduler": {"policy": "SCHED_RR", "priority": 0}}))
    result = rt("exec", "--process", path, cid, check=False, log=True)
    assert_error(result, "process.json: scheduler.priority", log=rt.log, status=EXEC_FAILED)
