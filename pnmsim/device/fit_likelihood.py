"""Binomial log-likelihood of switching counts under the MTJ model of science.md §3.

Log-space twin of :func:`pnmsim.device.mtj.p_switch` (tests check ``exp`` of these against it):
with ``i = I / I_c0``

- precessional (``i > 1``): ``g = (pi^2 Delta / 4) exp(-2 (i - 1) t / tau_D)``,
  ``ln P = -g``, ``ln(1 - P) = ln(1 - e^-g)``;
- thermal (``i <= 1``): ``r = t / (tau_0 exp(Delta (1 - i)))``, ``ln(1 - P) = -r``,
  ``ln P = ln(1 - e^-r)``.

Working in logs keeps full precision for probabilities within 1e-300 of 0 or 1, which the
likelihood of a well-measured device needs (``ln(1 - P)`` of ``P = 1 - 1e-20`` is finite here,
``-inf`` through ``P`` itself). The hierarchical (device-to-device) marginal likelihood lives in
:mod:`pnmsim.device.fit_spread`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from pnmsim.device.mtj import PI2_OVER_4

_SMALL_LOG = -30.0   # below this, ln(1 - e^-x) = ln x to double precision


def _log1mexp_of_log(log_x: np.ndarray) -> np.ndarray:
    """``ln(1 - exp(-x))`` for ``x = exp(log_x) > 0``, accurate for tiny and large x."""
    x = np.exp(np.minimum(log_x, 700.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        big = np.log1p(-np.exp(-x))              # x > ln 2
        small = np.log(-np.expm1(-x))            # x <= ln 2
    out = np.where(x > math.log(2.0), big, small)
    return np.where(log_x < _SMALL_LOG, log_x, out)


def log_p_switch(t_ns: np.ndarray, current_ua: np.ndarray, ic0_ua: np.ndarray,
                 delta: np.ndarray, tau_d_ns: np.ndarray,
                 tau0_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ln P, ln(1 - P))`` of a pulse, both regimes; all arguments broadcast.

    ``t_ns`` and ``current_ua`` must be > 0 (the data reader guarantees it).
    """
    t, cur, ic0, d, tau_d, tau0 = np.broadcast_arrays(
        *[np.asarray(a, dtype=np.float64) for a in (t_ns, current_ua, ic0_ua, delta,
                                                     tau_d_ns, tau0_ns)])
    i = cur / ic0
    prec = i > 1.0
    # precessional
    log_g = np.log(PI2_OVER_4 * d) - 2.0 * (i - 1.0) * t / tau_d
    lp_prec = -np.exp(np.minimum(log_g, 700.0))
    lq_prec = _log1mexp_of_log(log_g)
    # thermal
    log_r = np.log(t) - np.log(tau0) - d * (1.0 - i)
    lq_th = -np.exp(np.minimum(log_r, 700.0))
    lp_th = _log1mexp_of_log(log_r)
    return np.where(prec, lp_prec, lp_th), np.where(prec, lq_prec, lq_th)


def row_loglik(k: np.ndarray, n: np.ndarray, log_p: np.ndarray,
               log_q: np.ndarray) -> np.ndarray:
    """Binomial ``k ln P + (n - k) ln(1 - P)`` per row, without ``ln C(n, k)``; ``0 * -inf = 0``."""
    a = np.where(k > 0, k * log_p, 0.0)
    b = np.where(n - k > 0, (n - k) * log_q, 0.0)
    return a + b


def log_binom_coef(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``ln C(n, k)`` per row."""
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def saturated_loglik(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Per-row log-likelihood of the saturated model ``P = k / n`` (same constant convention)."""
    kf = k.astype(np.float64)
    nf = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(k > 0, kf * np.log(kf / nf), 0.0)
        b = np.where(n - k > 0, (nf - kf) * np.log((nf - kf) / nf), 0.0)
    return a + b
