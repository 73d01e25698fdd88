"""`run [-b B] [--detach] [--keep] [--pid-file F] [--console-socket S] ID`:
create + start + wait; the runtime exits with the container's exit code, or
128+N when the container's init was killed by signal N."""

import signal

import pytest

from .helpers import assert_error, pid_alive, wait_for


@pytest.mark.parametrize("code", [0, 1, 7, 255])
def test_run_exit_code_propagates(rt, make_bundle, cid, code):
    bundle = make_bundle(["sh", "-c", "exit %d" % code])
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert result.returncode == code, result.stderr


def test_run_output_and_removal(rt, make_bundle, cid):
    bundle = make_bundle(["echo", "hello from the container"])
    result = rt("run", "-b", bundle, cid)
    assert result.stdout == "hello from the container\n"
    # without --keep the container is deleted when it exits
    gone = rt("state", cid, check=False)
    assert gone.returncode == 1
    assert "does not exist" in gone.stderr
    rt.assert_clean()


def test_run_killed_by_sigkill_exits_137(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    proc = rt.popen("run", "--bundle", bundle, cid)
    wait_for(lambda: rt.status(cid) == "running", what="the container to run")
    rt("kill", cid, "KILL")
    result = rt.finish(proc)
    assert result.returncode == 128 + signal.SIGKILL
    rt.assert_clean()


def test_run_killed_by_own_signal_without_pid_namespace(rt, make_bundle, cid):
    """Outside a pid namespace the process is not an init, so it can die of
    a signal it sends itself: 128 + SIGUSR1."""
    bundle = make_bundle(
        ["sh", "-c", "kill -USR1 $$; sleep 5"],
        linux={"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
                              {"type": "network"}]})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert result.returncode == 128 + signal.SIGUSR1, result.stderr


def test_run_detach_returns_while_the_container_runs(rt, make_bundle, cid, tmp_path):
    bundle = make_bundle(["sleep", "100"])
    pid_file = tmp_path / "run.pid"
    rt("run", "--detach", "--pid-file", pid_file, "--bundle", bundle, cid)
    state = rt.state(cid)
    assert state["status"] == "running"
    assert pid_file.read_text() == str(state["pid"])
    assert pid_alive(state["pid"])
    rt("delete", "--force", cid)
    wait_for(lambda: not pid_alive(state["pid"]), what="the init to die")
    rt.assert_clean()


def test_run_detach_short_flag(rt, make_bundle, cid):
    bundle = make_bundle(["sleep", "100"])
    rt("run", "-d", "-b", bundle, cid)
    assert rt.status(cid) == "running"


def test_run_keep_keeps_the_stopped_container(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "exit 3"])
    result = rt("run", "--keep", "--bundle", bundle, cid, check=False)
    assert result.returncode == 3
    state = rt.state(cid)
    assert state["status"] == "stopped"
    assert cid in rt("list", "-q").stdout.split()
    rt("delete", cid)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


def test_run_flag_equals_form(rt, make_bundle, cid):
    bundle = make_bundle(["echo", "eq"])
    result = rt("run", "--bundle=%s" % bundle, cid)
    assert result.stdout == "eq\n"


def test_run_missing_executable_fails_and_cleans_up(rt, make_bundle, cid):
    bundle = make_bundle(["/no/such/binary"])
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert_error(result, "/no/such/binary")
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()
