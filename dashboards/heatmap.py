"""Hyperparameter pairs: one heatmap cell per grid point of (x, y), no interpolation.

`heatmap_record` reads one optimizer's pair from the analysis (a `HeatmapRecord`, no Plotly),
`heatmap_figure` draws it. One reference per cell: the colour, the × count, the hover and the
drill-down all describe the one configuration that is best at this (x, y) over the other
hyperparameters; the share over every configuration of the cell is named as such in the hover.
Every heatmap of a study shares one colour scale (`heatmap_range`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboards.plotting import (
    CLICK_CONFIG,
    CLICK_OPTIMIZER,
    empty_figure,
    figure,
    grid_text,
    hyperparameter_title,
    metric_title,
    trace,
)
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis
from hpsearch.metrics import is_accuracy
from hpsearch.units import format_metric, format_share, is_percent


@dataclass(frozen=True)
class HeatmapCell:
    """One grid point of (x, y) and the configuration best there over the other ones."""

    x: float
    y: float
    value: float  # that configuration's seed mean
    config: str
    n_diverged: int  # its seeds that diverged ...
    n_seeds: int  # ... of its seeds
    divergence_rate: float  # every configuration of the cell
    n_trials: int


@dataclass(frozen=True)
class HeatmapRecord:
    optimizer: str
    x: str
    y: str
    others: tuple[str, ...]  # the hyperparameters the cell is best over
    xs: tuple[float, ...]  # the grid of x, ascending
    ys: tuple[float, ...]
    cells: tuple[HeatmapCell, ...]
    zmin: float | None  # the study's shared colour range
    zmax: float | None


def heatmap_pairs(analysis: StudyAnalysis) -> list[tuple[str, str, str]]:
    """The (optimizer, x, y) pairs the analysis has heatmaps for, in table order."""
    table = analysis.heatmaps
    if table.empty:
        return []
    keys = table[["optimizer", "x", "y"]].drop_duplicates()
    return [(str(o), str(x), str(y)) for o, x, y in keys.itertuples(index=False)]


def heatmap_range(analysis: StudyAnalysis) -> tuple[float | None, float | None]:
    """The colour range shared by all heatmaps of a study: every cell value, every optimizer."""
    values = analysis.heatmaps["profile"].astype(float) if not analysis.heatmaps.empty else None
    if values is None or not np.isfinite(values).any():
        return None, None
    finite = values[np.isfinite(values)]
    return float(finite.min()), float(finite.max())


def heatmap_record(analysis: StudyAnalysis, optimizer: str, x: str, y: str) -> HeatmapRecord | None:
    """The cells of `optimizer`'s (x, y) heatmap; None when the analysis has none."""
    table = analysis.heatmaps
    rows = table[(table["optimizer"] == optimizer) & (table["x"] == x) & (table["y"] == y)]
    if rows.empty:
        return None
    configs = analysis.configs
    counts: dict[str, tuple[int, int]] = {}
    if not configs.empty:
        mine = configs[configs["optimizer"] == optimizer]
        counts = dict(
            zip(
                mine["config"].astype(str),
                zip(mine["n_diverged"].astype(int), mine["n_seeds"].astype(int), strict=True),
                strict=True,
            )
        )
    cells = tuple(
        HeatmapCell(
            x=float(row.x_value),
            y=float(row.y_value),
            value=float(row.profile),
            config=str(row.config),
            n_diverged=counts.get(str(row.config), (0, 0))[0],
            n_seeds=counts.get(str(row.config), (0, 0))[1],
            divergence_rate=float(row.divergence_rate),
            n_trials=int(row.n_trials),
        )
        for row in rows.itertuples(index=False)
    )
    zmin, zmax = heatmap_range(analysis)
    return HeatmapRecord(
        optimizer=optimizer,
        x=x,
        y=y,
        others=tuple(h for h in analysis.hyperparameters.get(optimizer, []) if h not in (x, y)),
        xs=tuple(sorted({c.x for c in cells})),
        ys=tuple(sorted({c.y for c in cells})),
        cells=cells,
        zmin=zmin,
        zmax=zmax,
    )


# A cell's customdata: the click contract's config and optimizer, then what its hover says;
# the hover's words are written once, in the trace's template, not once per cell.
CELL_FIELDS = ("x", "y", "mean", "n_diverged", "n_seeds", "share", "n_trials")


def _field(name: str) -> str:
    return f"%{{customdata[{CLICK_OPTIMIZER + 1 + CELL_FIELDS.index(name)}]}}"


def _hover_template(record: HeatmapRecord, settings: AnalysisSettings) -> str:
    over = f"best over {', '.join(record.others)}" if record.others else "the configuration"
    whole = (
        f"<br>every {', '.join(record.others)} at this cell: {_field('share')} of "
        f"{_field('n_trials')} trials diverged"
        if record.others
        else ""
    )
    return (
        f"{record.x} = {_field('x')}, {record.y} = {_field('y')}<br>"
        f"{over}: %{{customdata[{CLICK_CONFIG}]}}<br>its seed mean {settings.metric}: "
        f"{_field('mean')}<br>its seeds diverged: {_field('n_diverged')} of {_field('n_seeds')}"
        f"{whole}<br><i>click: this configuration's seeds</i><extra></extra>"
    )


def heatmap_figure(
    analysis: StudyAnalysis,
    optimizer: str,
    x: str,
    y: str,
    record: HeatmapRecord | None = None,
) -> go.Figure:
    """One cell per grid point of (x, y): the best seed mean over the other hyperparameters,
    annotated with its value and, where any of its seeds diverged, k/n. No interpolation and
    no "best seed" (Optuna's contour does both)."""
    settings = analysis.settings
    record = record or heatmap_record(analysis, optimizer, x, y)
    title = f"{optimizer}: {x} × {y}"
    if record is None:
        return empty_figure(title, f"No heatmap for {optimizer} over {x} × {y}.")
    xi = {v: i for i, v in enumerate(record.xs)}
    yi = {v: i for i, v in enumerate(record.ys)}
    shape = (len(record.ys), len(record.xs))
    z = np.full(shape, np.nan)
    text = np.full(shape, "", dtype=object)
    text[:, :] = "no trials"
    custom = np.full((*shape, CLICK_OPTIMIZER + 1 + len(CELL_FIELDS)), "", dtype=object)
    for cell in record.cells:
        i, j = yi[cell.y], xi[cell.x]
        z[i, j] = cell.value
        shown = format_metric(cell.value, settings)
        text[i, j] = shown + (
            f"<br>× {cell.n_diverged}/{cell.n_seeds} div." if cell.n_diverged else ""
        )
        custom[i, j, CLICK_CONFIG], custom[i, j, CLICK_OPTIMIZER] = cell.config, optimizer
        custom[i, j, CLICK_OPTIMIZER + 1 :] = (
            f"{cell.x:g}",
            f"{cell.y:g}",
            shown,
            str(cell.n_diverged),
            str(cell.n_seeds),
            format_share(cell.divergence_rate),
            str(cell.n_trials),
        )
    colorbar: dict[str, Any] = {"title": {"text": metric_title(settings.metric, settings)}}
    if is_accuracy(settings.metric) and is_percent(settings):
        colorbar["tickformat"] = ".3~%"
    heat = trace(
        "heatmap",
        z=z,
        x=[grid_text(v) for v in record.xs],
        y=[grid_text(v) for v in record.ys],
        text=text.astype(str),
        texttemplate="%{text}",
        customdata=custom.astype(str),  # text arrays: plotly copies them whole
        hovertemplate=_hover_template(record, settings),
        hoverongaps=False,  # a cell without trials says so in its text
        colorscale="Viridis",
        # One scale for every heatmap of the study: a colour means one value everywhere.
        zmin=record.zmin,
        zmax=record.zmax,
        reversescale=settings.direction == "minimize",
        zsmooth=False,
        xgap=2,
        ygap=2,
        colorbar=colorbar,
    )
    layout = {
        "xaxis": {"type": "category", "title": hyperparameter_title(x, " (grid)")},
        "yaxis": {"type": "category", "title": hyperparameter_title(y, " (grid)")},
    }
    return figure(
        [heat],
        title,
        "cell: the configuration best over the other hyperparameters (its seed mean; × k/n: its "
        "seeds that diverged); click it for those seeds",
        height=440,
        layout=layout,
    )
