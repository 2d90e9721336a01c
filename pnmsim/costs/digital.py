"""Digital periphery: arithmetic at a bit width, SRAM by macro size, bus and controller.

Energies are Horowitz's 45 nm, 0.9 V figures (ISSCC 2014, "Computing's energy problem"), used
as given (NOT scaled to another node):

* integer add: linear in the width, ``E = E_add32 x bits / 32`` (8-bit 0.03 vs 0.025 pJ);
* fp32 add 0.9 pJ, multiply 3.7 pJ; batch-norm per element and a first-layer gradient MAC are a
  multiply and an add, a ternary-input gradient MAC a gated add, an Adam step
  ``muls x E_mul + adds x E_add``;
* SRAM, per word of w bits from a macro of S KB: ``E = E_64(8 KB) x sqrt(S / 8) x w / 64``
  (Horowitz: 10, 20, 100 pJ per 64 bits at 8 KB, 32 KB, 1 MB);
* bus: energy per bit x word bits; controller: energy per issued tile operation.

Pipelined units take one cycle per operation; an optimiser update takes its dependent steps.
"""

from __future__ import annotations

import math

from pnmsim.config import ArchConfig
from pnmsim.costs.entry import Cost, clocked
from pnmsim.units import FJ_PER_PJ


def sram_word_pj(e64_8kb_pj: float, kb: float, word_bits: int) -> float:
    return e64_8kb_pj * math.sqrt(kb / 8.0) * word_bits / 64.0


def digital_costs(arch: ArchConfig) -> dict[tuple[str, str], Cost]:
    d = arch.circuits.digital
    k = "circuits.digital."
    mul, add = d.fp32_mul_pj, d.fp32_add_pj
    out: dict[tuple[str, str], Cost] = {}
    out[("accumulator", "add")] = clocked(
        arch, d.int_add_32b_pj * d.accumulator_bits / 32, 1, "E_add32 bits / 32",
        {k + "int_add_32b_pj": d.int_add_32b_pj, k + "accumulator_bits": d.accumulator_bits})
    fp = {k + "fp32_mul_pj": mul, k + "fp32_add_pj": add}
    out[("digital", "bn")] = clocked(arch, mul + add, 1, "E_mul + E_add (fp32)", fp)
    out[("digital", "grad_mac")] = clocked(arch, add, 1, "E_add (fp32; ternary x gates it)",
                                           {k + "fp32_add_pj": add})
    out[("digital", "grad_mac_fp32")] = clocked(arch, mul + add, 1, "E_mul + E_add (fp32)", fp)
    out[("digital", "optimizer")] = clocked(
        arch, d.optimizer_muls * mul + d.optimizer_adds * add, d.optimizer_cycles,
        "muls E_mul + adds E_add (fp32); latency optimizer_cycles",
        {**fp, k + "optimizer_muls": d.optimizer_muls, k + "optimizer_adds": d.optimizer_adds,
         k + "optimizer_cycles": d.optimizer_cycles})
    for cls, kb, bits, kk in (("buffer", d.buffer_kb, d.buffer_word_bits, "buffer"),
                              ("periphery_memory", d.periphery_memory_kb, d.periphery_word_bits,
                               "periphery")):
        e = sram_word_pj(d.sram_8kb_64b_pj, kb, bits)
        inputs = {k + "sram_8kb_64b_pj": d.sram_8kb_64b_pj,
                  k + ("buffer_kb" if kk == "buffer" else "periphery_memory_kb"): kb,
                  k + f"{kk}_word_bits": bits}
        for action in ("read", "write"):
            out[(cls, action)] = clocked(arch, e, 1, "E_64(8 KB) sqrt(KB / 8) bits / 64", inputs)
    out[("bus", "transfer")] = clocked(
        arch, d.bus_fj_per_bit * d.bus_word_bits / FJ_PER_PJ, 1, "E_bit word_bits / 1000",
        {k + "bus_fj_per_bit": d.bus_fj_per_bit, k + "bus_word_bits": d.bus_word_bits})
    out[("controller", "issue")] = clocked(arch, d.controller_issue_pj, 1, "E_issue",
                                           {k + "controller_issue_pj": d.controller_issue_pj})
    return out
