"""`hpsearch export` / `show` end to end: real SQLite storage, CSV files read back by pandas."""

from __future__ import annotations

import csv
import math
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import hpsearch.export as export_module
from hpsearch.analysis.synthetic import store_study, synthetic_study
from hpsearch.cli import app, main
from hpsearch.export import (
    SENSITIVITY_COLUMNS,
    VERDICT_HEAD,
    VERDICT_SETTINGS,
    export_study,
    neutralise,
)
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS

EVIL = "=cmd|' /C calc'!A0"
LRS = [1e-3, 1e-1, 1.0]


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, object]:
    """A study named like a formula, with diverged and failed trials, in a real SQLite file."""
    data = synthetic_study(
        {"adabound": {"lr": LRS, "gamma": [1e-3, 1e-2]}, "adam": {"lr": LRS}},
        lambda o, c: 0.9 if o == "adabound" else 0.9 - 0.1 * (c["lr"] > 0.01),
        seeds=range(3),
        diverges=lambda o, c, s: o == "adam" and c["lr"] == 1.0,
        errors=2,
        epochs=4,
        name=EVIL,
    )
    data.trials.loc[0, "error"] = '=HYPERLINK("http://x")'
    data.trials.loc[3, "cell"] = "+cmd|' /C notepad'!A0"
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hp.db'}"
    store_study(url, data)
    return url, data


def _export(url: str, out: Path) -> None:
    result = CliRunner().invoke(app, ["export", EVIL, "--out", str(out), "--storage", url])
    assert result.exit_code == 0, result.output
    assert sorted(Path(p).name for p in result.output.split()) == [
        "curves.csv",
        "sensitivity.csv",
        "trials.csv",
        "verdicts.csv",
    ]


def test_export_round_trips_through_pandas_with_the_documented_columns(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    url, data = stored
    _export(url, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curves.csv",
        "sensitivity.csv",
        "trials.csv",
        "verdicts.csv",
    ]  # no temporary files left behind
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert list(trials.columns) == [*TRIAL_COLUMNS, "config", "gamma", "lr", "test_accuracy"]
    assert len(trials) == len(data.trials) == 27
    # adabound 18 trials (2 of them failed), adam 9 (lr = 1 diverged for all 3 seeds)
    counts = trials["outcome"].value_counts().to_dict()
    assert counts == {"completed": 22, "diverged": 3, "error": 2}
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert list(curves.columns) == list(CURVE_COLUMNS)
    assert len(curves) == 27 * 4 * 2  # trials x epochs x metrics (failed trials too)
    sensitivity = pd.read_csv(tmp_path / "sensitivity.csv")
    assert list(sensitivity.columns) == list(SENSITIVITY_COLUMNS)
    adam = sensitivity.query("optimizer == 'adam' and hyperparameter == 'lr'").set_index("value")
    assert adam.loc[1.0, "divergence_rate"] == 1.0 and adam.loc[1.0, "n_diverged"] == 3
    # Diverged at the floor (10 %), not dropped; accuracy in %, as everywhere else.
    assert adam.loc[1.0, "profile"] == pytest.approx(10.0)
    verdicts = pd.read_csv(tmp_path / "verdicts.csv")
    columns = list(verdicts.columns)
    head, settings = len(VERDICT_HEAD), len(VERDICT_SETTINGS)
    assert columns[:head] == list(VERDICT_HEAD) and columns[-settings:] == list(VERDICT_SETTINGS)
    numbers = columns[head:-settings]  # each number the verdicts carry, with its bounds
    assert numbers and all(
        numbers[i + 1] == f"{numbers[i]}_low" and numbers[i + 2] == f"{numbers[i]}_high"
        for i in range(0, len(numbers), 3)
    )
    assert set(verdicts["result"]) <= {"SUPPORTED", "REFUTED", "INCONCLUSIVE"}
    assert set(verdicts["kind"]) == {"V1", "V2", "V3"}
    assert (verdicts["B"] == 2000).all() and (verdicts["S"] == 3).all()


def test_diverged_and_failed_trials_are_exported(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    url, _ = stored
    _export(url, tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv")
    failed = trials[trials["outcome"] == "error"]
    diverged = trials[trials["outcome"] == "diverged"]
    assert len(failed) == 2 and failed["value"].isna().all()
    assert failed["error"].str.contains("HYPERLINK|out of memory").all()
    assert len(diverged) == 3
    assert (diverged["value"] == diverged["floor"]).all() and (
        diverged["optimizer"] == "adam"
    ).all()
    # NaN is an empty cell in the file itself.
    with (tmp_path / "trials.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["value"] for r in rows if r["outcome"] == "error"] == ["", ""]


def test_formula_like_text_is_neutralised(stored: tuple[str, object], tmp_path: Path) -> None:
    url, _ = stored
    _export(url, tmp_path)
    for name in ("trials.csv", "curves.csv", "verdicts.csv"):
        with (tmp_path / name).open(newline="") as handle:
            cells = [c for row in csv.reader(handle) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@")], name
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert (trials["study"].str.startswith("'=cmd|")).all()
    assert "'+cmd|' /C notepad'!A0" in set(trials["cell"])
    assert '\'=HYPERLINK("http://x")' in set(trials["error"])
    assert (pd.read_csv(tmp_path / "verdicts.csv")["study"] == "'" + EVIL).all()
    # Numbers stay numbers: a negative value is not text.
    frame = neutralise(pd.DataFrame({"x": [-1.5], "t": ["-1+1"]}))
    assert frame["x"].iloc[0] == -1.5 and frame["t"].iloc[0] == "'-1+1"


def test_a_failed_export_leaves_no_half_file(
    stored: tuple[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.analysis import analyze
    from hpsearch.storage import load_study_data

    url, _ = stored
    data = load_study_data(url, EVIL)
    analysis = analyze(data)
    (tmp_path / "trials.csv").write_text("old\n")
    calls = {"n": 0}
    original = export_module.write_csv

    def flaky(frame: pd.DataFrame, path: Path) -> None:
        calls["n"] += 1
        original(frame, path)  # the file is written, then the disk "fills up" on the next
        if calls["n"] == 3:
            raise OSError("disk full")

    monkeypatch.setattr(export_module, "write_csv", flaky)
    with pytest.raises(OSError, match="disk full"):
        export_study(data, analysis, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]
    assert (tmp_path / "trials.csv").read_text() == "old\n"


def test_show_prints_the_verdicts_as_a_table(stored: tuple[str, object]) -> None:
    url, _ = stored
    result = CliRunner().invoke(app, ["show", EVIL, "--storage", url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "S = 3 seeds, B = 2000" in lines[0] and "2 failed" in lines[0]
    assert lines[1].split() == ["result", "kind", "decided", "by", "claim"]
    row = next(line for line in lines if "adabound is insensitive to lr" in line)
    # The deciding number with its interval, in points or % (never a bare 0-1 fraction).
    assert row.startswith("INCONCLUSIVE  V1    ")
    # (A bound is n/a where a cell has too few seeds to give one: here two trials failed.)
    assert re.search(r"(points| %) \[([-0-9.]+|n/a), ([-0-9.]+|n/a)\]", row), row
    assert any(line.startswith("[INCONCLUSIVE] adabound: undecided whether lr") for line in lines)


def test_bad_format_and_unknown_study_exit_with_a_message(
    stored: tuple[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = stored
    for args, code, message in (
        (
            ["export", EVIL, "--out", str(tmp_path), "--format", "xlsx"],
            2,
            "`xlsx` is not an export",
        ),
        (["show", "nope"], 2, "No study group `nope`"),
    ):
        monkeypatch.setattr(sys, "argv", ["hpsearch", *args, "--storage", url])
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code == code
        assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_csv_units_match_the_other_readers_and_carry_no_float_noise(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    from hpsearch.analysis import analyze
    from hpsearch.storage import load_study_data
    from hpsearch.units import number_kind

    url, data = stored
    _export(url, tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv")
    # Accuracy in %, the study named as in verdicts.csv.
    stored_values = data.trials["value"].astype(float)  # type: ignore[attr-defined]
    assert trials["value"].tolist() == pytest.approx((100 * stored_values).tolist(), nan_ok=True)
    assert trials["test_accuracy"].max() > 80
    verdicts = pd.read_csv(tmp_path / "verdicts.csv")
    assert set(trials["study"]) == set(verdicts["study"]) == {"'" + EVIL}
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert set(curves["study"]) == {"'" + EVIL}
    accuracy = curves[curves["metric"] == "test_accuracy"]["value"].dropna()
    assert accuracy.max() > 1.0 and accuracy.max() <= 100.0
    sensitivity = pd.read_csv(tmp_path / "sensitivity.csv")
    assert {"divergence_rate_low", "divergence_rate_high"} <= set(sensitivity.columns)
    # At the best value the regret is exactly 0 points, not 1e-17; profiles are in %.
    ada = sensitivity[sensitivity["optimizer"] == "adabound"]
    assert (ada["regret"] >= 0).all() and (ada["regret"] == 0).any()
    assert ada["profile"].between(80, 100).all()
    for name in ("trials.csv", "sensitivity.csv", "verdicts.csv"):
        text = (tmp_path / name).read_text()
        assert "e-1" not in text and "e-0" not in text, name
    # Verdict numbers in display units: a difference in points, a level in %.
    analysis = analyze(load_study_data(url, EVIL))
    for verdict, row in zip(analysis.verdicts, verdicts.itertuples(index=False), strict=True):
        for key, estimate in verdict.numbers.items():
            written = getattr(row, key)
            if not math.isfinite(estimate.value):
                continue
            scale = {"points": 100.0, "level": 100.0, "fraction": 1.0}[number_kind(key)]
            assert written == pytest.approx(estimate.value * scale, abs=1e-6), key
