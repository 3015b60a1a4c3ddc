"""Dataset formats and builders: COCO videos → the low-complexity patch set (paper §III-B3) and
ImageNet-style class folders; the inference complexity O(I) of Eq. 1."""
