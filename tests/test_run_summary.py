"""`hpsearch run`'s closing summary table, over a real SQLite study (no Ray, no training)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpsearch.analysis.stats import best_seed_mean
from hpsearch.analysis.synthetic import store_study, synthetic_study
from hpsearch.runner import RunReport, write_summary
from hpsearch.spec import load_spec
from hpsearch.storage import load_study_data

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"
GRIDS = {
    "adabound": {"lr": [1e-3, 1.0], "final_lr": [0.1]},
    "adam": {"lr": [1e-3, 1.0]},
    "sgd": {"lr": [0.1], "momentum": [0.9]},
}
BEST = {"adabound": 0.7125, "adam": 0.6382, "sgd": 0.5}


def test_the_summary_shows_the_best_accuracy_in_percent(tmp_path: Path) -> None:
    spec = load_spec(SMOKE)
    url = f"sqlite:///{tmp_path / 'summary.db'}"

    def truth(optimizer: str, config: dict[str, float]) -> float:
        # The best seed mean sits at lr = 1e-3; lr = 1 is 20 points lower.
        return BEST[optimizer] - (0.2 if config["lr"] == 1.0 else 0.0)

    data = synthetic_study(GRIDS, truth, seeds=(0, 1), noise=0.0, name=spec.name)
    store_study(url, data)
    counts = {o: {"completed": int((data.trials["optimizer"] == o).sum())} for o in spec.optimizers}
    report = RunReport(name=spec.name, storage=url, total=len(data.trials), missing=0)
    report.counts = counts
    out = io.StringIO()
    write_summary(report, spec, load_study_data(url, spec.name), out)
    rows = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}
    # In % as the report, the dashboard and `hpsearch show` write it, never a bare fraction.
    assert rows["adam"].endswith("  63.8 %"), rows["adam"]
    assert rows["adabound"].endswith("  71.2 %"), rows["adabound"]
    assert rows["sgd"].endswith("  50.0 %"), rows["sgd"]
    assert "0.6382" not in out.getvalue()


def test_the_best_seed_mean_is_the_analysis_one() -> None:
    trials = pd.DataFrame({"lr": [0.1, 0.1, 1.0, 1.0, 1.0], "value": [0.6, 0.8, 0.9, 0.3, np.nan]})
    assert best_seed_mean(trials, ["lr"], maximize=True) == pytest.approx(0.7)  # not 0.9
    assert best_seed_mean(trials, ["lr"], maximize=False) == pytest.approx(0.6)
    assert best_seed_mean(trials, [], maximize=True) == pytest.approx(0.65)  # one configuration
    assert math.isnan(best_seed_mean(trials.iloc[4:], ["lr"], maximize=True))
