"""A sequential study's run, look after look (`[run] seeds = { first = 5, max = 40 }`).

Each look runs its missing cells through the same scheduling as a fixed study (`run_look`, which
the caller gives: Ray Tune, populations, the Optuna writer), is decided by
`hpsearch.sequential.decide_look` once all its cells are finished, and its decision is stored
with the study before the next look's cells exist. So a killed driver resumes at the same look
(its finished cells kept, its RUNNING ones taken over), a second driver uses the decision the
first stored, and no look is decided twice or at another level.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from hpsearch.analysis.grid import config_id
from hpsearch.sequential import (
    BUDGET_ATTR,
    LOOK_ATTR,
    Budget,
    Schedule,
    SequentialState,
    decide_look,
    read_state,
)
from hpsearch.spec import Cell, StudySpec, expand_cells
from hpsearch.storage import (
    finished_cells,
    group_attrs,
    load_study_data,
    retry_seconds,
    set_group_attrs,
    with_retries,
)
from hpsearch.units import format_probability

if TYPE_CHECKING:
    from hpsearch.scheduling import ScheduleResult

FINISHED = ("completed", "diverged")


@dataclass
class LooksOutcome:
    """What `run_looks` did: every cell of the looks so far (for the summary), the state."""

    planned: list[Cell]
    state: SequentialState
    results: list[ScheduleResult] = field(default_factory=list)
    stopped: str | None = None  # a signal's name when the run was cut short


def look_cells(spec: StudySpec, state: SequentialState, look: int) -> list[Cell]:
    """Look `look`'s cells: each configuration of an optimizer open at it that no earlier look
    left (`hpsearch.analysis.allocation`), at the look's seeds."""
    schedule = state.schedule
    if look == 1:
        return expand_cells(spec, seeds=schedule.seeds_at(1))
    opened = state.looks[look - 2]["open_optimizers"]
    left = state.left(look - 1)
    cells = expand_cells(spec, seeds=schedule.seeds_at(look), optimizers=opened)
    return [c for c in cells if config_id(c.params) not in left.get(c.optimizer, ())]


def planned_cells(spec: StudySpec, state: SequentialState, upto: int) -> list[Cell]:
    """Every cell of looks 1..`upto`, each once, in look order."""
    seen: dict[str, Cell] = {}
    for look in range(1, upto + 1):
        for cell in look_cells(spec, state, look):
            seen.setdefault(cell.key, cell)
    return list(seen.values())


def run_looks(
    spec: StudySpec,
    schedule: Schedule,
    budget: Budget,
    *,
    url: str,
    study_ids: Mapping[str, int],
    run_look: Callable[[Sequence[Cell], str], ScheduleResult],
    err: TextIO,
) -> LooksOutcome:
    """Run and decide looks until every claim is decided, the last look is done, the budget
    allows no further look, a signal stops the run or a look's cells do not all finish (failed
    cells: the next run retries them and decides the look then)."""
    state = read_state(group_attrs(url, spec.name))
    if state is None:
        raise ValueError(f"`{spec.name}` has no stored sequential schedule")
    outcome = LooksOutcome(planned_cells(spec, state, state.decided), state)
    look = state.current
    while look > state.decided:
        cells = look_cells(spec, state, look)
        before = planned_cells(spec, state, look - 1) if look > 1 else []
        done = finished_cells(url, study_ids.values())
        known = {c.key for c in before}
        added = [c for c in cells if c.key not in known]
        if look > 1 and not any(c.key in done for c in added):  # not started yet
            over = _over_budget(budget, state, len(known) + len(added), len(added))
            if over is not None:
                set_group_attrs(
                    url, study_ids.values(), {BUDGET_ATTR: {"look": look - 1, "reason": over}}
                )
                state.budget_stop = over
                err.write(f"{spec.name}: no look {look}: {over}\n")
                break
        outcome.planned = _union(outcome.planned, cells)
        todo = [c for c in cells if c.key not in done]
        err.write(
            f"{spec.name}: look {look} of {len(schedule.looks)}, {schedule.looks[look - 1]} seeds "
            f"per cell (α {format_probability(schedule.alpha_at(look))} per side): {len(cells)} "
            "cells, "
            f"{len(cells) - len(todo)} already finished, {len(todo)} to run\n"
        )
        started = time.monotonic()
        if todo:
            result = run_look(todo, _label(state, look))
            outcome.results.append(result)
            if result.stopped is not None:
                outcome.stopped = result.stopped
                break
        data = with_retries(lambda: load_study_data(url, spec.name), seconds=retry_seconds())
        finished = set(data.trials.loc[data.trials["outcome"].isin(FINISHED), "cell"])
        if any(c.key not in finished for c in cells):
            break  # failed cells: the summary names them; the next run retries and decides
        ran = {"minutes": (time.monotonic() - started) / 60, "ran": len(todo)}
        state.looks.append(_decide(spec, state, look, data, url, study_ids, ran))
        err.write(_decided_line(spec, state, look) + "\n")
        if state.ended is None:
            look += 1
    return outcome


def _decide(
    spec: StudySpec,
    state: SequentialState,
    look: int,
    data: Any,
    url: str,
    study_ids: Mapping[str, int],
    ran: Mapping[str, float],
) -> dict[str, Any]:
    """Look `look`'s stored record; decided and stored here (with what this driver `ran`: its
    minutes and cells, for the budget) unless another driver already did: the first one
    stored is the decision."""
    key = LOOK_ATTR.format(look)
    stored = group_attrs(url, spec.name).get(key)
    if stored is not None:
        return dict(stored)
    decision = decide_look(
        data, spec.claims, look, state.schedule, final=set(state.final()), left=state.left()
    )
    record = decision.record()
    record.update(seeds=state.schedule.looks[look - 1], **ran)
    set_group_attrs(url, study_ids.values(), {key: record})
    stored = group_attrs(url, spec.name).get(key)
    return dict(stored) if stored is not None else record


def _over_budget(budget: Budget, state: SequentialState, total: int, added: int) -> str | None:
    """Why the next look would not fit the budget (None: it fits)."""
    if budget.max_cells is not None and total > budget.max_cells:
        return f"it would make {total} cells, over the budget of {budget.max_cells}"
    if budget.max_minutes is not None and state.looks:
        spent = sum(float(r.get("minutes", 0.0)) for r in state.looks)
        last = state.looks[-1]
        rate = float(last.get("minutes", 0.0)) / max(int(last.get("ran", 0)), 1)
        projected = spent + rate * added if last.get("ran") else spent
        if projected > budget.max_minutes:
            return (
                f"{spent:.1f} minutes spent, about {projected:.1f} with it, over the budget of "
                f"{budget.max_minutes:g}"
            )
    return None


def _label(state: SequentialState, look: int) -> str:
    """The progress line's head: the look and the claims final so far."""
    final = len(state.final())
    claims = f", {final} claim{'' if final == 1 else 's'} final" if state.looks else ""
    return f"look {look}/{len(state.schedule.looks)}{claims}"


def _decided_line(spec: StudySpec, state: SequentialState, look: int) -> str:
    record = state.looks[-1]
    results = record["results"]
    now = [c for c in record["final"] if c not in _final_before(state)]
    counts: dict[str, int] = {}
    for claim in now:
        counts[results[claim]] = counts.get(results[claim], 0) + 1
    decided = ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "none"
    open_claims = len(results) - len(record["final"])
    line = (
        f"{spec.name}: look {look} decided at α {format_probability(record['alpha'])} per side: "
        f"{decided} "
        f"newly final, {len(record['final'])} of {len(results)} claims final, {open_claims} open"
    )
    if state.ended == "decided":
        return line + "; every claim is decided"
    if state.ended == "last look":
        return line + "; that was the last look"
    following = look_cells(spec, state, look + 1)
    known = {c.key for c in planned_cells(spec, state, look)}
    added = sum(c.key not in known for c in following)
    left = sum(len(ids) for o, ids in state.left(look).items() if o in record["open_optimizers"])
    needless = f"; {left} configurations no open claim needs stay at their seeds" if left else ""
    return (
        line + f"; look {look + 1} adds {added} cells "
        f"({', '.join(record['open_optimizers'])} at {state.schedule.looks[look]} seeds{needless})"
    )


def _final_before(state: SequentialState) -> set[str]:
    return set(state.looks[-2]["final"]) if len(state.looks) > 1 else set()


def _union(cells: list[Cell], more: Sequence[Cell]) -> list[Cell]:
    keys = {c.key for c in cells}
    return cells + [c for c in more if c.key not in keys]
