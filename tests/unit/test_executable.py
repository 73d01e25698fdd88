"""Start-up: create, run and exec run from an interpreter file that no one
can write through /proc/PID/exe (section 1, "an executable the container
cannot write"; the CVE-2019-5736 class with CAP_SYS_PTRACE).

The attack itself, from a container, is in
tests/integration/test_exe_escape.py. Here: which files count as safe
(checked on real files: a sealed memfd, an unsealed one, the interpreter as
installed), which mechanism is chosen (the recording Kernel double), and
that starting again keeps exactly how the interpreter was started."""

import errno
import json
import os
import subprocess
import sys

import pytest

import minirun

from .helpers import REPO, unwritable_python
from .kernel_double import FAKE_FD, RecordingKernel

IS_SAFE = "import sys; sys.path.insert(0, %r); import minirun; print(minirun.runs_from_unwritable_file())" % REPO


def safe_when_run_from(path, fd):
    result = subprocess.run([sys.executable, "-I", "-S", "-c", IS_SAFE], executable=path, pass_fds=(fd,),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_interpreter_as_installed_is_safe_only_on_a_read_only_mount():
    read_only = bool(os.statvfs(os.path.realpath(sys.executable)).f_flag & os.ST_RDONLY)
    assert safe_when_run_from(sys.executable, 0) == str(read_only)


def test_a_memfd_copy_sealed_against_writing_is_safe():
    """The fallback (kernels before 5.12, unprivileged callers), made here
    without privilege exactly as minirun makes it."""
    fd = minirun.kernel().sealed_copy(os.path.realpath(sys.executable), "minirun-test")
    try:
        import fcntl

        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals == fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
        with pytest.raises(PermissionError):
            os.pwrite(fd, b"x", 0)
        assert safe_when_run_from("/proc/self/fd/%d" % fd, fd) == "True"
    finally:
        os.close(fd)


@pytest.mark.parametrize("seals", ["none", "shrink+grow"])
def test_a_memfd_not_sealed_against_writing_is_not_safe(seals):
    import fcntl

    fd = os.memfd_create("minirun-test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(os.path.realpath(sys.executable), "rb") as source:
            os.write(fd, source.read())
        if seals != "none":
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
        assert safe_when_run_from("/proc/self/fd/%d" % fd, fd) == "False"
    finally:
        os.close(fd)


def test_the_unwritable_copy_minirun_makes_is_safe():
    path, fd = unwritable_python()
    try:
        assert safe_when_run_from(path, fd) == "True"
    finally:
        os.close(fd)


# -- the mechanism: a read-only bind mount, else a sealed copy ---------------

def test_a_read_only_tree_of_the_interpreter_comes_first(tmp_path):
    k = RecordingKernel(tmp_path)
    assert minirun.unwritable_executable(k) == FAKE_FD + 6
    assert k.calls == [("read_only_tree", "/proc/self/exe")]


@pytest.mark.parametrize("refusal", [errno.ENOSYS, errno.EPERM, errno.EINVAL])
def test_without_a_read_only_tree_a_sealed_copy(tmp_path, refusal):
    """ENOSYS: a kernel before 5.12 (no mount_setattr); EPERM: an
    unprivileged caller (open_tree needs CAP_SYS_ADMIN)."""
    class OldKernel(RecordingKernel):
        def read_only_tree(self, path):
            self.record("read_only_tree", path)
            raise OSError(refusal, "mount_setattr: refused")

    k = OldKernel(tmp_path)
    assert minirun.unwritable_executable(k) == FAKE_FD + 7
    assert k.calls == [("read_only_tree", "/proc/self/exe"), ("sealed_copy", "/proc/self/exe", "minirun")]


def test_neither_is_a_reason_to_refuse(tmp_path):
    class NoWay(RecordingKernel):
        def read_only_tree(self, path):
            raise OSError(errno.ENOSYS, "mount_setattr: Function not implemented")

        def sealed_copy(self, path, name):
            raise OSError(errno.ENOMEM, "memfd_create: Cannot allocate memory")

    started = tmp_path / "started"
    started.mkdir()
    (started / "cmdline").write_bytes(b"python3\0minirun.py\0run\0c\0")
    (started / "environ").write_bytes(b"")
    reason = minirun.run_from_unwritable_executable(NoWay(tmp_path), str(started))
    assert reason == ("cannot run from a read-only or sealed copy of the Python interpreter: "
                      "memfd_create: Cannot allocate memory")
    with pytest.raises(minirun.Error) as refused:
        minirun.dispatch(["create", "--bundle", str(tmp_path), "c1"], unprotected=reason)
    assert str(refused.value) == reason
    # what starts no container's process goes on
    assert minirun.dispatch(["--root", str(tmp_path / "state"), "list", "-q"], unprotected=reason) == 0


def test_it_starts_again_with_the_argv_and_environment_it_was_started_with(tmp_path):
    started = tmp_path / "started"
    started.mkdir()
    (started / "cmdline").write_bytes(b"/usr/bin/python3\0-I\0-S\0-c\0boot\0/x/minirun.py\0exec\0\0c\0sh\0")
    (started / "environ").write_bytes(b"PATH=/bin\0EMPTY=\0A=1=2\0A=second\0NOEQUALS\0=nameless\0\xff=\xfe\0")
    k = RecordingKernel(tmp_path)
    minirun.run_from_unwritable_executable(k, str(started))
    assert k.calls[-1] == ("execve", FAKE_FD + 6,
                           [b"/usr/bin/python3", b"-I", b"-S", b"-c", b"boot", b"/x/minirun.py", b"exec", b"", b"c",
                            b"sh"],
                           {b"PATH": b"/bin", b"EMPTY": b"", b"A": b"1=2", b"\xff": b"\xfe"})


VIEW = """
import json, os, sys
sys.path.insert(0, %r)
import minirun
view = [sys.argv, getattr(sys, "orig_argv", None), sys.executable, sys.prefix, sys.base_prefix, sys.path,
        sys.flags.isolated, sys.flags.no_site, sorted(os.environ.items())]
if not minirun.runs_from_unwritable_file():
    sys.stderr.write(json.dumps(view) + "\\n")
    sys.stderr.flush()
    sys.stderr.write(minirun.run_from_unwritable_executable())
    sys.exit(3)
print(json.dumps(view))
""" % REPO


@pytest.mark.parametrize("form", ["isolated", "script"])
def test_the_new_interpreter_sees_what_the_first_one_saw(tmp_path, form):
    """Run for real, as root (a read-only tree) or not (a sealed copy): the
    interpreter started again has the same argv (an empty argument too), the
    same executable, prefix and path (Python's getpath still finds its
    library), flags and environment (LC_ALL=C: PEP 538 coercion happens the
    same way in both)."""
    if os.statvfs(os.path.realpath(sys.executable)).f_flag & os.ST_RDONLY:
        pytest.skip("the interpreter is on a read-only mount here: nothing starts again")
    script = tmp_path / "view.py"
    script.write_text(VIEW)
    head = [sys.executable, "-I", "-S", "-c", VIEW] if form == "isolated" else [sys.executable, str(script)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "EMPTY": ""}
    result = subprocess.run(head + ["run", "", "c1"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stderr), json.loads(result.stdout)
    assert after == before
    assert after[0][-2:] == ["", "c1"]
