"""Screen in-array update rules fast, in software DST semantics (issue 10, items 1-2).

The network, forward, backward and data are pnmsim's (``Network`` over a software backend);
only the weight update differs. Every rule turns the batch's layer inputs X and errors D into
rank-1 steps (row pattern a in {-1, 0, 1}, signed column step c in units of L) with
:class:`pnmsim.outer_rules.OuterRule`, exactly as the hardware backend does; here each step
moves cell (j, i) by one state in the direction a_j sign(c_i) with probability
tanh(m |c_i|) (the GXNOR DST probability, m = 3) instead of through the MTJ physics.

Rules: ``adam`` (the per-cell reference: Adam + DST per weight, not in-array), ``sgd``
(one rank-1 step per input vector, plain SGD: the naive in-array scheme), ``column_norm``
(per-vector steps, per-output-line RMS normalisation), ``layer_norm`` (per-vector steps, one
RMS per layer), ``group`` (one rank-1 step per label present in the batch), ``low_rank``
(``--rank`` steps per batch, sign power iteration; ``--beta1 > 0``: factored momentum),
``clustered`` (factored momentum, row x column second moments, steps on disjoint row groups:
``--clusters``, ``--levels``, ``--gate``, ``--probes``).

Diagnostics (NOT in-array: per-cell state or per-cell matrices, to locate what the in-array
rules lose): ``diag_adam_svd`` (per-cell Adam's step truncated to rank ``--rank`` by SVD),
``diag_adam_svd_tile`` (the same per ``--tile`` x ``--tile`` block), ``diag_momentum_layer``
(full-rank per-cell momentum, one RMS per layer), ``diag_momentum_factored`` (full-rank
momentum, Adafactor row x column second moments), ``diag_momentum_factored_svd`` (that, truncated
to rank ``--rank``); ``--apply-exact`` applies an in-array rule's steps as their sum with one
DST draw per cell (the rule's expected update without the noise of overlapping steps).

Per-vector rules (sgd, column_norm, layer_norm) are simulated by their Poisson aggregate: the
number of up- and down-moves a cell receives in a batch is Poisson with mean
sum_v [polarity] tanh(m |c_vi|) (exact in the limit of rare moves; with the exact sequential
loop, sgd at lr 0.01 gave 55.7 % where the aggregate gives 57.0 % on the same run).

    PNMSIM_DATA_DIR=... python benchmarks/inarray_screen.py --rule low_rank --rank 4 \\
        --beta1 0.9 --lr 0.01 --lr-end 0.003 --epochs 2 --train-limit 10000 --test-limit 2000

prints one line per epoch: rule, settings, lr, test accuracy, weights changed per batch, wall s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pnmsim.datasets import load_dataset
from pnmsim.nn.gxnor import dst_update
from pnmsim.nn.network import Network, SoftwareBackend
from pnmsim.outer_rules import RULES, OuterRule
from pnmsim.records import PhaseContext
from pnmsim.workload import load_workload

M_DST = 3.0


def apply_steps(w: np.ndarray, xs: np.ndarray, steps: np.ndarray,
                rng: np.random.Generator, gated_draws: bool = False) -> np.ndarray:
    """Rank-1 steps one after the other in DST semantics (few steps: numpy per step).
    ``gated_draws``: draw uniforms only for the rows a step drives (faster for many sparse
    steps; a different random stream from the default, which draws one per cell and step)."""
    w = np.asarray(w, dtype=np.float32).copy()
    for a, c in zip(xs, steps, strict=True):
        on = np.flatnonzero(a) if gated_draws else np.arange(len(a))
        if on.size == 0:
            continue
        mag = np.abs(c)
        kappa = np.floor(mag)
        p = np.tanh(M_DST * (mag - kappa))
        move = kappa[None, :] + (rng.random((on.size, w.shape[1])) < p[None, :])
        pol = a[on, None].astype(np.float32) * np.sign(c)[None, :]
        w[on] = np.clip(w[on] + pol * move, -1, 1)
    return w


def apply_poisson(w: np.ndarray, xs: np.ndarray, steps: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Per-vector steps by their Poisson aggregate (module docstring)."""
    p = np.tanh(M_DST * np.abs(steps)).astype(np.float32)
    pp = np.where(steps > 0, p, 0).astype(np.float32)
    pm = p - pp
    xp = (xs > 0).astype(np.float32)
    xm = (xs < 0).astype(np.float32)
    up = rng.poisson(xp.T @ pp + xm.T @ pm)
    down = rng.poisson(xp.T @ pm + xm.T @ pp)
    return np.clip(w + up - down, -1, 1).astype(np.float32)


class ScreenBackend(SoftwareBackend):
    def __init__(self, rng: np.random.Generator, a: argparse.Namespace) -> None:
        super().__init__(rng)
        self.a = a
        self.lr = a.lr
        self.labels: np.ndarray | None = None
        rule = "low_rank" if a.rule == "group" else a.rule
        self.rule = (OuterRule(rule, a.beta2, a.rank, a.beta1, clusters=a.clusters,
                               levels=a.levels, gate=a.gate, probes=a.probes,
                               debias=a.debias, real_inputs=a.real_x)
                     if rule in RULES else None)
        self.layer_moment: dict[int, float] = {}
        self.diag_state: dict[int, dict] = {}

    def update(self, index: int, step: np.ndarray, x: np.ndarray, delta: np.ndarray,
               ctx: PhaseContext | None = None) -> dict[str, float]:
        if self.a.rule == "adam":
            return super().update(index, step, x, delta, ctx)
        if self.a.rule.startswith("diag_"):
            return super().update(index, self._diagnostic(index, step, x, delta), x, delta, ctx)
        w = self._w[index]
        d = np.asarray(delta, dtype=np.float64)
        if self.a.rule == "layer_norm":
            ss = float((d * d).sum()) / d.shape[1]
            e = self.layer_moment.get(index)
            e = ss if e is None else self.a.beta2 * e + (1 - self.a.beta2) * ss
            self.layer_moment[index] = e
            new = apply_poisson(w, np.sign(x).astype(np.int8), -self.lr * d / np.sqrt(e),
                                self.rng)
        elif self.a.rule == "group":
            new = self._group(index, w, x, d)
        else:
            assert self.rule is not None
            ro = self.rule.steps(index, x, d, self.lr)
            if self.a.apply_exact:     # diagnostic: the steps' sum applied per cell
                dw = ro.xs.T.astype(np.float64) @ ro.col_steps
                new = dst_update(w, dw.astype(np.float32), 1, 1.0, M_DST, self.rng)
            elif self.rule.rule in ("low_rank", "clustered"):
                new = apply_steps(w, ro.xs, ro.col_steps, self.rng,
                                  gated_draws=self.rule.rule == "clustered")
            else:
                new = apply_poisson(w, ro.xs, ro.col_steps, self.rng)
        changed = int(np.count_nonzero(new != w))
        self._w[index] = new
        return {"changed": float(changed)}

    def _diagnostic(self, index: int, step: np.ndarray, x: np.ndarray,
                    delta: np.ndarray) -> np.ndarray:
        """Per-cell diagnostics (NOT in-array: they keep per-cell state or form per-cell
        matrices) that locate what the in-array rules lose against per-cell Adam."""
        a = self.a
        if a.rule == "diag_adam_svd":          # per-cell Adam's step, truncated to rank r
            u, sv, vt = np.linalg.svd(np.asarray(step, np.float64), full_matrices=False)
            return ((u[:, :a.rank] * sv[:a.rank]) @ vt[:a.rank]).astype(np.float32)
        if a.rule == "diag_adam_svd_tile":     # the same per 128 x 128 tile
            out = np.zeros_like(np.asarray(step, np.float64))
            t = a.tile
            for r0 in range(0, out.shape[0], t):
                for c0 in range(0, out.shape[1], t):
                    blk = np.asarray(step[r0:r0 + t, c0:c0 + t], np.float64)
                    u, sv, vt = np.linalg.svd(blk, full_matrices=False)
                    out[r0:r0 + t, c0:c0 + t] = (u[:, :a.rank] * sv[:a.rank]) @ vt[:a.rank]
            return out.astype(np.float32)
        xg = np.asarray(x, np.float64) if a.real_x else np.sign(x).astype(np.float64)
        g = xg.T @ np.asarray(delta, np.float64)
        st = self.diag_state.setdefault(index, {})
        mom = st.get("m")
        mom = g.copy() if mom is None else a.beta1 * mom + (1 - a.beta1) * g
        st["m"] = mom
        if a.rule == "diag_momentum_layer":    # full-rank momentum, one RMS per layer
            v = float(np.mean(g * g))
            e = st.get("v", v) * a.beta2 + (1 - a.beta2) * v
            st["v"] = e
            return (-self.lr * mom / np.sqrt(e)).astype(np.float32)
        if a.rule == "diag_momentum_factored":  # full-rank momentum, Adafactor row x col v
            r, c = (g * g).sum(axis=1), (g * g).sum(axis=0)
            er = st.get("r", r) * a.beta2 + (1 - a.beta2) * r
            ec = st.get("c", c) * a.beta2 + (1 - a.beta2) * c
            st["r"], st["c"] = er, ec
            v = np.outer(er, ec) / max(float(er.sum()), 1e-30)
            return (-self.lr * mom / np.sqrt(v + 1e-30)).astype(np.float32)
        if a.rule == "diag_momentum_cell":     # full-rank momentum, per-cell v (Adam's m/sqrt(v))
            if a.debias:                       # Adam's zero start and bias correction of v
                e = st.get("v", 0.0 * g) * a.beta2 + (1 - a.beta2) * g * g
                st["t"] = st.get("t", 0) + 1
                st["v"] = e
                e = e / (1 - a.beta2 ** st["t"])
            else:
                e = st.get("v", g * g) * a.beta2 + (1 - a.beta2) * g * g
                st["v"] = e
            return (-self.lr * mom / np.sqrt(e + 1e-30)).astype(np.float32)
        if a.rule == "diag_momentum_factored_tile":  # Adafactor v per --tile x --tile block
            t = a.tile
            g2 = g * g
            v = np.zeros_like(g2)
            for r0 in range(0, g.shape[0], t):
                for c0 in range(0, g.shape[1], t):
                    blk = g2[r0:r0 + t, c0:c0 + t]
                    key = f"{r0}.{c0}"
                    r, c = blk.sum(axis=1), blk.sum(axis=0)
                    er = st.get("r" + key, r) * a.beta2 + (1 - a.beta2) * r
                    ec = st.get("c" + key, c) * a.beta2 + (1 - a.beta2) * c
                    st["r" + key], st["c" + key] = er, ec
                    v[r0:r0 + t, c0:c0 + t] = np.outer(er, ec) / max(float(er.sum()), 1e-30)
            return (-self.lr * mom / np.sqrt(v + 1e-30)).astype(np.float32)
        if a.rule == "diag_momentum_factored_svd":   # the same truncated to rank r
            r, c = (g * g).sum(axis=1), (g * g).sum(axis=0)
            er = st.get("r", r) * a.beta2 + (1 - a.beta2) * r
            ec = st.get("c", c) * a.beta2 + (1 - a.beta2) * c
            st["r"], st["c"] = er, ec
            v = np.outer(er, ec) / max(float(er.sum()), 1e-30)
            upd = mom / np.sqrt(v + 1e-30)
            u, sv, vt = np.linalg.svd(upd, full_matrices=False)
            return (-self.lr * (u[:, :a.rank] * sv[:a.rank]) @ vt[:a.rank]).astype(np.float32)
        raise ValueError(a.rule)

    def _group(self, index: int, w: np.ndarray, x: np.ndarray, d: np.ndarray) -> np.ndarray:
        """One sign-power-iteration rank-1 step per label in the batch, normalised per column
        by the running RMS of the groups' column steps."""
        assert self.labels is not None and self.rule is not None
        lab = self.labels
        per = x.shape[0] // lab.shape[0]
        xs_l, cs_l = [], []
        for c in np.unique(lab):
            sel = np.repeat(lab == c, per)
            ro = OuterRule("low_rank", 0.0, 1).steps(0, x[sel], d[sel], 1.0)
            xs_l.append(ro.xs)
            cs_l.append(ro.col_steps)
        cs = np.concatenate(cs_l)
        e = self.rule._moment(index, np.mean(cs * cs, axis=0))
        return apply_steps(w, np.concatenate(xs_l), self.lr * cs / np.sqrt(e + 1e-30), self.rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rule", default="low_rank",
                    choices=["adam", "sgd", "column_norm", "layer_norm", "group", "low_rank",
                             "clustered", "diag_adam_svd", "diag_adam_svd_tile",
                             "diag_momentum_layer", "diag_momentum_factored",
                             "diag_momentum_factored_tile", "diag_momentum_factored_svd",
                             "diag_momentum_cell"])
    ap.add_argument("--workload", default="mnist_mlp")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--lr-end", type=float, default=None, help="default: --lr (constant)")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--beta1", type=float, default=0.0)
    ap.add_argument("--beta2", type=float, default=0.99)
    ap.add_argument("--apply-exact", action="store_true",
                    help="diagnostic: apply the sum of the steps per cell (one DST draw)")
    ap.add_argument("--tile", type=int, default=128)
    ap.add_argument("--clusters", type=int, default=64, help="clustered: row groups K "
                    "(0: each component on its own)")
    ap.add_argument("--levels", type=int, default=4, help="clustered: thermometer levels")
    ap.add_argument("--gate", type=float, default=0.5, help="clustered: quantile of the row "
                    "magnitudes below which rows are not written")
    ap.add_argument("--probes", type=int, default=8, help="clustered: Rademacher probes of "
                    "the second-moment sketch (0: exact Gram form, small batches only)")
    ap.add_argument("--debias", action="store_true", help="second moments start at 0 with "
                    "Adam's bias correction (default: start at the first batch's value)")
    ap.add_argument("--real-x", action="store_true", help="diag_momentum_*, clustered: the "
                    "gradient from the layer inputs' values, not their signs")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    data = load_dataset("mnist", a.data_dir, train_limit=a.train_limit,
                        test_limit=a.test_limit, seed=a.seed, val_size=1000)
    be = ScreenBackend(np.random.default_rng([a.seed, 1]), a)
    net = Network(load_workload(a.workload), be, np.random.default_rng([a.seed, 2]))
    drng = np.random.default_rng([a.seed, 3])
    lr_end = a.lr if a.lr_end is None else a.lr_end
    n = len(data.x_train)
    tag = f"{a.rule} rank={a.rank} beta1={a.beta1} beta2={a.beta2} bs={a.batch_size}"
    if a.rule == "clustered":
        tag += f" K={a.clusters} levels={a.levels} gate={a.gate} probes={a.probes}"
    if a.apply_exact:
        tag += " apply-exact"
    if a.debias:
        tag += " debias"
    if a.real_x:
        tag += " real-x"
    for ep in range(1, a.epochs + 1):
        f = (ep - 1) / max(1, a.epochs - 1)
        lr = a.lr * (lr_end / a.lr) ** f
        be.lr = lr
        t0 = time.perf_counter()
        perm = drng.permutation(n)
        changed = 0.0
        for b0 in range(0, n, a.batch_size):
            idx = perm[b0:b0 + a.batch_size]
            be.labels = data.y_train[idx]
            changed += net.train_step(data.x_train[idx], data.y_train[idx], lr)["changed"]
        acc, _ = net.evaluate(data.x_test, data.y_test)
        print(f"{tag} epoch {ep} lr {lr:.4g} test {acc:.4f} changed/batch "
              f"{changed / -(-n // a.batch_size):.0f} wall {time.perf_counter() - t0:.1f}s",
              flush=True)


if __name__ == "__main__":
    main()
