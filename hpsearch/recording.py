"""A trial's result → what is stored: outcome, value and the one trial-attribute schema.

Everything a study keeps about a cell besides its Optuna params is a trial user attribute, and
this module is the only place that spells them: `hpsearch run` scores results with
`score_result`, the synthetic store of tests and benchmarks turns a `StudyData` row into the same
record with `record_from_row`, and storage reads them back into a row with `trial_row`.

Nothing here imports Optuna or Ray: storage turns `state` into Optuna's trial states, and
`hpsearch.recorder` calls `score_result` as a run's cells finish.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from hpsearch import __version__
from hpsearch.metrics import is_accuracy

# A run only ever stores finished trials this way; RUNNING is the synthetic store's.
StoredState = Literal["COMPLETE", "FAIL", "RUNNING"]


@dataclass(frozen=True)
class Scoring:
    """How a study scores a cell: its selection metric, direction and chance level."""

    metric: str
    direction: Literal["maximize", "minimize"]
    num_classes: int | None = None


@dataclass
class TrialRecord:
    """One finished cell as storage writes it: state, objective value, attributes, curve."""

    state: StoredState
    value: float | None
    attrs: dict[str, Any]
    epochs: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def outcome(self) -> str:
        return str(self.attrs["outcome"])


@dataclass(frozen=True)
class FinishedCell:
    """The attributes a trial gets when its cell finishes: the schema, spelled once."""

    outcome: str  # completed / diverged / error
    seed: int
    metric: str  # the selection metric
    raw_value: float  # what was measured (NaN or inf when it diverged)
    floor: float  # the score a diverged cell gets
    diverged_epoch: int | None = None
    divergence_reason: str | None = None
    error: str | None = None
    wall_seconds: float | None = None
    device: str | None = None
    final: dict[str, float] = field(default_factory=dict)  # metrics after the last epoch
    initial: dict[str, float] = field(default_factory=dict)  # metrics before any step

    def attributes(self, versions: Mapping[str, str]) -> dict[str, Any]:
        return {**asdict(self), **versions}


def start_attributes(seed: int, optimizer: str, fixed: Mapping[str, Any]) -> dict[str, Any]:
    """What a trial holds from the moment its cell starts."""
    return {"seed": seed, "optimizer": optimizer, "fixed": dict(fixed)}


def floor_value(scoring: Scoring, initial: Mapping[str, float]) -> float:
    """The score of a diverged cell: chance accuracy, else the metric's value before training."""
    if is_accuracy(scoring.metric) and scoring.num_classes:
        return 1.0 / scoring.num_classes
    value = initial.get(scoring.metric)
    if value is None or not math.isfinite(value):
        return math.nan
    return float(value)


def run_versions() -> dict[str, str]:
    """The library versions a trial records (torch is imported only when a run scores)."""
    import torch

    return {"hpsearch_version": __version__, "torch_version": str(torch.__version__)}


def _epochs(rows: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, float]]:
    return {
        i: {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
        for i, metrics in enumerate(rows, start=1)
    }


def score_result(
    scoring: Scoring, seed: int, result: Mapping[str, Any], versions: Mapping[str, str]
) -> TrialRecord:
    """A cell's training result (a `TrialResult` as a dict) as the trial to store.

    Diverged cells are COMPLETE at the floor, never dropped; a cell that measured nothing finite
    is diverged too; errors are FAIL with their message.
    """
    outcome = result.get("outcome", "error")
    final = result.get("final") or {}
    epochs = result.get("epochs") or []
    raw = final.get(scoring.metric, epochs[-1].get(scoring.metric) if epochs else math.nan)
    raw = float(raw) if raw is not None else math.nan
    floor = floor_value(scoring, result.get("initial") or {})
    if outcome == "completed" and not math.isfinite(raw):
        outcome = "diverged"  # nothing finite was measured: score it, don't drop it
    attrs = FinishedCell(
        outcome=outcome,
        seed=seed,
        metric=scoring.metric,
        raw_value=raw,
        floor=floor,
        diverged_epoch=result.get("diverged_epoch"),
        divergence_reason=result.get("divergence_reason"),
        error=result.get("error"),
        wall_seconds=result.get("wall_seconds"),
        device=result.get("device"),
        final=dict(final),
        initial=dict(result.get("initial") or {}),
    ).attributes(versions)
    if outcome == "error":
        return TrialRecord("FAIL", None, attrs, _epochs(epochs))
    value = floor if outcome == "diverged" else raw
    if not math.isfinite(value):  # no floor known (e.g. no initial loss): worst possible
        value = -math.inf if scoring.direction == "maximize" else math.inf
    return TrialRecord("COMPLETE", value, attrs, _epochs(epochs))


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def record_from_row(
    row: Mapping[str, Any], metric: str, metrics: Sequence[str], versions: Mapping[str, str]
) -> TrialRecord:
    """A row of `StudyData.trials` as the trial a run would have stored (a running one with the
    attributes of a cell that has just started).

    The synthetic store of tests and benchmarks writes through this, so what they read back went
    through the same schema as a real run's trials.
    """
    outcome = row["outcome"]
    if outcome == "running":
        return TrialRecord(
            "RUNNING", None, start_attributes(int(row["seed"]), row["optimizer"], {})
        )
    diverged_epoch = row["diverged_epoch"]
    attrs = FinishedCell(
        outcome=outcome,
        seed=int(row["seed"]),
        metric=metric,
        raw_value=row["raw_value"],
        floor=row["floor"],
        diverged_epoch=None if _missing(diverged_epoch) else int(diverged_epoch),
        divergence_reason=row["divergence_reason"],
        error=row["error"],
        wall_seconds=row["wall_seconds"],
        device=row["device"],
        final={m: row[m] for m in metrics if m in row},
    ).attributes(versions)
    if outcome == "error":
        return TrialRecord("FAIL", None, attrs)
    return TrialRecord("COMPLETE", float(row["value"]), attrs)


def trial_row(attrs: Mapping[str, Any], state: str, value: float, *, number: int) -> dict[str, Any]:
    """The `StudyData.trials` columns of one stored trial, from its attributes, Optuna state and
    objective value (the reverse of `score_result`; hyperparameters and metrics are added by the
    reader). A RUNNING trial is `running`, any other unfinished or failed one `error`."""
    outcome = attrs.get("outcome")
    if state == "RUNNING":
        outcome = "running"
    elif state != "COMPLETE":
        outcome = "error"
    elif outcome not in ("completed", "diverged"):
        outcome = "completed"
    value = value if state == "COMPLETE" else math.nan
    return {
        "trial_number": number,
        "cell": attrs.get("cell", f"trial-{number}"),
        "seed": attrs.get("seed"),
        "outcome": outcome,
        "value": value,
        "raw_value": _number(attrs.get("raw_value", value)),
        "floor": _number(attrs.get("floor")),
        "diverged_epoch": attrs.get("diverged_epoch"),
        "divergence_reason": attrs.get("divergence_reason"),
        "error": attrs.get("error") if outcome == "error" else None,
        "wall_seconds": _number(attrs.get("wall_seconds")),
        "device": attrs.get("device"),
    }


def final_metrics(attrs: Mapping[str, Any]) -> dict[str, float]:
    """A stored trial's final metrics (one column each in `StudyData.trials`)."""
    return {m: _number(v) for m, v in (attrs.get("final") or {}).items()}


def curves(attrs: Mapping[str, Any]) -> dict[str, list[float]]:
    """A stored trial's per-epoch metrics, metric → values from epoch 1."""
    return {m: [_number(x) for x in series] for m, series in (attrs.get("curves") or {}).items()}
