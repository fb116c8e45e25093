"""The few operations Keras' backend-neutral `ops` lack: compiling a function and per-member
gradients. Everything else in the population engine is `keras.ops`, so it runs wherever the
Keras backend runs: TensorFlow on the CPU or a GPU, and JAX where only JAX is installed."""
from __future__ import annotations

import functools

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


@functools.cache
def grouped_conv_differentiable() -> bool:
    """Whether `grouped_conv` has gradients here. TensorFlow's own CPU kernels refuse the backward
    pass of a grouped convolution ("Gradients for grouped convolutions are not supported on CPU");
    its oneDNN kernels compute it, but on a 2-core AVX2 host (TF 2.21) only with
    TF_ENABLE_ONEDNN_OPTS=1 set explicitly. Probed once, on a tiny one."""
    if backend() != "tensorflow":
        return True
    import tensorflow as tf
    try:
        with tf.init_scope():  # eagerly (a tape would be paused here, so the backward ops are called directly)
            x, k, dy = (tf.zeros(s) for s in ((1, 3, 3, 2), (1, 1, 1, 2), (1, 3, 3, 2)))  # 2 groups of 1 channel
            tf.raw_ops.Conv2DBackpropInput(input_sizes=[1, 3, 3, 2], filter=k, out_backprop=dy,
                                           strides=[1, 1, 1, 1], padding="VALID")
            tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=[1, 1, 1, 2], out_backprop=dy,
                                            strides=[1, 1, 1, 1], padding="VALID")
    except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
    return True


def grouped_conv(inputs, kernel, strides, padding, dilation_rate):
    """`ops.conv` that also takes inputs with k times the kernel's input channels (k groups).

    Keras' TensorFlow backend sends grouped convolutions through XLA, which on the CPU is
    slower than TensorFlow's own grouped kernel; JAX groups natively."""
    if backend() == "tensorflow":
        import tensorflow as tf
        return tf.nn.convolution(inputs, kernel, strides, padding.upper(), dilations=dilation_rate)
    return keras.ops.conv(inputs, kernel, strides, padding, dilation_rate=dilation_rate)
