"""OCI hooks: prestart, createRuntime, createContainer, startContainer,
poststart and poststop.  Each runs at its point of the lifecycle, in the
right mount namespace, with the state JSON on stdin and its own args and
env; a hook that fails or outlives its timeout fails the operation."""

import json
import os
import sys

import pytest

from .helpers import (
    IS_RUNC, all_pids, assert_error, assert_no_traceback, ns_id, pid_alive, proc_status, read_json_log, wait_for,
)

HOOK = """#!/bin/sh
name="$1"
cat > "$LOGDIR/$name.state"
echo "$name" >> "$LOGDIR/order"
shift
echo "$*" > "$LOGDIR/$name.args"
echo "$HOOKVAR" > "$LOGDIR/$name.env"
readlink /proc/self/ns/mnt > "$LOGDIR/$name.mntns"
exit ${HOOK_EXIT:-0}
"""

HOST_HOOKS = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]


@pytest.fixture
def hook_script(tmp_path, rootfs):
    """The same recording script on the host and inside the rootfs."""
    host = tmp_path / "hook.sh"
    host.write_text(HOOK)
    host.chmod(0o755)
    (rootfs / "hooks").mkdir()
    inside = rootfs / "hooks" / "hook.sh"
    inside.write_text(HOOK)
    inside.chmod(0o755)
    return host


def hook_entry(path, name, logdir, **extra):
    entry = {"path": str(path), "args": [str(path), name, "first", "second-%s" % name],
             "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LOGDIR=%s" % logdir,
                     "HOOKVAR=value-for-%s" % name]}
    entry.update(extra)
    return entry


def all_hooks(hook_script, shared):
    hooks = {name: [hook_entry(hook_script, name, shared)] for name in HOST_HOOKS}
    # startContainer runs inside the container: a path in the rootfs, a log
    # dir that is the bind-mounted host directory
    hooks["startContainer"] = [hook_entry("/hooks/hook.sh", "startContainer", "/shared")]
    return hooks


def order(shared):
    path = shared / "order"
    return path.read_text().split() if path.exists() else []


def hook_state(shared, name):
    return json.loads((shared / ("%s.state" % name)).read_text())


def test_hooks_run_in_order_with_state_args_and_env(rt, make_bundle, hook_script, shared, cid):
    bundle = make_bundle(["sh", "-c", "while [ ! -e /shared/go ]; do sleep 0.05; done"],
                         shared=True, hooks=all_hooks(hook_script, shared))
    rt("create", "--bundle", bundle, cid)
    created = ["prestart", "createRuntime", "createContainer"]
    started = created + ["startContainer", "poststart"]
    if IS_RUNC:
        # runc 1.1 runs poststart hooks at `create` (fixed in runc 1.2), and
        # its `start` returns before startContainer hooks have run
        assert order(shared) == created + ["poststart"]
    else:
        assert order(shared) == created
    pid = rt.state(cid)["pid"]

    rt("start", cid)
    if IS_RUNC:
        wait_for(lambda: len(order(shared)) == 5, what="all start hooks")
        assert sorted(order(shared)) == sorted(started)
    else:
        # poststart runs after the process started, before `start` returns
        assert order(shared) == started

    (shared / "go").write_text("")
    rt.wait_status(cid, "stopped")
    assert "poststop" not in order(shared)
    rt("delete", cid)
    assert order(shared)[-1] == "poststop"
    assert sorted(order(shared)) == sorted(started + ["poststop"])

    for name in HOST_HOOKS + ["startContainer"]:
        state = hook_state(shared, name)
        assert state["id"] == cid, name
        assert os.path.realpath(state["bundle"]) == os.path.realpath(str(bundle)), name
        assert "status" in state, name
        assert (shared / ("%s.args" % name)).read_text() == "first second-%s\n" % name
        assert (shared / ("%s.env" % name)).read_text() == "value-for-%s\n" % name
        if name in ("createContainer", "startContainer"):
            # these run inside the container: runc reports the pid as seen in
            # the container's pid namespace (1); minirun the host's, as for
            # every other hook
            assert state["pid"] == (1 if IS_RUNC else pid), name
        elif name != "poststop":
            assert state["pid"] == pid, name


HOOK_STATUS = {"prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
               "startContainer": "created", "poststart": "running", "poststop": "stopped"}
# runc 1.1 runs poststart hooks at `create` (fixed in runc 1.2)
HOOK_STATUS_RUNC = dict(HOOK_STATUS, poststart="created")


def test_hook_states(rt, make_bundle, hook_script, shared, cid):
    bundle = make_bundle(["true"], shared=True, hooks=all_hooks(hook_script, shared))
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt.wait_status(cid, "stopped")
    rt("delete", cid)
    # runtime-spec: the create hooks see "creating", startContainer "created"
    # (the process has not started), poststart "running", poststop "stopped"
    wanted = dict(HOOK_STATUS_RUNC if IS_RUNC else HOOK_STATUS)
    got = {name: hook_state(shared, name)["status"] for name in wanted}
    assert got == wanted
    # Every hook reads the state the runtime spec defines: its required
    # fields (pid too while the container is not stopped), nothing else.
    required = {"ociVersion", "id", "status", "bundle"}
    for name in wanted:
        state = hook_state(shared, name)
        fields = set(state)
        assert required <= fields <= required | {"pid", "annotations"}, (name, state)
        if state["status"] != "stopped":
            assert "pid" in fields, (name, state)
        assert state["id"] == cid, (name, state)
        assert os.path.realpath(state["bundle"]) == os.path.realpath(str(bundle)), (name, state)


def test_hook_namespaces(rt, make_bundle, hook_script, shared, cid):
    bundle = make_bundle(["sleep", "100"], shared=True, hooks=all_hooks(hook_script, shared))
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    pid = rt.state(cid)["pid"]
    host_mnt = ns_id("self", "mnt")
    container_mnt = ns_id(pid, "mnt")
    assert host_mnt != container_mnt

    def mnt_of(name):
        return (shared / ("%s.mntns" % name)).read_text().strip()

    # runtime namespace
    assert mnt_of("prestart") == host_mnt
    assert mnt_of("createRuntime") == host_mnt
    assert mnt_of("poststart") == host_mnt
    # container namespace
    assert mnt_of("createContainer") == container_mnt
    assert mnt_of("startContainer") == container_mnt


def test_hooks_get_the_container_annotations_in_state(rt, make_bundle, hook_script, shared, cid):
    hooks = {"createRuntime": [hook_entry(hook_script, "createRuntime", shared)]}
    bundle = make_bundle(["true"], shared=True, hooks=hooks,
                         annotations={"org.example": "yes"})
    rt("create", "--bundle", bundle, cid)
    assert hook_state(shared, "createRuntime").get("annotations") == {"org.example": "yes"}


@pytest.mark.parametrize("stage", ["createRuntime", "prestart", "createContainer"])
def test_failing_create_hook_fails_create_and_leaves_nothing(rt, make_bundle, hook_script,
                                                             shared, cid, stage):
    entry = hook_entry(hook_script, stage, shared)
    entry["env"].append("HOOK_EXIT=1")
    bundle = make_bundle(["sh", "-c", "echo ran > /shared/ran"], shared=True,
                         hooks={stage: [entry]})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "error running %s hook #0: exit status 1, stdout: , stderr: " % stage, log=rt.log)
    assert order(shared) == [stage]
    assert not (shared / "ran").exists()
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


# What runc prints for a failed create hook, after its own "minirun: " or
# "runc create failed: ...: " prefix: runc 1.2+'s words, which minirun
# matches. runc 1.1 (installed here) says "error running hook #0: error
# running hook: signal: killed, stdout: , stderr: " for the same hook: its
# common part is what a reference run checks.
@pytest.mark.parametrize("stage", ["prestart", "createRuntime"])
@pytest.mark.parametrize("command, words", [
    ("kill -9 $$", "signal: killed"),
    ("kill -SYS $$", "signal: bad system call"),
    ("echo out; echo err >&2; exit 3", "exit status 3"),
])
def test_a_failed_hook_is_reported_in_runcs_words(rt, make_bundle, cid, stage, command, words):
    bundle = make_bundle(["true"], hooks={stage: [{"path": "/bin/sh", "args": ["sh", "-c", command]}]})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    output = "out\n" if "exit 3" in command else ""
    errors = "err\n" if "exit 3" in command else ""
    tail = "%s, stdout: %s, stderr: %s" % (words, output, errors)
    assert result.returncode == 1
    # One line: the hook's newlines are escaped (\n), as every error line's are.
    escaped = tail.replace("\n", "\\n")
    if IS_RUNC:
        assert ("error running hook #0: error running hook: %s" % tail) in result.stderr, result.stderr
    else:
        assert result.stderr == "minirun: error running %s hook #0: %s\n" % (stage, escaped)
        assert read_json_log(rt.log)[-1]["msg"] == "error running %s hook #0: %s" % (stage, escaped)
    rt.assert_clean()


def test_hook_exceeding_its_timeout_is_killed(rt, make_bundle, tmp_path, shared, cid):
    """The hook blocks (in the shell itself) on a fifo nobody opens: only
    its timeout ends it. It is killed, never gets to write "finished", and
    the error names the timeout."""
    gate = shared / "gate"
    os.mkfifo(str(gate))
    script = tmp_path / "slow-hook.sh"
    script.write_text("#!/bin/sh\necho $$ > %s/slow.pid\nread line < %s\necho finished > %s/finished\n"
                      % (shared, gate, shared))
    script.chmod(0o755)
    bundle = make_bundle(["true"], hooks={"createRuntime": [
        {"path": str(script), "args": [str(script)], "timeout": 1}]})
    result = rt("create", "--bundle", bundle, cid, check=False)
    assert_error(result, "error running createRuntime hook #0: hook ran past specified timeout of 1.0s")
    hook_pid = int((shared / "slow.pid").read_text())
    wait_for(lambda: not pid_alive(hook_pid), what="the timed-out hook to be killed")
    assert not (shared / "finished").exists()
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_failing_start_container_hook_fails_start(rt, make_bundle, hook_script, shared, cid):
    entry = hook_entry("/hooks/hook.sh", "startContainer", "/shared")
    entry["env"].append("HOOK_EXIT=1")
    bundle = make_bundle(["sh", "-c", "echo ran > /shared/ran"], shared=True,
                         hooks={"startContainer": [entry]})
    rt("create", "--bundle", bundle, cid)
    result = rt("start", cid, check=False)
    # OCI says the runtime must generate an error and stop the container;
    # that `start` reports it: test_a_failing_start_container_hook_fails_start_and_runs_no_poststart.
    assert_no_traceback(result)
    rt.wait_status(cid, "stopped")
    assert order(shared) == ["startContainer"]
    assert not (shared / "ran").exists()
    rt("delete", "--force", cid)
    rt.assert_clean()


def test_poststop_runs_on_delete_force_of_a_running_container(rt, make_bundle, hook_script,
                                                              shared, cid):
    hooks = {"poststop": [hook_entry(hook_script, "poststop", shared)]}
    bundle = make_bundle(["sleep", "100"], shared=True, hooks=hooks)
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    rt("delete", "--force", cid)
    assert order(shared) == ["poststop"]
    assert hook_state(shared, "poststop")["id"] == cid


def test_multiple_hooks_of_one_kind_run_in_order(rt, make_bundle, hook_script, shared, cid):
    hooks = {"createRuntime": [hook_entry(hook_script, "one", shared),
                               hook_entry(hook_script, "two", shared),
                               hook_entry(hook_script, "three", shared)]}
    bundle = make_bundle(["true"], shared=True, hooks=hooks)
    rt("create", "--bundle", bundle, cid)
    assert order(shared) == ["one", "two", "three"]


# --------------------------------------------------------------------------
# runc parity: environment, working directory and umask of hooks

ENV_HOOK = """#!/bin/sh
# no absolute paths: PATH must come from the runtime's environment
cat > /dev/null
echo "$MINIRUN_TEST_HOOK_VAR|$(basename "$(command -v cat)")" > "{out}/$1.env"
"""


def test_hooks_without_env_inherit_the_runtime_environment(rt, make_bundle, tmp_path, shared, cid):
    """As runc's hooks do: a hook with no `env` gets the runtime's own
    environment, so PATH works in hook scripts."""
    script = tmp_path / "env-hook.sh"
    script.write_text(ENV_HOOK.format(out=shared))
    script.chmod(0o755)
    phases = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    hooks = {phase: [{"path": str(script), "args": [str(script), phase]}] for phase in phases}
    bundle = make_bundle(["true"], hooks=hooks)
    env = dict(os.environ, MINIRUN_TEST_HOOK_VAR="inherited",
               PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    rt("create", "--bundle", bundle, cid, env=env)
    rt("start", cid, env=env)
    rt.wait_status(cid, "stopped")
    rt("delete", cid, env=env)
    seen = {phase: (shared / ("%s.env" % phase)).read_text() for phase in phases
            if (shared / ("%s.env" % phase)).exists()}
    # createContainer runs from the container's init: under runc its
    # environment is by then the container process's env (process.env), so
    # there only PATH working is checked
    container_side = seen.pop("createContainer", None)
    assert container_side is not None and container_side.endswith("|cat\n")
    assert seen == {phase: "inherited|cat\n" for phase in phases if phase != "createContainer"}


def test_a_hook_with_an_empty_env_gets_an_empty_environment(rt, make_bundle, tmp_path, shared, cid):
    script = tmp_path / "empty-env-hook.sh"
    script.write_text("#!/bin/sh\necho \"${MINIRUN_TEST_HOOK_VAR-unset}\" > %s/empty.env\n" % shared)
    script.chmod(0o755)
    bundle = make_bundle(["true"], hooks={"createRuntime": [{"path": str(script), "env": []}]})
    rt("create", "--bundle", bundle, cid, env=dict(os.environ, MINIRUN_TEST_HOOK_VAR="inherited"))
    assert (shared / "empty.env").read_text() == "unset\n"


CWD_HOOK = """#!/bin/sh
echo "$(pwd)|$(umask)" > "{out}/createContainer.cwd"
echo made > made-by-hook
"""


def test_create_container_hooks_run_in_the_rootfs_with_umask_0022(rt, make_bundle, rootfs, tmp_path,
                                                                  shared, cid):
    """runc enters the root filesystem before running createContainer hooks
    (the old root is still reachable) and they create files as umask 0022
    does, whatever umask the runtime uses for the container's setup."""
    script = tmp_path / "cwd-hook.sh"
    script.write_text(CWD_HOOK.format(out=shared))
    script.chmod(0o755)
    bundle = make_bundle(["true"], hooks={"createContainer": [
        {"path": str(script), "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]})
    before = os.umask(0o022)  # the runtime's own umask, inherited: runc passes it on
    try:
        rt("create", "--bundle", bundle, cid)
    finally:
        os.umask(before)
    cwd, umask = (shared / "createContainer.cwd").read_text().strip().split("|")
    assert (os.path.realpath(cwd), umask) == (os.path.realpath(str(rootfs)), "0022")
    made = rootfs / "made-by-hook"
    assert made.read_text() == "made\n" and made.stat().st_mode & 0o777 == 0o644


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1's start exits 0 before startContainer hooks run, and "
                                    "runs poststart at create: the issue asks minirun to be better")
def test_a_failing_start_container_hook_fails_start_and_runs_no_poststart(rt, make_bundle, hook_script,
                                                                         shared, cid):
    failing = hook_entry("/hooks/hook.sh", "startContainer", "/shared")
    failing["env"].append("HOOK_EXIT=3")
    hooks = {"startContainer": [failing], "poststart": [hook_entry(hook_script, "poststart", shared)],
             "poststop": [hook_entry(hook_script, "poststop", shared)]}
    bundle = make_bundle(["sh", "-c", "echo ran > /shared/ran"], shared=True, hooks=hooks)
    rt("create", "--bundle", bundle, cid)
    result = rt("start", cid, check=False, log=True)
    assert result.returncode != 0
    assert "error running startContainer hook #0: exit status 3" in result.stderr, result.stderr
    assert rt.status(cid) == "stopped"
    assert order(shared) == ["startContainer"]  # no poststart
    assert not (shared / "ran").exists()
    rt("delete", cid)
    assert order(shared) == ["startContainer", "poststop"]
    rt.assert_clean()


# Records what the container's init is executing when poststart runs: the
# stat of /proc/PID/exe (the runtime's interpreter before execve, the
# container's binary after).
RECORD_EXE = """#!%s
import json, os, sys
pid = json.load(sys.stdin)["pid"]
st = os.stat("/proc/%%d/exe" %% pid)
with open(sys.argv[1], "w") as f:
    f.write("%%d:%%d" %% (st.st_dev, st.st_ino))
"""

# Syscalls a process blocks in while it polls: poll and ppoll.
POLL_SYSCALLS = {"x86_64": {"7", "271"}, "aarch64": {"73"}}


def waits_for_the_exec(pid):
    """`start` is blocked in poll with no child: not running a hook (hooks
    are children it may poll for), so waiting for the init's exec."""
    try:
        with open("/proc/%d/syscall" % pid) as f:
            polling = f.read().split()[0] in POLL_SYSCALLS[os.uname().machine]
    except (OSError, IndexError):
        return False
    return polling and not [p for p in all_pids() if proc_status_or_none(p, "PPid") == str(pid)]


def proc_status_or_none(pid, field):
    try:
        return proc_status(pid).get(field)
    except OSError:
        return None


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 runs poststart hooks at create (fixed in runc 1.2)")
def test_poststart_runs_after_the_process_has_execd(rt, make_bundle, rootfs, tmp_path, shared, cid):
    """The init is held before execve by a startContainer hook blocked on a
    fifo the test opens. A `start` that ran poststart now would record the
    runtime's interpreter; a correct one blocks until the exec. The gate is
    opened only once either has visibly happened (poststart's record exists,
    or `start` sits in poll with no hook running), so the order is observed,
    never raced."""
    record = tmp_path / "poststart.exe"
    hook = tmp_path / "record-exe"
    hook.write_text(RECORD_EXE % sys.executable)
    hook.chmod(0o755)
    os.mkfifo(str(shared / "gate"))
    hold = {"path": "/bin/sh", "args": ["sh", "-c", "echo > /shared/held; cat /shared/gate"]}
    bundle = make_bundle(["sleep", "100"], shared=True, hooks={
        "startContainer": [hold],
        "poststart": [{"path": str(hook), "args": [str(hook), str(record)]}]})
    rt("create", "--bundle", bundle, cid)
    start = rt.popen("start", cid)
    wait_for(lambda: (shared / "held").exists(), what="the startContainer hook to hold the init")
    wait_for(lambda: record.exists() or waits_for_the_exec(start.pid),
             what="poststart to run or start to wait for the exec")
    os.close(os.open(str(shared / "gate"), os.O_WRONLY))
    result = rt.finish(start)
    assert result.returncode == 0, result.stderr
    busybox = os.stat(str(rootfs / "bin" / "busybox"))
    assert record.read_text() == "%d:%d" % (busybox.st_dev, busybox.st_ino)
    assert rt.status(cid) == "running"


def test_start_container_hooks_run_under_the_containers_seccomp_filter(rt, make_bundle, hook_script,
                                                                       shared, cid):
    """startContainer hooks are the container's process just before its
    execve: the container's seccomp filter already holds for them."""
    script = "#!/bin/sh\nmkdir /tmp/from-hook 2>/dev/null && echo made > /shared/mkdir || echo refused > /shared/mkdir\n"
    inside = rt.tmp / "rootfs" / "hooks" / "mkdir.sh"
    inside.write_text(script)
    inside.chmod(0o755)
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    hooks = {"startContainer": [{"path": "/hooks/mkdir.sh", "args": ["/hooks/mkdir.sh"]}]}
    bundle = make_bundle(["true"], shared=True, hooks=hooks, linux={"seccomp": profile})
    rt("run", "--bundle", bundle, cid)
    assert (shared / "mkdir").read_text() == "refused\n"
