"""From a lesson to the view that shows the same thing at full size: the buttons of a live cell.

A live cell names its related views as ``(view, arguments)`` (``core.probe.cell_table.Action``);
``open_view`` switches to the pane that shows it, on the same model the lesson used, and points it at
the same thing: the attention map of that layer and head for the lesson's expression, a parameter in
the Inspector, a chart of the Training pane, the expression answered (or generated) in Inference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.probe.cell_table import Action

if TYPE_CHECKING:
    from workbench.app import WorkbenchApp

EMBEDDING = "embed.weight"
STRATEGIES = ("greedy", "sample", "beam")  # the Inference pane's decoding strategies


async def open_view(app: WorkbenchApp, action: Action, expression: str, choice: str) -> None:
    """Show ``action``'s view in ``app`` for ``expression`` on the model ``choice`` ("live"/"ck:NAME")."""
    from workbench.panes.inference import InferencePane
    from workbench.panes.inspector import InspectorPane

    view, args = action
    text = str(args.get("expression", expression))
    if view in ("attention", "inference", "generation", "logit_lens"):
        await app.action_show_pane("inference")
        inference = app.query_one("#inference-pane", InferencePane)
        if view == "generation" and args.get("strategy") in STRATEGIES:
            inference.set_strategy(str(args["strategy"]))
        inference.run_expression(text, model=choice)
        if view == "attention":
            inference.select_attention(int(args.get("layer", 0)), int(args.get("head", 0)))
    elif view in ("inspector", "embeddings", "gradient_check"):
        await app.action_show_pane("inspector")
        inspector = app.query_one("#inspector-pane", InspectorPane)
        if view != "gradient_check":
            inspector.selected = str(args.get("param", EMBEDDING))
        inspector.pick(choice)  # reloads the model, then shows ``selected``
        if view == "gradient_check":
            inspector.action_gradient_check()  # on the lesson's model, like the Inspector's g
    elif view == "training":
        app.action_show_chart(str(args.get("chart", "loss")))
    else:
        app.notify(f"no view called {view!r}", severity="warning")
