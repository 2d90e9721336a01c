"""``pnmsim.hw.environment.CountingEnvironment.run`` against SimPy's own ``run`` (the reference
it inlines): on random processes run phase after phase until each phase's process (or a
condition on it), the same events scheduled in the same order at the same times, the same
process steps, the same events processed (also read during the runs), the same return values
and the same exceptions — with processes that wait on a phase's process (callbacks added during
the run, kept for after it), callbacks there before the run (one raising), failures caught by a
waiter, failures nothing catches, ``StopSimulation`` and ``EmptySchedule`` raised by
processes, a failed until process, and a queue that runs dry before the until event; plus
SimPy's own ``run`` for the other forms and for a subclass that overrides ``step``."""

from __future__ import annotations

import re
from typing import Any

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from simpy.events import ConditionValue

from pnmsim.config import load_arch
from pnmsim.hw import chip as chip_module
from pnmsim.hw.chip import Chip
from pnmsim.hw.environment import CountingEnvironment
from pnmsim.hw.fifo import FifoResource
from pnmsim.hw.synthetic import training_batch_records
from pnmsim.mapping import map_network
from pnmsim.workload import load_workload


class _Logging:
    """Logs every event scheduled (time, priority, delay, event class)."""

    scheduled: list[tuple]

    def schedule(self, event, priority=simpy.events.NORMAL, delay=0) -> None:
        self.scheduled.append((self.now, priority, delay, type(event).__name__))
        super().schedule(event, priority, delay)


class _Reference(_Logging, simpy.Environment):
    """SimPy's ``run`` and ``step``, counting the events its steps process."""

    def __init__(self) -> None:
        super().__init__()
        self.scheduled = []
        self.processed = 0

    def step(self) -> None:
        if self._queue:
            self.processed += 1
        super().step()


class _Fast(_Logging, CountingEnvironment):
    def __init__(self) -> None:
        super().__init__()
        self.scheduled = []


class Boom(Exception):
    pass


def _outcome(exc: BaseException) -> tuple[str, str]:
    """An exception's class and message, objects' addresses left out."""
    return type(exc).__name__, re.sub(r" at 0x[0-9a-f]+", "", str(exc))


def _world(kind: type, phases: list[list[tuple[int, int, int, int]]]) -> tuple:
    """Phases run one after another, each ``env.run(until=its process)``; a phase's process
    starts its workers (per worker (wait, resource, hold, action) steps: action 0 none, 1 a
    worker that fails and is caught, 2 a worker that fails uncaught, 3 a watcher of the phase
    process, 4 the phase fails, 5 a process raising ``StopSimulation`` (which SimPy's ``run``
    returns from), 6 one raising ``EmptySchedule`` (which it turns into an error), 7 one
    reading the events processed so far). Every second phase's process has a callback before
    its run, every fourth one that raises; every third phase runs until a condition on its
    process. Returns the trace of process steps, each run's outcome, the events scheduled and
    processed, and the final time."""
    env = kind()
    res = [FifoResource(env, capacity=c) for c in (1, 2)]
    trace: list[tuple] = []
    outcomes: list[Any] = []

    def failing(pid: int):
        yield env.timeout(1)
        raise Boom(pid)

    def watcher(pid: int, proc: simpy.Process):
        value = yield proc
        trace.append((env.now, pid, "watched", value))

    def raising(pid: int, exc: type[BaseException]):
        yield env.timeout(1)
        raise exc(f"from {pid}")

    def counter(pid: int):
        trace.append((env.now, pid, "processed", env.processed))
        yield env.timeout(1)
        trace.append((env.now, pid, "processed", env.processed))

    def worker(pid: int, wait: int, r: int, hold: int, action: int, phase: simpy.Process):
        if wait:
            yield env.timeout(wait)
        with res[r].request() as req:
            yield req
            trace.append((env.now, pid, "got", r))
            yield env.timeout(hold)
        if action == 1:
            try:
                yield env.process(failing(pid))
            except Boom:
                trace.append((env.now, pid, "caught"))
        elif action == 2:
            env.process(failing(pid))
        elif action == 3:
            env.process(watcher(pid, phase))
        elif action in (5, 6):
            env.process(raising(pid, simpy.core.StopSimulation if action == 5
                                else simpy.core.EmptySchedule))
        elif action == 7:
            env.process(counter(pid))
        return pid

    def phase(k: int, steps: list[tuple[int, int, int, int]]):
        me = env.active_process
        procs = [env.process(worker(100 * k + i, *s, me)) for i, s in enumerate(steps)]
        values = yield env.all_of(procs)
        if any(s[3] == 4 for s in steps):
            raise Boom(f"phase {k}")
        return sorted(values.values())

    def boom(event: simpy.Event) -> None:
        raise Boom(f"callback at {env.now}")

    for k, steps in enumerate(phases):
        proc = env.process(phase(k, steps))
        if k % 2:       # a callback the until event has before the run: runs within it
            proc.callbacks.append(lambda _ev, k=k: trace.append(("callback", k, len(outcomes),
                                                                 env.processed)))
        if k % 4 == 3:
            proc.callbacks.append(boom)
        try:
            value = env.run(until=env.all_of([proc]) if k % 3 == 2 else proc)
            outcomes.append(list(value.values()) if isinstance(value, ConditionValue)
                            else value)
        except Exception as exc:            # noqa: BLE001 — the outcome compared
            outcomes.append(_outcome(exc))
    # one more run until an event nothing triggers: the queue runs dry first (or a failure
    # still queued is raised)
    try:
        env.run(until=env.event())
    except Exception as exc:            # noqa: BLE001 — the outcome compared
        outcomes.append(_outcome(exc))
    return trace, outcomes, env.scheduled, env.processed, env.now


_step = st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 3), st.integers(0, 7))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_step, min_size=1, max_size=5), min_size=1, max_size=6))
def test_run_until_an_event_is_simpys_run(phases) -> None:
    want = _world(_Reference, phases)
    got = _world(_Fast, phases)
    assert got == want


def test_run_until_a_time_or_to_the_end_is_simpys() -> None:
    """Written out: a 3-cycle and a 5-cycle timeout; until 4 stops after the first, at 4 (the
    until event itself processed: 2 events); to the end processes the until event SimPy
    re-queued and the second timeout, at 5 (4 events; the empty queue's step counts none)."""
    env = CountingEnvironment()
    env.timeout(3)
    env.timeout(5)
    env.run(until=4)
    assert (env.now, env.processed) == (4, 2)
    env.run()
    assert (env.now, env.processed) == (5, 4)


def test_run_until_a_processed_event_returns_its_value() -> None:
    env = CountingEnvironment()
    ev = env.timeout(2, value="v")
    assert env.run(until=ev) == "v"
    assert env.run(until=ev) == "v"      # already processed: returns at once
    assert env.now == 2


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_chip_schedules_the_same_with_simpys_run(monkeypatch, mode) -> None:
    """The chip on its environment and on SimPy's ``run``: the same cycles per phase, busy
    cycles per component and tile, events processed and events scheduled."""
    arch = load_arch("reference", ["system.issue_group=3", "array.tile_rows=16",
                                   "array.tile_cols=16"])
    mapping = map_network(load_workload("tiny_mlp"), arch)
    recs = training_batch_records(mapping, 7, "adc", seed=5)

    def run() -> tuple:
        chip = Chip(arch, mapping, mode)
        chip.run_batch(recs)
        out = chip.run_batch(recs)       # a second batch: the memo (coarse) or SimPy again
        return (out, dict(chip.cycles), chip.busy_cycles(), chip.tile_busy(),
                chip.total_events(), chip.env.scheduled)

    monkeypatch.setattr(chip_module, "CountingEnvironment", _Fast)
    got = run()
    monkeypatch.setattr(chip_module, "CountingEnvironment", _Reference)
    want = run()
    assert got == want
    assert got[4] > 0


def test_a_subclass_overriding_step_gets_simpys_run() -> None:
    """A subclass's own ``step`` (a tracer, say) is called for every event, as under SimPy's
    ``run``: written out, a 2-cycle timeout and the process waiting on it: the process's
    start, the timeout, the process's end (3 events, 3 calls)."""

    class Stepping(CountingEnvironment):
        calls = 0

        def step(self) -> None:
            self.calls += 1
            super().step()

    env = Stepping()

    def proc():
        yield env.timeout(2)

    env.run(until=env.process(proc()))
    assert (env.now, env.calls, env.processed) == (2, 3, 3)
