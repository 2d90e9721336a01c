"""An activity record: what a timed run consumed from the functional model, on disk.

A record is a folder::

    manifest.json   format, pnmsim version, workload, seed, samples, mode, outcome
                    (accuracy, loss, weights source), fingerprints (sha256 of the final
                    weights and of records.npz) — written last: a folder without it is no record
    config.yaml     the resolved preset of the recorded run
    tally.json      the action counts (phase, component, class, action, count) and MACs
    records.npz     every mini-batch's OpRecords (scalars as columns, update facts as arrays)

Loading validates every file; a missing or corrupt one is a one-line
:class:`~pnmsim.errors.PnmsimError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from pnmsim.config import ArchConfig, dump_yaml, load_arch
from pnmsim.errors import PnmsimError
from pnmsim.records import PHASES, OpRecord, Tally, UpdateFacts
from pnmsim.workload import Workload, workload_from_dict

FORMAT = "pnmsim-activity/1"
MANIFEST, CONFIG, TALLY, RECORDS = "manifest.json", "config.yaml", "tally.json", "records.npz"
_SCALARS = ("layer", "samples", "vectors", "digital_ops", "optimizer_ops", "bus_words", "macs")
_FACT_ARRAYS = ("col_pulse_ns", "read_cols", "vec_pulse_ns", "active")


@dataclasses.dataclass
class ActivityRecord:
    arch: ArchConfig
    workload: Workload
    batches: list[list[OpRecord]]
    tally: Tally
    manifest: dict[str, Any]


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def weights_fingerprint(state: dict[str, np.ndarray]) -> str:
    """sha256 over the network's weight matrices (``w0``, ``w1``, ...) in order."""
    h = hashlib.sha256()
    for k in sorted((k for k in state if k[:1] == "w" and k[1:].isdigit()),
                    key=lambda k: int(k[1:])):
        a = np.ascontiguousarray(state[k])
        h.update(f"{k}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def records_npz(batches: list[list[OpRecord]]) -> bytes:
    cols: dict[str, list[Any]] = {k: [] for k in ("batch", "phase", "sensing", "scheme",
                                                  "state_aware", *_SCALARS)}
    arrays: dict[str, np.ndarray] = {}
    i = 0
    for b, recs in enumerate(batches):
        for r in recs:
            cols["batch"].append(b)
            cols["phase"].append(r.phase)
            cols["sensing"].append(r.sensing)
            for k in _SCALARS:
                cols[k].append(int(getattr(r, k)))
            f = r.facts
            cols["scheme"].append(f.scheme if f is not None else "")
            cols["state_aware"].append(bool(f.state_aware) if f is not None else False)
            if f is not None:
                for k in _FACT_ARRAYS:
                    v = getattr(f, k)
                    if v is not None:
                        arrays[f"facts.{i}.{k}"] = np.asarray(v)
            i += 1
    out: dict[str, np.ndarray] = {
        "batch": np.asarray(cols["batch"], np.int64),
        "phase": np.asarray(cols["phase"], dtype=str),
        "sensing": np.asarray(cols["sensing"], dtype=str),
        "scheme": np.asarray(cols["scheme"], dtype=str),
        "state_aware": np.asarray(cols["state_aware"], bool),
        "n_batches": np.asarray(len(batches), np.int64),
        **{k: np.asarray(cols[k], np.int64) for k in _SCALARS}, **arrays}
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)   # type: ignore[arg-type]
    return buf.getvalue()


def check_record_target(path: str | Path, force: bool) -> None:
    """``--record DIR`` keeps an existing record unless ``force``; any other non-empty folder
    is never written into."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise PnmsimError(f"--record {p}: is a file; give a folder")
    if p.is_dir() and any(p.iterdir()):
        if not (p / MANIFEST).exists():
            raise PnmsimError(f"--record {p}: folder is not empty and holds no record; "
                              "choose a new folder")
        if not force:
            raise PnmsimError(f"--record {p}: holds a record; choose another folder or pass "
                              "--force to replace it")


def write_record(path: str | Path, arch: ArchConfig, workload: Workload,
                 batches: list[list[OpRecord]], tally: Tally, info: dict[str, Any],
                 weights_sha256: str, force: bool = False) -> Path:
    """Write a record folder (each file atomically, the manifest last)."""
    from pnmsim import __version__
    from pnmsim.results import atomic_write

    out = Path(path)
    check_record_target(out, force)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)     # a half-replaced record is no record
    blob = records_npz(batches)
    tally_doc = {"counts": [[*k, v] for k, v in sorted(tally.counts.items())],
                 "macs": dict(sorted(tally.macs.items()))}
    tally_text = json.dumps(tally_doc, indent=1)
    atomic_write(out / RECORDS, blob)
    atomic_write(out / TALLY, tally_text)
    config_text = dump_yaml(arch)
    atomic_write(out / CONFIG, config_text)
    manifest = {"format": FORMAT, "pnmsim_version": __version__,
                "workload": workload.to_dict(), "batches": len(batches), **info,
                "fingerprint": {"weights_sha256": weights_sha256,
                                "records_sha256": _sha(blob),
                                "tally_sha256": _sha(tally_text.encode()),
                                "config_sha256": _sha(config_text.encode())}}
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2, default=str))
    return out


# ----------------------------------------------------------------------------- loading
def _bad(path: Path, key: str, what: str) -> PnmsimError:
    return PnmsimError(f"{path}: {key}: {what}")


def _field(doc: dict, path: Path, key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in doc:
        raise _bad(path, key, "missing")
    v = doc[key]
    if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
        raise _bad(path, key, f"got {v!r}; expected {getattr(kind, '__name__', kind)}")
    return v


def load_record(path: str | Path) -> ActivityRecord:
    """Read and validate a record folder written by :func:`write_record`."""
    d = Path(path)
    if not d.is_dir():
        raise PnmsimError(f"{d}: no such record folder (write one with pnmsim simulate "
                          "--record DIR)")
    mpath = d / MANIFEST
    try:
        manifest = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise PnmsimError(f"{mpath}: missing: {d} is not a complete activity record") from None
    except (OSError, ValueError) as e:
        raise PnmsimError(f"{mpath}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict):
        raise _bad(mpath, "(top level)", "not an object")
    if manifest.get("format") != FORMAT:
        raise _bad(mpath, "format", f"got {manifest.get('format')!r}; expected {FORMAT!r}")
    fp = _field(manifest, mpath, "fingerprint", dict)
    for k in ("samples", "seed", "batches"):
        _field(manifest, mpath, k, int)
    for k in ("accuracy", "loss"):
        _field(manifest, mpath, k, (int, float))
    _field(manifest, mpath, "mode", str)
    if manifest["mode"] not in ("coarse", "fine"):
        raise _bad(mpath, "mode", f"got {manifest['mode']!r}; expected coarse or fine")
    try:
        workload = workload_from_dict(_field(manifest, mpath, "workload", dict), str(mpath))
    except PnmsimError as e:
        raise _bad(mpath, "workload", str(e)) from None
    blob, ttext = _read_bytes(d / RECORDS), _read_bytes(d / TALLY)
    for name, data, key in ((RECORDS, blob, "records_sha256"), (TALLY, ttext, "tally_sha256"),
                            (CONFIG, _read_bytes(d / CONFIG), "config_sha256")):
        if _sha(data) != fp.get(key):
            raise _bad(d / name, key, "content does not match the manifest's fingerprint "
                       "(modified or truncated)")
    arch = load_arch(d / CONFIG)          # validated like any preset (errors name the file)
    tpath = d / TALLY
    tally = _tally(tpath, ttext)
    batches = _records(d / RECORDS, blob, int(manifest["batches"]))
    return ActivityRecord(arch=arch, workload=workload, batches=batches, tally=tally,
                          manifest=manifest)


def _read_bytes(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise PnmsimError(f"{p}: missing from the record") from None
    except OSError as e:
        raise PnmsimError(f"{p}: unreadable ({e})") from None


def _tally(path: Path, text: bytes) -> Tally:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise PnmsimError(f"{path}: not valid JSON ({e})") from None
    t = Tally()
    for i, row in enumerate(_field(doc, path, "counts", list)):
        if (not isinstance(row, list) or len(row) != 5 or not all(isinstance(x, str)
                                                                  for x in row[:4])
                or not isinstance(row[4], (int, float)) or row[0] not in PHASES):
            raise _bad(path, f"counts[{i}]", f"got {row!r}; expected [phase, component, "
                       "class, action, count]")
        t.counts[tuple(row[:4])] = float(row[4])   # type: ignore[index]
    for k, v in _field(doc, path, "macs", dict).items():
        if not isinstance(v, (int, float)):
            raise _bad(path, f"macs.{k}", f"got {v!r}; expected a number")
        t.macs[k] = float(v)
    return t


def _records(path: Path, blob: bytes, n_batches: int) -> list[list[OpRecord]]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as f:
            z = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError) as e:
        raise PnmsimError(f"{path}: not a readable .npz ({e})") from None
    need = ("batch", "phase", "sensing", "scheme", "state_aware", *_SCALARS)
    for k in need:
        if k not in z:
            raise _bad(path, k, "missing")
    n = len(z["batch"])
    for k in need:
        if z[k].shape != (n,):
            raise _bad(path, k, f"shape {z[k].shape}; expected ({n},)")
    bad = [p for p in z["phase"] if p not in PHASES]
    if bad:
        raise _bad(path, "phase", f"got {bad[0]!r}; expected one of {', '.join(PHASES)}")
    if n and (z["batch"].min() < 0 or z["batch"].max() >= n_batches):
        raise _bad(path, "batch", f"outside 0..{n_batches - 1}")
    batches: list[list[OpRecord]] = [[] for _ in range(n_batches)]
    for i in range(n):
        facts = None
        if z["scheme"][i]:
            arrs = {k: z.get(f"facts.{i}.{k}") for k in _FACT_ARRAYS}
            facts = UpdateFacts(scheme=str(z["scheme"][i]),
                                state_aware=bool(z["state_aware"][i]), **arrs)
            need_f = (("col_pulse_ns", "read_cols") if facts.scheme == "per_cell"
                      else ("vec_pulse_ns", "active"))
            for k in need_f:
                if arrs[k] is None:
                    raise _bad(path, f"facts.{i}.{k}", "missing")
        elif z["phase"][i] == "update":
            raise _bad(path, f"scheme[{i}]", "an update record needs its facts")
        rec = OpRecord(phase=str(z["phase"][i]), sensing=str(z["sensing"][i]), facts=facts,
                       **{k: int(z[k][i]) for k in _SCALARS})
        batches[int(z["batch"][i])].append(rec)
    return batches


__all__ = ["FORMAT", "ActivityRecord", "check_record_target", "load_record",
           "weights_fingerprint", "write_record"]
