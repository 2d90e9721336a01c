"""Coverage of fit-device's 95 % intervals over seeds, pooled and hierarchical (prints a table).

Data are drawn from the MTJ model (mtj.p_switch) with numpy's binomial: 3 currents x 5 pulse
widths; pooled: one device, 100 trials per row; hierarchical: 6 devices with a lognormal I_c0
CV of 0.08, 100 trials per row. A calibrated 95 % interval covers the truth in ~95 % of seeds
(binomial sd over 40 seeds: 3.4 points).

    python benchmarks/fit_coverage.py [--seeds 40] [--kind pooled|hier|both]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from pnmsim.device import mtj
from pnmsim.device.fit import FitError, fit_device
from pnmsim.device.fit_data import SwitchingData

TRUTH = {"delta": 60.0, "ic0_ua": 60.0, "tau_d_ns": 1.0, "ic0_sigma": 0.08}


def draw(seed: int, devices: int, cv: float) -> SwitchingData:
    rng = np.random.default_rng(seed)
    s = math.sqrt(math.log1p(cv * cv))
    per_dev = TRUTH["ic0_ua"] * np.exp(s * rng.standard_normal(devices) - s * s / 2)
    t, cur, dev = [], [], []
    for d in range(devices):
        for c in (75.0, 90.0, 120.0):
            t50 = float(mtj.pulse_for_probability(0.5, c / 60.0, 60.0, 1.0))
            for f in (0.5, 0.75, 1.0, 1.3, 1.7):
                t.append(t50 * f)
                cur.append(c)
                dev.append(d)
    t_a, c_a, d_a = np.array(t), np.array(cur), np.array(dev, dtype=np.int64)
    p = mtj.p_switch(t_a, c_a, per_dev[d_a], 60.0, 1.0, 1.0)
    n = np.full(len(t), 100, dtype=np.int64)
    k = rng.binomial(n, p).astype(np.int64)
    return SwitchingData("synthetic", t_a, c_a, n, k, None, d_a if devices > 1 else None,
                         tuple(f"d{i}" for i in range(devices)) if devices > 1 else (),
                         np.arange(len(t)) + 2)


def run(kind: str, seeds: int) -> None:
    devices, cv = (1, 0.0) if kind == "pooled" else (6, TRUTH["ic0_sigma"])
    names = ["delta", "ic0_ua", "tau_d_ns"] + (["ic0_sigma"] if devices > 1 else [])
    cover = dict.fromkeys(names, 0)
    fitted = refused = 0
    t0 = time.perf_counter()
    for seed in range(seeds):
        try:
            r = fit_device(draw(seed, devices, cv))
        except FitError as e:
            refused += 1
            print(f"  seed {seed}: refused: {e}")
            continue
        fitted += 1
        for k in names:
            e = r.params.get(k) or r.spreads.get(k)
            if e is not None and e.ci_low is not None and e.ci_low < TRUTH[k] < e.ci_high:
                cover[k] += 1
    wall = time.perf_counter() - t0
    print(f"{kind}: {fitted} fits, {refused} refused, {wall / max(seeds, 1):.2f} s per fit")
    for k in names:
        print(f"  {k:<10} covered {cover[k]:>3}/{fitted} = {100 * cover[k] / max(fitted, 1):.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=40)
    ap.add_argument("--kind", choices=["pooled", "hier", "both"], default="both")
    a = ap.parse_args()
    for kind in (("pooled", "hier") if a.kind == "both" else (a.kind,)):
        run(kind, a.seeds)


if __name__ == "__main__":
    main()
