"""Optimizers beyond Keras' own: the port-Hamiltonian optimizer and per-variable learning rates
(population optimizers to come)."""
from automl.optimizers.phs import GoalOrientedBraking, PortHamiltonian
from automl.optimizers.scaled import ScaledAdam, ScaledSGD, lr_multipliers

__all__ = ["GoalOrientedBraking", "PortHamiltonian", "ScaledAdam", "ScaledSGD", "lr_multipliers"]
