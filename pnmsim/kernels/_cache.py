"""Keeps numba's on-disk cache of :mod:`pnmsim.kernels` consistent across files (imported
first by the package, which runs :func:`drop_stale_machine_code` once)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def drop_stale_machine_code(here: Path | None = None) -> None:
    """numba's ``cache=True`` checks only the file that defines a function, but these kernels
    call across files (cell -> bias, pulse_index -> cell, percell -> both): after an edit of a
    callee's file a cached caller would keep running the old callee. So the cache is keyed on
    all of this package's sources: when their hash differs from the stamp next to the cache,
    this package's cached machine code is deleted (numba compiles afresh and caches again).
    Nothing happens where the cache lives elsewhere (``NUMBA_CACHE_DIR``) or is not writable
    (an installed wheel's sources do not change). ``here``: the package folder (tests)."""
    from numba.core import config
    if getattr(config, "CACHE_DIR", ""):
        return
    here = Path(__file__).parent if here is None else here
    cache = here / "__pycache__"
    h = hashlib.sha256()
    for f in sorted(here.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    digest = h.hexdigest()
    stamp = cache / "kernel-sources.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        for f in cache.glob("*.nb[ci]"):
            f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        tmp = cache / f"kernel-sources.{os.getpid()}.tmp"
        tmp.write_text(digest)
        os.replace(tmp, stamp)
    except OSError:
        pass


drop_stale_machine_code()

