"""The millisecond stopwatch (runtime.timing)."""

from __future__ import annotations

import time

from runtime.timing import Stopwatch, ms_since


def test_ms_since_and_stopwatch_measure_milliseconds() -> None:
    t0 = time.perf_counter()
    with Stopwatch() as watch:
        time.sleep(0.02)
    assert 15.0 <= watch.ms < 2000.0
    done = watch.ms
    time.sleep(0.005)
    assert watch.ms == done  # stopped when the block was left
    assert ms_since(t0) >= done
    running = Stopwatch()
    first = running.ms
    time.sleep(0.002)
    assert running.ms > first >= 0.0  # without a block: the time so far
