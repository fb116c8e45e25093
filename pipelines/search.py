"""The `automl search` workflow: ResBuilder and its ablations into a run directory."""
from __future__ import annotations

import dataclasses
import time

import keras

from automl.budget import Deadline
from automl.callbacks import Progress, format_duration
from automl.io import atomic_save_model, atomic_write_text
from automl.resbuilder.search import ResBuilder, SearchData
from pipelines.datasets import load_dataset
from pipelines.datasets.base import ImageDataset
from pipelines.datasets.tfdata import split_pipelines
from pipelines.errors import UsageError
from pipelines.plots import accuracy_vs_flops
from pipelines.rundir import RunDir
from pipelines.train import already_complete, printer, run_training

def run_search(cfg, run: RunDir, strategy: str, quiet: bool = False, data: ImageDataset | None = None,
               deadline: Deadline | None = None) -> dict:
    deadline = deadline or Deadline()
    if strategy == "fixed":
        return run_training(cfg, run, quiet=quiet, label="[fixed]", data=data, deadline=deadline)
    if strategy == "evolution":
        from pipelines.evolution import run_evolution

        return run_evolution(cfg, run, quiet=quiet, data=data, deadline=deadline)
    if strategy in ("random", "bayesian", "hyperband"):
        from pipelines.tuners import run_keras_tuner

        return run_keras_tuner(cfg, run, strategy, quiet=quiet, data=data, deadline=deadline)
    say = printer(quiet)
    done = already_complete(run, say)
    if done is not None:
        return done

    rb = cfg.resbuilder
    if strategy == "morphnet":
        rb = dataclasses.replace(rb, insertions=0)
    keras.utils.set_random_seed(cfg.seed)
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data)
    augment = data.augment(cfg.data.augment)
    train, val, test = split_pipelines(data, cfg.data.batch_size, augment, cfg.seed)
    search_data = SearchData(
        train=train, val=val, test=test, input_shape=data.input_shape, num_classes=data.num_classes, preprocess=data.preprocess(),
    )
    run.update_meta(dataset=data.describe(), class_names=data.class_names,
                    preprocess=search_data.preprocess.to_dict(), augment=augment, strategy=strategy)
    started = time.perf_counter()

    def record_architecture(record: dict) -> None:
        if any(r.get("architecture") == record["architecture"] for r in run.records()):
            return  # written just before a kill, and reported again on resume
        no_reg = max(("no_reg_wi", "no_reg_ri"), key=lambda v: record[v]["val_accuracy"])
        record.update(arch=f"arch {record['architecture']}", epochs=rb.epochs, chosen_variant=no_reg,
                      val_accuracy=record[no_reg]["val_accuracy"], test_accuracy=record[no_reg]["test_accuracy"])
        run.append_record(record)
        say(f"  arch {record['architecture']}: {record['blocks']} blocks, {record['flops']:,} FLOPs; validation "
            f"with-reg {record['with_reg']['val_accuracy']:.4f}, no-reg WI {record['no_reg_wi']['val_accuracy']:.4f}, "
            f"RI {record['no_reg_ri']['val_accuracy']:.4f}")

    def save_best(model, best: dict) -> None:
        atomic_save_model(model, run.best_path)
        say(f"  new best: arch {best['architecture']} ({best['variant']}), validation {best['val_accuracy']:.4f}")

    try:
        engine = ResBuilder(
            rb, cfg.train, search_data, run.path / "resbuilder", seed=cfg.seed, log=say,
            on_architecture=record_architecture, on_best=save_best,
            epoch_callbacks=(lambda label: []) if quiet else (
                lambda label: [Progress(rb.epochs, label=f"  {label}", deadline=deadline)]),
            deadline=deadline,
        )
    except ValueError as e:  # a budget the start net cannot meet: bad input, found before training
        key = "resbuilder.zeta_large" if min(data.input_shape[:2]) >= 128 else "resbuilder.zeta"
        raise UsageError(f"'{key}': {e}") from None
    say(f"{strategy} on {data.name}: {data.describe()['train']} train / {data.describe()['validation']} "
        f"validation images; start {rb.start}, {rb.morph_steps} MorphNet step(s) of {rb.insertions} "
        f"insertion(s), {rb.epochs} epochs per training")
    state = engine.run()
    records = run.records()
    best = state["best"]
    if best is None:  # the budget ended before one No-Reg training completed: nothing to choose yet
        raise UsageError(f"the budget ended before the first architecture finished training; nothing is lost: "
                         f"continue with `automl search --resume --out {run.path} --budget DURATION`")
    accuracy_vs_flops(records, best["architecture"], run.path / "accuracy_vs_flops.png",
                      title=f"{strategy} on {data.name}")
    atomic_write_text(run.path / "history.md", history_table(records, best["architecture"]))
    summary = {
        "command": "search", "strategy": strategy, "dataset": data.name, "best_model": RunDir.BEST,
        "arch": f"arch {best['architecture']} ({best['variant']})", "params": best["params"],
        "flops": best["flops"], "val_accuracy": best["val_accuracy"], "test_accuracy": best["test_accuracy"],
        "architectures": len(records), "stop_reason": "budget" if deadline.hit else state["stop_reason"],
        "cut_training": state.get("cut"),
        "wall_seconds": sum(r["wall_seconds"] for r in records) if records else time.perf_counter() - started,
        "budget": deadline.report(),
    }
    run.write_summary(summary)
    say(f"best: arch {best['architecture']} ({best['variant']}), {best['flops']:,} FLOPs, validation "
        f"{best['val_accuracy']:.4f}, test {best['test_accuracy']:.4f} ({format_duration(summary['wall_seconds'])})")
    say(f"run saved in {run.path}; export it with `automl export {run.path} --out DIR`")
    return summary


def history_table(records: list[dict], best: int) -> str:
    lines = ["# Architecture history", "",
             "| arch | morph step | insertion | blocks | widths | params | FLOPs | with-reg val | no-reg WI val "
             "| no-reg RI val | test (chosen variant) | removed blocks |",
             "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in records:
        mark = " **(best)**" if r["architecture"] == best else ""
        lines.append(
            f"| {r['architecture']}{mark} | {r['morph_step']} | {r['insertion']} | {r['blocks']} "
            f"| {'-'.join(map(str, r['widths']))} | {r['params']:,} | {r['flops']:,} "
            f"| {r['with_reg']['val_accuracy']:.4f} | {r['no_reg_wi']['val_accuracy']:.4f} "
            f"| {r['no_reg_ri']['val_accuracy']:.4f} | {r['test_accuracy']:.4f} | {r['removed_blocks'] or ''} |")
    lines += ["", "Selection uses validation accuracy only; test accuracy is shown for reporting.", ""]
    return "\n".join(lines)
