"""Registries at driftline's extension points: tasks, drift engines, trainers, alert channels.

Each extension point is one :class:`Registry`. A built-in registers itself in the module
that defines it (``TASKS.register(BinaryClassification())``); the registry imports its
built-in modules and the Python entry points of its group the first time it is read, so
spec validation, the CLI and the flows all see the same set. Third parties add to a
registry the way pytest plugins do, with an entry point in their package's metadata::

    [project.entry-points."driftline.engines"]
    my_engine = "my_package.drift:MyEngine"

The entry point names a class or an instance with a ``name`` attribute (a class is
instantiated without arguments). ``driftline plugins`` lists every registry with where
each entry came from.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from driftline.config.errors import SpecError

log = logging.getLogger(__name__)

T = TypeVar("T")
BUILTIN = "driftline (built in)"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered implementation and where it came from (``driftline (built in)``,
    an entry point ``dist==version: module:attr``, or the module that registered it)."""

    name: str
    value: T
    source: str


class Registry(Generic[T]):
    """Named implementations of one extension point.

    ``kind`` names the thing in messages ("task", "drift engine"); ``group`` is the entry
    point group (``driftline.tasks``); ``builtins`` are the modules whose import registers
    the built-in implementations; ``check`` (optional) validates an implementation and
    returns why it is unfit, or None.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        builtins: Sequence[str],
        *,
        check: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._builtins = tuple(builtins)
        self._check = check
        self._entries: dict[str, Entry[T]] = {}
        self._failed: dict[str, str] = {}
        self._loaded = False
        self._loading = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, group={self.group!r})"

    @property
    def errors(self) -> list[str]:
        """Why each entry point of the group that failed to load did (one line each)."""
        return list(self._failed.values())

    # -- adding ---------------------------------------------------------------------------

    def register(self, value: T, *, name: str | None = None, source: str | None = None) -> T:
        """Add ``value`` under its ``name`` attribute; returns it, so it also works as a
        class decorator (the class is instantiated once, without arguments).

        ``name`` (an entry point's name) must equal the object's own ``name``: the rest of
        driftline (URLs of a channel, the engine recorded with a run) knows an
        implementation by its own name. Raises ValueError when the names differ, the name
        is taken by another implementation, or the value fails the registry's check.
        """
        item: Any = value() if isinstance(value, type) else value
        own = getattr(item, "name", None)
        if not isinstance(own, str) or not own:
            raise ValueError(f"a {self.kind} needs a non-empty string `name`; got {own!r}")
        if name is not None and name != own:
            raise ValueError(
                f"the entry point is named {name!r} but the {self.kind} calls itself {own!r}; "
                f"name the entry point {own!r}"
            )
        why = self._check(item) if self._check else None
        if why:
            raise ValueError(f"{self.kind} {own!r} cannot be registered: {why}")
        where = source or (BUILTIN if self._loading else _defined_in(item))
        with self._lock:
            existing = self._entries.get(own)
            if existing is not None and type(existing.value) is type(item):
                # The same implementation again: a plugin module that registers itself on
                # import and is also named by its entry point. Keep the first instance;
                # an entry point is the better account of where it came from.
                if source is not None:
                    self._entries[own] = Entry(own, existing.value, where)
                return value
            if existing is not None:
                raise ValueError(
                    f"{self.kind} {own!r} is already registered ({existing.source}); "
                    "choose another name"
                )
            self._entries[own] = Entry(own, item, where)
        return value

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests, or replacing a plugin at run time). A plugin whose
        package is still installed comes back with the next :meth:`refresh`."""
        with self._lock:
            self._entries.pop(name, None)

    # -- reading ----------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:  # other threads wait here until built-ins and plugins are in
            if self._loaded or self._loading:
                return
            self._loading = True
            try:
                for module in self._builtins:
                    importlib.import_module(module)
            finally:
                self._loading = False
            self._load_entry_points()
            self._loaded = True

    def _load_entry_points(self) -> None:
        """Register the group's entry points; failures are kept (and logged once) until a
        later scan no longer finds them failing."""
        previous, self._failed = self._failed, {}
        for point in entry_points(group=self.group):
            dist = point.dist
            where = f"{dist.name}=={dist.version}: {point.value}" if dist else point.value
            known = self._entries.get(point.name)
            if known is not None and known.source == where:
                continue  # already loaded from this entry point
            try:
                self.register(point.load(), name=point.name, source=where)
            except Exception as exc:  # one broken plugin must not break the others
                message = f"{self.group} entry point {point.name!r} ({where}): {exc}"
                if previous.get(where) != message:
                    log.warning("plugin not loaded: %s", message)
                self._failed[where] = message

    def refresh(self) -> None:
        """Read the entry points again (after installing a plugin into a running process)."""
        self._load()
        with self._lock:
            self._load_entry_points()

    def get(self, name: str) -> T:
        """The implementation named ``name``; SpecError listing the known names if none."""
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            raise SpecError(self.unknown(name))
        return entry.value

    def unknown(self, name: str) -> str:
        """The message for a name that is not registered: the known names, and what to do."""
        known = ", ".join(self.names()) or "none"
        text = f"unknown {self.kind} {name!r}; choose one of {known}"
        failed = [e for e in self._failed.values() if f"entry point {name!r} " in e]
        if failed:
            return f"{text}. It did not load: {failed[0]}"
        return (
            f"{text} (a {self.kind} from another package appears once that package is "
            f"installed; `driftline plugins` lists what is registered)"
        )

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Every entry, sorted by name."""
        self._load()
        return [self._entries[n] for n in sorted(self._entries)]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(e.value for e in self.entries())


def _defined_in(value: Any) -> str:
    module = getattr(type(value), "__module__", None) or "?"
    return BUILTIN if module.startswith("driftline.") else f"registered by {module}"
