"""VGG-style survival nets: 3x3 convs and 2x2 max-pools, then dense layers and one linear risk.

Seed 002 Ch. 7 (reference 002 §2c.3): "a modified VGG16", in the authors' code Conv64 - Pool -
Conv64 - Pool - Conv128 x2 - Pool - Conv256 x2 - Pool - Conv512 x2, Dense 4096 - 2048 - 1. How the
last conv map reaches the dense layers is not given (a 2500x2000 input leaves 156x125x512, far
too many to flatten into 4096 units: reference ambiguity); we pool it globally. Inputs are raw
RGB pixels (0-255); the scaling to [0, 1] is inside the model, so an exported model takes what
the slide reader gives.

For tiles, `bag_model` wraps the same backbone: a bag of K tiles -> K tile risks -> one risk by
mean pooling (default) or attention pooling (Ilse et al. 2018), so the Cox loss can apply to the
slide or patient the bag stands for.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from models.spec import SpecError

# stages: each a list of conv widths; a 2x2 max-pool follows every stage but the last
PRESETS = {
    "vgg16-thesis": dict(stages=[[64], [64], [128, 128], [256, 256], [512, 512]], dense=[4096, 2048]),
    "vgg-small": dict(stages=[[16], [32], [32, 32], [64, 64]], dense=[64]),
    "vgg-tiny": dict(stages=[[8], [16], [16]], dense=[16]),
}
POOLINGS = ("mean", "attention")  # how a bag's tile risks become one risk; the first is the default
DEFAULT_NET = "vgg-small"


@dataclass
class SurvivalNetSpec:
    stages: list[list[int]] = field(default_factory=lambda: [list(s) for s in PRESETS[DEFAULT_NET]["stages"]])
    dense: list[int] = field(default_factory=lambda: list(PRESETS[DEFAULT_NET]["dense"]))
    batch_norm: bool = True
    dropout: float = 0.0
    name: str = "survival-vgg"

    @classmethod
    def preset(cls, name: str) -> "SurvivalNetSpec":
        if name not in PRESETS:
            raise SpecError(f"unknown survival net {name!r} (choose {', '.join(PRESETS)})")
        p = PRESETS[name]
        return cls(stages=[list(s) for s in p["stages"]], dense=list(p["dense"]), name=name)

    def validate(self) -> None:
        if not self.stages or any(not s for s in self.stages):
            raise SpecError("a survival net needs at least one stage of at least one conv")
        if any(not isinstance(w, int) or w < 1 for s in self.stages for w in s) or \
                any(not isinstance(w, int) or w < 1 for w in self.dense):
            raise SpecError("conv and dense widths must be positive integers")
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"dropout must lie in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return {"type": "survival", **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> "SurvivalNetSpec":
        spec = cls(**{k: v for k, v in d.items() if k != "type"})
        spec.validate()
        return spec

    def describe(self) -> str:
        convs = " | ".join("-".join(map(str, s)) for s in self.stages)
        return f"convs {convs}; dense {'-'.join(map(str, self.dense)) or 'none'}"


def backbone(spec: SurvivalNetSpec, input_shape, name: str = "backbone"):
    """Image -> scalar risk (the log-hazard ĥ), a Keras model of its own."""
    import keras
    from keras import layers

    spec.validate()
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for s, widths in enumerate(spec.stages):
        for c, width in enumerate(widths):
            x = layers.Conv2D(width, 3, padding="same", use_bias=not spec.batch_norm, name=f"conv{s}_{c}")(x)
            if spec.batch_norm:  # momentum 0.9: short trainings (feasibility §11)
                x = layers.BatchNormalization(momentum=0.9, name=f"conv{s}_{c}_bn")(x)
            x = layers.ReLU(name=f"conv{s}_{c}_relu")(x)
        if s < len(spec.stages) - 1:
            x = layers.MaxPooling2D(2, name=f"pool{s}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    for i, width in enumerate(spec.dense):
        x = layers.Dense(width, activation="relu", name=f"dense{i}")(x)
        if spec.dropout:
            x = layers.Dropout(spec.dropout, name=f"dense{i}_dropout")(x)
    risk = layers.Dense(1, name="risk")(x)  # linear: the Cox model's β^T x
    return keras.Model(inputs, risk, name=name)


def thumbnail_model(spec: SurvivalNetSpec, input_shape):
    """A whole-slide thumbnail -> its risk (the thesis' mode)."""
    return backbone(spec, input_shape, name=spec.name)


def bag_model(spec: SurvivalNetSpec, tiles: int, tile_shape, pooling: str = POOLINGS[0]):
    """A bag of `tiles` tiles (zero tiles pad short bags and are masked out) -> one risk."""
    import keras
    from keras import layers, ops

    if pooling not in POOLINGS:
        raise SpecError(f"pooling must be {' or '.join(POOLINGS)}, got {pooling!r}")
    net = backbone(spec, tile_shape)
    bag = keras.Input(shape=(tiles, *tile_shape), name="tiles")
    features = keras.Model(net.input, net.get_layer("risk").input, name="tile_features")
    flat = layers.Reshape((-1, *tile_shape))(bag)
    feats = layers.TimeDistributed(features, name="per_tile")(flat)
    tile_risk = layers.TimeDistributed(net.get_layer("risk"), name="tile_risk")(feats)  # [B, K, 1]
    present = ops.cast(ops.any(ops.not_equal(bag, 0), axis=(2, 3, 4)), "float32")[..., None]  # [B, K, 1]
    if pooling == "mean":
        weights = present / ops.maximum(ops.sum(present, axis=1, keepdims=True), 1.0)
    else:
        score = layers.Dense(1, name="attention_out")(layers.Dense(32, activation="tanh", name="attention")(feats))
        score = score + (present - 1.0) * 1e9  # padded tiles get no weight
        weights = ops.softmax(score, axis=1)
    risk = ops.sum(weights * tile_risk, axis=1)
    return keras.Model(bag, risk, name=f"{spec.name}-{pooling}-bag")
