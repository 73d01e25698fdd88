"""The VM lab's judgement (vm/lab.py): how a run's results become its row in
the table, and what a guest is given to run.

The lab itself is exercised by running it (`make vm-test`, `make vm-ci`);
these tests pin down the verdicts it must reach from the files a guest
leaves behind: a run passes only when the guest was the kernel, Python and
cgroup layout asked for and every test passed, and a run that left nothing,
or was killed at its timeout, never reads as a pass.
"""

import os
import stat
import struct
import sys

import pytest

from .helpers import REPO

sys.path.insert(0, os.path.join(REPO, "vm"))
import boxes  # noqa: E402
import kernels  # noqa: E402
import lab  # noqa: E402

PT_INTERP = 3


def junit(tests=3, failures=(), errors=(), skipped=0):
    cases = []
    for i in range(tests):
        name = "test_%d" % i
        body = ""
        if name in failures:
            body = '<failure message="boom">assert False</failure>'
        elif name in errors:
            body = '<error message="setup">fixture</error>'
        cases.append('<testcase classname="tests.integration.test_x" name="%s">%s</testcase>'
                     % (name, body))
    return ('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="%d" '
            'failures="%d" errors="%d" skipped="%d">%s</testsuite></testsuites>'
            % (tests, len(failures), len(errors), skipped, "".join(cases)))


@pytest.fixture
def bullseye_run(tmp_path):
    """A bullseye cgroup-v2 run whose results directory is tmp_path."""
    run = lab.Run(kernels.KERNELS["bullseye"], "v2")
    run.out = str(tmp_path)
    run.seconds = 300.0
    return run


def leave(run, env=None, junit_xml=None, exit_status="0"):
    """Write the files a guest leaves in its results directory."""
    env = dict({"kernel": "5.10.0-32-amd64", "python": "3.9.2", "pytest": "6.0.2",
                "cgroup": "unified"}, **(env or {}))
    with open(os.path.join(run.out, "guest.env"), "w") as f:
        f.write("".join("%s=%s\n" % kv for kv in env.items()))
    if junit_xml is not None:
        with open(os.path.join(run.out, "junit.xml"), "w") as f:
            f.write(junit_xml)
    if exit_status is not None:
        with open(os.path.join(run.out, "pytest-exit"), "w") as f:
            f.write(exit_status + "\n")


# --------------------------------------------------------------------------
# verdicts

def test_a_guest_that_was_what_was_asked_for_and_passed_everything_passes(bullseye_run):
    leave(bullseye_run, junit_xml=junit(tests=5))
    row = lab.verdict(bullseye_run)
    assert row["result"] == "pass"
    assert row["problems"] == []
    assert row["tests"] == {"tests": 5, "failures": 0, "errors": 0, "skipped": 0}
    assert (row["uname"], row["python"], row["cgroup"]) == ("5.10.0-32-amd64", "3.9.2", "unified")


def test_a_failed_test_fails_the_run_and_is_named(bullseye_run):
    leave(bullseye_run, junit_xml=junit(tests=4, failures=("test_2",)), exit_status="1")
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert row["failed"] == ["tests.integration.test_x::test_2"]
    assert "1 failed, 0 errors" in row["problems"]


def test_an_error_in_a_fixture_fails_the_run(bullseye_run):
    leave(bullseye_run, junit_xml=junit(tests=2, errors=("test_0",)), exit_status="1")
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert row["failed"] == ["tests.integration.test_x::test_0"]


def test_a_guest_booted_in_the_wrong_cgroup_mode_fails_even_if_tests_pass(bullseye_run):
    leave(bullseye_run, env={"cgroup": "hybrid"}, junit_xml=junit())
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert any("asked for cgroup v2" in p and "hybrid" in p for p in row["problems"])


@pytest.mark.parametrize("field, value, expected", [
    ("kernel", "6.1.0-50-amd64", "expected kernel 5.10.x"),
    ("python", "3.11.2", "expected Python 3.9"),
])
def test_a_guest_with_another_kernel_or_python_than_its_entry_fails(bullseye_run, field, value,
                                                                     expected):
    leave(bullseye_run, env={field: value}, junit_xml=junit())
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert any(expected in p for p in row["problems"])


def test_a_run_that_collected_no_tests_fails(bullseye_run):
    leave(bullseye_run, junit_xml=junit(tests=0), exit_status="5")
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert "pytest exit status 5" in row["problems"]


def test_a_run_whose_pytest_died_without_junit_fails(bullseye_run):
    leave(bullseye_run, junit_xml=None, exit_status=None)
    row = lab.verdict(bullseye_run)
    assert row["result"] == "fail"
    assert "no junit.xml" in row["problems"]
    assert "pytest exit status missing" in row["problems"]


def test_a_run_that_left_nothing_is_an_error(bullseye_run):
    row = lab.verdict(bullseye_run)
    assert row["result"] == "error"
    assert row["tests"] is None


def test_a_run_killed_at_its_timeout_is_reported_as_a_timeout(bullseye_run):
    # even when the guest had got as far as writing a passing junit.xml
    leave(bullseye_run, junit_xml=junit())
    bullseye_run.timed_out = True
    assert lab.verdict(bullseye_run)["result"] == "timeout"


def test_v1_accepts_a_hybrid_or_a_legacy_layout(tmp_path):
    run = lab.Run(kernels.KERNELS["bullseye"], "v1")
    run.out = str(tmp_path)
    for layout in ("hybrid", "legacy"):
        leave(run, env={"cgroup": layout}, junit_xml=junit())
        assert lab.verdict(run)["result"] == "pass", layout


def test_the_table_counts_passed_failed_and_skipped(bullseye_run):
    leave(bullseye_run, junit_xml=junit(tests=6, failures=("test_1",), skipped=2), exit_status="1")
    text = lab.table([lab.verdict(bullseye_run)])
    header, rule, line = text.splitlines()
    assert header.split()[:4] == ["kernel", "cgroup", "result", "tests"]
    assert "bullseye  v2 (unified)  fail    3 passed, 1 failed, 2 skipped" in line
    assert line.rstrip().endswith("5m00s")


# --------------------------------------------------------------------------
# what a guest runs

def test_the_guest_runs_the_whole_integration_suite_but_the_listed_known_failures(monkeypatch):
    monkeypatch.delenv("LAB_SUITE", raising=False)
    monkeypatch.setattr(kernels, "KNOWN_FAILURES", {})
    suite = ["tests/integration", "tests/e2e/test_docker_systemd.py",
             "tests/e2e/test_podman_checkpoint.py"]
    assert lab.pytest_args(kernels.KERNELS["sid"]) == suite
    monkeypatch.undo()
    args = lab.pytest_args(kernels.KERNELS["sid"])
    assert args[:3] == suite
    assert args[3:] in ([], ["-k", " and ".join("not " + t for t in sorted(kernels.KNOWN_FAILURES.get("sid", {})))])


def test_the_ci_suite_is_the_kernel_dependent_files_and_each_of_them_exists(monkeypatch):
    monkeypatch.setattr(kernels, "KNOWN_FAILURES", {})
    monkeypatch.setenv("LAB_SUITE", "ci")
    args = lab.pytest_args(kernels.KERNELS["sid"])
    assert args == lab.CI_SUITE and "tests/integration/test_seccomp.py" in args
    # Docker's systemd cgroup driver needs systemd as init: only the guests have it
    assert "tests/e2e/test_docker_systemd.py" in args
    # CRIU: the host's criu cannot dump on the host's kernel
    assert "tests/integration/test_checkpoint.py" in args
    assert "tests/e2e/test_podman_checkpoint.py" in args
    missing = [path for path in args if not os.path.isfile(os.path.join(REPO, path))]
    assert not missing, "CI_SUITE names files that do not exist: %s" % missing
    # bookworm is booted in CI for its CRIU only (bullseye's Debian has none)
    assert lab.pytest_args(kernels.KERNELS["bookworm"]) == ["tests/integration/test_checkpoint.py"]
    monkeypatch.setenv("LAB_SUITE", "all")
    assert lab.pytest_args(kernels.KERNELS["bookworm"]) == lab.SUITE
    monkeypatch.setenv("LAB_SUITE", "most")
    with pytest.raises(SystemExit, match="unknown suite 'most'"):
        lab.pytest_args(kernels.KERNELS["sid"])


def test_known_failures_of_a_kernel_are_left_out_on_that_kernel_only(monkeypatch):
    monkeypatch.delenv("LAB_SUITE", raising=False)
    monkeypatch.setattr(kernels, "KNOWN_FAILURES",
                        {"bullseye": {"test_b": "why", "test_a": "why"}})
    assert lab.pytest_args(kernels.KERNELS["bullseye"]) == [
        "tests/integration", "tests/e2e/test_docker_systemd.py",
        "tests/e2e/test_podman_checkpoint.py", "-k", "not test_a and not test_b"]
    assert lab.pytest_args(kernels.KERNELS["sid"]) == lab.SUITE


def test_the_payload_holds_the_runtime_the_tests_and_a_static_probe(tmp_path):
    payload = tmp_path / "payload"
    lab.stage_payload(str(payload))
    with open(os.path.join(REPO, "minirun.py"), "rb") as f:
        assert (payload / "minirun.py").read_bytes() == f.read()
    assert (payload / "tests" / "integration" / "conftest.py").is_file()
    assert (payload / "vm" / "guest" / "run-suite.sh").is_file()
    # the e2e tests' busybox image is built with it (tests/e2e/engines.py)
    assert (payload / "bundles" / "build-rootfs.sh").is_file()
    assert not list(payload.rglob("__pycache__"))
    assert list((payload / "tests" / "fixtures" / "engine-configs").glob("*.config.json"))

    probe = payload / "syscall_probe"
    assert os.stat(str(probe)).st_mode & stat.S_IXUSR
    data = probe.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2      # 64-bit ELF
    # static: no program interpreter, so it runs on every guest's libc
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    assert types and PT_INTERP not in types


# --------------------------------------------------------------------------
# the boxes

def test_the_sid_box_carries_docker_and_its_recipe_key_says_so():
    sid = kernels.KERNELS["sid"]
    for package in ("docker.io", "docker-cli", "busybox-static"):
        assert package in boxes.packages(sid)
    without = sid._replace(packages=[p for p in sid.packages if p != "docker.io"])
    assert boxes.recipe_key(without) != boxes.recipe_key(sid)


def test_the_criu_boxes_carry_criu_and_sid_podman_with_what_it_only_recommends():
    for name in ("bookworm", "sid"):
        # criu only suggests iptables, which it runs for a container's netns
        assert {"criu", "iptables"} <= set(boxes.packages(kernels.KERNELS[name]))
    sid = boxes.packages(kernels.KERNELS["sid"])
    # debootstrap installs Depends only: podman merely recommends these
    for package in ("podman", "conmon", "catatonit", "runc"):
        assert package in sid


def test_a_box_masks_the_engine_units_its_packages_installed(tmp_path):
    assert {"docker.service", "docker.socket", "containerd.service"} <= set(boxes.ENGINE_UNITS)
    # podman's API socket and netavark's DHCP proxy (enabled on install)
    assert {"podman.socket", "podman.service", "netavark-dhcp-proxy.socket",
            "netavark-dhcp-proxy.service"} <= set(boxes.ENGINE_UNITS)
    units = tmp_path / "usr" / "lib" / "systemd" / "system"
    units.mkdir(parents=True)
    assert boxes.engine_units_in(str(tmp_path)) == []
    for unit in ("containerd.service", "docker.service", "ssh.service"):
        (units / unit).write_text("[Unit]\n")
    assert boxes.engine_units_in(str(tmp_path)) == ["docker.service", "containerd.service"]
