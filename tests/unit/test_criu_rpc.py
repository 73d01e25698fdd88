"""CRIU's RPC (section 19): protobuf's wire format, held against the bytes
runc 1.3.6 and CRIU 4.2.1 really exchanged.

tests/fixtures/criu-rpc/runc-dump and runc-restore hold every message of a
`runc checkpoint` and a `runc restore` of a busybox counter, as
tests/fixtures/criu-rpc/capture.py recorded them between runc and
`criu swrk` (NN-request.bin: runc to CRIU, encoded by go-criu's protobuf;
NN-response.bin: CRIU to runc, encoded by protobuf-c). Decoding each and
encoding it again must give the same bytes: field numbers, wire types,
varints (a negative int32's ten bytes), presence of false values and the
order of repeated fields are then all as protobuf's own encoders write them.
"""

from pathlib import Path

import pytest

import minirun

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "criu-rpc"


def messages(session):
    files = sorted((FIXTURES / session).glob("*.bin"))
    assert files, "the captured RPC is missing: %s" % (FIXTURES / session)
    return [(f.name, "criu_req" if "request" in f.name else "criu_resp", f.read_bytes()) for f in files]


ALL = [(session, name, kind, data) for session in ("runc-dump", "runc-restore")
       for name, kind, data in messages(session)]


@pytest.mark.parametrize("session, name, kind, data", ALL, ids=["%s/%s" % (m[0], m[1]) for m in ALL])
def test_every_captured_message_decodes_and_encodes_to_the_same_bytes(session, name, kind, data):
    assert minirun.pb_encode(kind, minirun.pb_decode(kind, data)) == data


def test_runcs_dump_request_reads_as_runc_sent_it():
    request = minirun.pb_decode("criu_req", (FIXTURES / "runc-dump" / "02-request.bin").read_bytes())
    assert request["type"] == minirun.CRIU_REQ_TYPES["DUMP"]
    opts = request["opts"]
    assert opts["log_file"] == "dump.log" and opts["log_level"] == 4
    assert opts["manage_cgroups"] is True and opts["notify_scripts"] is True
    assert opts["leave_running"] is False and opts["shell_job"] is False     # false, yet present
    assert opts["empty_ns"] == minirun.CLONE_NEWNET
    assert opts["manage_cgroups_mode"] == minirun.CRIU_CGROUP_MODE_DEFAULT
    assert opts["orphan_pts_master"] is True
    assert opts["config_file"] == minirun.CRIU_CONFIG_FILE
    assert {"key": "/dev/null", "val": "/dev/null"} in opts["ext_mnt"]
    assert {"key": "/proc/keys", "val": "/dev/null"} in opts["ext_mnt"]      # a masked file


def test_runcs_restore_request_reads_as_runc_sent_it():
    opts = minirun.pb_decode("criu_req", (FIXTURES / "runc-restore" / "02-request.bin").read_bytes())["opts"]
    assert opts["rst_sibling"] is True and opts["evasive_devices"] is True
    assert opts["log_file"] == "restore.log"
    assert opts["root"].endswith("/criu-root")
    assert [i["fd"] for i in opts["inherit_fd"]] == [0, 1, 2]
    assert all(i["key"].startswith("pipe:[") for i in opts["inherit_fd"])
    assert {"ctrl": "", "path": "/c2"} in opts["cg_root"]


def test_criu_answers_read_as_it_sent_them():
    dump = {name: minirun.pb_decode(kind, data) for name, kind, data in messages("runc-dump")}
    assert dump["01-response.bin"]["version"] == {"major_number": 4, "minor_number": 2, "sublevel": 1}
    scripts = [m["notify"]["script"] for m in dump.values() if m.get("type") == minirun.CRIU_REQ_TYPES["NOTIFY"]
               and "notify" in m]
    assert scripts == ["pre-dump", "network-lock", "query-ext-files", "post-dump"]
    assert dump["11-response.bin"]["success"] is True and dump["11-response.bin"]["dump"] == {"restored": False}
    restore = {name: minirun.pb_decode(kind, data) for name, kind, data in messages("runc-restore")}
    pids = {m["notify"]["script"]: m["notify"].get("pid") for m in restore.values() if "notify" in m}
    assert pids["setup-namespaces"] == pids["post-restore"] == restore["17-response.bin"]["restore"]["pid"] > 0


def test_a_notification_is_acknowledged_as_runc_acknowledges_it():
    ack = (FIXTURES / "runc-dump" / "04-request.bin").read_bytes()
    assert minirun.pb_encode("criu_req", {"type": minirun.CRIU_REQ_TYPES["NOTIFY"], "notify_success": True}) == ack


def test_a_version_request_is_the_two_bytes_runc_sends():
    assert minirun.pb_encode("criu_req", {"type": minirun.CRIU_REQ_TYPES["VERSION"]}) == \
        (FIXTURES / "runc-dump" / "00-request.bin").read_bytes() == b"\x08\x0a"


@pytest.mark.parametrize("value, wire", [
    (0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02"),
    (-1, b"\xff" * 9 + b"\x01"),   # a negative int32 is sign-extended to 64 bits: ten bytes
])
def test_varints(value, wire):
    assert minirun.pb_varint(value) == wire
    decoded, end = minirun.pb_read_varint(wire, 0)
    assert end == len(wire)
    assert minirun.pb_decode("criu_resp", b"\x38" + wire)["cr_errno"] == value   # field 7, int32


def test_fields_of_a_newer_criu_are_skipped():
    # field 99 as a varint and as bytes, then type = 10
    data = b"\x98\x06\x05" + b"\x9a\x06\x02ab" + b"\x08\x0a"
    assert minirun.pb_decode("criu_resp", data) == {"type": 10}


@pytest.mark.parametrize("data", [b"\x08", b"\x12\x05ab", b"\x0b", b"\x08\xff"])
def test_malformed_bytes_are_refused(data):
    with pytest.raises(ValueError):
        minirun.pb_decode("criu_resp", data)


def test_encoding_an_unknown_field_is_a_bug_not_a_silent_drop():
    with pytest.raises(ValueError):
        minirun.pb_encode("criu_opts", {"images_dir_fd": 3, "no_such_field": True})


def test_the_last_useful_error_of_criu_is_the_one_reported(tmp_path):
    log = tmp_path / "dump.log"
    log.write_text("(00.01) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: "
                   "Operation not permitted\n(00.02) something\n"
                   "(00.17) Error (criu/files-reg.c:1790): Can't lookup mount=138 for fd=0 path=/dev/null\n"
                   "(00.18) Error (criu/cr-dump.c:1545): Dump files (pid: 1) failed with -1\n"
                   "(00.25) Error (criu/cr-dump.c:1975): Dumping FAILED.\n")
    assert minirun.criu_log_error(str(log)) == \
        "Error (criu/files-reg.c:1790): Can't lookup mount=138 for fd=0 path=/dev/null"
    assert minirun.criu_log_error(str(tmp_path / "missing.log")) == ""
