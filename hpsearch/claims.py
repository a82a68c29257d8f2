"""The `[claims]` table of a study spec: which sensitivity claims to decide, and how strictly.

Every field has a default, so a spec without `[claims]` still gets claims decided: "each optimizer
is insensitive to each of its searched hyperparameters" (V1; AdaBound and AMSBound first), the
paper's "AdaBound is less sensitive than Adam / SGD" (V2) and its one admitted failure, "lr = 1
fails" (V3, where the grid has lr = 1), wherever those optimizers are in the study.
The rules are described in README ("How a verdict is decided"); tolerances are in *points*:
percentage points for an accuracy stored in [0, 1] (so 1.0 means 0.01), plain metric units
otherwise.

```toml
[claims]
tolerance = 1.0                       # m: the regret that matters, points (V1, V3, and W(m))
bootstrap = 2000                      # B
min_seeds = 5                         # a cell with fewer finished seeds blocks its verdicts
rng_seed = 0
insensitive = ["adabound.lr", "adabound.gamma"]   # V1 claims, "optimizer.hyperparameter"
compare = [["adabound", "adam"], ["adabound", "sgd"]]  # V2 claims, [A, B]: A less sensitive
fails = ["adabound.lr = 1"]           # V3 claims, "optimizer.hyperparameter = value"
[claims.ranges.adabound]
lr = [1e-4, 1.0]                      # [a, b] analysed; default: the grid's extent
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hpsearch.errors import UserInputError

# The paper's claim: the bound optimizers against the baselines they were compared with.
CLAIMANTS = ("adabound", "amsbound")
BASELINES = ("adam", "sgd", "amsgrad", "adamw")


@dataclass(frozen=True)
class InsensitivityClaim:
    """V1: `optimizer` is insensitive to `hyperparameter` over `range` within the tolerance."""

    optimizer: str
    hyperparameter: str


@dataclass(frozen=True)
class FailureClaim:
    """V3: `optimizer` loses more than the tolerance at `hyperparameter` = `value`."""

    optimizer: str
    hyperparameter: str
    value: float


@dataclass(frozen=True)
class ComparisonClaim:
    """V2: `a` is less sensitive than `b` (on `hyperparameter`, and jointly)."""

    a: str
    b: str
    hyperparameter: str = "lr"


class ClaimsSpec(BaseModel):
    """The optional `[claims]` table of a study spec (all fields optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: float = Field(1.0, gt=0, description="m, the regret that matters, in points")
    delta: float | None = Field(
        None,
        gt=0,
        description="kept for older specs: must equal `tolerance` (the good-region width W is "
        "read at the claims' m, so no figure shows a second tolerance)",
    )
    bootstrap: int = Field(2000, ge=20, le=100_000, description="B, bootstrap replicates")
    rng_seed: int = Field(0, ge=0, description="seed of the bootstrap's random generator")
    min_seeds: int = Field(
        5,
        ge=2,
        le=10_000,
        description="fewest finished seeds per cell; a cell with fewer blocks every verdict "
        "on its optimizer",
    )
    confidence: float = Field(0.95, gt=0.5, lt=1, description="interval coverage")
    report_metric: str | None = Field(
        None,
        description="metric reported for the selected configuration (default: the "
        "selection metric); must have the same direction",
    )
    insensitive: list[str] | None = Field(
        None,
        description='V1 claims as "optimizer.hyperparameter"; default: every searched '
        "hyperparameter of every optimizer (adabound / amsbound first)",
    )
    compare: list[tuple[str, str]] | None = Field(
        None,
        description="V2 claims as [A, B]; default: adabound / amsbound against adam, sgd, "
        "amsgrad, adamw",
    )
    fails: list[str] | None = Field(
        None,
        description='V3 claims as "optimizer.hyperparameter = value"; default: "lr = 1" for '
        "adabound / amsbound",
    )
    compare_hyperparameter: str = Field("lr", description="the shared hyperparameter of V2")
    ranges: dict[str, dict[str, tuple[float, float]]] = Field(
        default_factory=dict, description="optimizer -> hyperparameter -> [a, b] analysed"
    )

    @model_validator(mode="before")
    @classmethod
    def _removed_fields(cls, data: object) -> object:
        if isinstance(data, dict) and "divergence_interval" in data:
            raise ValueError(
                "`divergence_interval` was removed: divergence-rate bounds are always exact "
                "(Clopper-Pearson) now; delete the line"
            )
        if isinstance(data, dict) and "d_max" in data:
            raise ValueError(
                "`d_max` was removed: a diverged run enters every claim at the floor score, so "
                "divergence costs what it costs in the regret; delete the line"
            )
        return data

    @field_validator("insensitive")
    @classmethod
    def _dotted(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            optimizer, dot, hp = item.partition(".")
            if not dot or not optimizer or not hp:
                raise ValueError(f'`{item}` must be "optimizer.hyperparameter", e.g. "adabound.lr"')
        return value

    @field_validator("fails")
    @classmethod
    def _failure_form(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            _parse_failure(item)
        return value

    @model_validator(mode="after")
    def _ranges_ordered(self) -> ClaimsSpec:
        for optimizer, hps in self.ranges.items():
            for hp, (low, high) in hps.items():
                if not low < high:
                    raise ValueError(
                        f"ranges.{optimizer}.{hp} must be [low, high] with low < high, "
                        f"got [{low}, {high}]"
                    )
        for a, b in self.compare or []:
            if a == b:
                raise ValueError(f"compare [{a}, {b}] compares an optimizer with itself")
        if self.delta is not None and self.delta != self.tolerance:
            raise ValueError(
                f"`delta` ({self.delta:g}) must equal `tolerance` ({self.tolerance:g}) or be left "
                "out: the good-region width W is read at the claims' tolerance m, so a figure "
                "never shows two tolerances; set `tolerance` instead"
            )
        return self

    def insensitivity_claims(
        self, hyperparameters: Mapping[str, Sequence[str]], where: str = "[claims]"
    ) -> list[InsensitivityClaim]:
        """The V1 claims to decide for a study searching `hyperparameters` (optimizer -> names).

        Explicit claims must name a searched hyperparameter (`UserInputError` otherwise); the
        defaults cover only what the study searched.
        """
        if self.insensitive is None:
            # Every searched hyperparameter of every optimizer, the paper's claimants first: a
            # study of an optimizer hpsearch does not ship gets its claims decided too.
            order = [o for o in CLAIMANTS if o in hyperparameters]
            order += [o for o in hyperparameters if o not in CLAIMANTS]
            return [InsensitivityClaim(o, hp) for o in order for hp in hyperparameters[o]]
        claims = []
        for item in self.insensitive:
            optimizer, _, hp = item.partition(".")
            self._check_name(optimizer, hp, hyperparameters, f"{where}.insensitive", item)
            claims.append(InsensitivityClaim(optimizer, hp))
        return claims

    def comparison_claims(
        self, hyperparameters: Mapping[str, Sequence[str]], where: str = "[claims]"
    ) -> list[ComparisonClaim]:
        """The V2 claims to decide for a study searching `hyperparameters`."""
        hp = self.compare_hyperparameter
        if self.compare is None:
            return [
                ComparisonClaim(a, b, hp)
                for a in CLAIMANTS
                if a in hyperparameters
                for b in BASELINES
                if b in hyperparameters and hp in hyperparameters[a] and hp in hyperparameters[b]
            ]
        claims = []
        for a, b in self.compare:
            for o in (a, b):
                self._check_name(o, hp, hyperparameters, f"{where}.compare", f"[{a}, {b}]")
            claims.append(ComparisonClaim(a, b, hp))
        return claims

    def failure_claims(
        self, hyperparameters: Mapping[str, Sequence[str]], where: str = "[claims]"
    ) -> list[FailureClaim]:
        """The V3 claims; the default is the paper's "lr = 1 fails" for each claimant that
        searches lr (`analyze` skips it where the grid has no lr = 1)."""
        if self.fails is None:
            return [
                FailureClaim(o, "lr", 1.0) for o in CLAIMANTS if "lr" in hyperparameters.get(o, ())
            ]
        claims = []
        for item in self.fails:
            claim = _parse_failure(item)
            self._check_name(
                claim.optimizer, claim.hyperparameter, hyperparameters, f"{where}.fails", item
            )
            claims.append(claim)
        return claims

    def check_against(
        self, hyperparameters: Mapping[str, Sequence[str]], where: str = "[claims]"
    ) -> None:
        """Raise `UserInputError` if a claim or range names an optimizer or hyperparameter the
        study does not search; spec validation calls this so mistakes surface before a run."""
        self.insensitivity_claims(hyperparameters, where)
        self.comparison_claims(hyperparameters, where)
        self.failure_claims(hyperparameters, where)
        for optimizer, hps in self.ranges.items():
            for hp in hps:
                self._check_name(
                    optimizer, hp, hyperparameters, f"{where}.ranges", f"{optimizer}.{hp}"
                )

    @staticmethod
    def _check_name(
        optimizer: str,
        hp: str,
        hyperparameters: Mapping[str, Sequence[str]],
        field: str,
        value: str,
    ) -> None:
        if optimizer not in hyperparameters:
            raise UserInputError(
                f"{field}: `{value}` names optimizer `{optimizer}`, which the study does not "
                f"search; expected one of {', '.join(sorted(hyperparameters))}."
            )
        if hp not in hyperparameters[optimizer]:
            searched = ", ".join(hyperparameters[optimizer]) or "none"
            raise UserInputError(
                f"{field}: `{value}` names hyperparameter `{hp}`, which the study does not "
                f"search for `{optimizer}`; expected one of: {searched}."
            )


def _parse_failure(item: str) -> FailureClaim:
    """ "adabound.lr = 1" -> FailureClaim; ValueError (pydantic words it) when malformed."""
    name, equals, number = item.partition("=")
    optimizer, dot, hp = name.strip().partition(".")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if not equals or not dot or not optimizer or not hp or not math.isfinite(value):
        raise ValueError(
            f'`{item}` must be "optimizer.hyperparameter = value", e.g. "adabound.lr = 1"'
        )
    return FailureClaim(optimizer.strip(), hp.strip(), value)
