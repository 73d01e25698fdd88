"""runc's published advisories of 2019 to 2024, replayed against the runtime.

Each test is the advisory's attack, made from a malicious image (a rootfs the
test builds) or a second container sharing a volume, and each fails on a
runtime that has the bug (tests/mutants/mutations.py plants each bug in
minirun; tests/README.md's table says which mutant each test catches).
CVE-2019-5736 is in test_exe_escape.py; 2025 on in
test_advisories_2025_2026.py.

* CVE-2019-16884, CVE-2019-19921: the runtime's writes to /proc (LSM labels,
  sysctls) taken into the image's files by a volume over /proc, or over a
  part of it. This host has no AppArmor or SELinux, so the sysctls the init
  writes after the mounts carry the attack; the label writes are tested on
  the runtime's own function in a private mount namespace.
* CVE-2021-30465: a mount target swapped for a symlink out of the rootfs
  (renameat2 RENAME_EXCHANGE by a second container on a shared volume), so
  that a later bind's host source resolves into an attacker's directory.
* CVE-2023-27561, CVE-2023-28642: the image's /proc is a symlink, to the
  image's own fake procfs or to where a volume covers procfs.
* CVE-2024-21626: a working directory through /proc/self/fd/N, N an fd the
  runtime leaked (run, exec, detached or not, --preserve-fds), and any fd
  beyond stdio and the preserved ones in the container's processes.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from .helpers import (
    DEFAULT_TIMEOUT, IS_MINIRUN, IS_RUNC, REPO, assert_error, assert_no_traceback, bind_mount, mountinfo,
    run_through_shell, wait_for,
)
from .security_helpers import PROBE, install_probe

SYSCTL = {"net.ipv4.ip_forward": "1"}  # a new network namespace starts with 0
SYSCTL_FILE = "/proc/sys/net/ipv4/ip_forward"
# The container reports the value it got and the file system it read it from
# (busybox's stat -f: f_type in hex; procfs is 9fa0).
REPORT_SYSCTL = ["sh", "-c", "cat %s; stat -f -c %%t %s" % (SYSCTL_FILE, SYSCTL_FILE)]
APPLIED = "1\n9fa0\n"


def fake_procfs(top):
    """The image's imitation of procfs under `top` (what Docker copies into a
    volume declared at /proc): the files the runtime writes after its mounts.
    Returns a snapshot to compare with later: not one byte may change."""
    files = {"sys/net/ipv4/ip_forward": "0\n", "self/attr/exec": "", "self/attr/current": "unconfined\n",
             "self/attr/apparmor/exec": "", "self/oom_score_adj": "0\n", "self/setgroups": "allow\n",
             "sys/kernel/cap_last_cap": "1\n"}
    for name, text in files.items():
        path = os.path.join(str(top), name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return snapshot(top)


def snapshot(top):
    found = {}
    for directory, _dirs, names in os.walk(str(top)):
        for name in names:
            path = os.path.join(directory, name)
            with open(path) as f:
                found[os.path.relpath(path, str(top))] = f.read()
    return found


def failed_cleanly(rt, result, cid):
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert_no_traceback(result)
    assert result.stderr.strip()
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def dir_identities(top):
    ids = set()
    for dirpath, _dirs, _files in os.walk(str(top)):
        st = os.lstat(dirpath)
        ids.add("%d:%d" % (st.st_dev, st.st_ino))
    return ids


# --------------------------------------------------------------------------
# CVE-2019-16884, CVE-2019-19921: procfs written through a swapped mount

# (destination of the image's volume, the part of the fake tree it shows,
# a symlink the image has on the way)
VOLUMES = {
    "volume-at-proc": ("/proc", "", None),
    "volume-at-proc-sys": ("/proc/sys", "sys", None),
    "volume-through-a-symlink-into-proc": ("/data", "sys", ("data", "/proc/sys")),
}


@pytest.mark.parametrize("case", sorted(VOLUMES))
def test_cve_2019_16884_a_volume_over_procfs_is_refused(rt, make_bundle, rootfs, cid, case):
    """The image declares a volume at /proc (or at /proc/sys, or at a path
    that is a symlink into /proc) holding a fake procfs: the sysctl, and on a
    host with an LSM the label, would be written into the fake's files and
    silently not apply. Only procfs may be mounted there."""
    destination, part, link = VOLUMES[case]
    before = fake_procfs(rootfs / "fakeproc")
    if link:
        os.symlink(link[1], str(rootfs / link[0]))
    volume = bind_mount(rootfs / "fakeproc" / part, destination)
    bundle = make_bundle(REPORT_SYSCTL, extra_mounts=[volume], linux={"sysctl": SYSCTL})
    index = len(bundle_mounts(bundle)) - 1
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert snapshot(rootfs / "fakeproc") == before, "the runtime wrote into the image's fake procfs"
    if IS_MINIRUN:
        assert_error(result, "mounts[%d]" % index, "only procfs may be mounted there", log=rt.log)
    if result.returncode == 0:  # another runtime may mount it elsewhere; never over procfs
        assert result.stdout == APPLIED
    else:
        failed_cleanly(rt, result, cid)


def bundle_mounts(bundle):
    import json

    with open(str(bundle / "config.json")) as f:
        return json.load(f)["mounts"]


COVER_HOOK = 'mount --bind "$1" "$2"'


# runc 1.1.5 writes its sysctls by path (fd-checked since 1.2.8, with CVE-2025-52881's fix)
@pytest.mark.xfail(IS_RUNC, reason="runc 1.1.5 writes the sysctl into the fake file", strict=False)
@pytest.mark.parametrize("covered", ["/proc", "/proc/sys"])
def test_cve_2019_16884_procfs_covered_after_the_mounts_takes_no_write(rt, make_bundle, rootfs, cid,
                                                                        covered):
    """The mounts pass every check, then the fake procfs covers /proc (here a
    createContainer hook binds it, after the mounts and before the pivot, as
    a mount propagated in or a raced swap would): the runtime must notice,
    from the file it opened, that it is not writing to procfs."""
    before = fake_procfs(rootfs / "fakeproc")
    source = rootfs / "fakeproc" / covered[len("/proc/"):]
    hook = {"path": "/bin/sh", "args": ["sh", "-c", COVER_HOOK, "sh", str(source),
                                        str(rootfs) + covered]}
    bundle = make_bundle(REPORT_SYSCTL, linux={"sysctl": SYSCTL}, hooks={"createContainer": [hook]})
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert snapshot(rootfs / "fakeproc") == before, "the runtime wrote its sysctl into the image's file"
    if IS_MINIRUN:
        assert_error(result, "linux.sysctl.net.ipv4.ip_forward", "procfs", log=rt.log)
    if result.returncode == 0:
        assert result.stdout == APPLIED
    else:
        failed_cleanly(rt, result, cid)


LABEL_WRITE = textwrap.dedent("""
    import ctypes, os, sys
    sys.path.insert(0, sys.argv[1])
    import minirun
    k = minirun.kernel()
    k.mount(None, "/", None, minirun.MS_REC | minirun.MS_PRIVATE)
    k.mount("tmpfs", "/proc", "tmpfs", 0, None)   # the image's volume at /proc
    for name in ("self/attr/exec", "self/attr/apparmor/exec"):
        os.makedirs(os.path.dirname("/proc/" + name), exist_ok=True)
        open("/proc/" + name, "w").close()

    class Process:
        field = "process"
        apparmor_profile = sys.argv[2]
        selinux_label = sys.argv[3]

    try:
        minirun.apply_exec_labels(k, Process)
        print("applied")
    except minirun.Error as exc:
        print("refused", str(exc))
    for name in ("self/attr/exec", "self/attr/apparmor/exec"):
        print(name, repr(open("/proc/" + name).read()))
""")


@pytest.mark.skipif(not IS_MINIRUN, reason="drives minirun's own label write (this host has no LSM)")
@pytest.mark.parametrize("label", ["apparmor", "selinux"])
def test_cve_2019_16884_a_label_is_written_only_to_procfs(label):
    """The init and exec write the LSM label at the very end, in the
    container's mount namespace: with a tmpfs holding look-alike attr files
    over /proc, the write is refused and nothing lands in the files. (The
    function every process of the container goes through, run in a private
    mount namespace: no AppArmor or SELinux here to run it for real.)"""
    profile, selinux = ("a-profile", "") if label == "apparmor" else ("", "system_u:system_r:c_t:s0")
    result = subprocess.run(["unshare", "--mount", sys.executable, "-I", "-c", LABEL_WRITE, str(REPO),
                             profile, selinux], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=DEFAULT_TIMEOUT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("refused "), result.stdout
    field = "process.apparmorProfile" if label == "apparmor" else "process.selinuxLabel"
    assert field in lines[0] and "procfs" in lines[0], lines[0]
    assert lines[1:] == ["self/attr/exec ''", "self/attr/apparmor/exec ''"], result.stdout


# --------------------------------------------------------------------------
# CVE-2023-27561, CVE-2023-28642: the image's /proc is a symlink

@pytest.mark.parametrize("covered_by_a_volume", [False, True], ids=["to-a-fake-procfs", "to-a-volume"])
def test_cve_2023_27561_proc_as_a_symlink_in_the_image_is_refused(rt, make_bundle, rootfs, cid,
                                                                   covered_by_a_volume):
    """/proc -> /fakeproc, the image's imitation: procfs would be mounted
    there. With a volume at /fakeproc after it (CVE-2023-28642), the volume
    covers the procfs: /proc/self/attr/... and /proc/sys/... lead to the
    volume's files. procfs goes on a real /proc or nowhere."""
    before = fake_procfs(rootfs / "fakeproc")
    volume_source = rootfs / "volume"
    volume_before = fake_procfs(volume_source)
    os.rmdir(str(rootfs / "proc"))
    os.symlink("/fakeproc", str(rootfs / "proc"))
    extra = [bind_mount(volume_source, "/fakeproc")] if covered_by_a_volume else []
    bundle = make_bundle(REPORT_SYSCTL, extra_mounts=extra, linux={"sysctl": SYSCTL})
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert snapshot(rootfs / "fakeproc") == before
    assert snapshot(volume_source) == volume_before
    if IS_MINIRUN:
        assert_error(result, "mounts[0]", "/proc is a symlink", log=rt.log)
    if result.returncode == 0:
        assert result.stdout == APPLIED
    else:
        failed_cleanly(rt, result, cid)


# --------------------------------------------------------------------------
# CVE-2021-30465: a mount target swapped for a symlink out of the rootfs

@pytest.fixture
def volumes(tmp_path):
    """The host side of the attack: two volumes the attacker's container
    writes (shared, evil), and a host directory whose subdirectory a victim
    binds (`host/sub`, holding `legit`)."""
    paths = {name: tmp_path / name for name in ("vol-shared", "vol-evil", "host")}
    for path in paths.values():
        path.mkdir()
    (paths["host"] / "sub").mkdir()
    (paths["host"] / "sub" / "legit").write_text("the volume's own file\n")
    return paths


def victim_bundle(make_bundle, volumes, name):
    """The victim mounts the shared volume, the evil one at shared/dir (the
    target the attacker swaps) and then host/sub: if evil lands on the host's
    `host` directory, host/sub resolves to evil/sub, a symlink to /, and the
    host's root is bound into the container."""
    return make_bundle(["ls", "/data"], name=name, extra_mounts=[
        bind_mount(volumes["vol-shared"], "/shared"),
        bind_mount(volumes["vol-evil"], "/shared/dir"),
        bind_mount(volumes["host"] / "sub", "/data")])


def check_victim(rt, result, cid, volumes, alone=True):
    """`alone`: no other container runs (then nothing at all may be left)."""
    assert not [m for m in mountinfo() if m["mountpoint"].startswith(str(volumes["host"]))]
    assert sorted(os.listdir(str(volumes["host"]))) == ["sub"]
    if result.returncode == 0:
        assert result.stdout.split() == ["legit"], "the victim's /data is not its volume: %r" % result.stdout
    elif alone:
        failed_cleanly(rt, result, cid)
    else:  # refused, because the race went its way: fine, if it left no container
        assert result.returncode == 1 and result.stderr.strip(), (result.returncode, result.stderr)
        assert_no_traceback(result)
        assert rt("state", cid, check=False).returncode == 1


def test_cve_2021_30465_a_mount_target_that_is_a_symlink_out_stays_in_the_rootfs(
        rt, make_bundle, volumes, cid):
    """The deterministic half: the attacker's container has already left
    shared/dir as a symlink to the host directory, and evil/sub -> /."""
    attacker = make_bundle(["sh", "-c", "ln -s %s /shared/dir && ln -s / /evil/sub" % volumes["host"]],
                           name="attacker", extra_mounts=[bind_mount(volumes["vol-shared"], "/shared"),
                                                          bind_mount(volumes["vol-evil"], "/evil")])
    rt("run", "--bundle", attacker, cid + "a")
    assert os.readlink(str(volumes["vol-shared"] / "dir")) == str(volumes["host"])
    result = rt("run", "--bundle", victim_bundle(make_bundle, volumes, "victim"), cid, check=False)
    if IS_MINIRUN:
        assert result.returncode == 0, result.stderr
    check_victim(rt, result, cid, volumes)


RACE_VICTIMS = 16


def test_cve_2021_30465_a_mount_target_swapped_in_a_loop_by_a_second_container(
        rt, make_bundle, rootfs, syscall_probe, volumes, cid):
    """The race itself: a second container swaps shared/dir (a directory)
    with shared/link (a symlink to the host directory) with renameat2
    RENAME_EXCHANGE as fast as it can while victims are created. Whichever
    way each one goes, no mount lands outside its rootfs. The swapper stops
    when the test writes shared/stop (or after 10^8 swaps), leaving the two
    names as they began."""
    install_probe(rootfs, syscall_probe)
    (volumes["vol-shared"] / "dir").mkdir()
    os.symlink(str(volumes["host"]), str(volumes["vol-shared"] / "link"))
    os.symlink("/", str(volumes["vol-evil"] / "sub"))
    swapper = make_bundle([PROBE, "exchange:/shared/dir:/shared/link:/shared/stop"], name="swapper",
                          extra_mounts=[bind_mount(volumes["vol-shared"], "/shared")])
    racing = rt.popen("run", "--bundle", swapper, cid + "s")
    try:
        wait_for(lambda: rt.status(cid + "s") == "running", what="the swapper")
        for i in range(RACE_VICTIMS):
            victim = "%s-v%d" % (cid, i)
            result = rt("run", "--bundle", victim_bundle(make_bundle, volumes, "victim%d" % i), victim,
                        check=False)
            check_victim(rt, result, victim, volumes, alone=False)
    finally:
        (volumes["vol-shared"] / "stop").write_text("")
        done = rt.finish(racing)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split("swaps=")[1]) > 0, "the race never ran"
    rt.assert_clean()


# --------------------------------------------------------------------------
# CVE-2024-21626: fds and a working directory leaked from the runtime

FDS = range(3, 13)
# Where the process stands (device:inode, compared with the rootfs's
# directories) and which fds it holds (ls -l shows "N -> target"; the
# directory ls reads is closed before it reads the links, so it has none).
REPORT = "stat -c cwd=%d:%i . ; ls -l /proc/self/fd/"


def report_of(text):
    cwd, fds = None, {}
    for line in text.splitlines():
        if line.startswith("cwd="):
            cwd = line[4:]
        elif " -> " in line:
            name, target = line.split(" -> ", 1)
            fds[name.split()[-1]] = target
    return cwd, fds


def run_process(rt, make_bundle, variant, cid, args, cwd="/"):
    """The process `args` started the way `variant` says (run or exec; -d:
    detached; preserve: a host file handed over on fd 3 with --preserve-fds
    1) by a caller that leaks host directories; returns the runtime's result and what the process printed (it
    writes to /shared/out, whichever way it was started)."""
    out = rt.tmp / "shared" / "out"
    if out.exists():
        out.unlink()
    script = ["sh", "-c", "(%s) > /shared/out.tmp 2>&1; mv /shared/out.tmp /shared/out" % " ".join(args)]
    options = (["-d"] if variant.endswith("-d") else []) + \
        (["--preserve-fds", "1"] if variant.endswith("preserve") else [])
    if variant.startswith("run"):
        command = ["run"] + options + ["--bundle", make_bundle(script, shared=True, process={"cwd": cwd}), cid]
    else:
        if rt.status(cid) is None:
            rt("run", "-d", "--bundle", make_bundle(["sleep", "1000"], shared=True), cid)
        command = ["exec"] + options + ["--cwd", cwd, cid] + script
    # The caller leaks a host directory on fds 3 to 10 (fd 3: a file it
    # hands over on purpose, with --preserve-fds 1), as a careless engine
    # would; the runtime's own fds come on top.
    victim = rt.tmp / "victim"
    victim.mkdir(exist_ok=True)
    fd3 = '3>>"$HANDED"' if variant.endswith("preserve") else '3<"$VICTIM"'
    leaks = " ".join('%d<"$VICTIM"' % n for n in range(4, 11))
    env = dict(os.environ, HANDED=str(rt.tmp / "handed-over"), VICTIM=str(victim))
    with open(str(rt.tmp / "runtime.out"), "a") as stdout:
        result = run_through_shell(rt, ["bash", "-c", 'exec "$@" %s %s' % (fd3, leaks), "bash"], command, env,
                                   stdout, variant)
    if result.returncode != 0:
        return result, None
    wait_for(out.exists, what="the process's report")
    return result, out.read_text()


VARIANTS = ["run", "run-d", "run-preserve", "exec", "exec-d", "exec-preserve"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_cve_2024_21626_only_stdio_and_preserved_fds_reach_the_process(rt, make_bundle, rootfs, cid,
                                                                       variant):
    """Whatever the runtime had open (its state directory, cgroup
    directories, the bundle, sockets, namespace files) or its caller leaked
    (host directories), the container's process holds fds 0-2 and, with
    --preserve-fds 1, fd 3: nothing else."""
    result, text = run_process(rt, make_bundle, variant, cid, [REPORT])
    assert result.returncode == 0, result.stderr
    cwd, fds = report_of(text)
    wanted = {"0", "1", "2"} | ({"3"} if "preserve" in variant else set())
    assert set(fds) == wanted, text
    if "preserve" in variant:
        assert fds["3"].endswith("handed-over"), text
    assert cwd in dir_identities(rootfs), text


@pytest.mark.parametrize("variant", ["run", "run-d", "exec", "exec-d"])
def test_cve_2024_21626_cwd_through_an_fd_of_the_runtime_stays_inside(rt, make_bundle, rootfs, cid,
                                                                      variant):
    """process.cwd (or exec --cwd) is /proc/self/fd/N, N = 3..12: any
    directory the runtime holds open while it enters the cwd (runc 1.1.11
    held the host's /sys/fs/cgroup; here the caller leaks host directories
    too) would put the process outside its rootfs. Each is refused, naming
    the cwd, or lands inside."""
    inside = dir_identities(rootfs)
    for n in FDS:
        run_cid = "%s-%d" % (cid, n) if variant.startswith("run") else cid
        result, text = run_process(rt, make_bundle, variant, run_cid, [REPORT], cwd="/proc/self/fd/%d" % n)
        if result.returncode != 0:
            assert_no_traceback(result)
            if IS_MINIRUN:
                assert result.stderr.strip().count("\n") == 0, result.stderr
                assert "cwd" in result.stderr and "/proc/self/fd/%d" % n in result.stderr, result.stderr
            continue
        cwd, _fds = report_of(text)
        assert cwd in inside, "fd %d took the process outside its rootfs: %s" % (n, text)
