"""Item 3: every drift method answers, or refuses naming the method and the column, on
constant, single-value, empty-after-missing and zero-count inputs; an internal error
exits with its own code (3), never 1 ("drift found" with --fail-on-drift)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.config.errors import DataError
from driftline.monitoring.check import compare_frames
from driftline.monitoring.engines.evidently import METHODS
from driftline.monitoring.plan import DriftPlan
from tests.conftest import Cli
from tests.robustness.conftest import write

CATEGORICAL = {
    "constant, same value": (["a"] * 70, ["a"] * 45),
    "constant, other value": (["a"] * 70, ["b"] * 45),
    "one value each": (["a"], ["b"]),
    "one left after missing": (["a", "b"] + [None] * 20, [None] * 20 + ["a"]),
    "zero-count bin": (["a", "b"] * 35, ["a"] * 45),
    "new category": (["a", "b"] * 35, ["a", "b", "c"] * 15),
}
NUMERICAL = {
    "constant, same value": ([1.0] * 70, [1.0] * 45),
    "constant, other value": ([1.0] * 70, [2.0] * 45),
    "one value each": ([1.0], [2.0]),
    "one left after missing": ([1.0, 2.0] + [np.nan] * 20, [np.nan] * 20 + [3.0]),
    "two values against one": ([0.0, 1.0] * 35, [0.0] * 45),
}
CASES = [
    (method, kind, case)
    for method, entry in METHODS.items()
    for kind in sorted(entry.column_types)
    for case in (CATEGORICAL if kind == "categorical" else NUMERICAL)
]


def _plan(kind: str, method: str) -> DriftPlan:
    plan = DriftPlan.from_columns({"c": kind})
    return replace(plan, methods={"c": method}, thresholds={"c": METHODS[method].threshold})


@pytest.mark.parametrize(("method", "kind", "case"), CASES)
def test_every_method_answers_or_explains(method: str, kind: str, case: str) -> None:
    ref, cur = (CATEGORICAL if kind == "categorical" else NUMERICAL)[case]
    try:
        result = compare_frames(
            pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur}), _plan(kind, method)
        )
    except DataError as exc:  # a refusal must say which method and which column
        assert repr(method) in str(exc) and "'c'" in str(exc)
        return
    column = result.columns[0]
    assert column.method == method
    assert np.isfinite(column.score)
    if case == "constant, same value":  # two samples of one value cannot differ
        assert column.drifted is False
        assert column.score == (1.0 if METHODS[method].p_value else 0.0)
    if case == "constant, other value":
        assert column.drifted is True


def test_the_issue_example_g_test_on_a_constant_category(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "model:\n  name: m\n  entity_id: e\n  timestamp: t\n  prediction: p\n  target: y\n"
        "  features: {categorical: [c], numerical: [x]}\n"
        "monitoring:\n  drift:\n    categorical: {method: g_test, threshold: 0.05}\n"
    )
    rng = np.random.default_rng(4)
    ref = write(pd.DataFrame({"c": ["a"] * 700, "x": rng.normal(size=700)}), tmp_path / "r.csv")
    cur = write(pd.DataFrame({"c": ["a"] * 450, "x": rng.normal(size=450)}), tmp_path / "c.csv")
    code, text = cli(
        "drift", "check", "--min-rows", "1",
        "--reference", str(ref), "--current", str(cur), "--spec", str(spec),
        "--fail-on-drift",
    )  # fmt: skip
    assert code == 0, text
    assert "g_test" in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("ref", "cur", "p_value"),
    [
        (["a"] * 700, ["a"] * 450, 1.0),
        (["a", "b"] * 350, ["a", "b"] * 225, 1.0),  # same shares, other sizes
    ],
)
def test_g_test_compares_shares_not_counts(ref: list, cur: list, p_value: float) -> None:
    plan = _plan("categorical", "g_test")
    result = compare_frames(pd.DataFrame({"c": ref}), pd.DataFrame({"c": cur}), plan)
    assert result.columns[0].score == pytest.approx(p_value)
    assert not result.columns[0].drifted


def test_fisher_exact_with_three_categories_is_refused_by_name() -> None:
    plan = _plan("categorical", "fisher_exact")
    with pytest.raises(DataError, match=r"fisher_exact.*column 'c' has 3"):
        compare_frames(
            pd.DataFrame({"c": ["a", "b"] * 50}), pd.DataFrame({"c": ["a", "b", "c"] * 30}), plan
        )


def test_an_internal_error_exits_3_with_a_short_message(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (here: a check that raises ZeroDivisionError) is neither "drift found" (1) nor
    bad input (2); the traceback goes to a log, and to stderr only with --verbose."""
    import driftline.monitoring.filecheck as filecheck

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero in a bug")

    monkeypatch.setattr(filecheck, "check_files", broken)
    monkeypatch.setenv("DRIFTLINE_HOME", str(tmp_path / "home"))
    args = ["drift", "check", "--reference", "r.csv", "--current", "c.csv", "--fail-on-drift"]
    code, text = cli(*args)
    assert code == 3
    assert "internal error" in text and "a bug in driftline" in text
    assert "Traceback" not in text and "--verbose" in text
    log = tmp_path / "home" / "logs" / "driftline-internal-errors.log"
    assert "ZeroDivisionError: division by zero in a bug" in log.read_text()
    code, text = cli("--verbose", *args)
    assert code == 3 and "Traceback" in text


def test_bad_input_still_exits_2(cli: Cli, tmp_path: Path) -> None:
    code, text = cli("drift", "check", "--reference", "nope.csv", "--current", "nope.csv")
    assert code == 2 and "file not found" in text
