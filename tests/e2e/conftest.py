"""Session fixtures: this run's own containerd, dockerd and podman, with
minirun and runc registered in each, a busybox image loaded into all three,
and at the end a check that nothing of theirs is left on the host."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .engines import (DOCKER, DOCKERD, CONTAINERD, CTR, PODMAN, RUNC,
                      Containerd, Dockerd, EngineError, Podman, bridge_accept_rule, busybox_image, cgroup_dirs,
                      free_subnet, iptables_rules, link_names, links_on_bridge,
                      mountinfo_lines, processes_in_cgroup, processes_mentioning, run, wait_for)

MINIRUN_ROOT = "/run/minirun"   # minirun's default --root: podman passes none


def _missing_tools():
    return [p for p in (DOCKER, DOCKERD, CONTAINERD, CTR, PODMAN, RUNC, "/usr/bin/conmon")
            if not os.access(p, os.X_OK)]


class Engines:
    """Everything the session started, and how to take it all down again."""

    def __init__(self):
        missing = _missing_tools()
        if os.geteuid() != 0:
            pytest.skip("the engines need root")
        if missing:
            pytest.fail("missing %s: run `make e2e-deps` (installs Debian's docker.io, "
                        "containerd, runc, podman, conmon)" % ", ".join(missing))
        self.top = Path(tempfile.mkdtemp(prefix="minirun-e2e-"))
        os.chmod(str(self.top), 0o755)
        self.iptables_before = iptables_rules()
        self.minirun_before = set(os.listdir(MINIRUN_ROOT)) if os.path.isdir(MINIRUN_ROOT) else set()
        self.libpod_before = set(cgroup_dirs("libpod"))
        self.containerd = self.dockerd = self.podman = None
        self.stopped = False
        n = free_subnet()
        self.bridge = "mre2e%d" % (os.getpid() % 100000)
        self.subnet = "10.213.%d" % n
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", "%s.1/24" % self.subnet, "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        self.accept_rule = bridge_accept_rule(self.bridge)
        if self.accept_rule:
            run(["/usr/sbin/iptables", "-I"] + self.accept_rule)
        try:
            self.archive = busybox_image(self.top)
            self.containerd = Containerd(self.top)
            self.dockerd = Dockerd(self.top, self.containerd, self.bridge, self.subnet)
            self.dockerd.docker("load", "--input", self.archive)
            self.containerd.ctr("image", "import", self.archive)
            self.podman = Podman(self.top)
            self.podman.podman("load", "--input", self.archive, timeout=120)
        except BaseException:
            self.stop()
            self.tidy()
            raise

    def stop(self):
        """Remove every container, stop the daemons, delete the bridge."""
        if self.stopped:
            return
        self.stopped = True
        problems = []
        if self.podman is not None:
            ids = self.podman.podman("ps", "-aq", check=False).stdout.split()
            if ids:
                self.podman.podman("rm", "-f", "-t", "0", *ids, check=False)
            self.podman.podman("system", "reset", "--force", check=False, timeout=120)
        if self.dockerd is not None:
            if self.dockerd.proc.poll() is None:
                ids = self.dockerd.docker("ps", "-aq", check=False).stdout.split()
                if ids:
                    self.dockerd.docker("rm", "-f", *ids, check=False)
            try:
                self.dockerd.stop()
            except EngineError as exc:
                problems.append(str(exc))
        if self.containerd is not None:
            if self.containerd.proc.poll() is None:
                for task in self.containerd.ctr("task", "ls", "-q", check=False).stdout.split():
                    self.containerd.ctr("task", "kill", "-s", "SIGKILL", task, check=False)
                    self.containerd.ctr("task", "delete", "--force", task, check=False)
                for c in self.containerd.ctr("container", "ls", "-q", check=False).stdout.split():
                    self.containerd.ctr("container", "delete", c, check=False)
            try:
                self.containerd.stop()
            except EngineError as exc:
                problems.append(str(exc))
        on_bridge = links_on_bridge(self.bridge)
        if on_bridge:
            problems.append("links left on the bridge %s: %s" % (self.bridge, on_bridge))
        run(["ip", "link", "del", self.bridge], check=False)
        if self.accept_rule:
            run(["/usr/sbin/iptables", "-D"] + self.accept_rule, check=False)
        return problems

    def leftovers(self):
        """What the engines (and minirun under them) left on the host."""
        top = str(self.top)
        found = []
        # dockerd leaves the host network's sandbox key (exec-root/netns/default,
        # a bind of the host's netns made by libnetwork) mounted when it stops:
        # the engine's own, made whatever the runtime; unmounted by tidy().
        mounts = [m for m in mountinfo_lines(top) if not m.split()[4].endswith("/netns/default")]
        if mounts:
            found.append("mounts under %s:\n  %s" % (top, "\n  ".join(mounts)))
        procs = processes_mentioning(top)
        if procs:
            found.append("processes mentioning %s: %s" % (top, procs))
        # the CRI plugin's pods: cgroupsPath /k8s.io/<id> (tests/e2e/test_cri.py)
        for fragment in (self.dockerd.cgroup_parent if self.dockerd else None,
                         self.containerd.namespace if self.containerd else None, "k8s.io"):
            if fragment is None:
                continue
            procs = processes_in_cgroup(fragment)
            if procs:
                found.append("processes in cgroups %s: %s" % (fragment, procs))
            # the parent itself stays (runc never removes a parent it made)
            dirs = cgroup_dirs(fragment + "/")
            if dirs:
                found.append("cgroups left: %s" % dirs)
        libpod = sorted(set(cgroup_dirs("libpod-")) - self.libpod_before)
        if libpod:
            found.append("podman's cgroups left: %s" % libpod)
        if self.bridge in link_names():
            found.append("bridge %s still exists" % self.bridge)
        after = iptables_rules()
        new_rules = [r for r in after if r not in self.iptables_before]
        if new_rules:
            found.append("iptables rules added: %s" % new_rules)
        if os.path.isdir(MINIRUN_ROOT):
            new = sorted(set(os.listdir(MINIRUN_ROOT)) - self.minirun_before)
            new = [n for n in new if len(n) == 64]   # podman's container ids
            if new:
                found.append("minirun state left in %s: %s" % (MINIRUN_ROOT, new))
        runc_ns = Path("/run/containerd/runc") / (self.containerd.namespace if self.containerd else "-")
        if runc_ns.is_dir() and os.listdir(str(runc_ns)):
            found.append("runtime state left in %s: %s" % (runc_ns, os.listdir(str(runc_ns))))
        if self.dockerd is not None and self.dockerd.runtime_root.is_dir() and \
                os.listdir(str(self.dockerd.runtime_root)):
            found.append("runtime state left in %s: %s"
                         % (self.dockerd.runtime_root, os.listdir(str(self.dockerd.runtime_root))))
        return found

    def tidy(self):
        """After the check: the empty parents the engines made (cgroup
        parents, the shim's per-namespace state dir) and the temp dir."""
        fragments = [e.cgroup_parent for e in (self.dockerd,) if e is not None]
        fragments += [e.namespace for e in (self.containerd,) if e is not None] + ["k8s.io"]
        for fragment in fragments:
            for d in sorted(cgroup_dirs(fragment), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
        if self.containerd is not None:
            try:
                os.rmdir("/run/containerd/runc/" + self.containerd.namespace)
            except OSError:
                pass
        for line in mountinfo_lines(str(self.top)):
            if line.split()[4].endswith("/netns/default"):
                run(["umount", line.split()[4]], check=False)
        if not mountinfo_lines(str(self.top)):
            shutil.rmtree(str(self.top), ignore_errors=True)


@pytest.fixture(scope="session")
def engines():
    e = Engines()
    yield e
    if not e.stopped:
        problems = e.stop() or []
        # conmon's `podman container cleanup` may still be deleting the last
        # container: wait for a clean host, then report what is still there
        try:
            wait_for(lambda: not e.leftovers(), timeout=30, what="a clean host")
        except EngineError:
            pass
        problems += e.leftovers()
        e.tidy()
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="session")
def dockerd(engines):
    return engines.dockerd


@pytest.fixture(scope="session")
def containerd(engines):
    return engines.containerd


@pytest.fixture(scope="session")
def podman(engines):
    return engines.podman
