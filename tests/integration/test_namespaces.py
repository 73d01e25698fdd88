"""Namespaces: each requested type is new (a different /proc/PID/ns inode
than the host's), unrequested ones are shared with the host, a `path` joins
an existing namespace; observed from inside the container too."""

import os
import subprocess

import pytest

from .helpers import IS_RUNC, assert_error, mountinfo, ns_id, proc_status, run_through_shell, wait_for

ALL = ["pid", "network", "ipc", "uts", "mount"]
PROC_NAME = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts",
             "mount": "mnt", "cgroup": "cgroup", "user": "user", "time": "time"}


def namespaces(*types, **paths):
    result = [{"type": t} for t in types]
    for t, p in paths.items():
        result.append({"type": t, "path": str(p)})
    return result


def running(rt, make_bundle, cid, args=("sleep", "100"), **overrides):
    bundle = make_bundle(list(args), **overrides)
    rt("create", "--bundle", bundle, cid)
    rt("start", cid)
    return rt.state(cid)["pid"]


@pytest.mark.parametrize("ns", ALL + ["cgroup"])
def test_requested_namespace_is_new(rt, make_bundle, cid, ns):
    types = ALL if ns in ALL else ALL + [ns]
    pid = running(rt, make_bundle, cid, linux={"namespaces": namespaces(*types)})
    name = PROC_NAME[ns]
    assert ns_id(pid, name) != ns_id("self", name)


@pytest.mark.parametrize("ns", ["network", "ipc", "uts", "cgroup"])
def test_unrequested_namespace_is_the_hosts(rt, make_bundle, cid, ns):
    types = [t for t in ALL if t != ns]
    pid = running(rt, make_bundle, cid, linux={"namespaces": namespaces(*types)},
                  hostname=None if ns == "uts" else "minirun-test")
    name = PROC_NAME[ns]
    assert ns_id(pid, name) == ns_id("self", name)
    for other in types:
        assert ns_id(pid, PROC_NAME[other]) != ns_id("self", PROC_NAME[other])


def test_pid_namespace_process_is_pid_1(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "echo $$; ps -o pid,comm > /tmp/ps; tail -n +2 /tmp/ps"])
    out = rt("run", "--bundle", bundle, cid).stdout.split()
    # the shell is 1; while ps runs, only it and ps exist: nothing from the
    # host (ps's pid is not pinned: runc's Go init used some for its threads)
    assert out[:3] == ["1", "1", "sh"] and out[4:] == ["ps"], out


def test_without_pid_namespace_the_host_pids_are_visible(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "echo $$; test -d /proc/%d && echo sees-host" % os.getpid()],
                         linux={"namespaces": namespaces("network", "ipc", "uts", "mount")})
    out = rt("run", "--bundle", bundle, cid).stdout.split()
    assert out[0] != "1"
    assert "sees-host" in out


def test_network_namespace_has_only_loopback(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "ls /sys/class/net"])
    assert rt("run", "--bundle", bundle, cid).stdout.split() == ["lo"]


def test_a_new_network_namespace_has_loopback_up_as_runc_gives_it(rt, make_bundle, cid):
    """runc's "loopback" network: every container with a network namespace
    of its own finds lo up (127.0.0.1 answers), without CAP_NET_ADMIN."""
    bundle = make_bundle(["sh", "-c", "cat /sys/class/net/lo/flags"])
    assert int(rt("run", "--bundle", bundle, cid).stdout, 16) & 0x1    # IFF_UP


def test_the_init_leads_a_session_of_its_own_as_runcs_does(rt, make_bundle, cid):
    """runc's init calls setsid() with or without a terminal (and CRIU
    dumps a container only if its session leader is inside it)."""
    pid = running(rt, make_bundle, cid)
    assert os.getsid(pid) == pid and os.getsid(pid) != os.getsid(0)


def test_stdio_on_the_hosts_null_device_is_the_containers_own(rt, make_bundle, cid):
    """runc's init reopens stdio that is /dev/null on the container's
    /dev/null: a file of the host's /dev would keep a host mount reachable
    (and CRIU dumps no file of a mount outside the container)."""
    pid = running(rt, make_bundle, cid)      # rt gives the runtime /dev/null as stdin
    dev_mount = next(line.split()[0] for line in open("/proc/%d/mountinfo" % pid) if line.split()[4] == "/dev")
    with open("/proc/%d/fdinfo/0" % pid) as info:
        mnt_id = next(line.split()[1] for line in info if line.startswith("mnt_id:"))
    assert mnt_id == dev_mount


def test_uts_namespace_hostname(rt, make_bundle, cid):
    before = os.uname().nodename
    bundle = make_bundle(["hostname"], hostname="inside-uts")
    assert rt("run", "--bundle", bundle, cid).stdout.strip() == "inside-uts"
    assert os.uname().nodename == before


def test_mount_namespace_hides_container_mounts_from_the_host(rt, make_bundle, cid, tmp_path):
    pid = running(rt, make_bundle, cid)
    inside = {m.split()[4] for m in open("/proc/%d/mountinfo" % pid)}
    assert "/proc" in inside and "/dev" in inside
    host = {m.split()[4] for m in open("/proc/self/mountinfo")}
    assert not any(p.startswith(str(tmp_path)) for p in host)


def test_ipc_namespace_is_private(rt, make_bundle, cid):
    """A SysV message queue made on the host is not visible inside."""
    out = subprocess.run(["ipcmk", "-Q"], stdout=subprocess.PIPE, check=True,
                         universal_newlines=True).stdout
    msqid = out.split(":")[-1].strip()
    try:
        with open("/proc/sysvipc/msg") as f:
            assert len(f.read().splitlines()) >= 2
        bundle = make_bundle(["cat", "/proc/sysvipc/msg"])
        lines = rt("run", "--bundle", bundle, cid).stdout.splitlines()
        assert len(lines) == 1, lines  # the header only
    finally:
        subprocess.run(["ipcrm", "-q", msqid])


def test_cgroup_namespace_root(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/cgroup"],
                         linux={"namespaces": namespaces(*(ALL + ["cgroup"]))})
    lines = rt("run", "--bundle", bundle, cid).stdout.splitlines()
    assert lines
    # inside its own cgroup namespace every hierarchy path is the root
    for line in lines:
        assert line.split(":", 2)[2] == "/", lines


def chown_tree(top, uid, gid):
    for dirpath, dirnames, filenames in os.walk(str(top)):
        os.lchown(dirpath, uid, gid)
        for name in dirnames + filenames:
            os.lchown(os.path.join(dirpath, name), uid, gid)


USERNS = {
    "namespaces": namespaces(*(ALL + ["user"])),
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
}


@pytest.fixture
def userns_rootfs(rt, rootfs):
    """The rootfs copy, owned by host uid/gid 100000, somewhere that uid can
    reach (pytest's own tmp tree is 0700)."""
    dest = rt.private_dir() / "rootfs"
    subprocess.run(["cp", "-a", str(rootfs), str(dest)], check=True)
    chown_tree(dest, 100000, 100000)
    return dest


def test_user_namespace_mappings(rt, make_bundle, userns_rootfs, cid):
    pid = running(rt, make_bundle, cid, linux=USERNS, root={"path": str(userns_rootfs)})
    assert ns_id(pid, "user") != ns_id("self", "user")
    uid_map = open("/proc/%d/uid_map" % pid).read().split()
    gid_map = open("/proc/%d/gid_map" % pid).read().split()
    assert uid_map == ["0", "100000", "65536"]
    assert gid_map == ["0", "100000", "65536"]
    status = proc_status(pid)
    assert status["Uid"].split()[0] == "100000"
    assert status["Gid"].split()[0] == "100000"


def test_user_namespace_seen_from_inside(rt, make_bundle, userns_rootfs, cid):
    bundle = make_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; touch /root/ok && echo wrote"],
                         linux=USERNS, root={"path": str(userns_rootfs)})
    out = rt("run", "--bundle", bundle, cid).stdout.split()
    assert out == ["0", "0", "100000", "65536", "wrote"]
    assert os.stat(str(userns_rootfs / "root" / "ok")).st_uid == 100000


@pytest.mark.skipif(not os.path.exists("/proc/self/ns/time"), reason="needs /proc/self/ns/time")
@pytest.mark.skipif(IS_RUNC, reason="needs a runtime with time namespace support (runc 1.1.5 has none)")
def test_time_namespace_offsets(rt, make_bundle, cid):
    day = 86400
    offsets = {"monotonic": {"secs": day * 1000, "nanosecs": 0},
               "boottime": {"secs": day * 1000, "nanosecs": 0}}
    pid = running(rt, make_bundle, cid,
                  linux={"namespaces": namespaces(*(ALL + ["time"])), "timeOffsets": offsets})
    assert ns_id(pid, "time") != ns_id("self", "time")
    shown = {}
    for line in open("/proc/%d/timens_offsets" % pid):
        name, secs, nsecs = line.split()
        shown[name] = int(secs)
    assert shown == {"monotonic": day * 1000, "boottime": day * 1000}
    # /proc/uptime is boot time: shifted by the boottime offset
    bundle = make_bundle(["cat", "/proc/uptime"],
                         linux={"namespaces": namespaces(*(ALL + ["time"])), "timeOffsets": offsets})
    uptime = float(rt("run", "--bundle", bundle, cid + "b").stdout.split()[0])
    assert uptime > day * 1000


def test_join_an_existing_network_namespace_by_path(rt, make_bundle, cid):
    holder = rt.spawn(["unshare", "--net", "sleep", "1000"])
    host_net = ns_id("self", "net")
    path = "/proc/%d/ns/net" % holder.pid
    wait_for(lambda: os.readlink(path) != host_net, what="the helper's netns")
    # give the namespace something recognisable: a new netns has lo down
    subprocess.run(["nsenter", "--net=%s" % path, "ip", "link", "set", "lo", "up"],
                   check=True)
    types = [t for t in ALL if t != "network"]
    pid = running(rt, make_bundle, cid,
                  linux={"namespaces": namespaces(*types, network=path)})
    assert ns_id(pid, "net") == os.readlink(path)
    bundle = make_bundle(["cat", "/sys/class/net/lo/flags"],
                         linux={"namespaces": namespaces(*types, network=path)})
    flags = int(rt("run", "--bundle", bundle, cid + "b").stdout.strip(), 16)
    assert flags & 1, "lo is not up: not the joined namespace"


def test_join_an_existing_uts_namespace_by_path(rt, make_bundle, cid):
    holder = rt.spawn(["unshare", "--uts", "sh", "-c", "hostname joined-uts; exec sleep 1000"])
    path = "/proc/%d/ns/uts" % holder.pid
    wait_for(lambda: subprocess.run(["nsenter", "--uts=%s" % path, "hostname"],
                                    stdout=subprocess.PIPE, universal_newlines=True)
             .stdout.strip() == "joined-uts", what="the helper's hostname")
    types = [t for t in ALL if t != "uts"]
    bundle = make_bundle(["hostname"], hostname=None,
                         linux={"namespaces": namespaces(*types, uts=path)})
    assert rt("run", "--bundle", bundle, cid).stdout.strip() == "joined-uts"


def test_join_a_uts_namespace_by_path_with_hostname_set(rt, make_bundle, cid):
    """runc sets the hostname in the joined namespace: the container and the
    namespace's other members see it; the host's hostname is untouched."""
    host_name = open("/proc/sys/kernel/hostname").read()
    holder = rt.spawn(["unshare", "--uts", "sh", "-c", "hostname before-join; exec sleep 1000"])
    path = "/proc/%d/ns/uts" % holder.pid

    def holder_hostname():
        return subprocess.run(["nsenter", "--uts=%s" % path, "hostname"], stdout=subprocess.PIPE,
                              universal_newlines=True).stdout.strip()

    wait_for(lambda: holder_hostname() == "before-join", what="the helper's hostname")
    types = [t for t in ALL if t != "uts"]
    bundle = make_bundle(["hostname"], hostname="set-in-joined",
                         linux={"namespaces": namespaces(*types, uts=path)})
    result = rt("run", "--bundle", bundle, cid, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "set-in-joined"
    assert holder_hostname() == "set-in-joined"
    assert open("/proc/sys/kernel/hostname").read() == host_name


def test_join_a_namespace_path_that_does_not_exist_fails(rt, make_bundle, cid, tmp_path):
    missing = tmp_path / "no-such-ns"
    types = [t for t in ALL if t != "network"]
    bundle = make_bundle(["true"], linux={"namespaces": namespaces(*types, network=missing)})
    result = rt("create", "--bundle", bundle, cid, check=False)
    assert_error(result, str(missing))
    rt.assert_clean()


DISTINCT_MAPS = {
    "namespaces": namespaces(*(ALL + ["user"])),
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 300000, "size": 1000},
                    {"containerID": 1000, "hostID": 400000, "size": 64536}],
}


def test_uid_and_gid_maps_are_written_from_their_own_mappings(rt, make_bundle, rootfs, cid):
    """Different uid and gid mappings (the gid one in two ranges): each map
    file holds exactly its own mappings, as the host reads them."""
    dest = rt.private_dir() / "rootfs"
    subprocess.run(["cp", "-a", str(rootfs), str(dest)], check=True)
    chown_tree(dest, 100000, 300000)
    pid = running(rt, make_bundle, cid, linux=DISTINCT_MAPS, root={"path": str(dest)})
    with open("/proc/%d/uid_map" % pid) as f:
        uid_map = [line.split() for line in f]
    with open("/proc/%d/gid_map" % pid) as f:
        gid_map = [line.split() for line in f]
    assert uid_map == [["0", "100000", "65536"]]
    assert gid_map == [["0", "300000", "1000"], ["1000", "400000", "64536"]]
    status = proc_status(pid)
    assert status["Uid"].split() == ["100000"] * 4
    assert status["Gid"].split() == ["300000"] * 4


def test_join_a_mount_namespace_by_path_still_prepares_and_enters_the_rootfs(rt, make_bundle, rootfs, cid):
    """A mount namespace joined by path gets the bundle's root filesystem
    prepared in it and pivoted into (as runc does): the process finds its
    image's files, and the joined namespace is the one it runs in."""
    (rootfs / "marker").write_text("from the image\n")
    holder = rt.spawn(["unshare", "--mount", "--propagation", "private", "sleep", "1000"])
    path = "/proc/%d/ns/mnt" % holder.pid
    wait_for(lambda: ns_id(holder.pid, "mnt") != ns_id("self", "mnt"), what="the helper's mount namespace")
    types = [t for t in ALL if t != "mount"]
    bundle = make_bundle(["sh", "-c", "cat /marker; readlink /proc/self/ns/mnt"],
                         linux={"namespaces": namespaces(*types, mount=path)})
    marker, mnt = rt("run", "--bundle", bundle, cid).stdout.splitlines()
    assert marker == "from the image"
    assert mnt == ns_id(holder.pid, "mnt")


@pytest.mark.skipif(IS_RUNC, reason="runc 1.1.5 would mount the config's mounts into the host's namespace")
def test_a_config_without_a_mount_namespace_runs_chrooted(rt, make_bundle, rootfs, cid):
    (rootfs / "marker").write_text("chrooted\n")
    types = [t for t in ALL if t != "mount"]
    bundle = make_bundle(["cat", "/marker"], mounts=[], linux={"namespaces": namespaces(*types)})
    assert rt("run", "--bundle", bundle, cid).stdout == "chrooted\n"
    assert rt.leftovers() == {}


def test_a_config_without_a_mount_namespace_mounts_into_the_callers(rt, make_bundle, rootfs, cid, tmp_path):
    """The spec's rule, as runc and crun: the mounts go into the caller's
    mount namespace and the process is chrooted into the root. Run only in
    a throwaway mount namespace of the test's own: nothing reaches the host."""
    types = [t for t in ALL if t != "mount"]
    bundle = make_bundle(["sh", "-c", "grep -c ' /dev/shm ' /proc/self/mountinfo; echo ran"],
                         linux={"namespaces": namespaces(*types)})
    out_path = tmp_path / "out"
    script = '"$@"; echo "status $?"; cat /proc/self/mountinfo'
    with open(str(out_path), "w") as out:
        result = run_through_shell(rt, ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"],
                                   ["run", "--bundle", str(bundle), cid], dict(os.environ), out, "unshare")
    assert result.returncode == 0, result.stderr
    lines = out_path.read_text().splitlines()
    status = lines.index("status 0")
    assert lines[status - 1] == "ran", lines[:status]
    points = [line.split()[4] for line in lines[status + 1:]]
    for destination in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys"):
        assert str(rootfs) + destination in points, destination
    if not IS_RUNC:  # runc 1.1 also binds the root over itself there, for a pivot it then does not do
        assert str(rootfs) not in points
    assert not [m for m in mountinfo() if m["mountpoint"].startswith(str(rootfs))]  # the host's: untouched


def test_a_config_without_a_mount_namespace_refuses_masked_paths(rt, make_bundle, cid):
    types = [t for t in ALL if t != "mount"]
    bundle = make_bundle(["true"], mounts=[], linux={"namespaces": namespaces(*types), "maskedPaths": ["/proc/kcore"]})
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "linux.maskedPaths", "mount namespace", log=rt.log)


# --------------------------------------------------------------------------
# linux.netDevices: host interfaces moved into the container's new network
# namespace. The runtime runs inside a network namespace the test makes (its
# "host"): the interfaces made for a test live there and nowhere else.

NET_DEVICES_SKIP = pytest.mark.skipif(IS_RUNC, reason="runc 1.1 has no linux.netDevices (runc 1.3 added it)")


@pytest.fixture
def test_netns():
    """(name, path) of a network namespace of this test's own, deleted at teardown."""
    name = "minirun-%s" % os.urandom(5).hex()
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name, "/run/netns/" + name
    subprocess.run(["ip", "netns", "del", name], check=False)


def virtual_interface(netns_name):
    """(interface, its peer): a veth pair made in the test's namespace
    (iproute2, test setup only). A veth, not a dummy: this host's kernel has
    no dummy driver, and the peer shows what becomes of the moved end."""
    name = "mr%s" % os.urandom(4).hex()
    subprocess.run(["ip", "-n", netns_name, "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                   check=True)
    return name, name + "p"


def has_interface(name, netns_name=None):
    argv = ["ip"] + (["-n", netns_name] if netns_name else []) + ["link", "show", "dev", name]
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def create_in_netns(rt, netns_path, bundle, cid):
    """`create` run from the test's network namespace (nsenter --net), its
    output in files: the init keeps the runtime's stdio open."""
    argv = ["nsenter", "--net=" + netns_path] + rt.argv("create", "--bundle", bundle, cid, log=True)
    rt.ids.add(cid)
    with open(str(rt.tmp / "netns-create.out"), "w+") as out, open(str(rt.tmp / "netns-create.err"), "w+") as err:
        code = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=str(rt.tmp),
                              timeout=60).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read(), err.read())


@NET_DEVICES_SKIP
def test_a_host_interface_is_moved_in_renamed_and_up_and_destroyed_with_the_namespace(rt, make_bundle, cid, test_netns):
    netns_name, netns_path = test_netns
    dummy, peer = virtual_interface(netns_name)
    bundle = make_bundle(["sleep", "100"], linux={"netDevices": {dummy: {"name": "ctr0"}}})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert result.returncode == 0, result.stderr
    rt("start", cid)
    # Inside: the device under its new name, up (the spec asks the runtime to set it up).
    names = rt("exec", cid, "ls", "/sys/class/net").stdout.split()
    assert sorted(names) == ["ctr0", "lo"]
    assert int(rt("exec", cid, "cat", "/sys/class/net/ctr0/flags").stdout, 16) & 0x1
    # Outside: gone from the host's namespace while the container runs.
    assert not has_interface(dummy, netns_name)
    # The runtime does not move it back at delete: it stays in the namespace,
    # which a held reference keeps alive here after the init is gone.
    held = os.open("/proc/%d/ns/net" % rt.state(cid)["pid"], os.O_RDONLY)
    try:
        rt("delete", "--force", cid)
        inside = subprocess.run(["nsenter", "--net=/proc/self/fd/%d" % held, "ip", "link", "show", "dev", "ctr0"],
                                pass_fds=(held,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert inside.returncode == 0
    finally:
        os.close(held)
    # Then the kernel decides, when the namespace is dismantled (after the
    # last reference goes, in a work queue: hence the wait): a virtual device
    # (veth, dummy: rtnl_link_ops, no netns_refund) is destroyed, and a veth
    # takes its peer along, which the test's namespace shows; a physical one
    # would go to the initial namespace, not back to the one it came from.
    wait_for(lambda: not has_interface(peer, netns_name), what="the moved veth end destroyed with its peer")
    assert not has_interface(dummy, netns_name) and not has_interface("ctr0", netns_name)
    assert not has_interface(dummy)
    rt.assert_clean()


@NET_DEVICES_SKIP
def test_a_missing_interface_is_refused_before_anything_exists(rt, make_bundle, cid, test_netns):
    _netns_name, netns_path = test_netns
    bundle = make_bundle(["true"], linux={"netDevices": {"mrmissing0": {}}})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert_error(result, "linux.netDevices.mrmissing0", "no interface", log=rt.log)
    rt.assert_clean()


@NET_DEVICES_SKIP
@pytest.mark.parametrize("network", ["host", "joined"])
def test_an_interface_is_not_moved_into_a_namespace_the_container_does_not_own(rt, make_bundle, cid, test_netns,
                                                                                 network):
    netns_name, netns_path = test_netns
    dummy, _peer = virtual_interface(netns_name)
    types = [t for t in ALL if t != "network"]
    spaces = namespaces(*types, network=netns_path) if network == "joined" else namespaces(*types)
    bundle = make_bundle(["true"], linux={"namespaces": spaces, "netDevices": {dummy: {}}})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert_error(result, "linux.netDevices.%s" % dummy, "new network namespace", log=rt.log)
    assert has_interface(dummy, netns_name)
    rt.assert_clean()


@NET_DEVICES_SKIP
def test_a_name_taken_in_the_container_is_refused_and_nothing_moves(rt, make_bundle, cid, test_netns):
    netns_name, netns_path = test_netns
    dummy, _peer = virtual_interface(netns_name)
    bundle = make_bundle(["true"], linux={"netDevices": {dummy: {"name": "lo"}}})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert_error(result, "linux.netDevices.%s" % dummy, "already has an interface lo", log=rt.log)
    assert has_interface(dummy, netns_name)
    rt.assert_clean()


@NET_DEVICES_SKIP
def test_a_failed_move_puts_back_the_devices_already_moved(rt, make_bundle, cid, test_netns):
    """The loopback device never leaves its namespace (NETIF_F_NETNS_LOCAL):
    its move fails after the dummy's succeeded, and the dummy comes back
    under its own name (were it left to the dying namespace, the kernel
    would destroy it)."""
    netns_name, netns_path = test_netns
    dummy, _peer = virtual_interface(netns_name)
    bundle = make_bundle(["true"], linux={"netDevices": {dummy: {"name": "ctr0"}, "lo": {"name": "ctr1"}}})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert_error(result, "linux.netDevices.lo", "cannot move lo", log=rt.log)
    assert has_interface(dummy, netns_name) and not has_interface("ctr0", netns_name)
    rt.assert_clean()


@NET_DEVICES_SKIP
def test_a_create_failing_after_the_move_puts_the_device_back(rt, make_bundle, cid, test_netns):
    netns_name, netns_path = test_netns
    dummy, _peer = virtual_interface(netns_name)
    bundle = make_bundle(["true"], linux={"netDevices": {dummy: {"name": "ctr0"}}},
                         hooks={"createRuntime": [{"path": "/bin/false"}]})
    result = create_in_netns(rt, netns_path, bundle, cid)
    assert result.returncode != 0
    assert has_interface(dummy, netns_name) and not has_interface("ctr0", netns_name)
    rt.assert_clean()
