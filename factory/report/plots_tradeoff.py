"""Figures 13, 14, 15 and 18 (accuracy–latency trade-off, gain at a budget, speedup, per-frame latency).

Each function takes its part of ``results.json`` (see :mod:`factory.report.experiments`), writes one PNG
into ``out_dir`` and returns a :class:`~factory.report.Figure` whose reading is computed from the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from factory.report import Figure  # noqa: E402
from factory.report.paper import GAIN_AT_BUDGET, SHORT, SPEEDUP  # noqa: E402
from runtime.atomic import atomic_path  # noqa: E402

BASES = (("per_patch", "per patch (paper's basis)"), ("per_frame", "per frame (sequential, one device)"))
STYLE = {"Baseline": ("tab:blue", "o"), "ParaLoupe_mini": ("tab:orange", "s"), "ParaLoupe": ("tab:green", "^")}


def plain_log(ax: Any, axis: str = "x") -> None:
    """Log scale on ``axis`` with plain-number major labels and no minor labels."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    getattr(ax, f"set_{axis}scale")("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    target.set_major_formatter(fmt)
    target.set_minor_formatter(NullFormatter())


def save(fig: Any, out_dir: Path, key: str) -> str:
    """Write ``fig`` as ``<out_dir>/<key>.png`` and close it; returns the file name."""
    name = f"{key}.png"
    with atomic_path(out_dir / name) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return name


def _dev_title(device: str, entry: Mapping[str, Any]) -> str:
    return f"{SHORT.get(device, device)} ({entry['basis']})"


def _best(points: list[dict[str, Any]], approach: str) -> dict[str, Any] | None:
    pts = [p for p in points if p["approach"] == approach]
    return max(pts, key=lambda p: (p["f1"], -p["per_patch_ms"])) if pts else None


def fig13(tr: Mapping[str, Any], out_dir: Path, key: str, headline: str, measured: str) -> Figure:
    """Accuracy–latency trade-off per device, per-patch (top) and per-frame (bottom) latency."""
    devices = list(tr)
    fig, axes = plt.subplots(2, len(devices), figsize=(4.2 * len(devices), 7), squeeze=False)
    for col, d in enumerate(devices):
        entry = tr[d]
        for row, (basis, label) in enumerate(BASES):
            ax = axes[row][col]
            for approach, (colour, marker) in STYLE.items():
                pts = sorted((p for p in entry["points"] if p["approach"] == approach), key=lambda p: p["size"])
                if not pts:
                    continue
                xs, ys = [p[f"{basis}_ms"] for p in pts], [p["f1"] for p in pts]
                ax.plot(xs, ys, marker=marker, color=colour, label=approach)
                for p, x, y in zip(pts, xs, ys, strict=False):
                    ax.annotate(str(p["size"]), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
            if entry.get("budget_ms"):
                ax.axvline(entry["budget_ms"], color="grey", ls="--", lw=1, label=f"budget {entry['budget_ms']:g} ms")
            plain_log(ax, "x")
            ax.set_ylim(0, 1)
            ax.set_xlabel(f"latency {label}, ms")
            ax.set_ylabel("F1 (IoU 0.5)")
            ax.set_title(_dev_title(d, entry), fontsize=9)
            ax.grid(alpha=0.3)
            if row == 0 and col == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    e = tr.get(headline) or next(iter(tr.values()))
    h = headline if headline in tr else devices[0]
    parts = []
    for a in ("ParaLoupe", "Baseline", "ParaLoupe_mini"):
        b = _best(e["points"], a)
        if b:
            parts.append(f"{a} best F1 {b['f1']:.3f} at {b['per_patch_ms']:.1f} ms/patch "
                         f"({b['per_frame_ms']:.1f} ms/frame, side {b['size']})")
    reading = f"{SHORT.get(h, h)}: " + "; ".join(parts) + "."
    return Figure(key, "Fig. 13 — accuracy–latency trade-off (sides annotated)", png, reading, measured)


def _bars(ax: Any, labels: list[str], base: list[float], ours: list[float], notes: list[str], ylabel: str,
          log: bool = False) -> None:
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], base, 0.4, label="Baseline", color=STYLE["Baseline"][0])
    ax.bar([x + 0.2 for x in xs], ours, 0.4, label="ParaLoupe", color=STYLE["ParaLoupe"][0])
    for x, n, h in zip(xs, notes, [max(a, b) for a, b in zip(base, ours, strict=False)], strict=False):
        ax.annotate(n, (x, h), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel(ylabel)
    if log:
        plain_log(ax, "y")
    ax.grid(alpha=0.3, axis="y")


def fig14(tr: Mapping[str, Any], out_dir: Path, key: str, headline: str, measured: str) -> Figure:
    """F1 of Baseline and ParaLoupe at each device's latency budget, both bases."""
    devs = [d for d in tr if "gain" in tr[d]["comparisons"]["per_patch"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (basis, label) in zip(axes, BASES, strict=False):
        base, ours, notes = [], [], []
        for d in devs:
            g = tr[d]["comparisons"][basis]["gain"]
            base.append(g["base"]["f1"] if g["base"] else 0.0)
            ours.append(g["ours"]["f1"] if g["ours"] else 0.0)
            notes.append(f"{g['gain'] * 100:+.0f}%" if g["gain"] is not None else "n/a")
        _bars(ax, [f"{SHORT.get(d, d)}\n≤{tr[d]['budget_ms']:g} ms" for d in devs], base, ours, notes, "F1")
        ax.set_ylim(0, 1.1)
        ax.set_title(f"F1 at the budget, latency {label}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    parts = []
    for basis, label in BASES:
        g = tr.get(headline, {}).get("comparisons", {}).get(basis, {}).get("gain")
        if g:
            parts.append(f"{label}: " + (f"{g['gain'] * 100:+.1f}% (F1 {g['ours']['f1']:.3f} vs {g['base']['f1']:.3f})"
                                         if g["gain"] is not None else g["reason"]))
    reading = (f"{SHORT.get(headline, headline)} at {tr.get(headline, {}).get('budget_ms')} ms: F1 gain "
               + "; ".join(parts) + (f" (paper: +{GAIN_AT_BUDGET[headline][1] * 100:.1f}%)."
                                     if headline in GAIN_AT_BUDGET else "."))
    return Figure(key, "Fig. 14 — F1 under the same latency budget", png, reading,
                  "the runs and latency rows of Fig. 13 (above). " + measured.split(";")[0] + ".")


def fig15(tr: Mapping[str, Any], out_dir: Path, key: str, headline: str, measured: str) -> Figure:
    """Latency of Baseline and ParaLoupe at comparable accuracy (largest speedup pair), both bases."""
    devs = list(tr)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (basis, label) in zip(axes, BASES, strict=False):
        base, ours, notes = [], [], []
        for d in devs:
            s = tr[d]["comparisons"][basis]["speedup"]
            base.append(s["base"]["latency_ms"] if s["base"] else 0.0)
            ours.append(s["ours"]["latency_ms"] if s["ours"] else 0.0)
            notes.append(f"{s['speedup']:.1f}×" if s["speedup"] is not None else "not comparable")
        _bars(ax, [SHORT.get(d, d) for d in devs], base, ours, notes, f"latency {label}, ms", log=True)
        ax.set_title(f"latency at comparable F1, {label}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    png = save(fig, out_dir, key)
    parts = []
    for basis, label in BASES:
        s = tr.get(headline, {}).get("comparisons", {}).get(basis, {}).get("speedup")
        if s:
            parts.append(f"{label}: " + (f"{s['speedup']:.2f}× (Baseline {s['base']['label']} F1 {s['base']['f1']:.3f}"
                                         f" vs ParaLoupe {s['ours']['label']} F1 {s['ours']['f1']:.3f})"
                                         if s["speedup"] is not None else s["reason"]))
    reading = (f"{SHORT.get(headline, headline)} speedup " + "; ".join(parts)
               + (f" (paper: {SPEEDUP[headline][0]}×)." if headline in SPEEDUP else "."))
    return Figure(key, "Fig. 15 — latency at comparable accuracy (F1 drop ≤ 4.6 points)", png, reading,
                  "the runs and latency rows of Fig. 13 (above). " + measured.split(";")[0] + ".")


def fig18(pf: Mapping[str, Any], out_dir: Path, key: str, measured: str) -> Figure:
    """Per-frame latency distributions per device: Baseline, ParaLoupe (mean) and (sum) over patches."""
    devs = list(pf)
    fig, axes = plt.subplots(1, max(len(devs), 1), figsize=(3.6 * max(len(devs), 1), 3.8), squeeze=False)
    for ax, d in zip(axes[0], devs, strict=False):
        names = list(pf[d]["series"])
        ax.boxplot([pf[d]["series"][n] or [0.0] for n in names], showfliers=False)
        ax.set_xticks(range(1, len(names) + 1), [n.replace("ParaLoupe ", "PL\n") for n in names], fontsize=8)
        plain_log(ax, "y")
        ax.set_ylabel("per-frame latency, ms")
        ax.set_title(f"{SHORT.get(d, d)} ({pf[d]['basis']})", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    png = save(fig, out_dir, key)
    parts = [f"{SHORT.get(d, d)} median " + ", ".join(f"{n} {v['median']:.1f}" for n, v in pf[d]["stats"].items())
             for d in devs]
    reading = ("per-frame ms — " + "; ".join(parts) + ". Sum exceeds Baseline where "
               "patches/frame × mini latency > one baseline inference.") if devs else "no device served both models."
    return Figure(key, "Fig. 18 — per-frame latency: Baseline vs ParaLoupe mean and sum over a frame's patches",
                  png, reading, measured)
