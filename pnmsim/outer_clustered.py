"""Turning a low-rank update U = u w^T (u rows x r, w cols x r) into rank-1 array steps whose
row groups are disjoint, so that every cell is pulsed by one group only (the ``clustered``
rule of :mod:`pnmsim.outer_rules`; README "In-array training").

Why disjoint groups: applying U's r components as r separate rank-1 steps pulses a cell once
per component, in the direction of that component's sign at the cell. Where the components
disagree the moves cancel only on average; each pulse is a separate stochastic switch, so the
cell's noise grows with sum_k |u_jk w_ik| while its drift follows |sum_k u_jk w_ik| (the
"sum of signs" problem of per-vector steps, one level up). Measured in the MNIST MLP screen,
rank 16: the same expected update applied with one DST draw per cell scores 95.8 %, applied as
per-component steps 94.4 %.

The fix here: every row j's update vector U_j = w u_j (a cols-vector) lies in the r-dim span
of w. With w = Q_w R_w (QR), U_j = Q_w z_j, z_j = R_w u_j, so row j is described by z_j in
r numbers. A sign-invariant spherical k-means on the z_j (``clusters`` centroids mu_g, unit
norm) gives each row one group g_j, a sign s_j and a magnitude alpha_j = |z_j . mu_{g_j}|;
row j's update is approximated by s_j alpha_j Q_w mu_{g_j}. Group g's column vector Q_w mu_g
has real entries (column pulse widths) and its rows are gated and signed by s_j (row drivers):
exactly what one array step applies. Row magnitudes are carried by ``levels`` thermometer steps
at the thresholds theta_1 < ... < theta_n (quantiles ``gate + (1 - gate) l / n`` of the
non-zero alpha, l = 0..n-1): step (g, l) drives the rows of group g with alpha_j >= theta_l,
with column step (theta_l - theta_{l-1}) Q_w mu_g. Rows below theta_1 (the ``gate`` fraction
with the smallest alpha) are not written (a dead zone for the least confident rows); rows above
theta_n are clipped to theta_n. All work is in r-dim coordinates: O(rows r K) per k-means round and
O(K cols r) for the column vectors, never a rows x cols quantity.
"""

from __future__ import annotations

import numpy as np

KMEANS_ROUNDS = 5   # spherical k-means rounds (pnmsim choice: assignments settle in 3-5)


def square_sums(xf: np.ndarray, d: np.ndarray, probes: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row sums R_j = sum_i G_ji^2 and column sums C_i = sum_j G_ji^2 of the batch gradient
    G = xf^T d (rows x cols) without forming G.

    ``probes`` > 0: Hutchinson estimates with that many Rademacher probe vectors drawn from
    ``rng`` (E[(G z)_j^2] = R_j for z with independent +-1 entries): R ~ mean_s (xf^T (d z_s))^2,
    C ~ mean_s (d^T (xf y_s))^2, O(M probes (rows + cols)) work. ``probes`` = 0: exact, through
    the M x M Gram matrices (R_j = x_j^T (d d^T) x_j): O(M^2 (rows + cols)), small M only.
    """
    rows, cols = xf.shape[1], d.shape[1]
    if probes == 0:
        gd = d @ d.T
        gx = xf @ xf.T
        return (np.einsum("vj,vj->j", xf, gd @ xf), np.einsum("vi,vi->i", d, gx @ d))
    z = rng.choice([-1.0, 1.0], size=(cols, probes))
    y = rng.choice([-1.0, 1.0], size=(rows, probes))
    return (np.mean((xf.T @ (d @ z)) ** 2, axis=1), np.mean((d.T @ (xf @ y)) ** 2, axis=1))


def row_groups(z: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sign-invariant spherical k-means of the rows of z (rows x r) into k groups.

    Centroids start at the k rows of largest norm (ties: lower index first); each round assigns
    row j to argmax_g |z_j . mu_g| with sign s_j = sign(z_j . mu_g), then sets
    mu_g = normalise(sum_{j in g} s_j z_j) (a group left empty keeps its centroid). Returns
    (group (rows,), sign (rows,), alpha (rows,) = |z_j . mu_g|, mu (k, r))."""
    rows = z.shape[0]
    k = min(k, rows)
    norms = np.linalg.norm(z, axis=1)
    order = np.argsort(-norms, kind="stable")[:k]
    mu = z[order] / np.maximum(norms[order], 1e-300)[:, None]
    idx = np.arange(rows)
    for _ in range(KMEANS_ROUNDS):
        sims = z @ mu.T
        g = np.argmax(np.abs(sims), axis=1)
        sg = np.sign(sims[idx, g])
        sums = np.zeros_like(mu)
        np.add.at(sums, g, sg[:, None] * z)
        nv = np.linalg.norm(sums, axis=1)
        ok = nv > 0
        mu[ok] = sums[ok] / nv[ok, None]
    sims = z @ mu.T
    g = np.argmax(np.abs(sims), axis=1)
    val = sims[idx, g]
    return g, np.sign(val), np.abs(val), mu


def thresholds(alpha: np.ndarray, levels: int, gate: float) -> np.ndarray:
    """theta_l = quantile(alpha, gate + (1 - gate) l / levels), l = 0 .. levels - 1, over the
    rows with alpha > 0 (rows without gradient neither get written nor lower the thresholds);
    all zeros when there is none."""
    pos = alpha[alpha > 0]
    if pos.size == 0:
        return np.zeros(levels)
    return np.quantile(pos, [gate + (1.0 - gate) * li / levels for li in range(levels)])


def level_steps(sign: np.ndarray, alpha: np.ndarray, members: np.ndarray, col: np.ndarray,
                theta: np.ndarray, out_a: list[np.ndarray], out_c: list[np.ndarray]) -> None:
    """Thermometer steps of one group: for each theta_l, rows ``members`` with alpha >= theta_l
    signed by ``sign``, column step (theta_l - theta_{l-1}) col; steps that drive no row are
    left out."""
    prev = 0.0
    for t in theta:
        a = np.where(members & (alpha >= t * (1.0 - 1e-9)) & (alpha > 0), sign, 0.0)
        if a.any():
            out_a.append(a)
            out_c.append(col * (t - prev))
        prev = float(t)


def clustered_steps(u: np.ndarray, w: np.ndarray, clusters: int, levels: int,
                    gate: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Row patterns (K', rows) and column steps (K', cols) whose sum approximates u w^T
    (module docstring), and the multiply-accumulates it took. ``clusters`` = 0: no grouping,
    each component k is applied on its own with thermometer levels on |u[:, k]| (the variant
    whose steps overlap)."""
    rows, r = u.shape
    cols = w.shape[0]
    out_a: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    if clusters == 0:
        for k in range(r):
            mag = np.abs(u[:, k])
            level_steps(np.sign(u[:, k]), mag, np.ones(rows, dtype=bool), w[:, k],
                        thresholds(mag, levels, gate), out_a, out_c)
        macs = 0
    else:
        qw, rw = np.linalg.qr(w)
        z = u @ rw.T
        g, sign, alpha, mu = row_groups(z, clusters)
        theta = thresholds(alpha, levels, gate)
        for c in range(mu.shape[0]):
            level_steps(sign, alpha, g == c, qw @ mu[c], theta, out_a, out_c)
        macs = (KMEANS_ROUNDS + 1) * rows * r * mu.shape[0] + mu.shape[0] * cols * r \
            + rows * r * r + 2 * cols * r * r
    if not out_a:
        return np.zeros((1, rows)), np.zeros((1, cols)), macs
    return np.array(out_a), np.array(out_c), macs
