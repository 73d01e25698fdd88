"""Bad input: each failure exits 1 with a one-line message on stderr naming
the offending field or path, writes the same as a level=error line to the
--log json file, and leaves nothing behind (no state, process or mount).

runc words its messages differently: in reference mode only the failure and
the cleanup are checked (see helpers.assert_error)."""

import pytest

from .helpers import IS_RUNC, assert_error, base_config, load_config, pid_alive, save_config


def create_fails(rt, bundle, cid, *substrings, **kwargs):
    result = rt("create", "--bundle", bundle, cid, check=False, log=True, **kwargs)
    assert_error(result, *substrings, log=rt.log)
    gone = rt("state", cid, check=False)
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    rt.assert_clean()
    return result


def test_missing_config_json(rt, tmp_path, cid):
    bundle = tmp_path / "empty-bundle"
    bundle.mkdir()
    create_fails(rt, bundle, cid, "config.json")


def test_missing_bundle_directory(rt, tmp_path, cid):
    create_fails(rt, tmp_path / "no-such-bundle", cid, "no-such-bundle")


def test_malformed_json(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    create_fails(rt, bundle, cid, "config.json")


def test_config_json_that_is_not_an_object(rt, make_bundle, cid):
    bundle = make_bundle(["true"])
    (bundle / "config.json").write_text('["a", "list"]')
    create_fails(rt, bundle, cid, "config.json")


def test_unknown_namespace_type(rt, make_bundle, cid):
    bundle = make_bundle(["true"], linux={"namespaces": [
        {"type": "pid"}, {"type": "mount"}, {"type": "bogus"}]})
    create_fails(rt, bundle, cid, "linux.namespaces")


def test_relative_cwd(rt, make_bundle, cid):
    bundle = make_bundle(["true"], process={"cwd": "relative/dir"})
    create_fails(rt, bundle, cid, "process.cwd")


def test_missing_executable_in_path(rt, make_bundle, cid):
    bundle = make_bundle(["no-such-command"])
    create_fails(rt, bundle, cid, "executable file not found")


def test_missing_executable_absolute_path(rt, make_bundle, cid):
    bundle = make_bundle(["/no/such/binary"])
    create_fails(rt, bundle, cid, "/no/such/binary")


def test_empty_args(rt, make_bundle, cid):
    bundle = make_bundle([])
    create_fails(rt, bundle, cid, "process.args")


def test_bad_mount_type(rt, make_bundle, cid):
    bundle = make_bundle(["true"], extra_mounts=[
        {"destination": "/x", "type": "nosuchfs", "source": "none"}])
    create_fails(rt, bundle, cid, "mounts")


def test_relative_mount_destination(rt, make_bundle, cid):
    bundle = make_bundle(["sh", "-c", "grep ' /relative ' /proc/self/mounts | cut -d' ' -f3"],
                         extra_mounts=[{"destination": "relative", "type": "tmpfs", "source": "tmpfs"}])
    if IS_RUNC:
        # runc 1.1 accepts a relative destination, taken relative to /
        # (runtime-spec 1.1 requires an absolute one, newer runcs refuse it)
        assert rt("run", "--bundle", bundle, cid).stdout == "tmpfs\n"
        return
    create_fails(rt, bundle, cid, "mounts[%d].destination" % (len(base_config("/")["mounts"])))


def test_bind_mount_source_missing(rt, make_bundle, tmp_path, cid):
    missing = tmp_path / "no-such-source"
    bundle = make_bundle(["true"], extra_mounts=[
        {"destination": "/x", "type": "bind", "source": str(missing), "options": ["rbind"]}])
    create_fails(rt, bundle, cid, str(missing))


def test_bundle_without_root(rt, make_bundle, cid):
    bundle = make_bundle(["true"], root=None)
    create_fails(rt, bundle, cid, "root")


def test_missing_rootfs_directory(rt, make_bundle, tmp_path, cid):
    missing = tmp_path / "no-such-rootfs"
    bundle = make_bundle(["true"], root={"path": str(missing)})
    create_fails(rt, bundle, cid, str(missing))


def test_terminal_without_console_socket(rt, make_bundle, cid):
    bundle = make_bundle(["sh"], process={"terminal": True})
    create_fails(rt, bundle, cid, "terminal")


def test_failure_after_namespaces_exist_cleans_up(rt, make_bundle, rootfs, cid):
    """A failure late in container setup (here: the cwd is a file) still
    leaves nothing behind."""
    (rootfs / "a-file").write_text("")
    bundle = make_bundle(["true"], process={"cwd": "/a-file"})
    result = rt("create", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, log=rt.log)
    rt.assert_clean()


def test_failed_run_cleans_up(rt, make_bundle, cid):
    bundle = make_bundle(["no-such-command"])
    result = rt("run", "--bundle", bundle, cid, check=False, log=True)
    assert_error(result, "executable file not found", log=rt.log)
    assert rt("state", cid, check=False).returncode == 1
    rt.assert_clean()


# --------------------------------------------------------------------------
# container IDs

@pytest.mark.parametrize("bad_id", ["a/b", "..", "../escape", "", "x" * 1025, "."],
                         ids=["slash", "dotdot", "dotdot-slash", "empty", "too-long", "dot"])
def test_invalid_container_ids_are_rejected(rt, make_bundle, tmp_path, bad_id):
    bundle = make_bundle(["sleep", "100"])
    result = rt("create", "--bundle", bundle, bad_id, check=False)
    assert_error(result, "invalid container id")
    assert not (tmp_path / "escape").exists()
    assert not (rt.root / "a").exists()
    listed = rt("list", "-q").stdout.split()
    assert listed == []
    rt.assert_clean()


def test_create_with_an_existing_id_fails_without_harming_the_first(rt, make_bundle, shared, cid):
    first = make_bundle(["sleep", "100"])
    rt("create", "--bundle", first, cid)
    state = rt.state(cid)

    second = make_bundle(["sh", "-c", "echo second > /shared/second"], shared=True)
    result = rt("create", "--bundle", second, cid, check=False)
    assert_error(result, cid, "exists")

    after = rt.state(cid)
    assert after["status"] == "created"
    assert after["pid"] == state["pid"]
    assert after["bundle"] == state["bundle"]
    assert pid_alive(state["pid"])
    rt("start", cid)
    assert rt.status(cid) == "running"
    assert not (shared / "second").exists()


def test_invalid_id_on_other_commands(rt):
    for command in (["state", "../x"], ["start", "../x"], ["kill", "../x"],
                    ["delete", "../x"]):
        result = rt(*command, check=False)
        assert_error(result, "invalid container id", "../x")


# --------------------------------------------------------------------------
# what must NOT be an error

def test_unknown_config_fields_are_ignored(rt, make_bundle, cid):
    """OCI: an unknown property must not be an error."""
    bundle = make_bundle(["echo", "tolerant"])
    cfg = load_config(bundle)
    cfg["org.example.future"] = {"anything": [1, 2, 3]}
    cfg["process"]["org.example.extra"] = True
    save_config(bundle, cfg)
    assert rt("run", "--bundle", bundle, cid).stdout == "tolerant\n"


@pytest.mark.parametrize("version", ["1.0.2-dev", "1.0.0", "1.1.0"])
def test_oci_versions_engines_send(rt, make_bundle, cid, version):
    bundle = make_bundle(["true"], ociVersion=version)
    rt("run", "--bundle", bundle, cid)
