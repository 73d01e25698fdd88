"""Capabilities beyond what test_process.py covers (the five sets and
ambient are there): names the runtime does not know are skipped with a
warning, as runc does; what the bounding set and noNewPrivileges mean for a
process that gains privileges by executing a setuid-root binary."""

import ctypes
import json
import os
import subprocess

import pytest

from .helpers import (
    CAPS, DOCKER_DEFAULT_CAPS, assert_error, cap_mask, read_json_log,
)
from .security_helpers import install_probe, probe_results

PR_CAPBSET_DROP = 24


def status_caps(text):
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            fields[key] = int(value.strip(), 16)
    return fields


def test_unknown_capability_is_ignored_with_a_warning(rt, make_bundle, cid):
    names = ["CAP_KILL", "CAP_NOT_YET_INVENTED", "CAP_CHOWN"]
    caps = {k: list(names) for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(["cat", "/proc/self/status"], process={"capabilities": caps})
    result = rt("run", "--bundle", bundle, cid, log=True)
    seen = status_caps(result.stdout)
    mask = cap_mask(["CAP_KILL", "CAP_CHOWN"])
    assert (seen["CapBnd"], seen["CapPrm"], seen["CapEff"]) == (mask, mask, mask)
    warnings = [e["msg"] for e in read_json_log(rt.log) if e["level"] == "warning"]
    assert [w for w in warnings if "CAP_NOT_YET_INVENTED" in w], read_json_log(rt.log)


def test_runtime_log_is_not_written_inside_the_rootfs(rt, make_bundle, rootfs, cid):
    """A warning raised while the container is being set up (here: the
    unknown capability) goes to the runtime's --log, never to the same path
    inside the container's root filesystem."""
    mirror = rootfs / str(rt.log.parent).lstrip("/")
    mirror.mkdir(parents=True)
    caps = {k: ["CAP_KILL", "CAP_NOT_YET_INVENTED"] for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(["true"], process={"capabilities": caps})
    rt("run", "--bundle", bundle, cid, log=True)
    assert sorted(p.name for p in mirror.iterdir()) == []


def without_in_bounding_set(cap_name):
    """A preexec_fn dropping ``cap_name`` from the runtime's bounding set."""
    libc = ctypes.CDLL(None, use_errno=True)
    number = CAPS[cap_name]

    def drop():
        if libc.prctl(PR_CAPBSET_DROP, number, 0, 0, 0) != 0:
            os._exit(126)
    return drop


def test_capability_missing_from_the_runtimes_own_sets_fails_cleanly(rt, make_bundle, cid):
    """The runtime runs without CAP_SYS_RESOURCE in its bounding set (as it
    does on hosts that drop it, like this project's CI machine): it cannot
    grant it, and must say so rather than start the process without it."""
    caps = {k: DOCKER_DEFAULT_CAPS + ["CAP_SYS_RESOURCE"]
            for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(["true"], process={"capabilities": caps})
    result = rt.finish(rt.popen("create", "--bundle", bundle, cid, log=True,
                                preexec_fn=without_in_bounding_set("CAP_SYS_RESOURCE")))
    assert_error(result, "process.capabilities", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


@pytest.fixture
def suid_rootfs(rt, rootfs):
    """The rootfs on a mount that honours setuid bits.  pytest's tmp may sit
    on a nosuid tmpfs (Debian 13's /tmp is one), and the runtime's bind
    mount of the rootfs keeps nosuid: so the rootfs is bound onto itself and
    that mount made suid.  Taken down before ``rt`` checks for leftovers."""
    subprocess.run(["mount", "--bind", str(rootfs), str(rootfs)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,suid", str(rootfs)], check=True)
        assert not os.statvfs(str(rootfs)).f_flag & os.ST_NOSUID
        yield rootfs
    finally:
        subprocess.run(["umount", str(rootfs)], check=True)


@pytest.mark.parametrize("nnp", [False, True], ids=["no-nnp", "nnp"])
def test_setuid_root_binary_and_the_bounding_set(rt, make_bundle, suid_rootfs, syscall_probe,
                                                 cid, nnp):
    """A non-root process executes a setuid-root binary.  Without
    noNewPrivileges it becomes euid 0 with exactly the bounding set as
    effective capabilities, never more; with it, nothing is gained."""
    install_probe(suid_rootfs, syscall_probe, path="/bin/suid-probe", mode=0o4755)
    bounding = ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"]
    caps = {"bounding": bounding, "effective": [], "permitted": [], "inheritable": []}
    bundle = make_bundle(["/bin/suid-probe", "ids"],
                         process={"noNewPrivileges": nnp, "capabilities": caps,
                                  "user": {"uid": 1000, "gid": 1000}})
    ids = probe_results(rt("run", "--bundle", bundle, cid).stdout)["ids"]
    ruid, euid, cap_eff = ids.split(",")
    assert ruid == "1000"
    if nnp:
        assert (euid, int(cap_eff, 16)) == ("1000", 0)
    else:
        assert (euid, int(cap_eff, 16)) == ("0", cap_mask(bounding))


@pytest.mark.parametrize("name", ["kill", "NET_ADMIN", "CAP_kill"])
def test_capability_name_not_spelled_as_the_kernel_knows_it_is_ignored_with_a_warning(rt, make_bundle,
                                                                                     cid, name):
    """runc 1.1 warns about a name it does not know and goes on without it:
    a missing capability only takes privilege away."""
    caps = {k: ["CAP_CHOWN", name] for k in ("bounding", "effective", "permitted")}
    bundle = make_bundle(["cat", "/proc/self/status"], process={"capabilities": caps})
    result = rt("run", "--bundle", bundle, cid, log=True)
    seen = status_caps(result.stdout)
    mask = cap_mask(["CAP_CHOWN"])
    assert (seen["CapBnd"], seen["CapPrm"], seen["CapEff"]) == (mask, mask, mask)
    warnings = [e["msg"] for e in read_json_log(rt.log) if e["level"] in ("warning", "warn")]
    assert [w for w in warnings if name in w], read_json_log(rt.log)


RUNC_SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "fixtures", "runc-spec", "config.json")


def test_runc_spec_bundle_with_ambient_but_no_inheritable_capabilities_runs(rt, tmp_path, rootfs, cid):
    """`runc spec` (1.1) writes ambient capabilities and no inheritable set.
    The kernel cannot raise an ambient capability that is not also
    inheritable; runc ignores that and so must we: the process runs, with the
    permitted set asked for and no ambient capability."""
    with open(RUNC_SPEC) as handle:
        cfg = json.load(handle)
    caps = cfg["process"]["capabilities"]
    assert caps["ambient"] and "inheritable" not in caps  # runc's default, as it is
    cfg["root"] = {"path": str(rootfs)}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["cat", "/proc/self/status"]
    bundle = tmp_path / "runc-spec-bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(cfg))
    result = rt("run", "--bundle", bundle, cid, log=True, check=False)
    assert result.returncode == 0, result.stderr
    seen = status_caps(result.stdout)
    mask = cap_mask(caps["permitted"])
    assert (seen["CapPrm"], seen["CapEff"], seen["CapBnd"]) == (mask, mask, mask)
    assert (seen["CapInh"], seen["CapAmb"]) == (0, 0)
    rt.assert_clean()


def test_ambient_capabilities_that_are_permitted_and_inheritable_are_raised(rt, make_bundle, cid):
    """The trimming leaves out only what cannot be raised: a non-root process
    keeps an ambient capability that is also permitted and inheritable."""
    names = ["CAP_NET_BIND_SERVICE", "CAP_KILL"]
    caps = {k: list(names) for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}
    bundle = make_bundle(["cat", "/proc/self/status"], process={
        "capabilities": caps, "user": {"uid": 1000, "gid": 1000}, "noNewPrivileges": True})
    seen = status_caps(rt("run", "--bundle", bundle, cid).stdout)
    assert (seen["CapAmb"], seen["CapEff"]) == (cap_mask(names), cap_mask(names))
