"""The report's keypoint section (paper §IV-H, Fig. 29/30): read from what the ``keypoints`` stage measured
(``models/keypoints/metrics.json``: one row per model, the Fig. 29/30 rows and the paper's numbers, the
accuracy–latency plot), not re-run here. A missing file gives a one-line "not produced" section.

Latencies are the stage's device estimates (host ncnn fp32 × host/device FLOPS ratio), labelled so; accuracy is
OKS AP on the test crops (COCO's sigmas, ``docs/keypoints.md``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from factory.report import Figure, Table
from factory.report.writer import Section
from runtime.errors import UserError

TITLE = "Fig. 29/30: keypoints — mini keypoint models vs an HRNet baseline (single-person inputs)"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):+.1f} %"


def _ms(row: Mapping[str, Any], device: str) -> str:
    est = (row.get("est_ms") or {}).get(device)
    return "—" if est is None else f"{float(est):.1f}"


def keypoint_section(metrics_path: Path, out_dir: Path) -> Section:
    """The section from the keypoints stage's ``metrics_path``; PNG copied into ``out_dir``."""
    if not metrics_path.is_file():
        return Section(TITLE, [f"Not produced: `{metrics_path}` does not exist (run `dvc repro keypoints`)."])
    try:
        data = json.loads(metrics_path.read_text())
        rows, figs = data["rows"], data["figures"]
        device = figs.get("latency_of", "raspberry-pi-4b").split(" ")[0]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{metrics_path}: not a keypoints stage metrics file ({exc})") from None
    models = Table("kp-models", f"Keypoint models — OKS AP on the test crops; {device} latency estimated "
                                "(host ncnn fp32 × FLOPS ratio), host ncnn measured",
                   ["model", "kind", "input h×w", "AP", "AP50", f"{device} ms (est.)", "host ncnn ms",
                    "params (M)", "MACs (M)", "train s"],
                   [[r["model"], r["kind"], "×".join(str(v) for v in r["input"]), f"{r['test_ap']:.3f}",
                     f"{r['test_ap50']:.3f}", _ms(r, device),
                     f"{(r.get('ncnn') or {}).get('fp32', {}).get('ncnn_ms', float('nan')):.2f}",
                     f"{r['params_m']:.3f}", f"{r['macs_m']:.1f}", f"{r.get('train_seconds', 0):.0f}"] for r in rows])
    paper = figs.get("paper", {})
    p29, p30 = paper.get("fig29_gain_pct", []), paper.get("fig30_reduction_pct", [])
    fig29 = Table("kp-fig29", "Fig. 29 — accuracy at equal latency: the best mini within each baseline's latency",
                  ["constraint (baseline, ms)", "baseline AP", "mini", "mini AP", "AP gain", "paper gain"],
                  [[f"{r['baseline']} {r['latency_ms']:.1f}", f"{r['baseline_ap']:.3f}", r.get("mini") or "—",
                    "—" if r.get("mini_ap") is None else f"{r['mini_ap']:.3f}", _pct(r.get("gain_pct")),
                    _pct(p29[i]) if i < len(p29) else "—"] for i, r in enumerate(figs.get("fig29", []))])
    fig30 = Table("kp-fig30", "Fig. 30 — latency at equal accuracy: the fastest mini reaching each baseline's AP",
                  ["accuracy level (baseline AP)", "baseline ms", "mini", "mini ms", "latency cut", "paper cut"],
                  [[f"{r['baseline']} {r['baseline_ap']:.3f}", f"{r['baseline_ms']:.1f}", r.get("mini") or "—",
                    "—" if r.get("mini_ms") is None else f"{r['mini_ms']:.1f}",
                    "—" if r.get("reduction_pct") is None else f"−{float(r['reduction_pct']):.1f} %",
                    f"−{p30[i]:.1f} %" if i < len(p30) else "—"] for i, r in enumerate(figs.get("fig30", []))])
    items: list[Any] = [models, fig29, fig30]
    plot = metrics_path.parent / "tradeoff.png"
    if plot.is_file():
        shutil.copyfile(plot, out_dir / "keypoints-tradeoff.png")
        summary = data.get("summary", {})
        items.append(Figure("kp-tradeoff", "Keypoints: OKS AP against estimated latency", "keypoints-tradeoff.png",
                            f"best mini {summary.get('best_mini')} reaches {summary.get('ap_share', 0):.0%} of the "
                            f"best baseline's ({summary.get('best_baseline')}) AP at "
                            f"{summary.get('latency_ratio', 0):.1f}× lower {device} latency (goal: ≥ 90 % at ≥ 3×).",
                            f"`{metrics_path}` (the keypoints stage); {device} latency estimated, not measured."))
    return Section(TITLE, items)
