"""The Cox loss of deep survival models (seed 002 Ch. 7, eqs. 7.3 and 7.6; reference 002 §2c.4).

`y_true` holds (time, event) per sample, `y_pred` the log-risk ĥ. Within the batch, sample i
with an event contributes log Σ_{j: t_j ≥ t_i} exp(ĥ_j) − ĥ_i: the risk set holds everyone
still at risk at t_i, tied times included (Breslow's handling of ties). The sum is divided by the
batch size, as the thesis' loss (sebp's tutorial, averaged by Keras) is; a batch without an event
contributes exactly zero. The domain-gap penalty λ (Σ_B ĥ)² / |B| pins the batch-mean risk, to
which the Cox likelihood is blind.
"""
from __future__ import annotations

import keras
from keras import ops


def cox_terms(times, events, risks):
    """Per-sample terms of the negative Cox log partial likelihood: δ_i (log Σ_{R_i} e^{ĥ_j} − ĥ_i),
    zero where δ_i = 0 (R_i: the samples with t_j >= t_i; Breslow ties).

    Args:
        times: survival or censoring times t, shape (n,).
        events: δ, 1 where the event was observed, 0 where censored.
        risks: the net's log-risks ĥ.
    """
    times, events, risks = ops.reshape(times, (-1,)), ops.reshape(events, (-1,)), ops.reshape(risks, (-1,))
    at_risk = ops.greater_equal(times[None, :], times[:, None])  # row i: j with t_j >= t_i
    masked = ops.where(at_risk, risks[None, :], ops.full_like(at_risk, -1e30, dtype=risks.dtype))
    return events * (ops.logsumexp(masked, axis=1) - risks)


@keras.saving.register_keras_serializable(package="automl")
class CoxLoss(keras.losses.Loss):
    """Negative Cox log partial likelihood per batch (Breslow ties) + λ (Σ_B ĥ)² / |B| (seed 002 Ch. 7).

    `y_true` holds (time, event) per row; `y_pred` the log-risks ĥ.

    Args:
        penalty: λ, the weight of the penalty that keeps the batch's risks centred (0: none).
        name: the loss's name.
    """

    def __init__(self, penalty: float = 0.0, name: str = "cox", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        self.penalty = float(penalty)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        risks = ops.reshape(ops.cast(y_pred, "float32"), (-1,))
        n = ops.cast(ops.shape(risks)[0], "float32")
        loss = ops.sum(cox_terms(y_true[:, 0], y_true[:, 1], risks)) / n
        if self.penalty:
            loss = loss + self.penalty * ops.square(ops.sum(risks)) / n
        return loss

    def get_config(self):
        return {"penalty": self.penalty, "name": self.name}
