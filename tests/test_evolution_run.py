"""`automl search --strategy evolution` end to end: serial, resumed after kill -9, and
distributed as a Keras Tuner chief with two workers, one of them killed mid-trial."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from automl.evolution.space import ConvStackSpace
from automl.export import export_run
from conftest import read_jsonl, run_automl, tensorboard_tags
from models.preprocess import Preprocess
from pipelines.cli import main
from pipelines.config import run_config
from pipelines.datasets import load_dataset

TINY = ["--set", "evolution.epochs_per_trial=2", "--set", "evolution.batch_size=128",
        "--set", "evolution.final_epochs=2", "--set", "evolution.final_boundaries=[1]",
        "--set", "evolution.final_learning_rates=[1e-3,1e-4]"]


def trials_on_disk(run: Path) -> dict:
    return {p.parent.name: json.loads(p.read_text()) for p in (run / "evolution").glob("trial_*/trial.json")}


def test_serial_search_logs_every_trial_and_exports_its_best(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "evolution", "--out", str(run), "--quiet", "--set", "budget_epochs=8",
                 "--set", "evolution.checkpoints=[4]", "--set", "evolution.train_initial=false", *TINY]) == 0
    summary = json.loads((run / "summary.json").read_text())
    records = read_jsonl(run / "log.jsonl")
    assert summary["strategy"] == "evolution" and summary["epochs_used"] == 8 == sum(r["epochs"] for r in records)
    trained = {f"trial_{r['trial']}/train" for r in records if r["epochs"]}
    assert trained and trained <= set(tensorboard_tags(run))           # a TensorBoard run per trained trial
    assert [r["trial"] for r in records] == sorted({r["trial"] for r in records})     # each trial once, in order
    assert records[0]["role"] == "initial" and records[0]["epochs"] == 0 and records[0]["inherited_fraction"] == 0
    trials = trials_on_disk(run)
    meta = json.loads((run / "meta.json").read_text())
    space = ConvStackSpace()
    for r in records[1:]:
        assert r["parent"] and r["mutation"] and r["genome"]
        # The logged share inherited, recounted from the trial's plan on the child's layers:
        # copied kernels, BN vectors and the head over every weight of the net.
        plan = json.loads(trials[f"trial_{r['trial']}"]["hyperparameters"]["values"]["plan"])
        child = space.build(r["genome"], meta["dataset"]["input_shape"], 10, Preprocess(**meta["preprocess"]))
        size = {layer.name: sum(int(w.size) for w in layer.get_weights()) for layer in child.layers}
        copied = sum(size[f"conv{j}"] * kernel + size[f"conv{j}_bn"] * rest
                     for j, (source, kernel, rest) in enumerate(plan["blocks"]) if source is not None)
        copied += size["head_out"] * plan["head"]
        assert r["inherited_fraction"] == pytest.approx(copied / sum(size.values()), rel=1e-12)
    assert len({json.dumps(r["genome"]) for r in records}) == len(records)            # novelty
    # The result is the last logged best, or a better net of a niche the budget cut short (oracle.final_best).
    by_trial = {r["trial"]: r for r in records}
    last_best = records[-1]["best_trial"]
    assert summary["trial"] == last_best or (
        by_trial[summary["trial"]]["val_accuracy"] > by_trial[last_best]["val_accuracy"]
        and int(summary["trial"]) > int(last_best))
    # Checkpoint 4: the best when the used epochs first reached 4.
    at_mark = next(r for r in records if r["epochs_used"] >= 4)
    assert summary["checkpoints"][0]["epochs"] == 4 and summary["checkpoints"][0]["trial"] == at_mark["best_trial"]
    assert all(t["status"] == "COMPLETED" for t in trials.values())
    assert (run / "accuracy_vs_flops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = (run / "history.md").read_text()
    best_rows = [line for line in history.splitlines() if "**(best)**" in line]
    assert len(best_rows) == 1 and best_rows[0].startswith(f"| {summary['trial']} **(best)**")
    assert sum(line.startswith("| ") and line[2:3].isdigit() for line in history.splitlines()) == len(records)
    # The best net as exported and as tested: best.keras is the final training's net, and its
    # accuracy on the test split (a count over the test images) is the summary's.
    data = load_dataset("digits", run_config(run, "search").data)
    best = keras.models.load_model(run / "best.keras")
    predicted = best.predict(data.x_test.astype("float32"), batch_size=128, verbose=0)
    assert summary["test_accuracy"] == pytest.approx(np.mean(predicted.argmax(axis=1) == data.y_test), abs=1e-6)
    np.testing.assert_allclose(
        keras.models.load_model(run / "final" / f"{summary['trial']}.keras").predict(data.x_test[:32], verbose=0),
        predicted[:32], rtol=1e-5, atol=1e-6)
    out = export_run(run, tmp_path / "export")
    assert (out / "saved_model" / "saved_model.pb").exists()
    np.testing.assert_allclose(keras.models.load_model(out / "model.keras").predict(data.x_test[:32], verbose=0),
                               predicted[:32], rtol=1e-5, atol=1e-6)
    report = run_automl("report", str(run))
    assert report.returncode == 0 and f"best: trial {summary['trial']}: " in report.stdout
    assert all(f"{r['val_accuracy']:.4f}" in report.stdout for r in records)


def test_no_inheritance_baseline_inherits_nothing(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "evolution", "--out", str(run), "--quiet", "--set", "budget_epochs=4",
                 "--set", "inheritance=false", *TINY]) == 0
    assert all(r["inherited_fraction"] == 0 for r in read_jsonl(run / "log.jsonl"))


def test_resume_after_kill_reruns_at_most_the_trial_in_flight(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--strategy", "evolution", "--out", str(run), "--set", "budget_epochs=10", *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / "log.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and not (log.exists() and len(read_jsonl(log)) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_jsonl(log)
    assert 3 <= len(before) < 6 and not (run / "summary.json").exists(), "must be killed mid-search"
    stamps = {r["trial"]: (run / "evolution" / f"trial_{r['trial']}" / "checkpoint.weights.h5").stat().st_mtime_ns
              for r in before}

    resumed = run_automl("search", "--resume", "--out", str(run))
    assert resumed.returncode == 0, resumed.stderr
    after = read_jsonl(log)
    assert after[: len(before)] == before and len({r["trial"] for r in after}) == len(after)
    for trial, stamp in stamps.items():                                              # nothing completed redone
        assert (run / "evolution" / f"trial_{trial}" / "checkpoint.weights.h5").stat().st_mtime_ns == stamp
    assert sum(r["epochs"] for r in after) == 10 == json.loads((run / "summary.json").read_text())["epochs_used"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # heavy: about 20-40 s on 2 cores; keeps the default run under 15 minutes
def test_distributed_chief_and_two_workers_survive_a_killed_worker(tmp_path):
    run = tmp_path / "run"
    port = str(_free_port())
    args = [sys.executable, "-m", "pipelines.cli", "search", "--strategy", "evolution", "--out", str(run),
            "--set", "budget_epochs=18", "--set", "evolution.mode=population", "--set", "evolution.population_size=3",
            "--set", "evolution.tournament_size=2", "--set", "evolution.worker_timeout=4",
            "--set", "evolution.heartbeat=0.5", *TINY, "--set", "evolution.epochs_per_trial=3",
            "--set", "evolution.batch_size=32"]

    def start(tuner_id: str):
        env = {**os.environ, "KERASTUNER_TUNER_ID": tuner_id, "KERASTUNER_ORACLE_IP": "127.0.0.1",
               "KERASTUNER_ORACLE_PORT": port, "AUTOML_DISTRIBUTED_TOKEN": "a shared secret"}
        err = open(tmp_path / f"{tuner_id}.err", "w")
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True)

    chief = start("chief")
    workers = [start("tuner0"), start("tuner1")]
    victim_log = tmp_path / "tuner1.err"
    deadline = time.time() + 240
    while time.time() < deadline and victim_log.read_text().count(" of the weights inherited") < 2:
        time.sleep(0.05)
    time.sleep(0.5)                                   # inside its second trial: building or training
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait()
    victim_trial = victim_log.read_text().strip().splitlines()[-1].split()[1]

    assert workers[0].wait(timeout=400) == 0, (tmp_path / "tuner0.err").read_text()
    assert chief.wait(timeout=200) == 0, (tmp_path / "chief.err").read_text()
    chief_err = (tmp_path / "chief.err").read_text()
    assert f"trial {victim_trial} goes to another worker" in chief_err
    records = read_jsonl(run / "log.jsonl")
    trials = trials_on_disk(run)
    completed = sorted(t["trial_id"] for t in trials.values() if t["status"] == "COMPLETED")
    assert sorted(r["trial"] for r in records) == completed                           # each trial exactly once
    assert victim_trial in completed                                                  # retrained, not lost
    assert len({json.dumps(r["genome"]) for r in records}) == len(records)            # none trained twice
    assert sum(r["epochs"] for r in records) == 18
    summary = json.loads((run / "summary.json").read_text())
    assert summary["trials"] == len(records) and (run / "best.keras").exists()
    # Regularized evolution keeps the best ever (the first of equals, in the order trials ended).
    assert summary["trial"] == max(records, key=lambda r: r["val_accuracy"])["trial"]


def test_residual_space_and_pareto_population(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "evolution", "--out", str(run), "--quiet", "--set", "budget_epochs=10",
                 "--set", "evolution.space=residual", "--set", "evolution.max_channels=32",
                 "--set", "evolution.mode=population", "--set", "evolution.objective=pareto",
                 "--set", "evolution.population_size=2", "--set", "evolution.tournament_size=2", *TINY]) == 0
    records = read_jsonl(run / "log.jsonl")
    assert all(r["genome"]["stem_filters"] <= 32 for r in records)                   # ResNetSpec genomes
    summary = json.loads((run / "summary.json").read_text())
    assert summary["trial"] in summary["pareto_front"]
    # The front is exactly the records that nothing dominates (at least as good on both, better on one).
    undominated = [f["trial"] for f in records
                   if not any(r["val_accuracy"] >= f["val_accuracy"] and r["flops"] <= f["flops"]
                              and (r["val_accuracy"], r["flops"]) != (f["val_accuracy"], f["flops"]) for r in records)]
    assert sorted(summary["pareto_front"]) == sorted(undominated)


def test_bad_evolution_settings_fail_in_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "evolution", "--out", str(run), "--set", "evolution.objective=pareto"]) == 2
    err = capsys.readouterr().err
    assert "'evolution.objective'" in err and len(err.strip().splitlines()) == 1 and not run.exists()
    chief = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": "8000", "KERASTUNER_TUNER_ID": "chief"}
    bad = run_automl("search", "--strategy", "evolution", "--out", str(run), env=chief)
    assert bad.returncode == 2 and "AUTOML_DISTRIBUTED_TOKEN" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    bad = run_automl("search", "--out", str(run), env={**chief, "AUTOML_DISTRIBUTED_TOKEN": "s"})
    assert bad.returncode == 2 and "only --strategy evolution runs distributed" in bad.stderr
    bad = run_automl("search", "--strategy", "evolution", "--out", str(run), env={"KERASTUNER_ORACLE_IP": "127.0.0.1"})
    assert bad.returncode == 2 and "KERASTUNER_ORACLE_PORT" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
