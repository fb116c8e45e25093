"""The settings of Keras Tuner's built-in tuners over our spaces (automl.RandomSearch,
automl.BayesianOptimization, automl.Hyperband; `automl search --strategy random|bayesian|hyperband`):
the one definition of each parameter (see automl.settings).

Light on purpose (no TensorFlow): the command line validates `tuner.*` with this class.
"""
from __future__ import annotations

from typing import Literal

from automl.evolution.settings import SPACE_CHOICES as EVOLUTION_SPACE_CHOICES
from automl.evolution.settings import EvolutionSettings
from automl.settings import Settings

# The evolution's spaces less the residual one, which has no hyperparameter form (its blocks are
# inserted, not counted); auto: conv for images, recurrent for sequences.
SPACE_CHOICES = tuple(s for s in EVOLUTION_SPACE_CHOICES if s != "residual")
# `automl search --strategy` and automl.search(strategy=...): automl.RandomSearch,
# automl.BayesianOptimization, automl.Hyperband.
STRATEGIES = ("random", "bayesian", "hyperband")
# The trials train as the evolution's candidates do, so that the two compare at equal settings.
_EVOLUTION = EvolutionSettings.defaults()


class TunerSettings(Settings):
    """Keras Tuner's random search, Bayesian optimisation and Hyperband on the evolution's spaces.

    Each trial draws a genome through Keras Tuner hyperparameters, trains it with a fresh Adam and
    is scored on validation (accuracy, or MSE for regression), as the evolution's candidates are.

    Args:
        space: auto (conv for images, recurrent for sequences), conv (seed 001 Fig. 7.1: a Conv-BN-ReLU stack) or recurrent (cell, width, depth, gate bias, learning-rate rule); the residual space has no hyperparameter form.
        max_trials: ours: trials of random search and Bayesian optimisation (Hyperband sizes its own brackets).
        epochs: epochs each trial of random search and Bayesian optimisation trains (as evolution.epochs_per_trial; seed 001 §7.4: e = 4 epochs per candidate).
        hyperband_max_epochs: ours: the longest training of a Hyperband bracket (4x evolution.epochs_per_trial).
        hyperband_factor: η, the reduction factor of Hyperband's successive halving (Li et al. 2017 and Keras Tuner's default: η = 3).
        batch_size: batch size of the trials' training (as evolution.batch_size).
        learning_rate: Adam's learning rate, a fresh optimizer per trial (as evolution.learning_rate; seed 001 §7.4: 1e-3).
        fill_budget: ours (issue #18): with a wall-clock budget, max_trials (random, bayesian) or Hyperband's one iteration of brackets no longer ends the search: trials go on until the time is spent. Without a budget, nothing changes.
    """

    def __init__(self, *, space: Literal[SPACE_CHOICES] = "auto", max_trials: int = 10,
                 epochs: int = _EVOLUTION["epochs_per_trial"], hyperband_max_epochs: int = 4 * _EVOLUTION["epochs_per_trial"],
                 hyperband_factor: int = 3, batch_size: int = _EVOLUTION["batch_size"],
                 learning_rate: float = _EVOLUTION["learning_rate"], fill_budget: bool = True):
        self.check_choice("space", space, SPACE_CHOICES)
        for name, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1),
                                 ("hyperband_max_epochs", hyperband_max_epochs, 2),
                                 ("hyperband_factor", hyperband_factor, 2), ("batch_size", batch_size, 1)):
            self.check_count(name, value, low)
        self.check_positive("learning_rate", learning_rate)
        self.check_bool("fill_budget", fill_budget)
        self.space, self.max_trials, self.epochs = space, max_trials, epochs
        self.hyperband_max_epochs, self.hyperband_factor = hyperband_max_epochs, hyperband_factor
        self.batch_size, self.learning_rate = batch_size, float(learning_rate)
        self.fill_budget = fill_budget
