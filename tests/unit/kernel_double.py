"""A recording double of minirun's kernel seam, for unit tests of call sequences.

RecordingKernel(root) records every call as (name, args) in `calls`, in
order. Harmless file-system calls whose paths lie under `root` (a test's
tmp_path) really happen, through the real Kernel: open, close, mkdir, rmdir,
symlink, unlink, chmod, openat2_in_root, write_file outside /proc. So the
code under test walks and creates a real directory tree, and the tests see
what it made. Every call that needs privilege or would change the test
process itself (mount, pivot_root, chroot, chdir, setns, unshare, mknod,
chown, credentials, capabilities, prctl, seccomp, rlimits, /proc writes,
execve, ioctls, fd passing, clone, ...) is recorded and not executed.

Paths are recorded as the real paths they name: a /proc/self/fd/N target (an
fd opened in the root) and a name relative to a dir_fd are resolved when the
call is made, since the fd is closed soon after. A file-system call that
would create or remove anything outside `root` fails the test instead of
happening.

As youki's test Syscall does, this lets prepare_rootfs, finish_rootfs,
pivot_into, prepare_process and apply_user run without root, and the tests
assert on the sequence of kernel calls they make.
"""

import os

import minirun

FAKE_FD = 900  # what seccomp_load (NEW_LISTENER) and other record-only calls hand back
FAKE_PID = 4242


class HostTouched(AssertionError):
    """The code under test tried to change something outside the test's root."""


class RecordingKernel(minirun.Kernel):
    # Calls that really happen (under the root); everything else is recorded only.
    PASSED_THROUGH = ("open", "close", "mkdir", "rmdir", "symlink", "unlink", "chmod", "openat2_in_root",
                      "write_file")

    def __init__(self, root):
        # No Kernel.__init__: the double loads no libc of its own. The real
        # kernel does the harmless calls.
        self.real = minirun.kernel()
        self.root = os.path.realpath(str(root))
        self.calls = []
        self.opened = set()

    # -- helpers -------------------------------------------------------------

    def record(self, name, *args):
        self.calls.append((name,) + tuple(args))

    def names(self):
        return [call[0] for call in self.calls]

    def only(self, *names):
        """The recorded calls of the given kinds, in order."""
        return [call for call in self.calls if call[0] in names]

    def _under_root(self, path):
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + "/")

    def resolve(self, path, dir_fd=None):
        """The real path a call names: fd paths and dir_fd-relative names resolved."""
        if path is None:
            return None
        path = os.fsdecode(path)
        if dir_fd is not None and not path.startswith("/"):
            return os.path.join(os.readlink("/proc/self/fd/%d" % dir_fd), path)
        if path.startswith("/proc/self/fd/"):
            try:
                return os.readlink(path)
            except OSError:
                return path
        return path

    def _guard(self, name, path):
        if not self._under_root(path):
            raise HostTouched("%s(%s) would change the host, outside %s" % (name, path, self.root))

    # -- passed through, under the root ------------------------------------------

    def open(self, path, flags, mode=0o777, dir_fd=None):
        where = self.resolve(path, dir_fd)
        self.record("open", where, flags)
        writes = flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR | os.O_TRUNC)
        if writes and where != "/dev/null":     # the null device: written, nothing changes
            self._guard("open", where)
        fd = self.real.open(path, flags, mode, dir_fd=dir_fd)
        self.opened.add(fd)
        return fd

    def openat2_in_root(self, root_fd, path, flags):
        self.record("openat2_in_root", self.resolve("/proc/self/fd/%d" % root_fd), path, flags)
        fd = self.real.openat2_in_root(root_fd, path, flags)
        self.opened.add(fd)
        return fd

    def close(self, fd):
        self.record("close", fd)
        if fd in self.opened:  # a fake fd (FAKE_FD, a test's stand-in) is not ours to close
            self.opened.discard(fd)
            self.real.close(fd)

    def mkdir(self, path, mode, dir_fd=None):
        where = self.resolve(path, dir_fd)
        self.record("mkdir", where, mode)
        self._guard("mkdir", os.path.dirname(where))
        self.real.mkdir(path, mode, dir_fd=dir_fd)

    def rmdir(self, path):
        where = self.resolve(path)
        self.record("rmdir", where)
        self._guard("rmdir", os.path.dirname(where))
        self.real.rmdir(path)

    def symlink(self, target, path, dir_fd=None):
        where = self.resolve(path, dir_fd)
        self.record("symlink", target, where)
        self._guard("symlink", os.path.dirname(where))
        self.real.symlink(target, path, dir_fd=dir_fd)

    def unlink(self, path, dir_fd=None):
        where = self.resolve(path, dir_fd)
        self.record("unlink", where)
        self._guard("unlink", os.path.dirname(where))
        self.real.unlink(path, dir_fd=dir_fd)

    def chmod(self, path, mode):
        where = self.resolve(path)
        self.record("chmod", where, mode)
        self._guard("chmod", where)
        self.real.chmod(path, mode)

    def write_file(self, path, text):
        where = self.resolve(path)
        self.record("write_file", where, text)
        if where.startswith("/proc/"):
            return  # a kernel knob: recorded only
        self._guard("write_file", where)
        self.real.write_file(path, text)

    # -- recorded, never executed ------------------------------------------------

    def mount(self, source, target, fstype, flags, data=None):
        self.record("mount", self.resolve(source), self.resolve(target), fstype, flags, data)

    def umount(self, target, flags=0):
        self.record("umount", self.resolve(target), flags)

    def mount_setattr(self, path, attr_set, attr_clr):
        self.record("mount_setattr", self.resolve(path), attr_set, attr_clr)

    def setns(self, fd, nstype):
        self.record("setns", fd, nstype)

    def unshare(self, flags):
        self.record("unshare", flags)

    def namespace_type(self, fd):
        self.record("namespace_type", fd)
        return 0

    def pivot_root(self, new_root, put_old):
        self.record("pivot_root", new_root, put_old)

    def chroot(self, path):
        self.record("chroot", self.resolve(path))

    def chdir(self, path):
        self.record("chdir", self.resolve(path))

    def fchdir(self, fd):
        self.record("fchdir", self.resolve("/proc/self/fd/%d" % fd) if fd in self.opened else fd)

    def mknod(self, path, mode, device, dir_fd=None):
        self.record("mknod", self.resolve(path, dir_fd), mode, device)

    def chown(self, path, uid, gid, dir_fd=None, follow_symlinks=True):
        self.record("chown", self.resolve(path, dir_fd), uid, gid)

    def setgroups(self, gids):
        self.record("setgroups", list(gids))

    def setresgid(self, gid):
        self.record("setresgid", gid)

    def setresuid(self, uid):
        self.record("setresuid", uid)

    def setrlimit(self, number, soft, hard):
        self.record("setrlimit", number, soft, hard)

    def umask(self, mask):
        self.record("umask", mask)
        return 0o022

    def setsid(self):
        self.record("setsid")

    def dup2(self, fd, target):
        self.record("dup2", fd, target)

    def execve(self, path, args, env):
        self.record("execve", path, list(args), dict(env))

    def sethostname(self, name):
        self.record("sethostname", name)

    def setdomainname(self, name):
        self.record("setdomainname", name)

    def prctl(self, option, a2=0, a3=0, a4=0, a5=0):
        self.record("prctl", option, a2, a3, a4, a5)
        return 0

    def capset(self, effective, permitted, inheritable):
        self.record("capset", effective, permitted, inheritable)

    def personality(self, persona):
        self.record("personality", persona)

    def set_mempolicy(self, mode, nodes):
        self.record("set_mempolicy", mode, frozenset(nodes))

    def mempolicy_mode_known(self, mode):
        self.record("mempolicy_mode_known", mode)
        return True

    def join_session_keyring(self, name):
        self.record("join_session_keyring", name)

    # rtnetlink: requests are recorded decoded, as (kind, index, name, netns fd, up);
    # `netlink_reply(sock, kind, index, name)` answers them: (errno, index).
    # By default no interface exists and every change is acknowledged.
    netlink_reply = None

    def netlink_socket(self):
        self.netlink_sockets = getattr(self, "netlink_sockets", 0) + 1
        self.record("netlink_socket")
        return FAKE_FD + 10 + self.netlink_sockets

    def netlink_exchange(self, sock, request):
        import struct

        _length, kind, _flags, seq, _pid = struct.unpack_from("=IHHII", request)
        _family, _type, index, flags, _change = struct.unpack_from("=BxHiII", request, 16)
        attributes, offset = {}, 32
        while offset < len(request):
            size, attribute = struct.unpack_from("=HH", request, offset)
            attributes[attribute] = request[offset + 4:offset + size]
            offset += (size + 3) & ~3
        name = attributes.get(minirun.IFLA_IFNAME, b"").rstrip(b"\0").decode() or None
        netns = attributes.get(minirun.IFLA_NET_NS_FD)
        netns = int.from_bytes(netns, "little") if netns else None
        self.record("netlink", sock, kind, index, name, netns, bool(flags & minirun.IFF_UP))
        reply = self.netlink_reply or (lambda _s, k, _i, _n: (minirun.E.ENODEV, None) if k == minirun.RTM_GETLINK
                                       else (0, None))
        errno, found = reply(sock, kind, index, name)
        if errno or found is None:
            return struct.pack("=IHHIIi", 20, minirun.NLMSG_ERROR, 0, seq, 0, -errno)
        return struct.pack("=IHHII", 32, minirun.RTM_NEWLINK, 0, seq, 0) + struct.pack("=BxHiII", 0, 0, found, 0, 0)

    def sched_setattr(self, policy, flags, nice, priority, runtime, deadline, period, size):
        self.record("sched_setattr", policy, flags, nice, priority, runtime, deadline, period, size)

    def ioprio_set(self, value):
        self.record("ioprio_set", value)

    def sched_setaffinity(self, pid, cpus):
        self.record("sched_setaffinity", pid, tuple(cpus))

    def close_fds_from(self, first, keep=()):
        self.record("close_fds_from", first, tuple(keep))

    def ioctl_int(self, fd, request, value=0):
        self.record("ioctl_int", fd, request, value)
        return 0

    def ioctl_bytes(self, fd, request, payload):
        self.record("ioctl_bytes", fd, request, payload)

    def ioctl_arg(self, fd, request, arg):
        self.record("ioctl_arg", fd, request, arg)

    def seccomp_load(self, program, flags):
        self.record("seccomp_load", len(program), flags)
        return FAKE_FD

    def seccomp_action_available(self, action):
        self.record("seccomp_action_available", action)
        return True

    def seccomp_flag_available(self, flag):
        self.record("seccomp_flag_available", flag)
        return True

    def socketpair(self):
        self.record("socketpair")
        return FAKE_FD + 1, FAKE_FD + 2

    def seqpacket_pair(self):
        self.record("seqpacket_pair")
        return FAKE_FD + 20, FAKE_FD + 21

    def recv_message(self, sock, size):
        self.record("recv_message", sock, size)
        return b"", []

    def connect_unix(self, path):
        self.record("connect_unix", path)
        return FAKE_FD + 3

    def send_fd(self, sock, fd, name):
        self.record("send_fd", sock, fd, name)

    def recv_fd(self, sock):
        self.record("recv_fd", sock)
        return FAKE_FD + 4

    def open_tree(self, path, flags):
        self.record("open_tree", path, flags)
        return FAKE_FD + 5

    def read_only_tree(self, path):
        self.record("read_only_tree", path)
        return FAKE_FD + 6

    def sealed_copy(self, path, name):
        self.record("sealed_copy", path, name)
        return FAKE_FD + 7

    def idmap_tree(self, tree_fd, userns_fd, recursive):
        self.record("idmap_tree", tree_fd, userns_fd, recursive)

    def move_mount(self, tree_fd, target):
        self.record("move_mount", tree_fd, self.resolve(target))

    def filesystem_type(self, fd):
        self.record("filesystem_type", fd)
        if fd not in self.opened:  # a fake fd stands for a verified knob
            return minirun.PROC_SUPER_MAGIC
        return self.real.filesystem_type(fd)

    def openat2_beneath(self, dir_fd, path, flags):
        where = self.resolve("/proc/self/fd/%d" % dir_fd)
        self.record("openat2_beneath", where, path, flags)
        if where.startswith("/proc") and flags & (os.O_WRONLY | os.O_RDWR):
            return FAKE_FD + 7  # a kernel knob: recorded only (see write_fd)
        fd = self.real.openat2_beneath(dir_fd, path, flags)
        self.opened.add(fd)
        return fd

    def write_fd(self, fd, text):
        self.record("write_fd", fd, text)
        if fd in self.opened:
            raise HostTouched("write_fd(%d) on a real file" % fd)

    def bind_fd(self, source_fd, target_fd):
        self.record("bind_fd", self.resolve("/proc/self/fd/%d" % source_fd),
                    self.resolve("/proc/self/fd/%d" % target_fd))

    def pty_peer(self, master, flags):
        self.record("pty_peer", master, flags)
        return FAKE_FD + 6

    def fchown(self, fd, uid, gid):
        self.record("fchown", fd, uid, gid)

    def run_helper(self, path, args):
        self.record("run_helper", path, tuple(args))
        return 0, ""

    def clone(self, child_main, flags):
        self.record("clone", flags)
        return FAKE_PID

    def clone3_into_cgroup(self, flags, cgroup_fd):
        self.record("clone3_into_cgroup", flags, cgroup_fd)
        return FAKE_PID

    def clone_into_cgroup(self, child_main, flags, cgroup_fd):
        self.record("clone_into_cgroup", flags, cgroup_fd)
        return FAKE_PID

    def syscall(self, name, *args):
        self.record("syscall", name, *args)
        raise AssertionError("raw syscall(%s) reached the double: a Kernel method should wrap it" % name)

    def check(self, result, what, path=None):
        raise AssertionError("Kernel.check reached the double")
