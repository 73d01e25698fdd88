"""containerd without Docker: `ctr run --runc-binary` goes through the
io.containerd.runc.v2 shim, the path Kubernetes' CRI plugin takes."""

import uuid

import pytest

from .engines import IMAGE, MINIRUN, RUNC, runtimes, wait_for

REF = "docker.io/" + IMAGE
BINARY = {"minirun": str(MINIRUN), "runc": RUNC}


@pytest.fixture
def ctr(containerd, runtime):
    ids = []

    def new_id():
        ids.append("e2e-%s-%s" % (runtime, uuid.uuid4().hex[:10]))
        return ids[-1]

    yield containerd.ctr, new_id
    for cid in ids:
        containerd.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        containerd.ctr("task", "delete", "--force", cid, check=False)
        containerd.ctr("container", "delete", cid, check=False)


@runtimes()
def test_ctr_run_output_and_exit_code(ctr, runtime):
    run, new_id = ctr
    r = run("run", "--rm", "--runc-binary", BINARY[runtime], REF, new_id(),
            "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n"), r


@runtimes()
def test_ctr_task_exec_and_kill(ctr, runtime):
    run, new_id = ctr
    cid = new_id()
    run("run", "-d", "--runc-binary", BINARY[runtime], REF, cid, "sleep", "100000")
    r = run("task", "exec", "--exec-id", "e1", cid, "sh", "-c", "echo hi; exit 4", check=False)
    assert (r.returncode, r.stdout) == (4, "hi\n"), r
    run("task", "kill", "-s", "SIGKILL", cid)
    wait_for(lambda: "STOPPED" in run("task", "ls").stdout, what="the task to stop")
    run("task", "delete", cid)
    run("container", "delete", cid)
