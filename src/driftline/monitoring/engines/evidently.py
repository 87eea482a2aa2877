"""The Evidently 0.7 drift engine and its catalogue of methods.

It runs an Evidently ``Report`` with ``DataDriftPreset(include_tests=True)`` for the
features, a ``ValueDrift`` for each prediction column (the score; a multiclass model's
predicted class and class probabilities) and ``MissingValueCount`` per column. Labelled
rows become a second snapshot (``RocAuc`` under ``BinaryClassification``; ``MAE``,
``RMSE``, ``R2Score`` under ``Regression``; accuracy, F1, ROC AUC and log loss under
``MulticlassClassification``), for people and the dashboards only:
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
import uuid
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

        _guard_stattests()
        predictions = plan.tested_predictions
        features = [c for c in columns if c not in predictions]
        numerical = [c for c in plan.numerical if c in current.columns]
        categorical = list(plan.categorical)
        for column, kind in predictions.items():
            if column in current.columns:
                (numerical if kind == "numerical" else categorical).append(column)
        definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
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
        for column in predictions:
            if column in columns:
                method, threshold = plan.prediction_rule(column)
                items.append(ValueDrift(column=column, method=method, threshold=threshold))
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
        if labelled is not None and plan.classes and plan.target:
            performance = _multiclass_snapshot(labelled, plan.classes, plan.target, stamp, tags)
        elif labelled is not None and plan.score and plan.target:
            performance = _performance_snapshot(
                labelled, plan.score, plan.target, stamp, tags, task=plan.task
            )
        if not plan.row_level_report:
            snapshot = aggregates_only(snapshot)
            performance = aggregates_only(performance) if performance is not None else None
        return EngineOutput(
            scores={c: scores[c] for c in columns},
            report=EvidentlyReport(snapshot, performance),
        )


# -- tests that must answer on any data ------------------------------------------------------


def _g_test(reference: pd.Series, current: pd.Series, _kind: Any, threshold: float) -> Any:
    """The G-test of homogeneity of two samples' category counts (a 2 x k contingency
    table, ``scipy.stats.chi2_contingency`` with ``lambda_="log-likelihood"``; Sokal and
    Rohlf, Biometry, 17.6). Evidently's own uses the reference counts as expected counts
    of the current sample, which fails whenever the two samples differ in size."""
    import numpy as np
    from scipy.stats import chi2_contingency

    table = _counts(reference, current)
    if table.shape[1] < 2:  # one category in both samples: they cannot differ
        return 1.0, False
    p_value = float(chi2_contingency(table, correction=False, lambda_="log-likelihood").pvalue)
    return p_value, bool(np.less(p_value, threshold))


def _fisher_exact(reference: pd.Series, current: pd.Series, _kind: Any, threshold: float) -> Any:
    """Fisher's exact test on the 2 x 2 table of two categories' counts in the two samples
    (``scipy.stats.fisher_exact``). Evidently's own pairs the samples row by row, so it
    needs samples of equal size. DataError for a column with more than two categories."""
    from scipy.stats import fisher_exact

    table = _counts(reference, current)
    if table.shape[1] > 2:
        raise DataError(
            f"drift method 'fisher_exact' tests a column of two categories; column "
            f"{reference.name!r} has {table.shape[1]}: choose chisquare or g_test for it"
        )
    if table.shape[1] < 2:
        return 1.0, False
    p_value = float(fisher_exact(table).pvalue)
    return p_value, p_value < threshold


def _counts(reference: pd.Series, current: pd.Series) -> Any:
    """Category counts of two samples as a 2 x k array (categories seen in either)."""
    import pandas as pd

    both = pd.concat(
        [reference.dropna().value_counts(), current.dropna().value_counts()], axis=1
    ).fillna(0)
    return both.to_numpy(dtype=float).T


#: Evidently tests replaced by a correct implementation of the same statistic.
_REPLACED = {"g_test": _g_test, "fisher_exact": _fisher_exact}


def _guard_stattests() -> None:
    """Make every Evidently test of :data:`METHODS` answer or explain, once per process.

    ``g_test`` and ``fisher_exact`` get implementations that accept samples of any size
    (:data:`_REPLACED`); every test's failure on the data it was given (too few values,
    no spread, ...) becomes a DataError naming the method and the column, with what to do
    instead of a library traceback. Installed through Evidently's
    ``add_stattest_impl``, so reports and their HTML keep the tests' names.
    """
    from evidently.legacy.calculation_engine.python_engine import PythonEngine
    from evidently.legacy.calculations import stattests
    from evidently.legacy.calculations.stattests.registry import (
        PythonStatTest,
        StatTest,
        add_stattest_impl,
        create_impl_wrapper,
    )

    class Guarded(PythonStatTest):
        #: Marks an installed guard: each call defines this class anew, so ``isinstance``
        #: against it would miss the guards of earlier calls and wrap them again.
        driftline_guard = True

        def __init__(self, name: str, inner: Any) -> None:
            self.name, self.inner = name, inner

        def __call__(self, data: Any, feature_type: Any, threshold: float) -> Any:
            try:
                return self.inner(data, feature_type, threshold)
            except DataError:
                raise
            except Exception as exc:
                column = getattr(data.reference_data, "name", None)
                raise DataError(
                    f"drift method {self.name!r} cannot test column {column!r} on these "
                    f"values ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); it "
                    "needs at least two values in each sample and some spread: choose "
                    "another method for this column (e.g. ks or wasserstein for numbers, "
                    "chisquare or jensenshannon for categories)"
                ) from exc

    for test in vars(stattests).values():
        if not isinstance(test, StatTest) or test.name not in METHODS:
            continue
        current = test._get_impl(PythonEngine)
        if getattr(current, "driftline_guard", False):
            continue
        replaced = _REPLACED.get(test.name)
        inner = create_impl_wrapper(replaced) if replaced is not None else current
        add_stattest_impl(test, PythonEngine, Guarded(test.name, inner))


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
    *,
    task: str | None = None,
) -> Any:
    """An Evidently snapshot of the labelled rows for the ``-performance.html`` report and
    the dashboards' performance panels, with the data definition of the model's task:
    ``RocAuc`` for a 0/1 label (``BinaryClassification``), ``MAE``, ``RMSE`` and
    ``R2Score`` for a value (``Regression``). Its values are for display: realized
    performance comes from the task, with the same definitions."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.metrics import MAE, RMSE, R2Score, RocAuc

    if task == "regression":
        definition = DataDefinition(
            numerical_columns=[prediction, target],
            regression=[Regression(target=target, prediction=prediction)],
        )
        metrics: list[Any] = [MAE(), RMSE(), R2Score()]
    else:
        definition = DataDefinition(
            numerical_columns=[prediction],
            classification=[BinaryClassification(target=target, prediction_probas=prediction)],
        )
        metrics = [RocAuc()]
    return Report(metrics).run(
        Dataset.from_pandas(labelled[[prediction, target]], data_definition=definition),
        None,
        timestamp=timestamp,
        tags=[*tags, "performance"],
    )


def _multiclass_snapshot(
    labelled: pd.DataFrame,
    classes: Mapping[str, str],
    target: str,
    timestamp: datetime | None,
    tags: Sequence[str],
) -> Any:
    """An Evidently snapshot of a multiclass model's labelled rows (``MulticlassClassification``:
    class names as labels, one probability column per class, the most probable class as
    the prediction): accuracy, macro F1, macro ROC AUC and log loss, for the
    ``-performance.html`` report and the dashboards. Display only, like the binary one."""
    import numpy as np
    import pandas as pd
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.metrics import Accuracy, F1Score, LogLoss, RocAuc

    names = list(classes)
    p = labelled[list(classes.values())].to_numpy(dtype=float)
    frame = pd.DataFrame(p, columns=names)
    frame[target] = np.asarray(names, dtype=object)[labelled[target].to_numpy(dtype=int)]
    frame["__predicted"] = np.asarray(names, dtype=object)[p.argmax(axis=1)]
    definition = DataDefinition(
        numerical_columns=names,
        categorical_columns=[target, "__predicted"],
        classification=[
            MulticlassClassification(
                target=target, prediction_labels="__predicted", prediction_probas=names
            )
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return Report([Accuracy(), F1Score(), RocAuc(), LogLoss()]).run(
            Dataset.from_pandas(frame, data_definition=definition),
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


def with_labels(snapshot: Any, tags: list[str], metadata: dict[str, str]) -> Any:
    """``snapshot`` with ``tags`` added (each once) and ``metadata`` merged in, through
    Evidently's own serialised form (``dump_dict`` / ``Snapshot.load_dict``)."""
    from evidently.core.report import Snapshot

    data = snapshot.dump_dict()
    data["tags"] = list(dict.fromkeys([*(data.get("tags") or []), *tags]))
    data["metadata"] = {**(data.get("metadata") or {}), **metadata}
    return Snapshot.load_dict(data)


def share_viewer(paths: Sequence[Path]) -> list[Path]:
    """Make report pages use one shared copy of Evidently's viewer script instead of each
    embedding it: the viewer (``index.js`` of the installed Evidently, 3.5 MB of the 3.7 MB
    of an aggregates report) is written once per folder as ``evidently-<version>.js`` and
    each page loads it with ``<script src>`` from beside itself, so a page still opens by
    double-click (``file://``) or from any web server of the folder. A page without the
    embedded viewer is left as it is. Returns the pages changed. Source: the page layout
    of Evidently 0.7's ``file_html_template`` (``evidently.legacy.utils.dashboard``)."""
    import evidently

    bundle = Path(evidently.__path__[0]) / "nbextension" / "static" / "index.js"
    viewer = bundle.read_text(encoding="utf-8")
    embedded = f"<script>{viewer}</script>"
    name = f"evidently-{evidently.__version__}.js"
    changed = []
    for path in paths:
        page = path.read_text(encoding="utf-8")
        if embedded not in page:
            continue
        shared = path.parent / name
        if not shared.exists():
            temporary = shared.with_name(f".{name}.{uuid.uuid4().hex[:8]}")
            temporary.write_text(viewer, encoding="utf-8")
            temporary.replace(shared)  # atomic: a concurrent run never sees half a file
        slim = page.replace(embedded, f'<script src="{name}"></script>', 1)
        path.write_text(slim, encoding="utf-8")
        changed.append(path)
    return changed


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

    def add_to_workspace(
        self,
        workspace: Any,
        project_id: Any,
        name: str,
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        def labelled(snapshot: Any) -> Any:
            return (
                with_labels(snapshot, list(tags), dict(metadata or {}))
                if tags or metadata
                else snapshot
            )

        drift = labelled(self._drift)
        ids = [str(workspace.add_run(project_id, drift, include_data=False, name=name).id)]
        if self._performance is not None:
            ref = workspace.add_run(
                project_id,
                labelled(self._performance),
                include_data=False,
                name=f"{name} performance",
            )
            ids.append(str(ref.id))
        return ids


ENGINES.register(EvidentlyEngine())
