"""`automl export`: a run's best model as a SavedModel for serving, plus the `.keras` file.

The SavedModel's `serving_default` takes raw images (float32, the pixel values of the
dataset, preprocessing inside the model) and returns class probabilities.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras

import automl.optimizers  # noqa: F401  registers PortHamiltonian, which saved runs may hold
import automl.survival  # noqa: F401  registers CoxLoss, which survival runs hold
import models.layers  # noqa: F401  registers ChannelPad; a fresh `automl export` imports nothing else
import models.recurrent  # noqa: F401  registers DMU and RHN
from automl.io import atomic_write_json
from pipelines.errors import UsageError
from pipelines.rundir import RunDir


def export_run(run_path: str | Path, out_dir: str | Path) -> Path:
    run = RunDir.open(run_path)
    if not run.best_path.exists():
        raise UsageError(f"run {run.path} has no trained model yet ({RunDir.BEST} is missing)")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"export directory {out} already exists and is not empty; choose another --out")

    model = keras.models.load_model(run.best_path)
    meta = run.meta()
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build the whole export beside its destination, then move it into place in one rename.
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        model.export(str(staging / "saved_model"), format="tf_saved_model", verbose=False)
        shutil.copyfile(run.best_path, staging / "model.keras")
        atomic_write_json(staging / "export.json", {
            "run": str(run.path),
            "signature": "serving_default",
            "input": {"shape": [None, *model.input_shape[1:]], "dtype": "float32",
                      "values": "sequences (steps, features)" if meta.get("dataset", {}).get("kind") == "sequence"
                      else f"RGB {meta['mode']} pixels 0-255 as the slide reader gives them"
                      if meta.get("task") == "survival" else "raw pixel values; preprocessing is inside the model"},
            "output": {"regression": "regression value",
                       "survival": "log-risk per input (higher: shorter expected survival)"}.get(
                meta.get("task"), "class probabilities"),
            "class_names": meta.get("class_names"),
            "preprocess": meta.get("preprocess"),
            "dataset": meta.get("dataset"),
        })
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
