"""Monitor reports share one copy of Evidently's viewer script per folder and still open
by double-click: headless Chromium renders a page from ``file://``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.monitoring.engines.evidently import share_viewer
from driftline.monitoring.filecheck import check_files
from tests.integration.test_security import CHROMIUM, dom_of


def _rendered(page: Path, profile: Path) -> str:
    """What Chromium drew into the report's root element (empty when the viewer did not run)."""
    dom = dom_of(page, profile)
    found = re.search(r'<div id="root_metric_\w+">(.*?)</div>\s*<script', dom, re.S)
    assert found is not None, dom[-2000:]
    return found.group(1)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs it)")
def test_pages_share_the_viewer_and_still_render(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = {
        "ref": pd.DataFrame({"basket_value": rng.normal(50, 10, 600)}),
        "cur": pd.DataFrame({"basket_value": rng.normal(65, 10, 600)}),
    }
    for name, frame in frames.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
    report = check_files(
        tmp_path / "ref.parquet", tmp_path / "cur.parquet", numerical="basket_value"
    ).result.report
    assert report is not None
    pages = report.save_html(tmp_path / "reports" / "a.html")
    pages += report.save_html(tmp_path / "reports" / "b.html")
    standalone = pages[0].stat().st_size
    assert share_viewer(pages) == pages
    viewers = list((tmp_path / "reports").glob("evidently-*.js"))
    assert len(viewers) == 1  # one copy for the folder
    assert pages[0].stat().st_size < standalone - 3_000_000  # the 3.5 MB bundle left the page
    assert share_viewer(pages) == []  # already shared: untouched
    assert "MuiTypography" in _rendered(pages[1], tmp_path / "chromium")
    viewers[0].unlink()  # the check above can fail: without the viewer nothing is drawn
    assert _rendered(pages[1], tmp_path / "chromium").strip() == ""
