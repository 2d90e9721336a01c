"""Test helper: every (component class, action) price of a preset computed by plain arithmetic
from the preset's YAML tree (read by tests._presets, not by pnmsim.config), written out
independently of pnmsim.costs so tests can check the cost model and price tallies with it."""

from __future__ import annotations

import math

from tests._presets import raw_preset


def _ceil_cycles(t_ns: float, clock_mhz: float) -> int:
    return 0 if t_ns <= 0 else math.ceil(t_ns * clock_mhz / 1000.0 - 1e-9)


def twin(name_or_tree: str | dict, sets: dict[str, object] | None = None
         ) -> dict[tuple[str, str], tuple[float, int]]:
    """(class, action) -> (energy pJ, latency cycles) for a preset (name or merged tree);
    ``sets`` overrides dotted keys as --set would."""
    t = raw_preset(name_or_tree) if isinstance(name_or_tree, str) else name_or_tree
    for key, value in (sets or {}).items():
        node = t
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    clk = float(t["clock_mhz"])
    cyc_ns = 1000.0 / clk
    syn, per, arr = t["synapse"], t["periphery"], t["array"]
    cv, ln, se, dg = (t["circuits"][k] for k in ("converters", "lines", "sensing", "digital"))
    per_cell_ff = ln["cell_pitch_um"] * ln["wire_cap_ff_per_um"] + ln["cell_cap_ff"]
    c_row = arr["tile_cols"] * per_cell_ff          # a row line crosses the columns
    c_col = arr["tile_rows"] * per_cell_ff
    r, logic, taus = ln["driver_r_ohm"], ln["driver_logic_fj"], ln.get("settle_taus", 4.6)
    vr, vw, tr = syn["v_read_v"], syn["v_write_v"], syn["read_ns"]

    def settle(c_ff: float, k: float = taus) -> int:
        return _ceil_cycles(k * r * c_ff * 1e-6, clk)      # ohm x fF = 1e-6 ns

    out: dict[tuple[str, str], tuple[float, int]] = {
        ("synapse", "read_fj"): (1e-3, 0),
        ("synapse", "write_fj"): (1e-3, 0),
        ("row_driver", "drive"): ((2 * c_row * vr**2 + logic) / 1000, settle(c_row)),
        ("col_driver", "drive"): ((c_col * vr**2 + logic) / 1000, settle(c_col)),
        ("row_driver", "write_pulse"): ((c_row * vw**2 + logic) / 1000, settle(c_row)),
        ("col_driver", "write_pulse"): ((c_col * vw**2 + logic) / 1000, settle(c_col)),
        ("pulse_gen", "ns"): (ln["pulse_stage_fj"] / per["pulse_resolution_ns"] / 1000, 0),
        ("adc", "convert"): (cv["adc_fom_fj_per_step"] * 2 ** per["adc_bits"] / 1000,
                             per["adc_bits"] + cv.get("adc_sample_cycles", 1)),
        ("dac", "convert"): (cv["dac_fj_per_level"] * 2 ** per["dac_bits"] / 1000,
                             settle(c_col, (per["dac_bits"] + 1) * math.log(2))),
        ("dac", "convert_input"): (cv["dac_fj_per_level"] * 2 ** per["input_dac_bits"] / 1000,
                                   settle(c_row, (per["input_dac_bits"] + 1) * math.log(2))),
        ("line_sense", "sense"): (se["amp_bias_uw_per_ff"] * c_col * tr / 1000,
                                  _ceil_cycles(tr, clk)),
        ("line_sense", "sense_row"): (se["amp_bias_uw_per_ff"] * c_row * tr / 1000,
                                      _ceil_cycles(tr, clk)),
        ("comparator", "compare"): (se["comparator_fj"] / 1000,
                                    _ceil_cycles(se["comparator_ns"], clk)),
        ("sense_amp", "read"): (se["comparator_fj"] / 1000,
                                _ceil_cycles(se["comparator_ns"], clk)),
        ("accumulator", "add"): (dg["int_add_32b_pj"] * dg["accumulator_bits"] / 32, 1),
        ("digital", "bn"): (dg["fp32_mul_pj"] + dg["fp32_add_pj"], 1),
        ("digital", "grad_mac"): (dg["fp32_add_pj"], 1),
        ("digital", "grad_mac_fp32"): (dg["fp32_mul_pj"] + dg["fp32_add_pj"], 1),
        ("digital", "optimizer"): (dg["optimizer_muls"] * dg["fp32_mul_pj"]
                                   + dg["optimizer_adds"] * dg["fp32_add_pj"],
                                   dg["optimizer_cycles"]),
        ("bus", "transfer"): (dg["bus_fj_per_bit"] * dg["bus_word_bits"] / 1000, 1),
        ("controller", "issue"): (dg["controller_issue_pj"], 1),
    }
    c_join = c_col + arr["tile_rows"] * ln["cell_pitch_um"] * ln["wire_cap_ff_per_um"]
    out[("psum", "join")] = ((se["amp_bias_uw_per_ff"] * c_join * tr + c_join * vr**2) / 1000,
                             0)
    buf = dg["sram_8kb_64b_pj"] * math.sqrt(dg["buffer_kb"] / 8) * dg["buffer_word_bits"] / 64
    pm = (dg["sram_8kb_64b_pj"] * math.sqrt(dg["periphery_memory_kb"] / 8)
          * dg["periphery_word_bits"] / 64)
    for a in ("read", "write"):
        out[("buffer", a)] = (buf, 1)
        out[("periphery_memory", a)] = (pm, 1)
    assert cyc_ns > 0
    return out


def energy(name: str, sets: dict[str, object] | None = None) -> dict[tuple[str, str], float]:
    return {k: v[0] for k, v in twin(name, sets).items()}


def latency(name_or_tree: str | dict, cls: str, action: str) -> int:
    return twin(name_or_tree)[(cls, action)][1]
