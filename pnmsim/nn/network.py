"""A GXNOR network whose weight matrices live behind a pluggable matrix backend.

The same training loop runs in software (:class:`SoftwareBackend`: int8 ternary weights,
float32 BLAS products, DST update) or on a simulated MTJ array (a hardware backend implementing
:class:`MatrixBackend`). The network keeps everything that GXNOR keeps in full precision --
batch-norm parameters and running statistics, Adam moments -- and computes the weight gradients
dW = x^T delta digitally (the periphery's job); the backend only sees the three array
operations (forward read, transposed read, update).

Choices, where the reference leaves room:

* Initial weights: uniform in [-H, H], snapped to the nearest state (ternary: 1/4 of the
  weights -1, 1/2 zero, 1/4 +1). The scale does not matter: batch-norm follows every weighted
  layer.
* No conv/dense bias: batch-norm follows every weighted layer, and a bias in front of
  batch-norm cancels exactly (it shifts the batch mean by the same amount).
* The first weighted layer reads the real-valued image (scaled to [-1, 1] by the caller); its
  input gradient is never computed. Later weighted layers read activations in {-1, 0, +1}
  (ternary) or {-1, +1} (binary).
* Conv layers are lowered with im2col (columns in (c, ky, kx) order): a weight matrix has
  shape (rows, cols) = (in_channels * k * k, out_channels), and a conv output is
  ``im2col(x) @ W`` reshaped to (N, OH, OW, out_channels). Dense layers after a 4-D tensor
  flatten it in (C, H, W) order. Inputs are NCHW; internally feature maps stay NHWC, which is
  the order the matmul produces, so no transposes are needed between layers (batch-norm of a
  feature map is the 2-D batch-norm of its (N*H*W, C) view).
* All parameter names: ``w{i}`` for the i-th weighted layer (0-based, the backend's index),
  ``bn{j}.gamma`` / ``bn{j}.beta`` for the j-th batch-norm layer (0-based).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from pnmsim.nn.gxnor import dst_update, snap, weight_levels
from pnmsim.nn.layers import (
    Adam,
    batchnorm_backward,
    batchnorm_forward,
    binary_activation,
    binary_ste_grad,
    col2im_nhwc,
    im2col_nhwc,
    maxpool2d_backward_nhwc,
    maxpool2d_forward_nhwc,
    squared_hinge_loss,
    ste_grad,
    ternary_activation,
)
from pnmsim.records import Lowered, OpLog, PhaseContext
from pnmsim.workload import LayerSpec, WeightedLayer, Workload

F32 = np.float32

N_BITS: dict[str, int] = {"ternary": 1, "binary": 0}
"""GXNOR N of each workload weight kind (H = 1): ternary Z_1 = {-1, 0, 1}, binary {-1, 1}."""


@runtime_checkable
class MatrixBackend(Protocol):
    """Where the weight matrices live and how they are read and updated.

    ``index`` is the weighted layer's position in ``Workload.weighted_layers()``.
    """

    def init_layer(self, index: int, layer: WeightedLayer, w: np.ndarray) -> None:
        """Store weights w: int8 (rows, cols) in the level set (ternary {-1, 0, 1})."""
        ...

    def weights(self, index: int) -> np.ndarray:
        """Current logical weights, int8 (rows, cols)."""
        ...

    def matmul(self, index: int, x: np.ndarray, ctx: PhaseContext,
               lowered: Lowered | None = None) -> np.ndarray:
        """x (M, rows) float32 -> (M, cols) float32, ~ x @ W. For a conv layer M = batch *
        positions (rows of im2col, ordered (n, oy, ox)), and ``lowered`` says which feature map
        x was lowered from (one that does not describe x is refused: ``Lowered.check``); x
        is real-valued in [-1, 1] for the first weighted layer (``layer.first``) and in the
        activation set ({-1, 0, 1}) after."""
        ...

    def matmul_t(self, index: int, delta: np.ndarray, ctx: PhaseContext,
                 lowered: Lowered | None = None) -> np.ndarray:
        """delta (M, cols) float32 -> (M, rows) float32, ~ delta @ W.T; for a conv layer
        (``lowered``: the forward's input map and its lowering) the gradient of that map,
        (N, H, W, C) float32, ~ ``col2im_nhwc(delta @ W.T, lowered.source.shape, ...)``. The
        result may be a work array of the backend, valid until its next ``matmul_t`` of the
        same layer (:meth:`Network.backward` consumes it at once)."""
        ...

    def update(self, index: int, step: np.ndarray, x: np.ndarray, delta: np.ndarray,
               ctx: PhaseContext) -> dict[str, float]:
        """Apply step (rows, cols) float32, the optimiser's proposed change (includes -lr);
        x (M, rows) and delta (M, cols) are the layer's inputs and output errors of the batch.
        Returns statistics, e.g. {"changed": n}. ``ctx`` carries the call's phase context
        (training forward or not, batch samples, lr, where to count) — never a backend flag."""
        ...


class SoftwareBackend:
    """Plain GXNOR in software: weights on the levels, float32 BLAS products, DST update.

    The backend owns ``rng`` and draws from it only in :meth:`update` (one uniform per weight
    per step). ``state_dict`` holds the rng state so a resumed run continues bit-exactly.
    """

    def __init__(self, rng: np.random.Generator, n_bits: int = 1, h: float = 1.0,
                 m: float = 3.0) -> None:
        levels = weight_levels(n_bits, h)
        if not np.array_equal(levels, np.rint(levels)) or np.abs(levels).max() > 127:
            raise ValueError(f"SoftwareBackend keeps int8 weights: the levels of n_bits={n_bits},"
                             f" h={h} ({levels.tolist()}) are not all small integers")
        self.rng = rng
        self.n_bits = n_bits
        self.h = h
        self.m = m
        self._levels = levels
        self._w: dict[int, np.ndarray] = {}

    def init_layer(self, index: int, layer: WeightedLayer, w: np.ndarray) -> None:
        w = np.asarray(w)
        if w.shape != (layer.rows, layer.cols):
            raise ValueError(f"{layer.name}: weights of shape {w.shape}, expected "
                             f"({layer.rows}, {layer.cols})")
        if not np.isin(w, self._levels).all():
            raise ValueError(f"{layer.name}: weights outside the levels {self._levels.tolist()}")
        self._w[index] = np.ascontiguousarray(w, dtype=F32)

    def weights(self, index: int) -> np.ndarray:
        return self._w[index].astype(np.int8)

    def matmul(self, index: int, x: np.ndarray, ctx: PhaseContext | None = None,
               lowered: Lowered | None = None) -> np.ndarray:
        return np.asarray(x, dtype=F32) @ self._w[index]

    def matmul_t(self, index: int, delta: np.ndarray, ctx: PhaseContext | None = None,
                 lowered: Lowered | None = None) -> np.ndarray:
        dx = np.asarray(delta, dtype=F32) @ self._w[index].T
        if lowered is None:
            return dx
        lowered.check(dx.shape[0], dx.shape[1], f"matmul_t of weighted layer {index}")
        return col2im_nhwc(dx, lowered.source.shape, lowered.kernel, lowered.stride,
                           lowered.padding)

    def update(self, index: int, step: np.ndarray, x: np.ndarray, delta: np.ndarray,
               ctx: PhaseContext | None = None) -> dict[str, float]:
        w = self._w[index]
        new = dst_update(w, step, self.n_bits, self.h, self.m, self.rng)
        changed = int(np.count_nonzero(new != w))
        self._w[index] = new
        return {"changed": float(changed)}

    def state_dict(self) -> dict[str, np.ndarray]:
        """The rng state (JSON bytes as uint8; weights are saved by the network)."""
        blob = json.dumps(self.rng.bit_generator.state).encode()
        return {"rng": np.frombuffer(blob, dtype=np.uint8).copy()}

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        self.rng.bit_generator.state = json.loads(np.asarray(d["rng"], np.uint8).tobytes())


@dataclass(frozen=True)
class _Op:
    spec: LayerSpec
    widx: int = -1  # weighted-layer index (conv/dense)
    bidx: int = -1  # batch-norm index


class Network:
    """A GXNOR network built from a :class:`Workload` over a :class:`MatrixBackend`."""

    def __init__(self, workload: Workload, backend: MatrixBackend,
                 rng: np.random.Generator) -> None:
        self.workload = workload
        self.backend = backend
        self.rng = rng
        self.n_bits = N_BITS[workload.weights]
        self.h = 1.0
        bn_bits = getattr(backend, "n_bits", None)
        if bn_bits is not None and bn_bits != self.n_bits:
            raise ValueError(f"workload {workload.name!r} has {workload.weights} weights "
                             f"(n_bits={self.n_bits}) but the backend has n_bits={bn_bits}")
        self.layers: tuple[WeightedLayer, ...] = workload.weighted_layers()
        ops: list[_Op] = []
        nw = nb = 0
        for spec in workload.layers:
            if spec.type in ("conv", "dense"):
                ops.append(_Op(spec, widx=nw))
                nw += 1
            elif spec.type == "batchnorm":
                ops.append(_Op(spec, bidx=nb))
                nb += 1
            else:
                ops.append(_Op(spec))
        self._ops = tuple(ops)
        # full-precision state (digital periphery)
        self.params: dict[str, np.ndarray] = {}
        self.running: dict[str, np.ndarray] = {}
        for op in self._ops:
            if op.bidx >= 0:
                c = op.spec.in_shape[0]
                self.params[f"bn{op.bidx}.gamma"] = np.ones(c, F32)
                self.params[f"bn{op.bidx}.beta"] = np.zeros(c, F32)
                self.running[f"bn{op.bidx}.running_mean"] = np.zeros(c, F32)
                self.running[f"bn{op.bidx}.running_var"] = np.ones(c, F32)
        self.adam = Adam()
        for i, layer in enumerate(self.layers):
            w0 = rng.uniform(-self.h, self.h, size=(layer.rows, layer.cols))
            backend.init_layer(i, layer, snap(w0, self.n_bits, self.h).astype(np.int8))
        self._caches: list[Any] = []
        self._io: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._ctx = PhaseContext()

    # ------------------------------------------------------------------ forward / backward

    def forward(self, x: np.ndarray, train: bool, *, bn: str = "batch",
                log: OpLog | None = None, lr: float = 0.0) -> np.ndarray:
        """Logits (B, classes) of inputs x (B, C, H, W) or (B, C*H*W), real values in [-1, 1].

        In training mode the caches for :meth:`backward` are kept and batch-norm uses the batch
        statistics (and updates the running ones) -- or, with ``bn="running"``, the frozen
        running statistics (not updated; batch-norm is then a fixed affine map in backward).
        Otherwise (inference) the running statistics are used.

        ``log`` is where a hardware backend counts and records this pass (``None``: nowhere);
        a training forward with batch statistics tells the backend so through the context.
        """
        if bn not in ("batch", "running"):
            raise ValueError(f"bn must be 'batch' or 'running', got {bn!r}")
        frozen = bn == "running"
        b = x.shape[0]
        ctx = PhaseContext(training_forward=train and not frozen, samples=b, lr=lr, log=log)
        self._ctx = ctx
        # feature maps are kept NHWC internally: conv outputs come out of the matmul in that
        # order, and im2col / col2im / pooling / batch-norm need no transposes
        a = np.asarray(x, dtype=F32).reshape(b, *self.workload.input_shape).transpose(0, 2, 3, 1)
        caches: list[Any] = []
        binary = self.n_bits == 0
        for op in self._ops:
            s = op.spec
            cache: Any = None
            if s.type == "conv":
                assert s.kernel is not None and s.stride is not None and s.padding is not None
                cols = im2col_nhwc(a, s.kernel, s.stride, s.padding)
                n, oh, ow = s.out_shape
                low = Lowered(a, s.kernel, s.stride, s.padding)
                cache = (cols, low)
                a = np.asarray(self.backend.matmul(op.widx, cols, ctx, low),
                               dtype=F32).reshape(b, oh, ow, n)
            elif s.type == "dense":
                # implicit flatten in (C, H, W) order
                x2 = a if a.ndim == 2 else a.transpose(0, 3, 1, 2).reshape(b, -1)
                x2 = np.ascontiguousarray(x2)
                cache = (x2, a.shape)
                a = np.asarray(self.backend.matmul(op.widx, x2, ctx), dtype=F32)
            elif s.type == "maxpool":
                assert s.size is not None
                a, cache = maxpool2d_forward_nhwc(a, s.size)
            elif s.type == "batchnorm":
                j = op.bidx
                rm_key, rv_key = f"bn{j}.running_mean", f"bn{j}.running_var"
                shape = a.shape
                y2, cache, rm, rv = batchnorm_forward(
                    a.reshape(-1, shape[-1]), self.params[f"bn{j}.gamma"],
                    self.params[f"bn{j}.beta"], self.running[rm_key], self.running[rv_key], train,
                    frozen=frozen)
                a = y2.reshape(shape)
                if train and not frozen:
                    self.running[rm_key] = rm
                    self.running[rv_key] = rv
            else:  # activation
                cache = a
                a = binary_activation(a) if binary else ternary_activation(a)
            if train:
                caches.append(cache)
        if train:
            self._caches = caches
            self._io = {}
        return a

    def backward(self, grad_out: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the loss w.r.t. the weights (``w{i}``, (rows, cols)) and the batch-norm
        parameters (``bn{j}.gamma``, ``bn{j}.beta``), given d loss / d logits."""
        if len(self._caches) != len(self._ops):
            raise RuntimeError("backward needs a preceding forward(x, train=True)")
        g = np.asarray(grad_out, dtype=F32)
        ctx = self._ctx
        grads: dict[str, np.ndarray] = {}
        binary = self.n_bits == 0
        for op, cache in zip(reversed(self._ops), reversed(self._caches), strict=True):
            s = op.spec
            if s.type == "activation":
                g = g * (binary_ste_grad(cache) if binary else ste_grad(cache))
            elif s.type == "batchnorm":
                shape = g.shape
                g2, dgamma, dbeta = batchnorm_backward(g.reshape(-1, shape[-1]), cache)
                g = g2.reshape(shape)
                grads[f"bn{op.bidx}.gamma"] = dgamma
                grads[f"bn{op.bidx}.beta"] = dbeta
            elif s.type == "maxpool":
                g = maxpool2d_backward_nhwc(g, cache)
            elif s.type == "conv":
                assert s.kernel is not None and s.stride is not None and s.padding is not None
                cols, low = cache
                dcols = np.ascontiguousarray(g).reshape(-1, s.out_shape[0])
                grads[f"w{op.widx}"] = cols.T @ dcols
                self._io[op.widx] = (cols, dcols)
                if op.widx == 0:
                    break  # the first weighted layer: no input gradient needed
                # the input map's gradient: the transposed read folded back (col2im)
                g = np.asarray(self.backend.matmul_t(op.widx, dcols, ctx, low), dtype=F32)
            else:  # dense
                x2, in_shape = cache
                grads[f"w{op.widx}"] = x2.T @ g
                self._io[op.widx] = (x2, g)
                if op.widx == 0:
                    break
                g = np.asarray(self.backend.matmul_t(op.widx, g, ctx), dtype=F32)
                if len(in_shape) == 4:  # undo the (C, H, W) flatten, back to NHWC
                    bb, hh, ww, cc = in_shape
                    g = g.reshape(bb, cc, hh, ww).transpose(0, 2, 3, 1)
        return grads

    # ------------------------------------------------------------------ training / inference

    def train_step(self, x: np.ndarray, y: np.ndarray, lr: float, *,
                   bn: str = "batch", log: OpLog | None = None) -> dict[str, float]:
        """One mini-batch: forward (batch statistics), squared hinge, backward, Adam on all
        parameters; batch-norm parameters are updated in float, weights through
        ``backend.update`` (DST in software). lr = 0 leaves all parameters unchanged (running
        statistics and Adam moments still advance, as in the reference's epoch 0).
        ``bn="running"`` trains with batch-norm frozen at its running statistics (see
        :meth:`forward`); gamma and beta are still trained.

        Returns {"loss", "accuracy" (of this batch, before the update), "changed" (weights
        that changed state), plus the sum over layers of any other backend statistics}.
        """
        out = self.forward(x, train=True, bn=bn, log=log, lr=lr)
        ctx = self._ctx
        labels = np.asarray(y)
        loss, g = squared_hinge_loss(out, labels, self.workload.classes)
        acc = float(np.mean(out.argmax(axis=1) == labels))
        grads = self.backward(g)
        steps = self.adam.step(grads, lr)
        for name, p in self.params.items():
            p += steps[name]
        stats: dict[str, float] = {"loss": loss, "accuracy": acc, "changed": 0.0}
        for i in range(len(self.layers)):
            xi, di = self._io[i]
            for k, v in self.backend.update(i, steps[f"w{i}"], xi, di, ctx).items():
                stats[k] = stats.get(k, 0.0) + float(v)
        self._caches = []
        self._io = {}
        return stats

    def logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Inference-mode logits (running batch-norm statistics), computed in batches."""
        outs = [self.forward(x[s:s + batch_size], train=False)
                for s in range(0, len(x), batch_size)]
        if not outs:
            return np.zeros((0, self.workload.classes), F32)
        return np.concatenate(outs)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted class labels (int64) in inference mode."""
        return self.logits(x, batch_size).argmax(axis=1)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000,
                 ) -> tuple[float, float]:
        """(accuracy, mean squared-hinge loss) in inference mode."""
        if len(x) == 0:
            raise ValueError("evaluate needs at least one sample")
        out = self.logits(x, batch_size)
        labels = np.asarray(y)
        loss, _ = squared_hinge_loss(out, labels, self.workload.classes)
        return float(np.mean(out.argmax(axis=1) == labels)), loss

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume bit-exactly: weights ``w{i}`` (int8, from the backend),
        batch-norm parameters and running statistics, Adam state (``adam.*``) and, when the
        backend has its own ``state_dict`` (e.g. its rng), that too (``backend.*``)."""
        d: dict[str, np.ndarray] = {}
        for i in range(len(self.layers)):
            d[f"w{i}"] = np.asarray(self.backend.weights(i), dtype=np.int8).copy()
        for k, v in self.params.items():
            d[k] = v.copy()
        for k, v in self.running.items():
            d[k] = v.copy()
        for k, v in self.adam.state_dict().items():
            d[f"adam.{k}"] = v
        backend_sd = getattr(self.backend, "state_dict", None)
        if callable(backend_sd):
            for k, v in backend_sd().items():
                d[f"backend.{k}"] = v
        return d

    def load_state_dict(self, d: Mapping[str, np.ndarray]) -> None:
        """Restore a :meth:`state_dict`. Weights go to the backend via ``init_layer``; then the
        backend's own state (``backend.*``) is restored if it has ``load_state_dict``."""
        needed = [f"w{i}" for i in range(len(self.layers))] + [*self.params, *self.running,
                                                                "adam.t"]
        missing = [k for k in needed if k not in d]
        if missing:
            raise ValueError(f"state dict lacks {', '.join(missing)}")
        for i, layer in enumerate(self.layers):
            w = np.asarray(d[f"w{i}"])
            if w.shape != (layer.rows, layer.cols):
                raise ValueError(f"state w{i}: shape {w.shape}, expected "
                                 f"({layer.rows}, {layer.cols})")
        for store in (self.params, self.running):
            for k, v in store.items():
                if np.shape(d[k]) != v.shape:
                    raise ValueError(f"state {k}: shape {np.shape(d[k])}, expected {v.shape}")
        for i, layer in enumerate(self.layers):
            self.backend.init_layer(i, layer, np.asarray(d[f"w{i}"], dtype=np.int8))
        for store in (self.params, self.running):
            for k in store:
                store[k] = np.array(d[k], dtype=F32)
        self.adam.load_state_dict({k[5:]: v for k, v in d.items() if k.startswith("adam.")})
        backend_load = getattr(self.backend, "load_state_dict", None)
        backend_state = {k[8:]: v for k, v in d.items() if k.startswith("backend.")}
        if callable(backend_load) and backend_state:
            backend_load(backend_state)
        self._caches = []
        self._io = {}
