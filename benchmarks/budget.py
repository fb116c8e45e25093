"""Same-wall-time benchmark (issues #9, #18): `automl search --budget` (the default strategy and
the others) against Keras Tuner's RandomSearch and Hyperband over its usual small-CNN space, given
the same wall time, one system after the other on this machine, several seeds.

Ours run as the real command (`automl search --budget ...` in a fresh process), so their wall
time includes start-up, data loading and finalising (the final test, the summary). Keras Tuner
runs in-process (benchmarks/kt_small_cnn.py).

Writes benchmarks/results/budget.{md,json}. Run from a separate install (not the editable one):
    python benchmarks/budget.py [--datasets digits mnist5k] [--systems ...] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
BUDGETS = {"digits": "3m", "mnist5k": "6m"}  # issue #9


SYSTEMS = {  # name: (label, how it runs)
    "default": "automl search (no --strategy: the default, resbuilder)",
    "resbuilder": "automl search --strategy resbuilder",
    "evolution": "automl search --strategy evolution",
    "random": "automl search --strategy random (Keras Tuner, our conv space)",
    "hyperband": "automl search --strategy hyperband (Keras Tuner, our conv space)",
    "kt-random-cnn": "keras-tuner RandomSearch, small-CNN space",
    "kt-hyperband-cnn": "keras-tuner Hyperband, small-CNN space",
}


def ours(dataset: str, budget: str, strategy: str | None, seed: int, work: Path) -> dict:
    """`automl search` as a user runs it, in a fresh process: its wall time is the whole command."""
    from automl.budget import parse_duration

    run = work / f"{dataset}-{strategy or 'default'}-{seed}"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "search", "--dataset", dataset,
                           *(["--strategy", strategy] if strategy else []), "--budget", budget, "--seed", str(seed),
                           "--out", str(run), "--quiet"], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"failed": (done.stderr.strip().splitlines() or ["?"])[-1]}
    summary = json.loads((run / "summary.json").read_text())
    return {"test_accuracy": summary["test_accuracy"], "val_accuracy": summary["val_accuracy"],
            "params": summary["params"], "flops": summary["flops"], "ended_by": summary["budget"]["ended_by"],
            "wall_seconds": wall, "overshoot_seconds": wall - parse_duration(budget)}


def peer(dataset: str, budget: str, tuner: str, seed: int, work: Path) -> dict:
    """Keras Tuner over its small-CNN space in this process; data loading counts for it too."""
    sys.path.insert(0, str(HERE))
    import kt_small_cnn

    from automl.budget import parse_duration
    from pipelines import config as configs
    from pipelines.datasets import load_dataset

    seconds = parse_duration(budget)
    started = time.perf_counter()
    cfg = configs.load_config("search")
    data = load_dataset(dataset, cfg.data)
    row = kt_small_cnn.run(tuner, data, seconds - (time.perf_counter() - started), cfg.tuner.epochs,
                           cfg.tuner.batch_size, work, seed)
    wall = time.perf_counter() - started
    return {**row, "ended_by": "deadline", "wall_seconds": wall, "overshoot_seconds": wall - seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", nargs="+", default=list(BUDGETS))
    parser.add_argument("--systems", nargs="+", default=["default", "evolution", "kt-random-cnn", "kt-hyperband-cnn"],
                        choices=list(SYSTEMS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--render", action="store_true", help="rewrite the markdown from the saved JSON only")
    args = parser.parse_args()
    saved = RESULTS / "budget.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    if not args.render:
        RESULTS.mkdir(exist_ok=True)
        for dataset in args.datasets:
            # Rows of the systems and seeds not rerun now stay, so one table can be filled in several runs.
            measured = {(system, seed) for system in args.systems for seed in args.seeds}
            prior = results.get(dataset)
            rows = [r for r in (prior["rows"] if isinstance(prior, dict) else [])  # a list: an older single-seed table
                    if (r["system"], r["seed"]) not in measured]
            for seed in args.seeds:  # seed by seed, so that a stopped run has whole seeds
                for system in args.systems:
                    with tempfile.TemporaryDirectory() as tmp:
                        if system.startswith("kt-"):
                            row = peer(dataset, BUDGETS[dataset], system.split("-")[1], seed, Path(tmp))
                        else:
                            row = ours(dataset, BUDGETS[dataset], None if system == "default" else system, seed,
                                       Path(tmp))
                    rows.append({"system": system, "seed": seed, **row})
                    results[dataset] = {"budget": BUDGETS[dataset], "rows": rows, "date": time.strftime("%Y-%m-%d")}
                    saved.write_text(json.dumps(results, indent=2) + "\n")
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    render(results)


def _mean_sd(values: list[float], fmt: str) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def render(results: dict) -> None:
    lines = ["# Same wall time: `automl search --budget` vs Keras Tuner", "",
             "2 CPU cores, one system at a time, each with both cores. Ours is the whole command in a fresh process "
             "(start-up, data, search, final test); Keras Tuner runs in-process with a deadline in its oracle and a "
             "callback that stops its running trial at the deadline, over its usual small-CNN space "
             "(benchmarks/kt_small_cnn.py). Mean ± sd over the seeds; target: at most budget + 5% + 10 s; "
             "the winner is the best mean test accuracy within the target.", ""]
    for dataset, result in results.items():
        if isinstance(result, list):  # a single-seed table of an earlier version of this script
            continue
        rows, budget = result["rows"], result["budget"]
        seeds = sorted({r["seed"] for r in rows})
        lines += [f"## {dataset} ({budget}; seeds {', '.join(map(str, seeds))}; {result['date']})", "",
                  "| system | runs | test acc | val acc | params | FLOPs | wall (s) | overshoot (s) | within target |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
        seconds = next((r["wall_seconds"] - r["overshoot_seconds"] for r in rows if "failed" not in r), 0.0)
        best = None
        for system in dict.fromkeys(r["system"] for r in rows):
            done = [r for r in rows if r["system"] == system and "failed" not in r]
            failed = [r for r in rows if r["system"] == system and "failed" in r]
            within = all(r["wall_seconds"] <= 1.05 * seconds + 10 for r in done)
            acc = [r["test_accuracy"] for r in done]
            if done and within and (best is None or statistics.mean(acc) > best[1]):
                best = (system, statistics.mean(acc))
            lines.append(
                f"| {SYSTEMS.get(system, system)} | {len(done)}{f' ({len(failed)} failed)' if failed else ''} "
                f"| {_mean_sd(acc, '.4f')} | {_mean_sd([r['val_accuracy'] for r in done], '.4f')} "
                f"| {_mean_sd([r['params'] for r in done], ',.0f')} | {_mean_sd([r['flops'] for r in done], ',.0f')} "
                f"| {_mean_sd([r['wall_seconds'] for r in done], '.0f')} "
                f"| {_mean_sd([r['overshoot_seconds'] for r in done], '+.0f')} | {'yes' if within else 'no'} |")
        lines += ["", f"Winner: {SYSTEMS.get(best[0], best[0]) if best else 'none'}.", ""]
    (RESULTS / "budget.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
