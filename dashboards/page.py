"""What one study page shows, independent of how it is rendered.

`build_page` turns a `StudyAnalysis` (and the learning curves) into verdict cards, figure sections
and a summary table. The Dash app renders it as components, the report as one HTML file, so both
show the same verdicts and figures. Everything here is plain text and data: escaping is the
renderer's job (Dash escapes component text; the report uses `html.escape`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards import figures
from dashboards.theme import VERDICT_COLORS
from hpsearch.analysis.records import Estimate, StudyAnalysis, Verdict


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


@dataclass
class Section:
    """A titled group of figures; `anchor` and each figure's anchor are HTML ids for links."""

    anchor: str
    title: str
    text: str
    figures: list[tuple[str, go.Figure]] = field(default_factory=list)  # (anchor, figure)


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


def slug(text: str) -> str:
    """An HTML id made only of [a-z0-9-], so any name is safe as an anchor."""
    out = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower())
    return "-".join(part for part in out.split("-") if part) or "x"


def _number_kind(name: str) -> str:
    """How a verdict number is shown: `fraction` (%), `level` (a metric value) or `points`.

    Names follow the analysis records: W / D (widths, divergence rates) are fractions, best /
    worst / E1 are metric values, regrets and score differences (delta_E1) are points.
    """
    lowered = name.lower()
    if name.startswith(("W", "D_", "delta_W", "delta_D")) or any(
        word in lowered for word in ("divergence", "width", "rate", "fraction")
    ):
        return "fraction"
    if lowered.startswith(("best", "worst", "e1", "e4", "e16", "cpe", "mean", "profile")):
        return "level"
    return "points"


def format_estimate(name: str, estimate: Estimate, analysis: StudyAnalysis) -> str:
    """`value [95 % CI low – high]` in display units (see `_number_kind`)."""
    settings = analysis.settings
    kind = _number_kind(name)

    def one(x: float) -> str:
        if x is None or not math.isfinite(x):
            return "n/a"
        if kind == "fraction":
            return f"{100 * x:.1f} %"
        if kind == "level":
            return figures.format_metric(x, settings)
        return figures.format_points(x, settings)

    text = one(estimate.value)
    if math.isfinite(estimate.low) or math.isfinite(estimate.high):
        text += f" [95 % CI {one(estimate.low)} – {one(estimate.high)}]"
    return text


def _setting_text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_setting_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_setting_text(v) for v in value)
    return str(value)


def lr1_failure(verdict: Verdict, analysis: StudyAnalysis) -> str | None:
    """What happens at lr = 1 in words, when an optimizer of the claim diverges or falls out of
    the good region there (stated, not judged: the verdict does the judging).

    Taken from the records: the sensitivity row at lr = 1 (divergence rate with its Wilson
    interval, and whether the profile is outside the good region).
    """
    if verdict.hyperparameter not in (None, "lr"):
        return None
    table = analysis.sensitivity
    if table.empty:
        return None
    rows = table[
        (table["hyperparameter"] == "lr")
        & np.isclose(table["value"].astype(float), 1.0)
        & table["optimizer"].isin(list(verdict.optimizers))
    ]
    parts = []
    settings = analysis.settings
    for row in rows.itertuples(index=False):
        rate = float(row.divergence_rate)
        regret = float(row.regret)
        failed = rate > 0 or not bool(row.good)
        if not failed:
            continue
        if rate > 0:
            words = (
                f"{row.optimizer} at lr = 1: diverged in {int(row.n_diverged)} of "
                f"{int(row.n_trials)} runs, D = {100 * rate:.0f} % [95 % CI "
                f"{100 * float(row.divergence_low):.0f}–{100 * float(row.divergence_high):.0f}"
                " %]"
            )
        else:
            words = f"{row.optimizer} at lr = 1: no divergence, but outside the good region"
        if math.isfinite(regret):
            words += (
                f"; best seed mean {figures.format_metric(float(row.profile), settings)}, "
                f"{figures.format_points(regret, settings)} below its best"
            )
        parts.append(words)
    return ". ".join(parts) + "." if parts else None


def number_label(name: str, optimizers: tuple[str, ...]) -> str:
    """A readable label for a verdict number (`W_a` -> `W(δ) adabound`); unknown names as-is."""
    fixed = {
        "max_regret": "largest regret over the grid",
        "best": "best seed mean m*",
        "worst_profile": "worst profile value",
        "max_divergence": "largest divergence rate",
        "delta_W": "ΔW (good-region width, A − B)",
        "delta_E1": "ΔE(1) (random config, A − B)",
        "delta_D": "ΔD (divergence rate, A − B)",
    }
    if name in fixed:
        return fixed[name]
    stem, _, side = name.rpartition("_")
    if stem in ("W", "E1", "D") and side in ("a", "b") and len(optimizers) == 2:
        what = {"W": "W(δ)", "E1": "E(1)", "D": "divergence rate"}[stem]
        return f"{what} {optimizers[0 if side == 'a' else 1]}"
    return name


def verdict_card(verdict: Verdict, analysis: StudyAnalysis, index: int) -> VerdictCard:
    """The card for one verdict, with links to the figures that justify it."""
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
    return VerdictCard(
        anchor=f"verdict-{index}",
        result=verdict.result,
        color=VERDICT_COLORS.get(verdict.result, "#444"),
        claim=verdict.claim,
        sentence=verdict.sentence,
        failure=lr1_failure(verdict, analysis),
        numbers=[
            (number_label(name, verdict.optimizers), format_estimate(name, est, analysis))
            for name, est in verdict.numbers.items()
        ],
        settings=[(name, _setting_text(value)) for name, value in verdict.settings.items()],
        reasons=list(verdict.reasons),
        blocking=list(verdict.blocking),
        links=links,
    )


def hyperparameter_order(analysis: StudyAnalysis) -> list[str]:
    """lr first (the shared one), then the rest in the order the study lists them."""
    names = list(dict.fromkeys(hp for hps in analysis.hyperparameters.values() for hp in hps))
    present = (
        set(analysis.sensitivity["hyperparameter"]) if not analysis.sensitivity.empty else set()
    )
    names = [n for n in names if n in present] + sorted(present - set(names))
    return sorted(names, key=lambda n: n != "lr")


def summary_table(analysis: StudyAnalysis) -> tuple[list[str], list[list[str]]]:
    """One row per optimizer: counts, best, W(δ), divergence, E[best of 1]; plain text only."""
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
        "W(δ) joint",
        "divergence rate",
        "E[best of 1]",
    ]
    rows = []
    for row in table.itertuples(index=False):

        def ci(name: str, fraction: bool = False, r: object = row) -> str:
            value = getattr(r, name, math.nan)
            low = getattr(r, f"{name}_low", math.nan)
            high = getattr(r, f"{name}_high", math.nan)
            fmt = (
                (lambda x: "n/a" if not np.isfinite(x) else f"{100 * x:.1f} %")
                if fraction
                else (lambda x: figures.format_metric(x, settings))
            )
            text = fmt(float(value))
            if np.isfinite(float(low)) or np.isfinite(float(high)):
                text += f" [{fmt(float(low))} – {fmt(float(high))}]"
            return text

        rows.append(
            [
                str(row.optimizer),
                str(row.n_configs),
                str(row.n_trials),
                str(row.n_diverged),
                str(row.n_error),
                str(row.best_config),
                ci("best"),
                ci("width_joint", True),
                ci("divergence_rate", True),
                ci("e1"),
            ]
        )
    return columns, rows


def build_page(analysis: StudyAnalysis, curves: pd.DataFrame) -> Page:
    """Everything one study page shows, in reading order: verdicts first."""
    settings = analysis.settings
    overview = [
        ("selection metric", f"{settings.metric} ({settings.direction})"),
        ("reported metric", settings.report_metric),
        (
            "seeds",
            f"S = {settings.n_seeds}"
            + (" (low power: fewer than 5)" if settings.low_power else ""),
        ),
        (
            "trials",
            f"{settings.n_trials}: {settings.n_completed} completed, "
            f"{settings.n_diverged} diverged (kept at the floor), "
            f"{settings.n_error} failed (excluded), {settings.n_running} running",
        ),
        (
            "δ",
            f"{figures.format_points(settings.delta, settings)} (asked "
            f"{figures.format_points(settings.delta_user, settings)})",
        ),
        ("tolerance m", figures.format_points(settings.tolerance, settings)),
        ("d_max", f"{100 * settings.d_max:.0f} %"),
        ("bootstrap", f"B = {settings.bootstrap}, paired over seeds, RNG seed {settings.rng_seed}"),
        ("grid sizes", ", ".join(f"{k}: {v}" for k, v in settings.grid_sizes.items())),
    ]
    cards = [verdict_card(v, analysis, i) for i, v in enumerate(analysis.verdicts)]
    sections = [
        Section(
            "sensitivity",
            "Sensitivity curves",
            "Per hyperparameter, all optimizers on one axis. Switch between the profile "
            "(other hyperparameters tuned) and the slice through the best configuration.",
            [
                (f"fig-sensitivity-{slug(hp)}", figures.sensitivity_figure(analysis, hp))
                for hp in hyperparameter_order(analysis)
            ],
        ),
    ]
    pairs = figures.heatmap_pairs(analysis)
    if pairs:
        sections.append(
            Section(
                "heatmaps",
                "Hyperparameter pairs",
                "One cell per grid point, no interpolation; divergence annotated per cell.",
                [
                    (
                        f"fig-heatmap-{slug(o)}-{slug(x)}-{slug(y)}",
                        figures.heatmap_figure(analysis, o, x, y),
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
                ("fig-best-of-k", figures.best_of_k_figure(analysis)),
                ("fig-win-probability", figures.win_probability_figure(analysis)),
            ],
        ),
        Section(
            "edf",
            "Configurations near the best",
            "Empirical distribution of configuration means against regret.",
            [("fig-edf", figures.edf_figure(analysis))],
        ),
        Section(
            "curves",
            "Learning curves",
            "Best configuration, divergence boundary and lr = 1, with seed ranges.",
            [("fig-learning-curves", figures.learning_curve_figure(analysis, curves))],
        ),
        Section(
            "importance",
            "Importance (descriptive)",
            "Secondary and descriptive only: no verdict rests on these.",
            [("fig-importance", figures.importance_figure(analysis))],
        ),
    ]
    columns, rows = summary_table(analysis)
    return Page(
        title=analysis.name,
        overview=overview,
        notes=list(analysis.notes),
        cards=cards,
        sections=sections,
        summary_columns=columns,
        summary_rows=rows,
    )
