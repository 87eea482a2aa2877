from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.config.errors import SpecError
from driftline.specs import find_spec, list_specs, load_spec, parse_spec

from ..conftest import SPECS_DIR


def _raw() -> dict[str, Any]:
    return yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())


def test_shipped_spec_is_valid() -> None:
    spec = load_spec(SPECS_DIR / "purchase_propensity.yaml")
    assert spec.name == "purchase_propensity"
    assert "channel" in spec.model.features.categorical
    assert spec.model.segments == ["channel", "device"]
    assert [s.name for s in list_specs(SPECS_DIR)] == [
        "churn_risk",
        "customer_ltv",
        "next_category",
        "purchase_propensity",
    ]


def test_unknown_key_names_file_key_and_allowed_keys() -> None:
    data = _raw()
    data["model"]["featurs"] = {}
    with pytest.raises(SpecError) as err:
        parse_spec(data, "monitors/x.yaml")
    message = str(err.value)
    assert "monitors/x.yaml" in message
    assert "model.featurs: unknown key" in message
    assert "entity_id" in message and "features" in message


def test_nested_unknown_key_lists_that_level() -> None:
    data = _raw()
    data["model"]["features"]["numerics"] = ["a"]
    with pytest.raises(
        SpecError,
        match=r"model\.features\.numerics: unknown key; allowed here: "
        r"numerical, categorical",
    ):
        parse_spec(data)


def test_missing_required_key() -> None:
    data = _raw()
    del data["model"]["entity_id"]
    with pytest.raises(SpecError, match=r"model\.entity_id: required key is missing"):
        parse_spec(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m.update(name="Purchase-Model"), "lowercase letters"),
        (lambda m: m.update(segments=["recency_days"]), "must be categorical features"),
        (lambda m: m.update(prediction="recency_days"), "used twice"),
        (lambda m: m.update(timestamp="ts_us"), "reserved"),
        (lambda m: m.update(features={"numerical": [], "categorical": []}), "at least one"),
        (lambda m: m.update(task="forecasting"), "binary_classification"),
        (lambda m: m.update(entity_id="customer id"), "plain identifier"),
    ],
)
def test_inconsistent_model_section_is_rejected(change: Any, expected: str) -> None:
    data = _raw()
    change(data["model"])
    with pytest.raises(SpecError, match=expected):
        parse_spec(data)


def test_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("model: {name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_find_spec_unknown_model_lists_known(tmp_path: Path) -> None:
    with pytest.raises(
        SpecError,
        match=r"specs found in .*: churn_risk, customer_ltv, next_category, purchase_propensity",
    ):
        find_spec("churn", SPECS_DIR)


def test_find_spec_name_must_match_file(tmp_path: Path) -> None:
    (tmp_path / "churn.yaml").write_text((SPECS_DIR / "purchase_propensity.yaml").read_text())
    with pytest.raises(SpecError, match="file is named 'churn'"):
        find_spec("churn", tmp_path)
