"""One real short loopback run with the experiment hooks (tiny bundle, 12 frames): a cost schedule keeps the
scheduler off the high-cost server, a kill schedule kill -9s a server mid-run without losing a frame, the
master logs its decisions, and a given pace factor is used and reported. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.report.cluster_run import source_digest
from runtime.cli.run import main


@pytest.mark.slow
def test_cost_and_kill_schedules_on_a_real_local_cluster(tiny_bundle: Path, tiny_video: Path, tmp_path: Path) -> None:
    out, summary, log = tmp_path / "p.jsonl", tmp_path / "s.json", tmp_path / "schedule.jsonl"
    code = main(["--bundle", str(tiny_bundle), "--video", str(tiny_video), "--cluster", "local:3",
                 "--devices", "jetson-xavier-nx", "--mode", "ep-4", "--frames", "0:12", "--offer-fps", "10",
                 "--cost-schedule", "server-1:1@0-", "--kill-schedule", "server-0@0.45", "--schedule-log", str(log),
                 "--pace-factor", "2", "--out", str(out), "--summary", str(summary), "--quiet",
                 "--workdir", str(tmp_path / "work")])
    assert code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["frame"] for x in lines] == list(range(12))
    s = json.loads(summary.read_text())
    assert s["emulation"]["pace_factor"] == 2.0 and s["emulation"]["pace_factor_given"] is True
    kills = s["experiment"]["kills"]
    assert [k["server"] for k in kills] == ["server-0"] and kills[0]["t_s"] >= 0.45
    assert s["experiment"]["cost_schedule"] == ["server-1:1@0-"]
    decisions = [json.loads(x) for x in log.read_text().splitlines()]
    assert decisions and all(sum(d["per_device"].values()) == d["patches"] == 4 for d in decisions)
    high = [d for d in decisions if d["costs"].get("server-1") == 1.0]
    assert high, "the scheduled cost never reached the master"
    assert all("server-1" not in d["per_device"] for d in high if len(d["costs"]) > 1)  # avoided while another is up
    assert "server-0" not in decisions[-1]["costs"] and "server-0" not in decisions[-1]["per_device"]


def test_source_digest_sees_every_module_of_the_tree(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("X = 1\n")
    (tmp_path / "pkg" / "sub" / "config.py").write_text("DEFAULT = 1\n")
    before = source_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "sub" / "config.py").write_text("DEFAULT = 3\n")  # a changed default re-runs
    changed = source_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "sub" / "new.py").write_text("")  # so does a new module
    grown = source_digest(tmp_path / "pkg")
    assert len({before, changed, grown}) == 3
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    assert source_digest(tmp_path / "pkg") == grown
