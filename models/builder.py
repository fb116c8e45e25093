"""Builds a Keras model from a ResNetSpec.

The block follows eq. (4.1) of seed 002: x + ReLU(BN(W2 * ReLU(BN(W1 * x)))), i.e.
Conv -> BN -> ReLU twice, then the addition with nothing after it (reference §2a.1 and
ambiguity 11: the thesis' order, not the code's BN-before-conv).
Convs carry no bias: the BN that follows each one makes a bias redundant.
"""
from __future__ import annotations

import keras

from models.layers import ChannelPad
from models.preprocess import Preprocess
from models.spec import HEAD, STEM, Block, Pool, ResNetSpec, block_layer, shortcut_kind


def build_model(
    spec: ResNetSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    preprocess: Preprocess | None = None,
    kernel_initializer="he_normal",
) -> keras.Model:
    """A classifier whose output is class probabilities (softmax)."""
    spec.validate()
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = preprocess.layer()(inputs) if preprocess is not None else inputs
    bn = dict(momentum=spec.bn_momentum, epsilon=1e-3)

    x = keras.layers.Conv2D(
        spec.stem_filters, spec.stem_kernel, strides=spec.stem_stride, padding="same",
        use_bias=False, kernel_initializer=kernel_initializer, name=f"{STEM}_conv",
    )(x)
    x = keras.layers.BatchNormalization(name=f"{STEM}_bn", **bn)(x)
    x = keras.layers.ReLU(name=f"{STEM}_relu")(x)
    if spec.stem_pool is not None:
        x = _pool(spec.stem_pool, f"{STEM}_pool")(x)

    for s, stage in enumerate(spec.stages):
        if stage.pool is not None:
            x = _pool(stage.pool, f"stage{s}_pool")(x)
        for block in stage.blocks:
            x = _block(x, block, bn, kernel_initializer)

    x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD}_gap")(x)
    for i, units in enumerate(spec.head_units):
        x = keras.layers.Dense(units, activation="relu", name=f"{HEAD}_dense{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name=f"{HEAD}_out")(x)
    return keras.Model(inputs, outputs, name=spec.name)


def _pool(pool: Pool, name: str) -> keras.layers.Layer:
    layer = keras.layers.MaxPooling2D if pool.kind == "max" else keras.layers.AveragePooling2D
    return layer(pool.size, strides=pool.stride, padding="same", name=name)


def _block(x, block: Block, bn: dict, kernel_initializer):
    in_channels = x.shape[-1]
    y = x
    for i, stride in ((1, block.stride), (2, 1)):
        y = keras.layers.Conv2D(
            block.filters, block.kernel, strides=stride, padding="same", use_bias=False,
            kernel_initializer=kernel_initializer, name=block_layer(block.id, f"conv{i}"),
        )(y)
        y = keras.layers.BatchNormalization(name=block_layer(block.id, f"bn{i}"), **bn)(y)
        y = keras.layers.ReLU(name=block_layer(block.id, f"relu{i}"))(y)

    kind = shortcut_kind(in_channels, block)
    if kind == "pad":
        x = ChannelPad(block.filters - in_channels, name=block_layer(block.id, "pad"))(x)
    elif kind == "conv":
        x = keras.layers.Conv2D(
            block.filters, 1, strides=block.stride, padding="same", use_bias=False,
            kernel_initializer=kernel_initializer, name=block_layer(block.id, "proj"),
        )(x)
    return keras.layers.Add(name=block_layer(block.id, "add"))([x, y])
