"""Torch detectors → ncnn: pnnx export in fp32/fp16 (:mod:`.ncnn_export`), parity and patch-set accuracy of
the exported files through the runtime's own inference (:mod:`.checks`)."""
