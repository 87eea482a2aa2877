"""Progress of long work, reported to whoever asked for it.

The core says how far it got through a plain callable, a :data:`Progress`, so it stays
free of any user interface: the CLI turns the reports into rich progress bars on a
terminal (:func:`driftline.cli.output.progress_bars`), a test collects them in a list, and
everything else passes nothing (:func:`no_progress`). A report is a :class:`Step`: which
piece of work (``task``, one bar each), how many of its ``total`` units are done, and a
note saying what is happening now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """``done`` of ``total`` units of ``task`` are finished; ``note`` names the current
    unit (a window, a stage such as ``fitting``)."""

    task: str
    done: int
    total: int
    note: str = ""


#: Receives each :class:`Step`; must not raise (the work does not guard against it).
Progress = Callable[[Step], None]


def no_progress(step: Step) -> None:
    """The :data:`Progress` of callers that show none."""


class Stages:
    """The named stages of one piece of work, reported in order: ``stages("fitting")``
    says the stages before ``fitting`` are done and ``fitting`` runs; :meth:`finish`
    says every stage is done. A stage not in the list is reported as the next one."""

    def __init__(self, progress: Progress | None, task: str, names: Sequence[str]) -> None:
        self.progress = progress or no_progress
        self.task = task
        self.names = tuple(names)
        self._done = 0

    def __call__(self, name: str) -> None:
        if name in self.names:
            self._done = max(self._done, self.names.index(name))
        self.progress(Step(self.task, self._done, len(self.names), name))

    def finish(self) -> None:
        self._done = len(self.names)
        self.progress(Step(self.task, self._done, self._done, "done"))
