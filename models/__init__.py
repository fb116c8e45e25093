"""Keras building blocks: architecture specs, builders, cost counting, weight transfer.

No data loading and no training loops live here (imports point models <- automl <- pipelines).
"""
from models.builder import build_model
from models.cost import Cost, count
from models.preprocess import Preprocess
from models.spec import Block, Pool, ResNetSpec, SpecError, Stage
from models.transfer import TransferReport, transfer_weights
from models.zoo import ARCHITECTURES, get_spec

__all__ = [
    "ARCHITECTURES", "Block", "Cost", "Pool", "Preprocess", "ResNetSpec", "SpecError", "Stage",
    "TransferReport", "build_model", "count", "get_spec", "transfer_weights",
]
