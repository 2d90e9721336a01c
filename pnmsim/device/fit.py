"""Maximum-likelihood fit of the MTJ model (science.md §3) to measured switching counts.

Free parameters: ``delta``, ``ic0_ua``, ``tau_d_ns`` (and ``tau0_ns`` with ``fit_tau0``; else it
is held at a given value, 1 ns by default), plus the device-to-device spreads of ``ic0_ua`` and
``delta`` when the data name at least ``MIN_DEVICES`` devices (hierarchical model of
:mod:`pnmsim.device.fit_spread`). Everything is estimated on log-parameters.

- **Intervals**: Wald 95 % intervals on the log scale from the observed Fisher information (the
  finite-difference Hessian of the negative log-likelihood at the optimum), mapped back by
  ``exp``; hence asymmetric, and always positive. No profile likelihood.
- **Goodness of fit**: deviance against the saturated binomial model and Pearson chi^2, both on
  ``rows - free parameters`` degrees of freedom (for a hierarchical fit, evaluated at the
  devices' empirical-Bayes values with ``n_devices x n_spreads`` more parameters subtracted; an
  approximation, flagged as such). The chi^2 reference is asymptotic: rows with few trials make
  it rough.
- **Refusals** (:class:`FitError`, exit 2 in the CLI): no switching at all, switching in every
  trial, fewer than two currents, fewer rows than parameters, a non-converged optimum, a
  likelihood flat along some parameter (not identifiable), a 95 % interval wider than a factor
  ``e^(2 * 1.96 * MAX_SE_LOG)``, and a model rejected by the deviance test at ``p < alpha``
  (default 0.001) unless ``allow_misfit`` (then a warning).
- **Spreads**: fitted by marginal likelihood; a spread whose estimate runs to 0 (``s <
  S_BOUNDARY``) is dropped and the others refitted; a likelihood-ratio test against the
  no-spread fit (chi-bar^2 reference for parameters on the boundary) decides whether the
  spreads are detected at the 5 % level. Undetected spreads are reported as 0 and say so.
- **Directions**: the simulator uses one parameter set for both write polarities. With a
  ``direction`` column holding both values, the pooled fit is compared with separate fits per
  direction by a likelihood-ratio test, reported (and warned about when it rejects symmetry).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2

from pnmsim.device.fit_data import FitDataError, SwitchingData
from pnmsim.device.fit_likelihood import (
    log_binom_coef,
    log_p_switch,
    row_loglik,
    saturated_loglik,
)
from pnmsim.device.fit_optim import GRAD_TOL, Z95, Optimum, curvature, minimise
from pnmsim.device.fit_spread import SPREAD_TARGETS, HierModel

MIN_DEVICES = 3          # a spread needs at least this many devices
MAX_SE_LOG = 1.0         # refuse when a parameter's standard error on the log scale exceeds this
SPREAD_ALPHA = 0.05      # LR-test level for "a spread is detected"
MAX_STARTS = 4           # starting points of the pooled fit (best grid point per regime)
N_FULL_STARTS = 2        # of which this many, best after a short screening, are optimised fully
BASE = ("delta", "ic0_ua", "tau_d_ns", "tau0_ns")
SPREAD_NAME = {"ic0": "ic0_sigma", "delta": "delta_sigma"}


class FitError(FitDataError):
    """Data the model cannot fit (one line: file, what went wrong, what is allowed)."""


@dataclass(frozen=True)
class Estimate:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    se_log: float | None
    status: str            # "fitted", "fixed", "not detected"
    note: str = ""


@dataclass(frozen=True)
class GoodnessOfFit:
    deviance: float
    pearson: float
    dof: int
    p_deviance: float
    p_pearson: float
    approximate: bool


@dataclass
class FitResult:
    source: str
    n_rows: int
    n_trials: int
    n_devices: int
    currents_ua: list[float]
    direction: str
    params: dict[str, Estimate]
    spreads: dict[str, Estimate]
    log_likelihood: float
    gof: GoodnessOfFit
    method: str
    ci_method: str
    spread_test: dict | None = None
    symmetry_test: dict | None = None
    warnings: list[str] = field(default_factory=list)


class _Layout:
    """Free log-parameters <-> model parameters."""

    def __init__(self, fit_tau0: bool, tau0_ns: float, spreads: tuple[str, ...]) -> None:
        self.base_free = ("delta", "ic0_ua", "tau_d_ns") + (("tau0_ns",) if fit_tau0 else ())
        self.tau0_ns = tau0_ns
        self.spreads = spreads
        self.names = self.base_free + tuple(f"s_{s}" for s in spreads)

    def unpack(self, x: np.ndarray) -> tuple[float, float, float, float, dict[str, float]]:
        v = dict(zip(self.names, np.exp(x).tolist(), strict=True))
        tau0 = v.get("tau0_ns", self.tau0_ns)
        s = {t: v[f"s_{t}"] for t in self.spreads}
        return v["delta"], v["ic0_ua"], v["tau_d_ns"], tau0, s


def _pooled_nll(data: SwitchingData, lay: _Layout):
    t, cur, k, n = data.pulse_ns, data.current_ua, data.switched, data.trials

    def nll(x: np.ndarray) -> float:
        delta, ic0, tau_d, tau0, _ = lay.unpack(x)
        lp, lq = log_p_switch(t, cur, ic0, delta, tau_d, tau0)
        v = -float(np.sum(row_loglik(k, n, lp, lq)))
        return v if np.isfinite(v) else math.inf
    return nll


def _starts(data: SwitchingData, lay: _Layout) -> list[np.ndarray]:
    """Starting points: the best point of a coarse grid within each interval of I_c0 between
    the measured currents (which currents are above I_c0 decides each row's regime, and each
    such assignment can hold its own local optimum), best first."""
    cur = data.current_ua
    ic0 = np.geomspace(cur.min() * 0.3, cur.max() * 1.2, 60)
    delta = np.array([10.0, 20.0, 40.0, 60.0, 90.0])
    tau_d = np.array([0.1, 0.3, 1.0, 3.0, 10.0])
    tau0 = np.array([0.1, 1.0, 10.0]) if "tau0_ns" in lay.base_free else np.array([lay.tau0_ns])
    g = np.stack(np.meshgrid(delta, ic0, tau_d, tau0, indexing="ij"), axis=-1).reshape(-1, 4)
    lp, lq = log_p_switch(data.pulse_ns[None, :], cur[None, :], g[:, 1:2], g[:, 0:1],
                          g[:, 2:3], g[:, 3:4])
    ll = np.sum(row_loglik(data.switched[None, :], data.trials[None, :], lp, lq), axis=1)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    regime = np.searchsorted(np.unique(cur), g[:, 1])
    starts: list[tuple[float, np.ndarray]] = []
    for r in np.unique(regime):
        sel = np.flatnonzero(regime == r)
        j = sel[int(np.argmax(ll[sel]))]
        if not np.isfinite(ll[j]):
            continue
        x = np.log(g[j, :3]).tolist()
        x = [x[0], x[1], x[2]] + ([math.log(g[j, 3])] if "tau0_ns" in lay.base_free else [])
        starts.append((-float(ll[j]), np.array(x)))
    starts.sort(key=lambda a: a[0])
    return [x for _, x in starts[:MAX_STARTS]]


def _precheck(data: SwitchingData, n_free: int) -> None:
    src = data.source
    if np.all(data.switched == 0):
        raise FitError(src, "switched", "0 in every row", "data where some pulses switch the "
                       "device (all-zero outcomes leave delta, I_c0 and tau_D unidentifiable)")
    if np.all(data.switched == data.trials):
        raise FitError(src, "switched", "= trials in every row", "data where some pulses fail "
                       "to switch (all-one outcomes leave the parameters unidentifiable)")
    if np.unique(data.current_ua).size < 2:
        raise FitError(src, "current_ua", f"one value ({data.current_ua[0]:g} uA)",
                       "at least two distinct currents (one current cannot separate I_c0 "
                       "from tau_D)")
    if data.n_rows <= n_free:
        raise FitError(src, "(rows)", data.n_rows, f"more rows than free parameters ({n_free})")


def _check_identifiable(src: str, names: tuple[str, ...], f, opt: Optimum,
                        what: str) -> np.ndarray:
    """Return the covariance of the log-parameters, or refuse."""
    hint = ("; fit fewer spreads (--spread ic0 or --spread none)" if what == "hierarchical"
            else "")
    if not opt.converged:
        raise FitError(src, f"{what} fit", "not converged",
                       f"a converged fit (max |gradient| {opt.grad_max:.2g} > {GRAD_TOL}); "
                       "check units: pulse_ns in ns, current_ua in uA" + hint)
    cv = curvature(f, opt.x)
    if cv.cov is None:
        worst = names[int(np.argmax(np.abs(cv.flattest)))]
        raise FitError(src, f"{what} fit", f"likelihood flat along {worst}",
                       f"data that identify every free parameter (Hessian eigenvalues "
                       f"{cv.min_eig:.2g}..{cv.max_eig:.2g}): more currents, pulse widths "
                       "where 0 < switched < trials" + hint)
    se = np.sqrt(np.diag(cv.cov))
    j = int(np.argmax(se))
    if not se[j] <= MAX_SE_LOG:
        raise FitError(src, f"{what} fit", f"{names[j]} not identifiable",
                       f"data that pin each parameter to within a factor "
                       f"{math.exp(2 * Z95 * MAX_SE_LOG):.0f} (its 95 % CI spans a factor "
                       f"{math.exp(2 * Z95 * se[j]):.3g})" + hint)
    return cv.cov


def _check_seam(data: SwitchingData, lay: _Layout, opt: Optimum) -> None:
    """Refuse a best fit that puts I_c0 on a measured current: the model's precessional and
    thermal formulas do not join at I = I_c0, so such an 'optimum' is a seam, not a fit."""
    if opt.converged:
        return
    ic0 = lay.unpack(opt.x)[1]
    near = data.current_ua[np.argmin(np.abs(data.current_ua - ic0))]
    if abs(near - ic0) < 1e-3 * ic0:
        raise FitError(data.source, "pooled fit", f"I_c0 pinned at the measured {near:g} uA",
                       "data the MTJ model fits (its precessional and thermal regimes do not "
                       "join at I = I_c0, and the best fit sits on that seam: mixed directions "
                       "or devices? try --direction)")


def _gof(data: SwitchingData, lp: np.ndarray, lq: np.ndarray, dof: int,
         approximate: bool) -> GoodnessOfFit:
    k, n = data.switched, data.trials
    dev = 2.0 * float(np.sum(saturated_loglik(k, n) - row_loglik(k, n, lp, lq)))
    p = np.exp(lp)
    var = np.maximum(n * p * np.exp(lq), 1e-300)
    pear = float(np.sum((k - n * p) ** 2 / var))
    return GoodnessOfFit(deviance=max(dev, 0.0), pearson=pear, dof=dof,
                         p_deviance=float(chi2.sf(max(dev, 0.0), dof)),
                         p_pearson=float(chi2.sf(pear, dof)), approximate=approximate)


def _estimates(lay: _Layout, x: np.ndarray, cov: np.ndarray, tau0_ns: float
               ) -> tuple[dict[str, Estimate], dict[str, Estimate]]:
    se = np.sqrt(np.diag(cov))
    params: dict[str, Estimate] = {}
    spreads: dict[str, Estimate] = {}
    for j, name in enumerate(lay.names):
        lo, hi = x[j] - Z95 * se[j], x[j] + Z95 * se[j]
        if name.startswith("s_"):
            def cv(s: float) -> float:
                return math.sqrt(math.expm1(s * s))
            tgt = name[2:]
            spreads[SPREAD_NAME[tgt]] = Estimate(
                SPREAD_NAME[tgt], cv(math.exp(x[j])), cv(math.exp(lo)), cv(math.exp(hi)),
                float(se[j]), "fitted", "coefficient of variation; lognormal s = "
                f"{math.exp(x[j]):.4g}")
        else:
            params[name] = Estimate(name, math.exp(x[j]), math.exp(lo), math.exp(hi),
                                    float(se[j]), "fitted")
    if "tau0_ns" not in params:
        params["tau0_ns"] = Estimate("tau0_ns", tau0_ns, None, None, None, "fixed")
    params = {k: params[k] for k in BASE}
    return params, spreads


def _fit_pooled(data: SwitchingData, lay: _Layout) -> tuple[list[Optimum], object]:
    """Local optima from every start, best (lowest NLL) first."""
    f = _pooled_nll(data, lay)
    starts = _starts(data, lay)
    if not starts:
        raise FitError(data.source, "pooled fit", "no finite likelihood on the start grid",
                       "data the MTJ model can assign a probability to (check units)")
    if len(starts) > N_FULL_STARTS:     # screen with a short simplex search, refine the best
        screened = [minimize(f, x0, method="Nelder-Mead",
                             options={"maxfev": 100 * x0.size}) for x0 in starts]
        screened.sort(key=lambda r: r.fun if np.isfinite(r.fun) else math.inf)
        starts = [r.x for r in screened[:N_FULL_STARTS]]
    opts = [minimise(f, x0) for x0 in starts]
    opts.sort(key=lambda o: o.fun)
    return opts, f


S_BOUNDARY = 1e-3       # a fitted lognormal s below this is a spread at its boundary, 0
N_HIER_STARTS = 2       # hierarchical starts from the best pooled optima (1 with a two-stage start)


def _two_stage_start(data: SwitchingData, lay: _Layout,
                     spreads: tuple[str, ...]) -> np.ndarray | None:
    """A start for the hierarchical fit from separate per-device fits: the median of each
    shared log-parameter, the mean and sd of the varying ones (None if < 2 devices fit)."""
    assert data.device is not None
    base = _Layout("tau0_ns" in lay.base_free, lay.tau0_ns, ())
    per: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for d in range(len(data.device_names)):
            sub = data.subset(data.device == d)
            try:
                _precheck(sub, len(base.names))
                opts, _ = _fit_pooled(sub, base)
            except FitError:
                continue
            if opts[0].converged:
                per.append(opts[0].x)
    if len(per) < 2:
        return None
    a = np.array(per)
    x = np.median(a, axis=0)
    col = {"ic0": 1, "delta": 0}
    sd = []
    for t in spreads:
        x[col[t]] = float(np.mean(a[:, col[t]]))
        sd.append(math.log(min(max(float(np.std(a[:, col[t]], ddof=1)), 0.01), 1.0)))
    return np.concatenate([x, sd])


def _fit_hier(data: SwitchingData, lay: _Layout, spreads: tuple[str, ...],
              starts: list[Optimum]) -> tuple[Optimum, HierModel]:
    """Best hierarchical optimum over the starts (each started with spreads of 0.1)."""
    best: tuple[Optimum, HierModel] | None = None
    xs = [np.concatenate([st.x, np.full(len(spreads), math.log(0.1))]) for st in starts]
    two_stage = _two_stage_start(data, lay, spreads)
    if two_stage is not None:
        xs = [two_stage] + xs[:1]
    for x in xs:
        hier = HierModel(data.pulse_ns, data.current_ua, data.switched, data.trials,
                         data.device, spreads, lay.unpack)
        hier.recentre(x)
        opt = minimise(hier.nll, x)
        if best is None or opt.fun < best[0].fun:
            best = (opt, hier)
    assert best is not None
    return best


def _chibar_p(stat: float, m: int) -> float:
    """p-value of an LR statistic for m independent variance-type parameters on the boundary."""
    if stat <= 0:
        return 1.0
    ks = range(1, m + 1)
    return float(sum(math.comb(m, j) / 2**m * chi2.sf(stat, j) for j in ks))


def fit_device(data: SwitchingData, *, tau0_ns: float = 1.0, fit_tau0: bool = False,
               spreads: tuple[str, ...] = ("ic0",), direction: str = "pooled",
               alpha: float = 0.001, allow_misfit: bool = False) -> FitResult:
    """Fit the MTJ model to ``data``; see the module docstring for method and refusals."""
    with np.errstate(all="ignore"):     # the optimisers probe extreme parameters on purpose
        return _fit(data, tau0_ns=tau0_ns, fit_tau0=fit_tau0, spreads=spreads,
                    direction=direction, alpha=alpha, allow_misfit=allow_misfit)


def _fit(data: SwitchingData, *, tau0_ns: float, fit_tau0: bool, spreads: tuple[str, ...],
         direction: str, alpha: float, allow_misfit: bool) -> FitResult:
    src = data.source
    if direction != "pooled":
        if data.direction is None:
            raise FitError(src, "--direction", direction, "pooled (the file has no direction "
                           "column)")
        data = data.subset(np.array([d == direction for d in data.direction]))
        if data.n_rows == 0:
            raise FitError(src, "direction", f"no {direction} rows", "rows of that direction")
    n_dev = len(data.device_names) if data.device is not None else 1
    use_spread = tuple(s for s in spreads if s in SPREAD_TARGETS) if n_dev >= MIN_DEVICES else ()
    lay0 = _Layout(fit_tau0, tau0_ns, ())
    _precheck(data, len(lay0.names) + len(use_spread))
    warnings: list[str] = []
    if data.device is not None and n_dev < MIN_DEVICES and spreads:
        warnings.append(f"{n_dev} device(s): spreads need >= {MIN_DEVICES} devices; not fitted")

    opts0, f0 = _fit_pooled(data, lay0)
    opt0 = opts0[0]
    _check_seam(data, lay0, opt0)
    cov0 = _check_identifiable(src, lay0.names, f0, opt0, "pooled")
    x_final, cov_final, lay_final, nll_final = opt0.x, cov0, lay0, opt0.fun
    spread_test = None
    hier: HierModel | None = None
    at_boundary: list[str] = []
    if use_spread:
        lay1 = _Layout(fit_tau0, tau0_ns, use_spread)
        opt1, hier = _fit_hier(data, lay1, use_spread, opts0[:N_HIER_STARTS])
        s_hat = lay1.unpack(opt1.x)[4]
        at_boundary = [t for t in use_spread if s_hat[t] < S_BOUNDARY]
        if at_boundary:     # a spread shrinking to 0 has no curvature: refit without it
            use_spread = tuple(t for t in use_spread if t not in at_boundary)
            if use_spread:
                lay1 = _Layout(fit_tau0, tau0_ns, use_spread)
                opt1, hier = _fit_hier(data, lay1, use_spread, opts0[:N_HIER_STARTS])
            else:
                opt1 = opt0
    if use_spread:
        stat = max(2.0 * (opt0.fun - opt1.fun), 0.0)
        p = _chibar_p(stat, len(use_spread))
        spread_test = {"lr_statistic": stat, "p_value": p, "spreads": list(use_spread),
                       "detected": p < SPREAD_ALPHA}
        if p < SPREAD_ALPHA:
            cov1 = _check_identifiable(src, lay1.names, hier.nll, opt1, "hierarchical")
            x_final, cov_final, lay_final, nll_final = opt1.x, cov1, lay1, opt1.fun

    params, spread_est = _estimates(lay_final, x_final, cov_final, tau0_ns)
    for t in at_boundary:
        spread_est[SPREAD_NAME[t]] = Estimate(
            SPREAD_NAME[t], 0.0, None, None, None, "not detected",
            f"the marginal likelihood is largest at no spread (s < {S_BOUNDARY:g}); refitted "
            "without it")
    if spread_test is not None and not spread_test["detected"]:
        for s in use_spread:
            spread_est[SPREAD_NAME[s]] = Estimate(
                SPREAD_NAME[s], 0.0, None, None, None, "not detected",
                f"LR test of the spreads p = {spread_test['p_value']:.3g} >= {SPREAD_ALPHA}")

    # goodness of fit at the final parameters (devices at their empirical-Bayes values)
    delta, ic0, tau_d, tau0, s = lay_final.unpack(x_final)
    dof = data.n_rows - len(lay_final.names)
    if lay_final.spreads and hier is not None:
        hier.adapt(x_final)
        u = hier.empirical_bayes()[data.device]
        ic0_r, delta_r, _, _ = hier.device_params(x_final, u)
        lp, lq = log_p_switch(data.pulse_ns, data.current_ua, ic0_r, delta_r, tau_d, tau0)
        dof -= n_dev * len(lay_final.spreads)
    else:
        lp, lq = log_p_switch(data.pulse_ns, data.current_ua, ic0, delta, tau_d, tau0)
    if dof < 1:
        raise FitError(src, "(rows)", data.n_rows, "more rows than fitted parameters "
                       "(goodness of fit needs >= 1 degree of freedom)")
    gof = _gof(data, lp, lq, dof, approximate=bool(lay_final.spreads))
    if gof.p_deviance < alpha:
        msg = (f"deviance {gof.deviance:.4g} on {gof.dof} dof, p = {gof.p_deviance:.2g}")
        if not allow_misfit:
            raise FitError(src, "goodness of fit", msg,
                           f"data the MTJ model (science.md §3) fits at p >= {alpha} "
                           "(--allow-misfit writes the part anyway)")
        warnings.append(f"the model is rejected by the data ({msg} < {alpha}); the part was "
                        "written because of --allow-misfit")

    symmetry = None
    if direction == "pooled" and data.direction is not None and len(set(data.direction)) == 2:
        symmetry = _symmetry_test(data, lay0, opt0.fun)
        if symmetry.get("p_value", 1.0) < SPREAD_ALPHA:
            warnings.append("P->AP and AP->P differ (symmetry LR test p = "
                            f"{symmetry['p_value']:.3g}); the simulator uses one parameter set "
                            "for both: consider --direction")

    loglik = -nll_final + float(np.sum(log_binom_coef(data.switched, data.trials)))
    return FitResult(
        source=src, n_rows=data.n_rows, n_trials=int(data.trials.sum()), n_devices=n_dev,
        currents_ua=sorted(set(data.current_ua.tolist())), direction=direction,
        params=params, spreads=spread_est, log_likelihood=loglik, gof=gof,
        method=("hierarchical marginal likelihood (adaptive Gauss-Hermite)"
                if lay_final.spreads else "binomial maximum likelihood"),
        ci_method="Wald 95 % on the log scale, observed Fisher information",
        spread_test=spread_test, symmetry_test=symmetry, warnings=warnings)


def _symmetry_test(data: SwitchingData, lay: _Layout, nll_pooled: float) -> dict:
    """LR test of one parameter set for both directions vs one per direction."""
    total = 0.0
    assert data.direction is not None
    for d in ("P->AP", "AP->P"):
        sub = data.subset(np.array([x == d for x in data.direction]))
        try:
            _precheck(sub, len(lay.names))
        except FitError as e:
            return {"available": False, "reason": f"{d}: {e}"}
        opts, _ = _fit_pooled(sub, lay)
        opt = opts[0]
        if not opt.converged:
            return {"available": False, "reason": f"{d}: separate fit did not converge"}
        total += opt.fun
    stat = max(2.0 * (nll_pooled - total), 0.0)
    dof = len(lay.names)
    return {"available": True, "lr_statistic": stat, "dof": dof,
            "p_value": float(chi2.sf(stat, dof))}
