"""runc's advisories of 2025-2026, replayed against the runtime under test from
the attacker's side: a hostile image (the bundle's rootfs, built here), a
volume it is given, or a createContainer hook standing in for a racing second
container at the one moment the race needs (after /dev is set up, before the
masking and the pivot's aftermath). Each test fails on a runtime with the bug.

* CVE-2025-31133: masking binds /dev/null over a file; a /dev/null swapped for
  a symlink to a procfs file binds that file, writable, instead.
* CVE-2025-52565: /dev/console is bound from /dev/pts/N resolved by path; a
  /dev/pts/N that names another file gets that file chowned and bound.
* CVE-2025-52881: sysctl (and LSM label) writes to /proc land elsewhere when a
  mount or a symlink stands on the path, or /proc is no procfs at all.
* CVE-2026-41579: an image whose /dev (or /dev/pts, /dev/shm, /dev/mqueue) is
  a symlink out of the root makes the runtime create or remove files there.

Nothing here can write a host kernel knob, even on a vulnerable runtime: the
procfs files the attacks aim at are the container's own (its uts namespace's
domainname), the redirected sysctl lands in a decoy file, and the tests only
look (stat, cat) at what would have been made writable.
"""

import json
import os

import pytest

from .helpers import BUSYBOX, IS_MINIRUN, base_config, bind_mount, mounts_under, read_until, tmpfs_mount
from .test_terminal import console  # noqa: F401  (the console-socket fixture)

# What the swapped /dev/null points to. The advisory's target is a host-global
# knob (/proc/sys/kernel/core_pattern, /proc/sysrq-trigger); here it is one of
# the container's own uts namespace, because a vulnerable runtime really
# writes through it: runc 1.1 reopens /dev/null for stdio it takes for
# /dev/null, and the container's output then went into the knob.
PROC_TARGET = "/proc/sys/kernel/domainname"


def hook(script):
    """A createContainer hook: the host's busybox sh running `script` in the
    container's mount namespace, after its mounts and /dev, before the pivot."""
    return {"createContainer": [{"path": BUSYBOX, "args": ["busybox", "sh", "-ec", script]}]}


def mounts_without(*destinations):
    return [m for m in base_config("/")["mounts"] if m["destination"] not in destinations]


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as f:
        f.write(text)
    os.chmod(str(path), mode)


def refused_or(result, *fields):
    """True if the runtime refused (exit 1, no traceback, minirun naming one
    of `fields`); False if it ran the container, whose output is then judged."""
    if result.returncode == 0:
        return False
    assert result.returncode == 1, (result.returncode, result.stderr)
    if IS_MINIRUN:
        assert any(field in result.stderr for field in fields), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    return True


# --- CVE-2025-31133: /dev/null swapped before masking -----------------------------------

SHOW_SECRET = ["sh", "-c", "stat -c '%F %t:%T' /etc/secret; echo content:$(cat /etc/secret)"]


def assert_masked_by_the_null_device(rt, bundle, cid):
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    if refused_or(result, "linux.maskedPaths"):
        return
    # A vulnerable runtime shows the procfs file here, writable by the container's root.
    assert result.stdout.splitlines() == ["character special file 1:3", "content:"], result.stdout


def test_31133_dev_null_swapped_after_dev_is_made_is_never_bound_over_a_masked_path(rt, rootfs, make_bundle, cid):
    # The race won deterministically: a hook replaces the /dev/null the runtime
    # made by a symlink to a procfs file, before the masking.
    write(rootfs / "etc/secret", "secret\n")
    bundle = make_bundle(SHOW_SECRET, linux={"maskedPaths": ["/etc/secret"]},
                         hooks=hook("rm %s/dev/null; ln -s %s %s/dev/null" % (rootfs, PROC_TARGET, rootfs)))
    assert_masked_by_the_null_device(rt, bundle, cid)


def test_31133_a_dev_volume_whose_null_is_a_symlink_is_never_bound_over_a_masked_path(
        rt, rootfs, tmp_path, make_bundle, cid):
    # /dev is a volume the attacker filled (or a second container swaps in):
    # no runtime-made /dev/null replaces its symlink.
    volume = tmp_path / "devvol"
    volume.mkdir()
    os.symlink(PROC_TARGET, str(volume / "null"))
    write(rootfs / "etc/secret", "secret\n")
    bundle = make_bundle(SHOW_SECRET, linux={"maskedPaths": ["/etc/secret"]},
                         mounts=mounts_without("/dev", "/dev/pts", "/dev/shm", "/dev/mqueue")
                         + [bind_mount(volume, "/dev")])
    assert_masked_by_the_null_device(rt, bundle, cid)
    assert os.readlink(str(volume / "null")) == PROC_TARGET


def test_31133_an_image_dev_null_symlink_without_a_dev_mount_is_replaced_or_refused(rt, rootfs, make_bundle, cid):
    # No /dev mount: the image's own /dev/null (a symlink) is what /dev holds.
    os.symlink(PROC_TARGET, str(rootfs / "dev/null"))
    write(rootfs / "etc/secret", "secret\n")
    bundle = make_bundle(SHOW_SECRET, linux={"maskedPaths": ["/etc/secret"]},
                         mounts=mounts_without("/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"))
    assert_masked_by_the_null_device(rt, bundle, cid)


# --- CVE-2025-52565: /dev/pts/N redirected while /dev/console is bound -------------------

# Moves the container's devpts aside and puts in its place a directory whose
# ptmx leads to the real one (so the pty is real) and whose 0..7 lead to a
# file the config protects: a runtime that reaches the slave by its
# /dev/pts/N path chowns that file and binds it on /dev/console, before the
# read-only paths are applied.
FAKE_PTS = ("cd {rootfs}/dev; mkdir realpts; mount -o move pts realpts; "
            "ln -s ../realpts/ptmx pts/ptmx; for n in 0 1 2 3 4 5 6 7; do ln -s /etc/ro-secret pts/$n; done")


def test_52565_dev_console_is_bound_from_the_pty_itself_not_its_path(rt, rootfs, make_bundle, console, cid):
    write(rootfs / "etc/ro-secret", "original\n")
    script = "stat -c '%F %t' /dev/console; echo end-of-test"
    bundle = make_bundle(["sh", "-c", script],
                         process={"terminal": True, "user": {"uid": 1000, "gid": 1000}},
                         linux={"readonlyPaths": ["/etc/ro-secret"]},
                         hooks=hook(FAKE_PTS.format(rootfs=rootfs)))
    receiver = console()
    rt("create", "--bundle", bundle, "--console-socket", receiver.path, cid)
    (master,) = receiver.receive()
    rt("start", cid)
    out = read_until(master, "end-of-test").decode().replace("\r", "")
    rt.wait_status(cid, "stopped")
    # the pty slave (major 136 = 0x88), never the file /dev/pts/0 names
    assert "character special file 88" in out, out
    secret = os.stat(str(rootfs / "etc/ro-secret"))
    assert (secret.st_uid, secret.st_gid) == (0, 0)  # not chowned to the process user
    assert open(str(rootfs / "etc/ro-secret")).read() == "original\n"


# --- CVE-2025-52881: procfs writes redirected ---------------------------------------------

SYSCTL = {"net.ipv4.ip_forward": "1"}
FIELD = "linux.sysctl.net.ipv4.ip_forward"


def decoy_dir(tmp_path):
    """A host directory standing in for /proc/sys/net/ipv4: its ip_forward is
    where a redirected sysctl write would land."""
    decoy = tmp_path / "decoy"
    write(decoy / "ip_forward", "untouched\n")
    return decoy


def assert_sysctl_not_redirected(rt, bundle, cid, victim, *also):
    """The write never lands in `victim`: refused naming the sysctl, or
    (`also`) earlier, naming the mount that would have covered /proc."""
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert open(str(victim)).read() == "untouched\n", "the sysctl write landed in %s" % victim
    refused_or(result, FIELD, *also)


def test_52881_a_sysctl_is_not_written_through_a_bind_the_image_steers_over_proc_sys(
        rt, rootfs, tmp_path, make_bundle, cid):
    # The config binds a volume at /data; the image makes /data a symlink
    # into /proc/sys, so the volume covers /proc/sys/net/ipv4.
    decoy = decoy_dir(tmp_path)
    os.symlink("/proc/sys/net/ipv4", str(rootfs / "data"))
    bundle = make_bundle(["true"], linux={"sysctl": SYSCTL}, extra_mounts=[bind_mount(decoy, "/data")])
    assert_sysctl_not_redirected(rt, bundle, cid, decoy / "ip_forward", "(bind on /data)")


def test_52881_a_sysctl_is_not_written_through_a_mount_over_proc_sys(rt, tmp_path, make_bundle, cid):
    decoy = decoy_dir(tmp_path)
    bundle = make_bundle(["true"], linux={"sysctl": SYSCTL},
                         extra_mounts=[bind_mount(decoy, "/proc/sys/net/ipv4")])
    assert_sysctl_not_redirected(rt, bundle, cid, decoy / "ip_forward", "(bind on /proc/sys/net/ipv4)")


@pytest.mark.parametrize("fake", ["file", "symlink"])
def test_52881_a_sysctl_is_not_written_into_an_image_proc_that_is_no_procfs(rt, rootfs, make_bundle, cid, fake):
    # No proc mount: /proc is the image's directory, a file (or a symlink to
    # one) where the knob should be.
    knob = rootfs / "proc/sys/net/ipv4/ip_forward"
    victim = rootfs / "etc/victim"
    write(victim, "untouched\n")
    if fake == "file":
        write(knob, "untouched\n")
        victim = knob
    else:
        os.makedirs(str(knob.parent))
        os.symlink("/etc/victim", str(knob))
    bundle = make_bundle(["true"], linux={"sysctl": SYSCTL}, mounts=mounts_without("/proc"))
    assert_sysctl_not_redirected(rt, bundle, cid, victim)


# --- CVE-2026-41579: /dev (or a directory in it) a symlink out of the root ----------------

@pytest.mark.parametrize("target", ["absolute-outside", "relative-outside", "in-root"])
@pytest.mark.parametrize("link", ["dev", "dev/pts", "dev/shm", "dev/mqueue"])
def test_41579_a_dev_symlink_in_the_image_creates_nothing_outside_the_root(
        rt, rootfs, tmp_path, make_bundle, cid, link, target):
    outside = tmp_path / "host-dir"
    write(outside / "ptmx", "decoy\n")  # the advisory's runc deleted a host file named ptmx
    before = sorted(os.listdir(str(outside)))
    path = rootfs / link
    if path.is_dir() and not path.is_symlink():
        os.rmdir(str(path))
    if target == "absolute-outside":
        os.symlink(str(outside), str(path))
    elif target == "relative-outside":
        os.symlink(os.path.relpath(str(outside), str(path.parent)), str(path))
    else:
        os.makedirs(str(rootfs / "elsewhere"))
        os.symlink("/elsewhere", str(path))
    # With /dev itself the link, the usual mounts (a tmpfs on /dev first); with
    # a directory in /dev, the image's /dev is used as it is (no /dev tmpfs).
    mounts = None if link == "dev" else mounts_without("/dev")
    bundle = make_bundle(["sh", "-c", "ls /dev/ > /dev/null; echo ran"],
                         **({} if mounts is None else {"mounts": mounts}))
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert sorted(os.listdir(str(outside))) == before, "the runtime created files outside the root"
    assert open(str(outside / "ptmx")).read() == "decoy\n"
    assert not mounts_under(outside)
    if not refused_or(result, "mounts"):
        assert result.stdout.strip() == "ran"
