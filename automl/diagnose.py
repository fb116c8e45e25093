"""Warnings about a training that ran without error but learned nothing a user would want: a
validation accuracy not significantly better than a constant guess (a one-sided binomial test on
the validation set), or a loss that rose many times over. A learning rate far too high (Adam at
1e6) ends exactly so, with exit code 0."""
from __future__ import annotations

import numpy as np

CHANCE_P = 0.001  # one-sided binomial test: accuracy not significantly above the majority-class rate
EXPLODED = 10.0  # the last epoch's training loss this many times its first epoch's


def training_warnings(history: list[dict], val_accuracy: float | None, y_val) -> list[str]:
    """What looks wrong about a finished training, one sentence each (empty: nothing).

    Args:
        history: the per-epoch logs (each with "loss"), first epoch first.
        val_accuracy: the chosen model's validation accuracy; None for a regression task.
        y_val: the validation labels (class indices), for the majority-class rate.
    """
    warnings = []
    losses = [h["loss"] for h in history if "loss" in h]
    if len(losses) >= 2 and np.isfinite(losses[0]) and losses[0] > 0 and losses[-1] > EXPLODED * losses[0]:
        warnings.append(f"the training loss rose from {losses[0]:.4g} (epoch 1) to {losses[-1]:.4g} (epoch "
                        f"{len(losses)}): the learning rate is probably too high")
    if val_accuracy is not None and len(y_val):
        from scipy.stats import binomtest

        labels = np.asarray(y_val, dtype=int).ravel()  # per-step labels count step by step
        majority = float(np.bincount(labels).max() / len(labels))
        correct = int(round(val_accuracy * len(labels)))
        if correct <= len(labels) and binomtest(correct, len(labels), majority, alternative="greater").pvalue > CHANCE_P:
            warnings.append(f"validation accuracy {val_accuracy:.4f} is not significantly better than always "
                            f"guessing the most common class ({majority:.4f}; one-sided binomial p > {CHANCE_P:g}): "
                            "the net learned nothing; check the learning rate and the labels")
    return warnings
