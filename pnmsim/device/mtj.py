"""MTJ device physics: switching probability, resistance, energy and variation.

Pure-numpy reference implementation of docs/science.md §3 (MTJ device physics) as used by the
two-MTJ ternary synapse of §4. Every function broadcasts all of its array arguments and returns
float64 arrays (0-d for scalar inputs). The numba kernels elsewhere in pnmsim are twins of these.

Formulas (science.md §3), with i = I / I_c0 and A = pi^2 * Delta / 4:

- precessional regime (i > 1): ``P_sw(t) = exp(-A * exp(-2 (i - 1) t / tau_D))``
- its inverse: ``t(p) = tau_D / (2 (i - 1)) * ln(A / (-ln p))``
- mean switching time: ``<t> = tau_D / (2 (i - 1)) * (gamma_E + ln A)``
- thermal-activation regime (i < 1): ``tau = tau_0 * exp(Delta (1 - i))``,
  ``P_sw(t) = 1 - exp(-t / tau)``; also the read-disturb probability of a read pulse
- TMR = (R_AP - R_P) / R_P, so ``R_AP = R_P (1 + TMR)``; read conductance step
  ``dG = 1/R_P - 1/R_AP``
- write energy ``E = V * I * t`` (V * uA * ns = fJ)

Randomness only ever comes from an explicit :class:`numpy.random.Generator` argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

PI2_OVER_4: float = math.pi**2 / 4.0
EULER_GAMMA: float = 0.5772156649015329

_NORMAL_CLIP_FRACTION = 0.05
_DISTRIBUTIONS = ("lognormal", "normal")


def _f64(*args: ArrayLike) -> list[np.ndarray]:
    """Convert to float64 and broadcast against each other."""
    return np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in args])


def p_switch_precessional(
    t_ns: ArrayLike, i_ratio: ArrayLike, delta: ArrayLike, tau_d_ns: ArrayLike
) -> np.ndarray:
    """Precessional switching probability of a pulse of width ``t_ns``.

    ``P = exp(-(pi^2 delta / 4) * exp(-2 (i - 1) t / tau_d))`` for ``i_ratio > 1`` and
    ``t_ns > 0``; 0 where ``i_ratio <= 1`` or ``t_ns <= 0`` (no pulse, or below I_c0).

    Parameters
    ----------
    t_ns : pulse width in ns.
    i_ratio : I / I_c0 (dimensionless).
    delta : thermal stability factor E_b / (k_B T).
    tau_d_ns : characteristic precessional time in ns.

    Returns
    -------
    numpy.ndarray
        Probability in [0, 1], float64, broadcast shape of the arguments.
    """
    t, i, d, tau = _f64(t_ns, i_ratio, delta, tau_d_ns)
    valid = (i > 1.0) & (t > 0.0)
    i_s = np.where(valid, i, 2.0)
    t_s = np.where(valid, t, 0.0)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        g = PI2_OVER_4 * d * np.exp(-2.0 * (i_s - 1.0) * t_s / tau)
        p = np.exp(-g)
    return np.where(valid, p, 0.0)


def pulse_for_probability(
    p: ArrayLike, i_ratio: ArrayLike, delta: ArrayLike, tau_d_ns: ArrayLike
) -> np.ndarray:
    """Pulse width (ns) giving precessional switching probability ``p``; exact inverse.

    ``t = tau_d / (2 (i - 1)) * ln((pi^2 delta / 4) / (-ln p))``. Returns 0 where
    ``p <= P(t=0) = exp(-pi^2 delta / 4)`` (including ``p <= 0``) and ``+inf`` where ``p >= 1``.

    Raises
    ------
    ValueError
        If any ``i_ratio <= 1`` (no precessional switching below the critical current).
    """
    pp, i, d, tau = _f64(p, i_ratio, delta, tau_d_ns)
    if np.any(~(i > 1.0)):
        raise ValueError("pulse_for_probability needs i_ratio > 1 (precessional regime)")
    a = PI2_OVER_4 * d
    inner = (pp > 0.0) & (pp < 1.0)
    p_s = np.where(inner, pp, 0.5)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        neg_ln_p = -np.log(p_s)
        ok = inner & (neg_ln_p < a)
        t = tau / (2.0 * (i - 1.0)) * (np.log(a) - np.log(np.where(ok, neg_ln_p, 1.0)))
    out = np.where(ok, t, 0.0)
    out = np.where(pp >= 1.0, np.inf, out)
    return np.where(np.isnan(pp), np.nan, out)


def mean_switching_time_ns(
    i_ratio: ArrayLike, delta: ArrayLike, tau_d_ns: ArrayLike
) -> np.ndarray:
    """Mean precessional switching time ``tau_d / (2 (i - 1)) * (gamma_E + ln(pi^2 delta / 4))``.

    Returns ``+inf`` where ``i_ratio <= 1`` (no precessional switching).
    """
    i, d, tau = _f64(i_ratio, delta, tau_d_ns)
    valid = i > 1.0
    i_s = np.where(valid, i, 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = tau / (2.0 * (i_s - 1.0)) * (EULER_GAMMA + np.log(PI2_OVER_4 * d))
    return np.where(valid, m, np.inf)


def thermal_tau_ns(i_ratio: ArrayLike, delta: ArrayLike, tau0_ns: ArrayLike) -> np.ndarray:
    """Thermal-activation switching time constant ``tau0 * exp(delta (1 - i))``.

    Meaningful for ``0 <= i_ratio < 1``; the formula is applied as-is elsewhere. Overflows to
    ``+inf`` for very stable devices (no switching).
    """
    i, d, tau0 = _f64(i_ratio, delta, tau0_ns)
    with np.errstate(over="ignore"):
        return tau0 * np.exp(d * (1.0 - i))


def p_switch_thermal(
    t_ns: ArrayLike, i_ratio: ArrayLike, delta: ArrayLike, tau0_ns: ArrayLike
) -> np.ndarray:
    """Thermal-activation switching probability ``1 - exp(-t / tau)``; 0 for ``t_ns <= 0``.

    Uses ``-expm1`` so that tiny probabilities (read disturb) keep full relative precision.
    An infinite ``tau`` gives 0, an infinite ``t_ns`` (with finite ``tau``) gives 1.
    """
    t, i, d, tau0 = _f64(t_ns, i_ratio, delta, tau0_ns)
    tau = thermal_tau_ns(i, d, tau0)
    valid = (t > 0.0) & np.isfinite(tau)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        ratio = np.where(valid, t, 0.0) / np.where(valid, tau, 1.0)
        p = -np.expm1(-ratio)
    return np.where(valid, p, 0.0)


def p_switch(
    t_ns: ArrayLike,
    current_ua: ArrayLike,
    ic0_ua: ArrayLike,
    delta: ArrayLike,
    tau_d_ns: ArrayLike,
    tau0_ns: ArrayLike,
) -> np.ndarray:
    """Switching probability of a pulse, dispatching on the regime of ``i = |I| / I_c0``.

    Precessional formula where ``i > 1``, thermal-activation formula where ``i <= 1``.

    Notes
    -----
    Known limitation: the two textbook formulas do **not** join continuously at ``i = 1``.
    Just above it the precessional P tends to ``exp(-pi^2 delta / 4)`` (about 0), while at
    ``i = 1`` the thermal P is ``1 - exp(-t / tau0)`` (large for ns pulses). Each regime is
    monotone non-decreasing in ``t`` and in current, but the combined curve is not monotone in
    current across ``i = 1``. Writes operate at ``i > 1`` and reads at ``i << 1``, so the
    simulator never relies on the crossover region.
    """
    t, cur, ic0, d, tau_d, tau0 = _f64(t_ns, current_ua, ic0_ua, delta, tau_d_ns, tau0_ns)
    i = np.abs(cur) / ic0
    prec = p_switch_precessional(t, i, d, tau_d)
    therm = p_switch_thermal(t, np.where(i > 1.0, 0.0, i), d, tau0)
    return np.where(i > 1.0, prec, therm)


def read_disturb_probability(
    read_ns: ArrayLike,
    read_current_ua: ArrayLike,
    ic0_ua: ArrayLike,
    delta: ArrayLike,
    tau0_ns: ArrayLike,
) -> np.ndarray:
    """Probability that a read pulse flips the device (thermal regime, ``i = |I_rd| / I_c0``).

    The thermal formula is applied whatever the current; read currents are meant to be well
    below ``ic0_ua``.
    """
    t, cur, ic0, d, tau0 = _f64(read_ns, read_current_ua, ic0_ua, delta, tau0_ns)
    return p_switch_thermal(t, np.abs(cur) / ic0, d, tau0)


def r_antiparallel_ohm(r_p_ohm: ArrayLike, tmr: ArrayLike) -> np.ndarray:
    """Antiparallel resistance ``R_AP = R_P (1 + TMR)`` in ohm (TMR as a fraction, 1.5 = 150 %)."""
    r_p, m = _f64(r_p_ohm, tmr)
    return r_p * (1.0 + m)


def delta_conductance_s(r_p_ohm: ArrayLike, tmr: ArrayLike) -> np.ndarray:
    """Conductance step ``1/R_P - 1/R_AP`` in siemens."""
    r_p, m = _f64(r_p_ohm, tmr)
    return 1.0 / r_p - 1.0 / (r_p * (1.0 + m))


def write_energy_fj(v_write_v: ArrayLike, current_ua: ArrayLike, t_ns: ArrayLike) -> np.ndarray:
    """Write-pulse energy ``V * I * t`` in fJ (V * uA * ns = 1e-15 J = fJ)."""
    v, cur, t = _f64(v_write_v, current_ua, t_ns)
    return v * cur * t


@dataclass(frozen=True)
class DeviceSample:
    """Per-device parameters, all arrays of the same shape.

    Attributes
    ----------
    r_p_ohm : parallel resistance (ohm).
    tmr : tunnel magnetoresistance ratio (fraction).
    ic0_ua : critical current (uA).
    delta : thermal stability factor.
    """

    r_p_ohm: np.ndarray
    tmr: np.ndarray
    ic0_ua: np.ndarray
    delta: np.ndarray


def _sample_one(
    shape: tuple[int, ...],
    nominal: ArrayLike,
    cv: float,
    distribution: str,
    rng: np.random.Generator,
) -> np.ndarray:
    nom0 = np.asarray(nominal, dtype=np.float64)
    if cv == 0.0:   # exactly the nominal (a scalar: one fill, not a copy of a broadcast)
        return np.full(shape, nom0) if nom0.ndim == 0 else np.array(
            np.broadcast_to(nom0, shape), copy=True)
    nom = np.broadcast_to(nom0, shape)
    z = rng.standard_normal(shape)
    if distribution == "lognormal":
        s = math.sqrt(math.log1p(cv * cv))
        return nom * np.exp(s * z - 0.5 * s * s)
    return np.maximum(nom * (1.0 + cv * z), _NORMAL_CLIP_FRACTION * nom)


def sample_devices(
    shape: int | tuple[int, ...],
    *,
    r_p_ohm: ArrayLike,
    tmr: ArrayLike,
    ic0_ua: ArrayLike,
    delta: ArrayLike,
    sigma_r_p: float = 0.0,
    sigma_tmr: float = 0.0,
    sigma_ic0: float = 0.0,
    sigma_delta: float = 0.0,
    distribution: str = "lognormal",
    rng: np.random.Generator,
) -> DeviceSample:
    """Draw device-to-device variation of R_P, TMR, I_c0 and Delta.

    Sigmas are relative (coefficient of variation, dimensionless).

    - ``"lognormal"``: ``nominal * exp(s z - s^2 / 2)`` with ``s = sqrt(ln(1 + cv^2))``, so the
      mean equals the nominal value and the coefficient of variation equals sigma.
    - ``"normal"``: ``nominal * (1 + sigma z)``, clipped below at 5 % of nominal (keeps every
      parameter positive).

    A sigma of 0 gives exactly the nominal value and draws nothing from ``rng``. Draws are made
    in the fixed order r_p, tmr, ic0, delta (one ``standard_normal(shape)`` each), so results
    are reproducible for a given seed. Nominals broadcast to ``shape``.

    Raises
    ------
    ValueError
        Unknown ``distribution`` or a negative sigma.
    """
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {distribution!r}; allowed: {_DISTRIBUTIONS}")
    shp = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    sigmas = (float(sigma_r_p), float(sigma_tmr), float(sigma_ic0), float(sigma_delta))
    if any(not s >= 0.0 for s in sigmas):
        raise ValueError(f"sigmas must be >= 0, got {sigmas}")
    nominals = (r_p_ohm, tmr, ic0_ua, delta)
    vals = [_sample_one(shp, n, s, distribution, rng)
            for n, s in zip(nominals, sigmas, strict=True)]
    return DeviceSample(r_p_ohm=vals[0], tmr=vals[1], ic0_ua=vals[2], delta=vals[3])


def jitter(values: ArrayLike, sigma_rel: ArrayLike, rng: np.random.Generator) -> np.ndarray:
    """Cycle-to-cycle jitter: ``values * (1 + sigma_rel * z)``, clipped below at 0.

    If every ``sigma_rel`` is 0 a float64 copy is returned and ``rng`` is not used.
    """
    v, s = _f64(values, sigma_rel)
    if not np.any(s):
        return np.array(v, dtype=np.float64, copy=True)
    z = rng.standard_normal(v.shape)
    return np.maximum(v * (1.0 + s * z), 0.0)


def _gumbel_rms(u: np.ndarray, a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS of ``exp(-exp(u - a x)) - y`` over the last axis (x, y 1-D)."""
    with np.errstate(over="ignore", under="ignore"):
        p = np.exp(-np.exp(u[..., None] - a[..., None] * x))
    return np.sqrt(np.mean((p - y) ** 2, axis=-1))


def affine_pulse_fit(
    delta: float,
    i_ratio: float,
    tau_d_ns: float,
    m: float = 3.0,
    level_step: float = 1.0,
    n_points: int = 200,
) -> tuple[float, float, float]:
    """Least-squares affine pulse ``t = t0 + k |nu|`` mimicking ``tanh(m |nu| / L)``.

    Fits ``p_switch_precessional(t0 + k |nu|, i_ratio, delta, tau_d_ns)`` to
    ``tanh(m |nu| / L)`` over the even grid ``|nu| = L * j / n_points``, ``j = 1..n_points``
    (science.md §4, scheme b). With ``b = 2 (i - 1) / tau_d`` and ``x = |nu| / L`` the model is
    ``exp(-exp(u - a x))`` with ``u = ln(pi^2 delta / 4) - b t0`` and ``a = b k L``; it is
    solved by a coarse grid search refined with Levenberg-Marquardt (deterministic), under the
    constraint ``t0 >= 0``.

    Returns
    -------
    tuple of float
        ``(t0_ns, k_ns_per_unit_nu, rms_error)``; the rms is recomputed with
        :func:`p_switch_precessional`.

    Raises
    ------
    ValueError
        If ``i_ratio <= 1``, ``delta <= 0``, ``tau_d_ns <= 0``, ``level_step <= 0`` or
        ``n_points < 2``.
    """
    if not (i_ratio > 1.0 and delta > 0.0 and tau_d_ns > 0.0 and level_step > 0.0):
        raise ValueError("affine_pulse_fit needs i_ratio > 1 and positive delta, tau_d, L")
    if n_points < 2:
        raise ValueError("affine_pulse_fit needs n_points >= 2")
    ln_a = math.log(PI2_OVER_4 * delta)
    b = 2.0 * (i_ratio - 1.0) / tau_d_ns
    x = np.arange(1, n_points + 1, dtype=np.float64) / n_points
    y = np.tanh(m * x)

    # coarse grid search (u <= ln_a keeps t0 >= 0)
    u_grid = np.linspace(-10.0, 10.0, 201)
    u_grid = np.unique(np.minimum(u_grid, ln_a))
    a_grid = np.geomspace(1e-2, 1e3, 241)
    uu, aa = np.meshgrid(u_grid, a_grid, indexing="ij")
    rms = _gumbel_rms(uu, aa, x, y)
    j = np.unravel_index(int(np.argmin(rms)), rms.shape)
    theta = np.array([uu[j], aa[j]])

    def residual(th: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(over="ignore", under="ignore"):
            g = np.exp(th[0] - th[1] * x)
            p = np.exp(-g)
        jac = np.stack([-g * p, g * p * x], axis=1)
        return p - y, jac

    def project(th: np.ndarray) -> np.ndarray:
        return np.array([min(th[0], ln_a), max(th[1], 1e-12)])

    r, jac = residual(theta)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(200):
        jtj = jac.T @ jac
        grad = jac.T @ r
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -grad)
        cand = project(theta + step)
        r_c, jac_c = residual(cand)
        cost_c = float(r_c @ r_c)
        if cost_c < cost:
            converged = cost - cost_c <= 1e-15 * max(cost, 1e-300)
            theta, r, jac, cost = cand, r_c, jac_c, cost_c
            lam = max(lam / 10.0, 1e-12)
            if converged:
                break
        else:
            lam *= 10.0
            if lam > 1e12:
                break

    u, a = float(theta[0]), float(theta[1])
    t0 = max((ln_a - u) / b, 0.0)
    k = a / (b * level_step)
    nu = level_step * x
    p = p_switch_precessional(t0 + k * nu, i_ratio, delta, tau_d_ns)
    err = float(np.sqrt(np.mean((p - np.tanh(m * nu / level_step)) ** 2)))
    return t0, k, err


def switching_curve(
    pulse_ns: ArrayLike,
    current_ua: ArrayLike,
    ic0_ua: ArrayLike,
    delta: ArrayLike,
    tau_d_ns: ArrayLike,
    tau0_ns: ArrayLike,
) -> np.ndarray:
    """:func:`p_switch` evaluated over a grid of pulse widths.

    The device/current arguments broadcast among themselves (shape ``S``); ``pulse_ns`` is a
    grid of shape ``G`` placed on trailing axes, so the result has shape ``S + G``.
    """
    pulses = np.asarray(pulse_ns, dtype=np.float64)
    params = _f64(current_ua, ic0_ua, delta, tau_d_ns, tau0_ns)
    expand = (Ellipsis,) + (None,) * pulses.ndim
    cur, ic0, d, tau_d, tau0 = (q[expand] for q in params)
    return p_switch(pulses, cur, ic0, d, tau_d, tau0)
