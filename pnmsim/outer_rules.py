"""Rank-1 step rules of the in-array (outer-product) update: what the periphery sends to the
array's drivers for one layer and one mini-batch.

The array can only apply *rank-1 sign-structured* steps in parallel (science.md §5): in step k
every input line (row) j is gated and signed by a_kj in {-1, 0, +1} and every output line
(column) i gets one pulse whose width encodes |c_ki| (units of the level step L) and whose
polarity is sign(c_ki), so cell (j, i) is pushed by one state with the switching probability of
that pulse, in the direction a_kj * sign(c_ki). A rule turns the batch's layer inputs X (M, rows)
and output errors D (M, cols) into the K row patterns ``xs`` (K, rows) and column steps
``col_steps`` (K, cols). No rule forms a per-cell quantity: the periphery's work is
O(M * (rows + cols)) per power-iteration step, never O(rows * cols).

Rules (``update.outer_rule``):

* ``sgd``: one step per input vector, ``a = sign(x_v)``, ``c = -lr/L * delta_v`` (plain SGD;
  ``delta`` already carries the 1/B of the batch mean).
* ``column_norm``: the same per-vector steps with column i's error divided by the running RMS
  of its batch error, ``sqrt(e_i)``, ``e_i <- beta2 e_i + (1 - beta2) sum_v delta_vi^2`` (a
  second moment per output line, one word per column in the periphery): a row/column-separable
  stand-in for Adam's per-weight scale.
* ``low_rank`` (``outer_beta1 = 0``): ``outer_rank`` steps per batch approximating the batch
  gradient G = sign(X)^T D: alternating sign power iteration (three rounds: a = ternarised
  G b with the weaker half of the rows gated off, b = sign(G^T a)) with deflation between
  components; the
  column step of component k is ``c = -lr/L * (G^T a)/nnz(a) / sqrt(e)`` with the per-column
  second moment e of those values. G b and G^T a are computed as X^T (D b) and D^T (X a).
* ``low_rank`` with ``outer_beta1 > 0``: a *factored momentum* M ~ P Q^T (P rows x r, Q cols x r,
  r = ``outer_rank``; (rows + cols) r words in the periphery) follows M <- beta1 M + G, kept at
  rank r by one subspace iteration per batch warm-started from the previous Q (PowerSGD-style,
  Vogels et al., NeurIPS 2019); component k is applied as the row pattern ternarised(P[:, k])
  (the weaker half of the rows gated off) and the column step Q[:, k] * mean|P[:, k]| over the
  kept rows, scaled per column by (1 - beta1) / sqrt(e) with e the running mean square of
  this batch's own gradient in the same subspace (G^T P): Adam's m / sqrt(v) in factored form,
  so steps shrink where the batch gradients are mostly noise and momentum averages them out
  before anything is written.

* ``clustered``: the same factored momentum (rank ``outer_rank``), scaled Adafactor-style
  (Shazeer & Stern, ICML 2018) by the running row sums R_j and column sums C_i of the squared
  batch gradient (estimated by a Rademacher sketch, ``outer_probes`` probes; rows + cols
  words): U = (1 - beta1) diag(R)^-1/2 P Q^T diag(C)^-1/2 sqrt(sum R), still rank r. U is
  written as steps on *disjoint* row groups (``outer_clusters`` groups from a sign-invariant
  k-means of the rows in U's r-dim coordinates, ``outer_levels`` thermometer steps per group
  for the rows' magnitudes, rows below the ``outer_gate`` quantile not written), so every
  cell is pulsed by one group's steps only and components cannot cancel in noise
  (:mod:`pnmsim.outer_clustered` gives the derivation).

The rules are deterministic (the sketch's probes come from a generator seeded by the layer and
the rule's own batch count, kept in its state); the stochastic part is the MTJ switching (or,
in software DST semantics, one uniform draw per pulse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pnmsim.outer_clustered import clustered_steps, square_sums

RULES = ("sgd", "column_norm", "low_rank", "clustered")
_POWER_ROUNDS = 3      # alternating sign power-iteration rounds per component (pnmsim choice)
_GATE_QUANTILE = 0.5   # rows below the median |G b| are gated off (pnmsim choice)


def _ternarise(v: np.ndarray) -> np.ndarray:
    """sign(v) on the rows at or above the gate quantile of |v| (ties within rounding pass),
    0 on the others and where v = 0."""
    mag = np.abs(v)
    thr = np.quantile(mag, _GATE_QUANTILE) * (1.0 - 1e-9)
    return np.where((mag >= thr) & (mag > 0), np.sign(v), 0.0)


@dataclass
class RuleOutput:
    xs: np.ndarray            # (K, rows) int8 row gates/signs
    col_steps: np.ndarray     # (K, cols) float64 signed column steps in units of L
    periphery_macs: int       # digital multiply-accumulates the rule needed
    moment_words: int         # periphery words read and written (second moments)


@dataclass
class OuterRule:
    """One rule with its per-layer periphery state (per-column second moments and, for the
    factored momentum, the factors P and Q)."""

    rule: str = "sgd"
    beta2: float = 0.99
    rank: int = 1
    beta1: float = 0.0
    moments: dict[int, np.ndarray] = field(default_factory=dict)
    factors: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    clusters: int = 64
    levels: int = 4
    gate: float = 0.5
    probes: int = 8
    row_moments: dict[int, np.ndarray] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)
    debias: bool = False
    real_inputs: bool = False

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"outer rule {self.rule!r}; allowed: {', '.join(RULES)}")
        if self.clusters < 0 or self.levels < 1 or not 0 <= self.gate < 1 or self.probes < 0:
            raise ValueError(f"clusters {self.clusters}, levels {self.levels}, gate "
                             f"{self.gate}, probes {self.probes}; allowed: clusters >= 0, "
                             "levels >= 1, 0 <= gate < 1, probes >= 0")

    def _ema(self, store: dict[int, np.ndarray], index: int, sq: np.ndarray) -> np.ndarray:
        """The running second moment of ``sq`` kept in ``store``. ``debias`` False: starts at
        the first batch's value, e <- beta2 e + (1 - beta2) sq. ``debias`` True (Adam's
        form, Kingma & Ba 2015): starts at 0 and returns e / (1 - beta2^t) after t batches,
        an average over every batch so far, where the first form keeps the first batch's
        weight beta2^t (0.33 after 1 100 batches at beta2 0.999: the large gradients of the
        first batch hold the scale down for the whole run)."""
        e = store.get(index)
        if self.debias:
            e = (1.0 - self.beta2) * sq if e is None else self.beta2 * e + (1.0 - self.beta2) * sq
            store[index] = e
            t = self.counts[index]
            return e / (1.0 - self.beta2 ** t)
        e = sq.copy() if e is None else self.beta2 * e + (1.0 - self.beta2) * sq
        store[index] = e
        return e

    def _moment(self, index: int, sq: np.ndarray) -> np.ndarray:
        return self._ema(self.moments, index, sq)

    def steps(self, index: int, x: np.ndarray, delta: np.ndarray, lr_l: float) -> RuleOutput:
        """Row patterns and column steps for layer ``index``; ``lr_l`` = lr / L."""
        xs = np.sign(np.asarray(x)).astype(np.int8)
        d = np.asarray(delta, dtype=np.float64)
        m, rows = xs.shape
        cols = d.shape[1]
        if self.rule == "sgd":
            return RuleOutput(xs, -lr_l * d, 0, 0)
        self.counts[index] = self.counts.get(index, 0) + 1    # batches seen by this layer
        if self.rule == "column_norm":
            e = self._moment(index, np.einsum("vi,vi->i", d, d))
            scale = np.where(e > 0, 1.0 / np.sqrt(np.where(e > 0, e, 1.0)), 0.0)
            return RuleOutput(xs, -lr_l * d * scale, 2 * m * cols, 2 * cols)
        if self.rule == "clustered":
            return self._clustered(index, xs, x, d, lr_l)
        if self.beta1 > 0:
            return self._low_rank_momentum(index, xs, d, lr_l)
        return self._low_rank(index, xs, d, lr_l)

    def _low_rank_momentum(self, index: int, xs: np.ndarray, d: np.ndarray,
                           lr_l: float) -> RuleOutput:
        """Factored momentum M ~ P Q^T (rows x r and cols x r words in the periphery):
        M <- beta1 M + G, recompressed to rank r by one subspace iteration warm-started from
        the previous Q; component k is applied as row pattern ternarised(P[:, k]) and column
        step Q[:, k] * mean |P[:, k]| over the rows it keeps, Adam-like scaled per column
        (module docstring)."""
        xf = xs.astype(np.float64)
        rows, cols = xs.shape[1], d.shape[1]
        r = min(self.rank, rows, cols)     # a rows x cols matrix has at most that rank
        pn, qn, g_q, macs = self._momentum(index, xf, d, r)
        a_rows = []
        c_rows = []
        for k in range(r):
            pk = pn[:, k]
            a = _ternarise(pk)
            keep = a != 0
            c = qn[:, k] * (float(np.abs(pk[keep]).mean()) if keep.any() else 0.0)
            a_rows.append(a)
            c_rows.append(c)
        c_mat = np.array(c_rows)
        # Adam-like scale: the momentum (a sum, ~ g / (1 - beta1) for a steady gradient) over
        # the running RMS of this batch's own gradient in the same subspace, so that steps
        # shrink where the gradient is mostly noise
        g_c = g_q.T * np.array([float(np.abs(pn[a != 0, k]).mean()) if np.any(a != 0) else 0.0
                                for k, a in enumerate(a_rows)])[:, None]
        e = self._moment(index, np.mean(g_c * g_c, axis=0))
        scale = np.where(e > 0, (1.0 - self.beta1) / np.sqrt(np.where(e > 0, e, 1.0)), 0.0)
        words = 2 * cols + 2 * r * (rows + cols)
        return RuleOutput(np.array(a_rows).astype(np.int8), -lr_l * c_mat * scale, macs, words)

    def _clustered(self, index: int, xs: np.ndarray, x: np.ndarray, d: np.ndarray,
                   lr_l: float) -> RuleOutput:
        """Factored momentum, Adafactor row x column second moments and disjoint row groups
        (module docstring; :mod:`pnmsim.outer_clustered`). ``real_inputs``: the momentum and
        the sketch use the batch gradient X^T D of the layer inputs' values (the digital words
        the periphery sends to the DACs) rather than of their signs; the row patterns still
        come from the groups, so the array sees the same kind of steps. Only the first layer
        differs (its inputs are pixel values; hidden layers' are ternary)."""
        xf = np.asarray(x, dtype=np.float64) if self.real_inputs else xs.astype(np.float64)
        m, rows = xs.shape
        cols = d.shape[1]
        r = min(self.rank, rows, cols)
        pn, qn, _, macs = self._momentum(index, xf, d, r)
        count = self.counts[index] - 1     # batches before this one: the sketch's seed
        rsq, csq = square_sums(xf, d, self.probes, np.random.default_rng([index, count]))
        # sketch: 2 M probes (rows + cols); exact Gram form: 2 M^2 (rows + cols)
        macs += 2 * m * (self.probes if self.probes > 0 else m) * (rows + cols)
        rv = self._ema(self.row_moments, index, rsq)
        cv = self._moment(index, csq)
        rs = np.where(rv > 0, 1.0 / np.sqrt(np.where(rv > 0, rv, 1.0)), 0.0)
        cs = np.where(cv > 0, 1.0 / np.sqrt(np.where(cv > 0, cv, 1.0)), 0.0)
        u = pn * rs[:, None]                                     # rows x r
        w = qn * (cs * np.sqrt(float(rv.sum())) * (1.0 - self.beta1))[:, None]   # cols x r
        a_mat, c_mat, k_macs = clustered_steps(u, w, self.clusters, self.levels, self.gate)
        words = 2 * (rows + cols) + 2 * r * (rows + cols)
        return RuleOutput(a_mat.astype(np.int8), -lr_l * c_mat, macs + k_macs, words)

    def _momentum(self, index: int, xf: np.ndarray, d: np.ndarray,
                  r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """One batch of the factored momentum M ~ P Q^T, M <- beta1 M + G: one subspace
        iteration warm-started from the previous Q (first batch: from sign(G^T 1) with a
        deterministic tie-breaker). Returns the new P (orthonormal), Q, G^T P and the MACs."""
        m, rows = xf.shape
        cols = d.shape[1]
        prev = self.factors.get(index)
        if prev is None:
            p_old = np.zeros((rows, r))
            q_old = np.zeros((cols, r))
            q0 = np.sign(d.T @ (xf @ np.ones(rows)))[:, None] * np.ones((1, r))
            q0 = q0 + np.linspace(0.0, 1.0, cols * r).reshape(cols, r) % 0.37  # break ties
        else:
            p_old, q_old = prev
            q0 = q_old if np.any(q_old) else np.ones((cols, r))
        qn, _ = np.linalg.qr(q0)
        y = self.beta1 * p_old @ (q_old.T @ qn) + xf.T @ (d @ qn)           # M_new Q
        pn, _ = np.linalg.qr(y)
        g_q = d.T @ (xf @ pn)                                              # G^T P
        qn = self.beta1 * q_old @ (p_old.T @ pn) + g_q                     # M_new^T P
        self.factors[index] = (pn, qn)
        return pn, qn, g_q, 2 * m * r * (rows + cols) + 2 * r * r * (rows + cols)

    def _low_rank(self, index: int, xs: np.ndarray, d: np.ndarray, lr_l: float) -> RuleOutput:
        xf = xs.astype(np.float64)
        m, rows = xs.shape
        cols = d.shape[1]
        comps_a: list[np.ndarray] = []
        comps_c: list[np.ndarray] = []

        def g_b(b: np.ndarray) -> np.ndarray:      # (G - sum a c^T) b
            out = xf.T @ (d @ b)
            for a, c in zip(comps_a, comps_c, strict=True):
                out -= a * float(c @ b)
            return out

        def gt_a(a: np.ndarray) -> np.ndarray:     # (G - sum a c^T)^T a
            out = d.T @ (xf @ a)
            for ak, c in zip(comps_a, comps_c, strict=True):
                out -= c * float(ak @ a)
            return out

        macs = 0
        per_round = 2 * m * (rows + cols)
        for _ in range(self.rank):
            b = np.sign(gt_a(np.ones(rows)))
            macs += per_round
            a = np.zeros(rows)
            for _ in range(_POWER_ROUNDS):
                s = g_b(b)
                a = _ternarise(s)
                b = np.sign(gt_a(a))
                macs += 2 * per_round
            c = gt_a(a) / max(1, int(np.count_nonzero(a)))
            macs += per_round
            comps_a.append(a)
            comps_c.append(c)
        a_mat = np.array(comps_a)
        c_mat = np.array(comps_c)
        e = self._moment(index, np.mean(c_mat * c_mat, axis=0))
        scale = np.where(e > 0, 1.0 / np.sqrt(np.where(e > 0, e, 1.0)), 0.0)
        return RuleOutput(a_mat.astype(np.int8), -lr_l * c_mat * scale, macs, 2 * cols)

    def state_dict(self) -> dict[str, np.ndarray]:
        d = {f"moment.{i}": e.copy() for i, e in self.moments.items()}
        for i, (p, q) in self.factors.items():
            d[f"p.{i}"] = p.copy()
            d[f"q.{i}"] = q.copy()
        for i, e in self.row_moments.items():
            d[f"rowmoment.{i}"] = e.copy()
        for i, c in self.counts.items():
            d[f"count.{i}"] = np.array(c, dtype=np.int64)
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        def _get(prefix: str) -> dict[int, np.ndarray]:
            return {int(k.split(".")[1]): np.asarray(v, dtype=np.float64).copy()
                    for k, v in d.items() if k.startswith(prefix + ".")}
        self.moments = _get("moment")
        self.row_moments = _get("rowmoment")
        self.counts = {int(k.split(".")[1]): int(v) for k, v in d.items()
                       if k.startswith("count.")}
        ps, qs = _get("p"), _get("q")
        self.factors = {i: (ps[i], qs[i]) for i in ps if i in qs}
