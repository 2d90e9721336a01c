"""Benchmark (issue: paper table for MNIST): the GXNOR MNIST CNN trained in software and on the
simulated MTJ array (hardware mode, reference preset) with one documented schedule.

Schedule (fits in <= 3 h on a 2-core machine): batch 1000, Adam, learning rate 0.1 -> 0.001
(exponential over the epochs), 20 epochs, 55 000 training / 5 000 validation / 10 000 test
images, seed 0 — the schedule science.md reports 99.09 % for in software.

    PNMSIM_DATA_DIR=../shared/datasets python benchmarks/train_mnist.py [--epochs 20] \\
        [--mode software|hardware|both] [--workload mnist_cnn] [--out runs/mnist]

Each run writes log.csv / checkpoint.npz / summary.json under OUT/<mode>; rerunning resumes
from the last checkpoint. ``--arch outer_lowrank --mode hardware`` runs the in-array update
scheme (README "In-array training" gives each row's command). Prints the accuracy table
(final and best) and the per-phase energy and TOPs/W of the hardware run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pnmsim import api


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--lr-end", type=float, default=0.001)
    ap.add_argument("--mode", choices=["software", "hardware", "both"], default="both")
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--val-size", type=int, default=5000)
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    metavar="KEY=VALUE", help="preset override (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/mnist")
    a = ap.parse_args()
    modes = ["software", "hardware"] if a.mode == "both" else [a.mode]
    rows = []
    for mode in modes:
        out = Path(a.out) / mode
        resume = str(out) if (out / "checkpoint.npz").exists() else None
        s = api.train(a.arch, a.workload, overrides=a.overrides, dataset=a.dataset,
                      data_dir=a.data_dir, mode=mode, epochs=a.epochs, batch_size=a.batch_size,
                      lr=a.lr, lr_end=a.lr_end, train_limit=a.train_limit,
                      test_limit=a.test_limit, val_size=a.val_size, seed=a.seed, out_dir=str(out),
                      resume_dir=resume, progress=True)
        rows.append(s)
    print(f"{'mode':<10}{'final test':>12}{'best test (val-selected)':>26}{'max test':>10}"
          f"{'wall s':>9}")
    for s in rows:
        print(f"{s['mode']:<10}{s['final_test_accuracy']:>12.4f}{s['best_test_accuracy']:>26.4f}"
              f"{s['max_test_accuracy']:>10.4f}{s['wall_s']:>9.0f}")
    for s in rows:
        if "phases" in s:
            print(json.dumps(s["phases"], indent=1))
            up = s["phases"]["update"]
            n = s["train_samples"] * s["epochs"]
            print(f"{s['arch']}: update energy per trained sample {up['energy_j'] / n:.3e} J, "
                  f"update TOPs/W array {up['tops_per_w_array']:.4g}, "
                  f"system {up['tops_per_w_system']:.4g}")


if __name__ == "__main__":
    main()
