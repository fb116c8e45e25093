"""automl: AutoML for Keras 3 / TensorFlow. Searches that design, train and export a net for you
(ResBuilder, Lamarckian evolution on Keras Tuner, Keras Tuner's built-ins on the same spaces),
the population optimizers (LEEA, nDES, DE, CoSyNE, ES) and the port-Hamiltonian optimizer, as a
library; the `automl` command is a thin client of it.

    import automl
    result = automl.search(x, y, budget="2m", directory="runs/digits")
    result.model.predict(x_new)

Names load on first use, so `import automl` is instant and the command line checks its input
without importing TensorFlow.
"""
from models.lazy import lazy_exports

_EXPORTS = {
    "search": "automl.api",
    "SearchResult": "automl.api",
    "ResBuilder": "automl.resbuilder.api",
    "Evolution": "automl.evolution.api",
    "RandomSearch": "automl.tuning",
    "BayesianOptimization": "automl.tuning",
    "Hyperband": "automl.tuning",
    "TunerSettings": "automl.tuner_settings",
    "DataSettings": "automl.data_settings",
    "ModelSettings": "automl.model_settings",
    "ResBuilderSettings": "automl.resbuilder.settings",
    "EvolutionSettings": "automl.evolution.settings",
    "TrainingSettings": "automl.training_settings",
    "PhsSettings": "automl.training_settings",
    "PopulationSettings": "automl.population_settings",
    "LeeaSettings": "automl.population_settings",
    "NdesSettings": "automl.population_settings",
    "DeSettings": "automl.population_settings",
    "CosyneSettings": "automl.population_settings",
    "EsSettings": "automl.population_settings",
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
    "CoxLoss": "automl.survival.loss",
    "SurvivalAnalysis": "automl.survival.api",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.2.0"

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
