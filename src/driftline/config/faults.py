"""Named crash points, for testing that an operation survives being killed anywhere.

:func:`checkpoint` marks a place between two writes (to the store, the registry, an
endpoint). When the environment variable ``DRIFTLINE_FAULT_KILL_AT`` names that place,
the process sends itself SIGKILL there: no ``finally``, no atexit, no flush, exactly
what a crash or an out-of-memory kill does. Unset (always, outside such tests), a
checkpoint costs one dictionary lookup. The crash-safety tests
(``tests/robustness/test_promotion_faults.py``) kill a promotion at every checkpoint in
turn and check that running it again leaves one champion, one audit record and one
alert.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "DRIFTLINE_FAULT_KILL_AT"


def checkpoint(name: str) -> None:
    """Die here, at once, when ``DRIFTLINE_FAULT_KILL_AT`` is ``name`` (tests only)."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
