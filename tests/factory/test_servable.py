"""The minis' servable range: recall by scaled object side on a patch set, the longest reliable run of bins."""

from __future__ import annotations

import numpy as np
import pytest

from factory.export.servable import recall_by_side, servable_range
from runtime.bench.served import DEFAULT_SERVABLE, servable_fractions
from runtime.coco import FrameAnnotations, VideoAnnotations
from runtime.detections import Detections
from runtime.errors import UserError


def _bins(recalls: list[float | None], n: int = 40) -> list[dict[str, float]]:
    edges = [0, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 1e9]
    return [{"lo": edges[i], "hi": edges[i + 1], "objects": 0 if r is None else n,
             "found": 0 if r is None else round(r * n)} for i, r in enumerate(recalls)]


def test_servable_range_is_the_longest_reliable_run() -> None:
    assert servable_range(_bins([0.1, 0.5, 0.85, 0.9, 0.7, 0.95, 0.9, 0.81, None, None, None])) == [48, 128]
    assert servable_range(_bins([0.9, 0.9, 0.1, 0.95, 0.9, 0.1, None, None, None, None, None])) == [24, 48]  # tie
    assert servable_range(_bins([0.5] * 11)) is None
    assert servable_range(_bins([0.9] * 11, n=5)) is None  # too few objects to judge any bin
    assert servable_range(_bins([None] * 10 + [0.9])) == [256, 512]  # the open last bin: twice its lower edge


def test_recall_by_side_scales_objects_to_the_input() -> None:
    # image 1: 320 px wide, two persons of 32 and 100 px (16 and 50 px at a 160 input); only the big one found
    frames = {1: FrameAnnotations(np.array([[10, 10, 10, 32], [100, 50, 40, 100]], float), ["person", "person"],
                                  np.zeros(2, bool), -np.ones(2, int), np.zeros(2), np.ones(2))}
    gt = VideoAnnotations(["person"], frames, 320, 240)
    preds = {1: Detections(np.array([[101, 52, 39, 98], [10, 10, 10, 32]], float), ["person", "vehicle"],
                           np.array([0.9, 0.9]), 1)}
    bins = recall_by_side(gt, preds, {1: (320, 240)}, 160)
    by_lo = {b["lo"]: (b["objects"], b["found"]) for b in bins}
    assert by_lo[16] == (1, 0)  # the small one's only overlapping box has the wrong class
    assert by_lo[48] == (1, 1)
    assert sum(b["objects"] for b in bins) == 2


def test_bench_servable_fractions() -> None:
    assert servable_fractions("0.2:0.9", [16, 128], 160, "m") == (0.2, 0.9)
    assert servable_fractions(None, [16, 128], 160, "m") == (0.1, 0.8)
    assert servable_fractions(None, None, 160, "m") == DEFAULT_SERVABLE
    with pytest.raises(UserError, match="--servable"):
        servable_fractions("a:b", None, 160, "m")
