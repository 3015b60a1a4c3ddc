"""Training and evaluation inputs: patch sets and whole frames, letterboxed with
:class:`runtime.geometry.Letterbox` (the one inference transform), normalised to model tensors.

- :class:`PatchDetectionSet` — a COCO patch set (any number of splits) letterboxed to a square size; in
  training with random scale/placement, flip and brightness/contrast jitter.
- :class:`FrameCropSet` — whole frames for the full-frame baseline: each item rescales a frame to a random
  width (multi-scale) and cuts a random square crop of ``crop`` pixels.
- :func:`letterbox_frame` — a whole frame into a ``width``-wide canvas whose height is the smallest
  multiple of ``multiple`` that holds it (the square letterbox, cropped to its content rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from factory.data.imagenet import STORED_JPEG_CHROMA
from factory.data.patchset import PatchSet
from factory.models.loss import Targets
from runtime.coco import FrameAnnotations, load_coco
from runtime.errors import UserError
from runtime.geometry import Letterbox, boxes_to_rects, clip_boxes
from runtime.modes import JpegChroma
from runtime.patches.queue import encode_jpeg
from runtime.video import iter_frames, parse_frames

PAD_VALUE = 114


def to_tensor(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """RGB uint8 (H, W, 3) → normalised float tensor (3, H, W)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def make_targets(boxes_xywh: np.ndarray, labels: Sequence[str], crowd: np.ndarray, classes: Sequence[str],
                 min_side: float = 0.0) -> Targets:
    """Targets in input pixels from xywh boxes; labels outside ``classes`` and boxes whose longer side is
    below ``min_side`` become ignore regions."""
    boxes = np.asarray(boxes_xywh, dtype=np.float32).reshape(-1, 4)
    index = {c: i for i, c in enumerate(classes)}
    lab = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    ign = np.asarray(crowd, dtype=bool).reshape(-1) | (lab < 0) | (np.maximum(boxes[:, 2], boxes[:, 3]) < min_side)
    return Targets(torch.from_numpy(boxes_to_rects(boxes)), torch.from_numpy(np.maximum(lab, 0)),
                   torch.from_numpy(ign))


def collate(batch: list[tuple[torch.Tensor, Targets]]) -> tuple[torch.Tensor, list[Targets]]:
    """Stack images, keep targets as a list."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def _photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    alpha = rng.uniform(0.75, 1.25)
    beta = rng.uniform(-25, 25)
    return np.clip(image.astype(np.float32) * alpha + beta, 0, 255).astype(np.uint8)


def _flip(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boxes = boxes.copy()
    boxes[:, 0] = image.shape[1] - boxes[:, 0] - boxes[:, 2]
    return np.ascontiguousarray(image[:, ::-1]), boxes


class PatchDetectionSet(Dataset):
    """Patch-set splits letterboxed into ``size`` × ``size`` with targets for the given ``classes``."""

    def __init__(self, splits: Sequence[str | Path], classes: Sequence[str], size: int, mean: Sequence[float],
                 std: Sequence[float], train: bool, seed: int = 0) -> None:
        self.sets = [PatchSet(s) for s in splits]
        self.index = [(k, i) for k, s in enumerate(self.sets) for i in range(len(s))]
        if not self.index:
            raise UserError(f"patch sets {', '.join(map(str, splits))}: no images")
        self.classes, self.size, self.mean, self.std, self.train = list(classes), int(size), mean, std, train
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.index)

    def letterbox(self, w: int, h: int) -> Letterbox:
        """The letterbox of a ``w`` × ``h`` patch (jittered in scale and placement when training)."""
        lb = Letterbox.fit(w, h, self.size)
        if not self.train:
            return lb
        scale = lb.scale * self.rng.uniform(0.7, 1.0)
        nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        return Letterbox(w, h, self.size, scale, int(self.rng.integers(0, self.size - nw + 1)),
                         int(self.rng.integers(0, self.size - nh + 1)))

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Targets]:
        k, j = self.index[i]
        image, ann, _ = self.sets[k][j]
        boxes = ann.boxes
        if self.train:
            if self.rng.random() < 0.5:
                image, boxes = _flip(image, boxes)
            image = _photometric(image, self.rng)
        lb = self.letterbox(image.shape[1], image.shape[0])
        x = to_tensor(lb.apply(image, PAD_VALUE), self.mean, self.std)
        return x, make_targets(lb.boxes_to_input(boxes), ann.labels, ann.iscrowd, self.classes)


@dataclass
class Frame:
    """One stored frame: JPEG bytes (BGR encoded) and its annotations."""

    jpeg: bytes
    ann: FrameAnnotations
    source: str
    index: int

    def image(self) -> np.ndarray:
        """The frame as RGB uint8."""
        return cv2.cvtColor(cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def load_frames(video: str | Path, annotations: str | Path, frames: str | None = None, step: int = 1,
                quality: int = 92, chroma: JpegChroma = STORED_JPEG_CHROMA) -> tuple[list[Frame], int, int, list[str]]:
    """Annotated frames of a video (in ``frames``, every ``step``-th), kept in memory as JPEG at ``quality`` and
    ``chroma`` sampling; returns the frames, the frame width and height, and the categories."""
    gt = load_coco(annotations)
    wanted = parse_frames(frames, f"{annotations}: frames")
    ids = [f for f in gt.frame_ids if wanted is None or f in wanted][::step]
    out = []
    if ids:
        for fid, bgr in iter_frames(video, ids):
            out.append(Frame(encode_jpeg(bgr, quality, chroma), gt.frames[fid], str(video), fid))
    return out, gt.width, gt.height, gt.categories


class FrameCropSet(Dataset):
    """Multi-scale random square crops of whole frames (the baseline's training set).

    Each item scales its frame so that the frame width is uniform in ``widths`` = (min, max) pixels, then
    cuts a random ``crop`` × ``crop`` window (padded where the scaled frame is smaller). Objects less than
    half inside the window, and objects whose longer side ends up below ``min_side`` pixels, are ignore
    regions.
    """

    def __init__(self, frames: list[Frame], classes: Sequence[str], crop: int, widths: tuple[int, int],
                 mean: Sequence[float], std: Sequence[float], min_side: float = 4.0, seed: int = 0) -> None:
        if not frames:
            raise UserError("full-frame training set: no frames")
        self.frames, self.classes, self.crop, self.widths = frames, list(classes), int(crop), widths
        self.mean, self.std, self.min_side = mean, std, min_side
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, Targets]:
        fr = self.frames[i]
        image = fr.image()
        h, w = image.shape[:2]
        boxes = clip_boxes(fr.ann.boxes, w, h)
        if self.rng.random() < 0.5:
            image, boxes = _flip(image, boxes)
        scale = self.rng.uniform(*self.widths) / w
        sw, sh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
        image = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        c = self.crop
        x0 = int(self.rng.integers(0, max(sw - c, 0) + 1))
        y0 = int(self.rng.integers(0, max(sh - c, 0) + 1))
        canvas = np.full((c, c, 3), PAD_VALUE, np.uint8)
        part = image[y0:y0 + c, x0:x0 + c]
        canvas[:part.shape[0], :part.shape[1]] = part
        canvas = _photometric(canvas, self.rng)
        boxes = boxes * scale
        boxes[:, 0] -= x0
        boxes[:, 1] -= y0
        inside = clip_boxes(boxes, min(c, sw - x0), min(c, sh - y0))
        area = boxes[:, 2] * boxes[:, 3]
        visible = np.where(area > 0, inside[:, 2] * inside[:, 3] / np.maximum(area, 1e-9), 0.0)
        keep = visible > 0
        crowd = fr.ann.iscrowd | (visible < 0.5)
        labels = [label for label, k in zip(fr.ann.labels, keep, strict=False) if k]
        t = make_targets(inside[keep], labels, crowd[keep], self.classes, self.min_side)
        return to_tensor(canvas, self.mean, self.std), t


def letterbox_frame(image: np.ndarray, width: int, multiple: int) -> tuple[np.ndarray, Letterbox]:
    """``image`` letterboxed to ``width`` pixels wide and the smallest multiple of ``multiple`` high that
    holds it (a portrait image: the other way round); returns the canvas and its Letterbox (boxes map back
    with ``boxes_to_source``)."""
    h, w = image.shape[:2]
    square = Letterbox.fit(w, h, width)
    canvas = square.apply(image, PAD_VALUE)
    nw, nh = square.content_size
    ch = min(width, -(-nh // multiple) * multiple)
    cw = min(width, -(-nw // multiple) * multiple)
    y0, x0 = (width - ch) // 2, (width - cw) // 2
    y0 = min(y0, square.pad_y)
    x0 = min(x0, square.pad_x)
    lb = dataclasses.replace(square, pad_x=square.pad_x - x0, pad_y=square.pad_y - y0)
    return canvas[y0:y0 + ch, x0:x0 + cw], lb

