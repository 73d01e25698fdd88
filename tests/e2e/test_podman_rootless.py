"""Rootless podman: podman 4.3 (with conmon) run by an unprivileged user,
minirun given as `--runtime minirun`, beside runc.

The module makes a user of its own (useradd, removed afterwards) with a
subordinate id range of its own in /etc/subuid and /etc/subgid, and runs
every podman command as that user (setpriv) with podman's rootless defaults
on this host and only these settings of its own, under one temporary
directory:

* HOME and XDG_CONFIG_HOME in it: podman's storage is then the default
  $HOME/.local/share/containers/storage, and $XDG_CONFIG_HOME/containers
  holds containers.conf (minirun and runc in [engine.runtimes]) and
  storage.conf (the vfs driver: fuse-overlayfs is not installed, and vfs
  mounts nothing);
* XDG_RUNTIME_DIR: a 0700 directory the user owns (no systemd/logind here
  makes /run/user/UID), where podman keeps its run root and its pause
  process's pid, and the runtimes their state ($XDG_RUNTIME_DIR/minirun,
  $XDG_RUNTIME_DIR/runc);
* `--cgroup-manager cgroupfs` (no systemd user instance), events to a file
  (no journald), `netns = "none"` (the rootless default, slirp4netns, would
  give the container a route to outside addresses; it is not installed).

podman runs the runtime as root of the user namespace its pause process
holds, with a spec that has no user namespace, no cgroupsPath and no
resources: on a cgroup v1 host podman drops limits for a rootless user
("Resource limits are not supported and ignored on cgroups V1 rootless
systems") and the container stays in the caller's cgroups.

After each test nothing of the runtime is left under the user's runtime
directory; at the end the user's podman is reset (which stops its pause
process), and no process of the user's ids may be left before the user is
removed.
"""

import fcntl
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from .engines import (IMAGE, MINIRUN, PODMAN, RUNC, TIMEOUT, EngineError, PtyProcess, busybox_image,
                      processes_mentioning, runtimes, wait_for)

SUBORDINATE_COUNT = 65536
# The integration suite's test users are made under the same lock (xdist
# workers and this module add users one at a time).
ACCOUNTS_LOCK = "/tmp/minirun-test-accounts.lock"
SETPRIV = "/usr/bin/setpriv"
TOOLS = (PODMAN, RUNC, "/usr/bin/conmon", SETPRIV, "/usr/sbin/useradd", "/usr/sbin/usermod",
         "/usr/sbin/userdel", "/usr/bin/newuidmap", "/usr/bin/newgidmap")
SLEEP = ["sleep", "100000"]


def accounts_locked():
    handle = open(ACCOUNTS_LOCK, "a")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


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


def subordinate_ranges(name):
    """[(first, count)] of the user's lines in /etc/subuid and /etc/subgid."""
    found = []
    for path in ("/etc/subuid", "/etc/subgid"):
        with open(path) as f:
            for line in f:
                fields = line.strip().split(":")
                if len(fields) == 3 and fields[0] == name:
                    found.append((int(fields[1]), int(fields[2])))
    return found


def processes_of_uids(owns):
    """(pid, real uid, cmdline) of the processes whose real uid `owns` accepts."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/status" % entry) as f:
                uid = int(next(line for line in f if line.startswith("Uid:")).split()[1])
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, StopIteration):
            continue
        if owns(uid):
            found.append((int(entry), uid, cmd))
    return found


def processes_in_pid_namespace(ns):
    """Pids of the processes whose pid namespace is `ns` (a readlink of /proc/PID/ns/pid)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink("/proc/%s/ns/pid" % entry) == ns:
                    found.append(int(entry))
            except OSError:
                pass
    return found


class RootlessPodman:
    """The test user, its directories and its podman, and how to take them down."""

    def __init__(self):
        self.name = "mrp" + uuid.uuid4().hex[:8]
        self.top = Path(tempfile.mkdtemp(prefix="minirun-e2e-rootless-", dir="/tmp"))
        os.chmod(str(self.top), 0o755)   # the user enters it; pytest's tmp dirs are 0700
        self.created = False
        self.home = None
        try:
            self._make()
        except BaseException:
            self.remove()
            raise

    def _make(self):
        with accounts_locked():
            subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/sh", self.name],
                           check=True)
        self.created = True
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        # A range derived from the uid: distinct per user, far from the usual 100000+ ones.
        first = 1000000000 + (self.uid % 10000) * SUBORDINATE_COUNT
        with accounts_locked():
            subprocess.run(["usermod", "--add-subuids", "%d-%d" % (first, first + SUBORDINATE_COUNT - 1),
                            "--add-subgids", "%d-%d" % (first, first + SUBORDINATE_COUNT - 1), self.name],
                           check=True)
        # useradd may have given it a range of its own too: all of them are the user's.
        self.ranges = subordinate_ranges(self.name)
        self.home = self.user_dir("home")
        self.runtime_dir = self.user_dir("run")
        config = self.user_dir("home/.config/containers")
        # The runtime as engines call it: the file itself, in a directory the
        # user can enter (the repository may lie in a tree it cannot) and
        # write (Python caches its bytecode there).
        self.minirun = self.user_dir("runtime") / "minirun.py"
        shutil.copy2(str(MINIRUN), str(self.minirun))
        os.chmod(str(self.minirun), 0o755)
        (config / "containers.conf").write_text("\n".join([
            "[containers]",
            'netns = "none"',
            'log_driver = "k8s-file"',
            "[engine]",
            'events_logger = "file"',
            'runtime_supports_json = ["crun", "runc", "minirun"]',
            "[engine.runtimes]",
            'minirun = ["%s"]' % self.minirun,
            'runc = ["%s"]' % RUNC,
            "",
        ]))
        (config / "storage.conf").write_text('[storage]\ndriver = "vfs"\n')
        for path in config.iterdir():
            os.chown(str(path), self.uid, self.gid)
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.home),
            "USER": self.name, "LOGNAME": self.name, "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "MINIRUN_PYTHON": os.path.realpath(os.environ.get("MINIRUN_PYTHON") or sys.executable),
        }
        self.log = self.top / "podman.log"
        archive = busybox_image(self.top)
        os.chmod(str(archive), 0o644)
        self.podman("load", "--input", archive, timeout=120)

    def user_dir(self, relative):
        """top/relative and the directories made for it, the user's, 0700."""
        relative = Path(relative)
        (self.top / relative).mkdir(mode=0o700, parents=True)
        for part in [relative] + list(relative.parents)[:-1]:
            os.chown(str(self.top / part), self.uid, self.gid)
        return self.top / relative

    def owns(self, uid):
        return uid == self.uid or any(first <= uid < first + count for first, count in self.ranges)

    def podman_argv(self, runtime, *args):
        head = [SETPRIV, "--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups", "--",
                PODMAN, "--cgroup-manager", "cgroupfs"]
        if runtime:
            head += ["--runtime", runtime]
        return [str(a) for a in head + list(args)]

    def podman(self, *args, runtime=None, check=True, timeout=TIMEOUT):
        argv = self.podman_argv(runtime, *args)
        result = subprocess.run(argv, env=self.env, cwd=str(self.home), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                                timeout=timeout)
        with open(str(self.log), "a") as f:
            f.write("$ %s\n-> %d\n%s%s" % (" ".join(argv), result.returncode, result.stdout, result.stderr))
        if check and result.returncode != 0:
            raise EngineError("podman %s exited %d\nstdout: %s\nstderr: %s"
                              % (" ".join(str(a) for a in args), result.returncode, result.stdout,
                                 result.stderr))
        return result

    def state_dir(self, runtime):
        """Where the runtime keeps the user's containers: its default root."""
        return self.runtime_dir / runtime

    def remove(self):
        """Reset the user's podman (containers, images, and its pause
        process), then check that no process of the user's ids is left and
        remove the user and its directories. Returns what was left."""
        problems = []
        if self.created and self.home is not None and self.home.is_dir():
            ids = self.podman("ps", "-aq", check=False).stdout.split()
            if ids:
                self.podman("rm", "-f", "-t", "0", *ids, check=False)
            self.podman("system", "reset", "--force", check=False, timeout=120)
        if self.created:
            try:
                wait_for(lambda: not processes_of_uids(self.owns), timeout=30,
                         what="no process of the user %s" % self.name)
            except EngineError:
                left = processes_of_uids(self.owns)
                problems.append("processes of the user %s left: %s" % (self.name, left))
                # Proven by their ids: only this user's own uid and ranges.
                for pid, _uid, _cmd in left:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                wait_for(lambda: not processes_of_uids(self.owns), timeout=30,
                         what="the user's processes to die")
            with accounts_locked():
                # userdel removes the subordinate ranges with the user (shadow >= 4.6)
                subprocess.run(["userdel", self.name], check=True)
            if subordinate_ranges(self.name):
                problems.append("/etc/subuid or /etc/subgid kept %s" % self.name)
        shutil.rmtree(str(self.top), ignore_errors=True)
        return problems


@pytest.fixture(scope="module")
def rootless():
    if os.geteuid() != 0:
        pytest.skip("making the test user needs root")
    missing = [p for p in TOOLS if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("missing %s: run `make deps e2e-deps` (passwd, uidmap, util-linux, podman, conmon, "
                    "runc)" % ", ".join(missing))
    refused = unprivileged_userns_refused()
    if refused:
        pytest.skip(refused)
    user = RootlessPodman()
    try:
        yield user
    finally:
        problems = user.remove()
        assert not problems, "\n".join(problems)


class Podman:
    """One runtime's view of the user's podman; removes what a test made and
    checks that the runtime's state directory is empty afterwards."""

    def __init__(self, rootless, runtime):
        self.rootless = rootless
        self.runtime = runtime
        self.names = []

    def __call__(self, *args, check=False, timeout=TIMEOUT):
        return self.rootless.podman(*args, runtime=self.runtime, check=check, timeout=timeout)

    def detached(self, *args):
        name = "e2e-%s-%s" % (self.runtime, uuid.uuid4().hex[:10])
        self.names.append(name)
        self("run", "-d", "--name", name, *args, check=True)
        return name

    def inspect(self, name, template):
        return self("inspect", "--format", template, name, check=True).stdout.strip()

    def state_entries(self):
        state = self.rootless.state_dir(self.runtime)
        return sorted(os.listdir(str(state))) if state.is_dir() else []

    def cleanup(self):
        if self.names:
            self("rm", "-f", "-t", "0", *self.names)
        return self.state_entries()


@pytest.fixture
def pm(rootless, runtime):
    p = Podman(rootless, runtime)
    yield p
    left = p.cleanup()
    assert not left, "left in %s: %s" % (rootless.state_dir(runtime), left)


@runtimes()
def test_run_rm_prints_hi(pm):
    r = pm("run", "--rm", IMAGE, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n"), r


@runtimes()
def test_run_rm_maps_the_user_to_root_and_passes_exit_codes(pm):
    r = pm("run", "--rm", IMAGE, "sh", "-c", "id -u; head -n 1 /proc/self/uid_map; echo err >&2; exit 3")
    lines = r.stdout.splitlines()
    assert r.returncode == 3 and lines[0] == "0" and "err\n" in r.stderr, r
    assert lines[1].split() == ["0", str(pm.rootless.uid), "1"], r   # podman's namespace: the user is root
    r = pm("run", "--rm", IMAGE, "/nonexistent")
    assert r.returncode == 127 and "/nonexistent" in r.stderr, r


@runtimes()
def test_run_it_on_a_real_pty(pm):
    argv = pm.rootless.podman_argv(pm.runtime, "run", "-it", "--rm", IMAGE, "sh", "-c",
                                   'trap "echo GOT-INT; exit 5" INT; tty; echo ready; '
                                   "while :; do sleep 0.1; done")
    p = PtyProcess(argv, env=pm.rootless.env)
    try:
        out = p.expect("ready")
        assert b"/dev/pts/" in out, out
        p.send("typed")
        p.expect("typed")
        p.send("\x03")
        p.expect("GOT-INT")
        assert p.wait() == 5, p.output
    finally:
        p.close()


@runtimes()
def test_run_detached_exec_and_stop_leave_no_process(pm):
    c = pm.detached(IMAGE, "sh", "-c", 'trap "exit 42" TERM; while :; do sleep 0.1; done')
    pid = int(pm.inspect(c, "{{.State.Pid}}"))
    # The container's init, proven: the user's own uid (root of podman's
    # namespace), pid 1 of a pid namespace of its own.
    with open("/proc/%d/status" % pid) as f:
        status = dict(line.split(":", 1) for line in f)
    assert status["Uid"].split()[0] == str(pm.rootless.uid), status
    assert status["NSpid"].split()[-1] == "1", status
    pid_ns = os.readlink("/proc/%d/ns/pid" % pid)
    assert pid_ns != os.readlink("/proc/self/ns/pid")
    cid = pm.inspect(c, "{{.Id}}")
    assert cid in pm.state_entries()   # the state is under the user's XDG_RUNTIME_DIR

    r = pm("exec", c, "sh", "-c", "id -u; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.returncode == 0 and r.stdout.splitlines() == ["0", 'sh -c trap "exit 42" TERM; '
                                                           "while :; do sleep 0.1; done "], r
    r = pm("exec", "-u", "65534", "-w", "/tmp", "-e", "FOO=bar", c, "sh", "-c", 'id -u; pwd; echo "$FOO"; exit 7')
    assert (r.returncode, r.stdout) == (7, "65534\n/tmp\nbar\n"), r

    r = pm("stop", "-t", "30", c)   # SIGTERM, trapped: the init exits itself
    assert r.returncode == 0, r
    assert pm.inspect(c, "{{.State.Status}} {{.State.ExitCode}}") == "exited 42"
    wait_for(lambda: not processes_in_pid_namespace(pid_ns), what="no process left in the container's pid namespace")
    r = pm("rm", c)
    assert r.returncode == 0, r
    wait_for(lambda: not processes_mentioning(cid), what="conmon of %s to exit" % cid)
    assert cid not in pm.state_entries()


@runtimes()
def test_stop_escalates_to_sigkill_after_the_stop_time(pm):
    # sleep as pid 1 has no SIGTERM handler: the kernel drops the signal, and
    # podman sends SIGKILL once the stop time (-t) has passed.
    c = pm.detached(IMAGE, *SLEEP)
    pid_ns = os.readlink("/proc/%d/ns/pid" % int(pm.inspect(c, "{{.State.Pid}}")))
    r = pm("stop", "-t", "1", c)
    assert r.returncode == 0, r
    assert pm.inspect(c, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    wait_for(lambda: not processes_in_pid_namespace(pid_ns), what="no process left in the container's pid namespace")


@runtimes()
def test_no_cgroup_of_its_own_and_limits_dropped_by_podman(pm):
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        pytest.skip("a cgroup v2 host: podman's rootless cgroups there depend on delegation, "
                    "a case this host-bound scenario does not cover")
    with open("/proc/self/cgroup") as f:
        callers = f.read()
    r = pm("run", "--rm", "-m", "64m", IMAGE, "cat", "/proc/self/cgroup")
    assert r.returncode == 0 and r.stdout == callers, r
    assert "Resource limits are not supported and ignored on cgroups V1 rootless systems" in r.stderr, r


@runtimes()
def test_rm_leaves_nothing_in_the_runtimes_state_directory(pm):
    c = pm.detached(IMAGE, *SLEEP)
    cid = pm.inspect(c, "{{.Id}}")
    assert pm.state_entries() == [cid]
    assert not os.path.exists("/run/%s/%s" % (pm.runtime, cid))   # nothing in root's directory
    r = pm("rm", "-f", "-t", "0", c)
    assert r.returncode == 0, r
    assert pm.state_entries() == []


@runtimes()
def test_group_add_keep_groups_keeps_the_callers_supplementary_groups(pm):
    """`podman run --group-add keep-groups` (annotation run.oci.keep_original_groups=1):
    the container's process keeps the supplementary groups of the user who
    ran podman, here one outside podman's user namespace, shown as the
    overflow gid 65534; without it, podman's own list (the image's groups of
    the user) replaces them."""
    def groups(*run_args):
        argv = pm.rootless.podman_argv(pm.runtime, "run", "--rm", *run_args, IMAGE, "grep", "Groups",
                                       "/proc/self/status")
        at = argv.index("--clear-groups")
        argv[at:at + 1] = ["--groups", "4242"]      # the caller's supplementary group
        r = subprocess.run(argv, env=pm.rootless.env, cwd=str(pm.rootless.home), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=TIMEOUT)
        assert r.returncode == 0, r
        return r.stdout.split()[1:]
    kept, replaced = groups("--group-add", "keep-groups"), groups()
    assert "65534" not in replaced, replaced
    if pm.runtime == "runc":
        # runc ignores the annotation (podman documents keep-groups as crun's)
        assert kept == replaced
        return
    assert kept == ["65534"]
