"""``paraloupe-world --out DIR --seed N --frames N --size WxH --camera static|moving --fps F [--preview]``.

Writes ``DIR/video.mp4`` and ``DIR/annotations.json`` (COCO, image id = frame index, categories 1 person,
2 vehicle, ``track_id`` and ``occluded`` per box); ``--preview`` adds ``DIR/preview.png``, a contact sheet
with the ground-truth boxes. Difficulty knobs come from ``--scene FILE`` (a YAML mapping of
``SceneConfig`` keys, e.g. the ``world.scene`` section of params.yaml) or the defaults (the benchmark).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import cv2

from factory.world.config import SceneConfig, VideoSpec
from factory.world.generate import write_world
from runtime.config import from_mapping, read_yaml
from runtime.errors import cli_entry, run_cli
from runtime.video import parse_size


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-world", description="Generate a synthetic street video.")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="960x540", help="frame size WxH in pixels")
    parser.add_argument("--camera", choices=("static", "moving"), default="static")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--switch-layout-at", type=int, default=None, help="frame at which the scene layout changes")
    parser.add_argument("--scene", default=None, help="YAML file of scene knobs (SceneConfig keys)")
    parser.add_argument("--preview", action="store_true", help="also write preview.png with the boxes drawn")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # generation runs on one core; its speed figures are one-core figures
    width, height = parse_size(args.size)
    scene = from_mapping(SceneConfig, read_yaml(args.scene) if args.scene else {}, args.scene or "scene")
    spec = VideoSpec(args.seed, args.frames, width, height, args.fps, args.camera, args.switch_layout_at)
    spec.validate("arguments")
    stats = write_world(args.out, spec, scene, preview=args.preview)
    print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v) for k, v in stats.items()}))
    return 0


if __name__ == "__main__":
    run_cli(main)
