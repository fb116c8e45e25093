"""MorphNet for ResBuilder (seed 002 §4.4.2.1, Script 4.1; reference §2a.2, ambiguities 3-5).

Regularizer: the FLOP-weighted group lasso on BatchNorm gammas, read cleanly (ambiguity 3):
for conv j with per-channel-pair cost c_j = 2 k_h k_w H_out W_out,
    G(j) = c_j * ( sum_p |gamma_in,p| * B_j  +  A_j * sum_k |gamma_out,k| )
where A_j and B_j count the alive (|gamma| > tau) input and output channels. gamma_out is the BN
right after conv j; gamma_in is the BN that produced conv j's input. For a block's first conv
and its projection that is the last BN feeding the residual stream (the previous block's bn2,
or the stem's BN): a simplification of MorphNet's grouping of the channels that the identity
skips tie together, documented here. The stem's input is the image, which has no gamma and
is treated as all alive, contributing only its A_j * sum|gamma_out| term.

Step: shrink every conv to its alive channels, blend with the old width by intensity I
(ambiguity 5), then scale all widths by the largest kappa with FLOPs(kappa * c') <= zeta, found by
bisection on the exact counter (ambiguity 4), not by sqrt(zeta / F).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from models.cost import count
from models.spec import STEM, ResNetSpec, block_layer


@dataclass
class ConvGroup:
    conv: str       # conv layer name
    bn_out: str     # the BN after it
    bn_in: str | None  # the BN that produced its input; None for the image
    pair_cost: int  # 2 * k_h * k_w * H_out * W_out


def conv_groups(spec: ResNetSpec, input_shape, num_classes: int) -> list[ConvGroup]:
    """Every conv with a BN after it (the stem and both convs of each block)."""
    costs = count(spec, input_shape, num_classes).by_name()

    def pair_cost(conv: str, c_in: int) -> int:
        entry = costs[conv]
        return entry.flops // (c_in * entry.output_shape[-1])

    groups = [ConvGroup(f"{STEM}_conv", f"{STEM}_bn", None, pair_cost(f"{STEM}_conv", input_shape[-1]))]
    stream_bn, width = f"{STEM}_bn", spec.stem_filters
    for b in spec.blocks():
        conv1, conv2 = block_layer(b.id, "conv1"), block_layer(b.id, "conv2")
        groups.append(ConvGroup(conv1, block_layer(b.id, "bn1"), stream_bn, pair_cost(conv1, width)))
        groups.append(ConvGroup(conv2, block_layer(b.id, "bn2"), block_layer(b.id, "bn1"), pair_cost(conv2, b.inner)))
        stream_bn, width = block_layer(b.id, "bn2"), b.filters
    return groups


def morphnet_penalty(model: keras.Model, groups: list[ConvGroup], tau: float):
    """G_M (eq. 4.3) as a differentiable tensor; the alive counts carry no gradient."""
    total = 0.0
    for g in groups:
        gamma_out = ops.abs(model.get_layer(g.bn_out).gamma)
        alive_out = ops.stop_gradient(ops.sum(ops.cast(gamma_out > tau, "float32")))
        if g.bn_in is None:
            in_term, alive_in = 0.0, float(model.get_layer(g.conv).kernel.shape[2])
        else:
            gamma_in = ops.abs(model.get_layer(g.bn_in).gamma)
            alive_in = ops.stop_gradient(ops.sum(ops.cast(gamma_in > tau, "float32")))
            in_term = ops.sum(gamma_in) * alive_out
        total = total + g.pair_cost * (in_term + alive_in * ops.sum(gamma_out))
    return total


def alive_channels(model: keras.Model, groups: list[ConvGroup], tau: float) -> dict[str, int]:
    return {g.conv: int(ops.convert_to_numpy(ops.sum(ops.abs(model.get_layer(g.bn_out).gamma) > tau)))
            for g in groups}


class Collapse(Exception):
    """MorphNet shrank the net to nothing usable (seed 002 L1227: the run "broke down")."""


def with_widths(spec: ResNetSpec, widths: dict[str, int]) -> ResNetSpec:
    """A copy with new conv widths; a block with a 0-width conv is removed with its skip."""
    out = spec.copy()
    out.stem_filters = widths[f"{STEM}_conv"]
    for stage in out.stages:
        kept = []
        for b in stage.blocks:
            inner, filters = widths[block_layer(b.id, "conv1")], widths[block_layer(b.id, "conv2")]
            if inner < 1 or filters < 1:
                continue
            b.mid_filters, b.filters = inner, filters
            kept.append(b)
        stage.blocks = kept
    return out


def fit_to_budget(spec: ResNetSpec, widths: dict[str, float], zeta: float, input_shape, num_classes: int,
                  iterations: int = 60) -> tuple[ResNetSpec, float]:
    """The largest kappa with FLOPs(floor(kappa * widths)) <= zeta, and the spec it gives."""
    if widths[f"{STEM}_conv"] <= 0:
        raise Collapse("MorphNet removed every channel of the stem conv; no usable net is left")

    def scaled(kappa: float) -> ResNetSpec:
        # A surviving layer keeps at least one channel; only a layer MorphNet zeroed is dropped.
        return with_widths(spec, {k: max(1, math.floor(kappa * v)) if v > 0 else 0 for k, v in widths.items()})

    def flops(kappa: float) -> int:
        return count(scaled(kappa), input_shape, num_classes).flops

    lo, hi = 1e-9, 2.0  # at lo every surviving layer has one channel: the smallest net
    if flops(lo) > zeta:
        raise Collapse(f"even the narrowest net ({flops(lo):,} FLOPs) exceeds the FLOP budget zeta={zeta:g}")
    while flops(hi) <= zeta and hi < 1e6:
        lo, hi = hi, hi * 2
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if flops(mid) <= zeta else (lo, mid)
    return scaled(lo), lo


def morph_widths(spec: ResNetSpec, alive: dict[str, int], intensity: float) -> dict[str, float]:
    """c* = (1 - I) c + I c' per conv (reference ambiguity 5: one intensity, default 1)."""
    old = {f"{STEM}_conv": spec.stem_filters}
    for b in spec.blocks():
        old[block_layer(b.id, "conv1")] = b.inner
        old[block_layer(b.id, "conv2")] = b.filters
    return {k: (1 - intensity) * old[k] + intensity * alive[k] for k in old}
