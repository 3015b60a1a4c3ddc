"""DVC stage ``bundle``: ``models/bundle/`` — the model files and ``manifest.json`` (schema of
:mod:`runtime.bundle`), all the edge runtime learns about models.

Run: ``python -m factory.stages.bundle`` (reads ``params.yaml: bundle``). Copies every exported model's
``.param``/``.bin`` into ``<out_dir>/models/`` and writes the manifest: classes; per model files, sha256,
blob names, input size, mean/std, colour order, precision, decoding, MACs; the device profiles and devices
(profile stage); the patch generator's objectness weights (objectness stage); the factory's git commit and
the sha256 of params.yaml. Check it with ``paraloupe-run --bundle <out_dir> --validate``.

Keypoint models (issue 16): the keypoints stage's ncnn files (``keypoints_dir``) that the profile stage has rows
for — its selection, :mod:`factory.keypoints.bundle_entries` — are copied the same way and listed after the
detectors with their ``task: keypoints`` entries (keypoint names, skeleton, sigmas, input, decoding), hash-checked
like them. Without keypoint rows in the profile the stage says so in one line; detection entries are the same
either way.
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from factory import paths
from factory.keypoints.bundle_entries import bundled_entries
from factory.pipeline import load_section, params_path, resolve_path
from factory.tracking import stage_run
from runtime.bundle import file_sha256, load_manifest, write_manifest
from runtime.errors import UserError, cli_entry, run_cli
from runtime.patches.objectness import ObjectnessModel

log = logging.getLogger("paraloupe")


@dataclass
class BundleParams:
    """The ``bundle`` section of params.yaml."""

    export_dir: str = paths.EXPORT_DIR
    profile_dir: str = paths.PROFILE_DIR
    objectness: str | None = paths.OBJECTNESS_WEIGHTS  # null: a bundle without the patch generator's M
    out_dir: str = paths.BUNDLE_DIR
    keypoints_dir: str = paths.KEYPOINTS_DIR  # the keypoints stage's output (its models the profile rowed)


def git_commit() -> str:
    """The factory's git commit (``+dirty`` when tracked files differ), or ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _read(path: Path, stage: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: not found (run the {stage} stage first)") from None


def copy_models(entries: dict[str, Any], source_dir: Path, out: Path, copied: dict[Path, Path]) -> dict[str, Any]:
    """Copy the ``.param``/``.bin`` of every manifest entry (paths relative to ``source_dir``) into
    ``<out>/models/``; the entries with their new paths and sha256 (deep copies). ``copied`` (target → source,
    updated) catches two different files of one name."""
    files_dir = out / "models"
    models = {}
    for name, entry in entries.items():
        entry = json.loads(json.dumps(entry))
        for role in ("param", "bin"):
            source = source_dir / entry["files"][role]
            target = files_dir / Path(entry["files"][role]).name
            if copied.setdefault(target, source) != source:
                raise UserError(f"{source}: models.{name}.files.{role}: {target.name} is already in the bundle "
                                f"from {copied[target]}")
            shutil.copyfile(source, target)
            entry["files"][role] = target.relative_to(out).as_posix()
            entry["sha256"][role] = file_sha256(target)
        models[name] = entry
    return models


def keypoint_models(params: BundleParams, exported: dict[str, Any], profiled: dict[str, Any]
                    ) -> tuple[Path, dict[str, Any]]:
    """The keypoints folder and the raw entries of the keypoint models the profile has rows for (profile order;
    none — said in one line — when it has none)."""
    rowed = dict.fromkeys(n for p in profiled["profiles"].values() for n in p["models"])
    names = [n for n in rowed if n not in exported["models"]]
    where = resolve_path(params.keypoints_dir)
    if not names:
        log.info("bundle: no keypoint models found (the profile has no keypoint rows): detection models only")
    return bundled_entries(where, names)


def build_bundle(params: BundleParams) -> Path:
    """Write the bundle folder; returns it."""
    export_dir, out = resolve_path(params.export_dir), resolve_path(params.out_dir)
    exported = _read(export_dir / "models.json", "export")
    profiled = _read(resolve_path(params.profile_dir) / "profiles.json", "profile")
    objectness = None
    if params.objectness:
        path = resolve_path(params.objectness)
        objectness = ObjectnessModel.from_dict(_read(path, "objectness"), str(path)).to_dict()
    files_dir = out / "models"
    if files_dir.exists():
        shutil.rmtree(files_dir)
    files_dir.mkdir(parents=True)
    copied: dict[Path, Path] = {}
    models = copy_models(exported["models"], export_dir, out, copied)
    kp_dir, kp_entries = keypoint_models(params, exported, profiled)
    models.update(copy_models(kp_entries, kp_dir, out, copied))
    params_file = params_path()
    manifest = {"classes": exported["classes"], "models": models, "profiles": profiled["profiles"],
                "devices": profiled["devices"],
                "factory": {"git_commit": git_commit(),
                            "params_sha256": file_sha256(params_file) if params_file.is_file() else "",
                            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}}
    if objectness is not None:
        manifest["objectness"] = objectness
    write_manifest(out, manifest)
    load_manifest(out)  # what the runtime will do: schema, checksum, every file's sha256
    return out


@cli_entry
def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    params = load_section("bundle", BundleParams)
    out = resolve_path(params.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with stage_run("bundle", params, out) as tracker:
        build_bundle(params)
        manifest = load_manifest(out)
        size = sum((out / f).stat().st_size for m in manifest.models.values() for _, f in m.files.items())
        tracker.metrics({"models": len(manifest.models), "bytes": size})
        tracker.artifact(out / "manifest.json")
        log.info("bundle %s: %d models (%d keypoint models), %.1f MB of model files, devices %s", out,
                 len(manifest.models), len(manifest.models_of_task("keypoints")), size / 1e6,
                 ", ".join(manifest.profiles))
    return 0


if __name__ == "__main__":
    run_cli(main)
