"""Benchmark: one mini-batch scheduled on a fresh chip (no memo: what a training run's first
batch pays) in three forms, alternating in one run (the garbage collector run before each timed
schedule): plain SimPy (``simpy.Resource`` queues, SimPy's ``Environment.run``), the chip's FIFO
resources (``pnmsim.hw.fifo.FifoResource``) on SimPy's ``run``, and the chip as it is (FIFO
resources and :class:`pnmsim.hw.environment.CountingEnvironment`'s run loop). Checks all three
give the same cycles per phase, busy cycles per component and tile, and number of SimPy events
(the sequences of events are compared in ``tests/test_fifo_resource.py`` and
``tests/test_environment.py``), then prints the median CPU milliseconds per schedule of each
and the ratios fifo / simpy and chip / fifo. Coarse mode at the given batch (default 1000, the
MLP's training benchmark), fine mode at a tenth of it (one event per product and stage: about
1 230 events a sample for the MLP).

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
    from pnmsim.hw import chip as chip_module
    from pnmsim.hw import components
    from pnmsim.hw.chip import Chip
    from pnmsim.hw.environment import CountingEnvironment
    from pnmsim.hw.fifo import FifoResource
    from pnmsim.hw.synthetic import training_batch_records
    from pnmsim.mapping import map_network
    from pnmsim.workload import load_workload

    arch, wl = load_arch(a.arch), load_workload(a.workload)
    mapping = map_network(wl, arch)

    class SimpyRun(CountingEnvironment):
        """The chip's environment with SimPy's own ``run`` (``step`` counting the events)."""

        run = simpy.Environment.run

    # form: (resource class, environment class)
    forms = {"simpy": (simpy.Resource, SimpyRun), "fifo": (FifoResource, SimpyRun),
             "chip": (FifoResource, CountingEnvironment)}

    def once(form: str, mode: str, recs: list[Any]) -> tuple[float, tuple]:
        # what the components build their queues of and the chip its environment of
        components.FifoResource, chip_module.CountingEnvironment = forms[form]
        try:
            chip = Chip(arch, mapping, mode)
            gc.collect()
            t0 = time.process_time()
            out = chip.run_batch(recs)
            spent = time.process_time() - t0
        finally:
            components.FifoResource, chip_module.CountingEnvironment = forms["chip"]
        return spent, (out, chip.busy_cycles(), chip.tile_busy(), chip.total_events())

    print(f"{'workload':>10} {'mode':>7} {'batch':>6} {'events':>9} {'simpy ms':>9} "
          f"{'fifo ms':>8} {'chip ms':>8} {'fifo / simpy':>13} {'chip / fifo':>12}")
    for mode, batch in (("coarse", a.batch_size), ("fine", a.batch_size // 10)):
        recs = training_batch_records(mapping, batch, arch.periphery.training_forward_sensing)
        ref = once("simpy", mode, recs)[1]
        for form in ("fifo", "chip"):
            assert once(form, mode, recs)[1] == ref, f"{mode}: {form} schedules differently"
        reps = a.repeats if mode == "coarse" else max(2, a.repeats // 5)   # rotating orders
        t: dict[str, list[float]] = {k: [] for k in forms}
        order = list(forms)
        for r in range(reps):
            for form in order[r % 3:] + order[:r % 3]:
                t[form].append(once(form, mode, recs)[0])
        ms = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        print(f"{a.workload:>10} {mode:>7} {batch:>6} {ref[3]:>9} {ms['simpy']:>9.2f} "
              f"{ms['fifo']:>8.2f} {ms['chip']:>8.2f} {ms['fifo'] / ms['simpy']:>13.2f} "
              f"{ms['chip'] / ms['fifo']:>12.2f}")


if __name__ == "__main__":
    main()
