"""``paraloupe-bench patches`` on a tiny synthetic video, and on vtest when ../shared is there."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.bench import patches as bench
from runtime.coco import FrameAnnotations, VideoAnnotations, write_coco

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "vtest"


def _tiny_video(tmp_path: Path, n: int = 12) -> tuple[Path, Path]:
    path = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    frames = {}
    for i in range(n):
        f = np.full((120, 160, 3), 90, np.uint8)
        x = 10 + 8 * i
        f[40:80, x:x + 20] = 230
        writer.write(f)
        frames[i] = FrameAnnotations(np.array([[x, 40, 20, 40], [300, 300, 5, 5]], float), ["person", "person"],
                                     np.zeros(2, bool), np.full(2, -1), np.zeros(2), np.ones(2))
    writer.release()
    gt = tmp_path / "gt.json"
    write_coco(gt, VideoAnnotations(["person", "vehicle"], frames, 160, 120))
    return path, gt


def test_bench_runs_and_writes_json(tmp_path, capsys):
    video, gt = _tiny_video(tmp_path)
    out = tmp_path / "r.json"
    code = bench.main(["--video", str(video), "--gt", str(gt), "--frames", "0:10", "--json", str(out),
                       "--window", "5", "--encode", "--set", "max_patches=3"])
    assert code == 0
    table = capsys.readouterr().out
    assert "paraloupe" in table and "ep-8" in table
    result = json.loads(out.read_text())
    rows = {(r["generator"], r["mode"]): r for r in result["rows"]}
    assert rows[("ep-1", "-")]["coverage"] == 1.0 and rows[("ep-1", "-")]["patches_per_frame"] == 1.0
    assert rows[("lastdet", "oracle")]["objects"] == 10  # the box outside the frame is not counted
    assert ("motion-regions", "oracle") not in rows  # it ignores detections: one row, as EP-k
    assert rows[("motion-regions", "-")]["coverage"] >= 0.8  # the moving square, from the second frame on
    assert len(rows[("paraloupe", "closed")]["window_coverage"]) == 2
    assert result["config"]["max_patches"] == 3


def test_bench_user_errors(tmp_path):
    video, gt = _tiny_video(tmp_path, 3)
    assert bench.main(["--video", str(video), "--gt", str(gt), "--modes", "psychic"]) == 2
    assert bench.main(["--video", str(video), "--gt", str(gt), "--set", "celll=3"]) == 2
    assert bench.main(["--video", str(tmp_path / "none.avi"), "--gt", str(gt)]) == 2
    assert bench.main(["--video", str(video), "--gt", str(gt), "--frames", "5:2"]) == 2


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "vtest.avi").exists(), reason="../shared/data/vtest is absent")
def test_bench_on_vtest_slice(tmp_path):
    from runtime.coco import load_coco

    teacher = load_coco(SHARED / "vtest.teacher.json")
    mapping = {"person": "person", "car": "vehicle", "truck": "vehicle", "bus": "vehicle", "motorcycle": "vehicle"}
    frames = {}
    for fid in range(0, 40):
        fa = teacher.frames[fid]
        keep = np.array([label in mapping for label in fa.labels], bool) & (fa.scores >= 0.40)
        sel = fa.select(keep)
        sel.labels = [mapping[label] for label in sel.labels]
        frames[fid] = sel
    gt = tmp_path / "gt.json"
    write_coco(gt, VideoAnnotations(["person", "vehicle"], frames, teacher.width, teacher.height))
    result = bench.run_benchmark(SHARED / "vtest.avi", gt, (0, 40), bench.PatchConfig(),
                                 bench.ObjectnessModel.prior(), ["oracle"], ["paraloupe", "lastdet", "ep-8"])
    rows = {r["generator"]: r for r in result["rows"]}
    assert rows["paraloupe"]["objects"] > 100
    assert rows["paraloupe"]["coverage"] >= rows["lastdet"]["coverage"] > 0.5
    assert rows["paraloupe"]["well_coverage"] > rows["ep-8"]["well_coverage"]
