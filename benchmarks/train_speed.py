"""Benchmark: wall time of a hardware-mode training epoch vs a software-mode epoch.

Same network, data, batch size and seed; one epoch each on N training images (the trainer:
``Trainer.run`` with one epoch), software and hardware alternating (S H H S S H ...) so that
machine-load drift hits both modes alike, R repeats of each, in one process with the same
thread counts for both (``--threads`` sets NUMBA/OMP/OPENBLAS/MKL threads before numpy loads).
Prints one row per repeat, then (for information) the median CPU time of a batch after each
epoch's first in both modes, their ratio and what each run spends beyond a steady batch on its
first batch and outside its batches, and, last, the medians and their ratios hardware /
software, of wall time and of the process's CPU time. The last column of the last line is the
CPU-time ratio (target <= 1.2, issue 12): on a shared machine other processes stretch wall
times by varying factors, while the CPU time a single-threaded run spends is what the work costs.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/train_speed.py \
        --workload mnist_cnn --batch-size 100 [--train-limit 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5,
                    help="epochs of each mode (default 5: on a shared machine single repeats "
                    "scatter by about +-0.1 in the ratio; the median of five is steadier)")
    ap.add_argument("--lr", type=float, default=0.1,
                    help="constant learning rate of the epoch (default 0.1: the start of the "
                    "20-epoch MNIST schedule, the most switching per batch; 0.01 is pnmsim "
                    "train's default first-epoch lr)")
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of numba and BLAS, the same for both modes (default 1)")
    a = ap.parse_args()
    if min(a.batch_size, a.repeats, a.threads) < 1:
        ap.error("--batch-size, --repeats and --threads must be >= 1")
    if a.train_limit <= a.batch_size:
        ap.error(f"--train-limit must give two batches at least (>= {a.batch_size + 1} at "
                 f"--batch-size {a.batch_size}): the steady line needs a batch after the first")
    if not 0.0 <= a.lr < float("inf"):
        ap.error("--lr must be a finite number >= 0")
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.errors import PnmsimError
    from pnmsim.training.trainer import Trainer, TrainSettings
    from pnmsim.workload import load_workload

    try:   # a bad preset, workload or data directory: one line, exit 2
        arch, wl = load_arch(a.arch), load_workload(a.workload)
        data = load_dataset("mnist", train_limit=a.train_limit, test_limit=1, val_size=1)
        warm = load_dataset("mnist", train_limit=min(2 * a.batch_size, a.train_limit),
                            test_limit=1, val_size=1)
        # a workload that does not take the dataset's images is refused here, not mid-run
        # (the software warm-up's trainer, built first)
        warm_sw = Trainer(arch, wl, warm, TrainSettings(mode="software", epochs=1,
                                                        batch_size=a.batch_size,
                                                        lr_start=a.lr, lr_end=a.lr))
    except PnmsimError as e:
        print(f"train_speed: {e}", file=sys.stderr)
        sys.exit(2)

    def epoch(mode: str) -> tuple[float, float, list[float]]:
        """Wall and CPU seconds of one epoch, and the CPU seconds of its batches after the
        first (between the trainer's progress calls, which follow each batch)."""
        tr = Trainer(arch, wl, data, TrainSettings(mode=mode, epochs=1, batch_size=a.batch_size,
                                                   lr_start=a.lr, lr_end=a.lr))
        marks: list[float] = []
        t0, c0 = time.perf_counter(), time.process_time()
        tr.run(progress=lambda _e, _b, _n: marks.append(time.process_time()))
        return (time.perf_counter() - t0, time.process_time() - c0,
                [b - a for a, b in itertools.pairwise(marks)])

    # warm-up (numba compilation and caches), not timed: a few batches of each mode
    warm_sw.run()
    Trainer(arch, wl, warm, TrainSettings(mode="hardware", epochs=1, batch_size=a.batch_size,
                                          lr_start=a.lr, lr_end=a.lr)).run()
    wall: dict[str, list[float]] = {"software": [], "hardware": []}
    cpu: dict[str, list[float]] = {"software": [], "hardware": []}
    steady: dict[str, list[float]] = {"software": [], "hardware": []}   # batches 2.. (CPU s)
    # per run: the epoch's CPU beyond its later batches and one steady batch (the first
    # batch's extra work and the work outside the batches)
    rest: dict[str, list[float]] = {"software": [], "hardware": []}
    order = ("software", "hardware")
    print(f"{'workload':>10} {'images':>7} {'batch':>6} {'lr':>6} {'threads':>7} {'repeat':>8} "
          f"{'sw wall s':>10} {'hw wall s':>10} {'hw/sw wall':>10} {'sw cpu s':>9} "
          f"{'hw cpu s':>9} {'hw/sw cpu':>9}")

    def row(label: str, sw: float, hw: float, sc: float, hc: float) -> None:
        print(f"{a.workload:>10} {a.train_limit:>7} {a.batch_size:>6} {a.lr:>6.3g} {a.threads:>7} "
              f"{label:>8} {sw:>10.2f} {hw:>10.2f} {hw / sw:>10.2f} {sc:>9.2f} {hc:>9.2f} "
              f"{hc / sc:>9.2f}")

    for r in range(a.repeats):
        for mode in (order if r % 2 == 0 else order[::-1]):
            w, c, later = epoch(mode)
            wall[mode].append(w)
            cpu[mode].append(c)
            if later:
                steady[mode].extend(later)
                rest[mode].append(c - sum(later) - statistics.median(later))
        row(str(r + 1), wall["software"][-1], wall["hardware"][-1], cpu["software"][-1],
            cpu["hardware"][-1])
    med = statistics.median
    if steady["software"] and steady["hardware"]:
        # information, not the target: what a batch costs once the run is under way, and
        # what each run pays on top — once per run the first batch's extra work (the chip's
        # first schedule, the first conductances and writes), every epoch the energy
        # roll-ups and the evaluations (a real run's evaluation sets are far larger)
        ss, sh = med(steady["software"]), med(steady["hardware"])
        print(f"steady batches (2-{len(steady['hardware']) // a.repeats + 1} of each epoch, "
              f"median CPU): sw {1e3 * ss:.1f} ms, hw {1e3 * sh:.1f} ms, hw/sw {sh / ss:.2f}; "
              f"each run's first batch and work outside its batches beyond a steady batch: sw "
              f"{1e3 * med(rest['software']):.0f} ms, hw {1e3 * med(rest['hardware']):.0f} ms")
    row("median", med(wall["software"]), med(wall["hardware"]), med(cpu["software"]),
        med(cpu["hardware"]))


if __name__ == "__main__":
    main()
