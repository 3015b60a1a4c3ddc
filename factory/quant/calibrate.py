"""Activation calibration for int8: the input scale of every quantized layer, from an fp32 ncnn model run on
calibration images (training patches).

Each quantized layer's bottom blob is extracted from the fp32 net for every calibration input. Two passes:
the absolute maximum of each blob, then a histogram of ``|x|`` over ``[0, absmax]`` (:data:`BINS` bins, exact
zeros left out, as ncnn2table does). The clipping threshold T then comes from

- ``kl``: the threshold whose clipped, 128-level quantized distribution has the smallest KL divergence from
  the original (TensorRT / ncnn2table), searched every ``kl_step`` bins;
- ``percentile``: the ``percentile`` quantile of ``|x|``;
- ``maxabs``: the maximum (the plain baseline, kept for comparison).

The layer's ``bottom_blob_int8_scale`` is ``127 / T``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from runtime.errors import UserError

BINS = 2048
TARGET_BINS = 128
Method = Literal["kl", "percentile", "maxabs"]
log = logging.getLogger(__name__)


def fp32_net(param: str | Path, weights: str | Path, threads: int = 1) -> Any:
    """An ncnn net that computes in plain float32 (no fp16/bf16 storage or arithmetic, no int8)."""
    import ncnn

    net = ncnn.Net()
    opt = net.opt
    opt.num_threads = threads
    opt.use_vulkan_compute = False
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False
    opt.use_int8_inference = False
    if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
        raise UserError(f"{param}: ncnn cannot load it")
    return net


def extract(net: Any, input_blob: str, x: np.ndarray, blobs: Sequence[str]) -> list[np.ndarray]:
    """Run ``net`` on one (3, S, S) float32 input and return the named blobs (intermediate ones included)."""
    import ncnn

    ex = net.create_extractor()
    ex.set_light_mode(False)
    ex.input(input_blob, ncnn.Mat(np.ascontiguousarray(x, dtype=np.float32)))
    out = []
    for blob in blobs:
        ret, mat = ex.extract(blob)
        if ret != 0:
            raise UserError(f"ncnn could not extract blob {blob!r}")
        out.append(np.array(mat))
    return out


def kl_threshold_bin(hist: np.ndarray, target: int = TARGET_BINS, step: int = 1) -> int:
    """The bin count i (threshold = i bins) that minimises KL(P_i || Q_i) over i in [target, len(hist)].

    P_i: the first i bins, the mass beyond them added to the last one. Q_i: the first i bins merged into
    ``target`` levels, each level's mass spread evenly over its non-empty bins.
    """
    hist = np.asarray(hist, dtype=np.float64)
    n = len(hist)
    if n <= target or hist.sum() == 0:
        return n
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0.0]])  # tail[i] = sum(hist[i:])
    best, best_i = np.inf, n
    for i in list(range(target, n, step)) + [n]:
        sliced = hist[:i]
        p = sliced.copy()
        p[-1] += tail[i]
        group = np.minimum(np.arange(i) * target // i, target - 1)
        nonzero = sliced != 0
        mass = np.bincount(group, weights=sliced, minlength=target)
        count = np.bincount(group, weights=nonzero, minlength=target)
        q = np.where(nonzero, mass[group] / np.maximum(count[group], 1), 0.0)
        p_sum, q_sum = p.sum(), q.sum()
        if q_sum == 0:
            continue
        p, q = p / p_sum, q / q_sum
        keep = p > 0
        kl = float(np.sum(p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-12))))
        if kl < best:
            best, best_i = kl, i
    return best_i


def _finite_abs(values: np.ndarray) -> np.ndarray:
    """``|x|`` of the finite values of one blob, flattened (a NaN or inf, e.g. from an under-trained model's
    overflow, must not poison the blob's range)."""
    a = np.abs(np.asarray(values, dtype=np.float64).ravel())
    return a[np.isfinite(a)]


class ActivationStats:
    """Running absmax and |x| histograms of a set of blobs (two passes: :meth:`add_max`, then :meth:`add_hist`).

    Non-finite values are left out of both and counted in :attr:`nonfinite` (per blob, first pass).
    """

    def __init__(self, blobs: Sequence[str]) -> None:
        self.blobs = list(blobs)
        self.absmax = np.zeros(len(self.blobs))
        self.hist = np.zeros((len(self.blobs), BINS))
        self.nonfinite = np.zeros(len(self.blobs), dtype=np.int64)

    def add_max(self, values: Sequence[np.ndarray]) -> None:
        for k, v in enumerate(values):
            a = _finite_abs(v)
            self.nonfinite[k] += np.size(v) - a.size
            self.absmax[k] = max(self.absmax[k], float(a.max(initial=0.0)))

    def add_hist(self, values: Sequence[np.ndarray]) -> None:
        for k, v in enumerate(values):
            a = _finite_abs(v)
            a = a[a != 0]
            if self.absmax[k] > 0 and a.size:
                idx = np.minimum((a * (BINS / self.absmax[k])).astype(np.int64), BINS - 1)
                self.hist[k] += np.bincount(idx, minlength=BINS)

    def thresholds(self, method: Method, percentile: float = 99.99, kl_step: int = 4) -> np.ndarray:
        """Clipping threshold per blob (same units as the activations)."""
        width = self.absmax / BINS
        out = np.zeros(len(self.blobs))
        for k in range(len(self.blobs)):
            if self.absmax[k] == 0:
                out[k] = 0.0
            elif method == "maxabs":
                out[k] = self.absmax[k]
            elif method == "percentile":
                cdf = np.cumsum(self.hist[k]) / max(self.hist[k].sum(), 1)
                out[k] = (int(np.searchsorted(cdf, percentile / 100.0)) + 1) * width[k]
            else:
                out[k] = (kl_threshold_bin(self.hist[k], step=kl_step) + 0.5) * width[k]
            out[k] = min(out[k], self.absmax[k])
        return out


def calibrate(param: str | Path, weights: str | Path, input_blob: str, blobs: Sequence[str],
              inputs: Iterable[np.ndarray] | Sequence[np.ndarray], method: Method = "kl", percentile: float = 99.99,
              kl_step: int = 4) -> dict[str, float]:
    """``bottom_blob_int8_scale`` (127 / threshold) per blob of an fp32 model over the calibration ``inputs``
    ((3, S, S) float32, preprocessed as at inference). A blob that is zero everywhere gets scale 1."""
    inputs = list(inputs)
    if not inputs:
        raise ValueError("no calibration inputs")
    net = fp32_net(param, weights)
    stats = ActivationStats(blobs)
    for x in inputs:
        stats.add_max(extract(net, input_blob, x, blobs))
    if method != "maxabs":
        for x in inputs:
            stats.add_hist(extract(net, input_blob, x, blobs))
    for blob, count in zip(stats.blobs, stats.nonfinite, strict=True):
        if count:
            log.warning("calibration: blob %s had %d non-finite activations (left out of its range)", blob, count)
    t = stats.thresholds(method, percentile, kl_step)
    return {b: (127.0 / float(v) if v > 0 else 1.0) for b, v in zip(blobs, t, strict=False)}
