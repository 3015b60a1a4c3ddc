"""``paraloupe-bench soak``: the pure parts (RSS slope and figures, the looped source) and a 3-second
overload run on the tiny bundle (drops accounted, queues within their bounds)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from runtime.bench.soak import looped_frames, main, rss_figures, rss_mb, rss_slope
from runtime.cli.bench import main as bench_main


def test_rss_slope_is_mb_per_minute_over_the_second_half() -> None:
    t = np.arange(0, 601, 10.0)
    flat_then_growing = np.where(t < 300, 100.0 + t / 60.0 * 5.0, 125.0 + (t - 300) / 60.0 * 0.5)
    assert rss_slope(t, flat_then_growing, from_s=300) == pytest.approx(0.5)
    assert rss_slope(t, flat_then_growing) > 0.5
    assert rss_slope([0.0, 10.0], [None, 5.0]) is None and rss_slope([5.0], [1.0]) is None


def test_rss_figures() -> None:
    samples = [{"t_s": t, "rss_mb": {"client": m, "gone": None}} for t, m in
               [(0, 100.0), (10, 120.0), (20, 118.0), (30, 118.0), (40, 118.0)]]
    f = rss_figures(samples, "client", 40.0)
    assert (f["start"], f["min"], f["max"], f["end"]) == (100.0, 100.0, 120.0, 118.0)
    assert f["slope_mb_per_min_2nd_half"] == 0.0
    assert rss_figures(samples, "gone", 40.0)["start"] is None
    assert rss_mb(os.getpid()) > 1.0 and rss_mb(2 ** 30) is None


def test_looped_frames_loop_the_video_with_rising_ids(tiny_video: Path) -> None:
    offered = [0]
    source = looped_frames(str(tiny_video), 60.0, offered)
    ids = [next(source)[0] for _ in range(30)]  # the video has 12 frames
    assert ids == list(range(30)) and offered[0] == 30


def test_bad_options_are_one_line_user_errors(capsys: pytest.CaptureFixture) -> None:
    assert main(["--bundle", "b", "--video", "v", "--seconds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --seconds") and err.count("\n") == 1


def test_short_overload_soak_on_the_tiny_bundle(tiny_bundle: Path, tiny_video: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "soak.json"
    code = bench_main(["soak", "--bundle", str(tiny_bundle), "--video", str(tiny_video), "--seconds", "3",
                       "--servers", "1", "--devices", "raspberry-pi-4b", "--mode", "ep-4", "--scheduler", "uniform",
                       "--offer-fps", "100", "--sample-s", "1", "--json", str(out), "--workdir", str(tmp_path / "w")])
    assert code == 0
    r = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == r
    f = r["frames"]
    assert f["all_accounted"] and f["offered"] == f["served"] + f["dropped"] > 0
    assert f["dropped"] > 0 and sum(f["dropped_by_reason"].values()) == f["dropped"]  # 100 fps > what it serves
    assert r["queues_max"]["waiting"] <= r["queue_bounds"]["waiting"]
    assert r["queues_max"]["frames_in_flight"] <= r["queue_bounds"]["frames_in_flight"]
    assert set(r["rss_mb"]) == {"client", "master", "server-0"} and r["rss_mb"]["client"]["max"] > 0
    assert len(r["rss_samples"]) >= 3 and r["e2e_ms"]["p50"] is not None
