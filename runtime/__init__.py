"""ParaLoupe edge runtime: patch generation, scheduling, cluster transport, ncnn inference, evaluation.

This package is the lower layer. It depends only on numpy, numba, opencv-python-headless, ncnn, pyzmq and
PyYAML (scipy optionally) and never imports ``factory`` or torch & co. (``tests/runtime/test_imports.py``).
"""

__version__ = "0.1.0"
