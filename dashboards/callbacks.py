"""The live dashboard's callbacks, registered on an app by one function per concern.

Each takes the app and the typed pieces it needs (the `PageStore` that reads and caches pages,
the refresh period): the page and its view (`register_page`: study, filters, the page drawn, the
view in the URL), lazy drawing (`register_figures`: a figure as it comes near the view, its SVG
download), the drill-down (`register_drill`) and the table with the parallel coordinates'
brushes (`register_brushing`). The callbacks pass page keys (`shown`) and `View`s; what they
draw comes from `dashboards.components`.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, MATCH, Input, Output, State, html

from dashboards.components import (
    brushed_rows,
    clicked_customdata,
    configuration_of_option,
    configuration_options,
    render_card_details,
    render_drill,
    render_graph,
    render_sections,
    render_trials,
    render_verdicts,
    with_brush,
)
from dashboards.parallel import constraint_ranges
from dashboards.plotting import clicked_configuration
from dashboards.store import PageStore, selection_of
from dashboards.study import filter_study
from dashboards.view import View, study_from_path, study_path
from hpsearch.errors import HpsearchError
from hpsearch.studydata import OUTCOMES, outcome_word

RUNNING_REFRESH_S = 5.0
IDLE_REFRESH_S = 30.0


def register_page(app: dash.Dash, store: PageStore, refresh_seconds: float | None) -> None:
    """The study picked (URL and picker in step), its optimizers and seeds, the page analysed
    and drawn (the first section at once, the rest when it is shown), and the view written
    back into the URL. `refresh_seconds`: see `dashboards.app.create_app`."""

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
        # A filter change shows the trials as the page last read them; the timer and a study
        # picked ask the storage again (`PageStore.load`).
        recheck = dash.ctx.triggered_id not in ("optimizers", "seeds")
        try:
            data = store.load(name, recheck=recheck)
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
        Output({"type": "claim-details", "anchor": MATCH}, "children"),
        Input({"type": "claim-summary", "anchor": MATCH}, "n_clicks"),
        State("shown", "data"),
        prevent_initial_call=True,
    )
    def open_card(clicks: int | None, shown: str | None) -> Any:
        """A board row opened (a click or Enter on its summary): its details, from the page on
        screen (`components._card` says why they are not drawn before)."""
        analysed = store.shown(shown)
        anchor = dash.ctx.triggered_id.get("anchor") if dash.ctx.triggered_id else None
        card = (
            next((c for c in analysed.page.cards if c.anchor == anchor), None) if analysed else None
        )
        return dash.no_update if card is None or not clicks else render_card_details(card)

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


def register_figures(app: dash.Dash, store: PageStore) -> None:
    """A figure below the fold drawn when it comes near the view; a figure's SVG download."""

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


def register_drill(app: dash.Dash, store: PageStore) -> None:
    """The drill-down: a configuration opened by a click on a figure or the keyboard's picker,
    with the focus on its close button."""

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


def register_brushing(app: dash.Dash, store: PageStore) -> None:
    """The trial table: the rows the parallel coordinates' brushes keep, its filters kept for
    the URL, its CSV download."""

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
        Output("trial-table", "exportDataAsCsv"),
        Input("trials-csv", "n_clicks"),
        prevent_initial_call=True,
    )
    def download_trials(clicks: int) -> bool:
        """AG Grid writes the CSV in the browser: the rows its filters keep, as sorted."""
        return bool(clicks)
