"""Live progress bars (tqdm) on a terminal, and none elsewhere.

A bar runs within one epoch, one validation period of a population optimizer or one pass over
the slides, so the first epoch (graph tracing included) is never silent. Where the output is not
a terminal (a log file, a pipe, CI) no bar is drawn: the callers print one plain line per epoch,
so logs stay greppable. Light: no TensorFlow, so the population and slide loops can use it.
"""
from __future__ import annotations

import sys

from tqdm import tqdm


def is_terminal(stream) -> bool:
    """Whether `stream` is an interactive terminal (a closed or fake stream is not)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed file
        return False


class LiveBar:
    """A bar of `total` steps on `stream` while it is a terminal; a no-op otherwise.

    Args:
        total: the steps the bar counts to (None: count without a total, as tqdm does).
        label: what the bar is for, e.g. "epoch 3/20".
        stream: where the bar is drawn (default: stderr, where every progress line goes).
        unit: the name of one step ("step", "gen", "slide").
        show: False draws nothing (a quiet run).
    """

    def __init__(self, total: int | None, label: str = "", stream=None, unit: str = "step", show: bool = True):
        stream = stream or sys.stderr
        # leave=False: the bar is erased when it closes, and the caller's plain line takes its place
        self.bar = tqdm(total=total, desc=label, file=stream, unit=unit, leave=False, dynamic_ncols=True,
                        mininterval=0.2) if show and is_terminal(stream) else None

    def update(self, steps: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
