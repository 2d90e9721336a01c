"""The functional hardware model of a whole network: one :class:`~pnmsim.crossbar.Crossbar` per
weighted layer plus the converters around it, as a :class:`~pnmsim.training.network.MatrixBackend`.

The GXNOR network engine (:mod:`pnmsim.training.network`) calls :meth:`ArrayBackend.matmul`
(feedforward read), :meth:`ArrayBackend.matmul_t` (transposed read for backprop) and
:meth:`ArrayBackend.update` (stochastic MTJ writes). Each call

* computes the values through the crossbar physics and the converters' quantisation,
* tallies every hardware action and physical quantity (fJ of reads and writes, ns of write
  pulses) into :attr:`ArrayBackend.tally` — priced later, once, by :mod:`pnmsim.costs` and
  rolled up by :mod:`pnmsim.results`; no price or latency is looked up here — and
* appends an :class:`OpRecord` with what the timed model (:mod:`pnmsim.hw`) needs to schedule
  the operation: vectors, samples and the data-dependent pulse latencies.

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
* ADC full scale is ``adc_range_sigmas`` standard deviations of the sensed signal of that call
  (an ideal auto-ranging converter; the range choice is a knob of the preset);
* backprop: errors quantised by ``dac_bits`` DACs (full scale = max |delta| of the call), row
  currents digitised by ADCs per column tile, partial sums added digitally.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pnmsim import kernels
from pnmsim.config import ArchConfig
from pnmsim.crossbar import Counts, Crossbar, PulseMapper
from pnmsim.mapping import LayerMapping, NetworkMapping, bus_words, map_network, sense_groups
from pnmsim.units import ns_array_to_cycles
from pnmsim.workload import WeightedLayer, Workload

Phase = Literal["feedforward", "backprop", "update"]
PHASES: tuple[str, ...] = ("feedforward", "backprop", "update")


@dataclass
class OpRecord:
    """One array operation of one layer for one mini-batch, as the timed model needs it."""

    phase: str
    layer: int                 # weighted-layer index
    samples: int               # samples in the mini-batch
    vectors: int               # matrix-vector products (samples * positions)
    sensing: str = ""          # "comparators" | "adc" (feedforward)
    update_cycles: int = 0     # write latency of the layer, when given directly (tests)
    # update facts the hardware model turns into cycles (hw.timing.write_cycles): per tile,
    # (cycles covering its pulse widths, driver pulses, columns read before writing)
    write_tiles: tuple[tuple[int, int, int], ...] = ()
    state_reads: bool = False  # the per-cell update reads each written column first
    digital_ops: int = 0       # digital gradient MACs (per-cell update)
    optimizer_ops: int = 0     # optimiser parameter updates (per-cell update)
    macs: int = 0              # synapse MACs this op stands for (ops = ops_per_mac * macs)


class Tally:
    """Counts of hardware actions keyed by (phase, component, component class, action)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str], float] = defaultdict(float)
        self.macs: dict[str, float] = defaultdict(float)

    def add(self, phase: str, component: str, cls: str, action: str, n: float) -> None:
        if n:
            self.counts[(phase, component, cls, action)] += float(n)

    def merge(self, other: Tally) -> None:
        for k, v in other.counts.items():
            self.counts[k] += v
        for k, v in other.macs.items():
            self.macs[k] += v

    def rows(self) -> list[tuple[str, str, str, str, float]]:
        return [(*k, v) for k, v in sorted(self.counts.items())]


@dataclass
class _Layer:
    spec: WeightedLayer
    map: LayerMapping
    xbar: Crossbar
    rng: np.random.Generator


class ArrayBackend:
    """All weighted layers of a network on simulated MTJ crossbars."""

    def __init__(self, arch: ArchConfig, workload: Workload, seed: int) -> None:
        self.arch = arch
        self.workload = workload
        self.mapping: NetworkMapping = map_network(workload, arch)
        self.binary = workload.weights == "binary"
        self.n_bits = 0 if self.binary else 1
        self.level_step = 2.0 if self.binary else 1.0   # GXNOR L = 2H / 2^N with H = 1
        self.lr = arch.update.lr    # learning rate of the outer-product scheme (set by callers)
        self.mapper = PulseMapper(arch)
        self.tally = Tally()
        self.records: list[OpRecord] = []
        self.training_forward = False   # set by the caller: True -> training forward sensing
        self.batch_samples = 0          # samples of the current mini-batch (for records)
        # one independent stream per layer for devices and writes, so the order in which
        # layers are touched never changes the draws (reproducibility)
        ss = np.random.SeedSequence(seed)
        self._seeds = ss.spawn(len(self.mapping.layers))
        self._layers: dict[int, _Layer] = {}
        self._active: dict[int, int] = {}   # driven input lines of each layer's last forward
        self._last_m: dict[int, int] = {}

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

    def _samples(self, vectors: int, layer: WeightedLayer) -> int:
        return self.batch_samples or max(1, vectors // layer.positions)

    def _full_scale(self, y: np.ndarray) -> float:
        """ADC full scale: ``adc_range_sigmas`` standard deviations of the sensed signal,
        estimated from a deterministic strided subsample (<= 2**16 values) of this call."""
        flat = y.reshape(-1)
        step = max(1, flat.size >> 16)
        sub = flat[::step].astype(np.float64)
        return self.arch.periphery.adc_range_sigmas * float(sub.std()) if sub.size else 0.0

    def _adc(self, y: np.ndarray, out_scale: float = 1.0) -> np.ndarray:
        """Digitise a sensed signal (a temporary this backend owns: converted in place)."""
        return kernels.quantize_symmetric(np.ascontiguousarray(y), self._full_scale(y),
                                          self.arch.periphery.adc_bits, out_scale, inplace=True)

    def _groups(self, vectors: int, layer: WeightedLayer) -> int:
        """Tile operations the controller issues per tile: one per issue group of samples."""
        g = self.arch.system.issue_group
        return -(-self._samples(vectors, layer) // g)

    def matmul(self, index: int, x: np.ndarray) -> np.ndarray:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        m = x.shape[0]
        xin = np.asarray(x, dtype=np.float32)
        if lay.first:
            xin = kernels.quantize_symmetric(np.ascontiguousarray(xin), 1.0,
                                             a.periphery.input_dac_bits)
        last = index == len(self.mapping.layers) - 1
        if self.training_forward:
            sensing = a.periphery.training_forward_sensing
        else:
            sensing = "adc" if last else a.periphery.forward_sensing
        groups, per = sense_groups(a, mp)
        if groups > 1:   # every sensed group of row tiles is digitised, then they are added
            parts, cnt = L.xbar.read_blocks_units(xin, mp.tile_rows * per)
            y = self._adc(parts).sum(axis=0)
        else:
            y, cnt = L.xbar.read_units(xin, ternary=not lay.first)
            if sensing == "adc":
                y = self._adc(y)
        self._active[index] = cnt.active_inputs
        self._last_m[index] = m
        self._count_forward(index, x, cnt, sensing, groups)
        self.records.append(OpRecord("feedforward", index, self._samples(m, lay), m,
                                     sensing=sensing, macs=m * lay.rows * lay.cols))
        return np.asarray(y, dtype=np.float32)

    def matmul_t(self, index: int, delta: np.ndarray) -> np.ndarray:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        m = delta.shape[0]
        d = np.ascontiguousarray(delta, dtype=np.float32)
        dmax = float(np.abs(d).max()) if d.size else 0.0
        dq = kernels.quantize_symmetric(d, dmax, a.periphery.dac_bits)
        dn = dq / np.float32(dmax) if dmax > 0 else dq        # DAC levels in [-1, 1]
        # each column tile senses its own row currents (ADC), partial sums added digitally
        if mp.col_tiles == 1:
            part, cnt = L.xbar.read_units(dn, transpose=True)
            out = self._adc(part, dmax)
        else:
            _, cnt = L.xbar.read_units(dn[:0], transpose=True)
            cnt = Counts()
            out = np.zeros((m, lay.rows), dtype=np.float32)
            w = L.xbar.effective_weights(np.float32)
            for c in range(mp.col_tiles):
                c0, c1 = c * mp.tile_cols, min((c + 1) * mp.tile_cols, lay.cols)
                out += self._adc(dn[:, c0:c1] @ w[:, c0:c1].T, dmax)
            cnt = L.xbar._read_counts(dn, L.xbar._gsums()[1])
        y = out
        self._count_backward(index, dq, cnt)
        self.records.append(OpRecord("backprop", index, self._samples(m, lay), m,
                                     macs=m * lay.rows * lay.cols))
        return np.asarray(y, dtype=np.float32)

    def update(self, index: int, step: np.ndarray, x: np.ndarray,
               delta: np.ndarray) -> dict[str, float]:
        L = self._layers[index]
        lay, mp, a = L.spec, L.map, self.arch
        before = L.xbar.weights()
        m = x.shape[0]
        clock = a.clock_mhz
        ph = "update"
        name = lay.name
        step = np.asarray(step, dtype=np.float64) / self.level_step   # in units of L
        if a.update.scheme == "per_cell":
            got: list[np.ndarray] = []
            if self.mapper.state_aware:   # the periphery reads every cell before writing
                # each cell read once at V_rd: the crossbar's read energy with every line driven
                rd = L.xbar._read_counts(np.ones((1, lay.rows)), L.xbar._gsums()[0]).read_fj
                self.tally.add(ph, f"{name}.synapse", "synapse", "read_fj", rd)
                self.tally.add(ph, f"{name}.sense_amp", "sense_amp", "read",
                               2 * lay.rows * lay.cols)
            cnt = L.xbar.update_per_cell(step, self.mapper, L.rng, got)
            width = got[0]
            tiles, col_pulses = self._per_cell_writes(width, np.sign(step), mp)
            # dW = x^T delta with x the layer's input of this batch's forward (counted there)
            nnz_x = self._active.get(index)
            if nnz_x is None or x.shape[0] != self._last_m.get(index):
                nnz_x = int(np.count_nonzero(x))
            grad_macs = nnz_x * lay.cols
            t = self.tally
            # ternary inputs make each MAC a gated add; real first-layer pixels need multiplies
            t.add(ph, "chip.digital", "digital", "grad_mac_fp32" if lay.first else "grad_mac",
                  grad_macs)
            t.add(ph, "chip.digital", "digital", "optimizer", lay.rows * lay.cols)
            t.add(ph, "chip.periphery_memory", "periphery_memory", "read",
                  2 * lay.rows * lay.cols)       # Adam moments m, v
            t.add(ph, "chip.periphery_memory", "periphery_memory", "write",
                  2 * lay.rows * lay.cols)
            t.add(ph, f"{name}.buffer", "buffer", "read", m * (lay.rows + lay.cols))
            t.add(ph, f"{name}.row_driver", "row_driver", "write_pulse", cnt.pulses)
            t.add(ph, f"{name}.col_driver", "col_driver", "write_pulse", col_pulses)
            t.add(ph, f"{name}.pulse_gen", "pulse_gen", "ns", cnt.pulse_ns_total)
            digital = (grad_macs, lay.rows * lay.cols)
        else:
            # plain SGD, one rank-1 step per input vector: dW_v = -lr * x_v delta_v^T (delta
            # already carries the 1/B of the batch mean), in units of L. Row drivers gate with
            # sign(x): for the real-valued first-layer inputs only the sign is applied.
            col_steps = -(self.lr / self.level_step) * np.asarray(delta, dtype=np.float64)
            xs = np.sign(np.asarray(x)).astype(np.int8)
            mag = np.abs(col_steps)
            kappa = np.floor(mag)
            widths = self.mapper.pulse_ns(mag - kappa, kappa)                      # (M, cols)
            cnt = L.xbar.update_outer_products(col_steps, xs, self.mapper, L.rng)
            active = (widths > 0).any(axis=1) & (xs != 0).any(axis=1)
            per_vec = ns_array_to_cycles(widths.max(axis=1, initial=0.0), clock)
            n_act = int(active.sum())   # two polarity sub-steps per active vector
            tiles = [(2 * int(per_vec[active].sum()), 2 * n_act, 0)]
            t = self.tally
            t.add(ph, f"{name}.buffer", "buffer", "read", m * (lay.rows + lay.cols))
            t.add(ph, f"{name}.row_driver", "row_driver", "write_pulse",
                  2 * int(np.count_nonzero(xs[active])) * mp.col_tiles)
            t.add(ph, f"{name}.col_driver", "col_driver", "write_pulse",
                  2 * int(np.count_nonzero(widths[active])) * mp.row_tiles)
            # column drivers time each pulse (both polarity sub-steps) in every row tile
            t.add(ph, f"{name}.pulse_gen", "pulse_gen", "ns",
                  2 * float(widths[active].sum()) * mp.row_tiles)
            digital = (0, 0)
        self.tally.add(ph, f"{name}.synapse", "synapse", "write_fj", cnt.write_fj)
        self.tally.add(ph, "chip.controller", "controller", "issue", mp.tiles)   # one per tile
        if lay.first:   # its batch-norm backward ran in backprop, without a transposed read
            self.tally.add("backprop", "chip.digital", "digital", "bn", m * lay.cols)
        # ops convention (the workload's, not the hardware's): weight-gradient MACs, one per
        # synapse per input vector of the batch, whatever the update scheme or step size
        macs = m * lay.rows * lay.cols
        self.tally.macs[ph] += macs
        self.records.append(OpRecord("update", index, self._samples(m, lay), m,
                                     write_tiles=tuple(tiles),
                                     state_reads=a.update.scheme == "per_cell"
                                     and self.mapper.state_aware, digital_ops=int(digital[0]),
                                     optimizer_ops=int(digital[1]), macs=macs))
        changed = int(np.count_nonzero(L.xbar.weights() != before))
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
        return d

    def load_state_dict(self, d: dict[str, np.ndarray]) -> None:
        for i, L in self._layers.items():
            L.xbar.s1 = np.ascontiguousarray(d[f"s1.{i}"], dtype=np.int8)
            L.xbar.s2 = np.ascontiguousarray(d[f"s2.{i}"], dtype=np.int8)
            L.xbar._invalidate()
            L.rng.bit_generator.state = json.loads(np.asarray(d[f"rng.{i}"], np.uint8).tobytes())

    # ------------------------------------------------------------------ counting
    def _count_forward(self, index: int, x: np.ndarray, cnt: Counts, sensing: str,
                       groups: int) -> None:
        L = self._layers[index]
        lay, mp = L.spec, L.map
        t, ph, name = self.tally, "feedforward", lay.name
        m, n = x.shape[0], lay.cols
        active = cnt.active_inputs
        t.macs[ph] += m * lay.rows * lay.cols
        t.add(ph, f"{name}.row_driver", "row_driver", "drive", active * mp.col_tiles)
        if lay.first:
            t.add(ph, f"{name}.dac", "dac", "convert_input", active * mp.col_tiles)
        t.add(ph, f"{name}.synapse", "synapse", "read_fj", cnt.read_fj)
        # every sensed line needs its virtual-ground amplifier, whatever converts it after;
        # analog partial sums join the other row tiles' lines of a group onto it
        t.add(ph, f"{name}.line_sense", "line_sense", "sense", m * n * groups)
        t.add(ph, f"{name}.psum", "psum", "join", m * n * (mp.row_tiles - groups))
        digital_psum = groups > 1
        if digital_psum:
            t.add(ph, f"{name}.adc", "adc", "convert", m * n * groups)
            t.add(ph, f"{name}.accumulator", "accumulator", "add", m * n * (groups - 1))
            if sensing == "comparators":   # thresholds applied digitally: two subtractions
                t.add(ph, f"{name}.accumulator", "accumulator", "add", 2 * m * n)
        elif sensing == "comparators":
            t.add(ph, f"{name}.comparator", "comparator", "compare", 2 * m * n)
        else:
            t.add(ph, f"{name}.adc", "adc", "convert", m * n)
        if sensing == "adc":
            t.add(ph, "chip.digital", "digital", "bn", m * n)
        t.add(ph, "chip.periphery_memory", "periphery_memory", "read", 2 * n)
        t.add(ph, f"{name}.buffer", "buffer", "read", m * lay.rows)
        t.add(ph, f"{name}.buffer", "buffer", "write", m * n)
        t.add(ph, "chip.bus", "bus", "transfer", bus_words(self.arch, mp, ph, m))
        t.add(ph, "chip.controller", "controller", "issue", mp.tiles * self._groups(m, lay))

    def _count_backward(self, index: int, dq: np.ndarray, cnt: Counts) -> None:
        L = self._layers[index]
        lay, mp = L.spec, L.map
        t, ph, name = self.tally, "backprop", lay.name
        m = dq.shape[0]
        nnz = int(np.count_nonzero(dq))
        t.macs[ph] += m * lay.rows * lay.cols
        t.add(ph, f"{name}.dac", "dac", "convert", nnz * mp.row_tiles)
        t.add(ph, f"{name}.col_driver", "col_driver", "drive", nnz * mp.row_tiles)
        t.add(ph, f"{name}.synapse", "synapse", "read_fj", cnt.read_fj)
        t.add(ph, f"{name}.line_sense", "line_sense", "sense", m * lay.rows * mp.col_tiles)
        t.add(ph, f"{name}.adc", "adc", "convert", m * lay.rows * mp.col_tiles)
        t.add(ph, f"{name}.accumulator", "accumulator", "add",
              m * lay.rows * (mp.col_tiles - 1))
        t.add(ph, "chip.digital", "digital", "bn", m * lay.cols)
        t.add(ph, f"{name}.buffer", "buffer", "read", m * lay.cols)
        t.add(ph, f"{name}.buffer", "buffer", "write", m * lay.rows)
        t.add(ph, "chip.bus", "bus", "transfer", bus_words(self.arch, mp, ph, m))
        t.add(ph, "chip.controller", "controller", "issue", mp.tiles * self._groups(m, lay))

    def _per_cell_writes(self, width: np.ndarray, sign: np.ndarray,
                         mp: LayerMapping) -> tuple[list[tuple[int, int, int]], int]:
        """Per-cell writes go column by column inside each tile (all rows of a column in
        parallel, one sub-step per polarity); tiles work in parallel. With state-aware pulses
        each written column is first read. Returns, per tile, (cycles of its pulse widths,
        column pulses, columns read) — :func:`pnmsim.hw.timing.write_cycles` adds the drivers'
        and reads' latencies — and the total number of column-driver pulses."""
        clock = self.arch.clock_mhz
        tiles: list[tuple[int, int, int]] = []
        col_pulses = 0
        for r in range(mp.row_tiles):
            r0, r1 = r * mp.tile_rows, min((r + 1) * mp.tile_rows, mp.layer.rows)
            for c in range(mp.col_tiles):
                c0, c1 = c * mp.tile_cols, min((c + 1) * mp.tile_cols, mp.layer.cols)
                w = width[r0:r1, c0:c1]
                s = sign[r0:r1, c0:c1]
                reads = int((w > 0).any(axis=0).sum())
                pulse_cyc = pulses = 0
                for pol in (1, -1):
                    wm = np.where(s == pol, w, 0.0).max(axis=0, initial=0.0)
                    cyc = ns_array_to_cycles(wm, clock)
                    pulse_cyc += int(cyc.sum())
                    pulses += int((cyc > 0).sum())
                col_pulses += pulses
                tiles.append((pulse_cyc, pulses, reads))
        return tiles, col_pulses
