"""Benchmark: the precisions of each exported model, timed interleaved in one process (ncnn forward only).

    python -m factory.export.bench models/export [--runs 200] [--threads 1]

Interleaving (fp32, fp16, int8, fp32, ...) exposes every variant to the same load, so the speed-up ratios
hold on a noisy shared machine even when absolute times drift. Prints the median per variant and its
speed-up over fp32.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from runtime.errors import cli_entry, run_cli
from runtime.infer import Detector
from runtime.manifest import parse_manifest
from runtime.profiling import timing_image
from runtime.timing import Stopwatch


def bench(export_dir: str | Path, runs: int = 200, threads: int = 1, warmup: int = 10) -> dict[str, dict[str, float]]:
    """Model (``backbone-size``) → precision → median ncnn forward time (ms) over ``runs`` interleaved rounds."""
    export_dir = Path(export_dir)
    bundle = parse_manifest(json.loads((export_dir / "models.json").read_text()), f"{export_dir / 'models.json'}:")
    groups: dict[str, list[str]] = {}
    for name in bundle.models:
        groups.setdefault(name.rsplit("-", 1)[0], []).append(name)
    out: dict[str, dict[str, float]] = {}
    for group, names in sorted(groups.items()):
        dets = {n: Detector(export_dir, n, bundle, threads) for n in names}
        x, _ = dets[names[0]].preprocess(timing_image(dets[names[0]].size))
        for det in dets.values():
            for _ in range(warmup):
                det.raw(x)
        times: dict[str, list[float]] = {n: [] for n in names}
        for _ in range(runs):
            for n, det in dets.items():
                with Stopwatch() as watch:
                    det.raw(x)
                times[n].append(watch.ms)
        out[group] = {n.rsplit("-", 1)[1]: float(np.median(t)) for n, t in times.items()}
    return out


@cli_entry
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factory.export.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", help="the export stage's folder (models.json + files)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    for group, med in bench(args.export_dir, args.runs, args.threads).items():
        ref = med.get("fp32")
        cells = [f"{p} {ms:.3f} ms" + (f" (x{ref / ms:.2f})" if ref else "") for p, ms in med.items()]
        print(f"{group:<16} " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    run_cli(main)
