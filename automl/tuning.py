"""`automl.RandomSearch`, `automl.BayesianOptimization`, `automl.Hyperband`: Keras Tuner's
built-in tuners over the evolution's search spaces (the conv space for images, the recurrent
space for sequences), in the shape of automl.Evolution.

    import automl
    tuner = automl.RandomSearch(max_trials=5, budget="3m", directory="runs", project_name="digits")
    tuner.search(x, y, validation_split=0.2)
    tuner.results_summary()
    model = tuner.get_best_models(1)[0]
    tuner.export("export/digits")

A space that can draw a genome through hyperparameters (`from_hyperparameters`) becomes a
`keras_tuner.HyperModel`, so one space definition serves the evolution and the built-ins alike.
Keras Tuner keeps every trial on disk (RUN/tuner), so a killed search resumes where it stopped; a
wall-clock budget stops it from starting new trials and cuts the running one at its next batch.
The run's folder is a run directory like the command line's (`automl report`, `automl export`);
the best trial's net, chosen on validation, is tested once.
"""
from __future__ import annotations

import abc
import contextlib
import math
import time
import warnings

import keras
import keras_tuner as kt
from keras_tuner.src.engine.trial import TrialStatus

from automl.budget import Deadline, format_duration
from automl.callbacks import EpochBar, StopAtDeadline, StopOnNonFinite, tensorboard
from automl.data_settings import DataSettings
from automl.errors import UsageError
from automl.evolution.api import Evolution
from automl.evolution.oracle import FILL_MAX_TRIALS
from automl.evolution.settings import EvolutionSettings
from automl.evolution.space import Space
from automl.evolution.spaces import make_space, resolve_space
from automl.evolution.tuner import compile_trial
from automl.formats import DEFAULT_FORMATS
from automl.io import atomic_save_model, atomic_write_text
from automl.plots import accuracy_vs_flops
from automl.report import result_text
from automl.rundir import RunDir
from automl.search_inputs import SearchInputs, search_inputs
from automl.search_run import SearchRun
from automl.seeds import keras_tuner_seed
from automl.settings import ArgumentError, merged_signature, parse_args_section, split_keywords
from automl.task import task_for
from automl.tuner_settings import STRATEGIES, TunerSettings

PROJECT = "tuner"  # Keras Tuner's project folder inside the run directory: the trials
FILL_ITERATIONS = 1_000  # Hyperband's brackets with fill_budget: the deadline ends the search first
_EVOLUTION = EvolutionSettings.defaults()  # the space's widths: the evolution's arguments, defined there


class SpaceHyperModel(kt.HyperModel):
    """Builds (and compiles, with a fresh Adam) the net of the genome the hyperparameters draw,
    for the data `use_data` names."""

    def __init__(self, space: Space, learning_rate: float):
        if not hasattr(space, "from_hyperparameters"):
            raise ValueError(f"the {space.name} space has no hyperparameter form for Keras Tuner's tuners")
        super().__init__(name=f"{space.name}_space")
        self.space, self.learning_rate = space, learning_rate
        self.input_shape, self.num_classes, self.preprocess, self.per_step = None, None, None, False

    def use_data(self, input_shape, num_classes: int | None, preprocess=None, per_step: bool = False) -> None:
        """The data the nets are for; `num_classes` None: a regression task (MSE)."""
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.preprocess, self.per_step = preprocess, per_step

    def genome(self, hp):
        return self.space.from_hyperparameters(hp)

    def build(self, hp) -> keras.Model:
        if self.input_shape is None:
            raise ValueError("the nets are built for the data search() is given: call search() first "
                             "(on a finished run it loads the results)")
        genome = self.genome(hp)
        model = self.space.build(genome, self.input_shape, self.num_classes, self.preprocess, self.per_step)
        return compile_trial(model, self.learning_rate, self.num_classes is None, self.space.lr_rule(genome))

    def measure(self, genome) -> tuple[int, int]:
        """(parameters, FLOPs) of the genome's net."""
        model = self.space.build(genome, self.input_shape, self.num_classes, self.preprocess, self.per_step)
        cost = self.space.cost(genome, model, self.input_shape, self.num_classes, self.per_step)
        return int(cost.params), int(cost.flops)


class _Declaring:
    """Stands in for the hypermodel while Keras Tuner declares the search space, which it does
    when the tuner is made by building a model once per conditional scope: drawing the genome
    declares every hyperparameter and needs no data, which only search() is given."""

    def __init__(self, hypermodel: SpaceHyperModel):
        self.build = hypermodel.genome


@contextlib.contextmanager
def _checkpoints_without_optimizer():
    """Loading a trial's checkpoint, which holds its weights and no optimizer state (a fresh
    Adam trains each trial), without Keras' warning that the optimizer's variables are skipped."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        yield


class _TrialStopper(StopAtDeadline):
    """StopAtDeadline for one trial, on the search's own deadline: Keras Tuner deep-copies the
    callbacks given to `search`, deadline included, so a stopper passed there would measure the
    evaluation passes into a copy the oracle never reads. The epoch the deadline cuts short never
    competes: its objective is made the worst value before Keras Tuner's callbacks that follow
    (the best-epoch checkpoint, the trial's metrics) read it, so a trial's score and weights are
    always those of a whole epoch."""

    def __init__(self, deadline: Deadline, objective, final_passes: float):
        super().__init__(deadline, final_passes=final_passes)
        self.objective = objective

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        if self.cut and logs is not None:
            logs[self.objective.name] = -math.inf if self.objective.direction == "max" else math.inf


def _scored(trial) -> bool:
    """A trial with a whole epoch behind its score (see _TrialStopper)."""
    return trial.score is not None and math.isfinite(trial.score)


class _Oracle:
    """Oracle mixin: no new trial once the deadline has passed; the trials in trial order."""

    deadline: Deadline = Deadline()

    def populate_space(self, trial_id):
        if self.deadline.expired():
            return {"status": TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)

    def reload(self):
        super().reload()
        # Keras Tuner reads the trials back in the file system's order, and of equally scored
        # trials the first listed is the best: in trial order it stays the one it was before.
        self.trials = dict(sorted(self.trials.items(), key=lambda item: int(item[0])))


class _SpaceTuner(SearchRun, TunerSettings, metaclass=abc.ABCMeta):
    """What the three public tuners share: the run, the settings, the space, the search and its
    results; each names its Keras Tuner oracle and the settings it has no use for.

    Args:
        regression: True for a regression task (MSE; the lowest validation loss wins); the command line sets it for sequence regression tasks.
        recurrent_start: the recurrent space's first genome ({"cell", "units", "layers", "depth", "gate_bias", "lr_rule"}; Keras Tuner's first trial draws its cell, gate bias and rule); None or missing keys: automl.ModelSettings' defaults.
    """

    STRATEGY = ""                      # the summary's `strategy` and the default project_name (TUNERS sets it)
    ORACLE: type = kt.Oracle           # the Keras Tuner oracle, made with `_oracle_settings()`
    UNUSED: tuple[str, ...] = ()       # TunerSettings' arguments this tuner has no use for
    UNUSED_WHY = ""

    def __init__(self, *, max_channels: int = _EVOLUTION["max_channels"], max_units: int = _EVOLUTION["max_units"],
                 recurrent_start: dict | None = None, regression: bool = False, **kwargs):
        name = type(self).__name__
        for key in kwargs:
            if key in self.UNUSED:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r} ({self.UNUSED_WHY})")
        run, own = split_keywords(kwargs, SearchRun, TunerSettings)
        SearchRun.__init__(self, **run)
        TunerSettings.__init__(self, **own)
        try:  # the evolution's rules for the same two arguments, written once there
            EvolutionSettings(max_channels=max_channels, max_units=max_units)
        except ArgumentError as e:
            raise ArgumentError(name, e.argument, e.value, e.expected) from None
        self.check("regression", regression, isinstance(regression, bool), "True or False")
        self.check("recurrent_start", recurrent_start, recurrent_start is None or isinstance(recurrent_start, dict),
                   "a dict of the first genome's values, or None")
        self.max_channels, self.max_units, self.recurrent_start = max_channels, max_units, recurrent_start
        self.regression, self.task, self.summary = regression, task_for(regression), None
        try:  # "auto" is the conv space: the space is declared now, before search() sees the data
            space = make_space(resolve_space(self.space, sequential=False), max_channels=max_channels,
                               start=recurrent_start, max_units=max_units)
        except (ValueError, KeyError) as e:  # a recurrent start that is no genome of the space
            problem = f"no {e}" if isinstance(e, KeyError) else e
            raise ArgumentError(name, "recurrent_start", recurrent_start,
                                f"a genome of the recurrent space ({problem})") from None
        # Keras Tuner's own `directory` and `project_name` name its project inside the run directory.
        self.run_directory = self.run_path(self.STRATEGY)
        self.clear(self.run_directory)
        oracle = type(f"Budgeted{self.ORACLE.__name__}", (_Oracle, self.ORACLE), {})(
            objective=kt.Objective(self.task.monitor, self.task.mode), seed=keras_tuner_seed(self.seed),
            **self._oracle_settings())
        kt.Tuner.__init__(self, oracle, SpaceHyperModel(space, self.learning_rate),
                          directory=str(self.run_directory), project_name=PROJECT, overwrite=False)

    @abc.abstractmethod
    def _oracle_settings(self) -> dict:
        """The keyword arguments of this tuner's Keras Tuner oracle (its own share of the settings)."""

    @abc.abstractmethod
    def _schedule(self) -> str:
        """The search's schedule in words, for the first progress line."""

    @abc.abstractmethod
    def _fill_budget(self) -> None:
        """Let the deadline, not the schedule, end the search (fill_budget with a budget)."""

    def _activate_all_conditions(self):
        # Keras Tuner declares the space at construction, when no data has been seen (see _Declaring)
        declaring, self.hypermodel = self.hypermodel, _Declaring(self.hypermodel)
        try:
            super()._activate_all_conditions()
        finally:
            self.hypermodel = declaring

    @property
    def search_space(self) -> Space:
        return self.hypermodel.space

    # -- search --------------------------------------------------------------------------
    def search(self, x=None, y=None, validation_data=None, validation_split: float | None = None,
               epochs: int | None = None, batch_size: int | None = None, augment: str | None = None, test_data=None,
               deadline: Deadline | None = None):
        """Runs (or continues) the search; the best trial's net is then tested once and saved.

        Args:
            x: training images as a numpy array (N, H, W) or (N, H, W, C), a tf.data.Dataset of (image, label) pairs, or a dataset object whose splits are made (the command line's).
            y: the labels of `x` (any values; numbered in sorted order and kept as class names).
            validation_data: (images, labels) to choose on; else `validation_split` of `x` is held out.
            validation_split: the share of `x` held out for validation when no validation_data is given (default: automl.DataSettings' validation_split; stratified, seeded).
            epochs: epochs each trial trains (default: the `epochs` setting); Hyperband gives each trial its own.
            batch_size: the trials' batch size (default: the `batch_size` setting).
            augment: auto (shifts and flips for colour images, shifts for grey ones; seed 002 §6.1.1.2), none, shift or shift_flip; sequences are never augmented (default: automl.DataSettings' augment).
            test_data: (images, labels) on which the best trial's net is tested once, for reporting.
            deadline: an automl.budget.Deadline to work to instead of `budget` from now (the command line passes its own, counted from the command's start).

        Returns:
            The run's summary (also `self.summary`).
        """
        if epochs is not None:
            fixed = "epochs" in self.UNUSED
            self.check("epochs", epochs, not fixed, f"None ({self.UNUSED_WHY})")
        settings = TunerSettings.of_given(self, epochs=epochs, batch_size=batch_size)
        self.epochs, batch_size = settings.epochs, settings.batch_size  # the settings' rules
        augment = DataSettings.given(augment=augment).augment
        inputs = search_inputs(x, y, validation_data, validation_split, test_data, batch_size=batch_size,
                               augment=augment, seed=self.seed)
        inputs.check_space(self, self.search_space.name)
        self.check("regression", self.regression, self.regression == inputs.regression,
                   f"{inputs.regression}: the data is a {task_for(inputs.regression).name} task")
        data = inputs.data
        self.hypermodel.use_data(data.input_shape, inputs.num_classes, inputs.preprocess, inputs.per_step)
        run = RunDir.ensure(self.run_directory, "search", self._config(), header=f"# Settings of an "
                            f"automl.{type(self).__name__} search (Python API), or the command line's resolved "
                            "config.\n")
        self.summary = run.completed()
        if self.summary is not None:
            self.say(f"{run.path}: already complete; the results are loaded")
            return self.summary
        run.update_meta(dataset=data.describe(), class_names=data.class_names,
                        preprocess=inputs.preprocess.to_dict() if inputs.preprocess else None,
                        augment=inputs.augment, strategy=self.STRATEGY, task=self.task.name)
        deadline = deadline or self.new_deadline()
        self.oracle.deadline, self._run = deadline, run
        if self.fill_budget and deadline.active:
            self._fill_budget()
        described = data.describe()
        self.say(f"{self.STRATEGY} search on {data.name}: {described['train']} train / {described['validation']} "
                 f"validation {'sequences' if inputs.sequential else 'images'}; {self.search_space.name} space, "
                 f"{self._schedule()}")
        started = time.perf_counter()
        self._final_passes = 1 + len(data.y_test) / max(len(data.y_val), 1)  # validation and test of the best
        with _checkpoints_without_optimizer():  # Hyperband continues trials from their checkpoints
            kt.Tuner.search(self, inputs.train, validation_data=inputs.val, epochs=self.epochs,
                            # Keras Tuner gives the TensorBoard callback a folder per trial and its HParams view
                            callbacks=[StopOnNonFinite(), tensorboard(run.path)], verbose=0,
                            shuffle=False)  # the pipelines shuffle
        self.summary = self._finish(run, inputs, time.perf_counter() - started, deadline)
        return self.summary

    def _config(self) -> dict:
        return {"tuner": TunerSettings.of(self).to_dict(), "max_channels": self.max_channels,
                "max_units": self.max_units, "recurrent_start": self.recurrent_start, "regression": self.regression,
                "seed": self.seed, "budget": self.budget, "api": f"automl.{type(self).__name__}"}

    # -- trials --------------------------------------------------------------------------
    def _build_and_fit_model(self, trial, *args, **kwargs):
        # first, so that Keras Tuner's callbacks after it see a cut epoch as the worst
        kwargs["callbacks"] = [_TrialStopper(self.oracle.deadline, self.oracle.objective, self._final_passes),
                               *kwargs.get("callbacks", []),
                               *([EpochBar(f"trial {trial.trial_id}")] if self.verbose else [])]
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started = time.perf_counter()
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        genome = self.hypermodel.genome(trial.hyperparameters.copy())
        self.say(f"trial {trial.trial_id}: {self.search_space.describe(genome)}"
                 f"{f', {epochs} epochs' if epochs else ''}")

    def on_trial_end(self, trial):
        # kept with the trial (the oracle saves it), so that a record written after a kill has it too
        trial.metrics.update("wall_seconds", time.perf_counter() - self._trial_started)
        super().on_trial_end(trial)
        self._record(self._run, trial)
        best = self.oracle.get_best_trials(1)
        result = f"{self.task.label} {trial.score:.4f}" if _scored(trial) else \
            "no score (failed, or cut by the budget before an epoch ended)"
        best_text = f"; best {best[0].score:.4f} (trial {best[0].trial_id})" if best and _scored(best[0]) else ""
        self.say(f"trial {trial.trial_id} done: {result}{best_text}")

    def _record(self, run: RunDir, trial) -> None:
        """The log record of a scored trial (once: a resumed run skips those it holds)."""
        if not _scored(trial) or any(r.get("trial") == trial.trial_id for r in run.records()):
            return
        genome = self.hypermodel.genome(trial.hyperparameters.copy())
        params, flops = self.hypermodel.measure(genome)
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        seconds = trial.metrics.get_last_value("wall_seconds") if trial.metrics.exists("wall_seconds") else None
        run.append_record({"kind": "trial", "trial": trial.trial_id, "architecture": int(trial.trial_id),
                           "genome": genome, "arch": self.search_space.describe(genome), "params": params,
                           "flops": flops, self.task.monitor: float(trial.score),
                           "epochs": int(epochs) if epochs is not None else self.epochs,
                           "wall_seconds": float(seconds or 0.0)})  # 0: a trial of a run from before timing

    def _finish(self, run: RunDir, inputs: SearchInputs, search_seconds: float, deadline: Deadline) -> dict:
        """The best trial's net tested once and saved; history, plot and summary."""
        scored = sorted((t for t in self.oracle.trials.values() if _scored(t)), key=lambda t: int(t.trial_id))
        if not scored:
            if deadline.hit:
                raise UsageError("the budget ended before a first trial finished; nothing is lost: give it more time "
                                 f"(search() again, or `automl search --resume --out {run.path} --budget DURATION`)")
            raise RuntimeError("the search ended without a single completed trial (see the failures above)")
        for trial in scored:  # a trial that ended just before a kill
            self._record(run, trial)
        best_trial = self.oracle.get_best_trials(1)[0]
        model = self.get_best_models(1)[0]
        val_scores = model.evaluate(inputs.val, return_dict=True, verbose=0)
        test_scores = model.evaluate(inputs.test, return_dict=True, verbose=0) if inputs.test is not None else None
        model.optimizer.build(model.trainable_variables)  # a built optimizer reloads without a mismatch warning
        atomic_save_model(model, run.best_path)

        records, metric, best_id = run.records(), self.task.monitor, int(best_trial.trial_id)
        data = inputs.data
        accuracy_vs_flops(records, best_id, run.path / "accuracy_vs_flops.png", title=f"{self.STRATEGY} on {data.name}",
                          metric=metric)
        atomic_write_text(run.path / "history.md", history_table(records, best_id, metric, self.STRATEGY))
        best = next(r for r in records if r["architecture"] == best_id)
        summary = {
            "command": "search", "strategy": self.STRATEGY, "dataset": data.name, "best_model": RunDir.BEST,
            "arch": f"trial {best_trial.trial_id}: {best['arch']}", "trial": best_trial.trial_id,
            "genome": best["genome"], "hyperparameters": best_trial.hyperparameters.values, "params": best["params"],
            "flops": best["flops"], "space": self.search_space.name,
            **self.task.scores(val_scores, test_scores), "trials": len(records),
            "stop_reason": "budget" if deadline.hit else "trials", "wall_seconds": search_seconds,
            "budget": deadline.report(),
        }
        run.write_summary(summary)
        scores = result_text(summary, "val") + (f", {result_text(summary)}" if test_scores is not None else "")
        self.say(f"best: trial {best_trial.trial_id} ({best['arch']}), {best['flops']:,} FLOPs; {scores} "
                 f"({format_duration(search_seconds)})")
        return summary

    # -- results -------------------------------------------------------------------------
    results_summary = Evolution.results_summary  # the same table: the run's trials ranked by the task's score

    def get_best_models(self, num_models: int = 1) -> list:
        """The best trials' nets as trained in the search, best first (after search(), which
        gives the nets their data; on a finished run it only loads the results)."""
        if self.hypermodel.input_shape is None:
            raise ValueError("get_best_models() builds the nets for the data: call search() first (on a finished "
                             "run it only loads the results)")
        with _checkpoints_without_optimizer():
            return super().get_best_models(num_models)

    def export(self, path, formats=DEFAULT_FORMATS):
        """Writes the best net as `automl export` does (see automl.export.export_run). Returns the folder."""
        from automl.export import export_run

        return export_run(self.run_directory, path, formats)


class RandomSearch(_SpaceTuner, kt.RandomSearch):
    """Keras Tuner's random search over our conv space (images) or recurrent space (sequences):
    `max_trials` genomes drawn at random, each trained `epochs` epochs with a fresh Adam and scored
    on validation. A keras_tuner.Tuner: `search`, `results_summary`, `get_best_models`,
    `get_best_hyperparameters` behave as Keras Tuner's."""

    ORACLE = kt.oracles.RandomSearchOracle
    UNUSED, UNUSED_WHY = ("hyperband_max_epochs", "hyperband_factor"), "those are automl.Hyperband's"

    def _oracle_settings(self) -> dict:
        return {"max_trials": self.max_trials}

    def _schedule(self) -> str:
        more = ", then more until the time budget is spent" if self.oracle.max_trials > self.max_trials else ""
        return f"{self.max_trials} trials of {self.epochs} epochs{more}"

    def _fill_budget(self) -> None:
        # trial ids then have FILL_MAX_TRIALS' five digits (Keras Tuner pads them to max_trials')
        self.oracle.max_trials = max(self.oracle.max_trials, FILL_MAX_TRIALS)


class BayesianOptimization(_SpaceTuner, kt.BayesianOptimization):
    """Keras Tuner's Bayesian optimisation (a Gaussian process on the trials' scores) over our conv
    space (images) or recurrent space (sequences): `max_trials` genomes, each trained `epochs`
    epochs with a fresh Adam and scored on validation. A keras_tuner.Tuner: `search`,
    `results_summary`, `get_best_models`, `get_best_hyperparameters` behave as Keras Tuner's."""

    ORACLE = kt.oracles.BayesianOptimizationOracle
    UNUSED, UNUSED_WHY = RandomSearch.UNUSED, RandomSearch.UNUSED_WHY
    _oracle_settings, _schedule = RandomSearch._oracle_settings, RandomSearch._schedule
    _fill_budget = RandomSearch._fill_budget


class Hyperband(_SpaceTuner, kt.Hyperband):
    """Keras Tuner's Hyperband (Li et al. 2017) over our conv space (images) or recurrent space
    (sequences): brackets of successive halving, each trial trained up to `hyperband_max_epochs`
    epochs and the best `1 / hyperband_factor` continued from their weights. A keras_tuner.Tuner:
    `search`, `results_summary`, `get_best_models`, `get_best_hyperparameters` behave as Keras
    Tuner's."""

    ORACLE = kt.oracles.HyperbandOracle
    UNUSED = ("max_trials", "epochs")
    UNUSED_WHY = "Hyperband sizes its brackets and gives each trial its epochs: hyperband_max_epochs, hyperband_factor"

    def _oracle_settings(self) -> dict:
        return {"max_epochs": self.hyperband_max_epochs, "factor": self.hyperband_factor}

    def _schedule(self) -> str:
        more = ", its brackets repeated until the time budget is spent" if self.oracle.hyperband_iterations > 1 else ""
        return f"Hyperband up to {self.hyperband_max_epochs} epochs (factor {self.hyperband_factor}){more}"

    def _fill_budget(self) -> None:
        self.oracle.hyperband_iterations = max(self.oracle.hyperband_iterations, FILL_ITERATIONS)


TUNERS = dict(zip(STRATEGIES, (RandomSearch, BayesianOptimization, Hyperband)))


def _publish(cls) -> None:
    """`cls`'s own constructor signature and `Args:`, each argument defined once: the space's
    (max_channels, max_units: automl.EvolutionSettings'), the run's (SearchRun) and the tuner's
    (TunerSettings), less those `cls` has no use for."""
    def __init__(self, **kwargs):
        _SpaceTuner.__init__(self, **kwargs)

    merged = merged_signature(_SpaceTuner.__init__, SearchRun, TunerSettings)
    __init__.__signature__ = merged.replace(parameters=[p for p in merged.parameters.values()
                                                        if p.name not in cls.UNUSED])
    __init__.__doc__ = f"A {cls.__name__}: see the class's documentation for each argument."
    cls.__init__ = __init__
    docs = {**parse_args_section(_SpaceTuner.__doc__), **{k: EvolutionSettings.docs()[k] for k in
            ("max_channels", "max_units")}, **SearchRun.docs(), **TunerSettings.docs()}
    cls.__doc__ = (cls.__doc__.rstrip() + "\n\n    Args:\n" + "\n".join(
        f"        {name}: {docs[name]}" for name in cls.parameters()) + "\n")


for _strategy, _cls in TUNERS.items():
    _cls.STRATEGY = _strategy
    _publish(_cls)


def history_table(records: list[dict], best: int, metric: str, strategy: str) -> str:
    name = "val MSE" if metric == "val_loss" else "val acc"
    lines = [f"# {strategy} search history", "", f"| trial | architecture | params | FLOPs | epochs | {name} |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in records:
        mark = " **(best)**" if r["architecture"] == best else ""
        lines.append(f"| {r['trial']}{mark} | {r['arch']} | {r['params']:,} | {r['flops']:,} | "
                     f"{r['epochs']} | {r[metric]:.4f} |")
    lines += ["", "Selection uses the validation score only; the best trial's net is tested once.", ""]
    return "\n".join(lines)
