"""Champion/challenger benchmark on fresh, out-of-time data.

Both models score the same rows: the newest window of matured labels that neither was
trained on. The result holds the usual metrics for both, the paired bootstrap interval of
the primary metric's difference, the same metrics per segment with row counts, scoring
throughput and model size. It is logged to MLflow (a benchmark run whose metrics are
linked to the challenger's logged model, and tags on the challenger's version) and kept
in the store (``dl_benchmarks``) for the gates and the audit trail.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from driftline.config.errors import DataError, RegistryError
from driftline.config.progress import Progress, Stages
from driftline.config.times import utc_now
from driftline.config.values import finite_or_none
from driftline.data.store import Store
from driftline.data.windows import MIN_BENCHMARK_ROWS, benchmark_window, usable_rows
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, TAG, LoadedModel, Registry
from driftline.lifecycle.results import BenchmarkResult, ModelScore, SegmentScore
from driftline.lifecycle.training import feature_frame, threads
from driftline.specs import ModelSpec
from driftline.tasks import Task, task_for

if TYPE_CHECKING:
    from driftline.tasks.figures import GateFigure

log = logging.getLogger(__name__)

BENCHMARKS_TABLE = "dl_benchmarks"
#: Artifact folder of the benchmark run that holds its pictures.
FIGURES_DIR = "figures"


#: The stages :func:`benchmark` reports to its ``progress`` callable, in order (the
#: paired bootstrap's resamples are drawn in the ``bootstrap`` stage).
BENCHMARK_STAGES = (
    "loading the models",
    "reading the benchmark window",
    "scoring both models",
    "bootstrap",
    "logging to MLflow",
)


def benchmark(
    store: Store,
    registry: Registry,
    spec: ModelSpec,
    *,
    challenger: str | None = None,
    as_of: datetime | pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> BenchmarkResult:
    """Score challenger (default: the ``challenger`` alias) and the current champion on
    the newest out-of-time window of matured labels; log and store the result.
    ``progress`` hears of each stage (:data:`BENCHMARK_STAGES`, task ``benchmark <model>``)."""
    stage = Stages(progress, f"benchmark {spec.name}", BENCHMARK_STAGES)
    stage("loading the models")
    p = spec.promotion
    chal_version = challenger or registry.version_by_alias(spec, CHALLENGER)
    if chal_version is None:
        raise RegistryError(
            f"{spec.name} has no challenger to benchmark: run `driftline train --model "
            f"{spec.name}` first"
        )
    champ_version = registry.version_by_alias(spec, CHAMPION)
    if champ_version == chal_version:
        raise RegistryError(
            f"{spec.name} version {chal_version} is already the champion; train a new "
            "challenger first"
        )
    chal_model = registry.load_model(spec, chal_version)
    champ_model = registry.load_model(spec, champ_version) if champ_version else None
    trained_until = [_train_end(registry, spec, chal_version)]
    if champ_version:
        trained_until.append(_train_end(registry, spec, champ_version))
    start, end = benchmark_window(store, spec, trained_until, as_of)
    stage("reading the benchmark window")
    frame, _ = usable_rows(store, spec, start, end)
    m = spec.model
    task = task_for(m)
    why = task.why_unusable(frame[m.target])
    if len(frame) < MIN_BENCHMARK_ROWS or why:
        raise DataError(
            f"{spec.name}: the benchmark window {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} "
            f"UTC holds {len(frame):,} labelled rows (need {MIN_BENCHMARK_ROWS}"
            + (f"; {why}" if why else "")
            + ") that neither model trained on; wait for more labels to mature"
        )
    x = feature_frame(spec, frame)
    y = frame[m.target].to_numpy()
    champ_p, champ_score = (None, None)
    with threads(spec):
        stage("scoring both models")
        chal_p, chal_score = _score(task, chal_model, x, y, trained_until[0])
        if champ_model is not None:
            champ_p, champ_score = _score(task, champ_model, x, y, trained_until[1])
    result = BenchmarkResult(
        model=spec.name,
        window_start=start.isoformat(),
        window_end=end.isoformat(),
        rows=len(frame),
        positives=task.count_labels(y)[1],
        primary_metric=p.primary_metric,
        challenger=chal_score,
        champion=champ_score,
        segments=_segments(task, spec, frame, y, chal_p, champ_p),
        task=task.name,
    )
    if champ_p is not None and not (_finite(chal_p) and _finite(champ_p)):
        # a diverged model's scores are not numbers: nothing to compare, the gates fail
        result = replace(result, diff=float("nan"), ci_low=float("nan"), ci_high=float("nan"))
    elif champ_p is not None:
        stage("bootstrap")
        boot = task.paired_bootstrap(
            y,
            chal_p,
            champ_p,
            metric=p.primary_metric,
            samples=p.bootstrap_samples,
            confidence=p.confidence,
            seed=spec.training.random_state,
        )
        result = replace(
            result,
            diff=boot.diff,
            ci_low=boot.ci_low,
            ci_high=boot.ci_high,
            confidence=boot.confidence,
            bootstrap_samples=boot.samples,
        )
    pictures = _figures(task, result, y, chal_p, champ_p)
    result = replace(result, figures=[f"{FIGURES_DIR}/{f.name}.png" for f in pictures])
    stage("logging to MLflow")
    run_id = _log_to_mlflow(registry, spec, result, pictures)
    result = replace(result, mlflow_run_id=run_id)
    result = replace(result, benchmark_id=record_benchmark(store, result))
    stage.finish()
    log.info("%s: %s", spec.name, result.summary())
    return result


def _train_end(registry: Registry, spec: ModelSpec, version: str) -> pd.Timestamp | None:
    value = registry.version(spec, version).tags.get(f"{TAG}train_end")
    return pd.Timestamp(value) if value else None


def _score(
    task: Task,
    loaded: LoadedModel,
    x: pd.DataFrame,
    y: np.ndarray,
    train_end: pd.Timestamp | None,
) -> tuple[np.ndarray, ModelScore]:
    p = task.score(loaded.estimator, x)
    if not _finite(p):
        log.warning("version %s scored non-finite values (NaN or infinite)", loaded.version)
    return p, ModelScore(
        version=loaded.version,
        metrics=_evaluate(task, y, p),
        rows_per_second=_throughput(task, loaded.estimator, x),
        size_bytes=loaded.size_bytes,
        train_end=train_end.isoformat() if train_end is not None else None,
        calibration=task.calibration_table(y, p),
    )


def _finite(p: np.ndarray) -> bool:
    """Whether every score is a finite number (a diverged model scores NaN)."""
    return bool(np.all(np.isfinite(np.asarray(p, dtype=float))))


def _evaluate(task: Task, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The task's metrics of scores ``p``; every metric NaN when a score is not a finite
    number (the metric libraries raise on them), which fails the gates by name."""
    if not _finite(p):
        return dict.fromkeys(task.metrics, float("nan"))
    return task.evaluate(y, p)


def _throughput(task: Task, estimator: Any, x: pd.DataFrame, repeats: int = 3) -> float:
    """Batch scoring throughput in rows per second (best of a few runs)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        task.score(estimator, x)
        best = min(best, time.perf_counter() - started)
    return float(len(x) / best) if best > 0 else float("inf")


def _segments(
    task: Task,
    spec: ModelSpec,
    frame: pd.DataFrame,
    y: np.ndarray,
    chal_p: np.ndarray,
    champ_p: np.ndarray | None,
) -> list[SegmentScore]:
    out = []
    for column in spec.model.segments:
        values = frame[column].astype(object).where(frame[column].notna(), "<missing>")
        for value in sorted(values.astype(str).unique()):
            mask = (values.astype(str) == value).to_numpy()
            rows, positives = task.count_labels(y[mask])
            out.append(
                SegmentScore(
                    column=column,
                    value=value,
                    rows=rows,
                    positives=positives,
                    challenger=_evaluate(task, y[mask], chal_p[mask]),
                    champion=(
                        _evaluate(task, y[mask], champ_p[mask]) if champ_p is not None else None
                    ),
                )
            )
    return out


def _figures(
    task: Task,
    result: BenchmarkResult,
    y: np.ndarray,
    chal_p: np.ndarray,
    champ_p: np.ndarray | None,
) -> list[GateFigure]:
    """The benchmark's pictures: the task's (:meth:`Task.gate_figures`: curves and
    calibration) and the per-segment bars of the primary metric. Pictures are for people:
    one that cannot be drawn (scores that are not numbers, a plotting error) is logged
    and left out, never failing the benchmark or the gates."""
    scores = {f"challenger v{result.challenger.version}": chal_p}
    if champ_p is not None and result.champion is not None:
        scores[f"champion v{result.champion.version}"] = champ_p
    drawable = {k: v for k, v in scores.items() if _finite(v)}
    pictures: list[GateFigure] = []
    try:
        if drawable:
            pictures += task.gate_figures(y, drawable)
        if result.segments:
            pictures.append(_segment_figure(result, scores))
    except Exception as exc:  # a picture must never block a promotion
        log.warning(
            "%s: benchmark pictures not drawn: %s: %s", result.model, type(exc).__name__, exc
        )
    return pictures


def _segment_figure(result: BenchmarkResult, scores: dict[str, np.ndarray]) -> GateFigure:
    from driftline.tasks.figures import segment_bars

    legends = list(scores)
    metric = result.primary_metric
    rows = []
    for s in result.segments:
        values = {legends[0]: s.challenger.get(metric, float("nan"))}
        if s.champion is not None and len(legends) > 1:
            values[legends[1]] = s.champion.get(metric, float("nan"))
        rows.append((f"{s.column}={s.value} ({s.rows:,})", values))
    return segment_bars(metric, rows)


def _log_to_mlflow(
    registry: Registry,
    spec: ModelSpec,
    result: BenchmarkResult,
    pictures: list[GateFigure] | None = None,
) -> str:
    """A benchmark run in the model's experiment; metrics linked to the challenger's
    logged model; headline numbers as tags on the challenger's version; the pictures as
    PNG artifacts under ``figures/``."""
    import mlflow

    chal = result.challenger
    champ = result.champion
    name = f"benchmark-{spec.name}-v{chal.version}" + (f"-vs-v{champ.version}" if champ else "")
    metrics = {f"challenger_{k}": v for k, v in chal.metrics.items()}
    metrics.update(
        challenger_rows_per_second=chal.rows_per_second,
        challenger_size_bytes=float(chal.size_bytes),
    )
    if champ is not None:
        metrics.update({f"champion_{k}": v for k, v in champ.metrics.items()})
        metrics.update(
            champion_rows_per_second=champ.rows_per_second,
            champion_size_bytes=float(champ.size_bytes),
        )
        metrics.update(
            {
                f"{result.primary_metric}_diff": result.diff,
                f"{result.primary_metric}_diff_ci_low": result.ci_low,
                f"{result.primary_metric}_diff_ci_high": result.ci_high,
            }
        )
    clean = {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}
    info = registry.version(spec, chal.version)
    with (
        registry.active(),
        mlflow.start_run(
            experiment_id=registry.experiment_id(spec),
            run_name=name,
            tags={
                f"{TAG}kind": "benchmark",
                f"{TAG}challenger_version": chal.version,
                f"{TAG}champion_version": champ.version if champ else "",
            },
        ) as run,
    ):
        mlflow.log_params(
            {
                "window_start": result.window_start,
                "window_end": result.window_end,
                "rows": result.rows,
                "primary_metric": result.primary_metric,
                "bootstrap_samples": result.bootstrap_samples,
                "confidence": result.confidence,
            }
        )
        mlflow.log_metrics(clean)
        if info.model_id:
            own = {k.removeprefix("challenger_"): v for k, v in clean.items() if "challenger_" in k}
            mlflow.log_metrics(
                {f"benchmark_{k}": v for k, v in own.items()}, model_id=info.model_id
            )
        mlflow.log_dict(json.loads(result.to_json()), "benchmark.json")
        if pictures:
            with tempfile.TemporaryDirectory() as tmp:
                for picture in pictures:
                    (Path(tmp) / f"{picture.name}.png").write_bytes(picture.png)
                mlflow.log_artifacts(tmp, FIGURES_DIR)
        run_id = run.info.run_id
    tags = {
        f"{TAG}benchmark_run_id": run_id,
        f"{TAG}benchmark_window": f"{result.window_start} / {result.window_end}",
        f"{TAG}benchmark_{result.primary_metric}": f"{chal.metrics[result.primary_metric]:.4f}",
    }
    if champ is not None:
        tags[f"{TAG}benchmark_vs"] = champ.version
        tags[f"{TAG}benchmark_{result.primary_metric}_diff"] = (
            f"{result.diff:+.4f} [{result.ci_low:+.4f}, {result.ci_high:+.4f}]"
        )
    registry.set_version_tags(spec, chal.version, tags)
    return run_id


# -- showing the pictures ------------------------------------------------------------------


#: A picture larger than this (bytes of PNG) is linked to its MLflow run, not inlined.
INLINE_MAX_BYTES = 200_000


def figures_folder(registry: Registry, result: BenchmarkResult) -> Path | None:
    """The folder on this machine that holds a benchmark's pictures, when its MLflow run's
    artifacts are stored in a local folder (the default file store); None for a remote
    artifact store (S3, an MLflow server), an unreadable run, or a benchmark without
    pictures."""
    from urllib.parse import unquote, urlparse

    if not result.figures or not result.mlflow_run_id:
        return None
    try:
        uri = registry.client.get_run(result.mlflow_run_id).info.artifact_uri
    except Exception as exc:
        log.warning("cannot read MLflow run %s: %s", result.mlflow_run_id, exc)
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    folder = Path(unquote(parsed.path)) / FIGURES_DIR
    return folder if folder.is_dir() else None


def figures_markdown(registry: Registry, result: BenchmarkResult, mlflow_ui: str | None) -> str:
    """Markdown that shows a benchmark's pictures (for the gate report's Prefect artifact):
    each PNG of ``result.figures``, read back from the benchmark's MLflow run, inline as a
    ``data:image/png;base64`` URI (the artifact then needs no server to display), and a
    link to the run's page in the MLflow UI (``mlflow_ui``, a public http(s) base; no link
    without one). A picture over :data:`INLINE_MAX_BYTES`, missing, or not a PNG is named
    with the run link instead. Empty when the benchmark drew none. Alt texts are escaped
    (:func:`~driftline.config.markup.markdown_text`); base64 holds no markdown."""
    import base64

    from driftline.config.links import run_url
    from driftline.config.markup import markdown_text

    if not result.figures or not result.mlflow_run_id:
        return ""
    run_id = result.mlflow_run_id
    lines = ["### Pictures", ""]
    link: str | None = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run = registry.client.get_run(run_id)
            link = run_url(mlflow_ui, run.info.experiment_id, run_id)
            folder = Path(registry.client.download_artifacts(run_id, FIGURES_DIR, tmp))
        except Exception as exc:
            log.warning("cannot read the pictures of MLflow run %s: %s", run_id, exc)
            folder = None
        if link:
            lines += [
                f"In MLflow: [benchmark run {markdown_text(run_id)}]({link}) (Artifacts tab)",
                "",
            ]
        for path in result.figures:
            name = Path(path).name
            title = markdown_text(Path(path).stem.replace("-", " "))
            data = _png(folder / name) if folder is not None else None
            if data is not None and len(data) <= INLINE_MAX_BYTES:
                encoded = base64.b64encode(data).decode("ascii")
                lines += [f"![{title}](data:image/png;base64,{encoded})", ""]
            else:
                lines += [f"- {title}: `{markdown_text(path)}` in the benchmark run", ""]
    return "\n".join(lines)


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png(path: Path) -> bytes | None:
    """The bytes of a PNG file, or None when it is missing or not a PNG."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(_PNG_MAGIC) else None


# -- the store -----------------------------------------------------------------------------


def record_benchmark(store: Store, result: BenchmarkResult) -> int:
    """Keep a benchmark result in the store (``dl_benchmarks``); returns its id, which
    the gate report and the audit trail refer to."""
    table = store.table(BENCHMARKS_TABLE)
    primary = result.primary_metric
    values = {
        "model": result.model,
        "challenger_version": result.challenger.version,
        "champion_version": result.champion.version if result.champion else None,
        "window_start": pd.Timestamp(result.window_start).to_pydatetime(),
        "window_end": pd.Timestamp(result.window_end).to_pydatetime(),
        "rows": result.rows,
        "primary_metric": primary,
        "challenger_value": finite_or_none(result.challenger.metrics[primary]),
        "champion_value": finite_or_none(result.champion.metrics[primary])
        if result.champion
        else None,
        "diff": finite_or_none(result.diff),
        "ci_low": finite_or_none(result.ci_low),
        "ci_high": finite_or_none(result.ci_high),
        "result_json": result.to_json(),
        "mlflow_run_id": result.mlflow_run_id,
        "created_at": utc_now(),
    }
    with store.engine.begin() as conn:
        return int(conn.execute(table.insert().values(**values)).inserted_primary_key[0])


def latest_benchmark(
    store: Store, model: str, challenger: str, champion: str | None
) -> BenchmarkResult | None:
    """The newest stored benchmark of exactly this challenger against this champion
    (``champion`` None: the benchmark of a first model), or None."""
    table = store.table(BENCHMARKS_TABLE)
    champion_match = (
        table.c.champion_version.is_(None)
        if champion is None
        else table.c.champion_version == champion
    )
    query = (
        sa.select(table.c.id, table.c.result_json)
        .where(table.c.model == model, table.c.challenger_version == challenger, champion_match)
        .order_by(table.c.id.desc())
        .limit(1)
    )
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    data = json.loads(row.result_json)
    data["benchmark_id"] = int(row.id)
    return BenchmarkResult.from_dict(data)


__all__ = [
    "FIGURES_DIR",
    "benchmark",
    "figures_markdown",
    "latest_benchmark",
    "record_benchmark",
]
