"""Section 1: errors, JSON through the C accelerator, RFC 3339 time stamps, the Log."""

import json
import os
import re

import pytest

import minirun


# --- json_loads --------------------------------------------------------------


def test_json_loads_reads_an_object_with_every_json_type():
    text = '{"s": "x", "i": 42, "f": 1.5, "t": true, "n": null, "l": [1, "two"], "o": {}}'
    assert minirun.json_loads(text) == {"s": "x", "i": 42, "f": 1.5, "t": True, "n": None,
                                        "l": [1, "two"], "o": {}}


def test_json_loads_reads_deeply_nested_structures():
    value = {"a": [{"b": [[{"c": [1, [2, [3]]]}]]}]}
    assert minirun.json_loads(json.dumps(value)) == value


def test_json_loads_decodes_unicode_escapes_and_raw_utf8_alike():
    assert minirun.json_loads('"caf\\u00e9 \\ud83d\\ude00"') == "caf\u00e9 \U0001F600"
    assert minirun.json_loads('["café", "日本"]') == ["café", "日本"]


def test_json_loads_keeps_integers_exact_and_parses_floats_and_exponents():
    assert minirun.json_loads("18446744073709551615") == 18446744073709551615
    assert isinstance(minirun.json_loads("7"), int)
    assert minirun.json_loads("-0.25") == -0.25
    assert minirun.json_loads("1e3") == 1000.0
    assert isinstance(minirun.json_loads("1e3"), float)


def test_json_loads_accepts_leading_and_trailing_json_whitespace():
    assert minirun.json_loads(' \t\r\n {"a": 1} \n\t ') == {"a": 1}
    assert minirun.json_loads("\n[ 1 ,\n 2 ]\n") == [1, 2]


@pytest.mark.parametrize("text", ['{"a": }', '{"a" 1}', "[1, 2", "", "   ", "{'a': 1}", '"\x01"'])
def test_json_loads_refuses_malformed_input_with_a_position(text):
    with pytest.raises(ValueError) as caught:
        minirun.json_loads(text)
    # the position, as json.loads gives it: "line L column C (char N)"
    assert re.search(r": line 1 column \d+ \(char \d+\)$", str(caught.value)), str(caught.value)


@pytest.mark.parametrize("text", ['{"a": 1} x', "[1] [2]", "1 2", '{"a": 1}}'])
def test_json_loads_refuses_trailing_garbage_after_the_value(text):
    with pytest.raises(ValueError) as caught:
        minirun.json_loads(text)
    assert "Extra data" in str(caught.value)


# --- json_dumps --------------------------------------------------------------

SAMPLES = [
    {"ociVersion": "1.3.0", "id": "c1", "pid": 42, "status": "running"},
    {"nested": {"list": [1, 2, {"deep": [None, True, False]}], "empty": {}, "none": []}},
    [1, "two", 3.5, None],
    [],
    {},
    [[], {}, [[]]],
    {"unicode": "café ☃ \U0001F600", "quote\"d": "back\\slash\n"},
    "just a string",
    0,
]


@pytest.mark.parametrize("value", SAMPLES)
def test_compact_json_dumps_round_trips_and_has_no_spaces_between_tokens(value):
    text = minirun.json_dumps(value)
    assert json.loads(text) == value
    assert text == json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("value", SAMPLES)
def test_indented_json_dumps_matches_the_stdlib_indent_2_output(value):
    text = minirun.json_dumps(value, indent=2)
    assert text == json.dumps(value, indent=2)
    assert json.loads(text) == value


def test_json_dumps_escapes_non_ascii_like_the_stdlib_default():
    assert minirun.json_dumps({"k": "é"}) == '{"k":"\\u00e9"}'
    assert minirun.json_dumps(["é"], indent=2) == '[\n  "\\u00e9"\n]'


def test_json_dumps_writes_empty_containers_inline_when_indenting():
    assert minirun.json_dumps({"a": {}, "b": []}, indent=2) == '{\n  "a": {},\n  "b": []\n}'


# --- rfc3339 -----------------------------------------------------------------


def test_rfc3339_of_the_epoch_has_no_fraction_and_a_trailing_z():
    assert minirun.rfc3339(0) == "1970-01-01T00:00:00Z"


def test_rfc3339_trims_trailing_zeros_of_the_nanoseconds():
    assert minirun.rfc3339(1_500_000_000_123_000_000) == "2017-07-14T02:40:00.123Z"
    assert minirun.rfc3339(1_500_000_000_000_000_001) == "2017-07-14T02:40:00.000000001Z"


def test_rfc3339_without_nanos_drops_the_fraction():
    assert minirun.rfc3339(1_500_000_000_999_999_999, nanos=False) == "2017-07-14T02:40:00Z"


def test_rfc3339_defaults_to_now_in_utc():
    import time

    before = time.strftime("%Y-%m-%dT", time.gmtime())
    stamp = minirun.rfc3339()
    assert stamp.endswith("Z")
    assert stamp.startswith(before) or stamp[:11] > before  # midnight may pass in between


# --- errors ------------------------------------------------------------------


def test_config_error_names_the_file_and_the_field():
    exc = minirun.ConfigError("process.cwd", "must be absolute")
    assert str(exc) == "config.json: process.cwd: must be absolute"
    assert exc.field == "process.cwd"
    assert isinstance(exc, minirun.Error)


def test_os_error_text_is_path_and_reason_without_errno_noise():
    exc = OSError(2, "No such file or directory", "/x/y")
    assert minirun.os_error_text(exc) == "/x/y: No such file or directory"
    assert minirun.os_error_text(OSError(1, "Operation not permitted")) == "Operation not permitted"


# --- Log ---------------------------------------------------------------------


def new_log(tmp_path, fmt="text", debug=False):
    log = minirun.Log()
    log.path = str(tmp_path / "log")
    log.format = fmt
    if debug:
        log.threshold = minirun.Log.LEVELS["debug"]
    return log


def read_lines(tmp_path):
    return (tmp_path / "log").read_text().splitlines()


def close(log):
    if log._fd is not None:
        os.close(log._fd)


def test_json_log_writes_one_object_per_line_with_level_msg_and_time(tmp_path):
    log = new_log(tmp_path, "json")
    log.info("first")
    log.error('second with "quotes" and é')
    close(log)
    lines = read_lines(tmp_path)
    assert len(lines) == 2
    entries = [json.loads(line) for line in lines]
    assert [e["level"] for e in entries] == ["info", "error"]
    assert [e["msg"] for e in entries] == ["first", 'second with "quotes" and é']
    for entry in entries:
        assert set(entry) == {"level", "msg", "time"}
        assert entry["time"].endswith("Z") and "T" in entry["time"]


def test_text_log_writes_time_level_and_quoted_msg(tmp_path):
    log = new_log(tmp_path, "text")
    log.warning('disk "full"')
    close(log)
    (line,) = read_lines(tmp_path)
    assert re.match(r'^time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" ', line)
    assert ' level=warning msg="disk \\"full\\""' in line


def test_debug_lines_are_hidden_unless_debug_is_enabled(tmp_path):
    log = new_log(tmp_path, "json")
    log.debug("hidden")
    log.info("shown")
    close(log)
    assert [json.loads(line)["msg"] for line in read_lines(tmp_path)] == ["shown"]

    (tmp_path / "log").unlink()
    log = new_log(tmp_path, "json", debug=True)
    log.debug("now visible")
    close(log)
    assert json.loads(read_lines(tmp_path)[0])["level"] == "debug"


def test_log_appends_to_an_existing_file(tmp_path):
    (tmp_path / "log").write_text("earlier line\n")
    log = new_log(tmp_path, "json")
    log.error("boom")
    close(log)
    lines = read_lines(tmp_path)
    assert lines[0] == "earlier line"
    assert json.loads(lines[1]) == {"level": "error", "msg": "boom", "time": json.loads(lines[1])["time"]}


def test_without_a_log_file_warnings_go_to_stderr_and_errors_are_left_to_main(capfd):
    log = minirun.Log()
    log.warning("careful")
    log.error("not here")
    err = capfd.readouterr().err
    assert err == "minirun: warning: careful\n"


def test_an_unwritable_log_path_is_reported_on_stderr_not_raised(tmp_path, capfd):
    log = minirun.Log()
    log.path = str(tmp_path / "missing-dir" / "log")
    log.error("boom")
    assert "cannot write log" in capfd.readouterr().err


# --- run_capturing_stdout (ps) --------------------------------------------------


def test_run_capturing_stdout_returns_the_exit_code_and_stdout_found_on_path():
    status, out = minirun.run_capturing_stdout(["sh", "-c", "printf 'a\\nb\\n'; exit 3"])
    assert (status, out) == (3, b"a\nb\n")


def test_run_capturing_stdout_leaves_stderr_to_the_caller(capfd):
    status, out = minirun.run_capturing_stdout(["sh", "-c", "echo to-stderr >&2; echo to-stdout"])
    assert (status, out) == (0, b"to-stdout\n")
    assert "to-stderr" in capfd.readouterr().err


def test_run_capturing_stdout_reports_death_by_signal_as_a_shell_does():
    assert minirun.run_capturing_stdout(["sh", "-c", "kill -9 $$"])[0] == 128 + 9


def test_run_capturing_stdout_of_a_missing_program_raises_oserror_and_leaks_no_fd():
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        minirun.run_capturing_stdout(["no-such-program-anywhere-on-path"])
    assert set(os.listdir("/proc/self/fd")) == before
