"""Section 13: the typed protocol and the container's processes.

Messages are named (Msg.*), defined in one place with the type of their value
(MESSAGE_VALUES), and carried one line each over a real socketpair. Waiting
for a message names what was expected when something else (or EOF) comes,
and the peer's ERROR becomes an Error with the peer's own text.

Then the children themselves (joiner_main, init_main, exec_process_main),
each in a forked process with the recording kernel, the test playing the
parent's side of the protocol: what each child asks of the kernel at each
step of the sequence.
"""

import ast
import json
import os
import socket

import pytest

import minirun
from minirun import Msg

from .helpers import base_config
from .kernel_double import FAKE_FD, FAKE_PID, RecordingKernel


@pytest.fixture
def pair():
    left, right = socket.socketpair()
    yield minirun.Channel(left.fileno(), "container init"), minirun.Channel(right.fileno(), "container init"), left
    left.close()
    right.close()


def test_every_message_of_the_protocol_has_a_value_type():
    names = {value for key, value in vars(Msg).items() if key.isupper()}
    assert names == set(minirun.MESSAGE_VALUES)
    assert {minirun.MESSAGE_VALUES[k] for k in names} <= {None, int, str}
    assert minirun.MESSAGE_VALUES[Msg.INIT_PID] is int and minirun.MESSAGE_VALUES[Msg.PROCESS_PID] is int
    assert minirun.MESSAGE_VALUES[Msg.ERROR] is str


def test_messages_carry_typed_values(pair):
    a, b, _ = pair
    a.send(Msg.INIT_PID, 4242)
    a.send(Msg.READY)
    a.send(Msg.ERROR, "mounts[2]: no")
    assert b.recv() == (Msg.INIT_PID, 4242)
    assert b.recv() == (Msg.READY, None)
    assert b.recv() == (Msg.ERROR, "mounts[2]: no")


def test_the_whole_create_sequence_goes_through_in_order(pair):
    parent, child, _ = pair
    child.send(Msg.USERNS)
    assert parent.expect(Msg.USERNS) is None
    parent.send(Msg.IDMAPS_WRITTEN)
    assert child.expect(Msg.IDMAPS_WRITTEN) is None
    child.send(Msg.INIT_PID, 77)
    assert parent.expect(Msg.INIT_PID) == 77
    child.send(Msg.RUN_HOOKS)
    assert parent.expect(Msg.RUN_HOOKS, Msg.READY) == (Msg.RUN_HOOKS, None)
    child.send(Msg.READY)
    assert parent.expect(Msg.RUN_HOOKS, Msg.READY) == (Msg.READY, None)


def test_a_newline_in_an_error_text_cannot_split_the_message(pair):
    a, b, _ = pair
    a.send(Msg.ERROR, "line one\nline two")
    a.send(Msg.READY)
    assert b.recv() == (Msg.ERROR, "line one\\nline two")  # as report_error prints a newline
    assert b.recv() == (Msg.READY, None)


def test_an_error_texts_trailing_space_arrives(pair):
    """runc's hook errors end in "stderr: " when the hook wrote nothing there."""
    a, b, _ = pair
    a.send(Msg.ERROR, "error running createContainer hook #0: exit status 1, stdout: , stderr: ")
    assert b.recv() == (Msg.ERROR, "error running createContainer hook #0: exit status 1, stdout: , stderr: ")


@pytest.mark.parametrize("kind", ["hooks", "pid", "", "READY"])
def test_a_kind_outside_the_protocol_is_refused_on_send(pair, kind):
    a, b, left = pair
    with pytest.raises(KeyError):
        a.send(kind)
    left.shutdown(socket.SHUT_WR)
    assert b.recv() == (None, None)  # nothing was written


@pytest.mark.parametrize("kind,value", [
    (Msg.INIT_PID, "4242"),  # a pid is an int, not its text
    (Msg.INIT_PID, None),
    (Msg.READY, 1),  # READY carries nothing
    (Msg.ERROR, None),
    (Msg.ERROR, 5),
])
def test_a_value_of_the_wrong_type_is_refused_on_send(pair, kind, value):
    a, _, _ = pair
    with pytest.raises(minirun.ProtocolError) as caught:
        a.send(kind, value)
    assert kind in str(caught.value)


def test_recv_at_eof_is_none(pair):
    _, b, left = pair
    left.shutdown(socket.SHUT_WR)
    assert b.recv() == (None, None)


def test_a_pid_that_is_not_a_number_is_a_protocol_error(pair):
    _, b, left = pair
    left.sendall(b"init-pid 12x\n")
    with pytest.raises(minirun.ProtocolError) as caught:
        b.recv()
    assert "init-pid" in str(caught.value) and "12x" in str(caught.value)


def test_expect_returns_the_value_of_the_expected_message(pair):
    a, b, _ = pair
    a.send(Msg.PROCESS_PID, 7)
    assert b.expect(Msg.PROCESS_PID) == 7


def test_an_unexpected_message_names_what_was_expected_and_what_came(pair):
    a, b, _ = pair
    a.send(Msg.RUN_HOOKS)
    with pytest.raises(minirun.ProtocolError) as caught:
        b.expect(Msg.READY)
    assert str(caught.value) == "container init stopped unexpectedly: waiting for ready, got run-hooks"


def test_eof_names_what_was_expected(pair):
    _, b, left = pair
    left.shutdown(socket.SHUT_WR)
    with pytest.raises(minirun.ProtocolError) as caught:
        b.expect(Msg.INIT_PID, Msg.ERROR)
    message = str(caught.value)
    assert message.startswith("container init stopped unexpectedly: waiting for init-pid or error, ")
    assert message.endswith("got end of stream (the process exited)")


def test_an_error_from_the_peer_becomes_an_error_with_its_text(pair):
    a, b, _ = pair
    a.send(Msg.ERROR, "mounts[2] (proc on /proc): Operation not permitted")
    with pytest.raises(minirun.Error) as caught:
        b.expect(Msg.READY)
    assert not isinstance(caught.value, minirun.ProtocolError)
    assert str(caught.value) == "mounts[2] (proc on /proc): Operation not permitted"


def test_expect_eof_is_quiet_at_eof_the_sign_that_execve_happened(pair):
    _, b, left = pair
    left.shutdown(socket.SHUT_WR)
    assert b.expect_eof() is None


def test_expect_eof_turns_an_error_into_an_error(pair):
    a, b, _ = pair
    a.send(Msg.ERROR, 'exec: "nope": executable file not found in $PATH')
    with pytest.raises(minirun.Error) as caught:
        b.expect_eof()
    assert str(caught.value) == 'exec: "nope": executable file not found in $PATH'


def test_expect_eof_refuses_any_other_message_naming_it(pair):
    a, b, _ = pair
    a.send(Msg.READY)
    with pytest.raises(minirun.ProtocolError) as caught:
        b.expect_eof()
    assert "unexpected ready before execve" in str(caught.value)


def test_child_failure_sends_one_error_and_leaves_with_status_1(pair):
    """A child reports an exception as ERROR and exits through os._exit."""
    a, b, left = pair
    pid = os.fork()
    if pid == 0:
        try:
            minirun.child_failure(a, OSError(13, "Permission denied", "/proc/sys/net/x"))
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    with pytest.raises(minirun.Error) as caught:
        b.expect(Msg.READY)
    assert str(caught.value) == "/proc/sys/net/x: Permission denied"


# --- the children, end to end over the protocol, with the recording kernel ---------------
#
# Each child runs in a forked process of the test (it may leave through
# os._exit, as the real children do), with a RecordingKernel that appends
# every call to a file; the test plays the parent's side of the protocol on a
# real socketpair, then reads what the child asked of the kernel.

SECCOMP_FACTS = dict([("seccomp_action_%x" % (value & 0xFFFF0000), True) for value in minirun.SECCOMP_ACTIONS.values()]
                     + [("seccomp_flag_%x" % flag, True) for flag in (1, 2, 4, 32 | 8)])
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host(**facts):
    return minirun.Host(facts=dict(SECCOMP_FACTS, euid=0, in_user_namespace=False, apparmor=False, selinux=False,
                                   last_capability=40, has_openat2=False, has_kcore=True,
                                   filesystems=frozenset(["proc", "tmpfs", "sysfs"]), **facts))


class StreamingKernel(RecordingKernel):
    """Appends each call to a file as it is made, so the record survives os._exit."""

    def __init__(self, root, log_path, fail=None):
        super().__init__(root)
        self.log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.fail = fail or {}

    def record(self, name, *args):
        super().record(name, *args)
        os.write(self.log, (repr((name,) + tuple(args)) + "\n").encode())
        if name in self.fail:
            raise self.fail[name]


def run_child(tmp_path, main, fail=None):
    """Fork; the child runs main(kernel, channel_fd). Returns (pid, the parent's Channel,
    read_calls); run_child.child_fd is the child's end of the channel."""
    log_path = str(tmp_path / "calls.log")
    parent_end, child_end = socket.socketpair()
    run_child.child_fd = child_end.fileno()
    pid = os.fork()
    if pid == 0:
        try:
            parent_end.close()
            main(StreamingKernel(tmp_path, log_path, fail), child_end.fileno())
        finally:
            os._exit(0)
    child_end.close()

    def read_calls():
        with open(log_path) as handle:
            return [ast.literal_eval(line) for line in handle]

    channel = minirun.Channel(os.dup(parent_end.fileno()), "container setup")
    parent_end.close()
    return pid, channel, read_calls


def finish(pid, channel):
    os.close(channel.fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def joiner_plan(tmp_path):
    raw = base_config()
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "user"}, {"type": "uts"}, {"type": "time"},
                                   {"type": "network", "path": "/run/netns/n1"}, {"type": "pid", "path": "/proc/1/ns/pid"}],
                    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                    "timeOffsets": {"monotonic": {"secs": 10}}}
    (tmp_path / "rootfs").mkdir()
    cfg = minirun.parse_config(raw, str(tmp_path))
    return minirun.plan_create("c1", cfg, minirun.CreateOptions(), host(), {}, 1)


def joiner(plan, namespace_fds):
    def main(k, channel_fd):
        fds = minirun.ChildFds()
        fds.channel = channel_fd
        fds.namespaces = dict(namespace_fds)
        minirun.joiner_main(k, plan, fds)
    return main


def test_the_joiner_joins_then_unshares_in_the_kernels_order_and_reports_the_init(tmp_path):
    plan = joiner_plan(tmp_path)
    pid, channel, read_calls = run_child(tmp_path, joiner(plan, {"network": FAKE_FD + 10, "pid": FAKE_FD + 11}))
    channel.send(Msg.PLACED)
    channel.expect(Msg.USERNS)
    channel.send(Msg.IDMAPS_WRITTEN)
    assert channel.expect(Msg.INIT_PID) == FAKE_PID
    assert finish(pid, channel) == 0
    assert read_calls() == [
        ("prctl", minirun.PR_SET_DUMPABLE, 0, 0, 0, 0),  # before entering anything (CVE-2019-5736)
        ("prctl", minirun.PR_SET_PDEATHSIG, 9, 0, 0, 0),
        ("setns", FAKE_FD + 10, minirun.CLONE_NEWNET),
        ("unshare", minirun.CLONE_NEWUSER),
        ("unshare", minirun.CLONE_NEWNS | minirun.CLONE_NEWUTS | minirun.CLONE_NEWTIME),
        ("write_file", "/proc/self/timens_offsets", "monotonic 10 0\n"),
        ("setresgid", 0),
        ("setresuid", 0),
        ("setns", FAKE_FD + 11, minirun.CLONE_NEWPID),  # only moves the init, cloned next
        ("clone", minirun.CLONE_PARENT),
    ]


def test_a_joiner_that_cannot_join_reports_one_error_naming_the_namespace(tmp_path):
    plan = joiner_plan(tmp_path)
    failure = {"setns": OSError(22, "setns: Invalid argument")}
    pid, channel, read_calls = run_child(tmp_path, joiner(plan, {"network": FAKE_FD + 10, "pid": FAKE_FD + 11}),
                                         failure)
    channel.send(Msg.PLACED)
    with pytest.raises(minirun.Error) as caught:
        channel.expect(Msg.USERNS)
    assert str(caught.value) == "linux.namespaces: cannot join network namespace /run/netns/n1: Invalid argument"
    assert finish(pid, channel) == 1
    assert [call[0] for call in read_calls()] == ["prctl", "prctl", "setns"]


def test_the_joiner_waits_for_placed_and_a_wrong_message_stops_it(tmp_path):
    plan = joiner_plan(tmp_path)
    pid, channel, read_calls = run_child(tmp_path, joiner(plan, {}))
    channel.send(Msg.GO)
    with pytest.raises(minirun.Error) as caught:
        channel.expect(Msg.USERNS)
    assert "waiting for placed, got go" in str(caught.value)
    assert finish(pid, channel) == 1
    assert [call[0] for call in read_calls()] == ["prctl", "prctl"]


def exec_plan(tmp_path, **process):
    raw = base_config()
    raw["process"] = dict({"args": ["sh"], "cwd": "/", "env": [PATH], "noNewPrivileges": True}, **process)
    raw["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                               "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}
    (tmp_path / "rootfs").mkdir()
    cfg = minirun.parse_config(raw, str(tmp_path))
    opts = minirun.ExecOptions()
    opts.args = ["sh", "-c", "true"]
    return minirun.plan_exec("c1", os.getpid(), cfg, opts, host())


def exec_process(plan):
    def main(k, channel_fd):
        fds = minirun.ChildFds()
        fds.channel = channel_fd
        fds.listener = FAKE_FD + 20
        minirun.exec_process_main(k, plan, fds)
    return main


def test_the_exec_process_sets_up_after_go_and_execs_with_only_its_fds(tmp_path):
    plan = exec_plan(tmp_path)
    pid, channel, read_calls = run_child(tmp_path, exec_process(plan))
    channel.send(Msg.GO)
    channel.expect_eof()  # the double's execve returns, and the child leaves: EOF, no ERROR
    assert finish(pid, channel) == 0
    calls = read_calls()
    names = [call[0] for call in calls]
    assert calls[0] == ("prctl", minirun.PR_SET_PDEATHSIG, 9, 0, 0, 0)
    assert calls[1] == ("chdir", "/")  # the container's root, before anything else
    assert names.index("setresuid") < names.index("seccomp_load") < names.index("execve")
    assert calls[-3:-1] == [("prctl", minirun.PR_SET_PDEATHSIG, 0, 0, 0, 0),
                            # every fd but stdio and the channel (close-on-exec: EOF tells the parent it exec'd)
                            ("close_fds_from", 3 + plan.process.keep_fds, (run_child.child_fd,))]
    execve = calls[-1]
    assert execve[0] == "execve" and execve[2] == ["sh", "-c", "true"] and execve[3]["PATH"]


def test_a_failing_exec_process_sends_one_error_instead_of_exec(tmp_path):
    plan = exec_plan(tmp_path, args=["no-such-tool-xyz"])
    plan.process.args = ["no-such-tool-xyz"]
    pid, channel, read_calls = run_child(tmp_path, exec_process(plan))
    channel.send(Msg.GO)
    with pytest.raises(minirun.Error) as caught:
        channel.expect_eof()
    assert str(caught.value) == 'exec: "no-such-tool-xyz": executable file not found in $PATH'
    assert finish(pid, channel) == 1
    assert "execve" not in [call[0] for call in read_calls()]


def test_the_seccomp_agent_of_an_exec_learns_the_exec_processes_pid_and_the_bundle(tmp_path):
    plan = exec_plan(tmp_path)
    pid, channel, read_calls = run_child(tmp_path, exec_process(plan))
    channel.send(Msg.GO)
    channel.expect_eof()
    assert finish(pid, channel) == 0
    (send,) = [call for call in read_calls() if call[0] == "send_fd"]
    message = json.loads(send[3])
    assert message["pid"] == pid
    assert message["state"]["bundle"] == str(tmp_path)


def init_plan(tmp_path, hooks=None):
    raw = base_config(hostname="box", mounts=[{"destination": "/proc", "type": "proc", "source": "proc"},
                                              {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}])
    raw["root"]["readonly"] = True
    raw["process"] = {"args": ["sh"], "cwd": "/", "env": [PATH], "noNewPrivileges": True,
                      "user": {"uid": 1000, "gid": 1000},
                      "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 64}]}
    raw["linux"] = {"namespaces": [{"type": "mount"}, {"type": "uts"}, {"type": "network"}],
                    "sysctl": {"net.ipv4.ip_forward": "1"}}
    if hooks:
        raw["hooks"] = hooks
    (tmp_path / "rootfs").mkdir()
    cfg = minirun.parse_config(raw, str(tmp_path))
    return minirun.plan_create("c1", cfg, minirun.CreateOptions(), host(), {}, 1)


def init(plan, fifo_read, start_error):
    def main(k, channel_fd):
        fds = minirun.ChildFds()
        fds.channel, fds.fifo, fds.start_error = channel_fd, fifo_read, start_error
        minirun.init_main(k, plan, fds)
    return main


@pytest.fixture
def fifo(tmp_path):
    """A pipe standing in for exec.fifo, and the start.error file."""
    read, write = os.pipe()
    error = os.open(str(tmp_path / "start.error"), os.O_WRONLY | os.O_CREAT, 0o600)
    yield read, write, error
    for fd in (read, write, error):
        os.close(fd)


def test_the_init_runs_each_phase_at_its_step_of_the_protocol(tmp_path, fifo):
    fifo_read, fifo_write, start_error = fifo
    plan = init_plan(tmp_path, hooks={"prestart": [{"path": "/bin/true"}]})
    root = plan.rootfs.root
    pid, channel, read_calls = run_child(tmp_path, init(plan, fifo_read, start_error))
    channel.send(Msg.GO)
    # The child now waits for HOOKS_DONE: what it did so far is final.
    channel.expect(Msg.RUN_HOOKS)
    so_far = read_calls()
    # a new network namespace's lo comes up first, as runc's "loopback" network
    assert [call[0] for call in so_far[:4]] == ["prctl", "netlink_socket", "netlink", "close"]
    assert so_far[4:6] == [("umask", 0), ("join_session_keyring", "c1")]
    mounts = [call for call in so_far if call[0] == "mount"]
    assert mounts[0] == ("mount", None, "/", None, minirun.MS_REC | minirun.MS_PRIVATE, None)
    assert [call[3] for call in mounts[2:]] == ["proc", "tmpfs"]
    assert "pivot_root" not in [call[0] for call in so_far]  # prestart hooks see the rootfs before the pivot
    channel.send(Msg.HOOKS_DONE)
    channel.expect(Msg.READY)
    ready = read_calls()[len(so_far):]
    names = [call[0] for call in ready]
    assert names.index("pivot_root") < names.index("write_fd") < names.index("sethostname") < names.index("setrlimit")
    # the sysctl is written below a proven procfs, by fd (CVE-2025-52881)
    assert ("openat2_beneath", "/proc", "sys/net/ipv4/ip_forward", os.O_WRONLY | os.O_CLOEXEC) in ready
    assert ("write_fd", FAKE_FD + 7, "1") in ready
    assert ("mount", None, "/", None, minirun.MS_BIND | minirun.MS_REMOUNT | minirun.MS_RDONLY, None) in ready
    assert ("sethostname", "box") in ready
    assert ready[-1] == ("prctl", minirun.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # prepare_process is done
    assert root not in repr(ready[names.index("pivot_root"):])  # after the pivot, paths are the container's
    channel.send(Msg.RELEASE)
    channel.expect(Msg.RELEASED)
    os.write(fifo_write, b"0")  # `start`
    assert finish(pid, channel) == 0
    after = read_calls()[len(so_far) + len(ready):]
    assert after[0] == ("prctl", minirun.PR_SET_PDEATHSIG, 0, 0, 0, 0)  # state.json exists: create may exit
    assert after[-2] == ("close_fds_from", 3, (fifo_read,))  # the fifo closes at execve only
    assert after[-1][0] == "execve" and after[-1][2] == ["sh"]
    assert os.path.getsize(str(tmp_path / "start.error")) == 0


def test_an_init_without_hooks_goes_from_go_to_ready(tmp_path, fifo):
    fifo_read, _, start_error = fifo
    plan = init_plan(tmp_path)
    pid, channel, read_calls = run_child(tmp_path, init(plan, fifo_read, start_error))
    channel.send(Msg.GO)
    assert channel.expect(Msg.RUN_HOOKS, Msg.READY) == (Msg.READY, None)
    # create dies here (no RELEASE will come): the init sees EOF and leaves, its death signal still on.
    assert finish(pid, channel) == 1
    assert ("prctl", minirun.PR_SET_PDEATHSIG, 0, 0, 0, 0) not in read_calls()


def test_an_init_that_fails_after_ready_reports_to_start_error(tmp_path, fifo):
    fifo_read, fifo_write, start_error = fifo
    plan = init_plan(tmp_path)
    failure = {"close_fds_from": OSError(9, "Bad file descriptor")}
    pid, channel, read_calls = run_child(tmp_path, init(plan, fifo_read, start_error), failure)
    channel.send(Msg.GO)
    channel.expect(Msg.READY)
    channel.send(Msg.RELEASE)
    channel.expect(Msg.RELEASED)
    os.write(fifo_write, b"0")
    assert finish(pid, channel) == 127
    assert (tmp_path / "start.error").read_text() == "Bad file descriptor"
    assert "execve" not in [call[0] for call in read_calls()]


class ForeignNamespaces(minirun.Host):
    """Every namespace of the container is its own, none the runtime's."""

    def namespace_is_ours(self, kind, path, include_host=True):
        return False


def test_the_exec_stage_joins_every_namespace_then_the_root_and_clones_the_process(tmp_path):
    raw = base_config()
    raw["linux"]["namespaces"] = [{"type": t} for t in ("mount", "pid", "network", "ipc", "uts")]
    (tmp_path / "rootfs").mkdir()
    cfg = minirun.parse_config(raw, str(tmp_path))
    opts = minirun.ExecOptions()
    opts.args = ["true"]
    facts = dict(SECCOMP_FACTS, euid=0, in_user_namespace=False, apparmor=False, selinux=False, last_capability=40)
    plan = minirun.plan_exec("c1", 4242, cfg, opts, ForeignNamespaces(facts=facts))
    fd_of = {kind: FAKE_FD + 30 + i for i, (kind, _) in enumerate(plan.join)}
    root_fd = FAKE_FD + 40

    def main(k, channel_fd):
        fds = minirun.ChildFds()
        fds.channel, fds.root, fds.namespaces = channel_fd, root_fd, dict(fd_of)
        minirun.exec_stage_main(k, plan, fds)

    pid, channel, read_calls = run_child(tmp_path, main)
    channel.send(Msg.PLACED)
    assert channel.expect(Msg.PROCESS_PID) == FAKE_PID
    assert finish(pid, channel) == 0
    flags = minirun.NAMESPACE_FLAGS
    assert read_calls() == [
        ("prctl", minirun.PR_SET_DUMPABLE, 0, 0, 0, 0),
        ("prctl", minirun.PR_SET_PDEATHSIG, 9, 0, 0, 0),
        ("setns", fd_of["ipc"], flags["ipc"]),
        ("setns", fd_of["uts"], flags["uts"]),
        ("setns", fd_of["network"], flags["network"]),
        ("setns", fd_of["mount"], flags["mount"]),
        ("fchdir", root_fd),  # where the init stands, not the mount namespace's root
        ("chroot", "."),
        ("close", root_fd),
        ("setns", fd_of["pid"], flags["pid"]),
    ] + [("close", fd) for fd in fd_of.values()] + [("clone", minirun.CLONE_PARENT)]


# --- rtnetlink: the wire format of linux.netDevices' moves ------------------------------------


def test_a_link_name_attribute_is_padded_to_four_bytes_with_its_unpadded_length():
    assert minirun.link_name("ctr0") == b"\x09\x00\x03\x00ctr0\x00\x00\x00\x00"
    assert minirun.netlink_attribute(minirun.IFLA_NET_NS_FD, (7).to_bytes(4, "little")) == \
        b"\x08\x00\x1c\x00\x07\x00\x00\x00"


def test_a_move_request_is_nlmsghdr_ifinfomsg_and_its_attributes():
    message = minirun.link_message(minirun.RTM_NEWLINK, minirun.NLM_F_REQUEST | minirun.NLM_F_ACK, 5, index=12,
                                   attributes=[minirun.link_name("ctr0")])
    assert message == (
        b"\x2c\x00\x00\x00" b"\x10\x00" b"\x05\x00" b"\x05\x00\x00\x00" b"\x00\x00\x00\x00"  # len 44, NEWLINK, REQ|ACK
        b"\x00\x00" b"\x00\x00" b"\x0c\x00\x00\x00" b"\x00\x00\x00\x00" b"\x00\x00\x00\x00"  # AF_UNSPEC, index 12
        b"\x09\x00\x03\x00ctr0\x00\x00\x00\x00")


def test_set_up_asks_for_iff_up_in_flags_and_change():
    message = minirun.link_message(minirun.RTM_NEWLINK, 5, 1, index=3, up=True)
    assert message[24:32] == b"\x01\x00\x00\x00\x01\x00\x00\x00"


def test_answers_are_read_for_their_own_sequence_number():
    ack = b"\x24\x00\x00\x00\x02\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00" + b"\x00" * 4 + b"\x00" * 16
    refused = b"\x24\x00\x00\x00\x02\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00" + (-17).to_bytes(4, "little",
                                                                                               signed=True) + b"\0" * 16
    link = b"\x20\x00\x00\x00\x10\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00" + b"\0\0\0\0" + (42).to_bytes(4, "little") \
        + b"\0" * 8
    assert minirun.netlink_answer(ack, 7) == (0, None)
    assert minirun.netlink_answer(refused, 8) == (17, None)  # EEXIST
    assert minirun.netlink_answer(link, 9) == (0, 42)
    with pytest.raises(OSError):
        minirun.netlink_answer(ack, 8)  # not the answer to request 8
    with pytest.raises(OSError):
        minirun.netlink_answer(ack[:10], 7)  # truncated


def links(host, container, refuse=()):
    """A netlink_reply for RecordingKernel: interfaces by name on each side's socket."""
    def reply(sock, kind, index, name):
        side = host if sock == FAKE_FD + 11 else container
        if kind == minirun.RTM_GETLINK:
            return (0, side[name]) if name in side else (minirun.E.ENODEV, None)
        return (22, None) if index in refuse else (0, None)
    return reply


def test_devices_are_checked_then_moved_renamed_and_set_up_from_inside(tmp_path):
    k = RecordingKernel(tmp_path)
    k.netlink_reply = links({"eth1": 5}, {"ctr0": 9})
    checks = {"ctr0": None}

    def reply(sock, kind, index, name):  # ctr0 exists inside only once moved
        if sock != FAKE_FD + 11 and name == "ctr0" and checks.pop("ctr0", 1) is None:
            return minirun.E.ENODEV, None
        return links({"eth1": 5}, {"ctr0": 9})(sock, kind, index, name)
    k.netlink_reply = reply
    moved = minirun.move_net_devices(k, os.getpid(), [("eth1", "ctr0", "linux.netDevices.eth1")])
    assert moved == [("ctr0", "eth1", "linux.netDevices.eth1")]
    requests = [call[1:] for call in k.only("netlink")]
    host, inside = FAKE_FD + 11, FAKE_FD + 12
    assert [r[:3] + r[3:4] for r in requests] == [
        (host, minirun.RTM_GETLINK, 0, "eth1"), (inside, minirun.RTM_GETLINK, 0, "ctr0"),   # the checks
        (host, minirun.RTM_GETLINK, 0, "eth1"), (host, minirun.RTM_NEWLINK, 5, "ctr0"),      # move + rename
        (inside, minirun.RTM_GETLINK, 0, "ctr0"), (inside, minirun.RTM_NEWLINK, 9, None)]    # up, inside
    assert requests[3][4] is not None and requests[5][5] is True
    # The container's socket is made inside its namespace, then the runtime goes home.
    assert [c[0] for c in k.calls if c[0] in ("setns", "netlink_socket")] == \
        ["netlink_socket", "setns", "netlink_socket", "setns"]


def test_a_failed_move_puts_back_what_was_moved_under_its_host_name(tmp_path):
    k = RecordingKernel(tmp_path)
    state = {"host": {"eth1": 5, "eth2": 6}, "inside": {}}

    def reply(sock, kind, index, name):
        side = state["host"] if sock == FAKE_FD + 11 else state["inside"]
        if kind == minirun.RTM_GETLINK:
            return (0, side[name]) if name in side else (minirun.E.ENODEV, None)
        if index == 6:
            return 22, None  # eth2 cannot move (EINVAL)
        if sock == FAKE_FD + 11 and index == 5:
            state["inside"]["ctr0"] = 9
        return 0, None
    k.netlink_reply = reply
    with pytest.raises(minirun.ConfigError) as caught:
        minirun.move_net_devices(k, os.getpid(), [("eth1", "ctr0", "linux.netDevices.eth1"),
                                                   ("eth2", "ctr1", "linux.netDevices.eth2")])
    assert caught.value.field == "linux.netDevices.eth2" and "cannot move eth2" in str(caught.value)
    back = [call[1:] for call in k.only("netlink")][-1]
    assert back[:4] == (FAKE_FD + 12, minirun.RTM_NEWLINK, 9, "eth1") and back[4] is not None
