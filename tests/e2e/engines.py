"""The real engines, started privately for the end-to-end tests.

containerd, dockerd and podman (with conmon) come from Debian's packages and
run here with data roots, exec roots, sockets, pid files, cgroup parents and a
bridge of their own, all under one temporary directory, so they never meet an
engine already running on the host (nor another test run's engines):

* dockerd gets ``--iptables=false --ip6tables=false --ip-masq=false
  --ip-forward=false`` (ip6tables is on by default since Docker 27): the
  tests' containers only talk to each other over the test's own bridge, and
  a daemon that wrote the shared ``DOCKER`` chains (or flipped the host's
  ``ip_forward``) would change the host for everyone.
* podman's containers get ``netns = "none"`` by default (containers.conf), so
  podman never touches CNI, the host's ``cni-podman0`` or iptables.

/usr/local/bin/docker may be an unrelated CLI: everything here is called by
absolute path. Each engine writes its log to a file under the temporary
directory; a failure to start shows the log's tail.

Images: no registry is reachable, so ``image_archive`` writes a docker-archive
tarball (manifest.json + config + one layer) of a busybox rootfs built from
the host's static busybox; ``docker load``, ``podman load`` and
``ctr image import`` all read that format.
"""

import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MINIRUN = REPO / "minirun.py"

DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
PODMAN = "/usr/bin/podman"
RUNC = "/usr/sbin/runc"
IMAGE = "minirun-e2e/busybox:latest"

# A hang must fail the test, never block the run forever.
TIMEOUT = 60


class EngineError(AssertionError):
    pass


def log_tail(path, lines=25):
    try:
        with open(str(path), errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return "(no log: %s)" % exc


def wait_for(predicate, timeout=TIMEOUT, what="a condition", log=None):
    """Poll for a positive event; a timeout is a failure naming `what`."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            msg = "timed out after %ss waiting for %s" % (timeout, what)
            if log is not None:
                msg += "\n--- tail of %s ---\n%s" % (log, log_tail(log))
            raise EngineError(msg)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def run(argv, check=True, timeout=TIMEOUT, input=None, env=None, log=None):
    """Run a command; returns CompletedProcess with text stdout/stderr."""
    result = subprocess.run([str(a) for a in argv], input=input, env=env,
                            stdin=None if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=timeout)
    if check and result.returncode != 0:
        msg = "%s exited %d\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in argv), result.returncode, result.stdout, result.stderr)
        if log is not None:
            msg += "\n--- tail of %s ---\n%s" % (log, log_tail(log))
        raise EngineError(msg)
    return result


def socket_accepts(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# the image


def build_rootfs(dest):
    run(["bash", str(REPO / "bundles" / "build-rootfs.sh"), str(dest)])
    return Path(dest)


def _tar_bytes(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(str(rootfs))):
            tar.add(str(Path(rootfs) / entry), arcname=entry)
    return buf.getvalue()


def busybox_image(top):
    """The e2e image: a busybox rootfs under `top` with root and nobody in its
    passwd and group files, written as a docker-archive at top/busybox.tar."""
    rootfs = build_rootfs(Path(top) / "image-rootfs")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return image_archive(rootfs, Path(top) / "busybox.tar")


def image_archive(rootfs, dest, name=IMAGE, cmd=("sh",)):
    """A docker-archive (`docker save` format) of `rootfs` as image `name`."""
    layer = _tar_bytes(rootfs)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine,
                                                                    os.uname().machine),
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                          "/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2026-01-01T00:00:00Z", "created_by": "minirun e2e"}],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_dir = hashlib.sha256(layer).hexdigest()
    manifest = json.dumps([{"Config": config_name, "RepoTags": [name],
                            "Layers": [layer_dir + "/layer.tar"]}]).encode()
    repo, tag = name.rsplit(":", 1)
    repositories = json.dumps({repo: {tag: layer_dir}}).encode()
    with tarfile.open(str(dest), "w") as tar:
        for path, data in ((config_name, config), (layer_dir + "/layer.tar", layer),
                           ("manifest.json", manifest), ("repositories", repositories)):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1767225600
            tar.addfile(info, io.BytesIO(data))
    return Path(dest)


# --------------------------------------------------------------------------
# the host, as seen before and after


def mountinfo_lines(marker):
    with open("/proc/self/mountinfo") as f:
        return [line.strip() for line in f if marker in line]


def processes_mentioning(marker, skip=()):
    """(pid, cmdline) of processes whose argv or cwd mentions `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if marker in cmd:
            found.append((int(entry), cmd))
    return found


def processes_in_cgroup(fragment):
    """(pid, cgroup line) of processes whose cgroup path contains `fragment`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cgroup" % entry) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            if fragment in line.split(":", 2)[-1]:
                found.append((int(entry), line))
                break
    return found


def cgroup_dirs(fragment):
    """Cgroup directories (any hierarchy) whose path contains `fragment`."""
    found = []
    base = "/sys/fs/cgroup"
    for top in sorted(os.listdir(base)):
        root = os.path.join(base, top)
        if not os.path.isdir(root) or os.path.islink(root):
            continue
        for dirpath, dirnames, _ in os.walk(root):
            for d in dirnames:
                path = os.path.join(dirpath, d)
                if fragment in path[len(root):]:
                    found.append(path)
    return found


def iptables_rules():
    """The rules of every table, counters dropped (the iptables-save text)."""
    rules = []
    for tool in ("/usr/sbin/iptables-save", "/usr/sbin/ip6tables-save"):
        if not os.path.exists(tool):
            continue
        out = run([tool], check=False).stdout
        rules += [re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines()
                  if line and not line.startswith("#")]
    return rules


def bridge_accept_rule(bridge):
    """The FORWARD rule that lets traffic between the ports of `bridge` pass,
    or None when bridged frames never meet iptables here.

    Where br_netfilter is loaded with bridge-nf-call-iptables=1 (any host
    where Docker runs with its iptables rules), frames between two ports of
    one bridge go through the host's FORWARD chain, whose policy Docker sets
    to DROP. The test bridge's own traffic then needs this rule; it is
    inserted for the session and deleted with the bridge, so the host keeps
    its policy and, once the session ends, its rules."""
    try:
        with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
            filtered = f.read().strip() != "0"
    except OSError:
        return None   # no br_netfilter: bridged frames bypass iptables
    if not filtered or not os.path.exists("/usr/sbin/iptables"):
        return None
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT",
            "-m", "comment", "--comment", "minirun e2e bridge"]


def link_names():
    out = run(["ip", "-o", "link", "show"]).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def links_on_bridge(bridge):
    out = run(["ip", "-o", "link", "show", "master", bridge], check=False).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def free_subnet():
    """A 10.213.N.0/24 no interface of this machine uses (a private range only
    ever used inside this machine)."""
    used = run(["ip", "-o", "-4", "addr", "show"]).stdout
    for n in range(1 + os.getpid() % 200, 255):
        if " 10.213.%d." % n not in used:
            return n
    raise EngineError("no free 10.213.N.0/24 subnet")


# --------------------------------------------------------------------------
# daemons


class Daemon:
    """A daemon started in its own session with its log in a file."""

    def __init__(self, name, argv, log, env=None):
        self.name = name
        self.log = Path(log)
        self._logf = open(str(self.log), "ab")
        self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                                     stdout=self._logf, stderr=subprocess.STDOUT,
                                     start_new_session=True, env=env)

    def ensure_alive(self):
        if self.proc.poll() is not None:
            raise EngineError("%s exited %s\n--- tail of %s ---\n%s"
                              % (self.name, self.proc.returncode, self.log, log_tail(self.log)))
        return True

    def wait_socket(self, path, timeout=TIMEOUT):
        wait_for(lambda: self.ensure_alive() and socket_accepts(path), timeout=timeout,
                 what="%s to listen on %s" % (self.name, path), log=self.log)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self._logf.close()
                raise EngineError("%s ignored SIGTERM for %ss\n--- tail of %s ---\n%s"
                                  % (self.name, timeout, self.log, log_tail(self.log)))
        self._logf.close()
        return self.proc.returncode


class Containerd(Daemon):
    """containerd; with `cri` (config.toml lines), its CRI plugin too.
    `start_timeout`: how long it may take to listen (longer in the VM lab)."""

    def __init__(self, top, name="containerd", cri=None, start_timeout=TIMEOUT):
        self.dir = Path(top) / name
        for sub in ("root", "state", "opt"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.address = self.dir / "containerd.sock"
        # The shim's runc root defaults to /run/containerd/runc/<namespace>: a
        # namespace of this run's own keeps ctr's containers apart.
        self.namespace = "minirun-e2e-%d" % os.getpid()
        config = self.dir / "config.toml"
        config.write_text("\n".join([
            "version = 2",
            'root = "%s"' % (self.dir / "root"),
            'state = "%s"' % (self.dir / "state"),
            'disabled_plugins = [%s"io.containerd.snapshotter.v1.btrfs",'
            % ("" if cri else '"io.containerd.grpc.v1.cri", '),
            '  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",',
            '  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",',
            '  "io.containerd.internal.v1.tracing"]',
            "[grpc]",
            '  address = "%s"' % self.address,
            "[ttrpc]",
            '  address = "%s.ttrpc"' % self.address,
            "[debug]",
            '  address = "%s"' % (self.dir / "debug.sock"),
            '  level = "info"',
            "[metrics]",
            '  address = ""',
            "[plugins]",
            '  [plugins."io.containerd.internal.v1.opt"]',
            '    path = "%s"' % (self.dir / "opt"),
        ] + list(cri or []) + [""]))
        super().__init__("containerd", [CONTAINERD, "--config", config], self.dir / "containerd.log")
        self.wait_socket(self.address, start_timeout)

    def ctr(self, *args, check=True, timeout=TIMEOUT):
        return run([CTR, "--address", self.address, "--namespace", self.namespace] + list(args),
                   check=check, timeout=timeout, log=self.log)


class Dockerd(Daemon):
    """dockerd on the session's containerd, with minirun registered.

    cgroup_driver "cgroupfs": the containers' cgroups under a parent of this
    run's own.  "systemd" (where systemd is init): each container in a
    transient scope docker-<id>.scope in system.slice, the runtime called
    with --systemd-cgroup.  bridge None: `--bridge none`, so the containers
    need `--network none`."""

    def __init__(self, top, containerd, bridge=None, subnet=None, cgroup_driver="cgroupfs",
                 start_timeout=TIMEOUT):
        self.dir = Path(top) / "docker"
        for sub in ("data", "exec", "cli"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "docker.sock"
        self.bridge = bridge
        self.subnet = subnet
        self.cgroup_driver = cgroup_driver
        # the systemd driver's scopes live in system.slice, shared with the host
        self.cgroup_parent = "minirun-e2e-docker-%d" % os.getpid() \
            if cgroup_driver == "cgroupfs" else None
        config = self.dir / "daemon.json"
        config.write_text(json.dumps({"runtimes": {"minirun": {"path": str(MINIRUN)}}}, indent=2))
        self.argv = [
            DOCKERD, "--config-file", config,
            "--data-root", self.dir / "data", "--exec-root", self.dir / "exec",
            "--pidfile", self.dir / "dockerd.pid", "--host", "unix://%s" % self.socket,
            "--containerd", containerd.address, "--containerd-namespace", "minirun-e2e",
            "--bridge", bridge or "none", "--iptables=false", "--ip6tables=false",
            "--ip-masq=false", "--ip-forward=false", "--userland-proxy=false",
            "--exec-opt", "native.cgroupdriver=%s" % cgroup_driver,
            "--storage-driver", "overlay2", "--log-level", "info",
        ]
        if self.cgroup_parent:
            self.argv += ["--cgroup-parent", "/" + self.cgroup_parent]
        self.env = dict(os.environ, DOCKER_CONFIG=str(self.dir / "cli"))
        super().__init__("dockerd", self.argv, self.dir / "dockerd.log", env=self.env)
        self.wait_socket(self.socket, start_timeout)
        self.runtime_root = self.dir / "exec" / "runtime-runc" / "minirun-e2e"

    def docker(self, *args, check=True, timeout=TIMEOUT, input=None):
        return run([DOCKER, "--host", "unix://%s" % self.socket] + list(args), check=check,
                   timeout=timeout, input=input, env=self.env, log=self.log)

    def docker_argv(self, *args):
        return [DOCKER, "--host", "unix://%s" % self.socket] + [str(a) for a in args]


class Podman:
    """podman (no daemon): every call carries this run's storage, run and tmp dirs."""

    def __init__(self, top):
        self.dir = Path(top) / "podman"
        for sub in ("storage", "run", "tmp", "cni", "volumes"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "containers.conf"
        # nofile/nproc: the bounding set here lacks CAP_SYS_RESOURCE, and
        # podman's default rlimits (the daemon's hard limits) exceed what a
        # container may raise to.
        self.conf.write_text("\n".join([
            "[containers]",
            'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
            'netns = "none"',
            'log_driver = "k8s-file"',
            "[network]",
            'network_config_dir = "%s"' % (self.dir / "cni"),
            "[engine]",
            'cgroup_manager = "cgroupfs"',
            'events_logger = "file"',
            'events_logfile_path = "%s"' % (self.dir / "events.log"),
            'tmp_dir = "%s"' % (self.dir / "tmp"),
            'volume_path = "%s"' % (self.dir / "volumes"),
            'runtime_supports_json = ["crun", "runc", "minirun"]',
            "[engine.runtimes]",
            'minirun = ["%s"]' % MINIRUN,
            'runc = ["%s"]' % RUNC,
            "",
        ]))
        self.env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        self.log = self.dir / "podman.log"
        driver = "overlay" if overlay_works(self.dir) else "vfs"
        self.global_args = ["--root", self.dir / "storage", "--runroot", self.dir / "run",
                            "--tmpdir", self.dir / "tmp", "--storage-driver", driver,
                            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def podman_argv(self, runtime, *args):
        head = [PODMAN] + self.global_args
        if runtime:
            head += ["--runtime", runtime]
        return [str(a) for a in head + list(args)]

    def podman(self, *args, runtime=None, check=True, timeout=TIMEOUT, input=None):
        argv = self.podman_argv(runtime, *args)
        result = run(argv, check=False, timeout=timeout, input=input, env=self.env)
        with open(str(self.log), "a") as f:
            f.write("$ %s\n-> %d\n%s%s" % (" ".join(argv), result.returncode, result.stdout,
                                             result.stderr))
        if check and result.returncode != 0:
            raise EngineError("podman %s exited %d\nstdout: %s\nstderr: %s"
                              % (" ".join(str(a) for a in args), result.returncode,
                                 result.stdout, result.stderr))
        return result


def overlay_works(scratch):
    """True when this kernel lets us mount overlayfs on the scratch fs."""
    base = Path(scratch) / "overlay-probe"
    dirs = [base / d for d in ("lower", "upper", "work", "merged")]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    result = run(["mount", "-t", "overlay", "overlay", "-o",
                  "lowerdir=%s,upperdir=%s,workdir=%s" % tuple(dirs[:3]), dirs[3]], check=False)
    if result.returncode == 0:
        run(["umount", dirs[3]])
    shutil.rmtree(str(base), ignore_errors=True)
    return result.returncode == 0


# --------------------------------------------------------------------------
# scenarios: one parametrization per runtime


def runtimes(minirun_gap=None):
    """Parametrize a scenario by runtime.  `minirun_gap` names what minirun
    lacks (issue N: ...): its run is then a strict xfail, visible as a gap
    and red (XPASS) the day the gap closes."""
    import pytest
    minirun = "minirun"
    if minirun_gap:
        minirun = pytest.param("minirun", marks=pytest.mark.xfail(strict=True, reason=minirun_gap))
    return pytest.mark.parametrize("runtime", [minirun, "runc"])


class PtyProcess:
    """A command on a real pty of a given size, read until expected text."""

    def __init__(self, argv, rows=30, cols=100, env=None):
        import fcntl
        import pty
        import struct
        import termios
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

        def controlling_tty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen([str(a) for a in argv], stdin=slave, stdout=slave,
                                     stderr=slave, preexec_fn=controlling_tty, env=env,
                                     close_fds=True)
        os.close(slave)
        self.output = b""

    def expect(self, text, timeout=TIMEOUT):
        import select
        want = text.encode() if isinstance(text, str) else text
        deadline = time.monotonic() + timeout
        while want not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EngineError("timed out waiting for %r on the pty; got %r" % (want, self.output))
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:   # EIO: the other side is gone
                    data = b""
                if not data:
                    raise EngineError("pty closed before %r; got %r" % (want, self.output))
                self.output += data
        return self.output

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def wait(self, timeout=TIMEOUT):
        import select
        deadline = time.monotonic() + timeout
        # drain the pty so the writer never blocks
        while self.proc.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    data = b""
                self.output += data
        try:
            return self.proc.wait(max(0.1, deadline - time.monotonic()))
        finally:
            os.close(self.master)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        try:
            os.close(self.master)
        except OSError:
            pass
