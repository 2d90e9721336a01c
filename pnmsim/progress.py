"""The one progress mechanism of the command line: a tqdm bar on stderr, shown only when stderr
is a terminal (``disable=None``), never mixed into stdout's tables."""

from __future__ import annotations

import sys
from typing import Any


def bar(total: int, unit: str, desc: str, enabled: bool = True) -> Any:
    """A tqdm progress bar (usable as a context manager); a silent one when not ``enabled``."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, leave=False,
                disable=None if enabled else True)
