"""Benchmark: the backprop of a layer split into column tiles — each tile's transposed read
(a BLAS GEMM over its columns) digitised and added into the running sum — with the conversion
and addition in three passes (zero the sum, ``quantize_observed`` in place, ``+=``: the code
before ``kernels.quantize_add_observed``) against one pass (``quantize_add_observed``), on the
reference MLP's 512 x 512 layer (4 column tiles of 128) at batch 100 and 1000. The GEMM runs
before each conversion as in training (its output is what the conversion reads) and is timed
apart from the conversion and addition. Checks both forms give the same bits and the same
subsample, then prints the median per mini-batch (all column tiles) of ``--repeats``
alternating batches of each and the ratio of the medians. For scale, the same run also
times what software mode does instead — one GEMM over all columns, no conversion — against
the tiles' GEMMs of a batch, and a plain NumPy ``+=`` of each tile's partial sums (the
addition without the conversion); the forms and the one GEMM take turns in both orders.

    python benchmarks/column_tile_backprop_speed.py [--repeats 40] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any


def _batch(form: str, dn: Any, w: Any, part: Any, out: Any, sub: Any, every: int,
           tile: int, subs: list[bytes] | None = None) -> tuple[float, float]:
    """One mini-batch's column tiles: GEMM, then conversion and addition in ``form`` ("add":
    a plain ``+=``, no conversion). Returns the seconds of the conversions and of the GEMMs."""
    import numpy as np

    from pnmsim import kernels

    fs, bits, scale = 20.0, 8, 0.37
    spent = gemm = 0.0
    for c in range(w.shape[1] // tile):
        t0 = time.perf_counter()
        np.matmul(dn[:, c * tile:(c + 1) * tile], w[:, c * tile:(c + 1) * tile].T, out=part)
        gemm += time.perf_counter() - t0
        t0 = time.perf_counter()
        if form == "add":
            if c == 0:
                out[...] = part
            else:
                out += part
        elif form == "one":
            kernels.quantize_add_observed(part, out, c == 0, fs, bits, scale, sub, every)
        else:
            if c == 0:
                out[...] = 0.0
            out += kernels.quantize_observed(part, fs, bits, scale, sub, every)
        spent += time.perf_counter() - t0
        if subs is not None:
            subs.append(sub.tobytes())
    return spent, gemm


def _whole(dn: Any, w: Any, out: Any) -> float:
    """Software mode's read of the same layer: one GEMM over all columns (seconds)."""
    import numpy as np

    t0 = time.perf_counter()
    np.matmul(dn, w.T, out=out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import numpy as np

    from pnmsim.converter_ranges import subsample_step

    rng = np.random.default_rng(0)
    rows, cols, tile = 512, 512, 128
    w = rng.integers(-1, 2, (rows, cols)).astype(np.float32)
    print(f"{'batch':>6} {'tiles':>6} {'three-pass ms':>14} {'one-pass ms':>12} "
          f"{'one / three':>11} {'plain += ms':>12} {'tile GEMMs ms':>14} "
          f"{'one GEMM ms':>12}")
    for m in (100, 1000):
        dn = (rng.integers(-127, 128, (m, cols)) / 127).astype(np.float32)
        every = subsample_step(m * rows)
        sub = np.empty(-(-m * rows // every))
        part = np.empty((m, rows), dtype=np.float32)
        sums = {k: np.empty((m, rows), dtype=np.float32) for k in ("three", "one")}
        subs: dict[str, list[bytes]] = {"three": [], "one": []}
        for form in ("three", "one"):
            _batch(form, dn, w, part, sums[form], sub, every, tile, subs[form])
        assert sums["three"].tobytes() == sums["one"].tobytes(), f"batch {m}: sums differ"
        assert subs["three"] == subs["one"], f"batch {m}: subsamples differ"
        t: dict[str, list[float]] = {"three": [], "one": [], "add": [], "gemms": [],
                                     "gemm": []}
        plain = np.empty((m, rows), dtype=np.float32)
        steps = ("three", "one", "add", "gemm")
        for r in range(a.repeats):
            for form in (steps if r % 2 == 0 else steps[::-1]):
                if form == "gemm":
                    t["gemm"].append(_whole(dn, w, plain))
                    continue
                spent, gemm = _batch(form, dn, w, part, sums.get(form, plain), sub, every,
                                     tile)
                t[form].append(spent)
                if form == "add":          # one sample of the tiles' GEMMs per repeat
                    t["gemms"].append(gemm)
        ms = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        print(f"{m:>6} {cols // tile:>6} {ms['three']:>14.3f} {ms['one']:>12.3f} "
              f"{ms['one'] / ms['three']:>11.2f} {ms['add']:>12.3f} {ms['gemms']:>14.3f} "
              f"{ms['gemm']:>12.3f}")


if __name__ == "__main__":
    main()
