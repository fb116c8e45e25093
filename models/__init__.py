"""Keras building blocks: architecture specs, builders, cost counting, weight transfer.

No data loading and no training loops live here (imports point models <- automl <- pipelines).
Exports load on first use, so specs and cost counting work without importing TensorFlow,
which lets the CLI reject bad input in well under a second.
"""
from models.lazy import lazy_exports

_EXPORTS = {
    "build_model": "models.builder",
    "Cost": "models.cost",
    "count": "models.cost",
    "Preprocess": "models.preprocess",
    "Block": "models.spec",
    "Conv": "models.spec",
    "ConvNetSpec": "models.spec",
    "spec_from_dict": "models.spec",
    "Pool": "models.spec",
    "ResNetSpec": "models.spec",
    "SpecError": "models.spec",
    "Stage": "models.spec",
    "TransferReport": "models.transfer",
    "transfer_weights": "models.transfer",
    "ARCHITECTURES": "models.zoo",
    "get_spec": "models.zoo",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
