"""From a storage URL to an analysed study: loading, filtering and analysing, shared by the
dashboard, the report and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from hpsearch.analysis.records import StudyAnalysis
from hpsearch.errors import StorageError
from hpsearch.studydata import StudyData

Analyzer = Callable[[StudyData], StudyAnalysis]


def check_storage_url(url: str) -> None:
    """Fail clearly (not with a traceback, and without creating files) on a storage we cannot read.

    A SQLite URL naming a missing file would otherwise silently create an empty database.
    """
    if "://" not in url:
        raise StorageError(
            f"`{url}` is not a storage URL; expected e.g. `sqlite:///hpsearch.db` or "
            "`postgresql+psycopg://user@host/db` (option `--storage` or $HPSEARCH_STORAGE)."
        )
    if url.startswith("sqlite"):
        path = unquote(urlparse(url).path)
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel.db -> /rel.db
        if path and path != ":memory:" and not Path(path).exists():
            raise StorageError(
                f"Cannot open the storage `{url}`: the file `{path}` does not exist. Run a study "
                "first (`hpsearch run studies/NAME.toml`) or pass `--storage` / $HPSEARCH_STORAGE."
            )


def analyze_study(data: StudyData) -> StudyAnalysis:
    """The study's own claims (its spec's `[claims]` table, defaults otherwise), decided."""
    from hpsearch.analysis import analyze

    return analyze(data)


def filter_study(
    data: StudyData, optimizers: Iterable[str] | None = None, seeds: Iterable[int] | None = None
) -> StudyData:
    """The same study restricted to some optimizers and seeds (None keeps all)."""
    trials, curves = data.trials, data.curves
    if optimizers is not None:
        keep = set(optimizers)
        trials = trials[trials["optimizer"].isin(keep)]
        curves = curves[curves["optimizer"].isin(keep)]
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
        spec=data.spec,
    )


def fingerprint(data: StudyData) -> str:
    """Changes whenever a trial is added or finishes: the dashboard re-renders only then."""
    columns = [c for c in ("study", "trial_number", "outcome", "value") if c in data.trials]
    if data.trials.empty:
        return "empty"
    hashed = pd.util.hash_pandas_object(data.trials[columns], index=False)
    return f"{len(data.trials)}-{int(hashed.sum()) & 0xFFFFFFFFFFFF:x}-{len(data.curves)}"
