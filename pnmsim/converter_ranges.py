"""Fixed full scales of the converters around the arrays (science.md §6: no oracle converters).

An ADC or DAC is built for one input range; it cannot re-range itself on every call from the
data it is about to convert. pnmsim therefore keeps one **fixed** full scale per converter group
(key), set once and then used unchanged:

* ``fwd.{i}`` — ADC of layer i's forward line currents (weighted-sum units, ``x @ W``);
* ``psum.{i}`` — ADC of one row tile's partial sums (``partial_sums: digital``);
* ``dac.{i}`` — DAC of layer i's backprop errors, in *per-sample* units (the batch-mean error
  times the batch size B, a known constant the digital periphery multiplies and divides by
  exactly, so the range does not depend on B);
* ``bwd.{i}`` — ADC of layer i's transposed-read row currents (units of the DAC levels).

Where the ranges come from, in order:

1. **stored with the model** — ``pnmsim train`` keeps running statistics of every converter's
   input and re-sets the ranges from them after each epoch (a calibration step between epochs,
   like batch-norm's running statistics); the checkpoint stores them (``backend.ranges``) and
   the embedded model carries ``ranges`` computed from the MNIST training split
   (benchmarks/export_model.py ``--add-ranges``);
2. **fallback for a checkpoint without ranges** — ``pnmsim simulate`` runs one set-up pass (not
   counted) over a fixed number of the input samples (:data:`CALIBRATION_SAMPLES`, independent
   of ``system.batch_size``) and sets the ranges from its statistics;
3. **first use** — a key still unset when first converted (the first training batch) is set
   from that call's statistics, once.

ADC full scale = ``adc_range_sigmas`` standard deviations of the signal's statistics; DAC full
scale = the largest |value| seen (a DAC must cover the errors it drives; larger ones saturate).
Statistics are taken on a deterministic strided subsample (<= 2**16 values) of each call, and
only those the converter's kind uses (an ADC's count and sums, a DAC's largest |value|).
"""

from __future__ import annotations

import json

import numpy as np

CALIBRATION_SAMPLES = 256
"""Samples of the simulate fallback's set-up pass (a fixed number: ranges do not depend on the
batch size)."""

_SUB = 16   # subsample to <= 2**16 values per call


def subsample_step(size: int) -> int:
    """The stride of the statistics' subsample of a signal of ``size`` values."""
    return max(1, size >> _SUB)


def _subsample(y: np.ndarray) -> np.ndarray:
    flat = np.asarray(y).reshape(-1)
    return flat[::subsample_step(flat.size)]


def _is_dac(key: str) -> bool:
    return key.startswith("dac.")


def _stats(y: np.ndarray, dac: bool) -> tuple[float, float, float, float]:
    """(n, sum, sum of squares, max |y|) of the subsample of a real (float, integer or bool)
    signal, the sums in float64 — of which a converter's full scale uses only its own kind's
    (:meth:`ConverterRanges._from_stats`): a DAC's (``dac``) the count and max |y| (its sums
    are given as 0.0), an ADC's the count and the sums (its max as 0.0). max |y| is taken as
    |max(max, -min)| on the subsample (a contiguous one in its own dtype, a strided one on its
    float64 copy, which avoids two more strided passes): the same value as the largest float64
    |y| (conversion and negation are exact and keep the order; the outer abs makes an all -0.0
    signal's 0.0), without a float64 |y| temporary; where that is a NaN, the float64 |y|
    maximum as before (a NaN with a payload would otherwise keep other bits)."""
    sub = _subsample(y)
    if not sub.size:
        return 0.0, 0.0, 0.0, 0.0
    if not dac:
        return _sub_stats(sub.astype(np.float64), dac)
    return _sub_stats(sub if sub.flags.c_contiguous else sub.astype(np.float64), dac)


def _sub_stats(sub: np.ndarray, dac: bool) -> tuple[float, float, float, float]:
    """:func:`_stats` of the subsample itself: a contiguous float64 array (an ADC's), or for a
    DAC a contiguous array of the signal's dtype or its float64 copy (the same maximum)."""
    if not dac:
        return float(sub.size), float(sub.sum()), float(sub @ sub), 0.0
    mx = abs(max(float(sub.max()), -float(sub.min())))
    if mx != mx:   # a NaN: the float64 |y| maximum itself, so that a NaN's payload bits match
        mx = float(np.abs(sub.astype(np.float64)).max())
    return float(sub.size), 0.0, 0.0, mx


class ConverterRanges:
    """Fixed converter full scales (``fixed``) plus running statistics for re-calibration."""

    def __init__(self, adc_range_sigmas: float) -> None:
        self.adc_range_sigmas = adc_range_sigmas
        self.fixed: dict[str, float] = {}
        self._stats: dict[str, list[float]] = {}   # key -> [n, sum, sum of squares, max |y|]
        self.observing = True   # False: convert without gathering statistics (evaluation)
        self._buf = np.empty(0)   # subsamples gathered by converter passes

    def _observe(self, key: str, y: np.ndarray,
                 stats: tuple[float, float, float, float] | None = None) -> None:
        """Add ``y``'s statistics (``stats``: already taken from ``y``)."""
        self._add(key, stats if stats is not None else _stats(y, _is_dac(key)))

    def gathered(self, key: str, size: int) -> tuple[np.ndarray, int] | None:
        """Where a converter pass can gather the statistics' subsample itself
        (:mod:`pnmsim.kernels.observed`): for a key with a positive range set (what those
        passes convert with) while statistics are gathered, a float64 buffer for the subsample
        of a signal of ``size`` values and its stride; None otherwise (then :meth:`full_scale`
        on the signal, as before). The buffer is valid until the next call; hand it back
        filled with :meth:`observe_gathered`."""
        if not self.observing or not self.fixed.get(key, 0.0) > 0 or size == 0:
            return None
        every = subsample_step(size)
        n = -(-size // every)
        if self._buf.size < n:
            self._buf = np.empty(n)
        return self._buf[:n], every

    def observe_gathered(self, key: str, sub: np.ndarray) -> None:
        """Add the statistics of a subsample :meth:`gathered` handed out, filled by the
        converter pass (the values of the signal's subsample in float64): the same as
        :meth:`full_scale` on the signal would add."""
        self._add(key, _sub_stats(sub, _is_dac(key)))

    def _add(self, key: str, stats: tuple[float, float, float, float]) -> None:
        n, s1, s2, mx = stats
        st = self._stats.setdefault(key, [0.0, 0.0, 0.0, 0.0])
        if n:
            st[0] += n
            st[1] += s1
            st[2] += s2
            st[3] = max(st[3], mx)

    def _from_stats(self, key: str, st: list[float]) -> float:
        if _is_dac(key):
            return st[3]
        n = st[0]
        if n == 0:
            return 0.0
        var = max(st[2] / n - (st[1] / n) ** 2, 0.0)
        return self.adc_range_sigmas * float(np.sqrt(var))

    def full_scale(self, key: str, y: np.ndarray) -> float:
        """The fixed full scale of converter group ``key``; ``y`` (the signal being converted)
        only feeds the running statistics, except on a key's first use (set from it, once)."""
        st = None
        if key not in self.fixed:
            st = _stats(y, _is_dac(key))
            self.fixed[key] = self._from_stats(key, list(st))
        if self.observing:   # on a first use, the statistics just taken
            self._observe(key, y, st)
        return self.fixed[key]

    def calibrate(self) -> None:
        """Set every observed key's range from the statistics gathered since the last call,
        and start new statistics."""
        for key, st in self._stats.items():
            if st[0] > 0:
                self.fixed[key] = self._from_stats(key, st)
        self._stats = {}

    def reset(self) -> None:
        """Forget every range and statistic (the next uses set them again)."""
        self.fixed = {}
        self._stats = {}

    def to_array(self) -> np.ndarray:
        """The fixed ranges as JSON bytes (uint8), for checkpoints."""
        return np.frombuffer(json.dumps(self.fixed, sort_keys=True).encode(),
                             dtype=np.uint8).copy()

    def load_array(self, blob: np.ndarray) -> None:
        """Load ranges written by :meth:`to_array`."""
        d = json.loads(np.asarray(blob, dtype=np.uint8).tobytes())
        self.fixed = {str(k): float(v) for k, v in d.items()}
        self._stats = {}
