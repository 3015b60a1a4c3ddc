"""The tracker's MLflow experiment: created with MLflow 3's experiment-kind tag (model training, not GenAI), on a
sqlite store in a temp folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from factory.tracking import EXPERIMENT, KIND_TAG, open_experiment, stage_run

mlflow = pytest.importorskip("mlflow")


@dataclass
class _Params:
    epochs: int = 2


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A sqlite tracking URI in ``tmp_path`` with tracking on (conftest turns it off by default)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("PARALOUPE_TRACKING", "on")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # artifacts under tmp_path/mlruns
    mlflow.set_tracking_uri(uri)
    return uri


def test_the_kind_tag_is_mlflow_3s_model_training_kind() -> None:
    assert KIND_TAG == ("mlflow.experimentKind", "custom_model_development")


def test_a_stage_run_creates_the_experiment_with_the_kind_tag(store: str, tmp_path: Path) -> None:
    with stage_run("unit", _Params(), tmp_path / "out") as tracker:
        assert tracker.enabled
        tracker.metrics({"loss": 0.5})
    experiment = mlflow.MlflowClient(store).get_experiment_by_name(EXPERIMENT)
    assert experiment.tags[KIND_TAG[0]] == KIND_TAG[1]
    runs = mlflow.MlflowClient(store).search_runs([experiment.experiment_id])
    assert [r.data.tags["stage"] for r in runs] == ["unit"] and runs[0].data.metrics["loss"] == 0.5


def test_an_untagged_experiment_gets_the_tag_and_a_chosen_kind_is_kept(store: str) -> None:
    client = mlflow.MlflowClient(store)
    old = client.create_experiment(EXPERIMENT)  # as an earlier version of the tracker left it
    assert KIND_TAG[0] not in client.get_experiment(old).tags
    assert open_experiment(mlflow) == old
    assert client.get_experiment(old).tags[KIND_TAG[0]] == KIND_TAG[1]
    other = client.create_experiment("chosen", tags={KIND_TAG[0]: "genai_development"})
    open_experiment(mlflow, "chosen")
    assert client.get_experiment(other).tags[KIND_TAG[0]] == "genai_development"
