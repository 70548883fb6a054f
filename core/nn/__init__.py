"""The network layer: parameters in one flat buffer, layers with forward and backward side by side,
the encoder and decoder models, the loss and finite-difference gradient checking.

May import ``core.data``; never the optimiser, training or probing layers.
"""
