"""Shared fixtures: settings in a temporary home, and stores on SQLite and PostgreSQL.

PostgreSQL tests run against DRIFTLINE_TEST_DATABASE_URL (CI sets it) in a schema of
their own that is dropped afterwards; without the variable they skip with a reason.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.ops.processes import go_offline
from driftline.specs import ModelSpec, load_spec


@pytest.fixture(autouse=True)
def _library_log_levels() -> Iterator[None]:
    """A CLI call made in this process quiets the library loggers for the rest of it
    (``driftline.cli.main.configure_logging``, as a real CLI process should); put their
    levels back after each test so a later test's log capture sees what it asked for."""
    import logging

    from driftline.cli.main import LIBRARY_LOGGERS

    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


#: PostgreSQL variants of slow tests whose SQLite variant runs in every `make test`: the
#: PostgreSQL one runs under `make test-all` (the marker ``slow``), so CI stays lean while
#: each behaviour is still tested on a real database there.
SLOW_VARIANTS = frozenset(
    {
        "tests/robustness/test_promotion_faults.py::"
        "test_a_promotion_killed_at_any_step_is_finished_by_running_it_again[postgresql]",
        "tests/robustness/test_untrusted_model.py::"
        "test_every_path_refuses_a_tampered_version_naming_it[postgresql]",
        "tests/integration/test_privacy_sentinel.py::"
        "test_forget_leaves_no_value_of_the_sentinel_anywhere[postgresql]",
        "tests/integration/test_model_versions.py::"
        "test_across_a_promotion_each_version_is_judged_by_its_own_predictions[postgresql]",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in SLOW_VARIANTS:
            item.add_marker(pytest.mark.slow)


REPO = Path(__file__).resolve().parent.parent
SPECS_DIR = REPO / "monitors"
PG_ENV = "DRIFTLINE_TEST_DATABASE_URL"

go_offline()  # no telemetry from the tests or the servers they start


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings pointing at a temporary home and the repository's specs."""
    return Settings(home=home, specs_dir=SPECS_DIR, pseudonym_key="k" * 32)


@pytest.fixture
def spec() -> ModelSpec:
    return load_spec(SPECS_DIR / "purchase_propensity.yaml")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server to test against")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, home: Path) -> Iterator[Store]:
    """A migrated store on each database: SQLite in the temp home, and PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'driftline.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    st = Store(url)
    try:
        yield st
    finally:
        st.dispose()


Cli = Callable[..., tuple[int, str]]


def cli_runner(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``driftline ARGS`` in-process through the real entry point; returns the exit
    code and everything printed (stdout + stderr)."""
    from driftline.cli import main

    monkeypatch.setenv("COLUMNS", "220")

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["driftline", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
        out = capsys.readouterr()
        return int(exit_info.value.code or 0), out.out + out.err

    return run
