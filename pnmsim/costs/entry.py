"""One priced action: its energy, its latency, the formula that gave them and the inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from pnmsim.config import ArchConfig
from pnmsim.units import cycle_ns, ns_to_cycles

Value = float | int | str


@dataclass(frozen=True)
class Cost:
    """Price of one (component class, action): energy per action and the cycles it occupies
    its component. ``formula`` is the model in words and symbols, ``inputs`` the values it used
    (preset parameters by key path, and derived intermediates)."""

    energy_pj: float
    latency_cycles: int
    formula: str
    inputs: dict[str, Value] = field(default_factory=dict)
    latency_ns: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"energy_pj": self.energy_pj, "latency_cycles": self.latency_cycles,
                "latency_ns": self.latency_ns, "formula": self.formula,
                "inputs": dict(self.inputs)}


def timed(arch: ArchConfig, energy_pj: float, latency_ns: float, formula: str,
          inputs: dict[str, Value]) -> Cost:
    """A cost whose latency is an analog time: whole cycles that cover it (units.ns_to_cycles)."""
    return Cost(energy_pj, ns_to_cycles(latency_ns, arch.clock_mhz), formula, inputs, latency_ns)


def clocked(arch: ArchConfig, energy_pj: float, cycles: int, formula: str,
            inputs: dict[str, Value]) -> Cost:
    """A cost whose latency is a number of clock cycles (synchronous logic)."""
    return Cost(energy_pj, int(cycles), formula, inputs, cycles * cycle_ns(arch.clock_mhz))
