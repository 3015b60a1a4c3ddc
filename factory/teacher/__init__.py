"""Teacher labelling: an ONNX COCO detector (described by data) turns a real video into ground truth."""
