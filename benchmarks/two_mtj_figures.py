"""Two-MTJ cell figures of issue 10 item 5: the series current frozen at its initial value (the
old model, P = p1 * p2 for a two-level jump) against the current recomputed when the first MTJ
switches (pnmsim.kernels), by Monte Carlo on the reference preset's nominal cell.

    python benchmarks/two_mtj_figures.py [--trials 1000000] [--seed 0]
        [--ic0-asymmetry R] [--tmr-v-half V]

Prints, for a -1 -> +1 weight-up pulse (both MTJs must switch): the two-level jump probability
at a 3 ns pulse and at the saturating pulse t(p_max) of the +-1 cell, old vs new, with the
binomial standard error of the new figure; and the state-aware pulse's two-level jump.

With ``--ic0-asymmetry`` and/or ``--tmr-v-half`` (the optional physics of
pnmsim/device/bias.py, as ``mtj.ic0_asymmetry`` / ``mtj.tmr_v_half_v``) it also prints the
same jumps with that physics on against off (same draws), at the 3 ns pulse, at the reference
saturating pulse, and at the state-aware mapper's saturating pulse with the physics on (each
of the two MTJs at least p_max at the bias-solved current and its own I_c0).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from pnmsim import kernels
from pnmsim.config import load_arch
from pnmsim.device import mtj
from pnmsim.pulses import PulseMapper


def jump(t: float, n: int, seed: int, cfg, asym: float = 1.0, v_half: float = 0.0) -> float:
    d, s = cfg.mtj, cfg.synapse
    f = lambda v: np.full((n, 1), float(v))  # noqa: E731
    rap = d.r_parallel_ohm * (1 + d.tmr)
    s1 = np.zeros((n, 1), np.int8)
    s2 = np.ones((n, 1), np.int8)
    rng = np.random.default_rng(seed)
    out = np.zeros(4)
    kernels.update_cells(s1, s2, f(t), np.ones((n, 1), np.int8), f(1), rng.random((n, 1)),
                         rng.random((n, 1)), f(d.r_parallel_ohm), f(rap), f(d.ic0_ua),
                         f(d.delta), f(d.r_parallel_ohm), f(rap), f(d.ic0_ua), f(d.delta),
                         s.v_write_v, s.r_access_ohm, d.tau_d_ns, d.tau0_ns, out, asym, v_half)
    return float(np.mean((s1 == 1) & (s2 == 0)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ic0-asymmetry", type=float, default=None,
                    help="I_c0(P->AP) / I_c0(AP->P) (mtj.ic0_asymmetry)")
    ap.add_argument("--tmr-v-half", type=float, default=None,
                    help="V_h of TMR(V) = TMR0 / (1 + (V/V_h)^2) in volts (mtj.tmr_v_half_v)")
    a = ap.parse_args()
    cfg = load_arch("reference")
    mp = PulseMapper(cfg)
    d = cfg.mtj
    q_state = 1 - math.sqrt(1 - math.tanh(3 * 0.45))
    t_state = float(mp.quantize(mtj.pulse_for_probability(q_state, mp.i_ratio, d.delta,
                                                          d.tau_d_ns)))
    rows = [("-1 -> +1 jump, 3 ns pulse", 3.0),
            (f"saturating pulse t(p_max) = {mp.t_sat:.2f} ns (quantised)", mp.t_sat),
            (f"state-aware pulse for nu = 0.45 ({t_state:.2f} ns)", t_state)]
    print(f"{'case':58s} {'frozen p^2':>10s} {'recomputed':>10s} {'+- SE':>8s}")
    for name, t in rows:
        p = float(mtj.p_switch_precessional(t, mp.i_ratio, d.delta, d.tau_d_ns))
        new = jump(t, a.trials, a.seed, cfg)
        se = math.sqrt(new * (1 - new) / a.trials)
        print(f"{name:58s} {p * p:10.4f} {new:10.4f} {se:8.4f}")
    if a.ic0_asymmetry is not None or a.tmr_v_half is not None:
        physics_on(cfg, mp, a)


def physics_on(cfg, mp: PulseMapper, a: argparse.Namespace) -> None:
    """The -1 -> +1 jumps with the optional physics on against off (same draws)."""
    from pnmsim.config import with_overrides
    from pnmsim.errors import PnmsimError

    over = []
    if a.ic0_asymmetry is not None:
        over.append(f"mtj.ic0_asymmetry={a.ic0_asymmetry}")
    if a.tmr_v_half is not None:
        over.append(f"mtj.tmr_v_half_v={a.tmr_v_half}")
    try:
        on = with_overrides(cfg, over)
    except PnmsimError as e:
        raise SystemExit(f"error: {e}") from None
    mp_on = PulseMapper(on)
    asym, vh = mp_on.kernel_physics()
    i_pm = float(mp_on.i_state[0, 1])
    t_aware = float(mp_on.pulse_ns_cells(np.array([[0.0]]), np.array([[1.0]]),
                                         np.array([[0]], np.int8), np.array([[1]], np.int8),
                                         np.array([[1]], np.int8))[0, 0])
    print(f"\nphysics on ({', '.join(over)}): -1 cell current {i_pm:.1f} uA "
          f"(off {float(mp.i_state[0, 1]):.1f} uA), I_c0 P->AP "
          f"{on.mtj.ic0_ua * math.sqrt(asym):.1f} / AP->P {on.mtj.ic0_ua / math.sqrt(asym):.1f} uA")
    print(f"{'-1 -> +1 two-level jump':58s} {'off':>10s} {'on':>10s} {'+- SE':>8s}")
    rows = [("3 ns pulse", 3.0),
            (f"reference saturating pulse {mp.t_sat:.2f} ns", mp.t_sat),
            (f"state-aware saturating pulse with physics on, {t_aware:.2f} ns", t_aware)]
    for name, t in rows:
        off = jump(t, a.trials, a.seed, cfg)
        new = jump(t, a.trials, a.seed, cfg, asym, vh)
        se = math.sqrt(new * (1 - new) / a.trials)
        print(f"{name:58s} {off:10.4f} {new:10.4f} {se:8.4f}")


if __name__ == "__main__":
    main()
