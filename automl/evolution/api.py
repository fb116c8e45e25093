"""`automl.Evolution`: seed 001's Lamarckian evolution as a Keras Tuner tuner that builds its own
oracle, as `keras_tuner.RandomSearch` does.

    import automl
    tuner = automl.Evolution(budget="3m", max_channels=32, directory="runs", project_name="digits")
    tuner.search(x, y, validation_split=0.2)
    tuner.results_summary()
    model = tuner.get_best_models(1)[0]
    tuner.export("export/digits")

Serial, or distributed with Keras Tuner's chief/worker environment variables: the chief holds the
oracle and writes the run log, workers train trials, all share the run directory (a shared
filesystem). The chief (or a serial run) then gives the best net the thesis' final training and
tests it once, if test data was given.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import keras
from keras_tuner.src.distribute import utils as dist_utils

from automl.budget import Deadline, format_duration
from automl.callbacks import EpochBar, StopAtDeadline, tensorboard
from automl.errors import UsageError
from automl.evolution.oracle import EvolutionOracle
from automl.evolution.pareto import fronts
from automl.evolution.settings import EvolutionSettings
from automl.evolution.spaces import make_space, resolve_space
from automl.evolution.tuner import EvolutionTuner, final_training
from automl.formats import DEFAULT_FORMATS
from automl.io import atomic_save_model, atomic_write_json, atomic_write_text
from automl.plots import accuracy_vs_flops
from automl.resbuilder.settings import ResBuilderSettings
from automl.rundir import RunDir
from automl.search_run import SearchRun
from automl.settings import merged_args_doc, merged_signature, split_keywords
from automl.task import task_for

PROJECT = "evolution"  # Keras Tuner's project folder inside the run directory: the trials


class Evolution(SearchRun, EvolutionSettings, EvolutionTuner):
    """Lamarckian evolutionary architecture search with weight inheritance (seed 001 Ch. 7).

    Each child is a mutation of a parent (the six mutations of seed 001 §7.3.2) and inherits its
    trained weights where the mutation leaves them meaningful (§7.3.3), trains `epochs_per_trial`
    epochs with a fresh Adam and is scored on validation; a (1+1)-EA with niching (Algorithm 4)
    or regularized evolution for many workers decides who lives on, until `budget_epochs` epochs
    or the wall-clock `budget` are spent. The best net then gets the thesis' final training.
    A keras_tuner.Tuner: `search`, `results_summary`, `get_best_models`,
    `get_best_hyperparameters` behave as Keras Tuner's.

    Args:
        preset: None (the defaults below, a short schedule for a CPU), "quick" (the same) or "thesis".
        resbuilder: the residual space's start net and inserted-block initialisation (an automl.ResBuilderSettings, or a dict of its arguments); only `space="residual"` uses it.
        recurrent_start: the recurrent space's first genome ({"cell", "units", "layers", "depth", "gate_bias", "lr_rule"}); None or missing keys: automl.ModelSettings' defaults (the sequence net `automl train` trains).
        regression: True for a regression task (the fitness is the validation MSE, lower better); the command line sets it for sequence regression tasks.
    """

    def __init__(self, *, preset: str | None = None, resbuilder: ResBuilderSettings | dict | None = None,
                 recurrent_start: dict | None = None, regression: bool = False, **kwargs):
        run, own = split_keywords({**EvolutionSettings.preset(preset), **kwargs}, SearchRun, EvolutionSettings)
        SearchRun.__init__(self, **run)
        EvolutionSettings.__init__(self, **own)
        self.check("regression", regression, isinstance(regression, bool), "True or False")
        self.preset, self.regression, self.recurrent_start = preset, regression, recurrent_start
        self.task = task_for(regression)
        self.resbuilder = resbuilder if isinstance(resbuilder, ResBuilderSettings) else ResBuilderSettings(**(resbuilder or {}))
        # Keras Tuner's own `directory` and `project_name` name its project inside the run directory.
        self.run_directory = self.run_path(PROJECT)
        self.clear(self.run_directory)
        space = make_space(resolve_space(self.space, sequential=False), self.resbuilder.start_pooling_stages,
                           self.max_channels, recurrent_start, self.max_units)
        oracle = EvolutionOracle(space, EvolutionSettings.of(self), seed=self.seed, minimize_loss=regression,
                                 chief=dist_utils.is_chief_oracle())
        EvolutionTuner.__init__(self, oracle, space, learning_rate=self.learning_rate, seed=self.seed,
                                near_identity=self.resbuilder.init_mean_abs, heartbeat=self.heartbeat, say=self.say,
                                directory=str(self.run_directory), project_name=PROJECT, overwrite=False)

    # -- search --------------------------------------------------------------------------
    def search(self, x=None, y=None, validation_data=None, validation_split: float | None = None,
               epochs: int | None = None, batch_size: int | None = None, augment: str | None = None,
               test_data=None, deadline: Deadline | None = None):
        """Runs (or continues) the search and the final training of its best net.

        Args:
            x: training images as a numpy array (N, H, W) or (N, H, W, C), a tf.data.Dataset of (image, label) pairs, or a dataset object whose splits are made (the command line's).
            y: the labels of `x` (any values; numbered in sorted order and kept as class names).
            validation_data: (images, labels) to choose on; else `validation_split` of `x` is held out.
            validation_split: the share of `x` held out for validation when no validation_data is given (default: automl.DataSettings' validation_split; stratified, seeded).
            epochs: epochs each candidate trains (default: the `epochs_per_trial` setting).
            batch_size: the candidates' batch size (default: the `batch_size` setting).
            augment: the candidates' augmentation (default: the `augment` setting).
            test_data: (images, labels) on which the final-trained best net is tested once, for reporting.
            deadline: an automl.budget.Deadline to work to instead of `budget` from now (the command line passes its own, counted from the command's start).

        Returns:
            The run's summary (also `self.summary`), or None on a distributed worker.
        """
        from automl.search_inputs import search_inputs

        settings = EvolutionSettings.of_given(self, epochs_per_trial=epochs, batch_size=batch_size, augment=augment)
        self.epochs_per_trial = self.oracle.epochs_per_trial = settings.epochs_per_trial
        batch_size, augment = settings.batch_size, settings.augment
        inputs = search_inputs(x, y, validation_data, validation_split, test_data, batch_size=batch_size,
                               augment=augment, seed=self.seed)
        inputs.check_space(self, self.search_space.name)
        data, sequential, augment, preprocess = inputs.data, inputs.sequential, inputs.augment, inputs.preprocess
        train, val, test = inputs.train, inputs.val, inputs.test
        self.use_data(train, val, data.input_shape, None if self.regression else data.num_classes, preprocess,
                      per_step=inputs.per_step)
        worker = dist_utils.has_chief_oracle() and not dist_utils.is_chief_oracle()
        deadline = Deadline() if worker else (deadline or self.new_deadline())  # a worker's budget is the chief's
        run = RunDir.ensure(self.run_directory, "search", self._config(), header="# Settings of an automl.Evolution "
                            "search (Python API), or the command line's resolved config.\n")
        self.summary = run.completed()
        if self.summary is not None and not worker:
            self.say(f"{run.path}: already complete; the results are loaded")
            return self.summary
        if not worker:
            run.update_meta(dataset=data.describe(), class_names=data.class_names,
                            preprocess=preprocess.to_dict() if preprocess else None, augment=augment,
                            strategy="evolution", task=self.task.name)
        if worker:  # its oracle is a client of the chief's, whose budget counts
            self.oracle.deadline = deadline
        else:
            self.oracle.use_deadline(deadline)
        self.oracle.on_trial_end = _Recorder(self, run, deadline)
        self.epoch_callbacks = lambda label, epochs: [tensorboard(run.path, label),  # RUN/tb/trial_00003
                                                      *([EpochBar(label)] if self.verbose else [])]
        role = " (distributed worker)" if worker else " (distributed chief: waiting for workers)" \
            if dist_utils.has_chief_oracle() else ""
        self.say(f"evolution on {data.name}: {data.describe()['train']} train / {data.describe()['validation']} "
                 f"validation {'sequences' if sequential else 'images'}; {self.search_space.name} space, {self.mode}, "
                 f"{'with' if self.inheritance else 'without'} weight inheritance, {self.epochs_per_trial} epochs per "
                 f"trial, budget {self.budget_epochs} epochs"
                 f"{', then more until the time budget is spent' if not worker and self.oracle.filling() else ''}{role}")
        started = time.time()
        EvolutionTuner.search(self, verbose=0)
        if worker:
            self.say("worker: the chief reports the search is over")
            return None
        self.summary = _finish(self, run, data, train, val, test,
                               time.time() - started, deadline)
        return self.summary

    def _config(self) -> dict:
        return {"evolution": EvolutionSettings.of(self).to_dict(), "resbuilder": self.resbuilder.to_dict(),
                "seed": self.seed, "budget": self.budget, "api": "automl.Evolution"}

    # -- results -------------------------------------------------------------------------
    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the `num_trials` best trials by search fitness: architecture, size, epochs, score."""
        from automl.report import format_records

        run = RunDir.open(self.run_directory)
        metric = self.task.monitor
        scored = [(i, r) for i, r in enumerate(run.records(), 1) if r.get(metric) is not None]
        ranked = sorted(scored, key=lambda pair: self.task.key(pair[1][metric]))[:num_trials]
        print(f"Results summary: {run.path}, the {len(ranked)} best trials by {self.task.label}")
        print(format_records([r for _, r in ranked], [i for i, _ in ranked]))

    def get_best_models(self, num_models: int = 1) -> list:
        """The best nets by search fitness, best first; the best one (and any checkpointed one)
        after its final training, the others as trained in the search."""
        models = []
        for trial in self.oracle.get_best_trials(num_models):
            final = Path(self.run_directory) / "final" / f"{trial.trial_id}.keras"
            models.append(keras.models.load_model(final) if final.exists() else self.load_model(trial))
        return models

    def export(self, path, formats=DEFAULT_FORMATS):
        """Writes the best net as `automl export` does (see automl.export.export_run). Returns the folder."""
        from automl.export import export_run

        return export_run(self.run_directory, path, formats)


Evolution.__init__.__signature__ = merged_signature(Evolution.__init__, SearchRun, EvolutionSettings)
Evolution.__doc__ = (Evolution.__doc__.rstrip() + "\n" + "\n".join(
    "    " + line for line in merged_args_doc(SearchRun, EvolutionSettings).splitlines()[1:]) + "\n")


class _Recorder:
    """Where the oracle lives (the chief, or a serial run): one log record and one progress line
    per finished trial; idempotent across a resume."""

    def __init__(self, tuner: Evolution, run: RunDir, deadline: Deadline):
        self.tuner, self.run, self.deadline = tuner, run, deadline
        self.started = time.time()

    def __call__(self, trial, oracle: EvolutionOracle) -> None:
        tuner, run, deadline = self.tuner, self.run, self.deadline
        values, metrics = trial.hyperparameters.values, trial.metrics
        used, best = oracle.evo["used_epochs"], oracle.evo["best"]
        space = tuner.search_space
        if not any(r.get("trial") == trial.trial_id for r in run.records()):
            genome = json.loads(values["genome"])
            run.append_record({
                "kind": "trial", "trial": trial.trial_id, "architecture": int(trial.trial_id),
                "role": values["role"], "parent": values["parent"] or None, "mutation": values["mutation"],
                "genome": genome, "arch": space.describe(genome), "blocks": space.depth(genome),
                "params": int(metrics.get_last_value("params")), "flops": int(metrics.get_last_value("flops")),
                "inherited_fraction": metrics.get_last_value("inherited_fraction"), "epochs": int(values["epochs"]),
                tuner.task.monitor:
                    None if oracle.is_cut(trial.trial_id) else trial.score,
                "cut": oracle.is_cut(trial.trial_id), "epochs_trained": oracle.trained_epochs(trial.trial_id),
                "wall_seconds": metrics.get_last_value("train_seconds"), "epochs_used": used, "best_trial": best,
            })
        elapsed = time.time() - self.started
        eta = max(deadline.left(), 0) if oracle.filling() else \
            min(elapsed / used * (tuner.budget_epochs - used) if used else 0.0, max(deadline.left(), 0))
        left = f", budget left {format_duration(max(deadline.left(), 0))}" if deadline.active else ""
        result = "cut by the budget" if oracle.is_cut(trial.trial_id) else f"{tuner.task.label} {trial.score:.4f}"
        best_text = f"best {oracle.trials[best].score:.4f} (trial {best})" if best is not None else "no best yet"
        tuner.say(f"trial {trial.trial_id} done: {result}; {best_text}; epochs {used}/{tuner.budget_epochs}, "
                  f"{format_duration(elapsed)} elapsed, ETA {format_duration(eta)}{left}")


def _finish(tuner: Evolution, run: RunDir, data, train, val, test, search_seconds: float, deadline: Deadline) -> dict:
    """The thesis' final training of the best net (and of any checkpointed nets), one test each."""
    oracle = tuner.oracle
    oracle.catch_up()
    best = oracle.final_best()
    if best is None:
        if deadline.hit:
            raise UsageError("the budget ended before a first trial finished; nothing is lost: give it more time "
                             f"(search() again, or `automl search --resume --out {run.path} --budget DURATION`)")
        raise RuntimeError("the evolution ended without a single completed trial (see the failures above)")
    finals = {}
    for tid in dict.fromkeys([best] + [c["trial"] for c in oracle.evo["checkpoints"]]):
        if tid != best and deadline.expired():
            finals[tid] = {"not_run": "budget"}
            continue
        finals[tid] = _final(tuner, run, oracle.get_trial(tid), train, val, test, deadline)
    atomic_save_model(keras.models.load_model(run.path / "final" / f"{best}.keras"), run.best_path)

    records = run.records()
    metric = tuner.task.monitor
    chosen = [r for r in records if not r.get("cut")]
    # the front maximises its first objective: the score itself, or minus a loss
    front = [chosen[i]["trial"] for i in fronts([(-tuner.task.key(r[metric]), r["flops"]) for r in chosen])[0]] \
        if chosen else []
    accuracy_vs_flops(chosen, int(best), run.path / "accuracy_vs_flops.png",
                      title=f"evolution on {data.name} ({tuner.objective})", metric=metric)
    atomic_write_text(run.path / "history.md", history_table(records, best, front, metric))
    b = next(r for r in records if r["trial"] == best)
    summary = {
        "command": "search", "strategy": "evolution", "dataset": data.name, "best_model": RunDir.BEST,
        "arch": f"trial {best}: {b['arch']}", "trial": best, "genome": b["genome"], "params": b["params"],
        "flops": b["flops"], f"search_{metric}": b[metric], **finals[best],
        "checkpoints": [{**c, **finals[c["trial"]]} for c in oracle.evo["checkpoints"]],
        "pareto_front": front, "trials": len(records), "epochs_used": oracle.evo["used_epochs"],
        "budget_epochs": tuner.budget_epochs, "inheritance": tuner.inheritance, "mode": tuner.mode,
        "space": tuner.search_space.name, "objective": tuner.objective,
        "stop_reason": "budget" if deadline.hit else "budget_epochs", "cut_trials": oracle.evo["cut"],
        "wall_seconds": search_seconds, "budget": deadline.report(),
    }
    run.write_summary(summary)
    from automl.report import result_text

    scores = f"{result_text(summary, 'val')}, {result_text(summary)}" if test is not None else result_text(summary, "val")
    tuner.say(f"best: trial {best} ({b['arch']}), {b['flops']:,} FLOPs; search "
              f"{tuner.task.label} {b[metric]:.4f}; after {tuner.final_epochs} "
              f"final epochs {scores}")
    return summary


def _final(tuner: Evolution, run: RunDir, trial, train, val, test, deadline: Deadline) -> dict:
    """Final training of one trial's net, cached so that a resumed run does not repeat it.

    Under a budget it stops at the first batch after the deadline (its validation and test
    passes are the finalising the reserve was kept for); a cut final training is not cached.
    """
    store = run.path / "final"
    result_path = store / f"{trial.trial_id}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    tuner.say(f"final training of trial {trial.trial_id}: {tuner.final_epochs} epochs at lr "
              f"{'/'.join(f'{r:g}' for r in tuner.final_learning_rates)}")
    started = time.perf_counter()
    keras.utils.set_random_seed(int(trial.trial_id))
    eval_seconds = trial.metrics.get_last_value("eval_seconds") if trial.metrics.exists("eval_seconds") else 0.0
    stopper = StopAtDeadline(deadline, final_passes=2.5)  # the validation and test passes below
    deadline.reserve = stopper.base + stopper.final_passes * eval_seconds
    genome = json.loads(trial.hyperparameters.values["genome"])
    model = final_training(tuner.load_model(trial), train, tuner.final_epochs, tuner.final_boundaries,
                           tuner.final_learning_rates, callbacks=[stopper] if deadline.active else [],
                           regression=tuner.regression, lr_rule=tuner.search_space.lr_rule(genome))
    val_metrics = model.evaluate(val, return_dict=True, verbose=0)
    test_metrics = model.evaluate(test, return_dict=True, verbose=0) if test is not None else None  # its one test
    atomic_save_model(model, store / f"{trial.trial_id}.keras")
    result = {**tuner.task.scores(val_metrics, test_metrics),
              "final_seconds": time.perf_counter() - started,
              "final_epochs": stopper.completed_epochs if deadline.active else tuner.final_epochs,
              "final_cut": stopper.cut}
    if not stopper.cut:
        atomic_write_json(result_path, result)
    return result


def history_table(records: list[dict], best: str, front: list[str], metric: str = "val_accuracy") -> str:
    name = "val MSE" if metric == "val_loss" else "val acc"
    lines = ["# Evolution history", "",
             f"| trial | role | parent | mutation | architecture | params | FLOPs | inherited | {name} | best so far |",
             "|---:|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in records:
        marks = (" **(best)**" if r["trial"] == best else "") + (" (front)" if r["trial"] in front else "")
        val = "cut" if r.get("cut") else f"{r[metric]:.4f}"
        lines.append(f"| {r['trial']}{marks} | {r['role']} | {r['parent'] or ''} | {r['mutation']} | {r['arch']} "
                     f"| {r['params']:,} | {r['flops']:,} | {r['inherited_fraction']:.0%} | {val} "
                     f"| {r['best_trial']} |")
    lines += ["", f"Fitness is the {'validation MSE (lower better)' if metric == 'val_loss' else 'validation accuracy'} "
              "after the trial's training; no candidate is ever tested. "
              "Only the best net (and checkpointed nets) get the final training and one test.", ""]
    return "\n".join(lines)
