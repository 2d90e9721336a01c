"""The SimPy chip: a component tree built from the mapping — ``chip.tile[i]`` (grouped per
layer in :class:`~pnmsim.hw.components.TileGroup`), ``chip.controller``, ``chip.interconnect``
and ``chip.digital`` — executing the feedforward, backprop and update phases of each
mini-batch from the functional model's :class:`~pnmsim.records.OpRecord` facts.

Granularity (design.md "Event granularity"): in ``coarse`` mode one process step per tile
group operation batch — a layer's tiles processing one issue group's products, or one layer's
whole update — whose latency is the closed form of :mod:`pnmsim.hw.timing`. In ``fine`` mode
every product walks each tile's stage pipeline, and every write sub-step (per tile, column and
polarity; per broadcast vector for the outer-product scheme) is its own event; tests prove both
give the same cycle counts for all three phases. A coarse sample group's three holds (controller
issue, the layer's tiles, the bus), and a layer's coarse update's (issue, digital unit, bus,
tiles), run in one :func:`~pnmsim.hw.components.hold_each` — the events the components' own
methods make, with fewer generator frames per resume.

Contention: samples queue FIFO for a layer's tiles (so layers pipeline across samples), every
operation needs a controller issue slot, every transfer holds the interconnect, and the
per-cell updates share the digital unit. Phases are separated by barriers. The update phase:
per layer, the controller issues it, the digital unit computes gradients and optimiser steps
(per-cell scheme), their step codes cross the interconnect to the tiles, then the tiles write.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pnmsim.config import ArchConfig
from pnmsim.hw.components import (
    Controller,
    DigitalUnit,
    Gen,
    Hold,
    Interconnect,
    Mode,
    Tile,
    TileGroup,
    hold_each,
)
from pnmsim.hw.environment import CountingEnvironment
from pnmsim.mapping import NetworkMapping, bus_words
from pnmsim.records import PHASES, OpRecord
from pnmsim.tracefmt import ARG_GROUP, ARG_LAYER, ARG_PHASE

__all__ = ["Chip", "Mode"]


class Chip:
    """Owns the SimPy environment and the component tree of one simulated chip."""

    def __init__(self, arch: ArchConfig, mapping: NetworkMapping, mode: Mode = "coarse") -> None:
        self.arch = arch
        self.mapping = mapping
        self.mode = mode
        self.env = CountingEnvironment()
        self.groups = [TileGroup(self.env, arch, mp, mode) for mp in mapping.layers]
        self.tile: list[Tile] = [t for g in self.groups for t in g.tiles]
        self.controller = Controller(self.env, "chip.controller",
                                     arch.system.controller_issue_slots)
        self.interconnect = Interconnect(self.env, "chip.interconnect")
        self.digital = DigitalUnit(self.env, "chip.digital")
        self.cycles: dict[str, int] = defaultdict(int)
        self._memo: dict[tuple, tuple[int, list[int], Any]] = {}
        self._holds: dict[tuple[int, str, str, int], tuple[Hold, ...]] = {}
        self.tracer: Any = None     # a pnmsim.trace.Tracer while a timeline is recorded
        self._until: Any = None     # the event the last SimPy run stopped at (_run_phase)

    def attach_tracer(self, tracer: Any) -> None:
        """Record the schedule's spans into ``tracer`` (None: stop recording)."""
        self.tracer = tracer
        self.env.tracer = tracer

    # --------------------------------------------------------------- processes
    def _sample_flow(self, recs: list[OpRecord], phase: str, group: int,
                     first: int = 0) -> Gen:
        """A group of ``group`` consecutive samples (from sample ``first`` of the mini-batch)
        through the layers of one phase."""
        for rec in recs:
            mp = self.mapping.layers[rec.layer]
            n = group * (rec.vectors // max(rec.samples, 1))
            tag = None if self.tracer is None else (
                f"{phase} {mp.layer.name}", {ARG_PHASE: phase, ARG_LAYER: mp.layer.name,
                                             "layer_index": rec.layer,
                                             ARG_GROUP: [first, first + group]})
            if self.mode == "fine":
                yield from self.controller.issue(self.arch, mp, tag)
                yield from self.groups[rec.layer].operate(phase, n, rec.sensing, tag)
                yield from self.interconnect.transfer(self.arch,
                                                      bus_words(self.arch, mp, phase, n), tag)
                continue
            # coarse: the three holds in one hold_each (the events Controller.issue,
            # TileGroup.operate and Interconnect.transfer make; a resume passes two
            # generator frames instead of three)
            yield from hold_each(self.env, self._coarse_holds(rec, phase, n), tag)

    def _coarse_holds(self, rec: OpRecord, phase: str, n: int) -> tuple[Hold, ...]:
        """Coarse mode: the holds of one sample group's operation on layer ``rec.layer`` —
        (unit, cycles, each tile's cycles or None) for the controller's issue, the layer's
        tiles and the bus transfer of its outputs (cached per operation)."""
        key = (rec.layer, phase, rec.sensing, n)
        holds = self._holds.get(key)
        if holds is None:
            mp = self.mapping.layers[rec.layer]
            holds = self._holds[key] = (
                self.controller.issue_hold(self.arch, mp),
                self.groups[rec.layer].operate_hold(phase, rec.sensing, n),
                self.interconnect.transfer_hold(self.arch, bus_words(self.arch, mp, phase, n)))
        return holds

    def _update(self, rec: OpRecord) -> Gen:
        assert rec.facts is not None
        mp = self.mapping.layers[rec.layer]
        tag = None if self.tracer is None else (
            f"update {mp.layer.name}", {ARG_PHASE: "update", ARG_LAYER: mp.layer.name,
                                        "layer_index": rec.layer,
                                        ARG_GROUP: [0, rec.samples]})
        if self.mode == "coarse":
            # the holds of the four steps below in one hold_each (the same events; a resume
            # passes two generator frames instead of four)
            holds = [self.controller.issue_hold(self.arch, mp)]
            if rec.digital_ops or rec.optimizer_ops:
                holds.append(self.digital.gradient_hold(self.arch, rec.digital_ops,
                                                        rec.optimizer_ops))
            holds.append(self.interconnect.transfer_hold(self.arch, rec.bus_words))
            holds.append(self.groups[rec.layer].write_hold(rec.facts))
            yield from hold_each(self.env, holds, tag)
            return
        yield from self.controller.issue(self.arch, mp, tag)
        if rec.digital_ops or rec.optimizer_ops:
            yield from self.digital.gradient_and_optimiser(self.arch, rec.digital_ops,
                                                           rec.optimizer_ops, tag)
        # the step codes the digital unit computed travel to the tiles
        yield from self.interconnect.transfer(self.arch, rec.bus_words, tag)
        yield from self.groups[rec.layer].write(rec.facts, tag)

    def _phase(self, phase: str, recs: list[OpRecord]) -> Gen:
        if not recs:
            return
        if phase == "update":
            procs = [self.env.process(self._update(r)) for r in recs]
        else:
            samples = max(r.samples for r in recs)
            g = self.arch.system.issue_group
            procs = [self.env.process(self._sample_flow(recs, phase, min(g, samples - s), s))
                     for s in range(0, samples, g)]
        yield self.env.all_of(procs)

    # --------------------------------------------------------------- driver
    def run_batch(self, records: list[OpRecord]) -> dict[str, int]:
        """Schedule one mini-batch's records, phase after phase; returns cycles per phase."""
        out: dict[str, int] = {}
        for phase in PHASES:
            recs = [r for r in records if r.phase == phase]
            recs.sort(key=(lambda r: -r.layer) if phase == "backprop" else (lambda r: r.layer))
            out[phase] = self._run_phase(phase, recs)
            self.cycles[phase] += out[phase]
        return out

    def _counters(self) -> list[int]:
        return ([t.busy for t in self.tile]
                + [self.controller.busy, self.interconnect.busy, self.digital.busy,
                   self.env.processed])

    def _restore(self, values: list[int]) -> None:
        n = len(self.tile)
        for t, v in zip(self.tile, values[:n], strict=True):
            t.busy = v
        self.controller.busy, self.interconnect.busy, self.digital.busy = values[n:n + 3]
        self.env.processed = values[n + 3]

    def _run_phase(self, phase: str, recs: list[OpRecord]) -> int:
        """Run one phase from an idle chip (phases are separated by barriers, so every resource
        is free at a phase's start). Its schedule is then a pure function of its records: in
        coarse mode an identical feedforward/backprop phase seen before (every full
        mini-batch's) is replayed from a memo — the same cycles, busy cycles and event count
        the SimPy run produced — instead of being simulated again. The update depends on the
        data and is always simulated."""
        key = (phase, tuple(r.key() for r in recs)) if phase != "update" else None
        hit = self._memo.get(key) if (key is not None and self.mode == "coarse") else None
        tr = self.tracer
        t0 = sum(self.cycles.values())        # the run's time at this phase's start
        if hit is not None and tr is not None and hit[2] is None:
            hit = None       # memoised without a trace: simulate it again (same figures)
        before = self._counters()
        if hit is not None:
            cycles, deltas, spans = hit
            self._restore([a + d for a, d in zip(before, deltas, strict=True)])
            if tr is not None:
                tr.replay(spans, t0)
            return cycles
        start = self.env.now
        if tr is not None:
            tr.begin_phase(t0, start)
            tr.start_capture()
        # SimPy re-queues the until event a run stops at (for its remaining callbacks) and the
        # next run pops it again: counted once, when the run before processed it, so that a
        # phase's count is its own events whatever ran before it (a replay then counts what a
        # simulation counts, and a resumed chip what an uninterrupted one counts)
        requeued = sum(1 for entry in self.env._queue if entry[-1] is self._until)
        proc = self._until = self.env.process(self._phase(phase, recs))
        self.env.run(until=proc)
        self.env.processed -= requeued
        cycles = int(self.env.now - start)
        spans = tr.end_capture(t0) if tr is not None else None
        if key is not None and self.mode == "coarse":
            self._memo[key] = (cycles, [a - b for a, b in
                                        zip(self._counters(), before, strict=True)], spans)
        return cycles

    # --------------------------------------------------------------- stats
    def total_events(self) -> int:
        """SimPy events processed so far: every event the kernel stepped through, each once
        (the until event SimPy re-queues when a phase's run stops is not counted again when
        the next phase's run pops it), a memoised phase's as its simulation counted them."""
        return self.env.processed

    def busy_cycles(self) -> dict[str, int]:
        """Busy cycles per component class (tiles summed over the chip)."""
        return {"tiles": sum(t.busy for t in self.tile), "controller": self.controller.busy,
                "bus": self.interconnect.busy, "digital": self.digital.busy}

    def tile_busy(self) -> dict[str, int]:
        """Busy cycles of every tile, by its tree name."""
        return {t.name: t.busy for t in self.tile}

    def state(self) -> dict[str, object]:
        """Counters to save in a checkpoint (see :meth:`load_state`)."""
        return {"cycles": dict(self.cycles), "counters": self._counters()}

    def load_state(self, d: dict) -> None:
        self.cycles.clear()
        self.cycles.update(d["cycles"])
        self._restore(list(d["counters"]))
