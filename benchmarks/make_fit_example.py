"""Write docs/fit_example.csv: switching counts drawn from the MTJ model with known parameters.

Known truth (what `pnmsim fit-device docs/fit_example.csv` should recover): Delta 55,
I_c0 65 uA (population mean, lognormal device-to-device CV 0.06), tau_D 0.9 ns, tau_0 1 ns;
5 devices, both write directions with the same parameters (the simulator's model), 3 currents,
5 pulse widths per current around the median switching time, 200 trials per row, seed 7.

    python benchmarks/make_fit_example.py [--out docs/fit_example.csv]
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from pnmsim.device import mtj

TRUTH = {"delta": 55.0, "ic0_ua": 65.0, "tau_d_ns": 0.9, "tau0_ns": 1.0, "ic0_cv": 0.06}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/fit_example.csv")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    s = math.sqrt(math.log1p(TRUTH["ic0_cv"] ** 2))
    lines = ["pulse_ns,current_ua,trials,switched,direction,device"]
    for dev in range(5):
        ic0 = TRUTH["ic0_ua"] * math.exp(s * rng.standard_normal() - s * s / 2)
        for direction in ("P->AP", "AP->P"):
            for cur in (80.0, 100.0, 130.0):
                i = cur / TRUTH["ic0_ua"]
                t50 = float(mtj.pulse_for_probability(0.5, i, TRUTH["delta"], TRUTH["tau_d_ns"]))
                for f in (0.5, 0.75, 1.0, 1.25, 1.6):
                    t = round(t50 * f, 2)
                    p = float(mtj.p_switch(t, cur, ic0, TRUTH["delta"], TRUTH["tau_d_ns"],
                                           TRUTH["tau0_ns"]))
                    k = int(rng.binomial(200, p))
                    lines.append(f"{t:g},{cur:g},200,{k},{direction},d{dev}")
    with open(a.out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"wrote {a.out}: {len(lines) - 1} rows; truth {TRUTH}")


if __name__ == "__main__":
    main()
