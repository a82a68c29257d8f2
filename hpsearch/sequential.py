"""Sequential seeds: the look schedule, its α split, and the decision after each look.

A sequential study (`[run] seeds = { first = 5, max = 40 }`) runs every cell at the first look's
seeds, decides what it can, and adds the next look's seeds only to the optimizers that still
have an open claim, until every claim is decided, the last look is done or the budget is spent.

Error control: each claim spends its α (per side, from `[claims] confidence`) over the looks in
shares fixed before the first trial (`Schedule.split`, by default 0.1 at the first look and the
rest in equal shares). Look k decides at level α_k = split[k] x α; by the union bound over the
looks, a claim is wrongly decided on a side with probability at most Σ α_k ≤ α, whatever the
dependence between looks. That needs each look to be a fixed design: an open claim's optimizers
get every configuration at the look's seeds, in a fixed seed order, and no trial is dropped or
re-run because of its result. A claim decided at a look is final.

Allocation (`[run] seeds = { allocate = "cells" }`, the default): after a look, a cell that no
open claim can need any more (shown below another cell at its value of every open claim's
hyperparameter, `hpsearch.analysis.allocation`) gets no further seeds. Those decisions spend
`ALLOCATION_SHARE` of α, in equal parts at every look but the last; the claims spend the rest
in the split's shares, so the union bound still holds α per side. `allocate = "optimizers"`
keeps every cell of an open optimizer and spends all of α on the claims.

`decide_look` is a pure function of the data, so a simulation can call it without Ray; the run
loop (`hpsearch.runner`) stores the schedule and each look's decision with the study.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpsearch.claims import ClaimsSpec
from hpsearch.errors import UserInputError
from hpsearch.spec import SequentialSeeds, StudySpec
from hpsearch.studydata import SCHEDULE_ATTR, StudyData
from hpsearch.units import format_probability

if TYPE_CHECKING:  # the statistics load only where a look is decided
    from hpsearch.analysis import Verdict
    from hpsearch.analysis.records import Look

FIRST_SHARE = 0.1  # of α, spent at the first look; the rest in equal shares over the others
ALLOCATION_SHARE = 0.05  # of α, spent on leaving cells (allocate = "cells")

# Study-group user attributes (beside the resolved spec): the schedule, set before the first
# trial; each decided look's record under its own key (two drivers never overwrite a list); why
# the last run added no look though claims were open.
LOOK_ATTR = "sequential_look_{}"
BUDGET_ATTR = "sequential_budget_stop"


def default_split(looks: int) -> list[float]:
    """0.1 of α at the first look, the rest in equal shares (4 looks: 0.1 / 0.3 / 0.3 / 0.3)."""
    if looks == 1:
        return [1.0]
    return [FIRST_SHARE, *[(1 - FIRST_SHARE) / (looks - 1)] * (looks - 1)]


@dataclass(frozen=True)
class Schedule:
    """The looks of a sequential study, fixed before its first trial and stored with it."""

    looks: tuple[int, ...]  # seeds per cell at each look, e.g. (5, 10, 20, 40)
    seeds: tuple[int, ...]  # the seeds in the order they are drawn (as many as the last look)
    split: tuple[float, ...]  # share of the claims' α spent at each look
    alpha: float  # per side and claim, over all looks
    allocation: float = 0.0  # share of α spent on leaving cells (0: whole optimizers go on)

    def alpha_at(self, look: int) -> float:
        """α per side the claims spend at `look` (1-based)."""
        return self.look(look).alpha

    def allocation_at(self, look: int) -> float:
        """α spent at `look` on leaving cells, in equal parts at every look but the last."""
        return self.look(look).allocation

    def confidence_at(self, look: int) -> float:
        """The two-sided interval level that decides at `look`."""
        return 1 - 2 * self.alpha_at(look)

    def seeds_at(self, look: int) -> list[int]:
        return list(self.seeds[: self.looks[look - 1]])

    def look(self, look: int) -> Look:
        """Look `look` (1-based) as the analysis reads it: its seeds and its α."""
        from hpsearch.analysis.records import schedule_looks

        looks = schedule_looks(self.looks, self.seeds, self.split, self.alpha, self.allocation)
        return looks[look - 1]

    def to_json(self) -> dict[str, Any]:
        return {
            "looks": list(self.looks),
            "seeds": list(self.seeds),
            "split": list(self.split),
            "alpha": self.alpha,
            "allocation": self.allocation,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Schedule:
        return cls(
            looks=tuple(int(n) for n in data["looks"]),
            seeds=tuple(int(s) for s in data["seeds"]),
            split=tuple(float(x) for x in data["split"]),
            alpha=float(data["alpha"]),
            # Studies stored before cell allocation ran whole optimizers.
            allocation=float(data.get("allocation", 0.0)),
        )

    def describe(self) -> str:
        shares = " / ".join(f"{x:g}" for x in self.split)
        cells = (
            f", {self.allocation:g} of it on leaving cells no open claim needs"
            if self.allocation
            else ""
        )
        return (
            f"looks at {', '.join(map(str, self.looks))} seeds, "
            f"α = {format_probability(self.alpha)} per side "
            f"split {shares}{cells}"
        )


@dataclass(frozen=True)
class Budget:
    """When a sequential study stops adding looks, whatever is still open."""

    max_cells: int | None = None  # cells in the study, over all looks
    max_minutes: float | None = None  # minutes the looks ran, over all runs


def schedule_of(spec: StudySpec) -> Schedule | None:
    """A sequential spec's schedule (None for a spec with a seed list)."""
    seq = spec.run.sequential
    if seq is None:
        return None
    looks = seq.look_sizes()
    split = seq.split if seq.split is not None else default_split(len(looks))
    return Schedule(
        looks=tuple(looks),
        seeds=tuple(seq.seed_order()[: looks[-1]]),
        split=tuple(split),
        alpha=round((1 - spec.claims.confidence) / 2, 12),  # 0.025, not 0.025000000000000022
        allocation=ALLOCATION_SHARE if seq.allocate == "cells" and len(looks) > 1 else 0.0,
    )


def budget_of(spec: StudySpec) -> Budget:
    seq: SequentialSeeds | None = spec.run.sequential
    if seq is None:
        return Budget()
    return Budget(max_cells=seq.max_cells, max_minutes=seq.max_minutes)


def check_same_schedule(stored: Mapping[str, Any] | None, schedule: Schedule, name: str) -> None:
    """Refuse (exit 2) a schedule other than the one stored with the study: looking again at
    another level or another seed count would break the error guarantee."""
    if stored is None:
        return
    old = Schedule.from_json(stored)
    if old != schedule:
        raise UserInputError(
            f"The study `{name}` runs the sequential schedule {old.describe()} (seeds "
            f"{_seeds(old)}); this spec asks for {schedule.describe()} (seeds {_seeds(schedule)}). "
            "A schedule is fixed before the first trial: run the study with its own schedule, "
            "or give this one another `name`."
        )


def _seeds(schedule: Schedule) -> str:
    shown = ", ".join(map(str, schedule.seeds[:6]))
    return shown + (", ..." if len(schedule.seeds) > 6 else "")


@dataclass
class LookDecision:
    """What a look decided. `final`: the claims decided (at this look or before), final from
    now on; `open_optimizers`: those that get the next look's seeds (an open claim names them),
    except their configurations in `left` (ids, per optimizer: run no further)."""

    look: int
    alpha: float  # α per side spent at this look
    verdicts: list[Verdict]  # every claim's verdict at this look's level
    final: set[str] = field(default_factory=set)  # claim texts
    open_optimizers: set[str] = field(default_factory=set)
    left: dict[str, set[str]] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """What storage keeps of the look: each claim's result, the final claims, the open
        optimizers and the cells left (a JSON-ready dict)."""
        return {
            "look": self.look,
            "alpha": self.alpha,
            "results": {v.claim: v.result for v in self.verdicts},
            "final": sorted(self.final),
            "open_optimizers": sorted(self.open_optimizers),
            "left": {o: sorted(ids) for o, ids in sorted(self.left.items())},
        }


def decide_look(
    data: StudyData,
    claims: ClaimsSpec,
    look: int,
    schedule: Schedule,
    *,
    final: Collection[str] = (),
    left: Mapping[str, Collection[str]] | None = None,
) -> LookDecision:
    """Decide look `look` (1-based) at its share of α (`hpsearch.analysis.replay.decide_at`):
    every claim is analysed on the look's seeds at level α_k; a decisive claim becomes final; an
    optimizer stays open while a claim that names it is neither final before (`final`) nor
    decided now; cells no open claim needs join those `left` before.

    Pure: a function of the data, the claims, the look and the schedule."""
    from hpsearch.analysis.replay import decide_at

    decided = decide_at(data, claims, schedule.look(look), final, left)
    return LookDecision(
        look,
        decided.look.alpha,
        decided.verdicts,
        decided.final,
        decided.open_optimizers,
        decided.left,
    )


@dataclass
class SequentialState:
    """Where a sequential study stands, read back from its stored looks."""

    schedule: Schedule
    looks: list[dict[str, Any]]  # each decided look's record, in order
    budget_stop: str | None = None  # why the budget allowed no further look (the last run's)

    @property
    def decided(self) -> int:
        """The last decided look (0 before the first decision)."""
        return len(self.looks)

    @property
    def ended(self) -> str | None:
        """Why no further look runs: "decided" (no claim open), "last look", else None."""
        if self.looks and not self.looks[-1]["open_optimizers"]:
            return "decided"
        if self.decided >= len(self.schedule.looks):
            return "last look"
        return None

    @property
    def current(self) -> int:
        """The look that runs next (or the last one decided, when the study has ended)."""
        return self.decided if self.ended else self.decided + 1

    def describe(self) -> str:
        """One line: the look, the claims final, and why it ended."""
        total = len(self.schedule.looks)
        n = self.schedule.looks[self.current - 1]
        final = self.final()
        opened = len(self.looks[-1]["results"]) - len(final) if self.looks else None
        claims = (
            f"{len(final)} claim{'' if len(final) == 1 else 's'} final, {opened} open"
            if opened is not None
            else "no look decided yet"
        )
        state = {
            "decided": "every claim decided",
            "last look": "ended at the last look",
        }.get(self.ended or "", "")
        if not state and self.budget_stop:
            state = f"stopped by the budget ({self.budget_stop})"
        left = sum(len(ids) for ids in self.left().values())
        if left:
            claims += f"; {left} configuration{'' if left == 1 else 's'} left at fewer seeds"
        return f"look {self.current} of {total} ({n} seeds per cell): {claims}" + (
            f"; {state}" if state else ""
        )

    def left(self, look: int | None = None) -> dict[str, set[str]]:
        """Per optimizer, the configuration ids left after look `look` (default: the last one
        decided); none before the first look or in a study stored before cell allocation."""
        at = self.decided if look is None else look
        if at < 1:
            return {}
        stored = self.looks[at - 1].get("left") or {}
        return {str(o): {str(c) for c in ids} for o, ids in stored.items()}

    def final(self) -> dict[str, tuple[str, int]]:
        """Claim -> (result, look it was decided at), for every final claim."""
        out: dict[str, tuple[str, int]] = {}
        for record in self.looks:
            for claim in record["final"]:
                if claim not in out:
                    out[claim] = (record["results"].get(claim, "?"), int(record["look"]))
        return out


def read_state(attrs: Mapping[str, Any]) -> SequentialState | None:
    """A sequential study's state from its group attributes (None: not a sequential study)."""
    if SCHEDULE_ATTR not in attrs:
        return None
    schedule = Schedule.from_json(attrs[SCHEDULE_ATTR])
    looks = []
    for look in range(1, len(schedule.looks) + 1):
        record = attrs.get(LOOK_ATTR.format(look))
        if record is None:
            break
        looks.append(dict(record))
    stop = attrs.get(BUDGET_ATTR)
    budget_stop = None
    if isinstance(stop, Mapping) and int(stop.get("look", -1)) == len(looks):
        budget_stop = str(stop.get("reason", ""))
    return SequentialState(schedule, looks, budget_stop)
