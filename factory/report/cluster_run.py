"""One cluster run of the report: a ``paraloupe-run --cluster ...`` subprocess, cached by its arguments.

:func:`run_one` runs a :class:`factory.report.cluster.RunSpec` (or loads it from ``cache/NAME-KEY/``, KEY =
:func:`run_key`: the run's arguments and the bundle checksum, which the caller extends by
:func:`runtime_digest` so that a runtime change re-runs) and reads back its summary, per-frame columns
(:func:`read_frames`) and the master's schedule log.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.atomic import write_json

if TYPE_CHECKING:
    from factory.report.cluster import RunSpec

RUN_TIMEOUT_S = 900


def source_digest(root: Path) -> str:
    """sha256 (hex, 12) over every ``*.py`` under ``root`` (relative names and contents, in sorted order)."""
    digest = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    """:func:`source_digest` of the ``runtime`` package: the code a cluster run or a replay executes."""
    return source_digest(Path(__file__).resolve().parents[2] / "runtime")


def run_key(spec: RunSpec, bundle: str, checksum: str) -> str:
    """Cache key: the run's arguments, whether it logs schedules, and the bundle checksum."""
    blob = json.dumps({"args": spec.args(bundle), "schedule_log": spec.schedule_log, "bundle": checksum})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def read_frames(predictions: Path) -> dict[str, list[Any]]:
    """Per-frame columns of a predictions JSONL: frame, latency_ms (None when dropped), patches, dropped,
    skipped."""
    cols: dict[str, list[Any]] = {"frame": [], "latency_ms": [], "patches": [], "dropped": [], "skipped": []}
    for line in predictions.read_text().splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        dropped = bool(d.get("dropped"))
        cols["frame"].append(int(d["frame"]))
        cols["latency_ms"].append(None if dropped or d.get("latency_ms") is None else float(d["latency_ms"]))
        cols["patches"].append(None if dropped else d.get("patches"))
        cols["dropped"].append(dropped)
        cols["skipped"].append(bool(d.get("skipped")))
    return cols


def read_schedule_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_one(spec: RunSpec, bundle: str, checksum: str, cache: Path,
            log: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> dict[str, Any]:
    """Run ``spec`` (or load it from the cache); returns its result record (JSON-ready)."""
    key = run_key(spec, bundle, checksum)
    folder = cache / f"{spec.name}-{key}"
    summary_p, pred_p, sched_p, meta_p = (folder / "summary.json", folder / "predictions.jsonl",
                                          folder / "schedule.jsonl", folder / "run.json")
    argv = [*spec.args(bundle), "--summary", str(summary_p), "--out", str(pred_p)]
    if spec.schedule_log:
        argv += ["--schedule-log", str(sched_p)]
    record: dict[str, Any] = {"name": spec.name, "key": key, "spec": dataclasses.asdict(spec),
                              "command": "paraloupe-run " + " ".join(argv), "folder": str(folder)}
    if meta_p.exists() and summary_p.exists() and pred_p.exists():
        meta = json.loads(meta_p.read_text())
        if meta.get("key") == key and meta.get("rc") == 0:
            log(f"[cluster] {spec.name}: cached ({folder})")
            return {**record, "wall_s": meta.get("wall_s"), "cached": True,
                    "summary": json.loads(summary_p.read_text()), "frames": read_frames(pred_p),
                    "schedule": read_schedule_log(sched_p)}
    folder.mkdir(parents=True, exist_ok=True)
    for p in (summary_p, pred_p, sched_p, meta_p):
        p.unlink(missing_ok=True)
    log(f"[cluster] {spec.name}: {record['command']}")
    env = dict(os.environ)
    env.setdefault("NUMBA_CACHE_DIR", str(Path(cache) / "numba"))
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "runtime.cli.run", *argv, "--workdir", str(folder / "work")],
                              capture_output=True, text=True, env=env,
                              timeout=RUN_TIMEOUT_S)
        rc, err = proc.returncode, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, err = 124, f"timed out after {RUN_TIMEOUT_S} s\n{exc.stderr or ''}"
    wall = time.monotonic() - t0
    (folder / "stderr.log").write_text(err if isinstance(err, str) else err.decode(errors="replace"))
    if rc != 0 or not summary_p.exists() or not pred_p.exists():
        tail = " | ".join(str(err).strip().splitlines()[-3:])
        log(f"[cluster] {spec.name}: FAILED rc={rc} after {wall:.1f} s: {tail}")
        return {**record, "wall_s": round(wall, 2), "cached": False, "error": f"rc={rc}: {tail}"}
    write_json(meta_p, {"key": key, "rc": rc, "wall_s": round(wall, 2), "argv": argv})  # the cache marker, last
    log(f"[cluster] {spec.name}: done in {wall:.1f} s")
    return {**record, "wall_s": round(wall, 2), "cached": False, "summary": json.loads(summary_p.read_text()),
            "frames": read_frames(pred_p), "schedule": read_schedule_log(sched_p)}
