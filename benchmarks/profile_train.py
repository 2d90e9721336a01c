"""Profile: where the time of a hardware-mode (or software-mode) training epoch goes.

Runs one epoch (the trainer's step: batch statistics, lr 0.1) under cProfile and prints the
cumulative CPU time of the phases and of their main parts, per batch and as a share of the
epoch (CPU time, not wall time: the machine is shared). One thread for numba and BLAS by
default (``--threads``, set before NumPy loads, as in ``train_speed.py``): with more, the
process's CPU time also counts the worker threads' spinning after each threaded kernel, which
inflated the threaded kernels' rows (read counts, ADC) several-fold.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/profile_train.py \
        --workload mnist_cnn --batch-size 100 [--images 2000] [--mode hardware] [-o prof.out]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

# (label, file suffix, function name): cumulative times picked out of the profile
ROWS = [
    ("train step (all)", "simulation.py", "train_step"),
    ("  network step", "network.py", "train_step"),
    ("    feedforward (array reads)", "array.py", "matmul"),
    ("      read counts (energy)", "crossbar.py", "_read_counts"),
    ("      ADC quantise", "array.py", "_adc"),
    ("      conductance refresh", "crossbar.py", "_conductances"),
    ("      effective weights", "crossbar.py", "effective_weights"),
    ("    backprop (array reads)", "array.py", "matmul_t"),
    ("    update (array writes)", "array.py", "update"),
    ("      per-cell write (draws + kernel)", "crossbar.py", "update_per_cell_fused"),
    ("        write kernel", "percell.py", "per_cell_write"),
    ("      outer-product steps", "crossbar.py", "update_outer_products"),
    ("      count_per_cell_update", "counting.py", "count_per_cell_update"),
    ("    software update (DST)", "network.py", "update"),
    ("    im2col", "layers.py", "im2col_nhwc"),
    ("    col2im", "layers.py", "col2im_nhwc"),
    ("    batch-norm fwd", "layers.py", "batchnorm_forward"),
    ("    batch-norm bwd", "layers.py", "batchnorm_backward"),
    ("    Adam", "layers.py", "step"),
    ("  chip schedule (SimPy)", "chip.py", "run_batch"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--mode", choices=("hardware", "software"), default="hardware")
    ap.add_argument("-o", "--output", default=None, help="also write the raw profile here")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of numba and BLAS (default 1, as train_speed.py)")
    a = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np

    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.simulation import Simulation
    from pnmsim.workload import load_workload

    arch, wl = load_arch(a.arch), load_workload(a.workload)
    if os.environ.get("PNMSIM_DATA_DIR"):
        d = load_dataset("mnist", train_limit=a.images, test_limit=1, val_size=1)
        x, y = d.x_train, d.y_train
    else:   # synthetic images of the workload's shape
        rng = np.random.default_rng(0)
        x = rng.uniform(-1, 1, (a.images, *wl.input_shape)).astype(np.float32)
        y = rng.integers(0, wl.classes, a.images)
    sim = Simulation(arch, wl, seed=0, hardware=a.mode == "hardware")
    b = a.batch_size
    sim.calibrate(x[:b])
    sim.train_step(x[:b], y[:b], 0.1, bn="batch")          # warm-up: numba compile, caches
    prof = cProfile.Profile(time.process_time)   # CPU time: robust to other processes
    t0 = time.perf_counter()
    prof.enable()
    for s in range(0, len(x), b):
        sim.train_step(x[s:s + b], y[s:s + b], 0.1, bn="batch")
    prof.disable()
    wall = time.perf_counter() - t0
    if a.output:
        prof.dump_stats(a.output)
    st = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    n_batches = -(-len(x) // b)
    print(f"{a.mode} {a.workload} batch {b}: {len(x)} images, {n_batches} batches, "
          f"{wall:.2f} s (profiled)")
    print(f"{'part':<38} {'ms/batch':>9} {'share':>6}")
    total = None
    for label, suffix, fn in ROWS:
        cum = sum(v[3] for (f, _, name), v in st.items() if f.endswith(suffix) and name == fn)
        if cum == 0:
            continue
        total = total or cum
        print(f"{label:<38} {1e3 * cum / n_batches:>9.2f} {cum / total:>6.1%}")


if __name__ == "__main__":
    main()
