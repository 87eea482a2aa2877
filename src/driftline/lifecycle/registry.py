"""The MLflow side of driftline: experiments, registered versions, aliases, baselines.

Each model spec maps to one MLflow experiment (``driftline/<model>``) and one registered
model (``<model>``). Aliases carry the roles (registry stages are deprecated):
``champion`` serves, ``challenger`` is the newest candidate, ``previous-champion`` is what
a rollback restores. Baselines are artifacts of the training run under ``baseline/``.

scikit-learn models are saved with skops and loaded with driftline's allow-list of types
(:func:`driftline.lifecycle.flavors.allowed_types`: a fixed base, what the registered
trainers declare and the spec's ``training.trusted_types``), held in code and the spec
rather than read from the artifact's MLmodel file as MLflow's loader does (so a tampered
artifact cannot widen it). Pickled models are refused, and loading keeps working when
MLflow is hardened with ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``. Other flavours
(LightGBM, any pyfunc) load only when the spec allows them (:mod:`driftline.lifecycle.flavors`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from driftline.config.errors import BaselineError, RegistryError
from driftline.config.secrets import hide_credentials, scrub
from driftline.config.settings import Settings
from driftline.config.values import json_default
from driftline.lifecycle.baseline import KEY_COLUMN, Baseline, reference_profile
from driftline.lifecycle.flavors import load_stored
from driftline.monitoring.profiles import from_json as profile_from_json
from driftline.monitoring.profiles import to_json as profile_json
from driftline.specs import ModelSpec

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous-champion"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
BASELINE_DIR = "baseline"
#: The performance estimator (CBPE calibration or DLE trees, JSON) in a baseline folder;
#: absent from baselines captured before driftline estimated performance.
ESTIMATOR_FILE = "estimator.json"
#: Version tag naming the artifact folder of a refreshed monitoring reference.
BASELINE_TAG = "driftline.baseline"  # (TAG + "baseline")
MODEL_ARTIFACT = "model"
TAG = "driftline."  # prefix of every tag driftline writes


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as the lifecycle commands show it."""

    version: str
    run_id: str | None
    model_id: str | None
    created_at: pd.Timestamp
    aliases: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class BaselineErasure:
    """What erasing one customer did to one baseline folder of one version: rows removed
    from its sample and rows left; ``searchable`` is false for a sample stored without
    pseudonyms (nothing could be matched); ``stats_recomputed`` when its ``stats.json``
    was computed again from the remaining rows."""

    version: str
    folder: str
    rows_erased: int
    rows_left: int
    searchable: bool = True
    stats_recomputed: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """A registered version loaded for scoring, with the size of its artifact."""

    version: str
    estimator: Any
    size_bytes: int
    run_id: str | None


class Registry:
    """A small wrapper over MlflowClient that knows driftline's names and aliases."""

    def __init__(self, tracking_uri: str, artifacts_dir: Path | None = None) -> None:
        from mlflow import MlflowClient

        # No tqdm bars in logs and CLI output, unless the user asked for them.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # MLflow retries an unreachable server 7 times with doubling waits (minutes);
        # 3 tries say "unreachable" within seconds (set the variable to change it).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        self.tracking_uri = tracking_uri
        self.artifacts_dir = artifacts_dir
        self.client: Any = _Guarded(
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri), tracking_uri
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        uri = settings.tracking_uri()
        local = uri.startswith(("sqlite:", "file:", "postgresql", "mysql")) or "://" not in uri
        return cls(uri, settings.mlflow_artifacts_dir() if local else None)

    def __repr__(self) -> str:
        return f"Registry({hide_credentials(self.tracking_uri)})"

    def _unreachable(self, exc: Exception) -> RegistryError | None:
        """A RegistryError naming the (masked) address when ``exc`` says the tracking
        server cannot be reached; None for any other error."""
        text = str(exc)
        signs = ("API request to", "Failed to establish", "Max retries exceeded", "timed out")
        if not any(sign in text for sign in signs):
            return None
        reason = "connection refused" if "refused" in text.lower() else "no answer"
        return RegistryError(
            f"cannot reach the MLflow registry at {hide_credentials(self.tracking_uri)} "
            f"({reason}). Is the tracking server running, and DRIFTLINE_MLFLOW_TRACKING_URI "
            "right?"
        )

    # -- fluent-API scope ---------------------------------------------------------------

    @contextmanager
    def active(self) -> Iterator[None]:
        """Point MLflow's fluent API (runs, log_model) at this registry for a block; the
        notes MLflow prints meanwhile go to the log (:func:`mlflow_notes_logged`)."""
        import mlflow

        previous_tracking = mlflow.get_tracking_uri()
        previous_registry = mlflow.get_registry_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            with _guarding(self.tracking_uri), mlflow_notes_logged():
                yield
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)

    def experiment_id(self, spec: ModelSpec) -> str:
        """The model's experiment, created with an explicit artifact location if missing."""
        name = experiment_name(spec)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = None
        if self.artifacts_dir is not None:
            location = (self.artifacts_dir / spec.name).resolve().as_uri()
        return str(
            self.client.create_experiment(
                name, artifact_location=location, tags={f"{TAG}model": spec.name}
            )
        )

    # -- versions and aliases -------------------------------------------------------------

    def version_by_alias(self, spec: ModelSpec, alias: str) -> str | None:
        """The version number holding ``alias``, or None."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(spec.name, alias).version)
        except MlflowException as exc:
            if _not_found(exc):
                return None
            raise self._unreachable(exc) or RegistryError(
                f"cannot read alias {alias!r} of {spec.name}: {scrub(str(exc))}"
            ) from None

    def aliases(self, spec: ModelSpec) -> dict[str, str]:
        """Alias -> version for driftline's aliases that are set."""
        found = {}
        for alias in ALIASES:
            version = self.version_by_alias(spec, alias)
            if version is not None:
                found[alias] = version
        return found

    def set_alias(self, spec: ModelSpec, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (idempotent; collisions retried)."""
        _retried(self.client.set_registered_model_alias, spec.name, alias, str(version))

    def delete_alias(self, spec: ModelSpec, alias: str) -> None:
        """Remove ``alias``; nothing to do when it is not set (idempotent)."""
        from mlflow.exceptions import MlflowException

        try:
            _retried(self.client.delete_registered_model_alias, spec.name, alias)
        except MlflowException as exc:
            if not _not_found(exc):
                raise

    def delete_version(self, spec: ModelSpec, version: str) -> None:
        """Remove a registered version (one whose registration could not be completed)."""
        self.client.delete_model_version(spec.name, str(version))

    def log_run_files(self, run_id: str, files: dict[str, str | dict[str, Any]]) -> None:
        """Attach files to a run as artifacts: text as is, mappings as JSON."""
        for path, content in files.items():
            if isinstance(content, str):
                self.client.log_text(run_id, content, path)
            else:
                self.client.log_dict(run_id, content, path)

    def log_run_metrics(self, run_id: str, metrics: Mapping[str, float]) -> None:
        """Log numbers as metrics of an existing run (one batch; a re-run logs them again,
        which MLflow keeps as another step of the same metric)."""
        import time

        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        batch = [Metric(key, float(value), stamp, 0) for key, value in metrics.items()]
        if batch:
            self.client.log_batch(run_id, metrics=batch)

    def set_version_tags(self, spec: ModelSpec, version: str, tags: dict[str, Any]) -> None:
        """Set tags on a version (idempotent; collisions retried, see :func:`_retried`)."""
        for key, value in tags.items():
            _retried(
                self.client.set_model_version_tag, spec.name, str(version), key, _tag_value(value)
            )

    def version(self, spec: ModelSpec, version: str) -> VersionInfo:
        from mlflow.exceptions import MlflowException

        try:
            mv = self.client.get_model_version(spec.name, str(version))
        except MlflowException as exc:
            if _not_found(exc):
                raise RegistryError(
                    f"{spec.name} has no version {version}; `driftline models --model "
                    f"{spec.name}` lists the versions"
                ) from None
            raise self._unreachable(exc) or exc from None
        return self._info(mv, self.aliases(spec))

    def versions(self, spec: ModelSpec) -> list[VersionInfo]:
        """Every registered version, newest first, with driftline's aliases."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{spec.name}'")
        except MlflowException as exc:
            if _not_found(exc):
                return []
            raise self._unreachable(exc) or exc from None
        # search_model_versions may leave ``aliases`` empty: read them by alias instead.
        aliases = self.aliases(spec) if found else {}
        infos = [self._info(mv, aliases) for mv in found]
        return sorted(infos, key=lambda v: int(v.version), reverse=True)

    @staticmethod
    def _info(mv: Any, aliases: dict[str, str]) -> VersionInfo:
        return VersionInfo(
            version=str(mv.version),
            run_id=mv.run_id,
            model_id=getattr(mv, "model_id", None) or _model_id_from_source(mv.source),
            created_at=pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC"),
            aliases=tuple(a for a, v in aliases.items() if v == str(mv.version)),
            tags=dict(mv.tags or {}),
        )

    # -- model artifacts ----------------------------------------------------------------

    def load_model(self, spec: ModelSpec, version: str) -> LoadedModel:
        """Download a version's model and load it under the spec's rules
        (:func:`driftline.lifecycle.flavors.load_stored`: scikit-learn with skops and the
        allow-list; LightGBM text or any pyfunc only when ``training.allowed_flavors`` says
        so). SpecError naming the version and what the spec would have to allow;
        UntrustedModelError naming the version and the types its skops file would need
        (nothing in it is constructed); ModelError when the file cannot be read."""
        with self.active(), tempfile.TemporaryDirectory(prefix="driftline-model-") as tmp:
            import mlflow.artifacts

            source = self.client.get_model_version_download_uri(spec.name, str(version))
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp))
            size = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
            estimator = load_stored(local, spec, f"{spec.name} version {version}", str(version))
        run_id = self.client.get_model_version(spec.name, str(version)).run_id
        return LoadedModel(str(version), estimator, size, run_id)

    # -- baselines ------------------------------------------------------------------------

    def log_baseline(
        self,
        baseline: Baseline,
        run_id: str,
        *,
        folder_name: str = BASELINE_DIR,
        manifest: dict[str, Any] | None = None,
    ) -> None:
        """Write a baseline as artifacts of its training run (``baseline/``, or
        ``folder_name`` for a refreshed reference; ``manifest`` adds to its manifest)."""
        with tempfile.TemporaryDirectory(prefix="driftline-baseline-") as tmp:
            folder = Path(tmp) / folder_name
            folder.mkdir()
            reference = baseline.reference
            if baseline.entity_keys is not None:  # kept for erasure; stripped when read
                reference = reference.assign(**{KEY_COLUMN: list(baseline.entity_keys)})
            reference.to_parquet(folder / "reference.parquet", index=False)
            _write_json(folder / "schema.json", baseline.schema)
            _write_json(folder / "stats.json", baseline.stats)
            _write_json(folder / "metrics.json", baseline.metrics)
            if baseline.estimator is not None:
                _write_json(folder / ESTIMATOR_FILE, baseline.estimator)
            (folder / "profile.json").write_text(
                profile_json(reference_profile(baseline)), encoding="utf-8"
            )
            _write_json(
                folder / "manifest.json",
                {
                    "format": 1,
                    "model": baseline.model,
                    "run_id": run_id,
                    "reference_rows": len(baseline.reference),
                    "columns": list(baseline.reference.columns),
                    "pseudonyms": baseline.entity_keys is not None,
                    **(manifest or {}),
                },
            )
            self.client.log_artifacts(run_id, str(folder), folder_name)

    def baseline_folder(self, spec: ModelSpec, version: str) -> str:
        """The artifact folder of the version's monitoring reference: ``baseline/`` as
        trained, or the refreshed one its ``driftline.baseline`` tag names
        (:mod:`driftline.lifecycle.rebaseline`)."""
        return self.version(spec, version).tags.get(BASELINE_TAG) or BASELINE_DIR

    def baseline_manifest(self, spec: ModelSpec, version: str, folder: str) -> dict[str, Any]:
        """The ``manifest.json`` of one baseline folder of a version's training run."""
        info = self.version(spec, version)
        with tempfile.TemporaryDirectory(prefix="driftline-baseline-") as tmp:
            local = self.client.download_artifacts(
                str(info.run_id), f"{folder}/manifest.json", dst_path=tmp
            )
            return dict(json.loads(Path(local).read_text()))

    def read_baseline(self, spec: ModelSpec, version: str) -> Baseline:
        """The baseline stored with a registered version's training run (its refreshed
        reference when ``driftline baseline refresh`` made one, see
        :meth:`baseline_folder`)."""
        from mlflow.exceptions import MlflowException

        info = self.version(spec, version)
        folder = info.tags.get(BASELINE_TAG) or BASELINE_DIR
        if not info.run_id:
            raise BaselineError(
                f"{spec.name} version {version} has no training run, so no baseline; "
                f"retrain with `driftline train --model {spec.name}`"
            )
        with tempfile.TemporaryDirectory(prefix="driftline-baseline-") as tmp:
            try:
                local = Path(self.client.download_artifacts(info.run_id, folder, dst_path=tmp))
            except (MlflowException, OSError) as exc:
                raise BaselineError(
                    f"{spec.name} version {version}: cannot read the baseline artifacts of "
                    f"run {info.run_id} ({type(exc).__name__}: {scrub(str(exc))}). Was it "
                    "trained or "
                    f"adopted by driftline? Train one with `driftline train --model "
                    f"{spec.name}`, or give a model you have a baseline with `driftline adopt`."
                ) from None
            missing = [
                f
                for f in ("reference.parquet", "schema.json", "stats.json", "metrics.json")
                if not (local / f).is_file()
            ]
            if missing:
                raise BaselineError(
                    f"{spec.name} version {version}: baseline of run {info.run_id} lacks "
                    f"{missing}; retrain with `driftline train --model {spec.name}`"
                )
            stored = local / "profile.json"  # absent from baselines made before profiles
            reference = pd.read_parquet(local / "reference.parquet")
            keys = reference.pop(KEY_COLUMN) if KEY_COLUMN in reference.columns else None
            return Baseline(
                model=spec.name,
                version=str(version),
                reference=reference,
                schema=json.loads((local / "schema.json").read_text()),
                stats=json.loads((local / "stats.json").read_text()),
                metrics=json.loads((local / "metrics.json").read_text()),
                run_id=info.run_id,
                estimator=(
                    json.loads((local / ESTIMATOR_FILE).read_text())
                    if (local / ESTIMATOR_FILE).is_file()
                    else None
                ),
                profile=profile_from_json(stored.read_text()) if stored.is_file() else None,
                entity_keys=None if keys is None else tuple(str(k) for k in keys),
            )

    def erase_from_baselines(self, spec: ModelSpec, entity_key: str) -> list[BaselineErasure]:
        """Remove one pseudonymous customer's rows from every stored baseline sample of
        ``spec``'s model: each registered version's training baseline (``baseline/``) and
        every refreshed reference of it (``baseline-refresh-*``), whether in use or not.

        Each sample that held the customer is written again without their rows (same
        artifact path, so every version keeps a readable baseline); its ``stats.json`` is
        recomputed from the remaining rows when the sample held every row the statistics
        were computed over (otherwise they are aggregates of more rows than the sample and
        are kept: they expose no single value, :func:`~driftline.lifecycle.baseline.column_stats`),
        and its manifest counts the erased rows. A sample stored without pseudonyms
        (before they were kept, or adopted) cannot be searched and is reported as such.
        Returns one entry per baseline folder read. RegistryError when MLflow is
        unreachable (nothing changed in the folder being written)."""
        erased: list[BaselineErasure] = []
        seen: set[str] = set()
        for info in sorted(self.versions(spec), key=lambda v: int(v.version)):
            if not info.run_id or info.run_id in seen:
                continue
            seen.add(info.run_id)
            folders = [
                f.path
                for f in self.client.list_artifacts(info.run_id)
                if f.is_dir and f.path.startswith(BASELINE_DIR)
            ]
            for folder in sorted(folders):
                erased.append(self._erase_in(info, folder, entity_key))
        return erased

    def _erase_in(self, info: VersionInfo, folder: str, entity_key: str) -> BaselineErasure:
        from driftline.lifecycle.baseline import column_stats

        with tempfile.TemporaryDirectory(prefix="driftline-erase-") as tmp:
            local = Path(self.client.download_artifacts(str(info.run_id), folder, dst_path=tmp))
            path = local / "reference.parquet"
            if not path.is_file():
                return BaselineErasure(info.version, folder, 0, 0, searchable=False)
            reference = pd.read_parquet(path)
            if KEY_COLUMN not in reference.columns:
                return BaselineErasure(info.version, folder, 0, len(reference), searchable=False)
            hit = (reference[KEY_COLUMN].astype(str) == entity_key).to_numpy()
            if not hit.any():
                return BaselineErasure(info.version, folder, 0, len(reference))
            kept = reference[~hit].reset_index(drop=True)
            kept.to_parquet(path, index=False)
            recomputed = False
            stats_path, schema_path = local / "stats.json", local / "schema.json"
            if stats_path.is_file() and schema_path.is_file():
                schema = json.loads(schema_path.read_text())
                stats = json.loads(stats_path.read_text())
                first = next(iter(stats.values()), None) if stats else None
                covered = first is not None and (first["count"] + first["missing"]) == len(
                    reference
                )
                if covered:  # the sample was every row: recompute exactly
                    _write_json(stats_path, column_stats(kept, schema))
                    recomputed = True
            profile_path = local / "profile.json"
            if profile_path.is_file() and schema_path.is_file():  # its edges and extremes
                # come from the sample's values: profile what is left
                from driftline.monitoring.profiles import profile_frame

                schema = json.loads(schema_path.read_text())
                left = kept.drop(columns=[KEY_COLUMN])
                profile_path.write_text(profile_json(profile_frame(left, schema)), encoding="utf-8")
            manifest_path = local / "manifest.json"
            manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
            manifest["reference_rows"] = len(kept)
            manifest["erased_rows"] = int(manifest.get("erased_rows", 0)) + int(hit.sum())
            _write_json(manifest_path, manifest)
            self.client.log_artifacts(str(info.run_id), str(local), folder)
        return BaselineErasure(
            info.version, folder, int(hit.sum()), len(kept), stats_recomputed=recomputed
        )


class _Guarded:
    """An MlflowClient whose every call goes through :func:`_guarding`."""

    def __init__(self, client: Any, uri: str) -> None:
        self._client, self._uri = client, uri

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _guarding(self._uri):
                return attr(*args, **kwargs)

        return call


@contextmanager
def _guarding(uri: str) -> Iterator[None]:
    """No credential of the tracking URI leaves an MLflow call: an unreachable server
    becomes a RegistryError naming the server with its password hidden; any other
    MlflowException is raised as it was, with ``user:password@`` in its message masked
    (so callers that handle "not found" still can)."""
    import requests
    from mlflow.exceptions import MlflowException

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise _unreachable(uri, exc) from None
    except MlflowException as exc:
        message = scrub(exc.message)
        if message.startswith("API request to") and "failed with" in message:
            raise _unreachable(uri, exc) from None
        exc.message = message
        exc.args = (message, *exc.args[1:])
        raise


def _unreachable(uri: str, exc: Exception) -> RegistryError:
    text = str(getattr(exc, "message", exc))
    detail = (
        "connection refused"
        if "refused" in text.lower()
        else "timed out"
        if "timeout" in text.lower() or "timed out" in text.lower()
        else scrub(text).splitlines()[0][:200]
    )
    return RegistryError(
        f"cannot reach the MLflow tracking server at {hide_credentials(uri)} ({detail}). "
        "Is it running, and is DRIFTLINE_MLFLOW_TRACKING_URI right?"
    )


class _LogLines:
    """A text stream that logs each complete line it is given at INFO."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line.strip():
                self.logger.info("%s", line.strip())
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.info("%s", self.pending.strip())
        self.pending = ""


@contextmanager
def mlflow_notes_logged() -> Iterator[None]:
    """For a block, the notes MLflow prints straight to stderr (``eprint``: "Registered
    model 'x' already exists. Creating a new version...", "Created version '3' of model
    'x'.", "View Logged Model at ...") go to the ``driftline.mlflow`` logger at INFO
    instead, so a command's output is not interleaved with them (``driftline --verbose``
    shows them). MLflow's own loggers are untouched: its warnings still reach stderr."""
    from mlflow.utils import logging_utils

    original = logging_utils.MLFLOW_LOGGING_STREAM
    stream = _LogLines(logging.getLogger("driftline.mlflow"))
    logging_utils.MLFLOW_LOGGING_STREAM = stream  # type: ignore[assignment]  # eprint's target
    try:
        yield
    finally:
        logging_utils.MLFLOW_LOGGING_STREAM = original
        stream.flush()


def experiment_name(spec: ModelSpec) -> str:
    return f"driftline/{spec.name}"


def load_baseline(settings: Settings, spec: ModelSpec, version: str | int) -> Baseline:
    """The baseline captured when ``version`` of the spec's model was trained."""
    return Registry.from_settings(settings).read_baseline(spec, str(version))


def load_champion_baseline(settings: Settings, spec: ModelSpec) -> Baseline:
    """The baseline of the version that is champion now (what monitors compare against).

    Raises BaselineError when the model has no champion yet.
    """
    registry = Registry.from_settings(settings)
    version = registry.version_by_alias(spec, CHAMPION)
    if version is None:
        raise BaselineError(
            f"model {spec.name!r} has no champion yet, so there is no baseline to compare "
            f"with: run `driftline train --model {spec.name}` then `driftline promote "
            f"--model {spec.name}` (or the retrain-model flow) first"
        )
    return registry.read_baseline(spec, version)


def _model_id_from_source(source: str | None) -> str | None:
    """The logged model's id from a version source ``models:/m-...`` (MLflow 3 leaves
    ModelVersion.model_id empty on some stores)."""
    if source and source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/", 1)[0]
    return None


def _not_found(exc: Exception) -> bool:
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()


def _retried(call: Any, *args: Any) -> Any:
    """``call(*args)``, retried a few times when it collides with the same registry write
    made at that moment by another process (MLflow's SQL store inserts aliases and tags
    without an upsert, so two concurrent writers of the same key make one fail)."""
    import tenacity
    from mlflow.exceptions import MlflowException

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, MlflowException) and _conflict(exc)
        ),
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_random(0.05, 0.3),
        reraise=True,
    )
    return retrying(call, *args)


def _conflict(exc: Exception) -> bool:
    """Whether an MLflow error is a unique-key collision of two concurrent writes."""
    text = str(exc).lower()
    return "unique constraint" in text or "duplicate key" in text or "integrityerror" in text


def _tag_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:4900]


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=json_default))  # keeps column order
