"""Export a trained network from a `pnmsim train --out` checkpoint into the compact file that
`pnmsim simulate` uses as its embedded default (pnmsim/data/mnist_cnn_trained.npz).

Keeps only the ternary weights (int8, compressed: ~2 bits per weight after zlib) and the
batch-norm parameters and running statistics; optimiser state and random states are dropped.

    python benchmarks/export_model.py runs/mnist_cnn/hardware \\
        [--out pnmsim/data/mnist_cnn_trained.npz]

``--add-state MODEL.npz`` instead completes an exported model in place with what ``pnmsim
simulate`` needs to continue its training faithfully (issue 10, items 3-4), computed on the real
MNIST training split ($PNMSIM_DATA_DIR or --data-dir; the validation split is held out as in
``pnmsim train``):

* ``ranges`` — the fixed converter full scales (pnmsim.converter_ranges): the statistics of every
  ADC's and DAC's input over ``--batches`` training batches of ``--batch-size`` images, on the
  reference preset's array (hardware forward with training sensing, and backprop);
* ``adam.*`` — an optimiser state equivalent to the training run's final one (which the original
  export dropped): Adam's moments re-estimated at the final weights by the same batches with
  learning rate 0 (so no parameter moves; batch-norm running statistics are restored after),
  stored as float16 ``m / s`` and ``sqrt(v) / s`` with a per-tensor scale ``s`` (float32) to
  keep the embedded file small.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/export_model.py \\
        --add-state pnmsim/data/mnist_cnn_trained.npz
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

from pnmsim.results import atomic_write


def add_state(model: Path, data_dir: str | None, batches: int, batch_size: int,
              seed: int) -> None:
    """Add converter ranges and a re-estimated Adam state to an exported model (in place)."""
    from pnmsim.array import ArrayBackend
    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.nn.layers import Adam
    from pnmsim.nn.network import Network
    from pnmsim.simulation import load_weights
    from pnmsim.workload import load_workload

    with np.load(model) as f:
        d = {k: f[k] for k in f.files}
    arch = load_arch("reference")
    wl = load_workload("mnist_cnn")
    be = ArrayBackend(arch, wl, seed)
    net = Network(wl, be, np.random.default_rng(seed))
    load_weights(net, model)
    net.adam = Adam()                       # re-estimated from scratch, whatever was stored
    d = {k: v for k, v in d.items() if not k.startswith(("ranges", "adam"))}
    data = load_dataset("mnist", data_dir, seed=seed)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(data.x_train))
    running = {k: v.copy() for k, v in net.running.items()}
    be.ranges.reset()
    for b in range(batches):
        sel = idx[b * batch_size:(b + 1) * batch_size]
        # a training step (batch statistics, ADC forward) at lr 0: nothing moves
        net.train_step(data.x_train[sel], data.y_train[sel], 0.0, bn="batch")
        print(f"batch {b + 1}/{batches}", flush=True)
    be.ranges.calibrate()
    net.running.update(running)
    d["ranges"] = be.ranges.to_array()
    for k, v in net.adam.state_dict().items():
        if k == "t":
            d["adam.t"] = v
            continue
        if k.startswith("v."):
            v = np.sqrt(v)
        scale = np.float32(max(float(np.abs(v).max()), 1e-30) / 1e4)
        d[f"adam16.{k}"] = (v / scale).astype(np.float16)
        d[f"adam16.scale.{k}"] = np.array(scale, dtype=np.float32)
    info = json.loads(d["info"].tobytes())
    info["state_added"] = {"batches": batches, "batch_size": batch_size, "seed": seed,
                           "ranges": be.ranges.fixed}
    d["info"] = np.frombuffer(json.dumps(info).encode(), dtype=np.uint8).copy()
    buf = io.BytesIO()
    np.savez_compressed(buf, **d)
    atomic_write(model, buf.getvalue())
    print(f"wrote {model}: {len(buf.getvalue())} bytes; ranges {be.ranges.fixed}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir", nargs="?")
    ap.add_argument("--out", default="pnmsim/data/mnist_cnn_trained.npz")
    ap.add_argument("--add-state", default=None, metavar="MODEL")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.add_state:
        add_state(Path(a.add_state), a.data_dir, a.batches, a.batch_size, a.seed)
        return
    if a.run_dir is None:
        ap.error("run_dir is required unless --add-state is given")
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
