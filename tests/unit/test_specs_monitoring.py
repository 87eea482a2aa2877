"""The ``monitoring:`` section of a spec: defaults, durations, and clear errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import yaml

from driftline.config.errors import SpecError
from driftline.specs import load_spec, parse_spec

from ..conftest import SPECS_DIR


def _raw(**monitoring: Any) -> dict[str, Any]:
    data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
    data["monitoring"] = monitoring
    return data


def test_shipped_spec_and_defaults() -> None:
    spec = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    assert spec.monitoring.critical_features == ["cart_adds_7d", "discount_share"]
    assert spec.monitoring.drift.rule_for("discount_share", "numerical").method == "psi"
    bare = parse_spec({"model": _raw()["model"]})
    mon = bare.monitoring
    assert (mon.window, mon.min_rows, mon.drift.drift_share) == (timedelta(days=1), 500, 0.5)
    assert (mon.policy.persistence.required, mon.policy.persistence.of_last) == (4, 5)
    assert mon.policy.cooldown == timedelta(days=7)
    assert mon.performance.max_drop == {"roc_auc": 0.05, "pr_auc": 0.10}
    assert mon.drift.rule_for("recency_days", "numerical").method is None


def test_durations_and_rule_precedence() -> None:
    spec = parse_spec(
        _raw(
            window="12h",
            policy={"cooldown": "2w"},
            performance={"window": "P3D"},
            drift={
                "method": "psi",
                "threshold": 0.3,
                "categorical": {"method": "chisquare"},
                "columns": {"channel": {"threshold": 0.01}},
            },
        )
    )
    mon = spec.monitoring
    assert mon.window == timedelta(hours=12)
    assert mon.policy.cooldown == timedelta(weeks=2)
    assert mon.performance.window == timedelta(days=3)
    channel = mon.drift.rule_for("channel", "categorical")
    assert (channel.method, channel.threshold) == ("chisquare", 0.01)
    recency = mon.drift.rule_for("recency_days", "numerical")
    assert (recency.method, recency.threshold) == ("psi", 0.3)


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"drift": {"numerical": {"method": "kolmogorov"}}}, "unknown drift method 'kolmogorov'"),
        ({"drift": {"columns": {"channel": {"method": "ks"}}}}, "'ks' does not apply to categ"),
        ({"drift": {"method": "wasserstein"}}, "monitoring.drift.method: drift method"),
        ({"prediction_drift": {"method": "chisquare"}}, "prediction_drift.method"),
        ({"critical_features": ["basket_size"]}, "not features: ['basket_size']"),
        ({"drift": {"columns": {"nope": {"method": "psi"}}}}, "not features: ['nope']"),
        ({"policy": {"persistence": {"required": 4, "of_last": 2}}}, "exceeds of_last"),
        ({"schedule": "every day"}, "monitoring.schedule: 'every day' has 2 fields"),
        ({"schedule": "99 99 * * *"}, "monitoring.schedule: '99 99 * * *' is not a valid cron"),
        ({"schedule": "0 6 * * * *"}, "monitoring.schedule: '0 6 * * * *' has 6 fields"),
        ({"schedule": "H 6 * * *"}, "monitoring.schedule: 'H 6 * * *': random (R) and hashed"),
        ({"window": "1 fortnight"}, "monitoring.window"),
        ({"window": "0d"}, "must be longer than zero"),
        ({"drift": {"drift_share": 0}}, "monitoring.drift.drift_share"),
        ({"performance": {"max_drop": {"roc_auc": -0.1}}}, "must be positive numbers"),
        ({"performance": {"max_drop": {"f1": 0.1}}}, "monitoring.performance.max_drop"),
    ],
)
def test_bad_monitoring_sections_are_explained(monitoring: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_raw(**monitoring), "monitors/purchase_propensity.yaml")
    assert message in str(err.value)
    assert "monitors/purchase_propensity.yaml: invalid model spec" in str(err.value)


def test_unknown_monitoring_key_lists_the_allowed_ones() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(_raw(drift={"numerical": {"metod": "ks"}}))
    assert "monitoring.drift.numerical.metod: unknown key; allowed here: method, threshold" in str(
        err.value
    )


@pytest.mark.parametrize(
    "expression",
    [
        *("0 6 * * *", "*/15 * * * MON-FRI", "5,10-20/3 * * jan-mar *", "0 6 * * 7", "0 6 L * *"),
        *("99 99 * * *", "0 24 * * *", "0 6 1 13 *", "0 6 * *", "a b c d e", "H 6 * * *"),
    ],
)
def test_cron_check_agrees_with_prefects_parser(expression: str) -> None:
    """The spec's check (cronsim: the core may not import Prefect) accepts exactly what
    Prefect's deployment schedules accept, on every form the README shows."""
    from prefect.client.schemas.schedules import CronSchedule

    from driftline.specs.common import cron_problem

    try:
        CronSchedule(cron=expression)
        prefect_ok = True
    except ValueError:
        prefect_ok = False
    assert (cron_problem(expression) is None) == prefect_ok
