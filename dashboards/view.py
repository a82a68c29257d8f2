"""What a reader of the dashboard has chosen, as one typed value that a URL query holds.

A `View` is the optimizers and seeds ticked, the parallel coordinates' brushes and the trial
table's filter model. `View.parse` reads it from a URL query and `View.query` writes it back
(nothing for what is all selected or empty), so a link opens the same rows; the callbacks pass a
`View`, never loose dicts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode

PREFIX = "/study/"  # a study page's URL path: PREFIX + its name, quoted


def study_path(name: str) -> str:
    """The URL path of a study page; any name is safe in it."""
    return PREFIX + quote(name, safe="")


def study_from_path(pathname: str | None) -> str | None:
    if pathname and pathname.startswith(PREFIX) and len(pathname) > len(PREFIX):
        return unquote(pathname[len(PREFIX) :])
    return None


Brush = dict[str, dict[str, Any]]  # figure anchor -> axis index (as text) -> [low, high] spans


@dataclass(frozen=True)
class View:
    """One view of a study page. `optimizers` and `seeds` are None where the URL says nothing
    (every one of the study's); `brush` and `table_filter` are {} when none."""

    optimizers: tuple[str, ...] | None = None
    seeds: tuple[str, ...] | None = None  # as written in the URL; `pick_seeds` matches them
    brush: Brush = field(default_factory=dict)
    table_filter: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, search: str | None) -> View:
        """The view a URL query holds: `optimizers` and `seeds` (comma-separated), `brush` (the
        parallel coordinates' ranges) and `filter` (the trial table's filter model), both JSON;
        a part that does not parse is ignored, as if absent."""
        query = parse_qs((search or "").lstrip("?"))

        def listed(key: str) -> tuple[str, ...] | None:
            values = [v for v in query[key][0].split(",") if v] if query.get(key) else []
            return tuple(values) or None

        def mapping(key: str) -> dict[str, Any]:
            try:
                value = json.loads(query[key][0]) if query.get(key) else {}
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}

        return cls(listed("optimizers"), listed("seeds"), mapping("brush"), mapping("filter"))

    def query(self, every_optimizer: Sequence[str], every_seed: Sequence[int]) -> str:
        """The URL query of this view (with its `?`), "" when it is the whole study unfiltered:
        what `parse` reads back."""
        query: dict[str, str] = {}
        if self.optimizers is not None and set(self.optimizers) != set(every_optimizer):
            query["optimizers"] = ",".join(self.optimizers)
        if self.seeds is not None and set(self.seeds) != {str(s) for s in every_seed}:
            query["seeds"] = ",".join(sorted(self.seeds, key=_seed_order))
        brushed = {a: r for a, r in self.brush.items() if r}
        if brushed:
            query["brush"] = json.dumps(brushed, separators=(",", ":"), sort_keys=True)
        if self.table_filter:
            query["filter"] = json.dumps(self.table_filter, separators=(",", ":"), sort_keys=True)
        return "?" + urlencode(query) if query else ""

    @classmethod
    def of(
        cls,
        optimizers: Sequence[str] | None,
        seeds: Sequence[int] | None,
        brush: Mapping[str, Any] | None = None,
        table_filter: Mapping[str, Any] | None = None,
    ) -> View:
        """The view of the page's controls as Dash reports them."""
        return cls(
            None if optimizers is None else tuple(str(o) for o in optimizers),
            None if seeds is None else tuple(str(s) for s in seeds),
            dict(brush or {}),
            dict(table_filter or {}),
        )

    def pick_optimizers(self, every: Sequence[str]) -> list[str]:
        """The study's optimizers this view ticks (all when it names none of them)."""
        return [o for o in every if o in (self.optimizers or ())] or list(every)

    def pick_seeds(self, every: Sequence[int]) -> list[int]:
        """The study's seeds this view ticks (all when it names none of them)."""
        return [s for s in every if str(s) in (self.seeds or ())] or list(every)


def _seed_order(seed: str) -> tuple[int, str]:
    return (int(seed), "") if seed.lstrip("-").isdigit() else (0, seed)
