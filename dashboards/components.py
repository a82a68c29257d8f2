"""The Dash components of one study page, and what the callbacks compute from a page on screen.

`dashboards.page.build_page` says what a page shows; this module draws it as Dash components: the
answer and the claim board, the figure sections (the first drawn at once, the rest as slots that
`assets/lazy.js` fills when they come near the view), the trial table (AG Grid) and the
drill-down. It also finds what a click or a brush means on that page (`clicked_customdata`,
`brushed_rows`, `with_brush`). Every name from a study is rendered as text by Dash, never as HTML.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Literal

import dash_ag_grid as dag
import plotly.graph_objects as go
from dash import dcc, html

from dashboards.answer import answer_count
from dashboards.curves import config_curves_figure
from dashboards.page import BOARD_HEAD, Page, VerdictCard, figure_text, numeric_columns, slug
from dashboards.parallel import kept_configs, parallel_optimizers, parallel_record
from dashboards.store import AnalysedPage
from dashboards.theme import VERDICT_COLORS, figure_config
from hpsearch.analysis.records import StudyAnalysis


def _card(card: VerdictCard) -> html.Details:
    """One board row (result, claim, headline number, why). Its details are drawn when the row
    is opened (`render_card_details`): each is some thirty Dash components, and a board of
    forty rows of them cost the browser over a second on every page and filter change
    (benchmarks/dashboard.py --browser)."""
    head = html.Span(card.headline_label and [card.headline, " ", html.Small(card.headline_label)])
    summary = html.Summary(
        [
            html.Span(card.result, className="badge result"),
            html.Span(card.claim, className="claim-text"),
            html.Span(head.children or card.headline, className="headline"),
            html.Span(card.reason, className="reason"),
        ],
        id={"type": "claim-summary", "anchor": card.anchor},
    )
    return html.Details(
        [
            summary,
            html.Div(
                id={"type": "claim-details", "anchor": card.anchor}, className="claim-details"
            ),
        ],
        className="claim-row",
        id=card.anchor,
        style={"--verdict": card.color},
    )


def render_card_details(card: VerdictCard) -> list[Any]:
    """What an opened board row shows: the sentence, the numbers, the reasons, the guarantee,
    the settings and links to the figures behind the claim."""
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
    return children


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
    """The page with the brushed ranges drawn on its parallel coordinates (a shared link).

    A brushed figure is rebuilt from a deep copy (`to_dict`): `go.Figure(fig)` takes each trace's
    `type` out of the source figure and puts it back, and the cached page's figures are read by
    the server's other threads at the same time (a lazy figure then failed with KeyError)."""
    if not brush:
        return page
    sections = []
    for section in page.sections:
        figures_ = []
        for anchor, fig in section.figures:
            ranges = brush.get(anchor)
            if ranges and fig.data and fig.data[0].type == "parcoords":
                fig = go.Figure(fig.to_dict())
                dims = list(fig.data[0].dimensions)
                for key, spans in ranges.items():
                    if 0 <= int(key) < len(dims):
                        dims[int(key)].constraintrange = spans[0] if len(spans) == 1 else spans
                fig.data[0].dimensions = dims
            figures_.append((anchor, fig))
        sections.append(replace(section, figures=figures_))
    return replace(page, sections=sections)
