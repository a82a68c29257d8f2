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
    CURVES_COLUMNS,
    DETAIL_COLUMNS,
    FILES,
    SENSITIVITY_COLUMNS,
    STATISTIC_COLUMNS,
    VERDICT_COLUMNS,
    export_study,
    neutralise,
)
from hpsearch.studydata import TRIAL_COLUMNS

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
    assert sorted(Path(p).name for p in result.output.split()) == sorted(FILES)


def test_export_round_trips_through_pandas_with_the_documented_columns(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    url, data = stored
    _export(url, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curves.csv",
        "sensitivity.csv",
        "trials.csv",
        "verdict_details.csv",
        "verdict_statistics.csv",
        "verdicts.csv",
    ]  # no temporary files left behind
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert list(trials.columns) == [*TRIAL_COLUMNS, "config", "gamma", "lr", "test_accuracy"]
    assert len(trials) == len(data.trials) == 27
    # adabound 18 trials (2 of them failed), adam 9 (lr = 1 diverged for all 3 seeds)
    counts = trials["outcome"].value_counts().to_dict()
    assert counts == {"completed": 22, "diverged": 3, "failed": 2}
    curves = pd.read_csv(tmp_path / "curves.csv")
    assert list(curves.columns) == list(CURVES_COLUMNS)
    assert len(curves) == 27 * 4 * 2  # trials x epochs x metrics (failed trials too)
    sensitivity = pd.read_csv(tmp_path / "sensitivity.csv")
    assert list(sensitivity.columns) == list(SENSITIVITY_COLUMNS)
    adam = sensitivity.query("optimizer == 'adam' and hyperparameter == 'lr'")
    adam = adam.set_index("hyperparameter_value")
    # A share in %, as every other reader writes it.
    assert adam.loc[1.0, "divergence_rate"] == 100.0 and adam.loc[1.0, "n_diverged"] == 3
    # Diverged at the floor (10 %), not dropped; accuracy in %, as everywhere else.
    assert adam.loc[1.0, "profile"] == pytest.approx(10.0)
    verdicts = pd.read_csv(tmp_path / "verdicts.csv")
    assert list(verdicts.columns) == list(VERDICT_COLUMNS)  # the same columns for any study
    assert set(verdicts["result"]) <= {"SUPPORTED", "REFUTED", "INCONCLUSIVE"}
    assert set(verdicts["kind"]) == {"V1", "V2", "V3"}
    assert verdicts["claim_id"].tolist() == list(range(1, len(verdicts) + 1))
    assert (verdicts["S"] == 3).all() and verdicts["look"].isna().all()  # a fixed seed list
    statistics = pd.read_csv(tmp_path / "verdict_statistics.csv")
    assert list(statistics.columns) == list(STATISTIC_COLUMNS)
    details = pd.read_csv(tmp_path / "verdict_details.csv")
    assert list(details.columns) == list(DETAIL_COLUMNS)
    assert details["claim_id"].tolist() == verdicts["claim_id"].tolist()
    assert (details["B"] == 2000).all() and (details["n_failed_in_study"] == 2).all()
    assert (details["confidence"] == 0.95).all()  # a setting, as the spec states it
    # The deciding statistic of verdicts.csv is its row in verdict_statistics.csv.
    deciding = verdicts.merge(
        statistics,
        left_on=["claim_id", "decided_by"],
        right_on=["claim_id", "statistic"],
        suffixes=("", "_detail"),
    )
    assert len(deciding) == len(verdicts)
    for column in ("estimate", "estimate_low", "estimate_high", "unit"):
        assert deciding[column].equals(deciding[f"{column}_detail"]), column
    assert set(statistics["unit"]) == {"%", "points"}


def test_a_column_name_means_one_thing_in_every_file(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    """`value` was a hyperparameter's grid value in sensitivity.csv, a curve point in
    curves.csv and a trial's score in trials.csv; `n_diverged` counted one grid value's trials
    in one file and the whole study's in another. A name shared by two files is a key or the
    same quantity."""
    url, _ = stored
    _export(url, tmp_path)
    columns = {name: set(pd.read_csv(tmp_path / name).columns) for name in FILES}
    shared = {
        column
        for name, names in columns.items()
        for column in names
        if any(column in other for o, other in columns.items() if o != name)
    }
    assert shared == {
        "study",  # the study group, everywhere
        "trial_number",  # with `optimizer`, a trial
        "optimizer",
        "cell",
        "seed",
        "hyperparameter",  # a hyperparameter's name
        "claim_id",  # a claim, in the three verdict files
        "estimate",  # a statistic of a claim, with its bounds and unit
        "estimate_low",
        "estimate_high",
        "unit",
    }
    assert "value" in columns["trials.csv"]
    assert not any("value" in names for name, names in columns.items() if name != "trials.csv")


def test_diverged_and_failed_trials_are_exported(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    url, _ = stored
    _export(url, tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv")
    failed = trials[trials["outcome"] == "failed"]
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
    assert [r["value"] for r in rows if r["outcome"] == "failed"] == ["", ""]


def test_a_failed_trial_is_called_failed_wherever_a_user_reads_it(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    """The dashboard said "error", the CLI "failed": Optuna stores such a trial as FAIL, so every
    reader says "failed" (the CSV's `outcome`, `status`, `show`, the trial table of the
    dashboard and the report), while the stored attribute keeps "error"."""
    from dashboards.page import trial_table
    from hpsearch.analysis import analyze
    from hpsearch.storage import load_study_data

    url, _ = stored
    _export(url, tmp_path)
    assert (pd.read_csv(tmp_path / "trials.csv")["outcome"] == "failed").sum() == 2
    status = CliRunner().invoke(app, ["status", EVIL, "--storage", url])
    assert status.exit_code == 0, status.output
    assert "failed 2," in status.output and not re.search(r"\berror \d", status.output)
    shown = CliRunner().invoke(app, ["show", EVIL, "--storage", url]).output
    assert "2 failed" in shown.splitlines()[0]
    listed = CliRunner().invoke(app, ["list", "--storage", url]).output.splitlines()
    header = listed[0].split()
    assert header[3:7] == ["completed", "diverged", "failed", "running"], header
    assert re.search(r" 22 +3 +2 +0 ", listed[1]), listed  # the counts under them
    data = load_study_data(url, EVIL)
    assert (data.trials["outcome"] == "error").sum() == 2  # as stored
    _, rows = trial_table(data, analyze(data))
    outcomes = [row["outcome"] for row in rows]
    assert outcomes.count("failed") == 2 and "error" not in outcomes


def test_the_trial_table_names_its_columns_as_trials_csv_does(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    """The dashboard's and the report's trial table say `value` for the score (a diverged trial
    at the floor) and `test_accuracy` for what was measured, as `trials.csv` does."""
    from dashboards.page import trial_table
    from hpsearch.analysis import analyze
    from hpsearch.storage import load_study_data

    url, _ = stored
    _export(url, tmp_path)
    exported = pd.read_csv(tmp_path / "trials.csv").set_index(["optimizer", "trial_number"])
    data = load_study_data(url, EVIL)
    columns, rows = trial_table(data, analyze(data))
    assert {"value", "test_accuracy"} <= set(columns) and set(columns) <= set(exported.columns) | {
        "optimizer",
        "trial_number",
    }
    assert any(r["outcome"] == "diverged" for r in rows)
    for row in rows:
        csv_row = exported.loc[(row["optimizer"], row["trial_number"])]
        for column in ("value", "test_accuracy"):
            expected = csv_row[column]
            if pd.isna(expected):
                assert row[column] is None, (column, row)
            else:
                assert row[column] == pytest.approx(expected, abs=0.005), (column, row)


def test_formula_like_text_is_neutralised(stored: tuple[str, object], tmp_path: Path) -> None:
    url, _ = stored
    _export(url, tmp_path)
    for name in FILES:
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
    accuracy = curves[curves["metric"] == "test_accuracy"]["metric_value"].dropna()
    assert accuracy.max() > 1.0 and accuracy.max() <= 100.0
    sensitivity = pd.read_csv(tmp_path / "sensitivity.csv")
    assert {"divergence_rate_low", "divergence_rate_high"} <= set(sensitivity.columns)
    # At the best value the regret is exactly 0 points, not 1e-17; profiles are in %.
    ada = sensitivity[sensitivity["optimizer"] == "adabound"]
    assert (ada["regret"] >= 0).all() and (ada["regret"] == 0).any()
    assert ada["profile"].between(80, 100).all()
    for name in FILES:
        text = (tmp_path / name).read_text()
        assert "e-1" not in text and "e-0" not in text, name
    # Verdict numbers in the units every reader shows: for an accuracy, a level or a share in
    # %, a difference of either in points (all 100 x the stored 0-1 value).
    analysis = analyze(load_study_data(url, EVIL))
    statistics = pd.read_csv(tmp_path / "verdict_statistics.csv")
    expected_units = {"level": "%", "fraction": "%", "points": "points", "share_points": "points"}
    for claim_id, verdict in enumerate(analysis.verdicts, start=1):
        rows = statistics[statistics["claim_id"] == claim_id].set_index("statistic")
        assert list(rows.index) == list(verdict.numbers)
        for key, estimate in verdict.numbers.items():
            assert rows.loc[key, "unit"] == expected_units[number_kind(key)], key
            for column, value in (
                ("estimate", estimate.value),
                ("estimate_low", estimate.low),
                ("estimate_high", estimate.high),
            ):
                if math.isfinite(value):
                    assert rows.loc[key, column] == pytest.approx(100 * value, abs=0.005), key


def test_an_estimate_and_its_bounds_have_the_same_decimals(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    """CSV bounds had 6 decimals where their estimates had 2 (62.95, 59.398852, 64.060577):
    an estimate and its bounds are now rounded alike, to 2 decimals in % or points."""
    url, _ = stored
    _export(url, tmp_path)
    triples = {
        "sensitivity.csv": ["profile", "slice", "regret", "divergence_rate"],
        "verdicts.csv": ["estimate"],
        "verdict_statistics.csv": ["estimate"],
    }
    bounds = 0
    for name, stems in triples.items():
        with (tmp_path / name).open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            for stem in stems:
                for column in (stem, f"{stem}_low", f"{stem}_high"):
                    cell = row[column]
                    decimals = len(cell.partition(".")[2])
                    assert decimals <= 2, (name, column, cell)
                    bounds += column.endswith("_low") and decimals == 2
    assert bounds > 10  # bounds that had more decimals are written at 2 (not all integers)


def _readme_columns() -> dict[str, list[str]]:
    """README's "CSV reports": each file's documented columns, in their order (a table row's
    first cell names them in backticks; a row for each hyperparameter or metric does not)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## CSV reports\n") :]
    section = section[: section.index("\n## ", 1)]
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in section.splitlines():
        heading = re.match(r"\*\*`([a-z_]+\.csv)`\*\*", line)
        if heading:
            current = files.setdefault(heading.group(1), [])
        elif current is not None and line.startswith("| `"):
            current += re.findall(r"`([^`]+)`", line.split("|")[1])
    return files


def test_readme_lists_every_file_and_column_that_export_writes(
    stored: tuple[str, object], tmp_path: Path
) -> None:
    url, _ = stored
    _export(url, tmp_path)
    documented = _readme_columns()
    assert sorted(documented) == sorted(p.name for p in tmp_path.iterdir())
    for name, columns in documented.items():
        written = list(pd.read_csv(tmp_path / name, nrows=0).columns)
        if name == "trials.csv":  # then each hyperparameter and final metric, by bare name
            assert written[: len(columns)] == columns
            assert written[len(columns) :] == ["gamma", "lr", "test_accuracy"]
        else:
            assert written == columns, name
