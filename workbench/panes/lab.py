"""The Lab pane: take the model apart — which heads matter, where the answer lives, who writes it.

Sections (each runs on a *copy* of the chosen model in a thread worker, ``workbench.lab_probes``; the
results come back as messages and are drawn by ``workbench.render.lab``):

* **Heads** (a) — every head switched off alone (zero or mean ablation): the drop of the answer margin by
  operation as a heatmap, the accuracy drop, and one caption per head from its attention on held-out data
  and its QK/OV circuits — two methods side by side, so a learner can see when they agree;
* **Ablate** (b) — any heads, neurons (``1:top8``) or sublayers off: accuracy before and after by operation,
  the margin change and the weakest slice. On the live run, "keep it on while training" installs the same
  mask in the training model between steps, so a learner can watch whether other heads take over; turning
  it off restores the model bit for bit (the weights were never touched);
* **Patch** (p) — activation patching of a clean input into a corrupted one (made for the task, or typed):
  the share of the logit difference each residual (position, layer) and each head recovers;
* **Attribute** (t) — direct logit attribution of one input: each head's, FFN's and embedding's share of the
  answer's logit, adding up to it exactly with the final LayerNorm scale frozen (said on screen);
* **Circuits** — one head's QK (what the operation tokens look for among the digits) and OV (what attending
  to a digit writes) over the vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Collapsible, Input, Label, Select, Static

from core.probe.lab.activations import set_hooks
from core.probe.lab.attribution import Attribution
from core.probe.lab.corruptions import CORRUPTIONS
from core.train.session import TrainingSession
from workbench.lab_probes import Ablated, HeadAtlas, Patched, ablate, attribution, head_atlas, patching
from workbench.model_source import LIVE, ModelChoice, ModelSource
from workbench.render.lab import ablation_text, atlas_text, attribution_text, circuit_text, patching_text
from workbench.widgets.model_chooser import ModelChooser
from workbench.widgets.tick_box import TickBox

AUTOMATIC = "automatic"


class LabPane(Widget):
    """The Lab on the live run (via ``source``/``get_session``) or a checkpoint picked at the top."""

    DEFAULT_CSS = """
    LabPane { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "heads", "Heads", tooltip="Switch off each head alone; caption every head"),
        Binding("b", "ablate", "Ablate", tooltip="Switch off the heads, neurons or sublayers named in the form"),
        Binding("p", "patch", "Patch", tooltip="Activation patching of the clean input into the corrupted one"),
        Binding("t", "attribute", "Attribute", tooltip="Direct logit attribution of the expression"),
        Binding("m", "choose_model", "Model", tooltip="Choose the model: the live run or a saved one"),
    ]

    class Done(Message):
        """A worker's result (or the reason there is none) for section ``what``."""

        def __init__(self, what: str, result: Any) -> None:
            super().__init__()
            self.what, self.result = what, result

    def __init__(self, source: ModelSource | None = None,
                 get_session: Callable[[], TrainingSession | None] | None = None, *,
                 models_root: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.models = ModelChoice(source, models_root, get_session)
        self.models_root = models_root
        self.atlas: HeadAtlas | None = None
        self.ablated: Ablated | None = None
        self.patched: Patched | None = None
        self.attributed: Attribution | None = None
        self.live_ablation: str | None = None  # what the training run has switched off, if anything
        self.live_session: TrainingSession | None = None  # the session it was installed in
        self.busy: set[str] = set()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="lab-row"):
            yield Label("model ", classes="lab-label")
            yield ModelChooser(self.models_root, self.models.choice, id="lab-model")
        yield Static("", id="lab-status")
        with VerticalScroll(id="lab-body"):
            with Collapsible(title="Heads: what each does, and what the answers lose without it (a)",
                             collapsed=False, id="lab-heads-section"):
                with Horizontal(classes="lab-row"):
                    yield TickBox("mean ablation", id="lab-heads-mean", compact=True,
                                   tooltip="Replace a head by its mean output instead of zero")
                    yield Button("Switch off each head", id="lab-heads-run", compact=True)
                yield Static(Text("Press a: each head is switched off alone and every head gets a caption.",
                                  style="dim"), id="lab-atlas")
            with Collapsible(title="Ablate: switch parts of the model off (b)", collapsed=False,
                             id="lab-ablate-section"):
                # examples that exist in every model (layer 0, heads 0 and 1): a one-layer model has no 1.3
                for key, label, hint in (("heads", "heads", "0.0,0.1 (layer.head) or all"),
                                         ("neurons", "neurons", "0:top8, 0:5-9, 0:7"),
                                         ("sublayers", "sublayers", "0.attn, 0.ffn")):
                    with Horizontal(classes="lab-row"):
                        yield Label(f"{label:<10}", classes="lab-label")
                        yield Input(placeholder=hint, id=f"lab-{key}", compact=True)
                with Horizontal(classes="lab-row"):
                    yield TickBox("mean", id="lab-ablate-mean", compact=True)
                    yield TickBox("keep on while training", id="lab-keep", compact=True,
                                   tooltip="The live run trains with these parts switched off")
                    yield Button("Apply", id="lab-ablate-run", compact=True)
                yield Static("", id="lab-ablation")
            with Collapsible(title="Patch: where does the answer live? (p)", collapsed=False, id="lab-patch-section"):
                with Horizontal(classes="lab-row"):
                    yield Label("clean     ", classes="lab-label")
                    yield Input(value="Max(3, 7, 2)", id="lab-clean", compact=True)
                with Horizontal(classes="lab-row"):
                    yield Label("corrupted ", classes="lab-label")
                    yield Input(placeholder="empty: made from the clean input", id="lab-corrupt", compact=True)
                with Horizontal(classes="lab-row"):
                    yield Select([(AUTOMATIC, AUTOMATIC), *((name, name) for name, _, _ in CORRUPTIONS)],
                                 value=AUTOMATIC, allow_blank=False, compact=True, id="lab-corruption")
                    yield Button("Patch", id="lab-patch-run", compact=True)
                yield Static("", id="lab-patching")
            with Collapsible(title="Attribute: who pushes the answer's logit (t)", collapsed=False,
                             id="lab-attr-section"):
                with Horizontal(classes="lab-row"):
                    yield Input(value="Max(3, 7, 2)", id="lab-attr-input", compact=True)
                    yield Button("Attribute", id="lab-attr-run", compact=True)
                yield Static("", id="lab-attribution")
            with Collapsible(title="Circuits: one head over the vocabulary", collapsed=False,
                             id="lab-circuit-section"):
                yield Select([], prompt="head (after a)", compact=True, id="lab-circuit-head")
                yield Static("", id="lab-circuit")

    def on_mount(self) -> None:
        self._status()

    def focus_default(self) -> None:
        """Focus the Heads section's button, so the pane's keys a/b/p/t work and show in the footer."""
        self.query_one("#lab-heads-run", Button).focus()

    # -- the model ---------------------------------------------------------------------------------------
    @property
    def choice(self) -> str:
        return self.models.choice

    def pick(self, choice: str) -> None:
        choice = self.models.pick(choice)
        if self.is_mounted:
            self.query_one("#lab-model", ModelChooser).choice = choice
            self.atlas = None
            self.query_one("#lab-atlas", Static).update(Text(f"{self._label()}: press a to switch off each head.",
                                                             style="dim"))
            self.query_one("#lab-circuit-head", Select).set_options([])
            self.query_one("#lab-circuit", Static).update("")
            self._status()

    def action_choose_model(self) -> None:
        chooser = self.query_one("#lab-model", ModelChooser)
        chooser.focus()
        chooser.action_show_overlay()

    @on(ModelChooser.Chosen, "#lab-model")
    def _model_chosen(self, event: ModelChooser.Chosen) -> None:
        event.stop()
        if event.choice != self.choice:
            self.pick(event.choice)

    def _label(self) -> str:
        return "the live run" if self.choice == LIVE else self.choice.removeprefix("ck:")

    def _status(self, extra: str = "") -> None:
        parts = [f"Lab on {self._label()} · tools run on a copy: no weight changes"]
        if self.live_ablation:
            parts.append(f"the training run has {self.live_ablation} switched off")
        if extra:
            parts.append(extra)
        self.query_one("#lab-status", Static).update(Text(" · ".join(parts), style="dim"))

    def _start(self, what: str, target: str) -> bool:
        if what in self.busy:
            return False
        self.busy.add(what)
        self.query_one(target, Static).update(Text("working…", style="dim"))
        return True

    # -- actions ----------------------------------------------------------------------------------------
    def action_heads(self) -> None:
        if self._start("heads", "#lab-atlas"):
            self._run("heads", head_atlas, self.models.source(), self.query_one("#lab-heads-mean", Checkbox).value)

    def action_ablate(self) -> None:
        if self._start("ablate", "#lab-ablation"):
            values = [self.query_one(f"#lab-{k}", Input).value for k in ("heads", "neurons", "sublayers")]
            self._run("ablate", ablate, self.models.source(), *values,
                      self.query_one("#lab-ablate-mean", Checkbox).value)

    def action_patch(self) -> None:
        if self._start("patch", "#lab-patching"):
            corruption = self.query_one("#lab-corruption", Select).value
            self._run("patch", patching, self.models.source(), self.query_one("#lab-clean", Input).value,
                      self.query_one("#lab-corrupt", Input).value,
                      None if corruption in (AUTOMATIC, Select.NULL) else str(corruption))

    def action_attribute(self) -> None:
        if self._start("attribute", "#lab-attribution"):
            self._run("attribute", attribution, self.models.source(), self.query_one("#lab-attr-input", Input).value)

    @work(thread=True, group="lab", exit_on_error=False)
    def _run(self, what: str, probe: Callable[..., Any], *args: Any) -> None:
        self.post_message(self.Done(what, probe(*args)))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        action = {"lab-heads-run": self.action_heads, "lab-ablate-run": self.action_ablate,
                  "lab-patch-run": self.action_patch, "lab-attr-run": self.action_attribute}.get(event.button.id or "")
        if action is not None:
            event.stop()
            action()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        wid = event.input.id or ""
        if wid in ("lab-heads", "lab-neurons", "lab-sublayers"):
            self.action_ablate()
        elif wid in ("lab-clean", "lab-corrupt"):
            self.action_patch()
        elif wid == "lab-attr-input":
            self.action_attribute()

    # -- results -----------------------------------------------------------------------------------------
    @on(Done)
    def _done(self, event: Done) -> None:
        self.busy.discard(event.what)
        target = {"heads": "#lab-atlas", "ablate": "#lab-ablation", "patch": "#lab-patching",
                  "attribute": "#lab-attribution"}[event.what]
        result = event.result
        static = self.query_one(target, Static)
        if isinstance(result, str):
            static.update(Text(f"✗ {result}", style="bold yellow"))
            return
        if event.what == "heads":
            self.atlas = result
            static.update(atlas_text(result))
            heads = [str(c.head) for c in result.circuits]
            chooser = self.query_one("#lab-circuit-head", Select)
            chooser.set_options([(h, h) for h in heads])
            if heads:
                chooser.value = heads[0]  # its Changed message shows that head's circuits
            self.show_circuit(heads[0] if heads else None)
        elif event.what == "ablate":
            self.ablated = result
            static.update(ablation_text(result))
            self._keep_live(result)
        elif event.what == "patch":
            self.patched = result
            static.update(patching_text(result))
        else:
            label, self.attributed = result
            static.update(attribution_text(label, result[1]))

    @on(Select.Changed, "#lab-circuit-head")
    def _head_chosen(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.show_circuit(str(event.value))

    def show_circuit(self, head: str | None) -> None:
        static = self.query_one("#lab-circuit", Static)
        if self.atlas is None or head is None:
            static.update("")
            return
        index = [str(c.head) for c in self.atlas.circuits].index(head)
        circuit = self.atlas.circuits[index]
        # the queries that read the answer: the operation token (encoder, position 0) or "=" (decoder)
        queries = list(self.atlas.operations) if self.atlas.kind == "encoder" else ["="]
        static.update(circuit_text(circuit, queries, self.atlas.outputs, self.atlas.circuit_captions[index]))

    # -- an ablation that stays on while the live run trains ----------------------------------------------
    @on(Checkbox.Changed, "#lab-keep")
    def _keep_changed(self, event: Checkbox.Changed) -> None:
        if not event.value:
            self._clear_live()
        elif self.ablated is not None:
            self._keep_live(self.ablated)

    def _keep_live(self, ablated: Ablated) -> None:
        if not self.query_one("#lab-keep", Checkbox).value:
            return
        session = self.models.session() if self.choice == LIVE else None
        if session is None:
            self._status("keep on while training works on the live run only")
            return
        if not ablated.hooks:
            self._clear_live()
            return
        hooks = ablated.hooks
        session.request(lambda run: set_hooks(run.model, hooks))
        self.live_ablation, self.live_session = ablated.result.ablation.describe(), session
        self._status()

    def _clear_live(self) -> None:
        if self.live_session is not None:
            self.live_session.request(lambda run: set_hooks(run.model, {}))
        self.live_ablation = self.live_session = None
        self._status()

