"""README's demo numbers come from the generator, never from a hand: `make docs` writes them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def _make_docs():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "docs" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_readme_demo_section_is_what_the_committed_demo_files_say() -> None:
    docs = _make_docs()
    verdicts = pd.read_csv(docs.VERDICTS)
    run = json.loads(docs.RUN.read_text())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert docs.readme_section(readme) == docs.demo_section(verdicts, run), (
        "README's 'What the demo finds' differs from docs/demo-verdicts.csv: run `make docs`"
    )


def test_readme_calibration_section_is_what_the_benchmark_printed() -> None:
    docs = _make_docs()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    text = docs.CALIBRATION.read_text()
    assert docs.readme_section(readme, docs.CAL_BEGIN, docs.CAL_END) == (
        docs.calibration_section(text)
    ), "README's calibration section differs from docs/calibration.txt: run `make docs`"
    # The committed run is a full one, within its limits.
    assert "300 repetitions per case" in text and "surely above 2.5 %: none" in text


def test_a_changed_number_in_the_csv_changes_the_section() -> None:
    """The check above can fail: one verdict's number moved changes the generated text."""
    docs = _make_docs()
    verdicts = pd.read_csv(docs.VERDICTS)
    run = json.loads(docs.RUN.read_text())
    before = docs.demo_section(verdicts, run)
    verdicts.loc[0, "estimate"] = 123.456
    assert docs.demo_section(verdicts, run) != before


def test_show_its_sentences_and_the_readme_table_spell_a_number_one_way(tmp_path: Path) -> None:
    """One quantity, one spelling: ΔW was `52.5 %` in `show`'s table, `+0.53` in the sentence
    next to it and `0.53 (share of the range)` in README's table. Every reader now spells a
    number through `hpsearch.units`, the CSV files included: a share in %, a difference of
    accuracies or of shares in points, a sign on A − B."""
    from typer.testing import CliRunner

    from hpsearch.analysis import analyze
    from hpsearch.analysis.synthetic import store_study, synthetic_study
    from hpsearch.cli import app
    from hpsearch.storage import load_study_data
    from hpsearch.units import format_number

    docs = _make_docs()
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    data = synthetic_study(
        {"adabound": {"lr": lrs}, "adam": {"lr": lrs}},
        lambda o, c: 0.9 if o == "adabound" else 0.9 - 0.05 * abs(c["lr"] - 0.01) ** 0.5,
        seeds=range(5),
        diverges=lambda o, c, s: o == "adam" and c["lr"] == 1.0,
        name="spelling",
    )
    url = f"sqlite:///{tmp_path / 'spelling.db'}"
    store_study(url, data, claims={"bootstrap": 200})
    shown = CliRunner().invoke(app, ["show", "spelling", "--storage", url])
    exported = CliRunner().invoke(
        app, ["export", "spelling", "--storage", url, "--out", str(tmp_path / "csv")]
    )
    assert shown.exit_code == 0 and exported.exit_code == 0, shown.output + exported.output
    verdicts = pd.read_csv(tmp_path / "csv" / "verdicts.csv")
    statistics = pd.read_csv(tmp_path / "csv" / "verdict_statistics.csv")
    assert set(verdicts["kind"]) == {"V1", "V2", "V3"}
    for _, row in verdicts.iterrows():
        key = row["decided_by"]
        headline = f"{key} = {docs._number(row, key)}"  # README's "decided by" cell
        table = next(line for line in shown.output.splitlines() if line.endswith(row["claim"]))
        assert headline in table, (headline, table)
        mine = statistics[statistics["claim_id"] == row["claim_id"]].set_index("statistic")
        if row["kind"] == "V2":
            delta_w = mine.loc["delta_W"]
            assert delta_w["unit"] == "points" and -100 <= delta_w["estimate"] <= 100
            assert docs._number(delta_w, "delta_W")[0] in "+-"  # a signed difference
            assert " points [" in headline and headline.split()[2][0] in "+-"  # signed points
            assert f"ΔT = {docs._number(mine.loc['delta_T'], 'delta_T')};" in row["sentence"]
        elif row["kind"] == "V3":
            assert f"regret {docs._number(mine.loc['regret_at'], 'regret_at')};" in row["sentence"]
        elif row["result"] != "REFUTED":
            largest = docs._number(mine.loc["max_regret"], "max_regret")
            assert f"largest regret {largest}" in row["sentence"]
    # ΔW, a difference of two shares, is in points wherever it is written, never in %.
    analysis = analyze(load_study_data(url, "spelling"))
    v2 = next(v for v in analysis.verdicts if "delta_W" in v.numbers)
    assert format_number("delta_W", v2.numbers["delta_W"].value, analysis.settings).endswith(
        " points"
    )
