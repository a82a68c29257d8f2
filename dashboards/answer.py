"""The answer in plain words: one line per claim, written from its `Verdict` record only.

A line says whether the claim holds, the claim in full and the number that decided it:
"No — adabound is insensitive to final_lr over [0.01, 1] within 1.00 point does not hold:
largest regret 11.62 points [10.24, 12.94]." Nothing here knows how a kind of claim is decided
(the rules live in `hpsearch.analysis` and change): the words come from the record's `result`,
`claim`, `decided_by` and `numbers[decided_by]`, with a small table of phrases per (kind,
result) and a generic phrase for any kind the table does not know yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpsearch import units
from hpsearch.analysis.records import AnalysisSettings, Verdict

# How a result reads after the claim. A kind missing here (a new claim kind) reads with the
# generic phrase of its result.
RESULT_WORDS: dict[str, tuple[str, str]] = {  # result -> (the answer, what the claim does)
    "SUPPORTED": ("Yes", "holds"),
    "REFUTED": ("No", "does not hold"),
    "INCONCLUSIVE": ("Undecided", "cannot be decided with these seeds yet"),
}
KIND_WORDS: dict[tuple[str, str], str] = {  # (kind, result) -> what the claim does, in words
    ("V1", "REFUTED"): "does not hold: {hyperparameter} matters",
    ("V1", "SUPPORTED"): "holds: {hyperparameter} does not matter within the tolerance",
}


def number_label(name: str, optimizers: tuple[str, ...]) -> str:
    """A readable label for a verdict number (`W_a` -> `W(m) adabound`); unknown names with
    spaces for underscores."""
    fixed = {
        "max_regret": "largest regret over the grid",
        "best": "best seed mean m*",
        "worst_profile": "worst profile value",
        "max_divergence": "largest divergence rate",
        "delta_T": "ΔT (mean regret over the range, B − A)",
        "delta_W": "ΔW (good-region width, A − B)",
        "delta_E1": "ΔE(1) (random config, A − B)",
        "regret_at": "regret at the claimed value",
        "at_value": "seed mean at the claimed value",
    }
    if name in fixed:
        return fixed[name]
    stem, _, side = name.rpartition("_")
    if stem in ("W", "E1", "D", "T") and side in ("a", "b") and len(optimizers) == 2:
        what = {"W": "W(m)", "E1": "E(1)", "D": "divergence rate", "T": "mean regret"}[stem]
        return f"{what} {optimizers[0 if side == 'a' else 1]}"
    return name.replace("_", " ")  # a number this page has no words for yet, still readable


def short_label(name: str, optimizers: tuple[str, ...]) -> str:
    """`number_label` without its explanation in brackets, for the one-line board."""
    label = number_label(name, optimizers).split(" (")[0]
    return label.removesuffix(" over the grid")


@dataclass(frozen=True)
class AnswerLine:
    """One claim's answer: `answer` (Yes / No / Undecided), the claim in full, what it
    does, and the deciding number with its interval (`number`, labelled by `label`)."""

    result: str
    answer: str
    claim: str
    verb: str
    label: str
    number: str
    anchor: str  # the claim's row on the board
    look: str = ""  # a sequential study: "look 2 of 3, α 1.125 %, final" (or "open")

    @property
    def text(self) -> str:
        tail = f": {self.label} {self.number}" if self.number else ""
        where = f" ({self.look})" if self.look else ""
        return f"{self.answer} — {self.claim} {self.verb}{tail}{where}."


def answer_line(verdict: Verdict, settings: AnalysisSettings, anchor: str = "") -> AnswerLine:
    """The plain-words line of one verdict (see the module docstring)."""
    answer, verb = RESULT_WORDS.get(verdict.result, (verdict.result.capitalize(), "is decided"))
    phrase = KIND_WORDS.get((verdict.kind, verdict.result))
    if phrase and verdict.hyperparameter:
        verb = phrase.format(hyperparameter=verdict.hyperparameter)
    key = verdict.decided_by if verdict.decided_by in verdict.numbers else ""
    label = short_label(key, verdict.optimizers) if key else ""
    number = units.format_estimate(key, verdict.numbers[key], settings, short=True) if key else ""
    look = ""
    if "look" in verdict.settings:  # a sequential study's verdict: where it was decided
        state = "open" if verdict.result == "INCONCLUSIVE" else "final"
        look = (
            f"look {verdict.settings['look']} of {verdict.settings['looks']}, α "
            f"{units.format_probability(float(verdict.settings['alpha']))} per side, {state}"
        )
    return AnswerLine(
        result=verdict.result,
        answer=answer,
        claim=verdict.claim,
        verb=verb,
        label=label,
        number=number,
        anchor=anchor,
        look=look,
    )


def answer_lines(verdicts: list[Verdict], settings: AnalysisSettings) -> list[AnswerLine]:
    """One line per verdict, in the board's order (line i goes with the row `verdict-i`)."""
    return [answer_line(v, settings, f"verdict-{i}") for i, v in enumerate(verdicts)]


def answer_count(lines: list[AnswerLine]) -> str:
    """`2 of 10 claims decided: 0 hold, 2 do not; 8 need more seeds.`"""
    held = sum(line.result == "SUPPORTED" for line in lines)
    failed = sum(line.result == "REFUTED" for line in lines)
    open_ = len(lines) - held - failed
    return (
        f"{held + failed} of {len(lines)} claim{'' if len(lines) == 1 else 's'} decided: "
        f"{held} hold{'s' if held == 1 else ''}, {failed} do{'es' if failed == 1 else ''} not; "
        f"{open_} not decided yet."
    )
