"""The `automl search` command: each strategy run into the command's run directory (ResBuilder
through automl.ResBuilder, the library's own class)."""
from __future__ import annotations

from automl.budget import Deadline
from automl.data import ImageDataset
from automl.resbuilder.api import ResBuilder
from automl.rundir import RunDir
from automl.strategies import KERAS_TUNERS
from pipelines.console import already_complete, printer
from pipelines.datasets import load_dataset
from pipelines.train import run_training


def run_search(cfg, run: RunDir, strategy: str, quiet: bool = False, data: ImageDataset | None = None,
               deadline: Deadline | None = None) -> dict:
    deadline = deadline or Deadline()
    if strategy == "fixed":
        return run_training(cfg, run, quiet=quiet, label="[fixed]", data=data, deadline=deadline)
    if strategy == "evolution":
        from pipelines.evolution import run_evolution

        return run_evolution(cfg, run, quiet=quiet, data=data, deadline=deadline)
    if strategy in KERAS_TUNERS:
        from pipelines.tuners import run_keras_tuner

        return run_keras_tuner(cfg, run, strategy, quiet=quiet, data=data, deadline=deadline)
    say = printer(quiet)
    done = already_complete(run, say)
    if done is not None:
        return done
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    run.update_meta(strategy=strategy)
    tuner = ResBuilder(**cfg.resbuilder.to_dict(), strategy=strategy, training=cfg.train, seed=cfg.seed,
                       directory=str(run.path.parent), project_name=run.path.name, verbose=0 if quiet else 1)
    summary = tuner.search(data, batch_size=cfg.data.batch_size, augment=cfg.data.augment, deadline=deadline)
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary
