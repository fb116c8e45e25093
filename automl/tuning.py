"""Keras Tuner's built-in tuners (random search, Bayesian optimisation, Hyperband) over the
evolution's search spaces: a space that can draw a genome through hyperparameters
(`from_hyperparameters`) becomes a `keras_tuner.HyperModel`, so one space definition serves
the evolution and the built-ins alike.

Keras Tuner keeps every trial on disk, so a killed search resumes where it stopped; a wall-clock
budget stops it from starting new trials and cuts the running one at its next batch.
"""
from __future__ import annotations

from typing import Callable

import keras
import keras_tuner as kt
from keras_tuner.src.engine.trial import TrialStatus

from automl.budget import Deadline
from automl.evolution.space import Space
from automl.seeds import keras_tuner_seed
from automl.evolution.tuner import compile_trial

TUNERS = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband}


class SpaceHyperModel(kt.HyperModel):
    """Builds (and compiles, with a fresh Adam) the net of the genome the hyperparameters draw."""

    def __init__(self, space: Space, input_shape, num_classes: int | None, preprocess=None,
                 per_step: bool = False, learning_rate: float = 1e-3):
        if not hasattr(space, "from_hyperparameters"):
            raise ValueError(f"the {space.name} space has no hyperparameter form for Keras Tuner's tuners")
        super().__init__(name=f"{space.name}_space")
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), num_classes
        self.preprocess, self.per_step, self.learning_rate = preprocess, per_step, learning_rate

    def genome(self, hp):
        return self.space.from_hyperparameters(hp)

    def build(self, hp) -> keras.Model:
        genome = self.genome(hp)
        model = self.space.build(genome, self.input_shape, self.num_classes, self.preprocess, self.per_step)
        return compile_trial(model, self.learning_rate, self.num_classes is None, self.space.lr_rule(genome))


class _Budgeted:
    """Oracle mixin: no new trial once the deadline has passed."""

    deadline: Deadline = Deadline()

    def populate_space(self, trial_id):
        if self.deadline.expired():
            return {"status": TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)


class _Reporting:
    """Tuner mixin: one line per finished trial through `say`."""

    say: Callable[[str], None] = print
    describe: Callable = str

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        self.say(f"trial {trial.trial_id}: {self.describe(trial.hyperparameters)}"
                 f"{f', {epochs} epochs' if epochs else ''}")

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        score = trial.score
        best = self.oracle.get_best_trials(1)
        result = f"{self.oracle.objective.name} {score:.4f}" if score is not None else "no score (failed or cut)"
        best_text = f"; best {best[0].score:.4f} (trial {best[0].trial_id})" if best and best[0].score is not None else ""
        self.say(f"trial {trial.trial_id} done: {result}{best_text}")


def builtin_tuner(name: str, hypermodel: SpaceHyperModel, minimize_loss: bool, max_trials: int,
                  hyperband_max_epochs: int, hyperband_factor: int, seed: int, directory: str,
                  project_name: str, deadline: Deadline | None = None,
                  say: Callable[[str], None] = print) -> kt.Tuner:
    """One of TUNERS on `hypermodel`, resuming whatever `directory/project_name` holds."""
    base = TUNERS[name]
    objective = kt.Objective("val_loss", "min") if minimize_loss else kt.Objective("val_accuracy", "max")
    tuner_class = type(f"Reporting{base.__name__}", (_Reporting, base), {})
    settings = dict(max_epochs=hyperband_max_epochs, factor=hyperband_factor) if name == "hyperband" \
        else dict(max_trials=max_trials)
    tuner = tuner_class(hypermodel, objective=objective, seed=keras_tuner_seed(seed), directory=directory,
                        project_name=project_name, overwrite=False, **settings)
    # Each built-in tuner builds its own oracle in its constructor; the budget check is mixed into
    # that oracle's class afterwards rather than re-implementing the three constructors.
    tuner.oracle.__class__ = type(f"Budgeted{type(tuner.oracle).__name__}", (_Budgeted, type(tuner.oracle)), {})
    tuner.oracle.deadline = deadline or Deadline()
    tuner.say = say
    tuner.describe = lambda hp: hypermodel.space.describe(hypermodel.genome(hp.copy()))
    return tuner
