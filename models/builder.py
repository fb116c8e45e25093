"""Builds a Keras model from a ResNetSpec.

The block follows eq. (4.1) of seed 002: x + ReLU(BN(W2 * ReLU(BN(W1 * x)))), i.e.
Conv -> BN -> ReLU twice, then the addition with nothing after it (reference §2a.1 and
ambiguity 11: the thesis' order, not the code's BN-before-conv).
Convs carry no bias: the BN that follows each one makes a bias redundant.
"""
from __future__ import annotations

import keras

from models.cost import count
from models.layers import ChannelPad
from models.preprocess import Preprocess
from models.spec import (
    HEAD, STEM, Block, Conv, ConvNetSpec, Pool, ResNetSpec, SpecError, block_layer, shortcut_kind,
)

MAX_PARAMS = 1_000_000_000  # 4 GB of float32 weights (12 GB with Adam's moments): checked before Keras allocates


def build_model(
    spec: ResNetSpec | ConvNetSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    preprocess: Preprocess | None = None,
    kernel_initializer="he_normal",
    block_l1: float = 0.0,
    l2: float = 0.0,
) -> keras.Model:
    """A classifier whose output is class probabilities (softmax).

    block_l1 puts an L1 penalty on the kernels of residual-block convs only (ResBuilder's
    LayerLasso, seed 002 L923: not the stem, not the head); l2 puts an L2 penalty on every
    conv and dense kernel (ResBuilder's lambda_0).
    """
    spec.validate()
    params = count(spec, input_shape, num_classes).params
    if params > MAX_PARAMS:
        raise SpecError(f"{spec.name}: {params:,} parameters on input {tuple(input_shape)}, more than the "
                        f"{MAX_PARAMS:,} this tool builds; make it narrower or shallower")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = preprocess.layer()(inputs) if preprocess is not None else inputs
    bn = dict(momentum=spec.bn_momentum, epsilon=1e-3)
    plain = dict(kernel_initializer=kernel_initializer, kernel_regularizer=keras.regularizers.L2(l2) if l2 else None)
    if isinstance(spec, ConvNetSpec):
        return _convnet(spec, inputs, x, num_classes, bn, plain)

    x = keras.layers.Conv2D(
        spec.stem_filters, spec.stem_kernel, strides=spec.stem_stride, padding="same",
        use_bias=False, name=f"{STEM}_conv", **plain,
    )(x)
    x = keras.layers.BatchNormalization(name=f"{STEM}_bn", **bn)(x)
    x = keras.layers.ReLU(name=f"{STEM}_relu")(x)
    if spec.stem_pool is not None:
        x = _pool(spec.stem_pool, f"{STEM}_pool")(x)

    for s, stage in enumerate(spec.stages):
        if stage.pool is not None:
            x = _pool(stage.pool, f"stage{s}_pool")(x)
        for block in stage.blocks:
            x = _block(x, block, bn, plain, block_l1, l2)

    x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD}_gap")(x)
    return keras.Model(inputs, _classifier(x, spec.head_units, num_classes, plain), name=spec.name)


def _classifier(x, hidden: list[int], num_classes: int, plain: dict, activation: str = "relu"):
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation=activation, name=f"{HEAD}_dense{i}", **plain)(x)
    return keras.layers.Dense(num_classes, activation="softmax", name=f"{HEAD}_out", **plain)(x)


def _convnet(spec: ConvNetSpec, inputs, x, num_classes: int, bn: dict, plain: dict) -> keras.Model:
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Conv):
            x = keras.layers.Conv2D(
                layer.filters, layer.kernel, strides=layer.stride, padding=layer.padding,
                use_bias=not layer.batch_norm, name=f"conv{i}", **plain,
            )(x)
            if layer.batch_norm:
                x = keras.layers.BatchNormalization(name=f"conv{i}_bn", **bn)(x)
            x = keras.layers.Activation(spec.activation, name=f"conv{i}_{spec.activation}")(x)
        else:
            x = _pool(layer, f"pool{i}")(x)
    if spec.head == "gap":
        x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD}_gap")(x)
    else:
        x = keras.layers.Flatten(name=f"{HEAD}_flatten")(x)
    return keras.Model(inputs, _classifier(x, spec.dense_units, num_classes, plain, spec.activation), name=spec.name)


def _pool(pool: Pool, name: str) -> keras.layers.Layer:
    layer = keras.layers.MaxPooling2D if pool.kind == "max" else keras.layers.AveragePooling2D
    return layer(pool.size, strides=pool.stride, padding="same", name=name)


def _block(x, block: Block, bn: dict, plain: dict, block_l1: float, l2: float):
    in_channels = x.shape[-1]
    lasso = keras.regularizers.L1L2(l1=block_l1, l2=l2) if block_l1 else plain["kernel_regularizer"]
    y = x
    for i, stride, width in ((1, block.stride, block.inner), (2, 1, block.filters)):
        y = keras.layers.Conv2D(
            width, block.kernel, strides=stride, padding="same", use_bias=False,
            kernel_initializer=plain["kernel_initializer"], kernel_regularizer=lasso,
            name=block_layer(block.id, f"conv{i}"),
        )(y)
        y = keras.layers.BatchNormalization(name=block_layer(block.id, f"bn{i}"), **bn)(y)
        y = keras.layers.ReLU(name=block_layer(block.id, f"relu{i}"))(y)

    kind = shortcut_kind(in_channels, block)
    if kind == "pad":
        x = ChannelPad(block.filters - in_channels, name=block_layer(block.id, "pad"))(x)
    elif kind == "conv":
        x = keras.layers.Conv2D(
            block.filters, 1, strides=block.stride, padding="same", use_bias=False,
            name=block_layer(block.id, "proj"), **plain,
        )(x)
    return keras.layers.Add(name=block_layer(block.id, "add"))([x, y])
