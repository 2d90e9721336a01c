"""The components of the SimPy chip model: tiles, a layer's tile group, the controller, the
interconnect and the digital unit. Plain classes with SimPy generator methods; contention through
first-come-first-served resources (:class:`~pnmsim.hw.fifo.FifoResource`: ``simpy.Resource``'s
event order, leaner); every component counts its busy cycles for utilisation.

A :class:`Tile` holds one crossbar slice with its periphery (row/column drivers, DACs, an ADC
pool, comparators, sense circuits). In ``fine`` mode each of its stages is a capacity-1
resource and every product / write sub-step is one SimPy timeout; in ``coarse`` mode the tile's
work of one operation is one closed form (:mod:`pnmsim.hw.timing`). The tiles of a layer receive
the same broadcast input vectors, so a :class:`TileGroup` admits one operation batch at a time
and finishes when its slowest tile does.

Every hold of the model — a component's resource requested, its cycles charged and waited out,
the resource released — runs through :func:`hold_each`, which takes a sequence of such holds:
a coarse sample group's three (controller issue, the layer's tiles, the bus) go through one call
(:meth:`pnmsim.hw.chip.Chip._sample_flow`), a single one through :meth:`Unit.hold`,
:meth:`TileGroup.operate` or (a layer's coarse update) :meth:`TileGroup.write`; the same events
either way. A component is held through its ``res`` and ``charge`` (:class:`Holder`).

The interconnect is today's shared bus (one transfer at a time, ``bus_words_per_cycle`` words
per beat). A mesh would plug in as one :class:`Holder` per link, a transfer being the holds of
the links along its XY route (the chip knows the source and destination tiles from the mapping),
each for the beats of the transfer.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any, Literal, Protocol

import numpy as np
import simpy

from pnmsim.config import ArchConfig
from pnmsim.hw import timing
from pnmsim.hw.fifo import FifoResource
from pnmsim.mapping import LayerMapping, tile_name
from pnmsim.records import UpdateFacts

Mode = Literal["coarse", "fine"]
Gen = Generator[Any, Any, None]
Tag = tuple[str, dict[str, Any]] | None
"""What a span of the timeline trace is called and its args (phase, layer, sample group)."""
_NO_TAG: tuple[str, dict[str, Any]] = ("", {})


class Holder(Protocol):
    """A component :func:`hold_each` can hold: its resource and its accounting."""

    res: FifoResource

    def charge(self, cycles: int, tag: Tag = None, per: list[int] | None = None) -> None:
        """Account a hold of ``cycles`` (> 0) starting now (busy cycles, timeline span)."""


Hold = tuple[Holder, int, list[int] | None]
"""One hold: the component, its cycles, and a tile group's cycles per tile (else None)."""


def hold_each(env: simpy.Environment, holds: Iterable[Hold], tag: Tag = None) -> Gen:
    """The holds one after another: each component's resource requested (first come, first
    served), its cycles charged and waited out where there are any, the resource released."""
    for unit, cycles, per in holds:
        with unit.res.request() as req:
            yield req
            if cycles > 0:
                unit.charge(cycles, tag, per)
                yield env.timeout(cycles)


class Unit:
    """A named component with a capacity-limited resource and a busy-cycle counter."""

    def __init__(self, env: simpy.Environment, name: str, capacity: int = 1) -> None:
        self.env = env
        self.name = name
        self.res = FifoResource(env, capacity=capacity)
        self.capacity = capacity
        self.busy = 0

    def hold(self, cycles: int, tag: Tag = None) -> Gen:
        yield from hold_each(self.env, ((self, cycles, None),), tag)

    def charge(self, cycles: int, tag: Tag = None, per: list[int] | None = None) -> None:
        """Account a hold of ``cycles`` (> 0) starting now: its busy cycles and its span in
        the timeline trace, if one is recorded (``per``: unused, see :meth:`TileGroup.charge`)."""
        tr = getattr(self.env, "tracer", None)
        if tr is not None:
            tr.unit_span(self.name, self.capacity, self.env.now, cycles, *(tag or _NO_TAG))
        self.busy += cycles


class Controller(Unit):
    """Issues every tile operation (``controller_issue_slots`` at a time)."""

    def issue_hold(self, arch: ArchConfig, mp: LayerMapping) -> Hold:
        """The hold of issuing one operation to every tile of layer ``mp``."""
        return (self, timing.issue_cycles(arch, mp), None)

    def issue(self, arch: ArchConfig, mp: LayerMapping, tag: Tag = None) -> Gen:
        yield from hold_each(self.env, (self.issue_hold(arch, mp),), tag)


class Interconnect(Unit):
    """The shared inter-tile bus."""

    def transfer_hold(self, arch: ArchConfig, words: int) -> Hold:
        """The hold of moving ``words`` words."""
        return (self, timing.bus_cycles(arch, words), None)

    def transfer(self, arch: ArchConfig, words: int, tag: Tag = None) -> Gen:
        yield from hold_each(self.env, (self.transfer_hold(arch, words),), tag)


class DigitalUnit(Unit):
    """Gradient, optimiser and batch-norm lanes of the digital periphery."""

    def gradient_hold(self, arch: ArchConfig, grad_macs: int, opt_ops: int) -> Hold:
        """The hold of the weight-gradient MACs and the optimiser updates."""
        return (self, timing.digital_cycles(arch, grad_macs, opt_ops), None)

    def gradient_and_optimiser(self, arch: ArchConfig, grad_macs: int, opt_ops: int,
                               tag: Tag = None) -> Gen:
        yield from hold_each(self.env, (self.gradient_hold(arch, grad_macs, opt_ops),), tag)


class Tile:
    """One crossbar tile (row tile ``r``, column tile ``c`` of its layer)."""

    def __init__(self, env: simpy.Environment, arch: ArchConfig, mp: LayerMapping, r: int,
                 c: int) -> None:
        self.env = env
        self.arch = arch
        self.mp = mp
        self.r, self.c = r, c
        self.index = mp.first_tile + r * mp.col_tiles + c
        self.name = tile_name(self.index)
        self.c0 = c * mp.tile_cols
        self.c1 = self.c0 + mp.cols_in(c)
        self.busy = 0
        self._stages: dict[tuple[str, str], list[int]] = {}
        self._res: dict[tuple[str, int], FifoResource] = {}

    def stages(self, phase: str, sensing: str) -> list[int]:
        key = (phase, sensing)
        st = self._stages.get(key)
        if st is None:
            st = (timing.forward_stages(self.arch, self.mp, sensing, self.c)
                  if phase == "feedforward" else timing.backward_stages(self.arch, self.mp, self.r))
            self._stages[key] = st
        return st

    def _stage(self, key: tuple[str, int]) -> FifoResource:
        res = self._res.get(key)
        if res is None:
            res = self._res[key] = FifoResource(self.env, capacity=1)
        return res

    # -- fine mode: one event per product and stage / per write sub-step
    def product(self, phase: str, stages: list[int]) -> Gen:
        for k, s in enumerate(stages):
            with self._stage((phase, k)).request() as req:
                yield req
                yield self.env.timeout(s)

    def products(self, phase: str, sensing: str, n: int, tag: Tag = None) -> Gen:
        start = self.env.now
        st = self.stages(phase, sensing)
        procs = [self.env.process(self.product(phase, st)) for _ in range(n)]
        if procs:
            yield self.env.all_of(procs)
        self.busy += self.env.now - start
        self.traced(start, self.env.now - start, tag)

    def traced(self, start: float, cycles: float, tag: Tag) -> None:
        """Report a busy interval of this tile to the timeline trace, if one is recorded."""
        tr = getattr(self.env, "tracer", None)
        if tr is not None:
            tr.span(self.name, start, int(cycles), *(tag or _NO_TAG))

    def per_cell_write(self, facts: UpdateFacts, tag: Tag = None) -> Gen:
        """Column after column: the state read (if any), then each polarity's sub-step."""
        start = self.env.now
        cyc, read = timing.per_cell_substeps(self.arch, facts, self.r, self.c0, self.c1)
        rd = timing.state_read_cycles(self.arch) if facts.state_aware else 0
        for j in range(cyc.shape[0]):
            if read[j] and rd:
                yield self.env.timeout(rd)
            for p in (0, 1):
                if cyc[j, p]:
                    yield self.env.timeout(int(cyc[j, p]))
        self.busy += self.env.now - start
        self.traced(start, self.env.now - start, tag)

    def outer_vector(self, sub: int, tag: Tag = None) -> Gen:
        """One broadcast input vector: a positive then a negative pulse sub-step."""
        self.traced(self.env.now, 2 * sub, tag)
        yield self.env.timeout(sub)
        yield self.env.timeout(sub)
        self.busy += 2 * sub


class TileGroup:
    """The tiles of one layer: they share broadcast inputs, so one operation batch at a time."""

    def __init__(self, env: simpy.Environment, arch: ArchConfig, mp: LayerMapping,
                 mode: Mode) -> None:
        self.env = env
        self.arch = arch
        self.mp = mp
        self.mode = mode
        self.res = FifoResource(env, capacity=1)    # one operation batch at a time
        self.tiles = [Tile(env, arch, mp, r, c) for r in range(mp.row_tiles)
                      for c in range(mp.col_tiles)]
        # every tile's (row tile, first column, end column), for the per-cell write's cycles
        self._spans = np.array([(t.r, t.c0, t.c1) for t in self.tiles],
                               dtype=np.int64).reshape(-1, 3)

    def operate(self, phase: str, n: int, sensing: str = "", tag: Tag = None) -> Gen:
        """n matrix-vector products of ``phase`` on every tile of the layer."""
        if self.mode == "coarse":
            yield from hold_each(self.env, (self.operate_hold(phase, sensing, n),), tag)
            return
        with self.res.request() as req:
            yield req
            yield self.env.all_of([self.env.process(t.products(phase, sensing, n, tag))
                                   for t in self.tiles])

    def coarse_cycles(self, phase: str, sensing: str, n: int) -> tuple[int, list[int]]:
        """Coarse mode: the cycles of n products of ``phase`` on the layer (its slowest
        tile's) and each tile's own (the pipeline closed form; the chip caches them per
        operation with its holds, :meth:`pnmsim.hw.chip.Chip._coarse_holds`)."""
        per = [timing.pipeline_cycles(t.stages(phase, sensing), n) for t in self.tiles]
        return max(per, default=0), per

    def charge(self, cycles: int, tag: Tag = None, per: list[int] | None = None) -> None:
        """Coarse mode: account an operation of ``cycles`` starting now, each tile busy for
        its own ``per`` cycles from the start (default: all ``cycles``): busy counters and
        timeline spans."""
        if per is None:
            per = [cycles] * len(self.tiles)
        self._traced(per, tag)
        for t, b in zip(self.tiles, per, strict=True):
            t.busy += b

    def _traced(self, per: list[int], tag: Tag) -> None:
        """Coarse mode: each tile is busy for its own cycles from the operation's start."""
        if getattr(self.env, "tracer", None) is not None:
            for t, b in zip(self.tiles, per, strict=True):
                t.traced(self.env.now, b, tag)

    def write(self, facts: UpdateFacts, tag: Tag = None) -> Gen:
        """The layer's weight update from its recorded facts."""
        if self.mode == "coarse":
            yield from hold_each(self.env, (self.write_hold(facts),), tag)
            return
        with self.res.request() as req:
            yield req
            if facts.scheme == "per_cell":   # tiles write their own columns in parallel
                yield self.env.all_of([self.env.process(t.per_cell_write(facts, tag))
                                       for t in self.tiles])
                return
            # outer product: vector after vector; the next waits for every tile
            sub = timing.outer_substeps(self.arch, facts)     # (applied vectors, col_tiles)
            for v in range(sub.shape[0]):
                yield self.env.all_of([self.env.process(t.outer_vector(int(sub[v, t.c]), tag))
                                       for t in self.tiles])

    def operate_hold(self, phase: str, sensing: str, n: int) -> Hold:
        """Coarse mode: the hold of n products of ``phase`` (:meth:`coarse_cycles`)."""
        return (self, *self.coarse_cycles(phase, sensing, n))

    def write_hold(self, facts: UpdateFacts) -> Hold:
        """Coarse mode: the hold of the layer's update from its facts: its slowest tile's
        cycles and each tile's own."""
        return (self, *(self._per_cell_cycles(facts) if facts.scheme == "per_cell"
                        else self._outer_cycles(facts)))

    def _per_cell_cycles(self, facts: UpdateFacts) -> tuple[int, list[int]]:
        """Coarse mode: a per-cell update's cycles (its slowest tile's) and each tile's own."""
        per = timing.per_cell_tiles_cycles(self.arch, facts, self._spans)
        return max(per, default=0), per

    def _outer_cycles(self, facts: UpdateFacts) -> tuple[int, list[int]]:
        """Coarse mode: an outer-product update's cycles and each tile's own — its sub-steps,
        packed from the layer's start (its waits for slower tiles between vectors are not
        drawn); no sub-step at all <=> 0 cycles."""
        sub = timing.outer_substeps(self.arch, facts)     # (applied vectors, col_tiles)
        per_c = 2 * np.asarray(sub).sum(axis=0) if sub.size else np.zeros(self.mp.col_tiles)
        return (timing.outer_layer_cycles(self.arch, facts),
                [int(per_c[t.c]) for t in self.tiles])
