"""CSV export of a study group: the raw trials and curves, and the analysis behind the verdicts.

`export_study(data, analysis, out_dir)` writes four files, each with stable, documented columns
(pandas `read_csv` reads them back unchanged; NaN is an empty cell). Units are the ones every other
reader shows (`hpsearch.units`): an accuracy in % (0-100), a difference of metric values in points,
a rate or share as a 0-1 fraction; numbers are rounded to 6 decimals, so a regret of zero is 0,
not 3.469447e-18. `study` is the study group's name everywhere (the Optuna study of a trial is
`<study>.<optimizer>`).

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
  configuration with only this value changed; regret in points; `_low` / `_high` are 95 %
  bounds: selection-aware (cross-fitted) for profile and regret, Student t for the slice,
  exact Clopper-Pearson for the divergence rate).
`verdicts.csv` — one row per claim: `verdict_columns(verdicts)`: the fixed columns, then every
  number the verdicts carry with its `_low` / `_high` bounds (in display units, by
  `hpsearch.units.number_kind`), then the settings (`*_points` are in points).

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
from hpsearch.analysis.records import SENSITIVITY_COLUMNS as _ANALYSIS_SENSITIVITY
from hpsearch.analysis.records import AnalysisSettings, StudyAnalysis, Verdict
from hpsearch.errors import UserInputError
from hpsearch.metrics import is_accuracy
from hpsearch.outputs import make_output_dir, temp_file
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData
from hpsearch.units import NumberKind, csv_number, is_percent, number_kind, to_display

FORMATS = ("csv",)
SENSITIVITY_COLUMNS = _ANALYSIS_SENSITIVITY  # sensitivity.csv: the analysis table's columns
_LEVELS = ("profile", "slice")  # metric values: % for an accuracy
_POINTS = ("regret",)  # differences: points
VERDICT_HEAD = (
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
    "decided_by",
    "guarantee",
)
VERDICT_SETTINGS = (
    "metric",
    "delta_points",
    "tolerance_points",
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
    "look",
    "looks",
    "alpha",
)
VERDICT_COLUMNS = (*VERDICT_HEAD, *VERDICT_SETTINGS)  # plus the numbers: `verdict_columns`
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells, and headers, that a spreadsheet would run as a formula with `'` (a
    header from a storage written before hyperparameter names were checked may be one)."""
    headers = [
        "'" + c if isinstance(c, str) and c.startswith(_FORMULA_START) else c for c in frame.columns
    ]
    if headers != list(frame.columns):
        frame = frame.set_axis(headers, axis=1)
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
    frame["study"] = data.name
    return frame


def _accuracy_scale(settings: AnalysisSettings) -> float:
    """100 when accuracies are stored as 0-1 fractions (they are written in %), else 1."""
    return 100.0 if is_percent(settings) else 1.0


def _round(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for column in columns:
        frame[column] = [csv_number(v) for v in pd.to_numeric(frame[column], errors="coerce")]
    return frame


def trials_csv(data: StudyData, settings: AnalysisSettings) -> pd.DataFrame:
    """trials.csv: `trials_frame` with accuracies in %."""
    frame = trials_frame(data)
    scale = _accuracy_scale(settings)
    scaled = [m for m in data.metrics if is_accuracy(m) and m in frame]
    if is_accuracy(data.metric):
        scaled += ["value", "raw_value", "floor"]
    for column in scaled:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") * scale
    return _round(frame, scaled)


def curves_csv(data: StudyData, settings: AnalysisSettings) -> pd.DataFrame:
    """curves.csv: the long curves table, accuracy rows in %, `study` the group's name."""
    frame = data.curves.reindex(columns=list(CURVE_COLUMNS)).copy()
    frame["study"] = data.name
    names = frame["metric"].astype(str)
    accuracy = names.isin([m for m in names.unique() if is_accuracy(m)])
    values = pd.to_numeric(frame["value"], errors="coerce")
    frame["value"] = values.where(~accuracy, values * _accuracy_scale(settings)).round(6)
    return frame


def sensitivity_csv(analysis: StudyAnalysis) -> pd.DataFrame:
    """sensitivity.csv: levels in %, regrets in points, rates as fractions, rounded."""
    settings = analysis.settings
    frame = analysis.sensitivity.reindex(columns=list(SENSITIVITY_COLUMNS)).copy()
    numeric = []
    for stem in (*_LEVELS, *_POINTS, "divergence_rate"):
        kind: NumberKind = (
            "level" if stem in _LEVELS else "points" if stem in _POINTS else "fraction"
        )
        for column in (stem, f"{stem}_low", f"{stem}_high"):
            values = pd.to_numeric(frame[column], errors="coerce")
            frame[column] = [to_display(float(v), kind, settings) for v in values]
            numeric.append(column)
    return _round(frame, numeric)


def verdict_numbers(verdicts: list[Verdict]) -> list[str]:
    """Every number any verdict carries, in the order they first appear."""
    return list(dict.fromkeys(key for v in verdicts for key in v.numbers))


def verdict_columns(verdicts: list[Verdict]) -> list[str]:
    """verdicts.csv's columns: fixed, then each number with its bounds, then the settings."""
    numbers = [f"{n}{s}" for n in verdict_numbers(verdicts) for s in ("", "_low", "_high")]
    return [*VERDICT_HEAD, *numbers, *VERDICT_SETTINGS]


def verdicts_frame(name: str, analysis: StudyAnalysis) -> pd.DataFrame:
    rows = [_verdict_row(name, v, analysis) for v in analysis.verdicts]
    return pd.DataFrame(rows, columns=verdict_columns(analysis.verdicts))


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
        "decided_by": v.decided_by,
        "guarantee": v.guarantee,
        "metric": analysis.settings.metric,
        "delta_points": s.get("delta_points"),
        "tolerance_points": s.get("tolerance_points"),
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
        # a sequential study: the look the verdict is from, of how many, at which α per side
        "look": s.get("look"),
        "looks": s.get("looks"),
        "alpha": s.get("alpha"),
    }
    settings = analysis.settings
    for key in verdict_numbers(analysis.verdicts):
        est = v.numbers.get(key)
        kind = number_kind(key)
        for suffix, value in (
            ("", est.value if est else math.nan),
            ("_low", est.low if est else math.nan),
            ("_high", est.high if est else math.nan),
        ):
            row[f"{key}{suffix}"] = csv_number(to_display(float(value), kind, settings))
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
    tables = {
        "trials.csv": trials_csv(data, analysis.settings),
        "curves.csv": curves_csv(data, analysis.settings),
        "sensitivity.csv": sensitivity_csv(analysis),
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
