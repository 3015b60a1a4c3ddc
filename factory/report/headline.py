"""The report's first table: every method × {per-frame end-to-end p50 / p90 on the 4 × RPi comparison cluster and
on the paper's mixed cluster, F1, AP50} — latency from cluster runs (:mod:`factory.report.cluster_headline`),
accuracy from the in-process replay (the client's own closed loop, :mod:`runtime.replay`) over the quick set.

Methods (``evaluate.headline``): the baseline at every ``baseline_sizes`` side, SAHI's sliced inference on the
baseline at ``sahi_side`` and the patch modes (Frigate-style ``motion-regions``, EP-k, lastDet, the mini model on
the whole frame, ParaLoupe) with the headline device's mini at ``generators_size``. Accuracy runs over the world
test videos and ``headline.videos`` (more seeds of each camera kind, never trained or tuned on): F1 pooled over
them, and per camera kind (``test-<kind>[-<n>]``) the mean and min–max of the videos' F1; AP50 is the mean over
videos of COCO AP at IoU 0.5 (:mod:`runtime.coco_ap`) of each frame's ranked detections (before the score cuts)
where the replay keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from factory.report import Figure, Table
from factory.report.cluster_headline import CLUSTERS, LABELS, method_names
from factory.report.context import Context, series, stats
from factory.report.runs import LASTDET_BOOT, TRACKED, RunSpec
from factory.report.writer import Section
from runtime import coco_ap
from runtime.modes import Mode

TITLE = "Per-frame headline: every method end-to-end on two emulated clusters, with F1 and AP50"


def kind_of(video: str) -> str:
    """The camera kind of a world test video's name: ``test-static-2`` → ``static``."""
    return re.sub(r"-\d+$", "", video.removeprefix("test-"))


def videos(ctx: Context) -> list[str]:
    """The accuracy videos: the world test videos, then ``headline.videos`` that exist."""
    return [*ctx.world, *ctx.spread]


def method_specs(ctx: Context) -> dict[str, list[RunSpec]]:
    """Method name → its replay over :func:`videos` (on the headline device's models; a method the bundle cannot
    run is absent)."""
    p, dm = ctx.params, ctx.devices[ctx.params.headline_device]
    vids, g = videos(ctx), p.generators_size
    out: dict[str, list[RunSpec]] = {}
    for name, mode, side in method_names(p.baseline_sizes, p.headline.modes, p.headline.sahi_side):
        if mode in (Mode.BASELINE, Mode.SAHI):
            if dm.run_baseline:
                out[name] = series(ctx, vids, dm.baseline_at(side)[1], side, None if mode is Mode.BASELINE else mode)
        elif g in dm.run_mini:
            gen = None if mode is Mode.MINI else LASTDET_BOOT if mode is Mode.LASTDET and p.lastdet_bootstrap else mode
            out[name] = series(ctx, vids, dm.run_mini[g], g, gen)
    if dm.run_baseline:
        for side in p.headline.tracked_sides:
            out[tracked_name(side)] = series(ctx, vids, dm.baseline_at(side)[1], side, TRACKED)
    return out


def tracked_name(side: int) -> str:
    """The headline's name of the baseline at ``side`` through the loop's tracker."""
    return f"baseline-{side}+tracker"


def headline_specs(ctx: Context) -> list[RunSpec]:
    return [s for specs in method_specs(ctx).values() for s in specs]


def _spread(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": round(float(a.mean()), 4), "min": round(float(a.min()), 4), "max": round(float(a.max()), 4),
            "n": int(a.size)}


def _ap50(ctx: Context, spec: RunSpec) -> float | None:
    if not coco_ap.available():
        return None
    run = ctx.runs[spec]
    return coco_ap.average_precision(ctx.gts[spec.video], run.ranked_predictions(), spec.frames).ap50


def accuracy(ctx: Context) -> dict[str, Any]:
    """Per method: pooled F1/P/R, per-video F1 and AP50, per camera kind F1 mean/min/max, AP50 mean over videos
    (absent without faster-coco-eval), the replay's model, side and mode (JSON-able)."""
    out: dict[str, Any] = {}
    for name, specs in method_specs(ctx).items():
        per_video = {s.video: stats(ctx, [s])["f1"] for s in specs}
        kinds: dict[str, list[float]] = {}
        for v, f1 in per_video.items():
            kinds.setdefault(kind_of(v), []).append(f1)
        aps = {s.video: _ap50(ctx, s) for s in specs}
        row = {"model": specs[0].model, "size": specs[0].size, "mode": specs[0].generator or "whole frame",
               **{k: v for k, v in stats(ctx, specs).items() if k in ("f1", "precision", "recall", "frames",
                                                                      "patches_per_frame")},
               "f1_per_video": per_video, "f1_per_kind": {k: _spread(v) for k, v in kinds.items()},
               "ranked": all(ctx.runs[s].ranked for s in specs)}
        if all(a is not None for a in aps.values()):
            row["ap50_per_video"] = {v: round(a, 4) for v, a in aps.items()}
            row["ap50"] = _spread(list(aps.values()))["mean"]
        out[name] = row
    return out


def _ms(cells: Mapping[str, Any] | None) -> str:
    """``p50 / p90`` (ms) of one cluster's clips: one clip as is, several as the mean (min–max of the p50s)."""
    ok = [c for c in (cells or {}).values() if "p50" in c and c["p50"] is not None]
    if not ok:
        return "failed" if cells else "—"
    p50, p90 = [c["p50"] for c in ok], [c["p90"] for c in ok]
    text = f"{np.mean(p50):.0f} / {np.mean(p90):.0f}"
    return text + (f" ({min(p50):.0f}–{max(p50):.0f})" if len(ok) > 1 else "")


def _kind(row: Mapping[str, Any], kind: str) -> str:
    k = row["f1_per_kind"].get(kind)
    if not k:
        return "—"
    return f"{k['mean']:.3f}" + (f" ({k['min']:.3f}–{k['max']:.3f})" if k["n"] > 1 else "")


def _colour(name: str) -> str:
    if name.startswith("baseline"):
        return "tab:blue"
    if name.startswith(("sahi", str(Mode.MOTION_REGIONS))):
        return "tab:red"  # the peers
    return "tab:green" if name == Mode.PARALOUPE else "tab:gray"


def headline_figure(acc: Mapping[str, Any], latency: Mapping[str, Any], out_dir: Path, measured: str) -> Figure | None:
    """F1 (pooled; bar: min–max over the videos) against per-frame p50 on each cluster, one point per method;
    None when no method has both (the cluster runs failed or were not made)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from factory.report.plots_tradeoff import plain_log, save

    fig, axes = plt.subplots(1, len(CLUSTERS), figsize=(6.0 * len(CLUSTERS), 4.4), squeeze=False)
    shown, reading = 0, []
    for ax, c in zip(axes[0], CLUSTERS, strict=True):
        for name, a in acc.items():
            cells = [x for x in ((latency.get(name) or {}).get(c) or {}).values() if x.get("p50") is not None]
            if not cells:
                continue
            x, f1s = float(np.mean([x["p50"] for x in cells])), list(a["f1_per_video"].values())
            ax.errorbar([x], [a["f1"]], yerr=[[a["f1"] - min(f1s)], [max(f1s) - a["f1"]]], fmt="o",
                        color=_colour(name), capsize=3)
            ax.annotate(name, (x, a["f1"]), textcoords="offset points", xytext=(4, 4), fontsize=7)
            shown += 1
            if c == "rpi4":
                reading.append(f"{name} F1 {a['f1']:.3f} at {x:.0f} ms")
        plain_log(ax)
        ax.set_xlabel(f"per-frame end-to-end p50, ms ({LABELS[c]}, emulated)")
        ax.set_ylabel("F1 (pooled; bar: min–max over videos)")
        ax.grid(alpha=0.3)
    if not shown:
        plt.close(fig)
        return None
    png = save(fig, out_dir, "headline")
    return Figure("headline", "Every method: F1 against per-frame latency on both clusters", png,
                  "4 × RPi: " + "; ".join(reading) + ".", measured.removeprefix("**How it was measured.** "))


def headline_section(ctx: Context, acc: Mapping[str, Any], latency: Mapping[str, Any],
                     cluster: Mapping[str, Any] | None) -> Section:
    """The table (see the module docstring) and how it was measured; ``latency`` from
    :func:`factory.report.cluster_headline.headline_latency`, ``cluster`` the cluster results (None: not run)."""
    p = ctx.params
    kinds = list(dict.fromkeys(kind_of(v) for v in videos(ctx)))
    counts = {k: sum(kind_of(v) == k for v in videos(ctx)) for k in kinds}
    pf = (cluster or {}).get("pace_factor")
    header = ["method", "replay (model @ side, mode)", f"{LABELS['rpi4']} p50 / p90 ms",
              f"{LABELS['mixed']} p50 / p90 ms (paced part ÷ F)", f"F1 ({len(videos(ctx))} videos pooled)",
              *[f"F1 {k}" + (f" ({counts[k]} seeds: mean (min–max))" if counts[k] > 1 else "") for k in kinds],
              "AP50 (mean over videos)",
              "F1 of the 4 × RPi clip run"]
    rows = []
    names = [n for n, _m, _s in method_names(p.baseline_sizes, p.headline.modes, p.headline.sahi_side)]
    for side in p.headline.tracked_sides:  # after its baseline row; latency = the baseline's (client-side tracker)
        if f"baseline-{side}" in names:
            names.insert(names.index(f"baseline-{side}") + 1, tracked_name(side))
    for name in names:
        base = name.removesuffix("+tracker")
        a, lat = acc.get(name), latency.get(base if base != name else name) or {}
        if a is None and not lat:
            continue
        clip = [c.get("f1_clip") for c in (lat.get("rpi4") or {}).values() if c.get("f1_clip") is not None]
        rows.append([name, f"{a['model']} @ {a['size']}, {a['mode']}" if a else "—",
                     *[_ms(lat.get(c)) for c in CLUSTERS],
                     f"{a['f1']:.3f}" if a else "—", *[_kind(a, k) if a else "—" for k in kinds],
                     (f"{a['ap50']:.3f}" + ("" if a["ranked"] else " (cut detections)")) if a and "ap50" in a else "—",
                     f"{np.mean(clip):.3f}" if clip else "—"])
    lo_hi = ", ".join(f"{v} {ctx.ranges[v][0]}:{ctx.ranges[v][1]}" for v in videos(ctx))
    clips = ", ".join(p.headline.cluster_videos)
    f_text = f"{pf:g}" if pf else "measured per run"
    cells = [c for m in latency.values() for by in m.values() for c in by.values() if "served" in c]
    served, late = sum(c["served"] for c in cells), sum(c["overruns"] for c in cells)
    ap_text = ("from each frame's detections before the score cuts (ranked)" if coco_ap.available() else
               "not computed (`pip install -e '.[coco]'` installs faster-coco-eval)")
    measured = (
        f"**How it was measured.** Latency — end-to-end per frame (capture → aggregated result), real "
        f"multi-process cluster on loopback (`paraloupe-run --cluster local:4`, one process per server), devices "
        f"**emulated** (replies paced to the bundle's profiles, not measured on the devices), frames as fast as "
        f"served, clip {p.headline.clip_frames} of {clips}, first 5 frames and frames without a patch left out; "
        f"4 × RPi at pace factor 1, SLO {p.headline.slo_ms:g} ms; mixed cluster at the common pace factor "
        f"F = {f_text}, SLO {p.headline.slo_ms:g} ms × F, latencies divided by F (CONVENTIONS; this divides the "
        f"host-side stages — patch generation, scheduling, aggregation — by F too, flattering the patch modes "
        f"there: their p50 host time is `host_stages_ms` in the results); {late} of {served} replies "
        f"were computed later than their paced device time (this host busier than the emulated device: those "
        f"latencies are the host's, above the device's). Accuracy — the in-process "
        f"replay of the client's closed loop over {lo_hi}, IoU 0.5, the {p.headline_device} models "
        f"({ctx.precision}); AP50 {ap_text}.")
    note = ("Per-frame figures first; the paper's per-patch figures (Fig. 13–21) follow. A cell says `failed` where "
            "the cluster run failed (its error is in the cluster section's results). Peers: `sahi` is SAHI's sliced "
            "inference on our baseline, `motion-regions` Frigate's motion regions feeding the mini model; "
            "`baseline-S+tracker` is the same whole-frame detections through ParaLoupe's tracker (its output = "
            "confirmed tracks), so the tracker's own gain shows — its latency cells repeat the baseline's run (the "
            "tracker runs on the client, about 1 ms a frame).")
    if cluster is None:
        note += " The cluster runs were not made: latency cells are empty."
    items: list[Any] = [note, Table("headline", "Every method: per-frame end-to-end latency (emulated devices) "
                                    "beside F1 and AP50", header, rows), measured]
    figure = headline_figure(acc, latency, ctx.out_dir, measured) if latency else None
    return Section(TITLE, items + ([figure] if figure else []))


def headline_metrics(acc: Mapping[str, Any], latency: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The DVC / MLflow metrics of the table: per method ``f1``, ``ap50`` and, per cluster, ``p50_<cluster>_ms``
    and ``p90_<cluster>_ms`` (mean over the clips; device time)."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys([*acc, *latency]):
        row: dict[str, float] = {k: acc[name][k] for k in ("f1", "ap50") if name in acc and k in acc[name]}
        for c in CLUSTERS:
            ok = [x for x in ((latency.get(name) or {}).get(c) or {}).values() if x.get("p50") is not None]
            for q in ("p50", "p90"):
                if ok:
                    row[f"{q}_{c}_ms"] = round(float(np.mean([x[q] for x in ok])), 2)
        out[name] = row
    return out
