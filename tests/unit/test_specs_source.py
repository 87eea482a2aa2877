"""The ``source:`` section: a table or query in the user's database, named by an
environment variable; every mistake is an error naming the key and what to write."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from driftline.config.errors import SpecError
from driftline.specs import ModelSpec, parse_spec
from driftline.specs.source import query_parameters, split_relation

from ..conftest import SPECS_DIR


def _with_source(source: Any) -> dict[str, Any]:
    data = yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())
    data["source"] = source
    return data


def test_no_source_means_the_store() -> None:
    spec = parse_spec(_with_source(None))
    assert spec.source is None


def test_a_table_with_labels_in_another_table() -> None:
    spec = parse_spec(
        _with_source(
            {
                "url_env": "SHOP_DB_URL",
                "table": "analytics.scores",
                "labels": {"table": "analytics.outcomes", "labelled_at": "known_at"},
            }
        )
    )
    assert spec.source is not None and spec.source.labels is not None
    assert spec.source.describe() == "table analytics.scores ($SHOP_DB_URL)"
    assert spec.source.labels.labelled_at == "known_at"
    assert split_relation("analytics.scores") == ("analytics", "scores")
    assert split_relation("scores") == (None, "scores")


def test_a_query_may_use_start_and_end() -> None:
    query = "-- the day's scores\nSELECT * FROM scores WHERE ts >= :start AND ts < :end;"
    spec = parse_spec(_with_source({"url_env": "DB", "query": query}))
    assert spec.source is not None and spec.source.query is not None
    assert not spec.source.query.endswith(";")  # a trailing semicolon would break a subquery
    assert spec.source.describe() == "query ($DB)"
    assert query_parameters("SELECT x::int FROM t WHERE a = :start") == {"start"}


def _error(source: Any) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(_with_source(source), "monitors/pp.yaml")
    return " ".join(str(err.value).split())


def test_a_url_in_the_spec_is_refused_without_echoing_it() -> None:
    url = "postgresql+psycopg://reader:s3cret@db/shop"
    message = _error({"url_env": url, "table": "scores"})
    assert "source.url_env: must name the environment variable" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"table": "scores"}, "source.url_env: required key is missing"),
        ({"url_env": "1DB", "table": "scores"}, "must be an environment variable name"),
        ({"url_env": "DB"}, "give exactly one of `table`"),
        ({"url_env": "DB", "table": "t", "query": "SELECT 1"}, "give exactly one of `table`"),
        ({"url_env": "DB", "table": "scores; DROP TABLE x"}, "is not a table name"),
        ({"url_env": "DB", "query": "DELETE FROM scores"}, "must be one SELECT"),
        ({"url_env": "DB", "query": "SELECT 1; SELECT 2"}, "must be one statement"),
        (
            {"url_env": "DB", "query": "SELECT * FROM t WHERE d = :day"},
            "uses the parameters :day; it can use :start, :end",
        ),
        (
            {
                "url_env": "DB",
                "table": "t",
                "labels": {"query": "SELECT * FROM l WHERE a > :start"},
            },
            "source.labels.query: uses the parameters :start; it can use no parameters",
        ),
        (
            {"url_env": "DB", "table": "t", "labels": {"labelled_at": "known_at"}},
            "exactly one of `table`, `query` or `in_predictions: true` (given: none)",
        ),
        (
            {"url_env": "DB", "table": "t", "labels": {"table": "l", "in_predictions": True}},
            "(given: table, in_predictions)",
        ),
        (
            {"url_env": "DB", "table": "t", "lables": {"table": "l"}},
            "source.lables: unknown key; allowed here: url_env, table, query, labels",
        ),
        (
            {"url_env": "DB", "table": "t", "labels": {"tabel": "l"}},
            "source.labels.tabel: unknown key; allowed here: table, query, in_predictions, "
            "labelled_at",
        ),
    ],
)
def test_mistakes_name_the_key_and_what_to_write(source: dict[str, Any], expected: str) -> None:
    assert expected in _error(source)


def test_the_section_is_documented() -> None:
    """Every key carries a description (the README's reference is built from them)."""
    from driftline.specs import SourceLabels, SourceSection

    for section in (SourceSection, SourceLabels):
        assert all(f.description for f in section.model_fields.values()), section.__name__
    assert ModelSpec.model_fields["source"].description
