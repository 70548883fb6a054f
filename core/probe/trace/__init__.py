"""The step debugger ("Trace"): one example through the model, forward and backward, stage by stage.

``ops`` the operations and their backward rules · ``tape`` record and backpropagate · ``forward`` the
model's forward as stages · ``backward`` the backward stages and their checks · ``update`` the
optimizer's update of one parameter · ``stage`` what is shown · ``build`` the entry points (``trace_forward``:
the forward stages alone, which the lessons' live cells read).
"""

from core.probe.trace.build import example_rows, trace_checkpoint, trace_expression, trace_forward
from core.probe.trace.stage import Axis, ForwardTrace, Stage, Trace
from core.probe.trace.update import UpdateTrace, checkpoint_optimizer, trace_update

__all__ = ["Axis", "ForwardTrace", "Stage", "Trace", "UpdateTrace", "checkpoint_optimizer", "example_rows",
           "trace_checkpoint", "trace_expression", "trace_forward", "trace_update"]
