"""GXNOR discrete weight space and the discrete state transition (DST) update.

Weights live only in Z_N: 2^N + 1 evenly spaced states in [-H, H], step L = 2H / 2^N
(ternary: N = 1, H = 1 -> {-1, 0, +1}, L = 1). For N = 0 the formula would give 2 states
with L = 2H, i.e. binary {-H, +H}.

A proposed change dW (from the optimiser) is split into whole steps and a remainder,
``kappa = sign(dW) * floor(|dW| / L)``, ``nu = dW - kappa * L``; the weight moves kappa steps
plus one more step in the direction of dW with probability ``tanh(m * |nu| / L)`` (m = 3), is
clipped to [-H, H] and snapped to the nearest state. Randomness comes only from the explicit
``rng`` argument.
"""

from __future__ import annotations

import numpy as np


def _check(n_bits: int, h: float) -> None:
    if n_bits < 0:
        raise ValueError(f"n_bits must be >= 0, got {n_bits}")
    if not h > 0:
        raise ValueError(f"h must be > 0, got {h}")


def weight_levels(n_bits: int, h: float = 1.0) -> np.ndarray:
    """The 2^N + 1 states of Z_N evenly spaced in [-H, H] (N = 0: the two states [-H, H])."""
    _check(n_bits, h)
    n = 2 if n_bits == 0 else 2 ** n_bits + 1
    return np.linspace(-h, h, n)


def level_step(n_bits: int, h: float = 1.0) -> float:
    """Distance L = 2H / 2^N between neighbouring states."""
    _check(n_bits, h)
    return 2.0 * h / 2 ** n_bits


def snap(w: np.ndarray, n_bits: int, h: float = 1.0) -> np.ndarray:
    """Clip to [-H, H] and round to the nearest state (same float dtype as w; an exact tie
    goes to the state of even index, numpy ``rint``: ternary +-0.5 -> +-1, binary 0 -> -H)."""
    w = np.asarray(w)
    if not np.issubdtype(w.dtype, np.floating):
        w = w.astype(np.float64)
    dt = w.dtype.type
    L = level_step(n_bits, h)
    idx = np.rint((np.clip(w, dt(-h), dt(h)) + dt(h)) / dt(L))
    return (idx * dt(L) - dt(h)).astype(w.dtype, copy=False)


def dst_decompose(dw: np.ndarray, L: float) -> tuple[np.ndarray, np.ndarray]:
    """Split dW into whole steps and remainder: kappa = sign(dW) floor(|dW| / L), nu = dW - kappa L
    (nu has the sign of dW and |nu| < L)."""
    dw = np.asarray(dw)
    dt = dw.dtype.type if np.issubdtype(dw.dtype, np.floating) else np.float64
    kappa = np.sign(dw) * np.floor(np.abs(dw) / dt(L))
    nu = dw - kappa * dt(L)
    return kappa, nu


def dst_probability(nu: np.ndarray, L: float, m: float = 3.0) -> np.ndarray:
    """Probability of the extra step: tanh(m |nu| / L)."""
    nu = np.asarray(nu)
    dt = nu.dtype.type if np.issubdtype(nu.dtype, np.floating) else np.float64
    return np.tanh(dt(m) * np.abs(nu) / dt(L))


def dst_update(w: np.ndarray, dw: np.ndarray, n_bits: int, h: float, m: float,
               rng: np.random.Generator) -> np.ndarray:
    """One DST step: w + kappa L + sign(dW) L [u < tanh(m |nu| / L)], clipped and snapped.

    ``u = rng.random(w.shape)`` (float64, one draw per weight, always drawn so the rng stream
    does not depend on the data). Returns a new array of w's float dtype (float32 for integer
    w); dW = 0 never changes a weight that is already a state.
    """
    w = np.asarray(w)
    wf = w if np.issubdtype(w.dtype, np.floating) else w.astype(np.float32)
    dw = np.asarray(dw, dtype=wf.dtype)
    if dw.shape != wf.shape:
        raise ValueError(f"dw shape {dw.shape} != w shape {wf.shape}")
    L = level_step(n_bits, h)
    kappa, nu = dst_decompose(dw, L)
    p = dst_probability(nu, L, m)
    u = rng.random(wf.shape)
    extra = np.sign(dw) * (u < p)
    new = wf + (kappa + extra) * wf.dtype.type(L)
    return snap(new, n_bits, h)
