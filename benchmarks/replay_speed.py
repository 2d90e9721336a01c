"""Benchmark: replaying a recorded activity against simulating it again.

For the MNIST CNN on N samples (default: the embedded 512-sample MNIST set; the embedded
trained model), in one process: a full ``simulate`` of a cost-only variant of the preset
(clock and ADC figure of merit changed) and a ``replay`` of the base preset's record on the
same variant, alternating, best of R repeats each. Checks the two give the same figures and
prints the wall times and the ratio (target >= 20x). The replay time includes loading and
validating the record from disk.

    python benchmarks/replay_speed.py [--samples 512] [--repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pnmsim import api
from pnmsim.config import load_arch
from pnmsim.replay import load_record, replay

TARGET = 20.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=None, help="default: all 512 embedded")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--dataset", default=None)
    a = ap.parse_args()
    variant = load_arch(a.arch, ("clock_mhz=800", "circuits.converters.adc_fom_fj_per_step=40"))
    with tempfile.TemporaryDirectory() as tmp:
        rec_dir = Path(tmp) / "record"
        t0 = time.perf_counter()
        api.simulate(a.arch, a.workload, samples=a.samples, dataset=a.dataset, record=rec_dir)
        record_s = time.perf_counter() - t0
        best_sim = best_rep = float("inf")
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            full = api.simulate(variant, a.workload, samples=a.samples, dataset=a.dataset)
            best_sim = min(best_sim, time.perf_counter() - t0)
            t0 = time.perf_counter()
            rep = replay(load_record(rec_dir), variant)
            best_rep = min(best_rep, time.perf_counter() - t0)
    s_full, s_rep = full.summary(), rep.summary()
    s_full.pop("wall_s")
    s_rep.pop("wall_s")
    same = s_full == s_rep
    ratio = best_sim / best_rep
    print(f"{'workload':>10} {'samples':>8} {'record s':>9} {'simulate s':>11} "
          f"{'replay s':>9} {'speed-up':>9} {'figures equal':>14}")
    print(f"{a.workload:>10} {full.samples:>8} {record_s:>9.2f} {best_sim:>11.3f} "
          f"{best_rep:>9.4f} {ratio:>8.1f}x {str(same):>14}")
    print(f"target: replay >= {TARGET:g}x faster than simulate: "
          f"{'met' if ratio >= TARGET else 'NOT met'}; figures equal: {same}")


if __name__ == "__main__":
    main()
