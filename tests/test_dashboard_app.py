"""The Dash app in-process: its routes and callbacks over a real SQLite study, and the CLI verbs."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dashboards.app import create_app
from dashboards.store import selection_of
from dashboards.view import View, study_from_path, study_path
from hpsearch.analysis.synthetic import lr_one_study, store_study

pytestmark = pytest.mark.slow

NAME = "app-demo"
EVIL = "<img src=x onerror=alert(1)>"
GRIDS = {
    "adabound": {"lr": [1e-3, 1e-1, 1.0], "gamma": [1e-3, 1e-1]},
    "adam": {"lr": [1e-3, 1e-1, 1.0]},
    "sgd": {"lr": [1e-3, 1e-1, 1.0]},
}
RENDER = (
    "..status.children...verdicts-area.children...sections-area.children...shown.data"
    "...refresh.interval.."
)


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('app') / 'studies.db'}"
    store_study(url, lr_one_study(NAME, grids=GRIDS, seeds=2, epochs=3), claims={"bootstrap": 100})
    running = lr_one_study(EVIL, grids={"adam": {"lr": [1e-3, 1e-2]}}, seeds=2, epochs=2)
    running.trials.loc[0, "outcome"] = "running"
    store_study(url, running, claims={"bootstrap": 100})
    return url


@pytest.fixture(scope="module")
def client(storage: str) -> Any:
    return create_app(storage).server.test_client()


def _render(
    client: Any,
    name: str,
    optimizers: list[str],
    seeds: list[int],
    changed: str = "study.value",
    shown: str | None = None,
) -> dict[str, Any]:
    payload = {
        "output": RENDER,
        "outputs": [
            {"id": i, "property": p}
            for i, p in (
                ("status", "children"),
                ("verdicts-area", "children"),
                ("sections-area", "children"),
                ("shown", "data"),
                ("refresh", "interval"),
            )
        ],
        "inputs": [
            {"id": "study", "property": "value", "value": name},
            {"id": "optimizers", "property": "value", "value": optimizers},
            {"id": "seeds", "property": "value", "value": seeds},
            {"id": "refresh", "property": "n_intervals", "value": 1},
        ],
        "changedPropIds": [changed],
        "state": [{"id": "shown", "property": "data", "value": shown}],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.data[:2000]
    return json.loads(response.data)["response"]


def _later(client: Any, shown: str | None, search: str = "") -> list[Any]:
    """The second answer of a page load: the sections after the first, the summary, the trials
    (the browser asks for it as soon as the first answer sets `shown`), each figure's slot
    filled as the browser fills it when a reader scrolls to it (`_draw_lazy`)."""
    payload = {
        "output": "later-area.children",
        "outputs": {"id": "later-area", "property": "children"},
        "inputs": [{"id": "shown", "property": "data", "value": shown}],
        "changedPropIds": ["shown.data"],
        "state": [{"id": "url", "property": "search", "value": search}],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.data[:2000]
    children = list(json.loads(response.data)["response"]["later-area"]["children"])
    for slot in _slots(children):
        slot["props"]["children"] = _draw_lazy(client, slot["props"]["id"]["anchor"], shown, search)
    return children


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a rendered component tree (components, their props, figures), depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _slots(tree: Any) -> list[dict[str, Any]]:
    """The empty slots of figures below the fold in a rendered component tree."""
    return [
        node
        for node in _nodes(tree)
        if isinstance(node.get("props"), dict)
        and isinstance(node["props"].get("id"), dict)
        and node["props"]["id"].get("type") == "lazy"
    ]


def _draw_lazy(client: Any, anchor: str, shown: str | None, search: str = "") -> Any:
    """What the app answers when a figure's slot comes near the view (assets/lazy.js)."""
    slot = {"type": "lazy", "anchor": anchor}
    near = {"type": "lazy-near", "anchor": anchor}
    payload = {
        "output": '{"anchor":["MATCH"],"type":"lazy"}.children',
        "outputs": {"id": slot, "property": "children"},
        "inputs": [{"id": near, "property": "data", "value": 1}],
        "changedPropIds": [json.dumps(near, separators=(",", ":"), sort_keys=True) + ".data"],
        "state": [
            {"id": "shown", "property": "data", "value": shown},
            {"id": "brush", "property": "data", "value": View.parse(search).brush},
        ],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code == 200, response.data[:2000]
    return json.loads(response.data)["response"][next(iter(json.loads(response.data)["response"]))][
        "children"
    ]


def _graphs(tree: Any) -> list[dict[str, Any]]:
    """Every dcc.Graph figure in a rendered component tree."""
    return [node["props"]["figure"] for node in _nodes(tree) if node.get("type") == "Graph"]


def test_layout_lists_the_studies_as_text(client: Any) -> None:
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200
    text = layout.data.decode()
    assert f'"label":"{NAME}"' in text
    # JSON for React to render as text: the tag is data, never markup in the page.
    assert "onerror=alert(1)" in text
    index = client.get("/").data.decode()
    assert "onerror" not in index
    assert "cdn" not in index.lower()  # all JS served locally


def test_render_callback_returns_verdicts_and_figures(client: Any) -> None:
    out = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    verdicts = json.dumps(out["verdicts-area"]["children"])
    assert "adabound is insensitive to lr" in verdicts
    assert any(r in verdicts for r in ("SUPPORTED", "REFUTED", "INCONCLUSIVE"))
    # The first answer is the lr = 1 answer alone (its figure and table): the first screen draws
    # without waiting for the other figures, which the second answer brings, with the summary
    # and the trials.
    first = out["sections-area"]["children"]
    assert [a for a, _ in _anchored(first)] == ["fig-lr-one"]
    assert "Does lr = 1 fail?" in json.dumps(first)
    assert "lr = 1, others at defaults" in json.dumps(first) and "Table" in json.dumps(first)
    later = _later(client, out["shown"]["data"])
    anchors = [a for a, _ in _anchored(later)]
    assert anchors[:2] == ["fig-lr-curves", "fig-sensitivity-lr"] and "fig-lr-one" not in anchors
    assert "trial-table" in json.dumps(later) and "Summary" in json.dumps(later)
    graphs = _graphs(first + later)
    assert len(graphs) >= 8
    names = {trace.get("name") for g in graphs for trace in g["data"]}
    assert {"adabound", "adam", "sgd"} <= names
    assert out["refresh"]["interval"] == 30_000  # nothing running: slow polling
    # A page that was never drawn (or a failed one) has no later sections.
    assert _later(client, None) == [] and _later(client, "no such page") == []


def _open_card(client: Any, anchor: str, shown: str | None) -> Any:
    """What the app answers when a board row's summary is clicked (or Enter pressed on it)."""
    summary = {"type": "claim-summary", "anchor": anchor}
    payload = {
        "output": '{"anchor":["MATCH"],"type":"claim-details"}.children',
        "outputs": {"id": {"type": "claim-details", "anchor": anchor}, "property": "children"},
        "inputs": [{"id": summary, "property": "n_clicks", "value": 1}],
        "changedPropIds": [
            json.dumps(summary, separators=(",", ":"), sort_keys=True) + ".n_clicks"
        ],
        "state": [{"id": "shown", "property": "data", "value": shown}],
    }
    return client.post("/_dash-update-component", json=payload)


def test_a_board_row_gets_its_details_when_opened(client: Any) -> None:
    out = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    board = out["verdicts-area"]["children"][1]
    rows = [r for r in board["props"]["children"] if r["props"].get("className") == "claim-row"]
    assert rows
    # The page arrives with every row's summary and no details: they are drawn when opened.
    bodies = [r["props"]["children"][1]["props"] for r in rows]
    assert all(b["className"] == "claim-details" and not b.get("children") for b in bodies)
    anchor, shown = rows[0]["props"]["id"], out["shown"]["data"]
    response = _open_card(client, anchor, shown)
    assert response.status_code == 200, response.data[:2000]
    details = json.dumps(json.loads(response.data)["response"])
    assert "Figures: " in details and "settings" in details
    # No page on screen (a stale key), or no such row: nothing is drawn.
    for stale in (_open_card(client, anchor, "no such page"), _open_card(client, "x", shown)):
        assert stale.status_code == 204 or not json.loads(stale.data).get("response"), stale.data


def test_filters_rerun_the_analysis_on_the_subset(client: Any) -> None:
    out = _render(client, NAME, ["adam", "sgd"], [0])
    below = out["sections-area"]["children"] + _later(client, out["shown"]["data"])
    names = {trace.get("name") for g in _graphs(below) for trace in g["data"]}
    assert "adam" in names and "adabound" not in names
    board, *rest = out["verdicts-area"]["children"]
    # AdaBound's claims are not on the board; a note says they are hidden, and why.
    assert "adabound is insensitive" not in json.dumps(board)
    assert "not selected" in json.dumps(rest) and "adabound is insensitive to lr" in json.dumps(
        rest
    )


def test_timer_tick_without_changes_does_not_redraw(client: Any) -> None:
    first = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    again = _render(
        client,
        NAME,
        ["adabound", "adam", "sgd"],
        [0, 1],
        changed="refresh.n_intervals",
        shown=first["shown"]["data"],
    )
    assert "verdicts-area" not in again and "sections-area" not in again
    assert "status" in again


def test_running_study_polls_fast(client: Any) -> None:
    out = _render(client, EVIL, ["adam"], [0, 1])
    assert out["refresh"]["interval"] == 5_000
    assert "1 running" in json.dumps(out["status"])
    # The CLI's word for a trial whose run errored: "failed", on the status line too.
    assert "0 failed" in json.dumps(out["status"]) and " error" not in json.dumps(out["status"])


def test_url_and_picker_stay_in_step(client: Any) -> None:
    assert study_from_path(study_path(EVIL)) == EVIL
    assert "<" not in study_path(EVIL)
    payload = {
        "output": "..url.pathname...study.value...study.options..",
        "outputs": [
            {"id": "url", "property": "pathname"},
            {"id": "study", "property": "value"},
            {"id": "study", "property": "options"},
        ],
        "inputs": [
            {"id": "url", "property": "pathname", "value": "/study/" + quote(EVIL, "")},
            {"id": "study", "property": "value", "value": None},
            {"id": "task", "property": "value", "value": None},
        ],
        "changedPropIds": ["url.pathname"],
        "state": [],
    }
    out = json.loads(client.post("/_dash-update-component", json=payload).data)["response"]
    assert out["study"]["value"] == EVIL
    assert {o["value"] for o in out["study"]["options"]} == {NAME, EVIL}
    # Picking another study in the picker moves the URL to its page.
    payload["inputs"][1]["value"] = NAME  # type: ignore[index]
    payload["changedPropIds"] = ["study.value"]
    out = json.loads(client.post("/_dash-update-component", json=payload).data)["response"]
    assert out["url"]["pathname"] == study_path(NAME)
    # The task filter narrows the picker.
    payload["inputs"][2]["value"] = "no-such-task"  # type: ignore[index]
    payload["changedPropIds"] = ["task.value"]
    out = json.loads(client.post("/_dash-update-component", json=payload).data)["response"]
    assert out["study"]["options"] == []


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """Run `hpsearch ARGS` in-process through the real entry point; (exit code, stderr)."""
    from hpsearch.cli import main

    monkeypatch.setattr(sys, "argv", ["hpsearch", *args])
    code = 0
    try:
        main()
    except SystemExit as done:
        code = int(done.code or 0)
    return code, capsys.readouterr().err


def test_missing_storage_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    for verb in (["dashboard", "--storage", missing], ["report", NAME, "--storage", missing]):
        code, err = _cli(monkeypatch, capsys, *verb)
        assert code != 0
        assert "does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "nope.db").exists()  # nothing created behind the user's back


def test_report_verb_writes_one_html_file(
    storage: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "report.html"
    code, err = _cli(monkeypatch, capsys, "report", NAME, "--out", str(out), "--storage", storage)
    assert code == 0, err
    html = out.read_text()
    assert "class='board'" in html and "adabound is insensitive to lr" in html
    assert out.stat().st_size <= 8 * 1024 * 1024


def test_timer_tick_after_a_change_redraws(client: Any) -> None:
    from dashboards.study import fingerprint

    data = lr_one_study("f", grids={"adam": {"lr": [1e-3, 1e-2]}}, seeds=2, epochs=2)
    before = fingerprint(data)
    data.trials.loc[0, "outcome"] = "running"
    assert fingerprint(data) != before  # a trial that starts or finishes changes it
    again = _render(
        client,
        NAME,
        ["adabound", "adam", "sgd"],
        [0, 1],
        changed="refresh.n_intervals",
        shown="a page drawn from older trials",
    )
    assert "adabound is insensitive to lr" in json.dumps(again["verdicts-area"])


def _click(
    client: Any, anchor: str, customdata: Any, shown: str, picked: str | None = None
) -> dict[str, Any]:
    """Fire the drill-down callback as the browser does when a point of figure `anchor` is
    clicked (`customdata` a list, as Dash forwards it for scatter points, or the whole point),
    or, with `picked`, when the keyboard's picker chooses a configuration."""
    graph = {"type": "figure", "anchor": anchor}
    point = customdata if isinstance(customdata, dict) else {"customdata": customdata}
    changed = (
        "drill-pick.value"
        if picked is not None
        else json.dumps(graph, separators=(",", ":"), sort_keys=True) + ".clickData"
    )
    payload = {
        "output": "..drill-body.children...drill.style..",
        "outputs": [
            {"id": "drill-body", "property": "children"},
            {"id": "drill", "property": "style"},
        ],
        "inputs": [
            [
                {
                    "id": graph,
                    "property": "clickData",
                    "value": {"points": [point]},
                }
            ],
            {"id": "drill-close", "property": "n_clicks", "value": None},
            {"id": "drill-pick", "property": "value", "value": picked},
        ],
        "changedPropIds": [changed],
        "state": [{"id": "shown", "property": "data", "value": shown}],
    }
    response = client.post("/_dash-update-component", json=payload)
    assert response.status_code in (200, 204), response.data[:2000]
    return json.loads(response.data)["response"] if response.status_code == 200 else {}


def test_clicking_a_configuration_opens_its_seeds_and_curves(client: Any) -> None:
    out = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    config = "gamma=0.001 lr=1"
    drill = _click(client, "fig-sensitivity-lr", [config, "adabound", "x"], out["shown"]["data"])
    assert drill["drill"]["style"] == {}
    text = json.dumps(drill["drill-body"]["children"])
    assert f"adabound: {config}" in text
    # Its two seeds, with their outcomes and the divergence reason of the diverged one.
    assert "2 trials of this configuration" in text
    assert "diverged" in text and "non-finite loss" in text
    assert len(_graphs(drill["drill-body"]["children"])) == 1
    # A point that is not a configuration (a band, the track) changes nothing.
    assert _click(client, "fig-sensitivity-lr", [], out["shown"]["data"]) == {}
    # Dash forwards no customdata for a heatmap cell: the cell is found from its x and y.
    anchor, heat = next(
        (a, f) for a, f in _anchored(_later(client, out["shown"]["data"])) if "heatmap" in a
    )
    cell = {"curveNumber": 0, "x": heat["data"][0]["x"][-1], "y": heat["data"][0]["y"][0]}
    config = heat["data"][0]["customdata"][0][-1][0]
    assert "gamma=" in config and "lr=" in config
    drill = _click(client, anchor, cell, out["shown"]["data"])
    assert f"adabound: {config}" in json.dumps(drill["drill-body"]["children"])


def test_the_keyboard_picker_opens_any_configuration(client: Any) -> None:
    """The picker under the figures lists every configuration of the page; choosing one opens
    the same drill-down a click on its point opens."""
    out = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    payload = {
        "output": "..drill-pick.options...drill-picker.style..",
        "outputs": [
            {"id": "drill-pick", "property": "options"},
            {"id": "drill-picker", "property": "style"},
        ],
        "inputs": [{"id": "shown", "property": "data", "value": out["shown"]["data"]}],
        "changedPropIds": ["shown.data"],
    }
    answer = json.loads(client.post("/_dash-update-component", json=payload).data)["response"]
    labels = [o["label"] for o in answer["drill-pick"]["options"]]
    assert "adabound: gamma=0.001 lr=1" in labels and answer["drill-picker"]["style"] == {}
    assert len(labels) == len(set(labels))
    assert {label.split(":")[0] for label in labels} == {"adabound", "adam", "sgd"}
    picked = json.dumps(["adabound", "gamma=0.001 lr=1"])
    by_key = _click(client, "none", [], out["shown"]["data"], picked=picked)
    by_click = _click(
        client, "fig-sensitivity-lr", ["gamma=0.001 lr=1", "adabound"], out["shown"]["data"]
    )
    assert by_key["drill"]["style"] == {}
    assert by_key["drill-body"]["children"][:3] == by_click["drill-body"]["children"][:3]
    # A value that names no configuration of the page opens nothing.
    bad = json.dumps(["nadam", "lr=1"])
    assert _click(client, "none", [], out["shown"]["data"], picked=bad) == {}


def _anchored(tree: Any) -> list[tuple[str, dict[str, Any]]]:
    """(anchor, figure) of every figure in a rendered component tree."""
    found = []
    if isinstance(tree, dict):
        if tree.get("type") == "Graph" and isinstance(tree["props"].get("id"), dict):
            found.append((tree["props"]["id"]["anchor"], tree["props"]["figure"]))
        for value in tree.values():
            found += _anchored(value)
    elif isinstance(tree, list):
        for value in tree:
            found += _anchored(value)
    return found


def test_status_and_notes_follow_the_seed_filter(client: Any) -> None:
    everything = _render(client, NAME, ["adabound", "adam", "sgd"], [0, 1])
    one_seed = _render(client, NAME, ["adabound", "adam", "sgd"], [0])
    status = json.dumps(one_seed["status"])
    # Seed 0 of two: half the 24 trials are counted, and the status says of how many.
    counts = re.findall(r"(\d+) (completed|diverged|failed|running)", status)
    assert sum(int(n) for n, _ in counts) == 12 and "(of 24 trials in the study)" in status
    assert "trials in the study" not in json.dumps(everything["status"])
    # The study asks for min_seeds = 5 (the default): one seed cannot decide seed statistics.
    areas = one_seed["verdicts-area"]["children"]
    notes = next(a for a in areas if a["props"].get("className") == "notes")["props"]["children"]
    said = [n["props"]["children"] for n in notes if "min_seeds" in n["props"]["children"]]
    assert said == ["Low power: S = 1 seed (< min_seeds = 5): every verdict stays INCONCLUSIVE."]


def test_the_ticked_boxes_arriving_do_not_redraw_the_page(client: Any) -> None:
    # A page load renders before `fill_filters` ticks the boxes (nothing ticked yet), then again
    # once they are all ticked: the same page, so it is analysed and drawn once.
    before = _render(client, NAME, None, None, shown=None)  # type: ignore[arg-type]
    assert "verdicts-area" in before
    after = _render(
        client,
        NAME,
        ["adabound", "adam", "sgd"],
        [0, 1],
        changed="optimizers.value",
        shown=before["shown"]["data"],
    )
    assert "verdicts-area" not in after and "sections-area" not in after and "status" in after
    # Unticking one box is another page.
    fewer = _render(client, NAME, ["adam", "sgd"], [0, 1], "optimizers.value", shown=None)
    assert fewer["shown"]["data"] != before["shown"]["data"]


def test_the_first_page_is_analysed_at_start_up_and_the_first_visit_reuses_it(
    storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hpsearch dashboard` (`analyse_first`) analyses the page `/` opens on as it starts; the
    first visit, arriving while that analysis runs, waits for it instead of analysing again."""
    import dashboards.callbacks as callbacks_module
    from hpsearch.analysis import analyze
    from hpsearch.storage import list_study_groups, load_study_data

    analysed: list[str] = []
    started, visiting = threading.Event(), threading.Event()
    real_filter = callbacks_module.filter_study

    def filter_study(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name != "analyse-first":
            visiting.set()  # the visit's render, just before it asks for the page
        return real_filter(*args, **kwargs)

    def analyzer(data: Any) -> Any:
        analysed.append(data.name)
        started.set()
        assert visiting.wait(60), "the visit never asked for the page"
        return analyze(data)

    monkeypatch.setattr(callbacks_module, "filter_study", filter_study)
    app = create_app(storage, analyzer=analyzer, analyse_first=True)
    assert started.wait(60), "nothing was analysed at start-up"
    first = list_study_groups(storage)[0].name
    client = app.server.test_client()
    answers: list[dict[str, Any]] = []

    def first_visit() -> None:  # nothing ticked yet: the browser's first render
        answers.append(_render(client, first, None, None))  # type: ignore[arg-type]

    visit = threading.Thread(target=first_visit)
    visit.start()
    visit.join(60)
    assert answers and "verdicts-area" in answers[0] and answers[0]["sections-area"]
    # Every box ticked (what `fill_filters` sends next) is the same page: still one analysis.
    optimizers, seeds = selection_of(load_study_data(storage, first))
    assert "verdicts-area" in _render(client, first, optimizers, seeds)
    assert analysed == [first]


def test_unticking_an_optimizer_hides_every_kind_of_claim_that_names_it() -> None:
    """A study whose `[claims]` names optimizers explicitly (V1, V2 and the "lr = 1 fails" V3,
    as the demo does): unticking one hides its claims with a note, and the others are decided
    (the "fails" list was kept whole, and the page failed with a claims error)."""
    from dataclasses import replace

    from dashboards.study import analyze_study, filter_study, hidden_claims

    grids = {"adabound": {"lr": [1e-3, 1e-1, 1.0]}, "adam": {"lr": [1e-3, 1e-1, 1.0]}}
    claims = {
        "insensitive": ["adabound.lr", "adam.lr"],
        "compare": [["adabound", "adam"]],
        "fails": ["adabound.lr = 1", "adam.lr = 1"],
        "min_seeds": 2,
        "bootstrap": 100,
    }
    data = replace(lr_one_study("named", grids=grids, seeds=2, epochs=2), spec={"claims": claims})
    subset = filter_study(data, ["adam"], None)
    decided = analyze_study(subset)
    assert {v.optimizers for v in decided.verdicts} == {("adam",)}
    assert {v.kind for v in decided.verdicts} == {"V1", "V3"}
    assert hidden_claims(data, ["adam"]) == [
        "adabound is insensitive to lr",
        "adabound is less sensitive than adam",
        "adabound fails at lr = 1",
    ]
    # The default "lr = 1 fails" is no claim where the grid has no lr = 1: no note names it.
    no_one = {o: {"lr": [1e-3, 1e-1]} for o in grids}
    plain = lr_one_study("plain", grids=no_one, seeds=2, epochs=2)
    assert hidden_claims(plain, ["adam"]) == [
        "adabound is insensitive to lr",
        "adabound is less sensitive than adam",
    ]
