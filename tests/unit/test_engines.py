"""The drift engine registry: the built-in engine, a toy engine registered through the
registry API and accepted by specs and checks, and each engine's method catalogue."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import yaml

from driftline.alerts.monitor_run import _strength
from driftline.cli.main import main
from driftline.config.errors import SpecError
from driftline.monitoring.check import compare_frames
from driftline.monitoring.engines import (
    ENGINES,
    ColumnScore,
    DriftMethod,
    EngineOutput,
    method_problem,
)
from driftline.monitoring.engines.evidently import EvidentlyEngine
from driftline.monitoring.filecheck import check_files
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.policy import effective_drift
from driftline.monitoring.results import ALL_MISSING, ColumnDrift, DriftResult
from driftline.plugins import BUILTIN
from driftline.specs import ModelSpec, parse_spec

from ..conftest import SPECS_DIR


class ToyEngine:
    """Deterministic distances: the mean's shift in reference standard deviations
    (numerical) and the change in the share of the reference's top category."""

    name = "toy"
    methods: ClassVar[dict[str, DriftMethod]] = {
        "mean_shift": DriftMethod("mean_shift", frozenset({"numerical"}), "distance", 0.5),
        "top_share": DriftMethod("top_share", frozenset({"categorical"}), "distance", 0.1),
    }

    def default_method(self, column_type: str, *, reference_rows: int, distinct_values: int) -> str:
        return "mean_shift" if column_type == "numerical" else "top_share"

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
        scores = {}
        for column, kind in columns.items():
            is_score = column == plan.prediction
            method = (plan.prediction_method if is_score else plan.methods.get(column)) or (
                self.default_method(kind, reference_rows=len(reference), distinct_values=0)
            )
            threshold = (
                plan.prediction_threshold if is_score else plan.thresholds.get(column)
            ) or self.methods[method].threshold
            ref, cur = reference[column].dropna(), current[column].dropna()
            if method == "mean_shift":
                score = abs(cur.mean() - ref.mean()) / (ref.std() or 1.0)
            else:
                top = ref.value_counts().idxmax()
                score = abs((cur == top).mean() - (ref == top).mean())
            scores[column] = ColumnScore(
                method, float(score), threshold, bool(score >= threshold), p_value=False
            )
        return EngineOutput(scores=scores, report=None)


@pytest.fixture
def toy() -> Iterator[ToyEngine]:
    engine = ToyEngine()
    ENGINES.register(engine)
    yield engine
    ENGINES.unregister(engine.name)


def _raw(**monitoring: Any) -> dict[str, Any]:
    data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
    data["monitoring"] = monitoring
    return data


@pytest.fixture
def mspec() -> ModelSpec:
    return parse_spec(_raw())


def _frames(spec: ModelSpec, shifted: str, rows: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames of the spec's features and score; ``shifted`` (a
    numerical feature) moves by two standard deviations in the current one."""
    rng = np.random.default_rng(5)

    def frame(shift: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for column, kind in spec.column_types.items():
            if kind == "numerical":
                data[column] = rng.normal(2.0 if shift and column == shifted else 0.0, 1, rows)
            else:
                data[column] = rng.choice(["a", "b", "c"], rows, p=[0.6, 0.3, 0.1])
        data[spec.model.prediction] = rng.uniform(0, 1, rows)
        return pd.DataFrame(data)

    return frame(False), frame(True)


def test_the_registry_lists_the_built_in_engine() -> None:
    assert "evidently" in ENGINES.names()
    assert isinstance(ENGINES.get("evidently"), EvidentlyEngine)
    assert {e.name: e.source for e in ENGINES.entries()}["evidently"] == BUILTIN
    with pytest.raises(SpecError, match=r"unknown drift engine 'nope'; choose one of .*evidently"):
        ENGINES.get("nope")


def test_an_engine_without_a_catalogue_is_refused() -> None:
    class Bare:
        name = "bare"

        def run(self) -> None: ...

    with pytest.raises(ValueError, match="needs a non-empty `methods` mapping"):
        ENGINES.register(Bare())  # type: ignore[arg-type]
    assert "bare" not in ENGINES.names()


def test_a_toy_engine_is_accepted_in_a_spec_and_runs_the_check(toy: ToyEngine) -> None:
    spec = parse_spec(
        _raw(
            drift={
                "engine": "toy",
                "numerical": {"method": "mean_shift"},
                "columns": {"discount_share": {"method": "mean_shift", "threshold": 1.5}},
            },
            prediction_drift={"method": "mean_shift"},
        )
    )
    plan = DriftPlan.from_spec(spec)
    assert plan.engine == "toy"
    reference, current = _frames(spec, shifted="recency_days")
    result = compare_frames(reference, current, plan)
    assert result.engine == "toy"
    assert result.drifted_columns == ["recency_days"]
    assert {c.method for c in result.columns if c.type == "categorical"} == {"top_share"}
    assert result.column("discount_share").threshold == 1.5
    assert result.prediction is not None and result.prediction.method == "mean_shift"
    assert not any(c.p_value for c in result.columns)  # the toy's own fact, not Evidently's


def test_methods_the_engine_lacks_are_spec_errors_naming_its_methods(toy: ToyEngine) -> None:
    # The shipped spec tests discount_share with psi, which only Evidently has.
    with pytest.raises(SpecError) as err:
        parse_spec(_raw(drift={"engine": "toy", "columns": {"discount_share": {"method": "psi"}}}))
    assert (
        "monitoring.drift.columns.discount_share.method: unknown drift method 'psi' for drift "
        "engine 'toy'; choose one of mean_shift, top_share"
    ) in str(err.value)
    with pytest.raises(SpecError) as err:
        parse_spec(_raw(drift={"engine": "nope"}))
    assert "monitoring.drift.engine" in str(err.value)
    assert "unknown drift engine 'nope'; choose one of auto, evidently, native, scipy, toy" in str(
        err.value
    )


def test_a_plan_run_by_another_engine_than_its_spec_is_refused_naming_the_method() -> None:
    """The shipped spec was checked against its own engine (psi on discount_share is an
    Evidently method); handing the check another engine (an ``engine`` argument) is a
    SpecError naming the column and the engine's methods, never a KeyError mid-run."""
    spec = parse_spec(yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text()))
    plan = DriftPlan.from_spec(spec)
    frame = pd.DataFrame({c: np.zeros(50) for c in plan.columns})
    with pytest.raises(SpecError, match=r"discount_share: unknown drift method 'psi' for drift "
                       r"engine 'scipy'; choose one of"):  # fmt: skip
        compare_frames(frame, frame, plan, engine=ENGINES.get("scipy"))


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        (
            {"drift": {"engine": "toy", "columns": {"channel": {"method": "mean_shift"}}}},
            "monitoring.drift.columns.channel.method: drift method 'mean_shift' does not apply "
            "to categorical columns (it tests numerical columns)",
        ),
        (
            {"drift": {"engine": "toy"}, "prediction_drift": {"method": "top_share"}},
            "monitoring.prediction_drift.method: drift method 'top_share' does not apply to "
            "numerical columns",
        ),
        (
            {"drift": {"columns": {"channel": {"method": "ks"}}}},
            "monitoring.drift.columns.channel.method: drift method 'ks' does not apply to "
            "categorical columns (it tests numerical columns)",
        ),
    ],
)
def test_catalogue_methods_are_typed(
    toy: ToyEngine, monitoring: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_raw(**monitoring))
    assert message in str(err.value)


def test_method_problem_reads_the_engines_catalogue(toy: ToyEngine) -> None:
    evidently = ENGINES.get("evidently")
    assert method_problem(evidently, "psi", "categorical") is None
    assert method_problem(toy, "mean_shift", "numerical") is None
    assert "choose one of mean_shift, top_share" in str(method_problem(toy, "psi", "numerical"))
    assert evidently.methods["ks"].p_value and not evidently.methods["psi"].p_value


def test_results_carry_the_engines_p_value_fact(mspec: ModelSpec) -> None:
    # Results built by hand read the default engine's catalogue ...
    assert ColumnDrift("a", "numerical", "ks", 0.01, 0.05, True).p_value is True
    assert ColumnDrift("a", "numerical", "psi", 0.3, 0.1, True).p_value is False
    assert ColumnDrift("a", "numerical", ALL_MISSING, 1.0, 0.05, True, 1.0).p_value is False
    # ... while an engine's own fact wins, whatever the method's name: here five p-values
    # of an engine Evidently does not know, which false discovery control corrects.
    columns = tuple(
        ColumnDrift(f"c{i}", "numerical", "toy_test", p, 0.05, p < 0.05, p_value=True)
        for i, p in enumerate([0.001, 0.04, 0.3, 0.5, 0.9])
    )
    result = DriftResult(
        columns=columns,
        drift_share=0.4,
        drift_share_threshold=0.5,
        dataset_drift=False,
        prediction=None,
        quality=(),
        performance=None,
        rows_reference=1000,
        rows_current=1000,
        engine="toy",
    )
    drifted, cleared = effective_drift(result, mspec)
    assert (drifted, cleared) == (["c0"], ["c1"])
    strong, weak = columns[0], columns[1]
    assert _strength(strong) > _strength(weak) > 1  # p-values: smaller is stronger


def test_file_check_and_cli_take_an_engine_by_name(
    toy: ToyEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    pd.DataFrame({"x": rng.normal(0, 1, 300), "c": rng.choice(["a", "b"], 300)}).to_csv(
        ref, index=False
    )
    pd.DataFrame({"x": rng.normal(3, 1, 300), "c": rng.choice(["a", "b"], 300)}).to_csv(
        cur, index=False
    )
    check = check_files(ref, cur, numerical="x", categorical="c", engine="toy", min_rows=1)
    assert check.plan.engine == "toy"
    assert [(c.name, c.method, c.drifted) for c in check.result.columns] == [
        ("x", "mean_shift", True),
        ("c", "top_share", False),
    ]
    # The spec's methods must be in the catalogue of the engine that replaces its own.
    shipped = parse_spec(_raw(drift={"columns": {"discount_share": {"method": "psi"}}}))
    with pytest.raises(SpecError, match="discount_share: unknown drift method 'psi'"):
        check_files(ref, cur, spec=shipped, engine="toy")

    def cli(*args: str | Path) -> int:
        monkeypatch.setattr(sys, "argv", ["driftline", *map(str, args)])
        with pytest.raises(SystemExit) as exit_info:
            main()
        return int(exit_info.value.code or 0)

    out = tmp_path / "out.json"
    base = (
        "drift",
        "check",
        "--min-rows",
        "1",
        "--reference",
        ref,
        "--current",
        cur,
        "--numerical",
        "x",
    )
    assert cli(*base, "--engine", "toy", "--json", out) == 0
    assert json.loads(out.read_text())["columns"][0]["method"] == "mean_shift"
    assert cli(*base, "--engine", "nope") == 2


class _Misbehaving(ToyEngine):
    """A toy engine that breaks its contract in the way ``mode`` says."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def run(
        self, current: pd.DataFrame, reference: pd.DataFrame, plan: DriftPlan, *a: Any, **k: Any
    ) -> EngineOutput:
        if self.mode == "crash":
            raise RuntimeError("boom in run")
        out = super().run(current, reference, plan, *a, **k)
        scores = dict(out.scores)
        first = next(iter(scores))
        if self.mode == "missing":
            scores.pop(first)
        elif self.mode == "unknown_method":
            scores[first] = ColumnScore("nope", 0.1, 0.5, False, p_value=False)
        elif self.mode == "numpy":
            s = scores[first]
            scores[first] = ColumnScore(
                s.method, np.float32(s.score), s.threshold, np.bool_(True), p_value=False
            )
        return EngineOutput(scores=scores, report=None)


def _small_frames() -> tuple[pd.DataFrame, pd.DataFrame, DriftPlan]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    cur = pd.DataFrame({"x": rng.normal(1, size=300), "c": rng.choice(["a", "b"], 300)})
    return ref, cur, DriftPlan(columns={"x": "numerical", "c": "categorical"})


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("crash", r"drift engine 'toy' failed: RuntimeError: boom in run"),
        ("missing", r"drift engine 'toy' returned no result for \['x'\]"),
        ("unknown_method", r"column 'x' outside its contract: method 'nope' is not in its"),
    ],
)
def test_an_engine_outside_its_contract_is_a_plugin_error(mode: str, message: str) -> None:
    from driftline.config.errors import PluginError

    ref, cur, plan = _small_frames()
    with pytest.raises(PluginError, match=message):
        compare_frames(ref, cur, plan, engine=_Misbehaving(mode))


def test_engine_scores_become_plain_python_values() -> None:
    ref, cur, plan = _small_frames()
    result = compare_frames(ref, cur, plan, engine=_Misbehaving("numpy"))
    x = result.column("x")
    assert type(x.drifted) is bool and type(x.score) is float
    json.dumps(result.to_contract())  # the --json contract stays serialisable


def test_the_stattest_guards_are_installed_once_however_often_the_engine_runs() -> None:
    """Every run installs the guards; a long-running process (``serve``) must not wrap the
    tests once more per run until a call nests past the recursion limit."""
    from evidently.legacy.calculation_engine.python_engine import PythonEngine
    from evidently.legacy.calculations import stattests

    from driftline.monitoring.engines.evidently import _guard_stattests

    _guard_stattests()
    installed = stattests.ks_stat_test._get_impl(PythonEngine)
    _guard_stattests()
    assert stattests.ks_stat_test._get_impl(PythonEngine) is installed
