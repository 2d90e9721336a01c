"""Benchmark: digitising a grouped read's partial sums and adding them, in two passes
(``quantize_symmetric`` in place, then NumPy's ``sum(axis=0)``, the code before
``kernels.quantize_sum``) against one pass (``quantize_sum``), on the shapes of the reference
MLP's grouped forward reads (7 groups of its 784 x 512 layer, 4 of its 512 x 512 layer) at batch
100 and 1000. Checks the two give the same bits, then prints the median and fastest of
``--repeats`` alternating calls of each and the ratio of the medians.

    python benchmarks/grouped_read_speed.py [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np

    from pnmsim import kernels

    rng = np.random.default_rng(0)
    print(f"{'shape':>16} {'two-pass ms':>12} {'(fastest)':>10} {'one-pass ms':>12} "
          f"{'(fastest)':>10} {'one / two':>9}")
    for shape in ((7, 100, 512), (4, 100, 512), (7, 1000, 512), (4, 1000, 512)):
        parts = (rng.standard_normal(shape) * 20).astype(np.float32)
        fs, bits = 37.5, 8
        two = kernels.quantize_symmetric(parts.copy(), fs, bits, inplace=True).sum(axis=0)
        one = kernels.quantize_sum(parts, fs, bits)
        assert two.tobytes() == one.tobytes(), f"{shape}: the two forms differ"
        t_two: list[float] = []
        t_one: list[float] = []
        for _ in range(a.repeats):
            work = parts.copy()          # the two-pass form overwrites its input
            t = time.process_time()
            kernels.quantize_symmetric(work, fs, bits, inplace=True).sum(axis=0)
            t_two.append(time.process_time() - t)
            t = time.process_time()
            kernels.quantize_sum(parts, fs, bits)
            t_one.append(time.process_time() - t)
        m2, m1 = statistics.median(t_two) * 1e3, statistics.median(t_one) * 1e3
        print(f"{str(shape):>16} {m2:>12.3f} {min(t_two) * 1e3:>10.3f} {m1:>12.3f} "
              f"{min(t_one) * 1e3:>10.3f} {m1 / m2:>9.2f}")


if __name__ == "__main__":
    main()
