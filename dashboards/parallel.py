"""Parallel coordinates of one optimizer's configurations: a record, then its drawing.

Each line is one configuration: its hyperparameters (log axes as log10, labelled in grid
values), the share of its seeds that diverged, and its seed mean, coloured by that mean on the
heatmaps' scale. Brushing an axis narrows the trial table to the configurations the brush keeps
(`kept_configs`, which the app calls with the ranges plotly reports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboards.heatmap import heatmap_range
from dashboards.plotting import empty_figure, figure, log_axis, metric_title, trace
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.units import is_percent

DIVERGED_AXIS = "diverged seeds (%)"


@dataclass(frozen=True)
class Axis:
    """One axis: its label, the column of the trial table it stands for (None: a property of
    the configuration), whether it is drawn as log10, and the values, one per configuration."""

    label: str
    column: str | None
    log: bool
    values: tuple[float, ...]


@dataclass(frozen=True)
class ParallelRecord:
    """What the figure draws: one optimizer's configurations and their axes."""

    optimizer: str
    configs: tuple[str, ...]
    axes: tuple[Axis, ...]
    color: tuple[float, ...]  # the seed mean, in display units
    color_range: tuple[float | None, float | None]


def parallel_record(analysis: StudyAnalysis, optimizer: str) -> ParallelRecord | None:
    """The record of `optimizer`'s configurations, or None when it has none."""
    configs = analysis.configs
    mine = configs[configs["optimizer"] == optimizer] if not configs.empty else configs
    if mine.empty:
        return None
    settings = analysis.settings
    scale = 100.0 if is_percent(settings) else 1.0
    axes = []
    for h in analysis.hyperparameters.get(optimizer, []):
        if h not in mine:
            continue
        log = log_axis(analysis, h)
        raw = mine[h].astype(float).to_numpy()
        values = np.log10(raw) if log else raw
        axes.append(Axis(h, h, log, tuple(float(v) for v in values)))
    share = mine["n_diverged"].astype(float) / mine["n_seeds"].astype(float).clip(lower=1)
    axes.append(Axis(DIVERGED_AXIS, None, False, tuple(float(v) * 100 for v in share)))
    mean = tuple(float(v) * scale for v in mine["mean"].astype(float))
    axes.append(Axis(metric_title(settings.metric, settings), None, False, mean))
    low, high = heatmap_range(analysis)
    return ParallelRecord(
        optimizer=optimizer,
        configs=tuple(str(c) for c in mine["config"]),
        axes=tuple(axes),
        color=mean,
        color_range=(
            None if low is None else low * scale,
            None if high is None else high * scale,
        ),
    )


def parallel_figure(record: ParallelRecord | None, title: str = "") -> go.Figure:
    """The record drawn as plotly parallel coordinates (brush an axis to narrow the table)."""
    if record is None:
        return empty_figure(title or "Configurations", "No configurations to draw.")
    title = title or f"{record.optimizer}: every configuration"
    dimensions = []
    for axis in record.axes:
        finite = [v for v in axis.values if math.isfinite(v)]
        dim: dict[str, object] = {"label": axis.label, "values": list(axis.values)}
        if axis.log and finite:
            decades = range(math.floor(min(finite)), math.ceil(max(finite)) + 1)
            dim["tickvals"] = list(decades)
            dim["ticktext"] = [format_value(10.0**d) for d in decades]
        dimensions.append(dim)
    low, high = record.color_range
    lines = trace(
        "parcoords",
        dimensions=dimensions,
        line={
            "color": list(record.color),
            "colorscale": "Viridis",
            "cmin": low,
            "cmax": high,
            "showscale": True,
            "colorbar": {"title": {"text": record.axes[-1].label}},
        },
        labelangle=0,
    )
    return figure(
        [lines],
        title,
        "one line per configuration, coloured by its seed mean; drag along an axis to keep a "
        "range (the trial table follows), click the axis outside the range to clear it",
        height=420,
        layout={"margin": {"l": 60, "r": 40, "t": 110, "b": 40}},
    )


def kept_configs(record: ParallelRecord, ranges: dict[int, list[list[float]]]) -> list[str]:
    """The configurations inside every brushed range (`ranges`: axis index -> [[lo, hi], ...],
    in the axis's drawn units, as plotly reports `constraintrange`)."""
    keep = np.ones(len(record.configs), dtype=bool)
    for index, spans in ranges.items():
        if not spans or not 0 <= index < len(record.axes):
            continue
        values = np.asarray(record.axes[index].values, dtype=float)
        inside = np.zeros_like(keep)
        for lo, hi in spans:
            inside |= (values >= lo) & (values <= hi)
        keep &= inside
    return [c for c, k in zip(record.configs, keep, strict=True) if k]


def constraint_ranges(change: dict[str, object]) -> dict[int, list[list[float]] | None]:
    """The axis ranges in one plotly restyle event (`dimensions[2].constraintrange`: one
    [lo, hi], a list of them, or None when the brush was cleared)."""
    out: dict[int, list[list[float]] | None] = {}
    for key, value in change.items():
        if not (key.startswith("dimensions[") and key.endswith("].constraintrange")):
            continue
        try:
            index = int(key[len("dimensions[") : key.index("]")])
        except ValueError:
            continue
        spans = value[0] if isinstance(value, list) and len(value) == 1 else value
        if spans is None or (isinstance(spans, list) and not spans):
            out[index] = None
        elif isinstance(spans, list) and spans and not isinstance(spans[0], list):
            out[index] = [[float(spans[0]), float(spans[1])]]  # type: ignore[arg-type]
        elif isinstance(spans, list):
            out[index] = [[float(a), float(b)] for a, b in spans]
    return out


def parallel_optimizers(analysis: StudyAnalysis) -> list[str]:
    """The optimizers that get a figure: those searching two or more hyperparameters (one
    searched hyperparameter is the sensitivity curve already)."""
    return [o for o, hps in analysis.hyperparameters.items() if len(hps) >= 2]
