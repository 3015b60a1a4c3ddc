"""Profiling bundle models on this device with ncnn (paper §III-D1: the t_i^j and α_i^j tables), and rows
estimated for devices not measured yet.

A measured row of one model, :func:`measure_model`::

    {"latency_ms": median of ``runs`` timed calls after ``warmup`` (ms) — one whole per-input call of the model
                   as the runtime loads it (:func:`runtime.keypoint_infer.load_model`): a detector's
                   runtime.infer.Detector (letterbox + normalise, ncnn forward, decode) or a keypoint model's
                   KeypointModel (letterbox + normalise, ncnn forward, heatmap decoding),
     "latency_p90_ms": ..., "net_ms": median of the ncnn forward alone (ms),
     "memory_mb": peak resident memory while loading and running the model, above the process's memory
                  before loading it (MB),
     "accuracy": α, copied from the factory's figure (F1 on the held-out patch set; it belongs to the model),
     "estimated": false}

Each model is measured in a fresh child process (``python -m runtime.profiling``) so that its peak memory
is its own; ``isolate=False`` measures in this process. An estimated row (:func:`estimate_rows`) scales the
host's latency by the FLOPS ratio ``flops_host / flops_device`` and keeps memory and accuracy, marked
``"estimated": true`` — as is the profile holding it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.config import to_mapping
from runtime.errors import UserError
from runtime.manifest import Manifest, parse_manifest
from runtime.timing import Stopwatch

MIN_RUNS = 30


def _status_kb(field: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def reset_peak_memory() -> None:
    """Reset this process's peak-RSS counter to its current RSS (Linux ``clear_refs`` 5; no-op elsewhere)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def rss_mb() -> float:
    """Resident memory of this process now (MB; NaN where /proc is absent)."""
    return _status_kb("VmRSS") / 1024.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process since start or the last :func:`reset_peak_memory` (MB)."""
    peak = _status_kb("VmHWM")
    if peak != peak:  # no /proc: fall back to getrusage (kB on Linux, bytes on macOS)
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform == "darwin" else 1.0)
    return peak / 1024.0


def timing_image(size: int, seed: int = 0, width: int | None = None) -> np.ndarray:
    """The fixed input of every timing: seeded noise, BGR uint8, ``size`` px high × ``width`` px wide
    (default ``size``: square)."""
    return np.random.default_rng(seed).integers(0, 256, (size, width or size, 3), dtype=np.uint8)


def measure_model(bundle_dir: str | Path, manifest: Manifest, name: str, threads: int = 1,
                  runs: int = MIN_RUNS, warmup: int = 5) -> dict[str, Any]:
    """Measure model ``name`` (a detector or a keypoint model) in this process (see the module docstring;
    ``accuracy`` is not filled in). A keypoint model is timed on a crop of its own input ``[height, width]``."""
    import cv2  # noqa: F401  (imported before the baseline: the libraries are not the model's memory)
    import ncnn  # noqa: F401

    from runtime.keypoint_infer import KeypointModel, load_model

    if runs < 1 or warmup < 0:
        raise UserError(f"profiling: runs must be >= 1 and warmup >= 0 (got {runs}, {warmup})")
    reset_peak_memory()
    before = rss_mb()
    model = load_model(bundle_dir, name, manifest, threads)
    forward: Callable[[np.ndarray], Any]
    if isinstance(model, KeypointModel):
        image = timing_image(model.height, width=model.width)
        x, forward = model.preprocess(image)[0], model.heatmaps
    else:
        image = timing_image(model.size)
        x, forward = model.preprocess(image)[0], model.raw
    for _ in range(warmup):
        model(image)
    total, net = [], []
    for _ in range(runs):
        with Stopwatch() as watch:
            model(image)
        total.append(watch.ms)
        with Stopwatch() as watch:
            forward(x)
        net.append(watch.ms)
    return {"latency_ms": round(float(np.median(total)), 3),
            "latency_p90_ms": round(float(np.percentile(total, 90)), 3),
            "net_ms": round(float(np.median(net)), 3),
            "memory_mb": round(max(peak_rss_mb() - before, 0.0), 2), "runs": runs, "warmup": warmup,
            "estimated": False}


def measure_isolated(bundle_dir: str | Path, manifest: Manifest, name: str, threads: int = 1,
                     runs: int = MIN_RUNS, warmup: int = 5, timeout_s: float = 600.0) -> dict[str, Any]:
    """:func:`measure_model` in a fresh ``python -m runtime.profiling`` child (the manifest goes on stdin)."""
    cmd = [sys.executable, "-m", "runtime.profiling", str(bundle_dir), name, str(threads), str(runs), str(warmup)]
    # the child imports the runtime package this process runs (not another checkout installed in the venv)
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
    try:
        done = subprocess.run(cmd, input=json.dumps(to_mapping(manifest)), capture_output=True, text=True,
                              timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise UserError(f"profiling {name}: no result within {timeout_s:.0f} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"profiling {name}: {detail.removeprefix('error: ')}")
    return json.loads(lines[-1])


def measure_models(bundle_dir: str | Path, manifest: Manifest, names: Sequence[str], threads: int = 1,
                   runs: int = MIN_RUNS, warmup: int = 5, isolate: bool = True,
                   log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """Measured rows of several models (name → row), each in its own process unless ``isolate`` is False."""
    rows = {}
    for name in names:
        how = measure_isolated if isolate else measure_model
        rows[name] = how(bundle_dir, manifest, name, threads, runs, warmup)
        if log is not None:
            log(f"{name}: {rows[name]['latency_ms']:.2f} ms (net {rows[name]['net_ms']:.2f} ms), "
                f"{rows[name]['memory_mb']:.1f} MB, {threads} thread(s)")
    return rows


def estimate_rows(rows: Mapping[str, Mapping[str, Any]], flops_from: float, flops_to: float,
                  source: str) -> dict[str, dict[str, Any]]:
    """Rows of a device not measured yet: latency × ``flops_from / flops_to``, memory and accuracy kept,
    ``"estimated": true``."""
    if not (flops_from > 0 and flops_to > 0):
        raise UserError(f"estimate from {source}: FLOPS must be positive (got {flops_from}, {flops_to})")
    ratio = flops_from / flops_to
    out = {}
    for name, row in rows.items():
        est = {"latency_ms": round(float(row["latency_ms"]) * ratio, 3), "memory_mb": row.get("memory_mb", 0.0),
               "accuracy": row.get("accuracy", 0.0), "estimated": True,
               "estimate": f"{source} x {ratio:.4g} (FLOPS ratio)"}
        if "net_ms" in row:
            est["net_ms"] = round(float(row["net_ms"]) * ratio, 3)
        out[name] = est
    return out


def _child(argv: Sequence[str]) -> int:
    bundle_dir, name, threads, runs, warmup = argv
    manifest = parse_manifest(json.loads(sys.stdin.read()), "manifest (stdin):")
    row = measure_model(bundle_dir, manifest, name, int(threads), int(runs), int(warmup))
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    from runtime.errors import cli_entry

    sys.exit(cli_entry(lambda argv: _child(sys.argv[1:]))(None))
