"""Benchmark: a crossbar's conductances from its MTJ states, the NumPy expression
(``kernels.conductances_reference``: reciprocals of the four device arrays, two selects,
difference and sum, then the float32 effective weights as a scaled copy; the code before
``kernels.conductances``) against the one-pass kernel, on the
reference MLP's and CNN's layer shapes, with and without device variation. Checks the two give
the same bits, then prints the median and fastest of ``--repeats`` alternating calls (process
CPU; fresh output arrays each call, as a crossbar's first read allocates them) and the ratio of
the medians. The first shape's calls also pay the fresh process's page faults on large
allocations, as a run's first reads do.

    python benchmarks/conductance_speed.py [--repeats 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np

    from pnmsim import kernels

    numpy_form = kernels.conductances_reference

    def kernel_form(s1, s2, rp1, rap1, rp2, rap2, dg):  # type: ignore[no-untyped-def]
        gdiff, gsum = np.empty(s1.shape), np.empty(s1.shape)
        w32 = np.empty(s1.shape, dtype=np.float32)
        kernels.conductances(s1, s2, rp1, rap1, rp2, rap2, dg, gdiff, gsum, w32)
        return gdiff, gsum, w32

    rng = np.random.default_rng(0)
    r_p, tmr = 5e3, 1.5
    dg = 1.0 / r_p - 1.0 / (r_p * (1 + tmr))
    print(f"{'shape':>12} {'variation':>9} {'numpy ms':>9} {'(fastest)':>9} {'kernel ms':>9} "
          f"{'(fastest)':>9} {'kernel / numpy':>14}")
    for shape in ((784, 512), (512, 512), (1152, 128)):
        for variation in (False, True):
            sig = 0.05 if variation else 0.0
            rp1 = r_p * (1 + sig * rng.standard_normal(shape))
            rp2 = r_p * (1 + sig * rng.standard_normal(shape))
            rap1, rap2 = rp1 * (1 + tmr), rp2 * (1 + tmr)
            s1 = (rng.random(shape) < 0.5).astype(np.int8)
            s2 = (rng.random(shape) < 0.5).astype(np.int8)
            args = (s1, s2, rp1, rap1, rp2, rap2, dg)
            ref, got = numpy_form(*args), kernel_form(*args)
            assert all(x.tobytes() == y.tobytes() for x, y in zip(ref, got, strict=True)), \
                f"{shape}: the two forms differ"
            t_np: list[float] = []
            t_k: list[float] = []
            for _ in range(a.repeats):
                t = time.process_time()
                numpy_form(*args)
                t_np.append(time.process_time() - t)
                t = time.process_time()
                kernel_form(*args)
                t_k.append(time.process_time() - t)
            mn, mk = statistics.median(t_np) * 1e3, statistics.median(t_k) * 1e3
            print(f"{str(shape):>12} {str(variation):>9} {mn:>9.2f} {min(t_np) * 1e3:>9.2f} "
                  f"{mk:>9.2f} {min(t_k) * 1e3:>9.2f} {mk / mn:>14.2f}")


if __name__ == "__main__":
    main()
