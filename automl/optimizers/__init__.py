"""Optimizers beyond Keras' own: the port-Hamiltonian optimizer (population optimizers to come)."""
from automl.optimizers.phs import GoalOrientedBraking, PortHamiltonian

__all__ = ["GoalOrientedBraking", "PortHamiltonian"]
