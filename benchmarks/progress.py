"""ETA check (issue #19): how close the ETAs the tool prints come to the time that really follows.

- `automl train --set train.epochs=20`: the ETA printed after epoch 3 against the time from that
  line to the epoch-20 line (the target: within 30%); also after epochs 1, 5 and 10.
- `automl search --strategy resbuilder`: the whole-search ETA printed as each architecture starts
  against the time from that line to "ResBuilder finished".

Each command runs as a user runs it, in a fresh process, its stderr read line by line as it comes.
Writes benchmarks/results/progress.{md,json}. Run from a separate install (not the editable one):
    python benchmarks/progress.py [--datasets digits mnist5k] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
EPOCHS = 20
TRAIN_AT = (1, 3, 5, 10)
RESBUILDER = ["--set", "resbuilder.insertions=2", "--set", "resbuilder.morph_steps=1", "--set", "resbuilder.epochs=3"]


def seconds(text: str) -> float:
    """automl.budget.format_duration's text back to seconds: "29s", "4m40s", "1h05m"."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not match or not text:
        raise ValueError(f"not a duration: {text!r}")
    h, m, s = (int(g or 0) for g in match.groups())
    return 3600 * h + 60 * m + s


def timed_lines(args: list[str], work: Path) -> list[tuple[float, str]]:
    """(seconds since start, line) of the command's stderr."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], cwd=work, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
    lines = [(time.perf_counter() - started, line.rstrip("\n")) for line in process.stderr]
    if process.wait() != 0:
        raise SystemExit(f"progress: `automl {' '.join(args)}` failed: {lines[-1][1] if lines else ''}")
    return lines


def train_etas(dataset: str, seed: int, work: Path) -> list[dict]:
    lines = timed_lines(["train", "--dataset", dataset, "--seed", str(seed), "--set", f"train.epochs={EPOCHS}",
                         "--out", str(work / f"train-{dataset}-{seed}")], work)
    at = {}
    for t, line in lines:
        match = re.match(rf"epoch (\d+)/{EPOCHS} .*ETA (\S+)", line)
        if match:
            at[int(match.group(1))] = (t, seconds(match.group(2)))
    end = at[EPOCHS][0]
    return [{"after_epoch": e, "eta": at[e][1], "truth": end - at[e][0]} for e in TRAIN_AT]


def resbuilder_etas(dataset: str, seed: int, work: Path) -> list[dict]:
    lines = timed_lines(["search", "--strategy", "resbuilder", "--dataset", dataset, "--seed", str(seed), *RESBUILDER,
                         "--out", str(work / f"resbuilder-{dataset}-{seed}")], work)
    end = next(t for t, line in lines if line.startswith("ResBuilder finished"))
    out = []
    for t, line in lines:
        match = re.match(r"arch (\d+) .*search ETA (\S+)$", line)
        if match:
            out.append({"architecture": int(match.group(1)), "eta": seconds(match.group(2)), "truth": end - t})
    return out


def error(row: dict) -> float:
    return row["eta"] / row["truth"] - 1 if row["truth"] > 0 else 0.0


def summarise(rows: list[dict], key: str) -> list[dict]:
    """Mean and worst relative error per `key` value over the seeds."""
    out = []
    for value in sorted({r[key] for r in rows}):
        errors = [error(r) for r in rows if r[key] == value]
        out.append({key: value, "n": len(errors), "mean_error": statistics.mean(errors),
                    "worst_error": max(errors, key=abs),
                    "mean_truth": statistics.mean(r["truth"] for r in rows if r[key] == value)})
    return out


def markdown(result: dict) -> str:
    lines = ["# ETA check", "",
             f"`python benchmarks/progress.py`, {result['date']}, {os.cpu_count()} CPU cores, seeds {result['seeds']}. "
             "Error: printed ETA / the time that really followed - 1 (negative: the ETA was too short). "
             "Target (issue #19): within ±30% after epoch 3 of a 20-epoch `automl train`.", ""]
    for dataset, parts in result["datasets"].items():
        lines += [f"## {dataset}: `automl train --set train.epochs={EPOCHS}`", "",
                  "| after epoch | seeds | time left (mean) | mean error | worst error | within 30% |", "|---|---|---|---|---|---|"]
        for r in summarise(parts["train"], "after_epoch"):
            ok = "yes" if abs(r["worst_error"]) <= 0.3 else "no"
            lines.append(f"| {r['after_epoch']} | {r['n']} | {r['mean_truth']:.1f} s | {r['mean_error']:+.0%} | "
                         f"{r['worst_error']:+.0%} | {ok} |")
        if parts.get("resbuilder"):
            lines += ["", f"## {dataset}: the ResBuilder search ETA (`{' '.join(RESBUILDER)}`)", "",
                      "| printed at the start of | seeds | time left (mean) | mean error | worst error |",
                      "|---|---|---|---|---|"]
            for r in summarise(parts["resbuilder"], "architecture"):
                lines.append(f"| arch {r['architecture']} | {r['n']} | {r['mean_truth']:.1f} s | {r['mean_error']:+.0%} | "
                             f"{r['worst_error']:+.0%} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["digits", "mnist5k"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--resbuilder-datasets", nargs="*", default=["digits"])
    args = parser.parse_args(argv)
    result = {"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "datasets": {}}
    with tempfile.TemporaryDirectory(prefix="automl-progress-") as tmp:
        for dataset in args.datasets:
            parts = {"train": [], "resbuilder": []}
            for seed in args.seeds:
                parts["train"] += [{"seed": seed, **r} for r in train_etas(dataset, seed, Path(tmp))]
                if dataset in args.resbuilder_datasets:
                    parts["resbuilder"] += [{"seed": seed, **r} for r in resbuilder_etas(dataset, seed, Path(tmp))]
                print(f"{dataset} seed {seed} done", file=sys.stderr, flush=True)
            result["datasets"][dataset] = parts
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "progress.json").write_text(json.dumps(result, indent=1))
    (RESULTS / "progress.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
