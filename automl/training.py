"""Gradient training of a Keras classifier with the seeds' defaults, dataset-agnostic.

Seed 002 [code] (reference §2a.10): Adam lr 1e-3, ReduceLROnPlateau(factor sqrt(0.1),
patience 5, min_lr 0.5e-6) on the validation loss, optional early stopping.
"""
from __future__ import annotations

import keras
import tensorflow as tf

OPTIMIZERS = {
    "adam": lambda cfg: keras.optimizers.Adam(cfg.learning_rate),
    "sgd": lambda cfg: keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum),
}


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    return OPTIMIZERS[cfg.optimizer](cfg)


def compile_classifier(model: keras.Model, cfg) -> keras.Model:
    model.compile(
        optimizer=make_optimizer(cfg),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def schedule_callbacks(cfg) -> list[keras.callbacks.Callback]:
    callbacks = [
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr, verbose=0,
        )
    ]
    if cfg.early_stopping_patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.early_stopping_patience, verbose=0,
        ))
    return callbacks


def distribution_strategy(mode: str) -> tf.distribute.Strategy:
    """MirroredStrategy over every visible GPU (mode auto, with 2+ GPUs) or every device.

    `mirrored` on a machine without GPUs mirrors over the logical CPU devices, which is
    how the multi-device path is exercised without GPUs (see AUTOML_CPU_DEVICES).
    """
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "off" or (mode == "auto" and len(gpus) < 2):
        return tf.distribute.get_strategy()
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def split_cpu(n: int) -> None:
    """Expose the CPU as n logical devices; must run before TensorFlow initialises."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
