"""The dashboard's figures in a notebook: open a study, read its verdicts and trials as pandas
DataFrames, and draw each figure of the page as a `plotly.graph_objects.Figure`.

As in `optuna.visualization`, each figure is drawn from a record the analysis computed (the
tables of `StudyAnalysis`, `LrOne`, `SensitivityRecord`, `HeatmapRecord`, `ParallelRecord`), so
what a figure shows can be read as data too::

    from dashboards.notebook import open_study

    study = open_study("sqlite:///hpsearch.db", "demo")
    study.verdicts                      # one row per claim: result, deciding number, sentence
    study.trials                        # one row per trial, a column per hyperparameter
    study.answer()                      # the answer in plain words, one line per claim
    study.plot_sensitivity("lr").show() # any figure of the page, as a plotly Figure
    study.figures()                     # every figure of the page, by its anchor

Nothing here is drawn differently from the dashboard and the report: the functions are theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboards.answer import answer_lines
from dashboards.curves import learning_curve_figure, lr_curves_figure
from dashboards.heatmap import HeatmapRecord, heatmap_figure, heatmap_record
from dashboards.lr_one import LrOne, lr_curve_configs, lr_one_figure, lr_one_records
from dashboards.parallel import ParallelRecord, parallel_figure, parallel_record
from dashboards.sensitivity import SensitivityRecord, sensitivity_figure, sensitivity_record
from dashboards.summary_figures import (
    best_of_k_figure,
    edf_figure,
    importance_figure,
    win_probability_figure,
)
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.studydata import StudyData


@dataclass
class Study:
    """One analysed study group (see the module docstring): `data` as stored, `analysis` as
    `hpsearch.analysis.analyze` made it with the study's claims, `defaults` the optimizers'
    registered defaults (for "lr = 1, others at defaults")."""

    data: StudyData
    analysis: StudyAnalysis
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def verdicts(self) -> pd.DataFrame:
        """One row per claim: claim, kind, optimizers, hyperparameter, result, the number that
        decided it (`decided_by`, `estimate`, `estimate_low`, `estimate_high`, named as in
        verdicts.csv but in the analysis's units: shares 0-1, accuracies as stored) and the
        sentence."""
        rows = []
        for v in self.analysis.verdicts:
            number = v.numbers.get(v.decided_by)
            rows.append(
                {
                    "claim": v.claim,
                    "kind": v.kind,
                    "optimizers": ", ".join(v.optimizers),
                    "hyperparameter": v.hyperparameter,
                    "result": v.result,
                    "decided_by": v.decided_by,
                    "estimate": number.value if number else float("nan"),
                    "estimate_low": number.low if number else float("nan"),
                    "estimate_high": number.high if number else float("nan"),
                    "sentence": v.sentence,
                }
            )
        return pd.DataFrame(rows)

    @property
    def trials(self) -> pd.DataFrame:
        """Every trial: outcome, seed, a column per hyperparameter, the metrics, a `config` id."""
        from hpsearch.export import trials_frame

        return trials_frame(self.data)

    def answer(self) -> list[str]:
        """The answer in plain words, one line per claim (the dashboard's first lines)."""
        return [line.text for line in answer_lines(self.analysis.verdicts, self.analysis.settings)]

    def lr_one_records(self) -> list[LrOne]:
        return lr_one_records(self.analysis, self.defaults)

    def plot_lr_one(self) -> go.Figure:
        return lr_one_figure(self.analysis, self.lr_one_records())

    def plot_lr_curves(self) -> go.Figure:
        configs = lr_curve_configs(self.analysis, self.defaults)
        return lr_curves_figure(self.analysis, self.data.curves, configs)

    def sensitivity_record(self, hyperparameter: str) -> SensitivityRecord | None:
        return sensitivity_record(self.analysis, hyperparameter)

    def plot_sensitivity(self, hyperparameter: str) -> go.Figure:
        return sensitivity_figure(self.analysis, hyperparameter)

    def heatmap_record(self, optimizer: str, x: str, y: str) -> HeatmapRecord | None:
        return heatmap_record(self.analysis, optimizer, x, y)

    def plot_heatmap(self, optimizer: str, x: str, y: str) -> go.Figure:
        return heatmap_figure(self.analysis, optimizer, x, y)

    def parallel_record(self, optimizer: str) -> ParallelRecord | None:
        return parallel_record(self.analysis, optimizer)

    def plot_parallel(self, optimizer: str) -> go.Figure:
        return parallel_figure(self.parallel_record(optimizer))

    def plot_best_of_k(self) -> go.Figure:
        return best_of_k_figure(self.analysis)

    def plot_win_probability(self) -> go.Figure:
        return win_probability_figure(self.analysis)

    def plot_edf(self) -> go.Figure:
        return edf_figure(self.analysis)

    def plot_learning_curves(self) -> go.Figure:
        return learning_curve_figure(self.analysis, self.data.curves)

    def plot_importance(self) -> go.Figure:
        return importance_figure(self.analysis)

    def figures(self) -> dict[str, go.Figure]:
        """Every figure of the study's page, by its anchor (`fig-sensitivity-lr`, ...)."""
        from dashboards.page import build_page

        page = build_page(self.analysis, self.data.curves, defaults=self.defaults)
        return {anchor: fig for section in page.sections for anchor, fig in section.figures}


def study_of(data: StudyData) -> Study:
    """A `Study` of data already read (e.g. `hpsearch.storage.load_study_data`)."""
    from dashboards.study import analyze_study
    from hpsearch.analysis.defaults import optimizer_defaults

    return Study(data, analyze_study(data), optimizer_defaults(data))


def open_study(storage: str, name: str) -> Study:
    """Read study group `name` from `storage` (a storage URL, e.g. `sqlite:///hpsearch.db`) and
    analyse it with its own claims, as the dashboard does."""
    from hpsearch.storage import load_study_data

    return study_of(load_study_data(storage, name))
