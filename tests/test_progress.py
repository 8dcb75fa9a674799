"""reid.progress: an ordinary tqdm bar on a terminal, a few whole lines in a log."""

from __future__ import annotations

import io

import pytest
import tqdm.std

from reid.progress import LOG_INTERVAL, log, progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """Stands in for tqdm's time(): advances only when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tqdm.std, "time", clock)  # a bar binds tqdm.std.time when it is made
    return clock


def lines(out: io.StringIO) -> list[str]:
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert text == "" or text.endswith("\n")
    return text.splitlines()


def test_a_quick_loop_in_a_log_prints_only_its_final_line():
    out = io.StringIO()
    assert sum(1 for _ in progress_bar(range(10_000), desc="copy", unit="img", file=out)) == 10_000
    printed = lines(out)
    assert 1 <= len(printed) <= 3
    assert "10000/10000" in printed[-1] and printed[-1].startswith("copy")


def test_leave_false_prints_no_final_line():
    out = io.StringIO()
    for _ in progress_bar(range(10_000), file=out, leave=False):
        pass
    assert out.getvalue() == ""


def test_a_line_at_most_every_interval(clock):
    out = io.StringIO()
    bar = progress_bar(total=100, file=out, leave=False)
    for i in range(100):
        clock.now += LOG_INTERVAL / 4  # 4 items per interval: 25 due lines at most
        bar.update(1)
        bar.set_postfix(loss=i)  # asks for a redraw every time; must not print more
        if i == 49:
            log_out = io.StringIO()
            log("midway", file=log_out)
            assert log_out.getvalue() == "midway\n"
    bar.close()
    printed = lines(out)
    assert 20 <= len(printed) <= 25
    assert "100/100" in printed[-1]  # the last due line, not a final one (leave=False)


def test_a_slow_item_still_gets_its_line(clock):
    out = io.StringIO()
    bar = progress_bar(range(3), file=out)
    for _ in bar:
        clock.now += 3 * LOG_INTERVAL  # each item takes long: one line per item, then the final
    printed = lines(out)
    assert len(printed) == 4 and "3/3" in printed[-1]


def test_a_shorter_mininterval_is_not_taken_but_a_longer_one_is(clock):
    out = io.StringIO()
    bar = progress_bar(total=10, file=out, mininterval=0.01, leave=False)
    assert bar.mininterval == LOG_INTERVAL
    bar.close()
    assert progress_bar(total=10, file=io.StringIO(), mininterval=60).mininterval == 60


def test_disable_still_disables():
    out = io.StringIO()
    for _ in progress_bar(range(100), file=out, disable=True):
        pass
    bar = progress_bar(total=5, file=out, disable=True)
    bar.update(5)
    bar.close()
    assert out.getvalue() == ""


def test_a_terminal_gets_an_ordinary_tqdm_bar():
    out = FakeTerminal()
    bar = progress_bar(range(1000), file=out, mininterval=0)
    assert type(bar) is tqdm.std.tqdm
    for _ in bar:
        pass
    assert "\r" in out.getvalue() and "1000/1000" in out.getvalue()


def test_stderr_decides_when_no_file_is_given(monkeypatch):
    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert type(progress_bar(total=1, leave=False)) is tqdm.std.tqdm
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert type(progress_bar(total=1, leave=False)) is not tqdm.std.tqdm


def test_context_manager_and_manual_update_in_a_log():
    out = io.StringIO()
    with progress_bar(total=4, desc="generate", unit="img", file=out) as bar:
        bar.update(2)
        bar.update(2)
    assert lines(out) and "4/4" in lines(out)[-1] and len(lines(out)) == 1
