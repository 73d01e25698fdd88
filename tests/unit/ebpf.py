"""An eBPF interpreter for cgroup device programs, written for the tests.

It runs a program -- a list of (code, dst, src, off, imm), as
minirun.device_program returns it -- on a struct bpf_cgroup_dev_ctx laid out as
the kernel lays it out:

    struct bpf_cgroup_dev_ctx {
        __u32 access_type;   /* offset 0: access << 16 | type */
        __u32 major;         /* offset 4 */
        __u32 minor;         /* offset 8 */
    };

type: 1 block, 2 char; access bits: 1 mknod, 2 read, 4 write. r1 points to the
context, r0 is the verdict (1 allow, 0 deny).

It understands only the instructions the assembler is meant to emit and fails
loudly on anything else. check_program applies the verifier's rules that such
a program can break before anything runs: known opcodes, registers 0-10,
jumps that land inside the program and only forward (no loops), context loads
of 4 aligned bytes inside the struct from r1, no read of a register before it
is written, and an exit with r0 set on every path.
"""

import struct

LDX_MEM_W = 0x61
MOV64_K, MOV64_X = 0xB7, 0xBF
AND64_K, RSH64_K = 0x57, 0x77
JNE_K, JNE_X, JEQ_K = 0x55, 0x5D, 0x15
EXIT = 0x95
JUMPS = (JNE_K, JNE_X, JEQ_K)
KNOWN = (LDX_MEM_W, MOV64_K, MOV64_X, AND64_K, RSH64_K, JNE_K, JNE_X, JEQ_K, EXIT)
MASK64 = (1 << 64) - 1

DEV_BLOCK, DEV_CHAR = 1, 2
ACCESS = {"m": 1, "r": 2, "w": 4}


class ProgramError(AssertionError):
    pass


def check_program(program):
    if not program:
        raise ProgramError("empty program")
    if len(program) > 4096:
        raise ProgramError("too long")
    # Walk every path (programs are loop-free, so this terminates), tracking
    # which registers hold a value; a (pc, registers) pair seen before is done.
    seen = set()

    def walk(pc, written):
        while True:
            if (pc, written) in seen:
                return
            seen.add((pc, written))
            if not 0 <= pc < len(program):
                raise ProgramError("fell off the program at %d" % pc)
            code, dst, src, off, imm = program[pc]
            if code not in KNOWN:
                raise ProgramError("unknown opcode %#x at %d" % (code, pc))
            if not (0 <= dst <= 10 and 0 <= src <= 10):
                raise ProgramError("bad register at %d" % pc)
            if code == EXIT:
                if 0 not in written:
                    raise ProgramError("exit without r0 at %d" % pc)
                return
            if code == LDX_MEM_W:
                if src != 1 or 1 not in written or off not in (0, 4, 8):
                    raise ProgramError("bad context load at %d" % pc)
                written = written | {dst}
            elif code == MOV64_K:
                written = written | {dst}
            elif code == MOV64_X:
                if src not in written:
                    raise ProgramError("read of uninitialised r%d at %d" % (src, pc))
                written = written | {dst}
            elif code in (AND64_K, RSH64_K):
                if dst not in written:
                    raise ProgramError("read of uninitialised r%d at %d" % (dst, pc))
            elif code in JUMPS:
                if dst not in written or (code == JNE_X and src not in written):
                    raise ProgramError("compare of uninitialised register at %d" % pc)
                if off < 0:
                    raise ProgramError("backward jump at %d" % pc)
                walk(pc + 1 + off, written)
            pc += 1

    walk(0, frozenset({1, 10}))


def run(program, kind, major, minor, access):
    """Verdict (1 allow, 0 deny) for opening/creating device kind ('c'/'b') major:minor with access."""
    check_program(program)
    bits = sum(ACCESS[ch] for ch in access)
    ctx = struct.pack("<III", bits << 16 | (DEV_CHAR if kind == "c" else DEV_BLOCK), major, minor)
    regs = [0] * 11
    pc = 0
    while True:
        code, dst, src, off, imm = program[pc]
        pc += 1
        k = imm & MASK64     # imm is sign-extended to 64 bits
        if code == LDX_MEM_W:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == MOV64_K:
            regs[dst] = k
        elif code == MOV64_X:
            regs[dst] = regs[src]
        elif code == AND64_K:
            regs[dst] &= k
        elif code == RSH64_K:
            regs[dst] >>= imm
        elif code == JNE_K:
            pc += off if regs[dst] != k else 0
        elif code == JEQ_K:
            pc += off if regs[dst] == k else 0
        elif code == JNE_X:
            pc += off if regs[dst] != regs[src] else 0
        elif code == EXIT:
            return regs[0]
