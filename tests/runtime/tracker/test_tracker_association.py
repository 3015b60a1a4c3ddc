"""The greedy IoU matcher (determinism, gate, order) and the class gate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from runtime.tracker.association import class_gated_iou, greedy_match, size_gated, unmatched


def test_greedy_takes_highest_iou_first_and_gates() -> None:
    iou = np.array([[0.9, 0.6, 0.0],
                    [0.8, 0.0, 0.1],
                    [0.0, 0.7, 0.0]])
    rows, cols = greedy_match(iou, 0.2)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (2, 1)]  # (1, 2) is below the gate
    rows, cols = greedy_match(iou, 0.05)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0), (1, 2), (2, 1)]


def test_greedy_ties_break_by_row_then_column() -> None:
    iou = np.full((2, 2), 0.5)
    rows, cols = greedy_match(iou, 0.3)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_greedy_empty_and_one_to_one() -> None:
    for shape in ((0, 3), (3, 0), (0, 0)):
        rows, cols = greedy_match(np.zeros(shape), 0.1)
        assert len(rows) == len(cols) == 0
    rng = np.random.default_rng(0)
    iou = rng.random((6, 4))
    rows, cols = greedy_match(iou, 0.0)
    assert len(set(rows.tolist())) == len(rows) == 4 and len(set(cols.tolist())) == len(cols)


def test_greedy_is_optimal_on_sparse_gated_matrices() -> None:
    """One candidate per row / column after the gate (the usual frame): greedy = the optimum."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        iou = np.zeros((4, 4))
        perm = rng.permutation(4)
        iou[np.arange(4), perm] = rng.uniform(0.3, 1.0, 4)
        iou += rng.uniform(0.0, 0.05, (4, 4))  # below the gate
        rows, cols = greedy_match(iou, 0.2)
        best = max(sum(iou[i, p[i]] for i in range(4) if iou[i, p[i]] >= 0.2)
                   for p in itertools.permutations(range(4)))
        assert iou[rows, cols].sum() == pytest.approx(best)


def test_class_gate_and_unmatched() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    iou = class_gated_iou(a, np.array([0, 1]), a[:1], np.array([1]))
    np.testing.assert_allclose(iou, [[0.0], [1.0]])
    assert unmatched(5, np.array([1, 3])).tolist() == [0, 2, 4]


def test_size_gate_drops_pairs_whose_areas_differ_by_more_than_the_ratio() -> None:
    tracks = np.array([[0, 0, 40, 40], [100, 0, 20, 20]], float)
    dets = np.array([[0, 0, 40, 20], [0, 0, 40, 19], [0, 0, 56, 56], [0, 0, 57, 57]], float)  # areas x 0.5 .. 2.03
    iou = np.full((2, 4), 0.5)
    gated = size_gated(iou, tracks, dets, 2.0)
    np.testing.assert_allclose(gated[0], [0.5, 0.0, 0.5, 0.0])
    # against the 20 px track (area 400): 2.0x and 1.9x pass, 7.8x and 8.1x do not
    np.testing.assert_allclose(gated[1], [0.5, 0.5, 0.0, 0.0])
    assert size_gated(iou, tracks, dets, 0.0) is iou  # 0 = off
