"""The native drift engine: Evidently's verdicts from mergeable column profiles.

Scores come from :mod:`driftline.monitoring.profiles` (the reference's, captured with the
baseline, and the window's, built chunk by chunk), with scipy for the statistics. Each
method reproduces the Evidently 0.7.23 statistical test of the same name
(``evidently.legacy.calculations.stattests``): the same default choice by column type and
size (:meth:`NativeEngine.default_method`), the same binning, the same thresholds and the
same comparison (``ks`` drifts at p <= threshold, other p-values at p < threshold,
distances at score >= threshold).

Approximation error, per method, when only profiles are known (:func:`estimate`):

============================  ================================================================
method                        from profiles
============================  ================================================================
chisquare, z, g_test,         exact (category counts; a numerical column of at most
fisher_exact, and every       ``MAX_DISTINCT`` values: exact value counts)
categorical distance
t_test                        exact up to floating point (counts, sums, sums of squares)
wasserstein                   bounds: on each reference-quantile bin the two CDFs are known
                              only at its edges; the integral of their difference is bounded
                              bin by bin (``lo <= W1 <= hi``), normed by the reference's std
ks                            bounds on D from the CDFs at the bin edges; p-value bounds from
                              Kolmogorov's limit distribution (``scipy.stats.kstwobign``),
                              widened by 10% for its distance to ``scipy.stats.kstwo``, which
                              ``scipy.stats.ks_2samp`` uses above 10,000 rows per side; with
                              fewer rows scipy's exact p-value needs the values
psi, kl_div, jensenshannon,   Evidently bins a numerical column of more than 20 reference
hellinger (numerical)         values on Sturges bins over the combined range; the counts in
                              those bins are exact except for the fine bins an edge cuts, whose
                              mass is spread uniformly; the band is the score at the extreme
                              allocations of that mass (all left / all right), doubled
============================  ================================================================

When a band straddles the threshold the column is recomputed exactly on its values
(:func:`exact_score`, the Evidently formula on numpy arrays) if the caller can supply them,
else it is reported with ``borderline`` and both bounds. The methods this engine does not
implement (permutation and kernel tests, Anderson-Darling, ...) are refused by name
(:data:`REFUSED`): choose the evidently engine for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from driftline.monitoring.engines import ENGINES, ColumnScore, DriftMethod, EngineOutput
from driftline.monitoring.engines.evidently import METHODS as EVIDENTLY_METHODS

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from driftline.monitoring.plan import DriftPlan
    from driftline.monitoring.profiles import ColumnProfile, NumericProfile

#: Evidently tests the native engine does not implement, and why.
REFUSED: Mapping[str, str] = MappingProxyType(
    {
        "anderson": "Anderson-Darling needs the sorted values of both samples",
        "cramer_von_mises": "Cramer-von Mises needs the ranks of both samples",
        "ed": "the energy distance needs every pair of values",
        "empirical_mmd": "the MMD test is a permutation test on the values",
        "es": "the Epps-Singleton test needs the values",
        "mannw": "Mann-Whitney needs the ranks of both samples",
        "TVD": "Evidently's TVD is a permutation test on the values",
    }
)

#: The native engine's catalogue: Evidently's entries it implements (same thresholds).
METHODS: Mapping[str, DriftMethod] = MappingProxyType(
    {k: m for k, m in EVIDENTLY_METHODS.items() if k not in REFUSED}
)

#: Evidently's rule: a numerical column of at most this many reference values is binned
#: value by value (``get_binned_data``).
_FEW_VALUES = 20
#: ``scipy.stats.ks_2samp`` computes an exact p-value up to this many rows per side.
_KS_EXACT_N = 10_000


@dataclass(frozen=True)
class Estimate:
    """A score from profiles: the value, bounds ``lo <= score <= hi`` and whether it is
    exact (``lo == hi == score`` up to floating point)."""

    score: float
    lo: float
    hi: float
    exact: bool


def _p_value_test(method: str) -> bool:
    return METHODS[method].p_value


def drifted(method: str, score: float, threshold: float) -> bool:
    """Evidently's verdict for ``method``: ks p <= threshold, other p-values p < threshold,
    distances score >= threshold."""
    if method == "ks":
        return score <= threshold
    if _p_value_test(method):
        return score < threshold
    return score >= threshold


def _straddles(method: str, e: Estimate, threshold: float) -> bool:
    return not e.exact and drifted(method, e.lo, threshold) != drifted(method, e.hi, threshold)


# -- exact scores on values (Evidently's formulas, numpy arrays) -----------------------------


def exact_score(method: str, kind: str, reference: np.ndarray, current: np.ndarray) -> float:
    """``method``'s score on the non-missing values of both samples, as Evidently 0.7.23
    computes it (numbers as float arrays, categories as object arrays of text).

    Raises ValueError for a method outside :data:`METHODS`.
    """
    import numpy as np

    if method == "wasserstein":
        norm = max(float(np.std(reference)), 0.001)
        return wasserstein_1(reference, current) / norm
    if method in ("ks", "t_test"):
        from scipy import stats  # here: the other methods need no scipy.stats (1 s to import)

        test = stats.ks_2samp if method == "ks" else stats.ttest_ind
        return float(test(reference, current)[1])
    if method in ("psi", "kl_div", "jensenshannon"):
        r, c = _binned_exact(reference, current, kind, fill=method != "jensenshannon")
        return _binned_score(method, r, c)
    if method == "hellinger":
        return _hellinger_exact(reference, current, kind)
    keys, r_counts, c_counts = _value_counts(reference, current)
    return _count_test(method, keys, r_counts, c_counts)


#: :func:`wasserstein_1` merges quantile steps as whole numbers below this (float64 is
#: exact for whole numbers up to 2**53).
_EXACT_STEPS = 2**53


def wasserstein_1(u: np.ndarray, v: np.ndarray) -> float:
    """The Wasserstein-1 distance of two samples (what ``scipy.stats.wasserstein_distance``
    returns), in numpy alone, so a check need not import ``scipy.stats``.

    Computed as the area between the two quantile functions, ``integral over t in (0, 1) of
    |F_u^-1(t) - F_v^-1(t)|``, which equals the area between the CDFs that scipy integrates
    (Villani, *Optimal Transport*, remark 2.19). The quantile functions are step functions
    that change at ``i/len(u)`` and ``j/len(v)``; those steps are merged as whole numbers
    over the common denominator ``len(u) * len(v)`` (exact while that is below 2**53; past
    it, scipy's own CDF formula in numpy). Raises ValueError for an empty sample."""
    import numpy as np

    if not len(u) or not len(v):
        raise ValueError("the Wasserstein distance needs values on both sides")
    u, v = np.sort(u), np.sort(v)
    n, m = u.size, v.size
    if n == m:
        return float(np.mean(np.abs(u - v)))
    if n * m >= _EXACT_STEPS:
        every = np.sort(np.concatenate([u, v]))
        u_cdf = np.searchsorted(u, every[:-1], side="right") / n
        v_cdf = np.searchsorted(v, every[:-1], side="right") / m
        return float(np.einsum("i,i->", np.abs(u_cdf - v_cdf), np.diff(every)))
    # step k of the merged grid ends at t = steps[k] / (n * m) (a repeated end is a step of
    # width 0); sorted as floats, which numpy sorts several times faster than int64
    ends = np.concatenate([np.arange(1, n + 1, dtype="float64") * m, np.arange(1, m + 1) * n])
    steps = np.sort(ends).astype(np.int64)
    widths = np.diff(steps, prepend=0) / (n * m)
    gaps = np.abs(u[(steps + m - 1) // m - 1] - v[(steps + n - 1) // n - 1])
    return float(np.einsum("i,i->", widths, gaps))  # not np.dot: BLAS threads spin


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """``scipy.spatial.distance.jensenshannon(p, q)`` (natural log) in numpy alone: the
    square root of the mean of the relative entropies of ``p`` and ``q`` (each normalised
    to sum 1) to their average."""
    import numpy as np

    p = np.asarray(p, dtype=float) / np.sum(p)
    q = np.asarray(q, dtype=float) / np.sum(q)
    m = (p + q) / 2.0

    def rel_entr(x: np.ndarray, y: np.ndarray) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log(x / y), 0.0)
        return float(np.sum(terms))

    return float(np.sqrt((rel_entr(p, m) + rel_entr(q, m)) / 2.0))


def _value_counts(reference: np.ndarray, current: np.ndarray) -> tuple[list[Any], Any, Any]:
    import numpy as np

    keys = sorted(set(np.unique(reference).tolist()) | set(np.unique(current).tolist()))
    index = {k: i for i, k in enumerate(keys)}
    r = np.zeros(len(keys))
    c = np.zeros(len(keys))
    for arr, out in ((reference, r), (current, c)):
        vals, counts = np.unique(arr, return_counts=True)
        for v, n in zip(vals.tolist(), counts, strict=True):
            out[index[v]] += n
    return keys, r, c


def _binned_exact(reference: Any, current: Any, kind: str, *, fill: bool) -> tuple[Any, Any]:
    """Evidently's ``get_binned_data`` on arrays."""
    import numpy as np

    if kind == "numerical" and np.unique(reference).size > _FEW_VALUES:
        combined = np.concatenate([reference, current])
        bins = np.histogram_bin_edges(combined, bins="sturges")
        r = np.histogram(reference, bins)[0] / len(reference)
        c = np.histogram(current, bins)[0] / len(current)
    else:
        _, rc, cc = _value_counts(reference, current)
        r, c = rc / len(reference), cc / len(current)
    return (_fill_zeroes(r), _fill_zeroes(c)) if fill else (r, c)


def _fill_zeroes(p: Any) -> Any:
    """Evidently's ``feel_zeroes``: empty bins get a small share (its own rule)."""
    import numpy as np

    p = np.asarray(p, dtype=float).copy()
    nonzero = p[p != 0]
    if nonzero.size and (p == 0).any():
        small = nonzero.min()
        p[p == 0] = small / 10**6 if small <= 0.0001 else 0.0001
    return p


def _binned_score(method: str, r: Any, c: Any) -> float:
    import numpy as np

    if method == "psi":
        return float(np.sum((r - c) * np.log(r / c)))
    if method == "kl_div":
        from scipy import stats

        return float(stats.entropy(r, c))
    return jensen_shannon(r, c)


def _hellinger_exact(reference: Any, current: Any, kind: str) -> float:
    import numpy as np

    if kind == "categorical":
        keys, r, c = _value_counts(reference, current)
        total = float(np.sum(np.sqrt((r / len(reference)) * (c / len(current)))))
        return math.sqrt(1 - min(max(total, 0.0), 1.0))
    keys = np.unique(np.concatenate([reference, current]))
    bins = np.histogram_bin_edges(keys, bins="sturges")
    h1 = np.histogram(reference, bins=bins, density=True)[0]
    h2 = np.histogram(current, bins=bins, density=True)[0]
    width = (bins.max() - bins.min()) / (len(bins) - 1)
    total = sum(math.sqrt(float(a) * float(b)) * width for a, b in zip(h1, h2, strict=True))
    return math.sqrt(1 - min(max(total, 0.0), 1.0))


def _count_test(method: str, keys: Sequence[Any], r: Any, c: Any) -> float:
    """Tests on the category (or value) counts of both samples, ``keys`` sorted."""
    import numpy as np

    n_r, n_c = float(r.sum()), float(c.sum())
    if method in ("psi", "kl_div", "jensenshannon"):
        rp, cp = r / n_r, c / n_c
        if method != "jensenshannon":
            rp, cp = _fill_zeroes(rp), _fill_zeroes(cp)
        return _binned_score(method, rp, cp)
    if method == "hellinger":
        total = float(np.sum(np.sqrt((r / n_r) * (c / n_c))))
        return math.sqrt(1 - min(max(total, 0.0), 1.0))
    from scipy import stats  # here: the distances above need no scipy.stats (1 s to import)

    if method == "chisquare":
        return float(stats.chisquare(c, r * (n_c / n_r))[1])
    if method == "z":
        if len(keys) == 1:
            return 1.0
        p1, p2 = 1 - r[0] / n_r, 1 - c[0] / n_c  # share of "not the first key"
        pooled = (p1 * n_r + p2 * n_c) / (n_r + n_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n_r + 1.0 / n_c))
        return float(2 * (1 - stats.norm.cdf(np.abs(z))))
    if method == "g_test":
        if len(keys) < 2:
            return 1.0
        table = np.vstack([r, c])
        return float(stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")[1])
    if method == "fisher_exact":
        if len(keys) < 2:
            return 1.0
        if len(keys) > 2:
            from driftline.config.errors import DataError

            raise DataError(
                "drift method 'fisher_exact' tests a column of two categories; this one has "
                f"{len(keys)}: choose chisquare or g_test for it"
            )
        return float(stats.fisher_exact(np.vstack([r, c]))[1])
    raise ValueError(f"drift method {method!r} is not a count test of the native engine")


# -- scores from profiles --------------------------------------------------------------------


def estimate(method: str, kind: str, reference: ColumnProfile, current: ColumnProfile) -> Estimate:
    """``method``'s score from the two profiles of a column, with bounds (module docstring).

    ``kind`` is the column's type ("numerical" | "categorical"). Raises ValueError for a
    method outside :data:`METHODS`.
    """
    from driftline.monitoring.profiles import CategoricalProfile, NumericProfile

    if method not in METHODS:
        raise ValueError(f"drift method {method!r} is not in the native engine's catalogue")
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        keys, r, c = _profile_counts(reference.as_dict(), current.as_dict())
        # a folded "other" bucket is one more category (exact when both are 0)
        return _exact(_count_test(method, keys, r, c))
    assert isinstance(reference, NumericProfile) and isinstance(current, NumericProfile)
    if method == "t_test":
        return _exact(_t_test(reference, current))
    if method == "wasserstein":
        if reference.values is not None and current.values is not None:
            return _exact(_wasserstein_values(reference, current))
        return _wasserstein_bounds(reference, current)
    if method == "ks":
        return _ks_bounds(reference, current)
    few = reference.values is not None and len(reference.values) <= _FEW_VALUES
    by_value = method in ("chisquare", "z", "g_test", "fisher_exact")
    if by_value or (few and method in ("psi", "kl_div", "jensenshannon")):
        if reference.values is None or current.values is None:
            return Estimate(math.nan, -math.inf, math.inf, False)  # needs the values
        keys, r, c = _profile_counts(dict(reference.values), dict(current.values))
        return _exact(_count_test(method, keys, r, c))
    if method == "hellinger" and reference.values is not None and current.values is not None:
        both = {v for v, _ in reference.values} | {v for v, _ in current.values}
        return _sturges_estimate(method, reference, current, distinct=len(both))
    return _sturges_estimate(method, reference, current)


def _exact(score: float) -> Estimate:
    return Estimate(score, score, score, True)


def _profile_counts(ref: Mapping[Any, int], cur: Mapping[Any, int]) -> tuple[list[Any], Any, Any]:
    import numpy as np

    keys = sorted(set(ref) | set(cur))
    r = np.array([ref.get(k, 0) for k in keys], dtype=float)
    c = np.array([cur.get(k, 0) for k in keys], dtype=float)
    return keys, r, c


def _t_test(ref: NumericProfile, cur: NumericProfile) -> float:
    from scipy import stats

    n1, n2 = ref.finite, cur.finite
    s1 = math.sqrt(ref.variance * n1 / (n1 - 1)) if n1 > 1 else 0.0
    s2 = math.sqrt(cur.variance * n2 / (n2 - 1)) if n2 > 1 else 0.0
    return float(stats.ttest_ind_from_stats(ref.mean, s1, n1, cur.mean, s2, n2)[1])


def _wasserstein_values(ref: NumericProfile, cur: NumericProfile) -> float:
    from scipy import stats

    assert ref.values is not None and cur.values is not None
    rv, rw = zip(*ref.values, strict=True)
    cv, cw = zip(*cur.values, strict=True)
    return float(stats.wasserstein_distance(rv, cv, rw, cw) / max(ref.std, 0.001))


def _cdf_grid(ref: NumericProfile, cur: NumericProfile) -> tuple[Any, Any, Any, Any, Any]:
    """Sub-intervals [x0, x1) of the combined range that each lie in one bin, and for each
    the bounds of both CDFs over it: (x0, x1, (ref_lo, ref_hi), (cur_lo, cur_hi))."""
    import numpy as np

    assert ref.min is not None and cur.min is not None
    assert ref.max is not None and cur.max is not None
    edges = np.asarray(ref.edges, dtype=float)
    grid = np.unique(np.concatenate([edges, [ref.min, ref.max, cur.min, cur.max]]))
    lo_all, hi_all = min(ref.min, cur.min), max(ref.max, cur.max)
    grid = grid[(grid >= lo_all) & (grid <= hi_all)]
    x0, x1 = grid[:-1], grid[1:]
    # bin of the open interval (x0, x1): number of edges <= x0
    b = np.searchsorted(edges, x0, side="right")

    def bounds(p: NumericProfile) -> tuple[Any, Any]:
        cum = np.concatenate([[0.0], np.cumsum(p.counts)]) / p.finite
        lo, hi = cum[b], cum[b + 1]  # P(X < edge below), P(X < edge above)
        below = x1 <= p.min
        above = x0 >= p.max
        lo = np.where(below, 0.0, np.where(above, 1.0, lo))
        hi = np.where(below, 0.0, np.where(above, 1.0, hi))
        return lo, hi

    return x0, x1, bounds(ref), bounds(cur), b


def _wasserstein_bounds(ref: NumericProfile, cur: NumericProfile) -> Estimate:
    """W1 = integral |F_ref - F_cur|; on each sub-interval both CDFs stay within known
    bounds, so the integral is bounded there (lo: the gap between the two ranges, hi:
    their widest difference); estimate: both CDFs linear within each bin."""
    import numpy as np

    norm = max(ref.std, 0.001)
    if ref.min == ref.max == cur.min == cur.max:
        return _exact(0.0)
    x0, x1, (rl, rh), (cl, ch), _ = _cdf_grid(ref, cur)
    w = x1 - x0
    gap = np.maximum(0.0, np.maximum(rl - ch, cl - rh))
    widest = np.maximum(np.abs(rh - cl), np.abs(ch - rl))
    d0, d1 = rl - cl, rh - ch  # linear CDFs: difference goes from d0 to d1
    mid = np.where(
        np.sign(d0) * np.sign(d1) >= 0,
        (np.abs(d0) + np.abs(d1)) / 2,
        (d0**2 + d1**2) / (2 * (np.abs(d0) + np.abs(d1) + 1e-300)),
    )
    lo, hi, est = (float(np.einsum("i,i->", w, g)) for g in (gap, widest, mid))
    return Estimate(est / norm, lo / norm, hi / norm, lo == hi)


def _ks_p(d: float, n1: int, n2: int) -> float:
    from scipy import stats

    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(min(max(stats.kstwo.sf(d, round(m * n / (m + n))), 0.0), 1.0))


def _ks_bounds(ref: NumericProfile, cur: NumericProfile) -> Estimate:
    """Bounds on D = sup |F_ref - F_cur| from the CDF bounds (the gap is a lower bound at
    any point, the widest difference an upper one); p-value via Smirnov's asymptotic
    distribution (scipy's ``ks_2samp`` method above 10,000 rows per side). Below that,
    scipy's exact p-value differs: the estimate is then marked inexact."""
    import numpy as np

    if ref.values is not None and cur.values is not None:
        _, r, c = _profile_counts(dict(ref.values), dict(cur.values))
        d = float(np.max(np.abs(np.cumsum(r) / r.sum() - np.cumsum(c) / c.sum())))
        d_lo = d_hi = d
    else:
        _, _, (rl, rh), (cl, ch), _ = _cdf_grid(ref, cur)
        d_lo = float(np.max(np.maximum(0.0, np.maximum(rl - ch, cl - rh)), initial=0.0))
        d_hi = float(np.max(np.maximum(np.abs(rh - cl), np.abs(ch - rl)), initial=0.0))
        d = (d_lo + d_hi) / 2
    n1, n2 = ref.finite, cur.finite
    if max(n1, n2) <= _KS_EXACT_N:  # scipy's exact p-value: unknown without the values
        return Estimate(_ks_p(d, n1, n2), 0.0, 1.0, False)
    if d_lo == d_hi:
        return _exact(_ks_p(d, n1, n2))
    # kstwo.sf (scipy's p-value) costs about a second at a million rows; its limit, the
    # Kolmogorov distribution, is instant and within a few per cent of it there: widened
    # by 10% either way for the bounds (a straddling band is recomputed exactly)
    from scipy import stats

    m, n = sorted([float(n1), float(n2)], reverse=True)
    root = math.sqrt(round(m * n / (m + n)))
    p_hi = min(1.0, 1.1 * float(stats.kstwobign.sf(d_lo * root)))
    p_lo = 0.9 * float(stats.kstwobign.sf(d_hi * root))
    return Estimate(float(stats.kstwobign.sf(d * root)), p_lo, p_hi, False)


def sturges_edges(lo: float, hi: float, n: int) -> Any:
    """``numpy.histogram_bin_edges(x, bins="sturges")`` for ``n`` values spanning
    [``lo``, ``hi``], without the values (numpy's own rule: width = range / (log2(n) + 1),
    ceil(range / width) equal bins; a zero range becomes [lo - 0.5, hi + 0.5], one bin)."""
    import numpy as np

    if lo == hi:
        return np.linspace(lo - 0.5, hi + 0.5, 2)
    width = (hi - lo) / (np.log2(n) + 1.0)
    bins = int(np.ceil((hi - lo) / width)) if width else 1
    return np.linspace(lo, hi, bins + 1, endpoint=True)


def _allocate(p: NumericProfile, bins: Any, lo: float, hi: float) -> tuple[Any, Any, Any]:
    """Counts of ``p``'s finite values in the Sturges ``bins``: (estimate, all-left,
    all-right); a fine bin cut by a Sturges edge spreads uniformly (estimate) or goes
    wholly to its leftmost / rightmost Sturges bin."""
    import numpy as np

    edges = np.asarray(p.edges, dtype=float)
    assert p.min is not None and p.max is not None
    k = len(bins) - 1
    est, left, right = np.zeros(k), np.zeros(k), np.zeros(k)
    starts = np.concatenate([[p.min], edges])
    ends = np.concatenate([edges, [p.max]])
    counts = np.asarray(p.counts, dtype=float)
    for a, b, m in zip(starts, ends, counts, strict=True):
        if m == 0:
            continue
        a, b = max(a, p.min), min(b, p.max)
        # Sturges bins the values of [a, b) can fall in (the last bin holds hi itself)
        i0 = min(int(np.searchsorted(bins, a, side="right")) - 1, k - 1)
        i1 = min(int(np.searchsorted(bins, b, side="right")) - 1, k - 1)
        if b <= a or i0 == i1:
            est[i0] += m
            left[i0] += m
            right[i0] += m
            continue
        if a == b or i1 < i0:
            i1 = i0
        cut = np.clip(np.diff(np.clip(bins[i0 : i1 + 2], a, b)), 0, None)
        share = cut / cut.sum() if cut.sum() > 0 else np.eye(1, i1 - i0 + 1, 0).ravel()
        est[i0 : i1 + 1] += m * share
        left[i0] += m
        right[i1] += m
    return est, left, right


def _sturges_estimate(
    method: str, ref: NumericProfile, cur: NumericProfile, *, distinct: int | None = None
) -> Estimate:
    """psi / kl_div / jensenshannon / hellinger of a numerical column of many values, on
    Evidently's Sturges bins over the combined range (``distinct``: the distinct values of
    both samples, which hellinger's bin count uses; unknown = every value distinct)."""
    import numpy as np

    assert ref.min is not None and cur.min is not None
    assert ref.max is not None and cur.max is not None
    lo, hi = min(ref.min, cur.min), max(ref.max, cur.max)
    n = distinct if method == "hellinger" and distinct else ref.finite + cur.finite
    bins = sturges_edges(lo, hi, n)
    r_est, r_left, r_right = _allocate(ref, bins, lo, hi)
    c_est, c_left, c_right = _allocate(cur, bins, lo, hi)

    def score(r: Any, c: Any) -> float:
        if method == "hellinger":
            width = (bins.max() - bins.min()) / (len(bins) - 1)
            h1, h2 = r / (ref.finite * width), c / (cur.finite * width)
            total = float(np.sum(np.sqrt(h1 * h2)) * width)
            return math.sqrt(1 - min(max(total, 0.0), 1.0))
        rp, cp = r / ref.finite, c / cur.finite
        if method != "jensenshannon":
            rp, cp = _fill_zeroes(rp), _fill_zeroes(cp)
        return _binned_score(method, rp, cp)

    est = score(r_est, c_est)
    corners = [score(a, b) for a in (r_left, r_right) for b in (c_left, c_right)]
    spread = max(abs(s - est) for s in corners)
    exact = spread == 0 and np.allclose(r_left, r_right) and np.allclose(c_left, c_right)
    if method == "hellinger" and distinct is None:
        exact = False  # the bin count depends on the distinct values, not known here
        spread = max(spread, 1e-9)
    return Estimate(est, est - 2 * spread, est + 2 * spread, bool(exact))


# -- the engine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeScore:
    """One column's native result: the score the verdict used, its bounds, and whether it
    was recomputed exactly on the values (``recomputed``) or stayed on a straddling band
    (``borderline``: the verdict is then the estimate's)."""

    column: str
    method: str
    score: float
    lo: float
    hi: float
    threshold: float
    drifted: bool
    recomputed: bool
    borderline: bool

    def as_column_score(self) -> ColumnScore:
        return ColumnScore(
            self.method, self.score, self.threshold, self.drifted, METHODS[self.method].p_value
        )


def score_profiles(
    reference: Mapping[str, ColumnProfile],
    current: Mapping[str, ColumnProfile],
    plan: DriftPlan,
    columns: Mapping[str, str],
    *,
    values: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, NativeScore]:
    """Per-column native scores from profiles, under ``plan``'s methods and thresholds (or
    Evidently's defaults by type and size). ``values(column)`` returns the non-missing
    values (reference, current) of one column for an exact recomputation when a score's
    band straddles its threshold (or the method needs the values); without it such a column
    is ``borderline``. Raises ValueError for a column without profiles."""
    engine = ENGINES.get("native")
    out: dict[str, NativeScore] = {}
    for column, kind in columns.items():
        ref, cur = reference[column], current[column]
        method, threshold = _rule(engine, plan, column, kind, ref, cur)
        est = estimate(method, kind, ref, cur)
        recomputed = borderline = False
        score = est.score
        if not est.exact and (_straddles(method, est, threshold) or math.isnan(score)):
            if values is not None:
                r, c = values(column)
                score, recomputed = exact_score(method, kind, r, c), True
            else:
                borderline = True
        lo, hi = (score, score) if recomputed else (est.lo, est.hi)
        out[column] = NativeScore(
            column,
            method,
            float(score),
            float(lo),
            float(hi),
            float(threshold),
            drifted(method, score, threshold),
            recomputed,
            borderline,
        )
    return out


def _rule(
    engine: Any, plan: DriftPlan, column: str, kind: str, ref: ColumnProfile, cur: ColumnProfile
) -> tuple[str, float]:
    """(method, threshold) of a column: the plan's, else Evidently's default choice."""
    from driftline.monitoring.profiles import NumericProfile

    if column in plan.tested_predictions:
        method, threshold = plan.prediction_rule(column)
    else:
        method, threshold = plan.methods.get(column), plan.thresholds.get(column)
    if method is None:
        if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
            rows = ref.finite
            if ref.values is not None and cur.values is not None:
                distinct = len({v for v, _ in ref.values} | {v for v, _ in cur.values})
            else:
                distinct = 2**31
        else:
            rows = ref.present  # type: ignore[union-attr]
            distinct = len(set(ref.as_dict()) | set(cur.as_dict()))  # type: ignore[union-attr]
        method = engine.default_method(kind, reference_rows=rows, distinct_values=distinct)
    return method, METHODS[method].threshold if threshold is None else threshold


class NativeEngine:
    """Column profiles and scipy; Evidently's verdicts."""

    name = "native"
    methods = METHODS
    refused = REFUSED
    #: ``run`` takes the baseline's stored reference profiles (``reference_profiles``).
    takes_reference_profiles = True

    def default_method(self, column_type: str, *, reference_rows: int, distinct_values: int) -> str:
        """Evidently's choice (see ``EvidentlyEngine.default_method``)."""
        return ENGINES.get("evidently").default_method(
            column_type, reference_rows=reference_rows, distinct_values=distinct_values
        )

    def run(
        self,
        current: pd.DataFrame,
        reference: pd.DataFrame,
        plan: DriftPlan,
        columns: dict[str, str],
        labelled: pd.DataFrame | None,
        *,
        timestamp: datetime | None = None,
        tags: Sequence[str] = (),
        reference_profiles: Mapping[str, ColumnProfile] | None = None,
    ) -> EngineOutput:
        """Profile both prepared frames and score them (:func:`score_profiles`), with the
        frames' values for exact recomputation. ``reference_profiles``, the baseline's
        stored profiles of ``reference``, are used for its numerical columns when they
        describe the same values (same count of finite values); categorical columns are
        always counted from the frame (rare categories are pooled there). The report is
        Evidently's, rendered on a bounded sample of each side when someone asks for it
        (:class:`SampledReport`)."""
        from driftline.monitoring.profiles import NumericProfile, profile_frame

        stored = dict(reference_profiles or {})
        ref_profiles: dict[str, ColumnProfile] = {}
        for column, kind in columns.items():
            known = stored.get(column)
            finite = int(reference[column].notna().sum()) if kind == "numerical" else -1
            if isinstance(known, NumericProfile) and known.finite == finite:
                ref_profiles[column] = known
            else:
                ref_profiles.update(profile_frame(reference, {column: kind}))
        cur_profiles = profile_frame(current, columns, ref_profiles)

        def values(column: str) -> tuple[Any, Any]:
            return _present(reference[column]), _present(current[column])

        scores = score_profiles(ref_profiles, cur_profiles, plan, columns, values=values)
        report = SampledReport(
            current, reference, plan, columns, scores, timestamp=timestamp, tags=tags
        )
        return EngineOutput(
            scores={c: s.as_column_score() for c, s in scores.items()}, report=report
        )


def _present(series: pd.Series) -> Any:
    import pandas as pd

    kept = series[pd.notna(series)]
    return kept.to_numpy(dtype=float if series.dtype.kind == "f" else object)


class SampledReport:
    """Evidently's report of a native check, rendered from at most ``plan.report_sample``
    rows of each side (a seeded random sample) when it is written, with the methods and
    thresholds the native engine used; each column's verdict in the page is the one the
    policy used (the native one), shown in the report's tags and its test descriptions."""

    def __init__(
        self,
        current: pd.DataFrame | Callable[[], pd.DataFrame],
        reference: pd.DataFrame | Callable[[], pd.DataFrame],
        plan: DriftPlan,
        columns: Mapping[str, str],
        scores: Mapping[str, NativeScore],
        *,
        timestamp: datetime | None,
        tags: Sequence[str],
    ) -> None:
        """``current`` and ``reference`` are the rows, or functions that read them: then
        they are read only when the report is drawn (a check that writes no report reads
        no sample)."""
        self._sides = (current, reference)
        self._plan, self._columns, self._scores = plan, dict(columns), dict(scores)
        self._timestamp, self._tags = timestamp, tuple(tags)
        self._inner: Any = None

    def _sample(self, side: pd.DataFrame | Callable[[], pd.DataFrame]) -> pd.DataFrame:
        frame = side() if callable(side) else side
        size = self._plan.report_sample
        return frame.sample(n=size, random_state=0) if len(frame) > size else frame

    def _render(self) -> Any:
        if self._inner is None:
            from dataclasses import replace

            from driftline.monitoring.engines.evidently import EvidentlyEngine

            current, reference = (self._sample(side) for side in self._sides)
            plan = replace(
                self._plan,
                methods={**self._plan.methods, **{c: s.method for c, s in self._scores.items()}},
                thresholds={
                    **self._plan.thresholds,
                    **{c: s.threshold for c, s in self._scores.items()},
                },
            )
            verdicts = [
                f"native:{c}={'drift' if s.drifted else 'ok'}:{s.score:.4g}"
                for c, s in self._scores.items()
            ]
            output = EvidentlyEngine().run(
                current,
                reference,
                plan,
                self._columns,
                None,
                timestamp=self._timestamp,
                tags=(*self._tags, f"sample:{len(current)}", *verdicts),
            )
            self._inner = _with_verdicts(output.report, self._scores)
        return self._inner

    def save_html(self, path: Any) -> list[Any]:
        """Write Evidently's report of the samples (see the class docstring)."""
        return self._render().save_html(path)

    def add_to_workspace(
        self,
        workspace: Any,
        project_id: Any,
        name: str,
        *,
        tags: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Add Evidently's report of the samples to the workspace project, with the run's
        ``tags`` and ``metadata`` (the decision, as on every other run's snapshots)."""
        return self._render().add_to_workspace(
            workspace, project_id, name, tags=tags, metadata=metadata
        )


def _with_verdicts(report: Any, scores: Mapping[str, NativeScore]) -> Any:
    """The Evidently report of the samples with each column's drift score, test status
    and description replaced by the native result on all rows (what the policy used)."""
    from evidently.core.report import Snapshot

    from driftline.monitoring.engines.evidently import EvidentlyReport

    data = report._drift.dump_dict()
    for result in (data.get("metric_results") or {}).values():
        params = ((result.get("metric_value_location") or {}).get("metric") or {}).get("params")
        column = (params or {}).get("column")
        if not str((params or {}).get("type", "")).endswith(":ValueDrift") or column not in scores:
            continue
        s = scores[column]
        if "value" in result:
            result["value"] = s.score
        for test in result.get("tests") or []:
            if test.get("id") == "drift":
                test["status"] = "FAIL" if s.drifted else "SUCCESS"
                test["description"] = _described(s)
    for widget in data.get("tests_widgets") or []:
        for test in (widget.get("params") or {}).get("tests") or []:
            title = str(test.get("title", ""))
            column = title.removeprefix("Value Drift for column ")
            if column != title and column in scores:
                test["state"] = "fail" if scores[column].drifted else "success"
                test["description"] = _described(scores[column])
    return EvidentlyReport(Snapshot.load_dict(data), report._performance)


def _described(s: NativeScore) -> str:
    verdict = "drift" if s.drifted else "no drift"
    return (
        f"Native engine on all rows: {s.method} score {s.score:.4g}, threshold "
        f"{s.threshold:g}: {verdict}. The plots show a bounded sample of each side."
    )


ENGINES.register(NativeEngine())
