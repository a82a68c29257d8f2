"""Does lr = 1 fail? Per optimizer: its best, lr = 1 with the others tuned and lr = 1 with the
others at their registered defaults, each with its 95 % interval.

`lr_one_records` reads the `LrOne` records from the analysis tables (nothing computed),
`lr_one_figure` draws them. Which configuration stands for an optimizer at a given lr (its
defaults where the grid has them, else the profile's) is chosen here too (`lr_curve_configs`),
for the learning curves at each lr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboards.plotting import empty_figure, figure, metric_axis, trace, vline
from dashboards.theme import optimizer_color
from hpsearch.analysis.records import Estimate, StudyAnalysis
from hpsearch.units import format_metric


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
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
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
        data.append(
            trace(
                "scatter",
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
        data.append(
            trace(
                "scatter",
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
        layout.update(vline(floor, line))
        # Named in the legend, not written over the markers that sit on it.
        data.append(
            trace(
                "scatter", x=[None], y=[None], mode="lines", line=line, name="floor: diverged runs"
            )
        )
    layout["yaxis"] = {
        "tickvals": list(range(len(names))),
        "ticktext": names,
        "range": [len(names) - 0.5, -0.5],
        "showgrid": False,
    }
    layout["xaxis"] = metric_axis(settings.metric, settings)
    if extent:  # room right of the largest interval for its text ("63.8 %")
        low, high = min(extent), max(extent)
        span = max(high - low, 1e-9)
        layout["xaxis"]["range"] = [low - 0.04 * span, high + 0.12 * span]
    unknown = unknown_defaults_text(records)
    return figure(
        data,
        title,
        "marker: seed mean, bar: 95 % CI; defaults: the optimizer's registered "
        "defaults for every hyperparameter but lr" + (f"<br>{unknown}" if unknown else ""),
        # Three rows per optimizer, each a line of text apart.
        height=130 + 54 * len(records) + (16 if unknown else 0),
        layout=layout,
    )


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
