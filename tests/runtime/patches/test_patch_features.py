"""The feature kernels (OpenCV cell means, numba) agree with their numpy references; grid and grey conversion edge
cases."""

import numpy as np
import pytest

from runtime.patches import features as F


def _rng_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w), dtype=np.uint8)


@pytest.mark.parametrize("shape,sub", [((36, 64), 4), ((17, 23), 1), ((30, 45), 3), ((35, 66), 4), ((1, 9), 1),
                                       ((9, 1), 1), ((3, 3), 4), ((34, 60), 2)])
def test_cell_edges_matches_reference(shape, sub):
    small = _rng_image(*shape)
    got, want = F.cell_edges(small, sub), F.cell_edges_ref(small, sub)
    assert got.shape == want.shape and got.dtype == np.float32
    if sub & (sub - 1) == 0:  # a power of two: 1/sub² is exact, so is the mean
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("shape,sub", [((36, 64), 4), ((17, 23), 1), ((30, 45), 3), ((35, 66), 4), ((3, 3), 4)])
def test_cell_absdiff_matches_reference(shape, sub):
    a, b = _rng_image(*shape, seed=1), _rng_image(*shape, seed=2)
    got, want = F.cell_absdiff(a, b, sub), F.cell_absdiff_ref(a, b, sub)
    assert got.shape == want.shape and got.dtype == np.float32
    if sub & (sub - 1) == 0:
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert F.cell_absdiff(a, a, sub).max(initial=0.0) == 0.0


def test_box_occupancy_matches_reference_including_boxes_outside():
    boxes = np.array([[10.5, 20.0, 100.0, 50.0], [-30.0, -30.0, 60.0, 60.0], [900.0, 500.0, 200.0, 200.0],
                      [2000.0, 2000.0, 10.0, 10.0], [50.0, 50.0, 0.0, 10.0], [15.0, 25.0, 90.0, 40.0]])
    got = F.box_occupancy(boxes, 960.0, 540.0, 34, 60)
    np.testing.assert_allclose(got, F.box_occupancy_ref(boxes, 960.0, 540.0, 34, 60), atol=1e-5)
    assert got.max() <= 1.0 and got.min() >= 0.0
    assert F.box_occupancy(np.zeros((0, 4)), 960.0, 540.0, 34, 60).sum() == 0.0


def test_box_occupancy_full_cell():
    occ = F.box_occupancy(np.array([[0.0, 0.0, 16.0, 16.0]]), 64.0, 64.0, 4, 4)
    assert occ[0, 0] == pytest.approx(1.0) and occ.sum() == pytest.approx(1.0)


def test_logistic_map_matches_reference():
    rng = np.random.default_rng(3)
    edge = rng.uniform(0, 200, (9, 13)).astype(np.float32)
    diff = rng.uniform(0, 100, (9, 13)).astype(np.float32)
    hist = rng.uniform(0, 1, (9, 13)).astype(np.float32)
    w = np.array([0.7, 1.3, 5.0, -3.0])
    np.testing.assert_allclose(F.logistic_map(edge, diff, hist, w), F.logistic_map_ref(edge, diff, hist, w),
                               rtol=1e-5, atol=1e-6)


def test_grid_and_grey_shapes():
    assert F.grid_shape(960, 540, 16) == (34, 60)
    assert F.grid_shape(5, 5, 16) == (1, 1)
    bgr = np.zeros((540, 960, 3), np.uint8)
    assert F.grey_grid_image(bgr, 16, 4).shape == (34 * 4, 60 * 4)
    assert F.as_grey(np.zeros((10, 12), np.uint8)).shape == (10, 12)
    assert F.as_grey(np.zeros((10, 12, 4), np.uint8)).shape == (10, 12)
    assert F.as_grey(np.zeros((10, 12, 1), np.uint8)).shape == (10, 12)
    with pytest.raises(ValueError):
        F.as_grey(np.zeros((0, 12), np.uint8))


def test_feature_extractor_size_change_resets_diff():
    fx = F.FeatureExtractor(16, 4)
    _, _, d0 = fx(_rng_image(128, 160))
    _, _, d1 = fx(_rng_image(128, 160, seed=5))
    _, e2, d2 = fx(_rng_image(96, 96, seed=6))
    assert d0.max() == 0.0 and d1.max() > 0.0
    assert d2.shape == e2.shape == (6, 6) and d2.max() == 0.0
