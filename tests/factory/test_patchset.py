"""Patch set and ImageNet-style set from a small synthetic COCO video: geometry, O(I) < 0.5, determinism,
folder layout and loaders, the datasets stage, bad input."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from factory.data.builder import Source, build_split
from factory.data.complexity import complexity
from factory.data.imagenet import ImageFolder, ImagenetParams
from factory.data.patchset import PatchParams, PatchSet
from runtime.coco import VideoAnnotations, frames_from_boxes, load_coco, write_coco
from runtime.errors import UserError
from runtime.geometry import boxes_to_rects, clip_boxes
from runtime.modes import JpegChroma

W, H, N = 240, 160, 12


def make_video(root: Path) -> Source:
    """A 240×160, 12-frame mp4v video of coloured boxes on noise, with its COCO annotations."""
    import cv2

    rng = np.random.default_rng(7)
    objects = [("person", 20, 30, 14, 34, 3), ("person", 150, 90, 12, 30, -2), ("vehicle", 60, 100, 50, 26, 4),
               ("vehicle", 170, 20, 40, 22, -3), ("person", 100, 40, 5, 6, 1)]  # the last is tiny
    writer = cv2.VideoWriter(str(root / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    per_frame = []
    for f in range(N):
        frame = rng.integers(60, 90, size=(H, W, 3), dtype=np.uint8)
        dets = []
        for k, (label, x, y, w, h, vx) in enumerate(objects):
            x = x + vx * f
            frame[y:y + h, max(x, 0):x + w] = (40 * k, 200, 255 - 40 * k)
            dets.append(([float(x), float(y), float(w), float(h)], label, 1.0))
        writer.write(frame)
        per_frame.append((f, dets))
    writer.release()
    frames = frames_from_boxes(per_frame)
    for f in frames.values():  # one crowd region per frame, overlapping the first person
        f.iscrowd[0] = f.boxes[0, 0] > 40
    write_coco(root / "annotations.json", VideoAnnotations(["person", "vehicle"], frames, W, H))
    return Source(str(root / "video.mp4"), str(root / "annotations.json"))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    return make_video(tmp_path_factory.mktemp("video"))


PATCHES = PatchParams(frame_step=2, r_range=[0.5, 0.9], r_sampling="uniform", min_object_side=8, tiles_per_video=0,
                      seeded_per_video=0)
IMAGENET = ImagenetParams(frame_step=2, background_per_video=10, min_object_side=10)


def build(root: Path, source: Source, seed: int = 0) -> dict:
    return build_split("train", [source], root / "patches", root / "imagenet", PATCHES, IMAGENET, seed)


def test_patch_geometry_and_annotations(tmp_path: Path, source: Source) -> None:
    metrics = build(tmp_path, source)
    video = load_coco(source.annotations)
    data = json.loads((tmp_path / "patches" / "annotations.json").read_text())
    assert data["images"] and metrics["patches"] == len(data["images"])
    by_image: dict[int, list[dict]] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    for entry in data["images"]:
        x0, y0, x1, y1 = entry["patch"]
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
        assert 0.5 <= entry["r"] <= 0.9
        assert entry["r_actual"] >= 0.5 - 0.02 and abs(entry["r_actual"] - entry["r"]) < 0.1
        fa = video.frames[entry["frame"]]
        boxes = clip_boxes(fa.boxes, W, H)
        rects = boxes_to_rects(boxes)
        inside = ((np.minimum(rects[:, 2], x1) - np.maximum(rects[:, 0], x0)).clip(0)
                  * (np.minimum(rects[:, 3], y1) - np.maximum(rects[:, 1], y0)).clip(0))
        visible = inside / (boxes[:, 2] * boxes[:, 3])
        centre = [i for i in range(len(fa)) if visible[i] > 0.97 and not fa.iscrowd[i]]
        assert centre, "the centre object lies inside its patch"
        anns = by_image.get(entry["id"], [])
        normal = [a for a in anns if not a["iscrowd"]]
        assert len(normal) == int(((visible >= PATCHES.min_visible) & ~fa.iscrowd).sum())
        assert len(anns) == int((inside > 0).sum())
        for a in anns:
            x, y, w, h = a["bbox"]
            assert x >= -0.01 and y >= -0.01 and x + w <= x1 - x0 + 0.01 and y + h <= y1 - y0 + 0.01
    assert metrics["patches_O"]["mean"] < 0.5
    assert metrics["frames_O"]["mean"] > metrics["patches_O"]["mean"]
    # the tiny object (5x6 px, below min_object_side) is never a crop centre: its patch would be < 60 px²
    assert min((e["patch"][2] - e["patch"][0]) * (e["patch"][3] - e["patch"][1]) for e in data["images"]) > 150
    assert any(a["iscrowd"] for a in data["annotations"])
    assert metrics["patch_centres"]["person"] + metrics["patch_centres"]["vehicle"] == len(data["images"])


def test_log_r_sampling_and_random_tiles(tmp_path: Path, source: Source) -> None:
    params = PatchParams(frame_step=2, r_range=[0.05, 1.0], r_sampling="log", min_object_side=8,
                         tiles_per_video=20, tile_width=[0.25, 0.5], seeded_per_video=0)
    metrics = build_split("train", [source], tmp_path / "p", tmp_path / "i", params, IMAGENET, 0)
    data = json.loads((tmp_path / "p" / "annotations.json").read_text())
    tiles = [e for e in data["images"] if e["label"] == "tile"]
    centred = [e for e in data["images"] if e["label"] != "tile"]
    assert len(tiles) == metrics["tiles"] == 20
    for e in tiles:
        x0, y0, x1, y1 = e["patch"]
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H and 0.25 * W - 1 <= x1 - x0 <= 0.5 * W + 1
    rs = np.array([e["r"] for e in centred])
    assert rs.min() >= 0.05 and rs.max() <= 1.0
    assert np.median(rs) < 0.4  # log-uniform: the median is near sqrt(0.05) = 0.22, not 0.52
    with pytest.raises(UserError, match="r_sampling"):
        from runtime.config import from_mapping
        from_mapping(PatchParams, {"r_sampling": "cubic"}, "datasets.patches")


def test_loaders_read_back(tmp_path: Path, source: Source) -> None:
    build(tmp_path, source)
    patches = PatchSet(tmp_path / "patches")
    image, target, entry = patches[0]
    assert image.shape == (entry["height"], entry["width"], 3) and image.dtype == np.uint8
    assert patches.categories == ["person", "vehicle"]
    assert complexity(target.boxes, entry["width"], entry["height"], target.iscrowd) is not None
    folder = ImageFolder(tmp_path / "imagenet")
    assert folder.classes == ["background", "person", "vehicle"]
    counts = folder.counts()
    assert all(counts[c] > 0 for c in folder.classes), counts
    image, label = folder[len(folder) - 1]
    assert image.shape == (64, 64, 3) and folder.classes[label] == "vehicle"
    with pytest.raises(UserError, match="image folder not found"):
        ImageFolder(tmp_path / "nowhere")


def luma_sampling(jpeg: bytes) -> int:
    """The first component's sampling factors byte of a baseline JPEG's SOF0 header (0x11 = one luma sample per
    chroma sample: 4:4:4; 0x22: 4:2:0)."""
    at = jpeg.index(b"\xff\xc0")
    return jpeg[at + 11]


def chromas(folder: Path) -> set[int]:
    files = sorted(folder.rglob("*.jpg"))
    assert files
    return {luma_sampling(f.read_bytes()) for f in files}


def test_stored_images_chroma(tmp_path: Path, source: Source) -> None:
    build(tmp_path, source)  # defaults: 4:2:0, as ImageNet's JPEGs
    assert chromas(tmp_path / "patches" / "images") == {0x22} and chromas(tmp_path / "imagenet") == {0x22}
    build_split("train", [source], tmp_path / "p", tmp_path / "i",
                dataclasses.replace(PATCHES, jpeg_chroma=JpegChroma.FULL),
                dataclasses.replace(IMAGENET, jpeg_chroma=JpegChroma.HALF), 0)
    assert chromas(tmp_path / "p" / "images") == {0x11} and chromas(tmp_path / "i") == {0x22}


def test_deterministic_per_seed(tmp_path: Path, source: Source) -> None:
    build(tmp_path / "a", source, seed=3)
    build(tmp_path / "b", source, seed=3)
    build(tmp_path / "c", source, seed=4)
    read = lambda d: (d / "patches" / "annotations.json").read_text()  # noqa: E731
    assert read(tmp_path / "a") == read(tmp_path / "b") != read(tmp_path / "c")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jpg"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.jpg"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_datasets_stage(tmp_path: Path, source: Source, monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.stages.datasets import DatasetsParams, run

    monkeypatch.setenv("PARALOUPE_TRACKING", "off")
    missing = Source(str(tmp_path / "absent.avi"), str(tmp_path / "absent.json"), "0:500", optional=True)
    params = DatasetsParams(out_dir=str(tmp_path / "out"), train=[source, missing], val=[source],
                            patches=PATCHES, imagenet=IMAGENET)
    metrics = run(params)
    out = tmp_path / "out"
    assert json.loads((out / "metrics.json").read_text())["train"]["patches"] == metrics["train"]["patches"]
    assert metrics["train"]["sources_skipped"][0]["source"].endswith("absent.json")
    for split in ("train", "val"):
        assert (out / "patches" / split / "annotations.json").is_file()
        assert {p.name for p in (out / "imagenet" / split).iterdir()} == {"person", "vehicle", "background"}
    assert not list(out.glob(".building-*"))
    params.train = [Source(str(tmp_path / "absent.avi"), source.annotations)]
    with pytest.raises(UserError, match="absent.avi"):
        run(params)
    assert (out / "patches" / "train" / "annotations.json").is_file()  # the previous complete set stays


def test_large_objects_are_crop_centres_on_every_frame(tmp_path: Path, source: Source) -> None:
    from factory.data.patchset import large_pairs, plan_crops

    video = load_coco(source.annotations)
    params = PatchParams(frame_step=4, tiles_per_video=0, large_object_side=40.0)
    pairs = large_pairs(video, None, params)
    # the two vehicles (50 and 40 px long) on the 9 frames step 4 skips; no person is that long
    assert {i for _, i in pairs} == {2, 3} and {f for f, _ in pairs} == set(range(N)) - {0, 4, 8}
    plain = plan_crops(video, None, PatchParams(frame_step=4, tiles_per_video=0), np.random.default_rng(0))
    more = plan_crops(video, None, params, np.random.default_rng(0))
    assert len(more) == len(plain) + len(pairs)
    assert [c.frame for c in more] == sorted(c.frame for c in more)
