"""The functional hardware model of a whole network: one :class:`~pnmsim.crossbar.Crossbar` per
weighted layer plus the converters around it, as a :class:`~pnmsim.nn.network.MatrixBackend`.

The GXNOR network engine (:mod:`pnmsim.nn.network`) calls :meth:`ArrayBackend.matmul`
(feedforward read), :meth:`ArrayBackend.matmul_t` (transposed read for backprop) and
:meth:`ArrayBackend.update` (stochastic MTJ writes), each with a
:class:`~pnmsim.records.PhaseContext`. Each call

* computes the values through the crossbar physics and the converters' quantisation,
* counts every hardware action and physical quantity (fJ of reads and writes, ns of write
  pulses; :mod:`pnmsim.counting`) into the context's tally — priced later, once, by
  :mod:`pnmsim.costs` and rolled up by :mod:`pnmsim.results`; no price or latency is looked
  up here — and
* appends an :class:`~pnmsim.records.OpRecord` of *facts* to the context's records: vectors,
  samples, sensing, and for the update the pulse widths in ns per tile, column and polarity.
  :mod:`pnmsim.hw` turns the facts into cycles; nothing here converts time or prices.

Why the timed model consumes records instead of calling the crossbar from inside SimPy
processes (design.md rule 2): the dataflow between arrays (batch-norm, pooling, the STE window)
lives in the network engine's digital periphery, which runs a whole mini-batch per call. The
arithmetic still exists once — here — and a functional-only run is the same code without the
schedule, so timed and functional results are identical by construction (tested).

Values are carried in *weighted-sum units*: a sensed current I is reported as
``I / (V_rd * dG_nominal)``, which equals ``x @ W`` exactly without variation.

Converters (science.md §5):
* first layer: real-valued inputs in [-1, 1] through ``input_dac_bits`` DACs;
* forward sensing: ``comparators`` (inference, BN folded into two thresholds per neuron: exact
  in value) or ``adc`` (training forward: pre-activations digitised for batch statistics); the
  last layer (no activation) is always digitised;
* partial sums of a layer split over row tiles: ``analog`` joins up to
  ``array.max_analog_fanin`` tiles' column lines on one sensed line; more tiles (or
  ``digital``) are sensed per group, digitised and added digitally (thresholds then digital);
* every ADC and DAC has a fixed full scale, set once (stored with the model, or calibrated;
  :mod:`pnmsim.converter_ranges`): ``adc_range_sigmas`` standard deviations of its signal's
  statistics, not of each call's own data;
* backprop: errors quantised by ``dac_bits`` DACs (per-sample units: the batch size is a known
  constant the periphery multiplies by before the DAC and divides by after the ADC), row
  currents digitised by ADCs per column tile, partial sums added digitally.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pnmsim import kernels
from pnmsim.config import ArchConfig
from pnmsim.converter_ranges import ConverterRanges
from pnmsim.counting import (
    count_backward,
    count_forward,
    count_outer_update,
    count_per_cell_update,
    count_update_common,
)
from pnmsim.crossbar import Crossbar
from pnmsim.mapping import LayerMapping, NetworkMapping, map_network, sense_groups
from pnmsim.nn.layers import col2im_nhwc
from pnmsim.outer_rules import OuterRule
from pnmsim.pulses import PulseMapper
from pnmsim.records import PHASES, Lowered, OpLog, OpRecord, PhaseContext, Tally, UpdateFacts
from pnmsim.workload import WeightedLayer, Workload

__all__ = ["PHASES", "ArrayBackend", "OpRecord", "Tally", "per_cell_facts"]


@dataclass
class _Layer:
    spec: WeightedLayer
    map: LayerMapping
    xbar: Crossbar
    rng: np.random.Generator


def per_cell_facts(width: np.ndarray, sign: np.ndarray, mp: LayerMapping,
                   state_aware: bool) -> UpdateFacts:
    """The per-cell update's facts: the widest pulse (ns) of each column in each row tile per
    polarity, and which columns are read first (state-aware pulses: every column written)."""
    rows = mp.layer.rows
    pad = mp.row_tiles * mp.tile_rows - rows
    w = np.where(sign > 0, width, 0.0)
    neg = np.where(sign < 0, width, 0.0)
    if pad:
        z = np.zeros((pad, width.shape[1]))
        w, neg, anyw = (np.vstack([w, z]), np.vstack([neg, z]),
                        np.vstack([width, z]))
    else:
        anyw = width
    shape = (mp.row_tiles, mp.tile_rows, width.shape[1])
    col = np.stack([w.reshape(shape).max(axis=1), neg.reshape(shape).max(axis=1)], axis=-1)
    read = (anyw.reshape(shape) > 0).any(axis=1) if state_aware else np.zeros(
        (mp.row_tiles, width.shape[1]), dtype=bool)
    return UpdateFacts("per_cell", state_aware=state_aware, col_pulse_ns=col, read_cols=read)


class ArrayBackend:
    """All weighted layers of a network on simulated MTJ crossbars (no tally, no flags: each
    call reports into its :class:`~pnmsim.records.PhaseContext`'s log)."""

    #: state-aware per-cell updates of ternary layers through the one-pass kernel
    #: (:meth:`Crossbar.update_per_cell_fused`, bit-identical to the three-step path; tests that
    #: watch the three steps switch it off)
    fused_update = True
    #: converter passes gather their range statistics' subsample as they convert
    #: (:mod:`pnmsim.kernels.observed`; the same statistics and values as a separate pass
    #: over the signal first, tested; tests that compare the two switch it off)
    fused_converters = True

    def __init__(self, arch: ArchConfig, workload: Workload, seed: int) -> None:
        self.arch = arch
        self.workload = workload
        self.mapping: NetworkMapping = map_network(workload, arch)
        self.binary = workload.weights == "binary"
        self.n_bits = 0 if self.binary else 1
        self.level_step = 2.0 if self.binary else 1.0   # GXNOR L = 2H / 2^N with H = 1
        self.mapper = PulseMapper(arch)
        up = arch.update
        self.outer_rule = OuterRule(up.outer_rule, up.outer_beta2, up.outer_rank,
                                    up.outer_beta1, clusters=up.outer_clusters,
                                    levels=up.outer_levels, gate=up.outer_gate,
                                    probes=up.outer_probes, debias=up.outer_debias,
                                    real_inputs=up.outer_real_inputs)
        self.ranges = ConverterRanges(arch.periphery.adc_range_sigmas)   # fixed full scales
        # one independent stream per layer for devices and writes, so the order in which
        # layers are touched never changes the draws (reproducibility)
        ss = np.random.SeedSequence(seed)
        self._seeds = ss.spawn(len(self.mapping.layers))
        self._layers: dict[int, _Layer] = {}
        self._active: dict[int, int] = {}   # driven input lines of each layer's last forward
        self._last_m: dict[int, int] = {}
        self._scratch: dict[tuple[str, int], np.ndarray] = {}

    def _buffer(self, name: str, index: int, shape: tuple[int, ...]) -> np.ndarray:
        """A float32 work array this backend reuses from call to call: the sensed partial sums
        of a read and the DAC levels of the backprop errors (their contents do not outlive the
        call that fills them) and the backprop result (valid until the layer's next
        matmul_t). Fresh arrays of this size every mini-batch cost page faults when the
        allocator has handed the memory back to the system in between (CNN: a 20 MB transposed
        read, 10.6 -> 7.9 ms)."""
        buf = self._scratch.get((name, index))
        if buf is None or buf.shape != shape:
            buf = self._scratch[(name, index)] = np.empty(shape, dtype=np.float32)
        return buf

    # ------------------------------------------------------------------ MatrixBackend
    def init_layer(self, index: int, layer: WeightedLayer, w: np.ndarray) -> None:
        rng = np.random.default_rng(self._seeds[index])
        xb = Crossbar(layer.rows, layer.cols, self.arch, rng, binary=self.binary)
        xb.set_weights(w)
        self._layers[index] = _Layer(layer, self.mapping.layers[index], xb, rng)

    def weights(self, index: int) -> np.ndarray:
        return self._layers[index].xbar.weights()

    def crossbar(self, index: int) -> Crossbar:
        return self._layers[index].xbar

    @staticmethod
    def _log(ctx: PhaseContext) -> OpLog:
        return ctx.log if ctx.log is not None else OpLog()

    @staticmethod
    def _samples(ctx: PhaseContext, vectors: int, layer: WeightedLayer) -> int:
        return ctx.samples or max(1, vectors // layer.positions)

    def _gathering(self, key: str, y: np.ndarray) -> tuple[np.ndarray, int] | None:
        """Where converter group ``key`` converts ``y`` and gathers its statistics in one
        pass: its subsample buffer and stride (:meth:`ConverterRanges.gathered`, for a float
        signal below the size the threaded kernels take), else None."""
        if not self.fused_converters or y.dtype not in (np.float32, np.float64) \
                or y.size >= kernels.PARALLEL_MIN:
            return None
        return self.ranges.gathered(key, y.size)

    def _adc(self, y: np.ndarray, key: str, out_scale: float = 1.0) -> np.ndarray:
        """Digitise a sensed signal (a temporary this backend owns: converted in place) with the
        fixed full scale of converter group ``key``."""
        y = np.ascontiguousarray(y)
        got = self._gathering(key, y) if y.flags.writeable else None
        if got is not None:
            kernels.quantize_observed(y, self.ranges.fixed[key], self.arch.periphery.adc_bits,
                                      out_scale, *got)
            self.ranges.observe_gathered(key, got[0])
            return y
        return kernels.quantize_symmetric(y, self.ranges.full_scale(key, y),
                                          self.arch.periphery.adc_bits, out_scale, inplace=True)

    def _groups(self, ctx: PhaseContext, vectors: int, layer: WeightedLayer) -> int:
        """Tile operations the controller issues per tile: one per issue group of samples."""
        g = self.arch.system.issue_group
        return -(-self._samples(ctx, vectors, layer) // g)

    @staticmethod
    def _lines(lay: WeightedLayer, x: np.ndarray,
               lowered: Lowered | None) -> tuple[np.ndarray, np.ndarray] | None:
        """The driven lines' statistics of a convolution's activations taken from the
        feature map (:func:`kernels.window_line_stats`: the same values as from the lowered
        matrix, whose entries' squares are integers), where ``lowered`` describes ``x``;
        None for the first layer (its DAC levels' squares are not integers: their sums
        depend on the order of additions, so the input DAC's pass takes them from the
        matrix as always)."""
        if lowered is None or lay.first:
            return None
        lowered.check(x.shape[0], x.shape[1], f"matmul of layer {lay.name}")
        return kernels.window_line_stats(lowered.source, lowered.kernel, lowered.stride,
                                         lowered.padding)

    def matmul(self, index: int, x: np.ndarray, ctx: PhaseContext,
               lowered: Lowered | None = None) -> np.ndarray:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        log = self._log(ctx)
        m = x.shape[0]
        xin = np.asarray(x, dtype=np.float32)
        if lay.first:   # the input DAC, the driven levels' line statistics in the same pass
            xin, lines = kernels.quantize_lines(xin, 1.0, a.periphery.input_dac_bits)
        else:
            lines = self._lines(lay, xin, lowered)
        last = index == len(self.mapping.layers) - 1
        if ctx.training_forward:
            sensing = a.periphery.training_forward_sensing
        else:
            sensing = "adc" if last else a.periphery.forward_sensing
        groups, per = sense_groups(a, mp)
        if groups > 1:   # every sensed group of row tiles is digitised, then they are added
            parts, cnt = L.xbar.read_blocks_units(
                xin, mp.tile_rows * per, out=self._buffer("psum", index, (groups, m, lay.cols)),
                lines=lines, ternary=not lay.first)
            key = f"psum.{index}"   # each group digitised, the groups added: one pass
            got = self._gathering(key, parts) if parts[0].size > 1 else None
            if got is not None:
                y = kernels.quantize_sum_observed(parts, self.ranges.fixed[key],
                                                  a.periphery.adc_bits, *got)
                self.ranges.observe_gathered(key, got[0])
            else:
                y = kernels.quantize_sum(parts, self.ranges.full_scale(key, parts),
                                         a.periphery.adc_bits)
        else:
            y, cnt = L.xbar.read_units(xin, ternary=not lay.first, lines=lines)
            if sensing == "adc":
                y = self._adc(y, f"fwd.{index}")
        self._active[index] = cnt.active_inputs
        self._last_m[index] = m
        count_forward(log.tally, a, mp, xin, cnt.read_fj, sensing, groups, per,
                      self._groups(ctx, m, lay), nnz_lines=cnt.extra.get("nnz_lines"))
        log.records.append(OpRecord("feedforward", index, self._samples(ctx, m, lay), m,
                                    sensing=sensing, macs=m * lay.rows * lay.cols))
        return np.asarray(y, dtype=np.float32)

    def _adc_fold(self, y: np.ndarray, key: str, out_scale: float,
                  low: Lowered) -> np.ndarray:
        """:meth:`_adc` of a convolution's transposed-read currents ``y`` (the lowered
        matrix's rows), folded back onto the input map (col2im): one pass that converts each
        sample's rows just before adding them in (:func:`kernels.quantize_col2im_observed`)
        where the converter gathers its statistics itself, else the two steps."""
        k, st, pad = low.kernel, low.stride, low.padding
        got = None
        if self.fused_converters and y.dtype in (np.float32, np.float64) \
                and y.flags.c_contiguous:
            got = self.ranges.gathered(key, y.size)
        if got is None:
            return col2im_nhwc(self._adc(y, key, out_scale), low.source.shape, k, st, pad)
        out = kernels.quantize_col2im_observed(y, low.source.shape, k, st, pad,
                                               self.ranges.fixed[key],
                                               self.arch.periphery.adc_bits, out_scale, *got)
        self.ranges.observe_gathered(key, got[0])
        return out

    def matmul_t(self, index: int, delta: np.ndarray, ctx: PhaseContext,
                 lowered: Lowered | None = None) -> np.ndarray:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        log = self._log(ctx)
        m = delta.shape[0]
        if lowered is not None:
            lowered.check(m, lay.rows, f"matmul_t of layer {lay.name}")
        # per-sample errors: times the batch size B (exact digital scaling), so that the fixed
        # DAC range does not depend on B; the ADC output is divided by B again (out_scale)
        b = float(self._samples(ctx, m, lay))
        delta = np.ascontiguousarray(delta, dtype=np.float32)
        dkey = f"dac.{index}"
        got = self._gathering(dkey, delta)
        lines = None      # dn's line statistics, where the DAC pass takes them
        if got is not None and delta.ndim == 2:
            # scaled, its statistics gathered, quantised, normalised, its driven lines
            # counted: one pass
            dmax = self.ranges.fixed[dkey]
            dn, lines = kernels.dac_observed(delta, b, dmax, a.periphery.dac_bits,
                                             self._buffer("dac", index, delta.shape), *got)
            self.ranges.observe_gathered(dkey, got[0])
        else:
            d = delta * np.float32(b)
            dmax = self.ranges.full_scale(dkey, d)
            dq = kernels.quantize_symmetric(d, dmax, a.periphery.dac_bits, inplace=True)
            # DAC levels in [-1, 1], in place (dq's own values are not needed again)
            dn = np.divide(dq, np.float32(dmax), out=dq) if dmax > 0 else dq
        # each column tile senses its own row currents (ADC), partial sums added digitally
        # (the result is a work array, valid until this layer's next matmul_t: the protocol's
        # contract; Network.backward consumes it at once)
        if mp.col_tiles == 1:
            part, cnt = L.xbar.read_units(dn, transpose=True,
                                          out=self._buffer("bwd", index, (m, lay.rows)),
                                          lines=lines)
            if lowered is not None:   # a convolution: folded back onto its input map
                out = self._adc_fold(part, f"bwd.{index}", dmax / b, lowered)
            else:
                out = self._adc(part, f"bwd.{index}", dmax / b)
        else:
            out = self._buffer("bwd.sum", index, (m, lay.rows))
            w = L.xbar.effective_weights(np.float32)
            part = self._buffer("bwd", index, (m, lay.rows))
            key = f"bwd.{index}"
            for c in range(mp.col_tiles):
                c0, c1 = c * mp.tile_cols, min((c + 1) * mp.tile_cols, lay.cols)
                np.matmul(dn[:, c0:c1], w[:, c0:c1].T, out=part)
                got = self._gathering(key, part)
                if got is not None:   # digitised and added in one pass: out = 0 + q, out += q
                    kernels.quantize_add_observed(part, out, c == 0, self.ranges.fixed[key],
                                                  a.periphery.adc_bits, dmax / b, *got)
                    self.ranges.observe_gathered(key, got[0])
                    continue
                if c == 0:
                    out[...] = 0.0
                out += self._adc(part, key, dmax / b)
            cnt = L.xbar._read_counts(dn, L.xbar._gsum_lines(transpose=True), lines=lines)
            if lowered is not None:
                out = col2im_nhwc(out, lowered.source.shape, lowered.kernel, lowered.stride,
                                  lowered.padding)
        # the driven column lines: dn's non-zero entries (nnz_lines), which are the quantised
        # errors' (dn = dq / dmax); count_backward reads only those counts and dn's shape
        count_backward(log.tally, a, mp, dn, cnt.read_fj, self._groups(ctx, m, lay),
                       nnz_lines=cnt.extra.get("nnz_lines"))
        log.records.append(OpRecord("backprop", index, self._samples(ctx, m, lay), m,
                                    macs=m * lay.rows * lay.cols))
        return np.asarray(out, dtype=np.float32)

    def update(self, index: int, step: np.ndarray, x: np.ndarray, delta: np.ndarray,
               ctx: PhaseContext) -> dict[str, float]:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        log = self._log(ctx)
        t = log.tally
        fused = False
        before = None if (self.fused_update and a.update.scheme == "per_cell"
                          and self.mapper.state_aware and not self.binary) else L.xbar.weights()
        m = x.shape[0]
        # interconnect: the per-cell scheme's chip-wide digital unit sends every cell its step
        # code (rows x cols words); the outer-product drivers read x and delta from the
        # layer's own buffer, next to its tiles (nothing crosses the shared bus)
        bus = lay.rows * lay.cols if a.update.scheme == "per_cell" else 0
        if a.update.scheme == "per_cell":
            got: list[np.ndarray] = []
            rd = 0.0
            if self.mapper.state_aware:   # the periphery reads every cell before writing
                # each cell read once at V_rd: the crossbar's read energy with every line driven
                rd = L.xbar.state_read_fj()
            fused = self.fused_update and self.mapper.state_aware and not self.binary
            if fused:   # one numba pass, bit-identical to the three steps below (tested)
                cnt, col, read, pulsed, n_changed = L.xbar.update_per_cell_fused(
                    step, self.level_step, self.mapper, L.rng, mp.tile_rows)
                facts = UpdateFacts("per_cell", state_aware=True, col_pulse_ns=col,
                                    read_cols=read)
                width, sign = None, None
            else:
                step_l = np.asarray(step, dtype=np.float64) / self.level_step   # units of L
                sign = np.sign(step_l)
                cnt = L.xbar.update_per_cell(step_l, self.mapper, L.rng, got)
                width, pulsed = got[0], None
                facts = per_cell_facts(width, sign, mp, self.mapper.state_aware)
            # dW = x^T delta with x the layer's input of this batch's forward (counted there)
            nnz_x = self._active.get(index)
            if nnz_x is None or x.shape[0] != self._last_m.get(index):
                nnz_x = int(np.count_nonzero(x))
            grad_macs = nnz_x * lay.cols
            count_per_cell_update(t, mp, width, sign, facts.col_pulse_ns, self.mapper.state_aware,
                                  rd, grad_macs, m, cnt.pulse_ns_total, pulsed_cols=pulsed)
            digital = (grad_macs, lay.rows * lay.cols)
        else:
            # plain SGD, one rank-1 step per input vector: dW_v = -lr * x_v delta_v^T (delta
            # already carries the 1/B of the batch mean), in units of L. Row drivers gate with
            # sign(x): for the real-valued first-layer inputs only the sign is applied.
            # update.outer_rule (pnmsim.outer_rules) says which rank-1 steps: one per vector
            # (sgd, column_norm) or a few per batch from the batch gradient (low_rank)
            ro = self.outer_rule.steps(index, x, delta, ctx.lr / self.level_step)
            col_steps, xs = ro.col_steps, ro.xs
            mag = np.abs(col_steps)
            kappa = np.floor(mag)
            widths = self.mapper.pulse_ns(mag - kappa, kappa)                      # (M, cols)
            cnt = L.xbar.update_outer_products(col_steps, xs, self.mapper, L.rng)
            active = (widths > 0).any(axis=1) & (xs != 0).any(axis=1)
            pad = mp.col_tiles * mp.tile_cols - lay.cols
            wp = np.pad(widths, ((0, 0), (0, pad))) if pad else widths
            vec = wp.reshape(len(wp), mp.col_tiles, mp.tile_cols).max(axis=2, initial=0.0)
            facts = UpdateFacts("outer_product", vec_pulse_ns=vec, active=active)
            count_outer_update(t, mp, xs, widths, active, m)
            # the rule's periphery work: power-iteration MACs and per-column/factor words
            t.add("update", "chip.digital", "digital", "grad_mac", ro.periphery_macs)
            t.add("update", "chip.periphery_memory", "periphery_memory", "read",
                  ro.moment_words)
            t.add("update", "chip.periphery_memory", "periphery_memory", "write",
                  ro.moment_words)
            digital = (ro.periphery_macs, 0)
        count_update_common(t, mp, cnt.write_fj, m, bus)
        log.records.append(OpRecord("update", index, self._samples(ctx, m, lay), m, facts=facts,
                                    digital_ops=int(digital[0]), optimizer_ops=int(digital[1]),
                                    bus_words=bus, macs=m * lay.rows * lay.cols))
        changed = n_changed if fused else int(np.count_nonzero(L.xbar.weights() != before))
        return {"changed": float(changed), "pulses": float(cnt.pulses),
                "switched": float(cnt.switched), "write_fj": float(cnt.write_fj)}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Physical MTJ states (both encodings of zero matter) and each layer's write-rng
        state; device parameters are re-sampled identically from the seed."""
        d: dict[str, np.ndarray] = {}
        for i, L in self._layers.items():
            d[f"s1.{i}"] = L.xbar.s1.copy()
            d[f"s2.{i}"] = L.xbar.s2.copy()
            blob = json.dumps(L.rng.bit_generator.state).encode()
            d[f"rng.{i}"] = np.frombuffer(blob, dtype=np.uint8).copy()
        for k, v in self.outer_rule.state_dict().items():   # periphery second moments
            d[f"outer.{k}"] = v
        d["ranges"] = self.ranges.to_array()
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for i, L in self._layers.items():
            L.xbar.s1 = np.ascontiguousarray(d[f"s1.{i}"], dtype=np.int8)
            L.xbar.s2 = np.ascontiguousarray(d[f"s2.{i}"], dtype=np.int8)
            L.xbar._invalidate()
            L.rng.bit_generator.state = json.loads(np.asarray(d[f"rng.{i}"], np.uint8).tobytes())
        self.outer_rule.load_state_dict({k[6:]: v for k, v in d.items()
                                         if k.startswith("outer.")})
        if "ranges" in d:   # checkpoints written before fixed ranges: set again on first use
            self.ranges.load_array(d["ranges"])
