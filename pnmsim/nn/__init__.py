"""The network engine, neutral between the simulation core and the training loop: layers and
their gradients (:mod:`.layers`), the GXNOR weight space and DST update (:mod:`.gxnor`) and the
network over a pluggable matrix backend (:mod:`.network`)."""
