"""Export a trained network from a `pnmsim train --out` checkpoint into the compact file that
`pnmsim simulate` uses as its embedded default (pnmsim/data/mnist_cnn_trained.npz).

Keeps only the ternary weights (int8, compressed: ~2 bits per weight after zlib) and the
batch-norm parameters and running statistics; optimiser state and random states are dropped.

    python benchmarks/export_model.py runs/mnist_cnn/hardware \\
        [--out pnmsim/data/mnist_cnn_trained.npz]
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from pnmsim.results import atomic_write


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--out", default="pnmsim/data/mnist_cnn_trained.npz")
    a = ap.parse_args()
    run = Path(a.run_dir)
    with np.load(run / "checkpoint.npz") as f:
        d = {k: f[k] for k in f.files}
    meta = json.loads(d["trainer.meta"].tobytes())
    keep = {k: (v.astype(np.int8) if k.startswith("w") else v.astype(np.float32))
            for k, v in d.items() if k.startswith(("w", "bn"))}
    last = meta["log"][-1]
    info = {"source": str(run), "epoch": meta["epoch"], "settings": meta["settings"],
            "test_accuracy": last["test_accuracy"], "val_accuracy": last["val_accuracy"]}
    keep["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8).copy()
    buf = io.BytesIO()
    np.savez_compressed(buf, **keep)
    atomic_write(a.out, buf.getvalue())
    n_w = sum(v.size for k, v in keep.items() if k.startswith("w"))
    print(f"wrote {a.out}: {len(buf.getvalue())} bytes, {n_w} weights, "
          f"test accuracy {info['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
