"""Shared test fixtures: where ../shared is, a marker-aware skip when it is absent, and a tiny real ncnn bundle
(pnnx export, once per session) with a tiny world video for the cluster, runtime and report tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PARALOUPE_SHARED", REPO.parent / "shared"))
VTEST = SHARED / "data" / "vtest"
TEACHER = SHARED / "models" / "teacher" / "centernet.onnx"

needs_shared = pytest.mark.skipif(not (VTEST / "vtest.avi").exists(),
                                  reason=f"../shared is absent ({SHARED}): real-video tests need it")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tools that write into $HOME (NNI, MLflow) inside a temp folder and tracking off by default."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("PARALOUPE_TRACKING", os.environ.get("PARALOUPE_TEST_TRACKING", "off"))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny bundle of tests/runtime/cluster/tiny_bundle.py (untrained, deterministic)."""
    pytest.importorskip("pnnx")
    from tests.runtime.cluster.tiny_bundle import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("bundle"))


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12-frame synthetic street video at 480×270 (the world generator, seed 301 as the test video);
    its ground truth is ``annotations.json`` beside it."""
    from factory.world.config import SceneConfig, VideoSpec
    from factory.world.generate import write_world

    out = tmp_path_factory.mktemp("video")
    write_world(out, VideoSpec(seed=301, frames=12, width=480, height=270, fps=10.0), SceneConfig())
    return out / "video.mp4"
