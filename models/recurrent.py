"""Recurrent cells the seeds use and Keras lacks: DMU (seed 000, appendix B.3) and RHN.

LSTM, GRU and SimpleRNN come from Keras. Both cells here are registered, so `.keras` files
holding them load without custom_objects, and they export to SavedModel like any Keras layer.
"""
from __future__ import annotations

import math

import keras
from keras import ops

from models.sequence import DEFAULT_GATE_BIAS


def _leaky_relu_gain(slope: float) -> float:
    return math.sqrt(2.0 / (1.0 + slope ** 2))  # torch.nn.init.calculate_gain('leaky_relu', slope)


def _xavier(gain: float = 1.0):
    """Xavier-uniform with a gain, as torch's xavier_uniform_(gain=...)."""
    return keras.initializers.VarianceScaling(scale=gain ** 2, mode="fan_avg", distribution="uniform")


@keras.saving.register_keras_serializable(package="automl")
class DMUCell(keras.layers.Layer):
    """Deep Memory Update (seed 000 L1190-L1202, reference 000 §2.2):

        <z_t, h^_t> = FNN(h_{t-1}, x_t)                  linear output of 2d units, z first
        h_t = h_{t-1} * sigmoid(z_t) + tanh(h^_t) * (1 - sigmoid(z_t))

    The FNN's input is concat(x_t, h_{t-1}); its hidden layers (`hidden` widths) use
    LeakyReLU(0.01) with Xavier-uniform at the LeakyReLU gain; the output layer is Xavier
    gain 1, and its z biases start at `gate_bias` (+3: memory is kept by default).
    Depth n = len(hidden) + 1; the seed's learning-rate rule scales this cell's step by
    `lr_multiplier` = 1 / (2n) (automl.optimizers.scaled).
    """

    def __init__(self, units: int, hidden=(), gate_bias: float = DEFAULT_GATE_BIAS, negative_slope: float = 0.01,
                 l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.hidden = int(units), [int(h) for h in hidden]
        self.gate_bias, self.negative_slope, self.l2 = float(gate_bias), float(negative_slope), float(l2)
        self.state_size = self.units
        self.output_size = self.units

    @property
    def depth(self) -> int:
        return len(self.hidden) + 1

    @property
    def lr_multiplier(self) -> float:
        return 1.0 / (2 * self.depth)  # seed 000 eq. (5): beta_DMU = beta / (2n)

    def build(self, input_shape):
        sizes = [int(input_shape[-1]) + self.units, *self.hidden, 2 * self.units]
        regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        self.kernels, self.biases = [], []
        last = len(sizes) - 2
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            gain = 1.0 if i == last else _leaky_relu_gain(self.negative_slope)
            self.kernels.append(self.add_weight(shape=(n_in, n_out), initializer=_xavier(gain),
                                                regularizer=regularizer, name=f"kernel_{i}"))
            self.biases.append(self.add_weight(shape=(n_out,), initializer="zeros", name=f"bias_{i}"))
        # z first (the code's out.chunk(2)): its biases start at +gate_bias.
        self.biases[-1].assign(ops.concatenate([ops.full((self.units,), self.gate_bias),
                                                ops.zeros((self.units,))]))

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        x = ops.concatenate([inputs, h], axis=-1)
        for kernel, bias in zip(self.kernels[:-1], self.biases[:-1]):
            x = ops.leaky_relu(ops.matmul(x, kernel) + bias, negative_slope=self.negative_slope)
        out = ops.matmul(x, self.kernels[-1]) + self.biases[-1]
        z, candidate = out[..., : self.units], out[..., self.units:]
        keep = ops.sigmoid(z)
        h_new = h * keep + ops.tanh(candidate) * (1.0 - keep)
        return h_new, [h_new]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden": self.hidden, "gate_bias": self.gate_bias,
                "negative_slope": self.negative_slope, "l2": self.l2}


@keras.saving.register_keras_serializable(package="automl")
class RHNCell(keras.layers.Layer):
    """Recurrent Highway Network cell (Zilly et al. 2017; the seed's comparison cell, reference
    000 §2.2.7 [code]) with recurrence depth L and a coupled carry gate:

        layer 1:    h = tanh(W_h x + R_h s + b_h),  t = sigmoid(W_t x + R_t s + b_t)
        layers 2-L: the same without the x terms
        each layer: s <- h * t + s * (1 - t)
    """

    def __init__(self, units: int, depth: int = 2, l2: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units, self.recurrence_depth, self.l2 = int(units), int(depth), float(l2)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        m, d = int(input_shape[-1]), self.units
        regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        self.input_kernel = self.add_weight(shape=(m, 2 * d), initializer="glorot_uniform", regularizer=regularizer,
                                            name="input_kernel")
        self.recurrent_kernels = [self.add_weight(shape=(d, 2 * d), initializer="glorot_uniform",
                                                  regularizer=regularizer, name=f"recurrent_kernel_{i}")
                                  for i in range(self.recurrence_depth)]
        self.biases = [self.add_weight(shape=(2 * d,), initializer="zeros", name=f"bias_{i}")
                       for i in range(self.recurrence_depth)]

    def call(self, inputs, states, training=False):
        s = states[0] if isinstance(states, (list, tuple)) else states
        from_x = ops.matmul(inputs, self.input_kernel)
        for i, (kernel, bias) in enumerate(zip(self.recurrent_kernels, self.biases)):
            pre = ops.matmul(s, kernel) + bias + (from_x if i == 0 else 0.0)
            h, t = ops.tanh(pre[..., : self.units]), ops.sigmoid(pre[..., self.units:])
            s = h * t + s * (1.0 - t)
        return s, [s]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "depth": self.recurrence_depth, "l2": self.l2}


class _CellRNN(keras.layers.RNN):
    """An RNN layer whose constructor takes the cell's arguments (so the config is flat)."""

    cell_class: type = None
    cell_args: tuple[str, ...] = ()
    cell_name: str = None

    def __init__(self, units: int, **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in self.cell_args if k in kwargs}
        kwargs.pop("cell", None)
        # A fixed cell name keeps the variable paths ("dmu0/dmu_cell/kernel_0") the same in every
        # instance: Keras numbers automatic names per process ("dmu_cell_3"), and the DMU rule's
        # multipliers, saved with the optimizer by path, must still match after a reload.
        super().__init__(self.cell_class(units, name=self.cell_name, **cell_kwargs), **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("cell", None)
        cell = self.cell.get_config()
        config.update({k: cell[k] for k in ("units", *self.cell_args) if k in cell})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


@keras.saving.register_keras_serializable(package="automl")
class DMU(_CellRNN):
    """`DMU(units, hidden=[...], gate_bias=3.0, return_sequences=False, ...)`: zero initial
    state, stackable with return_sequences=True."""

    cell_class = DMUCell
    cell_args = ("hidden", "gate_bias", "negative_slope", "l2")
    cell_name = "dmu_cell"


@keras.saving.register_keras_serializable(package="automl")
class RHN(_CellRNN):
    """`RHN(units, depth=L, return_sequences=False, ...)`."""

    cell_class = RHNCell
    cell_args = ("depth", "l2")
    cell_name = "rhn_cell"
