"""The live dashboard's reads and caches, owned by one `PageStore` per app.

It reads the storage (the study groups, a study's trials) and keeps what it read and what it
analysed: storage reads younger than `READ_TTL_S` are reused (one page load fires several
callbacks at once), a finished study whose counts have not changed is not read again, and a page
is analysed once per (study, trials, selection) in a small LRU whose entries are built once
(whoever asks for a page being built waits for it instead of building another).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dashboards.page import Page, build_page
from dashboards.study import (
    Analyzer,
    analyze_study,
    filter_study,
    fingerprint,
    hidden_claims,
    refiltered_note,
)
from hpsearch.analysis.defaults import optimizer_defaults
from hpsearch.analysis.records import StudyAnalysis
from hpsearch.errors import HpsearchError
from hpsearch.studydata import StudyData

READ_TTL_S = 2.0  # storage reads younger than this are reused

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class AnalysedPage:
    """One analysed selection of a study and everything its page shows."""

    key: str  # `PageStore.key`: what the browser holds as the page on screen
    page: Page
    analysis: StudyAnalysis
    data: StudyData  # the selected trials (the study filtered)

    @property
    def trials(self) -> tuple[list[str], list[dict[str, Any]]]:
        """The trial table: its columns and one row per trial."""
        return self.page.trials or ([], [])


class BuildOnce(Generic[K, V]):
    """A small LRU whose values are built once: whoever asks for a key being built (the start-up
    analysis and the first visit, or the callbacks of one page load) waits for that build."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.items: OrderedDict[K, Future[V]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of `key` (waiting for it while it is built), or None if never built."""
        with self.lock:
            future = self.items.get(key)
            if future is None:
                return None
            self.items.move_to_end(key)
        return future.result()

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value of `key`, built by `build` only if nobody has built or is building it. A
        build that raises is forgotten, so the next asker tries again, and re-raised to all."""
        with self.lock:
            future = self.items.get(key)
            owner = future is None
            if future is None:
                future = self.items[key] = Future()
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        if owner:
            try:
                future.set_result(build())
            except BaseException as error:
                with self.lock:
                    if self.items.get(key) is future:
                        del self.items[key]
                future.set_exception(error)
        return future.result()


def selection_of(data: StudyData) -> tuple[list[str], list[int]]:
    """Every optimizer and seed of a study: what the filters tick on a first visit."""
    seeds = sorted(int(s) for s in data.trials["seed"].dropna().unique())
    return sorted(data.hyperparameters), seeds


class PageStore:
    """Reads one storage URL and keeps its study data and analysed pages (module docstring)."""

    def __init__(self, storage: str, analyzer: Analyzer | None = None) -> None:
        self.storage = storage
        self.analyze = analyzer or analyze_study
        self.pages: BuildOnce[str, AnalysedPage] = BuildOnce()
        self._recent: dict[Any, tuple[float, Any]] = {}
        self._loaded: dict[str, tuple[dict[str, int] | None, StudyData]] = {}

    def _fresh(self, key: Any, read: Callable[[], Any]) -> Any:
        now = time.monotonic()
        if key in self._recent and now - self._recent[key][0] < READ_TTL_S:
            return self._recent[key][1]
        value = read()
        self._recent[key] = (now, value)
        return value

    def groups(self) -> tuple[list[Any], str | None]:
        """The storage's study groups, and the error that kept them from being read (if any),
        said without a password or SQL."""
        from hpsearch.storage import list_study_groups, storage_failure

        try:
            return self._fresh("groups", lambda: list_study_groups(self.storage)), None
        except HpsearchError as error:
            return [], str(error)
        except Exception as error:  # a driver error from a URL we could not catch earlier
            return [], str(storage_failure(self.storage, error))

    def load(self, name: str, recheck: bool = True) -> StudyData:
        """The study's trials; a finished study whose counts by outcome have not changed since
        the last read is not read again (its counts come with the group listing).

        `recheck=False` returns the trials as last read without asking the storage: a filter
        change shows the data of the page on screen, and the page's timer, not the change,
        looks for new trials (listing the groups reads every study, 0.05-0.2 s for the demo:
        a fifth of a filter change's budget)."""
        from hpsearch.storage import load_study_data

        known = self._loaded.get(name)
        if known and not recheck:
            return known[1]
        found, _ = self.groups()
        counts = next((dict(g.counts) for g in found if g.name == name), None)
        if known and counts and not counts.get("running") and known[0] == counts:
            return known[1]
        data: StudyData = self._fresh(("study", name), lambda: load_study_data(self.storage, name))
        self._loaded[name] = (counts, data)
        return data

    @staticmethod
    def key(name: str, data: StudyData, optimizers: list[str], seeds: list[int]) -> str:
        """One page: a study as its trials stand, with a selection of optimizers and seeds."""
        return repr((name, fingerprint(data), tuple(sorted(optimizers)), tuple(sorted(seeds))))

    def page(
        self,
        name: str,
        data: StudyData,
        optimizers: list[str],
        seeds: list[int],
        subset: StudyData | None = None,
    ) -> AnalysedPage:
        """The analysed page of a selection of `data` (study `name`; `subset`: the selected
        trials, when the caller has them already), built once."""
        key = self.key(name, data, optimizers, seeds)

        def build() -> AnalysedPage:
            selected = subset if subset is not None else filter_study(data, optimizers, seeds)
            return self._build(key, data, selected, optimizers)

        return self.pages.get_or_build(key, build)

    def shown(self, key: str | None) -> AnalysedPage | None:
        """The page the browser shows (its key), if this store built it."""
        return self.pages.get(key) if key else None

    def _build(
        self, key: str, data: StudyData, subset: StudyData, optimizers: list[str]
    ) -> AnalysedPage:
        analysis = self.analyze(subset)
        note = refiltered_note(data, subset)
        if note is not None:
            analysis.notes.insert(0, note)
        page = build_page(
            analysis,
            subset.curves,
            defaults=optimizer_defaults(subset),
            hidden=hidden_claims(data, optimizers),
            data=subset,
        )
        return AnalysedPage(key, page, analysis, subset)

    def analyse_first_page(self) -> None:
        """The page `/` opens on (the first study, every optimizer and seed), analysed before
        anyone asks; a failure is left for the page's own request to meet and show."""
        try:
            found, _ = self.groups()
            if not found:
                return
            name = found[0].name
            data = self.load(name)
            optimizers, seeds = selection_of(data)
            subset = filter_study(data, optimizers, seeds)
            if not subset.trials.empty:
                self.page(name, data, optimizers, seeds, subset)
        except Exception:
            return
