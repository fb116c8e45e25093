"""The survival net of a run: built from its spec and mode, compiled with the Cox loss, and
scored after each epoch by the validation patients' C-index (the workflow and the search share it)."""
from __future__ import annotations

import keras
import numpy as np

from automl.survival import CoxLoss
from models.survival import SurvivalNetSpec, bag_model, thumbnail_model
from pipelines.survival.evaluate import c_index


def patient_risks(cfg, rows, risks: np.ndarray):
    """Per-patient risk: the mean over its slides (thumbnails) or the bag's risk (tiles)."""
    frame = rows.assign(risk=risks)
    if cfg.slides.mode == "tiles":
        return frame[["patient", "time", "event", "source", "split", "risk"]]
    return frame.groupby("patient", sort=True).agg(time=("time", "first"), event=("event", "first"),
                                                   source=("source", "first"), split=("split", "first"),
                                                   risk=("risk", "mean")).reset_index()


class ValidationCIndex(keras.callbacks.Callback):
    """After each epoch, the validation patients' C-index into the logs (as `val_cindex`), the
    number the best epoch is chosen by."""

    def __init__(self, cfg, x, rows):
        super().__init__()
        self.cfg, self.x, self.rows = cfg, x, rows

    def on_epoch_end(self, epoch, logs=None):
        risks = self.model.predict(self.x, batch_size=16, verbose=0).reshape(-1)
        if not np.all(np.isfinite(risks)):
            logs["val_cindex"] = 0.0
            return
        p = patient_risks(self.cfg, self.rows, risks)
        logs["val_cindex"] = c_index(p["time"], p["event"], p["risk"]) or 0.0


def build(cfg, input_shape, spec: SurvivalNetSpec | None = None):
    spec = spec or SurvivalNetSpec.preset(cfg.model.arch)
    if cfg.slides.mode == "tiles":
        return bag_model(spec, cfg.slides.max_tiles, input_shape[1:], cfg.model.pooling), spec
    return thumbnail_model(spec, input_shape), spec


def compile_survival(model, cfg) -> None:
    model.compile(optimizer=keras.optimizers.Adam(cfg.train.learning_rate), loss=CoxLoss(cfg.train.penalty))
