"""Synthetic study data with a constructed truth, for known-answer tests, benchmarks and demos.

`synthetic_study` builds a `StudyData` whose trials follow `truth(optimizer, config)` plus Gaussian
seed noise; `diverges(optimizer, config, seed)` marks trials that diverge (scored at the floor).
`lr_one_study` is the one scenario the dashboard's tests and benchmark draw: optimizers with an lr
optimum each, Adam diverging at large lr and AdaBound failing at lr = 1 with a small gamma.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData

Truth = Callable[[str, dict[str, float]], float]
Diverges = Callable[[str, dict[str, float], int], bool]


def synthetic_study(
    grids: Mapping[str, Mapping[str, Sequence[float]]],
    truth: Truth,
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    noise: float = 0.005,
    diverges: Diverges | None = None,
    floor: float = 0.1,
    name: str = "synthetic",
    epochs: int = 0,
    errors: int = 0,
    rng_seed: int = 0,
) -> StudyData:
    """A study of the full grid x seeds, metric `test_accuracy` (maximised, in [0, 1]).

    The first `errors` trials are turned into infrastructure failures (outcome `error`).
    """
    rng = np.random.default_rng(rng_seed)
    rows: list[dict[str, Any]] = []
    number = 0
    for optimizer, space in grids.items():
        hps = list(space)
        for values in itertools.product(*(space[h] for h in hps)):
            config = dict(zip(hps, (float(v) for v in values), strict=True))
            mean = truth(optimizer, config)
            for seed in seeds:
                diverged = bool(diverges and diverges(optimizer, config, seed))
                raw = float(np.clip(mean + rng.normal(0.0, noise), 0.0, 1.0))
                value = floor if diverged else raw
                key = ",".join(f"{h}={config[h]:g}" for h in hps)
                rows.append(
                    {
                        "study": f"{name}.{optimizer}",
                        "trial_number": number,
                        "optimizer": optimizer,
                        "cell": f"{optimizer}|{key}|seed={seed}",
                        "seed": int(seed),
                        "outcome": "diverged" if diverged else "completed",
                        "value": value,
                        "raw_value": raw if not diverged else float("nan"),
                        "floor": floor,
                        # Seeds diverge at different epochs, so their marks do not coincide.
                        "diverged_epoch": (
                            float(1 + int(seed) % max(epochs, 1)) if diverged else float("nan")
                        ),
                        "divergence_reason": "non-finite loss" if diverged else None,
                        "error": None,
                        "wall_seconds": 1.0,
                        "device": "cpu",
                        **config,
                        "test_accuracy": value,
                    }
                )
                number += 1
    # The first `errors` trials failed instead (infrastructure errors: their cells have no data).
    for row in rows[:errors]:
        row |= {
            "outcome": "error",
            "value": float("nan"),
            "raw_value": float("nan"),
            "diverged_epoch": float("nan"),
            "divergence_reason": None,
            "error": "RuntimeError: CUDA out of memory",
            "test_accuracy": float("nan"),
        }
    all_hps = sorted({h for space in grids.values() for h in space})
    trials = pd.DataFrame(rows, columns=[*TRIAL_COLUMNS, *all_hps, "test_accuracy"])
    curves = _curves(trials, epochs, rng) if epochs else pd.DataFrame(columns=CURVE_COLUMNS)
    return StudyData(
        name=name,
        metric="test_accuracy",
        direction="maximize",
        trials=trials,
        curves=curves,
        hyperparameters={o: list(space) for o, space in grids.items()},
        metrics=["test_accuracy"],
    )


def _curves(trials: pd.DataFrame, epochs: int, rng: np.random.Generator) -> pd.DataFrame:
    """Per-epoch test_accuracy rising to the final value, and a falling train_loss; a diverged
    trial's loss turns non-finite from the epoch it diverged, as a real run records it."""
    n = len(trials)
    t = np.arange(1, epochs + 1) / epochs
    final = trials["value"].fillna(0.1).to_numpy()
    acc = 0.1 + (final[:, None] - 0.1) * (1 - np.exp(-5 * t))[None, :]
    loss = 2.3 * np.exp(-3 * t)[None, :] * (1 + 0.01 * rng.standard_normal((n, epochs)))
    diverged_at = trials["diverged_epoch"].astype(float).fillna(np.inf).to_numpy()
    loss = np.where(np.arange(1, epochs + 1)[None, :] >= diverged_at[:, None], np.inf, loss)
    frames = []
    for metric, values in (("test_accuracy", acc), ("train_loss", loss)):
        frame = pd.DataFrame(
            {
                "study": np.repeat(trials["study"].to_numpy(), epochs),
                "trial_number": np.repeat(trials["trial_number"].to_numpy(), epochs),
                "optimizer": np.repeat(trials["optimizer"].to_numpy(), epochs),
                "cell": np.repeat(trials["cell"].to_numpy(), epochs),
                "seed": np.repeat(trials["seed"].to_numpy(), epochs),
                "epoch": np.tile(np.arange(1, epochs + 1), n),
                "metric": metric,
                "value": values.ravel(),
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]


# `lr_one_study`'s default grids: three optimizers on the same lr decades, AdaBound with a
# gamma and a final_lr, SGD with a momentum.
LR_ONE_GRIDS: dict[str, dict[str, list[float]]] = {
    "adabound": {
        "lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0],
        "gamma": [1e-3, 1e-1],
        "final_lr": [0.01, 0.1],
    },
    "adam": {"lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]},
    "sgd": {"lr": [1e-4, 1e-3, 1e-2, 1e-1, 1.0], "momentum": [0.0, 0.9]},
}
# log10 of each optimizer's best lr in that scenario (others: 1e-2).
_LR_PEAKS = {"adabound": -2.5, "adam": -3.0, "sgd": -1.0}


def lr_one_truth(optimizer: str, config: Mapping[str, float]) -> float:
    """Accuracy falling as a parabola in log10(lr) around each optimizer's best lr."""
    distance = math.log10(config.get("lr", 1e-3)) - _LR_PEAKS.get(optimizer, -2.0)
    return float(np.clip(0.97 - 0.025 * distance**2, 0.12, 0.99))


def lr_one_diverges(optimizer: str, config: Mapping[str, float], seed: int) -> bool:
    """Adam at lr >= 0.1, SGD with momentum at lr >= 1, and AdaBound at lr = 1 with gamma < 0.01
    in two seeds of every three (a tuned gamma rescues it)."""
    lr = config.get("lr", 1e-3)
    if optimizer == "adam":
        return lr >= 0.1
    if optimizer == "sgd":
        return lr >= 1.0 and config.get("momentum", 0.0) > 0
    if optimizer == "adabound":
        return lr >= 1.0 and config.get("gamma", 1.0) < 0.01 and int(seed) % 3 != 2
    return False


def lr_one_study(
    name: str = "sample",
    grids: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    seeds: int = 3,
    epochs: int = 5,
    rng_seed: int = 0,
) -> StudyData:
    """`synthetic_study` of the lr = 1 scenario (`lr_one_truth`, `lr_one_diverges`) over `grids`
    (default `LR_ONE_GRIDS`), seeds 0 to `seeds - 1`, with learning curves."""
    return synthetic_study(
        grids if grids is not None else LR_ONE_GRIDS,
        lr_one_truth,
        seeds=range(seeds),
        noise=0.006,
        diverges=lr_one_diverges,
        name=name,
        epochs=epochs,
        rng_seed=rng_seed,
    )


def store_study(
    url: str, data: StudyData, task: str = "digits-mlp", claims: dict[str, object] | None = None
) -> None:
    """Store `data` as a real study group through `hpsearch.storage` (tests, benchmarks).

    Each trial goes through the same schema a run's trials do (`hpsearch.recording`), so readers
    get them back with `load_study_data` exactly as from a real run; `claims` becomes the stored
    spec's `[claims]`.
    """
    from hpsearch.analysis.grid import default_log_scale
    from hpsearch.recording import record_from_row, run_versions
    from hpsearch.storage import GroupInfo, prepare_group, write_trials

    spaces: dict[str, dict[str, dict[str, object]]] = {}
    for optimizer, hps in data.hyperparameters.items():
        rows = data.trials[data.trials["optimizer"] == optimizer]
        spaces[optimizer] = {}
        for hp in hps:
            values = rows[hp].astype(float)
            spaces[optimizer][hp] = {
                "kind": "float",
                "low": float(values.min()),
                "high": float(values.max()),
                # what the in-memory study is analysed with, so both read the same
                "log": default_log_scale(values.to_numpy()),
            }
    grids = {
        o: {
            hp: sorted(
                float(v) for v in data.trials.loc[data.trials["optimizer"] == o, hp].unique()
            )
            for hp in hps
        }
        for o, hps in data.hyperparameters.items()
    }
    spec = {
        "name": data.name,
        "task": {"name": task},
        "run": {
            "seeds": sorted(int(s) for s in data.trials["seed"].unique()),
            "metric": data.metric,
        },
        "optimizers": grids,
        **({"claims": claims} if claims else {}),
    }
    group = GroupInfo(
        name=data.name,
        spec=spec,
        spec_hash=f"sample-{len(data.trials)}",
        metric=data.metric,
        direction=data.direction,
        task=task,
        num_classes=10,
        optimizers=spaces,
    )
    ids = prepare_group(url, group)
    versions = run_versions()
    epochs = _epochs_by_trial(data.curves)
    for optimizer, rows in data.trials.groupby("optimizer", sort=False):
        hps = data.hyperparameters[str(optimizer)]
        batch = []
        for row in rows.to_dict("records"):
            record = record_from_row(row, data.metric, data.metrics, versions)
            if record.state != "RUNNING":  # a cell still training has no curve stored yet
                record.epochs = epochs.get((row["study"], row["trial_number"]), {})
            batch.append((str(row["cell"]), {hp: float(row[hp]) for hp in hps}, record))
        write_trials(url, ids[str(optimizer)], spaces[str(optimizer)], batch)


def _epochs_by_trial(curves: pd.DataFrame) -> dict[tuple[str, int], dict[int, dict[str, float]]]:
    """(study, trial number) → epoch → metric → value, from the long curves table."""
    out: dict[tuple[str, int], dict[int, dict[str, float]]] = {}
    for study, number, epoch, metric, value in curves[
        ["study", "trial_number", "epoch", "metric", "value"]
    ].itertuples(index=False):
        out.setdefault((study, int(number)), {}).setdefault(int(epoch), {})[metric] = float(value)
    return out
