"""Statistics that do not cry wolf: the rules around a drift test, for every engine.

- **Rare categories** (:func:`rare_categories`): a categorical column with thousands of
  values has many seen a handful of times; their shares differ between two samples of one
  distribution by sampling noise alone, and distances such as Jensen-Shannon add that
  noise up (3,000 long-tailed values, 15k rows per side: 0.24 against a 0.1 threshold).
  Categories whose *expected* count in the smaller sample (pooled share x its rows) is
  below ``monitoring.drift.min_category_count`` (default 10; the chi-square test's usual
  validity rule is 5 (Cochran, 1954), but at 5 the issue's example still scores 0.08,
  at 10 it scores 0.055) are tested together as one category, :data:`RARE`. A category
  that really grows passes the bar and is tested on its own.
- **Effect-size floor** (:func:`effect_size`): with millions of rows a p-value test
  finds any difference, however small. A p-value test reports drift only when the
  effect also reaches ``monitoring.drift.min_effect`` (default 0.02): the normed
  Wasserstein distance (Wasserstein-1 / reference std, Evidently's ``wasserstein``
  score) for numerical columns, the total variation distance of the category shares
  for categorical ones.
- **Too few rows**: windows and file checks with fewer than ``monitoring.min_rows``
  rows get ``insufficient_data``, never a verdict (:mod:`driftline.monitoring.policy`,
  :mod:`driftline.monitoring.filecheck`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: The category rare categories are tested as.
RARE = "(rare categories)"


def rare_categories(
    reference: Mapping[Any, int],
    current: Mapping[Any, int],
    min_count: float,
) -> set[Any]:
    """Categories whose expected count in the smaller sample is below ``min_count``.

    ``reference`` and ``current`` map category -> rows (missing values not counted).
    Expected count of a category = (its rows in both) / (rows in both) x (rows of the
    smaller sample). Empty when ``min_count`` is 0 or fewer than two categories are rare
    (one rare category alone is tested as itself)."""
    n_r, n_c = sum(reference.values()), sum(current.values())
    if min_count <= 0 or not n_r or not n_c:
        return set()
    smaller = min(n_r, n_c)
    total = n_r + n_c
    rare = {
        k
        for k in set(reference) | set(current)
        if (reference.get(k, 0) + current.get(k, 0)) / total * smaller < min_count
    }
    return rare if len(rare) > 1 else set()


def all_rare(
    column: str, reference: Mapping[Any, int], current: Mapping[Any, int], min_count: float
) -> str | None:
    """A note when every category of ``column`` is rare (:func:`rare_categories`), else
    None. Pooled into one, such a column scores no drift whatever happens among its
    categories (e.g. a catalogue of 150k product ids replaced by another): the test cannot
    see it. The data-quality rule on categories the reference never had still does."""
    rare = rare_categories(reference, current, min_count)
    if not rare or rare != set(reference) | set(current):
        return None
    return (
        f"{column}: all {len(rare):,} categories are rare (expected count below "
        f"{min_count:g} each), so they were tested as one pooled category and its score says "
        "nothing about shifts among them; see the data-quality findings for categories the "
        "reference never had, or check it with fewer, grouped categories"
    )


def pool_rare(
    reference: pd.Series, current: pd.Series, min_count: float
) -> tuple[pd.Series, pd.Series]:
    """Both categorical columns with their :func:`rare_categories` replaced by
    :data:`RARE` (missing values stay missing); unchanged when none is rare."""
    rare = rare_categories(
        reference.value_counts(dropna=True).to_dict(),
        current.value_counts(dropna=True).to_dict(),
        min_count,
    )
    if not rare:
        return reference, current

    def pooled(s: pd.Series) -> pd.Series:
        return s.where(~s.isin(rare) | s.isna(), RARE)

    return pooled(reference), pooled(current)


def total_variation(reference: Mapping[Any, int], current: Mapping[Any, int]) -> float:
    """Total variation distance of two category count maps' shares: half the sum of the
    absolute share differences (0 = same shares, 1 = disjoint)."""
    n_r, n_c = sum(reference.values()), sum(current.values())
    if not n_r or not n_c:
        return 0.0
    keys = set(reference) | set(current)
    return 0.5 * sum(abs(reference.get(k, 0) / n_r - current.get(k, 0) / n_c) for k in keys)


def effect_size(kind: str, reference: pd.Series, current: pd.Series) -> float:
    """The effect the floor compares with ``min_effect``: normed Wasserstein distance
    (``scipy.stats.wasserstein_distance`` / max(reference std, 0.001), as Evidently norms
    it) for ``kind`` "numerical", total variation distance for "categorical". Missing
    values are left out; 0.0 when a side has none."""
    r, c = reference.dropna(), current.dropna()
    if r.empty or c.empty:
        return 0.0
    if kind == "numerical":
        from scipy.stats import wasserstein_distance

        rv, cv = r.to_numpy(dtype=float), c.to_numpy(dtype=float)
        return float(wasserstein_distance(rv, cv) / max(float(np.std(rv)), 0.001))
    return total_variation(r.value_counts().to_dict(), c.value_counts().to_dict())
