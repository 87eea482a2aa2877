"""A monitor run fed a window profile in place of the window's rows.

A window too large for one worker is profiled where it lives (inside PostgreSQL, on
Spark: :mod:`driftline.monitoring.profilers`) on the bin edges of the champion's reference
profile; the profile file then stands in for the window's rows in a monitor run
(:func:`driftline.monitoring.monitor.run_monitor` with ``profile=``). The drift verdicts
come from :func:`driftline.monitoring.profilecheck.compare_profiles` (the native engine's
methods on profiles), the decision from the same policy as any run; realized performance
still comes from the labelled rows in the store.

What a profile cannot give is left out and said in the run's reasons: which model version
made each row (every row counts as the champion's, the score included), segment and
multivariate drift, estimated performance (CBPE, DLE: they read predictions row by row),
a calendar event's last occurrence as the reference, the exact recomputation of a score
whose error band straddles its threshold (reported borderline with both bounds), and
Evidently's report and snapshot (Evidently draws rows).

A profile that does not fit is a :class:`~driftline.config.errors.ProfileError` raised
before anything is recorded: another model's, another window's, columns missing or of
another kind, or bins other than the champion's reference profile's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from driftline.config.errors import DataError, ProfileError, SpecError
from driftline.config.times import utc_datetime
from driftline.monitoring.check import (
    _baseline_ranges,
    _check_baseline,
    realized_performance,
    split_labelled,
)
from driftline.monitoring.plan import DriftPlan
from driftline.monitoring.profilecheck import compare_profiles
from driftline.monitoring.profiles import ColumnProfile, NumericProfile, read_json
from driftline.monitoring.results import DriftResult
from driftline.tasks import TASKS

if TYPE_CHECKING:
    import pandas as pd

    from driftline.lifecycle.baseline import Baseline
    from driftline.specs import CalendarEvent, ModelSpec

#: How a command names the reference profile every window profile of a model is made on.
EXPORT_HINT = "driftline profile reference -m {model} -o ref.json"


@dataclass(frozen=True)
class WindowProfile:
    """The column profiles of one window (column -> profile, on the reference's bins),
    read from ``source``, with what the document says it is of: ``model``, ``version``
    (whose reference profile gave the bins) and ``window`` ([start, end), UTC); each None
    when the document does not say."""

    columns: dict[str, ColumnProfile]
    source: str
    model: str | None = None
    version: str | None = None
    window: tuple[datetime, datetime] | None = None

    @property
    def rows(self) -> int:
        """Rows the window held (the profiles' row count; 0 for no columns)."""
        return max((p.count for p in self.columns.values()), default=0)


def read_window_profile(source: str | Path) -> WindowProfile:
    """The window profile at ``source``: a local path, or a URL fsspec opens (``file://``,
    ``https://``, ``s3://`` with s3fs installed, ``gs://`` with gcsfs, ...). Written by
    ``driftline profile window`` or ``driftline profile spark`` (or
    :func:`driftline.monitoring.profiles.to_json`). Raises DataError, naming ``source``,
    when it cannot be read, is not a profile document (see
    :func:`~driftline.monitoring.profiles.read_json`), is a reference profile, or says
    an unreadable window."""
    where = str(source)
    text = _read_text(where)
    try:
        doc = read_json(text)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    about = doc.about
    if about.get("role") == "reference":
        raise DataError(
            f"{where} is a reference profile (`driftline profile reference`), not a window's: "
            "profile the window on it (`driftline profile window` or `driftline profile spark`) "
            "and pass that file"
        )
    if not doc.columns:
        raise DataError(f"{where}: the profile has no columns")
    return WindowProfile(
        columns=doc.columns,
        source=where,
        model=_text(about.get("model")),
        version=_text(about.get("version")),
        window=_window(about.get("window"), where),
    )


def _read_text(source: str) -> str:
    if "://" not in source:
        try:
            return Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DataError(f"{source}: cannot read the window profile ({why})") from None
    import fsspec

    try:
        with fsspec.open(source, "rt", encoding="utf-8") as handle:
            return str(handle.read())
    except Exception as exc:  # an unknown scheme, a missing filesystem package, HTTP 404
        raise DataError(
            f"{source}: cannot read the window profile ({type(exc).__name__}: {exc})"
        ) from None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _window(value: Any, source: str) -> tuple[datetime, datetime] | None:
    if value is None:
        return None
    try:
        start, end = value
        return utc_datetime(datetime.fromisoformat(start)), utc_datetime(
            datetime.fromisoformat(end)
        )
    except (TypeError, ValueError):
        raise DataError(
            f"{source}: 'about.window' is not two ISO 8601 times ([start, end)): {value!r}"
        ) from None


def run_window_end(profile: WindowProfile, window_end: datetime | str | None) -> datetime | str:
    """The end of the window a run fed ``profile`` checks: ``window_end`` when given, else
    the end the profile records. ProfileError when neither says."""
    if window_end is not None:
        return window_end
    if profile.window is None:
        raise ProfileError(
            f"{profile.source} does not say which window it holds (`driftline profile spark` "
            "records none): pass the window's end (--window-end, or window_end=); nothing was "
            "recorded"
        )
    return profile.window[1]


def require_window(profile: WindowProfile, start: datetime, end: datetime) -> None:
    """ProfileError when ``profile`` records a window other than [start, end)."""
    if profile.window is None or profile.window == (utc_datetime(start), utc_datetime(end)):
        return
    have = f"{profile.window[0]:%Y-%m-%d %H:%M} to {profile.window[1]:%Y-%m-%d %H:%M}"
    raise ProfileError(
        f"{profile.source} holds the window {have} UTC, not {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M}: leave --window-end out to check the profile's own window, "
        "or profile the window you mean; nothing was recorded"
    )


def fits(profile: WindowProfile, spec: ModelSpec) -> DriftPlan:
    """Check, before anything is read or recorded, that ``profile`` can stand in for the
    rows of a window of ``spec``'s model: the same model (when the document says), every
    column the spec tests (features, and the score when prediction drift is on) of the
    spec's kind, and methods the native engine computes from profiles. Returns the plan
    the run checks. Raises ProfileError naming what does not fit and what to do."""
    src = profile.source
    if profile.model is not None and profile.model != spec.name:
        raise ProfileError(
            f"{src} is a profile of model {profile.model!r}, not {spec.name!r}: profile "
            f"{spec.name}'s window on its reference ({EXPORT_HINT.format(model=spec.name)}); "
            "nothing was recorded"
        )
    plan = DriftPlan.from_spec(spec)
    wanted = {**plan.columns, **plan.tested_predictions}
    missing = [c for c in wanted if c not in profile.columns]
    if missing:
        raise ProfileError(
            f"{src} has no profile of columns {missing}, which {spec.name}'s spec tests; "
            f"profile every column of the reference profile "
            f"({EXPORT_HINT.format(model=spec.name)}); nothing was recorded"
        )
    clash = [
        f"{c} ({profile.columns[c].kind} in the profile, {kind} in the spec)"
        for c, kind in wanted.items()
        if profile.columns[c].kind != kind
    ]
    if clash:
        raise ProfileError(
            f"{src}: columns of another kind than the spec's: {', '.join(clash)}; profile the "
            f"window on the model's reference profile ({EXPORT_HINT.format(model=spec.name)}); "
            "nothing was recorded"
        )
    try:
        return plan.with_engine("native")
    except SpecError as exc:
        raise ProfileError(
            f"{exc}. A window profile is tested by the native engine: choose methods it "
            "implements for these columns, or monitor the window's rows (no profile); "
            "nothing was recorded"
        ) from None


def require_edges(profile: WindowProfile, baseline: Baseline, plan: DriftPlan) -> None:
    """ProfileError unless every numerical column ``plan`` tests is binned on the edges and
    about the center of ``baseline``'s reference profile (what the champion's window
    profiles must be made on), naming the columns that are not and what to do."""
    from driftline.lifecycle.baseline import reference_profile

    wanted = {**plan.columns, **plan.tested_predictions}
    reference = reference_profile(baseline, wanted)
    other = []
    for column, kind in wanted.items():
        ref, cur = reference.get(column), profile.columns[column]
        if kind != "numerical" or not isinstance(ref, NumericProfile):
            continue
        if not isinstance(cur, NumericProfile) or (cur.edges, cur.center) != (
            ref.edges,
            ref.center,
        ):
            other.append(column)
    if not other:
        return
    whose = ""
    if profile.version is not None and profile.version != baseline.version:
        whose = f" (it was binned on version {profile.version}'s reference profile)"
    raise ProfileError(
        f"{profile.source}: columns {other} are binned on other edges than the reference "
        f"profile of {baseline.model}'s champion, version {baseline.version}{whose}. Export "
        f"the champion's reference profile again ({EXPORT_HINT.format(model=baseline.model)}) "
        "and profile the window on it; nothing was recorded"
    )


def check_profile(
    profile: WindowProfile,
    baseline: Baseline,
    spec: ModelSpec,
    *,
    labelled: pd.DataFrame | None = None,
    cohort: str | None = None,
    baselines: Mapping[str, Baseline] | None = None,
    events: Sequence[CalendarEvent] = (),
) -> DriftResult:
    """The drift check of a window given as ``profile`` against the champion's
    ``baseline``: the counterpart of :func:`driftline.monitoring.check.check_drift` for a
    window whose rows stay where they are.

    Verdicts and data-quality findings come from
    :func:`~driftline.monitoring.profilecheck.compare_profiles` on the baseline's reference
    profile and the window's (no values to recompute a straddling score: borderline; out
    of range is counted on the outer bins against the baseline's rounded range, see
    :func:`~driftline.monitoring.profilecheck.outside_range`; unseen categories are counted,
    not named). ``labelled`` (store rows, each attributed to the version that made it) gives
    the realized performance of the champion's predictions and, apart, of other versions'
    (``baselines``: their validation metrics), for the prediction ``cohort`` when named.
    ``events``: the calendar events active in the window. The result's ``notes`` say what a
    profile cannot give (module docstring). Raises ProfileError when the profile does not
    fit the spec or the baseline's bins, BaselineError when the baseline does not fit the
    spec, DataError when every checked column of the window is empty.
    """
    plan = fits(profile, spec)
    _check_baseline(baseline, spec, plan)
    require_edges(profile, baseline, plan)
    from driftline.lifecycle.baseline import reference_profile

    champion = baseline.version
    judged, others, note = split_labelled(labelled, spec, plan, champion, dict(baselines or {}))
    notes = [note] if note else []
    performance = None
    if judged is not None and plan.score and plan.target and plan.task:
        task = TASKS.get(plan.task).configure(plan.task_options)
        performance = realized_performance(judged, plan, task, baseline.metrics, version=champion)[
            0
        ]
    checked = compare_profiles(
        reference_profile(baseline, {**plan.columns, **plan.tested_predictions}),
        profile.columns,
        plan,
        ranges=_baseline_ranges(baseline),
        name_unseen=False,
        names=(f"baseline {baseline.model} v{champion}", f"window profile {profile.source}"),
    )
    if cohort is not None:
        performance = replace(performance, cohort=cohort) if performance else None
        others = [replace(o, cohort=cohort) for o in others]
    result = checked.result
    return replace(
        result,
        performance=performance,
        other_performance=tuple(others),
        prediction_version=champion if result.prediction is not None else None,
        notes=(*_cannot_see(profile, baseline, spec, events), *result.notes, *notes),
    )


def _cannot_see(
    profile: WindowProfile, baseline: Baseline, spec: ModelSpec, events: Sequence[CalendarEvent]
) -> list[str]:
    """The notes of what the spec asks for and a profile cannot give."""
    mon = spec.monitoring
    notes = [
        f"checked from the window profile {profile.source} ({profile.rows:,} rows) by the "
        "native engine: a profile does not say which model version made each row, so every "
        f"row, the score included, counts as champion v{baseline.version}'s"
    ]
    if mon.drift.engine not in ("native", "auto"):
        notes.append(
            f"the spec's drift engine {mon.drift.engine!r} reads rows: this window's profile "
            "was tested by the native engine (Evidently's methods and thresholds)"
        )
    if mon.segments.enabled:
        notes.append("segment drift not checked: it needs the window's rows by segment")
    if mon.multivariate.enabled:
        notes.append("multivariate drift not checked: the domain classifier needs the rows")
    estimator = baseline.estimator or {}
    if mon.performance.estimated.enabled and estimator.get("method") is not None:
        notes.append(
            f"no estimated performance ({estimator['method']}): it reads the window's "
            "predictions row by row"
        )
    for event in events:
        if event.reference == "last_occurrence":
            notes.append(
                f"calendar event {event.name}: compared with the baseline, not its last "
                "occurrence (the profile is binned on the champion's reference profile)"
            )
    notes.append(
        "no Evidently report or snapshot for this window: Evidently draws rows; the "
        "verdicts are stored with the run"
    )
    return notes
