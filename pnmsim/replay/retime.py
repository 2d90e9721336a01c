"""Re-time and re-price a recorded activity on another preset (see :mod:`pnmsim.replay`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pnmsim.config import ArchConfig, to_dict
from pnmsim.errors import PnmsimError
from pnmsim.hw.chip import Chip
from pnmsim.mapping import map_network
from pnmsim.records import PHASES
from pnmsim.replay.keys import first_value_difference
from pnmsim.replay.record import ActivityRecord
from pnmsim.results import Results


def check_replayable(rec: ActivityRecord, arch: ArchConfig) -> None:
    """Refuse (one line naming the key) a preset that differs from the recorded one in a key
    that is not cost/timing only."""
    diff = first_value_difference(to_dict(rec.arch), to_dict(arch))
    if diff is not None:
        key, was, now, why = diff
        raise PnmsimError(f"replay on {arch.name}: {key} is {now!r} but the record has {was!r};"
                          f" {why}: run pnmsim simulate for this preset")


def replay(rec: ActivityRecord, arch: ArchConfig, tracer: Any = None) -> Results:
    """The Results a full ``simulate`` of ``arch`` would give, from the record: the chip of
    ``arch`` schedules the recorded batches, the recorded tally is priced by its cost table."""
    check_replayable(rec, arch)
    t0 = time.perf_counter()
    mapping = map_network(rec.workload, arch)
    m = rec.manifest
    chip = Chip(arch, mapping, m["mode"])
    if tracer is not None:
        chip.attach_tracer(tracer)
    for b, recs in enumerate(rec.batches):
        if tracer is not None:
            tracer.batch = b
        chip.run_batch(list(recs))
    return Results(arch=arch, workload=rec.workload, samples=max(1, int(m["samples"])),
                   seed=int(m["seed"]), tally=rec.tally, cycles=dict(chip.cycles),
                   mapping=mapping, busy=chip.busy_cycles(), events=chip.total_events(),
                   wall_s=time.perf_counter() - t0, accuracy=float(m["accuracy"]),
                   loss=float(m["loss"]), timed=True,
                   weights_source=str(m.get("weights_source", "")),
                   tile_busy=chip.tile_busy(), phases_run=_phases_run(m),
                   update_setting=str(m.get("update_setting", "")))


def _phases_run(manifest: dict) -> tuple[str, ...]:
    """The phases the recorded run executed (records of older runs hold all three)."""
    got = manifest.get("phases_run", list(PHASES))
    if not isinstance(got, list) or not got or not set(got) <= set(PHASES):
        raise PnmsimError(f"record manifest: phases_run: got {got!r}; allowed: a list of "
                          f"{', '.join(PHASES)}")
    return tuple(str(p) for p in got)


def replay_many(rec: ActivityRecord, archs: Sequence[ArchConfig]) -> list[Results]:
    """Check every preset first (nothing runs when one would be refused), then replay each."""
    for a in archs:
        check_replayable(rec, a)
    return [replay(rec, a) for a in archs]


__all__ = ["check_replayable", "replay", "replay_many"]
