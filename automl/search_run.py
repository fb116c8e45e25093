"""Where a search writes, how long it may run and how it is seeded: the arguments every search
class (`automl.ResBuilder`, `automl.Evolution`) shares, defined once.

Light on purpose (no TensorFlow).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from automl.budget import FORMS, Deadline, parse_duration
from automl.settings import SEED_RULE, Settings, is_number, is_seed


class SearchRun(Settings):
    """The run of a search.

    Args:
        budget: wall-clock budget of `search()`, e.g. "90s", "6m", "2h", "1h30m", or seconds; work stops at the first batch after it and the run is finalised inside it; None: no budget.
        seed: seed of weight initialisation, shuffling and augmentation (the splits use their own fixed seed).
        directory: the folder holding the run's folder (as Keras Tuner's `directory`).
        project_name: the run's folder inside `directory`; None: the strategy's name. The folder is a run directory that `automl report` and `automl export` accept.
        overwrite: True starts afresh, deleting what the run's folder holds; False (default) continues the run found there, redoing nothing it completed.
        verbose: 1 prints progress to stderr, 0 nothing.
    """

    def __init__(self, *, budget: str | float | None = None, seed: int = 0, directory: str = "runs",
                 project_name: str | None = None, overwrite: bool = False, verbose: int = 1):
        if budget is not None and not is_number(budget):
            try:
                parse_duration(budget)
            except ValueError:
                self.check("budget", budget, False, f"{FORMS}, a number of seconds, or None")
        self.check("budget", budget, budget is None or not is_number(budget) or budget > 0, "> 0 seconds")
        self.check("seed", seed, is_seed(seed), SEED_RULE)
        self.check("directory", directory, isinstance(directory, (str, Path)) and str(directory) != "",
                   "a folder path")
        self.check("project_name", project_name, project_name is None or (
            isinstance(project_name, str) and project_name not in ("", ".", "..") and "/" not in project_name),
            "a folder name (no '/') or None")
        self.check("overwrite", overwrite, isinstance(overwrite, bool), "True or False")
        self.check("verbose", verbose, verbose in (0, 1), "0 or 1")
        self.budget, self.seed, self.directory = budget, seed, str(directory)
        self.project_name, self.overwrite, self.verbose = project_name, overwrite, verbose

    def run_path(self, strategy: str) -> Path:
        """`directory/project_name` (the strategy's name when project_name is None)."""
        return Path(self.directory) / (self.project_name or strategy)

    def new_deadline(self) -> Deadline:
        """The budget as a Deadline counted from now."""
        if self.budget is None:
            return Deadline()
        return Deadline(float(self.budget) if is_number(self.budget) else parse_duration(self.budget))

    def clear(self, path: Path) -> None:
        """With overwrite=True, remove what an earlier run left in `path` (only a run directory:
        a folder that is not one is never deleted)."""
        if not (self.overwrite and path.exists()):
            return
        if path.is_dir() and any(path.iterdir()) and not (path / "config.yaml").exists():
            raise ValueError(f"overwrite=True would delete {path}, which is not a run directory (it has no "
                             "config.yaml); choose another directory or project_name")
        shutil.rmtree(path)

    def say(self, message: str) -> None:
        if self.verbose:
            import sys

            print(message, file=sys.stderr, flush=True)
