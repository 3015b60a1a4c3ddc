"""In-process replay: patches → detector → aggregation → feedback keeps bright squares found and mapped to
frame pixels, for the object-centric generator, EP-k and the whole frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.detections import Detections
from runtime.infer import Inference
from runtime.patches import PatchConfig, make_generator
from runtime.patches.objectness import ObjectnessModel
from runtime.replay import replay

W, H = 320, 240


def squares(frame_id: int) -> np.ndarray:
    """Two moving squares, boxes xywh px."""
    return np.array([[40 + 3 * frame_id, 60, 24, 24], [200, 150 - 2 * frame_id, 30, 30]], dtype=np.float64)


def video(n: int):
    for f in range(n):
        img = np.full((H, W, 3), 40, dtype=np.uint8)
        for x, y, w, h in squares(f).astype(int):
            img[y:y + h, x:x + w] = 230
        yield f, img


def bright_blobs(image: np.ndarray, min_score: float | None = None) -> Inference:
    """A deterministic 'detector' for the test video: connected bright regions, score 0.9 (``min_score`` is
    accepted as a model's is; every box scores above it)."""
    mask = (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) > 140).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    boxes = np.array([stats[k, :4] for k in range(1, n) if stats[k, 4] >= 16], dtype=np.float64).reshape(-1, 4)
    return Inference(Detections(boxes, ["person"] * len(boxes), np.full(len(boxes), 0.9)), infer_ms=0.1)


def _matched(boxes: np.ndarray, truth: np.ndarray, tol: float = 3.0) -> int:
    return sum(any(np.abs(b - t).max() <= tol for b in boxes) for t in truth)


@pytest.mark.parametrize("mode", ["paraloupe", "ep-4", "frame"])
def test_replay_finds_and_maps_objects(mode: str) -> None:
    cfg = PatchConfig(skip_threshold=0.0, refresh_every=0, max_side=640)
    gen = None if mode == "frame" else make_generator(mode, cfg, ObjectnessModel.prior())
    steps = list(replay(video(12), bright_blobs, gen, cfg, whole_frame_side=640))
    assert [s.detections.frame for s in steps] == list(range(12))
    first = 3 if mode == "paraloupe" else 2  # the tracked loop reports a track from its second hit on
    for s in steps[first:]:  # after the bootstrap sweep every square is tracked
        assert _matched(s.detections.boxes, squares(s.detections.frame)) == 2
        assert len(s.infer_ms) == len(s.rects) >= 1
    if mode == "paraloupe":
        assert "high" in steps[-1].kinds and len(steps[-1].rects) <= 4


def test_tracked_whole_frames_report_confirmed_tracks_only() -> None:
    """``tracked``: the whole frame's detections go through the loop's tracker — a detection is reported from its
    track's confirmation on (at once for these sure boxes, score 0.9 >= ``tracker.birth_confirm_score``), with its
    track id; raw per-frame detections carry none."""
    cfg = PatchConfig(max_side=640)
    raw = list(replay(video(4), bright_blobs, None, cfg, whole_frame_side=640))
    tracked = list(replay(video(4), bright_blobs, None, cfg, whole_frame_side=640, tracked=True))
    assert len(raw[0].detections) == 2 and raw[0].detections.ids is None
    assert len(tracked[0].detections) == 2 and sorted(tracked[0].detections.ids.tolist()) == [1, 2]
    assert _matched(tracked[-1].detections.boxes, squares(3)) == 2


def test_infer_entries_batches_detectors_that_can_and_keeps_the_order() -> None:
    from runtime.infer import Inference
    from runtime.replay import infer_entries

    calls: list[tuple[str, int]] = []

    def single(image: np.ndarray, min_score: float | None = None) -> Inference:
        calls.append(("single", int(image[0, 0, 0])))
        return Inference(Detections(np.zeros((0, 4)), [], np.zeros(0)), float(image[0, 0, 0]))

    class Batched:
        def batch(self, images: list[np.ndarray], min_scores: list[float | None]) -> list[Inference]:
            calls.append(("batch", len(images)))
            return [Inference(Detections(np.zeros((0, 4)), [], np.zeros(0)), float(im[0, 0, 0]) + (s or 0.0))
                    for im, s in zip(images, min_scores, strict=True)]

    batched = Batched()
    images = [np.full((4, 4, 3), v, np.uint8) for v in range(5)]
    out = infer_entries(images, [None, 0.25, None, None, 0.5], [batched, batched, single, batched, single])
    assert [o.infer_ms for o in out] == [0.0, 1.25, 2.0, 3.0, 4.0]  # in entry order, min_score passed
    assert sorted(calls) == [("batch", 3), ("single", 2), ("single", 4)]


def test_replay_feeds_the_loop_the_numbers_a_server_reply_carries() -> None:
    """Replay rounds each patch's detections as the server's reply does (``Detections.as_sent``), so replay and
    cluster run the same closed loop: a 0.01 px difference grows into different patches frames later."""
    def fine(image: np.ndarray, min_score: float | None = None) -> Inference:
        boxes = np.array([[10.123456, 20.987654, 30.55555, 40.44444]])
        return Inference(Detections(boxes, ["person"], np.array([0.9123456])), infer_ms=0.1)

    cfg = PatchConfig(skip_threshold=0.0, refresh_every=0, max_side=640)
    step = next(iter(replay(video(1), fine, None, cfg, whole_frame_side=640)))
    sent = Detections(np.array([[10.123456, 20.987654, 30.55555, 40.44444]]), ["person"], np.array([0.9123456]))
    sent = sent.as_sent()
    np.testing.assert_array_equal(sent.boxes, [[10.12, 20.99, 30.56, 40.44]])
    assert sent.scores.tolist() == [0.9123]
    # the whole frame: the frame's box is the reply's box times one scale (the image's size to the frame's)
    scale = step.detections.boxes[0, 2] / sent.boxes[0, 2]
    np.testing.assert_allclose(step.detections.boxes, sent.boxes * scale, rtol=1e-12)
    assert step.detections.scores.tolist() == [0.9123]
