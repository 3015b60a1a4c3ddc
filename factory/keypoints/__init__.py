"""Keypoint task (paper §IV-H): models, data, evaluation."""
