"""Downloading the official dataset files into the data folder, checking their SHA-256 (and
extracting the CIFAR-10 tarball): :func:`fetch_dataset`. Reading them is
:mod:`pnmsim.datasets`' job."""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pnmsim.datasets import (
    _CIFAR_EXTRACTED,
    _CIFAR_TRAIN_BATCHES,
    _IDX_FILES,
    CIFAR_FOLDER,
    CIFAR_TARBALL,
    _check_name,
    resolve_data_dir,
)
from pnmsim.errors import DatasetError


@dataclass(frozen=True)
class RemoteFile:
    """One official download: the file name it is stored under, its mirrors and its SHA-256."""

    filename: str
    urls: tuple[str, ...]
    sha256: str


def _idx_remotes(bases: tuple[str, ...], digests: dict[str, str]) -> tuple[RemoteFile, ...]:
    """The four gzipped IDX files of an MNIST-style dataset; ``digests`` maps role -> SHA-256."""
    return tuple(
        RemoteFile(f"{stem}.gz", tuple(f"{base}{stem}.gz" for base in bases), digests[role])
        for role, stem in _IDX_FILES.items()
    )


# Official files and their published SHA-256 digests (the same values torchvision's prototype
# datasets, TensorFlow Datasets and Keras pin; the MD5 columns the dataset authors publish are
# c58f30108f718f92721af3b95e74349a for CIFAR-10, e26dedcc434d2e4c54c9b2d4a06d8373 and
# eb5a983be6a315427106f1b164d9cef3 for SVHN train/test).
REMOTE_FILES: dict[str, tuple[RemoteFile, ...]] = {
    "mnist": _idx_remotes(
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        {
            "train_images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train_labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "test_images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "test_labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": _idx_remotes(
        (
            "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        {
            "train_images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train_labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "test_images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "test_labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ),
    "cifar10": (
        RemoteFile(
            CIFAR_TARBALL,
            (f"https://www.cs.toronto.edu/~kriz/{CIFAR_TARBALL}",),
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
        ),
    ),
    "svhn": (
        RemoteFile(
            "train_32x32.mat",
            ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",),
            "435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8",
        ),
        RemoteFile(
            "test_32x32.mat",
            ("http://ufldl.stanford.edu/housenumbers/test_32x32.mat",),
            "cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b",
        ),
    ),
}

_DOWNLOAD_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stream(url: str, sink: BinaryIO) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": "pnmsim"})
    digest = hashlib.sha256()
    with urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response:
        while chunk := response.read(_CHUNK):
            sink.write(chunk)
            digest.update(chunk)
    return digest.hexdigest()


def _download(remote: RemoteFile, dest: Path) -> None:
    """Fetch ``remote`` into ``dest`` atomically (``.part``, then ``os.replace``); check SHA-256."""
    part = dest.with_name(dest.name + ".part")
    problems: list[str] = []
    for url in remote.urls:
        try:
            with part.open("wb") as sink:
                got = _stream(url, sink)
        except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
            part.unlink(missing_ok=True)
            problems.append(f"{url}: {exc}")
            continue
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        if got != remote.sha256:
            part.unlink(missing_ok=True)
            problems.append(f"{url}: sha256 {got} but expected {remote.sha256}")
            continue
        os.replace(part, dest)
        return
    raise DatasetError(f"{dest}: download failed: {'; '.join(problems)}")


def _extract_cifar(tarball: Path, target: Path) -> None:
    """Extract the CIFAR-10 batch files (only those, by base name) into ``target/CIFAR_FOLDER``."""
    out_dir = target / CIFAR_FOLDER
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or base not in _CIFAR_EXTRACTED:
                    continue
                source = tar.extractfile(member)
                if source is None:
                    continue
                part = out_dir / f"{base}.part"
                try:
                    with source, part.open("wb") as sink:
                        while chunk := source.read(_CHUNK):
                            sink.write(chunk)
                    os.replace(part, out_dir / base)
                finally:
                    part.unlink(missing_ok=True)
                seen.add(base)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetError(f"{tarball}: corrupt CIFAR-10 archive ({exc})") from exc
    missing = [b for b in (*_CIFAR_TRAIN_BATCHES, "test_batch") if b not in seen]
    if missing:
        raise DatasetError(f"{tarball}: archive lacks {', '.join(missing)}")


def fetch_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Download ``name``'s official files into ``<data dir>/<name>/``; return that folder.

    Each file is verified against its published SHA-256 (a mismatch deletes the partial download
    and raises :class:`DatasetError`); files already present with the right digest are kept.
    CIFAR-10's tarball is unpacked into ``cifar-10-batches-py/``.
    """
    _check_name(name)
    target = resolve_data_dir(data_dir) / name
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{target}: cannot create the dataset folder ({exc})") from exc
    for remote in REMOTE_FILES[name]:
        dest = target / remote.filename
        if dest.is_file() and _sha256_file(dest) == remote.sha256:
            continue
        _download(remote, dest)
    if name == "cifar10":
        _extract_cifar(target / CIFAR_TARBALL, target)
    return target
