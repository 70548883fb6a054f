"""llmlearn workbench: the command line and (later) the Textual app on top of the NumPy core."""
