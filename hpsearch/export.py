"""CSV export of a study group: the raw trials and curves, and the analysis behind the verdicts.

`export_study(data, analysis, out_dir)` writes four files, each with stable, documented columns
(pandas `read_csv` reads them back unchanged; NaN is an empty cell):

`trials.csv` — one row per trial (diverged and failed trials included):
    study, trial_number, optimizer, cell, seed, outcome, value, raw_value, floor, diverged_epoch,
    divergence_reason, error, wall_seconds, device, config,
    <every searched hyperparameter, bare name, empty where an optimizer does not have it>,
    <every final metric, bare name>
  `outcome`: completed / diverged / error / running; `value` is the selection metric with diverged
  trials at `floor` and empty for error / running; `config` is the analysis's configuration id.
`curves.csv` — one row per trial x epoch x metric (long format):
    study, trial_number, optimizer, cell, seed, epoch, metric, value
`sensitivity.csv` — one row per optimizer x hyperparameter x grid value: SENSITIVITY_COLUMNS
  (profile = best seed mean with that value, other hyperparameters tuned; slice = the best
  configuration with only this value changed; `_low` / `_high` are 95 % paired seed-bootstrap
  bounds, Wilson for the divergence rate).
`verdicts.csv` — one row per claim: VERDICT_COLUMNS (numbers in metric units, ranges as
  low/high; `*_points` settings are in points, see `hpsearch.claims`).

Text cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'`, so a
spreadsheet shows them as text instead of running them as formulas. Every file is written to a
temporary name first and renamed into place only after all four were written: a failed export
leaves no half file.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import pandas as pd

from hpsearch.analysis.grid import config_ids
from hpsearch.analysis.records import SENSITIVITY_COLUMNS, StudyAnalysis, Verdict
from hpsearch.errors import UserInputError
from hpsearch.outputs import make_output_dir, temp_file
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData

FORMATS = ("csv",)
VERDICT_NUMBERS = (
    "max_regret",
    "best",
    "worst_profile",
    "max_divergence",
    "delta_W",
    "W_a",
    "W_b",
    "delta_E1",
    "E1_a",
    "E1_b",
    "delta_D",
    "D_a",
    "D_b",
)
VERDICT_COLUMNS = (
    "study",
    "kind",
    "optimizer_a",
    "optimizer_b",
    "hyperparameter",
    "result",
    "claim",
    "sentence",
    "reasons",
    "safe_range_low",
    "safe_range_high",
    "blocking",
    *(f"{n}{s}" for n in VERDICT_NUMBERS for s in ("", "_low", "_high")),
    "metric",
    "delta_points",
    "tolerance_points",
    "d_max",
    "S",
    "B",
    "rng_seed",
    "confidence",
    "range_low",
    "range_high",
    "decades",
    "grid_sizes",
    "n_diverged",
    "n_error",
    "low_power",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with `'`."""
    out = frame
    for column in frame.columns:
        series = frame[column]
        if not (series.dtype == object or pd.api.types.is_string_dtype(series)):
            continue
        # Check each distinct value once: a million curve rows hold a few thousand cell keys.
        bad = {
            v: "'" + v
            for v in series.dropna().unique()
            if isinstance(v, str) and v.startswith(_FORMULA_START)
        }
        if bad:
            if out is frame:
                out = frame.copy()
            out[column] = series.map(lambda v, bad=bad: bad.get(v, v) if isinstance(v, str) else v)
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` as CSV with NaN as an empty cell.

    Through pyarrow's C++ writer when it can (a dependency of Ray Tune, so always installed with
    hpsearch): a million curve rows take ~2 s instead of ~25 s with `DataFrame.to_csv`.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        table = pa.Table.from_pandas(frame, preserve_index=False)
    except Exception:  # no pyarrow, or a column it cannot type: the slow, general writer
        frame.to_csv(path, index=False, na_rep="", float_format="%.10g")
        return
    pa_csv.write_csv(table, path)


def trials_frame(data: StudyData) -> pd.DataFrame:
    """The trials table with the documented column order and a `config` id."""
    trials = data.trials
    hps: list[str] = []
    for names in data.hyperparameters.values():
        hps += [h for h in names if h not in hps]
    configs = pd.Series(index=trials.index, dtype=object)
    for optimizer, names in data.hyperparameters.items():
        rows = trials["optimizer"] == optimizer
        if rows.any():
            configs[rows] = config_ids(trials[rows], list(names))
    metrics = [m for m in data.metrics if m in trials.columns and m not in hps]
    frame = trials.reindex(columns=[*TRIAL_COLUMNS, *hps, *metrics]).copy()
    frame.insert(len(TRIAL_COLUMNS), "config", configs)
    return frame


def verdicts_frame(name: str, analysis: StudyAnalysis) -> pd.DataFrame:
    rows = [_verdict_row(name, v, analysis) for v in analysis.verdicts]
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def _verdict_row(name: str, v: Verdict, analysis: StudyAnalysis) -> dict[str, object]:
    s = v.settings
    rng = s.get("range") or s.get("range_a") or (math.nan, math.nan)
    row: dict[str, object] = {
        "study": name,
        "kind": v.kind,
        "optimizer_a": v.optimizers[0],
        "optimizer_b": v.optimizers[1] if len(v.optimizers) > 1 else None,
        "hyperparameter": v.hyperparameter,
        "result": v.result,
        "claim": v.claim,
        "sentence": v.sentence,
        "reasons": "; ".join(v.reasons),
        "safe_range_low": v.safe_range[0] if v.safe_range else math.nan,
        "safe_range_high": v.safe_range[1] if v.safe_range else math.nan,
        "blocking": "; ".join(v.blocking),
        "metric": analysis.settings.metric,
        "delta_points": s.get("delta_points"),
        "tolerance_points": s.get("tolerance_points"),
        "d_max": s.get("d_max"),
        "S": s.get("S"),
        "B": s.get("B"),
        "rng_seed": s.get("rng_seed"),
        "confidence": s.get("confidence"),
        "range_low": rng[0],
        "range_high": rng[1],
        "decades": s.get("decades", s.get("decades_a", math.nan)),
        "grid_sizes": "; ".join(f"{k}={n}" for k, n in s.get("grid_sizes", {}).items()),
        "n_diverged": s.get("n_diverged"),
        "n_error": s.get("n_error"),
        "low_power": s.get("low_power"),
    }
    for key in VERDICT_NUMBERS:
        est = v.numbers.get(key)
        row[key] = est.value if est else math.nan
        row[f"{key}_low"] = est.low if est else math.nan
        row[f"{key}_high"] = est.high if est else math.nan
    return row


def export_study(
    data: StudyData, analysis: StudyAnalysis, out_dir: str | Path, fmt: str = "csv"
) -> list[Path]:
    """Write trials.csv, curves.csv, sensitivity.csv and verdicts.csv into `out_dir`."""
    if fmt not in FORMATS:
        raise UserInputError(
            f"--format: `{fmt}` is not an export format; expected one of: {', '.join(FORMATS)}."
        )
    out = make_output_dir(out_dir)
    sensitivity = analysis.sensitivity.reindex(columns=list(SENSITIVITY_COLUMNS))
    tables = {
        "trials.csv": trials_frame(data),
        "curves.csv": data.curves.reindex(columns=list(CURVE_COLUMNS)),
        "sensitivity.csv": sensitivity,
        "verdicts.csv": verdicts_frame(data.name, analysis),
    }
    written: list[tuple[Path, Path]] = []
    try:
        for filename, frame in tables.items():
            tmp = temp_file(out / filename)  # mode per umask, not mkstemp's 0600
            written.append((tmp, out / filename))
            write_csv(neutralise(frame), tmp)
    except BaseException:
        for tmp, _ in written:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for tmp, final in written:
        os.replace(tmp, final)
    return [final for _, final in written]
