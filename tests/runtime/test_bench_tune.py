"""``paraloupe-bench tune``: the tuning set (val* videos, a real video's training range) and never a test video."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.bench import tune
from runtime.errors import UserError


def _video(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "video.mp4").write_bytes(b"")
    (folder / "annotations.json").write_text("{}")
    return folder


def _args(*argv: str):  # noqa: ANN202 - argparse namespace
    return tune._parser().parse_known_args(["--bundle", "B", *argv])[0]


def test_the_world_val_videos_and_the_real_training_range(tmp_path: Path) -> None:
    for name in ("val-static", "val-moving-2", "test-static", "train-static"):
        _video(tmp_path / name)
    videos = tune.tuning_videos(_args("--world", str(tmp_path), "--real", "v.avi", "--real-gt", "g.json",
                                      "--real-frames", "200:500"))
    assert [n for n, _ in videos] == ["val-moving-2", "val-static", "v[200:500]"]
    assert videos[-1][1] == ["--video", "v.avi", "--gt", "g.json", "--frames", "200:500"]


def test_test_videos_are_refused(tmp_path: Path) -> None:
    test = _video(tmp_path / "test-moving")
    with pytest.raises(UserError, match="test-moving: a test video is never tuned on"):
        tune.tuning_videos(_args("--videos", str(test)))
    with pytest.raises(UserError, match="--real-frames 400:600: must end by frame 500"):
        tune.tuning_videos(_args("--real", "v.avi", "--real-gt", "g.json", "--real-frames", "400:600"))
    with pytest.raises(UserError, match="--real-gt: required"):
        tune.tuning_videos(_args("--real", "v.avi"))
    with pytest.raises(UserError, match="no tuning videos"):
        tune.tuning_videos(_args("--world", str(tmp_path / "empty")))
    with pytest.raises(UserError, match="no annotations.json"):
        (tmp_path / "val-x").mkdir()
        (tmp_path / "val-x" / "video.mp4").write_bytes(b"")
        tune.tuning_videos(_args("--videos", str(tmp_path / "val-x")))


def test_runs_the_loop_on_every_video_and_prints_the_mean(tiny_bundle: Path, tiny_video: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tune.json"
    assert tune.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--jobs", "1",
                      "--json", str(out), "--frames", "0:4"]) == 0
    data = json.loads(out.read_text())
    (name, row), = data["videos"].items()
    assert name == tiny_video.parent.name and row["frames"] == 4
    assert data["mean_f1"] == pytest.approx(row["f1"]) and data["options"] == ["--frames", "0:4"]
    assert "mean" in capsys.readouterr().out


def test_per_mini_runs_the_scheduler_and_every_served_mini_pinned(tiny_bundle: Path, tiny_video: Path,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "per-mini.json"
    assert tune.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--jobs", "1", "--per-mini",
                      "--json", str(out), "--frames", "0:3", "--devices", "raspberry-pi-4b"]) == 0
    data = json.loads(out.read_text())
    assert list(data["f1"]) == ["scheduler", "tiny-64-fp32", "tiny-96-fp32"]
    assert all(0 <= f <= 1 for row in data["f1"].values() for f in row.values())
    assert "choice (within 0.01)" in capsys.readouterr().out
    assert data["choice"]["mean"] == tune.cheapest_within(data["mean_f1"], 0.01)
    with pytest.raises(UserError, match="--per-mini: give --devices"):
        tune.main(["--bundle", str(tiny_bundle), "--videos", str(tiny_video.parent), "--per-mini"])


def test_a_camera_gets_the_smallest_mini_within_the_tolerance_of_the_best() -> None:
    f1 = {tune.SCHEDULER: 0.901, "m160": 0.901, "m240": 0.904, "m320": 0.900}  # the fresh build's vtest [200, 500)
    assert tune.cheapest_within(f1, 0.01) == "m160"
    assert tune.cheapest_within(f1, 0.0) == "m240"
    assert tune.cheapest_within({tune.SCHEDULER: 0.90, "m160": 0.85, "m240": 0.88}, 0.01) == tune.SCHEDULER
    assert tune.cheapest_within({tune.SCHEDULER: 0.80, "m160": 0.85, "m240": 0.90}, 0.03) == "m240"
    with pytest.raises(UserError, match="tolerance: expected an F1 difference >= 0"):
        tune.cheapest_within(f1, -0.01)
