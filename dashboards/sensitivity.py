"""Sensitivity curves: per hyperparameter, every optimizer's profile and slice on one axis.

`sensitivity_record` reads what one figure shows from the analysis (a `SensitivityRecord`, no
Plotly), `sensitivity_figure` draws it. The profile (best seed mean over the other
hyperparameters, `P_h`) is shown; a button switches to the one-factor slice through the best
configuration (`S_h`). A track above the plot marks, per optimizer, the grid values bounded
within the claims' margin m of its best, by the test the insensitivity verdict itself uses (the
regret's upper bound <= m), so the strip and the claim never speak of two tolerances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.plotting import band as band_trace
from dashboards.plotting import (
    click_data,
    empty_figure,
    figure,
    hyperparameter_title,
    log_axis,
    log_ticks,
    metric_axis,
    share_text,
    trace,
)
from dashboards.theme import DIVERGED_SYMBOL, optimizer_color
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis
from hpsearch.units import format_points

Curve = Literal["profile", "slice"]
CURVES: tuple[Curve, ...] = ("profile", "slice")
CURVE_TEXT = {"profile": "profile (tuned over the rest)", "slice": "slice through best"}
SWITCH_TEXT = {"profile": "profile: others tuned", "slice": "slice: others at the best"}


@dataclass(frozen=True)
class SensitivityCurve:
    """One optimizer's profile or slice over the grid of one hyperparameter, with the seeds of
    the configurations drawn and the grid values within m of its best."""

    optimizer: str
    curve: Curve
    values: np.ndarray  # the grid, ascending
    mean: np.ndarray  # seed mean of the configuration drawn at each value
    low: np.ndarray  # its 95 % band (selection-aware for the profile, Student t for the slice)
    high: np.ndarray
    configs: tuple[str, ...]  # the configuration drawn at each value
    divergence_rate: np.ndarray  # every configuration at each value
    n_trials: np.ndarray
    within: np.ndarray  # bool: bounded within m of the optimizer's best (see `within_margin`)
    open: np.ndarray  # bool: neither bounded within m nor surely beyond it
    seeds: pd.DataFrame  # `StudyAnalysis.points` of the configurations drawn


@dataclass(frozen=True)
class DivergedAt:
    """Grid values where any trial of any configuration of one optimizer diverged."""

    optimizer: str
    values: np.ndarray
    n_diverged: np.ndarray
    n_trials: np.ndarray
    rate: np.ndarray
    floor: float  # the value diverged trials are scored at


@dataclass(frozen=True)
class SensitivityRecord:
    """Everything one sensitivity figure draws."""

    hyperparameter: str
    settings: AnalysisSettings
    log_x: bool
    margin: float  # m, the claims' tolerance, metric units: the track's threshold
    optimizers: tuple[str, ...]
    curves: tuple[SensitivityCurve, ...]  # per optimizer: its profile, then its slice
    diverged: tuple[DivergedAt, ...]


def claim_margin(analysis: StudyAnalysis, hyperparameter: str) -> float:
    """The tolerance m the claims on `hyperparameter` are decided with, metric units: the one
    their verdicts record (one m for every claim of a study), else the analysis's."""
    settings = analysis.settings
    for verdict in analysis.verdicts:
        if verdict.hyperparameter == hyperparameter and "tolerance_points" in verdict.settings:
            return float(verdict.settings["tolerance_points"]) * settings.points
    return settings.tolerance


def _within(
    rows: pd.DataFrame, curve: Curve, settings: AnalysisSettings, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """(within m, open) per grid value. The profile: the verdict's own test on the regret's
    bounds (upper bound <= m: within; lower bound > m: beyond). The slice has no claim and no
    regret bounds: within when the far end of its 95 % interval is within m of the best."""
    in_range = rows["in_range"].astype(bool).to_numpy() if "in_range" in rows else True
    if curve == "profile":
        high = rows["regret_high"].astype(float).to_numpy()
        low = rows["regret_low"].astype(float).to_numpy()
        within = high <= margin + 1e-12
        beyond = low > margin
    else:
        sign = 1.0 if settings.direction == "maximize" else -1.0
        best = float(np.nanmax(sign * rows["profile"].astype(float).to_numpy()))
        far = rows["slice_low" if sign > 0 else "slice_high"].astype(float).to_numpy()
        near = rows["slice_high" if sign > 0 else "slice_low"].astype(float).to_numpy()
        within = sign * far >= best - margin - 1e-12
        beyond = sign * near < best - margin
    return within & in_range, ~within & ~beyond & in_range


def sensitivity_records(
    analysis: StudyAnalysis, hyperparameters: Sequence[str]
) -> dict[str, SensitivityRecord | None]:
    """`sensitivity_record` of each hyperparameter, the seeds grouped by optimizer once."""
    points = analysis.points
    seeds_of = {
        str(o): p.assign(config=p["config"].astype(str)) for o, p in points.groupby("optimizer")
    }
    return {hp: _record(analysis, hp, seeds_of) for hp in hyperparameters}


def sensitivity_record(analysis: StudyAnalysis, hyperparameter: str) -> SensitivityRecord | None:
    """What the sensitivity figure of `hyperparameter` draws; None when no optimizer searched
    it over several values."""
    return sensitivity_records(analysis, [hyperparameter])[hyperparameter]


def _record(
    analysis: StudyAnalysis, hyperparameter: str, seeds_of: dict[str, pd.DataFrame]
) -> SensitivityRecord | None:
    settings = analysis.settings
    table = analysis.sensitivity
    rows = table[table["hyperparameter"] == hyperparameter]
    if rows.empty:
        return None
    margin = claim_margin(analysis, hyperparameter)
    points = analysis.points
    optimizers = tuple(dict.fromkeys(str(o) for o in rows["optimizer"]))
    curves: list[SensitivityCurve] = []
    diverged: list[DivergedAt] = []
    for optimizer in optimizers:
        mine = rows[rows["optimizer"] == optimizer].sort_values("value")
        for curve in CURVES:
            configs = tuple(mine[f"{curve}_config"].astype(str))
            theirs = seeds_of.get(optimizer, points.iloc[:0])
            seeds = theirs[theirs["config"].isin(configs)]
            if hyperparameter in seeds:
                seeds = seeds[seeds[hyperparameter].notna()]
            within, undecided = _within(mine, curve, settings, margin)
            curves.append(
                SensitivityCurve(
                    optimizer=optimizer,
                    curve=curve,
                    values=mine["value"].astype(float).to_numpy(),
                    mean=mine[curve].astype(float).to_numpy(),
                    low=mine[f"{curve}_low"].astype(float).to_numpy(),
                    high=mine[f"{curve}_high"].astype(float).to_numpy(),
                    configs=configs,
                    divergence_rate=mine["divergence_rate"].astype(float).to_numpy(),
                    n_trials=mine["n_trials"].astype(int).to_numpy(),
                    within=within,
                    open=undecided,
                    seeds=seeds,
                )
            )
        hit = mine[mine["n_diverged"].astype(float) > 0]
        theirs = seeds_of.get(optimizer, points.iloc[:0])
        floors = theirs.loc[theirs["outcome"] == "diverged", "value"].astype(float)
        if len(hit) and len(floors):
            diverged.append(
                DivergedAt(
                    optimizer=optimizer,
                    values=hit["value"].astype(float).to_numpy(),
                    n_diverged=hit["n_diverged"].astype(int).to_numpy(),
                    n_trials=hit["n_trials"].astype(int).to_numpy(),
                    rate=hit["divergence_rate"].astype(float).to_numpy(),
                    floor=float(floors.median()),
                )
            )
    return SensitivityRecord(
        hyperparameter=hyperparameter,
        settings=settings,
        log_x=log_axis(analysis, hyperparameter),
        margin=margin,
        optimizers=optimizers,
        curves=tuple(curves),
        diverged=tuple(diverged),
    )


def sensitivity_figure(
    analysis: StudyAnalysis, hyperparameter: str, record: SensitivityRecord | None = None
) -> go.Figure:
    """Sensitivity of each optimizer to one hyperparameter, all optimizers on one axis (see the
    module docstring): curves with their 95 % bands, the drawn configurations' seeds as dots,
    diverged seeds as "×" at the floor, and one labelled row per optimizer in the track."""
    record = record or sensitivity_record(analysis, hyperparameter)
    title = f"Sensitivity to {hyperparameter}"
    if record is None:
        return empty_figure(title, f"No optimizer searched `{hyperparameter}` over several values.")
    data: list[dict[str, Any]] = []
    visibility: dict[Curve, list[bool]] = {"profile": [], "slice": []}
    legend_once: set[tuple[str, str]] = set()  # (curve, group) already in the legend
    count = len(record.optimizers)
    for curve in record.curves:
        index = record.optimizers.index(curve.optimizer)
        traces = _curve_traces(record, curve, index)
        for seeds in traces[2:-1]:  # the seeds: one legend entry per curve and group
            group = str(seeds["legendgroup"])
            seeds["showlegend"] = (curve.curve, group) not in legend_once
            legend_once.add((curve.curve, group))
        data += traces
        for name in CURVES:
            visibility[name] += [name == curve.curve] * len(traces)
        if curve.curve == CURVES[-1]:  # after both curves: every configuration's divergences
            at = next((d for d in record.diverged if d.optimizer == curve.optimizer), None)
            if at is not None:
                shift = 10 ** (0.025 * (index - (count - 1) / 2)) if record.log_x else 1.0
                data.append(_diverged_trace(at, record.hyperparameter, shift))
                for name in CURVES:
                    visibility[name].append(True)
    diverged = [t for t in data if t.get("legendgroup") == "diverged"]
    if diverged and not any(t.get("showlegend") for t in diverged):  # no diverged seed drawn:
        diverged[0]["showlegend"] = True  # the any-configuration × still needs a legend entry
    return _draw(data, record, visibility)


def _curve_traces(
    record: SensitivityRecord, curve: SensitivityCurve, index: int
) -> list[dict[str, Any]]:
    """One curve's traces: band, line, seeds (dots, ×), its row of the track."""
    settings, hp, optimizer = record.settings, record.hyperparameter, curve.optimizer
    color = optimizer_color(optimizer)
    shown = curve.curve == "profile"
    line = trace(
        "scatter",
        x=curve.values,
        y=curve.mean,
        mode="lines+markers",
        name=optimizer,
        legendgroup=optimizer,
        line={"color": color, "width": 2.5},
        marker={"size": 7, "color": color},
        visible=shown,
        customdata=click_data(
            curve.configs,
            [optimizer] * len(curve.configs),
            share_text(curve.divergence_rate),
            [str(n) for n in curve.n_trials],
        ),
        hovertemplate=(
            f"<b>{optimizer}</b> {curve.curve}<br>{hp} = %{{x:g}}<br>"
            "config: %{customdata[0]}<br>"
            f"seed mean {settings.metric}: %{{y:.4g}}<br>"
            "diverged: %{customdata[2]} of %{customdata[3]} trials"
            "<br><i>click: the configuration's seeds</i><extra></extra>"
        ),
    )
    band = band_trace(
        curve.values, curve.low, curve.high, color, f"{optimizer} 95 % band", optimizer, shown
    )
    seeds = _seed_traces(record, curve, index)
    return [band, line, *seeds, _track_trace(record, curve, index)]


def _seed_traces(
    record: SensitivityRecord, curve: SensitivityCurve, index: int
) -> list[dict[str, Any]]:
    """Completed seeds as dots, diverged seeds as × at the floor (never hidden)."""
    seeds, hp, optimizer = curve.seeds, record.hyperparameter, curve.optimizer
    if seeds.empty or hp not in seeds:
        return []
    color = optimizer_color(optimizer)
    count = len(record.optimizers)
    x = seeds[hp].astype(float).to_numpy()
    # Spread optimizers and seeds a little sideways so overlapping points stay visible.
    seed_rank = pd.factorize(seeds["seed"])[0]
    offset = 0.025 * (index - (count - 1) / 2) + 0.006 * (seed_rank - seed_rank.mean())
    x = x * 10**offset if record.log_x else x + offset * (np.nanmax(np.abs(x)) or 1) * 0.5
    traces = []
    for outcome, symbol, size in (("completed", "circle", 6), ("diverged", DIVERGED_SYMBOL, 10)):
        mask = (seeds["outcome"] == outcome).to_numpy()
        if not mask.any():
            continue
        part = seeds[mask]
        traces.append(
            trace(
                "scatter",
                x=x[mask],
                y=part["value"].astype(float),
                mode="markers",
                name="seeds" if outcome == "completed" else "diverged seeds (× at the floor)",
                legendrank=1001 if outcome == "completed" else 1002,  # after the optimizers
                legendgroup="seeds" if outcome == "completed" else "diverged",
                showlegend=True,
                visible=curve.curve == "profile",
                marker={
                    "symbol": symbol,
                    "size": size,
                    "color": color,
                    "opacity": 0.55 if outcome == "completed" else 0.95,
                    "line": {"width": 1.5 if outcome == "diverged" else 0, "color": color},
                },
                customdata=click_data(
                    part["config"].astype(str),
                    [optimizer] * len(part),
                    part["seed"].astype(str),
                    part["outcome"].astype(str),
                    [format_value(float(v)) for v in part[hp]],
                    _epoch_text(part),
                ),
                hovertemplate=(
                    f"<b>{optimizer}</b> ({CURVE_TEXT[curve.curve]})<br>{hp} = "
                    "%{customdata[4]}<br>config: %{customdata[0]}<br>seed: %{customdata[2]}<br>"
                    "outcome: %{customdata[3]}%{customdata[5]}<br>"
                    f"{record.settings.metric}: %{{y:.4g}}<br>"
                    "<i>click: this configuration's seeds</i><extra></extra>"
                ),
            )
        )
    return traces


def _epoch_text(part: pd.DataFrame) -> list[str]:
    if "diverged_epoch" not in part:
        return [""] * len(part)
    return [f" at epoch {int(e)}" if pd.notna(e) else "" for e in part["diverged_epoch"]]


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


def _track_trace(record: SensitivityRecord, curve: SensitivityCurve, index: int) -> dict[str, Any]:
    """One optimizer's row of the "within m" track: thick segments over its values within m."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for first, last in _runs(curve.values, curve.within):
        if first == last:  # one grid value: a short segment around it
            first, last = (
                (first / 10**0.08, last * 10**0.08)
                if record.log_x
                else (first - 0.02 * abs(first or 1), last + 0.02 * abs(last or 1))
            )
        xs += [first, last, None]
        ys += [index, index, None]

    def listed(mask: np.ndarray) -> str:
        return ", ".join(format_value(v) for v in curve.values[mask]) or "none"

    m = format_points(record.margin, record.settings)
    return trace(
        "scatter",
        x=xs or [None],
        y=ys or [None],
        yaxis="y2",
        mode="lines",
        name=f"{curve.optimizer} within m ({curve.curve})",
        legendgroup=curve.optimizer,
        showlegend=False,
        visible=curve.curve == "profile",
        line={"color": optimizer_color(curve.optimizer), "width": 9},
        hovertemplate=(
            f"<b>{curve.optimizer}</b> within m = {m} of its best ({curve.curve}): "
            f"{listed(curve.within)}<br>not yet decided: {listed(curve.open)}<extra></extra>"
        ),
    )


def _diverged_trace(at: DivergedAt, hyperparameter: str, shift: float) -> dict[str, Any]:
    """One large × at the floor per grid value where any trial of any configuration diverged:
    the curves show one configuration per value; this keeps the divergences of all the others
    visible (never hidden), with the count in the hover."""
    color = optimizer_color(at.optimizer)
    return trace(
        "scatter",
        x=at.values * shift,
        y=np.full(len(at.values), at.floor),
        mode="markers",
        name=f"{at.optimizer}: trials diverged here (any config)",
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
                [str(n) for n in at.n_diverged],
                [str(n) for n in at.n_trials],
                share_text(at.rate),
                [format_value(float(v)) for v in at.values],
            ],
            axis=-1,
        ),
        hovertemplate=(
            f"<b>{at.optimizer}</b><br>{hyperparameter} = %{{customdata[3]}}<br>"
            "%{customdata[0]} of %{customdata[1]} trials diverged "
            "(%{customdata[2]}, all configurations)<br>scored at the floor %{y:.4g}"
            "<extra></extra>"
        ),
    )


def _draw(
    data: list[dict[str, Any]], record: SensitivityRecord, visibility: dict[Curve, list[bool]]
) -> go.Figure:
    """The traces with the profile / slice buttons, the track's axis above the plot, titles."""
    settings, count = record.settings, len(record.optimizers)
    every = np.concatenate([c.values for c in record.curves])
    layout = {
        "updatemenus": [
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
                        "label": SWITCH_TEXT[curve],
                        "method": "restyle",
                        "args": [{"visible": visibility[curve]}],
                    }
                    for curve in CURVES
                ],
            }
        ],
        "xaxis": {
            "type": "log" if record.log_x else "linear",
            "title": hyperparameter_title(
                record.hyperparameter, ", log scale" if record.log_x else ""
            ),
            **(log_ticks(every) if record.log_x else {}),
        },
        "yaxis": {"domain": [0.0, 0.8], **metric_axis(settings.metric, settings)},
        "yaxis2": {
            "domain": [0.84, 1.0],
            "range": [count - 0.5, -0.5],
            "tickvals": list(range(count)),
            "ticktext": list(record.optimizers),
            "showgrid": False,
            "zeroline": False,
            "ticks": "",
            "tickfont": {"size": 10},
            "title": {"text": "within m", "font": {"size": 10}},
        },
        "legend": {"y": 0.8, "yanchor": "top"},  # under the profile / slice buttons
    }
    subtitle = (
        "line: seed mean, band: 95 % CI (profile: selection-aware), dots: seeds, "
        "×: diverged at the floor; top track: values whose regret is bounded within the "
        f"claims' m = {format_points(record.margin, settings)} of the best"
    )
    return figure(
        data, f"Sensitivity to {record.hyperparameter}", subtitle, height=500, layout=layout
    )
