"""Strict JSON for everything pnmsim prints or writes: non-finite numbers become ``null``.

``json.dumps`` writes ``NaN``/``Infinity`` by default, which is not JSON. :func:`dumps` walks the
object, replaces each non-finite float with ``None``, remembers where, and serialises with
``allow_nan=False``; the caller warns about the replaced keys (:func:`dumps_warn`).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def finite_only(obj: Any, path: str = "", bad: list[str] | None = None) -> tuple[Any, list[str]]:
    """``obj`` with every non-finite float replaced by None, and the key paths replaced."""
    bad = [] if bad is None else bad
    if isinstance(obj, dict):
        return {str(k): finite_only(v, f"{path}.{k}" if path else str(k), bad)[0]
                for k, v in obj.items()}, bad
    if isinstance(obj, (list, tuple)):
        return [finite_only(v, f"{path}[{i}]", bad)[0] for i, v in enumerate(obj)], bad
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, TypeError):
            return str(obj), bad
    if isinstance(obj, float) and not math.isfinite(obj):
        bad.append(path or "(value)")
        return None, bad
    return obj, bad


def dumps(obj: Any, indent: int | None = 2) -> tuple[str, list[str]]:
    clean, bad = finite_only(obj)
    return json.dumps(clean, indent=indent, allow_nan=False, default=str), bad


def dumps_warn(obj: Any, indent: int | None = 2, what: str = "output") -> str:
    """:func:`dumps`, with a one-line warning on stderr naming the values set to null."""
    text, bad = dumps(obj, indent)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        print(f"warning: {what}: non-finite values written as null: "
              f"{', '.join(bad[:3])}{more}", file=sys.stderr)
    return text
