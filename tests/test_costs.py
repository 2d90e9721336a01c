"""The cost model (pnmsim.costs): each circuit model against its formula written out as
arithmetic, the whole table against an independent twin (tests._prices), the ops convention,
and directions through the sweep API (more converter bits cost more energy and time; bigger
tiles cost more per line read; fan-in beyond the analog limit switches to digital partial sums).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pnmsim import explore
from pnmsim.config import builtin_archs, load_arch
from pnmsim.costs import COMPONENT_CLASSES, cost_table, in_scope, scope_level, scope_of
from pnmsim.simulation import Simulation
from pnmsim.workload import load_workload
from tests._prices import twin

# reference line: 128 cells x (0.45 um x 0.2 fF/um + 0.1 fF) = 24.32 fF
C_LINE_FF = 128 * (0.45 * 0.2 + 0.1)


def table(sets: list[str] | None = None, arch: str = "reference"):
    return cost_table(load_arch(arch, sets or []))


def test_reference_circuit_values_assumed_here() -> None:
    """The written-out expectations below use these preset values; fail loudly if they move."""
    c = load_arch("reference").circuits
    assert (c.converters.adc_fom_fj_per_step, c.converters.dac_fj_per_level) == (6.1, 1.56)
    assert (c.lines.cell_pitch_um, c.lines.wire_cap_ff_per_um, c.lines.cell_cap_ff) == \
        (0.45, 0.2, 0.1)
    assert (c.lines.driver_r_ohm, c.lines.driver_logic_fj, c.lines.pulse_stage_fj) == \
        (1000.0, 5.0, 1.0)
    assert c.sensing.amp_bias_uw_per_ff == 2.0 and c.sensing.comparator_fj == 10.0


@pytest.mark.parametrize("bits", [1, 4, 6, 8, 10])
def test_adc_walden_energy_and_sar_latency(bits: int) -> None:
    e = table([f"periphery.adc_bits={bits}"])["adc", "convert"]
    assert e.energy_pj == pytest.approx(6.1e-3 * 2**bits, rel=1e-12)   # 6.1 fJ/step x 2^bits
    assert e.latency_cycles == bits + 1                                # sample + 1 bit/cycle
    assert e.latency_ns == pytest.approx((bits + 1) * 1.0)            # 1 GHz clock


def test_adc_six_bits_written_out() -> None:
    assert table(["periphery.adc_bits=6"]).energy_pj("adc", "convert") == \
        pytest.approx(6.1e-3 * 2**6)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_dac_energy_and_settling(bits: int) -> None:
    t = table([f"periphery.dac_bits={bits}", f"periphery.input_dac_bits={bits}"])
    e = t["dac", "convert"]
    assert e.energy_pj == pytest.approx(1.56e-3 * 2**bits, rel=1e-12)
    # settles the column line to 1/2 LSB: (bits + 1) ln2 x 1 kOhm x 24.32 fF
    assert e.latency_ns == pytest.approx((bits + 1) * math.log(2) * 1000 * C_LINE_FF * 1e-6)
    assert e.latency_cycles == 1
    assert t.energy_pj("dac", "convert_input") == pytest.approx(1.56e-3 * 2**bits)


def test_line_drivers_cv2() -> None:
    t = table()
    # forward: two branch lines (+u, -u) at 0.05 V, plus 5 fJ of logic
    assert t.energy_pj("row_driver", "drive") == pytest.approx(
        (2 * C_LINE_FF * 0.05**2 + 5.0) / 1000)
    assert t.energy_pj("col_driver", "drive") == pytest.approx((C_LINE_FF * 0.05**2 + 5.0) / 1000)
    # settles in 4.6 R C = 4.6 x 1 kOhm x 24.32 fF = 0.112 ns -> 1 cycle
    assert t["row_driver", "drive"].latency_ns == pytest.approx(4.6 * 1000 * C_LINE_FF * 1e-6)
    assert t.cycles("row_driver", "drive") == 1


def test_line_capacitance_follows_tile_size() -> None:
    t = table(["array.tile_rows=256", "array.tile_cols=64"])
    c_row = 64 * (0.45 * 0.2 + 0.1)         # a row line crosses the 64 columns
    c_col = 256 * (0.45 * 0.2 + 0.1)
    assert t.energy_pj("row_driver", "drive") == pytest.approx((2 * c_row * 0.05**2 + 5) / 1000)
    assert t.energy_pj("col_driver", "write_pulse") == pytest.approx(
        (c_col * 1.2**2 + 5) / 1000)
    assert t.energy_pj("line_sense", "sense") == pytest.approx(2.0 * c_col * 1.0 / 1000)


def test_write_driver_and_pulse_generator() -> None:
    t = table()
    assert t.energy_pj("row_driver", "write_pulse") == pytest.approx(
        (C_LINE_FF * 1.2**2 + 5.0) / 1000)                  # C V_write^2 + logic
    # 1 fJ per 50 ps stage: 20 fJ per ns of pulse; a 10 ps generator costs 5x as much
    assert t.energy_pj("pulse_gen", "ns") == pytest.approx(1.0 / 0.05 / 1000)
    assert table(["periphery.pulse_resolution_ns=0.01"]).energy_pj("pulse_gen", "ns") == \
        pytest.approx(1.0 / 0.01 / 1000)


def test_sensing_and_analog_join() -> None:
    t = table()
    # 2 uW per fF x 24.32 fF held for the 1 ns window
    assert t.energy_pj("line_sense", "sense") == pytest.approx(2.0 * C_LINE_FF * 1.0 / 1000)
    assert t.cycles("line_sense", "sense") == 1
    c_join = C_LINE_FF + 128 * 0.45 * 0.2        # the joined line + the link across a tile
    assert t.energy_pj("psum", "join") == pytest.approx(
        (2.0 * c_join * 1.0 + c_join * 0.05**2) / 1000)
    assert t.energy_pj("comparator", "compare") == pytest.approx(10.0 / 1000)
    assert t.cycles("comparator", "compare") == 1     # 0.1 ns -> one cycle


def test_digital_horowitz_and_sram_by_size() -> None:
    t = table()
    assert t.energy_pj("accumulator", "add") == pytest.approx(0.1 * 16 / 32)
    assert t.energy_pj("digital", "bn") == pytest.approx(3.7 + 0.9)
    assert t.energy_pj("digital", "grad_mac") == pytest.approx(0.9)
    assert t.energy_pj("digital", "optimizer") == pytest.approx(7 * 3.7 + 4 * 0.9)
    assert t.cycles("digital", "optimizer") == 4
    assert t.energy_pj("buffer", "read") == pytest.approx(10.0 * 1 * 16 / 64)          # 8 KB
    # 4608 KB = 576 x 8 KB: sqrt(576) = 24 times the 8 KB access, 32 of its 64 bits
    assert t.energy_pj("periphery_memory", "write") == pytest.approx(10.0 * 24 * 32 / 64)
    t1m = table(["circuits.digital.buffer_kb=1024"])
    assert t1m.energy_pj("buffer", "read") == pytest.approx(10.0 * math.sqrt(128) * 16 / 64)
    assert t.energy_pj("bus", "transfer") == pytest.approx(15.2 * 16 / 1000)


@pytest.mark.parametrize("arch", builtin_archs())
def test_whole_table_matches_independent_twin(arch: str) -> None:
    t = table(arch=arch)
    want = twin(arch)
    assert set(t) == set(want) == {(c, a) for c, acts in COMPONENT_CLASSES.items()
                                   for a in acts}
    for key, (e, cyc) in want.items():
        assert t[key].energy_pj == pytest.approx(e, rel=1e-12), key
        assert t[key].latency_cycles == cyc, key
        assert t[key].formula and isinstance(t[key].inputs, dict)


def test_scopes_nest() -> None:
    assert scope_of("synapse") == "synapse"
    assert {scope_of(c) for c in ("row_driver", "pulse_gen", "dac", "adc", "comparator",
                                  "line_sense", "psum", "sense_amp", "accumulator")} == {"array"}
    assert {scope_of(c) for c in ("digital", "buffer", "periphery_memory", "bus",
                                  "controller")} == {"system"}
    assert in_scope("synapse", "array") and in_scope("adc", "system")
    assert not in_scope("adc", "synapse") and not in_scope("bus", "array")
    # levels in SCOPES' order (synapse, array, system), written out
    assert [scope_level(c) for c in ("synapse", "adc", "bus")] == [0, 1, 2]


# ----------------------------------------------------------------------------- ops convention


def _update_ops(arch: str, sets: list[str], wl_name: str = "tiny_mlp", n: int = 6) -> float:
    wl = load_workload(wl_name)
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (n, *wl.input_shape)).astype(np.float32)
    res = Simulation(load_arch(arch, sets), wl, seed=1, timed=False).run(
        x, rng.integers(0, wl.classes, n))
    return res.phase_metrics()["update"]["ops"]


def test_update_ops_are_weight_gradient_macs_for_every_scheme_lr_and_batch() -> None:
    """tiny_mlp 64-32-4 on 6 inputs: 2 ops x 6 vectors x (64 x 32 + 32 x 4), whatever the
    update scheme, learning rate or batch split."""
    want = 2 * 6 * (64 * 32 + 32 * 4)
    got = {
        "lr=0.001": _update_ops("reference", ["update.lr=0.001"]),
        "lr=0.02": _update_ops("reference", ["update.lr=0.02"]),
        "lr=0": _update_ops("reference", ["update.lr=0"]),
        "batch=2": _update_ops("reference", ["system.batch_size=2"]),
        "outer_product": _update_ops("outer_product", []),
        "outer_product lr=1e-4": _update_ops("outer_product", ["update.lr=0.0001"]),
    }
    assert got == {k: want for k in got}


def test_update_ops_of_a_convolution_count_every_position() -> None:
    wl = load_workload("tiny_cnn")
    want = 2 * 3 * sum(w.rows * w.cols * w.positions for w in wl.weighted_layers())
    assert _update_ops("reference", [], "tiny_cnn", 3) == want
    assert _update_ops("outer_product", [], "tiny_cnn", 3) == want


# ----------------------------------------------------------------------------- directions


def _sweep(vary: str, workload: str = "tiny_cnn", sets: tuple[str, ...] = (),
           samples: int = 4):
    spec = explore.SweepSpec(arch="reference", workload=workload, samples=samples,
                             overrides=sets, dataset="synthetic")
    pts = explore.plan_sweep(spec, [explore.parse_vary(vary)])
    return explore.run_sweep(spec, pts).table


def _strictly_increasing(xs) -> bool:
    xs = list(xs)
    return all(a < b for a, b in zip(xs, xs[1:], strict=False))


def test_more_adc_bits_cost_more_energy_and_time() -> None:
    t = _sweep("periphery.adc_bits=4,6,8")
    assert _strictly_increasing(t["adc_convert_pj"])
    assert _strictly_increasing(t["adc_convert_cycles"])
    assert _strictly_increasing(t["energy_per_sample_j_backprop"])
    assert _strictly_increasing(t["cycles_per_sample_backprop"])


def test_more_dac_bits_cost_more_energy_and_settling() -> None:
    t = _sweep("periphery.dac_bits=4,6,8")
    assert _strictly_increasing(t["dac_convert_pj"])
    assert _strictly_increasing(t["dac_convert_ns"])
    assert list(t["dac_convert_cycles"]) == sorted(t["dac_convert_cycles"])  # whole cycles
    assert _strictly_increasing(t["energy_per_sample_j_backprop"])


def test_bigger_tiles_cost_more_per_line_read() -> None:
    t = _sweep("array.tile_rows+array.tile_cols=64,128,256",
               sets=("periphery.adcs_per_tile=4",))
    assert _strictly_increasing(t["line_read_pj"])


def test_fanin_beyond_the_limit_uses_digital_partial_sums() -> None:
    """tiny_mlp's 64-row layer on 16-row tiles is 4 row tiles: joined on one line at fan-in
    4 (comparators), sensed in 2 digitised groups at fan-in 2, in 4 at fan-in 1."""
    sets = ("array.tile_rows=16", "array.tile_cols=16")
    t = _sweep("array.max_analog_fanin=4,2,1", "tiny_mlp", sets)
    assert _strictly_increasing(t["cycles_per_sample_feedforward"])
    wl = load_workload("tiny_mlp")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, *wl.input_shape)).astype(np.float32)
    for fanin, groups in ((4, 1), (2, 2), (1, 4)):
        arch = load_arch("reference", [*sets, f"array.max_analog_fanin={fanin}"])
        res = Simulation(arch, wl, seed=1, timed=False).run(x, rng.integers(0, 4, 3))
        c = res.counts()
        # layer 0's components: its tiles chip.tile[00..07] (4 row tiles x 2 column tiles)
        l0 = c[(c["phase"] == "feedforward") & c["component"].str.match(
            r"chip\.tile\[0[0-7]\]\.")]

        def n(cls: str, l0=l0) -> float:
            return float(l0.loc[l0["component_class"] == cls, "count"].sum())

        assert n("line_sense") == 3 * 32 * groups
        assert n("psum") == 3 * 32 * (4 - groups)
        assert n("adc") == (3 * 32 * groups if groups > 1 else 0)
        assert n("comparator") == (0 if groups > 1 else 2 * 3 * 32)


def test_functional_code_prices_nothing() -> None:
    """One pricing place: the functional modules neither import the cost model nor look up a
    price or latency; only pnmsim.costs prices, results rolls up, hw.timing schedules."""
    from pathlib import Path

    import pnmsim

    root = Path(pnmsim.__file__).parent
    for name in ("crossbar.py", "pulses.py", "kernels/cell.py", "kernels/pulse_index.py",
                 "kernels/percell.py", "kernels/bias.py", "kernels/lines.py",
                 "kernels/converters.py", "kernels/observed.py", "kernels/engine.py",
                 "kernels/reference.py", "array.py"):
        text = (root / name).read_text()
        for needle in ("from pnmsim.costs", "import pnmsim.costs", "from pnmsim.hw",
                       "import pnmsim.hw", "cost_table", "energy_pj", "latency_cycles",
                       ".cost("):
            assert needle not in text, (name, needle)


def test_cost_table_cached_by_identity_and_by_value() -> None:
    """The same preset object gets the same table; an equal copy an equal table (the value
    cache); a preset that differs in a priced parameter a different one."""
    import dataclasses

    a = load_arch("reference")
    assert cost_table(a) is cost_table(a)
    b = load_arch("reference")
    assert b == a
    assert cost_table(b).entries == cost_table(a).entries
    c = dataclasses.replace(a, periphery=dataclasses.replace(a.periphery,
                                                             adc_bits=a.periphery.adc_bits + 1))
    assert cost_table(c).energy_pj("adc", "convert") != cost_table(a).energy_pj("adc", "convert")
    assert cost_table(a) is cost_table(a)
