"""The paper's keypoint figures from the stage's rows: Fig. 29 (accuracy at equal latency) and Fig. 30
(latency at comparable accuracy), minis against the HRNet baseline, on one latency source.

Latency per input is a row's estimated latency on ``device`` (host ncnn fp32 × FLOPS ratio: *estimated*,
labelled so) or, without one, the host's ncnn fp32 time. For each baseline input size (one latency
constraint / one accuracy level, as the paper's three):

- Fig. 29: the best mini whose latency is within the baseline's (+ ``slack_ms``, the paper's < 3 ms), and its
  OKS AP gain over the baseline's, in % (None: no mini fits);
- Fig. 30: the fastest mini whose OKS AP reaches the baseline's (− ``ap_slack``, the paper's < 1 %), and its
  latency reduction, in % (None: no mini reaches it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PAPER = {"fig29_gain_pct": [90.2, 47.7, 20.2], "fig30_reduction_pct": [27.9, 26.6, 18.5]}


def latency(row: dict[str, Any], device: str | None) -> float:
    """Per-input latency (ms) of a row: the device estimate, else host ncnn fp32, else host torch."""
    est = row.get("est_ms", {}).get(device) if device else None
    return float(est or row.get("ncnn", {}).get("fp32", {}).get("ncnn_ms") or row["host_ms"])


def paper_figures(rows: list[dict[str, Any]], device: str | None, slack_ms: float = 3.0, ap_slack: float = 0.01
                  ) -> dict[str, Any]:
    """Fig. 29 / Fig. 30 rows (see module docstring) and the paper's numbers beside them."""
    minis = [(latency(r, device), r["test_ap"], r["model"]) for r in rows if r["kind"] == "mini"]
    fig29, fig30 = [], []
    for b in sorted((r for r in rows if r["kind"] == "baseline"), key=lambda r: latency(r, device)):
        lb, ab = latency(b, device), b["test_ap"]
        fits = [m for m in minis if m[0] <= lb + slack_ms]
        best = max(fits, key=lambda m: m[1]) if fits else None
        fig29.append({"baseline": b["model"], "latency_ms": round(lb, 3), "baseline_ap": ab,
                      "mini": best[2] if best else None, "mini_ap": best[1] if best else None,
                      "gain_pct": round((best[1] / ab - 1) * 100, 1) if best and ab > 0 else None})
        reach = [m for m in minis if m[1] >= ab - ap_slack]
        fast = min(reach, key=lambda m: m[0]) if reach else None
        fig30.append({"baseline": b["model"], "baseline_ap": ab, "baseline_ms": round(lb, 3),
                      "mini": fast[2] if fast else None, "mini_ms": round(fast[0], 3) if fast else None,
                      "reduction_pct": round((1 - fast[0] / lb) * 100, 1) if fast else None})
    return {"latency_of": f"{device} (estimated)" if device else "host ncnn fp32 (measured)", "fig29": fig29,
            "fig30": fig30, "paper": PAPER}


def plot(rows: list[dict[str, Any]], device: str | None, path: str | Path) -> Path:
    """OKS AP against per-input latency for minis and baseline (one line per family) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, label, marker in (("mini", "mini keypoint models", "o"), ("baseline", "HRNet baseline", "s")):
        pts = sorted((latency(r, device), r["test_ap"], r["model"]) for r in rows if r["kind"] == kind)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
            for x, y, name in pts:
                ax.annotate(name.split("-")[-1], (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    ax.set_xscale("log")
    ax.set_xlabel(f"per-input latency, ms ({device + ', estimated' if device else 'host ncnn fp32'})")
    ax.set_ylabel("OKS AP (world test crops)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
