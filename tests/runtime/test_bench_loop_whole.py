"""``paraloupe-bench loop`` in a whole-frame mode runs the baseline it names on every frame, also with --devices
(the emulated cluster's scheduler must not swap in another export of the same network, e.g. the 320 side's int8
file at side 960)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runtime.bench.loop import main
from runtime.bundle import write_manifest
from runtime.errors import UserError
from runtime.frame_plan import WHOLE_FRAME


def _two_baselines(tiny_bundle: Path, folder: Path) -> Path:
    """The tiny bundle plus a second baseline entry (same files, side 96) that every device runs faster."""
    bundle = folder / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    data = json.loads((bundle / "manifest.json").read_text())
    data["models"]["baseline-96-fp32"] = {**data["models"]["baseline-160-fp32"], "input_size": 96}
    for profile in data["profiles"].values():
        profile["models"]["baseline-96-fp32"] = {**profile["models"]["baseline-160-fp32"], "latency_ms": 1.0}
    for device in data["devices"].values():
        device["serves"].append("baseline-96-fp32")
    data.pop("checksum")
    write_manifest(bundle, data)
    return bundle


def test_whole_frame_mode_runs_the_named_baseline_with_devices(tiny_bundle: Path, tiny_video: Path,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    import runtime.bench.loop as bench_loop

    bundle = _two_baselines(tiny_bundle, tmp_path)
    gt = tiny_video.parent / "annotations.json"
    out = tmp_path / "out.json"
    seen: list[int] = []
    replay = bench_loop._run
    monkeypatch.setattr(bench_loop, "_run", lambda args: (seen.append(cv2.getNumThreads()), replay(args))[1])
    before = cv2.getNumThreads()
    cv2.setNumThreads(2)  # a multi-threaded OpenCV, whatever this host's default
    main(["--bundle", str(bundle), "--video", str(tiny_video), "--gt", str(gt), "--mode", "baseline",
          "--baseline", "baseline-160-fp32", "--devices", "raspberry-pi-4b,raspberry-pi-4b", "--json", str(out)])
    figures = json.loads(out.read_text())
    assert figures["baseline"] == "baseline-160-fp32" and figures["side"] == 160
    assert figures["entries_per_model"] == {"baseline-160-fp32": figures["frames"]}
    after = cv2.getNumThreads()
    cv2.setNumThreads(before)
    assert seen == [1] and after == 2  # timed on one OpenCV thread, the setting restored


def test_mini_must_name_a_mini_model(tiny_bundle: Path, tiny_video: Path) -> None:
    gt = tiny_video.parent / "annotations.json"
    with pytest.raises(UserError, match="--mini: 'baseline-160-fp32' is not a mini model"):
        main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--gt", str(gt), "--mini",
              "baseline-160-fp32"])


def test_out_lines_carry_each_frames_patches_as_a_client_writes_them(tiny_bundle: Path, tiny_video: Path,
                                                                     tmp_path: Path) -> None:
    gt = tiny_video.parent / "annotations.json"
    out = tmp_path / "pred.jsonl"
    main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--gt", str(gt), "--mode", "baseline",
          "--out", str(out)])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(len(line["patch_rects"]) == 1 for line in lines)  # the whole frame, one entry a frame
    x0, y0, x1, y1, kind = lines[0]["patch_rects"][0]
    assert (x0, y0) == (0, 0) and x1 > x0 and y1 > y0 and kind == WHOLE_FRAME
