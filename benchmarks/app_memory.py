"""App memory benchmark: prints numbers, asserts nothing.
Run:  python -m benchmarks.app_memory --toggles 200 --switches 200 [--top 15]

Drives the workbench headless (``App.run_test`` and Pilot, no training) through settings toggles
(ctrl+l: show/hide the settings column of the Training pane) and pane switches (F2…F5 in turn), and
prints, before and after each phase (after ``gc.collect()``): the process RSS (``/proc/self/statm``),
the Python heap that ``tracemalloc`` traces, the widgets in the DOM (``app.query("*")``) and the live
``Widget`` objects ``gc`` knows about. A DOM count that stays put while the ``gc`` count climbs means
removed widgets are kept alive by something; ``--top`` then lists the allocation sites and object types
that grew, which is how the Footer's per-focus recompose was found (issue 9).

``--textual-footer`` puts Textual's ``Footer`` back, to see the old numbers. Checkpoints go to a
temporary directory (``LLMLEARN_MODELS``), as in the tests, so the run touches nothing in
``saved_models/``. Tracing slows the app ~2.5×, and 400 actions take ~9 min on a busy 2-core machine;
the numbers, not the time, are the point.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import tracemalloc
import warnings
from collections import Counter
from dataclasses import dataclass

from textual.widget import Widget

PANE_KEYS = ("f2", "f3", "f4", "f5")


@dataclass(frozen=True)
class Sample:
    """One measurement of the running app, taken after a full collection."""

    rss_mb: float
    heap_mb: float
    dom_widgets: int
    live_widgets: int

    def line(self, label: str) -> str:
        return (f"{label:<22} RSS {self.rss_mb:8.1f} MB   traced heap {self.heap_mb:7.2f} MB   "
                f"widgets in DOM {self.dom_widgets:5d}   live Widget objects {self.live_widgets:6d}")


def rss_mb() -> float:
    """Resident set size of this process (Linux: second field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def live_widgets() -> int:
    """``Widget`` objects still alive anywhere (in the DOM or not)."""
    with warnings.catch_warnings():  # isinstance on some objects of other libraries (torch's, in the suite) warns
        warnings.simplefilter("ignore")
        return sum(1 for o in gc.get_objects() if isinstance(o, Widget))


def type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


async def sample(app: object) -> Sample:
    from textual.app import App

    assert isinstance(app, App)
    gc.collect()
    return Sample(rss_mb(), tracemalloc.get_traced_memory()[0] / 2**20, len(list(app.query("*"))),
                  live_widgets())


async def toggles(pilot: object, n: int) -> None:
    """``n`` settings toggles: ctrl+l, as the user presses it."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for _ in range(n):
        await pilot.press("ctrl+l")


async def switches(pilot: object, n: int) -> None:
    """``n`` pane switches, F2…F5 in turn (each press changes the pane)."""
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for i in range(n):
        await pilot.press(PANE_KEYS[(i + 2) % len(PANE_KEYS)])  # the app opens on Training (f3): start at f4


def report_growth(before: tracemalloc.Snapshot, before_types: Counter[str], top: int) -> None:
    after = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    print(f"\n  top {top} allocation sites by growth:")
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        print(f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  {frame.filename}:{frame.lineno}")
    grown = type_counts() - before_types
    print(f"  top {top} object types by growth:")
    for name, count in grown.most_common(top):
        print(f"    {count:+7d}  {name}")


async def main(n_toggles: int, n_switches: int, warmup: int, top: int, textual_footer: bool) -> None:
    import workbench.app
    from workbench.app import WorkbenchApp

    if textual_footer:  # the app's compose looks the name up when it runs
        from textual.widgets import Footer

        workbench.app.WorkbenchFooter = Footer  # type: ignore[misc,assignment]
    app = WorkbenchApp()
    print(f"footer: {'textual.widgets.Footer' if textual_footer else 'WorkbenchFooter'}")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await switches(pilot, warmup)  # first visits build each pane's lazy parts and caches
        await toggles(pilot, 2)
        await pilot.pause()
        start = await sample(app)
        print(start.line("start (after warm-up)"))
        for label, unit, phase, n in (("toggles", "toggle", toggles, n_toggles),
                                      ("pane switches", "switch", switches, n_switches)):
            before = await sample(app)
            snap = tracemalloc.take_snapshot() if top else None
            types = type_counts() if top else Counter()
            await phase(pilot, n)
            await pilot.pause()
            after = await sample(app)
            print(after.line(f"after {n} {label}"))
            if n:
                print(f"  per {unit}: RSS {(after.rss_mb - before.rss_mb) * 1024 / n:+.1f} KiB, "
                      f"heap {(after.heap_mb - before.heap_mb) * 1024 / n:+.1f} KiB, "
                      f"live widgets {(after.live_widgets - before.live_widgets) / n:+.2f}")
            if snap is not None and n:
                report_growth(snap, types, top)
        end = await sample(app)
        print(f"\ntotal: RSS {end.rss_mb - start.rss_mb:+.1f} MB, traced heap {end.heap_mb - start.heap_mb:+.2f} MB, "
              f"live Widget objects {end.live_widgets - start.live_widgets:+d}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--toggles", type=int, default=200, help="settings toggles (ctrl+l)")
    parser.add_argument("--switches", type=int, default=200, help="pane switches (F2…F5)")
    parser.add_argument("--warmup", type=int, default=20, help="pane switches before the first sample")
    parser.add_argument("--top", type=int, default=0, help="list the N allocation sites/types that grew")
    parser.add_argument("--textual-footer", action="store_true",
                        help="for comparison: Textual's own Footer (the one that leaks) instead of WorkbenchFooter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as models:
        os.environ["LLMLEARN_MODELS"] = models
        tracemalloc.start(1)
        asyncio.run(main(args.toggles, args.switches, args.warmup, args.top, args.textual_footer))


if __name__ == "__main__":
    cli()
