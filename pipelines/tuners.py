"""`automl search --strategy random|bayesian|hyperband`: Keras Tuner's built-in tuners on the
conv space (images) or the recurrent space (sequences), into a run directory like any search.

Trials live in RUN/tuner (Keras Tuner's own files), so `--resume` continues a killed search.
The best trial by validation (accuracy, or MSE for regression) is tested once.
"""
from __future__ import annotations

import time
import warnings

import keras

from automl.budget import Deadline, format_duration
from automl.callbacks import StopAtDeadline, StopOnNonFinite
from automl.errors import UsageError
from automl.io import atomic_save_model, atomic_write_text
from automl.plots import accuracy_vs_flops
from automl.report import result_text
from automl.rundir import RunDir
from automl.task import task_for
from automl.tuning import SpaceHyperModel, builtin_tuner
from pipelines.console import already_complete, printer
from pipelines.evolution import search_data, search_space

PROJECT = "tuner"


def run_keras_tuner(cfg, run: RunDir, strategy: str, quiet: bool = False, data=None,
                    deadline: Deadline | None = None) -> dict:
    say = printer(quiet)
    deadline = deadline or Deadline()
    done = already_complete(run, say)
    if done is not None:
        return done
    t = cfg.tuner
    keras.utils.set_random_seed(cfg.seed)
    data, sequential, regression, augment, (train, val, test), preprocess = search_data(
        cfg, data, t.batch_size, cfg.data.augment)
    run.update_meta(dataset=data.describe(), class_names=data.class_names,
                    preprocess=preprocess.to_dict() if preprocess else None, augment=augment,
                    strategy=strategy, task=task_for(regression).name)
    space = search_space(cfg, t.space, sequential)
    per_step = sequential and data.per_step
    try:
        hypermodel = SpaceHyperModel(space, data.input_shape, data.num_classes, preprocess, per_step,
                                     t.learning_rate)
    except ValueError as e:
        raise UsageError(str(e)) from None
    tuner = builtin_tuner(strategy, hypermodel, regression, t.max_trials, t.hyperband_max_epochs,
                          t.hyperband_factor, cfg.seed, str(run.path), PROJECT, deadline, say)
    budget = f"Hyperband up to {t.hyperband_max_epochs} epochs (factor {t.hyperband_factor})" \
        if strategy == "hyperband" else f"{t.max_trials} trials of {t.epochs} epochs"
    kind = "sequences" if sequential else "images"
    say(f"{strategy} search on {data.name}: {data.describe()['train']} train / {data.describe()['validation']} "
        f"validation {kind}; {space.name} space, {budget}")
    started = time.perf_counter()
    stopper = StopAtDeadline(deadline, final_passes=1 + len(data.y_test) / max(len(data.y_val), 1))
    with warnings.catch_warnings():  # trial checkpoints (Hyperband's parents, the best) hold no optimizer state
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        tuner.search(train, validation_data=val, epochs=t.epochs, callbacks=[StopOnNonFinite(), stopper], verbose=0,
                     shuffle=False)  # the pipelines shuffle
        model = tuner.get_best_models(1)[0] if any(tr.score is not None for tr in tuner.oracle.trials.values()) \
            else None
    search_seconds = time.perf_counter() - started

    if model is None:
        if deadline.hit:
            raise UsageError(f"the budget ended before a first trial finished; nothing is lost: continue with "
                             f"`automl search --resume --out {run.path} --budget DURATION`")
        raise RuntimeError("the search ended without a single completed trial (see the failures above)")
    best_trial = tuner.oracle.get_best_trials(1)[0]
    val_scores = model.evaluate(val, return_dict=True, verbose=0)
    test_scores = model.evaluate(test, return_dict=True, verbose=0)  # the one test of the search
    model.optimizer.build(model.trainable_variables)  # a built optimizer reloads without a mismatch warning
    atomic_save_model(model, run.best_path)

    task = task_for(regression)
    metric = task.monitor
    records = _trial_records(tuner, hypermodel, data, per_step, metric, t.epochs)
    for record in records:
        if not any(r.get("trial") == record["trial"] for r in run.records()):
            run.append_record(record)
    best_id = int(best_trial.trial_id)
    accuracy_vs_flops(records, best_id, run.path / "accuracy_vs_flops.png", title=f"{strategy} on {data.name}",
                      metric=metric)
    atomic_write_text(run.path / "history.md", history_table(records, best_id, metric, strategy))
    best = next(r for r in records if r["architecture"] == best_id)
    scores = task.scores(val_scores, test_scores)
    summary = {
        "command": "search", "strategy": strategy, "dataset": data.name, "best_model": RunDir.BEST,
        "arch": f"trial {best_trial.trial_id}: {best['arch']}", "trial": best_trial.trial_id,
        "genome": best["genome"], "hyperparameters": best_trial.hyperparameters.values, "params": best["params"],
        "flops": best["flops"], "space": space.name, **scores, "trials": len(records),
        "stop_reason": "budget" if deadline.hit else "trials", "wall_seconds": search_seconds,
        "budget": deadline.report(),
    }
    run.write_summary(summary)
    say(f"best: trial {best_trial.trial_id} ({best['arch']}), {best['flops']:,} FLOPs; "
        f"{result_text(summary, 'val')}, {result_text(summary)} ({format_duration(search_seconds)})")
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary


def _trial_records(tuner, hypermodel: SpaceHyperModel, data, per_step: bool, metric: str,
                   epochs_per_trial: int) -> list[dict]:
    """One record per scored trial: genome, size and validation score."""
    records = []
    for trial in sorted(tuner.oracle.trials.values(), key=lambda tr: int(tr.trial_id)):
        if trial.score is None:
            continue
        genome = hypermodel.genome(trial.hyperparameters.copy())
        model = hypermodel.space.build(genome, data.input_shape, data.num_classes, hypermodel.preprocess, per_step)
        cost = hypermodel.space.cost(genome, model, data.input_shape, data.num_classes, per_step)
        epochs = trial.hyperparameters.values.get("tuner/epochs")
        records.append({"kind": "trial", "trial": trial.trial_id, "architecture": int(trial.trial_id),
                        "genome": genome, "arch": hypermodel.space.describe(genome), "params": int(cost.params),
                        "flops": int(cost.flops), metric: float(trial.score),
                        "epochs": int(epochs) if epochs is not None else epochs_per_trial})
    return records


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
