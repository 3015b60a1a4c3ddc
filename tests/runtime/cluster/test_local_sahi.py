"""``--mode sahi`` on a loopback cluster through the CLI: SAHI's slices and whole frame go to the master, which
places them over the servers' baseline; one merged prediction line per frame, per-frame latency measured like
every other mode. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

from runtime.cli.run import main
from runtime.sahi import slice_rects


def test_cli_local_2_sahi_end_to_end(tiny_bundle: Path, tiny_video: Path, tmp_path: Path) -> None:
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    code = main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames", "0:4",
                 "--mode", "sahi", "--out", str(out), "--summary", str(summary), "--quiet",
                 "--workdir", str(tmp_path / "work")])
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(4))
    slices = [[*r, "keyframe"] for r in slice_rects(480, 270, 160, 160).tolist()]  # the tiny baseline's side
    assert len(slices) == 8  # 4 columns x 2 rows of 160 px at 20 % overlap
    for line in lines:
        assert line["patch_rects"] == slices + [[0, 0, 480, 270, "frame"]] and line["patches"] == 9
        assert line["latency_ms"] > 0 and len(line["detections"]) > 0  # the untrained model always finds something
    s = json.loads(summary.read_text())
    assert s["mode"] == "sahi" and s["frames"] == 4 and s["frames_dropped"] == 0 and s["patches_per_frame"] == 9
    assert set(s["patches_per_device"]) == {"server-0", "server-1"}  # the master spread the slices
    assert not {"master_fallbacks", "assign_failed", "local_patches"} & set(s["counters"])
