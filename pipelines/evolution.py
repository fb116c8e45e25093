"""`automl search --strategy evolution`: seed 001's Lamarckian evolution on Keras Tuner.

Serial, or distributed with Keras Tuner's chief/worker environment variables: the chief
holds the oracle (and writes the run log), workers train trials, and all share the run
directory, which must therefore be on a shared filesystem. The chief (or the serial run)
then gives the best net the thesis' final training and tests it once.
"""
from __future__ import annotations

import json
import time

import keras

from automl.budget import Deadline
from automl.callbacks import StopAtDeadline, format_duration
from automl.evolution.oracle import EvolutionOracle
from automl.evolution.pareto import fronts
from automl.evolution.space import make_space
from automl.evolution.tuner import EvolutionTuner, final_training
from automl.io import atomic_save_model, atomic_write_json, atomic_write_text
from pipelines import distributed
from pipelines.datasets import load_dataset
from pipelines.datasets.base import ImageDataset
from pipelines.datasets.tfdata import split_pipelines
from pipelines.plots import accuracy_vs_flops
from pipelines.rundir import RunDir
from pipelines.errors import UsageError
from pipelines.train import already_complete, printer, result_text
from pipelines.datasets.sequences import SequenceDataset

PROJECT = "evolution"


def run_evolution(cfg, run: RunDir, quiet: bool = False, data: ImageDataset | None = None,
                  deadline: Deadline | None = None) -> dict:
    say = printer(quiet)
    role = distributed.role()
    # The budget is the chief's: workers get its end with every trial.
    deadline = deadline if deadline is not None and role != "worker" else Deadline()
    done = already_complete(run, say)
    if done is not None:
        return done
    evo = cfg.evolution
    keras.utils.set_random_seed(cfg.seed)
    data, sequential, regression, augment, (train, val, test), preprocess = search_data(
        cfg, data, evo.batch_size, evo.augment)
    if role != "worker":
        run.update_meta(dataset=data.describe(), class_names=data.class_names,
                        preprocess=preprocess.to_dict() if preprocess else None, augment=augment,
                        strategy="evolution", task="regression" if regression else "classification")
    space = search_space(cfg, evo.space, sequential)
    fitness = "validation MSE" if regression else "validation"
    started = time.time()

    def record(trial, oracle: EvolutionOracle) -> None:
        """Runs where the oracle lives (the chief): one log line and one printed line per trial."""
        values, metrics = trial.hyperparameters.values, trial.metrics
        used, best = oracle.evo["used_epochs"], oracle.evo["best"]
        if not any(r.get("trial") == trial.trial_id for r in run.records()):  # idempotent across a resume
            genome = json.loads(values["genome"])
            run.append_record({
                "kind": "trial", "trial": trial.trial_id, "architecture": int(trial.trial_id),
                "role": values["role"], "parent": values["parent"] or None, "mutation": values["mutation"],
                "genome": genome, "arch": space.describe(genome), "blocks": space.depth(genome),
                "params": int(metrics.get_last_value("params")), "flops": int(metrics.get_last_value("flops")),
                "inherited_fraction": metrics.get_last_value("inherited_fraction"), "epochs": int(values["epochs"]),
                ("val_loss" if regression else "val_accuracy"): None if oracle.is_cut(trial.trial_id) else trial.score,
                "cut": oracle.is_cut(trial.trial_id), "epochs_trained": oracle.trained_epochs(trial.trial_id),
                "wall_seconds": metrics.get_last_value("train_seconds"), "epochs_used": used, "best_trial": best,
            })
        elapsed = time.time() - started
        eta = min(elapsed / used * (evo.budget_epochs - used) if used else 0.0, max(deadline.left(), 0))
        left = f", budget left {format_duration(max(deadline.left(), 0))}" if deadline.active else ""
        result = "cut by the budget" if oracle.is_cut(trial.trial_id) else f"{fitness} {trial.score:.4f}"
        best_text = f"best {oracle.trials[best].score:.4f} (trial {best})" if best is not None else "no best yet"
        say(f"trial {trial.trial_id} done: {result}; {best_text}; epochs {used}/{evo.budget_epochs}, "
            f"{format_duration(elapsed)} elapsed, ETA {format_duration(eta)}{left}")

    oracle = EvolutionOracle(
        space, mode=evo.mode, objective_kind=evo.objective, budget_epochs=evo.budget_epochs,
        epochs_per_trial=evo.epochs_per_trial, inheritance=evo.inheritance,
        niching_probability=evo.niching_probability, niching_steps=evo.niching_steps,
        population_size=evo.population_size, tournament_size=evo.tournament_size, checkpoints=evo.checkpoints,
        worker_timeout=evo.worker_timeout if role == "chief" else 0.0, seed=cfg.seed, on_trial_end=record,
        deadline=deadline, final_epochs=evo.final_epochs, minimize_loss=regression)
    tuner = EvolutionTuner(
        oracle, space, train, val, data.input_shape, data.num_classes, preprocess, learning_rate=evo.learning_rate,
        seed=cfg.seed, near_identity=cfg.resbuilder.init_mean_abs, heartbeat=evo.heartbeat, say=say,
        per_step=sequential and data.per_step, directory=str(run.path), project_name=PROJECT, overwrite=False)
    where = {"serial": "", "chief": " (distributed chief: waiting for workers)", "worker": " (distributed worker)"}
    say(f"evolution on {data.name}: {data.describe()['train']} train / {data.describe()['validation']} validation "
        f"{'sequences' if sequential else 'images'}; {space.name} space, {evo.mode}, {'with' if evo.inheritance else 'without'} weight inheritance, "
        f"{evo.epochs_per_trial} epochs per trial, budget {evo.budget_epochs} epochs{where[role]}")
    tuner.search(verbose=0)
    if role == "worker":
        say("worker: the chief reports the search is over")
        return {"role": "worker"}
    return _finish(cfg, run, data, space, oracle, tuner, train, val, test, say, time.time() - started, deadline,
                   regression)


def search_data(cfg, data, batch_size: int, augment_setting: str):
    """The loaded dataset, whether it holds sequences and a regression task, the augmentation
    used (none for sequences), its train/val/test pipelines and the image preprocessing."""
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    sequential = isinstance(data, SequenceDataset)
    regression = sequential and data.task == "regression"
    augment = "none" if sequential else data.augment(augment_setting)
    pipelines = split_pipelines(data, batch_size, augment, cfg.seed)
    return data, sequential, regression, augment, pipelines, None if sequential else data.preprocess()


def resolve_space(name: str, sequential: bool) -> str:
    """Config value "auto": the conv space for images, the recurrent space for sequences."""
    return ("recurrent" if sequential else "conv") if name == "auto" else name


def search_space(cfg, name: str, sequential: bool):
    """The configured space; the recurrent one starts from the model.* settings."""
    name = resolve_space(name, sequential)
    m = cfg.model
    start = {"cell": m.cell or "dmu", "units": m.units, "layers": m.layers, "depth": m.depth,
             "gate_bias": m.gate_bias, "lr_rule": m.lr_rule} if name == "recurrent" else None
    try:
        return make_space(name, cfg.resbuilder.start_pooling_stages, cfg.evolution.max_channels, start,
                          cfg.evolution.max_units)
    except ValueError as e:
        raise UsageError(f"search space {name}: {e}") from None


def _finish(cfg, run: RunDir, data, space, oracle: EvolutionOracle, tuner: EvolutionTuner, train, val, test, say,
            search_seconds: float, deadline: Deadline, regression: bool = False) -> dict:
    """The thesis' final training of the best net (and of any checkpointed nets), one test each."""
    evo = cfg.evolution
    oracle.catch_up()
    best = oracle.evo["best"]
    if best is None:
        if deadline.hit:
            raise UsageError(f"the budget ended before a first trial finished; nothing is lost: continue with "
                             f"`automl search --resume --out {run.path} --budget DURATION`")
        raise RuntimeError("the evolution ended without a single completed trial (see the failures above)")
    finals = {}
    for tid in dict.fromkeys([best] + [c["trial"] for c in oracle.evo["checkpoints"]]):
        if tid != best and deadline.expired():
            finals[tid] = {"not_run": "budget"}
            continue
        finals[tid] = _final(run, tuner, oracle.get_trial(tid), train, val, test, evo, say, deadline, regression)
    atomic_save_model(keras.models.load_model(run.path / "final" / f"{best}.keras"), run.best_path)

    records = run.records()
    metric = "val_loss" if regression else "val_accuracy"
    chosen = [r for r in records if not r.get("cut")]
    front = [chosen[i]["trial"] for i in fronts([(-r[metric] if regression else r[metric], r["flops"])
                                                 for r in chosen])[0]] if chosen else []
    accuracy_vs_flops(chosen, int(best), run.path / "accuracy_vs_flops.png",
                      title=f"evolution on {data.name} ({evo.objective})", metric=metric)
    atomic_write_text(run.path / "history.md", history_table(records, best, front, metric))
    b = next(r for r in records if r["trial"] == best)
    summary = {
        "command": "search", "strategy": "evolution", "dataset": data.name, "best_model": RunDir.BEST,
        "arch": f"trial {best}: {b['arch']}", "trial": best, "genome": b["genome"], "params": b["params"],
        "flops": b["flops"], f"search_{metric}": b[metric], **finals[best],
        "checkpoints": [{**c, **finals[c["trial"]]} for c in oracle.evo["checkpoints"]],
        "pareto_front": front, "trials": len(records), "epochs_used": oracle.evo["used_epochs"],
        "budget_epochs": evo.budget_epochs, "inheritance": evo.inheritance, "mode": evo.mode,
        "space": space.name, "objective": evo.objective,
        "stop_reason": "budget" if deadline.hit else "budget_epochs", "cut_trials": oracle.evo["cut"],
        "wall_seconds": search_seconds, "budget": deadline.report(),
    }
    run.write_summary(summary)
    say(f"best: trial {best} ({b['arch']}), {b['flops']:,} FLOPs; search {'validation MSE' if regression else 'validation'} "
        f"{b[metric]:.4f}; after {evo.final_epochs} final epochs {result_text(summary, 'val')}, {result_text(summary)}")
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary


def _final(run: RunDir, tuner: EvolutionTuner, trial, train, val, test, evo, say, deadline: Deadline,
           regression: bool = False) -> dict:
    """Final training of one trial's net, cached so that a resumed run does not repeat it.

    Under a budget it stops at the first batch after the deadline (its validation and test
    passes are the finalising the reserve was kept for); a cut final training is not cached.
    """
    store = run.path / "final"
    result_path = store / f"{trial.trial_id}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    say(f"final training of trial {trial.trial_id}: {evo.final_epochs} epochs at lr "
        f"{'/'.join(f'{r:g}' for r in evo.final_learning_rates)}")
    started = time.perf_counter()
    keras.utils.set_random_seed(int(trial.trial_id))
    eval_seconds = trial.metrics.get_last_value("eval_seconds") if trial.metrics.exists("eval_seconds") else 0.0
    deadline.reserve = 3.0 + 2.5 * eval_seconds  # the validation and test passes below
    stopper = StopAtDeadline(deadline, final_passes=2.5)
    genome = json.loads(trial.hyperparameters.values["genome"])
    model = final_training(tuner.load_model(trial), train, evo.final_epochs, evo.final_boundaries,
                           evo.final_learning_rates, callbacks=[stopper] if deadline.active else [],
                           regression=regression, lr_rule=tuner.space.lr_rule(genome))
    val_metrics = model.evaluate(val, return_dict=True, verbose=0)
    test_metrics = model.evaluate(test, return_dict=True, verbose=0)  # the one test of this net
    atomic_save_model(model, store / f"{trial.trial_id}.keras")
    scores = {"val_mse": float(val_metrics["loss"]), "test_mse": float(test_metrics["loss"])} if regression else \
        {"val_accuracy": float(val_metrics["accuracy"]), "test_accuracy": float(test_metrics["accuracy"])}
    result = {**scores,
              "final_seconds": time.perf_counter() - started,
              "final_epochs": stopper.completed_epochs if deadline.active else evo.final_epochs,
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
