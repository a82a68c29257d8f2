"""Sensitivity statistics and verdicts: pure functions on the tidy tables of `StudyData`."""
