"""Exported models load anywhere (issue 17, item 4): model.keras with plain Keras in a process that
cannot import this project, TFLite and ONNX files that predict as the run's model, and export.json
naming what a recurrent model's reader must import."""
import importlib.util
import json
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from automl.errors import UsageError
from automl.export import export_run, portable_model
from automl.optimizers import PortHamiltonian, ScaledAdam, lr_multipliers
from automl.rundir import RunDir
from conftest import randomised, tiny_spec
from models import Preprocess, build_model
from models.layers import ChannelPad
from models.sequence import SequenceSpec, build_sequence_model
from pipelines import config as configs


# ONNX export needs the optional tf2onnx, and its check onnxruntime: both are in the `test` extra.
HAS_ONNX = all(importlib.util.find_spec(name) for name in ("tf2onnx", "onnxruntime"))
IMAGE_FORMATS = ("saved_model", "tflite", "onnx") if HAS_ONNX else ("saved_model", "tflite")


def _run(path, model, **meta):
    """A hand-made run whose best.keras is `model`, compiled (optimizer built) as a trained run's is."""
    run = RunDir.create(path, "train", configs.to_dict(configs.load_config("train")))
    run.update_meta(**meta)
    model.optimizer.build(model.trainable_variables)   # saved with its optimizer state, as after fit()
    model.save(run.best_path)
    return run


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    """The tiny ResNet (its first block widens 4 -> 6 through a ChannelPad), compiled with our own
    PortHamiltonian optimizer, which a reader without this project cannot deserialize either. Its
    hidden dense layer of 128 has a 128 x 10 output kernel: TFLite quantises weights of 1024 or more
    elements when asked to optimise, and none of the tiny spec's own reach that."""
    root = tmp_path_factory.mktemp("formats")
    spec = tiny_spec()
    spec.head_units = [128]
    best = randomised(build_model(spec, (8, 8, 1), 10, Preprocess.scaling(16)), 1)
    assert [layer.name for layer in best.layers if isinstance(layer, ChannelPad)] == ["block0_pad"]
    best.compile(optimizer=PortHamiltonian(), loss="sparse_categorical_crossentropy")
    run = _run(root / "run", best, class_names=[f"c{i}" for i in range(10)], task="classification")
    out = export_run(run.path, root / "out", formats=IMAGE_FORMATS)
    x = np.random.default_rng(0).uniform(0, 16, (6, 8, 8, 1)).astype("float32")   # raw 0..16 pixels
    return best, out, x, best(x, training=False).numpy()


def test_the_portable_copy_swaps_each_channel_pad_for_an_exact_frozen_identity_conv():
    model = randomised(build_model(tiny_spec(), (8, 8, 1), 10, Preprocess.scaling(16)), 2)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    copy, replaced = portable_model(model)
    assert replaced == ["block0_pad"] and not copy.compiled
    assert not [layer for layer in copy.layers if isinstance(layer, ChannelPad)]
    conv = copy.get_layer("block0_pad")
    assert type(conv) is keras.layers.Conv2D and not conv.trainable and not conv.use_bias
    (kernel,) = conv.get_weights()
    expected = np.zeros((1, 1, 4, 6), "float32")
    expected[0, 0, :, :4] = np.eye(4)                               # [I | 0]: 4 channels in, 2 zero ones appended
    np.testing.assert_array_equal(kernel, expected)
    for layer in model.layers:                                      # every other weight, BN statistics included
        if not isinstance(layer, ChannelPad):
            for a, b in zip(layer.get_weights(), copy.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(3).uniform(0, 16, (5, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), rtol=0, atol=1e-6)
    pad, widened = model.get_layer("block0_pad"), copy.get_layer("block0_pad")
    inner = keras.Model(model.input, pad.input)(x)                  # the pad's own input: the stem's output
    np.testing.assert_array_equal(widened(inner).numpy(), pad(inner).numpy())


LOAD_WITHOUT_THE_PROJECT = r"""
import sys

class Unimportable:
    '''This project's packages, however installed (this venv holds them as an editable install,
    which even `python -I` sees), are not there: as on a machine that never installed it.'''
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("automl", "models", "pipelines"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Unimportable())
try:
    import automl
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("automl is importable")
import numpy as np, keras

model = keras.models.load_model(sys.argv[1])
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("automl", "models", "pipelines"))
outside = sorted({type(layer).__module__ for layer in model.layers if not type(layer).__module__.startswith("keras.")})
assert not ours and not outside and not model.compiled, (ours, outside, model.compiled)
"""


def test_model_keras_loads_with_plain_keras_where_the_project_is_not_installed(image_export, tmp_path):
    _, out, x, expected = image_export
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run([sys.executable, "-I", "-c", LOAD_WITHOUT_THE_PROJECT, str(out / "model.keras"),
                           str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=0, atol=1e-5)
    with zipfile.ZipFile(out / "model.keras") as keras_file:        # an inference model: no training state
        config = json.loads(keras_file.read("config.json"))
    assert not config.get("compile_config") and "ChannelPad" not in json.dumps(config)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning")
def test_tflite_predicts_as_the_model(image_export):
    _, out, x, expected = image_export
    interpreter = tf.lite.Interpreter(model_path=str(out / "model.tflite"))
    dtypes = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.float32 in dtypes and not dtypes & {np.int8, np.uint8, np.int16, np.float16}   # nothing quantised
    (name,) = interpreter.get_signature_list()["serving_default"]["inputs"]
    (served,) = interpreter.get_signature_runner("serving_default")(**{name: x}).values()
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)


def test_onnx_opset_17_predicts_as_the_model(image_export):
    pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    import onnx

    _, out, x, expected = image_export
    proto = onnx.load(str(out / "model.onnx"))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    (served,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)


def test_export_json_lists_the_files_written_and_says_keras_alone_loads_an_image_model(image_export):
    _, out, _, _ = image_export
    info = json.loads((out / "export.json").read_text())
    onnx = ["model.onnx"] if HAS_ONNX else []
    assert info["files"] == sorted(p.name for p in out.iterdir()) == [
        "export.json", "model.keras", *onnx, "model.tflite", "saved_model"]
    assert info["formats"] == list(IMAGE_FORMATS) and info["onnx_opset"] == (17 if HAS_ONNX else None)
    assert info["custom_objects"] is None and "alone" in info["keras_file"]
    assert list(info["replaced_layers"]) == ["block0_pad"]


@pytest.fixture(scope="module")
def dmu_run(tmp_path_factory):
    """A DMU sequence model compiled with our ScaledAdam, as the DMU learning-rate rule trains it."""
    model = randomised(build_sequence_model(SequenceSpec(cell="dmu", units=4, depth=2), (5, 3), 3), 4)
    model.compile(optimizer=ScaledAdam(multipliers=lr_multipliers(model)), loss="sparse_categorical_crossentropy")
    return model, _run(tmp_path_factory.mktemp("dmu") / "run", model, dataset={"kind": "sequence"})


def test_a_dmu_export_names_the_one_module_its_reader_must_import(dmu_run, tmp_path):
    model, run = dmu_run
    fmt = "onnx" if HAS_ONNX else "saved_model"
    out = export_run(run.path, tmp_path / "out", formats=[fmt])     # onnx alone: its SavedModel is not kept
    info = json.loads((out / "export.json").read_text())
    assert info["custom_objects"] == {"module": "models.recurrent", "layers": ["DMU"],
                                      "requires": "pip install automl-keras, then import models.recurrent"}
    assert "import models.recurrent" in info["keras_file"] and info["replaced_layers"] == {}
    assert info["files"] == sorted(p.name for p in out.iterdir()) == sorted(
        ["export.json", "model.keras", "model.onnx" if HAS_ONNX else "saved_model"])
    x = np.random.default_rng(5).normal(size=(4, 5, 3)).astype("float32")
    expected = model(x).numpy()
    reloaded = keras.models.load_model(out / "model.keras")          # models.recurrent is imported here
    assert not reloaded.compiled                                     # ScaledAdam need not be importable
    np.testing.assert_allclose(reloaded(x).numpy(), expected, rtol=0, atol=1e-6)
    if HAS_ONNX:                                                      # the DMU's loop converts to ONNX too
        import onnxruntime as ort

        session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], expected,
                                   rtol=0, atol=1e-5)


def test_tflite_refuses_a_recurrent_model_in_one_line_and_writes_nothing(dmu_run, tmp_path):
    _, run = dmu_run
    with pytest.raises(UsageError, match=r"^TFLite cannot convert this model with its built-in ops "
                                         r"\(tf\.TensorListReserve\); export it as saved_model or onnx instead$"):
        export_run(run.path, tmp_path / "out", formats=("saved_model", "tflite"))
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_bad_formats_and_a_missing_tf2onnx_are_one_line_usage_errors_raised_before_any_loading(
        tmp_path, monkeypatch):
    nowhere = tmp_path / "no-such-run"      # formats are checked first: this error would come next
    with pytest.raises(UsageError, match=r"^unknown export format 'h5'; choose from saved_model, tflite, onnx$"):
        export_run(nowhere, tmp_path / "out", formats=("saved_model", "h5"))
    with pytest.raises(UsageError, match=r"^unknown export format \(none given\)"):
        export_run(nowhere, tmp_path / "out", formats=())
    monkeypatch.setitem(sys.modules, "tf2onnx", None)               # `import tf2onnx` now raises ImportError
    with pytest.raises(UsageError, match=r'^ONNX export needs tf2onnx, which is not installed: '
                                         r'pip install "automl-keras\[onnx\]"$'):
        export_run(nowhere, tmp_path / "out", formats="onnx")
    with pytest.raises(UsageError, match="^no run directory at"):   # and without onnx, no complaint about it
        export_run(nowhere, tmp_path / "out", formats="tflite")
    assert list(tmp_path.iterdir()) == []
