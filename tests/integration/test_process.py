"""The container process: args, env, cwd, user, umask, rlimits,
oomScoreAdj, noNewPrivileges, capabilities, hostname/domainname, sysctl and
personality, each observed from inside the container."""

import json
import os
import platform
import re

import pytest

from .helpers import DOCKER_DEFAULT_CAPS, IS_RUNC, assert_error, cap_mask, proc_status


def run_out(rt, bundle, cid):
    return rt("run", "--bundle", bundle, cid).stdout


def status_fields(text):
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


# --------------------------------------------------------------------------
# args, env, cwd

def test_args_are_passed_verbatim(rt, make_bundle, cid):
    bundle = make_bundle(["printf", "%s|", "a b", "$HOME", "", "'q'", "*"])
    assert run_out(rt, bundle, cid) == "a b|$HOME||'q'|*|"


def test_absolute_executable_path(rt, make_bundle, cid):
    bundle = make_bundle(["/bin/echo", "abs"])
    assert run_out(rt, bundle, cid) == "abs\n"


def test_executable_is_looked_up_in_the_config_path(rt, make_bundle, rootfs, cid):
    (rootfs / "custom").mkdir()
    os.symlink("/bin/busybox", str(rootfs / "custom" / "only-here"))
    # busybox decides what to do from argv[0]: make it an `echo` via a script
    (rootfs / "custom" / "only-here").unlink()
    script = rootfs / "custom" / "only-here"
    script.write_text("#!/bin/sh\necho found-in-custom-path\n")
    script.chmod(0o755)
    bundle = make_bundle(["only-here"], process={"env": ["PATH=/custom:/bin"]})
    assert run_out(rt, bundle, cid) == "found-in-custom-path\n"


def test_env(rt, make_bundle, cid):
    env = ["PATH=/bin", "FOO=bar", "EMPTY=", "SPACED=a b  c", "EQ=x=y", "HOME=/root"]
    bundle = make_bundle(["env"], process={"env": env})
    lines = run_out(rt, bundle, cid).splitlines()
    for entry in env:
        assert entry in lines, entry


def test_home_is_set_from_passwd_when_missing(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "echo $HOME"],
                         process={"user": {"uid": 65534, "gid": 65534}})
    assert run_out(rt, bundle, cid).strip() == "/nonexistent"


def test_cwd(rt, make_bundle, cid):
    bundle = make_bundle(["pwd"], process={"cwd": "/etc"})
    assert run_out(rt, bundle, cid) == "/etc\n"


def test_cwd_that_does_not_exist_is_created(rt, make_bundle, rootfs, cid):
    bundle = make_bundle(["pwd"], process={"cwd": "/does/not/exist"})
    assert run_out(rt, bundle, cid) == "/does/not/exist\n"


# --------------------------------------------------------------------------
# user, groups, umask

def test_user_uid_gid_and_additional_gids(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "id -u; id -g; id -G"],
                         process={"user": {"uid": 1000, "gid": 1001,
                                           "additionalGids": [10, 100, 65534]}})
    uid, gid, groups = run_out(rt, bundle, cid).splitlines()
    assert uid == "1000"
    assert gid == "1001"
    assert set(groups.split()) == {"1001", "10", "100", "65534"}


def test_user_without_additional_gids_has_no_supplementary_groups(rt, make_bundle, cid):
    bundle = make_bundle(["grep", "Groups", "/proc/self/status"],
                         process={"user": {"uid": 1000, "gid": 1000}})
    assert run_out(rt, bundle, cid).split() == ["Groups:"]


CALLERS_GROUPS = [4242, 4343]
# The runtime as a caller with supplementary groups of its own starts it.
WITH_CALLERS_GROUPS = ("import os, sys; os.setgroups([%s]); os.execvp(sys.argv[1], sys.argv[1:])"
                       % ", ".join(map(str, CALLERS_GROUPS)))


@pytest.mark.parametrize("annotation, keeps", [(None, False), ("1", True), ("0", False)],
                         ids=["no-annotation", "keep", "keep=0"])
def test_keep_original_groups_keeps_the_callers_groups(rt, make_bundle, cid, annotation, keeps):
    """podman's --group-add keep-groups (crun's annotation): the process keeps
    the supplementary groups of the runtime's caller, and additionalGids are
    not applied; without it (or with "0"), exactly additionalGids. An exec'd
    process keeps its own caller's groups alike."""
    import subprocess
    import sys
    annotations = {"run.oci.keep_original_groups": annotation} if annotation is not None else {}
    bundle = make_bundle(["sleep", "1000"], annotations=annotations,
                         process={"user": {"uid": 1000, "gid": 1000, "additionalGids": [10]}})
    wrapper = [sys.executable, "-c", WITH_CALLERS_GROUPS]
    rt.ids.add(cid)
    with open(str(rt.tmp / "run.err"), "w+") as err:   # the container keeps the call's stdio: no pipe
        run = subprocess.run(wrapper + rt.argv("run", "--detach", "--bundle", bundle, cid),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        assert run.returncode == 0, err.read()
    init_groups = proc_status(rt.state(cid)["pid"])["Groups"].split()
    exec_groups = subprocess.run(wrapper + rt.argv("exec", cid, "grep", "Groups", "/proc/self/status"),
                                 stdout=subprocess.PIPE, universal_newlines=True, timeout=60).stdout.split()[1:]
    rt("delete", "--force", cid)
    expected = [str(g) for g in CALLERS_GROUPS] if keeps else ["10"]
    if IS_RUNC and keeps:
        expected = ["10"]   # runc ignores the annotation (podman documents keep-groups as crun's)
    assert (init_groups, exec_groups) == (expected, expected)


def test_root_user(rt, make_bundle, cid):
    bundle = make_bundle(["id", "-u"])
    assert run_out(rt, bundle, cid) == "0\n"


@pytest.mark.parametrize("umask, shown", [(0o077, "0077"), (0o002, "0002")])
def test_umask(rt, make_bundle, cid, umask, shown):
    bundle = make_bundle(["sh", "-c", "umask"],
                         process={"user": {"uid": 0, "gid": 0, "umask": umask}})
    assert run_out(rt, bundle, cid).strip() == shown


def test_default_umask(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "umask"])
    assert run_out(rt, bundle, cid).strip() == "0022"


# --------------------------------------------------------------------------
# limits and scheduling

def test_rlimit_nofile(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "ulimit -n; ulimit -Hn"], process={
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1000, "hard": 2000}]})
    assert run_out(rt, bundle, cid).split() == ["1000", "2000"]


def proc_limits(text):
    """/proc/PID/limits -> {name: (soft, hard)}; read there rather than with
    the shell's ulimit, whose letters differ between busybox versions."""
    limits = {}
    for line in text.splitlines()[1:]:
        fields = re.split(r"\s{2,}", line.strip())
        if len(fields) >= 3:
            limits[fields[0]] = (fields[1], fields[2])
    return limits


def test_rlimit_core_and_nproc(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/limits"], process={
        "rlimits": [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                    {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]})
    limits = proc_limits(run_out(rt, bundle, cid))
    assert limits["Max core file size"] == ("0", "0")
    assert limits["Max processes"] == ("500", "600")


# Lowering oom_score_adj needs CAP_SYS_RESOURCE, which this host's bounding
# set lacks: only values >= the host's current one are tested.
@pytest.mark.parametrize("adj", [500, 1000, 0])
def test_oom_score_adj(rt, make_bundle, cid, adj):
    bundle = make_bundle(["cat", "/proc/self/oom_score_adj"], process={"oomScoreAdj": adj})
    assert run_out(rt, bundle, cid).strip() == str(adj)


@pytest.mark.parametrize("nnp, shown", [(True, "1"), (False, "0")])
def test_no_new_privileges(rt, make_bundle, cid, nnp, shown):
    bundle = make_bundle(["cat", "/proc/self/status"], process={"noNewPrivileges": nnp})
    assert status_fields(run_out(rt, bundle, cid))["NoNewPrivs"] == shown


# --------------------------------------------------------------------------
# capabilities

def caps_seen(rt, make_bundle, cid, **process):
    bundle = make_bundle(["cat", "/proc/self/status"], process=process)
    fields = status_fields(run_out(rt, bundle, cid))
    return {k: int(fields[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_default_docker_capabilities_for_root(rt, make_bundle, cid):
    seen = caps_seen(rt, make_bundle, cid)
    mask = cap_mask(DOCKER_DEFAULT_CAPS)
    assert seen == {"CapInh": 0, "CapPrm": mask, "CapEff": mask, "CapBnd": mask, "CapAmb": 0}


def test_capability_sets_differ(rt, make_bundle, cid):
    caps = {
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_SETUID"],
        "permitted": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_CHOWN"],
        "inheritable": ["CAP_KILL"],
    }
    seen = caps_seen(rt, make_bundle, cid, capabilities=caps)
    assert seen["CapBnd"] == cap_mask(caps["bounding"])
    assert seen["CapPrm"] == cap_mask(caps["permitted"])
    # execve as uid 0 raises the effective set to the permitted one (and
    # no_new_privs caps the permitted set at what the runtime set)
    assert seen["CapEff"] == cap_mask(caps["permitted"])
    assert seen["CapInh"] == cap_mask(caps["inheritable"])
    assert seen["CapAmb"] == 0


def test_ambient_capabilities_for_a_non_root_user(rt, make_bundle, cid):
    names = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    caps = {k: list(names) for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    seen = caps_seen(rt, make_bundle, cid, capabilities=caps,
                     user={"uid": 1000, "gid": 1000})
    mask = cap_mask(names)
    assert seen == {"CapInh": mask, "CapPrm": mask, "CapEff": mask, "CapBnd": mask, "CapAmb": mask}


def test_non_root_user_without_ambient_has_no_effective_caps(rt, make_bundle, cid):
    caps = {"bounding": list(DOCKER_DEFAULT_CAPS)}
    seen = caps_seen(rt, make_bundle, cid, capabilities=caps,
                     user={"uid": 65534, "gid": 65534})
    assert seen["CapBnd"] == cap_mask(DOCKER_DEFAULT_CAPS)
    assert seen["CapEff"] == 0 and seen["CapPrm"] == 0 and seen["CapAmb"] == 0


def test_dropped_capability_is_enforced(rt, make_bundle, cid):
    caps = {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(["sh", "-c", "exec 2>&1; chown 1:1 /tmp; echo rc=$?; "
                                      "mknod /tmp/n c 1 3; echo rc=$?"],
                         process={"capabilities": caps})
    out = run_out(rt, bundle, cid)
    assert "rc=0" not in out
    assert out.count("Operation not permitted") == 2


# --------------------------------------------------------------------------
# hostname, domainname, sysctl, personality

@pytest.mark.skipif(IS_RUNC, reason="needs a runtime that sets domainname (runc 1.1.5 ignores it)")
def test_hostname_and_domainname(rt, make_bundle, cid):
    host_domain = open("/proc/sys/kernel/domainname").read()
    bundle = make_bundle(["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
                         hostname="box.inside", domainname="example.org")
    assert run_out(rt, bundle, cid).split() == ["box.inside", "example.org"]
    assert open("/proc/sys/kernel/domainname").read() == host_domain


def test_hostname(rt, make_bundle, cid):
    bundle = make_bundle(["hostname"], hostname="box.inside")
    assert run_out(rt, bundle, cid) == "box.inside\n"


def test_sysctl(rt, make_bundle, cid):
    host_forward = open("/proc/sys/net/ipv4/ip_forward").read()
    host_rmid = open("/proc/sys/kernel/shm_rmid_forced").read()
    bundle = make_bundle(["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward "
                                      "/proc/sys/kernel/shm_rmid_forced "
                                      "/proc/sys/net/ipv4/ping_group_range"],
                         linux={"sysctl": {"net.ipv4.ip_forward": "1",
                                           "kernel.shm_rmid_forced": "1",
                                           "net.ipv4.ping_group_range": "0 2147483647"}})
    assert run_out(rt, bundle, cid).split() == ["1", "1", "0", "2147483647"]
    # namespaced: the host's values did not change
    assert open("/proc/sys/net/ipv4/ip_forward").read() == host_forward
    assert open("/proc/sys/kernel/shm_rmid_forced").read() == host_rmid


@pytest.mark.parametrize("key, owner", [
    ("kernel.hostname", "hostname"),
    ("kernel.domainname", "domainname"),
], ids=["hostname", "domainname"])
def test_hostname_and_domainname_sysctls_are_refused_naming_the_field(rt, make_bundle, cid, key, owner):
    """A sysctl that disagrees with the `hostname` or `domainname` field is
    refused at create, naming the field (crun's rule)."""
    if IS_RUNC:
        pytest.skip("runc accepts a sysctl that conflicts with its field")
    bundle = make_bundle(["hostname"], **{owner: "box.inside", "linux": {"sysctl": {key: "other"}}})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "linux.sysctl." + key, "the %s field" % owner, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@pytest.mark.parametrize("fields", [{}, {"hostname": "box.inside"}], ids=["field-unset", "same-value"])
@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 refuses a kernel.hostname sysctl whatever the field says "
                    "(newer runc accepts every case)")
def test_a_hostname_sysctl_that_agrees_with_the_field_sets_the_name(rt, make_bundle, cid, fields):
    bundle = make_bundle(["hostname"], **dict(fields, linux={"sysctl": {"kernel.hostname": "box.inside"}}))
    if not fields:
        config = json.loads((bundle / "config.json").read_text())
        config.pop("hostname", None)
        (bundle / "config.json").write_text(json.dumps(config))
    assert run_out(rt, bundle, cid) == "box.inside\n"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="needs an x86_64 host for LINUX32")
@pytest.mark.skipif(IS_RUNC, reason="needs a runtime that sets personality (runc 1.1.5 ignores it)")
def test_personality_linux32(rt, make_bundle, cid):
    bundle = make_bundle(["uname", "-m"], linux={"personality": {"domain": "LINUX32"}})
    assert run_out(rt, bundle, cid).strip() == "i686"  # what x86_64 kernels say under PER_LINUX32


def test_personality_linux(rt, make_bundle, cid):
    bundle = make_bundle(["uname", "-m"], linux={"personality": {"domain": "LINUX"}})
    assert run_out(rt, bundle, cid).strip() == platform.machine()


# --------------------------------------------------------------------------
# what the process is, seen from the host

def test_process_identity_from_the_host(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"],
                         process={"user": {"uid": 1000, "gid": 1000}})
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    pid = rt.state(cid)["pid"]
    status = proc_status(pid)
    assert status["Uid"].split() == ["1000"] * 4
    assert status["Gid"].split() == ["1000"] * 4
    assert status["NoNewPrivs"] == "1"
    assert os.readlink("/proc/%d/exe" % pid).endswith("/bin/busybox")


def test_a_cwd_only_root_may_enter_still_works_for_another_user(rt, make_bundle, rootfs, cid):
    """process.cwd is entered before the user switch (as runc does): a 0700
    root directory works as the cwd of uid 42, though uid 42 could not
    enter it itself."""
    private = rootfs / "private"
    private.mkdir(mode=0o700)
    bundle = make_bundle(["sh", "-c", "pwd; id -u; ls . >/dev/null 2>&1 || echo cannot-list"],
                         process={"cwd": "/private", "user": {"uid": 42, "gid": 42}})
    assert run_out(rt, bundle, cid).split() == ["/private", "42", "cannot-list"]


# --------------------------------------------------------------------------
# signals: what a container's process inherits from the runtime's caller

# A caller started under nohup ignores SIGHUP; a shell's `trap ''` ignores
# any signal; a caller may block some. runc and crun start the container's
# process with every signal at its default disposition; crun also unblocks
# every signal, while runc 1.1 passes the caller's blocked mask on (both
# checked here). minirun does as crun: ignored or blocked signals would
# otherwise survive every execve into the container.
CALLER_IGNORES = ("SIGHUP", "SIGINT", "SIGTERM", "SIGUSR1", "SIGPIPE")
CALLER_BLOCKS = ("SIGUSR2", "SIGALRM")


def as_a_careless_caller():
    """preexec_fn: the runtime's caller ignores and blocks some signals."""
    import signal
    for name in CALLER_IGNORES:
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, n) for n in CALLER_BLOCKS])


def careless(rt, *args):
    """The runtime, called by that caller; output through files (a created
    container keeps the runtime's stdio, so a pipe would never see EOF)."""
    import subprocess
    import tempfile
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(rt.argv(*args), preexec_fn=as_a_careless_caller, cwd=str(rt.tmp),
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60)
        out.seek(0)
        err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
    assert result.returncode == 0, result
    return result


# Signals 32 and 33 are glibc's own (thread cancellation, setxid): no libc
# lets a program set them (Python's signal module refuses them, crun's reset
# loop skips them), and glibc installs its handlers for them at start-up
# whatever was inherited. A caller's environment may ignore them (CI's does).
LIBC_INTERNAL = (1 << 31) | (1 << 32)


def signal_masks(status_text):
    fields = status_fields(status_text)
    masks = {key: int(fields[key], 16) & ~LIBC_INTERNAL for key in ("SigIgn", "SigBlk")}
    if IS_RUNC:
        del masks["SigBlk"]  # runc 1.1 keeps the caller's blocked signals (see above)
    return masks


DEFAULT_SIGNALS = {"SigIgn": 0} if IS_RUNC else {"SigIgn": 0, "SigBlk": 0}


def test_the_process_starts_with_default_signals_whatever_the_caller_ignored(rt, make_bundle, cid):
    # busybox's sh ignores SIGQUIT itself: the processes here are applets run directly
    result = careless(rt, "run", "--bundle", make_bundle(["cat", "/proc/self/status"]), cid)
    assert signal_masks(result.stdout) == DEFAULT_SIGNALS


def test_the_init_and_an_exec_start_with_default_signals_whatever_the_caller_ignored(rt, make_bundle, cid):
    careless(rt, "create", "--bundle", make_bundle(["sleep", "1000"]), cid)
    careless(rt, "start", cid)
    init = rt.state(cid)["pid"]
    pid_file = rt.tmp / "exec.pid"
    careless(rt, "exec", "--detach", "--pid-file", pid_file, cid, "sleep", "1000")
    exec_pid = int(pid_file.read_text())
    for pid in (init, exec_pid):
        with open("/proc/%d/status" % pid) as status:
            assert signal_masks(status.read()) == DEFAULT_SIGNALS, pid
    rt("delete", "--force", cid)


# --------------------------------------------------------------------------
# linux.memoryPolicy: the init's NUMA policy, read by the container's own
# processes (numa_maps shows the task's policy on mappings without their own).

MEMORY_POLICY = pytest.mark.skipif(IS_RUNC or not os.path.exists("/proc/self/numa_maps"),
                                   reason="runc 1.1 has no linux.memoryPolicy (1.3 added it), "
                                   "or the host kernel has no NUMA support")


def policy_seen_inside(rt, make_bundle, cid, policy):
    bundle = make_bundle(["sh", "-c", "head -n 1 /proc/self/numa_maps; grep Mems_allowed_list /proc/self/status"],
                         linux={"memoryPolicy": policy})
    first, mems = run_out(rt, bundle, cid).splitlines()
    return first.split()[1], mems.split(":")[1].strip()


@pytest.mark.parametrize("policy,shown", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
])
@MEMORY_POLICY
def test_the_memory_policy_is_the_containers_processes(rt, make_bundle, cid, policy, shown):
    policy_shown, mems = policy_seen_inside(rt, make_bundle, cid, policy)
    assert policy_shown == shown
    assert mems == "0"  # the policy chooses among the allowed nodes; the cpuset's set is unchanged


@pytest.mark.parametrize("policy,field,words", [
    ({"mode": "MPOL_BIND", "nodes": "1"}, "linux.memoryPolicy.nodes", "node 1"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0-1"}, "linux.memoryPolicy.nodes", "node 1"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes", "at least one node"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": "MPOL_SOMETIMES"}, "linux.memoryPolicy.mode", "unknown mode"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}, "linux.memoryPolicy.flags",
     "MPOL_F_NUMA_BALANCING"),
])
@MEMORY_POLICY
def test_a_memory_policy_the_host_cannot_apply_is_refused_naming_its_field(rt, make_bundle, cid, policy, field,
                                                                           words):
    if "node 1" in words and os.path.exists("/sys/devices/system/node/node1"):
        pytest.skip("the host has a node 1")
    bundle = make_bundle(["true"], linux={"memoryPolicy": policy})
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, field, words, log=rt.log)
    rt.assert_clean()


@MEMORY_POLICY
def test_an_exec_process_keeps_the_default_policy_as_in_runc(rt, make_bundle, cid):
    """linux.memoryPolicy is the container's init's (runc 1.3 sets it in its
    standard init, not in the one exec uses)."""
    bundle = make_bundle(["sleep", "100"], linux={"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}})
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    assert rt("exec", cid, "head", "-n", "1", "/proc/1/numa_maps").stdout.split()[1] == "bind:0"
    assert rt("exec", cid, "head", "-n", "1", "/proc/self/numa_maps").stdout.split()[1] == "default"
