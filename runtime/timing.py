"""Wall-clock stopwatches in milliseconds, on :func:`time.perf_counter` (monotonic, the highest resolution).

    t0 = time.perf_counter()
    ...
    gen_ms = ms_since(t0)

    with Stopwatch() as sw:
        detector(image)
    times.append(sw.ms)
"""

from __future__ import annotations

import time
from types import TracebackType


def ms_since(t0: float) -> float:
    """Milliseconds elapsed since ``t0``, a :func:`time.perf_counter` reading (seconds)."""
    return (time.perf_counter() - t0) * 1000.0


class Stopwatch:
    """Elapsed wall time in milliseconds, started when made (or when a ``with`` block is entered) and, used as
    a context manager, stopped when the block is left: :attr:`ms` is the time so far while running, the
    block's time after it."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self._stopped_ms: float | None = None

    def __enter__(self) -> Stopwatch:
        self.t0 = time.perf_counter()
        self._stopped_ms = None
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopped_ms = ms_since(self.t0)

    @property
    def ms(self) -> float:
        """Elapsed milliseconds: since the start, or from the start to the end of the ``with`` block."""
        return ms_since(self.t0) if self._stopped_ms is None else self._stopped_ms
