"""Image-classification datasets for GXNOR training: MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

Every dataset is read from its official distribution format (IDX, the CIFAR-10 python pickles,
the SVHN cropped-digit ``.mat`` files) and returned as a :class:`Dataset`: float32 images of
shape ``(N, C, H, W)`` scaled to ``[-1, 1]`` by ``x / 127.5 - 1`` and int64 labels ``0..9``,
with a seeded validation split carved out of the training set.

Files are looked up under a data folder chosen by :func:`resolve_data_dir` (explicit argument,
then ``$PNMSIM_DATA_DIR``, then the per-user cache), either in ``<dir>/<name>/`` or directly in
``<dir>/``. :func:`pnmsim.fetch.fetch_dataset` (its own module: this one only reads) downloads the
official files there and checks their SHA-256.
A missing, truncated or corrupt file raises :class:`~pnmsim.errors.DatasetError` with a one-line
message naming the file.

Why ~510 lines in one module: four readers of four formats, each with the corruption checks
that name the file; they share the split/scale/lookup code, which is what this module is for.

A small real MNIST sample (the first 512 test images) ships inside the package so that tests and
examples run without any download: :func:`load_embedded_sample`.
"""

from __future__ import annotations

import os
import pickle
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pnmsim.errors import DatasetError

DATASETS = ("mnist", "fashion-mnist", "cifar10", "svhn")
ENV_VAR = "PNMSIM_DATA_DIR"
CLASSES = 10

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_TARBALL = "cifar-10-python.tar.gz"
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_EXTRACTED = (*_CIFAR_TRAIN_BATCHES, "test_batch", "batches.meta")

EMBEDDED_SAMPLE = "data/mnist_sample.npz"

FETCH_HINT = "or download it with pnmsim.fetch.fetch_dataset({name!r}) where there is internet"

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IMAGE_SHAPES = {
    "mnist": (1, 28, 28),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "svhn": (3, 32, 32),
}



@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: float32 ``(N, C, H, W)`` images in ``[-1, 1]`` and int64 labels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = CLASSES

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The shape ``(C, H, W)`` of one image."""
        _, c, h, w = self.x_train.shape
        return (int(c), int(h), int(w))


# --------------------------------------------------------------------------------------------
# Locating files


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    return name


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$PNMSIM_DATA_DIR``, else the user cache.

    The cache is ``$XDG_CACHE_HOME/pnmsim/datasets`` (``~/.cache/pnmsim/datasets`` when
    ``XDG_CACHE_HOME`` is unset or empty). The folder need not exist.
    """
    if data_dir is not None and str(data_dir) != "":
        return _expand(Path(data_dir), "--data-dir")
    env = os.environ.get(ENV_VAR, "")
    if env:
        return _expand(Path(env), f"${ENV_VAR}")
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "pnmsim" / "datasets"


def _expand(path: Path, what: str) -> Path:
    try:
        return path.expanduser()
    except RuntimeError as e:     # ~user of an unknown user
        raise DatasetError(f"{what} {path}: {e}; allowed: an existing folder") from None


def dataset_files(name: str) -> dict[str, str]:
    """Logical role -> expected file name, for the files :func:`load_dataset` reads.

    IDX files (MNIST, Fashion-MNIST) may also be stored without the ``.gz`` suffix; the CIFAR-10
    batches may sit in a ``cifar-10-batches-py/`` sub-folder.
    """
    _check_name(name)
    if name in ("mnist", "fashion-mnist"):
        return {role: f"{stem}.gz" for role, stem in _IDX_FILES.items()}
    if name == "cifar10":
        files = {f"train_batch_{i}": batch for i, batch in enumerate(_CIFAR_TRAIN_BATCHES, 1)}
        files["test_batch"] = "test_batch"
        return files
    return {"train": "train_32x32.mat", "test": "test_32x32.mat"}


def _candidate_dirs(name: str, root: Path) -> list[Path]:
    dirs = [root / name]
    # A folder named after a different dataset (e.g. .../mnist when asked for fashion-mnist)
    # is never searched directly: its files would silently stand in for the wrong dataset.
    if root.name not in DATASETS or root.name == name:
        dirs.append(root)
    if name == "cifar10":
        dirs = [d for base in dirs for d in (base / CIFAR_FOLDER, base)]
    return dirs


def _find_in(name: str, folder: Path, roles: tuple[str, ...] | None = None
             ) -> dict[str, Path] | None:
    found: dict[str, Path] = {}
    for role, filename in dataset_files(name).items():
        if roles is not None and role not in roles:
            continue
        options = [folder / filename]
        if filename.endswith(".gz"):
            options.append(folder / filename[: -len(".gz")])
        hit = next((p for p in options if p.is_file()), None)
        if hit is None:
            return None
        found[role] = hit
    return found


def locate_dataset(name: str, data_dir: str | os.PathLike[str] | None = None,
                   roles: tuple[str, ...] | None = None) -> dict[str, Path]:
    """Role -> path of every file of ``name`` (or of ``roles`` only), all taken from the first
    folder that has them all."""
    _check_name(name)
    root = resolve_data_dir(data_dir)
    searched = _candidate_dirs(name, root)
    for folder in searched:
        found = _find_in(name, folder, roles)
        if found is not None:
            return found
    expected = ", ".join(f for r, f in dataset_files(name).items()
                         if roles is None or r in roles)
    if name in ("mnist", "fashion-mnist"):
        expected += " (gzipped or not)"
    folders = ", ".join(str(d) for d in searched)
    raise DatasetError(
        f"{name}: dataset files not found: expected {expected} in one of {folders}; "
        f"set --data-dir or ${ENV_VAR}, {FETCH_HINT.format(name=name)}"
    )


# --------------------------------------------------------------------------------------------
# Readers for the official formats


def _read_bytes(path: Path) -> bytes:
    """The file's content, transparently gunzipped when it starts with the gzip magic (regular
    files only, bounded in size: :mod:`pnmsim.safeload`)."""
    from pnmsim.errors import PnmsimError
    from pnmsim.safeload import DATA_MAX_BYTES, read_bytes

    try:
        return read_bytes(path, str(path), "dataset file", DATA_MAX_BYTES, gunzip=True)
    except DatasetError:
        raise
    except PnmsimError as exc:
        raise DatasetError(str(exc)) from None


def _check_file(path: Path) -> None:
    """A regular file within the size limit (:mod:`pnmsim.safeload`), as a DatasetError."""
    from pnmsim.errors import PnmsimError
    from pnmsim.safeload import DATA_MAX_BYTES, regular_file

    try:
        regular_file(path, str(path), "dataset file", DATA_MAX_BYTES)
    except PnmsimError as exc:
        raise DatasetError(str(exc)) from None


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < 4:
        raise DatasetError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise DatasetError(
            f"{path}: bad IDX magic number {got}; expected {magic} "
            f"({'images' if magic == IDX_IMAGES_MAGIC else 'labels'})"
        )
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected:
        what = "truncated" if payload < expected else "trailing bytes in"
        raise DatasetError(
            f"{path}: {what} IDX payload: {payload} bytes, header {dims} needs {expected}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx_images(path: str | os.PathLike[str], shape: tuple[int, int] = (28, 28)) -> np.ndarray:
    """uint8 images ``(N, H, W)`` from an IDX3 file (gzipped or not), checked against ``shape``."""
    path = Path(path)
    images = _read_idx(path, IDX_IMAGES_MAGIC, 3)
    if images.shape[1:] != tuple(shape):
        raise DatasetError(
            f"{path}: images are {images.shape[1]}x{images.shape[2]}; "
            f"expected {shape[0]}x{shape[1]}"
        )
    return images


def read_idx_labels(path: str | os.PathLike[str], classes: int = CLASSES) -> np.ndarray:
    """uint8 labels ``(N,)`` from an IDX1 file (gzipped or not), each in ``0..classes-1``."""
    path = Path(path)
    labels = _read_idx(path, IDX_LABELS_MAGIC, 1)
    _check_label_range(path, labels, 0, classes - 1)
    return labels


def _check_label_range(path: Path, labels: np.ndarray, low: int, high: int) -> None:
    if labels.size and (labels.min() < low or labels.max() > high):
        bad = labels[(labels < low) | (labels > high)][0]
        raise DatasetError(f"{path}: label value {bad} out of range; expected {low}..{high}")


def _check_counts(images: np.ndarray, labels: np.ndarray, img_path: Path, lbl_path: Path) -> None:
    if len(images) != len(labels):
        where = str(img_path) if img_path == lbl_path else f"{img_path} / {lbl_path.name}"
        raise DatasetError(
            f"{where}: {len(images)} images but {len(labels)} labels; counts must match"
        )


def _load_idx(files: dict[str, Path]) -> tuple[np.ndarray, ...]:
    out = []
    for split in ("train", "test"):
        img_path, lbl_path = files[f"{split}_images"], files[f"{split}_labels"]
        images = read_idx_images(img_path)
        labels = read_idx_labels(lbl_path)
        _check_counts(images, labels, img_path, lbl_path)
        out += [images[:, None, :, :], labels]
    return tuple(out)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, never arbitrary callables."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 3, 32, 32)`` and uint8 labels from one CIFAR-10 python batch file."""
    path = Path(path)
    _check_file(path)
    try:
        with path.open("rb") as fh:
            batch = _NumpyOnlyUnpickler(fh, encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        OSError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        ImportError,
        UnicodeDecodeError,
        zlib.error,
    ) as exc:
        raise DatasetError(f"{path}: not a readable CIFAR-10 pickle batch ({exc})") from exc
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: CIFAR-10 batch is a {type(batch).__name__}; expected a dict")
    for key in (b"data", b"labels"):
        if key not in batch and key.decode() not in batch:
            raise DatasetError(f"{path}: CIFAR-10 batch has no {key.decode()!r} entry")
    data = batch.get(b"data", batch.get("data"))
    raw_labels = batch.get(b"labels", batch.get("labels"))
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(
            f"{path}: CIFAR-10 'data' is {data.dtype} {data.shape}; expected uint8 (N, 3072)"
        )
    try:
        labels = np.asarray(raw_labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: CIFAR-10 'labels' are not integers ({exc})") from exc
    _check_counts(data, labels, path, path)
    _check_label_range(path, labels, 0, CLASSES - 1)
    return data.reshape(-1, 3, 32, 32), labels.astype(np.uint8)


def _load_cifar(files: dict[str, Path]) -> tuple[np.ndarray, ...]:
    parts = [read_cifar_batch(files[f"train_batch_{i}"]) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = read_cifar_batch(files["test_batch"])
    return x_train, y_train, x_test, y_test


def read_svhn_mat(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images ``(N, 3, 32, 32)`` and labels ``0..9`` from an SVHN cropped-digit .mat file.

    SVHN stores the digit 0 as label 10; it is mapped back to 0.
    """
    path = Path(path)
    try:
        from scipy.io import loadmat
    except ImportError as exc:  # pragma: no cover - scipy is a declared dependency
        raise DatasetError(
            f"{path}: reading SVHN .mat files needs scipy (pip install scipy)"
        ) from exc
    _check_file(path)
    try:
        mat = loadmat(path)
    except Exception as exc:  # scipy raises many types (MatReadError, ValueError, zlib...)
        raise DatasetError(f"{path}: not a readable SVHN .mat file ({exc})") from exc
    for key in ("X", "y"):
        if key not in mat:
            raise DatasetError(f"{path}: SVHN .mat file has no {key!r} variable")
    x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
    if x.dtype != np.uint8 or x.shape[:3] != (32, 32, 3) or x.ndim != 4:
        raise DatasetError(
            f"{path}: SVHN 'X' is {x.dtype} {x.shape}; expected uint8 (32, 32, 3, N)"
        )
    if not np.issubdtype(y.dtype, np.number):
        raise DatasetError(f"{path}: SVHN 'y' is {y.dtype}; expected integer labels 1..10")
    labels = y.reshape(-1)
    if labels.size and not np.array_equal(labels, np.round(labels)):
        raise DatasetError(f"{path}: SVHN 'y' holds non-integer labels; expected 1..10")
    labels = labels.astype(np.int64)
    images = np.moveaxis(x, 3, 0)  # (N, 32, 32, 3)
    _check_counts(images, labels, path, path)
    _check_label_range(path, labels, 1, 10)
    labels[labels == 10] = 0
    return images.transpose(0, 3, 1, 2), labels.astype(np.uint8)


def _load_svhn(files: dict[str, Path]) -> tuple[np.ndarray, ...]:
    x_train, y_train = read_svhn_mat(files["train"])
    x_test, y_test = read_svhn_mat(files["test"])
    return x_train, y_train, x_test, y_test


# --------------------------------------------------------------------------------------------
# Public loaders


def _scale(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, C, H, W)`` -> C-contiguous float32 in ``[-1, 1]`` (``x / 127.5 - 1``)."""
    out = images.astype(np.float32, order="C")  # always a fresh copy
    out /= np.float32(127.5)
    out -= np.float32(1.0)
    return out


def _check_count(name: str, key: str, value: int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise DatasetError(f"{name}: --{key.replace('_', '-')}: got {value!r}; allowed: a "
                           "non-negative integer")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    val_size: int = 5000,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load ``name`` from its official files and split a validation set off the training set.

    The training set is permuted with ``np.random.default_rng(seed)``; the first ``val_size``
    permuted examples form the validation set, the rest the training set. ``train_limit`` keeps
    the first examples of that permuted training set and ``test_limit`` the first test examples
    in file order; both apply after the split, so the validation set never depends on them.
    """
    _check_name(name)
    _check_count(name, "val_size", val_size, allow_none=False)
    _check_count(name, "train_limit", train_limit)
    _check_count(name, "test_limit", test_limit)
    files = locate_dataset(name, data_dir)
    if name in ("mnist", "fashion-mnist"):
        x_all, y_all, x_te, y_te = _load_idx(files)
    elif name == "cifar10":
        x_all, y_all, x_te, y_te = _load_cifar(files)
    else:
        x_all, y_all, x_te, y_te = _load_svhn(files)

    n = len(x_all)
    if val_size >= n:
        raise DatasetError(
            f"{name}: --val-size {val_size} leaves no training data; allowed: 0..{n - 1} "
            f"(the training set has {n} examples)"
        )
    perm = np.random.default_rng(seed).permutation(n)
    val_idx = perm[:val_size]
    train_idx = perm[val_size:]
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    test_end = len(x_te) if test_limit is None else min(test_limit, len(x_te))

    return Dataset(
        name=name,
        x_train=_scale(x_all[train_idx]),
        y_train=y_all[train_idx].astype(np.int64),
        x_val=_scale(x_all[val_idx]),
        y_val=y_all[val_idx].astype(np.int64),
        x_test=_scale(x_te[:test_end]),
        y_test=y_te[:test_end].astype(np.int64),
        classes=CLASSES,
    )


TEST_ROLES: dict[str, tuple[str, ...]] = {
    "mnist": ("test_images", "test_labels"), "fashion-mnist": ("test_images", "test_labels"),
    "cifar10": ("test_batch",), "svhn": ("test",),
}


def load_test_set(name: str, data_dir: str | os.PathLike[str] | None = None,
                  limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The test split of ``name`` alone (float32 images in [-1, 1], int64 labels), for
    inference-style runs: a folder holding only the test files is enough."""
    _check_name(name)
    _check_count(name, "test_limit", limit)
    files = locate_dataset(name, data_dir, TEST_ROLES[name])
    if name in ("mnist", "fashion-mnist"):
        x = read_idx_images(files["test_images"])[:, None, :, :]
        y = read_idx_labels(files["test_labels"])
        _check_counts(x, y, files["test_images"], files["test_labels"])
    elif name == "cifar10":
        x, y = read_cifar_batch(files["test_batch"])
    else:
        x, y = read_svhn_mat(files["test"])
    end = len(x) if limit is None else min(limit, len(x))
    return _scale(x[:end]), y[:end].astype(np.int64)


def load_embedded_sample() -> tuple[np.ndarray, np.ndarray]:
    """The real MNIST sample shipped in the package: float32 ``(N, 1, 28, 28)`` and int64 labels.

    It holds the first 512 images of the official MNIST t10k test set.
    """
    resource = resources.files("pnmsim").joinpath(EMBEDDED_SAMPLE)
    try:
        with resource.open("rb") as fh, np.load(fh) as npz:
            images = np.asarray(npz["images"])
            labels = np.asarray(npz["labels"])
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"pnmsim/{EMBEDDED_SAMPLE}: embedded sample unreadable ({exc})") from exc
    return _scale(images[:, None, :, :]), labels.astype(np.int64)


# --------------------------------------------------------------------------------------------
