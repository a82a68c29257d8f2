"""The verdicts of a sequential study: each claim as its looks decided it.

A sequential study (`hpsearch.sequential`) decides its claims look by look, each look on its own
seeds at its own share α_k of α; a claim decided at a look is final. Every reader (`show`, the
report, the dashboard, `export`) must give that answer, not one recomputed on all seeds at the
full α, which would look again at a level the schedule never spent. `replay` re-decides the looks
from the data, a pure function of it: the same trials give the same looks the run stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hpsearch.analysis.allocation import cells_left
from hpsearch.analysis.decide import decide
from hpsearch.analysis.defaults import optimizer_defaults
from hpsearch.analysis.grid import Grid
from hpsearch.analysis.records import Look, Verdict, schedule_looks
from hpsearch.analysis.verdicts import default_row
from hpsearch.claims import ClaimsSpec
from hpsearch.studydata import StudyData
from hpsearch.units import format_probability


@dataclass
class LookVerdicts:
    """What one look decided: every claim's verdict at the look's level, the claims final after
    it (decided now or before), the optimizers an open claim names."""

    look: Look
    verdicts: list[Verdict]
    final: set[str] = field(default_factory=set)
    open_optimizers: set[str] = field(default_factory=set)
    left: dict[str, set[str]] = field(default_factory=dict)  # config ids run no further


def looks_of(schedule: Mapping[str, Any] | None) -> list[Look] | None:
    """The looks of a stored schedule (`hpsearch.sequential.Schedule.to_json`); None if none."""
    if not schedule:
        return None
    return schedule_looks(
        [int(n) for n in schedule["looks"]],
        [int(s) for s in schedule["seeds"]],
        [float(x) for x in schedule["split"]],
        float(schedule["alpha"]),
        float(schedule.get("allocation", 0.0)),  # none before cell allocation
    )


def look_data(data: StudyData, seeds: Collection[int]) -> StudyData:
    """`data` as it stood at a look: only the trials of its seeds."""
    keep = data.trials["seed"].isin(list(seeds))
    return replace(
        data,
        trials=data.trials[keep].reset_index(drop=True),
        curves=data.curves[data.curves["seed"].isin(list(seeds))].reset_index(drop=True),
    )


def decide_at(
    data: StudyData,
    claims: ClaimsSpec,
    look: Look,
    final: Collection[str] = (),
    left: Mapping[str, Collection[str]] | None = None,
) -> LookVerdicts:
    """Decide `look` at its α: a decisive claim becomes final; an optimizer stays open while a
    claim that names it is neither final before (`final`) nor decided now. `left`: the cells
    earlier looks stopped running; the result's `left` adds those this look stops."""
    level = claims.model_copy(update={"confidence": 1 - 2 * look.alpha})
    at_look = look_data(data, look.seeds)
    decided_look = decide(at_look, level, left)
    verdicts = decided_look.verdicts
    decided = set(final)
    open_optimizers: set[str] = set()
    still_open: list[Verdict] = []
    for verdict in verdicts:
        if verdict.claim in decided:
            continue
        if verdict.result != "INCONCLUSIVE":
            decided.add(verdict.claim)
        else:
            open_optimizers.update(verdict.optimizers)
            still_open.append(verdict)
    now_left = {optimizer: set(ids) for optimizer, ids in (left or {}).items()}
    if look.allocation > 0 and still_open:  # the last look, or nothing open: nothing to leave
        rows = _defaults_rows(at_look, decided_look.grids, still_open)
        for optimizer, ids in cells_left(
            decided_look.grids, still_open, rows, look.allocation
        ).items():
            now_left.setdefault(optimizer, set()).update(ids)
    return LookVerdicts(look, verdicts, decided, open_optimizers, now_left)


def _defaults_rows(
    data: StudyData, grids: Mapping[str, Grid], still_open: Sequence[Verdict]
) -> dict[str, list[int]]:
    """Per optimizer, the rows of the defaults cells an open "fails at the defaults" claim reads:
    never left, whatever the other cells show."""
    defaults = optimizer_defaults(data)
    rows: dict[str, list[int]] = {}
    for verdict in still_open:
        if verdict.kind != "V3" or verdict.settings.get("view") != "defaults":
            continue
        optimizer, h = verdict.optimizers[0], str(verdict.hyperparameter)
        grid = grids.get(optimizer)
        if grid is None:
            continue
        others = [x for x in grid.hyperparameters if x != h]
        value = float(verdict.settings["value"])
        row, _ = default_row(grid, h, value, others, defaults.get(optimizer))
        if row is not None:
            rows.setdefault(optimizer, []).append(row)
    return rows


def replay(data: StudyData, claims: ClaimsSpec, looks: Sequence[Look]) -> list[Verdict]:
    """Each claim's verdict from the look that decided it, or from the last look run for a claim
    still open; each says which look, at which α. A look counts as run when every cell of an
    open optimizer has its seeds (another driver may be adding the next one)."""
    chosen: dict[str, Verdict] = {}
    order: list[str] = []
    final: set[str] = set()
    left: dict[str, set[str]] = {}
    for look in looks:
        if look.number > 1 and not _ran(data, looks, look):
            break
        decision = decide_at(data, claims, look, final, left)
        left = decision.left
        for verdict in decision.verdicts:
            if verdict.claim not in order:
                order.append(verdict.claim)
            if verdict.claim not in final:
                chosen[verdict.claim] = _at_look(verdict, look, len(looks))
        final = decision.final
        if not decision.open_optimizers:
            break
    return [chosen[c] for c in order]


def _ran(data: StudyData, looks: Sequence[Look], look: Look) -> bool:
    """Whether the data hold any trial of a seed this look added (the look has run, or runs)."""
    added = set(look.seeds) - set(looks[look.number - 2].seeds)
    return bool(data.trials["seed"].isin(list(added)).any())


def _at_look(verdict: Verdict, look: Look, n_looks: int) -> Verdict:
    """The verdict stamped with its look: the sentence and the settings say where it stands."""
    state = "decided (final)" if verdict.result != "INCONCLUSIVE" else "still open"
    where = (
        f" Look {look.number} of {n_looks} ({len(look.seeds)} seeds per cell, α = "
        f"{format_probability(look.alpha)} per side): {state}."
    )
    return replace(
        verdict,
        sentence=verdict.sentence + where,
        settings=verdict.settings | {"look": look.number, "looks": n_looks, "alpha": look.alpha},
    )
