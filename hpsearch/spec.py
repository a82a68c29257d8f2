"""Study specs: TOML files → validated `StudySpec` → resolved `StudySpec` → cells.

Three steps, none of which changes the process: `read_spec` reads a file and its `--set`
overrides into a `StudySpec` (TOML and the schema only); `resolve_spec` returns a new spec checked
against the task and optimizer catalogs, with its plugins imported and their entries held by the
spec (nothing is registered globally: `StudySpec.registered` does that for a run's driver, for the
length of the run) and its metric filled in; `expand_cells` lists its cells. `load_spec` is the
first two.

A spec names a task, the seeds, the selection metric and, per optimizer, its search space: a
list is grid values, a scalar is fixed, a table `{low, high, log}` is a distribution for sampled
studies. Every problem is a `UserInputError` naming the file, the field path, the value and what
was expected, raised before anything touches storage.

A **cell** is (optimizer, hyperparameter config, seed); its `key` is canonical (sorted names,
shortest float repr) so the same cell always has the same key in storage, across runs and
drivers.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import math
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    model_validator,
)

from hpsearch.claims import ClaimsSpec
from hpsearch.errors import HpsearchError, UnknownNameError, UserInputError
from hpsearch.names import (
    STUDY_PATTERN,
    has_control,
    identifier_problem,
    optimizer_name_problem,
    printable,
)

if TYPE_CHECKING:  # the registries import torch: only when a spec is checked
    from hpsearch.optim.registry import OptimizerInfo
    from hpsearch.tasks.registry import TaskInfo

Scalar = bool | int | float

SEED_LIMIT = 2**32  # torch, numpy and Python RNGs reduce seeds modulo 2**32: 0 and 2**32 are twins
DEFAULT_MAX_CELLS = 100_000
MAX_CELLS_ENV = "HPSEARCH_MAX_CELLS"


class Distribution(BaseModel):
    """A range to sample from (only for `sampler` other than `grid`)."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if not self.low <= self.high:
            raise ValueError(f"`low` ({self.low:g}) must not exceed `high` ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scale range needs `low` > 0, got {self.low:g}")
        return self


class TaskSpec(BaseModel):
    """`[task]`: a task registry key plus that task's options (checked against the registry)."""

    model_config = ConfigDict(extra="allow")
    name: str
    epochs: int | None = Field(default=None, gt=0, strict=True)  # TOML `true` is not 1 epoch

    def options(self) -> dict[str, Any]:
        """The task's options other than `name` and `epochs`."""
        return dict(self.model_extra or {})


Seed = Annotated[int, Field(strict=True)]  # strict: TOML `true` is not seed 1
_SEED_LIST, _SEED_TABLE = "seed list", "sequential table"  # the forms of `run.seeds`


class SequentialSeeds(BaseModel):
    """`[run] seeds = { first = 5, max = 40 }` or `{ looks = [5, 10, 20, 40] }`: seeds are added
    look by look, only where a claim is still open (`hpsearch.sequential`).

    `first` / `max` double the seeds per cell from `first` up to `max` (5, 10, 20, 40); `looks`
    names them. `order` is the order seeds are drawn in (default 0, 1, 2, ...); `split` the share
    of α each look spends (default 0.1 at the first look, the rest in equal shares); `allocate`
    whether the next look's seeds go only to the cells an open claim can still need ("cells",
    the default) or to every cell of an optimizer with an open claim ("optimizers"). The budget,
    `max_cells` (cells in the study) and `max_minutes` (the looks' running time), only ends the
    study earlier: a look is started only when it fits."""

    model_config = ConfigDict(extra="forbid")
    first: int | None = Field(default=None, gt=0, strict=True)
    max: int | None = Field(default=None, gt=0, strict=True)
    looks: list[Annotated[int, Field(gt=0, strict=True)]] | None = Field(default=None, min_length=1)
    order: list[Seed] | None = Field(default=None, min_length=1)
    split: list[Annotated[float, Field(gt=0, le=1)]] | None = None
    allocate: Literal["cells", "optimizers"] = "cells"
    max_cells: int | None = Field(default=None, gt=0, strict=True)
    max_minutes: float | None = Field(default=None, gt=0)

    def look_sizes(self) -> list[int]:
        """Seeds per cell at each look: `looks`, or doubling from `first` and ending at `max`."""
        if self.looks is not None:
            return list(self.looks)
        first = self.first or 5
        last = max(self.max or first, first)
        sizes = [first]
        while sizes[-1] < last:
            sizes.append(min(2 * sizes[-1], last))
        return sizes

    def seed_order(self) -> list[int]:
        """Every seed the last look may use, in the order they are drawn."""
        if self.order is not None:
            return list(self.order)
        return list(range(self.look_sizes()[-1]))


class RunSpec(BaseModel):
    """`[run]`: seeds (paired design), the selection metric and how configs are chosen."""

    model_config = ConfigDict(extra="forbid")
    # A list: every cell runs each seed. A table: sequential looks (`SequentialSeeds`). Range
    # and repeats are checked in `load_spec`.
    seeds: Annotated[
        Annotated[Annotated[list[Seed], Field(min_length=1)], Tag(_SEED_LIST)]
        | Annotated[SequentialSeeds, Tag(_SEED_TABLE)],
        Discriminator(
            lambda v: _SEED_TABLE if isinstance(v, dict | SequentialSeeds) else _SEED_LIST
        ),
    ] = Field(default_factory=lambda: [0])
    metric: str | None = None  # default: the task's default metric
    sampler: Literal["grid", "sobol", "random"] = "grid"
    samples: int | None = Field(default=None, gt=0)

    @property
    def sequential(self) -> SequentialSeeds | None:
        return self.seeds if isinstance(self.seeds, SequentialSeeds) else None

    def seed_list(self) -> list[int]:
        """The seeds a cell may run: the list, or every seed of a sequential study's last look."""
        if isinstance(self.seeds, SequentialSeeds):
            return self.seeds.seed_order()[: self.seeds.look_sizes()[-1]]
        return list(self.seeds)


SpaceValue = Scalar | list[Scalar] | Distribution


class StudySpec(BaseModel):
    """A whole study file, validated."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""  # checked by `check_study_name`, whatever its source
    description: str = ""
    task: TaskSpec
    run: RunSpec = Field(default_factory=RunSpec)
    optimizers: dict[str, dict[str, SpaceValue]] = Field(min_length=1)
    claims: ClaimsSpec = Field(default_factory=lambda: ClaimsSpec.model_validate({}))
    # Plugins (`hpsearch.plugins`) `resolve_spec` resolved: the optimizers' import paths,
    # versions and hyperparameter declarations, and the task's factory; with their registry
    # entries, which no global registry holds.
    _plugins: list[Any] = PrivateAttr(default_factory=list)
    _optimizer_entries: dict[str, Any] = PrivateAttr(default_factory=dict)
    _task_entry: Any = PrivateAttr(default=None)  # (TaskPlugin, TaskDefinition) or None
    # What `read_spec` knew: the file, whether `name` was set in it, and each optimizer's
    # `class` and `hyperparameters` tables (NAME -> (import path or None, declarations)).
    _source: str = PrivateAttr(default="")
    _named: bool = PrivateAttr(default=True)
    _declared: dict[str, tuple[str | None, dict[str, Any]]] = PrivateAttr(default_factory=dict)

    def plugin_payload(self) -> list[dict[str, Any]]:
        """What Ray workers need to import and register this spec's plugins."""
        return [plugin.payload() for plugin in self._plugins]

    def optimizer_info(self, name: str) -> OptimizerInfo:
        """The catalog entry of optimizer `name`: the spec's own for a plugin, else the
        registry's."""
        entry = self._optimizer_entries.get(name)
        if entry is not None:
            return entry  # type: ignore[no-any-return]
        from hpsearch.optim import get_optimizer_info

        return get_optimizer_info(name)

    def task_info(self) -> TaskInfo:
        """The catalog entry of the task: the spec's own for a plugin, else the registry's."""
        if self._task_entry is not None:
            return self._task_entry[1].info  # type: ignore[no-any-return]
        from hpsearch.tasks import get_task_info

        return get_task_info(self.task.name)

    @contextlib.contextmanager
    def registered(self) -> Iterator[None]:
        """This spec's plugins in the global registries inside the block, as they were after
        it: a run's driver builds the task and sizes populations by registry name."""
        from hpsearch import plugins

        optimizers = [
            (plugin, self._optimizer_entries[plugin.name])
            for plugin in self._plugins
            if isinstance(plugin, plugins.OptimizerPlugin)
        ]
        with plugins.registered(optimizers, self._task_entry):
            yield

    @property
    def metric(self) -> str:
        """The selection metric (filled in by `resolve_spec`, so never None afterwards)."""
        if self.run.metric is None:
            return self.task_info().default_metric
        return self.run.metric

    def resolved(self) -> dict[str, Any]:
        """The spec as JSON-ready data, defaults filled in: what storage keeps with the study.
        A spec with plugins gets a `plugins` table (import path, version and, for optimizers,
        the hyperparameter declarations), so they are part of the spec hash."""
        resolved = self.model_dump(mode="json")
        if self._plugins:
            resolved["plugins"] = {
                f"{p.payload()['kind']}.{p.name}": {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in p.payload().items()
                    if k not in ("kind", "name", "source")
                }
                for p in self._plugins
            }
        return resolved

    def spec_hash(self) -> str:
        """A short hash of what decides the cells' results (task, run, optimizers); a change
        under the same name is refused. `description`, `[claims]` (analysis settings) and
        `task.data_dir` (where the data lies, not what it is) are left out, so changing them
        needs no `--force`."""
        resolved = self.resolved()
        decisive = {k: v for k, v in resolved.items() if k not in ("description", "claims")}
        if isinstance(decisive["run"]["seeds"], dict):  # a budget changes no cell's result
            budget = ("max_cells", "max_minutes")
            seeds = {k: v for k, v in decisive["run"]["seeds"].items() if k not in budget}
            decisive["run"] = {**decisive["run"], "seeds": seeds}
        decisive["task"] = {k: v for k, v in decisive["task"].items() if k != "data_dir"}
        text = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def study_name(self, optimizer: str) -> str:
        """The Optuna study holding one optimizer's cells, e.g. `adabound-digits.adam`."""
        return f"{self.name}.{optimizer}"


@dataclass(frozen=True)
class Cell:
    """One unit of work: an optimizer, its searched and fixed hyperparameters, a seed."""

    optimizer: str
    params: Mapping[str, Scalar]  # searched: become Optuna params
    fixed: Mapping[str, Scalar]  # scalars in the spec: stored as a user attribute
    seed: int
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(
                self, "key", cell_key(self.optimizer, {**self.fixed, **self.params}, self.seed)
            )

    def hyperparameters(self) -> dict[str, Scalar]:
        """Every hyperparameter the spec sets for this cell (defaults fill the rest at train)."""
        return {**self.fixed, **self.params}


def canonical_value(value: Scalar) -> str:
    """One spelling per value: `true`, `3`, or Python's shortest float repr (`0.001`, `1e-05`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return repr(float(value))


def cell_key(optimizer: str, hyperparameters: Mapping[str, Scalar], seed: int) -> str:
    """`adam:beta1=0.9,lr=0.001:seed=0` — the identity of a cell in storage."""
    body = ",".join(f"{k}={canonical_value(hyperparameters[k])}" for k in sorted(hyperparameters))
    return f"{optimizer}:{body}:seed={seed}"


# --- loading ----------------------------------------------------------------------------------


def _format_location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _validation_message(path: Path, error: ValidationError, data: Mapping[str, Any]) -> str:
    """One line per problem. A search-space value that fits none of its forms gets one line
    saying what the forms are, not one line per form pydantic tried; a range (a table) gets the
    range's own complaints."""
    lines = [f"{path}: the study spec is not valid:"]
    collapsed: set[tuple[int | str, ...]] = set()
    for item in error.errors():
        loc = [p for p in item["loc"] if not _is_union_tag(p)]
        if len(loc) >= 3 and loc[0] == "optimizers":
            where = tuple(loc[:3])
            value = _lookup(data, where)
            if not isinstance(value, dict):  # one line, whatever forms pydantic tried
                if where not in collapsed:
                    collapsed.add(where)
                    lines.append(
                        f"  • {_format_location(where)}: expected {_SPACE_FORMS}; got {value!r}"
                    )
                continue
            if not any("Distribution" in str(part) for part in item["loc"]):
                continue  # a table is meant as a range: the scalar and list forms' errors are noise
        got = f" (got {item['input']!r})" if "input" in item and item["type"] != "missing" else ""
        lines.append(f"  • {_format_location(loc)}: {item['msg']}{got}")
    return "\n".join(lines)


_SPACE_FORMS = (
    "a number or true/false (fixed), a list of them (a grid), "
    "or a range table `{ low = ..., high = ..., log = true }`"
)


def _lookup(data: Any, where: Sequence[int | str]) -> Any:
    for part in where:
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _is_union_tag(part: int | str) -> bool:
    return isinstance(part, str) and (part in _UNION_TAGS or part.startswith("function-after["))


# pydantic names union members in error locations (`list[...]`, `Distribution`); users don't.
_UNION_TAGS = {
    _SEED_LIST,
    _SEED_TABLE,
    "bool",
    "int",
    "float",
    "list[union[bool,int,float]]",
    "Distribution",
    "list[bool]",
    "list[int]",
    "list[float]",
}


def parse_override(text: str) -> tuple[list[str], Any]:
    """`run.seeds=[0,1]` → (["run", "seeds"], [0, 1]); the value is read as TOML."""
    if "=" not in text:
        raise UserInputError(f"`--set {text}`: expected `key=value`, e.g. `task.epochs=3`.")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise UserInputError(f"`--set {text}`: `{key}` is not a dotted key like `run.seeds`.")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word, e.g. `run.metric=test_loss`
    return parts, value


def _apply_override(data: dict[str, Any], parts: list[str], value: Any) -> None:
    target = data
    for part in parts[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise UserInputError(
                f"`--set`: `{'.'.join(parts)}` goes through a value that is not a table."
            )
        target = nxt
    target[parts[-1]] = value


def read_spec(path: str | Path, overrides: Sequence[str] = ()) -> StudySpec:
    """Read a study file and its overrides (`--set key=value`) into a `StudySpec`: TOML and the
    schema only, importing nothing and registering nothing; all errors are user errors."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such study file.") from None
    except tomllib.TOMLDecodeError as error:
        raise UserInputError(f"{path}: not valid TOML: {error}.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path}: cannot read the study file: {error}.") from None
    for text in overrides:
        parts, value = parse_override(text)
        _apply_override(data, parts, value)
    if isinstance(data.get("task"), str):  # `task = "package.module:factory"`
        data["task"] = {"name": data["task"]}
    declared = _take_plugin_declarations(path, data)
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as error:
        raise UserInputError(_validation_message(path, error, data)) from None
    spec._source = str(path)
    spec._declared = declared
    spec._named = bool(spec.name)
    if not spec.name:
        spec.name = path.stem
    return spec


def resolve_spec(spec: StudySpec, *, max_cells: int | None = None) -> StudySpec:
    """A new spec, `spec` checked against the task and optimizer catalogs: names (`hpsearch.names`),
    plugins imported and their entries kept by the new spec (no global registry changes), task
    options, metric (filled in), seeds, search spaces and size. `max_cells` (default
    `$HPSEARCH_MAX_CELLS`, else `DEFAULT_MAX_CELLS`) bounds the study's size, counted without
    expanding a single cell."""
    resolved = spec.model_copy(deep=True)
    resolved._plugins, resolved._optimizer_entries, resolved._task_entry = [], {}, None
    source = "`name`" if spec._named else "the file name (the spec sets no `name`)"
    try:
        _check_names(resolved, source)
        _resolve_plugins(resolved)
        _check_against_catalog(resolved)
        check_study_name(resolved.name, resolved.optimizers, source=source)
        check_cell_count(resolved, max_cells)
    except HpsearchError as error:
        raise UserInputError(f"{spec._source or 'the study spec'}: {error}") from None
    resolved.run.metric = resolved.metric  # the task's default unless the spec names one
    return resolved


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), *, max_cells: int | None = None
) -> StudySpec:
    """`read_spec`, then `resolve_spec`: a checked, resolved spec; all errors are user errors."""
    return resolve_spec(read_spec(path, overrides), max_cells=max_cells)


def _check_names(spec: StudySpec, source: str) -> None:
    """The names and words a spec carries to storage and terminals, before any is imported."""
    problems = []
    for name in spec.optimizers:
        problem = optimizer_name_problem(name)
        if problem is not None:
            problems.append(f"optimizers: {problem}")
        for hp_name in spec.optimizers[name]:
            problem = identifier_problem("hyperparameter", hp_name, columns=True)
            if problem is not None and optimizer_name_problem(name) is None:
                problems.append(f"optimizers.{name}: {problem}")
    for key in spec.task.options():
        problem = identifier_problem("task option", key)
        if problem is not None:
            problems.append(f"task: {problem}")
    if has_control(spec.task.name):
        problems.append(f"task.name: {spec.task.name!r} holds a control character.")
    if has_control(spec.description):
        problems.append(
            f"description: {spec.description!r} holds a control character (a newline, a tab, "
            "an escape); write it on one line."
        )
    if has_control(spec.name):
        check_study_name(spec.name, (), source=source)
    if len(problems) == 1:
        raise UserInputError(problems[0])
    if problems:
        raise UserInputError(
            "the study spec is not valid:\n" + "\n".join(f"  • {line}" for line in problems)
        )


def _take_plugin_declarations(
    path: Path, data: dict[str, Any]
) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """Take `class` and `hyperparameters` out of each `[optimizers.NAME]` table (what is left is
    the search space): NAME -> (import path or None, declarations)."""
    declared: dict[str, tuple[str | None, dict[str, Any]]] = {}
    optimizers = data.get("optimizers")
    if not isinstance(optimizers, dict):
        return declared
    for name, table in optimizers.items():
        if not isinstance(table, dict):
            continue
        where = f"{path}: optimizers.{name}"
        cls = table.pop("class", None)
        if cls is not None and (not isinstance(cls, str) or ":" not in cls):
            raise UserInputError(
                f'{where}.class: expected an import path like "package.module:Class", got {cls!r}.'
            )
        hyperparameters = table.pop("hyperparameters", {})
        if not isinstance(hyperparameters, dict):
            raise UserInputError(
                f"{where}.hyperparameters: expected a table of declarations like "
                f"`lr = {{ default = 0.1, low = 0, log = true }}`, got {hyperparameters!r}."
            )
        declared[name] = (cls, hyperparameters)
    return declared


def check_study_name(name: str, optimizers: Sequence[str] | Mapping[str, Any], source: str) -> None:
    """Refuse a study name storage, a report or a spreadsheet could trip on: letters, digits,
    `.`, `_`, `-`, starting with a letter or digit, short enough that `NAME.OPTIMIZER` fits the
    storage's name columns (`hpsearch.storage.STUDY_NAME_LENGTH`)."""
    from hpsearch.storage import STUDY_NAME_LENGTH

    longest = max((len(o) for o in optimizers), default=0)
    limit = STUDY_NAME_LENGTH - 1 - longest
    if not STUDY_PATTERN.fullmatch(name):
        raise UserInputError(
            f"name: {name!r} (from {source}) is not a valid study name; use letters, digits, "
            f'`.`, `_` and `-`, starting with a letter or digit (set `name = "..."` in the spec).'
        )
    if len(name) > limit:
        raise UserInputError(
            f"name: the study name (from {source}) has {len(name)} characters; at most {limit} "
            f"fit the storage (`NAME.OPTIMIZER` in {STUDY_NAME_LENGTH} characters). Set a shorter "
            f'`name = "..."` in the spec.'
        )


def count_cells(spec: StudySpec) -> dict[str, int]:
    """Cells per optimizer, computed from the grid sizes and seeds without expanding anything
    (sampled studies: an upper bound, as repeated draws are merged)."""
    counts: dict[str, int] = {}
    for opt_name, space in spec.optimizers.items():
        searched = [v for v in space.values() if isinstance(v, list | Distribution)]
        if spec.run.sampler == "grid":
            configs = math.prod(len(v) for v in searched if isinstance(v, list))
        else:
            configs = (spec.run.samples or 1) if searched else 1
        counts[opt_name] = configs * len(spec.run.seed_list())
    return counts


def max_cells_limit(max_cells: int | None = None) -> int:
    """`max_cells`, else `$HPSEARCH_MAX_CELLS`, else `DEFAULT_MAX_CELLS`."""
    if max_cells is not None:
        if max_cells < 1:
            raise UserInputError(f"`--max-cells` must be at least 1, got {max_cells}.")
        return max_cells
    raw = os.environ.get(MAX_CELLS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_CELLS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise UserInputError(f"${MAX_CELLS_ENV}: expected a whole number of cells, got {raw!r}.")
    return value


def check_cell_count(spec: StudySpec, max_cells: int | None = None) -> None:
    """Refuse a study past the cell limit before anything is expanded, trained or stored."""
    limit = max_cells_limit(max_cells)
    counts = count_cells(spec)
    total = sum(counts.values())
    if total > limit:
        per = ", ".join(f"{opt} {n:,}" for opt, n in counts.items())
        raise UserInputError(
            f"the study has {total:,} cells ({per}), more than the limit of {limit:,}. Check the "
            f"grids, `run.seeds` and `run.samples`; to run it deliberately, pass "
            f"`--max-cells {total}` (or set ${MAX_CELLS_ENV})."
        )


def _resolve_plugins(spec: StudySpec) -> None:
    """Resolve the spec's task and optimizer plugins into entries the spec keeps (importing them
    runs their code; no registry changes); a built-in name stays the built-in."""
    from hpsearch import plugins

    task = plugins.load_task(spec.task.name, where="task.name")
    if task is not None:
        spec._plugins.append(task[0])
        spec._task_entry = task
    builtin = plugins.builtin_optimizer_names()
    for opt_name in spec.optimizers:
        cls, hyperparameters = spec._declared.get(opt_name, (None, {}))
        where = f"optimizers.{opt_name}"
        if cls is None and opt_name in builtin:
            if hyperparameters:
                raise UserInputError(
                    f"{where}.hyperparameters: `{opt_name}` is a built-in optimizer, whose "
                    f"hyperparameters are declared by hpsearch (see `hpsearch catalog`)."
                )
            continue
        if cls is None and plugins.entry_point_path(plugins.OPTIMIZER_GROUP, opt_name) is None:
            known = builtin | set(plugins.entry_point_names(plugins.OPTIMIZER_GROUP))
            error = UnknownNameError("optimizer", opt_name, known)
            raise UserInputError(
                f"{where}: {error} For an optimizer hpsearch does not ship, give its class: "
                f'`class = "package.module:Class"`.'
            )
        if opt_name in builtin:
            raise UserInputError(
                f"{where}: `{opt_name}` is a built-in optimizer; give the plugin another name, "
                f'e.g. `[optimizers.my-{opt_name}]` with `class = "{cls}"`.'
            )
        plugin = plugins.resolve_optimizer(opt_name, cls, hyperparameters, where=where)
        spec._optimizer_entries[opt_name] = plugins.optimizer_entry(plugin, where=where)
        spec._plugins.append(plugin)


def _check_against_catalog(spec: StudySpec) -> None:
    """Check the spec against the task and optimizer catalogs (the spec's plugin entries, else
    the registries); one error names every problem found, so a user fixes a file in one pass.
    An unknown task or plugin stops the checks at once: the rest are read against it."""
    from hpsearch.tasks.registry import resolve_options

    task = spec.task_info() if spec._task_entry is not None else _registered_task(spec.task.name)
    problems: list[str] = []
    try:
        resolve_options(task, spec.task.options(), spec.task.epochs)
    except UserInputError as error:
        problems.append(f"task: {error}")
    if spec.run.metric is not None and spec.run.metric not in task.metrics:
        problems.append(
            f"run.metric: `{printable(spec.run.metric)}` is not a metric of `{task.name}`; "
            f"expected one of {', '.join(task.metrics)}."
        )
    problems += _seed_problems(spec.run.seeds)
    if spec.run.sequential is not None:
        problems += _sequential_problems(spec.run.sequential)
    if spec.run.sampler != "grid" and spec.run.samples is None:
        problems.append(
            f"run.samples: sampler `{spec.run.sampler}` needs `samples` (configs per optimizer)."
        )
    for opt_name, space in spec.optimizers.items():
        problems += _space_problems(spec, opt_name, space, task.metrics)
    problems += _claim_problems(spec)
    if len(problems) == 1:
        raise UserInputError(problems[0])
    if problems:
        raise UserInputError(
            "the study spec is not valid:\n" + "\n".join(f"  • {line}" for line in problems)
        )


def _claim_problems(spec: StudySpec) -> list[str]:
    """`[claims]` against what the study searches: every optimizer and hyperparameter a claim
    names, and each "h = v fails" value on its grid (a claim is decided at grid values only, so
    an off-grid value could never be decided)."""
    searched = {
        name: [h for h, v in space.items() if isinstance(v, list | Distribution)]
        for name, space in spec.optimizers.items()
    }
    try:
        spec.claims.check_against(searched, where="claims")
    except UserInputError as error:
        return [str(error)]
    if spec.claims.fails is None:
        return []  # the default "lr = 1 fails" is left out where the grid has no lr = 1
    problems = []
    stated = spec.claims.failure_claims(searched, "claims")
    for item, claim in zip(spec.claims.fails, stated, strict=True):
        grid = spec.optimizers[claim.optimizer][claim.hyperparameter]
        if isinstance(grid, list) and spec.run.sampler == "grid":
            values = [float(v) for v in grid if not isinstance(v, bool | str)]
            if not any(math.isclose(claim.value, v, rel_tol=1e-9) for v in values):
                shown = ", ".join(format(v, "g") for v in values)
                problems.append(
                    f"claims.fails: `{printable(item)}`: {claim.value:g} is not a value of "
                    f"{claim.optimizer}'s {claim.hyperparameter} grid [{shown}]; a claim is "
                    "decided at the grid's values only: name one of them or add it to the grid."
                )
    return problems


def _registered_task(name: str) -> TaskInfo:
    from hpsearch.tasks import get_task_info, list_tasks

    try:
        return get_task_info(name)
    except UserInputError as error:
        from hpsearch import plugins

        message = str(error)
        listed = plugins.entry_point_names(plugins.TASK_GROUP)
        if listed:  # tasks installed packages offer by name
            known = {t.name for t in list_tasks()} | set(listed)
            message = str(UnknownNameError("task", name, known))
        raise UserInputError(
            f"task.name: {message} For a task of your own, name its factory: "
            f'`name = "package.module:factory"`.'
        ) from None


def _seed_problems(seeds: Sequence[int] | SequentialSeeds) -> list[str]:
    where = "run.seeds"
    if isinstance(seeds, SequentialSeeds):
        if seeds.order is None:
            return []
        where, seeds = "run.seeds.order", seeds.order
    problems = [
        f"{where}[{i}]: {seed} is outside [0, 2**32 - 1]; the random number generators "
        f"reduce seeds modulo 2**32, so larger or negative seeds would repeat others."
        for i, seed in enumerate(seeds)
        if not 0 <= seed < SEED_LIMIT
    ]
    if len(set(seeds)) != len(seeds):
        repeated = sorted(s for s, n in collections.Counter(seeds).items() if n > 1)
        problems.append(
            f"{where}: seeds repeat in {list(seeds)} ({', '.join(map(str, repeated))}); "
            f"each seed must be distinct, or the paired bootstrap counts a run twice."
        )
    return problems


def _sequential_problems(seq: SequentialSeeds) -> list[str]:
    """A sequential schedule's problems: looks given twice or not at all, looks that do not
    grow, an α split that does not fit the looks, an order too short for the last look."""
    problems = []
    if seq.looks is not None and (seq.first is not None or seq.max is not None):
        problems.append("run.seeds: give either `looks = [...]` or `first` and `max`, not both.")
    if seq.looks is None and (seq.first is None or seq.max is None):
        problems.append(
            "run.seeds: a sequential study needs `first` and `max` (seeds per cell at the first "
            "and last look, doubling between) or `looks = [5, 10, 20, 40]`."
        )
    if seq.first is not None and seq.max is not None and seq.max < seq.first:
        problems.append(f"run.seeds.max: {seq.max} is below `first` = {seq.first}.")
    looks = seq.look_sizes()
    if any(b <= a for a, b in itertools.pairwise(looks)):
        problems.append(f"run.seeds.looks: {looks} must grow from look to look.")
    if looks[0] < 2:
        problems.append(
            f"run.seeds: the first look has {looks[0]} seed; at least 2 are needed for an interval."
        )
    if seq.split is not None:
        if len(seq.split) != len(looks):
            problems.append(
                f"run.seeds.split: {len(seq.split)} shares for {len(looks)} looks {looks}; give "
                "one share of α per look."
            )
        if sum(seq.split) > 1 + 1e-9:
            problems.append(
                f"run.seeds.split: the shares {seq.split} add up to {sum(seq.split):g}; at most 1 "
                "of α may be spent over the looks."
            )
    if seq.order is not None and len(seq.order) < looks[-1]:
        problems.append(
            f"run.seeds.order: {len(seq.order)} seeds, but the last look needs {looks[-1]}."
        )
    return problems


def _space_problems(
    spec: StudySpec, opt_name: str, space: Mapping[str, Any], metrics: Sequence[str]
) -> list[str]:
    """What is wrong with one optimizer's search space: each hyperparameter's own problems, and
    a hyperparameter named like one of the task's metrics (both are columns of trials.csv)."""
    sampler = spec.run.sampler
    try:
        info = spec.optimizer_info(opt_name)
    except UserInputError as error:
        return [f"optimizers.{opt_name}: {error}"]
    problems: list[str] = []
    for hp in info.hyperparameters:
        problem = identifier_problem("hyperparameter", hp.name, columns=True, metrics=metrics)
        if problem is not None:
            problems.append(f"optimizers.{opt_name}: {problem}")
    for hp_name, value in space.items():
        where = f"optimizers.{opt_name}.{hp_name}"
        try:
            hp = info.hyperparameter(hp_name)
        except UserInputError as error:
            problems.append(f"{where}: {error}")
            continue
        if isinstance(value, Distribution):
            if sampler == "grid":
                problems.append(
                    f"{where}: a range {{low, high}} needs a sampled study; set "
                    f"`run.sampler` to `sobol` or `random` (and `run.samples`), or give a "
                    f"list of grid values."
                )
            elif hp.kind == "bool":
                problems.append(f"{where}: `{hp_name}` is true/false; give a list.")
            else:
                problems += _value_problems(hp, [(where, value.low), (where, value.high)])
        elif isinstance(value, list):
            if not value:
                problems.append(f"{where}: the grid is empty; give at least one value.")
                continue
            found = _value_problems(hp, [(f"{where}[{i}]", v) for i, v in enumerate(value)])
            problems += found
            if not found and len({canonical_value(v) for v in value}) != len(value):
                problems.append(f"{where}: grid values repeat in {value}.")
        else:
            problems += _value_problems(hp, [(where, value)])
    return problems


def _value_problems(hp: Any, values: Sequence[tuple[str, Any]]) -> list[str]:
    """`where: why` for each (where, value) the hyperparameter refuses."""
    problems = []
    for where, value in values:
        try:
            hp.check(value)
        except UserInputError as error:
            problems.append(f"{where}: {error}")
    return problems


# --- expansion --------------------------------------------------------------------------------


def _normalise(hp: Any, value: Scalar) -> Scalar:
    if hp.kind == "bool":
        return bool(value)
    if hp.kind == "int":
        return int(value)
    return float(value)


def expand_cells(
    spec: StudySpec,
    *,
    seeds: Sequence[int] | None = None,
    optimizers: Sequence[str] | None = None,
) -> list[Cell]:
    """Every cell of the study, in a stable order (optimizer, config, seed); `seeds` and
    `optimizers` narrow it (a sequential study's look: its seeds, its open optimizers)."""
    seed_list = list(seeds) if seeds is not None else spec.run.seed_list()
    cells: list[Cell] = []
    for opt_name, space in spec.optimizers.items():
        if optimizers is not None and opt_name not in optimizers:
            continue
        info = spec.optimizer_info(opt_name)
        fixed = {
            k: _normalise(info.hyperparameter(k), v)
            for k, v in space.items()
            if not isinstance(v, list | Distribution)
        }
        searched = {k: v for k, v in space.items() if isinstance(v, list | Distribution)}
        for config in _configs(spec, opt_name, searched, info):
            for seed in seed_list:
                cells.append(Cell(opt_name, config, fixed, seed))
    return cells


def _configs(
    spec: StudySpec, opt_name: str, searched: Mapping[str, Any], info: Any
) -> list[dict[str, Scalar]]:
    names = sorted(searched)
    if spec.run.sampler == "grid":
        grids = [[_normalise(info.hyperparameter(n), v) for v in searched[n]] for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]
    return _sampled_configs(spec, opt_name, names, searched, info)


def _sampled_configs(
    spec: StudySpec, opt_name: str, names: list[str], searched: Mapping[str, Any], info: Any
) -> list[dict[str, Scalar]]:
    """`samples` configs from Sobol or uniform random points; deterministic per spec+optimizer."""
    import numpy as np
    from scipy.stats import qmc

    n = spec.run.samples or 1
    if not names:
        return [{}]
    seed = int(hashlib.sha256(f"{spec.name}.{opt_name}".encode()).hexdigest()[:8], 16)
    if spec.run.sampler == "sobol":
        points = qmc.Sobol(d=len(names), scramble=True, seed=seed).random(n)
    else:
        points = np.random.default_rng(seed).random((n, len(names)))
    configs: list[dict[str, Scalar]] = []
    for row in points:
        config: dict[str, Scalar] = {}
        for name, u in zip(names, row, strict=True):
            hp = info.hyperparameter(name)
            space = searched[name]
            if isinstance(space, list):
                value: Scalar = space[min(int(u * len(space)), len(space) - 1)]
            elif space.log:
                value = math.exp(
                    math.log(space.low) + u * (math.log(space.high) - math.log(space.low))
                )
            else:
                value = space.low + u * (space.high - space.low)
            if hp.kind == "int":
                value = round(float(value))
            elif hp.kind == "float":
                value = float(f"{float(value):.6g}")  # short keys; 6 digits is finer than any study
            config[name] = _normalise(hp, value)
        configs.append(config)
    unique = {cell_key(opt_name, c, 0): c for c in configs}
    return list(unique.values())


def search_space(spec: StudySpec, optimizer: str) -> dict[str, dict[str, Any]]:
    """Per searched hyperparameter: kind, low, high, log, choices — storage builds Optuna
    distributions from this, so optuna-dashboard shows the space as the spec meant it."""
    info = spec.optimizer_info(optimizer)
    out: dict[str, dict[str, Any]] = {}
    for name, value in spec.optimizers[optimizer].items():
        hp = info.hyperparameter(name)
        if isinstance(value, Distribution):
            out[name] = {"kind": hp.kind, "low": value.low, "high": value.high, "log": value.log}
        elif isinstance(value, list):
            values = [_normalise(hp, v) for v in value]
            if hp.kind == "bool":
                out[name] = {"kind": "bool", "choices": sorted(set(values))}
            else:
                low, high = min(values), max(values)
                out[name] = {
                    "kind": hp.kind,
                    "low": low,
                    "high": high,
                    "log": bool(hp.log and low > 0),
                }
    return out
