"""End to end on loopback: ``--cluster local:2`` through the CLI; kill -9 of a server mid-run (no frame lost,
the server removed at its disconnection, back after a restart) and a hung server (SIGSTOP: removed after
missed heartbeats, its patches rescheduled). No timing assertions."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from runtime.bundle import load_manifest
from runtime.cli.run import main
from runtime.cluster.client import Client
from runtime.cluster.config import ClientSection, ClusterConfig, MasterSection
from runtime.cluster.local import LocalCluster
from runtime.video import iter_frames


def test_cli_local_2_end_to_end(tiny_bundle: Path, tiny_video: Path, tmp_path: Path) -> None:
    out, summary = tmp_path / "p.jsonl", tmp_path / "s.json"
    code = main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames", "0:6",
                 "--mode", "ep-4", "--scheduler", "uniform", "--out", str(out), "--summary", str(summary),
                 "--quiet", "--workdir", str(tmp_path / "work"), "--save-video", str(tmp_path / "seen.mp4")])
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(6))
    saved = [f for _, f in iter_frames(tmp_path / "seen.mp4")]
    source = [f for _, f in iter_frames(tiny_video, range(6))]
    assert len(saved) == 6 and saved[0].shape == source[0].shape
    drawn = np.abs(saved[2].astype(int) - source[2].astype(int)).max(axis=2) > 80  # patches and boxes drawn
    assert drawn.mean() > 0.002
    assert all(len(line["detections"]) > 0 for line in lines)  # the untrained model always finds something
    s = json.loads(summary.read_text())
    assert s["frames"] == 6 and s["frames_dropped"] == 0 and s["patches_per_frame"] == 4
    assert set(s["patches_per_device"]) == {"server-0", "server-1"}
    assert s["emulation"]["emulated"] is True


def test_kill_9_a_server_mid_run_loses_no_frame_and_it_rejoins(tiny_bundle: Path, tiny_video: Path,
                                                                tmp_path: Path) -> None:
    manifest = load_manifest(tiny_bundle)
    base = ClusterConfig(master=MasterSection(scheduler="uniform"),
                         client=ClientSection(mode="ep-4", min_servers=2, slo_ms=200.0))
    frames = [f for _, f in iter_frames(tiny_video)]
    with LocalCluster(tiny_bundle, manifest, 2, base, tmp_path / "work", ["jetson-xavier-nx"]) as cluster:
        client = Client(tiny_bundle, manifest, cluster.config, cluster.endpoints["master"], log=lambda s: None)

        def source():
            for i, frame in enumerate(frames):
                if i == 4:
                    cluster.kill("server-0")  # kill -9, with patches of frame 3 possibly in flight
                if i == 7:
                    cluster.restart("server-0")
                if i == 10:  # a hung server: its connection stays up, only missed heartbeats reveal it
                    os.kill(cluster.procs["server-1"].pid, signal.SIGSTOP)
                if i >= 7:
                    time.sleep(0.4)  # give the client time to see it come back / go silent
                yield i, frame

        got = []
        stats = client.run(source(), lambda dets, frame, extra: got.append((dets.frame, extra)))
        cluster.kill("server-1")
    assert [f for f, _ in got] == list(range(len(frames)))
    assert not any(extra.get("dropped") for _, extra in got)
    assert stats.counters["servers_removed"] >= 2
    assert stats.counters["servers_rejoined"] >= 1
    events = [(e["event"], e["device"]) for e in stats.events]
    assert ("server removed (disconnected)", "server-0") in events
    assert ("server removed (missed heartbeats)", "server-1") in events
    assert "server-0" in [p["device"] for p in list(stats.recent_patches)[-8:]]  # it serves again after rejoining
    assert np.isfinite([f["e2e_ms"] for f in stats.recent_frames]).all()
    assert stats.frames_total == stats.frames_ran == len(frames)


def test_client_mini_pins_every_patch_to_the_cameras_mini(tiny_bundle: Path, tiny_video: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    def run(*extra: str) -> dict:
        summary = tmp_path / f"s{len(extra)}.json"
        code = main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames",
                     "0:4", "--mode", "ep-4", "--slo-ms", "1000", "--summary", str(summary), "--quiet",
                     "--workdir", str(tmp_path / f"w{len(extra)}"), *extra])
        assert code == 0
        return json.loads(summary.read_text())

    assert set(run()["patches_per_model"]) == {"tiny-96-fp32"}  # the scheduler's pick: the more accurate mini
    assert run("--mini", "tiny-64-fp32")["patches_per_model"] == {"tiny-64-fp32": 16}
    assert main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "local:2", "--frames", "0:2",
                 "--mini", "baseline-160-fp32", "--quiet", "--workdir", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: client.mini: 'baseline-160-fp32' is not a mini model of the bundle")
