"""Lamarckian weight inheritance: apply a space's plan from a trained parent to a fresh child.

The child model is built with fresh initial weights (Glorot-uniform kernels, Keras' BN
initial values: reference A7.5); whatever the plan keeps is overwritten with the parent's
trained values. Returns the share of the child's weights that came from the parent.
"""
from __future__ import annotations

import numpy as np

from automl.resbuilder.settings import ResBuilderSettings
from models.spec import HEAD, ResNetSpec
from models.transfer import transfer_weights

# An inserted block's weights start near zero, as ResBuilder's do (resbuilder.init_mean_abs).
_NEAR_IDENTITY = ResBuilderSettings.defaults()["init_mean_abs"]


def _size(layer) -> int:
    return sum(int(w.size) for w in layer.get_weights())


def inherit(plan: dict, parent, child, child_spec=None, parent_spec=None, near_identity: float = _NEAR_IDENTITY,
            seed: int = 0) -> float:
    """Copy the parent's weights into `child` as `plan` says; the share copied, in [0, 1]."""
    total = sum(_size(layer) for layer in child.layers)
    if plan.get("nothing") or parent is None or not total:
        return 0.0
    if plan.get("by_name"):
        copied = transfer_weights(parent, child).copied_weights
        if isinstance(child_spec, ResNetSpec) and isinstance(parent_spec, ResNetSpec):
            from automl.resbuilder.growth import init_near_identity

            old = {b.id for b in parent_spec.blocks()}
            rng = np.random.default_rng(seed)
            for block in child_spec.blocks():
                if block.id not in old:  # an inserted block starts near the identity (ResBuilder)
                    init_near_identity(child, block.id, near_identity, rng)
        return copied / total

    copied = 0
    for j, (source, kernel, rest) in enumerate(plan["blocks"]):
        if source is None:
            continue
        if kernel:
            copied += _copy(parent.get_layer(f"conv{source}"), child.get_layer(f"conv{j}"))
        if rest:
            copied += _copy(parent.get_layer(f"conv{source}_bn"), child.get_layer(f"conv{j}_bn"))
    if plan["head"]:
        copied += _copy(parent.get_layer(f"{HEAD}_out"), child.get_layer(f"{HEAD}_out"))
    return copied / total


def _copy(source, target) -> int:
    weights = source.get_weights()
    shapes = [w.shape for w in weights], [w.shape for w in target.get_weights()]
    if shapes[0] != shapes[1]:  # the plan only keeps what keeps its shape; anything else is a bug
        raise ValueError(f"inheritance plan copies {source.name} {shapes[0]} into {target.name} {shapes[1]}")
    target.set_weights(weights)
    return sum(int(w.size) for w in weights)
