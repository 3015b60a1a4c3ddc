"""Constant-velocity Kalman filter on boxes, vectorised over tracks (numpy batch predict / update / warp).

State per track (8,): ``[cx, cy, w, h, vx, vy, vw, vh]`` — box centre and size in px (BoT-SORT's xywh state,
not ByteTrack's aspect ratio) and their velocities in px per second of video time. Time is the caller's
video time (frame_index / fps), so a prediction over a skipped frame or a low frame rate is one step of
``dt`` seconds, not several frames. Measurement (4,): ``[cx, cy, w, h]`` px.

Noise scales with the box (as in ByteTrack / BoT-SORT): every std is a fraction of the box side the
component belongs to (w for cx, w, vx, vw; h for the others), so a small far-away pedestrian and a near
bus get the same relative uncertainty. Process noise is a random walk in continuous time — variance grows
linearly with ``dt`` — so N short steps add up to (nearly) the same uncertainty as one long step and the
filter behaves the same at 5 and 30 fps:

- initial covariance: position/size std ``std_measurement``·side, velocity std ``std_init_velocity``·side/s;
- predict over dt s: ``F = [[I, dt·I], [0, I]]``, ``Q = diag((q_position·side)²·dt, (q_velocity·side)²·dt)``;
- update: ``R = diag((std_measurement·side)²)``, standard Kalman gain; a caller may give each measurement its own
  std (a detector it trusts more, a box it knows is cut), same units.

Arrays: means (n, 8) float64, covariances (n, 8, 8) float64. Every function returns new arrays.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SIDE_PX = 1.0  #: a predicted box never shrinks below this side (px); its size velocity is then zeroed
_SIDE = np.array([2, 3, 2, 3])  #: state index of the side (w or h) each of the 4 measured components scales with


def boxes_to_measurements(boxes: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` top-left boxes (n, 4) px → measurements ``[cx, cy, w, h]`` (n, 4) px."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    z = boxes.copy()
    z[:, :2] += boxes[:, 2:] / 2.0
    return z


def states_to_boxes(means: np.ndarray) -> np.ndarray:
    """Means (n, 8) (or measurements (n, 4)) → ``[x, y, w, h]`` top-left boxes (n, 4) px."""
    means = np.asarray(means, dtype=np.float64)
    boxes = means[:, :4].copy()
    boxes[:, :2] -= boxes[:, 2:] / 2.0
    return boxes


def _sides(means: np.ndarray) -> np.ndarray:
    """Per track the side (px, at least MIN_SIDE_PX) each of the 4 position/size components scales with, (n, 4)."""
    return np.maximum(means[:, _SIDE], MIN_SIDE_PX)


class BoxKalman:
    """The filter's noise model; methods take and return batches of states (see the module docstring)."""

    def __init__(self, std_measurement: float, std_init_velocity: float, q_position: float,
                 q_velocity: float) -> None:
        """The noise levels, as :class:`runtime.tracker.TrackerConfig` documents them (its defaults are the only
        ones)."""
        self.std_measurement = float(std_measurement)
        self.std_init_velocity = float(std_init_velocity)
        self.q_position = float(q_position)
        self.q_velocity = float(q_velocity)

    def initiate(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New tracks from measurements ``z`` (n, 4) px: means (n, 8) with zero velocity, covariances (n, 8, 8)."""
        z = np.asarray(z, dtype=np.float64).reshape(-1, 4)
        means = np.zeros((len(z), 8))
        means[:, :4] = z
        side = _sides(means)
        std = np.concatenate([self.std_measurement * side, self.std_init_velocity * side], axis=1)
        return means, _diag(std**2)

    def predict(self, means: np.ndarray, covs: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Means and covariances ``dt`` seconds later (dt >= 0); noise scales with each track's current size."""
        if dt < 0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a finite number >= 0 s, got {dt}")
        if len(means) == 0 or dt == 0:
            return means.copy(), covs.copy()
        side = _sides(means)
        f = _transition(dt)
        q = np.concatenate([(self.q_position * side) ** 2 * dt, (self.q_velocity * side) ** 2 * dt], axis=1)
        new_means = means @ f.T
        new_covs = f @ covs @ f.T + _diag(q)
        small = new_means[:, 2:4] < MIN_SIDE_PX
        if small.any():
            new_means[:, 2:4] = np.where(small, MIN_SIDE_PX, new_means[:, 2:4])
            new_means[:, 6:8] = np.where(small, 0.0, new_means[:, 6:8])
        return new_means, new_covs

    def update(self, means: np.ndarray, covs: np.ndarray, z: np.ndarray,
               std: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Correct each track (n) with its measurement ``z`` (n, 4) px; ``std`` (n,) each measurement's noise as a
        fraction of the box side (None: ``std_measurement`` for all). Returns the posterior means and covariances."""
        if len(means) == 0:
            return means.copy(), covs.copy()
        z = np.asarray(z, dtype=np.float64).reshape(-1, 4)
        frac = self.std_measurement if std is None else np.asarray(std, dtype=np.float64).reshape(-1, 1)
        r = (frac * _sides(means)) ** 2
        s = covs[:, :4, :4] + _diag(r)                    # innovation covariance (n, 4, 4)
        ph = covs[:, :, :4]                               # P Hᵀ (n, 8, 4)
        gain = np.linalg.solve(s, np.swapaxes(ph, 1, 2))  # S⁻¹ H P = Kᵀ (n, 4, 8), S symmetric
        gain = np.swapaxes(gain, 1, 2)                    # K (n, 8, 4)
        innovation = z - means[:, :4]
        new_means = means + np.einsum("nij,nj->ni", gain, innovation)
        new_covs = covs - gain @ s @ np.swapaxes(gain, 1, 2)
        new_covs = (new_covs + np.swapaxes(new_covs, 1, 2)) / 2.0
        return new_means, new_covs

    def position_std(self, covs: np.ndarray) -> np.ndarray:
        """Per track the larger of the centre's x and y std, px (n,)."""
        return np.sqrt(np.maximum(np.maximum(covs[:, 0, 0], covs[:, 1, 1]), 0.0))


def warp_states(means: np.ndarray, covs: np.ndarray, warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map states from the previous frame's pixels into this frame's by the 2×3 affine ``warp`` (BoT-SORT CMC).

    The centre goes through the full affine (``R·c + t``), the centre velocity through its linear part R, and
    the size and size velocity are scaled by ``s = sqrt(|det R|)`` (exact for the similarity transforms
    ``estimateAffinePartial2D`` returns; for a general affine it keeps boxes axis-aligned with the mean scale).
    The covariance goes through the same linear map ``T = blockdiag(R, s·I, R, s·I)``: ``T P Tᵀ``.
    """
    warp = np.asarray(warp, dtype=np.float64).reshape(2, 3)
    if len(means) == 0:
        return means.copy(), covs.copy()
    r, t = warp[:, :2], warp[:, 2]
    s = math.sqrt(abs(float(np.linalg.det(r))))
    lin = np.zeros((8, 8))
    lin[0:2, 0:2] = r
    lin[2:4, 2:4] = s * np.eye(2)
    lin[4:6, 4:6] = r
    lin[6:8, 6:8] = s * np.eye(2)
    new_means = means @ lin.T
    new_means[:, 0:2] += t
    new_covs = lin @ covs @ lin.T
    return new_means, new_covs


def _transition(dt: float) -> np.ndarray:
    f = np.eye(8)
    f[np.arange(4), np.arange(4) + 4] = dt
    return f


def _diag(values: np.ndarray) -> np.ndarray:
    """Stack of diagonal matrices (n, k, k) from ``values`` (n, k)."""
    n, k = values.shape
    out = np.zeros((n, k, k))
    out[:, np.arange(k), np.arange(k)] = values
    return out
