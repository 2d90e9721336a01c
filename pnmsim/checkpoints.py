"""Checkpoints validated as data before a single value reaches the network.

:func:`check_weights` (``simulate --checkpoint``) and :func:`check_state` (``train --resume``)
check every array a network will take -- presence, dtype kind, shape and value set:

* weights ``w{i}``: integer or real arrays of the layer's ``(rows, cols)`` whose values are
  exactly in {-1, 0, +1} ({-1, +1} for binary workloads); compared in the array's own dtype, so
  int8 -128 (whose ``abs`` overflows) and 0.7 or NaN (which ``astype(int8)`` would truncate)
  are refused;
* batch-norm ``gamma``/``beta``/``running_mean``: finite reals of the channel count;
  ``running_var``: finite and > 0;
* Adam moments: finite reals (second moments >= 0) shaped like their parameter, ``adam.t`` an
  integer >= 0;
* physical MTJ states ``backend.s1.i``/``s2.i``: int8 in {0, 1} agreeing with ``w{i} = s1 - s2``
  (a binary synapse is never (P,P) or (AP,AP));
* random-generator states: JSON that a PCG64 generator accepts.

:func:`check_meta` checks ``trainer.meta`` (types, ranges, an epoch within ``--epochs``, a log
row per epoch) and :func:`check_sim_meta` the simulation counters ``sim.meta`` (tally, cycles,
busy counters of the chip). Each problem is one line naming the file and the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from pnmsim.errors import PnmsimError

MAX_EPOCHS = 100_000


def _err(path: Any, key: str, problem: str, allowed: str) -> PnmsimError:
    return PnmsimError(f"{path}: {key}: {problem}; allowed: {allowed}")


def _real(path: Any, key: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if a.dtype.kind not in "iuf":
        raise _err(path, key, f"dtype {a.dtype}", "a real-valued array")
    if a.shape != shape:
        raise _err(path, key, f"shape {a.shape}", f"shape {shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise _err(path, key, "non-finite values", "finite numbers")
    return a


def _weights(path: Any, key: str, a: np.ndarray, shape: tuple[int, ...],
             binary: bool) -> np.ndarray:
    if a.dtype.kind not in "iuf":
        raise _err(path, key, f"dtype {a.dtype}", "integer (int8) ternary weights")
    if a.shape != shape:
        raise _err(path, key, f"shape {a.shape}", f"shape {shape}")
    allowed = (-1, 1) if binary else (-1, 0, 1)
    ok = np.isin(a, allowed)          # exact comparison in a's own dtype: no overflow, no cast
    if not np.all(ok):
        bad = a[~ok].flat[0]
        raise _err(path, key, f"weight value {bad!r}",
                   "{-1, +1} (binary)" if binary else "{-1, 0, +1}")
    return a.astype(np.int8)


def _rng_state(path: Any, key: str, a: np.ndarray) -> None:
    if a.dtype != np.uint8 or a.ndim != 1:
        raise _err(path, key, f"dtype {a.dtype} shape {a.shape}", "a JSON generator state")
    try:
        st = json.loads(a.tobytes())
        np.random.default_rng().bit_generator.state = st
    except (ValueError, TypeError, KeyError, OverflowError, UnicodeDecodeError) as e:
        raise _err(path, key, f"not a generator state ({type(e).__name__})",
                   "a PCG64 state saved by pnmsim") from None


def check_weights(d: Mapping[str, np.ndarray], network: Any, path: Any) -> None:
    """Weights and batch-norm state a network takes (see the module doc)."""
    binary = network.workload.weights == "binary"
    for i, layer in enumerate(network.layers):
        key = f"w{i}"
        if key not in d:
            raise _err(path, key, "missing", f"the weights of {network.workload.name}")
        _weights(path, key, np.asarray(d[key]), (layer.rows, layer.cols), binary)
    for store in (network.params, network.running):
        for key, ref in store.items():
            if key not in d:
                raise _err(path, key, "missing", f"the batch-norm state of "
                           f"{network.workload.name}")
            a = _real(path, key, np.asarray(d[key]), tuple(ref.shape))
            if key.endswith("running_var") and not np.all(a > 0):
                raise _err(path, key, f"variance {a[~(a > 0)].flat[0]!r}", "finite values > 0")


def check_state(d: Mapping[str, np.ndarray], network: Any, hardware: bool, path: Any) -> None:
    """Everything :meth:`Network.load_state_dict` takes, for a resumed training run."""
    check_weights(d, network, path)
    if "adam.t" not in d:
        raise _err(path, "adam.t", "missing", "the optimiser step count")
    t = np.asarray(d["adam.t"])
    if t.dtype.kind not in "iu" or t.shape != () or not 0 <= int(t) <= 10**12:
        raise _err(path, "adam.t", f"{t.dtype} {t.shape}", "an integer scalar >= 0")
    shapes = {f"w{i}": (lay.rows, lay.cols) for i, lay in enumerate(network.layers)}
    shapes.update({k: tuple(v.shape) for k, v in network.params.items()})
    m = {k[7:] for k in d if k.startswith("adam.m.")}
    v = {k[7:] for k in d if k.startswith("adam.v.")}
    if m != v:
        k = sorted(m ^ v)[0]
        raise _err(path, f"adam.m/v.{k}", "only one moment present", "both moments")
    for name in sorted(m):
        if name not in shapes:
            raise _err(path, f"adam.m.{name}", "a moment of an unknown parameter",
                       "moments of " + ", ".join(shapes))
        _real(path, f"adam.m.{name}", np.asarray(d[f"adam.m.{name}"]), shapes[name])
        vv = _real(path, f"adam.v.{name}", np.asarray(d[f"adam.v.{name}"]), shapes[name])
        if not np.all(vv >= 0):
            raise _err(path, f"adam.v.{name}", "negative second moment", "values >= 0")
    binary = network.workload.weights == "binary"
    if hardware:
        for i, lay in enumerate(network.layers):
            states = []
            for s in ("s1", "s2"):
                key = f"backend.{s}.{i}"
                if key not in d:
                    raise _err(path, key, "missing", "the MTJ states of a hardware run")
                a = np.asarray(d[key])
                if a.dtype.kind not in "iu" or a.shape != (lay.rows, lay.cols):
                    raise _err(path, key, f"{a.dtype} {a.shape}",
                               f"int8 states of shape {(lay.rows, lay.cols)}")
                if not np.all(np.isin(a, (0, 1))):
                    raise _err(path, key, f"MTJ state {a[~np.isin(a, (0, 1))].flat[0]!r}",
                               "0 (AP) or 1 (P)")
                states.append(a.astype(np.int8))
            if not np.array_equal(states[0] - states[1], np.asarray(d[f"w{i}"], np.int8)):
                raise _err(path, f"backend.s1.{i}", f"MTJ states disagree with w{i}",
                           "w = s1 - s2")
            if binary and np.any(states[0] == states[1]):
                raise _err(path, f"backend.s1.{i}", "a binary cell in (P,P) or (AP,AP)",
                           "complementary MTJ states")
            key = f"backend.rng.{i}"
            if key not in d:
                raise _err(path, key, "missing", "the write rng state of a hardware run")
            _rng_state(path, key, np.asarray(d[key]))
    elif "backend.rng" in d:
        _rng_state(path, "backend.rng", np.asarray(d["backend.rng"]))


def _num(path: Any, key: str, v: Any, lo: float, hi: float, integer: bool = False,
         nan_ok: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and
                                                                   not isinstance(v, int)):
        raise _err(path, key, f"{type(v).__name__} {str(v)[:40]}",
                   "an integer" if integer else "a number")
    if isinstance(v, float) and math.isnan(v) and nan_ok:
        return v
    if not (lo <= v <= hi):
        raise _err(path, key, f"{str(v)[:40]}", f"{lo:g}..{hi:g}")
    return v


def check_meta(meta: Any, path: Any, epochs: int) -> None:
    """The ``trainer.meta`` mapping of a checkpoint (see the module doc)."""
    key = "trainer.meta"
    if not isinstance(meta, dict):
        raise _err(path, key, type(meta).__name__, "a JSON object")
    need = {"epoch": int, "log": list, "wall_s": (int, float), "settings": dict,
            "data_rng": dict, "net_rng": dict}
    _typed(meta, path, key, need)
    ep = int(_num(path, f"{key}.epoch", meta["epoch"], 0, MAX_EPOCHS, integer=True))
    if ep > epochs:
        raise _err(path, f"{key}.epoch", f"run already at epoch {ep}",
                   f"--epochs >= {ep} to resume it")
    _num(path, f"{key}.wall_s", meta["wall_s"], 0, 1e12)
    log = meta["log"]
    if len(log) != ep + 1:
        raise _err(path, f"{key}.log", f"{len(log)} rows", f"one row per epoch 0..{ep}")
    for i, row in enumerate(log):
        if not isinstance(row, dict) or row.get("epoch") != i:
            raise _err(path, f"{key}.log[{i}]", "malformed row", f"a mapping with epoch {i}")
        for k, v in row.items():
            _num(path, f"{key}.log[{i}].{k}", v, -1e300, 1e300, nan_ok=True)
    for k in ("data_rng", "net_rng"):
        try:
            np.random.default_rng().bit_generator.state = meta[k]
        except (ValueError, TypeError, KeyError, OverflowError):
            raise _err(path, f"{key}.{k}", "not a generator state",
                       "a PCG64 state saved by pnmsim") from None
    run = meta.get("run", {})
    if not isinstance(run, dict):
        raise _err(path, f"{key}.run", type(run).__name__, "a mapping")


def _typed(meta: dict, path: Any, key: str, need: dict[str, Any]) -> None:
    for k, tp in need.items():
        if k not in meta:
            raise _err(path, f"{key}.{k}", "missing", "a checkpoint written by pnmsim")
        if not isinstance(meta[k], tp) or (isinstance(meta[k], bool) and tp is not bool):
            raise _err(path, f"{key}.{k}", f"a {type(meta[k]).__name__}",
                       f"a {getattr(tp, '__name__', 'number')}")


def check_sim_meta(d: Mapping[str, np.ndarray], path: Any, n_counters: int | None) -> None:
    """``sim.meta``: the simulation's tally and the chip's cycle and busy counters
    (``n_counters``: tiles + controller, interconnect, digital, events; None: no chip)."""
    key = "sim.meta"
    if key not in d:
        return
    raw = np.asarray(d[key])
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError("not JSON bytes")
        meta = json.loads(raw.tobytes())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _err(path, key, "not readable JSON", "simulation counters written by pnmsim"
                   ) from None
    if not isinstance(meta, dict):
        raise _err(path, key, type(meta).__name__, "a JSON object")
    _typed(meta, path, key, {"tally": list, "macs": dict, "samples": int,
                             "wall_s": (int, float), "calibrated": bool})
    _num(path, f"{key}.samples", meta["samples"], 0, 1e15, integer=True)
    _num(path, f"{key}.wall_s", meta["wall_s"], 0, 1e12)
    for i, ent in enumerate(meta["tally"]):
        if (not isinstance(ent, list) or len(ent) < 2
                or not all(isinstance(x, str) for x in ent[:-1])):
            raise _err(path, f"{key}.tally[{i}]", "malformed entry", "[names..., count]")
        _num(path, f"{key}.tally[{i}]", ent[-1], 0, 1e300)
    for name, v in meta["macs"].items():
        _num(path, f"{key}.macs.{name}", v, 0, 1e300)
    chip = meta.get("chip")
    if n_counters is None or chip is None:
        return
    if not isinstance(chip, dict) or not isinstance(chip.get("cycles"), dict) \
            or not isinstance(chip.get("counters"), list):
        raise _err(path, f"{key}.chip", "malformed", "{cycles: {...}, counters: [...]}")
    for name, v in chip["cycles"].items():
        _num(path, f"{key}.chip.cycles.{name}", v, 0, 1e300, integer=True)
    if len(chip["counters"]) != n_counters:
        raise _err(path, f"{key}.chip.counters", f"{len(chip['counters'])} values",
                   f"{n_counters} (this chip's tiles and units)")
    for i, v in enumerate(chip["counters"]):
        _num(path, f"{key}.chip.counters[{i}]", v, 0, 1e300, integer=True)
