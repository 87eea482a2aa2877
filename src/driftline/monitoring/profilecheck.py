"""The native drift check of two Parquet files in bounded memory.

The reference is profiled one column at a time (its bin edges are quantiles of the whole
column), the current file batch by batch (``pyarrow.parquet.ParquetFile.iter_batches``,
``batch_rows`` rows each) and the batch profiles are merged
(:mod:`driftline.monitoring.profiles`), so memory holds one reference column or one
batch, never a whole file. The verdicts come from
:func:`driftline.monitoring.engines.native.score_profiles`; a column whose score band
straddles its threshold is recomputed exactly on that column's values, read alone.
Data-quality rules, rare-category pooling and the effect-size floor are computed on the
profiles with the same rules as :func:`driftline.monitoring.check.compare_frames`. The
HTML report is Evidently's, from the first ``plan.report_sample`` rows of each file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftline.config.errors import DataError
from driftline.monitoring.engines import ENGINES
from driftline.monitoring.engines.native import NativeScore, SampledReport, score_profiles
from driftline.monitoring.guards import RARE, rare_categories, total_variation
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.profiles import (
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
    merge_all,
    profile_frame,
)
from driftline.monitoring.results import ALL_MISSING, ColumnDrift, DriftResult, QualityFinding

#: Rows per batch of the current file.
BATCH_ROWS = 100_000


def parquet_rows(path: Path | str) -> int:
    """Rows of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _batches(path: Path | str, columns: list[str], rows: int) -> Iterator[pd.DataFrame]:
    """The file's row groups one at a time (``rows`` is unused beyond slicing: a row group
    is Parquet's unit of reading, so memory is bounded by the largest row group; pyarrow's
    ``iter_batches`` reads ahead and held twice as much here). Text columns come as pandas
    categoricals (Arrow dictionaries), which profile in one pass over their distinct
    values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    text = [c for c in columns if c in schema.names and pa.types.is_string(schema.field(c).type)]
    handle = pq.ParquetFile(path, read_dictionary=text)
    for group in range(handle.num_row_groups):
        frame = handle.read_row_group(group, columns=columns).to_pandas()
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]


def head(path: Path | str, rows: int, columns: list[str] | None = None) -> pd.DataFrame:
    """The first ``rows`` rows of a Parquet file (for column inference and the report)."""
    parts, have = [], 0
    for part in _batches(path, columns or _names(path), rows):
        parts.append(part.iloc[: rows - have])
        have += len(parts[-1])
        if have >= rows:
            break
    if not parts:
        return pd.DataFrame()
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    for column in frame.columns:  # plain text for type inference, as read_table gives
        if isinstance(frame[column].dtype, pd.CategoricalDtype):
            frame[column] = frame[column].astype(object)
    return frame.reset_index(drop=True)


def _names(path: Path | str) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _column(path: Path | str, column: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=[column]).to_pandas()


def profile_reference(path: Path | str, columns: Mapping[str, str]) -> dict[str, ColumnProfile]:
    """Reference profiles of ``columns``, reading one column at a time."""
    out: dict[str, ColumnProfile] = {}
    for name, kind in columns.items():
        out.update(profile_frame(_column(path, name), {name: kind}))
    return out


def profile_current(
    path: Path | str,
    columns: Mapping[str, str],
    reference: Mapping[str, ColumnProfile],
    *,
    batch_rows: int = BATCH_ROWS,
) -> tuple[dict[str, ColumnProfile], dict[str, int]]:
    """The current file's profiles, batch by batch and merged, and per numerical column the
    values outside the reference's [min, max] (for the out-of-range rule)."""
    parts: list[dict[str, ColumnProfile]] = []
    outside = dict.fromkeys((c for c, k in columns.items() if k == "numerical"), 0)
    for chunk in _batches(path, list(columns), batch_rows):
        part = profile_frame(chunk, columns, reference)
        parts.append(part)
        for name in outside:
            ref = reference[name]
            assert isinstance(ref, NumericProfile)
            if ref.min is None or ref.max is None:
                continue
            x = _floats(chunk[name])
            outside[name] += int(np.count_nonzero((x < ref.min) | (x > ref.max)))
        if len(parts) > 8:  # merge as we go: memory stays one batch and one profile
            parts = [merge_all(parts)]
    if not parts:
        raise DataError(f"{path}: no rows to check")
    return merge_all(parts), outside


def _floats(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _finite_values(path: Path | str, column: str) -> np.ndarray:
    x = _floats(_column(path, column)[column])
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
    batch_rows: int = BATCH_ROWS,
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
    empty_ref = [c for c in wanted if _present(ref_p[c]) == 0]
    if empty_ref:
        raise DataError(
            f"{names[0]}: columns {empty_ref} have no values (or only infinite ones); "
            "nothing to compare with"
        )
    cur_p, outside = profile_current(current, wanted, ref_p, batch_rows=batch_rows)
    empty_cur = [c for c in wanted if _present(cur_p[c]) == 0]
    if len(empty_cur) == len(wanted):
        raise DataError(f"{names[1]}: every checked column is empty")
    engine = ENGINES.get("native")
    tested: dict[str, str] = {}
    constant: dict[str, ColumnDrift] = {}
    ref_t, cur_t = dict(ref_p), dict(cur_p)
    for c, kind in wanted.items():
        if c in empty_cur:
            continue
        r, k = ref_p[c], cur_p[c]
        if isinstance(r, CategoricalProfile) and isinstance(k, CategoricalProfile):
            ref_t[c], cur_t[c] = _pooled(r, k, plan.min_category_count)
        if _constant(r, k):
            method = plan.methods.get(c) or engine.default_method(
                kind, reference_rows=_present(r), distinct_values=1
            )
            entry = engine.methods[method]
            limit = plan.thresholds.get(c, entry.threshold)
            score = 1.0 if entry.p_value else 0.0
            constant[c] = ColumnDrift(c, kind, method, score, limit, False, 0.0, entry.p_value)
        else:
            tested[c] = kind

    def values(column: str) -> tuple[np.ndarray, np.ndarray]:
        return _finite_values(reference, column), _finite_values(current, column)

    scores = score_profiles(ref_t, cur_t, plan, tested, values=values)
    scores = {c: _floor(s, ref_t[c], cur_t[c], plan.min_effect) for c, s in scores.items()}

    def verdict(c: str, kind: str) -> ColumnDrift:
        cur = cur_p[c]
        share = cur.missing / cur.count if cur.count else 0.0
        if c in empty_cur:
            limit = plan.quality.max_missing_share
            return ColumnDrift(c, kind, ALL_MISSING, 1.0, limit, True, 1.0, p_value=False)
        if c in constant:
            return replace(constant[c], missing_share=share)
        s = scores[c]
        p = engine.methods[s.method].p_value
        return ColumnDrift(c, kind, s.method, s.score, s.threshold, s.drifted, share, p_value=p)

    columns = tuple(verdict(c, k) for c, k in plan.columns.items())
    predictions = [verdict(c, k) for c, k in plan.tested_predictions.items()]
    prediction, extra = (predictions[0], tuple(predictions[1:])) if predictions else (None, ())
    drifted = sum(c.drifted for c in columns)
    share = drifted / len(columns) if columns else 0.0
    rows_ref = next(iter(ref_p.values())).count
    rows_cur = next(iter(cur_p.values())).count
    sample = min(plan.report_sample, rows_ref, rows_cur)
    report = _report(reference, current, plan, wanted, tested, scores, sample, names)
    return DriftResult(
        columns=columns,
        drift_share=share,
        drift_share_threshold=plan.drift_share,
        dataset_drift=bool(columns) and share >= plan.drift_share,
        prediction=prediction,
        extra_predictions=extra,
        quality=tuple(quality(ref_p, cur_p, plan, outside)),
        performance=None,
        rows_reference=rows_ref,
        rows_current=rows_cur,
        engine="native",
        report=report,
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


def quality(
    reference: Mapping[str, ColumnProfile],
    current: Mapping[str, ColumnProfile],
    plan: DriftPlan,
    outside: Mapping[str, int],
) -> list[QualityFinding]:
    """The data-quality rules of :func:`driftline.monitoring.quality.data_quality`, on
    profiles (ranges: the reference's min and max)."""
    rules = plan.quality
    found: list[QualityFinding] = []
    for column in plan.columns:
        ref, cur = reference[column], current[column]
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
        cur_missing, ref_missing = cur.missing / cur.count, ref.missing / ref.count
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
                top = sorted(unseen.items(), key=lambda kv: -kv[1])[:5]
                shown = ", ".join(f"{k!r} ({n})" for k, n in top)
                found.append(
                    QualityFinding(
                        column,
                        "unseen_categories",
                        share,
                        rules.max_unseen_share,
                        f"{len(unseen)} categories the reference never had: {shown}",
                    )
                )
        elif isinstance(cur, NumericProfile) and isinstance(ref, NumericProfile) and cur.finite:
            share = outside.get(column, 0) / cur.finite
            if share > rules.max_out_of_range_share:
                found.append(
                    QualityFinding(
                        column,
                        "out_of_range",
                        share,
                        rules.max_out_of_range_share,
                        f"{share:.1%} of values outside the reference range "
                        f"[{ref.min:g}, {ref.max:g}] (window min {cur.min:g}, max {cur.max:g})",
                    )
                )
    return found


def _report(
    reference: Path | str,
    current: Path | str,
    plan: DriftPlan,
    wanted: Mapping[str, str],
    tested: Mapping[str, str],
    scores: Mapping[str, NativeScore],
    rows: int,
    names: tuple[str, str],
) -> SampledReport | None:
    """Evidently's report of the first ``rows`` rows of each file, with the native
    verdicts; None when no column was tested."""
    from driftline.monitoring.check import _prepare

    if not tested or rows <= 0:
        return None
    ref, _ = _prepare(head(reference, rows, list(wanted)), wanted, names[0])
    cur, _ = _prepare(head(current, rows, list(wanted)), wanted, names[1])
    return SampledReport(cur, ref, plan, dict(tested), scores, timestamp=None, tags=())
