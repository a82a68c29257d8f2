"""The live dashboard: a Dash app over one storage URL, built by `create_app` (no globals).

One page per study group (`/study/<name>`): the claim board on top, then the figures of
`dashboards.page.build_page`, then every trial in a sortable, filterable table. Filters (task,
optimizers, seeds) re-run the analysis on the subset; a claim naming an unselected optimizer is
hidden with a note. Clicking a point of a figure opens that configuration: its seeds, outcomes,
divergence reasons and learning curves.
While trials are running the page polls the storage every few seconds and re-renders only when a
trial was added or finished. All JavaScript is served by the app itself (no CDN), and every name
from a study is rendered as text by Dash, never as HTML.

`create_app` builds the app, its layout (`page_layout`) and registers the callbacks of
`dashboards.callbacks`, one function per concern; the components are `dashboards.components`'.

A page is analysed once per (study, trials, selection): callbacks that ask for the same page at
once share one analysis. `hpsearch dashboard` starts analysing the page `/` shows first as soon as
it serves (`create_app(..., analyse_first=True)`), so the first visit finds it ready, as later
visits do, instead of waiting for the analysis, the figures and their imports (about 2 s for the
demo study; benchmarks/dashboard.py --browser).
"""

from __future__ import annotations

import threading
from functools import partial

import dash
from dash import dcc, html

from dashboards.callbacks import (
    IDLE_REFRESH_S,
    register_brushing,
    register_drill,
    register_figures,
    register_page,
)
from dashboards.components import render_picker
from dashboards.security import secure
from dashboards.store import PageStore
from dashboards.study import Analyzer
from dashboards.theme import figure_config

INDEX = """<!DOCTYPE html>
<html lang="en"><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>
"""


def create_app(
    storage: str,
    *,
    analyzer: Analyzer | None = None,
    refresh_seconds: float | None = None,
    analyse_first: bool = False,
) -> dash.Dash:
    """The dashboard over `storage` (a storage URL).

    `analyzer` turns study data into a `StudyAnalysis` (default: the study's own claims via
    `hpsearch.analysis.analyze`); `refresh_seconds` fixes the polling period (default: 5 s while
    trials run, 30 s otherwise). Nothing is read until a page is opened, unless `analyse_first`:
    then a background thread analyses the page `/` opens on (the first study, every optimizer
    and seed ticked) right away, and the first visit uses that analysis (see the module doc).
    """
    store = PageStore(storage, analyzer)

    app = dash.Dash(
        __name__,
        title="hpsearch",
        serve_locally=True,
        update_title=None,  # type: ignore[arg-type]  # None: keep the title while updating
        suppress_callback_exceptions=True,
        index_string=INDEX,
    )
    app.scripts.config.serve_locally = True
    app.css.config.serve_locally = True

    app.layout = partial(page_layout, store, refresh_seconds)
    register_page(app, store, refresh_seconds)
    register_figures(app, store)
    register_drill(app, store)
    register_brushing(app, store)
    if analyse_first:
        threading.Thread(target=store.analyse_first_page, name="analyse-first", daemon=True).start()
    return secure(app)  # CSP and frame headers, Host check (dashboards/security.py)


def page_layout(store: PageStore, refresh_seconds: float | None) -> html.Div:
    """The page's shell, built at each visit (the study picker lists the storage's groups as
    they are now); the callbacks fill it. `refresh_seconds`: see `create_app`."""
    found, error = store.groups()
    tasks = sorted({g.task for g in found if g.task})
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Div(
                [
                    html.Span("hpsearch", className="brand"),
                    html.Div(
                        id="study-box",
                        children=[
                            html.Label("Study", htmlFor="study"),
                            dcc.Dropdown(
                                id="study",
                                options=[{"label": g.name, "value": g.name} for g in found],
                                clearable=False,
                                style={"minWidth": "min(320px, 70vw)"},
                            ),
                        ],
                    ),
                    html.Div(
                        # One task or none: nothing to choose, so no control.
                        style={} if len(tasks) > 1 else {"display": "none"},
                        children=[
                            html.Label("Task", htmlFor="task"),
                            dcc.Dropdown(
                                id="task",
                                options=[{"label": t, "value": t} for t in tasks],
                                placeholder="all tasks",
                                style={"minWidth": "min(180px, 70vw)"},
                            ),
                        ],
                    ),
                    html.Div(
                        [html.Label("Optimizers"), dcc.Checklist(id="optimizers", inline=True)],
                        id="optimizers-box",
                    ),
                    html.Div(
                        [html.Label("Seeds"), dcc.Checklist(id="seeds", inline=True)],
                        id="seeds-box",
                    ),
                ],
                className="filters",
            ),
            html.Div(error or "", id="storage-error", className="error"),
            html.Div(id="status", className="status"),
            dcc.Loading(html.Div(id="verdicts-area"), type="default"),
            render_picker(),
            html.Div(id="sections-area"),
            html.Div(id="later-area"),
            html.Div(
                [html.Button("close ×", id="drill-close"), html.Div(id="drill-body")],
                id="drill",
                className="drill",
                style={"display": "none"},
            ),
            # An empty graph in the first layout makes Dash fetch plotly.js (4.8 MB) while the
            # callbacks analyse the study, not after the figures have arrived (measured by
            # benchmarks/dashboard.py --browser).
            dcc.Graph(
                id="plotly-preload",
                style={"display": "none"},
                config=figure_config("plotly-preload"),
            ),
            dcc.Store(id="shown"),
            dcc.Store(id="brush", data={}),
            dcc.Store(id="table-filter", data={}),
            dcc.Interval(id="refresh", interval=int(1000 * (refresh_seconds or IDLE_REFRESH_S))),
        ]
    )
