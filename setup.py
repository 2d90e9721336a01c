"""Maps the top-level preset and workload folders into the package as package data.

The repository keeps ``arch_configs/`` and ``traces/`` at its top level; an installed pnmsim
(wheel or ``pip install .``) finds them as ``pnmsim/arch_configs`` and ``pnmsim/traces``
(:mod:`pnmsim.packaged`). Everything else is declared in ``pyproject.toml``.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {
    "pnmsim.arch_configs": "arch_configs",
    "pnmsim.arch_configs.parts": "arch_configs/parts",
    "pnmsim.traces": "traces",
}

setup(
    packages=find_packages(include=["pnmsim", "pnmsim.*"]) + list(DATA_PACKAGES),
    package_dir={"": ".", **DATA_PACKAGES},
    package_data={"pnmsim": ["data/*.npz"], **{p: ["*.yaml"] for p in DATA_PACKAGES}},
    include_package_data=False,
)
