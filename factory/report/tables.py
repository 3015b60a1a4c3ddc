"""Markdown tables of the report: our numbers beside the paper's, each with how it was measured.

Every function takes its part of ``results.json`` and returns :class:`~factory.report.Table` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from factory.report import Table
from factory.report.metrics import shortfall
from factory.report.paper import GAIN_AT_BUDGET, GEN_MS, GENERATORS, MAX_PATCHES, ROIS, SHORT, SOURCES, SPEEDUP
from factory.report.runs import LASTDET_BOOT

BASIS_NAMES = {"per_patch": "per patch", "per_frame": "per frame"}


def _f(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def headline(tr: Mapping[str, Any], key: str, target_speedup: float, target_gain: float) -> Table:
    """Speedup at comparable F1 and F1 gain at the budget, per device and basis, against the paper/targets."""
    t = Table(key, "Headline: speedup at comparable accuracy and F1 gain at the same latency budget",
              ["device", "latency", "basis", "speedup (pair: baseline → ours)", "F1 drop", "paper speedup",
               f"target ≥ {target_speedup:g}×", "F1 gain at budget (pair)", "paper gain",
               f"target ≥ {target_gain:.0%}"])
    for d, e in tr.items():
        for basis, name in BASIS_NAMES.items():
            c = e["comparisons"][basis]
            s, g = c["speedup"], c.get("gain")
            sp = (f"{s['speedup']:.2f}× ({s['base']['label']} {s['base']['latency_ms']:.1f} ms → "
                  f"{s['ours']['label']} {s['ours']['latency_ms']:.1f} ms)" if s["speedup"] is not None
                  else s["reason"])
            gain = "—"
            if g is not None:
                gain = (f"{g['gain'] * 100:+.1f}% (F1 {g['base']['f1']:.3f} → {g['ours']['f1']:.3f} within "
                        f"{g['budget_ms']:g} ms)" if g["gain"] is not None else g["reason"])
            ps, pg = SPEEDUP.get(d), GAIN_AT_BUDGET.get(d)
            t.rows.append([SHORT.get(d, d), e["basis"], name, sp, _f(s["drop"] * 100 if s["drop"] is not None else None,
                                                                      ".1f") + " pts",
                           f"{ps[0]}× (drop {ps[1]} pts)" if ps else "—",
                           shortfall(s["speedup"], target_speedup, "ratio") if d in SPEEDUP else "—", gain,
                           f"+{pg[1] * 100:.1f}% at {pg[0]:g} ms" if pg else "—",
                           shortfall(g["gain"] if g else None, target_gain, "relative") if g else "—"])
    return t


def tradeoff_points(tr: Mapping[str, Any], key: str, caption: str) -> Table:
    """Every curve point of Fig. 13 with both latency bases."""
    t = Table(key, caption, ["device", "approach", "side", "model (latency row / run)", "F1", "P", "R",
                             "ms/patch", "ms/frame", "patches/frame", "frames"])
    for d, e in tr.items():
        for p in e["points"]:
            model = p["model"] if p["model"] == p["run_model"] else f"{p['model']} / {p['run_model']}"
            t.rows.append([SHORT.get(d, d), p["approach"], p["size"], model, _f(p["f1"]), _f(p["precision"]),
                           _f(p["recall"]), _f(p["per_patch_ms"], ".2f"), _f(p["per_frame_ms"], ".2f"),
                           _f(p["patches_per_frame"], ".2f"), p["frames"]])
    return t


def latency_sources(tr: Mapping[str, Any], key: str) -> Table:
    """Where each device's latencies come from (measured or emulated), with the profile's source line."""
    t = Table(key, "Latency sources per device (bundle profiles)", ["device", "basis", "source", "notes"])
    for d, e in tr.items():
        t.rows.append([d, e["basis"], e["source"], "; ".join(e["notes"]) or "—"])
    return t


def sources(rows: Sequence[Mapping[str, Any]], key: str, device: str) -> Table:
    """Fig. 16 rows beside the paper's."""
    t = Table(key, f"Fig. 16 — sources of improvement ({device})",
              ["approach", "F1", "ms/patch", "ms/frame", "patches/frame", "paper F1 %", "paper ms/patch"])
    for r in rows:
        p = SOURCES.get(r["label"], (None, None))
        t.rows.append([r["label"], _f(r["f1"]), _f(r["per_patch_ms"], ".2f"), _f(r["per_frame_ms"], ".2f"),
                       _f(r["patches_per_frame"], ".2f"), _f(p[0], ".1f"), _f(p[1], ".0f")])
    return t


def generators(rows: Sequence[Mapping[str, Any]], key: str, caption: str) -> Table:
    """Fig. 17 / 28 rows beside the paper's."""
    t = Table(key, caption, ["generator", "patches/frame", "F1", "P", "R", "gen ms mean", "gen ms p90",
                             "paper patches/frame", "paper F1 %", "paper gen ms (Jetson/RPi)"])
    for r in rows:
        p = GENERATORS.get(r["generator"], (None, None))
        g = GEN_MS.get(r["generator"])
        t.rows.append([r["generator"] + (" (+bootstrap tiles)" if r["run_generator"] == LASTDET_BOOT else ""),
                       _f(r["patches_per_frame"], ".2f"), _f(r["f1"]), _f(r["precision"]), _f(r["recall"]),
                       _f(r["gen_ms"]["mean"], ".2f"), _f(r["gen_ms"]["p90"], ".2f"), _f(p[0], ".1f"),
                       _f(p[1], ".1f"), f"{g[0]} / {g[1]}" if g else "—"])
    return t


def max_patches(rows: Sequence[Mapping[str, Any]], key: str, device: str) -> Table:
    """Fig. 19 rows beside the paper's."""
    t = Table(key, f"Fig. 19 — max patches per frame ({device}, sequential per-frame latency)",
              ["cap", "patches/frame", "F1", "ms/frame mean", "ms/frame p90", "paper ms (end-to-end)", "paper F1 %"])
    for r in rows:
        p = MAX_PATCHES.get(r["max_patches"], (None, None))
        t.rows.append([r["max_patches"], _f(r["patches_per_frame"], ".2f"), _f(r["f1"]),
                       _f(r["per_frame_ms"]["mean"], ".1f"), _f(r["per_frame_ms"]["p90"], ".1f"), _f(p[0], ".1f"),
                       _f(p[1], ".1f")])
    return t


def iou(curves: Mapping[str, Sequence[float]], ious: Sequence[float], key: str) -> Table:
    """Fig. 20 as a table."""
    t = Table(key, "Fig. 20 — F1 per IoU threshold", ["series"] + [f"{v:g}" for v in ious])
    t.rows = [[n] + [_f(v) for v in vals] for n, vals in curves.items()]
    return t


def rois(res: Mapping[str, Any], key: str) -> Table:
    """Fig. 21 rows beside the paper's."""
    t = Table(key, f"Fig. 21 — predefined RoIs on {res['video']} (RoIs from {res['train_annotations']})",
              ["side", "RoIs", "patches/frame", "F1", "paper F1 %"])
    for r in res["rows"]:
        t.rows.append([r["size"], r["rois"], _f(r["patches_per_frame"], ".2f"), _f(r["f1"]),
                       _f(ROIS.get((r["size"], r["rois"])), ".1f")])
    return t


def per_frame(pf: Mapping[str, Any], key: str) -> Table:
    """Fig. 18 statistics."""
    t = Table(key, "Fig. 18 — per-frame latency (ms): median / p90 over frames",
              ["device", "basis", "Baseline", "ParaLoupe (mean)", "ParaLoupe (sum)", "models"])
    for d, e in pf.items():
        s = e["stats"]
        cells = [f"{s[n]['median']:.1f} / {s[n]['p90']:.1f}" for n in ("Baseline", "ParaLoupe (mean)",
                                                                      "ParaLoupe (sum)")]
        t.rows.append([SHORT.get(d, d), e["basis"], *cells, f"{e['baseline_model']}, {e['mini_model']}"])
    return t
