"""Figures: pure functions from `hpsearch.analysis` records to Plotly figures.

They compute no statistics — every number drawn is a column of a `StudyAnalysis` table (or a
learning curve from `StudyData.curves`) — so the dashboard, the HTML report and the tests see the
same thing. Unlike Optuna's plots, nothing is dropped: diverged trials are drawn as "×" at the
floor they were scored at, and heatmaps show one cell per grid point without interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.theme import DIVERGED_SYMBOL, FONT, OKABE_ITO, band_color, optimizer_color
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis

# Short, human texts for hyperparameter axes (hyperparameters have no units; say what they are).
HYPERPARAMETER_TEXT = {
    "lr": "lr (initial step size)",
    "final_lr": "final_lr (SGD-like final step size)",
    "gamma": "gamma (bound convergence speed)",
    "momentum": "momentum",
    "beta1": "beta1 (first-moment decay)",
    "beta2": "beta2 (second-moment decay)",
    "eps": "eps (denominator offset)",
    "weight_decay": "weight_decay (L2 penalty)",
}
# A small white template: plotly's "plotly_white" carries defaults for every trace type and
# costs ~50 ms per figure to copy; this is all our figures use.
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": list(OKABE_ITO),
        "xaxis": {
            "gridcolor": "#EBF0F8",
            "zerolinecolor": "#EBF0F8",
            "linecolor": "#888",
            "ticks": "outside",
            "automargin": True,
        },
        "yaxis": {
            "gridcolor": "#EBF0F8",
            "zerolinecolor": "#EBF0F8",
            "linecolor": "#888",
            "ticks": "outside",
            "automargin": True,
        },
        "hovermode": "closest",
    }
)
ROLE_TEXT = {
    "best": "best configuration",
    "boundary": "divergence boundary",
    "lr=1": "lr = 1",
}


# -- units and formatting ---------------------------------------------------------------------


def is_percent(settings: AnalysisSettings) -> bool:
    """Accuracies stored as 0-1 fractions are shown as percentages."""
    return math.isclose(settings.points, 0.01)


def metric_unit(metric: str, settings: AnalysisSettings | None = None) -> str:
    """The unit a metric is shown in, for axis titles."""
    if metric.endswith("accuracy"):
        return "%" if settings is None or is_percent(settings) else "fraction"
    if metric.endswith("loss"):
        return "cross-entropy, nats"
    if metric.endswith("perplexity"):
        return "perplexity"
    return "metric units"


def metric_title(metric: str, settings: AnalysisSettings | None = None) -> str:
    return f"{metric.replace('_', ' ')} ({metric_unit(metric, settings)})"


def points_unit(settings: AnalysisSettings) -> str:
    """The unit of a difference in the metric (regret, δ)."""
    return "percentage points" if is_percent(settings) else metric_unit(settings.metric, settings)


def format_metric(value: float, settings: AnalysisSettings) -> str:
    """A metric value in display units: `93.1 %` for accuracies, `0.412` otherwise."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if is_percent(settings):
        return f"{100 * value:.1f} %"
    return f"{value:.4g}"


def format_points(value: float, settings: AnalysisSettings) -> str:
    """A metric difference in display units: `1.5 pp` for accuracies."""
    if value is None or not np.isfinite(value):
        return "n/a"
    if is_percent(settings):
        return f"{value / settings.points:.2f} pp"
    return f"{value:.4g}"


def format_value(value: Any) -> str:
    """A hyperparameter value as the grid spells it (1e-03, 0.1, 1)."""
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _metric_axis(metric: str, settings: AnalysisSettings) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": metric_title(metric, settings)}}
    if metric.endswith("accuracy") and is_percent(settings):
        axis["tickformat"] = ".3~%"
    return axis


def _layout(fig: go.Figure, title: str, subtitle: str = "", height: int = 420) -> go.Figure:
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(
        title={"text": text, "x": 0.01, "xanchor": "left"},
        template=TEMPLATE,
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 70, "r": 20, "t": 80, "b": 60},
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "font": {"size": 11}},
        hoverlabel={"namelength": -1},
    )
    return fig


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to draw (never a blank plot)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height=260)


def _band(
    x: Sequence[float] | np.ndarray | pd.Series,
    low: Sequence[float] | np.ndarray | pd.Series,
    high: Sequence[float] | np.ndarray | pd.Series,
    color: str,
    name: str,
    group: str,
    visible: bool | str = True,
    xaxis: str = "x",
    yaxis: str = "y",
    showlegend: bool = False,
) -> go.Scatter:
    """A closed polygon between `low` and `high` (a 95 % band); gaps where either is NaN."""
    xa = np.asarray(x, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    keep = np.isfinite(lo) & np.isfinite(hi)
    xs = np.concatenate([xa[keep], xa[keep][::-1]])
    ys = np.concatenate([hi[keep], lo[keep][::-1]])
    return go.Scatter(
        x=xs,
        y=ys,
        fill="toself",
        fillcolor=band_color(color),
        mode="lines",
        line={"width": 0},
        hoverinfo="skip",
        name=name,
        legendgroup=group,
        showlegend=showlegend,
        visible=visible,
        xaxis=xaxis,
        yaxis=yaxis,
    )


def _steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of a step function (plotly's `hv` shape), so a band matches its step line."""
    if len(x) < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _log_axis(analysis: StudyAnalysis, hyperparameter: str) -> bool:
    rows = analysis.summary[analysis.summary["hyperparameter"] == hyperparameter]
    if len(rows) and "log_scale" in rows:
        return bool(rows["log_scale"].astype(bool).any())
    values = analysis.sensitivity.loc[
        analysis.sensitivity["hyperparameter"] == hyperparameter, "value"
    ].astype(float)
    return bool(len(values)) and bool((values > 0).all()) and values.max() / values.min() >= 10


def _runs(values: np.ndarray, good: np.ndarray) -> list[tuple[float, float]]:
    """Contiguous runs of good grid values, as (first, last) value pairs."""
    runs: list[tuple[float, float]] = []
    start: int | None = None
    for i, ok in enumerate(good):
        if ok and start is None:
            start = i
        if start is not None and (not ok or i == len(good) - 1):
            end = i if ok else i - 1
            runs.append((float(values[start]), float(values[end])))
            start = None
    return runs


# -- sensitivity curves -----------------------------------------------------------------------


def sensitivity_figure(analysis: StudyAnalysis, hyperparameter: str) -> go.Figure:
    """Sensitivity of each optimizer to one hyperparameter, all optimizers on one axis.

    The profile curve (best seed mean over the other hyperparameters, `P_h`) is shown; a button
    switches to the one-factor slice through the best configuration (`S_h`). Both have their
    95 % bootstrap band, the seeds of the drawn configuration as points, and diverged seeds as
    "×" at the floor. Shaded: the grid values whose profile is within δ of that optimizer's best.
    """
    settings = analysis.settings
    rows = analysis.sensitivity[analysis.sensitivity["hyperparameter"] == hyperparameter]
    title = f"Sensitivity to {hyperparameter}"
    if rows.empty:
        return empty_figure(title, f"No optimizer searched `{hyperparameter}` over several values.")
    log_x = _log_axis(analysis, hyperparameter)
    points = analysis.points
    fig = go.Figure()
    visibility: dict[str, list[bool]] = {"profile": [], "slice": []}
    optimizers = list(dict.fromkeys(rows["optimizer"]))
    shapes: list[dict[str, Any]] = []
    for index, optimizer in enumerate(optimizers):
        color = optimizer_color(optimizer)
        opt_rows = rows[rows["optimizer"] == optimizer].sort_values("value")
        x = opt_rows["value"].astype(float).to_numpy()
        for curve in ("profile", "slice"):
            shown = curve == "profile"
            label = "profile (tuned over the rest)" if curve == "profile" else "slice through best"
            before = len(fig.data)
            fig.add_trace(
                _band(
                    x,
                    opt_rows[f"{curve}_low"],
                    opt_rows[f"{curve}_high"],
                    color,
                    f"{optimizer} 95 % band",
                    optimizer,
                    visible=shown,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=opt_rows[curve].astype(float),
                    mode="lines+markers",
                    name=optimizer,
                    legendgroup=optimizer,
                    line={"color": color, "width": 2.5},
                    marker={"size": 7, "color": color},
                    visible=shown,
                    customdata=np.stack(
                        [
                            opt_rows[f"{curve}_config"].astype(str),
                            _percent_text(opt_rows["divergence_rate"]),
                            opt_rows["n_trials"].astype(int).astype(str),
                        ],
                        axis=-1,
                    ),
                    hovertemplate=(
                        f"<b>{optimizer}</b> {curve}<br>{hyperparameter} = %{{x:g}}<br>"
                        "config: %{customdata[0]}<br>"
                        f"seed mean {settings.metric}: %{{y:.4g}}<br>"
                        "diverged: %{customdata[1]} of %{customdata[2]} trials<extra></extra>"
                    ),
                )
            )
            configs = set(opt_rows[f"{curve}_config"].astype(str))
            seeds = points[
                (points["optimizer"] == optimizer) & points["config"].astype(str).isin(configs)
            ]
            if hyperparameter in seeds:
                seeds = seeds[seeds[hyperparameter].notna()]
            fig.add_traces(
                _seed_traces(
                    seeds,
                    hyperparameter,
                    optimizer,
                    color,
                    index,
                    len(optimizers),
                    log_x,
                    shown,
                    settings,
                    label,
                )
            )
            added = len(fig.data) - before
            for name in visibility:
                visibility[name].extend([name == curve] * added)
        shift = 10 ** (0.025 * (index - (len(optimizers) - 1) / 2)) if log_x else 1.0
        summary = _diverged_summary(opt_rows, points, optimizer, hyperparameter, color, shift)
        if summary is not None:
            fig.add_trace(summary)
            for name in visibility:
                visibility[name].append(True)
        in_range = opt_rows["in_range"].astype(bool) if "in_range" in opt_rows else True
        good = (opt_rows["good"].astype(bool) & in_range).to_numpy()
        for first, last in _runs(x, good):
            if first == last:  # one grid value: a narrow band around it
                first, last = (
                    (first / 10**0.06, last * 10**0.06)
                    if log_x
                    else (first - 0.01 * abs(first or 1), last + 0.01 * abs(last or 1))
                )
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": first,
                    "x1": last,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": color,
                    "opacity": 0.08,
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
    fig.update_layout(
        shapes=shapes,
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "x": 1.0,
                "xanchor": "right",
                "y": 1.12,
                "yanchor": "bottom",
                "showactive": True,
                "buttons": [
                    {
                        "label": "profile",
                        "method": "restyle",
                        "args": [{"visible": visibility["profile"]}],
                    },
                    {
                        "label": "slice",
                        "method": "restyle",
                        "args": [{"visible": visibility["slice"]}],
                    },
                ],
            }
        ],
    )
    fig.update_xaxes(
        type="log" if log_x else "linear",
        title={
            "text": HYPERPARAMETER_TEXT.get(hyperparameter, hyperparameter)
            + (", log scale" if log_x else "")
        },
    )
    fig.update_yaxes(**_metric_axis(settings.metric, settings))
    subtitle = (
        f"line: seed mean, band: 95 % bootstrap CI, dots: seeds, ×: diverged at floor; "
        f"shaded: within δ = {format_points(settings.delta, settings)} of the best"
    )
    return _layout(fig, title, subtitle, height=460)


def _percent_text(values: pd.Series) -> list[str]:
    # Hover data is stacked into one string array, so numbers are formatted here.
    return [f"{100 * float(v):.0f} %" for v in values]


def _diverged_summary(
    opt_rows: pd.DataFrame,
    points: pd.DataFrame,
    optimizer: str,
    hyperparameter: str,
    color: str,
    shift: float = 1.0,
) -> go.Scatter | None:
    """One large × at the floor per grid value where any trial of any configuration diverged.

    The curves show one configuration per value; this keeps the divergences of all the others
    visible (never hidden), with the count in the hover.
    """
    rows = opt_rows[opt_rows["n_diverged"].astype(float) > 0]
    floors = points.loc[
        (points["optimizer"] == optimizer) & (points["outcome"] == "diverged"), "value"
    ].astype(float)
    if rows.empty or floors.empty:
        return None
    floor = float(floors.median())
    return go.Scatter(
        x=rows["value"].astype(float) * shift,
        y=np.full(len(rows), floor),
        mode="markers",
        name=f"{optimizer}: trials diverged here (any config)",
        legendgroup=optimizer,
        marker={
            "symbol": "x-thin-open",
            "size": 18,
            "color": color,
            "line": {"width": 2.5, "color": color},
        },
        customdata=np.stack(
            [
                rows["n_diverged"].astype(int).astype(str),
                rows["n_trials"].astype(int).astype(str),
                _percent_text(rows["divergence_rate"]),
                [format_value(float(v)) for v in rows["value"]],
            ],
            axis=-1,
        ),
        hovertemplate=(
            f"<b>{optimizer}</b><br>{hyperparameter} = %{{customdata[3]}}<br>"
            "%{customdata[0]} of %{customdata[1]} trials diverged "
            "(%{customdata[2]}, all configurations)<br>scored at the floor %{y:.4g}"
            "<extra></extra>"
        ),
    )


def _seed_traces(
    seeds: pd.DataFrame,
    hyperparameter: str,
    optimizer: str,
    color: str,
    index: int,
    count: int,
    log_x: bool,
    visible: bool,
    settings: AnalysisSettings,
    label: str,
) -> list[go.Scatter]:
    """Completed seeds as dots, diverged seeds as × at the floor (never hidden)."""
    traces: list[go.Scatter] = []
    if seeds.empty or hyperparameter not in seeds:
        return traces
    x = seeds[hyperparameter].astype(float).to_numpy()
    # Spread optimizers and seeds a little sideways so overlapping points stay visible.
    seed_rank = pd.factorize(seeds["seed"])[0] if len(seeds) else np.zeros(0)
    offset = 0.025 * (index - (count - 1) / 2) + 0.006 * (seed_rank - seed_rank.mean())
    x = x * 10**offset if log_x else x + offset * (np.nanmax(np.abs(x)) or 1) * 0.5
    for outcome, symbol, size in (("completed", "circle", 6), ("diverged", DIVERGED_SYMBOL, 10)):
        mask = (seeds["outcome"] == outcome).to_numpy()
        if not mask.any():
            continue
        part = seeds[mask]
        traces.append(
            go.Scatter(
                x=x[mask],
                y=part["value"].astype(float),
                mode="markers",
                name=f"{optimizer} {'seeds' if outcome == 'completed' else 'diverged (at floor)'}",
                legendgroup=optimizer,
                showlegend=outcome == "diverged",
                visible=visible,
                marker={
                    "symbol": symbol,
                    "size": size,
                    "color": color,
                    "opacity": 0.55 if outcome == "completed" else 0.95,
                    "line": {"width": 1.5 if outcome == "diverged" else 0, "color": color},
                },
                customdata=np.stack(
                    [
                        part["config"].astype(str),
                        part["seed"].astype(str),
                        part["outcome"].astype(str),
                        [format_value(float(v)) for v in part[hyperparameter]],
                        _epoch_text(part),
                    ],
                    axis=-1,
                ),
                hovertemplate=(
                    f"<b>{optimizer}</b> ({label})<br>{hyperparameter} = %{{customdata[3]}}<br>"
                    "config: %{customdata[0]}<br>seed: %{customdata[1]}<br>"
                    "outcome: %{customdata[2]}%{customdata[4]}<br>"
                    f"{settings.metric}: %{{y:.4g}}<extra></extra>"
                ),
            )
        )
    return traces


def _epoch_text(part: pd.DataFrame) -> np.ndarray:
    if "diverged_epoch" not in part:
        return np.full(len(part), "")
    epochs = part["diverged_epoch"]
    return np.array([f" at epoch {int(e)}" if pd.notna(e) else "" for e in epochs], dtype=object)


# -- heatmaps -----------------------------------------------------------------------------------


def heatmap_pairs(analysis: StudyAnalysis) -> list[tuple[str, str, str]]:
    """The (optimizer, x, y) pairs the analysis has heatmaps for, in table order."""
    table = analysis.heatmaps
    if table.empty:
        return []
    keys = table[["optimizer", "x", "y"]].drop_duplicates()
    return [(str(o), str(x), str(y)) for o, x, y in keys.itertuples(index=False)]


def heatmap_figure(analysis: StudyAnalysis, optimizer: str, x: str, y: str) -> go.Figure:
    """One cell per grid point of (x, y): the best seed mean over the other hyperparameters.

    No interpolation and no "best seed" (Optuna's contour does both); each cell is annotated
    with its value and, where any seed diverged, the divergence rate.
    """
    settings = analysis.settings
    table = analysis.heatmaps
    rows = table[(table["optimizer"] == optimizer) & (table["x"] == x) & (table["y"] == y)]
    title = f"{optimizer}: {x} × {y}"
    if rows.empty:
        return empty_figure(title, f"No heatmap for {optimizer} over {x} × {y}.")
    xs = sorted(rows["x_value"].astype(float).unique())
    ys = sorted(rows["y_value"].astype(float).unique())
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    z = np.full((len(ys), len(xs)), np.nan)
    text = np.full((len(ys), len(xs)), "", dtype=object)
    hover = np.full((len(ys), len(xs)), "no trials", dtype=object)
    for row in rows.itertuples(index=False):
        i, j = yi[float(row.y_value)], xi[float(row.x_value)]
        value = float(row.profile)
        rate = float(row.divergence_rate)
        z[i, j] = value
        cell = format_metric(value, settings)
        if rate > 0:
            cell += f"<br>× {rate:.0%} div."
        text[i, j] = cell
        hover[i, j] = (
            f"{x} = {float(row.x_value):g}, {y} = {float(row.y_value):g}<br>"
            f"config: {row.config}<br>seed mean {settings.metric}: "
            f"{format_metric(value, settings)}<br>diverged: {rate:.0%} of "
            f"{int(row.n_trials)} trials"
        )
    colorbar: dict[str, Any] = {"title": {"text": metric_title(settings.metric, settings)}}
    if settings.metric.endswith("accuracy") and is_percent(settings):
        colorbar["tickformat"] = ".3~%"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[format_value(v) for v in xs],
            y=[format_value(v) for v in ys],
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale="Viridis",
            reversescale=settings.direction == "minimize",
            zsmooth=False,
            xgap=2,
            ygap=2,
            colorbar=colorbar,
        )
    )
    fig.update_xaxes(type="category", title={"text": HYPERPARAMETER_TEXT.get(x, x) + " (grid)"})
    fig.update_yaxes(type="category", title={"text": HYPERPARAMETER_TEXT.get(y, y) + " (grid)"})
    return _layout(
        fig,
        title,
        "cell: best seed mean over the other hyperparameters; × n % div.: share of diverged seeds",
        height=440,
    )


# -- budget, EDF, importance -------------------------------------------------------------------


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
            _band(
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
    fig.update_xaxes(type="log", title={"text": "k, configurations tried (log scale)"})
    fig.update_yaxes(**_metric_axis(settings.report_metric, settings))
    return _layout(
        fig,
        title,
        f"selected by {settings.metric}, scored by "
        f"{settings.report_metric}; band: 95 % paired seed bootstrap",
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
    fig.update_xaxes(type="log", title={"text": "k, configurations tried (log scale)"})
    fig.update_yaxes(
        title={"text": "probability of the top score (%)"}, tickformat=".0%", range=[0, 1]
    )
    return _layout(fig, title, "Sivaprasad et al. style: share of seeds × draws each wins")


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
            _band(
                *_steps(x.to_numpy(), rows["fraction_low"].to_numpy(float)),
                _steps(x.to_numpy(), rows["fraction_high"].to_numpy(float))[1],
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
    return _layout(
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
    fig.update_yaxes(
        title={"text": "PED-ANOVA importance (χ² divergence, unitless)"}, rangemode="tozero"
    )
    return _layout(
        fig,
        title,
        "descriptive, not a verdict: how much the top 10 % of configurations concentrate on "
        "some values; error bars: 95 % bootstrap over seeds",
    )


# -- learning curves ----------------------------------------------------------------------------


def learning_curve_figure(
    analysis: StudyAnalysis, curves: pd.DataFrame, metric: str | None = None
) -> go.Figure:
    """Learning curves of the best, divergence-boundary and lr = 1 configurations.

    Line: seed mean per epoch; band: range over seeds; ×: the epoch where a seed diverged.
    """
    settings = analysis.settings
    metric = metric or settings.metric
    title = f"Learning curves ({metric.replace('_', ' ')})"
    picks = analysis.picks
    if picks.empty or curves.empty:
        return empty_figure(title, "No learning curves recorded for the picked configurations.")
    roles = [r for r in ROLE_TEXT if (picks["role"] == r).any()]
    fig = make_subplots(
        rows=1,
        cols=len(roles),
        shared_yaxes=True,
        subplot_titles=[ROLE_TEXT[r] for r in roles],
        horizontal_spacing=0.04,
    )
    # Narrow the (large) curves table once to the picked trials, then slice per pick.
    picked = {int(t) for numbers in picks["trial_numbers"] for t in numbers}
    wanted = curves[(curves["metric"] == metric) & curves["trial_number"].isin(picked)]
    points = analysis.points
    shown_legend: set[str] = set()
    for col, role in enumerate(roles, start=1):
        for pick in picks[picks["role"] == role].itertuples(index=False):
            optimizer = str(pick.optimizer)
            color = optimizer_color(optimizer)
            keys = set(zip(list(pick.studies), [int(t) for t in pick.trial_numbers], strict=False))
            index = pd.MultiIndex.from_arrays([wanted["study"], wanted["trial_number"]])
            rows = wanted[index.isin(keys)]
            if rows.empty:
                continue
            values = rows["value"].astype(float).where(np.isfinite(rows["value"].astype(float)))
            table = rows.assign(value=values).pivot_table(
                index="epoch", columns="trial_number", values="value", aggfunc="mean", dropna=False
            )
            epochs = table.index.to_numpy(dtype=float)
            mean = table.mean(axis=1, skipna=True)
            axis = "" if col == 1 else str(col)
            fig.add_trace(
                _band(
                    epochs,
                    table.min(axis=1),
                    table.max(axis=1),
                    color,
                    f"{optimizer} seed range",
                    optimizer,
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=mean,
                    mode="lines",
                    name=optimizer,
                    legendgroup=optimizer,
                    showlegend=optimizer not in shown_legend,
                    line={"color": color, "width": 2.5},
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                    hovertemplate=(
                        f"<b>{optimizer}</b> {ROLE_TEXT[role]}<br>config: "
                        f"{pick.config}<br>epoch %{{x}}<br>seed mean {metric}: "
                        f"%{{y:.4g}}<extra></extra>"
                    ),
                )
            )
            shown_legend.add(optimizer)
            diverged = points[
                (points["optimizer"] == optimizer)
                & points["trial_number"].isin([int(t) for t in pick.trial_numbers])
                & (points["outcome"] == "diverged")
            ]
            if "study" in diverged:
                diverged = diverged[diverged["study"].isin(list(pick.studies))]
            diverged = diverged[diverged["diverged_epoch"].notna()]
            if diverged.empty:
                continue
            # At the curve's value in that epoch when it is finite, else at the floor.
            ys = []
            for trial in diverged.itertuples(index=False):
                column = table.get(trial.trial_number)
                y = np.nan if column is None else column.get(float(trial.diverged_epoch), np.nan)
                ys.append(y if np.isfinite(y) else float(trial.value))
            fig.add_trace(
                go.Scatter(
                    x=diverged["diverged_epoch"].astype(float),
                    y=ys,
                    mode="markers",
                    name=f"{optimizer} diverged",
                    legendgroup=optimizer,
                    showlegend=False,
                    marker={
                        "symbol": DIVERGED_SYMBOL,
                        "size": 12,
                        "color": color,
                        "line": {"width": 2, "color": color},
                    },
                    xaxis=f"x{axis}",
                    yaxis=f"y{axis}",
                    customdata=np.stack(
                        [diverged["seed"].astype(str), diverged["config"].astype(str)], axis=-1
                    ),
                    hovertemplate=(
                        f"<b>{optimizer}</b> diverged<br>config: %{{customdata[1]}}<br>"
                        "seed: %{customdata[0]}<br>epoch %{x}<extra></extra>"
                    ),
                )
            )
    last = float(wanted["epoch"].max()) if not wanted.empty else 1.0
    fig.update_xaxes(title={"text": "epoch"}, tick0=1, dtick=max(1, math.ceil(last / 10)))
    fig.update_yaxes(**_metric_axis(metric, settings), col=1)
    if metric.endswith("loss"):
        fig.update_yaxes(type="log")
    return _layout(
        fig,
        title,
        "line: seed mean, band: range over seeds, ×: epoch a seed "
        "diverged (curves stop where the loss was not finite)",
        height=420,
    )
