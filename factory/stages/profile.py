"""DVC stage ``profile``: the tables the scheduler needs (paper §III-D1) — per device × model latency t (ms),
peak memory (MB), accuracy α (from the export stage: a mini's F1 in the closed loop on held-out videos, the
baseline's on held-out whole frames).

Run: ``python -m factory.stages.profile`` (reads ``params.yaml: profile``). ``host`` rows are measured here
with ncnn (:mod:`runtime.profiling`: each model in its own process, median of ``runs`` ≥ 30 after
``warmup``, at the host's ``threads``) for every exported model. Every other device gets rows estimated
from the FLOPS ratio to ``host`` (the devices' FLOPS from the search stage's metrics; the host's measured here,
right after its latencies, so both are taken under the same load), marked
``"estimated": true`` — ``paraloupe-profile`` replaces them once run on the device itself.

A device's profile lists the models it serves: by default the mini detectors built on its own searched
backbone (``backbone``, the alias in the model names) in its ``precision``, plus the baseline at every
exported side in that precision (``baseline-320-int8``, ``baseline-480-int8``, ...; ascending side); where no
detector was built on its backbone, every mini detector in that precision (said so in ``serves_note``).
``host`` lists every model. A model of one backbone and precision that is not slower than the same network at
a smaller side on host is logged as a warning and listed under ``warnings`` in ``metrics.json`` (a noisy
host: re-run). Writes ``<out_dir>/profiles.json`` (the manifest's ``profiles`` and ``devices`` sections)
and ``<out_dir>/metrics.json``.

Keypoint models (issue 16): the keypoints stage's ncnn files under ``keypoints_dir`` whose torch vs ncnn parity
passes (mean keypoint drift ≤ ``keypoint_parity_px``; :mod:`factory.keypoints.bundle_entries`: fp32 and fp16,
int8 left out while its parity fails) are measured on host by the same code, right after the detectors, with
α = their test OKS AP, and estimated for every other device by the same FLOPS ratio. A device's profile lists
the keypoint models in its precision, else the fp32 ones; ``devices`` entries (what a device serves for
detection) are not touched. Without keypoint files the stage says so in one line and writes detection only —
the same detection rows either way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from factory import paths
from factory.keypoints.bundle_entries import KeypointExports, keypoint_serves, read_keypoint_exports
from factory.nas.devices import measure_host_flops
from factory.pipeline import load_section, resolve_path
from factory.tracking import stage_run
from runtime.atomic import write_json
from runtime.config import bounded, to_mapping
from runtime.errors import UserError, cli_entry, run_cli
from runtime.manifest import ModelSpec, parse_manifest
from runtime.profiling import MIN_RUNS, estimate_rows, measure_models

log = logging.getLogger("paraloupe")


@dataclass
class DeviceProfileParams:
    """One target device (``profile.devices[i]``)."""

    name: str = "host"
    backbone: str = "host"  # alias of the device's searched backbone in model names (rpi4b-240-int8 → rpi4b)
    precision: Literal["fp32", "fp16", "int8"] = "fp32"  # the precision that suits it
    threads: int = bounded(1, "ncnn threads on that device", ge=1)
    cost: float = bounded(0.0, "initial computational cost c_i (the live one comes from its device profiler)",
                          ge=0.0, le=1.0)


def _default_devices() -> list[DeviceProfileParams]:
    return [DeviceProfileParams("jetson-xavier-nx", "nx", "fp16", 4),
            DeviceProfileParams("raspberry-pi-4b", "rpi4b", "int8", 4),
            DeviceProfileParams("snapdragon-732g", "sd732g", "fp16", 4),
            DeviceProfileParams("host", "host", "fp32", 1)]


@dataclass
class ProfileParams:
    """The ``profile`` section of params.yaml."""

    export_dir: str = paths.EXPORT_DIR
    search_metrics: str = paths.SEARCH_METRICS  # device FLOPS (host's measured by the search stage)
    out_dir: str = paths.PROFILE_DIR
    keypoints_dir: str = paths.KEYPOINTS_DIR  # the keypoints stage's output; absent: no keypoint rows
    keypoint_parity_px: float = bounded(1.0, "largest mean torch vs ncnn keypoint drift (input px) of a keypoint "
                                             "file that is profiled and bundled", ge=0.0)
    runs: int = bounded(30, "timed runs per model (median)", ge=MIN_RUNS)
    warmup: int = bounded(5, "untimed runs first", ge=0)
    devices: list[DeviceProfileParams] = field(default_factory=_default_devices)

    def validate(self, where: str) -> None:
        """Cross-field checks (called by the config loader)."""
        names = [d.name for d in self.devices]
        if "host" not in names:
            raise UserError(f"{where}.devices: 'host' is required (the measured device estimates start from)")
        if len(set(names)) != len(names):
            raise UserError(f"{where}.devices: duplicate device names")


def read_flops(path: Path, devices: list[str]) -> dict[str, float]:
    """FLOPS per device from the search stage's metrics (a missing device is a one-line error)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found (run the search stage: it measures the host's FLOPS)") from None
    flops = {}
    for d in devices:
        value = (data.get(d) or {}).get("flops")
        if not isinstance(value, (int, float)) or value <= 0:
            raise UserError(f"{path}: {d}.flops missing (needed to estimate its profile)")
        flops[d] = float(value)
    return flops


def serves(models: Mapping[str, ModelSpec], device: DeviceProfileParams) -> tuple[list[str], str]:
    """The models ``device`` serves by default and a note when it falls back (see the module docstring)."""
    def pick(kind: str, backbone: str | None) -> list[str]:
        return sorted((n for n, m in models.items() if m.kind == kind and m.precision == device.precision
                       and (backbone is None or m.backbone == backbone)),
                      key=lambda n: models[n].input_size)

    minis, note = pick("mini", device.backbone), ""
    if not minis:
        minis = pick("mini", None)
        note = f"no detector on backbone {device.backbone!r}: every mini detector in {device.precision}"
    if not minis:
        raise UserError(f"profile.devices: {device.name}: no mini detector exported in {device.precision}")
    return minis + pick("baseline", None), note


def side_order_warnings(models: Mapping[str, ModelSpec], rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One line per model whose measured latency is not above that of the same network (kind, backbone,
    precision) at the next smaller side — the baseline exported at several sides must get slower with the side."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for name in rows:
        m = models[name]
        groups.setdefault((m.kind, m.backbone, m.precision), []).append(name)
    out = []
    for names in groups.values():
        names.sort(key=lambda n: models[n].input_size)
        for small, big in zip(names, names[1:], strict=False):
            if rows[big]["latency_ms"] <= rows[small]["latency_ms"]:
                out.append(f"{big}: {rows[big]['latency_ms']:.2f} ms, not above {small} "
                           f"({rows[small]['latency_ms']:.2f} ms)")
    return out


def read_keypoints(params: ProfileParams) -> KeypointExports | None:
    """The keypoint files to profile (logged: what is left out and why), or None — said in one line — when the
    keypoints stage's output is absent."""
    where = resolve_path(params.keypoints_dir)
    kp = read_keypoint_exports(where, params.keypoint_parity_px)
    if kp is None:
        log.info("profile: no keypoint models found (%s absent): detection models only", where / "ncnn/manifest.json")
        return None
    for name, why in kp.left_out.items():
        log.info("profile: keypoint model %s left out: %s", name, why)
    log.info("profile: %d keypoint models from %s: %s", len(kp.models), kp.ncnn_dir, ", ".join(kp.models) or "none")
    return kp


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("profile", ProfileParams)
    export_dir, out = resolve_path(params.export_dir), resolve_path(params.out_dir)
    try:
        exported = json.loads((export_dir / "models.json").read_text())
        quality = {r["model"]: r for r in json.loads((export_dir / "metrics.json").read_text())["rows"]}
    except FileNotFoundError as exc:
        raise UserError(f"{exc.filename}: not found (run the export stage first)") from None
    catalog = parse_manifest(exported, f"{export_dir / 'models.json'}:")
    models = catalog.models
    flops = read_flops(resolve_path(params.search_metrics), [d.name for d in params.devices])
    kp = read_keypoints(params)
    kp_models = kp.models if kp is not None else {}
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with stage_run("profile", params, out) as tracker:
        host = next(d for d in params.devices if d.name == "host")
        measured = measure_models(export_dir, catalog, list(models), host.threads, params.runs, params.warmup,
                                  log=lambda msg: log.info("profile host: %s", msg))
        for name, row in measured.items():
            row["accuracy"] = round(float(quality[name]["f1"]), 4)
        kp_measured: dict[str, dict[str, Any]] = {}
        if kp is not None and kp_models:
            kp_measured = measure_models(kp.ncnn_dir, kp.catalog, list(kp_models), host.threads, params.runs,
                                         params.warmup, log=lambda msg: log.info("profile host: %s", msg))
            for name, row in kp_measured.items():
                row["accuracy"] = kp.accuracy[name]
        # the host's FLOPS under the load its latencies were just timed under (the search stage's figure may come
        # from a quieter or busier moment: a 2.2x difference was measured), so that their ratio scales one load
        flops["host"] = measure_host_flops(threads=host.threads)
        log.info("profile host: %.3g FLOPS (measured beside the latencies)", flops["host"])
        warnings = side_order_warnings(models, measured) + side_order_warnings(kp_models, kp_measured)
        for w in warnings:
            log.warning("profile host: %s (latency should grow with the input side)", w)
        profiles: dict[str, Any] = {}
        devices: dict[str, Any] = {}
        kp_serves: dict[str, Any] = {}
        for d in params.devices:
            served, note = serves(models, d)
            kp_served, kp_note = keypoint_serves(kp_models, d.precision)
            kp_note = "" if d.name == "host" else kp_note  # host lists every model
            kp_serves[d.name] = {"models": list(kp_models) if d.name == "host" else kp_served,
                                 **({"note": kp_note} if kp_note else {})}
            if kp_note:
                log.info("profile %s: %s", d.name, kp_note)
            if d.name == "host":
                profiles[d.name] = {"estimated": False, "threads": d.threads, "models": {**measured, **kp_measured},
                                    "source": "measured by the profile stage (runtime.profiling, ncnn)"}
            else:
                chosen = {**{n: measured[n] for n in served}, **{n: kp_measured[n] for n in kp_served}}
                rows = estimate_rows(chosen, flops["host"], flops[d.name], "host")
                profiles[d.name] = {"estimated": True, "threads": d.threads, "models": rows,
                                    "source": f"estimated: host latency x FLOPS ratio {flops['host']:.3g} / "
                                              f"{flops[d.name]:.3g}; run paraloupe-profile on the device"}
            devices[d.name] = {"flops": flops[d.name], "serves": served, "cost": d.cost, "precision": d.precision,
                               "backbone": d.backbone, **({"serves_note": note} if note else {})}
        write_json(out / "profiles.json", {"profiles": profiles, "devices": devices})
        table = [{"device": dev, "model": name, **row} for dev, p in profiles.items()
                 for name, row in p["models"].items()]
        keypoints = {"found": kp is not None, "serves": kp_serves, "left_out": kp.left_out if kp else {}}
        write_json(out / "metrics.json", {"rows": table, "seconds": round(time.time() - t0, 1),
                                          "warnings": warnings, "keypoints": keypoints, "params": to_mapping(params)})
        tracker.metrics({f"host/{n}/latency_ms": r["latency_ms"] for n, r in {**measured, **kp_measured}.items()})
        log.info("%-18s %-30s %10s %9s %7s %s", "device", "model", "t ms", "mem MB", "α", "")
        for r in table:
            log.info("%-18s %-30s %10.2f %9.1f %7.4f %s", r["device"], r["model"], r["latency_ms"], r["memory_mb"],
                     r["accuracy"], "estimated" if r["estimated"] else "measured")
    return 0


if __name__ == "__main__":
    run_cli(main)
