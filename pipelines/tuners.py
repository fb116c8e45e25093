"""`automl search --strategy random|bayesian|hyperband`: automl.RandomSearch,
automl.BayesianOptimization or automl.Hyperband (Keras Tuner's built-in tuners on the conv space
for images, the recurrent space for sequences) run into the command's run directory.

Trials live in RUN/tuner (Keras Tuner's own files), so `--resume` continues a killed search.
The best trial by validation (accuracy, or MSE for regression) is tested once.
"""
from __future__ import annotations

from automl.budget import Deadline
from automl.rundir import RunDir
from automl.task import task_of
from automl.tuning import TUNERS
from pipelines.console import already_complete, printer
from pipelines.datasets import load_dataset
from pipelines.datasets.sequences import SequenceDataset
from pipelines.evolution import recurrent_start, search_space


def run_keras_tuner(cfg, run: RunDir, strategy: str, quiet: bool = False, data=None,
                    deadline: Deadline | None = None) -> dict:
    say = printer(quiet)
    done = already_complete(run, say)
    if done is not None:
        return done
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    sequential = isinstance(data, SequenceDataset)
    space = search_space(cfg, cfg.tuner.space, sequential).name  # a space the settings cannot make: one line
    tuner_class = TUNERS[strategy]
    # the `tuner:` section serves all three: each takes the settings it uses
    settings = {k: v for k, v in cfg.tuner.replace(space=space).to_dict().items() if k in tuner_class.parameters()}
    tuner = tuner_class(**settings, max_channels=cfg.evolution.max_channels, max_units=cfg.evolution.max_units,
                        recurrent_start=recurrent_start(cfg) if space == "recurrent" else None,
                        regression=task_of(data).regression, seed=cfg.seed,
                        directory=str(run.path.parent), project_name=run.path.name, verbose=0 if quiet else 1)
    summary = tuner.search(data, augment=cfg.data.augment, deadline=deadline)
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary
