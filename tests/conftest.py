"""Shared test fixtures: where ../shared is, and a marker-aware skip when it is absent."""

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
