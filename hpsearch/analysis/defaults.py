"""Each optimizer's registered defaults: what "the other hyperparameters at their defaults" means
for the "lr = 1 fails" claims and the lr = 1 board.

A plugin's come from the record its run stored with the spec (`plugins` table: what it ran with,
readable in a fresh process that never imported the plugin), a built-in's from the registry. An
optimizer known to neither is left out; its claims then say the defaults are unknown.
"""

from __future__ import annotations

from typing import Any

from hpsearch.errors import HpsearchError
from hpsearch.studydata import StudyData


def optimizer_defaults(data: StudyData) -> dict[str, dict[str, Any]]:
    """optimizer -> hyperparameter -> registered default, for the optimizers of `data`."""
    from hpsearch.optim.registry import get_optimizer_info

    stored = (data.spec or {}).get("plugins") or {}
    out: dict[str, dict[str, Any]] = {}
    for name in data.hyperparameters:
        record = stored.get(f"optimizer.{name}")
        if isinstance(record, dict) and isinstance(record.get("hyperparameters"), list):
            out[name] = {
                str(hp["name"]): hp["default"]
                for hp in record["hyperparameters"]
                if isinstance(hp, dict) and "name" in hp and "default" in hp
            }
            continue
        try:
            out[name] = dict(get_optimizer_info(name).defaults())
        except HpsearchError:
            continue
    return out
