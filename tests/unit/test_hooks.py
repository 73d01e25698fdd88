"""Section 9: hooks run as real processes: state on stdin, own args and env, timeouts."""

import errno
import json
import os
import signal

import pytest

import minirun


def write_script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def make_hook(path, args=None, env=None, timeout=None, field="hooks.prestart[0]"):
    hook = minirun.Hook()
    hook.path = path
    hook.args = args if args is not None else [path]
    hook.env = env if env is not None else []
    hook.timeout = timeout
    hook.field = field
    return hook


STATE = {"ociVersion": "1.3.0", "id": "c1", "status": "creating", "pid": 4242, "bundle": "/b"}


def test_the_state_json_arrives_on_stdin(tmp_path):
    out = tmp_path / "stdin.json"
    script = write_script(tmp_path, "hook", 'cat > "%s"\n' % out)
    minirun.run_hook(make_hook(script, env=["PATH=/usr/bin:/bin"]), STATE)
    assert json.loads(out.read_text()) == STATE


def test_args_after_the_first_are_passed_to_the_hook(tmp_path):
    out = tmp_path / "args"
    script = write_script(tmp_path, "hook", 'for a in "$@"; do printf "%%s\\n" "$a"; done > "%s"\n' % out)
    minirun.run_hook(make_hook(script, args=["name", "one", "two words", ""]), STATE)
    assert out.read_text() == "one\ntwo words\n\n"


def test_argv0_of_the_hook_is_args0_not_its_path(tmp_path):
    out = tmp_path / "cmdline"
    hook = make_hook("/bin/sh", args=["libnetwork-setkey", "-c", 'cat /proc/$$/cmdline > "%s"' % out],
                     env=["PATH=/usr/bin:/bin"])
    minirun.run_hook(hook, STATE)
    assert out.read_bytes().split(b"\0")[0] == b"libnetwork-setkey"


def test_the_hook_gets_exactly_its_own_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIRUN_TEST_LEAK", "should-not-arrive")
    out = tmp_path / "env"
    script = write_script(tmp_path, "hook",
                          'echo "FOO=$FOO|EMPTY=${EMPTY-unset}|EQ=$EQ|LEAK=${MINIRUN_TEST_LEAK-unset}'
                          '|PATH=${PATH-unset}" > "%s"\n' % out)
    minirun.run_hook(make_hook(script, env=["FOO=bar", "EMPTY=", "EQ=a=b"]), STATE)
    text = out.read_text().strip()
    assert "FOO=bar|EMPTY=|EQ=a=b|LEAK=unset|" in text
    assert "should-not-arrive" not in text


def test_a_hook_that_exits_zero_returns_quietly_even_if_it_ignores_stdin(tmp_path):
    script = write_script(tmp_path, "hook", "exit 0\n")
    assert minirun.run_hook(make_hook(script), STATE) is None


# A failure is worded as runc (1.2+) words it: the phase and index, Go's
# exec.ExitError text, then the hook's stdout and stderr, each on its own.


def test_a_failing_hook_raises_runcs_line_with_its_exit_status_stdout_and_stderr(tmp_path):
    script = write_script(tmp_path, "hook", "echo 'said on stdout'\necho 'network setup failed' >&2\nexit 3\n")
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script, field="hooks.createRuntime[2]"), STATE)
    assert str(caught.value) == ("error running createRuntime hook #2: exit status 3, "
                                 "stdout: said on stdout\n, stderr: network setup failed\n")


def test_a_failing_hook_with_no_output_says_so_as_runc_does(tmp_path):
    script = write_script(tmp_path, "hook", "exit 1\n")
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script), STATE)
    assert str(caught.value) == "error running prestart hook #0: exit status 1, stdout: , stderr: "


@pytest.mark.parametrize("number, words", [
    (signal.SIGKILL, "signal: killed"),
    (signal.SIGSYS, "signal: bad system call"),
    (signal.SIGTERM, "signal: terminated"),
    (signal.SIGRTMIN, "signal: signal %d" % signal.SIGRTMIN),  # past Go's table of names
])
def test_a_hook_killed_by_a_signal_is_reported_in_gos_words_not_as_a_negative_status(tmp_path, number, words):
    script = write_script(tmp_path, "hook", "kill -%d $$\n" % number)
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script), STATE)
    assert str(caught.value) == "error running prestart hook #0: %s, stdout: , stderr: " % words


def test_gos_wait_status_words():
    assert minirun.go_exit_text(3 << 8) == "exit status 3"
    assert minirun.go_exit_text(signal.SIGSEGV) == "signal: segmentation fault"
    assert minirun.go_exit_text(signal.SIGSEGV | 0x80) == "signal: segmentation fault (core dumped)"
    assert minirun.go_exit_text(signal.SIGSYS) == "signal: bad system call"


def test_a_missing_hook_executable_fails_as_gos_fork_exec_does(tmp_path):
    missing = str(tmp_path / "no-such-hook")
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(missing), STATE)
    assert str(caught.value) == ("error running prestart hook #0: fork/exec %s: no such file or directory"
                                 % missing)


def test_a_hook_that_exits_127_itself_is_not_taken_for_one_that_did_not_start(tmp_path):
    script = write_script(tmp_path, "hook", "exit 127\n")
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script), STATE)
    assert str(caught.value) == "error running prestart hook #0: exit status 127, stdout: , stderr: "


class HangGuard:
    """Fails the test (instead of hanging the run) if a hook's timeout never
    fires; it only guards against hangs, nothing is asserted on time."""

    def __enter__(self):
        def hung(_signum, _frame):
            raise AssertionError("run_hook never returned: the hook's timeout was not applied")
        self.previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(60)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


def gated_hook(tmp_path):
    """A hook that blocks (in the shell itself, no child) reading a fifo
    nobody opens, and writes "finished" if it ever gets past it."""
    gate, finished = tmp_path / "gate", tmp_path / "finished"
    os.mkfifo(str(gate))
    script = write_script(tmp_path, "hook", 'read line < "%s"\necho finished > "%s"\n' % (gate, finished))
    return script, gate, finished


def assert_killed(gate, finished):
    """The hook is gone: its fifo has no reader left (ENXIO), and it never
    got past the gate to write its marker."""
    with pytest.raises(OSError) as caught:
        os.close(os.open(str(gate), os.O_WRONLY | os.O_NONBLOCK))
    assert caught.value.errno == errno.ENXIO
    assert not finished.exists()


def test_a_hook_past_its_timeout_is_killed_and_reported_as_timed_out(tmp_path):
    script, gate, finished = gated_hook(tmp_path)
    with HangGuard(), pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script, timeout=1, field="hooks.poststart[0]"), STATE)
    assert str(caught.value) == "error running poststart hook #0: hook ran past specified timeout of 1.0s"
    assert_killed(gate, finished)


def test_a_hook_that_finishes_within_its_timeout_succeeds(tmp_path):
    out = tmp_path / "ran"
    script = write_script(tmp_path, "hook", 'echo ran > "%s"\n' % out)
    minirun.run_hook(make_hook(script, timeout=30), STATE)
    assert out.read_text() == "ran\n"


def test_the_timeout_holds_even_when_the_state_is_larger_than_a_pipe_buffer(tmp_path):
    """The hook never reads its stdin: writing the state must not block
    run_hook past the timeout."""
    script, gate, finished = gated_hook(tmp_path)
    state = dict(STATE, annotations={"big": "x" * (256 * 1024)})
    with HangGuard(), pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script, timeout=1), state)
    assert str(caught.value) == "error running prestart hook #0: hook ran past specified timeout of 1.0s"
    assert_killed(gate, finished)


# --- hook_state -------------------------------------------------------------------


def test_hook_state_has_the_spec_fields():
    state = minirun.hook_state("c1", 4242, "/srv/b", {}, "creating")
    assert state == {"ociVersion": minirun.SPEC_VERSION, "id": "c1", "status": "creating", "pid": 4242,
                     "bundle": "/srv/b"}


def test_hook_state_includes_annotations_when_there_are_some():
    state = minirun.hook_state("c1", 1, "/b", {"io.kubernetes.pod": "p"}, "created")
    assert state["annotations"] == {"io.kubernetes.pod": "p"}
    assert state["status"] == "created"


def test_hook_state_of_a_parsed_config_names_its_bundle():
    raw = {"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]},
           "linux": {"namespaces": [{"type": "mount"}]}, "annotations": {"k": "v"}}
    cfg = minirun.parse_config(raw, "/srv/bundle")
    state = minirun.hook_state("c1", 7, cfg.bundle, cfg.annotations, "creating")
    assert state["bundle"] == "/srv/bundle" and state["annotations"] == {"k": "v"}


# --- runc parity: the environment, working directory and umask of a hook -------------


def test_a_hook_without_env_inherits_the_runtime_environment(tmp_path, monkeypatch):
    """As runc's hooks do (Go's exec with a nil Env): PATH works in hook scripts."""
    monkeypatch.setenv("MINIRUN_TEST_INHERITED", "from-the-runtime")
    monkeypatch.setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    out = tmp_path / "env"
    script = write_script(tmp_path, "hook",
                          'echo "$MINIRUN_TEST_INHERITED|$PATH|$(basename $(command -v cat))" > "%s"\n' % out)
    hook = make_hook(script)
    hook.env = None
    minirun.run_hook(hook, STATE)
    assert out.read_text() == "from-the-runtime|/usr/sbin:/usr/bin:/sbin:/bin|cat\n"


def test_hooks_without_env_parse_to_none_and_an_empty_env_stays_empty():
    raw = {"createRuntime": [{"path": "/bin/true"}, {"path": "/bin/true", "env": []},
                             {"path": "/bin/true", "env": ["A=1"]}]}
    hooks = minirun._parse_hooks(raw)["createRuntime"]
    assert [h.env for h in hooks] == [None, [], ["A=1"]]
    # and a hook kept in the state file for start/delete keeps the difference
    assert [minirun.Hook.from_json(h.to_json()).env for h in hooks] == [None, [], ["A=1"]]


def test_an_empty_env_gives_the_hook_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIRUN_TEST_LEAK", "should-not-arrive")
    out = tmp_path / "env"
    script = write_script(tmp_path, "hook", 'echo "${MINIRUN_TEST_LEAK-unset}" > "%s"\n' % out)
    minirun.run_hook(make_hook(script, env=[]), STATE)
    assert out.read_text() == "unset\n"


def test_run_hook_applies_cwd_and_umask_in_the_hook_only(tmp_path):
    """createContainer hooks run in the root filesystem with umask 0022 (runc)."""
    workdir = tmp_path / "rootfs"
    workdir.mkdir()
    out = tmp_path / "seen"
    script = write_script(tmp_path, "hook", 'echo "$(pwd) $(umask)" > "%s"; touch made\n' % out)
    before_cwd, before_umask = os.getcwd(), os.umask(0)
    try:
        minirun.run_hook(make_hook(script, env=["PATH=/usr/bin:/bin"]), STATE, cwd=str(workdir), umask=0o022)
        after_umask = os.umask(before_umask)
    finally:
        os.umask(before_umask)
    assert out.read_text() == "%s 0022\n" % workdir
    assert (workdir / "made").stat().st_mode & 0o777 == 0o644
    assert os.getcwd() == before_cwd and after_umask == 0  # the runtime's own are untouched


def test_run_hook_without_cwd_and_umask_leaves_them_as_the_runtime_has_them(tmp_path):
    out = tmp_path / "seen"
    script = write_script(tmp_path, "hook", 'echo "$(pwd) $(umask)" > "%s"\n' % out)
    before = os.umask(0o027)
    try:
        minirun.run_hook(make_hook(script, env=["PATH=/usr/bin:/bin"]), STATE)
    finally:
        os.umask(before)
    assert out.read_text() == "%s 0027\n" % os.getcwd()


def test_a_cwd_the_hook_cannot_enter_fails_naming_the_hook_and_the_directory(tmp_path):
    script = write_script(tmp_path, "hook", "exit 0\n")
    missing = str(tmp_path / "no-such-root")
    with pytest.raises(minirun.Error) as caught:
        minirun.run_hook(make_hook(script, field="hooks.createContainer[0]"), STATE, cwd=missing)
    assert str(caught.value) == ("error running createContainer hook #0: chdir %s: no such file or directory"
                                 % missing)
