"""Rootless containers: an unprivileged user runs the runtime.

A dedicated user is made for this module (useradd, removed afterwards) with
a subordinate id range of its own in /etc/subuid and /etc/subgid. Each test
gives it a private XDG_RUNTIME_DIR (the runtime's default root is
$XDG_RUNTIME_DIR/<runtime>) and a bundle in a world-readable directory (the
user cannot enter pytest's 0700 tree), and runs every command as that user.
After each test nothing may be left under the user's runtime directory.

One test runs as root: a bind source under pytest's 0700 directory is
reachable from a user-namespaced container because the runtime opens it
before the ids change.
"""

import fcntl
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest

from .helpers import (DEFAULT_TIMEOUT, IS_MINIRUN, IS_RUNC, RUNTIME, assert_no_traceback, bind_mount, pid_alive,
                      read_all, unified_cgroup, wait_for)

SUBORDINATE_COUNT = 65536
ACCOUNTS_LOCK = "/tmp/minirun-test-accounts.lock"  # xdist workers add users one at a time


def accounts_locked():
    handle = open(ACCOUNTS_LOCK, "a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


class RootlessUser:
    def __init__(self, name):
        entry = pwd.getpwnam(name)
        self.name, self.uid, self.gid = name, entry.pw_uid, entry.pw_gid
        # A range derived from the uid: distinct per user, far from the usual 100000+ ones.
        self.subordinate = 1000000000 + (self.uid % 10000) * SUBORDINATE_COUNT


def unprivileged_userns_refused():
    """Why this kernel refuses user namespaces to unprivileged users, or None."""
    for knob, refusing in (("/proc/sys/kernel/unprivileged_userns_clone", "0"),
                           ("/proc/sys/user/max_user_namespaces", "0"),
                           ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1")):
        try:
            with open(knob) as f:
                if f.read().strip() == refusing:
                    return "%s is %s: no user namespaces for unprivileged users here" % (knob, refusing)
        except OSError:
            pass
    return None


@pytest.fixture(scope="module")
def user():
    for tool in ("useradd", "usermod", "userdel"):
        if shutil.which(tool) is None:
            pytest.skip("needs %s (package passwd) to make the test user" % tool)
    refused = unprivileged_userns_refused()
    if refused:
        pytest.skip(refused)
    name = "mrl" + uuid.uuid4().hex[:8]
    with accounts_locked():
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/sh", name], check=True)
    try:
        account = RootlessUser(name)
        last = account.subordinate + SUBORDINATE_COUNT - 1
        with accounts_locked():
            subprocess.run(["usermod", "--add-subuids", "%d-%d" % (account.subordinate, last),
                            "--add-subgids", "%d-%d" % (account.subordinate, last), name], check=True)
        yield account
    finally:
        with accounts_locked():
            subprocess.run(["userdel", name], check=True)
            # userdel removes the subordinate ranges with the user (shadow >= 4.6):
            # nothing of the test user may stay in the files.
        for path in ("/etc/subuid", "/etc/subgid"):
            with open(path) as f:
                assert not any(line.startswith(name + ":") for line in f), "%s kept %s" % (path, name)


@pytest.fixture(scope="module")
def user_runtime():
    """The runtime command the user runs. A copy of minirun.py in a directory
    the user can enter: the repository may lie in a tree it cannot (the
    mutation harness's 0700 copies), and the interpreter is the real one
    behind a virtualenv's link."""
    if IS_RUNC:
        yield list(RUNTIME), {}
        return
    top = tempfile.mkdtemp(prefix="minirun-rootless-runtime-", dir="/tmp")
    try:
        os.chmod(top, 0o755)
        copy = os.path.join(top, "minirun.py")
        shutil.copy2(RUNTIME[-1], copy)
        os.chmod(copy, 0o755)
        python = os.path.realpath(os.environ.get("MINIRUN_PYTHON") or sys.executable)
        yield list(RUNTIME[:-1]) + [copy], {"MINIRUN_PYTHON": python}
    finally:
        shutil.rmtree(top, ignore_errors=True)


class AsUser:
    """Runs the runtime (or another program) as the rootless user, with its
    own XDG_RUNTIME_DIR and no --root: the default root is under test."""

    def __init__(self, user, runtime_dir, runtime):
        self.user = user
        self.runtime_dir = runtime_dir
        self.command, extra_env = runtime
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", "XDG_RUNTIME_DIR": runtime_dir}
        self.env.update(extra_env)
        self.cgroup = None      # a cgroup v2 directory to start the user's commands in (root puts them there)

    def program(self, argv, cwd="/", env=None, check=True):
        ids = dict(user=self.user.uid, group=self.user.gid, extra_groups=[])
        if self.cgroup is not None:
            # Only root may move a process into the user's subtree from outside it.
            argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec setpriv --reuid=%d --regid=%d --clear-groups '
                    '-- "$@"' % (self.user.uid, self.user.gid), self.cgroup] + list(argv)
            ids = {}
        # Output to files, not pipes: a container made by `create` keeps the
        # runtime's stdio, so a pipe would not see EOF before it exits.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            code = subprocess.run(argv, cwd=cwd, env=self.env if env is None else env, stdin=subprocess.DEVNULL,
                                  stdout=out, stderr=err, timeout=DEFAULT_TIMEOUT, **ids).returncode
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(argv, code, out.read(), err.read())
        if check and result.returncode != 0:
            raise AssertionError("%s exited %d\nstdout: %s\nstderr: %s"
                                 % (" ".join(argv), result.returncode, result.stdout, result.stderr))
        return result

    def __call__(self, *args, check=True, env=None):
        result = self.program(self.command + [str(a) for a in args], env=env, check=check)
        assert_no_traceback(result)
        return result

    def status(self, cid):
        result = self("state", cid, check=False)
        return json.loads(result.stdout)["status"] if result.returncode == 0 else None

    def state_dirs(self):
        """What the runtime keeps under the user's runtime directory."""
        found = []
        for top, dirs, files in os.walk(self.runtime_dir):
            found += [os.path.join(top, d) for d in dirs if d != "minirun" and d != "runc"]
            found += [os.path.join(top, f) for f in files]
        return found


@pytest.fixture
def as_user(user, rt, user_runtime):
    runtime_dir = tempfile.mkdtemp(prefix="minirun-xdg-", dir="/tmp")
    os.chown(runtime_dir, user.uid, user.gid)
    os.chmod(runtime_dir, 0o700)
    runner = AsUser(user, runtime_dir, user_runtime)
    yield runner
    # Clean up what a failed test left, then say that it was left.
    try:
        listed = runner("list", "-q", check=False).stdout.split()
        for cid in listed:
            runner("delete", "--force", cid, check=False)
        left = runner.state_dirs()
    finally:
        shutil.rmtree(runtime_dir, ignore_errors=True)
    assert not listed and not left, "left under XDG_RUNTIME_DIR: %r %r" % (listed, left)


@pytest.fixture
def user_bundle(user, rt, rootfs_template, as_user):
    """make(spec_from=..., args=[...], edit=fn): a bundle the user owns, its
    config.json written by `spec --rootless` run as the user."""
    def make(args, spec_from=None, edit=None):
        top = rt.private_dir("mrl-")
        bundle = top / "bundle"
        bundle.mkdir()
        subprocess.run(["cp", "-a", rootfs_template, str(bundle / "rootfs")], check=True)
        os.chown(str(bundle), user.uid, user.gid)
        spec = list(spec_from or as_user.command) + ["spec", "--rootless"]
        as_user.program(spec, cwd=str(bundle))
        with open(str(bundle / "config.json")) as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = list(args)
        if edit is not None:
            edit(cfg)
        with open(str(bundle / "config.json"), "w") as f:
            json.dump(cfg, f)
        return bundle
    return make


def ranges(text):
    return [line.split() for line in text.strip().splitlines()]


# --- the whole lifecycle, as the user ------------------------------------------------


@pytest.mark.parametrize("spec_from", ["runtime", "runc"])
def test_run_maps_the_user_to_root_of_the_container(as_user, user, user_bundle, spec_from):
    if spec_from == "runc" and shutil.which("runc") is None:
        pytest.skip("runc is not installed: no `runc spec --rootless` bundle to try")
    bundle = user_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups;"
                          " test -d /sys/kernel && echo sys"],
                         spec_from=None if spec_from == "runtime" else ["runc"])
    result = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12])
    lines = result.stdout.splitlines()
    assert lines[0] == "0"
    assert ranges("\n".join(lines[1:3])) == [["0", str(user.uid), "1"], ["0", str(user.gid), "1"]]
    assert lines[3] == "deny"  # the kernel requires it for an unprivileged gid_map
    assert lines[4] == "sys"


def test_run_with_the_default_terminal_in_the_foreground(as_user, user, user_bundle):
    # The spec's default: terminal true. The image's tty group (5) is not
    # mapped by a rootless namespace: the pty goes to the process's group.
    bundle = user_bundle(["sh", "-c", "tty; ls -ln $(tty)"])
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["process"]["terminal"] = True
    (bundle / "config.json").write_text(json.dumps(cfg))
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(as_user.command + ["run", "--bundle", str(bundle), "c" + uuid.uuid4().hex[:12]],
                                cwd="/", env=as_user.env, user=user.uid, group=user.gid, extra_groups=[],
                                stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    finally:
        os.close(slave)
    try:
        out = read_all(master).decode(errors="replace").replace("\r", "")
    finally:
        os.close(master)
    assert proc.wait(timeout=DEFAULT_TIMEOUT) == 0, out
    lines = out.splitlines()  # the container's own lines only: the runtime adds none
    assert lines[0].startswith("/dev/pts/")
    assert lines[1].split()[2:4] == ["0", "0"]  # owner and group: the container's root


@pytest.mark.parametrize("spec_from", ["runtime", "runc"])
def test_run_and_exec_of_a_rootless_default_bundle_print_only_the_containers_bytes(as_user, user_bundle,
                                                                                    spec_from):
    """`spec --rootless` writes a config the runtime runs without a word of
    its own (runc 1.1's ambient capabilities without an inheritable set
    included): the runtime's stdout and stderr are the container's."""
    if spec_from == "runc" and shutil.which("runc") is None:
        pytest.skip("runc is not installed: no `runc spec --rootless` bundle to try")
    says = "echo out; echo err >&2"
    bundle = user_bundle(["sh", "-c", says + "; exec sleep 600"],
                         spec_from=None if spec_from == "runtime" else ["runc"])
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("create", "--bundle", bundle, cid)  # the init keeps create's stdio (files nobody reads)
    as_user("start", cid)
    result = as_user("exec", cid, "sh", "-c", says)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")
    as_user("kill", cid, "KILL")
    wait_for(lambda: as_user.status(cid) == "stopped", what="the container to stop")
    as_user("delete", cid)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["sh", "-c", says]
    (bundle / "config.json").write_text(json.dumps(config))
    result = as_user("run", "--bundle", bundle, cid)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


def test_create_start_state_exec_kill_delete_list(as_user, user_bundle):
    bundle = user_bundle(["sleep", "600"])
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("create", "--bundle", bundle, cid)
    assert as_user.status(cid) == "created"
    assert cid in as_user("list", "-q").stdout.split()
    # A created init is not yet dumpable: the user still proves and signals it.
    as_user("start", cid)
    assert as_user.status(cid) == "running"
    exec_result = as_user("exec", cid, "sh", "-c", "id -u; cat /proc/1/cmdline")
    assert exec_result.stdout.splitlines()[0] == "0"
    assert exec_result.stdout.splitlines()[1].startswith("sleep")
    as_user("kill", cid, "KILL")
    wait_for(lambda: as_user.status(cid) == "stopped", what="the container to stop")
    as_user("delete", cid)
    assert as_user("list", "-q").stdout.split() == []


def test_a_created_container_is_killed_and_deleted_by_its_user(as_user, user_bundle):
    bundle = user_bundle(["sleep", "600"])
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("create", "--bundle", bundle, cid)
    as_user("kill", cid, "KILL")
    wait_for(lambda: as_user.status(cid) == "stopped", what="the created container to stop")
    as_user("delete", cid)


def pids_in_pid_namespace_of(pid):
    target = os.readlink("/proc/%d/ns/pid" % pid)
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/ns/pid" % name) == target:
                    found.append(int(name))
            except OSError:
                pass
    return found


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 finds kill --all's processes through the cgroup only: rootless "
                                    "without one it fails (lstat: no such file or directory)")
def test_without_a_cgroup_kill_all_finds_every_process_through_the_pid_namespace(as_user, user_bundle):
    """No delegated cgroup, so no cgroup of its own: `kill --all` reaches the
    container's processes through its pid namespace (the init's children too)."""
    bundle = user_bundle(["sh", "-c", "sleep 600 & sleep 600 & echo up; wait"])
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("run", "--detach", "--bundle", bundle, cid)
    init = json.loads(as_user("state", cid).stdout)["pid"]
    wait_for(lambda: len(pids_in_pid_namespace_of(init)) == 3, what="the init and its two sleeps")
    members = pids_in_pid_namespace_of(init)
    # TERM, not KILL: the init ignores it (pid 1 of its namespace, no handler),
    # so only a signal sent to each sleep ends them; then the init's wait returns.
    as_user("kill", "--all", cid, "TERM")
    wait_for(lambda: not any(pid_alive(pid) for pid in members), what="every process to end")
    as_user("delete", cid)


def test_without_a_cgroup_delete_force_kills_a_created_init(as_user, user_bundle):
    bundle = user_bundle(["sleep", "600"])
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("create", "--bundle", bundle, cid)
    init = json.loads(as_user("state", cid).stdout)["pid"]
    as_user("delete", "--force", cid)
    assert not pid_alive(init)
    assert as_user("list", "-q").stdout.split() == []


# --- id mappings ------------------------------------------------------------------


def subordinate_mappings(user):
    return [{"containerID": 0, "hostID": user.uid, "size": 1},
            {"containerID": 1, "hostID": user.subordinate, "size": SUBORDINATE_COUNT}]


def test_subordinate_ranges_are_mapped_through_newuidmap(as_user, user, user_bundle):
    if shutil.which("newuidmap") is None or shutil.which("newgidmap") is None:
        pytest.skip("newuidmap/newgidmap are not installed (package uidmap)")

    # The gid mappings differ from the uid ones (the test user's gid may
    # equal its uid): newgidmap must be given the gid mappings, and the
    # container's gid_map must show them.
    gid_offset, gid_count = 4096, 4096

    def edit(cfg):
        cfg["linux"]["uidMappings"] = subordinate_mappings(user)
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1},
                                       {"containerID": 1, "hostID": user.subordinate + gid_offset,
                                        "size": gid_count}]
        # runc 1.1 refuses additionalGids in any rootless container; with
        # newgidmap setgroups stays allowed, and minirun applies them.
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [] if IS_RUNC else [10]}

    bundle = user_bundle(["sh", "-c", "id -u; id -g; id -G; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map"],
                         edit=edit)
    lines = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12]).stdout.splitlines()
    assert lines[:3] == ["1000", "1000", "1000" if IS_RUNC else "1000 10"]
    uid_map, gid_map = "\n".join(lines[3:]).split("--")
    assert ranges(uid_map) == [["0", str(user.uid), "1"], ["1", str(user.subordinate), str(SUBORDINATE_COUNT)]]
    assert ranges(gid_map) == [["0", str(user.gid), "1"], ["1", str(user.subordinate + gid_offset), str(gid_count)]]


def test_a_range_the_user_does_not_own_is_refused(as_user, user, user_bundle):
    def edit(cfg):
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1},
                                       {"containerID": 1, "hostID": user.subordinate + SUBORDINATE_COUNT,
                                        "size": 10}]

    bundle = user_bundle(["true"], edit=edit)
    result = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12], check=False)
    assert result.returncode != 0
    if IS_MINIRUN:
        assert "linux.uidMappings[1]" in result.stderr and "/etc/subuid" in result.stderr


# --- what an unprivileged user cannot do ------------------------------------------


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 fails to mount sysfs here (EPERM) instead of binding the host's")
def test_sysfs_is_bound_from_the_host_without_a_network_namespace(as_user, user_bundle):
    def edit(cfg):
        at = [m["destination"] for m in cfg["mounts"]].index("/sys")
        cfg["mounts"][at] = {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                             "options": ["nosuid", "noexec", "nodev", "ro"]}

    bundle = user_bundle(["sh", "-c", "test -d /sys/kernel && echo sys; touch /sys/x 2>/dev/null || echo ro"],
                         edit=edit)
    assert as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12]).stdout.split() == ["sys", "ro"]


def cgroups_delegated_to(user):
    """The runtime's rule (Host.cgroup_delegated): cgroup v2 alone, and the
    cgroup the user's commands start in (this test's own) is the user's."""
    with open("/proc/self/cgroup") as f:
        lines = f.read().splitlines()
    if len(lines) != 1 or not lines[0].startswith("0::"):
        return False
    return os.stat("/sys/fs/cgroup" + lines[0][3:]).st_uid == user.uid


def test_limits_without_delegated_cgroups_are_refused(as_user, user, user_bundle):
    if cgroups_delegated_to(user):
        pytest.skip("cgroups are delegated to users on this host: limits would apply")

    def edit(cfg):
        cfg["linux"]["resources"] = {"pids": {"limit": 100}}

    bundle = user_bundle(["true"], edit=edit)
    result = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12], check=False)
    assert result.returncode == 1
    if IS_MINIRUN:
        assert "linux.resources" in result.stderr and "delegated" in result.stderr


def test_without_limits_the_container_runs_in_the_users_cgroup(as_user, user_bundle):
    def edit(cfg):
        cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}  # not a limit: ignored

    bundle = user_bundle(["true"], edit=edit)
    as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12])


def pure_cgroup_v2():
    with open("/proc/self/cgroup") as f:
        return f.read().startswith("0::") and os.path.exists("/sys/fs/cgroup/cgroup.subtree_control")


needs_pure_v2 = pytest.mark.skipif(not pure_cgroup_v2(), reason="needs a pure cgroup v2 host: no v1 hierarchy is "
                                   "ever delegated to a user (the VM lab's v2 guests run this)")


def chown_cgroup(directory, user):
    """Delegate a cgroup v2 directory as systemd's Delegate=yes does: the
    directory and the files that move processes and enable controllers."""
    for path in (directory, directory + "/cgroup.procs", directory + "/cgroup.subtree_control",
                 directory + "/cgroup.threads"):
        os.chown(path, user.uid, user.gid)


@pytest.fixture
def delegated_subtree(user, as_user):
    """A cgroup v2 subtree delegated to the user, with the user's commands
    started in a scope inside it (as under user@.service/app.slice): the
    runtime's default puts a container beside that scope."""
    top = "/sys/fs/cgroup/minirun-delegated-" + uuid.uuid4().hex[:8]
    os.mkdir(top)
    scope = top + "/runtime.scope"
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
            f.write("+pids +memory")        # systemd hosts have them on already
        chown_cgroup(top, user)
        os.mkdir(scope)
        chown_cgroup(scope, user)
        as_user.cgroup = scope
        yield top
    finally:
        as_user.cgroup = None
        left = sorted(e.name for e in os.scandir(top) if e.is_dir() and e.name != "runtime.scope")
        for directory in [scope] + [top + "/" + name for name in left] + [top]:
            wait_for(lambda: not read_all_procs(directory), what="%s to empty" % directory)
            os.rmdir(directory)
    assert left == [], "cgroups left in the delegated subtree: %r" % left


def read_all_procs(directory):
    try:
        with open(directory + "/cgroup.procs") as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def read_value(path):
    with open(path) as f:
        return f.read().strip()


@needs_pure_v2
def test_with_a_delegated_subtree_limits_apply_in_a_cgroup_beside_the_runtimes_scope(as_user, user_bundle,
                                                                                     delegated_subtree):
    def edit(cfg):
        cfg["linux"]["resources"] = {"pids": {"limit": 100}, "memory": {"limit": 64 << 20}}

    bundle = user_bundle(["sleep", "600"], edit=edit)
    cid = "c" + uuid.uuid4().hex[:12]
    as_user("create", "--bundle", bundle, cid)
    mine = delegated_subtree + "/" + cid
    pid = json.loads(as_user("state", cid).stdout)["pid"]
    assert "/sys/fs/cgroup" + unified_cgroup(pid) == mine
    assert (read_value(mine + "/pids.max"), read_value(mine + "/memory.max")) == ("100", str(64 << 20))
    as_user("start", cid)
    # exec joins the container's cgroup: in its cgroup namespace that is "/",
    # without one the path itself
    seen = as_user("exec", cid, "cat", "/proc/self/cgroup").stdout.strip()
    assert seen in ("0::/", "0::" + mine[len("/sys/fs/cgroup"):]), seen
    as_user("kill", cid, "KILL")
    wait_for(lambda: as_user.status(cid) == "stopped", what="the container to stop")
    as_user("delete", cid)
    assert not os.path.exists(mine)


@needs_pure_v2
def test_with_a_delegated_subtree_a_cgroupspath_outside_it_is_a_clear_error(as_user, user_bundle,
                                                                            delegated_subtree):
    outside = "/minirun-not-delegated-" + uuid.uuid4().hex[:8]

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = outside + "/c"

    bundle = user_bundle(["true"], edit=edit)
    result = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12], check=False)
    assert result.returncode == 1
    assert not os.path.exists("/sys/fs/cgroup" + outside)
    if IS_MINIRUN:
        assert "/sys/fs/cgroup" + outside in result.stderr and "Permission denied" in result.stderr


@pytest.fixture
def user_systemd(user, as_user):
    """The user's own systemd instance, delegated a cgroup as user@UID.service
    has (-> $XDG_RUNTIME_DIR, its root cgroup). That unit itself needs logind
    over D-Bus for the runtime directory, which the lab's guests do not run:
    the test starts what it runs, `systemd --user` with Delegate=yes, as a
    transient service of the user, and makes $XDG_RUNTIME_DIR itself. The
    user's commands run in a cgroup of that instance's subtree, as in a
    terminal of a desktop session: the instance moves only processes there
    (others it asks the system instance to move, over a system bus the
    guests do not have)."""
    if not os.path.isdir("/run/systemd/system"):
        pytest.skip("needs systemd as init (the VM lab's guests have it)")
    unit = "minirun-test-user-%d.service" % user.uid
    runtime_dir = "/run/user/%d" % user.uid
    os.makedirs(runtime_dir, mode=0o700)
    os.chown(runtime_dir, user.uid, user.gid)
    try:
        started = subprocess.run(
            ["systemd-run", "--unit", unit, "-p", "User=%d" % user.uid, "-p", "Group=%d" % user.gid,
             "-p", "Type=notify", "-p", "Delegate=yes", "-p", "WorkingDirectory=/",
             "-p", "Environment=XDG_RUNTIME_DIR=%s HOME=/" % runtime_dir, "/lib/systemd/systemd", "--user"],
            capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            journal = subprocess.run(["journalctl", "--no-pager", "-n", "60"], capture_output=True, text=True)
            raise AssertionError("systemd-run %s: %s\n%s" % (unit, started.stderr, journal.stdout))
        wait_for(lambda: os.path.exists(runtime_dir + "/systemd/private"), timeout=60,
                 what="the user's systemd to listen")
        root = subprocess.run(["systemctl", "show", "-p", "ControlGroup", "--value", unit], capture_output=True,
                              text=True, check=True).stdout.strip()
        commands = "/sys/fs/cgroup%s/minirun-test-commands" % root
        os.mkdir(commands)
        chown_cgroup(commands, user)
        as_user.cgroup = commands
        yield runtime_dir, root
    finally:
        if as_user.cgroup is not None:
            as_user.cgroup = None
            wait_for(lambda: not read_all_procs(commands), what="the user's commands to end")
            os.rmdir(commands)
        subprocess.run(["systemctl", "stop", unit], timeout=120)
        shutil.rmtree(runtime_dir, ignore_errors=True)


def test_with_systemd_cgroup_a_rootless_container_is_a_scope_of_the_users_own_systemd(as_user, user, user_bundle,
                                                                                     user_systemd):
    def edit(cfg):
        cfg["linux"]["resources"] = {"pids": {"limit": 100}}

    bundle = user_bundle(["sleep", "600"], edit=edit)
    cid = "c" + uuid.uuid4().hex[:12]
    runtime_dir, instance_cgroup = user_systemd
    env = dict(as_user.env, XDG_RUNTIME_DIR=runtime_dir)
    root = os.path.join(as_user.runtime_dir, "runc" if IS_RUNC else "minirun")    # as_user's check looks there
    as_user("--root", root, "--systemd-cgroup", "create", "--bundle", bundle, cid, env=env)
    try:
        pid = json.loads(as_user("--root", root, "state", cid, env=env).stdout)["pid"]
        scope = "%s/user.slice/%s-%s.scope" % (instance_cgroup, "runc" if IS_RUNC else "minirun", cid)
        assert unified_cgroup(pid) == scope
        assert read_value("/sys/fs/cgroup" + scope + "/pids.max") == "100"
    finally:
        as_user("--root", root, "delete", "--force", cid, env=env)
    wait_for(lambda: not os.path.exists("/sys/fs/cgroup" + scope), what="systemd to remove the scope")


@pytest.mark.skipif(IS_RUNC, reason="runc falls back to /run/runc when XDG_RUNTIME_DIR is unset")
def test_no_runtime_dir_and_no_root_is_a_clear_error(as_user):
    env = dict(as_user.env)
    del env["XDG_RUNTIME_DIR"]
    result = as_user("list", check=False, env=env)
    assert result.returncode == 1
    assert "XDG_RUNTIME_DIR" in result.stderr and "--root" in result.stderr


# --- bind sources the mapped root cannot reach (as root) -----------------------------


def test_a_bind_source_in_a_0700_directory_reaches_a_user_namespaced_container(rt, tmp_path, rootfs_template, cid):
    # pytest's tmp_path lies under a 0700 directory of the host's root: the
    # container's root (host uid 100000) cannot walk there by itself.
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "file").write_text("reached\n")
    top = rt.private_dir()
    root = top / "rootfs"
    subprocess.run(["cp", "-a", rootfs_template, str(root)], check=True)
    (root / "secret").mkdir()  # the container's root may not create it in a directory of the host's root
    cfg = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["cat", "/secret/file"],
                    "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": str(root)},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                   bind_mount(secret, "/secret")],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "user")],
                  "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                  "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]},
    }
    bundle = top / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    os.chmod(str(root), 0o755)
    assert rt("run", "--bundle", bundle, cid).stdout == "reached\n"


def userns_bundle(rt, rootfs_template, args, mounts, devices=(), files=(), directories=()):
    """A bundle for a container in a new user namespace (root is host uid
    100000), made in a private directory, with these extra mounts. The
    container's root may not create mount points in the host root's
    directories: the files and directories named are made for it."""
    top = rt.private_dir()
    root = top / "rootfs"
    subprocess.run(["cp", "-a", rootfs_template, str(root)], check=True)
    for name in files:
        (root / name).write_text("")
    for name in directories:
        (root / name).mkdir()
    cfg = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": list(args),
                    "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": str(root)},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]}]
                  + list(mounts),
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "user")],
                  "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                  "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                  "devices": list(devices)},
    }
    bundle = top / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


@pytest.fixture
def closed_directory(tmp_path):
    """A mode-0000 directory holding a file, a directory and a symlink to
    each: only the host's root (CAP_DAC_OVERRIDE) may enter it."""
    closed = tmp_path / "closed"
    (closed / "dir").mkdir(parents=True)
    (closed / "file").write_text("file reached\n")
    (closed / "dir" / "inside").write_text("dir reached\n")
    os.symlink("file", str(closed / "link-to-file"))
    os.symlink(str(closed / "dir"), str(closed / "link-to-dir"))
    os.chmod(str(closed), 0)
    yield closed
    os.chmod(str(closed), 0o700)


@pytest.mark.parametrize("through", ["", "link-to-"])
def test_bind_sources_under_a_mode_0000_directory_reach_a_user_namespaced_container(rt, rootfs_template, cid,
                                                                                     closed_directory, through):
    """As root: the sources are opened by the host's root before the
    container's ids apply (runc and crun do the same); before, the init
    opened them as the container's root and got `Permission denied`."""
    bundle = userns_bundle(rt, rootfs_template, ["sh", "-c", "cat /f /d/inside"], [
        bind_mount(closed_directory / (through + "file"), "/f", "bind"),
        bind_mount(closed_directory / (through + "dir"), "/d", "rbind", "ro")], files=["f"], directories=["d"])
    assert rt("run", "--bundle", bundle, cid).stdout == "file reached\ndir reached\n"


# --- id-mapped mounts (as root) ---------------------------------------------------


def idmapped_bundle(rt, rootfs_template, data, mount):
    top = rt.private_dir()
    root = top / "rootfs"
    subprocess.run(["cp", "-a", rootfs_template, str(root)], check=True)
    (root / "data").mkdir()
    cfg = {
        "ociVersion": "1.3.0",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0},
                    "args": ["sh", "-c", "stat -c %u:%g /data/file && touch /data/made"],
                    "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": str(root)},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                   dict(mount, destination="/data", type="bind", source=str(data))],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "mount", "user")],
                  "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                  "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]},
    }
    bundle = top / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    return bundle


def kernel_has_idmapped_mounts():
    release = tuple(int(part) for part in os.uname().release.split("-")[0].split(".")[:2])
    return release >= (5, 12)


@pytest.mark.skipif(not kernel_has_idmapped_mounts(), reason="id-mapped mounts need Linux 5.12")
@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 has no id-mapped mounts (it ignores the options; runc 1.2 has them)")
@pytest.mark.parametrize("mount", [
    {"options": ["rbind", "idmap"],
     "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
     "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]},
    {"options": ["rbind", "ridmap"]},  # the container's own mappings
], ids=["own-mappings", "container-mappings"])
def test_an_id_mapped_mount_shows_the_hosts_root_files_as_the_containers_root(rt, rootfs_template, cid, mount):
    data = rt.private_dir("mri-")
    (data / "file").write_text("x")  # owned by the host's root
    os.chmod(str(data), 0o755)  # the container's root writes here only as the host's root, through the mapping
    bundle = idmapped_bundle(rt, rootfs_template, data, mount)
    assert rt("run", "--bundle", bundle, cid).stdout == "0:0\n"
    made = os.stat(str(data / "made"))
    assert (made.st_uid, made.st_gid) == (0, 0)  # written through the mapping back to the host's ids


def test_a_rootless_id_mapped_mount_is_refused_naming_the_mount(as_user, user, user_bundle, rt):
    data = rt.private_dir("mri-")
    index = []

    def edit(cfg):
        cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(data),
                              "options": ["rbind", "idmap"]})
        index.append(len(cfg["mounts"]) - 1)

    bundle = user_bundle(["true"], edit=edit)
    result = as_user("run", "--bundle", bundle, "c" + uuid.uuid4().hex[:12], check=False)
    assert result.returncode != 0
    if IS_MINIRUN:
        assert "mounts[%d]" % index[0] in result.stderr and "id-mapped" in result.stderr
