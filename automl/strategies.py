"""The search strategies by name, with what each does: light (no TensorFlow), so the command
line lists them in --help before anything heavy is imported."""
from __future__ import annotations

from automl.tuner_settings import STRATEGIES as KERAS_TUNERS

RESBUILDER_STRATEGIES = ("resbuilder", "morphnet")  # morphnet: MorphNet steps only, the thesis' ablation
STRATEGIES = (*RESBUILDER_STRATEGIES, "evolution", *KERAS_TUNERS)
DEFAULT_STRATEGY = "resbuilder"

DESCRIPTIONS = {
    "resbuilder": "ResBuilder: grow by near-identity blocks, prune with LayerLasso, resize with MorphNet (seed 002)",
    "morphnet": "MorphNet steps only, no insertion or removal, from ResNet-18 (the thesis' ablation)",
    "evolution": "Lamarckian evolution with weight inheritance on Keras Tuner, serial or distributed (seed 001)",
    "random": "Keras Tuner's random search over the conv or recurrent space",
    "bayesian": "Keras Tuner's Bayesian optimisation (Gaussian process) over the same spaces",
    "hyperband": "Keras Tuner's Hyperband over the same spaces",
}
assert tuple(DESCRIPTIONS) == STRATEGIES
