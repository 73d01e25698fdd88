"""Section 5: container IDs, the versioned state store under --root, and status from the live system."""

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
                    created="2024-01-01T00:00:00Z", annotations={}, own_pid_namespace=True,
                    namespaces={"mnt": [4, 4026532327], "pid": [4, 4026531836]}, boot_id=minirun.boot_id(),
                    hooks={}, cgroup=None)
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


@pytest.mark.parametrize("left, removed", [
    ([], True),                                   # killed between mkdir and the placeholder
    (["state.json.tmp-4242"], True),              # killed while writing the placeholder
    (["state.json.tmp-4242", "other"], False),    # something else lives there: not ours to remove
    (["notes"], False),
])
def test_delete_force_removes_a_reservation_a_killed_create_left(tmp_path, left, removed):
    store = minirun.Store(str(tmp_path / "root"))
    os.close(store.reserve("c1"))
    os.unlink(store.path("c1", "state.json"))
    for name in left:
        open(store.path("c1", name), "w").close()
    store.remove_if_reserved("c1")
    assert os.path.exists(store.path("c1")) != removed


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
    store.save(state_for("c1", pid=7, pid_start=1))
    path = tmp_path / "c1" / "state.json"
    assert json.loads(path.read_text())["pid"] == 7
    assert store.load("c1").pid == 7
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
    store.save(state_for("c1", pid=7, pid_start=1))
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




def wait_for_zombie(pid):
    """Wait for `pid` to exit (a pidfd turns readable then); our child stays a zombie until reaped."""
    import select

    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        assert poller.poll(30000), "pid %d never exited" % pid
    finally:
        os.close(pidfd)
    with open("/proc/%d/stat" % pid) as handle:
        data = handle.read()
    assert data[data.rindex(")") + 2] == "Z"


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


# --- the versioned state file: validated on load ----------------------------------


def valid_raw(cid="c1", **values):
    """The JSON of a valid state file."""
    raw = {"version": 2, "id": cid, "pid": 4242, "pid_start": 987654, "bundle": "/bundles/c1",
           "rootfs": "/bundles/c1/rootfs", "created": "2024-01-01T00:00:00Z", "annotations": {"k": "v"},
           "own_pid_namespace": True, "boot_id": "dd0e9f7b-5e02-4b36-9cf5-ff833f610873",
           "namespaces": {"mnt": [4, 4026532327], "pid": [4, 4026531836]},
           "hooks": {"poststop": [{"path": "/h", "args": ["/h", "x"], "env": ["A=1"], "timeout": 5,
                                   "field": "hooks.poststop[0]"}]},
           "cgroup": {"driver": "cgroupfs", "layout": "v2",
                      "dirs": [["/sys/fs/cgroup/minirun/c1", None, "/sys/fs/cgroup"]],
                      "made": ["/sys/fs/cgroup/minirun/c1"]},
           "intel_rdt": None}
    raw.update(values)
    return raw


def test_a_saved_state_file_records_version_2_and_round_trips(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    raw = valid_raw()
    store.save(minirun.ContainerState.from_json("c1", raw))
    on_disk = json.loads((tmp_path / "c1" / "state.json").read_text())
    assert on_disk == raw and on_disk["version"] == minirun.STATE_VERSION == 2
    loaded = store.load("c1")
    assert loaded.to_json() == raw
    (hook,) = loaded.hooks_for("poststop")
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/h", ["/h", "x"], ["A=1"], 5)


def test_a_new_container_state_is_written_at_the_current_version():
    state = minirun.ContainerState(id="c1", pid=1, pid_start=1, bundle="/b", rootfs="/r", created="t",
                                   annotations={}, own_pid_namespace=False, namespaces={}, hooks={})
    assert state.to_json()["version"] == minirun.STATE_VERSION


def corrupt(tmp_path, raw):
    """The Error that loading `raw` as c1's state.json gives."""
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    (tmp_path / "c1" / "state.json").write_text(json.dumps(raw))
    with pytest.raises(minirun.Error) as caught:
        store.load("c1")
    assert not isinstance(caught.value, minirun.ContainerNotFound)
    return str(caught.value)


WRONG_TYPES = {
    "id": 7, "pid": "4242", "pid_start": 1.5, "bundle": ["/b"], "rootfs": None, "created": 20240101,
    "annotations": ["k=v"], "own_pid_namespace": 1, "namespaces": "mnt:[4026532327]", "boot_id": 7, "hooks": [], "cgroup": "/minirun/c1",
    "intel_rdt": "/sys/fs/resctrl/c1",
}


@pytest.mark.parametrize("field", sorted(WRONG_TYPES))
def test_a_field_of_the_wrong_type_is_named(tmp_path, field):
    message = corrupt(tmp_path, valid_raw(**{field: WRONG_TYPES[field]}))
    assert message.startswith("container c1: corrupt state file: %s: " % field), message


@pytest.mark.parametrize("field", sorted(f for f, (_, required) in minirun.ContainerState.SCHEMA.items() if required))
def test_a_missing_field_is_named(tmp_path, field):
    raw = valid_raw()
    del raw[field]
    message = corrupt(tmp_path, raw)
    assert message.startswith("container c1: corrupt state file: %s: " % field), message


def test_a_boolean_is_not_a_pid(tmp_path):
    message = corrupt(tmp_path, valid_raw(pid=True))
    assert message.startswith("container c1: corrupt state file: pid: ")


@pytest.mark.parametrize("version", [0, 1, 3, "2", None])
def test_a_state_file_of_another_version_is_refused_naming_the_version(tmp_path, version):
    message = corrupt(tmp_path, valid_raw(version=version))
    assert message.startswith("container c1: corrupt state file: version: ")
    assert repr(version) in message


def test_a_state_file_naming_another_container_is_refused_as_forged(tmp_path):
    message = corrupt(tmp_path, valid_raw(id="other"))
    assert message.startswith("container c1: corrupt state file: id: ") and "'other'" in message


@pytest.mark.parametrize("pid,pid_start", [(0, 1), (-5, 1), (42, -1)])
def test_a_pid_that_is_no_process_id_is_refused(tmp_path, pid, pid_start):
    message = corrupt(tmp_path, valid_raw(pid=pid, pid_start=pid_start))
    assert message.startswith("container c1: corrupt state file: pid: ")


def test_a_relative_bundle_is_refused(tmp_path):
    message = corrupt(tmp_path, valid_raw(bundle="bundles/c1"))
    assert message == "container c1: corrupt state file: bundle: not an absolute path"


def test_an_annotation_that_is_not_a_string_is_named(tmp_path):
    message = corrupt(tmp_path, valid_raw(annotations={"k": 1}))
    assert message.startswith("container c1: corrupt state file: annotations.k: ")


@pytest.mark.parametrize("hooks,field", [
    ({"prestart": []}, "hooks.prestart"),  # only poststart and poststop are kept for later
    ({"poststop": {"path": "/h"}}, "hooks.poststop"),
    ({"poststop": ["/h"]}, "hooks.poststop"),
    ({"poststart": [{"path": "/h"}]}, "hooks.poststart"),  # args, env, timeout, field missing
])
def test_malformed_hooks_are_named(tmp_path, hooks, field):
    message = corrupt(tmp_path, valid_raw(hooks=hooks))
    assert message.startswith("container c1: corrupt state file: %s: " % field), message


@pytest.mark.parametrize("hook", [
    {"path": 5, "args": ["/h"], "env": [], "timeout": None, "field": "hooks.poststop[0]"},
    {"path": "/h", "args": "x", "env": [], "timeout": None, "field": "hooks.poststop[0]"},
    {"path": "/h", "args": ["/h"], "env": [], "timeout": "t", "field": "hooks.poststop[0]"},
    {"path": "h", "args": ["h"], "env": [], "timeout": None, "field": "hooks.poststop[0]"},
])
def test_a_hook_with_fields_of_the_wrong_type_is_refused(tmp_path, hook):
    message = corrupt(tmp_path, valid_raw(hooks={"poststop": [hook]}))
    assert message.startswith("container c1: corrupt state file: hooks.poststop")


# --- proven_init: never trust a pid from the state file ----------------------------


def test_proven_init_refuses_a_live_process_that_is_not_pid_1_of_a_namespace_of_its_own(tmp_path, sleeper):
    # A forged state file naming a live process of ours, with its true start
    # time: it claims a pid namespace of its own, but the sleeper shares ours.
    state = live_state(tmp_path, sleeper, own_pid_namespace=True)
    assert state.alive()
    with pytest.raises(minirun.Error) as caught:
        state.proven_init()
    assert "pid %d is not the container's init" % sleeper.pid in str(caught.value)
    assert "refusing to signal it" in str(caught.value)
    assert sleeper.poll() is None


def test_proven_init_refuses_a_live_process_in_the_runtimes_own_mount_namespace(tmp_path, sleeper):
    # Even without a pid namespace of its own, a container's init lives in a
    # mount namespace of its own: a state recording the sleeper's (ours) is forged.
    state = live_state(tmp_path, sleeper, own_pid_namespace=False, namespaces=minirun.namespace_ids(sleeper.pid))
    with pytest.raises(minirun.Error) as caught:
        state.proven_init()
    assert "not the container's init" in str(caught.value)


@pytest.fixture
def contained():
    """A process as a container's init is: pid 1 of a pid namespace of its
    own, in a mount namespace of its own (`unshare`, whose child it is)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: unshare of a mount and a pid namespace")
    holder = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child", "sleep", "1000"])
    try:
        children = "/proc/%d/task/%d/children" % (holder.pid, holder.pid)
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and time.monotonic() < deadline:
            with open(children) as handle:
                found = handle.read().split()
            if found and os.readlink("/proc/%s/exe" % found[0]).endswith("sleep"):
                pid = int(found[0])
            else:
                time.sleep(0.01)
        assert pid is not None, "unshare's child never showed up"
        yield pid
    finally:
        holder.kill()
        holder.wait()


def recorded_init(tmp_path, pid, **values):
    """The state create records for an init `pid`: its start time, this boot, its namespaces."""
    fields = dict(pid=pid, pid_start=minirun.process_start_time(pid), own_pid_namespace=True,
                  namespaces=minirun.namespace_ids(pid), boot_id=minirun.boot_id())
    fields.update(values)
    state = state_for("c1", **fields)
    state.directory = str(tmp_path)
    return state


def own_cgroup_record(pid):
    """A recorded cgroup whose directories are `pid`'s own, in every hierarchy."""
    layout = minirun.HOST.cgroup_layout
    cgroups = minirun.own_cgroups("/proc/%d/cgroup" % pid)
    dirs = [(minirun._join_cgroup(mp, root, cgroups[sorted(ctrls)[0]]), sorted(ctrls), mp)
            for mp, (root, ctrls) in layout.hierarchies.items()]
    if layout.unified:
        dirs.append((minirun._join_cgroup(layout.unified, layout.unified_root, cgroups[""]), None, layout.unified))
    return {"driver": "cgroupfs", "layout": layout.kind, "dirs": [list(d) for d in dirs], "made": []}


def test_proven_init_accepts_the_init_create_recorded_and_signals_it_through_a_pidfd(tmp_path, contained):
    state = recorded_init(tmp_path, contained, cgroup=own_cgroup_record(contained))
    assert state.proven_init() == contained
    assert state.init_pidfd is not None
    state.signal_init(signal.SIGKILL)
    assert state.wait_init(30)
    assert state.proven_init() is None


@pytest.mark.parametrize("name", ["mnt", "pid", "net", "ipc", "uts"])
def test_proven_init_refuses_a_process_whose_namespace_is_not_the_one_recorded(tmp_path, contained, name):
    # A reused pid (or a forged state) with the true start time: one
    # namespace that is not the one recorded at create is enough.
    namespaces = minirun.namespace_ids(contained)
    dev, ino = namespaces[name]
    state = recorded_init(tmp_path, contained, namespaces=dict(namespaces, **{name: [dev, ino + 1]}))
    with pytest.raises(minirun.Error, match="pid %d is not the container's init" % contained):
        state.proven_init()
    assert state.init_pidfd is None


def test_proven_init_refuses_a_process_of_a_forged_pid_namespace_claim(tmp_path, contained):
    # recorded as sharing the runtime's pid namespace, the init must still be in the recorded one
    namespaces = dict(minirun.namespace_ids(contained), pid=minirun.namespace_ids(os.getpid())["pid"])
    state = recorded_init(tmp_path, contained, namespaces=namespaces, own_pid_namespace=False)
    with pytest.raises(minirun.Error, match="not the container's init"):
        state.proven_init()


def test_proven_init_refuses_a_process_outside_the_recorded_cgroup(tmp_path, contained):
    layout = minirun.HOST.cgroup_layout
    elsewhere = minirun.cgroup_manager(layout, "/minirun-unit-not-its-cgroup", "c1", own={}).to_state()
    state = recorded_init(tmp_path, contained, cgroup=elsewhere)
    with pytest.raises(minirun.Error, match="not the container's init"):
        state.proven_init()


def test_a_pid_recorded_in_another_boot_is_stopped_and_never_proven(tmp_path, contained):
    # a --root kept across a reboot: its pid and start time name a process of this boot
    state = recorded_init(tmp_path, contained, boot_id="00000000-0000-0000-0000-000000000000")
    assert state.status() == "stopped"
    assert state.proven_init() is None


def test_namespace_ids_are_device_and_inode_of_the_nsfs_links():
    ids = minirun.namespace_ids(os.getpid())
    st = os.stat("/proc/self/ns/mnt")
    assert ids["mnt"] == [st.st_dev, st.st_ino] and {"mnt", "pid", "net", "ipc", "uts"} <= set(ids)


@pytest.mark.parametrize("own_pid_namespace", [True, False])
def test_proven_init_of_a_pid_with_another_start_time_is_none(tmp_path, sleeper, own_pid_namespace):
    state = live_state(tmp_path, sleeper, own_pid_namespace=own_pid_namespace)
    state.pid_start += 1  # the pid now belongs to some later process
    assert state.proven_init() is None


def test_proven_init_of_an_exited_process_is_none(tmp_path, sleeper):
    state = live_state(tmp_path, sleeper, own_pid_namespace=True)
    sleeper.kill()
    sleeper.wait()
    assert state.proven_init() is None


# --- the recorded cgroup ------------------------------------------------------------


def test_a_container_without_a_cgroup_of_its_own_records_null_and_loads(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    store.save(minirun.ContainerState.from_json("c1", valid_raw(cgroup=None)))
    assert store.load("c1").cgroup is None


def test_the_cgroup_field_must_be_present_even_when_null(tmp_path):
    raw = valid_raw()
    del raw["cgroup"]
    assert corrupt(tmp_path, raw) == "container c1: corrupt state file: cgroup: missing"


@pytest.mark.parametrize("cgroup", [
    {"driver": "cgroupfs", "layout": "v2", "dirs": [["/etc", None, "/etc"]]},          # not a cgroup mount
    {"driver": "cgroupfs", "layout": "v2", "dirs": [["/sys/fs/cgroup", None, "/sys/fs/cgroup"]]},  # the root
    {"driver": "cgroupfs", "layout": "v2", "dirs": [["/sys/fs/cgroup/a/../..", None, "/sys/fs/cgroup"]]},
    {"driver": "cgroupfs", "layout": "v4", "dirs": []},
    {"driver": "systemd", "layout": "v2", "dirs": []},                                 # no slice and unit
    {"driver": "cgroupfs", "layout": "v1", "dirs": [["/sys/fs/cgroup/memory/x", "memory", "/sys/fs/cgroup/memory"]]},
])
def test_a_recorded_cgroup_outside_the_hosts_cgroup_mounts_is_refused_on_load(tmp_path, cgroup):
    message = corrupt(tmp_path, valid_raw(cgroup=cgroup))
    assert message == "container c1: corrupt state file: cgroup: not a cgroup this minirun records"


# --- the Intel RDT record -----------------------------------------------------------

RDT = {"root": "/sys/fs/resctrl", "group": "/sys/fs/resctrl/c1", "made": True,
       "monitor": "/sys/fs/resctrl/c1/mon_groups/c1"}


def test_a_state_file_of_a_minirun_without_intel_rdt_loads(tmp_path):
    raw = valid_raw()
    del raw["intel_rdt"]
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    (tmp_path / "c1" / "state.json").write_text(json.dumps(raw))
    assert store.load("c1").intel_rdt is None


def test_an_intel_rdt_record_round_trips(tmp_path):
    store = minirun.Store(str(tmp_path))
    os.close(store.reserve("c1"))
    store.save(minirun.ContainerState.from_json("c1", valid_raw(intel_rdt=RDT)))
    assert store.load("c1").intel_rdt == RDT


@pytest.mark.parametrize("change", [
    {"group": "/etc"},                                   # not below the resctrl root
    {"group": "/sys/fs/resctrl/../../../etc"},          # out through ..
    {"group": "/sys/fs/resctrl/a/b"},                    # not one level below
    {"group": "/sys/fs/resctrl/info"},                   # the root's own entries are no group
    {"group": "/sys/fs/resctrl"},                        # the root itself
    {"root": "sys/fs/resctrl", "group": "sys/fs/resctrl/c1", "monitor": None},
    {"monitor": "/sys/fs/resctrl/other/mon_groups/c1"},  # not in the group's mon_groups
    {"monitor": "/sys/fs/resctrl/c1/mon_groups/.."},
    {"made": "yes"},
])
def test_a_forged_intel_rdt_record_is_refused_before_anything_is_removed(tmp_path, change):
    message = corrupt(tmp_path, valid_raw(intel_rdt=dict(RDT, **change)))
    assert message.startswith("container c1: corrupt state file: intel_rdt: "), message
