"""Benchmark: cost of the timed (SimPy) model over the functional model.

For the MNIST CNN on N real MNIST test images (default 1000; the embedded trained model when
present), in one process: a functional-only run (`timed=False`) and a timed run (`timed=True`,
coarse mode) with the same seed, alternating, best of R repeats each. Prints SimPy events per
sample (target <= 200), events per second, and the wall-time ratio timed / functional
(target <= 1.1), each with whether it meets its target.

    PNMSIM_DATA_DIR=../shared/datasets python benchmarks/simulate_speed.py [--samples 1000]
"""

from __future__ import annotations

import argparse
import time

from pnmsim import api
from pnmsim.hw.chip import Chip

_SCHEDULE_S = [0.0]
_run_batch = Chip.run_batch


def _timed_run_batch(self: Chip, records: list) -> dict[str, int]:
    """Chip.run_batch, timing itself: the schedule's own share of a timed run, a figure that
    does not depend on how loaded the machine is while the two runs alternate."""
    t0 = time.perf_counter()
    out = _run_batch(self, records)
    _SCHEDULE_S[0] += time.perf_counter() - t0
    return out


Chip.run_batch = _timed_run_batch  # type: ignore[method-assign]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--dataset", default="mnist")
    a = ap.parse_args()
    api.simulate(a.arch, a.workload, samples=20)   # warm numba caches / imports
    best = {True: float("inf"), False: float("inf")}
    events = 0
    schedule = float("inf")
    for _ in range(a.repeats):
        for timed in (False, True):
            _SCHEDULE_S[0] = 0.0
            t0 = time.perf_counter()
            r = api.simulate(a.arch, a.workload, samples=a.samples, dataset=a.dataset,
                             timed=timed)
            best[timed] = min(best[timed], time.perf_counter() - t0)
            if timed:
                events = r.events
                schedule = min(schedule, _SCHEDULE_S[0])
    print(f"{'samples':>8} {'functional s':>13} {'timed s':>9} {'ratio':>6} {'events':>9} "
          f"{'events/sample':>14} {'events/s (timed run)':>21}")
    print(f"{a.samples:>8} {best[False]:>13.2f} {best[True]:>9.2f} "
          f"{best[True] / best[False]:>6.2f} {events:>9} {events / a.samples:>14.1f} "
          f"{events / best[True]:>21.0f}")
    ratio = best[True] / best[False]
    print(f"events per sample {events / a.samples:.1f} <= 200: "
          f"{'yes' if events / a.samples <= 200 else 'NO'}; timed/functional {ratio:.3f} <= 1.1: "
          f"{'yes' if ratio <= 1.1 else 'NO'}")
    print(f"SimPy schedule alone: {schedule:.3f} s = {schedule / best[False]:.3f} x the "
          f"functional run (the ratio without load noise is about 1 + that)")


if __name__ == "__main__":
    main()
