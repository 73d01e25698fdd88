"""Kubernetes' path: containerd's CRI plugin with a `minirun` runtime handler
(runtime_type io.containerd.runc.v2, BinaryName minirun), driven by a small
CRI client (tests/e2e/cri.py) as the kubelet would: a pod sandbox on the
host network, a container joining its namespaces, ExecSync, stop, remove."""

import os
import uuid

import pytest

from .engines import IMAGE, MINIRUN, RUNC, Containerd, image_archive, runtimes, wait_for

pytest.importorskip("grpc", reason="needs grpcio (the Makefile's TEST_PACKAGES)")
from .cri import RuntimeService  # noqa: E402

PAUSE = "minirun-e2e/pause:latest"


@pytest.fixture(scope="session")
def cri(engines):
    top = engines.top
    rootfs = top / "image-rootfs"
    pause = image_archive(rootfs, top / "pause.tar", name=PAUSE, cmd=("sleep", "2147483647"))
    opts = '[plugins."io.containerd.grpc.v1.cri"'
    lines = [
        opts + "]",
        '  sandbox_image = "docker.io/%s"' % PAUSE,
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        # the sandbox asks for oomScoreAdj -998; lowering it needs
        # CAP_SYS_RESOURCE, which this kind of host's bounding set lacks
        '  restrict_oom_score_adj = true',
        opts + ".cni]",
        '  bin_dir = "%s"' % (top / "cri-cni" / "bin"),
        '  conf_dir = "%s"' % (top / "cri-cni" / "conf"),
        opts + ".containerd]",
        '  default_runtime_name = "runc"',
    ]
    for handler, binary in (("runc", RUNC), ("minirun", MINIRUN)):
        lines += [
            opts + '.containerd.runtimes.%s]' % handler,
            '  runtime_type = "io.containerd.runc.v2"',
            opts + '.containerd.runtimes.%s.options]' % handler,
            '  BinaryName = "%s"' % binary,
            '  Root = "%s"' % (top / "cri-runc-root"),
        ]
    daemon = Containerd(top, name="containerd-cri", cri=lines)
    try:
        daemon.namespace = "k8s.io"
        daemon.ctr("image", "import", engines.archive)
        daemon.ctr("image", "import", pause)
        client = RuntimeService(daemon.address)
        yield daemon, client
        client.close()
    finally:
        daemon.stop()


@pytest.fixture
def pod(cri, runtime, tmp_path):
    daemon, client = cri
    name = "e2e-%s-%s" % (runtime, uuid.uuid4().hex[:8])
    logs = tmp_path / "logs"
    logs.mkdir()
    config = client.sandbox_config(name, uuid.uuid4().hex, str(logs))
    sandbox = client.run_pod_sandbox(config, runtime)
    try:
        yield client, daemon, sandbox, config, logs
    finally:
        client.stop_pod_sandbox(sandbox)
        client.remove_pod_sandbox(sandbox)


def sandbox_pid(daemon, sandbox):
    for line in daemon.ctr("task", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == sandbox:
            return int(fields[1])
    raise AssertionError("no task for the sandbox %s" % sandbox)


@runtimes()
def test_cri_pod_sandbox_and_a_container_in_its_namespaces(pod):
    client, daemon, sandbox, config, logs = pod
    assert client.version()[0] == "containerd"
    cid = client.create_container(sandbox, config, "app", "docker.io/" + IMAGE,
                                  ["sh", "-c", "for ns in ipc uts net; do readlink /proc/self/ns/$ns; done; "
                                   "sleep 100000"], "app.log")
    client.start_container(cid)
    pid = sandbox_pid(daemon, sandbox)
    # the pod's own ipc namespace; uts and net are the host's (host network)
    want = [os.readlink("/proc/%d/ns/ipc" % pid), os.readlink("/proc/self/ns/uts"),
            os.readlink("/proc/self/ns/net")]
    assert want[0] != os.readlink("/proc/self/ns/ipc")
    log = logs / "app.log"
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= 3, what="the container's log")
    got = [line.split(" ", 3)[3] for line in log.read_text().splitlines()[:3]]
    assert got == want


@runtimes()
def test_cri_exec_sync(pod):
    client, daemon, sandbox, config, logs = pod
    cid = client.create_container(sandbox, config, "app", "docker.io/" + IMAGE,
                                  ["sleep", "100000"], "app.log")
    client.start_container(cid)
    assert client.exec_sync(cid, ["sh", "-c", "echo hi; echo err >&2; exit 3"]) == ("hi\n", "err\n", 3)
