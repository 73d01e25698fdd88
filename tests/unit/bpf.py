"""A classic BPF interpreter for seccomp filters, written for the tests.

It runs a program -- a list of (code, jt, jf, k), as minirun.compile_seccomp
returns it -- on a struct seccomp_data laid out as the kernel lays it out on a
little-endian machine (x86_64, aarch64):

    struct seccomp_data {
        int   nr;                   /* offset 0 */
        __u32 arch;                 /* offset 4 */
        __u64 instruction_pointer;  /* offset 8 */
        __u64 args[6];              /* offset 16 + 8 * i, low word first */
    };

It understands only the instructions the compiler is meant to emit (ld w abs,
alu and k, ja, jeq/jgt/jge/jset k, ret k) and fails loudly on anything else.
check_program applies the kernel's static rules (bpf_check_classic and
seccomp_check_filter) before anything runs, so a program the kernel would
refuse never "passes" here.
"""

import struct

LD_W_ABS = 0x20   # BPF_LD  | BPF_W   | BPF_ABS
ALU_AND_K = 0x54  # BPF_ALU | BPF_AND | BPF_K
JA = 0x05         # BPF_JMP | BPF_JA
JEQ_K = 0x15      # BPF_JMP | BPF_JEQ | BPF_K
JGT_K = 0x25      # BPF_JMP | BPF_JGT | BPF_K
JGE_K = 0x35      # BPF_JMP | BPF_JGE | BPF_K
JSET_K = 0x45     # BPF_JMP | BPF_JSET | BPF_K
RET_K = 0x06      # BPF_RET | BPF_K

CONDITIONAL = {JEQ_K: "jeq", JGT_K: "jgt", JGE_K: "jge", JSET_K: "jset"}
NAMES = dict(CONDITIONAL)
NAMES.update({LD_W_ABS: "ld", ALU_AND_K: "and", JA: "ja", RET_K: "ret"})

BPF_MAXINSNS = 4096
SECCOMP_DATA_SIZE = 64
U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1


class BpfError(AssertionError):
    """The program breaks a rule the kernel enforces, or uses an instruction
    this interpreter does not know."""


def seccomp_data(nr, arch, args=(0, 0, 0, 0, 0, 0), instruction_pointer=0):
    """The 64 bytes the filter reads."""
    if len(args) != 6:
        raise ValueError("seccomp_data has six arguments, not %d" % len(args))
    return struct.pack("<IIQ6Q", nr & U32, arch & U32, instruction_pointer & U64, *[a & U64 for a in args])


def check_program(program):
    """The kernel's static checks: raise BpfError naming the first violation."""
    count = len(program)
    if not 1 <= count <= BPF_MAXINSNS:
        raise BpfError("program length %d is outside 1..%d" % (count, BPF_MAXINSNS))
    for pc, insn in enumerate(program):
        if len(insn) != 4 or not all(isinstance(part, int) and not isinstance(part, bool) for part in insn):
            raise BpfError("insn %d: %r is not (code, jt, jf, k)" % (pc, insn))
        code, jt, jf, k = insn
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= U32):
            raise BpfError("insn %d: %r has a field out of range" % (pc, insn))
        if code == LD_W_ABS:
            if k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                raise BpfError("insn %d: ld [%d] is misaligned or outside seccomp_data" % (pc, k))
        elif code == JA:
            if pc + 1 + k >= count:
                raise BpfError("insn %d: ja +%d lands outside the program (%d insns)" % (pc, k, count))
        elif code in CONDITIONAL:
            if pc + 1 + jt >= count or pc + 1 + jf >= count:
                raise BpfError("insn %d: %s jt=%d jf=%d lands outside the program (%d insns)"
                               % (pc, CONDITIONAL[code], jt, jf, count))
        elif code not in (ALU_AND_K, RET_K):
            raise BpfError("insn %d: opcode %#x is not one the compiler should emit" % (pc, code))
    if program[-1][0] != RET_K:
        raise BpfError("the last instruction is %s, not ret" % NAMES.get(program[-1][0], hex(program[-1][0])))


def run(program, data):
    """Execute `program` on the 64 bytes `data`: (return value, instructions executed)."""
    if len(data) != SECCOMP_DATA_SIZE:
        raise ValueError("seccomp_data is 64 bytes")
    count = len(program)
    pc = acc = steps = 0
    while True:
        if not 0 <= pc < count:
            raise BpfError("execution left the program at %d (%d insns)" % (pc, count))
        code, jt, jf, k = program[pc]
        steps += 1
        pc += 1
        if code == LD_W_ABS:
            if k % 4 or k + 4 > SECCOMP_DATA_SIZE:
                raise BpfError("insn %d: ld [%d] outside seccomp_data" % (pc - 1, k))
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == ALU_AND_K:
            acc &= k
        elif code == JA:
            pc += k
        elif code == JEQ_K:
            pc += jt if acc == k else jf
        elif code == JGT_K:
            pc += jt if acc > k else jf
        elif code == JGE_K:
            pc += jt if acc >= k else jf
        elif code == JSET_K:
            pc += jt if acc & k else jf
        elif code == RET_K:
            return k, steps
        else:
            raise BpfError("insn %d: unknown opcode %#x" % (pc - 1, code))


def disassemble(program):
    """One line per instruction, with absolute jump targets, for failure messages."""
    lines = []
    for pc, (code, jt, jf, k) in enumerate(program):
        name = NAMES.get(code, "%#x" % code)
        if code in CONDITIONAL:
            text = "%s #%#x, %d, %d" % (name, k, pc + 1 + jt, pc + 1 + jf)
        elif code == JA:
            text = "ja %d" % (pc + 1 + k)
        elif code == LD_W_ABS:
            text = "ld [%d]" % k
        else:
            text = "%s #%#x" % (name, k)
        lines.append("%4d: %s" % (pc, text))
    return "\n".join(lines)
