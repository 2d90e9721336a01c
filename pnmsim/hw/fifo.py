"""A first-come-first-served resource of fixed capacity for the SimPy chip model, with
``simpy.Resource``'s exact event order and a fraction of its Python work.

``simpy.Resource`` serves requests through the generic put/get machinery of
``simpy.resources.base`` (queue scans, a callback per request that has nothing to do, class
initialisers four levels deep). The chip model asks its resources only for what a plain FIFO
resource does — ``with res.request() as req: yield req`` and the release when the block ends —
and spent about a third of a first mini-batch's schedule there. :class:`FifoResource` schedules
its events with the same ``Event.succeed`` calls at the same points as ``simpy.Resource``, so
the environment schedules and processes the same sequence of events (a request event where
simpy has its ``Request``, a plain event where it has its ``Release``) at the same times: the
same cycles, busy cycles and event count. Tested against ``simpy.Resource`` on random contention
(the sequence of scheduled events, every grant and release, events processed) and on the chip
in both timing modes:

* ``request()`` appends the request to the waiting queue, then — if fewer than ``capacity``
  requests hold the resource — grants the *oldest* waiting one (``Resource._trigger_put``
  tries only the head of the queue: a request made after a release, before that release's
  event was processed, is granted to whoever waited longest);
* the release (``__exit__`` of the ``with`` block, or :meth:`FifoResource.release`) removes
  the request from the holders and triggers a release event at once; processing that event
  grants the head of the queue if there is room;
* a request leaving its ``with`` block before it was granted (an interrupt) leaves the queue
  and, as in simpy, still triggers a release event (which frees nothing).

A request keeps its process (``proc``) as simpy's does, so a process waiting in a ``with``
block lives exactly as long under either. Only the public SimPy event API is used (``Event``,
``succeed``, ``triggered``, ``callbacks``, ``active_process``). Not provided (the chip model
uses none of them): priorities, preemption, ``count``/``users``/``put_queue``/``get_queue``,
``usage_since``, ``Request.cancel``.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import simpy


class FifoRequest(simpy.Event):
    """A request for one unit of a :class:`FifoResource`; triggered when granted."""

    def __init__(self, resource: FifoResource) -> None:
        super().__init__(resource.env)
        self.resource = resource
        # as simpy's Put: the requesting process, which this keeps alive while queued
        self.proc = resource.env.active_process
        resource.queue.append(self)
        if len(resource.holders) < resource.capacity:
            resource.grant_head()

    def __enter__(self) -> FifoRequest:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        res = self.resource
        if not self.triggered:      # left before it was granted
            res.queue.remove(self)
        # as simpy's Request: no release on a generator's cleanup (GeneratorExit)
        if exc_type is not GeneratorExit:
            res.release(self)


class FifoResource:
    """``capacity`` units served first come, first served (see the module docstring)."""

    def __init__(self, env: simpy.Environment, capacity: int = 1) -> None:
        if capacity <= 0:
            raise ValueError(f"FifoResource: capacity must be > 0, got {capacity}")
        self.env = env
        self.capacity = capacity
        self.holders: list[FifoRequest] = []
        self.queue: deque[FifoRequest] = deque()

    def request(self) -> FifoRequest:
        """A request event, to ``yield`` in a ``with`` block (released when it ends)."""
        return FifoRequest(self)

    def release(self, request: FifoRequest) -> simpy.Event:
        """Give ``request``'s unit back (a request that holds none is ignored); returns the
        triggered release event, whose processing grants the oldest waiting request."""
        ev = simpy.Event(self.env)
        ev.callbacks.append(self._on_release)
        try:
            self.holders.remove(request)
        except ValueError:
            pass
        ev.succeed()
        return ev

    def grant_head(self) -> None:
        """Grant the oldest waiting request if a unit is free."""
        if self.queue and len(self.holders) < self.capacity:
            req = self.queue.popleft()
            self.holders.append(req)
            req.succeed()

    def _on_release(self, _event: simpy.Event) -> None:
        self.grant_head()
