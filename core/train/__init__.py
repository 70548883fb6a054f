"""The training layer: the objective, one training step, a run, evaluation, metric history, the
events and the worker-thread session, checkpoints and the evaluation report.

May import ``core.data``, ``core.nn`` and ``core.optim``; never ``core.probe``.
"""
