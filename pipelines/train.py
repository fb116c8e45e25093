"""The `automl train` workflow: one architecture, trained and evaluated into a run directory."""
from __future__ import annotations

import sys
import time

import keras

from automl.budget import Deadline, format_budget, format_duration
from automl.callbacks import Checkpointer, Progress, StopAtDeadline, load_state, tensorboard
from automl.data import ImageDataset
from automl.diagnose import training_warnings
from automl.errors import UsageError
from automl.io import atomic_save_model, load_model
from automl.optimizers import lr_multipliers
from automl.plots import training_curves
from automl.report import result_text
from automl.rundir import RunDir
from automl.task import task_for, task_of
from automl.tfdata import split_pipelines
from automl.training import compile_classifier, distribution_strategy, schedule_callbacks
from automl.training_settings import PHS_OPTIMIZERS
from models import build_model, count, get_spec
from models.sequence import SequenceSpec, build_sequence_model, sequence_cost
from pipelines.console import already_complete, printer
from pipelines.datasets import load_dataset
from pipelines.datasets.sequences import SequenceDataset
from pipelines.population import arch_name, is_population, train_population


def run_training(cfg, run: RunDir, quiet: bool = False, label: str = "",
                 data: ImageDataset | None = None, deadline: Deadline | None = None) -> dict:
    """Train (or resume) the configured architecture; returns the run summary.

    `data` is the loaded dataset, or None to load it here. `deadline` is the wall-clock budget
    of this invocation: training stops at the first batch after it, leaving time to finalise.
    """
    say = printer(quiet)
    deadline = deadline or Deadline()
    done = already_complete(run, say)
    if done is not None:
        return done

    keras.utils.set_random_seed(cfg.seed)
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    sequential = isinstance(data, SequenceDataset)
    task = task_of(data)
    regression = task.regression
    population = is_population(cfg.train.optimizer)
    if sequential:
        spec = sequence_spec(cfg.model)
        augment, preprocess = "none", None
    else:
        spec = get_spec(arch_name(cfg))
        cost = count(spec, data.input_shape, data.num_classes)
        # Population members are scored on raw batches: the seeds' EAs do not augment; the
        # port-Hamiltonian study trained without augmentation (seed 002 L698-734), so auto is none there.
        plain = population or (cfg.train.optimizer in PHS_OPTIMIZERS and cfg.data.augment == "auto")
        augment = "none" if plain else data.augment(cfg.data.augment)
        preprocess = data.preprocess()
    run.update_meta(dataset=data.describe(), class_names=data.class_names,
                    preprocess=preprocess.to_dict() if preprocess else None, augment=augment,
                    task=task.name)
    classes = task.name if regression else f"{data.num_classes} classes"
    say(f"dataset {data.name}: {data.describe()['train']} train / {data.describe()['validation']} "
        f"validation / {data.describe()['test']} test, {classes}, input {data.input_shape}, augment {augment}")

    train_ds, val_ds, test_ds = split_pipelines(data, cfg.data.batch_size, augment, cfg.seed)

    state = load_state(run.checkpoints)
    last = run.checkpoints / "last.keras"
    strategy = distribution_strategy(cfg.train.distribute)
    with strategy.scope():
        if state is not None and last.exists():
            model = load_model(last)
            say(f"resuming after epoch {state['epoch']}/{cfg.train.epochs}")
        elif population:
            model = _population_model(spec, data, sequential, preprocess, regression)
        elif sequential:
            model = build_sequence_model(spec, data.input_shape, data.num_classes, data.per_step,
                                         l2=cfg.model.weight_decay / 2, lr_rule=cfg.model.lr_rule)  # wd x w
            rule = lr_multipliers(model) if cfg.model.lr_rule else None
            try:
                compile_classifier(model, cfg.train, regression=regression, multipliers=rule)
            except ValueError as e:
                raise UsageError(str(e)) from None
        else:
            model = build_model(spec, data.input_shape, data.num_classes, preprocess)
            compile_classifier(model, cfg.train)
    if sequential:
        cost = sequence_cost(model, data.input_shape[0], data.per_step)
    say(f"model {spec.name}: {cost.params:,} params, {cost.flops:,} FLOPs")
    if strategy.num_replicas_in_sync > 1:
        say(f"training on {strategy.num_replicas_in_sync} devices ({type(strategy).__name__})")

    if population:
        # Bad settings were refused as the config loaded; a population that cannot fit its memory is
        # a UsageError (exit 2); any other error is a bug and keeps its traceback.
        state, extras = train_population(cfg, model, data, run, deadline, regression, quiet, label)
        if not run.best_path.exists():
            atomic_save_model(model, run.best_path)
        return _finish(cfg, run, data, spec, cost, state, say, val_ds, test_ds, deadline=deadline, extras=extras)

    schedule = schedule_callbacks(cfg.train, stream=False if quiet else None)
    # Finalising evaluates the chosen model on validation and test: 1 + |test|/|val| passes.
    stopper = StopAtDeadline(deadline, final_passes=1 + len(data.y_test) / max(len(data.y_val), 1))
    checkpointer = Checkpointer(run.checkpoints, run.best_path, schedule, stopper=stopper,
                                monitor=task.monitor, mode=task.mode)
    callbacks = [stopper, *schedule, checkpointer, tensorboard(run.path)]
    if not quiet:
        callbacks.append(Progress(cfg.train.epochs, label=label, deadline=deadline))
    if deadline.active:
        say(f"budget {format_budget(deadline.seconds)}: training stops at the first batch after "
            f"{format_duration(max(deadline.work_left(), 0))} from now, leaving time to finalise")
    if not checkpointer.state["finished"] and not deadline.expired():
        model.fit(train_ds, validation_data=val_ds, epochs=cfg.train.epochs,
                  initial_epoch=checkpointer.state["epoch"], callbacks=callbacks, verbose=0, shuffle=False)
    if not run.best_path.exists():  # the budget ended the first epoch: the partial net is all there is
        atomic_save_model(model, run.best_path)
    return _finish(cfg, run, data, spec, cost, checkpointer.state, say, val_ds, test_ds,
                   braking=_braking(model, checkpointer.state), deadline=deadline)


def _population_model(spec, data, sequential: bool, preprocess, regression: bool) -> keras.Model:
    """The net a population optimizer trains: Glorot-uniform initial weights (seed 000's Xavier,
    seed 001 L882), compiled for evaluation only (the population is the optimizer)."""
    if sequential:
        model = build_sequence_model(spec, data.input_shape, data.num_classes, data.per_step, lr_rule=False)
    else:
        model = build_model(spec, data.input_shape, data.num_classes, preprocess, kernel_initializer="glorot_uniform")
    task = task_for(regression)
    model.compile(loss=task.loss, metrics=list(task.metrics))
    model.optimizer.build(model.trainable_variables)  # a saved member then reloads without a state warning
    return model


def _braking(model, state: dict) -> dict | None:
    """Where goal-oriented braking fired: the optimizer's step, and the epoch it ended."""
    optimizer = model.optimizer
    if not getattr(optimizer, "is_braked", False):
        return None
    # The braked flag, not a friction comparison: float32(0.1) > 0.1 would say epoch 1.
    epoch = next((h["epoch"] for h in state["history"] if h.get("braked")), None)
    return {"epoch": epoch, "step": int(keras.ops.convert_to_numpy(optimizer.brake_step)),
            "friction": float(keras.ops.convert_to_numpy(optimizer.friction))}


def _finish(cfg, run: RunDir, data: ImageDataset, spec, cost, state: dict, say, val_ds, test_ds,
            braking=None, deadline: Deadline | None = None, extras: dict | None = None) -> dict:
    """Test the model chosen on validation, once, and write the record and summary."""
    records = run.records()
    if records and records[-1].get("kind") == "train" and records[-1]["epochs"] == state["epoch"]:
        # written just before a kill, and the training has not moved since: finalised once, not twice
        return _summarise(run, data, spec, state, say, records[-1], deadline, extras)
    best = load_model(run.best_path)
    started = time.perf_counter()
    val = best.evaluate(val_ds, return_dict=True, verbose=0)
    test = best.evaluate(test_ds, return_dict=True, verbose=0)
    record = {
        "kind": "train",
        "arch": spec.name,
        "optimizer": cfg.train.optimizer,
        "braking": braking,
        "spec": spec.to_dict(),
        "params": cost.params,
        "flops": cost.flops,
        "epochs": state["epoch"],
        "best_epoch": state["best_epoch"],
        "cut": bool(deadline and deadline.hit),
        "val_accuracy": float(val["accuracy"]) if "accuracy" in val else None,
        "val_loss": float(val["loss"]),
        "test_accuracy": float(test["accuracy"]) if "accuracy" in test else None,
        "test_loss": float(test["loss"]),
        "wall_seconds": state["train_seconds"] + time.perf_counter() - started,
        **(extras or {}),
    }
    run.append_record(record)
    return _summarise(run, data, spec, state, say, record, deadline, extras)


def _summarise(run: RunDir, data: ImageDataset, spec, state: dict, say, record: dict,
               deadline: Deadline | None, extras: dict | None) -> dict:
    """The plots, summary.json (report.html with it) and the closing lines of a training's record."""
    training_curves(state["history"], run.path / "training_curves.png", title=f"{spec.name} on {data.name}")
    summary = {
        "command": "train",
        "dataset": data.name,
        "best_model": RunDir.BEST,
        **{k: record[k] for k in ("arch", "optimizer", "braking", "params", "flops", "epochs", "best_epoch",
                                   "val_accuracy", "test_accuracy", "wall_seconds")},
        **(extras or {}),
        "budget": (deadline or Deadline()).report(),
    }
    if record["test_accuracy"] is None:  # a regression task: the loss is the mean squared error
        summary.update(val_mse=record["val_loss"], test_mse=record["test_loss"])
        summary.pop("val_accuracy"), summary.pop("test_accuracy")
    warnings = training_warnings(state["history"], record["val_accuracy"], data.y_val)
    if warnings:
        summary["warnings"] = warnings
    run.write_summary(summary)
    for warning in warnings:  # shown even with --quiet: the run succeeded, its result did not
        print(f"warning: {warning}", file=sys.stderr)
    if deadline is not None and deadline.hit:
        say(f"the budget ended the training after {state['epoch']} complete epoch(s); continue it with "
            f"`automl train --resume --out {run.path} --budget DURATION`")
    say(f"best epoch {state['best_epoch']}: {result_text(summary, 'val')}, {result_text(summary)} "
        f"({format_duration(record['wall_seconds'])})")
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary


def sequence_spec(model_cfg) -> SequenceSpec:
    m = model_cfg
    return SequenceSpec(cell=m.sequence_cell, units=m.units, layers=m.layers, depth=m.depth, hidden=m.hidden,
                        gate_bias=m.gate_bias, name=f"{m.sequence_cell}-{m.units}x{m.depth}")
