"""Prediction model M (paper §III-C3): logistic regression from per-cell features to objectness.

``p(cell) = sigmoid(w_edge·edge' + w_diff·diff' + w_hist·hist + bias)`` with the scaled inputs of
:func:`runtime.patches.features.feature_stack`. The weights are fitted offline by the factory stage
``objectness`` (``factory/objectness/fit.py``) and shipped in the bundle manifest section ``objectness`` as
the plain dict of :meth:`ObjectnessModel.to_dict`; :meth:`ObjectnessModel.from_dict` validates it.

Online update (bounded SGD). When the detections of a frame arrive, :meth:`ObjectnessModel.sgd_step` takes
one gradient step of the class-balanced logistic loss on that frame's cells (label = cell centre area
covered by detections ≥ 50 %). The step is bounded three ways: learning rate ``lr``; the step's L2 norm is
clipped to ``max_step``; every weight stays within ``max_drift`` of the offline weights (L∞ box), so a run
of bad detections cannot walk the model far from what was fitted. A frame without any positive cell (no
detections) gives no step: an empty detection list is no evidence that nothing is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.errors import UserError
from runtime.patches.features import DIFF_SCALE, EDGE_SCALE, FEATURE_CAP, N_FEATURES, feature_stack, logistic_map

FORMAT_VERSION = 1
FEATURE_NAMES = ("edge", "diff", "hist")
POSITIVE_OCCUPANCY = 0.5  # a cell is an object cell when boxes cover at least this fraction of it

# A neutral prior used only when no fitted weights are given (tests, a bundle without the section): texture,
# change and history all raise objectness. Real runs load the factory's fitted weights.
PRIOR_WEIGHTS = {"weights": [1.0, 2.0, 3.0], "bias": -4.0}


@dataclass
class ObjectnessModel:
    """Logistic weights ``w`` = (w_edge, w_diff, w_hist, bias) and the offline weights ``w0`` they drift from."""

    w: np.ndarray
    w0: np.ndarray = field(default=None)  # type: ignore[assignment]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.w = np.asarray(self.w, dtype=np.float64).reshape(N_FEATURES + 1).copy()
        self.w0 = self.w.copy() if self.w0 is None else np.asarray(self.w0, dtype=np.float64).reshape(-1).copy()

    @classmethod
    def prior(cls) -> ObjectnessModel:
        """The neutral prior (:data:`PRIOR_WEIGHTS`)."""
        return cls.from_dict(dict(PRIOR_WEIGHTS, version=FORMAT_VERSION, features=list(FEATURE_NAMES)))

    def reset(self) -> None:
        """Return to the offline weights (forget online updates)."""
        self.w = self.w0.copy()

    def predict(self, edge: np.ndarray, diff: np.ndarray, hist: np.ndarray) -> np.ndarray:
        """Objectness probability per cell, float32 (gh, gw)."""
        return logistic_map(edge, diff, hist, self.w)

    def sgd_step(self, edge: np.ndarray, diff: np.ndarray, hist: np.ndarray, occupancy: np.ndarray,
                 lr: float, max_step: float, max_drift: float) -> float:
        """One bounded, class-balanced SGD step towards labels ``occupancy >= 0.5``; returns the step's norm."""
        y = (np.asarray(occupancy).reshape(-1) >= POSITIVE_OCCUPANCY)
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == y.size:
            return 0.0
        x = feature_stack(edge, diff, hist)
        p = 1.0 / (1.0 + np.exp(-(x @ self.w[:N_FEATURES] + self.w[N_FEATURES])))
        sw = np.where(y, 0.5 / n_pos, 0.5 / (y.size - n_pos))
        r = (p - y) * sw
        grad = np.append(x.T @ r, r.sum())
        step = lr * grad
        norm = float(np.linalg.norm(step))
        if norm > max_step:
            step *= max_step / norm
            norm = max_step
        self.w = np.clip(self.w - step, self.w0 - max_drift, self.w0 + max_drift)
        return norm

    def to_dict(self) -> dict[str, Any]:
        """The manifest section ``objectness``: plain JSON-ready data (current weights)."""
        out: dict[str, Any] = {"version": FORMAT_VERSION, "features": list(FEATURE_NAMES),
                               "weights": [float(v) for v in self.w[:N_FEATURES]], "bias": float(self.w[N_FEATURES]),
                               "edge_scale": EDGE_SCALE, "diff_scale": DIFF_SCALE, "feature_cap": FEATURE_CAP}
        out.update({k: v for k, v in self.meta.items() if k not in out})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "objectness") -> ObjectnessModel:
        """Validate and load a manifest section written by :meth:`to_dict` (or the factory's fit)."""
        if not isinstance(data, Mapping):
            raise UserError(f"{where}: expected a mapping, got {type(data).__name__}")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise UserError(f"{where}.version: {version!r} is not supported (expected {FORMAT_VERSION})")
        features = list(data.get("features", FEATURE_NAMES))
        if features != list(FEATURE_NAMES):
            raise UserError(f"{where}.features: expected {list(FEATURE_NAMES)}, got {features}")
        for key, expected in (("edge_scale", EDGE_SCALE), ("diff_scale", DIFF_SCALE), ("feature_cap", FEATURE_CAP)):
            if key in data and float(data[key]) != expected:
                raise UserError(f"{where}.{key}: {data[key]!r} differs from this runtime's {expected}")
        weights = data.get("weights")
        if not isinstance(weights, (list, tuple)) or len(weights) != N_FEATURES:
            raise UserError(f"{where}.weights: expected {N_FEATURES} numbers, got {weights!r}")
        bias = data.get("bias")
        values = list(weights) + [bias]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in values):
            raise UserError(f"{where}: weights and bias must be finite numbers, got {values!r}")
        known = {"version", "features", "weights", "bias", "edge_scale", "diff_scale", "feature_cap"}
        return cls(np.array(values, dtype=np.float64), meta={k: v for k, v in data.items() if k not in known})
