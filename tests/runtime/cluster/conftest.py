"""Fixtures of the cluster tests: a tiny real ncnn bundle (pnnx export, once per session) and a tiny video."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[3]
WORLD = REPO / "models" / "world" / "test-static" / "video.mp4"


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pnnx")
    from tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 12 frames of the world test video at 480×270."""
    if not WORLD.exists():
        pytest.skip(f"{WORLD} is absent (world videos not generated)")
    out = tmp_path_factory.mktemp("video") / "tiny.mp4"
    cap = cv2.VideoCapture(str(WORLD))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (480, 270))
    for _ in range(12):
        ok, frame = cap.read()
        assert ok
        writer.write(cv2.resize(frame, (480, 270), interpolation=cv2.INTER_AREA))
    writer.release()
    cap.release()
    return out
