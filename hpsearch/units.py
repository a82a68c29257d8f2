"""Display units, one place for every reader: accuracy in %, differences in points.

The analysis keeps metric values in the study's own units (an accuracy as a 0-1 fraction) and
says in `AnalysisSettings.points` how many metric units one point is (0.01 for such an accuracy).
The CLI, the dashboard, the report, the verdict sentences and the CSV files all convert through
here, so a quantity is spelled one way wherever it is shown: an accuracy as `63.9 %`, a
difference of accuracies as `11.60 points`, a rate or a share as `13.3 %` and a difference of two
shares (ΔW, ΔD) as `+52.5 points`. The CSV files hold the same numbers (`to_csv`): an accuracy or
a share in %, a difference in points, an estimate and its bounds rounded to the same decimals.

A verdict's numbers carry no unit of their own, so `number_kind` reads it from the number's name
(the analysis names widths, rates and shares `W…`, `D…`, `…rate…`; levels `best…`, `E1…`, …).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from hpsearch.metrics import is_accuracy

if TYPE_CHECKING:  # at run time only attributes are read: the analysis imports this module
    from hpsearch.analysis.records import AnalysisSettings, Estimate

NumberKind = Literal["fraction", "level", "points", "share_points"]
# Decimals kept in CSV files. A number in % or points keeps 2 (0.01 % of a 10,000-image test set
# is one image; every interval is wider than that by far); a number in a metric's own units (a
# loss) keeps 6. An estimate and its bounds are rounded alike, and no floating-point residue such
# as 3.469447e-18 for a regret of zero is left.
CSV_DECIMALS = 6
CSV_DISPLAY_DECIMALS = 2
# The `unit` a CSV cell is in: % (an accuracy, a rate, a share), points (a difference of them),
# or "" (the metric's own units, as for a loss).
CsvUnit = Literal["%", "points", ""]


def is_percent(settings: AnalysisSettings) -> bool:
    """Accuracies stored as 0-1 fractions are shown as percentages."""
    return math.isclose(settings.points, 0.01)


def is_percent_metric(metric: str, values: Iterable[float]) -> bool:
    """The rule `analyze` decides `AnalysisSettings.points` by: an accuracy whose finite values
    are all at most 1 is a 0-1 fraction (shown in %); readers without an analysis use it too."""
    finite = [float(v) for v in values if math.isfinite(float(v))]
    return is_accuracy(metric) and (not finite or max(finite) <= 1.0)


def number_kind(name: str) -> NumberKind:
    """How a verdict number is shown: a `fraction` (a share or rate), `share_points` (a
    difference of two shares, ΔW), a `level` (a metric value) or `points` (a difference of metric
    values). Unknown names are differences."""
    lowered = name.lower()
    if name.startswith(("delta_W", "delta_D")):
        return "share_points"
    if name.startswith(("W", "D_", "P_", "p_")) or any(
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
    shares and differences of shares unchanged (0-1: `format_display` writes them in % and
    points)."""
    if kind == "level" and is_percent(settings):
        return value * 100.0
    if kind == "points":
        return value / settings.points
    return value


def csv_number(value: float | None, decimals: int = CSV_DECIMALS) -> float:
    """A number as a CSV cell: NaN stays NaN, float residue is rounded away."""
    if value is None:
        return math.nan
    if not math.isfinite(value):
        return float(value)
    rounded = round(float(value), decimals)
    return 0.0 if rounded == 0 else rounded


def csv_unit(kind: NumberKind, settings: AnalysisSettings) -> CsvUnit:
    """The unit a number of `kind` has in the CSV files (and in every other reader)."""
    if kind == "fraction":
        return "%"
    if kind == "share_points":
        return "points"
    if not is_percent(settings):
        return ""
    return "%" if kind == "level" else "points"


def to_csv(value: float | None, kind: NumberKind, settings: AnalysisSettings) -> float:
    """`value` (metric units) as a CSV cell, in the unit `csv_unit` names: what the other
    readers print, without the text. An estimate and its bounds go through here alike, so they
    keep the same decimals (2 in % or points, 6 in a metric's own units)."""
    if value is None:
        return math.nan
    shown = to_display(float(value), kind, settings)
    if kind in ("fraction", "share_points"):
        shown *= 100.0
    unit = csv_unit(kind, settings)
    return csv_number(shown, CSV_DISPLAY_DECIMALS if unit else CSV_DECIMALS)


def from_csv(value: float, kind: NumberKind) -> float:
    """A CSV cell back in display units (`to_display`'s): shares as 0-1 again."""
    return value / 100.0 if kind in ("fraction", "share_points") else value


def format_display(
    shown: float | None, kind: NumberKind, *, percent: bool, signed: bool = False
) -> str:
    """A number already in display units (what `to_display` gives and the CSV files hold) as
    text: the one place each kind is spelled. A `level` is `63.9 %` (an accuracy) or `0.412`, a
    difference is `11.60 points` or `0.0123`, a rate or share (0-1) is `13.3 %`, a difference of
    two shares (0-1) is `52.5 points`; `signed` writes the sign of a difference A − B,
    `+52.5 points`, `-1.20 points`."""
    if shown is None or not math.isfinite(shown):
        return "n/a"
    sign = "+" if signed else ""
    if kind == "share_points":  # a difference of two shares: points, never %
        value = round(100 * shown, 1) + 0.0
        return f"{value:{sign}.1f} points"
    if kind == "fraction":
        value = round(100 * shown, 1) + 0.0  # + 0.0: no "-0.0 %" for a difference of zero
        return f"{value:{sign}.1f} %"
    if not percent:
        return f"{shown:{sign}.4g}"
    if kind == "level":
        return f"{shown:{sign}.1f} %"
    return f"{shown:{sign}.2f} points"


def format_share(value: float | None) -> str:
    """A rate or a share (a 0-1 fraction): `13.3 %`."""
    return format_display(value, "fraction", percent=True)


def format_probability(value: float) -> str:
    """A probability such as α or an error rate, in % as a share is: `1.125 %`, `2.5 %`
    (up to 4 significant digits, no trailing zeros)."""
    return f"{100 * value:.4g} %"


def format_metric(value: float | None, settings: AnalysisSettings) -> str:
    """A metric value in display units: `93.1 %` for accuracies, `0.412` otherwise."""
    return format_level(value, percent=is_percent(settings))


def format_level(value: float | None, *, percent: bool) -> str:
    """`format_metric` for a reader that has no analysis, only `is_percent_metric`."""
    shown = None if value is None else 100 * value if percent else value
    return format_display(shown, "level", percent=percent)


def format_points(value: float | None, settings: AnalysisSettings, *, signed: bool = False) -> str:
    """A metric difference in display units: `1.50 points` for accuracies (`+1.50 points` with
    `signed`, for a difference A − B whose sign matters)."""
    shown = None if value is None else value / settings.points
    return format_display(shown, "points", percent=is_percent(settings), signed=signed)


def is_signed(name: str) -> bool:
    """A verdict number that is a difference A − B (`delta_…`): its sign is the answer, so it is
    always written (`+52.5 points`)."""
    return name.startswith("delta_")


def format_number(name: str, value: float | None, settings: AnalysisSettings) -> str:
    """One verdict number in display units (its kind from `number_kind`)."""
    kind = number_kind(name)
    shown = None if value is None else to_display(value, kind, settings)
    return format_display(shown, kind, percent=is_percent(settings), signed=is_signed(name))


def format_estimate(
    name: str, estimate: Estimate, settings: AnalysisSettings, short: bool = False
) -> str:
    """`value [95 % CI low, high]`, or with `short` `value [low, high]` with the unit once."""
    kind = number_kind(name)
    value, low, high = (
        to_display(x, kind, settings) for x in (estimate.value, estimate.low, estimate.high)
    )
    return format_display_estimate(
        name, value, low, high, percent=is_percent(settings), short=short
    )


def format_display_estimate(
    name: str, value: float, low: float, high: float, *, percent: bool, short: bool = False
) -> str:
    """`format_estimate` of a verdict number already in display units (`to_display`'s; a CSV
    cell goes through `from_csv` first), `percent`: the study's accuracy is shown in %."""
    kind, signed = number_kind(name), is_signed(name)
    text = format_display(value, kind, percent=percent, signed=signed)
    if not (math.isfinite(low) or math.isfinite(high)):
        return text
    low_text, high_text = (
        format_display(x, kind, percent=percent, signed=signed) for x in (low, high)
    )
    if short:
        unit = next((u for u in (" points", " %") if text.endswith(u)), "")
        bare = [t.removesuffix(unit) if t != "n/a" else t for t in (low_text, high_text)]
        return f"{text} [{bare[0]}, {bare[1]}]"
    return f"{text} [95 % CI {low_text}, {high_text}]"
