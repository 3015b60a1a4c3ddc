"""``paraloupe-run``'s bundle and key tools: ``--validate`` (a bundle checked the way a device would load it) and
``paraloupe-run keys`` (CURVE key pairs)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def keys_main(argv: Sequence[str]) -> int:
    """``paraloupe-run keys``: CURVE key pairs for the sockets (:func:`runtime.cluster.transport.make_keys`)."""
    from runtime.cluster.transport import make_keys

    parser = argparse.ArgumentParser(prog="paraloupe-run keys", description="Create CURVE key pairs "
                                     "(NAME.key public, NAME.key_secret secret) and authorize them in OUT/authorized/.")
    parser.add_argument("--out", required=True, help="keys folder")
    parser.add_argument("--names", default="server,client", help="comma-separated key names (default server,client)")
    args = parser.parse_args(argv)
    names = [n for n in args.names.split(",") if n]
    for path in make_keys(args.out, names):
        print(path)
    return 0


def validate_bundle(bundle: str) -> int:
    """``--validate``: manifest + sha256 (load_manifest), every model loaded in ncnn and run once, and the
    table of models × devices."""
    import numpy as np

    from runtime.bundle import load_manifest
    from runtime.infer import Detector
    from runtime.keypoint_infer import KeypointModel

    manifest = load_manifest(bundle)
    print(f"{bundle}: manifest schema {manifest.schema_version}, checksum and {len(manifest.models)} "
          f"models' files OK; classes {manifest.classes}")
    for name in manifest.models_of_task("keypoints"):
        kp = KeypointModel(bundle, name, manifest)
        pose = kp(np.full((kp.height, kp.width, 3), 127, dtype=np.uint8))
        print(f"  {name}: ncnn OK, keypoints, input {kp.height}x{kp.width}, {len(pose.points)} points on a grey "
              f"image, {pose.infer_ms:.1f} ms")
    for name in manifest.models_of_task("detection"):
        det = Detector(bundle, name, manifest)
        out = det(np.full((det.size, det.size, 3), 127, dtype=np.uint8))
        raw = det.raw(det.preprocess(np.zeros((det.size, det.size, 3), dtype=np.uint8))[0])
        print(f"  {name}: ncnn OK, input {det.size}, outputs {[tuple(r.shape) for r in raw]}, "
              f"{len(out.detections)} boxes on a grey image, {out.infer_ms:.1f} ms")
    devices = sorted(manifest.profiles)
    width = max([len(m) for m in manifest.models] + [5])
    print(f"\n{'model':<{width}}  " + "  ".join(f"{d:>26}" for d in devices))
    for name in manifest.models:
        cells = []
        for d in devices:
            row = manifest.row(d, name)
            est = "est" if manifest.profiles[d].estimated else "meas"
            cells.append(f"{row.latency_ms:9.1f} ms α {row.accuracy:.3f} {est:>4}" if row else f"{'-':>26}")
        print(f"{name:<{width}}  " + "  ".join(f"{c:>26}" for c in cells))
    if not devices:
        print("(no device profiles in this bundle)")
    return 0
