"""ADCs and DACs: energy from resolution, latency from how the converter works.

ADC (one story for energy and time): a synchronous SAR converter clocked by the periphery clock
samples for ``adc_sample_cycles`` and then decides one bit per cycle, so a conversion takes
``bits + adc_sample_cycles`` cycles; its energy per conversion is the Walden figure of merit
times the number of levels, ``E = FOM x 2^bits`` (Walden 1999; ISAAC's 8-bit 2 mW, 1.28 GS/s
converter is 1.56 pJ = 6.1 fJ x 2^8). Walden's FOM is energy per conversion step, independent of
the sample rate at which it was measured, which is what lets the same FOM price a slower SAR.

DAC: a binary-weighted array switches in proportion to its levels, ``E = e_level x 2^bits``;
its output settles the line it drives to 1/2 LSB in ``(bits + 1) ln 2 x R_driver C_line``.
Input DACs (first layer, ``input_dac_bits``) drive row lines; error DACs (backprop,
``dac_bits``) drive column lines.
"""

from __future__ import annotations

import math

from pnmsim.config import ArchConfig
from pnmsim.costs.entry import Cost, clocked, timed
from pnmsim.costs.lines import col_cap_ff, row_cap_ff, settle_ns
from pnmsim.units import FJ_PER_PJ


def adc_energy_pj(fom_fj_per_step: float, bits: int) -> float:
    return fom_fj_per_step * 2.0 ** bits / FJ_PER_PJ


def dac_energy_pj(fj_per_level: float, bits: int) -> float:
    return fj_per_level * 2.0 ** bits / FJ_PER_PJ


def converter_costs(arch: ArchConfig) -> dict[tuple[str, str], Cost]:
    cv, p, ln = arch.circuits.converters, arch.periphery, arch.circuits.lines
    adc = clocked(arch, adc_energy_pj(cv.adc_fom_fj_per_step, p.adc_bits),
                  p.adc_bits + cv.adc_sample_cycles,
                  "FOM 2^bits / 1000; latency bits + sample_cycles (synchronous SAR)",
                  {"circuits.converters.adc_fom_fj_per_step": cv.adc_fom_fj_per_step,
                   "periphery.adc_bits": p.adc_bits,
                   "circuits.converters.adc_sample_cycles": cv.adc_sample_cycles})
    out = {("adc", "convert"): adc}
    for action, key, bits, cap, line in (
            ("convert", "periphery.dac_bits", p.dac_bits, col_cap_ff(arch), "C_col"),
            ("convert_input", "periphery.input_dac_bits", p.input_dac_bits, row_cap_ff(arch),
             "C_row")):
        out[("dac", action)] = timed(
            arch, dac_energy_pj(cv.dac_fj_per_level, bits),
            settle_ns(arch, cap, (bits + 1) * math.log(2)),
            f"e_level 2^bits / 1000; latency (bits + 1) ln2 R_drv {line}",
            {"circuits.converters.dac_fj_per_level": cv.dac_fj_per_level, key: bits,
             "circuits.lines.driver_r_ohm": ln.driver_r_ohm, f"{line}_ff": cap})
    return out
