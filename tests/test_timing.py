"""Timing rules of the chip model: the closed-form pipeline against a hand-written recurrence,
stage lists written out from the preset's cost table, boundary-exact completion of a tile
operation (not done one cycle early), contention on shared ``Busy`` resources, controller issue
slots, hand-scheduled chip phases, coarse == fine on random operation records, and the ns ->
cycles ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from pnmsim.config import load_arch
from pnmsim.hw import environment, timing
from pnmsim.hw.chip import Chip
from pnmsim.hw.components import TileGroup, Unit
from pnmsim.hw.synthetic import training_batch_records
from pnmsim.mapping import map_network
from pnmsim.records import OpRecord, UpdateFacts
from pnmsim.units import ns_array_to_cycles, ns_to_cycles
from pnmsim.workload import load_workload
from tests._presets import raw_preset
from tests._prices import latency

# ----------------------------------------------------------------------------- helpers




def lat(tree: dict, cls: str, action: str) -> int:
    """Latency in cycles, from the preset's circuit parameters by plain arithmetic."""
    return latency(tree, cls, action)


def recurrence(stages: list[int], n: int) -> int:
    """D[i][k] = max(D[i-1][k], D[i][k-1]) + s_k: item i leaves stage k at D[i][k]."""
    if n <= 0 or not stages:
        return 0
    K = len(stages)
    D = [[0] * (K + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for k in range(1, K + 1):
            D[i][k] = max(D[i - 1][k], D[i][k - 1]) + stages[k - 1]
    return D[n][K]


def layer_env(arch, workload: str, index: int, mode: str):
    env = simpy.Environment()
    mp = map_network(load_workload(workload), arch).layers[index]
    return env, TileGroup(env, arch, mp, mode)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- pipeline


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=0, max_size=7), st.integers(0, 25))
def test_pipeline_cycles_matches_recurrence(stages: list[int], n: int) -> None:
    assert timing.pipeline_cycles(stages, n) == recurrence(stages, n)


def test_pipeline_small_cases_written_out() -> None:
    assert timing.pipeline_cycles([3, 5, 2], 0) == 0
    assert timing.pipeline_cycles([3, 5, 2], 1) == 3 + 5 + 2
    assert timing.pipeline_cycles([3, 5, 2], 4) == 3 + 5 + 2 + 3 * 5
    assert timing.pipeline_cycles([], 7) == 0
    assert timing.pipeline_cycles([4], 6) == 6 * 4


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=6), st.integers(0, 12))
def test_fine_pipeline_realises_recurrence(stages: list[int], n: int) -> None:
    """The fine model (one event per product and stage) on arbitrary stage lists."""
    arch = load_arch("reference")
    env, lt = layer_env(arch, "tiny_mlp", 1, "fine")
    for tl in lt.tiles:
        tl._stages[("feedforward", "adc")] = list(stages)
    p = env.process(lt.operate("feedforward", n, "adc"))
    env.run(until=p)
    assert env.now == recurrence(stages, n)
    assert lt.tiles[0].busy == recurrence(stages, n)


# ----------------------------------------------------------------------------- stage lists


def test_forward_stages_reference_written_out() -> None:
    """mnist_mlp on the reference with an analog fan-in of 8: 784x512 (7x4 tiles), 512x512
    (4x4), 512x10 (4x1), every layer's row tiles joined on one sensed line."""
    t = raw_preset("reference")
    arch = load_arch("reference", ["array.max_analog_fanin=8"])
    assert t["array"]["partial_sums"] == "analog"
    mps = map_network(load_workload("mnist_mlp"), arch).layers
    assert [(m.row_tiles, m.col_tiles) for m in mps] == [(7, 4), (4, 4), (4, 1)]
    tc, adcs = t["array"]["tile_cols"], t["periphery"]["adcs_per_tile"]
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    drive = lat(t, "row_driver", "drive")
    dac = lat(t, "dac", "convert_input")
    adc = lat(t, "adc", "convert")
    cmp_ = lat(t, "comparator", "compare")
    bn = lat(t, "digital", "bn")

    def nz(xs: list[int]) -> list[int]:
        return [s for s in xs if s > 0]

    # first layer, comparators, analog partial sums: no combine stage, no digital stage
    assert timing.forward_stages(arch, mps[0], "comparators") == nz([drive + dac, read, cmp_])
    # first layer with ADC sensing: ceil(cols / adcs) conversions per ADC, then BN
    assert timing.forward_stages(arch, mps[0], "adc") == nz(
        [drive + dac, read, math.ceil(tc / adcs) * adc, bn])
    # middle layer (no DAC)
    assert timing.forward_stages(arch, mps[1], "comparators") == nz([drive, read, cmp_])
    # last layer: 10 columns used -> ceil(10 / adcs) conversions
    assert timing.forward_stages(arch, mps[2], "adc") == nz(
        [drive, read, math.ceil(10 / adcs) * adc, bn])


def test_forward_stages_beyond_analog_fanin_are_digital() -> None:
    """The reference joins at most max_analog_fanin row tiles: 7 row tiles at fan-in 4 are two
    sensed groups, digitised and added (one accumulator level, plus the digital threshold)."""
    t = raw_preset("reference")
    arch = load_arch("reference")
    assert t["array"]["max_analog_fanin"] == 4
    mps = map_network(load_workload("mnist_mlp"), arch).layers
    tc, adcs = t["array"]["tile_cols"], t["periphery"]["adcs_per_tile"]
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    drive, dac = lat(t, "row_driver", "drive"), lat(t, "dac", "convert_input")
    adc, acc = lat(t, "adc", "convert"), lat(t, "accumulator", "add")
    sense = math.ceil(tc / adcs) * adc
    assert mps[0].row_tiles == 7          # ceil(7 / 4) = 2 groups: ceil(log2 2) = 1 level
    assert timing.forward_stages(arch, mps[0], "comparators") == [
        s for s in (drive + dac, read, sense, acc + acc) if s > 0]
    assert mps[1].row_tiles == 4          # exactly the fan-in: analog, comparators
    assert timing.forward_stages(arch, mps[1], "comparators") == [
        s for s in (drive, read, lat(t, "comparator", "compare")) if s > 0]


def test_forward_stages_digital_psum_written_out() -> None:
    t = raw_preset("digital_psum")
    arch = load_arch("digital_psum")
    assert t["array"]["partial_sums"] == "digital"
    mps = map_network(load_workload("mnist_mlp"), arch).layers
    adcs = t["periphery"]["adcs_per_tile"]
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    drive, dac = lat(t, "row_driver", "drive"), lat(t, "dac", "convert_input")
    adc, acc, bn = lat(t, "adc", "convert"), lat(t, "accumulator", "add"), lat(t, "digital", "bn")
    tc = t["array"]["tile_cols"]
    # 7 row tiles -> ceil(log2 7) = 3 accumulator levels; comparators: +1 digital threshold
    assert mps[0].row_tiles == 7
    sense = math.ceil(tc / adcs) * adc
    assert timing.forward_stages(arch, mps[0], "comparators") == [
        s for s in (drive + dac, read, sense, 3 * acc + acc) if s > 0]
    assert timing.forward_stages(arch, mps[0], "adc") == [
        s for s in (drive + dac, read, sense, 3 * acc, bn) if s > 0]
    # 4 row tiles -> 2 levels; last layer has 10 columns
    assert timing.forward_stages(arch, mps[2], "adc") == [
        s for s in (drive, read, math.ceil(10 / adcs) * adc, 2 * acc, bn) if s > 0]


def test_forward_stages_single_row_tile_uses_comparators_even_with_digital_psum() -> None:
    t = raw_preset("digital_psum")
    arch = load_arch("digital_psum")
    mp = map_network(load_workload("tiny_mlp"), arch).layers[1]      # 32x4: one tile
    assert mp.row_tiles == 1
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    assert timing.forward_stages(arch, mp, "comparators") == [
        s for s in (lat(t, "row_driver", "drive"), read, lat(t, "comparator", "compare"))
        if s > 0]


def test_backward_stages_written_out() -> None:
    t = raw_preset("reference")
    arch = load_arch("reference")
    mps = map_network(load_workload("mnist_mlp"), arch).layers
    adcs, tr = t["periphery"]["adcs_per_tile"], t["array"]["tile_rows"]
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    drive = lat(t, "dac", "convert") + lat(t, "col_driver", "drive")
    adc, acc, bn = lat(t, "adc", "convert"), lat(t, "accumulator", "add"), lat(t, "digital", "bn")
    # 512x512: 4 column tiles -> ceil(log2 4) = 2 accumulator levels
    assert timing.backward_stages(arch, mps[1]) == [
        s for s in (drive, read, math.ceil(tr / adcs) * adc, 2 * acc, bn) if s > 0]
    # 512x10: one column tile -> no combine
    assert timing.backward_stages(arch, mps[2]) == [
        s for s in (drive, read, math.ceil(tr / adcs) * adc, bn) if s > 0]


def test_issue_bus_digital_cycles_written_out() -> None:
    t = raw_preset("reference")
    arch = load_arch("reference")
    mps = map_network(load_workload("mnist_mlp"), arch).layers
    wpc, lanes = t["system"]["bus_words_per_cycle"], t["system"]["digital_lanes"]
    assert timing.issue_cycles(arch, mps[0]) == 7 * 4 * lat(t, "controller", "issue")
    assert timing.bus_cycles(arch, 0) == 0
    assert timing.bus_cycles(arch, 1) == lat(t, "bus", "transfer")
    assert timing.bus_cycles(arch, wpc) == lat(t, "bus", "transfer")
    assert timing.bus_cycles(arch, wpc + 1) == 2 * lat(t, "bus", "transfer")
    assert timing.digital_cycles(arch, 0) == 0
    assert timing.digital_cycles(arch, 2 * lanes + 1) == 3 * lat(t, "digital", "grad_mac")


# ----------------------------------------------------------------------------- boundary-exact


@pytest.mark.parametrize("mode", ["coarse", "fine"])
@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("sensing", ["comparators", "adc"])
def test_tile_op_not_done_one_cycle_early(mode: str, n: int, sensing: str) -> None:
    t = raw_preset("reference")
    arch = load_arch("reference", ["array.max_analog_fanin=8"])   # 7 row tiles joined
    env, lt = layer_env(arch, "mnist_mlp", 0, mode)
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    first = lat(t, "row_driver", "drive") + lat(t, "dac", "convert_input")
    if sensing == "comparators":
        stages = [first, read, lat(t, "comparator", "compare")]
    else:
        stages = [first, read,
                  math.ceil(t["array"]["tile_cols"] / t["periphery"]["adcs_per_tile"])
                  * lat(t, "adc", "convert"), lat(t, "digital", "bn")]
    stages = [s for s in stages if s > 0]
    expect = sum(stages) + (n - 1) * max(stages)
    seen: list[bool] = []
    op = env.process(lt.operate("feedforward", n, sensing))

    def probe():
        yield env.timeout(expect - 1)
        seen.append(op.is_alive)

    env.process(probe())
    env.run(until=op)
    assert seen == [True]                 # still running one cycle before the bound
    assert env.now == expect
    assert lt.tiles[0].busy == expect


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_two_ops_on_one_layer_serialise(mode: str) -> None:
    arch = load_arch("reference")
    env, lt = layer_env(arch, "mnist_mlp", 1, mode)
    stages = timing.backward_stages(arch, lt.mp)
    one = timing.pipeline_cycles(stages, 3)
    done: list[float] = []

    def op():
        yield from lt.operate("backprop", 3)
        done.append(env.now)

    env.process(op())
    env.process(op())
    env.run()
    assert done == [one, 2 * one]


def test_bus_contention_delays_by_one_service_time() -> None:
    arch = load_arch("reference")
    chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch))
    env = chip.env
    words = 3 * arch.system.bus_words_per_cycle + 1
    c = 4 * lat(raw_preset("reference"), "bus", "transfer")
    assert timing.bus_cycles(arch, words) == c
    done: list[float] = []

    def xfer():
        yield from chip.interconnect.transfer(arch, words)
        done.append(env.now)

    env.process(xfer())
    env.process(xfer())
    env.run()
    assert done == [c, 2 * c]
    assert done[1] - done[0] == c
    assert chip.interconnect.busy == 2 * c


@pytest.mark.parametrize("slots, expect", [(1, [5, 10, 15]), (2, [5, 5, 10]), (3, [5, 5, 5])])
def test_controller_issue_slots(slots: int, expect: list[int]) -> None:
    arch = load_arch("reference", [f"system.controller_issue_slots={slots}"])
    chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch))
    env = chip.env
    done: list[float] = []

    def issue():
        yield from chip.controller.hold(5)
        done.append(env.now)

    for _ in range(3):
        env.process(issue())
    env.run()
    assert done == expect
    assert chip.controller.busy == 15


def test_busy_zero_cycles_takes_no_time() -> None:
    env = simpy.Environment()
    b = Unit(env, "x")
    env.process(b.hold(0))
    env.run()
    assert env.now == 0 and b.busy == 0


# ----------------------------------------------------------------------------- chip phases


def _tiny_costs() -> tuple[int, int, int, int, int, int, int, int, int]:
    t = raw_preset("reference")
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0)
    return (lat(t, "controller", "issue"), lat(t, "row_driver", "drive"),
            lat(t, "dac", "convert_input"), read, lat(t, "comparator", "compare"),
            lat(t, "adc", "convert"), lat(t, "digital", "bn"), lat(t, "bus", "transfer"),
            t["periphery"]["adcs_per_tile"])


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_feedforward_one_sample_hand_schedule(mode: str) -> None:
    """tiny_mlp 64-32-4 on single 128x128 tiles, one sample: issue, pipeline, bus per layer."""
    issue, drv, dac, read, cmp_, adc, bn, bus, adcs = _tiny_costs()
    arch = load_arch("reference")
    wpc = arch.system.bus_words_per_cycle
    chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch), mode)  # type: ignore[arg-type]
    recs = [OpRecord("feedforward", 0, 1, 1, sensing="comparators"),
            OpRecord("feedforward", 1, 1, 1, sensing="adc")]
    l0 = sum(s for s in (drv + dac, read, cmp_) if s > 0)
    l1 = sum(s for s in (drv, read, math.ceil(4 / adcs) * adc, bn) if s > 0)
    expect = (issue + l0 + math.ceil(32 / wpc) * bus) + (issue + l1 + math.ceil(4 / wpc) * bus)
    assert chip.run_batch(recs) == {"feedforward": expect, "backprop": 0, "update": 0}


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_feedforward_two_samples_pipeline_across_layers(mode: str) -> None:
    """Two samples in separate issue groups: written-out schedule with the numbers of the
    reference preset (asserted first, so a changed preset fails loudly here)."""
    issue, drv, dac, read, cmp_, adc, bn, bus, adcs = _tiny_costs()
    arch = load_arch("reference", ["system.issue_group=1"])
    if (issue, drv, dac, read, cmp_, adc, bn, bus, adcs) != (1, 1, 1, 1, 1, 9, 1, 1, 8) or \
            arch.system.bus_words_per_cycle != 16:
        pytest.skip("schedule written out for the reference cost table")
    chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch), mode)  # type: ignore[arg-type]
    recs = [OpRecord("feedforward", 0, 2, 2, sensing="comparators"),
            OpRecord("feedforward", 1, 2, 2, sensing="adc")]
    # layer 0: stages [2,1,1] -> 4; layer 1: [1,1,9,1] -> 12; bus 32 words -> 2, 4 words -> 1
    # A: ctrl 0-1, L0 1-5, bus 5-7, ctrl 7-8, L1 8-20, bus 20-21
    # B: ctrl 1-2, L0 5-9 (waits for A), bus 9-11, ctrl 11-12, L1 20-32 (waits), bus 32-33
    assert chip.run_batch(recs)["feedforward"] == 33
    # one issue group of both samples: ctrl 0-1, L0 n=2: 4+2 -> 1-7, bus 64 words 7-11,
    # ctrl 11-12, L1 n=2: 12+9 -> 12-33, bus 8 words 33-34
    arch2 = load_arch("reference", ["system.issue_group=2"])
    chip2 = Chip(arch2, map_network(load_workload("tiny_mlp"), arch2), mode)  # type: ignore
    assert chip2.run_batch(recs)["feedforward"] == 34


def _per_cell_facts(mp, pulses: dict[tuple[int, int, int], float], reads=()) -> UpdateFacts:
    """Per-cell facts with the given widths (ns) at (row tile, column, polarity)."""
    col = np.zeros((mp.row_tiles, mp.layer.cols, 2))
    for k, v in pulses.items():
        col[k] = v
    read = np.zeros((mp.row_tiles, mp.layer.cols), dtype=bool)
    for k in reads:
        read[k] = True
    return UpdateFacts("per_cell", state_aware=bool(reads), col_pulse_ns=col, read_cols=read)


@pytest.mark.parametrize("mode", ["coarse", "fine"])
def test_update_phase_hand_schedule(mode: str) -> None:
    """Layers update in parallel processes; the digital unit is shared; each tile's write
    time is its columns' pulse sub-steps (column driver set-up added), from the facts in ns."""
    t = raw_preset("reference")
    arch = load_arch("reference")
    drv = lat(t, "col_driver", "write_pulse")
    if (lat(t, "controller", "issue"), lat(t, "digital", "grad_mac"),
            t["system"]["digital_lanes"], t["clock_mhz"]) != (1, 1, 64, 1000.0) or drv >= 4:
        pytest.skip("schedule written out for the reference cost table")
    mps = map_network(load_workload("tiny_mlp"), arch).layers
    chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch), mode)  # type: ignore
    # layer 0: column 0 positive 3.5 ns -> 4 cycles, column 5 negative (6 - drv) ns:
    # (4 + drv) + (6 - drv + drv) = 10 + drv; layer 1: one column, both polarities, 1.2 ns each
    f0 = _per_cell_facts(mps[0], {(0, 0, 0): 3.5, (0, 5, 1): float(6 - drv)})
    f1 = _per_cell_facts(mps[1], {(0, 2, 0): 1.2, (0, 2, 1): 1.2})
    w0, w1 = 10 + drv, 2 * (2 + drv)
    recs = [OpRecord("update", 0, 4, 4, facts=f0, digital_ops=130),
            OpRecord("update", 1, 4, 4, facts=f1, digital_ops=64)]
    # P0: ctrl 0-1, digital ceil(130/64)=3 -> 1-4, write 4-(4+w0)
    # P1: ctrl 1-2, digital (waits for P0) 4-5, write 5-(5+w1)
    assert chip.run_batch(recs) == {"feedforward": 0, "backprop": 0,
                                    "update": max(4 + w0, 5 + w1)}
    assert chip.busy_cycles() == {"tiles": w0 + w1, "controller": 2, "bus": 0, "digital": 4}


def test_state_read_precedes_each_written_column() -> None:
    t = raw_preset("reference")
    arch = load_arch("reference")
    mp = map_network(load_workload("tiny_mlp"), arch).layers[0]
    read = math.ceil(t["synapse"]["read_ns"] * t["clock_mhz"] / 1000.0) + lat(t, "sense_amp",
                                                                              "read")
    drv = lat(t, "col_driver", "write_pulse")
    f = _per_cell_facts(mp, {(0, 1, 0): 2.0, (0, 3, 1): 2.0}, reads=[(0, 1), (0, 3)])
    cyc = 2 * read + 2 * (math.ceil(2.0 * t["clock_mhz"] / 1000.0 - 1e-9) + drv)
    assert timing.per_cell_tile_cycles(arch, f, 0, 0, mp.layer.cols) == cyc


def test_outer_product_vectors_serialise_on_the_widest_tile() -> None:
    """fc3-like layer over two column tiles: each applied vector takes two sub-steps of the
    widest column tile's pulse plus the row driver's set-up; inactive vectors take none."""
    t = raw_preset("outer_product")
    arch = load_arch("outer_product", ["array.tile_cols=2", "periphery.adcs_per_tile=2"])
    mp = map_network(load_workload("tiny_mlp"), arch).layers[1]        # 32x4 -> 2 col tiles
    assert mp.col_tiles == 2
    drv = lat(t, "row_driver", "write_pulse")
    ns = 1000.0 / t["clock_mhz"]
    vec = np.array([[1 * ns, 3 * ns], [5 * ns, 0.0], [9 * ns, 9 * ns]])
    f = UpdateFacts("outer_product", vec_pulse_ns=vec, active=np.array([True, True, False]))
    expect = 2 * (3 + drv) + 2 * (5 + drv)
    for mode in ("coarse", "fine"):
        chip = Chip(arch, map_network(load_workload("tiny_mlp"), arch), mode)  # type: ignore
        env = chip.env
        env.process(chip.groups[1].write(f))
        env.run()
        assert env.now == expect
        busy = {tl.c: tl.busy for tl in chip.groups[1].tiles}
        assert busy == {0: 2 * (1 + drv) + 2 * (5 + drv), 1: 2 * (3 + drv) + 2 * (0 + drv)}


# ----------------------------------------------------------------------------- coarse == fine

_ARCHS = [load_arch("reference"),
          load_arch("digital_psum", ["array.tile_rows=16", "array.tile_cols=16"]),
          load_arch("reference", ["array.tile_rows=8", "array.tile_cols=16",
                                  "system.issue_group=3", "system.controller_issue_slots=2",
                                  "system.bus_words_per_cycle=1"]),
          load_arch("tile256", ["system.issue_group=1"]),
          load_arch("outer_product", ["array.tile_rows=16", "array.tile_cols=2",
                                    "periphery.adcs_per_tile=2"]),
          load_arch("variation", ["array.tile_rows=32", "array.tile_cols=2",
                                "periphery.adcs_per_tile=2"])]


def _random_facts(arch, mp, v: int, rng: np.random.Generator) -> UpdateFacts:
    ns = 1000.0 / arch.clock_mhz
    if arch.update.scheme == "per_cell":
        col = rng.uniform(0, 12 * ns, (mp.row_tiles, mp.layer.cols, 2))
        col[rng.random(col.shape) < 0.4] = 0.0
        sa = bool(rng.integers(2))
        read = (col > 0).any(axis=2) if sa else np.zeros(col.shape[:2], dtype=bool)
        return UpdateFacts("per_cell", state_aware=sa, col_pulse_ns=col, read_cols=read)
    vec = rng.uniform(0, 12 * ns, (v, mp.col_tiles))
    return UpdateFacts("outer_product", vec_pulse_ns=vec, active=rng.random(v) < 0.7)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(_ARCHS), st.sampled_from(["tiny_mlp", "tiny_cnn"]),
       st.integers(1, 4), st.lists(st.sampled_from(["comparators", "adc"]), min_size=3,
                                   max_size=3),
       st.integers(0, 2**31 - 1))
def test_chip_coarse_equals_fine_on_random_records(arch, wl_name, samples, sensing, seed):
    """All three phases, every preset's scheme: coarse and fine give the same cycles per
    phase, the same busy cycles per component and per tile."""
    wl = load_workload(wl_name)
    mapping = map_network(wl, arch)
    rng = np.random.default_rng(seed)
    recs = []
    for i, lay in enumerate(wl.weighted_layers()):
        v = samples * lay.positions
        recs.append(OpRecord("feedforward", i, samples, v, sensing=sensing[i]))
        if i > 0:
            recs.append(OpRecord("backprop", i, samples, v))
        per_cell = arch.update.scheme == "per_cell"
        recs.append(OpRecord("update", i, samples, v,
                             facts=_random_facts(arch, mapping.layers[i], v, rng),
                             digital_ops=lay.rows * lay.cols if per_cell else 0,
                             bus_words=lay.rows * lay.cols if per_cell else 0))
    out = {}
    for mode in ("coarse", "fine"):
        chip = Chip(arch, mapping, mode)
        out[mode] = (chip.run_batch(recs), chip.run_batch(recs), chip.busy_cycles(),
                     chip.tile_busy())
        assert all(c > 0 for c in out[mode][0].values())
    assert out["coarse"] == out["fine"]


@pytest.mark.parametrize("overrides", [("system.issue_group=3", "array.tile_rows=16",
                                        "array.tile_cols=16"), ()])
def test_memoised_phases_count_what_simulating_them_counts(monkeypatch, overrides) -> None:
    """Coarse feedforward/backprop phases replayed from the chip's memo give what SimPy gives
    when the memo is emptied before every batch: the same cycles per phase, busy cycles per
    component and tile, and events processed, batch after batch, full and partial batches
    mixed — and that count is the number of distinct events taken off the simulated chip's
    queue (SimPy re-queues the event a run stops at and the next run pops it again: one
    event, counted once)."""
    popped: dict[int, dict[int, object]] = {}   # per queue: the events popped, kept alive
    pop = environment.heappop                     # (so that no two share an id)

    def counting_pop(queue: list) -> tuple:
        entry = pop(queue)
        popped.setdefault(id(queue), {})[id(entry[-1])] = entry[-1]
        return entry

    monkeypatch.setattr(environment, "heappop", counting_pop)
    arch = load_arch("reference", list(overrides))
    mapping = map_network(load_workload("tiny_mlp"), arch)
    full = training_batch_records(mapping, 7, "adc", seed=5)
    part = training_batch_records(mapping, 4, "adc", seed=6)
    memo, fresh = Chip(arch, mapping), Chip(arch, mapping)
    for recs in (full, full, part, full, part, part):
        fresh._memo.clear()
        assert memo.run_batch(recs) == fresh.run_batch(recs)
        assert memo.total_events() == fresh.total_events() == len(popped[id(fresh.env._queue)])
        assert memo.busy_cycles() == fresh.busy_cycles()
        assert memo.tile_busy() == fresh.tile_busy()
    assert memo.env.now < fresh.env.now      # the memo did replay (no SimPy time passed)


# ----------------------------------------------------------------------------- ns -> cycles


def test_ns_to_cycles_ceiling() -> None:
    assert ns_to_cycles(2.0, 1000.0) == 2
    assert ns_to_cycles(2.1, 1000.0) == 3
    assert ns_to_cycles(0.0, 1000.0) == 0
    assert ns_to_cycles(-1.0, 1000.0) == 0
    assert ns_to_cycles(0.001, 1000.0) == 1
    assert ns_to_cycles(2.0, 500.0) == 1            # 2 ns cycles
    assert ns_to_cycles(3.0, 1200.0) == 4           # 3.6 cycles
    assert ns_to_cycles(0.3 * 3, 1000.0 / 0.3) == 3   # round-off absorbed
    got = ns_array_to_cycles(np.array([0.0, 2.0, 2.1, 0.001, -1.0]), 1000.0)
    assert got.tolist() == [0, 2, 3, 1, 0]


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 1000.0), st.sampled_from([100.0, 250.0, 1000.0, 1200.0, 3000.0]))
def test_ns_to_cycles_covers_and_is_tight(t_ns: float, clock_mhz: float) -> None:
    c = ns_to_cycles(t_ns, clock_mhz)
    period = 1000.0 / clock_mhz
    assert c * period >= t_ns * (1 - 1e-9)          # never early
    assert (c - 1) * period < t_ns                  # never a whole cycle late
    assert int(ns_array_to_cycles(np.array([t_ns]), clock_mhz)[0]) == c


@given(st.integers(1, 10000), st.sampled_from([100.0, 1000.0, 1200.0, 3000.0]))
def test_whole_cycles_are_exact(k: int, clock_mhz: float) -> None:
    assert ns_to_cycles(k * (1000.0 / clock_mhz), clock_mhz) == k
