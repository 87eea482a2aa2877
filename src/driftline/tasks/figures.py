"""Pictures of a champion/challenger benchmark, drawn with matplotlib (Agg backend, no
display) as PNG bytes: the curves, calibration diagrams and scatter plots a task's
:meth:`~driftline.tasks.Task.gate_figures` returns, and the per-segment bars of the
primary metric that every task shares.

Each figure is small (about 6 x 4 inches at 80 dpi, 20-50 KB) so a gate report can show
it inline. Text that comes from data (segment values) is drawn literally: ``$`` is
escaped so matplotlib never reads it as mathtext, and long values are shortened.
matplotlib is imported where a figure is drawn, so importing a task stays cheap.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Figure size in inches and resolution: small enough to inline in a Prefect artifact.
SIZE = (6.0, 4.0)
DPI = 80
#: At most this many points in a scatter plot (a seeded sample of the rows).
MAX_POINTS = 2000
_LABEL_CHARS = 28


@dataclass(frozen=True)
class GateFigure:
    """One picture of a benchmark: ``name`` is its file stem (lowercase, dashes; the
    artifact is ``figures/<name>.png``), ``title`` what it shows, ``png`` the image."""

    name: str
    title: str
    png: bytes


def literal(text: object, limit: int = _LABEL_CHARS) -> str:
    """``text`` as a matplotlib label shown as is: ``$`` escaped (no mathtext), line breaks
    removed, cut to ``limit`` characters with an ellipsis."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("$", r"\$")


def new_figure() -> tuple[Figure, Any]:
    """A figure and its one axes, drawn by the Agg canvas (no display, thread-safe use of
    the object API rather than pyplot's global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def to_png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def curves(
    name: str,
    title: str,
    series: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
    step: bool = False,
) -> GateFigure:
    """One line per model (``series``: legend -> (x, y)), axes [0, 1]; ``diagonal`` draws
    the chance line y = x, ``step`` draws step-wise (a precision-recall curve)."""
    figure, ax = new_figure()
    for label, (x, y) in series.items():
        if step:
            ax.step(x, y, where="post", label=literal(label, 60))
        else:
            ax.plot(x, y, label=literal(label, 60))
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return GateFigure(name, title, to_png(figure))


def calibration(
    name: str,
    title: str,
    series: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str,
    unit_square: bool,
) -> GateFigure:
    """A calibration (reliability) diagram: per model, mean predicted (x) against mean
    actual (y) by group of predictions, with the line of perfect calibration y = x.
    ``unit_square`` fixes both axes to [0, 1] (probabilities)."""
    figure, ax = new_figure()
    lows, highs = [], []
    for label, (predicted, actual) in series.items():
        ax.plot(predicted, actual, marker="o", label=literal(label, 60))
        lows.append(min(np.min(predicted), np.min(actual)))
        highs.append(max(np.max(predicted), np.max(actual)))
    lo, hi = (0.0, 1.0) if unit_square or not lows else (min(lows), max(highs))
    ax.plot([lo, hi], [lo, hi], linestyle=":", color="grey", label="perfectly calibrated")
    if unit_square:
        ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    return GateFigure(name, title, to_png(figure))


def predicted_vs_actual(
    name: str,
    title: str,
    y: np.ndarray,
    series: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
) -> GateFigure:
    """Scatter of predicted (x) against actual (y) per model, on the same seeded sample of
    at most :data:`MAX_POINTS` rows, with the line y = x."""
    y = np.asarray(y, dtype=float)
    rows = np.arange(y.size)
    if y.size > MAX_POINTS:
        rows = np.sort(np.random.default_rng(seed).choice(y.size, MAX_POINTS, replace=False))
    figure, ax = new_figure()
    values = [y[rows]]
    for label, p in series.items():
        p = np.asarray(p, dtype=float)[rows]
        ax.scatter(p, y[rows], s=6, alpha=0.4, label=literal(label, 60))
        values.append(p)
    finite = np.concatenate(values)
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        ax.plot([lo, hi], [lo, hi], linestyle=":", color="grey", label="predicted = actual")
    ax.set(xlabel="predicted", ylabel="actual", title=title)
    ax.legend(loc="best", fontsize="small", markerscale=3)
    ax.grid(alpha=0.3)
    return GateFigure(name, title, to_png(figure))


def segment_bars(
    metric: str,
    segments: Sequence[tuple[str, Mapping[str, float]]],
    *,
    name: str = "segments",
) -> GateFigure:
    """Horizontal bars of ``metric`` per segment (``segments``: label -> {model legend:
    value}), one bar per model, grouped by segment; NaN values are left out."""
    figure, ax = new_figure()
    models = list(dict.fromkeys(m for _, values in segments for m in values))
    height = 0.8 / max(len(models), 1)
    positions = np.arange(len(segments))
    for i, model in enumerate(models):
        values = [float(v.get(model, np.nan)) for _, v in segments]
        ax.barh(positions + i * height, values, height=height, label=literal(model, 60))
    ax.set_yticks(positions + height * (len(models) - 1) / 2)
    ax.set_yticklabels([literal(label) for label, _ in segments], fontsize="small")
    ax.invert_yaxis()
    title = f"{metric} per segment"
    ax.set(xlabel=metric, title=title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(axis="x", alpha=0.3)
    figure.set_figheight(max(SIZE[1], 0.35 * len(segments) * max(len(models), 1) + 1.2))
    return GateFigure(name, title, to_png(figure))


__all__ = [
    "GateFigure",
    "calibration",
    "curves",
    "literal",
    "predicted_vs_actual",
    "segment_bars",
    "to_png",
]
