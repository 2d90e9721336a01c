"""Where the shipped presets (``arch_configs/``) and workloads (``traces/``) live.

The repository keeps them at its top level. A wheel (or ``pip install .``) carries them inside
the package as ``pnmsim/arch_configs`` and ``pnmsim/traces`` (``setup.py`` maps the top-level
folders into the package as package data). :func:`data_dir` prefers the copy inside the
installed package (found with :mod:`importlib.resources`) and falls back to the source tree's
top-level folder, which is what an editable install or a plain checkout sees.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    """The folder of shipped ``name`` files (``arch_configs`` or ``traces``)."""
    try:
        inside = Path(str(resources.files("pnmsim") / name))
    except (ModuleNotFoundError, TypeError):     # pragma: no cover - zipped installs
        inside = Path(__file__).resolve().parent / name
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parent.parent / name
