"""The survival net of a run: built from its spec and mode, compiled with the Cox loss, and
scored after each epoch by the validation patients' C-index (the workflow and the search share it).

`analysis` below is an automl.SurvivalAnalysis: its `slides`, `net` and `training` settings.
"""
from __future__ import annotations

import keras
import numpy as np

from automl.survival.evaluate import c_index
from automl.survival.loss import CoxLoss
from models.survival import SurvivalNetSpec, bag_model, thumbnail_model


def patient_risks(mode: str, rows, risks: np.ndarray):
    """Per-patient risk: the mean over its slides (thumbnails) or the bag's risk (tiles)."""
    frame = rows.assign(risk=risks)
    if mode == "tiles":
        return frame[["patient", "time", "event", "source", "split", "risk"]]
    return frame.groupby("patient", sort=True).agg(time=("time", "first"), event=("event", "first"),
                                                   source=("source", "first"), split=("split", "first"),
                                                   risk=("risk", "mean")).reset_index()


class ValidationCIndex(keras.callbacks.Callback):
    """After each epoch, the validation patients' C-index into the logs (as `val_cindex`), the
    number the best epoch is chosen by."""

    def __init__(self, mode: str, x, rows):
        super().__init__()
        self.mode, self.x, self.rows = mode, x, rows

    def on_epoch_end(self, epoch, logs=None):
        risks = self.model.predict(self.x, batch_size=16, verbose=0).reshape(-1)
        if not np.all(np.isfinite(risks)):
            logs["val_cindex"] = 0.0
            return
        p = patient_risks(self.mode, self.rows, risks)
        logs["val_cindex"] = c_index(p["time"], p["event"], p["risk"]) or 0.0


def build(analysis, input_shape, spec: SurvivalNetSpec | None = None):
    """The net of `spec` (default: the `net.arch` preset) for inputs of `input_shape`."""
    spec = spec or SurvivalNetSpec.preset(analysis.net.arch)
    if analysis.slides.mode == "tiles":
        return bag_model(spec, analysis.slides.max_tiles, input_shape[1:], analysis.net.pooling), spec
    return thumbnail_model(spec, input_shape), spec


def compile_survival(model, training) -> None:
    """Adam on the Cox loss (`training`: an automl.survival.SurvivalTrainingSettings)."""
    model.compile(optimizer=keras.optimizers.Adam(training.learning_rate), loss=CoxLoss(training.penalty))
