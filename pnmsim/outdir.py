"""Output folders: a run never destroys another run.

Every command that writes ``--out`` calls :func:`check_out` before it computes anything. A
folder is refused (one line naming the option and the folder, exit 2) when it is a file, cannot
be written, or already holds a pnmsim run -- recognised by its run marker
(:data:`RUN_MARKER`, written by every run) or, for folders written before markers existed, by
the files a run leaves (``checkpoint.npz``, ``summary.json``, ``sweep.json`` ...) -- unless the
command says so: ``--force`` (replace) or ``--resume`` (train continues its own run; sweep reuses
the points it finished, with the same settings). A folder holding unrelated
files is accepted only when none of the files the command writes is already there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pnmsim.errors import OutputError

RUN_MARKER = "pnmsim-run.json"
"""Written into every output folder: ``{"pnmsim_run": KIND, "version", "created", ...}``."""

KINDS = ("simulate", "train", "compare", "sweep")

_LEGACY: dict[str, str] = {
    # file a run leaves -> the kind of run
    "checkpoint.npz": "train", "log.csv": "train",
    "compare.json": "compare", "compare.csv": "compare",
    "sweep.json": "sweep", "sweep.csv": "sweep", "points": "sweep",
    "summary.json": "simulate", "counts.csv": "simulate", "phases.csv": "simulate",
    "breakdown.csv": "simulate", "metadata.json": "simulate",
}

WRITES: dict[str, tuple[str, ...]] = {
    "simulate": ("counts.csv", "phases.csv", "breakdown.csv", "summary.json", "config.yaml",
                 "metadata.json"),
    "train": ("log.csv", "checkpoint.npz", "summary.json", "config.yaml", "metadata.json",
              "counts.csv"),
    "compare": ("compare.csv", "compare.json"),
    "sweep": ("sweep.csv", "sweep.json", "timings.csv", "sweep.parquet", "points"),
}


def read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        d = json.loads((folder / RUN_MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return d if isinstance(d, dict) else None


def run_kind(folder: Path) -> str | None:
    """The kind of pnmsim run ``folder`` holds, or None."""
    if (folder / RUN_MARKER).exists():
        m = read_marker(folder)
        kind = m.get("pnmsim_run") if m else None
        return kind if isinstance(kind, str) else "unknown"
    for name, kind in _LEGACY.items():
        if (folder / name).exists():
            return kind
    return None


def _only_marker(folder: Path) -> bool:
    """True when a folder holds nothing but a marker (a run that failed before writing)."""
    try:
        names = [p.name for p in folder.iterdir() if not p.name.endswith(".tmp")]
    except OSError:
        return False
    return names == [RUN_MARKER]


def check_out(out: str | os.PathLike[str], option: str, kind: str, *, force: bool = False,
              same_kind_ok: bool = False, extra_files: Iterable[str] = ()) -> Path:
    """Refuse an output folder that would destroy something (see the module doc)."""
    p = Path(out)
    shown = f"{option} {out}"
    if str(out).strip() == "":
        raise OutputError(f"{option}: empty path; allowed: a folder path")
    try:
        exists = p.exists()
        is_dir = p.is_dir()
    except (OSError, ValueError) as e:
        raise OutputError(f"{shown}: unusable path ({e}); allowed: a folder path") from None
    if exists and not is_dir:
        raise OutputError(f"{shown}: is a file; allowed: a new or empty folder")
    if not exists and p.is_symlink():
        raise OutputError(f"{shown}: a dangling symlink; allowed: a new or empty folder")
    if exists:
        there = run_kind(p)
        if there is not None and not _only_marker(p):
            if not force and not (same_kind_ok and there == kind):
                hint = {"train": " (train --resume DIR continues it)",
                        "sweep": " (sweep --resume continues it)"}
                raise OutputError(f"{shown}: already holds a pnmsim {there} run; allowed: a "
                                  "new or empty folder, or --force to write over it"
                                  + (hint.get(there, "") if there == kind else ""))
        elif not force:
            clash = [f for f in (*WRITES.get(kind, ()), *extra_files) if (p / f).exists()]
            if clash:
                raise OutputError(f"{shown}: already holds {clash[0]}, which this run would "
                                  "replace; allowed: a new or empty folder, or --force")
        if not os.access(p, os.W_OK | os.X_OK):
            raise OutputError(f"{shown}: not writable; allowed: a writable folder")
        return p
    anc = p.absolute().parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise OutputError(f"{shown}: {anc} is not a folder; allowed: a folder path")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise OutputError(f"{shown}: {anc} is not writable; allowed: a writable location")
    return p


def ensure_dir(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and parents); a failure is a one-line :class:`OutputError`."""
    p = Path(folder)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as e:
        raise OutputError(f"{folder}: cannot create the output folder "
                          f"({getattr(e, 'strerror', None) or e}); allowed: a writable "
                          "folder path") from None
    return p


def write_marker(folder: str | os.PathLike[str], kind: str, **extra: Any) -> None:
    """Mark ``folder`` as holding a ``kind`` run (atomically; keeps ``created`` of an earlier
    marker of the same run)."""
    from pnmsim import __version__
    from pnmsim.results import atomic_write

    p = ensure_dir(folder)
    old = read_marker(p) or {}
    d = {"pnmsim_run": kind, "version": __version__,
         "created": old.get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
         **extra}
    atomic_write(p / RUN_MARKER, json.dumps(d, indent=1, default=str))
