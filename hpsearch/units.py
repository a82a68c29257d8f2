"""Display units, one place for every reader: accuracy in %, differences in points.

The analysis keeps metric values in the study's own units (an accuracy as a 0-1 fraction) and
says in `AnalysisSettings.points` how many metric units one point is (0.01 for such an accuracy).
The CLI, the dashboard, the report and the CSV files all convert through here, so a number reads
the same wherever it is shown: an accuracy as `63.9 %`, a difference of accuracies as
`11.60 points`, a rate or a share as `13 %` (a 0-1 fraction in CSV files).

A verdict's numbers carry no unit of their own, so `number_kind` reads it from the number's name
(the analysis names widths, rates and shares `W…`, `D…`, `…rate…`; levels `best…`, `E1…`, …).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

from hpsearch.analysis.records import AnalysisSettings, Estimate
from hpsearch.metrics import is_accuracy

NumberKind = Literal["fraction", "level", "points"]
# Significant digits kept in CSV files: enough for any statistic of a few thousand trials, and
# no floating-point residue such as 3.469447e-18 for a regret of zero.
CSV_DECIMALS = 6


def is_percent(settings: AnalysisSettings) -> bool:
    """Accuracies stored as 0-1 fractions are shown as percentages."""
    return math.isclose(settings.points, 0.01)


def is_percent_metric(metric: str, values: Iterable[float]) -> bool:
    """The rule `analyze` decides `AnalysisSettings.points` by: an accuracy whose finite values
    are all at most 1 is a 0-1 fraction (shown in %); readers without an analysis use it too."""
    finite = [float(v) for v in values if math.isfinite(float(v))]
    return is_accuracy(metric) and (not finite or max(finite) <= 1.0)


def number_kind(name: str) -> NumberKind:
    """How a verdict number is shown: a `fraction` (a share or rate), a `level` (a metric
    value) or `points` (a difference of metric values). Unknown names are differences."""
    lowered = name.lower()
    if name.startswith(("W", "D_", "delta_W", "delta_D", "P_", "p_")) or any(
        word in lowered for word in ("divergence", "width", "rate", "fraction", "share", "prob")
    ):
        return "fraction"
    if lowered.startswith(
        ("best", "worst", "e1", "e4", "e16", "cpe", "mean", "profile", "slice", "at_", "score")
    ):
        return "level"
    return "points"


def to_display(value: float, kind: NumberKind, settings: AnalysisSettings) -> float:
    """`value` (metric units) in display units: % for accuracy levels, points for differences,
    fractions unchanged."""
    if kind == "level" and is_percent(settings):
        return value * 100.0
    if kind == "points":
        return value / settings.points
    return value


def csv_number(value: float | None) -> float:
    """A number as a CSV cell: NaN stays NaN, float residue is rounded away."""
    if value is None:
        return math.nan
    if not math.isfinite(value):
        return float(value)
    rounded = round(float(value), CSV_DECIMALS)
    return 0.0 if rounded == 0 else rounded


def format_metric(value: float | None, settings: AnalysisSettings) -> str:
    """A metric value in display units: `93.1 %` for accuracies, `0.412` otherwise."""
    return format_level(value, percent=is_percent(settings))


def format_level(value: float | None, *, percent: bool) -> str:
    """`format_metric` for a reader that has no analysis, only `is_percent_metric`."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if percent:
        return f"{100 * value:.1f} %"
    return f"{value:.4g}"


def format_points(value: float | None, settings: AnalysisSettings) -> str:
    """A metric difference in display units: `1.50 points` for accuracies."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if is_percent(settings):
        return f"{value / settings.points:.2f} points"
    return f"{value:.4g}"


def format_number(name: str, value: float | None, settings: AnalysisSettings) -> str:
    """One verdict number in display units (its kind from `number_kind`)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    kind = number_kind(name)
    if kind == "fraction":
        return f"{100 * value:.1f} %"
    if kind == "level":
        return format_metric(value, settings)
    return format_points(value, settings)


def format_estimate(
    name: str, estimate: Estimate, settings: AnalysisSettings, short: bool = False
) -> str:
    """`value [95 % CI low – high]`, or with `short` `value [low, high]` with the unit once."""
    text = format_number(name, estimate.value, settings)
    if not (math.isfinite(estimate.low) or math.isfinite(estimate.high)):
        return text
    low = format_number(name, estimate.low, settings)
    high = format_number(name, estimate.high, settings)
    if short:
        unit = next((u for u in (" points", " %") if text.endswith(u)), "")
        bare = [t.removesuffix(unit) if t != "n/a" else t for t in (low, high)]
        return f"{text} [{bare[0]}, {bare[1]}]"
    return f"{text} [95 % CI {low} – {high}]"
