"""The data layer: vocabulary, operations, tasks, expressions, sampling, datasets and batching.

Lowest layer of the library after the utilities (``core.errors``, ``core.validation``, ``core.atomic``):
it knows nothing of networks, optimisers or training.
"""
