"""Device-to-device spreads: hierarchical marginal likelihood by adaptive Gauss-Hermite quadrature.

Per device ``d`` the critical current and the thermal stability are lognormal around the
population, exactly as :func:`pnmsim.device.mtj.sample_devices` draws them:
``I_c0,d = I_c0 exp(s_I z - s_I^2 / 2)``, ``Delta_d = Delta exp(s_D z' - s_D^2 / 2)`` with
``z, z' ~ N(0, 1)`` independent, so ``I_c0`` and ``Delta`` are population *means* and the
coefficient of variation is ``CV = sqrt(exp(s^2) - 1)`` (the preset's ``variation.ic0_sigma`` /
``delta_sigma``). ``tau_D`` and ``tau_0`` are shared.

The marginal likelihood of device ``d`` is ``int prod_rows Binom(k | n, P(theta_d(z))) phi(z) dz``.
Each device's integrand is sharply peaked when it has many trials, so plain Gauss-Hermite nodes
would miss the peak; the nodes are centred and scaled at each device's posterior mode of
``u = ln(value)`` (adaptive Gauss-Hermite: ``u = u_d + L_d x``, weights
``w prior(u) |L_d| / phi(x)``). The modes and
scales are updated at every evaluation by a few vectorised Newton steps from the previous ones
(true adaptive quadrature; holding them fixed while a spread shrinks breaks the quadrature); the
quadrature is an exact identity for any centring, only its accuracy depends on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.optimize import minimize
from scipy.special import logsumexp

from pnmsim.device.fit_likelihood import log_p_switch, row_loglik
from pnmsim.device.fit_optim import fd_hess

SPREAD_TARGETS: tuple[str, ...] = ("ic0", "delta")   # which parameters may vary per device
N_NODES = 9     # Gauss-Hermite nodes per dimension


class HierModel:
    """Marginal NLL of the hierarchical model for fixed quadrature centring.

    The latent variable of device ``d`` is ``u_d = ln(value_d)`` of each varying parameter
    (not the standardised ``z``): the device's own likelihood does not move when the population
    parameters move, so nodes centred on it stay accurate while the optimiser and the
    finite-difference Hessian vary ``(I_c0, s)``. The lognormal prior is
    ``u ~ N(ln(mean) - s^2 / 2, s^2)``.

    Parameters
    ----------
    t, cur, k, n : per-row data.
    dev : device index per row (0..n_dev-1).
    spreads : subset of ``SPREAD_TARGETS`` that vary per device (order fixes u's components).
    unpack : maps the free vector to ``(delta, ic0, tau_d, tau0, {target: s})``.
    """

    def __init__(self, t: np.ndarray, cur: np.ndarray, k: np.ndarray, n: np.ndarray,
                 dev: np.ndarray, spreads: tuple[str, ...],
                 unpack: Callable[[np.ndarray], tuple[float, float, float, float,
                                                      dict[str, float]]]) -> None:
        self.t, self.cur, self.k, self.n, self.dev = t, cur, k, n, dev
        self.spreads = spreads
        self.unpack = unpack
        self.m = len(spreads)
        self.n_dev = int(dev.max()) + 1
        x1, w1 = hermegauss(N_NODES)
        w1 = w1 / math.sqrt(2 * math.pi)
        grids = np.meshgrid(*([x1] * self.m), indexing="ij")
        self.nodes = np.stack([g.ravel() for g in grids], axis=1)          # (J, m)
        wg = np.meshgrid(*([w1] * self.m), indexing="ij")
        self.log_w = np.sum(np.log(np.stack([g.ravel() for g in wg], axis=1)), axis=1)
        self.log_phi_nodes = -0.5 * np.sum(self.nodes**2, axis=1)        # (J,) up to const
        self.centre: np.ndarray | None = None                              # (n_dev, m)
        self.scale = np.tile(np.eye(self.m), (self.n_dev, 1, 1))
        self.onehot = np.zeros((self.n_dev, t.size))
        self.onehot[dev, np.arange(t.size)] = 1.0

    def _prior(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of u per varying parameter."""
        delta, ic0, _, _, s = self.unpack(x)
        pop = {"ic0": ic0, "delta": delta}
        sd = np.array([s[name] for name in self.spreads])
        mean = np.array([math.log(pop[name]) for name in self.spreads]) - 0.5 * sd**2
        return mean, sd

    def _log_prior(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        mean, sd = self._prior(x)
        return np.sum(-0.5 * ((u - mean) / sd) ** 2 - np.log(sd), axis=-1)

    def device_params(self, x: np.ndarray, u: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, float, float]:
        """``(ic0, delta)`` for latent ``u`` (..., m), plus the shared tau_d, tau0."""
        delta, ic0, tau_d, tau0, _ = self.unpack(x)
        ic0_u = np.full(u.shape[:-1], ic0)
        delta_u = np.full(u.shape[:-1], delta)
        for j, name in enumerate(self.spreads):
            if name == "ic0":
                ic0_u = np.exp(u[..., j])
            else:
                delta_u = np.exp(u[..., j])
        return ic0_u, delta_u, tau_d, tau0

    def cond_loglik_rows(self, x: np.ndarray, u_rows: np.ndarray) -> np.ndarray:
        """Row log-likelihoods for latent values ``u_rows`` of shape (rows, J, m)."""
        ic0_u, delta_u, tau_d, tau0 = self.device_params(x, u_rows)
        lp, lq = log_p_switch(self.t[:, None], self.cur[:, None], ic0_u, delta_u, tau_d, tau0)
        return row_loglik(self.k[:, None], self.n[:, None], lp, lq)

    def _dev_obj(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``-(ln p(data_d | u) + ln prior(u))`` for every device; ``u`` (n_dev, K, m)."""
        ll_dev = self.onehot @ self.cond_loglik_rows(x, u[self.dev])
        return -(ll_dev + self._log_prior(x, u))

    def adapt(self, x: np.ndarray, iters: int = 12, h: float = 1e-4) -> None:
        """Newton steps (finite-difference derivatives, all devices at once) from the current
        centres to each device's posterior mode of ``u``, and the local scale there."""
        assert self.centre is not None
        m = self.m
        eye = np.eye(m)
        offs = [np.zeros(m)] + [s * h * eye[i] for i in range(m) for s in (1, -1)]
        offs += [(a * eye[i] + b * eye[j]) * h for i in range(m) for j in range(i)
                 for a in (1, -1) for b in (1, -1)]
        offs_a = np.array(offs)                                             # (K, m)
        u = self.centre.copy()
        hess = np.zeros((self.n_dev, m, m))
        for it in range(iters + 1):
            f = self._dev_obj(x, u[:, None, :] + offs_a[None, :, :])       # (n_dev, K)
            f0 = f[:, 0]
            g = np.stack([(f[:, 1 + 2 * i] - f[:, 2 + 2 * i]) / (2 * h) for i in range(m)], 1)
            for i in range(m):
                hess[:, i, i] = (f[:, 1 + 2 * i] - 2 * f0 + f[:, 2 + 2 * i]) / (h * h)
            k = 1 + 2 * m
            for i in range(m):
                for j in range(i):
                    pp, pm, mp, mm = f[:, k], f[:, k + 1], f[:, k + 2], f[:, k + 3]
                    hess[:, i, j] = hess[:, j, i] = (pp - pm - mp + mm) / (4 * h * h)
                    k += 4
            if it == iters:
                break
            w, v = np.linalg.eigh(hess)
            w = np.maximum(w, 1e-8 + 0 * w)
            step = -np.einsum("dab,db->da", v / w[:, None, :] @ np.transpose(v, (0, 2, 1)), g)
            step = np.clip(step, -0.5, 0.5)
            u = u + step
            if float(np.max(np.abs(step))) < 1e-9:
                break
        w, v = np.linalg.eigh(hess)
        good = np.all(np.isfinite(w), axis=1) & (w[:, 0] > 1e-6)
        self.centre = np.where(good[:, None], u, self.centre)
        sc = v @ (np.sqrt(1.0 / np.maximum(w, 1e-6))[:, :, None] * np.transpose(v, (0, 2, 1)))
        self.scale = np.where(good[:, None, None], sc, self.scale)

    def nll(self, x: np.ndarray) -> float:
        if self.centre is None:
            self.recentre(x)
        self.adapt(x)
        assert self.centre is not None
        u = self.centre[:, None, :] + np.einsum("dab,jb->dja", self.scale, self.nodes)
        ll_dev = self.onehot @ self.cond_loglik_rows(x, u[self.dev])        # (n_dev, J)
        log_det = np.log(np.abs(np.linalg.det(self.scale)))                # (n_dev,)
        terms = (ll_dev + self.log_w[None, :] + self._log_prior(x, u)
                 - self.log_phi_nodes[None, :] + log_det[:, None])
        total = float(np.sum(logsumexp(terms, axis=1)))
        return -total if np.isfinite(total) else math.inf

    def device_nll_u(self, x: np.ndarray, d: int, u: np.ndarray) -> float:
        """``-(ln p(data_d | u) + ln prior(u))`` of device ``d`` for one latent vector ``u``."""
        rows = self.dev == d
        ic0_u, delta_u, tau_d, tau0 = self.device_params(x, u[None, :])
        lp, lq = log_p_switch(self.t[rows], self.cur[rows], ic0_u[0], delta_u[0], tau_d, tau0)
        v = -float(np.sum(row_loglik(self.k[rows], self.n[rows], lp, lq)))
        v -= float(self._log_prior(x, u))
        return v if np.isfinite(v) else 1e300

    def recentre(self, x: np.ndarray) -> None:
        """Initial centring: each device's posterior mode by a simplex search (robust far from
        the mode, where :meth:`adapt`'s Newton steps may not be); then :meth:`adapt`."""
        mean, _ = self._prior(x)
        if self.centre is None:
            self.centre = np.tile(mean, (self.n_dev, 1))
        for d in range(self.n_dev):
            def f(u: np.ndarray, d: int = d) -> float:
                return self.device_nll_u(x, d, u)
            res = minimize(f, self.centre[d], method="Nelder-Mead",
                           options={"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000})
            uc = res.x
            h = fd_hess(f, uc, h=1e-4)
            w, v = np.linalg.eigh(h)
            if not np.all(np.isfinite(w)) or w[0] <= 1e-6:
                continue    # keep the previous centring for this device
            self.centre[d] = uc
            self.scale[d] = v @ np.diag(1.0 / np.sqrt(w)) @ v.T

    def empirical_bayes(self) -> np.ndarray:
        """Per-device posterior modes of u = ln(value) (after the last recentring)."""
        assert self.centre is not None
        return self.centre.copy()
