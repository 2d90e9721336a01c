"""Benchmark: a convolution's lowering (``pnmsim.nn.layers.im2col_nhwc``) by numpy's strided
copy against ``kernels.im2col_into_nhwc``, which it uses from ``_IM2COL_KERNEL_MIN_C``
channels on.

Part 1, alone: for each convolution of the workload at the batch size (the maps it lowers in
training: random values of the layer's input shape) and for a sweep of channel counts (k = 5,
12 x 12 maps), the median process-CPU milliseconds of ``--repeats`` alternating calls of each
copy (fresh output arrays, as in training) and the ratio kernel / numpy. Checks both give the
same matrix.

Part 2, in training: ``--epochs`` software-mode epochs of ``--images`` images alternating
between the two copies in one process (the threshold switched), the median CPU milliseconds
per steady batch (batches 2..) spent in ``im2col_nhwc`` per convolution and in the whole
training step, with the ratios, and whether the two copies' epoch logs and summaries are
identical (they must be: the matrix is the same). Needs MNIST (``--data-dir`` or
``PNMSIM_DATA_DIR``); ``--images 0`` skips it.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/im2col_speed.py \\
        [--workload mnist_cnn] [--batch-size 100] [--repeats 9] [--images 2000] [--epochs 4]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import time
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if min(a.batch_size, a.repeats, a.epochs, a.threads) < 1 or a.images < 0:
        ap.error("--batch-size, --repeats, --epochs and --threads must be >= 1, --images >= 0")
    if a.images and a.images <= a.batch_size:
        ap.error(f"--images must be 0 or give two batches at least (>= {a.batch_size + 1} at "
                 f"--batch-size {a.batch_size})")
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np

    import pnmsim.nn.layers as layers
    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.errors import PnmsimError
    from pnmsim.training.trainer import Trainer, TrainSettings
    from pnmsim.workload import load_workload

    try:   # a bad preset, workload or data directory: one line, exit 2, before any timing
        wl, arch = load_workload(a.workload), load_arch(a.arch)
        data = load_dataset("mnist", data_dir=a.data_dir, train_limit=a.images, test_limit=1,
                            val_size=1) if a.images else None
        if data is not None:   # a workload that does not take the images: refused here
            Trainer(arch, wl, data, TrainSettings(mode="software", epochs=1,
                                                  batch_size=a.batch_size))
    except PnmsimError as e:
        print(f"im2col_speed: {e}", file=sys.stderr)
        sys.exit(2)
    kernel_on = layers._IM2COL_KERNEL_MIN_C
    forms = {"numpy": 10**9, "kernel": 1}

    def lowered(x: np.ndarray, k: int, s: int, p: int, form: str) -> np.ndarray:
        layers._IM2COL_KERNEL_MIN_C = forms[form]
        try:
            return layers.im2col_nhwc(x, k, s, p)
        finally:
            layers._IM2COL_KERNEL_MIN_C = kernel_on

    rng = np.random.default_rng(0)
    cases = [(f"{s.index}: conv {s.kernel}x{s.kernel}", (a.batch_size, s.in_shape[1],
              s.in_shape[2], s.in_shape[0]), s.kernel, s.stride, s.padding)
             for s in wl.layers if s.type == "conv"]
    cases += [(f"sweep C={c}", (a.batch_size, 12, 12, c), 5, 1, 0) for c in (1, 2, 4, 8, 16, 32)]
    print(f"part 1: one lowering alone, batch {a.batch_size} (the kernel is used from "
          f"{kernel_on} channels on)")
    print(f"{'map':>22} {'shape (N,H,W,C)':>20} {'numpy ms':>9} {'kernel ms':>10} "
          f"{'kernel / numpy':>15}")
    for name, shape, k, s, p in cases:
        assert k is not None and s is not None and p is not None
        x = rng.standard_normal(shape).astype(np.float32)
        assert np.array_equal(lowered(x, k, s, p, "numpy"), lowered(x, k, s, p, "kernel")), \
            f"{name}: the two copies differ"
        t: dict[str, list[float]] = {f: [] for f in forms}
        for r in range(a.repeats):
            for f in (("numpy", "kernel") if r % 2 == 0 else ("kernel", "numpy")):
                t0 = time.process_time()
                lowered(x, k, s, p, f)
                t[f].append(time.process_time() - t0)
        ms = {f: statistics.median(v) * 1e3 for f, v in t.items()}
        print(f"{name:>22} {str(shape):>20} {ms['numpy']:>9.2f} {ms['kernel']:>10.2f} "
              f"{ms['kernel'] / ms['numpy']:>15.2f}")
    if data is not None:
        in_training(a, arch, wl, data, layers, kernel_on)


def in_training(a: argparse.Namespace, arch: Any, wl: Any, data: Any, layers: Any,
                kernel_on: int) -> None:
    """Part 2: alternating software epochs with each copy (see the module docstring)."""
    import pnmsim.nn.network as network
    import pnmsim.simulation as simulation
    from pnmsim.training.trainer import Trainer, TrainSettings

    spent: dict[Any, float] = collections.defaultdict(float)
    timing = [False]
    lower, step = network.im2col_nhwc, simulation.Simulation.train_step

    def timed_lower(x: Any, k: int, stride: int = 1, pad: int = 0) -> Any:
        if not timing[0]:
            return lower(x, k, stride, pad)
        t0 = time.process_time()
        out = lower(x, k, stride, pad)
        spent[f"im2col C={x.shape[-1]}"] += time.process_time() - t0
        return out

    batches = [0]

    def timed_step(self: Any, *args: Any, **kw: Any) -> Any:
        batches[0] += 1
        timing[0] = batches[0] > 1     # steady batches only
        t0 = time.process_time()
        try:
            return step(self, *args, **kw)
        finally:
            if timing[0]:
                spent["training step"] += time.process_time() - t0
            timing[0] = False

    def epoch(threshold: int) -> tuple[dict[Any, float], str]:
        layers._IM2COL_KERNEL_MIN_C = threshold
        spent.clear()
        batches[0] = 0
        tr = Trainer(arch, wl, data, TrainSettings(mode="software", epochs=1,
                                                   batch_size=a.batch_size))
        summary = tr.run()
        facts = repr([{k: v for k, v in row.items() if k != "wall_s"} for row in tr.log]) + \
            repr({k: v for k, v in summary.items() if "wall" not in k})
        return {k: v / (batches[0] - 1) * 1e3 for k, v in spent.items()}, facts

    network.im2col_nhwc = timed_lower
    simulation.Simulation.train_step = timed_step   # type: ignore[method-assign]
    try:
        per: dict[str, dict[Any, list[float]]] = {f: collections.defaultdict(list) for f in
                                                  ("numpy", "kernel")}
        facts: dict[str, str] = {}
        for form in ("numpy", "kernel"):     # warm-up (numba compiles / loads its cache)
            epoch(10**9 if form == "numpy" else kernel_on)
        for r in range(a.epochs):
            for form in (("numpy", "kernel") if r % 2 == 0 else ("kernel", "numpy")):
                got, facts[form] = epoch(10**9 if form == "numpy" else kernel_on)
                for k, v in got.items():
                    per[form][k].append(v)
    finally:
        network.im2col_nhwc = lower
        simulation.Simulation.train_step = step   # type: ignore[method-assign]
        layers._IM2COL_KERNEL_MIN_C = kernel_on
    print(f"\npart 2: software training, {a.workload}, batch {a.batch_size}, {a.images} images, "
          f"{a.epochs} epochs of each copy alternating; CPU ms per steady batch (median)")
    print(f"{'part':>22} {'numpy ms':>9} {'kernel ms':>10} {'kernel / numpy':>15}")
    for k in sorted(per["numpy"], key=str):
        n_ms, k_ms = statistics.median(per["numpy"][k]), statistics.median(per["kernel"][k])
        print(f"{k:>22} {n_ms:>9.2f} {k_ms:>10.2f} {k_ms / n_ms:>15.3f}")
    print("identical epoch logs and summaries:", facts["numpy"] == facts["kernel"])


if __name__ == "__main__":
    main()
