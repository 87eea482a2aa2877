"""Drift checks on column profiles: two Parquet files in bounded memory, and the one way
from two samples' profiles to a :class:`~driftline.monitoring.results.DriftResult`.

:func:`compare_profiles` turns a reference profile and a current profile (on the
reference's bin edges) into the result: verdicts from
:func:`driftline.monitoring.engines.native.score_profiles`, and data-quality rules,
rare-category pooling and the effect-size floor computed on the profiles with the same
rules as :func:`driftline.monitoring.check.compare_frames`. A column whose score band
straddles its threshold is recomputed exactly when the caller can read its values, else
reported borderline with both bounds. A monitor run fed a window profile
(:mod:`driftline.monitoring.windowprofile`) uses it as it is.

:func:`check_parquet` profiles two files for it: the reference one column at a time (its
bin edges are quantiles of the whole column), the current file row group by row group
(Arrow tables; text as Arrow dictionaries) with the profiles merged
(:mod:`driftline.monitoring.profiles`), so memory holds a few reference columns or row
groups, never a whole file. Columns (reference) and row groups (current) are profiled on
:data:`WORKERS` threads: the work is numpy sorts and Arrow reads, which release the GIL.
Straddling columns are recomputed on that column's values, read alone, and out-of-range
values counted on the rows. The HTML report is Evidently's, from the first
``plan.report_sample`` rows of each file, read only when the report is drawn.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from driftline.config.errors import DataError
from driftline.monitoring.engines import ENGINES
from driftline.monitoring.engines.native import NativeScore, SampledReport, score_profiles
from driftline.monitoring.guards import RARE, all_rare, rare_categories, total_variation
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.profiles import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    column_numbers,
    merge,
    profile_frame,
    profile_numbers,
)
from driftline.monitoring.results import ALL_MISSING, ColumnDrift, DriftResult, QualityFinding

if TYPE_CHECKING:
    import pyarrow as pa

#: Threads that profile columns (reference) or row groups (current) side by side.
WORKERS = max(1, min(4, os.cpu_count() or 1))


def parquet_rows(path: Path | str) -> int:
    """Rows of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _column_chunks(
    path: Path | str, columns: list[str]
) -> Iterator[tuple[str, Callable[[], pa.Table]]]:
    """(column, reader of that column of one row group) for every row group and column of
    the file: a column chunk is Parquet's unit of reading, so memory is bounded by it
    (pyarrow's ``iter_batches`` reads ahead and held twice as much). Text columns come as
    Arrow dictionaries, which profile in one pass over their distinct values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [c for c in columns if c in schema.names and pa.types.is_string(schema.field(c).type)]

    def read(group: int, name: str) -> pa.Table:  # a handle each: threads side by side
        return pq.ParquetFile(path, read_dictionary=text).read_row_group(group, columns=[name])

    for group in range(pq.ParquetFile(path).num_row_groups):
        for name in columns:
            yield name, lambda group=group, name=name: read(group, name)


def head(path: Path | str, rows: int, columns: list[str] | None = None) -> pd.DataFrame:
    """The first ``rows`` rows of a Parquet file (for column inference and the report),
    text as plain strings, as ``read_table`` gives. Read as one batch of ``rows`` rows, so
    a file written as a single large row group is not read whole."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)  # stream the pages
    batch = next(handle.iter_batches(batch_size=max(rows, 1), columns=columns), None)
    if batch is None:
        return pd.DataFrame()
    return batch.slice(0, rows).to_pandas()


def _names(path: Path | str) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _column(path: Path | str, column: str) -> pa.Table:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=[column])


def _in_parallel(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """``fn`` of each item in order, on :data:`WORKERS` threads, at most that many items
    in hand at once (so memory stays a few row groups or columns). The work is numpy
    sorts and Arrow reads, which release the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= WORKERS:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def profile_reference(path: Path | str, columns: Mapping[str, str]) -> dict[str, ColumnProfile]:
    """Reference profiles of ``columns``, reading one column at a time (a column's bin
    edges are quantiles of all its values)."""
    out: dict[str, ColumnProfile] = {}
    for part in _in_parallel(
        lambda item: profile_frame(_column(path, item[0]), dict([item])), columns.items()
    ):
        out.update(part)
    return out


def profile_current(
    path: Path | str,
    columns: Mapping[str, str],
    reference: Mapping[str, ColumnProfile],
) -> tuple[dict[str, ColumnProfile], dict[str, tuple[int, int]]]:
    """The current file's profiles, one column of one row group at a time (so memory holds
    a few column chunks, whatever the row groups' size) and merged, and per numerical
    column the values (below, above) the reference's [min, max] (for the out-of-range
    rule)."""
    import pyarrow.parquet as pq

    def one(
        chunk: tuple[str, Callable[[], pa.Table]],
    ) -> tuple[str, ColumnProfile, tuple[int, int]]:
        name, read = chunk
        table = read()
        ref = reference.get(name)
        if columns[name] != "numerical" or not isinstance(ref, NumericProfile):
            return name, profile_frame(table, {name: columns[name]}, reference)[name], (0, 0)
        x = column_numbers(table, name)  # once, for the profile and the out-of-range counts
        part = profile_numbers(x, ref.edges, ref.center)
        if ref.min is None or ref.max is None:
            return name, part, (0, 0)
        return name, part, (int(np.count_nonzero(x < ref.min)), int(np.count_nonzero(x > ref.max)))

    if not pq.ParquetFile(path).metadata.num_rows:
        raise DataError(f"{path}: no rows to check")
    chunks = _column_chunks(path, list(columns))
    merged: dict[str, ColumnProfile] = {}
    outside = {c: (0, 0) for c, k in columns.items() if k == "numerical"}
    for name, part, (below, above) in _in_parallel(one, chunks):
        merged[name] = merge(merged[name], part) if name in merged else part
        if name in outside:
            outside[name] = (outside[name][0] + below, outside[name][1] + above)
    return {c: merged[c] for c in columns}, outside


def _finite_values(path: Path | str, column: str) -> np.ndarray:
    x = column_numbers(_column(path, column), column)
    return x[np.isfinite(x)]


def _pooled(ref: CategoricalProfile, cur: CategoricalProfile, min_count: float) -> tuple[Any, Any]:
    rare = rare_categories(ref.as_dict(), cur.as_dict(), min_count)
    if not rare:
        return ref, cur

    def pool(p: CategoricalProfile) -> CategoricalProfile:
        kept: dict[str, int] = {}
        for k, n in p.categories:
            key = RARE if k in rare else k
            kept[key] = kept.get(key, 0) + n
        return replace(p, categories=tuple(sorted(kept.items())))

    return pool(ref), pool(cur)


def _constant(ref: ColumnProfile, cur: ColumnProfile) -> bool:
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        return ref.min is not None and ref.min == ref.max == cur.min == cur.max
    assert isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile)
    both = set(ref.as_dict()) | set(cur.as_dict())
    return len(both) == 1 and not ref.other and not cur.other


def _present(p: ColumnProfile) -> int:
    return p.finite if isinstance(p, NumericProfile) else p.present


def check_parquet(
    reference: Path | str,
    current: Path | str,
    plan: DriftPlan,
    *,
    names: tuple[str, str] = ("reference", "current"),
) -> DriftResult:
    """The native check of two Parquet files under ``plan`` in bounded memory (module
    docstring). Raises DataError for missing columns, a reference column without values or
    a current file where every checked column is empty."""
    wanted = {**plan.columns, **plan.tested_predictions}
    for path, name in ((reference, names[0]), (current, names[1])):
        missing = [c for c in wanted if c not in _names(path)]
        if missing:
            raise DataError(f"{name}: missing columns {missing}; it has {_names(path)}")
    ref_p = profile_reference(reference, wanted)
    _require_reference_values(ref_p, wanted, names[0])
    cur_p, outside = profile_current(current, wanted, ref_p)

    def values(column: str) -> tuple[np.ndarray, np.ndarray]:
        return _finite_values(reference, column), _finite_values(current, column)

    checked = compare_profiles(ref_p, cur_p, plan, values=values, outside=outside, names=names)
    rows = min(plan.report_sample, checked.result.rows_reference, checked.result.rows_current)
    report = _report(reference, current, checked.plan, wanted, checked.scores, rows, names)
    return replace(checked.result, report=report)


@dataclass(frozen=True)
class ProfileCheck:
    """What :func:`compare_profiles` found: the result (no report: a profile has no rows
    to draw), the native scores of the columns given to the engine (neither empty in the
    current sample nor one and the same value on both sides), and the plan they were
    scored under (the score's method filled in)."""

    result: DriftResult
    scores: dict[str, NativeScore]
    plan: DriftPlan


def compare_profiles(
    reference: Mapping[str, ColumnProfile],
    current: Mapping[str, ColumnProfile],
    plan: DriftPlan,
    *,
    values: Callable[[str], tuple[np.ndarray, np.ndarray]] | None = None,
    outside: Mapping[str, tuple[int, int]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    name_unseen: bool = True,
    names: tuple[str, str] = ("reference", "current"),
) -> ProfileCheck:
    """The drift check of two samples given as column profiles (the reference's and the
    current's, on the reference's bin edges), under ``plan``: the one way from profiles to
    a :class:`DriftResult`, for two Parquet files (:func:`check_parquet`) and for a monitor
    run fed a window profile (:mod:`driftline.monitoring.windowprofile`).

    Scores are :func:`driftline.monitoring.engines.native.score_profiles` (Evidently's
    methods, thresholds and default choices, reproduced on profiles), with the rules of
    :func:`driftline.monitoring.check.compare_frames` around them: a column empty in the
    current sample is drift by itself (``all_missing``), one holding a single value on both
    sides is not tested, rare categories are pooled (:mod:`driftline.monitoring.guards`),
    p-value tests meet the effect-size floor, the score is tested with the score's method,
    and the data-quality rules run on the profiles (:func:`quality`).

    ``values(column)``, when the caller has the rows, gives a column's finite values
    (reference, current) for an exact recomputation of a score whose error band straddles
    its threshold; without it such a column keeps the estimate's verdict and the result
    says so in its ``notes`` (borderline, with both bounds). ``outside`` gives, per
    numerical column, the current values (below, above) the reference range counted on the
    rows; without it they are bounded from the profile (:func:`outside_range`) against
    ``ranges`` (column -> (lo, hi), e.g. the baseline's rounded range; default: the
    reference profile's minimum and maximum). ``name_unseen=False`` counts unseen categories
    without naming any (for findings that are stored and alerted: a profile does not say how
    many customers sent each). Rows are counted from the profiles. Raises DataError when a
    profile of a checked column is missing from either side, a reference column has no
    values, or every checked column of the current sample is empty.
    """
    from driftline.monitoring.check import score_method

    wanted = {**plan.columns, **plan.tested_predictions}
    for given, name in ((reference, names[0]), (current, names[1])):
        missing = [c for c in wanted if c not in given]
        if missing:
            raise DataError(f"{name}: no profile of columns {missing}")
    _require_reference_values(reference, wanted, names[0])
    engine = ENGINES.get("native")
    if plan.prediction and plan.prediction_method is None:
        rows = reference[plan.prediction].count
        plan = replace(plan, prediction_method=score_method(engine, rows))
    empty_cur = [c for c in wanted if _present(current[c]) == 0]
    if len(empty_cur) == len(wanted):
        raise DataError(f"{names[1]}: every checked column is empty")
    tested: dict[str, str] = {}
    constant: dict[str, ColumnDrift] = {}
    ref_t, cur_t = dict(reference), dict(current)
    for c, kind in wanted.items():
        if c in empty_cur:
            continue
        r, k = reference[c], current[c]
        if isinstance(r, CategoricalProfile) and isinstance(k, CategoricalProfile):
            ref_t[c], cur_t[c] = _pooled(r, k, plan.min_category_count)
        if _constant(r, k):
            if c in plan.tested_predictions:
                method, limit = plan.prediction_rule(c)
            else:
                method, limit = plan.methods.get(c), plan.thresholds.get(c)
            method = method or engine.default_method(
                kind, reference_rows=_present(r), distinct_values=1
            )
            entry = engine.methods[method]
            limit = entry.threshold if limit is None else limit
            score = 1.0 if entry.p_value else 0.0
            constant[c] = ColumnDrift(
                c, kind, method, score, limit, False, 0.0, p_value=entry.p_value
            )
        else:
            tested[c] = kind

    scores = score_profiles(ref_t, cur_t, plan, tested, values=values)
    scores = {c: _floor(s, ref_t[c], cur_t[c], plan.min_effect) for c, s in scores.items()}

    def verdict(c: str, kind: str) -> ColumnDrift:
        cur = current[c]
        share = cur.missing / cur.count if cur.count else 0.0
        if c in empty_cur:
            limit = plan.quality.max_missing_share
            return ColumnDrift(c, kind, ALL_MISSING, 1.0, limit, True, 1.0, p_value=False)
        if c in constant:
            return replace(constant[c], missing_share=share)
        s = scores[c]
        p = engine.methods[s.method].p_value
        score = s.score if math.isfinite(s.score) else (1.0 if p else 0.0)
        return ColumnDrift(c, kind, s.method, score, s.threshold, s.drifted, share, p_value=p)

    columns = tuple(verdict(c, k) for c, k in plan.columns.items())
    predictions = [verdict(c, k) for c, k in plan.tested_predictions.items()]
    prediction, extra = (predictions[0], tuple(predictions[1:])) if predictions else (None, ())
    drifted = sum(c.drifted for c in columns)
    share = drifted / len(columns) if columns else 0.0
    found = quality(reference, current, plan, outside, ranges=ranges, name_unseen=name_unseen)
    result = DriftResult(
        columns=columns,
        drift_share=share,
        drift_share_threshold=plan.drift_share,
        dataset_drift=bool(columns) and share >= plan.drift_share,
        prediction=prediction,
        extra_predictions=extra,
        quality=tuple(found),
        performance=None,
        rows_reference=next(iter(reference.values())).count,
        rows_current=next(iter(current.values())).count,
        engine="native",
        notes=(
            *(_borderline(s) for s in scores.values() if s.borderline),
            *(
                note
                for c, kind in plan.columns.items()
                if kind == "categorical"
                and isinstance(r := reference[c], CategoricalProfile)
                and isinstance(k := current[c], CategoricalProfile)
                and (note := all_rare(c, r.as_dict(), k.as_dict(), plan.min_category_count))
            ),
        ),
    )
    return ProfileCheck(result, scores, plan)


def _require_reference_values(
    reference: Mapping[str, ColumnProfile], wanted: Mapping[str, str], name: str
) -> None:
    empty_ref = [c for c in wanted if _present(reference[c]) == 0]
    if empty_ref:
        raise DataError(
            f"{name}: columns {empty_ref} have no values (or only infinite ones); "
            "nothing to compare with"
        )


def _borderline(s: NativeScore) -> str:
    """The note of a score the profiles could not settle (no values to recompute it)."""
    if not math.isfinite(s.score):
        return (
            f"{s.column}: {s.method} needs the column's values, which a profile does not hold "
            "(more distinct values than it counts one by one): not tested; choose a method "
            "that works on binned values (wasserstein, psi, jensenshannon, ...) for it"
        )
    verdict = "drift" if s.drifted else "no drift"
    return (
        f"{s.column}: borderline, {s.method} between {s.lo:.4g} and {s.hi:.4g} from the "
        f"profiles, across the threshold {s.threshold:g}; a profile holds no values to "
        f"recompute it exactly, so the estimate {s.score:.4g} decided ({verdict})"
    )


def _floor(s: NativeScore, ref: ColumnProfile, cur: ColumnProfile, floor: float) -> NativeScore:
    """The effect-size floor of p-value tests (:mod:`driftline.monitoring.guards`), on
    profiles: total variation from the counts, normed Wasserstein from the bins."""
    from driftline.monitoring.engines.native import METHODS, estimate

    if floor <= 0 or not s.drifted or not METHODS[s.method].p_value:
        return s
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        effect = total_variation(ref.as_dict(), cur.as_dict())
    else:
        effect = estimate("wasserstein", "numerical", ref, cur).score
    return s if effect >= floor else replace(s, drifted=False)


def outside_range(
    reference: NumericProfile, current: NumericProfile, lo: float, hi: float
) -> tuple[int, int, bool]:
    """The current sample's values below ``lo`` and above ``hi``, read from its profile on
    the reference's bins, and whether both counts are exact: (below, above, exact).

    ``[lo, hi]`` must hold the reference's values (its own minimum and maximum, or a range
    rounded outward from them, as the baseline's statistics keep it). The profile's outer
    bins are the values below the reference's first edge (its minimum) and at or above its
    last edge (its maximum), so:

    - a side where the window's own minimum (maximum) stays within the range counts 0,
      exactly;
    - a column whose exact value counts the profile keeps (at most ``MAX_DISTINCT``
      distinct values) is counted exactly;
    - otherwise a side counts its whole outer bin: exact below when ``lo`` is the
      reference's minimum, and else an upper bound, which also holds the values between
      the range and the reference's extreme; above, always an upper bound (the last bin
      holds values equal to the reference's maximum too).
    """
    exact = True
    below = above = 0
    if current.min is not None and current.min < lo:
        if current.values is not None:
            below = sum(n for v, n in current.values if v < lo)
        else:
            below = current.counts[0]
            exact = exact and bool(reference.edges) and lo == reference.edges[0]
    if current.max is not None and current.max > hi:
        if current.values is not None:
            above = sum(n for v, n in current.values if v > hi)
        else:
            above, exact = current.counts[-1], False
    return below, above, exact


def quality(
    reference: Mapping[str, ColumnProfile],
    current: Mapping[str, ColumnProfile],
    plan: DriftPlan,
    outside: Mapping[str, tuple[int, int]] | None = None,
    *,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    name_unseen: bool = True,
) -> list[QualityFinding]:
    """The data-quality rules of :func:`driftline.monitoring.quality.data_quality`, on
    profiles. Out of range: against ``ranges`` (default: the reference profile's minimum
    and maximum), counted by ``outside`` (column -> values (below, above), from the rows)
    or else bounded from the profile (:func:`outside_range`; an upper bound says "at
    most"). Unseen categories are named (the five most frequent) unless ``name_unseen`` is
    False. Findings never name a value of the current sample beyond those categories."""
    rules = plan.quality
    found: list[QualityFinding] = []
    for column in plan.columns:
        ref, cur = reference[column], current[column]
        if not cur.count:
            continue
        ref_inf = ref.infinite if isinstance(ref, NumericProfile) else 0
        cur_inf = cur.infinite if isinstance(cur, NumericProfile) else 0
        if ref_inf or cur_inf:
            found.append(
                QualityFinding(
                    column,
                    "infinite",
                    cur_inf / cur.count,
                    0.0,
                    f"{cur_inf:,} infinite values in the current rows, {ref_inf:,} in the "
                    "reference (tested as missing; fix them at the source)",
                )
            )
        cur_missing = cur.missing / cur.count
        ref_missing = ref.missing / ref.count if ref.count else 0.0
        if cur_missing > rules.max_missing_share and cur_missing > ref_missing:
            found.append(
                QualityFinding(
                    column,
                    "missing_share",
                    cur_missing,
                    rules.max_missing_share,
                    f"{cur_missing:.1%} of values missing (reference {ref_missing:.1%})",
                )
            )
        if isinstance(cur, CategoricalProfile) and isinstance(ref, CategoricalProfile):
            known = ref.as_dict()
            unseen = {k: n for k, n in cur.categories if k not in known}
            share = sum(unseen.values()) / cur.count
            if share > rules.max_unseen_share:
                if name_unseen:
                    top = sorted(unseen.items(), key=lambda kv: -kv[1])[:5]
                    shown = ": " + ", ".join(f"{k!r} ({n})" for k, n in top)
                else:
                    shown = " (not named: a profile does not say how many customers sent each)"
                found.append(
                    QualityFinding(
                        column,
                        "unseen_categories",
                        share,
                        rules.max_unseen_share,
                        f"{len(unseen)} categories the reference never had{shown}",
                    )
                )
        elif isinstance(cur, NumericProfile) and isinstance(ref, NumericProfile) and cur.finite:
            if ref.min is None or ref.max is None:
                continue
            lo, hi = (ranges or {}).get(column, (ref.min, ref.max))
            if outside is not None and column in outside:
                (below, above), exact = outside[column], True
            else:
                below, above, exact = outside_range(ref, cur, lo, hi)
            share = (below + above) / cur.finite
            if share > rules.max_out_of_range_share:
                bound = "" if exact else "at most "
                how = (
                    ""
                    if exact
                    else "; counted on the window profile's outer bins, which also hold "
                    "values between the range and the reference's extremes"
                )
                found.append(
                    QualityFinding(
                        column,
                        "out_of_range",
                        share,
                        rules.max_out_of_range_share,
                        f"{bound}{share:.1%} of values outside the reference range "
                        f"[{lo:g}, {hi:g}] ({below:,} below, {above:,} above{how})",
                    )
                )
    return found


def _report(
    reference: Path | str,
    current: Path | str,
    plan: DriftPlan,
    wanted: Mapping[str, str],
    scores: Mapping[str, NativeScore],
    rows: int,
    names: tuple[str, str],
) -> SampledReport | None:
    """Evidently's report of the first ``rows`` rows of each file, with the native
    verdicts of the ``scores``' columns; None when no column was tested."""
    from driftline.monitoring.check import _prepare

    tested = {c: wanted[c] for c in scores}
    if not tested or rows <= 0:
        return None

    def sample(path: Path | str, name: str) -> Callable[[], pd.DataFrame]:
        return lambda: _prepare(head(path, rows, list(wanted)), wanted, name)[0]

    return SampledReport(
        sample(current, names[1]),
        sample(reference, names[0]),
        plan,
        tested,
        scores,
        timestamp=None,
        tags=(),
    )
