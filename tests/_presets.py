"""Test helper: a preset's YAML tree with its parts merged, read independently of
pnmsim.config (so tests can price actions from the files themselves)."""

from __future__ import annotations

from pathlib import Path

import yaml

from pnmsim.config import ARCH_DIR


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k),
                                                                           dict) else v
    return out


def raw_preset(name: str) -> dict:
    """The preset's YAML tree with its parts merged."""
    path = Path(ARCH_DIR) / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    tree: dict = {}
    for p in data.pop("parts", []):
        tree = _merge(tree, yaml.safe_load((path.parent / p).read_text()))
    return _merge(tree, data)
