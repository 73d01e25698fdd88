"""Hostile or careless input fails closed: one clear line, nothing left behind.

* What reaches the container: user ids the kernel would misread, sysctls
  aimed at the runtime's own or the host's namespace, a state root others
  could write.
* Bad input gets one clean line: strings that are not text (undecodable
  bytes, lone surrogates, NUL bytes), numbers beyond what the kernel takes,
  a pid file that cannot be written, unknown seccomp architectures.

Every failing call is checked with assert_error (exit 1, one line naming the
field or path, the same as the last error of the --log file) and then
rt.assert_clean() (no state, process or mount); the harness checks again
after each test."""

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from .helpers import EXEC_FAILED, IS_MINIRUN, IS_RUNC, assert_error, mounts_under


def create_refused(rt, bundle, cid, *substrings, args=()):
    result = rt("create", "--bundle", bundle, *args, cid, check=False, log=True)
    assert_error(result, *substrings, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()
    return result


def read_sysctl(key):
    with open("/proc/sys/" + key.replace(".", "/")) as knob:
        return knob.read().strip()


# --------------------------------------------------------------------------
# What reaches the container


@pytest.mark.parametrize("field,value", [
    ("uid", 4294967295),  # (uid_t)-1: setresuid would leave the process root
    ("uid", 2147483648),
    ("gid", 4294967295),
])
def test_user_ids_outside_0_to_2147483647_are_refused(rt, make_bundle, cid, field, value):
    bundle = make_bundle(["id"], process={"user": {field: value}})
    create_refused(rt, bundle, cid, "process.user." + field)


def test_additional_gids_outside_the_range_are_refused(rt, make_bundle, cid):
    bundle = make_bundle(["id"], process={"user": {"uid": 0, "gid": 0, "additionalGids": [10, 4294967295]}})
    create_refused(rt, bundle, cid, "process.user.additionalGids[1]")


@pytest.fixture
def sleeping(rt, make_bundle, cid):
    """A running container whose process is never root but by an exec's mistake."""
    rt("run", "--detach", "--bundle", make_bundle(["sleep", "1000"]), cid)
    return cid


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 takes -u 4294967295 as uint32 and runs the process as root")
@pytest.mark.parametrize("flags,named", [
    (["-u", "4294967295"], "--user"),  # (uid_t)-1: setresuid leaves the process root
    (["-u", "4294967294"], "--user"),
    (["-u", "2147483648"], "--user"),
    (["-u", "1000:4294967295"], "--user"),
    (["-u", "1000", "--additional-gids", "4294967295"], "--additional-gids"),
])
def test_exec_user_ids_outside_0_to_2147483647_are_refused_and_nothing_runs(rt, sleeping, flags, named):
    result = rt("exec", *flags, sleeping, "id", check=False, log=True)
    assert_error(result, "exec: " + named, "out of range (0 to 2147483647)", log=rt.log, status=EXEC_FAILED)
    assert result.stdout == ""  # `id` never ran: not as root, not as anyone


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_exec_process_that_never_ends_is_refused_without_hanging(rt, sleeping, tmp_path, kind):
    path = str(tmp_path / "process.json")
    if kind == "fifo":
        os.mkfifo(path, 0o600)  # no writer ever comes: an open() for reading blocks forever
    else:
        path = kind
    result = rt("exec", "--process", path, sleeping, check=False, log=True)
    assert_error(result, "--process " + path, "not a regular file", log=rt.log, status=EXEC_FAILED)


def test_exec_process_nested_too_deeply_is_one_line_naming_it(rt, sleeping, tmp_path):
    path = tmp_path / "process.json"
    path.write_text("[" * 100000)
    result = rt("exec", "--process", path, sleeping, check=False, log=True)
    assert_error(result, "--process %s" % path, "nested too deeply", log=rt.log, status=EXEC_FAILED)
    assert "RecursionError" not in result.stderr


@pytest.mark.parametrize("process,named", [
    ({"user": {"uid": 1e400}}, "process.json: user.uid"),
    ({"user": {"uid": 0, "gid": 0, "additionalGids": [2147483648]}}, "process.json: user.additionalGids[0]"),
    ({"consoleSize": {"height": 1.5}}, "process.json: consoleSize.height"),
])
def test_exec_process_values_of_the_wrong_kind_are_named_in_json_words(rt, sleeping, tmp_path, process, named):
    path = tmp_path / "process.json"
    path.write_text(json.dumps(dict({"args": ["id"], "cwd": "/"}, **process)))
    result = rt("exec", "--process", path, sleeping, check=False, log=True)
    assert_error(result, named, log=rt.log, status=EXEC_FAILED)
    assert "float" not in result.stderr and result.stdout == ""


def test_exec_cwd_that_does_not_exist_is_named_as_the_flag(rt, sleeping):
    result = rt("exec", "--cwd", "/nonexistent", sleeping, "true", check=False, log=True)
    assert_error(result, "exec: --cwd", "/nonexistent", log=rt.log, status=EXEC_FAILED)


@pytest.mark.parametrize("owner", ["self", "1"])
# (no uts key: kernel.hostname and kernel.domainname are refused whatever the namespace)
@pytest.mark.parametrize("kind,key", [("network", "net.ipv4.ip_forward"), ("ipc", "kernel.shmmni")])
def test_a_sysctl_for_the_runtimes_own_or_the_hosts_joined_namespace_is_refused(
        rt, make_bundle, cid, owner, kind, key):
    # The value written would be the current one: even a runtime that wrongly
    # writes it leaves the host as it was. The check is that it refuses.
    if IS_RUNC and kind != "network":
        pytest.xfail("runc 1.1.5 checks only the network namespace")
    proc_name = {"network": "net", "ipc": "ipc", "uts": "uts"}[kind]
    path = "/proc/%s/ns/%s" % (owner, proc_name)
    before = read_sysctl(key)
    try:
        os.stat(path)
        field = "linux.sysctl." + key
    except PermissionError:
        # pid 1 lives in an outer user namespace (the tests run in a
        # container): its namespaces are out of the runtime's reach too, and
        # joining fails closed on the path instead.
        field = "linux.namespaces"
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount") if t != kind]
    namespaces.append({"type": kind, "path": path})
    bundle = make_bundle(["true"], linux={"namespaces": namespaces, "sysctl": {key: before}},
                         hostname=None if kind == "uts" else "minirun-test")
    create_refused(rt, bundle, cid, field)
    assert read_sysctl(key) == before


def test_the_state_root_and_its_missing_parents_are_private_whatever_the_umask(rt, make_bundle, tmp_path, cid):
    # os.makedirs under umask 0 made the parents 0777: anyone could swap them.
    root = tmp_path / "parent" / "grandchild" / "state"
    bundle = make_bundle(["true"])
    old = os.umask(0)
    try:
        rt("--root", root, "run", "--bundle", bundle, cid, root=False)
    finally:
        os.umask(old)
    for directory in (root.parent.parent, root.parent, root):
        mode = stat.S_IMODE(directory.stat().st_mode)
        assert not mode & 0o022, "%s is mode %o" % (directory, mode)
    assert not stat.S_IMODE(root.stat().st_mode) & 0o077
    assert os.listdir(str(root)) == []


# --------------------------------------------------------------------------
# Bad input gets one clean line


@pytest.mark.skipif(IS_RUNC, reason="runc takes any bytes as the bundle path; minirun refuses a path "
                                    "its JSON state cannot record")
def test_a_bundle_path_that_is_not_utf8_is_refused_with_one_line(rt, make_bundle, tmp_path, cid):
    good = make_bundle(["true"])
    bad = os.path.join(os.fsencode(str(tmp_path)), b"bundle\xff\xfe")
    os.rename(str(good), bad)
    create_refused(rt, os.fsdecode(bad), cid, "--bundle", "not valid UTF-8")


def test_a_lone_surrogate_in_root_path_is_refused_naming_it(rt, make_bundle, rootfs, cid):
    bundle = make_bundle(["true"], root={"path": str(rootfs) + "\udcff"})  # json writes "\udcff"
    create_refused(rt, bundle, cid, "root.path")


def nul_overrides(rootfs):
    return {
        "mounts[6].options[1]": {"extra_mounts": [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                                   "options": ["nosuid", "mode=755\0x"]}]},
        "linux.maskedPaths[1]": {"linux": {"maskedPaths": ["/proc/kcore", "/proc/keys\0x"]}},
        "linux.readonlyPaths[0]": {"linux": {"readonlyPaths": ["/proc/sys\0"]}},
        "process.env[1]": {"process": {"env": ["PATH=/bin", "A=b\0c"]}},
        "process.args[1]": {"args": ["echo", "a\0b"]},
        "process.cwd": {"process": {"cwd": "/tmp\0/x"}},
        "hostname": {"hostname": "host\0name"},
        "root.path": {"root": {"path": str(rootfs) + "\0/x"}},
    }


RUNC_CUTS_AT_NUL = pytest.mark.xfail(IS_RUNC, reason="runc 1.1.5 passes the string cut at the NUL")


@pytest.mark.parametrize("field", [pytest.param(f, marks=RUNC_CUTS_AT_NUL) if f in ("hostname", "process.args[1]")
                                   else f for f in sorted(nul_overrides("/r"))])
def test_a_nul_in_a_string_that_reaches_the_kernel_is_refused_naming_the_field(rt, make_bundle, rootfs, cid,
                                                                                field):
    # The kernel reads C strings: a NUL silently ended them (`mode=755\0x`
    # became mode 007, a masked path was skipped).
    overrides = dict(nul_overrides(rootfs)[field])
    bundle = make_bundle(overrides.pop("args", ["true"]), **overrides)
    create_refused(rt, bundle, cid, field)


@pytest.mark.parametrize("secs", [2 ** 64, -2 ** 64, 2 ** 62])
def test_a_time_offset_beyond_the_kernels_range_is_refused_naming_it(rt, make_bundle, cid, secs):
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "time")]
    bundle = make_bundle(["true"], linux={"namespaces": namespaces,
                                          "timeOffsets": {"monotonic": {"secs": secs, "nanosecs": 0}}})
    create_refused(rt, bundle, cid, "linux.timeOffsets.monotonic.secs")


@pytest.mark.xfail(IS_RUNC, reason="runc 1.1.5 hands mknod a dev_t it cannot represent")
@pytest.mark.parametrize("numbers,field", [
    ({"major": 2 ** 32 - 1, "minor": 0}, "linux.devices[0].major"),  # was an OverflowError
    ({"major": 4096, "minor": 0}, "linux.devices[0].major"),
    ({"major": 1, "minor": 2 ** 20}, "linux.devices[0].minor"),
])
def test_a_device_number_mknod_cannot_take_is_refused_naming_it(rt, make_bundle, cid, numbers, field):
    device = dict({"path": "/dev/odd", "type": "c", "fileMode": 0o666}, **numbers)
    bundle = make_bundle(["true"], linux={"devices": [device]})
    create_refused(rt, bundle, cid, field)


def test_a_sysctl_value_the_kernel_rejects_is_an_error_naming_the_key(rt, make_bundle, cid):
    bundle = make_bundle(["true"], linux={"sysctl": {"net.ipv4.ip_forward": "not-a-number"}})
    create_refused(rt, bundle, cid, "linux.sysctl.net.ipv4.ip_forward")


def test_an_unknown_seccomp_architecture_is_refused_naming_it(rt, make_bundle, cid):
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"],
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    bundle = make_bundle(["true"], linux={"seccomp": seccomp})
    create_refused(rt, bundle, cid, "linux.seccomp.architectures[1]", "unknown architecture")


@pytest.mark.xfail(IS_RUNC, reason="runc refuses the names its libseccomp build lacks (RISCV64)")
def test_every_libseccomp_architecture_is_accepted(rt, make_bundle, cid):
    # Knowing a name is not filtering it: the native one is always filtered.
    names = ["SCMP_ARCH_" + n for n in ("X86_64", "X86", "X32", "AARCH64", "ARM", "MIPS", "MIPS64", "MIPSEL",
                                        "MIPSEL64", "MIPS64N32", "MIPSEL64N32", "PPC", "PPC64", "PPC64LE",
                                        "S390", "S390X", "RISCV64")]
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": names,
               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    bundle = make_bundle(["sh", "-c", "mkdir /tmp/x 2>/dev/null && echo made || echo refused"],
                         linux={"seccomp": seccomp})
    assert rt("run", "--bundle", bundle, cid).stdout == "refused\n"


def test_a_masked_path_that_is_a_dangling_symlink_is_skipped(rt, make_bundle, rootfs, cid):
    os.symlink("/nowhere/at/all", str(rootfs / "etc" / "dangling"))
    bundle = make_bundle(["sh", "-c", "readlink /etc/dangling"],
                         linux={"maskedPaths": ["/proc/kcore", "/etc/dangling"]})
    assert rt("run", "--bundle", bundle, cid).stdout == "/nowhere/at/all\n"


# --------------------------------------------------------------------------
# A pid file that cannot be written


@pytest.fixture
def full_tmpfs(rt):
    """A 4 KiB tmpfs, filled up. Outside the test's directory, whose mounts
    the harness counts as leftovers; requested after rt, so unmounted first."""
    path = Path(tempfile.mkdtemp(prefix="minirun-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k,mode=0755", "tmpfs", str(path)], check=True)
    try:
        filler = os.open(str(path / "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(filler, b"x" * 1024)
        except OSError as exc:
            assert exc.errno == 28  # ENOSPC: full
        finally:
            os.close(filler)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)
        assert not mounts_under(path)
        path.rmdir()


RUNC_LEAVES_ITS_TEMPORARY_FILE = pytest.mark.xfail(IS_RUNC, reason="runc 1.1.5 leaves its .NAME temporary file")


@RUNC_LEAVES_ITS_TEMPORARY_FILE
@pytest.mark.parametrize("command", ["create", "run"])
def test_a_pid_file_naming_a_directory_fails_cleanly_and_removes_the_container(rt, make_bundle, tmp_path, cid,
                                                                                command):
    pid_dir = tmp_path / "pids"
    (pid_dir / "taken").mkdir(parents=True)
    bundle = make_bundle(["true"])
    result = rt(command, "--bundle", bundle, "--pid-file", pid_dir / "taken", cid, check=False, log=True)
    assert_error(result, str(pid_dir / "taken"), log=rt.log)
    assert "internal error" not in result.stderr
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()
    assert os.listdir(str(pid_dir)) == ["taken"]  # no taken.tmp-PID
    assert os.listdir(str(pid_dir / "taken")) == []


@RUNC_LEAVES_ITS_TEMPORARY_FILE
def test_a_pid_file_on_a_full_filesystem_fails_cleanly_and_removes_the_container(rt, make_bundle, cid,
                                                                                  full_tmpfs):
    bundle = make_bundle(["true"])
    result = create_refused(rt, bundle, cid, str(full_tmpfs / "pid"), args=("--pid-file", full_tmpfs / "pid"))
    if IS_MINIRUN:
        assert "No space left on device" in result.stderr and "internal error" not in result.stderr
    assert sorted(os.listdir(str(full_tmpfs))) == ["filler"]
