"""The study-wide figures: the tuning budget (expected best of k, who wins after k), the EDF of
configuration means, and the descriptive importances.

Their records are the analysis's own tables (`StudyAnalysis.best_of_k`, `win_probability`,
`edf`, `importance`: one row per point drawn, no Plotly), so each function here only draws.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.plotting import (
    band,
    empty_figure,
    finish_layout,
    k_ticks,
    metric_axis,
    points_unit,
    steps,
)
from dashboards.theme import band_color, optimizer_color
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.units import format_points, is_percent


def best_of_k_figure(analysis: StudyAnalysis) -> go.Figure:
    """E[best of k]: the expected reported score after trying k random configurations."""
    settings = analysis.settings
    table = analysis.best_of_k
    title = "Expected best of k random configurations"
    if table.empty:
        return empty_figure(title, "No best-of-k curve (no completed configurations).")
    fig = go.Figure()
    for optimizer, rows in table.groupby("optimizer", sort=False):
        rows = rows.sort_values("k")
        color = optimizer_color(str(optimizer))
        fig.add_trace(
            band(
                rows["k"],
                rows["expected_low"],
                rows["expected_high"],
                color,
                f"{optimizer} 95 % band",
                str(optimizer),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=rows["k"],
                y=rows["expected"],
                mode="lines",
                name=str(optimizer),
                legendgroup=str(optimizer),
                line={"color": color, "width": 2.5},
                hovertemplate=(
                    f"<b>{optimizer}</b><br>k = %{{x}} configurations<br>"
                    f"E[best {settings.report_metric}]: %{{y:.4g}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(
        type="log",
        title={"text": "k, configurations tried (log scale)"},
        **k_ticks(table["k"]),
    )
    fig.update_yaxes(**metric_axis(settings.report_metric, settings))
    return finish_layout(
        fig,
        title,
        f"selected by {settings.metric}, scored by "
        f"{settings.report_metric}; band: 95 % Student t over seeds",
    )


def win_probability_figure(analysis: StudyAnalysis) -> go.Figure:
    """Probability that each optimizer's best-of-k is the overall best, stacked against k."""
    table = analysis.win_probability
    title = "Which optimizer wins after k configurations"
    if table.empty:
        return empty_figure(title, "No win probabilities (fewer than two optimizers).")
    fig = go.Figure()
    for optimizer, rows in table.groupby("optimizer", sort=False):
        rows = rows.sort_values("k")
        color = optimizer_color(str(optimizer))
        fig.add_trace(
            go.Scatter(
                x=rows["k"],
                y=rows["probability"],
                mode="lines",
                stackgroup="win",
                name=str(optimizer),
                line={"color": color, "width": 1},
                fillcolor=band_color(color, 0.6),
                hovertemplate=(
                    f"<b>{optimizer}</b><br>k = %{{x}}<br>P(win) = %{{y:.0%}}<extra></extra>"
                ),
            )
        )
    fig.update_xaxes(
        type="log",
        title={"text": "k, configurations tried (log scale)"},
        **k_ticks(table["k"]),
    )
    fig.update_yaxes(
        title={"text": "probability of the top score (%)"}, tickformat=".0%", range=[0, 1]
    )
    return finish_layout(fig, title, "Sivaprasad et al. style: share of seeds × draws each wins")


def edf_figure(analysis: StudyAnalysis) -> go.Figure:
    """EDF of configuration means: the fraction of configurations within a regret of the best.

    Read at regret = δ it is the joint good-region width W(δ) for every δ at once.
    """
    settings = analysis.settings
    table = analysis.edf
    title = "How many configurations are nearly as good as the best"
    if table.empty:
        return empty_figure(title, "No configurations to compare.")
    scale = settings.points if is_percent(settings) else 1.0
    fig = go.Figure()
    for optimizer, rows in table.groupby("optimizer", sort=False):
        rows = rows.sort_values("regret")
        color = optimizer_color(str(optimizer))
        x = rows["regret"].astype(float) / scale
        fig.add_trace(
            band(
                *steps(x.to_numpy(), rows["fraction_low"].to_numpy(float)),
                steps(x.to_numpy(), rows["fraction_high"].to_numpy(float))[1],
                color,
                f"{optimizer} 95 % band",
                str(optimizer),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=rows["fraction"],
                mode="lines",
                line_shape="hv",
                name=str(optimizer),
                legendgroup=str(optimizer),
                line={"color": color, "width": 2.5},
                hovertemplate=(
                    f"<b>{optimizer}</b><br>regret ≤ %{{x:.3g}} {points_unit(settings)}"
                    "<br>%{y:.0%} of configurations<extra></extra>"
                ),
            )
        )
    delta = settings.delta / scale
    fig.add_vline(
        x=delta,
        line={"dash": "dash", "color": "#444", "width": 1},
        annotation_text=f"δ = {format_points(settings.delta, settings)}",
        annotation_position="top right",
    )
    fig.update_xaxes(
        title={"text": f"regret from the optimizer's best ({points_unit(settings)})"},
        rangemode="tozero",
    )
    fig.update_yaxes(
        title={"text": "configurations within that regret (%)"}, tickformat=".0%", range=[0, 1.02]
    )
    return finish_layout(
        fig,
        title,
        "seed means, diverged configurations included at the floor; at regret = δ this is W(δ)",
    )


def importance_figure(analysis: StudyAnalysis) -> go.Figure:
    """Hyperparameter importances with bootstrap-over-seeds error bars (descriptive only)."""
    table = analysis.importance
    title = "Hyperparameter importance (descriptive)"
    if table.empty:
        return empty_figure(title, "No importances (fewer than two hyperparameters searched).")
    fig = go.Figure()
    for optimizer, rows in table.groupby("optimizer", sort=False):
        color = optimizer_color(str(optimizer))
        value = rows["importance"].astype(float)
        fig.add_trace(
            go.Bar(
                x=rows["hyperparameter"],
                y=value,
                name=str(optimizer),
                marker_color=color,
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
    fig.update_layout(barmode="group")
    fig.update_xaxes(title={"text": "hyperparameter"})
    fig.update_yaxes(title={"text": "importance (PED-ANOVA, unitless)"}, rangemode="tozero")
    return finish_layout(
        fig,
        title,
        "descriptive, not a verdict: how much the top 10 % of configurations concentrate on "
        "some values; error bars: 95 % (bootstrap/jackknife SE over seeds, t quantile)",
    )
