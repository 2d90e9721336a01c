"""pnmsim: a cycle-accurate processing-near-memory simulator of MTJ synapse arrays for GXNOR training."""

__version__ = "0.1.0"
