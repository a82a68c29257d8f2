"""Figure builders, verdict cards and the HTML report, on the records `analyze` makes of a
synthetic study whose answer is known (`hpsearch.analysis.synthetic.lr_one_study`)."""

from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest

from dashboards.curves import (
    MAX_LR_PANELS,
    curve_table,
    learning_curve_figure,
    lr_curves_figure,
    lr_panels,
)
from dashboards.heatmap import heatmap_figure, heatmap_pairs
from dashboards.lr_one import lr_curve_configs, lr_one_figure, lr_one_records
from dashboards.page import build_page, format_estimate, lr1_failure
from dashboards.report import render_report, write_report
from dashboards.sensitivity import sensitivity_figure
from dashboards.summary_figures import best_of_k_figure, edf_figure, importance_figure
from dashboards.theme import optimizer_color
from hpsearch.analysis import analyze
from hpsearch.analysis.records import Estimate, StudyAnalysis
from hpsearch.analysis.synthetic import lr_one_study
from hpsearch.claims import ClaimsSpec
from hpsearch.studydata import StudyData

# Enough replicates for stable intervals in a test, few enough to take a second.
CLAIMS = ClaimsSpec(bootstrap=200)


@pytest.fixture(scope="module")
def data() -> StudyData:
    return lr_one_study("fixed", seeds=3, epochs=4)


@pytest.fixture(scope="module")
def analysis(data: StudyData) -> StudyAnalysis:
    return analyze(data, CLAIMS)


def _hover_texts(trace: object) -> str:
    return str(trace.hovertemplate) + " ".join(map(str, np.ravel(trace.customdata)))  # type: ignore[attr-defined]


def test_every_diverged_trial_is_drawn_at_the_floor(analysis: StudyAnalysis) -> None:
    fig = sensitivity_figure(analysis, "lr")
    crosses = [
        t
        for t in fig.data
        if t.marker is not None and t.marker.symbol and "x" in str(t.marker.symbol)
    ]
    assert crosses, "diverged trials must be visible"
    floor = 0.1
    for trace in crosses:
        assert np.allclose(np.asarray(trace.y, float), floor)
    # Per optimizer, the "any configuration" markers carry every diverged trial of the grid.
    sens = analysis.sensitivity[analysis.sensitivity["hyperparameter"] == "lr"]
    for optimizer in ("adam", "adabound"):
        summary = [t for t in crosses if t.name.startswith(f"{optimizer}: trials diverged")]
        assert len(summary) == 1
        counts = [int(row[0]) for row in summary[0].customdata]
        expected = sens[(sens["optimizer"] == optimizer)]["n_diverged"]
        assert sum(counts) == int(expected.sum()) > 0
    # Adam diverges at lr >= 0.1 in the sample: its seeds there are x markers, not dots.
    adam_seeds = [
        t for t in crosses if t.name.startswith("diverged seeds") and t.customdata[0][1] == "adam"
    ]
    assert adam_seeds and sum(len(t.x) for t in adam_seeds) >= 3


def test_sensitivity_is_log_x_with_optimizers_overlaid_and_hover(
    analysis: StudyAnalysis,
) -> None:
    fig = sensitivity_figure(analysis, "lr")
    assert fig.layout.xaxis.type == "log"
    assert "lr" in fig.layout.xaxis.title.text and "%" in fig.layout.yaxis.title.text
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert {t.name for t in lines} == {"adabound", "adam", "sgd"}
    seeds = next(t for t in fig.data if t.name == "seeds" and t.customdata[0][1] == "adam")
    text = _hover_texts(seeds)
    assert "config" in text and "seed" in text and "outcome" in text and "test_accuracy" in text
    # The band is there, and profile / slice can be toggled.
    assert any(t.fill == "toself" for t in fig.data)
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert [label.split(":")[0] for label in labels] == ["profile", "slice"]
    # Good regions are marked, one labelled track row per optimizer.
    assert fig.layout.yaxis2.ticktext == ("adabound", "adam", "sgd")


def test_heatmap_cells_are_the_seed_means_without_interpolation(
    analysis: StudyAnalysis,
) -> None:
    fig = heatmap_figure(analysis, "adabound", "lr", "gamma")
    heat = fig.data[0]
    assert heat.zsmooth is False
    configs = analysis.configs[analysis.configs["optimizer"] == "adabound"]
    best = configs.groupby(["gamma", "lr"])["mean"].max()  # best over final_lr
    z = np.asarray(heat.z, float)
    assert z.shape == (2, 5)  # one cell per grid point
    for i, gamma in enumerate(heat.y):
        for j, lr in enumerate(heat.x):
            assert z[i, j] == pytest.approx(best[(float(gamma), float(lr))])
    # The divergence at lr = 1, gamma = 1e-3 is written in the cell.
    cell = heat.text[list(heat.y).index("1e-3")][list(heat.x).index("1")]
    assert "div." in cell


def test_every_figure_of_a_page_is_valid_plotly(analysis: StudyAnalysis, data: StudyData) -> None:
    """Figures are built unvalidated for speed (`dashboards.plotting.figure`): here plotly.py
    checks every property of every figure a page draws, empty ones and the drill-down's too."""
    import plotly.graph_objects as go

    from dashboards.curves import config_curves_figure
    from dashboards.plotting import empty_figure

    page = build_page(analysis, data.curves, defaults=DEFAULTS)
    figures = [fig for section in page.sections for _, fig in section.figures]
    config = str(analysis.configs["config"].iloc[0])
    optimizer = str(analysis.configs["optimizer"].iloc[0])
    figures += [
        config_curves_figure(analysis, data.curves, optimizer, config),
        empty_figure("nothing", "nothing to draw"),
        sensitivity_figure(analysis, "no_such_hp"),
    ]
    assert len(figures) >= 12
    for fig in figures:
        go.Figure(fig.to_plotly_json())  # raises on any property plotly.js does not know


def test_colours_are_the_same_for_an_optimizer_in_every_figure(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    page = build_page(analysis, data.curves)
    seen: dict[str, set[str]] = {}
    for section in page.sections:
        for _, fig in section.figures:
            for trace in fig.data:
                color = getattr(getattr(trace, "line", None), "color", None)
                if trace.type == "scatter" and trace.mode in ("lines", "lines+markers") and color:
                    seen.setdefault(trace.name, set()).add(color)
    for name in ("adabound", "adam", "sgd"):
        assert seen[name] == {optimizer_color(name)}
    assert len({optimizer_color(n) for n in ("adabound", "adam", "sgd")}) == 3


def test_learning_curves_mark_divergence_epochs(analysis: StudyAnalysis, data: StudyData) -> None:
    fig = learning_curve_figure(analysis, data.curves)
    marks = [t for t in fig.data if t.name and t.name.startswith("diverged")]
    assert marks
    picks = analysis.picks[analysis.picks["role"] == "lr=1"]
    adam = picks[picks["optimizer"] == "adam"].iloc[0]
    points = analysis.points
    expected = points[
        points["trial_number"].isin(adam["trial_numbers"]) & (points["outcome"] == "diverged")
    ]["diverged_epoch"].astype(float)
    adam_marks = [t for t in marks if t.marker.color == optimizer_color("adam")]
    drawn = sorted(float(x) for t in adam_marks for x in t.x)
    assert sorted(expected) == drawn[: len(expected)] or set(expected) <= set(drawn)


def test_budget_edf_importance_figures(analysis: StudyAnalysis) -> None:
    bok = best_of_k_figure(analysis)
    assert bok.layout.xaxis.type == "log"
    lines = {t.name for t in bok.data if t.mode == "lines" and t.fill != "toself"}
    assert lines == {"adabound", "adam", "sgd"}
    edf = edf_figure(analysis)
    assert "regret" in edf.layout.xaxis.title.text
    assert "percentage points" in edf.layout.xaxis.title.text
    imp = importance_figure(analysis)
    assert "descriptive" in imp.layout.title.text
    assert all(t.error_y.array is not None for t in imp.data)


def test_an_empty_table_gives_a_message_not_a_blank_plot(analysis: StudyAnalysis) -> None:
    fig = sensitivity_figure(analysis, "no_such_hp")
    assert "no_such_hp" in fig.layout.annotations[0].text


def test_verdict_card_states_the_lr1_failure_from_the_records(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    verdict = analysis.verdicts[0]
    text = lr1_failure(verdict, analysis)
    assert text is not None
    row = analysis.sensitivity[
        (analysis.sensitivity["optimizer"] == "adabound")
        & (analysis.sensitivity["hyperparameter"] == "lr")
        & (analysis.sensitivity["value"] == 1.0)
    ].iloc[0]
    assert f"diverged in {int(row.n_diverged)} of {int(row.n_trials)} runs" in text
    assert "at lr = 1: diverged in" in text
    page = build_page(analysis, data.curves)
    assert page.cards[0].failure == text
    assert page.cards[0].result == verdict.result


def test_estimates_are_shown_in_display_units(analysis: StudyAnalysis) -> None:
    assert format_estimate("max_regret", Estimate(0.0153, 0.01, 0.02), analysis) == (
        "1.53 points [95 % CI 1.00 points, 2.00 points]"
    )
    assert format_estimate("D_a", Estimate(0.5, 0.2, 0.8), analysis).startswith("50.0 %")
    assert format_estimate("best", Estimate(0.931), analysis) == "93.1 %"
    assert format_estimate("delta_E1", Estimate(math.nan), analysis) == "n/a"


def test_report_is_self_contained_escaped_and_small(data: StudyData, tmp_path: object) -> None:
    evil = lr_one_study("<script>alert(1)</script>", seeds=3, epochs=4)
    page = build_page(analyze(evil, CLAIMS), evil.curves)
    html = render_report(page)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script src" not in html and "plotly.js v" in html  # plotly.js embedded
    out = write_report(page, tmp_path / "r.html")[0]  # type: ignore[operator]
    assert out.stat().st_size <= 8 * 1024 * 1024
    # The summary table has no links.
    start = html.index("<h2 id='summary'>")
    table = html[start : html.index("</table>", start)]
    assert "<td>adabound</td>" in table and "<a " not in table


DEFAULTS = {"adabound": {"lr": 1e-3, "final_lr": 0.1, "gamma": 1e-3}, "sgd": {"momentum": 0.5}}


def test_heatmaps_of_one_metric_share_one_colour_scale(analysis: StudyAnalysis) -> None:
    pairs = heatmap_pairs(analysis)
    assert len(pairs) >= 2
    ranges = {
        (
            heatmap_figure(analysis, *p).data[0].zmin,
            heatmap_figure(analysis, *p).data[0].zmax,
        )
        for p in pairs
    }
    values = analysis.heatmaps["profile"].astype(float)
    assert ranges == {(values.min(), values.max())}


def test_log_axes_are_labelled_as_the_grid_is_written(analysis: StudyAnalysis) -> None:
    fig = sensitivity_figure(analysis, "lr")
    assert list(fig.layout.xaxis.ticktext) == ["1e-4", "1e-3", "0.01", "0.1", "1"]
    bok = best_of_k_figure(analysis)
    ticks = list(bok.layout.xaxis.tickvals)
    assert ticks == sorted(ticks) and ticks[:4] == [1, 2, 5, 10]
    assert [str(t) for t in ticks] == list(bok.layout.xaxis.ticktext)


def test_sensitivity_legend_has_one_entry_per_optimizer_plus_seeds_and_diverged(
    analysis: StudyAnalysis,
) -> None:
    fig = sensitivity_figure(analysis, "lr")
    shown = [
        t.name
        for t in fig.data
        if t.visible is True and t.showlegend is not False and t.name and t.fill != "toself"
    ]
    shown = [n for n in shown if "within" not in n and "trials diverged here" not in n]
    assert sorted(shown) == sorted(
        ["adabound", "adam", "sgd", "seeds", "diverged seeds (× at the floor)"]
    )
    # The titles cannot collide: the title is anchored to the plot area, right of the y title.
    assert fig.layout.title.xref == "paper"


def test_slice_button_switches_the_within_m_track(analysis: StudyAnalysis) -> None:
    fig = sensitivity_figure(analysis, "lr")
    profile, slice_ = (b.args[0]["visible"] for b in fig.layout.updatemenus[0].buttons)
    tracks = [i for i, t in enumerate(fig.data) if t.name and "within m" in t.name]
    assert tracks
    for i in tracks:
        is_slice = fig.data[i].name.endswith("(slice)")
        assert profile[i] is not is_slice and slice_[i] is is_slice


def test_lr_one_compares_defaults_tuned_and_best_from_the_tables(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    records = {r.optimizer: r for r in lr_one_records(analysis, DEFAULTS)}
    assert set(records) == {"adabound", "adam", "sgd"}
    ada = records["adabound"]
    # At the defaults (gamma = 1e-3, final_lr = 0.1) the sample's AdaBound fails at lr = 1 ...
    assert ada.default_config == "lr=1 gamma=0.001 final_lr=0.1"
    configs = analysis.configs.set_index(["optimizer", "config"])
    assert ada.default is not None
    assert ada.default.value == configs.loc[("adabound", ada.default_config), "mean"]
    # ... a tuned gamma rescues it, and both are below the best.
    assert ada.default.value < ada.tuned.value <= ada.best.value
    assert ada.default_diverged > 0
    # SGD's grid has no momentum = 0.5 (its default here): no "at defaults" number is made up.
    assert records["sgd"].default is None
    fig = lr_one_figure(analysis, list(records.values()))
    names = {t.name for t in fig.data}
    assert {"lr = 1, others at defaults", "lr = 1, others tuned"} <= names
    page = build_page(analysis, data.curves, defaults=DEFAULTS)
    lr_one = next(s for s in page.sections if s.anchor == "lr-one")
    assert lr_one.table is not None and len(lr_one.table[1]) == 3
    # Tuned and defaults each show their own gap and their own configuration's divergence.
    columns, table_rows = lr_one.table
    row = dict(zip(columns, next(r for r in table_rows if r[0] == "adabound"), strict=True))
    tuned = configs.loc[("adabound", ada.tuned_config)]
    assert (ada.tuned_diverged, ada.tuned_seeds) == (tuned["n_diverged"], tuned["n_seeds"])
    assert f"diverged {ada.tuned_diverged} of {ada.tuned_seeds}" in row["lr = 1, others tuned"]
    assert (
        f"diverged {ada.default_diverged} of {ada.default_seeds}"
        in (row["lr = 1, others at defaults"])
    )
    points = (ada.best.value - ada.tuned.value) * 100
    assert row["tuned: below the best"].startswith(f"{points:.2f}")
    points = (ada.best.value - ada.default.value) * 100
    assert row["defaults: below the best"].startswith(f"{points:.2f}")
    assert row["diverged at lr = 1, every configuration"] == (
        f"{ada.n_diverged} of {ada.n_trials} runs"
    )


def test_paper_grid_has_one_panel_per_lr_with_every_optimizer(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    configs = lr_curve_configs(analysis, DEFAULTS)
    assert configs[("adabound", 1.0)] == "lr=1 gamma=0.001 final_lr=0.1"
    fig = lr_curves_figure(analysis, data.curves, configs)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["lr = 1e-4", "lr = 1e-3", "lr = 0.01", "lr = 0.1", "lr = 1"]
    last_panel = [
        t for t in fig.data if t.xaxis == "x5" and t.mode == "lines" and t.fill != "toself"
    ]
    assert {t.name for t in last_panel} == {"adabound", "adam", "sgd"}
    # AdaBound diverges at lr = 1 with its default gamma: the epochs are marked.
    assert any(t.xaxis == "x5" and t.mode == "markers" for t in fig.data)


def test_board_row_shows_the_deciding_number(analysis: StudyAnalysis, data: StudyData) -> None:
    verdict = analysis.verdicts[0]
    key = next(k for k in reversed(verdict.numbers) if math.isfinite(verdict.numbers[k].low))
    verdict.decided_by = key
    try:
        card = build_page(analysis, data.curves).cards[0]
    finally:
        verdict.decided_by = ""
    assert card.headline == format_estimate(key, verdict.numbers[key], analysis, short=True)
    assert "[" in card.headline and "95 % CI" not in card.headline
    fallback = build_page(analysis, data.curves).cards[0]
    first = next(iter(verdict.numbers))
    assert fallback.headline == format_estimate(first, verdict.numbers[first], analysis, short=True)
    html = render_report(build_page(analysis, data.curves))
    assert "class='board'" in html and html.index("class='board'") < html.index("fig-lr")


def test_report_embeds_the_trials_as_inert_json(data: StudyData) -> None:
    evil = lr_one_study("trials", seeds=2, epochs=3)
    evil.trials["error"] = evil.trials["error"].astype(object)
    evil.trials.loc[0, "error"] = "</script><script>window.__x=1</script>"
    page = build_page(analyze(evil, CLAIMS), evil.curves, data=evil)
    assert page.trials is not None and len(page.trials[1]) == len(evil.trials)
    html = render_report(page)
    assert "<script>window.__x=1" not in html  # cannot close the JSON's script element
    start = html.index("id='trial-data'>") + len("id='trial-data'>")
    payload = json.loads(html[start : html.index("</script>", start)])
    assert payload["rows"][0]["error"] == "</script><script>window.__x=1</script>"
    hps = list(dict.fromkeys(h for names in evil.hyperparameters.values() for h in names))
    assert payload["columns"][: 4 + len(hps)] == ["optimizer", "config", *hps, "seed", "outcome"]
    # A column per hyperparameter, typed: numbers filter and sort as numbers.
    assert set(hps) | {"seed", "trial_number"} <= set(payload["numeric"])
    assert not {"optimizer", "config", "outcome", "error"} & set(payload["numeric"])
    assert all(r["lr"] is None or isinstance(r["lr"], float) for r in payload["rows"])


def test_curve_table_averages_finite_values_and_keeps_every_trial() -> None:
    import pandas as pd

    rows = pd.DataFrame(
        {
            "trial_number": [1, 1, 1, 2, 2, 3],
            "epoch": [1, 2, 2, 1, 2, 1],
            "value": [0.5, 0.6, 0.8, np.inf, 0.4, np.nan],
        }
    )
    table = curve_table(rows)
    assert list(table.columns) == [1, 2, 3]
    assert list(table.index) == [1.0, 2.0]
    assert table.loc[2.0, 1] == pytest.approx(0.7)
    assert math.isnan(table.loc[1.0, 2]) and table.loc[2.0, 2] == pytest.approx(0.4)
    assert table[3].isna().all()


def test_lr_panels_keep_the_ends_and_lr_one_within_the_cap() -> None:
    few = [1e-3, 1e-2, 1e-1, 1.0]
    assert lr_panels(few) == few
    many = list(np.logspace(-5, 0.5, 23))
    many[20] = 1.0
    picked = lr_panels(many)
    assert len(picked) == MAX_LR_PANELS
    assert picked[0] == many[0] and picked[-1] == many[-1] and 1.0 in picked


def test_lr_curves_of_a_wide_grid_draw_at_most_the_capped_panels() -> None:
    grid = {"adam": {"lr": list(np.logspace(-4, 0, 12))}}
    wide = lr_one_study("wide", grids=grid, seeds=2, epochs=3)
    analysis = analyze(wide, CLAIMS)
    fig = lr_curves_figure(analysis, wide.curves, lr_curve_configs(analysis))
    titles = [a.text for a in fig.layout.annotations if a.text.startswith("lr = ")]
    assert len(titles) == MAX_LR_PANELS and "lr = 1" in titles
    assert f"{MAX_LR_PANELS} of the 12 lr values" in fig.layout.title.text


def test_answer_has_one_line_per_claim_with_its_deciding_number(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    from dashboards.answer import answer_lines

    lines = answer_lines(analysis.verdicts, analysis.settings)
    assert len(lines) == len(analysis.verdicts) > 0
    page = build_page(analysis, data.curves)
    assert [line.text for line in page.answers] == [line.text for line in lines]
    for line, verdict in zip(lines, analysis.verdicts, strict=True):
        assert line.claim == verdict.claim and line.result == verdict.result
        if verdict.decided_by not in verdict.numbers:
            assert line.number == ""
            continue
        expected = format_estimate(
            verdict.decided_by, verdict.numbers[verdict.decided_by], analysis, short=True
        )
        assert line.number == expected and expected in line.text
        assert line.answer == {"SUPPORTED": "Yes", "REFUTED": "No"}.get(verdict.result, "Undecided")
    html = render_report(page)
    assert "id='answer'" in html and html.index("id='answer'") < html.index("id='verdicts'")
    assert all(line.claim in html for line in lines)
    assert any(line.number for line in lines)


def test_answer_of_a_kind_it_has_no_phrase_for_is_still_written() -> None:
    from dataclasses import replace

    from dashboards.answer import answer_line
    from hpsearch.analysis.records import Verdict

    settings = analyze(lr_one_study("k", seeds=3, epochs=4), CLAIMS).settings
    verdict = Verdict(
        claim="lr = 1 fails for adabound",
        kind="V3",  # type: ignore[arg-type]  # a kind added after this module was written
        optimizers=("adabound",),
        hyperparameter="lr",
        result="SUPPORTED",
        numbers={"regret_at_value": Estimate(0.2, 0.15, 0.25)},
        settings={},
        sentence="",
        decided_by="regret_at_value",
    )
    line = answer_line(verdict, settings)
    assert line.text.startswith("Yes — lr = 1 fails for adabound holds: regret at value ")
    assert line.number and line.number in line.text
    undecided = answer_line(replace(verdict, decided_by="", result="INCONCLUSIVE"), settings)
    assert undecided.number == "" and undecided.text.startswith("Undecided — ")
    # A sequential study's verdict says the look it is from, its α, and final or open.
    looked = answer_line(
        replace(verdict, settings={"look": 2, "looks": 3, "alpha": 0.01125}), settings
    )
    assert looked.look == "look 2 of 3, α 1.125 % per side, final"
    assert looked.text.endswith("(look 2 of 3, α 1.125 % per side, final).")
    still = replace(verdict, result="INCONCLUSIVE", settings={"look": 3, "looks": 3, "alpha": 0.01})
    assert answer_line(still, settings).look.endswith(", open")


def test_figures_offer_no_cloud_and_download_png_and_svg(data: StudyData) -> None:
    page = build_page(analyze(data, CLAIMS), data.curves)
    html = render_report(page)
    anchors = [a for s in page.sections for a, _ in s.figures]
    # Every figure's config: no cloud buttons, the camera a PNG named after the figure.
    for anchor in anchors:
        start = html.index(f'Plotly.newPlot(                        "{anchor}"')
        tail = html[start : html.index("</script>", start)]
        assert '"showSendToCloud": false' in tail and '"displaylogo": false' in tail
        assert '"sendDataToCloud"' in tail and f'"filename": "{anchor}"' in tail
        assert f"data-svg='{anchor}'" in html


def test_a_heatmap_cell_is_about_one_configuration(analysis: StudyAnalysis) -> None:
    """Colour, × count, hover and the drill-down's configuration: the same seeds."""
    fig = heatmap_figure(analysis, "adabound", "lr", "gamma")
    heat = fig.data[0]
    configs = analysis.configs[analysis.configs["optimizer"] == "adabound"].set_index("config")
    checked = 0
    for i in range(len(heat.y)):
        for j in range(len(heat.x)):
            config, optimizer, *_ = heat.customdata[i][j]
            if not config:
                assert heat.text[i][j] == "no trials"
                continue
            hover = re.sub(
                r"%\{customdata\[(\d+)\]\}",
                lambda m, c=heat.customdata[i][j]: str(c[int(m.group(1))]),  # type: ignore[misc]
                heat.hovertemplate,
            )
            row = configs.loc[config]
            assert optimizer == "adabound"
            assert heat.z[i][j] == pytest.approx(float(row["mean"]))  # the colour
            k, n = int(row["n_diverged"]), int(row["n_seeds"])
            assert (f"× {k}/{n} div." in heat.text[i][j]) == (k > 0)  # the annotation
            assert f"its seeds diverged: {k} of {n}" in hover and config in hover
            assert "every final_lr at this cell" in hover  # the wider share, named as such
            checked += k > 0
    assert checked  # some cell has diverged seeds


def test_the_lr_one_table_carries_the_lr_one_verdicts() -> None:
    """ "Does lr = 1 fail?" answers with the claims' verdicts, per view, not only numbers."""
    from dashboards.page import lr_one_table
    from hpsearch.analysis import analyze
    from hpsearch.analysis.defaults import optimizer_defaults
    from hpsearch.analysis.synthetic import lr_one_study
    from hpsearch.claims import ClaimsSpec

    data = lr_one_study()
    analysis = analyze(data, ClaimsSpec(bootstrap=50, min_seeds=3, fails=["adabound.lr = 1"]))
    records = lr_one_records(analysis, optimizer_defaults(data))
    columns, rows = lr_one_table(records, analysis)
    by_optimizer = {row[0]: dict(zip(columns, row, strict=True)) for row in rows}
    answer = by_optimizer["adabound"]["verdict: lr = 1 fails?"]
    results = {
        v.settings["view"]: v.result
        for v in analysis.verdicts
        if v.kind == "V3" and v.optimizers == ("adabound",)
    }
    assert answer.startswith(f"defaults: {results['defaults']} (regret ")
    assert f"; tuned: {results['tuned']} (regret " in answer
    assert by_optimizer["adam"]["verdict: lr = 1 fails?"] == "no claim"


def test_parallel_coordinates_record_and_brush(analysis: StudyAnalysis) -> None:
    from dashboards.parallel import (
        DIVERGED_AXIS,
        constraint_ranges,
        kept_configs,
        parallel_figure,
        parallel_record,
    )

    record = parallel_record(analysis, "adabound")
    assert record is not None
    configs = analysis.configs[analysis.configs["optimizer"] == "adabound"]
    assert list(record.configs) == list(configs["config"])
    labels = [a.label for a in record.axes]
    assert labels[: len(analysis.hyperparameters["adabound"])] == list(
        analysis.hyperparameters["adabound"]
    )
    assert DIVERGED_AXIS in labels
    lr = next(a for a in record.axes if a.label == "lr")
    assert lr.log and np.allclose(lr.values, np.log10(configs["lr"].astype(float)))
    fig = parallel_figure(record)
    assert fig.data[0].type == "parcoords" and len(fig.data[0].dimensions) == len(labels)
    # A brush on lr around 1 (log10 = 0) keeps the lr = 1 configurations, and no others.
    index = labels.index("lr")
    change = {f"dimensions[{index}].constraintrange": [[-0.1, 0.1]]}
    ranges = constraint_ranges(change)
    assert ranges == {index: [[-0.1, 0.1]]}
    kept = kept_configs(record, {k: v for k, v in ranges.items() if v})
    expected = configs.loc[np.isclose(configs["lr"].astype(float), 1.0), "config"]
    assert sorted(kept) == sorted(expected) and kept
    # Two ranges on one axis keep either; a cleared brush is None.
    both = constraint_ranges(
        {f"dimensions[{index}].constraintrange": [[[-0.1, 0.1], [-4.1, -3.9]]]}
    )
    assert len(kept_configs(record, both)) > len(kept)  # type: ignore[arg-type]
    assert constraint_ranges({f"dimensions[{index}].constraintrange": None}) == {index: None}


def test_the_url_query_holds_the_view() -> None:
    from dashboards.view import View

    brush = {"fig-parallel-adabound": {"0": [[-0.1, 0.1]]}}
    model = {"seed": {"filterType": "number", "type": "equals", "filter": 1}}
    search = View.of(["adabound"], [0, 1], brush, model).query(["adabound", "adam"], [0, 1])
    assert View.parse(search) == View(("adabound",), None, brush, model)
    # Everything selected and nothing filtered: no query at all.
    assert View.of(["adam", "adabound"], [1, 0]).query(["adabound", "adam"], [0, 1]) == ""
    view = View.parse("?brush=not-json&seeds=1,2")
    assert view == View(None, ("1", "2"))
    # Seeds the study has are ticked as the URL says; none it has: every seed.
    assert view.pick_seeds([0, 1, 2]) == [1, 2] and view.pick_seeds([5, 6]) == [5, 6]
    assert View.of(None, [10, 9]).query([], [9]) == "?seeds=9%2C10"


def test_a_brushed_page_leaves_the_cached_figure_untouched(
    analysis: StudyAnalysis, data: StudyData
) -> None:
    """The server's threads read one cached page at once: drawing a brush on a copy must not
    change the cached figure, not even for a moment (plotly's `go.Figure(fig)` takes `type` out
    of each source trace and puts it back, which a lazy figure's thread once met as KeyError)."""
    from dashboards.components import with_brush

    page = build_page(analysis, data.curves)
    anchor, cached = next(
        (a, f) for s in page.sections for a, f in s.figures if a.startswith("fig-parallel-")
    )

    class Frozen(dict):  # type: ignore[type-arg]
        def pop(self, *args: object) -> object:
            raise AssertionError("the cached figure was changed")

        def __deepcopy__(self, memo: dict[int, object]) -> dict[str, object]:
            return copy.deepcopy(dict(self), memo)

    cached._data[0] = Frozen(cached._data[0])
    before = json.dumps(cached.to_plotly_json(), default=str)
    brushed = with_brush(page, {anchor: {"0": [[-0.1, 0.1]]}})
    drawn = next(f for s in brushed.sections for a, f in s.figures if a == anchor)
    assert list(drawn.data[0].dimensions[0].constraintrange) == [-0.1, 0.1]
    assert json.dumps(cached.to_plotly_json(), default=str) == before
