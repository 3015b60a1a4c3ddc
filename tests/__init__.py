"""The test tree is a package (every folder has an ``__init__.py``), so test helpers import by their path:
``from tests.runtime.cluster.tiny_bundle import build_tiny_bundle``."""
