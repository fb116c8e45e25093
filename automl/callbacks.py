"""Keras callbacks shared by every training: progress lines and resumable checkpoints."""
from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path

import keras

from automl.budget import format_duration
from automl.errors import TrainingDiverged
from automl.io import atomic_save_model, atomic_write_json
from automl.live import LiveBar
from automl.task import CLASSIFICATION

# Attributes that make ReduceLROnPlateau and EarlyStopping stateful across epochs.
_SCHEDULE_STATE = ("wait", "best", "cooldown_counter", "best_epoch")


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training loudly, not silently like TerminateOnNaN, when the loss is not finite."""

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"training diverged in epoch {self._epoch + 1}, batch {batch + 1}: the loss is {float(loss)}, "
                "so a step made the weights non-finite; lower the learning rate (for phs: use "
                "discretization semi_implicit, or a smaller learning_rate * friction / mass)"
            )


class StopAtDeadline(keras.callbacks.Callback):
    """Ends `fit` at the first batch after the deadline, and an evaluation pass at its next batch.

    `cut` tells that the training was stopped inside an epoch (or its validation pass), so that
    epoch's weights and metrics are partial. Each complete evaluation pass refreshes the
    deadline's reserve to what finalising costs: `base` seconds plus `final_passes` such passes
    (e.g. validation and test of the chosen model).
    """

    def __init__(self, deadline, final_passes: float = 2.0, base: float = 3.0):
        super().__init__()
        self.deadline, self.final_passes, self.base = deadline, final_passes, base
        self.cut = False
        self.completed_epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        if not self.cut:
            self.completed_epochs += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.deadline.expired():
            self.model.stop_training = True
            self.cut = True

    def on_test_begin(self, logs=None):
        self._eval_start = time.perf_counter()
        self._eval_cut = False

    def on_test_batch_end(self, batch, logs=None):
        if self.deadline.expired():
            self.model.stop_evaluating = True
            self.cut = self._eval_cut = True

    def on_test_end(self, logs=None):
        if not self._eval_cut:
            self.deadline.reserve = max(self.deadline.reserve,
                                        self.base + self.final_passes * (time.perf_counter() - self._eval_start))


TB = "tb"  # a run's TensorBoard folder: one sub-folder (a TensorBoard "run") per training or trial


def tensorboard(run_path, name: str = "") -> keras.callbacks.TensorBoard:
    """Keras' TensorBoard callback writing the scalars of one training to RUN/tb/<name> (no graph:
    it costs seconds per training and shows nothing a spec does not)."""
    return keras.callbacks.TensorBoard(str(Path(run_path) / TB / _folder_name(name)), write_graph=False)


class ScalarLog:
    """Scalars for TensorBoard from a loop that is not a Keras fit (the population optimizers'
    generations), under RUN/tb/<name>."""

    def __init__(self, run_path, name: str):
        import tensorflow as tf

        self._tf = tf
        self.writer = tf.summary.create_file_writer(str(Path(run_path) / TB / _folder_name(name)))

    def write(self, step: int, scalars: dict) -> None:
        with self.writer.as_default():
            for key, value in scalars.items():
                self._tf.summary.scalar(key, float(value), step=int(step))
        self.writer.flush()


def _folder_name(label: str) -> str:
    """"arch 3 (after 0/1 MorphNet steps) with_reg" -> "arch_3_after_0_1_MorphNet_steps_with_reg"."""
    return "_".join(re.findall(r"[\w.-]+", label))


def recent_mean(times: list[float], recent: int = 3) -> float:
    """Seconds per epoch for an ETA: the mean of the last `recent` epochs, leaving out the first
    once there are others (it includes tracing the graph, several times a later epoch on small data)."""
    times = times[1:] if len(times) > 1 else times
    window = times[-recent:]
    return sum(window) / len(window)


class EpochBar(keras.callbacks.Callback):
    """A live bar over the batches of each epoch on a terminal (automl.live); nothing elsewhere.

    Args:
        label: what is training, shown before "epoch i/n" (e.g. "trial 3").
        stream: where the bar is drawn (default: stderr).
        epochs: the n of "epoch i/n" (default: the epochs `fit` was given).
    """

    def __init__(self, label: str = "", stream=None, epochs: int | None = None):
        super().__init__()
        self.epochs = epochs
        self.label = f"{label} " if label else ""
        self.stream = stream or sys.stderr
        self._bar: LiveBar | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._close()
        epochs = self.epochs or self.params.get("epochs")
        self._bar = LiveBar(self.params.get("steps"), f"{self.label}epoch {epoch + 1}/{epochs}", stream=self.stream)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update()

    def on_epoch_end(self, epoch, logs=None):
        self._close()

    def on_train_end(self, logs=None):
        self._close()  # a budget stop ends fit inside an epoch

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Progress(EpochBar):
    """One line per epoch: metrics, learning rate, epoch time and the ETA of the training
    (and the time left of a wall-clock budget); within each epoch a live bar on a terminal."""

    def __init__(self, epochs: int, label: str = "", stream=None, deadline=None):
        super().__init__(label, stream, epochs)
        self.deadline = deadline
        self._times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        logs = logs or {}
        self._times.append(time.perf_counter() - self._start)
        eta = recent_mean(self._times) * (self.epochs - epoch - 1)
        parts = [f"{self.label}epoch {epoch + 1}/{self.epochs}"]
        for key, fmt in (("loss", ".4f"), ("accuracy", ".4f"), ("val_loss", ".4f"), ("val_accuracy", ".4f"),
                         ("val_cindex", ".4f")):
            if key in logs:
                parts.append(f"{key.replace('accuracy', 'acc')} {logs[key]:{fmt}}")
        lr = _learning_rate(self.model)
        if lr is not None:
            parts.append(f"lr {lr:.1e}")
        parts.append(f"{self._times[-1]:.1f}s")
        parts.append(f"ETA {format_duration(eta)}")
        if self.deadline is not None and self.deadline.active:
            parts.append(f"budget left {format_duration(max(self.deadline.left(), 0))}")
        print("  ".join(parts), file=self.stream, flush=True)


class Checkpointer(keras.callbacks.Callback):
    """Makes a training resumable after a kill, and keeps the best model by validation.

    After each epoch: the best model so far (highest `monitor`, ties broken by the lower
    `tie_break`, since small validation sets tie often) to `best_path`; the whole model,
    optimizer state included, to `directory/last.keras`; then `directory/state.json` with the
    epoch count, the history and the state of the schedule callbacks. Every write is atomic.
    """

    def __init__(self, directory, best_path, schedule_callbacks=(), monitor=CLASSIFICATION.monitor,
                 tie_break="val_loss", stopper: StopAtDeadline | None = None, mode: str = CLASSIFICATION.mode):
        super().__init__()
        self.sign = 1.0 if mode == "max" else -1.0  # min: a loss (regression), lower is better
        self.stopper = stopper
        self.tie_break = tie_break
        self.directory = Path(directory)
        self.best_path = Path(best_path)
        self.monitor = monitor
        self.schedule_callbacks = list(schedule_callbacks)
        self.state = load_state(self.directory) or {
            "epoch": 0, "best": None, "best_tie_break": None, "best_epoch": None, "history": [], "schedule": [],
            "train_seconds": 0.0, "finished": False,
        }

    @property
    def last_path(self) -> Path:
        return self.directory / "last.keras"

    def on_train_begin(self, logs=None):
        self._start, self._prior_seconds = time.perf_counter(), self.state["train_seconds"]
        # Runs after the schedule callbacks' own on_train_begin has reset them.
        for callback, saved in zip(self.schedule_callbacks, self.state["schedule"]):
            for key, value in saved.items():
                setattr(callback, key, value)

    def on_epoch_end(self, epoch, logs=None):
        if self.stopper is not None and self.stopper.cut:
            # A budget cut this epoch: its metrics are partial, so it neither counts nor competes.
            # The weights are kept, so a resumed run repeats the epoch from where it stopped.
            atomic_save_model(self.model, self.last_path)
            self.state["cut_epoch"] = epoch + 1
            self.state["train_seconds"] = self._prior_seconds + time.perf_counter() - self._start
            atomic_write_json(self.directory / "state.json", self.state)
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        logs["lr"] = _learning_rate(self.model)
        value, tie = logs.get(self.monitor), logs.get(self.tie_break, math.inf)
        if value is not None and math.isfinite(value) and self._better(self.sign * value, tie):
            self.state.update(best=self.sign * value, best_tie_break=tie, best_epoch=epoch + 1)
            atomic_save_model(self.model, self.best_path)
        self.state["epoch"] = epoch + 1
        self.state["train_seconds"] = self._prior_seconds + time.perf_counter() - self._start
        self.state["history"].append({"epoch": epoch + 1, **logs})
        self.state["schedule"] = [
            {k: _plain(getattr(c, k)) for k in _SCHEDULE_STATE if hasattr(c, k)}
            for c in self.schedule_callbacks
        ]
        atomic_save_model(self.model, self.last_path)
        atomic_write_json(self.directory / "state.json", self.state)

    def _better(self, value: float, tie: float) -> bool:
        best = self.state["best"]
        if best is None or value > best:
            return True
        previous = self.state["best_tie_break"]
        return value == best and tie < (math.inf if previous is None else previous)

    def on_train_end(self, logs=None):
        # Reached when fit returns: all epochs done, early stopping, or a budget (not finished).
        self.state["finished"] = not (self.stopper is not None and self.stopper.deadline.hit)
        atomic_write_json(self.directory / "state.json", self.state)


def load_state(directory) -> dict | None:
    path = Path(directory) / "state.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _learning_rate(model) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (TypeError, ValueError):
        return None


def _plain(value):
    return float(value) if hasattr(value, "__float__") and not isinstance(value, int) else value
