"""Optimizers beyond Keras' own: the port-Hamiltonian optimizer, per-variable learning rates, and
the gradient-free population optimizers (`LEEA(...).fit(model, (x, y), (x_val, y_val), epochs=N)`)."""
from automl.optimizers.phs import GoalOrientedBraking, PortHamiltonian
from automl.optimizers.scaled import ScaledAdam, ScaledSGD, lr_multipliers
from automl.population import DE, LEEA, NDES, NDES_B, NDES_G, CoSyNE, MuLambdaES

__all__ = ["DE", "LEEA", "NDES", "NDES_B", "NDES_G", "CoSyNE", "GoalOrientedBraking", "MuLambdaES", "PortHamiltonian",
           "ScaledAdam", "ScaledSGD", "lr_multipliers"]
