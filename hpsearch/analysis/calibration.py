"""Known-answer simulation of the verdicts: how often is a decisive verdict wrong?

Each `Case` builds synthetic studies (`synthetic.synthetic_study`) whose truth is known: the true
mean of every cell (including the expected cost of stochastic divergence at the floor) and hence
the true max regret, the true good-region width and the true divergence rates. `run_case` analyses
`reps` independent studies and counts, per claim, the decisive verdicts that contradict the truth
(the *wrong-decisive rate*), the decisive verdicts (the *power*), and the coverage of the 95 %
intervals the verdicts rest on. `benchmarks/calibration.py` prints every case;
`tests/test_calibration.py` holds the limits (SENSITIVITY.md §4.5).

Truth, per claim:
- V1 "insensitive within m": true when the true max regret is <= m and no value's divergence rate
  exceeds the least-diverging value's by more than d_max. REFUTED is wrong when it is true,
  SUPPORTED when it is false.
- V2 "A is less sensitive": SUPPORTED asserts ΔW > 0, REFUTED asserts ΔW < 0 (or A surely diverges
  more by d_max); with identical truths every decisive verdict is wrong.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from hpsearch.analysis.analyze import analyze
from hpsearch.analysis.bootstrap import exact_rate
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.analysis.stats import good_width
from hpsearch.analysis.synthetic import synthetic_study
from hpsearch.claims import ClaimsSpec
from hpsearch.studydata import StudyData

LRS = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
BASE = 0.60  # true accuracy of a good cell: far from 0 and 1, so seed noise is not clipped
FLOOR = 0.10
M = 0.01  # the tolerance m = 1 point, in accuracy units

Mean = Callable[[str, dict[str, float]], float]
DivProb = Callable[[str, dict[str, float]], float]


@dataclass(frozen=True)
class Case:
    """One known-answer setting: a grid, the true cell means, divergence probabilities, a claim."""

    name: str
    grids: Mapping[str, Mapping[str, Sequence[float]]]
    mean: Mean
    claim: tuple[str, str, str]  # ("V1", optimizer, hyperparameter) or ("V2", a, b)
    seeds: int = 5
    noise: float = M  # seed noise (standard deviation), accuracy units
    div_prob: DivProb | None = None
    floor: float = FLOOR
    missing: float = 0.0  # probability that a trial is missing (never ran)
    clear: bool = False  # a clear case: the power should be high once seeds suffice

    def truth_cells(self, optimizer: str) -> tuple[list[dict[str, float]], np.ndarray, np.ndarray]:
        """Configurations, true expected scores, true divergence probabilities."""
        space = self.grids[optimizer]
        hps = list(space)
        configs = [
            dict(zip(hps, (float(v) for v in values), strict=True))
            for values in itertools.product(*(space[h] for h in hps))
        ]
        p = np.array([self.div_prob(optimizer, c) if self.div_prob else 0.0 for c in configs])
        mu = np.array([self.mean(optimizer, c) for c in configs])
        return configs, (1 - p) * mu + p * self.floor, p


@dataclass
class CaseResult:
    case: Case
    reps: int
    truth: str  # what the claim really is: "true" / "false" / "identical" (V2)
    wrong: int = 0
    decisive: int = 0
    results: dict[str, int] = field(default_factory=dict)
    coverage: dict[str, list[float]] = field(default_factory=dict)

    def rate(self, count: int) -> tuple[float, float, float]:
        low, high = exact_rate(count, self.reps)
        return count / self.reps, low, high


def _max_regret_truth(case: Case, optimizer: str, hp: str) -> tuple[float, float]:
    """True max regret over the hyperparameter's values, and the true largest divergence excess."""
    configs, expected, p = case.truth_cells(optimizer)
    values = sorted({c[hp] for c in configs})
    best = expected.max()
    regrets, rates = [], []
    for v in values:
        at = np.array([c[hp] == v for c in configs])
        regrets.append(best - expected[at].max())
        rates.append(p[at].mean())
    return float(max(regrets)), float(max(rates) - min(rates))


def _width_truth(case: Case, optimizer: str, hp: str | None, delta: float) -> float:
    """True W(δ): on `hp` (log-interpolated profile) or jointly (share of cells)."""
    configs, expected, _ = case.truth_cells(optimizer)
    best = expected.max()
    if hp is None:
        return float(np.mean(expected >= best - delta - 1e-12))
    values = sorted({c[hp] for c in configs})
    profile = np.array(
        [max(e for c, e in zip(configs, expected, strict=True) if c[hp] == v) for v in values]
    )
    x = np.log10(values)
    return float(good_width(x, profile[:, None], np.array([best - delta]), x[0], x[-1])[0])


def run_case(case: Case, reps: int, bootstrap: int = 200, rng_seed: int = 0) -> CaseResult:
    """Analyse `reps` independent synthetic studies of `case` and score the verdicts."""
    kind = case.claim[0]
    d_max = 0.1
    if kind == "V1":
        _, opt, hp = case.claim
        regret, excess = _max_regret_truth(case, opt, hp)
        truth = "true" if (regret <= M + 1e-12 and excess <= d_max + 1e-12) else "false"
        claims = ClaimsSpec.model_validate(
            {"bootstrap": bootstrap, "insensitive": [f"{opt}.{hp}"], "compare": [], "d_max": d_max}
        )
    else:
        _, a, b = case.claim
        identical = list(case.grids[a]) == list(case.grids[b]) and np.allclose(
            case.truth_cells(a)[1], case.truth_cells(b)[1]
        )
        dw_user = _width_truth(case, a, "lr", M) - _width_truth(case, b, "lr", M)
        truth = "identical" if identical else ("ΔW > 0" if dw_user > 0 else "ΔW <= 0")
        claims = ClaimsSpec.model_validate(
            {"bootstrap": bootstrap, "insensitive": [], "compare": [(a, b)], "d_max": d_max}
        )
    result = CaseResult(case, reps, truth)
    cov: dict[str, list[float]] = {
        "cell mean": [],
        "m*": [],
        "max regret": [],
        "ΔW": [],
        "divergence": [],
    }
    for rep in range(reps):
        seed = rng_seed * 1_000_003 + rep
        data = _study(case, seed)
        analysis = analyze(data, claims)
        verdicts = [v for v in analysis.verdicts if v.kind == kind]
        if kind == "V2":
            verdicts = [v for v in verdicts if v.hyperparameter == "lr"]
        if not verdicts:
            continue
        v = verdicts[0]
        result.results[v.result] = result.results.get(v.result, 0) + 1
        decisive = v.result != "INCONCLUSIVE"
        result.decisive += decisive
        if kind == "V1":
            wrong = (v.result == "REFUTED") if truth == "true" else (v.result == "SUPPORTED")
        else:
            delta = analysis.settings.delta
            dw = _width_truth(case, a, "lr", delta) - _width_truth(case, b, "lr", delta)
            if truth == "identical" or abs(dw) < 1e-9:
                wrong = decisive
            else:
                wrong = (v.result == "REFUTED") if dw > 0 else (v.result == "SUPPORTED")
            est = v.numbers["delta_W"]
            cov["ΔW"].append(float(est.low - 1e-12 <= dw <= est.high + 1e-12))
        result.wrong += bool(wrong)
        _coverage(case, analysis, cov)
    result.coverage = cov
    return result


def _coverage(case: Case, analysis: StudyAnalysis, cov: dict[str, list[float]]) -> None:
    """Record, for this repetition, whether each interval covers its true value."""
    for optimizer in case.grids:
        configs, expected, p = case.truth_cells(optimizer)
        table = analysis.configs[analysis.configs["optimizer"] == optimizer]
        hps = list(case.grids[optimizer])
        truth_of = {
            " ".join(f"{h}={c[h]:.6g}" for h in hps): e
            for c, e in zip(configs, expected, strict=True)
        }
        for row in table.itertuples():
            if row.n_seeds >= 2 and str(row.config) in truth_of:
                t = truth_of[str(row.config)]
                cov["cell mean"].append(float(row.mean_low <= t <= row.mean_high))
        best = analysis.optimizers.set_index("optimizer").loc[optimizer]
        if np.isfinite(best["best_low"]) and np.isfinite(best["best_high"]):
            cov["m*"].append(float(best["best_low"] <= expected.max() <= best["best_high"]))
        for hp in hps:
            regret, _ = _max_regret_truth(case, optimizer, hp)
            s = analysis.summary.set_index(["optimizer", "hyperparameter"]).loc[(optimizer, hp)]
            if np.isfinite(s["max_regret_low"]) and np.isfinite(s["max_regret_high"]):
                cov["max regret"].append(
                    float(s["max_regret_low"] - 1e-12 <= regret <= s["max_regret_high"] + 1e-12)
                )
            rows = analysis.sensitivity.query("optimizer == @optimizer and hyperparameter == @hp")
            for r in rows.itertuples():
                at = np.array([c[hp] == r.value for c in configs])
                if r.n_trials:
                    cov["divergence"].append(
                        float(r.divergence_rate_low <= p[at].mean() <= r.divergence_rate_high)
                    )


def _study(case: Case, seed: int) -> StudyData:
    rng = np.random.default_rng(seed + 7919)
    div = case.div_prob
    draws: dict[tuple[str, tuple[float, ...], int], bool] = {}

    def diverges(optimizer: str, config: dict[str, float], s: int) -> bool:
        key = (optimizer, tuple(config.values()), s)
        if key not in draws:
            draws[key] = bool(div and rng.random() < div(optimizer, config))
        return draws[key]

    data = synthetic_study(
        case.grids,
        case.mean,
        seeds=range(case.seeds),
        noise=case.noise,
        diverges=diverges if div else None,
        floor=case.floor,
        rng_seed=seed,
    )
    if case.missing:
        keep = rng.random(len(data.trials)) >= case.missing
        data.trials = data.trials[keep].reset_index(drop=True)
    return data


# --- the cases -------------------------------------------------------------------------------


def flat(o: str, c: dict[str, float]) -> float:
    return BASE


def _dip(size: float) -> Mean:
    """Flat except lr = 1, which loses `size` (true max regret = size)."""

    def mean(o: str, c: dict[str, float]) -> float:
        return BASE - size * (c["lr"] == 1.0)

    return mean


def _steep(o: str, c: dict[str, float]) -> float:
    """Best at lr = 1e-3, 5 points lost per decade away from it."""
    return BASE - 0.05 * abs(math.log10(c["lr"]) + 3)


def _peaked(o: str, c: dict[str, float]) -> float:
    """Best at lr = 1e-2; one point lost at the neighbours, more further out."""
    return BASE - 0.01 * abs(math.log10(c["lr"]) + 2) ** 2


LR_GAMMA = {"lr": LRS, "gamma": (1e-3, 1e-2, 1e-1)}
ADABOUND = {"lr": LRS, "final_lr": (0.01, 0.1, 1.0), "gamma": (1e-3, 1e-2, 1e-1)}


def cases(noises: Sequence[float] = (0.5, 1.0, 1.5)) -> list[Case]:
    """Every case of the suite; `noises` are seed-noise levels in units of m."""
    out: list[Case] = []
    v1_lr = ("V1", "adabound", "lr")
    for s in (3, 5, 10):
        for k in noises:
            out.append(Case(f"flat, S={s}", {"adabound": LR_GAMMA}, flat, v1_lr, s, k * M))
    for k in noises:
        out += [
            Case("regret 0.5 m", {"adabound": LR_GAMMA}, _dip(0.5 * M), v1_lr, 5, k * M),
            Case("regret = m", {"adabound": LR_GAMMA}, _dip(M), v1_lr, 5, k * M),
            Case("steep", {"adabound": LR_GAMMA}, _steep, v1_lr, 5, k * M, clear=True),
        ]
    k = 1.0
    out += [
        Case(
            "gamma: divergence from lr, final_lr only",
            {"adabound": ADABOUND},
            flat,
            ("V1", "adabound", "gamma"),
            5,
            k * M,
            div_prob=lambda o, c: float(c["lr"] >= 0.1 and c["final_lr"] == 1.0),
        ),
        Case(
            "random divergence at d_max, floor 0.5 m below",
            {"adabound": LR_GAMMA},
            flat,
            v1_lr,
            5,
            k * M,
            div_prob=lambda o, c: 0.1 * (c["lr"] == 1.0),
            floor=BASE - 0.5 * M,
        ),
        Case(
            "random divergence 0.5 d_max (regret 2.5 m)",
            {"adabound": LR_GAMMA},
            flat,
            v1_lr,
            5,
            k * M,
            div_prob=lambda o, c: 0.05 * (c["lr"] == 1.0),
        ),
        Case(
            "missing seeds (S=6), regret 0.5 m",
            {"adabound": LR_GAMMA},
            _dip(0.5 * M),
            v1_lr,
            6,
            k * M,
            missing=0.05,
        ),
        Case(
            "missing seeds (S=6), steep",
            {"adabound": LR_GAMMA},
            _steep,
            v1_lr,
            6,
            k * M,
            missing=0.05,
        ),
        Case("S=1, steep", {"adabound": LR_GAMMA}, _steep, v1_lr, 1, k * M),
        Case("S=3 < min_seeds, steep", {"adabound": LR_GAMMA}, _steep, v1_lr, 3, k * M),
    ]
    v2 = ("V2", "adabound", "adam")
    for k in noises:
        out += [
            Case(
                "V2 identical, peaked",
                {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
                _peaked,
                v2,
                5,
                k * M,
            ),
            Case(
                "V2 identical, flat",
                {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
                flat,
                v2,
                5,
                k * M,
            ),
            Case(
                "V2 A flat, lower than B's peak",
                {"adabound": {"lr": LRS}, "adam": {"lr": LRS}},
                lambda o, c: BASE - 0.03 if o == "adabound" else _peaked(o, c),
                v2,
                5,
                k * M,
                clear=True,
            ),
        ]
    return out
