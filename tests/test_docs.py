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


def test_a_changed_number_in_the_csv_changes_the_section() -> None:
    """The check above can fail: one verdict's number moved changes the generated text."""
    docs = _make_docs()
    verdicts = pd.read_csv(docs.VERDICTS)
    run = json.loads(docs.RUN.read_text())
    before = docs.demo_section(verdicts, run)
    key = "max_regret" if "max_regret" in verdicts else verdicts.columns[-1]
    verdicts.loc[0, key] = 123.456
    verdicts.loc[0, "decided_by"] = key
    assert docs.demo_section(verdicts, run) != before
