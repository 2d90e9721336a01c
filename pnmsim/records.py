"""What flows out of the functional model: operation records (facts for the timed model), the
action tally (counts for the cost roll-up) and the per-call phase context.

* :class:`PhaseContext` — passed by the network engine (:mod:`pnmsim.nn.network`) with every
  backend call: whether this forward is a training forward (batch statistics are digitised),
  the mini-batch's sample count, the learning rate of the step and the :class:`OpLog` the call
  reports into (``None``: nothing is counted or recorded, e.g. an evaluation pass). There is no
  mutable flag on the backend.
* :class:`OpRecord` — one array operation of one layer for one mini-batch, as **facts**:
  vectors, samples, sensing mode and, for the update, the write pulse widths in ns per tile,
  column and polarity (per-cell scheme) or per input vector and column tile (outer-product
  scheme). :mod:`pnmsim.hw` turns these into cycles; no cycle count is recorded here.
* :class:`Tally` — counts of hardware actions keyed by (phase, component, class, action);
  :mod:`pnmsim.results` prices them once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

PHASES: tuple[str, ...] = ("feedforward", "backprop", "update")


@dataclass
class UpdateFacts:
    """The data-dependent facts of one layer's weight update (all widths in ns, 0 = no pulse).

    ``scheme == "per_cell"``: ``col_pulse_ns[r, j, p]`` is the widest pulse column ``j`` needs
    in row tile ``r`` for polarity ``p`` (0: positive, 1: negative); ``read_cols[r, j]`` marks
    columns whose cells are read first (state-aware pulses only; all False otherwise).
    ``scheme == "outer_product"``: ``vec_pulse_ns[v, c]`` is the widest column pulse of input
    vector ``v`` in column tile ``c``; ``active[v]`` says whether vector ``v`` is applied at all
    (some row is driven and some column pulses).
    """

    scheme: str
    state_aware: bool = False
    col_pulse_ns: np.ndarray | None = None      # (row_tiles, cols, 2)
    read_cols: np.ndarray | None = None         # (row_tiles, cols) bool
    vec_pulse_ns: np.ndarray | None = None      # (vectors, col_tiles)
    active: np.ndarray | None = None            # (vectors,) bool


@dataclass
class OpRecord:
    """One array operation of one layer for one mini-batch, as the timed model needs it."""

    phase: str
    layer: int                 # weighted-layer index
    samples: int               # samples in the mini-batch
    vectors: int               # matrix-vector products (samples * positions)
    sensing: str = ""          # "comparators" | "adc" (feedforward)
    facts: UpdateFacts | None = None   # update: pulse widths, active vectors
    digital_ops: int = 0       # digital gradient MACs (per-cell update)
    optimizer_ops: int = 0     # optimiser parameter updates (per-cell update)
    bus_words: int = 0         # words moved over the interconnect (update)
    macs: int = 0              # synapse MACs this op stands for (ops = ops_per_mac * macs)

    def key(self) -> tuple:
        """A hashable identity of a feedforward/backprop record (its schedule depends on
        nothing else)."""
        return (self.phase, self.layer, self.samples, self.vectors, self.sensing)


Key = tuple[str, str, str, str]


class Tally:
    """Counts of hardware actions keyed by (phase, component, component class, action).

    :meth:`add` adds to :attr:`counts` at once. :meth:`add_planned` takes a fixed list of keys
    and integer counts (the per-tile counts of :mod:`pnmsim.counting`, a vector per call) and
    sums them per list in int64, into :attr:`counts` when it is next read: integers add up to
    the same float64 in any order (exactly, below 2**53 per key), so every value is the one
    adds in call order give, and each key still enters the dictionary at the call that first
    counts it (the same key order), while a training step costs a vector add per list instead
    of a dictionary update per key.
    """

    def __init__(self) -> None:
        self._counts: dict[Key, float] = defaultdict(float)
        self.macs: dict[str, float] = defaultdict(float)
        # id(keys) -> [keys, int64 sums since the last read, indices of keys not in _counts]
        self._pending: dict[int, list] = {}

    @property
    def counts(self) -> dict[Key, float]:
        """Every count (planned sums included), by key."""
        if self._pending:
            self._flush()
        return self._counts

    @counts.setter
    def counts(self, value: dict[Key, float]) -> None:
        self._pending = {}
        self._counts = defaultdict(float, value)

    def _flush(self) -> None:
        c = self._counts
        for keys, acc, _ in self._pending.values():
            for k, v in zip(keys, acc.tolist(), strict=True):
                if v:
                    c[k] += float(v)
        self._pending = {}

    def add(self, phase: str, component: str, cls: str, action: str, n: float) -> None:
        if n:
            self._counts[(phase, component, cls, action)] += float(n)

    def add_planned(self, keys: list[Key], values: np.ndarray) -> None:
        """Add non-negative integer counts ``values`` (int64, one per key; zeros are not
        counted, as :meth:`add` does not) to ``keys``, a list that stays the same object and
        unchanged between calls."""
        ent = self._pending.get(id(keys))
        if ent is None or ent[0] is not keys:
            c = self._counts
            ent = self._pending[id(keys)] = [
                keys, np.zeros(len(keys), dtype=np.int64),
                np.array([i for i, k in enumerate(keys) if k not in c], dtype=np.int64)]
        missing = ent[2]
        if missing.size and values[missing].any():   # keys counted for the first time
            c = self._counts
            for i in missing[values[missing] != 0].tolist():
                c.setdefault(keys[i], 0.0)     # the position add's first call gives it
            ent[2] = missing[values[missing] == 0]
        ent[1] += values

    def planned_sums(self, keys: list[Key]) -> np.ndarray | None:
        """The int64 sums :meth:`add_planned` keeps for ``keys`` since the last read, where
        every one of the keys is already in the dictionary (a caller may add non-negative
        integer counts into them in place: the same as :meth:`add_planned`, which then has
        no key to enter); None otherwise (then :meth:`add_planned`)."""
        ent = self._pending.get(id(keys))
        if ent is None or ent[0] is not keys or ent[2].size:
            return None
        return ent[1]  # type: ignore[no-any-return]

    def merge(self, other: Tally) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for k, v in other.macs.items():
            self.macs[k] += v

    def clear(self) -> None:
        self._counts.clear()
        self.macs.clear()
        self._pending = {}

    def rows(self) -> list[tuple[str, str, str, str, float]]:
        return [(*k, v) for k, v in sorted(self.counts.items())]

    def __getstate__(self) -> dict:
        return {"_counts": self.counts, "macs": self.macs, "_pending": {}}


@dataclass
class OpLog:
    """Where a backend call reports: the run's tally and the current mini-batch's records."""

    tally: Tally = field(default_factory=Tally)
    records: list[OpRecord] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Lowered:
    """What a convolution's input matrix is: ``im2col_nhwc(source, kernel, stride, padding)``
    (rows (n, oy, ox), columns (c, ky, kx); :mod:`pnmsim.nn.layers`) of the feature map
    ``source`` (N, H, W, C). A backend may take per-line statistics of the matrix from the
    map, which is ``kernel**2 / stride**2`` times smaller. Compared and hashed by identity
    (it holds an array)."""

    source: np.ndarray
    kernel: int
    stride: int
    padding: int

    def matrix_shape(self) -> tuple[int, int]:
        """The lowered matrix's shape, (N * OH * OW, C * kernel**2); (-1, -1) for a source
        that is not an (N, H, W, C) map."""
        from pnmsim.kernels.engine import conv_out_size  # numba: not at records' import

        src, k, st, pad = self.source, self.kernel, self.stride, self.padding
        if src.ndim != 4 or k < 1 or st < 1:
            return -1, -1
        oh, ow = conv_out_size(src.shape[1], k, st, pad), conv_out_size(src.shape[2], k, st, pad)
        return src.shape[0] * oh * ow, src.shape[3] * k * k

    def check(self, rows: int, cols: int, where: str) -> None:
        """Refuse a description that does not match the (rows, cols) matrix it is passed
        with (a caller's bug: the network always passes its own lowering)."""
        if self.matrix_shape() != (rows, cols):
            raise ValueError(f"{where}: the map {self.source.shape} lowered with kernel "
                             f"{self.kernel}, stride {self.stride}, padding {self.padding} is a "
                             f"{self.matrix_shape()} matrix, not the ({rows}, {cols}) one given")


@dataclass(frozen=True)
class PhaseContext:
    """Per-call context of a backend operation (see the module docstring)."""

    training_forward: bool = False   # forward sensing for batch statistics (ADC)
    samples: int = 0                 # samples in the mini-batch (0: derive from the vectors)
    lr: float = 0.0                  # learning rate of this training step
    log: OpLog | None = None         # None: neither counted nor recorded


__all__ = ["PHASES", "Lowered", "OpLog", "OpRecord", "PhaseContext", "Tally", "UpdateFacts"]
