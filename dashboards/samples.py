"""Synthetic studies for the dashboard's tests and benchmark (no training, no storage).

`sample_study_data` makes a `StudyData` shaped exactly like `hpsearch.storage.load_study_data`'s:
AdaBound, Adam and SGD on log grids, where Adam and SGD diverge at large lr and AdaBound fails at
lr = 1 when gamma is small. `simple_analysis` turns it into a `StudyAnalysis` with naive intervals
(mean ± 2 SE, no bootstrap): fixed records to draw, not statistics to trust.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from hpsearch.analysis.records import AnalysisSettings, Estimate, StudyAnalysis, Verdict
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData

DEFAULT_GRIDS: dict[str, dict[str, list[float]]] = {
    "adabound": {
        "lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
        "gamma": [1e-3, 1e-1],
        "final_lr": [0.01, 0.1],
    },
    "adam": {"lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]},
    "sgd": {"lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0], "momentum": [0.0, 0.9]},
}
_PEAK = {"adabound": -2.5, "adam": -3.0, "sgd": -1.0}


def _config_id(hps: dict[str, float]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in hps.items())


def sample_study_data(
    name: str = "sample",
    grids: dict[str, dict[str, list[float]]] | None = None,
    seeds: int = 3,
    epochs: int = 5,
    rng_seed: int = 0,
) -> StudyData:
    """A synthetic study group with diverged trials: `prod(grid) x seeds` trials per optimizer."""
    grids = grids or DEFAULT_GRIDS
    rng = np.random.default_rng(rng_seed)
    rows = []
    number = 0
    for optimizer, grid in grids.items():
        names = list(grid)
        for values in itertools.product(*grid.values()):
            hps = dict(zip(names, values, strict=True))
            lr = hps.get("lr", 1e-3)
            distance = math.log10(lr) - _PEAK.get(optimizer, -2.0)
            for seed in range(seeds):
                acc = 0.97 - 0.025 * distance**2 + rng.normal(0, 0.006)
                unstable = (
                    (optimizer == "adam" and lr >= 0.1)
                    or (optimizer == "sgd" and lr >= 1.0 and hps.get("momentum", 0) > 0)
                    or (
                        optimizer == "adabound"
                        and lr >= 1.0
                        and hps.get("gamma", 1) < 0.01
                        and seed % 3 != 2
                    )
                )
                outcome = "diverged" if unstable else "completed"
                acc = 0.1 if unstable else float(np.clip(acc, 0.12, 0.99))
                rows.append(
                    {
                        "study": f"{name}.{optimizer}",
                        "trial_number": number,
                        "optimizer": optimizer,
                        "cell": f"{optimizer}|{_config_id(hps)}|seed={seed}",
                        "seed": seed,
                        "outcome": outcome,
                        "value": acc,
                        "raw_value": math.nan if unstable else acc,
                        "floor": 0.1,
                        "diverged_epoch": 1 + seed % max(epochs, 1) if unstable else None,
                        "divergence_reason": "non-finite loss" if unstable else None,
                        "error": None,
                        "wall_seconds": 0.5,
                        "device": "cpu",
                        **hps,
                        "test_accuracy": acc,
                        "train_loss": 2.3 * (1 - acc),
                    }
                )
                number += 1
    hp_cols = sorted({h for grid in grids.values() for h in grid})
    trials = pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *hp_cols, "test_accuracy", "train_loss"])
    trials["seed"] = trials["seed"].astype("Int64")
    trials["diverged_epoch"] = pd.to_numeric(trials["diverged_epoch"]).astype("Int64")
    # Curves: accuracy rising towards the final value; diverged trials lose the loss (inf).
    n = len(trials)
    epoch = np.tile(np.arange(1, epochs + 1), n)
    final = np.repeat(trials["value"].to_numpy(float), epochs)
    acc_curve = 0.1 + (final - 0.1) * (1 - np.exp(-epoch / 1.5)) / (1 - np.exp(-epochs / 1.5))
    loss_curve = 2.3 * (1 - acc_curve) + 0.05
    div_epoch = np.repeat(trials["diverged_epoch"].astype(float).fillna(np.inf).to_numpy(), epochs)
    loss_curve = np.where(epoch >= div_epoch, np.inf, loss_curve)
    base = {
        col: np.repeat(trials[col].to_numpy(object), epochs)
        for col in ("study", "trial_number", "optimizer", "cell", "seed")
    }
    curves = pd.concat(
        [
            pd.DataFrame({**base, "epoch": epoch, "metric": "test_accuracy", "value": acc_curve}),
            pd.DataFrame({**base, "epoch": epoch, "metric": "train_loss", "value": loss_curve}),
        ],
        ignore_index=True,
    )[list(CURVE_COLUMNS)]
    curves["trial_number"] = curves["trial_number"].astype(int)
    return StudyData(
        name=name,
        metric="test_accuracy",
        direction="maximize",
        trials=trials,
        curves=curves,
        hyperparameters={o: list(g) for o, g in grids.items()},
        metrics=["test_accuracy", "train_loss"],
    )


def _ci(mean: pd.Series, se: pd.Series) -> tuple[pd.Series, pd.Series]:
    return mean - 2 * se.fillna(0), mean + 2 * se.fillna(0)


def simple_analysis(data: StudyData, delta: float = 0.01) -> StudyAnalysis:
    """Fixed records from `data` with naive intervals: a stand-in for `analyze` in tests."""
    trials = data.trials[data.trials["outcome"].isin(["completed", "diverged"])].copy()
    trials["diverged"] = (trials["outcome"] == "diverged").astype(float)
    config_frames, sens, summary, opts, bok, edf, imp, heat, picks = ([] for _ in range(9))
    points = []
    for optimizer, hps in data.hyperparameters.items():
        t = trials[trials["optimizer"] == optimizer].copy()
        t["config"] = [_config_id(dict(zip(hps, v, strict=True))) for v in t[hps].to_numpy()]
        points.append(t.assign(rep_value=t["value"]))
        g = t.groupby("config", sort=False)
        c = g[hps].first()
        c["mean"] = g["value"].mean()
        c["median"] = g["value"].median()
        c["std"] = g["value"].std()
        c["n_seeds"] = g["value"].size()
        c["se"] = c["std"] / np.sqrt(c["n_seeds"])
        c["n_diverged"] = g["diverged"].sum().astype(int)
        c["n_error"] = 0
        c["divergence_rate"] = g["diverged"].mean()
        c["mean_low"], c["mean_high"] = _ci(c["mean"], c["se"])
        c["rep_mean"] = c["mean"]
        c = c.reset_index().assign(optimizer=optimizer)
        config_frames.append(c)
        best = c.loc[c["mean"].idxmax()]
        for hp in hps:
            for value, rows in c.groupby(hp):
                top = rows.loc[rows["mean"].idxmax()]
                match = np.ones(len(c), bool)
                for other in hps:
                    match &= np.isclose(c[other], value if other == hp else best[other])
                sl = c[match].iloc[0]
                n_trials = int(rows["n_seeds"].sum())
                n_div = int(rows["n_diverged"].sum())
                rate = n_div / n_trials
                sens.append(
                    {
                        "optimizer": optimizer,
                        "hyperparameter": hp,
                        "value": float(value),
                        "profile": top["mean"],
                        "profile_low": top["mean_low"],
                        "profile_high": top["mean_high"],
                        "profile_config": top["config"],
                        "slice": sl["mean"],
                        "slice_low": sl["mean_low"],
                        "slice_high": sl["mean_high"],
                        "slice_config": sl["config"],
                        "regret": best["mean"] - top["mean"],
                        "regret_low": max(0.0, best["mean"] - top["mean_high"]),
                        "regret_high": best["mean"] - top["mean_low"],
                        "divergence_rate": rate,
                        "divergence_rate_low": max(0.0, rate - 0.2),
                        "divergence_rate_high": min(1.0, rate + 0.2),
                        "n_trials": n_trials,
                        "n_diverged": n_div,
                        "in_range": True,
                        "good": bool(top["mean"] >= best["mean"] - delta),
                    }
                )
            values = sorted(c[hp].unique())
            summary.append(
                {
                    "optimizer": optimizer,
                    "hyperparameter": hp,
                    "log_scale": hp != "momentum",
                    "range_low": values[0],
                    "range_high": values[-1],
                    "n_values": len(values),
                }
            )
        width = float((c["mean"] >= best["mean"] - delta).mean())
        n_div = int(c["n_diverged"].sum())
        opts.append(
            {
                "optimizer": optimizer,
                "n_configs": len(c),
                "n_trials": int(c["n_seeds"].sum()),
                "n_diverged": n_div,
                "n_error": 0,
                "best_config": best["config"],
                "best": best["mean"],
                "best_low": best["mean_low"],
                "best_high": best["mean_high"],
                "best_se": best["se"],
                "width_joint": width,
                "width_joint_low": width * 0.8,
                "width_joint_high": min(1.0, width * 1.2),
                "divergence_rate": n_div / c["n_seeds"].sum(),
                "e1": c["mean"].mean(),
                "e1_low": c["mean"].mean() - 0.02,
                "e1_high": c["mean"].mean() + 0.02,
            }
        )
        means = np.sort(c["mean"].to_numpy())
        for k in range(1, len(means) + 1):
            # E[max of a k-subset] of the config means, exact (the Tang et al. weights).
            j = np.arange(1, len(means) + 1)
            w = np.array([math.comb(int(i) - 1, k - 1) for i in j]) / math.comb(len(means), k)
            e = float((w * means).sum())
            bok.append(
                {
                    "optimizer": optimizer,
                    "k": k,
                    "expected": e,
                    "expected_low": e - 0.01,
                    "expected_high": e + 0.01,
                }
            )
        for r in np.linspace(0, float(best["mean"] - means.min()) + 1e-9, 30):
            f = float((c["mean"] >= best["mean"] - r).mean())
            edf.append(
                {
                    "optimizer": optimizer,
                    "regret": r,
                    "fraction": f,
                    "fraction_low": max(0, f - 0.1),
                    "fraction_high": min(1, f + 0.1),
                }
            )
        for hp in hps:
            share = 0.8 if hp == "lr" else 0.2 / max(1, len(hps) - 1)
            imp.append(
                {
                    "optimizer": optimizer,
                    "hyperparameter": hp,
                    "importance": share,
                    "importance_low": share * 0.7,
                    "importance_high": min(1, share * 1.3),
                }
            )
        for x, y in itertools.combinations(hps, 2):
            for (xv, yv), rows in c.groupby([x, y]):
                top = rows.loc[rows["mean"].idxmax()]
                heat.append(
                    {
                        "optimizer": optimizer,
                        "x": x,
                        "y": y,
                        "x_value": float(xv),
                        "y_value": float(yv),
                        "profile": top["mean"],
                        "divergence_rate": rows["n_diverged"].sum() / rows["n_seeds"].sum(),
                        "n_trials": int(rows["n_seeds"].sum()),
                        "config": top["config"],
                    }
                )
        for role, config in (
            ("best", best["config"]),
            (
                "lr=1",
                c.loc[np.isclose(c["lr"], 1.0)].sort_values("mean")["config"].iloc[0]
                if "lr" in hps
                else None,
            ),
        ):
            if config is None:
                continue
            chosen = t[t["config"] == config]
            picks.append(
                {
                    "optimizer": optimizer,
                    "role": role,
                    "config": config,
                    "lr": float(chosen["lr"].iloc[0]) if "lr" in hps else math.nan,
                    "trial_numbers": [int(v) for v in chosen["trial_number"]],
                    "studies": [str(v) for v in chosen["study"]],
                }
            )
    seeds = tuple(int(s) for s in sorted(trials["seed"].dropna().unique()))
    settings = AnalysisSettings(
        metric=data.metric,
        report_metric=data.metric,
        direction=data.direction,
        points=0.01,
        delta_user=delta,
        delta=delta,
        tolerance=0.01,
        d_max=0.1,
        bootstrap=0,
        rng_seed=0,
        confidence=0.95,
        seeds=seeds,
        low_power=len(seeds) < 5,  # the default min_seeds
        grid_sizes={o["optimizer"]: o["n_configs"] for o in opts},
        ranges={},
        n_trials=len(data.trials),
        n_completed=int((data.trials["outcome"] == "completed").sum()),
        n_diverged=int((data.trials["outcome"] == "diverged").sum()),
        n_error=int((data.trials["outcome"] == "error").sum()),
        n_running=int((data.trials["outcome"] == "running").sum()),
        per_optimizer_counts={},
    )
    sens_df = pd.DataFrame(sens)
    verdicts = []
    if "adabound" in data.hyperparameters:
        rows = sens_df[(sens_df["optimizer"] == "adabound") & (sens_df["hyperparameter"] == "lr")]
        worst = float(rows["regret"].max())
        verdicts.append(
            Verdict(
                claim="adabound is insensitive to lr",
                kind="V1",
                optimizers=("adabound",),
                hyperparameter="lr",
                result="REFUTED" if worst > 0.01 else "SUPPORTED",
                numbers={
                    "max_regret": Estimate(worst, worst - 0.01, worst + 0.01),
                    "max_divergence": Estimate(float(rows["divergence_rate"].max())),
                },
                settings={"m": 0.01, "d_max": 0.1, "S": len(seeds)},
                sentence=f"adabound's worst lr is {100 * worst:.1f} pp below its best.",
            )
        )
    return StudyAnalysis(
        name=data.name,
        settings=settings,
        hyperparameters=dict(data.hyperparameters),
        configs=pd.concat(config_frames, ignore_index=True),
        sensitivity=sens_df,
        summary=pd.DataFrame(summary),
        optimizers=pd.DataFrame(opts),
        best_of_k=pd.DataFrame(bok),
        win_probability=pd.DataFrame(
            [
                {"optimizer": o, "k": k, "probability": 1 / len(opts)}
                for o in data.hyperparameters
                for k in (1, 2, 4, 8)
            ]
        ),
        edf=pd.DataFrame(edf),
        importance=pd.DataFrame(imp),
        heatmaps=pd.DataFrame(heat),
        picks=pd.DataFrame(picks),
        points=pd.concat(points, ignore_index=True),
        verdicts=verdicts,
        notes=["Synthetic sample records (naive intervals)."],
    )
