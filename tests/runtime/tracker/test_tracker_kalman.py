"""The box Kalman filter against hand-computed values, batch against single, and the camera-motion warp."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.tracker.kalman import BoxKalman, boxes_to_measurements, states_to_boxes, warp_states

KF = BoxKalman(std_measurement=0.05, std_init_velocity=1.0, q_position=0.25, q_velocity=1.0)
BOX = np.array([[40.0, 35.0, 20.0, 10.0]])  # centre (50, 40), w 20, h 10


def test_box_state_round_trip() -> None:
    z = boxes_to_measurements(BOX)
    np.testing.assert_allclose(z, [[50, 40, 20, 10]])
    np.testing.assert_allclose(states_to_boxes(z), BOX)


def test_initiate_hand_computed() -> None:
    mean, cov = KF.initiate(boxes_to_measurements(BOX))
    np.testing.assert_allclose(mean, [[50, 40, 20, 10, 0, 0, 0, 0]])
    # std: 0.05 * side for position / size (side w = 20 for x, w; h = 10 for y, h); 1.0 * side / s for velocity
    np.testing.assert_allclose(np.diag(cov[0]), [1.0, 0.25, 1.0, 0.25, 400, 100, 400, 100])
    assert np.count_nonzero(cov[0] - np.diag(np.diag(cov[0]))) == 0


def _moving() -> tuple[np.ndarray, np.ndarray]:
    mean, cov = KF.initiate(boxes_to_measurements(BOX))
    mean[0, 4] = 10.0  # vx = 10 px/s
    return mean, cov


def test_predict_hand_computed() -> None:
    mean, cov = KF.predict(*_moving(), dt=0.5)
    np.testing.assert_allclose(mean, [[55, 40, 20, 10, 10, 0, 0, 0]])
    # P' = F P Fᵀ + Q: Pxx = 1 + 0.5² · 400 + (0.25 · 20)² · 0.5 = 113.5; Pxvx = 0.5 · 400 = 200
    # Pvxvx = 400 + (1 · 20)² · 0.5 = 600; Pyy = 0.25 + 0.25 · 100 + (0.25 · 10)² · 0.5 = 28.375
    assert cov[0, 0, 0] == pytest.approx(113.5)
    assert cov[0, 0, 4] == pytest.approx(200.0) and cov[0, 4, 0] == pytest.approx(200.0)
    assert cov[0, 4, 4] == pytest.approx(600.0)
    assert cov[0, 1, 1] == pytest.approx(28.375)
    assert cov[0, 2, 2] == pytest.approx(113.5)
    assert cov[0, 0, 1] == 0.0


def test_predict_zero_dt_is_identity_and_negative_dt_fails() -> None:
    mean, cov = _moving()
    m2, c2 = KF.predict(mean, cov, 0.0)
    np.testing.assert_array_equal(m2, mean)
    np.testing.assert_array_equal(c2, cov)
    with pytest.raises(ValueError):
        KF.predict(mean, cov, -0.1)


def test_update_hand_computed() -> None:
    mean, cov = KF.predict(*_moving(), dt=0.5)
    post, pcov = KF.update(mean, cov, np.array([[60.0, 40.0, 20.0, 10.0]]))
    s = 113.5 + 1.0  # innovation variance of cx: Pxx + (0.05 · 20)²
    assert post[0, 0] == pytest.approx(55 + 113.5 / s * 5)
    assert post[0, 4] == pytest.approx(10 + 200 / s * 5)
    np.testing.assert_allclose(post[0, [1, 2, 3, 5, 6, 7]], [40, 20, 10, 0, 0, 0], atol=1e-12)
    assert pcov[0, 0, 0] == pytest.approx(113.5 - 113.5**2 / s)
    assert pcov[0, 0, 4] == pytest.approx(200 - 113.5 * 200 / s)
    assert pcov[0, 4, 4] == pytest.approx(600 - 200**2 / s)
    np.testing.assert_allclose(pcov, np.swapaxes(pcov, 1, 2))


def test_update_with_per_measurement_std() -> None:
    mean, cov = KF.predict(*_moving(), dt=0.5)
    z = np.array([[60.0, 40.0, 20.0, 10.0]])
    same, _ = KF.update(mean, cov, z, std=np.array([KF.std_measurement]))
    np.testing.assert_allclose(same, KF.update(mean, cov, z)[0])
    trusted, _ = KF.update(mean, cov, z, std=np.array([0.01]))
    doubted, _ = KF.update(mean, cov, z, std=np.array([1.0]))
    s = 113.5 + (0.01 * 20) ** 2  # innovation variance of cx with the measurement's own std
    assert trusted[0, 0] == pytest.approx(55 + 113.5 / s * 5)
    assert abs(trusted[0, 0] - 60.0) < abs(same[0, 0] - 60.0) < abs(doubted[0, 0] - 60.0)


def test_batch_equals_one_by_one() -> None:
    rng = np.random.default_rng(1)
    boxes = np.column_stack([rng.uniform(0, 500, (5, 2)), rng.uniform(10, 90, (5, 2))])
    mean, cov = KF.initiate(boxes_to_measurements(boxes))
    mean[:, 4:] = rng.normal(0, 20, (5, 4))
    mean[:, 6:] = 0.0
    z = boxes_to_measurements(boxes) + rng.normal(0, 2, (5, 4))
    bm, bc = KF.update(*KF.predict(mean, cov, 0.2), z)
    for i in range(5):
        m1, c1 = KF.update(*KF.predict(mean[i:i + 1], cov[i:i + 1], 0.2), z[i:i + 1])
        np.testing.assert_allclose(bm[i:i + 1], m1)
        np.testing.assert_allclose(bc[i:i + 1], c1)


def test_predict_never_shrinks_below_one_px() -> None:
    mean, cov = KF.initiate(boxes_to_measurements(BOX))
    mean[0, 6] = -100.0  # w shrinking at 100 px/s
    out, _ = KF.predict(mean, cov, 1.0)
    assert out[0, 2] == 1.0 and out[0, 6] == 0.0


def test_warp_translation_moves_only_the_centre() -> None:
    mean, cov = _moving()
    warp = np.array([[1.0, 0.0, 7.0], [0.0, 1.0, -3.0]])
    m2, c2 = warp_states(mean, cov, warp)
    np.testing.assert_allclose(m2, [[57, 37, 20, 10, 10, 0, 0, 0]])
    np.testing.assert_allclose(c2, cov)


def test_warp_rotation_and_scale() -> None:
    mean, cov = _moving()
    warp = np.array([[0.0, -2.0, 1.0], [2.0, 0.0, 2.0]])  # 90° rotation, scale 2, then (1, 2)
    m2, c2 = warp_states(mean, cov, warp)
    # centre (50, 40) → (-80 + 1, 100 + 2); velocity (10, 0) → (0, 20); sizes × 2
    np.testing.assert_allclose(m2, [[-79, 102, 40, 20, 0, 20, 0, 0]])
    # R diag(a, b) Rᵀ with R = [[0, -2], [2, 0]] = diag(4b, 4a); sizes' variance × 4
    np.testing.assert_allclose(np.diag(c2[0])[:4], [4 * 0.25, 4 * 1.0, 4 * 1.0, 4 * 0.25])
    np.testing.assert_allclose(np.diag(c2[0])[4:6], [4 * 100, 4 * 400])
