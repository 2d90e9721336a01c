"""Benchmark: how much of a hardware training step the model's bookkeeping could ever save.

Steady training steps (after ``--warm`` steps) of one workload at a constant lr, process CPU
per step, in five variants, each in its own process, the variants alternating over
``--rounds`` rounds (machine-load drift hits all alike): ``software``; ``hardware``; and
hardware with counting (``nocount``), the converters' range statistics (``noobserve``), the
SimPy schedule (``nosimpy``) or all three (``all``) replaced by no-ops. The no-op variants are
**not valid models** (their counts, energies, ranges and cycles are wrong): they bound what
making that bookkeeping free could save, nothing more. Prints each variant's per-round mean
step time, its median and the median's ratio to software's.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/overhead_bound.py \
        --workload mnist_mlp --batch-size 100 [--rounds 5] [--warm 10] [--steps 50]

One variant alone (for a profiler to attach to): ``--variant hardware --steps 550``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("software", "hardware", "nocount", "noobserve", "nosimpy", "all")


def _run_variant(variant: str, workload: str, batch: int, warm: int, steps: int) -> float:
    """Mean CPU ms of ``steps`` steady steps of one variant, in this process."""
    import numpy as np

    import pnmsim.array as backend
    import pnmsim.converter_ranges as ranges
    import pnmsim.hw.chip as chip
    if variant in ("nocount", "all"):
        for fn in ("count_forward", "count_backward", "count_per_cell_update",
                   "count_update_common"):
            setattr(backend, fn, lambda *a, **k: None)
    if variant in ("noobserve", "all"):   # no statistics: not gathered in the converter
        backend.ArrayBackend.fused_converters = False    # passes either
        ranges.ConverterRanges._observe = lambda self, *a: None  # type: ignore[method-assign]
    if variant in ("nosimpy", "all"):
        chip.Chip.run_batch = (  # type: ignore[method-assign]
            lambda self, records: {"feedforward": 1, "backprop": 1, "update": 1})
    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.simulation import Simulation
    from pnmsim.workload import load_workload

    d = load_dataset("mnist", train_limit=(warm + steps) * batch, test_limit=1, val_size=1)
    sim = Simulation(load_arch("reference"), load_workload(workload), seed=0,
                     hardware=variant != "software")
    sim.calibrate(d.x_train[:batch])
    ts = []
    for i in range(warm + steps):
        s = slice(i * batch, (i + 1) * batch)
        t = time.process_time()
        sim.train_step(d.x_train[s], d.y_train[s], 0.1, bn="batch")
        if i >= warm:
            ts.append(time.process_time() - t)
    return float(np.mean(ts)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_mlp")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--variant", choices=VARIANTS, default=None,
                    help="run this variant alone in this process and print its mean step")
    a = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if a.variant is not None:
        ms = _run_variant(a.variant, a.workload, a.batch_size, a.warm, a.steps)
        print(f"{a.variant} {ms:.3f}")
        return
    res: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(a.rounds):
        for v in VARIANTS:
            out = subprocess.run(
                [sys.executable, __file__, "--variant", v, "--workload", a.workload,
                 "--batch-size", str(a.batch_size), "--warm", str(a.warm),
                 "--steps", str(a.steps)], check=True, capture_output=True, text=True)
            res[v].append(float(out.stdout.split()[-1]))
    sw = statistics.median(res["software"])
    print(f"{a.workload} batch {a.batch_size}, steps {a.warm}-{a.warm + a.steps}, CPU ms a step "
          f"(no-op variants are not valid models: bounds only)")
    print(f"{'variant':>10} {'median':>8} {'x software':>10}  per round")
    for v in VARIANTS:
        med = statistics.median(res[v])
        print(f"{v:>10} {med:>8.2f} {med / sw:>10.2f}  " + " ".join(f"{x:.2f}" for x in res[v]))


if __name__ == "__main__":
    main()
