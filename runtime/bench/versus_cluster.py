"""``paraloupe-bench versus --cluster``: the per-frame latency half of issue 14's comparison, on a real cluster.

For each video, one ``paraloupe-run --cluster local:N`` at a time (they time themselves, so never two at once):
ParaLoupe, the baseline at the equal-budget side and at the best side of the accuracy table — the same
emulated devices (``--devices``, N = their count), SLO and frame range as the in-process runs, pace factor 1
(the emulated devices' own latencies; CONVENTIONS). From each run's summary: F1, end-to-end per-frame p50 / p90
(ms, capture → aggregated result, after ``--cluster-warmup`` frames) and SLO misses. The paper's claim per
video: ParaLoupe's F1 within 2 points of the best side's at ≥ 3× lower p50, both from these runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runtime.errors import UserError

#: the paper's per-frame claim: F1 within this many points of the best side, at this many times lower p50
CLAIM_GAP_POINTS = -2.0
CLAIM_SPEEDUP = 3.0


def cluster_run(bundle: str, video_args: Sequence[str], devices: Sequence[str], slo_ms: float,
                mode_args: Sequence[str], warmup: int, workdir: Path) -> dict[str, Any]:
    """One ``paraloupe-run --cluster local:N`` (a subprocess) → its F1, e2e p50 / p90 (ms), SLO misses and frames;
    a failed run is a one-line error with its last line of output."""
    workdir.mkdir(parents=True, exist_ok=True)
    summary = workdir / "summary.json"
    argv = [sys.executable, "-m", "runtime.cli.run", "--bundle", bundle, *video_args,
            "--cluster", f"local:{len(devices)}", "--devices", ",".join(devices), "--slo-ms", f"{slo_ms:g}",
            "--pace-factor", "1", "--warmup", str(warmup), "--quiet", "--summary", str(summary),
            "--workdir", str(workdir / "work"), *mode_args]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0 or not summary.is_file():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"cluster run {' '.join(mode_args)}: exit {proc.returncode}: {last[0]}")
    s = json.loads(summary.read_text())
    e2e = s.get("e2e_ms") or {}
    return {"f1": s.get("f1"), "p50_ms": e2e.get("p50"), "p90_ms": e2e.get("p90"), "slo_misses": s.get("slo_misses"),
            "frames": s.get("frames")}


def claim(pl: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """The paper's claim on one video from its cluster runs: gap (F1 points) and p50 speedup of ParaLoupe over
    the best side, and whether both hold (False when a figure is missing)."""
    gap = 100.0 * (pl["f1"] - best["f1"]) if pl["f1"] is not None and best["f1"] is not None else None
    speedup = best["p50_ms"] / pl["p50_ms"] if pl["p50_ms"] and best["p50_ms"] else None
    met = gap is not None and speedup is not None and gap >= CLAIM_GAP_POINTS and speedup >= CLAIM_SPEEDUP
    return {"gap_points": gap, "speedup": speedup, "met": met}


def run_videos(bundle: str, videos: Sequence[tuple[str, list[str], dict[str, int]]], devices: Sequence[str],
               slo_ms: float, warmup: int, camera: Mapping[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Every video's cluster runs — ParaLoupe (with the video's ``camera`` options, e.g. ``--mini``) and the
    baseline at each side of its ``sides`` (run name, e.g. ``equal`` / ``best``, → side px) — and the claim
    against its ``best`` run; video name → results."""
    camera = camera or {}
    out: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="paraloupe-versus-") as tmp:
        for vi, (name, video_args, sides) in enumerate(videos):
            runs = {"paraloupe": cluster_run(bundle, video_args, devices, slo_ms,
                                             ["--mode", "paraloupe", *camera.get(name, [])], warmup,
                                             Path(tmp) / f"{vi}-paraloupe")}
            by_side: dict[int, dict[str, Any]] = {}  # the equal-budget side is often the best one: run it once
            for run, side in sides.items():
                if side not in by_side:
                    by_side[side] = cluster_run(bundle, video_args, devices, slo_ms,
                                                ["--mode", "baseline", "--baseline-side", str(side)], warmup,
                                                Path(tmp) / f"{vi}-B{side}")
                runs[run] = {"side": side, **by_side[side]}
            out[name] = {"runs": runs, "claim": claim(runs["paraloupe"], runs["best"]) if "best" in runs else None}
    return out


def _cell(label: str, run: dict[str, Any]) -> str:
    f1 = f"{run['f1']:.3f}" if run["f1"] is not None else "-"
    p50 = f"{run['p50_ms']:.0f}" if run["p50_ms"] is not None else "-"
    p90 = f"{run['p90_ms']:.0f}" if run["p90_ms"] is not None else "-"
    return f"{label} {f1} {p50}/{p90} ms".ljust(26)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The cluster table: per video, each run's F1 and p50 / p90 ms; then the claim per video."""
    width = max(len(n) for n in results)
    print("cluster runs (pace factor 1; F1, e2e p50/p90): ParaLoupe, the equal-budget side, the best side")
    for video, r in results.items():
        cells = [_cell("PL", r["runs"]["paraloupe"])]
        cells += [_cell(f"B{x['side']}", x) for n, x in r["runs"].items() if n != "paraloupe"]
        c = r["claim"]
        text = "-" if c is None or c["gap_points"] is None or c["speedup"] is None else \
            f"{c['gap_points']:+.1f} pts at {c['speedup']:.1f}x lower p50: {'met' if c['met'] else 'not met'}"
        print(f"{video.ljust(width)}  " + "  ".join(cells) + f"  {text}")
    met = [v for v, r in results.items() if r["claim"] is not None and r["claim"]["met"]]
    print(f"goal within {-CLAIM_GAP_POINTS:g} points at >= {CLAIM_SPEEDUP:g}x lower p50 (cluster): met on "
          f"{len(met)}/{len(results)}" + (f" ({', '.join(met)})" if met and len(met) < len(results) else ""))
