"""Figures 16, 17, 19, 20, 21 and 28 (sources of improvement, generators, patch cap, IoU, RoIs, generation
time). Each function takes its part of ``results.json``, writes one PNG and returns a Figure with its reading.
The paper's numbers, where its text gives them, are drawn as black crosses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from factory.report import Figure  # noqa: E402
from factory.report.metrics import cdf  # noqa: E402
from factory.report.paper import GENERATORS, SOURCES  # noqa: E402
from factory.report.plots_tradeoff import plain_log, save  # noqa: E402


def _paper_marks(ax: Any, values: Sequence[float | None], label: str = "paper") -> None:
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if pts:
        ax.scatter([i for i, _ in pts], [v for _, v in pts], marker="x", color="black", zorder=3, label=label)


def fig16(rows: Sequence[Mapping[str, Any]], out_dir: Path, key: str, device: str, measured: str) -> Figure:
    """Per-patch / per-frame latency and F1 of Baseline-S1/S4, mini-S4 and ParaLoupe-PG (headline device)."""
    labels = [r["label"] for r in rows]
    xs = np.arange(len(rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    a1.bar(xs - 0.2, [r["per_patch_ms"] for r in rows], 0.4, label="per patch")
    a1.bar(xs + 0.2, [r["per_frame_ms"] for r in rows], 0.4, label="per frame (sum)", hatch="//", alpha=0.7)
    plain_log(a1, "y")
    a1.set_ylabel(f"latency on {device}, ms")
    a1.legend(fontsize=7)
    a2.bar(xs, [r["f1"] for r in rows], 0.6, color="tab:green")
    _paper_marks(a2, [SOURCES[lb][0] / 100 if lb in SOURCES and SOURCES[lb][0] else None for lb in labels])
    a2.set_ylim(0, 1)
    a2.set_ylabel("F1")
    a2.legend(fontsize=7)
    for ax in (a1, a2):
        ax.set_xticks(xs, labels, rotation=20, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    png = save(fig, out_dir, key)
    reading = "; ".join(f"{r['label']} F1 {r['f1']:.3f} at {r['per_patch_ms']:.1f} ms/patch, "
                        f"{r['patches_per_frame']:.1f} patches/frame" for r in rows) + "."
    return Figure(key, f"Fig. 16 — sources of improvement ({device})", png, reading, measured)


def fig17(rows: Sequence[Mapping[str, Any]], out_dir: Path, key: str, measured: str) -> Figure:
    """Patches per frame and F1 per patch generator (mini model)."""
    labels = [r["generator"] for r in rows]
    xs = np.arange(len(rows))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    a1.bar(xs, [r["patches_per_frame"] for r in rows], 0.6)
    _paper_marks(a1, [GENERATORS.get(lb, (None, None))[0] for lb in labels])
    a1.set_ylabel("patches per frame")
    a2.bar(xs, [r["f1"] for r in rows], 0.6, color="tab:green")
    _paper_marks(a2, [(GENERATORS[lb][1] / 100 if lb in GENERATORS and GENERATORS[lb][1] else None) for lb in labels])
    a2.set_ylim(0, 1)
    a2.set_ylabel("F1")
    for ax in (a1, a2):
        ax.set_xticks(xs, labels, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    reading = "; ".join(f"{r['generator']} {r['patches_per_frame']:.1f} patches/frame F1 {r['f1']:.3f}"
                        for r in rows) + " (paper: EP-8 78.0%, lastDet 74.0% at 4.9, ParaLoupe 76.0% at 5.3)."
    return Figure(key, "Fig. 17 — patches per frame and F1 per patch generator", png, reading, measured)


def fig19(rows: Sequence[Mapping[str, Any]], out_dir: Path, key: str, device: str, measured: str) -> Figure:
    """F1 and per-frame latency against the cap on HighConf + LowConf patches per frame."""
    ks = [r["max_patches"] for r in rows]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(ks, [r["f1"] for r in rows], "o-", color="tab:green", label="F1")
    ax.set_ylim(0, 1)
    ax.set_xlabel("max patches per frame (HighConf + LowConf; refresh/RoI tiles extra)")
    ax.set_ylabel("F1")
    ax2 = ax.twinx()
    ax2.plot(ks, [r["per_frame_ms"]["mean"] for r in rows], "s--", color="tab:blue", label="latency mean")
    ax2.plot(ks, [r["per_frame_ms"]["p90"] for r in rows], "v:", color="tab:blue", label="latency p90")
    ax2.set_ylabel(f"per-frame latency on {device}, ms")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    reading = "; ".join(f"cap {r['max_patches']}: F1 {r['f1']:.3f}, {r['patches_per_frame']:.1f} patches/frame, "
                        f"{r['per_frame_ms']['mean']:.1f} ms/frame" for r in rows) + \
        " (paper, Jetson end-to-end: cap 1 → 30.8 ms 18.1%, cap 6 → 62.5 ms 68.3%)."
    return Figure(key, "Fig. 19 — the max-patches-per-frame sweep", png, reading, measured)


def fig20(curves: Mapping[str, Sequence[float]], ious: Sequence[float], out_dir: Path, key: str,
          measured: str) -> Figure:
    """F1 against the IoU threshold."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, f1s in curves.items():
        ax.plot(ious, f1s, "o-", label=name)
    ax.set_xlabel("IoU threshold")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    reading = "; ".join(f"{n}: F1 {v[0]:.3f} at IoU {ious[0]:g} → {v[-1]:.3f} at {ious[-1]:g}"
                        for n, v in curves.items()) + " (paper: accuracy falls as the threshold rises)."
    return Figure(key, "Fig. 20 — F1 under IoU thresholds 0.2–0.9", png, reading, measured)


def fig21(res: Mapping[str, Any], out_dir: Path, key: str, measured: str) -> list[Figure]:
    """Patches per frame and F1 with 0–6 predefined RoIs per input side, and the RoIs on the density map."""
    rows = res["rows"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for side in sorted({r["size"] for r in rows}):
        rs = sorted((r for r in rows if r["size"] == side), key=lambda r: r["rois"])
        a1.plot([r["rois"] for r in rs], [r["patches_per_frame"] for r in rs], "o-", label=f"{side}")
        a2.plot([r["rois"] for r in rs], [r["f1"] for r in rs], "o-", label=f"{side}")
    a1.set_ylabel("patches per frame")
    a2.set_ylabel("F1")
    a2.set_ylim(0, 1)
    for ax in (a1, a2):
        ax.set_xlabel("predefined RoIs")
        ax.grid(alpha=0.3)
        ax.legend(title="input side", fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    best = max(rows, key=lambda r: r["f1"]) if rows else None
    reading = ("; ".join(f"side {s}: F1 " + " → ".join(f"{r['f1']:.3f}" for r in sorted(
        (r for r in rows if r["size"] == s), key=lambda r: r["rois"])) for s in sorted({r["size"] for r in rows}))
        + (f"; best F1 {best['f1']:.3f} (side {best['size']}, {best['rois']} RoIs)" if best else "")
        + " (paper: 80.6% at 160 with 6 RoIs vs 76.7% at 320 with 3).")
    figs = [Figure(key, f"Fig. 21 — predefined RoIs on {res['video']}", png, reading, measured)]
    dens = np.asarray(res["density"], dtype=float)
    if dens.size:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        cell = 8
        ax.imshow(dens, cmap="magma", extent=(0, dens.shape[1] * cell, dens.shape[0] * cell, 0))
        for i, (x, y, w, h) in enumerate(res["rois"]):
            ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="cyan", lw=1.5))
            ax.annotate(str(i + 1), (x + 3, y + 12), color="cyan", fontsize=8)
        ax.set_title("density of small and new objects (training video) and the RoIs", fontsize=9)
        fig.tight_layout()
        figs.append(Figure(f"{key}-rois", "Fig. 21 (set-up) — RoIs chosen on the training video",
                           save(fig, out_dir, f"{key}-rois"),
                           f"{len(res['rois'])} RoIs of the densest small/new-object areas of "
                           f"{res['train_annotations']} (never the test video).",
                           "ground truth of the training video only; no model involved."))
    return figs


def fig28(rows: Sequence[Mapping[str, Any]], out_dir: Path, key: str, measured: str) -> Figure:
    """CDF of patch-generation time (ms, this host) per generator."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r in rows:
        x, y = cdf(r["gen_ms_values"])
        if len(x):
            ax.plot(x, y, label=r["generator"])
    plain_log(ax, "x")
    ax.set_xlabel("patch generation + JPEG encoding per frame, ms (host)")
    ax.set_ylabel("CDF")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    reading = "; ".join(f"{r['generator']} mean {r['gen_ms']['mean']:.1f} ms (p90 {r['gen_ms']['p90']:.1f})"
                        for r in rows) + " (paper, Jetson/RPi means: EP-2 48.6/49.8, lastDet 60.1/70.1, " \
                                         "ParaLoupe 74.7/62.5 ms)."
    return Figure(key, "Fig. 28 — patch-generation latency CDF per generator", png, reading, measured)
