"""Wall time of one sweep run in-process (--jobs 1) and on 2 local worker processes (--jobs 2).

    python benchmarks/sweep_speedup.py [--workload mnist_cnn] [--samples 100] [--jobs 2]

The sweep is tile size x partial-sum combination x update scheme (8 points by default) on the
reference preset. Each run writes to a fresh folder (nothing is reused), the tables of the runs
are checked to be identical, and a table of wall times and the speed-up is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from pnmsim import explore

AXES = ("array.tile_rows+array.tile_cols=128,256", "array.partial_sums=digital,analog",
        "update.scheme=per_cell,outer_product")
BASE = ("update.pulse_reference=fixed",)   # the outer-product scheme needs fixed pulses


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="reference")
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2, help="workers of the parallel run")
    ap.add_argument("--vary", action="append", default=None,
                    help="override the default axes (repeatable)")
    ap.add_argument("--set", dest="overrides", action="append", default=None,
                    help=f"base overrides (default: {' '.join(BASE)})")
    args = ap.parse_args(argv)
    axes = [explore.parse_vary(v) for v in (args.vary or AXES)]
    spec = explore.SweepSpec(arch=args.arch, workload=args.workload, samples=args.samples,
                             overrides=tuple(args.overrides or BASE))
    points = explore.plan_sweep(spec, axes)
    print(f"sweep: {args.arch} / {args.workload}, {args.samples} samples, {len(points)} points "
          f"({' x '.join(str(len(a.raw)) for a in axes)}); {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (other processes compete for the CPUs when it is high)",
          flush=True)
    runs: list[tuple[str, float, float]] = []
    tables = []
    for jobs in (1, args.jobs):
        with tempfile.TemporaryDirectory(prefix="pnmsim-sweep-bench-") as tmp:
            t0 = time.perf_counter()
            out = explore.run_sweep(spec, points, Path(tmp), jobs=jobs)
            wall = time.perf_counter() - t0
        busy = float(out.timings["wall_s"].sum())
        runs.append((f"--jobs {jobs}", wall, busy))
        tables.append(out.table)
        print(f"  --jobs {jobs}: {wall:.2f} s", flush=True)
    same = tables[0].equals(tables[1])
    base = runs[0][1]
    print()
    # sum_point_s: the points' own wall times added up (contention shows as growth over jobs 1)
    print(f"{'run':<10} {'wall_s':>8} {'sum_point_s':>12} {'speed-up':>9}")
    for name, wall, busy in runs:
        print(f"{name:<10} {wall:8.2f} {busy:12.2f} {base / wall:9.2f}")
    print(f"\nper-point table identical across runs: {same}; load average now "
          f"{os.getloadavg()[0]:.2f}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
