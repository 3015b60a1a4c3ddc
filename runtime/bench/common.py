"""What several ``paraloupe-bench`` commands share: the scene arguments (a video or a synthetic scene) and how
a result is reported (table on stderr, JSON on stdout and optionally in a file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runtime.atomic import write_json
from runtime.errors import UserError


def add_scene_args(parser: argparse.ArgumentParser, video_help: str, resize_help: str, synthetic_help: str,
                   seed_help: str) -> None:
    """``--video``, ``--frames``, ``--resize`` (a video) or ``--frames-synthetic``, ``--seed`` (the synthetic
    scene)."""
    parser.add_argument("--video", default=None, help=video_help)
    parser.add_argument("--frames", default=None, help="frame range A:B or A:B:S of the video (default all)")
    parser.add_argument("--resize", default="960x540", help=resize_help)
    parser.add_argument("--frames-synthetic", type=int, default=300, help=synthetic_help)
    parser.add_argument("--seed", type=int, default=0, help=seed_help)


def add_config_args(parser: argparse.ArgumentParser, section: str) -> None:
    """``--config`` / ``--set`` for the config ``section`` and ``--json``."""
    parser.add_argument("--config", default=None, help=f"YAML with a '{section}' section (or the section itself)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--json", default=None, help="also write the JSON report here")


def check_synthetic_frames(frames: int, warmup: int) -> None:
    """A synthetic scene needs more frames than the warm-up (one-line error otherwise)."""
    if frames < warmup + 1:
        raise UserError(f"--frames-synthetic must be > {warmup}")


def report(result: dict[str, Any], table: str, json_path: str | None) -> None:
    """``table`` on stderr, ``result`` as JSON on stdout and, when asked, written to ``json_path``."""
    print(table, file=sys.stderr)
    print(json.dumps(result))
    if json_path:
        write_json(json_path, result)


def folder_video(folder: Path) -> tuple[str, list[str]]:
    """(name, ``paraloupe-bench loop`` video arguments) of a video folder (``video.mp4`` + ``annotations.json``);
    a missing file is a one-line error."""
    for needed in ("video.mp4", "annotations.json"):
        if not (folder / needed).is_file():
            raise UserError(f"{folder}: no {needed}")
    return folder.name, ["--video", str(folder / "video.mp4"), "--gt", str(folder / "annotations.json")]


def real_video(real: str, real_gt: str | None, frames: str) -> tuple[str, list[str]]:
    """(name, ``paraloupe-bench loop`` video arguments) of a real video's frame range ``A:B`` (``--real``)."""
    if not real_gt:
        raise UserError("--real-gt: required with --real")
    return f"{Path(real).stem}[{frames}]", ["--video", real, "--gt", real_gt, "--frames", frames]
