"""Model flavours: which kinds of fitted model driftline stores and loads, and how safely.

A model version in driftline's registry is one of three MLflow flavours:

- ``sklearn``, serialised with skops and loaded only with driftline's allow-list of types
  (:func:`allowed_types`: the base list, what registered trainers declare, and the spec's
  ``training.trusted_types``). Always allowed. Pickle is never loaded on this path.
- ``lightgbm``: a LightGBM booster in LightGBM's own text format (no pickle, no code),
  scored through :class:`LightGBMClassifier`. Only when the spec lists ``lightgbm`` in
  ``training.allowed_flavors``.
- ``python_function``: any other MLflow model (XGBoost, CatBoost, a custom pyfunc), stored
  as it came and loaded with MLflow's own loader, which may unpickle, so code in the
  artifact runs. Only when the spec lists ``python_function``.

What a spec has not allowed is refused with a message naming the model and what to add.
``pickle`` in ``allowed_flavors`` lets :mod:`driftline.lifecycle.adopt` read a pickled
source model once (the person adopting it vouches for that file) and store it again as
skops or LightGBM text; nothing driftline stores is ever read with pickle afterwards.

This module stays cheap to import (spec validation reads :data:`OPT_IN_FLAVORS`): MLflow,
skops, scikit-learn and LightGBM are imported where they are used.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from driftline.config.errors import DriftlineError, ModelError, SpecError, UntrustedModelError
from driftline.lifecycle.trainers import trusted_types
from driftline.tasks import task_for

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from mlflow.models.model import ModelInfo

    from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

SKLEARN, LIGHTGBM, PYFUNC, PICKLE = "sklearn", "lightgbm", "python_function", "pickle"

#: What each ``training.allowed_flavors`` entry lets driftline do. scikit-learn models
#: saved with skops need no entry: they are always allowed.
OPT_IN_FLAVORS: Mapping[str, str] = MappingProxyType(
    {
        LIGHTGBM: "store and load LightGBM models in LightGBM's own text format (no "
        "pickle); adopting also reads LightGBM scikit-learn models that MLflow saved with "
        "skops, trusting LightGBM's Booster and LGBMClassifier types",
        PYFUNC: "adopt and load any other MLflow model (XGBoost, CatBoost, a custom pyfunc) "
        "with MLflow's own loader, which may unpickle: code in the artifact runs on every "
        "load, so trust everyone who can write to the artifact store",
        PICKLE: "adopt may read a model saved with pickle or cloudpickle once, with MLflow's "
        "loader (code in that file runs), and stores it again with skops or LightGBM's "
        "text format; driftline never reads pickle afterwards",
    }
)

#: Modules whose types can run commands or code when constructed: never trusted, whatever a
#: spec says (a guard against obvious mistakes, not a complete list; see trusted_types).
_NEVER_TRUSTED = frozenset(
    {
        "builtins",
        "code",
        "ctypes",
        "importlib",
        "marshal",
        "nt",
        "operator",
        "os",
        "pickle",
        "posix",
        "runpy",
        "shutil",
        "socket",
        "subprocess",
        "sys",
        "types",
    }
)


def never_trusted(type_name: str) -> bool:
    """Whether ``type_name`` (fully qualified, e.g. ``os.system``) comes from a module
    whose types can run commands or code when constructed (``_NEVER_TRUSTED``)."""
    return type_name.split(".", 1)[0] in _NEVER_TRUSTED


#: The skops types of LightGBM's scikit-learn models (as MLflow's lightgbm flavour trusts
#: them): data-holding classes whose state is the booster's model text.
LIGHTGBM_TYPES: tuple[str, ...] = (
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
)


def allowed_types(spec: ModelSpec) -> tuple[str, ...]:
    """The skops allow-list for ``spec``'s model versions: driftline's
    (:func:`~driftline.lifecycle.trainers.trusted_types`), the spec's
    ``training.trusted_types``, and LightGBM's own types when ``lightgbm`` is allowed.
    Held in code and the spec, never read from an artifact."""
    types = {*trusted_types(), *spec.training.trusted_types}
    if LIGHTGBM in spec.training.allowed_flavors:
        types.update(LIGHTGBM_TYPES)
    return tuple(sorted(types))


# -- adapters: what driftline scores ----------------------------------------------------


class LightGBMClassifier:
    """A LightGBM booster with a binary objective, as a classifier of driftline's feature
    frame: ``predict_proba(frame)`` takes the booster's features by name, turns text
    columns into the categories the booster learned (unseen ones become missing), and
    returns the two class probabilities."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        self.features: list[str] = list(booster.feature_name())
        self.categories: list[list[Any]] = list(getattr(booster, "pandas_categorical", None) or [])

    def __repr__(self) -> str:
        return f"LightGBMClassifier({len(self.features)} features)"

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """``(n, 2)``: P(0), P(1). ModelError when a feature is missing, the text columns
        do not match the booster's categorical ones, or the booster is not binary."""
        import numpy as np
        import pandas as pd

        missing = [c for c in self.features if c not in features.columns]
        if missing:
            raise ModelError(
                f"the LightGBM model needs features {missing} that the spec does not list "
                f"(the model's features: {self.features})"
            )
        frame = features[self.features].copy()
        text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if len(text) != len(self.categories):
            raise ModelError(
                f"the LightGBM model learned {len(self.categories)} categorical features, but "
                f"the spec gives {len(text)} text columns ({text}); make the spec's "
                "categorical features the ones it was trained with as pandas categories"
            )
        for column, categories in zip(text, self.categories, strict=True):
            frame[column] = pd.Categorical(frame[column], categories=categories)
        p = np.asarray(self.booster.predict(frame), dtype=float)
        if p.ndim != 1:
            raise ModelError(
                f"the LightGBM model returns {p.shape[1]} scores per row; driftline expects "
                "a binary classifier (one probability per row)"
            )
        return np.column_stack([1 - p, p])


class PyfuncClassifier:
    """An MLflow pyfunc model as a classifier: its raw model's ``predict_proba`` when it
    has one (an XGBoost or scikit-learn classifier), else its ``predict`` read as the
    probability of the positive class (one column) or of both classes (two)."""

    def __init__(self, pyfunc: Any) -> None:
        self.pyfunc = pyfunc
        try:
            raw = pyfunc.get_raw_model()
        except Exception:  # not every flavour exposes its raw model
            raw = None
        self.raw = raw if callable(getattr(raw, "predict_proba", None)) else None

    def __repr__(self) -> str:
        return f"PyfuncClassifier({type(self.raw or self.pyfunc).__name__})"

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        import numpy as np

        if self.raw is not None:
            return np.asarray(self.raw.predict_proba(features), dtype=float)
        out = self.pyfunc.predict(features)
        p = np.asarray(out.to_numpy() if hasattr(out, "to_numpy") else out, dtype=float)
        if p.ndim == 2 and p.shape[1] == 2:
            return p
        if p.ndim == 2 and p.shape[1] == 1:
            p = p[:, 0]
        if p.ndim != 1:
            raise ModelError(
                f"the model's predict returns shape {p.shape}; driftline expects one "
                "probability per row, or one per class of a binary classifier"
            )
        return np.column_stack([1 - p, p])


# -- a fitted model in memory: checked, then stored ---------------------------------------


@dataclass(frozen=True)
class Prepared:
    """A model ready to be scored and stored: ``flavor`` is how it is stored, ``model``
    what driftline scores (it has the task's prediction method), ``stored`` what is logged
    (the estimator, the LightGBM booster, or an MLflow model folder for pyfunc) and
    ``skops_types`` the types a scikit-learn model needs beyond skops' default trust."""

    flavor: str
    model: Any
    stored: Any
    skops_types: tuple[str, ...] = field(default_factory=tuple)


def prepare(model: Any, spec: ModelSpec, *, what: str) -> Prepared:
    """Check a fitted model (a trainer's result, or a model being adopted) and decide how
    it is stored: LightGBM models (booster or scikit-learn API) as LightGBM text,
    scikit-learn estimators with skops. ``what`` names the model in messages.

    Raises SpecError when the spec must allow something first (the ``lightgbm`` flavour,
    types outside the allow-list), ModelError when the model cannot be used (no prediction
    method, another kind of object, not serialisable with skops).
    """
    booster = _lightgbm_booster(model)
    if booster is not None:
        require(spec, LIGHTGBM, what)
        return Prepared(LIGHTGBM, LightGBMClassifier(booster), booster)
    method = task_for(spec.model).prediction_method
    if not _is_sklearn(model):
        raise ModelError(
            f"{what} is a {_qualified(type(model))}; driftline stores scikit-learn "
            "estimators (saved with skops) and LightGBM models. Return one of those (e.g. "
            "wrap your model in a scikit-learn estimator), or log it with MLflow yourself and "
            "`driftline adopt` it with python_function in training.allowed_flavors."
        )
    if not callable(getattr(model, method, None)):
        raise ModelError(
            f"{what} is a {_qualified(type(model))} without `{method}`, which a "
            f"{spec.model.task} model needs (driftline scores with it)"
        )
    return Prepared(SKLEARN, model, model, skops_types(model, spec, what=what))


def skops_types(model: Any, spec: ModelSpec, *, what: str) -> tuple[str, ...]:
    """The types ``model`` needs beyond skops' default trust; each must be on
    :func:`allowed_types`, else SpecError naming them (a model that could not be loaded
    again is never stored). ModelError when skops cannot serialise it at all."""
    import skops.io

    try:
        needed = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    except Exception as exc:
        raise ModelError(
            f"{what} cannot be saved with skops ({type(exc).__name__}: {exc}); driftline "
            "stores scikit-learn models only with skops (no pickle)"
        ) from None
    unknown = sorted(set(needed) - set(allowed_types(spec)))
    if unknown:
        raise SpecError(
            f"{what} holds types outside driftline's skops allow-list: {unknown}. skops "
            "would construct them whenever this model is loaded; if they only hold data "
            f"(no functions), add them to training.trusted_types in the spec of {spec.name}"
        )
    return tuple(needed)


def require(
    spec: ModelSpec, flavor: str, what: str, error: type[DriftlineError] = SpecError
) -> None:
    """Raise ``error`` unless ``spec`` lists ``flavor`` in ``training.allowed_flavors``."""
    if flavor not in spec.training.allowed_flavors:
        raise error(
            f"{what} needs the {flavor!r} flavour, which the spec of {spec.name} does not "
            f"allow. If you accept what it means ({OPT_IN_FLAVORS[flavor]}), add "
            f"{flavor} to training.allowed_flavors."
        )


def log_model(
    prepared: Prepared,
    spec: ModelSpec,
    *,
    example: pd.DataFrame,
    artifact: str,
) -> str:
    """Log a prepared model in the active MLflow run and register it under the spec's
    name; returns the new version number. ``example`` (rows of the training frame) only
    gives the signature its types: no row is stored with the model. scikit-learn: skops
    with exactly the types it needs; LightGBM: the booster's text; pyfunc: the source
    MLflow model folder as is."""
    import mlflow
    from mlflow.models import infer_signature

    task = task_for(spec.model)
    if prepared.flavor == PYFUNC:
        return _register_folder(Path(prepared.stored), spec, artifact)
    signature = infer_signature(example, getattr(prepared.model, task.prediction_method)(example))
    info: ModelInfo
    if prepared.flavor == LIGHTGBM:
        import lightgbm

        # No input example: MLflow would try to score it without driftline's categories.
        info = mlflow.lightgbm.log_model(
            prepared.stored,
            name=artifact,
            signature=signature,
            registered_model_name=spec.name,
            pip_requirements=_pins(lightgbm=lightgbm.__version__),
        )
    else:
        import sklearn
        import skops

        info = mlflow.sklearn.log_model(
            prepared.stored,
            name=artifact,
            signature=signature,  # no input example: it would copy customers' rows
            registered_model_name=spec.name,
            serialization_format="skops",
            skops_trusted_types=list(prepared.skops_types),
            pyfunc_predict_fn=task.prediction_method,
            pip_requirements=_pins(
                **{"scikit-learn": sklearn.__version__}, skops=skops.__version__
            ),
        )
    return str(info.registered_model_version)


def _register_folder(folder: Path, spec: ModelSpec, artifact: str) -> str:
    """The MLflow model in ``folder`` as an artifact of the active run, registered as a
    new version of the spec's model (MLflow 3 registers ``runs:/`` URIs of logged models
    only, so the version is created from the artifact's location)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_model needs an active MLflow run")
    mlflow.log_artifacts(str(folder), artifact)
    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(spec.name)
    except MlflowException:
        client.create_registered_model(spec.name)
    version = client.create_model_version(
        spec.name, source=f"{run.info.artifact_uri}/{artifact}", run_id=run.info.run_id
    )
    return str(version.version)


def _pins(**packages: str) -> list[str]:
    import numpy as np
    import pandas as pd

    pins = {**packages, "pandas": pd.__version__, "numpy": np.__version__}
    return [f"{name}=={version}" for name, version in pins.items()]


# -- reading MLflow model folders ---------------------------------------------------------


def load_stored(folder: Path, spec: ModelSpec, label: str, version: str = "") -> Any:
    """A registered version's model, downloaded to ``folder``, loaded under the spec's
    rules (module docstring) as something with the task's prediction method. ``label``
    names the version in messages. Raises SpecError when the spec does not allow its
    flavour, UntrustedModelError (naming ``version`` and the types) when its skops file
    names types outside the allow-list, ModelError when the file cannot be read."""
    flavors = _flavors(folder, label, SpecError)
    if SKLEARN in flavors:
        conf = flavors[SKLEARN]
        fmt = conf.get("serialization_format")
        if fmt != "skops":
            raise SpecError(
                f"{label} is a scikit-learn model serialised with {fmt!r}; driftline loads "
                "scikit-learn models only from skops (no pickle). `driftline adopt` it: that "
                "stores a skops copy as a new version."
            )
        return _skops_load(folder / conf["pickled_model"], spec, label, version)
    if LIGHTGBM in flavors:
        require(spec, LIGHTGBM, label)
        return LightGBMClassifier(_lightgbm_from(folder, flavors[LIGHTGBM], spec, label, False))
    if PYFUNC in flavors:
        require(spec, PYFUNC, f"{label} (MLflow flavours: {', '.join(flavors)})")
        return _pyfunc(folder, label, SpecError)
    raise SpecError(f"{label} has the MLflow flavours {sorted(flavors)}; driftline cannot score it")


def load_source(folder: Path, spec: ModelSpec, label: str) -> Prepared:
    """A model to adopt (an MLflow model folder), loaded under the spec's rules and
    prepared for storing: scikit-learn and LightGBM models are stored again safely (skops,
    LightGBM text), anything else as it is when ``python_function`` is allowed.

    A pickled source is read (with MLflow's loader) only when ``pickle`` is allowed.
    Raises SpecError for what the spec must allow first, ModelError for a folder that is
    not an MLflow model or a model that cannot be read.
    """
    flavors = _flavors(folder, label, ModelError)
    allowed = spec.training.allowed_flavors
    if SKLEARN in flavors:
        conf = flavors[SKLEARN]
        fmt = conf.get("serialization_format")
        if fmt == "skops":
            estimator = _skops_load(folder / conf["pickled_model"], spec, label)
            return prepare(estimator, spec, what=label)
        if PICKLE in allowed:
            import mlflow.sklearn

            log.warning("%s: reading a %s file (allowed by training.allowed_flavors)", label, fmt)
            estimator = _read(lambda: mlflow.sklearn.load_model(str(folder)), label)
            return prepare(estimator, spec, what=label)
        if PYFUNC not in allowed:
            raise SpecError(
                f"{label} is a scikit-learn model saved with {fmt!r}: reading it runs code "
                "from the file. If you trust this file, add pickle to "
                "training.allowed_flavors: adopt then reads it once and stores it again "
                "with skops (driftline never reads pickle afterwards)."
            )
    elif LIGHTGBM in flavors:
        require(spec, LIGHTGBM, label)
        booster = _lightgbm_from(folder, flavors[LIGHTGBM], spec, label, PICKLE in allowed)
        return prepare(booster, spec, what=label)
    if PYFUNC not in flavors:
        raise ModelError(f"{label} has the MLflow flavours {sorted(flavors)}; none can score")
    require(spec, PYFUNC, f"{label} (MLflow flavours: {', '.join(flavors)})")
    return Prepared(PYFUNC, _pyfunc(folder, label, ModelError), folder)


def _flavors(folder: Path, label: str, error: type[DriftlineError]) -> dict[str, dict[str, Any]]:
    from mlflow.models import Model

    if not (folder / "MLmodel").is_file():
        raise error(f"{label} is not an MLflow model: {folder} has no MLmodel file")
    return dict(Model.load(str(folder)).flavors)


def _skops_load(path: Path, spec: ModelSpec, label: str, version: str = "") -> Any:
    """A skops file loaded with the spec's allow-list (never the artifact's own list).

    UntrustedModelError naming ``label`` (model and ``version``) and every type outside the
    allow-list, checked before anything in the file is constructed, and again by skops
    while loading; ModelError when skops cannot read the file at all (damaged, or written
    by a newer skops)."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = allowed_types(spec)
    try:
        found = skops.io.get_untrusted_types(file=path)
        unknown = sorted(set(found) - set(allowed))
        if not unknown:
            return skops.io.load(path, trusted=list(allowed))
    except UntrustedTypesFoundException as exc:  # skops found one the audit above missed
        unknown = sorted({str(t) for t in (exc.args[0] if exc.args else [])} - set(allowed))
        unknown = unknown or [str(exc)]
    except Exception as exc:
        raise ModelError(
            f"{label}: its skops file {path.name} cannot be read ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}); it is damaged, or was written by a newer skops. "
            "Nothing in it was loaded."
        ) from None
    raise UntrustedModelError(_untrusted_message(spec, label, unknown), spec.name, version, unknown)


def _untrusted_message(spec: ModelSpec, label: str, unknown: list[str]) -> str:
    dangerous = [t for t in unknown if never_trusted(t)]
    text = (
        f"{label} names types outside driftline's skops allow-list: {unknown}; nothing in "
        "the file was loaded (the file's own list of trusted types is never used)."
    )
    if dangerous:
        return (
            f"{text} {dangerous} can run commands or code and are never trusted: the file "
            "may have been tampered with. Do not use this version; check who can write to "
            "the MLflow artifact store."
        )
    return (
        f"{text} If they only hold data (no functions), add them to "
        f"training.trusted_types in the spec of {spec.name}; driftline does not load it "
        "until then."
    )


def _lightgbm_from(
    folder: Path, conf: Mapping[str, Any], spec: ModelSpec, label: str, pickle_ok: bool
) -> Any:
    """The booster of a ``lightgbm`` flavour: LightGBM text as is, a skops-saved
    scikit-learn LightGBM model with the allow-list, a pickled one only if ``pickle_ok``."""
    import lightgbm

    path = folder / conf["data"]
    if conf.get("model_class", "lightgbm.basic.Booster") == "lightgbm.basic.Booster":
        return _read(lambda: lightgbm.Booster(model_file=str(path)), label)
    fmt = conf.get("serialization_format", "cloudpickle")
    if fmt == "skops":
        model = _skops_load(path, spec, label)
    elif pickle_ok:
        import mlflow.lightgbm

        log.warning("%s: reading a %s file (allowed by training.allowed_flavors)", label, fmt)
        model = _read(lambda: mlflow.lightgbm.load_model(str(folder)), label)
    else:
        raise SpecError(
            f"{label} is a LightGBM scikit-learn model saved with {fmt!r}: reading it runs "
            "code from the file. If you trust this file, add pickle to "
            "training.allowed_flavors: adopt then reads it once and stores its booster "
            "as LightGBM text."
        )
    booster = _lightgbm_booster(model)
    if booster is None:
        raise ModelError(f"{label}: the lightgbm flavour holds a {_qualified(type(model))}")
    return booster


def _pyfunc(folder: Path, label: str, error: type[DriftlineError]) -> PyfuncClassifier:
    import mlflow.pyfunc

    try:
        return PyfuncClassifier(mlflow.pyfunc.load_model(str(folder)))
    except Exception as exc:
        raise error(f"{label}: MLflow cannot load it ({type(exc).__name__}: {exc})") from None


def _read(load: Any, label: str) -> Any:
    try:
        return load()
    except Exception as exc:
        raise ModelError(f"{label} cannot be read ({type(exc).__name__}: {exc})") from None


# -- what a model object is --------------------------------------------------------------


def _lightgbm_booster(model: Any) -> Any | None:
    """The booster of a LightGBM model (a Booster, or a fitted scikit-learn API model), or
    None for anything else (LightGBM is not imported unless the object comes from it)."""
    if not type(model).__module__.startswith("lightgbm"):
        return None
    import lightgbm

    if isinstance(model, lightgbm.Booster):
        return model
    if isinstance(model, lightgbm.LGBMModel):
        try:
            return model.booster_
        except Exception:  # not fitted
            return None
    return None


def _is_sklearn(model: Any) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(model, BaseEstimator)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


__all__ = [
    "LIGHTGBM",
    "LIGHTGBM_TYPES",
    "OPT_IN_FLAVORS",
    "PICKLE",
    "PYFUNC",
    "SKLEARN",
    "LightGBMClassifier",
    "Prepared",
    "PyfuncClassifier",
    "allowed_types",
    "load_source",
    "load_stored",
    "log_model",
    "never_trusted",
    "prepare",
    "require",
    "skops_types",
]
