"""Wall-clock budgets: `--budget 6m` ends a search or a training at the first batch (or
generation) boundary after the time is up, leaving time to finalise inside the budget.

Pure Python on purpose: the CLI parses budgets before TensorFlow is imported.
"""
from __future__ import annotations

import math
import re
import time

UNITS = {"s": 1, "m": 60, "h": 3600}
FORMS = "a positive duration such as 90s, 6m, 2h or 1h30m"
_PART = re.compile(r"(\d+(?:\.\d+)?)([smh])")


def parse_duration(text) -> float:
    """Seconds in '90s', '6m', '2h', '1h30m' or '1.5h'; ValueError naming the accepted forms."""
    raw = str(text).strip().lower()
    parts = _PART.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ValueError(f"{text!r} is not a duration: use {FORMS}")
    seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: use {FORMS}")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_budget(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


class Deadline:
    """A budget of `seconds` from `started` (time.monotonic()), or none.

    `reserve` is the time kept back for finalising (saving, the one test pass, a final training):
    work stops when less than `reserve` is left. `wall_at` is the same moment as a Unix time, for
    distributed workers on other machines (their clocks are assumed to be NTP-synchronised).
    """

    def __init__(self, seconds: float | None = None, started: float | None = None, reserve: float = 0.0):
        self.seconds = seconds
        self.started = time.monotonic() if started is None else started
        self.reserve = reserve
        self.hit = False  # set by whatever stopped work because of this deadline

    @property
    def active(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return math.inf if self.seconds is None else self.seconds - self.elapsed()

    def work_left(self) -> float:
        return self.left() - self.reserve

    def expired(self) -> bool:
        """True when work must stop (with the current reserve); remembers that the budget, not the
        strategy, ended the run. Not sticky: a later phase may keep back a smaller reserve."""
        if self.work_left() <= 0:
            self.hit = True
            return True
        return False

    @property
    def wall_at(self) -> float | None:
        """The end of work as a Unix time."""
        return None if self.seconds is None else time.time() + self.work_left()

    def report(self) -> dict:
        return {"budget_seconds": self.seconds, "wall_seconds": self.elapsed(),
                "ended_by": "budget" if self.hit else "strategy"}
