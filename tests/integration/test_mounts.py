"""Root filesystem and mounts: readonly root, relative root.path, mounts in
order, bind/rbind/ro, tmpfs options, the special filesystems, propagation,
symlinked destinations that point out of the rootfs, --no-pivot,
maskedPaths and readonlyPaths."""

import os
import shutil
import subprocess

import pytest

from .helpers import IS_RUNC, base_config, bind_mount, mountinfo, run_through_shell, tmpfs_mount

MOUNTINFO_SCRIPT = "cat /proc/self/mountinfo"


def parse_mountinfo(text):
    entries = []
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        sep = parts.index("-")
        entries.append({"mountpoint": parts[4], "options": parts[5].split(","),
                        "optional": parts[6:sep], "fstype": parts[sep + 1],
                        "superoptions": parts[sep + 3].split(",")})
    return entries


def last_mount_at(entries, mountpoint):
    found = [e for e in entries if e["mountpoint"] == mountpoint]
    assert found, "nothing mounted at %s: %r" % (mountpoint, [e["mountpoint"] for e in entries])
    return found[-1]


def run_out(rt, bundle, cid, **kwargs):
    return rt("run", "--bundle", bundle, cid, **kwargs).stdout


# --------------------------------------------------------------------------
# the root filesystem

def test_the_hosts_root_is_detached_after_the_pivot(rt, make_bundle, cid):
    """pivot_root(".", ".") stacks the host's root on the container's and the
    runtime unmounts it: the container's mount table holds its root and the
    mounts its config asks for, and none of the host's."""
    bundle = make_bundle(["cat", "/proc/self/mountinfo"])
    points = [line.split()[4] for line in run_out(rt, bundle, cid).splitlines()]
    wanted = ["/"] + [m["destination"] for m in base_config("rootfs")["mounts"]]
    assert sorted(points) == sorted(wanted), points


def test_readonly_root(rt, make_bundle, rootfs, cid):
    script = ("touch /x 2>&1; echo rc=$?; touch /tmp/y && echo tmp-ok; "
              "touch /dev/z && echo dev-ok")
    bundle = make_bundle(["sh", "-c", script], root={"readonly": True},
                         extra_mounts=[tmpfs_mount("/tmp", "nosuid", "nodev")])
    out = run_out(rt, bundle, cid)
    assert "Read-only file system" in out
    assert "rc=1" in out
    assert "tmp-ok" in out and "dev-ok" in out
    assert not (rootfs / "x").exists()
    assert not (rootfs / "tmp" / "y").exists()


def test_readonly_root_is_a_readonly_mount(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/mountinfo"], root={"readonly": True})
    root = last_mount_at(parse_mountinfo(run_out(rt, bundle, cid)), "/")
    assert "ro" in root["options"]


def test_writable_root_by_default(rt, make_bundle, rootfs, cid):
    bundle = make_bundle(["sh", "-c", "echo data > /written && echo ok"])
    assert run_out(rt, bundle, cid).strip() == "ok"
    assert (rootfs / "written").read_text() == "data\n"


def test_relative_root_path_is_relative_to_the_bundle(rt, make_bundle, rootfs, cid):
    bundle = make_bundle(["sh", "-c", "cat /marker"], root={"path": "rootfs"})
    shutil.copytree(str(rootfs), str(bundle / "rootfs"), symlinks=True)
    (bundle / "rootfs" / "marker").write_text("relative-root\n")
    # run from somewhere else: the path must not be taken relative to the cwd
    out = rt("run", "--bundle", bundle, cid, cwd="/").stdout
    assert out == "relative-root\n"


def test_relative_bundle_path(rt, make_bundle, cid, tmp_path):
    bundle = make_bundle(["echo", "rel-bundle"])
    out = rt("run", "--bundle", os.path.relpath(str(bundle), str(tmp_path)), cid,
             cwd=tmp_path).stdout
    assert out == "rel-bundle\n"


def test_no_pivot(rt, make_bundle, rootfs, cid, tmp_path):
    (rootfs / "marker").write_text("no-pivot\n")
    bundle = make_bundle(["sh", "-c", "cat /marker; ls /"])
    with open(str(tmp_path / "out"), "w") as out:
        rt("create", "--no-pivot", "--bundle", bundle, cid, stdout=out)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    lines = (tmp_path / "out").read_text().split()
    assert lines[0] == "no-pivot"
    assert sorted(lines[1:]) == sorted(os.listdir(str(rootfs)))


FRESH_PROC = 'unshare -U -r -m -p -f sh -c "mount -t proc proc /tmp && echo mounted || echo refused"'


@pytest.mark.parametrize("pivot", [True, False])
def test_no_fresh_proc_can_be_mounted_from_a_new_user_namespace(rt, make_bundle, cid, pivot):
    """The kernel lets a new user namespace mount proc only where a fully
    visible proc already is in the mount namespace. With --no-pivot the
    host's mounts would still be there under the moved rootfs: they are
    detached first, so the answer is the same as with pivot_root. (The
    container's own /proc is not fully visible: a path in it is masked.)"""
    bundle = make_bundle(["sh", "-c", FRESH_PROC],
                         linux={"maskedPaths": ["/proc/kcore", "/proc/keys"], "readonlyPaths": ["/proc/sys"]})
    flags = () if pivot else ("--no-pivot",)
    assert rt("run", *flags, "--bundle", bundle, cid).stdout == "refused\n"


# --------------------------------------------------------------------------
# bind mounts

@pytest.fixture
def hostdir(tmp_path):
    path = tmp_path / "hostdir"
    path.mkdir()
    (path / "marker").write_text("from-host\n")
    return path


def test_bind_mount_a_file(rt, make_bundle, tmp_path, cid):
    src = tmp_path / "hostfile"
    src.write_text("file-content\n")
    bundle = make_bundle(["cat", "/etc/bound-file"],
                         extra_mounts=[bind_mount(src, "/etc/bound-file")])
    assert run_out(rt, bundle, cid) == "file-content\n"


def test_bind_mount_a_directory_read_write(rt, make_bundle, hostdir, cid):
    bundle = make_bundle(["sh", "-c", "cat /data/marker; echo inside > /data/new"],
                         extra_mounts=[bind_mount(hostdir, "/data", "bind")])
    assert run_out(rt, bundle, cid) == "from-host\n"
    assert (hostdir / "new").read_text() == "inside\n"


@pytest.mark.parametrize("kind", ["bind", "rbind"])
def test_bind_mount_read_only(rt, make_bundle, hostdir, cid, kind):
    bundle = make_bundle(["sh", "-c", "cat /data/marker; touch /data/new 2>&1; echo rc=$?"],
                         extra_mounts=[bind_mount(hostdir, "/data", kind, "ro")])
    out = run_out(rt, bundle, cid)
    assert out.startswith("from-host\n")
    assert "Read-only file system" in out and "rc=1" in out
    assert not (hostdir / "new").exists()


@pytest.mark.parametrize("kind, submount_visible", [("bind", False), ("rbind", True)])
def test_rbind_includes_submounts(rt, make_bundle, hostdir, cid, kind, submount_visible):
    sub = hostdir / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(sub)], check=True)
    try:
        (sub / "in-submount").write_text("x")
        bundle = make_bundle(["sh", "-c", "ls /data/sub; cat /data/marker"],
                             extra_mounts=[bind_mount(hostdir, "/data", kind)])
        out = run_out(rt, bundle, cid).split()
        assert "from-host" in out
        assert ("in-submount" in out) == submount_visible
    finally:
        subprocess.run(["umount", str(sub)], check=True)


def kernel_has_mount_setattr():
    import ctypes
    import errno
    libc = ctypes.CDLL(None, use_errno=True)
    # mount_setattr is 442 on x86_64 and aarch64; EBADF/EINVAL: there, ENOSYS: not (before 5.12)
    if libc.syscall(442, -1, b"", 0, None, 0) == -1 and ctypes.get_errno() == errno.ENOSYS:
        return False
    return True


# Options that only clear a flag (rrw, rsuid, rdev, rexec) must reach
# mount_setattr's clear mask: a submount the host made read-only, nosuid,
# nodev and noexec shows none of those flags in the container, while the
# same rbind without them keeps all four (the control).
CLEARED = {"ro": "rrw", "nosuid": "rsuid", "nodev": "rdev", "noexec": "rexec"}


@pytest.mark.skipif(not kernel_has_mount_setattr(), reason="recursive mount attributes need mount_setattr (Linux 5.12)")
@pytest.mark.parametrize("clearing", [False, True], ids=["control", "cleared"])
def test_recursive_attributes_that_clear_a_flag_reach_every_submount(rt, make_bundle, hostdir, cid, clearing):
    sub = hostdir / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro,nosuid,nodev,noexec", "tmpfs", str(sub)], check=True)
    try:
        options = list(CLEARED.values()) if clearing else []
        bundle = make_bundle(["cat", "/proc/self/mountinfo"],
                             extra_mounts=[bind_mount(hostdir, "/data", "rbind", *options)])
        submount = last_mount_at(parse_mountinfo(run_out(rt, bundle, cid)), "/data/sub")
        flags = {flag for flag in CLEARED if flag in submount["options"]}
        assert flags == (set() if clearing else set(CLEARED)), submount["options"]
    finally:
        subprocess.run(["umount", str(sub)], check=True)


def test_mounts_are_applied_in_order(rt, make_bundle, hostdir, cid):
    """A later mount over an earlier one wins."""
    bundle = make_bundle(["ls", "/mnt/x"], extra_mounts=[
        tmpfs_mount("/mnt/x"), bind_mount(hostdir, "/mnt/x")])
    assert run_out(rt, bundle, cid).split() == ["marker"]
    bundle = make_bundle(["ls", "/mnt/x"], extra_mounts=[
        bind_mount(hostdir, "/mnt/x"), tmpfs_mount("/mnt/x")])
    assert run_out(rt, bundle, cid + "b").split() == []


def test_nested_mounts(rt, make_bundle, hostdir, cid):
    """A mount inside an earlier mount: the destination is created in it."""
    bundle = make_bundle(["sh", "-c", "cat /outer/inner/marker; cat /proc/self/mountinfo"],
                         extra_mounts=[tmpfs_mount("/outer"), bind_mount(hostdir, "/outer/inner")])
    out = run_out(rt, bundle, cid)
    assert out.startswith("from-host\n")
    entries = parse_mountinfo(out.split("\n", 1)[1])
    assert last_mount_at(entries, "/outer")["fstype"] == "tmpfs"
    last_mount_at(entries, "/outer/inner")


# --------------------------------------------------------------------------
# tmpfs and the special filesystems

def test_tmpfs_options(rt, make_bundle, cid):
    bundle = make_bundle(
        ["sh", "-c", "stat -c %a /t; cat /proc/self/mountinfo"],
        extra_mounts=[tmpfs_mount("/t", "nosuid", "nodev", "noexec", "mode=710", "size=1m")])
    out = run_out(rt, bundle, cid)
    mode, rest = out.split("\n", 1)
    assert mode == "710"
    t = last_mount_at(parse_mountinfo(rest), "/t")
    assert t["fstype"] == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= set(t["options"])
    assert "size=1024k" in t["superoptions"]
    assert "mode=710" in t["superoptions"]


def test_readonly_tmpfs(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "touch /t/x 2>&1; echo rc=$?"],
                         extra_mounts=[tmpfs_mount("/t", "ro")])
    out = run_out(rt, bundle, cid)
    assert "Read-only file system" in out and "rc=1" in out


def test_default_special_filesystems(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/mountinfo"])
    entries = parse_mountinfo(run_out(rt, bundle, cid))
    expected = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts",
                "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/sys": "sysfs"}
    for mountpoint, fstype in expected.items():
        assert last_mount_at(entries, mountpoint)["fstype"] == fstype, mountpoint
    assert "ro" in last_mount_at(entries, "/sys")["options"]
    assert "nosuid" in last_mount_at(entries, "/dev")["options"]
    pts = last_mount_at(entries, "/dev/pts")
    assert "ptmxmode=666" in pts["superoptions"]
    assert "mode=620" in pts["superoptions"] and "gid=5" in pts["superoptions"]
    assert {"nosuid", "noexec"} <= set(pts["options"])


def test_dev_mounted_read_only_still_has_its_devices_and_devpts(rt, make_bundle, cid):
    """A read-only /dev (runc remounts it ro once it is populated): the
    devices, symlinks and devpts are there, /proc/mounts shows /dev ro, and
    nothing new can be created in it."""
    cfg = base_config("rootfs")
    dev = next(dict(m) for m in cfg["mounts"] if m["destination"] == "/dev")
    dev["options"] = dev["options"] + ["ro"]
    script = ("test -c /dev/null && test -c /dev/zero && test -c /dev/urandom && echo devices; "
              "test -L /dev/fd && readlink /dev/ptmx; "
              "touch /dev/new 2>/dev/null || echo refused; "
              "grep ' /dev ' /proc/mounts; grep ' /dev/pts ' /proc/mounts")
    bundle = make_bundle(["sh", "-c", script],
                         mounts=[dev if m["destination"] == "/dev" else m for m in cfg["mounts"]])
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["devices", "pts/ptmx", "refused"], lines
    dev_line, pts_line = lines[3].split(), lines[4].split()
    assert (dev_line[2], "ro" in dev_line[3].split(",")) == ("tmpfs", True), lines[3]
    assert pts_line[2] == "devpts", lines[4]


def test_proc_is_the_containers(rt, make_bundle, cid):
    # the shell expands the glob itself, while it is the only process in
    # its pid namespace: nothing from the host shows
    bundle = make_bundle(["sh", "-c", "echo /proc/[0-9]*"])
    assert run_out(rt, bundle, cid).split() == ["/proc/1"]


def test_sysfs_is_read_only(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "touch /sys/x 2>&1; echo rc=$?; ls /sys/kernel >/dev/null && echo listed"])
    out = run_out(rt, bundle, cid)
    assert "rc=1" in out and "listed" in out


def test_mqueue_is_usable(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "ls -a /dev/mqueue | wc -l"])
    assert run_out(rt, bundle, cid).strip() == "2"  # . and ..


# --------------------------------------------------------------------------
# propagation

@pytest.mark.parametrize("flag", ["rprivate", "private", "rslave", "slave", "shared",
                                  "rshared", "unbindable", "runbindable"])
def test_bind_propagation_flags_are_accepted(rt, make_bundle, hostdir, cid, flag):
    bundle = make_bundle(["sh", "-c", "cat /data/marker; cat /proc/self/mountinfo"],
                         extra_mounts=[bind_mount(hostdir, "/data", "rbind", flag)])
    out = run_out(rt, bundle, cid)
    assert out.startswith("from-host\n")
    data = last_mount_at(parse_mountinfo(out.split("\n", 1)[1]), "/data")
    tags = " ".join(data["optional"])
    if flag in ("shared", "rshared"):
        assert "shared:" in tags, data
    elif flag in ("unbindable", "runbindable"):
        assert "unbindable" in tags, data
    elif flag in ("private", "rprivate"):
        assert "shared:" not in tags and "master:" not in tags, data


def propagation_of(entry):
    """The propagation of a mountinfo entry, as mountinfo's optional fields
    say it: "shared", "slave", "shared+slave" or "private"."""
    kinds = sorted({t.split(":")[0] for t in entry["optional"]} & {"shared", "master"})
    return {(): "private", ("shared",): "shared", ("master",): "slave",
            ("master", "shared"): "shared+slave"}[tuple(kinds)]


# What / is in the container for each rootfsPropagation, by the propagation
# of the caller's /. A slave of a private mount has no master: it is private.
ROOT_PROPAGATION = {
    # caller's /: private      shared
    "private": ("private", "private"),
    "rprivate": ("private", "private"),
    "slave": ("private", "slave"),
    "rslave": ("private", "slave"),
    "shared": ("shared", "shared+slave"),
    "rshared": ("shared", "shared+slave"),
}


def run_under_caller_root(rt, bundle, cid, caller_root, tmp_path):
    """`run`, from a mount namespace of its own whose / (and everything
    under it) has the propagation `caller_root`; returns stdout."""
    out_path = tmp_path / ("%s.out" % cid)
    with open(str(out_path), "w") as out:
        result = run_through_shell(
            rt, ["unshare", "--mount", "--propagation", caller_root],
            ["run", "--bundle", str(bundle), cid], dict(os.environ), out, "unshare")
    assert result.returncode == 0, result.stderr
    return out_path.read_text()


@pytest.mark.parametrize("caller_root", ["private", "shared"])
@pytest.mark.parametrize("propagation", sorted(ROOT_PROPAGATION))
def test_rootfs_propagation(rt, make_bundle, cid, tmp_path, propagation, caller_root):
    if IS_RUNC and "shared" in propagation:
        pytest.skip("runc 1.1 leaves / private for (r)shared: it makes the rootfs's parent "
                    "private for pivot_root and never applies the propagation after it")
    bundle = make_bundle(["cat", "/proc/self/mountinfo"],
                         linux={"rootfsPropagation": propagation})
    out = run_under_caller_root(rt, bundle, cid, caller_root, tmp_path)
    root = last_mount_at(parse_mountinfo(out), "/")
    wanted = ROOT_PROPAGATION[propagation][caller_root == "shared"]
    assert propagation_of(root) == wanted, root


def test_container_mounts_do_not_propagate_to_the_host(rt, make_bundle, hostdir, cid, tmp_path):
    bundle = make_bundle(["sleep", "100"],
                         extra_mounts=[bind_mount(hostdir, "/data", "rbind", "rshared")])
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    host = [m["mountpoint"] for m in mountinfo()]
    assert not any(m.startswith(str(tmp_path)) for m in host)


# --------------------------------------------------------------------------
# destinations that are symlinks out of the rootfs

@pytest.mark.parametrize("link", ["absolute", "relative"])
def test_symlinked_destination_stays_inside_the_rootfs(rt, make_bundle, rootfs, cid,
                                                       tmp_path, link):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("host data\n")
    if link == "absolute":
        target = str(victim)
    else:
        target = "../" * (len(rootfs.parts) + 2) + str(victim).lstrip("/")
    os.symlink(target, str(rootfs / "evil"))

    script = "ls /evil/ && touch /evil/pwned && echo tmpfs-usable"
    bundle = make_bundle(["sh", "-c", script], extra_mounts=[tmpfs_mount("/evil")])
    result = rt("run", "--bundle", bundle, cid, check=False)
    # the host directory is untouched whatever the runtime did ...
    assert sorted(os.listdir(str(victim))) == ["precious"]
    assert (victim / "precious").read_text() == "host data\n"
    assert not any(m["mountpoint"].startswith(str(victim)) for m in mountinfo())
    # ... and the tmpfs landed inside the rootfs (the symlink resolved with
    # the rootfs as /, as runc does): the container sees an empty, writable
    # tmpfs through /evil, not the host directory
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["tmpfs-usable"]


def test_symlinked_bind_destination_stays_inside_the_rootfs(rt, make_bundle, rootfs, hostdir,
                                                            cid, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("host data\n")
    os.symlink(str(victim), str(rootfs / "evil"))
    bundle = make_bundle(["sh", "-c", "ls /evil/; echo x > /evil/written; echo done"],
                         extra_mounts=[bind_mount(hostdir, "/evil")])
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert sorted(os.listdir(str(victim))) == ["precious"]
    # resolved inside the rootfs (as runc does): the bind lands there
    assert result.returncode == 0, result.stderr
    assert "precious" not in result.stdout
    assert "marker" in result.stdout


@pytest.mark.parametrize("kind", ["directory", "file"])
def test_destination_through_an_absolute_symlink_inside_the_rootfs_lands_on_its_target(
        rt, make_bundle, rootfs, hostdir, tmp_path, cid, kind):
    """An absolute symlink in the rootfs is resolved with the rootfs as `/`
    (`/conf -> /real/conf`, `/etc/localtime -> /usr/share/zoneinfo/UTC`): the
    mount lands on the target inside the root, as runc does."""
    if kind == "directory":
        (rootfs / "real" / "conf").mkdir(parents=True)
        (rootfs / "real" / "conf" / "original").write_text("rootfs\n")
        os.symlink("/real/conf", str(rootfs / "conf"))
        mount, link, target = bind_mount(hostdir, "/conf"), "/conf/marker", "/real/conf/marker"
    else:
        zone = rootfs / "usr" / "share" / "zoneinfo"
        zone.mkdir(parents=True)
        (zone / "UTC").write_text("rootfs zone\n")
        os.symlink("/usr/share/zoneinfo/UTC", str(rootfs / "etc" / "localtime"))
        mount, link, target = bind_mount(hostdir / "marker", "/etc/localtime"), "/etc/localtime", \
            "/usr/share/zoneinfo/UTC"
    script = "cat %s %s; readlink %s; echo done" % (link, target, link.rsplit("/marker", 1)[0])
    result = rt("run", "--bundle", make_bundle(["sh", "-c", script], extra_mounts=[mount]), cid,
                check=False, log=True)
    assert result.returncode == 0, result.stderr
    symlink = "/real/conf" if kind == "directory" else "/usr/share/zoneinfo/UTC"
    assert result.stdout.split("\n") == ["from-host", "from-host", symlink, "done", ""]
    # in the container's mount namespace only: the rootfs on the host is as it was
    if kind == "directory":
        assert os.listdir(str(rootfs / "real" / "conf")) == ["original"]
    else:
        assert (rootfs / "usr" / "share" / "zoneinfo" / "UTC").read_text() == "rootfs zone\n"
    rt.assert_clean()


# --------------------------------------------------------------------------
# maskedPaths and readonlyPaths

def test_masked_paths(rt, make_bundle, rootfs, cid):
    (rootfs / "secret-file").write_text("do not read\n")
    (rootfs / "secret-dir").mkdir()
    (rootfs / "secret-dir" / "inner").write_text("hidden\n")
    script = ("cat /secret-file; echo '|'; ls -A /secret-dir; echo '|'; "
              "cat /proc/kcore 2>/dev/null | wc -c; echo '|'; "
              "echo x > /secret-dir/new 2>&1; echo rc=$?")
    bundle = make_bundle(["sh", "-c", script],
                         linux={"maskedPaths": ["/secret-file", "/secret-dir", "/proc/kcore",
                                                "/does/not/exist"]})
    out = run_out(rt, bundle, cid)
    file_part, dir_part, kcore, write = [p.strip() for p in out.split("|")]
    assert file_part == ""
    assert dir_part == ""
    assert kcore == "0"
    assert "rc=0" not in write
    # the host files are intact
    assert (rootfs / "secret-file").read_text() == "do not read\n"
    assert os.listdir(str(rootfs / "secret-dir")) == ["inner"]


def test_readonly_paths(rt, make_bundle, rootfs, cid):
    (rootfs / "rodir").mkdir()
    script = ("exec 2>&1; touch /rodir/x; echo rc=$?; "
              "echo 1 > /proc/sys/kernel/ns_last_pid; echo rc=$?; "
              "cat /proc/sys/kernel/ostype; touch /tmp/ok && echo writable-elsewhere")
    bundle = make_bundle(["sh", "-c", script],
                         linux={"readonlyPaths": ["/rodir", "/proc/sys", "/does/not/exist"]})
    out = run_out(rt, bundle, cid)
    assert out.count("Read-only file system") == 2, out
    assert "rc=0" not in out
    assert "Linux" in out
    assert "writable-elsewhere" in out


# --------------------------------------------------------------------------
# tmpcopyup and the cgroup filesystem

def test_tmpcopyup_copies_the_images_directory_onto_the_tmpfs(rt, make_bundle, rootfs, cid):
    """A tmpfs with tmpcopyup at /etc starts with what the image's /etc held:
    files (content, owner, mode), subdirectories and symlinks; writes land in
    the tmpfs, not in the image."""
    etc = rootfs / "etc"
    (etc / "sub").mkdir()
    (etc / "sub" / "deep").write_text("deep-content\n")
    os.chown(str(etc / "sub" / "deep"), 1234, 5678)
    os.chmod(str(etc / "sub" / "deep"), 0o640)
    os.symlink("sub/deep", str(etc / "link"))
    script = ("grep -c . /etc/passwd; cat /etc/sub/deep; readlink /etc/link; "
              "stat -c '%u:%g:%a' /etc/sub/deep; echo new > /etc/written; "
              "grep ' /etc ' /proc/self/mounts | cut -d' ' -f3")
    bundle = make_bundle(["sh", "-c", script], extra_mounts=[tmpfs_mount("/etc", "tmpcopyup")])
    out = run_out(rt, bundle, cid).split()
    assert out == ["2", "deep-content", "sub/deep", "1234:5678:640", "tmpfs"]
    assert not (etc / "written").exists()


CGROUP_MOUNT = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}


def test_cgroup_mount_shows_the_containers_own_cgroup(rt, make_bundle, cid):
    """The cgroup filesystem at /sys/fs/cgroup is the container's own: it is
    not empty, and the processes it lists are the container's alone (a host
    hierarchy would list processes outside the pid namespace, shown as 0)."""
    script = "cat $(find /sys/fs/cgroup -name cgroup.procs) | sort -u"
    bundle = make_bundle(["sh", "-c", script], mounts=None, extra_mounts=[
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        CGROUP_MOUNT],
        linux={"namespaces": [{"type": t} for t in
                              ("pid", "network", "ipc", "uts", "mount", "cgroup")]})
    pids = run_out(rt, bundle, cid).split()
    assert pids, "no cgroup.procs under /sys/fs/cgroup"
    assert "0" not in pids, pids
    assert all(int(p) < 10 for p in pids), pids
