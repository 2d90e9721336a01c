"""Workload loading: shipped traces, shape/MAC arithmetic, and strict errors with key paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pnmsim.errors import ConfigError
from pnmsim.workload import (
    TRACES_DIR,
    Workload,
    builtin_workloads,
    load_workload,
    workload_from_dict,
)

SHIPPED = ["cifar10_vgg", "mnist_cnn", "mnist_mlp", "svhn_vgg", "tiny_cnn", "tiny_mlp"]


def test_builtin_names() -> None:
    assert set(SHIPPED) <= set(builtin_workloads())


@pytest.mark.parametrize("name", builtin_workloads())
def test_every_trace_loads_and_round_trips(name: str) -> None:
    w = load_workload(name)
    assert isinstance(w, Workload)
    assert w.name == name
    assert w.source.strip()
    assert w.layers[-1].type == "batchnorm"
    assert w.layers[-1].out_shape == (w.classes,)
    assert w == load_workload(TRACES_DIR / f"{name}.yaml")  # path and bare name agree
    assert workload_from_dict(w.to_dict(), source="x") == w
    wl = w.weighted_layers()
    assert wl[0].first and not any(layer.first for layer in wl[1:])
    assert w.macs_per_sample() == sum(layer.rows * layer.cols * layer.positions for layer in wl)


def test_mnist_cnn_arithmetic() -> None:
    w = load_workload("mnist_cnn")
    assert w.input_shape == (1, 28, 28) and w.classes == 10 and w.weights == "ternary"
    got = [(x.name, x.kind, x.rows, x.cols, x.positions, x.in_shape, x.out_shape)
           for x in w.weighted_layers()]
    assert got == [
        # 28 - 5 + 1 = 24 -> 24 * 24 = 576 positions; rows = 1 * 5 * 5
        ("conv1", "conv", 1 * 5 * 5, 32, 24 * 24, (1, 28, 28), (32, 24, 24)),
        # pool 24 -> 12; 12 - 5 + 1 = 8 -> 64 positions; rows = 32 * 5 * 5
        ("conv2", "conv", 32 * 5 * 5, 64, 8 * 8, (32, 12, 12), (64, 8, 8)),
        # pool 8 -> 4; flatten 64 * 4 * 4 = 1024
        ("fc3", "dense", 64 * 4 * 4, 512, 1, (64, 4, 4), (512,)),
        ("fc4", "dense", 512, 10, 1, (512,), (10,)),
    ]
    assert [x.layer_index for x in w.weighted_layers()] == [0, 4, 8, 11]
    assert w.macs_per_sample() == 25 * 32 * 576 + 800 * 64 * 64 + 1024 * 512 + 512 * 10


def test_vgg_arithmetic() -> None:
    w = load_workload("cifar10_vgg")
    got = [(x.rows, x.cols, x.positions) for x in w.weighted_layers()]
    assert got == [
        (3 * 9, 128, 32 * 32), (128 * 9, 128, 32 * 32),
        (128 * 9, 256, 16 * 16), (256 * 9, 256, 16 * 16),
        (256 * 9, 512, 8 * 8), (512 * 9, 512, 8 * 8),
        (512 * 4 * 4, 1024, 1), (1024, 10, 1),
    ]
    types = [lay.type for lay in w.layers]
    # conv-conv-pool block: conv -> BN -> act -> conv -> pool -> BN -> act
    assert types[:7] == ["conv", "batchnorm", "activation", "conv", "maxpool", "batchnorm",
                         "activation"]
    svhn = load_workload("svhn_vgg")
    assert svhn.weighted_layers() == w.weighted_layers()
    assert "[open]" in svhn.source


def test_odd_maxpool_floors_and_defaults() -> None:
    d = _base()
    d["input"] = {"channels": 2, "height": 9, "width": 7}
    d["layers"] = [{"type": "conv", "out_channels": 3, "kernel": 3, "stride": 2},  # 4 x 3
                   {"type": "maxpool", "size": 2},  # 2 x 1
                   {"type": "batchnorm"}, {"type": "activation"},
                   {"type": "dense", "units": 4}, {"type": "batchnorm"}]
    w = workload_from_dict(d)
    assert w.layers[0].out_shape == (3, 4, 3)
    assert w.layers[0].stride == 2 and w.layers[0].padding == 0
    assert w.layers[1].out_shape == (3, 2, 1)
    assert w.weighted_layers()[1].rows == 6
    assert w.weights == "ternary"  # default


# ----------------------------------------------------------------------------- errors


def _base() -> dict:
    return {
        "name": "t", "source": "test", "input": {"channels": 1, "height": 8, "width": 8},
        "classes": 4, "weights": "ternary",
        "layers": [
            {"type": "conv", "out_channels": 4, "kernel": 3, "padding": 1},
            {"type": "maxpool", "size": 2},
            {"type": "batchnorm"},
            {"type": "activation"},
            {"type": "dense", "units": 4},
            {"type": "batchnorm"},
        ],
    }


def _set(d: dict, path: str, value: object) -> None:
    """Set d[a][b]... for 'a.b' / 'layers.2.kernel'; value DELETE removes the key."""
    parts = path.split(".")
    cur: object = d
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]  # type: ignore[index]
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    elif value is DELETE:
        del cur[last]  # type: ignore[union-attr]
    else:
        cur[last] = value  # type: ignore[index]


DELETE = object()

ERROR_CASES = [
    # (mutation path, value, expected key path in the error)
    ("colour", "red", "colour"),                               # unknown top-level key
    ("input.depth", 3, "input.depth"),                         # unknown nested key
    ("layers.0.dilation", 2, "layers[0].dilation"),            # unknown layer key
    ("layers.2.units", 3, "layers[2].units"),                  # key of another layer type
    ("layers.3.type", "convv", "layers[3].type"),              # unknown layer type
    ("name", DELETE, "name"),                                  # missing required key
    ("layers.0.kernel", DELETE, "layers[0].kernel"),           # missing layer parameter
    ("layers.0.kernel", "3", "layers[0].kernel"),              # wrong type
    ("layers.0.kernel", 2.5, "layers[0].kernel"),              # float for int
    ("layers.0.kernel", True, "layers[0].kernel"),             # bool is not an int
    ("layers.0.kernel", 0, "layers[0].kernel"),                # non-positive size
    ("layers.0.kernel", 11, "layers[0].kernel"),               # kernel > padded input (10)
    ("layers.0.out_channels", -4, "layers[0].out_channels"),
    ("layers.0.padding", -1, "layers[0].padding"),
    ("layers.0.stride", 0, "layers[0].stride"),
    ("layers.1.size", 9, "layers[1].size"),                    # pool window > input
    ("layers.4.units", 0, "layers[4].units"),
    ("input.height", 0, "input.height"),
    ("input", [1, 8, 8], "input"),
    ("classes", 5, "classes"),                                 # last layer has 4 outputs
    ("classes", 1, "classes"),
    ("weights", "quaternary", "weights"),
    ("name", "", "name"),
    ("source", 3, "source"),
    ("layers", [], "layers"),
    ("layers.2", "batchnorm", "layers[2]"),                    # not a mapping
    ("layers.3", {"type": "batchnorm"}, "layers[3].type"),     # batchnorm twice
    ("layers.2", {"type": "activation"}, "layers[2].type"),    # activation not after BN
    ("layers.3", {"type": "dense", "units": 4}, "layers[3].type"),  # weighted after BN, no act
    ("layers.0", {"type": "batchnorm"}, "layers[0].type"),     # batchnorm first
    ("layers.5", {"type": "activation"}, "layers[5].type"),    # ends with activation
    ("layers.4", {"type": "conv", "out_channels": 4, "kernel": 1}, "classes"),  # 3-D output
]


@pytest.mark.parametrize(("path", "value", "key"), ERROR_CASES,
                         ids=[f"{c[0]}={c[1]!r}"[:40] for c in ERROR_CASES])
def test_config_errors_name_file_and_key(tmp_path: Path, path: str, value: object,
                                         key: str) -> None:
    d = _base()
    _set(d, path, value)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    with pytest.raises(ConfigError) as ei:
        load_workload(f)
    assert ei.value.key == key
    msg = str(ei.value)
    assert "bad.yaml" in msg and f": {key}: got " in msg and "allowed: " in msg


def test_error_message_format() -> None:
    d = _base()
    d["layers"][3]["type"] = "convv"
    with pytest.raises(ConfigError) as ei:
        workload_from_dict(d, source="traces/x.yaml")
    assert str(ei.value) == ("traces/x.yaml: layers[3].type: got 'convv'; allowed: one of conv, "
                             "dense, maxpool, batchnorm, activation")


def test_conv_after_dense_and_pool_after_dense() -> None:
    d = _base()
    d["layers"] = [{"type": "dense", "units": 8}, {"type": "batchnorm"},
                   {"type": "activation"},
                   {"type": "conv", "out_channels": 4, "kernel": 1},
                   {"type": "batchnorm"}]
    with pytest.raises(ConfigError, match=r"layers\[3\]\.type: got 'conv'"):
        workload_from_dict(d)
    d["layers"][3] = {"type": "maxpool", "size": 2}
    with pytest.raises(ConfigError, match=r"layers\[3\]\.type: got 'maxpool'"):
        workload_from_dict(d)


def test_yaml_level_errors(tmp_path: Path) -> None:
    f = tmp_path / "syntax.yaml"
    f.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match=r"syntax\.yaml: \(yaml\): .*valid YAML"):
        load_workload(f)
    f.write_text("name: a\nname: b\n")
    with pytest.raises(ConfigError, match="duplicate key 'name'"):
        load_workload(f)
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"\(top level\)"):
        load_workload(f)
    with pytest.raises(ConfigError, match="an existing YAML file"):
        load_workload(tmp_path / "missing.yaml")


def test_unknown_bare_name_lists_available() -> None:
    with pytest.raises(ConfigError) as ei:
        load_workload("no_such_net")
    assert ei.value.key == "name"
    assert "mnist_cnn" in str(ei.value) and "tiny_mlp" in str(ei.value)
