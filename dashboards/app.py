"""The live dashboard: a Dash app over one storage URL, built by `create_app` (no globals).

One page per study group (`/study/<name>`): the claim board on top, then the figures of
`dashboards.page.build_page`, then every trial in a sortable, filterable table. Filters (task,
optimizers, seeds) re-run the analysis on the subset; a claim naming an unselected optimizer is
hidden with a note. Clicking a point of a figure opens that configuration: its seeds, outcomes,
divergence reasons and learning curves.
While trials are running the page polls the storage every few seconds and re-renders only when a
trial was added or finished. All JavaScript is served by the app itself (no CDN), and every name
from a study is rendered as text by Dash, never as HTML.

A page is analysed once per (study, trials, selection): callbacks that ask for the same page at
once share one analysis. `hpsearch dashboard` starts analysing the page `/` shows first as soon as
it serves (`create_app(..., analyse_first=True)`), so the first visit finds it ready, as later
visits do, instead of waiting for the analysis, the figures and their imports (about 2 s for the
demo study; benchmarks/dashboard.py --browser).
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import quote, unquote

import dash
import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, State, dcc, html

from dashboards.answer import answer_count
from dashboards.curves import config_curves_figure
from dashboards.page import BOARD_HEAD, Page, VerdictCard, figure_text, numeric_columns, slug
from dashboards.parallel import (
    constraint_ranges,
    kept_configs,
    parallel_optimizers,
    parallel_record,
)
from dashboards.plotting import clicked_configuration
from dashboards.security import secure
from dashboards.store import AnalysedPage, PageStore, selection_of
from dashboards.study import Analyzer, filter_study
from dashboards.theme import VERDICT_COLORS, figure_config
from dashboards.view import View
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.errors import HpsearchError
from hpsearch.studydata import OUTCOMES, outcome_word

PREFIX = "/study/"
RUNNING_REFRESH_S = 5.0
IDLE_REFRESH_S = 30.0

INDEX = """<!DOCTYPE html>
<html lang="en"><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}</head>
<body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>
"""


def study_path(name: str) -> str:
    """The URL path of a study page; any name is safe in it."""
    return PREFIX + quote(name, safe="")


def study_from_path(pathname: str | None) -> str | None:
    if pathname and pathname.startswith(PREFIX) and len(pathname) > len(PREFIX):
        return unquote(pathname[len(PREFIX) :])
    return None


def _card(card: VerdictCard) -> html.Details:
    """One board row (result, claim, headline number, why); the details unfold on click."""
    head = html.Span(card.headline_label and [card.headline, " ", html.Small(card.headline_label)])
    summary = html.Summary(
        [
            html.Span(card.result, className="badge result"),
            html.Span(card.claim, className="claim-text"),
            html.Span(head.children or card.headline, className="headline"),
            html.Span(card.reason, className="reason"),
        ]
    )
    children: list[Any] = [html.P(card.sentence)]
    if card.failure:
        children.append(html.P(card.failure, className="failure"))
    if card.numbers:
        children.append(_kv(card.numbers))
    if card.reasons:
        children.append(html.Ul([html.Li(r) for r in card.reasons]))
    if card.blocking:
        children.append(html.P("Blocking: " + ", ".join(card.blocking)))
    if card.guarantee:
        children.append(html.P(card.guarantee, className="meta"))
    if card.settings:
        children.append(html.Details([html.Summary("settings"), _kv(card.settings)]))
    if card.links:
        links: list[Any] = ["Figures: "]
        for i, (anchor, label) in enumerate(card.links):
            links += [", "] if i else []
            links.append(html.A(label, href=f"#{anchor}"))
        children.append(html.P(links, className="meta"))
    return html.Details(
        [summary, html.Div(children, className="claim-details")],
        className="claim-row",
        id=card.anchor,
        style={"--verdict": card.color},
    )


def _kv(pairs: list[tuple[str, str]]) -> html.Dl:
    items: list[Any] = []
    for key, value in pairs:
        items += [html.Dt(key), html.Dd(value)]
    return html.Dl(items, className="kv")


def _table(columns: list[str], rows: list[list[str]]) -> html.Table:
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(c) for c in columns])),
            html.Tbody([html.Tr([html.Td(v) for v in row]) for row in rows]),
        ]
    )


def render_answer(page: Page) -> html.Section:
    """The answer in plain words above the board: one line per claim, the claim in full."""
    items = []
    for line in page.answers:
        parts: list[Any] = [
            html.A(html.B(line.answer), href=f"#{line.anchor}"),
            f" — {line.claim} {line.verb}",
        ]
        if line.number:
            parts += [": ", html.Span(f"{line.label} {line.number}", className="decided")]
        if line.look:  # a sequential study: the look, its α, final or open
            parts += [" ", html.Span(f"({line.look})", className="meta")]
        items.append(
            html.Li(
                [*parts, "."],
                className="answer-line",
                style={"--verdict": VERDICT_COLORS.get(line.result, "#444")},
            )
        )
    return html.Section(
        [
            html.H2("The answer", className="compact"),
            html.P(answer_count(page.answers), className="meta"),
            html.Ul(items),
        ],
        id="answer",
        className="answer",
    )


def render_verdicts(page: Page) -> list[Any]:
    """The claim board, the claims hidden by the filters and the notes, as Dash components."""
    out: list[Any] = [render_answer(page)] if page.answers else []
    if page.cards:
        head = html.Div([html.Span(h) for h in BOARD_HEAD], className="board-head")
        out.append(
            html.Div([head, *[_card(c) for c in page.cards]], className="board", id="verdicts")
        )
    else:
        out.append(html.P("No claims could be decided for this study.", id="verdicts"))
    if page.hidden:
        out.append(
            html.P(
                "Not shown (an optimizer they name is not selected): " + "; ".join(page.hidden),
                className="hidden-claims",
            )
        )
    if page.notes:
        out.append(html.Ul([html.Li(n) for n in page.notes], className="notes"))
    return out


def render_graph(anchor: str, fig: go.Figure) -> dcc.Graph:
    """One figure of the page; `{"type": "figure", "anchor": ...}` is what clicks and brushes
    are read from."""
    return dcc.Graph(
        figure=fig, config=figure_config(anchor), id={"type": "figure", "anchor": anchor}
    )


def render_sections(
    page: Page, part: Literal["all", "first", "rest"] = "all", lazy: bool = False
) -> list[Any]:
    """The figure sections of a page as Dash components (one `dcc.Graph` per figure), then the
    summary and settings.

    `first` is the first section's first figure and its table alone (the lr = 1 answer, under
    the claim board: what the first screen shows) and `rest` everything after it: the app sends
    them in two answers, so the browser draws the answer without waiting for the other figures
    (plotly.js draws the figures of one answer in one go; benchmarks/dashboard.py --browser).
    With `lazy`, a figure is a slot of its own height, filled when it comes near the view
    (assets/lazy.js asks, `draw_lazy` answers): plotly.js spends ~0.15 s drawing each figure,
    and a filter change redraws only the figures a reader sees.
    """
    out: list[Any] = []
    for number, section in enumerate(page.sections):
        for index, (anchor, fig) in enumerate(section.figures):
            is_first = number == 0 and index == 0
            if (part == "first" and not is_first) or (part == "rest" and is_first):
                continue
            if index == 0:
                out += [
                    html.H2(section.title, id=section.anchor, className="compact"),
                    html.P(section.text, className="meta"),
                ]
            graph: Any = render_graph(anchor, fig)
            if lazy:  # the slot, and what assets/lazy.js sets when it comes near the view
                height = fig.layout.height or 450
                graph = [
                    html.Div(
                        id={"type": "lazy", "anchor": anchor},
                        className="lazy-slot",
                        style={"minHeight": f"{height}px"},
                    ),
                    dcc.Store(id={"type": "lazy-near", "anchor": anchor}),
                ]
            svg = html.Button(
                "SVG",
                id={"type": "svg", "anchor": anchor},
                className="svg-download",
                title=f"download {anchor} as SVG",
            )
            label: Any = {"aria-label": figure_text(fig)}  # Dash passes aria-* through
            children = [*graph, svg] if isinstance(graph, list) else [graph, svg]
            out.append(html.Div(children, id=anchor, className="figure", role="figure", **label))
            if index == 0 and section.table is not None:
                out.append(_table(*section.table))
    if part == "first":
        return out
    out += [
        html.H2("Summary", id="summary"),
        _table(page.summary_columns, page.summary_rows),
        html.Details([html.Summary("Settings"), _kv(page.overview)], open=False),
    ]
    return out


TRIALS_PAGE_SIZE = 20


def trial_column_defs(columns: list[str], numeric: list[str]) -> list[dict[str, Any]]:
    """AG Grid columns: numbers sort and filter as numbers (`4` in seed is seed = 4; `>`, `<`
    and ranges from the filter's menu), text by "contains"."""
    defs = []
    for c in columns:
        number = c in numeric
        defs.append(
            {
                "field": c,
                "headerName": c,
                "filter": "agNumberColumnFilter" if number else "agTextColumnFilter",
                "filterParams": {"buttons": ["reset"], "maxNumConditions": 2},
                "type": "numericColumn" if number else None,
                "minWidth": 90 if number else 120,
            }
        )
    return [{k: v for k, v in d.items() if v is not None} for d in defs]


def configuration_options(analysis: StudyAnalysis) -> list[dict[str, str]]:
    """Every configuration of the page as a choice of the drill-down's picker ("adam: lr=0.1");
    its value says (optimizer, configuration), read back by `configuration_of_option`."""
    configs = analysis.configs
    if configs.empty:
        return []
    pairs = zip(configs["optimizer"].astype(str), configs["config"].astype(str), strict=True)
    return [{"label": f"{o}: {c}", "value": json.dumps([o, c])} for o, c in pairs]


def configuration_of_option(value: object) -> tuple[str, str] | None:
    """(optimizer, configuration) of a picker value, None for anything else."""
    try:
        pair = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if isinstance(pair, list) and len(pair) == 2:
        return str(pair[0]), str(pair[1])
    return None


def render_picker() -> html.Div:
    """The keyboard's way to a configuration's seeds (a point of a figure needs a pointer):
    Tab to the picker, type part of a configuration, Enter opens it as a click on it would.
    Its choices come with the page (`configuration_options`)."""
    return html.Div(
        [
            html.Label("Open a configuration's seeds", htmlFor="drill-pick"),
            dcc.Dropdown(
                id="drill-pick",
                options=[],
                placeholder="type an optimizer or a value, then Enter",
                clearable=True,
                style={"minWidth": "min(420px, 80vw)"},
            ),
        ],
        id="drill-picker",
        className="drill-picker",
        style={"display": "none"},
    )


def render_trials(
    columns: list[str],
    rows: list[dict[str, Any]],
    shown: list[dict[str, Any]] | None = None,
    note: str = "",
    filter_model: dict[str, Any] | None = None,
) -> list[Any]:
    """Every trial of the selection in pages (`shown`: the rows a brush keeps): sort by a
    column header, filter under it, and download the rows that pass the filters as CSV."""
    return [
        html.H2("Trials", id="trials"),
        html.P(
            "A column per hyperparameter. Sort by clicking a header; filter under it (numbers: "
            "type 4 for = 4, or pick greater than / in range from the column's menu). "
            "The CSV holds the rows the filters keep, in the order shown.",
            className="meta",
        ),
        html.P(note, id="brush-note", className="meta"),
        html.Button("Download the filtered trials (CSV)", id="trials-csv", n_clicks=0),
        dag.AgGrid(
            id="trial-table",
            columnDefs=trial_column_defs(columns, numeric_columns(columns, rows)),
            rowData=rows if shown is None else shown,
            filterModel=filter_model or {},
            defaultColDef={"sortable": True, "floatingFilter": True, "resizable": True},
            dashGridOptions={
                "pagination": True,
                "paginationPageSize": TRIALS_PAGE_SIZE,
                "paginationPageSizeSelector": [TRIALS_PAGE_SIZE, 100, 500],
                "suppressFieldDotNotation": True,  # a name with a dot is one column
                "suppressColumnVirtualisation": True,  # every column in the page, for tests
                "domLayout": "autoHeight",
                "enableCellTextSelection": True,
            },
            csvExportParams={"fileName": "trials-filtered.csv"},
            style={"width": "100%"},
        ),
    ]


def render_drill(analysed: AnalysedPage, optimizer: str, config: str) -> list[Any]:
    """One configuration: its seeds (outcome, value, divergence epoch and reason) and curves."""
    columns, rows = analysed.trials
    mine = [r for r in rows if r["optimizer"] == optimizer and r["config"] == config]
    # The columns that say something about these trials (no empty `error` column, say).
    shown = [
        c
        for c in columns
        if c not in ("optimizer", "config", "study", "wall_seconds")
        and any(r[c] is not None and r[c] != "" for r in mine)
    ]
    curves = config_curves_figure(analysed.analysis, analysed.data.curves, optimizer, config)
    return [
        html.H3(f"{optimizer}: {config}"),
        html.P(f"{len(mine)} trials of this configuration", className="meta"),
        _table(shown, [["" if r[c] is None else str(r[c]) for c in shown] for r in mine]),
        dcc.Graph(figure=curves, config=figure_config("drill-curves"), id="drill-curves"),
    ]


def clicked_customdata(page: Page, anchor: str | None, point: dict[str, Any]) -> Any:
    """The clicked point's `customdata`, looked up in the page's own figure: Dash forwards it
    for scatter points but not for heatmap cells, so it is found from the cell's x and y."""
    if point.get("customdata") is not None:
        return point["customdata"]
    figure = next((f for s in page.sections for a, f in s.figures if a == anchor), None)
    curve = point.get("curveNumber")
    if figure is None or not isinstance(curve, int) or curve >= len(figure.data):
        return None
    trace = figure.data[curve]
    if trace.customdata is None:
        return None
    number = point.get("pointNumber")
    if trace.type == "heatmap":
        try:
            i, j = list(trace.y).index(point.get("y")), list(trace.x).index(point.get("x"))
        except ValueError:
            return None
        return list(trace.customdata[i][j])
    if isinstance(number, int) and number < len(trace.customdata):
        return list(trace.customdata[number])
    return None


def brushed_rows(
    analysis: StudyAnalysis, rows: list[dict[str, Any]], brush: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], str]:
    """The trial rows the parallel coordinates' brushes keep (each brushed optimizer: its
    configurations inside every range), and a line saying so; every row when none is brushed."""
    keep: dict[str, set[str]] = {}
    for optimizer in parallel_optimizers(analysis):
        ranges = (brush or {}).get(f"fig-parallel-{slug(optimizer)}") or {}
        record = parallel_record(analysis, optimizer) if ranges else None
        if record is not None:
            keep[optimizer] = set(kept_configs(record, {int(k): v for k, v in ranges.items()}))
    if not keep:
        return rows, ""
    kept = [r for r in rows if str(r["optimizer"]) in keep and r["config"] in keep[r["optimizer"]]]
    said = "; ".join(f"{o}: {len(c)} configurations" for o, c in keep.items())
    return kept, (
        f"The parallel coordinates' brush keeps {len(kept)} of {len(rows)} trials ({said}); "
        "click an axis outside its range to clear it."
    )


def with_brush(page: Page, brush: dict[str, Any] | None) -> Page:
    """The page with the brushed ranges drawn on its parallel coordinates (a shared link)."""
    if not brush:
        return page
    sections = []
    for section in page.sections:
        figures_ = []
        for anchor, fig in section.figures:
            ranges = brush.get(anchor)
            if ranges and fig.data and fig.data[0].type == "parcoords":
                fig = go.Figure(fig)
                dims = list(fig.data[0].dimensions)
                for key, spans in ranges.items():
                    if 0 <= int(key) < len(dims):
                        dims[int(key)].constraintrange = spans[0] if len(spans) == 1 else spans
                fig.data[0].dimensions = dims
            figures_.append((anchor, fig))
        sections.append(replace(section, figures=figures_))
    return replace(page, sections=sections)


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

    def layout() -> html.Div:
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
        found, _ = store.groups()
        names = [g.name for g in found if not task or g.task == task]
        options = [{"label": n, "value": n} for n in names]
        trigger = dash.ctx.triggered_id
        chosen = picked if trigger == "study" else study_from_path(pathname) or picked
        if chosen not in names:
            chosen = names[0] if names else None
        path = study_path(chosen) if chosen else "/"
        return (path if path != pathname else dash.no_update), chosen, options

    @app.callback(
        Output("study-box", "style"),
        Output("optimizers-box", "style"),
        Output("seeds-box", "style"),
        Input("study", "options"),
        Input("optimizers", "options"),
        Input("seeds", "options"),
    )
    def hide_single_choices(*options: list[Any] | None) -> tuple[Any, ...]:
        """A control with one choice or none does nothing: it is not shown."""
        return tuple({} if len(o or []) > 1 else {"display": "none"} for o in options)

    @app.callback(
        Output("optimizers", "options"),
        Output("optimizers", "value"),
        Output("seeds", "options"),
        Output("seeds", "value"),
        Input("study", "value"),
        State("url", "search"),
    )
    def fill_filters(name: str | None, search: str | None = None) -> tuple[Any, Any, Any, Any]:
        """Every optimizer and seed of the study, selected as the URL says (all if it says
        nothing, or nothing this study has)."""
        if not name:
            return [], [], [], []
        try:
            data = store.load(name)
        except HpsearchError:
            return [], [], [], []
        optimizers, seeds = selection_of(data)
        view = View.parse(search)
        return (
            [{"label": o, "value": o} for o in optimizers],
            view.pick_optimizers(optimizers),
            [{"label": str(s), "value": s} for s in seeds],
            view.pick_seeds(seeds),
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
            data = store.load(name)
        except HpsearchError as error:
            return html.Span(str(error), className="error"), [], [], None, idle
        running = int((data.trials["outcome"] == "running").sum())
        interval = int(
            1000 * (refresh_seconds or (RUNNING_REFRESH_S if running else IDLE_REFRESH_S))
        )
        # Before `fill_filters` has ticked every box, nothing ticked yet means everything: the
        # same page as once the boxes arrive, so it is analysed and drawn once, not twice.
        everything = selection_of(data)
        optimizers = everything[0] if optimizers is None else optimizers
        seeds = everything[1] if seeds is None else seeds
        key = store.key(name, data, optimizers, seeds)
        subset = filter_study(data, optimizers, seeds)
        counts = subset.trials["outcome"].value_counts()
        selected = (
            ""
            if len(subset.trials) == len(data.trials)
            else f" (of {len(data.trials)} trials in the study)"
        )
        status: list[Any] = [
            html.B(name),
            " · "
            + ", ".join(f"{int(counts.get(o, 0))} {outcome_word(o)}" for o in OUTCOMES)
            + selected
            + (f" (refreshing every {interval // 1000} s while trials run)" if running else ""),
        ]
        if shown == key:  # this very page is on screen (a timer tick, or the boxes arriving)
            return status, dash.no_update, dash.no_update, dash.no_update, interval
        if subset.trials.empty:
            status.append(": no trials match the filters.")
            return status, [], [], key, interval
        try:
            page = store.page(name, data, optimizers, seeds, subset).page
        except HpsearchError as error:
            return (status, [html.P(str(error), className="error")], [], key, interval)
        return status, render_verdicts(page), render_sections(page, "first"), key, interval

    @app.callback(
        Output("later-area", "children"),
        Input("shown", "data"),
        State("url", "search"),
    )
    def render_later(shown: str | None, search: str | None = None) -> list[Any]:
        """The sections after the first, the summary and the trials: fired by the first answer
        (which sets `shown`), from the page it cached, so nothing is analysed twice. A brush
        and a table filter in the URL are applied (a shared link shows the same rows)."""
        analysed = store.shown(shown)
        if analysed is None:
            return []
        view = View.parse(search)
        columns, rows = analysed.trials
        kept, note = brushed_rows(analysed.analysis, rows, view.brush)
        page = with_brush(analysed.page, view.brush)
        return render_sections(page, "rest", lazy=True) + render_trials(
            columns, rows, kept, note, view.table_filter
        )

    @app.callback(
        Output({"type": "lazy", "anchor": MATCH}, "children"),
        Input({"type": "lazy-near", "anchor": MATCH}, "data"),
        State("shown", "data"),
        State("brush", "data"),
        prevent_initial_call=True,
    )
    def draw_lazy(asked: int | None, shown: str | None, brush: dict[str, Any] | None) -> Any:
        """A figure that came near the view (assets/lazy.js), from the page on screen, with the
        brushes kept (those of a shared link included) drawn on it."""
        analysed = store.shown(shown)
        anchor = dash.ctx.triggered_id.get("anchor") if dash.ctx.triggered_id else None
        if analysed is None or not asked or anchor is None:
            return dash.no_update
        page = with_brush(analysed.page, brush)
        fig = next((f for s in page.sections for a, f in s.figures if a == anchor), None)
        return dash.no_update if fig is None else render_graph(anchor, fig)

    @app.callback(
        Output("drill-pick", "options"),
        Output("drill-picker", "style"),
        Input("shown", "data"),
    )
    def fill_picker(shown: str | None) -> tuple[Any, Any]:
        """Every configuration of the page on screen, for the keyboard's picker."""
        analysed = store.shown(shown)
        if analysed is None:
            return [], {"display": "none"}
        return configuration_options(analysed.analysis), {}

    @app.callback(
        Output("brush", "data"),
        Input({"type": "figure", "anchor": ALL}, "restyleData"),
        Input("shown", "data"),
        State("brush", "data"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def brush(
        _changes: list[Any], _shown: Any, current: dict[str, Any] | None, search: str | None
    ) -> Any:
        """A brush on a parallel-coordinates axis: its ranges, kept per figure and axis; when a
        page is shown, the URL's (what render_later drew)."""
        # `shown` and the first answer's graphs change at once: ask which props fired, not
        # which one fired first.
        if "shown.data" in dash.ctx.triggered_prop_ids:
            wanted = View.parse(search).brush
            return wanted if wanted != (current or {}) else dash.no_update
        trigger = dash.ctx.triggered_id
        anchor = str(trigger.get("anchor", "")) if trigger else ""
        value = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        if not anchor.startswith("fig-parallel-") or not value:
            return dash.no_update
        ranges = constraint_ranges(value[0] if isinstance(value, list) else {})
        if not ranges:
            return dash.no_update
        out = {k: dict(v) for k, v in (current or {}).items()}
        mine = out.setdefault(anchor, {})
        for index, spans in ranges.items():
            if spans is None:
                mine.pop(str(index), None)
            else:
                mine[str(index)] = spans
        return {k: v for k, v in out.items() if v}

    @app.callback(
        Output("trial-table", "rowData"),
        Output("brush-note", "children"),
        Input("brush", "data"),
        State("shown", "data"),
        prevent_initial_call=True,
    )
    def apply_brush(brush: dict[str, Any] | None, shown: str | None) -> tuple[Any, Any]:
        """The trial table keeps the configurations the brushes keep."""
        analysed = store.shown(shown)
        if analysed is None:
            return dash.no_update, dash.no_update
        return brushed_rows(analysed.analysis, analysed.trials[1], brush)

    @app.callback(
        Output("table-filter", "data"),
        Input("trial-table", "filterModel"),
        prevent_initial_call=True,
    )
    def keep_table_filter(model: dict[str, Any] | None) -> Any:
        """The trial table's filters as the reader sets them."""
        return model or {}

    @app.callback(
        Output("table-filter", "data", allow_duplicate=True),
        Input("shown", "data"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def table_filter_of_url(_shown: Any, search: str | None) -> Any:
        """When a page is shown, the URL's table filter (what render_later drew)."""
        return View.parse(search).table_filter

    @app.callback(
        Output("url", "search"),
        Input("optimizers", "value"),
        Input("seeds", "value"),
        Input("brush", "data"),
        Input("table-filter", "data"),
        State("optimizers", "options"),
        State("seeds", "options"),
        State("url", "search"),
        State("shown", "data"),
        prevent_initial_call=True,
    )
    def write_url(
        optimizers: list[str] | None,
        seeds: list[int] | None,
        brush: dict[str, Any] | None,
        table_filter: dict[str, Any] | None,
        optimizer_options: list[dict[str, Any]] | None,
        seed_options: list[dict[str, Any]] | None,
        search: str | None,
        shown: str | None,
    ) -> Any:
        """The view into the URL's query (no reload), so the address can be shared. Not before
        a page is shown: until then the brush and the table filter are the URL's, not yet in
        their stores (`brush`, `keep_table_filter` take them when the page is shown)."""
        if not optimizer_options or not shown:  # keep the URL's view
            return dash.no_update
        view = View.of(optimizers, seeds, brush, table_filter)
        wanted = view.query(
            [o["value"] for o in optimizer_options], [o["value"] for o in seed_options or []]
        )
        return wanted if wanted != (search or "") else dash.no_update

    # The drill-down opened (by a click or the picker): the keyboard's focus goes to its close
    # button, so Enter or Escape-then-Tab are where the reader is.
    app.clientside_callback(
        """function (style) {
            const close = document.getElementById('drill-close');
            if (close && style && style.display !== 'none') close.focus();
            return window.dash_clientside.no_update;
        }""",
        Output("drill-close", "title"),
        Input("drill", "style"),
        prevent_initial_call=True,
    )

    # The SVG button under a figure: plotly.js draws the file in the browser.
    app.clientside_callback(
        """function (clicks) {
            const ctx = window.dash_clientside.callback_context;
            const anchor = ctx.triggered_id && ctx.triggered_id.anchor;
            const gd = anchor && document.querySelector(
                '#' + CSS.escape(anchor) + ' .js-plotly-plot');
            if (clicks && gd) Plotly.downloadImage(gd, {format: 'svg', filename: anchor});
            return window.dash_clientside.no_update;
        }""",
        Output({"type": "svg", "anchor": MATCH}, "title"),
        Input({"type": "svg", "anchor": MATCH}, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("trial-table", "exportDataAsCsv"),
        Input("trials-csv", "n_clicks"),
        prevent_initial_call=True,
    )
    def download_trials(clicks: int) -> bool:
        """AG Grid writes the CSV in the browser: the rows its filters keep, as sorted."""
        return bool(clicks)

    @app.callback(
        Output("drill-body", "children"),
        Output("drill", "style"),
        Input({"type": "figure", "anchor": ALL}, "clickData"),
        Input("drill-close", "n_clicks"),
        Input("drill-pick", "value"),
        State("shown", "data"),
        prevent_initial_call=True,
    )
    def drill_down(
        clicks: list[Any], _close: int | None, _picked: str | None, shown: str | None
    ) -> tuple[Any, Any]:
        """Clicking a point that stands for a configuration opens it; `close` hides it again."""
        hidden = {"display": "none"}
        if dash.ctx.triggered_id == "drill-close":
            return [], hidden
        analysed = store.shown(shown)
        value = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        if analysed is None or not value:
            return dash.no_update, dash.no_update
        if dash.ctx.triggered_id == "drill-pick":
            picked = configuration_of_option(value)
        else:
            anchor = dash.ctx.triggered_id.get("anchor") if dash.ctx.triggered_id else None
            point = (value.get("points") or [{}])[0]
            picked = clicked_configuration(clicked_customdata(analysed.page, anchor, point))
        if picked is None or picked[0] not in analysed.data.hyperparameters:
            return dash.no_update, dash.no_update
        return render_drill(analysed, *picked), {}

    if analyse_first:
        threading.Thread(target=store.analyse_first_page, name="analyse-first", daemon=True).start()
    return secure(app)  # CSP and frame headers, Host check (dashboards/security.py)
