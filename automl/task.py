"""What a task's nets are trained and chosen by, in one place: classification (cross-entropy;
chosen by validation accuracy, higher better) or regression (mean squared error; chosen by the
validation loss, lower better). Every workflow asks its Task instead of branching on a flag.

Pure Python on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """A learning task.

    Args:
        name: "classification" or "regression".
        loss: the Keras loss the nets train on.
        metrics: the Keras metrics compiled beside it.
        monitor: the Keras log key a model is chosen by (`val_accuracy` or `val_loss`).
        mode: "max" when a higher `monitor` is better, "min" when lower is.
        score: the name of the chosen number in summaries (`accuracy`: `val_accuracy`,
            `test_accuracy`; `mse`: `val_mse`, `test_mse`).
        label: the chosen number in words, for progress lines.
    """

    name: str
    loss: str
    metrics: tuple[str, ...]
    monitor: str
    mode: str
    score: str
    label: str

    @property
    def regression(self) -> bool:
        return self.name == "regression"

    def key(self, value: float) -> float:
        """A sort key: smaller is better."""
        return -value if self.mode == "max" else value

    def scores(self, val: dict, test: dict | None) -> dict:
        """The summary's numbers from Keras' evaluate(return_dict=True) on validation and test
        (None: no test split)."""
        def pick(metrics):
            if metrics is None:
                return None
            return float(metrics["accuracy"] if self.score == "accuracy" else metrics["loss"])

        return {f"val_{self.score}": pick(val), f"test_{self.score}": pick(test)}


CLASSIFICATION = Task("classification", "sparse_categorical_crossentropy", ("accuracy",), "val_accuracy", "max",
                      "accuracy", "validation accuracy")
REGRESSION = Task("regression", "mse", (), "val_loss", "min", "mse", "validation MSE")


TASKS = {task.name: task for task in (CLASSIFICATION, REGRESSION)}


def task_of(data) -> Task:
    """The task of a dataset: a sequence dataset names its own (`task`); images are classified."""
    return TASKS[getattr(data, "task", CLASSIFICATION.name)]


def task_for(regression: bool) -> Task:
    return REGRESSION if regression else CLASSIFICATION
