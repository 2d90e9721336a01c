"""The GXNOR network engine over the software backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pnmsim.nn.network import MatrixBackend, Network, SoftwareBackend
from pnmsim.workload import WeightedLayer, Workload, load_workload, workload_from_dict


def make(name: str | Workload = "tiny_mlp", seed: int = 0) -> Network:
    wl = load_workload(name) if isinstance(name, str) else name
    n_bits = 1 if wl.weights == "ternary" else 0
    return Network(wl, SoftwareBackend(np.random.default_rng(seed + 100), n_bits=n_bits),
                   np.random.default_rng(seed))


def binary_variant(name: str) -> Workload:
    d = load_workload(name).to_dict()
    d["weights"] = "binary"
    return workload_from_dict(d)


# ----------------------------------------------------------------------------- numpy twin


def twin_forward(net: Network, x: np.ndarray, train: bool) -> np.ndarray:
    """Plain float64 NCHW forward pass written independently of the engine: direct
    convolution with loops over kernel offsets, pooling by reshape, batch-norm by formula."""
    wl = net.workload
    binary = wl.weights == "binary"
    a = x.astype(np.float64).reshape(len(x), *wl.input_shape)
    wi = bi = 0
    for lay in wl.layers:
        if lay.type == "conv":
            w = net.backend.weights(wi).astype(np.float64)
            wi += 1
            k, s, p = lay.kernel, lay.stride, lay.padding
            n, c, h, wd = a.shape
            ap = np.pad(a, ((0, 0), (0, 0), (p, p), (p, p)))
            oh, ow = (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1
            wr = w.reshape(c, k, k, -1)
            out = np.zeros((n, w.shape[1], oh, ow))
            for ky in range(k):
                for kx in range(k):
                    patch = ap[:, :, ky:ky + s * (oh - 1) + 1:s, kx:kx + s * (ow - 1) + 1:s]
                    out += np.einsum("nchw,co->nohw", patch, wr[:, ky, kx, :])
            a = out
        elif lay.type == "dense":
            w = net.backend.weights(wi).astype(np.float64)
            wi += 1
            a = a.reshape(len(a), -1) @ w
        elif lay.type == "maxpool":
            n, c, h, wd = a.shape
            q = lay.size
            a = a[:, :, :h // q * q, :wd // q * q].reshape(n, c, h // q, q, wd // q, q)
            a = a.max(axis=(3, 5))
        elif lay.type == "batchnorm":
            axes = (0,) if a.ndim == 2 else (0, 2, 3)
            shp = (1, -1) if a.ndim == 2 else (1, -1, 1, 1)
            if train:
                mean, var = a.mean(axis=axes), a.var(axis=axes)
            else:
                mean = net.running[f"bn{bi}.running_mean"].astype(np.float64)
                var = net.running[f"bn{bi}.running_var"].astype(np.float64)
            g = net.params[f"bn{bi}.gamma"].astype(np.float64)
            b = net.params[f"bn{bi}.beta"].astype(np.float64)
            a = (a - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + 1e-4) * g.reshape(shp)
            a = a + b.reshape(shp)
            bi += 1
        else:
            a = np.where(a >= 0, 1.0, -1.0) if binary else (a >= 1.0) * 1.0 - (a <= -1.0)
    return a


def grid_inputs(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs on a 1/8 grid in [-1, 1]: first-layer sums are exact in float32."""
    return (rng.integers(-8, 9, size=(n, *shape)) / 8).astype(np.float32)


@pytest.mark.parametrize("name", ["tiny_mlp", "tiny_cnn", "binary:tiny_cnn"])
def test_forward_matches_numpy_twin(name: str) -> None:
    wl = binary_variant(name.split(":")[1]) if name.startswith("binary:") else name
    net = make(wl)
    rng = np.random.default_rng(1)
    x = grid_inputs(rng, 32, net.workload.input_shape)
    out = net.forward(x, train=True)
    assert out.dtype == np.float32 and out.shape == (32, 4)
    np.testing.assert_allclose(out, twin_forward(net, x, True), rtol=1e-4, atol=1e-4)
    # train a little so weights, BN parameters and running statistics move, then compare both
    y = rng.integers(0, 4, 32)
    for _ in range(3):
        net.train_step(x, y, 0.05)
    np.testing.assert_allclose(net.forward(x, train=True), twin_forward(net, x, True),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(net.forward(x, train=False), twin_forward(net, x, False),
                               rtol=1e-4, atol=1e-4)
    # flattened inputs are accepted
    np.testing.assert_array_equal(net.forward(x.reshape(32, -1), train=False),
                                  net.forward(x, train=False))


def test_initial_weights_on_levels_and_protocol() -> None:
    net = make("tiny_cnn")
    assert isinstance(net.backend, MatrixBackend)
    for i, layer in enumerate(net.layers):
        w = net.backend.weights(i)
        assert w.dtype == np.int8 and w.shape == (layer.rows, layer.cols)
        assert set(np.unique(w)) <= {-1, 0, 1}
    bnet = make(binary_variant("tiny_mlp"))
    assert set(np.unique(bnet.backend.weights(0))) <= {-1, 1}
    with pytest.raises(ValueError, match="n_bits"):
        Network(load_workload("tiny_mlp"), SoftwareBackend(np.random.default_rng(0), n_bits=0),
                np.random.default_rng(0))


def test_lr_zero_leaves_parameters_unchanged() -> None:
    net = make("tiny_cnn")
    rng = np.random.default_rng(2)
    x = grid_inputs(rng, 16, net.workload.input_shape)
    y = rng.integers(0, 4, 16)
    before = net.state_dict()
    for _ in range(3):
        stats = net.train_step(x, y, 0.0)
        assert stats["changed"] == 0
    after = net.state_dict()
    for k, v in before.items():
        if k.startswith("w") or k.endswith((".gamma", ".beta")):
            np.testing.assert_array_equal(after[k], v, err_msg=k)
    # running statistics do move (as in the reference's epoch 0)
    assert not np.array_equal(after["bn0.running_mean"], before["bn0.running_mean"])


def test_train_with_frozen_running_statistics() -> None:
    net = make("tiny_cnn")
    rng = np.random.default_rng(4)
    x = grid_inputs(rng, 16, net.workload.input_shape)
    y = rng.integers(0, 4, 16)
    net.forward(x, train=True)  # calibrate the running statistics
    running = {k: v.copy() for k, v in net.running.items()}
    np.testing.assert_allclose(net.forward(x, train=True, bn="running"),
                               twin_forward(net, x, False), rtol=1e-4, atol=1e-4)
    stats = net.train_step(x, y, 0.05, bn="running")
    assert stats["changed"] > 0
    for k, v in running.items():
        np.testing.assert_array_equal(net.running[k], v, err_msg=k)
    assert not np.array_equal(net.params["bn0.gamma"], np.ones(4, np.float32))
    with pytest.raises(ValueError, match="bn must be"):
        net.forward(x, train=True, bn="frozen")


class RecordingBackend(SoftwareBackend):
    def __init__(self, rng: np.random.Generator) -> None:
        super().__init__(rng)
        self.calls: list[tuple[str, int, tuple[int, ...], ...]] = []

    def matmul_t(self, index: int, delta: np.ndarray, ctx=None, lowered=None) -> np.ndarray:
        self.calls.append(("matmul_t", index, delta.shape))
        return super().matmul_t(index, delta, ctx, lowered)

    def update(self, index: int, step: np.ndarray, x: np.ndarray,
               delta: np.ndarray, ctx=None) -> dict[str, float]:
        self.calls.append(("update", index, step.shape, x.shape, delta.shape))
        assert step.dtype == np.float32
        np.testing.assert_allclose(x.T @ delta, self.last_grads[f"w{index}"], rtol=1e-5)
        return super().update(index, step, x, delta)

    def init_layer(self, index: int, layer: WeightedLayer, w: np.ndarray) -> None:
        assert w.dtype == np.int8
        super().init_layer(index, layer, w)


def test_backend_sees_the_documented_shapes() -> None:
    wl = load_workload("tiny_cnn")
    be = RecordingBackend(np.random.default_rng(0))
    net = Network(wl, be, np.random.default_rng(0))
    rng = np.random.default_rng(3)
    x = grid_inputs(rng, 5, wl.input_shape)
    y = rng.integers(0, 4, 5)
    net.forward(x, train=True)
    out = net.forward(x, train=True)
    from pnmsim.nn.layers import squared_hinge_loss
    _, g = squared_hinge_loss(out, y, 4)
    be.last_grads = net.backward(g)  # type: ignore[attr-defined]
    net.train_step(x, y, 0.01)
    # conv1: 64 positions, rows 9, cols 4; conv2: 4 positions, rows 36, cols 6; fc3: 24 x 4
    assert ("update", 0, (9, 4), (5 * 64, 9), (5 * 64, 4)) in be.calls
    assert ("update", 1, (36, 6), (5 * 4, 36), (5 * 4, 6)) in be.calls
    assert ("update", 2, (24, 4), (5, 24), (5, 4)) in be.calls
    # the transposed read is used for every weighted layer but the first
    assert sorted({c[1] for c in be.calls if c[0] == "matmul_t"}) == [1, 2]


def blobs(rng: np.random.Generator, n: int, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, len(centers), n)
    x = centers[y] + 0.6 * rng.standard_normal((n, centers.shape[1]))
    return np.clip(x, -1, 1).astype(np.float32).reshape(n, 1, 8, 8), y


def test_learns_gaussian_blobs() -> None:
    rng = np.random.default_rng(11)
    centers = rng.choice([-0.5, 0.5], size=(4, 64))
    xtr, ytr = blobs(rng, 2000, centers)
    xte, yte = blobs(rng, 1000, centers)
    net = make("tiny_mlp", seed=4)
    acc0, _ = net.evaluate(xte, yte)
    for step in range(300):
        b = rng.integers(0, len(xtr), 64)
        net.train_step(xtr[b], ytr[b], 0.01 if step < 200 else 0.003)
    acc, loss = net.evaluate(xte, yte, batch_size=256)
    assert acc > 0.9, (acc0, acc, loss)
    assert np.array_equal(net.predict(xte), net.logits(xte).argmax(axis=1))


def _train(net: Network, steps: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x = grid_inputs(rng, 16, net.workload.input_shape)
        y = rng.integers(0, 4, 16)
        out.append(net.train_step(x, y, 0.02))
    return out


def assert_same_state(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_same_seed_identical_training() -> None:
    a, b = make("tiny_cnn", seed=3), make("tiny_cnn", seed=3)
    sa, sb = _train(a, 6, 9), _train(b, 6, 9)
    assert sa == sb
    assert_same_state(a.state_dict(), b.state_dict())
    c = make("tiny_cnn", seed=4)
    assert not np.array_equal(c.backend.weights(1), a.backend.weights(1))


def test_state_dict_round_trip_continues_identically(tmp_path: Path) -> None:
    a = make("tiny_cnn", seed=5)
    _train(a, 4, 1)
    sd = a.state_dict()
    assert all(v.dtype != object for v in sd.values())
    np.savez(tmp_path / "ckpt.npz", **sd)
    with np.load(tmp_path / "ckpt.npz") as f:
        loaded = {k: f[k] for k in f.files}
    b = make("tiny_cnn", seed=99)  # different init and backend rng
    b.load_state_dict(loaded)
    assert_same_state(b.state_dict(), sd)
    sa, sb = _train(a, 4, 2), _train(b, 4, 2)
    assert sa == sb
    assert_same_state(a.state_dict(), b.state_dict())


def test_evaluate_and_errors() -> None:
    net = make("tiny_mlp")
    x = np.zeros((3, 64), np.float32)
    acc, loss = net.evaluate(x, np.array([0, 1, 2]), batch_size=2)
    assert 0.0 <= acc <= 1.0 and loss >= 0.0
    with pytest.raises(RuntimeError):
        net.backward(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError):
        net.evaluate(x[:0], np.array([], int))
