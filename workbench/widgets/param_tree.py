"""The tree of a model's parameters by their dotted names: ``blocks.0.attn.qkv.w`` under blocks › 0 ›
attn › qkv, each leaf showing its shape and carrying the full name as its data."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from core.probe.inspection import ParamNames, tree_paths
from workbench.render.params import shape_text


class ParamTree(Tree[str]):
    """``show(names, n_params)`` rebuilds the tree; ``show_none()`` empties it; ``leaf(name)`` finds a
    parameter's node. Highlighting a leaf posts the usual ``Tree.NodeHighlighted`` (data = full name)."""

    def __init__(self, label: str = "model", id: str | None = None) -> None:
        super().__init__(label, id=id)

    def show(self, names: ParamNames, n_params: int) -> None:
        self.clear()
        self.root.set_label(f"model · {n_params:,} parameters")
        self.root.data = None

        def add(node: TreeNode[str], sub: dict[str, Any]) -> None:
            for key, value in sub.items():
                if isinstance(value, dict):
                    add(node.add(key, expand=True), value)
                else:
                    full, shape = value
                    node.add_leaf(Text.assemble(key, (f"  {shape_text(shape)}", "dim")), data=full)

        add(self.root, tree_paths(names))
        self.root.expand()

    def show_none(self, label: str = "no model") -> None:
        self.clear()
        self.root.set_label(label)

    def leaf(self, name: str) -> TreeNode[str] | None:
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.data == name:
                return node
            stack.extend(node.children)
        return None
