"""Dataset loaders: official formats, scaling, validation split, corrupt files, fetch, sample."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pnmsim import datasets, fetch
from pnmsim.datasets import (
    DATASETS,
    ENV_VAR,
    Dataset,
    dataset_files,
    load_dataset,
    load_embedded_sample,
    resolve_data_dir,
)
from pnmsim.errors import DatasetError
from pnmsim.fetch import RemoteFile, fetch_dataset

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _real_mnist_dir() -> Path | None:
    for base in (os.environ.get(ENV_VAR), _SHARED):
        if base and all(
            (Path(base) / "mnist" / f).is_file() for f in dataset_files("mnist").values()
        ):
            return Path(base)
    return None


# --------------------------------------------------------------------------------------------
# Writers for the official formats


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _write(path: Path, payload: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def _make_idx(
    folder: Path, n_train: int = 60, n_test: int = 20, gz: bool = True, seed: int = 1
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    arrays["train-images-idx3-ubyte"][0, 0, :2] = (0, 255)  # make the extremes present
    for stem, arr in arrays.items():
        magic = 2051 if arr.ndim == 3 else 2049
        _write(folder / stem, _idx_bytes(arr, magic), gz)
    return arrays


def _cifar_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {
        b"batch_label": b"testing",
        b"labels": labels,
        b"data": data,
        b"filenames": [b"x.png"] * len(labels),
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _make_cifar(folder: Path, per_batch: int = 8, n_test: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2)
    xs, ys = [], []
    for i in range(1, 6):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        _cifar_batch(folder / f"data_batch_{i}", data, labels)
        xs.append(data)
        ys += labels
    test = rng.integers(0, 256, (n_test, 3072), dtype=np.uint8)
    test_labels = rng.integers(0, 10, n_test).tolist()
    _cifar_batch(folder / "test_batch", test, test_labels)
    return {
        "x_train": np.concatenate(xs),
        "y_train": np.array(ys),
        "x_test": test,
        "y_test": np.array(test_labels),
    }


def _make_svhn(folder: Path, n_train: int = 30, n_test: int = 12) -> dict[str, np.ndarray]:
    from scipy.io import savemat

    rng = np.random.default_rng(3)
    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = rng.integers(1, 11, (n, 1), dtype=np.uint8)
        y[0, 0] = 10
        savemat(folder / f"{split}_32x32.mat", {"X": x, "y": y})
        out[f"X_{split}"], out[f"y_{split}"] = x, y
    return out


def _assert_one_line_error(exc: pytest.ExceptionInfo[DatasetError], filename: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert filename in message, message


# --------------------------------------------------------------------------------------------
# Loading each format


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx_gz_and_raw(tmp_path: Path, gz: bool) -> None:
    arrays = _make_idx(tmp_path / "mnist", gz=gz)
    ds = load_dataset("mnist", tmp_path, val_size=10)
    assert isinstance(ds, Dataset)
    assert ds.name == "mnist" and ds.classes == 10 and ds.input_shape == (1, 28, 28)
    assert ds.x_train.shape == (50, 1, 28, 28) and ds.x_val.shape == (10, 1, 28, 28)
    assert ds.x_test.shape == (20, 1, 28, 28)
    for x in (ds.x_train, ds.x_val, ds.x_test):
        assert x.dtype == np.float32 and x.flags.c_contiguous
        assert x.min() >= -1.0 and x.max() <= 1.0
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert y.dtype == np.int64
    assert ds.x_train.min() == -1.0 or ds.x_val.min() == -1.0
    assert max(ds.x_train.max(), ds.x_val.max()) == 1.0
    expected = arrays["t10k-images-idx3-ubyte"][:, None].astype(np.float32) / 127.5 - 1
    np.testing.assert_array_equal(ds.x_test, expected)
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_fashion_mnist_uses_its_own_folder(tmp_path: Path) -> None:
    mnist = _make_idx(tmp_path / "mnist", seed=1)
    fashion = _make_idx(tmp_path / "fashion-mnist", seed=9)
    ds = load_dataset("fashion-mnist", tmp_path, val_size=5)
    assert ds.name == "fashion-mnist"
    np.testing.assert_array_equal(ds.y_test, fashion["t10k-labels-idx1-ubyte"])
    assert not np.array_equal(ds.y_test, mnist["t10k-labels-idx1-ubyte"])


def test_files_directly_in_data_dir(tmp_path: Path) -> None:
    _make_idx(tmp_path / "somewhere")
    ds = load_dataset("mnist", tmp_path / "somewhere", val_size=0)
    assert len(ds.x_train) == 60 and len(ds.x_val) == 0 and ds.x_val.shape[1:] == (1, 28, 28)


def test_folder_of_another_dataset_is_not_used_directly(tmp_path: Path) -> None:
    _make_idx(tmp_path / "mnist")
    with pytest.raises(DatasetError) as exc:
        load_dataset("fashion-mnist", tmp_path / "mnist")
    _assert_one_line_error(exc, "train-images-idx3-ubyte.gz")


@pytest.mark.parametrize("nested", [True, False])
def test_cifar10_pickle_batches(tmp_path: Path, nested: bool) -> None:
    folder = tmp_path / "cifar10" / "cifar-10-batches-py" if nested else tmp_path / "cifar10"
    raw = _make_cifar(folder)
    ds = load_dataset("cifar10", tmp_path, val_size=0)
    assert ds.input_shape == (3, 32, 32)
    assert ds.x_train.shape == (40, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    # Rows are 1024 red, then 1024 green, then 1024 blue values, each row-major.
    np.testing.assert_array_equal(
        ds.x_test[2, 1, 3, 4], raw["x_test"][2, 1024 + 3 * 32 + 4] / np.float32(127.5) - 1
    )
    np.testing.assert_array_equal(ds.y_test, raw["y_test"])
    # val_size=0: the training set is a permutation of all five batches.
    order = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(ds.y_train, raw["y_train"][order])


def test_svhn_mat_layout_and_label_10_is_zero(tmp_path: Path) -> None:
    raw = _make_svhn(tmp_path / "svhn")
    ds = load_dataset("svhn", tmp_path, val_size=5, test_limit=7)
    assert ds.x_train.shape == (25, 3, 32, 32) and ds.x_val.shape == (5, 3, 32, 32)
    assert ds.x_test.shape == (7, 3, 32, 32)
    x, y = raw["X_test"], raw["y_test"][:, 0].astype(np.int64)
    expected_y = np.where(y == 10, 0, y)[:7]
    np.testing.assert_array_equal(ds.y_test, expected_y)
    assert ds.y_test[0] == 0
    expected_x = x.transpose(3, 2, 0, 1)[:7].astype(np.float32) / 127.5 - 1
    np.testing.assert_array_equal(ds.x_test, expected_x)
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_val]))) <= set(range(10))


# --------------------------------------------------------------------------------------------
# Validation split and limits


def test_validation_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    arrays = _make_idx(tmp_path / "mnist", n_train=60)
    train_x = arrays["train-images-idx3-ubyte"]
    a = load_dataset("mnist", tmp_path, val_size=15, seed=4)
    b = load_dataset("mnist", tmp_path, val_size=15, seed=4)
    c = load_dataset("mnist", tmp_path, val_size=15, seed=5)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_val, c.x_val)
    perm = np.random.default_rng(4).permutation(60)
    np.testing.assert_array_equal(a.x_val, train_x[perm[:15], None] / np.float32(127.5) - 1)
    np.testing.assert_array_equal(a.x_train, train_x[perm[15:], None] / np.float32(127.5) - 1)


def test_limits_apply_after_the_split(tmp_path: Path) -> None:
    _make_idx(tmp_path / "mnist", n_train=60, n_test=20)
    full = load_dataset("mnist", tmp_path, val_size=10, seed=7)
    cut = load_dataset("mnist", tmp_path, val_size=10, seed=7, train_limit=12, test_limit=5)
    np.testing.assert_array_equal(cut.x_val, full.x_val)
    np.testing.assert_array_equal(cut.x_train, full.x_train[:12])
    np.testing.assert_array_equal(cut.y_train, full.y_train[:12])
    np.testing.assert_array_equal(cut.x_test, full.x_test[:5])
    big = load_dataset("mnist", tmp_path, val_size=10, train_limit=10_000, test_limit=10_000)
    assert len(big.x_train) == 50 and len(big.x_test) == 20


@pytest.mark.parametrize(
    "kwargs", [{"val_size": 60}, {"val_size": -1}, {"train_limit": -3}, {"test_limit": 1.5}]
)
def test_bad_split_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    _make_idx(tmp_path / "mnist", n_train=60)
    with pytest.raises(DatasetError):
        load_dataset("mnist", tmp_path, **kwargs)  # type: ignore[arg-type]


def test_unknown_dataset_name(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="allowed: mnist"):
        load_dataset("imagenet", tmp_path)


def test_dataset_files_roles() -> None:
    assert set(DATASETS) == {"mnist", "fashion-mnist", "cifar10", "svhn"}
    assert dataset_files("mnist")["train_images"] == "train-images-idx3-ubyte.gz"
    assert dataset_files("fashion-mnist") == dataset_files("mnist")
    assert len(dataset_files("cifar10")) == 6 and dataset_files("cifar10")["test_batch"]
    assert dataset_files("svhn") == {"train": "train_32x32.mat", "test": "test_32x32.mat"}


# --------------------------------------------------------------------------------------------
# Data folder resolution


def test_resolve_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_dir(None) == tmp_path / "home" / ".cache" / "pnmsim" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir(None) == tmp_path / "xdg" / "pnmsim" / "datasets"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_load_uses_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_idx(tmp_path / "env" / "mnist")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert len(load_dataset("mnist", val_size=0).x_train) == 60


# --------------------------------------------------------------------------------------------
# Missing and corrupt files


def test_missing_dataset_lists_files_folders_and_hints(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", tmp_path)
    message = str(exc.value)
    _assert_one_line_error(exc, "t10k-labels-idx1-ubyte.gz")
    assert str(tmp_path / "mnist") in message and "--data-dir" in message
    assert ENV_VAR in message and "fetch_dataset" in message


def test_missing_single_file(tmp_path: Path) -> None:
    _make_idx(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", tmp_path)
    _assert_one_line_error(exc, "t10k-labels-idx1-ubyte")


def _corrupt_bad_magic(folder: Path) -> str:
    path = folder / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2:4] = b"\x08\x01"
    path.write_bytes(gzip.compress(bytes(raw)))
    return path.name


def _corrupt_truncated_payload(folder: Path) -> str:
    path = folder / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    return path.name


def _corrupt_truncated_gzip(folder: Path) -> str:
    path = folder / "train-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path.name


def _corrupt_label_count(folder: Path) -> str:
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros(59, np.uint8), 2049)))
    return "train-images-idx3-ubyte.gz"


def _corrupt_label_range(folder: Path) -> str:
    path = folder / "t10k-labels-idx1-ubyte.gz"
    labels = np.zeros(20, np.uint8)
    labels[3] = 10
    path.write_bytes(gzip.compress(_idx_bytes(labels, 2049)))
    return path.name


def _corrupt_image_size(folder: Path) -> str:
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((20, 32, 32), np.uint8), 2051)))
    return path.name


def _corrupt_empty_file(folder: Path) -> str:
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"")
    return path.name


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_bad_magic,
        _corrupt_truncated_payload,
        _corrupt_truncated_gzip,
        _corrupt_label_count,
        _corrupt_label_range,
        _corrupt_image_size,
        _corrupt_empty_file,
    ],
)
def test_corrupt_idx_files(tmp_path: Path, corrupt) -> None:  # type: ignore[no-untyped-def]
    _make_idx(tmp_path / "mnist")
    filename = corrupt(tmp_path / "mnist")
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", tmp_path)
    _assert_one_line_error(exc, filename)


def test_raw_idx_trailing_bytes(tmp_path: Path) -> None:
    _make_idx(tmp_path / "mnist", gz=False)
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DatasetError) as exc:
        load_dataset("mnist", tmp_path)
    _assert_one_line_error(exc, "train-labels-idx1-ubyte")


@pytest.mark.parametrize(
    "payload",
    [
        b"not a pickle at all",
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2),  # no labels
        pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2),
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1, 2]}, protocol=2),
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2),
        pickle.dumps([1, 2, 3], protocol=2),
        pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})[:-30],
        pickle.dumps(os.getcwd, protocol=2),  # a global that must not be resolved
    ],
    ids=["garbage", "no-labels", "bad-shape", "count", "range", "list", "truncated", "global"],
)
def test_corrupt_cifar_batch(tmp_path: Path, payload: bytes) -> None:
    _make_cifar(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "data_batch_3").write_bytes(payload)
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", tmp_path, val_size=0)
    _assert_one_line_error(exc, "data_batch_3")


def test_cifar_pickle_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (marker.touch, ())

    _make_cifar(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "test_batch").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar10", tmp_path)
    _assert_one_line_error(exc, "test_batch")
    assert not marker.exists()


@pytest.mark.parametrize("case", ["garbage", "no-y", "label-range", "count", "bad-x"])
def test_corrupt_svhn_mat(tmp_path: Path, case: str) -> None:
    from scipy.io import savemat

    _make_svhn(tmp_path / "svhn")
    path = tmp_path / "svhn" / "test_32x32.mat"
    x = np.zeros((32, 32, 3, 4), np.uint8)
    if case == "garbage":
        path.write_bytes(path.read_bytes()[:200])
    elif case == "no-y":
        savemat(path, {"X": x})
    elif case == "label-range":
        savemat(path, {"X": x, "y": np.array([[1], [2], [0], [4]], np.uint8)})
    elif case == "count":
        savemat(path, {"X": x, "y": np.array([[1], [2]], np.uint8)})
    else:
        savemat(path, {"X": np.zeros((28, 28, 1, 4), np.uint8), "y": np.ones((4, 1))})
    with pytest.raises(DatasetError) as exc:
        load_dataset("svhn", tmp_path, val_size=0)
    _assert_one_line_error(exc, "test_32x32.mat")


# --------------------------------------------------------------------------------------------
# Fetching (file:// URLs stand in for the official servers)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_mnist_verifies_and_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = tmp_path / "server"
    _make_idx(server)
    remotes = tuple(
        RemoteFile(f.name, ((server / "nowhere.gz").as_uri(), f.as_uri()), _sha256(f.read_bytes()))
        for f in sorted(server.iterdir())
    )
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", remotes)
    target = fetch_dataset("mnist", tmp_path / "data")
    assert target == tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(r.filename for r in remotes)
    assert len(load_dataset("mnist", tmp_path / "data", val_size=10).x_train) == 50
    # Already present and valid: nothing is downloaded again.
    monkeypatch.setattr(fetch, "_download", lambda *a: pytest.fail("downloaded again"))
    fetch_dataset("mnist", tmp_path / "data")


def test_fetch_checksum_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = tmp_path / "server"
    _make_idx(server)
    good = server / "train-labels-idx1-ubyte.gz"
    bad = RemoteFile(good.name, (good.as_uri(),), "0" * 64)
    monkeypatch.setitem(fetch.REMOTE_FILES, "mnist", (bad,))
    with pytest.raises(DatasetError) as exc:
        fetch_dataset("mnist", tmp_path / "data")
    _assert_one_line_error(exc, good.name)
    assert "sha256" in str(exc.value)
    assert list((tmp_path / "data" / "mnist").iterdir()) == []


def test_fetch_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = RemoteFile("x.gz", ((tmp_path / "absent.gz").as_uri(),), "0" * 64)
    monkeypatch.setitem(fetch.REMOTE_FILES, "svhn", (missing,))
    with pytest.raises(DatasetError) as exc:
        fetch_dataset("svhn", tmp_path / "data")
    _assert_one_line_error(exc, "x.gz")


def test_fetch_cifar_extracts_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _make_cifar(tmp_path / "src" / "cifar-10-batches-py")
    tarball = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        info = tarfile.TarInfo("../escape")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    remote = RemoteFile(tarball.name, (tarball.as_uri(),), _sha256(tarball.read_bytes()))
    monkeypatch.setitem(fetch.REMOTE_FILES, "cifar10", (remote,))
    target = fetch_dataset("cifar10", tmp_path / "data")
    assert (target / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not (tmp_path / "data" / "escape").exists()
    ds = load_dataset("cifar10", tmp_path / "data", val_size=0)
    np.testing.assert_array_equal(ds.y_test, raw["y_test"])


def test_published_checksums_are_well_formed() -> None:
    assert set(fetch.REMOTE_FILES) == set(DATASETS)
    for remotes in fetch.REMOTE_FILES.values():
        for remote in remotes:
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
            assert remote.urls and all(u.startswith(("http://", "https://")) for u in remote.urls)


# --------------------------------------------------------------------------------------------
# Embedded sample and the real MNIST


def test_embedded_sample() -> None:
    x, y = load_embedded_sample()
    assert x.shape == (512, 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
    assert y.shape == (512,) and y.dtype == np.int64
    assert x.min() == -1.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])  # t10k's first labels


def test_embedded_sample_matches_real_t10k() -> None:
    root = _real_mnist_dir()
    if root is None:
        pytest.skip("real MNIST not available")
    files = datasets.locate_dataset("mnist", root)
    x, y = load_embedded_sample()
    images = datasets.read_idx_images(files["test_images"])[:512]
    labels = datasets.read_idx_labels(files["test_labels"])[:512]
    np.testing.assert_array_equal(x, images[:, None] / np.float32(127.5) - 1)
    np.testing.assert_array_equal(y, labels)


def test_real_mnist_split_sizes() -> None:
    root = _real_mnist_dir()
    if root is None:
        pytest.skip("real MNIST not available")
    ds = load_dataset("mnist", root, val_size=5000)
    assert (len(ds.x_train), len(ds.x_val), len(ds.x_test)) == (55000, 5000, 10000)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.x_train.min() == -1.0 and ds.x_train.max() == 1.0
    assert np.bincount(ds.y_test, minlength=10).min() > 800
