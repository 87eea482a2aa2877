"""Mergeable column profiles: what the native drift engine needs to know about a sample.

A profile summarises one column of one sample (a reference, a window, a chunk or a
partition of either) in memory that does not grow with the rows:

- :class:`NumericProfile`: counts (rows, missing, infinite), the finite minimum and
  maximum, the sum and sum of squares (about a fixed ``center``, for the mean and the
  standard deviation), counts on fixed bin ``edges`` that come from the *reference*
  (a fine grid of reference quantiles, with open outer bins below the first and above the
  last edge), and the exact value counts while the column has at most ``MAX_DISTINCT``
  distinct finite values (discrete columns are then tested value by value, as Evidently
  does);
- :class:`CategoricalProfile`: counts (rows, missing) and category -> count, exact;
  :func:`bounded` folds the rarest categories into one "other" count to keep a
  profile small for storage.

Profiles of the same column on the same edges merge exactly (:func:`merge`: associative
and commutative; every count is a sum, minimum and maximum are min and max, the sums are
sums, the value counts are a union, dropped once they exceed ``MAX_DISTINCT``), so a window
can be profiled chunk by chunk, partition by partition, or by a database, and the merged
profile is the one a single pass would have produced (floating-point sums aside, whose
order can change the last bits).

**What other profilers must reproduce** (the PostgreSQL push-down and the Spark
profiler): :func:`profile_frame` per chunk followed by :func:`merge`, with these rules,
which :func:`profile_numbers` and :func:`profile_categories` implement:

- numerical values are floats; missing = null/NaN (after :func:`driftline.data.values.as_numbers`),
  infinite = +/-inf, counted apart and left out of everything else;
- a finite value ``x`` falls in bin ``i = number of edges <= x`` (``numpy.searchsorted(edges,
  x, side="right")``): bin 0 is ``(-inf, e0)``, bin ``i`` is ``[e(i-1), e(i))``, the last
  ``[e(k-1), +inf)``; there are ``len(edges) + 1`` counts;
- ``sum`` and ``sum_sq`` are over ``x - center`` of the finite values;
- categories are text (:func:`driftline.data.values.as_text`: ``1``, ``1.0`` and ``"1"``
  are one category); missing = null.

Quantile error: a quantile read from the bins (:func:`NumericProfile.quantile_bounds`) is
known to lie in one bin, so its error is at most that bin's width (in value) and at most
the bin's share of the rows (in rank). With ``DEFAULT_BINS`` reference-quantile edges each
inner bin holds about 1/``DEFAULT_BINS`` of the reference rows (ties merge edges); the outer
bins hold only values beyond the reference's range, bounded by the window's own min and max.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from driftline.config.errors import DataError

#: Reference-quantile bin edges of a numerical column's reference profile.
DEFAULT_BINS = 2048
#: A numerical column keeps exact value counts while it has at most this many distinct
#: finite values (Evidently tests a column of at most 20 reference values value by value).
MAX_DISTINCT = 64
#: :func:`bounded` keeps at most this many categories by default; the rest become "other".
MAX_CATEGORIES = 10_000

FORMAT = 1


@dataclass(frozen=True)
class NumericProfile:
    """A numerical column of one sample, on bin ``edges`` taken from the reference.

    ``count``: rows (missing and infinite included); ``missing``: null/NaN rows;
    ``infinite``: +/-inf rows; ``min``/``max``: of the finite values (None without any);
    ``center``: the fixed value ``sum`` (of ``x - center``) and ``sum_sq`` (of
    ``(x - center)**2``) are taken about, so the variance keeps its precision (the
    reference's median); ``edges``: sorted distinct finite bin edges; ``counts``: finite
    values per bin (``len(edges) + 1``, see the module docstring for the bins);
    ``values``: exact (value, count) pairs sorted by value while the column has at most
    :data:`MAX_DISTINCT` distinct finite values, else None.
    """

    count: int
    missing: int
    infinite: int
    min: float | None
    max: float | None
    center: float
    sum: float
    sum_sq: float
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    values: tuple[tuple[float, int], ...] | None = None
    kind: str = field(default="numerical", init=False)

    @property
    def finite(self) -> int:
        """Rows with a finite value (those every test sees)."""
        return self.count - self.missing - self.infinite

    @property
    def mean(self) -> float:
        """Mean of the finite values (NaN without any)."""
        n = self.finite
        return self.center + self.sum / n if n else math.nan

    @property
    def variance(self) -> float:
        """Population variance (ddof 0, as ``numpy.std``) of the finite values."""
        n = self.finite
        if not n:
            return math.nan
        m = self.sum / n
        return max(self.sum_sq / n - m * m, 0.0)

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0) of the finite values."""
        return math.sqrt(self.variance)

    @property
    def distinct(self) -> int | None:
        """Distinct finite values, when known exactly (at most :data:`MAX_DISTINCT`)."""
        return None if self.values is None else len(self.values)

    def quantile_bounds(self, q: float) -> tuple[float, float]:
        """Bounds (lo, hi) on the ``q``-quantile (0..1) of the finite values: the edges
        of the bin that holds it (the outer bins are bounded by ``min``/``max``). Error
        at most the bin's width. ValueError without finite values or q outside [0, 1]."""
        if not 0 <= q <= 1 or not self.finite:
            raise ValueError("quantile_bounds needs 0 <= q <= 1 and finite values")
        cum = np.cumsum(self.counts)
        i = int(np.searchsorted(cum, q * self.finite, side="left"))
        i = min(i, len(self.counts) - 1)
        lo = self.edges[i - 1] if i > 0 else self.min
        hi = self.edges[i] if i < len(self.edges) else self.max
        assert lo is not None and hi is not None and self.min is not None and self.max is not None
        return float(max(lo, self.min)), float(min(hi, self.max))


@dataclass(frozen=True)
class CategoricalProfile:
    """A categorical column of one sample: ``count`` rows, ``missing`` null rows,
    ``categories`` (category, count) pairs sorted by category, and ``other``: rows whose
    category was folded away by :func:`bounded` (0 when exact)."""

    count: int
    missing: int
    categories: tuple[tuple[str, int], ...]
    other: int = 0
    kind: str = field(default="categorical", init=False)

    @property
    def present(self) -> int:
        """Rows with a category."""
        return self.count - self.missing

    def as_dict(self) -> dict[str, int]:
        return dict(self.categories)


ColumnProfile = NumericProfile | CategoricalProfile


# -- building profiles ----------------------------------------------------------------------


def reference_edges(values: np.ndarray, bins: int = DEFAULT_BINS) -> tuple[float, ...]:
    """Bin edges for a numerical column from its reference values: the distinct values of
    ``bins - 1`` evenly spaced quantiles (``numpy.quantile``, linear) of the finite values,
    so each inner bin holds about ``1/bins`` of the reference; a column of few distinct
    values gets them all as edges (one bin per value). Empty tuple without finite values."""
    return _edges(_sorted_finite(np.asarray(values, dtype="float64")), bins)


def _sorted_finite(x: np.ndarray) -> np.ndarray:
    """The finite values of float array ``x``, sorted (a new array)."""
    finite = x[np.isfinite(x)]
    finite.sort()  # numpy's vectorised sort: far cheaper than a binary search per value
    return finite


def _edges(finite: np.ndarray, bins: int) -> tuple[float, ...]:
    """:func:`reference_edges` of already sorted finite values."""
    if not finite.size:
        return ()
    distinct = finite[np.concatenate([[True], finite[1:] != finite[:-1]])]
    if distinct.size <= bins:
        return tuple(distinct.tolist())
    # numpy.quantile's "linear" rule on the sorted values, for every level at once
    position = np.linspace(0, 1, bins + 1) * (finite.size - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, finite.size - 1)
    qs = finite[below] + (position - below) * (finite[above] - finite[below])
    return tuple(np.unique(qs).tolist())


def _median(finite: np.ndarray) -> float:
    """``numpy.median`` of already sorted values (0.0 when there are none)."""
    n = finite.size
    if not n:
        return 0.0
    if n % 2:
        return float(finite[n // 2])
    return float((finite[n // 2 - 1] + finite[n // 2]) / 2)


def profile_numbers(
    values: np.ndarray | pd.Series | Sequence[Any],
    edges: Sequence[float],
    center: float = 0.0,
) -> NumericProfile:
    """The :class:`NumericProfile` of float ``values`` on ``edges`` (NaN = missing)."""
    x = np.asarray(values, dtype="float64")
    missing = int(np.isnan(x).sum())
    return _profile_sorted(_sorted_finite(x), x.size, missing, edges, center)


def _profile_sorted(
    finite: np.ndarray, count: int, missing: int, edges: Sequence[float], center: float
) -> NumericProfile:
    """The profile of a column of ``count`` rows, ``missing`` of them NaN, whose finite
    values are ``finite`` (sorted): bin counts are differences of the edges' positions in
    the sorted values (``x < e`` for a value in a bin below edge ``e``)."""
    e = np.asarray(edges, dtype="float64")
    # bin i holds the values in [e(i-1), e(i)): those below e(i) minus those below e(i-1);
    # the same counts as numpy.bincount(numpy.searchsorted(e, finite, side="right"))
    positions = np.searchsorted(finite, e, side="left")
    counts = np.diff(positions, prepend=0, append=finite.size)
    d = finite - center
    distinct: tuple[tuple[float, int], ...] | None = None
    changes = finite[1:] != finite[:-1]
    if not finite.size:
        distinct = ()
    elif np.count_nonzero(changes) < MAX_DISTINCT:
        starts = np.flatnonzero(np.concatenate([[True], changes]))
        freq = np.diff(starts, append=finite.size)
        distinct = tuple(zip(finite[starts].tolist(), freq.tolist(), strict=True))
    return NumericProfile(
        count=int(count),
        missing=missing,
        infinite=int(count) - missing - int(finite.size),
        min=float(finite[0]) if finite.size else None,
        max=float(finite[-1]) if finite.size else None,
        center=float(center),
        sum=float(d.sum()),
        sum_sq=float(np.einsum("i,i->", d, d)),  # not np.dot: BLAS threads spin
        edges=edges if isinstance(edges, tuple) else tuple(e.tolist()),
        counts=tuple(counts.tolist()),
        values=distinct,
    )


def profile_categories(
    values: pd.Series | Sequence[Any] | pa.Array | pa.ChunkedArray,
) -> CategoricalProfile:
    """The exact :class:`CategoricalProfile` of ``values`` (as text; null = missing).

    An Arrow array is counted by Arrow (``pyarrow.compute.value_counts``) and only its
    distinct values are turned into text, so a column of few categories costs one pass."""
    from driftline.data.values import as_text

    if isinstance(values, pa.Array | pa.ChunkedArray):
        counted = pc.value_counts(values)
        keys = as_text(counted.field("values").to_pandas())
        freq = pd.Series(counted.field("counts").to_numpy(), index=keys.index)
        total, missing = len(values), int(freq[keys.isna()].sum())
        counts = freq[keys.notna()].groupby(keys[keys.notna()].to_numpy(), sort=False).sum()
    else:
        text = as_text(pd.Series(values) if not isinstance(values, pd.Series) else values)
        total, missing = len(text), int(text.isna().sum())
        counts = text.value_counts(dropna=True)
    return CategoricalProfile(
        count=total,
        missing=missing,
        categories=tuple(sorted((str(k), int(v)) for k, v in counts.items())),
    )


def column_numbers(frame: pd.DataFrame | pa.Table, name: str) -> np.ndarray:
    """Column ``name`` of ``frame`` as float64 (NaN = missing); text is read with
    :func:`driftline.data.values.as_numbers`. Raises DataError for non-numeric text."""
    from driftline.data.values import as_numbers

    if isinstance(frame, pa.Table):
        column = frame.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            return pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        raw = column.to_pandas()
    else:
        raw = frame[name]
    if pd.api.types.is_float_dtype(raw.dtype) or pd.api.types.is_integer_dtype(raw.dtype):
        return raw.to_numpy(dtype="float64", na_value=np.nan)
    numbers, unparsed = as_numbers(raw)
    if unparsed.any():
        raise DataError(
            f"column {name!r} is numerical but has {int(unparsed.sum())} non-numeric values"
        )
    return numbers.to_numpy(dtype="float64", na_value=np.nan)


def profile_frame(
    frame: pd.DataFrame | pa.Table,
    columns: Mapping[str, str],
    reference: Mapping[str, ColumnProfile] | None = None,
    *,
    bins: int = DEFAULT_BINS,
) -> dict[str, ColumnProfile]:
    """Profiles of ``columns`` (name -> "numerical" | "categorical") of ``frame`` (a pandas
    frame or an Arrow table).

    With ``reference`` (the reference's profiles) numerical columns are binned on its
    edges and about its center; without, ``frame`` *is* the reference: edges are
    :func:`reference_edges` of its values (``bins`` of them) and the center its median.
    Numerical columns are read with :func:`driftline.data.values.as_numbers`. Raises
    DataError for a missing column or non-numeric text in a numerical column.
    """
    names = frame.column_names if isinstance(frame, pa.Table) else frame.columns
    out: dict[str, ColumnProfile] = {}
    for name, kind in columns.items():
        if name not in names:
            raise DataError(f"cannot profile column {name!r}: the data has no such column")
        if kind == "categorical":
            data = frame.column(name) if isinstance(frame, pa.Table) else frame[name]
            out[name] = profile_categories(data)
            continue
        x = column_numbers(frame, name)
        ref = reference.get(name) if reference is not None else None
        if reference is not None:
            if not isinstance(ref, NumericProfile):
                raise DataError(f"the reference profile has no numerical column {name!r}")
            out[name] = profile_numbers(x, ref.edges, ref.center)
        else:  # one sort gives the edges, the center (median) and the counts
            finite = _sorted_finite(x)
            missing = int(np.isnan(x).sum())
            out[name] = _profile_sorted(
                finite, x.size, missing, _edges(finite, bins), _median(finite)
            )
    return out


def profile_batches(
    frames: Iterable[pd.DataFrame],
    columns: Mapping[str, str],
    reference: Mapping[str, ColumnProfile],
    *,
    gather: int = 0,
) -> dict[str, ColumnProfile]:
    """Profiles of ``columns`` of the rows of ``frames`` (batches of one sample: chunks of
    a window, row groups, a partition's Arrow batches), each profiled on ``reference``'s
    edges (:func:`profile_frame`) and merged as it comes, so memory holds one batch and
    one profile; without any frame, the profile of no rows. Frames of fewer than
    ``gather`` rows are first concatenated to at least that many (a frame's profile has a
    cost of its own beside its rows', about 10 ms for 22 columns: Spark's Arrow batches
    hold 10,000 rows). Errors as :func:`profile_frame`."""
    total: dict[str, ColumnProfile] | None = None
    for frame in _gathered(frames, gather):
        part = profile_frame(frame, columns, reference)
        total = part if total is None else {k: merge(total[k], part[k]) for k in total}
    if total is None:
        empty = {c: pd.Series([], dtype="float64" if kind == "numerical" else object)
                 for c, kind in columns.items()}  # fmt: skip
        total = profile_frame(pd.DataFrame(empty), columns, reference)
    return total


def _gathered(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        pending.append(frame)
        held += len(frame)
        if held >= rows:
            yield pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)
            pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else pd.concat(pending, ignore_index=True)


# -- merging --------------------------------------------------------------------------------


def merge(a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
    """Two profiles of the same column (same kind; numerical: same edges and center) as
    one: exact for every count, associative and commutative. ValueError otherwise."""
    if isinstance(a, NumericProfile) and isinstance(b, NumericProfile):
        if a.edges != b.edges or a.center != b.center:
            raise ValueError("numerical profiles merge only on the same edges and center")
        values = None
        if a.values is not None and b.values is not None:
            both: dict[float, int] = dict(a.values)
            for v, c in b.values:
                both[v] = both.get(v, 0) + c
            if len(both) <= MAX_DISTINCT:
                values = tuple(sorted(both.items()))
        return NumericProfile(
            count=a.count + b.count,
            missing=a.missing + b.missing,
            infinite=a.infinite + b.infinite,
            min=_pick(min, a.min, b.min),
            max=_pick(max, a.max, b.max),
            center=a.center,
            sum=a.sum + b.sum,
            sum_sq=a.sum_sq + b.sum_sq,
            edges=a.edges,
            counts=tuple(map(operator.add, a.counts, b.counts)),
            values=values,
        )
    if isinstance(a, CategoricalProfile) and isinstance(b, CategoricalProfile):
        cats = dict(a.categories)
        for k, c in b.categories:
            cats[k] = cats.get(k, 0) + c
        return CategoricalProfile(
            count=a.count + b.count,
            missing=a.missing + b.missing,
            categories=tuple(sorted(cats.items())),
            other=a.other + b.other,
        )
    raise ValueError("cannot merge a numerical profile with a categorical one")


def merge_all(profiles: Iterable[Mapping[str, ColumnProfile]]) -> dict[str, ColumnProfile]:
    """Column-wise :func:`merge` of many profile maps (chunks, partitions); ValueError when
    they do not hold the same columns or none is given."""
    out: dict[str, ColumnProfile] | None = None
    for part in profiles:
        if out is None:
            out = dict(part)
            continue
        if set(part) != set(out):
            raise ValueError("profiles to merge must hold the same columns")
        out = {k: merge(out[k], part[k]) for k in out}
    if out is None:
        raise ValueError("no profiles to merge")
    return out


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


def bounded(profile: CategoricalProfile, limit: int = MAX_CATEGORIES) -> CategoricalProfile:
    """``profile`` with at most ``limit`` categories: the rarest (ties: by name) fold into
    ``other``. For storage only; tests on a bounded profile see "other" as one category."""
    if len(profile.categories) <= limit:
        return profile
    ranked = sorted(profile.categories, key=lambda kv: (-kv[1], kv[0]))
    kept, rest = ranked[:limit], ranked[limit:]
    return replace(
        profile,
        categories=tuple(sorted(kept)),
        other=profile.other + sum(c for _, c in rest),
    )


# -- JSON -----------------------------------------------------------------------------------


def to_json(profiles: Mapping[str, ColumnProfile], about: Mapping[str, Any] | None = None) -> str:
    """A JSON document of a column -> profile map (read back with :func:`from_json`), with
    ``about``: what the profile is of (:func:`read_json` returns it; see
    :class:`ProfileDocument`). Keys with a None value are left out."""
    doc: dict[str, Any] = {"format": FORMAT, "columns": {}}
    described = {k: v for k, v in (about or {}).items() if v is not None}
    if described:
        doc["about"] = described
    for name, p in profiles.items():
        if isinstance(p, NumericProfile):
            doc["columns"][name] = {
                "kind": "numerical",
                "count": p.count,
                "missing": p.missing,
                "infinite": p.infinite,
                "min": p.min,
                "max": p.max,
                "center": p.center,
                "sum": p.sum,
                "sum_sq": p.sum_sq,
                "edges": list(p.edges),
                "counts": list(p.counts),
                "values": None if p.values is None else [list(v) for v in p.values],
            }
        else:
            doc["columns"][name] = {
                "kind": "categorical",
                "count": p.count,
                "missing": p.missing,
                "categories": [list(c) for c in p.categories],
                "other": p.other,
            }
    return json.dumps(doc, allow_nan=False)


@dataclass(frozen=True)
class ProfileDocument:
    """A profile document read back: the column profiles and ``about``, what they are of
    (every key optional; absent from documents written without it): ``model`` (the model
    name), ``version`` (the model version whose reference profile the bins come from),
    ``role`` ("reference" or "window"), ``window`` ([start, end) as two ISO 8601 UTC
    times) and ``source`` (where the rows were read: a file, the store, a Spark source)."""

    columns: dict[str, ColumnProfile]
    about: dict[str, Any]


def from_json(text: str) -> dict[str, ColumnProfile]:
    """The profiles of a :func:`to_json` document; DataError when it is not one."""
    return read_json(text).columns


def read_json(text: str) -> ProfileDocument:
    """The profiles and ``about`` of a :func:`to_json` document; DataError when it is not
    one (not JSON, an unknown format, a column without its counts)."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("the document is not a JSON object")
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown profile format {doc.get('format')!r}")
        about = doc.get("about") or {}
        if not isinstance(about, dict):
            raise ValueError("'about' is not an object")
        out: dict[str, ColumnProfile] = {}
        for name, c in doc["columns"].items():
            try:
                out[name] = _column_from_json(c)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
                raise ValueError(f"column {name!r}: {what}") from None
        return ProfileDocument(out, dict(about))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise DataError(f"not a driftline profile document: {what}") from exc


def _column_from_json(c: dict[str, Any]) -> ColumnProfile:
    """One column of a profile document, checked for consistency (the bins and category
    counts add up to the rows that are neither missing nor infinite)."""
    profile: ColumnProfile
    if c["kind"] == "numerical":
        profile = NumericProfile(
            count=int(c["count"]),
            missing=int(c["missing"]),
            infinite=int(c["infinite"]),
            min=None if c["min"] is None else float(c["min"]),
            max=None if c["max"] is None else float(c["max"]),
            center=float(c["center"]),
            sum=float(c["sum"]),
            sum_sq=float(c["sum_sq"]),
            edges=tuple(float(v) for v in c["edges"]),
            counts=tuple(int(v) for v in c["counts"]),
            values=None
            if c["values"] is None
            else tuple((float(v), int(n)) for v, n in c["values"]),
        )
        if len(profile.counts) != len(profile.edges) + 1:
            raise ValueError(
                f"{len(profile.counts)} bin counts for {len(profile.edges)} edges "
                "(there must be one more count than edges)"
            )
        if any(b <= a for a, b in zip(profile.edges, profile.edges[1:], strict=False)):
            raise ValueError("the bin edges are not sorted and distinct")
        present = sum(profile.counts)
    elif c["kind"] == "categorical":
        profile = CategoricalProfile(
            count=int(c["count"]),
            missing=int(c["missing"]),
            categories=tuple((str(k), int(v)) for k, v in c["categories"]),
            other=int(c.get("other", 0)),
        )
        present = sum(n for _, n in profile.categories) + profile.other
    else:
        raise ValueError(f"unknown column kind {c['kind']!r}")
    counts = [profile.count, profile.missing, present]
    counts += list(profile.counts) if isinstance(profile, NumericProfile) else []
    absent = profile.missing + (profile.infinite if isinstance(profile, NumericProfile) else 0)
    if min(counts) < 0 or present != profile.count - absent:
        raise ValueError(
            f"its counts do not add up ({profile.count} rows, {absent} missing or infinite, "
            f"{present} counted in bins or categories)"
        )
    return profile
