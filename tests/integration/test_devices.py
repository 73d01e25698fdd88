"""/dev: the default devices and links a runtime creates when the config has
no `linux.devices`, and the devices a config asks for."""

import json
import os
import subprocess

import pytest

from .helpers import DOCKER_DEFAULT_CAPS, IS_RUNC, base_config, mountinfo

DEFAULT_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
    "urandom": (1, 9), "tty": (5, 0),
}
DEFAULT_LINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
    "ptmx": "pts/ptmx",
}


def run_out(rt, bundle, cid):
    return rt("run", "--bundle", bundle, cid).stdout


def stat_devices(rt, make_bundle, cid, names, **overrides):
    """name -> (type, major, minor, mode, uid, gid) as seen inside."""
    script = "; ".join("stat -c '%%n %%F %%t %%T %%a %%u %%g' /dev/%s" % n for n in names)
    bundle = make_bundle(["sh", "-c", script], **overrides)
    seen = {}
    for line in run_out(rt, bundle, cid).splitlines():
        parts = line.split()
        name = parts[0][len("/dev/"):]
        ftype = " ".join(parts[1:-5])
        major, minor = int(parts[-5], 16), int(parts[-4], 16)
        seen[name] = (ftype, major, minor, parts[-3], int(parts[-2]), int(parts[-1]))
    return seen


def test_default_devices(rt, make_bundle, cid):
    seen = stat_devices(rt, make_bundle, cid, sorted(DEFAULT_DEVICES))
    for name, (major, minor) in DEFAULT_DEVICES.items():
        ftype, ma, mi, mode, uid, gid = seen[name]
        assert ftype == "character special file", (name, ftype)
        assert (ma, mi) == (major, minor), name
        assert mode == "666", (name, mode)


def test_default_links(rt, make_bundle, cid):
    script = "; ".join("echo %s=$(readlink /dev/%s)" % (n, n) for n in sorted(DEFAULT_LINKS))
    bundle = make_bundle(["sh", "-c", script])
    links = dict(l.split("=", 1) for l in run_out(rt, bundle, cid).splitlines())
    assert links == DEFAULT_LINKS


def test_default_devices_work(rt, make_bundle, cid):
    script = ("exec 2>&1; echo discard > /dev/null && echo null-ok; "
              "head -c 8 /dev/zero | od -An -tx1 | tr -d ' \\n'; echo; "
              "head -c 16 /dev/urandom | wc -c; "
              "echo x > /dev/full; echo full-rc=$?")
    bundle = make_bundle(["sh", "-c", script])
    out = run_out(rt, bundle, cid)
    lines = out.splitlines()
    assert lines[0] == "null-ok"
    assert lines[1] == "00" * 8
    assert lines[2].strip() == "16"
    assert "No space left on device" in out
    assert lines[-1] == "full-rc=1"


def test_dev_has_only_what_was_asked_for(rt, make_bundle, cid):
    """/dev is the config's tmpfs: no host devices leak in."""
    bundle = make_bundle(["ls", "/dev"])
    names = set(run_out(rt, bundle, cid).split())
    assert set(DEFAULT_DEVICES) | set(DEFAULT_LINKS) | {"pts", "shm", "mqueue"} <= names
    for host_only in ("vda", "kmsg", "mem", "loop0", "console"):
        assert host_only not in names


def test_configured_char_device(rt, make_bundle, cid):
    device = {"path": "/dev/kmsg-like", "type": "c", "major": 1, "minor": 11,
              "fileMode": 0o640, "uid": 1000, "gid": 100}
    seen = stat_devices(rt, make_bundle, cid, ["kmsg-like"], linux={"devices": [device]})
    assert seen["kmsg-like"] == ("character special file", 1, 11, "640", 1000, 100)


def test_configured_device_with_mode_0666(rt, make_bundle, cid):
    device = {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
              "fileMode": 0o666, "uid": 0, "gid": 0}
    bundle = make_bundle(["sh", "-c", "stat -c '%a %t:%T' /dev/mynull; echo hi > /dev/mynull && echo ok"],
                         linux={"devices": [device]})
    assert run_out(rt, bundle, cid).split() == ["666", "1:3", "ok"]


def test_configured_block_device(rt, make_bundle, cid):
    device = {"path": "/dev/myloop", "type": "b", "major": 7, "minor": 0,
              "fileMode": 0o600, "uid": 0, "gid": 0}
    seen = stat_devices(rt, make_bundle, cid, ["myloop"], linux={"devices": [device]})
    assert seen["myloop"] == ("block special file", 7, 0, "600", 0, 0)


def test_configured_device_in_a_subdirectory(rt, make_bundle, cid):
    device = {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200,
              "fileMode": 0o666, "uid": 0, "gid": 0}
    seen = stat_devices(rt, make_bundle, cid, ["net/tun"], linux={"devices": [device]})
    assert seen["net/tun"][:3] == ("character special file", 10, 200)


def test_configured_devices_keep_the_defaults(rt, make_bundle, cid):
    device = {"path": "/dev/kmsg-like", "type": "c", "major": 1, "minor": 11,
              "fileMode": 0o666, "uid": 0, "gid": 0}
    seen = stat_devices(rt, make_bundle, cid, sorted(DEFAULT_DEVICES) + ["kmsg-like"],
                        linux={"devices": [device]})
    for name, (major, minor) in DEFAULT_DEVICES.items():
        assert seen[name][1:3] == (major, minor), name


def test_pts_and_shm(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "stat -c '%F %t:%T' /dev/pts/ptmx; "
                                      "echo x > /dev/shm/f && echo shm-ok"])
    out = run_out(rt, bundle, cid).splitlines()
    assert out == ["character special file 5:2", "shm-ok"]


# --------------------------------------------------------------------------
# access comes from linux.resources.devices alone (as in runc and crun): a
# node listed in linux.devices is made, not allowed. Were it allowed, a config
# that denies every device but lists /dev/kmsg would let the container read
# the host's kernel log (and write into it).

KMSG = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600, "uid": 0, "gid": 0}
DENY_ALL = [{"allow": False, "access": "rwm"}]
OPEN_KMSG = ("(exec 3</dev/kmsg) 2>/dev/null && echo read-opened || echo read-refused; "
             "(exec 3>/dev/kmsg) 2>/dev/null && echo write-opened || echo write-refused")


# CAP_SYSLOG: reading /dev/kmsg needs it where dmesg_restrict is set; with
# it, the device cgroup is the only thing that can refuse the open.
WITH_SYSLOG = {"capabilities": {k: DOCKER_DEFAULT_CAPS + ["CAP_SYSLOG"]
                                for k in ("bounding", "effective", "permitted")}}


def kmsg_bundle(make_bundle, args, allow_read=False):
    rules = DENY_ALL + ([{"allow": True, "type": "c", "major": 1, "minor": 11, "access": "r"}] if allow_read else [])
    return make_bundle(args, process=WITH_SYSLOG, linux={"devices": [KMSG], "resources": {"devices": rules}})


def test_a_listed_node_is_not_allowed_by_the_device_cgroup_on_run(rt, make_bundle, cid):
    out = run_out(rt, kmsg_bundle(make_bundle, ["sh", "-c", OPEN_KMSG]), cid)
    assert out.split() == ["read-refused", "write-refused"]


def test_a_listed_node_is_not_allowed_by_the_device_cgroup_on_exec(rt, make_bundle, cid):
    rt("run", "--detach", "--bundle", kmsg_bundle(make_bundle, ["sleep", "1000"]), cid)
    out = rt("exec", "--cap", "CAP_SYSLOG", cid, "sh", "-c", OPEN_KMSG).stdout
    assert out.split() == ["read-refused", "write-refused"]
    rt("delete", "--force", cid)


def test_a_listed_node_opens_as_far_as_the_config_allows(rt, make_bundle, cid):
    # the control: the same node, the same open, once a rule allows reading
    out = run_out(rt, kmsg_bundle(make_bundle, ["sh", "-c", OPEN_KMSG], allow_read=True), cid)
    assert out.split() == ["read-opened", "write-refused"]



@pytest.mark.skipif(IS_RUNC, reason="runc 1.1 binds the host's node into a user namespace, and fails "
                                    "where the host has none")
def test_a_device_the_host_lacks_is_made_outside_a_user_namespace(rt, rootfs_template, cid):
    """In a user namespace no node can be made; one the host has no node
    for is made by the runtime outside it and bound in (crun's way), owned
    by the ids asked for, and the device it names works. Nothing of it is
    left on the host afterwards."""
    name = "minirun-test-%s" % cid
    assert not os.path.lexists("/dev/" + name)
    device = {"path": "/dev/" + name, "type": "c", "major": 1, "minor": 3, "fileMode": 0o640,
              "uid": 1000, "gid": 1001}
    script = ("stat -c '%%F %%t:%%T %%a %%u:%%g' /dev/%s; echo data > /dev/%s && wc -c < /dev/%s"
              % (name, name, name))
    top = rt.private_dir()  # the container's root cannot enter pytest's 0700 tmp_path
    subprocess.run(["cp", "-a", rootfs_template, str(top / "rootfs")], check=True)
    cfg = base_config(top / "rootfs")
    cfg["process"]["args"] = ["sh", "-c", script]
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"].update(devices=[device], uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
                        gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}])
    (top / "config.json").write_text(json.dumps(cfg))
    before = mountinfo()
    out = rt("run", "--bundle", top, cid).stdout.splitlines()
    assert out == ["character special file 1:3 640 1000:1001", "0"]
    assert not os.path.lexists("/dev/" + name)
    assert mountinfo() == before
    assert rt.leftovers() == {}
