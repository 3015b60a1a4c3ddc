"""Experiment tracking — the one place that imports MLflow.

Each DVC stage runs inside :func:`stage_run`, which opens an MLflow run named after the stage, logs the
stage's resolved params, writes them beside the outputs (``<out>/params.resolved.yaml``) and gives the stage
a :class:`Tracker` for metrics and artifacts. The ``paraloupe`` experiment carries MLflow 3's experiment-kind
tag (:data:`KIND_TAG`: ``mlflow.experimentKind = custom_model_development``), so that the UI opens it in the
model-training view (runs, metrics, artifacts) rather than the GenAI overview (traces, prompts). The tracking
store is ``sqlite:///mlflow.db`` (artifacts under ``./mlruns/``) unless ``MLFLOW_TRACKING_URI`` says
otherwise. With ``PARALOUPE_TRACKING=off``, or where mlflow is not installed (e.g. a bare GPU machine),
tracking degrades to local files: metrics are still written to ``<out>/metrics.json`` by the stage itself.

Open the UI with::

    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///mlflow.db \
        --host 127.0.0.1 --port 5000 --workers 1
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from runtime.atomic import atomic_open
from runtime.config import to_mapping

log = logging.getLogger("paraloupe")

EXPERIMENT = "paraloupe"
#: MLflow 3's experiment-type tag and the value of its model-training kind (the UI reads the key
#: ``mlflow.experimentKind``; its kinds include ``genai_development`` and ``custom_model_development``).
KIND_TAG = ("mlflow.experimentKind", "custom_model_development")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


class Tracker:
    """Logs metrics and artifacts of one stage run (no-op methods when tracking is off)."""

    def __init__(self, mlflow: Any | None) -> None:
        self._mlflow = mlflow

    @property
    def enabled(self) -> bool:
        return self._mlflow is not None

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Log numeric ``values`` (non-numbers are skipped), optionally at ``step``."""
        if self._mlflow is None:
            return
        flat = {k: float(v) for k, v in _flatten(values).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if flat:
            self._mlflow.log_metrics(flat, step=step)

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        """Log a file or a whole directory as an artifact (under ``folder`` in the run)."""
        if self._mlflow is None:
            return
        path = Path(path)
        if path.is_dir():
            self._mlflow.log_artifacts(str(path), artifact_path=folder)
        elif path.exists():
            self._mlflow.log_artifact(str(path), artifact_path=folder)

    def tags(self, values: Mapping[str, str]) -> None:
        """Set run tags."""
        if self._mlflow is not None:
            self._mlflow.set_tags(dict(values))


def _import_mlflow() -> Any | None:
    if os.environ.get("PARALOUPE_TRACKING", "on").lower() in ("off", "0", "false", "no"):
        return None
    try:
        import mlflow
    except ImportError:
        log.warning("mlflow is not installed: tracking degrades to local files")
        return None
    return mlflow


def write_resolved(out_dir: str | Path, section: str, params: Any) -> Path:
    """Write the resolved params section as ``<out_dir>/params.resolved.yaml`` (atomically)."""
    target = Path(out_dir) / "params.resolved.yaml"
    with atomic_open(target) as handle:
        yaml.safe_dump({section: to_mapping(params)}, handle, sort_keys=False)
    return target


def open_experiment(mlflow: Any, name: str = EXPERIMENT) -> str:
    """Make ``name`` the active experiment, creating it with the :data:`KIND_TAG` tag; an existing experiment
    without a kind tag gets it (a kind someone chose in the UI is kept). Returns the experiment id."""
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    key, value = KIND_TAG
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        with contextlib.suppress(MlflowException):  # created meanwhile by another process: tagged below if need be
            client.create_experiment(name, tags={key: value})
        experiment = client.get_experiment_by_name(name)
    if experiment is not None and key not in experiment.tags and experiment.lifecycle_stage == "active":
        client.set_experiment_tag(experiment.experiment_id, key, value)
    return mlflow.set_experiment(name).experiment_id


@contextlib.contextmanager
def stage_run(stage: str, params: Any, out_dir: str | Path) -> Iterator[Tracker]:
    """Run a stage inside an MLflow run: params logged, resolved config written and logged."""
    resolved = write_resolved(out_dir, stage, params)
    mlflow = _import_mlflow()
    if mlflow is None:
        yield Tracker(None)
        return
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"))
    open_experiment(mlflow)
    with mlflow.start_run(run_name=stage):
        tracker = Tracker(mlflow)
        tracker.tags({"stage": stage})
        flat = {k: str(v)[:500] for k, v in _flatten(to_mapping(params)).items()}
        for i in range(0, len(flat), 90):
            mlflow.log_params(dict(list(flat.items())[i:i + 90]))
        tracker.artifact(resolved)
        yield tracker
