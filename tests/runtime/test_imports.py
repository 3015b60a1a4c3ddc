"""The edge runtime never loads torch & co.: import every runtime module in a clean interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ["torch", "lightning", "pytorch_lightning", "nni", "timm", "mlflow", "dvc", "onnxruntime", "factory",
             "torchvision", "sklearn", "pydantic"]

SCRIPT = """
import importlib, json, pkgutil, sys
import runtime
names = [m.name for m in pkgutil.walk_packages(runtime.__path__, "runtime.")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(m.split(".")[0] for m in sys.modules)}))
"""


def test_runtime_imports_no_factory_dependencies() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "runtime.evaluate" in result["modules"] and "runtime.cli.eval" in result["modules"]
    leaked = [name for name in FORBIDDEN if name in result["loaded"]]
    assert not leaked, f"runtime imported {leaked}"
