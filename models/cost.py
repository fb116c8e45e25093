"""Exact FLOP and parameter counts of a ResNetSpec, without building a model.

Convention (seed 002, L887-889: C_j = 2 s_j u_j v_j c_j c_{j+1}): FLOPs = 2 * multiply-adds
of every conv and dense layer. Biases, BatchNorm, ReLU, pooling, padding and the residual
additions are not counted, as in MorphNet's cost model. The preprocessing layer is not part
of the architecture and is counted in neither FLOPs nor parameters.

Parameters count every weight of the architecture, BatchNorm's moving statistics included,
so `params` equals Keras' `count_params()` over the architecture's layers.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.spec import (
    HEAD, STEM, ConvNetSpec, Pool, ResNetSpec, SpecError, block_layer, conv_out, same_out, shortcut_kind,
)


@dataclass
class LayerCost:
    name: str
    kind: str  # conv | bn | dense
    output_shape: tuple
    flops: int
    params: int
    trainable_params: int


@dataclass
class Cost:
    flops: int
    params: int
    trainable_params: int
    layers: list[LayerCost]

    def by_name(self) -> dict[str, LayerCost]:
        return {layer.name: layer for layer in self.layers}


def count(spec: ResNetSpec | ConvNetSpec, input_shape: tuple[int, int, int], num_classes: int) -> Cost:
    if isinstance(spec, ConvNetSpec):
        return _count_convnet(spec, input_shape, num_classes)
    h, w, c = (int(v) for v in input_shape)
    layers: list[LayerCost] = []

    def conv(name, c_in, c_out, kernel, stride):
        nonlocal h, w
        h, w = same_out(h, stride), same_out(w, stride)
        weights = kernel * kernel * c_in * c_out
        layers.append(LayerCost(name, "conv", (h, w, c_out), 2 * weights * h * w, weights, weights))

    def bn(name, channels):
        layers.append(LayerCost(name, "bn", (h, w, channels), 0, 4 * channels, 2 * channels))

    def pool(p: Pool | None):
        nonlocal h, w
        if p is not None:
            h, w = same_out(h, p.stride), same_out(w, p.stride)

    conv(f"{STEM}_conv", c, spec.stem_filters, spec.stem_kernel, spec.stem_stride)
    bn(f"{STEM}_bn", spec.stem_filters)
    c = spec.stem_filters
    pool(spec.stem_pool)

    for stage in spec.stages:
        pool(stage.pool)
        for b in stage.blocks:
            h_in, w_in, kind = h, w, shortcut_kind(c, b)
            conv(block_layer(b.id, "conv1"), c, b.inner, b.kernel, b.stride)
            bn(block_layer(b.id, "bn1"), b.inner)
            conv(block_layer(b.id, "conv2"), b.inner, b.filters, b.kernel, 1)
            bn(block_layer(b.id, "bn2"), b.filters)
            if kind == "conv":
                h, w = h_in, w_in
                conv(block_layer(b.id, "proj"), c, b.filters, 1, b.stride)
            c = b.filters

    return _with_head(layers, c, spec.head_units, num_classes)


def _count_convnet(spec: ConvNetSpec, input_shape, num_classes: int) -> Cost:
    h, w, c = (int(v) for v in input_shape)
    layers: list[LayerCost] = []
    for i, layer in enumerate(spec.layers):
        if isinstance(layer, Pool):
            h, w = same_out(h, layer.stride), same_out(w, layer.stride)
            continue
        h, w = conv_out(h, layer.kernel, layer.stride, layer.padding), conv_out(w, layer.kernel, layer.stride, layer.padding)
        weights = layer.kernel * layer.kernel * c * layer.filters
        bias = 0 if layer.batch_norm else layer.filters
        layers.append(LayerCost(f"conv{i}", "conv", (h, w, layer.filters), 2 * weights * h * w,
                                weights + bias, weights + bias))
        if layer.batch_norm:
            layers.append(LayerCost(f"conv{i}_bn", "bn", (h, w, layer.filters), 0, 4 * layer.filters, 2 * layer.filters))
        c = layer.filters
    features = c if spec.head == "gap" else h * w * c
    return _with_head(layers, features, spec.dense_units, num_classes)


def _with_head(layers: list[LayerCost], features: int, hidden: list[int], num_classes: int) -> Cost:
    for layer in layers:
        if min(layer.output_shape) < 1:
            raise SpecError(f"the architecture does not fit the input: {layer.name} would output {layer.output_shape}")
    for i, units in enumerate(hidden):
        layers.append(_dense(f"{HEAD}_dense{i}", features, units))
        features = units
    layers.append(_dense(f"{HEAD}_out", features, num_classes))
    return Cost(
        flops=sum(layer.flops for layer in layers),
        params=sum(layer.params for layer in layers),
        trainable_params=sum(layer.trainable_params for layer in layers),
        layers=layers,
    )


def _dense(name: str, n_in: int, n_out: int) -> LayerCost:
    weights = n_in * n_out
    return LayerCost(name, "dense", (n_out,), 2 * weights, weights + n_out, weights + n_out)
