"""Regenerate ``pnmsim/data/mnist_sample.npz`` from the official MNIST t10k IDX files.

The sample is the first ``--count`` (default 512) test images and labels, stored as uint8 with
``np.savez_compressed`` under the keys ``images`` (N, 28, 28) and ``labels`` (N,).

    python benchmarks/make_embedded_sample.py --data-dir ../shared/datasets

(with pnmsim installed, or ``PYTHONPATH=.`` from the repository root).
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from pnmsim.datasets import locate_dataset, read_idx_images, read_idx_labels

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "pnmsim" / "data" / "mnist_sample.npz"


@click.command()
@click.option("--data-dir", default=None, help="Folder holding mnist/ (default: the usual lookup).")
@click.option("--count", default=512, show_default=True, help="How many test images to keep.")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_OUT, show_default=True
)
def main(data_dir: str | None, count: int, out: Path) -> None:
    files = locate_dataset("mnist", data_dir)
    images = read_idx_images(files["test_images"])[:count]
    labels = read_idx_labels(files["test_labels"])[:count]
    if len(images) != count or len(labels) != count:
        raise click.ClickException(f"only {len(images)} images / {len(labels)} labels available")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        images=np.ascontiguousarray(images, dtype=np.uint8),
        labels=np.ascontiguousarray(labels, dtype=np.uint8),
    )
    click.echo(
        f"wrote {out} ({out.stat().st_size} bytes, {count} images from {files['test_images'].name})"
    )


if __name__ == "__main__":
    main()
