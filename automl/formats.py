"""The formats an export can hold, in one light module: the command line lists them in its help
and checks them without importing TensorFlow (automl.export writes them)."""

# saved_model: a TF SavedModel for TF Serving; tflite: DIR/model.tflite; onnx: DIR/model.onnx.
EXPORT_FORMATS = ("saved_model", "tflite", "onnx")
DEFAULT_FORMATS = ("saved_model",)  # what an export holds unless asked for more
ONNX_INSTALL = 'pip install "automl-keras[onnx]"'  # tf2onnx, an optional extra
