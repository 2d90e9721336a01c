"""Benchmark: one mini-batch scheduled on a fresh chip (no memo: what a training run's first
batch pays) with the chip's FIFO resources (``pnmsim.hw.fifo.FifoResource``) against
``simpy.Resource`` in their place, alternating in one run (the garbage collector run before
each timed schedule); checks both give the same cycles per phase, busy cycles per component
and tile, and number of SimPy events (the sequence of events is compared in
``tests/test_fifo_resource.py``), then prints the median CPU milliseconds per schedule of each
and their ratio. Coarse mode at the given batch (default 1000, the MLP's training benchmark),
fine mode at a tenth of it (one event per product and stage: about 1 230 events a sample for
the MLP).

    python benchmarks/schedule_speed.py [--workload mnist_mlp] [--batch-size 1000]
        [--repeats 20]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_mlp")
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--batch-size", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    if a.batch_size < 10 or a.repeats < 1:
        ap.error("--batch-size must be >= 10 and --repeats >= 1")

    import simpy

    from pnmsim.config import load_arch
    from pnmsim.hw import components
    from pnmsim.hw.chip import Chip
    from pnmsim.hw.fifo import FifoResource
    from pnmsim.hw.synthetic import training_batch_records
    from pnmsim.mapping import map_network
    from pnmsim.workload import load_workload

    arch, wl = load_arch(a.arch), load_workload(a.workload)
    mapping = map_network(wl, arch)
    kinds = {"simpy.Resource": simpy.Resource, "FifoResource": FifoResource}

    def once(kind: str, mode: str, recs: list[Any]) -> tuple[float, tuple]:
        components.FifoResource = kinds[kind]      # what the components build their queues of
        try:
            chip = Chip(arch, mapping, mode)
            gc.collect()
            t0 = time.process_time()
            out = chip.run_batch(recs)
            spent = time.process_time() - t0
        finally:
            components.FifoResource = FifoResource
        return spent, (out, chip.busy_cycles(), chip.tile_busy(), chip.total_events())

    print(f"{'workload':>10} {'mode':>7} {'batch':>6} {'events':>9} {'simpy.Resource ms':>18} "
          f"{'FifoResource ms':>16} {'fifo / simpy':>13}")
    for mode, batch in (("coarse", a.batch_size), ("fine", a.batch_size // 10)):
        recs = training_batch_records(mapping, batch, arch.periphery.training_forward_sensing)
        ref = once("simpy.Resource", mode, recs)[1]
        assert once("FifoResource", mode, recs)[1] == ref, f"{mode}: schedules differ"
        reps = a.repeats if mode == "coarse" else max(2, a.repeats // 5)   # both orders
        t: dict[str, list[float]] = {k: [] for k in kinds}
        for r in range(reps):
            for kind in (tuple(kinds) if r % 2 == 0 else tuple(reversed(kinds))):
                t[kind].append(once(kind, mode, recs)[0])
        ms = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        print(f"{a.workload:>10} {mode:>7} {batch:>6} {ref[3]:>9} "
              f"{ms['simpy.Resource']:>18.2f} {ms['FifoResource']:>16.2f} "
              f"{ms['FifoResource'] / ms['simpy.Resource']:>13.2f}")


if __name__ == "__main__":
    main()
