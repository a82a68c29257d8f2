"""Figures: pure functions from `hpsearch.analysis` records to Plotly figures.

They compute no statistics — every number drawn is a column of a `StudyAnalysis` table (or a
learning curve from `StudyData.curves`) — so the dashboard, the HTML report and the tests see the
same thing. Unlike Optuna's plots, nothing is dropped: diverged trials are drawn as "×" at the
floor they were scored at, and heatmaps show one cell per grid point without interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.theme import DIVERGED_SYMBOL, FONT, OKABE_ITO, band_color, optimizer_color
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import AnalysisSettings, Estimate, StudyAnalysis
from hpsearch.metrics import is_accuracy
from hpsearch.units import format_metric, format_points, format_share, is_percent

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


def metric_unit(metric: str, settings: AnalysisSettings | None = None) -> str:
    """The unit a metric is shown in, for axis titles."""
    if is_accuracy(metric):
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


def grid_text(value: float) -> str:
    """A grid value as an axis label: decades as `decade_text` writes them, others as `%g`."""
    if value > 0 and math.isfinite(value):
        exponent = math.log10(value)
        if math.isclose(exponent, round(exponent), abs_tol=1e-9):
            return decade_text(10.0 ** round(exponent))
    return format_value(value)


def _k_ticks(ks: pd.Series) -> dict[str, Any]:
    """1, 2, 5, 10, 20, 50, ... up to the largest k: plain labels on a log axis."""
    top = float(ks.max()) if len(ks) else 1.0
    ticks = [m * 10**e for e in range(0, 7) for m in (1, 2, 5) if m * 10**e <= top]
    return {"tickvals": ticks, "ticktext": [str(t) for t in ticks]}


def _metric_axis(metric: str, settings: AnalysisSettings) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": metric_title(metric, settings)}}
    if is_accuracy(metric) and is_percent(settings):
        axis["tickformat"] = ".3~%"
    return axis


def _layout(fig: go.Figure, title: str, subtitle: str = "", height: int = 420) -> go.Figure:
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    fig.update_layout(
        # Anchored to the plot area, so a long y-axis title never runs under the title.
        title={"text": text, "x": 0, "xref": "paper", "xanchor": "left"},
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
    95 % band (selection-aware for the profile, Student t for the slice), the seeds of the drawn
    configuration as points, and diverged seeds as
    "×" at the floor. A track above the plot marks, per optimizer, the grid values within δ of
    its best, for the curve shown (the slice has its own): one labelled row per optimizer
    instead of overlapping shades.
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
    legend_once: set[tuple[str, str]] = set()  # (curve, group) already in the legend
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
                            [optimizer] * len(opt_rows),
                            _share_text(opt_rows["divergence_rate"]),
                            opt_rows["n_trials"].astype(int).astype(str),
                        ],
                        axis=-1,
                    ),
                    hovertemplate=(
                        f"<b>{optimizer}</b> {curve}<br>{hyperparameter} = %{{x:g}}<br>"
                        "config: %{customdata[0]}<br>"
                        f"seed mean {settings.metric}: %{{y:.4g}}<br>"
                        "diverged: %{customdata[2]} of %{customdata[3]} trials"
                        "<br><i>click: the configuration's seeds</i><extra></extra>"
                    ),
                )
            )
            configs = set(opt_rows[f"{curve}_config"].astype(str))
            seeds = points[
                (points["optimizer"] == optimizer) & points["config"].astype(str).isin(configs)
            ]
            if hyperparameter in seeds:
                seeds = seeds[seeds[hyperparameter].notna()]
            for trace in _seed_traces(
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
            ):
                group = str(trace.legendgroup)
                trace.showlegend = (curve, group) not in legend_once
                legend_once.add((curve, group))
                fig.add_trace(trace)
            fig.add_trace(
                _good_track(opt_rows, analysis, curve, optimizer, index, color, log_x, shown)
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
    diverged = [t for t in fig.data if t.legendgroup == "diverged"]
    if diverged and not any(t.showlegend for t in diverged):  # no diverged seed drawn: the
        diverged[0].showlegend = True  # any-configuration × still needs a legend entry
    fig.update_layout(
        updatemenus=[
            {
                "type": "buttons",
                "direction": "down",
                "x": 1.02,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "top",
                "showactive": True,
                "pad": {"t": 0, "b": 0, "l": 0},
                "buttons": [
                    {
                        "label": "profile: others tuned",
                        "method": "restyle",
                        "args": [{"visible": visibility["profile"]}],
                    },
                    {
                        "label": "slice: others at the best",
                        "method": "restyle",
                        "args": [{"visible": visibility["slice"]}],
                    },
                ],
            }
        ],
        yaxis={"domain": [0.0, 0.8]},
        yaxis2={
            "domain": [0.84, 1.0],
            "range": [len(optimizers) - 0.5, -0.5],
            "tickvals": list(range(len(optimizers))),
            "ticktext": optimizers,
            "showgrid": False,
            "zeroline": False,
            "ticks": "",
            "tickfont": {"size": 10},
            "title": {"text": "within δ", "font": {"size": 10}},
        },
    )
    fig.update_xaxes(
        type="log" if log_x else "linear",
        title={
            "text": HYPERPARAMETER_TEXT.get(hyperparameter, hyperparameter)
            + (", log scale" if log_x else "")
        },
        **(_log_ticks(rows["value"]) if log_x else {}),
    )
    fig.layout.yaxis.update(**_metric_axis(settings.metric, settings))
    subtitle = (
        "line: seed mean, band: 95 % CI (profile: selection-aware), dots: seeds, "
        "×: diverged at the floor; "
        f"top track: values within δ = {format_points(settings.delta, settings)} of the best"
    )
    fig = _layout(fig, title, subtitle, height=500)
    fig.update_layout(legend={"y": 0.8, "yanchor": "top"})  # under the profile / slice buttons
    return fig


def _good_track(
    opt_rows: pd.DataFrame,
    analysis: StudyAnalysis,
    curve: str,
    optimizer: str,
    index: int,
    color: str,
    log_x: bool,
    visible: bool,
) -> go.Scatter:
    """One optimizer's row of the "within δ" track: thick segments over its good grid values.

    For the profile that is the analysis's `good` column; for the slice, a `slice_good` column
    when the analysis has one, else the slice's distance to the same best (the threshold the
    profile's `good` uses, applied to the other curve).
    """
    x = opt_rows["value"].astype(float).to_numpy()
    in_range = opt_rows["in_range"].astype(bool) if "in_range" in opt_rows else True
    if curve == "profile" or "slice_good" in opt_rows:
        column = "good" if curve == "profile" else "slice_good"
        good = opt_rows[column].astype(bool)
    else:
        settings = analysis.settings
        sign = 1.0 if settings.direction == "maximize" else -1.0
        best = float((sign * opt_rows["profile"].astype(float)).max())
        good = sign * opt_rows["slice"].astype(float) >= best - settings.delta - 1e-12
    good_values = (good & in_range).to_numpy()
    xs: list[float | None] = []
    ys: list[float | None] = []
    for first, last in _runs(x, good_values):
        if first == last:  # one grid value: a short segment around it
            first, last = (
                (first / 10**0.08, last * 10**0.08)
                if log_x
                else (first - 0.02 * abs(first or 1), last + 0.02 * abs(last or 1))
            )
        xs += [first, last, None]
        ys += [index, index, None]
    where = ", ".join(format_value(v) for v in x[good_values]) or "none"
    return go.Scatter(
        x=xs or [None],
        y=ys or [None],
        yaxis="y2",
        mode="lines",
        name=f"{optimizer} within δ ({curve})",
        legendgroup=optimizer,
        showlegend=False,
        visible=visible,
        line={"color": color, "width": 9},
        hovertemplate=f"<b>{optimizer}</b> within δ of its best ({curve}): {where}<extra></extra>",
    )


def _log_ticks(values: pd.Series | Sequence[float]) -> dict[str, Any]:
    """Decade ticks labelled the way a grid is written (1e-4, 1e-3, 0.01, 0.1, 1)."""
    finite = [float(v) for v in values if float(v) > 0 and math.isfinite(float(v))]
    if not finite:
        return {}
    low, high = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    ticks = [10.0**e for e in range(low, high + 1)]
    return {"tickvals": ticks, "ticktext": [decade_text(t) for t in ticks]}


def decade_text(value: float) -> str:
    """`1e-4`, `1e-3`, `0.01`, `0.1`, `1`, `10`, `1e3`: short, plain and unambiguous."""
    if 0.01 <= value < 1000:
        return f"{value:g}"
    exponent = math.log10(value)
    if math.isclose(exponent, round(exponent)):
        return f"1e{round(exponent)}"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _share_text(values: pd.Series) -> list[str]:
    # Hover data is stacked into one string array, so numbers are formatted here.
    return [format_share(float(v)) for v in values]


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
        legendgroup="diverged",
        showlegend=False,
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
                _share_text(rows["divergence_rate"]),
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
                name="seeds" if outcome == "completed" else "diverged seeds (× at the floor)",
                legendrank=1001 if outcome == "completed" else 1002,  # after the optimizers
                legendgroup="seeds" if outcome == "completed" else "diverged",
                showlegend=True,
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
                        [optimizer] * len(part),
                        part["seed"].astype(str),
                        part["outcome"].astype(str),
                        [format_value(float(v)) for v in part[hyperparameter]],
                        _epoch_text(part),
                    ],
                    axis=-1,
                ),
                hovertemplate=(
                    f"<b>{optimizer}</b> ({label})<br>{hyperparameter} = %{{customdata[4]}}<br>"
                    "config: %{customdata[0]}<br>seed: %{customdata[2]}<br>"
                    "outcome: %{customdata[3]}%{customdata[5]}<br>"
                    f"{settings.metric}: %{{y:.4g}}<br><i>click: this configuration's seeds</i>"
                    "<extra></extra>"
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


def heatmap_range(analysis: StudyAnalysis) -> tuple[float | None, float | None]:
    """The colour range shared by all heatmaps of a study: every cell value, every optimizer."""
    values = analysis.heatmaps["profile"].astype(float) if not analysis.heatmaps.empty else None
    if values is None or not np.isfinite(values).any():
        return None, None
    finite = values[np.isfinite(values)]
    return float(finite.min()), float(finite.max())


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
    zmin, zmax = heatmap_range(analysis)
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    z = np.full((len(ys), len(xs)), np.nan)
    text = np.full((len(ys), len(xs)), "", dtype=object)
    hover = np.full((len(ys), len(xs), 3), "", dtype=object)
    hover[:, :, 2] = "no trials"
    # One reference per cell: the colour, the × share, the hover and the drill-down are all the
    # one configuration that is best at this (x, y) over the other hyperparameters; the share
    # over every configuration of the cell is named as such in the hover only.
    configs = analysis.configs
    mine = (
        configs[configs["optimizer"] == optimizer].set_index("config")
        if not configs.empty
        else None
    )
    others = [h for h in analysis.hyperparameters.get(optimizer, []) if h not in (x, y)]
    over = f"best over {', '.join(others)}" if others else "the configuration"
    for row in rows.itertuples(index=False):
        i, j = yi[float(row.y_value)], xi[float(row.x_value)]
        value = float(row.profile)
        z[i, j] = value
        found = (
            mine.loc[str(row.config)]
            if mine is not None and str(row.config) in mine.index
            else None
        )
        n_div = int(found["n_diverged"]) if found is not None else 0
        n_seeds = int(found["n_seeds"]) if found is not None else 0
        cell = format_metric(value, settings)
        if n_div:
            cell += f"<br>× {n_div}/{n_seeds} div."
        text[i, j] = cell
        hover[i, j, 0], hover[i, j, 1] = str(row.config), optimizer
        share = format_share(float(row.divergence_rate))
        whole = (
            f"<br>every {', '.join(others)} at this cell: {share} of {int(row.n_trials)} "
            "trials diverged"
            if others
            else ""
        )
        hover[i, j, 2] = (
            f"{x} = {float(row.x_value):g}, {y} = {float(row.y_value):g}<br>"
            f"{over}: {row.config}<br>its seed mean {settings.metric}: "
            f"{format_metric(value, settings)}<br>its seeds diverged: {n_div} of {n_seeds}"
            f"{whole}<br><i>click: this configuration's seeds</i>"
        )
    colorbar: dict[str, Any] = {"title": {"text": metric_title(settings.metric, settings)}}
    if is_accuracy(settings.metric) and is_percent(settings):
        colorbar["tickformat"] = ".3~%"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[grid_text(v) for v in xs],
            y=[grid_text(v) for v in ys],
            text=text,
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata[2]}<extra></extra>",
            colorscale="Viridis",
            # One scale for every heatmap of the study: a colour means one value everywhere.
            zmin=zmin,
            zmax=zmax,
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
        "cell: the configuration best over the other hyperparameters (its seed mean; × k/n: its "
        "seeds that diverged); click it for those seeds",
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
    fig.update_xaxes(
        type="log",
        title={"text": "k, configurations tried (log scale)"},
        **_k_ticks(table["k"]),
    )
    fig.update_yaxes(**_metric_axis(settings.report_metric, settings))
    return _layout(
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
        **_k_ticks(table["k"]),
    )
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
    fig.update_yaxes(title={"text": "importance (PED-ANOVA, unitless)"}, rangemode="tozero")
    return _layout(
        fig,
        title,
        "descriptive, not a verdict: how much the top 10 % of configurations concentrate on "
        "some values; error bars: 95 % (bootstrap/jackknife SE over seeds, t quantile)",
    )


# -- learning curves ----------------------------------------------------------------------------


def _curve_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Curve rows of some trials as an epoch x trial table (non-finite values as gaps; a trial
    with no finite value keeps its column). Built with NumPy: pandas' pivot_table costs ~20 ms
    a call, and a page draws one per configuration."""
    values = rows["value"].to_numpy(dtype=float)
    epochs, e_at = np.unique(rows["epoch"].to_numpy(dtype=float), return_inverse=True)
    trials, t_at = np.unique(rows["trial_number"].to_numpy(), return_inverse=True)
    finite = np.isfinite(values)
    sums = np.zeros((len(epochs), len(trials)))
    counts = np.zeros_like(sums)
    np.add.at(sums, (e_at[finite], t_at[finite]), values[finite])
    np.add.at(counts, (e_at[finite], t_at[finite]), 1.0)
    table = np.divide(sums, counts, out=np.full_like(sums, np.nan), where=counts > 0)
    return pd.DataFrame(
        table,
        index=pd.Index(epochs, name="epoch"),
        columns=pd.Index(trials, name="trial_number"),
    )


def _diverged_marks(table: pd.DataFrame, diverged: pd.DataFrame) -> tuple[pd.Series, list[float]]:
    """Where to draw each diverged seed's ×: its epoch, at the curve's value then if finite,
    else at the floor it was scored at."""
    ys = []
    for trial in diverged.itertuples(index=False):
        column = table.get(trial.trial_number)
        y = np.nan if column is None else column.get(float(trial.diverged_epoch), np.nan)
        ys.append(y if np.isfinite(y) else float(trial.value))
    return diverged["diverged_epoch"].astype(float), ys


def _add_curve_group(
    fig: go.Figure,
    rows: pd.DataFrame,
    diverged: pd.DataFrame,
    optimizer: str,
    label: str,
    metric: str,
    col: int,
    showlegend: bool,
) -> None:
    """One configuration's learning curves in panel `col`: seed mean, seed range, × where a seed
    diverged. `label` names the configuration in the legend and the hover."""
    color = optimizer_color(optimizer)
    table = _curve_table(rows)
    epochs = table.index.to_numpy(dtype=float)
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
            y=table.mean(axis=1, skipna=True),
            mode="lines",
            name=optimizer,
            legendgroup=optimizer,
            showlegend=showlegend,
            line={"color": color, "width": 2.5},
            xaxis=f"x{axis}",
            yaxis=f"y{axis}",
            hovertemplate=(
                f"<b>{optimizer}</b><br>{label}<br>epoch %{{x}}<br>seed mean {metric}: "
                "%{y:.4g}<extra></extra>"
            ),
        )
    )
    diverged = diverged[diverged["diverged_epoch"].notna()]
    if diverged.empty:
        return
    xs, ys = _diverged_marks(table, diverged)
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            name="diverged (× at the epoch)",
            legendgroup="diverged",
            showlegend=False,
            marker={
                "symbol": DIVERGED_SYMBOL,
                "size": 11,
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


def _trials_of(
    analysis: StudyAnalysis, curves: pd.DataFrame, optimizer: str, config: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The curve rows and the diverged points of one configuration's seeds."""
    return _trials_of_many(analysis, curves, [(optimizer, config)]).get(
        (optimizer, config), (curves.iloc[:0], analysis.points.iloc[:0])
    )


def _trials_of_many(
    analysis: StudyAnalysis, curves: pd.DataFrame, wanted: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]]:
    """`_trials_of` for many (optimizer, configuration) pairs with one pass over `curves`: a
    join per configuration over a 10,000-trial study's curves made its page 9x slower."""
    points = analysis.points
    if points.empty or not wanted:
        return {}
    key = points["optimizer"].astype(str) + "\x00" + points["config"].astype(str)
    keys = {f"{o}\x00{c}": (o, c) for o, c in wanted}
    mine = points.assign(_key=key)[key.isin(list(keys))]
    trial_keys = mine[["study", "trial_number", "_key"]].drop_duplicates(["study", "trial_number"])
    rows = curves.merge(trial_keys, on=["study", "trial_number"], how="inner")
    out: dict[tuple[str, str], tuple[pd.DataFrame, pd.DataFrame]] = {}
    by_key = dict(iter(rows.groupby("_key", sort=False)))
    for k, part in mine.groupby("_key", sort=False):
        pair = keys[str(k)]
        found = by_key.get(k)
        curve_rows = found.drop(columns="_key") if found is not None else curves.iloc[:0]
        out[pair] = (curve_rows, part[part["outcome"] == "diverged"].drop(columns="_key"))
    return out


def _finish_curves(
    fig: go.Figure,
    wanted: pd.DataFrame,
    metric: str,
    settings: AnalysisSettings,
    subplots: bool = True,
) -> None:
    last = float(wanted["epoch"].max()) if not wanted.empty else 1.0
    step = next((d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500) if last / d <= 6), 1000)
    fig.update_xaxes(title={"text": "epoch"}, tick0=0, dtick=step)
    fig.update_yaxes(**_metric_axis(metric, settings), **({"col": 1} if subplots else {}))
    if metric.endswith("loss"):
        fig.update_yaxes(type="log")


def learning_curve_figure(
    analysis: StudyAnalysis, curves: pd.DataFrame, metric: str | None = None
) -> go.Figure:
    """Learning curves of the best, divergence-boundary and lr = 1 configurations.

    Line: seed mean per epoch; band: range over seeds; ×: the epoch where a seed diverged. An
    optimizer missing from a panel has no such configuration (no divergence boundary, no lr = 1).
    """
    settings = analysis.settings
    metric = metric or settings.metric
    title = f"Learning curves ({metric.replace('_', ' ')})"
    picks = analysis.picks
    if picks.empty or curves.empty:
        return empty_figure(title, "No learning curves recorded for the picked configurations.")
    roles = [r for r in ROLE_TEXT if (picks["role"] == r).any()]
    optimizers = list(dict.fromkeys(picks["optimizer"].astype(str)))
    subtitles = []
    for role in roles:
        absent = [
            o for o in optimizers if not ((picks["role"] == role) & (picks["optimizer"] == o)).any()
        ]
        subtitles.append(
            ROLE_TEXT[role]
            + (f"<br><sup>no {ROLE_TEXT[role]}: {', '.join(absent)}</sup>" if absent else "")
        )
    fig = make_subplots(
        rows=1,
        cols=len(roles),
        shared_yaxes=True,
        subplot_titles=subtitles,
        horizontal_spacing=0.04,
    )
    wanted = curves[curves["metric"] == metric]
    shown_legend: set[str] = set()
    found = _trials_of_many(
        analysis, wanted, [(str(p.optimizer), str(p.config)) for p in picks.itertuples()]
    )
    for col, role in enumerate(roles, start=1):
        for pick in picks[picks["role"] == role].itertuples(index=False):
            optimizer = str(pick.optimizer)
            rows, diverged = found.get((optimizer, str(pick.config)), (wanted.iloc[:0], None))
            if rows.empty or diverged is None:
                continue
            _add_curve_group(
                fig,
                rows,
                diverged,
                optimizer,
                f"{ROLE_TEXT[role]}: {pick.config}",
                metric,
                col,
                optimizer not in shown_legend,
            )
            shown_legend.add(optimizer)
    _finish_curves(fig, wanted, metric, settings)
    _layout(
        fig,
        title,
        "line: seed mean, band: range over seeds, ×: epoch a seed diverged; hover a line for "
        "its configuration",
        height=420,
    )
    if any("<br>" in text for text in subtitles):  # a panel title of two lines needs the room
        fig.update_layout(margin={"t": 110}, height=450)
    return fig


def lr_curve_configs(
    analysis: StudyAnalysis, defaults: dict[str, dict[str, Any]] | None = None
) -> dict[tuple[str, float], str]:
    """Which configuration stands for each (optimizer, lr): the one with every other
    hyperparameter at its default when the grid has it (the paper's α sweep), else the best at
    that lr (the profile's configuration)."""
    out: dict[tuple[str, float], str] = {}
    table = analysis.sensitivity
    rows = table[table["hyperparameter"] == "lr"] if not table.empty else table
    for row in rows.itertuples(index=False):
        optimizer, lr = str(row.optimizer), float(row.value)
        at_default = default_config(analysis, optimizer, lr, (defaults or {}).get(optimizer))
        out[(optimizer, lr)] = at_default if at_default is not None else str(row.profile_config)
    return out


def default_config(
    analysis: StudyAnalysis, optimizer: str, lr: float, defaults: dict[str, Any] | None
) -> str | None:
    """The configuration id with `lr` and every other searched hyperparameter at its default,
    or None when the grid does not hold it (or the defaults are unknown)."""
    configs = analysis.configs
    hps = [h for h in analysis.hyperparameters.get(optimizer, []) if h != "lr"]
    if configs.empty or "lr" not in configs or (hps and not defaults):
        return None
    mask = (configs["optimizer"] == optimizer) & np.isclose(configs["lr"].astype(float), lr)
    for h in hps:
        if h not in configs or h not in (defaults or {}):
            return None
        mask &= np.isclose(configs[h].astype(float), float((defaults or {})[h]))
    found = configs.loc[mask, "config"]
    return str(found.iloc[0]) if len(found) else None


def lr_curves_figure(
    analysis: StudyAnalysis,
    curves: pd.DataFrame,
    configs: dict[tuple[str, float], str],
    metric: str | None = None,
) -> go.Figure:
    """The paper's α sweep: one panel per lr, every optimizer overlaid (seed mean, seed range,
    × where a seed diverged), each at the configuration `configs` names for it."""
    settings = analysis.settings
    metric = metric or settings.metric
    title = f"Learning curves at each lr ({metric.replace('_', ' ')})"
    if not configs or curves.empty:
        return empty_figure(title, "No learning curves, or no optimizer searched lr.")
    every = sorted({lr for _, lr in configs})
    lrs = lr_panels(every)
    configs = {key: config for key, config in configs.items() if key[1] in lrs}
    fig = make_subplots(
        rows=1,
        cols=len(lrs),
        shared_yaxes=True,
        subplot_titles=[f"lr = {grid_text(lr)}" for lr in lrs],
        horizontal_spacing=0.02,
    )
    wanted = curves[curves["metric"] == metric]
    shown_legend: set[str] = set()
    found = _trials_of_many(analysis, wanted, [(o, c) for (o, _), c in configs.items()])
    for (optimizer, lr), config in configs.items():
        rows, diverged = found.get((optimizer, config), (wanted.iloc[:0], None))
        if rows.empty or diverged is None:
            continue
        _add_curve_group(
            fig,
            rows,
            diverged,
            optimizer,
            config,
            metric,
            lrs.index(lr) + 1,
            optimizer not in shown_legend,
        )
        shown_legend.add(optimizer)
    _finish_curves(fig, wanted, metric, settings)
    shown = "" if len(lrs) == len(every) else f"{len(lrs)} of the {len(every)} lr values; "
    return _layout(
        fig,
        title,
        f"{shown}each optimizer with its other hyperparameters at their defaults where the grid "
        "has them, else tuned at that lr; band: range over seeds, ×: epoch a seed diverged",
        height=380,
    )


MAX_LR_PANELS = 8


def lr_panels(lrs: Sequence[float], most: int = MAX_LR_PANELS) -> list[float]:
    """The lr values that get a learning-curve panel: all of them up to `most`, else `most`
    spread evenly over the sorted grid, the smallest, the largest and lr = 1 always among them
    (fifty panels side by side are unreadable, and plotly spends a second laying them out)."""
    values = sorted(lrs)
    if len(values) <= most:
        return values
    picked = {values[round(i)] for i in np.linspace(0, len(values) - 1, most)}
    ones = [v for v in values if np.isclose(v, 1.0)]
    if ones and ones[0] not in picked:
        inner = picked - {values[0], values[-1]}
        nearest = min(inner, key=lambda v: abs(np.log(v)) if v > 0 else np.inf)
        picked = (picked - {nearest}) | {ones[0]}
    return sorted(picked)


def config_curves_figure(
    analysis: StudyAnalysis, curves: pd.DataFrame, optimizer: str, config: str
) -> go.Figure:
    """Every seed of one configuration as its own line (the drill-down's picture)."""
    settings = analysis.settings
    metric = settings.metric
    title = f"{optimizer}: {config}"
    rows, diverged = _trials_of(analysis, curves[curves["metric"] == metric], optimizer, config)
    if rows.empty:
        return empty_figure(title, "No learning curves recorded for this configuration.")
    fig = go.Figure()
    table = _curve_table(rows)
    seeds = analysis.points.set_index(["study", "trial_number"])["seed"]
    studies = rows.drop_duplicates("trial_number").set_index("trial_number")["study"]
    for index, trial in enumerate(table.columns):
        seed = seeds.get((studies.get(trial), trial), "?")
        fig.add_trace(
            go.Scatter(
                x=table.index.to_numpy(dtype=float),
                y=table[trial],
                mode="lines",
                name=f"seed {seed}",
                line={"color": OKABE_ITO[index % len(OKABE_ITO)], "width": 2},
                hovertemplate=(
                    f"seed {seed}, trial {trial}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>"
                ),
            )
        )
    if not diverged.empty and diverged["diverged_epoch"].notna().any():
        marks = diverged[diverged["diverged_epoch"].notna()]
        xs, ys = _diverged_marks(table, marks)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name="diverged",
                marker={"symbol": DIVERGED_SYMBOL, "size": 12, "color": "#b00020"},
                hovertemplate="diverged at epoch %{x}<extra></extra>",
            )
        )
    _finish_curves(fig, rows, metric, settings, subplots=False)
    return _layout(fig, title, "one line per seed; ×: the epoch a seed diverged", height=340)


# -- the lr = 1 question ------------------------------------------------------------------------


@dataclass(frozen=True)
class LrOne:
    """One optimizer at lr = 1 against its best: tuned, and with the rest at the defaults."""

    optimizer: str
    best: Estimate
    best_config: str
    tuned: Estimate  # the profile at lr = 1: the other hyperparameters tuned
    tuned_config: str
    n_diverged: int  # diverged trials at lr = 1, every configuration
    n_trials: int
    default: Estimate | None  # lr = 1 with every other hyperparameter at its default
    default_config: str | None
    default_diverged: int
    default_seeds: int
    # False when this process knows no defaults for the optimizer (a plugin neither registered
    # here nor recorded with the study): `default` is then None for that reason, not the grid's.
    defaults_known: bool = True
    tuned_diverged: int = 0  # diverged seeds of `tuned_config`
    tuned_seeds: int = 0


def lr_one_records(
    analysis: StudyAnalysis, defaults: dict[str, dict[str, Any]] | None = None
) -> list[LrOne]:
    """Every optimizer whose lr grid holds 1, read from the analysis tables (nothing computed):
    the best (`optimizers`), the profile at lr = 1 (`sensitivity`) and the configuration at the
    defaults (`configs`)."""
    table = analysis.sensitivity
    if table.empty:
        return []
    rows = table[(table["hyperparameter"] == "lr") & np.isclose(table["value"].astype(float), 1.0)]
    joint = analysis.optimizers.set_index("optimizer") if not analysis.optimizers.empty else None
    out = []
    for row in rows.itertuples(index=False):
        optimizer = str(row.optimizer)
        if joint is None or optimizer not in joint.index:
            continue
        top = joint.loc[optimizer]
        others = [h for h in analysis.hyperparameters.get(optimizer, []) if h != "lr"]
        known = not others or optimizer in (defaults or {})
        config = default_config(analysis, optimizer, 1.0, (defaults or {}).get(optimizer))
        default, diverged, seeds = None, 0, 0
        configs = analysis.configs
        tuned_at = configs[
            (configs["optimizer"] == optimizer) & (configs["config"] == str(row.profile_config))
        ]
        tuned_diverged = int(tuned_at["n_diverged"].iloc[0]) if len(tuned_at) else 0
        tuned_seeds = int(tuned_at["n_seeds"].iloc[0]) if len(tuned_at) else 0
        if config is not None:
            at = configs[(configs["optimizer"] == optimizer) & (configs["config"] == config)]
            first = at.iloc[0]
            default = Estimate(
                float(first["mean"]),
                float(first.get("mean_low", math.nan)),
                float(first.get("mean_high", math.nan)),
            )
            diverged, seeds = int(first.get("n_diverged", 0)), int(first.get("n_seeds", 0))
        out.append(
            LrOne(
                optimizer=optimizer,
                best=Estimate(
                    float(top["best"]),
                    float(top.get("best_low", math.nan)),
                    float(top.get("best_high", math.nan)),
                ),
                best_config=str(top.get("best_config", "")),
                tuned=Estimate(float(row.profile), float(row.profile_low), float(row.profile_high)),
                tuned_config=str(row.profile_config),
                n_diverged=int(row.n_diverged),
                n_trials=int(row.n_trials),
                default=default,
                default_config=config,
                default_diverged=diverged,
                default_seeds=seeds,
                defaults_known=known,
                tuned_diverged=tuned_diverged,
                tuned_seeds=tuned_seeds,
            )
        )
    return out


def unknown_defaults_text(records: list[LrOne]) -> str:
    """The optimizers whose defaults this process does not know, in words ("" when none)."""
    names = [r.optimizer for r in records if not r.defaults_known]
    if not names:
        return ""
    listed = ", ".join(f"`{n}`" for n in names)
    return f"defaults unknown in this process for {listed} (not registered here), so not drawn"


LR_ONE_SETTINGS = (
    ("best", "best configuration (any lr)", "diamond", -0.25),
    ("tuned", "lr = 1, others tuned", "circle", 0.0),
    ("default", "lr = 1, others at defaults", "square", 0.25),
)


def lr_one_figure(analysis: StudyAnalysis, records: list[LrOne]) -> go.Figure:
    """Does lr = 1 fail? Per optimizer: its best, lr = 1 tuned and lr = 1 at the defaults, each
    with its 95 % interval, on one axis with the floor diverged runs are scored at."""
    settings = analysis.settings
    title = "Does lr = 1 fail?"
    if not records:
        return empty_figure(title, "No optimizer searched lr = 1.")
    fig = go.Figure()
    names = [r.optimizer for r in records]
    extent: list[float] = []  # every interval's ends: the axis shows them and the texts
    for key, label, symbol, offset in LR_ONE_SETTINGS:
        xs, ys, lows, highs, colors, texts, hovers = [], [], [], [], [], [], []
        for i, record in enumerate(records):
            estimate: Estimate | None = getattr(record, key)
            if estimate is None or not math.isfinite(estimate.value):
                continue
            config = getattr(record, f"{key}_config") or ""
            xs.append(estimate.value)
            ys.append(i + offset)
            lows.append(
                max(0.0, estimate.value - estimate.low) if math.isfinite(estimate.low) else 0
            )
            highs.append(
                max(0.0, estimate.high - estimate.value) if math.isfinite(estimate.high) else 0
            )
            colors.append(optimizer_color(record.optimizer))
            texts.append(format_metric(estimate.value, settings))
            hovers.append(f"<b>{record.optimizer}</b>: {label}<br>config: {config}")
        labels_at = [x + high for x, high in zip(xs, highs, strict=True)]
        extent += labels_at + [x - low for x, low in zip(xs, lows, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                name=label,
                marker={"symbol": symbol, "size": 11, "color": colors, "line": {"width": 0}},
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": highs,
                    "arrayminus": lows,
                    "color": "#888",
                    "thickness": 1.2,
                    "width": 3,
                },
                customdata=hovers,
                hovertemplate="%{customdata}<br>%{x:.4g}<extra></extra>",
            )
        )
        # The value written past the end of its interval, so no bar runs through it (an
        # invisible marker keeps it clear of a marker with no interval, as at the floor).
        fig.add_trace(
            go.Scatter(
                x=labels_at,
                y=ys,
                mode="markers+text",
                text=texts,
                textposition="middle right",
                textfont={"size": 11},
                marker={"size": 11, "opacity": 0},
                showlegend=False,
                hoverinfo="skip",
                cliponaxis=False,
            )
        )
    floors = analysis.points.loc[analysis.points["outcome"] == "diverged", "value"].astype(float)
    if len(floors):
        floor = float(floors.median())
        extent.append(floor)
        line = {"dash": "dot", "color": "#b00020", "width": 1}
        fig.add_vline(x=floor, line=line)
        # Named in the legend, not written over the markers that sit on it.
        fig.add_trace(
            go.Scatter(x=[None], y=[None], mode="lines", line=line, name="floor: diverged runs")
        )
    fig.update_yaxes(
        tickvals=list(range(len(names))),
        ticktext=names,
        range=[len(names) - 0.5, -0.5],
        showgrid=False,
    )
    fig.update_xaxes(**_metric_axis(settings.metric, settings))
    if extent:  # room right of the largest interval for its text ("63.8 %")
        low, high = min(extent), max(extent)
        span = max(high - low, 1e-9)
        fig.update_xaxes(range=[low - 0.04 * span, high + 0.12 * span])
    unknown = unknown_defaults_text(records)
    return _layout(
        fig,
        title,
        "marker: seed mean, bar: 95 % CI; defaults: the optimizer's registered "
        "defaults for every hyperparameter but lr" + (f"<br>{unknown}" if unknown else ""),
        # Three rows per optimizer, each a line of text apart.
        height=130 + 54 * len(records) + (16 if unknown else 0),
    )
