"""Evolution benchmark (issue #4): Lamarckian inheritance vs none, and keras-tuner's
RandomSearch and Hyperband over the same space at the same budget of training epochs.

Per seed and row, on the same splits, measured in the same run:
- evolution with inheritance: one run of `budget` epochs; the best net at the early checkpoint
  (a quarter of the budget, the thesis' 128 of 512) and at the end each get the thesis' final
  training (30 epochs, lr 1e-3/1e-4/1e-5) and one test;
- evolution without inheritance (the thesis' baseline I), the same;
- keras-tuner RandomSearch and Hyperband over the same conv-stack space (1-8 blocks, the same
  widths, kernels and strides), stopped when they have trained `budget` epochs in total (the epoch
  running at the limit is the last), their best net then gets the same final training and test.
Selection is on validation everywhere. Writes benchmarks/results/evolution.{md,json}.

Run: python benchmarks/evolution.py [--dataset mnist5k] [--budget 128] [--seeds 0 1 2] [--max-channels 32]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"
# seed 001 Table 7.1, CIFAR-10 test accuracy (%), 20 runs, K40 GPU: mean ± sd at 128 / 512 total epochs
THESIS = [("inheritance, e=4 (proposal)", "85.0 ± 2.4", "87.2 ± 1.5"),
          ("no inheritance, e=4 (baseline I)", "77.6 ± 3.2", "82.3 ± 1.4"),
          ("no inheritance, e=16 (baseline II)", "70.4 ± 12.6", "84.8 ± 3.1")]


def evolution_row(dataset, data, seed, budget, inheritance, max_channels, work: Path, preset: str) -> list[dict]:
    from automl.rundir import RunDir
    from pipelines import config as configs
    from pipelines.evolution import run_evolution

    early = budget // 4
    overrides = [f"dataset={dataset}", f"seed={seed}", f"evolution.budget_epochs={budget}",
                 f"evolution.inheritance={'true' if inheritance else 'false'}", f"evolution.checkpoints=[{early}]",
                 f"evolution.max_channels={max_channels}"]
    cfg = configs.load_config("search", None, overrides, preset=preset)
    run = RunDir.create(work / f"evo-{inheritance}-{seed}", "search", configs.to_dict(cfg))
    run.update_meta(strategy="evolution")
    started = time.perf_counter()
    summary = run_evolution(cfg, run, quiet=True, data=data)
    records = {r["trial"]: r for r in run.records()}
    system = "evolution, inheritance" if inheritance else "evolution, no inheritance"
    rows = []
    for point in summary["checkpoints"] + [{**summary, "epochs": budget}]:
        r = records[point["trial"]]
        rows.append({"system": system, "preset": preset, "seed": seed, "epochs": point["epochs"],
                     "test_accuracy": point["test_accuracy"],
                     "val_accuracy": point["val_accuracy"], "params": r["params"], "flops": r["flops"],
                     "arch": r["arch"], "trials": summary["trials"], "wall_seconds": time.perf_counter() - started})
    return rows


def keras_tuner_row(kind, data, seed, budget, max_channels, work: Path, preset: str) -> dict:
    import keras
    import keras_tuner as kt

    from automl.evolution.space import KERNELS, MAX_STRIDE2, ConvStackSpace
    from automl.evolution.tuner import final_training
    from models import build_model, count
    from pipelines import config as configs
    from automl.tfdata import split_pipelines

    evo = configs.load_config("search", preset=preset).evolution  # the preset's batch size and final training
    space = ConvStackSpace(max_channels)
    preprocess = data.preprocess()

    def genome_of(hp):
        genome, strided = [], 0
        for i in range(hp.Int("blocks", 1, 8)):
            stride = hp.Choice(f"s{i}", [1, 2])
            stride = 1 if stride == 2 and strided >= MAX_STRIDE2 else stride  # the space's constraint
            strided += stride == 2
            genome.append([hp.Choice(f"c{i}", list(space.channels)), hp.Choice(f"k{i}", list(KERNELS)), stride])
        return genome

    def build(hp):
        model = build_model(space.spec(genome_of(hp)), data.input_shape, data.num_classes, preprocess,
                            kernel_initializer="glorot_uniform")
        model.compile(optimizer=keras.optimizers.Adam(evo.learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    class EpochBudget(keras.callbacks.Callback):
        """Counts epochs over all trials (Keras Tuner deep-copies callbacks, so it returns itself)."""

        used = 0

        def __deepcopy__(self, memo):
            return self

        def on_epoch_end(self, epoch, logs=None):
            EpochBudget.used += 1
            if EpochBudget.used >= budget:
                self.model.stop_training = True

    def budgeted(base):
        class Budgeted(base):
            def on_trial_end(self, trial):
                super().on_trial_end(trial)
                if EpochBudget.used >= budget:
                    self.oracle.max_trials = len(self.oracle.trials)  # the oracle answers STOPPED from now on

        return Budgeted

    objective = kt.Objective("val_accuracy", "max")
    if kind == "random":
        tuner = budgeted(kt.RandomSearch)(build, objective=objective, max_trials=10_000, seed=seed,
                                          directory=str(work), project_name=f"random-{seed}", overwrite=True)
        fit_epochs = evo.epochs_per_trial
    else:
        tuner = budgeted(kt.Hyperband)(build, objective=objective, max_epochs=4 * evo.epochs_per_trial, factor=3,
                                       hyperband_iterations=100, seed=seed, directory=str(work),
                                       project_name=f"hyperband-{seed}", overwrite=True)
        fit_epochs = 4 * evo.epochs_per_trial
    train, val, test = split_pipelines(data, evo.batch_size, "none", seed)
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    tuner.search(train, validation_data=val, epochs=fit_epochs, callbacks=[EpochBudget()], verbose=0)
    best_hp = tuner.get_best_hyperparameters(1)[0]
    model = final_training(tuner.get_best_models(1)[0], train, evo.final_epochs, evo.final_boundaries,
                           evo.final_learning_rates)
    val_metrics = model.evaluate(val, return_dict=True, verbose=0)
    test_metrics = model.evaluate(test, return_dict=True, verbose=0)
    genome = genome_of(best_hp)
    cost = count(space.spec(genome), data.input_shape, data.num_classes)
    return {"system": f"keras-tuner {'RandomSearch' if kind == 'random' else 'Hyperband'}", "preset": preset, "seed": seed,
            "epochs": EpochBudget.used, "test_accuracy": float(test_metrics["accuracy"]),
            "val_accuracy": float(val_metrics["accuracy"]), "params": cost.params, "flops": cost.flops,
            "arch": space.describe(genome), "trials": len(tuner.oracle.trials),
            "wall_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--budget", type=int, default=128, help="total training epochs (the early point is 1/4)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max-channels", type=int, default=32,
                        help="cap of the widths (thesis 256; 2 CPU cores cannot train 256-wide 5x5 convs at 28 px)")
    parser.add_argument("--rows", nargs="+", default=["inheritance", "no-inheritance", "random", "hyperband"])
    parser.add_argument("--preset", choices=["thesis", "quick"], default="thesis",
                        help="the evolution settings of every row (batch size, final training; the evolution's whole "
                             "schedule): thesis (seed 001 §7.4) or quick (the defaults of `automl search`)")
    parser.add_argument("--render", action="store_true", help="rewrite the markdown from the saved JSON only")
    args = parser.parse_args()
    saved = RESULTS / "evolution.json"
    results = json.loads(saved.read_text()) if saved.exists() else {"rows": []}
    if args.render:
        return render(results)

    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    RESULTS.mkdir(exist_ok=True)
    results["setup"] = {"dataset": args.dataset, "budget": args.budget, "max_channels": args.max_channels}
    for r in results["rows"]:
        r.setdefault("preset", "thesis")  # rows measured before presets were a choice
    data = load_dataset(args.dataset, configs.load_config("search").data)
    done = {(r["system"], r["seed"], r["preset"]) for r in results["rows"]}
    names = {"inheritance": "evolution, inheritance", "no-inheritance": "evolution, no inheritance",
             "random": "keras-tuner RandomSearch", "hyperband": "keras-tuner Hyperband"}
    for row in args.rows:  # row-major: every seed of a row before the next row
        for seed in args.seeds:
            if (names[row], seed, args.preset) in done:  # resumable: rows already measured are kept
                continue
            with tempfile.TemporaryDirectory() as tmp:
                if row in ("inheritance", "no-inheritance"):
                    new = evolution_row(args.dataset, data, seed, args.budget, row == "inheritance",
                                        args.max_channels, Path(tmp), args.preset)
                else:
                    new = [keras_tuner_row(row, data, seed, args.budget, args.max_channels, Path(tmp), args.preset)]
            results["rows"] += new
            saved.write_text(json.dumps(results, indent=2) + "\n")
            print(json.dumps(new), file=sys.stderr, flush=True)
    render(results)


def render(results: dict) -> None:
    setup = results.get("setup", {})
    groups: dict[tuple, list[dict]] = {}
    for r in results["rows"]:
        groups.setdefault((r.get("preset", "thesis"), r["system"], r["epochs"]), []).append(r)
    lines = ["# Evolution: inheritance vs none vs keras-tuner", "",
             f"{setup.get('dataset')}, 2 CPU cores, widths capped at {setup.get('max_channels')} (thesis 256), "
             f"budget {setup.get('budget')} total training epochs, early point at a quarter of it. Each net chosen "
             "on validation gets its preset's final training (thesis: 30 epochs at batch 512; quick, the defaults "
             "of `automl search`: 15 epochs at batch 128, the candidates also at batch 128, the initial net trained "
             "before it is scored) and one test. Keras Tuner's rows use the same preset's batch size and final "
             "training.", "",
             "| preset | system | total epochs | seeds | test acc mean ± sd | min | max | params (mean) | FLOPs (mean) "
             "| trials | wall (s, mean) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (preset, system, epochs), rows in sorted(groups.items(), key=lambda kv: (kv[0][0] != "quick", kv[0][2],
                                                                                   kv[0][1])):
        acc = [100 * r["test_accuracy"] for r in rows]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        lines.append(f"| {preset} | {system} | {epochs} | {len(rows)} | {statistics.mean(acc):.2f} ± {sd:.2f} | {min(acc):.2f} "
                     f"| {max(acc):.2f} | {statistics.mean(r['params'] for r in rows):,.0f} "
                     f"| {statistics.mean(r['flops'] for r in rows):,.0f} "
                     f"| {statistics.mean(r['trials'] for r in rows):.0f} "
                     f"| {statistics.mean(r['wall_seconds'] for r in rows):.0f} |")
    lines += ["", "Thesis (seed 001 Table 7.1, CIFAR-10, 20 runs, test accuracy %):", "",
              "| configuration | 128 epochs | 512 epochs |", "|---|---:|---:|"]
    lines += [f"| {name} | {a} | {b} |" for name, a, b in THESIS]
    lines += ["", "Wall time of an evolution row is the whole run (search to the full budget plus both final "
              "trainings); the early point shares it.", ""]
    (RESULTS / "evolution.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
