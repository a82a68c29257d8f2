"""What every figure of the page shares: units and axis texts, the layout, 95 % bands, and the
click contract between a figure and the drill-down.

Each figure family lives in its own module (`dashboards.sensitivity`, `heatmap`, `curves`,
`lr_one`, `summary_figures`, `parallel`) as a record computed from the analysis, then the
function that draws it. They compute no statistics — every number drawn is a column of a
`StudyAnalysis` table (or a learning curve from `StudyData.curves`) — so the dashboard, the HTML
report, the notebook and the tests see the same thing. Unlike Optuna's plots, nothing is dropped:
diverged trials are drawn as "×" at the floor they were scored at, and heatmaps show one cell per
grid point without interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.theme import FONT, OKABE_ITO, band_color
from hpsearch.analysis.grid import format_value
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis
from hpsearch.metrics import is_accuracy
from hpsearch.units import format_share, is_percent

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
_AXIS = {
    "gridcolor": "#EBF0F8",
    "zerolinecolor": "#EBF0F8",
    "linecolor": "#888",
    "ticks": "outside",
    "automargin": True,
}
# A small white template: plotly's "plotly_white" carries defaults for every trace type and
# costs ~50 ms per figure to copy; this is all our figures use.
TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "colorway": list(OKABE_ITO),
        "xaxis": _AXIS,
        "yaxis": _AXIS,
        "hovermode": "closest",
    }
)
TEMPLATE_JSON = TEMPLATE.to_plotly_json()


# -- the click contract ---------------------------------------------------------------------------

# A point that stands for a configuration carries `customdata` whose first two entries are the
# configuration id and its optimizer; the rest is the figure's own hover text. The drill-down
# (the app's and the report's) reads them through `clicked_configuration`, nowhere by position.
CLICK_CONFIG, CLICK_OPTIMIZER = 0, 1


def click_data(configs: Sequence[str], optimizers: Sequence[str], *hover: Sequence[str]) -> Any:
    """The `customdata` of clickable points: one row per point, config and optimizer first (a
    NumPy array of text: plotly copies it whole, not string by string)."""
    columns = [list(configs), list(optimizers), *(list(h) for h in hover)]
    return np.stack([np.asarray(c, dtype=str) for c in columns], axis=-1)


def clicked_configuration(custom: object) -> tuple[str, str] | None:
    """(optimizer, configuration) of a clicked point's `customdata`, or None when the point
    stands for no configuration (a band, a track, a point without data)."""
    if not isinstance(custom, list | tuple) or len(custom) <= CLICK_OPTIMIZER:
        return None
    return str(custom[CLICK_OPTIMIZER]), str(custom[CLICK_CONFIG])


# -- units and formatting -----------------------------------------------------------------------


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
    """The unit of a difference in the metric (regret, m)."""
    return "percentage points" if is_percent(settings) else metric_unit(settings.metric, settings)


def decade_text(value: float) -> str:
    """`1e-4`, `1e-3`, `0.01`, `0.1`, `1`, `10`, `1e3`: short, plain and unambiguous."""
    if 0.01 <= value < 1000:
        return f"{value:g}"
    exponent = math.log10(value)
    if math.isclose(exponent, round(exponent)):
        return f"1e{round(exponent)}"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def grid_text(value: float) -> str:
    """A grid value as an axis label: decades as `decade_text` writes them, others as `%g`."""
    if value > 0 and math.isfinite(value):
        exponent = math.log10(value)
        if math.isclose(exponent, round(exponent), abs_tol=1e-9):
            return decade_text(10.0 ** round(exponent))
    return format_value(value)


def share_text(values: pd.Series | Sequence[float]) -> list[str]:
    # Hover data is stacked into one string array, so numbers are formatted here.
    return [format_share(float(v)) for v in values]


def hyperparameter_title(name: str, suffix: str = "") -> dict[str, str]:
    return {"text": HYPERPARAMETER_TEXT.get(name, name) + suffix}


# -- axes and layout ----------------------------------------------------------------------------


def k_ticks(ks: pd.Series) -> dict[str, Any]:
    """1, 2, 5, 10, 20, 50, ... up to the largest k: plain labels on a log axis."""
    top = float(ks.max()) if len(ks) else 1.0
    ticks = [m * 10**e for e in range(0, 7) for m in (1, 2, 5) if m * 10**e <= top]
    return {"tickvals": ticks, "ticktext": [str(t) for t in ticks]}


def log_ticks(values: pd.Series | Sequence[float]) -> dict[str, Any]:
    """Decade ticks labelled the way a grid is written (1e-4, 1e-3, 0.01, 0.1, 1)."""
    finite = [float(v) for v in values if float(v) > 0 and math.isfinite(float(v))]
    if not finite:
        return {}
    low, high = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    ticks = [10.0**e for e in range(low, high + 1)]
    return {"tickvals": ticks, "ticktext": [decade_text(t) for t in ticks]}


def metric_axis(metric: str, settings: AnalysisSettings) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": metric_title(metric, settings)}}
    if is_accuracy(metric) and is_percent(settings):
        axis["tickformat"] = ".3~%"
    return axis


def log_axis(analysis: StudyAnalysis, hyperparameter: str) -> bool:
    """Whether a hyperparameter is drawn on a log axis (as the analysis searched it)."""
    rows = analysis.summary[analysis.summary["hyperparameter"] == hyperparameter]
    if len(rows) and "log_scale" in rows:
        return bool(rows["log_scale"].astype(bool).any())
    values = analysis.sensitivity.loc[
        analysis.sensitivity["hyperparameter"] == hyperparameter, "value"
    ].astype(float)
    return bool(len(values)) and bool((values > 0).all()) and values.max() / values.min() >= 10


def merged(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """`base` updated by `extra`, nested dicts merged key by key (as `update_layout` does)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def trace(kind: str, **props: Any) -> dict[str, Any]:
    """A trace as plotly.js reads it (`kind`: scatter, heatmap, bar, parcoords...)."""
    return {"type": kind, **props}


def figure(
    data: Sequence[Mapping[str, Any]],
    title: str,
    subtitle: str = "",
    height: int = 420,
    layout: Mapping[str, Any] | None = None,
) -> go.Figure:
    """A figure built in one go from its traces and layout, with the look every figure
    shares: title and subtitle, template, font, margins, legend (`layout` adds to it).

    Built unvalidated: plotly.py's checks cost a 10,000-trial page most of its render time
    (`update_layout` ~30 ms a call, a validated trace ~2 ms; benchmarks/dashboard.py), and
    what they check does not change between studies. tests/test_dashboard_figures.py
    validates every figure of a page instead."""
    text = title if not subtitle else f"{title}<br><sup>{subtitle}</sup>"
    base = {
        # Anchored to the plot area, so a long y-axis title never runs under the title.
        "title": {"text": text, "x": 0, "xref": "paper", "xanchor": "left"},
        "template": TEMPLATE_JSON,
        "font": {"family": FONT, "size": 13},
        "height": height,
        "margin": {"l": 70, "r": 20, "t": 80, "b": 60},
        "legend": {"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1, "font": {"size": 11}},
        "hoverlabel": {"namelength": -1},
    }
    return go.Figure(data=list(data), layout=merged(base, layout or {}), _validate=False)


def empty_figure(title: str, message: str) -> go.Figure:
    """A figure that says why there is nothing to draw (never a blank plot)."""
    note = {
        "text": message,
        "x": 0.5,
        "y": 0.5,
        "xref": "paper",
        "yref": "paper",
        "showarrow": False,
        "font": {"size": 14},
    }
    hidden = {"visible": False}
    return figure(
        [], title, height=260, layout={"annotations": [note], "xaxis": hidden, "yaxis": hidden}
    )


def vline(x: float, line: Mapping[str, Any], text: str = "") -> dict[str, Any]:
    """A vertical line across the plot at `x` (and its label top right): what `add_vline`
    adds, as layout entries (`shapes`, `annotations`)."""
    shape = {
        "type": "line",
        "x0": x,
        "x1": x,
        "xref": "x",
        "y0": 0,
        "y1": 1,
        "yref": "y domain",
        "line": dict(line),
    }
    if not text:
        return {"shapes": [shape]}
    label = {
        "text": text,
        "x": x,
        "xref": "x",
        "xanchor": "left",
        "y": 1,
        "yref": "y domain",
        "yanchor": "top",
        "showarrow": False,
    }
    return {"shapes": [shape], "annotations": [label]}


def panels(titles: Sequence[str], spacing: float) -> dict[str, Any]:
    """The layout of one row of panels sharing their y axis, `titles` above them: what
    `make_subplots(rows=1, cols=n, shared_yaxes=True)` makes, without its ~60 ms."""
    n = len(titles)
    width = (1.0 - spacing * (n - 1)) / n
    layout: dict[str, Any] = {"annotations": []}
    for i, text in enumerate(titles):
        suffix = "" if i == 0 else str(i + 1)
        low = i * (width + spacing)
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [low, low + width]}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0]}
        if i:
            layout[f"yaxis{suffix}"].update(matches="y", showticklabels=False)
        layout["annotations"].append(
            {
                "text": text,
                "x": low + width / 2,
                "xanchor": "center",
                "xref": "paper",
                "y": 1.0,
                "yanchor": "bottom",
                "yref": "paper",
                "showarrow": False,
                "font": {"size": 16},
            }
        )
    return layout


# -- bands ---------------------------------------------------------------------------------------


def band(
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
) -> dict[str, Any]:
    """A closed polygon between `low` and `high` (a 95 % band); gaps where either is NaN."""
    xa = np.asarray(x, dtype=float)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    keep = np.isfinite(lo) & np.isfinite(hi)
    xs = np.concatenate([xa[keep], xa[keep][::-1]])
    ys = np.concatenate([hi[keep], lo[keep][::-1]])
    return trace(
        "scatter",
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


def steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The corners of a step function (plotly's `hv` shape), so a band matches its step line."""
    if len(x) < 2:
        return x, y
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys
