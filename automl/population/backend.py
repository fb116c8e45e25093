"""The few operations Keras' backend-neutral `ops` lack: compiling a function and per-member
gradients. Everything else in the population engine is `keras.ops`, so it runs wherever the
Keras backend runs: TensorFlow on the CPU or a GPU, and JAX where only JAX is installed."""
from __future__ import annotations

import keras


def backend() -> str:
    return keras.backend.backend()


def on_accelerator() -> bool:
    """Whether the backend computes on a GPU (or another accelerator) rather than the CPU."""
    if backend() == "jax":
        import jax
        return jax.default_backend() != "cpu"
    if backend() == "tensorflow":
        import tensorflow as tf
        return bool(tf.config.list_logical_devices("GPU"))
    return False


def compile_function(fn, jit: bool = False):
    """A graph-compiled `fn` (tf.function, optionally XLA; jax.jit under JAX)."""
    if backend() == "jax":
        import jax
        return jax.jit(fn)
    if backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(fn, jit_compile=jit, reduce_retracing=True)
    return fn


def value_and_grad_sum(fn):
    """g(pop, *args) -> (fn(pop, *args), d sum(fn) / d pop).

    The members' losses are independent, so the gradient of their sum with respect to the
    population is every member's own gradient: one backward pass serves all of them.
    """
    if backend() == "jax":
        import jax

        def total(pop, *args):
            values = fn(pop, *args)
            return values.sum(), values

        grad = jax.value_and_grad(total, has_aux=True)

        def run(pop, *args):
            (_, values), g = grad(pop, *args)
            return values, g
        return run
    if backend() == "tensorflow":
        import tensorflow as tf

        def run(pop, *args):
            with tf.GradientTape() as tape:
                tape.watch(pop)
                values = fn(pop, *args)
                total = tf.reduce_sum(values)
            return values, tape.gradient(total, pop)
        return run
    raise RuntimeError(f"per-member gradients are not implemented for the {backend()} backend")


def grouped_conv(inputs, kernel, strides, padding, dilation_rate):
    """`ops.conv` that also takes inputs with k times the kernel's input channels (k groups).

    Keras' TensorFlow backend sends grouped convolutions through XLA, which on the CPU is
    slower than TensorFlow's own grouped kernel; JAX groups natively."""
    if backend() == "tensorflow":
        import tensorflow as tf
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), dilations=dilation_rate)
    return keras.ops.conv(inputs, kernel, strides, padding, dilation_rate=dilation_rate)
