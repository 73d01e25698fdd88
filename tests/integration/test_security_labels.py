"""LSM labels.  On a host without that LSM, process.apparmorProfile,
process.selinuxLabel and linux.mountLabel make create fail with a clear
error naming the field (running the container unconfined would be a silent
pass), and leave nothing behind.  An empty string is "unset" (engines write
it) and is no error.

On a host with AppArmor (the VM lab's Debian kernels enable it), a profile
that is not loaded is refused at create, and "unconfined" is applied at
execve.  Each test is skipped where its LSM is, or is not, enabled."""

import os

import pytest

from .helpers import assert_error


def apparmor_enabled():
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled():
    return os.path.exists("/sys/fs/selinux/enforce")


needs_no_apparmor = pytest.mark.skipif(apparmor_enabled(), reason="the host has AppArmor enabled")
needs_no_selinux = pytest.mark.skipif(selinux_enabled(), reason="the host has SELinux enabled")
needs_apparmor = pytest.mark.skipif(not apparmor_enabled(), reason="needs AppArmor")

APPARMOR = ({"process": {"apparmorProfile": "docker-default"}}, "process.apparmorProfile")
SELINUX_PROCESS = ({"process": {"selinuxLabel": "system_u:system_r:container_t:s0:c1,c2"}},
                   "process.selinuxLabel")
SELINUX_MOUNT = ({"linux": {"mountLabel": "system_u:object_r:container_file_t:s0:c1,c2"}},
                 "linux.mountLabel")

CASES = [
    pytest.param(*APPARMOR, marks=needs_no_apparmor, id="apparmorProfile"),
    pytest.param(*SELINUX_PROCESS, marks=needs_no_selinux, id="selinuxLabel"),
    pytest.param(*SELINUX_MOUNT, marks=needs_no_selinux, id="mountLabel"),
]


@pytest.mark.parametrize("overrides, field", CASES)
def test_label_without_the_lsm_is_refused(rt, make_bundle, shared, cid, overrides, field):
    bundle = make_bundle(["sh", "-c", "touch /shared/ran"], shared=True, **overrides)
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, field, log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    assert not (shared / "ran").exists()
    rt.assert_clean()


@pytest.mark.parametrize("overrides, field", CASES)
def test_run_with_a_label_without_the_lsm_is_refused(rt, make_bundle, shared, cid, overrides,
                                                     field):
    bundle = make_bundle(["sh", "-c", "touch /shared/ran"], shared=True, **overrides)
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, field, log=rt.log)
    assert not (shared / "ran").exists()
    rt.assert_clean()


@pytest.mark.skipif(apparmor_enabled() and selinux_enabled(),
                    reason="the host has both LSMs: none of the labels is refused")
def test_all_three_labels_name_the_first(rt, make_bundle, cid):
    """apparmorProfile, selinuxLabel and mountLabel are checked in that order:
    the error names the first one the host cannot enforce, and only it.
    ("unconfined" is always loaded where AppArmor is enabled.)"""
    bundle = make_bundle(["true"], process={"apparmorProfile": "unconfined",
                                            "selinuxLabel": "system_u:system_r:container_t:s0"},
                         linux={"mountLabel": "system_u:object_r:container_file_t:s0"})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    first = "process.selinuxLabel" if apparmor_enabled() else "process.apparmorProfile"
    assert_error(result, first, log=rt.log)
    others = {"process.apparmorProfile", "process.selinuxLabel", "linux.mountLabel"} - {first}
    assert not [f for f in others if f in result.stderr], result.stderr
    rt.assert_clean()


def test_empty_labels_are_unset(rt, make_bundle, cid):
    bundle = make_bundle(["echo", "unconfined-is-what-was-asked"],
                         process={"apparmorProfile": "", "selinuxLabel": ""},
                         linux={"mountLabel": ""})
    assert rt("run", "--bundle", bundle, cid).stdout == "unconfined-is-what-was-asked\n"


@needs_apparmor
@pytest.mark.parametrize("command", ["create", "run"])
def test_apparmor_profile_that_is_not_loaded_is_refused(rt, make_bundle, shared, cid, command):
    bundle = make_bundle(["sh", "-c", "touch /shared/ran"], shared=True,
                         process={"apparmorProfile": "minirun-test-not-loaded"})
    result = rt(command, "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "process.apparmorProfile", "minirun-test-not-loaded", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    assert not (shared / "ran").exists()
    rt.assert_clean()


@needs_apparmor
def test_apparmor_unconfined_is_applied_at_exec(rt, make_bundle, cid):
    bundle = make_bundle(["cat", "/proc/self/attr/current"],
                         process={"apparmorProfile": "unconfined"})
    assert rt("run", "--bundle", bundle, cid).stdout.strip() == "unconfined"
