"""Kill table (issue #19): kill -9 at random moments of `automl train`, every `automl search`
strategy and `automl survival`, then `--resume`, again and again, and check that no completed
record is lost or redone.

A kind's run is started, killed with SIGKILL at a moment drawn uniformly from one to `span`
seconds after each (re)start, resumed with `--resume`, killed again, and so on until it
finishes; then a fresh run starts, until the kind has taken `--kills` kills. After every kill
and at the end, the run's completed records are read from disk:
- `log.jsonl`: one record per trained architecture or trial (searches) and the final record;
- `checkpoints/state.json`: one record per completed epoch (gradient trainings, survival);
- `checkpoints/population.npz`: the epochs the population optimizer has saved.
A record seen after a kill must be there, unchanged, when the run ends (else it was *lost* or
*redone*: trained again and written anew), and no record may appear twice. The finished run must
hold a summary.json. Each kind's `span` is the duration of one uninterrupted run, measured first.

Writes benchmarks/results/kills.{md,json}. Run from a separate install (not the editable one):
    python benchmarks/kills.py [--kinds train search-resbuilder ...] [--kills 10] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# Small schedules: each uninterrupted run takes 30-90 s on 2 cores, so ten kills fit in minutes.
KINDS = {
    "train": ["train", "--dataset", "digits", "--set", "train.epochs=12"],
    "train-population": ["train", "--dataset", "digits", "--optimizer", "de", "--set", "train.epochs=12",
                         # saved every 2 s (default 60 s): a kill loses at most the epochs since the last save,
                         # which were never on disk, so never "completed"
                         "--set", "population.checkpoint_seconds=2"],
    "search-resbuilder": ["search", "--strategy", "resbuilder", "--set", "resbuilder.insertions=3",
                          "--set", "resbuilder.morph_steps=1", "--set", "resbuilder.epochs=2",
                          "--set", "resbuilder.zeta=3e5", "--set", "resbuilder.start_pooling_stages=1"],
    "search-morphnet": ["search", "--strategy", "morphnet", "--set", "resbuilder.morph_steps=3",
                        "--set", "resbuilder.epochs=2", "--set", "resbuilder.zeta=3e5",
                        "--set", "resbuilder.start_pooling_stages=1"],
    "search-evolution": ["search", "--strategy", "evolution", "--set", "budget_epochs=16",
                         "--set", "evolution.epochs_per_trial=2", "--set", "evolution.batch_size=128",
                         "--set", "evolution.final_epochs=2", "--set", "evolution.final_boundaries=[1]",
                         "--set", "evolution.final_learning_rates=[1e-3,1e-4]"],
    "search-random": ["search", "--strategy", "random", "--set", "tuner.max_trials=6", "--set", "tuner.epochs=2"],
    "search-bayesian": ["search", "--strategy", "bayesian", "--set", "tuner.max_trials=6", "--set", "tuner.epochs=2"],
    "search-hyperband": ["search", "--strategy", "hyperband", "--set", "tuner.hyperband_max_epochs=4"],
    "search-fixed": ["search", "--strategy", "fixed", "--arch", "resnet-mini", "--set", "train.epochs=12"],
    "survival": ["survival", "--demo", "--set", "train.epochs=10", "--set", "demo.patients=24"],
}


def completed_records(run: Path) -> list[tuple[str, str]]:
    """(key, record as canonical JSON) of every completed record on disk, in order."""
    out = []
    log = run / "log.jsonl"
    if log.exists():
        for line in log.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                ident = {k: record[k] for k in ("kind", "trial", "architecture", "continued", "arch") if k in record}
                out.append((f"log {json.dumps(ident, sort_keys=True)}", json.dumps(record, sort_keys=True)))
    state = run / "checkpoints" / "state.json"
    if state.exists():
        for record in json.loads(state.read_text()).get("history", []):
            out.append((f"epoch {record['epoch']}", json.dumps(record, sort_keys=True)))
    population = run / "checkpoints" / "population.npz"
    if population.exists():
        with np.load(population) as saved:
            history = json.loads(bytes(saved["run"]).decode())["history"]
        out += [(f"population epoch {r['epoch']}", json.dumps(r, sort_keys=True)) for r in history]
    return out


def compare(before: list[tuple[str, str]], after: list[tuple[str, str]]) -> dict:
    """What happened, between two looks at a run, to the records the first look saw."""
    later: dict[str, list[str]] = {}
    for key, record in after:
        later.setdefault(key, []).append(record)
    lost = [k for k, _ in before if k not in later]
    redone = [k for k, r in before if k in later and later[k] != [r]]
    twice = sorted(k for k, rs in later.items() if len(rs) > 1)
    return {"lost": lost, "redone": redone, "twice": twice}


class Runner:
    def __init__(self, work: Path, log):
        self.work, self.log = work, log
        self.env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "XDG_CACHE_HOME": str(work / "cache")}

    def start(self, args: list[str], run: Path, resume: bool) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "pipelines.cli", *args, "--out", str(run), "--quiet"]
        if resume:
            cmd = [sys.executable, "-m", "pipelines.cli", args[0], "--resume", "--out", str(run), "--quiet"]
        # cwd outside any checkout: `-m pipelines.cli` must import the installed package
        return subprocess.Popen(cmd, cwd=self.work, env=self.env, stdout=subprocess.DEVNULL,
                                stderr=open(run.parent / f"{run.name}.err", "a"))

    def reference(self, args: list[str], run: Path) -> float:
        started = time.perf_counter()
        code = self.start(args, run, resume=False).wait()
        if code != 0:
            raise SystemExit(f"kills: the uninterrupted run failed ({code}): {run}.err")
        return time.perf_counter() - started


def kill_kind(kind: str, args: list[str], kills: int, rng: random.Random, runner: Runner, work: Path) -> dict:
    span = runner.reference(args, work / f"{kind}-reference")
    runner.log(f"{kind}: an uninterrupted run takes {span:.0f} s")
    doubled = compare([], completed_records(work / f"{kind}-reference"))["twice"]
    if doubled:  # the check itself would be wrong for this kind
        raise SystemExit(f"kills: {kind}'s uninterrupted run has records with the same key: {doubled}")
    events, problems, runs, taken, started = [], [], 0, 0, time.perf_counter()
    while taken < kills:
        runs += 1
        run = work / f"{kind}-{runs}"
        resume, seen, restarts = False, [], 0
        while True:
            process = runner.start(args, run, resume)
            wait = rng.uniform(1.0, span) if taken < kills else None  # enough kills: the last run finishes
            try:
                code = process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)  # the commands run in one process: no child outlives it
                process.wait()
                code = None
            now = completed_records(run) if run.exists() else []
            change = compare(seen, now)
            problems += [f"{run.name}: {what} {k}" for what in ("lost", "redone", "twice") for k in change[what]]
            events.append({"run": run.name, "killed_after_s": None if code is not None else round(wait, 1),
                           "exit": code, "records": len(now), **{k: len(v) for k, v in change.items()}})
            seen = now
            if code is None:
                taken += 1
                restarts += 1
                runner.log(f"  {run.name}: killed at {wait:.1f} s with {len(now)} records on disk "
                           f"({taken}/{kills})")
                # a run killed before it wrote its config has nothing to resume: it starts afresh
                resume = (run / "config.yaml").exists()
                continue
            if code != 0:
                problems.append(f"{run.name}: exit {code} after {restarts} kills (see {run}.err)")
            elif not (run / "summary.json").exists():
                problems.append(f"{run.name}: finished without summary.json")
            runner.log(f"  {run.name}: finished (exit {code}) after {restarts} kills, {len(now)} records")
            break
    return {"kind": kind, "command": "automl " + " ".join(args), "span_seconds": round(span, 1), "kills": taken,
            "runs": runs, "records_checked": sum(e["records"] for e in events),
            "lost": sum(e["lost"] for e in events), "redone": sum(e["redone"] for e in events),
            "twice": sum(e["twice"] for e in events), "problems": problems, "events": events,
            "seconds": round(time.perf_counter() - started, 1)}


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# Kill table", "",
             f"`python benchmarks/kills.py` on {meta['machine']}, seed {meta['seed']}, {meta['date']}. Each kind is "
             "killed with SIGKILL at a moment drawn uniformly from 1 s to the length of one uninterrupted run after "
             "each (re)start, then resumed with `--resume`, until it finishes; fresh runs follow until the kind has "
             f"taken {meta['kills']} kills. *lost*: a completed record (a trial or architecture in `log.jsonl`, an "
             "epoch in the checkpoint state) seen after a kill and missing at the end; *redone*: seen, then "
             "written anew with other contents; *twice*: written two times.", "",
             "| kind | kills | runs | uninterrupted run | records checked | lost | redone | twice | all finished |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = "yes" if not r["problems"] else f"**no**: {'; '.join(r['problems'][:3])}"
        lines.append(f"| {r['kind']} | {r['kills']} | {r['runs']} | {r['span_seconds']:.0f} s | {r['records_checked']} | "
                     f"{r['lost']} | {r['redone']} | {r['twice']} | {ok} |")
    lines += ["", "Commands (each with `--out RUN --quiet`; digits unless named):", ""]
    lines += [f"- {r['kind']}: `{r['command']}`" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--kills", type=int, default=10, help="kills per kind (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--out", type=Path, default=RESULTS / "kills", help="writes OUT.md and OUT.json")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    rng = random.Random(args.seed)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    previous = json.loads(args.out.with_suffix(".json").read_text()) if args.out.with_suffix(".json").exists() else {}
    kept = {r["kind"]: r for r in previous.get("rows", []) if r["kind"] not in args.kinds}  # kinds not rerun
    rows = []
    with tempfile.TemporaryDirectory(prefix="automl-kills-") as tmp:
        runner = Runner(Path(tmp), log)
        for kind in args.kinds:
            rows.append(kill_kind(kind, KINDS[kind], args.kills, rng, runner, Path(tmp)))
            log(f"{kind}: {rows[-1]['kills']} kills, lost {rows[-1]['lost']}, redone {rows[-1]['redone']}, "
                f"problems {len(rows[-1]['problems'])}")
    rows = [kept.get(k) or next(r for r in rows if r["kind"] == k) for k in KINDS if k in kept or k in args.kinds]
    meta = {"machine": f"{os.cpu_count()} CPU cores", "seed": args.seed, "kills": args.kills,
            "date": time.strftime("%Y-%m-%d")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    args.out.with_suffix(".md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 1 if any(r["problems"] or r["lost"] or r["redone"] or r["twice"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
