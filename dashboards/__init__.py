"""Plotly figures, the live Dash dashboard and the self-contained HTML report.

Figures are pure functions of `hpsearch.analysis` records (they compute no statistics), so the
dashboard, the report and the tests all draw exactly the same thing.
"""
