"""The live dashboard: a Dash app over one storage URL, built by `create_app` (no globals).

One page per study group (`/study/<name>`), verdicts on top, then the figures of
`dashboards.page.build_page`. Filters (task, optimizers, seeds) re-run the analysis on the subset.
While trials are running the page polls the storage every few seconds and re-renders only when a
trial was added or finished. All JavaScript is served by the app itself (no CDN), and every name
from a study is rendered as text by Dash, never as HTML.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, unquote

import dash
from dash import Input, Output, State, dcc, html

from dashboards.page import Page, VerdictCard, build_page
from dashboards.report import CSS
from dashboards.study import Analyzer, analyze_study, filter_study, fingerprint
from hpsearch.errors import HpsearchError
from hpsearch.studydata import OUTCOMES, StudyData

PREFIX = "/study/"
RUNNING_REFRESH_S = 5.0
IDLE_REFRESH_S = 30.0
READ_TTL_S = 2.0  # storage reads younger than this are reused

INDEX = (
    """<!DOCTYPE html>
<html lang="en"><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}
<style>"""
    + CSS
    + """
.filters { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start;
           background: #f6f6f6; padding: 8px 12px; border-radius: 6px; }
.filters label { margin-right: 8px; }
.status { color: #555; font-size: 0.9em; margin: 6px 0; }
.error { color: #b00020; font-weight: 600; }
</style></head><body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>
"""
)


def study_path(name: str) -> str:
    """The URL path of a study page; any name is safe in it."""
    return PREFIX + quote(name, safe="")


def study_from_path(pathname: str | None) -> str | None:
    if pathname and pathname.startswith(PREFIX) and len(pathname) > len(PREFIX):
        return unquote(pathname[len(PREFIX) :])
    return None


def _card(card: VerdictCard) -> html.Div:
    children: list[Any] = [
        html.Div(card.result, className="result"),
        html.Div(card.claim, className="claim"),
        html.P(card.sentence),
    ]
    if card.failure:
        children.append(html.P(card.failure, className="failure"))
    if card.numbers:
        children.append(_kv(card.numbers))
    if card.reasons:
        children.append(html.Ul([html.Li(r) for r in card.reasons]))
    if card.blocking:
        children.append(html.P("Blocking: " + ", ".join(card.blocking)))
    if card.settings:
        children.append(html.Details([html.Summary("settings"), _kv(card.settings)]))
    if card.links:
        links: list[Any] = ["Figures: "]
        for i, (anchor, label) in enumerate(card.links):
            links += [", "] if i else []
            links.append(html.A(label, href=f"#{anchor}"))
        children.append(html.P(links, className="meta"))
    return html.Div(children, className="card", id=card.anchor, style={"--verdict": card.color})


def _kv(pairs: list[tuple[str, str]]) -> html.Dl:
    items: list[Any] = []
    for key, value in pairs:
        items += [html.Dt(key), html.Dd(value)]
    return html.Dl(items, className="kv")


def render_verdicts(page: Page) -> list[Any]:
    """The verdict cards, notes and settings of a page as Dash components."""
    out: list[Any] = [html.H2("Verdicts", id="verdicts")]
    if page.cards:
        out.append(html.Div([_card(c) for c in page.cards], className="cards"))
    else:
        out.append(html.P("No claims could be decided for this study."))
    if page.notes:
        out.append(html.Ul([html.Li(n) for n in page.notes], className="notes"))
    out.append(html.Details([html.Summary("Settings"), _kv(page.overview)], open=False))
    out.append(html.H2("Summary", id="summary"))
    out.append(
        html.Table(
            [
                html.Thead(html.Tr([html.Th(c) for c in page.summary_columns])),
                html.Tbody([html.Tr([html.Td(v) for v in row]) for row in page.summary_rows]),
            ]
        )
    )
    return out


def render_sections(page: Page) -> list[Any]:
    """The figure sections of a page as Dash components (one `dcc.Graph` per figure)."""
    out: list[Any] = []
    config: Any = {"displaylogo": False, "responsive": True}
    for section in page.sections:
        out += [html.H2(section.title, id=section.anchor), html.P(section.text)]
        out += [
            html.Div(dcc.Graph(figure=fig, config=config), id=anchor, className="figure")
            for anchor, fig in section.figures
        ]
    return out


class _Cache:
    """A small LRU of analysed pages and loaded studies, owned by one app."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


def create_app(
    storage: str, *, analyzer: Analyzer | None = None, refresh_seconds: float | None = None
) -> dash.Dash:
    """The dashboard over `storage` (a storage URL); nothing is read until a page is opened.

    `analyzer` turns study data into a `StudyAnalysis` (default: the study's own claims via
    `hpsearch.analysis.analyze`); `refresh_seconds` fixes the polling period (default: 5 s while
    trials run, 30 s otherwise).
    """
    from hpsearch.storage import list_study_groups, load_study_data, storage_failure

    analyze = analyzer or analyze_study
    pages = _Cache()
    recent: dict[Any, tuple[float, Any]] = {}

    def fresh(key: Any, read: Any) -> Any:
        # One page load fires several callbacks at once; they share one storage read.
        now = time.monotonic()
        if key in recent and now - recent[key][0] < READ_TTL_S:
            return recent[key][1]
        value = read()
        recent[key] = (now, value)
        return value

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

    def groups() -> tuple[list[Any], str | None]:
        try:
            return fresh("groups", lambda: list_study_groups(storage)), None
        except HpsearchError as error:
            return [], str(error)
        except Exception as error:  # a driver error from a URL we could not catch earlier
            return [], str(storage_failure(storage, error))  # no password, no SQL

    def layout() -> html.Div:
        found, error = groups()
        tasks = sorted({g.task for g in found if g.task})
        return html.Div(
            [
                dcc.Location(id="url", refresh=False),
                html.H1("hpsearch: hyperparameter sensitivity"),
                html.Div(error or "", id="storage-error", className="error"),
                html.Div(
                    [
                        html.Div(
                            [
                                html.Label("Study", htmlFor="study"),
                                dcc.Dropdown(
                                    id="study",
                                    options=[{"label": g.name, "value": g.name} for g in found],
                                    clearable=False,
                                    style={"minWidth": "320px"},
                                ),
                            ]
                        ),
                        html.Div(
                            [
                                html.Label("Task", htmlFor="task"),
                                dcc.Dropdown(
                                    id="task",
                                    options=[{"label": t, "value": t} for t in tasks],
                                    placeholder="all tasks",
                                    style={"minWidth": "180px"},
                                ),
                            ]
                        ),
                        html.Div(
                            [html.Label("Optimizers"), dcc.Checklist(id="optimizers", inline=True)]
                        ),
                        html.Div([html.Label("Seeds"), dcc.Checklist(id="seeds", inline=True)]),
                    ],
                    className="filters",
                ),
                html.Div(id="status", className="status"),
                dcc.Loading(html.Div(id="verdicts-area"), type="default"),
                html.Div(id="sections-area"),
                dcc.Store(id="shown"),
                dcc.Interval(
                    id="refresh", interval=int(1000 * (refresh_seconds or IDLE_REFRESH_S))
                ),
            ]
        )

    app.layout = layout

    @app.callback(
        Output("url", "pathname"),
        Output("study", "value"),
        Output("study", "options"),
        Input("url", "pathname"),
        Input("study", "value"),
        Input("task", "value"),
    )
    def select_study(
        pathname: str | None, picked: str | None, task: str | None
    ) -> tuple[Any, Any, Any]:
        """Keep the URL and the picker in step; the task filter narrows the picker."""
        found, _ = groups()
        names = [g.name for g in found if not task or g.task == task]
        options = [{"label": n, "value": n} for n in names]
        trigger = dash.ctx.triggered_id
        chosen = picked if trigger == "study" else study_from_path(pathname) or picked
        if chosen not in names:
            chosen = names[0] if names else None
        path = study_path(chosen) if chosen else "/"
        return (path if path != pathname else dash.no_update), chosen, options

    def load(name: str) -> StudyData:
        data: StudyData = fresh(("study", name), lambda: load_study_data(storage, name))
        return data

    @app.callback(
        Output("optimizers", "options"),
        Output("optimizers", "value"),
        Output("seeds", "options"),
        Output("seeds", "value"),
        Input("study", "value"),
    )
    def fill_filters(name: str | None) -> tuple[Any, Any, Any, Any]:
        """Every optimizer and seed of the study, all selected."""
        if not name:
            return [], [], [], []
        try:
            data = load(name)
        except HpsearchError:
            return [], [], [], []
        optimizers = sorted(data.hyperparameters)
        seeds = sorted(int(s) for s in data.trials["seed"].dropna().unique())
        return (
            [{"label": o, "value": o} for o in optimizers],
            optimizers,
            [{"label": str(s), "value": s} for s in seeds],
            seeds,
        )

    @app.callback(
        Output("status", "children"),
        Output("verdicts-area", "children"),
        Output("sections-area", "children"),
        Output("shown", "data"),
        Output("refresh", "interval"),
        Input("study", "value"),
        Input("optimizers", "value"),
        Input("seeds", "value"),
        Input("refresh", "n_intervals"),
        State("shown", "data"),
    )
    def render(
        name: str | None,
        optimizers: list[str] | None,
        seeds: list[int] | None,
        _tick: int | None,
        shown: str | None,
    ) -> tuple[Any, ...]:
        """Analyse and draw the chosen study; on a timer tick, only if its trials changed."""
        idle = int(1000 * (refresh_seconds or IDLE_REFRESH_S))
        if not name:
            return (
                "No study to show: the storage has none yet, or none for the chosen task.",
                [],
                [],
                None,
                idle,
            )
        try:
            data = load(name)
        except HpsearchError as error:
            return html.Span(str(error), className="error"), [], [], None, idle
        running = int((data.trials["outcome"] == "running").sum())
        interval = int(
            1000 * (refresh_seconds or (RUNNING_REFRESH_S if running else IDLE_REFRESH_S))
        )
        key = (name, fingerprint(data), tuple(sorted(optimizers or [])), tuple(sorted(seeds or [])))
        counts = data.trials["outcome"].value_counts()
        status: list[Any] = [
            html.H2(name, className="study-name"),
            ", ".join(f"{int(counts.get(o, 0))} {o}" for o in OUTCOMES)
            + (f" (refreshing every {interval // 1000} s while trials run)" if running else ""),
        ]
        if dash.ctx.triggered_id == "refresh" and shown == repr(key):
            return status, dash.no_update, dash.no_update, dash.no_update, interval
        page = pages.get(key)
        if page is None:
            subset = filter_study(data, optimizers, seeds)
            if subset.trials.empty:
                status.append(": no trials match the filters.")
                return status, [], [], repr(key), interval
            try:
                page = build_page(analyze(subset), subset.curves)
            except HpsearchError as error:
                return (status, [html.P(str(error), className="error")], [], repr(key), interval)
            pages.put(key, page)
        return status, render_verdicts(page), render_sections(page), repr(key), interval

    return app
