"""User-facing errors.

Every mistake a user can make (a bad config, an unknown key, a corrupt dataset) raises a
:class:`PnmsimError` subclass whose message is one line naming the file, the key path, the bad
value and what is allowed. The CLI turns these into ``error: ...`` on stderr and exit code 2,
never a traceback.
"""

from __future__ import annotations


class PnmsimError(Exception):
    """Base class of errors caused by user input; the message is shown as-is."""


class ConfigError(PnmsimError):
    """A malformed, unknown or physically impossible configuration value."""

    def __init__(self, source: str, key: str, value: object, allowed: str) -> None:
        self.source = source
        self.key = key
        self.value = value
        self.allowed = allowed
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{source}: {key}: got {shown}; allowed: {allowed}")


class DatasetError(PnmsimError):
    """A missing, truncated or corrupt dataset file."""
