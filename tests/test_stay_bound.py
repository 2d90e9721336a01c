"""The carried-over hazard's shortcut never changes a write's outcome.

Where a pulse must switch both MTJs of a cell and the first one switches, the other's hazard is
carried over to the new current (ten libm calls, :func:`pnmsim.kernels.cell._pulse_switching`).
:func:`pnmsim.kernels.cell._stays` (two calls) decides "the other MTJ stays" without it where a
margin makes that certain. These tests put the other MTJ's draw right at the point
where the carried-over computation itself flips (found by bisection over doubles), a few ulps
and small relative steps either side, and check that every "stays" of the shortcut is a "stays" of
that computation, written out here from the same primitives; and that the shortcut does fire
once the draw is clear of the boundary (otherwise it would be safe but useless).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnmsim.kernels.cell import _PI2_4, _age_la, _hazard, _pulse_cell, _stays
from pnmsim.kernels.reference import update_cells_reference

DELTA, TAU_D, TAU0 = 60.0, 1.0, 1.0
LA = math.log(_PI2_4 * DELTA)


def _carried_over_stays(u: float, tk: float, t: float, r0: float, r1: float,
                        delta: float = DELTA) -> bool:
    """The carried-over computation of ``_pulse_switching``, written out: the other MTJ
    (draw u) continues at ratio r1 from the age with the hazard it had at r0 after tk; it
    stays iff its switching time is not before the pulse's end."""
    la = math.log(_PI2_4 * delta)
    h_then = _hazard(tk, r0, delta, TAU_D, TAU0)
    rest = (_age_la(-math.log1p(-u), r1, delta, la, TAU_D, TAU0)
            - _age_la(h_then, r1, delta, la, TAU_D, TAU0))
    return not tk + max(rest, 0.0) < t


def _boundary(tk: float, t: float, r0: float, r1: float,
              delta: float = DELTA) -> float | None:
    """The smallest double u in (0, 1) for which the carried-over computation says "stays"
    (bisection over the bit patterns); None where it stays for every u or none."""
    lo = np.float64(0.0).view(np.int64)
    hi = np.float64(1.0).view(np.int64) - 1
    if _carried_over_stays(0.0, tk, t, r0, r1, delta):
        return None
    if not _carried_over_stays(float(np.int64(hi).view(np.float64)), tk, t, r0, r1, delta):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _carried_over_stays(float(np.int64(mid).view(np.float64)), tk, t, r0, r1, delta):
            hi = mid
        else:
            lo = mid
    return float(np.int64(hi).view(np.float64))


def _around(ub: float) -> list[float]:
    """Draws around a boundary: +-3 ulps and relative steps up to 1e-3 either side."""
    out = [ub]
    v = ub
    for _ in range(3):
        v = float(np.nextafter(v, 2.0))
        out.append(v)
    v = ub
    for _ in range(3):
        v = float(np.nextafter(v, -1.0))
        out.append(v)
    for rel in (1e-12, 1e-9, 1e-6, 1e-4, 1e-3):
        out += [ub * (1 + rel), ub * (1 - rel), ub + rel * (1 - ub), ub - rel * (1 - ub)]
    return [u for u in out if 0.0 <= u < 1.0]


# the reference design point's current ratios (state (AP, P) or (P, AP) at 1.74 I_c0; the first
# switch leads to (AP, AP) at 1.25 or (P, P) at 2.86) and some far from it, both ways
RATIOS = [(1.7391304347826086, 1.25), (1.7391304347826086, 2.8571428571428568),
          (1.01, 1.5), (3.0, 1.001), (1.2, 1.2000001), (5.0, 40.0)]


@pytest.mark.parametrize("r0,r1", RATIOS)
def test_stays_never_contradicts_the_carried_over_computation(r0: float, r1: float) -> None:
    rng = np.random.default_rng(5)
    checked = fired = 0
    for t in (0.05, 0.4, 1.0, 2.5, 7.0, 30.0):
        for tk in (t * 1e-9, *(t * rng.uniform(0, 1, 6)), t * (1 - 1e-12)):
            ub = _boundary(tk, t, r0, r1)
            if ub is None:
                continue
            for u in _around(ub):
                if _stays(u, tk, t, r0, r1, LA, TAU_D):
                    assert _carried_over_stays(u, tk, t, r0, r1), (r0, r1, t, tk, u, ub)
                    fired += 1
                checked += 1
            # clear of the boundary (and of 1), the shortcut must decide
            u_clear = ub + 2e-3 * (1 - ub) + 2e-4
            if u_clear <= 1 - 1e-6:
                assert _stays(u_clear, tk, t, r0, r1, LA, TAU_D), (r0, r1, t, tk, ub)
    assert checked > 500 and fired > 50


def test_stays_refuses_outside_the_precessional_regime() -> None:
    # a current at or below I_c0 in either segment: the thermal formula, no shortcut
    assert not _stays(0.9, 0.1, 1.0, 1.0, 2.0, LA, TAU_D)
    assert not _stays(0.9, 0.1, 1.0, 2.0, 0.99, LA, TAU_D)
    assert not _stays(1.0 - 1e-10, 0.1, 1.0, 2.0, 1.5, LA, TAU_D)   # too close to 1


@pytest.mark.parametrize("delta", [400.0, 1e4])
def test_stays_declines_where_the_hazard_at_tk_is_subnormal(delta: float) -> None:
    """A large Delta (A = pi^2 Delta / 4 > 745) lets the hazard built by tk fall below ~1e-300,
    where the carried-over computation holds it with few significant bits and its answer can
    be far from the exact one: the shortcut must decline there (a reviewer's counterexample
    without the guard), and agree with that computation around its flip point elsewhere."""
    la = math.log(_PI2_4 * delta)
    r0, r1 = 1.7391304347826086, 2.8571428571428568
    rng = np.random.default_rng(2)
    for g_then in (600.0, 665.0, 700.0, 740.0, 743.0, 745.0):
        tk = (la - math.log(g_then)) / (2.0 * (r0 - 1.0)) * TAU_D    # A exp(-x0) = g_then
        for t in tk + rng.uniform(0.3, 3.0, 4):
            ub = _boundary(tk, t, r0, r1, delta)
            if ub is None:
                continue
            for u in _around(ub):
                if _stays(u, tk, t, r0, r1, la, TAU_D):
                    assert g_then <= math.exp(6.5)      # the guard: ln 665.1
                    assert _carried_over_stays(u, tk, t, r0, r1, delta), (delta, g_then, t, u)


def test_pulse_cell_agrees_with_the_twin_in_the_subnormal_window() -> None:
    """The reviewer's case (MTJ 2 with Delta = 1e4, an ordinary first draw): the write must
    give what the numpy twin (no shortcut) gives, both MTJs switched."""
    args = (0, 1, 1, 4.466, 0.01151953802588012, 0.17736718788468625, 2000.0, 4000.0, 82.0,
            60.0, 2000.0, 4000.0, 82.0, 10000.0, 1.0, 1000.0, 1.0, 1.0, 1.0)
    a, b, _ = _pulse_cell(*args)
    one = np.ones((1, 1))
    ra, rb, _ = update_cells_reference(
        np.zeros((1, 1), np.int8), one.astype(np.int8), one * 4.466, one.astype(np.int8), one,
        one * args[4], one * args[5], one * 2000.0, one * 4000.0, one * 82.0, one * 60.0,
        one * 2000.0, one * 4000.0, one * 82.0, one * 1e4, 1.0, 1000.0, 1.0, 1.0)
    assert (a, b) == (int(ra[0, 0]), int(rb[0, 0])) == (1, 0)
