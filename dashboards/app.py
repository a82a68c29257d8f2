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
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlencode

import dash
import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import ALL, MATCH, Input, Output, State, dcc, html

from dashboards import figures
from dashboards.answer import answer_count
from dashboards.page import Page, VerdictCard, build_page, figure_text, numeric_columns, slug
from dashboards.parallel import (
    constraint_ranges,
    kept_configs,
    parallel_optimizers,
    parallel_record,
)
from dashboards.report import BOARD_HEAD
from dashboards.security import secure
from dashboards.study import (
    Analyzer,
    analyze_study,
    filter_study,
    fingerprint,
    hidden_claims,
)
from dashboards.theme import VERDICT_COLORS, figure_config
from hpsearch.analysis.defaults import optimizer_defaults
from hpsearch.errors import HpsearchError
from hpsearch.studydata import OUTCOMES, StudyData, outcome_word

PREFIX = "/study/"
RUNNING_REFRESH_S = 5.0
IDLE_REFRESH_S = 30.0
READ_TTL_S = 2.0  # storage reads younger than this are reused

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


def render_sections(page: Page, part: Literal["all", "first", "rest"] = "all") -> list[Any]:
    """The figure sections of a page as Dash components (one `dcc.Graph` per figure), then the
    summary and settings.

    `first` is the first section's first figure and its table alone (the lr = 1 answer, under
    the claim board: what the first screen shows) and `rest` everything after it: the app sends
    them in two answers, so the browser draws the answer without waiting for the other figures
    (plotly.js draws the figures of one answer in one go; benchmarks/dashboard.py --browser).
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
            graph = dcc.Graph(
                figure=fig, config=figure_config(anchor), id={"type": "figure", "anchor": anchor}
            )
            svg = html.Button(
                "SVG",
                id={"type": "svg", "anchor": anchor},
                className="svg-download",
                title=f"download {anchor} as SVG",
            )
            label: Any = {"aria-label": figure_text(fig)}  # Dash passes aria-* through
            out.append(
                html.Div([graph, svg], id=anchor, className="figure", role="figure", **label)
            )
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
            csvExportParams={"fileName": "trials.csv"},
            style={"width": "100%"},
        ),
    ]


def render_drill(view: Any, optimizer: str, config: str) -> list[Any]:
    """One configuration: its seeds (outcome, value, divergence epoch and reason) and curves."""
    data, analysis = view["data"], view["analysis"]
    columns, rows = view["trials"]
    mine = [r for r in rows if r["optimizer"] == optimizer and r["config"] == config]
    # The columns that say something about these trials (no empty `error` column, say).
    shown = [
        c
        for c in columns
        if c not in ("optimizer", "config", "study", "wall_seconds")
        and any(r[c] is not None and r[c] != "" for r in mine)
    ]
    curves = figures.config_curves_figure(analysis, data.curves, optimizer, config)
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


class _Cache:
    """A small LRU of analysed pages, owned by one app. Each value is built once: whoever asks
    for a key that is being built (the start-up analysis and the first visit, or the callbacks
    of one page load) waits for that build instead of starting another."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[Any, Future[Any]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value of `key` (waiting for it while it is built), or None if never built."""
        with self.lock:
            future = self.items.get(key)
            if future is None:
                return None
            self.items.move_to_end(key)
        return future.result()

    def get_or_build(self, key: Any, build: Callable[[], Any]) -> Any:
        """The value of `key`, built by `build` only if nobody has built or is building it. A
        build that raises is forgotten, so the next asker tries again, and re-raised to all."""
        with self.lock:
            future = self.items.get(key)
            owner = future is None
            if future is None:
                future = self.items[key] = Future()
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        if owner:
            try:
                future.set_result(build())
            except BaseException as error:
                with self.lock:
                    if self.items.get(key) is future:
                        del self.items[key]
                future.set_exception(error)
        return future.result()


def url_state(search: str | None) -> dict[str, Any]:
    """The view a URL query holds: `optimizers` and `seeds` (comma-separated), `brush` (the
    parallel coordinates' ranges) and `filter` (the trial table's filter model), both JSON."""
    query = parse_qs((search or "").lstrip("?"))
    out: dict[str, Any] = {}
    for key in ("optimizers", "seeds"):
        if query.get(key):
            out[key] = [v for v in query[key][0].split(",") if v]
    for key in ("brush", "filter"):
        if query.get(key):
            try:
                value = json.loads(query[key][0])
            except ValueError:
                continue
            if isinstance(value, dict):
                out[key] = value
    return out


def url_search(
    optimizers: list[str] | None,
    every_optimizer: list[str],
    seeds: list[int] | None,
    every_seed: list[int],
    brush: dict[str, Any] | None,
    table_filter: dict[str, Any] | None,
) -> str:
    """The query for a view (nothing for what is all selected or empty), so a view can be
    shared as a link: `url_state` reads it back."""
    query: dict[str, str] = {}
    if optimizers is not None and set(optimizers) != set(every_optimizer):
        query["optimizers"] = ",".join(str(o) for o in optimizers)
    if seeds is not None and set(seeds) != set(every_seed):
        query["seeds"] = ",".join(str(x) for x in sorted(seeds))
    brushed = {a: r for a, r in (brush or {}).items() if r}
    if brushed:
        query["brush"] = json.dumps(brushed, separators=(",", ":"), sort_keys=True)
    if table_filter:
        query["filter"] = json.dumps(table_filter, separators=(",", ":"), sort_keys=True)
    return "?" + urlencode(query) if query else ""


def brushed_rows(
    analysis: Any, rows: list[dict[str, Any]], brush: dict[str, Any] | None
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


def selection_of(data: StudyData) -> tuple[list[str], list[int]]:
    """Every optimizer and seed of a study: what the filters tick on a first visit."""
    seeds = sorted(int(s) for s in data.trials["seed"].dropna().unique())
    return sorted(data.hyperparameters), seeds


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
        found, _ = groups()
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

    loaded: dict[str, tuple[Any, StudyData]] = {}

    def load(name: str) -> StudyData:
        """The study's trials; a finished study whose counts by outcome have not changed since
        the last read is not read again (its counts come with the cheap group listing)."""
        found, _ = groups()
        counts = next((dict(g.counts) for g in found if g.name == name), None)
        if name in loaded and counts and not counts.get("running") and loaded[name][0] == counts:
            return loaded[name][1]
        data: StudyData = fresh(("study", name), lambda: load_study_data(storage, name))
        loaded[name] = (counts, data)
        return data

    def page_key(name: str, data: StudyData, optimizers: list[str], seeds: list[int]) -> str:
        """One page: a study as its trials stand, with a selection of optimizers and seeds."""
        return repr((name, fingerprint(data), tuple(sorted(optimizers)), tuple(sorted(seeds))))

    def build_view(data: StudyData, subset: StudyData, optimizers: list[str]) -> dict[str, Any]:
        """The analysis of `subset` (`data` filtered) and everything its page shows."""
        analysis = analyze(subset)
        page = build_page(
            analysis,
            subset.curves,
            defaults=optimizer_defaults(subset),
            hidden=hidden_claims(data, optimizers),
            data=subset,
        )
        return {
            "page": page,
            "analysis": analysis,
            "data": subset,
            "trials": page.trials or ([], []),
        }

    def analyse_first_page() -> None:
        """The page `/` opens on, analysed before anyone asks (`analyse_first`)."""
        try:
            found, _ = groups()
            if not found:
                return
            name = found[0].name
            data = load(name)
            optimizers, seeds = selection_of(data)
            subset = filter_study(data, optimizers, seeds)
            if not subset.trials.empty:
                key = page_key(name, data, optimizers, seeds)
                pages.get_or_build(key, lambda: build_view(data, subset, optimizers))
        except Exception:  # the page's own request will meet the same failure and show it
            return

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
            data = load(name)
        except HpsearchError:
            return [], [], [], []
        optimizers, seeds = selection_of(data)
        state = url_state(search)
        picked = [o for o in optimizers if o in state.get("optimizers", [])] or optimizers
        wanted = state.get("seeds", [])
        chosen = [x for x in seeds if str(x) in wanted] or seeds
        return (
            [{"label": o, "value": o} for o in optimizers],
            picked,
            [{"label": str(s), "value": s} for s in seeds],
            chosen,
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
        # Before `fill_filters` has ticked every box, nothing ticked yet means everything: the
        # same page as once the boxes arrive, so it is analysed and drawn once, not twice.
        everything = selection_of(data)
        optimizers = everything[0] if optimizers is None else optimizers
        seeds = everything[1] if seeds is None else seeds
        key = page_key(name, data, optimizers, seeds)
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
            view = pages.get_or_build(key, lambda: build_view(data, subset, optimizers))
        except HpsearchError as error:
            return (status, [html.P(str(error), className="error")], [], key, interval)
        page = view["page"]
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
        view = pages.get(shown)
        if view is None:
            return []
        state = url_state(search)
        brush = state.get("brush", {})
        columns, rows = view["trials"]
        kept, note = brushed_rows(view["analysis"], rows, brush)
        page = with_brush(view["page"], brush)
        return render_sections(page, "rest") + render_trials(
            columns, rows, kept, note, state.get("filter")
        )

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
        if dash.ctx.triggered_id == "shown":
            wanted = url_state(search).get("brush", {})
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
        view = pages.get(shown)
        if view is None:
            return dash.no_update, dash.no_update
        return brushed_rows(view["analysis"], view["trials"][1], brush)

    @app.callback(
        Output("table-filter", "data"),
        Input("trial-table", "filterModel"),
        prevent_initial_call=True,
    )
    def keep_table_filter(model: dict[str, Any] | None) -> Any:
        return model or {}

    @app.callback(
        Output("url", "search"),
        Input("optimizers", "value"),
        Input("seeds", "value"),
        Input("brush", "data"),
        Input("table-filter", "data"),
        State("optimizers", "options"),
        State("seeds", "options"),
        State("url", "search"),
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
    ) -> Any:
        """The view into the URL's query (no reload), so the address can be shared."""
        if not optimizer_options:  # the filters are not filled yet: keep the URL's view
            return dash.no_update
        wanted = url_search(
            optimizers,
            [o["value"] for o in optimizer_options],
            seeds,
            [o["value"] for o in seed_options or []],
            brush,
            table_filter,
        )
        return wanted if wanted != (search or "") else dash.no_update

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
        State("shown", "data"),
        prevent_initial_call=True,
    )
    def drill_down(clicks: list[Any], _close: int | None, shown: str | None) -> tuple[Any, Any]:
        """Clicking a point that stands for a configuration opens it; `close` hides it again."""
        hidden = {"display": "none"}
        if dash.ctx.triggered_id == "drill-close":
            return [], hidden
        view = pages.get(shown)
        value = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        if view is None or not value:
            return dash.no_update, dash.no_update
        anchor = dash.ctx.triggered_id.get("anchor") if dash.ctx.triggered_id else None
        custom = clicked_customdata(view["page"], anchor, (value.get("points") or [{}])[0])
        # Clickable traces carry [config, optimizer, ...] (see dashboards.figures).
        if not isinstance(custom, list | tuple) or len(custom) < 2:
            return dash.no_update, dash.no_update
        config, optimizer = str(custom[0]), str(custom[1])
        if optimizer not in view["data"].hyperparameters:
            return dash.no_update, dash.no_update
        return render_drill(view, optimizer, config), {}

    if analyse_first:
        threading.Thread(target=analyse_first_page, name="analyse-first", daemon=True).start()
    return secure(app)  # CSP and frame headers, Host check (dashboards/security.py)
