"""The config.json files Docker 20.10 and podman 4.3 really wrote (see
shared/reference/engine-contract.md), run through the call sequences those
engines use.

Each fixture runs as whole as this host allows. Adapted: root.path points at
the test rootfs; a hook whose binary does not exist here (Docker's prestart
hook is dockerd's own /proc/PID/exe) runs a recording stand-in with the
engine's args, env and timeout, and the test checks it ran; a network
namespace given by `path` (podman's /run/netns/...) is one this test creates
and the container must join it; bind sources that do not exist here become
temp files or directories; capabilities this host's bounding set lacks (it has
no CAP_SYS_RESOURCE) are dropped; a command busybox lacks is replaced.
Kept whole: linux.resources (each engine's limits and device rules) and
linux.cgroupsPath, whose engine id becomes the test's container id (parallel
tests must not share a cgroup). linux.seccomp is kept, so every fixture runs
under its engine's real profile."""

import copy
import json
import os
import re

import pytest

from .helpers import (
    FIXTURES_DIR, ConsoleReceiver, host_bounding_caps, ns_id,
    read_all, read_json_log, wait_for,
)

FIXTURES = sorted(p.name for p in FIXTURES_DIR.glob("*.config.json")) \
    if FIXTURES_DIR.is_dir() else []
TTY_FIXTURES = {"docker-run-it-tty.config.json", "podman-run-it-tty.config.json"}

FILE_DESTINATIONS = {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts",
                     "/run/.containerenv", "/sbin/docker-init"}

# fixture -> (args replacing the engine's, when they cannot run here; a check
# of the output)
def _check_pid_host(out):
    return int(out.split()[0]) != 1


def _check_ip_link(out):
    return re.findall(r"^\d+: (\S+?):", out, re.M) == ["lo"]


EXPECT = {
    "docker-run-echo-hi.config.json": (None, lambda out: out == "hi\n"),
    "docker-run-it-tty.config.json": (
        None, lambda out: re.search(r"^/dev/pts/\d+$", out, re.M) and "in-tty" in out),
    "docker-run-network-none.config.json": (None, _check_ip_link),
    # `sleep 100` would only make the test slow
    "docker-run-pid-host.config.json": (["sh", "-c", "echo $$"], _check_pid_host),
    "docker-run-privileged.config.json": (None, lambda out: int(out.strip()) >= 100),
    # /sbin/docker-init is bind-mounted from the host: it does not exist here
    "docker-run-rich-init-limits-user-ro-tmpfs-bind.config.json": (
        ["id"], lambda out: out.startswith("uid=65534")),
    "docker-systemd-cgroupdriver.config.json": (None, lambda out: out == "hi\n"),
    "podman-run-image-echo-hi.config.json": (None, lambda out: out == "hi-image\n"),
    "podman-run-it-tty.config.json": (None, lambda out: re.search(r"^/dev/pts/\d+$", out, re.M)),
    "podman-run-limits-user-ro.config.json": (None, lambda out: out.startswith("uid=65534")),
    "podman-run-rootfs-echo-hi.config.json": (None, lambda out: out == "hi\n"),
}


def load_fixture(name):
    with open(str(FIXTURES_DIR / name)) as f:
        return json.load(f)


# A stand-in for a hook binary this host lacks: it records its argv and the
# state it got on stdin, next to itself.
STAND_IN_HOOK = """#!/bin/sh
printf '%%s\\n' "$@" > "%(record)s.args"
cat > "%(record)s.state"
"""


def stand_in_hooks(cfg, tmp_path):
    """Point each hook whose binary does not exist here at a recording
    stand-in (args, env and timeout stay the engine's). Returns
    {record path prefix: the hook entry} for the test to check."""
    records = {}
    directory = tmp_path / "hooks"
    for phase, hooks in sorted(cfg.get("hooks", {}).items()):
        for i, hook in enumerate(hooks):
            if os.path.exists(hook["path"]):
                continue
            directory.mkdir(exist_ok=True)
            record = directory / ("%s-%d" % (phase, i))
            script = directory / ("%s-%d.sh" % (phase, i))
            script.write_text(STAND_IN_HOOK % {"record": record})
            script.chmod(0o755)
            records[str(record)] = dict(hook)
            hook["path"] = str(script)
    return records


def check_hooks_ran(records, cid):
    for record, hook in records.items():
        assert os.path.exists(record + ".args"), "the stand-in for %s never ran" % hook["path"]
        with open(record + ".args") as f:
            assert f.read().splitlines() == hook.get("args", [])[1:], record
        with open(record + ".state") as f:
            assert json.load(f)["id"] == cid, record


@pytest.fixture
def netns_holder(rt):
    """A process in a network namespace of its own, for fixtures that join
    one by path (podman's /run/netns/...); returns /proc/PID/ns/net."""
    holder = rt.spawn(["unshare", "--net", "sleep", "1000"])
    path = "/proc/%d/ns/net" % holder.pid
    wait_for(lambda: ns_id(holder.pid, "net") != ns_id("self", "net"), what="the holder's netns")
    return path


def adapt(cfg, name, rootfs, tmp_path, cid, keep_seccomp=True, netns=None):
    """(the adapted config, the stand-in hooks' records: see stand_in_hooks)"""
    cfg = copy.deepcopy(cfg)
    cfg["root"]["path"] = str(rootfs)
    linux = cfg.setdefault("linux", {})
    if "cgroupsPath" in linux:
        linux["cgroupsPath"] = re.sub(r"[0-9a-f]{64}", cid, linux["cgroupsPath"])
    if not keep_seccomp:
        linux.pop("seccomp", None)
    for ns in linux.get("namespaces", []):
        if "path" in ns:
            # the engine's namespace does not exist on this host: join the
            # test's own instead (only network ones appear in the fixtures)
            assert ns["type"] == "network" and netns, ns
            ns["path"] = netns

    sources = tmp_path / "sources"
    sources.mkdir(exist_ok=True)
    for i, mount in enumerate(cfg.get("mounts", [])):
        if mount.get("type") != "bind" or os.path.exists(mount["source"]):
            continue
        src = sources / ("%d-%s" % (i, os.path.basename(mount["source"])))
        if mount["destination"] in FILE_DESTINATIONS:
            src.write_text("# stand-in for %s\n" % mount["source"])
        else:
            src.mkdir()
        mount["source"] = str(src)

    allowed = set(host_bounding_caps())
    for kind, names in cfg["process"].get("capabilities", {}).items():
        cfg["process"]["capabilities"][kind] = [n for n in names if n in allowed]

    args, _check = EXPECT.get(name, (None, None))
    if args is not None:
        cfg["process"]["args"] = args
    return cfg, stand_in_hooks(cfg, tmp_path)


def driver_flags(cfg):
    """dockerd with its systemd cgroup driver writes slice:prefix:name and
    passes --systemd-cgroup: where systemd runs (the VM lab's guests), so do
    these tests. Without systemd the path is read as a cgroupfs path, as runc
    reads it."""
    if ":" in cfg.get("linux", {}).get("cgroupsPath", "") and os.path.isdir("/run/systemd/system"):
        return ["--systemd-cgroup"]
    return []


def write_bundle(tmp_path, cfg, name="bundle"):
    bundle = tmp_path / name
    bundle.mkdir()
    with open(str(bundle / "config.json"), "w") as f:
        json.dump(cfg, f)
    return bundle


def check_output(name, out):
    _args, check = EXPECT[name]
    assert check(out), "unexpected output for %s: %r" % (name, out)


def docker_style_log(rt, bundle):
    return ["--log", str(bundle / "log.json"), "--log-format", "json"]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_through_the_engine_call_sequence(rt, rootfs, tmp_path, cid, name, netns_holder):
    """docker: create --bundle B --pid-file B/init.pid ID; start; delete;
    delete --force.  podman: [--log-format=json --log F] create --bundle S
    --pid-file P ID; start; delete --force."""
    cfg, hooks = adapt(load_fixture(name), name, rootfs, tmp_path, cid, netns=netns_holder)
    joins_netns = any(ns.get("path") for ns in cfg["linux"].get("namespaces", []))
    bundle = write_bundle(tmp_path, cfg)
    podman = name.startswith("podman")
    log_flags = driver_flags(cfg) + (["--log-format=json", "--log", str(bundle / "log.json")] if podman
                                     else docker_style_log(rt, bundle))
    pid_file = bundle / ("pidfile" if podman else "init.pid")
    create = log_flags + ["create", "--bundle", str(bundle), "--pid-file", str(pid_file)]
    out_path = tmp_path / "container.out"
    receiver = None
    master = None
    try:
        if name in TTY_FIXTURES:
            sock_dir = rt.private_dir("pty")
            receiver = ConsoleReceiver(sock_dir / "pty.sock")
            rt(*create, "--console-socket", receiver.path, cid, cwd=bundle)
            fds = receiver.receive()
            assert len(fds) == 1
            master = fds[0]
        else:
            with open(str(out_path), "w") as out:
                rt(*create, cid, cwd=bundle, stdout=out)

        state = rt.state(cid)
        assert state["status"] == "created"
        assert pid_file.read_text() == str(state["pid"])
        if joins_netns:
            assert ns_id(state["pid"], "net") == os.readlink(netns_holder)
        if cfg.get("annotations"):
            assert state.get("annotations") == cfg["annotations"]

        rt(*log_flags, "start", cid, cwd=bundle)
        if master is not None:
            output = read_all(master).decode(errors="replace").replace("\r", "")
        rt.wait_status(cid, "stopped")
        if master is None:
            output = out_path.read_text()
        check_output(name, output)
        check_hooks_ran(hooks, cid)

        if not podman:
            rt(*log_flags, "delete", cid, cwd=bundle)
        rt(*log_flags, "delete", "--force", cid, cwd=bundle)
    finally:
        if receiver is not None:
            receiver.close()
    for entry in read_json_log(bundle / "log.json"):
        assert entry["level"] != "error", entry
    gone = rt("state", cid, check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    rt.assert_clean()


@pytest.mark.parametrize("name", [n for n in FIXTURES if n not in TTY_FIXTURES])
def test_fixture_runs_with_exit_code_zero(rt, rootfs, tmp_path, cid, name, netns_holder):
    cfg, hooks = adapt(load_fixture(name), name, rootfs, tmp_path, cid, netns=netns_holder)
    bundle = write_bundle(tmp_path, cfg)
    result = rt(*driver_flags(cfg), "run", "--bundle", bundle, cid, check=False)
    assert result.returncode == 0, result.stderr
    check_output(name, result.stdout)
    check_hooks_ran(hooks, cid)
    rt.assert_clean()


def test_there_are_fixtures():
    assert len(FIXTURES) >= 10, FIXTURES_DIR


@pytest.mark.parametrize("name,unshare_status", [("docker-run-echo-hi.config.json", 1),
                                                  ("podman-run-image-echo-hi.config.json", 0)])
def test_the_engines_seccomp_profile_is_enforced(rt, rootfs, tmp_path, cid, name, unshare_status,
                                                netns_holder):
    cfg, _hooks = adapt(load_fixture(name), name, rootfs, tmp_path, cid, netns=netns_holder)
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    # Creating a user namespace needs no capability, so only the profile
    # decides: Docker's refuses unshare without CAP_SYS_ADMIN, podman's
    # allows it (for rootless use). Each must get exactly what it asks for.
    cfg["process"]["args"] = ["sh", "-c", "unshare -U true; echo unshare=$?; echo still-here"]
    bundle = write_bundle(tmp_path, cfg)
    result = rt(*driver_flags(cfg), "run", "--bundle", bundle, cid, check=False)
    assert result.returncode == 0, result.stderr
    assert "unshare=%d" % unshare_status in result.stdout and "still-here" in result.stdout
    if unshare_status:
        assert "Operation not permitted" in result.stderr
    rt.assert_clean()
