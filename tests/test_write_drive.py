"""update.write_drive: current-source write drivers make a cell's switching probability
independent of its state (closed-form P_sw against a Monte Carlo over many cells)."""

from __future__ import annotations

import math

import numpy as np

from pnmsim.config import load_arch
from pnmsim.crossbar import Crossbar
from pnmsim.pulses import PulseMapper


def _p_sw(t_ns: float, i_ratio: float, delta: float, tau_d_ns: float) -> float:
    """Precessional switching probability written out (science.md §3)."""
    return math.exp(-(math.pi ** 2) * delta / 4 * math.exp(-2 * (i_ratio - 1) * t_ns / tau_d_ns))


# a fine pulse grid: these tests check the drive, not the pulse generator's quantisation
FINE = "periphery.pulse_resolution_ns=1e-9"


def _flip_rates(drive: str, state: tuple[int, int], n: int = 40000) -> float:
    cfg = load_arch("outer_product", [f"update.write_drive={drive}", FINE])
    xb = Crossbar(n, 1, cfg, np.random.default_rng(0))
    xb.s1[:] = state[0]
    xb.s2[:] = state[1]
    mapper = PulseMapper(cfg)
    nu = 0.1                                         # one up-step of 0.1 L on every row
    xb.update_outer_products(np.array([[nu]]), np.ones((1, n)), mapper,
                             np.random.default_rng(1))
    return float(np.mean(xb.s1 != state[0]) if state[0] == 0 else np.mean(xb.s2 != state[1]))


def test_current_drive_switches_every_state_like_a_pm1_cell() -> None:
    cfg = load_arch("outer_product", [FINE])
    d, s = cfg.mtj, cfg.synapse
    i_ref = s.v_write_v / (d.r_parallel_ohm * (2 + d.tmr) + s.r_access_ohm) * 1e6 / d.ic0_ua
    t = float(PulseMapper(cfg).pulse_ns(np.array([0.1]))[0])
    p_ref = _p_sw(t, i_ref, d.delta, d.tau_d_ns)
    assert abs(p_ref - math.tanh(0.3)) < 1e-6          # the exact mapping hits tanh(m nu)
    n = 40000
    tol = 5 * math.sqrt(p_ref * (1 - p_ref) / n)
    # up pulse: (AP,AP) needs M1 AP->P, (P,P) needs M2 P->AP: both at the +-1 cell current
    for state in ((0, 0), (1, 1)):
        assert abs(_flip_rates("current", state, n) - p_ref) < tol, state


def test_voltage_drive_leaves_apap_zero_almost_never() -> None:
    cfg = load_arch("outer_product", [FINE])
    d, s = cfg.mtj, cfg.synapse
    t = float(PulseMapper(cfg).pulse_ns(np.array([0.1]))[0])
    i_apap = s.v_write_v / (2 * d.r_parallel_ohm * (1 + d.tmr) + s.r_access_ohm) * 1e6 / d.ic0_ua
    p_apap = _p_sw(t, i_apap, d.delta, d.tau_d_ns)
    assert p_apap < 1e-6                               # closed form: an absorbing state
    assert _flip_rates("voltage", (0, 0), 20000) < 5e-4


def test_current_drive_precessional_check_uses_the_nominal_current() -> None:
    import pytest

    from pnmsim.errors import ConfigError

    sig = [f"variation.{k}_sigma=0.1" for k in ("r_parallel", "tmr", "ic0", "delta")]
    with pytest.raises(ConfigError, match="AP\\+AP"):       # voltage drive: (AP,AP) too slow
        load_arch("outer_product", sig)
    load_arch("outer_product", [*sig, "update.write_drive=current"])
    # 1.2 V / (3 k (2 + 1.5) + 1 k) = 104.3 uA must exceed I_c0 (1 + 3 sigma): 60 * 1.75 = 105
    with pytest.raises(ConfigError, match="104.3 uA of the current-source"):
        load_arch("outer_product", ["update.write_drive=current", "variation.ic0_sigma=0.25"])
