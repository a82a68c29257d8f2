"""What one study page shows, independent of how it is rendered.

`build_page` turns a `StudyAnalysis` (and the learning curves) into a claim board (one row per
claim: result, the number that decided it, one line of why; the details unfold), the lr = 1
answer, figure sections and a summary table. The Dash app renders it as components, the report
as one HTML file, so both show the same verdicts and figures. Everything here is plain text and
data: escaping is the renderer's job (Dash escapes component text; the report uses `html.escape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.answer import AnswerLine, answer_lines, number_label, short_label
from dashboards.curves import learning_curve_figure, lr_curves_figure
from dashboards.heatmap import heatmap_figure, heatmap_pairs
from dashboards.lr_one import LrOne, lr_curve_configs, lr_one_figure, lr_one_records
from dashboards.parallel import parallel_figure, parallel_optimizers, parallel_record
from dashboards.sensitivity import sensitivity_figure, sensitivity_records
from dashboards.summary_figures import (
    best_of_k_figure,
    edf_figure,
    importance_figure,
    win_probability_figure,
)
from dashboards.theme import VERDICT_COLORS
from hpsearch import units
from hpsearch.analysis.records import Estimate, StudyAnalysis, Verdict
from hpsearch.studydata import StudyData

# The claim board's columns, the same in the dashboard and the report.
BOARD_HEAD = ("result", "claim", "the number that decided it", "why")


@dataclass(frozen=True)
class VerdictCard:
    """One claim as the reader sees it: result, sentence, numbers with CIs, settings."""

    anchor: str
    result: str
    color: str
    claim: str
    sentence: str
    failure: str | None  # the lr = 1 failure in words, when the records show one
    numbers: list[tuple[str, str]]
    settings: list[tuple[str, str]]
    reasons: list[str]
    blocking: list[str]
    links: list[tuple[str, str]]  # (figure anchor, label): the figures that justify it
    headline_label: str = ""  # the number that decided the result, named ...
    headline: str = ""  # ... and with its interval: `11.60 points [10.90, 12.44]`
    reason: str = ""  # one line: why this result
    guarantee: str = ""


@dataclass
class Section:
    """A titled group of figures; `anchor` and each figure's anchor are HTML ids for links."""

    anchor: str
    title: str
    text: str
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)  # (anchor, figure)
    table: tuple[list[str], list[list[str]]] | None = None  # (columns, rows) before the figures


@dataclass
class Page:
    """One study page: verdict cards first, then settings, summary table and figure sections."""

    title: str
    overview: list[tuple[str, str]]
    notes: list[str]
    cards: list[VerdictCard]
    sections: list[Section]
    summary_columns: list[str]
    summary_rows: list[list[str]]
    hidden: list[str] = field(default_factory=list)  # claims the filters hide, in words
    trials: tuple[list[str], list[dict[str, Any]]] | None = None  # `trial_table`, when known
    answers: list[AnswerLine] = field(default_factory=list)  # the claims in plain words


def figure_text(fig: go.Figure) -> str:
    """A figure's text alternative: its title and subtitle as plain words (screen readers read
    it for the chart; the numbers are in the tables beside it and in the trial table)."""
    import re

    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else "figure"
    text = re.sub(r"<br>|</?sup>", " ", str(title))
    text = re.sub(r"<[^>]+>", "", text)
    return " ".join(text.split())


def slug(text: str) -> str:
    """An HTML id made only of [a-z0-9-], so any name is safe as an anchor."""
    out = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower())
    return "-".join(part for part in out.split("-") if part) or "x"


def format_estimate(
    name: str, estimate: Estimate, analysis: StudyAnalysis, short: bool = False
) -> str:
    """`value [95 % CI low, high]` in display units (see `hpsearch.units.number_kind`)."""
    return units.format_estimate(name, estimate, analysis.settings, short=short)


def _setting_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_setting_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_setting_text(v) for v in value)
    return str(value)


def lr_one_rows(analysis: StudyAnalysis) -> pd.DataFrame:
    """The sensitivity table's rows at lr = 1, one per optimizer whose grid holds it."""
    table = analysis.sensitivity
    if table.empty:
        return table
    return table[(table["hyperparameter"] == "lr") & np.isclose(table["value"].astype(float), 1.0)]


def lr1_failure(
    verdict: Verdict, analysis: StudyAnalysis, at_one: pd.DataFrame | None = None
) -> str | None:
    """What happens at lr = 1 in words, when an optimizer of the claim diverges or falls out of
    the good region there (stated, not judged: the verdict does the judging).

    Taken from the records: the sensitivity row at lr = 1 (divergence rate with its exact
    interval, and whether the profile is outside the good region); `at_one`: `lr_one_rows`,
    when the caller has them.
    """
    if verdict.hyperparameter not in (None, "lr"):
        return None
    at_one = lr_one_rows(analysis) if at_one is None else at_one
    rows = at_one[at_one["optimizer"].isin(list(verdict.optimizers))]
    parts = []
    settings = analysis.settings
    for row in rows.itertuples(index=False):
        rate = float(row.divergence_rate)
        regret = float(row.regret)
        failed = rate > 0 or not bool(row.good)
        if not failed:
            continue
        if rate > 0:
            rates = Estimate(rate, float(row.divergence_rate_low), float(row.divergence_rate_high))
            words = (
                f"{row.optimizer} at lr = 1: diverged in {int(row.n_diverged)} of "
                f"{int(row.n_trials)} runs, D = "
                + units.format_estimate("divergence_rate", rates, settings)
            )
        else:
            words = f"{row.optimizer} at lr = 1: no divergence, but outside the good region"
        if math.isfinite(regret):
            words += (
                f"; best seed mean {units.format_metric(float(row.profile), settings)}, "
                f"{units.format_points(regret, settings)} below its best"
            )
        parts.append(words)
    return ". ".join(parts) + "." if parts else None


def verdict_card(
    verdict: Verdict, analysis: StudyAnalysis, index: int, at_one: pd.DataFrame | None = None
) -> VerdictCard:
    """The card for one verdict, with links to the figures that justify it (`at_one`: see
    `lr1_failure`)."""
    links = []
    if verdict.hyperparameter:
        links.append(
            (
                f"fig-sensitivity-{slug(verdict.hyperparameter)}",
                f"sensitivity to {verdict.hyperparameter}",
            )
        )
    if verdict.kind == "V2":
        links += [("fig-edf", "EDF of configuration means"), ("fig-best-of-k", "best of k")]
    links.append(("fig-learning-curves", "learning curves"))
    key = verdict.decided_by if verdict.decided_by in verdict.numbers else None
    key = key or next(iter(verdict.numbers), None)
    headline = format_estimate(key, verdict.numbers[key], analysis, short=True) if key else ""
    return VerdictCard(
        anchor=f"verdict-{index}",
        result=verdict.result,
        color=VERDICT_COLORS.get(verdict.result, "#444"),
        claim=verdict.claim,
        sentence=verdict.sentence,
        failure=lr1_failure(verdict, analysis, at_one),
        numbers=[
            (number_label(name, verdict.optimizers), format_estimate(name, est, analysis))
            for name, est in verdict.numbers.items()
        ],
        settings=[(name, _setting_text(value)) for name, value in verdict.settings.items()],
        reasons=list(verdict.reasons),
        blocking=list(verdict.blocking),
        links=links,
        headline_label=short_label(key, verdict.optimizers) if key else "",
        headline=headline,
        reason=_one_line(verdict.reasons[0] if verdict.reasons else verdict.sentence),
        guarantee=verdict.guarantee,
    )


def _one_line(text: str) -> str:
    """The first sentence of `text` (a board row shows one line; the rest is in the details)."""
    text = " ".join(text.split())
    for stop in (". ", "; "):
        head, found, _ = text.partition(stop)
        if found and len(head) >= 20:
            return head + ("." if stop == ". " else "")
    return text


def hyperparameter_order(analysis: StudyAnalysis) -> list[str]:
    """lr first (the shared one), then the rest in the order the study lists them."""
    names = list(dict.fromkeys(hp for hps in analysis.hyperparameters.values() for hp in hps))
    present = (
        set(analysis.sensitivity["hyperparameter"]) if not analysis.sensitivity.empty else set()
    )
    names = [n for n in names if n in present] + sorted(present - set(names))
    return sorted(names, key=lambda n: n != "lr")


def summary_table(analysis: StudyAnalysis) -> tuple[list[str], list[list[str]]]:
    """One row per optimizer: counts, best, W(m), divergence, E[best of 1]; plain text only."""
    settings = analysis.settings
    table = analysis.optimizers
    columns = [
        "optimizer",
        "configs",
        "trials",
        "diverged",
        "failed",
        "best config",
        f"best {settings.metric}",
        "W(m) joint",
        "divergence rate",
        "E[best of 1]",
    ]
    rows = []
    for row in table.itertuples(index=False):

        def ci(name: str, r: object = row) -> str:
            value, low, high = (getattr(r, name + x, math.nan) for x in ("", "_low", "_high"))
            estimate = Estimate(float(value), float(low), float(high))
            return units.format_estimate(name, estimate, settings, short=True)

        rows.append(
            [
                str(row.optimizer),
                str(row.n_configs),
                str(row.n_trials),
                str(row.n_diverged),
                str(row.n_error),
                str(row.best_config),
                ci("best"),
                ci("width_joint"),
                ci("divergence_rate"),
                ci("e1"),
            ]
        )
    return columns, rows


def lr_one_table(
    records: list[LrOne], analysis: StudyAnalysis
) -> tuple[list[str], list[list[str]]]:
    """The lr = 1 answer in numbers: per optimizer, its best, lr = 1 tuned and at the defaults."""
    settings = analysis.settings

    def est(e: Estimate | None) -> str:
        return units.format_estimate("best", e, settings, short=True) if e else "not in the grid"

    sign = 1 if settings.direction == "minimize" else -1

    def gap(at: Estimate | None, r: LrOne) -> str:
        return units.format_points((at.value - r.best.value) * sign, settings) if at else "—"

    def at_defaults(r: LrOne) -> str:
        if not r.defaults_known:
            return f"unknown: `{r.optimizer}`'s defaults are not registered in this process"
        if r.default is None:
            return est(None)
        return (
            f"{est(r.default)} ({r.default_config}); its seeds diverged "
            f"{r.default_diverged} of {r.default_seeds}"
        )

    # Each lr = 1 number with the seeds it is about: tuned and at defaults are one
    # configuration each, with their own divergence counts; the last column every
    # configuration at lr = 1.
    columns = [
        "optimizer",
        "best (any lr)",
        "lr = 1, others tuned",
        "tuned: below the best",
        "lr = 1, others at defaults",
        "defaults: below the best",
        "diverged at lr = 1, every configuration",
        "verdict: lr = 1 fails?",
    ]
    rows = []
    for r in records:
        rows.append(
            [
                r.optimizer,
                est(r.best),
                f"{est(r.tuned)} ({r.tuned_config}); its seeds diverged "
                f"{r.tuned_diverged} of {r.tuned_seeds}",
                gap(r.tuned, r),
                at_defaults(r),
                gap(r.default, r),
                f"{r.n_diverged} of {r.n_trials} runs",
                lr_one_verdicts(r.optimizer, analysis),
            ]
        )
    return columns, rows


def lr_one_verdicts(optimizer: str, analysis: StudyAnalysis) -> str:
    """The decided answer for `optimizer` at lr = 1: each "lr = 1 fails" claim's result with
    the regret it was decided on, per view (defaults, tuned); "no claim" when none was made."""
    parts = []
    for v in analysis.verdicts:
        if (
            v.kind == "V3"
            and v.optimizers == (optimizer,)
            and v.hyperparameter == "lr"
            and math.isclose(float(v.settings.get("value", math.nan)), 1.0)
        ):
            regret = units.format_estimate("regret_at", v.numbers["regret_at"], analysis.settings)
            parts.append(f"{v.settings.get('view')}: {v.result} (regret {regret})")
    return "; ".join(parts) or "no claim"


def build_page(
    analysis: StudyAnalysis,
    curves: pd.DataFrame,
    defaults: dict[str, dict[str, Any]] | None = None,
    hidden: list[str] | None = None,
    data: StudyData | None = None,
) -> Page:
    """Everything one study page shows, in reading order: the claim board first, then lr = 1.

    `defaults` (optimizer -> hyperparameter -> default) picks the "others at their defaults"
    configurations; `hidden` names claims the page's filters hide; with `data` (the analysed
    trials) the page carries every trial for the drill-down and the trial table.
    """
    settings = analysis.settings
    overview = [
        ("selection metric", f"{settings.metric} ({settings.direction})"),
        ("reported metric", settings.report_metric),
        (
            "seeds",
            f"S = {settings.n_seeds}"
            + (" (low power: fewer than min_seeds)" if settings.low_power else ""),
        ),
        (
            "trials",
            f"{settings.n_trials}: {settings.n_completed} completed, "
            f"{settings.n_diverged} diverged (kept at the floor), "
            f"{settings.n_error} failed (excluded), {settings.n_running} running",
        ),
        (
            "tolerance m (the claims, the top track, W(m))",
            units.format_points(settings.tolerance, settings),
        ),
        ("min_seeds", str(settings.min_seeds)),
        (
            "intervals",
            "Student t over seeds (means), pairwise Welch bounds (the verdicts' regrets), "
            "cross-fitted bounds (best cell, profiles, mean regret), exact over seeds "
            "(divergence rates), paired bootstrap / jackknife SE with t (widths; "
            f"B = {settings.bootstrap}, RNG seed {settings.rng_seed})",
        ),
        ("grid sizes", ", ".join(f"{k}: {v}" for k, v in settings.grid_sizes.items())),
    ]
    at_one = lr_one_rows(analysis)
    cards = [verdict_card(v, analysis, i, at_one) for i, v in enumerate(analysis.verdicts)]
    sections = []
    records = lr_one_records(analysis, defaults)
    if records:
        sections.append(
            Section(
                "lr-one",
                "Does lr = 1 fail?",
                "Each optimizer at lr = 1, with its other hyperparameters tuned and at their "
                "defaults, against its best configuration; then the learning curves at each lr.",
                [
                    ("fig-lr-one", lr_one_figure(analysis, records)),
                    (
                        "fig-lr-curves",
                        lr_curves_figure(analysis, curves, lr_curve_configs(analysis, defaults)),
                    ),
                ],
                table=lr_one_table(records, analysis),
            )
        )
    sensitivity = sensitivity_records(analysis, hyperparameter_order(analysis))
    sections.append(
        Section(
            "sensitivity",
            "Sensitivity curves",
            "Per hyperparameter, all optimizers on one axis. Switch between the profile "
            "(other hyperparameters tuned) and the slice through the best configuration; "
            "click a point for its seeds.",
            [
                (f"fig-sensitivity-{slug(hp)}", sensitivity_figure(analysis, hp, record))
                for hp, record in sensitivity.items()
            ],
        )
    )
    pairs = heatmap_pairs(analysis)
    if pairs:
        sections.append(
            Section(
                "heatmaps",
                "Hyperparameter pairs",
                "One cell per grid point, no interpolation, one colour scale for all; divergence "
                "annotated per cell.",
                [
                    (
                        f"fig-heatmap-{slug(o)}-{slug(x)}-{slug(y)}",
                        heatmap_figure(analysis, o, x, y),
                    )
                    for o, x, y in pairs
                ],
            )
        )
    sections += [
        Section(
            "budget",
            "Tuning budget",
            "Expected score of the best of k random configurations, and who wins.",
            [
                ("fig-best-of-k", best_of_k_figure(analysis)),
                ("fig-win-probability", win_probability_figure(analysis)),
            ],
        ),
        Section(
            "edf",
            "Configurations near the best",
            "Empirical distribution of configuration means against regret.",
            [("fig-edf", edf_figure(analysis))],
        ),
        Section(
            "curves",
            "Learning curves",
            "Best configuration, divergence boundary and lr = 1, with seed ranges.",
            [("fig-learning-curves", learning_curve_figure(analysis, curves))],
        ),
        Section(
            "configurations",
            "Configurations",
            "Every configuration of an optimizer as one line across its hyperparameters, its "
            "diverged seeds and its seed mean. Drag along an axis: the trial table keeps only "
            "the configurations inside the range.",
            [
                (f"fig-parallel-{slug(o)}", parallel_figure(parallel_record(analysis, o)))
                for o in parallel_optimizers(analysis)
            ],
        ),
        Section(
            "importance",
            "Importance (descriptive)",
            "Secondary and descriptive only: no verdict rests on these.",
            [("fig-importance", importance_figure(analysis))],
        ),
    ]
    sections = [s for s in sections if s.figures]  # e.g. no optimizer searches two hyperparameters
    columns, rows = summary_table(analysis)
    return Page(
        title=analysis.name,
        overview=overview,
        notes=list(analysis.notes),  # a selection with too few seeds: the analysis says so
        cards=cards,
        sections=sections,
        summary_columns=columns,
        summary_rows=rows,
        hidden=list(hidden or []),
        trials=trial_table(data, analysis) if data is not None else None,
        answers=answer_lines(analysis.verdicts, settings),
    )


def trial_table(data: StudyData, analysis: StudyAnalysis) -> tuple[list[str], list[dict[str, Any]]]:
    """Every trial as a row for the sortable, filterable table: a column per hyperparameter
    (a filter on `lr` never matches `final_lr`), accuracy in %, times in s. A column is numeric
    when every value in it is a number (`numeric_columns`).

    Names and meanings are `trials.csv`'s (`hpsearch.export`): `value` is the trial's score (a
    diverged trial at the floor), the metric's own name (`test_accuracy`) what was measured."""
    from hpsearch.export import trials_frame

    frame = trials_frame(data)
    settings = analysis.settings
    scale = 100.0 if units.is_percent(settings) else 1.0
    hps = [h for h in dict.fromkeys(h for names in data.hyperparameters.values() for h in names)]
    hps = [h for h in hps if h in frame and h not in TRIAL_TABLE_FIXED]
    # The measured selection metric, when the trials carry it under its own name.
    measured = [settings.metric] if settings.metric in frame and settings.metric not in hps else []
    columns = [
        "optimizer",
        "config",
        *hps,
        "seed",
        "outcome",
        "value",
        *measured,
        "diverged_epoch",
        "divergence_reason",
        "error",
        "wall_seconds",
        "trial_number",
        "study",
    ]
    out = pd.DataFrame(
        {
            "optimizer": frame["optimizer"],
            "config": frame["config"],
            **{h: pd.to_numeric(frame[h], errors="coerce") for h in hps},
            "seed": frame["seed"],
            "outcome": frame["outcome"],
            "value": (frame["value"].astype(float) * scale).round(2),
            # inf (a diverged loss) shown blank, as NaN is: the row's `value` holds its score.
            **{m: _finite(frame[m]).mul(scale).round(2) for m in measured},
            "diverged_epoch": frame["diverged_epoch"],
            # A reason or error stored as text "nan" (a missing value written as a string) is none.
            "divergence_reason": frame["divergence_reason"].replace({"nan": None, "": None}),
            "error": frame["error"].replace({"nan": None, "": None}),
            "wall_seconds": frame["wall_seconds"].astype(float).round(1),
            "trial_number": frame["trial_number"],
            "study": frame["study"],
        }
    )
    out = out.astype(object).where(out.notna(), None)
    return columns, out.to_dict("records")


def _finite(column: pd.Series) -> pd.Series:
    """`column` as floats with inf and anything not a number as NaN."""
    values = pd.to_numeric(column, errors="coerce").astype(float)
    return values.where(np.isfinite(values))


# Columns of the trial table that are not hyperparameters (a hyperparameter of that name would
# shadow one of them).
TRIAL_TABLE_FIXED = frozenset(
    {"optimizer", "config", "seed", "outcome", "value", "diverged_epoch", "divergence_reason"}
    | {"error", "wall_seconds", "trial_number", "study"}
)


def numeric_columns(columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """The columns whose every value (blanks aside) is a number: they sort and filter as numbers
    (`4` in `seed` means seed = 4, not "contains 4")."""
    return [
        c
        for c in columns
        if any(r.get(c) is not None for r in rows)
        and all(
            isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
            for r in rows
            if r.get(c) is not None
        )
    ]
