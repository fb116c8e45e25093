"""Keras Tuner's built-in tuners over our spaces as public classes (issue 17): automl.RandomSearch,
automl.BayesianOptimization and automl.Hyperband on numpy arrays, their results, export and
reload; keyword constructors that name a bad argument; TunerSettings' rules (the `tuner:` config
section); the data checked against the space; the budget."""
import inspect
import json

import keras
import keras_tuner as kt
import numpy as np
import pytest
from sklearn.datasets import load_digits

import automl
from automl.budget import Deadline
from automl.errors import UsageError
from automl.report import format_report
from automl.rundir import RunDir
from conftest import AfterCalls, tensorboard_tags
from pipelines import config as configs


def _digits(n=200):
    x, y = load_digits(return_X_y=True)
    return x[:n].reshape(-1, 8, 8), y[:n]


# each class with a schedule of 1-2 one- or two-epoch trials, and the Keras Tuner class it is
TUNERS = [(automl.RandomSearch, dict(max_trials=2, epochs=1), kt.RandomSearch, 2),
          (automl.BayesianOptimization, dict(max_trials=1, epochs=1), kt.BayesianOptimization, 1),
          (automl.Hyperband, dict(hyperband_max_epochs=2), kt.Hyperband, 2)]


@pytest.fixture(scope="module", params=TUNERS, ids=lambda p: p[0].__name__)
def tuner_run(request, tmp_path_factory):
    """A search of 160 raw digits (0..16) with 40 held out as test data."""
    cls, settings, _, _ = request.param
    x, y = _digits()
    tuner = cls(**settings, max_channels=16, verbose=0, directory=str(tmp_path_factory.mktemp("kt")),
                project_name="run")
    summary = tuner.search(x[:160], y[:160], test_data=(x[160:], y[160:]), batch_size=64)
    return tuner, summary, request.param, (x, y)


def test_each_tuner_searches_numpy_arrays_into_a_run_directory_the_cli_reads(tuner_run):
    tuner, summary, (cls, _, keras_tuner_class, trials), (x, y) = tuner_run
    assert isinstance(tuner, keras_tuner_class)
    run = RunDir.open(tuner.run_directory)
    records = run.records()
    assert len(records) == summary["trials"] == trials and run.summary() == json.loads(json.dumps(summary))
    assert all(r["wall_seconds"] > 0 for r in records)                      # each trial's own time, measured
    tb = tensorboard_tags(run.path)                                         # Keras Tuner's folder per trial
    assert {str(r["trial"]) for r in records} <= {folder.split("/")[0] for folder in tb}
    assert any("epoch_accuracy" in tags for tags in tb.values())
    assert [r["epochs"] for r in records] == [2 if cls is automl.Hyperband else 1] * trials
    # chosen on validation only: the best record holds the highest validation accuracy
    best = next(r for r in records if r["architecture"] == int(summary["trial"]))
    assert best["val_accuracy"] == max(r["val_accuracy"] for r in records)
    assert (summary["genome"], summary["flops"], summary["strategy"]) == (best["genome"], best["flops"], cls.STRATEGY)
    assert run.meta()["class_names"] == [str(c) for c in range(10)] and run.meta()["strategy"] == cls.STRATEGY
    hp = tuner.get_best_hyperparameters(1)[0]
    assert tuner.hypermodel.genome(hp.copy()) == summary["genome"]
    # the best net takes raw pixels (its scaling inside); its test accuracy is the summary's
    model = tuner.get_best_models(1)[0]
    assert model.count_params() == summary["params"]
    accuracy = np.mean(model.predict(x[160:], verbose=0).argmax(1) == y[160:])
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert f"best: {summary['arch']} with validation accuracy" in format_report(run)   # `automl report`


def test_results_summary_prints_the_trials_best_first(tuner_run, capsys):
    tuner, _, _, _ = tuner_run
    tuner.results_summary(5)
    lines = capsys.readouterr().out.splitlines()
    records = RunDir.open(tuner.run_directory).records()
    assert lines[0].startswith(f"Results summary: {tuner.run_directory}") and len(lines) == 3 + len(records)
    ranked = sorted(records, key=lambda r: -r["val_accuracy"])
    assert [float(line.split()[-3]) for line in lines[3:]] == [pytest.approx(r["val_accuracy"], abs=1e-4)
                                                                 for r in ranked]


def test_export_writes_what_automl_export_writes_and_it_reloads(tuner_run, tmp_path):
    tuner, summary, _, (x, _) = tuner_run
    out = tuner.export(tmp_path / "export")
    assert (out / "saved_model" / "saved_model.pb").exists()
    assert json.loads((out / "export.json").read_text())["class_names"] == [str(c) for c in range(10)]
    reloaded = keras.models.load_model(out / "model.keras")
    np.testing.assert_allclose(reloaded.predict(x[:16], verbose=0),
                               tuner.get_best_models(1)[0].predict(x[:16], verbose=0), rtol=1e-5, atol=1e-6)


def test_a_second_search_on_the_finished_run_loads_it(tuner_run):
    tuner, summary, (cls, settings, _, _), (x, y) = tuner_run
    log = (tuner.run_directory / RunDir.LOG).read_text()
    again = cls(**settings, max_channels=16, verbose=0, directory=str(tuner.run_directory.parent), project_name="run")
    loaded = again.search(x[:160], y[:160], test_data=(x[160:], y[160:]), batch_size=64)
    assert loaded == json.loads(json.dumps(summary))
    assert (tuner.run_directory / RunDir.LOG).read_text() == log                    # nothing trained again
    assert again.get_best_models(1)[0].count_params() == summary["params"]


@pytest.mark.parametrize("make, argument", [
    (lambda: automl.RandomSearch(max_trials=0), "max_trials"),
    (lambda: automl.RandomSearch(epochs=1.5), "epochs"),
    (lambda: automl.BayesianOptimization(learning_rate=0), "learning_rate"),
    (lambda: automl.Hyperband(hyperband_factor=1), "hyperband_factor"),
    (lambda: automl.Hyperband(hyperband_max_epochs=1), "hyperband_max_epochs"),
    (lambda: automl.Hyperband(batch_size=0), "batch_size"),
    (lambda: automl.RandomSearch(space="residual"), "space"),
    (lambda: automl.RandomSearch(max_channels=8), "max_channels"),
    (lambda: automl.RandomSearch(max_units=2), "max_units"),
    (lambda: automl.RandomSearch(budget="soon"), "budget"),
    (lambda: automl.BayesianOptimization(seed=-1), "seed"),
    (lambda: automl.Hyperband(regression="yes"), "regression"),
    (lambda: automl.RandomSearch(space="recurrent", recurrent_start={"unit": 4}), "recurrent_start"),
    (lambda: automl.TunerSettings(space="grid"), "space"),
])
def test_a_bad_argument_names_itself_and_the_value_received(make, argument):
    with pytest.raises(ValueError, match=rf"argument `{argument}` must be .*Received: {argument}="):
        make()


def test_tuner_settings_rules_hold_at_their_boundary():
    low = automl.TunerSettings(max_trials=1, epochs=1, hyperband_max_epochs=2, hyperband_factor=2, batch_size=1,
                               learning_rate=1e-9)
    assert (low.hyperband_max_epochs, low.hyperband_factor, low.learning_rate) == (2, 2, 1e-9)
    for bad in (dict(hyperband_factor=1), dict(hyperband_max_epochs=1), dict(learning_rate=0.0), dict(max_trials=0)):
        with pytest.raises(ValueError, match=f"argument `{next(iter(bad))}`"):
            automl.TunerSettings(**bad)


def test_the_tuner_section_is_tuner_settings_named_by_key_and_flag():
    cfg = configs.load_config("search", None, ["tuner.max_trials=3"])
    assert isinstance(cfg.tuner, automl.TunerSettings) and cfg.tuner.max_trials == 3
    assert cfg.tuner.to_dict() == {**automl.TunerSettings.defaults(), "max_trials": 3}
    with pytest.raises(configs.ConfigError, match=r"--set tuner.hyperband_factor=1: 'tuner.hyperband_factor' must be "
                                                  r"an integer >= 2, got 1"):
        configs.load_config("search", None, ["tuner.hyperband_factor=1"])


def test_each_tuner_takes_only_the_settings_it_uses():
    assert {"max_trials", "epochs"} <= set(inspect.signature(automl.RandomSearch).parameters)
    assert "hyperband_factor" not in inspect.signature(automl.BayesianOptimization).parameters
    hyperband = set(inspect.signature(automl.Hyperband).parameters)
    assert {"hyperband_max_epochs", "hyperband_factor"} <= hyperband and not {"max_trials", "epochs"} & hyperband
    assert "hyperband_factor: η" in automl.Hyperband.__doc__ and "max_trials:" not in automl.Hyperband.__doc__
    with pytest.raises(TypeError, match="'max_trials'"):
        automl.Hyperband(max_trials=3)
    with pytest.raises(TypeError, match="'hyperband_factor'"):
        automl.RandomSearch(hyperband_factor=2)


@pytest.mark.parametrize("cls, settings, search, argument", [
    (automl.RandomSearch, {"space": "recurrent"}, {}, "space"),      # images in a sequence space
    (automl.RandomSearch, {"regression": True}, {}, "regression"),   # their labels are classes
    (automl.Hyperband, {}, {"epochs": 3}, "epochs"),                 # Hyperband gives each trial its epochs
])
def test_search_refuses_data_the_tuner_was_not_made_for(tmp_path, cls, settings, search, argument):
    x, y = _digits(60)
    small = {"hyperband_max_epochs": 2} if cls is automl.Hyperband else {"max_trials": 1, "epochs": 1}
    tuner = cls(**settings, **small, max_channels=16, max_units=4, directory=str(tmp_path), verbose=0)
    with pytest.raises(ValueError, match=rf"argument `{argument}` must be .*Received: {argument}="):
        tuner.search(x, y, **search)


def test_no_trial_starts_once_the_budget_is_spent(tmp_path):
    x, y = _digits(60)
    tuner = automl.RandomSearch(max_trials=3, epochs=1, max_channels=16, directory=str(tmp_path), project_name="run",
                                verbose=0)
    with pytest.raises(UsageError, match="the budget ended before a first trial finished"):
        tuner.search(x, y, deadline=Deadline(0.0))
    assert tuner.oracle.trials == {} and RunDir.open(tmp_path / "run").records() == []
    # automl.search dispatches the Keras Tuner strategies to these classes, budget included
    with pytest.raises(UsageError, match="the budget ended before a first trial finished"):
        automl.search(x, y, strategy="bayesian", budget=1e-9, max_trials=2, max_channels=16,
                      directory=tmp_path / "bayes", verbose=0)
    assert RunDir.open(tmp_path / "bayes").meta()["strategy"] == "bayesian"


def test_the_budget_cuts_a_running_trial_and_its_cut_epoch_never_counts(tmp_path):
    """48 training images in 6 batches and 12 validation images in 2: the deadline is checked when
    a trial is created and after every batch, so it passes at the first batch of epoch 2. The run
    stops there; the trial's score and checkpoint are epoch 1's, the search's deadline itself
    (not a copy) learnt what an evaluation pass costs, and no second trial starts."""
    x, y = _digits(60)
    deadline = AfterCalls(1 + 6 + 2)
    tuner = automl.RandomSearch(max_trials=3, epochs=3, max_channels=16, directory=str(tmp_path), project_name="run",
                                verbose=0)
    summary = tuner.search(x, y, batch_size=8, deadline=deadline)
    # one trial; its id has five digits: with a budget the search fills it past max_trials
    assert list(tuner.oracle.trials) == ["00000"] and summary["stop_reason"] == "budget" and summary["trials"] == 1
    assert deadline.reserve > 0
    assert summary["val_accuracy"] == pytest.approx(tuner.oracle.trials["00000"].score)  # epoch 1's checkpoint


@pytest.mark.parametrize("fill", [True, False])
def test_with_a_budget_the_trials_go_on_past_max_trials_until_the_time_is_spent(tmp_path, fill):
    """One trial's checks: its creation, then 6 training and 2 validation batches. The clock
    allows two trials: filling runs both, past max_trials=1; without filling one ends the search."""
    x, y = _digits(60)
    tuner = automl.RandomSearch(max_trials=1, epochs=1, max_channels=16, fill_budget=fill, directory=str(tmp_path),
                                project_name="run", verbose=0)
    summary = tuner.search(x, y, batch_size=8, deadline=AfterCalls(2 * (1 + 6 + 2)))
    assert summary["trials"] == (2 if fill else 1)
    assert summary["stop_reason"] == ("budget" if fill else "trials")


def test_hyperband_fills_a_budget_by_repeating_its_brackets(tmp_path):
    from automl.tuning import FILL_ITERATIONS

    tuner = automl.Hyperband(hyperband_max_epochs=2, max_channels=16, directory=str(tmp_path), verbose=0)
    assert tuner.oracle.hyperband_iterations == 1 and "repeated" not in tuner._schedule()
    tuner._fill_budget()
    assert tuner.oracle.hyperband_iterations == FILL_ITERATIONS and "repeated until the time" in tuner._schedule()


def test_a_trial_cut_in_its_first_epoch_has_no_score(tmp_path):
    x, y = _digits(60)
    tuner = automl.RandomSearch(max_trials=3, epochs=3, max_channels=16, directory=str(tmp_path), project_name="run",
                                verbose=0)
    with pytest.raises(UsageError, match="the budget ended before a first trial finished"):
        tuner.search(x, y, batch_size=8, deadline=AfterCalls(1 + 3))
    assert list(tuner.oracle.trials) == ["00000"] and RunDir.open(tmp_path / "run").records() == []


def test_a_cut_epoch_reaches_keras_tuners_callbacks_as_the_worst_value():
    """What Keras Tuner's best-epoch checkpoint and the trial's history see after _TrialStopper."""
    from automl.tuning import _TrialStopper

    seen = []

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((logs["val_accuracy"], logs["val_loss"]))

    x, y = _digits(40)
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    stopper = _TrialStopper(AfterCalls(5 + 2), kt.Objective("val_accuracy", "max"), final_passes=1)
    history = model.fit(x[:40], y[:40], validation_data=(x[:16], y[:16]), batch_size=8, epochs=3, verbose=0,
                        callbacks=[stopper, Recorder()])
    assert len(seen) == 2 and np.isfinite(seen[0][0]) and seen[1][0] == -np.inf and np.isfinite(seen[1][1])
    assert history.history["val_accuracy"][1] == -np.inf and stopper.cut


def test_a_reloaded_run_keeps_the_first_of_equally_scored_trials_best(tmp_path, monkeypatch):
    """Keras Tuner reads trials back in the file system's order and ranks equal scores in the
    order it holds them: whatever order the files come in, the best after a resume (and so the
    net get_best_models gives) is the one the run chose."""
    from keras_tuner.src import backend
    from keras_tuner.src.engine.trial import TrialStatus

    def make():
        return automl.RandomSearch(max_trials=3, directory=str(tmp_path), project_name="run", verbose=0)

    tuner = make()
    for score in (0.5, 0.5, 0.25):
        trial = tuner.oracle.create_trial("tuner0")
        tuner.oracle.update_trial(trial.trial_id, {"val_accuracy": score})
        trial.status = TrialStatus.COMPLETED
        tuner.oracle.end_trial(trial)
    tuner.save()
    assert tuner.oracle.get_best_trials(1)[0].trial_id == "0"
    glob = backend.io.glob
    monkeypatch.setattr(backend.io, "glob", lambda pattern: sorted(glob(pattern), reverse=True))
    again = make()
    assert list(again.oracle.trials) == ["0", "1", "2"] and again.oracle.get_best_trials(1)[0].trial_id == "0"
