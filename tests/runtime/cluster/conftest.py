"""Fixtures of the cluster tests: a tiny real ncnn bundle (pnnx export, once per session) and a tiny video."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pnnx")
    from tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame synthetic street video at 480×270 (the world generator, seed 301 as the test video)."""
    from factory.world.config import SceneConfig, VideoSpec
    from factory.world.generate import write_world

    out = tmp_path_factory.mktemp("video")
    write_world(out, VideoSpec(seed=301, frames=12, width=480, height=270, fps=10.0), SceneConfig())
    return out / "video.mp4"
