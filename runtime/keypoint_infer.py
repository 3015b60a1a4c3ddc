"""A bundle's keypoint model (``task: keypoints``) in ncnn: one person crop in, 13 body points out.

The crop (BGR uint8, any size) is letterboxed into the model's ``[height, width]`` input keeping its aspect
(centred, ``pad_value`` grey), normalised with the manifest's mean/std (0–255 scale), run, and the heatmaps
are decoded (:func:`runtime.keypoints.decode_heatmaps`) and mapped back to crop pixels. numpy, OpenCV and ncnn
only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import UserError
from runtime.infer import Detector, load_net
from runtime.keypoints import decode_heatmaps
from runtime.manifest import Manifest
from runtime.timing import Stopwatch


@dataclass
class Pose:
    """One person's ``points`` (13, 3) ``[x, y, peak]`` in crop px, its ``score`` (mean peak) and ``infer_ms``."""

    points: np.ndarray
    score: float
    infer_ms: float = 0.0


class KeypointModel:
    """One keypoint model of a bundle, loaded in ncnn with ``threads`` CPU threads."""

    def __init__(self, bundle_dir: str | Path, name: str, manifest: Manifest, threads: int = 1) -> None:
        import ncnn

        spec = manifest.model(name)
        if spec.task != "keypoints" or spec.keypoints is None:
            raise UserError(f"model {name!r} is a {spec.task} model, not a keypoint model")
        self.name, self.spec, self.info = name, spec, spec.keypoints
        self.height, self.width = self.info.input_hw
        self.input_hw = (self.height, self.width)  # network input px
        self.mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 1, 3)
        self.std = np.asarray(spec.std, dtype=np.float32).reshape(1, 1, 3)
        self.net = load_net(Path(bundle_dir) / spec.files.param, Path(bundle_dir) / spec.files.bin, spec.precision,
                            threads, f"model {name}")
        self._ncnn = ncnn

    def preprocess(self, crop: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The (3, H, W) float32 input of a BGR crop, and the letterbox (scale, pad x, pad y) used."""
        import cv2

        image = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB) if self.spec.colour == "rgb" else crop
        h, w = image.shape[:2]
        scale = min(self.width / w, self.height / h)
        pad_x, pad_y = self.width / 2 - scale * w / 2, self.height / 2 - scale * h / 2
        m = np.array([[scale, 0.0, pad_x], [0.0, scale, pad_y]])
        pad = (self.spec.pad_value,) * 3
        boxed = cv2.warpAffine(image, m, (self.width, self.height), flags=cv2.INTER_LINEAR, borderValue=pad)
        x = (boxed.astype(np.float32) - self.mean) / self.std
        return np.ascontiguousarray(x.transpose(2, 0, 1)), scale, pad_x, pad_y

    def heatmaps(self, x: np.ndarray) -> np.ndarray:
        """Run the network on a preprocessed input; the (K, H/stride, W/stride) heatmaps."""
        ex = self.net.create_extractor()
        ex.input(self.spec.input_blob, self._ncnn.Mat(x))
        ret, mat = ex.extract(self.spec.output_blobs[0])
        if ret != 0:
            raise UserError(f"model {self.name}: ncnn could not extract blob {self.spec.output_blobs[0]!r}")
        out = np.array(mat)
        if out.ndim != 3 or out.shape[0] != len(self.info.body):
            raise UserError(f"model {self.name}: output shape {out.shape}, expected ({len(self.info.body)}, h, w)")
        return out

    def __call__(self, crop: np.ndarray) -> Pose:
        """The body points of the one person in BGR ``crop`` (H, W, 3), crop px, timed."""
        watch = Stopwatch()
        x, scale, pad_x, pad_y = self.preprocess(crop)
        pts = decode_heatmaps(self.heatmaps(x), self.info.stride)
        pts[:, 0] = (pts[:, 0] - pad_x) / scale
        pts[:, 1] = (pts[:, 1] - pad_y) / scale
        return Pose(pts, float(pts[:, 2].mean()), watch.ms)


def load_model(bundle_dir: str | Path, name: str, manifest: Manifest, threads: int = 1) -> Detector | KeypointModel:
    """Model ``name`` of the bundle loaded for its task: a :class:`runtime.infer.Detector` or a
    :class:`KeypointModel`."""
    if manifest.model(name).task == "keypoints":
        return KeypointModel(bundle_dir, name, manifest, threads)
    return Detector(bundle_dir, name, manifest, threads)
