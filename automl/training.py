"""Gradient training of a Keras classifier with the seeds' defaults, dataset-agnostic.

Seed 002 [code] (reference §2a.10): Adam lr 1e-3, ReduceLROnPlateau(factor sqrt(0.1),
patience 5, min_lr 0.5e-6) on the validation loss, optional early stopping.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from automl.callbacks import StopOnNonFinite
from automl.optimizers import GoalOrientedBraking, PortHamiltonian, ScaledAdam, ScaledSGD
from automl.task import task_for
from automl.training_settings import lr_rule_refusal


def _phs(cfg) -> PortHamiltonian:
    return PortHamiltonian(cfg.phs.learning_rate, mass=cfg.phs.mass, friction=cfg.phs.friction,
                           discretization=cfg.phs.discretization)


# The gradient optimizers by name (automl.training_settings.GRADIENT_OPTIMIZERS lists the same).
GRADIENT_BUILDERS = {
    "adam": lambda cfg: keras.optimizers.Adam(cfg.learning_rate),
    "sgd": lambda cfg: keras.optimizers.SGD(cfg.learning_rate, momentum=cfg.momentum),
    "phs": _phs,
    "phs-go": _phs,  # the same optimizer; schedule_callbacks adds the braking
}


def make_optimizer(cfg, multipliers: dict[str, float] | None = None) -> keras.optimizers.Optimizer:
    """The configured optimizer; with `multipliers` (variable path -> factor, e.g. the DMU rule)
    a variant that scales those variables' learning rate."""
    if not multipliers:
        return GRADIENT_BUILDERS[cfg.optimizer](cfg)
    if cfg.optimizer == "adam":
        return ScaledAdam(cfg.learning_rate, multipliers=multipliers)
    if cfg.optimizer == "sgd":
        return ScaledSGD(cfg.learning_rate, momentum=cfg.momentum, multipliers=multipliers)
    raise ValueError(lr_rule_refusal(cfg.optimizer))


def compile_classifier(model: keras.Model, cfg, regression: bool = False,
                       multipliers: dict[str, float] | None = None) -> keras.Model:
    """Cross-entropy and accuracy on class probabilities, or MSE for a regression output."""
    task = task_for(regression)
    model.compile(optimizer=make_optimizer(cfg, multipliers), loss=task.loss, metrics=list(task.metrics))
    return model


def schedule_callbacks(cfg, stream=None) -> list[keras.callbacks.Callback]:
    """The callbacks that steer a training: divergence guard, braking, LR schedule, stopping."""
    callbacks: list[keras.callbacks.Callback] = [StopOnNonFinite()]
    if cfg.optimizer == "phs-go":
        callbacks.append(GoalOrientedBraking(
            cfg.phs.brake_goal, cfg.phs.brake_factor, cfg.phs.brake_mode, cfg.phs.monitor, stream=stream,
        ))
    if cfg.plateau:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr, verbose=0,
        ))
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
