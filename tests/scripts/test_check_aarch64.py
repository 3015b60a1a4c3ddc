"""scripts/check-aarch64: its pure parts (box matching, parity figures, device choice, the one-line
prerequisite error) always; the whole check under qemu only when asked for (marker ``aarch64``, env
``PARALOUPE_CHECK_AARCH64=1``) and its cached root file system exists — it takes many minutes."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-aarch64"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("check_aarch64", str(SCRIPT))
    spec = importlib.util.spec_from_loader("check_aarch64", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


check = _load()
#: Read before the autouse fixture moves $HOME (tests/conftest.py).
CACHE = check.default_cache()


def test_match_boxes_pairs_same_label_closest() -> None:
    a = [([10.0, 10.0, 5.0, 5.0], "person", 0.9), ([50.0, 50.0, 8.0, 8.0], "vehicle", 0.7)]
    b = [([50.0, 50.0005, 8.0, 8.0], "vehicle", 0.71), ([10.0002, 10.0, 5.0, 5.0], "person", 0.9)]
    pairs, box_diff, score_diff = check.match_boxes(a, b)
    assert pairs == 2
    assert box_diff == pytest.approx(5e-4)
    assert score_diff == pytest.approx(0.01)
    assert check.match_boxes(a[:1], [([10.0, 10.0, 5.0, 5.0], "vehicle", 0.9)])[0] == 0  # labels differ


def test_parity_of_counts_f1_and_labels() -> None:
    x86 = {0: [([10.0, 10.0, 20.0, 20.0], "person", 0.9)], 1: [([100.0, 40.0, 30.0, 20.0], "vehicle", 0.8)]}
    same = check.parity_of(x86, x86)
    assert same["labels_equal"] and same["f1"] == 1.0 and same["max_box_diff_px"] == 0.0
    arm = {0: x86[0], 1: [], 2: [([1.0, 1.0, 2.0, 2.0], "person", 0.6)]}
    diff = check.parity_of(x86, arm)
    assert diff["keys_compared"] == 2 and diff["only_arm"] == 1
    assert not diff["labels_equal"]
    assert diff["f1"] == pytest.approx(2 / 3)  # 1 TP, 0 FP, 1 FN over the frames in both


def test_precision_devices_prefers_host(tmp_path: Path) -> None:
    devices = {"host": {"precision": "fp32"}, "snapdragon-732g": {"precision": "fp16"},
               "jetson-xavier-nx": {"precision": "fp16"}, "raspberry-pi-4b": {"precision": "int8"}}
    (tmp_path / "manifest.json").write_text(json.dumps({"devices": devices}))
    assert check.precision_devices(tmp_path, ["fp32", "fp16", "int8", "bf16"]) == {
        "fp32": "host", "fp16": "jetson-xavier-nx", "int8": "raspberry-pi-4b"}


def test_not_root_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(check.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(check.platform, "machine", lambda: "x86_64")
    assert check.main(["--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing prerequisite: root" in err


@pytest.mark.aarch64
@pytest.mark.slow
def test_check_aarch64_end_to_end(tmp_path: Path) -> None:
    """The whole check (``PARALOUPE_CHECK_AARCH64=1``; bundle and world folder from
    ``PARALOUPE_AARCH64_BUNDLE`` / ``PARALOUPE_AARCH64_WORLD``, default models/bundle, models/world/test-moving)."""
    if os.environ.get("PARALOUPE_CHECK_AARCH64") != "1":
        pytest.skip("opt-in: set PARALOUPE_CHECK_AARCH64=1 (runs qemu-emulated aarch64 for many minutes)")
    if not (CACHE / "rootfs.ok").exists():
        pytest.skip(f"no cached aarch64 root file system at {CACHE} (run `sudo scripts/check-aarch64` once)")
    if os.geteuid() != 0:
        pytest.skip("needs root (mount, chroot)")
    bundle = Path(os.environ.get("PARALOUPE_AARCH64_BUNDLE", REPO / "models" / "bundle"))
    world = Path(os.environ.get("PARALOUPE_AARCH64_WORLD", REPO / "models" / "world" / "test-moving"))
    if not (bundle / "manifest.json").exists() or not (world / "video.mp4").exists():
        pytest.skip(f"no bundle at {bundle} or no video at {world} (dvc repro, or set PARALOUPE_AARCH64_BUNDLE/WORLD)")
    res = subprocess.run([sys.executable, str(SCRIPT), "--bundle", str(bundle), "--world", str(world),
                          "--cache-dir", str(CACHE), "--out-dir", str(tmp_path / "out"),
                          "--host-python", str(Path(sys.executable))],
                         capture_output=True, text=True, timeout=3 * 3600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["pass"] and set(report["parity"]) == {"fp32", "fp16", "int8"}
