"""One exception type for problems the user can fix (bad input, bad params).

The CLI and the stage scripts turn it into a single `error: ...` line and exit
code 2, so a traceback is reserved for real bugs.
"""

from __future__ import annotations

import sys
import warnings


class ReidError(Exception):
    """A user-facing error; its message names the file and the problem."""


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def run_reported(fn, *args, **kwargs):
    """Run a pipeline step; a ReidError becomes one `error:` line on stderr and exit code 2."""
    warnings.formatwarning = _one_line_warning
    try:
        return fn(*args, **kwargs)
    except ReidError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
