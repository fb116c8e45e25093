"""`automl train --optimizer leea|ndes|ndes-g|ndes-b|de|cosyne|es`: the population optimizers
from the command line, with the records, resumption and clear refusals of any training."""
import json

import numpy as np
import pytest

from pipelines.cli import main
from tests.conftest import read_jsonl, run_automl, tensorboard_tags


def test_de_trains_the_default_mlp_and_exports(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--optimizer", "de", "--set", "epochs=2", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "evals/s" in err  # progress: generation, fitness, evaluations per second
    assert {"loss", "mean_loss", "val_loss", "val_accuracy"} <= tensorboard_tags(run)["population"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["optimizer"] == "de" and summary["arch"] == "mlp" and summary["params"] == 64 * 32 + 32 + 330
    assert summary["generations"] == 2 * int(np.ceil(summary_train(run) / 40))  # an epoch: ceil(n / batch) generations
    record = read_jsonl(run / "log.jsonl")[-1]
    assert record["evaluations"] == 2 * 13 * summary["generations"]  # targets and trials on each batch
    assert summary["test_accuracy"] == pytest.approx(_test_score(run), abs=1e-6)  # the saved best, on the test split
    assert summary["val_accuracy"] == pytest.approx(max(h["val_accuracy"] for h in _history(run)), abs=1e-6)  # best epoch
    exported = run_automl("export", str(run), "--out", str(tmp_path / "export"))
    assert exported.returncode == 0, exported.stderr
    # the export carries the population's best model (an inference copy of it), and the run's class names
    import keras

    x = np.random.default_rng(0).uniform(0, 16, (8, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "export" / "model.keras").predict(x, verbose=0),
                               keras.models.load_model(run / "best.keras").predict(x, verbose=0), atol=1e-6)
    assert json.loads((tmp_path / "export" / "export.json").read_text())["class_names"] == [str(i) for i in range(10)]


def summary_train(run):
    return json.loads((run / "meta.json").read_text())["dataset"]["train"]


def _history(run):
    """The population run's epoch records, as its checkpoint keeps them."""
    from automl.rundir import RunDir

    with np.load(RunDir.open(run).checkpoints / "population.npz") as saved:
        return json.loads(bytes(saved["run"]).decode())["history"]


def _test_score(run):
    """The saved best model's accuracy (classification) or MSE (regression) on the run's test
    split, computed here in numpy from its predictions."""
    import keras

    from automl.rundir import RunDir
    from pipelines.config import run_config
    from pipelines.datasets import load_dataset

    cfg = run_config(run)
    data = load_dataset(cfg.dataset, cfg.data)
    out = np.asarray(keras.models.load_model(run / RunDir.BEST).predict(data.x_test, verbose=0))
    y = np.asarray(data.y_test)
    if np.issubdtype(y.dtype, np.floating):
        return float(np.mean((out.reshape(y.shape) - y) ** 2))
    return float(np.mean(np.argmax(out, axis=-1) == y))


def test_ndes_on_a_sequence_task_with_a_recurrent_model(tmp_path):
    run = tmp_path / "seq"
    assert main(["train", "--dataset", "parity", "--model", "rnn", "--optimizer", "ndes", "--out", str(run), "--quiet",
                 "--set", "epochs=1", "--set", "model.units=4", "--set", "data.sequence_length=10",
                 "--set", "data.sequence_sizes=[256,64,64]", "--set", "population.ndes.population_size=24"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["optimizer"] == "ndes"
    assert summary["test_mse"] == pytest.approx(_test_score(run), rel=1e-5)  # the saved best, on the test split


def test_refusals_are_one_clear_line(tmp_path, capsys):
    """In-process (tests/test_cli.py runs the command itself for bad input): exit 2, one line that
    names the problem, and nothing written."""
    def refused(*argv) -> str:
        assert main(list(argv)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    err = refused("train", "--dataset", "digits", "--optimizer", "leea", "--arch", "mlp-leea", "--quiet",
                  "--set", "population.leea.population_size=5000", "--set", "population.memory_mb=16",
                  "--out", str(tmp_path / "big"))
    assert "population.memory_mb" in err and "5,000" in err
    err = refused("train", "--optimizer", "de", "--set", "population.de.mutation=best9", "--out", str(tmp_path / "m"))
    assert "population.de.mutation" in err and "best9" in err and not (tmp_path / "m").exists()
    err = refused("train", "--optimizer", "cosyne", "--set", "population.cosyne.children=3", "--quiet",
                  "--out", str(tmp_path / "odd"))
    assert err.endswith("--set population.cosyne.children=3: 'population.cosyne.children' must be an even integer "
                        ">= 2 and below population_size (14), got 3") and not (tmp_path / "odd").exists()
    # search --optimizer offers only gradient optimizers (argparse refuses the others); the config key says why
    assert "population optimizer" in refused("search", "--set", "train.optimizer=ndes", "--out", str(tmp_path / "s"))
    assert not (tmp_path / "s").exists()


def test_ndes_b_bootstrap_keeps_the_accuracy_record(tmp_path):
    """nDES-B's Adam bootstrap compiles the model itself; the saved best member must still be
    evaluated with the run's metrics, so a classifier reports accuracy, not an MSE."""
    run = tmp_path / "b"
    assert main(["train", "--dataset", "digits", "--optimizer", "ndes-b", "--out", str(run), "--quiet",
                 "--set", "epochs=2", "--set", "population.ndes.population_size=24"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["bootstrap_epochs"] == 1 and "test_mse" not in summary
    assert summary["test_accuracy"] == pytest.approx(_test_score(run), abs=1e-6)  # the saved best, on the test split


def test_every_population_setting_in_the_config_reaches_its_optimizer():
    """pipelines.population.make_optimizer: each `population.<name>.*` key, and the shared ones,
    arrive in the optimizer object (a value the defaults never take, so a dropped key shows)."""
    from pipelines import config as configs
    from pipelines.population import make_optimizer

    shared = ["seed=5", "population.memory_mb=300", "population.validation_candidates=7",
              "population.checkpoint_seconds=11", "population.jit=true"]

    def make(name, *sets):
        return make_optimizer(configs.load_config("train", None, [f"train.optimizer={name}", *shared, *sets]))

    de = make("de", "population.de.crossover_rate=0.17", "population.de.mutation=curtobest1",
              "population.de.scale=1.25", "population.de.population_size=9", "population.de.batch_size=24",
              "population.de.genome=dct", "population.de.genes=0.3")
    assert type(de).__name__ == "DE"
    assert (de.cr, de.mutation, de.f, de.size, de.batch_size, de.genome_kind, de.genes) == \
        (0.17, "curtobest1", 1.25, 9, 24, "dct", 0.3)
    assert (de.seed, de.memory_mb, de.validation_candidates, de.checkpoint_seconds, de.jit) == (5, 300.0, 7, 11.0, True)
    es = make("es", "population.es.population_size=10", "population.es.parent_fraction=0.3", "population.es.rho=4",
              "population.es.selection=rank", "population.es.crossover=uniform", "population.es.mutation_rate=0.2",
              "population.es.sigma=0.25", "population.es.elitism=true")
    assert type(es).__name__ == "MuLambdaES"
    assert (es.size, es.mu, es.rho, es.selection, es.crossover, es.mutation_rate, es.sigma, es.elitism) == \
        (10, 3, 4, "rank", "uniform", 0.2, 0.25, True)  # mu = int(0.3 * 10)
    cos = make("cosyne", "population.cosyne.population_size=9", "population.cosyne.children=4",
               "population.cosyne.mutation_rate=0.1", "population.cosyne.gamma=0.3")
    assert type(cos).__name__ == "CoSyNE"
    assert (cos.size, cos.children, cos.mutation_rate, cos.gamma, cos.seed) == (9, 4, 0.1, 0.3, 5)
    leea = make("leea", "population.leea.sigma=0.01", "population.leea.crossover=arithmetic")
    assert (leea.requested, leea.sigma0, leea.crossover, leea.seed) == (None, 0.01, "arithmetic", 5)  # null: auto
    ndes = make("ndes-g", "population.ndes.history=5", "population.ndes.gradient_lr=0.3")
    assert (ndes.variant, ndes.requested, ndes.requested_mu, ndes.history, ndes.gradient_lr, ndes.seed) == \
        ("ndes-g", None, None, 5, 0.3, 5)
