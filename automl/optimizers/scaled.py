"""Per-variable learning rates: seed 000's rule beta_DMU = beta / (2n) for the DMU cell's weights.

Adam is invariant to rescaling a gradient, so the rule cannot be a gradient multiplier
(reference 000 §2.2.4); these optimizers scale the learning rate itself inside the update of
the chosen variables. `multipliers` maps variable paths to factors and is part of the config,
so a saved model's optimizer keeps the rule.
"""
from __future__ import annotations

import keras


class _LRMultipliers:
    def __init__(self, *args, multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.multipliers = {str(k): float(v) for k, v in (multipliers or {}).items()}

    def build(self, variables):
        super().build(variables)
        self._scales = [self.multipliers.get(v.path, 1.0) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._scales[self._get_variable_index(variable)]
        if scale != 1.0:
            learning_rate = learning_rate * scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "multipliers": self.multipliers}


@keras.saving.register_keras_serializable(package="automl")
class ScaledAdam(_LRMultipliers, keras.optimizers.Adam):
    pass


@keras.saving.register_keras_serializable(package="automl")
class ScaledSGD(_LRMultipliers, keras.optimizers.SGD):
    pass


def lr_multipliers(model: keras.Model) -> dict[str, float]:
    """Variable path -> factor for every layer (or RNN cell) that declares an `lr_multiplier`."""
    found = {}
    for layer in model._flatten_layers(include_self=False):
        for owner in (layer, getattr(layer, "cell", None)):
            factor = getattr(owner, "lr_multiplier", None)
            if owner is not None and factor is not None:
                found.update({v.path: float(factor) for v in owner.trainable_variables})
    return found
