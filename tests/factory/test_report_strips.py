"""Frame strips (``paraloupe-report strips``): size, a missed object circled, patches drawn, one-line errors; the
report's own options still parse."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from factory.report import cli
from factory.report.strips import MISSED_COLOUR, Layout, missed_circle, pick_frames
from runtime.coco import VideoAnnotations, frames_from_boxes, write_coco
from runtime.draw import PATCH_COLOURS

W, H, N = 320, 180, 8
PERSON = [40.0, 50.0, 20.0, 40.0]  # found by both methods (moves right 4 px a frame)
CAR = [160.0, 80.0, 60.0, 30.0]  # ParaLoupe misses it, the baseline finds it


def person(f: int) -> list[float]:
    return [PERSON[0] + 4 * f, *PERSON[1:]]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 320×180, 8-frame video of two boxes, its ground truth and two prediction files."""
    root = tmp_path_factory.mktemp("strips")
    writer = cv2.VideoWriter(str(root / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    truth = []
    for f in range(N):
        frame = np.full((H, W, 3), 50, dtype=np.uint8)
        for (x, y, w, h), colour in ((person(f), (90, 200, 90)), (CAR, (200, 120, 60))):
            frame[int(y):int(y + h), int(x):int(x + w)] = colour
        writer.write(frame)
        truth.append((f, [(person(f), "person", 1.0), (CAR, "vehicle", 1.0)]))
    writer.release()
    write_coco(root / "gt.json", VideoAnnotations(["person", "vehicle"], frames_from_boxes(truth), W, H))
    ours = [{"frame": f, "detections": [[*person(f), "person", 0.9]], "latency_ms": 10.0, "patches": 2,
             "patch_rects": [[20, 30, 120, 110, "high"], [150, 10, 310, 170, "low"]]} for f in range(N)]
    base = [{"frame": f, "detections": [[*person(f), "person", 0.8], [*CAR, "vehicle", 0.7]]} for f in range(N)]
    for name, lines in (("ours.jsonl", ours), ("base.jsonl", base)):
        (root / name).write_text("".join(json.dumps(line) + "\n" for line in lines))
    return {"root": root, "video": root / "clip.mp4", "gt": root / "gt.json", "ours": root / "ours.jsonl",
            "base": root / "base.jsonl"}


def _run(clip: dict[str, Path], out: Path, *extra: str) -> int:
    return cli.main(["strips", "--video", str(clip["video"]), "--gt", str(clip["gt"]), "--pred", str(clip["ours"]),
                     "--out", str(out), *extra])


def _near(img: np.ndarray, x: int, y: int, colour: tuple[int, int, int], r: int = 1) -> bool:
    """Whether a pixel within ``r`` px of (x, y) has exactly ``colour`` (BGR)."""
    patch = img[y - r:y + r + 1, x - r:x + r + 1].reshape(-1, 3)
    return bool((patch == np.array(colour, dtype=np.uint8)).all(axis=1).any())


def test_strips_circle_the_missed_object_and_draw_the_patches(clip: dict[str, Path], tmp_path: Path) -> None:
    assert _run(clip, tmp_path, "--pred-baseline", str(clip["base"]), "--name", "clip") == 0
    ours, base = (cv2.imread(str(tmp_path / f"clip-{m}.png")) for m in ("paraloupe", "baseline"))
    layout = Layout(W, H, 4, 480)
    assert layout.cols == layout.rows == 2
    assert ours.shape == base.shape == (layout.height, layout.width, 3) == (layout.height, 960, 3)
    (cx, cy), radius = missed_circle(CAR, layout.scale)
    for i in range(4):  # frames 0, 2, 5, 7: the car is circled in ParaLoupe's strip only
        ox, oy = layout.origin(i)
        assert _near(ours, ox + cx + radius, oy + cy, MISSED_COLOUR), i
        assert not _near(base, ox + cx + radius, oy + cy, MISSED_COLOUR), i
    ox, oy = layout.origin(0)  # the high-confidence patch's left edge, at x = 20 frame px (scale 1.5)
    assert _near(ours, ox + 30, oy + 100, PATCH_COLOURS["high"])
    assert not _near(base, ox + 30, oy + 100, PATCH_COLOURS["high"])  # no patch_rects: detections only


def test_frames_count_and_width_shape_the_strip(clip: dict[str, Path], tmp_path: Path) -> None:
    assert _run(clip, tmp_path, "--frames", "2:6", "--count", "3", "--width", "240") == 0
    img = cv2.imread(str(tmp_path / "clip-paraloupe.png"))
    layout = Layout(W, H, 3, 240)
    assert (layout.cols, layout.rows) == (3, 1)
    assert img.shape[:2] == (layout.height, 720)
    assert not (tmp_path / "clip-baseline.png").exists()


def test_a_bad_prediction_path_is_one_line_naming_it(clip: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.jsonl"
    code = cli.main(["strips", "--video", str(clip["video"]), "--gt", str(clip["gt"]), "--pred", str(missing),
                     "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and str(missing) in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"frame": 1, "detections": [], "patch_rects": [[0, 0, 5, "high"]]}) + "\n")
    assert _run({**clip, "ours": bad}, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{bad}: frame 1: patch_rects" in err
    assert not list(tmp_path.glob("*.png"))


def test_pick_frames_spreads_evenly() -> None:
    assert pick_frames(list(range(10)), 4) == [0, 3, 6, 9]
    assert pick_frames([5, 1, 3], 4) == [1, 3, 5]
    assert pick_frames(list(range(100, 160)), 1) == [100]


def test_the_report_options_still_parse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = {}

    def fake_build(params: object, full: bool, **kw: object) -> dict[str, object]:
        seen.update(full=full, **kw)
        return {"seconds": 0.0}

    monkeypatch.setattr(cli, "build_report", fake_build)
    assert cli.main(["--full", "--netns", "--out", str(tmp_path / "r")]) == 0
    assert seen["full"] is True and seen["netns"] is True and seen["out_dir"] == tmp_path / "r"
    args = cli.parse_args(["--bundle", "b", "--report", "r.md"])
    assert (args.bundle, args.report, args.full) == ("b", "r.md", False)
