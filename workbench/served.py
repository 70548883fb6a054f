"""Is this app served to a browser (``workbench serve``) rather than run in the user's own terminal?

A served app takes keystrokes from a web page, so it is stricter: files are written only inside the
user's data folders, and a path outside them is refused outright instead of asking (a question on a
screen is no defence when someone else may be typing the answer). Two signs, either is enough:
``workbench serve`` runs the app with ``LLMLEARN_SERVED=1``, and textual-serve (however it was
started) runs every app with Textual's web driver. Textual-free, so panes and tests can import it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

SERVED_ENV = "LLMLEARN_SERVED"
WEB_DRIVER = "textual.drivers.web_driver"


def is_served(environ: Mapping[str, str] | None = None) -> bool:
    """True when the app runs behind textual-serve (``workbench serve`` or any other)."""
    env = os.environ if environ is None else environ
    return env.get(SERVED_ENV, "") not in ("", "0") or env.get("TEXTUAL_DRIVER", "").startswith(WEB_DRIVER)
