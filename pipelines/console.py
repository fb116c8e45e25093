"""What every command says on screen: progress to stderr (nothing with --quiet), and the word
that a finished run is already complete. Light: no TensorFlow."""
from __future__ import annotations

import sys

from automl.report import result_text
from automl.rundir import RunDir


def printer(quiet: bool):
    """Progress messages to stderr, or nothing with --quiet."""
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    return say


def already_complete(run: RunDir, say) -> dict | None:
    """The summary of a finished run, said on screen; None where there is work left."""
    done = run.completed()
    if done is not None:
        say(f"{run.path}: already complete ({result_text(done)})")
    return done
