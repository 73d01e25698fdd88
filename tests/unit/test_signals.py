"""parse_signal: the signal names and numbers `kill` accepts, as runc takes them."""

import signal

import pytest

import minirun


@pytest.mark.parametrize("text,number", [
    ("TERM", 15), ("SIGTERM", 15), ("term", 15), ("SigTerm", 15), ("15", 15), ("9", 9),
    ("KILL", 9), ("SIGKILL", 9), ("HUP", 1), ("USR1", 10), ("USR2", 12), ("WINCH", 28),
    ("CHLD", 17), ("CLD", 17), ("IOT", 6), ("64", 64), ("1", 1), (" INT ", 2),
])
def test_names_and_numbers_are_accepted(text, number):
    assert minirun.parse_signal(text) == number


@pytest.mark.parametrize("name", ["HUP", "INT", "QUIT", "KILL", "USR1", "SEGV", "USR2", "PIPE",
                                  "ALRM", "TERM", "CHLD", "CONT", "STOP", "TSTP", "WINCH", "SYS"])
def test_the_table_agrees_with_this_kernels_signal_numbers(name):
    assert minirun.parse_signal(name) == getattr(signal, "SIG" + name)


@pytest.mark.parametrize("text,number", [
    ("RTMIN", 34), ("SIGRTMIN", 34), ("RTMIN+2", 36), ("rtmin+2", 36), ("RTMIN+30", 64),
    ("RTMAX", 64), ("RTMAX-1", 63), ("SIGRTMAX-30", 34),
])
def test_realtime_signals_are_accepted_relative_to_rtmin_and_rtmax(text, number):
    assert minirun.parse_signal(text) == number


def test_rtmin_matches_the_c_library_view():
    assert minirun.parse_signal("RTMIN") == signal.SIGRTMIN
    assert minirun.parse_signal("RTMAX") == signal.SIGRTMAX


@pytest.mark.parametrize("text", ["0", " 0", "00"])
def test_signal_zero_is_accepted_so_kill_can_probe_the_container(text):
    """`kill ID 0` asks only whether the container can be signalled (runc takes it)."""
    assert minirun.parse_signal(text) == 0


@pytest.mark.parametrize("text", ["FOO", "SIGFOO", "SIG0", "ZERO", "65", "999", "RTMIN+99", "RTMIN+31", "RTMAX-31",
                                  "RTMIN+", "RTMIN+x", "-9", "", "SIG", "TERM2"])
def test_unknown_or_out_of_range_signals_are_refused_with_a_message(text):
    with pytest.raises(minirun.Error) as caught:
        minirun.parse_signal(text)
    assert "signal" in str(caught.value)
    assert text.strip() in str(caught.value)


@pytest.mark.parametrize("text", ["RTMIN-1", "RTMAX+1"])
def test_offsets_outside_the_realtime_range_are_refused(text):
    with pytest.raises(minirun.Error):
        minirun.parse_signal(text)


@pytest.mark.parametrize("text", ["\u00b2", "\u0663", "RTMIN+\u0663", "RTMAX-\u00b2", "\uff11\uff15"])
def test_digits_other_than_ascii_are_refused_not_read_or_crashed_on(text):
    # str.isdigit() takes "\u00b2" (int() then raises) and "\u0663" (int() reads 3).
    with pytest.raises(minirun.Error) as caught:
        minirun.parse_signal(text)
    assert "signal" in str(caught.value)
