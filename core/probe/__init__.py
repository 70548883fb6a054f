"""The probing layer: answering typed expressions, decoding strategies, the logit lens, parameter
statistics and the gradient-check report — everything that looks inside a trained model.

The top layer of the library: it may import every other layer.
"""
