"""Optimizers and tasks from outside hpsearch: import paths, entry points, and their registration.

A study may name an optimizer class by import path (`class = "package.module:Class"` in
`[optimizers.NAME]`) or by a name a package registers under the entry-point group
`hpsearch.optimizers`; and a task factory by import path (`[task] name = "package.module:factory"`)
or under `hpsearch.tasks`. Either way the result is an ordinary registry entry (`OptimizerInfo`,
`TaskDefinition`), so validation, did-you-mean errors, Optuna params, CSV columns and the catalog
treat it exactly like a built-in.

The driver resolves each plugin once (`resolve_optimizer`, `resolve_task`) into a plain record
that travels to the Ray workers, which import the same path (`install_plugins`): a plugin that a
worker cannot import is reported as such, naming the node. Importing a plugin runs its code, as a
Python config file would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import hashlib
import importlib
import importlib.metadata
import inspect
import math
import os
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hpsearch.errors import UnknownNameError, UserInputError
from hpsearch.names import identifier_problem, printable

if TYPE_CHECKING:  # both registries import torch
    from hpsearch.optim.registry import OptimizerInfo
    from hpsearch.tasks.registry import TaskDefinition

OPTIMIZER_GROUP = "hpsearch.optimizers"
TASK_GROUP = "hpsearch.tasks"
# The class attribute a plugin optimizer may declare its hyperparameters in (HyperParameter
# records or dicts of their fields).
DECLARATION_ATTRIBUTE = "hpsearch_hyperparameters"
# A class attribute by which a plugin that is not a `torch.optim.Optimizer` subclass (a factory, a
# wrapper) declares that calling it returns one.
OPTIMIZER_DECLARATION = "hpsearch_optimizer"
# The common options the shared training loop reads (`hpsearch.tasks.common_options`).
LOOP_OPTIONS = ("epochs", "batch_size", "lr_decay_epochs", "lr_decay_factor", "threads", "amp")


class PluginImportError(UserInputError):
    """A plugin's import path that does not import (here, or on a Ray worker)."""


class HyperParameterDeclaration(BaseModel):
    """`[optimizers.NAME.hyperparameters.HP]` in a spec: one hyperparameter of a plugin class."""

    model_config = ConfigDict(extra="forbid")
    default: bool | int | float | None = None  # None: the constructor's default
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    log: bool = False
    kind: Literal["float", "int", "bool"] | None = None  # None: bool for a bool default, else float
    doc: str = ""


@dataclass(frozen=True)
class OptimizerPlugin:
    """A resolved plugin optimizer: what the driver checked and what a worker needs to rebuild
    the registry entry (`hyperparameters` holds `HyperParameter` fields as plain dicts)."""

    name: str
    path: str  # package.module:Class
    version: str
    hyperparameters: tuple[dict[str, Any], ...]
    source: str  # "spec" (import path) or "entry point"

    def payload(self) -> dict[str, Any]:
        return {"kind": "optimizer", **dataclasses.asdict(self)}


@dataclass(frozen=True)
class TaskPlugin:
    """A resolved plugin task: its registry key, factory path and version."""

    name: str
    path: str  # package.module:factory
    version: str
    source: str

    def payload(self) -> dict[str, Any]:
        return {"kind": "task", **dataclasses.asdict(self)}


# Plugins registered in this process, by registry key, so a second spec can replace them and a
# built-in is never shadowed.
_OPTIMIZERS: dict[str, OptimizerPlugin] = {}
_TASKS: dict[str, TaskPlugin] = {}


def is_import_path(text: str) -> bool:
    """`package.module:attribute` (a registry name never holds a colon)."""
    return ":" in text


def import_object(path: str, *, where: str) -> Any:
    """The object at `package.module:attribute`; a `PluginImportError` naming `where` if not."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise PluginImportError(
            f"{where}: `{path}` is not an import path; expected `package.module:Name`."
        )
    try:
        with _working_directory_importable():
            module = importlib.import_module(module_name)
    except Exception as error:  # the plugin's own code may raise anything while importing
        raise PluginImportError(
            f"{where}: cannot import `{module_name}` (for `{path}`): "
            f"{type(error).__name__}: {error}. Is the package installed in this environment?"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            known = [n for n in dir(module) if not n.startswith("_")]
            raise UnknownNameError(f"name in `{module_name}` (for {where})", part, known) from None
    return target


@contextlib.contextmanager
def _working_directory_importable() -> Iterator[None]:
    """Modules in the working directory import, as on the Ray workers (Ray puts the driver's
    working directory on their `sys.path`), though the console script's `sys.path` lacks it."""
    here = os.getcwd()
    added = here not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(1 if sys.path else 0, here)
    try:
        yield
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


def plugin_version(obj: Any) -> str:
    """The version that goes into the study's identity: the installed distribution's version,
    else the module's `__version__`, else a hash of the module's source file, so an edited
    local plugin is a changed spec, not a silent mix of results."""
    module_name = getattr(obj, "__module__", None) or ""
    top = module_name.split(".")[0]
    distributions = importlib.metadata.packages_distributions().get(top) if top else None
    if distributions:
        name = distributions[0]
        return f"{name} {importlib.metadata.version(name)}"
    for candidate in (module_name, top):
        version = getattr(sys.modules.get(candidate), "__version__", None)
        if version:
            return str(version)
    source = getattr(sys.modules.get(module_name), "__file__", None)
    if source:
        try:
            with open(source, "rb") as handle:
                return "source " + hashlib.sha256(handle.read()).hexdigest()[:12]
        except OSError:
            pass
    return "unknown"


def _entry_points(group: str) -> dict[str, Any]:
    """The group's entry points by name (a seam for tests)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=group)}


def entry_point_path(group: str, name: str) -> str | None:
    """The import path a package registered `name` under in `group`, or None."""
    found = _entry_points(group).get(name)
    return None if found is None else f"{found.module}:{found.attr}"


def entry_point_names(group: str) -> list[str]:
    return sorted(_entry_points(group))


def builtin_optimizer_names() -> set[str]:
    """The registry's names that no plugin put there."""
    from hpsearch.optim.registry import list_optimizers

    return {info.name for info in list_optimizers()} - set(_OPTIMIZERS)


# --- optimizers -----------------------------------------------------------------------------


def _constructor(cls: Any, where: str, path: str) -> tuple[dict[str, inspect.Parameter], bool]:
    """The class's keyword parameters (after `params`) and whether it takes `**kwargs`."""
    if not callable(cls):
        raise UserInputError(f"{where}: `{path}` is not a class or factory (got {cls!r}).")
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}, True  # a builtin without a signature: nothing to check against
    parameters = list(signature.parameters.values())
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    named = {
        p.name: p
        for p in parameters[1:]  # the first is the parameters to optimise
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return named, any_keyword


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _signature_hyperparameters(named: Mapping[str, inspect.Parameter]) -> dict[str, dict[str, Any]]:
    """Every keyword with a number or true/false default is a hyperparameter (no range known);
    a `betas` pair becomes flat `beta1` and `beta2`, as for the built-ins."""
    found: dict[str, dict[str, Any]] = {}
    for name, parameter in named.items():
        default = parameter.default
        if isinstance(default, bool):
            found[name] = {"name": name, "default": default, "kind": "bool"}
        elif _is_number(default):
            found[name] = {"name": name, "default": float(default), "kind": "float"}
        elif (
            name == "betas"
            and isinstance(default, tuple)
            and len(default) == 2
            and all(_is_number(b) for b in default)
        ):
            for i, beta in enumerate(default, start=1):
                found[f"beta{i}"] = {
                    "name": f"beta{i}",
                    "default": float(beta),
                    "kind": "float",
                    "low": 0.0,
                    "high": 1.0,
                    "high_inclusive": False,
                }
    return found


def _declared(value: Any, where: str) -> dict[str, Any]:
    """A plugin's or spec's declaration as `HyperParameter` fields (only those given)."""
    from hpsearch.optim.registry import HyperParameter

    if isinstance(value, HyperParameter):
        return dataclasses.asdict(value)
    if not isinstance(value, Mapping):
        raise UserInputError(
            f"{where}: expected a table like `{{ default = 0.1, low = 0, log = true }}`, "
            f"got {value!r}."
        )
    try:  # a record's own `name` is its key here
        declaration = HyperParameterDeclaration.model_validate(
            {k: v for k, v in value.items() if k != "name"}
        )
    except ValidationError as error:
        problems = "; ".join(
            f"`{'.'.join(str(p) for p in item['loc'])}`: {item['msg']}" for item in error.errors()
        )
        raise UserInputError(f"{where}: {problems}.") from None
    return declaration.model_dump(exclude_unset=True)


def resolve_optimizer(
    name: str,
    path: str | None,
    declarations: Mapping[str, Any] | None = None,
    *,
    where: str,
) -> OptimizerPlugin:
    """Import the optimizer class at `path` (or the entry point `name`), merge its hyperparameters
    (constructor defaults < the class's `hpsearch_hyperparameters` < the spec's declarations)
    and check each against the constructor. Raises `UserInputError` for anything wrong."""
    from hpsearch.optim.registry import HyperParameter

    source = "spec"
    if path is None:
        path = entry_point_path(OPTIMIZER_GROUP, name)
        source = "entry point"
        if path is None:
            raise UserInputError(f"{where}: no optimizer plugin named `{name}`.")
    cls = import_object(path, where=where)
    _check_optimizer_class(cls, where, path)
    named, any_keyword = _constructor(cls, where, path)
    merged = _signature_hyperparameters(named)
    layers: list[tuple[str, Any]] = [
        (f"{path}.{DECLARATION_ATTRIBUTE}", getattr(cls, DECLARATION_ATTRIBUTE, None) or ()),
        (f"{where}.hyperparameters", declarations or {}),
    ]
    for origin, layer in layers:
        items = layer.items() if isinstance(layer, Mapping) else _by_name(layer, origin)
        for hp_name, value in items:
            fields = _declared(value, f"{origin}.{hp_name}")
            fields.pop("name", None)
            merged[hp_name] = {**merged.get(hp_name, {}), **fields, "name": hp_name}
    accepted = set(named) | ({"beta1", "beta2"} if "betas" in named else set())
    records: list[dict[str, Any]] = []
    for hp_name, fields in merged.items():
        problem = identifier_problem("hyperparameter", hp_name, columns=True)
        if problem is not None:
            raise UserInputError(f"{where}.hyperparameters: {problem}")
        if not any_keyword and hp_name not in accepted:
            close = difflib.get_close_matches(hp_name, sorted(accepted), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
            raise UserInputError(
                f"{where}.hyperparameters.{hp_name}: `{path}` takes no argument `{hp_name}`."
                f"{hint} It takes {', '.join(sorted(accepted)) or 'no keyword arguments'}."
            )
        if fields.get("default") is None:
            raise UserInputError(
                f"{where}.hyperparameters.{hp_name}: no `default` is declared and `{path}` has "
                f"none for it; declare one, e.g. `{hp_name} = {{ default = 0.1 }}`."
            )
        if fields.get("kind") is None:
            fields["kind"] = "bool" if isinstance(fields["default"], bool) else "float"
        fields.setdefault("doc", f"argument of {path}")
        try:
            record = HyperParameter(**fields)
            record.check(record.default)  # a default outside its own range is a declaration bug
        except (TypeError, UserInputError) as error:
            raise UserInputError(f"{where}.hyperparameters.{hp_name}: {error}") from None
        records.append(dataclasses.asdict(record))
    return OptimizerPlugin(name, path, plugin_version(cls), tuple(records), source)


def _check_optimizer_class(cls: Any, where: str, path: str) -> None:
    """Refuse what is not an optimizer (`class = "os:system"`) before a cell is counted: a
    `torch.optim.Optimizer` subclass, or a factory or wrapper declaring that it returns one."""
    import torch

    if getattr(cls, OPTIMIZER_DECLARATION, False) is True:
        return
    if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
        return
    raise UserInputError(
        f"{where}.class: `{printable(path)}` is not a `torch.optim.Optimizer` subclass (got "
        f"{printable(repr(cls))}); a factory or wrapper that returns an optimizer says so with "
        f"the attribute `{OPTIMIZER_DECLARATION} = True`."
    )


def _by_name(records: Iterable[Any], origin: str) -> list[tuple[str, Any]]:
    out = []
    for record in records:
        hp_name = getattr(record, "name", None) or (
            record.get("name") if isinstance(record, Mapping) else None
        )
        if not isinstance(hp_name, str):
            raise UserInputError(f"{origin}: every entry needs a `name`, got {record!r}.")
        out.append((hp_name, record))
    return out


def _optimizer_factory(cls: Any, named: Mapping[str, inspect.Parameter]) -> Callable[..., Any]:
    """`cls(params, **hyperparameters)`, with flat `beta1`/`beta2` as the `betas` pair; a value
    equal to the constructor's own default is left for the constructor to supply, so a default
    keeps its own type (an int `slice_p = 1` is not handed over as the float 1.0)."""
    defaults = {n: p.default for n, p in named.items() if p.default is not inspect.Parameter.empty}

    def build(params: Any, **kwargs: Any) -> Any:
        if "betas" in named and "beta1" in kwargs and "beta2" in kwargs:
            kwargs["betas"] = (kwargs.pop("beta1"), kwargs.pop("beta2"))
        for key in [k for k in kwargs if k in defaults]:
            default, value = defaults[key], kwargs[key]
            same = type(value) is type(default) or not isinstance(default, bool | tuple)
            if same and _equal(value, default):
                del kwargs[key]
        return cls(params, **kwargs)

    return build


def _equal(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except Exception:  # e.g. a tensor default: compare nothing, pass the value
        return False


def register_optimizer(plugin: OptimizerPlugin, *, where: str) -> None:
    """Put `plugin` in the optimizer registry under its name; a built-in name is refused."""
    from hpsearch.optim.registry import get_optimizer_info, list_optimizers, register

    list_optimizers()  # the built-ins first, so a clash is seen
    if plugin.name not in _OPTIMIZERS:
        try:
            get_optimizer_info(plugin.name)
        except UserInputError:
            pass
        else:
            raise UserInputError(
                f"{where}: `{plugin.name}` is a built-in optimizer; give the plugin another name, "
                f'e.g. `[optimizers.my-{plugin.name}]` with `class = "{plugin.path}"`.'
            )
    elif _OPTIMIZERS[plugin.name] == plugin:
        return
    register(optimizer_entry(plugin, where=where), replace=True)
    _OPTIMIZERS[plugin.name] = plugin


def optimizer_entry(plugin: OptimizerPlugin, *, where: str) -> OptimizerInfo:
    """The registry entry of a resolved plugin optimizer (registered nowhere)."""
    from hpsearch.optim.registry import HyperParameter, OptimizerInfo

    cls = import_object(plugin.path, where=where)
    named, _ = _constructor(cls, where, plugin.path)
    return OptimizerInfo(
        name=plugin.name,
        description=f"{plugin.path} ({plugin.version}; plugin, {plugin.source})",
        factory=_optimizer_factory(cls, named),
        hyperparameters=tuple(HyperParameter(**fields) for fields in plugin.hyperparameters),
    )


# --- tasks ----------------------------------------------------------------------------------


def load_task(name: str, *, where: str) -> tuple[TaskPlugin, TaskDefinition] | None:
    """The plugin behind task `name` (an import path or an entry point) and its checked
    definition, registered nowhere; None for a built-in task. Raises `UserInputError` for a
    factory that breaks the task contract."""
    from hpsearch.tasks.registry import list_tasks

    if name in {t.name for t in list_tasks()} and name not in _TASKS:
        return None
    if is_import_path(name):
        path, source = name, "spec"
    else:
        found = entry_point_path(TASK_GROUP, name)
        if found is None:
            return None  # not a plugin: the registry's did-you-mean error follows
        path, source = found, "entry point"
    factory = import_object(path, where=where)
    plugin = TaskPlugin(name, path, plugin_version(factory), source)
    return plugin, task_definition(plugin, where=where, factory=factory)


def resolve_task(name: str, *, where: str) -> TaskPlugin | None:
    """`load_task`, registered (for `hpsearch catalog`'s entry points)."""
    loaded = load_task(name, where=where)
    if loaded is None:
        return None
    plugin, definition = loaded
    _register_task_definition(plugin, definition)
    return plugin


def register_task(plugin: TaskPlugin, *, where: str, factory: Any = None) -> None:
    """Call the plugin's factory, check what it returns and register it under `plugin.name`."""
    if _TASKS.get(plugin.name) == plugin:
        return
    _register_task_definition(plugin, task_definition(plugin, where=where, factory=factory))


def _register_task_definition(plugin: TaskPlugin, definition: TaskDefinition) -> None:
    from hpsearch.tasks.registry import register

    register(definition.info, definition.build, replace=True)
    _TASKS[plugin.name] = plugin


def task_definition(plugin: TaskPlugin, *, where: str, factory: Any = None) -> TaskDefinition:
    """Call the plugin's factory and check what it returns: the definition under `plugin.name`."""
    from hpsearch.tasks.base import TaskInfo
    from hpsearch.tasks.registry import TaskDefinition

    factory = factory if factory is not None else import_object(plugin.path, where=where)
    try:
        definition = factory()
    except Exception as error:
        raise UserInputError(
            f"{where}: the task factory `{plugin.path}` raised {type(error).__name__}: {error}."
        ) from None
    if not isinstance(definition, TaskDefinition) or not isinstance(definition.info, TaskInfo):
        raise UserInputError(
            f"{where}: the task factory `{plugin.path}` must return "
            f"`hpsearch.tasks.TaskDefinition(info=TaskInfo(...), build=...)`, got {definition!r}."
        )
    info = definition.info
    missing = [o for o in LOOP_OPTIONS if o not in {opt.name for opt in info.options}]
    if missing:
        raise UserInputError(
            f"{where}: the task `{plugin.path}` lacks the options {', '.join(missing)} that the "
            f"training loop reads; start its options with `hpsearch.tasks.common_options(...)`."
        )
    if info.default_metric not in info.metrics:
        raise UserInputError(
            f"{where}: the task `{plugin.path}` has default_metric `{info.default_metric}`, "
            f"which is not one of its metrics ({', '.join(info.metrics)})."
        )
    if not callable(definition.build):
        raise UserInputError(
            f"{where}: the task `{plugin.path}` has a `build` that is not callable."
        )
    for option in info.options:
        problem = identifier_problem("task option", option.name)
        if problem is not None:
            raise UserInputError(f"{where}: the task `{plugin.path}` has an option {problem}")
    for metric in info.metrics:
        problem = identifier_problem("metric", metric)
        if problem is not None:
            raise UserInputError(f"{where}: the task `{plugin.path}` has a metric {problem}")
    return TaskDefinition(dataclasses.replace(info, name=plugin.name), definition.build)


@contextlib.contextmanager
def registered(
    optimizers: Iterable[tuple[OptimizerPlugin, OptimizerInfo]],
    task: tuple[TaskPlugin, TaskDefinition] | None = None,
) -> Iterator[None]:
    """The given plugin entries in the global registries inside the block (a run's driver
    builds the task and sizes packs by name), and the registries as they were afterwards."""
    from hpsearch.optim import registry as optimizer_registry
    from hpsearch.tasks import registry as task_registry

    saved_optimizers, saved_tasks = dict(_OPTIMIZERS), dict(_TASKS)
    before_optimizers: dict[str, OptimizerInfo | None] = {}
    before_tasks: dict[str, TaskDefinition | None] = {}
    try:
        for plugin, info in optimizers:
            before_optimizers.setdefault(plugin.name, optimizer_registry.find(plugin.name))
            optimizer_registry.register(info, replace=True)
            _OPTIMIZERS[plugin.name] = plugin
        if task is not None:
            plugin_task, definition = task
            before_tasks.setdefault(plugin_task.name, task_registry.find(plugin_task.name))
            task_registry.register(definition.info, definition.build, replace=True)
            _TASKS[plugin_task.name] = plugin_task
        yield
    finally:
        for name, old_info in before_optimizers.items():
            if old_info is None:
                optimizer_registry.unregister(name)
            else:
                optimizer_registry.register(old_info, replace=True)
        for name, old_definition in before_tasks.items():
            if old_definition is None:
                task_registry.unregister(name)
            else:
                task_registry.register(old_definition.info, old_definition.build, replace=True)
        _OPTIMIZERS.clear()
        _OPTIMIZERS.update(saved_optimizers)
        _TASKS.clear()
        _TASKS.update(saved_tasks)


# --- a spec's plugins, on the driver and on the workers ----------------------------------------


def install_plugins(payload: Sequence[Mapping[str, Any]], optimizer: str | None = None) -> None:
    """Register on a Ray worker the plugins the driver resolved (`OptimizerPlugin.payload`,
    `TaskPlugin.payload`): the task's, and of the optimizers only `optimizer` when given (one
    broken plugin fails its own cells only). An import that fails here but worked on the driver
    says that every node needs the plugin installed."""
    for item in payload:
        if item["kind"] == "optimizer" and optimizer is not None and item["name"] != optimizer:
            continue
        fields = {k: v for k, v in item.items() if k != "kind"}
        where = f"plugin `{fields['path']}`"
        try:
            here = plugin_version(import_object(fields["path"], where=where))
            if here != fields["version"]:
                raise PluginImportError(
                    f"{where}: version {here} here, {fields['version']} on the driver."
                )
            if item["kind"] == "optimizer":
                fields["hyperparameters"] = tuple(fields["hyperparameters"])
                register_optimizer(OptimizerPlugin(**fields), where=where)
            else:
                register_task(TaskPlugin(**fields), where=where)
        except PluginImportError as error:
            raise PluginImportError(
                f"{error} The plugin imported on the driver but not as such on the Ray worker "
                f"on {socket.gethostname()}: every node of the cluster needs it installed (the "
                f"same version), e.g. `pip install` it on each node or put it in the image."
            ) from None


def forget_plugins() -> None:
    """Drop every plugin registered in this process (tests, or a long-lived process between
    studies); built-ins stay."""
    from hpsearch.optim.registry import unregister as drop_optimizer
    from hpsearch.tasks.registry import unregister as drop_task

    for name in list(_OPTIMIZERS):
        drop_optimizer(name)
    for name in list(_TASKS):
        drop_task(name)
    _OPTIMIZERS.clear()
    _TASKS.clear()


def load_entry_points() -> list[str]:
    """Register every optimizer and task that installed packages declare under the entry-point
    groups (for `hpsearch catalog`); one line per plugin that failed, instead of raising."""
    problems: list[str] = []
    for name in entry_point_names(OPTIMIZER_GROUP):
        where = f"entry point `{name}` ({OPTIMIZER_GROUP})"
        try:
            register_optimizer(resolve_optimizer(name, None, where=where), where=where)
        except UserInputError as error:
            problems.append(str(error))
    for name in entry_point_names(TASK_GROUP):
        try:
            resolve_task(name, where=f"entry point `{name}` ({TASK_GROUP})")
        except UserInputError as error:
            problems.append(str(error))
    return problems
