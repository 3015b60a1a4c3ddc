"""Post-training int8 quantization in ncnn's own format: ``.param``/``.bin`` walking (:mod:`.ncnnfile`),
activation calibration (:mod:`.calibrate`), the int8 writer and ncnn's tools when present (:mod:`.int8`)."""
