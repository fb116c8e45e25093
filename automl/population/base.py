"""The training loop every population optimizer shares: epochs, checkpoints, validation.

Budget (issue #5, "the same --set epochs=N for every optimizer"): an epoch is one pass over
the training data at the optimizer's batch size, i.e. ceil(n / batch) generations, the
population analogue of ceil(n / batch) gradient steps. A generation evaluates members on one
batch each: all on the same fresh batch (LEEA, DE, CoSyNE, ES: "limited evaluation", seed 001
Algorithm 2 and seed 003 L109), or on fixed batches assigned in turn (nDES).

Selection never sees the test set: after every epoch the optimizer's candidates (its best
members, or the whole population for nDES, seed 000 L984) are evaluated on the validation
split, and the best of all epochs is the result, as a gradient training keeps its best epoch.

All randomness of generation g comes from a generator seeded by (seed, g), so a run resumed
from a checkpoint continues exactly as the uninterrupted run would have.
"""
from __future__ import annotations

import abc
import io
import json
import math
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from automl.errors import MemoryBudgetError
from automl.io import atomic_save_model, atomic_write_bytes
from automl.population.engine import BYTES, MB, PopulationEngine, megabytes
from automl.population_settings import BatchSettings, FitSettings, PopulationRunSettings
from automl.settings import ArgumentError, Settings, merged_args_doc, merged_signature, split_keywords
from automl.task import TASKS, task_for
from automl.training_settings import TrainingSettings

_EPOCHS = TrainingSettings.defaults()["epochs"]  # the default of `train.epochs`


class PopulationOptimizer(abc.ABC):
    """Base class. Subclasses name their algorithm's settings class (`settings_class`; default: a
    batch size only) and define `plan`, `state_bytes`, `initialise`, `generation`, `candidates`.

    Every constructor takes keywords only: its algorithm's settings, the run settings every
    optimizer shares (automl.population_settings.PopulationRunSettings) and FitSettings'. Each
    group is validated by constructing its settings class, where its rules are written; an error
    is an automl.settings.ArgumentError (a ValueError) naming the argument and the value.
    """

    name = "population"
    uses_gradients = False
    settings_class: type[Settings] = BatchSettings

    def __init__(self, **kwargs):
        own, run, fit = split_keywords(kwargs, self.settings_class, PopulationRunSettings, FitSettings)
        self.settings = self.validated(self.settings_class, own)
        run, fit = self.validated(PopulationRunSettings, run), self.validated(FitSettings, fit)
        self.batch_size, self.memory_mb, self.seed = self.settings.batch_size, run.memory_mb, fit.seed
        self.validation_candidates = run.validation_candidates
        self.checkpoint_seconds, self.jit = run.checkpoint_seconds, run.jit
        self.validation_every = fit.validation_every
        self.state: dict = {}
        self.notes: list[str] = []

    def validated(self, settings_class: type[Settings], values: dict) -> Settings:
        """`settings_class(**values)`, its errors named after the class the caller called."""
        try:
            return settings_class(**values)
        except ArgumentError as e:
            raise ArgumentError(type(self).__name__, e.argument, e.value, e.expected) from None

    def check(self, argument: str, value, ok: bool, expected: str) -> None:
        """A rule of an argument the class itself takes (not one of its settings)."""
        if not ok:
            raise ArgumentError(type(self).__name__, argument, value, expected)

    # -- to be defined by each algorithm ---------------------------------------------------------
    @abc.abstractmethod
    def plan(self, n: int, available_bytes: int) -> list[str]:
        """Fix the population sizes for `n` weights so the state fits `available_bytes`.

        A size left to the algorithm (None, "auto") is capped to fit, and the cap is reported in the
        returned notes; a size the user set that cannot fit raises MemoryBudgetError."""

    @abc.abstractmethod
    def state_bytes(self, n: int) -> int:
        """Bytes of the population state for `n` weights (after `plan`)."""

    @abc.abstractmethod
    def initialise(self, w0: np.ndarray, engine: PopulationEngine, rng: np.random.Generator) -> None:
        """The first population, from the model's current weights `w0`."""

    @abc.abstractmethod
    def generation(self, engine: PopulationEngine, x, y, rng: np.random.Generator, t: int) -> dict:
        """One generation on the batch (x, y); returns {"best": loss, "mean": loss, "evaluations": k}."""

    @abc.abstractmethod
    def candidates(self):
        """Members worth validating, [K, N]."""

    def extra_state(self) -> dict:
        """Everything a resumed run needs, as named arrays (default: `self.state`)."""
        return dict(self.state)

    def load_extra_state(self, state: dict) -> None:
        self.state = state

    # -- shared machinery ----------------------------------------------------------------------
    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mb * MB)

    STATE_SHARE = 0.75  # of memory_mb for the population state; the rest is evaluation workspace

    def _check_fits(self, engine: PopulationEngine, val_rows: int) -> None:
        n = engine.size
        workspace = max(int((1 - self.STATE_SHARE) * self.memory_bytes),
                        engine.member_bytes(self.batch_size, self.uses_gradients),
                        engine.member_bytes(min(val_rows, 1024)))
        self.notes = self.plan(n, self.memory_bytes - workspace)
        state = self.state_bytes(n)
        if state + engine.member_bytes(self.batch_size, self.uses_gradients) > self.memory_bytes:
            raise MemoryBudgetError(
                f"{self.name}: the population state needs {megabytes(state)} for {n:,} weights, more than "
                f"population.memory_mb={self.memory_mb:g}; lower the population size or raise memory_mb (population.memory_mb in a config)")

    def available_for_evaluation(self, engine: PopulationEngine) -> int:
        return max(self.memory_bytes - self.state_bytes(engine.size), 1)

    def fit(self, model: keras.Model, train, validation, epochs: int = _EPOCHS, task: str | None = None,
            checkpoint_dir=None, best_path=None, deadline=None, callback=None, on_generation=None) -> dict:
        """Train `model`'s weights on `train` = (x, y), choosing on `validation` = (x, y).

        The model ends with the weights of the best validated member.

        Args:
            model: a built Keras model; its current weights seed the population.
            train: (x, y) numpy arrays to train on.
            validation: (x, y) numpy arrays the candidates are chosen on.
            epochs: passes over `train` (default: `train.epochs`' default); an integer >= 1.
            task: "classification" or "regression" (default: regression for float labels).
            checkpoint_dir: a folder that makes the run resumable: call fit again with the same arguments after a kill.
            best_path: a .keras path that receives the best model whenever it improves.
            deadline: an automl.budget.Deadline; the run stops at a generation boundary when it expires.
            callback: called with each epoch's record.
            on_generation: called after each generation with its number (from 1) and the total (a live bar).

        Returns:
            The state: history, epochs, best epoch, seconds, finished.
        """
        x, y = (np.asarray(a) for a in train)
        xv, yv = (np.asarray(a) for a in validation)
        if len(x) == 0 or len(xv) == 0:
            raise ValueError("population training needs a non-empty training and validation split")
        self.validated(TrainingSettings, {"epochs": epochs})  # the rule of `train.epochs`
        task = task or task_for(np.issubdtype(y.dtype, np.floating)).name
        engine = PopulationEngine(model, task, memory_mb=self.memory_mb, jit=self.jit)
        self._check_fits(engine, len(xv))
        monitor_max = TASKS[task].mode == "max"
        steps = self.steps_per_epoch(len(x))
        total = epochs * steps
        self.total_generations = total

        checkpoint = Path(checkpoint_dir) / "population.npz" if checkpoint_dir else None
        self.best_vector = None  # a new run starts without one; a resumed run's comes from its checkpoint
        run = self._load(checkpoint, engine) if checkpoint is not None and checkpoint.exists() else None
        if run is None:
            run = {"generation": 0, "history": [], "best": None, "best_tie": None, "best_epoch": None,
                   "train_seconds": 0.0, "evaluations": 0, "finished": False, "epoch_stats": []}
            self.before_population(model, engine, train, validation, epochs, run)
            self.initialise(engine.table.flatten(), engine, np.random.default_rng([self.seed, 0, 7]))
        x_dev, y_dev = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        started, last_save = time.perf_counter(), time.perf_counter()
        prior = run["train_seconds"]
        cut = False
        while run["generation"] < total:
            if deadline is not None and deadline.expired():
                cut = True
                break
            t = run["generation"]
            rng = np.random.default_rng([self.seed, t + 1])
            xb, yb = self.batch(x_dev, y_dev, len(x), t, steps, rng)
            g0 = time.perf_counter()
            stats = self.generation(engine, xb, yb, rng, t)
            stats["seconds"] = time.perf_counter() - g0
            run["generation"] = t + 1
            run["evaluations"] += stats["evaluations"]
            run["epoch_stats"].append([stats["best"], stats["mean"], stats["evaluations"], stats["seconds"]])
            if on_generation is not None:
                on_generation(t + 1, total)
            if run["generation"] % (steps * self.validation_every) == 0 or run["generation"] == total:
                record = self._end_epoch(engine, xv, yv, run, monitor_max, model, best_path, steps)
                run["train_seconds"] = prior + time.perf_counter() - started
                if checkpoint is not None and time.perf_counter() - last_save >= self.checkpoint_seconds:
                    self._save(checkpoint, engine, run)
                    last_save = time.perf_counter()
                if callback is not None:
                    callback(record)
        run["train_seconds"] = prior + time.perf_counter() - started
        run["finished"] = not cut
        if checkpoint is not None:  # the end, or a budget stop
            self._save(checkpoint, engine, run)
        if self.best_vector is not None:
            engine.table.assign(self.best_vector)
        run["cut"] = cut
        run["epoch"] = run["generation"] // steps
        run["total_epochs"] = epochs
        return run

    def before_population(self, model, engine, train, validation, epochs, run) -> None:
        """A hook for work before the population exists (nDES-B's gradient bootstrap)."""

    def steps_per_epoch(self, n: int) -> int:
        return max(1, math.ceil(n / self.batch_size))

    def batch(self, x, y, n: int, t: int, steps: int, rng):
        """Generation t's batch: the next slice of this epoch's permutation, wrapped to full size."""
        epoch, step = divmod(t, steps)
        order = np.random.default_rng([self.seed, 1, epoch]).permutation(n)
        b = min(self.batch_size, n)
        idx = np.take(order, np.arange(step * b, step * b + b), mode="wrap")
        return ops.take(x, idx, axis=0), ops.take(y, idx, axis=0)

    def _end_epoch(self, engine, xv, yv, run, monitor_max, model, best_path, steps) -> dict:
        cands = self.candidates()
        losses, accs = engine.evaluate(cands, xv, yv, available_bytes=self.available_for_evaluation(engine))
        losses, accs = ops.convert_to_numpy(losses), ops.convert_to_numpy(accs)
        losses = np.where(np.isfinite(losses), losses, np.inf)
        if monitor_max:
            i = int(np.lexsort((losses, -accs))[0])  # highest accuracy, then lowest loss
            value, tie = float(accs[i]), float(losses[i])
        else:
            i = int(np.argmin(losses))
            value, tie = -float(losses[i]), float(losses[i])
        epoch = run["generation"] // steps
        stats = np.array(run["epoch_stats"], dtype="float64")
        run["epoch_stats"] = []
        improved = math.isfinite(tie) and (run["best"] is None or value > run["best"]
                                           or (value == run["best"] and tie < run["best_tie"]))
        if improved:
            self.best_vector = np.asarray(ops.convert_to_numpy(cands[i]), dtype="float32")
            run.update(best=value, best_tie=tie, best_epoch=epoch)
            if best_path is not None:
                engine.table.assign(self.best_vector)
                atomic_save_model(model, best_path)
        record = {
            "epoch": epoch,
            "generation": run["generation"],
            "loss": float(stats[:, 0].mean()),      # the best member's batch loss, mean over the epoch
            "mean_loss": float(stats[:, 1].mean()),  # the population's mean batch loss
            "val_loss": float(losses[i]),
            "evaluations_per_second": float(stats[:, 2].sum() / max(stats[:, 3].sum(), 1e-9)),
            "evaluations": int(run["evaluations"]),
        }
        if monitor_max:
            record["val_accuracy"] = float(accs[i])
        run["history"].append(record)
        return record

    # -- checkpoints ---------------------------------------------------------------------------
    def _save(self, path: Path, engine, run: dict) -> None:
        arrays = {f"state_{k}": np.asarray(ops.convert_to_numpy(v)) for k, v in self.extra_state().items()}
        arrays.update({f"nontrainable_{i}": np.asarray(ops.convert_to_numpy(v.value))
                       for i, v in enumerate(engine.model.non_trainable_variables)})
        if self.best_vector is not None:
            arrays["best_vector"] = self.best_vector
        arrays["run"] = np.frombuffer(json.dumps({**run, "optimizer": self.name,
                                                  "weights": engine.size}).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(path, buffer.getvalue())

    def _load(self, path: Path, engine) -> dict:
        with np.load(path) as data:
            run = json.loads(bytes(data["run"]).decode())
            if run.get("optimizer") != self.name or run.get("weights") != engine.size:
                raise ValueError(f"{path} holds a {run.get('optimizer')} run of a {run.get('weights')}-weight model, "
                                 f"not {self.name} on this {engine.size}-weight model; start a new run directory")
            state = {k[len("state_"):]: ops.convert_to_tensor(data[k]) if data[k].ndim >= 1 and data[k].dtype == np.float32
                     else data[k] for k in data.files if k.startswith("state_")}
            self.load_extra_state(state)
            for i, v in enumerate(engine.model.non_trainable_variables):
                v.assign(data[f"nontrainable_{i}"])
            self.best_vector = data["best_vector"] if "best_vector" in data.files else None
        return run


def documented(cls):
    """Class decorator: `help(cls)` and IDEs show every keyword the class takes (its own, its
    settings class's and those every optimizer shares), each with its documentation."""
    if "__init__" not in vars(cls):  # else the signature would land on a base class's __init__
        raise TypeError(f"{cls.__name__} needs its own __init__ to carry its signature")
    classes = (cls.settings_class, PopulationRunSettings, FitSettings)
    cls.__init__.__signature__ = merged_signature(cls.__init__, *classes)
    doc = cls.__doc__.rstrip()
    if "Args:" not in doc:
        doc += "\n\n    Args:"
    entries = merged_args_doc(*classes).splitlines()[1:]
    cls.__doc__ = doc + "\n" + "\n".join("    " + line for line in entries) + "\n"
    return cls


def refuse(name: str, what: str, needed: int, available: int) -> MemoryBudgetError:
    return MemoryBudgetError(
        f"{name}: {what} needs {megabytes(needed)}, more than the {megabytes(available)} that "
        "population.memory_mb leaves for the population state; lower it or raise memory_mb (population.memory_mb in a config)")


def fit_count(per_member_bytes: int, available: int) -> int:
    """How many members of `per_member_bytes` fit in `available` bytes."""
    return max(0, available // max(per_member_bytes, 1))


__all__ = ["BYTES", "MemoryBudgetError", "PopulationOptimizer", "documented", "fit_count", "refuse"]
