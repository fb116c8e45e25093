"""Gradient-free weight training on one vectorised population engine (issue #5).

LEEA (seed 001 Ch. 5), nDES / nDES-G / nDES-B (seed 000 B.2), Differential Evolution, CoSyNE and
a (mu, lambda)-ES (seed 003). Each is `Name(...).fit(model, (x, y), (x_val, y_val), epochs=N)`.
"""
import inspect

from automl.errors import MemoryBudgetError
from automl.population.base import PopulationOptimizer
from automl.population.cosyne import CoSyNE
from automl.population.de import DE
from automl.population.engine import PopulationEngine, WeightTable
from automl.population.es import MuLambdaES
from automl.population.leea import LEEA
from automl.population.ndes import NDES
from automl.settings import parse_args_section


def NDES_G(**kwargs) -> NDES:
    """nDES-G: nDES with a gradient step per member instead of the random noise (seed 000 B.2,
    Algorithm 1 line 18): `NDES(variant="ndes-g", ...)`."""
    return NDES(variant="ndes-g", **kwargs)


def NDES_B(**kwargs) -> NDES:
    """nDES-B: Adam with early stopping first, then nDES's differential mutation only, around the
    trained weights: `NDES(variant="ndes-b", ...)`."""
    return NDES(variant="ndes-b", **kwargs)


# help() and IDEs: NDES's keywords but `variant`, each with its documentation.
for _variant in (NDES_G, NDES_B):
    _variant.__signature__ = inspect.Signature(
        [p for p in inspect.signature(NDES).parameters.values() if p.name != "variant"], return_annotation=NDES)
    _variant.__doc__ += "\n\n    Args:\n" + "\n".join(
        f"        {name}: {text}" for name, text in parse_args_section(NDES.__doc__).items() if name != "variant")

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
