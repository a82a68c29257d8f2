"""Learning curves: the picked configurations (best, divergence boundary, lr = 1), the paper's
α sweep (one panel per lr) and one configuration's seeds (the drill-down's picture).

`curve_group` reads one configuration's curves from `StudyData.curves` into a `CurveGroup`
(seed mean, seed range, where each diverged seed stopped; no Plotly), and the figures draw
groups into panels. Which configuration stands for each lr is `dashboards.lr_one`'s choice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.plotting import band, empty_figure, figure, grid_text, metric_axis, panels, trace
from dashboards.theme import DIVERGED_SYMBOL, OKABE_ITO, optimizer_color
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis

ROLE_TEXT = {
    "best": "best configuration",
    "boundary": "divergence boundary",
    "lr=1": "lr = 1",
}
MAX_LR_PANELS = 8


@dataclass(frozen=True)
class CurveGroup:
    """One configuration's learning curves over its seeds."""

    optimizer: str
    config: str
    epochs: np.ndarray
    table: pd.DataFrame  # epoch x trial_number, NaN where a seed has no finite value
    diverged_epochs: np.ndarray  # per diverged seed: the epoch it diverged at ...
    diverged_values: np.ndarray  # ... and where its × goes (the curve then, else the floor)
    diverged_seeds: tuple[str, ...]

    @property
    def mean(self) -> np.ndarray:
        return self.table.mean(axis=1, skipna=True).to_numpy(dtype=float)


def curve_table(rows: pd.DataFrame) -> pd.DataFrame:
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


def curve_groups(
    analysis: StudyAnalysis,
    curves: pd.DataFrame,
    metric: str,
    wanted: Sequence[tuple[str, str]],
) -> dict[tuple[str, str], CurveGroup]:
    """The `CurveGroup` of each (optimizer, configuration) with recorded curves of `metric`,
    in one pass over `curves`: a join per configuration over a 10,000-trial study's curves
    made its page 9x slower. The trials are picked by number first (a cheap integer test over
    every curve row), so the metric and the join only see their rows."""
    points = analysis.points
    if points.empty or not wanted or curves.empty:
        return {}
    key = points["optimizer"].astype(str) + "\x00" + points["config"].astype(str)
    keys = {f"{o}\x00{c}": (o, c) for o, c in wanted}
    mine = points.assign(_key=key)[key.isin(list(keys))]
    trial_keys = mine[["study", "trial_number", "_key"]].drop_duplicates(["study", "trial_number"])
    near = curves[curves["trial_number"].isin(trial_keys["trial_number"].unique())]
    near = near[near["metric"] == metric]
    rows = near.merge(trial_keys, on=["study", "trial_number"], how="inner")
    by_key = dict(iter(rows.groupby("_key", sort=False)))
    out: dict[tuple[str, str], CurveGroup] = {}
    for k, part in mine.groupby("_key", sort=False):
        found = by_key.get(k)
        if found is None or found.empty:
            continue
        optimizer, config = keys[str(k)]
        table = curve_table(found)
        diverged = part[(part["outcome"] == "diverged") & part["diverged_epoch"].notna()]
        at, ys = _diverged_marks(table, diverged)
        out[(optimizer, config)] = CurveGroup(
            optimizer=optimizer,
            config=config,
            epochs=table.index.to_numpy(dtype=float),
            table=table,
            diverged_epochs=at,
            diverged_values=ys,
            diverged_seeds=tuple(diverged["seed"].astype(str)),
        )
    return out


def _diverged_marks(table: pd.DataFrame, diverged: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Where to draw each diverged seed's ×: its epoch, at the curve's value then if finite,
    else at the floor it was scored at."""
    epochs = diverged["diverged_epoch"].to_numpy(dtype=float)
    floors = diverged["value"].to_numpy(dtype=float)
    row = table.index.get_indexer(epochs)
    col = table.columns.get_indexer(diverged["trial_number"])
    found = (row >= 0) & (col >= 0)
    at = np.full(len(epochs), np.nan)
    at[found] = table.to_numpy(dtype=float)[row[found], col[found]]
    return epochs, np.where(np.isfinite(at), at, floors)


def _group_traces(
    group: CurveGroup, label: str, metric: str, col: int, showlegend: bool
) -> list[dict[str, Any]]:
    """One configuration's learning curves in panel `col`: seed mean, seed range, × where a seed
    diverged. `label` names the configuration in the legend and the hover."""
    optimizer = group.optimizer
    color = optimizer_color(optimizer)
    axis = "" if col == 1 else str(col)
    axes = {"xaxis": f"x{axis}", "yaxis": f"y{axis}"}
    traces = [
        band(
            group.epochs,
            group.table.min(axis=1),
            group.table.max(axis=1),
            color,
            f"{optimizer} seed range",
            optimizer,
            xaxis=axes["xaxis"],
            yaxis=axes["yaxis"],
        ),
        trace(
            "scatter",
            x=group.epochs,
            y=group.mean,
            mode="lines",
            name=optimizer,
            legendgroup=optimizer,
            showlegend=showlegend,
            line={"color": color, "width": 2.5},
            hovertemplate=(
                f"<b>{optimizer}</b><br>{label}<br>epoch %{{x}}<br>seed mean {metric}: "
                "%{y:.4g}<extra></extra>"
            ),
            **axes,
        ),
    ]
    if len(group.diverged_epochs):
        traces.append(
            trace(
                "scatter",
                x=group.diverged_epochs,
                y=group.diverged_values,
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
                customdata=np.stack(
                    [list(group.diverged_seeds), [group.config] * len(group.diverged_seeds)],
                    axis=-1,
                ),
                hovertemplate=(
                    f"<b>{optimizer}</b> diverged<br>config: %{{customdata[1]}}<br>"
                    "seed: %{customdata[0]}<br>epoch %{x}<extra></extra>"
                ),
                **axes,
            )
        )
    return traces


def _axes(
    layout: dict[str, Any], panels: int, last: float, metric: str, settings: AnalysisSettings
) -> dict[str, Any]:
    """`layout` with epoch ticks at a round step (about six of them) on every panel, the
    metric's axis on the first (log for a loss)."""
    step = next((d for d in (1, 2, 5, 10, 20, 50, 100, 200, 500) if last / d <= 6), 1000)
    out = dict(layout)
    for i in range(panels):
        suffix = "" if i == 0 else str(i + 1)
        x = {"title": {"text": "epoch"}, "tick0": 0, "dtick": step}
        y: dict[str, Any] = metric_axis(metric, settings) if i == 0 else {}
        if metric.endswith("loss"):
            y["type"] = "log"
        out[f"xaxis{suffix}"] = {**out.get(f"xaxis{suffix}", {}), **x}
        out[f"yaxis{suffix}"] = {**out.get(f"yaxis{suffix}", {}), **y}
    return out


def _last_epoch(groups: Iterable[CurveGroup]) -> float:
    return max((float(g.epochs.max()) for g in groups if len(g.epochs)), default=1.0)


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
    data: list[dict[str, Any]] = []
    shown_legend: set[str] = set()
    groups = curve_groups(
        analysis, curves, metric, [(str(p.optimizer), str(p.config)) for p in picks.itertuples()]
    )
    for col, role in enumerate(roles, start=1):
        for pick in picks[picks["role"] == role].itertuples(index=False):
            optimizer = str(pick.optimizer)
            group = groups.get((optimizer, str(pick.config)))
            if group is None:
                continue
            label = f"{ROLE_TEXT[role]}: {pick.config}"
            data += _group_traces(group, label, metric, col, optimizer not in shown_legend)
            shown_legend.add(optimizer)
    layout = _axes(
        panels(subtitles, 0.04), len(roles), _last_epoch(groups.values()), metric, settings
    )
    tall = any("<br>" in text for text in subtitles)  # a panel title of two lines needs room
    if tall:
        layout["margin"] = {"t": 110}
    return figure(
        data,
        title,
        "line: seed mean, band: range over seeds, ×: epoch a seed diverged; hover a line for "
        "its configuration",
        height=450 if tall else 420,
        layout=layout,
    )


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
    data: list[dict[str, Any]] = []
    shown_legend: set[str] = set()
    groups = curve_groups(analysis, curves, metric, [(o, c) for (o, _), c in configs.items()])
    for (optimizer, lr), config in configs.items():
        group = groups.get((optimizer, config))
        if group is None:
            continue
        col = lrs.index(lr) + 1
        data += _group_traces(group, config, metric, col, optimizer not in shown_legend)
        shown_legend.add(optimizer)
    titles = [f"lr = {grid_text(lr)}" for lr in lrs]
    layout = _axes(panels(titles, 0.02), len(lrs), _last_epoch(groups.values()), metric, settings)
    shown = "" if len(lrs) == len(every) else f"{len(lrs)} of the {len(every)} lr values; "
    return figure(
        data,
        title,
        f"{shown}each optimizer with its other hyperparameters at their defaults where the grid "
        "has them, else tuned at that lr; band: range over seeds, ×: epoch a seed diverged",
        height=380,
        layout=layout,
    )


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
    group = curve_groups(analysis, curves, metric, [(optimizer, config)]).get((optimizer, config))
    if group is None:
        return empty_figure(title, "No learning curves recorded for this configuration.")
    data: list[dict[str, Any]] = []
    mine = analysis.points[
        (analysis.points["optimizer"] == optimizer) & (analysis.points["config"] == config)
    ]
    seeds = mine.drop_duplicates("trial_number").set_index("trial_number")["seed"]
    for index, trial in enumerate(group.table.columns):
        seed = seeds.get(trial, "?")
        data.append(
            trace(
                "scatter",
                x=group.epochs,
                y=group.table[trial],
                mode="lines",
                name=f"seed {seed}",
                line={"color": OKABE_ITO[index % len(OKABE_ITO)], "width": 2},
                hovertemplate=(
                    f"seed {seed}, trial {trial}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>"
                ),
            )
        )
    if len(group.diverged_epochs):
        data.append(
            trace(
                "scatter",
                x=group.diverged_epochs,
                y=group.diverged_values,
                mode="markers",
                name="diverged",
                marker={"symbol": DIVERGED_SYMBOL, "size": 12, "color": "#b00020"},
                hovertemplate="diverged at epoch %{x}<extra></extra>",
            )
        )
    layout = _axes({}, 1, float(group.epochs.max()), metric, settings)
    return figure(
        data, title, "one line per seed; ×: the epoch a seed diverged", height=340, layout=layout
    )
