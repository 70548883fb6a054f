"""The Lab: take a model apart while it trains — ablation, activation patching, direct logit attribution and
the circuits of each head over the vocabulary. Every tool works through the hook points of
``core.nn.layers.hooks``: a mask in the forward pass, never a change to a weight."""
