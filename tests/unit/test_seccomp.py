"""Section 8: the seccomp compiler, proven by execution.

Every compiled program is run by a classic BPF interpreter (tests/unit/bpf.py,
which also applies the kernel's static checks) and its answers are compared
with `expected_action`, a plain reading of what the profile means:

  * a seccomp_data.arch that is not filtered gets SECCOMP_RET_KILL_PROCESS;
    the native arch of the machine is always filtered, plus the listed ones;
  * on x86_64's audit arch a number at or above __X32_SYSCALL_BIT is an x32
    syscall (filtered only if SCMP_ARCH_X32 is), like libseccomp's `jge`;
  * rules whose action is the default action are dropped (as runc does);
    an unconditional rule for a syscall overrides its conditional ones,
    whatever the order (as libseccomp merges them); otherwise the first
    conditional rule, in profile order, whose conditions hold gives its
    action: conditions on different arguments must all hold (AND), of
    several on one argument any may (OR, as runc splits them into a rule
    each); otherwise the default does;
  * conditions compare 64-bit values on x86_64 and aarch64, and the low 32
    bits only on x86, x32 and arm;
  * a number above every syscall the profile names on its arch (in any rule,
    whatever its action) returns ENOSYS instead of the default action, unless
    the default is ALLOW, LOG or TRACE (runc's -ENOSYS stub), so a libc
    probing a syscall newer than the profile falls back.

The reading works on the raw JSON, with the kernel's SECCOMP_RET_* and
AUDIT_ARCH_* constants written out here, so parse and compile are both under
test. A few tests load programs into the real kernel, in a child process.
"""

import ctypes
import json
import os
import random
import subprocess
import sys

import pytest

import minirun

from . import bpf
from .helpers import FIXTURES, REPO, base_config

# linux/seccomp.h
RET = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000, "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000, "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_NOTIFY": 0x7FC00000,
}
KILL_PROCESS = 0x80000000
ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38
ERRNO_EPERM = 0x00050000 | EPERM
ERRNO_ENOSYS = 0x00050000 | ENOSYS

# linux/audit.h
AUDIT_X86_64, AUDIT_I386, AUDIT_AARCH64, AUDIT_ARM = 0xC000003E, 0x40000003, 0xC00000B7, 0x40000028
X32_BIT = 0x40000000
ABIS = {  # SCMP_ARCH_* -> (syscall table, audit arch, 64-bit arguments)
    "SCMP_ARCH_X86_64": ("x86_64", AUDIT_X86_64, True),
    "SCMP_ARCH_X86": ("x86", AUDIT_I386, False),
    "SCMP_ARCH_X32": ("x32", AUDIT_X86_64, False),
    "SCMP_ARCH_AARCH64": ("aarch64", AUDIT_AARCH64, True),
    "SCMP_ARCH_ARM": ("arm", AUDIT_ARM, False),
}
NATIVE = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}
MACHINES = ("x86_64", "aarch64")
UNKNOWN_AUDIT_ARCH = 0xC0000015  # AUDIT_ARCH_PPC64LE: no table here, never filtered
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
             "SCMP_CMP_MASKED_EQ")
U32, U64 = (1 << 32) - 1, (1 << 64) - 1

TABLES = {arch: minirun.syscall_table(arch) for arch in ("x86_64", "x86", "x32", "aarch64", "arm")}
ALL_NAMES = sorted(set().union(*TABLES.values()))

DOCKER_FIXTURE = os.path.join(FIXTURES, "docker-run-echo-hi.config.json")
on_a_machine_with_seccomp_support = pytest.mark.skipif(
    os.uname().machine not in NATIVE, reason="minirun compiles seccomp for x86_64 and aarch64 only")


# --- the meaning of a profile, in plain Python --------------------------------


def action_value(name, errno_ret):
    value = RET[name]
    if name == "SCMP_ACT_ERRNO":
        value |= EPERM if errno_ret is None else errno_ret
    elif name == "SCMP_ACT_TRACE":
        value |= errno_ret or 0
    return value


def filtered_abis(raw, machine):
    return {NATIVE[machine]} | {name for name in raw.get("architectures") or [] if name in ABIS}


def abi_of(raw, machine, nr, arch):
    """The SCMP_ARCH_* a (nr, arch) pair belongs to, or None when it is not filtered."""
    if arch == AUDIT_X86_64:
        abi = "SCMP_ARCH_X32" if nr >= X32_BIT else "SCMP_ARCH_X86_64"
    else:
        abi = next((name for name, (_t, audit, _w) in ABIS.items() if audit == arch), None)
    return abi if abi in filtered_abis(raw, machine) else None


def condition_holds(cond, args, wide):
    x, value, value_two = args[cond["index"]], cond["value"], cond.get("valueTwo") or 0
    if not wide:
        x, value, value_two = x & U32, value & U32, value_two & U32
    op = cond["op"]
    if op == "SCMP_CMP_NE":
        return x != value
    if op == "SCMP_CMP_LT":
        return x < value
    if op == "SCMP_CMP_LE":
        return x <= value
    if op == "SCMP_CMP_EQ":
        return x == value
    if op == "SCMP_CMP_GE":
        return x >= value
    if op == "SCMP_CMP_GT":
        return x > value
    if op == "SCMP_CMP_MASKED_EQ":
        return x & value == value_two
    raise AssertionError("unknown operator %r" % op)


def expected_action(raw, machine, nr, arch, args=(0,) * 6):
    """What the profile (raw linux.seccomp JSON) says about one syscall."""
    abi = abi_of(raw, machine, nr, arch)
    if abi is None:
        return KILL_PROCESS
    table_name, _audit, wide = ABIS[abi]
    table = TABLES[table_name]
    number = nr - X32_BIT if abi == "SCMP_ARCH_X32" else nr
    default = action_value(raw["defaultAction"], raw.get("defaultErrnoRet"))
    named = [table[name] for rule in raw.get("syscalls") or [] for name in rule["names"] if name in table]
    permissive = raw["defaultAction"] in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE")
    if named and not permissive and number > max(named):
        return ERRNO_ENOSYS
    naming = [rule for rule in raw.get("syscalls") or []
              if any(table.get(name) == number for name in rule["names"])
              and action_value(rule["action"], rule.get("errnoRet")) != default]
    unconditional = [rule for rule in naming if not rule.get("args")]
    for rule in unconditional[:1] or naming:
        conditions = rule.get("args") or []
        indexes = {cond["index"] for cond in conditions}
        if all(any(condition_holds(cond, args, wide) for cond in conditions if cond["index"] == index)
               for index in indexes):
            return action_value(rule["action"], rule.get("errnoRet"))
    return default


def compile_raw(raw, machine):
    """parse + compile, and the kernel's static checks on the result."""
    program = minirun.compile_seccomp(minirun._parse_seccomp(raw), machine)
    bpf.check_program(program)
    return program


def number_of(abi, name):
    table_name = ABIS[abi][0]
    number = TABLES[table_name][name]
    return number | X32_BIT if abi == "SCMP_ARCH_X32" else number


def audit_of(abi):
    return ABIS[abi][1]


def verdict(program, nr, arch, args=(0,) * 6):
    return bpf.run(program, bpf.seccomp_data(nr, arch, args))[0]


def describe(value):
    """SCMP_ACT_ERRNO(38) for 0x50026."""
    names = {v: k for k, v in RET.items() if k != "SCMP_ACT_KILL"}
    name = names.get(value & 0xFFFF0000, hex(value & 0xFFFF0000))
    return "%s(%d)" % (name, value & 0xFFFF) if value & 0xFFFF else name


def assert_agrees(raw, machine, program, inputs, context):
    """Interpreter vs expected_action on every (nr, arch, args); a mismatch names
    the context (seed), the input and both answers."""
    for nr, arch, args in inputs:
        want = expected_action(raw, machine, nr, arch, args)
        got = verdict(program, nr, arch, args)
        if got != want:
            pytest.fail("%s, machine %s: nr=%#x arch=%#x args=[%s]: the filter returns %s (%#x), "
                        "the profile means %s (%#x)\nprofile: %s"
                        % (context, machine, nr, arch, ", ".join("%#x" % a for a in args),
                           describe(got), got, describe(want), want, json.dumps(raw)[:4000]))


# --- the interpreter itself ---------------------------------------------------


def test_the_interpreter_reads_seccomp_data_as_the_kernel_lays_it_out():
    data = bpf.seccomp_data(0x101, AUDIT_X86_64, args=[1, 2, 3, 4, 5, 0x1122334455667788],
                            instruction_pointer=0xAABBCCDD00112233)
    assert len(data) == 64

    def word_at(offset, k):
        program = [(bpf.LD_W_ABS, 0, 0, offset), (bpf.JEQ_K, 0, 1, k), (bpf.RET_K, 0, 0, 1), (bpf.RET_K, 0, 0, 0)]
        return bpf.run(program, data) == (1, 3)

    assert word_at(0, 0x101) and word_at(4, AUDIT_X86_64)  # nr, arch
    assert word_at(8, 0x00112233) and word_at(12, 0xAABBCCDD)  # instruction_pointer, low word first
    for index in range(5):  # args[i] at 16 + 8 * i
        assert word_at(16 + 8 * index, index + 1) and word_at(20 + 8 * index, 0)
    assert word_at(56, 0x55667788) and word_at(60, 0x11223344)
    assert not word_at(56, 0x11223344)


def test_the_interpreter_compares_unsigned_and_masks_like_classic_bpf():
    def decide(code, k, nr):
        program = [(bpf.LD_W_ABS, 0, 0, 0), (code, 0, 1, k), (bpf.RET_K, 0, 0, 1), (bpf.RET_K, 0, 0, 0)]
        return bpf.run(program, bpf.seccomp_data(nr, 0))[0]

    assert decide(bpf.JGT_K, 5, 0xFFFFFFFF) == 1 and decide(bpf.JGT_K, 5, 5) == 0
    assert decide(bpf.JGE_K, 5, 5) == 1 and decide(bpf.JGE_K, 0x80000000, 0x7FFFFFFF) == 0
    assert decide(bpf.JSET_K, 0x10, 0x30) == 1 and decide(bpf.JSET_K, 0x10, 0x20) == 0
    masked = [(bpf.LD_W_ABS, 0, 0, 0), (bpf.ALU_AND_K, 0, 0, 0xF0), (bpf.JEQ_K, 0, 1, 0x30),
              (bpf.RET_K, 0, 0, 1), (bpf.RET_K, 0, 0, 0)]
    assert bpf.run(masked, bpf.seccomp_data(0x1234, 0)) == (1, 4)
    skip = [(bpf.JA, 0, 0, 1), (bpf.RET_K, 0, 0, 0), (bpf.RET_K, 0, 0, 9)]
    assert bpf.run(skip, bpf.seccomp_data(0, 0)) == (9, 2)


@pytest.mark.parametrize("program,complaint", [
    ([], "length 0"),
    ([(bpf.RET_K, 0, 0, 0)] * 4097, "length 4097"),
    ([(bpf.LD_W_ABS, 0, 0, 0)], "not ret"),
    ([(bpf.LD_W_ABS, 0, 0, 2), (bpf.RET_K, 0, 0, 0)], "misaligned"),
    ([(bpf.LD_W_ABS, 0, 0, 64), (bpf.RET_K, 0, 0, 0)], "outside seccomp_data"),
    ([(bpf.JEQ_K, 1, 0, 0), (bpf.RET_K, 0, 0, 0)], "lands outside"),
    ([(bpf.JA, 0, 0, 1), (bpf.RET_K, 0, 0, 0)], "lands outside"),
    ([(bpf.JEQ_K, 256, 0, 0), (bpf.RET_K, 0, 0, 0)], "out of range"),
    ([(0x07, 0, 0, 0), (bpf.RET_K, 0, 0, 0)], "opcode 0x7"),  # tax: not something the compiler emits
    ([(bpf.RET_K, 0, 0, 1 << 32)], "out of range"),
])
def test_the_interpreter_refuses_what_the_kernel_would(program, complaint):
    with pytest.raises(bpf.BpfError) as caught:
        bpf.check_program(program)
    assert complaint in str(caught.value)


def test_the_interpreter_fails_loudly_on_an_unknown_opcode_even_unchecked():
    with pytest.raises(bpf.BpfError, match="unknown opcode"):
        bpf.run([(0x87, 0, 0, 0), (bpf.RET_K, 0, 0, 0)], bpf.seccomp_data(0, 0))
    with pytest.raises(bpf.BpfError, match="left the program"):
        bpf.run([(bpf.JA, 0, 0, 5), (bpf.RET_K, 0, 0, 0)], bpf.seccomp_data(0, 0))


# --- Docker's default profile --------------------------------------------------


@pytest.fixture(scope="module")
def docker():
    """(raw linux.seccomp, compiled for x86_64) of Docker's default profile."""
    with open(DOCKER_FIXTURE) as handle:
        raw = json.load(handle)["linux"]["seccomp"]
    return raw, compile_raw(raw, "x86_64")


@pytest.mark.parametrize("arch,bit", [
    (AUDIT_X86_64, 0), (AUDIT_X86_64, X32_BIT), (AUDIT_I386, 0), (AUDIT_AARCH64, 0), (UNKNOWN_AUDIT_ARCH, 0),
], ids=["x86_64", "x32", "x86", "aarch64-not-listed", "unknown-arch"])
def test_docker_profile_agrees_with_its_meaning_for_every_syscall_number(docker, arch, bit):
    raw, program = docker
    rng = random.Random(arch ^ bit)
    inputs = []
    for nr in range(601):
        inputs.append((nr | bit, arch, (0,) * 6))
        inputs.append((nr | bit, arch, tuple(rng.choice((0, 8, 0x20000, U32, 1 << 32, U64, rng.getrandbits(64)))
                                             for _ in range(6))))
    assert_agrees(raw, "x86_64", program, inputs, "docker profile")


@pytest.mark.parametrize("abi", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
@pytest.mark.parametrize("name", ["read", "write", "execve", "exit_group", "ptrace", "arch_prctl"])
def test_docker_profile_allows_everyday_syscalls_on_each_of_its_abis(docker, abi, name):
    _raw, program = docker
    if name not in TABLES[ABIS[abi][0]]:
        pytest.skip("%s has no %s" % (abi, name))
    assert verdict(program, number_of(abi, name), audit_of(abi)) == ALLOW


@pytest.mark.parametrize("abi", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
@pytest.mark.parametrize("name", ["unshare", "mount", "umount2", "setns", "kexec_load", "bpf", "open_tree"])
def test_docker_profile_refuses_privileged_syscalls_with_eperm(docker, abi, name):
    _raw, program = docker
    assert verdict(program, number_of(abi, name), audit_of(abi)) == ERRNO_EPERM


@pytest.mark.parametrize("abi", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
def test_docker_profile_answers_clone3_with_enosys_so_libc_falls_back_to_clone(docker, abi):
    _raw, program = docker
    assert number_of(abi, "clone3") & ~X32_BIT == 435
    assert verdict(program, number_of(abi, "clone3"), audit_of(abi)) == 0x50026  # SCMP_ACT_ERRNO | ENOSYS


@pytest.mark.parametrize("persona", [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF])
def test_docker_profile_allows_personality_only_for_its_listed_personas(docker, persona):
    _raw, program = docker
    nr = number_of("SCMP_ARCH_X86_64", "personality")
    assert nr == 135
    assert verdict(program, nr, AUDIT_X86_64, (persona, 0, 0, 0, 0, 0)) == ALLOW
    assert verdict(program, nr, AUDIT_X86_64, (persona, 7, 7, 7, 7, 7)) == ALLOW  # other args do not matter


@pytest.mark.parametrize("persona", [0x1, 0x9, 0x20001, 0x0400000, 0xFFFFFFFE, 1 << 32, (1 << 32) | 8, U64])
def test_docker_profile_refuses_personality_for_any_other_64_bit_value(docker, persona):
    _raw, program = docker
    assert verdict(program, 135, AUDIT_X86_64, (persona, 0, 0, 0, 0, 0)) == ERRNO_EPERM


def test_docker_profile_compares_personality_on_the_low_word_for_x86(docker):
    _raw, program = docker
    nr = number_of("SCMP_ARCH_X86", "personality")
    assert verdict(program, nr, AUDIT_I386, (1 << 32, 0, 0, 0, 0, 0)) == ALLOW  # 32-bit: the high word is not there
    assert verdict(program, nr, AUDIT_I386, (U64, 0, 0, 0, 0, 0)) == ALLOW
    assert verdict(program, nr, AUDIT_I386, (0x1234, 0, 0, 0, 0, 0)) == ERRNO_EPERM


CLONE_NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET


@pytest.mark.parametrize("flags", [0x11, 0x3D0F00, 0x01200011, (1 << 32) | 0x11, 0x80000000 | 0x11])
def test_docker_profile_allows_clone_without_namespace_flags(docker, flags):
    _raw, program = docker
    assert flags & CLONE_NAMESPACE_FLAGS == 0
    assert verdict(program, 56, AUDIT_X86_64, (flags, 0, 0, 0, 0, 0)) == ALLOW


@pytest.mark.parametrize("flag", [1 << bit for bit in range(32) if CLONE_NAMESPACE_FLAGS >> bit & 1])
def test_docker_profile_refuses_clone_with_any_namespace_flag(docker, flag):
    _raw, program = docker
    assert verdict(program, 56, AUDIT_X86_64, (0x11 | flag, 0, 0, 0, 0, 0)) == ERRNO_EPERM
    assert verdict(program, number_of("SCMP_ARCH_X86", "clone"), AUDIT_I386, (flag, 0, 0, 0, 0, 0)) == ERRNO_EPERM


def test_docker_profile_kills_a_syscall_from_an_arch_it_does_not_list(docker):
    _raw, program = docker
    assert verdict(program, 63, AUDIT_AARCH64) == KILL_PROCESS  # aarch64 read
    assert verdict(program, 3, AUDIT_ARM) == KILL_PROCESS
    assert verdict(program, 0, UNKNOWN_AUDIT_ARCH) == KILL_PROCESS


def test_docker_profile_hot_path_is_a_handful_of_instructions(docker):
    """Structural, not timing: how many instructions an allowed syscall executes."""
    raw, program = docker
    conditional = {name for rule in raw["syscalls"] if rule.get("args") for name in rule["names"]}
    worst = {}
    for abi in ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"):
        for name in TABLES[ABIS[abi][0]]:
            value, steps = bpf.run(program, bpf.seccomp_data(number_of(abi, name), audit_of(abi)))
            if value == ALLOW:
                kind = "with arguments" if name in conditional else "plain"
                worst[abi, kind] = max(worst.get((abi, kind), (0, "")), (steps, name))
    assert len(worst) == 6, worst
    assert all(steps <= 20 for steps, _name in worst.values()), worst
    assert all(steps <= 14 for (_abi, kind), (steps, _name) in worst.items() if kind == "plain"), worst
    assert bpf.run(program, bpf.seccomp_data(0, AUDIT_X86_64))[1] <= 14  # read
    assert len(program) > 300  # and yet the program is not small: this is the binary search at work


@pytest.mark.parametrize("machine", MACHINES)
def test_docker_profile_compiles_for_both_machines_within_the_kernel_limit(docker, machine):
    raw, _program = docker
    program = compile_raw(raw, machine)
    assert len(program) <= 4096
    native = NATIVE[machine]
    read = number_of(native, "read")
    assert verdict(program, read, audit_of(native)) == ALLOW  # the native arch is filtered even if not listed
    assert_agrees(raw, machine, program, [(nr, audit_of(native), (0,) * 6) for nr in range(601)],
                  "docker profile")


# --- the semantics, one rule at a time ---------------------------------------------


def decide(raw, machine, nr, arch, args=(0,) * 6):
    """The compiled program's answer, checked against expected_action too."""
    program = compile_raw(raw, machine)
    assert_agrees(raw, machine, program, [(nr, arch, tuple(args))], "single input")
    return verdict(program, nr, arch, args)


PERSONALITY = 135  # x86_64


def test_an_unconditional_rule_overrides_the_conditional_ones_whatever_the_order():
    """As libseccomp merges rules per syscall, so as runc behaves."""
    raw = {"defaultAction": "SCMP_ACT_ERRNO",
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                        {"names": ["personality"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["personality"], "action": "SCMP_ACT_LOG"}]}
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (8, 0, 0, 0, 0, 0)) == ALLOW
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (9, 0, 0, 0, 0, 0)) == ALLOW


def test_conditional_rules_are_tried_in_profile_order():
    raw = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5,
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_GE"}]},
                        {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 6,
                         "args": [{"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]}]}
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (9, 0, 0, 0, 0, 0)) == 0x00050005
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (7, 0, 0, 0, 0, 0)) == ALLOW


def test_a_rule_whose_action_is_the_default_is_dropped():
    """As runc drops it before libseccomp sees it: it cannot shadow later rules."""
    raw = {"defaultAction": "SCMP_ACT_ERRNO",
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                        {"names": ["personality"], "action": "SCMP_ACT_ALLOW"}]}
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (8, 0, 0, 0, 0, 0)) == ALLOW


KILL = 62  # x86_64


def test_conditions_on_one_argument_match_when_any_of_them_holds():
    """OR, as runc does: libseccomp takes one comparison per argument in a
    rule, so runc adds each condition on a repeated argument as a rule of
    its own. "kill with signal 0 or 18 -> EPERM" is written this way."""
    raw = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                                  {"index": 1, "value": 18, "op": "SCMP_CMP_EQ"}]}]}
    assert decide(raw, "x86_64", KILL, AUDIT_X86_64, (7, 0, 0, 0, 0, 0)) == ERRNO_EPERM
    assert decide(raw, "x86_64", KILL, AUDIT_X86_64, (7, 18, 0, 0, 0, 0)) == ERRNO_EPERM
    assert decide(raw, "x86_64", KILL, AUDIT_X86_64, (7, 9, 0, 0, 0, 0)) == ALLOW
    assert decide(raw, "aarch64", 129, AUDIT_AARCH64, (7, 18, 0, 0, 0, 0)) == ERRNO_EPERM  # kill on aarch64


def test_conditions_on_different_arguments_must_all_hold():
    """AND across arguments, OR within one: (a0 == 1 or a0 == 2) and a1 > 5."""
    raw = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                  {"index": 1, "value": 5, "op": "SCMP_CMP_GT"},
                                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}]}
    for a0, a1, want in ((1, 6, ERRNO_EPERM), (2, 9, ERRNO_EPERM), (1, 5, ALLOW), (3, 9, ALLOW), (2, 0, ALLOW)):
        assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (a0, a1, 0, 0, 0, 0)) == want, (a0, a1)
    assert minirun.condition_groups([(0, "EQ", 1, 0), (1, "GT", 5, 0), (0, "EQ", 2, 0)]) == \
        [[(0, "EQ", 1, 0), (0, "EQ", 2, 0)], [(1, "GT", 5, 0)]]


@pytest.mark.parametrize("op,value,value_two,arg,holds", [
    ("SCMP_CMP_EQ", 1 << 32, 0, 0, False), ("SCMP_CMP_EQ", 1 << 32, 0, 1 << 32, True),
    ("SCMP_CMP_NE", 1 << 32, 0, 0, True), ("SCMP_CMP_NE", 5, 0, (1 << 32) | 5, True),
    ("SCMP_CMP_GT", 1 << 32, 0, U32, False), ("SCMP_CMP_GT", U32, 0, 1 << 32, True),
    ("SCMP_CMP_GT", (1 << 32) | 5, 0, (2 << 32) | 4, True), ("SCMP_CMP_GT", (1 << 32) | 5, 0, (1 << 32) | 5, False),
    ("SCMP_CMP_GE", (1 << 32) | 5, 0, (1 << 32) | 5, True), ("SCMP_CMP_GE", (1 << 32) | 5, 0, 6, False),
    ("SCMP_CMP_LT", (1 << 32) | 5, 0, 6, True), ("SCMP_CMP_LT", (1 << 32) | 5, 0, (1 << 32) | 5, False),
    ("SCMP_CMP_LE", (1 << 32) | 5, 0, (1 << 32) | 5, True), ("SCMP_CMP_LE", 5, 0, (1 << 32) | 4, False),
    ("SCMP_CMP_MASKED_EQ", U64, 1 << 32, 1 << 32, True), ("SCMP_CMP_MASKED_EQ", U64, 1 << 32, 0, False),
    ("SCMP_CMP_MASKED_EQ", 0xFF << 32, 0x12 << 32, (0x12 << 32) | 0xFF, True),
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x10F, 0x10F, False),  # valueTwo outside the mask never matches
])
def test_64_bit_arches_compare_all_64_bits_and_32_bit_arches_the_low_word(op, value, value_two, arg, holds):
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                         "args": [{"index": 3, "op": op, "value": value, "valueTwo": value_two}]}]}
    args = (0, 0, 0, arg, 0, 0)
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, args) == (ERRNO_EPERM if holds else ALLOW)
    narrow = condition_holds({"index": 3, "op": op, "value": value, "valueTwo": value_two}, args, wide=False)
    x86_personality = number_of("SCMP_ARCH_X86", "personality")
    assert decide(raw, "x86_64", x86_personality, AUDIT_I386, args) == (ERRNO_EPERM if narrow else ALLOW)


# --- syscalls newer than the profile: ENOSYS (runc's -ENOSYS stub) ------------------

GETPID, CLONE3, FACCESSAT2, OPENAT2 = 39, 435, 439, 437  # x86_64


def allow_list(*names, default="SCMP_ACT_ERRNO", **extra):
    raw = {"defaultAction": default, "syscalls": [{"names": list(names), "action": "SCMP_ACT_ALLOW"}]}
    raw.update(extra)
    return raw


def test_a_number_above_every_named_syscall_gets_enosys_not_the_default():
    raw = allow_list("getpid", "read")
    assert decide(raw, "x86_64", GETPID, AUDIT_X86_64) == ALLOW
    assert decide(raw, "x86_64", 0, AUDIT_X86_64) == ALLOW
    assert decide(raw, "x86_64", 1, AUDIT_X86_64) == ERRNO_EPERM  # write: known to be older, the default
    assert decide(raw, "x86_64", GETPID - 1, AUDIT_X86_64) == ERRNO_EPERM
    for nr in (GETPID + 1, CLONE3, 1000, X32_BIT - 1):
        assert decide(raw, "x86_64", nr, AUDIT_X86_64) == ERRNO_ENOSYS


def test_a_syscall_the_profile_knows_keeps_its_decision_even_above_the_others():
    """clone3 named (ENOSYS here is Docker's own rule) and openat2 refused by a
    rule of its own: the profile's decisions; only what lies above them is new."""
    raw = {"defaultAction": "SCMP_ACT_ERRNO",
           "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                        {"names": ["openat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    assert decide(raw, "x86_64", OPENAT2, AUDIT_X86_64) == 0x00050000 | 13
    # a rule equal to the default is dropped, but its syscall is still known
    assert decide(raw, "x86_64", CLONE3, AUDIT_X86_64) == ERRNO_EPERM
    assert decide(raw, "x86_64", 436, AUDIT_X86_64) == ERRNO_EPERM  # close_range: below openat2
    assert decide(raw, "x86_64", FACCESSAT2, AUDIT_X86_64) == ERRNO_ENOSYS


@pytest.mark.parametrize("default", ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"])
def test_a_permissive_default_lets_newer_syscalls_meet_it(default):
    raw = {"defaultAction": default, "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]}
    assert decide(raw, "x86_64", CLONE3, AUDIT_X86_64) == RET[default]


@pytest.mark.parametrize("default", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"])
def test_a_killing_default_still_answers_newer_syscalls_with_enosys(default):
    raw = allow_list("getpid", default=default)
    assert decide(raw, "x86_64", GETPID - 1, AUDIT_X86_64) == RET[default]
    assert decide(raw, "x86_64", CLONE3, AUDIT_X86_64) == ERRNO_ENOSYS


def test_a_profile_naming_nothing_on_an_arch_keeps_the_default_there():
    assert decide({"defaultAction": "SCMP_ACT_ERRNO"}, "x86_64", CLONE3, AUDIT_X86_64) == ERRNO_EPERM
    raw = allow_list("no_such_syscall")
    assert decide(raw, "x86_64", CLONE3, AUDIT_X86_64) == ERRNO_EPERM


def test_each_arch_has_its_own_newest_syscall():
    """arch_prctl is 158 on x86_64 and 384 on i386; x32 numbers carry the x32 bit."""
    raw = allow_list("arch_prctl", architectures=["SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    assert decide(raw, "x86_64", 159, AUDIT_X86_64) == ERRNO_ENOSYS
    assert decide(raw, "x86_64", 300, AUDIT_I386) == ERRNO_EPERM
    assert decide(raw, "x86_64", 385, AUDIT_I386) == ERRNO_ENOSYS
    assert decide(raw, "x86_64", X32_BIT | 158, AUDIT_X86_64) == ALLOW
    assert decide(raw, "x86_64", X32_BIT | 157, AUDIT_X86_64) == ERRNO_EPERM
    assert decide(raw, "x86_64", X32_BIT | 159, AUDIT_X86_64) == ERRNO_ENOSYS
    assert decide(raw, "x86_64", U32, AUDIT_X86_64) == ERRNO_ENOSYS
    assert decide(raw, "x86_64", 3, AUDIT_AARCH64) == KILL_PROCESS  # not filtered: the arch check first


def test_a_default_errno_ret_is_kept_below_the_newest_and_enosys_above():
    raw = allow_list("getpid", defaultErrnoRet=EPROTONOSUPPORT)
    assert decide(raw, "x86_64", 1, AUDIT_X86_64) == 0x00050000 | EPROTONOSUPPORT
    assert decide(raw, "x86_64", CLONE3, AUDIT_X86_64) == ERRNO_ENOSYS


EPROTONOSUPPORT = 93


# --- errnoRet, on every rule ------------------------------------------------------


def test_errno_ret_is_honoured_on_a_rule_with_several_conditions():
    raw = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 200,
                         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
                                  {"index": 1, "value": 1 << 32, "op": "SCMP_CMP_GT"}]}]}
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (7, (1 << 32) + 1, 0, 0, 0, 0)) == 0x00050000 | 200
    assert decide(raw, "x86_64", PERSONALITY, AUDIT_X86_64, (7, 1 << 32, 0, 0, 0, 0)) == ALLOW


def test_ored_rules_for_one_syscall_each_keep_their_own_errno():
    raw = {"defaultAction": "SCMP_ACT_ERRNO",
           "syscalls": [{"names": ["getpid", "personality"], "action": "SCMP_ACT_ALLOW"}] + [
               {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret,
                "args": [{"index": 0, "value": which, "op": "SCMP_CMP_EQ"},
                         {"index": 1, "value": 5, "op": "SCMP_CMP_MASKED_EQ", "valueTwo": 4}]}
               for which, errno_ret in ((0, 200), (1, 201), (2, 202))]}
    getpriority = 140
    for which, errno_ret in ((0, 200), (1, 201), (2, 202)):
        assert decide(raw, "x86_64", getpriority, AUDIT_X86_64, (which, 4, 0, 0, 0, 0)) == 0x00050000 | errno_ret
        assert decide(raw, "x86_64", getpriority, AUDIT_X86_64, (which, 6, 0, 0, 0, 0)) == 0x00050000 | errno_ret
        assert decide(raw, "x86_64", getpriority, AUDIT_X86_64, (which, 1, 0, 0, 0, 0)) == ERRNO_EPERM
    assert decide(raw, "x86_64", getpriority, AUDIT_X86_64, (3, 4, 0, 0, 0, 0)) == ERRNO_EPERM


def test_on_x86_64_every_number_from_the_x32_bit_up_is_an_x32_number_as_in_libseccomp():
    """0x80000005 is no syscall of either ABI; like libseccomp's `jge`, it goes to the x32 side."""
    without_x32 = {"defaultAction": "SCMP_ACT_ERRNO"}
    with_x32 = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X32"]}
    for nr in (X32_BIT, X32_BIT | 39, 0x80000005, U32):
        assert decide(without_x32, "x86_64", nr, AUDIT_X86_64) == KILL_PROCESS
        assert decide(with_x32, "x86_64", nr, AUDIT_X86_64) == ERRNO_EPERM
    assert decide(with_x32, "x86_64", X32_BIT - 1, AUDIT_X86_64) == ERRNO_EPERM


def test_an_x32_only_profile_on_aarch64_kills_x86_64_syscalls_and_filters_x32_ones():
    raw = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X32"],
           "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}
    assert decide(raw, "aarch64", 39, AUDIT_X86_64) == KILL_PROCESS
    assert decide(raw, "aarch64", X32_BIT | 39, AUDIT_X86_64) == ALLOW
    assert decide(raw, "aarch64", 172, AUDIT_AARCH64) == ALLOW  # the native arch: always filtered


# --- generated profiles ---------------------------------------------------------


def random_value(rng):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randrange(16)
    if kind == 1:
        return rng.getrandbits(32)
    if kind == 2:
        return rng.getrandbits(64)
    if kind == 3:
        return rng.getrandbits(32) << 32  # differs from 0 in the high word only
    if kind == 4:
        return (rng.getrandbits(32) << 32) | rng.randrange(16)
    if kind == 5:
        return rng.choice((U32, 1 << 32, (1 << 32) + 1, U64, 1 << 63, (1 << 63) - 1, 0x80000000))
    if kind == 6:
        return rng.getrandbits(8) << rng.randrange(57)
    return rng.randrange(1 << 64)


def random_action(rng, default=False):
    names = ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
             "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG"]
    if not default:
        names.append("SCMP_ACT_NOTIFY")
    name = rng.choice(names)
    key = "defaultErrnoRet" if default else "errnoRet"
    action = {"defaultAction" if default else "action": name}
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE") and rng.random() < 0.7:
        action[key] = rng.choice((0, 1, 13, 38, rng.randrange(1, 4096), 0xFFFF))
    return action


def random_profile(rng):
    """A linux.seccomp section: random default, arches, rules, conditions."""
    raw = random_action(rng, default=True)
    raw["architectures"] = rng.sample(sorted(ABIS), rng.randrange(6))
    if rng.random() < 0.2:
        raw["architectures"].append("SCMP_ARCH_PPC64LE")  # listed, but no table: ignored
    # Names come from a per-profile pool, so that rules overlap on syscalls the
    # way real profiles do (one syscall in several rules with different args).
    pool = rng.sample(ALL_NAMES, rng.randrange(5, 120)) + ["no_such_syscall_%d" % i for i in range(3)]
    raw["syscalls"] = []
    for _ in range(rng.randrange(61)):
        rule = {"names": [rng.choice(pool) for _ in range(int(40 ** rng.random()) + 1)]}  # 1..40, mostly few
        rule.update(random_action(rng))
        if rule["action"] == "SCMP_ACT_NOTIFY":  # refused on write, as runc does (its own test)
            rule["names"] = [name for name in rule["names"] if name != "write"] or ["getpid"]
        conditions = []
        for _ in range(rng.choice((0, 0, 0, 0, 0, 1, 1, 1, 2, 3))):
            op = rng.choice(OPERATORS)
            cond = {"index": rng.randrange(6), "op": op, "value": random_value(rng)}
            if op == "SCMP_CMP_MASKED_EQ":
                cond["valueTwo"] = cond["value"] & random_value(rng) if rng.random() < 0.7 else random_value(rng)
            elif rng.random() < 0.1:
                cond["valueTwo"] = random_value(rng)  # ignored by the other operators
            conditions.append(cond)
        if conditions or rng.random() < 0.5:
            rule["args"] = conditions
        raw["syscalls"].append(rule)
    if any(rule["action"] == "SCMP_ACT_NOTIFY" for rule in raw["syscalls"]):
        raw["listenerPath"] = "/run/agent.sock"
    return raw


def satisfying(cond, rng):
    """A value that makes `cond` hold on 64 bits (when one exists)."""
    op, value, value_two = cond["op"], cond["value"], cond.get("valueTwo") or 0
    if op == "SCMP_CMP_MASKED_EQ":
        return value_two | (rng.getrandbits(64) & ~value & U64)
    shift = {"SCMP_CMP_NE": rng.choice((1, -1)), "SCMP_CMP_LT": -1, "SCMP_CMP_LE": rng.choice((0, -1)),
             "SCMP_CMP_EQ": 0, "SCMP_CMP_GE": rng.choice((0, 1)), "SCMP_CMP_GT": 1}[op]
    return (value + shift) & U64


def near(value, rng):
    """Values next to `value`: +-1, the other word changed, either word alone."""
    return rng.choice((value, (value + 1) & U64, (value - 1) & U64, value ^ (1 << 32), (value + (1 << 32)) & U64,
                       (value - (1 << 32)) & U64, value & U32, value & ~U32 & U64, value ^ 1,
                       (value | rng.getrandbits(64)) & U64))


EDGES = (0, 1, U32 - 1, U32, 1 << 32, (1 << 32) + 1, (1 << 63) - 1, 1 << 63, U64 - 1, U64)


def random_inputs(raw, machine, rng, count):
    """(nr, arch, args) biased toward the syscalls and the values the profile names."""
    rules = raw["syscalls"]
    filtered = sorted(filtered_abis(raw, machine))
    inputs = []
    for _ in range(count):
        roll = rng.random()
        abi = rng.choice(filtered if roll < 0.85 else sorted(ABIS))
        arch = audit_of(abi)
        if roll < 0.04:
            arch = rng.choice((UNKNOWN_AUDIT_ARCH, rng.getrandbits(32)))
        table_name = ABIS[abi][0]
        rule = rng.choice(rules) if rules else None
        named = [n for n in rule["names"] if n in TABLES[table_name]] if rule else []
        if named and rng.random() < 0.75:
            nr = TABLES[table_name][rng.choice(named)]
        elif rng.random() < 0.6:
            nr = rng.randrange(601)
        else:
            nr = rng.choice((0x3FFFFFFF, X32_BIT - 1, U32, 0x7FFFFFFF, 0x80000000, 0xBFFFFFFF, 0xC0000000,
                             rng.getrandbits(32)))
        if abi == "SCMP_ARCH_X32" and nr < X32_BIT:
            nr |= X32_BIT
        args = [rng.choice(EDGES) if rng.random() < 0.2 else rng.getrandbits(rng.choice((4, 32, 64)))
                for _ in range(6)]
        if rule is not None:
            for cond in rule.get("args") or []:
                pick = rng.random()
                if pick < 0.5:
                    args[cond["index"]] = satisfying(cond, rng)
                elif pick < 0.9:
                    args[cond["index"]] = near(cond["value"] if rng.random() < 0.8 else cond.get("valueTwo") or 0, rng)
        inputs.append((nr, arch, tuple(args)))
    return inputs


def compile_or_none(raw, machine):
    """The program, or None when the profile is over the kernel's size limit (which must then be why)."""
    try:
        return compile_raw(raw, machine)
    except minirun.ConfigError as exc:
        assert exc.field == "linux.seccomp" and "4096" in str(exc), exc
        return None


SEEDS = 300
CHUNK = 25


@pytest.mark.parametrize("first_seed", range(0, SEEDS, CHUNK))
def test_generated_profiles_mean_what_they_say(first_seed):
    compiled = 0
    for seed in range(first_seed, first_seed + CHUNK):
        rng = random.Random(seed)
        raw = random_profile(rng)
        for machine in MACHINES:
            program = compile_or_none(raw, machine)
            if program is None:
                continue
            compiled += 1
            assert_agrees(raw, machine, program, random_inputs(raw, machine, rng, 150), "seed %d" % seed)
    assert compiled >= CHUNK  # most generated profiles fit in 4096 instructions


def test_generated_profiles_include_programs_with_long_jumps():
    """Conditional jumps reach 255 instructions; farther targets go through `ja`."""
    with_ja = 0
    longest = 0
    for seed in range(0, SEEDS, 3):
        raw = random_profile(random.Random(seed))
        program = compile_or_none(raw, "x86_64")
        if program is not None:
            longest = max(longest, len(program))
            with_ja += any(code == bpf.JA for code, _jt, _jf, _k in program)
    assert longest > 1000
    assert with_ja >= 1


def many_rules_on(name, count, wide_values=True):
    """`count` rules on one syscall: arg0 == a distinct value -> a distinct errno."""
    rules = []
    for i in range(count):
        value = (i << 32) | i if wide_values else i
        rules.append({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                      "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]})
    return rules


@pytest.mark.parametrize("machine", MACHINES)
def test_a_profile_whose_jumps_exceed_255_runs_correctly(machine):
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": sorted(ABIS),
           "syscalls": many_rules_on("getpid", 120) + [{"names": ["read", "write"], "action": "SCMP_ACT_LOG"}]}
    program = compile_raw(raw, machine)
    assert len(program) > 600
    assert any(code == bpf.JA for code, _jt, _jf, _k in program), bpf.disassemble(program)
    inputs = []
    for abi in sorted(ABIS):
        for name in ("getpid", "read", "write", "close"):
            nr = number_of(abi, name)
            for i in (0, 1, 59, 118, 119, 120):
                for value in ((i << 32) | i, i, i << 32):
                    inputs.append((nr, audit_of(abi), (value, 0, 0, 0, 0, 0)))
    assert_agrees(raw, machine, program, inputs, "120 rules on getpid")


def far_target(asm, value, kind):
    """A label doing `ret value`: the ret itself, or a block (ld; ret) in front of it."""
    label = asm.ret(value)
    return asm.load(0) if kind == "block" else label


@pytest.mark.parametrize("kind", ["ret", "block"])
@pytest.mark.parametrize("far_side", ["true", "false", "both"])
@pytest.mark.parametrize("gap", range(250, 262))
def test_the_assembler_reaches_targets_just_inside_and_beyond_255(gap, far_side, kind):
    asm = minirun.BpfAssembler()
    fillers = iter(range(100, 4000))

    def fill():
        for _ in range(gap):
            asm.ret(0x00050000 | next(fillers))  # unreachable returns that only take room

    on_true = far_target(asm, ALLOW, kind)
    if far_side in ("true", "both"):
        fill()
    on_false = far_target(asm, ERRNO_EPERM, kind)
    if far_side in ("false", "both"):
        fill()
    emitted = 2 * (2 if kind == "block" else 1) + gap * (2 if far_side == "both" else 1)
    farthest = emitted - 1 - min(on_true, on_false)  # labels count from the end of the program
    asm.branch(minirun.BPF_JEQ, 5, on_true, on_false)
    asm.load(16)
    program = asm.program()
    bpf.check_program(program)
    if kind == "block":  # a far block is reached through a `ja`; a far `ret` may be copied instead
        assert any(code == bpf.JA for code, _jt, _jf, _k in program) == (farthest > 255), bpf.disassemble(program)
    for arg0, want in ((5, ALLOW), (6, ERRNO_EPERM), ((1 << 32) | 5, ALLOW)):
        assert bpf.run(program, bpf.seccomp_data(0, 0, (arg0, 0, 0, 0, 0, 0)))[0] == want, bpf.disassemble(program)


# --- the kernel's 4096-instruction limit ------------------------------------------


def test_a_profile_over_4096_instructions_is_refused_naming_linux_seccomp():
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": many_rules_on("read", 3000)}
    profile = minirun._parse_seccomp(raw)
    for machine in MACHINES:
        with pytest.raises(minirun.ConfigError) as caught:
            minirun.compile_seccomp(profile, machine)
        assert caught.value.field == "linux.seccomp"
        assert "4096" in str(caught.value) and "linux.seccomp" in str(caught.value)


def test_the_largest_profile_that_compiles_is_right_at_the_limit_and_still_correct():
    def compiles(count):
        try:
            return compile_raw({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": many_rules_on("read", count)},
                               "x86_64")
        except minirun.ConfigError:
            return None

    low, high = 1, 3000  # compiles(low), not compiles(high)
    assert compiles(low) is not None and compiles(high) is None
    while high - low > 1:
        middle = (low + high) // 2
        if compiles(middle) is None:
            high = middle
        else:
            low = middle
    program = compiles(low)
    assert 4096 - 8 < len(program) <= 4096  # refused only past the kernel's own limit
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": many_rules_on("read", low)}
    inputs = [(0, AUDIT_X86_64, (value, 0, 0, 0, 0, 0))
              for i in (0, 1, low // 2, low - 1, low) for value in ((i << 32) | i, i, i << 32)]
    assert_agrees(raw, "x86_64", program, inputs, "%d rules on read" % low)


# --- syscall_table ---------------------------------------------------------------


@pytest.mark.parametrize("arch,name,number", [
    ("x86_64", "read", 0), ("x86_64", "clone", 56), ("x86_64", "getpid", 39), ("x86_64", "personality", 135),
    ("x86_64", "seccomp", 317), ("x86_64", "rseq", 334), ("x86_64", "clone3", 435),
    ("x86", "restart_syscall", 0), ("x86", "read", 3), ("x86", "socketcall", 102), ("x86", "clone3", 435),
    ("x32", "read", 0), ("x32", "rt_sigaction", 512), ("x32", "execve", 520), ("x32", "pwritev2", 547),
    ("aarch64", "io_setup", 0), ("aarch64", "read", 63), ("aarch64", "clone", 220), ("aarch64", "execve", 221),
    ("aarch64", "personality", 92), ("aarch64", "wait4", 260), ("aarch64", "clone3", 435),
    ("arm", "read", 3), ("arm", "arm_sync_file_range", 341), ("arm", "sync_file_range2", 341),
    ("arm", "process_mrelease", 448),
])
def test_syscall_table_knows_each_arch_numbers(arch, name, number):
    assert minirun.syscall_table(arch)[name] == number


@pytest.mark.parametrize("arch,name", [
    ("aarch64", "open"), ("aarch64", "fork"), ("aarch64", "stat"), ("aarch64", "poll"), ("x86_64", "socketcall"),
    ("x86_64", "mmap2"), ("x32", "rt_sigreturn_64"), ("arm", "memfd_secret"), ("x86_64", "arm_fadvise64_64"),
])
def test_syscall_table_lacks_what_an_arch_does_not_have(arch, name):
    assert name not in minirun.syscall_table(arch)


def test_x32_has_no_number_for_the_64_bit_only_variants():
    x32 = minirun.syscall_table("x32")
    assert 13 not in x32.values() and x32["rt_sigaction"] == 512  # 13 is x86_64's rt_sigaction, not x32's


def test_syscalls_from_424_on_have_one_number_on_every_arch():
    unified = {}
    for arch, table in TABLES.items():
        for name, number in table.items():
            if 424 <= number < 512:  # x32's 512.. block is its own (the old compat numbers)
                unified.setdefault(name, set()).add(number)
    assert unified and all(len(numbers) == 1 for numbers in unified.values()), unified
    for arch, table in TABLES.items():
        for name, (number,) in unified.items():
            assert table.get(name, number) == number, (arch, name)
        assert table["pidfd_open"] == 434 and table["clone3"] == 435 and table["openat2"] == 437


def test_syscall_tables_give_each_number_one_name_but_arm_s_documented_alias():
    for arch, table in TABLES.items():
        by_number = {}
        for name, number in table.items():
            by_number.setdefault(number, []).append(name)
        shared = {number: names for number, names in by_number.items() if len(names) > 1}
        assert shared == ({341: ["arm_sync_file_range", "sync_file_range2"]} if arch == "arm" else {}), arch


# The numbers of the syscalls the runtime makes itself, as the kernel's
# uapi headers define them: the runtime reads them from the same tables.
RUNTIME_NUMBERS = {
    "x86_64": {"pivot_root": 155, "capset": 126, "keyctl": 250, "personality": 135, "seccomp": 317,
               "openat2": 437, "close_range": 436, "mount_setattr": 442, "bpf": 321, "open_tree": 428,
               "move_mount": 429, "clone3": 435, "set_mempolicy": 238, "mbind": 237, "sched_setattr": 314,
               "ioprio_set": 251},
    "aarch64": {"pivot_root": 41, "capset": 91, "keyctl": 219, "personality": 92, "seccomp": 277,
                "openat2": 437, "close_range": 436, "mount_setattr": 442, "bpf": 280, "open_tree": 428,
                "move_mount": 429, "clone3": 435, "set_mempolicy": 237, "mbind": 235, "sched_setattr": 274,
                "ioprio_set": 30},
}


@pytest.mark.parametrize("machine", sorted(RUNTIME_NUMBERS))
def test_syscall_tables_give_every_syscall_the_runtime_calls_itself_its_number(machine):
    table = minirun.syscall_table(machine)
    assert set(minirun.RUNTIME_SYSCALLS) == set(RUNTIME_NUMBERS[machine])
    assert {name: table[name] for name in minirun.RUNTIME_SYSCALLS} == RUNTIME_NUMBERS[machine]


@pytest.mark.skipif(os.uname().machine not in RUNTIME_NUMBERS, reason="minirun runs on x86_64 and aarch64 only")
def test_the_kernel_seam_takes_its_syscall_numbers_from_the_tables():
    assert minirun.kernel().syscalls == RUNTIME_NUMBERS[os.uname().machine]


HOST_HEADERS = "/usr/include/x86_64-linux-gnu/asm"


@pytest.mark.skipif(os.uname().machine != "x86_64",
                    reason="the x86 headers are in %s on an x86_64 host only" % HOST_HEADERS)
@pytest.mark.parametrize("arch,header", [("x86_64", "unistd_64.h"), ("x86", "unistd_32.h"), ("x32", "unistd_x32.h")])
def test_syscall_table_agrees_with_the_host_uapi_headers(arch, header):
    import re

    path = os.path.join(HOST_HEADERS, header)
    if not os.path.exists(path):
        pytest.fail("%s is missing: install linux-libc-dev (make deps installs it)" % path)
    with open(path) as handle:
        defined = {m.group(1): int(m.group(2)) for m in
                   re.finditer(r"#define __NR_(\w+)\s+\(?(?:__X32_SYSCALL_BIT\s*\+\s*)?(\d+)\)?", handle.read())}
    assert len(defined) > 300
    table = minirun.syscall_table(arch)
    assert {name: table.get(name) for name in defined} == defined  # the headers may be older, never different


# --- _parse_seccomp --------------------------------------------------------------

DELETE = object()


def valid_profile():
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 0xF0, "valueTwo": 0x10, "op": "SCMP_CMP_MASKED_EQ"}]},
        ],
    }


def seccomp_config_error(changes):
    """The ConfigError parse_config raises for valid_profile() with `changes`
    ((path, value) pairs; DELETE removes the key)."""
    raw = valid_profile()
    for path, value in changes:
        obj = raw
        for key in path[:-1]:
            obj = obj[key]
        if value is DELETE:
            del obj[path[-1]]
        else:
            obj[path[-1]] = value
    config = base_config()
    config["linux"]["seccomp"] = raw
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.parse_config(config, "/bundles/b1")
    return caught.value


RULE = ("syscalls", 2)
ARG = ("syscalls", 2, "args", 1)


@pytest.mark.parametrize("changes,field", [
    ([(("defaultAction",), DELETE)], "linux.seccomp.defaultAction"),
    ([(("defaultAction",), "SCMP_ACT_BOGUS")], "linux.seccomp.defaultAction"),
    ([(("defaultAction",), 5)], "linux.seccomp.defaultAction"),
    ([(("defaultAction",), "SCMP_ACT_NOTIFY"), (("listenerPath",), "/run/agent.sock")], "linux.seccomp.defaultAction"),
    ([(("defaultErrnoRet",), 65536)], "linux.seccomp.defaultErrnoRet"),
    ([(("defaultErrnoRet",), -1)], "linux.seccomp.defaultErrnoRet"),
    ([(("defaultErrnoRet",), True)], "linux.seccomp.defaultErrnoRet"),
    ([(("defaultAction",), "SCMP_ACT_ALLOW"), (("defaultErrnoRet",), 1)], "linux.seccomp.defaultErrnoRet"),
    ([(("architectures",), "SCMP_ARCH_X86_64")], "linux.seccomp.architectures"),
    ([(("architectures",), ["SCMP_ARCH_X86", 1])], "linux.seccomp.architectures[1]"),
    ([(("flags",), ["SECCOMP_FILTER_FLAG_BOGUS"])], "linux.seccomp.flags"),
    ([(("flags",), "SECCOMP_FILTER_FLAG_LOG")], "linux.seccomp.flags"),
    ([(("listenerPath",), 5)], "linux.seccomp.listenerPath"),
    ([(("listenerMetadata",), ["x"])], "linux.seccomp.listenerMetadata"),
    ([(("syscalls",), {"names": ["read"]})], "linux.seccomp.syscalls"),
    ([(RULE + ("names",), [])], "linux.seccomp.syscalls[2].names"),
    ([(RULE + ("names",), DELETE)], "linux.seccomp.syscalls[2].names"),
    ([(RULE + ("names",), "personality")], "linux.seccomp.syscalls[2].names"),
    ([(RULE + ("names",), ["personality", 7])], "linux.seccomp.syscalls[2].names[1]"),
    ([(RULE + ("action",), "SCMP_ACT_BOGUS")], "linux.seccomp.syscalls[2].action"),
    ([(RULE + ("action",), DELETE)], "linux.seccomp.syscalls[2].action"),
    ([(RULE + ("action",), "SCMP_ACT_NOTIFY")], "linux.seccomp.listenerPath"),
    ([(RULE + ("errnoRet",), 1)], "linux.seccomp.syscalls[2].errnoRet"),
    ([(RULE + ("action",), "SCMP_ACT_ERRNO"), (RULE + ("errnoRet",), 65536)], "linux.seccomp.syscalls[2].errnoRet"),
    ([(RULE + ("args",), {"index": 0})], "linux.seccomp.syscalls[2].args"),
    ([(ARG + ("index",), 6)], "linux.seccomp.syscalls[2].args[1].index"),
    ([(ARG + ("index",), -1)], "linux.seccomp.syscalls[2].args[1].index"),
    ([(ARG + ("index",), "1")], "linux.seccomp.syscalls[2].args[1].index"),
    ([(ARG + ("index",), DELETE)], "linux.seccomp.syscalls[2].args[1].index"),
    ([(ARG + ("value",), DELETE)], "linux.seccomp.syscalls[2].args[1].value"),
    ([(ARG + ("value",), -1)], "linux.seccomp.syscalls[2].args[1].value"),
    ([(ARG + ("value",), 1 << 64)], "linux.seccomp.syscalls[2].args[1].value"),
    ([(ARG + ("value",), 1.5)], "linux.seccomp.syscalls[2].args[1].value"),
    ([(ARG + ("valueTwo",), 1 << 64)], "linux.seccomp.syscalls[2].args[1].valueTwo"),
    ([(ARG + ("op",), "SCMP_CMP_BOGUS")], "linux.seccomp.syscalls[2].args[1].op"),
    ([(ARG + ("op",), DELETE)], "linux.seccomp.syscalls[2].args[1].op"),
    ([(ARG + ("op",), "scmp_cmp_eq")], "linux.seccomp.syscalls[2].args[1].op"),
])
def test_a_malformed_seccomp_profile_is_refused_naming_the_exact_field(changes, field):
    error = seccomp_config_error(changes)
    assert error.field == field
    assert str(error).startswith("config.json: %s: " % field)


@pytest.mark.parametrize("changes,field", [
    ([(("syscalls", 1), "getpid")], "linux.seccomp.syscalls[1]"),
    ([(ARG[:-1], [5])], "linux.seccomp.syscalls[2].args[0]"),
])
def test_a_rule_or_condition_that_is_not_an_object_is_refused_naming_it(changes, field):
    assert seccomp_config_error(changes).field.startswith(field)


def parse_profile(raw):
    return minirun._parse_seccomp(raw)


def test_seccomp_profile_is_decoded_in_profile_order():
    profile = parse_profile(valid_profile())
    assert profile.default_action == ERRNO_EPERM
    assert profile.architectures == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert profile.flags == ["SECCOMP_FILTER_FLAG_LOG"]
    assert profile.listener_path == "" and profile.listener_metadata == ""
    assert [rule.names for rule in profile.rules] == [["read", "write"], ["getpid"], ["personality"]]
    assert [rule.action for rule in profile.rules] == [ALLOW, 0x50026, ALLOW]
    assert [rule.field for rule in profile.rules] == ["linux.seccomp.syscalls[%d]" % i for i in range(3)]
    assert profile.rules[0].conditions == []
    assert profile.rules[2].conditions == [(0, "SCMP_CMP_EQ", 8, 0), (1, "SCMP_CMP_MASKED_EQ", 0xF0, 0x10)]
    assert not profile.uses_notify()


@pytest.mark.parametrize("name", sorted(RET))
def test_each_action_name_becomes_its_seccomp_return_value(name):
    raw = {"defaultAction": "SCMP_ACT_ALLOW" if name != "SCMP_ACT_ALLOW" else "SCMP_ACT_KILL",
           "listenerPath": "/run/agent.sock", "syscalls": [{"names": ["read"], "action": name}]}
    assert parse_profile(raw).rules[0].action == action_value(name, None)
    if name != "SCMP_ACT_NOTIFY":
        assert parse_profile({"defaultAction": name}).default_action == action_value(name, None)


def test_errno_ret_defaults_to_eperm_for_rules_and_the_default_action():
    profile = parse_profile({"defaultAction": "SCMP_ACT_ERRNO",
                             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}]})
    assert profile.default_action == 0x00050000 | EPERM
    assert profile.rules[0].action == 0x00050000 | EPERM


def test_errno_ret_is_kept_as_given_including_zero():
    profile = parse_profile({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
                                          {"names": ["write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4095}]})
    assert profile.default_action == 0x00050026
    assert [rule.action for rule in profile.rules] == [0x00050000, 0x00050FFF]


def test_trace_carries_errno_ret_as_its_data():
    profile = parse_profile({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 7,
                             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE", "errnoRet": 0x1234},
                                          {"names": ["write"], "action": "SCMP_ACT_TRACE"}]})
    assert profile.default_action == 0x7FF00007
    assert [rule.action for rule in profile.rules] == [0x7FF01234, 0x7FF00000]


@pytest.mark.parametrize("name", ["SCMP_ACT_ALLOW", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
                                  "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"])
def test_errno_ret_on_an_action_that_takes_none_is_refused(name):
    raw = {"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/agent.sock",
           "syscalls": [{"names": ["read"], "action": name, "errnoRet": 1}]}
    with pytest.raises(minirun.ConfigError) as caught:
        parse_profile(raw)
    assert caught.value.field == "linux.seccomp.syscalls[0].errnoRet"


def test_notify_with_a_listener_path_is_accepted_and_marks_the_profile():
    profile = parse_profile({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                             "listenerMetadata": "meta",
                             "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
    assert profile.uses_notify() and profile.listener_path == "/run/agent.sock"
    assert profile.listener_metadata == "meta"


def test_notify_on_write_is_refused_as_runc_does():
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
           "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"},
                        {"names": ["getpid", "write"], "action": "SCMP_ACT_NOTIFY"}]}
    with pytest.raises(minirun.ConfigError) as caught:
        minirun._parse_seccomp(raw)
    assert caught.value.field == "linux.seccomp.syscalls[1].action"
    assert "SCMP_ACT_NOTIFY cannot be used for the write syscall" in str(caught.value)
    raw["syscalls"][1]["action"] = "SCMP_ACT_ERRNO"  # any other action on write is fine
    assert minirun._parse_seccomp(raw).uses_notify()


@pytest.mark.parametrize("machine", MACHINES)
def test_unknown_arches_and_syscall_names_are_accepted_and_change_nothing(machine):
    plain = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
             "syscalls": [{"names": ["read", "open"], "action": "SCMP_ACT_ALLOW"}]}
    noisy = {"defaultAction": "SCMP_ACT_ERRNO",
             "architectures": ["SCMP_ARCH_PPC64LE", "SCMP_ARCH_X86", "SCMP_ARCH_S390X"],
             "syscalls": [{"names": ["no_such_call", "read", "open"], "action": "SCMP_ACT_ALLOW"},
                          {"names": ["still_no_such_call"], "action": "SCMP_ACT_KILL"}]}
    assert compile_raw(noisy, machine) == compile_raw(plain, machine)


def test_compile_seccomp_refuses_a_machine_it_has_no_native_arch_for():
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.compile_seccomp(parse_profile({"defaultAction": "SCMP_ACT_ALLOW"}), "riscv64")
    assert caught.value.field == "linux.seccomp" and "riscv64" in str(caught.value)


# --- plan_seccomp, against this kernel ----------------------------------------------


def kernel_version():
    release = os.uname().release
    parts = []
    for piece in release.split("-")[0].split(".")[:2]:
        parts.append(int("".join(ch for ch in piece if ch.isdigit()) or 0))
    return tuple(parts)


@pytest.fixture
def log_file(tmp_path, monkeypatch):
    """minirun.LOG writing JSON lines to a file of this test's own."""
    path = tmp_path / "minirun.log"
    monkeypatch.setattr(minirun.LOG, "path", str(path))
    monkeypatch.setattr(minirun.LOG, "format", "json")
    monkeypatch.setattr(minirun.LOG, "threshold", minirun.Log.LEVELS["info"])
    monkeypatch.setattr(minirun.LOG, "_fd", None)
    yield path
    if minirun.LOG._fd is not None:
        os.close(minirun.LOG._fd)
        minirun.LOG._fd = None


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def plan_for(cfg):
    """plan_seccomp as create calls it, with this host's real facts (probed)."""
    return minirun.plan_seccomp(cfg.seccomp, cfg.process.no_new_privileges, minirun.Host())


def config_with_seccomp(seccomp, no_new_privileges=True):
    raw = base_config(process={"args": ["sh"], "cwd": "/", "noNewPrivileges": no_new_privileges})
    raw["linux"]["seccomp"] = seccomp
    return minirun.parse_config(raw, "/bundles/b1")


@on_a_machine_with_seccomp_support
def test_plan_seccomp_accepts_docker_profile_on_this_kernel(docker, log_file):
    raw, _program = docker
    cfg = config_with_seccomp(raw, no_new_privileges=False)
    kernel = minirun.kernel()
    plan = plan_for(cfg)
    assert plan.program == minirun.compile_seccomp(cfg.seccomp, os.uname().machine)
    assert plan.flags == 0 and plan.notify is False and plan.no_new_privileges is False
    actions = {cfg.seccomp.default_action} | {rule.action for rule in cfg.seccomp.rules}
    assert {action & 0xFFFF0000 for action in actions} == {0x00050000, ALLOW}
    assert all(kernel.seccomp_action_available(action & 0xFFFF0000) for action in actions)
    assert log_lines(log_file) == []


@on_a_machine_with_seccomp_support
@pytest.mark.parametrize("name", sorted(set(RET) - {"SCMP_ACT_KILL"}))
def test_plan_seccomp_finds_every_action_available_on_this_kernel(name, log_file):
    if name == "SCMP_ACT_NOTIFY" and kernel_version() < (5, 0):
        pytest.skip("SECCOMP_RET_USER_NOTIF needs Linux 5.0")
    cfg = config_with_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                               "syscalls": [{"names": ["mkdir"], "action": name}]})
    plan = plan_for(cfg)
    assert plan.notify == (name == "SCMP_ACT_NOTIFY")
    assert plan.listener_path == "/run/agent.sock" and plan.no_new_privileges is True


@on_a_machine_with_seccomp_support
def test_plan_seccomp_keeps_the_flags_this_kernel_supports(log_file):
    if kernel_version() < (4, 17):
        pytest.skip("SECCOMP_FILTER_FLAG_SPEC_ALLOW needs Linux 4.17")
    cfg = config_with_seccomp({"defaultAction": "SCMP_ACT_ALLOW",
                               "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]})
    assert plan_for(cfg).flags == 2 | 4
    assert log_lines(log_file) == []


@on_a_machine_with_seccomp_support
def test_plan_seccomp_leaves_tsync_out_silently_since_the_init_has_one_thread(log_file):
    cfg = config_with_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_TSYNC"]})
    assert plan_for(cfg).flags == 0
    assert log_lines(log_file) == []


@on_a_machine_with_seccomp_support
def test_plan_seccomp_drops_a_flag_the_kernel_refuses_with_a_warning(log_file):
    # WAIT_KILLABLE_RECV without a listener is refused by every kernel (EINVAL).
    cfg = config_with_seccomp({"defaultAction": "SCMP_ACT_ALLOW",
                               "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]})
    plan = plan_for(cfg)
    assert plan.flags == 2
    (line,) = log_lines(log_file)
    assert line["level"] == "warning"
    assert "linux.seccomp.flags" in line["msg"] and "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in line["msg"]


@on_a_machine_with_seccomp_support
def test_plan_seccomp_keeps_wait_killable_recv_for_a_notify_profile_on_a_kernel_that_has_it(log_file):
    if kernel_version() < (5, 19):
        pytest.skip("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs Linux 5.19")
    cfg = config_with_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                               "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})
    plan = plan_for(cfg)
    assert plan.notify and plan.flags & 32
    assert log_lines(log_file) == []


# --- the real kernel runs the compiled programs ---------------------------------------

CHILD = r"""
import ctypes, json, os, sys
import minirun
spec = json.loads(sys.stdin.read())
lib = minirun.kernel()
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
pid = os.getpid()
lib.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: no privilege needed to load a filter
lib.seccomp_load([tuple(insn) for insn in spec["program"]], 0)
results = []
for nr, args in spec["calls"]:
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *[ctypes.c_ulong(a) for a in args])
    results.append([ret, ctypes.get_errno()])
os.write(1, json.dumps({"pid": pid, "results": results}).encode())
os._exit(0)
"""


def run_under_filter(program, calls):
    """Load `program` in a child process, make the syscalls (nr, [6 args]); the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-c", CHILD], input=json.dumps({"program": program, "calls": calls}),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=30)


def kernel_answers(program, calls):
    child = run_under_filter(program, calls)
    assert child.returncode == 0, child.stderr
    out = json.loads(child.stdout)
    return out["pid"], out["results"]


@on_a_machine_with_seccomp_support
@pytest.mark.parametrize("seed", range(3))
def test_the_kernel_accepts_a_program_with_long_jumps_and_agrees_with_the_profile(seed):
    """getpid ignores its arguments, so rules on them are a pure test of the filter.

    Rule i holds when arg5 is its own selector (a distinct 64-bit value) and
    one or two random conditions on args 0-4 hold; it answers errno i + 1."""
    machine = os.uname().machine
    rng = random.Random(seed)
    rules = []
    for i in range(80):
        selector = (rng.getrandbits(32) << 32) | i
        conditions = [{"index": 5, "op": "SCMP_CMP_EQ", "value": selector}]
        for _ in range(rng.choice((1, 2))):
            op = rng.choice(OPERATORS)
            cond = {"index": rng.randrange(5), "op": op, "value": random_value(rng)}
            if op == "SCMP_CMP_MASKED_EQ":
                cond["valueTwo"] = cond["value"] & random_value(rng)
            conditions.insert(rng.randrange(len(conditions) + 1), cond)
        rules.append({"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1, "args": conditions})
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": sorted(ABIS), "syscalls": rules}
    program = compile_raw(raw, machine)
    assert any(code == bpf.JA for code, _jt, _jf, _k in program)
    nr, arch = TABLES[machine]["getpid"], audit_of(NATIVE[machine])
    inputs = []
    for _ in range(400):
        rule = rng.choice(rules)
        args = [rng.getrandbits(64) for _ in range(6)]
        for cond in rule["args"]:
            roll = rng.random()
            if roll < 0.7:
                args[cond["index"]] = satisfying(cond, rng)
            elif roll < 0.9 or cond["index"] == 5:
                args[cond["index"]] = near(cond["value"], rng)
        inputs.append((nr, arch, tuple(args)))
    answers = [expected_action(raw, machine, *one) for one in inputs]
    assert ALLOW in answers and len(set(answers)) > 20  # both outcomes, many rules
    pid, results = kernel_answers(program, [[nr, list(args)] for nr, _arch, args in inputs])
    for (nr, arch, args), want, (ret, errno) in zip(inputs, answers, results):
        assert verdict(program, nr, arch, args) == want
        got = (pid, 0) if want == ALLOW else (-1, want & 0xFFFF)
        assert (ret, errno if ret == -1 else 0) == got, "seed %d args=%s" % (seed, [hex(a) for a in args])


@on_a_machine_with_seccomp_support
def test_the_kernel_enforces_docker_profile_as_compiled(docker):
    raw, _program = docker
    machine = os.uname().machine
    program = compile_raw(raw, machine)
    table = TABLES[machine]
    calls = [
        [table["getpid"], [0] * 6],
        [table["personality"], [0xFFFFFFFF, 0, 0, 0, 0, 0]],  # a query: allowed
        [table["personality"], [0x1234, 0, 0, 0, 0, 0]],
        [table["clone3"], [0] * 6],
        [table["unshare"], [0x20000, 0, 0, 0, 0, 0]],  # CLONE_NEWNS
    ]
    pid, results = kernel_answers(program, calls)
    assert results[0] == [pid, 0]
    # the query is allowed: it answers the persona, inherited from this process
    persona = ctypes.CDLL(None).personality(0xFFFFFFFF)
    assert results[1] == [persona, 0]
    assert results[2] == [-1, EPERM]
    assert results[3] == [-1, ENOSYS]
    assert results[4] == [-1, EPERM]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x32 syscalls exist on x86_64 only")
def test_the_kernel_kills_an_x32_syscall_when_the_profile_does_not_list_x32():
    raw = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]}
    child = run_under_filter(compile_raw(raw, "x86_64"), [[X32_BIT | 39, [0] * 6]])  # x32 getpid
    assert child.returncode == -31, (child.returncode, child.stderr)  # SIGSYS: SECCOMP_RET_KILL_PROCESS
