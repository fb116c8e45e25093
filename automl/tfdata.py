"""tf.data input pipelines: cache, shuffle, batch, augment, prefetch."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

def augmenter(kind: str, seed: int):
    """Seed 002 §6.1.1.2: random shifts of up to 10% each way, plus horizontal flips."""
    if kind == "none":
        return None
    layers = [keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed)]
    if kind == "shift_flip":
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 1))
    return keras.Sequential(layers, name="augment")


def split_pipelines(data, batch_size: int, augment: str, seed: int):
    """(train, validation, test) pipelines of an ImageDataset; only train is shuffled and augmented."""
    return (pipeline(data.x_train, data.y_train, batch_size, training=True, augment=augment, seed=seed),
            pipeline(data.x_val, data.y_val, batch_size), pipeline(data.x_test, data.y_test, batch_size))


def pipeline(
    x: np.ndarray, y: np.ndarray, batch_size: int, *, training: bool = False,
    augment: str = "none", seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 raw pixels, int32 labels); preprocessing lives in the model."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=tf.data.AUTOTUNE)
    aug = augmenter(augment, seed) if training else None
    if aug is not None:
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
