"""ResBuilder's "random in - greedy out" (seed 002 §4.4.3-4.4.5; reference §2a.3, §2a.5).

Insertion: pick a pooling stage uniformly, then a position inside it uniformly (directly behind
the pool is allowed); the new 2-conv block takes the width of the conv before it and starts
near the identity. Removal (LayerLasso): after a With-Reg training, every *inserted* block with a
conv whose mean |w| is below tau is removed (reference ambiguity 1: the mean, not the sum).
"""
from __future__ import annotations

import math

import numpy as np

from models.spec import Block, ResNetSpec, block_layer

BLOCK_CONVS = ("conv1", "conv2")


def width_before(spec: ResNetSpec, stage: int, position: int) -> int:
    """Output width of the conv in front of blocks[position] of `stage`."""
    width = spec.stem_filters
    for s, st in enumerate(spec.stages[: stage + 1]):
        for b in st.blocks if s < stage else st.blocks[:position]:
            width = b.filters
    return width


def insert_random_block(spec: ResNetSpec, rng: np.random.Generator, seen: set[str],
                        attempts: int = 10) -> tuple[ResNetSpec, int] | None:
    """A copy of `spec` with one new block, never one whose signature is in `seen`.

    Up to `attempts` draws of stage then position (the code's avoid_double_architectures);
    if all were trained before, every remaining place in random order, so None means that no
    single insertion gives a new architecture.
    """
    def grow(stage: int, position: int):
        grown = spec.copy()
        block_id = grown.next_block_id()
        grown.stages[stage].blocks.insert(
            position, Block(block_id, width_before(spec, stage, position), inserted=True))
        return (grown, block_id) if grown.signature() not in seen else None

    for _ in range(attempts):
        stage = int(rng.integers(len(spec.stages)))
        found = grow(stage, int(rng.integers(len(spec.stages[stage].blocks) + 1)))
        if found:
            return found
    places = [(s, p) for s, st in enumerate(spec.stages) for p in range(len(st.blocks) + 1)]
    for i in rng.permutation(len(places)):
        found = grow(*places[i])
        if found:
            return found
    return None


def init_near_identity(model, block_id: int, mean_abs: float, rng: np.random.Generator) -> None:
    """Zero-mean normal kernels with E|w| = mean_abs (sigma = mean_abs * sqrt(pi / 2)).

    Seed 002 L963: "an average initial weight of the order of 1e-2", so the block starts close
    to the identity but breaks symmetry. mean_abs = 0 makes it exactly the identity.
    """
    sigma = mean_abs * math.sqrt(math.pi / 2)
    for part in BLOCK_CONVS:
        layer = model.get_layer(block_layer(block_id, part))
        kernel = layer.kernel
        layer.kernel.assign(rng.normal(0.0, sigma, kernel.shape).astype(kernel.dtype))


def mean_abs_weights(model, spec: ResNetSpec) -> dict[int, dict[str, float]]:
    """Mean |w| of each block conv kernel: {block id: {"conv1": ..., "conv2": ...}}."""
    return {
        b.id: {part: float(np.mean(np.abs(model.get_layer(block_layer(b.id, part)).kernel.numpy())))
               for part in BLOCK_CONVS}
        for b in spec.blocks()
    }


def blocks_to_remove(spec: ResNetSpec, mean_abs: dict[int, dict[str, float]], tau: float) -> list[int]:
    """Inserted blocks with at least one conv whose mean |w| is below tau (eq. 4.6)."""
    return [b.id for b in spec.blocks() if b.inserted and min(mean_abs[b.id].values()) < tau]


def remove_blocks(spec: ResNetSpec, block_ids: list[int]) -> ResNetSpec:
    pruned = spec.copy()
    for stage in pruned.stages:
        stage.blocks = [b for b in stage.blocks if b.id not in block_ids]
    return pruned
