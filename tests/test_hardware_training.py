"""Hardware-mode training (the GXNOR loop on the simulated MTJ array) learns a tiny generated
task, for every update scheme, and its weights stay on the ternary levels."""

from __future__ import annotations

import numpy as np
import pytest

from pnmsim.array import ArrayBackend
from pnmsim.config import load_arch
from pnmsim.nn.network import Network
from pnmsim.records import OpLog
from pnmsim.workload import load_workload


def blobs(rng: np.random.Generator, n: int, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, len(centers), n)
    x = centers[y] + 0.6 * rng.standard_normal((n, centers.shape[1]))
    return np.clip(x, -1, 1).astype(np.float32).reshape(n, 1, 8, 8), y


@pytest.mark.parametrize("arch,over,lr", [
    ("reference", [], 0.01),
    ("variation", [], 0.01),
    ("outer_product", [], 0.05),
    ("outer_lowrank", [], 0.05),
    ("outer_clustered", ["update.outer_rank=8", "update.outer_clusters=16"], 0.05),
    ("outer_product", ["update.outer_rule=column_norm", "update.write_drive=current"], 0.005),
])
def test_hardware_mode_learns_blobs(arch: str, over: list[str], lr: float) -> None:
    rng = np.random.default_rng(11)
    centers = rng.choice([-0.5, 0.5], size=(4, 64))
    xtr, ytr = blobs(rng, 2000, centers)
    xte, yte = blobs(rng, 1000, centers)
    cfg = load_arch(arch, over)
    wl = load_workload("tiny_mlp")
    be = ArrayBackend(cfg, wl, seed=3)
    net = Network(wl, be, np.random.default_rng(4))
    acc0, _ = net.evaluate(xte, yte)
    log = OpLog()
    for step in range(300):
        b = rng.integers(0, len(xtr), 64)
        net.train_step(xtr[b], ytr[b], lr if step < 200 else lr / 3, log=log)
    acc, _ = net.evaluate(xte, yte, batch_size=256)
    assert acc > 0.7 > acc0 + 0.2, (acc0, acc)     # chance is 0.25
    for i in range(len(net.layers)):
        assert set(np.unique(be.weights(i))) <= {-1, 0, 1}
    assert log.tally.counts, "hardware actions were tallied"


def test_conv_read_counts_from_the_feature_map_equal_those_from_the_matrix() -> None:
    """A convolution's read of activations takes its driven lines and read energy from the
    feature map (``lowered``): the same tally, bit for bit, as from the lowered matrix."""
    from pnmsim.nn.layers import im2col_nhwc
    from pnmsim.records import Lowered, PhaseContext

    wl = load_workload("mnist_cnn")
    rng = np.random.default_rng(5)
    fmap = rng.choice(np.array([-1, 0, 1], dtype=np.float32), size=(6, 12, 12, 32))
    x = im2col_nhwc(fmap, 5)
    outs, logs = [], []
    for lowered in (None, Lowered(fmap, 5, 1, 0)):
        be = ArrayBackend(load_arch("reference"), wl, seed=3)
        Network(wl, be, np.random.default_rng(4))
        log = OpLog()
        outs.append(be.matmul(1, x, PhaseContext(samples=6, log=log), lowered))
        logs.append(log)
    assert np.array_equal(outs[0], outs[1])
    assert logs[0].tally.counts == logs[1].tally.counts and logs[0].tally.counts


@pytest.mark.parametrize("shape,k,s,p", [((2, 12, 12, 32), 5, 1, 0), ((3, 7, 5, 4), 3, 2, 1),
                                         ((1, 6, 6, 2), 6, 1, 0), ((2, 5, 5, 3), 2, 3, 2)])
def test_lowered_matrix_shape_is_im2cols(shape, k, s, p) -> None:
    from pnmsim.nn.layers import im2col_nhwc
    from pnmsim.records import Lowered

    fmap = np.zeros(shape, dtype=np.float32)
    assert Lowered(fmap, k, s, p).matrix_shape() == im2col_nhwc(fmap, k, s, p).shape


def test_a_lowering_that_does_not_match_its_matrix_is_refused() -> None:
    """Both backends refuse a ``lowered`` that does not describe the matrix it comes with
    (a caller's bug), naming the layer and both shapes, instead of folding it wrongly or
    silently taking other statistics."""
    from pnmsim.nn.network import SoftwareBackend
    from pnmsim.records import Lowered, PhaseContext

    wl = load_workload("mnist_cnn")
    wrong = Lowered(np.zeros((6, 12, 12, 32), dtype=np.float32), 5, 2, 0)    # stride 2, not 1
    x = np.zeros((6 * 8 * 8, 32 * 25), dtype=np.float32)
    be = ArrayBackend(load_arch("reference"), wl, seed=3)
    Network(wl, be, np.random.default_rng(4))
    with pytest.raises(ValueError, match=r"matmul of layer .*\(6, 12, 12, 32\).*\(384, 800\)"):
        be.matmul(1, x, PhaseContext(samples=6, log=OpLog()), wrong)
    d = np.zeros((6 * 8 * 8, 64), dtype=np.float32)
    with pytest.raises(ValueError, match=r"matmul_t of layer .*\(384, 800\)"):
        be.matmul_t(1, d, PhaseContext(samples=6, log=OpLog()), wrong)
    sw = SoftwareBackend(np.random.default_rng(0))
    Network(wl, sw, np.random.default_rng(4))
    with pytest.raises(ValueError, match=r"matmul_t of weighted layer 1"):
        sw.matmul_t(1, d, None, wrong)
