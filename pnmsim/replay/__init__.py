"""Activity record and replay: one functional run re-timed and re-priced on other presets.

``pnmsim simulate ... --record DIR`` stores what the timed model and the cost roll-up consume
from the functional model (:mod:`pnmsim.replay.record`); ``pnmsim replay DIR ARCH...`` rebuilds
the chip of each preset, schedules the recorded mini-batches on it and prices the recorded
action counts with its cost table (:mod:`pnmsim.replay.retime`). That equals a full simulation
exactly when the presets differ only in cost/timing keys (:mod:`pnmsim.replay.keys`); any
other difference is refused.
"""

from pnmsim.replay.keys import key_class
from pnmsim.replay.record import ActivityRecord, load_record, write_record
from pnmsim.replay.retime import check_replayable, replay, replay_many

__all__ = ["ActivityRecord", "check_replayable", "key_class", "load_record", "replay",
           "replay_many", "write_record"]
