"""The `[claims]` table of a study spec: which sensitivity claims to decide, and how strictly.

Every field has a default, so a spec without `[claims]` still gets claims decided: "each optimizer
is insensitive to each of its searched hyperparameters" (V1; AdaBound and AMSBound first) and the
paper's "AdaBound is less sensitive than Adam / SGD" (V2), wherever those optimizers are in the
study.
The rules and statistics are defined in SENSITIVITY.md §4; tolerances are in *points*: percentage
points for an accuracy stored in [0, 1] (so 1.0 means 0.01), plain metric units otherwise.

```toml
[claims]
tolerance = 1.0                       # m for V1, points
delta = 1.0                           # δ for W(δ), points (raised to 2 x the best cell's seed SE)
d_max = 0.1                           # largest divergence rate V1 accepts at any grid value
bootstrap = 2000                      # B
min_seeds = 5                         # a cell with fewer finished seeds blocks its verdicts
rng_seed = 0
insensitive = ["adabound.lr", "adabound.gamma"]   # V1 claims, "optimizer.hyperparameter"
compare = [["adabound", "adam"], ["adabound", "sgd"]]  # V2 claims, [A, B]: A less sensitive
[claims.ranges.adabound]
lr = [1e-4, 1.0]                      # [a, b] analysed; default: the grid's extent
```
"""

from __future__ import annotations

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
class ComparisonClaim:
    """V2: `a` is less sensitive than `b` (on `hyperparameter`, and jointly)."""

    a: str
    b: str
    hyperparameter: str = "lr"


class ClaimsSpec(BaseModel):
    """The optional `[claims]` table of a study spec (all fields optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tolerance: float = Field(1.0, gt=0, description="m for V1, in points")
    delta: float = Field(1.0, gt=0, description="δ for the good-region width W(δ), in points")
    d_max: float = Field(0.1, ge=0, le=1, description="largest divergence rate V1 accepts")
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
        return data

    @field_validator("insensitive")
    @classmethod
    def _dotted(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            optimizer, dot, hp = item.partition(".")
            if not dot or not optimizer or not hp:
                raise ValueError(f'`{item}` must be "optimizer.hyperparameter", e.g. "adabound.lr"')
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

    def check_against(
        self, hyperparameters: Mapping[str, Sequence[str]], where: str = "[claims]"
    ) -> None:
        """Raise `UserInputError` if a claim or range names an optimizer or hyperparameter the
        study does not search; spec validation calls this so mistakes surface before a run."""
        self.insensitivity_claims(hyperparameters, where)
        self.comparison_claims(hyperparameters, where)
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
