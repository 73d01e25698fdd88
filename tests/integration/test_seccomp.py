"""seccomp (linux.seccomp) on the real kernel, observed from inside the
container with the syscall probe (probes/syscall_probe.c): Docker's default
profile, every action, argument conditions (64-bit values compared as high
and low words, conditions on different arguments ANDed, on one argument
and rules ORed), architectures (the audit-arch
check, x32 and the i386 ABI through int $0x80), filter flags, SCMP_ACT_NOTIFY
with a real agent answering the kernel's notifications, and where the filter
is loaded relative to noNewPrivileges and the capability drop.

A refusal is only meaningful if the kernel would otherwise have allowed the
call: the Docker-profile tests run each probe with and without the profile,
with CAP_SYS_ADMIN granted, so that only the filter can be what refuses."""

import errno
import os

import pytest

from .helpers import (
    DOCKER_DEFAULT_CAPS, IS_MINIRUN, IS_RUNC, assert_error, read_json_log, wait_for,
)
from .security_helpers import (
    AUDIT_ARCH_X86_64, KILLED_BY_SIGSYS, PROBE, SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, X86_64_NR, NotifyAgent, docker_default_profile,
    install_probe, kernel_accepts_seccomp_flags, probe_results, probe_script, process_state,
    seccomp_arg, seccomp_profile, seccomp_rule, shell_status,
)

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64",
                                reason="the probe's syscall numbers are x86_64's")

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_FILES = 0x00000400
ADDR_NO_RANDOMIZE = 0x0040000
READ_IMPLIES_EXEC = 0x0400000

WITH_SYS_ADMIN = DOCKER_DEFAULT_CAPS + ["CAP_SYS_ADMIN"]


@pytest.fixture
def probe_rootfs(rootfs, syscall_probe):
    install_probe(rootfs, syscall_probe)
    return rootfs


def caps(names):
    return {k: list(names) for k in ("bounding", "effective", "permitted")}


def run_probe(rt, make_bundle, cid, ops, seccomp=None, nnp=True, capabilities=None,
              user=None, check=True):
    """Run the probe under ``seccomp`` (None: no filter) and return
    ({op: result}, exit status of the probe as the shell saw it, stdout)."""
    process = {"noNewPrivileges": nnp}
    if capabilities is not None:
        process["capabilities"] = caps(capabilities)
    if user is not None:
        process["user"] = user
    linux = {"seccomp": seccomp} if seccomp is not None else {}
    bundle = make_bundle(probe_script(*ops), process=process, linux=linux)
    result = rt("run", "--bundle", bundle, cid, check=check, log=True)
    return probe_results(result.stdout), shell_status(result.stdout), result


def assert_probe(results, expected):
    got = {op: results.get(op, "<not run>") for op in expected}
    assert got == expected


# --------------------------------------------------------------------------
# Docker's default profile

# op -> (under Docker's profile, without a profile); CAP_SYS_ADMIN is granted
# in both runs, so every "-EPERM" in the first column comes from the filter.
DOCKER_EXPECTATIONS = [
    # allowed outright
    ("getpid", "0", "0"),
    ("read", "0", "0"),
    ("write", "0", "0"),
    ("sc:getpriority:0:0", "0", "0"),
    ("ptrace", "-ESRCH", "-ESRCH"),
    ("clone:0", "0", "0"),
    ("clone:%#x" % CLONE_FILES, "0", "0"),
    # refused by the default action (SCMP_ACT_ERRNO, EPERM)
    ("unshare:%#x" % CLONE_NEWNS, "-EPERM", "0"),
    ("unshare:%#x" % CLONE_NEWUTS, "-EPERM", "0"),
    ("mount:/tmp", "-EPERM", "0"),
    ("keyctl", "-EPERM", "0"),
    ("sc:setns:-1:0", "-EPERM", "-EBADF"),
    # clone: allowed unless a namespace flag is set (SCMP_CMP_MASKED_EQ)
    ("clone:%#x" % CLONE_NEWNS, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWUTS, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWIPC, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWUSER, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWPID, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWNET, "-EPERM", "0"),
    ("clone:%#x" % CLONE_NEWCGROUP, "-EPERM", "0"),
    # clone3 cannot be filtered by flags (they are behind a pointer): ENOSYS
    # makes libc fall back to clone
    ("clone3", "-ENOSYS", "0"),
    # personality: only the five listed values (SCMP_CMP_EQ on 64 bits)
    ("personality:0xffffffff", "0", "0"),
    ("personality:0", "0", "0"),
    ("personality:0x8", "0", "0"),
    ("personality:0x20000", "0", "0"),
    ("personality:0x20008", "0", "0"),
    ("personality:%#x" % ADDR_NO_RANDOMIZE, "-EPERM", "0"),
    ("personality:%#x" % READ_IMPLIES_EXEC, "-EPERM", "0"),
    # the kernel takes an unsigned int (this is persona 0), the filter sees
    # the whole register: the high word must be compared too
    ("personality:0x100000000", "-EPERM", "0"),
    # the other ABIs: the profile lists SCMP_ARCH_X86 and SCMP_ARCH_X32, so
    # they are filtered, not killed; i386 getpid (20) is allowed; this
    # kernel has no x32 ABI (CONFIG_X86_X32_ABI), hence ENOSYS
    ("i386:20", "0", "0"),
    ("x32:39", "-ENOSYS", "-ENOSYS"),
]


@pytest.mark.parametrize("profile", ["docker", "none"])
def test_docker_default_profile(rt, make_bundle, probe_rootfs, cid, profile):
    ops = [op for op, _docker, _none in DOCKER_EXPECTATIONS]
    column = 1 if profile == "docker" else 2
    expected = {row[0]: row[column] for row in DOCKER_EXPECTATIONS}
    seccomp = docker_default_profile() if profile == "docker" else None
    results, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=seccomp,
                                   capabilities=WITH_SYS_ADMIN)
    assert status == 0
    assert_probe(results, expected)
    rt.assert_clean()


def test_docker_profile_is_active_in_the_container(rt, make_bundle, probe_rootfs, cid):
    bundle = make_bundle(["cat", "/proc/self/status"],
                         linux={"seccomp": docker_default_profile()})
    out = rt("run", "--bundle", bundle, cid).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert fields["Seccomp"].strip() == "2"  # SECCOMP_MODE_FILTER
    assert int(fields["Seccomp_filters"]) >= 1
    assert fields["NoNewPrivs"].strip() == "1"


def test_default_errno_ret(rt, make_bundle, probe_rootfs, cid):
    profile = docker_default_profile()
    profile["defaultErrnoRet"] = errno.EPROTONOSUPPORT
    results, status, _ = run_probe(
        rt, make_bundle, cid, ["getpid", "unshare:%#x" % CLONE_NEWUTS, "keyctl", "clone3"],
        seccomp=profile, capabilities=WITH_SYS_ADMIN)
    assert status == 0
    assert_probe(results, {"getpid": "0", "unshare:%#x" % CLONE_NEWUTS: "-EPROTONOSUPPORT",
                           "keyctl": "-EPROTONOSUPPORT",
                           # a rule's own errnoRet still wins
                           "clone3": "-ENOSYS"})


# Syscalls newer than Docker 20.10's profile, whose newest is futex_waitv (449):
# answered ENOSYS, as "not here", so that a libc probing them falls back.
NEWER_THAN_DOCKER_20_10 = [
    # (op, without a profile on a kernel that has the call)
    ("nr:451:-1:0:0:0", "cachestat"),           # Linux 6.5: -EBADF for fd -1
    ("nr:452:-100:0:0:0", "fchmodat2"),         # Linux 6.6: -EFAULT for a NULL path
    ("nr:1000", None),                         # no syscall at all: -ENOSYS either way
    ("nr:%d" % 0x3FFFFFFF, None),              # the highest x86_64 number below the x32 bit
]


def test_docker_profile_answers_syscalls_newer_than_it_with_enosys(rt, make_bundle, probe_rootfs, cid):
    """A number above every syscall the profile names returns ENOSYS instead
    of the default action's EPERM (runc's -ENOSYS stub); what the profile
    knows keeps its decision (keyctl, setns: EPERM; clone3: its own ENOSYS
    rule; getpid: allowed)."""
    futex_waitv = "nr:449:0:0:0:0"
    ops = [op for op, _name in NEWER_THAN_DOCKER_20_10] + [
        "getpid", "keyctl", "sc:setns:-1:0", "clone3", futex_waitv]
    results, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=docker_default_profile(),
                                   capabilities=WITH_SYS_ADMIN)
    assert status == 0
    unfiltered, status, _ = run_probe(rt, make_bundle, cid + "u", [futex_waitv], capabilities=WITH_SYS_ADMIN)
    assert status == 0
    expected = {op: "-ENOSYS" for op, _name in NEWER_THAN_DOCKER_20_10}
    expected.update({"getpid": "0", "keyctl": "-EPERM", "sc:setns:-1:0": "-EPERM", "clone3": "-ENOSYS",
                     # futex_waitv is allowed: the kernel's own answer (EINVAL for no
                     # waiters; ENOSYS before Linux 5.16, which has no futex_waitv)
                     futex_waitv: unfiltered[futex_waitv]})
    assert_probe(results, expected)


def test_the_newer_syscalls_exist_on_this_kernel_without_a_profile(rt, make_bundle, probe_rootfs, cid):
    """The control: without a filter these calls reach the kernel, so the
    ENOSYS above came from the filter (skipped per call on older kernels)."""
    ops = [op for op, name in NEWER_THAN_DOCKER_20_10 if name]
    results, status, _ = run_probe(rt, make_bundle, cid, ops, capabilities=WITH_SYS_ADMIN)
    assert status == 0
    missing = [name for op, name in NEWER_THAN_DOCKER_20_10 if name and results[op] == "-ENOSYS"]
    if len(missing) == len(ops):
        pytest.skip("this kernel has none of %s" % ", ".join(missing))
    assert all(results[op] in ("-EBADF", "-EFAULT", "-ENOSYS") for op in ops), results


PROCESS_MADVISE, EPOLL_PWAIT2, FACCESSAT2 = 440, 441, 439
AFTER_FACCESSAT2 = {  # x86_64 440 to 449 (Linux 5.10 to 5.16)
    "process_madvise", "epoll_pwait2", "mount_setattr", "quotactl_fd", "landlock_create_ruleset",
    "landlock_add_rule", "landlock_restrict_self", "memfd_secret", "process_mrelease", "futex_waitv"}


def test_an_older_profile_answers_a_newer_syscall_with_enosys_not_its_default(rt, make_bundle,
                                                                               probe_rootfs, cid):
    """Docker's profile as it was before Linux 5.11 (nothing above faccessat2,
    439): process_madvise (440), which neither names, gets the full profile's
    default (EPERM) but ENOSYS from the older one, on every kernel; epoll_pwait2
    (441), which the full profile allows, reaches the kernel there (EBADF, or
    ENOSYS before Linux 5.11) and gets ENOSYS from the older one.  What the
    older profile still names keeps its decision."""
    profile = docker_default_profile()
    assert any("epoll_pwait2" in rule["names"] and rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
               for rule in profile["syscalls"])
    assert not any("process_madvise" in rule["names"] for rule in profile["syscalls"])
    for rule in profile["syscalls"]:
        rule["names"] = [name for name in rule["names"] if name not in AFTER_FACCESSAT2]
    profile["syscalls"] = [rule for rule in profile["syscalls"] if rule["names"]]
    madvise, pwait2 = "nr:%d:-1:0:0:0:0" % PROCESS_MADVISE, "nr:%d:-1:0:0:0:0:0" % EPOLL_PWAIT2
    ops = ["getpid", "keyctl", madvise, pwait2, "nr:%d:-100:0:0:0" % FACCESSAT2]
    unfiltered, status, _ = run_probe(rt, make_bundle, cid + "u", [pwait2], capabilities=WITH_SYS_ADMIN)
    assert status == 0 and unfiltered[pwait2] in ("-EBADF", "-ENOSYS"), unfiltered
    full, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=docker_default_profile(),
                                capabilities=WITH_SYS_ADMIN)
    assert status == 0
    assert_probe(full, {"getpid": "0", "keyctl": "-EPERM", madvise: "-EPERM", pwait2: unfiltered[pwait2],
                        ops[4]: "-EFAULT"})
    older, status, _ = run_probe(rt, make_bundle, cid + "b", ops, seccomp=profile, capabilities=WITH_SYS_ADMIN)
    assert status == 0
    assert_probe(older, {"getpid": "0", "keyctl": "-EPERM", madvise: "-ENOSYS", pwait2: "-ENOSYS",
                         ops[4]: "-EFAULT"})


def test_errno_ret_of_each_ored_rule_with_several_conditions(rt, make_bundle, probe_rootfs, cid):
    """Several rules for one syscall, each with two conditions (ANDed), each
    with its own errnoRet: the one whose conditions hold gives its errno.
    `which` 3 to 6 are no PRIO_* value: unfiltered, the kernel says EINVAL."""
    profile = seccomp_profile(*[
        seccomp_rule("getpriority", "SCMP_ACT_ERRNO", seccomp_arg(0, "SCMP_CMP_EQ", which),
                     seccomp_arg(1, "SCMP_CMP_MASKED_EQ", 0xF00000000, 0x100000000), errno_ret=errno_ret)
        for which, errno_ret in ((3, 201), (4, 202), (5, 203))])
    cases = {getpriority_op(0x100000005, which=3): "-E201", getpriority_op(0x1FFFFFFFF, which=4): "-E202",
             getpriority_op(0x100000000, which=5): "-E203",
             getpriority_op(0x200000000, which=3): "-EINVAL",  # the second condition fails
             getpriority_op(0x100000000, which=6): "-EINVAL"}  # no rule for which=6
    results, status, _ = run_probe(rt, make_bundle, cid, list(cases), seccomp=profile)
    assert status == 0
    assert_probe(results, cases)


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1.5 also loads the filter before entering process.cwd, "
                                    "and fails: chdir to cwd ... failed: errno 200 (fixed in later runc)")
def test_a_profile_refusing_chdir_and_fchdir_still_starts_the_container(rt, make_bundle, probe_rootfs, cid):
    """Without noNewPrivileges the filter must be loaded while the runtime
    still has CAP_SYS_ADMIN; the working directory is entered before it
    anyway, so refusing chdir/fchdir only affects the container's process."""
    profile = seccomp_profile(seccomp_rule(["chdir", "fchdir"], "SCMP_ACT_ERRNO", errno_ret=200))
    bundle = make_bundle([PROBE, "cwd", "sc:chdir:0", "getpid"],
                         process={"noNewPrivileges": False, "cwd": "/tmp"}, linux={"seccomp": profile})
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert result.returncode == 0, result.stderr
    assert probe_results(result.stdout) == {"cwd": "/tmp", "sc:chdir:0": "-E200", "getpid": "0"}


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_filter_for_an_unprivileged_user(rt, make_bundle, probe_rootfs, cid, nnp):
    """Without noNewPrivileges, loading a filter needs CAP_SYS_ADMIN: it must
    be loaded before the capabilities are dropped, or the process would run
    unfiltered (or not at all)."""
    ops = ["getpid", "sc:setns:-1:0", "personality:%#x" % ADDR_NO_RANDOMIZE, "ids"]
    results, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=docker_default_profile(),
                                   nnp=nnp, capabilities=[], user={"uid": 1000, "gid": 1000})
    assert status == 0
    assert_probe(results, {"getpid": "0", "sc:setns:-1:0": "-EPERM",
                           "personality:%#x" % ADDR_NO_RANDOMIZE: "-EPERM",
                           "ids": "1000,1000,0000000000000000"})


def test_without_nnp_the_process_keeps_no_new_privs_off(rt, make_bundle, probe_rootfs, cid):
    bundle = make_bundle(["cat", "/proc/self/status"], process={"noNewPrivileges": False},
                         linux={"seccomp": docker_default_profile()})
    out = rt("run", "--bundle", bundle, cid).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert fields["Seccomp"].strip() == "2"
    assert fields["NoNewPrivs"].strip() == "0"


# --------------------------------------------------------------------------
# actions

TARGET = "sc:getpriority:0:0"  # busybox sh never calls getpriority


@pytest.mark.parametrize("action, errno_ret, expected", [
    ("SCMP_ACT_KILL", None, None),
    ("SCMP_ACT_KILL_THREAD", None, None),
    ("SCMP_ACT_KILL_PROCESS", None, None),
    ("SCMP_ACT_TRAP", None, "trapped:%d" % X86_64_NR["getpriority"]),
    ("SCMP_ACT_ERRNO", None, "-EPERM"),
    ("SCMP_ACT_ERRNO", errno.ENOMSG, "-ENOMSG"),
    ("SCMP_ACT_ERRNO", 1000, "-E1000"),
    # no tracer: "the system call is not executed and returns ENOSYS"
    ("SCMP_ACT_TRACE", None, "-ENOSYS"),
    ("SCMP_ACT_LOG", None, "0"),
    ("SCMP_ACT_ALLOW", None, "0"),
], ids=lambda v: str(v))
def test_action(rt, make_bundle, probe_rootfs, cid, action, errno_ret, expected):
    profile = seccomp_profile(seccomp_rule("getpriority", action, errno_ret=errno_ret))
    results, status, _ = run_probe(rt, make_bundle, cid, ["getpid", TARGET, "getppid"],
                                   seccomp=profile)
    assert results["getpid"] == "0"
    if expected is None:  # killed on the spot by SIGSYS, nothing after it ran
        assert status == KILLED_BY_SIGSYS
        assert TARGET not in results and "getppid" not in results, results
    else:
        assert status == 0
        assert_probe(results, {TARGET: expected, "getppid": "0"})
    rt.assert_clean()


def test_trace_with_errno_ret_and_no_tracer(rt, make_bundle, probe_rootfs, cid):
    profile = seccomp_profile(seccomp_rule("getpriority", "SCMP_ACT_TRACE", errno_ret=7))
    results, status, _ = run_probe(rt, make_bundle, cid, [TARGET], seccomp=profile)
    assert status == 0
    assert results[TARGET] == "-ENOSYS"


def test_allow_rules_in_a_deny_by_default_profile(rt, make_bundle, probe_rootfs, cid):
    """defaultAction KILL_PROCESS with an allow list: what is listed works,
    the first unlisted call kills the process."""
    allowed = set()
    for rule in docker_default_profile()["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            allowed.update(rule["names"])
    allowed.discard("getppid")
    profile = seccomp_profile(seccomp_rule(sorted(allowed), "SCMP_ACT_ALLOW"),
                              default="SCMP_ACT_KILL_PROCESS")
    bundle = make_bundle([PROBE, "getpid", "read", "getppid", "write"],
                         linux={"seccomp": profile})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert result.returncode == KILLED_BY_SIGSYS, (result.returncode, result.stderr)
    assert probe_results(result.stdout) == {"getpid": "0", "read": "0"}
    rt.assert_clean()


def test_kill_process_status_seen_by_run(rt, make_bundle, probe_rootfs, cid):
    """The container's process itself killed: `run` exits 128 + SIGSYS."""
    profile = seccomp_profile(seccomp_rule("getpriority", "SCMP_ACT_KILL_PROCESS"))
    bundle = make_bundle([PROBE, "getpid", TARGET, "getppid"], linux={"seccomp": profile})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert result.returncode == KILLED_BY_SIGSYS, (result.returncode, result.stderr)
    assert probe_results(result.stdout) == {"getpid": "0"}
    rt.assert_clean()


def test_unknown_syscall_names_are_skipped(rt, make_bundle, probe_rootfs, cid):
    profile = seccomp_profile(seccomp_rule(["no_such_syscall_here", "getpriority"],
                                           "SCMP_ACT_ERRNO", errno_ret=errno.EDOM))
    results, status, _ = run_probe(rt, make_bundle, cid, [TARGET, "getpid"], seccomp=profile)
    assert status == 0
    assert_probe(results, {TARGET: "-EDOM", "getpid": "0"})


# --------------------------------------------------------------------------
# argument conditions

V = 0x180000000  # high word 1, low word 0x80000000: both words matter
BELOW_HIGH = 0x0FFFFFFFF   # smaller high word, larger low word
ABOVE_HIGH = 0x200000000   # larger high word, smaller low word
OPERATOR_CASES = {
    # op: [(argument, matches)]
    "SCMP_CMP_EQ": [(V, True), (V & 0xFFFFFFFF, False), (0x100000000, False),
                    (0x380000000, False), (V + 1, False)],
    "SCMP_CMP_NE": [(V, False), (V & 0xFFFFFFFF, True), (0x100000000, True),
                    (0x380000000, True), (V - 1, True)],
    "SCMP_CMP_GT": [(V + 1, True), (V, False), (V - 1, False), (BELOW_HIGH, False),
                    (ABOVE_HIGH, True), (0xFFFFFFFFFFFFFFFF, True), (0, False)],
    "SCMP_CMP_GE": [(V + 1, True), (V, True), (V - 1, False), (BELOW_HIGH, False),
                    (ABOVE_HIGH, True), (0, False)],
    "SCMP_CMP_LT": [(V + 1, False), (V, False), (V - 1, True), (BELOW_HIGH, True),
                    (ABOVE_HIGH, False), (0, True), (0xFFFFFFFFFFFFFFFF, False)],
    "SCMP_CMP_LE": [(V + 1, False), (V, True), (V - 1, True), (BELOW_HIGH, True),
                    (ABOVE_HIGH, False), (0, True)],
}
MATCHED = "-E%d" % 200  # errnoRet of the rule: no kernel path returns it


def getpriority_op(who, which=0):
    return "sc:getpriority:%#x:%#x" % (which, who)


@pytest.mark.parametrize("op", sorted(OPERATOR_CASES))
def test_argument_operator(rt, make_bundle, probe_rootfs, cid, op):
    profile = seccomp_profile(seccomp_rule("getpriority", "SCMP_ACT_ERRNO",
                                           seccomp_arg(1, op, V), errno_ret=200))
    cases = OPERATOR_CASES[op]
    results, status, _ = run_probe(rt, make_bundle, cid,
                                   [getpriority_op(arg) for arg, _ in cases], seccomp=profile)
    assert status == 0
    got = {hex(arg): results[getpriority_op(arg)] == MATCHED for arg, _ in cases}
    assert got == {hex(arg): matches for arg, matches in cases}


def test_argument_masked_eq(rt, make_bundle, probe_rootfs, cid):
    # (arg & 0xF0000000F) == 0x100000001
    profile = seccomp_profile(seccomp_rule(
        "getpriority", "SCMP_ACT_ERRNO",
        seccomp_arg(1, "SCMP_CMP_MASKED_EQ", 0xF0000000F, 0x100000001), errno_ret=200))
    cases = [(0x100000001, True), (0x1ABCDEF01, True), (0xF10000001, False),
             (0x000000001, False), (0x100000002, False), (0x300000001, False),
             (0x10000001F, False), (0x1FFFFFFF1, True)]
    results, status, _ = run_probe(rt, make_bundle, cid,
                                   [getpriority_op(arg) for arg, _ in cases], seccomp=profile)
    assert status == 0
    got = {hex(arg): results[getpriority_op(arg)] == MATCHED for arg, _ in cases}
    assert got == {hex(arg): matches for arg, matches in cases}


def test_conditions_of_one_rule_are_anded(rt, make_bundle, probe_rootfs, cid):
    profile = seccomp_profile(seccomp_rule(
        "getpriority", "SCMP_ACT_ERRNO",
        seccomp_arg(0, "SCMP_CMP_EQ", 7),
        seccomp_arg(1, "SCMP_CMP_GT", 0x100000000), errno_ret=200))
    cases = [((7, 0x100000001), True), ((7, 0x100000000), False),
             ((8, 0x100000001), False), ((0x100000007, 0x100000001), False),
             ((7, 0x500000000), True)]
    ops = {case: getpriority_op(case[1], which=case[0]) for case, _ in cases}
    results, status, _ = run_probe(rt, make_bundle, cid, list(ops.values()), seccomp=profile)
    assert status == 0
    got = {str(case): results[ops[case]] == MATCHED for case, _ in cases}
    assert got == {str(case): matches for case, matches in cases}


def test_conditions_on_one_argument_are_ored_as_runc_splits_them(rt, make_bundle, probe_rootfs, cid):
    # "getpriority with who 5 or who 0x600000000, and which 0 -> errno 200":
    # runc adds each condition on a repeated argument as a rule of its own;
    # conditions on different arguments still all have to hold.
    profile = seccomp_profile(seccomp_rule(
        "getpriority", "SCMP_ACT_ERRNO",
        seccomp_arg(1, "SCMP_CMP_EQ", 5), seccomp_arg(0, "SCMP_CMP_EQ", 0),
        seccomp_arg(1, "SCMP_CMP_EQ", 0x600000000), errno_ret=200))
    if IS_RUNC:  # runc splits every condition of such a rule, the one on which too
        pytest.skip("runc ORs every condition of a rule that repeats an argument, the one on `which` too")
    cases = [((0, 5), True), ((0, 0x600000000), True), ((0, 6), False),
             ((1, 5), False), ((1, 0x600000000), False)]
    ops = {case: getpriority_op(case[1], which=case[0]) for case, _ in cases}
    results, status, _ = run_probe(rt, make_bundle, cid, list(ops.values()), seccomp=profile)
    assert status == 0
    got = {str(case): results[ops[case]] == MATCHED for case, _ in cases}
    assert got == {str(case): matches for case, matches in cases}


def test_a_deny_on_either_of_two_values_of_one_argument_applies_to_both(rt, make_bundle, probe_rootfs, cid):
    # The shape of a real profile's rule (runc accepts it and denies both):
    # were the two conditions ANDed, no argument could match and the deny
    # would silently never apply.
    profile = seccomp_profile(seccomp_rule(
        "getpriority", "SCMP_ACT_ERRNO",
        seccomp_arg(1, "SCMP_CMP_EQ", 0), seccomp_arg(1, "SCMP_CMP_EQ", 18), errno_ret=200))
    cases = [(0, True), (18, True), (9, False)]
    results, status, _ = run_probe(rt, make_bundle, cid,
                                   [getpriority_op(arg) for arg, _ in cases], seccomp=profile)
    assert status == 0
    got = {arg: results[getpriority_op(arg)] == MATCHED for arg, _ in cases}
    assert got == {arg: matches for arg, matches in cases}


def test_rules_for_one_syscall_are_ored(rt, make_bundle, probe_rootfs, cid):
    profile = seccomp_profile(
        seccomp_rule("getpriority", "SCMP_ACT_ERRNO", seccomp_arg(1, "SCMP_CMP_EQ", 5),
                     errno_ret=200),
        seccomp_rule("getpriority", "SCMP_ACT_ERRNO", seccomp_arg(1, "SCMP_CMP_EQ", 0x600000000),
                     errno_ret=200),
        seccomp_rule("getppid", "SCMP_ACT_ERRNO", errno_ret=201))
    cases = [(5, True), (0x600000000, True), (6, False), (0x500000000, False)]
    ops = [getpriority_op(arg) for arg, _ in cases] + ["getppid", "getpid"]
    results, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=profile)
    assert status == 0
    got = {hex(arg): results[getpriority_op(arg)] == MATCHED for arg, _ in cases}
    assert got == {hex(arg): matches for arg, matches in cases}
    assert results["getppid"] == "-E201" and results["getpid"] == "0"


# --------------------------------------------------------------------------
# architectures

@pytest.mark.parametrize("arches, i386, x32", [
    # the native arch only: any other ABI is killed by the arch check
    (["SCMP_ARCH_X86_64"], None, None),
    (["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "0", None),
    # x32 shares x86_64's audit arch: the filter must tell them apart by
    # the syscall number's __X32_SYSCALL_BIT
    (["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], None, "-ENOSYS"),
    (["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "0", "-ENOSYS"),
], ids=["x86_64", "x86_64+x86", "x86_64+x32", "all-three"])
@pytest.mark.parametrize("abi", ["i386", "x32"])
def test_architectures(rt, make_bundle, probe_rootfs, cid, arches, i386, x32, abi):
    op = "i386:20" if abi == "i386" else "x32:39"  # getpid in both ABIs
    expected = i386 if abi == "i386" else x32
    profile = seccomp_profile(default="SCMP_ACT_ALLOW", arches=arches)
    results, status, _ = run_probe(rt, make_bundle, cid, ["getpid", op, "getppid"],
                                   seccomp=profile)
    assert results["getpid"] == "0"
    if expected is None:
        assert status == KILLED_BY_SIGSYS, results
        assert op not in results
    else:
        assert status == 0
        assert_probe(results, {op: expected, "getppid": "0"})


def test_rules_use_each_architectures_own_syscall_numbers(rt, make_bundle, probe_rootfs, cid):
    """getpid is 39 on x86_64 and 20 on i386; i386's 39 is mkdir and x86_64's
    20 is writev: a rule for getpid must follow the name, not the number."""
    profile = seccomp_profile(seccomp_rule("getpid", "SCMP_ACT_ERRNO", errno_ret=200),
                              arches=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
    ops = ["getpid", "i386:20", "i386:39:0", "nr:20:-1:0:0"]
    results, status, _ = run_probe(rt, make_bundle, cid, ops, seccomp=profile)
    assert status == 0
    assert_probe(results, {"getpid": "-E200", "i386:20": "-E200",
                           "i386:39:0": "-EFAULT",       # mkdir(NULL)
                           "nr:20:-1:0:0": "-EBADF"})    # writev(-1, ...)


def test_docker_profile_without_x32_kills_x32_calls(rt, make_bundle, probe_rootfs, cid):
    profile = docker_default_profile()
    profile["architectures"] = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    results, status, _ = run_probe(rt, make_bundle, cid, ["getpid", "i386:20", "x32:39"],
                                   seccomp=profile)
    assert status == KILLED_BY_SIGSYS
    assert results == {"getpid": "0", "i386:20": "0"}


# --------------------------------------------------------------------------
# flags

@pytest.mark.skipif(IS_RUNC, reason="runc 1.1.5 refuses every seccomp flag (not yet supported)")
@pytest.mark.parametrize("flags", [["SECCOMP_FILTER_FLAG_LOG"],
                                   ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                                   ["SECCOMP_FILTER_FLAG_TSYNC"],
                                   ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]],
                         ids=lambda f: "+".join(x.rsplit("_", 1)[-1] for x in f))
def test_supported_flags_are_accepted(rt, make_bundle, probe_rootfs, cid, flags):
    profile = docker_default_profile()
    profile["flags"] = flags
    results, status, result = run_probe(rt, make_bundle, cid, ["getpid", "keyctl"],
                                        seccomp=profile)
    assert status == 0
    assert_probe(results, {"getpid": "0", "keyctl": "-EPERM"})
    if IS_MINIRUN:  # this kernel has all of them: nothing may be left out
        warnings = [e["msg"] for e in read_json_log(rt.log) if e["level"] == "warning"]
        assert not [w for w in warnings if "seccomp" in w], warnings


def test_unknown_flag_is_refused(rt, make_bundle, probe_rootfs, cid):
    profile = docker_default_profile()
    profile["flags"] = ["SECCOMP_FILTER_FLAG_NO_SUCH_FLAG"]
    bundle = make_bundle(["true"], linux={"seccomp": profile})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "linux.seccomp.flags", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@pytest.mark.parametrize("profile, field", [
    (seccomp_profile(default="SCMP_ACT_NO_SUCH_ACTION"), "linux.seccomp.defaultAction"),
    (seccomp_profile(seccomp_rule("getpid", "SCMP_ACT_SOMETIMES")), "linux.seccomp.syscalls[0].action"),
    (seccomp_profile(seccomp_rule("getpid", "SCMP_ACT_ERRNO",
                                  seccomp_arg(0, "SCMP_CMP_ROUGHLY", 1))),
     "linux.seccomp.syscalls[0].args[0].op"),
    (seccomp_profile(default="SCMP_ACT_NOTIFY", listenerPath="/nonexistent.sock"),
     "linux.seccomp.defaultAction"),
], ids=["default-action", "rule-action", "operator", "notify-default"])
def test_bad_profiles_are_refused(rt, make_bundle, cid, profile, field):
    bundle = make_bundle(["true"], linux={"seccomp": profile})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, field, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def kmsg_reader():
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        pytest.skip("cannot read the kernel log: %s" % exc)
    os.lseek(fd, 0, os.SEEK_END)  # only what is logged from now on
    lines = []

    def read_new():
        while True:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                return lines
            except OSError as exc:  # EPIPE: overwritten records, go on
                if exc.errno != errno.EPIPE:
                    raise
                continue
            lines.append(record.decode(errors="replace"))

    return fd, read_new


@pytest.mark.parametrize("flag_log", [
    False, pytest.param(True, marks=pytest.mark.skipif(
        IS_RUNC, reason="runc 1.1.5 refuses every seccomp flag (not yet supported)"))],
    ids=["no-flag", "FLAG_LOG"])
def test_log_action_and_flag_log(rt, make_bundle, probe_rootfs, syscall_probe, cid, flag_log):
    """SCMP_ACT_LOG: the call runs and the kernel logs it (audit type 1326,
    code 0x7ffc0000).  SECCOMP_FILTER_FLAG_LOG: the other actions but ALLOW
    are logged too (here ERRNO, code 0x50000); without it they are not.

    The kernel prints audit records under a global rate limit shared with
    every other test: the probe repeats the pair of calls until the records
    show up, under a name of its own (the records' comm) so that no other
    test's records count."""
    name = "lg" + cid[-10:]
    install_probe(probe_rootfs, syscall_probe, path="/bin/" + name)
    extra = {"flags": ["SECCOMP_FILTER_FLAG_LOG"]} if flag_log else {}
    profile = seccomp_profile(
        seccomp_rule("getpriority", "SCMP_ACT_ERRNO", seccomp_arg(0, "SCMP_CMP_EQ", 7)),
        seccomp_rule("getpriority", "SCMP_ACT_LOG", seccomp_arg(0, "SCMP_CMP_EQ", 0)), **extra)
    errno_op, log_op = "sc:getpriority:7:0", "sc:getpriority:0:0"
    script = "{0} {1} {2}; while :; do {0} {1} {2} >/dev/null; sleep 0.2; done".format(
        "/bin/" + name, errno_op, log_op)
    bundle = make_bundle(["sh", "-c", script], linux={"seccomp": profile})
    out_path = rt.tmp / "container.out"
    fd, read_new = kmsg_reader()
    try:
        with open(str(out_path), "w") as out:
            rt("create", "--bundle", bundle, cid, stdout=out)
        rt("start", cid)

        def records(code):
            return [l for l in read_new() if "type=1326" in l and 'comm="%s"' % name in l
                    and "syscall=140 " in l and "code=%s" % code in l]

        # each ERRNO record, if any, is queued before its LOG one
        wait_for(lambda: records("0x7ffc0000"), what="an SCMP_ACT_LOG audit record")
        if flag_log:
            wait_for(lambda: records("0x50000"), what="an SCMP_ACT_ERRNO audit record")
        logged_errno = records("0x50000")
        rt("delete", "--force", cid)
    finally:
        os.close(fd)
    assert probe_results(out_path.read_text()) == {errno_op: "-EPERM", log_op: "0"}
    assert bool(logged_errno) == flag_log


# --------------------------------------------------------------------------
# when the filter is loaded

RUNTIME_SETUP_SYSCALLS = ["capset", "setresuid", "setresgid", "setgroups", "chdir", "fchdir",
                          "close_range", "mount", "umount2", "pivot_root", "sethostname",
                          "setdomainname", "keyctl", "umask", "setrlimit", "prlimit64",
                          "unshare", "setns"]


def test_with_nnp_the_filter_is_loaded_right_before_execve(rt, make_bundle, probe_rootfs, cid):
    """A profile refusing what the runtime itself needs to set the container
    up (capset, setresuid, chdir, mount, ...) does not stop it: nothing but
    execve may run under the filter.  The process sees the refusals."""
    profile = seccomp_profile(seccomp_rule(RUNTIME_SETUP_SYSCALLS, "SCMP_ACT_ERRNO",
                                           errno_ret=200))
    bundle = make_bundle([PROBE, "sc:umask:0", "sc:chdir:0", "sc:sethostname:0:0", "getpid"],
                         process={"noNewPrivileges": True,
                                  "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
                                  "cwd": "/tmp", "capabilities": caps(["CAP_KILL"]),
                                  "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512,
                                               "hard": 512}]},
                         hostname="filtered", linux={"seccomp": profile})
    result = rt("run", "--bundle", bundle, cid)
    assert probe_results(result.stdout) == {"sc:umask:0": "-E200", "sc:chdir:0": "-E200",
                                            "sc:sethostname:0:0": "-E200", "getpid": "0"}


# --------------------------------------------------------------------------
# SCMP_ACT_NOTIFY

EACCES_MODE = 0o700  # the agent refuses mkdir with this mode, lets others run


def decide_mkdir(note):
    if note.nr == X86_64_NR["mkdir"] and note.args[1] == EACCES_MODE:
        return ("error", errno.EACCES)
    return ("continue",)


@pytest.fixture
def agent_factory(rt):
    agents = []

    def make(decide):
        agent = NotifyAgent(rt.private_dir("notify") / "agent.sock", decide)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop()


def notify_profile(listener, metadata, *names, **extra):
    names = names or ("mkdir",)
    return seccomp_profile(seccomp_rule(list(names), "SCMP_ACT_NOTIFY"),
                           listenerPath=listener, listenerMetadata=metadata, **extra)


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_notify_agent_answers(rt, make_bundle, probe_rootfs, cid, agent_factory, nnp):
    agent = agent_factory(decide_mkdir)
    metadata = "meta-%s" % cid
    ops = ["mkdir:/tmp/denied:0%o" % EACCES_MODE, "mkdir:/tmp/allowed:0755",
           "open:/tmp/allowed", "open:/tmp/denied"]
    bundle = make_bundle(
        ["sh", "-c", "%s %s; ls /proc/self/fd" % (PROBE, " ".join(ops))],
        process={"noNewPrivileges": nnp},
        linux={"seccomp": notify_profile(agent.path, metadata)},
        annotations={"org.example.test": "notify"})
    out_path = rt.tmp / "container.out"
    with open(str(out_path), "w") as out:
        rt("create", "--bundle", bundle, cid, stdout=out)
    pid = rt.state(cid)["pid"]
    rt("start", cid)
    message = agent.wait_message()
    notes = agent.wait_notifications(2)
    rt.wait_status(cid, "stopped")
    lines = out_path.read_text().split()

    # the agent's answers reached the process, and the kernel ran the allowed one
    results = probe_results("\n".join(lines))
    assert_probe(results, {ops[0]: "-EACCES", ops[1]: "0", ops[2]: "0", ops[3]: "-ENOENT"})
    assert os.path.isdir(str(probe_rootfs / "tmp" / "allowed"))
    assert not os.path.exists(str(probe_rootfs / "tmp" / "denied"))
    # the listener fd went to the agent, not into the container
    fds = [l for l in lines if l.isdigit()]
    assert set(fds) <= {"0", "1", "2", "3"}, lines

    # the notifications: x86_64 mkdir from the probe, a child of the init
    for note, mode in zip(notes, (EACCES_MODE, 0o755)):
        assert note.nr == X86_64_NR["mkdir"] and note.arch == AUDIT_ARCH_X86_64, note
        assert note.args[1] == mode
        assert note.ppid == pid, (note, pid)

    # the message: the container process state of the runtime spec; pids
    # are the runtime's (the host's), as the agent sees them
    assert {"ociVersion", "fds", "pid", "metadata", "state"} <= set(message), message
    state = message["state"]
    got = {"fds": message["fds"], "metadata": message["metadata"], "pid": message["pid"],
           "state.id": state.get("id"), "state.pid": state.get("pid"),
           "state.bundle": os.path.realpath(state.get("bundle", "")),
           "state.annotations": state.get("annotations", {}).get("org.example.test")}
    assert got == {"fds": ["seccompFd"], "metadata": metadata, "pid": pid,
                   "state.id": cid, "state.pid": pid,
                   "state.bundle": os.path.realpath(str(bundle)),
                   "state.annotations": "notify"}, message
    # the filter (and with it the listener) is loaded as the process is set
    # up: with noNewPrivileges just before execve, after `start` ("created"),
    # without it before the capabilities are dropped, at create ("creating");
    # runc 1.1 sends its listener at create in both cases
    assert state["status"] == ("created" if nnp and not IS_RUNC else "creating"), state
    rt("delete", cid)
    rt.assert_clean()


def test_notify_listener_path_that_does_not_exist(rt, make_bundle, cid, tmp_path):
    missing = str(tmp_path / "no-agent.sock")
    bundle = make_bundle(["true"], linux={"seccomp": notify_profile(missing, "m")})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "linux.seccomp.listenerPath", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_notify_without_listener_path(rt, make_bundle, cid):
    profile = seccomp_profile(seccomp_rule("mkdir", "SCMP_ACT_NOTIFY"))
    bundle = make_bundle(["true"], linux={"seccomp": profile})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "listenerPath", log=rt.log)
    rt.assert_clean()


def test_notify_on_write_is_refused_as_runc_does(rt, make_bundle, cid, tmp_path):
    # A listener that never answers a write would hang the runtime's own
    # last writes after the filter is loaded: runc refuses it, and so does minirun.
    profile = seccomp_profile(seccomp_rule("write", "SCMP_ACT_NOTIFY"))
    profile["listenerPath"] = str(tmp_path / "agent.sock")
    bundle = make_bundle(["true"], linux={"seccomp": profile})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "SCMP_ACT_NOTIFY cannot be used for the write syscall", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1.5 does not know SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
def test_notify_wait_killable_recv(rt, make_bundle, probe_rootfs, cid, agent_factory):
    """With WAIT_KILLABLE_RECV (Linux 5.19), once the agent has received a
    notification a non-fatal signal no longer interrupts the syscall: the
    process goes on waiting, killably (state D), and the agent's answer to
    the notification it received still lands.  A kernel without the flag gets
    the filter without it, with a warning naming it: there the signal
    interrupts the wait, the notification is gone (ENOENT) and the restarted
    call is notified anew."""
    agent = agent_factory(lambda note: None)  # answer by hand below
    profile = notify_profile(agent.path, "killable",
                             flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    bundle = make_bundle([PROBE, "mkdir:/tmp/slow:0755", "getpid"], linux={"seccomp": profile})
    out_path = rt.tmp / "container.out"
    with open(str(out_path), "w") as out:
        rt("create", "--bundle", bundle, cid, stdout=out, log=True)
    pid = rt.state(cid)["pid"]
    rt("start", cid, log=True)
    note = agent.wait_notifications(1)[0]
    assert note.pid == pid
    warnings = [e["msg"] for e in read_json_log(rt.log) if e["level"] == "warning"]
    left_out = [w for w in warnings if "WAIT_KILLABLE_RECV" in w]

    # received, not answered: a SIGUSR1 (the probe handles it, SA_RESTART)
    os.kill(pid, 10)
    if kernel_accepts_seccomp_flags(SECCOMP_FILTER_FLAG_NEW_LISTENER
                                    | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV):
        assert not left_out, warnings
        # the signal wakes the wait, which resumes killable only
        wait_for(lambda: process_state(pid) == "D", what="a killable (D) wait in mkdir")
        agent.respond(note, "error", errno.EXDEV)  # still the same notification
    else:
        assert [w for w in left_out if "not supported by this kernel" in w], warnings
        again = agent.wait_notifications(2)[1]
        assert (again.pid, again.nr) == (pid, note.nr)
        with pytest.raises(OSError) as gone:
            agent.respond(note, "error", errno.EXDEV)
        assert gone.value.errno == errno.ENOENT
        agent.respond(again, "error", errno.EXDEV)
    rt.wait_status(cid, "stopped")
    assert probe_results(out_path.read_text()) == {"mkdir:/tmp/slow:0755": "-EXDEV", "getpid": "0"}
