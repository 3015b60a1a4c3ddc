"""ImageNet-style class folders: single-object crops (person, vehicle, background) and a generic loader.

Layout (the torchvision ``ImageFolder`` convention, so a real ImageNet tree plugs in unchanged)::

    <root>/<class>/<image>.jpg      e.g. <root>/person/00_000120_003.jpg

Object crops: a square around the object's box (side = the box's longer side) widened by
:func:`runtime.geometry.patch_around_box` at an area ratio r drawn from ``r_range``, kept only when no
other non-crowd object shows more than ``max_other_visible`` of itself inside, resized to ``size`` ×
``size`` (letterboxed where the frame edge clipped it). Background crops: squares of random side and
place that overlap no annotated box at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.coco import FrameAnnotations
from runtime.config import bounded
from runtime.errors import UserError
from runtime.geometry import Letterbox, boxes_to_rects, clip_boxes, patch_around_box
from runtime.modes import JpegChroma
from runtime.patches.queue import encode_jpeg

#: colour sampling of every image the factory stores for training (patch set, mined patches, this set, keypoint
#: crops, the baseline's frames): 4:2:0, as ImageNet's own JPEGs. The minis trained on 4:4:4 patches (as the runtime
#: sends them) scored lower in the closed loop: tuning set 0.8308 against 0.8382 (twenty-third session, README)
STORED_JPEG_CHROMA = JpegChroma.HALF

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
BACKGROUND = "background"


@dataclass
class ImagenetParams:
    """How the ImageNet-style single-object set is cut (the ``datasets.imagenet`` params block)."""

    size: int = bounded(64, "side of the stored square crops (px)", ge=8)
    r_range: list[float] = bounded([0.5, 1.0], "object square area / crop area, drawn per crop")
    min_object_side: float = bounded(16.0, "objects whose longer box side is below this (px) are skipped", ge=1)
    max_other_visible: float = bounded(0.3, "skip a crop where another object shows more than this of itself",
                                       ge=0.0, le=1.0)
    frame_step: int = bounded(5, "use every n-th annotated frame of a video", ge=1)
    max_per_class_per_video: int = bounded(600, "cap on object crops of one class from one video", ge=1)
    background_per_video: int = bounded(300, "background crops sampled per video", ge=0)
    jpeg_quality: int = bounded(95, "JPEG quality", ge=1, le=100)
    jpeg_chroma: JpegChroma = bounded(STORED_JPEG_CHROMA, "colour sampling of the stored images: yuv420 | yuv444")

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        from factory.data.patchset import check_r_range

        check_r_range(self.r_range, f"{where}.r_range")


def object_square(box: np.ndarray) -> np.ndarray:
    """The square ``[x, y, s, s]`` (s = the longer side) centred on ``box`` ``[x, y, w, h]``."""
    x, y, w, h = (float(v) for v in box)
    s = max(w, h)
    return np.array([x + w / 2 - s / 2, y + h / 2 - s / 2, s, s])


def others_visible(frame: FrameAnnotations, skip: int, crop: tuple[int, int, int, int], width: int,
                   height: int) -> float:
    """The largest fraction of any other non-crowd object's box that lies inside ``crop``."""
    if len(frame) <= 1:
        return 0.0
    boxes = clip_boxes(frame.boxes, width, height)
    rects = boxes_to_rects(boxes)
    x0, y0, x1, y1 = crop
    iw = np.clip(np.minimum(rects[:, 2], x1) - np.maximum(rects[:, 0], x0), 0, None)
    ih = np.clip(np.minimum(rects[:, 3], y1) - np.maximum(rects[:, 1], y0), 0, None)
    frac = iw * ih / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-12)
    frac[skip] = 0.0
    frac[frame.iscrowd] = 0.0
    return float(frac.max())


def plan_object_crops(frame: FrameAnnotations, width: int, height: int, params: ImagenetParams,
                      rng: np.random.Generator) -> list[tuple[int, str, tuple[int, int, int, int]]]:
    """``(object index, class, crop)`` for the usable single-object crops of one frame."""
    out = []
    boxes = clip_boxes(frame.boxes, width, height)
    lo, hi = params.r_range
    for i in range(len(frame)):
        if frame.iscrowd[i] or max(boxes[i, 2], boxes[i, 3]) < params.min_object_side:
            continue
        r = float(rng.uniform(lo, hi)) if hi > lo else lo
        crop = patch_around_box(object_square(boxes[i]), r, width, height)
        if others_visible(frame, i, crop, width, height) <= params.max_other_visible:
            out.append((i, frame.labels[i], crop))
    return out


def plan_background_crops(frame: FrameAnnotations, width: int, height: int, count: int, min_side: float,
                          rng: np.random.Generator, tries: int = 20) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` square crops (side log-uniform in [2·min_side, min(W, H)/2]) touching no box."""
    rects = boxes_to_rects(clip_boxes(frame.boxes, width, height) if len(frame) else np.zeros((0, 4)))
    hi_side = max(min(width, height) / 2.0, 2.0 * min_side + 1)
    out: list[tuple[int, int, int, int]] = []
    for _ in range(count * tries):
        if len(out) >= count:
            break
        side = int(round(np.exp(rng.uniform(np.log(2.0 * min_side), np.log(hi_side)))))
        side = min(side, width, height)
        x0 = int(rng.integers(0, width - side + 1))
        y0 = int(rng.integers(0, height - side + 1))
        iw = np.minimum(rects[:, 2], x0 + side) - np.maximum(rects[:, 0], x0)
        ih = np.minimum(rects[:, 3], y0 + side) - np.maximum(rects[:, 1], y0)
        if not np.any((iw > 0) & (ih > 0)):
            out.append((x0, y0, x0 + side, y0 + side))
    return out


def square_resize(image: np.ndarray, crop: tuple[int, int, int, int], size: int) -> np.ndarray:
    """Cut ``crop`` and letterbox it into ``size`` × ``size`` (a square crop is simply resized)."""
    x0, y0, x1, y1 = crop
    part = image[y0:y1, x0:x1]
    return Letterbox.fit(x1 - x0, y1 - y0, size).apply(part)


def write_jpeg(path: Path, image: np.ndarray, quality: int, chroma: JpegChroma) -> None:
    """Write a BGR image as JPEG at ``quality`` (1-100) and ``chroma`` sampling, with the runtime's patch
    encoder (directories created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.write_bytes(encode_jpeg(image, quality, chroma))
    except ValueError:
        raise UserError(f"{path}: JPEG encoding failed") from None


class ImageFolder:
    """Any ImageNet-style class-folder tree: ``classes`` (sorted folder names), ``class_to_idx``,
    ``samples`` [(path, class index)], and ``[i] -> (RGB uint8 image, class index)`` (after ``transform``).

    Same conventions as torchvision's ``ImageFolder`` (sorted classes, files sorted within a class), with
    no torchvision needed; it works as a ``torch.utils.data.Dataset`` as is.
    """

    def __init__(self, root: str | Path, transform: Callable[[np.ndarray], Any] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"{self.root}: image folder not found")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not self.classes:
            raise UserError(f"{self.root}: no class folders (expected <root>/<class>/<image>)")
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples: list[tuple[Path, int]] = []
        for cls in self.classes:
            files = sorted(p for p in (self.root / cls).rglob("*")
                           if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
            self.samples.extend((p, self.class_to_idx[cls]) for p in files)
        if not self.samples:
            raise UserError(f"{self.root}: no images in the class folders")
        self.targets = [t for _, t in self.samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        import cv2

        path, target = self.samples[i]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{path}: cannot read image")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return (self.transform(image) if self.transform else image), target

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        for i in range(len(self)):
            yield self[i]

    def counts(self) -> dict[str, int]:
        """Images per class."""
        out = {c: 0 for c in self.classes}
        for t in self.targets:
            out[self.classes[t]] += 1
        return out
