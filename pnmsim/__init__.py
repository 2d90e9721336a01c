"""pnmsim: cycle-accurate PNM simulator of two-MTJ synapse arrays for GXNOR training."""

__version__ = "0.1.0"
