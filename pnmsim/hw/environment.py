"""The chip model's SimPy environment: ``simpy.Environment`` counting the events it processes.

The chip runs each phase with ``env.run(until=process)``. SimPy's ``run`` calls ``step`` once an
event — two calls an event, since the count overrides ``step`` — and stops through a
``StopSimulation`` callback on the until event, which ``step`` catches to re-queue that event.
:meth:`CountingEnvironment.run` until an event not yet processed is SimPy's ``run`` with
``step``'s body written into its loop, the count kept as it goes: the same ``StopSimulation``
callback, the same re-queue of a stopping event (its later callbacks kept, at priority -1, so
the next run processes it first), the same exceptions caught and raised (a failed event nothing
defused, a failed until event, ``StopSimulation`` and ``EmptySchedule`` from anywhere in the
loop), the same error when the queue runs dry first — so the same events in the same order at
the same times and the same count at every point (``tests/test_environment.py`` checks this
against SimPy's ``run`` on random processes run phase after phase). It reads what ``step``
reads (``_queue``, ``_now``, an event's ``_ok``, ``_value``, ``_defused``); that test fails if
an installed SimPy changes them. Any other ``run`` (until a time, to the end, until a
processed event, or in a subclass that overrides ``step``) is SimPy's own, through ``step``.
"""

from __future__ import annotations

from heapq import heappop
from typing import Any

import simpy
from simpy.core import EmptySchedule, StopSimulation
from simpy.events import EventPriority


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (``processed``)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0
        self.tracer: Any = None      # a pnmsim.trace.Tracer while a timeline is recorded

    def step(self) -> None:
        if self._queue:     # an event to process (else SimPy's EmptySchedule: none counted)
            self.processed += 1
        super().step()

    def run(self, until: Any = None) -> Any:
        """SimPy's ``run``; until an event not yet processed, with ``step``'s body in its loop
        (module doc)."""
        if (not isinstance(until, simpy.Event) or until.callbacks is None
                or type(self).step is not CountingEnvironment.step):
            return super().run(until)
        until.callbacks.append(StopSimulation.callback)
        queue = self._queue
        try:
            while True:
                try:
                    self._now, _, _, event = heappop(queue)
                except IndexError:
                    raise EmptySchedule from None
                self.processed += 1
                callbacks, event.callbacks = event.callbacks, None
                try:
                    for callback in callbacks:
                        callback(event)
                except StopSimulation:
                    event.callbacks = callbacks[callbacks.index(callback) + 1:]
                    self.schedule(event, EventPriority(-1))
                    raise
                if not event._ok and not hasattr(event, "_defused"):
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    raise exc
        except StopSimulation as stop:
            return stop.args[0]
        except EmptySchedule:
            assert not until.triggered
            raise RuntimeError(f'No scheduled events left but "until" event was not '
                               f'triggered: {until}') from None
