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
* ``low_rank``: ``outer_rank`` steps per batch approximating the batch gradient
  G = sign(X)^T D: alternating sign power iteration (three rounds: a = ternarised G b with the
  weaker half of the rows gated off, b = sign(G^T a)) with deflation between components; the
  column step of component k is ``c = -lr/L * (G^T a)/nnz(a) / sqrt(e)`` with the per-column
  second moment e of those values. G b and G^T a are computed as X^T (D b) and D^T (X a).

The rules are deterministic; the stochastic part is the MTJ switching (or, in software DST
semantics, one uniform draw per pulse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RULES = ("sgd", "column_norm", "low_rank")
_POWER_ROUNDS = 3      # alternating sign power-iteration rounds per component (pnmsim choice)
_GATE_QUANTILE = 0.5   # rows below the median |G b| are gated off (pnmsim choice)


@dataclass
class RuleOutput:
    xs: np.ndarray            # (K, rows) int8 row gates/signs
    col_steps: np.ndarray     # (K, cols) float64 signed column steps in units of L
    periphery_macs: int       # digital multiply-accumulates the rule needed
    moment_words: int         # periphery words read and written (second moments)


@dataclass
class OuterRule:
    """One rule with its per-layer periphery state (the per-column second moments)."""

    rule: str = "sgd"
    beta2: float = 0.99
    rank: int = 1
    moments: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"outer rule {self.rule!r}; allowed: {', '.join(RULES)}")

    def _moment(self, index: int, sq: np.ndarray) -> np.ndarray:
        e = self.moments.get(index)
        e = sq.copy() if e is None else self.beta2 * e + (1.0 - self.beta2) * sq
        self.moments[index] = e
        return e

    def steps(self, index: int, x: np.ndarray, delta: np.ndarray, lr_l: float) -> RuleOutput:
        """Row patterns and column steps for layer ``index``; ``lr_l`` = lr / L."""
        xs = np.sign(np.asarray(x)).astype(np.int8)
        d = np.asarray(delta, dtype=np.float64)
        m, rows = xs.shape
        cols = d.shape[1]
        if self.rule == "sgd":
            return RuleOutput(xs, -lr_l * d, 0, 0)
        if self.rule == "column_norm":
            e = self._moment(index, np.einsum("vi,vi->i", d, d))
            scale = np.where(e > 0, 1.0 / np.sqrt(np.where(e > 0, e, 1.0)), 0.0)
            return RuleOutput(xs, -lr_l * d * scale, 2 * m * cols, 2 * cols)
        return self._low_rank(index, xs, d, lr_l)

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
                thr = np.quantile(np.abs(s), _GATE_QUANTILE)
                a = np.where((np.abs(s) >= thr) & (s != 0), np.sign(s), 0.0)
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
        return {f"moment.{i}": e.copy() for i, e in self.moments.items()}

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        self.moments = {int(k.split(".")[1]): np.asarray(v, dtype=np.float64).copy()
                        for k, v in d.items() if k.startswith("moment.")}
