"""Benchmark: pnmsim's software mode vs an optimised fp32 framework (PyTorch-CPU).

The same network (the workload's layers: conv/dense without bias, max-pool, batch-norm with
batch statistics, ternary activation with the rectangular straight-through window, squared
hinge loss, Adam, and GXNOR's DST update of the ternary weights: w + kappa L + sign(dW) L [u <
tanh(m |nu| / L)]) trained in PyTorch on the same MNIST images, batch size and number of threads
(``--threads`` sets torch's intra-op threads and NUMBA/OMP/OPENBLAS/MKL before numpy loads),
one epoch each, alternating pnmsim-software and PyTorch (P T T P ...), R repeats; prints each
repeat and the medians of wall and CPU time with the ratio pnmsim-software / PyTorch (last
column of the last line: the CPU-time ratio; target <= 1.2, issue 12).

PyTorch is a benchmark-only extra (``pip install -e '.[bench]'``), never a dependency of pnmsim;
without it the script says so and exits 2.

    PNMSIM_DATA_DIR=/work/shared/datasets python benchmarks/torch_baseline.py \
        --workload mnist_cnn --batch-size 100 [--train-limit 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any


def build_torch(torch: Any, wl: Any) -> tuple[Any, list[Any], list[Any]]:
    """The workload as a torch module; returns (model, ternary weights, batch-norm params)."""
    nn = torch.nn

    class Ternary(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:   # noqa: ANN401
            ctx.save_for_backward(x)
            return (x >= 1.0).float() - (x <= -1.0).float()

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:  # noqa: ANN401
            (x,) = ctx.saved_tensors
            ax = x.abs()
            return g * ((ax >= 0.5) & (ax <= 1.5)).float()

    class Act(nn.Module):
        def forward(self, x: Any) -> Any:       # noqa: ANN401
            return Ternary.apply(x)

    mods: list[Any] = []
    weights: list[Any] = []
    bns: list[Any] = []
    for s in wl.layers:
        if s.type == "conv":
            m = nn.Conv2d(s.in_shape[0], s.out_shape[0], s.kernel, s.stride, s.padding,
                          bias=False)
            weights.append(m.weight)
            mods.append(m)
        elif s.type == "dense":
            if len(s.in_shape) > 1:
                mods.append(nn.Flatten())
            m = nn.Linear(int(torch.tensor(s.in_shape).prod()), s.out_shape[0], bias=False)
            weights.append(m.weight)
            mods.append(m)
        elif s.type == "maxpool":
            mods.append(nn.MaxPool2d(s.size))
        elif s.type == "batchnorm":
            c = s.in_shape[0]
            m = nn.BatchNorm2d(c, eps=1e-4) if len(s.in_shape) == 3 else nn.BatchNorm1d(
                c, eps=1e-4)
            bns += [m.weight, m.bias]
            mods.append(m)
        else:
            mods.append(Act())
    model = nn.Sequential(*mods)
    with torch.no_grad():   # ternary initial weights, as pnmsim: uniform in [-1, 1], snapped
        for w in weights:
            w.copy_(torch.round(torch.empty_like(w).uniform_(-1, 1)))
    return model, weights, bns


def torch_epoch(torch: Any, wl: Any, x: Any, y: Any, batch: int, lr: float) -> None:
    model, weights, bns = build_torch(torch, wl)
    model.train()
    opt = torch.optim.Adam(list(weights) + list(bns), lr=lr, eps=1e-8)
    gen = torch.Generator().manual_seed(0)
    classes = wl.classes
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(y.astype("int64"))
    for s in range(0, len(xt), batch):
        xb, yb = xt[s:s + batch], yt[s:s + batch]
        out = model(xb)
        t = -torch.ones(len(yb), classes)
        t[torch.arange(len(yb)), yb] = 1.0
        loss = torch.clamp(1.0 - t * out, min=0.0).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        before = [w.detach().clone() for w in weights]
        opt.step()
        with torch.no_grad():   # DST: the Adam step decides a stochastic ternary move
            for w, w0 in zip(weights, before, strict=True):
                dw = w - w0
                mag = dw.abs()
                kappa = torch.floor(mag)
                p = torch.tanh(3.0 * (mag - kappa))
                u = torch.rand(w.shape, generator=gen)
                w.copy_(torch.clamp(w0 + torch.sign(dw) * (kappa + (u < p).float()), -1, 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="mnist_cnn")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    if min(a.batch_size, a.repeats, a.threads) < 1:
        ap.error("--batch-size, --repeats and --threads must be >= 1")
    if a.train_limit < 1:
        ap.error("--train-limit must be >= 1")
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        os.environ[var] = str(a.threads)
    try:
        import torch
    except ImportError:
        print("torch_baseline: PyTorch is not installed (pip install -e '.[bench]')",
              file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(a.threads)

    import numpy as np

    from pnmsim.config import load_arch
    from pnmsim.datasets import load_dataset
    from pnmsim.errors import PnmsimError
    from pnmsim.training.trainer import Trainer, TrainSettings
    from pnmsim.workload import load_workload

    try:   # a bad workload or data directory: one line, exit 2
        arch, wl = load_arch("reference"), load_workload(a.workload)
        data = load_dataset("mnist", train_limit=a.train_limit, test_limit=1, val_size=1)
        # a workload that does not take the dataset's images is refused here (the trainer of
        # pnmsim's untimed warm-up epoch, built first)
        warm = Trainer(arch, wl, data, TrainSettings(mode="software", epochs=1,
                                                     batch_size=a.batch_size, lr_start=0.1,
                                                     lr_end=0.1))
    except PnmsimError as e:
        print(f"torch_baseline: {e}", file=sys.stderr)
        sys.exit(2)
    x = np.ascontiguousarray(data.x_train, dtype=np.float32).reshape(-1, *wl.input_shape)
    y = np.asarray(data.y_train)

    def run(which: str) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        if which == "pnmsim":
            Trainer(arch, wl, data, TrainSettings(mode="software", epochs=1,
                                                  batch_size=a.batch_size, lr_start=0.1,
                                                  lr_end=0.1)).run()
        else:
            torch_epoch(torch, wl, x, y, a.batch_size, 0.1)
        return time.perf_counter() - t0, time.process_time() - c0

    nw = min(2 * a.batch_size, len(x))
    torch_epoch(torch, wl, x[:nw], y[:nw], a.batch_size, 0.1)     # warm-up, not timed
    warm.run()
    wall: dict[str, list[float]] = {"pnmsim": [], "torch": []}
    cpu: dict[str, list[float]] = {"pnmsim": [], "torch": []}
    print(f"{'workload':>10} {'images':>7} {'batch':>6} {'threads':>7} {'repeat':>8} "
          f"{'pnmsim s':>9} {'torch s':>8} {'ratio wall':>10} {'pnmsim cpu':>10} "
          f"{'torch cpu':>9} {'ratio cpu':>9}")

    def row(label: str) -> None:
        f = statistics.median if label == "median" else (lambda v: v[-1])
        pw, tw, pc, tc = f(wall["pnmsim"]), f(wall["torch"]), f(cpu["pnmsim"]), f(cpu["torch"])
        print(f"{a.workload:>10} {len(x):>7} {a.batch_size:>6} {a.threads:>7} {label:>8} "
              f"{pw:>9.2f} {tw:>8.2f} {pw / tw:>10.2f} {pc:>10.2f} {tc:>9.2f} {pc / tc:>9.2f}")

    for r in range(a.repeats):
        for which in (("pnmsim", "torch") if r % 2 == 0 else ("torch", "pnmsim")):
            w, c = run(which)
            wall[which].append(w)
            cpu[which].append(c)
        row(str(r + 1))
    row("median")


if __name__ == "__main__":
    main()
