"""Offline labelling tools that run a foreign package in its own virtual environment (never a runtime dependency)."""
