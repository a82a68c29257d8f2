"""From a storage URL to an analysed study: loading, filtering and analysing, shared by the
dashboard, the report and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.analysis.records import StudyAnalysis
from hpsearch.studydata import StudyData

Analyzer = Callable[[StudyData], StudyAnalysis]


def analyze_study(data: StudyData) -> StudyAnalysis:
    """The study's own claims (its spec's `[claims]` table, defaults otherwise), decided."""
    from hpsearch.analysis import analyze

    return analyze(data)


def claim_text(optimizers: tuple[str, ...], hyperparameter: str | None) -> str:
    """A claim in a few words, for notes about claims that are not shown."""
    if len(optimizers) == 2:
        return f"{optimizers[0]} is less sensitive than {optimizers[1]}"
    return f"{optimizers[0]} is insensitive to {hyperparameter}"


def hidden_claims(data: StudyData, optimizers: Iterable[str] | None) -> list[str]:
    """The study's claims that name an optimizer outside `optimizers`, in words.

    A filter hides such claims (with a note saying so) instead of failing: `analyze` refuses a
    `[claims]` table that names an optimizer the (filtered) study does not search.
    """
    if optimizers is None:
        return []
    from hpsearch.analysis.analyze import claims_of

    keep = set(optimizers)
    claims = claims_of(data)
    hidden = [
        claim_text((c.optimizer,), c.hyperparameter)
        for c in claims.insensitivity_claims(data.hyperparameters)
        if c.optimizer not in keep
    ]
    hidden += [
        claim_text((c.a, c.b), c.hyperparameter)
        for c in claims.comparison_claims(data.hyperparameters)
        if not {c.a, c.b} <= keep
    ]
    trials = data.trials
    hidden += [
        f"{c.optimizer} fails at {c.hyperparameter} = {c.value:g}"
        for c in claims.failure_claims(data.hyperparameters)
        if c.optimizer not in keep
        # as `decide` does, the default "lr = 1 fails" only where the grid has lr = 1
        and np.isclose(
            pd.to_numeric(trials.loc[trials["optimizer"] == c.optimizer, c.hyperparameter]),
            c.value,
        ).any()
    ]
    return hidden


def _restrict_claims(spec: dict[str, Any] | None, keep: set[str]) -> dict[str, Any] | None:
    """The spec with its `[claims]` limited to the optimizers in `keep` (explicit lists only;
    the defaults already follow the optimizers present)."""
    claims = (spec or {}).get("claims")
    if not claims:
        return spec
    claims = dict(claims)
    if claims.get("insensitive") is not None:
        claims["insensitive"] = [
            c for c in claims["insensitive"] if str(c).partition(".")[0] in keep
        ]
    if claims.get("compare") is not None:
        claims["compare"] = [pair for pair in claims["compare"] if set(pair) <= keep]
    if claims.get("fails") is not None:
        claims["fails"] = [c for c in claims["fails"] if str(c).partition(".")[0].strip() in keep]
    if claims.get("ranges"):
        claims["ranges"] = {o: r for o, r in claims["ranges"].items() if o in keep}
    return {**(spec or {}), "claims": claims}


def filter_study(
    data: StudyData, optimizers: Iterable[str] | None = None, seeds: Iterable[int] | None = None
) -> StudyData:
    """The same study restricted to some optimizers and seeds (None keeps all).

    Claims that name an unselected optimizer are dropped from its spec (see `hidden_claims`).
    A sequential study keeps its look schedule only when nothing is left out: its claims are
    then given as its looks decided them; a selection is decided again (`refiltered_note`).
    """
    trials, curves = data.trials, data.curves
    spec = data.spec
    if optimizers is not None:
        keep = set(optimizers)
        trials = trials[trials["optimizer"].isin(keep)]
        curves = curves[curves["optimizer"].isin(keep)]
        spec = _restrict_claims(spec, keep)
    if seeds is not None:
        keep_seeds = {int(s) for s in seeds}
        trials = trials[trials["seed"].isin(keep_seeds)]
        curves = curves[curves["seed"].isin(keep_seeds)]
    return StudyData(
        name=data.name,
        metric=data.metric,
        direction=data.direction,
        trials=trials.reset_index(drop=True),
        curves=curves.reset_index(drop=True),
        hyperparameters={
            o: h
            for o, h in data.hyperparameters.items()
            if optimizers is None or o in set(optimizers)
        },
        metrics=list(data.metrics),
        spec=spec,
        search_spaces=data.search_spaces,
        schedule=data.schedule if len(trials) == len(data.trials) else None,
    )


def refiltered_note(data: StudyData, subset: StudyData) -> str | None:
    """What a reader must know when a sequential study is shown with a selection: the verdicts
    are no longer the study's own, look by look."""
    if data.schedule is None or subset.schedule is not None:
        return None
    return (
        "A sequential study with a selection: its claims are decided again on the selected "
        "trials at the full α, not as its looks decided them. Tick every optimizer and seed "
        "for the study's own verdicts."
    )


def fingerprint(data: StudyData) -> str:
    """Changes whenever a trial is added or finishes: the dashboard re-renders only then."""
    columns = [c for c in ("study", "trial_number", "outcome", "value") if c in data.trials]
    if data.trials.empty:
        return "empty"
    hashed = pd.util.hash_pandas_object(data.trials[columns], index=False)
    return f"{len(data.trials)}-{int(hashed.sum()) & 0xFFFFFFFFFFFF:x}-{len(data.curves)}"
