"""Patch queue entries (paper §III-C4): the patch image and its metadata.

The crop is kept at native resolution (a copy of the frame's pixels); it is resized to the chosen model's
input only at dispatch time, on the server (CONVENTIONS: patches travel as JPEG at native resolution, capped
at the largest model input side ``max_side``). ``nbytes`` is s_k, the JPEG size in bytes that is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.modes import JpegChroma
from runtime.patches.generators import FramePatches

#: OpenCV's ``IMWRITE_JPEG_SAMPLING_FACTOR`` value of each :class:`JpegChroma`.
_SAMPLING = {JpegChroma.FULL: cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
             JpegChroma.HALF: cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420}


@dataclass
class PatchEntry:
    """One queued patch: ``crop`` (h, w[, c]) uint8 native pixels and its metadata.

    ``location`` = ``(x0, y0, x1, y1)`` pixels in the frame; ``frame_size`` = ``(width, height)`` pixels;
    ``confidence`` = y_k (1.0 high, 0.5 low by default); ``kind`` names where it came from; ``jpeg`` the
    encoded bytes sent (capped at ``max_side``), ``nbytes`` their count (s_k, bytes).
    """

    frame_id: int
    patches_in_frame: int
    frame_size: tuple[int, int]
    location: tuple[int, int, int, int]
    confidence: float
    kind: str
    crop: np.ndarray
    jpeg: bytes

    @property
    def nbytes(self) -> int:
        """s_k: bytes sent for this patch (the JPEG)."""
        return len(self.jpeg)

    def metadata(self) -> dict:
        """JSON-ready metadata (what the scheduler and the aggregator need; no pixels)."""
        return {"frame": self.frame_id, "patches_in_frame": self.patches_in_frame,
                "frame_size": list(self.frame_size), "location": list(self.location),
                "confidence": self.confidence, "kind": self.kind, "bytes": self.nbytes}


def encode_patch(crop: np.ndarray, quality: int, max_side: int, chroma: JpegChroma) -> bytes:
    """JPEG bytes of ``crop`` at ``quality`` (1-100) and ``chroma`` sampling, downscaled (INTER_AREA, aspect
    kept) if its longer side exceeds ``max_side`` px."""
    h, w = crop.shape[:2]
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
        crop = cv2.resize(crop, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return encode_jpeg(crop, quality, chroma)


def encode_jpeg(image: np.ndarray, quality: int, chroma: JpegChroma) -> bytes:
    """JPEG bytes of ``image`` (BGR or grey uint8) at ``quality`` (1-100) and ``chroma`` sampling, unscaled: the
    one encoder of patches, tiles and whole frames, and of the factory's stored training images."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, _SAMPLING[chroma]]
    ok, buf = cv2.imencode(".jpg", image, params)
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
    return buf.tobytes()


def build_entries(frame: np.ndarray, patches: FramePatches, quality: int, max_side: int,
                  chroma: JpegChroma) -> list[PatchEntry]:
    """Queue entries for every patch of ``patches`` cut from ``frame`` (the frame they were made for)."""
    entries = []
    for rect, conf, kind in zip(patches.rects, patches.confidence, patches.kind_names(), strict=False):
        x0, y0, x1, y1 = (int(v) for v in rect)
        crop = np.ascontiguousarray(frame[y0:y1, x0:x1])
        entries.append(PatchEntry(patches.frame_id, len(patches), (patches.frame_w, patches.frame_h),
                                  (x0, y0, x1, y1), float(conf), kind, crop,
                                  encode_patch(crop, quality, max_side, chroma)))
    return entries
