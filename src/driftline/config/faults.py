"""Named crash points, for testing that an operation survives being killed anywhere.

:func:`checkpoint` marks a place between two writes (to the store, the registry, an
endpoint). When the environment variable ``DRIFTLINE_FAULT_KILL_AT`` names that place,
the process sends itself SIGKILL there: no ``finally``, no atexit, no flush, exactly
what a crash or an out-of-memory kill does. Unset (always, outside such tests), a
checkpoint costs two dictionary lookups. In-process tests can also :func:`inject` an
action at a checkpoint (terminate the store's PostgreSQL connection, raise the error a
lost connection raises) to check that an operation interrupted there keeps nothing
half-done and says what happened. The crash-safety tests
(``tests/robustness/test_promotion_faults.py``) kill a promotion at every checkpoint in
turn and check that running it again leaves one champion, one audit record and one
alert.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

FAULT_ENV = "DRIFTLINE_FAULT_KILL_AT"


_ACTIONS: dict[str, Callable[[], None]] = {}


def checkpoint(name: str) -> None:
    """Die here, at once, when ``DRIFTLINE_FAULT_KILL_AT`` is ``name``; run the action
    :func:`inject` set for ``name`` (tests only)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    action = _ACTIONS.get(name)
    if action is not None:
        action()


@contextmanager
def inject(name: str, action: Callable[[], None]) -> Iterator[None]:
    """Within the block, ``checkpoint(name)`` calls ``action`` (which may raise)."""
    _ACTIONS[name] = action
    try:
        yield
    finally:
        _ACTIONS.pop(name, None)
