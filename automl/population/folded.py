"""The member-folded forward pass: P members of a chain model in one pass of ordinary layer ops.

Member activations travel as [B, ..., P*C] (member p's channel c at p*C + c) and the P
members' weights are laid side by side, so that
  - a Dense or Conv layer on the shared input batch is one layer with P times the units,
  - a Conv layer on member activations is one grouped convolution (groups = P),
  - a Dense layer on member activations is one batched matmul,
  - bias, pooling and inference-mode BatchNorm stay plain last-axis ops; activations act on
    each member's own channels.
The same arithmetic under `vectorized_map` ran slower for a small CNN (256 members, 2 CPU
cores: 493 ms vs 266 ms here; benchmarks/population.py engine). For dense-only nets it is the
other way round, so the pass covers chains (each layer feeds the next) of the layers below, in
float32, channels last, with at least one convolution. Any other model keeps the
`vectorized_map` route, which handles every Keras layer.
"""
from __future__ import annotations

import keras
from keras import ops

from automl.population.backend import grouped_conv

L = keras.layers
DENSE = (L.Dense,)
CONV = (L.Conv1D, L.Conv2D)  # TensorFlow has no grouped 3-D convolution on the CPU
POOL = (L.MaxPooling1D, L.MaxPooling2D, L.AveragePooling1D, L.AveragePooling2D)
GLOBAL_POOL = {L.GlobalAveragePooling1D: ops.mean, L.GlobalAveragePooling2D: ops.mean,
               L.GlobalMaxPooling1D: ops.max, L.GlobalMaxPooling2D: ops.max}
ELEMENTWISE = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.Rescaling)
# identities at inference, which is how every member is evaluated
INFERENCE_IDENTITY = (L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
                      L.GaussianNoise, L.GaussianDropout, L.AlphaDropout, L.ActivityRegularization)


# how many trainable variables a layer of each weighted kind must bring
WEIGHTED = {"dense": lambda layer: 1 + layer.use_bias, "conv": lambda layer: 1 + layer.use_bias,
            "norm": lambda layer: int(layer.scale) + int(layer.center)}


class Unsupported(Exception):
    """The model is not a chain of layers this pass expresses; the engine uses vectorized_map."""


def chain_layers(model: keras.Model) -> list:
    """The model's layers if each one feeds the next, from its single input to its single output."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError) as error:
        raise Unsupported(f"no functional graph ({error})") from None
    if not inputs or len(inputs) != 1 or len(outputs) != 1:
        raise Unsupported("not one input and one output")
    tensor, chain = inputs[0], []
    for layer in model.layers:
        if isinstance(layer, L.InputLayer):
            continue
        if len(layer._inbound_nodes) != 1:
            raise Unsupported(f"layer {layer.name!r} is called more than once")
        if layer.input is not tensor:
            raise Unsupported(f"layer {layer.name!r} does not take the previous layer's output")
        tensor = layer.output
        chain.append(layer)
    if tensor is not outputs[0]:
        raise Unsupported("the last layer is not the model's output")
    return chain


class FoldedForward:
    """outputs [P, B, ...] of the P members (weights [P, *shape] per trainable variable)."""

    def __init__(self, model: keras.Model, variables: list):
        index = {id(v): i for i, v in enumerate(variables)}
        nt_index = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
        self.steps, used = [], set()
        self.member_input = True  # whether member-stacked inputs ([P, B, ...]) can go through too
        self.outputs = model.outputs[0].shape[-1]
        for layer in chain_layers(model):
            if layer.compute_dtype != "float32":
                raise Unsupported(f"layer {layer.name!r} computes in {layer.compute_dtype}")
            own = [index.get(id(v)) for v in layer.trainable_variables]
            if None in own:
                raise Unsupported(f"layer {layer.name!r} has weights outside the population")
            used.update(own)
            kind = _kind(layer)
            nts = [nt_index[id(v)] for v in layer.non_trainable_variables]
            if kind in WEIGHTED and len(own) != WEIGHTED[kind](layer) or kind == "norm" and len(nts) != 2:
                raise Unsupported(f"layer {layer.name!r} has frozen weights")
            if kind is None:
                if used:  # this layer's or an earlier layer's weights: activations are per member
                    raise Unsupported(f"no folded form of {type(layer).__name__} ({layer.name!r})")
                kind, self.member_input = "shared", False  # before any member weights: one call serves all
            self.steps.append((kind, layer, own, nts))
        if len(used) != len(variables):
            raise Unsupported("some population weights belong to no layer of the chain")

    @classmethod
    def of(cls, model: keras.Model, variables: list) -> "FoldedForward | None":
        """The folded pass for a chain with a convolution; None otherwise. Without one, the
        folded layout only adds transposes around the batched matmuls: the digits MLP at P = 4,173
        took 0.17 s folded vs 0.10 s under vectorized_map (per-member batches of 64) and 0.55 s
        vs 0.44 s (one batch of 1,024, P = 2,000)."""
        try:
            forward = cls(model, variables)
        except Unsupported:
            return None
        return forward if any(kind == "conv" for kind, *_ in forward.steps) else None

    def __call__(self, weights: list, non_trainable: list, x, member_input: bool = False):
        """weights: one [P, *shape] tensor per population variable; x: [B, ...], or [P, B, ...]
        with member_input (each member its own batch)."""
        if member_input and not self.member_input:
            raise ValueError("this model's first layers take one shared batch, not one batch per member")
        member = member_input
        h = _fold(ops.moveaxis(x, 0, -2)) if member_input else x
        for kind, layer, own, nts in self.steps:
            w = [weights[i] for i in own]
            if kind == "shared":
                h, _ = layer.stateless_call([], [non_trainable[i] for i in nts], h, training=False)
            elif kind == "dense":
                h = _dense(layer, w, h, member)
            elif kind == "conv":
                h = grouped_conv(h, _side_by_side(w[0]), layer.strides, layer.padding, layer.dilation_rate)
                h = _activation(layer.activation, _add_bias(layer, w, h), layer.filters)
            elif kind == "norm":
                h = _batch_norm(layer, w, [non_trainable[i] for i in nts], h, member)
            elif kind == "global":
                h = GLOBAL_POOL[type(layer)](h, axis=tuple(range(1, len(h.shape) - 1)), keepdims=layer.keepdims)
            elif kind == "flatten" and member:
                h = _flatten(h, layer.input.shape[-1])
            elif kind == "elementwise" and member:
                h = _activation(layer, h, layer.output.shape[-1])
            elif kind != "identity":  # pooling acts per channel; anything on the shared batch
                h = layer(h)
            member = member or bool(own)
        return ops.moveaxis(_unfold(h, self.outputs), -2, 0)


def _kind(layer) -> str | None:
    kind = type(layer)
    if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
        return None
    if kind in DENSE:
        return "dense"
    if kind in CONV and layer.groups == 1 and layer.data_format == "channels_last" and layer.padding in ("same", "valid"):
        return "conv"
    if kind is L.BatchNormalization and layer.axis in (-1, len(layer.input.shape) - 1):
        return "norm"
    if kind in POOL and layer.data_format == "channels_last":
        return "pool"
    if kind in GLOBAL_POOL and layer.data_format == "channels_last":
        return "global"
    if kind is L.Flatten and layer.data_format == "channels_last":
        return "flatten"
    if kind in ELEMENTWISE or (kind is L.Softmax and layer.axis == -1):
        return "elementwise"
    if kind in INFERENCE_IDENTITY:
        return "identity"
    return None


def _fold(h):
    """[B, ..., P, C] -> [B, ..., P*C] (member p's channel c at p*C + c): how member activations
    travel, so that channel-wise ops (bias, pooling, BatchNorm) stay plain last-axis ops."""
    return ops.reshape(h, (*ops.shape(h)[:-2], -1))


def _unfold(h, channels: int):
    """[B, ..., P*C] -> [B, ..., P, C]."""
    return ops.reshape(h, (*ops.shape(h)[:-1], -1, channels))


def _side_by_side(kernel):
    """[P, ..., C, O] -> [..., C, P*O]: output channel p*O + o is member p's channel o."""
    rank = len(kernel.shape)
    moved = ops.transpose(kernel, (*range(1, rank - 1), 0, rank - 1))
    return ops.reshape(moved, (*kernel.shape[1:-1], -1))


def _activation(function, h, channels: int):
    """An activation on each member's own channels (softmax normalises over them, not over P*C)."""
    return _fold(function(_unfold(h, channels)))


def _add_bias(layer, w, h):
    return h + ops.reshape(w[1], (-1,)) if layer.use_bias else h


def _dense(layer, w, h, member):
    kernel = w[0]
    if member:
        h = _fold(ops.einsum("...pf,pfo->...po", _unfold(h, kernel.shape[1]), kernel))
    else:
        h = ops.matmul(h, _side_by_side(kernel))
    return _activation(layer.activation, _add_bias(layer, w, h), layer.units)


def _batch_norm(layer, w, stats, h, member):
    """Inference-mode BatchNorm with each member's scale and offset and the shared statistics."""
    mean, variance = stats
    w = list(w)
    gamma = w.pop(0) if layer.scale else ops.ones((1, mean.shape[0]))
    beta = w.pop(0) if layer.center else ops.zeros((1, mean.shape[0]))
    scale = gamma * ops.rsqrt(variance + layer.epsilon)  # [P, C]
    shift = beta - mean * scale
    if member or not (layer.scale or layer.center):
        return h * ops.reshape(scale, (-1,)) + ops.reshape(shift, (-1,))
    return _fold(ops.expand_dims(h, -2) * scale + shift)  # the shared batch becomes P members


def _flatten(h, channels: int):
    """[B, ..., P*C] -> [B, P * prod(...) * C]: each member's features in the model's order."""
    h = _unfold(h, channels)
    rank = len(h.shape)
    moved = ops.transpose(h, (0, rank - 2, *range(1, rank - 2), rank - 1))
    return ops.reshape(moved, (ops.shape(h)[0], -1))
