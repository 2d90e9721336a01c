"""The one loading discipline for every file a user hands pnmsim (presets, parts, workloads,
checkpoints, dataset files).

Before anything is parsed:

* the path must name a **regular file** (a directory, FIFO, socket or device file is refused
  without opening it, so ``/dev/zero`` or a FIFO cannot hang or exhaust memory; a symlink loop is
  refused with its own message);
* its size must be under a per-kind limit (:data:`YAML_MAX_BYTES`, :data:`NPZ_MAX_BYTES`,
  :data:`DATA_MAX_BYTES`); gzip payloads are bounded while they are decompressed.

YAML goes through :class:`StrictLoader` (a ``yaml.SafeLoader``): duplicate keys are an error
(plain YAML keeps the last one silently), nesting deeper than :data:`YAML_MAX_DEPTH` is an error
before the recursive composer could overflow the stack, aliases may be used at most
:data:`YAML_MAX_ALIASES` times and the document expanded through its aliases may hold at most
:data:`YAML_MAX_NODES` nodes (a "billion laughs" bomb fails in microseconds), and integers longer
than :data:`YAML_MAX_INT_DIGITS` digits are refused. Every failure is a one-line
:class:`~pnmsim.errors.PnmsimError` naming the file; no message ever shows more than a bounded
``repr`` of a value (:func:`pnmsim.errors.short_repr`).

``.npz`` archives are opened with ``allow_pickle=False``; the declared uncompressed size of all
members is bounded before any member is read.
"""

from __future__ import annotations

import errno
import gzip
import os
import re
import stat
import zipfile
import zlib
from typing import Any

import numpy as np
import yaml

from pnmsim.errors import ConfigError, PnmsimError

YAML_MAX_BYTES = 1 << 20
"""1 MiB: the largest preset, part or workload file (the shipped ones are < 8 KiB)."""
YAML_MAX_DEPTH = 32
"""Nesting depth of YAML collections (the schema needs 4)."""
YAML_MAX_ALIASES = 100
"""Alias uses (``*name``) per document."""
YAML_MAX_NODES = 100_000
"""Nodes of a document once its aliases are expanded."""
YAML_MAX_INT_DIGITS = 40
"""Digits of a YAML integer (no schema value needs more than 19)."""
NPZ_MAX_BYTES = 2 << 30
"""2 GiB: uncompressed size of all arrays of a checkpoint."""
DATA_MAX_BYTES = 4 << 30
"""4 GiB: a dataset file, decompressed (SVHN's train_32x32.mat, the largest, is 182 MB)."""
PARTS_MAX_DEPTH = 16
"""Longest ``parts:`` chain (a preset including a part including a part ...)."""
PARTS_MAX_FILES = 64
"""Files one preset may pull in through ``parts:`` in total."""


def _fail(shown: str, problem: str, allowed: str) -> ConfigError:
    """A one-line error ``FILE: (file): got PROBLEM; allowed: ALLOWED``."""
    return ConfigError(shown, "(file)", _Plain(problem), allowed)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device file"
    return "not a regular file"


def regular_file(path: str | os.PathLike[str], shown: str, what: str = "file",
                 max_bytes: int | None = None) -> os.stat_result:
    """Stat ``path`` (following symlinks) and require a regular file within ``max_bytes``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _fail(shown, "no such file", f"an existing {what}") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _fail(shown, "symlink loop", f"an existing {what}") from None
        raise _fail(shown, f"cannot read ({e.strerror})", f"a readable "
                          f"{what}") from None
    except ValueError as e:    # embedded NUL byte in the path
        raise _fail(shown, f"invalid path ({e})", f"an existing {what}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _fail(shown, f"{_kind(st.st_mode)}", f"a regular {what}")
    if max_bytes is not None and st.st_size > max_bytes:
        raise _fail(shown, f"{st.st_size} bytes", f"a {what} of at most "
                          f"{max_bytes} bytes")
    return st


def read_bytes(path: str | os.PathLike[str], shown: str, what: str = "file",
               max_bytes: int = YAML_MAX_BYTES, gunzip: bool = False) -> bytes:
    """The content of a regular file of at most ``max_bytes`` (decompressed, with ``gunzip``
    and a gzip magic number)."""
    regular_file(path, shown, what, None if gunzip else max_bytes)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if gunzip and head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=fh) as gz:
                    data = gz.read(max_bytes + 1)
            else:
                data = fh.read(max_bytes + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise _fail(shown, f"truncated or corrupt gzip data ({e})", f"a "
                          f"readable {what}") from None
    except OSError as e:
        raise _fail(shown, f"cannot read ({e.strerror or e})", f"a readable "
                          f"{what}") from None
    if len(data) > max_bytes:
        raise _fail(shown, f"more than {max_bytes} bytes", f"a {what} of at "
                          f"most {max_bytes} bytes")
    return data


# ----------------------------------------------------------------------------- YAML


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with duplicate-key, depth, alias and size limits (see the module doc)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > YAML_MAX_ALIASES:
                ev = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"more than {YAML_MAX_ALIASES} aliases", ev.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                ev = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {YAML_MAX_DEPTH} levels", ev.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                    seen.add(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, "a mapping key that is not a scalar",
                        key_node.start_mark) from None
                if dup:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {short_key(key)}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:  # type: ignore[override]
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > YAML_MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer of {digits} digits (at most {YAML_MAX_INT_DIGITS})",
                node.start_mark)
        return super().construct_yaml_int(node)


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
# YAML 1.2 reads 1e3 and 5e-9 (exponent, no decimal point) as floats; PyYAML's YAML 1.1 rules
# read them as strings, which would refuse a number a user plainly wrote.
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))
StrictLoader.add_constructor("tag:yaml.org,2002:map", StrictLoader.construct_yaml_map)


def short_key(key: Any) -> str:
    from pnmsim.errors import short_repr

    return short_repr(key)


def _expanded_nodes(root: yaml.Node) -> int:
    """Nodes of the document with every alias expanded (cycles count as too many)."""
    memo: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            return YAML_MAX_NODES + 1          # a recursive alias expands forever
        active.add(key)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                n += size(child)
                if n > YAML_MAX_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k) + size(v)
                if n > YAML_MAX_NODES:
                    break
        active.discard(key)
        memo[key] = n
        return n

    return size(root)


def parse_yaml(text: str, shown: str) -> Any:
    """Parse one YAML document with :class:`StrictLoader`; errors are one line naming
    ``shown`` (and the line and column)."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node) > YAML_MAX_NODES:
            raise _fail(shown, "the document expands (through aliases) to more "
                              f"than {YAML_MAX_NODES} nodes", "a plain document")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None \
            else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(shown, "(yaml)", _Plain(str(problem)[:200] + where), "well-formed YAML "
                          "(valid YAML: no duplicate keys, no alias bombs)") from None
    except RecursionError:
        raise _fail(shown, "(yaml): nesting too deep", f"at most "
                          f"{YAML_MAX_DEPTH} levels") from None
    except (ValueError, OverflowError) as e:
        raise _fail(shown, f"a scalar that cannot be read ({str(e)[:120]})",
                    "well-formed YAML") from None
    finally:
        loader.dispose()


class _Plain(str):
    """A string shown without quotes in :class:`ConfigError`."""

    plain = True

    def __repr__(self) -> str:
        return str(self)


def load_yaml(path: str | os.PathLike[str], shown: str, what: str = "YAML file") -> Any:
    """Read and parse a YAML file under the limits of this module."""
    raw = read_bytes(path, shown, what, YAML_MAX_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _fail(shown, f"not UTF-8 text (byte {e.start})", f"a UTF-8 {what}") from None
    if "\x00" in text:
        raise _fail(shown, "holds a NUL byte", f"a UTF-8 {what}")
    return parse_yaml(text, shown)


# ----------------------------------------------------------------------------- npz


def load_npz(path: str | os.PathLike[str], shown: str | None = None,
             max_bytes: int = NPZ_MAX_BYTES) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` checkpoint (no pickles; size bounded before reading)."""
    shown = shown or str(path)
    regular_file(path, shown, ".npz checkpoint", None)
    try:
        with zipfile.ZipFile(path) as zf:
            total = sum(i.file_size for i in zf.infolist())
            if total > max_bytes:
                raise _fail(shown, f"arrays of {total} bytes", f"a checkpoint "
                                  f"of at most {max_bytes} bytes")
        with np.load(path, allow_pickle=False) as f:
            return {k: np.asarray(f[k]) for k in f.files}
    except PnmsimError:
        raise
    except (OSError, ValueError, EOFError, TypeError, AttributeError, KeyError, IndexError,
            zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as e:
        raise _fail(shown, f"not a readable .npz archive ({type(e).__name__}: "
                    f"{str(e)[:120]})", "an .npz checkpoint written by pnmsim") from None
