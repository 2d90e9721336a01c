"""Synthetic operation records of one training mini-batch — the timed model's input without
running the functional model — for the schedule's benchmark (``benchmarks/schedule_speed.py``)
and its tests: every layer's feedforward, the backprop of every layer but the first, and a
state-aware per-cell update whose columns get random pulse widths (about 60 % pulsed)."""

from __future__ import annotations

import numpy as np

from pnmsim.mapping import NetworkMapping
from pnmsim.records import OpRecord, UpdateFacts


def training_batch_records(mapping: NetworkMapping, samples: int, sensing: str,
                           seed: int = 0, max_pulse_ns: float = 30.0) -> list[OpRecord]:
    """The records of a mini-batch of ``samples`` samples on ``mapping``: feedforward with
    ``sensing``, backprop, and per-cell updates with widths uniform in [0, ``max_pulse_ns``)
    ns, 40 % of them 0 (``seed`` fixes them); the digital unit computes every cell's step and
    sends it over the bus, as the per-cell scheme does."""
    rng = np.random.default_rng(seed)
    recs = []
    for i, mp in enumerate(mapping.layers):
        lay = mp.layer
        v = samples * lay.positions
        recs.append(OpRecord("feedforward", i, samples, v, sensing=sensing))
        if i > 0:
            recs.append(OpRecord("backprop", i, samples, v))
        col = rng.uniform(0, max_pulse_ns, (mp.row_tiles, lay.cols, 2))
        col[rng.random(col.shape) < 0.4] = 0.0
        recs.append(OpRecord("update", i, samples, v,
                             facts=UpdateFacts("per_cell", state_aware=True, col_pulse_ns=col,
                                               read_cols=(col > 0).any(axis=2)),
                             digital_ops=lay.rows * lay.cols, bus_words=lay.rows * lay.cols))
    return recs
