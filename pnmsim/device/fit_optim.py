"""Numerical maximum likelihood: minimisation, finite-difference derivatives, Wald intervals.

The fits work on log-parameters (every MTJ parameter and spread is positive), where the
negative log-likelihood is close to quadratic and the parameters are of order one. Minimisation
is Nelder-Mead (robust to the regime switch of the model at ``I = I_c0``) polished by BFGS;
convergence is judged by the central-difference gradient at the end, not by the optimiser's own
flag (BFGS reports "precision loss" at optima it cannot improve).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

Objective = Callable[[np.ndarray], float]

GRAD_TOL = 1e-3        # |d NLL / d ln theta| at a converged optimum
FD_STEP = 1e-5         # finite-difference step of gradients, log-parameter units
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Optimum:
    x: np.ndarray           # minimiser (log-parameters)
    fun: float              # NLL at x
    grad_max: float         # max |gradient| at x
    converged: bool


def fd_grad(f: Objective, x: np.ndarray, h: float = FD_STEP) -> np.ndarray:
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def fd_hess(f: Objective, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian (symmetric by construction)."""
    n = x.size
    hm = np.empty((n, n))
    f0 = f(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h
        hm[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / (h * h)
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h * h)
            hm[i, j] = hm[j, i] = v
    return hm


def minimise(f: Objective, x0: np.ndarray) -> Optimum:
    """Nelder-Mead then BFGS from ``x0``; returns the best point and whether it converged."""
    def safe(x: np.ndarray) -> float:
        v = f(x)
        return v if np.isfinite(v) else 1e300

    n = x0.size
    nm = minimize(safe, x0, method="Nelder-Mead",
                  options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 500 * n,
                           "maxfev": 500 * n, "adaptive": n > 2})
    x = nm.x
    with np.errstate(all="ignore"):
        bf = minimize(safe, x, method="BFGS", options={"gtol": 1e-7, "maxiter": 500})
    if bf.fun <= nm.fun:
        x = bf.x
    x = _newton_polish(safe, x)
    fun = safe(x)
    g = fd_grad(safe, x)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    return Optimum(x=x, fun=fun, grad_max=gmax, converged=bool(np.isfinite(fun) and fun < 1e299
                                                                and gmax < GRAD_TOL))


def _newton_polish(f: Objective, x: np.ndarray, iters: int = 20) -> np.ndarray:
    """Newton steps with finite-difference derivatives and step halving (never worse)."""
    fx = f(x)
    for _ in range(iters):
        g = fd_grad(f, x)
        if float(np.max(np.abs(g))) < GRAD_TOL / 10:
            break
        h = fd_hess(f, x)
        try:
            w = np.linalg.eigvalsh(h)
            step = -np.linalg.solve(h, g) if w[0] > 0 else -g / max(abs(w[-1]), 1.0)
        except np.linalg.LinAlgError:
            break
        for _half in range(30):
            cand = x + step
            fc = f(cand)
            if fc <= fx:
                break
            step = step / 2
        else:
            break
        x, fx = cand, fc
    return x


@dataclass(frozen=True)
class Curvature:
    """Observed information at an optimum, in log-parameter space."""

    cov: np.ndarray | None      # inverse of the Hessian, None when not positive definite
    min_eig: float
    max_eig: float
    flattest: np.ndarray        # eigenvector of the smallest eigenvalue


def curvature(f: Objective, x: np.ndarray) -> Curvature:
    h = fd_hess(f, x)
    w, v = np.linalg.eigh(h)
    ok = bool(np.all(np.isfinite(w)) and w[0] > max(1e-9 * abs(w[-1]), 1e-12))
    cov = np.linalg.inv(h) if ok else None
    return Curvature(cov=cov, min_eig=float(w[0]), max_eig=float(w[-1]), flattest=v[:, 0])
