"""The study-wide figures: the tuning budget (expected best of k, who wins after k), the EDF of
configuration means, and the descriptive importances.

Their records are the analysis's own tables (`StudyAnalysis.best_of_k`, `win_probability`,
`edf`, `importance`: one row per point drawn, no Plotly), so each function here only draws.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboards.plotting import (
    band,
    empty_figure,
    figure,
    k_ticks,
    metric_axis,
    points_unit,
    steps,
    trace,
    vline,
)
from dashboards.theme import band_color, optimizer_color
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.units import format_points, is_percent


def _per_optimizer(
    table: pd.DataFrame, order: str | None
) -> Iterator[tuple[str, pd.DataFrame, str]]:
    """(optimizer, its rows sorted by `order`, its colour), in table order."""
    for optimizer, rows in table.groupby("optimizer", sort=False):
        name = str(optimizer)
        yield name, rows.sort_values(order) if order else rows, optimizer_color(name)


def _k_axis(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "type": "log",
        "title": {"text": "k, configurations tried (log scale)"},
        **k_ticks(table["k"]),
    }


def best_of_k_figure(analysis: StudyAnalysis) -> go.Figure:
    """E[best of k]: the expected reported score after trying k random configurations."""
    settings = analysis.settings
    table = analysis.best_of_k
    title = "Expected best of k random configurations"
    if table.empty:
        return empty_figure(title, "No best-of-k curve (no completed configurations).")
    data: list[dict[str, Any]] = []
    for optimizer, rows, color in _per_optimizer(table, "k"):
        data += [
            band(
                rows["k"],
                rows["expected_low"],
                rows["expected_high"],
                color,
                f"{optimizer} 95 % band",
                optimizer,
            ),
            trace(
                "scatter",
                x=rows["k"],
                y=rows["expected"],
                mode="lines",
                name=optimizer,
                legendgroup=optimizer,
                line={"color": color, "width": 2.5},
                hovertemplate=(
                    f"<b>{optimizer}</b><br>k = %{{x}} configurations<br>"
                    f"E[best {settings.report_metric}]: %{{y:.4g}}<extra></extra>"
                ),
            ),
        ]
    layout = {"xaxis": _k_axis(table), "yaxis": metric_axis(settings.report_metric, settings)}
    return figure(
        data,
        title,
        f"selected by {settings.metric}, scored by "
        f"{settings.report_metric}; band: 95 % Student t over seeds",
        layout=layout,
    )


def win_probability_figure(analysis: StudyAnalysis) -> go.Figure:
    """Probability that each optimizer's best-of-k is the overall best, stacked against k."""
    table = analysis.win_probability
    title = "Which optimizer wins after k configurations"
    if table.empty:
        return empty_figure(title, "No win probabilities (fewer than two optimizers).")
    data = [
        trace(
            "scatter",
            x=rows["k"],
            y=rows["probability"],
            mode="lines",
            stackgroup="win",
            name=optimizer,
            line={"color": color, "width": 1},
            fillcolor=band_color(color, 0.6),
            hovertemplate=(
                f"<b>{optimizer}</b><br>k = %{{x}}<br>P(win) = %{{y:.0%}}<extra></extra>"
            ),
        )
        for optimizer, rows, color in _per_optimizer(table, "k")
    ]
    layout = {
        "xaxis": _k_axis(table),
        "yaxis": {
            "title": {"text": "probability of the top score (%)"},
            "tickformat": ".0%",
            "range": [0, 1],
        },
    }
    return figure(
        data, title, "Sivaprasad et al. style: share of seeds × draws each wins", layout=layout
    )


def edf_figure(analysis: StudyAnalysis) -> go.Figure:
    """EDF of configuration means: the fraction of configurations within a regret of the best.

    Read at regret = m (the claims' tolerance, marked) it is the share of configurations
    within m of the best; at any other regret, that share for that tolerance.
    """
    settings = analysis.settings
    table = analysis.edf
    title = "How many configurations are nearly as good as the best"
    if table.empty:
        return empty_figure(title, "No configurations to compare.")
    scale = settings.points if is_percent(settings) else 1.0
    data: list[dict[str, Any]] = []
    for optimizer, rows, color in _per_optimizer(table, "regret"):
        x = rows["regret"].astype(float).to_numpy() / scale
        data += [
            band(
                *steps(x, rows["fraction_low"].to_numpy(float)),
                steps(x, rows["fraction_high"].to_numpy(float))[1],
                color,
                f"{optimizer} 95 % band",
                optimizer,
            ),
            trace(
                "scatter",
                x=x,
                y=rows["fraction"],
                mode="lines",
                name=optimizer,
                legendgroup=optimizer,
                line={"color": color, "width": 2.5, "shape": "hv"},
                hovertemplate=(
                    f"<b>{optimizer}</b><br>regret ≤ %{{x:.3g}} {points_unit(settings)}"
                    "<br>%{y:.0%} of configurations<extra></extra>"
                ),
            ),
        ]
    m = f"m = {format_points(settings.tolerance, settings)}, the claims' tolerance"
    line = {"dash": "dash", "color": "#444", "width": 1}
    layout = {
        **vline(settings.tolerance / scale, line, m),
        "xaxis": {
            "title": {"text": f"regret from the optimizer's best ({points_unit(settings)})"},
            "rangemode": "tozero",
        },
        "yaxis": {
            "title": {"text": "configurations within that regret (%)"},
            "tickformat": ".0%",
            "range": [0, 1.02],
        },
    }
    return figure(
        data,
        title,
        "seed means, diverged configurations included at the floor; at regret = m: the share "
        "within the claims' tolerance",
        layout=layout,
    )


def importance_figure(analysis: StudyAnalysis) -> go.Figure:
    """Hyperparameter importances with bootstrap-over-seeds error bars (descriptive only)."""
    table = analysis.importance
    title = "Hyperparameter importance (descriptive)"
    if table.empty:
        return empty_figure(title, "No importances (fewer than two hyperparameters searched).")
    data = []
    for optimizer, rows, color in _per_optimizer(table, None):
        value = rows["importance"].astype(float)
        data.append(
            trace(
                "bar",
                x=rows["hyperparameter"],
                y=value,
                name=optimizer,
                marker={"color": color},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (rows["importance_high"].astype(float) - value).clip(lower=0),
                    "arrayminus": (value - rows["importance_low"].astype(float)).clip(lower=0),
                },
                hovertemplate=(
                    f"<b>{optimizer}</b><br>%{{x}}: importance %{{y:.2f}}<extra></extra>"
                ),
            )
        )
    layout = {
        "barmode": "group",
        "xaxis": {"title": {"text": "hyperparameter"}},
        "yaxis": {"title": {"text": "importance (PED-ANOVA, unitless)"}, "rangemode": "tozero"},
    }
    return figure(
        data,
        title,
        "descriptive, not a verdict: how much the top 10 % of configurations concentrate on "
        "some values; error bars: 95 % (bootstrap/jackknife SE over seeds, t quantile)",
        layout=layout,
    )
