"""A tampered model file in the registry is refused on every path that loads one.

Each case is a real MLflow model folder (scikit-learn flavour, skops) whose skops schema
was edited after saving, as someone able to write to the artifact store could: a
function replaced by ``os.system`` or ``builtins.eval``, the estimator's class replaced by
``subprocess.Popen``, and (with the file's own MLmodel trusting it) ``builtins.exec``; and
a file skops cannot read at all. Registered as versions of a real MLflow registry (SQLite
under tmp_path) next to a real store (SQLite and PostgreSQL), every command that loads a
version (benchmark, promote, adopt from the registry) and ``Registry.load_model`` itself
(what the retrain flow and the demo's serving use) refuse it with exit 2, naming the
model, the version and the untrusted types, and leave nothing behind: no alias moved, no
benchmark, audit or outbox row, no new version. On PostgreSQL the store-side check runs
on one path (promote), the rest on SQLite.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from driftline.config.errors import ModelError, UntrustedModelError
from driftline.config.settings import Settings
from driftline.data.store import Store
from driftline.lifecycle.registry import CHALLENGER, CHAMPION, Registry
from tests.conftest import Cli

from .conftest import SPEC, batch, write

#: What replaces what in the skops schema, and the untrusted types the file then names.
TAMPERINGS = {
    "os.system": ({'"absolute"': '"system"', '"numpy"': '"os"'}, ["os.system"]),
    "builtins.eval": ({'"absolute"': '"eval"', '"numpy"': '"builtins"'}, ["builtins.eval"]),
    "subprocess.Popen": (
        {'"LogisticRegression"': '"Popen"', '"sklearn.linear_model._logistic"': '"subprocess"'},
        ["subprocess.Popen"],
    ),
}


def _pipeline() -> object:
    """A fitted scikit-learn pipeline holding a function (``numpy.absolute``)."""
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return make_pipeline(FunctionTransformer(func=np.abs), LogisticRegression()).fit(
        x, [0, 0, 1, 1]
    )


def _edit_schema(path: Path, replace: dict[str, str]) -> None:
    """Rewrite the skops zip at ``path`` with each first occurrence in schema.json replaced."""
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info.filename)) for info in src.infolist()]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info, data in items:
            if info.filename == "schema.json":
                text = data.decode()
                for old, new in replace.items():
                    assert old in text, old
                    text = text.replace(old, new, 1)
                data = text.encode()
            dst.writestr(info, data)
    path.write_bytes(out.getvalue())


def model_folder(root: Path, name: str, replace: dict[str, str] | None = None, **kw) -> Path:
    """An MLflow model folder (sklearn flavour, skops) of :func:`_pipeline`, its skops
    schema edited by ``replace``."""
    folder = root / name
    mlflow.sklearn.save_model(_pipeline(), str(folder), serialization_format="skops", **kw)
    if replace:
        _edit_schema(folder / "model.skops", replace)
    return folder


class Lab:
    """A specs folder, a real MLflow registry (SQLite) and a real store."""

    def __init__(self, root: Path, db_url: str) -> None:
        self.root = root
        self.specs = root / "specs"
        self.specs.mkdir()
        self.settings = Settings(
            home=root / "home", specs_dir=self.specs, pseudonym_key="k" * 32, database_url=db_url
        )
        self.registry = Registry.from_settings(self.settings)
        self.store = Store.from_settings(self.settings)

    def model(self, name: str, *versions: Path) -> None:
        """A spec ``name`` and one registry version per folder (1, 2, ...)."""
        data = {"model": {**SPEC["model"], "name": name}}
        (self.specs / f"{name}.yaml").write_text(yaml.safe_dump(data))
        self.registry.client.create_registered_model(name)
        for folder in versions:
            self.registry.client.create_model_version(name, source=folder.as_uri())

    def rows(self, table: str, model: str) -> int:
        """Rows of ``table`` about ``model`` (0 when the table does not exist yet)."""
        with self.store.engine.connect() as conn:
            if not sa.inspect(conn).has_table(table):
                return 0
            query = sa.text(f"SELECT COUNT(*) FROM {table} WHERE model = :m")
            return int(conn.execute(query, {"m": model}).scalar_one())

    def nothing_recorded(self, model: str) -> None:
        for table in ("dl_benchmarks", "dl_model_decisions", "dl_alert_outbox", "dl_claims"):
            assert self.rows(table, model) == 0, table


def _lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> Iterator[Lab]:
    world = Lab(tmp_path, url)
    monkeypatch.setenv("DRIFTLINE_HOME", str(world.settings.home))
    monkeypatch.setenv("DRIFTLINE_SPECS_DIR", str(world.specs))
    monkeypatch.setenv("DRIFTLINE_PSEUDONYM_KEY", "k" * 32)
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    try:
        yield world
    finally:
        world.store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def lab(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    """A lab on each database."""
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    yield from _lab(tmp_path, monkeypatch, url)


@pytest.fixture
def sqlite_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """A lab on SQLite (for refusals that touch no store)."""
    yield from _lab(tmp_path, monkeypatch, f"sqlite:///{tmp_path / 'driftline.db'}")


def test_every_path_refuses_a_tampered_version_naming_it(lab: Lab, cli: Cli) -> None:
    from driftline.specs import find_spec

    good = model_folder(lab.root, "good")
    specs = {}
    for kind, (replace, types) in TAMPERINGS.items():
        name = "shop_" + kind.replace(".", "_").lower()
        lab.model(name, good, model_folder(lab.root, name, replace))  # v1 good, v2 tampered
        specs[kind] = spec = find_spec(name, lab.specs)
        with pytest.raises(UntrustedModelError) as err:
            lab.registry.load_model(spec, "2")
        assert (err.value.model, err.value.version, err.value.types) == (name, "2", types)
        assert "never trusted" in str(err.value) and "tampered" in str(err.value)
    assert lab.registry.load_model(specs["os.system"], "1").version == "1"

    # The tampered version as challenger or as champion, on each command that loads it.
    paths = (
        ("benchmark", "os.system", "1", "2"),
        ("promote", "builtins.eval", "1", "2"),
        ("promote", "subprocess.Popen", "2", "1"),
    )
    if lab.store.dialect == "postgresql":  # the store side: one path is enough there
        paths = paths[1:2]
    for command, kind, champion, challenger in paths:
        spec, types = specs[kind], TAMPERINGS[kind][1]
        lab.registry.set_alias(spec, CHAMPION, champion)
        lab.registry.set_alias(spec, CHALLENGER, challenger)
        code, out = cli(command, "--model", spec.name)
        assert code == 2, out
        assert "Traceback" not in out and "UntrustedTypesFound" not in out
        assert f"{spec.name} version 2 names types outside" in out and str(types) in out
        assert lab.registry.aliases(spec) == {CHAMPION: champion, CHALLENGER: challenger}
        lab.nothing_recorded(spec.name)

    if lab.store.dialect == "postgresql":
        return
    # Adopting a tampered version (from the registry, or its folder) as a new model.
    reference = write(batch(40), lab.root / "reference.parquet")
    lab.model("shop_adopted")
    adopted = find_spec("shop_adopted", lab.specs)
    for uri, types in (
        ("models:/shop_builtins_eval/2", ["builtins.eval"]),
        (str(lab.root / "shop_os_system"), ["os.system"]),
    ):
        code, out = cli(
            "adopt", "--model", "shop_adopted", "--model-uri", uri, "--reference", str(reference)
        )
        assert code == 2, out
        assert "Traceback" not in out and f"the model at {uri} names types outside" in out
        assert str(types) in out
        assert lab.registry.versions(adopted) == [] and lab.registry.aliases(adopted) == {}
        lab.nothing_recorded("shop_adopted")


def test_what_each_other_kind_of_file_is_told(sqlite_lab: Lab, cli: Cli) -> None:
    """A file trusting ``builtins.exec`` in its own MLmodel, a data type off the list, and
    a file skops cannot read."""
    from driftline.specs import find_spec

    lab = sqlite_lab
    self_trusting = model_folder(
        lab.root,
        "self-trusting",
        {'"absolute"': '"exec"', '"numpy"': '"builtins"'},
        skops_trusted_types=["builtins.exec"],
    )
    assert "builtins.exec" in (self_trusting / "MLmodel").read_text()
    odd = model_folder(lab.root, "odd", {'"absolute"': '"Decimal"', '"numpy"': '"decimal"'})
    broken = model_folder(lab.root, "broken", {'"FunctionNode"': '"EvilNode"'})
    lab.model("shop_files", model_folder(lab.root, "good"), self_trusting, odd, broken)
    spec = find_spec("shop_files", lab.specs)

    with pytest.raises(UntrustedModelError, match=r"\['builtins\.exec'\]"):
        lab.registry.load_model(spec, "2")  # the file's own trust list is never used
    with pytest.raises(UntrustedModelError) as err:
        lab.registry.load_model(spec, "3")
    assert err.value.types == ["decimal.Decimal"]
    assert "add them to training.trusted_types in the spec of shop_files" in str(err.value)
    assert "tampered" not in str(err.value)
    with pytest.raises(ModelError, match=r"shop_files version 4: its skops file model\.skops"):
        lab.registry.load_model(spec, "4")

    lab.registry.set_alias(spec, CHAMPION, "1")
    lab.registry.set_alias(spec, CHALLENGER, "4")
    code, out = cli("promote", "--model", "shop_files")
    assert code == 2 and "Traceback" not in out and "cannot be read" in out, out
    assert lab.registry.aliases(spec) == {CHAMPION: "1", CHALLENGER: "4"}
    lab.nothing_recorded("shop_files")
