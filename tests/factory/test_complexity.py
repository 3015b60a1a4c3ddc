"""O(I) of Eq. 1: hand-computed cases, iscrowd excluded, empty images, clipping, summaries."""

from __future__ import annotations

import numpy as np
import pytest

from factory.data.complexity import complexity, summarize, video_complexities
from runtime.coco import VideoAnnotations, frames_from_boxes


def test_single_object_is_one_minus_its_area_fraction() -> None:
    assert complexity(np.array([[0, 0, 60, 100]]), 100, 100) == pytest.approx(0.4)
    assert complexity(np.array([[0, 0, 100, 100]]), 100, 100) == pytest.approx(0.0)


def test_mean_of_normalised_areas() -> None:
    boxes = np.array([[0, 0, 50, 100], [60, 0, 10, 10]])  # 0.5 and 0.01 of the image
    assert complexity(boxes, 100, 100) == pytest.approx(1 - (0.5 + 0.01) / 2)


def test_crowd_excluded_and_empty_is_none() -> None:
    boxes = np.array([[0, 0, 60, 100], [0, 0, 10, 10]])
    assert complexity(boxes, 100, 100, np.array([False, True])) == pytest.approx(0.4)
    assert complexity(boxes, 100, 100, np.array([True, True])) is None
    assert complexity(np.zeros((0, 4)), 100, 100) is None


def test_boxes_clipped_to_the_image() -> None:
    assert complexity(np.array([[-50, 0, 100, 100]]), 100, 100) == pytest.approx(0.5)
    assert complexity(np.array([[200, 0, 10, 10]]), 100, 100) is None  # no area inside: not an object


def test_video_and_summary() -> None:
    video = VideoAnnotations(["person"], frames_from_boxes(
        [(0, [([0, 0, 50, 50], "person", 1.0)]), (1, []), (2, [([0, 0, 100, 100], "person", 1.0)])]), 100, 100)
    values = video_complexities(video)
    assert values[1] is None
    assert values[0] == pytest.approx(0.75) and values[2] == pytest.approx(0.0)
    s = summarize(values)
    assert s["images"] == 3 and s["empty"] == 1 and s["mean"] == pytest.approx(0.375)
    assert video_complexities(video, range(1, 9)) == [None, pytest.approx(0.0)]
