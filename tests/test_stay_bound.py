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

from pnmsim.kernels.cell import _PI2_4, _age_la, _hazard, _stays

DELTA, TAU_D, TAU0 = 60.0, 1.0, 1.0
LA = math.log(_PI2_4 * DELTA)


def _carried_over_stays(u: float, tk: float, t: float, r0: float, r1: float) -> bool:
    """The carried-over computation of ``_pulse_switching``, written out: the other MTJ
    (draw u) continues at ratio r1 from the age with the hazard it had at r0 after tk; it
    stays iff its switching time is not before the pulse's end."""
    h_then = _hazard(tk, r0, DELTA, TAU_D, TAU0)
    rest = (_age_la(-math.log1p(-u), r1, DELTA, LA, TAU_D, TAU0)
            - _age_la(h_then, r1, DELTA, LA, TAU_D, TAU0))
    return not tk + max(rest, 0.0) < t


def _boundary(tk: float, t: float, r0: float, r1: float) -> float | None:
    """The smallest double u in (0, 1) for which the carried-over computation says "stays"
    (bisection over the bit patterns); None where it stays for every u or none."""
    lo = np.float64(0.0).view(np.int64)
    hi = np.float64(1.0).view(np.int64) - 1
    if _carried_over_stays(0.0, tk, t, r0, r1):
        return None
    if not _carried_over_stays(float(np.int64(hi).view(np.float64)), tk, t, r0, r1):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _carried_over_stays(float(np.int64(mid).view(np.float64)), tk, t, r0, r1):
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
