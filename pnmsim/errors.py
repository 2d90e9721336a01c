"""User-facing errors.

Every mistake a user can make (a bad config, an unknown key, a corrupt dataset) raises a
:class:`PnmsimError` subclass whose message is one line naming the file, the key path, the bad
value and what is allowed. The CLI turns these into ``error: ...`` on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations

import reprlib

_REPR = reprlib.Repr()
_REPR.maxlevel = 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def short_repr(value: object) -> str:
    """A bounded, one-line ``repr``: never walks more than a few levels and items of a value,
    so an alias bomb or a huge array cannot hang an error message."""
    if isinstance(value, str) and getattr(value, "plain", False):
        return " ".join(value.split())[:240]     # a description, shown as-is (bounded)
    try:
        shown = _REPR.repr(value)
    except Exception:     # a foreign object whose __repr__ fails
        shown = f"<{type(value).__name__}>"
    shown = " ".join(shown.split())
    return shown if len(shown) <= 80 else shown[:77] + "..."


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\t``, ``\\x1b``): a key or path
    taken from a user's file stays on the error message's one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


class PnmsimError(Exception):
    """Base class of errors caused by user input; the message is shown as-is."""


class ConfigError(PnmsimError):
    """A malformed, unknown or physically impossible configuration value."""

    def __init__(self, source: str, key: str, value: object, allowed: str) -> None:
        self.source = source
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = short_repr(value)
        super().__init__(f"{one_line(str(source))}: {one_line(str(key))}: got {shown}; "
                         f"allowed: {one_line(str(allowed))}")


class DatasetError(PnmsimError):
    """A missing, truncated or corrupt dataset file."""


class OutputError(PnmsimError):
    """An output folder that cannot be written or holds another run."""
