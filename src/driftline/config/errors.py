"""One exception family. Expected outcomes (drift found, challenger rejected) are values,
not exceptions; these mean broken input or broken infrastructure, and their messages say
what was wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class DriftlineError(Exception):
    """Base of every error driftline raises on purpose."""


class SpecError(DriftlineError):
    """A model spec (monitors/*.yaml) is missing, malformed or inconsistent."""


class DataError(DriftlineError):
    """Input data does not match the model spec (missing columns, bad types, bad values)."""


class ConflictError(DataError):
    """Rows whose keys are stored already with other values: ``keys`` lists them (tuples
    of the key columns' values), ``columns`` the stored columns whose values differ."""

    def __init__(
        self, message: str, keys: list[tuple[object, ...]], columns: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.keys = keys
        self.columns = list(columns)


class ProfileError(DataError):
    """A window profile fed to a monitor run in place of the window's rows does not fit:
    another model's or another window's, columns missing or of another kind, or bins other
    than the champion's reference profile's. Raised before anything is recorded."""


class StoreError(DriftlineError):
    """The prediction store cannot be reached or is not in the expected shape."""


class SourceError(StoreError):
    """A model's ``source:`` table cannot be read: its URL variable is unset, or the
    database, the table or a mapped column is missing."""


class BaselineError(DriftlineError):
    """A model version has no usable reference profile."""


class RegistryError(DriftlineError):
    """The model registry is not in the state an operation needs."""


class ModelError(DriftlineError):
    """A model cannot be used: its trainer failed or returned something driftline cannot
    score or store, or a model to adopt cannot be read or scored."""


class UntrustedModelError(ModelError):
    """A stored model file names types driftline does not construct (skops refuses to
    load them: a function such as ``builtins.eval`` or ``os.system``, or a class outside
    the allow-list). ``model`` and ``version`` name it, ``types`` lists the untrusted
    types (sorted); nothing was loaded from the file."""

    def __init__(self, message: str, model: str, version: str, types: list[str]) -> None:
        super().__init__(message)
        self.model, self.version, self.types = model, version, types


class AlertError(DriftlineError):
    """An alert could not be built or delivered."""


class PluginError(DriftlineError):
    """A registered implementation (task, drift engine, trainer, alert channel) failed or
    answered outside its contract; the message names it and where it came from."""


class PrivacyError(DriftlineError):
    """The pseudonymisation key is missing or unusable, or an erasure, consent change or
    key rotation cannot be done as asked (nothing was changed)."""


class ConfigError(DriftlineError):
    """A setting, an option or the machine's state (e.g. a port already taken) does not
    allow what was asked; the message says which and what to change."""
