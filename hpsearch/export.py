"""CSV export of a study group: the raw trials and curves, and the analysis behind the verdicts.

`export_study(data, analysis, out_dir)` writes six files, each with stable columns documented in
README's "CSV reports" (pandas `read_csv` reads them back unchanged; NaN is an empty cell; a test
checks README's column lists against what is written). A column name means one thing in every
file: `value` is a trial's selection metric (trials.csv only), a curve point is `metric_value`,
a grid value of a hyperparameter is `hyperparameter_value`, a statistic's number is `estimate`.

Units are the ones every other reader shows (`hpsearch.units.to_csv`): an accuracy, a rate or a
share in % (0-100), a difference of them (a regret, ΔT, ΔW) in points; a metric without a %
(a loss) in its own units. A verdict number's unit is in its row's `unit` column. An estimate
and its bounds are rounded alike: 2 decimals in % or points, 6 in a metric's own units; measured
values (trials, curves) keep 6 decimals, so a regret of zero is 0, not 3.469447e-18. `study` is
the study group's name everywhere (the Optuna study of a trial is `<study>.<optimizer>`); a
trial whose run raised is `failed`, as Optuna's FAIL state and every other reader call it.

- `trials.csv` — one row per trial (`trials_csv`).
- `curves.csv` — one row per trial x epoch x metric (`curves_csv`).
- `sensitivity.csv` — one row per optimizer x hyperparameter x grid value (`sensitivity_csv`).
- `verdicts.csv` — one row per claim: the claim, its result, the statistic that decided it with
  its bounds, the look (`VERDICT_COLUMNS`).
- `verdict_statistics.csv` — one row per claim x statistic the rule looked at
  (`STATISTIC_COLUMNS`), joined to verdicts.csv by `study, claim_id`.
- `verdict_details.csv` — one row per claim: the guarantee, the blocking cells and the settings it
  was decided with (`DETAIL_COLUMNS`).

Text cells that begin with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading `'`, so a
spreadsheet shows them as text instead of running them as formulas. Every file is written to a
temporary name first and renamed into place only after all of them were written: a failed export
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
from hpsearch.analysis.records import AnalysisSettings, Estimate, StudyAnalysis, Verdict
from hpsearch.errors import UserInputError
from hpsearch.metrics import is_accuracy
from hpsearch.outputs import make_output_dir, temp_file
from hpsearch.studydata import CURVE_COLUMNS, TRIAL_COLUMNS, StudyData, outcome_word
from hpsearch.units import NumberKind, csv_number, csv_unit, is_percent, number_kind, to_csv

FORMATS = ("csv",)
# sensitivity.csv: the analysis table's columns, its grid value named for what it is
SENSITIVITY_COLUMNS = tuple(
    "hyperparameter_value" if c == "value" else c for c in _ANALYSIS_SENSITIVITY
)
CURVES_COLUMNS = tuple("metric_value" if c == "value" else c for c in CURVE_COLUMNS)
_SENSITIVITY_KINDS: dict[str, NumberKind] = {
    "profile": "level",
    "slice": "level",
    "regret": "points",
    "divergence_rate": "fraction",
}
VERDICT_COLUMNS = (
    "study",
    "claim_id",
    "kind",
    "optimizer_a",
    "optimizer_b",
    "hyperparameter",
    "claim",
    "result",
    "decided_by",
    "estimate",
    "estimate_low",
    "estimate_high",
    "unit",
    "tolerance_points",
    "look",
    "looks",
    "S",
    "alpha",
    "reasons",
    "sentence",
)
STATISTIC_COLUMNS = (
    "study",
    "claim_id",
    "statistic",
    "estimate",
    "estimate_low",
    "estimate_high",
    "unit",
)
DETAIL_COLUMNS = (
    "study",
    "claim_id",
    "guarantee",
    "blocking",
    "safe_range_low",
    "safe_range_high",
    "selection_metric",
    "range_low",
    "range_high",
    "decades",
    "grid_sizes",
    "B",
    "rng_seed",
    "confidence",
    "low_power",
    "n_diverged_in_study",
    "n_failed_in_study",
)
FILES = {  # every file `export_study` writes, with its fixed columns
    "trials.csv": TRIAL_COLUMNS,  # then config, each hyperparameter, each final metric
    "curves.csv": CURVES_COLUMNS,
    "sensitivity.csv": SENSITIVITY_COLUMNS,
    "verdicts.csv": VERDICT_COLUMNS,
    "verdict_statistics.csv": STATISTIC_COLUMNS,
    "verdict_details.csv": DETAIL_COLUMNS,
}
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
    frame["outcome"] = frame["outcome"].map(outcome_word)
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
    """curves.csv: the long curves table, accuracy rows in %, `study` the group's name, the
    value of the row's metric as `metric_value`."""
    frame = data.curves.reindex(columns=list(CURVE_COLUMNS)).copy()
    frame["study"] = data.name
    names = frame["metric"].astype(str)
    accuracy = names.isin([m for m in names.unique() if is_accuracy(m)])
    values = pd.to_numeric(frame["value"], errors="coerce")
    frame["value"] = values.where(~accuracy, values * _accuracy_scale(settings)).round(6)
    return frame.set_axis(list(CURVES_COLUMNS), axis=1)


def sensitivity_csv(analysis: StudyAnalysis) -> pd.DataFrame:
    """sensitivity.csv: levels in %, regrets in points, divergence rates in %; each estimate
    and its bounds rounded alike (`to_csv`)."""
    settings = analysis.settings
    frame = analysis.sensitivity.reindex(columns=list(_ANALYSIS_SENSITIVITY)).copy()
    for stem, kind in _SENSITIVITY_KINDS.items():
        for column in (stem, f"{stem}_low", f"{stem}_high"):
            values = pd.to_numeric(frame[column], errors="coerce")
            frame[column] = [to_csv(float(v), kind, settings) for v in values]
    return frame.set_axis(list(SENSITIVITY_COLUMNS), axis=1)


def deciding_statistic(verdict: Verdict) -> str:
    """The statistic that decided a verdict (its headline), or "" when it has no numbers."""
    if verdict.decided_by in verdict.numbers:
        return verdict.decided_by
    return next(iter(verdict.numbers), "")


def _estimate_cells(
    name: str, estimate: Estimate | None, settings: AnalysisSettings
) -> dict[str, object]:
    """`estimate`, `estimate_low`, `estimate_high` and `unit` of one verdict number."""
    kind = number_kind(name)
    values = (math.nan,) * 3 if estimate is None else (estimate.value, estimate.low, estimate.high)
    return {
        "estimate": to_csv(values[0], kind, settings),
        "estimate_low": to_csv(values[1], kind, settings),
        "estimate_high": to_csv(values[2], kind, settings),
        "unit": csv_unit(kind, settings) if name else "",
    }


def verdicts_frame(name: str, analysis: StudyAnalysis) -> pd.DataFrame:
    """verdicts.csv: one row per claim."""
    settings = analysis.settings
    rows = []
    for claim_id, v in enumerate(analysis.verdicts, start=1):
        key = deciding_statistic(v)
        rows.append(
            {
                "study": name,
                "claim_id": claim_id,
                "kind": v.kind,
                "optimizer_a": v.optimizers[0],
                "optimizer_b": v.optimizers[1] if len(v.optimizers) > 1 else None,
                "hyperparameter": v.hyperparameter,
                "claim": v.claim,
                "result": v.result,
                "decided_by": key,
                **_estimate_cells(key, v.numbers.get(key), settings),
                "tolerance_points": csv_number(v.settings.get("tolerance_points")),
                # a sequential study: the look the verdict is from, of how many, its seeds per
                # cell, at which α per side (a 0-1 probability, as the spec's `alpha`)
                "look": v.settings.get("look"),
                "looks": v.settings.get("looks"),
                "S": v.settings.get("S"),
                "alpha": csv_number(v.settings.get("alpha")),
                "reasons": "; ".join(v.reasons),
                "sentence": v.sentence,
            }
        )
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def statistics_frame(name: str, analysis: StudyAnalysis) -> pd.DataFrame:
    """verdict_statistics.csv: every number each verdict carries, one row each."""
    rows = [
        {"study": name, "claim_id": claim_id, "statistic": key}
        | _estimate_cells(key, estimate, analysis.settings)
        for claim_id, v in enumerate(analysis.verdicts, start=1)
        for key, estimate in v.numbers.items()
    ]
    return pd.DataFrame(rows, columns=list(STATISTIC_COLUMNS))


def details_frame(name: str, analysis: StudyAnalysis) -> pd.DataFrame:
    """verdict_details.csv: what each verdict was decided with."""
    rows = []
    for claim_id, v in enumerate(analysis.verdicts, start=1):
        s = v.settings
        rng = s.get("range") or s.get("range_a") or (math.nan, math.nan)
        rows.append(
            {
                "study": name,
                "claim_id": claim_id,
                "guarantee": v.guarantee,
                "blocking": "; ".join(v.blocking),
                "safe_range_low": v.safe_range[0] if v.safe_range else math.nan,
                "safe_range_high": v.safe_range[1] if v.safe_range else math.nan,
                "selection_metric": analysis.settings.metric,
                "range_low": rng[0],
                "range_high": rng[1],
                "decades": s.get("decades", s.get("decades_a", math.nan)),
                "grid_sizes": "; ".join(f"{k}={n}" for k, n in s.get("grid_sizes", {}).items()),
                "B": s.get("B"),
                "rng_seed": s.get("rng_seed"),
                "confidence": csv_number(s.get("confidence")),
                "low_power": s.get("low_power"),
                "n_diverged_in_study": s.get("n_diverged"),
                "n_failed_in_study": s.get("n_error"),
            }
        )
    return pd.DataFrame(rows, columns=list(DETAIL_COLUMNS))


def export_study(
    data: StudyData, analysis: StudyAnalysis, out_dir: str | Path, fmt: str = "csv"
) -> list[Path]:
    """Write the six CSV files of `FILES` into `out_dir`."""
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
        "verdict_statistics.csv": statistics_frame(data.name, analysis),
        "verdict_details.csv": details_frame(data.name, analysis),
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
