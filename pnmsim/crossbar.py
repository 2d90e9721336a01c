"""Functional model of a two-MTJ synapse crossbar (one layer's weight matrix).

Orientation: ``rows`` are inputs (driven lines), ``cols`` are outputs (sensed lines), so the
ideal forward read is ``x @ W`` with ``W`` of shape (rows, cols). A layer larger than one tile is
one :class:`Crossbar`; the tile grid only decides how partial sums are formed
(:meth:`Crossbar.read_blocks`) and how actions are counted (``pnmsim.hw``).

Every operation returns its values **and** the counts of the hardware actions it performed
(:class:`Counts`), which the cost model (:mod:`pnmsim.costs`) prices.

Physics (science.md §4): a cell is two MTJs with per-device conductances G1, G2; the GXNOR read
drives branch 1 with ``u = x V_rd`` and branch 2 with ``-u``, so the line current is
``I = V_rd * sum_j x_j (G1 - G2)_j``; with no variation this is exactly
``V_rd * dG * (x @ W)``, ``dG = 1/R_P - 1/R_AP``. The read energy of a cell is
``u^2 (G1 + G2) t_read`` (both branches conduct; nothing flows where the gate ``x = 0`` is closed).

Why one module of ~540 lines: it is one class, and its reads and writes share private state
that a split would have to expose — the conductances a write updates incrementally, the cached
effective weights and line sums of G1 + G2 it invalidates or (the fused per-cell write) hands
back for the next read's energy, and the tables kept between writes. The physics itself lives
in :mod:`pnmsim.kernels`; what is here is the state and the bookkeeping around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pnmsim import kernels
from pnmsim.config import ArchConfig
from pnmsim.device import mtj
from pnmsim.kernels.pcg64 import pcg64_chains, set_state
from pnmsim.kernels.percell import write_tables
from pnmsim.kernels.pulse_index import tables_usable, width_index_tables
from pnmsim.pulses import PulseMapper, quantize_widths
from pnmsim.units import FJ_PER_V2_S_NS

_FJ_PER_V2_S_NS = FJ_PER_V2_S_NS   # V^2 * S * ns -> fJ (units)


@dataclass
class Counts:
    """Hardware actions performed by one crossbar operation (additive)."""

    mvms: int = 0               # matrix-vector products (one per input vector)
    active_inputs: int = 0      # driven lines with a non-zero input, summed over vectors
    read_fj: float = 0.0        # synapse read energy, integrated from the device physics
    pulses: int = 0             # write pulses applied to cells
    switched: int = 0           # MTJs that flipped
    write_fj: float = 0.0       # synapse write energy V*I*t
    pulse_ns_total: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def __iadd__(self, other: Counts) -> Counts:
        self.mvms += other.mvms
        self.active_inputs += other.active_inputs
        self.read_fj += other.read_fj
        self.pulses += other.pulses
        self.switched += other.switched
        self.write_fj += other.write_fj
        self.pulse_ns_total += other.pulse_ns_total
        for k, v in other.extra.items():
            self.extra[k] = self.extra.get(k, 0.0) + v
        return self


#: stand-ins passed to :func:`kernels.per_cell_write` for the look-up tables where it does not
#: use them (it then evaluates every index directly and never reads these)
_NO_TABLES = (np.full((8, 1), np.inf), np.zeros((8, 1), dtype=np.int32),
              np.zeros(8, dtype=np.int64), 0)
#: stand-ins for the draws where the kernel draws them itself (kernels/pcg64.py), and for the
#: generator chains where it reads the drawn arrays
_NO_DRAWS = np.zeros((1, 1))
_F32 = np.dtype(np.float32)
_NO_CHAINS = np.zeros(0, dtype=np.uint64)
_NO_LINES = np.zeros(0)     # per_cell_write: line sums not wanted
_INDEX_TABLES: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray, int] | None] = {}
_WRITE_TABLES: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
_NO_WRITE_TABLES = (np.zeros((9, 0)), np.zeros((0, 0)))


def _once(store: dict[bytes, Any], key: bytes, make: Callable[[], Any]) -> Any:
    """``make()`` computed once per key in a process (a pure function of the parameters the key
    encodes); the store is emptied when it holds more than 64 parameter sets."""
    if key not in store:
        if len(store) > 64:
            store.clear()
        store[key] = make()
    return store[key]


def _write_tables(nom: np.ndarray, n_tab: int, *scalars: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`kernels.percell.write_tables` (widths, switching probabilities, energies and
    conductances per state and grid index at nominal devices), computed once per parameter set
    in a process instead of on every write (~45 us a call)."""
    key = nom.tobytes() + np.array([n_tab, *scalars], dtype=np.float64).tobytes()
    return _once(_WRITE_TABLES, key,  # type: ignore[no-any-return]
                 lambda: write_tables(nom, n_tab, *scalars))


def _index_tables(nom: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
    """:func:`kernels.pulse_index.width_index_tables` of the nominal parameters ``nom``,
    computed once per distinct parameter set in a process (a pure function of them); None
    where they are not built or not usable (the kernel then evaluates every index)."""
    return _once(_INDEX_TABLES, nom.tobytes(),  # type: ignore[no-any-return]
                 lambda: width_index_tables(nom) if tables_usable() else None)


def _check_out(who: str, out: np.ndarray, shape: tuple[int, ...], dt: np.dtype) -> None:
    """Refuse an ``out`` array a read cannot write its result into."""
    if out.shape != shape or out.dtype != dt or not out.flags.c_contiguous:
        raise ValueError(f"{who}: out of shape {out.shape} and dtype {out.dtype}; need a "
                         f"C-contiguous {shape} {dt}")


class Crossbar:
    """The synapse matrix of one layer: MTJ states and per-device parameters."""

    def __init__(self, rows: int, cols: int, arch: ArchConfig, rng: np.random.Generator,
                 binary: bool = False) -> None:
        self.rows, self.cols = rows, cols
        self.arch = arch
        self.binary = binary
        d, v = arch.mtj, arch.variation
        shape = (rows, cols)
        kw = dict(r_p_ohm=d.r_parallel_ohm, tmr=d.tmr, ic0_ua=d.ic0_ua, delta=d.delta,
                  sigma_r_p=v.r_parallel_sigma, sigma_tmr=v.tmr_sigma, sigma_ic0=v.ic0_sigma,
                  sigma_delta=v.delta_sigma, distribution=v.distribution)
        self.m1 = mtj.sample_devices(shape, rng=rng, **kw)
        self.m2 = mtj.sample_devices(shape, rng=rng, **kw)
        self.rp1 = np.ascontiguousarray(self.m1.r_p_ohm, dtype=np.float64)
        self.rp2 = np.ascontiguousarray(self.m2.r_p_ohm, dtype=np.float64)
        if v.r_parallel_sigma or v.tmr_sigma:
            self.rap1 = np.ascontiguousarray(mtj.r_antiparallel_ohm(self.m1.r_p_ohm,
                                                                    self.m1.tmr))
            self.rap2 = np.ascontiguousarray(mtj.r_antiparallel_ohm(self.m2.r_p_ohm,
                                                                    self.m2.tmr))
        else:   # every device at the nominal R_P and TMR: R_P (1 + TMR) computed once (the
            # same double as elementwise) and filled; each MTJ keeps arrays of its own, so a
            # device parameter edited by hand (a fault) changes that MTJ only
            rap = float(mtj.r_antiparallel_ohm(d.r_parallel_ohm, d.tmr))
            self.rap1 = np.full(shape, rap)
            self.rap2 = np.full(shape, rap)
        self.dg_nominal = float(mtj.delta_conductance_s(d.r_parallel_ohm, d.tmr))
        zero = 1 if arch.synapse.zero_encoding == "pp" else 0   # weight 0 in its encoding
        self.s1 = np.full(shape, zero, dtype=np.int8)
        self.s2 = np.full(shape, zero, dtype=np.int8)
        self._cols_read = False    # whether a transposed read has summed the column lines
        self._ones_x2: np.ndarray | None = None   # line statistics of a row of ones
        self._invalidate()

    # ------------------------------------------------------------------ state
    def set_weights(self, w: np.ndarray) -> None:
        """Program logical weights: +1 = (P, AP), -1 = (AP, P), 0 = (P, P) or (AP, AP).

        A binary crossbar accepts 0 too: a pulse can leave a binary pair half-switched (the
        physics keeps what happened), and a checkpoint of such a state must load back."""
        w = np.asarray(w)
        if w.shape != (self.rows, self.cols):
            raise ValueError(f"weights of shape {w.shape}, crossbar is {(self.rows, self.cols)}")
        if w.dtype.kind in "iu":   # compares, not abs: abs of int8 -128 is -128
            bad = np.flatnonzero((w > 1) | (w < -1))
        elif w.dtype.kind == "b":
            bad = np.empty(0, dtype=np.intp)
        else:                      # floats (and anything else): exactly -1, 0 or 1
            bad = np.flatnonzero(~np.isin(w, (-1, 0, 1)))
        if bad.size:
            raise ValueError(f"weights must be in {{-1, 0, +1}}, got {w.reshape(-1)[bad[0]]!r} "
                             f"at flat index {int(bad[0])}")
        if self.arch.synapse.zero_encoding == "pp":   # 0 = (P, P)
            s1, s2 = w >= 0, w <= 0
        else:                                         # 0 = (AP, AP)
            s1, s2 = w > 0, w < 0
        self.s1 = s1.astype(np.int8)
        self.s2 = s2.astype(np.int8)
        self._invalidate()

    def weights(self) -> np.ndarray:
        return (self.s1 - self.s2).astype(np.int8)

    def _invalidate(self) -> None:
        self._gdiff = None
        self._gsum = None
        self._weff: dict[np.dtype, np.ndarray] = {}
        self._gsum_rows: np.ndarray | None = None
        self._gsum_cols: np.ndarray | None = None

    def _conductances(self) -> tuple[np.ndarray, np.ndarray]:
        """G1 - G2 and G1 + G2 of every cell (Gk = 1 / R_P where sk == 1, else 1 / R_AP),
        recomputed after a write that did not keep them current; the float32 effective
        weights come from the same pass (:func:`kernels.conductances`)."""
        if self._gdiff is None:
            shape = (self.rows, self.cols)
            if np.shape(self.s1) != shape or np.shape(self.s2) != shape:
                # not the array's shape (a caller set the states directly): the NumPy form,
                # which broadcasts or refuses as it always did
                gdiff, gsum, w32 = kernels.conductances_reference(
                    self.s1, self.s2, self.rp1, self.rap1, self.rp2, self.rap2,
                    self.dg_nominal)
            else:
                gdiff, gsum = np.empty(shape), np.empty(shape)
                w32 = np.empty(shape, dtype=np.float32)
                kernels.conductances(np.ascontiguousarray(self.s1, dtype=np.int8),
                                     np.ascontiguousarray(self.s2, dtype=np.int8), self.rp1,
                                     self.rap1, self.rp2, self.rap2, self.dg_nominal, gdiff,
                                     gsum, w32)
            self._gdiff, self._gsum = gdiff, gsum
            self._weff.setdefault(_F32, w32)
        return self._gdiff, self._gsum  # type: ignore[return-value]

    def effective_weights(self, dtype: type = np.float64) -> np.ndarray:
        """(G1 - G2) / dG_nominal: equals the logical weights exactly without variation.
        Cached per dtype until the next write (float32 is the fast path of training)."""
        key = np.dtype(dtype)
        w = self._weff.get(key)
        if w is None:
            gdiff, _ = self._conductances()
            w = self._weff[key] = np.ascontiguousarray(gdiff / self.dg_nominal, dtype=dtype)
        return w

    def _gsum_lines(self, transpose: bool = False) -> np.ndarray:
        """G1 + G2 summed along each row line (``transpose``: each column line), cached
        until the next write; each direction only when a read needs it (the first layer's
        column sums never are: no error flows back to the network's input)."""
        if transpose:
            self._cols_read = True
            if self._gsum_cols is None:
                self._gsum_cols = self._conductances()[1].sum(axis=0)
            return self._gsum_cols
        if self._gsum_rows is None:
            self._gsum_rows = self._conductances()[1].sum(axis=1)
        return self._gsum_rows

    # ------------------------------------------------------------------ reads
    def read_units(self, x: np.ndarray, transpose: bool = False, ternary: bool = False,
                   out: np.ndarray | None = None,
                   lines: tuple[np.ndarray, np.ndarray] | None = None,
                   ) -> tuple[np.ndarray, Counts]:
        """The line currents in units of ``V_rd * dG_nominal`` (so without variation the
        result is exactly ``x @ W``, or ``x @ W.T`` for the transposed read), computed in
        the dtype of ``x`` (float32 or float64), into ``out`` where given (a C-contiguous
        array of the result's shape and dtype, which is returned). Every read goes through
        here. ``lines``: x's line statistics (:func:`kernels.line_stats`) where the caller
        has them (see :meth:`_read_counts`)."""
        x = np.asarray(x)
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        w = self.effective_weights(dt)
        wv = w.T if transpose else w
        if out is None:
            y = x.astype(dt, copy=False) @ wv
        else:
            _check_out("read_units", out, (x.shape[0], wv.shape[1]), dt)
            y = np.matmul(x.astype(dt, copy=False), wv, out=out)
        return y, self._read_counts(x, self._gsum_lines(transpose), ternary, lines)

    def read(self, x: np.ndarray) -> tuple[np.ndarray, Counts]:
        """Forward read: line currents (A), shape (M, cols), for inputs x (M, rows) in
        units of V_rd (ternary {-1,0,1}, or DAC levels in [-1, 1] for real inputs)."""
        y, cnt = self.read_units(x)
        return self.arch.synapse.v_read_v * self.dg_nominal * y, cnt

    def read_t(self, d: np.ndarray) -> tuple[np.ndarray, Counts]:
        """Transposed read: currents on the rows (M, rows) for column drives d (M, cols) in
        units of V_rd (DAC levels in [-1, 1])."""
        y, cnt = self.read_units(d, transpose=True)
        return self.arch.synapse.v_read_v * self.dg_nominal * y, cnt

    def read_blocks(self, x: np.ndarray, tile_rows: int) -> tuple[np.ndarray, Counts]:
        """Forward read split by row tiles: partial currents (n_row_tiles, M, cols)."""
        y, cnt = self.read_blocks_units(x, tile_rows)
        return self.arch.synapse.v_read_v * self.dg_nominal * y, cnt

    def read_blocks_units(self, x: np.ndarray, tile_rows: int,
                          out: np.ndarray | None = None,
                          lines: tuple[np.ndarray, np.ndarray] | None = None,
                          ternary: bool = False) -> tuple[np.ndarray, Counts]:
        """:meth:`read_blocks` in units of ``V_rd * dG_nominal`` (into ``out`` where given:
        a C-contiguous array of the result's shape and dtype, which is returned; ``lines``
        and ``ternary`` as in :meth:`read_units`)."""
        x = np.asarray(x)
        dt = x.dtype if x.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        w = self.effective_weights(dt)
        n = -(-self.rows // tile_rows)
        shape = (n, x.shape[0], self.cols)
        if out is None:
            out = np.empty(shape, dtype=dt)
        else:
            _check_out("read_blocks_units", out, shape, dt)
        for b in range(n):
            r0, r1 = b * tile_rows, min((b + 1) * tile_rows, self.rows)
            np.matmul(x[:, r0:r1].astype(dt, copy=False), w[r0:r1], out=out[b])  # no temporary
        return out, self._read_counts(x, self._gsum_lines(), ternary, lines)

    def _read_counts(self, x: np.ndarray, gsum_lines: np.ndarray,
                     ternary: bool = False,
                     lines: tuple[np.ndarray, np.ndarray] | None = None) -> Counts:
        """Read energy: every driven line j delivers (x_j V_rd)^2 (G1 + G2) t_read per cell.
        ``ternary``: x is in {-1, 0, 1}, so sum(x^2) is the count of driven lines.
        ``lines``: x's per-line squares' sums and non-zero counts, where the caller has them
        (taken by the converter pass that made x, or from a convolution's feature map:
        :func:`kernels.window_line_stats`); refused unless there is one of each per line."""
        v = self.arch.synapse.v_read_v
        t = self.arch.synapse.read_ns
        if lines is None:   # (lines,) float64 and int64, one pass
            x2, nnz = kernels.line_stats(x, ternary)
        else:
            x2, nnz = lines
            if x2.shape != (x.shape[1],) or nnz.shape != (x.shape[1],):
                raise ValueError(f"read: line statistics of shapes {x2.shape}, {nnz.shape} "
                                 f"for {x.shape[1]} lines")
        e = float(v * v * t * _FJ_PER_V2_S_NS * (x2 @ gsum_lines))
        active = int(round(float(x2.sum()))) if ternary else int(nnz.sum())
        # the driven lines per column of x ride along for the per-tile counts
        return Counts(mvms=int(x.shape[0]), active_inputs=active, read_fj=e,
                      extra={"nnz_lines": nnz})  # type: ignore[dict-item]

    def state_read_fj(self) -> float:
        """Read energy of reading every cell once at V_rd, every row line driven (the
        state-aware periphery's read before a write): :meth:`_read_counts` of a row of ones,
        whose line statistics are kept (ones; the same dot product with the row sums)."""
        x2 = self._ones_x2
        if x2 is None:
            x2 = self._ones_x2 = kernels.line_stats(np.ones((1, self.rows)))[0]
        v = self.arch.synapse.v_read_v
        t = self.arch.synapse.read_ns
        return float(v * v * t * _FJ_PER_V2_S_NS * (x2 @ self._gsum_lines()))

    # ------------------------------------------------------------------ update
    def apply_pulses(self, pulse_ns: np.ndarray, polarity: np.ndarray,
                     rng: np.random.Generator) -> Counts:
        """One write pulse per cell (``polarity`` +1 = weight up, -1 = down, 0 = none).

        The programmed widths are quantised to the pulse generator's grid
        (:func:`quantize_widths`; widths from :class:`PulseMapper` already are). Cycle-to-cycle
        jitter of pulse width and current comes from the preset's variation. Draw order
        (reproducibility): pulse jitter, current jitter, u1, u2. The series current is
        recomputed when the first MTJ of a cell switches (:mod:`pnmsim.kernels`); binary pairs
        follow the same physics and a half-switched pair is kept as it is.
        """
        shape = (self.rows, self.cols)
        pulse = np.broadcast_to(quantize_widths(pulse_ns, self.arch.periphery.pulse_resolution_ns,
                                                self.arch.update.max_pulse_ns), shape)
        pol = np.ascontiguousarray(np.broadcast_to(np.asarray(polarity, dtype=np.int8), shape))
        var = self.arch.variation
        pulse = np.ascontiguousarray(mtj.jitter(pulse, var.pulse_jitter_sigma, rng))
        pulse = np.minimum(pulse, self.arch.update.max_pulse_ns)
        scale = np.ascontiguousarray(mtj.jitter(np.ones(shape), var.current_jitter_sigma, rng))
        u1 = rng.random(shape)
        u2 = rng.random(shape)
        out = np.zeros(4)
        d = self.arch.mtj
        s = self.arch.synapse
        kernels.update_cells(self.s1, self.s2, pulse, pol, scale, u1, u2,
                             self.rp1, self.rap1, self.m1.ic0_ua, self.m1.delta,
                             self.rp2, self.rap2, self.m2.ic0_ua, self.m2.delta,
                             s.v_write_v, s.r_access_ohm, d.tau_d_ns, d.tau0_ns, out,
                             float(d.ic0_asymmetry), float(d.tmr_v_half_v or 0.0))
        self._invalidate()
        return Counts(pulses=int(out[0]), switched=int(out[1]), write_fj=float(out[2]),
                      pulse_ns_total=float(out[3]))

    def update_per_cell(self, step: np.ndarray, mapper: PulseMapper,
                        rng: np.random.Generator, widths_out: list | None = None) -> Counts:
        """Scheme (b): the periphery computed a weight change ``step`` (rows, cols) in units of
        the level step L; each cell gets its own pulse: polarity sign(step), width from the
        fractional part |nu| (the saturating pulse where a whole step kappa >= 1 is asked)."""
        step = np.asarray(step, dtype=np.float64)
        mag = np.abs(step)
        kappa = np.floor(mag)
        nu = mag - kappa
        pol = np.sign(step).astype(np.int8)
        if mapper.state_aware:   # numba form of mapper.pulse_ns_cells (tested equal)
            pulse = kernels.state_aware_pulses(
                np.ascontiguousarray(nu), np.ascontiguousarray(kappa), self.s1, self.s2, pol,
                mapper.r_p, mapper.r_ap, mapper.r_access, mapper.v_write, mapper.ic0,
                mapper.delta, mapper.tau_d_ns, mapper.m, mapper.p_max, mapper.max_pulse_ns,
                self.binary, *mapper.kernel_physics())
            pulse = mapper.quantize(pulse)
        else:
            pulse = mapper.pulse_ns(nu, kappa)
        if widths_out is not None:
            widths_out.append(pulse)
        return self.apply_pulses(pulse, pol, rng)

    def update_per_cell_fused(self, step: np.ndarray, level_step: float, mapper: PulseMapper,
                              rng: np.random.Generator, tile_rows: int,
                              ) -> tuple[Counts, np.ndarray, np.ndarray, np.ndarray, int]:
        """:meth:`update_per_cell` with a state-aware mapper, for ``step`` in units of the
        weights (divided by ``level_step`` here) — one numba pass (:func:`kernels.per_cell_write`)
        that also keeps the conductances current for the cells that switched, instead of
        recomputing every cell's on the next read. Same draws in the same order as
        :meth:`apply_pulses` (pulse jitter, current jitter, u1, u2), so the same result bit for
        bit (tested). Returns the counts, the facts (widest pulse per row tile, column and
        polarity; columns read), pulsed cells per (row tile, column) and weights changed."""
        if not mapper.state_aware or self.binary:
            raise ValueError("the fused per-cell update needs state-aware pulses and a "
                             "ternary synapse")
        step = np.ascontiguousarray(step)
        shape = (self.rows, self.cols)
        if step.shape != shape:     # the kernel reads step[r, c] for every cell
            raise ValueError(f"update_per_cell_fused: step shape {step.shape} != the array's "
                             f"{shape}")
        gdiff, gsum = self._conductances()
        weff = self.effective_weights(np.float32)
        var = self.arch.variation
        mp, d, s = mapper, self.arch.mtj, self.arch.synapse
        nom = np.array([mp.r_p, mp.r_ap, mp.r_access, mp.v_write, mp.ic0, mp.delta, mp.tau_d_ns,
                        mp.m, mp.p_max, mp.max_pulse_ns, mp.resolution_ns], dtype=np.float64)
        nominal = (not var.pulse_jitter_sigma and not var.current_jitter_sigma
                   and s.v_write_v == mp.v_write and s.r_access_ohm == mp.r_access
                   and d.tau_d_ns == mp.tau_d_ns and self._devices_at(mp)
                   and not mp.physics_on)
        tables = _index_tables(nom) if nominal else None
        nominal = tables is not None
        thr, start, whole, key_lo = tables if tables is not None else _NO_TABLES
        # at nominal devices with a PCG64 generator the kernel draws u1 and u2 itself (the same
        # doubles, kernels/pcg64.py); otherwise they land in buffers kept between calls (the
        # same values as rng.random(shape): a Generator fills ``out`` in the same order)
        chains = pcg64_chains(rng, self.rows * self.cols) if nominal else None
        if chains is not None:
            zp = zc = u1 = u2 = _NO_DRAWS      # not read
        else:
            buf = getattr(self, "_draw_buf", None)
            if buf is None:
                buf = self._draw_buf = np.empty((4, *shape))
            zp, zc, u1, u2 = buf[0], buf[1], buf[2], buf[3]
            if var.pulse_jitter_sigma:
                rng.standard_normal(out=zp)
            if var.current_jitter_sigma:
                rng.standard_normal(out=zc)
            rng.random(out=u1)
            rng.random(out=u2)
        n_rt = -(-self.rows // tile_rows)
        col = np.zeros((n_rt, self.cols, 2))
        read = np.zeros((n_rt, self.cols), dtype=bool)
        pulsed = np.zeros((n_rt, self.cols), dtype=np.int64)
        out = np.zeros(5)
        # the kernel sums G1 + G2 along the lines as it goes (nominal path): the rows for the
        # next forward read, the columns where a transposed read has used them before
        g_rows = np.empty(self.rows) if nominal else _NO_LINES
        g_cols = (np.empty(self.cols) if nominal and self._cols_read and self.cols > 1
                  else _NO_LINES)
        wt = (_write_tables(nom, thr.shape[1], s.v_write_v, s.r_access_ohm, d.tau_d_ns,
                            d.tau0_ns, self.arch.update.max_pulse_ns,
                            self.arch.periphery.pulse_resolution_ns, self.dg_nominal)
              if nominal else _NO_WRITE_TABLES)
        kernels.per_cell_write(
            step, float(level_step), self.s1, self.s2, u1, u2, zp, zc,
            float(var.pulse_jitter_sigma), float(var.current_jitter_sigma),
            self.rp1, self.rap1, self.m1.ic0_ua, self.m1.delta,
            self.rp2, self.rap2, self.m2.ic0_ua, self.m2.delta, nom,
            s.v_write_v, s.r_access_ohm, d.tau_d_ns, d.tau0_ns, self.arch.update.max_pulse_ns,
            self.arch.periphery.pulse_resolution_ns,
            gdiff, gsum, weff, self.dg_nominal, tile_rows, col, read, pulsed, out, nominal,
            thr, start, whole, key_lo, _NO_CHAINS if chains is None else chains, *wt,
            g_rows, g_cols, *mp.kernel_physics())
        if chains is not None:
            set_state(rng, chains)
        # conductances, float32 weights and the line sums the kernel made are current; other
        # dtypes are not
        self._weff = {_F32: weff}
        self._gsum_rows = g_rows if g_rows.size else None
        self._gsum_cols = g_cols if g_cols.size else None
        cnt = Counts(pulses=int(out[0]), switched=int(out[1]), write_fj=float(out[2]),
                     pulse_ns_total=float(out[3]))
        return cnt, col, read, pulsed, int(out[4])

    def _devices_at(self, mapper: PulseMapper) -> bool:
        """Whether every device of both MTJs has exactly the mapper's nominal parameters
        (no device variation); checked once per mapper's values, on one device where every
        array holds one value (no variation: 8 compares of whole arrays cost ~5 ms on the
        MLP's first batch). The device arrays are sampled from the preset in ``__init__`` and
        are the crossbar's fixed physics: nothing in pnmsim writes them afterwards, and code
        that edits them in place (a fault injected by hand) gets the answer cached before."""
        key = (mapper.r_p, mapper.r_ap, mapper.ic0, mapper.delta)
        hit = getattr(self, "_nominal_key", None)
        if hit is None or hit[0] != key:
            # every sigma 0: mtj.sample_devices drew exactly the nominal for every device
            var = self.arch.variation
            one = not any((var.r_parallel_sigma, var.tmr_sigma, var.ic0_sigma,
                           var.delta_sigma))
            pairs = ((self.rp1, mapper.r_p), (self.rp2, mapper.r_p), (self.rap1, mapper.r_ap),
                     (self.rap2, mapper.r_ap), (self.m1.ic0_ua, mapper.ic0),
                     (self.m2.ic0_ua, mapper.ic0), (self.m1.delta, mapper.delta),
                     (self.m2.delta, mapper.delta))
            ok = all(bool(np.all((a.reshape(-1)[:1] if one else a) == nominal))
                     for a, nominal in pairs)
            self._nominal_key = (key, ok)
            hit = self._nominal_key
        return bool(hit[1])

    def update_outer_product(self, col_step: np.ndarray, x: np.ndarray, mapper: PulseMapper,
                             rng: np.random.Generator) -> Counts:
        """Scheme (a): one parallel rank-1 step ``dW = x (rows,) outer col_step (cols,)``.

        Column drivers set the pulse width from |col_step| (units of L) and its sign; row
        drivers gate with x in {-1, 0, +1} and flip the polarity where x < 0.
        """
        col_step = np.asarray(col_step, dtype=np.float64)
        mag = np.abs(col_step)
        kappa = np.floor(mag)
        width = mapper.pulse_ns(mag - kappa, kappa)                          # (cols,)
        pol = (np.sign(np.asarray(x))[:, None] * np.sign(col_step)[None, :]).astype(np.int8)
        return self.apply_pulses(np.broadcast_to(width, (self.rows, self.cols)), pol, rng)

    def update_outer_products(self, col_steps: np.ndarray, xs: np.ndarray, mapper: PulseMapper,
                              rng: np.random.Generator) -> Counts:
        """A sequence of rank-1 steps (outer-product scheme): step v has column steps
        ``col_steps[v]`` (units of L) and row gates ``xs[v]`` in {-1, 0, 1}. One numba call;
        its random stream is seeded from ``rng``."""
        col_steps = np.asarray(col_steps, dtype=np.float64)
        mag = np.abs(col_steps)
        kappa = np.floor(mag)
        widths = np.ascontiguousarray(mapper.pulse_ns(mag - kappa, kappa))
        signs = np.ascontiguousarray(np.sign(col_steps).astype(np.int8))
        xs8 = np.ascontiguousarray(np.sign(xs).astype(np.int8))
        seed = int(rng.integers(0, 2**31 - 1))
        out = np.zeros(4)
        d, s, v = self.arch.mtj, self.arch.synapse, self.arch.variation
        rp1, rap1, rp2, rap2 = self.rp1, self.rap1, self.rp2, self.rap2
        if self.arch.update.write_drive == "current":
            # current-source drivers: every cell gets the nominal +-1 cell current whatever its
            # state and resistances; the kernel's series current V / (R1 + R2 + R_access) is
            # made that current by giving it the nominal +-1 path resistance in every state
            # (with bias-dependent TMR the +-1 cell's bias-solved current, mapper.i_ref_ua)
            r_pm = (d.r_parallel_ohm * (2.0 + d.tmr) if d.tmr_v_half_v is None else
                    s.v_write_v / (mapper.i_ref_ua * 1e-6) - s.r_access_ohm)
            half = np.full(self.s1.shape, r_pm / 2.0)
            rp1 = rap1 = rp2 = rap2 = half
        kernels.outer_product_updates(
            self.s1, self.s2, xs8, widths, signs, rp1, rap1, self.m1.ic0_ua,
            self.m1.delta, rp2, rap2, self.m2.ic0_ua, self.m2.delta, s.v_write_v,
            s.r_access_ohm, d.tau_d_ns, d.tau0_ns, self.arch.update.max_pulse_ns,
            v.pulse_jitter_sigma, v.current_jitter_sigma, self.binary, seed, out,
            float(d.ic0_asymmetry), float(d.tmr_v_half_v or 0.0))
        self._invalidate()
        return Counts(pulses=int(out[0]), switched=int(out[1]), write_fj=float(out[2]),
                      pulse_ns_total=float(out[3]))
