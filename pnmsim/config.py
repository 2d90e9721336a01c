"""Architecture configuration: YAML presets -> frozen, validated dataclasses.

Strict loading: every key must be declared in a schema class below (unknown key = error naming
the file and the key path), every value is type- and range-checked (a negative resistance, TMR
<= 0, a 0 Hz clock, a probability outside [0, 1] are rejected), and every error is one line:
``FILE: key.path: got VALUE; allowed: WHAT``.

Presets compose: a preset may list ``parts:`` (paths relative to the preset) that are deep-merged
in order, then the preset's own keys override them, then ``--set key.path=value`` overrides go
through the same validation. Each key remembers which file set it, so errors name the right file.

Files are read through :mod:`pnmsim.safeload` (regular files only, size, depth and alias limits,
duplicate keys refused); a ``parts:`` chain is at most ``safeload.PARTS_MAX_DEPTH`` files deep.
Every number is checked for finiteness and range when it is loaded: besides its schema bounds,
each key has an upper bound (:data:`UPPER_BOUNDS`, by key path; otherwise :data:`INT_CAP` for
integers and :data:`FLOAT_CAP` for reals), so no value can overflow a later computation.

Why frozen dataclasses and not pydantic: the schema is small, the loader below is ~150 lines,
and it gives exactly the one-line messages the project wants without a heavy dependency.

Why one module over ~500 lines: most of it is the declared schema (one frozen class per preset
section, one line of doc per parameter); the schema and the loader that validates against it
change together, and splitting the declarations from their checks would scatter each
parameter's definition over two files.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from pnmsim.errors import ConfigError, PnmsimError


def spec(default: Any = dataclasses.MISSING, doc: str = "", *, gt: float | None = None,
         ge: float | None = None, le: float | None = None, lt: float | None = None) -> Any:
    """A schema field with a doc line and numeric bounds checked at load time."""
    md = {"doc": doc, "gt": gt, "ge": ge, "le": le, "lt": lt}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: default, metadata=md)
    return field(default=default, metadata=md)


# ----------------------------------------------------------------------------- schema


@dataclass(frozen=True, kw_only=True)
class MTJConfig:
    """One magnetic tunnel junction (nominal values; variation is separate)."""

    r_parallel_ohm: float = spec(doc="resistance in the parallel (P) state", gt=0)
    tmr: float = spec(doc="tunnel magnetoresistance ratio (R_AP - R_P) / R_P, e.g. 1.5 = 150 %",
                      gt=0)
    delta: float = spec(doc="thermal stability factor E_b / (k_B T)", gt=0)
    ic0_ua: float = spec(doc="critical switching current at 0 K", gt=0)
    tau_d_ns: float = spec(doc="characteristic precessional switching time", gt=0)
    tau0_ns: float = spec(1.0, doc="attempt time of thermally activated switching", gt=0)
    ic0_asymmetry: float = spec(
        1.0, doc="I_c0(P->AP) / I_c0(AP->P); ic0_ua is their geometric mean, so P->AP takes "
        "ic0_ua sqrt(r) and AP->P ic0_ua / sqrt(r) (1 = symmetric; real CoFeB/MgO junctions "
        "~1.2-2.5, pnmsim/device/bias.py)", ge=0.1, le=10)
    tmr_v_half_v: float | None = spec(
        None, doc="bias-dependent TMR in writes: TMR(V) = tmr / (1 + (V / V_h)^2) across each "
        "AP MTJ, the series divider solved self-consistently; null = bias-independent "
        "(reads always use tmr)", ge=0.05, le=10)


@dataclass(frozen=True, kw_only=True)
class VariationConfig:
    """Device-to-device (per MTJ) and cycle-to-cycle variation, as relative sigmas (CV)."""

    distribution: Literal["lognormal", "normal"] = spec("lognormal", doc="shape of d2d spread")
    r_parallel_sigma: float = spec(0.0, doc="CV of R_P across devices", ge=0, lt=1)
    tmr_sigma: float = spec(0.0, doc="CV of TMR across devices", ge=0, lt=1)
    ic0_sigma: float = spec(0.0, doc="CV of I_c0 across devices", ge=0, lt=1)
    delta_sigma: float = spec(0.0, doc="CV of Delta across devices", ge=0, lt=1)
    pulse_jitter_sigma: float = spec(0.0, doc="cycle-to-cycle CV of write pulse width", ge=0, lt=1)
    current_jitter_sigma: float = spec(0.0, doc="cycle-to-cycle CV of write current", ge=0, lt=1)


@dataclass(frozen=True, kw_only=True)
class SynapseConfig:
    """The two-MTJ synapse cell and how it is read and written."""

    v_read_v: float = spec(doc="read voltage |u| driven on each branch", gt=0, le=1.5)
    read_ns: float = spec(doc="read pulse width (current integration window)", gt=0)
    v_write_v: float = spec(doc="write driver voltage across the series path", gt=0, le=5)
    r_access_ohm: float = spec(doc="access transistors' on-resistance in the write path", ge=0)
    zero_encoding: Literal["pp", "apap"] = spec(
        "pp", doc="physical encoding written for weight 0 at initialisation")


@dataclass(frozen=True, kw_only=True)
class ArrayConfig:
    """Crossbar tiles and how a layer is spread over them."""

    tile_rows: int = spec(doc="synapse rows (inputs) per tile", gt=0, le=4096)
    tile_cols: int = spec(doc="synapse columns (outputs) per tile", gt=0, le=4096)
    max_tiles: int = spec(4096, doc="tiles on the chip; a network needing more does not fit",
                          gt=0)
    partial_sums: Literal["digital", "analog"] = spec(
        "digital", doc="combine split columns after ADC (digital) or by current summation")
    max_analog_fanin: int = spec(4, doc="most row tiles whose column lines one sense circuit "
                                 "joins (analog partial sums); larger layers are sensed in "
                                 "groups of this many tiles, digitised and added digitally",
                                 gt=0, le=4096)


@dataclass(frozen=True, kw_only=True)
class PeripheryConfig:
    """Drivers, converters and sense circuits around each tile."""

    adc_bits: int = spec(doc="ADC resolution for non-ternary outputs", gt=0, le=16)
    adcs_per_tile: int = spec(doc="ADCs shared by a tile's columns (1..tile_cols)", gt=0)
    dac_bits: int = spec(doc="DAC resolution for backprop errors", gt=0, le=16)
    input_dac_bits: int = spec(8, doc="DAC resolution of real-valued first-layer inputs", gt=0,
                               le=16)
    forward_sensing: Literal["comparators", "adc"] = spec(
        "comparators", doc="inference forward: 2 comparators per neuron (BN folded) or ADC")
    training_forward_sensing: Literal["adc"] = spec(
        "adc", doc="training forward digitises pre-activations for batch-norm statistics")
    adc_range_sigmas: float = spec(4.0, doc="ADC full scale in std-devs of the sensed signal's "
                                   "statistics (fixed, set once: pnmsim/converter_ranges.py)",
                                   gt=0)
    pulse_resolution_ns: float = spec(0.05, doc="width step of the write pulse generator: "
                                      "pulse widths are whole multiples of it", gt=0, le=10)


@dataclass(frozen=True, kw_only=True)
class UpdateConfig:
    """How the stochastic GXNOR update is turned into write pulses."""

    scheme: Literal["outer_product", "per_cell"] = spec(
        doc="outer_product: row pulse from |delta|, column gate from x; per_cell: periphery dW")
    pulse_mapping: Literal["exact", "affine"] = spec(
        doc="exact: t = P_sw^-1(tanh(m|nu|/L)); affine: t = t0 + k|nu|")
    affine_t0_ns: float | None = spec(None, doc="affine offset; null = least-squares fit", ge=0)
    affine_k_ns: float | None = spec(None, doc="affine slope per unit |nu|; null = fit", ge=0)
    pulse_reference: Literal["fixed", "state"] = spec(
        "fixed", doc="fixed: pulses set for the nominal current of a +-1 cell; state: the "
        "periphery reads each cell and sets its pulse for the cell's series current and for how "
        "many MTJs must switch (per_cell scheme only)")
    m: float = spec(3.0, doc="GXNOR DST nonlinearity m in tanh(m|nu|/L)", gt=0)
    p_max: float = spec(0.999, doc="probability of the saturating pulse used for kappa >= 1",
                        gt=0, lt=1)
    max_pulse_ns: float = spec(20.0, doc="longest write pulse the drivers can produce", gt=0)
    lr: float = spec(0.01, doc="learning rate of the simulate command's update phase when the "
                     "checkpoint gives no final learning rate", ge=0)
    outer_rule: Literal["sgd", "column_norm", "low_rank", "clustered"] = spec(
        "sgd", doc="outer_product scheme: sgd = one rank-1 step -lr x delta per input vector; "
        "column_norm = the same steps with each output line's error divided by the running RMS "
        "of its batch error (a per-line second moment kept in the periphery); low_rank = "
        "outer_rank rank-1 steps per batch from a sign power iteration on X^T delta; clustered "
        "= a rank-outer_rank factored momentum scaled by row x column second moments, applied "
        "as steps on disjoint row groups (pnmsim.outer_clustered)")
    outer_beta2: float = spec(0.99, doc="decay of the per-output-line second moment "
                              "(column_norm, low_rank; clustered: also the per-row one)",
                              ge=0, lt=1)
    outer_rank: int = spec(1, doc="rank-1 pulse steps per batch and layer (low_rank); "
                         "clustered: rank of the factored momentum", gt=0)
    write_drive: Literal["voltage", "current"] = spec(
        "voltage", doc="outer_product write drivers: voltage = v_write_v across the cell, so "
        "the current depends on the cell's state; current = current sources delivering the "
        "nominal +-1 cell current v_write_v / (2 R_P + TMR R_P + r_access) to every cell "
        "(with mtj.tmr_v_half_v: the +-1 cell's bias-solved current)")
    outer_beta1: float = spec(0.0, doc="low_rank, clustered: decay of the factored momentum "
                              "P Q^T kept in the periphery (rows + cols words per rank); "
                              "0 = none", ge=0, lt=1)
    outer_clusters: int = spec(64, doc="clustered: row groups K (each row is written by one "
                               "group's steps); 0 = no grouping, each momentum component "
                               "applied on its own (steps overlap). Plausible 16-256", ge=0)
    outer_levels: int = spec(4, doc="clustered: thermometer steps per group that carry the "
                             "rows' magnitudes (plausible 1-8)", gt=0)
    outer_gate: float = spec(0.5, doc="clustered: quantile of the row magnitudes below which "
                             "a row is not written this batch (dead zone; plausible 0-0.8)",
                             ge=0, lt=1)
    outer_probes: int = spec(8, doc="clustered: Rademacher probes of the sketch that "
                             "estimates the row and column sums of the squared batch gradient; "
                             "0 = exact Gram form, O(M^2) (small batches only). Plausible 4-32",
                             ge=0)
    outer_debias: bool = spec(False, doc="column_norm, low_rank, clustered: second moments "
                              "start at 0 and are divided by 1 - beta2^t after t batches "
                              "(Adam's bias correction); false = start at the first batch's "
                              "value, whose weight beta2^t then decays slowly")
    outer_real_inputs: bool = spec(False, doc="clustered: the momentum and the second-moment "
                                   "sketch use the gradient of the layer inputs' values (the "
                                   "DACs' digital words), not of their signs; changes only "
                                   "layers with non-ternary inputs (the first)")


@dataclass(frozen=True, kw_only=True)
class ConverterCircuits:
    """ADCs and DACs (pnmsim.costs.converters)."""

    adc_fom_fj_per_step: float = spec(doc="ADC Walden figure of merit: energy per conversion "
                                      "step, E = FOM x 2^bits", gt=0, le=1000)
    adc_sample_cycles: int = spec(1, doc="clock cycles a SAR ADC spends sampling before its "
                                  "bit decisions (one decision per clock cycle)", ge=0, le=16)
    dac_fj_per_level: float = spec(doc="DAC energy per output level (binary-weighted array): "
                                   "E = e_level x 2^bits; the DAC settles the line it drives "
                                   "to 1/2 LSB in (bits + 1) ln2 R_driver C_line", gt=0, le=1000)


@dataclass(frozen=True, kw_only=True)
class LineCircuits:
    """Crossbar lines and their drivers (pnmsim.costs.lines, pnmsim.costs.write)."""

    cell_pitch_um: float = spec(doc="synapse cell pitch along a line", gt=0, le=100)
    wire_cap_ff_per_um: float = spec(doc="wire capacitance per um of line", gt=0, le=10)
    cell_cap_ff: float = spec(doc="capacitance each cell's access device adds to a line",
                              ge=0, le=100)
    driver_r_ohm: float = spec(doc="line driver output resistance (settling tau = R C)", gt=0)
    settle_taus: float = spec(4.6, doc="time constants a driven line needs to settle "
                              "(4.6 tau = 1 %)", gt=0, le=50)
    driver_logic_fj: float = spec(doc="driver enable/decode logic energy per drive or pulse",
                                  ge=0, le=10000)
    pulse_stage_fj: float = spec(doc="pulse generator energy per delay stage of width "
                                 "periphery.pulse_resolution_ns", ge=0, le=1000)


@dataclass(frozen=True, kw_only=True)
class SensingCircuits:
    """Line sensing, comparators and the analog partial-sum combine (pnmsim.costs.sensing)."""

    amp_bias_uw_per_ff: float = spec(doc="bias power of a sensed line's virtual-ground "
                                     "amplifier per fF of line it settles (gm = 2 pi GBW C), "
                                     "held for the sense window synapse.read_ns", ge=0, le=10000)
    comparator_fj: float = spec(doc="energy of one latch comparator decision", ge=0, le=10000)
    comparator_ns: float = spec(doc="latch comparator decision time", gt=0, le=100)


@dataclass(frozen=True, kw_only=True)
class DigitalCircuits:
    """Digital periphery: arithmetic, SRAM, bus, controller (pnmsim.costs.digital)."""

    int_add_32b_pj: float = spec(doc="32-bit integer add (scaled linearly to other widths)",
                                 gt=0, le=100)
    accumulator_bits: int = spec(doc="partial-sum accumulator width", gt=0, le=64)
    fp32_add_pj: float = spec(doc="fp32 add", gt=0, le=100)
    fp32_mul_pj: float = spec(doc="fp32 multiply", gt=0, le=100)
    optimizer_muls: int = spec(doc="fp32 multiplies (sqrt and divide counted as one each) of "
                               "one optimiser parameter update", ge=0, le=1000)
    optimizer_adds: int = spec(doc="fp32 adds of one optimiser parameter update", ge=0, le=1000)
    optimizer_cycles: int = spec(doc="dependent steps of one optimiser update (its latency)",
                                 gt=0, le=1000)
    sram_8kb_64b_pj: float = spec(doc="64-bit read of an 8 KB SRAM; a macro of S KB costs "
                                  "sqrt(S / 8) times as much", gt=0, le=1000)
    buffer_kb: float = spec(doc="tile input/output buffer macro size", gt=0, le=1e6)
    buffer_word_bits: int = spec(doc="buffer word width", gt=0, le=1024)
    periphery_memory_kb: float = spec(doc="periphery memory (BN, optimiser state) macro size",
                                      gt=0, le=1e6)
    periphery_word_bits: int = spec(doc="periphery memory word width", gt=0, le=1024)
    bus_fj_per_bit: float = spec(doc="inter-tile bus energy per bit moved", gt=0, le=1e5)
    bus_word_bits: int = spec(doc="bits per bus word", gt=0, le=1024)
    controller_issue_pj: float = spec(doc="controller energy to issue one tile operation",
                                      ge=0, le=1e4)


@dataclass(frozen=True, kw_only=True)
class CircuitConfig:
    """Circuit parameters the cost model (pnmsim.costs) derives every price from."""

    converters: ConverterCircuits = spec(doc="ADCs and DACs")
    lines: LineCircuits = spec(doc="lines, drivers, pulse generator")
    sensing: SensingCircuits = spec(doc="sense amplifiers and comparators")
    digital: DigitalCircuits = spec(doc="digital periphery")


@dataclass(frozen=True, kw_only=True)
class SystemConfig:
    """Digital system around the tiles: buffers, bus and controller."""

    bus_words_per_cycle: int = spec(doc="words the shared inter-tile bus moves per cycle", gt=0)
    controller_issue_slots: int = spec(1, doc="tile operations the controller issues at once",
                                       gt=0)
    batch_size: int = spec(100, doc="samples per mini-batch in the simulate update phase", gt=0)
    issue_group: int = spec(1, doc="samples per tile operation: the controller issues a "
                            "layer's products for this many consecutive samples at once", gt=0)
    digital_lanes: int = spec(64, doc="parallel fp32 units of the digital periphery (BN, "
                              "gradients, optimiser)", gt=0)


@dataclass(frozen=True, kw_only=True)
class ArchConfig:
    """A complete architecture preset."""

    name: str = spec(doc="preset name")
    description: str = spec("", doc="one-line description")
    clock_mhz: float = spec(doc="controller and periphery clock", gt=0, le=100000)
    ops_per_mac: int = spec(2, doc="ops counted per synapse multiply-accumulate", gt=0)
    mtj: MTJConfig = spec(doc="MTJ device")
    variation: VariationConfig = spec(VariationConfig(), doc="device variation")
    synapse: SynapseConfig = spec(doc="two-MTJ synapse cell")
    array: ArrayConfig = spec(doc="crossbar tiles")
    periphery: PeripheryConfig = spec(doc="converters and sense circuits")
    update: UpdateConfig = spec(doc="weight update scheme")
    system: SystemConfig = spec(doc="buffers, bus, controller")
    circuits: CircuitConfig = spec(doc="circuit parameters of the cost model (pnmsim.costs)")


# ----------------------------------------------------------------------------- loading


class _Origins:
    """Remembers which file set each key path (for error messages)."""

    def __init__(self, default: str) -> None:
        self.default = default
        self.by_path: dict[str, str] = {}

    def of(self, path: str) -> str:
        p = path
        while p:
            if p in self.by_path:
                return self.by_path[p]
            p = p.rsplit(".", 1)[0] if "." in p else ""
        return self.default


def _merge(base: dict, over: dict, origin: str | None, origins: _Origins,
           prefix: str = "") -> dict:
    """Deep-merge ``over`` into ``base``; record ``origin`` for the keys it sets (None: keep the
    origins already recorded, as for a part loaded by a nested call)."""
    out = dict(base)
    for k, v in over.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, origin, origins, path + ".")
        else:
            out[k] = v
            if origin is not None:
                origins.by_path[path] = origin
                if isinstance(v, dict):
                    _record(v, origin, origins, path + ".")
    return out


def _record(d: dict, origin: str, origins: _Origins, prefix: str) -> None:
    for k, v in d.items():
        origins.by_path[f"{prefix}{k}"] = origin
        if isinstance(v, dict):
            _record(v, origin, origins, f"{prefix}{k}.")


def _read_yaml(path: Path, shown: str) -> dict:
    from pnmsim.safeload import load_yaml

    data = load_yaml(path, shown, "YAML file")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, "(top level)", data, "a mapping of keys")
    return data


def _load_tree(path: Path, origins: _Origins, seen: tuple[Path, ...] = (),
               count: list[int] | None = None) -> dict:
    from pnmsim.safeload import PARTS_MAX_DEPTH, PARTS_MAX_FILES

    count = [0] if count is None else count
    shown = _display(path)
    if len(seen) > PARTS_MAX_DEPTH:
        raise ConfigError(_display(seen[0]), "parts", str(path),
                          f"a parts: chain at most {PARTS_MAX_DEPTH} files deep")
    count[0] += 1
    if count[0] > PARTS_MAX_FILES:
        raise ConfigError(_display(seen[0]), "parts", str(path),
                          f"at most {PARTS_MAX_FILES} files pulled in through parts:")
    data = _read_yaml(path, shown)
    real = path.resolve()
    if real in seen:
        raise ConfigError(shown, "parts", str(path), "parts without cycles")
    parts = data.pop("parts", [])
    if not isinstance(parts, list) or not all(isinstance(p, str) and p.strip()
                                              for p in parts):
        raise ConfigError(shown, "parts", parts, "a list of YAML paths relative to this file")
    merged: dict = {}
    for i, p in enumerate(parts):
        from pnmsim.safeload import regular_file

        try:
            regular_file(path.parent / p, str(p), "YAML file")
        except ConfigError as e:
            raise ConfigError(shown, f"parts[{i}]", p, f"{e.allowed} (got {e.value})") from None
        sub = _load_tree((path.parent / p), origins, seen + (real,), count)
        merged = _merge(merged, sub, None, origins)
    return _merge(merged, data, shown, origins)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):   # outside cwd; a symlink loop; no cwd
        return str(path)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {', '.join(f.name for f in dataclasses.fields(tp))}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        tp, str(tp))


def _convert(tp: Any, value: Any, path: str, origins: _Origins, md: dict | None = None) -> Any:
    src = origins.of(path)
    origin = get_origin(tp)
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(src, path, value, _type_name(tp))
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, path, origins, md)
            except ConfigError as e:
                if numeric and a is float and type(None) in args:   # a number out of range
                    raise ConfigError(src, path, value, f"{e.allowed} or null") from None
                continue
        raise ConfigError(src, path, value, _type_name(tp))
    if origin is dict:
        _, vt = get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(src, path, value, "a mapping")
        return {str(k): _convert(vt, v, f"{path}.{k}", origins) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path, origins)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(src, path, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConfigError(src, path, value, "an integer" + _bounds(md, path))
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(src, path, value, "a number" + _bounds(md, path))
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(src, path, value, "a finite number" + _bounds(md, path)) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(src, path, value, "a finite number" + _bounds(md, path))
    elif tp is str:
        if not isinstance(value, str):
            raise ConfigError(src, path, value, "a string")
        return value
    if md is not None or tp in (int, float):
        _check_bounds(value, md or {}, src, path)
    return value


INT_CAP = 2**31 - 1
"""Upper bound of any integer key without its own entry in :data:`UPPER_BOUNDS`."""
FLOAT_CAP = 1e15
"""Upper bound of |x| for any real key without its own entry in :data:`UPPER_BOUNDS`."""
UPPER_BOUNDS: dict[str, float] = {
    # key path ("*" matches one level): inclusive upper bound (why)
    "ops_per_mac": 64,                         # ops per MAC: 2 by convention
    "circuits.lines.driver_r_ohm": 1e9,        # 1 GOhm driver: lines would never settle
    "array.max_tiles": 65_536,                 # ISAAC-scale chips hold ~16k crossbars
    "system.bus_words_per_cycle": 10**6,
    "system.controller_issue_slots": 10**6,
    "system.batch_size": 10**6,
    "system.issue_group": 10**6,
    "system.digital_lanes": 10**6,
    "mtj.r_parallel_ohm": 1e9,                 # 1 GOhm (real MTJs: 1 kOhm..1 MOhm)
    "mtj.tmr": 100.0,                          # 10000 % (real: 0.5..6)
    "mtj.delta": 1000.0,                       # real: 20..100
    "mtj.ic0_ua": 1e6,                         # 1 A
    "mtj.tau_d_ns": 1e6,                       # 1 ms
    "mtj.tau0_ns": 1e6,
    "mtj.ic0_asymmetry": 10.0,                 # real: 1..2.5 (schema bound, for the table)
    "mtj.tmr_v_half_v": 10.0,                  # real: 0.3..1 V; above ~2 V MgO breaks down
    "synapse.read_ns": 1e6,
    "synapse.r_access_ohm": 1e9,
    "periphery.adc_range_sigmas": 1000.0,
    "update.affine_t0_ns": 1e6,
    "update.affine_k_ns": 1e6,
    "update.max_pulse_ns": 1e6,
    "update.m": 1000.0,
    "update.lr": 1e6,
}


def upper_bound(path: str, tp: Any = float) -> float:
    """The documented upper bound of the number at ``path`` (see :data:`UPPER_BOUNDS`)."""
    parts = path.split(".")
    for pat, ub in UPPER_BOUNDS.items():
        pp = pat.split(".")
        if len(pp) == len(parts) and all(a == "*" or a == b for a, b in zip(pp, parts,
                                                                              strict=True)):
            return ub
    return INT_CAP if tp is int else FLOAT_CAP


def _bounds(md: dict | None, path: str | None = None) -> str:
    parts = []
    md = md or {}
    if md.get("gt") is not None:
        parts.append(f"> {md['gt']}")
    if md.get("ge") is not None:
        parts.append(f">= {md['ge']}")
    if md.get("lt") is not None:
        parts.append(f"< {md['lt']}")
    if md.get("le") is not None:
        parts.append(f"<= {md['le']}")
    elif path is not None:
        parts.append(f"<= {upper_bound(path):g}")
    return (" " + " and ".join(parts)) if parts else ""


def _check_bounds(value: float, md: dict, src: str, path: str) -> None:
    ok = True
    if md.get("gt") is not None and not value > md["gt"]:
        ok = False
    if md.get("ge") is not None and not value >= md["ge"]:
        ok = False
    if md.get("lt") is not None and not value < md["lt"]:
        ok = False
    if md.get("le") is not None and not value <= md["le"]:
        ok = False
    if md.get("le") is None and not abs(value) <= upper_bound(path):
        ok = False
    if not ok:
        doc = md.get("doc", "")
        raise ConfigError(src, path, value, f"a value{_bounds(md, path)}"
                          + (f" ({doc})" if doc else ""))


def _build(cls: type, data: Any, path: str, origins: _Origins) -> Any:
    src = origins.of(path) if path else origins.default
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(src, path or "(top level)", data, _type_name(cls))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in data:
        if k not in fields:
            kp = f"{path}.{k}" if path else str(k)
            raise ConfigError(origins.of(kp), kp, data[k],
                              f"known keys of {path or 'the preset'}: {', '.join(fields)}")
    kwargs = {}
    for name, f in fields.items():
        kp = f"{path}.{name}" if path else name
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], kp, origins, dict(f.metadata))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(src, kp, "(missing)", f"a required value: {_type_name(hints[name])}"
                              + (f" ({f.metadata.get('doc')})" if f.metadata.get("doc") else ""))
    return cls(**kwargs)


def _check_cross(cfg: ArchConfig, origins: _Origins) -> None:
    """Constraints between keys."""
    if cfg.periphery.adcs_per_tile > cfg.array.tile_cols:
        raise ConfigError(origins.of("periphery.adcs_per_tile"), "periphery.adcs_per_tile",
                          cfg.periphery.adcs_per_tile,
                          f"1..array.tile_cols ({cfg.array.tile_cols})")
    if cfg.array.tile_cols % cfg.periphery.adcs_per_tile:
        raise ConfigError(origins.of("periphery.adcs_per_tile"), "periphery.adcs_per_tile",
                          cfg.periphery.adcs_per_tile,
                          f"a divisor of array.tile_cols ({cfg.array.tile_cols})")
    up = cfg.update
    if up.pulse_mapping == "affine" and (up.affine_t0_ns is None) != (up.affine_k_ns is None):
        raise ConfigError(origins.of("update.affine_k_ns"), "update.affine_k_ns",
                          up.affine_k_ns, "both affine_t0_ns and affine_k_ns set, or both null")
    if up.scheme == "outer_product" and up.pulse_reference == "state":
        raise ConfigError(origins.of("update.pulse_reference"), "update.pulse_reference",
                          up.pulse_reference, "fixed with update.scheme outer_product (row and "
                          "column drivers cannot set a pulse per cell)")
    if up.write_drive == "current" and up.scheme != "outer_product":
        raise ConfigError(origins.of("update.write_drive"), "update.write_drive",
                          up.write_drive, "voltage unless update.scheme is outer_product")
    if up.pulse_reference == "state" and up.pulse_mapping != "exact":
        raise ConfigError(origins.of("update.pulse_reference"), "update.pulse_reference",
                          up.pulse_reference, "fixed unless update.pulse_mapping is exact "
                          "(the affine fit is for one reference current)")
    _check_write_margin(cfg, origins)


def _check_write_margin(cfg: ArchConfig, origins: _Origins) -> None:
    """Every write is precessional: the weakest series current that meets each switching
    direction exceeds that direction's I_c0, at 3 sigma of variation and jitter. AP -> P
    switches meet at worst the AP+AP cell's current, P -> AP ones the +-1 cell's (with
    ``mtj.ic0_asymmetry`` != 1 the two directions' I_c0 differ; with ``mtj.tmr_v_half_v`` the
    currents are the bias-solved ones of :mod:`pnmsim.device.bias`)."""
    from pnmsim.device.bias import series_current_ua

    up, v, d, s = cfg.update, cfg.variation, cfg.mtj, cfg.synapse
    vh = d.tmr_v_half_v
    asym = d.ic0_asymmetry
    r_p3 = d.r_parallel_ohm * (1 + 3 * v.r_parallel_sigma)
    r_ap3 = r_p3 * (1 + d.tmr * (1 + 3 * v.tmr_sigma))
    if vh is None:
        i_min = (s.v_write_v / (2 * r_ap3 + s.r_access_ohm) * 1e6
                 * (1 - 3 * v.current_jitter_sigma))
    else:
        i_min = (series_current_ua(0, 0, r_p3, r_ap3, r_p3, r_ap3, s.v_write_v, s.r_access_ohm,
                                   vh) * (1 - 3 * v.current_jitter_sigma))
    ic0_3 = d.ic0_ua * (1 + 3 * v.ic0_sigma)
    ic0_min = ic0_3 if asym == 1.0 else ic0_3 / asym ** 0.5        # AP -> P
    what = "" if asym == 1.0 else "(AP->P) "
    if up.write_drive == "current":   # current sources: every cell gets the nominal +-1 current
        if vh is None:
            i_nom = s.v_write_v / (d.r_parallel_ohm * (2 + d.tmr) + s.r_access_ohm) * 1e6
        else:
            i_nom = series_current_ua(1, 0, d.r_parallel_ohm, d.r_parallel_ohm * (1 + d.tmr),
                                      d.r_parallel_ohm, d.r_parallel_ohm * (1 + d.tmr),
                                      s.v_write_v, s.r_access_ohm, vh)
        i_min = i_nom * (1 - 3 * v.current_jitter_sigma)
        if asym != 1.0:
            ic0_min = ic0_3 * max(asym, 1.0 / asym) ** 0.5
            what = "(P->AP) " if asym > 1.0 else "(AP->P) "
    if i_min <= ic0_min:
        raise ConfigError(origins.of("synapse.v_write_v"), "synapse.v_write_v",
                          s.v_write_v,
                          f"a write voltage whose weakest series current ({i_min:.1f} uA "
                          + ("of the current-source drivers at -3 sigma current jitter) "
                             if up.write_drive == "current" else
                             "through AP+AP+access at +3 sigma R_P/TMR and -3 sigma current "
                             "jitter) ") +
                          f"exceeds I_c0 {what}at +3 sigma ({ic0_min:.1f} "
                          "uA): writes must be in the "
                          "precessional regime")
    if up.write_drive == "voltage" and asym > 1.0:   # P -> AP: at worst in a +-1 cell
        i_pm = (series_current_ua(1, 0, r_p3, r_ap3, r_p3, r_ap3, s.v_write_v, s.r_access_ohm,
                                  vh) * (1 - 3 * v.current_jitter_sigma))
        ic0_pap = ic0_3 * asym ** 0.5
        if i_pm <= ic0_pap:
            raise ConfigError(origins.of("mtj.ic0_asymmetry"), "mtj.ic0_asymmetry", asym,
                              f"an asymmetry whose P->AP critical current at +3 sigma "
                              f"({ic0_pap:.1f} uA) stays below the weakest +-1 cell's series "
                              f"current ({i_pm:.1f} uA at +3 sigma R_P/TMR and -3 sigma current "
                              "jitter): writes must be in the precessional regime")


def _check_read(cfg: ArchConfig, origins: _Origins) -> None:
    """Reads must not disturb: the read current through an MTJ in P (V_rd/R_P) stays below half
    of its P->AP critical current, and through one in AP (V_rd/R_AP) below half of its AP->P
    critical current (the same I_c0 both ways unless ``mtj.ic0_asymmetry`` is set)."""
    d = cfg.mtj
    asym = d.ic0_asymmetry
    i_p = cfg.synapse.v_read_v / d.r_parallel_ohm * 1e6
    i_ap = i_p / (1.0 + d.tmr)
    for i_read, ic0, what in ((i_p, d.ic0_ua * asym ** 0.5, "V_rd/R_P"),
                              (i_ap, d.ic0_ua / asym ** 0.5, "V_rd/R_AP")):
        if i_read >= 0.5 * ic0:
            dirn = "" if asym == 1.0 else (" (P->AP)" if what == "V_rd/R_P" else " (AP->P)")
            raise ConfigError(origins.of("synapse.v_read_v"), "synapse.v_read_v",
                              cfg.synapse.v_read_v,
                              f"a read voltage whose read current {what} ({i_read:.1f} uA) "
                              f"stays below I_c0{dirn}/2 ({ic0 / 2:g} uA): reads must not "
                              "disturb")


def parse_set(item: str) -> tuple[str, Any]:
    """Parse one ``key.path=value`` override; the value is a YAML scalar/flow value."""
    if "=" not in item:
        raise ConfigError("--set", item, item, "key.path=value")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError("--set", key or "(empty)", item, "key.path=value")
    from pnmsim.safeload import parse_yaml

    try:
        value = parse_yaml(raw, "--set") if raw.strip() else ""
    except PnmsimError:
        value = raw
    if isinstance(value, str):
        try:   # YAML 1.1 reads 1e-3 (no decimal point) as a string; on the command line
            value = float(value)   # a user means the number
        except ValueError:
            pass
    return key, value


def _as_text(raw: str) -> str:
    """The string a ``--set`` value means for a string key: the YAML string when it is one
    (``'123'`` -> ``123``), else the text as typed (``123``, ``1e5``, ``true``)."""
    from pnmsim.safeload import parse_yaml

    try:
        v = parse_yaml(raw, "--set") if raw.strip() else ""
    except PnmsimError:
        v = None
    return v if isinstance(v, str) else raw.strip()


def _apply_set(tree: dict, key: str, value: Any, origins: _Origins,
               raw: str | None = None) -> dict:
    parts = key.split(".")
    cls: Any = ArchConfig
    node = tree
    for i, p in enumerate(parts):
        allowed: list[str]
        if dataclasses.is_dataclass(cls):
            allowed = [f.name for f in dataclasses.fields(cls)]
            if p not in allowed:
                where = ".".join(parts[:i]) or "the preset"
                raise ConfigError("--set", key, value, f"known keys of {where}: "
                                  + ", ".join(allowed))
            hint = typing.get_type_hints(cls)[p]
        elif get_origin(cls) is dict:
            hint = get_args(cls)[1]
        else:
            raise ConfigError("--set", key, value, f"a path ending at {'.'.join(parts[:i])}")
        if i == len(parts) - 1:
            if hint is str and raw is not None:
                value = _as_text(raw)    # a string key takes the text as typed (name=123)
            node[p] = value
        else:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        cls = hint
    origins.by_path[key] = "--set"
    return tree


def _arch_dir() -> Path:
    from pnmsim.packaged import data_dir

    return data_dir("arch_configs")


ARCH_DIR = _arch_dir()
"""The shipped presets (inside the installed package, else the repository's arch_configs/)."""
DEFAULT_ARCH = "reference"


def builtin_archs() -> list[str]:
    return sorted(p.stem for p in ARCH_DIR.glob("*.yaml"))


def resolve_arch_path(name_or_path: str | Path | None) -> Path:
    if name_or_path is None:
        name_or_path = DEFAULT_ARCH
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    cand = ARCH_DIR / f"{name_or_path}.yaml"
    if cand.exists():
        return cand
    raise ConfigError(str(name_or_path), "(arch)", str(name_or_path),
                      "a YAML file path or a preset name: " + ", ".join(builtin_archs()))


def load_arch_tree(name_or_path: str | Path | None = None,
                   overrides: typing.Sequence[str] = ()) -> tuple[dict, _Origins]:
    path = resolve_arch_path(name_or_path)
    origins = _Origins(_display(path))
    tree = _load_tree(path, origins)
    for item in overrides:
        k, v = parse_set(item)
        tree = _apply_set(tree, k, v, origins, item.split("=", 1)[1])
    return tree, origins


def load_arch(name_or_path: str | Path | None = None,
              overrides: typing.Sequence[str] = ()) -> ArchConfig:
    """Load, compose, override and validate an architecture preset."""
    tree, origins = load_arch_tree(name_or_path, overrides)
    tree.pop("source", None)
    cfg = _build(ArchConfig, tree, "", origins)
    _check_all(cfg, origins, overrides)
    return cfg


def _check_all(cfg: ArchConfig, origins: _Origins, overrides: typing.Sequence[str]) -> None:
    """Cross-key constraints; a failure caused together with ``--set`` values says so."""
    try:
        _check_cross(cfg, origins)
        _check_read(cfg, origins)
    except ConfigError as e:
        if not overrides or e.source == "--set":
            raise
        keys = ", ".join(o.split("=", 1)[0] for o in overrides)
        raise ConfigError(e.source, e.key, e.value, f"{e.allowed} (with --set {keys})"
                          ) from None


def with_overrides(cfg: ArchConfig, overrides: typing.Sequence[str]) -> ArchConfig:
    """Apply ``key.path=value`` overrides to an already loaded config (validated again)."""
    origins = _Origins("--set")
    tree = to_dict(cfg)
    for item in overrides:
        k, v = parse_set(item)
        tree = _apply_set(tree, k, v, origins, item.split("=", 1)[1])
    out = _build(ArchConfig, tree, "", origins)
    _check_all(out, origins, overrides)
    return out


def to_dict(cfg: Any) -> Any:
    """Plain-data view of a config (for YAML/JSON dumps)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def dump_yaml(cfg: ArchConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def describe_schema() -> list[tuple[str, str, str]]:
    """(key path, type, doc) of every parameter, for docs and `pnmsim validate --schema`."""
    rows: list[tuple[str, str, str]] = []

    def walk(cls: type, prefix: str) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.")
            else:
                rows.append((prefix + f.name, _type_name(tp), f.metadata.get("doc", "")))

    walk(ArchConfig, "")
    return rows
