"""Wall-clock budgets (`--budget`): parsing, the stop at a batch boundary, cut work never
selected, finalising inside the budget, and resuming with more time."""
import json
import time

import keras
import numpy as np
import pytest

from automl.budget import parse_duration
from automl.callbacks import Checkpointer, StopAtDeadline
from automl.export import export_run
from conftest import AfterCalls, evolution_oracle, read_jsonl
from pipelines.cli import main


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("6m", 360), ("2h", 7200), ("1h30m", 5400), ("1.5m", 90)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "soon", "5", "-5m", "6 m", "", "1x"])
def test_bad_durations_name_the_accepted_forms(text):
    with pytest.raises(ValueError, match="90s, 6m, 2h"):
        parse_duration(text)


@pytest.mark.parametrize("flag", ["--budget=0", "--budget=soon"])
def test_bad_budget_flags_fail_in_one_line(tmp_path, capsys, flag):
    assert main(["train", "--out", str(tmp_path / "run"), flag]) == 2
    err = capsys.readouterr().err
    assert "--budget" in err and "90s, 6m, 2h" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    assert main(["search", "--out", str(tmp_path / "run"), "--set", "budget=soon"]) == 2
    assert "'budget'" in capsys.readouterr().err


def tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_training_stops_at_the_batch_boundary_and_the_cut_epoch_never_competes(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(40, 4)).astype("float32"), np.arange(40) % 3
    model = tiny_model()
    # Checked after every training and validation batch (10 + 10 per epoch): passes at batch 4 of epoch 2.
    stopper = StopAtDeadline(AfterCalls(checks=10 + 10 + 3))
    steps = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))
    checkpointer = Checkpointer(tmp_path / "ck", tmp_path / "best.keras", stopper=stopper)
    model.fit(x, y, batch_size=4, epochs=5, validation_data=(x, y), shuffle=False, verbose=0,
              callbacks=[stopper, counter, checkpointer])
    assert stopper.cut and stopper.completed_epochs == 1
    assert len(steps) == 10 + 4                               # stopped right after the batch that saw it
    state = json.loads((tmp_path / "ck" / "state.json").read_text())
    assert state["epoch"] == 1 and state["best_epoch"] == 1 and state["cut_epoch"] == 2
    assert [h["epoch"] for h in state["history"]] == [1] and not state["finished"]


def test_a_cut_trial_is_recorded_but_never_a_parent_or_the_best(tmp_path):
    from automl.evolution.space import ConvStackSpace

    oracle = evolution_oracle(ConvStackSpace(), tmp_path, budget_epochs=40, epochs_per_trial=4, niching_probability=0.0)
    for score, cut, trained in ((0.2, 0, 0), (0.5, 0, 4), (0.99, 1, 1), (0.6, 0, 4)):
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"val_accuracy": score, "flops": 1.0, "cut": float(cut),
                                             "epochs_trained": float(trained)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert oracle.evo["cut"] == ["02"] and oracle.evo["best"] == "03"
    assert oracle.trials["03"].hyperparameters.values["parent"] == "01"     # not the cut "0.99"
    assert oracle.evo["used_epochs"] == 9                                    # epochs actually trained


def test_budget_ends_an_evolution_at_a_boundary_with_an_exportable_best(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "evolution", "--out", str(run), "--quiet", "--budget", "30s",
                 "--set", "budget_epochs=100000", "--set", "evolution.final_epochs=2",
                 "--set", "evolution.final_boundaries=[1]", "--set", "evolution.final_learning_rates=[1e-3,1e-4]"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "budget" and summary["budget"]["ended_by"] == "budget"
    assert summary["epochs_used"] < 100000 and summary["budget"]["budget_seconds"] == 30
    records = read_jsonl(run / "log.jsonl")
    assert summary["trial"] not in summary["cut_trials"]
    assert all(r["val_accuracy"] is None for r in records if r["cut"])
    # The epoch budget counts the epochs each trial completed, a cut trial's included.
    assert summary["epochs_used"] == sum(r["epochs_trained"] for r in records)
    assert (export_run(run, tmp_path / "export") / "saved_model").is_dir()


class TickingClock:
    """time.monotonic for automl.budget and the CLI where each reading takes one second, so the
    budget counts the deadline's readings (one per batch check); perf_counter reads without
    ticking, so a validation pass lasts as many seconds as it has batches."""

    def __init__(self):
        self.t = 0.0

    def monotonic(self) -> float:
        self.t += 1.0
        return self.t

    def perf_counter(self) -> float:
        return self.t


def test_resume_with_more_budget_continues_without_redoing(tmp_path, tiny_arch, monkeypatch, capsys):
    import types

    import automl.budget
    import automl.callbacks
    import pipelines.cli

    clock = TickingClock()
    monkeypatch.setattr(automl.budget, "time", types.SimpleNamespace(monotonic=clock.monotonic, time=time.time))
    monkeypatch.setattr(pipelines.cli, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(automl.callbacks, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    run = tmp_path / "run"
    # Digits: 9 training and 3 validation batches of 128 per epoch, then a progress line reads the
    # time left; a 3 s validation pass keeps back 3 + (1 + 360/287) * 3 = 9.8 s. 40 s: epochs 1
    # and 2 complete (t = 28, plus the progress line), epoch 3 stops at its 3rd batch (40 - 31 - 9.8 < 0).
    assert main(["train", "--out", str(run), "--arch", tiny_arch, "--set", "train.epochs=500",   # far too many
                 "--budget", "40s"]) == 0
    before = json.loads((run / "checkpoints" / "state.json").read_text())
    assert before["epoch"] == 2 and before["cut_epoch"] == 3 and not before["finished"]
    assert json.loads((run / "summary.json").read_text())["budget"]["ended_by"] == "budget"
    capsys.readouterr()
    # 25 s more: epoch 3 again from its start (t = 3 to 15, then the progress line at 16); epoch 4
    # stops at its 1st batch (25 - 16 - 9.8 < 0).
    assert main(["train", "--resume", "--out", str(run), "--budget", "25s"]) == 0
    assert "resuming after epoch 2/500" in capsys.readouterr().err
    after = json.loads((run / "checkpoints" / "state.json").read_text())
    assert after["history"][: len(before["history"])] == before["history"]          # completed epochs kept
    assert [h["epoch"] for h in after["history"]] == [1, 2, 3]                      # the cut one redone once
    assert after["epoch"] == 3 and after["cut_epoch"] == 4 and not after["finished"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["budget"]["ended_by"] == "budget" and summary["epochs"] == 3
    assert summary["budget"]["budget_seconds"] == 25
    assert json.loads((run / "meta.json").read_text())["budgets"] == ["25s"]


def test_resbuilder_marks_the_cut_training_and_a_resume_redoes_only_that(tmp_path):
    from automl.rundir import RunDir
    from pipelines import config as configs
    from pipelines.search import run_search

    overrides = ["resbuilder.insertions=1", "resbuilder.morph_steps=1", "resbuilder.epochs=1", "resbuilder.zeta=3e5",
                 "resbuilder.start_pooling_stages=1"]
    cfg = configs.load_config("search", None, overrides, preset="quick")
    run = RunDir.create(tmp_path / "run", "search", configs.to_dict(cfg))
    run.update_meta(strategy="resbuilder")
    summary = run_search(cfg, run, "resbuilder", quiet=True, deadline=AfterCalls(60))  # past architecture 1
    records = read_jsonl(run.path / "log.jsonl")
    cut = summary["cut_training"]
    assert summary["stop_reason"] == "budget" and cut["cut"] and cut["architecture"] == len(records) + 1
    assert summary["architectures"] == len(records) >= 1
    assert all(cut["variant"] not in r or not r[cut["variant"]].get("cut") for r in records)
    resumed = run_search(cfg, run, "resbuilder", quiet=True)                               # no budget now
    after = read_jsonl(run.path / "log.jsonl")
    assert after[: len(records)] == records and [r["architecture"] for r in after] == [1, 2, 3]
    assert resumed["budget"]["ended_by"] == "strategy" and resumed["cut_training"] is None
