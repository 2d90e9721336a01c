"""The timeline trace format: schema constants and a strict reader of Chrome Trace Event files.

pnmsim traces are Chrome Trace Event Format JSON objects that Perfetto and ``chrome://tracing``
open. The writer (``simulate --trace``) and the reader below share the constants of this module.

- top level: an object with ``traceEvents`` (a list) and optionally ``displayTimeUnit`` and
  ``otherData`` (a mapping: pnmsim puts run metadata there, e.g. ``truncated``);
- ``M`` (metadata) events name tracks: ``process_name`` (per ``pid``) and ``thread_name`` (per
  ``pid``/``tid``; pnmsim names a track by its component path, ``chip.tile[07].adc``), with
  ``args: {"name": ...}``; ``process_sort_index``/``thread_sort_index`` are accepted;
- ``X`` (complete) events: one busy interval of one component: ``name``, ``pid``, ``tid``,
  ``ts`` and ``dur`` in microseconds of simulated time (``ts, dur >= 0``), and
  ``args: {"phase": ..., "layer": ..., "group": ...}`` (``phase`` required: one of
  ``PHASES`` or another string; ``layer`` and ``group`` optional). Events on one track must not
  overlap;
- ``C`` (counter) events: ``name`` (``POWER_COUNTER`` for power), ``pid``, ``ts`` and ``args``
  mapping each series (a component class) to a finite number (watts for power). A counter holds
  its value until its next event.

Other event types are refused: this reader is for pnmsim's own traces. Every problem is one
:class:`TraceError` line naming the file, the event index and key, the value and what is allowed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnmsim.errors import ConfigError

TRACE_EVENTS = "traceEvents"
PH_METADATA = "M"
PH_COMPLETE = "X"
PH_COUNTER = "C"
METADATA_NAMES: tuple[str, ...] = ("process_name", "thread_name", "process_sort_index",
                                   "thread_sort_index")
ARG_PHASE = "phase"
ARG_LAYER = "layer"
ARG_GROUP = "group"
PHASES: tuple[str, ...] = ("feedforward", "backprop", "update")
POWER_COUNTER = "power_w"
TIME_UNIT = "us"          # ts and dur are microseconds of simulated time


class TraceError(ConfigError):
    """A malformed timeline trace (``FILE: where: got VALUE; allowed: WHAT``)."""


@dataclass(frozen=True)
class Span:
    track: tuple[int, int]
    name: str
    ts: float
    dur: float
    phase: str
    layer: Any = None
    group: Any = None


@dataclass
class Trace:
    source: str
    process_names: dict[int, str] = field(default_factory=dict)
    thread_names: dict[tuple[int, int], str] = field(default_factory=dict)
    sort_index: dict[tuple[int, int], float] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    counters: dict[str, list[tuple[float, dict[str, float]]]] = field(default_factory=dict)
    other: dict = field(default_factory=dict)

    def track_name(self, track: tuple[int, int]) -> str:
        if track in self.thread_names:
            return self.thread_names[track]
        proc = self.process_names.get(track[0], f"pid {track[0]}")
        return f"{proc} tid {track[1]}"

    def tracks(self) -> list[tuple[int, int]]:
        """Tracks with at least one span, in sort-index then (pid, tid) order."""
        used = {s.track for s in self.spans}
        return sorted(used, key=lambda t: (self.sort_index.get(t, math.inf), t))

    def extent(self) -> tuple[float, float]:
        ts = [s.ts for s in self.spans] + [t for c in self.counters.values() for t, _ in c]
        te = [s.ts + s.dur for s in self.spans] + ts
        return (min(ts), max(te)) if ts else (0.0, 0.0)


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_trace(path: str | Path) -> Trace:
    """Read and validate a trace file; see the module docstring for the schema."""
    from pnmsim.safeload import DATA_MAX_BYTES, regular_file

    src = str(path)
    regular_file(path, src, "trace JSON file", DATA_MAX_BYTES)   # no FIFO, device, loop
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise TraceError(src, "(file)", src, "an existing trace JSON file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError(src, "(file)", src, f"a readable JSON text file ({e})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(src, f"line {e.lineno} column {e.colno}", e.msg,
                         "well-formed JSON") from None
    except RecursionError:
        raise TraceError(src, "(json)", "nesting too deep", "a trace JSON file") from None
    return parse_trace(doc, src)


def parse_trace(doc: Any, src: str = "(trace)") -> Trace:
    """Validate an already parsed trace object."""
    if not isinstance(doc, dict) or TRACE_EVENTS not in doc:
        raise TraceError(src, "(top level)", type(doc).__name__,
                         f"a JSON object with a '{TRACE_EVENTS}' list")
    events = doc[TRACE_EVENTS]
    if not isinstance(events, list):
        raise TraceError(src, TRACE_EVENTS, type(events).__name__, "a list of events")
    other = doc.get("otherData", {})
    if not isinstance(other, dict):
        raise TraceError(src, "otherData", other, "a mapping")
    tr = Trace(source=src, other=other)
    for i, ev in enumerate(events):
        where = f"{TRACE_EVENTS}[{i}]"
        if not isinstance(ev, dict):
            raise TraceError(src, where, ev, "an event object")
        ph = ev.get("ph")
        if ph == PH_METADATA:
            _metadata(tr, ev, src, where)
        elif ph == PH_COMPLETE:
            tr.spans.append(_complete(ev, src, where))
        elif ph == PH_COUNTER:
            _counter(tr, ev, src, where)
        else:
            raise TraceError(src, f"{where}.ph", ph, f"one of {PH_METADATA}, {PH_COMPLETE}, "
                             f"{PH_COUNTER} (pnmsim traces)")
    check_no_overlap(tr)
    return tr


def _ids(ev: dict, src: str, where: str, need_tid: bool) -> tuple[int, int]:
    for k in ("pid",) + (("tid",) if need_tid else ()):
        if not _int(ev.get(k)):
            raise TraceError(src, f"{where}.{k}", ev.get(k, "(missing)"), "an integer")
    return ev["pid"], ev.get("tid", 0) if _int(ev.get("tid", 0)) else 0


def _metadata(tr: Trace, ev: dict, src: str, where: str) -> None:
    name = ev.get("name")
    if name not in METADATA_NAMES:
        raise TraceError(src, f"{where}.name", name, "one of " + ", ".join(METADATA_NAMES))
    pid, tid = _ids(ev, src, where, need_tid=name.startswith("thread"))
    args = ev.get("args")
    if not isinstance(args, dict):
        raise TraceError(src, f"{where}.args", args, "a mapping")
    if name.endswith("_name"):
        if not isinstance(args.get("name"), str) or not args["name"]:
            raise TraceError(src, f"{where}.args.name", args.get("name", "(missing)"),
                             "a non-empty string")
        if name == "process_name":
            tr.process_names[pid] = args["name"]
        else:
            tr.thread_names[(pid, tid)] = args["name"]
    else:
        if not _num(args.get("sort_index")):
            raise TraceError(src, f"{where}.args.sort_index", args.get("sort_index",
                             "(missing)"), "a number")
        if name == "thread_sort_index":
            tr.sort_index[(pid, tid)] = float(args["sort_index"])


def _complete(ev: dict, src: str, where: str) -> Span:
    if not isinstance(ev.get("name"), str):
        raise TraceError(src, f"{where}.name", ev.get("name", "(missing)"), "a string")
    pid, tid = _ids(ev, src, where, need_tid=True)
    for k in ("ts", "dur"):
        v = ev.get(k, "(missing)")
        if not _num(v) or v < 0:
            raise TraceError(src, f"{where}.{k}", v, f"a finite number >= 0 ({TIME_UNIT})")
    args = ev.get("args")
    if not isinstance(args, dict):
        raise TraceError(src, f"{where}.args", args if args is not None else "(missing)",
                         f"a mapping with '{ARG_PHASE}' (and optionally '{ARG_LAYER}', "
                         f"'{ARG_GROUP}')")
    phase = args.get(ARG_PHASE)
    if not isinstance(phase, str) or not phase:
        raise TraceError(src, f"{where}.args.{ARG_PHASE}", phase if phase is not None
                         else "(missing)", "a non-empty string, e.g. " + ", ".join(PHASES))
    return Span((pid, tid), ev["name"], float(ev["ts"]), float(ev["dur"]), phase,
                args.get(ARG_LAYER), args.get(ARG_GROUP))


def _counter(tr: Trace, ev: dict, src: str, where: str) -> None:
    if not isinstance(ev.get("name"), str) or not ev["name"]:
        raise TraceError(src, f"{where}.name", ev.get("name", "(missing)"), "a counter name")
    _ids(ev, src, where, need_tid=False)
    ts = ev.get("ts", "(missing)")
    if not _num(ts) or ts < 0:
        raise TraceError(src, f"{where}.ts", ts, f"a finite number >= 0 ({TIME_UNIT})")
    args = ev.get("args")
    if not isinstance(args, dict) or not args:
        raise TraceError(src, f"{where}.args", args, "a non-empty mapping series -> number")
    for k, v in args.items():
        if not _num(v):
            raise TraceError(src, f"{where}.args.{k}", v, "a finite number")
    tr.counters.setdefault(ev["name"], []).append(
        (float(ts), {k: float(v) for k, v in args.items()}))


def check_no_overlap(tr: Trace) -> None:
    """Refuse two ``X`` events on one track that overlap in time (touching is allowed)."""
    by_track: dict[tuple[int, int], list[tuple[float, float, int]]] = defaultdict(list)
    for j, s in enumerate(tr.spans):
        by_track[s.track].append((s.ts, s.ts + s.dur, j))
    for track, iv in by_track.items():
        iv.sort()
        for (a0, a1, ja), (b0, _b1, jb) in zip(iv, iv[1:], strict=False):
            if b0 < a1:
                raise TraceError(tr.source, f"track {tr.track_name(track)!r}",
                                 f"X events {tr.spans[ja].name!r} [{a0:g}, {a1:g}) and "
                                 f"{tr.spans[jb].name!r} [{b0:g}, ...) overlap",
                                 "events on one track that do not overlap")
