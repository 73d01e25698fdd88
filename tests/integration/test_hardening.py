"""Hardening: each test attempts an attack and shows that it fails closed.

* CVE-2019-5736 class: a container must not reach the runtime's interpreter
  (or minirun.py) through /proc/PID/exe of a runtime process that joined it.
* CVE-2024-21626 class: no host file descriptor or working directory leaks
  into the container.
* Malicious root filesystems: symlinks at masked and read-only paths, at
  /dev/console, /proc or /sys replaced by a symlink, a rootfs directory
  flipped to a symlink while containers are being created.  (A mount
  destination that is a symlink out of the rootfs is in test_mounts.py.)
* maskedPaths/readonlyPaths cannot be undone from inside.
* The state directory is private to root; IDs cannot leave --root."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from .helpers import (
    DEFAULT_TIMEOUT, IS_MINIRUN, IS_RUNC, MINIRUN, RUNTIME, ConsoleReceiver, assert_error,
    assert_no_traceback, base_config, bind_mount, mountinfo, proc_status, run_through_shell,
    tmpfs_mount, wait_for,
)
from .security_helpers import PROBE, install_probe, probe_results


@pytest.fixture
def probe_rootfs(rootfs, syscall_probe):
    install_probe(rootfs, syscall_probe)
    return rootfs


@pytest.fixture
def victim(tmp_path):
    """A host directory an attack would like to reach."""
    path = tmp_path / "victim"
    path.mkdir()
    (path / "precious").write_text("host data\n")
    return path


def assert_untouched(victim):
    assert sorted(os.listdir(str(victim))) == ["precious"]
    assert (victim / "precious").read_text() == "host data\n"
    assert not [m["mountpoint"] for m in mountinfo()
                if m["mountpoint"].startswith(str(victim))]


def sha256(path):
    digest = hashlib.sha256()
    with open(str(path), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dir_identities(top):
    ids = set()
    for dirpath, _dirs, _files in os.walk(str(top)):
        st = os.lstat(dirpath)
        ids.add((st.st_dev, st.st_ino))
    return ids


def create_failed_cleanly(rt, result, cid):
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert_no_traceback(result)
    assert result.stderr.strip()
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


# --------------------------------------------------------------------------
# CVE-2019-5736: /proc/PID/exe of a runtime process inside the container

ATTACK = r"""
P=$1
echo "cmdline=$(tr '\0' ' ' < /proc/$P/cmdline)"
/bin/probe open:/proc/$P/exe:r open:/proc/$P/exe:w open:/proc/$P/exe:p reopen:/proc/$P/exe \
    open:/proc/$P/root:p open:/proc/$P/cwd:p open:/proc/$P/mem:r open:/proc/$P/environ:r
for f in /proc/$P/fd/[0-9]*; do /bin/probe open:$f:p reopen:$f; done
readlink /proc/$P/exe >/dev/null 2>&1; echo readlink=$?
cat /proc/$P/exe >/dev/null 2>&1; echo cat=$?
(echo x >> /proc/$P/exe) 2>/dev/null; echo append=$?
"""

CONTROL = r"""
P=$1
/bin/probe open:/proc/$P/exe:r
readlink /proc/$P/exe >/dev/null 2>&1; echo readlink=$?
"""

# A waits for a pid in /shared/goN, runs phase N against it, and says done
WATCHER = r"""
for phase in 1 2; do
    while [ ! -e /shared/go$phase ]; do sleep 0.05; done
    if [ $phase = 1 ]; then sh /attack.sh $(cat /shared/go1) > /shared/out1 2>&1
    else sh /control.sh $(cat /shared/go2) > /shared/out2 2>&1; fi
    touch /shared/done$phase
done
exec sleep 1000
"""


def runtime_files(init_pid):
    """The files a CVE-2019-5736 attack would overwrite: the binary behind
    the runtime process, and minirun.py itself."""
    files = [os.path.realpath("/proc/%d/exe" % init_pid)]  # runc: a memfd copy
    if IS_MINIRUN:
        # minirun's: a detached read-only bind mount (its path reads "/"), or
        # a sealed copy; the interpreter it came from is the file to watch
        files = [os.path.realpath(os.environ.get("MINIRUN_PYTHON") or sys.executable), str(MINIRUN)]
    else:
        files.append(os.path.realpath(shutil.which(RUNTIME[0]) or RUNTIME[0]))
    return [f for f in files if os.path.isfile(f)]


def pid_in_namespace_of_a(host_pid):
    return int(proc_status(host_pid)["NSpid"].split()[-1])


def test_runtime_process_in_the_container_is_not_reachable(rt, make_bundle, probe_rootfs,
                                                           shared, cid):
    (probe_rootfs / "attack.sh").write_text(ATTACK)
    (probe_rootfs / "control.sh").write_text(CONTROL)
    a_bundle = make_bundle(["sh", "-c", WATCHER], shared=True)
    rt("create", "--bundle", a_bundle, cid)
    rt("start", cid)
    a_pid = rt.state(cid)["pid"]

    # B joins A's pid namespace and waits for `start`: its init is still a
    # runtime process (python running minirun.py, or runc init)
    b_id = cid + "-b"
    b_bundle = make_bundle(["sleep", "1000"], linux={"namespaces": [
        {"type": "pid", "path": "/proc/%d/ns/pid" % a_pid},
        {"type": "mount"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}]})
    rt("create", "--bundle", b_bundle, b_id)
    b_pid = rt.state(b_id)["pid"]
    assert os.readlink("/proc/%d/ns/pid" % b_pid) == os.readlink("/proc/%d/ns/pid" % a_pid)
    targets = runtime_files(b_pid)
    assert targets, "cannot find the runtime's files"
    before = {f: sha256(f) for f in targets}

    inner = pid_in_namespace_of_a(b_pid)
    (shared / "go1").write_text(str(inner))
    wait_for(lambda: (shared / "done1").exists(), timeout=DEFAULT_TIMEOUT, what="the attack")
    out = (shared / "out1").read_text()

    # it is the runtime process A is looking at ...
    marker = "runc" if IS_RUNC else "minirun"
    assert marker in out[:out.index("\nopen:")], out
    # ... and every way in failed with a permission error
    results = probe_results(out)
    opened = {op: res for op, res in results.items() if op.startswith(("open:", "reopen:"))}
    assert len(opened) >= 8, out
    assert {op: res for op, res in opened.items() if res not in ("-EACCES", "-EPERM")} == {}, out
    assert "readlink=0" not in out and "cat=0" not in out and "append=0" not in out, out
    assert {f: sha256(f) for f in targets} == before

    # control: once B runs its own program, execve has made it dumpable
    # again and the same reads work, so it was the runtime's non-dumpable
    # state that refused them
    rt("start", b_id)
    (shared / "go2").write_text(str(inner))
    wait_for(lambda: (shared / "done2").exists(), timeout=DEFAULT_TIMEOUT, what="the control")
    out = (shared / "out2").read_text()
    assert probe_results(out)["open:/proc/%d/exe:r" % inner] == "0", out
    assert "readlink=0" in out


def test_user_process_is_dumpable_runtime_was_not(rt, make_bundle, probe_rootfs, cid):
    bundle = make_bundle([PROBE, "dumpable"])
    assert probe_results(rt("run", "--bundle", bundle, cid).stdout) == {"dumpable": "1"}


# --------------------------------------------------------------------------
# CVE-2024-21626: leaked host directories and the working directory

def run_with_dir_fds(rt, directory, fds, *args, stdout=subprocess.DEVNULL):
    """Run the runtime with each fd in ``fds`` open on ``directory`` (a
    caller that leaks, or passes with --preserve-fds, host directories)."""
    redirections = " ".join('%d<"$LEAKED_DIR"' % n for n in fds)
    # bash: dash reads "10<" as an argument "10" and a redirection of stdin
    env = dict(os.environ, LEAKED_DIR=str(directory))
    return run_through_shell(rt, ["bash", "-c", 'exec "$@" ' + redirections, "bash"], args, env, stdout,
                             "dir-fds")


FD_RANGE = list(range(3, 11))
LOOK_AROUND = "ls -a . .. ../.. ../../.. ../../../.. 2>&1; exec sleep 1000"


def check_cwd_confined(rt, result, cid, rootfs, victim, out_path):
    if IS_MINIRUN:
        # minirun refuses a cwd that resolves outside the rootfs, naming it
        assert_error(result, "process.cwd", "outside the container's root filesystem")
    if result.returncode != 0:  # refusing is fine, if it is clean
        create_failed_cleanly(rt, result, cid)
        return
    pid = rt.state(cid)["pid"]
    cwd = os.stat("/proc/%d/cwd" % pid)
    inside = dir_identities(rootfs)
    assert (cwd.st_dev, cwd.st_ino) in inside, \
        "the process's cwd is outside the rootfs: %s" % os.readlink("/proc/%d/cwd" % pid)
    rt("start", cid)
    wait_for(lambda: "sleep" in open("/proc/%d/cmdline" % pid).read(), what="the process")
    seen = out_path.read_text()
    assert "precious" not in seen, seen
    assert_untouched(victim)


@pytest.mark.parametrize("n", FD_RANGE)
def test_cwd_through_a_leaked_host_directory_fd(rt, make_bundle, rootfs, victim, cid, n):
    """The caller leaks host directories on fds 3-10 (not passed with
    --preserve-fds); process.cwd is /proc/self/fd/N."""
    bundle = make_bundle(["sh", "-c", LOOK_AROUND], process={"cwd": "/proc/self/fd/%d" % n})
    out_path = rt.tmp / "container.out"
    with open(str(out_path), "w") as out:
        result = run_with_dir_fds(rt, victim, FD_RANGE, "create", "--bundle", bundle, cid,
                                  stdout=out)
    check_cwd_confined(rt, result, cid, rootfs, victim, out_path)


@pytest.mark.parametrize("n", [3, 10])
def test_cwd_through_a_preserved_host_directory_fd(rt, make_bundle, rootfs, victim, cid, n):
    """The caller passes host directories on purpose (--preserve-fds 8): the
    process may use the fds, but its cwd, from the config, stays inside."""
    bundle = make_bundle(["sh", "-c", LOOK_AROUND], process={"cwd": "/proc/self/fd/%d" % n})
    out_path = rt.tmp / "container.out"
    with open(str(out_path), "w") as out:
        result = run_with_dir_fds(rt, victim, FD_RANGE, "create", "--preserve-fds", "8",
                                  "--bundle", bundle, cid, stdout=out)
    check_cwd_confined(rt, result, cid, rootfs, victim, out_path)


def test_only_stdio_reaches_the_process(rt, make_bundle, rootfs, victim, cid):
    """Leaked host directories, a joined namespace (its fd) and the state
    directory's fifo: none is open in the process."""
    holder = rt.spawn(["unshare", "--uts", "sleep", "1000"])
    uts = "/proc/%d/ns/uts" % holder.pid
    wait_for(lambda: os.readlink(uts) != os.readlink("/proc/self/ns/uts"), what="the helper")
    bundle = make_bundle(["sh", "-c", "ls -l /proc/self/fd/; pwd"], hostname=None, linux={
        "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"},
                       {"type": "ipc"}, {"type": "uts", "path": uts}]})
    out_path = rt.tmp / "container.out"
    with open(str(out_path), "w") as out:
        result = run_with_dir_fds(rt, victim, FD_RANGE, "create", "--bundle", bundle, cid,
                                  stdout=out)
    assert result.returncode == 0, result.stderr
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    out = out_path.read_text()
    fds = {}
    for line in out.splitlines():
        if " -> " in line:
            name, target = line.split(" -> ", 1)
            fds[name.split()[-1]] = target
    # (the directory ls reads is listed as 3, closed before its readlink: no "->")
    assert set(fds) == {"0", "1", "2"}, out
    assert "victim" not in out and "exec.fifo" not in out and "uts:" not in out, out
    assert out.splitlines()[-1] == "/"


# --------------------------------------------------------------------------
# malicious root filesystems

def link_to(victim, rootfs, style, at):
    """A symlink target for ``victim`` from the rootfs entry ``at``."""
    if style == "absolute":
        return str(victim)
    if style == "dotdot":
        return "/../../../../../.." + str(victim)
    depth = len(os.path.relpath(str(rootfs / at.lstrip("/")), "/").split("/")) - 1
    return "../" * (depth + 3) + str(victim).lstrip("/")


@pytest.mark.parametrize("style", ["absolute", "dotdot", "relative"])
@pytest.mark.parametrize("kind", ["maskedPaths", "readonlyPaths"])
def test_masked_and_readonly_paths_that_are_symlinks_out(rt, make_bundle, rootfs, victim, cid,
                                                         kind, style):
    os.symlink(link_to(victim, rootfs, style, "/etc/leak"), str(rootfs / "etc" / "leak"))
    # the same path exists inside the rootfs: a mount through the link lands
    # on this decoy, never on the host's directory
    decoy = rootfs / str(victim).lstrip("/")
    decoy.mkdir(parents=True)
    (decoy / "decoy").write_text("in the rootfs\n")
    script = ("ls -a /etc/leak/; cat /etc/leak/precious 2>&1; "
              "echo written > /etc/leak/new 2>&1; echo rc=$?")
    bundle = make_bundle(["sh", "-c", script], linux={kind: ["/etc/leak"]})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert_untouched(victim)
    # minirun masks and remounts after the pivot: the link resolves inside
    assert not IS_MINIRUN or result.returncode == 0, result.stderr
    if result.returncode != 0:
        create_failed_cleanly(rt, result, cid)
        return
    listing = result.stdout.split("cat:")[0].split()
    assert "precious" not in listing, result.stdout
    assert "host data" not in result.stdout, result.stdout
    rt.assert_clean()


@pytest.mark.parametrize("style", ["absolute", "relative"])
def test_dev_console_symlink_out_of_the_rootfs(rt, make_bundle, rootfs, tmp_path, cid, style):
    """Without a /dev mount the runtime works in the rootfs's own /dev; its
    /dev/console points at a host file."""
    target = tmp_path / "host-console"
    target.write_text("host file\n")
    os.chmod(str(target), 0o600)
    before = os.stat(str(target))
    os.symlink(link_to(target, rootfs, style, "/dev/console"), str(rootfs / "dev" / "console"))
    no_dev = [m for m in base_config(rootfs)["mounts"] if m["destination"] != "/dev"]
    bundle = make_bundle(["sh", "-c", "ls -l /dev/console; echo via-console > /dev/console"],
                         process={"terminal": True}, mounts=no_dev)
    receiver = ConsoleReceiver(rt.private_dir("mrc-") / "console.sock")
    try:
        result = rt("create", "--bundle", bundle, "--console-socket", receiver.path, cid,
                    check=False)
        if result.returncode == 0:
            receiver.receive()
            rt("start", cid)
            rt.wait_status(cid, "stopped")
    finally:
        receiver.close()
    after = os.stat(str(target))
    assert target.read_text() == "host file\n"
    assert (after.st_mode, after.st_uid, after.st_gid) == (before.st_mode, before.st_uid,
                                                           before.st_gid)
    assert not [m for m in mountinfo() if m["mountpoint"] == str(target)]
    if result.returncode != 0:
        create_failed_cleanly(rt, result, cid)


@pytest.mark.parametrize("fs", ["proc", "sys"])
@pytest.mark.parametrize("target", ["/tmp", "tmp", "../etc", "victim"])
def test_proc_or_sys_replaced_by_a_symlink_is_refused(rt, make_bundle, rootfs, victim, cid,
                                                      fs, target):
    """procfs mounted where a symlink points would leave the real /proc
    unmasked, or mount it over a host directory (CVE-2019-19921)."""
    if target == "victim":
        target = str(victim)
    os.rmdir(str(rootfs / fs))
    os.symlink(target, str(rootfs / fs))
    listing = sorted(os.listdir(str(rootfs / "tmp")))
    bundle = make_bundle(["true"])
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "/" + fs, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()
    assert sorted(os.listdir(str(rootfs / "tmp"))) == listing
    assert_untouched(victim)


def test_symlinked_parent_of_a_file_bind_destination(rt, make_bundle, rootfs, victim,
                                                     tmp_path, cid):
    """A file bind whose destination's parent is a symlink out of the rootfs
    and whose deeper parents do not exist yet: they are made inside."""
    source = tmp_path / "source-file"
    source.write_text("bound\n")
    os.symlink(str(victim), str(rootfs / "etc2"))
    bundle = make_bundle(["cat", "/etc2/sub/dir/file"],
                         extra_mounts=[bind_mount(source, "/etc2/sub/dir/file", "bind")])
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert_untouched(victim)
    if result.returncode == 0:
        assert result.stdout == "bound\n"
    else:
        create_failed_cleanly(rt, result, cid)


RACE_CREATES = 30


def race_bundle(make_bundle, rootfs, flipped, source, i):
    """Fresh names in each bundle: every create has directories to make."""
    if flipped == "dev":
        # no /dev mount: the runtime makes /dev's nodes and links in the
        # rootfs's own /dev (unlinking what is there first)
        mounts = [m for m in base_config(rootfs)["mounts"] if not m["destination"].startswith("/dev")]
        return make_bundle(["true"], name="race-bundle%d" % i, mounts=mounts, linux={"devices": [
            {"path": "/dev/i%d/extra" % i, "type": "c", "major": 1, "minor": 3}]})
    top = "/race/i%d" % i
    return make_bundle(
        ["true"], name="race-bundle%d" % i,
        extra_mounts=[tmpfs_mount(top + "/a/b"), bind_mount(source, top + "/file", "bind"),
                      tmpfs_mount(top + "/c")],
        process={"cwd": top + "/cwd/deeper"},
        linux={"maskedPaths": [top + "/a"], "readonlyPaths": [top + "/c"]})


# runc 1.1.5 loses this race: it makes mount points, /dev nodes and links
# through the swapped-in symlink, in the host directory.
@pytest.mark.xfail(IS_RUNC, reason="runc 1.1.5 writes through the swapped symlink", strict=False)
@pytest.mark.parametrize("flipped", ["race", "dev"])
def test_rootfs_directory_flipped_to_a_symlink_during_create(rt, make_bundle, rootfs, victim,
                                                             syscall_probe, tmp_path, flipped):
    """A host process swaps a rootfs directory with a symlink to a host
    directory (renameat2 RENAME_EXCHANGE, as fast as it can) while
    containers are created: whatever each create does, the host directory
    never gets a file, a directory, a device or a mount, and loses nothing."""
    real, link = rootfs / flipped, rootfs / (flipped + "-link")
    real.mkdir(exist_ok=True)
    os.symlink(str(victim), str(link))
    (victim / "null").write_text("a host file named like a device\n")
    expected = sorted(os.listdir(str(victim)))
    source = tmp_path / "bind-source"
    source.write_text("bind\n")
    bundles = [race_bundle(make_bundle, rootfs, flipped, source, i) for i in range(RACE_CREATES)]
    stop = tmp_path / "stop-flipping"
    flips = tmp_path / "flipper.out"
    with open(str(flips), "w") as flipper_out:
        flipper = rt.spawn([str(syscall_probe), "exchange:%s:%s:%s" % (real, link, stop)],
                           stdout=flipper_out)
    try:
        for i, bundle in enumerate(bundles):
            cid = "race%d-%s" % (i, os.urandom(6).hex())
            result = rt("create", "--bundle", bundle, cid, check=False)
            if result.returncode == 0:
                rt("delete", "--force", cid)
            else:
                assert result.stderr.strip()
                assert rt("state", cid, check=False).returncode == 1
            assert sorted(os.listdir(str(victim))) == expected, \
                "create %d changed the host directory: %r" % (i, os.listdir(str(victim)))
    finally:
        stop.write_text("")
        flipper.wait(DEFAULT_TIMEOUT)
    assert int(flips.read_text().split("swaps=")[1]) > 0, "the race never ran"
    assert (victim / "null").read_text() == "a host file named like a device\n"
    os.unlink(str(victim / "null"))
    assert_untouched(victim)
    rt.assert_clean()


# --------------------------------------------------------------------------
# masked and read-only paths cannot be undone from inside

UNDO = r"""
exec 2>&1
umount /proc/timer_list; echo umount-timer-list=$?
umount -l /secret; echo umount-secret=$?
umount /sys/firmware; echo umount-firmware=$?
umount /proc/sys; echo umount-sys=$?
mount -o remount,rw /proc/sys; echo remount-sys=$?
mount -o remount,bind,rw /proc/sys; echo remount-bind-sys=$?
mount -o remount,rw /sys/firmware; echo remount-firmware=$?
mount -o remount,rw /rodir; echo remount-rodir=$?
mkdir -p /tmp/p; mount -t proc proc /tmp/p; echo mount-proc=$?
unshare -U -r -m sh -c '
    umount /proc/timer_list; echo userns-umount-timer-list=$?
    umount -l /secret; echo userns-umount-secret=$?
    umount -l /sys/firmware; echo userns-umount-firmware=$?
    mount -o remount,bind,rw /proc/sys; echo userns-remount-sys=$?
    mount -o remount,bind,rw /rodir; echo userns-remount-rodir=$?
    wc -c < /secret | sed "s/^/userns-secret-bytes=/"
'; echo userns=$?
unshare -U -r -m -p -f sh -c 'mkdir -p /tmp/q; mount -t proc proc /tmp/q; echo userns-mount-proc=$?'
wc -c < /proc/timer_list | sed "s/^/timer-list-bytes=/"
wc -c < /secret | sed "s/^/secret-bytes=/"
ls /sys/firmware | wc -l | sed "s/^/firmware-entries=/"
touch /rodir/x; echo touch-rodir=$?
echo 1 > /proc/sys/kernel/ns_last_pid; echo write-sys=$?
"""

COUNTS = ("userns", "timer-list-bytes", "secret-bytes", "firmware-entries", "userns-secret-bytes")


def test_masked_and_readonly_paths_cannot_be_undone(rt, make_bundle, rootfs, cid):
    (rootfs / "secret").write_text("the secret\n")
    (rootfs / "rodir").mkdir()
    bundle = make_bundle(["sh", "-c", UNDO],
                         linux={"maskedPaths": ["/proc/timer_list", "/secret", "/sys/firmware"],
                                "readonlyPaths": ["/proc/sys", "/rodir"]})
    out = rt("run", "--bundle", bundle, cid).stdout
    results = dict(line.split("=", 1) for line in out.splitlines()
                   if "=" in line and " " not in line.split("=", 1)[0])
    # the user namespace itself may be created: what matters is that nothing
    # in it could be undone
    attempts = {k: v for k, v in results.items() if k not in COUNTS}
    assert len(attempts) == 17, out
    assert {k: v for k, v in attempts.items() if v == "0"} == {}, out
    # and everything is still hidden
    assert results["timer-list-bytes"] == "0", out
    assert results["secret-bytes"] == "0", out
    assert results["firmware-entries"] == "0", out
    assert results.get("userns-secret-bytes", "0") == "0", out
    assert (rootfs / "secret").read_text() == "the secret\n"
    assert not (rootfs / "rodir" / "x").exists()


# --------------------------------------------------------------------------
# the state directory and IDs

AS_NOBODY = r"""
import errno, json, os, sys
root, cid = sys.argv[1], sys.argv[2]
d = os.path.join(root, cid)
def attempt(name, fn):
    try:
        fn()
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode.get(e.errno, str(e.errno))
out = {}
attempt("list-root", lambda: os.listdir(root))
attempt("list-container-dir", lambda: os.listdir(d))
attempt("read-state", lambda: open(os.path.join(d, "state.json")).read())
attempt("write-fifo", lambda: os.close(os.open(os.path.join(d, "exec.fifo"), os.O_WRONLY | os.O_NONBLOCK)))
attempt("create-in-root", lambda: os.close(os.open(os.path.join(root, "planted"), os.O_CREAT | os.O_WRONLY, 0o644)))
attempt("create-in-container-dir", lambda: os.close(os.open(os.path.join(d, "planted"), os.O_CREAT | os.O_WRONLY, 0o644)))
attempt("rename-container-dir", lambda: os.rename(d, d + "-moved"))
print(json.dumps(out))
"""


@pytest.fixture
def world_readable_root(rt):
    """--root in a world-traversable place: pytest's tmp tree is 0700 and
    would refuse other users before the runtime's own modes are tested."""
    parent = rt.private_dir("mrstate-")
    rt.root = parent / "root"  # the harness lists, deletes and checks this root
    return rt.root


def test_state_files_are_private(rt, make_bundle, world_readable_root, cid):
    rt("create", "--bundle", make_bundle(["sleep", "100"]), cid)
    root = world_readable_root
    assert stat.S_IMODE(os.stat(str(root)).st_mode) & 0o077 == 0, oct(os.stat(str(root)).st_mode)
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = stat.S_IMODE(os.lstat(path).st_mode)
            if IS_RUNC and name == "exec.fifo":
                continue  # runc makes it 0622 (inside its 0700 --root)
            assert mode & 0o066 == 0, "%s is %o" % (path, mode)


def test_other_users_cannot_read_or_write_state(rt, make_bundle, world_readable_root, cid):
    """An existing --root that others can enter: the container's own
    directory and files still keep them out."""
    root_mode = 0o755
    world_readable_root.mkdir()
    os.chmod(str(world_readable_root), root_mode)
    rt("create", "--bundle", make_bundle(["sleep", "100"]), cid)
    result = subprocess.run([sys.executable, "-c", AS_NOBODY, str(world_readable_root), cid],
                            user=65534, group=65534, extra_groups=[], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=DEFAULT_TIMEOUT)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    container_dir = {k: v for k, v in outcome.items() if k not in ("list-root", "create-in-root")}
    if IS_RUNC:  # runc's container dir is 0711 and exec.fifo 0622
        container_dir.pop("write-fifo")
    assert {k: v for k, v in container_dir.items() if v == "ok"} == {}, outcome
    assert rt.state(cid)["status"] == "created"
    for name in ("planted", cid + "-moved"):
        if (world_readable_root / name).exists():
            os.unlink(str(world_readable_root / name))
    assert not (world_readable_root / cid / "planted").exists()


@pytest.mark.parametrize("command", [["state"], ["start"], ["kill"], ["kill", "--all"],
                                     ["delete"], ["delete", "--force"]],
                         ids=lambda c: "-".join(c).replace("--", ""))
@pytest.mark.parametrize("bad_id", ["../victim", "../../victim", "/victim-abs", "a/../../victim"])
def test_ids_cannot_reach_outside_root(rt, victim, tmp_path, command, bad_id):
    """A directory outside --root that looks like a container's: no command
    given an ID with a path in it may touch it."""
    rt.root.mkdir()
    (victim / "state.json").write_text('{"id": "victim", "pid": 1}')
    if bad_id == "/victim-abs":
        bad_id = str(victim)
    result = rt(*(command + [bad_id]), check=False)
    if command != ["delete", "--force"]:  # which may succeed: "nothing to delete"
        assert result.returncode != 0, result
        assert result.stderr.strip()
    assert sorted(os.listdir(str(victim))) == ["precious", "state.json"]
    assert os.path.isdir(str(victim))
    if IS_MINIRUN and result.returncode != 0:
        assert "invalid container id" in result.stderr
