"""Progress bars for store and read on a terminal (rich, on stderr); silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pywalrus.client.client import Progress

LABELS = {
    "encoding": "encoding",
    "registering": "registering",
    "uploading": "uploading slivers",
    "certifying": "certifying",
    "metadata": "fetching metadata",
    "slivers": "fetching slivers",
    "decoding": "decoding",
}


@contextmanager
def progress_bars(enabled: bool) -> Iterator[Progress | None]:
    """A progress callback drawing one bar per stage, when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn
    from rich.progress import Progress as Bars

    bars = Bars(
        TextColumn("{task.description:20}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(LABELS.get(stage, stage), total=max(total, 1))
        bars.update(tasks[stage], completed=done, total=max(total, 1))

    with bars:
        yield update
