"""Addresses people can open: the public base URLs of the UIs and the pages under them.

Every link driftline puts in a Slack message, a webhook body or a Prefect artifact is
built here from a base URL (settings ``evidently_ui_url``, ``mlflow_ui``,
``prefect_ui_url``), with credentials, query and fragment removed. A base that is not
an http(s) address gives no link (None), never a broken one.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit


def public_url(url: str | None) -> str | None:
    """An http(s) address fit for a message: no user, password, query or fragment.
    None for anything else (a local path, ``sqlite:``, ``databricks``, garbage)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))


def _under(base: str | None, path: str) -> str | None:
    root = public_url(base)
    return None if root is None else f"{root.rstrip('/')}/{path}"


def model_version_url(mlflow_ui: str | None, model: str, version: str | None) -> str | None:
    """The MLflow UI page of a registered model version (``<ui>/#/models/M/versions/N``);
    None without an http(s) UI address or a version."""
    if not version:
        return None
    return _under(mlflow_ui, f"#/models/{quote(model, safe='')}/versions/{quote(version)}")


def run_url(mlflow_ui: str | None, experiment_id: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of a run (``<ui>/#/experiments/E/runs/R``; its artifacts are a
    tab there); None when any part is unknown."""
    if not experiment_id or not run_id:
        return None
    return _under(mlflow_ui, f"#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}")


def snapshot_url(
    evidently_ui: str | None, project_id: str | None, snapshot_id: str | None
) -> str | None:
    """The Evidently UI page of one snapshot (``<ui>/projects/P/reports/S``, the address
    Evidently's own ``SnapshotRef.url`` uses); None when any part is unknown."""
    if not project_id or not snapshot_id:
        return None
    return _under(evidently_ui, f"projects/{quote(project_id)}/reports/{quote(snapshot_id)}")


def flow_run_page(prefect_ui: str | None, run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run (``<ui>/runs/flow-run/ID``); None when unknown."""
    if not run_id:
        return None
    return _under(prefect_ui, f"runs/flow-run/{quote(str(run_id))}")
