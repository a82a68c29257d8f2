"""Sequential seeds without Ray: the spec's forms, the schedule and its α split, the decision
after a look on synthetic data, and the state read back from stored looks."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hpsearch.analysis.replay import look_data
from hpsearch.analysis.synthetic import synthetic_study
from hpsearch.claims import ClaimsSpec
from hpsearch.errors import UserInputError
from hpsearch.sequential import (
    LOOK_ATTR,
    SCHEDULE_ATTR,
    Schedule,
    check_same_schedule,
    decide_look,
    default_split,
    read_state,
    schedule_of,
)
from hpsearch.spec import expand_cells, load_spec
from hpsearch.storage import group_attrs

SMOKE = Path(__file__).resolve().parents[1] / "studies" / "smoke.toml"


def test_first_and_max_double_the_seeds_and_a_list_still_means_a_fixed_study() -> None:
    spec = load_spec(SMOKE, ["run.seeds={first = 5, max = 40}"])
    schedule = schedule_of(spec)
    assert schedule is not None
    assert schedule.looks == (5, 10, 20, 40)
    assert schedule.seeds == tuple(range(40))
    assert schedule.split == pytest.approx((0.1, 0.3, 0.3, 0.3))
    assert schedule.alpha == pytest.approx(0.025)
    # The claims spend 95 % of α over the looks, leaving cells 5 % at the looks before the last.
    assert schedule.allocation == pytest.approx(0.05)
    assert schedule.confidence_at(1) == pytest.approx(1 - 2 * 0.0025 * 0.95)
    assert schedule.allocation_at(4) == 0.0
    spent = sum(schedule.alpha_at(k) + schedule.allocation_at(k) for k in range(1, 5))
    assert spent == pytest.approx(0.025)
    optimizers = 'run.seeds={first = 5, max = 40, allocate = "optimizers"}'
    whole = schedule_of(load_spec(SMOKE, [optimizers]))
    assert whole is not None and whole.allocation == 0.0
    assert sum(whole.alpha_at(k) for k in range(1, 5)) == pytest.approx(0.025)
    assert len(expand_cells(spec)) == 5 * 40  # the study's size counts the last look
    assert {c.seed for c in expand_cells(spec, seeds=schedule.seeds_at(2))} == set(range(10))
    fixed = load_spec(SMOKE)
    assert schedule_of(fixed) is None and fixed.run.seeds == [0, 1]
    assert load_spec(SMOKE, ["run.seeds={first = 5, max = 30}"]).run.seed_list() == list(range(30))


def test_explicit_looks_order_and_split_are_kept_and_a_budget_is_not_part_of_the_hash() -> None:
    spec = load_spec(
        SMOKE, ["run.seeds={looks = [2, 4], order = [7, 3, 9, 1, 5], split = [0.2, 0.8]}"]
    )
    schedule = schedule_of(spec)
    assert schedule == Schedule(
        looks=(2, 4), seeds=(7, 3, 9, 1), split=(0.2, 0.8), alpha=0.025, allocation=0.05
    )
    assert schedule.seeds_at(1) == [7, 3]
    assert Schedule.from_json(schedule.to_json()) == schedule
    budgeted = load_spec(
        SMOKE,
        ["run.seeds={looks = [2, 4], order = [7, 3, 9, 1, 5], split = [0.2, 0.8], max_cells = 9}"],
    )
    assert budgeted.spec_hash() == spec.spec_hash()
    assert default_split(1) == [1.0] and default_split(3) == pytest.approx([0.1, 0.45, 0.45])


@pytest.mark.parametrize(
    ("seeds", "says"),
    [
        ("{first = 5}", "needs `first` and `max`"),
        ("{first = 5, max = 20, looks = [5, 10]}", "not both"),
        ("{looks = [5, 5]}", "must grow"),
        ("{looks = [1, 4]}", "at least 2"),
        ("{looks = [5, 10], split = [0.5]}", "one share of α per look"),
        ("{looks = [5, 10], split = [0.5, 0.6]}", "add up to 1.1"),
        ("{looks = [2, 4], order = [0, 1, 2]}", "the last look needs 4"),
        ("{looks = [2, 3], order = [0, 1, 1]}", "seeds repeat"),
        ("{first = 5, max = 10, spare = 1}", "run.seeds.spare"),
    ],
)
def test_a_bad_sequential_table_is_bad_input_naming_the_field(seeds: str, says: str) -> None:
    with pytest.raises(UserInputError, match=r"run\.seeds") as caught:
        load_spec(SMOKE, [f"run.seeds={seeds}"])
    assert says in str(caught.value)


def test_another_schedule_than_the_stored_one_is_refused() -> None:
    schedule = Schedule(looks=(5, 10), seeds=tuple(range(10)), split=(0.1, 0.9), alpha=0.025)
    check_same_schedule(None, schedule, "s")
    check_same_schedule(schedule.to_json(), schedule, "s")
    other = Schedule(looks=(5, 20), seeds=tuple(range(20)), split=(0.1, 0.9), alpha=0.025)
    with pytest.raises(UserInputError, match="fixed before the first trial"):
        check_same_schedule(schedule.to_json(), other, "s")


def _truth(optimizer: str, config: dict[str, float]) -> float:
    # flat: insensitive to lr; sharp: 30 points lost away from lr = 0.01
    if optimizer == "flat":
        return 0.80
    return 0.80 if config["lr"] == 0.01 else 0.50


GRIDS = {"flat": {"lr": [0.001, 0.01, 0.1]}, "sharp": {"lr": [0.001, 0.01, 0.1]}}
CLAIMS = ClaimsSpec.model_validate(
    {"insensitive": ["flat.lr", "sharp.lr"], "compare": [], "min_seeds": 2, "bootstrap": 200}
)


def test_a_decisive_claim_is_final_and_only_open_claims_keep_an_optimizer_running() -> None:
    data = synthetic_study(GRIDS, _truth, seeds=range(10), noise=0.02, rng_seed=3)
    schedule = Schedule(looks=(5, 10), seeds=tuple(range(10)), split=(0.1, 0.9), alpha=0.025)
    first = decide_look(data, CLAIMS, 1, schedule)
    assert first.alpha == pytest.approx(0.0025)
    results = {v.claim.split(" ")[0]: v.result for v in first.verdicts}
    assert results["sharp"] == "REFUTED"  # 30 points at 5 seeds: decided at the first look
    sharp = next(v.claim for v in first.verdicts if v.claim.startswith("sharp"))
    assert sharp in first.final and "sharp" not in first.open_optimizers
    if results["flat"] == "INCONCLUSIVE":
        assert first.open_optimizers == {"flat"}
    # A claim final before is not decided again, and keeps no optimizer open.
    again = decide_look(data, CLAIMS, 2, schedule, final={sharp})
    assert sharp in again.final and "sharp" not in again.open_optimizers
    record = again.record()
    assert record["look"] == 2 and sharp in record["final"] and set(record["results"]) >= {sharp}


def test_every_reader_gets_each_claim_as_its_look_decided_it() -> None:
    """`analyze` of a sequential study replays the looks: a claim decided at look 1 keeps look
    1's verdict (its seeds, its α), an open one is reported from the last look run; neither is
    re-decided on all seeds at the full α."""
    from hpsearch.analysis import analyze

    schedule = Schedule(looks=(5, 10), seeds=tuple(range(10)), split=(0.1, 0.9), alpha=0.025)
    # The second look ran only for `flat` (`sharp` was final after look 1).
    data = synthetic_study(GRIDS, _truth, seeds=range(10), noise=0.02, rng_seed=3)
    later = (data.trials["optimizer"] == "sharp") & (data.trials["seed"] >= 5)
    data.trials = data.trials[~later].reset_index(drop=True)
    data.schedule = schedule.to_json()
    verdicts = {v.claim.split(" ")[0]: v for v in analyze(data, CLAIMS).verdicts}
    first = {v.claim.split(" ")[0]: v for v in decide_look(data, CLAIMS, 1, schedule).verdicts}
    assert verdicts["sharp"].result == "REFUTED" and verdicts["sharp"].settings["look"] == 1
    assert verdicts["sharp"].numbers == first["sharp"].numbers  # look 1's numbers, look 1's α
    assert "Look 1 of 2 (5 seeds per cell" in verdicts["sharp"].sentence
    assert verdicts["flat"].settings["look"] == (1 if first["flat"].result != "INCONCLUSIVE" else 2)
    assert "decided look by look (looks at 5, 10 seeds" in verdicts["sharp"].guarantee


def test_a_look_sees_only_its_own_seeds() -> None:
    data = synthetic_study(GRIDS, _truth, seeds=range(10))
    schedule = Schedule(
        looks=(3, 10), seeds=(9, 2, 5, 0, 1, 3, 4, 6, 7, 8), split=(0.5, 0.5), alpha=0.025
    )
    assert set(look_data(data, schedule.seeds_at(1)).trials["seed"]) == {9, 2, 5}
    assert len(look_data(data, schedule.seeds_at(2)).trials) == len(data.trials)


def test_the_state_read_back_says_the_look_and_why_it_ended() -> None:
    schedule = Schedule(
        looks=(2, 4, 8), seeds=tuple(range(8)), split=(0.1, 0.45, 0.45), alpha=0.025
    )
    attrs: dict[str, object] = {SCHEDULE_ATTR: schedule.to_json()}
    state = read_state(attrs)
    assert state is not None and state.current == 1 and state.ended is None
    assert read_state({}) is None
    attrs[LOOK_ATTR.format(1)] = {
        "look": 1,
        "alpha": 0.0025,
        "results": {"a": "REFUTED", "b": "INCONCLUSIVE"},
        "final": ["a"],
        "open_optimizers": ["x"],
    }
    state = read_state(attrs)
    assert state is not None and state.current == 2 and state.final() == {"a": ("REFUTED", 1)}
    assert "look 2 of 3" in state.describe() and "1 claim final, 1 open" in state.describe()
    attrs[LOOK_ATTR.format(2)] = {
        "look": 2,
        "alpha": 0.01125,
        "results": {"a": "INCONCLUSIVE", "b": "SUPPORTED"},
        "final": ["a", "b"],
        "open_optimizers": [],
    }
    state = read_state(attrs)
    assert state is not None and state.ended == "decided" and state.current == 2
    assert state.final() == {"a": ("REFUTED", 1), "b": ("SUPPORTED", 2)}  # final stays final
    assert "every claim decided" in state.describe()


def test_the_budget_leaves_out_a_look_that_would_not_fit() -> None:
    from hpsearch.looks import _over_budget
    from hpsearch.sequential import Budget, SequentialState

    schedule = Schedule(looks=(2, 4), seeds=tuple(range(4)), split=(0.1, 0.9), alpha=0.025)
    state = SequentialState(schedule, [{"minutes": 2.0, "ran": 10, "open_optimizers": ["a"]}])
    assert _over_budget(Budget(), state, total=30, added=20) is None
    assert _over_budget(Budget(max_cells=30), state, total=30, added=20) is None
    assert "over the budget of 29" in str(_over_budget(Budget(max_cells=29), state, 30, 20))
    # 2 minutes for 10 cells: 20 more would take about 4, 6 in all
    assert _over_budget(Budget(max_minutes=6.5), state, total=30, added=20) is None
    assert "about 6.0" in str(_over_budget(Budget(max_minutes=5), state, total=30, added=20))


def test_status_and_show_say_the_look_and_the_final_claims(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpsearch.analysis.synthetic import store_study
    from hpsearch.cli import main
    from hpsearch.storage import close_storages, open_storage, set_group_attrs

    url = f"sqlite:///{tmp_path / 'seq.db'}"
    data = synthetic_study(GRIDS, _truth, seeds=range(2), name="seq")
    store_study(url, data, claims={"insensitive": ["flat.lr", "sharp.lr"], "compare": []})
    schedule = Schedule(looks=(2, 4), seeds=tuple(range(4)), split=(0.1, 0.9), alpha=0.025)
    look = {
        "look": 1,
        "alpha": 0.0025,
        "results": {"sharp claim": "REFUTED", "flat claim": "INCONCLUSIVE"},
        "final": ["sharp claim"],
        "open_optimizers": ["flat"],
    }
    ids = [open_storage(url).get_study_id_from_name(f"seq.{o}") for o in GRIDS]
    set_group_attrs(url, ids, {SCHEDULE_ATTR: schedule.to_json(), LOOK_ATTR.format(1): look})
    for verb in ("status", "show"):
        monkeypatch.setattr("sys.argv", ["hpsearch", verb, "seq", "--storage", url])
        try:
            main()
        except SystemExit as done:
            assert not done.code
        finally:
            close_storages()
        text = capsys.readouterr().out
        assert "sequential: look 2 of 2 (4 seeds per cell): 1 claim final, 1 open" in text
        assert "final at look 1: REFUTED       sharp claim" in text


@dataclass
class _Ran:
    """What a run of cells returns, as `run_looks` reads it (no Ray here)."""

    seconds: float = 0.0
    recorder_errors: list[str] = field(default_factory=list)
    stopped: str | None = None


def _looks_run(
    tmp_path: Path, *overrides: str, score: Callable[[Any], float | None] | None = None
) -> tuple[str, Any, list[list[str]]]:
    """`run_looks` on the smoke spec with cells 'trained' by writing a made-up score: Adam at
    lr = 1 fails far below the rest (its claim is decided at once), the rest is flat noise
    (`score` may set a cell's instead)."""
    from hpsearch.looks import run_looks
    from hpsearch.recording import TrialRecord
    from hpsearch.runner import group_info
    from hpsearch.sequential import budget_of
    from hpsearch.storage import TrialWriter, set_group_attrs
    from hpsearch.storage import prepare_group as prepare

    spec = load_spec(SMOKE, ["claims.min_seeds=3", "claims.bootstrap=200", *overrides])
    schedule = schedule_of(spec)
    assert schedule is not None
    url = f"sqlite:///{tmp_path / 'looks.db'}"
    group = group_info(spec)
    ids = prepare(url, group)
    set_group_attrs(url, ids.values(), {SCHEDULE_ATTR: schedule.to_json()})
    writer = TrialWriter(url, ids, group.optimizers, spec.metric)
    batches: list[list[str]] = []

    def run_look(todo: Any, label: str) -> Any:
        batches.append([c.key for c in todo])
        for cell in todo:
            record = writer.start(cell.optimizer, cell.key, cell.params, {"seed": cell.seed})
            bad = cell.optimizer == "adam" and cell.params["lr"] == 1.0
            value = 0.1 if bad else 0.9 + 0.003 * ((cell.seed * 7 + len(cell.key)) % 5)
            if score is not None and score(cell) is not None:
                value = float(score(cell) or 0.0) + 0.003 * (cell.seed % 3)
            writer.finish(record, TrialRecord("COMPLETE", value, {"outcome": "completed"}))
        return _Ran()

    outcome = run_looks(
        spec,
        schedule,
        budget_of(spec),
        url=url,
        study_ids=ids,
        run_look=run_look,
        err=io.StringIO(),
    )
    return url, outcome, batches


def test_the_loop_adds_seeds_only_where_a_claim_is_open_and_stores_each_look(
    tmp_path: Path,
) -> None:
    # Three seeds at the first look: with two, a t bound has one degree of freedom, and at the
    # first look's α / 10 no claim is decided however far apart the cells are.
    url, outcome, batches = _looks_run(tmp_path, "run.seeds={looks = [3, 6]}")
    state = outcome.state
    assert state.decided == 2 or state.ended == "decided"
    first = state.looks[0]
    adam = "adam is insensitive to lr over [0.001, 1] within 1.00 point"
    assert first["results"][adam] == "REFUTED" and adam in first["final"]
    assert len(batches[0]) == 15  # every cell at the first look's seeds
    if len(batches) > 1:  # the next look: seeds 2 and 3 of the open optimizers only
        opened = set(first["open_optimizers"])
        assert {k.split(":")[0] for k in batches[1]} == opened
        assert {int(k.rsplit("=", 1)[1]) for k in batches[1]} == {3, 4, 5}
    stored = read_state(group_attrs(url, "smoke"))
    assert stored is not None and stored.looks == state.looks
    assert stored.final()[adam] == ("REFUTED", 1)
    assert len(outcome.planned) == sum(len(b) for b in batches)


def test_the_budget_leaves_the_next_look_out_and_says_so(tmp_path: Path) -> None:
    url, outcome, batches = _looks_run(tmp_path, "run.seeds={looks = [3, 6], max_cells = 18}")
    assert len(batches) == 1 and len(outcome.planned) == 15
    assert outcome.state.budget_stop and "over the budget of 18" in outcome.state.budget_stop
    stored = read_state(group_attrs(url, "smoke"))
    assert stored is not None and stored.budget_stop == outcome.state.budget_stop
    assert "stopped by the budget" in stored.describe()


def test_a_second_driver_takes_the_decision_the_first_one_stored(tmp_path: Path) -> None:
    """Two drivers finishing a look together decide it once: the first record stored wins."""
    from hpsearch.looks import _decide
    from hpsearch.sequential import SequentialState

    url, outcome, _ = _looks_run(tmp_path, "run.seeds={looks = [3, 6]}")
    spec = load_spec(SMOKE, ["claims.min_seeds=3", "run.seeds={looks = [3, 6]}"])
    first = outcome.state.looks[0]
    fresh = SequentialState(outcome.state.schedule, [])  # what the second driver knew
    # No data and no study to write to: with a record stored, neither is touched.
    again = _decide(spec, fresh, 1, None, url, {}, {"minutes": 9.0, "ran": 0})
    assert again == first  # not its own minutes, not its own decision


def test_the_next_look_runs_only_the_cells_an_open_claim_can_still_need(tmp_path: Path) -> None:
    """AdaBound at final_lr = 0.01 is far below final_lr = 0.1 at each lr: after look 1 no open
    claim can need those cells (neither the best cell nor the best at an lr), so look 2 adds
    seeds only to final_lr = 0.1, and the stored record names the cells left."""
    url, outcome, batches = _looks_run(
        tmp_path,
        "run.seeds={looks = [3, 6]}",
        "optimizers.adabound.final_lr=[0.01, 0.1]",
        "claims.compare=[]",
        score=lambda cell: 0.5 if cell.params.get("final_lr") == 0.01 else None,
    )
    first = outcome.state.looks[0]
    assert "adabound" in first["open_optimizers"], first["results"]
    assert first["left"] == {"adabound": ["final_lr=0.01 lr=0.001", "final_lr=0.01 lr=1"]}
    added = [k for k in batches[1] if k.startswith("adabound:")]
    assert added and all("final_lr=0.1," in k for k in added)
    assert {int(k.rsplit("=", 1)[1]) for k in added} == {3, 4, 5}
    assert "2 configurations left at fewer seeds" in outcome.state.describe()
    # The readers replay the same looks from the data: the same cells left, the same verdicts.
    from hpsearch.analysis.decide import claims_of
    from hpsearch.analysis.replay import decide_at
    from hpsearch.storage import load_study_data

    data = load_study_data(url, "smoke")
    again = decide_at(data, claims_of(data), outcome.state.schedule.look(1))
    assert {o: sorted(ids) for o, ids in again.left.items()} == first["left"]


def test_the_dashboard_gives_a_sequential_study_as_its_looks_decided_it() -> None:
    """With every optimizer and seed ticked the live page shows the looks' verdicts (the same as
    `show` and the report); a selection is decided again, and the page says so."""
    from dashboards.store import PageStore, selection_of

    schedule = Schedule(looks=(5, 10), seeds=tuple(range(10)), split=(0.1, 0.9), alpha=0.025)
    data = synthetic_study(GRIDS, _truth, seeds=range(10), noise=0.02, rng_seed=3)
    data.spec = {"claims": CLAIMS.model_dump(mode="json")}
    data.schedule = schedule.to_json()
    store = PageStore("sqlite://")
    optimizers, seeds = selection_of(data)
    whole = store.page("synthetic", data, optimizers, seeds)
    assert all("look" in v.settings for v in whole.analysis.verdicts)
    assert not any("sequential study with a selection" in n for n in whole.page.notes)
    some = store.page("synthetic", data, optimizers, seeds[:-1])
    assert not any("look" in v.settings for v in some.analysis.verdicts)
    assert "A sequential study with a selection" in some.page.notes[0]
