"""``paraloupe-bench tracker`` (module ``runtime.bench.tracker``) runs on the synthetic scene and on a tiny video;
its figures are printed, not asserted (timings are not unit-tested)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.bench import tracker as bench
from runtime.coco import FrameAnnotations, VideoAnnotations, write_coco


def test_synthetic_run_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert bench.main(["--frames-synthetic", "12", "--set", "max_lost_s=0.5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 12 and result["frame_size"] == [960, 540]
    assert result["config"]["max_lost_s"] == 0.5
    rows = {r["row"]: r for r in result["rows"]}
    assert set(rows) == {"cmc", "no-cmc"}
    for r in rows.values():
        assert r["ms_p90"] >= r["ms_median"] > 0 and "id_switches" in r and 0 <= r["reported"] <= 1
    assert rows["no-cmc"]["cmc_ms_median"] < 0.1  # no camera-motion work in that row
    captured = capsys.readouterr()
    assert "ms med" in captured.err and json.loads(captured.out)["frames"] == 12


def test_video_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    frames = {}
    rng = np.random.default_rng(0)
    for i in range(10):
        f = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        writer.write(f)
        frames[i] = FrameAnnotations(np.array([[10 + 5 * i, 40, 20, 40]], float), ["person"], np.zeros(1, bool),
                                     np.full(1, -1), np.zeros(1), np.full(1, 0.9))
    writer.release()
    gt = tmp_path / "gt.json"
    write_coco(gt, VideoAnnotations(["person", "vehicle"], frames, 160, 120))
    assert bench.main(["--video", str(path), "--gt", str(gt), "--resize", "320x240", "--frames", "0:8"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["frames"] == 8 and result["frame_size"] == [320, 240]
    assert "id_switches" not in result["rows"][0]
    assert bench.main(["--video", str(path)]) == 2  # --gt missing: one-line error
    assert bench.main(["--set", "nope=1"]) == 2
