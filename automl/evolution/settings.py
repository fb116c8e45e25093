"""The evolution's settings: the one definition of each parameter (see automl.settings).

Light on purpose (no TensorFlow): the command line validates `evolution.*` with this class.
"""
from __future__ import annotations

from typing import Literal

from automl.settings import AUGMENTS, Settings, is_finite_number, is_int

SPACES = ("conv", "residual", "recurrent")
SPACE_CHOICES = ("auto", *SPACES)  # auto: conv for images, recurrent for sequences
# The widths the spaces draw from: seed 001 L1166, Fig. 7.1 (C = {16, ..., 256}); the recurrent
# widths are ours. `max_channels` / `max_units` cap them.
CHANNELS = (16, 32, 64, 96, 128, 192, 256)
UNITS = (4, 8, 16, 32, 64, 128)
MODES = ("one_plus_one", "population")
OBJECTIVES = ("accuracy", "pareto")


class EvolutionSettings(Settings):
    """Lamarckian evolution's search (seed 001 Ch. 7; reference 001 §2.4, §3.4; docs/references.md).

    The defaults are a short schedule for a first result in minutes on a CPU; `preset="thesis"`
    is the thesis' (seed 001 Table 7.1 and §7.4: 512 epochs, batch 512, 30 final epochs).

    Args:
        space: auto (conv for images, recurrent for sequences); conv (seed 001 Fig. 7.1: a Conv-BN-ReLU stack, global average pooling, a dense head); residual (ResBuilder's spec space); recurrent (cell, width, depth, gate bias, learning-rate rule).
        max_channels: the widest conv (seed 001 L1166, Fig. 7.1: C = {16, ..., 256}; lower caps the widths for CPU runs, reference 001 §3.7).
        max_units: the widest recurrent layer (ours: widths 4, 8, ..., 128).
        mode: one_plus_one (seed 001 Algorithm 4, the (1+1)-EA with niching) or population (regularized evolution, Real et al. 2019, for many workers).
        objective: accuracy (seed 001 eq. 7.7: validation accuracy) or pareto (NSGA-II rank on validation accuracy and FLOPs; population mode only).
        inheritance: Lamarckian weight inheritance (seed 001 §7.3.3); False is the thesis' baseline, every child re-initialised.
        budget_epochs: total training epochs of the search, niching included (thesis 512, with 128 as the early checkpoint; seed 001 Table 7.1).
        epochs_per_trial: e, epochs each candidate trains (seed 001 §7.4: 4; baseline II 16).
        batch_size: batch size of the candidates' training (seed 001 §7.4: 512, 88 steps per epoch on CIFAR's 45k; 128 gives small data enough steps).
        learning_rate: Adam's learning rate, a fresh optimizer per candidate (seed 001 §7.4: 1e-3; reference A7.3).
        augment: auto, none, shift or shift_flip (seed 001 L1300: no augmentation).
        niching_probability: ω, the probability of a niching run from the worse child (seed 001 L1250: 0.1).
        niching_steps: k, the steps of a niching run (seed 001 L1250: 5).
        population_size: the regularized-evolution population P (ours; Real et al. 2019 use 100 at a far larger budget).
        tournament_size: the tournament sample S (ours; Real et al. 2019 use 25 of 100).
        final_epochs: epochs of the best net's final training before its one test (seed 001 §7.4: 30).
        final_boundaries: epochs after which the final training's learning rate steps down (seed 001 §7.4: 10 and 20 of 30).
        final_learning_rates: the final training's learning rates, one more than the boundaries (seed 001 §7.4: 1e-3, 1e-4, 1e-5).
        checkpoints: used-epoch marks at which the best net so far is also final-trained and tested (seed 001 §7.4 reports 128 and 512).
        worker_timeout: seconds after which a silent distributed worker is dead and its trial goes to another (ours).
        heartbeat: seconds between a distributed worker's heartbeats while it trains (ours).
        train_initial: ours (issue #18): in the (1+1)-EA the initial net trains epochs_per_trial epochs before it is scored, so the first comparison is between trained nets; the thesis scores it with its random weights (seed 001 Alg. 4 l.16), which at small budgets leaves the search comparing children with chance. False in the thesis preset. (A population's initial nets always train.)
        fill_budget: ours (issue #18), not the thesis': with a wall-clock budget, the evolution goes on past budget_epochs with more children until the time is spent (less the final training's reserve), so no budget is left unused; without one, budget_epochs ends it as before. False in the thesis preset, so its schedule is exact.
    """

    PRESETS = {
        "quick": {},
        "thesis": {"budget_epochs": 512, "batch_size": 512, "final_epochs": 30, "final_boundaries": [10, 20],
                   "fill_budget": False, "train_initial": False},
    }

    def __init__(self, *, space: Literal[SPACE_CHOICES] = "auto", max_channels: int = CHANNELS[-1], max_units: int = UNITS[-1],
                 mode: Literal[MODES] = "one_plus_one", objective: Literal[OBJECTIVES] = "accuracy",
                 inheritance: bool = True, budget_epochs: int = 64, epochs_per_trial: int = 4, batch_size: int = 128,
                 learning_rate: float = 1e-3, augment: Literal[AUGMENTS] = "none", niching_probability: float = 0.1,
                 niching_steps: int = 5, population_size: int = 16, tournament_size: int = 4, final_epochs: int = 15,
                 final_boundaries: list[int] = (5, 10), final_learning_rates: list[float] = (1e-3, 1e-4, 1e-5),
                 checkpoints: list[int] = (), worker_timeout: float = 120.0, heartbeat: float = 10.0,
                 fill_budget: bool = True, train_initial: bool = True):
        self.check_choice("space", space, SPACE_CHOICES)
        self.check_choice("mode", mode, MODES)
        self.check_choice("objective", objective, OBJECTIVES)
        self.check("objective", objective, objective != "pareto" or mode == "population",
                   "'accuracy' unless mode is 'population' (a (1+1)-EA has no population to rank)")
        self.check_choice("augment", augment, AUGMENTS)
        for name, value in (("inheritance", inheritance), ("fill_budget", fill_budget), ("train_initial", train_initial)):
            self.check_bool(name, value)
        for name, value, low in (("max_channels", max_channels, CHANNELS[0]), ("max_units", max_units, UNITS[0]),
                                 ("epochs_per_trial", epochs_per_trial, 1), ("batch_size", batch_size, 1),
                                 ("niching_steps", niching_steps, 0), ("population_size", population_size, 2),
                                 ("final_epochs", final_epochs, 0)):
            self.check_count(name, value, low)
        self.check("budget_epochs", budget_epochs, is_int(budget_epochs) and budget_epochs >= epochs_per_trial,
                   f"an integer >= epochs_per_trial ({epochs_per_trial})")
        self.check("tournament_size", tournament_size, is_int(tournament_size) and 1 <= tournament_size <= population_size,
                   f"an integer in [1, population_size ({population_size})]")
        self.check_positive("learning_rate", learning_rate)
        self.check_unit("niching_probability", niching_probability)
        final_boundaries, final_learning_rates, checkpoints = (list(final_boundaries), list(final_learning_rates),
                                                               list(checkpoints))
        self.check("final_boundaries", final_boundaries, all(is_int(b) and b > 0 for b in final_boundaries)
                   and final_boundaries == sorted(set(final_boundaries)), "increasing positive integers")
        self.check("final_learning_rates", final_learning_rates,
                   len(final_learning_rates) == len(final_boundaries) + 1
                   and all(is_finite_number(r) and r > 0 for r in final_learning_rates),
                   f"{len(final_boundaries) + 1} positive numbers, one more than final_boundaries")
        self.check("checkpoints", checkpoints, all(is_int(c) and 0 < c <= budget_epochs for c in checkpoints),
                   f"integers in (0, budget_epochs ({budget_epochs})]")
        self.check_positive("heartbeat", heartbeat, note=" (seconds)")
        self.check("worker_timeout", worker_timeout, is_finite_number(worker_timeout) and worker_timeout > heartbeat,
                   f"a number > heartbeat ({heartbeat})")
        self.space, self.max_channels, self.max_units = space, max_channels, max_units
        self.mode, self.objective, self.inheritance = mode, objective, inheritance
        self.budget_epochs, self.epochs_per_trial, self.batch_size = budget_epochs, epochs_per_trial, batch_size
        self.learning_rate, self.augment = float(learning_rate), augment
        self.niching_probability, self.niching_steps = float(niching_probability), niching_steps
        self.population_size, self.tournament_size = population_size, tournament_size
        self.final_epochs, self.final_boundaries = final_epochs, final_boundaries
        self.final_learning_rates = [float(r) for r in final_learning_rates]
        self.checkpoints = checkpoints
        self.worker_timeout, self.heartbeat = float(worker_timeout), float(heartbeat)
        self.fill_budget, self.train_initial = fill_budget, train_initial
