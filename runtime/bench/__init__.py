"""Runtime benchmarks (``paraloupe-bench``): each module has ``main(argv) -> int``."""
