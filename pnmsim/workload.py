"""Workloads: network descriptions (``traces/*.yaml``) -> frozen, shape-checked layer lists.

A workload file describes a GXNOR network as a list of layers::

    name: mnist_cnn
    source: "where the network comes from"
    input: {channels: 1, height: 28, width: 28}
    classes: 10
    weights: ternary            # ternary | binary (activations follow the same)
    layers:
      - {type: conv, out_channels: 32, kernel: 5, stride: 1, padding: 0}
      - {type: maxpool, size: 2}
      - {type: batchnorm}
      - {type: activation}
      - {type: dense, units: 10}
      - {type: batchnorm}

Loading is strict: an unknown key at any level, a wrong type, a non-positive size, a kernel
bigger than its (padded) input, or a layer chain that GXNOR cannot run is a
:class:`~pnmsim.errors.ConfigError` naming the file and the key path (``layers[3].kernel``).

The chain rules follow the GXNOR block structure ``weighted -> [maxpool] -> batchnorm ->
activation``, the last block ending in ``batchnorm`` with no activation:

* a ``conv``/``dense`` layer reads the input image (first weighted layer only) or activations;
* a ``batchnorm`` normalises the output of exactly one weighted layer (optionally pooled) -- the
  weighted layers have no bias, because a bias in front of batch-norm cancels;
* an ``activation`` follows a ``batchnorm``;
* ``maxpool`` works on any 3-D tensor; odd sizes are floored (28 -> 14, 5 -> 2 for size 2);
* ``dense`` after a 3-D tensor flattens it implicitly in (C, H, W) order;
* the network ends with ``batchnorm`` on a flat tensor of ``classes`` values.

Shapes exclude the batch dimension: (C, H, W) for feature maps, (F,) for flat tensors.

Files are read through :mod:`pnmsim.safeload` (regular file, size, depth, alias and
duplicate-key limits). Every size has a documented upper bound (:data:`SIZE_LIMITS`), so no
shape arithmetic can overflow and no absurd network reaches an allocation; the memory a network
needs is checked separately (:mod:`pnmsim.resources`) before anything is allocated.

Design note: the loader is a small hand-written one over frozen dataclasses rather than the
architecture schema machinery in ``config.py``: a layer list is a tagged union with cross-layer
shape rules, which a per-field schema does not express, and keeping it here keeps ``workload``
independent of the architecture config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pnmsim.errors import ConfigError
from pnmsim.packaged import data_dir

TRACES_DIR: Path = data_dir("traces")
"""The shipped workloads (inside the installed package, else the repository's ``traces/``);
bare workload names resolve here."""

_PACKAGE_TRACES_DIR: Path = TRACES_DIR

LAYER_TYPES: tuple[str, ...] = ("conv", "dense", "maxpool", "batchnorm", "activation")
WEIGHTED_TYPES: tuple[str, ...] = ("conv", "dense")
WEIGHT_KINDS: tuple[str, ...] = ("ternary", "binary")

# per layer type: (required keys, optional keys with defaults)
_LAYER_KEYS: dict[str, tuple[tuple[str, ...], dict[str, int]]] = {
    "conv": (("out_channels", "kernel"), {"stride": 1, "padding": 0}),
    "dense": (("units",), {}),
    "maxpool": (("size",), {}),
    "batchnorm": ((), {}),
    "activation": ((), {}),
}
_TOP_REQUIRED: tuple[str, ...] = ("name", "source", "input", "classes", "layers")
_TOP_OPTIONAL: tuple[str, ...] = ("weights",)
_INPUT_KEYS: tuple[str, ...] = ("channels", "height", "width")

SIZE_LIMITS: dict[str, int] = {
    # key (last part of its path): inclusive upper bound
    "channels": 4096, "height": 4096, "width": 4096,      # input image
    "classes": 100_000,
    "out_channels": 65_536, "kernel": 64, "stride": 64, "padding": 63,   # conv
    "units": 1_000_000,                                    # dense
    "size": 4096,                                          # maxpool
}
MAX_LAYERS = 1000
"""Layers of one workload."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a workload, with its shapes resolved at load time.

    Only the parameters of the layer's own type are set; the others are ``None``.
    """

    type: str
    """one of :data:`LAYER_TYPES`"""
    index: int
    """position in the workload's ``layers`` list"""
    in_shape: tuple[int, ...]
    """shape of the tensor entering the layer (no batch dimension)"""
    out_shape: tuple[int, ...]
    """shape of the tensor leaving the layer (no batch dimension)"""
    out_channels: int | None = None
    """conv: output channels"""
    kernel: int | None = None
    """conv: square kernel size"""
    stride: int | None = None
    """conv: stride (default 1)"""
    padding: int | None = None
    """conv: zero padding on each side (default 0)"""
    units: int | None = None
    """dense: output features"""
    size: int | None = None
    """maxpool: window size and stride (non-overlapping; remainder rows/cols dropped)"""

    def params(self) -> dict[str, int]:
        """The layer's own parameters, as they would be written in the YAML file."""
        required, optional = _LAYER_KEYS[self.type]
        return {k: getattr(self, k) for k in (*required, *optional)}


@dataclass(frozen=True)
class WeightedLayer:
    """One crossbar-mapped weight matrix (a conv lowered by im2col, or a dense layer)."""

    name: str
    """``conv{n}`` or ``fc{n}``, n = 1-based position among the weighted layers"""
    layer_index: int
    """index in the workload's ``layers`` list"""
    kind: str
    """``conv`` or ``dense``"""
    rows: int
    """crossbar inputs K: in_channels * k * k (conv), in_features (dense)"""
    cols: int
    """crossbar outputs N: out_channels (conv), units (dense)"""
    positions: int
    """matrix-vector products per sample: OH * OW (conv), 1 (dense)"""
    in_shape: tuple[int, ...]
    """tensor entering the layer (3-D before an implicit flatten for dense)"""
    out_shape: tuple[int, ...]
    """tensor leaving the layer"""
    first: bool
    """True for the first weighted layer: its input is real-valued pixels, not activations"""

    @property
    def macs_per_sample(self) -> int:
        return self.rows * self.cols * self.positions


@dataclass(frozen=True)
class Workload:
    """A validated network description."""

    name: str
    source: str
    input_shape: tuple[int, int, int]
    classes: int
    weights: str
    """``ternary`` ({-1, 0, +1} weights and activations) or ``binary`` ({-1, +1})"""
    layers: tuple[LayerSpec, ...]
    origin: str = field(default="", compare=False)
    """the file it was loaded from (for messages; not part of the workload's identity)"""

    def weighted_layers(self) -> tuple[WeightedLayer, ...]:
        out: list[WeightedLayer] = []
        for layer in self.layers:
            if layer.type not in WEIGHTED_TYPES:
                continue
            n = len(out) + 1
            if layer.type == "conv":
                assert layer.kernel is not None and layer.out_channels is not None
                rows = layer.in_shape[0] * layer.kernel * layer.kernel
                cols = layer.out_channels
                positions = layer.out_shape[1] * layer.out_shape[2]
                name = f"conv{n}"
            else:
                assert layer.units is not None
                rows = _numel(layer.in_shape)
                cols = layer.units
                positions = 1
                name = f"fc{n}"
            out.append(WeightedLayer(name=name, layer_index=layer.index, kind=layer.type,
                                     rows=rows, cols=cols, positions=positions,
                                     in_shape=layer.in_shape, out_shape=layer.out_shape,
                                     first=n == 1))
        return tuple(out)

    def macs_per_sample(self) -> int:
        """Synapse multiply-accumulates of one forward pass: sum of rows * cols * positions."""
        return sum(w.macs_per_sample for w in self.weighted_layers())

    def to_dict(self) -> dict[str, Any]:
        """The workload as a YAML-ready mapping (defaults filled in); loads back unchanged."""
        c, h, w = self.input_shape
        return {
            "name": self.name,
            "source": self.source,
            "input": {"channels": c, "height": h, "width": w},
            "classes": self.classes,
            "weights": self.weights,
            "layers": [{"type": lay.type, **lay.params()} for lay in self.layers],
        }


# ----------------------------------------------------------------------------- loading


def builtin_workloads() -> list[str]:
    """Names accepted by :func:`load_workload` as bare names (sorted)."""
    names: set[str] = set()
    for d in (TRACES_DIR, _PACKAGE_TRACES_DIR):
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.yaml"))
    return sorted(names)


def load_workload(path_or_name: str | Path) -> Workload:
    """Load a workload from a YAML file path, or a bare name such as ``mnist_cnn``.

    Bare names (no directory part, no ``.yaml``/``.yml`` suffix, not an existing file) resolve
    to ``<repo>/traces/NAME.yaml``, then to ``pnmsim/traces/NAME.yaml`` (package data).
    """
    p = Path(path_or_name)
    is_bare = (isinstance(path_or_name, str) and "/" not in path_or_name
               and "\\" not in path_or_name and p.suffix not in (".yaml", ".yml")
               and not p.is_file())
    if is_bare:
        name = str(path_or_name)
        for d in (TRACES_DIR, _PACKAGE_TRACES_DIR):
            cand = d / f"{name}.yaml"
            if cand.is_file():
                p = cand
                break
        else:
            avail = ", ".join(builtin_workloads()) or "(none found)"
            raise ConfigError("workload", "name", name,
                              f"a YAML file path or one of: {avail}")
    from pnmsim.safeload import load_yaml

    source = _display(p)
    data = load_yaml(p, source, "YAML file")
    return workload_from_dict(data, source=source)


def workload_from_dict(data: Any, source: str = "<dict>") -> Workload:
    """Validate a mapping (as read from YAML) into a :class:`Workload`; errors name ``source``."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "(top level)", data, "a mapping of workload keys")
    _check_keys(source, "", data, _TOP_REQUIRED, _TOP_OPTIONAL)
    name = _get_str(source, "name", data["name"])
    src = _get_str(source, "source", data["source"])
    inp = data["input"]
    if not isinstance(inp, Mapping):
        raise ConfigError(source, "input", inp,
                          "a mapping with channels, height, width")
    _check_keys(source, "input.", inp, _INPUT_KEYS, ())
    c, h, w = (_get_int(source, f"input.{k}", inp[k], 1) for k in _INPUT_KEYS)
    classes = _get_int(source, "classes", data["classes"], 2)
    weights = data.get("weights", "ternary")
    if weights not in WEIGHT_KINDS:
        raise ConfigError(source, "weights", weights, "one of " + ", ".join(WEIGHT_KINDS))
    raw_layers = data["layers"]
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ConfigError(source, "layers", raw_layers, "a non-empty list of layers")
    if len(raw_layers) > MAX_LAYERS:
        raise ConfigError(source, "layers", f"{len(raw_layers)} layers",
                          f"at most {MAX_LAYERS} layers")
    layers = _build_layers(source, raw_layers, (c, h, w), classes)
    return Workload(name=name, source=src, input_shape=(c, h, w), classes=classes,
                    weights=str(weights), layers=layers,
                    origin=source if source != "<dict>" else "")


def _build_layers(source: str, raw_layers: list[Any], input_shape: tuple[int, int, int],
                  classes: int) -> tuple[LayerSpec, ...]:
    shape: tuple[int, ...] = input_shape
    # what the current tensor is: "input" (image), "raw" (weighted output, maybe pooled),
    # "normalized" (after batchnorm), "act" (after activation)
    state = "input"
    seen_weighted = False
    out: list[LayerSpec] = []
    for i, raw in enumerate(raw_layers):
        at = f"layers[{i}]"
        if not isinstance(raw, Mapping):
            raise ConfigError(source, at, raw, "a mapping with a 'type' key")
        if "type" not in raw:
            raise ConfigError(source, f"{at}.type", _MISSING, "one of " + ", ".join(LAYER_TYPES))
        typ = raw["type"]
        if typ not in LAYER_TYPES:
            raise ConfigError(source, f"{at}.type", typ, "one of " + ", ".join(LAYER_TYPES))
        required, optional = _LAYER_KEYS[typ]
        _check_keys(source, f"{at}.", raw, ("type", *required), tuple(optional),
                    f"keys of a {typ} layer")
        params: dict[str, int] = {}
        for k in required:
            params[k] = _get_int(source, f"{at}.{k}", raw[k], 1)
        for k, default in optional.items():
            params[k] = _get_int(source, f"{at}.{k}", raw.get(k, default),
                                 0 if k == "padding" else 1)
        type_key = f"{at}.type"

        if typ in WEIGHTED_TYPES:
            if state not in ("input", "act"):
                need = ("the input or an activation" if not seen_weighted
                        else "an activation (weighted layers read activations)")
                raise ConfigError(source, type_key, typ, f"{typ} only after {need}; "
                                  f"layer {i - 1} leaves a {_STATE_WORDS[state]} tensor")
            if typ == "conv":
                if len(shape) != 3:
                    raise ConfigError(source, type_key, typ,
                                      f"conv only on a 3-D (C, H, W) tensor; got shape {shape}")
                k, s, pad = params["kernel"], params["stride"], params["padding"]
                hp, wp = shape[1] + 2 * pad, shape[2] + 2 * pad
                if k > min(hp, wp):
                    raise ConfigError(source, f"{at}.kernel", k,
                                      f"<= {min(hp, wp)} (padded input {hp}x{wp})")
                if pad >= k:
                    raise ConfigError(source, f"{at}.padding", pad, f"< kernel ({k})")
                new_shape: tuple[int, ...] = (params["out_channels"], (hp - k) // s + 1,
                                              (wp - k) // s + 1)
            else:
                new_shape = (params["units"],)
            seen_weighted = True
            state = "raw"
        elif typ == "maxpool":
            if len(shape) != 3:
                raise ConfigError(source, type_key, typ,
                                  f"maxpool only on a 3-D (C, H, W) tensor; got shape {shape}")
            size = params["size"]
            if size > min(shape[1], shape[2]):
                raise ConfigError(source, f"{at}.size", size,
                                  f"<= {min(shape[1], shape[2])} (input {shape[1]}x{shape[2]})")
            new_shape = (shape[0], shape[1] // size, shape[2] // size)
        elif typ == "batchnorm":
            if state != "raw":
                raise ConfigError(source, type_key, typ,
                                  "batchnorm only after a conv/dense layer (or its maxpool); "
                                  f"layer {i - 1} leaves a {_STATE_WORDS[state]} tensor"
                                  if i else "batchnorm only after a conv/dense layer")
            new_shape = shape
            state = "normalized"
        else:  # activation
            if state != "normalized":
                raise ConfigError(source, type_key, typ, "activation only directly after "
                                  "batchnorm" + (f"; layer {i - 1} leaves a "
                                                 f"{_STATE_WORDS[state]} tensor" if i else ""))
            new_shape = shape
            state = "act"
        out.append(LayerSpec(type=typ, index=i, in_shape=shape, out_shape=new_shape,
                             **params))  # type: ignore[arg-type]
        shape = new_shape

    last = f"layers[{len(raw_layers) - 1}].type"
    if state != "normalized":
        raise ConfigError(source, last, out[-1].type,
                          "the network ends with batchnorm after its last dense layer "
                          "(no activation)")
    if shape != (classes,):
        raise ConfigError(source, "classes", classes,
                          f"the output size of the last layer, {_numel(shape)} (shape {shape}); "
                          "end with a dense layer of `classes` units")
    return tuple(out)


_STATE_WORDS = {"input": "input-image", "raw": "pre-batchnorm", "normalized": "batch-normalised",
                "act": "activation"}


def _check_keys(source: str, prefix: str, data: Mapping[Any, Any], required: tuple[str, ...],
                optional: tuple[str, ...], what: str = "known keys") -> None:
    allowed = (*required, *optional)
    for key in data:
        if key not in allowed:
            raise ConfigError(source, f"{prefix}{key}", data[key],
                              f"{what}: " + ", ".join(allowed))
    for key in required:
        if key not in data:
            raise ConfigError(source, f"{prefix}{key}", _MISSING, "a value (required key)")


def _get_int(source: str, key: str, value: Any, minimum: int) -> int:
    top = SIZE_LIMITS.get(key.rsplit(".", 1)[-1], 2**31 - 1)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= top:
        raise ConfigError(source, key, value, f"an integer in {minimum}..{top}")
    return int(value)


def _get_str(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, value, "a non-empty string")
    return value


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class _Missing:
    """Shown as the value of a required key that is absent."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _display(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):   # outside cwd; a symlink loop; no cwd
        return str(p)
