"""Gradient-free weight training on one vectorised population engine (issue #5).

LEEA (seed 001 Ch. 5), nDES / nDES-G / nDES-B (seed 000 B.2), Differential Evolution, CoSyNE and
a (mu, lambda)-ES (seed 003). Each is `Name(...).fit(model, (x, y), (x_val, y_val), epochs=N)`.
"""
from automl.errors import MemoryBudgetError
from automl.population.base import PopulationOptimizer
from automl.population.cosyne import CoSyNE
from automl.population.de import DE
from automl.population.engine import PopulationEngine, WeightTable
from automl.population.es import MuLambdaES
from automl.population.leea import LEEA
from automl.population.ndes import NDES


def NDES_G(**kwargs) -> NDES:
    return NDES(variant="ndes-g", **kwargs)


def NDES_B(**kwargs) -> NDES:
    return NDES(variant="ndes-b", **kwargs)


POPULATION_OPTIMIZERS = {
    "leea": LEEA,
    "ndes": NDES,
    "ndes-g": NDES_G,
    "ndes-b": NDES_B,
    "de": DE,
    "cosyne": CoSyNE,
    "es": MuLambdaES,
}

__all__ = ["CoSyNE", "DE", "LEEA", "MemoryBudgetError", "MuLambdaES", "NDES", "NDES_B", "NDES_G",
           "POPULATION_OPTIMIZERS", "PopulationEngine", "PopulationOptimizer", "WeightTable"]
