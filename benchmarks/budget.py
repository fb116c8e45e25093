"""Same-wall-time benchmark (issue #9): our searches under `--budget` against keras-tuner
RandomSearch given the same time, run one after the other on this machine.

Ours run as the real command (`automl search --budget ...` in a fresh process), so their wall
time includes start-up, data loading and finalising (the final test, the summary). The peer is
keras-tuner RandomSearch over the residual space of benchmarks/resbuilder.py with a deadline in
its oracle (Keras Tuner has no time limit): no trial starts after the deadline, but the one
running at the deadline finishes, so its overshoot is what a user of Keras Tuner gets.

Writes benchmarks/results/budget.{md,json}. Run: python benchmarks/budget.py [--datasets digits mnist5k]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUDGETS = {"digits": "3m", "mnist5k": "6m"}  # issue #9


def ours(dataset: str, budget: str, strategy: str, work: Path) -> dict:
    from automl.budget import parse_duration

    run = work / f"{dataset}-{strategy}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "search", "--dataset", dataset, "--strategy",
                           strategy, "--budget", budget, "--out", str(run), "--quiet"],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"system": f"automl search --strategy {strategy}", "failed": done.stderr.strip().splitlines()[-1]}
    summary = json.loads((run / "summary.json").read_text())
    seconds = parse_duration(budget)
    return {"system": f"automl search --strategy {strategy} --budget {budget}", "test_accuracy": summary["test_accuracy"],
            "val_accuracy": summary["val_accuracy"], "params": summary["params"], "flops": summary["flops"],
            "ended_by": summary["budget"]["ended_by"], "wall_seconds": wall, "budget_seconds": seconds,
            "overshoot_seconds": wall - seconds}


def peer(dataset: str, budget: str, work: Path) -> dict:
    sys.path.insert(0, str(HERE))
    from resbuilder import keras_tuner_random  # the same peer as the ResBuilder benchmark

    from automl.budget import parse_duration
    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    seconds = parse_duration(budget)
    started = time.perf_counter()  # data loading counts for the peer too
    data = load_dataset(dataset, configs.load_config("search").data)
    epochs = configs.load_config("search", preset="quick").resbuilder.epochs
    row = keras_tuner_random(dataset, data, seconds - (time.perf_counter() - started), epochs, work)
    wall = time.perf_counter() - started
    return {**row, "system": "keras-tuner RandomSearch (deadline in its oracle)", "ended_by": "deadline",
            "wall_seconds": wall, "budget_seconds": seconds, "overshoot_seconds": wall - seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=list(BUDGETS))
    parser.add_argument("--systems", nargs="+", default=["resbuilder", "evolution", "keras-tuner"])
    parser.add_argument("--render", action="store_true", help="rewrite the markdown from the saved JSON only")
    args = parser.parse_args()
    saved = RESULTS / "budget.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if not args.render:
        RESULTS.mkdir(exist_ok=True)
        for dataset in args.datasets:
            rows = []
            with tempfile.TemporaryDirectory() as tmp:
                for system in args.systems:
                    work = Path(tmp) / system
                    work.mkdir()
                    rows.append(peer(dataset, BUDGETS[dataset], work) if system == "keras-tuner"
                                else ours(dataset, BUDGETS[dataset], system, work))
                    results[dataset] = rows
                    saved.write_text(json.dumps(results, indent=2) + "\n")
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    render(results)


def render(results: dict) -> None:
    lines = ["# Same wall time: `--budget` vs keras-tuner", "",
             "2 CPU cores, one system at a time. Wall time is the whole command for ours (start-up, data, search, "
             "final test); target: at most budget + 5% + 10 s.", ""]
    for dataset, rows in results.items():
        lines += [f"## {dataset} ({BUDGETS.get(dataset, '?')})", "",
                  "| system | test acc | val acc | params | FLOPs | wall (s) | overshoot (s) | within target |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in rows:
            if "failed" in r:
                lines.append(f"| {r['system']} | failed: {r['failed']} | | | | | | |")
                continue
            ok = r["wall_seconds"] <= 1.05 * r["budget_seconds"] + 10
            lines.append(f"| {r['system']} | {r['test_accuracy']:.4f} | {r['val_accuracy']:.4f} | {r['params']:,} "
                         f"| {r['flops']:,} | {r['wall_seconds']:.0f} | {r['overshoot_seconds']:+.0f} "
                         f"| {'yes' if ok else 'no'} |")
        lines.append("")
    (RESULTS / "budget.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
