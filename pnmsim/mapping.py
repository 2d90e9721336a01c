"""Mapping a network onto crossbar tiles (pure: no simulation state).

Each weighted layer's matrix (rows = inputs K, cols = outputs N) is split into a grid of
``ceil(K / tile_rows) x ceil(N / tile_cols)`` tiles; a tile holds a block of the matrix and
layers never share a tile. When a layer is split over several row tiles, each output column has
partial sums in several tiles, combined either

* ``digital``: each tile converts its partial sums (ADC) and an accumulator adds them, or
* ``analog``: the column lines of the row tiles are joined so the currents add before sensing
  (one conversion per column; the joined line's extra capacitance is not modelled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pnmsim.config import ArchConfig
from pnmsim.errors import ConfigError
from pnmsim.workload import WeightedLayer, Workload


@dataclass(frozen=True)
class LayerMapping:
    layer: WeightedLayer
    index: int            # weighted-layer index
    row_tiles: int
    col_tiles: int
    first_tile: int       # global index of this layer's first tile
    tile_rows: int
    tile_cols: int

    @property
    def tiles(self) -> int:
        return self.row_tiles * self.col_tiles

    @property
    def utilisation(self) -> float:
        """Fraction of the layer's tiles' synapses that hold weights."""
        return self.layer.rows * self.layer.cols / (self.tiles * self.tile_rows * self.tile_cols)

    def rows_in(self, r: int) -> int:
        """Rows used in row-tile ``r``."""
        return min(self.tile_rows, self.layer.rows - r * self.tile_rows)

    def cols_in(self, c: int) -> int:
        """Columns used in column-tile ``c``."""
        return min(self.tile_cols, self.layer.cols - c * self.tile_cols)


@dataclass(frozen=True)
class NetworkMapping:
    layers: tuple[LayerMapping, ...]
    max_tiles: int

    @property
    def tiles(self) -> int:
        return sum(m.tiles for m in self.layers)

    @property
    def synapses(self) -> int:
        return sum(m.layer.rows * m.layer.cols for m in self.layers)

    @property
    def utilisation(self) -> float:
        cap = sum(m.tiles * m.tile_rows * m.tile_cols for m in self.layers)
        return self.synapses / cap if cap else 0.0


def map_network(workload: Workload, arch: ArchConfig) -> NetworkMapping:
    """Place every weighted layer on its own grid of tiles; error if the chip is too small."""
    tr, tc = arch.array.tile_rows, arch.array.tile_cols
    out: list[LayerMapping] = []
    nxt = 0
    for i, layer in enumerate(workload.weighted_layers()):
        m = LayerMapping(layer=layer, index=i, row_tiles=math.ceil(layer.rows / tr),
                         col_tiles=math.ceil(layer.cols / tc), first_tile=nxt,
                         tile_rows=tr, tile_cols=tc)
        nxt += m.tiles
        out.append(m)
    if nxt > arch.array.max_tiles:
        worst = max(out, key=lambda m: m.tiles)
        raise ConfigError(arch.name, "array.max_tiles", arch.array.max_tiles,
                          f">= {nxt} tiles to hold workload {workload.name!r} "
                          f"({worst.layer.name} alone needs {worst.tiles} tiles of {tr}x{tc}); "
                          "raise array.max_tiles or the tile size")
    return NetworkMapping(layers=tuple(out), max_tiles=arch.array.max_tiles)


def sense_groups(arch: ArchConfig, mp: LayerMapping) -> tuple[int, int]:
    """How a layer's forward partial sums are formed: (groups, row tiles per group). Each group
    of row tiles is sensed as one line (analog partial sums join at most
    ``array.max_analog_fanin`` tiles; digital partial sums sense every tile alone); more than
    one group means the groups are digitised and added digitally."""
    per = 1 if arch.array.partial_sums == "digital" else arch.array.max_analog_fanin
    per = min(per, mp.row_tiles)
    return -(-mp.row_tiles // per), per


def bus_words(arch: ArchConfig, mp: LayerMapping, phase: str, vectors: int) -> int:
    """Words a layer's operation moves over the shared bus for ``vectors`` products: its outputs
    (feedforward: cols per product, plus the partial sums of every further sensed group of row
    tiles when they are combined digitally; backprop: rows per product from every column tile)."""
    if phase == "feedforward":
        parts = sense_groups(arch, mp)[0]
        return vectors * mp.layer.cols * parts
    return vectors * mp.layer.rows * mp.col_tiles


def tile_name(index: int) -> str:
    """The component-tree name of global tile ``index``: ``chip.tile[07]``."""
    return f"chip.tile[{index:02d}]"
