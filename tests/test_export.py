"""Default training on digits, export, and serving from a fresh process: the README's quality bar
for the defaults (>= 97% test accuracy), so marked slow (`python -m pytest -m slow`); the export's
exactness is guarded in the default run by tests/test_foundation_export.py on a hand-made run."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from automl.rundir import RunDir
from conftest import run_automl
from pipelines.cli import main
from pipelines.config import run_config
from pipelines.datasets import load_dataset

SERVE = """
import sys, numpy as np, tensorflow as tf
served = tf.saved_model.load(sys.argv[1])
x = np.load(sys.argv[2])
out = served.signatures["serving_default"](tf.constant(x))
np.save(sys.argv[3], list(out.values())[0].numpy())
"""


@pytest.mark.slow
def test_default_training_reaches_97_percent_and_serves_identically(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--out", str(run), "--quiet"]) == 0
    summary = RunDir(run).summary()
    assert summary["test_accuracy"] >= 0.97, summary   # the bar for the defaults

    export = tmp_path / "export"
    exported = run_automl("export", str(run), "--out", str(export))   # a fresh process, as users run it
    assert exported.returncode == 0, exported.stderr
    info = json.loads((export / "export.json").read_text())
    assert info["class_names"] == [str(i) for i in range(10)] and info["input"]["shape"] == [None, 8, 8, 1]

    data = load_dataset("digits", run_config(run).data)
    x = data.x_test[:64].astype("float32")           # raw pixels, 0..16: preprocessing is in the model
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", SERVE, str(export / "saved_model"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, capture_output=True)
    served = np.load(tmp_path / "y.npy")
    expected = keras.models.load_model(run / "best.keras").predict(x, verbose=0)
    np.testing.assert_allclose(served, expected, atol=1e-5)
    np.testing.assert_allclose(served.sum(axis=1), 1.0, atol=1e-5)      # probabilities
    reloaded = keras.models.load_model(export / "model.keras").predict(x, verbose=0)
    np.testing.assert_allclose(reloaded, expected, atol=1e-6)
