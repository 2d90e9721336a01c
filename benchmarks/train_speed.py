"""Benchmark: wall time of a hardware-mode training epoch vs a software-mode epoch.

Same network, data, batch size and seed; one epoch each on N training images, alternating
software and hardware, best of R repeats, in one process. Prints seconds per epoch and the
ratio hardware / software (target <= 1.5).

    PNMSIM_DATA_DIR=../shared/datasets python benchmarks/train_speed.py [--train-limit 10000]
"""

from __future__ import annotations

import argparse
import time

from pnmsim.config import load_arch
from pnmsim.datasets import load_dataset
from pnmsim.training.trainer import Trainer, TrainSettings
from pnmsim.workload import load_workload


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    arch, wl = load_arch(a.arch), load_workload(a.workload)
    data = load_dataset("mnist", train_limit=a.train_limit, test_limit=1, val_size=1)
    best = {"software": float("inf"), "hardware": float("inf")}
    for _ in range(a.repeats):
        for mode in ("software", "hardware"):
            tr = Trainer(arch, wl, data, TrainSettings(mode=mode, epochs=1,
                                                       batch_size=a.batch_size, lr_start=0.1,
                                                       lr_end=0.1))
            t0 = time.perf_counter()
            tr.run()
            best[mode] = min(best[mode], time.perf_counter() - t0)
    print(f"{'workload':>10} {'images':>7} {'batch':>6} {'software s':>11} {'hardware s':>11} "
          f"{'ratio':>6}")
    print(f"{a.workload:>10} {a.train_limit:>7} {a.batch_size:>6} {best['software']:>11.2f} "
          f"{best['hardware']:>11.2f} {best['hardware'] / best['software']:>6.2f}")


if __name__ == "__main__":
    main()
