"""``pnmsim.hw.fifo.FifoResource`` against ``simpy.Resource``, the reference it replaces: the
same sequence of events scheduled, the same grants and releases at the same times in the same
order, and the same number of events processed, on random contention (capacities 1-3,
zero-length holds, simultaneous arrivals, requests made in the window between a release and
its event, nested holds, interrupted waiters), with the garbage collector running, and on the
chip model in both timing modes."""

from __future__ import annotations

import gc

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from pnmsim.config import load_arch
from pnmsim.hw import components
from pnmsim.hw.chip import Chip
from pnmsim.hw.environment import CountingEnvironment
from pnmsim.hw.fifo import FifoRequest, FifoResource
from pnmsim.hw.synthetic import training_batch_records
from pnmsim.mapping import map_network
from pnmsim.workload import load_workload


class _LoggingEnvironment(CountingEnvironment):
    """Logs every event scheduled: (time, priority, delay, kind), the kind a request (simpy's
    ``Request`` or a ``FifoRequest``), a timeout, a process start or end, or another event
    (simpy's ``Release``, the FIFO resource's release event, an interrupt)."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled: list[tuple] = []

    def schedule(self, event, priority=simpy.events.NORMAL, delay=0) -> None:
        kind = ("request" if isinstance(event, (simpy.resources.resource.Request, FifoRequest))
                else "timeout" if isinstance(event, simpy.Timeout)
                else "start" if isinstance(event, simpy.events.Initialize)
                else "process" if isinstance(event, simpy.Process) else "other")
        self.scheduled.append((self.now, priority, delay, kind))
        super().schedule(event, priority, delay)


def _world(kind: type, plan: list[list[tuple[int, int, int, int]]], capacities: list[int],
           interrupts: list[tuple[int, int]]) -> tuple[list[tuple], int]:
    """Processes following ``plan`` (per process: (wait, resource, hold, nested resource or
    -1) steps) on resources of ``kind``; ``interrupts``: (time, process) pairs. Returns the
    trace of grants, releases and interrupts (time, process, step, what), the sequence of
    events scheduled (time, priority, delay, kind) and the number of events processed."""
    env = _LoggingEnvironment()
    res = [kind(env, capacity=c) for c in capacities]
    trace: list[tuple] = []

    def proc(pid: int, steps: list[tuple[int, int, int, int]]):
        for k, (wait, r, hold, inner) in enumerate(steps):
            try:
                if wait:
                    yield env.timeout(wait)
                with res[r].request() as req:
                    yield req
                    trace.append((env.now, pid, k, "got", r))
                    if inner >= 0 and inner != r:   # a nested hold of another resource
                        with res[inner].request() as req2:
                            yield req2
                            trace.append((env.now, pid, k, "got inner", inner))
                            yield env.timeout(hold)
                    else:
                        yield env.timeout(hold)
                    trace.append((env.now, pid, k, "release", r))
            except simpy.Interrupt:
                trace.append((env.now, pid, k, "interrupted", r))

    procs = [env.process(proc(i, steps)) for i, steps in enumerate(plan)]

    def interrupter(at: int, pid: int):
        yield env.timeout(at)
        if procs[pid].is_alive:
            procs[pid].interrupt()

    for at, pid in interrupts:
        env.process(interrupter(at, pid % len(procs)))
    env.run()
    return trace, env.scheduled, env.processed


_step = st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 4), st.integers(-1, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_step, min_size=1, max_size=6), min_size=1, max_size=7),
       st.lists(st.integers(1, 3), min_size=3, max_size=3),
       st.lists(st.tuples(st.integers(0, 12), st.integers(0, 6)), max_size=3))
def test_fifo_resource_schedules_exactly_as_simpy_resource(plan, capacities, interrupts):
    # nested holds always take the higher-numbered resource second: no deadlock by design
    plan = [[(w, r, h, i if i > r else -1) for (w, r, h, i) in steps] for steps in plan]
    want = _world(simpy.Resource, plan, capacities, interrupts)
    got = _world(FifoResource, plan, capacities, interrupts)
    assert got == want


def _release_window(kind: type) -> dict[str, float]:
    """A holds [0, 2); B waits from 0; at 2 A releases and at once (same time, before the
    release's event is processed) C asks. Returns when each got the resource."""
    env = simpy.Environment()
    res = kind(env, capacity=1)
    got: dict[str, float] = {}

    def user(name: str, start: int, hold: int):
        yield env.timeout(start)
        with res.request() as req:
            yield req
            got[name] = env.now
            yield env.timeout(hold)

    def a_then_c():
        with res.request() as req:
            yield req
            got["A"] = env.now
            yield env.timeout(2)
        env.process(user("C", 0, 1))      # asks in the release's window

    env.process(a_then_c())
    env.process(user("B", 0, 3))
    env.run()
    return got


@pytest.mark.parametrize("kind", [simpy.Resource, FifoResource])
def test_request_after_a_release_goes_behind_the_oldest_waiter(kind) -> None:
    """Written out: B, the oldest waiter, gets it at 2 and C after B's 3 cycles, at 5."""
    assert _release_window(kind) == {"A": 0, "B": 2, "C": 5}


def _orphaned_waiter(kind: type) -> tuple[list[float], int]:
    """A process queued in a ``with`` block on a request it never yields, waiting on an event
    nothing else references, while the garbage collector runs: simpy's request keeps the
    process (and so its queued request) alive, which then blocks the resource for good."""
    env = simpy.Environment()
    res = kind(env, capacity=1)
    late: list[float] = []

    def holder():
        with res.request() as req:
            yield req
            yield env.timeout(10)

    def orphan():
        with res.request():            # queued behind the holder, never yielded
            yield env.event()          # an event nobody keeps

    def latecomer():
        yield env.timeout(2)
        with res.request() as req:
            yield req
            late.append(env.now)

    def collector():
        yield env.timeout(1)
        gc.collect()

    for p in (holder, orphan, latecomer, collector):
        env.process(p())
    env.run(until=100)
    return late, len(res.queue)


def test_a_queued_request_keeps_its_process_alive_as_simpy_does() -> None:
    assert _orphaned_waiter(FifoResource) == _orphaned_waiter(simpy.Resource) == ([], 1)


def test_fifo_resource_refuses_no_capacity() -> None:
    with pytest.raises(ValueError, match="capacity must be > 0"):
        FifoResource(simpy.Environment(), capacity=0)


@pytest.mark.parametrize("mode", ["coarse", "fine"])
@pytest.mark.parametrize("overrides", [(), ("system.issue_group=3",
                                            "system.controller_issue_slots=2",
                                            "array.tile_rows=16", "array.tile_cols=16")])
def test_chip_schedules_the_same_with_simpy_resource(monkeypatch, mode, overrides) -> None:
    """The chip with its FIFO resources and with ``simpy.Resource`` in their place: the same
    cycles per phase, busy cycles per component and tile, and events processed."""
    arch = load_arch("reference", list(overrides))
    mapping = map_network(load_workload("tiny_mlp"), arch)
    recs = training_batch_records(mapping, 7, "adc", seed=5)

    def run() -> tuple:
        chip = Chip(arch, mapping, mode)
        return (chip.run_batch(recs), chip.busy_cycles(), chip.tile_busy(),
                chip.total_events())

    got = run()
    monkeypatch.setattr(components, "FifoResource", simpy.Resource)
    want = run()
    assert got == want
    assert got[3] > 0
