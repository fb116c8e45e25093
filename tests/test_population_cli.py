"""`automl train --optimizer leea|ndes|ndes-g|ndes-b|de|cosyne|es`: the population optimizers
from the command line, with the records, resumption and clear refusals of any training."""
import json

import numpy as np

from pipelines.cli import main
from tests.conftest import read_jsonl, run_automl


def test_de_trains_the_default_mlp_and_exports(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--optimizer", "de", "--set", "epochs=2", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "evals/s" in err  # progress: generation, fitness, evaluations per second
    summary = json.loads((run / "summary.json").read_text())
    assert summary["optimizer"] == "de" and summary["arch"] == "mlp" and summary["params"] == 64 * 32 + 32 + 330
    assert summary["generations"] == 2 * int(np.ceil(summary_train(run) / 40))  # an epoch: ceil(n / batch) generations
    record = read_jsonl(run / "log.jsonl")[-1]
    assert record["evaluations"] == 2 * 13 * summary["generations"]  # targets and trials on each batch
    assert 0.0 <= summary["test_accuracy"] <= 1.0
    exported = run_automl("export", str(run), "--out", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr


def summary_train(run):
    return json.loads((run / "meta.json").read_text())["dataset"]["train"]


def test_ndes_on_a_sequence_task_with_a_recurrent_model(tmp_path):
    run = tmp_path / "seq"
    assert main(["train", "--dataset", "parity", "--model", "rnn", "--optimizer", "ndes", "--out", str(run), "--quiet",
                 "--set", "epochs=1", "--set", "model.units=4", "--set", "data.sequence_length=10",
                 "--set", "data.sequence_sizes=[256,64,64]", "--set", "population.ndes.population_size=24"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["optimizer"] == "ndes" and summary["test_mse"] > 0


def test_refusals_are_one_clear_line(tmp_path):
    too_big = run_automl("train", "--dataset", "digits", "--optimizer", "leea", "--arch", "mlp-leea",
                         "--set", "population.leea.population_size=5000", "--set", "population.memory_mb=16",
                         "--out", str(tmp_path / "big"))
    assert too_big.returncode == 2 and "Traceback" not in too_big.stderr
    assert "population.memory_mb" in too_big.stderr and "5,000" in too_big.stderr
    bad = run_automl("train", "--optimizer", "de", "--set", "population.de.mutation=best9")
    assert bad.returncode == 2 and "population.de.mutation" in bad.stderr and "Traceback" not in bad.stderr
    odd = run_automl("train", "--optimizer", "cosyne", "--set", "population.cosyne.children=3",
                     "--out", str(tmp_path / "odd"))
    assert odd.returncode == 2 and "cosyne.children must be even" in odd.stderr
    search = run_automl("search", "--optimizer", "ndes")
    assert search.returncode == 2 and "population optimizer" in search.stderr


def test_ndes_b_bootstrap_keeps_the_accuracy_record(tmp_path):
    """nDES-B's Adam bootstrap compiles the model itself; the saved best member must still be
    evaluated with the run's metrics, so a classifier reports accuracy, not an MSE."""
    run = tmp_path / "b"
    assert main(["train", "--dataset", "digits", "--optimizer", "ndes-b", "--out", str(run), "--quiet",
                 "--set", "epochs=2", "--set", "population.ndes.population_size=24"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bootstrap_epochs"] == 1 and "test_mse" not in summary
    assert 0.0 <= summary["test_accuracy"] <= 1.0
