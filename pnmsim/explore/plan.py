"""Sweep planning: ``--vary key=v1,v2`` axes, their cross product as validated points
(config and mapping checked before anything runs)."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

from pnmsim.config import load_arch, parse_set, to_dict
from pnmsim.errors import ConfigError
from pnmsim.explore.rows import METRICS

# ----------------------------------------------------------------------------- sweep plan


@dataclasses.dataclass(frozen=True)
class Axis:
    """One ``--vary``: keys (several joined with ``+`` vary together) and raw value strings."""

    keys: tuple[str, ...]
    raw: tuple[str, ...]


def parse_vary(item: str) -> Axis:
    """Parse ``key.path=v1,v2,...`` (or ``key1+key2=v1,v2``: both keys take each value)."""
    if "=" not in item:
        raise ConfigError("--vary", item, item, "key.path=v1,v2,... (values separated by ',')")
    lhs, rhs = item.split("=", 1)
    keys = tuple(k.strip() for k in lhs.split("+"))
    for k in keys:
        if not k or any(not p for p in k.split(".")):
            raise ConfigError("--vary", k or "(empty)", item, "key.path=v1,v2,...")
    if len(set(keys)) != len(keys):
        raise ConfigError("--vary", lhs, item, "distinct keys joined by '+'")
    raw = tuple(v.strip() for v in rhs.split(","))
    if not rhs.strip() or any(v == "" for v in raw):
        raise ConfigError("--vary", "+".join(keys), rhs, "a comma-separated list of values, "
                          "none empty (e.g. 64,128,256)")
    vals = [json.dumps(parse_set(f"{keys[0]}={v}")[1], sort_keys=True, default=str)
            for v in raw]
    dup = next((v for v, pv in zip(raw, vals, strict=True) if vals.count(pv) > 1), None)
    if dup is not None:
        raise ConfigError("--vary", "+".join(keys), dup, "each value once")
    return Axis(keys=keys, raw=raw)


@dataclasses.dataclass(frozen=True)
class Point:
    """One sweep point: its position in the cross product and its overrides."""

    index: int
    values: tuple[tuple[str, Any], ...]     # (key, typed value) in axis order
    overrides: tuple[str, ...]              # key=value strings (after the base --set)
    config_sha: str = ""        # hash of the resolved config and workload (set by plan_sweep)

    @property
    def id(self) -> str:
        """Stable id: a hash of the point's overrides, key-sorted, with the values as the
        validated config holds them (so 64 and 64.0 for an integer key are one point)."""
        canon = sorted([k, v] for k, v in self.values)
        blob = json.dumps(canon, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def label(self) -> str:
        return " ".join(self.overrides)


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """Everything but the varied keys that determines a point's result."""

    arch: str
    workload: str
    overrides: tuple[str, ...] = ()
    samples: int | None = None
    seed: int = 0
    dataset: str | None = None
    data_dir: str | None = None
    metric: str = "energy"
    epochs: int = 1
    train_limit: int | None = None
    test_limit: int | None = None
    val_size: int = 5000
    batch_size: int = 100
    lr: float = 0.01

    def fingerprint(self) -> dict[str, Any]:
        """The settings a saved point must share to be reused (data_dir excluded: where the
        files are does not change the result)."""
        d = dataclasses.asdict(self)
        d.pop("data_dir")
        if self.metric == "energy":
            for k in ("epochs", "train_limit", "test_limit", "val_size", "batch_size", "lr"):
                d.pop(k)
        return d


def _get_path(cfg: Any, key: str) -> Any:
    node = cfg
    for p in key.split("."):
        node = node[p] if isinstance(node, dict) else getattr(node, p)
    if dataclasses.is_dataclass(node):
        return json.dumps(to_dict(node), sort_keys=True)
    return node


def plan_sweep(spec: SweepSpec, axes: Sequence[Axis]) -> list[Point]:
    """Expand the axes into their cross product and validate every point (config, mapping,
    inputs or dataset) before anything runs; the first bad point raises one line naming its
    key and value."""
    from pnmsim import api
    from pnmsim.mapping import map_network
    from pnmsim.workload import load_workload

    if spec.metric not in METRICS:
        raise ConfigError("--metric", "metric", spec.metric, ", ".join(METRICS))
    if not axes:
        raise ConfigError("--vary", "(none)", "(none)", "at least one --vary key.path=v1,v2")
    seen: set[str] = set()
    for ax in axes:
        for k in ax.keys:
            if k in seen:
                raise ConfigError("--vary", k, "+".join(ax.keys), "each key in one --vary only")
            seen.add(k)
    wl = load_workload(spec.workload)
    if spec.metric == "energy":
        api.load_inputs(wl, spec.samples, spec.dataset, spec.data_dir, spec.seed)
    else:
        from pnmsim.datasets import locate_dataset

        locate_dataset(spec.dataset or "mnist", spec.data_dir)
    load_arch(spec.arch, spec.overrides)          # the base preset and --set alone
    points: list[Point] = []
    for i, combo in enumerate(itertools.product(*(ax.raw for ax in axes))):
        ovr = tuple(f"{k}={v}" for ax, v in zip(axes, combo, strict=True) for k in ax.keys)
        try:
            cfg = load_arch(spec.arch, (*spec.overrides, *ovr))
            map_network(wl, cfg)
        except ConfigError as e:
            where = " ".join(ovr)
            raise ConfigError(f"--vary point {where}", e.key, e.value, e.allowed) from None
        values = tuple((k, _get_path(cfg, k)) for k in (k for ax in axes for k in ax.keys))
        sha = hashlib.sha256(json.dumps([to_dict(cfg), wl.to_dict()], sort_keys=True,
                                        default=str).encode()).hexdigest()[:16]
        points.append(Point(index=i, values=values, overrides=ovr, config_sha=sha))
    return points
