"""Section 4: container IDs, the state store under --root, and status from the live system."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

import minirun

# --- validate_id -------------------------------------------------------------


@pytest.mark.parametrize("cid", [
    "7aee2c35a38bec78a3aa609e64a71ed5dc20e4fdc2334079fab9a1793dc4c337",  # Docker's
    "my-container", "web_1", "app.v2", "a+b", "A", "x" * 255, "...", "-leading-dash", ".hidden",
])
def test_valid_ids_are_accepted(cid):
    minirun.validate_id(cid)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "../etc", "/abs", "nul\0byte", "with space",
                                 "tab\there", "x" * 256, "semi;colon", "star*", "caf\u00e9", "new\nline"])
def test_invalid_ids_are_refused_with_a_message(cid):
    with pytest.raises(minirun.Error) as caught:
        minirun.validate_id(cid)
    assert "invalid container id" in str(caught.value)


# --- Store ---------------------------------------------------------------------


def state_for(cid, **values):
    defaults = dict(id=cid, pid=0, pid_start=None, bundle="/b", rootfs="/b/rootfs",
                    created="2024-01-01T00:00:00Z", annotations={}, own_pid_namespace=True, hooks={})
    defaults.update(values)
    return minirun.ContainerState(**defaults)


def test_reserve_creates_the_container_directory_with_mode_0700(tmp_path):
    store = minirun.Store(str(tmp_path / "root"))
    fd = store.reserve("c1")
    try:
        directory = tmp_path / "root" / "c1"
        assert directory.is_dir()
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_IMODE((tmp_path / "root").stat().st_mode) == 0o700
    finally:
        os.close(fd)


def modes_from(top, leaf):
    """{path relative to top: permission bits} for top's descendants down to leaf."""
    modes = {}
    path = leaf
    while path != top:
        modes[os.path.relpath(str(path), str(top))] = stat.S_IMODE(path.stat().st_mode)
        path = path.parent
    return modes


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o022, 0o077])
def test_reserve_makes_missing_parents_0711_and_the_root_0700_whatever_the_umask(tmp_path, umask):
    # os.makedirs applied its mode to the last component only, and under
    # umask 0 the parents came out 0777: anyone could swap the state root.
    root = tmp_path / "a" / "b" / "root"
    old = os.umask(umask)
    try:
        os.close(minirun.Store(str(root)).reserve("c1"))
    finally:
        os.umask(old)
    assert modes_from(tmp_path, root / "c1") == {"a": 0o711, "a/b": 0o711, "a/b/root": 0o700,
                                                 "a/b/root/c1": 0o700}


def test_reserve_leaves_the_modes_of_existing_parents_alone(tmp_path):
    (tmp_path / "shared").mkdir(mode=0o755)
    os.chmod(str(tmp_path / "shared"), 0o755)
    os.close(minirun.Store(str(tmp_path / "shared" / "root")).reserve("c1"))
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o755


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702, 0o1777])
def test_reserve_refuses_an_existing_root_writable_by_others(tmp_path, mode):
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(str(root), mode)
    with pytest.raises(minirun.Error) as caught:
        minirun.Store(str(root)).reserve("c1")
    assert "writable by other users" in str(caught.value) and str(root) in str(caught.value)
    assert os.listdir(str(root)) == []


def test_reserve_under_a_root_that_is_a_file_is_an_error_naming_root(tmp_path):
    (tmp_path / "file").write_text("")
    for root in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(minirun.Error) as caught:
            minirun.Store(str(root)).reserve("c1")
        assert str(caught.value).startswith("--root %s: " % root)


def test_a_second_reserve_of_the_same_id_fails_with_already_exists(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    with pytest.raises(minirun.Error) as caught:
        store.reserve("c1")
    assert "already exists" in str(caught.value)


def test_reserve_refuses_an_invalid_id_before_touching_the_disk(tmp_path):
    store = minirun.Store(str(tmp_path / "root"))
    with pytest.raises(minirun.Error):
        store.reserve("../escape")
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "escape").exists()


def test_load_of_a_missing_id_says_does_not_exist(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.Store(str(tmp_path)).load("nope")
    assert "does not exist" in str(caught.value)


def test_lock_of_a_missing_id_says_does_not_exist(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.Store(str(tmp_path)).lock("nope")
    assert "does not exist" in str(caught.value)


def test_save_then_load_round_trips_every_field(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    hooks = {"poststop": [{"path": "/h", "args": ["/h"], "env": [], "timeout": None, "field": "hooks.poststop[0]"}]}
    saved = state_for("c1", pid=4242, pid_start=987654, annotations={"a": "b"}, hooks=hooks)
    store.save(saved)
    loaded = store.load("c1")
    assert loaded.to_json() == saved.to_json()
    assert loaded.directory == str(tmp_path / "c1")
    (hook,) = loaded.hooks_for("poststop")
    assert hook.path == "/h" and hook.field == "hooks.poststop[0]"
    assert loaded.hooks_for("poststart") == []


def test_state_file_is_json_readable_by_others_tools_and_private(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    store.save(state_for("c1", pid=7))
    path = tmp_path / "c1" / "state.json"
    assert json.loads(path.read_text())["pid"] == 7
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_reserved_directory_without_state_loads_as_creating(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    state = store.load("c1")
    assert state.status() == "creating"
    assert state.oci_state()["status"] == "creating"


def test_a_corrupt_state_file_is_reported_not_raised_as_a_traceback(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    (tmp_path / "c1" / "state.json").write_text("{not json")
    with pytest.raises(minirun.Error) as caught:
        store.load("c1")
    assert "corrupt state file" in str(caught.value)


@pytest.mark.parametrize("text", ["[]", "null", '"x"'])
def test_a_state_file_that_is_not_an_object_is_reported_as_corrupt(tmp_path, text):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    (tmp_path / "c1" / "state.json").write_text(text)
    with pytest.raises(minirun.Error) as caught:
        store.load("c1")
    assert "corrupt state file" in str(caught.value)


def test_write_atomically_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("old")
    minirun.write_atomically(str(target), "new content", 0o640)
    assert target.read_text() == "new content"
    assert os.listdir(str(tmp_path)) == ["file"]


def test_write_atomically_creates_a_file_with_the_mode_asked_for(tmp_path):
    old = os.umask(0o022)
    try:
        minirun.write_atomically(str(tmp_path / "f"), "x", 0o600)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_write_atomically_to_a_directory_names_the_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "pid"
    target.mkdir()
    with pytest.raises(minirun.Error) as caught:
        minirun.write_atomically(str(target), "123", what="--pid-file")
    assert str(caught.value) == "--pid-file %s: Is a directory" % target
    assert sorted(os.listdir(str(tmp_path))) == ["pid"]
    assert os.listdir(str(target)) == []


def test_write_atomically_without_a_label_says_cannot_write(tmp_path):
    with pytest.raises(minirun.Error) as caught:
        minirun.write_atomically(str(tmp_path / "no" / "such" / "file"), "x")
    assert str(caught.value) == "cannot write %s: No such file or directory" % (tmp_path / "no" / "such" / "file")
    assert os.listdir(str(tmp_path)) == []


def test_write_atomically_never_follows_a_planted_temporary_name(tmp_path):
    # NAME.tmp-PID is predictable: a symlink there must not redirect the write.
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "pid"
    os.symlink(str(victim), "%s.tmp-%d" % (target, os.getpid()))
    minirun.write_atomically(str(target), "123")
    assert victim.read_text() == "precious"
    assert target.read_text() == "123" and not target.is_symlink()
    assert sorted(os.listdir(str(tmp_path))) == ["pid", "victim"]


def blocked_flock_waiter(pid, inode):
    """Whether /proc/locks shows `pid` waiting for an flock on `inode`."""
    with open("/proc/locks") as locks:
        for line in locks:
            fields = line.split()
            if "->" in fields and fields[fields.index("->") + 1] == "FLOCK":
                rest = fields[fields.index("->") + 1:]
                if rest[3] == str(pid) and rest[4].endswith(":%d" % inode):
                    return True
    return False


def lock_in_a_child(root, cid):
    """Another minirun process calling Store.lock(cid, missing_ok=True); it
    prints the inode it locked, or None."""
    code = ("import os, sys; sys.path.insert(0, %r); import minirun\n"
            "fd = minirun.Store(%r).lock(%r, missing_ok=True)\n"
            "print(None if fd is None else os.fstat(fd).st_ino)") % (os.path.dirname(minirun.__file__), root, cid)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, universal_newlines=True)


def wait_until_blocked(child, inode):
    deadline = time.monotonic() + 20  # hang guard only
    while not blocked_flock_waiter(child.pid, inode):
        assert child.poll() is None, "the child did not wait for the lock"
        assert time.monotonic() < deadline, "the child never blocked on the lock"
        time.sleep(0.01)


def test_a_lock_waiting_while_the_container_is_deleted_finds_it_missing(tmp_path):
    # Parallel `delete --force`: the loser waited on the directory the winner
    # removed; it must see "missing" (success with --force), not lock a ghost.
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    fd = store.lock("c1")
    inode = os.fstat(fd).st_ino
    child = lock_in_a_child(str(tmp_path), "c1")
    try:
        wait_until_blocked(child, inode)
        store.remove("c1")
    finally:
        os.close(fd)
    out, _ = child.communicate(timeout=20)
    assert out.strip() == "None"
    with pytest.raises(minirun.Error) as caught:
        store.lock("c1")
    assert "does not exist" in str(caught.value)


def test_a_lock_waiting_while_the_id_is_deleted_and_created_again_locks_the_new_one(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    fd = store.lock("c1")
    child = lock_in_a_child(str(tmp_path), "c1")
    try:
        wait_until_blocked(child, os.fstat(fd).st_ino)
        store.remove("c1")
        new_fd = store.reserve("c1")
        new_inode = os.fstat(new_fd).st_ino
    finally:
        os.close(fd)
    os.close(new_fd)
    out, _ = child.communicate(timeout=20)
    assert out.strip() == str(new_inode)


def test_remove_deletes_the_directory_and_its_files(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    store.save(state_for("c1"))
    os.mkfifo(str(tmp_path / "c1" / "exec.fifo"))
    store.remove("c1")
    assert not (tmp_path / "c1").exists()
    with pytest.raises(minirun.Error):
        store.load("c1")


def test_ids_lists_container_directories_sorted_and_ignores_files(tmp_path):
    store = minirun.Store(str(tmp_path))
    for cid in ("b", "a", "c"):
        os.close(store.reserve(cid))
    (tmp_path / "stray-file").write_text("")
    assert store.ids() == ["a", "b", "c"]
    assert minirun.Store(str(tmp_path / "missing")).ids() == []


# --- status from the live system ---------------------------------------------




def wait_for_zombie(pid, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/stat" % pid) as handle:
            data = handle.read()
        if data[data.rindex(")") + 2] == "Z":
            return
        time.sleep(0.01)
    raise AssertionError("pid %d never became a zombie" % pid)


def live_state(tmp_path, child, **values):
    state = state_for("c1", pid=child.pid, pid_start=minirun.process_start_time(child.pid), **values)
    state.directory = str(tmp_path)
    return state


def test_process_start_time_of_a_live_process_is_stable_and_positive(sleeper):
    first = minirun.process_start_time(sleeper.pid)
    assert isinstance(first, int) and first > 0
    assert minirun.process_start_time(sleeper.pid) == first
    assert minirun.process_start_time(os.getpid()) < first  # we started before our child


def test_process_start_time_of_a_missing_process_is_none():
    assert minirun.process_start_time(2 ** 22 + 12345) is None  # above pid_max's ceiling


def test_process_start_time_of_a_zombie_is_none(sleeper):
    os.kill(sleeper.pid, signal.SIGKILL)
    wait_for_zombie(sleeper.pid)
    assert minirun.process_start_time(sleeper.pid) is None


def test_live_process_with_exec_fifo_is_created(tmp_path, sleeper):
    os.mkfifo(str(tmp_path / "exec.fifo"))
    state = live_state(tmp_path, sleeper)
    assert state.alive()
    assert state.status() == "created"


def test_live_process_without_exec_fifo_is_running(tmp_path, sleeper):
    state = live_state(tmp_path, sleeper)
    assert state.status() == "running"
    assert state.oci_state()["pid"] == sleeper.pid


def test_killed_and_reaped_process_is_stopped_with_pid_zero(tmp_path, sleeper):
    state = live_state(tmp_path, sleeper)
    sleeper.kill()
    sleeper.wait()
    assert state.status() == "stopped"
    oci = state.oci_state()
    assert oci["status"] == "stopped" and oci["pid"] == 0


def test_killed_but_unreaped_process_is_already_stopped(tmp_path, sleeper):
    os.mkfifo(str(tmp_path / "exec.fifo"))
    state = live_state(tmp_path, sleeper)
    os.kill(sleeper.pid, signal.SIGKILL)
    wait_for_zombie(sleeper.pid)
    assert state.status() == "stopped"


def test_a_reused_pid_with_another_start_time_is_stopped(tmp_path, sleeper):
    state = live_state(tmp_path, sleeper)
    state.pid_start += 1
    assert not state.alive()
    assert state.status() == "stopped"


def test_pid_zero_is_stopped(tmp_path):
    state = state_for("c1", pid=0)
    state.directory = str(tmp_path)
    assert state.status() == "stopped"


def test_a_dead_pid_with_no_recorded_start_time_is_stopped(tmp_path, sleeper):
    pid = sleeper.pid
    sleeper.kill()
    sleeper.wait()
    state = state_for("c1", pid=pid, pid_start=None)
    state.directory = str(tmp_path)
    assert state.status() == "stopped"


def test_oci_state_has_runc_keys_and_annotations_only_when_present(tmp_path):
    state = state_for("c1", pid=0)
    state.directory = str(tmp_path)
    oci = state.oci_state()
    assert list(oci) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"]
    assert oci["ociVersion"] == minirun.SPEC_VERSION and oci["id"] == "c1"
    state.annotations = {"k": "v"}
    assert state.oci_state()["annotations"] == {"k": "v"}


def test_oci_state_takes_an_explicit_status(tmp_path, sleeper):
    state = live_state(tmp_path, sleeper)
    assert state.oci_state("stopped")["pid"] == 0
    assert state.oci_state("running")["pid"] == sleeper.pid
