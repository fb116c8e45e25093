"""`automl export` on a hand-made run: the SavedModel serves the run's best model (not its last
checkpoint) and predicts exactly as best.keras does, preprocessing included."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from automl.errors import UsageError
from automl.export import export_run
from automl.rundir import RunDir
from conftest import randomised, tiny_spec
from models import Preprocess, build_model
from pipelines import config as configs


def _model(seed):
    """The tiny spec with raw-pixel scaling inside, every weight (BN statistics included) seeded."""
    return randomised(build_model(tiny_spec(), (8, 8, 1), 10, Preprocess.scaling(16)), seed)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run = RunDir.create(root / "run", "train", configs.to_dict(configs.load_config("train")))
    names = [f"class{i}" for i in range(10)]
    run.update_meta(class_names=names, preprocess={"scale": 1 / 16}, task="classification")
    best, last = _model(1), _model(2)
    best.save(run.best_path)
    run.checkpoints.mkdir()
    last.save(run.checkpoints / "last.keras")          # a later, worse epoch: never the one exported
    out = export_run(run.path, root / "out")
    return run, out, best, last, names


def test_exported_saved_model_predicts_as_the_best_model_from_raw_pixels(exported):
    run, out, best, last, _ = exported
    x = np.random.default_rng(0).uniform(0, 16, (6, 8, 8, 1)).astype("float32")   # raw 0..16 pixels
    served = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"](tf.constant(x))
    (served,) = [v.numpy() for v in served.values()]
    expected = best(x, training=False).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)                  # class probabilities
    assert np.abs(served - last(x, training=False).numpy()).max() > 1e-3            # the last checkpoint differs
    # model.keras is an inference copy of the best model (built-in layers only): the same predictions
    np.testing.assert_allclose(keras.models.load_model(out / "model.keras")(x).numpy(), expected, atol=1e-6)


SERVE = """
import sys, numpy as np, tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
out = served.signatures["serving_default"](tf.constant(np.load(sys.argv[2])))
np.save(sys.argv[3], list(out.values())[0].numpy())
"""


def test_a_fresh_process_with_only_tensorflow_serves_the_same_predictions(exported, tmp_path):
    """A model server imports TensorFlow, never this project: the SavedModel must carry everything."""
    _, out, best, _, _ = exported
    x = np.random.default_rng(1).uniform(0, 16, (5, 8, 8, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", SERVE, str(out / "saved_model"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, capture_output=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), best(x, training=False).numpy(), atol=1e-5)


def test_export_json_describes_the_signature(exported):
    run, out, _, _, names = exported
    info = json.loads((out / "export.json").read_text())
    assert info["signature"] == "serving_default" and info["run"] == str(run.path)
    assert info["input"]["shape"] == [None, 8, 8, 1] and info["input"]["dtype"] == "float32"
    assert info["output"] == "class probabilities"
    assert info["class_names"] == names and info["preprocess"] == {"scale": 1 / 16}


def test_export_never_overwrites_and_needs_a_best_model(exported, tmp_path):
    run, out, *_ = exported
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(UsageError, match="already exists and is not empty"):
        export_run(run.path, out)
    assert sorted(p.name for p in out.iterdir()) == before == ["export.json", "model.keras", "saved_model"]
    empty = RunDir.create(tmp_path / "empty", "train", configs.to_dict(configs.load_config("train")))
    with pytest.raises(UsageError, match="has no trained model yet"):
        export_run(empty.path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
