"""Measured MTJ switching data: read and validate a ``pulse_ns,current_ua,trials,switched`` CSV.

One row is one binomial count: ``switched`` of ``trials`` write pulses of width ``pulse_ns`` and
current magnitude ``current_ua`` switched the device. Optional columns: ``direction`` (``P->AP``
or ``AP->P``; the polarity of the pulse) and ``device`` (any non-empty label; repeated labels
are repeated measurements of one device). Every malformed value is refused with a one-line
:class:`FitDataError` naming the file, the row (the CSV line number, header = line 1), the
column, the value and what is allowed.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pnmsim.errors import ConfigError

REQUIRED_COLUMNS: tuple[str, ...] = ("pulse_ns", "current_ua", "trials", "switched")
OPTIONAL_COLUMNS: tuple[str, ...] = ("direction", "device")
DIRECTIONS: tuple[str, ...] = ("P->AP", "AP->P")


class FitDataError(ConfigError):
    """Malformed or unfittable switching data (``FILE: where: got VALUE; allowed: WHAT``)."""


@dataclass(frozen=True)
class SwitchingData:
    """Validated switching counts, one entry per CSV data row.

    Attributes
    ----------
    source : the file name shown in messages.
    pulse_ns, current_ua : pulse width (ns) and current magnitude (uA), float64.
    trials, switched : int64 counts, ``0 <= switched <= trials``, ``trials >= 1``.
    direction : ``P->AP`` / ``AP->P`` per row, or None when the file has no such column.
    device : integer device index per row (into ``device_names``), or None.
    device_names : labels of the devices in order of first appearance.
    lines : CSV line number of every row (for messages).
    """

    source: str
    pulse_ns: np.ndarray
    current_ua: np.ndarray
    trials: np.ndarray
    switched: np.ndarray
    direction: tuple[str, ...] | None
    device: np.ndarray | None
    device_names: tuple[str, ...]
    lines: np.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.pulse_ns.size)

    def subset(self, mask: np.ndarray) -> SwitchingData:
        """Rows where ``mask`` is true (devices renumbered in order of first appearance)."""
        idx = np.flatnonzero(mask)
        device = None
        names: tuple[str, ...] = ()
        if self.device is not None:
            old = self.device[idx]
            uniq = list(dict.fromkeys(old.tolist()))
            remap = {o: n for n, o in enumerate(uniq)}
            device = np.array([remap[o] for o in old.tolist()], dtype=np.int64)
            names = tuple(self.device_names[o] for o in uniq)
        direction = (tuple(self.direction[i] for i in idx)
                     if self.direction is not None else None)
        return SwitchingData(self.source, self.pulse_ns[idx], self.current_ua[idx],
                             self.trials[idx], self.switched[idx], direction, device, names,
                             self.lines[idx])


def _number(raw: str, source: str, line: int, col: str, allowed: str) -> float:
    try:
        v = float(raw)
    except ValueError:
        raise FitDataError(source, f"row {line}, column {col}", raw, allowed) from None
    if not math.isfinite(v):
        raise FitDataError(source, f"row {line}, column {col}", raw, allowed)
    return v


def _count(raw: str, source: str, line: int, col: str, allowed: str) -> int:
    v = _number(raw, source, line, col, allowed)
    if not v.is_integer():
        raise FitDataError(source, f"row {line}, column {col}", raw, allowed)
    return int(v)


def read_switching_csv(path: str | Path) -> SwitchingData:
    """Read and validate a switching-data CSV (see the module docstring for the columns)."""
    from pnmsim.safeload import YAML_MAX_BYTES, regular_file

    p = Path(path)
    source = str(path)
    regular_file(p, source, "CSV file", 64 * YAML_MAX_BYTES)   # no FIFO, device, loop; 64 MiB
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise FitDataError(source, "(file)", source, "an existing CSV file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise FitDataError(source, "(file)", source, f"a readable text CSV file ({e})") from None
    rows = list(csv.reader(text.splitlines()))
    rows_idx = [(i + 1, r) for i, r in enumerate(rows) if r and any(c.strip() for c in r)]
    if not rows_idx:
        raise FitDataError(source, "(header)", "(empty file)",
                           "a header line with columns " + ",".join(REQUIRED_COLUMNS))
    header_line, header = rows_idx[0]
    cols = [c.strip() for c in header]
    known = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
    for c in cols:
        if c not in known:
            raise FitDataError(source, "(header) column", c,
                               "columns " + ", ".join(known) + " (the last two optional)")
    if len(set(cols)) != len(cols):
        raise FitDataError(source, "(header)", ",".join(cols), "each column once")
    for c in REQUIRED_COLUMNS:
        if c not in cols:
            raise FitDataError(source, "(header) missing column", c,
                               "a header with columns " + ",".join(REQUIRED_COLUMNS)
                               + " (optional: direction, device)")
    data_rows = rows_idx[1:]
    if not data_rows:
        raise FitDataError(source, "(rows)", "(no data rows)", "at least one data row")
    pos = {c: cols.index(c) for c in cols}
    pulse, cur, trials, switched, lines = [], [], [], [], []
    direction: list[str] = []
    devices: list[str] = []
    for line, r in data_rows:
        if len(r) != len(cols):
            raise FitDataError(source, f"row {line}", ",".join(r),
                               f"{len(cols)} comma-separated fields like the header")
        f = {c: r[pos[c]].strip() for c in cols}
        t = _number(f["pulse_ns"], source, line, "pulse_ns", "a finite pulse width in ns > 0")
        if not t > 0:
            raise FitDataError(source, f"row {line}, column pulse_ns", f["pulse_ns"],
                               "a finite pulse width in ns > 0")
        i = _number(f["current_ua"], source, line, "current_ua",
                    "a finite current magnitude in uA > 0 (polarity goes in 'direction')")
        if not i > 0:
            raise FitDataError(source, f"row {line}, column current_ua", f["current_ua"],
                               "a finite current magnitude in uA > 0 (polarity goes in "
                               "'direction')")
        n = _count(f["trials"], source, line, "trials", "an integer >= 1")
        if n < 1:
            raise FitDataError(source, f"row {line}, column trials", f["trials"],
                               "an integer >= 1")
        k = _count(f["switched"], source, line, "switched", f"an integer 0..trials ({n})")
        if not 0 <= k <= n:
            raise FitDataError(source, f"row {line}, column switched", f["switched"],
                               f"an integer 0..trials ({n})")
        if "direction" in f:
            d = f["direction"]
            if d not in DIRECTIONS:
                raise FitDataError(source, f"row {line}, column direction", d,
                                   "one of " + ", ".join(DIRECTIONS))
            direction.append(d)
        if "device" in f:
            if not f["device"]:
                raise FitDataError(source, f"row {line}, column device", f["device"],
                                   "a non-empty device label")
            devices.append(f["device"])
        pulse.append(t)
        cur.append(i)
        trials.append(n)
        switched.append(k)
        lines.append(line)
    dev_arr = None
    names: tuple[str, ...] = ()
    if "device" in pos:
        names = tuple(dict.fromkeys(devices))
        index = {n: j for j, n in enumerate(names)}
        dev_arr = np.array([index[d] for d in devices], dtype=np.int64)
    return SwitchingData(
        source=source,
        pulse_ns=np.array(pulse, dtype=np.float64),
        current_ua=np.array(cur, dtype=np.float64),
        trials=np.array(trials, dtype=np.int64),
        switched=np.array(switched, dtype=np.int64),
        direction=tuple(direction) if "direction" in pos else None,
        device=dev_arr,
        device_names=names,
        lines=np.array(lines, dtype=np.int64),
    )
