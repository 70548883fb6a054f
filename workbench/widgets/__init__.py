"""Reusable widgets of the workbench: settings form fields, run status, steering bar, chart panel and
charts, attention map, console input, model chooser, parameter tree, gradient-check view, progress."""
