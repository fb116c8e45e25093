"""The Python API (issue 17): automl.ResBuilder and automl.Evolution on numpy arrays, their
results, export and reload; automl.search(); keyword constructors that name a bad argument; the
README's Python snippet as written; file modes a model server running as another user can read."""
import functools
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

import automl
from automl.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent


def _digits(n=300):
    x, y = load_digits(return_X_y=True)
    return x[:n].reshape(-1, 8, 8), y[:n]


@pytest.fixture(scope="module")
def resbuilder_run(tmp_path_factory):
    """A ResBuilder search on 240 raw digits (0..16) with a held-out test set, under umask 022."""
    old = os.umask(0o022)
    try:
        x, y = _digits(300)
        tuner = automl.ResBuilder(insertions=1, morph_steps=1, epochs=1, zeta=3e5, verbose=0,
                                  directory=str(tmp_path_factory.mktemp("api")), project_name="rb")
        summary = tuner.search(x[:240], y[:240], test_data=(x[240:], y[240:]), batch_size=64)
        out = tuner.export(tmp_path_factory.mktemp("export") / "rb", formats=("saved_model", "tflite"))
    finally:
        os.umask(old)
    return tuner, summary, out, (x, y)


def test_resbuilder_searches_numpy_arrays_into_a_run_directory_the_cli_reads(resbuilder_run):
    tuner, summary, _, (x, y) = resbuilder_run
    run = RunDir.open(tuner.directory_path)
    records = run.records()
    # one record per architecture: the start net, one insertion, then the MorphNet step's net
    assert [r["architecture"] for r in records] == [1, 2, 3] and summary["architectures"] == 3
    best = max(records, key=lambda r: (r["val_accuracy"], -r["flops"]))          # chosen on validation only
    assert summary["arch"].startswith(f"arch {best['architecture']} ") and summary["flops"] == best["flops"]
    assert run.meta()["class_names"] == [str(c) for c in range(10)]
    model = tuner.get_best_models(1)[0]
    # the best model takes raw pixels (its scaling inside) and its test accuracy is the summary's
    accuracy = np.mean(model.predict(x[240:], verbose=0).argmax(1) == y[240:])
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert model.count_params() == summary["params"]
    assert tuner.get_best_spec() == best["spec"]
    report = subprocess.run([sys.executable, "-m", "pipelines.cli", "report", str(run.path)], capture_output=True,
                            text=True, cwd=ROOT)
    assert report.returncode == 0 and f"best: {summary['arch']}" in report.stdout


def test_results_summary_ranks_by_validation_accuracy(resbuilder_run, capsys):
    tuner, summary, _, _ = resbuilder_run
    tuner.results_summary(2)
    out = capsys.readouterr().out
    ranked = sorted(RunDir.open(tuner.directory_path).records(), key=lambda r: -r["val_accuracy"])[:2]
    rows = [line for line in out.splitlines() if re.match(r"^\d+\s+arch \d+", line)]
    assert [int(row.split()[0]) for row in rows] == [r["architecture"] for r in ranked]
    assert f"best: {summary['arch']}" in out


def test_a_second_search_on_the_same_run_loads_it_instead_of_training_again(resbuilder_run):
    tuner, summary, _, (x, y) = resbuilder_run
    again = automl.ResBuilder(insertions=1, morph_steps=1, epochs=1, zeta=3e5, verbose=0,
                              directory=tuner.directory, project_name="rb")
    before = (tuner.directory_path / "log.jsonl").read_text()
    assert again.search(x[:240], y[:240]) == summary
    assert (tuner.directory_path / "log.jsonl").read_text() == before


def test_the_exported_model_loads_with_plain_keras_in_a_fresh_process(resbuilder_run, tmp_path):
    tuner, _, out, (x, _) = resbuilder_run
    assert (out / "saved_model").is_dir() and (out / "model.tflite").stat().st_size > 0   # the formats asked for
    model = tuner.get_best_models(1)[0]
    np.save(tmp_path / "x.npy", x[240:].astype("float32"))
    code = ("import sys, numpy as np, keras; m = keras.models.load_model(sys.argv[1]); "
            "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))")
    subprocess.run([sys.executable, "-c", code, str(out / "model.keras"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, capture_output=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), model.predict(x[240:], verbose=0), atol=1e-5)


def test_run_directories_and_exports_are_readable_by_others_under_umask_022(resbuilder_run):
    tuner, _, out, _ = resbuilder_run
    for root in (tuner.directory_path, out):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            want = 0o755 if path.is_dir() else 0o644
            assert mode & want == want and not mode & 0o022, f"{path}: {oct(mode)}"


def test_evolution_is_a_keras_tuner_that_searches_numpy_arrays(tmp_path):
    import keras_tuner as kt

    x, y = _digits(240)
    tuner = automl.Evolution(budget_epochs=4, final_epochs=1, final_boundaries=[], final_learning_rates=[1e-3],
                             max_channels=16, verbose=0, directory=str(tmp_path), project_name="evo")
    assert isinstance(tuner, kt.Tuner)
    summary = tuner.search(x[:200], y[:200], test_data=(x[200:], y[200:]), epochs=2, batch_size=64)
    records = RunDir.open(tmp_path / "evo").records()
    # the initial net and one child, 2 epochs each (the initial net trains before it is scored):
    # the 4-epoch budget exactly
    assert [r["epochs"] for r in records] == [2, 2] and summary["epochs_used"] == 4
    best = max(records, key=lambda r: r["val_accuracy"])
    assert summary["trial"] == best["trial"]
    assert tuner.get_best_hyperparameters(1)[0].values["genome"] == json.dumps(best["genome"])
    model = tuner.get_best_models(1)[0]                  # the final-trained net, tested once
    accuracy = np.mean(model.predict(x[200:], verbose=0).argmax(1) == y[200:])
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_automl_search_returns_the_trained_best_and_its_run_directory(tmp_path):
    x, y = _digits(200)
    result = automl.search(x, y, strategy="morphnet", epochs=1, morph_steps=1, zeta=3e5, verbose=0,
                           directory=tmp_path / "runs" / "digits")
    assert result.directory == tmp_path / "runs" / "digits" and RunDir.open(result.directory).summary() == result.summary
    assert result.summary["strategy"] == "morphnet" and result.model.count_params() == result.summary["params"]
    records = RunDir.open(result.directory).records()
    assert all(r["inserted_block"] is None for r in records)        # MorphNet only: nothing inserted


@pytest.mark.parametrize("make, argument", [
    (lambda: automl.ResBuilder(zeta=-1), "zeta"),
    (lambda: automl.ResBuilder(start="vgg"), "start"),
    (lambda: automl.ResBuilder(insertions=1.5), "insertions"),
    (lambda: automl.ResBuilder(budget="soon"), "budget"),
    (lambda: automl.ResBuilder(seed=-1), "seed"),
    (lambda: automl.ResBuilder(preset="fast"), "preset"),
    (lambda: automl.ResBuilder(strategy="grow"), "strategy"),
    (lambda: automl.ResBuilder(training={"optimizer": "leea"}), "training"),
    (lambda: automl.Evolution(mode="swarm"), "mode"),
    (lambda: automl.Evolution(objective="pareto"), "objective"),
    (lambda: automl.Evolution(tournament_size=20), "tournament_size"),
    (lambda: automl.Evolution(final_learning_rates=[1e-3]), "final_learning_rates"),
    (lambda: automl.TrainingSettings(optimizer="rmsprop"), "optimizer"),
    (lambda: automl.PhsSettings(mass=0), "mass"),
    (lambda: automl.PhsSettings(brake_mode="relative", brake_goal=2.0), "brake_goal"),
    (lambda: automl.PortHamiltonian(0.1, friction=-1.0), "friction"),
    (lambda: automl.GoalOrientedBraking(0.2, factor=0.5), "factor"),
    (lambda: automl.search(np.zeros((4, 8, 8)), np.arange(4), strategy="grid"), "strategy"),
    (lambda: automl.DataSettings(validation_split=1.0), "validation_split"),
    (lambda: automl.DataSettings(test_split=0), "test_split"),
    (lambda: automl.DataSettings(batch_size=0), "batch_size"),
    (lambda: automl.DataSettings(augment="rotate"), "augment"),
    (lambda: automl.DataSettings(image_size=[32]), "image_size"),
    (lambda: automl.DataSettings(sequence_length=1), "sequence_length"),
    (lambda: automl.DataSettings(sequence_sizes=[10, 0, 10]), "sequence_sizes"),
    (lambda: automl.ModelSettings(cell="lstn"), "cell"),
    (lambda: automl.ModelSettings(units=0), "units"),
    (lambda: automl.ModelSettings(depth=0), "depth"),
    (lambda: automl.ModelSettings(hidden=-1), "hidden"),
    (lambda: automl.ResBuilder().search(np.zeros((8, 8, 8)), np.arange(8) % 2, batch_size=0), "batch_size"),
    (lambda: automl.LEEA().fit(None, ([0.0], [0]), ([0.0], [0]), epochs=0), "epochs"),
])
def test_a_bad_argument_names_itself_and_the_value_received(make, argument):
    with pytest.raises(ValueError, match=rf"argument `{argument}` must be .*Received: {argument}="):
        make()


def test_the_engine_classes_default_to_the_settings_defaults():
    """One default per parameter: the Keras-style classes and the engine read the settings'."""
    import inspect

    from automl.evolution.recurrent_space import RecurrentSpace
    import automl.survival
    from automl.survival.cohort import write_cohort

    phs, config = automl.PhsSettings(), automl.PortHamiltonian().get_config()
    assert (config["learning_rate"], config["mass"], config["friction"], config["discretization"]) == \
        pytest.approx((phs.learning_rate, phs.mass, phs.friction, phs.discretization))
    braking = automl.GoalOrientedBraking()
    assert (braking.goal, braking.factor, braking.goal_mode, braking.monitor) == \
        (phs.brake_goal, phs.brake_factor, phs.brake_mode, phs.monitor)
    evolution, tuner = automl.EvolutionSettings(), automl.TunerSettings()
    assert (tuner.epochs, tuner.batch_size, tuner.learning_rate) == \
        (evolution.epochs_per_trial, evolution.batch_size, evolution.learning_rate)
    demo, cohort = automl.survival.DemoSettings(), inspect.signature(write_cohort).parameters
    assert (cohort["patients"].default, list(cohort["size_hw"].default), cohort["mpp"].default) == \
        (demo.patients, demo.size, demo.mpp)
    model = automl.ModelSettings()
    assert RecurrentSpace().start == RecurrentSpace.canonical(model.sequence_genome())
    assert RecurrentSpace(start={"cell": "lstm", "units": 8}).start == \
        {**model.sequence_genome(), "cell": "lstm", "units": 8, "depth": model.depth * model.layers, "layers": 1}


def test_explicit_arguments_win_over_the_preset_and_the_rest_keep_it():
    tuner = automl.ResBuilder(preset="thesis", epochs=5)
    assert (tuner.epochs, tuner.insertions, tuner.morph_steps, tuner.zeta) == (5, 4, 7, 1e8)
    assert automl.ResBuilder().insertions == 3                                  # the defaults: the quick schedule


def test_rules_that_relate_two_arguments_hold_at_their_boundary():
    assert automl.EvolutionSettings(population_size=4, tournament_size=4).tournament_size == 4
    assert automl.EvolutionSettings(final_boundaries=[], final_learning_rates=[1e-2]).final_learning_rates == [1e-2]
    assert automl.EvolutionSettings(checkpoints=[64], budget_epochs=64).checkpoints == [64]
    assert automl.EvolutionSettings(budget_epochs=4, epochs_per_trial=4).budget_epochs == 4
    for bad in (dict(population_size=4, tournament_size=5), dict(checkpoints=[65], budget_epochs=64),
                dict(heartbeat=10.0, worker_timeout=10.0), dict(budget_epochs=3, epochs_per_trial=4)):
        with pytest.raises(ValueError):
            automl.EvolutionSettings(**bad)
    assert automl.PhsSettings(brake_mode="relative", brake_goal=0.5).brake_goal == 0.5


def test_nested_settings_take_a_dict_of_their_arguments():
    training = automl.TrainingSettings(phs={"mass": 5, "brake_factor": 10})
    assert (training.phs.mass, training.phs.brake_factor, training.phs.friction) == (5.0, 10.0, 0.1)
    assert training.to_dict()["phs"] == automl.PhsSettings(mass=5, brake_factor=10).to_dict()
    with pytest.raises(ValueError, match="argument `mass`"):
        automl.TrainingSettings(phs={"mass": -1})


def test_arrays_become_a_dataset_scaled_and_labelled_as_the_bundled_ones():
    from automl.data import image_data

    x, y = _digits(100)
    data = image_data(x, y)                                        # grey, 0..16: scaled by the training max
    assert data.kind == "digits" and data.preprocess().to_dict()["scale"] == pytest.approx(1 / 16)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (80, 20, 0)     # 20% held out, no test
    assert image_data(x.astype(np.uint8), y).preprocess().to_dict()["scale"] == pytest.approx(1 / 255)
    colour = image_data(np.random.default_rng(0).uniform(0, 255, (40, 4, 4, 3)), np.arange(40) % 2)
    assert colour.kind == "natural" and colour.augment("auto") == "shift_flip"
    # any label values: numbered in sorted order, kept as class names
    assert y[1] % 2 == 1                                      # "odd" comes first, "even" first in sorted order
    names = image_data(x[1:41], np.where(y[1:41] % 2, "odd", "even"), validation_data=(x[41:61], np.where(
        y[41:61] % 2, "odd", "even")))
    assert names.class_names == ["even", "odd"] and list(names.y_val) == list(y[41:61] % 2)
    with pytest.raises(ValueError, match="labels that the training data does not"):
        image_data(x[:40], y[:40] % 2, validation_data=(x[40:60], y[40:60] % 3))
    with pytest.raises(ValueError, match=r"must hold images.*received shape \(64,\)"):
        image_data(x.reshape(len(x), -1)[0], y[:1])


def test_a_task_knows_its_loss_its_choice_and_its_direction():
    from automl.task import CLASSIFICATION, REGRESSION, task_for

    assert task_for(False) is CLASSIFICATION and task_for(True) is REGRESSION
    assert (CLASSIFICATION.loss, CLASSIFICATION.metrics, CLASSIFICATION.monitor, CLASSIFICATION.mode) == (
        "sparse_categorical_crossentropy", ("accuracy",), "val_accuracy", "max")
    assert (REGRESSION.loss, REGRESSION.metrics, REGRESSION.monitor, REGRESSION.mode) == ("mse", (), "val_loss", "min")
    # sort keys: the best first, whichever way the number points
    assert sorted([0.7, 0.9, 0.8], key=CLASSIFICATION.key) == [0.9, 0.8, 0.7]
    assert sorted([0.7, 0.9, 0.8], key=REGRESSION.key) == [0.7, 0.8, 0.9]
    val, test = {"loss": 0.25, "accuracy": 0.75}, {"loss": 0.5, "accuracy": 0.5}
    assert CLASSIFICATION.scores(val, test) == {"val_accuracy": 0.75, "test_accuracy": 0.5}
    assert REGRESSION.scores(val, None) == {"val_mse": 0.25, "test_mse": None}


def test_each_list_of_optimizers_is_the_registry_it_names():
    """The settings list the optimizer names once; the engine's registries must hold exactly those."""
    from automl.population import POPULATION_OPTIMIZERS
    from automl.training import GRADIENT_BUILDERS
    from automl.training_settings import GRADIENT_OPTIMIZERS
    from automl.training_settings import POPULATION_OPTIMIZERS as NAMES

    assert tuple(POPULATION_OPTIMIZERS) == NAMES and tuple(GRADIENT_BUILDERS) == GRADIENT_OPTIMIZERS


def test_an_unknown_keyword_is_a_type_error_as_for_any_constructor():
    with pytest.raises(TypeError, match="unexpected keyword argument 'zetta'"):
        automl.ResBuilder(zetta=1e7)


@pytest.mark.parametrize("make, message", [
    (lambda: automl.LEEA(sigma_mode="wild"), "sigma_mode"),
    (lambda: automl.DE(mutation="best9"), "mutation"),
    (lambda: automl.NDES(population_size=-3), "population_size"),
    (lambda: automl.CoSyNE(children=3), "children"),
    (lambda: automl.MuLambdaES(selection="roulette"), "selection"),
])
def test_a_bad_argument_to_a_population_optimizer_names_it(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_overwrite_never_deletes_a_folder_that_is_not_a_run_directory(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "thesis.tex").write_text("precious")
    # a tiny schedule, so that a search that wrongly went ahead would end soon
    tuner = automl.ResBuilder(insertions=0, morph_steps=1, epochs=1, zeta=3e5, directory=str(tmp_path),
                              project_name="mine", overwrite=True, verbose=0)
    x, y = _digits(40)
    with pytest.raises(ValueError, match="not a run directory"):
        tuner.search(x, y)
    assert (keep / "thesis.tex").read_text() == "precious"


def _readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    quick_start = re.search(r"```python\n(.*?)```", text[text.index("## Python quick start"):], re.S).group(1)
    assert blocks[0] == quick_start and len(quick_start.strip().splitlines()) <= 6
    return blocks


def test_the_readme_python_blocks_compile_and_use_only_public_names():
    """The fast guard of the default run (the slow test below runs them): each block compiles,
    and every `automl.NAME` it uses is in automl.__all__."""
    for number, block in enumerate(_readme_blocks()):
        compile(block, f"README.md python block {number + 1}", "exec")
        for name in re.findall(r"\bautoml\.(\w+)", block):  # a public name, or a subpackage (automl.survival)
            spec = importlib.util.find_spec(f"automl.{name}") if name not in automl.__all__ else None
            assert name in automl.__all__ or (spec and spec.submodule_search_locations), \
                f"README block {number + 1} uses automl.{name}"


@pytest.mark.slow  # about 3 minutes: each block's search runs its schedule or budget as written
def test_the_readme_python_snippets_run_as_written(tmp_path, monkeypatch):
    """Every Python block of the README, in order, as written, in a fresh folder: the quick start
    (at most 6 lines), the Python API and serving. Only the digits they load are cut to 150
    (tiny data)."""
    blocks = _readme_blocks()
    import sklearn.datasets

    full = sklearn.datasets.load_digits
    monkeypatch.setattr(sklearn.datasets, "load_digits", lambda **kw: tuple(a[:150] for a in full(**kw)))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for number, block in enumerate(blocks):
        exec(compile(block, f"README.md python block {number + 1}", "exec"), namespace)
    result = namespace["result"]
    assert RunDir.open(result.directory).summary() == result.summary
    assert result.model.predict(np.zeros((1, 8, 8)), verbose=0).shape == (1, 10)
    np.testing.assert_allclose(namespace["probs"].numpy(), namespace["model"].predict(namespace["images"], verbose=0),
                               atol=1e-5)                                  # the served model is the tuner's best


def test_a_report_names_a_split_the_run_did_not_have():
    """A Python run given no test data reports 'n/a' for it, not a crash."""
    from automl.report import result_text

    assert result_text({"val_accuracy": 0.91234, "test_accuracy": None}) == "test accuracy n/a"
    assert result_text({"val_accuracy": 0.91234, "test_accuracy": None}, "val") == "validation accuracy 0.9123"
    assert result_text({"val_mse": 0.012345, "test_mse": 0.5}) == "test MSE 0.5"


def test_search_arguments_left_out_take_the_data_settings_defaults():
    """`search(batch_size=None, augment=None)` and the arrays' split are DataSettings' own defaults."""
    from automl.data import image_data

    given = automl.DataSettings.given(batch_size=None, augment="none", split_seed=None)
    assert (given.batch_size, given.augment, given.split_seed) == (128, "none", 42)
    x, y = np.repeat(np.arange(10.0), 10)[:, None, None] * np.ones((1, 4, 4)), np.repeat(np.arange(10), 10)
    data = image_data(x, y)
    assert len(data.y_val) == 20 and len(data.y_train) == 80       # validation_split 0.2
    assert np.array_equal(data.y_val, image_data(x, y, split_seed=42).y_val)
    assert not np.array_equal(data.y_val, image_data(x, y, split_seed=7).y_val)


@pytest.mark.parametrize("make, call, argument", [
    (automl.ResBuilder, {"epochs": 0}, "epochs"),
    (automl.Evolution, {"epochs": 0}, "epochs_per_trial"),
    (automl.Evolution, {"epochs": 65}, "budget_epochs"),            # more than the whole budget of 64
    (automl.Evolution, {"batch_size": 0}, "batch_size"),
    (automl.Evolution, {"augment": "rotate"}, "augment"),
    (automl.RandomSearch, {"epochs": 1.5}, "epochs"),
    (automl.RandomSearch, {"batch_size": True}, "batch_size"),
    (automl.Hyperband, {"augment": "rotate"}, "augment"),
    (functools.partial(automl.Evolution, space="recurrent"), {}, "space"),          # images need an image space
])
def test_search_arguments_obey_the_settings_rules(tmp_path, make, call, argument):
    """search()'s epochs, batch_size and augment are checked by the settings classes' own rules,
    before a run directory is written."""
    tuner = make(directory=str(tmp_path), project_name="p", verbose=0)
    with pytest.raises(ValueError, match=rf"argument `{argument}`"):
        tuner.search(np.zeros((8, 8, 8)), np.arange(8) % 2, **call)
    assert not list(tmp_path.rglob(RunDir.CONFIG))


def test_one_seed_rule_everywhere():
    """Every seed argument takes an integer in [0, 2**31), numpy integers too (one rule, automl.settings)."""
    from automl.population_settings import FitSettings
    from automl.survival.settings import SurvivalDataSettings

    makers = [lambda s: automl.DataSettings(split_seed=s), lambda s: SurvivalDataSettings(split_seed=s),
              lambda s: FitSettings(seed=s), lambda s: automl.SearchRun(seed=s)]
    for make in makers:
        for good in (0, 2**31 - 1, np.int64(3)):
            make(good)
        for bad in (-1, 2**31, True, 1.0):
            with pytest.raises(ValueError, match=r"must be an integer in \[0, 2\*\*31\)"):
                make(bad)
