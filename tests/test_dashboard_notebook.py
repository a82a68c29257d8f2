"""The notebook API: a stored study opened by URL, its verdicts and trials as DataFrames, and
every figure of the page as a plotly Figure drawn from the same records."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from dashboards.notebook import open_study
from hpsearch.analysis.synthetic import lr_one_study, store_study


def test_open_study_gives_verdicts_trials_and_every_figure(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nb.db'}"
    data = lr_one_study("nb", seeds=3, epochs=4)
    store_study(url, data, claims={"bootstrap": 100})
    study = open_study(url, "nb")
    verdicts = study.verdicts
    assert len(verdicts) == len(study.analysis.verdicts) > 0
    for row, v in zip(verdicts.itertuples(), study.analysis.verdicts, strict=True):
        assert (row.claim, row.result, row.decided_by) == (v.claim, v.result, v.decided_by)
        assert row.estimate == v.numbers[v.decided_by].value
    trials = study.trials
    assert len(trials) == len(data.trials) and {"lr", "gamma", "seed", "config"} <= set(trials)
    lines = study.answer()
    assert len(lines) == len(verdicts)
    assert all(c in line for c, line in zip(verdicts.claim, lines, strict=True))
    every = study.figures()
    assert {"fig-lr-one", "fig-sensitivity-lr", "fig-parallel-adabound"} <= set(every)
    assert all(isinstance(f, go.Figure) for f in every.values())
    # A figure drawn alone is the page's figure.
    assert study.plot_sensitivity("lr").to_json() == every["fig-sensitivity-lr"].to_json()
    record = study.parallel_record("adabound")
    assert record is not None and len(record.configs) == len(
        study.analysis.configs.query("optimizer == 'adabound'")
    )
    assert study.plot_parallel("adabound").data[0].type == "parcoords"
