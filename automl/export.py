"""`automl export`: a run's best model as a SavedModel for serving, plus a `.keras` file that loads
anywhere, and optionally TFLite and ONNX files.

The SavedModel's `serving_default` takes raw images (float32, the pixel values of the
dataset, preprocessing inside the model) and returns class probabilities. `model.tflite` and
`model.onnx` are converted from that SavedModel, so all three serve the same function.

`model.keras` is for readers who load it with plain `keras.models.load_model`, without this project:
it holds the model without its training state (no optimizer, no loss: PortHamiltonian, ScaledAdam
and CoxLoss are ours, and Keras refuses a file whose compile config names a class it does not know),
and every ChannelPad (our zero-channel skip path) is replaced by a built-in 1x1 Conv2D that computes
exactly the same. Recurrent DMU and RHN layers have no built-in equivalent; export.json then names
the module a reader must import.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

import automl.optimizers  # noqa: F401  registers PortHamiltonian, which saved runs may hold
import automl.survival.loss  # noqa: F401  registers CoxLoss, which survival runs hold
import models.layers  # noqa: F401  registers ChannelPad; a fresh `automl export` imports nothing else
import models.recurrent  # noqa: F401  registers DMU and RHN
from automl.errors import UsageError
from automl.export_checks import ExportPlan, check_export
from automl.formats import DEFAULT_FORMATS, ONNX_INSTALL
from automl.io import atomic_write_bytes, atomic_write_json, folder_mode, load_model
from models.layers import ChannelPad

ONNX_OPSET = 17   # what tf2onnx 1.17 + onnxruntime 1.32 were verified with (feasibility notes)
# Top-level packages whose objects Keras deserializes by itself; anything else a reader must import.
_KERAS_PACKAGES = {"keras", "keras_hub", "keras_cv", "keras_nlp"}


def export_run(run_path: str | Path, out_dir: str | Path, formats=DEFAULT_FORMATS) -> Path:
    """Write OUT/model.keras, OUT/export.json and one file (or folder) per format in `formats`:
    saved_model -> OUT/saved_model, tflite -> OUT/model.tflite, onnx -> OUT/model.onnx (opset 17;
    needs the optional tf2onnx). The SavedModel is always built, since the other two formats are
    converted from it, and kept only when asked for. Nothing appears at OUT unless every part was
    written: the export is built beside it and moved into place in one rename.

    Args:
        run_path: a run directory with a trained model (from the command line or the Python API).
        out_dir: the export folder; it must not exist or be empty.
        formats: the formats to write, from automl.formats.EXPORT_FORMATS.

    Returns:
        The export folder.
    """
    return write_export(check_export(run_path, out_dir, formats))


def write_export(plan: ExportPlan) -> Path:
    """export_run's writing, for a plan automl.export_checks.check_export has made (the command
    line checks before it imports this module, and does not check twice)."""
    run, out, formats = plan.run, plan.out, plan.formats
    model = load_model(run.best_path)
    portable, replaced = portable_model(model)
    meta = run.meta()
    # Build the whole export beside its destination, then move it into place in one rename.
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        os.chmod(staging, folder_mode())  # mkdtemp makes it private; the export is for others to read
        saved = staging / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        if "tflite" in formats:
            atomic_write_bytes(staging / "model.tflite", to_tflite(saved))
        if "onnx" in formats:
            atomic_write_bytes(staging / "model.onnx", to_onnx(saved))
        if "saved_model" not in formats:
            shutil.rmtree(saved)
        portable.save(staging / "model.keras")
        files = sorted([*(p.name for p in staging.iterdir()), "export.json"])
        atomic_write_json(staging / "export.json", {
            "run": str(run.path),
            "finished": plan.unfinished is None,
            **({"note": plan.unfinished} if plan.unfinished else {}),
            "formats": list(formats),
            "files": files,
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
            **keras_file_needs(portable),
            "replaced_layers": {name: "ChannelPad -> 1x1 Conv2D, kernel [I | 0], no bias, not trainable"
                                for name in replaced},
            "onnx_opset": ONNX_OPSET if "onnx" in formats else None,
        })
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def portable_model(model: keras.Model) -> tuple[keras.Model, list[str]]:
    """An uncompiled copy of `model`, weights copied, in which every ChannelPad is a built-in Conv2D.

    A ChannelPad appends `extra` zero channels to c input channels; a 1x1 Conv2D without bias whose
    kernel is [I_c | 0] computes y_j = x_j for j < c and 0 after it: each output is one product with
    1.0 plus products with 0.0, so it is exact in floating point. The conv keeps the pad's name and is
    not trainable (fine-tuning the copy must not turn the skip path into a learned projection).
    Training keeps ChannelPad: it has no weights, and the FLOP and parameter counts assume that.
    Uncompiled, because the compile config of a run names its optimizer and loss (ours, often), and
    `clone_model` compiles a clone of a compiled model. Returns the copy and the names replaced.
    """
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    twin = keras.saving.deserialize_keras_object(config)   # the same model, never compiled
    twin.set_weights(model.get_weights())
    pads = {}   # id(the new Conv2D) -> input channels

    def replace(layer):
        if isinstance(layer, ChannelPad):
            channels = layer.input.shape[-1]
            conv = keras.layers.Conv2D(channels + layer.extra, 1, use_bias=False, trainable=False, name=layer.name)
            pads[id(conv)] = channels
            return conv
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(twin, clone_function=replace, recursive=True)
    left = [layer.name for layer in _all_layers(clone) if isinstance(layer, ChannelPad)]
    if left:   # e.g. inside a wrapper layer, which clone_model does not descend into
        raise RuntimeError(f"export: could not replace ChannelPad layers {left} with built-in ones")
    _copy_weights(twin, clone, pads)
    return clone, sorted(layer.name for layer in _all_layers(clone) if id(layer) in pads)


def _copy_weights(source: keras.Model, target: keras.Model, pads: dict) -> None:
    """Every weight of `source` into the same-named layer of its clone `target` (into nested models
    too); a replaced ChannelPad gets its [I | 0] kernel instead."""
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if id(layer) in pads:
            channels = pads[id(layer)]
            kernel = np.eye(channels, layer.filters, dtype=layer.kernel.dtype)  # [I_c | 0], c x (c + extra)
            layer.set_weights([kernel[None, None]])
        elif isinstance(layer, keras.Model):
            _copy_weights(by_name[layer.name], layer, pads)
        else:
            layer.set_weights(by_name[layer.name].get_weights())


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def keras_file_needs(model: keras.Model) -> dict:
    """What a reader of model.keras must import before `keras.models.load_model`, for export.json.

    Found in the model's serialized config, which is what the loader reads: every object there whose
    module lies outside Keras is one Keras cannot import by itself (it imports only its own modules).
    """
    found = set()

    def walk(node):
        if isinstance(node, dict):
            module = node.get("module")
            if isinstance(module, str) and "class_name" in node and module.split(".")[0] not in _KERAS_PACKAGES:
                found.add((module, node["class_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(keras.saving.serialize_keras_object(model))
    if not found:
        return {"keras_file": "loads with keras.models.load_model(path) alone: built-in Keras layers only",
                "custom_objects": None}
    modules = sorted({m for m, _ in found})
    return {"keras_file": f"load with keras.models.load_model(path) after `import {', '.join(modules)}`",
            "custom_objects": {"module": modules[0] if len(modules) == 1 else modules,
                               "layers": sorted({c for _, c in found}),
                               "requires": f"pip install automl-keras, then import {', '.join(modules)}"}}


def to_tflite(saved_model: Path) -> bytes:
    """The SavedModel's serving_default as a float32 TFLite flatbuffer of TFLite's built-in ops only.

    Models that need more (the recurrent layers' loop over a TensorList whose batch size is unknown)
    are refused: with Select TF ops the file would need the Flex delegate, which neither LiteRT nor
    the tf.lite.Interpreter of tensorflow-cpu has, so it would load nowhere we can test.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert_phase import ConverterError

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serving_default"])
    converter.optimizations = []   # float32 weights: Optimize.DEFAULT would quantise them to 8 bits
    try:
        return converter.convert()
    except ConverterError as e:
        ops = sorted(set(re.findall(r"'(tf\.\w+)' op", str(e)))) or ["see the converter's log above"]
        raise UsageError(f"TFLite cannot convert this model with its built-in ops ({', '.join(ops)}); "
                         "export it as saved_model or onnx instead") from None


def to_onnx(saved_model: Path) -> bytes:
    """The SavedModel's serving_default as an ONNX model (opset 17), as
    `python -m tf2onnx.convert --saved-model DIR --opset 17` makes it: an op tf2onnx cannot convert
    is an error, never a node left unconverted (which its Python API's from_* functions allow)."""
    try:
        import tensorflow as tf
        from tf2onnx import tf_loader
        from tf2onnx.convert import _convert_common
    except ImportError:
        raise UsageError(f"ONNX export needs tf2onnx, which is not installed: {ONNX_INSTALL}") from None

    graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
        str(saved_model), None, None, tag="serve", signatures=["serving_default"],
        return_initialized_tables=True, return_tensors_to_rename=True)
    with tf.device("/cpu:0"):
        proto, _ = _convert_common(graph_def, name=str(saved_model), continue_on_error=False, opset=ONNX_OPSET,
                                   input_names=inputs, output_names=outputs, tensors_to_rename=renames,
                                   initialized_tables=tables)
    return proto.SerializeToString()
