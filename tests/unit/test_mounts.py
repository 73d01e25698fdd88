"""Section 7 (the parts that need no mount): paths inside the root, mount points, tmpcopyup."""

import errno
import os
import stat

import pytest

import minirun

# The real kernel seam: these tests create real files in tmp_path.
KERNEL = minirun.kernel()


@pytest.fixture
def root(tmp_path):
    """A root filesystem directory, with a sibling `outside` that must never be touched."""
    (tmp_path / "root").mkdir()
    (tmp_path / "outside").mkdir()
    return str(tmp_path / "root")


def outside_untouched(root):
    return os.listdir(os.path.join(os.path.dirname(root), "outside")) == []


# --- resolve_in_root -----------------------------------------------------------


def test_plain_paths_are_joined_under_the_root(root):
    assert minirun.resolve_in_root(root, "/etc/passwd") == os.path.join(root, "etc", "passwd")
    assert minirun.resolve_in_root(root, "etc//./passwd") == os.path.join(root, "etc", "passwd")
    assert minirun.resolve_in_root(root, "/") == root


def test_an_absolute_symlink_to_etc_stays_inside_the_root(root):
    os.symlink("/etc", os.path.join(root, "etclink"))
    assert minirun.resolve_in_root(root, "/etclink/passwd") == os.path.join(root, "etc", "passwd")


def test_dotdot_is_clamped_at_the_root(root):
    assert minirun.resolve_in_root(root, "../../..") == root
    assert minirun.resolve_in_root(root, "/../../../etc/shadow") == os.path.join(root, "etc", "shadow")
    assert minirun.resolve_in_root(root, "/a/../../b") == os.path.join(root, "b")


def test_a_relative_symlink_full_of_dotdot_cannot_climb_out(root):
    os.makedirs(os.path.join(root, "a", "b"))
    os.symlink("../../../../../outside", os.path.join(root, "a", "b", "up"))
    assert minirun.resolve_in_root(root, "/a/b/up/file") == os.path.join(root, "outside", "file")


def test_relative_symlink_chains_are_followed_from_the_links_directory(root):
    os.makedirs(os.path.join(root, "c", "d"))
    os.symlink("b", os.path.join(root, "a"))
    os.symlink("c/d", os.path.join(root, "b"))
    assert minirun.resolve_in_root(root, "/a/f") == os.path.join(root, "c", "d", "f")
    os.makedirs(os.path.join(root, "x", "y"))
    os.symlink("../../c", os.path.join(root, "x", "y", "toc"))
    assert minirun.resolve_in_root(root, "/x/y/toc/d") == os.path.join(root, "c", "d")


def test_dotdot_after_a_symlink_applies_to_its_target(root):
    os.makedirs(os.path.join(root, "real", "deep"))
    os.symlink("/real/deep", os.path.join(root, "link"))
    assert minirun.resolve_in_root(root, "/link/../sibling") == os.path.join(root, "real", "sibling")


def test_a_nonexistent_tail_is_kept_as_written(root):
    os.makedirs(os.path.join(root, "exists"))
    assert minirun.resolve_in_root(root, "/exists/not/yet") == os.path.join(root, "exists", "not", "yet")


def test_a_dangling_symlink_is_resolved_to_where_it_points_inside_the_root(root):
    os.symlink("/var/run/missing", os.path.join(root, "dangling"))
    assert minirun.resolve_in_root(root, "/dangling") == os.path.join(root, "var", "run", "missing")


def test_a_symlink_loop_raises_eloop(root):
    os.symlink("l2", os.path.join(root, "l1"))
    os.symlink("l1", os.path.join(root, "l2"))
    with pytest.raises(OSError) as caught:
        minirun.resolve_in_root(root, "/l1/x")
    assert caught.value.errno == errno.ELOOP


def test_a_self_referencing_absolute_symlink_raises_eloop(root):
    os.symlink("/self", os.path.join(root, "self"))
    with pytest.raises(OSError) as caught:
        minirun.resolve_in_root(root, "/self")
    assert caught.value.errno == errno.ELOOP


def test_forty_chained_symlinks_resolve_but_forty_one_do_not(root):
    os.mkdir(os.path.join(root, "end"))
    os.symlink("end", os.path.join(root, "s0"))
    for i in range(1, 41):
        os.symlink("s%d" % (i - 1), os.path.join(root, "s%d" % i))
    assert minirun.resolve_in_root(root, "/s39") == os.path.join(root, "end")
    with pytest.raises(OSError):
        minirun.resolve_in_root(root, "/s40")


# --- make_target -----------------------------------------------------------------


def test_make_target_creates_nested_directories_inside_the_root(root):
    host = minirun.make_target(KERNEL, root, "/a/b/c", is_file=False)
    assert host == os.path.join(root, "a", "b", "c")
    assert os.path.isdir(host)


def test_make_target_creates_an_empty_file_for_a_file_bind(root):
    host = minirun.make_target(KERNEL, root, "/etc/resolv.conf", is_file=True)
    assert host == os.path.join(root, "etc", "resolv.conf")
    assert stat.S_ISREG(os.stat(host).st_mode) and os.path.getsize(host) == 0
    assert os.path.isdir(os.path.join(root, "etc"))


def test_make_target_keeps_what_already_exists(root):
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "hosts"), "w") as handle:
        handle.write("127.0.0.1 localhost\n")
    host = minirun.make_target(KERNEL, root, "/etc/hosts", is_file=True)
    with open(host) as handle:
        assert handle.read() == "127.0.0.1 localhost\n"
    assert minirun.make_target(KERNEL, root, "/etc", is_file=False) == os.path.join(root, "etc")


def test_make_target_through_an_absolute_symlink_pointing_outside_stays_inside(root):
    outside = os.path.join(os.path.dirname(root), "outside")
    os.symlink(outside, os.path.join(root, "evil"))
    host = minirun.make_target(KERNEL, root, "/evil/sub/dir", is_file=False)
    assert host == os.path.join(root, outside.lstrip("/"), "sub", "dir")
    assert os.path.isdir(host) and host.startswith(root + "/")
    assert outside_untouched(root)


def test_make_target_through_a_relative_symlink_pointing_outside_stays_inside(root):
    os.symlink("../outside", os.path.join(root, "evil"))
    host = minirun.make_target(KERNEL, root, "/evil/file", is_file=True)
    assert host == os.path.join(root, "outside", "file")
    assert os.path.isfile(host)
    assert outside_untouched(root)


def test_make_target_when_the_last_component_links_outside_creates_inside(root):
    outside = os.path.join(os.path.dirname(root), "outside")
    os.makedirs(os.path.join(root, "etc"))
    os.symlink(outside + "/hostname", os.path.join(root, "etc", "hostname"))
    os.makedirs(os.path.join(root, outside.lstrip("/")))
    host = minirun.make_target(KERNEL, root, "/etc/hostname", is_file=True)
    assert host == os.path.join(root, outside.lstrip("/"), "hostname")
    assert os.path.isfile(host)
    assert outside_untouched(root)


def test_make_target_creates_the_missing_parents_of_a_dangling_symlinks_target(root):
    os.makedirs(os.path.join(root, "etc"))
    os.symlink("../run/systemd/resolve/stub-resolv.conf", os.path.join(root, "etc", "resolv.conf"))
    host = minirun.make_target(KERNEL, root, "/etc/resolv.conf", is_file=True)
    assert host == os.path.join(root, "run", "systemd", "resolve", "stub-resolv.conf")
    assert os.path.isfile(host)


def test_make_symlink_in_root_creates_the_parent_and_the_link(root):
    minirun.make_symlink_in_root(KERNEL, root, "pts/ptmx", "/dev/ptmx")
    assert os.path.isdir(os.path.join(root, "dev"))
    assert os.readlink(os.path.join(root, "dev", "ptmx")) == "pts/ptmx"


def test_make_symlink_in_root_leaves_an_existing_entry_alone(root):
    os.makedirs(os.path.join(root, "dev"))
    with open(os.path.join(root, "dev", "ptmx"), "w") as handle:
        handle.write("kept")
    minirun.make_symlink_in_root(KERNEL, root, "pts/ptmx", "/dev/ptmx")
    with open(os.path.join(root, "dev", "ptmx")) as handle:
        assert handle.read() == "kept"


def test_walk_in_root_fails_closed_on_a_symlink_that_appears_after_resolution(root, monkeypatch):
    # Stand in for a rootfs changed between resolve_in_root and the walk: the
    # walk itself must refuse to step through the symlink, and create nothing
    # where it points.
    os.symlink(os.path.join(os.path.dirname(root), "outside"), os.path.join(root, "swapped"))
    monkeypatch.setattr(minirun, "resolve_in_root", lambda r, p: os.path.join(r, p.lstrip("/")))
    with pytest.raises(OSError):
        minirun.walk_in_root(KERNEL, root, "/swapped/made-outside", is_file=False)
    assert outside_untouched(root)


def test_walk_in_root_returns_an_fd_on_the_created_file(root):
    fd = minirun.walk_in_root(KERNEL, root, "/etc/hostname", is_file=True)
    try:
        assert os.readlink("/proc/self/fd/%d" % fd) == os.path.join(root, "etc", "hostname")
    finally:
        os.close(fd)
    assert os.path.isfile(os.path.join(root, "etc", "hostname"))


# --- copy_tree (tmpcopyup) -------------------------------------------------------


def build_source(base):
    src = os.path.join(base, "src")
    os.makedirs(os.path.join(src, "nested", "deeper"))
    with open(os.path.join(src, "script.sh"), "w") as handle:
        handle.write("#!/bin/sh\necho hi\n")
    os.chmod(os.path.join(src, "script.sh"), 0o750)
    with open(os.path.join(src, "nested", "data.bin"), "wb") as handle:
        handle.write(bytes(range(256)) * 5000)  # 1.28 MB: more than one 1 MiB read
    os.chmod(os.path.join(src, "nested", "data.bin"), 0o604)
    with open(os.path.join(src, "nested", "deeper", "empty"), "w"):
        pass
    os.symlink("script.sh", os.path.join(src, "rel-link"))
    os.symlink("/nonexistent/target", os.path.join(src, "dangling-link"))
    os.chmod(os.path.join(src, "nested"), 0o711)
    os.chmod(src, 0o1777)
    return src


def test_copy_tree_copies_files_modes_symlinks_and_nested_directories(tmp_path):
    src = build_source(str(tmp_path))
    dst = str(tmp_path / "dst")
    os.mkdir(dst, 0o755)
    minirun.copy_tree(KERNEL, src, dst)

    assert stat.S_IMODE(os.stat(dst).st_mode) == 0o1777
    with open(os.path.join(dst, "script.sh")) as handle:
        assert handle.read() == "#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(os.stat(os.path.join(dst, "script.sh")).st_mode) == 0o750
    with open(os.path.join(dst, "nested", "data.bin"), "rb") as handle:
        assert handle.read() == bytes(range(256)) * 5000
    assert stat.S_IMODE(os.stat(os.path.join(dst, "nested", "data.bin")).st_mode) == 0o604
    assert stat.S_IMODE(os.stat(os.path.join(dst, "nested")).st_mode) == 0o711
    assert os.path.isfile(os.path.join(dst, "nested", "deeper", "empty"))
    assert os.readlink(os.path.join(dst, "rel-link")) == "script.sh"
    assert os.readlink(os.path.join(dst, "dangling-link")) == "/nonexistent/target"
    assert sorted(os.listdir(dst)) == sorted(os.listdir(src))


# Owners the source entries get, none of them the copier's own: a copy that
# forgot a chown keeps the copier's uid/gid and shows.
OWNERS = {"": (1001, 2001), "script.sh": (1002, 2002), "nested": (1003, 2003),
          os.path.join("nested", "data.bin"): (1004, 2004), "rel-link": (1005, 2005)}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the source entries other owners")
def test_copy_tree_keeps_the_owner_of_each_entry(tmp_path):
    src = build_source(str(tmp_path))
    for name, (uid, gid) in OWNERS.items():
        os.lchown(os.path.join(src, name), uid, gid)
    dst = str(tmp_path / "dst")
    os.mkdir(dst)
    assert (os.stat(dst).st_uid, os.stat(dst).st_gid) == (0, os.getegid())
    minirun.copy_tree(KERNEL, src, dst)
    for name, owner in OWNERS.items():
        copy = os.lstat(os.path.join(dst, name))
        assert (copy.st_uid, copy.st_gid) == owner, name


def test_copy_tree_copies_a_fifo_as_a_fifo(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    os.mkfifo(str(src / "pipe"), 0o640)
    minirun.copy_tree(KERNEL, str(src), str(dst))
    assert stat.S_ISFIFO(os.lstat(str(dst / "pipe")).st_mode)


def test_copy_tree_keeps_setuid_and_setgid_bits(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    for name, mode in (("suid", 0o4755), ("sgid", 0o2755)):
        (src / name).write_text("#!/bin/sh\n")
        os.chmod(str(src / name), mode)
        assert stat.S_IMODE(os.stat(str(src / name)).st_mode) == mode  # the test's own premise
    minirun.copy_tree(KERNEL, str(src), str(dst))
    assert stat.S_IMODE(os.stat(str(dst / "suid")).st_mode) == 0o4755
    assert stat.S_IMODE(os.stat(str(dst / "sgid")).st_mode) == 0o2755
