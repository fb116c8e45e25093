"""Recurrent sequence models: a spec (cell type, width, stacking, depth) and its Keras builder.

Cells: dmu and rhn (models.recurrent), lstm, gru and rnn (Keras' SimpleRNN, tanh). `depth` is
how deep the state transformation of one step is: the DMU's FNN depth n (n - 1 hidden LeakyReLU
layers of `hidden` units, then the linear 2d layer), the RHN's recurrence depth L, and for
LSTM, GRU and RNN, which have no inner depth, that many stacked layers (seed 000 Table VIII
stacks two of them). `layers` stacks whole recurrent blocks on top.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from models.spec import SpecError

CELLS = ("dmu", "lstm", "gru", "rnn", "rhn")
DEEP_CELLS = ("dmu", "rhn")
DEFAULT_CELL = "dmu"  # seed 000's own layer
DEFAULT_GATE_BIAS = 3.0  # the DMU's z bias at start (seed 000 L1212-L1220: +3 on the synthetic tasks)


@dataclass
class SequenceSpec:
    cell: str = DEFAULT_CELL
    units: int = 32
    layers: int = 1
    depth: int = 1
    hidden: int = 0          # DMU hidden width; 0: the same as units
    gate_bias: float = DEFAULT_GATE_BIAS
    name: str = "sequence"

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise SpecError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for what in ("units", "layers", "depth"):
            value = getattr(self, what)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{what} must be a positive integer, got {value!r}")
        if not isinstance(self.hidden, int) or self.hidden < 0:
            raise SpecError(f"hidden must be a non-negative integer, got {self.hidden!r}")

    def to_dict(self) -> dict:
        return {"type": "sequence", **asdict(self)}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def signature(self) -> str:
        d = self.to_dict()
        d.pop("name")
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "SequenceSpec":
        d = {k: v for k, v in d.items() if k != "type"}
        try:
            spec = cls(**d)
        except TypeError as e:
            raise SpecError(f"bad sequence spec: {e}") from None
        spec.validate()
        return spec


def recurrent_layer(spec: SequenceSpec, return_sequences: bool, name: str, l2: float = 0.0):
    import keras

    from models.recurrent import DMU, RHN

    if spec.cell == "dmu":
        width = spec.hidden or spec.units
        return DMU(spec.units, hidden=[width] * (spec.depth - 1), gate_bias=spec.gate_bias, l2=l2,
                   return_sequences=return_sequences, name=name)
    if spec.cell == "rhn":
        return RHN(spec.units, depth=spec.depth, l2=l2, return_sequences=return_sequences, name=name)
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[spec.cell]
    regularizer = keras.regularizers.L2(l2) if l2 else None
    return layer(spec.units, return_sequences=return_sequences, kernel_regularizer=regularizer,
                 recurrent_regularizer=regularizer, name=name)


def build_sequence_model(spec: SequenceSpec, input_shape: tuple[int, int], num_classes: int | None,
                         per_step: bool = False, l2: float = 0.0, lr_rule: bool = True):
    """Recurrent layers, then a linear output (regression, num_classes None) or a softmax.

    `l2`: the L2 coefficient of every kernel, recurrent and head (Keras' L2: l2 x sum w^2 in the
    loss). With the DMU learning-rate rule on (seed 000 eq. 5), the DMU's is divided by 2n as well;
    the learning rate itself is scaled by the optimizer (automl.optimizers.scaled).
    """
    import keras

    spec.validate()
    inputs = keras.Input(shape=tuple(input_shape), name="sequence")
    x = inputs
    stack = spec.layers if spec.cell in DEEP_CELLS else spec.layers * spec.depth
    for i in range(stack):
        last = i == stack - 1
        decay = l2 / (2 * spec.depth) if (lr_rule and spec.cell == "dmu") else l2
        x = recurrent_layer(spec, return_sequences=per_step or not last, name=f"{spec.cell}{i}", l2=decay)(x)
    head_regularizer = keras.regularizers.L2(l2) if l2 else None
    if num_classes is None:
        outputs = keras.layers.Dense(1, kernel_regularizer=head_regularizer, name="head_out")(x)
    else:
        outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=head_regularizer,
                                     name="head_out")(x)
    return keras.Model(inputs, outputs, name=spec.name)


def sequence_cost(model, steps: int, per_step: bool = False):
    """Exact params; FLOPs = 2 x the multiply-adds of one forward pass: every recurrent kernel
    weight is used once per step, the head once (or once per step for per-step targets)."""
    from models.cost import Cost

    flops = 0
    for layer in model.layers:
        kernels = [w for w in layer.weights if "kernel" in w.path]
        macs = sum(int(w.shape[0]) * int(w.shape[1]) for w in kernels)
        flops += 2 * macs * (steps if (per_step or layer.name != "head_out") else 1)
    params = int(model.count_params())
    trainable = int(sum(int(w.numpy().size) for w in model.trainable_weights))
    return Cost(flops=flops, params=params, trainable_params=trainable, layers=[])
