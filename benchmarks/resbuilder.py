"""ResBuilder benchmark (issue #3): test accuracy, params, FLOPs and wall time, per dataset.

Rows, all on the same splits, measured in the same run:
- ResBuilder, `--preset quick` (what `automl search` runs by default);
- ResBuilder, `--preset thesis`: only where it fits the time given (--thesis), else reported as not run;
- MorphNet-only (`--strategy morphnet`) with as many MorphNet steps as the quick ResBuilder run
  trained architectures, so both train the same number of nets;
- fixed ResNet-18 (`--strategy fixed`, rb-r18, the thesis' baseline);
- keras-tuner RandomSearch over the same residual space (stem width, blocks per pooling stage,
  block widths), given exactly the wall time the quick ResBuilder run took (the trial running
  at the deadline finishes, which is reported as overshoot).
Selection is on validation everywhere; test is evaluated once per chosen net.

Writes benchmarks/results/resbuilder.{md,json}. Run: python benchmarks/resbuilder.py [--datasets digits mnist5k]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results"
# seed 002 Table 6.1 (test accuracy, selected on test by the thesis): MNIST and FashionMNIST rows
PAPER = "Thesis Table 6.1 (full MNIST, 60k images, GPU, test-selected): RB-0Net 99.34%, RB-R18 99.17%, Res18 99.14%."


def run_strategy(dataset, strategy, preset, overrides, work: Path, data) -> dict:
    from automl.rundir import RunDir
    from pipelines import config as configs
    from pipelines.search import run_search

    cfg = configs.load_config("search", None, [f"dataset={dataset}", *overrides], preset=preset)
    run = RunDir.create(work / f"{dataset}-{strategy}-{preset}-{len(list(work.iterdir()))}", "search",
                        configs.to_dict(cfg))
    started = time.perf_counter()
    summary = run_search(cfg, run, strategy, quiet=True, data=data)
    return {"system": f"{strategy} ({preset})" if strategy != "fixed" else "fixed ResNet-18 (rb-r18)",
            "test_accuracy": summary["test_accuracy"], "val_accuracy": summary["val_accuracy"],
            "params": summary["params"], "flops": summary["flops"],
            "architectures": summary.get("architectures", 1), "wall_seconds": time.perf_counter() - started}


def keras_tuner_random(dataset, data, budget_s: float, epochs: int, work: Path, seed: int = 0) -> dict:
    import keras
    import keras_tuner as kt

    from automl.training import compile_classifier
    from models import Block, Pool, ResNetSpec, Stage, build_model, count
    from pipelines import config as configs
    from automl.tfdata import split_pipelines

    cfg = configs.load_config("search", None, [f"dataset={dataset}"])
    preprocess = data.preprocess()

    def spec_of(hp) -> ResNetSpec:
        stages, next_id = [], 0
        for s in range(3):  # RB-0Net's three pooling stages
            blocks = []
            for _ in range(hp.Int(f"stage{s}_blocks", 0, 2)):
                blocks.append(Block(next_id, hp.Choice(f"stage{s}_width", [16, 32, 64, 128])))
                next_id += 1
            stages.append(Stage(pool=None if s == 0 else Pool("max"), blocks=blocks))
        return ResNetSpec(stem_filters=hp.Choice("stem", [16, 32, 64]), stages=stages, name="kt-random")

    def build(hp):
        model = build_model(spec_of(hp), data.input_shape, data.num_classes, preprocess, l2=1e-5)
        return compile_classifier(model, cfg.train)

    deadline = time.time() + budget_s

    class Timed(kt.oracles.RandomSearchOracle):
        def populate_space(self, trial_id):
            if time.time() >= deadline:
                return {"status": "STOPPED", "values": None}
            return super().populate_space(trial_id)

    oracle = Timed(objective=kt.Objective("val_accuracy", "max"), max_trials=10_000, seed=seed)
    tuner = kt.Tuner(oracle=oracle, hypermodel=build, directory=str(work), project_name=f"kt-{dataset}",
                     overwrite=True)
    train, val, test_ds = split_pipelines(data, cfg.data.batch_size, data.augment(cfg.data.augment), seed)
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    tuner.search(train, validation_data=val, epochs=epochs, verbose=0)
    wall = time.perf_counter() - started
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best = tuner.get_best_models(1)[0]
    test = best.evaluate(test_ds, return_dict=True, verbose=0)
    cost = count(spec_of(best_hp), data.input_shape, data.num_classes)
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    return {"system": "keras-tuner RandomSearch (same space, same wall time)", "test_accuracy": float(test["accuracy"]),
            "val_accuracy": float(max(t.score for t in trials)), "params": cost.params, "flops": cost.flops,
            "architectures": len(trials), "wall_seconds": wall, "budget_seconds": budget_s,
            "overshoot_seconds": max(0.0, wall - budget_s)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    parser.add_argument("--thesis", nargs="*", default=[], help="datasets on which to run the thesis preset too")
    parser.add_argument("--rows", nargs="+", default=["morphnet", "fixed", "keras-tuner"],
                        help="rows besides ResBuilder quick (morphnet, fixed, keras-tuner)")
    parser.add_argument("--render", action="store_true", help="rewrite the markdown from the saved JSON only")
    args = parser.parse_args()
    if args.render:
        return render(json.loads((RESULTS / "resbuilder.json").read_text()))

    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    RESULTS.mkdir(exist_ok=True)
    saved = RESULTS / "resbuilder.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}

    def keep(dataset, rows):  # after every row, so a long run that is stopped keeps what it measured
        results[dataset] = rows
        saved.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{dataset}: {rows[-1]}", file=sys.stderr, flush=True)

    for dataset in args.datasets:
        data = load_dataset(dataset, configs.load_config("search").data)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            quick = run_strategy(dataset, "resbuilder", "quick", [], work, data)
            keep(dataset, rows + [quick])
            rows.append(quick)
            if dataset in args.thesis:
                rows.append(run_strategy(dataset, "resbuilder", "thesis", [], work, data))
            else:
                rows.append({"system": "resbuilder (thesis)", "not_run": "7 MorphNet steps x 5 architectures x 3 "
                             "trainings x 20 epochs = 2,100 epochs of nets up to 1e8 FLOPs: hours on 2 CPU cores"})
            keep(dataset, rows)
            if "morphnet" in args.rows:
                rows.append(run_strategy(dataset, "morphnet", "quick",
                                         [f"resbuilder.morph_steps={quick['architectures'] - 1}"], work, data))
                keep(dataset, rows)
            if "fixed" in args.rows:
                rows.append(run_strategy(dataset, "fixed", "quick", [], work, data))
                keep(dataset, rows)
            if "keras-tuner" in args.rows:
                kt_epochs = configs.load_config("search", preset="quick").resbuilder.epochs
                rows.append(keras_tuner_random(dataset, data, quick["wall_seconds"], kt_epochs, work))
                keep(dataset, rows)
    render(results)


def render(results: dict) -> None:
    lines = ["# ResBuilder vs baselines", "",
             "2 CPU cores. Every system is chosen on validation and tested once; wall time is the whole search.", ""]
    for dataset, rows in results.items():
        lines += [f"## {dataset}", "",
                  "| system | test acc | val acc | params | FLOPs | nets trained | wall (s) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            if "not_run" in r:
                lines.append(f"| {r['system']} | not run: {r['not_run']} | | | | | |")
                continue
            extra = f" (budget {r['budget_seconds']:.0f}, overshoot {r['overshoot_seconds']:.0f})" if "budget_seconds" in r else ""
            lines.append(f"| {r['system']} | {r['test_accuracy']:.4f} | {r['val_accuracy']:.4f} | {r['params']:,} "
                         f"| {r['flops']:,} | {r['architectures']} | {r['wall_seconds']:.0f}{extra} |")
        lines.append("")
    lines += [PAPER, "", "Rows missing for a dataset were not run in the time available (see the README).", ""]
    (RESULTS / "resbuilder.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
