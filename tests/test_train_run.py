"""The train workflow end to end: run directory, records, resume after kill -9, devices."""
import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from automl.callbacks import Checkpointer
from automl.rundir import RunDir
from conftest import html_report_images, read_jsonl, run_automl, tiny_spec
from models import count
from pipelines.cli import main
from pipelines.config import run_config
from pipelines.datasets import load_dataset


def test_train_writes_a_complete_run_directory(tmp_path, tiny_arch, capsys):
    out = tmp_path / "run"
    assert main(["train", "--arch", tiny_arch, "--set", "train.epochs=2", "--out", str(out)]) == 0
    for name in ("config.yaml", "meta.json", "log.jsonl", "summary.json", "best.keras",
                 "training_curves.png", "checkpoints/last.keras", "checkpoints/state.json", "report.html"):
        assert (out / name).is_file(), name
    assert sorted(html_report_images(out)) == ["architecture", "training_curves"]   # one page, plots inlined
    assert any((out / "tb").rglob("events.out.tfevents*"))                # TensorBoard log
    (record,) = read_jsonl(out / "log.jsonl")
    assert record["epochs"] == 2 and record["spec"]["name"] == "tiny"
    # The counts are the net's: exact FLOPs of the spec on 8x8x1 digits, parameters as Keras counts them.
    best = keras.models.load_model(out / "best.keras")
    assert record["flops"] == count(tiny_spec(), (8, 8, 1), 10).flops
    assert record["params"] == best.count_params() == count(tiny_spec(), (8, 8, 1), 10).params
    # The kept epoch is the best by validation accuracy (ties: lower loss), and its validation
    # accuracy is what the run measured then; the test accuracy is that model's on the test split.
    history = json.loads((out / "checkpoints" / "state.json").read_text())["history"]
    chosen = max(history, key=lambda h: (h["val_accuracy"], -h["val_loss"]))
    assert record["best_epoch"] == chosen["epoch"] and record["val_accuracy"] == pytest.approx(chosen["val_accuracy"])
    data = load_dataset("digits", run_config(out).data)
    predicted = best.predict(data.x_test.astype("float32"), verbose=0).argmax(-1)
    assert record["test_accuracy"] == pytest.approx(float(np.mean(predicted == data.y_test)), abs=1e-6)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "ETA" in err                             # progress lines
    assert not list(out.rglob("*.tmp*"))                                    # no stray partial files

    assert main(["report", str(out)]) == 0
    table = capsys.readouterr().out
    assert "tiny" in table and f"{record['test_accuracy']:.4f}" in table


def test_quiet_prints_only_the_result(tmp_path, tiny_arch, capsys):
    main(["train", "--arch", tiny_arch, "--set", "train.epochs=1", "--out", str(tmp_path / "r"), "--quiet"])
    captured = capsys.readouterr()
    assert "epoch" not in captured.err
    assert "test accuracy" in captured.out


def test_a_training_that_learned_nothing_ends_with_a_warning_even_when_quiet(tmp_path, tiny_arch, capsys):
    out = tmp_path / "r"
    assert main(["train", "--arch", tiny_arch, "--set", "train.epochs=2", "--set", "train.learning_rate=1e6",
                 "--out", str(out), "--quiet"]) == 0                     # Adam at 1e6: the run succeeds ...
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert any("not significantly better than always guessing" in w for w in summary["warnings"])  # ... its result not
    assert err.count("warning: ") == len(summary["warnings"]) >= 1


def test_training_warnings_name_a_chance_result_and_an_exploding_loss():
    from automl.diagnose import training_warnings

    y_val = np.array([0] * 300 + [1] * 100)                               # majority rate 0.75; 400 labels
    learned = [{"loss": 1.0}, {"loss": 0.5}]
    assert training_warnings(learned, 0.9, y_val) == []
    assert training_warnings(learned, None, y_val) == []                  # regression: no accuracy to judge
    # One-sided binomial test against 0.75 on 400: 326 correct (p = 0.0012) is chance, 327 (p = 0.0008) is not.
    (chance,) = training_warnings(learned, 326 / 400, y_val)
    assert "0.8150" in chance and "(0.7500;" in chance
    assert training_warnings(learned, 327 / 400, y_val) == []
    (exploded,) = training_warnings([{"loss": 1.0}, {"loss": 5.0}, {"loss": 10.5}], 0.9, y_val)
    assert "rose from 1 (epoch 1) to 10.5 (epoch 3)" in exploded
    assert training_warnings([{"loss": 1.0}, {"loss": 9.9}], 0.9, y_val) == []


def test_best_model_is_chosen_on_validation_with_loss_breaking_ties(tmp_path):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    cp = Checkpointer(tmp_path / "ck", tmp_path / "best.keras")
    cp.set_model(model)
    cp.on_train_begin()
    for epoch, (acc, loss) in enumerate([(0.5, 1.0), (0.9, 0.5), (0.9, 0.3), (0.9, 0.4), (0.8, 0.1)]):
        cp.on_epoch_end(epoch, {"val_accuracy": acc, "val_loss": loss})
    assert cp.state["best_epoch"] == 3 and cp.state["best"] == 0.9
    assert [h["epoch"] for h in cp.state["history"]] == [1, 2, 3, 4, 5]


def test_schedule_state_survives_a_resume(tmp_path):
    plateau = keras.callbacks.ReduceLROnPlateau(patience=5)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    cp = Checkpointer(tmp_path, tmp_path / "best.keras", [plateau])
    cp.set_model(model)
    plateau.set_model(model)
    cp.on_train_begin()
    plateau.wait, plateau.best = 3, 0.25
    cp.on_epoch_end(0, {"val_accuracy": 0.5, "val_loss": 0.3})

    fresh = keras.callbacks.ReduceLROnPlateau(patience=5)
    fresh.set_model(model)
    resumed = Checkpointer(tmp_path, tmp_path / "best.keras", [fresh])
    resumed.set_model(model)
    fresh.on_train_begin()          # Keras resets the callback here...
    resumed.on_train_begin()        # ...and the checkpointer puts the saved state back
    assert (fresh.wait, fresh.best) == (3, 0.25)
    assert resumed.state["epoch"] == 1


def test_resume_after_kill_continues_without_redoing_epochs(tmp_path, tiny_arch, capsys):
    out = tmp_path / "run"
    args = ["train", "--arch", tiny_arch, "--set", "train.epochs=12", "--out", str(out), "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state_file = out / "checkpoints" / "state.json"
    deadline = time.time() + 240
    while time.time() < deadline:
        if state_file.exists() and json.loads(state_file.read_text())["epoch"] >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(state_file.read_text())["epoch"]
    assert 3 <= killed_at < 12, "the run must be killed mid-training for this test to mean anything"
    assert not (out / "summary.json").exists()

    done = run_automl("train", "--resume", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"resuming after epoch {killed_at}/12" in done.stderr
    state = json.loads(state_file.read_text())
    assert [h["epoch"] for h in state["history"]] == list(range(1, 13))   # each epoch once
    (record,) = read_jsonl(out / "log.jsonl")
    assert record["epochs"] == 12

    assert main(["train", "--resume", "--out", str(out)]) == 0           # complete: nothing redone
    assert "already complete" in capsys.readouterr().err
    assert len(read_jsonl(out / "log.jsonl")) == 1

    # killed between the record and the summary (benchmarks/kills.py found it): finalised once
    summary = json.loads((out / "summary.json").read_text())
    (out / "summary.json").unlink()
    assert main(["train", "--resume", "--out", str(out)]) == 0
    assert read_jsonl(out / "log.jsonl") == [record]
    again = json.loads((out / "summary.json").read_text())
    assert {**again, "budget": None} == {**summary, "budget": None}   # the budget's wall time is this process'


def test_mirrored_training_on_two_logical_cpu_devices(tmp_path, tiny_arch):
    out = tmp_path / "run"
    result = run_automl("train", "--arch", tiny_arch, "--set", "train.epochs=2",
                        "--set", "train.distribute=mirrored", "--out", str(out),
                        env={"AUTOML_CPU_DEVICES": "2"})
    assert result.returncode == 0, result.stderr
    assert "training on 2 devices (MirroredStrategy)" in result.stderr
    assert RunDir(out).summary()["epochs"] == 2


# What `automl train` itself prints on stderr (README "Output").
OUR_LINES = ("dataset ", "model ", "epoch ", "best epoch ", "run saved in ", "warning: ")


def test_a_normal_run_shows_at_most_one_line_of_tensorflow_noise(tmp_path, tiny_arch):
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "train", "--arch", tiny_arch, "--set",
                           "train.epochs=1", "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any(line.startswith("epoch 1/1") for line in lines)
    noise = [line for line in lines if not line.startswith(OUR_LINES)]
    assert len(noise) <= 1, noise


def test_early_stopping_ends_a_training_that_stopped_improving(tmp_path, tiny_arch):
    out = tmp_path / "run"
    # A learning rate of 1e-12 cannot move validation loss: patience 1 stops after 2 epochs.
    assert main(["train", "--arch", tiny_arch, "--out", str(out), "--quiet",
                 "--set", "train.epochs=30", "--set", "train.early_stopping_patience=1",
                 "--set", "train.optimizer=sgd", "--set", "train.learning_rate=1e-12"]) == 0
    (record,) = read_jsonl(out / "log.jsonl")
    # BatchNorm statistics still drift a little, so the validation loss may fall for a few
    # epochs: patience 1 stops at the first epoch whose loss is not below the best before it.
    losses = [h["val_loss"] for h in json.loads((out / "checkpoints" / "state.json").read_text())["history"]]
    stop = next(e for e in range(1, len(losses)) if losses[e] >= min(losses[:e])) + 1
    assert record["epochs"] == len(losses) == stop < 30            # 30: never stopped


@pytest.mark.slow
def test_default_training_on_mnist5k(tmp_path):
    assert main(["train", "--dataset", "mnist5k", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    assert RunDir(tmp_path / "run").summary()["test_accuracy"] >= 0.97
