"""`automl search --strategy evolution`: automl.Evolution (seed 001's Lamarckian evolution on
Keras Tuner) run into the command's run directory, serial or distributed with Keras Tuner's
chief/worker environment variables (see automl.evolution.api)."""
from __future__ import annotations

from automl.budget import Deadline
from automl.data import ImageDataset
from automl.errors import UsageError
from automl.evolution.api import Evolution
from automl.evolution.spaces import make_space, resolve_space
from automl.rundir import RunDir
from automl.task import task_of
from pipelines import distributed
from pipelines.console import already_complete, printer
from pipelines.datasets import load_dataset
from pipelines.datasets.sequences import SequenceDataset


def run_evolution(cfg, run: RunDir, quiet: bool = False, data: ImageDataset | None = None,
                  deadline: Deadline | None = None) -> dict:
    say = printer(quiet)
    role = distributed.role()
    done = already_complete(run, say)
    if done is not None and role != "worker":
        return done
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    sequential = isinstance(data, SequenceDataset)
    regression = task_of(data).regression
    space = search_space(cfg, cfg.evolution.space, sequential).name  # a space the settings cannot make: one line
    tuner = Evolution(**cfg.evolution.replace(space=space).to_dict(), resbuilder=cfg.resbuilder,
                      recurrent_start=recurrent_start(cfg) if space == "recurrent" else None, regression=regression,
                      seed=cfg.seed, directory=str(run.path.parent), project_name=run.path.name,
                      verbose=0 if quiet else 1)
    summary = tuner.search(data, deadline=deadline)
    if summary is None:
        return {"role": "worker"}
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary


def recurrent_start(cfg) -> dict:
    """The recurrent space's first genome: the configured model.* settings."""
    return cfg.model.sequence_genome()


def search_space(cfg, name: str, sequential: bool):
    """The configured space; the recurrent one starts from the model.* settings."""
    name = resolve_space(name, sequential)
    try:
        return make_space(name, cfg.resbuilder.start_pooling_stages, cfg.evolution.max_channels,
                          recurrent_start(cfg) if name == "recurrent" else None, cfg.evolution.max_units)
    except ValueError as e:
        raise UsageError(f"search space {name}: {e}") from None
