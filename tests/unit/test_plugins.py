"""The registries behind every extension point (driftline.plugins), and third-party plugins
added through Python entry points of a small test distribution, the way pip installs them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.alerts.channels import CHANNELS
from driftline.config.errors import SpecError
from driftline.lifecycle.trainers import TRAINERS
from driftline.monitoring.engines import ENGINES
from driftline.plugins import BUILTIN, Registry
from driftline.specs import parse_spec
from driftline.tasks import TASKS

from ..conftest import SPECS_DIR, Cli, cli_runner

DIST = "toy-driftline-plugins"


class Thing:
    def __init__(self, name: str = "thing") -> None:
        self.name = name


def test_register_get_and_list() -> None:
    registry: Registry[Thing] = Registry("thing", "driftline.test-things", [])
    first = registry.register(Thing("b"))
    registry.register(Thing("a"))
    assert registry.get("b") is first
    assert registry.names() == ["a", "b"]
    assert [e.source for e in registry.entries()] == [
        "registered by tests.unit.test_plugins",
        "registered by tests.unit.test_plugins",
    ]
    assert "a" in registry and "c" not in registry


def test_an_unknown_name_is_a_spec_error_listing_the_known_ones() -> None:
    registry: Registry[Thing] = Registry("thing", "driftline.test-things", [])
    registry.register(Thing("a"))
    with pytest.raises(SpecError, match=r"unknown thing 'z'; choose one of a"):
        registry.get("z")


def test_a_taken_name_is_refused_and_a_class_is_instantiated() -> None:
    registry: Registry[Thing] = Registry("thing", "driftline.test-things", [])
    assert registry.register(Thing) is Thing  # works as a class decorator
    assert isinstance(registry.get("thing"), Thing)

    class OtherThing(Thing):
        """Another implementation under the same name."""

    with pytest.raises(ValueError, match="already registered"):
        registry.register(OtherThing("thing"))


def test_the_same_implementation_twice_is_one_entry() -> None:
    """A plugin module that registers itself on import and is also named by its entry
    point: one entry, credited to the entry point."""
    registry: Registry[Thing] = Registry("thing", "driftline.test-things", [])
    first = registry.register(Thing("thing"))
    registry.register(Thing("thing"), name="thing", source="pkg==1.0: mod:Thing")
    (entry,) = registry.entries()
    assert entry.value is first and entry.source == "pkg==1.0: mod:Thing"


def test_the_registry_check_refuses_unfit_values() -> None:
    registry: Registry[Thing] = Registry(
        "thing", "driftline.test-things", [], check=lambda t: "no" if t.name == "bad" else None
    )
    with pytest.raises(ValueError, match="cannot be registered: no"):
        registry.register(Thing("bad"))


def test_the_four_extension_points_have_their_built_ins() -> None:
    assert "binary_classification" in TASKS.names()
    assert "evidently" in ENGINES.names()
    assert {"hist_gradient_boosting", "logistic_regression"} <= set(TRAINERS.names())
    assert {"slack", "webhook"} <= set(CHANNELS.names())
    for registry in (TASKS, ENGINES, TRAINERS, CHANNELS):
        assert all(e.source == BUILTIN for e in registry.entries() if e.name != "toy_ep")


# -- a third-party distribution with entry points -------------------------------------------

PLUGIN_MODULE = '''
from tests.unit.test_channels import ToyChannel
from tests.unit.test_engines import ToyEngine


class EntryPointEngine(ToyEngine):
    """A drift engine installed by another package."""

    name = "toy_ep"


class EntryPointChannel(ToyChannel):
    """An alert channel installed by another package."""

    name = "toy_ep"
'''

ENTRY_POINTS = """
[driftline.engines]
toy_ep = toy_driftline_plugins:EntryPointEngine

[driftline.channels]
toy_ep = toy_driftline_plugins:EntryPointChannel

[driftline.trainers]
broken = toy_driftline_plugins:DoesNotExist
misnamed = toy_driftline_plugins:EntryPointEngine
"""


@pytest.fixture
def installed(tmp_path: Path) -> Iterator[Path]:
    """A distribution on sys.path as pip would leave it: a module and its dist-info."""
    (tmp_path / "toy_driftline_plugins.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "toy_driftline_plugins-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(tmp_path))
    try:
        for registry in (ENGINES, CHANNELS, TRAINERS):
            registry.refresh()
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("toy_driftline_plugins", None)
        for registry in (ENGINES, CHANNELS):
            registry.unregister("toy_ep")
        TRAINERS.refresh()  # the distribution is gone: so are its failures


def _spec_data() -> dict[str, Any]:
    return yaml.safe_load((SPECS_DIR / "purchase_propensity.yaml").read_text())


def test_entry_point_plugins_are_validated_in_a_spec(installed: Path) -> None:
    data = _spec_data()
    data["monitoring"]["drift"] = {
        "engine": "toy_ep",
        "numerical": {"method": "mean_shift"},
        "categorical": {"method": "top_share"},
    }
    data["monitoring"]["prediction_drift"] = {"method": "mean_shift"}
    data["alerts"]["channels"] = ["slack", "toy_ep"]
    spec = parse_spec(data, "plugin.yaml")
    assert spec.monitoring.drift.engine == "toy_ep"
    assert spec.alerts.channels == ["slack", "toy_ep"]
    source = f"{DIST}==0.1.0: toy_driftline_plugins:EntryPointEngine"
    assert next(e for e in ENGINES.entries() if e.name == "toy_ep").source == source


def test_a_broken_entry_point_is_reported_and_breaks_nothing(installed: Path) -> None:
    assert any("broken" in e and DIST in e for e in TRAINERS.errors)
    assert "broken" not in TRAINERS.names()
    assert "hist_gradient_boosting" in TRAINERS.names()
    with pytest.raises(SpecError, match=r"unknown trainer 'broken'.*It did not load: .*broken"):
        TRAINERS.get("broken")


def test_reading_the_entry_points_again_reports_each_failure_once(installed: Path) -> None:
    before = list(TRAINERS.errors)
    TRAINERS.refresh()
    assert TRAINERS.errors == before


def test_an_entry_point_named_unlike_its_object_is_refused(installed: Path) -> None:
    """URLs of a channel and the engine recorded with a run use the object's own name,
    so an entry point may not give it another."""
    (message,) = [e for e in TRAINERS.errors if "'misnamed'" in e]
    assert "name the entry point 'toy_ep'" in message


def test_without_the_distribution_the_plugin_names_are_spec_errors() -> None:
    data = _spec_data()
    data["alerts"]["channels"] = ["toy_ep"]
    with pytest.raises(SpecError, match=r"alerts\.channels\.0: unknown alert channel 'toy_ep'"):
        parse_spec(data, "plugin.yaml")


def test_driftline_plugins_lists_every_registry_and_where_each_came_from(
    installed: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run: Cli = cli_runner(monkeypatch, capsys)
    code, out = run("plugins")
    assert code == 1  # an installed plugin failed to load
    for group in ("driftline.tasks", "driftline.engines", "driftline.trainers"):
        assert group in out
    assert "driftline.channels" in out
    for name in ("binary_classification", "evidently", "logistic_regression", "webhook"):
        assert name in out
    engine_row = next(line for line in out.splitlines() if "EntryPointEngine" in line)
    assert "toy_ep" in engine_row and f"{DIST}==0.1.0" in engine_row
    assert "not loaded" in out and "broken" in out
    assert "DRIFTLINE_SLACK_WEBHOOK_URL" in out  # where each channel's URL comes from
    assert "``" not in out  # docstrings are shown without their markup


def test_driftline_plugins_exits_0_when_everything_loaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = cli_runner(monkeypatch, capsys)("plugins")
    assert code == 0, out
    assert "not loaded" not in out
