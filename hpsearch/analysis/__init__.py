"""Sensitivity statistics and verdicts: pure functions on the tidy tables of `StudyData`.

`analyze(data, claims)` returns a `StudyAnalysis` (see `records.py`) that the dashboard, the HTML
report and the CSV export draw without computing anything themselves.
"""

from hpsearch.analysis.analyze import analyze, claims_of
from hpsearch.analysis.records import AnalysisSettings, Estimate, StudyAnalysis, Verdict

__all__ = ["AnalysisSettings", "Estimate", "StudyAnalysis", "Verdict", "analyze", "claims_of"]
