"""``paraloupe-bench loop --detector ground-truth``: what a perfect model would report per entry, and the closed
loop's ceiling with it — the generator, tracker and discovery must serve and find nearly every object."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runtime.bench.ground_truth import GroundTruthDetector, visible_in
from runtime.bench.loop import main
from runtime.coco import FrameAnnotations, VideoAnnotations
from runtime.frame_plan import Entry, FramePlan


def test_visible_in_keeps_the_part_inside_and_drops_the_mostly_outside() -> None:
    boxes = np.array([[10.0, 10.0, 20.0, 20.0],    # whole inside
                      [90.0, 10.0, 20.0, 20.0],    # half outside the right border: its left half, cut
                      [95.0, 50.0, 20.0, 20.0],    # a quarter inside: dropped (< 0.3)
                      [300.0, 300.0, 5.0, 5.0]])   # outside
    parts, keep = visible_in(boxes, (0, 0, 100, 100))
    np.testing.assert_array_equal(keep, [0, 1])
    np.testing.assert_allclose(parts, [[10, 10, 20, 20], [90, 10, 10, 20]])
    parts, keep = visible_in(boxes, (50, 0, 150, 100), min_visible=0.2)  # relative to the rect's corner
    np.testing.assert_array_equal(keep, [1, 2])
    np.testing.assert_allclose(parts, [[40, 10, 20, 20], [45, 50, 20, 20]])


def test_detections_are_in_the_entry_images_pixels_and_skip_crowds() -> None:
    frame = FrameAnnotations(np.array([[100.0, 50.0, 40.0, 20.0], [110.0, 60.0, 10.0, 10.0]]), ["car", "person"],
                             np.array([False, True]))
    gt = VideoAnnotations(["car", "person"], {7: frame}, 960, 540)
    detector = GroundTruthDetector(gt)
    dets = detector.detections(7, (80, 40, 280, 140), 100, 50)  # a 200 × 100 px entry sent at 100 × 50 px
    np.testing.assert_allclose(dets.boxes, [[10.0, 5.0, 20.0, 10.0]])
    assert dets.labels == ["car"] and dets.frame == 7 and np.allclose(dets.scores, 0.9)
    assert len(detector.detections(8, (0, 0, 960, 540), 960, 540)) == 0  # a frame without annotations
    plan = FramePlan(7, 960, 540, [Entry((80, 40, 280, 140), "high", 1.0, b""), Entry((0, 0, 960, 540), "frame",
                                                                                        1.0, b"", "baseline")])
    first, whole = (f(np.zeros((h, w, 3), np.uint8), min_score=0.5) for f, (w, h) in
                    zip(detector.route(plan), [(100, 50), (480, 270)], strict=True))
    np.testing.assert_allclose(first.detections.boxes, dets.boxes)
    np.testing.assert_allclose(whole.detections.boxes, [[50.0, 25.0, 20.0, 10.0]])


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames of a still-camera street at 960 × 540 (the world generator)."""
    from factory.world.config import SceneConfig, VideoSpec
    from factory.world.generate import write_world

    out = tmp_path_factory.mktemp("street")
    write_world(out, VideoSpec(seed=7, frames=40, width=960, height=540, fps=10.0), SceneConfig())
    return out


def test_the_loop_with_a_perfect_model_serves_and_finds_nearly_every_object(tiny_bundle: Path, street: Path,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "ceiling.json"
    main(["--bundle", str(tiny_bundle), "--video", str(street / "video.mp4"), "--gt",
          str(street / "annotations.json"), "--detector", "ground-truth", "--servable", "0.1:1.0",
          "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["detector"] == "ground-truth" and figures["frames"] == 40
    # the first frames only bootstrap (a track is reported from its second hit unless it is sure): a margin
    assert figures["patch_recall"] >= 0.9
    assert figures["recall"] >= 0.9 and figures["precision"] >= 0.95
