"""Profiling bundle models with ncnn, estimated rows, ``paraloupe-profile``, and bad bundles refused with a
one-line error (tampered file, unknown schema, missing file, a model ncnn cannot load)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runtime.bundle import load_manifest, manifest_checksum
from runtime.cli import profile as profile_cli
from runtime.cli import run as run_cli
from runtime.errors import UserError
from runtime.profiling import estimate_rows, measure_isolated, measure_model
from tests.runtime.cluster.tiny_bundle import build_tiny_bundle


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny") / "bundle")


@pytest.fixture
def bundle(tiny: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(tiny, copy)
    return copy


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_measure_model_row(tiny: Path) -> None:
    manifest = load_manifest(tiny)
    row = measure_model(tiny, manifest, "tiny-64-fp32", threads=1, runs=30, warmup=2)
    assert row["estimated"] is False and row["runs"] == 30
    assert 0 < row["net_ms"] <= row["latency_ms"] <= row["latency_p90_ms"]
    assert row["memory_mb"] >= 0


def test_measure_isolated_and_its_errors(tiny: Path) -> None:
    manifest = load_manifest(tiny)
    row = measure_isolated(tiny, manifest, "tiny-96-fp32", runs=30, warmup=1)
    assert row["latency_ms"] > 0
    with pytest.raises(UserError, match="not in the bundle"):
        measure_isolated(tiny, manifest, "nope", runs=30)


def test_estimated_rows_scale_with_flops() -> None:
    rows = {"m": {"latency_ms": 10.0, "net_ms": 8.0, "memory_mb": 5.0, "accuracy": 0.8, "estimated": False}}
    est = estimate_rows(rows, 1e11, 1e10, "host")["m"]
    assert est["latency_ms"] == pytest.approx(100.0) and est["net_ms"] == pytest.approx(80.0)
    assert est["estimated"] is True and est["memory_mb"] == 5.0 and est["accuracy"] == 0.8
    with pytest.raises(UserError, match="FLOPS"):
        estimate_rows(rows, 1e11, 0.0, "host")


def test_profile_cli_writes_measured_rows_and_rehashes(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = load_manifest(bundle)
    assert profile_cli.main(["--bundle", str(bundle), "--device", "raspberry-pi-4b", "--threads", "1",
                             "--warmup", "1", "--quiet"]) == 0
    after = load_manifest(bundle)  # checksum and file hashes still valid
    prof = after.profiles["raspberry-pi-4b"]
    assert prof.estimated is False and prof.threads == 1
    assert set(prof.models) == set(before.profiles["raspberry-pi-4b"].models)
    for name, row in prof.models.items():
        assert row.estimated is False and row.latency_ms > 0 and row.runs == 30
        assert row.accuracy == before.profiles["raspberry-pi-4b"].models[name].accuracy
    assert after.profiles["jetson-xavier-nx"] == before.profiles["jetson-xavier-nx"]
    assert "raspberry-pi-4b" in capsys.readouterr().out


def test_profile_cli_bad_arguments(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert profile_cli.main(["--bundle", str(bundle), "--device", "pi-5"]) == 2
    assert "not a known device" in _error_line(capsys)
    assert profile_cli.main(["--bundle", str(bundle), "--device", "host", "--runs", "10"]) == 2
    assert "--runs" in _error_line(capsys)
    assert profile_cli.main(["--bundle", str(bundle), "--device", "host", "--models", "x"]) == 2
    assert "'x'" in _error_line(capsys)


def test_tampered_bin_is_refused_naming_the_file(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = bundle / "tiny.bin"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    for main, argv in ((run_cli.main, ["--bundle", str(bundle), "--validate"]),
                       (profile_cli.main, ["--bundle", str(bundle), "--device", "host"])):
        assert main(argv) == 2
        line = _error_line(capsys)
        assert "tiny.bin" in line and "sha256 mismatch" in line


def _rewrite(bundle: Path, edit) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    manifest["checksum"] = manifest_checksum(manifest)
    path.write_text(json.dumps(manifest))


def test_unknown_schema_version(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _rewrite(bundle, lambda m: m.update(schema_version=99))
    assert run_cli.main(["--bundle", str(bundle), "--validate"]) == 2
    assert "schema_version 99" in _error_line(capsys)


def test_missing_file(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "tiny.param").unlink()
    assert run_cli.main(["--bundle", str(bundle), "--validate"]) == 2
    assert "tiny.param" in _error_line(capsys)


def test_model_ncnn_cannot_load(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runtime.bundle import file_sha256

    (bundle / "tiny.param").write_text("7767517\n1 1\nNoSuchLayer  x  0 1 x\n")
    digest = file_sha256(bundle / "tiny.param")
    _rewrite(bundle, lambda m: [e["sha256"].update(param=digest) for e in m["models"].values()])
    assert run_cli.main(["--bundle", str(bundle), "--validate"]) == 2
    assert "ncnn cannot load" in _error_line(capsys)
    assert profile_cli.main(["--bundle", str(bundle), "--device", "host"]) == 2
    assert "ncnn cannot load" in _error_line(capsys)
