"""SimPy model of the chip: per-layer tile groups, a central controller, a shared inter-tile
bus and the digital periphery, executing the feedforward, backprop and update phases of each
mini-batch from the functional model's :class:`~pnmsim.array.OpRecord` list.

Granularity (design.md "Event granularity"): in ``coarse`` mode one process step per tile
operation batch — a layer's tiles processing one sample's ``positions`` products — whose
latency comes from :mod:`pnmsim.hw.timing` in closed form. In ``fine`` mode each product walks
the stage pipeline (one event per product and stage) on per-stage resources; tests prove both
give the same cycle counts.

Contention is real: samples queue FIFO for a layer's tiles (so layers pipeline across samples),
every operation needs a controller issue slot, every activation transfer holds the single bus,
and per-cell updates share the digital periphery. Phases are separated by barriers: a batch's
backprop starts when its feedforward has finished, its update when backprop has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator
from typing import Any, Literal

import simpy

from pnmsim.array import OpRecord
from pnmsim.config import ArchConfig
from pnmsim.hw import timing
from pnmsim.mapping import LayerMapping, NetworkMapping, bus_words

Mode = Literal["coarse", "fine"]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (for the benchmarks)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


class Busy:
    """A resource with a busy-cycle counter (for utilisation)."""

    def __init__(self, env: simpy.Environment, capacity: int = 1) -> None:
        self.res = simpy.Resource(env, capacity=capacity)
        self.capacity = capacity
        self.busy = 0

    def hold(self, env: simpy.Environment, cycles: int) -> Generator[Any, Any, None]:
        with self.res.request() as req:
            yield req
            if cycles > 0:
                yield env.timeout(cycles)
                self.busy += cycles


class LayerTiles:
    """The tiles of one layer, operating in lockstep on the same input vectors."""

    def __init__(self, env: simpy.Environment, arch: ArchConfig, mp: LayerMapping,
                 mode: Mode) -> None:
        self.env = env
        self.arch = arch
        self.mp = mp
        self.mode = mode
        self.group = Busy(env)            # one operation batch at a time
        self.stage_res: dict[tuple[str, int], simpy.Resource] = {}

    def _stages(self, phase: str, sensing: str) -> list[int]:
        if phase == "feedforward":
            return timing.forward_stages(self.arch, self.mp, sensing)
        return timing.backward_stages(self.arch, self.mp)

    def operate(self, phase: str, n: int, sensing: str = "") -> Generator[Any, Any, None]:
        """Run n matrix-vector products of ``phase`` on this layer's tiles."""
        stages = self._stages(phase, sensing)
        with self.group.res.request() as req:
            yield req
            start = self.env.now
            if self.mode == "coarse":
                cyc = timing.pipeline_cycles(stages, n)
                if cyc:
                    yield self.env.timeout(cyc)
            else:
                procs = [self.env.process(self._one(phase, stages)) for _ in range(n)]
                if procs:
                    yield self.env.all_of(procs)
            self.group.busy += self.env.now - start

    def _one(self, phase: str, stages: list[int]) -> Generator[Any, Any, None]:
        for k, s in enumerate(stages):
            res = self.stage_res.get((phase, k))
            if res is None:
                res = self.stage_res[(phase, k)] = simpy.Resource(self.env, capacity=1)
            with res.request() as req:
                yield req
                yield self.env.timeout(s)

    def write(self, cycles: int) -> Generator[Any, Any, None]:
        yield from self.group.hold(self.env, cycles)


class Chip:
    """Owns the SimPy environment and the component tree of one simulated chip."""

    def __init__(self, arch: ArchConfig, mapping: NetworkMapping, mode: Mode = "coarse") -> None:
        self.arch = arch
        self.mapping = mapping
        self.mode = mode
        self.env = CountingEnvironment()
        self.layers = [LayerTiles(self.env, arch, mp, mode) for mp in mapping.layers]
        self.controller = Busy(self.env, arch.system.controller_issue_slots)
        self.bus = Busy(self.env)
        self.digital = Busy(self.env)
        self.cycles: dict[str, int] = defaultdict(int)
        self._memo: dict[tuple, tuple[int, list[int]]] = {}

    # --------------------------------------------------------------- processes
    def _layer_op(self, rec: OpRecord, n: int, words: int) -> Generator[Any, Any, None]:
        mp = self.mapping.layers[rec.layer]
        yield from self.controller.hold(self.env, timing.issue_cycles(self.arch, mp))
        yield from self.layers[rec.layer].operate(rec.phase, n, rec.sensing)
        yield from self.bus.hold(self.env, timing.bus_cycles(self.arch, words))

    def _sample_flow(self, recs: list[OpRecord], phase: str,
                     group: int) -> Generator[Any, Any, None]:
        """A group of ``group`` consecutive samples through the layers of one phase."""
        for rec in recs:
            n = group * (rec.vectors // max(rec.samples, 1))
            words = bus_words(self.arch, self.mapping.layers[rec.layer], phase, n)
            yield from self._layer_op(rec, n, words)

    def _update(self, rec: OpRecord) -> Generator[Any, Any, None]:
        mp = self.mapping.layers[rec.layer]
        yield from self.controller.hold(self.env, timing.issue_cycles(self.arch, mp))
        yield from self.digital.hold(self.env, timing.digital_cycles(self.arch, rec.digital_ops,
                                                                   rec.optimizer_ops))
        yield from self.layers[rec.layer].write(
            rec.update_cycles + timing.write_cycles(self.arch, list(rec.write_tiles),
                                                    rec.state_reads))

    def _phase(self, phase: str, recs: list[OpRecord]) -> Generator[Any, Any, None]:
        if not recs:
            return
        if phase == "update":
            procs = [self.env.process(self._update(r)) for r in recs]
        else:
            samples = max(r.samples for r in recs)
            g = self.arch.system.issue_group
            sizes = [min(g, samples - s) for s in range(0, samples, g)]
            procs = [self.env.process(self._sample_flow(recs, phase, k)) for k in sizes]
        yield self.env.all_of(procs)

    # --------------------------------------------------------------- driver
    def run_batch(self, records: list[OpRecord]) -> dict[str, int]:
        """Schedule one mini-batch's records, phase after phase; returns cycles per phase."""
        out: dict[str, int] = {}
        for phase in ("feedforward", "backprop", "update"):
            recs = [r for r in records if r.phase == phase]
            if phase == "backprop":
                recs = sorted(recs, key=lambda r: -r.layer)
            else:
                recs = sorted(recs, key=lambda r: r.layer)
            out[phase] = self._run_phase(phase, recs)
            self.cycles[phase] += out[phase]
        return out

    def _counters(self) -> list[int]:
        return ([t.group.busy for t in self.layers]
                + [self.controller.busy, self.bus.busy, self.digital.busy, self.env.processed])

    def _run_phase(self, phase: str, recs: list[OpRecord]) -> int:
        """Run one phase from an idle chip (phases are separated by barriers, so every resource
        is free at a phase's start). Its schedule is then a pure function of its records: in
        coarse mode an identical phase seen before (every full mini-batch's feedforward and
        backprop) is replayed from a memo — the same cycles, busy cycles and event count the
        SimPy run produced — instead of being simulated again."""
        key = (phase, tuple((r.layer, r.samples, r.vectors, r.sensing, r.update_cycles,
                             r.write_tiles, r.state_reads, r.digital_ops, r.optimizer_ops)
                            for r in recs))
        hit = self._memo.get(key) if self.mode == "coarse" else None
        if hit is not None:
            cycles, deltas = hit
            for t, d in zip(self.layers, deltas, strict=False):
                t.group.busy += d
            n = len(self.layers)
            self.controller.busy += deltas[n]
            self.bus.busy += deltas[n + 1]
            self.digital.busy += deltas[n + 2]
            self.env.processed += deltas[n + 3]
            return cycles
        before = self._counters()
        start = self.env.now
        proc = self.env.process(self._phase(phase, recs))
        self.env.run(until=proc)
        cycles = int(self.env.now - start)
        deltas = [a - b for a, b in zip(self._counters(), before, strict=True)]
        if self.mode == "coarse" and phase != "update":   # update depends on the data
            self._memo[key] = (cycles, deltas)
        return cycles

    def total_events(self) -> int:
        """SimPy events processed so far (every event the kernel stepped through)."""
        return self.env.processed

    def busy_cycles(self) -> dict[str, int]:
        """Busy cycles per component class (tiles summed over layers)."""
        return {"tiles": sum(t.group.busy for t in self.layers), "controller": self.controller.busy,
                "bus": self.bus.busy, "digital": self.digital.busy}
