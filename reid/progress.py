"""Progress bars that suit both a terminal and a log file.

On a terminal a tqdm bar redraws itself in place many times a second. Written
to a file or a pipe (a `dvc repro` log, CI output) every redraw becomes text,
and the log is mostly progress bar. `progress_bar` therefore returns an
ordinary tqdm bar when its output is a terminal and otherwise a bar that
prints a plain status line at most every `LOG_INTERVAL` seconds, plus the
final line when it closes with leave=True.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

LOG_INTERVAL = 10.0  # seconds between two status lines in a log


def _is_terminal(file) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or closed
        return False


class LogBar(tqdm):
    """A tqdm bar for non-terminal output: whole lines ending in a newline, never "\\r".

    It prints nothing when created, a status line when at least `mininterval`
    seconds have passed since the last one (whatever asks for a redraw:
    iteration, update, set_postfix, tqdm.write), and on close the final line
    if leave is true (tqdm's rule: leave=None means "if it is the outer bar").
    """

    def __init__(self, *args, **kwargs):
        self._log_ready = False  # the redraw tqdm makes while constructing is not printed
        super().__init__(*args, **kwargs)
        self._last_line_t = getattr(self, "start_t", 0.0)
        self._log_ready = True

    def _emit(self, line: str) -> None:
        self._last_line_t = self._time()
        self.fp.write(line + "\n")
        self.fp.flush()

    def display(self, msg=None, pos=None):
        if not self._log_ready or msg == "":  # construction, or tqdm clearing the line
            return False
        if msg is not None:  # an explicit message: print it as it is
            self._emit(msg)
            return True
        if self._time() - self._last_line_t < self.mininterval:
            return False
        self._emit(self.__str__())
        return True

    def clear(self, nolock=False):
        """Nothing to clear: lines already written to a log stay there."""

    def close(self):
        if self.disable:
            return
        leave = abs(self.pos) == 0 if self.leave is None else self.leave
        started = hasattr(self, "start_t") and self._time() >= self.start_t + self.delay
        if leave and started:
            with self._lock:
                self._ema_dt = lambda: None  # the final line shows the overall rate
                self._emit(self.__str__())
        # tqdm's own close does the bookkeeping; with leave=False it only asks
        # display() to blank the line, which prints nothing here.
        self.leave = False
        super().close()


def progress_bar(iterable=None, **tqdm_kwargs) -> tqdm:
    """A tqdm bar (same arguments) that writes whole lines, rarely, when its output is not a terminal.

    The output is `file=` if given, else stderr (tqdm's default). On a
    terminal this is exactly `tqdm(iterable, **tqdm_kwargs)`. Elsewhere the
    bar prints a status line at most every LOG_INTERVAL seconds (or the given
    mininterval if longer) and its final line on close when leave is true.
    `disable=True` disables it either way.
    """
    file = tqdm_kwargs.get("file")
    if _is_terminal(sys.stderr if file is None else file):
        return tqdm(iterable, **tqdm_kwargs)
    tqdm_kwargs["mininterval"] = max(tqdm_kwargs.get("mininterval") or 0.0, LOG_INTERVAL)
    # Check the clock on every item (time() is cheap next to any real work), so
    # a line is due as soon as the interval has passed even if the rate drops;
    # tqdm's adaptive miniters could otherwise stay silent for a long while.
    tqdm_kwargs.setdefault("miniters", 1)
    return LogBar(iterable, **tqdm_kwargs)


def log(message, file=None) -> None:
    """Print a message line without breaking a progress bar on the terminal (tqdm.write)."""
    tqdm.write(str(message), file=file)
