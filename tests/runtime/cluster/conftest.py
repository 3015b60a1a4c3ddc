"""The cluster tests use ``tiny_bundle`` and ``tiny_video`` from tests/conftest.py."""
