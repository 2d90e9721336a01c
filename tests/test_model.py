"""The simulation core against independent references: the action counts of each phase for a
hand-mapped network written out as arithmetic (per tile of the component tree), the energy
roll-up from those counts, the update schedule against the pulses the crossbar really applied,
a schedule that must not touch values, and the import graph of the driver."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from pnmsim.array import ArrayBackend
from pnmsim.config import load_arch
from pnmsim.crossbar import Crossbar
from pnmsim.hw.chip import Chip
from pnmsim.records import PHASES, OpRecord
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload
from tests._presets import raw_preset
from tests._prices import energy, latency

B = 6   # samples of the one mini-batch
# tiny_mlp 64-32-4 on 16x16 tiles: layer 0 = 4 row tiles x 2 column tiles (tiles 0..7, tile
# (r, c) = r * 2 + c), layer 1 = 2 row tiles x 1 column tile (tiles 8, 9)
OVER = ["array.tile_rows=16", "array.tile_cols=16", "periphery.adcs_per_tile=8",
        "array.max_analog_fanin=4",
        f"system.batch_size={B}", "system.issue_group=4"]


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pixels with |x| in [0.5, 1]: every first-layer input line is driven after the DAC."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 1.0, (B, 1, 8, 8)) * rng.choice([-1.0, 1.0], (B, 1, 8, 8))
    return x.astype(np.float32), rng.integers(0, 4, B)


def _num(v: str) -> int | float:
    return int(v) if v.isdigit() else float(v)


def _tree() -> dict:
    """The reference preset's YAML tree with OVER applied (for the twin's prices)."""
    t = raw_preset("reference")
    for item in OVER:
        key, value = item.split("=")
        node = t
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = _num(value)
    return t


def _tile(i: int) -> str:
    return f"chip.tile[{i:02d}]"


def _expected_structural(state_aware: bool) -> dict[tuple[str, str, str, str], float]:
    """The counts of one mini-batch (frozen batch-norm: comparator forward, last layer ADC)
    that follow from the mapping and the batch alone, written out."""
    groups = math.ceil(B / 4)
    e: dict[tuple[str, str, str, str], float] = {}
    ff, bp, up = PHASES
    # feedforward, layer 0 (64x32, first layer, comparators, analog partial sums)
    for r in range(4):
        for c in range(2):
            t = _tile(r * 2 + c)
            e[(ff, f"{t}.row_driver", "row_driver", "drive")] = B * 16   # all 16 rows driven
            e[(ff, f"{t}.dac", "dac", "convert_input")] = B * 16
            if r > 0:   # fan-in 4 >= 4 row tiles: their column lines join row tile 0's
                e[(ff, f"{t}.psum", "psum", "join")] = B * 16
    for c in range(2):   # joined column lines sensed by row tile 0
        e[(ff, f"{_tile(c)}.line_sense", "line_sense", "sense")] = B * 16
        e[(ff, f"{_tile(c)}.comparator", "comparator", "compare")] = 2 * B * 16
    e[(ff, "chip.periphery_memory", "periphery_memory", "read")] = 2 * 32 + 2 * 4
    e[(ff, "chip.buffer[fc1]", "buffer", "read")] = B * 64
    e[(ff, "chip.buffer[fc1]", "buffer", "write")] = B * 32
    e[(ff, "chip.buffer[fc2]", "buffer", "read")] = B * 32
    e[(ff, "chip.buffer[fc2]", "buffer", "write")] = B * 4
    e[(ff, "chip.interconnect", "bus", "transfer")] = B * 32 + B * 4
    e[(ff, "chip.controller", "controller", "issue")] = (8 + 2) * groups
    # feedforward, layer 1 (32x4, last layer: ADC + digital batch-norm)
    e[(ff, f"{_tile(8)}.line_sense", "line_sense", "sense")] = B * 4
    e[(ff, f"{_tile(9)}.psum", "psum", "join")] = B * 4
    e[(ff, f"{_tile(8)}.adc", "adc", "convert")] = B * 4
    e[(ff, "chip.digital", "digital", "bn")] = B * 4
    # backprop: only layer 1 reads transposed (layer 0 needs no input gradient)
    for t in (8, 9):
        e[(bp, f"{_tile(t)}.line_sense", "line_sense", "sense_row")] = B * 16
        e[(bp, f"{_tile(t)}.adc", "adc", "convert")] = B * 16
    e[(bp, "chip.digital", "digital", "bn")] = B * 4 + B * 32   # layer 1, then layer 0's BN
    e[(bp, "chip.buffer[fc2]", "buffer", "read")] = B * 4
    e[(bp, "chip.buffer[fc2]", "buffer", "write")] = B * 32
    e[(bp, "chip.interconnect", "bus", "transfer")] = B * 32
    e[(bp, "chip.controller", "controller", "issue")] = 2 * groups
    # update (per cell): state reads, gradient (layer 0: all 64 inputs non-zero), optimiser
    if state_aware:
        for t in range(10):
            e[(up, f"{_tile(t)}.sense_amp", "sense_amp", "read")] = 2 * 16 * 16 if t < 8 \
                else 2 * 16 * 4
    e[(up, "chip.digital", "digital", "grad_mac_fp32")] = B * 64 * 32
    e[(up, "chip.digital", "digital", "optimizer")] = 64 * 32 + 32 * 4
    e[(up, "chip.periphery_memory", "periphery_memory", "read")] = 2 * (64 * 32 + 32 * 4)
    e[(up, "chip.periphery_memory", "periphery_memory", "write")] = 2 * (64 * 32 + 32 * 4)
    e[(up, "chip.buffer[fc1]", "buffer", "read")] = B * (64 + 32)
    e[(up, "chip.buffer[fc2]", "buffer", "read")] = B * (32 + 4)
    e[(up, "chip.controller", "controller", "issue")] = 8 + 2
    e[(up, "chip.interconnect", "bus", "transfer")] = 64 * 32 + 32 * 4
    return e


def _run_hand_mapped(name: str = "reference") -> Simulation:
    arch = load_arch(name, OVER)
    wl = load_workload("tiny_mlp")
    sim = Simulation(arch, wl, seed=2)
    x, y = _inputs()
    sim.calibrate(x)
    sim.train_step(x, y)
    return sim


def test_hand_mapped_counts_written_out() -> None:
    """Every structural count of all three phases, per component of the tree."""
    sim = _run_hand_mapped()
    assert [m.layer.name for m in sim.backend.mapping.layers] == ["fc1", "fc2"]
    counts = sim.tally.counts
    state_aware = raw_preset("reference")["update"].get("pulse_reference", "state") == "state"
    for key, v in _expected_structural(state_aware).items():
        assert counts.get(key, 0.0) == v, key
    # data-dependent lines exist only where the tree has them
    comps = {k[1] for k in counts}
    assert {c.split(".")[0] + "." + c.split(".")[1] for c in comps if c.startswith(
        "chip.tile")} == {f"chip.{_tile(i)[5:]}" for i in range(10)}
    # the column drivers of layer 1 fire once per non-zero quantised error, per row tile
    ndrv = sum(v for k, v in counts.items() if k[0] == "backprop" and k[3] == "drive")
    assert ndrv == 2 * counts[("backprop", f"{_tile(8)}.dac", "dac", "convert")]


def test_roll_up_from_counts_written_out() -> None:
    """The energy of the structural (phase, class) pairs, from the written-out counts and the
    preset's prices — not from the tally."""
    sim = _run_hand_mapped()
    res = sim.results(samples=B)
    price = energy("reference", {k.split("=")[0]: _num(k.split("=")[1]) for k in OVER})
    exp: dict[tuple[str, str], float] = {}
    state_aware = raw_preset("reference")["update"].get("pulse_reference", "state") == "state"
    for (ph, _comp, cls, act), n in _expected_structural(state_aware).items():
        exp[(ph, cls)] = exp.get((ph, cls), 0.0) + n * price[(cls, act)] / 1e12
    bd = res.breakdown()
    for (ph, cls) in [("feedforward", "comparator"), ("feedforward", "line_sense"),
                      ("feedforward", "buffer"), ("feedforward", "controller"),
                      ("feedforward", "bus"), ("feedforward", "periphery_memory"),
                      ("backprop", "adc"), ("backprop", "line_sense"), ("backprop", "bus"),
                      ("update", "periphery_memory"), ("update", "controller"),
                      ("update", "buffer"), ("update", "bus")]:
        assert bd.loc[cls, ph] == pytest.approx(exp[(ph, cls)], rel=1e-12), (ph, cls)


# ----------------------------------------------------------------------------- schedule vs values


class _Spy:
    """Captures the pulses every crossbar really applies (width ns, polarity)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []
        orig = Crossbar.apply_pulses
        spy = self

        def apply(xb, pulse, pol, rng):   # noqa: ANN001, ANN202
            spy.calls.append((np.array(pulse, dtype=np.float64), np.array(pol)))
            return orig(xb, pulse, pol, rng)

        monkeypatch.setattr(Crossbar, "apply_pulses", apply)


def test_update_schedule_follows_the_applied_pulses(monkeypatch) -> None:
    """Each tile's update busy cycles, recomputed from the pulses the crossbar applied (plain
    arithmetic over the tile's block: per column and polarity the widest pulse in whole cycles
    plus the column driver, a state read per written column)."""
    spy = _Spy(monkeypatch)
    monkeypatch.setattr(ArrayBackend, "fused_update", False)   # watch the three-step path
    arch = load_arch("reference", OVER)
    t = raw_preset("reference")
    cyc_ns = 1000.0 / t["clock_mhz"]
    tree = _tree()
    drv = latency(tree, "col_driver", "write_pulse")
    read = latency(tree, "line_sense", "sense") + latency(tree, "sense_amp", "read")
    sim = Simulation(arch, load_workload("tiny_mlp"), seed=2)
    x, y = _inputs()
    sim.calibrate(x)
    sim.network.train_step(x, y, arch.update.lr, bn="running", log=sim.log)
    chip = Chip(arch, sim.backend.mapping)
    cyc = chip.run_batch([r for r in sim.log.records if r.phase == "update"])
    assert len(spy.calls) == 2
    busy = chip.tile_busy()
    expect: dict[str, int] = {}
    for mp, (pulse, pol) in zip(sim.backend.mapping.layers, spy.calls, strict=True):
        for r in range(mp.row_tiles):
            for c in range(mp.col_tiles):
                blk = (slice(r * 16, r * 16 + mp.rows_in(r)),
                       slice(c * 16, c * 16 + mp.cols_in(c)))
                w, s = pulse[blk], pol[blk]
                tot = 0
                for j in range(w.shape[1]):
                    if (w[:, j] > 0).any():
                        tot += read
                    for p in (1, -1):
                        m = max((float(v) for v, q in zip(w[:, j], s[:, j], strict=True)
                                 if q == p), default=0.0)
                        if m > 0:
                            tot += math.ceil(m / cyc_ns - 1e-9) + drv
                expect[_tile(mp.first_tile + r * mp.col_tiles + c)] = tot
    assert busy == expect
    assert max(expect.values()) > 0
    assert cyc["update"] >= max(expect.values())


def test_changing_a_recorded_pulse_width_moves_the_update_cycles() -> None:
    """The update's cycles come from the recorded widths: lengthening one pulse by N cycles
    lengthens its tile's write by exactly N and moves the phase (by at most N); removing every
    pulse leaves only the issue, the transfer and the digital work."""
    import copy

    sim = _run_hand_mapped()
    sim.log.records.clear()
    x, y = _inputs(1)
    sim.network.train_step(x, y, sim.arch.update.lr, bn="running", log=sim.log)
    recs = [r for r in sim.log.records if r.phase == "update"]
    chip0 = Chip(sim.arch, sim.backend.mapping)
    base = chip0.run_batch(recs)["update"]
    n = 5000
    longer = copy.deepcopy(recs)
    f = longer[1].facts
    assert f is not None and f.col_pulse_ns is not None
    had_pulse = f.col_pulse_ns[1, 3, 0] > 0
    # whole cycles of the old width + n: the ceiling moves by exactly n
    old = math.ceil(f.col_pulse_ns[1, 3, 0] * sim.arch.clock_mhz / 1000.0 - 1e-9)
    f.col_pulse_ns[1, 3, 0] = (old + n) * 1000.0 / sim.arch.clock_mhz
    chip1 = Chip(sim.arch, sim.backend.mapping)
    moved = chip1.run_batch(longer)["update"]
    drv = latency(_tree(), "col_driver", "write_pulse")
    extra = n if had_pulse else n + drv   # a new pulse also pays the column driver set-up
    tile = _tile(9)                        # layer 1, row tile 1
    assert chip1.tile_busy()[tile] - chip0.tile_busy()[tile] == extra
    assert base < moved <= base + extra
    for rec in longer:
        assert rec.facts is not None and rec.facts.col_pulse_ns is not None
        rec.facts.col_pulse_ns[:] = 0.0
        rec.facts.read_cols[:] = False
    chip2 = Chip(sim.arch, sim.backend.mapping)
    none = chip2.run_batch(longer)["update"]
    assert none < base and sum(chip2.tile_busy().values()) == 0


@pytest.mark.parametrize("name", ["reference", "outer_product"])
def test_schedule_touches_no_values(name: str, monkeypatch) -> None:
    """Scheduling a step's records leaves every value of the functional model as it was:
    cell states, random streams, network parameters (a schedule that wrote into them, or drew
    from their random streams, would fail here)."""
    arch = load_arch(name, OVER)
    sim = Simulation(arch, load_workload("tiny_mlp"), seed=4)
    x, y = _inputs(3)
    sim.calibrate(x)
    snaps = []
    orig = Chip.run_batch

    def run_batch(chip, records: list[OpRecord]):  # noqa: ANN202
        s0 = _snapshot(sim)
        out = orig(chip, records)
        snaps.append((s0, _snapshot(sim)))
        return out

    monkeypatch.setattr(Chip, "run_batch", run_batch)
    for _ in range(2):
        sim.train_step(x, y)
    assert len(snaps) == 2
    for a, b in snaps:
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _snapshot(sim: Simulation) -> dict[str, np.ndarray]:
    d = sim.network.state_dict()
    for i in range(len(sim.backend.mapping.layers)):
        xb = sim.backend.crossbar(i)
        d[f"s1.{i}"], d[f"s2.{i}"] = xb.s1.copy(), xb.s2.copy()
    return d


def test_timed_and_functional_agree_and_a_value_change_shows() -> None:
    """A timed and a functional-only run give identical values and counts; a different
    seed (different stochastic writes) changes both the weights and the update schedule."""
    arch = load_arch("reference", OVER)
    wl = load_workload("tiny_mlp")
    x, y = _inputs(5)
    runs = {}
    for key, seed, timed in (("t", 7, True), ("f", 7, False), ("o", 8, True)):
        s = Simulation(arch, wl, seed=seed, timed=timed)
        s.calibrate(x)
        cyc = [s.train_step(x, y)["cycles"] for _ in range(3)]
        runs[key] = (s, cyc)
    (st, ct), (sf, cf), (_so, co) = runs["t"], runs["f"], runs["o"]
    assert st.tally.counts == sf.tally.counts
    for i in range(2):
        np.testing.assert_array_equal(st.backend.weights(i), sf.backend.weights(i))
    assert all(c["update"] == 0 for c in cf)
    assert [c["feedforward"] for c in ct] == [c["feedforward"] for c in co]
    assert [c["update"] for c in ct] != [c["update"] for c in co]


# ----------------------------------------------------------------------------- import graph


def test_simulation_imports_no_training_loop() -> None:
    code = ("import sys, pnmsim.simulation; "
            "print(sorted(m for m in sys.modules if m.startswith('pnmsim.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_train_step_takes_its_context_per_call() -> None:
    """No flag on the backend: the same backend serves a training forward (batch statistics,
    ADC sensing) and a frozen one (comparators) depending on the call alone."""
    sim = _run_hand_mapped()
    assert not hasattr(sim.backend, "training_forward")
    x, y = _inputs(2)
    sim.log.records.clear()
    sim.network.train_step(x, y, 0.01, bn="batch", log=sim.log)
    sens = [r.sensing for r in sim.log.records if r.phase == "feedforward"]
    sim.log.records.clear()
    sim.network.train_step(x, y, 0.01, bn="running", log=sim.log)
    sens2 = [r.sensing for r in sim.log.records if r.phase == "feedforward"]
    assert sens == ["adc", "adc"] and sens2 == ["comparators", "adc"]


@pytest.mark.parametrize("mode", ["coarse", "fine"])
@pytest.mark.parametrize("name", ["reference", "outer_product"])
def test_state_dict_resumes_bit_exactly(name: str, mode: str) -> None:
    """Two steps in one go == one step, state_dict, a fresh Simulation, load_state_dict, one
    more step: same weights, counts, cycles, busy cycles and events (fine mode too: every
    phase simulated, so the event SimPy re-queued at the first run's end must not count)."""
    arch = load_arch(name, OVER)
    wl = load_workload("tiny_mlp")
    (x1, y1), (x2, y2) = _inputs(1), _inputs(2)
    a = Simulation(arch, wl, seed=9, mode=mode)
    a.calibrate(x1)
    a.train_step(x1, y1)
    a.train_step(x2, y2)
    b = Simulation(arch, wl, seed=9, mode=mode)
    b.calibrate(x1)
    b.train_step(x1, y1)
    c = Simulation(arch, wl, seed=9, mode=mode)
    c.load_state_dict(b.state_dict())
    c.train_step(x2, y2)
    for i in range(2):
        np.testing.assert_array_equal(a.backend.weights(i), c.backend.weights(i))
    assert a.tally.counts == c.tally.counts and a.tally.macs == c.tally.macs
    ra, rc = a.results(), c.results()
    assert ra.cycles == rc.cycles and ra.busy == rc.busy and ra.tile_busy == rc.tile_busy
    assert ra.events == rc.events and ra.samples == rc.samples == 2 * B
