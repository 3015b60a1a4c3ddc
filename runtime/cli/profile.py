"""``paraloupe-profile`` — measure a bundle's models on the device this runs on and write that device's
profile into the bundle (paper §III-D1: latency t, memory, accuracy α per model), re-hashing the manifest.

    paraloupe-profile --bundle models/bundle --device raspberry-pi-4b            # on the Pi itself
    paraloupe-profile --bundle B --device host --threads 2 --models all

Run it once on each device (Raspberry Pi, Jetson, phone): its rows replace the estimated ones (FLOPS ratio
to ``host``) and the profile is marked ``"estimated": false``. Models measured: ``--models`` — ``profiled``
(default: the models the device's profile already lists, else those it serves), ``all``, or a comma list.
Keypoint models (``task: keypoints``) are timed like detectors, on a crop of their input size. Threads:
``--threads``, else the profile's own ``threads``. Accuracy α is copied from the bundle (detectors: F1 measured
by the factory; keypoint models: their test OKS AP). Runtime side: numpy, OpenCV and ncnn only.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

from runtime.errors import UserError, cli_entry, run_cli
from runtime.manifest import DeviceProfile, Manifest

DEVICES = ("jetson-xavier-nx", "raspberry-pi-4b", "snapdragon-732g", "host")


def _models(manifest: Manifest, device: str, choice: str) -> list[str]:
    models = list(manifest.models)  # detectors and keypoint models alike (runtime.profiling times both)
    if choice == "all":
        return models
    if choice == "profiled":
        listed = manifest.listed_models(device)
        return (listed + manifest.listed_models(device, "keypoints")) if listed else models
    names = [n for n in choice.split(",") if n]
    for n in names:
        if n not in models:
            raise UserError(f"--models: {n!r} is not in the bundle (have: {', '.join(models)})")
    return names


def profile_bundle(bundle: str | Path, device: str, threads: int | None = None, models: str = "profiled",
                   runs: int = 30, warmup: int = 5, isolate: bool = True, quiet: bool = False) -> DeviceProfile:
    """Measure and write ``device``'s profile into ``bundle``; returns the new profile."""
    from runtime.bundle import load_manifest, write_profile
    from runtime.profiling import MIN_RUNS, measure_models

    if runs < MIN_RUNS:
        raise UserError(f"--runs: {runs} is below {MIN_RUNS} (the median needs at least {MIN_RUNS} runs)")
    manifest = load_manifest(bundle)
    known = set(DEVICES) | manifest.known_devices()
    if device not in known:
        raise UserError(f"--device: {device!r} is not a known device (known: {', '.join(sorted(known))})")
    old = manifest.profile(device)
    threads = int(threads or (old.threads if old else None) or 1)
    if threads < 1:
        raise UserError(f"--threads: {threads} must be >= 1")
    names = _models(manifest, device, models)
    log = None if quiet else (lambda msg: print(f"[paraloupe-profile] {msg}", file=sys.stderr))
    rows = measure_models(bundle, manifest, names, threads, runs, warmup, isolate, log)
    for name, row in rows.items():
        row["accuracy"] = manifest.model_accuracy(name)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    profile = {"estimated": False, "threads": threads, "models": rows,
               "source": f"paraloupe-profile on {platform.node() or 'unknown'} ({platform.machine()}), {stamp}"}
    return write_profile(bundle, device, profile).profiles[device]


@cli_entry
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paraloupe-profile", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--bundle", required=True, help="bundle folder (manifest.json + model files)")
    parser.add_argument("--device", required=True, help=f"this device's name ({', '.join(DEVICES)})")
    parser.add_argument("--threads", type=int, help="ncnn threads (default: the profile's own)")
    parser.add_argument("--models", default="profiled", help="profiled | all | NAME,NAME,...")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per model (>= 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    profile = profile_bundle(args.bundle, args.device, args.threads, args.models, args.runs, args.warmup,
                             quiet=args.quiet)
    print(f"{args.bundle}: profile of {args.device} written ({len(profile.models)} models, "
          f"{profile.threads} thread(s), measured)")
    for name, row in profile.models.items():
        print(f"  {name:<24} {row.latency_ms:9.2f} ms  {row.memory_mb:7.1f} MB  α {row.accuracy:.3f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
