"""The recurrent search space (issue #7): its genomes and mutations, inheritance between
recurrent nets, the DMU rule in searched trainings, Keras Tuner's built-in tuners on it, and
`automl search` on sequence data end to end, with the mismatches refused."""
import json

import keras
import keras_tuner as kt
import numpy as np
import pytest

from automl.evolution.inherit import inherit
from automl.evolution.recurrent_space import DEPTHS, STACKED, RecurrentSpace
from automl.evolution.space import NOTHING
from automl.evolution.spaces import make_space
from automl.evolution.tuner import compile_trial
from automl.export import export_run
from automl.optimizers import ScaledAdam
from conftest import read_jsonl, run_automl
from models.sequence import CELLS
from pipelines.cli import main
from pipelines.config import run_config
from pipelines.datasets import load_dataset

START = {"cell": "dmu", "units": 8, "layers": 1, "depth": 2, "gate_bias": 3.0, "lr_rule": True}
SMALL_DATA = ["--set", "data.sequence_length=12", "--set", "data.sequence_sizes=[256,64,64]"]


def best_model_accuracy(run, dataset: str) -> float:
    """The saved best net's accuracy on the run's test split, recomputed: the share of test
    examples whose arg-max prediction is the label (what the summary's test_accuracy must be)."""
    data = load_dataset(dataset, run_config(run, "search").data)
    predicted = keras.models.load_model(run / "best.keras").predict(data.x_test.astype("float32"), verbose=0)
    return float(np.mean(predicted.argmax(axis=-1) == data.y_test))


def test_mutations_stay_in_the_space_and_keep_one_spelling_per_net():
    space = RecurrentSpace(START, max_units=32)
    rng = np.random.default_rng(0)
    genome, seen_cells = space.initial(rng), set()
    for _ in range(400):
        step = space.mutate(genome, space.draw_mutation_name(rng), rng)
        if step is None:
            continue
        g = step.genome
        assert g == RecurrentSpace.canonical(g)
        space.spec(g).validate()
        assert g["units"] <= 32
        if g["cell"] in ("dmu", "rhn"):
            assert g["depth"] in DEPTHS and g["layers"] in STACKED
        else:  # LSTM/GRU/RNN stack through depth only
            assert g["layers"] == 1 and g["depth"] in STACKED
        seen_cells.add(g["cell"])
        genome = g
    assert seen_cells == set(CELLS)


def test_dmu_only_mutations_are_invalid_elsewhere_and_gate_bias_restarts():
    space = RecurrentSpace(START)
    rng = np.random.default_rng(1)
    lstm = RecurrentSpace.canonical({"cell": "lstm", "units": 8, "layers": 2, "depth": 1})
    assert lstm["layers"] == 1 and lstm["depth"] == 2
    assert space.mutate(lstm, "change_gate_bias", rng) is None
    assert space.mutate(lstm, "toggle_lr_rule", rng) is None
    assert space.mutate(lstm, "add_layer", rng) is None
    bias = space.mutate(START, "change_gate_bias", rng)
    assert bias.genome["gate_bias"] != START["gate_bias"] and bias.plan == NOTHING
    assert space.mutate(START, "toggle_lr_rule", rng).genome["lr_rule"] is False
    assert space.mutate({**START, "units": 4}, "remove_units", rng) is None


def test_a_child_of_the_same_shape_inherits_every_weight_and_a_resized_one_only_what_fits():
    space = RecurrentSpace(START)
    rng = np.random.default_rng(2)
    parent = space.build(START, (10, 2), None)
    for w in parent.weights:
        w.assign(np.full(w.shape, 0.123, dtype="float32"))
    same = space.mutate(START, "toggle_lr_rule", rng)
    child = space.build(same.genome, (10, 2), None)
    assert inherit(same.plan, parent, child) == pytest.approx(1.0)
    assert all(np.allclose(w.numpy(), 0.123) for w in child.weights)
    wider = space.mutate(START, "add_units", rng)
    child = space.build(wider.genome, (10, 2), None)
    assert inherit(wider.plan, parent, child) == 0.0  # every tensor of the DMU and the head changed shape


def test_searched_dmu_trains_with_the_rule_and_without_it_on_request():
    space = RecurrentSpace(START)
    model = compile_trial(space.build(START, (10, 2), None), 0.01, regression=True, lr_rule=space.lr_rule(START))
    assert isinstance(model.optimizer, ScaledAdam)
    assert set(model.optimizer.multipliers.values()) == {1 / (2 * START["depth"])}
    off = {**START, "lr_rule": False}
    model = compile_trial(space.build(off, (10, 2), None), 0.01, regression=True, lr_rule=space.lr_rule(off))
    assert not isinstance(model.optimizer, ScaledAdam)
    lstm = {**START, "cell": "lstm"}
    assert space.lr_rule(lstm) is False


def test_keras_tuner_hyperparameters_cover_the_space_with_conditions():
    space = RecurrentSpace(START)
    hp = kt.HyperParameters()
    genome = space.from_hyperparameters(hp)
    assert genome == RecurrentSpace.canonical({**START, "units": 4, "depth": 1, "layers": 1})  # KT's first values
    names = {h.name for h in hp.space}
    assert {"cell", "units", "depth", "blocks", "stacked_layers", "gate_bias", "lr_rule"} <= names
    hp.values["cell"] = "gru"
    assert not hp.is_active("gate_bias") and hp.is_active("stacked_layers")
    conv = make_space("conv", max_channels=32)
    hp = kt.HyperParameters()
    hp.values["blocks"] = 3
    assert len(conv.from_hyperparameters(hp)) == 3


def test_evolution_searches_the_recurrent_space_on_a_regression_task(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--dataset", "adding", "--strategy", "evolution", "--space", "recurrent", "--quiet",
                 "--out", str(run), "--set", "budget_epochs=6", "--set", "evolution.epochs_per_trial=2",
                 "--set", "evolution.final_epochs=1", "--set", "evolution.final_boundaries=[]",
                 "--set", "evolution.final_learning_rates=[1e-3]", "--set", "model.units=4", *SMALL_DATA]) == 0
    summary = json.loads((run / "summary.json").read_text())
    records = read_jsonl(run / "log.jsonl")
    assert summary["space"] == "recurrent" and "test_mse" in summary and "test_accuracy" not in summary
    assert all(r["genome"]["cell"] in CELLS and r["val_loss"] >= 0 for r in records)
    # Lower validation MSE wins: the best trial is the minimum (it would be the maximum if the sign were lost).
    assert summary["search_val_loss"] == min(r["val_loss"] for r in records)
    assert "val MSE" in (run / "history.md").read_text()
    # The best net's test MSE, recomputed from best.keras on the test split.
    data = load_dataset("adding", run_config(run, "search").data)
    best = keras.models.load_model(run / "best.keras")
    predicted = best.predict(data.x_test.astype("float32"), verbose=0)
    assert summary["test_mse"] == pytest.approx(np.mean((predicted.reshape(data.y_test.shape) - data.y_test) ** 2),
                                                rel=1e-5)
    out = export_run(run, tmp_path / "export")
    assert (out / "saved_model" / "saved_model.pb").exists()
    np.testing.assert_allclose(keras.models.load_model(out / "model.keras").predict(data.x_test[:16], verbose=0),
                               predicted[:16], rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # heavy: about 20-40 s on 2 cores; keeps the default run under 15 minutes
def test_random_search_on_a_sequence_classification_task(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--dataset", "temporal_order", "--strategy", "random", "--quiet", "--out", str(run),
                 "--set", "tuner.max_trials=2", "--set", "tuner.epochs=1", "--set", "evolution.max_units=8",
                 *SMALL_DATA]) == 0
    summary = json.loads((run / "summary.json").read_text())
    records = read_jsonl(run / "log.jsonl")
    assert summary["strategy"] == "random" and summary["space"] == "recurrent" and len(records) == 2
    assert summary["test_accuracy"] == pytest.approx(best_model_accuracy(run, "temporal_order"), abs=1e-6)
    assert summary["trial"] == max(records, key=lambda r: r["val_accuracy"])["trial"]
    assert all(r["genome"]["units"] <= 8 for r in records)
    again = run_automl("search", "--resume", "--out", str(run))
    assert again.returncode == 0 and "already complete" in again.stderr


def test_hyperband_on_images_uses_the_conv_space(tmp_path):
    run = tmp_path / "run"
    assert main(["search", "--strategy", "hyperband", "--quiet", "--out", str(run), "--set", "tuner.hyperband_max_epochs=2",
                 "--set", "evolution.max_channels=16"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["space"] == "conv" and keras.models.load_model(run / "best.keras").output_shape == (None, 10)
    assert summary["test_accuracy"] == pytest.approx(best_model_accuracy(run, "digits"), abs=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--dataset", "adding", "--strategy", "evolution", "--space", "conv"], "sequence dataset"),
    (["--dataset", "adding"], "grows image ResNets"),
    (["--dataset", "digits", "--strategy", "random", "--space", "recurrent"], "holds images"),
    (["--dataset", "digits", "--strategy", "random", "--space", "residual"], "conv or recurrent space"),
])
def test_mismatched_space_and_data_are_refused_in_one_line(tmp_path, args, message):
    result = run_automl("search", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()
