"""The workbench's panes, one module each: Dataset, Training, Inference and Inspector."""
