"""Can the derived cost model reach the paper's figures inside plausible parameter ranges?

The paper (Greenberg-Toledo et al., arXiv 1912.12636) reports 18.3 TOPs/W for feedforward and
3 TOPs/W for the weight update of its "synapse array" (54.6 and 333 fJ per op). pnmsim derives
every price from circuit parameters with sources (``pnmsim costs``) and fits nothing by
default. This script asks, for each paper figure and each scope it might mean, what value of
the one parameter that dominates that scope's energy would reproduce it, and whether that value
lies inside the plausible range written next to the parameter in the preset:

* feedforward, array scope: ``circuits.sensing.amp_bias_uw_per_ff`` (the sense amplifiers) and,
  separately, ``circuits.converters.dac_fj_per_level`` (the first layer's 8-bit input DACs);
* update, array scope: ``circuits.lines.pulse_stage_fj`` (the write pulse generators);
* feedforward, synapse scope: ``synapse.v_read_v`` (cell read energy ~ V_rd^2; bounded by the
  no-disturb rule V_rd / R_P < I_c0 / 2 that the config loader enforces).

Energy is linear in the two circuit parameters, so the fit is solved from the counts of one
simulation priced at two parameter values; V_rd is solved from E ~ V_rd^2 and checked by a
second simulation. Prints the fit, the range, the figures it gives, and MISMATCH where the
paper's figure cannot be reached within range (the preset then keeps its sourced value).

    python benchmarks/calibrate.py [ARCH] [--samples N]
"""

from __future__ import annotations

import argparse
import dataclasses
import math

from pnmsim import api
from pnmsim.config import ArchConfig, load_arch, with_overrides
from pnmsim.results import Results

PAPER = {"feedforward": 18.3, "update": 3.0}
SCOPES = ("synapse", "array", "system")
# (phase, scope, key, low, high, where the range comes from)
LINEAR_KNOBS = (
    ("feedforward", "array", "circuits.sensing.amp_bias_uw_per_ff", 0.4, 20.0,
     "periphery_reference.yaml: 0.4-20 uW/fF (GBW ~1 GHz, gm/Id 5-20 /V, 1-10x overhead)"),
    ("feedforward", "array", "circuits.converters.dac_fj_per_level", 1.5, 200.0,
     "periphery_reference.yaml: 1.5-200 fJ/level (upper end: ISAAC's whole 1-bit row driver)"),
    ("update", "array", "circuits.lines.pulse_stage_fj", 0.5, 5.0,
     "periphery_reference.yaml: 0.5-5 fJ per delay stage at 45 nm"),
)


def _get(cfg: ArchConfig, key: str) -> float:
    node: object = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return float(node)  # type: ignore[arg-type]


def tops(res: Results, cfg: ArchConfig, phase: str, scope: str) -> float:
    """TOPs/W of ``phase`` at ``scope`` with the run's counts priced by ``cfg``."""
    return dataclasses.replace(res, arch=cfg).phase_metrics()[phase][f"tops_per_w_{scope}"]


def energy_pj(res: Results, cfg: ArchConfig, phase: str, scope: str) -> float:
    m = dataclasses.replace(res, arch=cfg).phase_metrics()[phase]
    key = {"synapse": "energy_j_synapse", "array": "energy_j_array", "system": "energy_j"}[scope]
    return m[key] * 1e12


def table(res: Results, cfg: ArchConfig, title: str) -> None:
    print(f"\n{title}")
    print(f"{'phase':>12} " + " ".join(f"{s:>10}" for s in SCOPES) + "   paper")
    for p in ("feedforward", "backprop", "update"):
        row = " ".join(f"{tops(res, cfg, p, s):10.4g}" for s in SCOPES)
        print(f"{p:>12} {row}   {PAPER.get(p, float('nan')):g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("arch", nargs="?", default="reference")
    ap.add_argument("--samples", type=int, default=None)
    a = ap.parse_args()
    cfg = load_arch(a.arch)
    res = api.simulate(cfg, samples=a.samples)
    print(f"{cfg.name}, {res.workload.name}, {res.samples} samples: TOPs/W by scope "
          "(ops = ops_per_mac x the workload's MACs)")
    table(res, cfg, "derived model (preset values, nothing fitted):")
    mismatches = []
    fitted: list[str] = []
    reached: set[str] = set()      # paper figures some in-range knob reproduces
    for phase, scope, key, lo, hi, src in LINEAR_KNOBS:
        k0 = _get(cfg, key)
        k1 = k0 * 2 if k0 > 0 else 1.0
        e0 = energy_pj(res, cfg, phase, scope)
        e1 = energy_pj(res, with_overrides(cfg, [f"{key}={k1}"]), phase, scope)
        ops = res.phase_metrics()[phase]["ops"]
        target = ops / (PAPER[phase] * 1e12) * 1e12            # pJ that give the paper's figure
        slope = (e1 - e0) / (k1 - k0)
        k_fit = k0 + (target - e0) / slope if slope > 0 else math.inf
        ok = lo <= k_fit <= hi
        print(f"\n{phase} at {scope} scope: paper {PAPER[phase]} TOPs/W needs "
              f"{target:.4g} pJ; the model spends {e0:.4g} pJ with {key} = {k0:g}")
        print(f"  fit {key} = {k_fit:.4g}; plausible range {lo:g}-{hi:g} ({src})")
        if ok:
            fitted.append(f"{key}={k_fit:.6g}")
            reached.add(f"{phase}/{scope}")
            print("  inside the range: the fit is a defensible CALIBRATED value")
        else:
            edge = min(max(k_fit, lo), hi)
            got = tops(res, with_overrides(cfg, [f"{key}={edge:g}"]), phase, scope)
            print(f"  MISMATCH: outside the range; at the nearest bound ({edge:g}) the model "
                  f"gives {got:.4g} TOPs/W")
            mismatches.append(f"{phase}/{scope}")
    # synapse scope, feedforward: cell read energy ~ V_rd^2 (counts scale with it)
    v0 = cfg.synapse.v_read_v
    e_syn = energy_pj(res, cfg, "feedforward", "synapse")
    ops = res.phase_metrics()["feedforward"]["ops"]
    target = ops / (PAPER["feedforward"] * 1e12) * 1e12
    v_fit = v0 * math.sqrt(target / e_syn)
    v_max = 0.5 * cfg.mtj.ic0_ua * 1e-6 * cfg.mtj.r_parallel_ohm
    print(f"\nfeedforward at synapse scope: paper needs {target:.4g} pJ of cell reads; the model "
          f"spends {e_syn:.4g} pJ at V_rd = {v0:g} V")
    print(f"  fit synapse.v_read_v = {v_fit:.4g} V (E ~ V_rd^2); allowed up to {v_max:.3g} V "
          "(read current below I_c0/2, no read disturb)")
    if v_fit <= v_max:
        fitted.append(f"synapse.v_read_v={v_fit:.6g}")
        print("  inside the range")
    else:
        mismatches.append("feedforward/synapse")
        chk = api.simulate(with_overrides(cfg, [f"synapse.v_read_v={v_max * 0.999:.4g}"]),
                           samples=a.samples)
        print(f"  MISMATCH: a disturb-free read reaches at most "
              f"{chk.phase_metrics()['feedforward']['tops_per_w_synapse']:.4g} TOPs/W "
              "(checked by a second simulation)")
    print("\nupdate at synapse scope: cell write energy V_write I t is device physics (the "
          "switching current and pulse widths), no circuit knob; the model gives "
          f"{tops(res, cfg, 'update', 'synapse'):.4g} TOPs/W against the paper's 3.")
    if fitted:
        table(res, with_overrides(cfg, [f for f in fitted if not f.startswith("synapse.")]),
              "with the in-range circuit fits applied (repriced counts):")
    missed = [m for m in dict.fromkeys(mismatches) if m not in reached]
    print("\nsummary: "
          + ("reachable inside a plausible range at " + ", ".join(sorted(reached))
             + " (by the knob marked inside the range above); " if reached else "")
          + ("MISMATCH at " + ", ".join(missed) + ": not reached within the plausible ranges"
             if missed else "no figure out of reach")
          + ". Nothing is fitted: the preset keeps its sourced values.")


if __name__ == "__main__":
    main()
