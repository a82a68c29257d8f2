"""`analyze(data, claims) -> StudyAnalysis`: every statistic, table and verdict of one study group.

The statistics and verdicts come from `decide.py`; a sequential study's verdicts are the ones its
looks decided (`replay.py`); `tables.py` arranges it all for the readers.
"""

from __future__ import annotations

from hpsearch.analysis import tables
from hpsearch.analysis.decide import claims_of, decide
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.analysis.replay import looks_of, replay
from hpsearch.analysis.verdicts import guarantee
from hpsearch.claims import ClaimsSpec
from hpsearch.studydata import StudyData

__all__ = ["analyze", "claims_of"]


def analyze(data: StudyData, claims: ClaimsSpec | None = None) -> StudyAnalysis:
    """Analyse one study group; `claims` defaults to the spec's `[claims]` table."""
    claims = claims if claims is not None else claims_of(data)
    d = decide(data, claims)
    verdicts = d.verdicts
    looks = looks_of(data.schedule)
    if looks:  # a sequential study: each claim as its looks decided it, at their levels
        verdicts = replay(data, claims, looks)
        for v in verdicts:
            v.guarantee = guarantee(v, len(verdicts), claims.confidence, looks)
    inputs = tables.TableInputs(
        grids=d.grids,
        stats=d.stats,
        hstats=d.hstats,
        sign=1.0 if data.direction == "maximize" else -1.0,
        confidence=claims.confidence,
        n_seeds=d.settings.n_seeds,
        delta=d.settings.delta,
        limits=(0.0, 1.0) if d.percent else tables.LEVELS,
    )
    return StudyAnalysis(
        name=data.name,
        settings=d.settings,
        hyperparameters={o: list(h) for o, h in data.hyperparameters.items()},
        configs=tables.configs_table(inputs),
        sensitivity=tables.sensitivity_table(inputs),
        summary=tables.summary_table(inputs),
        optimizers=tables.optimizers_table(inputs),
        best_of_k=tables.best_of_k_table(inputs),
        win_probability=tables.win_table(inputs),
        edf=tables.edf_table(inputs),
        importance=tables.importance_table(inputs),
        heatmaps=tables.heatmaps_table(inputs),
        picks=tables.picks_table(inputs, data),
        points=tables.points_table(data, d.settings.report_metric),
        verdicts=verdicts,
        notes=d.notes,
    )
