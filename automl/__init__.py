"""automl: AutoML for Keras 3 / TensorFlow. Searches that design, train and export a net for you
(ResBuilder, Lamarckian evolution on Keras Tuner), the population optimizers (LEEA, nDES, DE,
CoSyNE, ES) and the port-Hamiltonian optimizer, as a library; the `automl` command is a thin
client of it.

    import automl
    result = automl.search(x, y, budget="2m", directory="runs/digits")
    result.model.predict(x_new)

Names load on first use, so `import automl` is instant and the command line checks its input
without importing TensorFlow.
"""
import importlib

_EXPORTS = {
    "search": "automl.api",
    "SearchResult": "automl.api",
    "ResBuilder": "automl.resbuilder.api",
    "Evolution": "automl.evolution.api",
    "ResBuilderSettings": "automl.resbuilder.settings",
    "EvolutionSettings": "automl.evolution.settings",
    "TrainingSettings": "automl.training_settings",
    "PhsSettings": "automl.training_settings",
    "SearchRun": "automl.search_run",
    "export_run": "automl.export",
    "LEEA": "automl.population",
    "NDES": "automl.population",
    "NDES_G": "automl.population",
    "NDES_B": "automl.population",
    "DE": "automl.population",
    "CoSyNE": "automl.population",
    "MuLambdaES": "automl.population",
    "PortHamiltonian": "automl.optimizers.phs",
    "GoalOrientedBraking": "automl.optimizers.phs",
    "CoxLoss": "automl.survival",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.2.0"


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
