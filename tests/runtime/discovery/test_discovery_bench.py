"""``paraloupe-bench motion`` (module ``runtime.bench.motion``) runs on the synthetic scenes and on a tiny video;
its figures are printed, not asserted (timings are not unit-tested)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.bench import motion as bench


def test_synthetic_run_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert bench.main(["--frames-synthetic", "12", "--set", "width=240", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 12 and result["frame_size"] == [960, 540] and result["config"]["width"] == 240
    rows = {r["row"]: r for r in result["rows"]}
    assert set(rows) == {"static", "pan"}
    for r in rows.values():
        assert r["ms_p90"] >= r["ms_median"] > 0 and r["cpu_ms_p90"] >= r["cpu_ms_median"] >= 0
        assert 0 <= r["recall"] <= 1 and 0 <= r["flagged"] <= 1
    assert set(rows["pan"]["modes"]) <= {"none", "difference"}
    captured = capsys.readouterr()
    assert "ms med" in captured.err and json.loads(captured.out)["frames"] == 12


def test_synthetic_frames_warp_matches_content() -> None:
    """The ``pan`` scene's warp maps the previous frame onto the present one (background px agree)."""
    frames = list(bench.synthetic_frames(3, seed=1, pan=True, noise=0.0))
    prev, cur = frames[1], frames[2]
    moved = cv2.warpAffine(prev.frame, cur.warp, (960, 540))
    inner = (slice(20, 520), slice(20, 940))
    same = np.all(moved[inner] == cur.frame[inner], axis=2)
    assert same.mean() > 0.9


def test_video_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for f in bench.synthetic_frames(10, size=(160, 120), objects=2):
        writer.write(f.frame)
    writer.release()
    assert bench.main(["--video", str(path), "--resize", "320x240", "--frames", "0:8"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 8 and result["frame_size"] == [320, 240]
    assert "recall" not in result["rows"][0] and "cmc_ms_median" in result["rows"][0]
    assert bench.main(["--video", str(path), "--no-cmc", "--frames", "0:4"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"][0]["row"] == "video-no-cmc"
    assert bench.main(["--set", "nope=1"]) == 2
    assert bench.main(["--frames-synthetic", "3"]) == 2
