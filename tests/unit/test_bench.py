"""The benchmark's pure parts (tests/bench/bench.py): its statistics, its
result file and its PNG plot.

The benchmark itself is exercised by running it (`make bench`, root); these
tests pin down what it reports from its samples: medians, minima and maxima,
ratios of medians, a result file that names what was measured, and a plot
that is a valid PNG any viewer opens.
"""

import json
import os
import struct
import sys
import zlib

import pytest

from .helpers import REPO

sys.path.insert(0, os.path.join(REPO, "tests", "bench"))
import bench  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunks(data):
    """[(type, payload)] of a PNG, checking the signature and every CRC."""
    assert data[:8] == PNG_SIGNATURE
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, payload = data[i + 4:i + 8], data[i + 8:i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        assert crc == zlib.crc32(kind + payload) & 0xFFFFFFFF, "bad CRC in %r" % kind
        chunks.append((kind, payload))
        i += 12 + length
    assert i == len(data)
    return chunks


def decode_rgb_png(data):
    """(width, height, rows of RGB bytes) of a filter-0, 8-bit RGB PNG."""
    chunks = png_chunks(data)
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, color, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color, comp, filt, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(p for k, p in chunks if k == b"IDAT"))
    stride = 1 + 3 * width
    assert len(raw) == height * stride
    rows = [raw[y * stride:(y + 1) * stride] for y in range(height)]
    assert all(r[0] == 0 for r in rows), "every scanline uses filter 0"
    return width, height, [r[1:] for r in rows]


# --------------------------------------------------------------------------
# statistics

def test_a_summary_gives_the_median_min_max_and_count():
    assert bench.summarize([5.0, 1.0, 3.0]) == {"median": 3.0, "min": 1.0, "max": 5.0, "n": 3}


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two():
    assert bench.summarize([4.0, 1.0, 2.0, 10.0])["median"] == 3.0


def test_a_summary_of_no_samples_is_refused():
    with pytest.raises(ValueError):
        bench.summarize([])


def test_a_ratio_is_a_ratio_of_medians_not_of_minima_or_means():
    a = bench.summarize([10.0, 11.0, 100.0])  # median 11, mean 40.3
    b = bench.summarize([1.0, 22.0, 23.0])    # median 22, min 1
    assert bench.ratio(a, b) == pytest.approx(0.5)


def test_a_ratio_with_a_missing_or_unavailable_side_is_none():
    a = bench.summarize([2.0])
    assert bench.ratio(a, None) is None
    assert bench.ratio(None, a) is None
    assert bench.ratio(a, {"na": "crun: not found"}) is None


def test_row_ratios_compare_minirun_with_each_peer():
    results = {"minirun": bench.summarize([6.0]), "runc": bench.summarize([12.0]),
               "crun": {"na": "refused"}}
    assert bench.row_ratios(results) == {"minirun/runc": 0.5, "minirun/crun": None}


# --------------------------------------------------------------------------
# the result file

def sample_result():
    rows = [
        ("run /bin/true", "ms", "call",
         {"minirun": [20.0, 22.0, 21.0], "runc": [30.0, 28.0, 29.0], "crun": [10.0, 11.0, 12.0]}, {}),
        ("exec /bin/true", "ms", "call",
         {"minirun": "minirun: exec is not implemented by minirun yet (exit 1)",
          "runc": [40.0], "crun": [20.0]}, {}),
        ("run with limits", "ms", "call", {"minirun": [30.0], "runc": [], "crun": [15.0]},
         {"minirun": "warning: something"}),
        ("floor: python3 -I -S -c pass", "ms", "floor", {bench.FLOOR: [8.0, 7.5, 9.0]}, {}),
    ]
    host = {"kernel": "6.1.0", "cgroup": "v2", "python": "3.11.2",
            "runtimes": {"runc": {"path": "/usr/sbin/runc", "version": "runc version 1.1.5"}}}
    return bench.build_result("2026-01-01T00:00:00Z", 123.456, host, {"ratios": "ratios of medians"},
                              {"rounds": 3, "batch_rounds": 1, "engine_rounds": 0}, rows)


def test_the_result_file_holds_host_facts_rounds_and_per_runtime_statistics():
    result = bench.validate_result(json.loads(json.dumps(sample_result())))
    assert result["schema"] == bench.SCHEMA
    assert result["rounds"]["rounds"] == 3
    assert result["host"]["kernel"] == "6.1.0"
    run = result["rows"][0]
    assert run["results"]["runc"] == {"median": 29.0, "min": 28.0, "max": 30.0, "n": 3}
    assert run["ratios"]["minirun/runc"] == pytest.approx(21.0 / 29.0)
    assert run["ratios"]["minirun/crun"] == pytest.approx(21.0 / 11.0)


def test_a_runtime_that_cannot_do_a_row_is_na_with_its_reason_and_no_ratio():
    exec_row = sample_result()["rows"][1]
    assert exec_row["results"]["minirun"] == {"na": "minirun: exec is not implemented by minirun yet (exit 1)"}
    assert exec_row["ratios"] == {"minirun/runc": None, "minirun/crun": None}


def test_a_runtime_without_samples_is_left_out_of_a_row():
    limits = sample_result()["rows"][2]
    assert sorted(limits["results"]) == ["crun", "minirun"]
    assert limits["notes"] == {"minirun": "warning: something"}


def test_floor_rows_have_one_result_and_no_ratios():
    floor = sample_result()["rows"][3]
    assert list(floor["results"]) == [bench.FLOOR]
    assert floor["ratios"] == {}


@pytest.mark.parametrize("damage, complaint", [
    (lambda r: r.pop("host"), "no 'host'"),
    (lambda r: r["host"].pop("cgroup"), "result.host: no 'cgroup'"),
    (lambda r: r.update(schema="other/9"), "schema"),
    (lambda r: r["rounds"].update(rounds="3"), "result.rounds.rounds"),
    (lambda r: r["rows"][0]["results"]["runc"].pop("median"), "result.rows[0].results.runc.median"),
    (lambda r: r["rows"][0]["results"]["runc"].update(min=99.0), "not min <= median <= max"),
    (lambda r: r["rows"][1]["results"]["minirun"].update(na=1), "na: not a string"),
    (lambda r: r["rows"][0]["ratios"].update({"minirun/runc": "fast"}), "ratios.minirun/runc"),
])
def test_a_damaged_result_file_is_refused_naming_the_field(damage, complaint):
    result = sample_result()
    damage(result)
    with pytest.raises(ValueError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        bench.validate_result(result)


def test_the_markdown_table_shows_medians_na_and_ratios():
    lines = bench.markdown_table(sample_result(), ["minirun", "runc", "crun"])
    assert lines[0] == "| row | minirun | runc | crun | minirun/runc | minirun/crun |"
    assert lines[2] == "| run /bin/true | 21.0 ms | 29.0 ms | 11.0 ms | 0.72× | 1.91× |"
    assert lines[3] == "| exec /bin/true | n/a | 40.0 ms | 20.0 ms | - | - |"
    assert not any("floor" in line for line in lines)


def test_the_text_table_names_what_is_na_and_lists_the_floor():
    text = "\n".join(bench.table_lines(sample_result(), ["minirun", "runc", "crun"]))
    assert "n/a: minirun: exec is not" in text
    assert "floor: python3 -I -S -c pass: 8.0 [7.5-9.0] ms" in text


# --------------------------------------------------------------------------
# the PNG

def test_a_png_has_the_signature_a_valid_header_and_the_pixels_given():
    pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255,
                    10, 20, 30, 40, 50, 60, 70, 80, 90])
    data = bench.png_bytes(3, 2, pixels)
    width, height, rows = decode_rgb_png(data)
    assert (width, height) == (3, 2)
    assert b"".join(rows) == pixels


def test_a_png_with_the_wrong_number_of_pixels_is_refused():
    with pytest.raises(ValueError):
        bench.png_bytes(2, 2, b"\x00" * 11)


def test_text_is_drawn_from_the_glyphs_at_the_given_scale():
    c = bench.Canvas(12, 14)
    c.text(0, 0, "1", color=(0, 0, 0), scale=2)
    width, height, rows = decode_rgb_png(c.png())
    black = [[rows[y][3 * x:3 * x + 3] == b"\x00\x00\x00" for x in range(width)] for y in range(height)]
    # "1" is 0x04 in its first row: one column lit, at x 4..5 when doubled
    assert black[0] == [False] * 4 + [True, True] + [False] * 6
    # its last row, 0x0e: three columns lit
    assert black[13] == [False] * 2 + [True] * 6 + [False] * 4


def test_the_font_has_every_character_the_rows_and_numbers_use():
    used = set("".join(name for name, _, _ in bench.ROWS)) | set("0123456789.-+x/()%:,")
    used |= set("minirun vs runc and crun, kernel rounds ratio of medians, log scale; "
                "left of 1: minirun is faster or smaller n/a")
    assert used <= set(bench.FONT), sorted(used - set(bench.FONT))
    for ch, glyph in bench.FONT.items():
        assert len(glyph) == bench.GLYPH_H and all(0 <= bits < 32 for bits in glyph), ch


def test_the_plot_is_a_valid_png_with_a_line_at_one_and_a_bar_per_ratio():
    rows = [("run /bin/true", {"minirun/runc": 0.5, "minirun/crun": 2.0}),
            ("exec /bin/true", {"minirun/runc": None, "minirun/crun": None})]
    width, height, pixels = decode_rgb_png(bench.plot_ratios(rows, "a title"))
    assert width >= 600 and height >= 150

    def color_in(rgb):
        return sum(row.count(bytes(rgb)) for row in pixels)
    # both series are drawn (each color appears in the legend and in a bar)
    for _, rgb in bench.PLOT_SERIES:
        assert color_in(rgb) > 200
    # the 1.0 line: a black column spanning the rows
    assert any(all(pixels[y][3 * x:3 * x + 3] == b"\x00\x00\x00" for y in range(80, 140))
               for x in range(width))


def test_a_result_file_replots_to_a_valid_png(tmp_path):
    path = str(tmp_path / "bench.png")
    bench.write_plot(sample_result(), path)
    with open(path, "rb") as f:
        width, height, _ = decode_rgb_png(f.read())
    assert width > 0 and height > 0


# --------------------------------------------------------------------------
# what counts as a call that does not count (n/a at the warm-up)

def call(rc=0, out="", err=""):
    return bench.Call(["rt", "x"], 0.01, rc, out, err, None, 0.005)


def test_a_successful_call_has_no_failure_and_its_stderr_is_a_warning():
    assert call().failure() is None
    assert call(err="\nwarning: slow\nmore\n").warning() == "warning: slow"


def test_a_non_zero_exit_is_a_failure_named_by_its_first_line():
    assert call(rc=1, err="\n  container x does not exist \nusage\n").failure() == \
        "container x does not exist (exit 1)"
    assert call(rc=2).failure() == "exit status 2"


def test_not_implemented_is_a_failure_whatever_the_exit_status():
    assert call(rc=0, err="minirun: exec is not implemented by minirun yet").failure() == \
        "minirun: exec is not implemented by minirun yet (exit 0)"


def test_time_rounds_record_all_but_peak_rss_and_rss_rounds_only_peak_rss():
    rt = bench.Runtime("minirun", "/bin/true", "/nonexistent", spawner=None)
    rt.record("state", 1.0)  # the warm-up records nothing
    rt.recording = "time"
    rt.record("state", 2.0)
    rt.record("peak RSS: state", 9.0)
    rt.recording = "rss"
    rt.record("state", 3.0)
    rt.record("peak RSS: state", 8.0)
    assert rt.samples == {"state": [2.0], "peak RSS: state": [8.0]}
