"""Text renderers of the workbench: plain functions from data to ``rich.text.Text``, no Textual.

Widgets and panes call them to draw; tests call them directly and assert on the text.
"""
