"""The named choices (modes, solvers, patch kinds): one enum each, used by the CLIs, configs and dispatch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from runtime.cli import schedule as schedule_cli
from runtime.cli.run import _parser as run_parser
from runtime.cluster.client_parts import mode_kind
from runtime.cluster.config import ClientSection, ClusterConfig, MasterSection, load_cluster_config
from runtime.config import from_mapping, to_mapping
from runtime.errors import UserError
from runtime.modes import Mode, Solver
from runtime.patches import PatchGenerator, PatchKind, generator_names, make_generator
from runtime.patches.generators import EP_LAYOUTS
from runtime.scheduler import SOLVERS


def test_mode_values_and_helpers() -> None:
    assert Mode.values() == ["paraloupe", "baseline", "mini", "lastdet", "motion-regions", "sahi", "ep-1", "ep-2",
                             "ep-4", "ep-6", "ep-8"]
    assert [m for m in Mode if m.is_whole_frame] == [Mode.BASELINE, Mode.MINI]
    assert generator_names() == ["paraloupe", "lastdet", "motion-regions", "ep-1", "ep-2", "ep-4", "ep-6", "ep-8"]
    assert [m for m in Mode if m.uses_detections] == [Mode.PARALOUPE, Mode.LASTDET]
    assert EP_LAYOUTS == {1: (1, 1), 2: (2, 1), 4: (2, 2), 6: (3, 2), 8: (4, 2)}  # CONVENTIONS.md
    assert all(m.value == f"ep-{k}" for k, m in Mode.equal_partitions().items())
    assert Mode.PARALOUPE.ep_layout is None and Mode.EP6.ep_k == 6
    assert {m.model_kind for m in Mode if m not in (Mode.BASELINE, Mode.SAHI)} == {"mini"}
    assert Mode.BASELINE.model_kind == Mode.SAHI.model_kind == "baseline"


def test_members_read_as_their_values() -> None:
    assert Mode.EP4 == "ep-4" and str(Mode.EP4) == f"{Mode.EP4}" == "ep-4" and {"ep-4": 1}[Mode.EP4] == 1
    assert json.dumps({Solver.MILP: Mode.LASTDET}) == '{"milp": "lastdet"}'
    assert Mode.parse("mini", "--mode") is Mode.MINI
    with pytest.raises(UserError, match=r"^--mode: unknown 'ep-3' \(choose from paraloupe, baseline"):
        Mode.parse("ep-3", "--mode")


def test_mode_kind_accepts_only_known_modes() -> None:
    assert mode_kind("baseline") == "baseline" and mode_kind(Mode.EP8) == "mini" and mode_kind("lastdet") == "mini"
    for bad in ("ep-3", "ep-16", "frame"):
        with pytest.raises(UserError, match="--mode: unknown"):
            mode_kind(bad)


def test_make_generator_by_mode() -> None:
    frame = np.full((60, 80, 3), 100, dtype=np.uint8)
    for mode in Mode.generators():
        gen: PatchGenerator = make_generator(mode)
        assert gen.name == mode.value and make_generator(mode.value).name == mode.value
        gen.reset()
        assert len(gen(frame, 0)) >= 0
    for bad in ("baseline", Mode.MINI, "ep-3"):
        with pytest.raises(ValueError, match=r"unknown patch generator '\w+(-\d)?' \(choose from paraloupe, lastdet"):
            make_generator(bad)


def test_patch_kinds_keep_the_int8_codes_and_words() -> None:
    assert [(k.value, k.word) for k in PatchKind] == [(0, "high"), (1, "low"), (2, "refresh"), (3, "predefined"),
                                                      (4, "partition")]
    fill = PatchKind.REFRESH.fill(3)
    assert fill.dtype == np.int8 and fill.tolist() == [2, 2, 2]
    out = make_generator(Mode.EP2)(np.zeros((40, 40), dtype=np.uint8), 0)
    assert out.kinds.dtype == np.int8 and out.kind_names() == ["partition", "partition"]


def test_solver_registry_and_cli_choices() -> None:
    assert set(SOLVERS) == set(Solver) and Solver.values() == ["markov", "uniform", "proportional", "greedy", "milp"]
    with pytest.raises(SystemExit):
        schedule_cli.main(["--instance", "x.json", "--solver", "simplex"])
    args = run_parser().parse_args(["--bundle", "b", "--mode", "ep-6", "--scheduler", "greedy"])
    assert args.mode == Mode.EP6 and args.scheduler == Solver.GREEDY
    with pytest.raises(SystemExit):
        run_parser().parse_args(["--bundle", "b", "--mode", "ep-3"])


def test_cluster_config_takes_and_writes_the_enum_values(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump({"master": {"scheduler": "uniform"}, "client": {"mode": "ep-8"}}))
    cfg = load_cluster_config(path)
    assert cfg.client.mode is Mode.EP8 and cfg.master.scheduler is Solver.UNIFORM
    plain = to_mapping(cfg)
    assert plain["client"]["mode"] == "ep-8" and type(plain["client"]["mode"]) is str
    assert yaml.safe_load(yaml.safe_dump(plain))["master"]["scheduler"] == "uniform"
    assert ClientSection(mode="lastdet").mode is Mode.LASTDET
    assert MasterSection(scheduler="milp").scheduler is Solver.MILP
    assert ClusterConfig().client.mode is Mode.PARALOUPE and ClusterConfig().master.scheduler is Solver.MARKOV


@pytest.mark.parametrize("data, message", [
    ({"client": {"mode": "ep-3"}}, r"^c\.yaml\.client\.mode: 'ep-3' is not one of 'paraloupe', 'baseline', "),
    ({"master": {"scheduler": "simplex"}}, r"^c\.yaml\.master\.scheduler: 'simplex' is not one of 'markov', "),
])
def test_cluster_config_rejects_unknown_choices_naming_the_key(data: dict, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        from_mapping(ClusterConfig, data, "c.yaml")
    assert "\n" not in str(err.value)


@dataclass
class _WithEnum:
    mode: Mode = Mode.MINI
    solvers: list[Solver] | None = None


def test_loader_converts_enum_fields_in_general() -> None:
    cfg = from_mapping(_WithEnum, {"mode": "baseline", "solvers": ["milp", "markov"]}, "p")
    assert cfg.mode is Mode.BASELINE and cfg.solvers == [Solver.MILP, Solver.MARKOV]
    assert to_mapping(cfg) == {"mode": "baseline", "solvers": ["milp", "markov"]}
    with pytest.raises(UserError, match=r"^p\.solvers\[1\]: 'x' is not one of"):
        from_mapping(_WithEnum, {"solvers": ["milp", "x"]}, "p")
