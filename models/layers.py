"""Custom Keras layers, registered so `.keras` files load without custom_objects."""
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="automl")
class ChannelPad(keras.layers.Layer):
    """Appends zero channels: the parameter-free skip path when a block widens (seed 002 [code])."""

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = int(extra)

    def call(self, x):
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, self.extra]])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}
