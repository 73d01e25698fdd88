"""Section 2: the real kernel seam, on calls that need no privilege.

Each test that changes process-wide state (fds, limits) does it in a forked
child, which reports over a pipe and leaves with os._exit.
"""

import json
import os
import resource

import pytest

import minirun


def in_child(body):
    """Run body() in a forked child; returns what it returned (JSON-able)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            report = os.dup2(write, 600)  # out of the way of what body() does to fds
            os.write(report, json.dumps(body(report)).encode())
        finally:
            os._exit(0)
    os.close(write)
    chunks = []
    while True:
        chunk = os.read(read, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks).decode())


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_close_fds_from_closes_every_fd_past_the_floor_but_those_kept():
    def body(report):
        # An fd above the soft limit (and above 65535 where the limits allow
        # it): a loop up to RLIMIT_NOFILE would never look there, and hooks
        # leaked such fds.
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (70001, max(hard, 70001)))  # root may raise it
        except (OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fds = {"low": os.dup2(0, 40), "kept": os.dup2(0, 500), "high": os.dup2(0, limit - 1)}
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        minirun.kernel().close_fds_from(30, keep=(fds["kept"], report))
        return {"opened": {name: is_open(fd) for name, fd in fds.items()}, "high": fds["high"]}

    result = in_child(body)
    assert result["high"] > 1024
    assert result["opened"] == {"low": False, "kept": True, "high": False}


def test_close_fds_from_leaves_the_fds_below_the_floor():
    def body(report):
        below = os.dup2(0, 20)
        minirun.kernel().close_fds_from(21, keep=(report,))
        return [is_open(below), is_open(report)]

    assert in_child(body) == [True, True]


def test_write_file_is_one_write_of_the_whole_text(tmp_path):
    target = tmp_path / "knob"
    target.write_text("")
    minirun.kernel().write_file(str(target), "0 100000 65536\n1 2 3\n")
    assert target.read_text() == "0 100000 65536\n1 2 3\n"


def test_a_syscall_without_a_number_is_enosys():
    k = minirun.kernel()
    with pytest.raises(OSError) as caught:
        k.syscall("no_such_syscall")
    assert caught.value.errno == minirun.E.ENOSYS


def test_socketpair_and_fd_passing_carry_an_fd_and_its_name(tmp_path):
    k = minirun.kernel()
    left, right = k.socketpair()
    passed = os.open(str(tmp_path), os.O_RDONLY | os.O_CLOEXEC)
    try:
        k.send_fd(left, passed, "/dev/pts/7")
        received = k.recv_fd(right)
        try:
            assert os.path.samestat(os.fstat(received), os.fstat(passed))
        finally:
            os.close(received)
    finally:
        for fd in (left, right, passed):
            os.close(fd)


def test_the_host_probes_nothing_until_asked_and_keeps_what_it_learnt():
    host = minirun.Host(facts={"euid": 1000, "in_user_namespace": False})
    assert host.rootless is True
    assert minirun.Host(facts={"euid": 0, "in_user_namespace": True}).rootless is True
    assert minirun.Host(facts={"euid": 0, "in_user_namespace": False}).rootless is False
    probed = minirun.Host()
    assert probed.euid == os.geteuid()
    assert probed.last_capability == minirun.Host().last_capability >= 36
