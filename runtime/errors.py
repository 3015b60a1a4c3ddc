"""User-facing errors and the CLI wrapper that turns them into one-line messages.

Every command-line entry point is wrapped by :func:`cli_entry`: a :class:`UserError` (bad input, bad
config, a missing file) prints ``error: <message>`` on one line to stderr and exits with code 2, never
a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn


class UserError(Exception):
    """Bad input from the user: the message names the file, key or field at fault."""


def fail(message: str) -> NoReturn:
    """Raise a :class:`UserError` with ``message``."""
    raise UserError(message)


def read_text(path: str | Path) -> str:
    """The text of ``path``; a missing or unreadable file is a one-line :class:`UserError` naming it."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def cli_entry(main: Callable[[Sequence[str] | None], int | None]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a ``main(argv)`` so that user errors become a one-line message and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        try:
            code = main(argv)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
        return int(code or 0)

    return wrapper


def run_cli(main: Callable[[Sequence[str] | None], int]) -> NoReturn:
    """Run a wrapped ``main`` as a program (``if __name__ == "__main__"``)."""
    sys.exit(main(None))
