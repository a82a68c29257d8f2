"""The progress line: cells done / total, diverged, failed and an ETA, on stderr."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Progress:
    """Cells done / total, diverged, failed and an ETA, on stderr."""

    total: int
    done: int = 0
    diverged: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    stream: Any = None
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # optimizer -> counts
    # The ETA is measured from the first cells to finish on, so start-up (Ray workers importing
    # torch, the first batch in flight) does not inflate it; until then it shows `--:--`.
    first_time: float | None = None
    first_done: int = 0
    training: bool = False
    label: str = ""  # heads each line: a sequential study's look and its claims decided

    def trial_started(self) -> None:
        """Say once that training has begun (start-up is otherwise silent for seconds)."""
        if self.training:
            return
        self.training = True
        stream = self.stream or sys.stderr
        stream.write(
            f"training: the first trial started {time.monotonic() - self.started:.0f} s after "
            "launch; progress appears as cells finish\n"
        )
        stream.flush()

    def eta(self, now: float) -> float:
        """Seconds left at the rate measured since the first cells finished (NaN before)."""
        if self.done >= self.total:
            return 0.0
        if self.first_time is None or self.done <= self.first_done or now - self.first_time < 1:
            return math.nan
        rate = (self.done - self.first_done) / (now - self.first_time)
        return (self.total - self.done) / rate

    def update(self, optimizer: str, outcome: str) -> None:
        self.done += 1
        self.diverged += outcome == "diverged"
        self.failed += outcome == "error"
        counts = self.outcomes.setdefault(optimizer, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        stream = self.stream or sys.stderr
        now = time.monotonic()
        elapsed = now - self.started
        if self.first_time is None:
            self.first_time, self.first_done = now, self.done
        elif now - self.first_time < 1:  # the same burst (a pack) as the first cells
            self.first_done = self.done
        eta = self.eta(now)
        line = (
            (f"{self.label}  " if self.label else "")
            + f"[{self.done:>{len(str(self.total))}}/{self.total}] "
            f"{100 * self.done / max(self.total, 1):3.0f}%  diverged {self.diverged}  "
            f"failed {self.failed}  elapsed {clock(elapsed)}  ETA {clock(eta)}"
        )
        if stream.isatty():
            stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        else:
            stream.write(line + "\n")
        stream.flush()


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
