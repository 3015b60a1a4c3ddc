"""Detector models: backbone registry (:mod:`.backbones`), necks, anchor-free heads, the mini and baseline
detectors with their checkpoints (:mod:`.detector`), losses, MACs/latency counting and the LightningModules
that train them (training logic only; the plain modules are injected)."""
