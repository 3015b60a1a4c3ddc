"""The README's cluster.yaml for real devices stays a valid config (keys and values of runtime/cluster/config.py)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from runtime.cluster.config import load_cluster_config
from runtime.modes import Mode

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_cluster_yaml_loads(tmp_path: Path) -> None:
    section = README.read_text().split("## Deploying on real devices", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "one cluster.yaml example in the section"
    path = tmp_path / "cluster.yaml"
    path.write_text(textwrap.dedent(blocks[0]))
    cluster = load_cluster_config(path)
    assert [s.name for s in cluster.servers] == ["rpi-1", "rpi-2", "jetson-1"]
    assert all(not s.emulate for s in cluster.servers), "real devices must not pace to the profile"
    assert cluster.master.endpoint and cluster.client.mode == Mode.PARALOUPE and cluster.security.curve
