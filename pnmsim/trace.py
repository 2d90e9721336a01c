"""Timeline trace of the SimPy schedule in Chrome Trace Event Format (Perfetto and
``chrome://tracing`` open it).

A :class:`Tracer` attached to a :class:`~pnmsim.hw.chip.Chip` receives one span per busy
interval of every component of the tree: each tile (``chip.tile[07]``), the controller (one
track per issue slot when it has several: ``chip.controller.slot[1]``), the interconnect and
the digital unit. Spans are kept in cycles of simulated time and become ``X`` events with
``ts``/``dur`` in microseconds (cycles / clock MHz) when written; ``args`` carry the phase, the
layer, the mini-batch and the sample group. ``C`` events (one counter, ``power_w``, one series
per component class) give the average power of each class per phase of each mini-batch (that
phase's energy from the cost table over its duration, in W). The schema is
:mod:`pnmsim.tracefmt`'s (shared with its reader and ``pnmsim timeline``).

Time base: the chip's own cycle counters (``sum(chip.cycles)`` at a phase's start) plus the
SimPy clock's advance within the phase, so a trace's time is the run's simulated time even
where the chip replays a memoised phase instead of stepping SimPy.

Size is bounded by ``limit`` X events; what is dropped is counted and stated in the file's
``otherData`` (and by the CLI on stderr). Without a tracer the chip and components do nothing
more than one ``is None`` test per span.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pnmsim.tracefmt import (
    ARG_PHASE,
    PH_COMPLETE,
    PH_COUNTER,
    PH_METADATA,
    POWER_COUNTER,
    TIME_UNIT,
    TRACE_EVENTS,
)

SCHEMA = "pnmsim-trace/1"
"""``otherData.schema`` of a trace written by pnmsim."""
PID = 1
POWER_UNIT = "W"
PJ_PER_US_TO_W = 1e-6      # pJ / us = 1e-12 J / 1e-6 s

Span = tuple[str, int, int, str, dict[str, Any]]   # (track, ts cycles, dur cycles, name, args)


class Tracer:
    """Collects spans (cycles) and power samples; writes Chrome Trace Event JSON."""

    def __init__(self, clock_mhz: float = 1.0, limit: int | None = None,
                 meta: Mapping[str, Any] | None = None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"trace limit must be >= 0, got {limit}")
        self.clock_mhz = float(clock_mhz)       # used only when written (spans are cycles)
        self.limit = limit
        self.meta = dict(meta or {})
        self.spans: list[Span] = []
        self.dropped = 0
        self.tracks: dict[str, int] = {}           # track name -> tid (first seen order)
        self.power: list[tuple[int, str, float, int]] = []  # (ts, class, pJ, cycles)
        self.batch = 0
        self.active = True
        self._shift = 0                            # trace cycles - SimPy clock in this phase
        self._slots: dict[str, list[int]] = {}     # unit -> end cycle of each slot
        self._capture: list[Span] | None = None
        self._power_end: int | None = None
        self._classes: set[str] = set()

    # ------------------------------------------------------------------ spans
    def begin_phase(self, trace_cycles: int, env_now: float) -> None:
        """A phase starts at ``trace_cycles`` of the run while SimPy's clock reads env_now."""
        self._shift = int(trace_cycles - env_now)
        self._slots.clear()                  # phases start from an idle chip

    def span(self, track: str, env_start: float, cycles: int, name: str,
             args: dict[str, Any]) -> None:
        """A busy interval of ``cycles`` on ``track`` starting at SimPy time env_start."""
        if cycles <= 0:
            return
        self._add((track, int(env_start) + self._shift, int(cycles), name,
                   {**args, "batch": self.batch}))

    def unit_span(self, unit: str, capacity: int, env_start: float, cycles: int, name: str,
                  args: dict[str, Any]) -> None:
        """A hold of a unit with ``capacity`` slots: each slot has its own track, and the
        hold goes to the lowest slot free at its start (spans arrive in start order, and the
        unit's resource never grants more than ``capacity`` at once, so one is free)."""
        if cycles <= 0:
            return
        track = unit
        if capacity > 1:
            ts = int(env_start) + self._shift
            ends = self._slots.setdefault(unit, [-1] * capacity)
            k = next(i for i, e in enumerate(ends) if e <= ts)
            ends[k] = ts + int(cycles)
            track = f"{unit}.slot[{k}]"
        self.span(track, env_start, cycles, name, args)

    def _add(self, s: Span) -> None:
        if self._capture is not None:
            self._capture.append(s)
        if s[0] not in self.tracks:
            self.tracks[s[0]] = len(self.tracks) + 1
        if self.limit is not None and len(self.spans) >= self.limit:
            self.dropped += 1
            return
        self.spans.append(s)

    # ------------------------------------------------------------------ memoised phases
    def start_capture(self) -> None:
        self._capture = []

    def end_capture(self, phase_start: int) -> list[Span]:
        """The spans since :meth:`start_capture`, relative to the phase's start."""
        cap, self._capture = self._capture or [], None
        return [(t, ts - phase_start, d, n, a) for t, ts, d, n, a in cap]

    def replay(self, spans: list[Span], phase_start: int) -> None:
        """Re-emit a memoised phase's spans at ``phase_start`` (the chip's counters replay the
        same phase)."""
        for t, ts, d, n, a in spans:
            self._add((t, ts + phase_start, d, n, {**a, "batch": self.batch}))

    # ------------------------------------------------------------------ power
    def phase_power(self, start: int, cycles: int, energy_pj: Mapping[str, float]) -> None:
        """Average power of each component class over one phase (energy pJ / duration)."""
        if cycles <= 0:
            return
        if self._power_end is not None and self._power_end != start:
            self._zero(self._power_end)
        for cls in sorted(set(energy_pj) | self._classes):
            self._classes.add(cls)
            self.power.append((start, cls, float(energy_pj.get(cls, 0.0)), int(cycles)))
        self._power_end = start + cycles

    def _zero(self, ts: int) -> None:
        for cls in sorted(self._classes):
            self.power.append((ts, cls, 0.0, 1))

    # ------------------------------------------------------------------ output
    def busy_us(self) -> dict[str, float]:
        """Sum of the kept X durations per track (µs)."""
        out: dict[str, float] = {}
        for t, _, d, _, _ in self.spans:
            out[t] = out.get(t, 0.0) + d / self.clock_mhz
        return out

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def note(self) -> str:
        if not self.truncated:
            return ""
        return (f"trace truncated: kept the first {len(self.spans)} X events of "
                f"{len(self.spans) + self.dropped} (--trace-limit {self.limit}); "
                f"{self.dropped} dropped")

    def to_json(self) -> dict[str, Any]:
        ev: list[dict[str, Any]] = [
            {"ph": PH_METADATA, "pid": PID, "tid": 0, "name": "process_name",
             "args": {"name": f"pnmsim chip ({self.meta.get('arch', '?')})"}}]
        for name, tid in sorted(self.tracks.items(), key=lambda kv: _track_order(kv[0])):
            ev.append({"ph": PH_METADATA, "pid": PID, "tid": tid, "name": "thread_name",
                       "args": {"name": name}})
            ev.append({"ph": PH_METADATA, "pid": PID, "tid": tid, "name": "thread_sort_index",
                       "args": {"sort_index": _track_order(name)[0] * 10000 + tid}})
        for t, ts, d, n, a in sorted(self.spans, key=lambda s: (s[1], self.tracks[s[0]])):
            t0, dur = _us_span(ts, d, self.clock_mhz)
            ev.append({"ph": PH_COMPLETE, "pid": PID, "tid": self.tracks[t], "name": n,
                       "cat": a.get(ARG_PHASE, ""), "ts": t0, "dur": dur, "args": a})
        # one counter, one series per component class: each phase's mean power (W)
        by_ts: dict[int, dict[str, float]] = {}
        for ts, cls, pj, cyc in self.power:
            by_ts.setdefault(ts, {})[cls] = pj / (cyc / self.clock_mhz) * PJ_PER_US_TO_W
        if self._power_end is not None:
            by_ts[self._power_end] = {c: 0.0 for c in sorted(self._classes)}
        for ts in sorted(by_ts):
            ev.append({"ph": PH_COUNTER, "pid": PID, "name": POWER_COUNTER,
                       "ts": ts / self.clock_mhz,
                       "args": by_ts[ts]})
        other = {"schema": SCHEMA, "time_unit": f"{TIME_UNIT} of simulated time "
                 "(cycles / clock_mhz)", "clock_mhz": self.clock_mhz,
                 "power_unit": POWER_UNIT,
                 "power": "average power of each component class per phase of each "
                          "mini-batch: that phase's energy (cost table) / its duration",
                 "x_events": len(self.spans), "dropped_events": self.dropped,
                 "limit": self.limit, "truncated": self.truncated, "note": self.note(),
                 **self.meta}
        return {TRACE_EVENTS: ev, "displayTimeUnit": "ns", "otherData": other}

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write the trace atomically; an existing file is kept unless ``force``."""
        from pnmsim.results import atomic_write

        p = Path(path)
        check_target(p, force)
        atomic_write(p, json.dumps(self.to_json(), separators=(",", ":")))
        return p


def _us_span(ts: int, cycles: int, clock_mhz: float) -> tuple[float, float]:
    """(ts, dur) in µs of a span of whole cycles, with ``ts + dur`` never past the µs value
    of its end cycle (so spans that touch in cycles never overlap in floating point)."""
    start, end = ts / clock_mhz, (ts + cycles) / clock_mhz
    dur = end - start
    while start + dur > end:
        dur = math.nextafter(dur, 0.0)
    return start, dur


def _track_order(name: str) -> tuple[int, str]:
    for k, prefix in enumerate(("chip.controller", "chip.interconnect", "chip.digital",
                                "chip.tile")):
        if name.startswith(prefix):
            return k, name
    return 9, name


def check_target(path: str | Path, force: bool, option: str = "--trace") -> None:
    """Refuse to overwrite an existing output file unless ``force`` (checked before a run, so
    nothing is computed for an output that cannot be written)."""
    from pnmsim.errors import PnmsimError

    p = Path(path)
    if p.is_dir():
        raise PnmsimError(f"{option} {p}: is a folder; give a file name (e.g. trace.json)")
    if p.exists() and not force:
        raise PnmsimError(f"{option} {p}: exists; choose another file or pass --force to "
                          "replace it")


__all__ = ["SCHEMA", "Tracer", "check_target"]
