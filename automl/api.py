"""`automl.search()`: the common case in one call.

    result = automl.search(x, y, strategy="resbuilder", budget="3m", directory="runs/digits")
    result.model.predict(x_new)

`directory` is the run directory itself (`automl report` and `automl export` accept it); a
second call with the same directory continues the run, or returns it if it is complete.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automl.strategies import DEFAULT_STRATEGY, DESCRIPTIONS, KERAS_TUNERS, STRATEGIES


@dataclass
class SearchResult:
    """What `automl.search` found.

    Args:
        model: the best net, trained (a keras.Model, preprocessing inside: it takes raw images).
        summary: the run's summary (validation and, with test data, test accuracy, FLOPs, params...).
        directory: the run directory.
        tuner: the automl.ResBuilder, automl.Evolution, automl.RandomSearch, automl.BayesianOptimization or automl.Hyperband that ran, for results_summary() and export().
    """

    model: object
    summary: dict
    directory: Path
    tuner: object


def search(x, y=None, *, strategy: str = DEFAULT_STRATEGY, directory="runs/search", validation_data=None,
           validation_split: float | None = None, epochs: int | None = None, test_data=None,
           **settings) -> SearchResult:
    """Searches a net for images `x` with labels `y` and returns the best, trained.

    Args:
        x: training images (N, H, W) or (N, H, W, C), or a tf.data.Dataset of (image, label) pairs.
        y: their labels (any values; numbered in sorted order and kept as class names).
        strategy: one of {strategies}.
        directory: the run directory (its parent folder is made if needed).
        validation_data: (images, labels) to choose on; else `validation_split` of x is held out.
        validation_split: the share of x held out for validation (default: automl.DataSettings' validation_split).
        epochs: epochs per training (resbuilder) or per candidate (evolution, random, bayesian; Hyperband sets its own).
        test_data: (images, labels) measured for reporting only, never to choose.
        **settings: the run's arguments of automl.SearchRun (`budget`, e.g. "90s", "6m", "2h"; `seed`; `overwrite`; `verbose`) and the strategy's own settings, as automl.ResBuilder, automl.Evolution or the Keras Tuner classes take them.
    """
    from automl.settings import ArgumentError, one_of

    if strategy not in STRATEGIES:
        raise ArgumentError("automl.search", "strategy", strategy, one_of(STRATEGIES))
    path = Path(directory)
    common = dict(directory=str(path.parent), project_name=path.name)
    if strategy == "evolution":
        from automl.evolution.api import Evolution

        tuner = Evolution(**common, **settings)
    elif strategy in KERAS_TUNERS:
        from automl.tuning import TUNERS

        tuner = TUNERS[strategy](**common, **settings)
    else:
        from automl.resbuilder.api import ResBuilder

        tuner = ResBuilder(**common, strategy=strategy, **settings)
    summary = tuner.search(x, y, validation_data=validation_data, validation_split=validation_split, epochs=epochs,
                           test_data=test_data)
    return SearchResult(model=tuner.get_best_models(1)[0], summary=summary, directory=path, tuner=tuner)


search.__doc__ = search.__doc__.replace("{strategies}", "; ".join(
    f"{name}{' (default)' if name == DEFAULT_STRATEGY else ''}: {text}" for name, text in DESCRIPTIONS.items()))
