"""The workbench's Textual stylesheets (one .tcss per pane or group of screens), by absolute path."""

from pathlib import Path

STYLES = Path(__file__).resolve().parent
SCREENS_CSS = STYLES / "screens.tcss"
