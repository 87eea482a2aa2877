"""The Evidently 0.7 drift engine and its catalogue of methods.

It runs an Evidently ``Report`` with ``DataDriftPreset(include_tests=True)`` for the
features, a ``ValueDrift`` for the model's score and ``MissingValueCount`` per column.
Labelled rows become a second snapshot, ``RocAuc``, for people and the dashboards only:
the realized metrics the policy reads come from the model's task. Raw Evidently
dictionaries never leave this module: results are matched by metric type and column,
never by position.

The catalogue (:data:`METHODS`) is plain data, so specs validate without importing
Evidently; a unit test checks it against Evidently's own registry of statistical tests
(names, column types, default thresholds, p-value or distance), so an upgrade that renames
or adds a test fails loudly instead of drifting apart.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from driftline.config.errors import DataError
from driftline.monitoring.engines import (
    ENGINES,
    ColumnScore,
    ColumnType,
    DriftMethod,
    EngineOutput,
    ScoreKind,
)

if TYPE_CHECKING:
    import pandas as pd

    from driftline.monitoring.plan import DriftPlan


def _catalogue(
    *rows: tuple[str, tuple[ColumnType, ...], ScoreKind, float],
) -> Mapping[str, DriftMethod]:
    """A read-only catalogue from (name, column types, score, default threshold) rows."""
    return MappingProxyType(
        {n: DriftMethod(n, frozenset(types), score, t) for n, types, score, t in rows}
    )


_NUM: tuple[ColumnType, ...] = ("numerical",)
_CAT: tuple[ColumnType, ...] = ("categorical",)
_BOTH: tuple[ColumnType, ...] = ("numerical", "categorical")

#: Evidently 0.7.23's tabular statistical tests: name, column types, score, default threshold.
METHODS: Mapping[str, DriftMethod] = _catalogue(
    ("anderson", _NUM, "p_value", 0.1),
    ("chisquare", _CAT, "p_value", 0.05),
    ("cramer_von_mises", _NUM, "p_value", 0.1),
    ("ed", _NUM, "distance", 0.1),
    ("empirical_mmd", _NUM, "p_value", 0.1),
    ("es", _NUM, "p_value", 0.05),
    ("fisher_exact", _CAT, "p_value", 0.1),
    ("g_test", _CAT, "p_value", 0.1),
    ("hellinger", _BOTH, "distance", 0.1),
    ("jensenshannon", _BOTH, "distance", 0.1),
    ("kl_div", _BOTH, "distance", 0.1),
    ("ks", _NUM, "p_value", 0.05),
    ("mannw", _NUM, "p_value", 0.05),
    ("psi", _BOTH, "distance", 0.1),
    ("t_test", _NUM, "p_value", 0.05),
    ("TVD", _CAT, "p_value", 0.1),
    ("wasserstein", _NUM, "distance", 0.1),
    ("z", _CAT, "p_value", 0.05),
)


class EvidentlyEngine:
    """Evidently 0.7: ``DataDriftPreset`` with tests, ``ValueDrift``, ``RocAuc``."""

    name = "evidently"
    methods = METHODS

    def default_method(self, column_type: str, *, reference_rows: int, distinct_values: int) -> str:
        """The test Evidently picks when the plan names none: by the reference's size, the
        column type and the distinct non-missing values of reference and current together.

        Up to 1000 reference rows: ``ks`` for numerical columns with more than 5 values,
        else ``chisquare`` (more than 2 values) or ``z``; above: ``wasserstein`` for
        numerical columns with more than 5 values, else ``jensenshannon``. (So a numerical
        column of few values gets a categorical test, as in Evidently.)
        """
        many = column_type == "numerical" and distinct_values > 5
        if reference_rows <= 1000:
            if many:
                return "ks"
            return "chisquare" if distinct_values > 2 else "z"
        return "wasserstein" if many else "jensenshannon"

    def run(
        self,
        current: pd.DataFrame,
        reference: pd.DataFrame,
        plan: DriftPlan,
        columns: dict[str, str],
        labelled: pd.DataFrame | None,
        *,
        timestamp: datetime | None = None,
        tags: Sequence[str] = (),
    ) -> EngineOutput:
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import MissingValueCount, RowCount, ValueDrift
        from evidently.presets import DataDriftPreset

        from driftline.config.times import naive_utc  # pandas: not at import (specs read us)

        features = [c for c in columns if c != plan.prediction]
        numerical = [c for c in plan.numerical if c in current.columns]
        if plan.prediction and plan.prediction in current.columns:
            numerical.append(plan.prediction)
        definition = DataDefinition(
            numerical_columns=numerical, categorical_columns=plan.categorical
        )
        items: list[Any] = []
        if features:  # a run may test the score alone (against its own version's reference)
            items.append(
                DataDriftPreset(
                    columns=features,
                    drift_share=plan.drift_share,
                    per_column_method={c: m for c, m in plan.methods.items() if c in features}
                    or None,
                    per_column_threshold={c: t for c, t in plan.thresholds.items() if c in features}
                    or None,
                )
            )
        if plan.prediction and plan.prediction in columns:
            items.append(
                ValueDrift(
                    column=plan.prediction,
                    method=plan.prediction_method,
                    threshold=plan.prediction_threshold,
                )
            )
        # Row and missing-value counts feed the dashboards, not the verdicts.
        items += [RowCount(), *(MissingValueCount(column=c) for c in plan.columns)]
        report = Report(items, include_tests=True)
        stamp = naive_utc(timestamp)
        with warnings.catch_warnings():
            # Evidently divides by zero on constant or empty columns; the verdicts are fine.
            warnings.simplefilter("ignore", RuntimeWarning)
            snapshot = report.run(
                Dataset.from_pandas(current, data_definition=definition),
                Dataset.from_pandas(reference, data_definition=definition),
                timestamp=stamp,
                tags=list(tags),
            )
        scores = _value_drift_scores(snapshot.dict())
        performance = None
        if labelled is not None and plan.score and plan.target:
            performance = _performance_snapshot(labelled, plan.score, plan.target, stamp, tags)
        if not plan.row_level_report:
            snapshot = aggregates_only(snapshot)
            performance = aggregates_only(performance) if performance is not None else None
        return EngineOutput(
            scores={c: scores[c] for c in columns},
            report=EvidentlyReport(snapshot, performance),
        )


def _method_names() -> dict[str, str]:
    """Evidently's display names of its tests ("K-S p_value") -> their names ("ks")."""
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import StatTest

    return {t.display_name: t.name for t in vars(stattests).values() if isinstance(t, StatTest)}


def _value_drift_scores(raw: dict[str, Any]) -> dict[str, ColumnScore]:
    """Per-column scores from a snapshot's dict: every ValueDrift metric, matched with
    its test by the metric's id (never by position). DataError when Evidently reports a
    method that is not in :data:`METHODS` (an Evidently upgrade the catalogue missed)."""
    names = _method_names()
    failed = {
        t["metric_config"]["metric_id"]: str(getattr(t["status"], "value", t["status"])) == "FAIL"
        for t in raw.get("tests", [])
        if t.get("id") == "drift"
    }
    scores: dict[str, ColumnScore] = {}
    for metric in raw.get("metrics", []):
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith(":ValueDrift"):
            continue
        column = config["column"]
        method = names.get(config.get("method"), str(config.get("method")))
        entry = METHODS.get(method)
        if entry is None:
            raise DataError(
                f"Evidently tested column {column!r} with {method!r}, which the evidently "
                "engine's catalogue lacks; check the installed Evidently version"
            )
        scores[column] = ColumnScore(
            method=method,
            score=float(metric["value"]),
            threshold=float(config["threshold"]),
            drifted=failed.get(metric["id"], False),
            p_value=entry.p_value,
        )
    return scores


def _performance_snapshot(
    labelled: pd.DataFrame,
    prediction: str,
    target: str,
    timestamp: datetime | None,
    tags: Sequence[str],
) -> Any:
    """An Evidently ``RocAuc`` snapshot of the labelled rows (score + 0/1 label), for the
    ``-performance.html`` report and the dashboards' ROC AUC panel. Its value is for
    display: realized performance comes from the task, with the same definition."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.metrics import RocAuc

    definition = DataDefinition(
        numerical_columns=[prediction],
        classification=[BinaryClassification(target=target, prediction_probas=prediction)],
    )
    return Report([RocAuc()]).run(
        Dataset.from_pandas(labelled[[prediction, target]], data_definition=definition),
        None,
        timestamp=timestamp,
        tags=[*tags, "performance"],
    )


def aggregates_only(snapshot: Any) -> Any:
    """The snapshot without anything that shows individual values: every plot (the
    per-row scatter of a drift widget, whose "aggregated" form still shows one row's value
    when a bin holds one customer's rows; histograms, whose outer bin edges are the
    column's minimum and maximum; category bars, which name rare categories) and the
    distributions of the drift table. What stays: scores, methods, thresholds, verdicts,
    tests and counts. Metric values are untouched, so dashboards read the same numbers.
    Used for every report and snapshot unless the spec asks for ``report_detail: rows``."""
    from evidently.core.report import Snapshot

    data = snapshot.dump_dict()
    data["widgets"] = _without_plots(data.get("widgets", []))
    data["tests_widgets"] = _without_plots(data.get("tests_widgets", []))
    for result in (data.get("metric_results") or {}).values():
        if isinstance(result, dict) and "widget" in result:
            result["widget"] = _without_plots(result.get("widget") or [])
    return Snapshot.load_dict(data)


_VALUE_KEYS = {"current_distribution", "reference_distribution", "details"}


def _without_plots(widgets: list[Any]) -> list[Any]:
    """Widgets (as dicts) with plots and value distributions removed, recursively; a
    widget that is nothing but a plot is dropped."""
    kept = []
    for widget in widgets:
        if not isinstance(widget, dict):
            continue
        params = widget.get("params")
        if isinstance(params, dict) and "data" in params and "layout" in params:
            continue  # a plotly figure
        widget["additionalGraphs"] = []
        widget["tabs"] = []
        widget["insights"] = []
        if isinstance(params, dict) and isinstance(params.get("data"), list):
            for row in params["data"]:
                if isinstance(row, dict):
                    for key in _VALUE_KEYS & row.keys():
                        row[key] = None
        if widget.get("widgets"):
            widget["widgets"] = _without_plots(widget["widgets"])
        if widget.get("type") == "tabs" and not widget.get("widgets"):
            continue
        kept.append(widget)
    return kept


_DATA_BLOCK = re.compile(r"<script>\s*var (metric_[0-9a-f]+) = ")


def sealed_html(snapshot: Any) -> str:
    """A snapshot's standalone HTML page, with its data made inert.

    Evidently embeds the report's data as JSON in a ``<script>`` element
    (``var metric_<id> = {...}``, up to the page's root ``<div id="root_metric_<id>">``)
    without escaping ``</script>`` or ``<!--`` inside strings, so a category value or
    column name could end the element and run script when the page is opened. Every ``<``
    in that block is written ``\\u003c`` (:func:`driftline.config.markup.seal_script_json`).
    DataError when the page is not laid out that way (an Evidently upgrade): no report
    rather than an unsafe one."""
    from driftline.config.markup import seal_script_json

    page = snapshot.get_html_str(as_iframe=False)
    found = _DATA_BLOCK.search(page)
    root = page.find(f'<div id="root_{found.group(1)}"') if found else -1
    end = page.rfind("</script>", 0, root) if found and root > 0 else -1
    if found is None or end < found.end():
        raise DataError(
            "Evidently's HTML page is not laid out as driftline expects (its data block was "
            "not found), so no report was written; check the installed Evidently version"
        )
    return seal_script_json(page, found.end(), end)


class EvidentlyReport:
    """The Evidently snapshots of one check: drift, and performance when labels existed."""

    def __init__(self, drift: Any, performance: Any | None = None) -> None:
        self._drift = drift
        self._performance = performance

    def save_html(self, path: Path) -> list[Path]:
        """Write the drift report to ``path`` (and the performance report beside it, named
        ``<stem>-performance.html``); returns the paths written. Data in the page cannot
        run as script (:func:`sealed_html`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sealed_html(self._drift), encoding="utf-8")
        written = [path]
        if self._performance is not None:
            perf = path.with_name(f"{path.stem}-performance{path.suffix}")
            perf.write_text(sealed_html(self._performance), encoding="utf-8")
            written.append(perf)
        return written

    def add_to_workspace(self, workspace: Any, project_id: Any, name: str) -> list[str]:
        ids = [str(workspace.add_run(project_id, self._drift, include_data=False, name=name).id)]
        if self._performance is not None:
            ref = workspace.add_run(
                project_id, self._performance, include_data=False, name=f"{name} performance"
            )
            ids.append(str(ref.id))
        return ids


ENGINES.register(EvidentlyEngine())
